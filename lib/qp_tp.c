/* qp_tp: see qp_tp.h. */
#include "qp_tp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
#define FLOW_DISTS_MAX 1024 /* flows with their own delay and IPDV distributions */
#define MAX_INTERVALS 100000

enum { ST_PENDING = 0, ST_MATCHED = 1 };

/* A record waiting in the window (ring, oldest first). */
struct slot {
	uint64_t sig;
	uint64_t ts;   /* its own time; for a pair, the upstream time */
	uint32_t size;
	uint32_t flow; /* flow index (the A record's flow for a pair), or NONE */
	uint32_t up_idx;
	uint8_t side;  /* the point of the record; for a pair, the downstream one */
	uint8_t state;
	uint8_t swapped;
	uint8_t dir;   /* a pair's direction: 0 fwd, 1 rev */
};

/* One direction of a flow (as the A point, or the B point for B-only flows, sees it). */
struct fdir {
	uint8_t upstream; /* 0 unknown, 1 + QP_TP_A or 1 + QP_TP_B */
	uint8_t have_prev;
	uint32_t seq[2];    /* next record index at each point */
	int64_t max_up_idx; /* highest upstream index arrived downstream, -1 none */
	int64_t prev_owd;
	uint64_t prev_down_ts;
};

struct flow {
	struct qp_flow_key key;
	struct fdir d[2];        /* by swapped */
	struct qp_tp_dir st[2];  /* fwd, rev */
	uint8_t used;
};

struct ivl {
	uint64_t k; /* interval number */
	struct qp_tp_dir st[2];
};

/* An index entry: the signature beside the slot, so probing and removal
 * never touch the ring for other signatures (one cache miss, not two). */
struct ient {
	uint64_t sig;
	uint32_t slot; /* ring slot + 1, 0 empty */
	uint32_t pad;
};

struct qp_tp {
	struct qp_tp_cfg cfg;
	struct slot *ring;
	uint32_t rmask, head, count; /* ring: capacity rmask + 1 */
	struct ient *idx;            /* signature index */
	uint32_t imask;
	struct flow *flows;
	uint32_t *fidx; /* flow index: flow + 1 */
	uint32_t fmask, nflows, ndists, fcap;
	struct ivl **ivs;
	uint32_t nivs;     /* offline: intervals 0 .. nivs - 1 may be there */
	uint32_t nivslots; /* offline: MAX_INTERVALS; live: cfg.iv_ring, by k % iv_ring */
	uint64_t wm[2];
	struct qp_tp_dir tot[2];
	struct qp_tp_counters cnt;
	int oom;
};

static uint32_t pow2_at_least(uint64_t n)
{
	uint32_t p = 1;
	while (p < n && p < (1u << 30))
		p <<= 1;
	return p;
}

static void dir_init(struct qp_tp_dir *d)
{
	memset(d, 0, sizeof(*d));
}

static int dir_hists(struct qp_tp_dir *d)
{
	d->owd = malloc(sizeof(*d->owd));
	d->ipdv = malloc(sizeof(*d->ipdv));
	if (!d->owd || !d->ipdv) {
		free(d->owd);
		free(d->ipdv);
		d->owd = d->ipdv = NULL;
		return -1;
	}
	qp_hist_reset(d->owd);
	qp_hist_reset(d->ipdv);
	return 0;
}

static void dir_free(struct qp_tp_dir *d)
{
	free(d->owd);
	free(d->ipdv);
}

static void iv_free(struct qp_tp *tp, uint32_t slot)
{
	struct ivl *v = tp->ivs[slot];
	if (!v)
		return;
	dir_free(&v->st[0]);
	dir_free(&v->st[1]);
	free(v);
	tp->ivs[slot] = NULL;
}

