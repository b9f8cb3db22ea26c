/*
 * TCP metrics end to end: a generated capture with a known story (RTT per
 * exchange, a retransmission, an out-of-order pair, duplicate ACKs, a zero
 * window, a reset) measured by build/qprobe, checked against the truth and
 * against Wireshark's tcp.analysis on the same file.
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

#define C "10.1.0.1"
#define S "10.2.0.1"
#define CP 40000
#define SP 80

static struct pw W;

static void put(int from_client, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len,
		uint16_t win, uint64_t ts)
{
	struct pb b;
	pb_init(&b);
	if (len)
		pb_payload(&b, len);
	if (from_client) {
		pb_push_tcp(&b, CP, SP, seq, ack, flags, win);
		pb_push_ip4(&b, C, S, 1, 0x4000);
	} else {
		pb_push_tcp(&b, SP, CP, seq, ack, flags, win);
		pb_push_ip4(&b, S, C, 1, 0x4000);
	}
	pb_push_eth(&b);
	pw_write(&W, ts, pb_data(&b), pb_len(&b), pb_len(&b));
}

/* far side RTTs (client data -> server ACK), exact to the ns in a ns capture */
static const uint64_t far_rtt[] = {12 * MS + 345, 15 * MS + 1, 11 * MS + 999 * US, 13 * MS, 20 * MS + 7};
#define NFAR (sizeof(far_rtt) / sizeof(far_rtt[0]))
#define HS_FAR (10 * MS + 123)
#define HS_NEAR (200 * US + 45)

static void write_story(const char *path)
{
	cr_assert_eq(pw_open(&W, path, 1, 1), 0);
	uint64_t t = T0;
	uint32_t cs = 1000, ss = 9000;
	put(1, 0x02, cs, 0, 0, 64000, t);
	put(0, 0x12, ss, cs + 1, 0, 64000, t += HS_FAR);
	put(1, 0x10, cs + 1, ss + 1, 0, 64000, t += HS_NEAR);
	cs++;
	ss++;
	/* five request/ACK exchanges with known far-side RTTs */
	for (size_t i = 0; i < NFAR; i++) {
		put(1, 0x18, cs, ss, 200, 64000, t += 50 * MS);
		cs += 200;
		put(0, 0x10, ss, cs, 0, 64000, t += far_rtt[i]);
	}
	/* a retransmission of the last segment, 300 ms later (already ACKed: spurious) */
	put(1, 0x18, cs - 200, ss, 200, 64000, t += 300 * MS);
	/* an out-of-order pair: the second segment overtakes the first by 0.5 ms */
	put(1, 0x18, cs + 100, ss, 100, 64000, t += 50 * MS);
	put(1, 0x18, cs, ss, 100, 64000, t += 500 * US);
	cs += 200;
	put(0, 0x10, ss, cs, 0, 64000, t += 14 * MS);
	/* the server sends data, the client ACKs it, then repeats the ACK 3 times */
	put(0, 0x18, ss, cs, 1000, 64000, t += 10 * MS);
	ss += 1000;
	put(1, 0x10, cs, ss, 0, 64000, t += 300 * US);
	put(1, 0x10, cs, ss, 0, 64000, t += 1 * MS);
	put(1, 0x10, cs, ss, 0, 64000, t += 1 * MS);
	put(1, 0x10, cs, ss, 0, 64000, t += 1 * MS);
	/* the server closes its window, then the client resets */
	put(0, 0x10, ss, cs, 0, 0, t += 5 * MS);
	put(1, 0x04, cs, 0, 0, 0, t += 5 * MS);
	pw_close(&W);
}

static long tshark_count(const char *pcap, const char *filter)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "tshark -r '%s' -Y '%s' 2>/dev/null | wc -l", pcap, filter);
	FILE *p = popen(cmd, "r");
	long n = -1;
	cr_assert_eq(fscanf(p, "%ld", &n), 1);
	pclose(p);
	return n;
}

static json_t *tcp_of(json_t *rep)
{
	json_t *flows = json_object_get(rep, "flows");
	cr_assert_eq(json_array_size(flows), 1);
	json_t *f = json_array_get(flows, 0);
	cr_assert_str_eq(json_string_value(json_object_get(f, "src")), C);
	return json_object_get(f, "tcp");
}

static long fr(json_t *o, const char *k, const char *d)
{
	return (long)json_integer_value(json_object_get(json_object_get(o, k), d));
}

