/*
 * qp_group_dp: see qp_group_dp.h. A burst is parsed (or taken parsed from
 * the lcore), the buckets of its flow frames are prefetched, then the chain
 * of each is prefetched, then each frame's entries are found, split where
 * the members part ways, updated once and accounted for each member.
 */
#include "qp_group_dp.h"
#include "qp_parse_fast.h"
#include "qp_top.h"
#include "qp_flow_update.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qp_filter.h"

#define BURST_MAX 64
#define KEY_ENTRIES (QP_GROUP_SLOTS + 1) /* entries of one key looked at, at most */
_Static_assert(QP_PARSED_MAX <= BURST_MAX, "a parsed burst is one chunk");

/*
 * Frames that only add to counts, gathered per set of members: all of one
 * timestamp, they go into each member's interval slot at once (per burst,
 * not per frame and member). Gathered frames are never behind a member's
 * latest, so none of them is a step back in time for it.
 */
#define AGG_SETS 8
struct agg {
	uint32_t members;
	uint32_t n;
	uint64_t pkts[2], bytes[2];
};

/*
 * Thread-safety: `flows` is owned by the worker of the lcore, which alone
 * calls process, expire and flush, and alone touches the rest; `v` and `idx`
 * are set for the duration of a call (the table's end callback reads them).
 * RCU readers walk `flows` (qp_worker_flows_foreach).
 */
struct qp_group {
	struct qp_flow_table *flows;
	const struct qp_group_view *v;
	unsigned int idx;
	uint64_t max_ts; /* the latest frame any member measured */
	uint64_t agg_ts; /* the gathered frames' time */
	unsigned int nagg;
	struct agg agg[AGG_SETS];
	struct qp_parse_ctx parse; /* when the lcore's parse has another key */
	/* members whose worker here has a capture (qp_cap.h): while any does,
	 * frames are accounted one by one (the capture takes each); written by
	 * the management core */
	uint32_t capturing;
	uint64_t top_step_ns; /* when the walk last stepped, with top flows wanted */
} __attribute__((aligned(64)));

void qp_group_capturing(struct qp_group *g, int delta)
{
	__atomic_add_fetch(&g->capturing, (uint32_t)delta, __ATOMIC_RELAXED);
}

/* The slots among `bits` whose member joined after the entry's epoch. */
static inline uint32_t stale_of(const struct qp_group_view *v, uint32_t bits, uint32_t epoch)
{
	uint32_t stale = 0;
	for (uint32_t b = bits; b; b &= b - 1) {
		unsigned int s = (unsigned int)__builtin_ctz(b);
		if (v->join[s] > epoch)
			stale |= 1u << s;
	}
	return stale;
}

/* The members whose flow f is, under view v. */
static inline uint32_t valid_members(const struct qp_group_view *v, const struct qp_flow *f)
{
	uint32_t m = f->members & v->active;
	if (f->epoch != v->epoch)
		m &= ~stale_of(v, m, f->epoch);
	return m;
}

/* The member of slot s, one of v->active. */
static inline const struct qp_group_member *member(const struct qp_group_view *v, unsigned int s)
{
	return &v->m[v->at[s]];
}

int qp_group_view_build(struct qp_group_view *v)
{
	v->epoch = v->active = v->per_frame = 0;
	memset(v->join, 0, sizeof(v->join));
	memset(v->at, 0, sizeof(v->at));
	if (v->n > QP_GROUP_SLOTS)
		return -EINVAL;
	for (unsigned int k = 0; k < v->n; k++) {
		const struct qp_group_member *m = &v->m[k];
		if (m->slot >= QP_GROUP_SLOTS || (v->active >> m->slot & 1) || !m->join)
			return -EINVAL;
		v->active |= 1u << m->slot;
		v->join[m->slot] = m->join;
		v->at[m->slot] = (uint8_t)k;
		if (m->join > v->epoch)
			v->epoch = m->join;
		if (m->cfg->filter && !qp_filter_flow_invariant(qp_filter_expr(m->cfg->filter)))
			v->per_frame |= 1u << m->slot;
	}
	return 0;
}

