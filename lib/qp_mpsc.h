/*
 * qp_mpsc: a bounded ring of 32-bit values, many producers and one
 * consumer, without locks (D. Vyukov's bounded queue: each slot says which
 * lap it is in and whether it is filled, so a producer that has claimed a
 * slot but not filled it yet holds back the consumer at that slot only).
 * 8 bytes a slot, like DPDK's rte_ring of pointers, and no DPDK: a capture
 * file's run does not load it. A slot's lap is kept relative to the slot
 * (position - index), so a ring of zeros is an empty one: its memory is
 * faulted in as values come, not at creation. The flow table's free entries
 * and free batches wait in them.
 *
 * Thread-safety: qp_mpsc_put from any thread; qp_mpsc_get from one thread
 * at a time; qp_mpsc_count from any thread (a snapshot).
 */
#ifndef QP_MPSC_H
#define QP_MPSC_H

#include <stddef.h>
#include <stdint.h>

struct qp_mpsc_slot {
	/* the position's lap (position & ~mask) when the slot waits for it
	 * to be filled, one more when it holds its value */
	uint32_t lap;
	uint32_t val;
};

struct qp_mpsc {
	uint32_t mask; /* slots - 1 */
	uint32_t put __attribute__((aligned(64))); /* the next position to fill */
	uint32_t get __attribute__((aligned(64))); /* the next position to take (consumer's) */
	struct qp_mpsc_slot slot[] __attribute__((aligned(64)));
};

/**
 * A ring of at least n values (n: 1 .. 2^30), in anonymous memory faulted
 * in as it is used. *bytes (when not NULL): what it takes. NULL: no memory.
 */
struct qp_mpsc *qp_mpsc_create(uint32_t n, size_t *bytes);

/** Give a ring back (NULL accepted). */
void qp_mpsc_destroy(struct qp_mpsc *q);

/** Bytes qp_mpsc_create(n) takes. */
size_t qp_mpsc_bytes(uint32_t n);

/** Add v. @return 0, or -1 when the ring is full. */
static inline int qp_mpsc_put(struct qp_mpsc *q, uint32_t v)
{
	uint32_t pos = __atomic_load_n(&q->put, __ATOMIC_RELAXED);
	for (;;) {
		struct qp_mpsc_slot *s = &q->slot[pos & q->mask];
		uint32_t lap = pos & ~q->mask;
		int32_t d = (int32_t)(__atomic_load_n(&s->lap, __ATOMIC_ACQUIRE) - lap);
		if (d == 0) {
			if (__atomic_compare_exchange_n(&q->put, &pos, pos + 1, 1, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED)) {
				s->val = v;
				__atomic_store_n(&s->lap, lap + 1, __ATOMIC_RELEASE);
				return 0;
			}
			/* pos now holds where another producer moved it */
		} else if (d < 0) {
			return -1; /* the slot still holds a value of the lap before */
		} else {
			pos = __atomic_load_n(&q->put, __ATOMIC_RELAXED);
		}
	}
}

/** Take the oldest value into *v. @return 0, or -1 when there is none (yet). */
static inline int qp_mpsc_get(struct qp_mpsc *q, uint32_t *v)
{
	uint32_t pos = q->get;
	struct qp_mpsc_slot *s = &q->slot[pos & q->mask];
	uint32_t lap = pos & ~q->mask;
	if (__atomic_load_n(&s->lap, __ATOMIC_ACQUIRE) != lap + 1)
		return -1;
	*v = s->val;
	__atomic_store_n(&q->get, pos + 1, __ATOMIC_RELAXED);
	/* the slot is the producers' again, for the next lap */
	__atomic_store_n(&s->lap, lap + q->mask + 1, __ATOMIC_RELEASE);
	return 0;
}

/** Values in the ring, or being put there (a snapshot). */
static inline uint32_t qp_mpsc_count(const struct qp_mpsc *q)
{
	uint32_t g = __atomic_load_n(&q->get, __ATOMIC_RELAXED);
	uint32_t p = __atomic_load_n(&q->put, __ATOMIC_RELAXED);
	return p - g <= q->mask + 1 ? p - g : 0;
}

#endif
