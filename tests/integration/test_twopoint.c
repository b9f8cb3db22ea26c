/*
 * Two-point offline: the test writes the same traffic as seen at two points
 * of a path, A (the primary's capture) and B (the secondary's), and keeps the
 * truth: every packet's delay (ns), which were lost, duplicated or held back,
 * an outage of 1.3 s in one flow. At the downstream point TTL is decremented,
 * the DSCP rewritten and the IPv4 checksum recomputed, as a router does; the
 * NAT variant also rewrites the client's address and port between A and B.
 *
 * build/qprobe --pcap A --peer-pcap B must give delay min/mean/max to 10 ns,
 * percentiles within the histogram's 1/128, loss, duplicate, reorder and
 * break counts exact, per direction, per flow and summed over intervals; at
 * 1/16 sampling the same packets on both sides and estimates within the
 * sampling error.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gen/qp_pcapw.h"
#include "qp_parse_dp.h"
#include "qp_run.h"
#include "qp_sig.h"

#define MS 1000000ULL
#define US 1000ULL
#define T0 1700000000000000000ULL
#define NFLOWS 24
#define DUR (3000 * MS)
#define OUT_FLOW 0 /* its fwd direction has an outage */
#define OUT_FROM (1000 * MS)
#define OUT_TO (2300 * MS)

/* one packet: sent at its upstream point, seen (or not) downstream */
struct pk {
	uint32_t flow, idx;
	uint8_t dir; /* 0: A -> B (fwd), 1: B -> A (rev) */
	uint8_t lost, dup, held;
	uint64_t t_up, t_down; /* t_down: first arrival */
	uint16_t ipid;
	uint32_t len;
	uint64_t sig_a, sig_b; /* signatures of the two copies (default cfg) */
	int sel;               /* selected at 1/16 */
	uint32_t sidx;         /* index among the packets the truth takes (send order) */
};

static struct pk *P;
static size_t nP, capP;

struct frame {
	uint64_t t;
	uint32_t len;
	uint8_t b[256];
};

static uint64_t rnd(unsigned int *seed, uint64_t lo, uint64_t hi)
{
	uint64_t r = ((uint64_t)rand_r(seed) << 31) ^ (uint64_t)rand_r(seed);
	return lo + r % (hi - lo);
}

static void client_addr(uint32_t f, int nat, char *buf, size_t n)
{
	snprintf(buf, n, nat ? "192.0.2.%u" : "10.1.0.%u", f + 1);
}

static int is_tcp(uint32_t f)
{
	return f >= 16;
}

/*
 * The frame of packet p as seen at point `at` (0 A, 1 B). The client side
 * (10.1.0.x) is behind A; the server (10.9.0.1) is beyond B. With nat, B sees
 * the client as 192.0.2.x and its port + 10000.
 */
static uint32_t build(const struct pk *p, int at, int nat, uint8_t *out)
{
	struct pb b;
	pb_init(&b);
	pb_payload(&b, p->len);
	uint8_t *pl = pb_data(&b);
	memcpy(pl, &p->idx, 4); /* each packet's payload differs */
	memcpy(pl + 4, &p->flow, 4);
	char cli[32];
	client_addr(p->flow, nat && at == 1, cli, sizeof(cli));
	uint16_t cport = (uint16_t)(20000 + p->flow + (nat && at == 1 ? 10000 : 0));
	const char *srv = "10.9.0.1";
	uint16_t sport = is_tcp(p->flow) ? 80 : 5004;
	int from_client = p->dir == 0;
	if (is_tcp(p->flow)) {
		uint32_t seq = 1000 + p->idx * 100, ack = 5000;
		if (from_client)
			pb_push_tcp(&b, cport, sport, seq, ack, 0x18, 500);
		else
			pb_push_tcp(&b, sport, cport, ack, seq, 0x10, 700);
	} else {
		if (from_client)
			pb_push_udp(&b, cport, sport);
		else
			pb_push_udp(&b, sport, cport);
	}
	if (from_client)
		pb_push_ip4(&b, cli, srv, p->ipid, 0x4000);
	else
		pb_push_ip4(&b, srv, cli, p->ipid, 0x4000);
	pb_push_eth(&b);
	uint32_t n = pb_len(&b);
	memcpy(out, pb_data(&b), n);
	int downstream = at != p->dir;
	if (downstream) {
		/* a router was passed: TTL - 1, DSCP set, header checksum redone */
		uint8_t *ip = out + 14;
		ip[8] = (uint8_t)(ip[8] - 1);
		ip[1] = 0xb8;
		ip[10] = ip[11] = 0;
		uint32_t s = 0;
		for (int i = 0; i < 20; i += 2)
			s += (uint32_t)ip[i] << 8 | ip[i + 1];
		while (s >> 16)
			s = (s & 0xffff) + (s >> 16);
		ip[10] = (uint8_t)(~s >> 8);
		ip[11] = (uint8_t)~s;
	}
	return n;
}

