/*
 * qprobe live mode: DPDK ports, worker lcores and the management core.
 *
 * Layout of the lcores (the main lcore is always the management core and
 * never polls a port):
 *  - one worker lcore: it polls queue 0 of every port itself;
 *  - N worker lcores and ports with RSS on N queues: each worker polls its
 *    own queue of every port; the RSS key is the symmetric Toeplitz key
 *    (0x6d5a repeated) over IP addresses, so both directions of a flow, and
 *    every fragment of a datagram, reach one worker;
 *  - N worker lcores and a port without RSS (every virtual PMD): the first
 *    becomes a distributor that stamps each frame, hashes its innermost
 *    addresses symmetrically and hands it to one of the other N-1 workers
 *    through a single-producer/single-consumer rte_ring.
 *
 * Workers run every measurement of the published set (meas.h) on each
 * burst. With no measurement they sleep, RCU-offline, and read nothing
 * (unless --busy-poll); on waking they first drop what queued up meanwhile.
 *
 * The management loop serves QMCP (ctl.h), closes intervals on wall time,
 * re-anchors the TSC clock; HTTP runs on a thread of its own. At the end it
 * writes the report of the standing measurement when one was asked for.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_telemetry.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_ring.h>

#include "config.h"
#include "ctl.h"
#include "tpl.h"
#include "profile.h"
#include "meas.h"
#include "push.h"
#include "qmcp_auth.h"
#include "qp_acl.h"
#include "qp_clock.h"
#include "qp_http.h"
#include "qp_offline.h"
#include "qp_report.h"
#include "qp_worker_dp.h"
#include "qprobe.h"

#define BURST 32
#define RING_SIZE 4096
#define EXPIRE_EVERY 64          /* poll loops between expiry steps */
#define EXPIRE_BUCKETS 64
#define IDLE_NAP_NS 10000000L     /* a worker with nothing to measure sleeps this long */

/* Per-port counters of /api/v1/stats and /metrics. */
#define QP_PORT_COUNTERS(X)                                            \
	X(ipackets, rx_packets, "Frames received by the port")         \
	X(ibytes, rx_bytes, "Bytes received by the port")              \
	X(imissed, imissed, "Frames dropped by the port: rx queue full") \
	X(ierrors, ierrors, "Erroneous frames received by the port")   \
	X(rx_nombuf, rx_nombuf, "Frames dropped for want of an mbuf")

/* Distributor counters. */
#define QP_DIST_COUNTERS(X)                                               \
	X(packets, "Frames received by the distributor")                  \
	X(ring_full, "Frames dropped because a worker's ring was full")    \
	X(ts_missing, "Frames of a port with Rx timestamps that came without one (TSC used)")

struct dist_counters {
#define F_(n, h) uint64_t n;
	QP_DIST_COUNTERS(F_)
#undef F_
};

/* Per worker lcore, whatever it measures. */
#define QP_LCORE_COUNTERS(X)                                                      \
	X(rx_packets, "Frames read by the lcore (from its queues or its ring)")   \
	X(rx_dropped_idle, "Frames read and dropped while no measurement ran")    \
	X(naps, "Sleeps taken while no measurement ran")                          \
	X(ts_missing, "Frames of a port with Rx timestamps that came without one (TSC used)")

/* Thread-safety: written by its worker only, read by the HTTP thread (whole loads). */
struct lcore_stat {
#define F_(n, h) uint64_t n;
	QP_LCORE_COUNTERS(F_)
#undef F_
	uint64_t busy_cycles, total_cycles;
	uint64_t done_ns; /* every frame this worker stamped before this time is processed */
	uint64_t port_ns; /* --timestamps port: the latest frame time it processed */
	int in_burst;     /* --timestamps port, distributor: frames taken, not yet measured */
	int idle;
} __attribute__((aligned(64)));

/* An (port, queue) pair a worker polls. */
struct rxq {
	uint16_t port;
	uint16_t queue;
};

/* What a port's Rx timestamps are (live.port_ts). */
enum { PORT_TS_NONE, PORT_TS_FILE, PORT_TS_NIC };

/*
 * Thread-safety: `clock` and `port_clock[]` are RCU-published by the
 * management core and read by every worker under the QSBR read side, like the
 * measurement set (meas_published); `disc` and `port_disc[]` are the
 * management core's; `clock_st` is written by
 * the management core and read by the HTTP and telemetry threads, under
 * `clock_mx` (the telemetry thread is no RCU reader); `quit` is set by the management core and polled by
 * workers; lst[i] is written by worker i only.
 */
struct live {
	const struct qprobe_opts *o;
	struct rte_mempool *mp;
	uint16_t ports[RTE_MAX_ETHPORTS];
	struct profile prof[RTE_MAX_ETHPORTS]; /* each port's NIC profile */
	uint16_t nports;
	int sw_dist;
	unsigned int nworkers;
	unsigned int worker_lcore[RTE_MAX_LCORE];
	struct lcore_stat lst[RTE_MAX_LCORE];
	struct rte_ring *ring[RTE_MAX_LCORE];
	unsigned int dist_lcore;
	struct dist_counters dist;
	int dist_idle;
	int ts_off; /* mbuf dynfield holding the distributor's timestamp */
	/* --timestamps port: PORT_TS_* of each port; its frames carry the file's
	 * time (us) or the NIC clock's count in DPDK's Rx timestamp dynfield,
	 * flagged by rx_ts_flag */
	int port_ts[RTE_MAX_ETHPORTS];
	/* NIC clocks: each disciplined against the system clocks as the TSC is,
	 * from rte_eth_read_clock() */
	struct qp_clock_disc *port_disc[RTE_MAX_ETHPORTS];
	struct qp_clock *port_clock[RTE_MAX_ETHPORTS];
	int rx_ts_off;
	uint64_t rx_ts_flag;
	int ts_warned;
	uint64_t dist_ns; /* --timestamps port: the latest frame time the distributor handed out */
	struct qp_clock *clock;
	struct qp_clock_disc *disc;   /* management core only */
	pthread_mutex_t clock_mx;     /* guards clock_st */
	struct qp_clock_status clock_st; /* a copy for the HTTP and telemetry threads */
	struct qp_clock_status port_clock_st[RTE_MAX_ETHPORTS]; /* the same of NIC clocks */
	int quit;
	const char *source_desc;
	char probe_id[128], probe_name[128];
};

static struct live L;
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static inline uint64_t *ts_field(struct rte_mbuf *m)
{
	return RTE_MBUF_DYNFIELD(m, L.ts_off, uint64_t *);
}

static uint64_t read_tsc(void)
{
	return rte_rdtsc();
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
static uint64_t worker_done_ns(unsigned int i)
{
	return __atomic_load_n(&L.lst[i].done_ns, __ATOMIC_ACQUIRE);
}

static int worker_main(void *arg)
{
	struct wctx *c = arg;
	struct lcore_stat *st = &L.lst[c->idx];
	struct rte_mbuf *m[BURST];
	struct qp_frame fr[BURST];
	uint64_t loops = 0;
	uint64_t prev = rte_rdtsc();
	int idle = 0;

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
		 * taken from the ring as pending until they are measured (packet_now) */
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
				fr[i].ts_ns = L.sw_dist ? *ts_field(m[i])
					      : port_ts ? frame_ns(m[i], now, &st->ts_missing, nic)
							: now;
			}
			if (L.o->ts_port) {
				uint64_t pmax = 0;
				for (uint16_t i = 0; i < n; i++)
					pmax = fr[i].ts_ns > pmax ? fr[i].ts_ns : pmax;
				if (pmax > st->port_ns)
					__atomic_store_n(&st->port_ns, pmax, __ATOMIC_SEQ_CST);
			}
			for (unsigned int k = 0; k < set->n; k++)
				qp_worker_process(set->m[k].w[c->idx], set->m[k].cfg, fr, n);
			rte_pktmbuf_free_bulk(m, n);
		}
		if (mark)
			__atomic_store_n(&st->in_burst, 0, __ATOMIC_SEQ_CST);
		if (++loops % EXPIRE_EVERY == 0) {
			/* flows age on packet time: a replayed file's under --timestamps port */
			uint64_t now = L.o->ts_port ? st->port_ns : qp_clock_ns(clk, rte_rdtsc());
			for (unsigned int k = 0; now && k < set->n; k++)
				qp_worker_expire(set->m[k].w[c->idx], set->m[k].cfg, now, EXPIRE_BUCKETS);
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
	return 0;
}

