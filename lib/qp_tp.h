/*
 * qp_tp: two-point matching. Records (signature, time, size, flow) taken at
 * two points of a path, A (the primary's) and B (the secondary's), are paired
 * by signature; from the pairs and the records left alone it derives one-way
 * delay (RFC 7679), IPDV (RFC 3393) and PDV (RFC 5481), loss after a loss timer
 * (RFC 7680 Tmax), duplicates, reordering (RFC 4737) and connection breaks,
 * per direction, per flow and per interval.
 *
 * Directions: "fwd" holds packets that pass A first, "rev" those that pass B
 * first. Which point a flow direction (a flow and which way its packets go)
 * passes first is learned from its first pair: the earlier timestamp. A
 * later pair of the same flow direction whose delay comes out negative (the
 * clocks disagree by more than the path's delay) is counted in
 * negative_delays and kept in min and mean, never clipped; percentiles are
 * over the non-negative delays. A record left unmatched when the loss timer
 * runs out is lost in the direction where its point is upstream; a record
 * seen only at the downstream point of a flow direction is counted in
 * downstream_only.
 *
 * Records of each point must come in time order (per point); the two points
 * may lag each other by any amount. The watermark of a point is the time up
 * to which all its records have been given: a record of A is lost once B's
 * watermark passes its time plus the loss timer, and the reverse.
 *
 * Memory is bounded: at most `window` records wait for their match (beyond,
 * the oldest is dropped and counted in window_overflow), at most max_flows
 * flows are itemised (beyond: flows_not_itemised; their packets still count
 * in the directions and intervals) and at most flow_dists of them get their
 * own delay distribution.
 *
 * Thread-safety: one owner thread; no locking inside.
 */
#ifndef QP_TP_H
#define QP_TP_H

#include <jansson.h>
#include <stdint.h>

#include "qp_hist.h"
#include "qp_parse_dp.h"

enum { QP_TP_A = 0, QP_TP_B = 1 };

struct qp_tp_cfg {
	uint64_t loss_timer_ns; /* Tmax */
	uint64_t break_ns;      /* a gap this long at the downstream point is a break */
	uint64_t interval_ns;   /* 0: no intervals */
	uint64_t base_ns;       /* start of the first interval */
	uint32_t window;        /* records waiting for their match, at most */
	uint32_t iv_ring;       /* 0: keep every interval (offline, up to 100,000); live: a
				 * ring of this many, each taken with qp_tp_interval_take() */
	uint32_t max_flows;
	uint32_t flow_dists;
};

/** One record: a selected packet seen at one point. */
struct qp_tp_rec {
	uint64_t sig;
	uint64_t ts_ns;
	uint32_t size;   /* bytes on the wire */
	uint8_t swapped; /* direction within the flow key (qp_pkt.swapped) */
	struct qp_flow_key key;
};

/*
 * Figures of one direction (per capture, per interval or per flow). selected:
 * packets selected at the upstream point whose fate is known (matched or
 * lost); intervals and flows take a packet by its upstream time.
 */
struct qp_tp_dir {
	uint64_t selected;
	uint64_t matched, lost, duplicates, reordered, downstream_only;
	uint64_t negative_delays;
	uint64_t breaks, break_ns;
	uint64_t bytes_matched;
	int64_t owd_min, owd_max; /* ns, over every matched packet */
	int64_t owd_sum;          /* ns: 9.2e18, a billion packets of 9 s each */
	uint64_t ipdv_n, ipdv_abs_sum;
	struct qp_hist *owd;  /* non-negative delays; NULL: not kept */
	struct qp_hist *ipdv; /* |IPDV| */
};

struct qp_tp;

/** @return an engine, or NULL (errno ENOMEM or EINVAL for a zero window/timer). */
struct qp_tp *qp_tp_create(const struct qp_tp_cfg *cfg);
void qp_tp_destroy(struct qp_tp *tp);

/** Set the start of the first interval (before the first record). */
void qp_tp_set_base(struct qp_tp *tp, uint64_t base_ns);

/** Add a record of point side (QP_TP_A or QP_TP_B); raises that point's watermark to its time. */
void qp_tp_add(struct qp_tp *tp, int side, const struct qp_tp_rec *r);

/** Raise a point's watermark without a record (the point is known to have seen nothing until t). */
void qp_tp_watermark(struct qp_tp *tp, int side, uint64_t t_ns);

/**
 * The end: every record still waiting is lost when the other point's
 * watermark passed its time, and counted as unresolved otherwise.
 */
void qp_tp_finish(struct qp_tp *tp);

/** The capture-wide figures of a direction (0 fwd, 1 rev). */
const struct qp_tp_dir *qp_tp_total(const struct qp_tp *tp, int dir);

/** Engine counters. */
struct qp_tp_counters {
	uint64_t records[2]; /* given by each point */
	uint64_t window_overflow;
	uint64_t flows_not_itemised;
	uint64_t unresolved;
	uint64_t intervals_not_itemised;
};
const struct qp_tp_counters *qp_tp_counters(const struct qp_tp *tp);

/** JSON of a direction: the "fwd"/"rev" object of the report. */
json_t *qp_tp_dir_json(const struct qp_tp_dir *d);

/** A flow's figures, [0] A to B and [1] B to A; NULL when the flow is not itemised. */
const struct qp_tp_dir *qp_tp_flow(const struct qp_tp *tp, const struct qp_flow_key *key);

/** {"fwd": ..., "rev": ...} of one flow (canonical key), or NULL when the flow has no record. */
json_t *qp_tp_flow_json(const struct qp_tp *tp, const struct qp_flow_key *key);

/** {"fwd": ..., "rev": ...} of the interval starting at start_ns, or NULL. */
json_t *qp_tp_interval_json(const struct qp_tp *tp, uint64_t start_ns);

/**
 * 1 when interval k (counted from base_ns) is final: both points' watermarks
 * have passed its end plus the loss timer, so no record can change it.
 */
int qp_tp_interval_final(const struct qp_tp *tp, uint64_t k);

/** {"fwd", "rev"} of interval k (zeros when it saw nothing); live: its slot is freed. */
json_t *qp_tp_interval_take(struct qp_tp *tp, uint64_t k);

/** {"fwd", "rev", "loss_timer_ms", "break_ms", counters} of the whole run. */
json_t *qp_tp_json(const struct qp_tp *tp);

#endif
