/*
 * Histogram tests: exact small values, the 1/128 relative error bound against
 * sorted samples, merging, empty and extreme inputs.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qp_hist.h"

static struct qp_hist h, h2;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* nearest rank, as documented */
static uint64_t exact_quantile(uint64_t *v, size_t n, double q)
{
	size_t rank = (size_t)ceil(q * (double)n);
	if (rank < 1)
		rank = 1;
	return v[rank - 1];
}

Test(hist, empty)
{
	qp_hist_reset(&h);
	cr_assert_eq(qp_hist_quantile(&h, 0.5), 0);
	cr_assert_eq(qp_hist_mean(&h), 0.0);
	cr_assert_eq(h.count, 0);
}

Test(hist, one_sample_is_exact_at_every_quantile)
{
	qp_hist_reset(&h);
	qp_hist_add(&h, 24350123);
	cr_assert_eq(qp_hist_quantile(&h, 0.0), 24350123);
	cr_assert_eq(qp_hist_quantile(&h, 0.5), 24350123);
	cr_assert_eq(qp_hist_quantile(&h, 0.99), 24350123);
	cr_assert_eq(qp_hist_quantile(&h, 1.0), 24350123);
	cr_assert_eq(h.min, 24350123);
	cr_assert_eq(h.max, 24350123);
}

Test(hist, small_values_are_exact)
{
	qp_hist_reset(&h);
	for (uint64_t v = 0; v < 64; v++)
		qp_hist_add(&h, v);
	cr_assert_eq(qp_hist_quantile(&h, 0.5), 31); /* rank 32 */
	cr_assert_eq(qp_hist_quantile(&h, 0.25), 15);
	cr_assert_eq(qp_hist_mean(&h), 31.5);
}

Test(hist, bucket_boundaries)
{
	cr_assert_eq(qp_hist_index(63), 63);
	cr_assert_eq(qp_hist_index(64), 64);
	cr_assert_eq(qp_hist_index(127), 127);
	cr_assert_eq(qp_hist_index(128), 128);
	cr_assert_eq(qp_hist_index(129), 128, "two values a bucket from 128 on");
	cr_assert_eq(qp_hist_index((1ULL << 36) - 1), QP_HIST_BUCKETS - 1);
	cr_assert_eq(qp_hist_index(1ULL << 36), QP_HIST_BUCKETS - 1);
	cr_assert_eq(qp_hist_index(UINT64_MAX), QP_HIST_BUCKETS - 1);
}

Test(hist, relative_error_within_one_part_in_128)
{
	static uint64_t v[100000];
	unsigned int seed = 12345;
	for (int round = 0; round < 3; round++) {
		qp_hist_reset(&h);
		size_t n = round == 0 ? 100000 : round == 1 ? 1000 : 7;
		for (size_t i = 0; i < n; i++) {
			/* log-uniform from 1 us to 10 s */
			double e = 3 + 7 * (double)rand_r(&seed) / RAND_MAX;
			v[i] = (uint64_t)pow(10, e);
			qp_hist_add(&h, v[i]);
		}
		qsort(v, n, sizeof(v[0]), cmp_u64);
		const double qs[] = {0.01, 0.1, 0.5, 0.9, 0.99, 0.999};
		for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
			uint64_t want = exact_quantile(v, n, qs[k]);
			uint64_t got = qp_hist_quantile(&h, qs[k]);
			double err = fabs((double)got - (double)want) / (double)want;
			cr_assert_leq(err, 1.0 / 128, "n=%zu q=%g: %lu vs %lu (%.4f%%)", n, qs[k],
				      (unsigned long)got, (unsigned long)want, err * 100);
		}
		cr_assert_eq(h.min, v[0]);
		cr_assert_eq(h.max, v[n - 1]);
	}
}

Test(hist, merge_equals_adding_everything)
{
	qp_hist_reset(&h);
	qp_hist_reset(&h2);
	struct qp_hist *all = calloc(1, sizeof(*all));
	for (uint64_t i = 1; i <= 5000; i++) {
		uint64_t x = i * 7919 % 100003 * 1000;
		qp_hist_add(i % 3 ? &h : &h2, x);
		qp_hist_add(all, x);
	}
	qp_hist_merge(&h, &h2);
	cr_assert_eq(memcmp(&h, all, sizeof(h)), 0);
	struct qp_hist empty;
	qp_hist_reset(&empty);
	qp_hist_merge(all, &empty);
	cr_assert_eq(memcmp(&h, all, sizeof(h)), 0, "merging an empty histogram changes nothing");
	qp_hist_merge(&empty, all);
	cr_assert_eq(empty.min, all->min);
	free(all);
}

Test(hist, huge_values_keep_min_max_and_sum_exact)
{
	qp_hist_reset(&h);
	qp_hist_add(&h, 1ULL << 40);
	qp_hist_add(&h, 1ULL << 41);
	cr_assert_eq(h.max, 1ULL << 41);
	cr_assert_eq(h.sum, (1ULL << 40) + (1ULL << 41));
	uint64_t p = qp_hist_quantile(&h, 0.5);
	cr_assert(p >= h.min && p <= h.max);
}

