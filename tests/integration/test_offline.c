/*
 * Offline mode, end to end: the tests write captures with known truth, run
 * build/qprobe on them and check the JSON report (and tshark's view of the
 * same file), then feed it every kind of bad input.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../gen/qp_pcapw.h"
#include "qp_run.h"

#define MS 1000000ULL
#define US 1000ULL
#define T0 1700000000000000000ULL

/* The truth the capture writer keeps for each flow. */
struct truth {
	const char *src, *dst;
	int sport, dport;
	const char *proto;
	uint64_t pkts[2], bytes[2];
	uint64_t first, last;
	int64_t hs_ns, hs_ack_ns; /* -1: none */
	int tshark_same; /* tshark -z conv sees this flow the same way */
};

static struct pw W;
static uint64_t written_pkts;

static void put(struct truth *t, int dir, struct pb *b, uint64_t ts)
{
	pw_write(&W, ts, pb_data(b), pb_len(b), pb_len(b));
	written_pkts++;
	if (!t)
		return;
	t->pkts[dir]++;
	t->bytes[dir] += pb_len(b);
	if (!t->first)
		t->first = ts;
	t->last = ts;
}

static void ip(struct pb *b, const char *s, const char *d, int v6)
{
	if (v6)
		pb_push_ip6(b, s, d);
	else
		pb_push_ip4(b, s, d, 7, 0x4000);
	pb_push_eth(b);
}

/* A TCP connection with the given handshake times and data exchanges. */
static uint64_t tcp_conn(struct truth *t, uint64_t ts, uint64_t far, uint64_t near, int rounds,
			 int v6)
{
	struct pb b;
	uint32_t cs = 1000, ss = 70000;
	const char *c = t->src, *s = t->dst;
	uint16_t cp = (uint16_t)t->sport, sp = (uint16_t)t->dport;
	pb_init(&b);
	pb_push_tcp(&b, cp, sp, cs, 0, 0x02, 1000);
	ip(&b, c, s, v6);
	put(t, 0, &b, ts);
	pb_init(&b);
	pb_push_tcp(&b, sp, cp, ss, cs + 1, 0x12, 1000);
	ip(&b, s, c, v6);
	put(t, 1, &b, ts += far);
	pb_init(&b);
	pb_push_tcp(&b, cp, sp, cs + 1, ss + 1, 0x10, 1000);
	ip(&b, c, s, v6);
	put(t, 0, &b, ts += near);
	t->hs_ns = (int64_t)far;
	t->hs_ack_ns = (int64_t)near;
	cs++;
	ss++;
	for (int i = 0; i < rounds; i++) {
		pb_init(&b);
		pb_payload(&b, 100);
		pb_push_tcp(&b, cp, sp, cs, ss, 0x18, 1000);
		ip(&b, c, s, v6);
		put(t, 0, &b, ts += 3 * MS);
		cs += 100;
		pb_init(&b);
		pb_payload(&b, 700);
		pb_push_tcp(&b, sp, cp, ss, cs, 0x18, 1000);
		ip(&b, s, c, v6);
		put(t, 1, &b, ts += far + 11);
		ss += 700;
	}
	return ts;
}

static struct truth T[] = {
	{"10.1.0.1", "10.2.0.1", 40000, 8080, "tcp", .tshark_same = 1},
	{"2001:db8::1", "2001:db8:ffff::2", 50123, 443, "tcp", .tshark_same = 1},
	{"10.1.0.7", "10.3.0.53", 33333, 53, "udp", .tshark_same = 1},
	{"192.0.2.9", "198.51.100.9", 0, 0, "icmp"},
	{"10.9.0.1", "10.9.0.2", 16384, 16386, "udp", .tshark_same = 1}, /* VLAN 42 */
	/* fragmented: tshark reassembles and counts the datagram once */
	{"10.5.0.1", "10.5.0.2", 7000, 7001, "udp"},
};
#define NT (sizeof(T) / sizeof(T[0]))

static void reset_truth(void)
{
	for (size_t i = 0; i < NT; i++) {
		memset(T[i].pkts, 0, sizeof(T[i].pkts));
		memset(T[i].bytes, 0, sizeof(T[i].bytes));
		T[i].first = T[i].last = 0;
		T[i].hs_ns = T[i].hs_ack_ns = -1;
	}
	written_pkts = 0;
}