static int frame_cmp(const void *a, const void *b)
{
	const struct frame *x = a, *y = b;
	return x->t < y->t ? -1 : x->t > y->t;
}

static void add_frame(struct frame **F, size_t *n, size_t *cap, uint64_t t, const uint8_t *b,
		      uint32_t len)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 4096;
		*F = realloc(*F, *cap * sizeof(**F));
		cr_assert_not_null(*F);
	}
	(*F)[*n].t = t;
	(*F)[*n].len = len;
	memcpy((*F)[*n].b, b, len);
	(*n)++;
}

/* The packets, from a fixed seed. */
static void generate(void)
{
	unsigned int seed = 4242;
	nP = 0;
	for (uint32_t f = 0; f < NFLOWS; f++) {
		for (int dir = 0; dir < 2; dir++) {
			if (!is_tcp(f) && dir != (f >= 8)) /* UDP 0-7 fwd, 8-15 rev; TCP both */
				continue;
			uint64_t t = rnd(&seed, 0, 20 * MS);
			for (uint32_t i = 0; t < DUR; i++) {
				if (nP == capP) {
					capP = capP ? 2 * capP : 4096;
					P = realloc(P, capP * sizeof(*P));
					cr_assert_not_null(P);
				}
				struct pk *p = &P[nP++];
				memset(p, 0, sizeof(*p));
				p->flow = f;
				p->idx = i;
				p->dir = (uint8_t)dir;
				p->t_up = T0 + t;
				p->ipid = (uint16_t)(f * 2000 + dir * 1000 + i);
				p->len = 60 + (uint32_t)rnd(&seed, 0, 100);
				uint64_t delay = 5 * MS + rnd(&seed, 0, 4 * MS);
				int quiet = t > DUR - 200 * MS ||
					    (f == OUT_FLOW && t > OUT_FROM - 100 * MS && t < OUT_TO + 100 * MS);
				uint32_t r = (uint32_t)rnd(&seed, 0, 1000);
				if (f == OUT_FLOW && dir == 0 && t >= OUT_FROM && t < OUT_TO)
					p->lost = 1;
				else if (!quiet && r < 27)
					p->lost = 1;
				else if (!quiet && r < 52)
					p->held = 1, delay += 45 * MS;
				else if (!quiet && r < 71)
					p->dup = 1;
				p->t_down = p->t_up + delay;
				t += 15 * MS + rnd(&seed, 0, 10 * MS);
			}
		}
	}
}

/* Write A and B; fill the signatures of both copies. */
static void write_pair(const char *a_path, const char *b_path, int nat)
{
	struct frame *F[2] = {NULL, NULL};
	size_t n[2] = {0, 0}, cap[2] = {0, 0};
	struct qp_sig_cfg sc, s16;
	qp_sig_cfg_default(&sc);
	sc.nat = (uint8_t)nat;
	s16 = sc;
	char eb[128];
	cr_assert_eq(qp_sig_parse_rate(&s16, "1/16", eb, sizeof(eb)), 0);
	static struct qp_parse_ctx ctx;
	qp_parse_ctx_init(&ctx);
	for (size_t i = 0; i < nP; i++) {
		struct pk *p = &P[i];
		uint8_t b[256];
		for (int at = 0; at < 2; at++) {
			uint32_t len = build(p, at, nat, b);
			struct qp_pkt pk;
			cr_assert_eq(qp_parse(&ctx, QP_LINK_ETHERNET, b, len, &pk), QP_PARSE_FLOW);
			uint64_t sig;
			cr_assert_eq(qp_sig_of(&sc, &pk, &sig), 0);
			*(at ? &p->sig_b : &p->sig_a) = sig;
			int up = at == p->dir;
			if (up) {
				add_frame(&F[at], &n[at], &cap[at], p->t_up, b, len);
				p->sel = qp_sig_selected(&s16, sig);
			} else if (!p->lost) {
				add_frame(&F[at], &n[at], &cap[at], p->t_down, b, len);
				if (p->dup)
					add_frame(&F[at], &n[at], &cap[at], p->t_down + 50 * US, b, len);
			}
		}
	}
	const char *path[2] = {a_path, b_path};
	for (int at = 0; at < 2; at++) {
		qsort(F[at], n[at], sizeof(struct frame), frame_cmp);
		struct pw w;
		cr_assert_eq(pw_open(&w, path[at], 1, 1), 0);
		for (size_t i = 0; i < n[at]; i++)
			pw_write(&w, F[at][i].t, F[at][i].b, F[at][i].len, F[at][i].len);
		pw_close(&w);
		free(F[at]);
	}
}

