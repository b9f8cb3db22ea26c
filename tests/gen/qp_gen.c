/*
 * qp_gen: writes the captures qprobe is demonstrated and benchmarked on.
 *
 *   qp_gen demo FILE                      the bundled demo capture (mixed traffic)
 *   qp_gen bench FILE [PACKETS] [FLOWS]   PACKETS frames over FLOWS flows
 *                                         (default 1000000 over 10000), half TCP
 *                                         with handshakes, half UDP, 1 us apart
 *   qp_gen mix FILE [PACKETS] [FLOWS]     the realistic mix of the offline benchmark
 *                                         (default 1000000 over 10000): heavy-tailed
 *                                         flow sizes, TCP with handshakes, data,
 *                                         retransmissions and FIN, UDP, IMIX sizes,
 *                                         a tenth IPv6 (tests/gen/qp_mixgen.h)
 *   qp_gen dns FILE                       a DNS workload: UDP clients (IPv4, IPv6)
 *                                         and TCP connections with answered, lost,
 *                                         retransmitted, doubly answered and
 *                                         cut messages (tests/gen/qp_dnsgen.h)
 *   qp_gen quic FILE                      QUIC connections: spinning, reordered,
 *                                         not spinning, random spin, 0-RTT, version
 *                                         negotiation (tests/gen/qp_quicgen.h)
 *   qp_gen tls FILE                       TLS 1.2 and 1.3 handshakes, whole and cut
 *                                         over segments (tests/gen/qp_tlsgen.h)
 *   qp_gen qos FILE                       QoS figures to compare with Wireshark:
 *                                         60 TCP flows with random RTTs and RTO
 *                                         retransmissions, 4 RTP streams with
 *                                         arrival jitter, losses and wraps, one
 *                                         of a dynamic type whose 16 kHz clock
 *                                         the SIP call's SDP announces, two
 *                                         SSRCs sharing a port pair
 *
 * Output is deterministic: the same arguments give the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qp_dnsgen.h"
#include "qp_mixgen.h"
#include "qp_quicgen.h"
#include "qp_tsgen.h"
#include "qp_tlsgen.h"
#include "qp_pcapw.h"

#define T0 1700000000000000000ULL /* 2023-11-14T22:13:20Z */
#define MS 1000000ULL
#define US 1000ULL

static struct pw out;

/* demo frames are collected and written in time order */
struct frame {
	uint64_t ts;
	uint32_t seq, len;
	uint8_t *data;
};
static struct frame *held;
static size_t nheld, capheld;
static int hold;

static void emit(struct pb *b, uint64_t ts)
{
	if (!hold) {
		pw_write(&out, ts, pb_data(b), pb_len(b), pb_len(b));
		return;
	}
	if (nheld == capheld) {
		capheld = capheld ? capheld * 2 : 256;
		held = realloc(held, capheld * sizeof(*held));
		if (!held)
			abort();
	}
	struct frame *f = &held[nheld];
	f->ts = ts;
	f->seq = (uint32_t)nheld++;
	f->len = pb_len(b);
	f->data = malloc(f->len);
	if (!f->data)
		abort();
	memcpy(f->data, pb_data(b), f->len);
}

static int frame_cmp(const void *a, const void *b)
{
	const struct frame *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->seq < y->seq ? -1 : 1;
}

static void flush_held(void)
{
	qsort(held, nheld, sizeof(*held), frame_cmp);
	for (size_t i = 0; i < nheld; i++) {
		pw_write(&out, held[i].ts, held[i].data, held[i].len, held[i].len);
		free(held[i].data);
	}
	free(held);
}

/*
 * What a frame of tcp_session() travels in, pushed in front of its IP
 * header (c2s: client to server); NULL: plain Ethernet.
 */
static void (*outer)(struct pb *b, int c2s);

