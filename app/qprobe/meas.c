/*
 * meas: see meas.h. The table is small (MEAS_MAX) and kept sorted by id;
 * every change to what the workers run goes through publish(), which swaps
 * the set and frees the old one after a grace period.
 */
#include "meas.h"
#include "capture.h"
#include "tpl.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_malloc.h>
#include <urcu-qsbr.h>

#include "qp_clock.h"
#include "qp_filter.h"
#include "qp_offline.h"
#include "qp_top.h"
#include "push.h"

struct meas {
	uint32_t id;
	struct meas_params p;
	char owner[96];
	int session;
	uint64_t start_ns;
	struct qp_measure_cfg cfg;
	struct qp_worker *w[RTE_MAX_LCORE];
	int published;
	uint64_t next_iv;  /* next interval number to close */
	uint64_t nclosed;  /* intervals closed: the next one's seq */
	uint64_t intervals_incomplete; /* closed with a worker's part lost (closed too late) */
	struct qp_interval_rec *ring; /* MEAS_KEEP, by seq % MEAS_KEEP */
	struct qp_interval_acc *total; /* TCP/RTP/ICMP over every closed interval */
	struct tpl *tpl; /* two-point state, NULL when not two-point */
	struct group *grp; /* the flow table it shares, NULL: one of its own */
	unsigned int slot;
	uint32_t join;
	struct ipx *ipx; /* IPFIX export of its flow records, NULL: none */
	/* packet results: each worker's ring (NULL: none), and the records
	 * taken off them for intervals not closed yet */
	struct qp_pres_ring *pres[RTE_MAX_LCORE];
	/* results pushed to receivers carry the largest flows: each worker's
	 * walk chooses them (qp_top.h); NULL when there is no receiver */
	struct qp_top *top[RTE_MAX_LCORE];
	int pres_on;
	struct qp_pres *pend;
	size_t npend, cappend;
	uint64_t pres_dropped; /* records not made, as of the latest interval */
};

/*
 * Measurements that share a flow table on each lcore: same link type, flow
 * key, timeouts, metrics and RTP detection; none two-point. Management
 * thread only.
 */
struct group {
	struct qp_measure_cfg sem; /* the flow semantics (filter and intervals unused) */
	struct qp_group *g[RTE_MAX_LCORE];
	uint32_t slots; /* taken */
	unsigned int nmemb;
	uint64_t flows; /* the members' max_flows together: the tables' limit */
	uint32_t cap;   /* each table's entries: the flow budget */
};

static struct {
	pthread_mutex_t lock;
	struct meas *tab[MEAS_MAX];
	unsigned int n;
	uint32_t next_id;
	char ids_path[4096]; /* "": ids start at 1 each run */
	unsigned int nworkers;
	unsigned int lcore[RTE_MAX_LCORE];
	uint64_t budget, used;
	uint32_t dists;
	/* each worker lcore's flow memory, made at start-up: every table of the
	 * lcore draws on it (qp_flow_table.h) */
	struct qp_flow_pool *pool[RTE_MAX_LCORE];
	meas_result_fn *hook;
	void *hook_arg;
	uint64_t (*now)(void); /* packet time: qp_clock_realtime_ns unless meas_set_clock() */
	int port_time;         /* packet time is the ports' (a replayed file's time) */
	struct group *grp[MEAS_MAX];
	unsigned int ngrp;
	uint32_t epoch; /* the latest join */
	struct qp_sdp_table *sdp; /* media SIP announced, for every measurement's RTP */
} M = {.lock = PTHREAD_MUTEX_INITIALIZER, .now = qp_clock_realtime_ns};

#define IV_UNSET UINT64_MAX /* port time: the first interval is the first frame's */

struct meas_set *meas_published;

#define SDP_ENDPOINTS 4096 /* media endpoints SIP announced, kept at once */

#define IV_GRACE_NS 20000000ULL /* an interval is closed 20 ms after its end */

/* Flow memory from DPDK's hugepage heap (when it has hugepages and room). */
static void *huge_alloc(size_t bytes, int socket, void *arg)
{
	(void)arg;
	return rte_zmalloc_socket("qp_flows", bytes, 64, socket);
}

static void huge_free(void *p, void *arg)
{
	(void)arg;
	rte_free(p);
}

int meas_init(unsigned int nworkers, const unsigned int *worker_lcores, uint64_t flow_budget,
	      uint32_t flow_dists, meas_result_fn *hook, void *hook_arg)
{
	M.nworkers = nworkers;
	memcpy(M.lcore, worker_lcores, nworkers * sizeof(*worker_lcores));
	M.budget = flow_budget;
	M.dists = flow_dists;
	M.hook = hook;
	M.hook_arg = hook_arg;
	M.next_id = 1;
	for (unsigned int i = 0; i < nworkers; i++) {
		/* the budget's entries, the RTT distributions and as many
		 * application blocks, on the lcore's NUMA node and faulted in
		 * now: no page fault on the packet path, no allocation at START */
		struct qp_flow_pool_params pp = {
			.flows = (uint32_t)flow_budget, /* at most QP_FLOW_TABLE_MAX: the options say */
			.shared = 1,
			.dists = flow_dists,
			.apps = flow_dists,
			.socket = (int)rte_lcore_to_socket_id(worker_lcores[i]),
			.touch = 1,
			.alloc = rte_eal_has_hugepages() ? huge_alloc : NULL,
			.free = huge_free,
		};
		M.pool[i] = qp_flow_pool_create(&pp);
		if (!M.pool[i]) {
			fprintf(stderr,
				"qprobe: %u flows and %u RTT distributions per worker lcore take %zu MiB "
				"each, more than lcore %u can have: ask for fewer (--flow-budget, "
				"--flow-rtt-dists)\n",
				pp.flows, flow_dists, qp_flow_pool_need(&pp) >> 20,
				worker_lcores[i]);
			return -ENOMEM;
		}
	}
	M.sdp = qp_sdp_table_create(SDP_ENDPOINTS);
	meas_published = calloc(1, sizeof(*meas_published));
	return meas_published && M.sdp ? 0 : -ENOMEM;
}

/* the next measurement id on disk (write, sync, rename over): a crash leaves the old or the new */
static void save_next_id(void)
{
	if (!M.ids_path[0])
		return;
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", M.ids_path);
	FILE *f = fopen(tmp, "w");
	int ok = f && fprintf(f, "%u\n", M.next_id) > 0 && fflush(f) == 0 && fdatasync(fileno(f)) == 0;
	if (f)
		ok &= fclose(f) == 0;
	if (!ok || rename(tmp, M.ids_path) != 0)
		fprintf(stderr, "qprobe: cannot keep the next measurement id in %s: %s\n", M.ids_path,
			strerror(errno));
}

