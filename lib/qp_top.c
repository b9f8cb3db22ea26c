/* qp_top: see qp_top.h. */
#include "qp_top.h"

#include <string.h>

#include <urcu/uatomic.h>

void qp_top_init(struct qp_top *t, const struct qp_rtp_cfg *rtp)
{
	memset(t, 0, sizeof(*t));
	t->rtp = rtp;
}

static void swap(struct qp_top *t, unsigned int a, unsigned int b)
{
	uint64_t w = t->w[a];
	t->w[a] = t->w[b];
	t->w[b] = w;
	struct qp_flow_rec r = t->heap[a];
	t->heap[a] = t->heap[b];
	t->heap[b] = r;
}

/* The root, just replaced, down to its place in the min-heap. */
static void sift_down(struct qp_top *t)
{
	for (unsigned int i = 0;;) {
		unsigned int l = 2 * i + 1, r = l + 1, m = i;
		if (l < t->n && t->w[l] < t->w[m])
			m = l;
		if (r < t->n && t->w[r] < t->w[m])
			m = r;
		if (m == i)
			return;
		swap(t, i, m);
		i = m;
	}
}

void qp_top_take(struct qp_top *t, const struct qp_flow *f, uint64_t w)
{
	unsigned int i;
	if (t->n < QP_TOP_FLOWS) {
		i = t->n++;
		t->w[i] = w;
		qp_flow_rec_from(&t->heap[i], f, QP_FLOW_REC_ACTIVE);
		qp_flow_rec_rtp(&t->heap[i], f, t->rtp);
		while (i > 0 && t->w[(i - 1) / 2] > t->w[i]) {
			swap(t, i, (i - 1) / 2);
			i = (i - 1) / 2;
		}
		return;
	}
	/* the smallest kept gives way */
	t->w[0] = w;
	qp_flow_rec_from(&t->heap[0], f, QP_FLOW_REC_ACTIVE);
	qp_flow_rec_rtp(&t->heap[0], f, t->rtp);
	sift_down(t);
}

void qp_top_publish(struct qp_top *t, uint64_t now_ns)
{
	/* largest first: take the heap's smallest n times, filling from the end */
	unsigned int n = t->n;
	uatomic_set(&t->seq, t->seq + 1);
	cmm_smp_wmb();
	for (unsigned int k = n; k > 0; k--) {
		t->pub[k - 1] = t->heap[0];
		t->w[0] = t->w[t->n - 1];
		t->heap[0] = t->heap[t->n - 1];
		t->n--;
		sift_down(t);
	}
	t->pn = n;
	t->pass_ns = now_ns;
	cmm_smp_wmb();
	uatomic_set(&t->seq, t->seq + 1);
}

unsigned int qp_top_read(const struct qp_top *t, struct qp_flow_rec *out, uint64_t *pass_ns)
{
	for (;;) {
		uint32_t s = uatomic_read(&t->seq);
		cmm_smp_rmb();
		if (s & 1) {
			caa_cpu_relax();
			continue;
		}
		unsigned int n = CMM_LOAD_SHARED(t->pn);
		if (n > QP_TOP_FLOWS)
			n = QP_TOP_FLOWS;
		memcpy(out, t->pub, n * sizeof(*out));
		*pass_ns = CMM_LOAD_SHARED(t->pass_ns);
		cmm_smp_rmb();
		if (uatomic_read(&t->seq) == s)
			return n;
	}
}
