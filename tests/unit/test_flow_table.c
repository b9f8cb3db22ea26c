/*
 * Flow table tests: insert and lookup from both directions, idle and active
 * timeouts, a full table, and RCU reclamation under a concurrent reader.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "qp_flow_table.h"
#include "qp_top.h"
#include <stdlib.h>

/* A packet of flow i (IPv4 10.0.x.y:i -> 10.1.x.y:80), in either direction. */
static struct qp_pkt pkt(uint32_t i, int reverse)
{
	struct qp_pkt p;
	memset(&p, 0, sizeof(p));
	p.key.ipver = 4;
	p.key.proto = 17;
	p.key.addr[0][0] = 10;
	p.key.addr[0][2] = (uint8_t)(i >> 8);
	p.key.addr[0][3] = (uint8_t)i;
	p.key.addr[1][0] = 10;
	p.key.addr[1][1] = 1;
	p.key.addr[1][2] = (uint8_t)(i >> 8);
	p.key.addr[1][3] = (uint8_t)i;
	p.key.port[0] = (uint16_t)(1000 + i);
	p.key.port[1] = 80;
	p.hash = qp_flow_key_hash(&p.key);
	p.swapped = (uint8_t)reverse;
	return p;
}

/* Record what the table exports. */
struct sink {
	int n;
	int why[64];
	uint64_t pkts[64];
	uint16_t port[64];
};

static void sink_fn(const struct qp_flow *f, enum qp_flow_end why, void *arg)
{
	struct sink *s = arg;
	if (s->n < 64) {
		s->why[s->n] = why;
		s->pkts[s->n] = f->pkts[0] + f->pkts[1];
		s->port[s->n] = f->key.port[0];
	}
	s->n++;
}

/* Touch a flow as the worker would. */
static void touch(struct qp_flow *f, uint64_t ts)
{
	if (!f->first_ns)
		f->first_ns = ts;
	f->last_ns = ts;
	f->pkts[0]++;
}

Test(flow_table, insert_and_lookup_from_both_directions)
{
	struct qp_flow_table *t = qp_flow_table_create(16, 0);
	cr_assert_not_null(t);
	struct qp_pkt a = pkt(1, 0), b = pkt(1, 1), c = pkt(2, 0);
	cr_assert_null(qp_flow_table_lookup(t, &a.key, a.hash));
	struct qp_flow *f = qp_flow_table_insert(t, &a, NULL, NULL);
	cr_assert_not_null(f);
	cr_assert_eq(f->init_swapped, 0);
	cr_assert_eq(f->iat.n[0] + f->iat.n[1], 0, "a UDP flow: no inter-arrival sample yet");
	cr_assert_null(f->cold, "no cold block before the protocol needs one");
	cr_assert_eq(qp_flow_table_lookup(t, &a.key, a.hash), f);
	cr_assert_eq(qp_flow_table_lookup(t, &b.key, b.hash), f, "reverse direction finds the flow");
	cr_assert_null(qp_flow_table_lookup(t, &c.key, c.hash));
	cr_assert_eq(qp_flow_table_count(t), 1);
	cr_assert_eq(qp_flow_table_capacity(t), 16);
	struct qp_flow_table_stats s;
	qp_flow_table_stats(t, &s);
	cr_assert_eq(s.created, 1);
	qp_flow_table_destroy(t);
}

Test(flow_table, colliding_buckets_keep_flows_apart)
{
	/* a table of 1 bucket: every flow chains in it */
	struct qp_flow_table *t = qp_flow_table_create(1, 0);
	cr_assert_eq(qp_flow_table_buckets(t), 1);
	qp_flow_table_destroy(t);
	t = qp_flow_table_create(4, 0);
	struct qp_flow *f[4];
	for (uint32_t i = 0; i < 4; i++) {
		struct qp_pkt p = pkt(i, 0);
		f[i] = qp_flow_table_insert(t, &p, NULL, NULL);
	}
	for (uint32_t i = 0; i < 4; i++) {
		struct qp_pkt p = pkt(i, 1);
		cr_assert_eq(qp_flow_table_lookup(t, &p.key, p.hash), f[i]);
	}
	qp_flow_table_destroy(t);
}