int meas_ids_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f) {
		unsigned long v = 0;
		char extra;
		int n = fscanf(f, "%lu %c", &v, &extra);
		fclose(f);
		if (n != 1 || v < 1 || v > UINT32_MAX - 1) {
			snprintf(err, errlen, "%s: a measurement id from 1 to %u is expected", path,
				 UINT32_MAX - 1);
			return -1;
		}
		M.next_id = (uint32_t)v;
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	snprintf(M.ids_path, sizeof(M.ids_path), "%s", path);
	save_next_id();
	return 0;
}

void meas_set_clock(uint64_t (*now)(void), int port_time)
{
	M.now = now;
	M.port_time = port_time;
}

void meas_lock(void)
{
	pthread_mutex_lock(&M.lock);
}

void meas_unlock(void)
{
	pthread_mutex_unlock(&M.lock);
}

/* Give the workers the published measurements of the table; wait until none reads the old set. */
static void publish(void)
{
	struct meas_set *ns = calloc(1, sizeof(*ns));
	if (!ns)
		abort(); /* 1.5 KiB at a control event: nothing sensible is left to do */
	for (unsigned int i = 0; i < M.n; i++) {
		struct meas *m = M.tab[i];
		if (!m->published)
			continue;
		ns->m[ns->n].cfg = &m->cfg;
		ns->m[ns->n].w = m->w;
		ns->m[ns->n].next_iv = &m->next_iv;
		ns->m[ns->n].grouped = m->grp != NULL;
		ns->n++;
	}
	for (unsigned int j = 0; j < M.ngrp; j++) {
		struct group *gr = M.grp[j];
		struct qp_group_view *v = &ns->g[ns->ng].v;
		v->cfg = &gr->sem;
		for (unsigned int i = 0; i < M.n; i++) {
			struct meas *m = M.tab[i];
			if (m->published && m->grp == gr)
				v->m[v->n++] = (struct qp_group_member){m->slot, m->join, &m->cfg, m->w};
		}
		if (!v->n)
			continue;
		if (qp_group_view_build(v) != 0)
			abort(); /* slots and epochs are ours: not reached */
		ns->g[ns->ng++].g = gr->g;
	}
	struct meas_set *old = meas_published;
	rcu_assign_pointer(meas_published, ns);
	synchronize_rcu();
	free(old);
}

/* Leave m's group; the last member out destroys it (no worker reads it: unpublished). */
static void group_leave(struct meas *m)
{
	struct group *gr = m->grp;
	if (!gr)
		return;
	m->grp = NULL;
	gr->slots &= ~(1u << m->slot);
	gr->flows -= m->p.max_flows;
	if (--gr->nmemb) {
		for (unsigned int i = 0; i < M.nworkers; i++)
			qp_group_set_limit(gr->g[i], (uint32_t)gr->flows);
		return;
	}
	unsigned int j = 0;
	while (M.grp[j] != gr)
		j++;
	M.grp[j] = M.grp[--M.ngrp];
	qp_groups_fini(gr->g, M.nworkers); /* one RCU barrier for every lcore's table */
	free(gr);
}

/* Same flow semantics: one table serves both (qp_group_dp.h). */
static int same_flows(const struct qp_measure_cfg *a, const struct qp_measure_cfg *b)
{
	return a->linktype == b->linktype && a->flow_key == b->flow_key && a->idle_ns == b->idle_ns &&
	       a->active_ns == b->active_ns && a->metrics_off == b->metrics_off &&
	       a->rtp.port_lo == b->rtp.port_lo && a->rtp.port_hi == b->rtp.port_hi &&
	       a->rtp.dynamic_clock_hz == b->rtp.dynamic_clock_hz &&
	       !memcmp(a->dns_ports, b->dns_ports, sizeof(a->dns_ports)) && a->tls_sni == b->tls_sni;
}

/*
 * Give m a slot in the group of its flow semantics, a new group when there
 * is none with room. Its workers are members. @return 0 or -ENOMEM.
 */
static int group_join(struct meas *m)
{
	struct group *gr = NULL;
	for (unsigned int j = 0; j < M.ngrp && !gr; j++)
		if (M.grp[j]->nmemb < QP_GROUP_SLOTS && same_flows(&M.grp[j]->sem, &m->cfg))
			gr = M.grp[j];
	if (!gr) {
		if (M.ngrp == MEAS_MAX || !(gr = calloc(1, sizeof(*gr))))
			return -ENOMEM;
		gr->sem = m->cfg;
		gr->sem.filter = NULL;
		/* the budget is the most the members can ask for together; the
		 * entries come from the lcore's pool */
		gr->cap = (uint32_t)M.budget;
		for (unsigned int i = 0; i < M.nworkers; i++) {
			gr->g[i] = qp_group_create_in(M.pool[i], gr->cap, 1);
			if (!gr->g[i]) {
				qp_groups_fini(gr->g, i);
				free(gr);
				return -ENOMEM;
			}
		}
		M.grp[M.ngrp++] = gr;
	}
	m->slot = (unsigned int)__builtin_ctz(~gr->slots);
	m->join = ++M.epoch;
	m->grp = gr;
	gr->slots |= 1u << m->slot;
	gr->nmemb++;
	gr->flows += m->p.max_flows;
	for (unsigned int i = 0; i < M.nworkers; i++) {
		qp_worker_init_member(m->w[i], M.lcore[i], gr->g[i], m->slot, m->join);
		qp_group_set_limit(gr->g[i], (uint32_t)gr->flows);
	}
	return 0;
}

/* Packet results: a ring for each worker, taken into account one frame at a time. */
static int pres_start(struct meas *m)
{
	uint32_t rate = m->p.packet_rate;
	if (!rate)
		return 0;
	uint64_t share = (rate + M.nworkers - 1) / M.nworkers;
	uint32_t n = 16;
	while (n < 2 * share && n < (1u << 16)) /* two seconds' worth, at most 65,536 */
		n <<= 1;
	for (unsigned int i = 0; i < M.nworkers; i++) {
		m->pres[i] = qp_pres_ring_create(n, share);
		if (!m->pres[i])
			return -ENOMEM;
		m->w[i]->pres = m->pres[i];
		qp_worker_taps_update(m->w[i]);
		meas_capturing(m, i, 1);
	}
	m->pres_on = 1;
	return 0;
}

