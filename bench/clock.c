/*
 * qp_clockcheck: the packet clock on this machine, the way the probe runs it,
 * against the way it ran before the discipline, in the same run.
 *
 *   build/qp_clockcheck [SECONDS]     (default 60)
 *
 * A management thread anchors like the probe's main loop (qp_clock_disc, the
 * mapping published through RCU) and, beside it, builds the old mapping
 * (DPDK's rate, the offset re-anchored to CLOCK_REALTIME once a second). A
 * worker-like reader on the other CPU reads the TSC, both mappings and
 * CLOCK_MONOTONIC_RAW, back to back, all the time. It reports, for each:
 * the TSC rate used and its error against a least-squares fit of every
 * (TSC, MONOTONIC_RAW) pair the reader took over the whole run (the
 * reference); the largest step between consecutive reads beyond what
 * MONOTONIC_RAW advanced (a re-anchor shows here); how often time went back;
 * and the error against CLOCK_REALTIME at the anchors.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <urcu-qsbr.h>

#include "qp_clock.h"

static struct qp_clock *cur_new, *cur_old;
static volatile int done;

static uint64_t read_tsc(void)
{
	return rte_rdtsc();
}

static uint64_t now(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* DPDK's rate, anchored now: what the probe did before. */
static struct qp_clock *old_anchor(double hz)
{
	struct qp_clock *c = calloc(1, sizeof(*c));
	uint64_t t1 = rte_rdtsc();
	uint64_t ns = now(CLOCK_REALTIME);
	uint64_t t2 = rte_rdtsc();
	c->tsc0 = c->prev_tsc0 = t1 + (t2 - t1) / 2;
	c->ns0 = c->prev_ns0 = ns;
	c->mult = c->prev_mult = (uint64_t)llround(1e9 / hz * (double)(1ULL << QP_CLOCK_SHIFT));
	return c;
}

static void free_cb(struct rcu_head *h)
{
	free(caa_container_of(h, struct qp_clock, rcu));
}

static void publish(struct qp_clock **slot, struct qp_clock *c)
{
	struct qp_clock *o = *slot;
	rcu_assign_pointer(*slot, c);
	if (o)
		call_rcu(&o->rcu, free_cb);
}

struct side {
	double max_step_ns; /* largest |(mapped delta) - (raw delta)| between reads */
	uint64_t back;      /* reads that went back */
	uint64_t last;
};

struct reader_out {
	struct side s[2]; /* [0] new, [1] old */
	uint64_t reads;
	/* least squares of raw on tsc */
	long double sx, sy, sxx, sxy;
	uint64_t x0, y0;
	long double n;
};

