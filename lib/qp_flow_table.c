/*
 * qp_flow_table: see qp_flow_table.h. Chained hash with a power-of-two
 * bucket array, entries from a pool sized at creation. Entries never used
 * are handed out in pool order (`fresh`), so creating a table touches none
 * of them; entries given back wait in an rte_ring (initialised in plain
 * memory, no EAL needed): the worker dequeues single-consumer, and the
 * call_rcu thread enqueues entries whose grace period has ended.
 */
#include "qp_flow_table.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <rte_ring.h>

#define MAX_FLOWS (1u << 26)
#define EVICT_SAMPLE 8     /* non-empty buckets compared when evicting */
#define EVICT_MAX_VISIT 64 /* buckets visited at most for one eviction */

/*
 * Thread-safety: everything but `buckets` chains and `active`/`stats` is
 * fixed after creation. Chains and counters are written by the owning worker
 * only; readers see chains through rcu_dereference and counters as plain
 * loads. The free ring is MP-enqueue (call_rcu thread) / SC-dequeue (owner).
 */
struct qp_flow_table {
	struct qp_flow_table_hdr hdr; /* must stay first: see qp_flow_table_hdr() */
	uint32_t max_flows; /* the limit: the owner reads it, the management core may lower or raise it */
	uint32_t reserve;
	uint32_t pool_size;
	uint32_t active;
	uint32_t fresh; /* pool[fresh..] were never handed out */
	uint32_t expire_cursor;
	uint32_t evict_cursor;
	int shared;
	struct qp_flow *pool;
	struct rte_ring *free;
	struct qp_flow_table_stats stats;
	size_t pool_bytes, ring_bytes;
	struct qp_hist_counts *hists; /* pairs: [2 * i], [2 * i + 1] */
	uint32_t nhists, hists_used;
	uint32_t incs; /* incarnations handed out */
	qp_flow_end_fn *end_fn; /* every record's end, restart or removal */
	void *end_arg;
};

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

