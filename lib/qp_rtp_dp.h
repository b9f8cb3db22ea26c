/*
 * qp_rtp_dp: RTP stream analysis of one UDP flow, per direction, in the
 * worker's per-packet path: packets, expected and lost (extended sequence
 * numbers, RFC 3550 A.1 and A.3), duplicates, out-of-order, interarrival
 * jitter (RFC 3550 A.8) and the MOS of the ITU-T G.107 E-model.
 *
 * A direction becomes an RTP stream by heuristic (version 2, a payload type
 * outside the RTCP range 72-76, a header that fits, the same SSRC with
 * consecutive sequence numbers on QP_RTP_PROBATION packets) or at once when
 * one of its ports is in the configured RTP port range. One stream (the
 * first SSRC confirmed) is kept per direction.
 *
 * Thread-safety: lives inside struct qp_flow; written by its worker only.
 */
#ifndef QP_RTP_DP_H
#define QP_RTP_DP_H

#include <stdint.h>

#include "qp_sdp.h"

#define QP_RTP_PROBATION 4

/* Configuration every worker reads (part of the measurement). */
struct qp_rtp_cfg {
	uint16_t port_lo, port_hi; /* RTP without probation on these ports; 0/0: none */
	uint32_t dynamic_clock_hz; /* clock rate of dynamic payload types (96-127) without SDP */
	double network_delay_ms;   /* one-way delay assumed by the E-model */
	/* the probe's media announced by SIP (NULL: none kept), and for one
	 * call of qp_rtp_update() the flow's (NULL: none announced) */
	struct qp_sdp_table *sdp;
	const struct qp_sdp_map *map;
};

struct qp_rtp_dir {
	uint32_t ssrc;
	uint8_t state; /* 0 none, 1 candidate, 2 stream */
	uint8_t pt;
	uint8_t probation;
	uint8_t have_prev;
	uint16_t max_seq;  /* highest sequence number seen (a candidate's latest) */
	uint16_t ts_jumps; /* RTP timestamp steps with continuous sequence (saturates) */
	uint32_t cycles;   /* sequence wraps, shifted by 16 */
	uint32_t base_seq; /* first sequence number of the stream */
	uint32_t bad_seq;  /* RFC 3550 A.1: the seq after a large jump */
	uint32_t received;
	uint32_t dups, ooo;
	uint16_t jumps;    /* sender restarts (saturates) */
	uint8_t run_pt;    /* the other payload type of the latest run, and ... */
	uint8_t run;       /* ... its length: QP_RTP_PT_SWITCH in a row switch the stream */
	uint64_t seen;     /* bitmap: seen[i] = max_seq - i was received */
	uint32_t clock_hz;
	uint32_t last_ts;  /* RTP timestamp of the previous packet */
	int64_t ts_ext;    /* unwrapped RTP timestamp of the previous packet */
	uint64_t first_ns; /* arrival of the first packet */
	double prev_transit;
	double jitter;     /* RFC 3550 A.8 estimate, timestamp units */
	double jitter_sum; /* of the estimate after each packet but the first (as Wireshark) */
	double jitter_max;
	uint32_t jitter_n;
	/* packets of another payload type in the stream (telephone events,
	 * comfort noise): in its sequence, out of its jitter and MOS */
	uint32_t other_pt;
};
_Static_assert(sizeof(struct qp_rtp_dir) == 112, "a flow's two directions fit its entry");

#define QP_RTP_PT_SWITCH 16

/* What one packet changed, for the interval accumulators. */
struct qp_rtp_event {
	uint32_t received; /* packets the stream's count grew by */
	uint32_t expected; /* expected packets it grew by */
	int has_jitter;
	uint64_t jitter_ns; /* the A.8 estimate after this packet */
	/* the estimates this packet adds to the stream's series, in timestamp
	 * units: one, or all of the probation packets' when it confirms the
	 * stream */
	uint32_t jitter_n;
	double jitter_sum, jitter_max;
};

/**
 * 0 when qp_rtp_update() would do nothing with this payload: the direction
 * is not a stream and the payload cannot be RTP (no 12 bytes, or not
 * version 2). The worker asks first, so most UDP costs no call.
 */
static inline int qp_rtp_maybe(const struct qp_rtp_dir *r, const uint8_t *payload, uint32_t cap)
{
	return r->state == 2 || (payload && cap >= 12 && (payload[0] >> 6) == 2);
}

#define QP_RTP_SEQ_MOD (1u << 16)

/* A step of the RTP timestamp against arrival beyond this (media time), with
 * the sequence continuous, is a new timeline (codec switch, re-INVITE): 1 s */
#define QP_RTP_TS_JUMP_S 1

/** RFC 3550 A.8: the jitter estimate after a packet of RTP timestamp rtp_ts
 * arriving at ts (the stream's clock known). Inline for the worker's common
 * packet; qp_rtp_update_slow() calls it too. */