/* Frames in time order; the flows interleave as they would on a link. */
static void write_truth(const char *path, int ns)
{
	struct pb b;
	reset_truth();
	cr_assert_eq(pw_open(&W, path, 1, ns), 0);
	uint64_t ts = T0;
	/* flow 0 and 1 each in their own second so the order is simple */
	ts = tcp_conn(&T[0], ts, 2 * MS + 123, 150 * US + 456, 3, 0);
	ts = tcp_conn(&T[1], ts + 100 * MS, 15 * MS + 500 * US + 1, 77 * US + 3, 2, 1);
	for (int i = 0; i < 10; i++) {
		pb_init(&b);
		pb_payload(&b, 30 + (uint32_t)i);
		pb_push_udp(&b, 33333, 53);
		ip(&b, T[2].src, T[2].dst, 0);
		put(&T[2], 0, &b, ts += 10 * MS);
		pb_init(&b);
		pb_payload(&b, 90 + (uint32_t)i);
		pb_push_udp(&b, 53, 33333);
		ip(&b, T[2].dst, T[2].src, 0);
		put(&T[2], 1, &b, ts += 1 * MS + 1);
	}
	for (int i = 0; i < 3; i++) {
		pb_init(&b);
		pb_payload(&b, 56);
		pb_push_icmp(&b, 8, 9, (uint16_t)i);
		ip(&b, T[3].src, T[3].dst, 0);
		put(&T[3], 0, &b, ts += 100 * MS);
		pb_init(&b);
		pb_payload(&b, 56);
		pb_push_icmp(&b, 0, 9, (uint16_t)i);
		ip(&b, T[3].dst, T[3].src, 0);
		put(&T[3], 1, &b, ts += 4 * MS);
	}
	for (int i = 0; i < 7; i++) {
		pb_init(&b);
		pb_payload(&b, 160);
		pb_push_udp(&b, 16384, 16386);
		pb_push_ip4(&b, T[4].src, T[4].dst, (uint16_t)i, 0);
		pb_push_vlan(&b, 0x8100, 42);
		pb_push_eth(&b);
		put(&T[4], 0, &b, ts += 20 * MS);
	}
	/* a UDP datagram in two fragments */
	pb_init(&b);
	pb_payload(&b, 32);
	pb_push_udp(&b, 7000, 7001);
	pb_data(&b)[5] = 8 + 32 + 40; /* UDP length covers both fragments */
	pb_push_ip4(&b, T[5].src, T[5].dst, 0x1111, 0x2000);
	pb_push_eth(&b);
	put(&T[5], 0, &b, ts += 5 * MS);
	pb_init(&b);
	pb_payload(&b, 40);
	pb_set_proto(&b, 17);
	pb_push_ip4(&b, T[5].src, T[5].dst, 0x1111, 5);
	pb_push_eth(&b);
	put(&T[5], 0, &b, ts += 1 * US);
	/* an ARP request and a frame cut inside its IPv4 header */
	pb_init(&b);
	pb_payload(&b, 28);
	b.next_type = 0x0806;
	pb_push_eth(&b);
	put(NULL, 0, &b, ts += 1 * MS);
	pb_init(&b);
	pb_push_udp(&b, 1, 2);
	pb_push_ip4(&b, "10.0.0.1", "10.0.0.2", 1, 0);
	pb_push_eth(&b);
	pw_write(&W, ts += 1 * MS, pb_data(&b), 20, 42);
	written_pkts++;
	pw_close(&W);
}

static json_t *run_report(const char *pcap, const char *extra1, const char *extra2)
{
	char bin[256], out[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	snprintf(out, sizeof(out), "%s/report-%d.json", qp_tmpdir(), rand());
	char *argv[12] = {bin, "--pcap", (char *)pcap, "--report", "json", "--report-file", out};
	int n = 7;
	if (extra1)
		argv[n++] = (char *)extra1;
	if (extra2)
		argv[n++] = (char *)extra2;
	argv[n] = NULL;
	struct qp_run_result r;
	qp_run(argv, NULL, 60, &r);
	cr_assert(r.exited && r.status == 0, "qprobe failed (%d): %s", r.status, r.err);
	json_t *j = qp_json_load(out);
	cr_assert_not_null(j);
	return j;
}

static int64_t jint(json_t *o, const char *a, const char *b)
{
	json_t *x = json_object_get(o, a);
	if (b)
		x = json_object_get(x, b);
	cr_assert(json_is_integer(x), "%s.%s is not an integer", a, b ? b : "");
	return json_integer_value(x);
}

/* ms in the report back to ns, exact for values below 2^53 ns */
static int64_t ms_to_ns(json_t *v)
{
	cr_assert(json_is_number(v));
	return (int64_t)llround(json_number_value(v) * 1e6);
}

static void check_truth(json_t *rep, uint64_t ts_unit)
{
	json_t *cap = json_object_get(rep, "capture");
	cr_assert_eq(jint(cap, "packets", NULL), (int64_t)written_pkts);
	cr_assert_eq(jint(cap, "parse_errors", NULL), 1);
	cr_assert_eq(jint(json_object_get(cap, "parse_error_reasons"), "truncated_ipv4", NULL), 1);
	cr_assert_eq(jint(cap, "non_ip", NULL), 1);
	cr_assert_eq(jint(cap, "flows", NULL), (int64_t)NT);
	cr_assert_eq(jint(cap, "flows_evicted", NULL), 0);
	cr_assert_eq(json_array_size(json_object_get(rep, "flows")), NT);
	for (size_t i = 0; i < NT; i++) {
		struct truth *t = &T[i];
		json_t *f = qp_find_flow(rep, t->src, t->sport, t->dst, t->dport);
		cr_assert_not_null(f, "flow %s:%d -> %s:%d missing", t->src, t->sport, t->dst, t->dport);
		cr_assert_str_eq(json_string_value(json_object_get(f, "proto")), t->proto);
		cr_assert_eq(jint(f, "packets", "fwd"), (int64_t)t->pkts[0], "flow %zu fwd packets", i);
		cr_assert_eq(jint(f, "packets", "rev"), (int64_t)t->pkts[1], "flow %zu rev packets", i);
		cr_assert_eq(jint(f, "bytes", "fwd"), (int64_t)t->bytes[0], "flow %zu fwd bytes", i);
		cr_assert_eq(jint(f, "bytes", "rev"), (int64_t)t->bytes[1], "flow %zu rev bytes", i);
		cr_assert_eq(jint(f, "first_ns", NULL), (int64_t)(t->first / ts_unit * ts_unit));
		cr_assert_eq(jint(f, "last_ns", NULL), (int64_t)(t->last / ts_unit * ts_unit));
		json_t *tcp = json_object_get(f, "tcp");
		if (t->hs_ns >= 0) {
			/* the capture's clock: each timestamp truncated to its unit */
			uint64_t syn = t->first, synack = t->first + (uint64_t)t->hs_ns,
				 ack = synack + (uint64_t)t->hs_ack_ns;
			int64_t want = (int64_t)(synack / ts_unit * ts_unit - syn / ts_unit * ts_unit);
			int64_t want_ack = (int64_t)(ack / ts_unit * ts_unit - synack / ts_unit * ts_unit);
			cr_assert_eq(ms_to_ns(json_object_get(tcp, "handshake_rtt_ms")), want,
				     "flow %zu handshake rtt", i);
			cr_assert_eq(ms_to_ns(json_object_get(tcp, "handshake_ack_rtt_ms")), want_ack,
				     "flow %zu handshake ack rtt", i);
		}
	}
	json_t *vl = qp_find_flow(rep, T[4].src, T[4].sport, T[4].dst, T[4].dport);
	cr_assert_eq(jint(vl, "vlan", NULL), 42);
	/* ICMP echo: replies 4 ms after each request; UDP requests 11 ms + 1 ns apart */
	json_t *ic = json_object_get(qp_find_flow(rep, T[3].src, 0, T[3].dst, 0), "icmp");
	cr_assert_eq(jint(ic, "echo_requests", "fwd"), 3);
	cr_assert_eq(jint(ic, "echo_replies", "rev"), 3);
	json_t *er = json_object_get(ic, "echo_rtt_ms");
	cr_assert_eq(jint(er, "samples", NULL), 3);
	cr_assert_eq(ms_to_ns(json_object_get(er, "min")), (int64_t)(4 * MS / ts_unit * ts_unit));
	cr_assert_eq(ms_to_ns(json_object_get(er, "max")), (int64_t)(4 * MS / ts_unit * ts_unit));
	json_t *iat = json_object_get(json_object_get(qp_find_flow(rep, T[2].src, T[2].sport, T[2].dst,
								   T[2].dport), "iat_ms"), "fwd");
	cr_assert_eq(jint(iat, "samples", NULL), 9);
	if (ts_unit == 1)
		cr_assert_eq(ms_to_ns(json_object_get(iat, "mean")), (int64_t)(11 * MS + 1));
}

Test(offline, nanosecond_capture_matches_the_truth_to_the_nanosecond)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/truth-ns.pcap", qp_tmpdir());
	write_truth(path, 1);
	json_t *rep = run_report(path, NULL, NULL);
	check_truth(rep, 1);
	json_t *src = json_object_get(rep, "source");
	cr_assert_str_eq(json_string_value(json_object_get(src, "timestamp_precision")), "ns");
	cr_assert_str_eq(json_string_value(json_object_get(src, "linktype")), "ethernet");
	json_decref(rep);
}

