/*
 * QUIC end to end: the simulated connections of tests/gen/qp_quicgen
 * (versions 1, 2 and draft 29 over IPv4 and IPv6; a reordered spin edge, a
 * server that does not spin, a client with a random spin bit, 0-RTT after
 * the server's answer, Version Negotiation; a UDP flow of an unknown
 * version) measured by build/qprobe against the simulation's truth and
 * against the spin bits tshark reads in the same file.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gen/qp_quicgen.h"
#include "qp_run.h"

#define T0 1700000000000000000ULL

static struct qg_truth truth;

static json_t *measure(char *path, size_t len, const char *extra)
{
	snprintf(path, len, "%s/quic.pcap", qp_tmpdir());
	struct pw w;
	cr_assert_eq(pw_open(&w, path, 1, 1), 0);
	qg_write(&w, T0, 443, &truth);
	pw_close(&w);
	return qp_offline_report(path, "quic", extra);
}

/* a real of the report against the exact value */
static void expect_near(json_t *o, const char *k, double want, const struct qg_conn *c)
{
	double v = json_real_value(json_object_get(o, k));
	cr_expect(qp_near(v, want), "%s:%u %s: %.12g, want %.12g", c->client, c->cport, k, v, want);
}

static json_t *quic_of(json_t *rep, const struct qg_conn *c)
{
	json_t *f = qp_find_flow(rep, c->client, c->cport, c->server, c->sport);
	cr_assert_not_null(f, "no flow %s:%u", c->client, c->cport);
	return json_object_get(f, "quic");
}

Test(quic_metrics, every_connection_equals_its_truth, .timeout = 120)
{
	char path[256];
	json_t *rep = measure(path, sizeof(path), NULL);
	int spinning = 0;
	for (int i = 0; i < truth.n; i++) {
		const struct qg_conn *c = &truth.c[i];
		json_t *q = quic_of(rep, c);
		if (!c->quic) {
			cr_expect_null(q, "version 0x%08x is no QUIC qprobe knows", c->version);
			continue;
		}
		cr_assert_not_null(q, "%s:%u has no quic", c->client, c->cport);
		char v[16];
		snprintf(v, sizeof(v), "0x%08x", c->version);
		json_t *vs = json_object_get(q, "versions");
		cr_expect_str_eq(json_string_value(json_array_get(vs, json_array_size(vs) - 1)), v);
		cr_expect_str_eq(json_string_value(json_object_get(q, "client")), "fwd");
		expect_near(q, "handshake_server_ms", (double)c->hs_server_ns / 1e6, c);
		expect_near(q, "handshake_client_ms", (double)c->hs_client_ns / 1e6, c);
		expect_near(q, "handshake_ms", (double)(c->hs_server_ns + c->hs_client_ns) / 1e6, c);
		cr_expect_eq(qp_geti(q, "packets_long"), c->long_pkts, "%s:%u", c->client, c->cport);
		cr_expect_eq(qp_geti(q, "packets_short"), c->short_pkts, "%s:%u", c->client, c->cport);
		cr_expect_eq(qp_geti(q, "version_negotiation"), c->vneg);
		cr_expect_eq(qp_geti(q, "zero_rtt"), c->zero_rtt);
		cr_expect_eq(json_is_true(json_object_get(q, "spin_active")), c->spins,
			     "%s:%u spin_active", c->client, c->cport);
		if (c->random_spin) {
			cr_expect_gt(qp_geti(q, "spin_edges_discarded") * 4, qp_geti(q, "spin_edges_kept"));
			continue;
		}
		cr_expect_eq(qp_geti(q, "spin_edges_discarded"), c->reordered ? 1 : 0, "%s:%u", c->client,
			     c->cport);
		for (int d = 0; d < 2; d++) {
			json_t *rt = json_object_get(q, d ? "rtt_rev_ms" : "rtt_ms");
			if (!c->rtt_n[d]) {
				cr_expect(json_is_null(rt), "%s:%u: no spin, no RTT", c->client, c->cport);
				continue;
			}
			cr_assert(json_is_object(rt), "%s:%u dir %d", c->client, c->cport, d);
			cr_expect_eq(qp_geti(rt, "samples"), c->rtt_n[d], "%s:%u dir %d", c->client, c->cport, d);
			expect_near(rt, "min", (double)c->rtt_min[d] / 1e6, c);
			expect_near(rt, "max", (double)c->rtt_max[d] / 1e6, c);
			expect_near(rt, "mean", (double)c->rtt_sum[d] / c->rtt_n[d] / 1e6, c);
			/* one spin period is the path's RTT, and at most the wait
			 * for the sender's next packet more */
			cr_expect_geq(c->rtt_min[d], c->rtt_true);
			cr_expect_leq(c->rtt_max[d], c->rtt_true + c->gap_ns);
		}
		spinning += c->spins;
	}
	cr_assert_eq(spinning, 7);
	json_t *tot = json_object_get(rep, "quic");
	cr_expect_eq(qp_geti(tot, "handshakes"), truth.n - 1, "every QUIC connection's handshake");
	json_decref(rep);
}

