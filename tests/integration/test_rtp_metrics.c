/*
 * RTP end to end: generated streams with seeded arrival jitter, known lost
 * sequence numbers, sequence and timestamp wrap-around, measured by
 * build/qprobe and compared with the truth (computed here by RFC 3550 A.8)
 * and with `tshark -o rtp.heuristic_rtp:TRUE -q -z rtp,streams`.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gen/qp_pcapw.h"
#include "qp_run.h"

#define MS 1000000ULL
#define T0 1700000000000000000ULL

struct stream {
	const char *src, *dst;
	uint16_t sport, dport;
	uint8_t pt;
	uint32_t ssrc;
	uint16_t seq0;
	uint32_t ts0;
	int n;
	const int *lost;
	int nlost;
	unsigned int seed;
	/* truth */
	double jit_last, jit_sum, jit_max;
	int jit_n;
};

static const int lost_a[] = {10, 11, 300};
static const int lost_b[] = {50, 51, 52, 53, 398}; /* a lost last packet cannot be seen */
static struct stream S[] = {
	{"10.0.0.1", "10.0.0.2", 16384, 16386, 0, 0x11223344, 65400, 0xffff0000u, 500, lost_a, 3, 3},
	{"10.0.0.2", "10.0.0.1", 16386, 16384, 8, 0x55667788, 100, 12345, 400, lost_b, 5, 11},
};
#define NS (sizeof(S) / sizeof(S[0]))

/* every frame written, in time order, with the truth after it */
struct arrival {
	int k, i;      /* stream, packet index */
	uint64_t t;
	int has_jit;
	double jit;    /* A.8 estimate after it, timestamp units */
};
static struct arrival A[1000];
static int nA;

static int is_lost(const struct stream *s, int i)
{
	for (int k = 0; k < s->nlost; k++)
		if (s->lost[k] == i)
			return 1;
	return 0;
}

static void write_streams(const char *path)
{
	struct pw w;
	cr_assert_eq(pw_open(&w, path, 1, 1), 0);
	nA = 0;
	for (size_t k = 0; k < NS; k++)
		S[k].jit_last = S[k].jit_sum = S[k].jit_max = 0, S[k].jit_n = 0;
	/* both streams interleave in time; frames are written in time order */
	int next[NS] = {0};
	double prev_transit[NS];
	uint64_t first[NS] = {0};
	int started[NS] = {0};
	for (;;) {
		int best = -1;
		uint64_t best_t = 0;
		uint64_t at[NS];
		for (size_t k = 0; k < NS; k++) {
			while (next[k] < S[k].n && is_lost(&S[k], next[k]))
				next[k]++;
			if (next[k] >= S[k].n)
				continue;
			unsigned int sd = S[k].seed + (unsigned int)next[k] * 7919u;
			at[k] = T0 + (uint64_t)k * 3 * MS + (uint64_t)next[k] * 20 * MS +
				(uint64_t)(rand_r(&sd) % 9000) * 1000;
			if (best < 0 || at[k] < best_t) {
				best = (int)k;
				best_t = at[k];
			}
		}
		if (best < 0)
			break;
		struct stream *s = &S[best];
		int i = next[best]++;
		struct pb b;
		pb_init(&b);
		pb_payload(&b, 160);
		uint8_t h[12] = {0x80, s->pt};
		uint16_t seq = (uint16_t)(s->seq0 + i);
		uint32_t ts = s->ts0 + (uint32_t)i * 160;
		h[2] = (uint8_t)(seq >> 8);
		h[3] = (uint8_t)seq;
		for (int k = 0; k < 4; k++) {
			h[4 + k] = (uint8_t)(ts >> (24 - 8 * k));
			h[8 + k] = (uint8_t)(s->ssrc >> (24 - 8 * k));
		}
		pb_push_raw(&b, h, 12);
		pb_push_udp(&b, s->sport, s->dport);
		pb_push_ip4(&b, s->src, s->dst, (uint16_t)i, 0);
		pb_push_eth(&b);
		pw_write(&w, best_t, pb_data(&b), pb_len(&b), pb_len(&b));
		A[nA++] = (struct arrival){.k = best, .i = i, .t = best_t};
		/* the truth: RFC 3550 A.8 in arrival order */
		double tsu = (double)s->ts0 + (double)i * 160; /* unwrapped */
		if (!started[best]) {
			started[best] = 1;
			first[best] = best_t;
			prev_transit[best] = -tsu;
			continue;
		}
		double transit = (double)(best_t - first[best]) * 8000 / 1e9 - tsu;
		double d = fabs(transit - prev_transit[best]);
		prev_transit[best] = transit;
		s->jit_last += (d - s->jit_last) / 16;
		s->jit_sum += s->jit_last;
		s->jit_max = s->jit_last > s->jit_max ? s->jit_last : s->jit_max;
		s->jit_n++;
		A[nA - 1].has_jit = 1;
		A[nA - 1].jit = s->jit_last;
	}
	pw_close(&w);
}

