/*
 * TCP analysis tests: each classification with exact counts, RTT samples to
 * the nanosecond by both methods, Karn's rule, sequence wrap-around and
 * hostile jumps.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "qp_tcp_dp.h"

#define MS 1000000ULL
#define US 1000ULL
#define OOO (3 * MS)

static struct qp_tcp_dir d[2];
static struct qp_tcp_event ev;

static void setup(void)
{
	memset(d, 0, sizeof(d));
}

TestSuite(tcp, .init = setup);

/* A segment: flags, seq, ack, payload length, window; no timestamps. */
static void seg(unsigned int dir, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len,
		uint16_t win, uint64_t ts)
{
	struct qp_pkt p;
	memset(&p, 0, sizeof(p));
	p.tcp_flags = flags;
	p.tcp_seq = seq;
	p.tcp_ack = ack;
	p.l4_payload_len = len;
	p.tcp_win = win;
	qp_tcp_update(d, &p, dir, ts, OOO, &ev);
}

static void seg_ts(unsigned int dir, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len,
		   uint32_t tsval, uint32_t tsecr, uint64_t ts)
{
	struct qp_pkt p;
	memset(&p, 0, sizeof(p));
	p.tcp_flags = flags;
	p.tcp_seq = seq;
	p.tcp_ack = ack;
	p.l4_payload_len = len;
	p.tcp_win = 500;
	p.tcp_has_ts = 1;
	p.tcp_tsval = tsval;
	p.tcp_tsecr = tsecr;
	qp_tcp_update(d, &p, dir, ts, OOO, &ev);
}

#define A QP_TCP_ACK
#define PA (QP_TCP_ACK | QP_TCP_PSH)

Test(tcp, ack_of_a_segment_end_is_an_rtt_sample)
{
	seg(0, PA, 1, 1, 100, 500, 0);
	cr_assert_eq(ev.rtt_dir, -1);
	seg(1, A, 1, 101, 0, 500, 5 * MS + 17);
	cr_assert_eq(ev.rtt_dir, 0, "the sample belongs to the answered direction");
	cr_assert_eq(ev.rtt_ns, 5 * MS + 17);
	cr_assert_eq(d[0].rtt.n, 1);
	cr_assert_eq(d[0].rtt.min, 5 * MS + 17);
	cr_assert_eq(d[0].retrans + d[0].ooo + d[1].dup_acks, 0);
}

Test(tcp, cumulative_ack_samples_the_segment_it_ends)
{
	seg(0, PA, 1, 1, 100, 500, 0);
	seg(0, PA, 101, 1, 100, 500, 1 * MS);
	seg(1, A, 1, 201, 0, 500, 9 * MS);
	cr_assert_eq(d[0].rtt.n, 1);
	cr_assert_eq(d[0].rtt.max, 8 * MS);
	cr_assert_eq(d[0].nout, 0, "acknowledged segments are forgotten");
}

Test(tcp, an_ack_inside_a_segment_gives_no_sample)
{
	seg(0, PA, 1, 1, 100, 500, 0);
	seg(1, A, 1, 51, 0, 500, 4 * MS);
	cr_assert_eq(ev.rtt_dir, -1);
	seg(1, A, 1, 101, 0, 500, 6 * MS);
	cr_assert_eq(ev.rtt_ns, 6 * MS);
}

Test(tcp, retransmission_and_karn)
{
	seg(0, PA, 1, 1, 100, 500, 0);
	seg(0, PA, 101, 1, 100, 500, 1 * MS);
	seg(0, PA, 1, 1, 100, 500, 300 * MS); /* the first segment again, much later */
	cr_assert_eq(ev.retrans, 1);
	cr_assert_eq(d[0].retrans, 1);
	cr_assert_eq(d[0].ooo, 0);
	seg(1, A, 1, 101, 0, 500, 310 * MS);
	cr_assert_eq(ev.rtt_dir, -1, "no sample from retransmitted data (Karn)");
	seg(1, A, 1, 201, 0, 500, 311 * MS);
	cr_assert_eq(ev.rtt_ns, 310 * MS, "the segment that was not retransmitted still counts");
}