struct qp_flow_table *qp_flow_table_create(uint32_t max_flows, int shared)
{
	if (max_flows < 1 || max_flows > MAX_FLOWS) {
		errno = EINVAL;
		return NULL;
	}
	struct qp_flow_table *t = calloc(1, sizeof(*t));
	if (!t)
		goto nomem;
	t->max_flows = max_flows;
	t->shared = shared;
	/* entries waiting out a grace period still occupy the pool: a reserve
	 * keeps evictions and expiries from starving new flows meanwhile */
	uint32_t reserve = shared ? (max_flows / 8 > 64 ? max_flows / 8 : 64) : 0;
	t->reserve = reserve;
	t->pool_size = max_flows + reserve;
	t->hdr.mask = pow2_at_least(max_flows) - 1;
	t->hdr.buckets = calloc((size_t)t->hdr.mask + 1, sizeof(*t->hdr.buckets));
	/* anonymous memory: zeroed, page aligned, faulted in as flows arrive;
	 * not reserved up front (a table shared by measurements is sized for
	 * the whole flow budget, which the probe's START checks) */
	t->pool_bytes = (size_t)t->pool_size * sizeof(struct qp_flow);
	t->pool = mmap(NULL, t->pool_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (t->pool == MAP_FAILED)
		t->pool = NULL;
	uint32_t ring_count = pow2_at_least(t->pool_size + 1);
	ssize_t rsz = rte_ring_get_memsize(ring_count);
	if (!t->hdr.buckets || !t->pool || rsz < 0)
		goto nomem_t;
	t->ring_bytes = ((size_t)rsz + 63) & ~(size_t)63;
	t->free = aligned_alloc(64, t->ring_bytes);
	if (!t->free || rte_ring_init(t->free, "qp_flow_free", ring_count, RING_F_SC_DEQ) != 0)
		goto nomem_t;
	/* neither entries nor the ring's slots are touched here: their pages
	 * are faulted in as flows arrive (a 1M-flow table is created in
	 * microseconds), and insert sets each entry's owner */
	return t;
nomem_t:
	free(t->free);
	if (t->pool)
		munmap(t->pool, t->pool_bytes);
	free(t->hdr.buckets);
	free(t);
nomem:
	errno = ENOMEM;
	return NULL;
}

void qp_flow_table_destroy(struct qp_flow_table *t)
{
	if (t && t->shared)
		rcu_barrier(); /* every pending call_rcu has enqueued into t->free */
	qp_flow_table_destroy_drained(t);
}

void qp_flow_table_destroy_drained(struct qp_flow_table *t)
{
	if (!t)
		return;
	free(t->free);
	munmap(t->pool, t->pool_bytes);
	free(t->hdr.buckets);
	free(t->hists);
	free(t);
}

void qp_flow_table_memory(const struct qp_flow_table *t, struct qp_flow_table_memory *m)
{
	m->entries = t->pool_size;
	m->entry_bytes = sizeof(struct qp_flow);
	m->pool_bytes = t->pool_bytes;
	m->bucket_bytes = ((size_t)t->hdr.mask + 1) * sizeof(*t->hdr.buckets);
	m->free_ring_bytes = t->ring_bytes;
	m->rtt_dists = t->nhists;
	m->rtt_dist_bytes = (size_t)t->nhists * 2 * sizeof(*t->hists);
}

int qp_flow_table_set_hists(struct qp_flow_table *t, uint32_t n)
{
	if (n == 0)
		return 0;
	/* pages are faulted in as flows take distributions */
	t->hists = calloc((size_t)n * 2, sizeof(*t->hists));
	if (!t->hists)
		return -ENOMEM;
	t->nhists = n;
	return 0;
}

struct qp_hist_counts *qp_flow_table_hist(struct qp_flow_table *t, struct qp_flow *f)
{
	if (!f->hist) {
		if (t->hists_used == t->nhists) {
			if (!f->hist_live) {
				t->stats.hist_full++;
				f->hist_live = 2; /* counted once per flow */
			}
			return NULL;
		}
		f->hist = &t->hists[2 * (size_t)t->hists_used++];
		f->hist_live = 0;
	}
	if (f->hist_live != 1) {
		/* the entry's previous flow may have left counts here; no reader
		 * of that flow remains once the entry was reinserted */
		qp_hist_counts_clear(&f->hist[0]);
		qp_hist_counts_clear(&f->hist[1]);
		f->hist_live = 1;
	}
	return f->hist;
}

static void free_cb(struct rcu_head *h)
{
	struct qp_flow *f = caa_container_of(h, struct qp_flow, rcu);
	rte_ring_mp_enqueue(f->owner->free, f);
}

static void release(struct qp_flow_table *t, struct qp_flow *f)
{
	t->active--;
	if (t->shared)
		call_rcu(&f->rcu, free_cb);
	else
		rte_ring_mp_enqueue(t->free, f);
}

/* Unlink *pp (which points at f) and hand f to the export callback. */
static void unlink_flow(struct qp_flow_table *t, struct qp_flow **pp, struct qp_flow *f,
			enum qp_flow_end why, qp_flow_export_fn *fn, void *arg)
{
	/* readers already on f keep following f->next, which stays valid
	 * until the grace period ends; new readers skip f */
	rcu_assign_pointer(*pp, f->next);
	if (t->end_fn)
		t->end_fn(f, why, 1, t->end_arg);
	if (fn && f->pkts[0] + f->pkts[1] > 0)
		fn(f, why, arg);
	release(t, f);
}

static void evict_one(struct qp_flow_table *t, qp_flow_export_fn *fn, void *arg)
{
	struct qp_flow **best_pp = NULL;
	struct qp_flow *best = NULL;
	int seen = 0;
	for (int v = 0; v < EVICT_MAX_VISIT && seen < EVICT_SAMPLE; v++) {
		struct qp_flow **pp = &t->hdr.buckets[t->evict_cursor++ & t->hdr.mask];
		if (!*pp)
			continue;
		seen++;
		for (struct qp_flow *f = *pp; f; pp = &f->next, f = *pp)
			if (!best || f->last_ns < best->last_ns) {
				best = f;
				best_pp = pp;
			}
	}
	if (!best)
		return;
	t->stats.evicted++;
	unlink_flow(t, best_pp, best, QP_FLOW_END_EVICTED, fn, arg);
}

/* An entry from the pool, or NULL when every one is in use or waits out a grace period. */
static struct qp_flow *take(struct qp_flow_table *t)
{
	void *obj;
	if (rte_ring_sc_dequeue(t->free, &obj) == 0)
		return obj;
	if (t->fresh == t->pool_size)
		return NULL;
	return &t->pool[t->fresh++];
}

struct qp_flow *qp_flow_table_insert(struct qp_flow_table *t, const struct qp_pkt *pk,
				     qp_flow_export_fn *fn, void *arg)
{
	uint32_t limit = CMM_LOAD_SHARED(t->max_flows);
	if (t->active >= limit)
		evict_one(t, fn, arg);
	struct qp_flow *f = t->active >= limit ? NULL : take(t);
	if (!f) {
		t->stats.table_full++;
		return NULL;
	}
	struct qp_hist_counts *hist = f->hist; /* bound to the entry for good */
	memset(f, 0, sizeof(*f));
	f->owner = t;
	f->hist = hist;
	f->key = pk->key;
	f->inc = ++t->incs;
	f->init_swapped = pk->swapped;
	f->hs_rtt_ns = -1;
	f->hs_ack_rtt_ns = -1;
	f->size_min = UINT32_MAX;
	f->vlan = pk->vlan;
	f->encap = pk->encap;
	struct qp_flow **head = &t->hdr.buckets[pk->hash & t->hdr.mask];
	f->next = *head;
	/* the entry's fields must be visible before the pointer to it */
	rcu_assign_pointer(*head, f);
	t->active++;
	t->stats.created++;
	return f;
}

struct qp_flow *qp_flow_table_clone(struct qp_flow_table *t, const struct qp_flow *f)
{
	struct qp_flow *c = take(t);
	if (!c) {
		t->stats.table_full++;
		return NULL;
	}
	struct qp_hist_counts *hist = c->hist; /* bound to the entry for good */
	memcpy(c, f, sizeof(*c));
	c->owner = t;
	c->hist = hist;
	if (f->hist_live == 1) {
		struct qp_hist_counts *h = qp_flow_table_hist(t, c);
		if (h)
			memcpy(h, f->hist, 2 * sizeof(*h));
	}
	struct qp_flow **head = &t->hdr.buckets[qp_flow_key_hash(&c->key) & t->hdr.mask];
	c->next = *head;
	/* the copy must be visible before the pointer to it */
	rcu_assign_pointer(*head, c);
	t->active++;
	return c;
}

void qp_flow_table_remove(struct qp_flow_table *t, struct qp_flow *f)
{
	struct qp_flow **pp = &t->hdr.buckets[qp_flow_key_hash(&f->key) & t->hdr.mask];
	for (; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			unlink_flow(t, pp, f, QP_FLOW_END_FLUSH, NULL, NULL);
			return;
		}
}

void qp_flow_table_set_end_fn(struct qp_flow_table *t, qp_flow_end_fn *fn, void *arg)
{
	t->end_fn = fn;
	t->end_arg = arg;
}

void qp_flow_table_set_limit(struct qp_flow_table *t, uint32_t max_flows)
{
	uint32_t cap = t->pool_size - t->reserve;
	CMM_STORE_SHARED(t->max_flows, max_flows < 1 ? 1 : max_flows > cap ? cap : max_flows);
}

static void reset_counters(struct qp_flow *f)
{
	if (f->hist_live == 1)
		f->hist_live = 0; /* cleared at the next sample */
	f->last_ns = 0;
	f->first_ns = 0;
	f->pkts[0] = f->pkts[1] = 0;
	f->bytes[0] = f->bytes[1] = 0;
	f->size_min = UINT32_MAX;
	f->size_max = 0;
	f->hs_rtt_ns = -1;
	f->hs_ack_rtt_ns = -1;
	if (f->key.proto == 1 || f->key.proto == 58) {
		struct qp_echo *e = &f->echo;
		memset(e->requests, 0, sizeof(e->requests));
		memset(e->replies, 0, sizeof(e->replies));
		memset(e->rtt, 0, sizeof(e->rtt));
	}
	for (int d = 0; d < 2; d++) {
		if (f->key.proto == 6) {
			struct qp_tcp_dir *t = &f->tcp[d];
			t->retrans = t->ooo = t->dup_acks = t->zero_win = t->resets = 0;
			memset(&t->rtt, 0, sizeof(t->rtt));
		} else {
			memset(&f->iat[d].s, 0, sizeof(f->iat[d].s));
			if (f->key.proto == 17)
				qp_rtp_restart(&f->rtp[d]);
		}
	}
}

void qp_flow_table_restart(struct qp_flow_table *t, struct qp_flow *f, enum qp_flow_end why,
			   qp_flow_export_fn *fn, void *arg)
{
	if (why == QP_FLOW_END_IDLE)
		t->stats.expired_idle++;
	else
		t->stats.expired_active++;
	if (t->end_fn)
		t->end_fn(f, why, 0, t->end_arg);
	if (fn && f->pkts[0] + f->pkts[1] > 0)
		fn(f, why, arg);
	uint64_t last = f->last_ns;
	reset_counters(f);
	/* an active-timeout record ends where the next begins; an idle flow
	 * starts over, handshake included */
	if (why == QP_FLOW_END_IDLE) {
		f->tcp_state = 0;
		memset(f->tcp, 0, sizeof(f->tcp));
	} else
		f->last_ns = last;
}

uint32_t qp_flow_table_expire(struct qp_flow_table *t, uint64_t now_ns, uint64_t idle_ns,
			      uint64_t active_ns, uint32_t max_buckets, qp_flow_export_fn *fn,
			      void *arg)
{
	uint32_t n = 0;
	if (max_buckets > t->hdr.mask + 1)
		max_buckets = t->hdr.mask + 1;
	for (uint32_t b = 0; b < max_buckets; b++) {
		struct qp_flow **pp = &t->hdr.buckets[t->expire_cursor++ & t->hdr.mask];
		struct qp_flow *f;
		while ((f = *pp) != NULL) {
			if (now_ns > f->last_ns && now_ns - f->last_ns >= idle_ns) {
				t->stats.expired_idle++;
				n++;
				unlink_flow(t, pp, f, QP_FLOW_END_IDLE, fn, arg);
				continue;
			}
			if (active_ns && f->first_ns && now_ns > f->first_ns &&
			    now_ns - f->first_ns >= active_ns) {
				n++;
				qp_flow_table_restart(t, f, QP_FLOW_END_ACTIVE, fn, arg);
			}
			pp = &f->next;
		}
	}
	return n;
}

void qp_flow_table_flush(struct qp_flow_table *t, qp_flow_export_fn *fn, void *arg)
{
	/* `active` counts the chained entries: stop at the last one */
	for (uint32_t b = 0; b <= t->hdr.mask && t->active; b++) {
		struct qp_flow *f;
		while ((f = t->hdr.buckets[b]) != NULL)
			unlink_flow(t, &t->hdr.buckets[b], f, QP_FLOW_END_FLUSH, fn, arg);
	}
}

void qp_flow_table_foreach(const struct qp_flow_table *t,
			   void (*fn)(const struct qp_flow *f, void *arg), void *arg)
{
	for (uint32_t b = 0; b <= t->hdr.mask; b++)
		for (struct qp_flow *f = rcu_dereference(t->hdr.buckets[b]); f;
		     f = rcu_dereference(f->next))
			if (CMM_LOAD_SHARED(f->pkts[0]) + CMM_LOAD_SHARED(f->pkts[1]) > 0)
				fn(f, arg);
}

uint32_t qp_flow_table_count(const struct qp_flow_table *t)
{
	return CMM_LOAD_SHARED(t->active);
}

uint32_t qp_flow_table_capacity(const struct qp_flow_table *t)
{
	return CMM_LOAD_SHARED(t->max_flows);
}

uint32_t qp_flow_table_buckets(const struct qp_flow_table *t)
{
	return t->hdr.mask + 1;
}

void qp_flow_table_stats_copy(struct qp_flow_table_stats *out, const struct qp_flow_table_stats *in)
{
	out->created = CMM_LOAD_SHARED(in->created);
	out->expired_idle = CMM_LOAD_SHARED(in->expired_idle);
	out->expired_active = CMM_LOAD_SHARED(in->expired_active);
	out->evicted = CMM_LOAD_SHARED(in->evicted);
	out->table_full = CMM_LOAD_SHARED(in->table_full);
	out->hist_full = CMM_LOAD_SHARED(in->hist_full);
}

void qp_flow_table_stats(const struct qp_flow_table *t, struct qp_flow_table_stats *out)
{
	qp_flow_table_stats_copy(out, &t->stats);
}
