/*
 * qp_flow_ring: flow records a worker ends, on their way to the management
 * core (IPFIX export). Single producer (the worker lcore), single consumer
 * (the management core); fixed size, never blocks: a full ring drops the
 * record and counts it. The worker fills the slot in place (a record is
 * ~0.5 KiB: no copy through the stack).
 */
#ifndef QP_FLOW_RING_H
#define QP_FLOW_RING_H

#include <stdint.h>
#include <stdlib.h>

#include "qp_flow_table.h"
#include "qp_report.h"

struct qp_flow_ring {
	uint32_t mask;
	uint64_t dropped;                           /* producer writes, consumer reads */
	uint64_t tail __attribute__((aligned(64))); /* producer */
	uint64_t head __attribute__((aligned(64))); /* consumer */
	struct qp_flow_rec r[] __attribute__((aligned(64)));
};

/** A ring of 2^order records (order 4..20), or NULL. */
static inline struct qp_flow_ring *qp_flow_ring_create(unsigned int order)
{
	if (order < 4 || order > 20)
		return NULL;
	size_t n = (size_t)1 << order;
	struct qp_flow_ring *q = aligned_alloc(64, sizeof(*q) + n * sizeof(struct qp_flow_rec));
	if (!q)
		return NULL;
	q->mask = (uint32_t)(n - 1);
	q->dropped = q->tail = q->head = 0;
	return q;
}

/** The slot the next record goes in (producer), or NULL when full (counted). */
static inline struct qp_flow_rec *qp_flow_ring_slot(struct qp_flow_ring *q)
{
	uint64_t t = q->tail;
	if (t - __atomic_load_n(&q->head, __ATOMIC_ACQUIRE) > q->mask) {
		__atomic_store_n(&q->dropped, q->dropped + 1, __ATOMIC_RELAXED);
		return NULL;
	}
	return &q->r[t & q->mask];
}

/** Publish the slot qp_flow_ring_slot() gave (producer). */
static inline void qp_flow_ring_commit(struct qp_flow_ring *q)
{
	/* the record's bytes before the tail that shows them */
	__atomic_store_n(&q->tail, q->tail + 1, __ATOMIC_RELEASE);
}

/** The oldest record (consumer), or NULL when empty; qp_flow_ring_pop() frees it. */
static inline const struct qp_flow_rec *qp_flow_ring_peek(struct qp_flow_ring *q)
{
	uint64_t h = q->head;
	return h == __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE) ? NULL : &q->r[h & q->mask];
}

static inline void qp_flow_ring_pop(struct qp_flow_ring *q)
{
	/* the slot is read before the producer may take it again */
	__atomic_store_n(&q->head, q->head + 1, __ATOMIC_RELEASE);
}

static inline uint64_t qp_flow_ring_dropped(const struct qp_flow_ring *q)
{
	return __atomic_load_n(&q->dropped, __ATOMIC_RELAXED);
}

/* What a worker's export callback needs: its ring, and the E-model's settings. */
struct qp_flow_ring_hook {
	struct qp_flow_ring *ring;
	const struct qp_rtp_cfg *rtp;
};

/**
 * A qp_flow_export_fn (arg: a struct qp_flow_ring_hook): the ended flow's
 * record into the worker's ring, filled in place (the worker, at a flow's
 * end: idle or active timeout, eviction).
 */
void qp_flow_ring_export(const struct qp_flow *f, enum qp_flow_end why, void *arg);

#endif
