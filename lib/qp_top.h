/*
 * qp_top: the largest flows of a measurement, chosen by its worker.
 *
 * The worker's expiry walk visits every flow of its table; a measurement
 * whose results are pushed to receivers (they carry its largest flows)
 * has its walk paced to end a pass once an interval (a second at least), and each flow
 * the walk leaves in the table is offered here. A flow larger (in bytes)
 * than the smallest kept takes its place, copied as a record at once; at the
 * end of a pass the records are published, largest first, and the next pass
 * starts empty. The management core reads the latest publication of each
 * worker instead of walking every table at each interval's close.
 *
 * Thread-safety: qp_top_offer/qp_top_publish by the owning worker only;
 * qp_top_read by any thread (a sequence count: a reader never takes a
 * publication being rewritten, it reads again).
 */
#ifndef QP_TOP_H
#define QP_TOP_H

#include <stdint.h>

#include "qp_report.h"

#define QP_TOP_FLOWS 10 /* the flows a result carries */

struct qp_top {
	const struct qp_rtp_cfg *rtp; /* the E-model's settings, for RTP records */
	/* the pass under way: a min-heap on bytes */
	unsigned int n;
	uint64_t w[QP_TOP_FLOWS];
	struct qp_flow_rec heap[QP_TOP_FLOWS];
	/* the latest pass: even while stable, odd while being written */
	uint32_t seq;
	unsigned int pn;
	uint64_t pass_ns;    /* when the latest ended (the walk's clock) */
	struct qp_flow_rec pub[QP_TOP_FLOWS]; /* largest first */
};

/** An empty set; rtp as the measurement's (kept, not copied). */
void qp_top_init(struct qp_top *t, const struct qp_rtp_cfg *rtp);

/** Keep flow f, of w bytes, among the largest (owner; qp_top_offer's slow part). */
void qp_top_take(struct qp_top *t, const struct qp_flow *f, uint64_t w);

/** Flow f, met by the walk (owner): kept when among the largest so far. */
static inline void qp_top_offer(struct qp_top *t, const struct qp_flow *f)
{
	uint64_t w = f->bytes[0] + f->bytes[1];
	if (w && (t->n < QP_TOP_FLOWS || w > t->w[0]))
		qp_top_take(t, f, w);
}

/** The pass ended at now_ns (owner): publish what it kept, start the next. */
void qp_top_publish(struct qp_top *t, uint64_t now_ns);

/**
 * The latest publication (any thread): up to QP_TOP_FLOWS records, largest
 * first, into out; *pass_ns when that pass ended (0: none yet).
 * @return how many.
 */
unsigned int qp_top_read(const struct qp_top *t, struct qp_flow_rec *out, uint64_t *pass_ns);

#endif