/* ---- the truth, by the definitions, over the packets a mask selects ---- */

struct dtruth {
	uint64_t selected, matched, lost, dups, reordered, breaks, break_ns, ipdv_n;
	int64_t min, max, sum;
	uint64_t ipdv_sum;
	int64_t *owd, *ipdv;
	size_t n_owd, n_ipdv;
};

static int i64cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int arr_cmp(const void *a, const void *b)
{
	const struct pk *x = *(struct pk *const *)a, *y = *(struct pk *const *)b;
	return x->t_down < y->t_down ? -1 : x->t_down > y->t_down;
}

/* flow: -1 for all flows */
static void truth(struct dtruth *T, int dir, int flow, int sampled)
{
	memset(T, 0, sizeof(*T));
	T->owd = calloc(nP, sizeof(int64_t));
	T->ipdv = calloc(nP, sizeof(int64_t));
	struct pk **arr = calloc(nP, sizeof(*arr));
	for (uint32_t f = 0; f < NFLOWS; f++) {
		if (flow >= 0 && (uint32_t)flow != f)
			continue;
		size_t na = 0;
		uint32_t sidx = 0;
		for (size_t i = 0; i < nP; i++) { /* P is in send order within a flow direction */
			struct pk *p = &P[i];
			if (p->flow != f || p->dir != dir || (sampled && !p->sel))
				continue;
			p->sidx = sidx++;
			T->selected++;
			if (p->lost) {
				T->lost++;
				continue;
			}
			T->matched++;
			T->dups += p->dup;
			int64_t d = (int64_t)(p->t_down - p->t_up);
			if (T->matched == 1 || d < T->min)
				T->min = d;
			if (T->matched == 1 || d > T->max)
				T->max = d;
			T->sum += d;
			T->owd[T->n_owd++] = d;
			arr[na++] = p;
		}
		/* arrival order at the downstream point */
		qsort(arr, na, sizeof(*arr), arr_cmp);
		int64_t maxidx = -1;
		uint64_t prev_t = 0;
		for (size_t k = 0; k < na; k++) {
			struct pk *p = arr[k];
			int64_t d = (int64_t)(p->t_down - p->t_up);
			if (k) {
				int64_t pd = (int64_t)(arr[k - 1]->t_down - arr[k - 1]->t_up);
				T->ipdv[T->n_ipdv++] = d > pd ? d - pd : pd - d;
				T->ipdv_sum += (uint64_t)(d > pd ? d - pd : pd - d);
			}
			if ((int64_t)p->sidx < maxidx) {
				T->reordered++; /* RFC 4737: a later-sent packet came first */
			} else {
				/* a break: a long silence downstream over packets that were
				 * sent (and taken) but did not arrive */
				if (k && p->t_down - prev_t > 1000 * MS && (int64_t)p->sidx > maxidx + 1) {
					T->breaks++;
					T->break_ns += p->t_down - prev_t;
				}
				maxidx = p->sidx;
			}
			if (p->t_down > prev_t)
				prev_t = p->t_down;
		}
	}
	free(arr);
	qsort(T->owd, T->n_owd, sizeof(int64_t), i64cmp);
	qsort(T->ipdv, T->n_ipdv, sizeof(int64_t), i64cmp);
}

static void truth_free(struct dtruth *T)
{
	free(T->owd);
	free(T->ipdv);
}

static int64_t rank(const int64_t *v, size_t n, double q)
{
	size_t r = (size_t)ceil(q * (double)n);
	if (r < 1)
		r = 1;
	return v[r - 1];
}

static double num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	cr_assert(json_is_number(v), "'%s' missing or not a number", k);
	return json_number_value(v);
}