Test(offline, microsecond_capture_keeps_microseconds)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/truth-us.pcap", qp_tmpdir());
	write_truth(path, 0);
	json_t *rep = run_report(path, NULL, NULL);
	check_truth(rep, 1000);
	json_decref(rep);
}

Test(offline, pcapng_gives_the_same_report)
{
	char path[256], ng[256], cmd[600];
	snprintf(path, sizeof(path), "%s/truth-ng.pcap", qp_tmpdir());
	snprintf(ng, sizeof(ng), "%s/truth.pcapng", qp_tmpdir());
	write_truth(path, 1);
	snprintf(cmd, sizeof(cmd), "editcap -F pcapng '%s' '%s'", path, ng);
	cr_assert_eq(system(cmd), 0, "editcap (wireshark-common) is needed: %s", cmd);
	json_t *rep = run_report(ng, NULL, NULL);
	check_truth(rep, 1);
	json_decref(rep);
}

/* tshark's conversation table, one row per conversation with exact counts. */
struct conv {
	char a[64], b[64];
	int ap, bp;
	long fr_ab, by_ab, fr_ba, by_ba;
};

static void split_ep(const char *ep, char *addr, int *port)
{
	const char *c = strrchr(ep, ':');
	size_t n = (size_t)(c - ep);
	memcpy(addr, ep, n);
	addr[n] = 0;
	*port = atoi(c + 1);
}

static int tshark_convs(const char *pcap, struct conv *cv, int max)
{
	char cmd[600], line[512];
	snprintf(cmd, sizeof(cmd), "tshark -r '%s' -q -z conv,tcp -z conv,udp 2>/dev/null", pcap);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	int n = 0;
	while (fgets(line, sizeof(line), p) && n < max) {
		if (!strstr(line, "<->"))
			continue;
		char a[80], b[80], u1[16], u2[16];
		struct conv *c = &cv[n];
		/* A <-> B  frames(B->A) bytes unit  frames(A->B) bytes unit ... */
		if (sscanf(line, "%79s <-> %79s %ld %ld %15s %ld %ld %15s", a, b, &c->fr_ba, &c->by_ba,
			   u1, &c->fr_ab, &c->by_ab, u2) != 8)
			continue;
		cr_assert_str_eq(u1, "bytes", "tshark rounded a byte count: keep test flows small");
		cr_assert_str_eq(u2, "bytes");
		split_ep(a, c->a, &c->ap);
		split_ep(b, c->b, &c->bp);
		n++;
	}
	pclose(p);
	return n;
}

