/*
 * TLS tests: what a ClientHello is, the hellos completed across segments,
 * the client's records followed to its first application data (headers cut
 * across segments, retransmissions, gaps), versions and GREASE, the server
 * name only when asked, and hostile hellos counted and survived.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "qp_tls_dp.h"

#define MS 1000000ULL

static struct qp_tls t;
static struct qp_tls_event ev;

static void setup(void)
{
	memset(&t, 0, sizeof(t));
}

TestSuite(tls, .init = setup);

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A hello record (type 1 or 2): legacy 1.2, extensions ext of n bytes. */
static uint32_t hello(uint8_t *p, uint8_t type, const uint8_t *ext, uint32_t n)
{
	uint8_t *h = p + 5;
	uint32_t at = 4;
	put16(h + at, 0x0303);
	at += 2 + 32;
	h[at++] = 0; /* no session id */
	if (type == 1) {
		put16(h + at, 2);
		at += 4; /* one cipher suite */
		h[at++] = 1;
		h[at++] = 0;
	} else {
		at += 3;
	}
	put16(h + at, n);
	memcpy(h + at + 2, ext, n);
	at += 2 + n;
	h[0] = type;
	h[1] = (uint8_t)((at - 4) >> 16);
	h[2] = (uint8_t)((at - 4) >> 8);
	h[3] = (uint8_t)(at - 4);
	p[0] = 22;
	p[1] = 3;
	p[2] = 1;
	put16(p + 3, at);
	return 5 + at;
}

static uint32_t record(uint8_t *p, uint8_t type, uint32_t n)
{
	p[0] = type;
	p[1] = 3;
	p[2] = 3;
	put16(p + 3, n);
	memset(p + 5, 0xee, n);
	return 5 + n;
}

static const uint8_t ch_ext[] = {
	0x0a, 0x0a, 0x00, 0x00,                                    /* GREASE */
	0x00, 0x2b, 0x00, 0x07, 0x06, 0x3a, 0x3a, 0x03, 0x04, 0x03, 0x03, /* versions */
	0x00, 0x00, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x00, 0x0b, 'w', 'w', 'w', '.', 'e', 'x', 'a', 'm',
	'p', 'l', 'e'}; /* server name */
static const uint8_t sh_ext[] = {0x00, 0x2b, 0x00, 0x02, 0x03, 0x04};

#define ISN 5000u

static uint32_t cseq, sseq;

static void c_seg(const uint8_t *p, uint32_t n, uint64_t ts, int sni)
{
	qp_tls_update(&t, p, n, n, cseq, 0, ts, sni, &ev);
	cseq += n;
}

static void s_seg(const uint8_t *p, uint32_t n, uint64_t ts)
{
	qp_tls_update(&t, p, n, n, sseq, 1, ts, 0, &ev);
	sseq += n;
}

Test(tls, a_tls13_handshake_cut_across_segments)
{
	uint8_t ch[512], sh[512], m[512];
	cseq = ISN;
	sseq = 9000;
	uint32_t n = hello(ch, 1, ch_ext, sizeof(ch_ext));
	cr_assert(qp_tls_detect(ch, n));
	c_seg(ch, 20, 1 * MS, 0);
	cr_assert_eq(t.client_version, 0x0303, "the first segment holds no supported_versions");
	c_seg(ch + 20, n - 20, 2 * MS, 0);
	cr_assert_eq(t.st & QP_TLS_ST_CH_DONE, QP_TLS_ST_CH_DONE);
	cr_assert_eq(t.ch_ns, 2 * MS, "the segment that completes the ClientHello");
	uint32_t s = hello(sh, 2, sh_ext, sizeof(sh_ext));
	s += record(sh + s, 20, 1);
	s += record(sh + s, 23, 40);
	s_seg(sh, 10, 12 * MS);
	cr_assert_eq(ev.hello, 0);
	s_seg(sh + 10, s - 10, 13 * MS);
	cr_assert_eq(ev.hello, 1);
	cr_assert_eq(ev.hello_ns, 11 * MS);
	cr_assert_eq(t.version, 0, "versions are read in a hello's first segment: 10 bytes hold none");
	/* the client's CCS, then its Finished (23) with the header cut after 3 bytes */
	uint32_t k = record(m, 20, 1);
	k += record(m + k, 23, 53);
	c_seg(m, 9, 30 * MS, 0);
	cr_assert_eq(ev.data, 0);
	c_seg(m + 9, k - 9, 31 * MS, 0);
	cr_assert_eq(ev.data, 1, "the record's header completes in this segment");
	cr_assert_eq(ev.data_ns, 18 * MS);
	cr_assert_eq(t.st & QP_TLS_ST_DATA, QP_TLS_ST_DATA);
}

Test(tls, versions_grease_and_the_server_name_only_when_asked)
{
	uint8_t ch[512];
	cseq = ISN;
	uint32_t n = hello(ch, 1, ch_ext, sizeof(ch_ext));
	c_seg(ch, n, 1 * MS, 0);
	cr_assert_eq(t.client_version, 0x0304, "GREASE 0x3a3a is not a version");
	cr_assert_eq(t.sni_len, 0);
	memset(&t, 0, sizeof(t));
	cseq = ISN;
	c_seg(ch, n, 1 * MS, 1);
	cr_assert_str_eq(t.sni, "www.example");
	char b[16];
	cr_assert_str_eq(qp_tls_version_name(0x0304, b, sizeof(b)), "TLS 1.3");
	cr_assert_str_eq(qp_tls_version_name(0x7f1c, b, sizeof(b)), "0x7f1c");
}

