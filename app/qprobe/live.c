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
 * The management loop re-anchors the TSC clock, closes intervals on wall
 * time and serves HTTP (its own thread); at the end it writes the report.
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
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_ring.h>

#include "qp_clock.h"
#include "qp_filter.h"
#include "qp_http.h"
#include "qp_offline.h"
#include "qp_report.h"
#include "qp_worker_dp.h"
#include "qprobe.h"

#define BURST 32
#define RING_SIZE 4096
#define IV_KEEP QP_HTTP_LAST_MAX
#define IV_GRACE_NS 20000000ULL /* a closed interval is read 20 ms after its end */
#define EXPIRE_EVERY 64          /* poll loops between expiry steps */
#define EXPIRE_BUCKETS 64
#define REANCHOR_NS 1000000000ULL

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
	X(ring_full, "Frames dropped because a worker's ring was full")

struct dist_counters {
#define F_(n, h) uint64_t n;
	QP_DIST_COUNTERS(F_)
#undef F_
};

/* An (port, queue) pair a worker polls. */
struct rxq {
	uint16_t port;
	uint16_t queue;
};

/*
 * Thread-safety: `cfg` and `clock` are RCU-published by the management core
 * and read by every worker under the QSBR read side; `quit` is set by the
 * management core and polled by workers. Each worker's struct qp_worker is
 * written by that worker only (see qp_worker_dp.h). `ivs` is written by the
 * management thread and read by the HTTP thread, both under iv_lock.
 */
struct live {
	const struct qprobe_opts *o;
	struct rte_mempool *mp;
	uint16_t ports[RTE_MAX_ETHPORTS];
	uint16_t nports;
	int sw_dist;
	unsigned int nworkers;
	unsigned int worker_lcore[RTE_MAX_LCORE];
	struct qp_worker *w[RTE_MAX_LCORE];
	struct rte_ring *ring[RTE_MAX_LCORE];
	unsigned int dist_lcore;
	struct dist_counters dist;
	int ts_off; /* mbuf dynfield holding the distributor's timestamp */
	struct qp_measure_cfg *cfg;
	struct qp_clock *clock;
	int quit;
	const char *source_desc;
	struct qp_rtp_cfg o_rtp; /* copy of the measurement's RTP settings */

	pthread_mutex_t iv_lock;
	struct qp_interval_rec ivs[IV_KEEP];
	uint64_t niv;     /* intervals closed so far */
	uint64_t next_iv; /* next interval to close */
	uint64_t start_ns;
};

static struct live L;
/* TCP counters and RTT histograms of every closed interval (report at exit) */
static struct qp_interval_acc tcp_total;
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

/* ---- worker and distributor lcores ---- */

struct wctx {
	unsigned int idx;
	struct rxq q[RTE_MAX_ETHPORTS];
	unsigned int nq;
};
static struct wctx wctx[RTE_MAX_LCORE];