static void expect_ms(json_t *o, const char *k, int64_t ns, double tol_ns, const char *what)
{
	double got = num(o, k) * 1e6;
	cr_expect(fabs(got - (double)ns) <= tol_ns, "%s %s: %.1f ns, truth %lld ns", what, k, got,
		  (long long)ns);
}

/* every figure of one direction object against the truth */
static void check_dir(json_t *d, const struct dtruth *T, const char *what)
{
	cr_assert_not_null(d, "%s: no object", what);
	cr_expect_eq(num(d, "selected"), (double)T->selected, "%s selected %g, truth %llu", what,
		     num(d, "selected"), (unsigned long long)T->selected);
	cr_expect_eq(num(d, "matched"), (double)T->matched, "%s matched %g, truth %llu", what,
		     num(d, "matched"), (unsigned long long)T->matched);
	cr_expect_eq(num(d, "lost"), (double)T->lost, "%s lost %g, truth %llu", what, num(d, "lost"),
		     (unsigned long long)T->lost);
	cr_expect_eq(num(d, "duplicates"), (double)T->dups, "%s duplicates %g, truth %llu", what,
		     num(d, "duplicates"), (unsigned long long)T->dups);
	cr_expect_eq(num(d, "reordered"), (double)T->reordered, "%s reordered %g, truth %llu", what,
		     num(d, "reordered"), (unsigned long long)T->reordered);
	cr_expect_eq(num(d, "breaks"), (double)T->breaks, "%s breaks %g, truth %llu", what,
		     num(d, "breaks"), (unsigned long long)T->breaks);
	expect_ms(d, "break_ms", (int64_t)T->break_ns, 10, what);
	cr_expect_eq(num(d, "negative_delays"), 0, "%s negative delays", what);
	cr_expect_eq(num(d, "downstream_only"), 0, "%s downstream only", what);
	if (!T->matched)
		return;
	json_t *w = json_object_get(d, "owd_ms");
	expect_ms(w, "min", T->min, 10, what);
	expect_ms(w, "max", T->max, 10, what);
	expect_ms(w, "mean", T->sum / (int64_t)T->matched, 10, what);
	static const double q[3] = {0.5, 0.9, 0.99};
	static const char *qn[3] = {"p50", "p90", "p99"};
	for (int i = 0; i < 3; i++) {
		int64_t t = rank(T->owd, T->n_owd, q[i]);
		expect_ms(w, qn[i], t, (double)t / 128 + 1, what);
	}
	json_t *pdv = json_object_get(d, "pdv_ms");
	int64_t p99 = rank(T->owd, T->n_owd, 0.99);
	expect_ms(pdv, "p99", p99 - T->min, (double)p99 / 128 + 1, what);
	if (T->n_ipdv) {
		json_t *iv = json_object_get(d, "ipdv_ms");
		cr_expect_eq(num(iv, "samples"), (double)T->n_ipdv, "%s ipdv samples", what);
		expect_ms(iv, "mean_abs", (int64_t)(T->ipdv_sum / T->n_ipdv), 10, what);
		int64_t t = rank(T->ipdv, T->n_ipdv, 0.99);
		expect_ms(iv, "p99", t, (double)t / 128 + 1, what);
	}
}

static json_t *run_pair(const char *dir, const char *tag, int nat, const char *const *extra)
{
	char a[512], b[512], out[512];
	snprintf(a, sizeof(a), "%s/%s-a.pcap", dir, tag);
	snprintf(b, sizeof(b), "%s/%s-b.pcap", dir, tag);
	snprintf(out, sizeof(out), "%s/%s.json", dir, tag);
	write_pair(a, b, nat);
	char bin[512];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	char *argv[16] = {bin, "--pcap", a, "--peer-pcap", b, "--report-file", out};
	int n = 7;
	for (; extra && *extra; extra++)
		argv[n++] = (char *)*extra;
	argv[n] = NULL;
	struct qp_run_result r;
	qp_run(argv, NULL, 120, &r);
	cr_assert(r.exited && r.status == 0, "qprobe failed (%d): %s", r.status, r.err);
	json_t *rep = qp_json_load(out);
	cr_assert_not_null(rep);
	return rep;
}

static json_t *flow_of(json_t *rep, uint32_t f)
{
	char cli[32];
	client_addr(f, 0, cli, sizeof(cli));
	int cport = 20000 + (int)f, sport = is_tcp(f) ? 80 : 5004;
	json_t *fl = qp_find_flow(rep, cli, cport, "10.9.0.1", sport);
	if (!fl)
		fl = qp_find_flow(rep, "10.9.0.1", sport, cli, cport);
	cr_assert_not_null(fl, "flow %u not in the report", f);
	return json_object_get(fl, "two_point");
}

