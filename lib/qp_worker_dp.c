/*
 * qp_worker_dp: see qp_worker_dp.h. A burst is parsed first, the buckets of
 * every parsed flow are prefetched, then the flows are updated: the hash
 * lookups of a burst overlap their cache misses instead of paying them one
 * after the other.
 */
#include "qp_worker_dp.h"
#include "qp_flow_update.h"
#include "qp_group_dp.h"
#include "qp_top.h"
#include "qp_sig.h"
#include "qp_tp_ring.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "qp_filter.h"
#include "qp_parse_fast.h"

#define BURST_MAX 64
_Static_assert(QP_PARSED_MAX <= BURST_MAX, "a parsed burst is one chunk of process()");

int qp_worker_init(struct qp_worker *w, unsigned int id, uint32_t max_flows, int shared)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	qp_parse_ctx_init(&w->parse);
	w->flows = qp_flow_table_create(max_flows, shared);
	if (!w->flows)
		return -errno;
	return 0;
}

int qp_worker_init_in(struct qp_worker *w, unsigned int id, struct qp_flow_pool *p,
		      uint32_t max_flows, int shared)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	qp_parse_ctx_init(&w->parse);
	w->flows = qp_flow_table_create_in(p, max_flows, shared);
	if (!w->flows)
		return -errno;
	return 0;
}

void qp_worker_init_member(struct qp_worker *w, unsigned int id, struct qp_group *g,
			   unsigned int slot, uint32_t join)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	qp_parse_ctx_init(&w->parse);
	w->group = g;
	w->flows = qp_group_flows(g);
	w->slot = slot;
	w->join = join;
}

void qp_worker_fini(struct qp_worker *w)
{
	if (!w->group)
		qp_flow_table_destroy(w->flows);
	w->flows = NULL;
}

void qp_workers_fini(struct qp_worker *const *w, unsigned int n)
{
	int any = 0;
	for (unsigned int i = 0; i < n; i++)
		any |= w[i] && w[i]->flows && !w[i]->group;
	if (any)
		rcu_barrier(); /* every table's pending frees, at once */
	for (unsigned int i = 0; i < n; i++)
		if (w[i]) {
			if (!w[i]->group)
				qp_flow_table_destroy_drained(w[i]->flows);
			w[i]->flows = NULL;
		}
}

uint32_t qp_worker_flow_count(const struct qp_worker *w)
{
	return w->group ? CMM_LOAD_SHARED(w->nflows) : qp_flow_table_count(w->flows);
}

void qp_worker_flow_stats(const struct qp_worker *w, struct qp_flow_table_stats *out)
{
	if (!w->group)
		qp_flow_table_stats(w->flows, out);
	else
		qp_flow_table_stats_copy(out, &w->fstats);
}

struct member_walk {
	const struct qp_worker *w;
	void (*fn)(const struct qp_flow *f, void *arg);
	void *arg;
};

static void member_flow(const struct qp_flow *f, void *arg)
{
	const struct member_walk *m = arg;
	/* the epoch is stored after the member bits it vouches for */
	uint32_t epoch = __atomic_load_n(&f->epoch, __ATOMIC_ACQUIRE);
	if ((CMM_LOAD_SHARED(f->members) >> m->w->slot & 1) && epoch >= m->w->join)
		m->fn(f, m->arg);
}

void qp_worker_flows_foreach(const struct qp_worker *w,
			     void (*fn)(const struct qp_flow *f, void *arg), void *arg)
{
	if (!w->group) {
		qp_flow_table_foreach(w->flows, fn, arg);
		return;
	}
	struct member_walk m = {w, fn, arg};
	qp_flow_table_foreach(w->flows, member_flow, &m);
}

