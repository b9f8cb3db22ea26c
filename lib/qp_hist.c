/*
 * qp_hist: see qp_hist.h.
 */
#include "qp_hist.h"

#include <math.h>
#include <string.h>

_Static_assert(QP_HIST_BUCKETS == 31 * 64, "bucket count as documented");

void qp_hist_reset(struct qp_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void qp_hist_merge(struct qp_hist *dst, const struct qp_hist *src)
{
	if (src->count == 0)
		return;
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
	for (uint32_t i = 0; i < QP_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
}

/* The middle of a bucket's value range. */
static uint64_t bucket_mid(uint32_t i)
{
	if (i < QP_HIST_SUB)
		return i;
	uint32_t oct = i / QP_HIST_SUB; /* 1 .. */
	uint32_t sub = i % QP_HIST_SUB;
	unsigned int k = oct + QP_HIST_SUB_BITS - 1; /* bucket lies in [2^k, 2^(k+1)) */
	uint64_t width = 1ULL << (k - QP_HIST_SUB_BITS);
	uint64_t lo = (1ULL << k) + (uint64_t)sub * width;
	return lo + width / 2;
}

uint64_t qp_hist_quantile(const struct qp_hist *h, double q)
{
	if (h->count == 0)
		return 0;
	if (!(q > 0))
		return h->min;
	if (q >= 1)
		return h->max;
	uint64_t rank = (uint64_t)ceil(q * (double)h->count);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (uint32_t i = 0; i < QP_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = bucket_mid(i);
			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max;
}

uint64_t qp_hist_counts_quantile(const struct qp_hist_counts *h, const struct qp_stat *s, double q)
{
	if (s->n == 0)
		return 0;
	if (!(q > 0))
		return s->min;
	if (q >= 1)
		return s->max;
	uint64_t rank = (uint64_t)ceil(q * (double)s->n);
	uint64_t seen = 0;
	for (uint32_t i = 0; i < QP_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = bucket_mid(i);
			return v < s->min ? s->min : v > s->max ? s->max : v;
		}
	}
	return s->max;
}

double qp_hist_mean(const struct qp_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