Test(tcp, out_of_order_within_the_window)
{
	seg(0, PA, 101, 1, 100, 500, 0);   /* arrives first */
	seg(0, PA, 1, 1, 100, 500, 1 * MS); /* the earlier one, 1 ms later */
	cr_assert_eq(d[0].ooo, 1);
	cr_assert_eq(d[0].retrans, 0);
	seg(0, PA, 1, 1, 100, 500, 5 * MS); /* again, past the window: a retransmission */
	cr_assert_eq(d[0].retrans, 1);
}

Test(tcp, an_out_of_order_segment_waits_for_its_ack)
{
	seg(0, PA, 101, 1, 100, 500, 0);      /* arrives first */
	seg(0, PA, 1, 1, 100, 500, 1 * MS);   /* the earlier one, reordered */
	cr_assert_eq(d[0].ooo, 1);
	/* tshark on the same segments: ack_rtt 0.010 s, then 0.021 s */
	seg(1, A, 1, 101, 0, 700, 11 * MS);   /* acknowledges the reordered one */
	cr_assert_eq(ev.rtt_dir, 0);
	cr_assert_eq(ev.rtt_ns, 10 * MS);
	seg(1, A, 1, 201, 0, 700, 21 * MS);   /* and the first */
	cr_assert_eq(ev.rtt_ns, 21 * MS);
	cr_assert_eq(d[0].rtt.n, 2);
	cr_assert_eq(d[0].rtt.min, 10 * MS);
	cr_assert_eq(d[0].rtt.max, 21 * MS);
}

Test(tcp, a_repeat_of_the_latest_segment_is_a_retransmission_at_once)
{
	seg(0, PA, 1, 1, 100, 500, 0);
	seg(0, PA, 1, 1, 100, 500, 1 * MS);
	cr_assert_eq(d[0].retrans, 1, "ends where the latest did: not out-of-order");
	cr_assert_eq(d[0].ooo, 0);
}

Test(tcp, keepalive_is_neither)
{
	seg(0, PA, 1, 1, 100, 500, 0);
	seg(0, A, 100, 1, 1, 500, 60000 * MS);
	seg(0, A, 100, 1, 0, 500, 61000 * MS);
	cr_assert_eq(d[0].retrans, 0);
	cr_assert_eq(d[0].ooo, 0);
}

Test(tcp, data_already_acknowledged_is_a_retransmission_however_soon)
{
	/* two segments, the ACK of both, then the first again 0.2 ms later:
	 * within the out-of-order window, but acknowledged (tshark: "spurious
	 * retransmission" and "retransmission") */
	seg(0, PA, 1, 1, 100, 500, 0);
	seg(0, PA, 101, 1, 100, 500, 100 * US);
	seg(1, A, 1, 201, 0, 700, 10 * MS);
	seg(0, PA, 1, 1, 100, 500, 10 * MS + 200 * US);
	cr_assert_eq(d[0].retrans, 1);
	cr_assert_eq(d[0].ooo, 0);
	/* one not acknowledged yet, as soon: out of order */
	seg(0, PA, 201, 1, 100, 500, 11 * MS);
	seg(0, PA, 301, 1, 100, 500, 11 * MS + 100 * US);
	seg(0, PA, 201, 1, 50, 500, 11 * MS + 200 * US);
	cr_assert_eq(d[0].ooo, 1);
	cr_assert_eq(d[0].retrans, 1);
}

