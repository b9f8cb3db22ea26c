/*
 * QUIC tests: what opens a QUIC flow, coalesced packets walked by their
 * lengths, the handshake's halves (the latest client Initial, 0-RTT not
 * ending it), spin edges kept and discarded, and hostile datagrams (cut,
 * lengths past the end, unknown versions, garbage) counted and survived.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "qp_quic_dp.h"

#define MS 1000000ULL

static struct qp_quic q;
static struct qp_quic_event ev;

static void setup(void)
{
	qp_quic_init(&q);
}

TestSuite(quic, .init = setup);

/* A long-header packet at p: its length. type as version 1 numbers it. */
static uint32_t lp(uint8_t *p, uint32_t version, unsigned int type, uint32_t payload)
{
	uint32_t at = 0;
	p[at++] = (uint8_t)(0xC0 | type << 4 | 1);
	p[at++] = (uint8_t)(version >> 24);
	p[at++] = (uint8_t)(version >> 16);
	p[at++] = (uint8_t)(version >> 8);
	p[at++] = (uint8_t)version;
	p[at++] = 8;
	memset(p + at, 0xd1, 8);
	at += 8;
	p[at++] = 0;
	if (type == 0)
		p[at++] = 0; /* token */
	p[at++] = (uint8_t)(0x40 | payload >> 8);
	p[at++] = (uint8_t)payload;
	memset(p + at, 0, payload);
	return at + payload;
}

static void dgram(const uint8_t *p, uint32_t n, unsigned int dir, uint64_t ts)
{
	qp_quic_update(&q, p, n, dir, ts, &ev);
}

static void short_pkt(int spin, unsigned int dir, uint64_t ts)
{
	uint8_t p[20] = {(uint8_t)(0x40 | spin << 5 | 1)};
	dgram(p, sizeof(p), dir, ts);
}

Test(quic, what_opens_a_quic_flow)
{
	uint8_t p[1300];
	uint32_t n = lp(p, 1, 0, 100);
	cr_assert(qp_quic_detect(p, n));
	n = lp(p, 0x6b3343cf, 1, 100);
	cr_assert(qp_quic_detect(p, n), "version 2");
	n = lp(p, 0xff000022, 2, 100);
	cr_assert(qp_quic_detect(p, n), "draft 34");
	n = lp(p, 0xff00001c, 0, 100);
	cr_assert(!qp_quic_detect(p, n), "draft 28: not read");
	n = lp(p, 0x1a2a3a4a, 0, 100);
	cr_assert(!qp_quic_detect(p, n), "a version never heard of");
	n = lp(p, 1, 0, 100);
	p[5] = 21;
	cr_assert(!qp_quic_detect(p, n), "a connection id over 20 bytes");
	n = lp(p, 1, 0, 100);
	p[0] &= 0xBF;
	cr_assert(!qp_quic_detect(p, n), "no fixed bit: RTP's first bits");
	cr_assert(!qp_quic_detect(p, 6));
	uint8_t rtp[12] = {0x80, 0x00};
	cr_assert(!qp_quic_detect(rtp, sizeof(rtp)));
}

Test(quic, the_handshake_runs_from_the_latest_client_initial)
{
	uint8_t p[1300];
	uint32_t n = lp(p, 1, 0, 1150);
	dgram(p, n, 0, 100 * MS);
	dgram(p, n, 0, 400 * MS); /* sent again */
	cr_assert_eq(q.client_dir, 0);
	/* the server's Initial and Handshake, coalesced */
	n = lp(p, 1, 0, 100);
	n += lp(p + n, 1, 2, 300);
	dgram(p, n, 1, 430 * MS);
	cr_assert_eq(q.hs_ns, 30 * MS);
	cr_assert_eq(q.long_pkts, 4, "coalesced packets count each");
	/* 0-RTT is not the client's answer */
	n = lp(p, 1, 1, 200);
	dgram(p, n, 0, 431 * MS);
	cr_assert_eq(q.hs_ack_ns, -1);
	cr_assert_eq(ev.handshake, 0);
	n = lp(p, 1, 0, 40);
	dgram(p, n, 0, 435 * MS);
	cr_assert_eq(q.hs_ack_ns, 5 * MS);
	cr_assert_eq(ev.handshake, 1);
	cr_assert_eq(ev.hs_total_ns, 35 * MS);
	cr_assert_eq(q.initial, 4);
	cr_assert_eq(q.zero_rtt, 1);
	cr_assert_eq(q.handshake, 1);
	n = lp(p, 1, 2, 40);
	dgram(p, n, 0, 436 * MS);
	cr_assert_eq(q.hs_ack_ns, 5 * MS, "measured once");
}