/* Two-point: sign the packet, and record it when selected. */
static void tp_record(struct qp_worker *w, const struct qp_sig_cfg *sc, const struct qp_pkt *p,
		      const struct qp_frame *f)
{
	struct qp_tp_rec rec;
	if (qp_sig_of(sc, p, &rec.sig) != 0) {
		w->cnt.tp_unsignable++;
		return;
	}
	if (!qp_sig_selected(sc, rec.sig))
		return;
	rec.ts_ns = f->ts_ns;
	rec.size = f->wirelen;
	rec.swapped = p->swapped;
	rec.key = p->key;
	if (qp_tp_ring_push(w->tp_ring, &rec) == 0)
		w->cnt.tp_selected++;
}

void qp_parse_burst(struct qp_parse_ctx *ctx, int linktype, uint32_t key_parts,
		    const struct qp_frame *fr, unsigned int n, struct qp_parsed *out)
{
	if (n > QP_PARSED_MAX)
		n = QP_PARSED_MAX;
	ctx->key_parts = key_parts;
	out->n = n;
	out->linktype = linktype;
	out->key_parts = key_parts;
	for (unsigned int i = 0; i < n; i++)
		out->r[i] = (int8_t)qp_parse_inline(ctx, linktype, fr[i].data, fr[i].caplen, &out->pk[i]);
}

/* A frame's parse result counted; 1 when it is a flow's (its bucket then
 * prefetched), to be measured. */
static inline __attribute__((always_inline)) int parsed(struct qp_worker *w,
							 const struct qp_flow_table *flows,
							 enum qp_parse_result r, const struct qp_pkt *p)
{
	if (__builtin_expect(r == QP_PARSE_FLOW, 1)) {
		if (p->frag == QP_FRAG_LATER && !p->frag_attributed)
			w->cnt.frag_unattributed++;
		qp_flow_table_prefetch(flows, p->hash);
		return 1;
	}
	if (r == QP_PARSE_NON_IP) {
		w->cnt.non_ip++;
	} else {
		w->cnt.parse_errors++;
		w->cnt.perr[r - QP_PARSE_ERR_FIRST]++;
	}
	return 0;
}

/*
 * The plain loop of process(): no filter, no parse done before, no
 * signatures, Ethernet. A function of its own, with as few values live as
 * can be: in process() the parse's values did not fit the registers (a
 * tenth of its instructions were loads and stores of the stack). Returns
 * the frames to measure, in pk and pf; *bytes: the chunk's.
 */
static __attribute__((noinline)) unsigned int
parse_plain(struct qp_worker *w, const struct qp_flow_table *flows, const struct qp_frame *fr,
	    unsigned int chunk, struct qp_pkt *own, const struct qp_pkt **pk,
	    const struct qp_frame **pf, uint64_t *bytes)
{
	unsigned int np = 0;
	uint64_t b = 0;
	for (unsigned int i = 0; i < chunk; i++) {
		const struct qp_frame *f = &fr[i];
		struct qp_pkt *o = &own[np];
		b += f->wirelen;
		enum qp_parse_result r =
			qp_parse_fast(&w->parse, f->data, f->caplen, o)
				? QP_PARSE_FLOW
				: qp_parse_walk(&w->parse, QP_LINK_ETHERNET, f->data, f->caplen, o);
		if (parsed(w, flows, r, o)) {
			pk[np] = o;
			pf[np++] = f;
		}
	}
	*bytes = b;
	return np;
}

/* A time as qp_worker.ts_low holds it (+ 1, kept below 2^64). */
static inline uint64_t ts_low_of(uint64_t ts)
{
	return ts < UINT64_MAX ? ts + 1 : ts;
}

/*
 * The burst through one measurement: its filter, then the parse (`pp`, done
 * once for every measurement of the lcore, or here when pp is NULL, only for
 * frames the filter let through), the flow lookup and every update.
 */