Test(tls, early_data_before_the_server_hello_is_not_the_client_data)
{
	uint8_t ch[512], m[256];
	cseq = ISN;
	sseq = 9000;
	uint32_t n = hello(ch, 1, ch_ext, sizeof(ch_ext));
	n += record(ch + n, 23, 100); /* 0-RTT data in the same segment */
	c_seg(ch, n, 1 * MS, 0);
	cr_assert_eq(t.st & QP_TLS_ST_DATA, 0);
	uint32_t s = hello(m, 2, sh_ext, sizeof(sh_ext));
	s_seg(m, s, 10 * MS);
	uint32_t k = record(m, 23, 20);
	c_seg(m, k, 25 * MS, 0);
	cr_assert_eq(ev.data_ns, 15 * MS);
}

Test(tls, retransmissions_are_read_once_and_a_gap_stops_the_following)
{
	uint8_t ch[512], m[256];
	cseq = ISN;
	sseq = 9000;
	uint32_t n = hello(ch, 1, ch_ext, sizeof(ch_ext));
	c_seg(ch, n, 1 * MS, 0);
	qp_tls_update(&t, ch, n, n, ISN, 0, 5 * MS, 0, &ev); /* sent again */
	cr_assert_eq(t.ch_ns, 1 * MS);
	uint32_t s = hello(m, 2, sh_ext, sizeof(sh_ext));
	s_seg(m, s, 10 * MS);
	cseq += 100; /* 100 bytes the probe did not see */
	uint32_t k = record(m, 23, 20);
	c_seg(m, k, 25 * MS, 0);
	cr_assert_eq(ev.data, 0);
	cr_assert_eq(t.st & QP_TLS_ST_LOST, QP_TLS_ST_LOST);
}

Test(tls, hostile_hellos_are_refused_or_counted)
{
	uint8_t ch[512];
	uint32_t n = hello(ch, 1, ch_ext, sizeof(ch_ext));
	/* a ClientHello announcing 16 MiB, or a few bytes: not TLS */
	ch[6] = 0xff;
	cr_assert(!qp_tls_detect(ch, n));
	ch[6] = 0;
	ch[7] = 0;
	ch[8] = 3;
	cr_assert(!qp_tls_detect(ch, n));
	n = hello(ch, 1, ch_ext, sizeof(ch_ext));
	cr_assert(!qp_tls_detect(ch, 8), "cut before the handshake length");
	uint8_t other[16] = {22, 3, 1, 0, 60, 2}; /* a ServerHello first */
	cr_assert(!qp_tls_detect(other, sizeof(other)));
	uint8_t ssl2[16] = {0x80, 0x2e, 1, 0, 2}; /* an SSL 2.0 hello offering SSL 2.0 itself */
	cr_assert(!qp_tls_detect(ssl2, sizeof(ssl2)));
	/* an extension whose length runs past the hello: counted */
	uint8_t bad_ext[] = {0x00, 0x00, 0x40, 0x00, 0x01};
	n = hello(ch, 1, bad_ext, sizeof(bad_ext));
	cseq = ISN;
	c_seg(ch, n, 1 * MS, 1);
	cr_assert_eq(t.malformed, 1);
	cr_assert_eq(t.sni_len, 0);
	/* a server that answers with no ServerHello: counted, no figures */
	uint8_t alert[7] = {21, 3, 3, 0, 2, 2, 40};
	sseq = 9000;
	s_seg(alert, sizeof(alert), 5 * MS);
	cr_assert_eq(t.malformed, 2);
	cr_assert_eq(ev.hello, 0);
	s_seg(alert, sizeof(alert), 6 * MS);
	cr_assert_eq(t.malformed, 2, "counted once");
	/* a client stream that is no records after the hello */
	uint8_t junk[16] = {'G', 'E', 'T', ' ', '/'};
	c_seg(junk, sizeof(junk), 7 * MS, 0);
	cr_assert_eq(t.st & QP_TLS_ST_LOST, QP_TLS_ST_LOST);
}

Test(tls, an_ssl2_format_client_hello_of_an_older_client)
{
	/* SSL 2.0 CLIENT-HELLO offering TLS 1.0: 2-byte header, then 9 + specs + challenge */
	uint8_t v2[60] = {0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10};
	uint8_t m[512];
	cr_assert(qp_tls_detect(v2, 48));
	cseq = ISN;
	sseq = 9000;
	c_seg(v2, 48, 1 * MS, 0);
	cr_assert_eq(t.client_version, 0x0301);
	cr_assert_eq(t.st & QP_TLS_ST_CH_DONE, QP_TLS_ST_CH_DONE);
	uint32_t s = hello(m, 2, sh_ext, 0);
	s_seg(m, s, 4 * MS);
	cr_assert_eq(ev.hello_ns, 3 * MS);
	uint32_t k = record(m, 22, 70);
	k += record(m + k, 20, 1);
	k += record(m + k, 22, 40);
	c_seg(m, k, 6 * MS, 0);
	k = record(m, 23, 30);
	c_seg(m, k, 9 * MS, 0);
	cr_assert_eq(ev.data_ns, 5 * MS, "the records after the SSL 2.0 hello are followed");
}