static int dist_main(void *arg)
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
				if (qp_parse(pc, QP_LINK_ETHERNET, rte_pktmbuf_mtod(m[i], uint8_t *),
					     m[i]->data_len, &pk) == QP_PARSE_FLOW)
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
			/* after the frames are in the rings: see packet_now() */
			if (tmax > L.dist_ns)
				__atomic_store_n(&L.dist_ns, tmax, __ATOMIC_SEQ_CST);
		}
		rcu_quiescent_state();
	}
	rcu_unregister_thread();
	free(pc);
	return 0;
}

/* ---- ports ---- */

/* The NIC clock of the port in arg, as the discipline reads it. */
static uint64_t read_nic_clock(void *arg)
{
	uint64_t t = 0;
	rte_eth_read_clock((uint16_t)(uintptr_t)arg, &t);
	return t;
}

static void free_clock_cb(struct rcu_head *h);

/*
 * A port whose frames carry its NIC clock's count: that clock is disciplined
 * against CLOCK_MONOTONIC_RAW and CLOCK_REALTIME like the TSC (its rate is
 * estimated: the first guess, 1 GHz, holds only for the first 20 ms). A clock
 * the PMD cannot read leaves the port on the TSC, with one warning.
 */
static void nic_clock_start(uint16_t port)
{
	char name[RTE_ETH_NAME_MAX_LEN] = "";
	rte_eth_dev_get_name_by_port(port, name);
	uint64_t t;
	int rc = rte_eth_read_clock(port, &t);
	struct qp_clock_src src = qp_clock_system_src(read_tsc);
	src.tsc = read_nic_clock;
	src.arg = (void *)(uintptr_t)port;
	struct qp_clock *c = NULL;
	if (rc == 0 && (L.port_disc[port] = qp_clock_disc_create(&src, 1e9, 20000000, 1)))
		c = qp_clock_disc_update(L.port_disc[port], 0, NULL);
	if (!c) {
		fprintf(stderr, "qprobe: warning: port %u (%s) stamps frames with its NIC clock, which "
				"%s: its frames are stamped by the TSC\n", port, name,
			rc ? "the PMD cannot read (rte_eth_read_clock)" : "could not be disciplined");
		qp_clock_disc_destroy(L.port_disc[port]);
		L.port_disc[port] = NULL;
		L.port_ts[port] = PORT_TS_NONE;
		return;
	}
	pthread_mutex_lock(&L.clock_mx);
	L.port_clock_st[port] = c->st;
	pthread_mutex_unlock(&L.clock_mx);
	rcu_assign_pointer(L.port_clock[port], c);
	if (!L.o->quiet)
		fprintf(stderr, "qprobe: port %u (%s): NIC clock timestamps, %.0f Hz measured against "
				"CLOCK_MONOTONIC_RAW; disciplined to CLOCK_REALTIME\n", port, name, c->st.hz);
}

/* One anchor of every NIC clock (management core, with the TSC's). */
static void nic_clock_anchor(int measuring)
{
	for (uint16_t p = 0; p < L.nports; p++) {
		uint16_t port = L.ports[p];
		if (L.port_ts[port] != PORT_TS_NIC || !L.port_disc[port])
			continue;
		struct qp_clock *c = qp_clock_disc_update(L.port_disc[port], measuring, NULL);
		if (!c)
			continue;
		pthread_mutex_lock(&L.clock_mx);
		L.port_clock_st[port] = c->st;
		pthread_mutex_unlock(&L.clock_mx);
		struct qp_clock *old = L.port_clock[port];
		rcu_assign_pointer(L.port_clock[port], c);
		call_rcu(&old->rcu, free_clock_cb);
	}
}

static const uint8_t sym_rss_key[52] = {
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d,
	0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d,
	0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};

static int port_has_rss(uint16_t port, unsigned int nq)
{
	struct rte_eth_dev_info di;
	if (rte_eth_dev_info_get(port, &di) != 0)
		return 0;
	return di.max_rx_queues >= nq && (di.flow_type_rss_offloads & RTE_ETH_RSS_IP) &&
	       di.hash_key_size <= sizeof(sym_rss_key);
}

static int port_setup(uint16_t port, uint16_t nrxq, int rss, const struct profile *prof)
{
	struct rte_eth_dev_info di;
	struct rte_eth_conf conf;
	int rc = rte_eth_dev_info_get(port, &di);
	if (rc)
		return rc;
	memset(&conf, 0, sizeof(conf));
	if (rss) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = (uint8_t *)sym_rss_key;
		conf.rx_adv_conf.rss_conf.rss_key_len = di.hash_key_size ? di.hash_key_size : 40;
		conf.rx_adv_conf.rss_conf.rss_hf = prof->rss_hf & di.flow_type_rss_offloads;
	}
	if (L.o->ts_port) {
		char name[RTE_ETH_NAME_MAX_LEN] = "";
		rte_eth_dev_get_name_by_port(port, name);
		/* net_pcap stamps every frame with the file's time without announcing
		 * the offload; a NIC announces it and counts in its own clock, which
		 * is disciplined once the port runs (nic_clock_start) */
		int file = strcmp(prof->timestamp, "file") == 0;
		int nic = !file && (di.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP);
		if (!file && !nic)
			fprintf(stderr, "qprobe: warning: port %u (%s) gives no Rx timestamps: its frames "
					"are stamped by the TSC\n", port, name);
		else {
			if ((rc = rte_mbuf_dyn_rx_timestamp_register(&L.rx_ts_off, &L.rx_ts_flag)) != 0)
				return rc;
			if (nic)
				conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
			L.port_ts[port] = nic ? PORT_TS_NIC : PORT_TS_FILE;
		}
	}
	uint16_t ntxq = 0;
	rc = rte_eth_dev_configure(port, nrxq, ntxq, &conf);
	if (rc) { /* some PMDs want a tx queue even on a receive-only port */
		ntxq = 1;
		rc = rte_eth_dev_configure(port, nrxq, ntxq, &conf);
	}
	if (rc)
		return rc;
	uint16_t nb_rxd = (uint16_t)(prof->rx_desc && !L.o->rx_desc_set ? prof->rx_desc : L.o->rx_desc);
	uint16_t nb_txd = 512;
	rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
	int socket = rte_eth_dev_socket_id(port);
	for (uint16_t q = 0; q < nrxq; q++)
		if ((rc = rte_eth_rx_queue_setup(port, q, nb_rxd, socket < 0 ? 0 : (unsigned)socket,
						 NULL, L.mp)) != 0)
			return rc;
	for (uint16_t q = 0; q < ntxq; q++)
		if ((rc = rte_eth_tx_queue_setup(port, q, nb_txd,
						 socket < 0 ? 0 : (unsigned)socket, NULL)) != 0)
			return rc;
	if ((rc = rte_eth_dev_start(port)) != 0)
		return rc;
	rte_eth_promiscuous_enable(port); /* a tap sees other hosts' frames */
	if (L.port_ts[port] == PORT_TS_NIC)
		nic_clock_start(port);
	return 0;
}


/* ---- management: HTTP content ---- */

static const char *mode_name(void)
{
	return L.sw_dist ? "software_distribution" : (L.nworkers > 1 ? "rss" : "single_worker");
}

/* "port" when frames carry their ports' Rx timestamps, "tsc" otherwise. */
static const char *ts_source(void)
{
	for (uint16_t p = 0; p < L.nports; p++)
		if (L.port_ts[L.ports[p]])
			return "port";
	return "tsc";
}

/* The clock's status as last published (any thread). */
static struct qp_clock_status clock_status(void)
{
	pthread_mutex_lock(&L.clock_mx);
	struct qp_clock_status st = L.clock_st;
	pthread_mutex_unlock(&L.clock_mx);
	return st;
}