Test(flow_table, idle_timeout_exports_once_and_frees)
{
	struct qp_flow_table *t = qp_flow_table_create(8, 0);
	struct sink s = {0};
	struct qp_pkt a = pkt(1, 0), b = pkt(2, 0);
	touch(qp_flow_table_insert(t, &a, NULL, NULL), 1000);
	touch(qp_flow_table_insert(t, &b, NULL, NULL), 5000);
	/* at 10999 flow 1 has been idle 9999 ns: still within the timeout */
	cr_assert_eq(qp_flow_table_expire(t, 10999, 10000, 0, 1000, sink_fn, &s), 0);
	cr_assert_eq(qp_flow_table_expire(t, 11000, 10000, 0, 1000, sink_fn, &s), 1);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.why[0], QP_FLOW_END_IDLE);
	cr_assert_eq(s.port[0], 1001);
	cr_assert_null(qp_flow_table_lookup(t, &a.key, a.hash));
	cr_assert_not_null(qp_flow_table_lookup(t, &b.key, b.hash));
	cr_assert_eq(qp_flow_table_count(t), 1);
	/* a clock going backwards expires nothing */
	cr_assert_eq(qp_flow_table_expire(t, 10, 1, 0, 1000, sink_fn, &s), 0);
	struct qp_flow_table_stats st;
	qp_flow_table_stats(t, &st);
	cr_assert_eq(st.expired_idle, 1);
	qp_flow_table_destroy(t);
}

Test(flow_table, active_timeout_exports_and_restarts_the_record)
{
	struct qp_flow_table *t = qp_flow_table_create(8, 0);
	struct sink s = {0};
	struct qp_pkt a = pkt(1, 0);
	struct qp_flow *f = qp_flow_table_insert(t, &a, NULL, NULL);
	touch(f, 100);
	touch(f, 200);
	touch(f, 900);
	cr_assert_eq(qp_flow_table_expire(t, 950, 10000, 1000, 1000, sink_fn, &s), 0);
	cr_assert_eq(qp_flow_table_expire(t, 1100, 10000, 1000, 1000, sink_fn, &s), 1);
	cr_assert_eq(s.why[0], QP_FLOW_END_ACTIVE);
	cr_assert_eq(s.pkts[0], 3);
	cr_assert_eq(qp_flow_table_lookup(t, &a.key, a.hash), f, "the flow goes on");
	cr_assert_eq(f->pkts[0], 0);
	cr_assert_eq(f->first_ns, 0);
	qp_flow_table_destroy(t);
}

Test(flow_table, full_table_evicts_the_longest_idle)
{
	struct qp_flow_table *t = qp_flow_table_create(4, 0);
	struct sink s = {0};
	for (uint32_t i = 0; i < 4; i++) {
		struct qp_pkt p = pkt(i, 0);
		touch(qp_flow_table_insert(t, &p, sink_fn, &s), i == 2 ? 10 : 100 + i);
	}
	cr_assert_eq(s.n, 0);
	struct qp_pkt p = pkt(9, 0);
	struct qp_flow *f = qp_flow_table_insert(t, &p, sink_fn, &s);
	cr_assert_not_null(f);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.why[0], QP_FLOW_END_EVICTED);
	cr_assert_eq(s.port[0], 1002, "flow 2 was idle longest");
	cr_assert_eq(qp_flow_table_count(t), 4);
	struct qp_flow_table_stats st;
	qp_flow_table_stats(t, &st);
	cr_assert_eq(st.evicted, 1);
	cr_assert_eq(st.table_full, 0);
	qp_flow_table_destroy(t);
}

Test(flow_table, flush_exports_everything_with_packets)
{
	struct qp_flow_table *t = qp_flow_table_create(100, 0);
	struct sink s = {0};
	for (uint32_t i = 0; i < 10; i++) {
		struct qp_pkt p = pkt(i, 0);
		struct qp_flow *f = qp_flow_table_insert(t, &p, NULL, NULL);
		if (i < 7)
			touch(f, 1 + i);
	}
	qp_flow_table_flush(t, sink_fn, &s);
	cr_assert_eq(s.n, 7, "flows without a packet are not reported");
	cr_assert_eq(qp_flow_table_count(t), 0);
	for (int i = 0; i < 7; i++)
		cr_assert_eq(s.why[i], QP_FLOW_END_FLUSH);
	qp_flow_table_destroy(t);
}

Test(flow_table, bad_sizes_are_refused)
{
	cr_assert_null(qp_flow_table_create(0, 0));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(qp_flow_table_create((1u << 26) + 1, 0));
	cr_assert_eq(errno, EINVAL);
	qp_flow_table_destroy(NULL);
}

/*
 * RCU: a reader holds an entry inside its read-side section while the
 * writer expires and reinserts flows as fast as it can. If an entry were
 * reused before the grace period, the reader would see its key change.
 */
#define CHURN_FLOWS 64
static struct qp_flow_table *shared_t;
static int stop_reader;
static long reader_checks, reader_torn;