/* The table's end callback: a record of the entry ended for its members. */
static void member_end(struct qp_flow *f, enum qp_flow_end why, int removed, void *arg)
{
	struct qp_group *g = arg;
	const struct qp_group_view *v = g->v;
	uint32_t m = valid_members(v, f);
	for (uint32_t b = m; b; b &= b - 1) {
		struct qp_worker *w = member(v, (unsigned int)__builtin_ctz(b))->w[g->idx];
		if (why == QP_FLOW_END_IDLE)
			w->fstats.expired_idle++;
		else if (why == QP_FLOW_END_ACTIVE)
			w->fstats.expired_active++;
		else if (why == QP_FLOW_END_EVICTED)
			w->fstats.evicted++;
		if (removed)
			CMM_STORE_SHARED(w->nflows, w->nflows - 1);
		if (w->export_fn && f->pkts[0] + f->pkts[1] > 0)
			w->export_fn(f, why, w->export_arg);
	}
	if (removed)
		f->members = 0;
}

/* A group around table t (NULL: errno says why); t goes with it on failure. */
static struct qp_group *group_of(struct qp_flow_table *t)
{
	if (!t)
		return NULL;
	struct qp_group *g = aligned_alloc(64, sizeof(*g));
	if (!g) {
		qp_flow_table_destroy(t);
		errno = ENOMEM;
		return NULL;
	}
	memset(g, 0, sizeof(*g));
	qp_parse_ctx_init(&g->parse);
	g->flows = t;
	qp_flow_table_set_end_fn(g->flows, member_end, g);
	return g;
}

struct qp_group *qp_group_create(uint32_t max_flows, uint32_t dists, int shared)
{
	struct qp_flow_table *t = qp_flow_table_create(max_flows, shared);
	if (t && (qp_flow_table_set_hists(t, dists) || qp_flow_table_set_apps(t, dists))) {
		qp_flow_table_destroy(t);
		errno = ENOMEM;
		return NULL;
	}
	return group_of(t);
}

struct qp_group *qp_group_create_in(struct qp_flow_pool *p, uint32_t max_flows, int shared)
{
	return group_of(qp_flow_table_create_in(p, max_flows, shared));
}

void qp_group_set_limit(struct qp_group *g, uint32_t max_flows)
{
	qp_flow_table_set_limit(g->flows, max_flows);
}

struct qp_flow_table *qp_group_flows(const struct qp_group *g)
{
	return g->flows;
}

void qp_groups_fini(struct qp_group *const *g, unsigned int n)
{
	int any = 0;
	for (unsigned int i = 0; i < n; i++)
		any |= g[i] != NULL;
	if (any)
		rcu_barrier(); /* every table's pending frees, at once */
	for (unsigned int i = 0; i < n; i++)
		if (g[i]) {
			qp_flow_table_destroy_drained(g[i]->flows);
			free(g[i]);
		}
}

/* The members among `slots` whose filter passes frame f. */
static inline uint32_t run_filters(const struct qp_group_view *v, uint32_t slots,
				   const struct qp_frame *f)
{
	uint32_t pass = 0;
	for (unsigned int k = 0; k < v->n; k++) {
		const struct qp_group_member *m = &v->m[k];
		if (!(slots >> m->slot & 1))
			continue;
		if (!m->cfg->filter || qp_filter_match(m->cfg->filter, f->data, f->caplen))
			pass |= 1u << m->slot;
	}
	return pass;
}

/* A frame of no flow (not IP, or malformed): counted by each member it passes. */
static void non_flow(const struct qp_group_view *v, unsigned int idx, const struct qp_frame *f,
		     enum qp_parse_result r)
{
	uint32_t pass = run_filters(v, v->active, f);
	for (unsigned int k = 0; k < v->n; k++) {
		if (!(pass >> v->m[k].slot & 1))
			continue;
		struct qp_worker *w = v->m[k].w[idx];
		if (r == QP_PARSE_NON_IP) {
			w->cnt.non_ip++;
		} else {
			w->cnt.parse_errors++;
			w->cnt.perr[r - QP_PARSE_ERR_FIRST]++;
		}
	}
}