Test(twopoint, offline_pair_exact)
{
	generate();
	json_t *rep = run_pair(qp_tmpdir(), "plain", 0, NULL);
	json_t *tp = json_object_get(rep, "two_point");
	cr_assert_not_null(tp, "no two_point object");
	cr_expect_str_eq(json_string_value(json_object_get(tp, "role")), "primary");
	cr_expect_eq(num(tp, "loss_timer_ms"), 2000);
	cr_expect_eq(num(tp, "window_overflow"), 0);
	cr_expect_eq(num(tp, "unresolved"), 0);
	/* the signatures did not see TTL, DSCP or checksum */
	for (size_t i = 0; i < nP; i++)
		cr_assert_eq(P[i].sig_a, P[i].sig_b, "packet %zu: the two copies sign differently", i);

	struct dtruth T;
	const char *dn[2] = {"fwd", "rev"};
	for (int d = 0; d < 2; d++) {
		truth(&T, d, -1, 0);
		cr_assert_gt(T.lost, 30);
		cr_assert_gt(T.reordered, 20);
		cr_assert_gt(T.dups, 20);
		json_t *o = json_object_get(tp, dn[d]);
		check_dir(o, &T, dn[d]);
		/* the accuracy table of the closing note: truth | measured */
		json_t *w = json_object_get(o, "owd_ms"), *iv = json_object_get(o, "ipdv_ms");
		cr_log_info("%s | selected %llu | %g | matched %llu | %g | lost %llu | %g | duplicates %llu "
			    "| %g | reordered %llu | %g | breaks %llu | %g", dn[d],
			    (unsigned long long)T.selected, num(o, "selected"),
			    (unsigned long long)T.matched, num(o, "matched"), (unsigned long long)T.lost,
			    num(o, "lost"), (unsigned long long)T.dups, num(o, "duplicates"),
			    (unsigned long long)T.reordered, num(o, "reordered"),
			    (unsigned long long)T.breaks, num(o, "breaks"));
		cr_log_info("%s | owd min %.6f | %.6f | mean %.6f | %.6f | max %.6f | %.6f | p50 %.6f | %.6f "
			    "| p90 %.6f | %.6f | p99 %.6f | %.6f | ipdv mean_abs %.6f | %.6f | ipdv p99 %.6f | %.6f",
			    dn[d], T.min / 1e6, num(w, "min"), (double)(T.sum / (int64_t)T.matched) / 1e6,
			    num(w, "mean"), T.max / 1e6, num(w, "max"),
			    rank(T.owd, T.n_owd, 0.5) / 1e6, num(w, "p50"), rank(T.owd, T.n_owd, 0.9) / 1e6,
			    num(w, "p90"), rank(T.owd, T.n_owd, 0.99) / 1e6, num(w, "p99"),
			    (double)(T.ipdv_sum / T.n_ipdv) / 1e6, num(iv, "mean_abs"),
			    rank(T.ipdv, T.n_ipdv, 0.99) / 1e6, num(iv, "p99"));
		truth_free(&T);
	}
	/* per flow: the outage flow, a reverse UDP flow and a TCP flow both ways */
	static const int flows[] = {OUT_FLOW, 9, 17};
	for (size_t i = 0; i < sizeof(flows) / sizeof(flows[0]); i++) {
		json_t *ftp = flow_of(rep, (uint32_t)flows[i]);
		cr_assert_not_null(ftp, "flow %d has no two_point", flows[i]);
		for (int d = 0; d < 2; d++) {
			char what[64];
			snprintf(what, sizeof(what), "flow %d %s", flows[i], dn[d]);
			truth(&T, d, flows[i], 0);
			check_dir(json_object_get(ftp, dn[d]), &T, what);
			if (flows[i] == OUT_FLOW && d == 0)
				cr_expect_eq(T.breaks, 1);
			truth_free(&T);
		}
	}
	/* intervals add up to the totals */
	json_t *ivs = json_object_get(rep, "intervals"), *iv;
	size_t k;
	double sum[2][3] = {{0}};
	json_array_foreach(ivs, k, iv)
	{
		json_t *x = json_object_get(iv, "two_point");
		if (!x)
			continue;
		for (int d = 0; d < 2; d++) {
			json_t *o = json_object_get(x, dn[d]);
			sum[d][0] += num(o, "matched");
			sum[d][1] += num(o, "lost");
			sum[d][2] += num(o, "duplicates");
		}
	}
	for (int d = 0; d < 2; d++) {
		json_t *o = json_object_get(tp, dn[d]);
		cr_expect_eq(sum[d][0], num(o, "matched"), "%s: intervals' matched", dn[d]);
		cr_expect_eq(sum[d][1], num(o, "lost"), "%s: intervals' lost", dn[d]);
		cr_expect_eq(sum[d][2], num(o, "duplicates"), "%s: intervals' duplicates", dn[d]);
	}
	json_decref(rep);
}

