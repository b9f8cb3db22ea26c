/*
 * qp_sdp: the media of a SIP message's SDP (where each is received, the
 * clock rates of its payload types), hostile messages refused without a
 * read past their end, and the table's keeping, replacing and forgetting.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "qp_sdp.h"

static const char invite[] = "INVITE sip:bob@198.51.100.7 SIP/2.0\r\n"
			     "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n"
			     "Content-Type: application/sdp\r\n"
			     "Content-Length: 231\r\n"
			     "\r\n"
			     "v=0\r\n"
			     "o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
			     "s=-\r\n"
			     "c=IN IP4 192.0.2.10\r\n"
			     "t=0 0\r\n"
			     "m=audio 49170 RTP/AVP 0 96 101\r\n"
			     "a=rtpmap:0 PCMU/8000\r\n"
			     "a=rtpmap:96 opus/48000/2\r\n"
			     "a=rtpmap:101 telephone-event/8000\r\n"
			     "m=video 51372 RTP/AVP 97\r\n"
			     "c=IN IP6 2001:db8::10\r\n"
			     "a=rtpmap:97 H264/90000\r\n"
			     "m=audio 0 RTP/AVP 0\r\n";

static uint32_t clock_of(const struct qp_sdp_map *m, uint8_t pt)
{
	for (int i = 0; i < m->n; i++)
		if (m->pt[i] == pt)
			return m->clock_hz[i];
	return 0;
}

Test(sdp, an_invite_announces_each_medium_with_its_clocks)
{
	struct qp_sdp_media m[QP_SDP_MEDIA];
	int n = qp_sdp_parse((const uint8_t *)invite, sizeof(invite) - 1, m);
	cr_assert_eq(n, 2, "audio and video; the disabled medium (port 0) is not one");
	uint8_t a4[16] = {0}, a6[16];
	inet_pton(AF_INET, "192.0.2.10", a4);
	inet_pton(AF_INET6, "2001:db8::10", a6);
	cr_assert_eq(m[0].ipver, 4);
	cr_assert(memcmp(m[0].addr, a4, 16) == 0, "the session's address");
	cr_assert_eq(m[0].port, 49170);
	cr_assert_eq(m[0].map.n, 3);
	cr_assert_eq(clock_of(&m[0].map, 96), 48000);
	cr_assert_eq(clock_of(&m[0].map, 101), 8000);
	cr_assert_eq(m[1].ipver, 6, "the medium's own c= line");
	cr_assert(memcmp(m[1].addr, a6, 16) == 0);
	cr_assert_eq(m[1].port, 51372);
	cr_assert_eq(clock_of(&m[1].map, 97), 90000);
}

Test(sdp, a_response_announces_too_and_other_messages_nothing)
{
	static const char ok[] = "SIP/2.0 200 OK\n\nv=0\nc=IN IP4 198.51.100.7\n"
				 "m=audio 3456 RTP/AVP 98\na=rtpmap:98 AMR-WB/16000\n";
	struct qp_sdp_media m[QP_SDP_MEDIA];
	cr_assert_eq(qp_sdp_parse((const uint8_t *)ok, sizeof(ok) - 1, m), 1, "bare line ends");
	cr_assert_eq(m[0].port, 3456);
	cr_assert_eq(clock_of(&m[0].map, 98), 16000);
	static const char bye[] = "BYE sip:bob@198.51.100.7 SIP/2.0\r\n\r\n";
	cr_assert_eq(qp_sdp_parse((const uint8_t *)bye, sizeof(bye) - 1, m), 0);
	static const char nobody[] = "SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n";
	cr_assert_eq(qp_sdp_parse((const uint8_t *)nobody, sizeof(nobody) - 1, m), 0);
	static const char noc[] = "SIP/2.0 200 OK\r\n\r\nv=0\r\nm=audio 3456 RTP/AVP 0\r\n";
	cr_assert_eq(qp_sdp_parse((const uint8_t *)noc, sizeof(noc) - 1, m), 0,
		     "a medium without an address is no endpoint");
}

/* Every cut of the message, and bytes changed to hostile ones: no read past the end. */
Test(sdp, hostile_messages)
{
	size_t len = sizeof(invite) - 1;
	struct qp_sdp_media m[QP_SDP_MEDIA];
	for (size_t cut = 0; cut <= len; cut++) {
		uint8_t *b = malloc(cut ? cut : 1); /* exactly cut bytes: ASan sees a read past */
		memcpy(b, invite, cut);
		int n = qp_sdp_parse(b, (uint32_t)cut, m);
		cr_assert(n >= 0 && n <= 2);
		free(b);
	}
	static const char *bad[] = {
		"SIP/2.0 200 OK\r\n\r\nv=0\r\nc=IN IP4 999.1.1.1\r\nm=audio 5 RTP/AVP 0\r\n",
		"SIP/2.0 200 OK\r\n\r\nv=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 70000 RTP/AVP 0\r\n",
		"SIP/2.0 200 OK\r\n\r\nv=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 99999999999 RTP/AVP 0\r\n",
		"SIP/2.0 200 OK\r\n\r\nv=0\r\nc=IN IP4 192.0.2.1\r\nm=audio\r\n",
		"SIP/2.0 200 OK\r\n\r\nv=0\r\nc=IN IP4 \r\nm=audio 5 RTP/AVP 0\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(qp_sdp_parse((const uint8_t *)bad[i], (uint32_t)strlen(bad[i]), m), 0,
			     "bad message %zu", i);
	/* clock rates out of bounds and a payload type beyond 127 are left out */
	static const char maps[] = "SIP/2.0 200 OK\r\n\r\nv=0\r\nc=IN IP4 192.0.2.1\r\n"
				   "m=audio 5 RTP/AVP 96 97 98\r\na=rtpmap:96 x/7\r\n"
				   "a=rtpmap:200 x/8000\r\na=rtpmap:98 x/16000\r\na=rtpmap:97\r\n";
	cr_assert_eq(qp_sdp_parse((const uint8_t *)maps, sizeof(maps) - 1, m), 1);
	cr_assert_eq(m[0].map.n, 1);
	cr_assert_eq(clock_of(&m[0].map, 98), 16000);
}

