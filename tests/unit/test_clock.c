/*
 * qp_clock: the disciplined TSC clock against a simulated machine whose TSC
 * runs at a rate the platform misreports, whose REALTIME is steered (NTP's
 * frequency) and stepped, and whose clock reads can be noisy. Then the real
 * clocks of this machine for a few seconds.
 */
#include "qp_clock.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <x86intrin.h>

/* The simulated machine: true time t (ns) drives everything. */
struct sim {
	double t;          /* ns since boot: MONOTONIC_RAW's truth */
	double hz;         /* the TSC's true rate */
	double real_off;   /* REALTIME - MONOTONIC_RAW at t = 0, ns */
	double real_ppm;   /* REALTIME's rate against MONOTONIC_RAW */
	double step_at;    /* REALTIME steps by step_ns once t passes this */
	double step_ns;
	double noise_ns;   /* raw reads off by up to this (deterministic) */
	uint64_t rng;
	double read_cost;  /* each read takes this long */
};

static double noise(struct sim *s)
{
	s->rng = s->rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return s->noise_ns * (((double)(s->rng >> 11) / 9007199254740992.0) * 2 - 1);
}
static uint64_t sim_tsc(void *arg)
{
	struct sim *s = arg;
	s->t += s->read_cost;
	return (uint64_t)(1000000000ULL + s->t * s->hz / 1e9);
}
static uint64_t sim_raw(void *arg)
{
	struct sim *s = arg;
	s->t += s->read_cost;
	return (uint64_t)llround(s->t + noise(s));
}
/* REALTIME - REAL0 at t (REAL0 kept apart: a double holds 1.7e18 to 256 ns only) */
#define REAL0 1700000000000000000ULL
static double sim_real_at(const struct sim *s, double t)
{
	double r = s->real_off + t * (1 + s->real_ppm / 1e6);
	if (s->step_ns && t >= s->step_at)
		r += s->step_ns;
	return r;
}
static uint64_t sim_real(void *arg)
{
	struct sim *s = arg;
	s->t += s->read_cost;
	return REAL0 + (uint64_t)llround(sim_real_at(s, s->t));
}
static uint64_t tsc_at(const struct sim *s, double t)
{
	return (uint64_t)(1000000000ULL + t * s->hz / 1e9);
}

#define TRUE_HZ 2445404022.0
#define DPDK_HZ 2450000000.0

static struct sim S;
static struct qp_clock_src src = {sim_tsc, sim_raw, sim_real, &S};

static void sim_init(void)
{
	memset(&S, 0, sizeof(S));
	S.hz = TRUE_HZ;
	S.read_cost = 25;
	S.rng = 42;
}

/*
 * Run the discipline for `seconds` of simulated time, anchoring when it asks.
 * Checks at every new mapping that it meets the one before (continuity) and
 * records the largest step seen there; returns the last mapping.
 */
static struct qp_clock last;
static double max_join_ns;
static void run(struct qp_clock_disc *d, double seconds, int measuring)
{
	double end = S.t + seconds * 1e9;
	while (S.t < end) {
		S.t += (double)qp_clock_disc_period_ns(d);
		struct qp_clock_event ev;
		const struct qp_clock *before = qp_clock_disc_current(d);
		struct qp_clock old;
		int had = before != NULL;
		if (had)
			old = *before;
		struct qp_clock *c = qp_clock_disc_update(d, measuring, &ev);
		cr_assert_not_null(c);
		if (had && measuring) {
			/* what a worker still on the old mapping and one on the new
			 * read for the same TSC value, up to the join (the new segment
			 * starts a millisecond after the anchor: by then every worker
			 * has passed a quiescent state and reads the new mapping) */
			for (int64_t dt = -2000000; dt <= 0; dt += 250000) {
				uint64_t tsc = c->tsc0 + (uint64_t)dt;
				double j = fabs((double)qp_clock_ns(c, tsc) - (double)qp_clock_ns(&old, tsc));
				if (j > max_join_ns)
					max_join_ns = j;
			}
		}
		last = *c;
		free(c);
	}
}