static inline void qp_rtp_jitter_step(struct qp_rtp_dir *r, uint32_t rtp_ts, uint64_t ts)
{
	if (!r->clock_hz)
		return;
	if (!r->have_prev) {
		r->have_prev = 1;
		r->first_ns = ts;
		r->ts_ext = rtp_ts;
		r->last_ts = rtp_ts;
		r->prev_transit = -(double)rtp_ts;
		return;
	}
	r->ts_ext += (int32_t)(rtp_ts - r->last_ts); /* unwrap the 32-bit timestamp */
	r->last_ts = rtp_ts;
	double arrival = ts >= r->first_ns ? (double)(ts - r->first_ns) * r->clock_hz / 1e9 : 0;
	double transit = arrival - (double)r->ts_ext;
	double d = __builtin_fabs(transit - r->prev_transit);
	r->prev_transit = transit;
	if (d > (double)QP_RTP_TS_JUMP_S * r->clock_hz) {
		/* the sender's timestamps started again elsewhere: the estimator
		 * goes on from the new timeline, the step is no sample */
		if (r->ts_jumps < UINT16_MAX)
			r->ts_jumps++;
		return;
	}
	r->jitter += (d - r->jitter) / 16.0;
	r->jitter_sum += r->jitter;
	r->jitter_n++;
	if (r->jitter > r->jitter_max)
		r->jitter_max = r->jitter;
}

/* What a packet's jitter estimate adds to the event of a stream that was one
 * before the packet (n: its count of estimates before). */
static inline void qp_rtp_jitter_event(const struct qp_rtp_dir *r, uint32_t n,
				       struct qp_rtp_event *ev)
{
	if (r->jitter_n != n && r->clock_hz) {
		ev->has_jitter = 1;
		ev->jitter_ns = (uint64_t)(r->jitter / r->clock_hz * 1e9);
		ev->jitter_n = 1;
		ev->jitter_sum = ev->jitter_max = r->jitter;
	}
}

/** qp_rtp_update() for any packet (the inline part's common case too). */
void qp_rtp_update_slow(struct qp_rtp_dir *r, const uint8_t *payload, uint32_t cap, int ports_match,
			uint64_t ts, const struct qp_rtp_cfg *cfg, struct qp_rtp_event *ev);

/**
 * Most packets of a stream (r->state 2; payload: 12 bytes at least): the
 * next in its sequence, of its SSRC and payload type, with a plain header
 * (version 2, no padding, extension or CSRC; the type is the stream's, so
 * no RTCP). Does what the slow path's header check and RFC 3550 A.1
 * update_seq do for it, in a straight line, and returns 1; 0 for any other
 * packet (nothing done).
 */
static inline int qp_rtp_next(struct qp_rtp_dir *r, const uint8_t *payload, uint64_t ts,
			      struct qp_rtp_event *ev)
{
	if (payload[0] != 0x80 || (payload[1] & 0x7f) != r->pt || (payload[1] >= 192 && payload[1] <= 223))
		return 0;
	uint32_t ssrc = (uint32_t)payload[8] << 24 | (uint32_t)payload[9] << 16 |
			(uint32_t)payload[10] << 8 | payload[11];
	uint16_t seq = (uint16_t)(payload[2] << 8 | payload[3]);
	if (ssrc != r->ssrc || seq != (uint16_t)(r->max_seq + 1))
		return 0;
	if (seq == 0)
		r->cycles += QP_RTP_SEQ_MOD; /* it wrapped */
	r->seen = (r->seen << 1) | 1;
	r->max_seq = seq;
	r->received++;
	r->run = 0;
	uint32_t jn0 = r->jitter_n;
	qp_rtp_jitter_step(r,
			   (uint32_t)payload[4] << 24 | (uint32_t)payload[5] << 16 |
				   (uint32_t)payload[6] << 8 | payload[7],
			   ts);
	ev->received = ev->expected = 1;
	ev->has_jitter = 0;
	ev->jitter_n = 0;
	qp_rtp_jitter_event(r, jn0, ev);
	return 1;
}

/**
 * Account one UDP packet travelling in one direction.
 * @param payload, cap  the UDP payload as captured
 * @param ports_match   one of the flow's ports is in the RTP port range
 * @param ev            what changed (zeroed first)
 */
static inline void qp_rtp_update(struct qp_rtp_dir *r, const uint8_t *payload, uint32_t cap,
				 int ports_match, uint64_t ts, const struct qp_rtp_cfg *cfg,
				 struct qp_rtp_event *ev)
{
	/* the common packet inline where the worker calls (rtp: 687 -> 621
	 * instructions a frame) */
	if (r->state == 2 && payload && cap >= 12 && qp_rtp_next(r, payload, ts, ev))
		return;
	qp_rtp_update_slow(r, payload, cap, ports_match, ts, cfg, ev);
}

/** Start a new record (active timeout): counters from the next packet on. */
void qp_rtp_restart(struct qp_rtp_dir *r);

/** Expected packets (RFC 3550 A.3): extended highest - base + 1. */
uint32_t qp_rtp_expected(const struct qp_rtp_dir *r);

/** Lost packets, never negative (duplicates are not received packets here). */
uint32_t qp_rtp_lost(const struct qp_rtp_dir *r);

/** Clock rate of a static payload type, 0 when it is dynamic or unknown. */
uint32_t qp_rtp_clock(uint8_t pt);

/**
 * MOS (1..4.5) by the G.107 E-model for this stream: codec impairment from
 * the payload type, packet loss, and a mouth-to-ear delay of 20 ms
 * packetisation + twice the mean jitter (jitter buffer) + the configured
 * network delay. See docs/metrics.md.
 */
double qp_rtp_mos(const struct qp_rtp_dir *r, const struct qp_rtp_cfg *cfg);

/**
 * The same E-model from the figures of any period (an interval): payload
 * type, expected and lost packets, mean jitter in ms.
 */
double qp_rtp_mos_of(uint8_t pt, uint32_t expected, uint32_t lost, double mean_jitter_ms,
		     const struct qp_rtp_cfg *cfg);

/** Jitter figures in ms: the last estimate, the mean and the max over packets. */
double qp_rtp_jitter_ms(const struct qp_rtp_dir *r, double units);

#endif