Test(tcp, what_two_duplicate_acks_asked_for_is_a_fast_retransmission)
{
	/* nDPI's teams.pcap, one flow: the server's segments from 2881 arrive
	 * first, the client acknowledges 1 twice more, then 1-1441 comes (tshark:
	 * fast retransmission) and 1441-2881 (out-of-order) */
	seg(0, PA, 1, 1, 246, 4105, 0);
	seg(1, A, 1, 247, 0, 1029, 100 * US);
	seg(0, A, 247, 1, 0, 4105, 200 * US);
	seg(1, PA, 2881, 247, 1440, 1029, 32 * MS);
	seg(1, PA, 4321, 247, 96, 1029, 32 * MS + 5 * US);
	seg(0, A, 247, 1, 0, 4105, 32 * MS + 100 * US);
	seg(0, A, 247, 1, 0, 4105, 32 * MS + 104 * US);
	cr_assert_eq(d[0].dup_acks, 3, "the ACK after the client's data, then two");
	seg(1, PA, 1, 247, 1440, 1029, 32 * MS + 220 * US);
	cr_assert_eq(d[1].retrans, 1);
	cr_assert_eq(d[1].ooo, 0);
	seg(0, A, 247, 1441, 0, 4060, 32 * MS + 260 * US);
	seg(1, PA, 1441, 247, 1440, 1029, 32 * MS + 460 * US);
	cr_assert_eq(d[1].ooo, 1, "the ACK moved on: no more a fast retransmission");
	cr_assert_eq(d[1].retrans, 1);
}

Test(tcp, the_ack_of_a_keepalive_is_an_rtt_sample)
{
	/* as tshark's ack_rtt takes it (h323.pcap of nDPI's tests: 0.198 ms) */
	seg(0, PA, 1, 1, 126, 500, 0);
	seg(1, A, 1, 127, 0, 700, 1 * MS);
	seg(0, A, 126, 1, 1, 500, 15000 * MS);
	seg(1, A, 1, 127, 0, 700, 15000 * MS + 198 * US);
	cr_assert_eq(ev.rtt_dir, 0);
	cr_assert_eq(ev.rtt_ns, 198 * US);
	cr_assert_eq(d[0].rtt.n, 2);
	cr_assert_eq(d[0].retrans, 0);
}

Test(tcp, one_ack_is_one_sample)
{
	/* data ending at 127 not yet acknowledged, then a keep-alive whose byte
	 * ends there too: the ACK of 127 is one sample, the keep-alive's (the
	 * latest), in the flow as in the event the intervals count */
	seg(0, PA, 1, 1, 126, 500, 0);
	seg(0, A, 126, 1, 1, 500, 10 * MS);
	seg(1, A, 1, 127, 0, 700, 12 * MS);
	cr_assert_eq(d[0].rtt.n, 1);
	cr_assert_eq(ev.rtt_ns, 2 * MS);
	cr_assert_eq(d[0].rtt.max, 2 * MS);
}

Test(tcp, the_acks_of_keepalives_are_not_duplicate_acks)
{
	/* data both ways, then the client's keep-alives (one byte and none, one
	 * before its next sequence number), each answered by the server's ACK;
	 * tshark calls the answers "ACK to a TCP keep-alive segment", and of the
	 * whole sequence only the last ACK a duplicate (#1) */
	seg(0, PA, 1, 1, 100, 500, 0);
	seg(1, PA, 1, 101, 50, 700, 1 * MS);
	seg(0, A, 101, 51, 0, 500, 2 * MS);
	for (int k = 0; k < 3; k++) {
		seg(0, A, 100, 51, k == 1 ? 0 : 1, 500, (uint64_t)(k + 1) * 45000 * MS);
		seg(1, A, 51, 101, 0, 700, (uint64_t)(k + 1) * 45000 * MS + 1 * MS);
	}
	cr_assert_eq(d[1].dup_acks, 0, "%u", d[1].dup_acks);
	cr_assert_eq(d[0].dup_acks, 0);
	cr_assert_eq(d[0].retrans + d[0].ooo, 0);
	/* the same ACK again, the keep-alive not repeated: still its answer for
	 * tshark (the other side's latest segment was the keep-alive) */
	seg(1, A, 51, 101, 0, 700, 140000 * MS);
	cr_assert_eq(d[1].dup_acks, 0);
	/* after a data segment from the client, a repeated ACK is a duplicate again */
	seg(0, PA, 101, 51, 10, 500, 141000 * MS);
	seg(1, A, 51, 111, 0, 700, 141001 * MS);
	seg(1, A, 51, 111, 0, 700, 141002 * MS);
	cr_assert_eq(d[1].dup_acks, 1);
}