struct qp_tp *qp_tp_create(const struct qp_tp_cfg *cfg)
{
	if (!cfg->window || !cfg->loss_timer_ns) {
		errno = EINVAL;
		return NULL;
	}
	struct qp_tp *tp = calloc(1, sizeof(*tp));
	if (!tp)
		return NULL;
	tp->cfg = *cfg;
	uint32_t rcap = pow2_at_least(cfg->window);
	tp->rmask = rcap - 1;
	tp->imask = rcap * 2 - 1;
	uint32_t fcap = 1024; /* grows with the flows: 2 slots a flow at least */
	tp->fmask = fcap - 1;
	tp->fcap = 512;
	tp->ring = malloc(sizeof(*tp->ring) * rcap);
	tp->idx = calloc((size_t)rcap * 2, sizeof(*tp->idx));
	tp->flows = calloc(tp->fcap, sizeof(*tp->flows));
	tp->fidx = calloc(fcap, sizeof(*tp->fidx));
	tp->nivslots = cfg->iv_ring ? cfg->iv_ring : MAX_INTERVALS;
	tp->ivs = cfg->interval_ns ? calloc(tp->nivslots, sizeof(*tp->ivs)) : NULL;
	int bad = !tp->ring || !tp->idx || !tp->flows || !tp->fidx || (cfg->interval_ns && !tp->ivs);
	for (int d = 0; d < 2 && !bad; d++) {
		dir_init(&tp->tot[d]);
		bad = dir_hists(&tp->tot[d]);
	}
	if (bad) {
		qp_tp_destroy(tp);
		errno = ENOMEM;
		return NULL;
	}
	return tp;
}

void qp_tp_destroy(struct qp_tp *tp)
{
	if (!tp)
		return;
	for (uint32_t i = 0; i < tp->nflows; i++)
		for (int d = 0; d < 2; d++)
			dir_free(&tp->flows[i].st[d]);
	if (tp->ivs)
		for (uint32_t i = 0; i < tp->nivslots; i++)
			iv_free(tp, i);
	for (int d = 0; d < 2; d++)
		dir_free(&tp->tot[d]);
	free(tp->ivs);
	free(tp->ring);
	free(tp->idx);
	free(tp->flows);
	free(tp->fidx);
	free(tp);
}

/* ---- flows ---- */

static uint32_t key_hash(const struct qp_flow_key *k)
{
	return qp_flow_key_hash(k);
}

/* Double the flow array and its index (load stays at most one half). */
static int flows_grow(struct qp_tp *tp)
{
	uint32_t ncap = tp->fcap * 2, nmask = tp->fmask * 2 + 1;
	struct flow *nf = realloc(tp->flows, sizeof(*nf) * ncap);
	if (!nf)
		return -1;
	tp->flows = nf;
	uint32_t *ni = calloc((size_t)nmask + 1, sizeof(*ni));
	if (!ni)
		return -1;
	for (uint32_t i = 0; i < tp->nflows; i++) {
		uint32_t h = key_hash(&tp->flows[i].key) & nmask;
		while (ni[h])
			h = (h + 1) & nmask;
		ni[h] = i + 1;
	}
	free(tp->fidx);
	tp->fidx = ni;
	tp->fmask = nmask;
	tp->fcap = ncap;
	return 0;
}

/*
 * Two-point flows are their 5-tuple: the two points may see one flow in
 * different tunnels or VLANs (a probe on each side of a VXLAN gateway).
 */
static uint32_t flow_of(struct qp_tp *tp, const struct qp_flow_key *key, int create)
{
	struct qp_flow_key k5 = *key;
	const struct qp_flow_key *k = &k5;
	qp_flow_key_strip(&k5);
	uint32_t h = key_hash(k) & tp->fmask;
	for (;; h = (h + 1) & tp->fmask) {
		uint32_t v = tp->fidx[h];
		if (v == 0)
			break;
		if (memcmp(&tp->flows[v - 1].key, k, sizeof(*k)) == 0)
			return v - 1;
	}
	if (!create)
		return NONE;
	if (tp->nflows >= tp->cfg.max_flows) {
		tp->cnt.flows_not_itemised++;
		return NONE;
	}
	if (tp->nflows == tp->fcap) {
		if (flows_grow(tp) != 0) {
			tp->oom = 1;
			tp->cnt.flows_not_itemised++;
			return NONE;
		}
		h = key_hash(k) & tp->fmask; /* the index was rebuilt: find the slot again */
		while (tp->fidx[h])
			h = (h + 1) & tp->fmask;
	}
	uint32_t f = tp->nflows++;
	struct flow *fl = &tp->flows[f];
	memset(fl, 0, sizeof(*fl));
	fl->key = *k;
	fl->used = 1;
	for (int i = 0; i < 2; i++) {
		fl->d[i].max_up_idx = -1;
		dir_init(&fl->st[i]);
	}
	if (tp->ndists < tp->cfg.flow_dists && tp->ndists < FLOW_DISTS_MAX) {
		if (dir_hists(&fl->st[0]) == 0 && dir_hists(&fl->st[1]) == 0)
			tp->ndists++;
		else
			tp->oom = 1;
	}
	tp->fidx[h] = f + 1;
	return f;
}