Test(offline, conversations_agree_with_tshark)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/truth-tshark.pcap", qp_tmpdir());
	write_truth(path, 0);
	json_t *rep = run_report(path, NULL, NULL);
	struct conv cv[32];
	int n = tshark_convs(path, cv, 32);
	cr_assert_gt(n, 0, "tshark printed no conversation");
	int compared = 0;
	for (size_t i = 0; i < NT; i++) {
		if (!T[i].tshark_same)
			continue;
		json_t *f = qp_find_flow(rep, T[i].src, T[i].sport, T[i].dst, T[i].dport);
		int found = 0;
		for (int k = 0; k < n; k++) {
			struct conv *c = &cv[k];
			int same = strcmp(c->a, T[i].src) == 0 && c->ap == T[i].sport &&
				   strcmp(c->b, T[i].dst) == 0 && c->bp == T[i].dport;
			int flipped = strcmp(c->b, T[i].src) == 0 && c->bp == T[i].sport &&
				      strcmp(c->a, T[i].dst) == 0 && c->ap == T[i].dport;
			if (!same && !flipped)
				continue;
			found = 1;
			long fwd_fr = same ? c->fr_ab : c->fr_ba, fwd_by = same ? c->by_ab : c->by_ba;
			long rev_fr = same ? c->fr_ba : c->fr_ab, rev_by = same ? c->by_ba : c->by_ab;
			cr_assert_eq(jint(f, "packets", "fwd"), fwd_fr, "flow %zu vs tshark", i);
			cr_assert_eq(jint(f, "packets", "rev"), rev_fr, "flow %zu vs tshark", i);
			cr_assert_eq(jint(f, "bytes", "fwd"), fwd_by, "flow %zu vs tshark", i);
			cr_assert_eq(jint(f, "bytes", "rev"), rev_by, "flow %zu vs tshark", i);
			compared++;
		}
		cr_assert(found, "tshark has no conversation for flow %zu", i);
	}
	cr_assert_eq(compared, 4);
	json_decref(rep);
}

Test(offline, filter_measures_only_matching_frames)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/truth-filter.pcap", qp_tmpdir());
	write_truth(path, 1);
	json_t *rep = run_report(path, "--filter", "tcp port 8080 or icmp");
	json_t *cap = json_object_get(rep, "capture");
	uint64_t want = T[0].pkts[0] + T[0].pkts[1] + T[3].pkts[0] + T[3].pkts[1];
	cr_assert_eq(jint(cap, "measured", NULL), (int64_t)want);
	cr_assert_eq(jint(cap, "filtered_out", NULL), (int64_t)(written_pkts - want));
	cr_assert_eq(json_array_size(json_object_get(rep, "flows")), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(rep, "source"), "filter")),
			 "tcp port 8080 or icmp");
	json_decref(rep);
}

Test(offline, intervals_carry_each_frame_once)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/truth-iv.pcap", qp_tmpdir());
	write_truth(path, 1);
	json_t *rep = run_report(path, "--interval", "100");
	json_t *ivs = json_object_get(rep, "intervals");
	size_t i;
	json_t *iv;
	uint64_t pk = 0, by = 0, prev = 0;
	json_array_foreach(ivs, i, iv)
	{
		uint64_t start = (uint64_t)jint(iv, "start_ns", NULL);
		cr_assert_eq((start - T0) % (100 * MS), 0, "intervals start on the 100 ms grid");
		cr_assert(i == 0 || start > prev);
		prev = start;
		pk += (uint64_t)(jint(iv, "packets", "fwd") + jint(iv, "packets", "rev"));
		by += (uint64_t)(jint(iv, "bytes", "fwd") + jint(iv, "bytes", "rev"));
		double bps = json_number_value(json_object_get(json_object_get(iv, "bps"), "fwd"));
		cr_assert_float_eq(bps, (double)jint(iv, "bytes", "fwd") * 8 * 10, 1e-6);
	}
	uint64_t want_pk = 0, want_by = 0;
	for (size_t k = 0; k < NT; k++) {
		want_pk += T[k].pkts[0] + T[k].pkts[1];
		want_by += T[k].bytes[0] + T[k].bytes[1];
	}
	cr_assert_eq(pk, want_pk);
	cr_assert_eq(by, want_by);
	/* the first interval holds the SYN, SYN/ACK and ACK of flow 0 and its first data */
	json_t *first = json_array_get(ivs, 0);
	cr_assert_eq(jint(first, "start_ns", NULL), (int64_t)T0);
	json_decref(rep);
}

/*
 * Hostile captures jump by decades (tcpdump's corpus has 1973 next to 2038): the
 * intervals between are empty and cost nothing; a frame that steps back in time
 * counts in the interval the clock had reached.
 */
/* One UDP frame of one flow at each of the n times, in that order. */
static void write_udp_at(const char *path, const uint64_t *times, int n)
{
	cr_assert_eq(pw_open(&W, path, 1, 1), 0);
	for (int i = 0; i < n; i++) {
		struct pb b;
		pb_init(&b);
		pb_payload(&b, 10);
		pb_push_udp(&b, 1000, 2000);
		pb_push_ip4(&b, "10.0.0.1", "10.0.0.2", (uint16_t)i, 0);
		pb_push_eth(&b);
		pw_write(&W, times[i], pb_data(&b), pb_len(&b), pb_len(&b));
	}
	pw_close(&W);
}

Test(offline, a_jump_of_decades_gives_only_the_intervals_with_frames, .timeout = 60)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/jump.pcap", qp_tmpdir());
	const uint64_t far = 4000000000ULL * 1000000000ULL; /* 2096 */
	uint64_t times[] = {T0, T0 + 1000 * MS, far, T0 + 2000 * MS, far + 60 * MS};
	write_udp_at(path, times, 5);
	/* 50 ms intervals: 1.5e12 of them between T0 and far */
	json_t *rep = run_report(path, "--interval", "50");
	json_t *ivs = json_object_get(rep, "intervals");
	cr_assert_eq(json_array_size(ivs), 4);
	const uint64_t start[] = {T0, T0 + 1000 * MS, far, far + 50 * MS};
	const int64_t pkts[] = {1, 1, 2, 1};
	for (size_t i = 0; i < 4; i++) {
		json_t *iv = json_array_get(ivs, i);
		cr_assert_eq(jint(iv, "start_ns", NULL), (int64_t)start[i], "interval %zu", i);
		cr_assert_eq(jint(iv, "packets", "fwd"), pkts[i], "interval %zu", i);
	}
	json_decref(rep);
}

