/*
 * DNS response-time tests: matching by ID, direction and question,
 * retransmitted queries, duplicate and stray responses, the timeout, the
 * bound on waiting queries, RCODEs and truncation, broken messages, and
 * DNS over TCP framing (split lengths, several messages a segment, a
 * message over several segments, retransmitted and missing segments).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../gen/qp_dnsgen.h"
#include "qp_dns_dp.h"

#define MS 1000000ULL

static struct qp_dns d;
static struct qp_dns_stream st[2];
static struct qp_dns_event ev;

static void setup(void)
{
	memset(&d, 0, sizeof(d));
	memset(st, 0, sizeof(st));
	memset(&ev, 0, sizeof(ev));
}

TestSuite(dns, .init = setup);

/* A message with one question for name (dotted, no final dot): its length. */
static uint32_t msg(uint8_t *m, uint16_t id, int response, unsigned int rcode, int tc,
		    const char *name, uint16_t qtype)
{
	return dg_msg(m, id, response, rcode, tc, name, qtype, 0);
}

static void udp(uint16_t id, int response, const char *name, unsigned int dir, uint64_t ts)
{
	uint8_t m[300];
	uint32_t n = msg(m, id, response, 0, 0, name, 1);
	qp_dns_expire(&d, ts, &ev);
	qp_dns_message(&d, m, n, dir, ts, &ev);
}

Test(dns, a_response_answers_its_query)
{
	udp(7, 0, "a.example", 0, 1000 * MS);
	udp(7, 1, "a.example", 1, 1000 * MS + 1234);
	cr_assert_eq(d.c.queries, 1);
	cr_assert_eq(d.c.responses, 1);
	cr_assert_eq(d.c.answered, 1);
	cr_assert_eq(d.rt.n, 1);
	cr_assert_eq(d.rt.sum, 1234);
	cr_assert_eq(ev.nrt, 1);
	cr_assert_eq(ev.rt[0], 1234);
	cr_assert_eq(ev.nrc, 1);
	cr_assert_eq(ev.rc[0], 0, "NOERROR");
	cr_assert_eq(qp_dns_pending(&d), 0);
}

Test(dns, the_question_is_compared_without_case_and_with_type)
{
	uint8_t m[300];
	udp(1, 0, "Www.Example.ORG", 0, 0);
	udp(1, 1, "www.example.org", 1, 3 * MS);
	cr_assert_eq(d.c.answered, 1, "names differ in case only");
	udp(2, 0, "x.example", 0, 10 * MS);
	uint32_t n = msg(m, 2, 1, 0, 0, "x.example", 28); /* AAAA, the query asked for A */
	qp_dns_message(&d, m, n, 1, 11 * MS, &ev);
	cr_assert_eq(d.c.answered, 1);
	cr_assert_eq(d.c.unmatched, 1, "another type is another question");
	cr_assert_eq(qp_dns_pending(&d), 1);
}

Test(dns, a_response_to_another_question_leaves_the_query_waiting)
{
	udp(8, 0, "b.example", 0, 2000 * MS);
	udp(8, 1, "c.example", 1, 2100 * MS);
	udp(8, 1, "b.example", 1, 2200 * MS);
	cr_assert_eq(d.c.unmatched, 1);
	cr_assert_eq(d.c.answered, 1);
	cr_assert_eq(d.rt.sum, 200 * MS, "the right answer's time, not the wrong one's");
}

Test(dns, a_retransmitted_query_keeps_the_first_time)
{
	udp(7, 0, "a.example", 0, 1000 * MS);
	udp(7, 0, "a.example", 0, 1500 * MS);
	udp(7, 1, "a.example", 1, 1600 * MS);
	cr_assert_eq(d.c.queries, 2);
	cr_assert_eq(d.c.retransmitted, 1);
	cr_assert_eq(d.c.answered, 1);
	cr_assert_eq(d.rt.sum, 600 * MS, "as Wireshark's dns.time");
	udp(7, 1, "a.example", 1, 1700 * MS);
	cr_assert_eq(d.c.unmatched, 1, "a duplicated response gives no second sample");
	cr_assert_eq(d.rt.n, 1);
}

Test(dns, the_same_id_in_both_directions_is_two_queries)
{
	udp(5, 0, "p.example", 0, 0);
	udp(5, 0, "p.example", 1, 1 * MS);
	cr_assert_eq(d.c.retransmitted, 0);
	udp(5, 1, "p.example", 1, 4 * MS);
	udp(5, 1, "p.example", 0, 9 * MS);
	cr_assert_eq(d.c.answered, 2);
	cr_assert_eq(d.rt.sum, 4 * MS + 8 * MS);
	cr_assert_eq(d.out[0].used + d.out[1].used, 0);
}