Test(quic, version_2_numbers_its_types_otherwise)
{
	uint8_t p[1300];
	uint32_t n = lp(p, 0x6b3343cf, 1, 1150); /* v2's Initial */
	dgram(p, n, 0, 0);
	cr_assert_eq(q.initial, 1);
	n = lp(p, 0x6b3343cf, 3, 100); /* v2's Handshake */
	dgram(p, n, 1, 20 * MS);
	cr_assert_eq(q.handshake, 1);
	cr_assert_eq(q.hs_ns, 20 * MS);
	n = lp(p, 0x6b3343cf, 0, 10); /* v2's Retry */
	dgram(p, n, 1, 21 * MS);
	cr_assert_eq(q.retry, 1);
}

Test(quic, spin_edges_give_rtt_and_undue_ones_are_discarded)
{
	uint8_t p[1300];
	uint32_t n = lp(p, 1, 0, 1150);
	dgram(p, n, 0, 0);
	short_pkt(0, 0, 10 * MS);
	short_pkt(0, 1, 11 * MS);
	short_pkt(1, 0, 20 * MS); /* client edge: the server is at 0 */
	short_pkt(0, 0, 21 * MS); /* reordered: the server has not reflected 1 */
	cr_assert_eq(q.edges_discarded, 1);
	short_pkt(1, 0, 22 * MS);
	cr_assert_eq(q.edges_kept, 1, "the direction kept its value");
	short_pkt(1, 1, 30 * MS); /* the server reflects */
	short_pkt(0, 0, 60 * MS); /* the client's next edge: 40 ms after its first */
	cr_assert_eq(q.rtt[0].n, 1);
	cr_assert_eq(q.rtt[0].sum, 40 * MS);
	cr_assert_eq(ev.rtt_dir, 0);
	short_pkt(0, 1, 70 * MS);
	cr_assert_eq(q.rtt[1].n, 1);
	cr_assert_eq(q.rtt[1].sum, 40 * MS);
	short_pkt(0, 1, 75 * MS); /* no change: nothing */
	cr_assert_eq(q.edges_kept, 4);
	cr_assert_eq(q.edges_discarded, 1);
	cr_assert(qp_quic_spin_active(&q));
	short_pkt(1, 1, 80 * MS); /* the server flips before the client did */
	cr_assert_eq(q.edges_discarded, 2);
	qp_quic_restart(&q);
	cr_assert_eq(q.edges_kept, 0);
	cr_assert_eq(q.rtt[0].n, 0);
	cr_assert_eq(q.spin[0].cur, 0, "the spin state goes on in the next record");
	cr_assert(!qp_quic_spin_active(&q));
}

Test(quic, hostile_datagrams_are_counted_and_survived)
{
	uint8_t p[1300];
	uint32_t n = lp(p, 1, 0, 1150);
	dgram(p, n, 0, 0);
	/* a Length past the datagram's end: the packet counts, the walk stops */
	n = lp(p, 1, 2, 100);
	p[n - 100 - 2] = 0x7f;
	p[n - 100 - 1] = 0xff;
	dgram(p, n, 1, 1 * MS);
	cr_assert_eq(q.handshake, 1);
	/* a token length of 2^62 - 1 */
	n = lp(p, 1, 0, 100);
	memset(p + 15, 0xff, 8);
	dgram(p, n, 1, 2 * MS);
	/* cut inside the connection ids */
	n = lp(p, 1, 0, 100);
	dgram(p, 9, 1, 3 * MS);
	dgram(p, 1, 1, 3 * MS);
	/* an unknown version inside the flow, and version negotiation */
	n = lp(p, 0x0a0a0a0a, 0, 100);
	dgram(p, n, 1, 4 * MS);
	cr_assert_eq(q.unknown_version, 1);
	n = lp(p, 0, 0, 8);
	dgram(p, n, 1, 5 * MS);
	cr_assert_eq(q.vneg, 1);
	/* connection ids over 20 bytes */
	n = lp(p, 1, 0, 100);
	p[5] = 200;
	dgram(p, n, 1, 6 * MS);
	/* many coalesced packets: four are read */
	n = 0;
	for (int k = 0; k < 8; k++)
		n += lp(p + n, 1, 2, 10);
	uint32_t before = q.long_pkts;
	dgram(p, n, 1, 7 * MS);
	cr_assert_eq(q.long_pkts, before + 4);
	cr_assert_eq(q.nversions, 1, "versions of unknown packets are not itemised");
}
