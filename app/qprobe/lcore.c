/*
 * The polling lcores of live mode: workers (each polls its queues, or its
 * ring from the distributor, and runs every published measurement on each
 * burst) and the software distributor (stamps each frame, hashes its
 * innermost addresses and hands it to one worker). With no measurement they
 * sleep RCU-offline. See live.c for the layout of the lcores.
 */
#include "live.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <urcu-qsbr.h>

#include "qp_parse_fast.h"
#include "qp_worker_dp.h"

static inline uint64_t *ts_field(struct rte_mbuf *m)
{
	return RTE_MBUF_DYNFIELD(m, L.ts_off, uint64_t *);
}

/*
 * A frame's time on a port that gives Rx timestamps: the NIC clock's count
 * through its mapping `nic` (read once a burst), or with nic NULL the file's
 * time in microseconds (net_pcap); one that came without is counted and gets
 * `tsc_ns`, the burst's TSC time.
 */
static inline uint64_t frame_ns(const struct rte_mbuf *m, uint64_t tsc_ns, uint64_t *missing,
				const struct qp_clock *nic)
{
	if (!(m->ol_flags & L.rx_ts_flag)) {
		(*missing)++;
		return tsc_ns;
	}
	uint64_t v = *RTE_MBUF_DYNFIELD(m, L.rx_ts_off, const uint64_t *);
	return nic ? qp_clock_ns(nic, v) : v * 1000ULL;
}

/* The NIC clock mapping of a port whose timestamps are its NIC's, else NULL. */
static inline const struct qp_clock *nic_clock(uint16_t port)
{
	return L.port_ts[port] == PORT_TS_NIC ? rcu_dereference(L.port_clock[port]) : NULL;
}

/* ---- worker and distributor lcores ---- */

struct wctx {
	unsigned int idx;
	struct rxq q[RTE_MAX_ETHPORTS];
	unsigned int nq;
};
static struct wctx wctx[RTE_MAX_LCORE];

static void nap(void)
{
	rcu_thread_offline();
	struct timespec t = {0, IDLE_NAP_NS};
	nanosleep(&t, NULL);
	rcu_thread_online();
}

/* Read and drop what waits in a worker's queues (or ring). */
static void drain(struct wctx *c, struct lcore_stat *st)
{
	struct rte_mbuf *m[BURST];
	for (unsigned int s = 0; s < (L.sw_dist ? 1 : c->nq); s++) {
		for (int rounds = 0; rounds < 1024; rounds++) {
			uint16_t n = L.sw_dist ? (uint16_t)rte_ring_sc_dequeue_burst(L.ring[c->idx],
										  (void **)m, BURST, NULL)
					       : rte_eth_rx_burst(c->q[s].port, c->q[s].queue, m, BURST);
			if (!n)
				break;
			st->rx_packets += n;
			st->rx_dropped_idle += n;
			rte_pktmbuf_free_bulk(m, n);
		}
	}
}

/*
 * Port time runs as fast as a replayed file is read, not as the wall clock: a
 * worker reads no more frames while its next interval would take the slot of
 * one the management core has not closed yet (nothing is lost, nothing waits
 * on a real NIC, whose timestamps run in real time).
 */
static int port_time_hold(const struct meas_set *set, unsigned int idx)
{
	for (unsigned int k = 0; k < set->n; k++) {
		const struct qp_worker *w = set->m[k].w[idx];
		if (!w->have_iv)
			continue;
		uint64_t next = __atomic_load_n(set->m[k].next_iv, __ATOMIC_ACQUIRE);
		if (next == UINT64_MAX || w->cur_iv >= next + QP_IV_SLOTS - 2)
			return 1;
	}
	return 0;
}

/* Two-point: the time before which worker i has recorded everything it stamped. */
uint64_t lcore_done_ns(unsigned int i)
{
	return __atomic_load_n(&L.lst[i].done_ns, __ATOMIC_ACQUIRE);
}

