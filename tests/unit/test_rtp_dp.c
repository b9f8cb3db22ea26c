/*
 * RTP tests: the heuristic, loss with sequence and timestamp wrap-around,
 * duplicates, reordering, a restarted sender, jitter against a direct RFC
 * 3550 A.8 computation, the E-model, and garbage that looks like RTP.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qp_rtp_dp.h"

#define MS 1000000ULL

static struct qp_rtp_dir r;
static const struct qp_rtp_cfg cfg = {.dynamic_clock_hz = 8000};

static void setup(void)
{
	memset(&r, 0, sizeof(r));
}

TestSuite(rtp, .init = setup);

static void pkt(uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc, uint64_t arrival, int ports)
{
	uint8_t p[172] = {0x80, pt};
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	for (int i = 0; i < 4; i++) {
		p[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		p[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	}
	struct qp_rtp_event ev;
	qp_rtp_update(&r, p, sizeof(p), ports, arrival, &cfg, &ev);
}

Test(rtp, heuristic_needs_four_consecutive_packets)
{
	for (int i = 0; i < 3; i++)
		pkt(0, (uint16_t)(100 + i), (uint32_t)i * 160, 0xabc, (uint64_t)i * 20 * MS, 0);
	cr_assert_eq(r.state, 1, "a candidate after 3");
	pkt(0, 103, 3 * 160, 0xabc, 60 * MS, 0);
	cr_assert_eq(r.state, 2);
	cr_assert_eq(r.received, 4);
	cr_assert_eq(qp_rtp_expected(&r), 4);
	cr_assert_eq(r.clock_hz, 8000);
}

Test(rtp, port_range_skips_probation)
{
	pkt(96, 7, 0, 1, 0, 1);
	cr_assert_eq(r.state, 2);
	cr_assert_eq(r.clock_hz, 8000, "dynamic payload type: configured clock");
}

Test(rtp, probation_across_the_sequence_wrap)
{
	/* a perfect stream of 10 packets from 65533: 65533, 65534, 65535, 0 .. 6 */
	for (int i = 0; i < 10; i++)
		pkt(0, (uint16_t)(65533 + i), (uint32_t)i * 160, 0xabc, (uint64_t)i * 20 * MS, 0);
	cr_assert_eq(r.state, 2);
	cr_assert_eq(r.received, 10);
	cr_assert_eq(qp_rtp_expected(&r), 10, "expected %u", qp_rtp_expected(&r));
	cr_assert_eq(qp_rtp_lost(&r), 0);
	/* the same when the fourth packet confirms the stream past the wrap */
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 4; i++)
		pkt(0, (uint16_t)(65534 + i), (uint32_t)i * 160, 0xabc, (uint64_t)i * 20 * MS, 0);
	cr_assert_eq(r.state, 2);
	cr_assert_eq(qp_rtp_expected(&r), 4, "expected %u", qp_rtp_expected(&r));
	pkt(0, 2, 4 * 160, 0xabc, 80 * MS, 0);
	cr_assert_eq(qp_rtp_expected(&r), 5);
	cr_assert_eq(qp_rtp_lost(&r), 0);
}

Test(rtp, rtcp_multiplexed_on_the_rtp_port_is_not_rtp)
{
	/* second byte 192-223 (RFC 5761): SR 200, RR 201, RTPFB 205, PSFB 206, XR 207,
	 * and the edges; each four times in a row, as a stream would be */
	static const uint8_t types[] = {192, 200, 201, 205, 206, 207, 223};
	for (size_t k = 0; k < sizeof(types); k++) {
		memset(&r, 0, sizeof(r));
		for (int i = 0; i < 6; i++)
			pkt(types[k], (uint16_t)(100 + i), (uint32_t)i * 160, 0xabc,
			    (uint64_t)i * 20 * MS, 1);
		cr_assert_eq(r.state, 0, "second byte %u is RTCP", types[k]);
	}
	/* 191 and 224 are RTP: payload types 63 and 96 with the marker bit */
	static const uint8_t rtp[] = {191, 224};
	for (size_t k = 0; k < sizeof(rtp); k++) {
		memset(&r, 0, sizeof(r));
		pkt(rtp[k], 100, 0, 0xabc, 0, 1);
		cr_assert_eq(r.state, 2, "second byte %u is RTP", rtp[k]);
	}
}

/* An audio stream (PT 0, 20 ms) with a telephone event (PT 101, frozen timestamp) in it. */
Test(rtp, telephone_events_share_the_sequence_not_the_jitter)
{
	uint16_t seq = 1000;
	uint32_t ts = 0;
	for (int i = 0; i < 50; i++, seq++, ts += 160)
		pkt(0, seq, ts, 0xabc, (uint64_t)i * 20 * MS, 0);
	double j = r.jitter;
	cr_assert_lt(j, 1e-9, "a perfect stream: no jitter");
	/* ten event packets 20 ms apart, one timestamp (RFC 4733 2.2.1), and a
	 * comfort noise packet */
	for (int i = 0; i < 10; i++, seq++)
		pkt(101, seq, ts, 0xabc, (uint64_t)(50 + i) * 20 * MS, 0);
	pkt(13, seq++, ts, 0xabc, 60 * 20 * MS, 0);
	ts += 11 * 160;
	for (int i = 61; i < 100; i++, seq++, ts += 160)
		pkt(0, seq, ts, 0xabc, (uint64_t)i * 20 * MS, 0);
	cr_assert_eq(r.other_pt, 11);
	cr_assert_eq(r.received, 100);
	cr_assert_eq(qp_rtp_expected(&r), 100);
	cr_assert_lt(r.jitter_max, 1e-9, "the events are out of the estimator (%f)", r.jitter_max);
	cr_assert_eq(r.pt, 0);
	cr_assert_eq(r.ts_jumps, 0);
}