/* The gathered frames into their members' accounts. */
static void agg_flush(struct qp_group *g, const struct qp_group_view *v, unsigned int idx)
{
	for (unsigned int i = 0; i < g->nagg; i++) {
		const struct agg *x = &g->agg[i];
		for (uint32_t b = x->members; b; b &= b - 1) {
			const struct qp_group_member *m = member(v, (unsigned int)__builtin_ctz(b));
			struct qp_worker *w = m->w[idx];
			w->cnt.measured += x->n;
			if (g->agg_ts > w->last_ts)
				w->last_ts = g->agg_ts;
			struct qp_interval_acc *a = qp_interval_for(w, m->cfg, g->agg_ts);
			a->pkts[0] += x->pkts[0];
			a->pkts[1] += x->pkts[1];
			a->bytes[0] += x->bytes[0];
			a->bytes[1] += x->bytes[1];
		}
	}
	g->nagg = 0;
}

/* Frame f, whose result is ev, into each member's accounts, in the frames' order. */
static __attribute__((noinline)) void account_each(struct qp_group *g,
						   const struct qp_group_view *v, unsigned int idx,
						   uint32_t U, struct qp_flow *fl,
						   const struct qp_pkt *p, const struct qp_frame *f,
						   const struct qp_flow_ev *ev)
{
	/* what was gathered came first */
	agg_flush(g, v, idx);
	for (uint32_t b = U; b; b &= b - 1) {
		const struct qp_group_member *m = member(v, (unsigned int)__builtin_ctz(b));
		struct qp_worker *w = m->w[idx];
		if (f->ts_ns > w->last_ts) /* a frame behind it was counted in flow_frame() */
			w->last_ts = f->ts_ns;
		qp_flow_account(w, m->cfg, fl, p, f, ev);
	}
}

/* Frame f, whose result is ev, into the accounts of the members in U. */
static inline __attribute__((always_inline)) void account(struct qp_group *g,
							  const struct qp_group_view *v,
							  unsigned int idx, uint32_t U,
							  struct qp_flow *fl, const struct qp_pkt *p,
							  const struct qp_frame *f,
							  const struct qp_flow_ev *ev, int gather)
{
	if (gather) {
		struct agg *x = &g->agg[0];
		if (g->nagg == 1 && x->members == U && g->agg_ts == f->ts_ns)
			goto add; /* a burst of one time and one set: the common case */
		if (g->nagg && g->agg_ts != f->ts_ns)
			agg_flush(g, v, idx);
		x = NULL;
		for (unsigned int i = 0; i < g->nagg && !x; i++)
			if (g->agg[i].members == U)
				x = &g->agg[i];
		if (!x) {
			if (g->nagg == AGG_SETS)
				agg_flush(g, v, idx);
			x = &g->agg[g->nagg++];
			memset(x, 0, sizeof(*x));
			x->members = U;
			g->agg_ts = f->ts_ns;
		}
	add:
		x->n++;
		x->pkts[ev->dir]++;
		x->bytes[ev->dir] += f->wirelen;
		return;
	}
	account_each(g, v, idx, U, fl, p, f, ev);
}

/* An RTT distribution the pool could not give: counted by each member. */
static void hist_full(const struct qp_group_view *v, unsigned int idx, uint32_t U)
{
	for (uint32_t b = U; b; b &= b - 1)
		member(v, (unsigned int)__builtin_ctz(b))->w[idx]->fstats.hist_full++;
}

/* An application block the pool could not give: counted by each member. */
static void app_full(const struct qp_group_view *v, unsigned int idx, uint32_t U)
{
	for (uint32_t b = U; b; b &= b - 1)
		member(v, (unsigned int)__builtin_ctz(b))->w[idx]->fstats.app_full++;
}

