/*
 * Measurements sharing one flow table (qp_group_dp): each member's figures
 * must be the ones it has alone. The same generated traffic (TCP with
 * handshakes, retransmissions and resets, RTP, plain UDP, ICMP echo, IPv6,
 * VLAN tags, VXLAN, non-IP and cut frames, idle gaps) goes through a group
 * of measurements with different filters, intervals and lifetimes, and
 * through one table per measurement (qp_worker_process); counters, every
 * interval slot, every live flow and every exported record are compared.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>

#include "../gen/qp_pcapw.h"
#include "qp_filter.h"
#include "qp_group_dp.h"
#include "qp_worker_dp.h"

#define MS 1000000ULL
#define T0 1700000000000000000ULL
#define BURST 32
#define NBURSTS 320
#define NFRAMES (BURST * NBURSTS)
#define NFLOWS 300
#define NMEMB 7
#define NREC 20000

static void eal_up(void)
{
	static int up;
	if (up)
		return;
	char *argv[] = {"test_group_dp", "--no-huge", "-m", "64", "--no-shconf", "--no-pci",
			"--log-level=error", "--no-telemetry", NULL};
	cr_assert_geq(rte_eal_init(8, argv), 0, "DPDK's EAL for the filters");
	up = 1;
}

/* ---- the traffic ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

struct gflow {
	int stage;
	uint32_t seq[2];
	uint16_t rtp_seq;
	uint32_t rtp_ts;
	uint16_t icmp_seq;
	uint32_t last_len[2];
};

static struct pb *frames; /* NFRAMES of them */
static struct qp_frame fr[NFRAMES];

static void inner_of(struct pb *b, int i, struct gflow *g, int *dir)
{
	char cli[32], srv[32];
	int v6 = i % 6 == 5;
	snprintf(cli, sizeof(cli), v6 ? "2001:db8::%x" : "10.0.0.%d", 1 + i % 20);
	snprintf(srv, sizeof(srv), v6 ? "2001:db8:1::%x" : "10.1.0.%d", 1 + i % 5);
	uint16_t cp = (uint16_t)(10000 + i);
	int kind = i % 6;
	*dir = 0;
	if (kind == 0 || kind == 1 || kind == 5) {
		uint16_t sp = kind == 1 ? 443 : 80;
		uint8_t fl;
		uint32_t len = 0;
		int d;
		if (g->stage == 0) {
			fl = 0x02, d = 0;
			g->seq[0] = 1000u * (uint32_t)i;
			g->seq[1] = 7000u * (uint32_t)i;
		} else if (g->stage == 1) {
			fl = 0x12, d = 1;
		} else if (g->stage == 2) {
			fl = 0x10, d = 0;
		} else if (rnd(50) == 0) {
			fl = 0x04, d = (int)rnd(2);
			g->stage = -1;
		} else {
			fl = 0x18, d = (int)rnd(2);
			len = 100 + rnd(1200);
			if (rnd(20) == 0 && g->last_len[d]) { /* a retransmission */
				g->seq[d] -= g->last_len[d];
				len = g->last_len[d];
			}
		}
		uint32_t seq = g->seq[d], ack = g->seq[!d] + (g->stage >= 1 ? 1 : 0);
		if (g->stage == 0 || g->stage == 1)
			g->seq[d]++;
		g->seq[d] += len;
		g->last_len[d] = len;
		g->stage++;
		if (len)
			pb_payload(b, len);
		if (d == 0)
			pb_push_tcp(b, cp, sp, seq, ack, fl, 1000);
		else
			pb_push_tcp(b, sp, cp, seq, ack, fl, 1000);
		*dir = d;
	} else if (kind == 2) {
		uint8_t h[12] = {0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, (uint8_t)i};
		g->rtp_seq = (uint16_t)(g->rtp_seq + 1 + (rnd(30) == 0));
		g->rtp_ts += 160;
		h[2] = (uint8_t)(g->rtp_seq >> 8), h[3] = (uint8_t)g->rtp_seq;
		h[4] = (uint8_t)(g->rtp_ts >> 24), h[5] = (uint8_t)(g->rtp_ts >> 16);
		h[6] = (uint8_t)(g->rtp_ts >> 8), h[7] = (uint8_t)g->rtp_ts;
		pb_payload(b, 160);
		pb_push_raw(b, h, 12);
		pb_push_udp(b, cp, 5004);
	} else if (kind == 3) {
		*dir = (int)rnd(2);
		pb_payload(b, 20 + rnd(300));
		if (*dir)
			pb_push_udp(b, 53, cp);
		else
			pb_push_udp(b, cp, 53);
	} else {
		*dir = g->icmp_seq & 1;
		pb_push_icmp(b, *dir ? 0 : 8, (uint16_t)i, (uint16_t)(g->icmp_seq++ / 2));
	}
	if (v6) {
		if (*dir)
			pb_push_ip6(b, srv, cli);
		else
			pb_push_ip6(b, cli, srv);
	} else {
		if (*dir)
			pb_push_ip4(b, srv, cli, 1, 0);
		else
			pb_push_ip4(b, cli, srv, 1, 0);
	}
}