struct ts_row {
	char src[64];
	int sport;
	long pkts, lost;
	double mean_jit, max_jit;
};

static int tshark_streams(const char *pcap, struct ts_row *rows, int max)
{
	char cmd[600], line[1024];
	snprintf(cmd, sizeof(cmd),
		 "tshark -r '%s' -o rtp.heuristic_rtp:TRUE -q -z rtp,streams 2>/dev/null", pcap);
	FILE *p = popen(cmd, "r");
	int n = 0;
	while (fgets(line, sizeof(line), p) && n < max) {
		struct ts_row *r = &rows[n];
		char dst[64], ssrc[32], payload[32];
		double st, en, d1, d2, d3, j1;
		int dport;
		if (sscanf(line, "%lf %lf %63s %d %63s %d %31s %31s %ld %ld (%*[^)]) %lf %lf %lf %lf %lf %lf",
			   &st, &en, r->src, &r->sport, dst, &dport, ssrc, payload, &r->pkts, &r->lost,
			   &d1, &d2, &d3, &j1, &r->mean_jit, &r->max_jit) == 16)
			n++;
	}
	pclose(p);
	return n;
}

Test(rtp_metrics, streams_match_the_truth_and_wireshark)
{
	char path[256], out[256], bin[256];
	snprintf(path, sizeof(path), "%s/rtp.pcap", qp_tmpdir());
	snprintf(out, sizeof(out), "%s/rtp.json", qp_tmpdir());
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	write_streams(path);
	char *argv[] = {bin, "--pcap", path, "--report-file", out, NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 60, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	json_t *rep = qp_json_load(out);
	json_t *flows = json_object_get(rep, "flows");
	cr_assert_eq(json_array_size(flows), 1, "both streams are one UDP flow");
	json_t *rtp = json_object_get(json_array_get(flows, 0), "rtp");
	cr_assert_eq(json_array_size(rtp), 2);

	struct ts_row rows[4];
	int nrows = tshark_streams(path, rows, 4);
	cr_assert_eq(nrows, 2, "tshark found %d streams", nrows);

	for (size_t k = 0; k < NS; k++) {
		json_t *st = NULL, *x;
		size_t i;
		json_array_foreach(rtp, i, x)
			if ((uint32_t)json_integer_value(json_object_get(x, "ssrc")) == S[k].ssrc)
				st = x;
		cr_assert_not_null(st, "stream %zu missing", k);
		long lost = (long)json_integer_value(json_object_get(st, "lost"));
		long pk = (long)json_integer_value(json_object_get(st, "packets"));
		cr_assert_eq(lost, S[k].nlost, "stream %zu lost", k);
		cr_assert_eq(pk, S[k].n - S[k].nlost);
		cr_assert_eq(json_integer_value(json_object_get(st, "expected")), S[k].n);
		json_t *j = json_object_get(st, "jitter_ms");
		double last = json_number_value(json_object_get(j, "last"));
		double mean = json_number_value(json_object_get(j, "mean"));
		double max = json_number_value(json_object_get(j, "max"));
		double tl = S[k].jit_last / 8, tm = S[k].jit_sum / S[k].jit_n / 8, tx = S[k].jit_max / 8;
		cr_assert(fabs(last - tl) <= 0.005 * tl, "stream %zu last jitter %f vs truth %f", k, last, tl);
		cr_assert(fabs(mean - tm) <= 0.005 * tm, "stream %zu mean jitter %f vs truth %f", k, mean, tm);
		cr_assert(fabs(max - tx) <= 0.005 * tx, "stream %zu max jitter %f vs truth %f", k, max, tx);
		double mos = json_number_value(json_object_get(st, "mos"));
		cr_assert(mos > 1 && mos < 4.5);

		struct ts_row *w = NULL;
		for (int q = 0; q < nrows; q++)
			if (strcmp(rows[q].src, S[k].src) == 0 && rows[q].sport == S[k].sport)
				w = &rows[q];
		cr_assert_not_null(w);
		cr_assert_eq(w->lost, lost, "stream %zu: tshark lost %ld", k, w->lost);
		cr_assert_eq(w->pkts, pk);
		/* tshark prints three decimals: agree within that or 0.5 % */
		cr_assert(fabs(w->mean_jit - mean) <= fmax(0.0015, 0.005 * mean), "mean %f vs tshark %f",
			  mean, w->mean_jit);
		cr_assert(fabs(w->max_jit - max) <= fmax(0.0015, 0.005 * max), "max %f vs tshark %f", max,
			  w->max_jit);
	}
	/* capture and interval totals: every packet and loss once, by direction */
	json_t *tot = json_object_get(rep, "rtp");
	long p0 = (long)json_integer_value(json_object_get(json_object_get(tot, "fwd"), "packets"));
	long p1 = (long)json_integer_value(json_object_get(json_object_get(tot, "rev"), "packets"));
	long l0 = (long)json_integer_value(json_object_get(json_object_get(tot, "fwd"), "lost"));
	long l1 = (long)json_integer_value(json_object_get(json_object_get(tot, "rev"), "lost"));
	cr_assert_eq(p0 + p1, (long)(S[0].n - S[0].nlost + S[1].n - S[1].nlost));
	cr_assert_eq(l0 + l1, (long)(S[0].nlost + S[1].nlost));
	long ivp = 0, ivl = 0;
	size_t i;
	json_t *iv;
	json_array_foreach(json_object_get(rep, "intervals"), i, iv)
		for (int d = 0; d < 2; d++) {
			json_t *x = json_object_get(json_object_get(iv, "rtp"), d ? "rev" : "fwd");
			ivp += (long)json_integer_value(json_object_get(x, "packets"));
			ivl += (long)json_integer_value(json_object_get(x, "lost"));
		}
	cr_assert_eq(ivp, p0 + p1);
	cr_assert_eq(ivl, l0 + l1, "losses inside one interval each (none cross a boundary here)");
	json_decref(rep);
}

/*
 * Per interval and per stream: packets, expected (growth of the extended
 * highest sequence number), lost, and the jitter estimates of the interval's
 * packets, against the truth taken from the generator's arrivals.
 */
Test(rtp_metrics, every_interval_itemises_each_stream)
{
	char path[256], out[256], bin[256];
	snprintf(path, sizeof(path), "%s/rtp-iv.pcap", qp_tmpdir());
	snprintf(out, sizeof(out), "%s/rtp-iv.json", qp_tmpdir());
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	write_streams(path);
	const uint64_t iv_ns = 1500 * MS;
	char *argv[] = {bin, "--pcap", path, "--interval", "1500", "--report-file", out, NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 60, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	json_t *rep = qp_json_load(out);
	json_t *ivs = json_object_get(rep, "intervals");
	size_t niv = json_array_size(ivs);
	uint64_t base = A[0].t;
	cr_assert_eq(niv, (A[nA - 1].t - base) / iv_ns + 1);

	int checked = 0;
	for (size_t v = 0; v < niv; v++) {
		json_t *iv = json_array_get(ivs, v);
		json_t *rtp = json_object_get(iv, "rtp");
		json_t *streams = json_object_get(rtp, "streams");
		cr_assert_eq(json_integer_value(json_object_get(rtp, "streams_not_itemised")), 0);
		long sum_pk = 0;
		int here = 0;
		for (size_t k = 0; k < NS; k++) {
			/* the truth of stream k in interval v */
			long pk = 0, ex = 0, jn = 0;
			double jl = 0, js = 0, jx = 0;
			int prev = -1;
			for (int a = 0; a < nA; a++) {
				if (A[a].k != (int)k)
					continue;
				if ((A[a].t - base) / iv_ns == v) {
					pk++;
					ex += prev < 0 ? 1 : A[a].i - prev;
					if (A[a].has_jit) {
						jn++;
						jl = A[a].jit;
						js += A[a].jit;
						jx = A[a].jit > jx ? A[a].jit : jx;
					}
				}
				prev = A[a].i;
			}
			json_t *st = NULL, *x;
			size_t i;
			json_array_foreach(streams, i, x)
				if ((uint32_t)json_integer_value(json_object_get(x, "ssrc")) == S[k].ssrc)
					st = x;
			if (!pk) {
				cr_assert_null(st, "interval %zu: stream %zu has no packet there", v, k);
				continue;
			}
			cr_assert_not_null(st, "interval %zu: stream %zu missing", v, k);
			cr_assert_str_eq(json_string_value(json_object_get(st, "src")), S[k].src);
			cr_assert_eq(json_integer_value(json_object_get(st, "sport")), S[k].sport);
			cr_assert_str_eq(json_string_value(json_object_get(st, "direction")), k ? "rev" : "fwd");
			cr_assert_eq(json_integer_value(json_object_get(st, "payload_type")), S[k].pt);
			cr_assert_eq(json_integer_value(json_object_get(st, "packets")), pk, "iv %zu s %zu", v, k);
			cr_assert_eq(json_integer_value(json_object_get(st, "expected")), ex, "iv %zu s %zu", v, k);
			cr_assert_eq(json_integer_value(json_object_get(st, "lost")), ex - pk, "iv %zu s %zu", v, k);
			json_t *j = json_object_get(st, "jitter_ms");
			cr_assert_eq(json_integer_value(json_object_get(j, "samples")), jn);
			double l = json_number_value(json_object_get(j, "last"));
			double m = json_number_value(json_object_get(j, "mean"));
			double mx = json_number_value(json_object_get(j, "max"));
			cr_assert(fabs(l - jl / 8) <= 0.005 * jl / 8, "iv %zu: last %f vs %f", v, l, jl / 8);
			cr_assert(fabs(m - js / jn / 8) <= 0.005 * js / jn / 8, "iv %zu: mean %f", v, m);
			cr_assert(fabs(mx - jx / 8) <= 0.005 * jx / 8, "iv %zu: max %f vs %f", v, mx, jx / 8);
			double mos = json_number_value(json_object_get(st, "mos"));
			cr_assert(mos > 1 && mos <= 4.5);
			sum_pk += pk;
			here++;
			checked++;
		}
		cr_assert_eq(json_array_size(streams), (size_t)here, "interval %zu: no other stream", v);
		long tot = (long)json_integer_value(json_object_get(json_object_get(rtp, "fwd"), "packets")) +
			   (long)json_integer_value(json_object_get(json_object_get(rtp, "rev"), "packets"));
		cr_assert_eq(tot, sum_pk, "interval %zu: streams add up to the direction totals", v);
	}
	cr_assert_geq(checked, 2 * ((int)niv - 1), "both streams in every full interval");
	json_decref(rep);
}

/*
 * Dynamic payload types take their clock from the SDP that SIP carried
 * (issue 15 item 11): a 200 OK on UDP 5060 announces 198.51.100.7:30000 with
 * PT 96 opus/48000 and :30002; the stream to :30000 is timed at 48 kHz (the
 * truth by RFC 3550 A.8 at 48 kHz), and the two packets to :30002 are a
 * stream without the heuristic's probation. Without the SIP message the
 * same stream is timed at --rtp-clock's 8000 Hz and the short one is none.
 */
/* with_sip: 0 none, 1 on UDP, 2 on TCP (a segment of an established connection) */
static void sip_capture(const char *path, int with_sip, double *jit_mean_ms, double *jit_max_ms)
{
	struct pw w;
	cr_assert_eq(pw_open(&w, path, 1, 1), 0);
	struct pb b;
	uint64_t t = T0;
	if (with_sip) {
		static const char ok[] = "SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\n\r\n"
					 "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\n"
					 "c=IN IP4 198.51.100.7\r\nt=0 0\r\n"
					 "m=audio 30000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n"
					 "m=audio 30002 RTP/AVP 0\r\n";
		pb_init(&b);
		pb_push_raw(&b, (const uint8_t *)ok, sizeof(ok) - 1);
		if (with_sip == 2)
			pb_push_tcp(&b, 5060, 45123, 1000, 2000, 0x18, 65000);
		else
			pb_push_udp(&b, 5060, 5060);
		pb_push_ip4(&b, "198.51.100.7", "192.0.2.10", 1, 0);
		pb_push_eth(&b);
		pw_write(&w, t, pb_data(&b), pb_len(&b), pb_len(&b));
	}
	/* 50 packets of 20 ms (960 ticks at 48 kHz), arriving 0 or 3 ms late */
	double j = 0, sum = 0, max = 0, prev = 0;
	int nj = 0;
	for (int i = 0; i < 50; i++) {
		uint64_t late = (i % 3 == 1) ? 3 * MS : 0;
		uint64_t at = T0 + 100 * MS + (uint64_t)i * 20 * MS + late;
		uint32_t rts = 1000 + (uint32_t)i * 960;
		double transit = (double)(at - T0) / 1e9 * 48000 - rts;
		if (i > 0) {
			double d = fabs(transit - prev);
			j += (d - j) / 16;
			sum += j;
			nj++;
			if (j > max)
				max = j;
		}
		prev = transit;
		uint8_t h[12] = {0x80, 96, 0, (uint8_t)i, (uint8_t)(rts >> 24), (uint8_t)(rts >> 16),
				 (uint8_t)(rts >> 8), (uint8_t)rts, 0xca, 0xfe, 0, 1};
		pb_init(&b);
		pb_payload(&b, 80);
		pb_push_raw(&b, h, 12);
		pb_push_udp(&b, 40000, 30000);
		pb_push_ip4(&b, "192.0.2.10", "198.51.100.7", (uint16_t)i, 0);
		pb_push_eth(&b);
		pw_write(&w, at, pb_data(&b), pb_len(&b), pb_len(&b));
		if (i < 2) { /* the short stream to the other announced port */
			uint8_t g[12] = {0x80, 0, 0, (uint8_t)i, 0, 0, 0, (uint8_t)(160 * i), 0xbe, 0xef, 0, 2};
			pb_init(&b);
			pb_payload(&b, 160);
			pb_push_raw(&b, g, 12);
			pb_push_udp(&b, 40002, 30002);
			pb_push_ip4(&b, "192.0.2.10", "198.51.100.7", (uint16_t)(100 + i), 0);
			pb_push_eth(&b);
			pw_write(&w, at + 1 * MS, pb_data(&b), pb_len(&b), pb_len(&b));
		}
	}
	pw_close(&w);
	*jit_mean_ms = sum / nj / 48.0;
	*jit_max_ms = max / 48.0;
}

static json_t *stream_of(json_t *rep, int sport, int dport)
{
	json_t *f = qp_find_flow(rep, "192.0.2.10", sport, "198.51.100.7", dport);
	json_t *rtp = f ? json_object_get(f, "rtp") : NULL;
	return rtp ? json_array_get(rtp, 0) : NULL;
}

/* The capture of sip_capture(with_sip) through qprobe: the report, and the truth in *mean, *max. */
static json_t *sip_report(int with_sip, double *mean, double *max)
{
	char path[256], out[256], bin[512];
	snprintf(path, sizeof(path), "%s/sip%d.pcap", qp_tmpdir(), with_sip);
	snprintf(out, sizeof(out), "%s/sip%d.json", qp_tmpdir(), with_sip);
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	sip_capture(path, with_sip, mean, max);
	char *argv[] = {bin, "--pcap", path, "--report-file", out, NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 60, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	json_t *rep = qp_json_load(out);
	cr_assert_not_null(rep);
	return rep;
}

Test(rtp_metrics, sdp_gives_dynamic_payload_types_their_clock)
{
	double mean, max;
	for (int via = 1; via <= 2; via++) { /* SIP on UDP, then on TCP */
		json_t *rep = sip_report(via, &mean, &max);
		json_t *s = stream_of(rep, 40000, 30000);
		cr_assert_not_null(s);
		cr_assert_eq(json_integer_value(json_object_get(s, "clock_hz")), 48000,
			     "the SDP's clock (SIP over %s)", via == 1 ? "UDP" : "TCP");
		cr_assert_eq(json_integer_value(json_object_get(s, "packets")), 50);
		json_t *j = json_object_get(s, "jitter_ms");
		cr_assert_float_eq(json_number_value(json_object_get(j, "mean")), mean, 1e-6,
				   "mean %f, truth %f", json_number_value(json_object_get(j, "mean")),
				   mean);
		cr_assert_float_eq(json_number_value(json_object_get(j, "max")), max, 1e-6);
		json_t *sh = stream_of(rep, 40002, 30002);
		cr_assert_not_null(sh, "an announced port's stream needs no probation");
		cr_assert_eq(json_integer_value(json_object_get(sh, "packets")), 2);
		json_decref(rep);
	}
	/* the same streams without the SIP message */
	json_t *rep = sip_report(0, &mean, &max);
	json_t *s = stream_of(rep, 40000, 30000);
	cr_assert_not_null(s);
	cr_assert_eq(json_integer_value(json_object_get(s, "clock_hz")), 8000, "--rtp-clock's");
	cr_assert_null(stream_of(rep, 40002, 30002), "two packets are no stream by the heuristic");
	json_decref(rep);
}