/* Frame f through entry fl, for the members in U (gather: may be counted once a burst). */
static inline __attribute__((always_inline)) void entry_update(struct qp_group *g,
							       const struct qp_group_view *v,
							       unsigned int idx, uint32_t U,
							       struct qp_flow *fl, const struct qp_pkt *p,
							       const struct qp_frame *f, int gather)
{
	struct qp_flow_ev ev;
	qp_flow_timeouts(g->flows, fl, v->cfg, p, f->ts_ns, NULL, NULL);
	uint8_t hl = fl->hist_live, ap = fl->app;
	qp_flow_update(g->flows, fl, v->cfg, p, f, &ev);
	if (hl != 2 && fl->hist_live == 2)
		hist_full(v, idx, U);
	if (ap != QP_APP_FULL && fl->app == QP_APP_FULL)
		app_full(v, idx, U);
	/* a capture takes each frame: none is gathered while one is on */
	account(g, v, idx, U, fl, p, f, &ev,
		gather && !qp_flow_ev_events(p, &ev) && !__atomic_load_n(&g->capturing, __ATOMIC_RELAXED));
}

/* A new entry for the members in `fresh`, the frame's first. */
static __attribute__((noinline)) void flow_new(struct qp_group *g, const struct qp_group_view *v,
					       unsigned int idx, uint32_t fresh, uint32_t pass,
					       const struct qp_pkt *p, const struct qp_frame *f,
					       int gather, int more)
{
	struct qp_flow_table *t = g->flows;
	struct qp_flow *fl = qp_flow_table_insert(t, p, NULL, NULL);
	if (!fl) {
		for (uint32_t b = fresh; b; b &= b - 1) {
			struct qp_worker *w = member(v, (unsigned int)__builtin_ctz(b))->w[idx];
			w->cnt.unattributed++;
			w->fstats.table_full++;
			if (gather && f->ts_ns > w->last_ts)
				w->last_ts = f->ts_ns; /* not gathered: its time taken here */
		}
		return;
	}
	qp_flow_orient(fl, p);
	fl->more = (uint8_t)more;
	fl->members = fresh;
	fl->pass = pass;
	__atomic_store_n(&fl->epoch, v->epoch, __ATOMIC_RELEASE);
	for (uint32_t b = fresh; b; b &= b - 1) {
		struct qp_worker *w = member(v, (unsigned int)__builtin_ctz(b))->w[idx];
		w->fstats.created++;
		CMM_STORE_SHARED(w->nflows, w->nflows + 1);
	}
	entry_update(g, v, idx, fresh, fl, p, f, gather);
}

