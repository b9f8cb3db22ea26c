/*
 * The packet clock of live mode: the TSC discipline (lib/qp_clock) started,
 * re-anchored and published by RCU from the management core, and the
 * management core's packet time under --timestamps port.
 */
#include "live.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <urcu-qsbr.h>

uint64_t pclock_read_tsc(void)
{
	return rte_rdtsc();
}

void pclock_free_cb(struct rcu_head *h)
{
	free(caa_container_of(h, struct qp_clock, rcu));
}

/* Packet time for the measurements' intervals (management core). */
uint64_t pclock_packet_now(void)
{
	if (!L.o->ts_port)
		return qp_clock_ns(L.clock, rte_rdtsc());
	if (L.sw_dist) {
		/* every frame handed out is measured, but for those still in a
		 * worker's ring or hands: the oldest such worker's time holds it back
		 * (the ring is read before the flag: a worker raises the flag before
		 * it takes frames) */
		uint64_t t = __atomic_load_n(&L.dist_ns, __ATOMIC_SEQ_CST);
		for (unsigned int i = 0; i < L.nworkers; i++) {
			int pending = rte_ring_count(L.ring[i]) > 0;
			pending |= __atomic_load_n(&L.lst[i].in_burst, __ATOMIC_SEQ_CST);
			uint64_t v = __atomic_load_n(&L.lst[i].port_ns, __ATOMIC_SEQ_CST);
			if (pending && v < t)
				t = v;
		}
		return t;
	}
	uint64_t t = 0;
	for (unsigned int i = 0; i < L.nworkers; i++) {
		uint64_t v = __atomic_load_n(&L.lst[i].port_ns, __ATOMIC_ACQUIRE);
		if (v > t)
			t = v;
	}
	return t;
}

/* One warning when a port that gives Rx timestamps sent frames without. */
void pclock_warn_missing_ts(void)
{
	uint64_t n = CMM_LOAD_SHARED(L.dist.ts_missing);
	for (unsigned int i = 0; i < L.nworkers; i++)
		n += CMM_LOAD_SHARED(L.lst[i].ts_missing);
	if (n && !L.ts_warned) {
		L.ts_warned = 1;
		fprintf(stderr, "qprobe: warning: a port that gives Rx timestamps sent frames without "
				"one: they are stamped by the TSC (counted in ts_missing)\n");
	}
}

uint64_t pclock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void clock_publish(struct qp_clock *c)
{
	pthread_mutex_lock(&L.clock_mx);
	L.clock_st = c->st;
	pthread_mutex_unlock(&L.clock_mx);
	struct qp_clock *old = L.clock;
	rcu_assign_pointer(L.clock, c);
	if (old)
		call_rcu(&old->rcu, pclock_free_cb);
}

/* The disciplined clock: a first rate from two anchors 20 ms apart, then the first mapping. */
int pclock_start(void)
{
	pthread_mutex_init(&L.clock_mx, NULL);
	struct qp_clock_src src = qp_clock_system_src(pclock_read_tsc);
	int inv = qp_clock_tsc_invariant();
	L.disc = qp_clock_disc_create(&src, (double)rte_get_tsc_hz(), 20000000, inv);
	struct qp_clock *c = L.disc ? qp_clock_disc_update(L.disc, 0, NULL) : NULL;
	if (!c) {
		fprintf(stderr, "qprobe: cannot start the packet clock: %s\n", strerror(errno));
		return -ENOMEM;
	}
	clock_publish(c);
	if (!L.o->quiet)
		fprintf(stderr, "qprobe: packet clock: TSC %.0f Hz measured against CLOCK_MONOTONIC_RAW "
				"(DPDK says %.0f Hz, %.0f ppm off); disciplined to CLOCK_REALTIME\n",
			c->st.hz, c->st.nominal_hz, c->st.nominal_err_ppm);
	if (!inv)
		fprintf(stderr, "qprobe: warning: the CPU does not report an invariant TSC: packet "
				"times may drift with frequency changes (measuring with the best estimate)\n");
	return 0;
}

/* One anchor of the discipline, with a line for what a user must know. */
void pclock_anchor(void)
{
	struct qp_clock_event ev;
	ports_nic_clock_anchor(meas_count() > 0);
	struct qp_clock *c = qp_clock_disc_update(L.disc, meas_count() > 0, &ev);
	if (!c)
		return; /* out of memory: the mapping in force stays */
	clock_publish(c);
	if (ev.stepped)
		fprintf(stderr, "qprobe: the system clock stepped by %+.6f s (%" PRIu64 " steps so "
				"far); %s\n", (double)ev.step_ns / 1e9, c->st.steps,
			ev.applied ? "nothing is measured: packet time follows at once"
				   : "packet time slews towards it at 500 ppm, no step in any measurement");
	if (ev.became_undisciplined)
		fprintf(stderr, "qprobe: warning: the packet clock cannot be disciplined: %s (largest "
				"residual %" PRId64 " ns); measuring with the best estimate\n",
			c->st.reason, c->st.max_residual_ns);
}
