/*
 * MPEG-2 transport stream tests: what makes a payload a stream, continuity
 * counters (a loss, the wrap, a duplicate allowed once, a third copy,
 * packets without a payload, the discontinuity indicator, the null PID),
 * sync bytes lost and found, tails, PCR intervals, RTP's payload, a record
 * restarting, and hostile datagrams (garbage, a PID storm, 0x47 bytes
 * everywhere) counted, bounded and survived.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "qp_ts_dp.h"

#define MS 1000000ULL

static struct qp_ts s;
static struct qp_ts_event ev;
static uint8_t d[65536];

static void setup(void)
{
	qp_ts_init(&s, 0);
}

TestSuite(ts, .init = setup);

/* A packet at p: its PID, counter, adaptation field control; a PCR or
 * flags (di: the discontinuity indicator) in an adaptation field when afc
 * has one. */
static void pkt(uint8_t *p, uint16_t pid, unsigned int cc, unsigned int afc, int pcr, int di)
{
	memset(p, 0xff, QP_TS_PKT);
	p[0] = QP_TS_SYNC;
	p[1] = (uint8_t)(pid >> 8);
	p[2] = (uint8_t)pid;
	p[3] = (uint8_t)(afc << 4 | (cc & 0x0f));
	if (afc & 2) {
		p[4] = afc == 2 ? 183 : 7;
		p[5] = (uint8_t)((pcr ? 0x10 : 0) | (di ? 0x80 : 0));
	}
}

/* One datagram of n packets of PID pid with counters cc[0..n). */
static void dgram(uint16_t pid, const unsigned int *cc, unsigned int n, uint64_t ts)
{
	for (unsigned int i = 0; i < n; i++)
		pkt(d + i * QP_TS_PKT, pid, cc[i], 1, 0, 0);
	qp_ts_update(&s, d, n * QP_TS_PKT, n * QP_TS_PKT, ts, &ev);
}

static const struct qp_ts_pid *pid_rec(uint16_t pid)
{
	for (unsigned int i = 0; i < s.npids; i++)
		if (s.pid[i].pid == pid)
			return &s.pid[i];
	return NULL;
}

Test(ts, a_stream_is_whole_packets_each_with_the_sync_byte)
{
	pkt(d, 0x100, 0, 1, 0, 0);
	pkt(d + QP_TS_PKT, 0x100, 1, 1, 0, 0);
	cr_expect_eq(qp_ts_detect(d, 188, 188), 1);
	cr_expect_eq(qp_ts_detect(d, 376, 376), 1);
	cr_expect_eq(qp_ts_detect(d, 100, 376), 1, "a capture cut after the first sync byte");
	cr_expect_eq(qp_ts_detect(d, 187, 187), 0, "not a whole packet");
	cr_expect_eq(qp_ts_detect(d, 376, 377), 0);
	cr_expect_eq(qp_ts_detect(d, 0, 188), 0);
	d[QP_TS_PKT] = 0x48;
	cr_expect_eq(qp_ts_detect(d, 376, 376), 0, "the second packet's sync byte");
	cr_expect_eq(qp_ts_detect(d, 188, 376), 1, "a second packet not captured is not looked at");
}

Test(ts, a_gap_in_the_counter_is_an_error_and_its_skips_the_packets_lost)
{
	dgram(0x100, (unsigned int[]){3, 4, 5, 9, 10, 11, 12}, 7, MS);
	cr_expect_eq(ev.c.packets, 7);
	cr_expect_eq(ev.c.cc_errors, 1);
	cr_expect_eq(ev.c.lost, 3);
	dgram(0x100, (unsigned int[]){13, 14, 15, 0, 1, 3, 4}, 7, 2 * MS);
	cr_expect_eq(ev.c.cc_errors, 1, "15 -> 0 wraps; 1 -> 3 skips one");
	cr_expect_eq(ev.c.lost, 1);
	/* the next datagram's first packet against the last one's */
	dgram(0x100, (unsigned int[]){4 + 15}, 1, 3 * MS);
	cr_expect_eq(ev.c.cc_errors, 1);
	cr_expect_eq(ev.c.lost, 14, "3 -> 2: 14 counters skipped");
	const struct qp_ts_pid *r = pid_rec(0x100);
	cr_assert_not_null(r);
	cr_expect_eq(r->packets, 15);
	cr_expect_eq(r->cc_errors, 3);
	cr_expect_eq(r->lost, 18);
	cr_expect_eq(s.c.packets, 15);
	cr_expect_eq(s.c.cc_errors, 3);
	cr_expect_eq(s.c.lost, 18);
}