/* A TCP connection: handshake with the given far/near RTTs, data, FIN. */
static uint64_t tcp_session(const char *c, uint16_t cp, const char *s, uint16_t sp, uint64_t ts,
			    uint64_t far_rtt, uint64_t near_rtt, int segs, uint32_t seglen, int v6)
{
	struct pb b;
	uint32_t cseq = 1000, sseq = 5000;
#define IP_(src, dst)                          \
	do {                                   \
		if (v6)                        \
			pb_push_ip6(&b, src, dst); \
		else                           \
			pb_push_ip4(&b, src, dst, 1, 0x4000); \
		if (outer)                     \
			outer(&b, src == c);   \
		else                           \
			pb_push_eth(&b);       \
	} while (0)
	pb_init(&b);
	pb_push_tcp(&b, cp, sp, cseq, 0, 0x02, 64240);
	IP_(c, s);
	emit(&b, ts);
	pb_init(&b);
	pb_push_tcp(&b, sp, cp, sseq, cseq + 1, 0x12, 65160);
	IP_(s, c);
	emit(&b, ts += far_rtt);
	pb_init(&b);
	pb_push_tcp(&b, cp, sp, cseq + 1, sseq + 1, 0x10, 502);
	IP_(c, s);
	emit(&b, ts += near_rtt);
	cseq++;
	sseq++;
	for (int i = 0; i < segs; i++) {
		pb_init(&b);
		pb_payload(&b, 120);
		pb_push_tcp(&b, cp, sp, cseq, sseq, 0x18, 502);
		IP_(c, s);
		emit(&b, ts += 2 * MS);
		cseq += 120;
		pb_init(&b);
		pb_payload(&b, seglen);
		pb_push_tcp(&b, sp, cp, sseq, cseq, 0x18, 509);
		IP_(s, c);
		emit(&b, ts += far_rtt);
		sseq += seglen;
	}
	pb_init(&b);
	pb_push_tcp(&b, cp, sp, cseq, sseq, 0x11, 502);
	IP_(c, s);
	emit(&b, ts += 1 * MS);
	pb_init(&b);
	pb_push_tcp(&b, sp, cp, sseq, cseq + 1, 0x11, 509);
	IP_(s, c);
	emit(&b, ts += far_rtt);
	pb_init(&b);
	pb_push_tcp(&b, cp, sp, cseq + 1, sseq + 1, 0x10, 502);
	IP_(c, s);
	emit(&b, ts += near_rtt);
#undef IP_
	return ts;
}