static void *reader(void *arg)
{
	(void)arg;
	rcu_register_thread();
	while (!CMM_LOAD_SHARED(stop_reader)) {
		rcu_read_lock();
		const struct qp_flow_table_hdr *h = qp_flow_table_hdr(shared_t);
		for (uint32_t b = 0; b <= h->mask; b++) {
			uint32_t r = rcu_dereference(h->buckets[b]);
			if (!r)
				continue;
			struct qp_flow *f = &h->pool[r - 1];
			struct qp_flow_key k = f->key;
			for (volatile int spin = 0; spin < 2000; spin++)
				;
			if (memcmp(&k, &f->key, sizeof(k)) != 0)
				reader_torn++;
			reader_checks++;
		}
		rcu_read_unlock();
		rcu_quiescent_state();
	}
	rcu_unregister_thread();
	return NULL;
}

Test(flow_table, entries_are_reused_only_after_a_grace_period, .timeout = 120)
{
	rcu_register_thread();
	shared_t = qp_flow_table_create(CHURN_FLOWS, 1);
	cr_assert_not_null(shared_t);
	pthread_t th;
	pthread_create(&th, NULL, reader, NULL);
	uint64_t now = 1;
	uint32_t inserted = 0;
	uint32_t round;
	/* churn until the reader has looked at enough entries (bounded) */
	for (round = 0; round < 3000 || (CMM_LOAD_SHARED(reader_checks) < 2000 && round < 2000000);
	     round++) {
		for (uint32_t i = 0; i < CHURN_FLOWS; i++) {
			struct qp_pkt p = pkt((round * CHURN_FLOWS + i) % 60000, 0);
			struct qp_flow *f = qp_flow_table_insert(shared_t, &p, NULL, NULL);
			if (f) {
				touch(f, now);
				inserted++;
			}
		}
		now += 10;
		qp_flow_table_expire(shared_t, now, 5, 0, CHURN_FLOWS, NULL, NULL);
		rcu_quiescent_state();
	}
	CMM_STORE_SHARED(stop_reader, 1);
	rcu_thread_offline();
	pthread_join(th, NULL);
	struct qp_flow_table_stats st;
	qp_flow_table_stats(shared_t, &st);
	cr_assert_eq(reader_torn, 0, "a reader saw an entry reused under it (%ld of %ld)",
		     reader_torn, reader_checks);
	cr_assert_gt(reader_checks, 0);
	cr_assert_eq(st.created, inserted);
	cr_assert_eq(st.created + st.table_full, (uint64_t)round * CHURN_FLOWS);
	/* once the grace periods are over, every entry is back in the pool */
	qp_flow_table_flush(shared_t, NULL, NULL);
	rcu_barrier();
	for (uint32_t i = 0; i < CHURN_FLOWS + CHURN_FLOWS / 8; i++) {
		struct qp_pkt p = pkt(60000 + i, 0);
		if (i < CHURN_FLOWS)
			cr_assert_not_null(qp_flow_table_insert(shared_t, &p, NULL, NULL), "entry %u", i);
	}
	struct qp_flow_table_stats st2;
	qp_flow_table_stats(shared_t, &st2);
	cr_assert_eq(st2.table_full, st.table_full);
	cr_assert_eq(qp_flow_table_count(shared_t), CHURN_FLOWS);
	qp_flow_table_destroy(shared_t);
	rcu_unregister_thread();
}

Test(flow_table, rtt_distributions_come_from_a_bounded_pool)
{
	struct qp_flow_table *t = qp_flow_table_create(4, 0);
	cr_assert_eq(qp_flow_table_set_hists(t, 1), 0);
	struct qp_pkt a = pkt(1, 0), b = pkt(2, 0);
	struct qp_flow *fa = qp_flow_table_insert(t, &a, NULL, NULL);
	struct qp_flow *fb = qp_flow_table_insert(t, &b, NULL, NULL);
	touch(fa, 10);
	touch(fb, 10);
	struct qp_hist_counts *h = qp_flow_table_hist(t, fa);
	cr_assert_not_null(h);
	for (int k = 0; k < 3; k++)
		qp_hist_counts_add(&h[0], 5);
	cr_assert_eq(qp_hist_counts_get(&h[0], 5), 3);
	cr_assert_eq(qp_flow_table_hist(t, fa), h, "the same flow keeps its distribution");
	cr_assert_null(qp_flow_table_hist(t, fb));
	cr_assert_null(qp_flow_table_hist(t, fb));
	struct qp_flow_table_stats st;
	qp_flow_table_stats(t, &st);
	cr_assert_eq(st.hist_full, 1, "counted once per flow");
	/* flow a ends; the entry comes back for a new flow with a clean distribution */
	qp_flow_table_expire(t, 1000, 100, 0, 64, NULL, NULL);
	struct qp_pkt c = pkt(3, 0);
	struct qp_flow *fc = qp_flow_table_insert(t, &c, NULL, NULL);
	struct qp_flow *fd = NULL;
	if (fc != fa) { /* the free pool is FIFO: take entries until a's comes back */
		for (uint32_t i = 4; i < 8 && fc != fa; i++) {
			struct qp_pkt p = pkt(i, 0);
			fd = qp_flow_table_insert(t, &p, NULL, NULL);
			if (fd == fa)
				fc = fd;
		}
	}
	cr_assert_eq(fc, fa, "entry of flow a reused");
	struct qp_hist_counts *h2 = qp_flow_table_hist(t, fc);
	cr_assert_eq(h2, h);
	cr_assert_eq(qp_hist_counts_get(&h2[0], 5), 0, "the previous flow's counts are gone");
	qp_flow_table_destroy(t);
}