static int worker_main(void *arg)
{
	struct wctx *c = arg;
	struct qp_worker *w = L.w[c->idx];
	struct rte_mbuf *m[BURST];
	struct qp_frame fr[BURST];
	uint64_t loops = 0;
	uint64_t prev = rte_rdtsc();

	rcu_register_thread();
	while (!CMM_LOAD_SHARED(L.quit)) {
		const struct qp_measure_cfg *cfg = rcu_dereference(L.cfg);
		const struct qp_clock *clk = rcu_dereference(L.clock);
		unsigned int got = 0;
		for (unsigned int s = 0; s < (L.sw_dist ? 1 : c->nq); s++) {
			uint16_t n;
			if (L.sw_dist)
				n = (uint16_t)rte_ring_sc_dequeue_burst(L.ring[c->idx], (void **)m,
									 BURST, NULL);
			else
				n = rte_eth_rx_burst(c->q[s].port, c->q[s].queue, m, BURST);
			if (!n)
				continue;
			got += n;
			uint64_t now = L.sw_dist ? 0 : qp_clock_ns(clk, rte_rdtsc());
			for (uint16_t i = 0; i < n; i++) {
				fr[i].data = rte_pktmbuf_mtod(m[i], const uint8_t *);
				fr[i].caplen = m[i]->data_len;
				fr[i].wirelen = m[i]->pkt_len;
				fr[i].ts_ns = L.sw_dist ? *ts_field(m[i]) : now;
			}
			qp_worker_process(w, cfg, fr, n);
			rte_pktmbuf_free_bulk(m, n);
		}
		if (++loops % EXPIRE_EVERY == 0)
			qp_worker_expire(w, cfg, qp_clock_ns(clk, rte_rdtsc()), EXPIRE_BUCKETS);
		/* nothing read above is used past this point */
		rcu_quiescent_state();
		uint64_t t = rte_rdtsc();
		if (got)
			w->busy_cycles += t - prev;
		w->total_cycles += t - prev;
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
		const struct qp_clock *clk = rcu_dereference(L.clock);
		for (uint16_t p = 0; p < L.nports; p++) {
			uint16_t n = rte_eth_rx_burst(L.ports[p], 0, m, BURST);
			if (!n)
				continue;
			L.dist.packets += n;
			uint64_t now = qp_clock_ns(clk, rte_rdtsc());
			memset(nout, 0, sizeof(nout[0]) * L.nworkers);
			for (uint16_t i = 0; i < n; i++) {
				struct qp_pkt pk;
				unsigned int idx = 0;
				*ts_field(m[i]) = now;
				if (qp_parse(pc, QP_LINK_ETHERNET, rte_pktmbuf_mtod(m[i], uint8_t *),
					     m[i]->data_len, &pk) == QP_PARSE_FLOW)
					idx = qp_flow_key_addr_hash(&pk.key) % L.nworkers;
				out[idx][nout[idx]++] = m[i];
			}
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
		}
		rcu_quiescent_state();
	}
	rcu_unregister_thread();
	free(pc);
	return 0;
}

/* ---- ports ---- */

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

static int port_setup(uint16_t port, uint16_t nrxq, int rss)
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
		conf.rx_adv_conf.rss_conf.rss_hf = RTE_ETH_RSS_IP & di.flow_type_rss_offloads;
	}
	uint16_t ntxq = 0;
	rc = rte_eth_dev_configure(port, nrxq, ntxq, &conf);
	if (rc) { /* some PMDs want a tx queue even on a receive-only port */
		ntxq = 1;
		rc = rte_eth_dev_configure(port, nrxq, ntxq, &conf);
	}
	if (rc)
		return rc;
	uint16_t nb_rxd = (uint16_t)L.o->rx_desc, nb_txd = 512;
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
	return 0;
}

/* ---- management: intervals ---- */

/* Close every interval whose end (plus grace) has passed. */
static void close_intervals(uint64_t now_ns, int final)
{
	uint64_t iv_ns = L.cfg->interval_ns;
	for (;;) {
		uint64_t k = L.next_iv;
		uint64_t end = (k + 1) * iv_ns;
		if (!final && now_ns < end + IV_GRACE_NS)
			break;
		if (final && k * iv_ns > now_ns)
			break;
		/* large (histograms): kept off the stack, used by this thread only */
		static struct qp_interval_acc a, sum;
		memset(&sum, 0, offsetof(struct qp_interval_acc, rtp_streams));
		struct qp_interval_rec rec = {0};
		for (unsigned int i = 0; i < L.nworkers; i++)
			if (qp_worker_interval_read(L.w[i], k, &a)) {
				qp_interval_acc_add(&sum, &a);
				qp_interval_rec_add_streams(&rec, &a, &L.o_rtp);
			}
		qp_interval_acc_add(&tcp_total, &sum);
		qp_interval_rec_from(&rec, &sum);
		rec.start_ns = k * iv_ns;
		rec.duration_ns = iv_ns;
		if (final && now_ns < end) { /* the last interval is cut short */
			uint64_t from = rec.start_ns > L.start_ns ? rec.start_ns : L.start_ns;
			rec.duration_ns = now_ns > from ? now_ns - from : 1;
		}
		if (rec.start_ns < L.start_ns && !final) {
			uint64_t d = end - L.start_ns;
			rec.duration_ns = d ? d : 1;
		}
		pthread_mutex_lock(&L.iv_lock);
		qp_interval_rec_release(&L.ivs[L.niv % IV_KEEP]);
		L.ivs[L.niv % IV_KEEP] = rec;
		L.niv++;
		pthread_mutex_unlock(&L.iv_lock);
		L.next_iv = k + 1;
		if (final && now_ns < end)
			break;
	}
}