/* The mapping's error against REALTIME at true time t. */
static double err_at(double t)
{
	return (double)(int64_t)(qp_clock_ns(&last, tsc_at(&S, t)) - REAL0) - sim_real_at(&S, t);
}

Test(clock, the_rate_is_estimated_not_taken_from_the_platform)
{
	sim_init();
	struct qp_clock_disc *d = qp_clock_disc_create(&src, DPDK_HZ, 0, 1);
	cr_assert_not_null(d);
	S.t += 20e6;
	max_join_ns = 0;
	run(d, 40, 1);
	const struct qp_clock_status *st = &last.st;
	cr_assert_str_eq(st->state, "disciplined");
	cr_assert(fabs(st->hz - TRUE_HZ) / TRUE_HZ * 1e6 < 0.01, "estimate %.3f Hz", st->hz);
	double want = (DPDK_HZ - TRUE_HZ) / TRUE_HZ * 1e6; /* 1879.27 ppm */
	cr_assert(fabs(st->nominal_err_ppm - want) < 0.01, "nominal off by %.3f ppm, want %.3f",
		  st->nominal_err_ppm, want);
	cr_assert(st->max_residual_ns <= 30, "residual %lld ns", (long long)st->max_residual_ns);
	cr_assert_eq(st->anchors, QP_CLOCK_WINDOW);
	cr_assert_eq(st->steps, 0);
	/* on time: within 100 ns of REALTIME a second after the last anchor */
	cr_assert(fabs(err_at(S.t + 1e9)) < 100, "error %.1f ns", err_at(S.t + 1e9));
	qp_clock_disc_destroy(d);
}

/*
 * A NIC clock (rte_eth_read_clock): its rate is nothing like the 1 GHz the
 * probe first assumes (156.25 MHz here, a common PHC tick, 40 ppm fast), and
 * each read crosses PCIe (600 ns). The same discipline maps its counts to
 * real time.
 */
Test(clock, a_nic_clock_of_unknown_rate_is_disciplined_like_the_tsc)
{
	sim_init();
	S.hz = 156.25e6 * (1 + 40e-6);
	S.read_cost = 600;
	S.noise_ns = 50;
	struct qp_clock_disc *d = qp_clock_disc_create(&src, 1e9, 20000000, 1);
	cr_assert_not_null(d);
	max_join_ns = 0;
	run(d, 40, 1);
	const struct qp_clock_status *st = &last.st;
	cr_assert_str_eq(st->state, "disciplined");
	cr_assert(fabs(st->hz - S.hz) / S.hz * 1e6 < 0.05, "estimate %.3f Hz, true %.3f Hz", st->hz,
		  S.hz);
	cr_assert(fabs(err_at(S.t + 1e9)) < 50, "error %.1f ns", err_at(S.t + 1e9));
	/* a count is 6.4 ns: successive mappings meet within one */
	cr_assert(max_join_ns <= 7, "join %.1f ns", max_join_ns);
	qp_clock_disc_destroy(d);
}

Test(clock, timestamps_are_continuous_and_follow_a_steered_realtime)
{
	sim_init();
	S.real_ppm = 35; /* NTP makes REALTIME run 35 ppm fast against raw */
	S.real_off = 12345;
	struct qp_clock_disc *d = qp_clock_disc_create(&src, DPDK_HZ, 0, 1);
	S.t += 20e6;
	max_join_ns = 0;
	run(d, 30, 1);
	cr_assert(max_join_ns <= 1.0, "the mapping steps by %.1f ns at an anchor", max_join_ns);
	/* the probe's own account of it agrees */
	cr_assert_leq(last.st.max_step_ns, 1);
	cr_assert(fabs(last.st.realtime_ppm - 35) < 0.01, "realtime %.4f ppm", last.st.realtime_ppm);
	cr_assert(fabs(err_at(S.t + 5e8)) < 100, "error %.1f ns", err_at(S.t + 5e8));
	/* monotone over a whole period, read every 10 us */
	uint64_t prev = 0;
	for (double t = S.t - 1e9; t < S.t + 1e9; t += 1e4) {
		uint64_t ns = qp_clock_ns(&last, tsc_at(&S, t));
		cr_assert_geq(ns, prev);
		prev = ns;
	}
	qp_clock_disc_destroy(d);
}