static void free_meas(struct meas *m)
{
	for (unsigned int i = 0; i < M.nworkers; i++)
		if (m->pres[i]) {
			meas_capturing(m, i, -1); /* the group's frames may be gathered again */
			free(m->pres[i]);
		}
	free(m->pend);
	ipx_destroy(m->ipx); /* one that never ran: a running one was handed to ipx_stop */
	tpl_destroy(m->tpl); /* unpublished: no worker writes its rings any more */
	qp_workers_fini(m->w, M.nworkers); /* one RCU barrier for all the tables */
	group_leave(m);
	for (unsigned int i = 0; i < M.nworkers; i++) {
		rte_free(m->w[i]);
		free(m->top[i]);
	}
	if (m->ring)
		for (unsigned int i = 0; i < MEAS_KEEP; i++)
			qp_interval_rec_release(&m->ring[i]);
	free(m->ring);
	free(m->total);
	qp_filter_free(m->cfg.filter);
	free(m);
}

int meas_dest_check(const char *d)
{
	const char *colon = strrchr(d, ':');
	if (!colon || colon == d || strlen(d) >= sizeof(((struct meas_params *)0)->dest[0]))
		return -EINVAL;
	if (d[0] == '[' && colon[-1] != ']')
		return -EINVAL;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	return colon[1] && !*end && port >= 1 && port <= 65535 ? 0 : -EINVAL;
}

static int check_params(const struct meas_params *p, char *err, size_t errlen)
{
	if (p->interval_ns < 50000000ULL || p->interval_ns > 3600000000000ULL) {
		snprintf(err, errlen, "interval %.0f ms: from 50 ms to 3600000 ms is accepted",
			 (double)p->interval_ns / 1e6);
		return -EINVAL;
	}
	if (p->idle_ns < 1000000000ULL || p->idle_ns > 86400000000000ULL) {
		snprintf(err, errlen, "idle timeout %.3f s: from 1 s to 86400 s is accepted",
			 (double)p->idle_ns / 1e9);
		return -EINVAL;
	}
	if (p->active_ns > 86400000000000ULL) {
		snprintf(err, errlen, "active timeout %.3f s: from 0 (none) to 86400 s is accepted",
			 (double)p->active_ns / 1e9);
		return -EINVAL;
	}
	if (p->max_flows < 16 || p->max_flows > 16777216) {
		snprintf(err, errlen, "max flows %u: from 16 to 16777216 per worker lcore is accepted",
			 p->max_flows);
		return -EINVAL;
	}
	if (p->rtp.port_lo > p->rtp.port_hi) {
		snprintf(err, errlen, "RTP ports %u-%u: the low port must not exceed the high one",
			 p->rtp.port_lo, p->rtp.port_hi);
		return -EINVAL;
	}
	if (p->rtp.dynamic_clock_hz < 1000 || p->rtp.dynamic_clock_hz > 1000000) {
		snprintf(err, errlen, "RTP clock %u Hz: from 1000 to 1000000 is accepted",
			 p->rtp.dynamic_clock_hz);
		return -EINVAL;
	}
	const struct tpl_params *tp = &p->tp;
	if (tp->role > TPL_ROLE_SECONDARY) {
		snprintf(err, errlen, "TP_ROLE %d: 1 (primary, with TP_PEER) or 2 (secondary) is accepted",
			 tp->role);
		return -EINVAL;
	}
	if (tp->role == TPL_ROLE_PRIMARY && meas_dest_check(tp->peer)) {
		snprintf(err, errlen,
			 "TP_PEER '%.100s': the secondary as host:port is accepted (e.g. 192.0.2.9:8177)",
			 tp->peer);
		return -EINVAL;
	}
	if (tp->role == TPL_ROLE_SECONDARY && (tp->peer[0] || tp->peer_filter[0])) {
		snprintf(err, errlen, "a secondary takes no TP_PEER or TP_PEER_FILTER");
		return -EINVAL;
	}
	if (tp->role && tp->sig.payload_bytes > QP_SIG_PAYLOAD_MAX) {
		snprintf(err, errlen, "TP_SIG_PAYLOAD %u: from 0 to %d bytes is accepted",
			 tp->sig.payload_bytes, QP_SIG_PAYLOAD_MAX);
		return -EINVAL;
	}
	if (tp->role && tp->loss_timer_ns &&
	    (tp->loss_timer_ns < 10000000ULL || tp->loss_timer_ns > 600000000000ULL)) {
		snprintf(err, errlen, "TP_LOSS_TIMER_MS %.0f: from 10 to 600000 is accepted",
			 (double)tp->loss_timer_ns / 1e6);
		return -EINVAL;
	}
	if (!tp->role && (tp->peer_filter[0] || tp->sig.threshold != UINT64_MAX || tp->sig.nat ||
			  tp->sig.payload_bytes != QP_SIG_PAYLOAD_DEFAULT || tp->loss_timer_ns)) {
		snprintf(err, errlen, "two-point fields without TP_PEER or TP_ROLE");
		return -EINVAL;
	}
	return 0;
}

