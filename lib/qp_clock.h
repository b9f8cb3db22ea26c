/*
 * qp_clock: TSC to CLOCK_REALTIME mapping for live timestamps, disciplined.
 *
 * Workers read the TSC once per burst and turn it into nanoseconds of real
 * time with a mapping (struct qp_clock) that the management core rebuilds at
 * every anchor and publishes with rcu_assign_pointer; workers read it under
 * the QSBR read side; the old one is freed with call_rcu. A mapping is
 * immutable once published.
 *
 * The discipline (struct qp_clock_disc, management core only) never trusts a
 * nominal TSC rate (DPDK's rte_get_tsc_hz() rounds: 1,879 ppm off on one of
 * our machines). Each anchor reads the TSC around CLOCK_MONOTONIC_RAW and
 * CLOCK_REALTIME (best of a few reads, so a preempted read is not used):
 *   - the TSC rate is the least-squares slope of MONOTONIC_RAW against the
 *     TSC over a window of anchors (raw time is never slewed or stepped);
 *   - REALTIME's own rate against raw time (what NTP/PTP steer) follows from
 *     the drift of REALTIME - MONOTONIC_RAW between anchors;
 *   - the mapping is piecewise linear and continuous: a new segment starts a
 *     little after the anchor, where the segment in force is, and its slope
 *     slews the mapping towards REALTIME (at most QP_CLOCK_MAX_SLEW_PPM), so
 *     packet timestamps never step and never go back while measuring;
 *   - a step of REALTIME (NTP/PTP stepping the clock) shows up as a jump of
 *     REALTIME - MONOTONIC_RAW: it is counted and, while a measurement runs,
 *     slewed out like any other offset instead of becoming a delay or jitter
 *     sample; with nothing measured, the mapping takes real time at once.
 */
#ifndef QP_CLOCK_H
#define QP_CLOCK_H

#include <stdint.h>

#include <urcu-qsbr.h>

#define QP_CLOCK_SHIFT 32
/* the largest rate correction towards real time (ntpd's slew limit) */
#define QP_CLOCK_MAX_SLEW_PPM 500
/* anchors in the rate fit (one a second once calibrated) */
#define QP_CLOCK_WINDOW 32

/* What the discipline knows; carried by every published mapping. */
struct qp_clock_status {
	const char *state;     /* "calibrating", "disciplined", "undisciplined" */
	const char *reason;    /* why not disciplined, or "" */
	double nominal_hz;     /* the rate it was given (DPDK's) */
	double hz;             /* the estimated TSC rate against MONOTONIC_RAW */
	double nominal_err_ppm; /* (nominal - estimate) / estimate */
	double hz_stderr_ppm;  /* standard error of the estimate */
	double realtime_ppm;   /* REALTIME's rate against MONOTONIC_RAW (NTP's steering) */
	int64_t max_residual_ns; /* largest |residual| of the fit over the window */
	int64_t offset_ns;     /* REALTIME minus the mapping, at the last anchor */
	double slew_ppm;       /* correction of the segment in force */
	uint32_t anchors;      /* anchors in the window */
	int64_t max_step_ns;   /* largest step of packet time at a re-anchor while measuring */
	uint64_t steps;        /* steps of REALTIME seen */
	int64_t last_step_ns;  /* the latest one's size */
	uint64_t updates;      /* anchors taken */
};

/*
 * The status's numbers as the probe reports them (/api/v1/stats "clock",
 * /metrics qprobe_clock_*, telemetry /qprobe/clock):
 * X(field, json name, metric name, metric type, help).
 */
#define QP_CLOCK_STATUS_FIELDS(X)                                                                \
	X(hz, tsc_hz, tsc_hz, gauge, "TSC rate estimated against CLOCK_MONOTONIC_RAW, Hz")       \
	X(nominal_hz, nominal_hz, nominal_hz, gauge, "TSC rate the platform claims (DPDK), Hz") \
	X(nominal_err_ppm, nominal_error_ppm, nominal_error_ppm, gauge,                          \
	  "How far the platform's TSC rate is from the estimate, ppm")                          \
	X(hz_stderr_ppm, rate_stderr_ppm, rate_stderr_ppm, gauge,                                \
	  "Standard error of the estimated TSC rate, ppm")                                       \
	X(realtime_ppm, realtime_rate_ppm, realtime_rate_ppm, gauge,                             \
	  "CLOCK_REALTIME's rate against CLOCK_MONOTONIC_RAW (NTP/PTP steering), ppm")          \
	X(max_residual_ns, max_residual_ns, max_residual_ns, gauge,                              \
	  "Largest residual of the rate fit over the window of anchors, ns")                    \
	X(offset_ns, offset_ns, offset_ns, gauge,                                                \
	  "CLOCK_REALTIME minus packet time at the latest anchor, ns")                          \
	X(slew_ppm, slew_ppm, slew_ppm, gauge,                                                   \
	  "Rate correction slewing packet time towards CLOCK_REALTIME, ppm")                    \
	X(anchors, window_anchors, window_anchors, gauge, "Anchors in the rate fit")             \
	X(max_step_ns, max_reanchor_step_ns, max_reanchor_step_ns, gauge,                        \
	  "Largest step of packet time at a re-anchor while measuring (the mappings' join), ns") \
	X(steps, realtime_steps, realtime_steps_total, counter,                                  \
	  "Steps of CLOCK_REALTIME seen (NTP/PTP stepping the system clock)")                   \
	X(last_step_ns, last_step_ns, last_step_ns, gauge, "Size of the latest step, ns")        \
	X(updates, anchors_taken, anchors_total, counter, "Anchors taken")