Test(ts, a_packet_may_come_twice_not_three_times)
{
	dgram(0x44, (unsigned int[]){1, 2, 2, 3, 3, 3, 4}, 7, MS);
	cr_expect_eq(ev.c.duplicates, 2);
	cr_expect_eq(ev.c.cc_errors, 1, "the third 3");
	cr_expect_eq(ev.c.lost, 0);
	dgram(0x44, (unsigned int[]){4, 5}, 2, 2 * MS);
	cr_expect_eq(ev.c.duplicates, 1, "4 twice across datagrams");
	cr_expect_eq(ev.c.cc_errors, 0);
}

Test(ts, packets_without_a_payload_and_null_packets_are_not_checked)
{
	pkt(d, 0x100, 5, 1, 0, 0);
	pkt(d + 188, 0x100, 5, 2, 1, 0);  /* adaptation only: the counter stays */
	pkt(d + 376, 0x100, 12, 2, 0, 0); /* adaptation only, a wrong counter: not checked */
	pkt(d + 564, 0x100, 6, 3, 0, 0);  /* adaptation and payload */
	pkt(d + 752, QP_TS_PID_NULL, 9, 1, 0, 0);
	pkt(d + 940, QP_TS_PID_NULL, 2, 1, 0, 0);
	pkt(d + 1128, 0x100, 0, 0, 0, 0); /* reserved control: no payload */
	qp_ts_update(&s, d, 7 * 188, 7 * 188, MS, &ev);
	cr_expect_eq(ev.c.packets, 7);
	cr_expect_eq(ev.c.null_packets, 2);
	cr_expect_eq(ev.c.cc_errors, 0);
	cr_expect_eq(s.npids, 1, "the null PID has no record");
	cr_expect_eq(pid_rec(0x100)->packets, 5);
}

Test(ts, the_discontinuity_indicator_starts_the_count_afresh)
{
	dgram(0x100, (unsigned int[]){1, 2}, 2, MS);
	pkt(d, 0x100, 9, 3, 0, 1);
	pkt(d + 188, 0x100, 10, 1, 0, 0);
	qp_ts_update(&s, d, 376, 376, 2 * MS, &ev);
	cr_expect_eq(ev.c.cc_errors, 0);
	cr_expect_eq(ev.c.discontinuities, 1);
}

Test(ts, a_lost_sync_byte_is_found_again_and_its_garbage_counted)
{
	for (unsigned int i = 0; i < 3; i++)
		pkt(d + i * 188, 0x100, i, 1, 0, 0);
	/* 10 bytes of garbage (a 0x47 among them) before the third packet */
	memmove(d + 386, d + 376, 188);
	memset(d + 376, 0, 10);
	d[380] = QP_TS_SYNC;
	qp_ts_update(&s, d, 574, 574, MS, &ev);
	cr_expect_eq(ev.c.packets, 3);
	cr_expect_eq(ev.c.sync_errors, 1);
	cr_expect_eq(ev.c.sync_skipped_bytes, 10);
	cr_expect_eq(ev.c.cc_errors, 0);
	/* garbage before the first packet; a datagram of garbage alone */
	memmove(d + 5, d, 188);
	memset(d, 0x11, 5);
	d[5 + 3] = 3;
	qp_ts_update(&s, d, 193, 193, 2 * MS, &ev);
	cr_expect_eq(ev.c.sync_errors, 1);
	cr_expect_eq(ev.c.sync_skipped_bytes, 5);
	cr_expect_eq(ev.c.packets, 1);
	memset(d, 0x47, 100);
	qp_ts_update(&s, d, 100, 100, 3 * MS, &ev);
	cr_expect_eq(ev.c.packets, 0);
	cr_expect_eq(ev.c.partial, 1, "100 bytes from a sync byte: a tail");
	memset(d, 0x12, 1000);
	qp_ts_update(&s, d, 1000, 1000, 4 * MS, &ev);
	cr_expect_eq(ev.c.sync_errors, 1);
	cr_expect_eq(ev.c.sync_skipped_bytes, 1000);
}