Test(dns, no_answer_in_five_seconds_is_unanswered)
{
	udp(1, 0, "q.example", 0, 0);
	udp(2, 0, "r.example", 0, 1000 * MS);
	udp(3, 0, "s.example", 0, 5000 * MS);
	cr_assert_eq(d.c.unanswered, 1, "the first waited 5 s");
	cr_assert_eq(qp_dns_pending(&d), 2);
	udp(1, 1, "q.example", 1, 5001 * MS);
	cr_assert_eq(d.c.unmatched, 1, "too late: its query is gone");
	qp_dns_expire(&d, 6000 * MS, &ev);
	cr_assert_eq(d.c.unanswered, 2);
	cr_assert_eq(ev.c.unanswered, 2);
}

Test(dns, at_most_eight_queries_wait)
{
	for (uint16_t i = 0; i < 10; i++)
		udp(i, 0, "w.example", 0, i * MS);
	cr_assert_eq(d.c.queries, 10);
	cr_assert_eq(d.c.untracked, 2);
	cr_assert_eq(qp_dns_pending(&d), QP_DNS_OUT);
	udp(9, 1, "w.example", 1, 20 * MS);
	cr_assert_eq(d.c.unmatched, 1, "an untracked query's answer matches nothing");
	udp(0, 1, "w.example", 1, 20 * MS);
	cr_assert_eq(d.c.answered, 1);
}

Test(dns, rcodes_and_truncation)
{
	uint8_t m[300];
	uint32_t n = msg(m, 1, 1, 3, 1, "gone.example", 1);
	qp_dns_message(&d, m, n, 1, 0, &ev);
	n = msg(m, 2, 1, 2, 0, "x.example", 1);
	qp_dns_message(&d, m, n, 1, 0, &ev);
	n = msg(m, 3, 1, 13, 0, "x.example", 1);
	qp_dns_message(&d, m, n, 1, 0, &ev);
	cr_assert_eq(d.c.rcodes[3], 1);
	cr_assert_eq(d.c.rcodes[2], 1);
	cr_assert_eq(d.c.rcodes[13], 1);
	cr_assert_eq(d.c.truncated, 1);
	char b[16];
	cr_assert_str_eq(qp_dns_rcode_name(3, b, sizeof(b)), "NXDOMAIN");
	cr_assert_str_eq(qp_dns_rcode_name(2, b, sizeof(b)), "SERVFAIL");
	cr_assert_str_eq(qp_dns_rcode_name(13, b, sizeof(b)), "RCODE13");
}

Test(dns, broken_messages_are_counted_and_change_nothing_else)
{
	uint8_t m[600] = {0};
	qp_dns_message(&d, m, 11, 0, 0, &ev); /* shorter than a header */
	uint32_t n = msg(m, 4, 0, 0, 0, "cut.example", 1);
	qp_dns_message(&d, m, n - 3, 0, 0, &ev); /* the question's class cut off */
	/* a name of 300 bytes: more than DNS allows */
	memset(m, 0, 12);
	m[5] = 1;
	uint32_t at = 12;
	for (int i = 0; i < 5; i++) {
		m[at++] = 60;
		memset(m + at, 'a', 60);
		at += 60;
	}
	m[at++] = 0;
	memset(m + at, 0, 4);
	qp_dns_message(&d, m, at + 4, 0, 0, &ev);
	/* a compression pointer to itself: a loop */
	memset(m, 0, 18);
	m[5] = 1;
	m[12] = 0xC0;
	m[13] = 12;
	qp_dns_message(&d, m, 18, 0, 0, &ev);
	/* 65535 questions announced, one there: the first is read */
	n = msg(m, 9, 0, 0, 0, "many.example", 1);
	m[4] = m[5] = 0xFF;
	qp_dns_message(&d, m, n, 0, 0, &ev);
	cr_assert_eq(d.c.malformed, 4);
	cr_assert_eq(d.c.queries, 1);
	cr_assert_eq(qp_dns_pending(&d), 1);
}