static void *reader(void *arg)
{
	struct reader_out *r = arg;
	rcu_register_thread();
	uint64_t prev_raw = 0;
	while (!CMM_LOAD_SHARED(done)) {
		const struct qp_clock *cn = rcu_dereference(cur_new);
		const struct qp_clock *co = rcu_dereference(cur_old);
		uint64_t raw1 = now(CLOCK_MONOTONIC_RAW);
		uint64_t t = rte_rdtsc();
		uint64_t raw2 = now(CLOCK_MONOTONIC_RAW);
		if (raw2 - raw1 > 300) { /* the reader lost its CPU in between: no sample */
			rcu_quiescent_state();
			continue;
		}
		uint64_t raw = raw1 + (raw2 - raw1) / 2;
		uint64_t ns[2] = {qp_clock_ns(cn, t), qp_clock_ns(co, t)};
		if (r->reads) {
			double draw = (double)(raw - prev_raw);
			for (int k = 0; k < 2; k++) {
				struct side *s = &r->s[k];
				if (ns[k] < s->last)
					s->back++;
				double step = fabs((double)(int64_t)(ns[k] - s->last) - draw);
				if (step > s->max_step_ns)
					s->max_step_ns = step;
			}
		} else {
			r->x0 = t;
			r->y0 = raw;
		}
		if ((r->reads & 1023) == 0) {
			long double x = (long double)(t - r->x0), y = (long double)(raw - r->y0);
			r->sx += x;
			r->sy += y;
			r->sxx += x * x;
			r->sxy += x * y;
			r->n += 1;
		}
		r->s[0].last = ns[0];
		r->s[1].last = ns[1];
		prev_raw = raw;
		r->reads++;
		rcu_quiescent_state();
	}
	rcu_unregister_thread();
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 60;
	if (!(secs >= 2 && secs <= 86400)) {
		fprintf(stderr, "qp_clockcheck: SECONDS '%s': expected 2 to 86400\n", argv[1]);
		return 2;
	}
	/* DPDK's rate, as the probe has it: EAL calibrates it at init */
	char *eal[] = {argv[0], "-l", "0", "--no-huge", "-m", "64", "--no-shconf", "--no-pci",
		       "--log-level=error", NULL};
	if (rte_eal_init(9, eal) < 0) {
		fprintf(stderr, "qp_clockcheck: EAL did not start\n");
		return 1;
	}
	double nominal = (double)rte_get_tsc_hz();
	rcu_register_thread();
	struct qp_clock_src src = qp_clock_system_src(read_tsc);
	struct qp_clock_disc *d = qp_clock_disc_create(&src, nominal, 20000000, qp_clock_tsc_invariant());
	publish(&cur_new, qp_clock_disc_update(d, 0, NULL));
	publish(&cur_old, old_anchor(nominal));
	static struct reader_out r;
	pthread_t th;
	pthread_create(&th, NULL, reader, &r);
	uint64_t end = now(CLOCK_MONOTONIC) + (uint64_t)(secs * 1e9);
	uint64_t next_new = now(CLOCK_MONOTONIC) + qp_clock_disc_period_ns(d);
	uint64_t next_old = now(CLOCK_MONOTONIC) + 1000000000ULL;
	double max_off_new = 0, max_off_old = 0;
	uint64_t anchors = 0;
	for (;;) {
		rcu_thread_offline();
		struct timespec nap = {0, 1000000};
		nanosleep(&nap, NULL);
		rcu_thread_online();
		uint64_t m = now(CLOCK_MONOTONIC);
		if (m >= end)
			break;
		if (m >= next_new) {
			/* measuring: offsets slewed, never stepped */
			struct qp_clock *c = qp_clock_disc_update(d, 1, NULL);
			if (c->st.updates > 10 && fabs((double)c->st.offset_ns) > max_off_new)
				max_off_new = fabs((double)c->st.offset_ns);
			publish(&cur_new, c);
			next_new = m + qp_clock_disc_period_ns(d);
			anchors++;
		}
		if (m >= next_old) {
			uint64_t t = rte_rdtsc();
			double off = (double)(int64_t)(now(CLOCK_REALTIME) - qp_clock_ns(cur_old, t));
			if (fabs(off) > max_off_old)
				max_off_old = fabs(off);
			publish(&cur_old, old_anchor(nominal));
			next_old = m + 1000000000ULL;
		}
		rcu_quiescent_state();
	}
	CMM_STORE_SHARED(done, 1);
	rcu_thread_offline();
	pthread_join(th, NULL);
	rcu_thread_online();
	long double vxx = r.sxx - r.sx * r.sx / r.n;
	double ref_hz = (double)(1e9L / ((r.sxy - r.sx * r.sy / r.n) / vxx));
	const struct qp_clock_status *st = &cur_new->st;
	printf("packet clock over %.0f s, %" PRIu64 " reads by a worker-like reader, %" PRIu64
	       " anchors; reference TSC rate (fit of the reader's TSC against MONOTONIC_RAW): %.0f Hz\n",
	       secs, r.reads, anchors, ref_hz);
	printf("| | TSC rate used | its error | largest step between reads | reads that went back | "
	       "largest error against REALTIME at an anchor |\n|---|---|---|---|---|---|\n");
	printf("| before: DPDK's rate, offset re-anchored each second | %.0f Hz | %.1f ppm | %.1f us | "
	       "%" PRIu64 " | %.1f us |\n", nominal, (nominal - ref_hz) / ref_hz * 1e6,
	       r.s[1].max_step_ns / 1e3, r.s[1].back, max_off_old / 1e3);
	printf("| after: disciplined (qp_clock) | %.0f Hz | %.4f ppm (fit's own stderr %.4f ppm) | "
	       "%.3f us | %" PRIu64 " | %.3f us |\n", st->hz, (st->hz - ref_hz) / ref_hz * 1e6,
	       st->hz_stderr_ppm, r.s[0].max_step_ns / 1e3, r.s[0].back, max_off_new / 1e3);
	printf("state %s%s%s, largest residual of the last window %" PRId64 " ns, REALTIME steps %" PRIu64
	       ", REALTIME rate against raw %.3f ppm\n", st->state, *st->reason ? ": " : "", st->reason,
	       st->max_residual_ns, st->steps, st->realtime_ppm);
	qp_clock_disc_destroy(d);
	rcu_unregister_thread();
	rte_eal_cleanup();
	return 0;
}