long meas_start(const struct meas_params *p, const char *owner, int session, char *err,
		size_t errlen)
{
	int e = check_params(p, err, errlen);
	if (e)
		return e;
	if (M.n >= MEAS_MAX) {
		snprintf(err, errlen, "%u measurements are running, the most this probe runs at once",
			 M.n);
		return -ENOSPC;
	}
	if (M.used + p->max_flows > M.budget) {
		snprintf(err, errlen,
			 "%u flows per lcore asked, %llu of the probe's %llu left (--max-flows); "
			 "ask for fewer or stop a measurement",
			 p->max_flows, (unsigned long long)(M.budget - M.used),
			 (unsigned long long)M.budget);
		return -ENOSPC;
	}
	struct meas *m = calloc(1, sizeof(*m));
	if (!m)
		goto nomem;
	m->p = *p;
	snprintf(m->owner, sizeof(m->owner), "%s", owner ? owner : "");
	m->session = session;
	if (p->filter[0]) {
		m->cfg.filter = qp_filter_compile(p->filter, QP_LINK_ETHERNET, err, errlen);
		if (!m->cfg.filter) {
			free(m);
			return -EINVAL;
		}
	}
	m->cfg.linktype = QP_LINK_ETHERNET;
	m->cfg.base_ns = 0; /* intervals line up with the wall clock */
	m->cfg.interval_ns = p->interval_ns;
	m->cfg.idle_ns = p->idle_ns;
	m->cfg.active_ns = p->active_ns;
	m->cfg.metrics_off = p->metrics_off;
	m->cfg.flow_key = p->flow_key;
	m->cfg.rtp = p->rtp;
	m->cfg.rtp.sdp = M.sdp;
	memcpy(m->cfg.dns_ports, p->dns_ports, sizeof(m->cfg.dns_ports));
	if (!m->cfg.dns_ports[0])
		m->cfg.dns_ports[0] = 53;
	m->cfg.tls_sni = p->tls_sni;
	m->ring = calloc(MEAS_KEEP, sizeof(*m->ring));
	m->total = calloc(1, sizeof(*m->total));
	if (!m->ring || !m->total)
		goto nomem_m;
	for (unsigned int i = 0; i < M.nworkers; i++) {
		m->w[i] = rte_zmalloc("qp_worker", sizeof(struct qp_worker), 64);
		if (!m->w[i])
			goto nomem_m;
		/* two-point measurements sign and select per measurement: a table
		 * of their own, on the lcore's pool */
		if (p->tp.role && qp_worker_init_in(m->w[i], M.lcore[i], M.pool[i], p->max_flows, 1))
			goto nomem_m;
	}
	if (!p->tp.role && group_join(m))
		goto nomem_m;
	if (p->nipfix) {
		m->ipx = ipx_create(p->ipfix, p->nipfix, M.nworkers, &m->cfg.rtp, err, errlen);
		if (!m->ipx) {
			free_meas(m);
			return -EINVAL;
		}
		for (unsigned int i = 0; i < M.nworkers; i++)
			m->w[i]->export_fn = ipx_hook(m->ipx, i, &m->w[i]->export_arg);
	}
	for (int i = 0; i < p->ndest; i++)
		if (push_ref(p->dest[i])) {
			for (int k = 0; k < i; k++)
				push_unref(p->dest[k]);
			m->p.ndest = 0;
			free_meas(m);
			snprintf(err, errlen, "too many results destinations on this probe (%d)",
				 PUSH_DESTS_MAX);
			return -ENOSPC;
		}
	m->start_ns = M.now();
	m->next_iv = m->start_ns / p->interval_ns;
	if (M.port_time)
		m->next_iv = IV_UNSET; /* the ports' time is the frames': wait for them */
	if (p->tp.role) {
		/* management thread only: the id it is about to get */
		struct tpl_meas tm = {.id = M.next_id,
				      .session = session,
				      .filter = p->filter,
				      .interval_ns = p->interval_ns,
				      .start_ns = m->start_ns,
				      .max_flows = p->max_flows};
		m->tpl = tpl_create(&p->tp, &tm, M.nworkers, err, errlen);
		if (!m->tpl) {
			for (int k = 0; k < p->ndest; k++)
				push_unref(p->dest[k]);
			m->p.ndest = 0;
			free_meas(m);
			return -ENOMEM;
		}
		m->cfg.sig = tpl_sig(m->tpl);
		for (unsigned int i = 0; i < M.nworkers; i++)
			m->w[i]->tp_ring = tpl_ring(m->tpl, i);
	}
	for (unsigned int i = 0; i < M.nworkers && p->ndest; i++) {
		m->top[i] = malloc(sizeof(*m->top[i]));
		if (!m->top[i]) {
			for (int k = 0; k < p->ndest; k++)
				push_unref(p->dest[k]);
			m->p.ndest = 0;
			goto nomem_m;
		}
		qp_top_init(m->top[i], &m->cfg.rtp);
		m->w[i]->top = m->top[i]; /* before the workers see the measurement */
	}
	if (pres_start(m)) {
		for (int k = 0; k < p->ndest; k++)
			push_unref(p->dest[k]);
		m->p.ndest = 0;
		free_meas(m);
		snprintf(err, errlen, "not enough memory for packet results at %u records a second",
			 p->packet_rate);
		return -ENOMEM;
	}
	m->published = 1;
	meas_lock();
	m->id = M.next_id++;
	save_next_id();
	M.tab[M.n++] = m; /* ids grow: the table stays sorted */
	M.used += p->max_flows;
	meas_unlock();
	publish();
	return m->id;
nomem_m:
	free_meas(m);
nomem:
	snprintf(err, errlen, "not enough memory for %u flows on %u lcores", p->max_flows, M.nworkers);
	return -ENOMEM;
}

/*
 * Port time: the oldest interval number at or after `from` that a worker
 * still holds, or IV_UNSET. A replayed file starts anywhere in time and may
 * jump by years: only intervals in a worker's slots can have frames.
 */
static uint64_t oldest_held(const struct meas *m, uint64_t from)
{
	uint64_t low = IV_UNSET;
	for (unsigned int i = 0; i < M.nworkers; i++) {
		const struct qp_worker *w = m->w[i];
		if (!__atomic_load_n(&w->have_iv, __ATOMIC_ACQUIRE))
			continue;
		/* a slot holds one of the last QP_IV_SLOTS intervals, or never held one */
		uint64_t cur = __atomic_load_n(&w->cur_iv, __ATOMIC_ACQUIRE);
		for (unsigned int s = 0; s < QP_IV_SLOTS; s++) {
			uint64_t iv = __atomic_load_n(&w->iv[s].iv, __ATOMIC_ACQUIRE);
			if (iv >= from && iv < low && iv <= cur && iv + QP_IV_SLOTS > cur)
				low = iv;
		}
	}
	return low;
}

static int pres_cmp(const void *a, const void *b)
{
	const struct qp_pres *x = a, *y = b;
	return x->ts_ns < y->ts_ns ? -1 : x->ts_ns > y->ts_ns;
}

#define PRES_KEEP 16 /* kept intervals that keep their packet results */

/*
 * Packet results: the records of the packets before `end` (the interval
 * being closed), oldest first, as the interval's JSON text; later ones wait.
 */