static void demo(void)
{
	struct pb b;
	uint64_t ts = T0;
	/* web sessions through the tap: server far away, client near */
	tcp_session("192.0.2.10", 40000, "198.51.100.20", 443, ts, 24 * MS + 350 * US, 180 * US, 6,
		    1400, 0);
	tcp_session("192.0.2.11", 40001, "198.51.100.21", 80, ts + 300 * MS, 11 * MS + 20 * US,
		    90 * US, 3, 900, 0);
	tcp_session("2001:db8::10", 50000, "2001:db8:1::443", 443, ts + 500 * MS, 31 * MS + 5 * US,
		    210 * US, 4, 1200, 1);
	/* DNS over UDP, a query and its answer (7 ms later, five addresses)
	 * every 100 ms for 2 s */
	for (int i = 0; i < 20; i++) {
		uint8_t m[120];
		char name[32];
		snprintf(name, sizeof(name), "demo%06d.example.org", i);
		pb_init(&b);
		pb_push_raw(&b, m, dg_msg(m, (uint16_t)(0x4000 + i), 0, 0, 0, name, 1, 0)); /* 40 bytes */
		pb_push_udp(&b, 53000, 53);
		pb_push_ip4(&b, "192.0.2.10", "203.0.113.53", (uint16_t)(100 + i), 0);
		pb_push_eth(&b);
		emit(&b, ts + (uint64_t)i * 100 * MS);
		pb_init(&b);
		pb_push_raw(&b, m, dg_msg(m, (uint16_t)(0x4000 + i), 1, 0, 0, name, 1, 5)); /* 120 bytes */
		pb_push_udp(&b, 53, 53000);
		pb_push_ip4(&b, "203.0.113.53", "192.0.2.10", (uint16_t)(900 + i), 0);
		pb_push_eth(&b);
		emit(&b, ts + (uint64_t)i * 100 * MS + 7 * MS);
	}
	/* ping, 5 echo requests and replies */
	for (int i = 0; i < 5; i++) {
		pb_init(&b);
		pb_payload(&b, 56);
		pb_push_icmp(&b, 8, 77, (uint16_t)i);
		pb_push_ip4(&b, "192.0.2.10", "198.51.100.1", (uint16_t)(200 + i), 0);
		pb_push_eth(&b);
		emit(&b, ts + 50 * MS + (uint64_t)i * 400 * MS);
		pb_init(&b);
		pb_payload(&b, 56);
		pb_push_icmp(&b, 0, 77, (uint16_t)i);
		pb_push_ip4(&b, "198.51.100.1", "192.0.2.10", (uint16_t)(300 + i), 0);
		pb_push_eth(&b);
		emit(&b, ts + 50 * MS + (uint64_t)i * 400 * MS + 15 * MS);
	}
	/* a VLAN-tagged G.711 RTP stream, 20 ms apart, with arrival jitter
	 * and packet 23 lost */
	unsigned int seed = 42;
	for (int i = 0; i < 51; i++) {
		uint64_t jit = (uint64_t)(rand_r(&seed) % 4000) * US;
		if (i == 23)
			continue;
		pb_init(&b);
		pb_payload(&b, 160);
		uint8_t rtp[12] = {0x80, 0x00};
		uint16_t seq = (uint16_t)(4000 + i);
		uint32_t rts = 1000000u + (uint32_t)i * 160, ssrc = 0x5eed1e55;
		rtp[2] = (uint8_t)(seq >> 8);
		rtp[3] = (uint8_t)seq;
		for (int k = 0; k < 4; k++) {
			rtp[4 + k] = (uint8_t)(rts >> (24 - 8 * k));
			rtp[8 + k] = (uint8_t)(ssrc >> (24 - 8 * k));
		}
		pb_push_raw(&b, rtp, sizeof(rtp));
		pb_push_udp(&b, 16384, 16386);
		pb_push_ip4(&b, "10.10.0.5", "10.20.0.7", (uint16_t)i, 0);
		pb_push_vlan(&b, 0x8100, 100);
		pb_push_eth(&b);
		emit(&b, ts + 5 * MS + (uint64_t)i * 20 * MS + jit);
	}
	/* a VXLAN-tunnelled inner TCP exchange */
	for (int i = 0; i < 10; i++) {
		pb_init(&b);
		pb_payload(&b, 200);
		pb_push_tcp(&b, 33000, 8080, 1 + (uint32_t)i * 200, 1, 0x18, 500);
		pb_push_ip4(&b, "172.16.1.1", "172.16.2.2", (uint16_t)i, 0x4000);
		pb_push_eth(&b);
		pb_push_vxlan(&b, 42);
		pb_push_udp(&b, 49152, 4789);
		pb_push_ip4(&b, "192.0.2.100", "192.0.2.200", (uint16_t)i, 0);
		pb_push_eth(&b);
		emit(&b, ts + 100 * MS + (uint64_t)i * 150 * MS);
	}
	/* GTP-U: a mobile subscriber's UDP inside the tunnel */
	for (int i = 0; i < 8; i++) {
		pb_init(&b);
		pb_payload(&b, 300);
		pb_push_udp(&b, 5000, 6000);
		pb_push_ip4(&b, "100.64.0.9", "203.0.113.80", (uint16_t)i, 0);
		pb_push_gtpu(&b, 0xbeef);
		pb_push_udp(&b, 2152, 2152);
		pb_push_ip4(&b, "192.0.2.30", "192.0.2.31", (uint16_t)i, 0);
		pb_push_eth(&b);
		emit(&b, ts + 150 * MS + (uint64_t)i * 200 * MS);
	}
	/* an ARP request: counted, not a flow */
	static const uint8_t arp[28] = {0, 1, 8, 0, 6, 4, 0, 1};
	pb_init(&b);
	pb_push_raw(&b, arp, sizeof(arp));
	b.next_type = 0x0806;
	pb_push_eth(&b);
	emit(&b, ts + 1 * MS);
}

/*
 * Tenants that reuse one address space: the same TCP connection,
 * 10.0.0.1:40000 -> 10.0.0.2:80, eight times at once, each in its own VXLAN
 * VNI, QinQ C-tag, GRE key or GTP-U tunnel. Tenant i (0-7) has a far RTT of
 * i + 1 ms and i + 1 data exchanges, so every flow's figures are its own.
 */
static int tenant;