Test(rtp, a_run_of_another_payload_type_is_a_codec_switch)
{
	uint16_t seq = 7;
	for (int i = 0; i < 20; i++, seq++)
		pkt(0, seq, (uint32_t)i * 160, 0xabc, (uint64_t)i * 20 * MS, 0);
	/* G.729 (PT 18, 8 kHz) from here on, its own timestamps */
	for (int i = 0; i < 40; i++, seq++)
		pkt(18, seq, 500000 + (uint32_t)i * 160, 0xabc, (uint64_t)(20 + i) * 20 * MS, 0);
	cr_assert_eq(r.pt, 18, "switched after %d in a row", QP_RTP_PT_SWITCH);
	cr_assert_eq(r.other_pt, QP_RTP_PT_SWITCH);
	cr_assert_eq(r.received, 60);
	cr_assert_lt(r.jitter_max, 1e-9, "%f", r.jitter_max);
}

Test(rtp, a_timestamp_reset_with_continuous_sequence_restarts_the_estimator)
{
	/* 20 ms packets, then the sender's timestamps restart from 0 (a re-INVITE
	 * keeping the SSRC and sequence), then 20 ms packets again with 1 ms of
	 * jitter on one of them */
	uint16_t seq = 300;
	for (int i = 0; i < 50; i++, seq++)
		pkt(0, seq, 8000000 + (uint32_t)i * 160, 0xabc, (uint64_t)i * 20 * MS, 0);
	for (int i = 0; i < 50; i++, seq++)
		pkt(0, seq, (uint32_t)i * 160, 0xabc, (uint64_t)(50 + i) * 20 * MS + (i == 25 ? MS : 0),
		    0);
	cr_assert_eq(r.ts_jumps, 1);
	cr_assert_eq(qp_rtp_lost(&r), 0);
	/* one packet 1 ms late (8 units at 8 kHz): D is 8 for it and for the next,
	 * on time again, so the estimate peaks at 8/16 + (8 - 8/16)/16; never
	 * anywhere near the step (today's 8,000,000 units: 62 s) */
	double peak = 8.0 / 16 + (8 - 8.0 / 16) / 16;
	cr_assert(fabs(r.jitter_max - peak) < 1e-9, "max jitter %f units, %f expected", r.jitter_max,
		  peak);
}

