/*
 * TCP RTT and retransmissions at scale: 400 interleaved flows generated from
 * a fixed seed, each with its own handshake halves, request/ACK and
 * response/ACK exchanges with random RTTs (nanosecond resolution) and
 * requests lost beyond the capture point and retransmitted after an RTO.
 * The generator keeps the truth; build/qprobe must give every flow's figures
 * to the nanosecond, every percentile within the histogram's bound (1/128),
 * and agree with tshark's tcp.analysis on the same file.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gen/qp_pcapw.h"
#include "qp_run.h"

#define MS 1000000ULL
#define US 1000ULL
#define T0 1700000000000000000ULL
#define NFLOWS 400
#define SRV "10.2.0.1"

struct ev {
	uint64_t t;
	uint32_t flow, seq, ack, len;
	uint8_t from_client, flags;
};

struct truth {
	uint64_t hs_far, hs_near;
	uint32_t retrans;
	uint64_t rto_sum; /* lost requests: first transmission -> ACK (Wireshark's ack_rtt) */
	uint64_t *s[2]; /* RTT samples of the packets sent fwd (client) and rev */
	uint32_t n[2];
};

static struct ev *E;
static size_t nE, capE;
static struct truth T[NFLOWS];

static void add(uint32_t f, int from_client, uint8_t flags, uint32_t seq, uint32_t ack,
		uint32_t len, uint64_t t)
{
	if (nE == capE) {
		capE = capE ? 2 * capE : 4096;
		E = realloc(E, capE * sizeof(*E));
		cr_assert_not_null(E);
	}
	E[nE++] = (struct ev){t, f, seq, ack, len, (uint8_t)from_client, flags};
}

static void sample(uint32_t f, int d, uint64_t v)
{
	T[f].s[d] = realloc(T[f].s[d], (T[f].n[d] + 1) * sizeof(uint64_t));
	T[f].s[d][T[f].n[d]++] = v;
}

/* uniform in [lo, hi) ns */
static uint64_t rnd(unsigned int *seed, uint64_t lo, uint64_t hi)
{
	uint64_t r = ((uint64_t)rand_r(seed) << 31) ^ (uint64_t)rand_r(seed);
	return lo + r % (hi - lo);
}

static void client_of(uint32_t f, char *buf, size_t n)
{
	snprintf(buf, n, "10.1.%u.%u", f / 200, f % 200 + 1);
}

static int ev_cmp(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->flow < y->flow ? -1 : x->flow > y->flow;
}