/* ---- intervals ---- */

static struct qp_tp_dir *iv_dir(struct qp_tp *tp, uint64_t ts, int dir)
{
	if (!tp->ivs)
		return NULL;
	uint64_t k = ts > tp->cfg.base_ns ? (ts - tp->cfg.base_ns) / tp->cfg.interval_ns : 0;
	uint32_t slot;
	if (tp->cfg.iv_ring) {
		slot = (uint32_t)(k % tp->nivslots);
		if (tp->ivs[slot] && tp->ivs[slot]->k != k) {
			if (tp->ivs[slot]->k > k) { /* older than what the ring holds */
				tp->cnt.intervals_not_itemised++;
				return NULL;
			}
			iv_free(tp, slot); /* never taken: its figures are gone */
			tp->cnt.intervals_not_itemised++;
		}
	} else if (k >= MAX_INTERVALS) {
		tp->cnt.intervals_not_itemised++;
		return NULL;
	} else {
		slot = (uint32_t)k;
	}
	if (!tp->ivs[slot]) {
		struct ivl *v = calloc(1, sizeof(*v));
		if (!v || dir_hists(&v->st[0]) || dir_hists(&v->st[1])) {
			if (v) {
				dir_free(&v->st[0]);
				dir_free(&v->st[1]);
			}
			free(v);
			tp->oom = 1;
			return NULL;
		}
		v->k = k;
		tp->ivs[slot] = v;
		if (!tp->cfg.iv_ring && k + 1 > tp->nivs)
			tp->nivs = (uint32_t)k + 1;
	}
	return &tp->ivs[slot]->st[dir];
}

/* ---- updates of the three levels at once ---- */

struct dirs {
	struct qp_tp_dir *d[3]; /* total, interval, flow (may be NULL) */
};

static struct dirs dirs_of(struct qp_tp *tp, uint64_t up_ts, uint32_t flow, int dir)
{
	struct dirs s;
	s.d[0] = &tp->tot[dir];
	s.d[1] = iv_dir(tp, up_ts, dir);
	s.d[2] = flow != NONE ? &tp->flows[flow].st[dir] : NULL;
	return s;
}

/* the statements between EACH and END_EACH run for each level present */
#define EACH(s, x) for (int i_ = 0; i_ < 3; i_++) if ((s).d[i_]) { struct qp_tp_dir *x = (s).d[i_];
#define END_EACH }


/* ---- the window ---- */

static uint32_t sig_home(const struct qp_tp *tp, uint64_t sig)
{
	return (uint32_t)(sig ^ (sig >> 32)) & tp->imask;
}