Test(dns, a_compressed_question_name_is_followed)
{
	uint8_t m[300];
	/* the response's question points back at a name after the header:
	 * the same question as the query's */
	udp(3, 0, "z.example", 0, 0);
	uint32_t n = msg(m, 3, 1, 0, 0, "z.example", 1);
	uint8_t r[300];
	memcpy(r, m, 12);
	uint32_t name_at = 12 + 6; /* a pointer, type and class, then the name */
	r[12] = 0xC0;
	r[13] = (uint8_t)name_at;
	memcpy(r + 14, m + n - 4, 4);
	memcpy(r + name_at, m + 12, n - 4 - 12);
	qp_dns_message(&d, r, name_at + (n - 4 - 12), 1, 2 * MS, &ev);
	cr_assert_eq(d.c.answered, 1);
}

/* DNS over TCP: a stream of framed messages cut into segments. */
static uint8_t stream[4096];
static uint32_t stream_len;

static void frame(uint16_t id, int response, const char *name)
{
	uint32_t n = msg(stream + stream_len + 2, id, response, 0, 0, name, 1);
	stream[stream_len] = (uint8_t)(n >> 8);
	stream[stream_len + 1] = (uint8_t)n;
	stream_len += n + 2;
}

#define ISN 1000u

static void seg(uint32_t from, uint32_t len, unsigned int dir, uint64_t ts)
{
	qp_dns_tcp(&d, st, stream + from, len, len, ISN + 1 + from, 0, dir, ts, &ev);
}

Test(dns, tcp_messages_split_and_joined_across_segments)
{
	qp_dns_tcp(&d, st, NULL, 0, 0, ISN, 1, 0, 0, &ev); /* SYN */
	frame(1, 0, "one.example");
	uint32_t q1 = stream_len;
	frame(2, 0, "two.example");
	frame(3, 0, "three.example");
	uint32_t q3 = stream_len;
	seg(0, 1, 0, 1 * MS);           /* the first length's first byte alone */
	seg(1, 1, 0, 1 * MS);           /* its second byte alone */
	seg(2, q1 - 2 + 5, 0, 2 * MS);  /* the message, and the next one's start */
	seg(q1 + 5, q3 - q1 - 5, 0, 3 * MS); /* the rest of it, and the third whole */
	cr_assert_eq(d.c.queries, 3);
	cr_assert_eq(d.c.malformed, 0);
	cr_assert_eq(d.out[0].ns, 2 * MS, "a message's time is its first byte's");
	cr_assert_eq(d.out[1].ns, 2 * MS);
	cr_assert_eq(d.out[2].ns, 3 * MS);
}

Test(dns, tcp_retransmissions_are_read_once_and_a_gap_stops_the_direction)
{
	qp_dns_tcp(&d, st, NULL, 0, 0, ISN, 1, 0, 0, &ev);
	frame(1, 0, "one.example");
	uint32_t q1 = stream_len;
	frame(2, 0, "two.example");
	uint32_t q2 = stream_len;
	frame(3, 0, "three.example");
	seg(0, q1, 0, 1 * MS);
	seg(0, q1, 0, 2 * MS); /* sent again */
	cr_assert_eq(d.c.queries, 1);
	cr_assert_eq(d.c.retransmitted, 0, "a TCP retransmission is no DNS retransmission");
	seg(0, q2, 0, 3 * MS); /* again, with new bytes after the old */
	cr_assert_eq(d.c.queries, 2);
	seg(q2 + 4, stream_len - q2 - 4, 0, 4 * MS); /* 4 bytes never seen */
	cr_assert_eq(d.c.tcp_lost, 1);
	seg(q2, stream_len - q2, 0, 5 * MS);
	cr_assert_eq(d.c.queries, 2, "a lost direction stays lost");
	cr_assert_eq(d.c.tcp_lost, 1);
}

Test(dns, tcp_responses_answer_in_the_other_direction)
{
	qp_dns_tcp(&d, st, NULL, 0, 0, ISN, 1, 0, 0, &ev);
	qp_dns_tcp(&d, st, NULL, 0, 0, ISN, 1, 1, 0, &ev);
	frame(1, 0, "one.example");
	uint32_t q1 = stream_len;
	seg(0, q1, 0, 10 * MS);
	stream_len = 0;
	frame(1, 1, "one.example");
	seg(0, stream_len, 1, 13 * MS);
	cr_assert_eq(d.c.answered, 1);
	cr_assert_eq(d.rt.sum, 3 * MS);
}

Test(dns, tcp_at_most_eight_messages_of_a_segment_are_read)
{
	qp_dns_tcp(&d, st, NULL, 0, 0, ISN, 1, 0, 0, &ev);
	for (uint16_t i = 0; i < 11; i++)
		frame(i, 0, "m.example");
	seg(0, stream_len, 0, 1 * MS);
	cr_assert_eq(d.c.queries, QP_DNS_SEG_MSGS);
	cr_assert_eq(d.c.skipped, 3);
	stream_len = 0;
	frame(99, 0, "after.example");
	qp_dns_tcp(&d, st, stream, stream_len, stream_len, st[0].nxt, 0, 0, 2 * MS, &ev);
	cr_assert_eq(d.c.queries, QP_DNS_SEG_MSGS + 1, "the framing held past the skipped ones");
}