static char *pres_take(struct meas *m, uint64_t end)
{
	for (unsigned int i = 0; i < M.nworkers; i++) {
		const struct qp_pres *r;
		while ((r = qp_pres_peek(m->pres[i]))) {
			if (m->npend == m->cappend) {
				size_t c = m->cappend ? 2 * m->cappend : 1024;
				struct qp_pres *n = realloc(m->pend, c * sizeof(*n));
				if (!n)
					break; /* they wait in the ring, which drops and counts */
				m->pend = n;
				m->cappend = c;
			}
			m->pend[m->npend++] = *r;
			qp_pres_pop(m->pres[i]);
		}
	}
	qsort(m->pend, m->npend, sizeof(*m->pend), pres_cmp);
	size_t k = 0;
	while (k < m->npend && m->pend[k].ts_ns < end)
		k++;
	uint64_t dropped = 0;
	for (unsigned int i = 0; i < M.nworkers; i++)
		dropped += qp_pres_dropped(m->pres[i]);
	json_t *rows = json_array();
	for (size_t i = 0; i < k; i++) {
		char line[400];
		size_t n = qp_pres_csv(&m->pend[i], line, sizeof(line));
		if (n && line[n - 1] == '\n')
			line[--n] = 0;
		json_array_append_new(rows, json_stringn(line, n));
	}
	memmove(m->pend, m->pend + k, (m->npend - k) * sizeof(*m->pend));
	m->npend -= k;
	json_t *o = json_pack("{s:s,s:o,s:I}", "columns", QP_PRES_COLUMNS, "rows", rows, "not_recorded",
			      (json_int_t)(dropped - m->pres_dropped));
	m->pres_dropped = dropped;
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

static void close_intervals(struct meas *m, uint64_t now_ns, int final)
{
	uint64_t iv_ns = m->cfg.interval_ns;
	if (m->next_iv == IV_UNSET) { /* port time: from the first frame's interval */
		uint64_t k = oldest_held(m, 0);
		if (k == IV_UNSET || k > now_ns / iv_ns)
			return; /* no frame yet */
		m->start_ns = k * iv_ns; /* the file's first interval is whole */
		__atomic_store_n(&m->next_iv, k, __ATOMIC_RELEASE);
	}
	for (;;) {
		uint64_t k = m->next_iv;
		uint64_t upto = now_ns / iv_ns;
		if (M.port_time && upto > k && upto - k > QP_IV_SLOTS) {
			/* years without a frame in the file: only held intervals count */
			uint64_t h = oldest_held(m, k);
			k = h < upto ? h : upto - QP_IV_SLOTS;
			__atomic_store_n(&m->next_iv, k, __ATOMIC_RELEASE);
		}
		uint64_t end = (k + 1) * iv_ns;
		if (!final && now_ns < end + IV_GRACE_NS)
			break;
		if (final && k * iv_ns > now_ns)
			break;
		/* large (histograms): kept off the stack, management thread only */
		static struct qp_interval_acc a, sum;
		memset(&sum, 0, offsetof(struct qp_interval_acc, rtp_streams));
		struct qp_interval_rec rec = {0};
		for (unsigned int i = 0; i < M.nworkers; i++) {
			int got = qp_worker_interval_read(m->w[i], k, &a);
			if (got == QP_IV_READ) {
				qp_interval_acc_add(&sum, &a);
				qp_interval_rec_add_streams(&rec, &a, &m->cfg.rtp);
			} else if (got == QP_IV_LOST) {
				rec.lcores_missed++; /* closed too late: a later interval took the slot */
			}
		}
		if (rec.lcores_missed)
			m->intervals_incomplete++;
		qp_interval_acc_add(m->total, &sum);
		qp_interval_rec_from(&rec, &sum);
		json_t *tpj = m->tpl ? tpl_take_results(m->tpl) : NULL;
		if (tpj) {
			rec.tp_json = json_dumps(tpj, JSON_COMPACT | JSON_REAL_PRECISION(10));
			json_decref(tpj);
		}
		rec.start_ns = k * iv_ns;
		rec.duration_ns = iv_ns;
		if (m->pres_on)
			rec.pres_json = pres_take(m, end);
		/* the first and the last interval are cut to the measurement's life */
		uint64_t from = rec.start_ns > m->start_ns ? rec.start_ns : m->start_ns;
		uint64_t to = final && now_ns < end ? now_ns : end;
		rec.duration_ns = to > from ? to - from : 1;
		uint64_t seq = m->nclosed;
		meas_lock();
		qp_interval_rec_release(&m->ring[seq % MEAS_KEEP]);
		m->ring[seq % MEAS_KEEP] = rec;
		if (seq >= PRES_KEEP) { /* older intervals keep their figures, not their packets */
			free(m->ring[(seq - PRES_KEEP) % MEAS_KEEP].pres_json);
			m->ring[(seq - PRES_KEEP) % MEAS_KEEP].pres_json = NULL;
		}
		m->nclosed++;
		meas_unlock();
		/* the slot is read: a worker held back by it may go on */
		__atomic_store_n(&m->next_iv, k + 1, __ATOMIC_RELEASE);
		if (M.hook)
			M.hook(m, seq, &m->ring[seq % MEAS_KEEP], M.hook_arg);
		if (final && now_ns < end)
			break;
	}
}

void meas_tick(uint64_t now_ns, int final)
{
	for (unsigned int i = 0; i < M.n; i++)
		if (M.tab[i]->published) {
			if (M.tab[i]->tpl)
				tpl_tick(M.tab[i]->tpl, now_ns);
			close_intervals(M.tab[i], now_ns, final);
		}
}

static int index_of(uint32_t id)
{
	for (unsigned int i = 0; i < M.n; i++)
		if (M.tab[i]->id == id)
			return (int)i;
	return -1;
}

/* Take m out of the table (its state is no longer read by anyone) and free it. */
static void remove_and_free(struct meas *m)
{
	meas_lock();
	int i = index_of(m->id);
	memmove(&M.tab[i], &M.tab[i + 1], (M.n - (unsigned int)i - 1) * sizeof(M.tab[0]));
	M.n--;
	M.used -= m->p.max_flows;
	meas_unlock();
	for (int k = 0; k < m->p.ndest; k++)
		push_unref(m->p.dest[k]);
	free_meas(m);
}

/* ipx_stop's walk: every flow m has in its tables now. */
static void walk_flows(void (*take)(const struct qp_flow *f, void *a), void *a, void *warg)
{
	struct meas *m = warg;
	rcu_thread_online();
	rcu_read_lock();
	for (unsigned int i = 0; i < M.nworkers; i++)
		qp_worker_flows_foreach(m->w[i], take, a);
	rcu_read_unlock();
	rcu_thread_offline();
}

/* The flows m still has go to its IPFIX collectors; the exporter drains on its own. */
static void ipfix_stop(struct meas *m)
{
	if (!m->ipx)
		return;
	ipx_stop(m->ipx, walk_flows, m);
	m->ipx = NULL;
}

int meas_stop(uint32_t id)
{
	int i = index_of(id);
	if (i < 0)
		return -ENOENT;
	struct meas *m = M.tab[i];
	m->published = 0;
	publish(); /* after this no worker touches m */
	close_intervals(m, M.now(), 1);
	ipfix_stop(m);
	cap_meas_stopped(m);
	remove_and_free(m);
	return 0;
}

int meas_stop_session(int session)
{
	int n = 0;
	for (unsigned int i = 0; i < M.n;) {
		struct meas *m = M.tab[i];
		if (m->session == session && !m->p.persist) {
			meas_stop(m->id);
			n++;
		} else {
			i++;
		}
	}
	return n;
}

void meas_stop_all(uint32_t keep_id)
{
	uint64_t now = M.now();
	for (unsigned int i = 0; i < M.n;) {
		struct meas *m = M.tab[i];
		int was = m->published;
		m->published = 0; /* its last results: the tables as they are (meas_top_flows_json) */
		if (was)
			close_intervals(m, now, 1);
		ipfix_stop(m); /* the workers have stopped (the probe exits) */
		if (m->id == keep_id)
			i++;
		else
			remove_and_free(m);
	}
	publish();
}

void meas_fini(void)
{
	while (M.n)
		remove_and_free(M.tab[0]);
	free(meas_published);
	meas_published = NULL;
	qp_sdp_table_destroy(M.sdp);
	M.sdp = NULL;
	for (unsigned int i = 0; i < M.nworkers; i++) { /* no table is left */
		qp_flow_pool_destroy(M.pool[i]);
		M.pool[i] = NULL;
	}
}

struct meas *meas_find(uint32_t id)
{
	int i = index_of(id);
	return i < 0 ? NULL : M.tab[i];
}

const struct meas_params *meas_params(const struct meas *m)
{
	return &m->p;
}

struct qp_worker *meas_worker(struct meas *m, unsigned int i)
{
	return m->w[i];
}

void meas_capturing(struct meas *m, unsigned int i, int delta)
{
	if (m->grp)
		qp_group_capturing(m->grp->g[i], delta);
}

uint32_t meas_id(const struct meas *m)
{
	return m->id;
}

int meas_session(const struct meas *m)
{
	return m->session;
}

unsigned int meas_count(void)
{
	return M.n;
}

struct meas *meas_at(unsigned int i)
{
	return i < M.n ? M.tab[i] : NULL;
}

static json_t *metrics_json(uint32_t off)
{
	json_t *a = json_array();
	json_array_append_new(a, json_string("traffic"));
#define FAM_(name, bit)        \
	if (!(off & (bit))) \
		json_array_append_new(a, json_string(name));
	QP_METRIC_FAMILIES(FAM_)
#undef FAM_
	return a;
}

/* A worker lcore's pool of flow memory, and its bytes in *total. */
static json_t *pool_json(const struct qp_flow_pool *pl, size_t *total)
{
	struct qp_flow_pool_memory pm;
	qp_flow_pool_memory(pl, &pm);
	*total = qp_flow_pool_bytes(&pm);
	json_t *o = json_pack(
		"{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "flow_entries", (json_int_t)pm.entries,
		"flow_entry_bytes", (json_int_t)pm.entry_bytes, "flow_pool_bytes",
		(json_int_t)pm.pool_bytes, "cold_block_bytes", (json_int_t)pm.cold_bytes,
		"cold_pool_bytes", (json_int_t)pm.cold_pool_bytes, "free_ring_bytes",
		(json_int_t)pm.free_ring_bytes, "rtt_distributions", (json_int_t)pm.rtt_dists,
		"rtt_distribution_bytes", (json_int_t)pm.rtt_dist_bytes, "app_blocks",
		(json_int_t)pm.app_blocks, "app_block_bytes", (json_int_t)pm.app_bytes);
	return o;
}

/* A flow table's own memory beside its pool, and its bytes in *total. */
static json_t *table_json(const struct qp_flow_table *t, size_t *total)
{
	struct qp_flow_table_memory fm;
	qp_flow_table_memory(t, &fm);
	*total = fm.bucket_bytes + fm.free_batch_bytes + fm.batch_ring_bytes;
	return json_pack("{s:I,s:I,s:I}", "bucket_bytes", (json_int_t)fm.bucket_bytes,
			 "free_batch_bytes", (json_int_t)fm.free_batch_bytes, "batch_ring_bytes",
			 (json_int_t)fm.batch_ring_bytes);
}

json_t *meas_lcore_pool_json(unsigned int worker, size_t *total)
{
	const struct qp_flow_pool *pl = M.pool[worker];
	json_t *o = pool_json(pl, total);
	struct qp_flow_pool_memory pm;
	qp_flow_pool_memory(pl, &pm);
	json_object_set_new(o, "socket", json_integer(pm.socket));
	json_object_set_new(o, "memory", json_string(qp_flow_pool_kind_str(pm.kind)));
	json_object_set_new(o, "touch_ms", json_real((double)pm.touch_ns / 1e6));
	json_object_set_new(o, "tables", json_integer(pm.tables));
	json_object_set_new(o, "entries_in_use", json_integer(pm.in_use));
	json_object_set_new(o, "total_bytes", json_integer((json_int_t)*total));
	return o;
}

json_t *meas_lcore_tables_json(unsigned int worker, size_t *total)
{
	json_t *a = json_array();
	*total = 0;
	for (unsigned int i = 0; i < M.n; i++) {
		struct meas *m = M.tab[i];
		/* a shared table once, with its first member */
		int first = 1;
		for (unsigned int k = 0; k < i && m->grp; k++)
			first &= M.tab[k]->grp != m->grp;
		if (!first)
			continue;
		size_t bytes;
		json_t *o = table_json(m->w[worker]->flows, &bytes);
		json_t *ids = json_array();
		for (unsigned int k = i; k < M.n; k++)
			if (k == i || (m->grp && M.tab[k]->grp == m->grp))
				json_array_append_new(ids, json_integer(M.tab[k]->id));
		json_object_set_new(o, "measurements", ids);
		json_object_set_new(o, "total_bytes", json_integer((json_int_t)bytes));
		json_array_append_new(a, o);
		*total += bytes;
	}
	return a;
}

json_t *meas_json(struct meas *m, int detail)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(m->id));
	json_object_set_new(o, "description", json_string(m->p.desc));
	json_object_set_new(o, "filter", m->p.filter[0] ? json_string(m->p.filter) : json_null());
	json_object_set_new(o, "interval_ms", json_real((double)m->p.interval_ns / 1e6));
	json_object_set_new(o, "idle_timeout_s", json_real((double)m->p.idle_ns / 1e9));
	json_object_set_new(o, "active_timeout_s", json_real((double)m->p.active_ns / 1e9));
	json_object_set_new(o, "max_flows", json_integer(m->p.max_flows));
	json_object_set_new(o, "metrics", metrics_json(m->p.metrics_off));
	char fk[64];
	json_object_set_new(o, "flow_key", json_string(qp_flow_key_parts_str(m->p.flow_key, fk,
									      sizeof(fk))));
	json_object_set_new(o, "owner", json_string(m->owner));
	json_object_set_new(o, "persist", json_boolean(m->p.persist));
	json_object_set_new(o, "state", json_string(m->published ? "running" : "stopped"));
	json_object_set_new(o, "start_ns", json_integer((json_int_t)m->start_ns));
	json_object_set_new(o, "intervals", json_integer((json_int_t)m->nclosed));
	json_object_set_new(o, "intervals_incomplete", json_integer((json_int_t)m->intervals_incomplete));
	/* a worker lcore's part: the lcore's pool (made at start-up, shared by
	 * every table of the lcore) and the table's own (made at START) */
	size_t per, own;
	json_t *pl = pool_json(M.pool[0], &per);
	json_t *tj = table_json(m->w[0]->flows, &own);
	json_object_update(pl, tj);
	json_decref(tj);
	per += own;
	/* a shared table's flows are its members' together (the limit); its
	 * entries are sized for the whole budget and faulted in as flows come */
	uint32_t flows_for = m->grp ? (uint32_t)m->grp->flows : m->p.max_flows;
	json_object_set_new(o, "memory",
			    json_pack("{s:o,s:I,s:I,s:I}", "per_lcore", pl, "lcores",
				      (json_int_t)M.nworkers, "total_bytes",
				      (json_int_t)(per * M.nworkers), "bytes_per_flow",
				      (json_int_t)(per / (m->grp ? m->grp->cap : m->p.max_flows))));
	json_object_set_new(json_object_get(o, "memory"), "shared_by",
			    json_integer(m->grp ? (json_int_t)m->grp->nmemb : 1));
	json_object_set_new(json_object_get(o, "memory"), "flows_held", json_integer(flows_for));
	json_t *d = json_array();
	for (int i = 0; i < m->p.ndest; i++)
		json_array_append_new(d, json_string(m->p.dest[i]));
	json_object_set_new(o, "destinations", d);
	if (m->p.rtp.port_hi)
		json_object_set_new(o, "rtp_ports", json_pack("[i,i]", m->p.rtp.port_lo, m->p.rtp.port_hi));
	json_object_set_new(o, "rtp_clock_hz", json_integer(m->p.rtp.dynamic_clock_hz));
	json_t *dp = json_array();
	for (int i = 0; i < QP_DNS_PORTS && m->cfg.dns_ports[i]; i++)
		json_array_append_new(dp, json_integer(m->cfg.dns_ports[i]));
	json_object_set_new(o, "dns_ports", dp);
	json_object_set_new(o, "tls_sni", json_boolean(m->cfg.tls_sni));
	json_object_set_new(o, "packet_rate", json_integer(m->p.packet_rate));
	if (m->tpl)
		json_object_set_new(o, "two_point", tpl_json(m->tpl));
	if (m->ipx)
		json_object_set_new(o, "ipfix", ipx_json(m->ipx));
	if (!detail)
		return o;
	struct qp_capture_totals tot;
	memset(&tot, 0, sizeof(tot));
	uint64_t flows = 0;
	for (unsigned int i = 0; i < M.nworkers; i++) {
		qp_capture_totals_add(&tot, m->w[i]);
		flows += qp_worker_flow_count(m->w[i]);
	}
	json_t *c = qp_counters_json(&tot.w);
	json_object_set_new(c, "active_flows", json_integer((json_int_t)flows));
	json_object_set_new(c, "flows_created", json_integer((json_int_t)tot.t.created));
	json_object_set_new(c, "flows_evicted", json_integer((json_int_t)tot.t.evicted));
	json_object_set_new(c, "flows_expired_idle", json_integer((json_int_t)tot.t.expired_idle));
	json_object_set_new(c, "flows_expired_active", json_integer((json_int_t)tot.t.expired_active));
	json_object_set_new(c, "flow_table_full", json_integer((json_int_t)tot.t.table_full));
	json_object_set_new(o, "capture", c);
	return o;
}