/* Remove ring slot r from the signature index (linear probing, backward shift). */
static void idx_remove(struct qp_tp *tp, uint32_t r)
{
	uint32_t i = sig_home(tp, tp->ring[r].sig);
	while (tp->idx[i].slot != r + 1)
		i = (i + 1) & tp->imask;
	for (;;) {
		tp->idx[i].slot = 0;
		uint32_t j = i;
		for (;;) {
			j = (j + 1) & tp->imask;
			if (tp->idx[j].slot == 0)
				return;
			uint32_t home = sig_home(tp, tp->idx[j].sig);
			/* move j back to i unless its home lies cyclically in (i, j] */
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		tp->idx[i] = tp->idx[j];
		i = j;
	}
}

static void lose(struct qp_tp *tp, const struct slot *s)
{
	int dir = s->side == QP_TP_A ? 0 : 1;
	if (s->flow != NONE) {
		uint8_t up = tp->flows[s->flow].d[s->swapped].upstream;
		if (up && up - 1 != s->side) {
			/* seen at the downstream point of its flow direction only */
			struct dirs ds = dirs_of(tp, s->ts, s->flow, up - 1 == QP_TP_A ? 0 : 1);
			EACH(ds, d) d->downstream_only++; END_EACH
			return;
		}
	}
	struct dirs ds = dirs_of(tp, s->ts, s->flow, dir);
	EACH(ds, d) d->selected++; d->lost++; END_EACH
}

static void pop_head(struct qp_tp *tp)
{
	idx_remove(tp, tp->head);
	tp->head = (tp->head + 1) & tp->rmask;
	tp->count--;
}

static void expire(struct qp_tp *tp)
{
	while (tp->count) {
		struct slot *s = &tp->ring[tp->head];
		/* a pending record waits for the other point; a pair, for
		 * duplicates at its downstream point */
		int other = s->state == ST_PENDING ? !s->side : s->side;
		if (s->ts + tp->cfg.loss_timer_ns > tp->wm[other])
			return;
		if (s->state == ST_PENDING)
			lose(tp, s);
		pop_head(tp);
	}
}

void qp_tp_watermark(struct qp_tp *tp, int side, uint64_t t)
{
	if (t > tp->wm[side])
		tp->wm[side] = t;
	expire(tp);
}

/* What a point's record says about one packet. */
struct seen {
	uint64_t ts;
	uint32_t flow, idx;
	uint8_t swapped;
};

/* Pair slot s (the earlier record, still pending) with the record just seen. */
static void match(struct qp_tp *tp, struct slot *s, int side, const struct seen *now)
{
	struct seen a, b;
	struct seen old = {s->ts, s->flow, s->up_idx, s->swapped};
	a = side == QP_TP_A ? *now : old;
	b = side == QP_TP_A ? old : *now;
	/* the pair belongs to the A record's flow and direction */
	struct fdir spare = {.max_up_idx = -1};
	struct fdir *fd = a.flow != NONE ? &tp->flows[a.flow].d[a.swapped] : &spare;
	if (!fd->upstream)
		fd->upstream = (uint8_t)(1 + (b.ts < a.ts ? QP_TP_B : QP_TP_A));
	int up = fd->upstream - 1;
	int dir = up == QP_TP_A ? 0 : 1;
	const struct seen *u = up == QP_TP_A ? &a : &b, *dn = up == QP_TP_A ? &b : &a;
	int64_t owd = (int64_t)(dn->ts - u->ts);

	int reordered = 0, brk = 0;
	uint64_t gap = 0, ipdv = 0;
	int have_ipdv = fd->have_prev;
	if ((int64_t)u->idx < fd->max_up_idx) {
		reordered = 1; /* RFC 4737: a later-sent packet of the flow arrived before it */
	} else {
		if (fd->have_prev && dn->ts > fd->prev_down_ts &&
		    dn->ts - fd->prev_down_ts > tp->cfg.break_ns && (int64_t)u->idx > fd->max_up_idx + 1) {
			brk = 1;
			gap = dn->ts - fd->prev_down_ts;
		}
		fd->max_up_idx = u->idx;
	}
	if (have_ipdv)
		ipdv = (uint64_t)(owd > fd->prev_owd ? owd - fd->prev_owd : fd->prev_owd - owd);
	fd->prev_owd = owd;
	fd->have_prev = 1;
	if (dn->ts > fd->prev_down_ts)
		fd->prev_down_ts = dn->ts;

	struct dirs ds = dirs_of(tp, u->ts, a.flow, dir);
	EACH(ds, d)
		if (d->matched == 0 || owd < d->owd_min)
			d->owd_min = owd;
		if (d->matched == 0 || owd > d->owd_max)
			d->owd_max = owd;
		d->selected++;
		d->matched++;
		d->owd_sum += owd;
		d->bytes_matched += s->size;
		if (owd < 0)
			d->negative_delays++;
		else if (d->owd)
			qp_hist_add(d->owd, (uint64_t)owd);
		d->reordered += (uint64_t)reordered;
		d->breaks += (uint64_t)brk;
		d->break_ns += gap;
		if (have_ipdv) {
			d->ipdv_n++;
			d->ipdv_abs_sum += ipdv;
			if (d->ipdv)
				qp_hist_add(d->ipdv, ipdv);
		}
	END_EACH
	/* the slot now stands for the pair, until duplicates can no longer come */
	s->state = ST_MATCHED;
	s->ts = u->ts;
	s->side = (uint8_t)(up == QP_TP_A ? QP_TP_B : QP_TP_A);
	s->flow = a.flow;
	s->swapped = a.swapped;
	s->dir = (uint8_t)dir;
}

void qp_tp_set_base(struct qp_tp *tp, uint64_t base_ns)
{
	tp->cfg.base_ns = base_ns;
}

void qp_tp_add(struct qp_tp *tp, int side, const struct qp_tp_rec *r)
{
	if (r->ts_ns > tp->wm[side])
		tp->wm[side] = r->ts_ns;
	tp->cnt.records[side]++;
	struct seen now = {r->ts_ns, flow_of(tp, &r->key, 1), 0, r->swapped & 1};
	if (now.flow != NONE)
		now.idx = tp->flows[now.flow].d[now.swapped].seq[side]++;

	/* the oldest pending record of the other point with this signature,
	 * else a pair whose downstream point this is (a duplicate) */
	uint32_t best = NONE, best_age = UINT32_MAX, dup = NONE;
	for (uint32_t i = sig_home(tp, r->sig); tp->idx[i].slot; i = (i + 1) & tp->imask) {
		if (tp->idx[i].sig != r->sig)
			continue;
		uint32_t k = tp->idx[i].slot - 1;
		struct slot *s = &tp->ring[k];
		uint32_t age = (k - tp->head) & tp->rmask;
		if (s->state == ST_PENDING && s->side != side && age < best_age) {
			best = k;
			best_age = age;
		} else if (s->state == ST_MATCHED && s->side == side) {
			dup = k;
		}
	}
	if (best != NONE) {
		match(tp, &tp->ring[best], side, &now);
	} else if (dup != NONE) {
		struct slot *s = &tp->ring[dup];
		struct dirs ds = dirs_of(tp, s->ts, s->flow, s->dir);
		EACH(ds, d) d->duplicates++; END_EACH
	} else {
		if (tp->count == tp->rmask + 1) {
			if (tp->ring[tp->head].state == ST_PENDING)
				tp->cnt.window_overflow++;
			pop_head(tp);
		}
		uint32_t k = (tp->head + tp->count) & tp->rmask;
		tp->ring[k] = (struct slot){.sig = r->sig,
					    .ts = r->ts_ns,
					    .size = r->size,
					    .flow = now.flow,
					    .up_idx = now.idx,
					    .side = (uint8_t)side,
					    .state = ST_PENDING,
					    .swapped = now.swapped};
		tp->count++;
		uint32_t i = sig_home(tp, r->sig);
		while (tp->idx[i].slot)
			i = (i + 1) & tp->imask;
		tp->idx[i].slot = k + 1;
		tp->idx[i].sig = r->sig;
	}
	expire(tp);
}

void qp_tp_finish(struct qp_tp *tp)
{
	while (tp->count) {
		struct slot *s = &tp->ring[tp->head];
		if (s->state == ST_PENDING) {
			if (tp->wm[!s->side] >= s->ts)
				lose(tp, s);
			else
				tp->cnt.unresolved++;
		}
		pop_head(tp);
	}
}

const struct qp_tp_dir *qp_tp_total(const struct qp_tp *tp, int dir)
{
	return &tp->tot[dir & 1];
}

const struct qp_tp_counters *qp_tp_counters(const struct qp_tp *tp)
{
	return &tp->cnt;
}

/* ---- JSON ---- */

static json_t *ms(int64_t ns)
{
	return json_real((double)ns / 1e6);
}

json_t *qp_tp_dir_json(const struct qp_tp_dir *d)
{
	json_t *o = json_object();
	json_object_set_new(o, "selected", json_integer((json_int_t)d->selected));
	json_object_set_new(o, "matched", json_integer((json_int_t)d->matched));
	json_object_set_new(o, "lost", json_integer((json_int_t)d->lost));
	json_object_set_new(o, "loss_ratio",
			    d->selected ? json_real((double)d->lost / (double)d->selected) : json_null());
	json_object_set_new(o, "duplicates", json_integer((json_int_t)d->duplicates));
	json_object_set_new(o, "reordered", json_integer((json_int_t)d->reordered));
	json_object_set_new(o, "downstream_only", json_integer((json_int_t)d->downstream_only));
	json_object_set_new(o, "negative_delays", json_integer((json_int_t)d->negative_delays));
	json_object_set_new(o, "breaks", json_integer((json_int_t)d->breaks));
	json_object_set_new(o, "break_ms", ms((int64_t)d->break_ns));
	int dist = d->owd && d->owd->count;
	if (d->matched) {
		json_t *w = json_object();
		json_object_set_new(w, "min", ms(d->owd_min));
		json_object_set_new(w, "mean", json_real((double)d->owd_sum / (double)d->matched / 1e6));
		json_object_set_new(w, "max", ms(d->owd_max));
		static const double q[3] = {0.5, 0.9, 0.99};
		static const char *qn[3] = {"p50", "p90", "p99"};
		for (int i = 0; i < 3; i++)
			json_object_set_new(w, qn[i],
					    dist ? ms((int64_t)qp_hist_quantile(d->owd, q[i])) : json_null());
		json_object_set_new(o, "owd_ms", w);
	} else {
		json_object_set_new(o, "owd_ms", json_null());
	}
	if (d->ipdv_n) {
		json_object_set_new(o, "ipdv_ms",
				    json_pack("{s:o,s:o,s:I}", "mean_abs",
					      json_real((double)d->ipdv_abs_sum / (double)d->ipdv_n / 1e6),
					      "p99",
					      d->ipdv && d->ipdv->count
						      ? ms((int64_t)qp_hist_quantile(d->ipdv, 0.99))
						      : json_null(),
					      "samples", (json_int_t)d->ipdv_n));
	} else {
		json_object_set_new(o, "ipdv_ms", json_null());
	}
	if (dist) {
		/* RFC 5481 PDV: delay minus the minimum delay, as quantiles */
		int64_t mn = d->owd_min;
		json_object_set_new(
			o, "pdv_ms",
			json_pack("{s:o,s:o}", "p50", ms((int64_t)qp_hist_quantile(d->owd, 0.5) - mn),
				  "p99", ms((int64_t)qp_hist_quantile(d->owd, 0.99) - mn)));
	} else {
		json_object_set_new(o, "pdv_ms", json_null());
	}
	return o;
}

static json_t *pair_json(const struct qp_tp_dir *st)
{
	return json_pack("{s:o,s:o}", "fwd", qp_tp_dir_json(&st[0]), "rev", qp_tp_dir_json(&st[1]));
}

const struct qp_tp_dir *qp_tp_flow(const struct qp_tp *tp, const struct qp_flow_key *key)
{
	uint32_t f = flow_of((struct qp_tp *)tp, key, 0);
	return f == NONE ? NULL : tp->flows[f].st;
}

json_t *qp_tp_flow_json(const struct qp_tp *tp, const struct qp_flow_key *key)
{
	uint32_t f = flow_of((struct qp_tp *)tp, key, 0);
	return f == NONE ? NULL : pair_json(tp->flows[f].st);
}

static struct ivl *iv_at(const struct qp_tp *tp, uint64_t k)
{
	if (!tp->ivs)
		return NULL;
	struct ivl *v = tp->ivs[tp->cfg.iv_ring ? k % tp->nivslots : (k < tp->nivs ? k : 0)];
	return v && v->k == k ? v : NULL;
}

json_t *qp_tp_interval_json(const struct qp_tp *tp, uint64_t start_ns)
{
	if (!tp->ivs || start_ns < tp->cfg.base_ns)
		return NULL;
	struct ivl *v = iv_at(tp, (start_ns - tp->cfg.base_ns) / tp->cfg.interval_ns);
	return v ? pair_json(v->st) : NULL;
}

int qp_tp_interval_final(const struct qp_tp *tp, uint64_t k)
{
	uint64_t end = tp->cfg.base_ns + (k + 1) * tp->cfg.interval_ns + tp->cfg.loss_timer_ns;
	return tp->wm[0] >= end && tp->wm[1] >= end;
}

json_t *qp_tp_interval_take(struct qp_tp *tp, uint64_t k)
{
	struct ivl *v = iv_at(tp, k);
	struct qp_tp_dir zero[2];
	memset(zero, 0, sizeof(zero));
	json_t *j = pair_json(v ? v->st : zero);
	if (v && tp->cfg.iv_ring)
		iv_free(tp, (uint32_t)(k % tp->nivslots));
	return j;
}

json_t *qp_tp_json(const struct qp_tp *tp)
{
	json_t *o = json_object();
	json_object_set_new(o, "loss_timer_ms", ms((int64_t)tp->cfg.loss_timer_ns));
	json_object_set_new(o, "break_ms", ms((int64_t)tp->cfg.break_ns));
	json_object_set_new(o, "records", json_pack("{s:I,s:I}", "primary", (json_int_t)tp->cnt.records[0],
						    "secondary", (json_int_t)tp->cnt.records[1]));
	json_object_set_new(o, "window", json_integer(tp->rmask + 1));
	json_object_set_new(o, "window_overflow", json_integer((json_int_t)tp->cnt.window_overflow));
	json_object_set_new(o, "unresolved", json_integer((json_int_t)tp->cnt.unresolved));
	json_object_set_new(o, "flows_not_itemised",
			    json_integer((json_int_t)tp->cnt.flows_not_itemised));
	json_object_set_new(o, "intervals_not_itemised",
			    json_integer((json_int_t)tp->cnt.intervals_not_itemised));
	json_object_set_new(o, "fwd", qp_tp_dir_json(&tp->tot[0]));
	json_object_set_new(o, "rev", qp_tp_dir_json(&tp->tot[1]));
	return o;
}