/* 1: the frames of a burst share its first one's time, as a port's do */
static int burst_time;

static void make_traffic(void)
{
	static struct gflow g[NFLOWS];
	memset(g, 0, sizeof(g));
	frames = calloc(NFRAMES, sizeof(*frames));
	cr_assert_not_null(frames);
	uint64_t ts = T0;
	for (int k = 0; k < NFRAMES; k++) {
		struct pb *b = &frames[k];
		pb_init(b);
		ts += rnd(2 * MS);
		if (k % 1500 == 1499)
			ts += 2500 * MS; /* past the idle timeout */
		uint32_t cut = 0;
		int r = (int)rnd(100);
		if (r == 0) { /* not IP: an ARP-sized frame */
			uint8_t arp[28] = {0, 1, 8, 0, 6, 4, 0, 1};
			pb_push_raw(b, arp, sizeof(arp));
			b->next_type = 0x0806;
			pb_push_eth(b);
		} else {
			int i = (int)rnd(NFLOWS), dir;
			inner_of(b, i, &g[i], &dir);
			if (i % 11 == 0) { /* in a VXLAN tunnel: not a plain frame */
				pb_push_eth(b);
				pb_push_vxlan(b, 77);
				pb_push_udp(b, 40000, 4789);
				pb_push_ip4(b, "192.0.2.1", "192.0.2.2", 1, 0);
			} else if (i % 7 == 0) {
				pb_push_vlan(b, 0x8100, 10);
			} else if (i % 7 == 1) {
				pb_push_vlan(b, 0x8100, 20);
			}
			pb_push_eth(b);
			if (r == 1)
				cut = 20; /* cut inside the IP header: a parse error */
		}
		uint32_t len = pb_len(b);
		uint64_t t = ts;
		if (burst_time)
			t = k % BURST ? fr[k - 1].ts_ns : ts;
		else if (k % 997 == 996)
			t = ts - 5 * MS; /* a step back in time */
		fr[k] = (struct qp_frame){pb_data(b), cut ? cut : len, len, t};
	}
}

/* ---- the members ---- */

struct memb {
	const char *filter;
	uint64_t interval_ns;
	int join_burst, leave_burst; /* leave: NBURSTS = stays to the end */
	unsigned int slot;
};

static const struct memb M[NMEMB] = {
	{"", 1000 * MS, 0, NBURSTS, 0},
	{"host 10.0.0.3 or host 10.0.0.4 or host 2001:db8::5", 500 * MS, 0, 150, 1},
	{"not host 10.0.0.5", 2000 * MS, 0, NBURSTS, 2},
	{"tcp[13] & 2 != 0 or udp", 1000 * MS, 0, NBURSTS, 3}, /* per frame: splits flows */
	{"port 5004 or vlan 10", 1000 * MS, 90, NBURSTS, 4},
	{"greater 300", 700 * MS, 190, NBURSTS, 1}, /* takes the slot the second left */
	{"ip6 or icmp", 1000 * MS, 230, NBURSTS, 5},
};

static struct qp_measure_cfg cfg[NMEMB];
static struct qp_worker *alone[NMEMB], *shared[NMEMB];

struct rec {
	struct qp_flow f;
	struct qp_flow_cold c; /* zeros when none is attached */
	int why;
	uint32_t counts[2][QP_HIST_BUCKETS];
};
static struct rec *recs[2][NMEMB]; /* [0] alone, [1] shared */
static int nrecs[2][NMEMB];

/* A flow as compared: what a table of its own and a shared one must agree on. */
static void normal(struct rec *r, const struct qp_flow *f)
{
	memcpy(&r->f, f, sizeof(r->f));
	r->f.next = 0;
	r->f.epoch = r->f.members = r->f.pass = 0;
	r->f.more = 0;
	r->f.cold = NULL;
	memcpy(&r->c, qp_flow_cold_of(f), sizeof(r->c));
	if (f->key.proto == 17) { /* the table's own: its incarnation, its worker's slots */
		r->c.inc = 0;
		memset(r->c.iv_idx, 0, sizeof(r->c.iv_idx));
		r->c.iv_num = 0;
		r->c.iv_acc = NULL;
	}
	r->c.hist = NULL;
}

