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
 * are kept beside them (struct qp_stat). A flow's samples mostly fall in a few
 * buckets: the first QP_HIST_FEW distinct ones are kept in order in the
 * distribution itself (96 bytes), and only a distribution that meets more
 * spills into its struct qp_hist_many, every bucket's count (8,184 bytes),
 * where `touched` marks the buckets that are not zero, so the next flow to
 * take it clears those only. A 16 KiB pair of whole distributions touched by
 * every TCP flow's first RTT sample was a fifth of an offline run of the
 * realistic mix (4,096 of them: 64 MB faulted in); the figures are the same
 * either way, bucket for bucket.
 *
 * Thread-safety: one writer (the flow's worker). A reader on another core (a
 * listing of live flows) may call qp_hist_counts_quantile() and _get() while
 * it adds: it reads `n` once and bounds every index, so its figures may be
 * a sample behind or caught mid-update, as such a reader's always were, but
 * it never reads outside the distribution.
 */
#define QP_HIST_WORDS ((QP_HIST_BUCKETS + 63) / 64)
#define QP_HIST_FEW 14
#define QP_HIST_MANY 0xFFFFu /* qp_hist_counts.n: the counts are in `many` */

struct qp_hist_many {
	uint32_t b[QP_HIST_BUCKETS];
	uint64_t touched[QP_HIST_WORDS];
};

struct qp_hist_counts {
	uint16_t n;                /* buckets in idx/cnt, or QP_HIST_MANY */
	uint16_t idx[QP_HIST_FEW]; /* ascending */
	uint32_t cnt[QP_HIST_FEW];
	struct qp_hist_many *many; /* bound for good (qp_hist_counts_bind) */
};
_Static_assert(sizeof(struct qp_hist_counts) == 96, "a distribution is a line and a half");

/** Bind an empty (zeroed) distribution to the whole one it spills into. */
static inline void qp_hist_counts_bind(struct qp_hist_counts *h, struct qp_hist_many *m)
{
	h->many = m;
}

/** Count one value (out of line: inlined at the packet path's three places,
 * it made GCC stop inlining the RTP path's interval update, 519 -> 569
 * instructions a frame). */
void qp_hist_counts_add(struct qp_hist_counts *h, uint64_t v);

/** The count of bucket i. */
uint32_t qp_hist_counts_get(const struct qp_hist_counts *h, uint32_t i);

/** Exchange two distributions (each keeps a whole one to spill into). */
static inline void qp_hist_counts_swap(struct qp_hist_counts *a, struct qp_hist_counts *b)
{
	struct qp_hist_counts t = *a;
	*a = *b;
	*b = t;
}

/** Empty the distribution, visiting only the buckets that were counted in. */
void qp_hist_counts_clear(struct qp_hist_counts *h);

/** Make dst (bound) count what src counts, in its own whole one when src spilled. */
void qp_hist_counts_copy(struct qp_hist_counts *dst, const struct qp_hist_counts *src);

/** qp_hist_quantile() over bare counts with the series' stat. */
uint64_t qp_hist_counts_quantile(const struct qp_hist_counts *h, const struct qp_stat *s, double q);

/** Mean in ns (0 when empty). */
double qp_hist_mean(const struct qp_hist *h);

#endif