static void tenant_outer(struct pb *b, int c2s)
{
	static const char *const gnb[2] = {"192.0.2.50", "192.0.2.51"};
	int t = tenant;
	switch (t) {
	case 0:
	case 1: /* VXLAN VNI 10, 20 between two VTEPs */
		pb_push_eth(b);
		pb_push_vxlan(b, 10 + 10 * (uint32_t)t);
		pb_push_udp(b, (uint16_t)(c2s ? 49152 + t : 50152 + t), 4789);
		pb_push_ip4(b, c2s ? "192.0.2.1" : "192.0.2.2", c2s ? "192.0.2.2" : "192.0.2.1", 1, 0);
		break;
	case 2:
	case 3: /* QinQ: one S-tag, C-tags 10 and 20 */
		pb_push_vlan(b, 0x8100, (uint16_t)(10 + 10 * (t - 2)));
		pb_push_vlan(b, 0x88a8, 300);
		break;
	case 4:
	case 5: /* keyed GRE, keys 1 and 2 */
		pb_push_gre_key(b, (uint32_t)(t - 3));
		pb_push_ip4(b, c2s ? "192.0.2.5" : "192.0.2.6", c2s ? "192.0.2.6" : "192.0.2.5", 1, 0);
		break;
	default: /* GTP-U from two base stations to one UPF; each end picks its TEID */
		pb_push_gtpu(b, (uint32_t)(c2s ? 0x100 + t : 0x200 + t));
		pb_push_udp(b, 2152, 2152);
		pb_push_ip4(b, c2s ? gnb[t - 6] : "192.0.2.60", c2s ? "192.0.2.60" : gnb[t - 6], 1, 0);
		break;
	}
	pb_push_eth(b);
}

static void tenants(void)
{
	outer = tenant_outer;
	for (tenant = 0; tenant < 8; tenant++)
		tcp_session("10.0.0.1", 40000, "10.0.0.2", 80, T0 + (uint64_t)tenant * MS,
			    (uint64_t)(tenant + 1) * MS, 200 * US, tenant + 1, 600, 0);
	outer = NULL;
}

static uint64_t rnd(unsigned int *seed, uint64_t lo, uint64_t hi)
{
	uint64_t r = ((uint64_t)rand_r(seed) << 31) ^ (uint64_t)rand_r(seed);
	return lo + r % (hi - lo);
}

static void tcp_frame(const char *src, uint16_t sp, const char *dst, uint16_t dp, uint8_t flags,
		      uint32_t seq, uint32_t ack, uint32_t len, uint64_t ts)
{
	struct pb b;
	pb_init(&b);
	if (len)
		pb_payload(&b, len);
	pb_push_tcp(&b, sp, dp, seq, ack, flags, 64000);
	pb_push_ip4(&b, src, dst, 1, 0x4000);
	pb_push_eth(&b);
	emit(&b, ts);
}