Test(clock, a_step_of_realtime_while_measuring_is_counted_and_slewed)
{
	sim_init();
	struct qp_clock_disc *d = qp_clock_disc_create(&src, DPDK_HZ, 0, 1);
	S.t += 20e6;
	run(d, 10, 1);
	S.step_at = S.t + 0.5e9;
	S.step_ns = 1e9; /* NTP steps the clock forward by one second */
	max_join_ns = 0;
	run(d, 10, 1);
	cr_assert_eq(last.st.steps, 1);
	cr_assert(fabs((double)last.st.last_step_ns - 1e9) < 100, "step %lld",
		  (long long)last.st.last_step_ns);
	cr_assert(max_join_ns <= 1.0, "the mapping steps by %.1f ns at an anchor", max_join_ns);
	/* slewed at the limit: 500 us a second, about 5 ms made up in 10 s */
	cr_assert(fabs(last.st.slew_ppm - QP_CLOCK_MAX_SLEW_PPM) < 1e-6, "slew %.3f", last.st.slew_ppm);
	double behind = -err_at(S.t);
	cr_assert(behind > 1e9 - 5.6e6 && behind < 1e9 - 4.4e6, "behind by %.0f ns", behind);
	/* intervals measured meanwhile are off by the slew only: 500 ppm */
	double a = (double)qp_clock_ns(&last, tsc_at(&S, S.t + 1e8));
	double b = (double)qp_clock_ns(&last, tsc_at(&S, S.t + 3e8));
	cr_assert(fabs((b - a) - 2e8 * 1.0005) < 100, "200 ms read as %.0f ns", b - a);
	qp_clock_disc_destroy(d);
}

Test(clock, a_step_with_nothing_measured_is_taken_at_once)
{
	sim_init();
	struct qp_clock_disc *d = qp_clock_disc_create(&src, DPDK_HZ, 0, 1);
	S.t += 20e6;
	run(d, 10, 0);
	S.step_at = S.t + 0.5e9;
	S.step_ns = -3e9;
	S.t += 1e9;
	struct qp_clock_event ev;
	struct qp_clock *c = qp_clock_disc_update(d, 0, &ev);
	cr_assert_eq(ev.stepped, 1);
	cr_assert(fabs((double)ev.step_ns + 3e9) < 100);
	cr_assert_eq(ev.applied, 1);
	last = *c;
	free(c);
	cr_assert(fabs(err_at(S.t + 1e8)) < 100, "error %.1f ns", err_at(S.t + 1e8));
	qp_clock_disc_destroy(d);
}

Test(clock, noisy_anchors_are_reported_and_the_best_estimate_is_used)
{
	sim_init();
	S.noise_ns = 400000; /* reads off by up to 0.4 ms */
	struct qp_clock_disc *d = qp_clock_disc_create(&src, DPDK_HZ, 0, 1);
	S.t += 20e6;
	struct qp_clock_event ev = {0};
	int became = 0;
	for (int i = 0; i < 20; i++) {
		S.t += (double)qp_clock_disc_period_ns(d);
		struct qp_clock *c = qp_clock_disc_update(d, 1, &ev);
		became += ev.became_undisciplined;
		last = *c;
		free(c);
	}
	cr_assert_str_eq(last.st.state, "undisciplined");
	cr_assert_str_eq(last.st.reason, "anchors too noisy");
	cr_assert_eq(became, 1, "said once");
	cr_assert_gt(last.st.max_residual_ns, 50000);
	/* still far better than the platform's 1,879 ppm */
	cr_assert(fabs(last.st.hz - TRUE_HZ) / TRUE_HZ * 1e6 < 100, "%.1f Hz", last.st.hz);
	qp_clock_disc_destroy(d);
}

