/*
 * qp_flow_ring: see qp_flow_ring.h.
 */
#include "qp_flow_ring.h"

void qp_flow_ring_export(const struct qp_flow *f, enum qp_flow_end why, void *arg)
{
	struct qp_flow_ring_hook *h = arg;
	struct qp_flow_rec *r = qp_flow_ring_slot(h->ring);
	if (!r)
		return; /* counted */
	qp_flow_rec_from(r, f, why);
	qp_flow_rec_rtp(r, f, h->rtp);
	qp_flow_ring_commit(h->ring);
}