/* A clock's status as JSON: where it comes from, its state and its figures. */
static json_t *clock_status_json(const char *source, struct qp_clock_status st)
{
	json_t *o = json_pack("{s:s,s:s,s:s}", "source", source, "state", st.state ? st.state : "",
			      "reason", st.reason ? st.reason : "");
/* counts and ns as JSON integers, rates as reals */
#define CJ_(f, jn, mn, mt, h)                                                                 \
	json_object_set_new(o, #jn, _Generic((st.f), double: json_real((double)st.f),             \
					     default: json_integer((json_int_t)st.f)));
	QP_CLOCK_STATUS_FIELDS(CJ_)
#undef CJ_
	return o;
}

static json_t *clock_json(void)
{
	return clock_status_json(ts_source(), clock_status());
}

/*
 * Why this probe takes no two-point role, or NULL: frames stamped with a
 * replayed file's times share no clock with the other point.
 */
static const char *no_two_point(void)
{
	for (uint16_t p = 0; p < L.nports; p++)
		if (L.port_ts[L.ports[p]] == PORT_TS_FILE)
			return "two-point: this probe stamps frames with their capture file's times "
			       "(--timestamps port on net_pcap), which no other point shares; a probe "
			       "on --timestamps tsc, or on NIC clocks, takes two-point roles";
	return NULL;
}

static const char *port_ts_name(int kind)
{
	return kind == PORT_TS_NIC ? "nic" : kind == PORT_TS_FILE ? "file" : "none";
}

static json_t *stats_json(void *arg)
{
	(void)arg;
	json_t *root = json_object();
	json_object_set_new(root, "qprobe", json_pack("{s:s}", "version", qp_version()));
	json_object_set_new(root, "probe_id", json_string(L.probe_id));
	json_object_set_new(root, "mode", json_string(mode_name()));
	json_object_set_new(root, "timestamp_source", json_string(ts_source()));
	json_object_set_new(root, "clock", clock_json());
	json_t *ports = json_array();
	for (uint16_t p = 0; p < L.nports; p++) {
		struct rte_eth_stats st;
		char name[RTE_ETH_NAME_MAX_LEN] = "";
		rte_eth_dev_get_name_by_port(L.ports[p], name);
		json_t *o = json_pack("{s:i,s:s,s:o,s:s,s:s}", "port", L.ports[p], "name", name, "profile",
				      L.prof[p].file[0] ? json_string(L.prof[p].file) : json_null(),
				      "family", L.prof[p].family, "hw_timestamp", L.prof[p].timestamp);
		int kind = L.port_ts[L.ports[p]];
		json_object_set_new(o, "rx_timestamps", json_boolean(kind != PORT_TS_NONE));
		json_object_set_new(o, "timestamp_clock", json_string(port_ts_name(kind)));
		if (kind == PORT_TS_NIC) {
			pthread_mutex_lock(&L.clock_mx);
			struct qp_clock_status cs = L.port_clock_st[L.ports[p]];
			pthread_mutex_unlock(&L.clock_mx);
			json_object_set_new(o, "clock", clock_status_json("nic", cs));
		}
		if (rte_eth_stats_get(L.ports[p], &st) == 0) {
#define P_(f, n, h) json_object_set_new(o, #n, json_integer((json_int_t)st.f));
			QP_PORT_COUNTERS(P_)
#undef P_
		}
		json_array_append_new(ports, o);
	}
	json_object_set_new(root, "ports", ports);
	json_t *lcores = json_array();
	struct qp_capture_totals tot;
	memset(&tot, 0, sizeof(tot));
	meas_lock();
	for (unsigned int i = 0; i < L.nworkers; i++) {
		const struct lcore_stat *st = &L.lst[i];
		struct qp_capture_totals lt;
		uint32_t flows;
		memset(&lt, 0, sizeof(lt));
		meas_lcore_totals(i, &lt, &flows);
		json_t *o = qp_counters_json(&lt.w);
		uint64_t busy = CMM_LOAD_SHARED(st->busy_cycles), tc = CMM_LOAD_SHARED(st->total_cycles);
		json_object_set_new(o, "lcore", json_integer(L.worker_lcore[i]));
		json_object_set_new(o, "role", json_string("worker"));
		json_object_set_new(o, "idle", json_boolean(CMM_LOAD_SHARED(st->idle)));
#define C_(n, h) json_object_set_new(o, #n, json_integer((json_int_t)CMM_LOAD_SHARED(st->n)));
		QP_LCORE_COUNTERS(C_)
#undef C_
		json_object_set_new(o, "busy_ratio", json_real(tc ? (double)busy / (double)tc : 0));
		json_object_set_new(o, "flows", json_integer(flows));
		json_object_set_new(o, "evictions", json_integer((json_int_t)lt.t.evicted));
		json_object_set_new(o, "table_full", json_integer((json_int_t)lt.t.table_full));
		json_array_append_new(lcores, o);
	}
	meas_totals(&tot);
	unsigned int nmeas = meas_count();
	meas_unlock();
	if (L.sw_dist) {
		json_t *o = json_pack("{s:i,s:s,s:b}", "lcore", L.dist_lcore, "role", "distributor",
				      "idle", CMM_LOAD_SHARED(L.dist_idle));
#define D_(n, h) json_object_set_new(o, #n, json_integer((json_int_t)CMM_LOAD_SHARED(L.dist.n)));
		QP_DIST_COUNTERS(D_)
#undef D_
		json_array_append_new(lcores, o);
	}
	json_object_set_new(root, "lcores", lcores);
	json_t *t = qp_counters_json(&tot.w);
	json_object_set_new(t, "flows_evicted", json_integer((json_int_t)tot.t.evicted));
	json_object_set_new(t, "flow_table_full", json_integer((json_int_t)tot.t.table_full));
	json_object_set_new(root, "totals", t);
	json_object_set_new(root, "measurements", json_integer(nmeas));
	json_object_set_new(root, "qmcp", ctl_counters_json());
	json_object_set_new(root, "push", push_stats_json());
	return root;
}

/* 404 for a measurement id, or for "none running" when id is 0 */
static json_t *not_found(unsigned int id)
{
	char msg[160];
	if (id)
		snprintf(msg, sizeof(msg), "no measurement %u (see /api/v1/measurements)", id);
	else
		snprintf(msg, sizeof(msg), "no measurement is running");
	return json_pack("{s:s,s:i}", "error", msg, "status", 404);
}

/*
 * Lock the table and find the measurement asked for (the lowest id when id
 * is 0); when there is none, unlock and leave the 404 answer in *answer.
 */
static struct meas *pick_locked(unsigned int id, json_t **answer)
{
	meas_lock();
	struct meas *m = id ? meas_find(id) : meas_at(0);
	if (!m) {
		meas_unlock();
		*answer = not_found(id);
	}
	return m;
}

/* The HTTP thread is an RCU reader, offline except while it walks tables. */
static void http_thread_init(void *arg)
{
	(void)arg;
	rcu_register_thread();
	rcu_thread_offline();
}

static void http_thread_fini(void *arg)
{
	(void)arg;
	rcu_unregister_thread();
}

static json_t *flows_json(void *arg, unsigned int id, unsigned int top, enum qp_flow_sort sort)
{
	(void)arg;
	json_t *answer;
	struct meas *m = pick_locked(id, &answer);
	if (!m)
		return answer;
	uint64_t total = 0;
	json_t *arr = meas_flows_json(m, 0, top, sort, &total);
	uint32_t mid = meas_id(m);
	meas_unlock();
	if (!arr)
		return NULL;
	return json_pack("{s:i,s:s,s:i,s:I,s:o}", "measurement", (int)mid, "sort",
			 sort == QP_SORT_BYTES ? "bytes" : "packets", "top", (int)top, "active_flows",
			 (json_int_t)total, "flows", arr);
}

static json_t *intervals_json(void *arg, unsigned int id, unsigned int last)
{
	(void)arg;
	json_t *answer;
	struct meas *m = pick_locked(id, &answer);
	if (!m)
		return answer;
	json_t *o = json_pack("{s:i,s:f,s:o}", "measurement", (int)meas_id(m), "interval_ms",
			      (double)meas_params(m)->interval_ns / 1e6, "intervals",
			      meas_intervals_json(m, last));
	meas_unlock();
	return o;
}