Test(sdp, the_table_keeps_replaces_and_forgets)
{
	struct qp_sdp_table *t = qp_sdp_table_create(64);
	cr_assert_not_null(t);
	struct qp_sdp_media a = {.ipver = 4, .port = 4000, .map = {1, {96}, {48000}}};
	inet_pton(AF_INET, "192.0.2.1", a.addr);
	struct qp_sdp_map m;
	uint64_t t0 = 1000000000000ull;
	cr_assert_eq(qp_sdp_table_get(t, 4, a.addr, 4000, t0, &m), 0);
	qp_sdp_table_put(t, &a, t0);
	cr_assert_eq(qp_sdp_table_get(t, 4, a.addr, 4000, t0 + 1, &m), 1);
	cr_assert_eq(m.clock_hz[0], 48000);
	cr_assert_eq(qp_sdp_table_get(t, 4, a.addr, 4001, t0, &m), 0, "another port");
	/* announced again: the new clocks */
	a.map.clock_hz[0] = 16000;
	qp_sdp_table_put(t, &a, t0 + 10);
	cr_assert_eq(qp_sdp_table_get(t, 4, a.addr, 4000, t0 + 11, &m), 1);
	cr_assert_eq(m.clock_hz[0], 16000);
	cr_assert_eq(qp_sdp_table_get(t, 4, a.addr, 4000, t0 + 10 + QP_SDP_EXPIRE_NS + 1, &m), 0,
		     "expired");
	/* far more endpoints than entries: the table stays bounded, the newest are there */
	for (uint32_t i = 0; i < 10000; i++) {
		a.port = (uint16_t)(10000 + i);
		qp_sdp_table_put(t, &a, t0 + 100 + i);
	}
	cr_assert_eq(qp_sdp_table_get(t, 4, a.addr, (uint16_t)(10000 + 9999), t0 + 20000, &m), 1);
	cr_assert_eq(qp_sdp_table_announced(t), 2 + 10000);
	qp_sdp_table_destroy(t);
}