/*
 * A gap of a multiple of the worker's interval slots (8) between two frames
 * of one batch: the earlier interval is reported, not overwritten by the
 * later one in its slot (webex.pcap lost one interval, and an RTT sample in
 * the totals, that way).
 */
Test(offline, a_gap_of_a_multiple_of_the_slots_loses_no_interval)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/gap8.pcap", qp_tmpdir());
	uint64_t times[] = {T0, T0 + 10 * MS, T0 + 8 * 1000 * MS, T0 + 24 * 1000 * MS + 5 * MS};
	write_udp_at(path, times, 4);
	json_t *rep = run_report(path, "--interval", "1000");
	json_t *ivs = json_object_get(rep, "intervals");
	cr_assert_eq(json_array_size(ivs), 3, "intervals 0, 8 and 24");
	const uint64_t start[] = {T0, T0 + 8000 * MS, T0 + 24000 * MS};
	const int64_t pkts[] = {2, 1, 1};
	for (size_t i = 0; i < 3; i++) {
		json_t *iv = json_array_get(ivs, i);
		cr_assert_eq(jint(iv, "start_ns", NULL), (int64_t)start[i], "interval %zu", i);
		cr_assert_eq(jint(iv, "packets", "fwd"), pkts[i], "interval %zu", i);
	}
	json_decref(rep);
}

Test(offline, idle_timeout_splits_a_flow)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/idle.pcap", qp_tmpdir());
	cr_assert_eq(pw_open(&W, path, 1, 1), 0);
	struct pb b;
	uint64_t times[] = {T0, T0 + 500 * MS, T0 + 4000 * MS, T0 + 4100 * MS};
	for (int i = 0; i < 4; i++) {
		pb_init(&b);
		pb_payload(&b, 10);
		pb_push_udp(&b, 1000, 2000);
		pb_push_ip4(&b, "10.0.0.1", "10.0.0.2", 1, 0);
		pb_push_eth(&b);
		pw_write(&W, times[i], pb_data(&b), pb_len(&b), pb_len(&b));
	}
	/* another flow keeps packets coming so the expiry walk runs */
	for (int i = 0; i < 100; i++) {
		pb_init(&b);
		pb_push_udp(&b, 3000, 4000);
		pb_push_ip4(&b, "10.0.0.3", "10.0.0.4", 1, 0);
		pb_push_eth(&b);
		pw_write(&W, T0 + 4200 * MS + (uint64_t)i * MS, pb_data(&b), pb_len(&b), pb_len(&b));
	}
	pw_close(&W);
	json_t *rep = run_report(path, "--idle-timeout", "2");
	json_t *flows = json_object_get(rep, "flows");
	cr_assert_eq(json_array_size(flows), 3);
	json_t *a = json_array_get(flows, 0), *b2 = json_array_get(flows, 1);
	cr_assert_eq(jint(a, "packets", "fwd"), 2);
	cr_assert_str_eq(json_string_value(json_object_get(a, "end")), "idle_timeout");
	cr_assert_eq(jint(b2, "packets", "fwd"), 2);
	cr_assert_eq(jint(b2, "first_ns", NULL), (int64_t)(T0 + 4000 * MS));
	cr_assert_eq(jint(json_object_get(rep, "capture"), "flows_expired_idle", NULL), 1);
	json_decref(rep);
}

Test(offline, a_small_table_evicts_and_reports_every_flow)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/many.pcap", qp_tmpdir());
	cr_assert_eq(pw_open(&W, path, 1, 1), 0);
	struct pb b;
	char src[32];
	for (int i = 0; i < 50; i++) {
		snprintf(src, sizeof(src), "10.0.1.%d", i + 1);
		pb_init(&b);
		pb_push_udp(&b, 1000, 2000);
		pb_push_ip4(&b, src, "10.0.0.2", 1, 0);
		pb_push_eth(&b);
		pw_write(&W, T0 + (uint64_t)i * MS, pb_data(&b), pb_len(&b), pb_len(&b));
	}
	pw_close(&W);
	json_t *rep = run_report(path, "--max-flows", "8");
	json_t *cap = json_object_get(rep, "capture");
	cr_assert_eq(json_array_size(json_object_get(rep, "flows")), 50, "evicted flows are reported");
	cr_assert_eq(jint(cap, "flows_evicted", NULL), 42);
	cr_assert_eq(jint(cap, "measured", NULL), 50);
	json_decref(rep);
}

/* ---- bad input: one clear line, the right exit code, never a crash ---- */

static void expect_refusal(char *const argv[], int code, const char *needle)
{
	struct qp_run_result r;
	qp_run(argv, NULL, 30, &r);
	cr_assert(r.exited, "killed by signal %d (timed out: %d)", r.status, r.timed_out);
	cr_assert_eq(r.status, code, "exit %d, want %d; stderr: %s", r.status, code, r.err);
	cr_assert_eq(r.err_lines, 1, "want one line on stderr, got: %s", r.err);
	cr_assert(strstr(r.err, needle), "stderr lacks '%s': %s", needle, r.err);
}

static char *qbin(void)
{
	static char bin[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	return bin;
}

Test(offline_bad, missing_file)
{
	char *argv[] = {qbin(), "--pcap", "/nonexistent/x.pcap", NULL};
	expect_refusal(argv, 2, "/nonexistent/x.pcap");
}

Test(offline_bad, not_a_capture)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/notes.txt", qp_tmpdir());
	FILE *f = fopen(path, "w");
	fputs("this is not a capture file, just text\n", f);
	fclose(f);
	char *argv[] = {qbin(), "--pcap", path, NULL};
	expect_refusal(argv, 2, "pcap or pcapng expected");
}