static json_t *measure(const char *path)
{
	char bin[256], out[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	snprintf(out, sizeof(out), "%s/tcp-story.json", qp_tmpdir());
	char *argv[] = {bin, "--pcap", (char *)path, "--report-file", out, NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 60, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	return qp_json_load(out);
}

Test(tcp_metrics, counts_match_the_story_and_wireshark)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/tcp-story.pcap", qp_tmpdir());
	write_story(path);
	json_t *rep = measure(path);
	json_t *t = tcp_of(rep);
	/* the truth */
	cr_assert_eq(fr(t, "retransmissions", "fwd"), 1);
	cr_assert_eq(fr(t, "retransmissions", "rev"), 0);
	cr_assert_eq(fr(t, "out_of_order", "fwd"), 1);
	cr_assert_eq(fr(t, "dup_acks", "fwd"), 3);
	cr_assert_eq(fr(t, "zero_window", "rev"), 1);
	cr_assert_eq(fr(t, "resets", "fwd"), 1);
	/* Wireshark on the same file, same definitions */
	cr_assert_eq(tshark_count(path, "tcp.analysis.retransmission"),
		     fr(t, "retransmissions", "fwd") + fr(t, "retransmissions", "rev"));
	cr_assert_eq(tshark_count(path, "tcp.analysis.out_of_order"),
		     fr(t, "out_of_order", "fwd") + fr(t, "out_of_order", "rev"));
	cr_assert_eq(tshark_count(path, "tcp.analysis.duplicate_ack"),
		     fr(t, "dup_acks", "fwd") + fr(t, "dup_acks", "rev"));
	cr_assert_eq(tshark_count(path, "tcp.analysis.zero_window"),
		     fr(t, "zero_window", "fwd") + fr(t, "zero_window", "rev"));
	cr_assert_eq(tshark_count(path, "tcp.flags.reset == 1"),
		     fr(t, "resets", "fwd") + fr(t, "resets", "rev"));
	json_decref(rep);
}

static int64_t ns_of(json_t *v)
{
	return (int64_t)llround(json_number_value(v) * 1e6);
}

Test(tcp_metrics, rtt_to_the_nanosecond_and_as_wireshark_ack_rtt)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/tcp-rtt.pcap", qp_tmpdir());
	write_story(path);
	json_t *rep = measure(path);
	json_t *t = tcp_of(rep);
	json_t *rtt = json_object_get(t, "rtt_ms");
	/* fwd samples: the SYN (answered by the SYN/ACK), the five requests, and
	 * the out-of-order pair's later-ending segment; never the retransmitted one */
	uint64_t mn = HS_FAR, mx = HS_FAR, sum = HS_FAR;
	for (size_t i = 0; i < NFAR; i++) {
		mn = far_rtt[i] < mn ? far_rtt[i] : mn;
		mx = far_rtt[i] > mx ? far_rtt[i] : mx;
		sum += far_rtt[i];
	}
	uint64_t ooo_sample = 14 * MS + 500 * US; /* ACK 14 ms after the segment that ends last */
	sum += ooo_sample;
	mx = ooo_sample > mx ? ooo_sample : mx;
	cr_assert_eq(json_integer_value(json_object_get(rtt, "samples")), (json_int_t)NFAR + 2);
	cr_assert_eq(ns_of(json_object_get(rtt, "min")), (int64_t)mn);
	cr_assert_eq(ns_of(json_object_get(rtt, "max")), (int64_t)mx);
	cr_assert_float_eq(json_number_value(json_object_get(rtt, "mean")),
			   (double)sum / (double)(NFAR + 2) / 1e6, 1e-6);
	cr_assert_str_eq(json_string_value(json_object_get(t, "rtt_method")), "seq_ack");
	/* per-flow percentiles: sorted samples 10.000123 11.999 12.000345 13 14.5 15.000001
	 * 20.000007 ms; nearest rank, within 1/128 */
	double want_p[3] = {13.0, 20.000007, 20.000007};
	const char *pk[3] = {"p50", "p90", "p99"};
	for (int q = 0; q < 3; q++) {
		double got = json_number_value(json_object_get(rtt, pk[q]));
		cr_assert(fabs(got - want_p[q]) <= want_p[q] / 128, "%s %f vs %f", pk[q], got, want_p[q]);
	}

	/* Wireshark's ack_rtt of the server's ACKs: the same samples */
	char cmd[700];
	snprintf(cmd, sizeof(cmd),
		 "tshark -r '%s' -Y 'ip.src==" S " && tcp.analysis.ack_rtt' -T fields -e "
		 "tcp.analysis.ack_rtt 2>/dev/null",
		 path);
	FILE *p = popen(cmd, "r");
	double v, wsum = 0, wmin = 1e9, wmax = 0;
	int n = 0;
	while (fscanf(p, "%lf", &v) == 1) {
		wsum += v;
		wmin = v < wmin ? v : wmin;
		wmax = v > wmax ? v : wmax;
		n++;
	}
	pclose(p);
	cr_assert_eq(n, (int)NFAR + 2, "tshark ack_rtt samples: %d", n);
	cr_assert_float_eq(wmin * 1e3, json_number_value(json_object_get(rtt, "min")), 1e-6);
	cr_assert_float_eq(wmax * 1e3, json_number_value(json_object_get(rtt, "max")), 1e-6);
	cr_assert_float_eq(wsum / n * 1e3, json_number_value(json_object_get(rtt, "mean")), 1e-6);

	/* capture-wide distribution over all samples */
	json_t *all = json_object_get(json_object_get(rep, "tcp"), "rtt_ms");
	cr_assert_eq(json_integer_value(json_object_get(all, "samples")), (json_int_t)NFAR + 2);
	double p50 = json_number_value(json_object_get(all, "p50"));
	/* sorted fwd samples: 10.000123 11.999 12.000345 13 14.5 15.000001 20.000007 -> rank 4 */
	cr_assert(fabs(p50 - 13.0) / 13.0 <= 1.0 / 128, "p50 %f", p50);
	json_decref(rep);
}