static json_t *result_json(const struct meas *m, uint64_t seq, const struct qp_interval_rec *rec)
{
	json_t *j = qp_interval_rec_json(rec);
	json_object_set_new(j, "seq", json_integer((json_int_t)seq));
	json_object_set_new(j, "measurement", json_integer(m->id));
	return j;
}

uint64_t meas_intervals_incomplete(const struct meas *m)
{
	return m->intervals_incomplete;
}

const struct qp_interval_rec *meas_last_result(const struct meas *m)
{
	return m->nclosed ? &m->ring[(m->nclosed - 1) % MEAS_KEEP] : NULL;
}

json_t *meas_two_point_json(struct meas *m)
{
	return m->tpl ? tpl_json(m->tpl) : NULL;
}

char *meas_result_text(const struct meas *m, uint64_t seq, const struct qp_interval_rec *rec)
{
	json_t *j = result_json(m, seq, rec);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
	json_decref(j);
	return text;
}

void meas_foreach_result(struct meas *m, unsigned int last,
			 void (*fn)(uint64_t seq, const struct qp_interval_rec *rec, void *arg),
			 void *arg)
{
	uint64_t n = m->nclosed < MEAS_KEEP ? m->nclosed : MEAS_KEEP;
	if (last < n)
		n = last;
	for (uint64_t s = m->nclosed - n; s < m->nclosed; s++)
		fn(s, &m->ring[s % MEAS_KEEP], arg);
}

