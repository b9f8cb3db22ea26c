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

/* Nearest-rank quantile over buckets of 32- or 64-bit counts. */
static uint64_t quantile(const void *buckets, int wide, uint64_t count, uint64_t min, uint64_t max,
			 double q)
{
	if (count == 0)
		return 0;
	if (!(q > 0))
		return min;
	if (q >= 1)
		return max;
	uint64_t rank = (uint64_t)ceil(q * (double)count);
	uint64_t seen = 0;
	for (uint32_t i = 0; i < QP_HIST_BUCKETS; i++) {
		seen += wide ? ((const uint64_t *)buckets)[i] : ((const uint32_t *)buckets)[i];
		if (seen >= rank) {
			uint64_t v = bucket_mid(i);
			return v < min ? min : v > max ? max : v;
		}
	}
	return max;
}

uint64_t qp_hist_quantile(const struct qp_hist *h, double q)
{
	return quantile(h->b, 1, h->count, h->min, h->max, q);
}

/* How many of the few buckets h counts (QP_HIST_MANY: it spilled), read once. */
static unsigned int few_of(const struct qp_hist_counts *h)
{
	unsigned int n = __atomic_load_n(&h->n, __ATOMIC_RELAXED);
	return n == QP_HIST_MANY || n <= QP_HIST_FEW ? n : QP_HIST_FEW;
}

uint64_t qp_hist_counts_quantile(const struct qp_hist_counts *h, const struct qp_stat *s, double q)
{
	if (s->n == 0)
		return 0;
	if (!(q > 0))
		return s->min;
	if (q >= 1)
		return s->max;
	/* the buckets counted in only, in order: a flow's tens of samples sit in
	 * a few of the 1,984 (the record of an ended flow is made on its worker) */
	uint64_t rank = (uint64_t)ceil(q * (double)s->n), seen = 0;
	uint32_t at = UINT32_MAX;
	/* a reader on another core (a listing of live flows) may meet the
	 * worker adding: n read once and bounded, every index too */
	unsigned int n = few_of(h);
	if (n != QP_HIST_MANY) {
		for (unsigned int k = 0; k < n && at == UINT32_MAX; k++)
			if ((seen += h->cnt[k]) >= rank)
				at = h->idx[k];
	} else {
		for (unsigned int w = 0; w < QP_HIST_WORDS && at == UINT32_MAX; w++)
			for (uint64_t m = h->many->touched[w]; m; m &= m - 1) {
				uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(m);
				if ((seen += h->many->b[i]) >= rank) {
					at = i;
					break;
				}
			}
	}
	if (at >= QP_HIST_BUCKETS)
		return s->max;
	uint64_t v = bucket_mid(at);
	return v < s->min ? s->min : v > s->max ? s->max : v;
}

void qp_hist_counts_add(struct qp_hist_counts *h, uint64_t v)
{
	uint32_t i = qp_hist_index(v);
	struct qp_hist_many *m = h->many;
	unsigned int n = h->n;
	if (n != QP_HIST_MANY) {
		unsigned int k = 0;
		while (k < n && h->idx[k] < i)
			k++;
		if (k < n && h->idx[k] == i) {
			h->cnt[k]++;
			return;
		}
		if (n < QP_HIST_FEW) {
			for (unsigned int j = n; j > k; j--) {
				h->idx[j] = h->idx[j - 1];
				h->cnt[j] = h->cnt[j - 1];
			}
			h->idx[k] = (uint16_t)i;
			h->cnt[k] = 1;
			h->n = (uint16_t)(n + 1);
			return;
		}
		/* one bucket more than the few: every count into the whole one */
		for (unsigned int j = 0; j < n; j++) {
			m->b[h->idx[j]] = h->cnt[j];
			m->touched[h->idx[j] / 64] |= 1ULL << (h->idx[j] % 64);
		}
		h->n = QP_HIST_MANY;
	}
	m->b[i]++;
	m->touched[i / 64] |= 1ULL << (i % 64);
}

uint32_t qp_hist_counts_get(const struct qp_hist_counts *h, uint32_t i)
{
	unsigned int n = few_of(h);
	if (n == QP_HIST_MANY)
		return i < QP_HIST_BUCKETS ? h->many->b[i] : 0;
	for (unsigned int k = 0; k < n; k++)
		if (h->idx[k] == i)
			return h->cnt[k];
	return 0;
}

void qp_hist_counts_clear(struct qp_hist_counts *h)
{
	if (h->n == QP_HIST_MANY) {
		struct qp_hist_many *m = h->many;
		for (unsigned int w = 0; w < QP_HIST_WORDS; w++) {
			for (uint64_t b = m->touched[w]; b; b &= b - 1)
				m->b[w * 64 + (unsigned int)__builtin_ctzll(b)] = 0;
			m->touched[w] = 0;
		}
	}
	h->n = 0;
}

void qp_hist_counts_copy(struct qp_hist_counts *dst, const struct qp_hist_counts *src)
{
	struct qp_hist_many *m = dst->many;
	qp_hist_counts_clear(dst);
	*dst = *src;
	dst->many = m;
	if (src->n != QP_HIST_MANY)
		return;
	for (unsigned int w = 0; w < QP_HIST_WORDS; w++) {
		for (uint64_t b = src->many->touched[w]; b; b &= b - 1) {
			unsigned int i = w * 64 + (unsigned int)__builtin_ctzll(b);
			m->b[i] = src->many->b[i];
		}
		m->touched[w] = src->many->touched[w];
	}
}

double qp_hist_mean(const struct qp_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