/* One flow frame p (frame f) through the group. */
static inline void flow_frame(struct qp_group *g, const struct qp_group_view *v, unsigned int idx,
			      const struct qp_pkt *p, const struct qp_frame *f)
{
	struct qp_flow_table *t = g->flows;
	const struct qp_flow_table_hdr *h = qp_flow_table_hdr(t);
	struct qp_flow *e[KEY_ENTRIES];
	unsigned int ne = 0;
	/* the newest entry of a key comes first; the walk goes on only past an
	 * entry made while others were there */
	for (uint32_t r = h->buckets[p->hash & h->mask]; r && ne < KEY_ENTRIES;) {
		struct qp_flow *x = &h->pool[r - 1];
		if (qp_flow_key_eq(&x->key, &p->key)) {
			e[ne++] = x;
			if (!x->more)
				break;
		}
		r = x->next;
	}
	uint64_t ts = f->ts_ns;
	/* the common case: one entry, every member's verdict known and taken,
	 * all of them passing it, nothing behind in time */
	if (ne == 1 && p->plain && !v->per_frame && ts >= g->max_ts) {
		struct qp_flow *fl = e[0];
		uint32_t mem = fl->members & v->active;
		if (fl->epoch == v->epoch && fl->pass == (mem | QP_GROUP_PASS_KNOWN) && mem) {
			g->max_ts = ts;
			entry_update(g, v, idx, mem, fl, p, f, 1);
			return;
		}
	}
	/* every entry of a key has the same epoch and pass: the first says */
	uint32_t inv = v->active & ~v->per_frame;
	uint32_t pass, P;
	if (p->plain && ne && e[0]->epoch == v->epoch && (e[0]->pass & QP_GROUP_PASS_KNOWN)) {
		pass = e[0]->pass;
		P = (pass & inv) | (v->per_frame ? run_filters(v, v->per_frame, f) : 0);
	} else {
		P = run_filters(v, v->active, f);
		if (p->plain)
			pass = (P & inv) | QP_GROUP_PASS_KNOWN;
		else
			pass = ne && e[0]->epoch == v->epoch ? e[0]->pass : 0;
		for (unsigned int j = 0; j < ne; j++) {
			/* the bits of members that left go before the epoch that
			 * vouches for the rest (readers load the epoch first) */
			CMM_STORE_SHARED(e[j]->members, valid_members(v, e[j]));
			e[j]->pass = pass;
			__atomic_store_n(&e[j]->epoch, v->epoch, __ATOMIC_RELEASE);
		}
	}
	if (!P)
		return;
	/* a frame behind the latest of any member may be behind a member's own */
	int gather = ts >= g->max_ts;
	if (!gather) {
		agg_flush(g, v, idx);
		for (uint32_t b = P; b; b &= b - 1) {
			struct qp_worker *w = member(v, (unsigned int)__builtin_ctz(b))->w[idx];
			if (ts < w->last_ts)
				w->cnt.ts_backwards++;
			else
				w->last_ts = ts;
		}
	} else {
		g->max_ts = ts;
	}
	if (p->frag == QP_FRAG_LATER && !p->frag_attributed)
		for (uint32_t b = P; b; b &= b - 1)
			member(v, (unsigned int)__builtin_ctz(b))->w[idx]->cnt.frag_unattributed++;
	uint32_t covered = 0;
	for (unsigned int j = 0; j < ne; j++) {
		struct qp_flow *fl = e[j];
		uint32_t mem = fl->members & v->active;
		covered |= mem;
		uint32_t U = mem & P, R = mem & ~P;
		if (!U) {
			if (!mem)
				qp_flow_table_remove(t, fl); /* every member left */
			continue;
		}
		if (R) {
			/* the members the frame does not pass keep the flow as it was */
			struct qp_flow *c = qp_flow_table_clone(t, fl);
			if (c) {
				c->members = R;
				c->more = 1;
			} else {
				for (uint32_t b = R; b; b &= b - 1) {
					struct qp_worker *w =
						member(v, (unsigned int)__builtin_ctz(b))->w[idx];
					w->fstats.table_full++;
					CMM_STORE_SHARED(w->nflows, w->nflows - 1);
				}
			}
			CMM_STORE_SHARED(fl->members, U);
		}
		entry_update(g, v, idx, U, fl, p, f, gather);
	}
	uint32_t fresh = P & ~covered;
	if (fresh)
		flow_new(g, v, idx, fresh, pass, p, f, gather, ne > 0);
}