Test(ts, a_short_tail_is_partial_and_a_capture_cut_is_not)
{
	pkt(d, 0x100, 0, 1, 0, 0);
	pkt(d + 188, 0x100, 1, 1, 0, 0);
	qp_ts_update(&s, d, 188 + 187, 188 + 187, MS, &ev);
	cr_expect_eq(ev.c.packets, 1);
	cr_expect_eq(ev.c.partial, 1);
	/* 376 bytes on the wire, 190 captured: one packet, the next cut by the capture */
	pkt(d, 0x100, 2, 1, 0, 0);
	pkt(d + 188, 0x100, 3, 1, 0, 0);
	qp_ts_update(&s, d, 190, 376, 2 * MS, &ev);
	cr_expect_eq(ev.c.packets, 1);
	cr_expect_eq(ev.c.partial, 0);
	cr_expect_eq(ev.c.sync_errors, 0);
	qp_ts_update(&s, d, 200, 376, 3 * MS, &ev);
	cr_expect_eq(ev.c.packets, 2, "a header captured: counted, its counter read");
	cr_expect_eq(ev.c.duplicates, 1, "counter 2 again");
}

Test(ts, pcr_intervals_by_arrival_and_the_late_ones)
{
	uint64_t at[] = {10 * MS, 50 * MS, 70 * MS, 170 * MS};
	for (unsigned int i = 0; i < 4; i++) {
		pkt(d, 0x100, i, 3, 1, 0);
		pkt(d + 188, 0x101, i, 1, 0, 0);
		qp_ts_update(&s, d, 376, 376, at[i], &ev);
	}
	cr_expect_eq(s.c.pcr_repetition_errors, 1, "100 ms; 40 ms is not over 40");
	const struct qp_ts_pid *r = pid_rec(0x100);
	cr_expect_eq(r->pcr_n, 3);
	cr_expect_eq(r->pcr_iat_sum, 160 * MS);
	cr_expect_eq(r->pcr_iat_max, 100 * MS);
	cr_expect_eq(r->pcr_repetition_errors, 1);
	cr_expect_eq(pid_rec(0x101)->pcr_n, 0);
	/* a PCR flag in a field too short for one */
	pkt(d, 0x100, 4, 3, 1, 0);
	d[4] = 1;
	qp_ts_update(&s, d, 188, 188, 300 * MS, &ev);
	cr_expect_eq(r->pcr_n, 3);
}

Test(ts, a_restart_zeroes_counts_and_keeps_the_counters)
{
	dgram(0x100, (unsigned int[]){1, 3}, 2, MS);
	qp_ts_restart(&s);
	cr_expect_eq(s.c.packets, 0);
	cr_expect_eq(s.c.cc_errors, 0);
	cr_expect_eq(pid_rec(0x100)->cc_errors, 0);
	dgram(0x100, (unsigned int[]){4}, 1, 2 * MS);
	cr_expect_eq(ev.c.cc_errors, 0, "3 -> 4 across the restart");
	qp_ts_init(&s, 1);
	cr_expect_eq(s.npids, 0);
	cr_expect_eq(s.over_rtp, 1);
}