static void generate(const char *path)
{
	nE = 0;
	for (uint32_t f = 0; f < NFLOWS; f++) {
		struct truth *tr = &T[f];
		free(tr->s[0]);
		free(tr->s[1]);
		memset(tr, 0, sizeof(*tr));
		unsigned int seed = 20261122u + f;
		uint64_t t = T0 + f * (3 * MS + 700 * US) + rnd(&seed, 0, MS);
		uint32_t cs = (uint32_t)rand_r(&seed), ss = (uint32_t)rand_r(&seed);
		tr->hs_far = rnd(&seed, 1 * MS, 200 * MS);
		tr->hs_near = rnd(&seed, 50 * US, 5 * MS);
		add(f, 1, 0x02, cs, 0, 0, t);
		add(f, 0, 0x12, ss, cs + 1, 0, t += tr->hs_far);
		add(f, 1, 0x10, cs + 1, ss + 1, 0, t += tr->hs_near);
		sample(f, 0, tr->hs_far);  /* the SYN, answered by the SYN/ACK */
		sample(f, 1, tr->hs_near); /* the SYN/ACK, answered by the ACK */
		cs++;
		ss++;
		int exchanges = 10 + rand_r(&seed) % 30;
		for (int e = 0; e < exchanges; e++) {
			uint32_t len = 100 + (uint32_t)rand_r(&seed) % 1300;
			add(f, 1, 0x18, cs, ss, len, t += rnd(&seed, 20 * MS, 80 * MS));
			int lost = rand_r(&seed) % 8 == 0;
			uint64_t rto = 0;
			if (lost) { /* lost past the probe: resent after the RTO, no sample (Karn) */
				rto = rnd(&seed, 200 * MS, 250 * MS);
				add(f, 1, 0x18, cs, ss, len, t += rto);
				tr->retrans++;
			}
			uint64_t r = rnd(&seed, 500 * US, 150 * MS);
			add(f, 0, 0x10, ss, cs + len, 0, t += r);
			if (!lost)
				sample(f, 0, r);
			else
				tr->rto_sum += rto + r;
			cs += len;
			uint32_t resp = 200 + (uint32_t)rand_r(&seed) % 1200;
			add(f, 0, 0x18, ss, cs, resp, t += rnd(&seed, 100 * US, 5 * MS));
			ss += resp;
			uint64_t near = rnd(&seed, 30 * US, 3 * MS);
			add(f, 1, 0x10, cs, ss, 0, t += near);
			sample(f, 1, near);
		}
	}
	qsort(E, nE, sizeof(*E), ev_cmp);
	struct pw w;
	cr_assert_eq(pw_open(&w, path, 1, 1), 0);
	for (size_t i = 0; i < nE; i++) {
		const struct ev *e = &E[i];
		char c[32];
		client_of(e->flow, c, sizeof(c));
		uint16_t cp = (uint16_t)(40000 + e->flow);
		struct pb b;
		pb_init(&b);
		if (e->len)
			pb_payload(&b, e->len);
		if (e->from_client) {
			pb_push_tcp(&b, cp, 80, e->seq, e->ack, e->flags, 64000);
			pb_push_ip4(&b, c, SRV, 1, 0x4000);
		} else {
			pb_push_tcp(&b, 80, cp, e->seq, e->ack, e->flags, 64000);
			pb_push_ip4(&b, SRV, c, 1, 0x4000);
		}
		pb_push_eth(&b);
		pw_write(&w, e->t, pb_data(&b), pb_len(&b), pb_len(&b));
	}
	pw_close(&w);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* nearest rank: the smallest sample with at least q of the samples at or below it */
static uint64_t nearest_rank(uint64_t *v, size_t n, double q)
{
	qsort(v, n, sizeof(*v), u64_cmp);
	size_t rank = (size_t)ceil(q * (double)n);
	return v[rank ? rank - 1 : 0];
}

static int64_t ns_of(json_t *v)
{
	return (int64_t)llround(json_number_value(v) * 1e6);
}

/* min, max, samples to the ns; mean to 1 ns; percentiles within 1/128 */
static void check_dist(json_t *d, uint64_t *s, size_t n, int pct, const char *what)
{
	cr_assert(json_is_object(d), "%s: no distribution", what);
	cr_assert_eq(json_integer_value(json_object_get(d, "samples")), (json_int_t)n, "%s", what);
	uint64_t mn = UINT64_MAX, mx = 0;
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		mn = s[i] < mn ? s[i] : mn;
		mx = s[i] > mx ? s[i] : mx;
		sum += (double)s[i];
	}
	cr_assert_eq(ns_of(json_object_get(d, "min")), (int64_t)mn, "%s min", what);
	cr_assert_eq(ns_of(json_object_get(d, "max")), (int64_t)mx, "%s max", what);
	cr_assert(fabs(json_number_value(json_object_get(d, "mean")) * 1e6 - sum / (double)n) <= 1.0,
		  "%s mean", what);
	if (!pct)
		return;
	static const double q[3] = {0.50, 0.90, 0.99};
	static const char *k[3] = {"p50", "p90", "p99"};
	for (int i = 0; i < 3; i++) {
		double want = (double)nearest_rank(s, n, q[i]);
		double got = json_number_value(json_object_get(d, k[i])) * 1e6;
		cr_assert(fabs(got - want) <= want / 128, "%s %s: %.0f ns vs truth %.0f ns", what, k[i],
			  got, want);
	}
}

/* tshark's ack_rtt values of the frames a filter selects: count and sum in ns */
static long tshark_ack_rtt(const char *pcap, const char *filter, double *sum_ns)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "tshark -r '%s' -Y '%s' -T fields -e tcp.analysis.ack_rtt 2>/dev/null",
		 pcap, filter);
	FILE *p = popen(cmd, "r");
	long n = 0;
	double v;
	*sum_ns = 0;
	while (fscanf(p, "%lf", &v) == 1) {
		*sum_ns += v * 1e9;
		n++;
	}
	pclose(p);
	return n;
}

static long tshark_lines(const char *pcap, const char *filter)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "tshark -r '%s' -Y '%s' -T fields -e frame.number 2>/dev/null | wc -l",
		 pcap, filter);
	FILE *p = popen(cmd, "r");
	long n = -1;
	cr_assert_eq(fscanf(p, "%ld", &n), 1);
	pclose(p);
	return n;
}

