/*
 * qp_clock: TSC to CLOCK_REALTIME mapping for live timestamps.
 *
 * Workers read the TSC once per burst and turn it into nanoseconds of real
 * time with a mapping the management core re-anchors periodically (so NTP/PTP
 * steering of the system clock reaches packet timestamps). A mapping is
 * immutable once published: the management core builds a new one and
 * publishes it with rcu_assign_pointer; workers read it under the QSBR read
 * side; the old one is freed with call_rcu.
 */
#ifndef QP_CLOCK_H
#define QP_CLOCK_H

#include <stdint.h>

#include <urcu-qsbr.h>

struct qp_clock {
	uint64_t tsc0;  /* TSC at the anchor */
	uint64_t ns0;   /* CLOCK_REALTIME ns at the anchor */
	uint64_t mult;  /* ns per TSC tick, fixed point with `shift` fraction bits */
	uint32_t shift;
	struct rcu_head rcu;
};

/**
 * Build a mapping anchored now.
 * @param tsc_hz TSC frequency (rte_get_tsc_hz()), > 0
 * @param read_tsc reads the TSC (rte_rdtsc in production, a fake in tests)
 * @return the mapping, or NULL with errno EINVAL or ENOMEM
 */
struct qp_clock *qp_clock_anchor(uint64_t tsc_hz, uint64_t (*read_tsc)(void));

/** Nanoseconds of real time for a TSC value (any thread, no syscall). */
static inline uint64_t qp_clock_ns(const struct qp_clock *c, uint64_t tsc)
{
	if (tsc < c->tsc0) /* read before the anchor: treat as the anchor */
		return c->ns0;
	return c->ns0 + (uint64_t)(((unsigned __int128)(tsc - c->tsc0) * c->mult) >> c->shift);
}

/** CLOCK_REALTIME now, in ns. */
uint64_t qp_clock_realtime_ns(void);

/**
 * The kernel's view of the system clock (adjtimex): "synchronised",
 * "unsynchronised" or "unknown", and its estimated error in us.
 */
const char *qp_clock_sync_state(uint32_t *err_us);

#endif
