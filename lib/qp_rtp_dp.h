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

/**
 * Account one UDP packet travelling in one direction.
 * @param payload, cap  the UDP payload as captured
 * @param ports_match   one of the flow's ports is in the RTP port range
 * @param ev            what changed (zeroed first)
 */
void qp_rtp_update(struct qp_rtp_dir *r, const uint8_t *payload, uint32_t cap, int ports_match,
		   uint64_t ts, const struct qp_rtp_cfg *cfg, struct qp_rtp_event *ev);

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