Test(tcp_seeded, four_hundred_flows_to_the_nanosecond_and_as_wireshark, .timeout = 300)
{
	char path[256], out[256], bin[256];
	snprintf(path, sizeof(path), "%s/tcp-seeded.pcap", qp_tmpdir());
	snprintf(out, sizeof(out), "%s/tcp-seeded.json", qp_tmpdir());
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	generate(path);
	char *argv[] = {bin, "--pcap", path, "--interval", "1000", "--report-file", out, NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 120, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	json_t *rep = qp_json_load(out);
	cr_assert_eq(json_array_size(json_object_get(rep, "flows")), NFLOWS);

	uint64_t *all[2] = {NULL, NULL};
	size_t nall[2] = {0, 0};
	long retrans = 0;
	for (uint32_t f = 0; f < NFLOWS; f++) {
		char c[32], what[64];
		client_of(f, c, sizeof(c));
		json_t *fl = qp_find_flow(rep, c, 40000 + (int)f, SRV, 80);
		cr_assert_not_null(fl, "flow %u missing", f);
		json_t *t = json_object_get(fl, "tcp");
		cr_assert_eq(ns_of(json_object_get(t, "handshake_rtt_ms")), (int64_t)T[f].hs_far);
		cr_assert_eq(ns_of(json_object_get(t, "handshake_ack_rtt_ms")), (int64_t)T[f].hs_near);
		cr_assert_eq(json_integer_value(json_object_get(json_object_get(t, "retransmissions"), "fwd")),
			     T[f].retrans, "flow %u retransmissions", f);
		cr_assert_eq(json_integer_value(json_object_get(json_object_get(t, "retransmissions"), "rev")), 0);
		for (int d = 0; d < 2; d++) {
			snprintf(what, sizeof(what), "flow %u %s", f, d ? "rev" : "fwd");
			check_dist(json_object_get(t, d ? "rtt_rev_ms" : "rtt_ms"), T[f].s[d], T[f].n[d], 1,
				   what);
			all[d] = realloc(all[d], (nall[d] + T[f].n[d]) * sizeof(uint64_t));
			memcpy(all[d] + nall[d], T[f].s[d], T[f].n[d] * sizeof(uint64_t));
			nall[d] += T[f].n[d];
		}
		retrans += T[f].retrans;
	}
	/* capture-wide: every sample of every flow, percentiles over all of them */
	json_t *tcp = json_object_get(rep, "tcp");
	check_dist(json_object_get(tcp, "rtt_ms"), all[0], nall[0], 1, "capture fwd");
	check_dist(json_object_get(tcp, "rtt_rev_ms"), all[1], nall[1], 1, "capture rev");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(tcp, "retransmissions"), "fwd")),
		     retrans);
	cr_assert_gt(retrans, 100, "the seed must exercise retransmissions (%ld)", retrans);
	/* the intervals hold every sample once */
	json_int_t ivs[2] = {0, 0}, ivr = 0;
	size_t i;
	json_t *iv;
	json_array_foreach(json_object_get(rep, "intervals"), i, iv) {
		json_t *it = json_object_get(iv, "tcp");
		for (int d = 0; d < 2; d++) {
			json_t *x = json_object_get(it, d ? "rtt_rev_ms" : "rtt_ms");
			if (json_is_object(x))
				ivs[d] += json_integer_value(json_object_get(x, "samples"));
		}
		ivr += json_integer_value(json_object_get(json_object_get(it, "retransmissions"), "fwd"));
	}
	cr_assert_eq(ivs[0], (json_int_t)nall[0]);
	cr_assert_eq(ivs[1], (json_int_t)nall[1]);
	cr_assert_eq(ivr, retrans);

	/*
	 * Wireshark: the same retransmissions. Its ack_rtt is given for every
	 * ACK of data, including the ACK of a retransmitted request, measured
	 * from the first transmission (tcp.analysis.acks_frame names it), so that
	 * sample holds the RTO. The probe follows Karn and takes no sample there:
	 * tshark has exactly `retrans` more server-side samples, and the others
	 * are the probe's own (checked sample by sample in test_tcp_metrics).
	 */
	cr_assert_eq(tshark_lines(path, "tcp.analysis.retransmission"), retrans);
	double ws_sum, truth_sum = 0;
	for (uint32_t f = 0; f < NFLOWS; f++)
		truth_sum += (double)T[f].rto_sum;
	for (size_t k = 0; k < nall[0]; k++)
		truth_sum += (double)all[0][k];
	long n = tshark_ack_rtt(path, "ip.src==" SRV " && tcp.analysis.ack_rtt", &ws_sum);
	cr_assert_eq(n, (long)nall[0] + retrans);
	/* tshark prints ack_rtt to the ns: the sums agree to rounding */
	cr_assert(fabs(ws_sum - truth_sum) <= (double)n, "server ack_rtt sum %.0f vs %.0f", ws_sum,
		  truth_sum);
	truth_sum = 0;
	for (size_t k = 0; k < nall[1]; k++)
		truth_sum += (double)all[1][k];
	n = tshark_ack_rtt(path, "ip.dst==" SRV " && tcp.analysis.ack_rtt", &ws_sum);
	cr_assert_eq(n, (long)nall[1]);
	cr_assert(fabs(ws_sum - truth_sum) <= (double)n, "client ack_rtt sum %.0f vs %.0f", ws_sum,
		  truth_sum);
	free(all[0]);
	free(all[1]);
	json_decref(rep);
}