Test(ts, pids_beyond_the_itemised_are_counted_not_checked)
{
	for (unsigned int i = 0; i < 300; i++)
		pkt(d + i * 188, (uint16_t)(i % 150), i / 150, 1, 0, 0);
	qp_ts_update(&s, d, 300 * 188, 300 * 188, MS, &ev);
	cr_expect_eq(s.npids, QP_TS_PIDS);
	cr_expect_eq(ev.c.packets, 300);
	cr_expect_eq(ev.c.pids_over, 2 * (150 - QP_TS_PIDS));
	cr_expect_eq(ev.c.cc_errors, 0);
}

Test(ts, sync_bytes_everywhere_and_the_largest_datagram)
{
	memset(d, QP_TS_SYNC, sizeof(d));
	qp_ts_update(&s, d, 65507, 65507, MS, &ev);
	cr_expect_eq(ev.c.packets, 348, "65,507 / 188");
	cr_expect_eq(ev.c.partial, 1);
	cr_expect_eq(ev.c.transport_errors, 0);
	cr_expect_eq(s.npids, 1, "PID 0x0747");
	cr_expect_eq(pid_rec(0x0747)->packets, 348);
	/* counter 7 each time, no payload flag (0x47: control 00): not checked */
	cr_expect_eq(ev.c.cc_errors, 0);
	d[1] = 0xC7; /* the transport error indicator */
	qp_ts_update(&s, d, 188, 188, 2 * MS, &ev);
	cr_expect_eq(ev.c.transport_errors, 1);
	qp_ts_update(&s, d, 3, 188, 3 * MS, &ev);
	cr_expect_eq(ev.c.packets, 0, "a header cut by the capture");
}

Test(ts, the_stream_in_rtp)
{
	uint8_t r[12 + 8 + 4 + 376 + 3];
	uint32_t w = 0;
	memset(r, 0, sizeof(r));
	r[0] = 0x80;
	r[1] = 33;
	pkt(r + 12, 0x100, 0, 1, 0, 0);
	cr_expect_eq(qp_ts_rtp_payload(r, 200, 200, 0, &w), 12);
	cr_expect_eq(w, 188);
	r[1] = 96;
	cr_expect_eq(qp_ts_rtp_payload(r, 200, 200, 0, &w), 12, "a dynamic type: by its look");
	cr_expect_eq(qp_ts_rtp_payload(r, 201, 201, 0, &w), -1, "not whole packets");
	cr_expect_eq(qp_ts_rtp_payload(r, 201, 201, 1, &w), 12, "a flow known to be one");
	/* two CSRCs and an extension of one word */
	r[0] = 0x80 | 0x10 | 2;
	r[1] = 33;
	r[20 + 2] = 0;
	r[20 + 3] = 1;
	pkt(r + 28, 0x100, 0, 1, 0, 0);
	cr_expect_eq(qp_ts_rtp_payload(r, 28 + 188, 28 + 188, 0, &w), 28);
	cr_expect_eq(w, 188);
	r[20 + 3] = 200; /* an extension past the end */
	cr_expect_eq(qp_ts_rtp_payload(r, 28 + 188, 28 + 188, 0, &w), -1);
	/* padding: 3 bytes, the count in the last */
	r[0] = 0x80 | 0x20;
	pkt(r + 12, 0x100, 0, 1, 0, 0);
	r[12 + 188 + 2] = 3;
	cr_expect_eq(qp_ts_rtp_payload(r, 12 + 188 + 3, 12 + 188 + 3, 0, &w), 12);
	cr_expect_eq(w, 188);
	r[12 + 188 + 2] = 250;
	cr_expect_eq(qp_ts_rtp_payload(r, 12 + 188 + 3, 12 + 188 + 3, 0, &w), -1, "padding past the payload");
	r[0] = 0x40;
	cr_expect_eq(qp_ts_rtp_payload(r, 200, 200, 1, &w), -1, "not RTP version 2");
	cr_expect_eq(qp_ts_rtp_payload(r, 11, 11, 1, &w), -1);
}