static void keep(const struct qp_flow *f, enum qp_flow_end why, void *arg)
{
	int *who = arg; /* [0] path, [1] member */
	int *n = &nrecs[who[0]][who[1]];
	cr_assert_lt(*n, NREC);
	struct rec *r = &recs[who[0]][who[1]][(*n)++];
	normal(r, f);
	r->why = why;
	memset(r->counts, 0, sizeof(r->counts));
	const struct qp_flow_cold *c = qp_flow_cold_of(f);
	if (c->hist && f->hist_live == 1)
		for (int d = 0; d < 2; d++)
			for (uint32_t i = 0; i < QP_HIST_BUCKETS; i++)
				r->counts[d][i] = qp_hist_counts_get(&c->hist[d], i);
}

static int who[2][NMEMB][2];

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	int c = memcmp(&x->f.key, &y->f.key, sizeof(x->f.key));
	if (c)
		return c;
	if (x->f.first_ns != y->f.first_ns)
		return x->f.first_ns < y->f.first_ns ? -1 : 1;
	return x->why - y->why;
}

/* Every record of member k, both ways, sorted. */
static void same_records(int k)
{
	cr_assert_eq(nrecs[1][k], nrecs[0][k], "member %d: %d records shared, %d alone", k,
		     nrecs[1][k], nrecs[0][k]);
	qsort(recs[0][k], (size_t)nrecs[0][k], sizeof(struct rec), rec_cmp);
	qsort(recs[1][k], (size_t)nrecs[1][k], sizeof(struct rec), rec_cmp);
	for (int i = 0; i < nrecs[0][k]; i++)
		cr_assert(memcmp(&recs[0][k][i], &recs[1][k][i], sizeof(struct rec)) == 0,
			  "member %d ('%s'): record %d of %d differs (%llu packets alone, %llu shared)",
			  k, M[k].filter, i, nrecs[0][k],
			  (unsigned long long)(recs[0][k][i].f.pkts[0] + recs[0][k][i].f.pkts[1]),
			  (unsigned long long)(recs[1][k][i].f.pkts[0] + recs[1][k][i].f.pkts[1]));
}

/* The live flows of a member (the management core's walk). */
static struct rec *live;
static int nlive;
static void take_live(const struct qp_flow *f, void *arg)
{
	(void)arg;
	cr_assert_lt(nlive, NREC);
	struct rec *r = &live[nlive++];
	normal(r, f);
	r->why = 0;
	memset(r->counts, 0, sizeof(r->counts));
}

static void same_live(int k)
{
	static struct rec a[NREC];
	live = a;
	nlive = 0;
	qp_worker_flows_foreach(alone[k], take_live, NULL);
	int na = nlive;
	live = recs[1][k] + nrecs[1][k]; /* spare room past the records */
	cr_assert_lt(nrecs[1][k] + na, NREC);
	struct rec *b = live;
	nlive = 0;
	qp_worker_flows_foreach(shared[k], take_live, NULL);
	cr_assert_eq(nlive, na, "member %d: %d live flows shared, %d alone", k, nlive, na);
	cr_assert_eq(qp_worker_flow_count(shared[k]), qp_worker_flow_count(alone[k]),
		     "member %d: flow count", k);
	qsort(a, (size_t)na, sizeof(struct rec), rec_cmp);
	qsort(b, (size_t)na, sizeof(struct rec), rec_cmp);
	for (int i = 0; i < na; i++)
		cr_assert(memcmp(&a[i].f, &b[i].f, sizeof(a[i].f)) == 0 &&
				  memcmp(&a[i].c, &b[i].c, sizeof(a[i].c)) == 0,
			  "member %d: live flow %d of %d differs", k, i, na);
}

