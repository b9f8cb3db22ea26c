/*
 * qp_hist: fixed-size log-linear histogram of nanosecond values (RTT, jitter,
 * delay), so that percentiles cost no allocation per sample.
 *
 * Values below 64 ns have a bucket each; above, every power of two [2^k,
 * 2^(k+1)) is split into 64 equal buckets. A percentile is reported as the
 * middle of its bucket, clamped to the observed min and max, so its relative
 * error is at most 1/128 (0.79 %) of the true sample value. Values of 2^36 ns
 * (68.7 s) and more share the last bucket; min, max, sum and count stay exact.
 *
 * A histogram is plain data with one writer: a worker adds samples to its
 * own, the management core merges copies. No locking inside.
 */
#ifndef QP_HIST_H
#define QP_HIST_H

#include <stdint.h>

#define QP_HIST_SUB_BITS 6
#define QP_HIST_SUB (1u << QP_HIST_SUB_BITS)
#define QP_HIST_MAX_BITS 36
#define QP_HIST_BUCKETS ((QP_HIST_MAX_BITS - QP_HIST_SUB_BITS + 1) * QP_HIST_SUB)

struct qp_hist {
	uint64_t count;
	uint64_t sum; /* ns; wraps only after 584 years of samples */
	uint64_t min, max;
	uint64_t b[QP_HIST_BUCKETS];
};

/** Empty a histogram. */
void qp_hist_reset(struct qp_hist *h);

/** Bucket index of a value. */
static inline uint32_t qp_hist_index(uint64_t v)
{
	if (v < QP_HIST_SUB)
		return (uint32_t)v;
	unsigned int k = 63u - (unsigned int)__builtin_clzll(v); /* 2^k <= v */
	if (k >= QP_HIST_MAX_BITS)
		return QP_HIST_BUCKETS - 1;
	uint32_t sub = (uint32_t)(v >> (k - QP_HIST_SUB_BITS)) & (QP_HIST_SUB - 1);
	return (k - QP_HIST_SUB_BITS + 1) * QP_HIST_SUB + sub;
}

/** Add one sample (ns). */
static inline void qp_hist_add(struct qp_hist *h, uint64_t v)
{
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += v;
	h->b[qp_hist_index(v)]++;
}

/*
 * A time in 32 bits: exact to the ns below 2^31 ns (2.1 s), to the us above
 * (up to 35 minutes); order is kept (a < b: enc(a) <= enc(b)).
 */
#define QP_NS32_US 0x80000000u /* an encoded value in microseconds */

static inline uint32_t qp_ns32_enc(uint64_t ns)
{
	if (ns < QP_NS32_US)
		return (uint32_t)ns;
	uint64_t us = ns / 1000;
	return QP_NS32_US | (uint32_t)(us < QP_NS32_US - 1 ? us : QP_NS32_US - 1);
}

static inline uint64_t qp_ns32_dec(uint32_t v)
{
	return v & QP_NS32_US ? (uint64_t)(v & ~QP_NS32_US) * 1000 : v;
}

/* min / mean / max of a series of ns values, without a distribution */
struct qp_stat {
	uint32_t n;
	uint64_t sum, min, max;
};

static inline void qp_stat_add(struct qp_stat *s, uint64_t v)
{
	if (s->n == 0 || v < s->min)
		s->min = v;
	if (v > s->max)
		s->max = v;
	s->n++;
	s->sum += v;
}

/** Add every sample of src to dst. */
void qp_hist_merge(struct qp_hist *dst, const struct qp_hist *src);

/**
 * The q-quantile (0 <= q <= 1) by nearest rank: the value at rank
 * ceil(q * count) (at least 1) of the sorted samples, within the stated
 * error. 0 for an empty histogram.
 */
uint64_t qp_hist_quantile(const struct qp_hist *h, double q);

/*
 * Bucket counts alone, 32-bit, for per-flow distributions; count, min and max
 * are kept beside them (struct qp_stat). `touched` marks the buckets that are
 * not zero, so the next flow to take the distribution clears those only (a
 * TCP flow has tens of RTT samples: a few buckets, not 7.9 KB).
 */
#define QP_HIST_WORDS ((QP_HIST_BUCKETS + 63) / 64)
struct qp_hist_counts {
	uint32_t b[QP_HIST_BUCKETS];
	uint64_t touched[QP_HIST_WORDS];
};

/** Count one value. */
static inline void qp_hist_counts_add(struct qp_hist_counts *h, uint64_t v)
{
	uint32_t i = qp_hist_index(v);
	h->b[i]++;
	h->touched[i / 64] |= 1ULL << (i % 64);
}

/** Exchange two distributions, visiting only the buckets either counted in. */
static inline void qp_hist_counts_swap(struct qp_hist_counts *a, struct qp_hist_counts *b)
{
	for (unsigned int w = 0; w < QP_HIST_WORDS; w++) {
		for (uint64_t m = a->touched[w] | b->touched[w]; m; m &= m - 1) {
			unsigned int i = w * 64 + (unsigned int)__builtin_ctzll(m);
			uint32_t c = a->b[i];
			a->b[i] = b->b[i];
			b->b[i] = c;
		}
		uint64_t t = a->touched[w];
		a->touched[w] = b->touched[w];
		b->touched[w] = t;
	}
}

/** Empty the distribution, visiting only the buckets that were counted in. */
static inline void qp_hist_counts_clear(struct qp_hist_counts *h)
{
	for (unsigned int w = 0; w < QP_HIST_WORDS; w++) {
		for (uint64_t m = h->touched[w]; m; m &= m - 1)
			h->b[w * 64 + (unsigned int)__builtin_ctzll(m)] = 0;
		h->touched[w] = 0;
	}
}

/** qp_hist_quantile() over bare counts with the series' stat. */
uint64_t qp_hist_counts_quantile(const struct qp_hist_counts *h, const struct qp_stat *s, double q);

/** Mean in ns (0 when empty). */
double qp_hist_mean(const struct qp_hist *h);

#endif