Test(tcp_metrics, timestamps_method_to_the_nanosecond)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/tcp-ts.pcap", qp_tmpdir());
	cr_assert_eq(pw_open(&W, path, 1, 1), 0);
	/* segments with a timestamps option (NOP NOP TS): built by hand */
	uint64_t t = T0;
	uint32_t tsv_c = 100, tsv_s = 7000;
	uint64_t want[3] = {8 * MS + 1, 9 * MS + 2, 7 * MS + 3};
	for (int i = 0; i < 3; i++) {
		for (int from_client = 1; from_client >= 0; from_client--) {
			struct pb b;
			pb_init(&b);
			pb_payload(&b, from_client ? 100 : 0);
			uint8_t opt[12] = {1, 1, 8, 10};
			uint32_t val = from_client ? tsv_c : tsv_s;
			uint32_t ecr = from_client ? tsv_s - 1 : tsv_c - 1; /* the other side's latest */
			for (int k = 0; k < 4; k++) {
				opt[4 + k] = (uint8_t)(val >> (24 - 8 * k));
				opt[8 + k] = (uint8_t)(ecr >> (24 - 8 * k));
			}
			pb_push_raw(&b, opt, 12);
			uint8_t tcp[20] = {0};
			uint16_t sp = from_client ? CP : SP, dp = from_client ? SP : CP;
			tcp[0] = (uint8_t)(sp >> 8);
			tcp[1] = (uint8_t)sp;
			tcp[2] = (uint8_t)(dp >> 8);
			tcp[3] = (uint8_t)dp;
			uint32_t seq = from_client ? 1 + 100 * (uint32_t)i : 1;
			uint32_t ack = from_client ? 1 : 101 + 100 * (uint32_t)i;
			for (int k = 0; k < 4; k++) {
				tcp[4 + k] = (uint8_t)(seq >> (24 - 8 * k));
				tcp[8 + k] = (uint8_t)(ack >> (24 - 8 * k));
			}
			tcp[12] = 8 << 4;
			tcp[13] = 0x18;
			tcp[14] = 0x10;
			pb_push_raw(&b, tcp, 20);
			pb_set_proto(&b, 6);
			pb_push_ip4(&b, from_client ? C : S, from_client ? S : C, 1, 0x4000);
			pb_push_eth(&b);
			t += from_client ? 40 * MS : want[i];
			pw_write(&W, t, pb_data(&b), pb_len(&b), pb_len(&b));
			if (from_client)
				tsv_c++;
			else
				tsv_s++;
		}
	}
	pw_close(&W);
	json_t *rep = measure(path);
	json_t *t2 = tcp_of(rep);
	cr_assert_str_eq(json_string_value(json_object_get(t2, "rtt_method")), "timestamps");
	json_t *rtt = json_object_get(t2, "rtt_ms");
	cr_assert_eq(json_integer_value(json_object_get(rtt, "samples")), 3);
	cr_assert_eq(ns_of(json_object_get(rtt, "min")), (int64_t)want[2]);
	cr_assert_eq(ns_of(json_object_get(rtt, "max")), (int64_t)want[1]);
	json_decref(rep);
}