static void offer(struct qp_flow *f, void *arg)
{
	qp_top_offer(arg, f);
}

/*
 * The largest flows a walk finds (qp_top.h): a pass in steps of a few
 * buckets, published at its end largest first, each flow once; the next
 * pass starts empty and sees the flows as they are then.
 */
Test(flow_table, the_walk_keeps_the_largest_flows_of_each_pass)
{
	struct qp_flow_table *t = qp_flow_table_create(64, 0);
	struct qp_top *top = malloc(sizeof(*top));
	struct qp_rtp_cfg rtp = {.dynamic_clock_hz = 8000};
	qp_top_init(top, &rtp);
	/* flow i: i packets of 100 bytes */
	for (uint32_t i = 1; i <= 40; i++) {
		struct qp_pkt p = pkt(i, 0);
		struct qp_flow *f = qp_flow_table_insert(t, &p, NULL, NULL);
		for (uint32_t k = 0; k < i; k++)
			touch(f, 1000);
		f->bytes[0] = 100ull * i;
	}
	struct qp_flow_rec r[QP_TOP_FLOWS];
	uint64_t at;
	cr_assert_eq(qp_top_read(top, r, &at), 0, "nothing before a pass ends");
	int wrapped = 0, steps = 0;
	while (!wrapped) {
		qp_flow_table_expire_visit(t, 2000, 1000000, 0, 5, NULL, NULL, offer, top, &wrapped);
		steps++;
	}
	cr_assert_eq(steps, 64 / 5 + 1, "five buckets a step, the last step stops at the end");
	qp_top_publish(top, 2000);
	cr_assert_eq(qp_top_read(top, r, &at), QP_TOP_FLOWS);
	cr_assert_eq(at, 2000);
	for (int k = 0; k < QP_TOP_FLOWS; k++) {
		cr_assert_eq(r[k].key.port[0], 1000 + 40 - k, "place %d", k);
		cr_assert_eq(r[k].bytes[0], 100ull * (40 - k));
		cr_assert_eq(r[k].pkts[0], 40u - k);
	}
	/* flow 3 grows past every other; the next pass has it first */
	struct qp_pkt p3 = pkt(3, 0);
	qp_flow_table_lookup(t, &p3.key, p3.hash)->bytes[0] = 1000000;
	for (wrapped = 0; !wrapped;)
		qp_flow_table_expire_visit(t, 3000, 1000000, 0, 64, NULL, NULL, offer, top, &wrapped);
	qp_top_publish(top, 3000);
	cr_assert_eq(qp_top_read(top, r, &at), QP_TOP_FLOWS);
	cr_assert_eq(r[0].key.port[0], 1003);
	cr_assert_eq(r[1].key.port[0], 1040);
	cr_assert_eq(r[9].key.port[0], 1032);
	free(top);
	qp_flow_table_destroy(t);
}

static void count_visit(struct qp_flow *f, void *arg)
{
	(void)f;
	(*(uint32_t *)arg)++;
}

static void count_export(const struct qp_flow *f, enum qp_flow_end why, void *arg)
{
	(void)f;
	(void)why;
	(*(uint32_t *)arg)++;
}

/*
 * A walk over a large table of few flows (empty buckets passed eight at a
 * time) takes the steps a bucket at a time would: a pass of B buckets in
 * steps of S ends at its ceil(B / S)th step, meets every flow once, and an
 * expiry pass ends every flow once.
 */