struct add_ctx {
	const struct meas *m;
	json_t *a;
};

static void add_result(uint64_t seq, const struct qp_interval_rec *rec, void *arg)
{
	struct add_ctx *c = arg;
	json_array_append_new(c->a, result_json(c->m, seq, rec));
}

json_t *meas_intervals_json(struct meas *m, unsigned int last)
{
	struct add_ctx c = {m, json_array()};
	meas_foreach_result(m, last, add_result, &c);
	return c.a;
}

/* A bounded min-heap keeps the largest flows while the tables are walked. */
struct topn {
	struct qp_flow_rec *h;
	unsigned int n, cap;
	enum qp_flow_sort sort;
	const struct qp_rtp_cfg *rtp;
	uint64_t seen;
};

static uint64_t rec_weight(const struct qp_flow_rec *r, enum qp_flow_sort s)
{
	return s == QP_SORT_BYTES ? r->bytes[0] + r->bytes[1] : r->pkts[0] + r->pkts[1];
}

static void heap_swap(struct topn *t, unsigned int a, unsigned int b)
{
	struct qp_flow_rec x = t->h[a];
	t->h[a] = t->h[b];
	t->h[b] = x;
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
		heap_swap(t, i, m);
		i = m;
	}
}

static void topn_add(const struct qp_flow *f, void *arg)
{
	struct topn *t = arg;
	t->seen++;
	/* the weight straight from the entry: most flows of a large table never
	 * enter the heap, and copying each into a record first cost ~200 ns */
	uint64_t wgt = t->sort == QP_SORT_BYTES
			       ? CMM_LOAD_SHARED(f->bytes[0]) + CMM_LOAD_SHARED(f->bytes[1])
			       : CMM_LOAD_SHARED(f->pkts[0]) + CMM_LOAD_SHARED(f->pkts[1]);
	if (t->n == t->cap && (!t->cap || wgt <= rec_weight(&t->h[0], t->sort)))
		return;
	struct qp_flow_rec r;
	qp_flow_rec_from(&r, f, QP_FLOW_REC_ACTIVE);
	qp_flow_rec_rtp(&r, f, t->rtp);
	if (t->n < t->cap) {
		unsigned int i = t->n++;
		t->h[i] = r;
		while (i > 0) {
			unsigned int p = (i - 1) / 2;
			if (rec_weight(&t->h[p], t->sort) <= rec_weight(&t->h[i], t->sort))
				break;
			heap_swap(t, i, p);
			i = p;
		}
	} else {
		t->h[0] = r;
		heap_down(t, 0);
	}
}