void qp_group_process(struct qp_group *g, const struct qp_group_view *v, unsigned int idx,
		      const struct qp_frame *fr, unsigned int n, const struct qp_parsed *pp)
{
	const struct qp_measure_cfg *cfg = v->cfg;
	if (pp && (pp->key_parts != cfg->flow_key || pp->linktype != cfg->linktype))
		pp = NULL;
	g->v = v;
	g->idx = idx;
	struct qp_pkt own[BURST_MAX];
	const struct qp_pkt *pk[BURST_MAX];
	const struct qp_frame *pf[BURST_MAX];
	uint64_t seen[QP_GROUP_SLOTS];
	while (n > 0) {
		unsigned int chunk = n > BURST_MAX ? BURST_MAX : n;
		if (pp && chunk > pp->n)
			chunk = pp->n;
		uint64_t bytes = 0;
		for (unsigned int i = 0; i < chunk; i++)
			bytes += fr[i].wirelen;
		/* every member sees every frame; those it does not measure (and
		 * that are not counted otherwise) are filtered out, counted at
		 * the end from what was */
		for (unsigned int k = 0; k < v->n; k++) {
			struct qp_worker *w = v->m[k].w[idx];
			w->cnt.bursts++;
			w->cnt.packets += chunk;
			w->cnt.bytes += bytes;
			seen[k] = w->cnt.measured + w->cnt.unattributed + w->cnt.non_ip +
				  w->cnt.parse_errors;
		}
		unsigned int np = 0;
		g->parse.key_parts = cfg->flow_key;
		if (!pp && cfg->linktype == QP_LINK_ETHERNET) {
			/* as the worker's: a loop of few live values, where the
			 * parse's own fit the registers */
			for (unsigned int i = 0; i < chunk; i++) {
				struct qp_pkt *o = &own[np];
				enum qp_parse_result r =
					qp_parse_fast(&g->parse, fr[i].data, fr[i].caplen, o)
						? QP_PARSE_FLOW
						: qp_parse_walk(&g->parse, QP_LINK_ETHERNET, fr[i].data,
								fr[i].caplen, o);
				if (__builtin_expect(r == QP_PARSE_FLOW, 1)) {
					qp_flow_table_prefetch(g->flows, o->hash);
					pk[np] = o;
					pf[np++] = &fr[i];
				} else {
					non_flow(v, idx, &fr[i], r);
				}
			}
		} else {
			for (unsigned int i = 0; i < chunk; i++) {
				enum qp_parse_result r;
				if (pp) {
					r = (enum qp_parse_result)pp->r[i];
					pk[np] = &pp->pk[i];
				} else {
					r = qp_parse_inline(&g->parse, cfg->linktype, fr[i].data,
							    fr[i].caplen, &own[np]);
					pk[np] = &own[np];
				}
				if (r == QP_PARSE_FLOW) {
					qp_flow_table_prefetch(g->flows, pk[np]->hash);
					pf[np++] = &fr[i];
				} else {
					non_flow(v, idx, &fr[i], r);
				}
			}
		}
		for (unsigned int i = 0; i < np; i++)
			qp_flow_table_prefetch_flow(g->flows, pk[i]->hash, pk[i]->key.proto);
		for (unsigned int i = 0; i < np; i++)
			flow_frame(g, v, idx, pk[i], pf[i]);
		agg_flush(g, v, idx);
		for (unsigned int k = 0; k < v->n; k++) {
			struct qp_worker *w = v->m[k].w[idx];
			w->cnt.filtered_out += chunk - (w->cnt.measured + w->cnt.unattributed +
							w->cnt.non_ip + w->cnt.parse_errors - seen[k]);
		}
		fr += chunk;
		n -= chunk;
		if (pp)
			break; /* a parsed burst is one chunk */
	}
}

/* The walk's visit: the flow to the top set of each member it is the flow of. */
static void top_visit(struct qp_flow *f, void *arg)
{
	const struct qp_group *g = arg;
	const struct qp_group_view *v = g->v;
	for (unsigned int k = 0; k < v->n; k++) {
		const struct qp_group_member *m = &v->m[k];
		struct qp_top *top = m->w[g->idx]->top;
		if (top && (f->members >> m->slot & 1) && f->epoch >= m->join)
			qp_top_offer(top, f);
	}
}

void qp_group_expire(struct qp_group *g, const struct qp_group_view *v, unsigned int idx,
		     uint64_t now_ns, uint32_t max_buckets)
{
	g->v = v;
	g->idx = idx;
	/* the shortest interval of the members that want their top flows */
	uint64_t iv = 0;
	for (unsigned int k = 0; k < v->n; k++)
		if (v->m[k].w[idx]->top && (!iv || v->m[k].cfg->interval_ns < iv))
			iv = v->m[k].cfg->interval_ns;
	if (!iv) {
		qp_flow_table_expire(g->flows, now_ns, v->cfg->idle_ns, v->cfg->active_ns,
				     max_buckets, NULL, NULL);
		return;
	}
	uint32_t nb = qp_top_pace(&g->top_step_ns, now_ns, iv, qp_flow_table_buckets(g->flows),
				  max_buckets);
	int wrapped;
	qp_flow_table_expire_visit(g->flows, now_ns, v->cfg->idle_ns, v->cfg->active_ns, nb, NULL,
				   NULL, top_visit, g, &wrapped);
	for (unsigned int k = 0; wrapped && k < v->n; k++)
		if (v->m[k].w[idx]->top)
			qp_top_publish(v->m[k].w[idx]->top, now_ns);
}

void qp_group_flush(struct qp_group *g, const struct qp_group_view *v, unsigned int idx)
{
	g->v = v;
	g->idx = idx;
	qp_flow_table_flush(g->flows, NULL, NULL);
}