/* The counts of h as a whole array, read through qp_hist_counts_get. */
static void counts_of(const struct qp_hist_counts *h, uint32_t *out)
{
	for (uint32_t i = 0; i < QP_HIST_BUCKETS; i++)
		out[i] = qp_hist_counts_get(h, i);
}

/*
 * Per-flow counts: the same bucket for bucket, and the same percentiles, as a
 * whole histogram of the same samples, whether they stay in the few buckets
 * kept in order or spill into the whole distribution; exchanged between
 * directions, copied, and cleared (the whole one by its bitmap, ready for the
 * next flow).
 */
Test(hist, flow_counts_equal_a_whole_histogram_few_or_many)
{
	static struct qp_hist_many ma, mb, mc;
	static struct qp_hist_counts a, b, c;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	qp_hist_counts_bind(&a, &ma);
	qp_hist_counts_bind(&b, &mb);
	qp_hist_counts_bind(&c, &mc);
	static struct qp_hist ha, hb;
	qp_hist_reset(&ha);
	qp_hist_reset(&hb);
	struct qp_stat sa = {0, 0, 0, 0}, sb = {0, 0, 0, 0};
	/* a: 14 distinct buckets, in a scrambled order, some counted twice:
	 * they all stay in the few; b: 30 distinct ones, once each, spilling at
	 * the 15th */
	static const uint64_t va[] = {5, 1000000, 63, 64, 70000000, 5, UINT64_MAX, 999, 1000000,
				      20000, 300000, 4000000, 45000000, 7, 128, 129000};
	for (size_t i = 0; i < sizeof(va) / sizeof(va[0]); i++) {
		qp_hist_counts_add(&a, va[i]);
		qp_hist_add(&ha, va[i]);
		qp_stat_add(&sa, va[i]);
	}
	cr_assert_eq(a.n, 14, "14 distinct buckets stay in the few");
	for (uint64_t k = 0; k < 30; k++) {
		uint64_t v = 1000 + k * 997 * k * 13;
		qp_hist_counts_add(&b, v);
		qp_hist_add(&hb, v);
		qp_stat_add(&sb, v);
	}
	cr_assert_eq(b.n, QP_HIST_MANY, "30 distinct buckets spill");
	static uint32_t got[QP_HIST_BUCKETS], want[QP_HIST_BUCKETS];
	static const double qs[] = {0, 0.01, 0.25, 0.5, 0.9, 0.99, 1};
	const struct {
		struct qp_hist_counts *h;
		struct qp_hist *whole;
		struct qp_stat *s;
	} cases[] = {{&a, &ha, &sa}, {&b, &hb, &sb}};
	for (int k = 0; k < 2; k++) {
		counts_of(cases[k].h, got);
		for (uint32_t i = 0; i < QP_HIST_BUCKETS; i++)
			want[i] = (uint32_t)cases[k].whole->b[i];
		cr_assert(memcmp(got, want, sizeof(got)) == 0, "case %d: the counts of every bucket", k);
		for (size_t q = 0; q < sizeof(qs) / sizeof(qs[0]); q++)
			cr_assert_eq(qp_hist_counts_quantile(cases[k].h, cases[k].s, qs[q]),
				     qp_hist_quantile(cases[k].whole, qs[q]), "case %d q %g", k, qs[q]);
	}
	/* swapped: each holds what the other held */
	qp_hist_counts_swap(&a, &b);
	counts_of(&b, got);
	for (uint32_t i = 0; i < QP_HIST_BUCKETS; i++)
		want[i] = (uint32_t)ha.b[i];
	cr_assert(memcmp(got, want, sizeof(got)) == 0, "b holds what a held");
	cr_assert_eq(qp_hist_counts_quantile(&a, &sb, 0.9), qp_hist_quantile(&hb, 0.9));
	/* copied, into a distribution of its own (c counted something before) */
	qp_hist_counts_add(&c, 77777777);
	qp_hist_counts_copy(&c, &a);
	cr_assert(c.many == &mc, "the copy keeps its own whole distribution");
	counts_of(&c, got);
	for (uint32_t i = 0; i < QP_HIST_BUCKETS; i++)
		want[i] = (uint32_t)hb.b[i];
	cr_assert(memcmp(got, want, sizeof(got)) == 0, "c holds what a holds, nothing of its own");
	/* cleared: nothing counted, the whole ones all zero again */
	qp_hist_counts_clear(&a);
	qp_hist_counts_clear(&b);
	qp_hist_counts_clear(&c);
	static const struct qp_hist_many zero;
	cr_assert(memcmp(&ma, &zero, sizeof(ma)) == 0 && memcmp(&mb, &zero, sizeof(mb)) == 0 &&
			  memcmp(&mc, &zero, sizeof(mc)) == 0,
		  "every count and bit of the whole ones cleared");
	for (int k = 0; k < 3; k++) {
		counts_of(k == 0 ? &a : k == 1 ? &b : &c, got);
		static const uint32_t none[QP_HIST_BUCKETS];
		cr_assert(memcmp(got, none, sizeof(got)) == 0, "distribution %d counts nothing", k);
	}
	cr_assert_eq(a.n, 0);
	qp_hist_counts_add(&a, 5);
	cr_assert_eq(qp_hist_counts_get(&a, 5), 1, "counting again after a clear");
}