Test(offline_bad, empty_file)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/empty.pcap", qp_tmpdir());
	fclose(fopen(path, "w"));
	char *argv[] = {qbin(), "--pcap", path, NULL};
	expect_refusal(argv, 2, "empty.pcap");
}

Test(offline_bad, unreadable_file)
{
	if (geteuid() == 0)
		cr_skip_test("root reads any file");
	char path[256];
	snprintf(path, sizeof(path), "%s/noperm.pcap", qp_tmpdir());
	write_truth(path, 1);
	chmod(path, 0);
	char *argv[] = {qbin(), "--pcap", path, NULL};
	expect_refusal(argv, 2, "Permission denied");
}

Test(offline_bad, unsupported_link_type)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/wifi.pcap", qp_tmpdir());
	cr_assert_eq(pw_open(&W, path, 105, 0), 0);
	uint8_t frame[40] = {0x08};
	pw_write(&W, T0, frame, sizeof(frame), sizeof(frame));
	pw_close(&W);
	char *argv[] = {qbin(), "--pcap", path, NULL};
	expect_refusal(argv, 2, "link type 105 (IEEE802_11) is not supported; accepted: ethernet");
}

Test(offline_bad, truncated_capture_reports_what_it_read)
{
	char path[256], out[256];
	snprintf(path, sizeof(path), "%s/cut.pcap", qp_tmpdir());
	snprintf(out, sizeof(out), "%s/cut.json", qp_tmpdir());
	write_truth(path, 1);
	/* cut in the middle of the 20th frame */
	FILE *f = fopen(path, "rb");
	uint8_t buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	size_t off = 24;
	for (int i = 0; i < 19; i++)
		off += 16 + (size_t)(buf[off + 8] | buf[off + 9] << 8);
	cr_assert_lt(off + 20, n);
	f = fopen(path, "wb");
	fwrite(buf, 1, off + 20, f);
	fclose(f);
	char *argv[] = {qbin(), "--pcap", path, "--report-file", out, NULL};
	expect_refusal(argv, 3, "capture damaged after 19 frames");
	json_t *rep = qp_json_load(out);
	cr_assert_not_null(rep, "the report of the readable part is written");
	cr_assert_eq(jint(json_object_get(rep, "capture"), "packets", NULL), 19);
	json_decref(rep);
}

Test(offline_bad, bad_filter_is_refused_before_reading)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/f.pcap", qp_tmpdir());
	write_truth(path, 1);
	char *argv[] = {qbin(), "--pcap", path, "--filter", "tcp port eighty", NULL};
	expect_refusal(argv, 2, "bad filter 'tcp port eighty'");
}

Test(offline_bad, command_line_mistakes)
{
	char *a1[] = {qbin(), "--pcap", "x.pcap", "--bogus", NULL};
	expect_refusal(a1, 1, "unknown option '--bogus'");
	char *a2[] = {qbin(), "--pcap", "x.pcap", "--interval", "10", NULL};
	expect_refusal(a2, 1, "--interval '10': expected a number from 50");
	char *a3[] = {qbin(), "--pcap", "x.pcap", "--report", "xml", NULL};
	expect_refusal(a3, 1, "expected json or table");
	char *a4[] = {qbin(), "--pcap", "x.pcap", "--max-flows", "1.5", NULL};
	expect_refusal(a4, 1, "--max-flows '1.5'");
	char *a5[] = {qbin(), NULL};
	expect_refusal(a5, 1, "nothing to measure");
	char *a6[] = {qbin(), "--pcap", NULL};
	expect_refusal(a6, 1, "needs a value");
	char *a7[] = {qbin(), "--pcap", "x.pcap", "--interval", "1e400", NULL};
	expect_refusal(a7, 1, "--interval '1e400'");
	/* a worker lcore's flows are a table's at most: 2^26 */
	char *a8[] = {qbin(), "--flow-budget", "67108865", NULL};
	expect_refusal(a8, 1, "qprobe: --flow-budget '67108865': expected a number from 16 to 67108864\n");
}

Test(offline_bad, report_file_that_cannot_be_written)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/w.pcap", qp_tmpdir());
	write_truth(path, 1);
	char *argv[] = {qbin(), "--pcap", path, "--report-file", "/nonexistent/dir/r.json", NULL};
	expect_refusal(argv, 4, "cannot write the report to /nonexistent/dir/r.json");
}

/* The report's file is opened before the first frame: one that is the
 * capture itself (a link to it here) is refused, and the capture is left
 * as it was. */
Test(offline_bad, report_file_that_is_the_capture)
{
	char path[256], link[256];
	snprintf(path, sizeof(path), "%s/same.pcap", qp_tmpdir());
	snprintf(link, sizeof(link), "%s/same-link.json", qp_tmpdir());
	write_truth(path, 1);
	struct stat before, after;
	cr_assert_eq(stat(path, &before), 0);
	unlink(link);
	cr_assert_eq(symlink(path, link), 0);
	char *argv[] = {qbin(), "--pcap", path, "--report-file", link, NULL};
	char want[512];
	snprintf(want, sizeof(want),
		 "qprobe: --report-file %s is the capture being read: give another file\n", link);
	expect_refusal(argv, 1, want);
	cr_assert_eq(stat(path, &after), 0);
	cr_assert_eq(after.st_size, before.st_size, "the capture was cut to %lld bytes",
		     (long long)after.st_size);
}

/* The bytes of a file. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *b = malloc((size_t)n + 1);
	cr_assert_not_null(b);
	cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* name's path in the tests' directory. */
static void tmp_at(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", qp_tmpdir(), name);
}

/* A report file is written over, not truncated first, and cut where the
 * report ends: over an older, longer file (or a shorter one) the file is
 * the report and nothing else, in either format. */