static void process(struct qp_worker *w, const struct qp_measure_cfg *cfg,
		    const struct qp_frame *fr, unsigned int n, const struct qp_parsed *pp)
{
	struct qp_pkt own[BURST_MAX];
	const struct qp_pkt *pk[BURST_MAX];
	const struct qp_frame *pf[BURST_MAX];

	/* what the loop asks of cfg and w for every frame, read once (the
	 * counters' stores could alias them for the compiler) */
	const struct qp_filter *filter = cfg->filter;
	const struct qp_sig_cfg *sig = w->tp_ring ? cfg->sig : NULL;
	int linktype = cfg->linktype;
	struct qp_flow_table *flows = w->flows;
	/* no filter, no parse done before, no signatures, Ethernet */
	int plain = !filter && !pp && !sig && linktype == QP_LINK_ETHERNET;
	while (n > 0) {
		unsigned int chunk = n > BURST_MAX ? BURST_MAX : n;
		unsigned int np = 0;
		uint64_t bytes = 0;
		w->cnt.bursts++;
		w->parse.key_parts = cfg->flow_key;
		if (plain) {
			np = parse_plain(w, flows, fr, chunk, own, pk, pf, &bytes);
		} else {
			for (unsigned int i = 0; i < chunk; i++) {
				const struct qp_frame *f = &fr[i];
				bytes += f->wirelen;
				if (filter && !qp_filter_match(filter, f->data, f->caplen)) {
					w->cnt.filtered_out++;
					continue;
				}
				enum qp_parse_result r;
				if (pp) {
					r = (enum qp_parse_result)pp->r[i];
					pk[np] = &pp->pk[i];
				} else {
					r = qp_parse_inline(&w->parse, linktype, f->data, f->caplen, &own[np]);
					pk[np] = &own[np];
				}
				if (parsed(w, flows, r, pk[np])) {
					if (sig)
						tp_record(w, sig, pk[np], f);
					pf[np++] = f;
				}
			}
		}
		w->cnt.packets += chunk;
		w->cnt.bytes += bytes;
		/* the slots have arrived meanwhile: fetch the flows they point to
		 * (100k flows: 5.9 -> see bench/RESULTS.md) */
		for (unsigned int i = 0; i < np; i++)
			qp_flow_table_prefetch_flow(flows, pk[i]->hash, pk[i]->key.proto);
		/* the lowest time: the burst's first frame's, or a frame's that
		 * goes back (a frame after the first is at least the latest
		 * before it, or goes back) */
		if (np && (!w->ts_low || ts_low_of(pf[0]->ts_ns) < w->ts_low))
			w->ts_low = ts_low_of(pf[0]->ts_ns);
		for (unsigned int i = 0; i < np; i++) {
			const struct qp_pkt *p = pk[i];
			const struct qp_frame *f = pf[i];
			uint64_t ts = f->ts_ns;
			if (ts < w->last_ts) {
				w->cnt.ts_backwards++;
				if (ts_low_of(ts) < w->ts_low)
					w->ts_low = ts_low_of(ts);
			} else {
				w->last_ts = ts;
			}
			struct qp_flow *fl = qp_flow_table_lookup(flows, &p->key, p->hash);
			if (!fl) {
				fl = qp_flow_table_insert(flows, p, w->export_fn, w->export_arg);
				if (!fl) {
					w->cnt.unattributed++;
					continue;
				}
				qp_flow_orient(fl, p);
			} else {
				qp_flow_timeouts(flows, fl, cfg, p, ts, w->export_fn, w->export_arg);
			}
			struct qp_flow_ev e;
			qp_flow_update(flows, fl, cfg, p, f, &e);
			qp_flow_account(w, cfg, fl, p, f, &e);
		}
		fr += chunk;
		n -= chunk;
	}
}

void qp_worker_process(struct qp_worker *w, const struct qp_measure_cfg *cfg,
		       const struct qp_frame *fr, unsigned int n)
{
	process(w, cfg, fr, n, NULL);
}

void qp_worker_process_parsed(struct qp_worker *w, const struct qp_measure_cfg *cfg,
			      const struct qp_frame *fr, const struct qp_parsed *pp)
{
	/* keys of other parts, or frames of another link type: its own parse */
	if (pp->key_parts != cfg->flow_key || pp->linktype != cfg->linktype)
		process(w, cfg, fr, pp->n, NULL);
	else
		process(w, cfg, fr, pp->n, pp);
}