Test(tcp, duplicate_acks)
{
	seg(1, A, 1, 1, 0, 700, 0);
	seg(1, A, 1, 1, 0, 700, 1 * MS);
	seg(1, A, 1, 1, 0, 700, 2 * MS);
	/* no sequence space sent yet: the next sequence number is the first
	 * ACK's (tshark on the same three: Duplicate ACK #1 and #2) */
	cr_assert_eq(d[1].dup_acks, 2);
	memset(d, 0, sizeof(d));
	seg(1, PA, 1, 1, 10, 700, 0);
	seg(1, A, 11, 1, 0, 700, 1 * MS);
	seg(1, A, 11, 1, 0, 700, 2 * MS);
	seg(1, A, 11, 1, 0, 700, 3 * MS);
	cr_assert_eq(d[1].dup_acks, 3);
	seg(1, A, 11, 1, 0, 800, 4 * MS); /* a window update is not a duplicate */
	cr_assert_eq(d[1].dup_acks, 3);
	seg(1, A | QP_TCP_FIN, 11, 1, 0, 800, 5 * MS);
	cr_assert_eq(d[1].dup_acks, 3);
}

Test(tcp, zero_window_and_resets)
{
	seg(1, PA, 1, 1, 10, 700, 0);
	seg(1, A, 11, 1, 0, 0, 1 * MS);
	seg(1, A, 11, 1, 0, 0, 2 * MS);
	cr_assert_eq(d[1].zero_win, 2);
	cr_assert_eq(d[1].dup_acks, 0, "a zero window is not a duplicate ACK");
	seg(1, QP_TCP_RST, 11, 0, 0, 0, 3 * MS);
	cr_assert_eq(d[1].resets, 1);
	cr_assert_eq(d[1].zero_win, 2, "a RST with window 0 is not a zero-window event");
}

Test(tcp, timestamps_give_one_sample_per_new_tsval)
{
	seg_ts(0, PA, 1, 1, 100, 1000, 0, 0);
	seg_ts(1, A, 1, 101, 0, 5000, 1000, 7 * MS);
	cr_assert_eq(ev.rtt_dir, 0);
	cr_assert_eq(ev.rtt_ns, 7 * MS);
	/* the other way: 5000 is echoed 2 ms later */
	seg_ts(0, PA, 101, 1, 100, 1000, 5000, 9 * MS);
	cr_assert_eq(ev.rtt_dir, 1);
	cr_assert_eq(ev.rtt_ns, 2 * MS);
	/* same TSval 1000 again: no new wait; the same echo again: no sample */
	seg_ts(1, A, 1, 201, 0, 5000, 1000, 10 * MS);
	cr_assert_eq(ev.rtt_dir, -1);
	/* a new TSval, repeated 1 ms later, is timed from its first sight */
	seg_ts(0, PA, 201, 1, 100, 1001, 5000, 20 * MS);
	seg_ts(0, PA, 301, 1, 100, 1001, 5000, 21 * MS);
	seg_ts(1, A, 1, 401, 0, 5001, 1001, 30 * MS);
	cr_assert_eq(ev.rtt_ns, 10 * MS);
	cr_assert_eq(d[0].rtt.n, 2);
	cr_assert_eq(d[1].rtt.n, 1);
}

/*
 * A TSval waits for its echo even when newer ones follow (issue 15 item 4):
 * a receiver that acknowledges every other segment echoes the older TSval,
 * and that long wait is the sample, not the newer TSval's short one.
 */