static json_t *measurements_json(void *arg, unsigned int id)
{
	(void)arg;
	meas_lock();
	json_t *o;
	if (id) {
		struct meas *m = meas_find(id);
		o = m ? meas_json(m, 1) : not_found(id);
	} else {
		json_t *a = json_array();
		for (unsigned int i = 0; i < meas_count(); i++)
			json_array_append_new(a, meas_json(meas_at(i), 0));
		o = json_pack("{s:o}", "measurements", a);
	}
	meas_unlock();
	return o;
}

/* Growable text buffer for /metrics. */
struct sbuf {
	char *s;
	size_t n, cap;
	int oom;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		if (k < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)k < b->cap - b->n) {
			b->n += (size_t)k;
			return;
		}
		size_t nc = (b->cap + (size_t)k + 1) * 2;
		char *p = realloc(b->s, nc);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->s = p;
		b->cap = nc;
	}
}

/* A label value as Prometheus wants it: backslash, quote and newline escaped. */
static const char *lv(const char *s, char *buf, size_t n)
{
	size_t k = 0;
	for (; *s && k + 2 < n; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			buf[k++] = '\\';
			buf[k++] = *s == '\n' ? 'n' : *s;
		} else {
			buf[k++] = *s;
		}
	}
	buf[k] = 0;
	return buf;
}

/* Per measurement, the QoS of its latest closed interval (gauges); table locked. */
static void meas_qos_metrics(struct sbuf *b, unsigned int nm)
{
	static const char *const dn[2] = {"fwd", "rev"};
	static const struct {
		const char *name, *help;
	} g[] = {
		{"qprobe_meas_interval_start_seconds", "Start of the latest closed interval (Unix time)"},
		{"qprobe_meas_bits_per_second", "Throughput in the latest interval, by direction"},
		{"qprobe_meas_packets_per_second", "Packet rate in the latest interval, by direction"},
		{"qprobe_meas_tcp_rtt_seconds", "TCP RTT quantiles in the latest interval, by direction"},
		{"qprobe_meas_tcp_retransmissions", "TCP retransmissions in the latest interval, by direction"},
		{"qprobe_meas_rtp_loss_ratio", "RTP packets lost / expected in the latest interval, by direction"},
		{"qprobe_meas_rtp_jitter_seconds", "RTP jitter (RFC 3550), mean over the latest interval, by direction"},
		{"qprobe_meas_rtp_mos_min", "Lowest MOS (E-model) of an RTP stream in the latest interval"},
		{"qprobe_meas_two_point_owd_seconds", "Two-point one-way delay so far, by direction"},
		{"qprobe_meas_two_point_loss_ratio", "Two-point packets lost / selected so far, by direction"},
	};
	for (size_t gi = 0; gi < sizeof(g) / sizeof(g[0]); gi++) {
		sb_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", g[gi].name, g[gi].help, g[gi].name);
		for (unsigned int k = 0; k < nm; k++) {
			struct meas *m = meas_at(k);
			uint32_t id = meas_id(m);
			const struct qp_interval_rec *r = meas_last_result(m);
			if (gi >= 8) {
				json_t *tp = meas_two_point_json(m);
				for (int d = 0; tp && d < 2; d++) {
					json_t *o = json_object_get(tp, dn[d]);
					json_t *w = json_object_get(o, "owd_ms");
					if (gi == 8 && json_is_object(w)) {
						static const char *const st[] = {"min", "mean", "max", "p50", "p99"};
						for (int s = 0; s < 5; s++)
							if (json_is_number(json_object_get(w, st[s])))
								sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\",stat=\"%s\"} %.9f\n",
									  g[gi].name, id, dn[d], st[s],
									  json_number_value(json_object_get(w, st[s])) / 1e3);
					} else if (gi == 9 && json_is_number(json_object_get(o, "loss_ratio"))) {
						sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\"} %.9f\n", g[gi].name, id,
							  dn[d], json_number_value(json_object_get(o, "loss_ratio")));
					}
				}
				json_decref(tp);
				continue;
			}
			if (!r)
				continue;
			double secs = (double)r->duration_ns / 1e9;
			if (gi == 0) {
				sb_printf(b, "%s{measurement=\"%u\"} %.3f\n", g[gi].name, id,
					  (double)r->start_ns / 1e9);
				continue;
			}
			if (gi == 7) {
				double mn = 0;
				int have = 0;
				for (uint32_t i = 0; i < r->nstreams; i++)
					if (r->streams[i].mos > 0 && (!have || r->streams[i].mos < mn)) {
						mn = r->streams[i].mos;
						have = 1;
					}
				if (have)
					sb_printf(b, "%s{measurement=\"%u\"} %.3f\n", g[gi].name, id, mn);
				continue;
			}
			for (int d = 0; d < 2; d++) {
				if (gi == 1)
					sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\"} %.3f\n", g[gi].name, id, dn[d],
						  secs > 0 ? (double)r->bytes[d] * 8 / secs : 0);
				else if (gi == 2)
					sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\"} %.3f\n", g[gi].name, id, dn[d],
						  secs > 0 ? (double)r->pkts[d] / secs : 0);
				else if (gi == 3 && r->rtt[d].n)
					sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\",quantile=\"0.5\"} %.9f\n"
						      "%s{measurement=\"%u\",dir=\"%s\",quantile=\"0.99\"} %.9f\n",
						  g[gi].name, id, dn[d], r->rtt[d].p50 / 1e3, g[gi].name, id, dn[d],
						  r->rtt[d].p99 / 1e3);
				else if (gi == 4)
					sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\"} %" PRIu64 "\n", g[gi].name, id,
						  dn[d], r->retrans[d]);
				else if (gi == 5 && r->rtp_expected[d])
					sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\"} %.6f\n", g[gi].name, id, dn[d],
						  r->rtp_received[d] >= r->rtp_expected[d]
							  ? 0.0
							  : (double)(r->rtp_expected[d] - r->rtp_received[d]) /
								    (double)r->rtp_expected[d]);
				else if (gi == 6 && r->rtp_jitter[d].n)
					sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\"} %.9f\n", g[gi].name, id, dn[d],
						  r->rtp_jitter[d].mean / 1e3);
			}
		}
	}
}

/* Results push, per destination, from push_stats_json(). */
static void push_metrics(struct sbuf *b)
{
	static const struct {
		const char *key, *name, *type, *help;
	} f[] = {
		{"queued", "qprobe_push_queued", "gauge", "Results waiting for a receiver"},
		{"in_flight", "qprobe_push_in_flight", "gauge", "Results sent, not yet acknowledged"},
		{"sent", "qprobe_push_sent_total", "counter", "Results sent (again after a reconnect too)"},
		{"acknowledged", "qprobe_push_acknowledged_total", "counter", "Results the receiver stored"},
		{"dropped", "qprobe_push_dropped_total", "counter", "Results dropped: queue full (reported as gaps)"},
		{"connects", "qprobe_push_connects_total", "counter", "Connections opened to the receiver"},
	};
	json_t *a = push_stats_json();
	char esc[600];
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", f[i].name, f[i].help, f[i].name, f[i].type);
		size_t k;
		json_t *d;
		json_array_foreach(a, k, d)
			sb_printf(b, "%s{destination=\"%s\"} %" JSON_INTEGER_FORMAT "\n", f[i].name,
				  lv(json_string_value(json_object_get(d, "destination")), esc, sizeof(esc)),
				  json_integer_value(json_object_get(d, f[i].key)));
	}
	sb_printf(b, "# HELP qprobe_push_connected 1 while the session to the receiver is up (HELLO and AUTH done)\n"
		      "# TYPE qprobe_push_connected gauge\n");
	size_t k;
	json_t *d;
	json_array_foreach(a, k, d)
		sb_printf(b, "qprobe_push_connected{destination=\"%s\"} %d\n",
			  lv(json_string_value(json_object_get(d, "destination")), esc, sizeof(esc)),
			  !strcmp(json_string_value(json_object_get(d, "state")), "ready"));
	json_decref(a);
}