uint32_t qp_top_pace(uint64_t *last, uint64_t now_ns, uint64_t interval_ns, uint32_t buckets,
		     uint32_t min_buckets)
{
	uint64_t dt = *last && now_ns > *last ? now_ns - *last : 0;
	*last = now_ns;
	if (!interval_ns)
		return min_buckets;
	if (interval_ns < QP_TOP_PASS_MIN_NS)
		interval_ns = QP_TOP_PASS_MIN_NS;
	if (dt > interval_ns)
		dt = interval_ns;
	uint64_t nb = ((uint64_t)buckets * dt + interval_ns - 1) / interval_ns;
	return nb < min_buckets ? min_buckets : nb > QP_TOP_STEP_MAX ? QP_TOP_STEP_MAX : (uint32_t)nb;
}

static void top_visit(struct qp_flow *f, void *arg)
{
	qp_top_offer(arg, f);
}

void qp_worker_expire(struct qp_worker *w, const struct qp_measure_cfg *cfg, uint64_t now_ns,
		      uint32_t max_buckets)
{
	struct qp_top *top = w->top;
	if (!top) {
		/* every time in the table is at least the lowest measured: until
		 * the timeouts have passed since then no flow can end, and the
		 * walk would only step over them (the realistic mix offline:
		 * two passes over 2^20 buckets and 10,000 flows, 3 % of the
		 * measuring thread's samples) */
		uint64_t low = w->ts_low - 1;
		if (w->ts_low && !w->group && now_ns >= low && now_ns - low < cfg->idle_ns &&
		    (!cfg->active_ns || now_ns - low < cfg->active_ns)) {
			qp_flow_table_expire_skip(w->flows, max_buckets);
			return;
		}
		qp_flow_table_expire(w->flows, now_ns, cfg->idle_ns, cfg->active_ns, max_buckets,
				     w->export_fn, w->export_arg);
		return;
	}
	uint32_t nb = qp_top_pace(&w->top_step_ns, now_ns, cfg->interval_ns,
				  qp_flow_table_buckets(w->flows), max_buckets);
	int wrapped;
	qp_flow_table_expire_visit(w->flows, now_ns, cfg->idle_ns, cfg->active_ns, nb, w->export_fn,
				   w->export_arg, top_visit, top, &wrapped);
	if (wrapped)
		qp_top_publish(top, now_ns);
}

int qp_worker_interval_read(const struct qp_worker *w, uint64_t iv, struct qp_interval_acc *out)
{
	const struct qp_interval_acc *a = &w->iv[iv & (QP_IV_SLOTS - 1)];
	uint64_t held = __atomic_load_n(&a->iv, __ATOMIC_ACQUIRE);
	if (held != iv) {
		/* a later interval took the slot, or is taking it
		 * (QP_IV_REWRITING is above every number): what the worker had
		 * of iv is gone. An earlier one, or none: it never had a frame
		 * in iv */
		return held > iv ? QP_IV_LOST : QP_IV_NONE;
	}
	/* a copy taken while the worker may still add to the slot: each field
	 * is read whole, the set may be one packet apart */
	uint32_t ns = __atomic_load_n(&a->rtp_nstreams, __ATOMIC_ACQUIRE);
	if (ns > QP_IV_RTP_STREAMS)
		ns = QP_IV_RTP_STREAMS;
	memcpy(out, a, offsetof(struct qp_interval_acc, rtp_streams));
	memcpy(out->rtp_streams, a->rtp_streams, ns * sizeof(a->rtp_streams[0]));
	/* the copy is of iv only if the slot still holds it: the loads above
	 * come before this one */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&a->iv, __ATOMIC_RELAXED) != iv)
		return QP_IV_LOST;
	out->rtp_nstreams = ns;
	out->iv = iv;
	return QP_IV_READ;
}