Test(tcp, every_waiting_tsval_is_answered_by_its_echo)
{
	seg_ts(0, PA, 1, 1, 100, 1000, 0, 0);
	seg_ts(0, PA, 101, 1, 100, 1001, 0, 30 * MS);
	seg_ts(0, PA, 201, 1, 100, 1002, 0, 60 * MS);
	/* the echo of 1000, 88 ms after it: what one TSval kept would lose */
	seg_ts(1, A, 1, 201, 0, 7000, 1000, 88 * MS);
	cr_assert_eq(ev.rtt_dir, 0);
	cr_assert_eq(ev.rtt_ns, 88 * MS);
	/* 1002 echoed: 1001 before it will not be any more */
	seg_ts(1, A, 1, 301, 0, 7001, 1002, 95 * MS);
	cr_assert_eq(ev.rtt_ns, 35 * MS);
	cr_assert_eq(d[0].ntsv, 0);
	seg_ts(1, A, 1, 301, 0, 7002, 1001, 99 * MS);
	cr_assert_eq(ev.rtt_dir, -1, "an older echo after a newer one: no sample");
	cr_assert_eq(d[0].rtt.n, 2);
	cr_assert_eq(d[0].rtt.max, 88 * MS);
	cr_assert_eq(d[0].tsv_over, 0);
}

/* At most QP_TCP_TSV wait; a newer one pushes the oldest out, counted. */
Test(tcp, tsvals_beyond_the_set_are_counted)
{
	for (uint32_t i = 0; i < QP_TCP_TSV + 2; i++)
		seg_ts(0, PA, 1 + 100 * i, 1, 100, 1000 + i, 0, i * MS);
	cr_assert_eq(d[0].ntsv, QP_TCP_TSV);
	cr_assert_eq(d[0].tsv_over, 2);
	seg_ts(1, A, 1, 101, 0, 7000, 1000, 50 * MS);
	cr_assert_eq(ev.rtt_dir, -1, "1000 was pushed out: its echo gives nothing");
	seg_ts(1, A, 1, 301, 0, 7000, 1002, 52 * MS);
	cr_assert_eq(ev.rtt_ns, 50 * MS, "1002, sent at 2 ms, still waited");
}

Test(tcp, sequence_numbers_wrap)
{
	uint32_t s = 0xffffff00u;
	seg(0, PA, s, 1, 0x200, 500, 0);
	seg(0, PA, s + 0x200, 1, 0x100, 500, 1 * MS); /* seq 0x100, after the wrap */
	cr_assert_eq(d[0].retrans + d[0].ooo, 0, "in order across the wrap");
	seg(1, A, 1, s + 0x300, 0, 500, 4 * MS);
	cr_assert_eq(ev.rtt_ns, 3 * MS);
	seg(0, PA, s, 1, 0x200, 500, 100 * MS);
	cr_assert_eq(d[0].retrans, 1, "before the wrap point is still earlier");
}

Test(tcp, a_jump_of_two_to_the_31_is_measured_sanely)
{
	seg(0, PA, 1000, 1, 100, 500, 0);
	seg(0, PA, 1000 + 0x80000000u, 1, 100, 500, 1 * MS);
	seg(0, PA, 1000, 1, 100, 500, 2 * MS);
	cr_assert_leq(d[0].retrans + d[0].ooo, 2);
	seg(1, A, 1, 1100, 0, 500, 3 * MS);
	cr_assert(ev.rtt_dir == -1 || ev.rtt_ns <= 3 * MS, "never a sample longer than the trace");
}

Test(tcp, timestamps_going_backwards_give_no_negative_sample)
{
	seg(0, PA, 1, 1, 100, 500, 10 * MS);
	seg(1, A, 1, 101, 0, 500, 5 * MS);
	cr_assert_eq(ev.rtt_dir, -1);
	cr_assert_eq(d[0].rtt.n, 0);
}