Test(flow_table, a_walk_over_empty_buckets_takes_the_same_steps)
{
	struct qp_flow_table *t = qp_flow_table_create(1u << 16, 0);
	for (uint32_t i = 1; i <= 50; i++) {
		struct qp_pkt p = pkt(i * 97, 0);
		touch(qp_flow_table_insert(t, &p, NULL, NULL), 1000);
	}
	uint32_t nb = qp_flow_table_buckets(t);
	cr_assert_geq(nb, 1u << 16);
	static const uint32_t step[] = {13, 1000, 8, 7};
	for (size_t k = 0; k < sizeof(step) / sizeof(step[0]); k++) {
		uint32_t visits = 0, steps = 0;
		for (int wrapped = 0; !wrapped && steps <= nb; steps++) /* bounded: a pass that never ends fails */
			qp_flow_table_expire_visit(t, 2000, 1000000, 0, step[k], NULL, NULL, count_visit,
						   &visits, &wrapped);
		cr_assert_eq(steps, (nb + step[k] - 1) / step[k], "steps of %u", step[k]);
		cr_assert_eq(visits, 50, "steps of %u", step[k]);
	}
	uint32_t ended = 0, steps = 0;
	for (int wrapped = 0; !wrapped && steps <= nb; steps++)
		qp_flow_table_expire_visit(t, 5000000, 1000, 0, 13, count_export, &ended, NULL, NULL,
					   &wrapped);
	cr_assert_eq(steps, (nb + 12) / 13);
	cr_assert_eq(ended, 50);
	cr_assert_eq(qp_flow_table_count(t), 0);
	/* and a flush meets every flow of a table as sparse */
	for (uint32_t i = 1; i <= 30; i++) {
		struct qp_pkt p = pkt(i * 101, 0);
		touch(qp_flow_table_insert(t, &p, NULL, NULL), 1000);
	}
	ended = 0;
	qp_flow_table_flush(t, count_export, &ended);
	cr_assert_eq(ended, 30);
	cr_assert_eq(qp_flow_table_count(t), 0);
	qp_flow_table_destroy(t);
}

/* Record, per walk call, the ports of the flows it ends. */
struct ends {
	int call;
	int n;
	int at[64];
	uint16_t port[64];
};

static void end_at(const struct qp_flow *f, enum qp_flow_end why, void *arg)
{
	struct ends *e = arg;
	cr_assert_eq(why, QP_FLOW_END_IDLE);
	if (e->n < 64) {
		e->at[e->n] = e->call;
		e->port[e->n] = f->key.port[0];
	}
	e->n++;
}

/*
 * A walk skipped while no flow can have timed out moves on as the walk
 * would: two tables of the same flows, one walked and one skipped for the
 * same calls, then both walked once the flows are idle, end the same flows
 * at the same calls (steps of 7, 8 and 1000 buckets, a pass of 2^12).
 */
Test(flow_table, a_skipped_walk_keeps_the_walks_place)
{
	static const uint32_t step[] = {7, 8, 1000};
	for (size_t k = 0; k < sizeof(step) / sizeof(step[0]); k++) {
		struct qp_flow_table *t[2];
		struct ends e[2];
		memset(e, 0, sizeof(e));
		for (int j = 0; j < 2; j++) {
			t[j] = qp_flow_table_create(1u << 12, 0);
			for (uint32_t i = 1; i <= 40; i++) {
				struct qp_pkt p = pkt(i * 53, 0);
				touch(qp_flow_table_insert(t[j], &p, NULL, NULL), 1000 + i);
			}
		}
		/* 101 calls before the idle timeout (10,000) has passed */
		for (int c = 0; c < 101; c++) {
			cr_assert_eq(qp_flow_table_expire(t[0], 2000, 10000, 0, step[k], end_at, &e[0]), 0);
			qp_flow_table_expire_skip(t[1], step[k]);
		}
		/* then the walks that end them, a call at a time */
		for (int c = 0; c < 700; c++)
			for (int j = 0; j < 2; j++) {
				e[j].call = c;
				qp_flow_table_expire(t[j], 20000, 10000, 0, step[k], end_at, &e[j]);
			}
		cr_assert_eq(e[0].n, 40, "steps of %u", step[k]);
		cr_assert_eq(e[1].n, 40, "steps of %u", step[k]);
		for (int i = 0; i < 40; i++) {
			cr_assert_eq(e[1].at[i], e[0].at[i], "steps of %u, flow %d", step[k], i);
			cr_assert_eq(e[1].port[i], e[0].port[i], "steps of %u, flow %d", step[k], i);
		}
		qp_flow_table_destroy(t[0]);
		qp_flow_table_destroy(t[1]);
	}
}