Test(dns, tcp_a_capture_cut_short_loses_the_framing)
{
	qp_dns_tcp(&d, st, NULL, 0, 0, ISN, 1, 0, 0, &ev);
	frame(1, 0, "one.example");
	uint32_t q1 = stream_len;
	frame(2, 0, "two.example");
	/* the segment holds both, the capture kept 10 bytes of the second */
	qp_dns_tcp(&d, st, stream, q1 + 1, stream_len, ISN + 1, 0, 0, 1 * MS, &ev);
	cr_assert_eq(d.c.queries, 1);
	cr_assert_eq(d.c.tcp_lost, 1, "the second length was not captured whole");
}

Test(dns, ports_lists)
{
	uint16_t p[QP_DNS_PORTS];
	char why[200];
	cr_assert_eq(qp_dns_ports_parse("53,5353", p, why, sizeof(why)), 0);
	cr_assert_eq(p[0], 53);
	cr_assert_eq(p[1], 5353);
	cr_assert_eq(p[2], 0);
	cr_assert(qp_dns_port(p, 1234, 5353));
	cr_assert(!qp_dns_port(p, 1234, 80));
	cr_assert_eq(qp_dns_ports_parse("1,2,3,4,5,6,7,8", p, why, sizeof(why)), 0);
	cr_assert_eq(qp_dns_ports_parse("1,2,3,4,5,6,7,8,9", p, why, sizeof(why)), -1);
	cr_assert_str_eq(why, "'1,2,3,4,5,6,7,8,9' names more than 8 ports; expected "
			      "PORT[,PORT...]: 1 to 8 ports from 1 to 65535");
	const char *bad[] = {"", "0", "65536", "53,", ",53", "53 ", "-1", "5x", "53,,54"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(qp_dns_ports_parse(bad[i], p, why, sizeof(why)), -1, "'%s'", bad[i]);
	cr_assert_str_eq(why, "'53,,54' is not a port list; expected PORT[,PORT...]: 1 to 8 ports "
			      "from 1 to 65535");
	cr_assert_eq(p[0], 1, "a refused list leaves the ports as they were");
}

Test(dns, tcp_a_start_gathered_beyond_its_room_is_taken_as_broken)
{
	qp_dns_tcp(&d, st, NULL, 0, 0, ISN, 1, 0, 0, &ev);
	/* a question of 120 bytes: the 96 gathered cannot hold it */
	frame(1, 0, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
		    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.example");
	uint32_t q1 = stream_len;
	frame(2, 0, "short.example");
	seg(0, 20, 0, 1 * MS);
	seg(20, 50, 0, 2 * MS);
	seg(70, stream_len - 70, 0, 3 * MS);
	cr_assert_eq(d.c.malformed, 1);
	cr_assert_eq(d.c.queries, 1, "the next message is read: the framing held");
	cr_assert_eq(d.out[0].ns, 3 * MS);
	cr_assert(q1 > 120);
}

Test(dns, a_flows_first_response_times_are_kept_exactly)
{
	static const uint64_t rt[] = {30 * MS, 10 * MS, 20 * MS, 3000000123ULL};
	for (uint16_t i = 0; i < 4; i++) {
		udp(i, 0, "k.example", 0, 10000 * MS * (i + 1));
		udp(i, 1, "k.example", 1, 10000 * MS * (i + 1) + rt[i]);
	}
	uint64_t v;
	cr_assert_eq(qp_dns_kept_quantile(&d, 0.50, &v), 0);
	cr_assert_eq(v, 20 * MS, "the 2nd of 4 by nearest rank");
	cr_assert_eq(qp_dns_kept_quantile(&d, 0.99, &v), 0);
	cr_assert_eq(v, 3000000000ULL, "above 2.1 s kept to the microsecond");
	for (uint16_t i = 4; i < 9; i++) {
		udp(i, 0, "k.example", 0, 10000 * MS * (i + 1));
		udp(i, 1, "k.example", 1, 10000 * MS * (i + 1) + 1 * MS);
	}
	cr_assert_eq(d.rt.n, 9);
	cr_assert_eq(qp_dns_kept_quantile(&d, 0.50, &v), -1, "9 samples: a distribution's job");
}