Test(twopoint, nat_matches_only_with_nat_option)
{
	generate();
	const char *nat[] = {"--nat", NULL};
	json_t *rep = run_pair(qp_tmpdir(), "nat", 1, nat);
	json_t *tp = json_object_get(rep, "two_point");
	cr_assert_not_null(tp);
	struct dtruth T;
	const char *dn[2] = {"fwd", "rev"};
	for (int d = 0; d < 2; d++) {
		truth(&T, d, -1, 0);
		check_dir(json_object_get(tp, dn[d]), &T, dn[d]);
		truth_free(&T);
	}
	json_decref(rep);

	/* the same pair without --nat: addresses differ, nothing matches */
	char a[512], b[512], out[512], bin[512];
	const char *dir = qp_tmpdir();
	snprintf(a, sizeof(a), "%s/nat-a.pcap", dir);
	snprintf(b, sizeof(b), "%s/nat-b.pcap", dir);
	snprintf(out, sizeof(out), "%s/nonat.json", dir);
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	write_pair(a, b, 1);
	char *argv[] = {bin, "--pcap", a, "--peer-pcap", b, "--report-file", out, NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 120, &r);
	cr_assert(r.exited && r.status == 0, "%s", r.err);
	rep = qp_json_load(out);
	tp = json_object_get(rep, "two_point");
	cr_expect_eq(num(json_object_get(tp, "fwd"), "matched"), 0);
	cr_expect_eq(num(json_object_get(tp, "rev"), "matched"), 0);
	json_decref(rep);
}

Test(twopoint, sampled_one_in_16)
{
	generate();
	const char *s[] = {"--sample", "1/16", NULL};
	json_t *rep = run_pair(qp_tmpdir(), "s16", 0, s);
	json_t *tp = json_object_get(rep, "two_point");
	cr_assert_not_null(tp);
	const char *dn[2] = {"fwd", "rev"};
	size_t nsel = 0;
	for (size_t i = 0; i < nP; i++)
		nsel += (size_t)P[i].sel;
	/* 1/16 of the packets, within 4 standard deviations */
	double n = (double)nP, exp = n / 16, sd = sqrt(n * (1.0 / 16) * (15.0 / 16));
	cr_expect(fabs((double)nsel - exp) < 4 * sd, "%zu selected of %zu", nsel, nP);
	for (int d = 0; d < 2; d++) {
		struct dtruth T, A;
		truth(&T, d, -1, 1); /* exactly the selected packets */
		check_dir(json_object_get(tp, dn[d]), &T, dn[d]);
		/* the estimates against the unsampled truth */
		truth(&A, d, -1, 0);
		double p = (double)A.lost / (double)A.selected;
		double est = (double)T.lost / (double)T.selected;
		double se = sqrt(p * (1 - p) / (double)T.selected);
		cr_expect(fabs(est - p) < 4 * se, "%s loss %.4f, all packets %.4f (se %.4f)", dn[d], est,
			  p, se);
		double mean_all = (double)A.sum / (double)A.matched, var = 0;
		for (size_t i = 0; i < A.n_owd; i++)
			var += ((double)A.owd[i] - mean_all) * ((double)A.owd[i] - mean_all);
		double sdm = sqrt(var / (double)A.n_owd / (double)T.matched);
		double mean_s = num(json_object_get(json_object_get(tp, dn[d]), "owd_ms"), "mean") * 1e6;
		cr_expect(fabs(mean_s - mean_all) < 4 * sdm, "%s mean delay %.0f ns, all %.0f (se %.0f)",
			  dn[d], mean_s, mean_all, sdm);
		truth_free(&T);
		truth_free(&A);
	}
	json_decref(rep);
}
