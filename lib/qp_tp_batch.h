/*
 * qp_tp_batch: a secondary's side of the two-point wire. Records are
 * gathered into TP_RECORDS frames (qmcp_tp.h): flows get ids (defined in the
 * first frame that uses them), a frame closes when it would pass QMCP's body
 * limit or span more than span_ns, or when the caller flushes it with a
 * watermark. Each finished frame goes to a callback (send it, or count it).
 *
 * Thread-safety: one owner.
 */
#ifndef QP_TP_BATCH_H
#define QP_TP_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "qp_tp.h"

#define QP_TP_BATCH_FLOW_IDS (1u << 20) /* ids in use at most; then they start again */

typedef void qp_tp_frame_fn(const uint8_t *frame, size_t len, uint32_t nrecs, void *arg);

struct qp_tp_batch_stats {
	uint64_t frames, bytes, records;
	uint64_t not_encoded; /* records lost to an encoding failure (memory) */
};

struct qp_tp_batcher;

/** @return a batcher for measurement meas_id, or NULL (ENOMEM). span_ns: 1 .. 4.29 s. */
struct qp_tp_batcher *qp_tp_batcher_create(uint32_t meas_id, uint64_t span_ns, qp_tp_frame_fn *fn,
					   void *arg);
void qp_tp_batcher_destroy(struct qp_tp_batcher *b);

/** Add a record (records in time order); may emit a frame first. */
void qp_tp_batcher_add(struct qp_tp_batcher *b, const struct qp_tp_rec *r);

/**
 * Emit what is gathered, as one frame (empty too) carrying watermark:
 * every record older than it has been added. dropped: records lost so far.
 */
void qp_tp_batcher_flush(struct qp_tp_batcher *b, uint64_t watermark, uint64_t dropped);

const struct qp_tp_batch_stats *qp_tp_batcher_stats(const struct qp_tp_batcher *b);

#endif