static char *metrics_text(void *arg)
{
	(void)arg;
	struct sbuf b = {.s = malloc(4096), .cap = 4096};
	if (!b.s)
		return NULL;
	b.s[0] = 0;
	meas_lock();
	unsigned int nm = meas_count();
	/* worker counters per measurement and lcore */
#define W_(name, help)                                                                          \
	sb_printf(&b, "# HELP qprobe_worker_" #name "_total " help "\n# TYPE qprobe_worker_" #name   \
		      "_total counter\n");                                                          \
	for (unsigned int k = 0; k < nm; k++)                                                    \
		for (unsigned int i = 0; i < L.nworkers; i++)                                    \
			sb_printf(&b, "qprobe_worker_" #name "_total{measurement=\"%u\",lcore=\"%u\"} %" PRIu64 "\n", \
				  meas_id(meas_at(k)), L.worker_lcore[i],                          \
				  CMM_LOAD_SHARED(meas_worker(meas_at(k), i)->cnt.name));
	QP_WORKER_COUNTERS(W_)
#undef W_
	sb_printf(&b, "# HELP qprobe_parse_errors_by_reason_total Malformed frames by reason\n"
		      "# TYPE qprobe_parse_errors_by_reason_total counter\n");
	for (unsigned int k = 0; k < nm; k++)
		for (unsigned int i = 0; i < L.nworkers; i++)
			for (int r = 0; r < QP_PARSE_ERR_COUNT; r++)
				sb_printf(&b,
					  "qprobe_parse_errors_by_reason_total{measurement=\"%u\",lcore=\"%u\","
					  "reason=\"%s\"} %" PRIu64 "\n",
					  meas_id(meas_at(k)), L.worker_lcore[i],
					  qp_parse_error_name(QP_PARSE_ERR_FIRST + r),
					  CMM_LOAD_SHARED(meas_worker(meas_at(k), i)->cnt.perr[r]));
	sb_printf(&b, "# HELP qprobe_flows Flows in the table\n# TYPE qprobe_flows gauge\n");
	for (unsigned int k = 0; k < nm; k++)
		for (unsigned int i = 0; i < L.nworkers; i++)
			sb_printf(&b, "qprobe_flows{measurement=\"%u\",lcore=\"%u\"} %u\n",
				  meas_id(meas_at(k)), L.worker_lcore[i],
				  qp_flow_table_count(meas_worker(meas_at(k), i)->flows));
	static const char *tnames[] = {"created", "expired_idle", "expired_active", "evicted", "table_full"};
	static const char *thelp[] = {"Flows created", "Flows ended by the idle timeout",
				      "Flow records exported by the active timeout",
				      "Flows evicted to make room", "New flows refused: table full"};
	for (int t = 0; t < 5; t++) {
		sb_printf(&b, "# HELP qprobe_flows_%s_total %s\n# TYPE qprobe_flows_%s_total counter\n",
			  tnames[t], thelp[t], tnames[t]);
		for (unsigned int k = 0; k < nm; k++)
			for (unsigned int i = 0; i < L.nworkers; i++) {
				struct qp_flow_table_stats s;
				qp_flow_table_stats(meas_worker(meas_at(k), i)->flows, &s);
				uint64_t v[] = {s.created, s.expired_idle, s.expired_active, s.evicted,
						s.table_full};
				sb_printf(&b, "qprobe_flows_%s_total{measurement=\"%u\",lcore=\"%u\"} %" PRIu64 "\n",
					  tnames[t], meas_id(meas_at(k)), L.worker_lcore[i], v[t]);
			}
	}
	meas_qos_metrics(&b, nm);
	meas_unlock();
	sb_printf(&b, "# HELP qprobe_measurements Measurements running\n# TYPE qprobe_measurements gauge\n"
		      "qprobe_measurements %u\n", nm);
	struct qp_clock_status cs = clock_status();
	char l1[128], l2[128];
	sb_printf(&b, "# HELP qprobe_clock_info Packet clock: source, state and why not disciplined\n"
		      "# TYPE qprobe_clock_info gauge\nqprobe_clock_info{source=\"%s\",state=\"%s\","
		      "reason=\"%s\"} 1\n", ts_source(), lv(cs.state ? cs.state : "", l1, sizeof(l1)),
		  lv(cs.reason ? cs.reason : "", l2, sizeof(l2)));
#define CM_(f, jn, mn, mt, h)                                                                 \
	sb_printf(&b, "# HELP qprobe_clock_" #mn " " h "\n# TYPE qprobe_clock_" #mn " " #mt      \
		      "\nqprobe_clock_" #mn " %.17g\n", (double)cs.f);
	QP_CLOCK_STATUS_FIELDS(CM_)
#undef CM_
#define LC_(name, help)                                                                          \
	sb_printf(&b, "# HELP qprobe_lcore_" #name "_total " help "\n# TYPE qprobe_lcore_" #name     \
		      "_total counter\n");                                                           \
	for (unsigned int i = 0; i < L.nworkers; i++)                                             \
		sb_printf(&b, "qprobe_lcore_" #name "_total{lcore=\"%u\"} %" PRIu64 "\n",            \
			  L.worker_lcore[i], CMM_LOAD_SHARED(L.lst[i].name));
	QP_LCORE_COUNTERS(LC_)
#undef LC_
	sb_printf(&b, "# HELP qprobe_worker_busy_ratio Share of poll-loop time spent on packets\n"
		      "# TYPE qprobe_worker_busy_ratio gauge\n");
	for (unsigned int i = 0; i < L.nworkers; i++) {
		uint64_t busy = CMM_LOAD_SHARED(L.lst[i].busy_cycles), t = CMM_LOAD_SHARED(L.lst[i].total_cycles);
		sb_printf(&b, "qprobe_worker_busy_ratio{lcore=\"%u\"} %.6f\n", L.worker_lcore[i],
			  t ? (double)busy / (double)t : 0.0);
	}
#define QC_(name, help)                                                                       \
	sb_printf(&b, "# HELP qprobe_qmcp_" #name "_total " help "\n# TYPE qprobe_qmcp_" #name    \
		      "_total counter\nqprobe_qmcp_" #name "_total %" PRIu64 "\n",                \
		  (uint64_t)__atomic_load_n(&ctl_cnt.name, __ATOMIC_RELAXED));
	CTL_COUNTERS(QC_)
#undef QC_
	sb_printf(&b, "# HELP qprobe_qmcp_sessions Controller sessions open\n"
		      "# TYPE qprobe_qmcp_sessions gauge\nqprobe_qmcp_sessions %u\n", ctl_sessions());
	struct rte_eth_stats st[RTE_MAX_ETHPORTS];
	int ok[RTE_MAX_ETHPORTS];
	for (uint16_t p = 0; p < L.nports; p++)
		ok[p] = rte_eth_stats_get(L.ports[p], &st[p]) == 0;
#define PM_(f, n, h)                                                                          \
	sb_printf(&b, "# HELP qprobe_port_" #n "_total " h "\n# TYPE qprobe_port_" #n "_total counter\n"); \
	for (uint16_t p = 0; p < L.nports; p++)                                                \
		if (ok[p])                                                                     \
			sb_printf(&b, "qprobe_port_" #n "_total{port=\"%u\"} %" PRIu64 "\n", L.ports[p], \
				  (uint64_t)st[p].f);
	QP_PORT_COUNTERS(PM_)
#undef PM_
	if (L.sw_dist) {
#define DM_(n, h)                                                                                     \
	sb_printf(&b, "# HELP qprobe_distributor_" #n "_total " h "\n# TYPE qprobe_distributor_" #n "_total counter\n" \
		      "qprobe_distributor_" #n "_total{lcore=\"%u\"} %" PRIu64 "\n",                     \
		  L.dist_lcore, CMM_LOAD_SHARED(L.dist.n));
		QP_DIST_COUNTERS(DM_)
#undef DM_
	}
	sb_printf(&b, "# HELP qprobe_lcore_idle 1 while the worker naps (no measurement)\n"
		      "# TYPE qprobe_lcore_idle gauge\n");
	for (unsigned int i = 0; i < L.nworkers; i++)
		sb_printf(&b, "qprobe_lcore_idle{lcore=\"%u\"} %d\n", L.worker_lcore[i],
			  CMM_LOAD_SHARED(L.lst[i].idle));
	sb_printf(&b, "# HELP qprobe_port_info A port, its driver and NIC profile (value 1)\n"
		      "# TYPE qprobe_port_info gauge\n");
	for (uint16_t p = 0; p < L.nports; p++) {
		struct rte_eth_dev_info di;
		char name[RTE_ETH_NAME_MAX_LEN] = "";
		rte_eth_dev_get_name_by_port(L.ports[p], name);
		const char *drv = rte_eth_dev_info_get(L.ports[p], &di) == 0 && di.driver_name
					  ? di.driver_name : "?";
		char e1[200], e2[200];
		sb_printf(&b, "qprobe_port_info{port=\"%u\",name=\"%s\",driver=\"%s\",profile=\"%s\"} 1\n",
			  L.ports[p], lv(name, e1, sizeof(e1)), lv(drv, e2, sizeof(e2)), L.prof[p].file);
	}
	char eid[300];
	sb_printf(&b, "# HELP qprobe_info The probe (value 1)\n# TYPE qprobe_info gauge\n"
		      "qprobe_info{version=\"%s\",probe_id=\"%s\",mode=\"%s\"} 1\n",
		  qp_version(), lv(L.probe_id, eid, sizeof(eid)), mode_name());
	push_metrics(&b);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* ---- management: QMCP INFO ---- */

static void info_fill(struct qmcp_msg *m, json_t *j, void *arg)
{
	(void)arg;
	json_t *ports = json_array();
	for (uint16_t p = 0; p < L.nports; p++) {
		char name[RTE_ETH_NAME_MAX_LEN] = "";
		struct rte_eth_dev_info di;
		struct rte_eth_link link;
		rte_eth_dev_get_name_by_port(L.ports[p], name);
		const char *drv = rte_eth_dev_info_get(L.ports[p], &di) == 0 && di.driver_name
					  ? di.driver_name : "?";
		memset(&link, 0, sizeof(link));
		rte_eth_link_get_nowait(L.ports[p], &link);
		size_t nest = qmcp_nest_begin(m, QMCP_T_PORT);
		qmcp_put_str(m, QMCP_T_PORT_NAME, name);
		qmcp_put_str(m, QMCP_T_DRIVER, drv);
		qmcp_put_u8(m, QMCP_T_LINK_UP, link.link_status == RTE_ETH_LINK_UP);
		qmcp_put_u32(m, QMCP_T_LINK_SPEED, link.link_speed);
		qmcp_nest_end(m, nest);
		json_array_append_new(ports, json_pack("{s:s,s:s,s:b,s:i}", "name", name, "driver", drv,
						       "link_up", link.link_status == RTE_ETH_LINK_UP,
						       "speed_mbps", (int)link.link_speed));
	}
	qmcp_put_u32(m, QMCP_T_WORKERS, L.nworkers);
	qmcp_put_u32(m, QMCP_T_CAPS,
		     QMCP_CAP_LIVE | QMCP_CAP_PUSH | (no_two_point() ? 0 : QMCP_CAP_TWO_POINT));
	json_object_set_new(j, "two_point", json_boolean(!no_two_point()));
	json_object_set_new(j, "ports", ports);
	json_object_set_new(j, "workers", json_integer(L.nworkers));
	json_object_set_new(j, "mode", json_string(mode_name()));
	json_object_set_new(j, "idle", json_boolean(CMM_LOAD_SHARED(L.lst[0].idle)));
	json_object_set_new(j, "capabilities", json_pack("[s,s,s]", "live", "push", "two_point"));
	json_object_set_new(j, "packet_clock", clock_json());
}

/* Every closed interval: to the sessions subscribed, and to the measurement's receivers. */
static void on_result(struct meas *m, uint64_t seq, const struct qp_interval_rec *rec, void *arg)
{
	(void)arg;
	/* the JSON text is made once for every subscriber and receiver */
	char *text = meas_result_text(m, seq, rec);
	if (text)
		ctl_on_result(meas_id(m), seq, rec->start_ns, text);
	const struct meas_params *p = meas_params(m);
	if (!p->ndest) {
		free(text);
		return;
	}
	/* the largest flows at the interval's close go along to the receivers */
	uint64_t total;
	meas_lock();
	json_t *top = meas_flows_json(m, 0, PUSH_TOP_FLOWS, QP_SORT_BYTES, &total);
	meas_unlock();
	char *flows = top ? json_dumps(top, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
	json_decref(top);
	for (int i = 0; i < p->ndest; i++)
		push_result(p->dest[i], meas_id(m), seq, rec->start_ns, text, flows);
	free(flows);
	free(text);
}

/*
 * After a START: wait (at most 200 ms) until every polling lcore has left its
 * idle state, having dropped what queued up while it slept; from then on
 * every frame is measured.
 */
static void wait_awake(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++) {
		int idle = L.sw_dist && CMM_LOAD_SHARED(L.dist_idle);
		for (unsigned int k = 0; k < L.nworkers; k++)
			idle |= CMM_LOAD_SHARED(L.lst[k].idle);
		if (!idle)
			return;
		struct timespec t = {0, 1000000};
		nanosleep(&t, NULL);
	}
}

static void free_clock_cb(struct rcu_head *h)
{
	free(caa_container_of(h, struct qp_clock, rcu));
}

/* Packet time for the measurements' intervals (management core). */
static uint64_t packet_now(void)
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
static void warn_missing_ts(void)
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

static uint64_t mono_ns(void)
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
		call_rcu(&old->rcu, free_clock_cb);
}

/* The disciplined clock: a first rate from two anchors 20 ms apart, then the first mapping. */
static int clock_start(void)
{
	pthread_mutex_init(&L.clock_mx, NULL);
	struct qp_clock_src src = qp_clock_system_src(read_tsc);
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
static void clock_anchor(void)
{
	struct qp_clock_event ev;
	nic_clock_anchor(meas_count() > 0);
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

/* The standing measurement's parameters from the command line. */
static void params_from_opts(const struct qprobe_opts *o, struct meas_params *p)
{
	memset(p, 0, sizeof(*p));
	qp_sig_cfg_default(&p->tp.sig); /* two-point fields come from START only */
	snprintf(p->filter, sizeof(p->filter), "%s", o->filter ? o->filter : "");
	p->interval_ns = o->interval_ns;
	p->idle_ns = o->idle_ns;
	p->active_ns = o->active_ns;
	p->max_flows = o->max_flows;
	p->metrics_off = o->metrics_off;
	p->flow_key = o->flow_key;
	p->rtp = o->rtp;
	snprintf(p->desc, sizeof(p->desc), "%s", o->description ? o->description : "");
	p->persist = 1;
}


/* ---- DPDK telemetry: /qprobe/<section> beside /ethdev/stats ---- */

/* One value of the stats JSON into the dict, under a dotted name. */
static void tel_put(struct rte_tel_data *d, const char *name, json_t *v, int *n)
{
	if (*n >= RTE_TEL_MAX_DICT_ENTRIES - 1)
		return;
	char buf[64];
	if (json_is_object(v) || json_is_array(v)) {
		size_t i;
		const char *k;
		json_t *x;
		char sub[RTE_TEL_MAX_STRING_LEN];
		if (json_is_object(v)) {
			json_object_foreach(v, k, x) {
				snprintf(sub, sizeof(sub), "%s%s%s", name, name[0] ? "_" : "", k);
				tel_put(d, sub, x, n);
			}
		} else {
			json_array_foreach(v, i, x) {
				snprintf(sub, sizeof(sub), "%s%s%zu", name, name[0] ? "_" : "", i);
				tel_put(d, sub, x, n);
			}
		}
		return;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		rte_tel_data_add_dict_u64(d, name, (uint64_t)json_integer_value(v));
	else if (json_is_integer(v))
		rte_tel_data_add_dict_int(d, name, (int)json_integer_value(v));
	else if (json_is_boolean(v))
		rte_tel_data_add_dict_int(d, name, json_is_true(v));
	else if (json_is_real(v)) {
		snprintf(buf, sizeof(buf), "%.12g", json_real_value(v)); /* Hz to the unit */
		rte_tel_data_add_dict_string(d, name, buf);
	} else if (json_is_string(v))
		rte_tel_data_add_dict_string(d, name, json_string_value(v));
	else
		return; /* null: left out */
	(*n)++;
}

/*
 * /qprobe/info, /qprobe/totals, /qprobe/ports, /qprobe/lcores[,I],
 * /qprobe/measurements, /qprobe/qmcp, /qprobe/push: the sections of
 * /api/v1/stats, flattened into one dict ("0_rx_packets": DPDK takes letters, digits and _ in names); a
 * list section with a parameter gives that one item.
 */
static int tel_cb(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const char *sec = strrchr(cmd, '/') + 1;
	json_t *st = stats_json(NULL);
	json_t *v = NULL;
	if (!strcmp(sec, "measurements")) {
		/* the list, or one (its id as parameter) with its counters */
		long id = 0;
		if (params && *params) {
			char *end;
			id = strtol(params, &end, 10);
			if (*end || id <= 0) {
				json_decref(st);
				return -EINVAL;
			}
		}
		json_t *m = measurements_json(NULL, (unsigned int)id);
		v = json_incref(id ? m : json_object_get(m, "measurements"));
		json_decref(m);
		params = NULL;
	} else if (!strcmp(sec, "info")) {
		v = json_object();
		const char *k;
		json_t *x;
		json_object_foreach(st, k, x)
			if (!json_is_object(x) && !json_is_array(x))
				json_object_set(v, k, x);
		json_object_set(v, "qprobe", json_object_get(st, "qprobe"));
	} else {
		v = json_incref(json_object_get(st, sec));
		if (v && json_is_array(v) && params && *params) {
			char *end;
			long i = strtol(params, &end, 10);
			json_t *one = *end || i < 0 ? NULL : json_incref(json_array_get(v, (size_t)i));
			json_decref(v);
			v = one;
			if (!v) {
				json_decref(st);
				return -EINVAL;
			}
		}
	}
	rte_tel_data_start_dict(d);
	int n = 0;
	if (v)
		tel_put(d, json_is_object(v) || json_is_array(v) ? "" : sec, v, &n);
	json_decref(v);
	json_decref(st);
	return 0;
}

static void tel_register(void)
{
	static const struct {
		const char *cmd, *help;
	} c[] = {
		{"/qprobe/info", "qprobe: version, probe id, mode. No parameters"},
		{"/qprobe/totals", "qprobe: counters summed over workers and measurements. No parameters"},
		{"/qprobe/ports", "qprobe: each port's counters and NIC profile. Parameters: port index (optional)"},
		{"/qprobe/lcores", "qprobe: each worker lcore's counters. Parameters: worker index (optional)"},
		{"/qprobe/measurements", "qprobe: the measurements; with a measurement id as parameter, that one with its counters"},
		{"/qprobe/qmcp", "qprobe: QMCP sessions and counters. No parameters"},
		{"/qprobe/push", "qprobe: results push per destination. No parameters"},
		{"/qprobe/clock", "qprobe: the packet clock: source, state, estimated TSC rate, errors, steps. No parameters"},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		rte_telemetry_register_cmd(c[i].cmd, tel_cb, c[i].help);
}

int qprobe_live(const struct qprobe_opts *o)
{
	int rc = QP_EXIT_OK;
	char err[512];
	memset(&L, 0, sizeof(L));
	L.o = o;

	unsigned int nl = rte_lcore_count();
	if (nl < 2) {
		fprintf(stderr, "qprobe: too few lcores: %u given, at least 2 needed (the main lcore "
				"manages, the others poll), e.g. -l 0,1\n", nl);
		return QP_EXIT_USAGE;
	}
	uint16_t pid;
	RTE_ETH_FOREACH_DEV(pid)
		L.ports[L.nports++] = pid;
	if (L.nports == 0) {
		fprintf(stderr, "qprobe: no DPDK port: bind a NIC with dpdk-devbind.py or give a "
				"virtual device, e.g. --vdev net_pcap0,rx_pcap=FILE\n");
		return QP_EXIT_USAGE;
	}

	/* each port's NIC profile, by its driver */
	const char *pdir = o->drivers_cfg ? o->drivers_cfg : profile_default_dir();
	for (uint16_t p = 0; p < L.nports; p++) {
		struct rte_eth_dev_info di;
		char name[RTE_ETH_NAME_MAX_LEN] = "", note[600];
		rte_eth_dev_get_name_by_port(L.ports[p], name);
		const char *drv = rte_eth_dev_info_get(L.ports[p], &di) == 0 && di.driver_name
					  ? di.driver_name : "?";
		int r = profile_for(pdir, drv, &L.prof[p], note, sizeof(note));
		if (r < 0) {
			fprintf(stderr, "qprobe: the NIC profiles in %s have errors (above); not starting "
					"with a port half-configured\n", pdir);
			return QP_EXIT_USAGE;
		}
		if (r == 0)
			fprintf(stderr, "qprobe: warning: port %u (%s): %s: safe defaults (RSS on IP "
					"addresses when the port offers it, %u rx descriptors)\n",
				L.ports[p], name, note, o->rx_desc);
		else if (!o->quiet)
			fprintf(stderr, "qprobe: port %u (%s): driver %s, profile %s/%s (%s)\n", L.ports[p],
				name, drv, pdir, L.prof[p].file, L.prof[p].family);
	}

	/* who we are, and who may control us */
	char host[64] = "probe";
	gethostname(host, sizeof(host) - 1);
	snprintf(L.probe_id, sizeof(L.probe_id), "%s", o->probe_id ? o->probe_id : host);
	snprintf(L.probe_name, sizeof(L.probe_name), "%s", o->probe_name ? o->probe_name : host);
	static struct qp_acl acl;
	qp_acl_loopback(&acl);
	if (o->allow) {
		acl.n = 0;
		if (qp_acl_add(&acl, o->allow, err, sizeof(err))) {
			fprintf(stderr, "qprobe: --allow: %s\n", err);
			return QP_EXIT_USAGE;
		}
	}
	static uint8_t secret[QMCP_SECRET_MAX];
	size_t secret_len = 0;
	if (o->secret_file &&
	    qmcp_secret_load(o->secret_file, secret, sizeof(secret), &secret_len, err, sizeof(err))) {
		fprintf(stderr, "qprobe: --secret-file: %s\n", err);
		return QP_EXIT_USAGE;
	}

	unsigned int lc, k = 0;
	unsigned int lcores[RTE_MAX_LCORE];
	RTE_LCORE_FOREACH_WORKER(lc)
		lcores[k++] = lc;
	int rss = k > 1 && !o->force_sw_dist;
	for (uint16_t p = 0; rss && p < L.nports; p++)
		rss = port_has_rss(L.ports[p], k) && L.prof[p].rss &&
		      (!L.prof[p].max_rx_queues || k <= L.prof[p].max_rx_queues);
	L.sw_dist = k > 1 && !rss;
	unsigned int first_worker = 0;
	if (L.sw_dist) {
		L.dist_lcore = lcores[0];
		first_worker = 1;
	}
	L.nworkers = k - first_worker;
	for (unsigned int i = 0; i < L.nworkers; i++)
		L.worker_lcore[i] = lcores[first_worker + i];

	push_init(L.probe_id, o->secret_file ? secret : NULL, secret_len);
	tpl_init(L.probe_id, o->secret_file ? secret : NULL, secret_len, ctl_push_frame,
		 worker_done_ns);
	if (meas_init(L.nworkers, L.worker_lcore, o->flow_budget, o->flow_dists, on_result,
		      NULL) != 0)
		return QP_EXIT_RUNTIME;
	meas_set_clock(packet_now, o->ts_port);
	if (clock_start() != 0) {
		rc = QP_EXIT_RUNTIME;
		goto out;
	}

	static const struct rte_mbuf_dynfield tsdesc = {
		.name = "qprobe_rx_ts_ns",
		.size = sizeof(uint64_t),
		.align = __alignof__(uint64_t),
	};
	L.ts_off = rte_mbuf_dynfield_register(&tsdesc);
	L.mp = rte_pktmbuf_pool_create("qp_mbufs", o->mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       (int)rte_socket_id());
	if (L.ts_off < 0 || !L.mp) {
		fprintf(stderr, "qprobe: cannot create a pool of %u mbufs: %s (give EAL more memory "
				"with -m, or fewer --mbufs)\n", o->mbufs, rte_strerror(rte_errno));
		rc = QP_EXIT_RUNTIME;
		goto out;
	}
	for (unsigned int i = 0; i < L.nworkers && L.sw_dist; i++) {
		char rn[32];
		snprintf(rn, sizeof(rn), "qp_ring_%u", i);
		L.ring[i] = rte_ring_create(rn, RING_SIZE, (int)rte_socket_id(),
					    RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!L.ring[i]) {
			fprintf(stderr, "qprobe: cannot create ring %s: %s\n", rn, rte_strerror(rte_errno));
			rc = QP_EXIT_RUNTIME;
			goto out;
		}
	}
	/* the standing measurement, running before any worker polls */
	uint32_t standing = 0;
	if (o->measure) {
		struct meas_params p;
		params_from_opts(o, &p);
		long id = meas_start(&p, "command line", -1, err, sizeof(err));
		if (id < 0) {
			fprintf(stderr, "qprobe: %s\n", err);
			rc = id == -EINVAL ? QP_EXIT_INPUT : QP_EXIT_RUNTIME;
			goto out;
		}
		standing = (uint32_t)id;
	}
	for (int i = 0; o->cfg && i < o->cfg->nmeas; i++) {
		long id = meas_start(&o->cfg->meas[i], "config", -1, err, sizeof(err));
		if (id < 0) {
			fprintf(stderr, "qprobe: %s: $.measurements[%d]: %s\n", o->config, i, err);
			rc = id == -EINVAL ? QP_EXIT_INPUT : QP_EXIT_RUNTIME;
			goto out;
		}
		if (!o->quiet)
			fprintf(stderr, "qprobe: standing measurement %ld from %s ($.measurements[%d])\n", id,
			o->config, i);
	}
	static char desc[1024];
	size_t dl = 0;
	for (uint16_t p = 0; p < L.nports; p++) {
		char name[RTE_ETH_NAME_MAX_LEN] = "";
		rte_eth_dev_get_name_by_port(L.ports[p], name);
		uint16_t nq = (uint16_t)(rss ? L.nworkers : 1);
		int e = port_setup(L.ports[p], nq, rss, &L.prof[p]);
		if (e) {
			fprintf(stderr, "qprobe: port %u (%s): setup failed: %s\n", L.ports[p], name,
				strerror(e < 0 ? -e : e));
			rc = QP_EXIT_RUNTIME;
			goto out;
		}
		if (dl < sizeof(desc))
			dl += (size_t)snprintf(desc + dl, sizeof(desc) - dl, "%s%s", p ? "," : "", name);
	}
	L.source_desc = desc;
	for (unsigned int i = 0; i < L.nworkers; i++) {
		wctx[i].idx = i;
		wctx[i].nq = 0;
		for (uint16_t p = 0; p < L.nports; p++)
			wctx[i].q[wctx[i].nq++] = (struct rxq){L.ports[p], (uint16_t)(rss ? i : 0)};
	}
	if (!o->quiet)
		fprintf(stderr, "qprobe: %u port(s) [%s], %u worker lcore(s), %s\n", L.nports, desc,
		L.nworkers, L.sw_dist ? "software distribution" : rss ? "symmetric RSS" : "single worker");

	struct qp_http *http = NULL;
	if (o->http_port) {
		struct qp_http_ops ops = {stats_json,   flows_json,       intervals_json,
					  measurements_json, metrics_text, http_thread_init,
					  http_thread_fini, NULL};
		http = qp_http_start(o->http_addr, o->http_port, &ops);
		if (!http) {
			fprintf(stderr, "qprobe: cannot serve HTTP on %s port %d: %s (a free port and "
					"an IPv4/IPv6 literal are accepted)\n",
				o->http_addr, o->http_port, strerror(errno));
			rc = QP_EXIT_USAGE;
			goto stop_ports;
		}
		if (!o->quiet)
			fprintf(stderr, "qprobe: HTTP on %s:%d\n", o->http_addr, o->http_port);
	}
	if (o->qmcp_port) {
		struct ctl_cfg cc = {
			.addr = o->qmcp_addr,
			.port = o->qmcp_port,
			.secret = o->secret_file ? secret : NULL,
			.secret_len = secret_len,
			.acl = &acl,
			.probe_id = L.probe_id,
			.probe_name = L.probe_name,
			.info = info_fill,
			.started = wait_awake,
			.no_two_point = no_two_point(),
		};
		params_from_opts(o, &cc.defaults);
		cc.defaults.filter[0] = 0;
		cc.defaults.desc[0] = 0;
		cc.defaults.persist = 0;
		cc.defaults.max_flows = o->meas_max_flows;
		if (ctl_start(&cc, err, sizeof(err))) {
			fprintf(stderr, "qprobe: %s (a free port and an IPv4/IPv6 literal are accepted; "
					"--qmcp-port 0 turns QMCP off)\n", err);
			qp_http_stop(http);
			rc = QP_EXIT_USAGE;
			goto stop_ports;
		}
		if (!o->quiet)
			fprintf(stderr, "qprobe: QMCP on %s port %d (TCP, and UDP discovery)%s\n", o->qmcp_addr,
			o->qmcp_port, o->secret_file ? ", shared secret required" : "");
	}

	tel_register(); /* everything it reads is set up */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	uint64_t start_ns = qp_clock_realtime_ns();
	if (L.sw_dist)
		rte_eal_remote_launch(dist_main, NULL, L.dist_lcore);
	for (unsigned int i = 0; i < L.nworkers; i++)
		rte_eal_remote_launch(worker_main, &wctx[i], L.worker_lcore[i]);

	rcu_register_thread();
	rcu_thread_offline();
	uint64_t deadline = o->duration_s > 0 ? start_ns + (uint64_t)(o->duration_s * 1e9) : 0;
	uint64_t next_anchor = mono_ns() + qp_clock_disc_period_ns(L.disc);
	while (!g_stop) {
		/* idle, the loop wakes for sockets only (and 10 times a second);
		 * measuring, every 5 ms to close intervals on time */
		ctl_poll(meas_count() ? 5 : 100);
		push_poll();
		uint64_t now = qp_clock_realtime_ns();
		if (deadline && now >= deadline)
			break;
		/* intervals close on packet time, which a step of the system clock
		 * does not move */
		meas_tick(packet_now(), 0);
		if (L.o->ts_port)
			warn_missing_ts();
		uint64_t mono = mono_ns();
		if (mono >= next_anchor) {
			clock_anchor();
			next_anchor = mono + qp_clock_disc_period_ns(L.disc);
		}
	}
	CMM_STORE_SHARED(L.quit, 1);
	rte_eal_mp_wait_lcore();
	ctl_stop();
	qp_http_stop(http);
	meas_stop_all(o->report_requested ? standing : 0);
	push_flush(2000); /* what is queued for receivers gets its chance to go */
	push_fini();
	if (o->report_requested && standing)
		rc = meas_report(standing, o->report_format, o->report_file, L.source_desc);
	rcu_unregister_thread();
stop_ports:
	for (uint16_t p = 0; p < L.nports; p++) {
		rte_eth_dev_stop(L.ports[p]);
		rte_eth_dev_close(L.ports[p]);
	}
out:
	meas_fini();
	for (unsigned int i = 0; i < L.nworkers; i++)
		if (L.ring[i])
			rte_ring_free(L.ring[i]);
	rte_mempool_free(L.mp);
	if (L.clock)
		call_rcu(&L.clock->rcu, free_clock_cb);
	for (uint16_t p = 0; p < RTE_MAX_ETHPORTS; p++)
		if (L.port_clock[p])
			call_rcu(&L.port_clock[p]->rcu, free_clock_cb);
	rcu_barrier();
	qp_clock_disc_destroy(L.disc);
	for (uint16_t p = 0; p < RTE_MAX_ETHPORTS; p++)
		qp_clock_disc_destroy(L.port_disc[p]);
	return rc;
}