static void same_counters(int k)
{
	const struct qp_worker_counters *a = &alone[k]->cnt, *b = &shared[k]->cnt;
#define SAME_(name, help) \
	cr_assert_eq(b->name, a->name, "member %d ('%s'): " #name " %llu shared, %llu alone", k, \
		     M[k].filter, (unsigned long long)b->name, (unsigned long long)a->name);
	QP_WORKER_COUNTERS(SAME_)
#undef SAME_
	cr_assert(memcmp(a->perr, b->perr, sizeof(a->perr)) == 0, "member %d: parse errors", k);
	struct qp_flow_table_stats x, y;
	qp_worker_flow_stats(alone[k], &x);
	qp_worker_flow_stats(shared[k], &y);
	cr_assert_eq(y.created, x.created, "member %d: flows created %llu shared, %llu alone", k,
		     (unsigned long long)y.created, (unsigned long long)x.created);
	cr_assert_eq(y.expired_idle, x.expired_idle, "member %d: idle", k);
	cr_assert_eq(y.expired_active, x.expired_active, "member %d: active", k);
	cr_assert_eq(y.evicted, 0);
	cr_assert_eq(y.table_full, 0);
}

static void same_intervals(int k)
{
	static struct qp_interval_acc a, b;
	for (int s = 0; s < QP_IV_SLOTS; s++) {
		uint64_t iv = alone[k]->iv[s].iv;
		if (!alone[k]->have_iv)
			break;
		int ra = qp_worker_interval_read(alone[k], iv, &a);
		int rb = qp_worker_interval_read(shared[k], iv, &b);
		cr_assert_eq(rb, ra, "member %d interval %llu: read %d shared, %d alone", k,
			     (unsigned long long)iv, rb, ra);
		if (ra != QP_IV_READ)
			continue;
		cr_assert(memcmp(&a.pkts, &b.pkts,
				 offsetof(struct qp_interval_acc, rtp_known) -
					 offsetof(struct qp_interval_acc, pkts)) == 0,
			  "member %d interval %llu: totals differ (%llu+%llu packets alone, %llu+%llu "
			  "shared)",
			  k, (unsigned long long)iv, (unsigned long long)a.pkts[0],
			  (unsigned long long)a.pkts[1], (unsigned long long)b.pkts[0],
			  (unsigned long long)b.pkts[1]);
		cr_assert_eq(b.rtp_nstreams, a.rtp_nstreams, "member %d: RTP streams", k);
		cr_assert_eq(b.rtp_streams_over, a.rtp_streams_over);
		for (uint32_t i = 0; i < a.rtp_nstreams; i++) {
			a.rtp_streams[i].flow_inc = b.rtp_streams[i].flow_inc = 0;
			cr_assert(memcmp(&a.rtp_streams[i], &b.rtp_streams[i],
					 sizeof(a.rtp_streams[i])) == 0,
				  "member %d interval %llu: RTP stream %u differs", k,
				  (unsigned long long)iv, i);
		}
	}
}