Test(offline, a_report_over_an_older_file_keeps_nothing_of_it)
{
	char path[256], fresh[256], old[256];
	tmp_at(path, sizeof(path), "over.pcap");
	tmp_at(fresh, sizeof(fresh), "over-fresh.out");
	tmp_at(old, sizeof(old), "over-old.out");
	write_truth(path, 1);
	static const char *fmt[] = {"json", "table"};
	for (int k = 0; k < 2; k++)
		for (int longer = 0; longer < 2; longer++) {
			unlink(fresh);
			char *a1[] = {qbin(), "--pcap", path, "--report", (char *)fmt[k],
				      "--report-file", fresh, NULL};
			struct qp_run_result r;
			qp_run(a1, NULL, 30, &r);
			cr_assert_eq(r.status, 0);
			size_t want_len, got_len;
			char *want = slurp(fresh, &want_len);
			/* the older file: 1 MB of 'x', or a few bytes */
			FILE *f = fopen(old, "wb");
			cr_assert_not_null(f);
			for (size_t i = 0; i < (longer ? (size_t)1 << 20 : 5); i++)
				fputc('x', f);
			fclose(f);
			char *a2[] = {qbin(), "--pcap", path, "--report", (char *)fmt[k],
				      "--report-file", old, NULL};
			qp_run(a2, NULL, 30, &r);
			cr_assert_eq(r.status, 0);
			char *got = slurp(old, &got_len);
			cr_assert_eq(got_len, want_len, "%s over %s: %zu bytes, the report is %zu",
				     fmt[k], longer ? "1 MB" : "5 bytes", got_len, want_len);
			cr_assert(memcmp(got, want, want_len) == 0, "%s: the same bytes", fmt[k]);
			free(want);
			free(got);
		}
}

Test(offline, table_report_names_every_flow)
{
	char path[256], out[256];
	snprintf(path, sizeof(path), "%s/tbl.pcap", qp_tmpdir());
	snprintf(out, sizeof(out), "%s/tbl.txt", qp_tmpdir());
	write_truth(path, 1);
	char *argv[] = {qbin(), "--pcap", path, "--report", "table", NULL};
	struct qp_run_result r;
	qp_run(argv, out, 30, &r);
	cr_assert_eq(r.status, 0);
	FILE *f = fopen(out, "r");
	char text[16384];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = 0;
	fclose(f);
	cr_assert(strstr(text, "10.1.0.1:40000"));
	cr_assert(strstr(text, "[2001:db8::1]:50123"));
	cr_assert(strstr(text, "2.000ms"), "handshake RTT of flow 0 in the table: %s", text);
	cr_assert(strstr(text, "malformed truncated_ipv4"));
}

/* The shared libraries a program asks for (readelf's NEEDED entries), one a line. */
static void needed_libs(const char *bin, char *out, size_t len)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "readelf -d '%s' | sed -n 's/.*(NEEDED).*\\[\\(.*\\)\\]/\\1/p'",
		 bin);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = 0;
	cr_assert_eq(pclose(p), 0, "readelf -d %s", bin);
}

/* build/qprobe measures capture files without DPDK and OpenSSL (its start
 * is a third of the whole program's), and loads libpcap only when a run
 * needs it; build/qprobe-live, the whole program, has them all. */
Test(offline, the_capture_program_loads_neither_dpdk_nor_openssl)
{
	char libs[4096], live[256], libs_live[4096];
	needed_libs(qbin(), libs, sizeof(libs));
	cr_assert_null(strstr(libs, "libpcap.so"), "qprobe asks for libpcap at start:\n%s", libs);
	cr_assert(strstr(libs, "libjansson.so") != NULL, "%s", libs);
	cr_assert_null(strstr(libs, "librte_"), "qprobe asks for DPDK:\n%s", libs);
	cr_assert_null(strstr(libs, "libssl"), "qprobe asks for OpenSSL:\n%s", libs);
	cr_assert_null(strstr(libs, "libcrypto"), "qprobe asks for OpenSSL:\n%s", libs);
	snprintf(live, sizeof(live), "%s/qprobe-live", qp_build());
	needed_libs(live, libs_live, sizeof(libs_live));
	cr_assert(strstr(libs_live, "librte_eal.so") != NULL, "%s", libs_live);
	cr_assert(strstr(libs_live, "libssl.so") != NULL, "%s", libs_live);
	cr_assert(strstr(libs_live, "libpcap.so") != NULL, "%s", libs_live);
}

/* 1 when a run of qprobe on path (with `extra`) loaded libpcap (the dynamic
 * loader's own account, LD_DEBUG); its report checked against the truth. */
static int run_loads_libpcap(const char *path, const char *extra)
{
	char out[256], err[256], cmd[1400];
	tmp_at(out, sizeof(out), "lazy.json");
	tmp_at(err, sizeof(err), "lazy.err");
	snprintf(cmd, sizeof(cmd), "LD_DEBUG=libs '%s' --pcap '%s' %s --report-file '%s' 2> '%s'",
		 qbin(), path, extra, out, err);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	json_error_t je;
	json_t *rep = json_load_file(out, 0, &je);
	cr_assert_not_null(rep, "%s: %s", out, je.text);
	if (!*extra)
		check_truth(rep, 1);
	json_decref(rep);
	FILE *f = fopen(err, "r");
	cr_assert_not_null(f);
	char line[1024];
	int loaded = 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "calling init:") && strstr(line, "/libpcap.so"))
			loaded = 1;
	fclose(f);
	return loaded;
}

/* A classic Ethernet capture is measured without libpcap and the nine
 * libraries it brings (2.2 ms of every start); a pcapng file and a filter
 * load it, and measure the same. */
