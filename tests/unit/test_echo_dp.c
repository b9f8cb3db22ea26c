/*
 * ICMP echo RTT and inter-arrival tests: matching by identifier and
 * sequence, both ICMP versions, duplicates, unanswered requests, time going
 * backwards.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "qp_echo_dp.h"

#define MS 1000000ULL

static struct qp_echo e;

static void setup(void)
{
	memset(&e, 0, sizeof(e));
}

TestSuite(echo, .init = setup);

static int icmp(uint8_t proto, uint8_t type, uint16_t id, uint16_t seq, unsigned int dir,
		uint64_t ts, uint64_t *rtt, unsigned int *rd)
{
	struct qp_pkt p;
	memset(&p, 0, sizeof(p));
	p.key.proto = proto;
	p.icmp_type = type;
	p.icmp_id = id;
	p.icmp_seq = seq;
	return qp_echo_update(&e, &p, dir, ts, rtt, rd);
}

Test(echo, request_and_reply_by_id_and_seq)
{
	uint64_t rtt;
	unsigned int rd;
	cr_assert_eq(icmp(1, 8, 77, 1, 0, 0, &rtt, &rd), 0);
	cr_assert_eq(icmp(1, 8, 77, 2, 0, 1 * MS, &rtt, &rd), 0);
	cr_assert_eq(icmp(1, 0, 77, 2, 1, 5 * MS + 3, &rtt, &rd), 1, "replies may come out of order");
	cr_assert_eq(rtt, 4 * MS + 3);
	cr_assert_eq(rd, 0);
	cr_assert_eq(icmp(1, 0, 77, 1, 1, 6 * MS, &rtt, &rd), 1);
	cr_assert_eq(rtt, 6 * MS);
	cr_assert_eq(icmp(1, 0, 77, 1, 1, 7 * MS, &rtt, &rd), 0, "a duplicated reply: no sample");
	cr_assert_eq(icmp(1, 0, 78, 9, 1, 8 * MS, &rtt, &rd), 0, "an unknown id: no sample");
	cr_assert_eq(e.requests[0], 2);
	cr_assert_eq(e.replies[1], 4);
	cr_assert_eq(e.rtt[0].n, 2);
	cr_assert_eq(e.rtt[0].min, 4 * MS + 3);
	cr_assert_eq(e.rtt[0].max, 6 * MS);
}

Test(echo, icmpv6_and_the_reverse_direction)
{
	uint64_t rtt;
	unsigned int rd;
	icmp(58, 128, 1, 1, 1, 10 * MS, &rtt, &rd);
	cr_assert_eq(icmp(58, 129, 1, 1, 0, 12 * MS, &rtt, &rd), 1);
	cr_assert_eq(rd, 1);
	cr_assert_eq(rtt, 2 * MS);
	cr_assert_eq(icmp(58, 0, 1, 1, 0, 12 * MS, &rtt, &rd), 0, "ICMPv4 types mean nothing in v6");
}

Test(echo, a_reply_in_the_same_direction_or_before_its_request_is_no_sample)
{
	uint64_t rtt;
	unsigned int rd;
	icmp(1, 8, 5, 5, 0, 10 * MS, &rtt, &rd);
	cr_assert_eq(icmp(1, 0, 5, 5, 0, 11 * MS, &rtt, &rd), 0);
	cr_assert_eq(icmp(1, 0, 5, 5, 1, 9 * MS, &rtt, &rd), 0);
	cr_assert_eq(e.rtt[0].n, 0);
}

Test(echo, only_the_latest_requests_are_remembered)
{
	uint64_t rtt;
	unsigned int rd;
	for (uint16_t s = 0; s < QP_ECHO_OUT + 2; s++)
		icmp(1, 8, 1, s, 0, s * MS, &rtt, &rd);
	cr_assert_eq(icmp(1, 0, 1, 0, 1, 100 * MS, &rtt, &rd), 0, "the oldest was overwritten");
	cr_assert_eq(icmp(1, 0, 1, QP_ECHO_OUT + 1, 1, 100 * MS, &rtt, &rd), 1);
}

Test(echo, inter_arrival)
{
	struct qp_iat a;
	memset(&a, 0, sizeof(a));
	qp_iat_add(&a, 0, 100);
	qp_iat_add(&a, 0, 300);
	qp_iat_add(&a, 0, 250); /* back in time: no sample, the clock stays */
	qp_iat_add(&a, 0, 1300);
	qp_iat_add(&a, 1, 5000); /* the other direction: its first packet, no sample */
	struct qp_stat s;
	qp_iat_stat(&a, 0, &s);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.min, 200);
	cr_assert_eq(s.max, 1000);
	cr_assert_eq(s.sum, 1200);
	qp_iat_stat(&a, 1, &s);
	cr_assert_eq(s.n, 0);
}

/* Gaps from 2^31 ns on are kept to the microsecond in min and max; the sum stays exact. */
Test(echo, inter_arrival_long_gaps)
{
	struct qp_iat a;
	memset(&a, 0, sizeof(a));
	uint64_t t = 1000;
	qp_iat_add(&a, 0, t);
	t += 2147483647; /* 2^31 - 1 ns: the largest kept to the nanosecond */
	qp_iat_add(&a, 0, t);
	t += 3000000999ull; /* 3 s and 999 ns */
	qp_iat_add(&a, 0, t);
	t += 600000000000ull; /* 10 minutes */
	qp_iat_add(&a, 0, t);
	struct qp_stat s;
	qp_iat_stat(&a, 0, &s);
	cr_assert_eq(s.n, 3);
	cr_assert_eq(s.min, 2147483647);
	cr_assert_eq(s.max, 600000000000ull);
	cr_assert_eq(s.sum, 2147483647ull + 3000000999ull + 600000000000ull);
	qp_iat_add(&a, 1, 0 + 1);
	qp_iat_add(&a, 1, 1 + 3000000999ull);
	qp_iat_stat(&a, 1, &s);
	cr_assert_eq(s.min, 3000000000ull, "to the microsecond: %lu", (unsigned long)s.min);
	cr_assert_eq(s.max, 3000000000ull);
	cr_assert_eq(s.sum, 3000000999ull);
	cr_assert_eq(qp_iat_dec(qp_iat_enc(1ull << 42)), (uint64_t)(QP_IAT_US - 1) * 1000,
		     "beyond 35 minutes: the largest kept");
}