static enum qp_flow_sort cmp_sort;

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = rec_weight(a, cmp_sort), y = rec_weight(b, cmp_sort);
	return x < y ? 1 : x > y ? -1 : 0;
}

json_t *meas_flows_json(struct meas *m, unsigned int offset, unsigned int count,
			enum qp_flow_sort sort, uint64_t *total)
{
	struct topn t = {.cap = offset + count, .sort = sort, .rtp = &m->cfg.rtp};
	t.h = malloc(sizeof(*t.h) * (t.cap ? t.cap : 1));
	if (!t.h)
		return NULL;
	rcu_thread_online();
	rcu_read_lock();
	for (unsigned int i = 0; i < M.nworkers; i++)
		qp_worker_flows_foreach(m->w[i], topn_add, &t);
	rcu_read_unlock();
	/* offline again: an idle reader must not hold up grace periods */
	rcu_thread_offline();
	cmp_sort = sort;
	if (t.n > 1)
		qsort(t.h, t.n, sizeof(*t.h), cmp_desc);
	json_t *a = json_array();
	for (unsigned int i = offset; i < t.n; i++)
	{
		json_t *fj = qp_flow_rec_json(&t.h[i]);
		json_t *tpj = fj && m->tpl ? tpl_flow_json(m->tpl, &t.h[i].key) : NULL;
		if (tpj)
			json_object_set_new(fj, "two_point", tpj);
		json_array_append_new(a, fj);
	}
	free(t.h);
	*total = t.seen;
	return a;
}

json_t *meas_top_flows_json(struct meas *m)
{
	if (!m->top[0])
		return NULL;
	if (!m->published) {
		/* its last results, at STOP or exit: the workers no longer
		 * walk for it, and once is no burden: the tables as they are */
		uint64_t total;
		meas_lock();
		json_t *a = meas_flows_json(m, 0, QP_TOP_FLOWS, QP_SORT_BYTES, &total);
		meas_unlock();
		return a;
	}
	/* each flow is one worker's: the largest of all are among each's largest */
	struct qp_flow_rec *r = malloc(sizeof(*r) * QP_TOP_FLOWS * M.nworkers);
	if (!r)
		return NULL;
	unsigned int n = 0;
	for (unsigned int i = 0; i < M.nworkers; i++) {
		uint64_t at;
		n += qp_top_read(m->top[i], r + n, &at);
	}
	cmp_sort = QP_SORT_BYTES;
	qsort(r, n, sizeof(*r), cmp_desc);
	json_t *a = json_array();
	for (unsigned int i = 0; i < n && i < QP_TOP_FLOWS; i++) {
		json_t *fj = qp_flow_rec_json(&r[i]);
		json_t *tpj = fj && m->tpl ? tpl_flow_json(m->tpl, &r[i].key) : NULL;
		if (tpj)
			json_object_set_new(fj, "two_point", tpj);
		json_array_append_new(a, fj);
	}
	free(r);
	return a;
}

void meas_lcore_totals(unsigned int worker, struct qp_capture_totals *sum, uint32_t *flows)
{
	*flows = 0;
	for (unsigned int i = 0; i < M.n; i++) {
		qp_capture_totals_add(sum, M.tab[i]->w[worker]);
		*flows += qp_worker_flow_count(M.tab[i]->w[worker]);
	}
}

void meas_totals(struct qp_capture_totals *sum)
{
	uint32_t f;
	for (unsigned int i = 0; i < M.nworkers; i++)
		meas_lcore_totals(i, sum, &f);
}

struct report_ctx {
	struct qp_report *rep;
	const struct qp_rtp_cfg *rtp;
};

static void add_active(const struct qp_flow *f, void *arg)
{
	struct report_ctx *c = arg;
	struct qp_flow_rec r;
	qp_flow_rec_from(&r, f, QP_FLOW_REC_ACTIVE);
	qp_flow_rec_rtp(&r, f, c->rtp);
	qp_report_add_flow(c->rep, &r);
}

int meas_report(uint32_t id, const char *format, const char *file, const char *source_desc)
{
	struct meas *m = meas_find(id);
	if (!m)
		return QP_EXIT_RUNTIME;
	struct qp_report *rep = qp_report_create();
	if (!rep)
		return QP_EXIT_RUNTIME;
	struct report_ctx ctx = {rep, &m->cfg.rtp};
	/* workers have stopped: the tables are read directly */
	for (unsigned int i = 0; i < M.nworkers; i++)
		qp_worker_flows_foreach(m->w[i], add_active, &ctx);
	uint64_t n = m->nclosed < MEAS_KEEP ? m->nclosed : MEAS_KEEP;
	for (uint64_t s = m->nclosed - n; s < m->nclosed; s++)
		qp_report_add_interval(rep, &m->ring[s % MEAS_KEEP]);
	struct qp_capture_totals tot;
	memset(&tot, 0, sizeof(tot));
	for (unsigned int i = 0; i < M.nworkers; i++)
		qp_capture_totals_add(&tot, m->w[i]);
	qp_report_set_totals(rep, &tot);
	qp_report_add_tcp(rep, m->total);
	qp_report_set_source(rep, "live", source_desc, "ethernet", "ns (tsc)",
			     m->p.filter[0] ? m->p.filter : NULL);
	qp_report_set_flow_key(rep, m->p.flow_key);
	int rc = QP_EXIT_OK;
	FILE *out = stdout;
	if (file && !(out = fopen(file, "w"))) {
		fprintf(stderr, "qprobe: cannot write the report to %s: %s\n", file, strerror(errno));
		rc = QP_EXIT_RUNTIME;
	} else {
		if (qp_report_write(rep, format, out) != 0)
			rc = QP_EXIT_RUNTIME;
		if (out != stdout)
			fclose(out);
	}
	qp_report_destroy(rep);
	return rc;
}
