/*
 * qp_tp_ring: the records a worker takes for a two-point measurement, on their
 * way to the management side. Single producer (the worker lcore), single
 * consumer (the thread that ships or matches them); fixed size, never blocks:
 * a full ring drops the record and counts it.
 */
#ifndef QP_TP_RING_H
#define QP_TP_RING_H

#include <stdint.h>
#include <stdlib.h>

#include "qp_tp.h"

struct qp_tp_ring {
	uint32_t mask;
	uint64_t dropped;                       /* producer writes, consumer reads */
	uint64_t tail __attribute__((aligned(64))); /* producer */
	uint64_t head __attribute__((aligned(64))); /* consumer */
	struct qp_tp_rec r[] __attribute__((aligned(64)));
};

/** A ring of 2^order records (order 4..24), or NULL. */
static inline struct qp_tp_ring *qp_tp_ring_create(unsigned int order)
{
	if (order < 4 || order > 24)
		return NULL;
	size_t n = (size_t)1 << order;
	struct qp_tp_ring *q = aligned_alloc(64, sizeof(*q) + n * sizeof(struct qp_tp_rec));
	if (!q)
		return NULL;
	q->mask = (uint32_t)(n - 1);
	q->dropped = q->tail = q->head = 0;
	return q;
}

static inline int qp_tp_ring_push(struct qp_tp_ring *q, const struct qp_tp_rec *r)
{
	uint64_t t = q->tail;
	if (t - __atomic_load_n(&q->head, __ATOMIC_ACQUIRE) > q->mask) {
		__atomic_store_n(&q->dropped, q->dropped + 1, __ATOMIC_RELAXED);
		return -1;
	}
	q->r[t & q->mask] = *r;
	__atomic_store_n(&q->tail, t + 1, __ATOMIC_RELEASE);
	return 0;
}

/** Take up to max records into out. @return how many. */
static inline uint32_t qp_tp_ring_pop(struct qp_tp_ring *q, struct qp_tp_rec *out, uint32_t max)
{
	uint64_t h = q->head, t = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
	uint32_t n = 0;
	for (; h != t && n < max; h++)
		out[n++] = q->r[h & q->mask];
	__atomic_store_n(&q->head, h, __ATOMIC_RELEASE);
	return n;
}

static inline uint64_t qp_tp_ring_dropped(const struct qp_tp_ring *q)
{
	return __atomic_load_n(&q->dropped, __ATOMIC_RELAXED);
}

#endif