int lcore_worker_main(void *arg)
{
	struct wctx *c = arg;
	struct lcore_stat *st = &L.lst[c->idx];
	struct rte_mbuf *m[BURST];
	struct qp_frame fr[BURST];
	uint64_t loops = 0;
	uint64_t prev = rte_rdtsc();
	int idle = 0;
	/* several measurements: each burst is parsed once for all of them */
	struct qp_parse_ctx *pc = malloc(sizeof(*pc));
	struct qp_parsed *pp = malloc(sizeof(*pp));
	if (!pc || !pp) {
		free(pc);
		free(pp);
		return -ENOMEM;
	}
	qp_parse_ctx_init(pc);

	rcu_register_thread();
	while (!CMM_LOAD_SHARED(L.quit)) {
		const struct meas_set *set = rcu_dereference(meas_published);
		if (set->n == 0) {
			if (!idle) {
				idle = 1;
				CMM_STORE_SHARED(st->idle, 1);
			}
			if (L.o->busy_poll)
				drain(c, st);
			else {
				nap();
				st->naps++;
			}
			rcu_quiescent_state();
			prev = rte_rdtsc();
			continue;
		}
		if (idle) {
			/* frames queued while nothing was measured predate every measurement;
			 * with a distributor, it drops them at the port, and what is in the
			 * ring came after */
			if (!L.sw_dist)
				drain(c, st);
			idle = 0;
			CMM_STORE_SHARED(st->idle, 0);
		}
		const struct qp_clock *clk = rcu_dereference(L.clock);
		uint64_t loop_ns = qp_clock_ns(clk, rte_rdtsc());
		unsigned int got = 0;
		int hold = L.o->ts_port && port_time_hold(set, c->idx);
		/* port time with a distributor: the management core must see frames
		 * taken from the ring as pending until they are measured (pclock_packet_now) */
		int mark = L.o->ts_port && L.sw_dist && !hold;
		if (mark)
			__atomic_store_n(&st->in_burst, 1, __ATOMIC_SEQ_CST);
		for (unsigned int s = 0; !hold && s < (L.sw_dist ? 1 : c->nq); s++) {
			uint16_t n;
			if (L.sw_dist)
				n = (uint16_t)rte_ring_sc_dequeue_burst(L.ring[c->idx], (void **)m,
									 BURST, NULL);
			else
				n = rte_eth_rx_burst(c->q[s].port, c->q[s].queue, m, BURST);
			if (!n)
				continue;
			got += n;
			st->rx_packets += n;
			uint64_t now = L.sw_dist ? 0 : qp_clock_ns(clk, rte_rdtsc());
			int port_ts = !L.sw_dist && L.port_ts[c->q[s].port]; /* per burst */
			const struct qp_clock *nic = port_ts ? nic_clock(c->q[s].port) : NULL;
			for (uint16_t i = 0; i < n; i++) {
				fr[i].data = rte_pktmbuf_mtod(m[i], const uint8_t *);
				fr[i].caplen = m[i]->data_len;
				fr[i].wirelen = m[i]->pkt_len;
				fr[i].port = m[i]->port;
				fr[i].ts_ns = L.sw_dist ? *ts_field(m[i])
					      : port_ts ? frame_ns(m[i], now, &st->ts_missing, nic)
							: now;
			}
			if (set->n == 1 && !set->ng) {
				/* one of its own: its filter first, and only what passes is parsed */
				qp_worker_process(set->m[0].w[c->idx], set->m[0].cfg, fr, n);
			} else if (set->ng == 1 && set->n == set->g[0].v.n) {
				/* one shared table for all: it parses once itself */
				qp_group_process(set->g[0].g[c->idx], &set->g[0].v, c->idx, fr, n, NULL);
			} else {
				qp_parse_burst(pc, QP_LINK_ETHERNET, set->m[0].cfg->flow_key, fr, n, pp);
				for (unsigned int k = 0; k < set->n; k++)
					if (!set->m[k].grouped)
						qp_worker_process_parsed(set->m[k].w[c->idx],
									 set->m[k].cfg, fr, pp);
				for (unsigned int j = 0; j < set->ng; j++)
					qp_group_process(set->g[j].g[c->idx], &set->g[j].v, c->idx, fr,
							 n, pp);
			}
			if (L.o->ts_port) {
				/* the packet clock moves once the burst is measured: an
				 * interval closed on a frame's time then has every frame
				 * before it (published first, a burst's later frames let the
				 * management core close the interval its earlier ones were
				 * still being added to: test_live under ASan and load) */
				uint64_t pmax = 0;
				for (uint16_t i = 0; i < n; i++)
					pmax = fr[i].ts_ns > pmax ? fr[i].ts_ns : pmax;
				if (pmax > st->port_ns)
					__atomic_store_n(&st->port_ns, pmax, __ATOMIC_SEQ_CST);
			}
			rte_pktmbuf_free_bulk(m, n);
		}
		if (mark)
			__atomic_store_n(&st->in_burst, 0, __ATOMIC_SEQ_CST);
		if (++loops % EXPIRE_EVERY == 0) {
			/* flows age on packet time: a replayed file's under --timestamps port */
			uint64_t now = L.o->ts_port ? st->port_ns : qp_clock_ns(clk, rte_rdtsc());
			for (unsigned int k = 0; now && k < set->n; k++)
				if (!set->m[k].grouped)
					qp_worker_expire(set->m[k].w[c->idx], set->m[k].cfg, now,
							 EXPIRE_BUCKETS);
			for (unsigned int j = 0; now && j < set->ng; j++)
				qp_group_expire(set->g[j].g[c->idx], &set->g[j].v, c->idx, now,
						EXPIRE_BUCKETS);
		}
		/* two-point: what this worker stamps from now on is younger */
		__atomic_store_n(&st->done_ns, loop_ns, __ATOMIC_RELEASE);
		/* nothing read above is used past this point */
		rcu_quiescent_state();
		uint64_t t = rte_rdtsc();
		if (got)
			st->busy_cycles += t - prev;
		st->total_cycles += t - prev;
		prev = t;
	}
	rcu_unregister_thread();
	free(pc);
	free(pp);
	return 0;
}