static void qos(void)
{
	/* TCP: handshake, request/ACK and response/ACK exchanges; one request
	 * in eight is lost past the capture point and resent after an RTO */
	for (unsigned int f = 0; f < 60; f++) {
		unsigned int seed = 7000 + f;
		char c[32];
		snprintf(c, sizeof(c), "10.1.0.%u", f + 1);
		const char *s = "10.2.0.1";
		uint16_t cp = (uint16_t)(41000 + f);
		uint64_t t = T0 + f * 13 * MS + rnd(&seed, 0, MS);
		uint32_t cs = (uint32_t)rand_r(&seed), ss = (uint32_t)rand_r(&seed);
		tcp_frame(c, cp, s, 443, 0x02, cs, 0, 0, t);
		tcp_frame(s, 443, c, cp, 0x12, ss, cs + 1, 0, t += rnd(&seed, MS, 120 * MS));
		tcp_frame(c, cp, s, 443, 0x10, cs + 1, ss + 1, 0, t += rnd(&seed, 50 * US, 3 * MS));
		cs++;
		ss++;
		for (int e = 0; e < 25; e++) {
			uint32_t len = 100 + (uint32_t)rand_r(&seed) % 1300;
			tcp_frame(c, cp, s, 443, 0x18, cs, ss, len, t += rnd(&seed, 20 * MS, 80 * MS));
			if (rand_r(&seed) % 8 == 0)
				tcp_frame(c, cp, s, 443, 0x18, cs, ss, len,
					  t += rnd(&seed, 200 * MS, 250 * MS));
			cs += len;
			tcp_frame(s, 443, c, cp, 0x10, ss, cs, 0, t += rnd(&seed, 500 * US, 150 * MS));
			uint32_t resp = 200 + (uint32_t)rand_r(&seed) % 1200;
			tcp_frame(s, 443, c, cp, 0x18, ss, cs, resp, t += rnd(&seed, 100 * US, 5 * MS));
			ss += resp;
			tcp_frame(c, cp, s, 443, 0x10, cs, ss, 0, t += rnd(&seed, 30 * US, 3 * MS));
		}
	}
	/* RTP: G.711 across a sequence wrap, G.711 A-law across a timestamp
	 * wrap, G.729 with a burst of losses; 20 ms apart, up to 9 ms late */
	static const struct {
		const char *src, *dst;
		uint16_t sport, dport, seq0;
		uint8_t pt;
		uint32_t ssrc, ts0, per;
		int n, lose_every, burst_at;
	} st[5] = {
		{"10.10.0.5", "10.20.0.7", 16384, 16386, 65000, 0, 0x11223344, 5000, 160, 1500, 97, -1},
		{"10.20.0.7", "10.10.0.5", 16386, 16384, 100, 8, 0x55667788, 0xfffe0000u, 160, 1500, 211, -1},
		{"10.10.0.6", "10.20.0.8", 20000, 20002, 7, 18, 0x0badcafe, 77, 160, 1200, 0, 600},
		/* Speex on PT 96, 16 kHz: only the SDP below says so */
		{"10.10.0.9", "10.20.0.9", 40000, 30000, 500, 96, 0x5d9c10c, 1000, 320, 800, 113, -1},
		/* a second SSRC on the G.729 stream's port pair and direction,
		 * its packets between the other's (WebRTC bundles so) */
		{"10.10.0.6", "10.20.0.8", 20000, 20002, 30000, 0, 0x2bad2bad, 9000, 160, 700, 61, -1},
	};
	/* the caller's offer (it receives at 10.10.0.9:40000) and the callee's
	 * answer: it receives the stream above at 10.20.0.9:30000 */
	for (int m = 0; m < 2; m++) {
		const char *me = m ? "10.20.0.9" : "10.10.0.9", *peer = m ? "10.10.0.9" : "10.20.0.9";
		char sdp[256], msg[1024];
		int sl = snprintf(sdp, sizeof(sdp),
				  "v=0\r\no=%c 2890844526 2890844526 IN IP4 %s\r\ns=-\r\n"
				  "c=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 96\r\n"
				  "a=rtpmap:96 speex/16000\r\n",
				  m ? 'b' : 'a', me, me, m ? 30000 : 40000);
		int ml = snprintf(msg, sizeof(msg),
				  "%s\r\nVia: SIP/2.0/UDP 10.10.0.9:5060;branch=z9hG4bK74bf9\r\n"
				  "From: <sip:a@10.10.0.9>;tag=9fxced76sl\r\n"
				  "To: <sip:b@10.20.0.9>%s\r\n"
				  "Call-ID: 3848276298220188511@10.10.0.9\r\nCSeq: 1 INVITE\r\n"
				  "Contact: <sip:%c@%s>\r\nContent-Type: application/sdp\r\n"
				  "Content-Length: %d\r\n\r\n%s",
				  m ? "SIP/2.0 200 OK" : "INVITE sip:b@10.20.0.9 SIP/2.0",
				  m ? ";tag=8321234356" : "", m ? 'b' : 'a', me, sl, sdp);
		struct pb b;
		pb_init(&b);
		pb_push_raw(&b, (const uint8_t *)msg, (uint32_t)ml);
		pb_push_udp(&b, 5060, 5060);
		pb_push_ip4(&b, me, peer, 1, 0);
		pb_push_eth(&b);
		emit(&b, T0 + (1 + (uint64_t)m * 4) * MS);
	}
	for (int k = 0; k < 5; k++) {
		unsigned int seed = 99 + (unsigned int)k;
		for (int i = 0; i < st[k].n; i++) {
			uint64_t late = rnd(&seed, 0, 9 * MS);
			if ((st[k].lose_every && i % st[k].lose_every == 50) ||
			    (st[k].burst_at >= 0 && i >= st[k].burst_at && i < st[k].burst_at + 6))
				continue;
			struct pb b;
			pb_init(&b);
			pb_payload(&b, st[k].pt == 18 ? 20 : 160);
			uint8_t h[12] = {0x80, st[k].pt};
			uint16_t seq = (uint16_t)(st[k].seq0 + i);
			uint32_t ts = st[k].ts0 + (uint32_t)i * st[k].per;
			h[2] = (uint8_t)(seq >> 8);
			h[3] = (uint8_t)seq;
			for (int j = 0; j < 4; j++) {
				h[4 + j] = (uint8_t)(ts >> (24 - 8 * j));
				h[8 + j] = (uint8_t)(st[k].ssrc >> (24 - 8 * j));
			}
			pb_push_raw(&b, h, 12);
			pb_push_udp(&b, st[k].sport, st[k].dport);
			pb_push_ip4(&b, st[k].src, st[k].dst, (uint16_t)i, 0);
			pb_push_eth(&b);
			emit(&b, T0 + (uint64_t)k * 7 * MS + (uint64_t)i * 20 * MS + late);
		}
	}
}