/* tshark's spin bits of one flow: the samples of the value's changes, per direction. */
struct ts_spin {
	int prev[2];
	int have[2];
	unsigned long long last[2];
	long n[2];
	unsigned long long min[2], max[2], sum[2];
};

Test(quic_metrics, spin_rtt_equals_the_spin_bits_tshark_reads, .timeout = 120)
{
	char path[256];
	json_t *rep = measure(path, sizeof(path), NULL);
	static struct ts_spin by_port[65536];
	memset(by_port, 0, sizeof(by_port));
	for (int i = 0; i < 65536; i++)
		by_port[i].prev[0] = by_port[i].prev[1] = -1;
	char cmd[600];
	snprintf(cmd, sizeof(cmd),
		 "tshark -r '%s' -Y 'quic.spin_bit' -T fields -e udp.srcport -e udp.dstport "
		 "-e frame.time_epoch -e quic.spin_bit 2>/dev/null",
		 path);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	char line[256];
	long lines = 0;
	while (fgets(line, sizeof(line), p)) {
		char *f[4];
		int nf = 0;
		for (char *save = NULL, *t = strtok_r(line, "\t\n", &save); t && nf < 4;
		     t = strtok_r(NULL, "\t\n", &save))
			f[nf++] = t;
		cr_assert_eq(nf, 4, "tshark line");
		int sport = atoi(f[0]), dport = atoi(f[1]);
		int from_client = dport == 443;
		struct ts_spin *s = &by_port[from_client ? sport : dport];
		int d = !from_client, v = !strcmp(f[3], "1") || !strcmp(f[3], "True");
		unsigned long long ts = qp_seconds_ns(f[2]);
		if (s->prev[d] >= 0 && v != s->prev[d]) {
			if (s->have[d]) {
				unsigned long long x = ts - s->last[d];
				if (!s->n[d] || x < s->min[d])
					s->min[d] = x;
				if (x > s->max[d])
					s->max[d] = x;
				s->n[d]++;
				s->sum[d] += x;
			}
			s->last[d] = ts;
			s->have[d] = 1;
		}
		s->prev[d] = v;
		lines++;
	}
	pclose(p);
	cr_assert_gt(lines, 1000, "tshark reads the short headers' spin bits");
	int compared = 0;
	for (int i = 0; i < truth.n; i++) {
		const struct qg_conn *c = &truth.c[i];
		if (!c->spins || c->reordered)
			continue; /* tshark sees every change: the reordered one too */
		json_t *q = quic_of(rep, c);
		const struct ts_spin *s = &by_port[c->cport];
		for (int d = 0; d < 2; d++) {
			json_t *rt = json_object_get(q, d ? "rtt_rev_ms" : "rtt_ms");
			cr_expect_eq(qp_geti(rt, "samples"), s->n[d], "%s:%u dir %d", c->client, c->cport, d);
			expect_near(rt, "min", (double)s->min[d] / 1e6, c);
			expect_near(rt, "max", (double)s->max[d] / 1e6, c);
			expect_near(rt, "mean", (double)s->sum[d] / (double)s->n[d] / 1e6, c);
		}
		compared++;
	}
	cr_assert_eq(compared, 6);
	json_decref(rep);
}

Test(quic_metrics, the_family_can_be_left_out, .timeout = 60)
{
	char path[256];
	json_t *rep = measure(path, sizeof(path), "--metrics=tcp,rtp,icmp,dns");
	cr_expect_null(quic_of(rep, &truth.c[0]));
	cr_expect_eq(qp_geti(json_object_get(rep, "quic"), "handshakes"), 0);
	json_decref(rep);
}