int lcore_dist_main(void *arg)
{
	(void)arg;
	struct rte_mbuf *m[BURST];
	struct rte_mbuf *out[RTE_MAX_LCORE][BURST];
	unsigned int nout[RTE_MAX_LCORE];
	struct qp_parse_ctx *pc = malloc(sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	qp_parse_ctx_init(pc);
	rcu_register_thread();
	while (!CMM_LOAD_SHARED(L.quit)) {
		const struct meas_set *set = rcu_dereference(meas_published);
		if (set->n == 0 && !L.o->busy_poll) {
			CMM_STORE_SHARED(L.dist_idle, 1);
			nap();
			rcu_quiescent_state();
			continue;
		}
		if (L.dist_idle) {
			for (uint16_t p = 0; p < L.nports; p++) {
				uint16_t n;
				while ((n = rte_eth_rx_burst(L.ports[p], 0, m, BURST)) > 0)
					rte_pktmbuf_free_bulk(m, n);
			}
			CMM_STORE_SHARED(L.dist_idle, 0);
		}
		const struct qp_clock *clk = rcu_dereference(L.clock);
		/* port time (a replayed file): wait for the workers rather than drop */
		int hold = 0;
		for (unsigned int k = 0; L.o->ts_port && k < L.nworkers; k++)
			hold |= port_time_hold(set, k) || rte_ring_free_count(L.ring[k]) < BURST;
		for (uint16_t p = 0; !hold && p < L.nports; p++) {
			uint16_t n = rte_eth_rx_burst(L.ports[p], 0, m, BURST);
			if (!n)
				continue;
			L.dist.packets += n;
			uint64_t now = qp_clock_ns(clk, rte_rdtsc());
			int port_ts = L.port_ts[L.ports[p]]; /* per burst */
			const struct qp_clock *nic = port_ts ? nic_clock(L.ports[p]) : NULL;
			memset(nout, 0, sizeof(nout[0]) * L.nworkers);
			for (uint16_t i = 0; i < n; i++) {
				struct qp_pkt pk;
				unsigned int idx = 0;
				*ts_field(m[i]) = port_ts ? frame_ns(m[i], now, &L.dist.ts_missing, nic)
							  : now;
				if (qp_parse_inline(pc, QP_LINK_ETHERNET,
						    rte_pktmbuf_mtod(m[i], uint8_t *), m[i]->data_len,
						    &pk) == QP_PARSE_FLOW)
					idx = qp_flow_key_addr_hash(&pk.key) % L.nworkers;
				out[idx][nout[idx]++] = m[i];
			}
			uint64_t tmax = 0;
			for (uint16_t i = 0; L.o->ts_port && i < n; i++)
				if (*ts_field(m[i]) > tmax)
					tmax = *ts_field(m[i]);
			for (unsigned int k = 0; k < L.nworkers; k++) {
				if (!nout[k])
					continue;
				unsigned int e = rte_ring_sp_enqueue_burst(L.ring[k], (void **)out[k],
									   nout[k], NULL);
				if (e < nout[k]) {
					L.dist.ring_full += nout[k] - e;
					rte_pktmbuf_free_bulk(out[k] + e, nout[k] - e);
				}
			}
			/* after the frames are in the rings: see pclock_packet_now() */
			if (tmax > L.dist_ns)
				__atomic_store_n(&L.dist_ns, tmax, __ATOMIC_SEQ_CST);
		}
		rcu_quiescent_state();
	}
	rcu_unregister_thread();
	free(pc);
	return 0;
}

void lcore_assign_queues(int rss)
{
	for (unsigned int i = 0; i < L.nworkers; i++) {
		wctx[i].idx = i;
		wctx[i].nq = 0;
		for (uint16_t p = 0; p < L.nports; p++)
			wctx[i].q[wctx[i].nq++] = (struct rxq){L.ports[p], (uint16_t)(rss ? i : 0)};
	}
}

void lcore_launch(void)
{
	if (L.sw_dist)
		rte_eal_remote_launch(lcore_dist_main, NULL, L.dist_lcore);
	for (unsigned int i = 0; i < L.nworkers; i++)
		rte_eal_remote_launch(lcore_worker_main, &wctx[i], L.worker_lcore[i]);
}