/* Flows 10.a.b.c -> 10.200.b.c: TCP for even flows, UDP for odd ones. */
/*
 * bench; with peer, also the same traffic as seen at a second point: 5 ms
 * later plus 0-999 ns, a hash of the frame's number (the order is kept), one frame in 100 lost.
 */
static void bench(unsigned long npkts, unsigned long nflows, struct pw *peer)
{
	struct pb b;
	char src[32], dst[32];
	unsigned long per = npkts / nflows;
	uint64_t ts = T0;
	unsigned long written = 0;
	for (unsigned long round = 0; round < per; round++) {
		for (unsigned long f = 0; f < nflows && written < npkts; f++, written++) {
			snprintf(src, sizeof(src), "10.%lu.%lu.1", (f >> 8) & 0xff, f & 0xff);
			snprintf(dst, sizeof(dst), "10.200.%lu.%lu", (f >> 8) & 0xff, f & 0xff);
			int rev = round % 2 == 1;
			uint16_t sp = (uint16_t)(20000 + f % 40000), dp = f % 2 ? 5004 : 443;
			pb_init(&b);
			if (f % 2 == 0) {
				uint8_t flags = round == 0 ? 0x02 : round == 1 ? 0x12 : 0x10;
				uint32_t pay = round < 3 ? 0 : (uint32_t)(rev ? 1200 : 40 + (f * 7 + round * 13) % 200);
				if (pay)
					pb_payload(&b, pay);
				if (rev)
					pb_push_tcp(&b, dp, sp, 5000 + (uint32_t)round * 1000, 1001 + (uint32_t)round, flags, 500);
				else
					pb_push_tcp(&b, sp, dp, 1000 + (uint32_t)round, round ? 5001 : 0, flags, 500);
			} else {
				pb_payload(&b, 18 + (uint32_t)((f * 31 + round * 17) % 300));
				if (rev)
					pb_push_udp(&b, dp, sp);
				else
					pb_push_udp(&b, sp, dp);
			}
			if (rev)
				pb_push_ip4(&b, dst, src, (uint16_t)round, 0x4000);
			else
				pb_push_ip4(&b, src, dst, (uint16_t)round, 0x4000);
			pb_push_eth(&b);
			emit(&b, ts);
			if (peer && written % 100 != 7)
				pw_write(peer, ts + 5 * MS + ((written * 2654435761u) >> 8) % 1000, pb_data(&b), pb_len(&b),
					 pb_len(&b));
			ts += US;
		}
	}
}