/*
 * One published mapping: the segment in force from tsc0 on, and the one
 * before it for TSC values read before tsc0 (a worker may stamp with a TSC
 * read just before the switch). ns0 = prev(tsc0): the two meet.
 */
struct qp_clock {
	uint64_t tsc0, ns0, mult;                /* mult: ns per tick << QP_CLOCK_SHIFT */
	uint64_t prev_tsc0, prev_ns0, prev_mult;
	struct qp_clock_status st;
	struct rcu_head rcu;
};

/** Nanoseconds of real time for a TSC value (any thread, no syscall). */
static inline uint64_t qp_clock_ns(const struct qp_clock *c, uint64_t tsc)
{
	if (tsc >= c->tsc0)
		return c->ns0 +
		       (uint64_t)(((unsigned __int128)(tsc - c->tsc0) * c->mult) >> QP_CLOCK_SHIFT);
	if (tsc >= c->prev_tsc0)
		return c->prev_ns0 + (uint64_t)(((unsigned __int128)(tsc - c->prev_tsc0) *
						 c->prev_mult) >> QP_CLOCK_SHIFT);
	return c->prev_ns0; /* before anything this mapping knows */
}

/*
 * Where the discipline reads time: the TSC, and the two system clocks in ns.
 * Production uses qp_clock_system_src(); tests give fakes.
 */
struct qp_clock_src {
	uint64_t (*tsc)(void *arg);
	uint64_t (*raw_ns)(void *arg);  /* CLOCK_MONOTONIC_RAW */
	uint64_t (*real_ns)(void *arg); /* CLOCK_REALTIME */
	void *arg;
};

/** The system's clocks and a TSC reader (rte_rdtsc in the probe). */
struct qp_clock_src qp_clock_system_src(uint64_t (*read_tsc)(void));

struct qp_clock_disc;

/**
 * Start disciplining: two anchors `calib_ns` apart (the caller's thread sleeps
 * in between) give a first rate.
 * @param nominal_hz the TSC rate the platform claims (rte_get_tsc_hz()), > 0;
 *        used only until the first two anchors, and reported beside the estimate
 * @param invariant 0 when the TSC is known not to be invariant (reported)
 * @return the discipline, or NULL with errno EINVAL or ENOMEM
 */
struct qp_clock_disc *qp_clock_disc_create(const struct qp_clock_src *src, double nominal_hz,
					   uint64_t calib_ns, int invariant);

/** Free the discipline (not the mappings it built; NULL accepted). */
void qp_clock_disc_destroy(struct qp_clock_disc *d);

/** What one anchor found, for the caller's log. */
struct qp_clock_event {
	int stepped;     /* REALTIME stepped since the last anchor */
	int64_t step_ns; /* by this much */
	int applied;     /* the mapping took real time at once (nothing was measured) */
	int became_undisciplined; /* the state went to "undisciplined" at this anchor */
};

/**
 * Take an anchor and build the next mapping (to publish; the caller frees the
 * one it replaces with call_rcu).
 * @param measuring nonzero while any measurement runs: offsets are slewed,
 *        never stepped; zero: the mapping may take real time at once
 * @param ev what happened (may be NULL)
 * @return the new mapping, or NULL with errno ENOMEM (keep the old one)
 */
struct qp_clock *qp_clock_disc_update(struct qp_clock_disc *d, int measuring,
				      struct qp_clock_event *ev);

/** The mapping built last (owned by the caller once returned by create/update). */
const struct qp_clock *qp_clock_disc_current(const struct qp_clock_disc *d);

/** Nanoseconds to wait before the next anchor: short while calibrating, then 1 s. */
uint64_t qp_clock_disc_period_ns(const struct qp_clock_disc *d);

/** 1 when the CPU says its TSC is invariant (CPUID 0x80000007 EDX bit 8), else 0. */
int qp_clock_tsc_invariant(void);

/** CLOCK_REALTIME now, in ns. */
uint64_t qp_clock_realtime_ns(void);

/**
 * The kernel's view of the system clock (adjtimex): "synchronised",
 * "unsynchronised" or "unknown", and its estimated error in us.
 */
const char *qp_clock_sync_state(uint32_t *err_us);

#endif