Test(clock, a_tsc_that_is_not_invariant_is_reported)
{
	sim_init();
	struct qp_clock_disc *d = qp_clock_disc_create(&src, DPDK_HZ, 0, 0);
	S.t += 20e6;
	run(d, 2, 1);
	cr_assert_str_eq(last.st.state, "undisciplined");
	cr_assert_str_eq(last.st.reason, "the TSC is not invariant");
	qp_clock_disc_destroy(d);
}

Test(clock, bad_arguments_are_refused)
{
	sim_init();
	cr_assert_null(qp_clock_disc_create(&src, 0, 0, 1));
	cr_assert_null(qp_clock_disc_create(NULL, DPDK_HZ, 0, 1));
	struct qp_clock_src half = {sim_tsc, NULL, sim_real, &S};
	cr_assert_null(qp_clock_disc_create(&half, DPDK_HZ, 0, 1));
	qp_clock_disc_destroy(NULL);
}

Test(clock, a_tsc_value_from_before_the_mapping_gives_its_earliest_time)
{
	struct qp_clock c = {0};
	c.prev_tsc0 = 1000;
	c.prev_ns0 = 5000;
	c.prev_mult = 1ULL << QP_CLOCK_SHIFT; /* 1 ns a tick */
	c.tsc0 = 2000;
	c.ns0 = 6000;
	c.mult = 2ULL << QP_CLOCK_SHIFT;
	cr_assert_eq(qp_clock_ns(&c, 0), 5000);
	cr_assert_eq(qp_clock_ns(&c, 999), 5000);
	cr_assert_eq(qp_clock_ns(&c, 1000), 5000);
	cr_assert_eq(qp_clock_ns(&c, 1999), 5999);
	cr_assert_eq(qp_clock_ns(&c, 2000), 6000);
	cr_assert_eq(qp_clock_ns(&c, 2010), 6020);
	cr_assert_eq(qp_clock_ns(&c, UINT64_MAX), 6000 + 2 * (UINT64_MAX - 2000));
}

static uint64_t rdtsc(void)
{
	return __rdtsc();
}

/* This machine's own clocks: 100 ms anchors for 2 s, read like a worker between them. */
Test(clock, this_machine_gives_monotone_time_without_steps, .timeout = 30)
{
	struct qp_clock_src sys = qp_clock_system_src(rdtsc);
	struct qp_clock_disc *d = qp_clock_disc_create(&sys, DPDK_HZ, 20000000, 1);
	cr_assert_not_null(d);
	struct qp_clock *c = qp_clock_disc_update(d, 1, NULL);
	uint64_t prev = 0;
	double worst_join = 0;
	for (int k = 0; k < 20; k++) {
		uint64_t until = qp_clock_realtime_ns() + 100000000;
		while (qp_clock_realtime_ns() < until) {
			uint64_t ns = qp_clock_ns(c, rdtsc());
			cr_assert_geq(ns, prev, "time went back by %llu ns", (unsigned long long)(prev - ns));
			prev = ns;
		}
		struct qp_clock *n = qp_clock_disc_update(d, 1, NULL);
		double j = fabs((double)qp_clock_ns(n, n->tsc0) - (double)qp_clock_ns(c, n->tsc0));
		if (j > worst_join)
			worst_join = j;
		free(c);
		c = n;
	}
	cr_assert(worst_join <= 10000, "a re-anchor stepped by %.0f ns", worst_join);
	cr_log_info("estimated %.0f Hz (platform says %.0f: %.1f ppm off), residual %lld ns, "
		    "stderr %.3f ppm, state %s %s", c->st.hz, DPDK_HZ, c->st.nominal_err_ppm,
		    (long long)c->st.max_residual_ns, c->st.hz_stderr_ppm, c->st.state, c->st.reason);
	free(c);
	qp_clock_disc_destroy(d);
}