/* The traffic through both paths; `parsed`: the group takes the lcore's parse. */
static void run_both(int parsed)
{
	eal_up();
	make_traffic();
	struct qp_group *g = qp_group_create(1 << 14, 4096, 0);
	cr_assert_not_null(g);
	static struct qp_parse_ctx pc;
	static struct qp_parsed pp;
	qp_parse_ctx_init(&pc);
	for (int k = 0; k < NMEMB; k++) {
		char err[256];
		cfg[k] = (struct qp_measure_cfg){.linktype = QP_LINK_ETHERNET,
						 .base_ns = T0,
						 .interval_ns = M[k].interval_ns,
						 .idle_ns = 2000 * MS,
						 .active_ns = 4000 * MS,
						 .flow_key = QP_FLOW_KEY_DEFAULT,
						 .rtp = {.dynamic_clock_hz = 8000}};
		if (M[k].filter[0]) {
			cfg[k].filter = qp_filter_compile(M[k].filter, QP_LINK_ETHERNET, err, sizeof(err));
			cr_assert_not_null(cfg[k].filter, "%s: %s", M[k].filter, err);
		}
		alone[k] = aligned_alloc(64, sizeof(struct qp_worker));
		shared[k] = aligned_alloc(64, sizeof(struct qp_worker));
		cr_assert_eq(qp_worker_init(alone[k], 0, 1 << 14, 0), 0);
		cr_assert_eq(qp_flow_table_set_hists(alone[k]->flows, 4096), 0);
		qp_worker_init_member(shared[k], 0, g, M[k].slot, (uint32_t)k + 1);
		for (int p = 0; p < 2; p++) {
			who[p][k][0] = p;
			who[p][k][1] = k;
			recs[p][k] = calloc(NREC, sizeof(struct rec));
			nrecs[p][k] = 0;
		}
		alone[k]->export_fn = shared[k]->export_fn = keep;
		alone[k]->export_arg = who[0][k];
		shared[k]->export_arg = who[1][k];
	}
	cr_assert_eq(qp_filter_flow_invariant(M[1].filter), 1);
	cr_assert_eq(qp_filter_flow_invariant(M[3].filter), 0);
	cr_assert_eq(qp_filter_flow_invariant(M[5].filter), 0);
	static struct qp_group_view v;
	for (int bn = 0; bn < NBURSTS; bn++) {
		const struct qp_frame *b = &fr[bn * BURST];
		for (int k = 0; k < NMEMB; k++)
			if (bn == M[k].leave_burst && M[k].leave_burst < NBURSTS) {
				/* the management core's view of a leaving member, then
				 * its records and counters as they stand */
				same_counters(k);
				same_intervals(k);
				same_live(k);
			}
		memset(&v, 0, sizeof(v));
		v.cfg = &cfg[0];
		for (int k = 0; k < NMEMB; k++)
			if (bn >= M[k].join_burst && bn < M[k].leave_burst)
				v.m[v.n++] = (struct qp_group_member){M[k].slot, (uint32_t)k + 1, &cfg[k],
								      &shared[k]};
		cr_assert_eq(qp_group_view_build(&v), 0);
		for (int k = 0; k < NMEMB; k++)
			if (bn >= M[k].join_burst && bn < M[k].leave_burst)
				qp_worker_process(alone[k], &cfg[k], b, BURST);
		if (parsed) {
			qp_parse_burst(&pc, QP_LINK_ETHERNET, QP_FLOW_KEY_DEFAULT, b, BURST, &pp);
			qp_group_process(g, &v, 0, b, BURST, &pp);
		} else {
			qp_group_process(g, &v, 0, b, BURST, NULL);
		}
		if (bn % 8 == 7) {
			for (int k = 0; k < NMEMB; k++)
				if (bn >= M[k].join_burst && bn < M[k].leave_burst)
					qp_worker_expire(alone[k], &cfg[k], b[BURST - 1].ts_ns, 1 << 14);
			qp_group_expire(g, &v, 0, b[BURST - 1].ts_ns, 1 << 14);
		}
	}
	for (int k = 0; k < NMEMB; k++) {
		if (M[k].leave_burst < NBURSTS) {
			same_records(k);
			continue;
		}
		same_counters(k);
		same_intervals(k);
		same_live(k);
		qp_flow_table_flush(alone[k]->flows, keep, who[0][k]);
	}
	qp_group_flush(g, &v, 0);
	for (int k = 0; k < NMEMB; k++)
		if (M[k].leave_burst == NBURSTS)
			same_records(k);
	for (int k = 0; k < NMEMB; k++) {
		cr_log_info("'%s': %llu measured, %d records\n", M[k].filter,
			    (unsigned long long)alone[k]->cnt.measured, nrecs[0][k]);
		cr_assert_gt(alone[k]->cnt.measured, 100, "member %d measures traffic", k);
		qp_worker_fini(alone[k]);
		qp_worker_fini(shared[k]);
		qp_filter_free(cfg[k].filter);
		free(alone[k]);
		free(shared[k]);
		free(recs[0][k]);
		free(recs[1][k]);
	}
	struct qp_group *gs[1] = {g};
	qp_groups_fini(gs, 1);
	free(frames);
}

Test(group, each_member_has_its_figures_alone)
{
	run_both(0);
}

Test(group, each_member_has_its_figures_alone_from_the_lcores_parse)
{
	run_both(1);
}

Test(group, each_member_has_its_figures_alone_with_a_time_per_burst)
{
	burst_time = 1;
	run_both(1);
	burst_time = 0;
}

Test(group, flow_invariant_filters)
{
	static const struct {
		const char *expr;
		int inv;
	} cases[] = {
		{"", 1},
		{"host 10.0.0.1", 1},
		{"not host 192.0.2.7 and (tcp or udp)", 1},
		{"net 10.0.0.0/8 && !port 22", 1},
		{"net 10.0.0.0 mask 255.0.0.0 || portrange 5000-6000", 1},
		{"ip6 and host 2001:db8::1", 1},
		{"vlan 100 and ip proto 17", 1},
		{"src host 10.0.0.1", 0},         /* one direction of the flow */
		{"dst port 80", 0},
		{"tcp[13] & 2 != 0", 0},          /* a byte of each frame */
		{"greater 100", 0},
		{"ether host 02:00:00:00:00:01", 0},
		{"host example.com", 0},          /* a name: conservative */
		{"port http", 0},
		{"host 10.0.0.1 & port 80", 0},   /* a lone & is not an operator here */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_assert_eq(qp_filter_flow_invariant(cases[i].expr), cases[i].inv, "'%s'",
			     cases[i].expr);
}