Test(offline, libpcap_is_loaded_only_for_what_needs_it)
{
	char path[256], ng[256], cmd[600];
	tmp_at(path, sizeof(path), "truth-lazy.pcap");
	tmp_at(ng, sizeof(ng), "truth-lazy.pcapng");
	write_truth(path, 1);
	snprintf(cmd, sizeof(cmd), "editcap -F pcapng '%s' '%s'", path, ng);
	cr_assert_eq(system(cmd), 0, "editcap (wireshark-common) is needed: %s", cmd);
	cr_assert_eq(run_loads_libpcap(path, ""), 0, "a classic capture loaded libpcap");
	cr_assert_eq(run_loads_libpcap(ng, ""), 1, "a pcapng capture is read by libpcap");
	cr_assert_eq(run_loads_libpcap(path, "--filter ip"), 1, "libpcap compiles filters");
}

/* Live ports, a configuration file and its check are qprobe-live's: without
 * it beside qprobe, one line says which file is missing, exit 4. */
Test(offline_bad, live_without_qprobe_live_beside_it_says_so)
{
	char alone[512], cmd[1024], want[600];
	snprintf(alone, sizeof(alone), "%s/bin/qprobe", qp_tmpdir());
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/bin' && cp '%s' '%s'", qp_tmpdir(), qbin(), alone);
	cr_assert_eq(system(cmd), 0);
	snprintf(want, sizeof(want),
		 "qprobe: live ports and configuration files are qprobe-live's, which could not be "
		 "run: %s/bin/qprobe-live: No such file or directory (it is installed beside qprobe)\n",
		 qp_tmpdir());
	char *a1[] = {alone, "-l", "0", "--no-huge", "--", "--duration", "1", NULL};
	expect_refusal(a1, 4, want);
	char *a2[] = {alone, "--config", "/etc/qprobe/qprobe.json", NULL};
	expect_refusal(a2, 4, want);
	char *a3[] = {alone, "--check-config", "/etc/qprobe/qprobe.json", NULL};
	expect_refusal(a3, 4, want);
	/* a capture file needs nothing beside it */
	char path[256], out[256];
	snprintf(path, sizeof(path), "%s/alone.pcap", qp_tmpdir());
	snprintf(out, sizeof(out), "%s/alone.json", qp_tmpdir());
	write_truth(path, 1);
	char *a4[] = {alone, "--pcap", path, "--report-file", out, NULL};
	struct qp_run_result r;
	qp_run(a4, NULL, 60, &r);
	cr_assert(r.exited && r.status == 0, "status %d: %s", r.status, r.err);
	json_t *rep = qp_json_load(out);
	cr_assert_not_null(rep);
	json_decref(rep);
}

/* The report of path, read with another core free (a thread reads ahead)
 * or kept to one core (taskset: the program reads itself); its exit status
 * into *status. */
static json_t *report_on_cores(const char *path, int one_core, int *status, char *err)
{
	char out[256];
	snprintf(out, sizeof(out), "%s/cores-%d.json", qp_tmpdir(), one_core);
	char *one[] = {"taskset", "-c", "0", qbin(), "--pcap", (char *)path, "--report-file", out, NULL};
	struct qp_run_result r;
	qp_run(one_core ? one : one + 3, NULL, 120, &r);
	cr_assert(r.exited, "qprobe did not exit");
	*status = r.status;
	memcpy(err, r.err, sizeof(r.err));
	json_t *j = qp_json_load(out);
	cr_assert_not_null(j);
	/* the worker's bursts follow where reads end: not a measurement */
	json_object_del(json_object_get(j, "capture"), "bursts");
	return j;
}

/*
 * A capture of more than four read blocks (`qp_gen mix`, 12.9 MB) is read
 * ahead on another core, and its report of 3,000 flows (2,048 and more) is
 * formatted by two threads: the report is the one a run kept to one core
 * writes, and so is a damaged end (the same frames before it, the same
 * message). err: 8 KiB.
 */
Test(offline, a_capture_read_ahead_reports_as_one_core_does, .timeout = 120)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 2)
		cr_skip_test("one processor: nothing reads ahead");
	char path[256], gen[256];
	snprintf(path, sizeof(path), "%s/ahead.pcap", qp_tmpdir());
	snprintf(gen, sizeof(gen), "%s/qp_gen", qp_build());
	char *g[] = {gen, "mix", path, "40000", "3000", NULL};
	struct qp_run_result r;
	qp_run(g, NULL, 60, &r);
	cr_assert(r.exited && r.status == 0, "qp_gen: %s", r.err);
	for (int cut = 0; cut < 2; cut++) {
		if (cut)
			cr_assert_eq(truncate(path, 10000000), 0);
		int sa, sb;
		static char ea[8192], eb[8192];
		json_t *a = report_on_cores(path, 0, &sa, ea);
		json_t *b = report_on_cores(path, 1, &sb, eb);
		cr_assert_eq(sa, cut ? 3 : 0, "read ahead: exit %d: %s", sa, ea);
		cr_assert_eq(sb, sa, "one core: exit %d: %s", sb, eb);
		cr_assert_str_eq(ea, eb);
		int64_t pk = jint(json_object_get(a, "capture"), "packets", NULL);
		size_t nf = json_array_size(json_object_get(a, "flows"));
		if (cut) {
			cr_assert(pk > 20000 && pk < 40000, "%" PRId64 " frames before the cut", pk);
			cr_assert(nf > 2048 && nf <= 3000, "%zu flows before the cut", nf);
		} else {
			cr_assert_eq(pk, 40000);
			cr_assert_eq(nf, 3000);
		}
		cr_assert(json_equal(a, b), "the reports differ");
		json_decref(a);
		json_decref(b);
	}
}