Test(rtp, garbage_is_not_rtp)
{
	struct qp_rtp_event ev;
	uint8_t junk[64];
	for (int i = 0; i < 64; i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	junk[0] = 0x80;
	junk[1] = 72;
	for (int i = 0; i < 10; i++)
		qp_rtp_update(&r, junk, sizeof(junk), 0, (uint64_t)i * MS, &cfg, &ev);
	cr_assert_eq(r.state, 0);
	uint8_t cc[16] = {0x8f, 0}; /* 15 CSRCs announced, 4 bytes there */
	qp_rtp_update(&r, cc, sizeof(cc), 1, 0, &cfg, &ev);
	cr_assert_eq(r.state, 0);
	uint8_t ext[20] = {0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0xff, 0xff};
	qp_rtp_update(&r, ext, sizeof(ext), 1, 0, &cfg, &ev); /* extension longer than the packet */
	cr_assert_eq(r.state, 0);
	qp_rtp_update(&r, NULL, 0, 1, 0, &cfg, &ev);
	qp_rtp_update(&r, cc, 11, 1, 0, &cfg, &ev);
	cr_assert_eq(r.state, 0);
}

/* Reference RFC 3550 A.8, straight from the text, in doubles. */
struct ref {
	double j, sum, max, prev;
	uint64_t first;
	int64_t ts0;
	int n;
};

static void ref_add(struct ref *f, int64_t rtp_ts_unwrapped, uint64_t arrival)
{
	if (f->n == 0) {
		f->first = arrival;
		f->prev = -(double)rtp_ts_unwrapped;
		f->n = 1;
		return;
	}
	double a = (double)(arrival - f->first) * 8000 / 1e9;
	double transit = a - (double)rtp_ts_unwrapped;
	double d = fabs(transit - f->prev);
	f->prev = transit;
	f->j += (d - f->j) / 16;
	f->sum += f->j;
	f->max = f->j > f->max ? f->j : f->max;
	f->n++;
}

Test(rtp, loss_duplicates_reorder_and_jitter_across_both_wraps)
{
	const uint16_t seq0 = 65500;
	const uint32_t ts0 = 0xfffff000u;
	const int N = 300;
	unsigned int seed = 7;
	struct ref ref = {0};
	int order[400], n = 0;
	for (int i = 0; i < N; i++) {
		if (i == 5 || i == 17 || i == 18 || i == 40 || i == 250)
			continue; /* lost */
		if (i == 51) { /* 50 and 51 swap */
			order[n - 1] = 51;
			order[n++] = 50;
			continue;
		}
		order[n++] = i;
		if (i == 30)
			order[n++] = 30; /* duplicated */
	}
	for (int k = 0; k < n; k++) {
		int i = order[k];
		uint64_t send = (uint64_t)i * 20 * MS;
		uint64_t arrival = 1000 * MS + send + (uint64_t)(rand_r(&seed) % 5000) * 1000 + (uint64_t)k;
		pkt(0, (uint16_t)(seq0 + i), ts0 + (uint32_t)i * 160, 0x1234, arrival, 1);
		ref_add(&ref, (int64_t)ts0 + i * 160, arrival);
	}
	cr_assert_eq(r.state, 2);
	cr_assert_eq(qp_rtp_expected(&r), N);
	cr_assert_eq(qp_rtp_lost(&r), 5);
	cr_assert_eq(r.received, N - 5);
	cr_assert_eq(r.dups, 1);
	cr_assert_eq(r.ooo, 1);
	double j = qp_rtp_jitter_ms(&r, r.jitter), jref = ref.j / 8;
	double mean = qp_rtp_jitter_ms(&r, r.jitter_sum / r.jitter_n), mref = ref.sum / (ref.n - 1) / 8;
	double mx = qp_rtp_jitter_ms(&r, r.jitter_max), xref = ref.max / 8;
	cr_assert(fabs(j - jref) <= 0.005 * jref, "last %f vs %f", j, jref);
	cr_assert(fabs(mean - mref) <= 0.005 * mref, "mean %f vs %f", mean, mref);
	cr_assert(fabs(mx - xref) <= 0.005 * xref, "max %f vs %f", mx, xref);
	cr_assert_gt(jref, 0.1, "the seeded jitter is there");
}

Test(rtp, a_restarted_sender_is_not_counted_as_loss)
{
	for (int i = 0; i < 10; i++)
		pkt(8, (uint16_t)(1000 + i), (uint32_t)i * 160, 9, (uint64_t)i * 20 * MS, 1);
	/* the sender restarts at another sequence number: two packets in a row */
	pkt(8, 40000, 5000, 9, 200 * MS, 1);
	pkt(8, 40001, 5160, 9, 220 * MS, 1);
	pkt(8, 40002, 5320, 9, 240 * MS, 1);
	cr_assert_eq(r.jumps, 1);
	cr_assert_eq(r.received, 12, "the first packet after the jump is the probe, not counted");
	cr_assert_eq(qp_rtp_lost(&r), 0);
}

Test(rtp, a_second_ssrc_is_not_mixed_in)
{
	for (int i = 0; i < 6; i++)
		pkt(0, (uint16_t)i, (uint32_t)i * 160, 1, (uint64_t)i * 20 * MS, 0);
	pkt(0, 999, 0, 2, 200 * MS, 0);
	cr_assert_eq(r.ssrc, 1);
	cr_assert_eq(r.received, 6);
	cr_assert_eq(qp_rtp_lost(&r), 0);
}

Test(rtp, e_model_mos)
{
	/* no loss, no jitter, G.711: R = 93.2 - 0.024*20 = 92.72 -> MOS 4.40 */
	for (int i = 0; i < 20; i++)
		pkt(0, (uint16_t)i, (uint32_t)i * 160, 1, (uint64_t)i * 20 * MS, 1);
	double m = qp_rtp_mos(&r, &cfg);
	double R = 93.2 - 0.024 * 20;
	double want = 1 + 0.035 * R + R * (R - 60) * (100 - R) * 7e-6;
	cr_assert_float_eq(m, want, 1e-9);
	/* 10 % random loss on G.711/PLC: Ie_eff = 95 * 10 / (10 + 25.1) */
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 100; i++)
		if (i % 10 != 5)
			pkt(0, (uint16_t)i, (uint32_t)i * 160, 1, (uint64_t)i * 20 * MS, 1);
	R = 93.2 - 0.024 * 20 - 95.0 * 10 / (10 + 25.1);
	want = 1 + 0.035 * R + R * (R - 60) * (100 - R) * 7e-6;
	cr_assert_eq(qp_rtp_lost(&r), 10);
	cr_assert_float_eq(qp_rtp_mos(&r, &cfg), want, 1e-9);
	/* G.729 at 2 s of assumed delay: R below zero -> MOS 1 */
	struct qp_rtp_cfg far = cfg;
	far.network_delay_ms = 2000;
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 20; i++)
		pkt(18, (uint16_t)i, (uint32_t)i * 160, 1, (uint64_t)i * 20 * MS, 1);
	cr_assert_float_eq(qp_rtp_mos(&r, &far), 1.0, 1e-12);
}
