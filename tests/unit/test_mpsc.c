/*
 * qp_mpsc: the ring the flow table's free entries and batches wait in. What
 * goes in comes out once, in order, whatever the number of producers; a full
 * ring refuses, an empty one says so, laps past 2^32 positions change nothing.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "qp_mpsc.h"

Test(mpsc, one_thread_takes_what_it_put_in_order)
{
	size_t bytes = 0;
	struct qp_mpsc *q = qp_mpsc_create(5, &bytes);
	cr_assert_not_null(q);
	cr_assert_eq(q->mask, 7, "5 values: a ring of 8");
	cr_assert_eq(bytes, qp_mpsc_bytes(5));
	cr_assert_eq(bytes, sizeof(struct qp_mpsc) + 8 * 8);
	uint32_t v = 99;
	cr_assert_eq(qp_mpsc_get(q, &v), -1, "empty");
	cr_assert_eq(v, 99, "an empty ring leaves *v alone");
	/* 40 laps of the ring, filled to the brim each time */
	uint32_t next = 0, want = 0;
	for (int lap = 0; lap < 40; lap++) {
		for (int i = 0; i < 8; i++)
			cr_assert_eq(qp_mpsc_put(q, next++), 0);
		cr_assert_eq(qp_mpsc_count(q), 8);
		cr_assert_eq(qp_mpsc_put(q, 12345), -1, "full at 8");
		for (int i = 0; i < 8; i++) {
			cr_assert_eq(qp_mpsc_get(q, &v), 0);
			cr_assert_eq(v, want++, "lap %d", lap);
		}
		cr_assert_eq(qp_mpsc_get(q, &v), -1);
		cr_assert_eq(qp_mpsc_count(q), 0);
	}
	/* one in, one out, by turns */
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(qp_mpsc_put(q, (uint32_t)i * 3), 0);
		cr_assert_eq(qp_mpsc_get(q, &v), 0);
		cr_assert_eq(v, (uint32_t)i * 3);
	}
	qp_mpsc_destroy(q);
	cr_assert_null(qp_mpsc_create(0, NULL));
	cr_assert_null(qp_mpsc_create((1u << 30) + 1, NULL));
}

Test(mpsc, positions_past_two_to_the_32)
{
	struct qp_mpsc *q = qp_mpsc_create(4, NULL);
	cr_assert_not_null(q);
	/* as if 2^32 - 6 values had gone through: every slot at that lap */
	uint32_t start = 0u - 6;
	for (uint32_t i = 0; i <= q->mask; i++) {
		uint32_t pos = (start & ~q->mask) + i;
		if (pos < start)
			pos += q->mask + 1; /* the slots before start are a lap on */
		q->slot[pos & q->mask].lap = pos & ~q->mask;
	}
	q->put = q->get = start;
	uint32_t v;
	for (uint32_t k = 0; k < 50; k++) {
		cr_assert_eq(qp_mpsc_put(q, k), 0, "put %u", k);
		cr_assert_eq(qp_mpsc_put(q, k + 1000), 0);
		cr_assert_eq(qp_mpsc_count(q), 2);
		cr_assert_eq(qp_mpsc_get(q, &v), 0);
		cr_assert_eq(v, k);
		cr_assert_eq(qp_mpsc_get(q, &v), 0);
		cr_assert_eq(v, k + 1000);
	}
	cr_assert_eq(q->get, start + 100, "the positions went past 2^32");
	qp_mpsc_destroy(q);
}

#define PRODUCERS 3
#define EACH 200000

struct prod {
	struct qp_mpsc *q;
	uint32_t id;
	uint64_t full; /* puts refused: the consumer was behind */
};

static void *producer(void *arg)
{
	struct prod *p = arg;
	for (uint32_t i = 0; i < EACH; i++) {
		uint32_t v = p->id << 24 | i;
		while (qp_mpsc_put(p->q, v) != 0)
			p->full++;
	}
	return NULL;
}

Test(mpsc, three_producers_one_consumer, .timeout = 60)
{
	struct qp_mpsc *q = qp_mpsc_create(64, NULL);
	cr_assert_not_null(q);
	struct prod p[PRODUCERS];
	pthread_t th[PRODUCERS];
	for (uint32_t k = 0; k < PRODUCERS; k++) {
		p[k] = (struct prod){q, k + 1, 0};
		cr_assert_eq(pthread_create(&th[k], NULL, producer, &p[k]), 0);
	}
	uint32_t next[PRODUCERS] = {0};
	uint64_t got = 0, empty = 0;
	while (got < (uint64_t)PRODUCERS * EACH) {
		uint32_t v;
		if (qp_mpsc_get(q, &v) != 0) {
			cr_assert_lt(++empty, 4000000000ull, "the producers stopped short");
			continue;
		}
		uint32_t id = v >> 24, i = v & 0xffffff;
		cr_assert(id >= 1 && id <= PRODUCERS, "a value no producer put: %#x", v);
		/* each producer's values come out once, in its order */
		cr_assert_eq(i, next[id - 1], "producer %u: %u after %u", id, i, next[id - 1]);
		next[id - 1]++;
		got++;
	}
	for (uint32_t k = 0; k < PRODUCERS; k++)
		pthread_join(th[k], NULL);
	uint32_t v;
	cr_assert_eq(qp_mpsc_get(q, &v), -1, "nothing more");
	cr_assert_eq(qp_mpsc_count(q), 0);
	qp_mpsc_destroy(q);
}