/* ---- management: HTTP content ---- */

static json_t *stats_json(void *arg)
{
	(void)arg;
	json_t *root = json_object();
	json_object_set_new(root, "qprobe", json_pack("{s:s}", "version", qp_version()));
	json_object_set_new(root, "mode", json_string(L.sw_dist ? "software_distribution"
								  : (L.nworkers > 1 ? "rss" : "single_worker")));
	json_object_set_new(root, "timestamp_source", json_string("tsc"));
	json_t *ports = json_array();
	for (uint16_t p = 0; p < L.nports; p++) {
		struct rte_eth_stats st;
		char name[RTE_ETH_NAME_MAX_LEN] = "";
		rte_eth_dev_get_name_by_port(L.ports[p], name);
		json_t *o = json_pack("{s:i,s:s}", "port", L.ports[p], "name", name);
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
	for (unsigned int i = 0; i < L.nworkers; i++) {
		struct qp_worker *w = L.w[i];
		struct qp_flow_table_stats ts;
		qp_flow_table_stats(w->flows, &ts);
		json_t *o = qp_counters_json(&w->cnt);
		uint64_t busy = CMM_LOAD_SHARED(w->busy_cycles), tot_c = CMM_LOAD_SHARED(w->total_cycles);
		json_object_set_new(o, "lcore", json_integer(L.worker_lcore[i]));
		json_object_set_new(o, "role", json_string("worker"));
		json_object_set_new(o, "busy_ratio", json_real(tot_c ? (double)busy / (double)tot_c : 0));
		json_object_set_new(o, "flows", json_integer(qp_flow_table_count(w->flows)));
		json_object_set_new(o, "flow_capacity", json_integer(qp_flow_table_capacity(w->flows)));
		json_object_set_new(o, "flows_created", json_integer((json_int_t)ts.created));
		json_object_set_new(o, "evictions", json_integer((json_int_t)ts.evicted));
		json_object_set_new(o, "table_full", json_integer((json_int_t)ts.table_full));
		json_object_set_new(o, "expired_idle", json_integer((json_int_t)ts.expired_idle));
		json_object_set_new(o, "expired_active", json_integer((json_int_t)ts.expired_active));
		json_array_append_new(lcores, o);
		qp_capture_totals_add(&tot, w);
	}
	if (L.sw_dist) {
		json_t *o = json_pack("{s:i,s:s}", "lcore", L.dist_lcore, "role", "distributor");
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
	return root;
}

/* A bounded min-heap keeps the top N flows while the tables are walked. */
struct topn {
	struct qp_flow_rec *h;
	unsigned int n, cap;
	enum qp_flow_sort sort;
};

static uint64_t rec_weight(const struct qp_flow_rec *r, enum qp_flow_sort s)
{
	return s == QP_SORT_BYTES ? r->bytes[0] + r->bytes[1] : r->pkts[0] + r->pkts[1];
}

static void heap_down(struct topn *t, unsigned int i)
{
	for (;;) {
		unsigned int l = 2 * i + 1, r = l + 1, m = i;
		if (l < t->n && rec_weight(&t->h[l], t->sort) < rec_weight(&t->h[m], t->sort))
			m = l;
		if (r < t->n && rec_weight(&t->h[r], t->sort) < rec_weight(&t->h[m], t->sort))
			m = r;
		if (m == i)
			return;
		struct qp_flow_rec x = t->h[i];
		t->h[i] = t->h[m];
		t->h[m] = x;
		i = m;
	}
}

static void topn_add(const struct qp_flow *f, void *arg)
{
	struct topn *t = arg;
	struct qp_flow_rec r;
	qp_flow_rec_from(&r, f, QP_FLOW_REC_ACTIVE);
	qp_flow_rec_rtp(&r, f, &L.o_rtp);
	if (t->n < t->cap) {
		unsigned int i = t->n++;
		t->h[i] = r;
		while (i > 0) {
			unsigned int p = (i - 1) / 2;
			if (rec_weight(&t->h[p], t->sort) <= rec_weight(&t->h[i], t->sort))
				break;
			struct qp_flow_rec x = t->h[i];
			t->h[i] = t->h[p];
			t->h[p] = x;
			i = p;
		}
	} else if (rec_weight(&r, t->sort) > rec_weight(&t->h[0], t->sort)) {
		t->h[0] = r;
		heap_down(t, 0);
	}
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

static int cmp_weight_desc_bytes(const void *a, const void *b)
{
	uint64_t x = rec_weight(a, QP_SORT_BYTES), y = rec_weight(b, QP_SORT_BYTES);
	return x < y ? 1 : x > y ? -1 : 0;
}

static int cmp_weight_desc_pkts(const void *a, const void *b)
{
	uint64_t x = rec_weight(a, QP_SORT_PACKETS), y = rec_weight(b, QP_SORT_PACKETS);
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Walk every worker's flow table as an RCU reader. */
static void for_each_flow(void (*fn)(const struct qp_flow *, void *), void *arg)
{
	rcu_thread_online();
	rcu_read_lock();
	for (unsigned int i = 0; i < L.nworkers; i++)
		qp_flow_table_foreach(L.w[i]->flows, fn, arg);
	rcu_read_unlock();
	/* offline again: an idle HTTP thread must not hold up grace periods */
	rcu_thread_offline();
}

static json_t *collect_top(unsigned int top, enum qp_flow_sort sort, unsigned int *nout,
			   struct qp_flow_rec **out)
{
	struct topn t = {.cap = top, .sort = sort};
	t.h = malloc(sizeof(*t.h) * top);
	if (!t.h)
		return NULL;
	for_each_flow(topn_add, &t);
	if (t.n > 1)
		qsort(t.h, t.n, sizeof(*t.h),
		      sort == QP_SORT_BYTES ? cmp_weight_desc_bytes : cmp_weight_desc_pkts);
	*nout = t.n;
	*out = t.h;
	return json_true();
}

static json_t *flows_json(void *arg, unsigned int top, enum qp_flow_sort sort)
{
	(void)arg;
	unsigned int n;
	struct qp_flow_rec *recs;
	json_t *ok = collect_top(top, sort, &n, &recs);
	if (!ok)
		return NULL;
	json_t *arr = json_array();
	for (unsigned int i = 0; i < n; i++)
		json_array_append_new(arr, qp_flow_rec_json(&recs[i]));
	free(recs);
	uint64_t active = 0;
	for (unsigned int i = 0; i < L.nworkers; i++)
		active += qp_flow_table_count(L.w[i]->flows);
	return json_pack("{s:s,s:i,s:I,s:o}", "sort", sort == QP_SORT_BYTES ? "bytes" : "packets",
			 "top", (int)top, "active_flows", (json_int_t)active, "flows", arr);
}

static json_t *intervals_json(void *arg, unsigned int last)
{
	(void)arg;
	json_t *arr = json_array();
	pthread_mutex_lock(&L.iv_lock);
	uint64_t n = L.niv < IV_KEEP ? L.niv : IV_KEEP;
	if (last < n)
		n = last;
	for (uint64_t i = L.niv - n; i < L.niv; i++)
		json_array_append_new(arr, qp_interval_rec_json(&L.ivs[i % IV_KEEP]));
	pthread_mutex_unlock(&L.iv_lock);
	return json_pack("{s:f,s:o}", "interval_ms", (double)L.cfg->interval_ns / 1e6, "intervals", arr);
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

static char *metrics_text(void *arg)
{
	(void)arg;
	struct sbuf b = {.s = malloc(4096), .cap = 4096};
	if (!b.s)
		return NULL;
	b.s[0] = 0;
#define W_(name, help)                                                                        \
	sb_printf(&b, "# HELP qprobe_worker_" #name "_total " help "\n# TYPE qprobe_worker_" #name \
		      "_total counter\n");                                                        \
	for (unsigned int i = 0; i < L.nworkers; i++)                                          \
		sb_printf(&b, "qprobe_worker_" #name "_total{lcore=\"%u\"} %" PRIu64 "\n",        \
			  L.worker_lcore[i], CMM_LOAD_SHARED(L.w[i]->cnt.name));
	QP_WORKER_COUNTERS(W_)
#undef W_
	sb_printf(&b, "# HELP qprobe_parse_errors_by_reason_total Malformed frames by reason\n"
		      "# TYPE qprobe_parse_errors_by_reason_total counter\n");
	for (unsigned int i = 0; i < L.nworkers; i++)
		for (int r = 0; r < QP_PARSE_ERR_COUNT; r++)
			sb_printf(&b, "qprobe_parse_errors_by_reason_total{lcore=\"%u\",reason=\"%s\"} %" PRIu64 "\n",
				  L.worker_lcore[i], qp_parse_error_name(QP_PARSE_ERR_FIRST + r),
				  CMM_LOAD_SHARED(L.w[i]->cnt.perr[r]));
	sb_printf(&b, "# HELP qprobe_flows Flows in the worker's table\n# TYPE qprobe_flows gauge\n");
	for (unsigned int i = 0; i < L.nworkers; i++)
		sb_printf(&b, "qprobe_flows{lcore=\"%u\"} %u\n", L.worker_lcore[i],
			  qp_flow_table_count(L.w[i]->flows));
	static const char *tnames[] = {"created", "expired_idle", "expired_active", "evicted", "table_full"};
	static const char *thelp[] = {"Flows created", "Flows ended by the idle timeout",
				      "Flow records exported by the active timeout",
				      "Flows evicted to make room", "New flows refused: table full"};
	for (int k = 0; k < 5; k++) {
		sb_printf(&b, "# HELP qprobe_flows_%s_total %s\n# TYPE qprobe_flows_%s_total counter\n",
			  tnames[k], thelp[k], tnames[k]);
		for (unsigned int i = 0; i < L.nworkers; i++) {
			struct qp_flow_table_stats s;
			qp_flow_table_stats(L.w[i]->flows, &s);
			uint64_t v[] = {s.created, s.expired_idle, s.expired_active, s.evicted, s.table_full};
			sb_printf(&b, "qprobe_flows_%s_total{lcore=\"%u\"} %" PRIu64 "\n", tnames[k],
				  L.worker_lcore[i], v[k]);
		}
	}
	sb_printf(&b, "# HELP qprobe_worker_busy_ratio Share of poll-loop time spent on packets\n"
		      "# TYPE qprobe_worker_busy_ratio gauge\n");
	for (unsigned int i = 0; i < L.nworkers; i++) {
		uint64_t busy = CMM_LOAD_SHARED(L.w[i]->busy_cycles), t = CMM_LOAD_SHARED(L.w[i]->total_cycles);
		sb_printf(&b, "qprobe_worker_busy_ratio{lcore=\"%u\"} %.6f\n", L.worker_lcore[i],
			  t ? (double)busy / (double)t : 0.0);
	}
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
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* ---- the report at exit ---- */

static void add_active(const struct qp_flow *f, void *arg)
{
	struct qp_flow_rec r;
	qp_flow_rec_from(&r, f, QP_FLOW_REC_ACTIVE);
	qp_flow_rec_rtp(&r, f, &L.o_rtp);
	qp_report_add_flow(arg, &r);
}

static int write_report(void)
{
	struct qp_report *rep = qp_report_create();
	if (!rep)
		return QP_EXIT_RUNTIME;
	/* workers have stopped: their tables are read directly */
	for (unsigned int i = 0; i < L.nworkers; i++)
		qp_flow_table_foreach(L.w[i]->flows, add_active, rep);
	uint64_t n = L.niv < IV_KEEP ? L.niv : IV_KEEP;
	for (uint64_t i = L.niv - n; i < L.niv; i++)
		qp_report_add_interval(rep, &L.ivs[i % IV_KEEP]);
	struct qp_capture_totals tot;
	memset(&tot, 0, sizeof(tot));
	for (unsigned int i = 0; i < L.nworkers; i++)
		qp_capture_totals_add(&tot, L.w[i]);
	qp_report_set_totals(rep, &tot);
	qp_report_add_tcp(rep, &tcp_total);
	qp_report_set_source(rep, "live", L.source_desc, "ethernet", "ns (tsc)",
			     L.o->filter && L.o->filter[0] ? L.o->filter : NULL);
	int rc = QP_EXIT_OK;
	FILE *out = stdout;
	if (L.o->report_file && !(out = fopen(L.o->report_file, "w"))) {
		fprintf(stderr, "qprobe: cannot write the report to %s: %s\n", L.o->report_file,
			strerror(errno));
		rc = QP_EXIT_RUNTIME;
	} else {
		if (qp_report_write(rep, L.o->report_format, out) != 0)
			rc = QP_EXIT_RUNTIME;
		if (out != stdout)
			fclose(out);
	}
	qp_report_destroy(rep);
	return rc;
}

static void free_cfg_cb(struct rcu_head *h)
{
	struct qp_measure_cfg *c = caa_container_of(h, struct qp_measure_cfg, rcu);
	qp_filter_free(c->filter);
	free(c);
}

static void free_clock_cb(struct rcu_head *h)
{
	free(caa_container_of(h, struct qp_clock, rcu));
}

int qprobe_live(const struct qprobe_opts *o)
{
	int rc = QP_EXIT_OK;
	char err[512];
	memset(&L, 0, sizeof(L));
	L.o = o;
	pthread_mutex_init(&L.iv_lock, NULL);

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

	unsigned int lc, k = 0;
	unsigned int lcores[RTE_MAX_LCORE];
	RTE_LCORE_FOREACH_WORKER(lc)
		lcores[k++] = lc;
	int rss = k > 1 && !o->force_sw_dist;
	for (uint16_t p = 0; rss && p < L.nports; p++)
		rss = port_has_rss(L.ports[p], k);
	L.sw_dist = k > 1 && !rss;
	unsigned int first_worker = 0;
	if (L.sw_dist) {
		L.dist_lcore = lcores[0];
		first_worker = 1;
	}
	L.nworkers = k - first_worker;
	for (unsigned int i = 0; i < L.nworkers; i++)
		L.worker_lcore[i] = lcores[first_worker + i];

	/* the filter, interval and timeouts every worker runs under */
	struct qp_measure_cfg *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return QP_EXIT_RUNTIME;
	if (o->filter && o->filter[0]) {
		cfg->filter = qp_filter_compile(o->filter, QP_LINK_ETHERNET, err, sizeof(err));
		if (!cfg->filter) {
			fprintf(stderr, "qprobe: %s\n", err);
			free(cfg);
			return QP_EXIT_INPUT;
		}
	}
	cfg->linktype = QP_LINK_ETHERNET;
	cfg->base_ns = 0; /* intervals line up with the wall clock */
	cfg->interval_ns = o->interval_ns;
	cfg->idle_ns = o->idle_ns;
	cfg->active_ns = o->active_ns;
	cfg->rtp = o->rtp;
	L.o_rtp = o->rtp;
	rcu_assign_pointer(L.cfg, cfg);
	L.clock = qp_clock_anchor(rte_get_tsc_hz(), read_tsc);
	if (!L.clock) {
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
	for (unsigned int i = 0; i < L.nworkers; i++) {
		L.w[i] = rte_zmalloc("qp_worker", sizeof(struct qp_worker), 64);
		int e = L.w[i] ? qp_worker_init(L.w[i], L.worker_lcore[i], o->max_flows, 1) : -ENOMEM;
		if (!e)
			e = qp_flow_table_set_hists(L.w[i]->flows, o->flow_dists);
		if (e) {
			fprintf(stderr, "qprobe: cannot allocate a flow table of %u flows for lcore %u: %s\n",
				o->max_flows, L.worker_lcore[i], strerror(-e));
			rc = QP_EXIT_RUNTIME;
			goto out;
		}
		if (L.sw_dist) {
			char rn[32];
			snprintf(rn, sizeof(rn), "qp_ring_%u", i);
			L.ring[i] = rte_ring_create(rn, RING_SIZE, (int)rte_socket_id(),
						    RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (!L.ring[i]) {
				fprintf(stderr, "qprobe: cannot create ring %s: %s\n", rn,
					rte_strerror(rte_errno));
				rc = QP_EXIT_RUNTIME;
				goto out;
			}
		}
	}
	static char desc[1024];
	size_t dl = 0;
	for (uint16_t p = 0; p < L.nports; p++) {
		char name[RTE_ETH_NAME_MAX_LEN] = "";
		rte_eth_dev_get_name_by_port(L.ports[p], name);
		uint16_t nq = (uint16_t)(rss ? L.nworkers : 1);
		int e = port_setup(L.ports[p], nq, rss);
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
	fprintf(stderr, "qprobe: %u port(s) [%s], %u worker lcore(s), %s\n", L.nports, desc,
		L.nworkers, L.sw_dist ? "software distribution" : rss ? "symmetric RSS" : "single worker");

	struct qp_http *http = NULL;
	if (o->http_port) {
		struct qp_http_ops ops = {stats_json, flows_json,       intervals_json,
					  metrics_text, http_thread_init, http_thread_fini, NULL};
		http = qp_http_start(o->http_addr, o->http_port, &ops);
		if (!http) {
			fprintf(stderr, "qprobe: cannot serve HTTP on %s port %d: %s (a free port and "
					"an IPv4/IPv6 literal are accepted)\n",
				o->http_addr, o->http_port, strerror(errno));
			rc = QP_EXIT_USAGE;
			goto stop_ports;
		}
		fprintf(stderr, "qprobe: HTTP on %s:%d\n", o->http_addr, o->http_port);
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	L.start_ns = qp_clock_realtime_ns();
	L.next_iv = L.start_ns / cfg->interval_ns;
	if (L.sw_dist)
		rte_eal_remote_launch(dist_main, NULL, L.dist_lcore);
	for (unsigned int i = 0; i < L.nworkers; i++)
		rte_eal_remote_launch(worker_main, &wctx[i], L.worker_lcore[i]);

	rcu_register_thread();
	rcu_thread_offline();
	uint64_t deadline = o->duration_s > 0 ? L.start_ns + (uint64_t)(o->duration_s * 1e9) : 0;
	uint64_t last_anchor = L.start_ns;
	while (!g_stop) {
		struct timespec nap = {0, 5000000};
		nanosleep(&nap, NULL);
		uint64_t now = qp_clock_realtime_ns();
		if (deadline && now >= deadline)
			break;
		close_intervals(now, 0);
		if (now - last_anchor >= REANCHOR_NS) {
			struct qp_clock *nc = qp_clock_anchor(rte_get_tsc_hz(), read_tsc);
			if (nc) {
				struct qp_clock *old = L.clock;
				rcu_assign_pointer(L.clock, nc);
				call_rcu(&old->rcu, free_clock_cb);
			}
			last_anchor = now;
		}
	}
	CMM_STORE_SHARED(L.quit, 1);
	rte_eal_mp_wait_lcore();
	close_intervals(qp_clock_realtime_ns(), 1);
	qp_http_stop(http);
	if (o->report_requested)
		rc = write_report();
	for (unsigned int i = 0; i < IV_KEEP; i++)
		qp_interval_rec_release(&L.ivs[i]);
	rcu_unregister_thread();
stop_ports:
	for (uint16_t p = 0; p < L.nports; p++) {
		rte_eth_dev_stop(L.ports[p]);
		rte_eth_dev_close(L.ports[p]);
	}
out:
	for (unsigned int i = 0; i < L.nworkers; i++) {
		if (L.w[i]) {
			qp_worker_fini(L.w[i]);
			rte_free(L.w[i]);
		}
		rte_ring_free(L.ring[i]);
	}
	if (L.cfg)
		call_rcu(&L.cfg->rcu, free_cfg_cb);
	if (L.clock)
		call_rcu(&L.clock->rcu, free_clock_cb);
	rcu_barrier();
	rte_mempool_free(L.mp);
	return rc;
}