/* MPEG-TS flows of a stream file (ffmpeg's), or of a synthetic stream. */
static int mpegts(const char *stream)
{
	size_t len = 0;
	uint8_t *ts = NULL;
	if (stream) {
		FILE *f = fopen(stream, "rb");
		if (!f) {
			perror(stream);
			return -1;
		}
		size_t cap = 0, got;
		do {
			if (len + 65536 > cap) {
				uint8_t *n = realloc(ts, cap = cap * 2 + 65536);
				if (!n)
					abort();
				ts = n;
			}
			got = fread(ts + len, 1, cap - len, f);
			len += got;
		} while (got > 0);
		fclose(f);
	} else {
		len = 2000 * (size_t)QP_TS_PKT;
		ts = tsg_synthetic(2000);
		if (!ts)
			abort();
	}
	struct tsg_truth *t = malloc(sizeof(*t));
	if (!t)
		abort();
	int r = tsg_write(&out, T0, ts, len, t);
	free(t);
	free(ts);
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: qp_gen demo|qos|tenants|dns|quic|tls FILE | qp_gen mpegts FILE [STREAM.ts] | "
				"qp_gen bench FILE [PACKETS] "
				"[FLOWS]\n       qp_gen mix FILE [PACKETS] [FLOWS]   (the realistic mix)"
				"\n       qp_gen pair A B [PACKETS] [FLOWS]   (bench traffic at two "
				"points: B 5 ms later, 1 in 100 lost)\n");
		return 1;
	}
	int pair = strcmp(argv[1], "pair") == 0;
	struct pw peer;
	if (pair && (argc < 4 || pw_open(&peer, argv[3], 1, 1))) {
		fprintf(stderr, "qp_gen pair A B: cannot write B\n");
		return 1;
	}
	int us = strcmp(argv[1], "bench") == 0 || strcmp(argv[1], "mix") == 0;
	if (pw_open(&out, argv[2], 1, !us)) {
		perror(argv[2]);
		return 1;
	}
	if (strcmp(argv[1], "demo") == 0) {
		hold = 1;
		demo();
		flush_held();
	} else if (strcmp(argv[1], "tenants") == 0) {
		hold = 1;
		tenants();
		flush_held();
	} else if (strcmp(argv[1], "qos") == 0) {
		hold = 1;
		qos();
		flush_held();
	} else if (strcmp(argv[1], "dns") == 0) {
		struct dg_truth *t = malloc(sizeof(*t));
		if (!t)
			abort();
		dg_write(&out, T0, 53, 1, t);
		free(t);
	} else if (strcmp(argv[1], "quic") == 0) {
		struct qg_truth *t = malloc(sizeof(*t));
		if (!t)
			abort();
		qg_write(&out, T0, 443, t);
		free(t);
	} else if (strcmp(argv[1], "tls") == 0) {
		struct tg_truth *t = malloc(sizeof(*t));
		if (!t)
			abort();
		tg_write(&out, T0, 8446, t);
		free(t);
	} else if (strcmp(argv[1], "mpegts") == 0) {
		if (mpegts(argc > 3 ? argv[3] : NULL))
			return 1;
	} else if (strcmp(argv[1], "mix") == 0) {
		unsigned long long np = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000;
		unsigned long nf = argc > 4 ? strtoul(argv[4], NULL, 10) : 10000;
		struct mg_truth t;
		if (nf == 0 || nf > 1000000 || np < 6ull * nf || np > (1ull << 32) ||
		    mg_write(&out, T0, np, (uint32_t)nf, &t) != 0) {
			fprintf(stderr, "qp_gen mix: PACKETS >= 6 x FLOWS, 0 < FLOWS <= 1000000 and "
					"PACKETS <= 2^32 expected\n");
			return 1;
		}
	} else if (strcmp(argv[1], "bench") == 0 || pair) {
		unsigned long np = argc > 3 + pair ? strtoul(argv[3 + pair], NULL, 10) : 1000000;
		unsigned long nf = argc > 4 + pair ? strtoul(argv[4 + pair], NULL, 10) : 10000;
		if (np == 0 || nf == 0 || nf > 65536 || np < nf) {
			fprintf(stderr, "qp_gen: PACKETS >= FLOWS > 0 and FLOWS <= 65536 expected\n");
			return 1;
		}
		bench(np, nf, pair ? &peer : NULL);
		if (pair)
			pw_close(&peer);
	} else {
		fprintf(stderr, "qp_gen: unknown capture '%s' (demo, qos, tenants, dns, quic, tls, mpegts, bench, mix, pair)\n", argv[1]);
		return 1;
	}
	pw_close(&out);
	return 0;
}
