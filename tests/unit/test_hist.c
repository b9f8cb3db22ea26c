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

/* Per-flow counts: added, exchanged between directions, cleared by their bitmap. */
Test(hist, flow_counts_swap_and_clear_only_what_they_counted)
{
	static struct qp_hist_counts a, b;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	static const uint64_t va[] = {0, 63, 64, 1000000, UINT64_MAX};
	static const uint64_t vb[] = {5, 1000000, 1000001, 70000000};
	for (size_t i = 0; i < sizeof(va) / sizeof(va[0]); i++)
		qp_hist_counts_add(&a, va[i]);
	for (size_t i = 0; i < sizeof(vb) / sizeof(vb[0]); i++)
		qp_hist_counts_add(&b, vb[i]);
	qp_hist_counts_add(&b, 5);
	static struct qp_hist_counts a0, b0;
	a0 = a;
	b0 = b;
	qp_hist_counts_swap(&a, &b);
	cr_assert(memcmp(&a, &b0, sizeof(a)) == 0, "a holds what b held, bitmap included");
	cr_assert(memcmp(&b, &a0, sizeof(b)) == 0, "b holds what a held, bitmap included");
	cr_assert_eq(a.b[5], 2);
	cr_assert_eq(b.b[QP_HIST_BUCKETS - 1], 1);
	qp_hist_counts_clear(&a);
	qp_hist_counts_clear(&b);
	static const struct qp_hist_counts zero;
	cr_assert(memcmp(&a, &zero, sizeof(a)) == 0, "every count and bit cleared");
	cr_assert(memcmp(&b, &zero, sizeof(b)) == 0, "every count and bit cleared");
}
