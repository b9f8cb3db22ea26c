/*
 * Live mode on DPDK virtual ports: build/qprobe reads the demo capture
 * through a net_pcap vdev (once, no loop), the test fetches the HTTP
 * endpoints while it runs, stops it with SIGTERM and compares its report
 * with the offline report of the same file. With --timestamps port, the
 * frames carry the file's own times through net_pcap, and every figure of
 * the live report equals the offline one. No hugepages are used.
 *
 * Live: starts DPDK probes (tests/run.sh runs such binaries one at a time).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qp_run.h"

static char *qbin(void)
{
	static char bin[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	return bin;
}

static const char *demo(void)
{
	return "tests/data/demo.pcap";
}

static json_t *offline_report(void)
{
	char out[256];
	snprintf(out, sizeof(out), "%s/offline-demo.json", qp_tmpdir());
	char *argv[] = {qbin(), "--pcap", (char *)demo(), "--report-file", out, NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 60, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	return qp_json_load(out);
}

static json_t *get_json(int port, const char *path, int want_status)
{
	char *body;
	int st = qp_http_get(port, path, &body);
	cr_assert_eq(st, want_status, "GET %s: status %d body %s", path, st, body ? body : "");
	json_error_t e;
	json_t *j = json_loads(body, 0, &e);
	cr_assert_not_null(j, "GET %s: not JSON: %s", path, body);
	free(body);
	return j;
}

static void nap_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Poll /api/v1/stats until each of nmeas measurements has had every frame of the file. */
static json_t *wait_for_frames(int port, int pid, long frames, long nmeas)
{
	for (int i = 0; i < 3000; i++) {
		char *body;
		if (qp_http_get(port, "/api/v1/stats", &body) == 200) {
			json_t *j = json_loads(body, 0, NULL);
			free(body);
			/* the port's counter is read before the workers' in one GET:
			 * both must have got there */
			json_t *tot = json_object_get(j, "totals");
			json_t *p0 = json_array_get(json_object_get(j, "ports"), 0);
			if (json_integer_value(json_object_get(tot, "packets")) == frames * nmeas &&
			    json_integer_value(json_object_get(p0, "rx_packets")) == frames)
				return j;
			json_decref(j);
		} else {
			free(body);
		}
		cr_assert_eq(kill(pid, 0), 0, "qprobe exited early");
		nap_ms(10);
	}
	cr_assert_fail("qprobe did not measure %ld frames within 30 s", frames);
	return NULL;
}

static json_t *wait_for_all_frames(int port, int pid, long frames)
{
	return wait_for_frames(port, pid, frames, 1);
}

static void compare_flows(json_t *live, json_t *off)
{
	json_t *lf = json_object_get(live, "flows"), *of = json_object_get(off, "flows");
	cr_assert_eq(json_array_size(lf), json_array_size(of));
	size_t i;
	json_t *f;
	json_array_foreach(of, i, f)
	{
		const char *src = json_string_value(json_object_get(f, "src"));
		const char *dst = json_string_value(json_object_get(f, "dst"));
		int sp = (int)json_integer_value(json_object_get(f, "sport"));
		int dp = (int)json_integer_value(json_object_get(f, "dport"));
		json_t *g = qp_find_flow(live, src, sp, dst, dp);
		cr_assert_not_null(g, "live report lacks %s:%d -> %s:%d", src, sp, dst, dp);
		cr_assert(json_equal(json_object_get(f, "packets"), json_object_get(g, "packets")),
			  "%s:%d packets differ", src, sp);
		cr_assert(json_equal(json_object_get(f, "bytes"), json_object_get(g, "bytes")),
			  "%s:%d bytes differ", src, sp);
	}
}

/* How many of the process's threads may run on CPU `cpu` only. */
static int threads_pinned_to(int pid, int cpu)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "%s", path);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		cpu_set_t set;
		CPU_ZERO(&set);
		if (sched_getaffinity(atoi(e->d_name), sizeof(set), &set) == 0 && CPU_COUNT(&set) == 1 &&
		    CPU_ISSET(cpu, &set))
			n++;
	}
	closedir(d);
	return n;
}

static void live_run(const char *lcores, const char *mode, int workers)
{
	int port = qp_free_port();
	char vdev[512], portstr[16], out[256], err[256], rep[256];
	snprintf(vdev, sizeof(vdev), "net_pcap0,rx_pcap=%s", demo());
	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(out, sizeof(out), "%s/live.out", qp_tmpdir());
	snprintf(err, sizeof(err), "%s/live.err", qp_tmpdir());
	snprintf(rep, sizeof(rep), "%s/live-%s.json", qp_tmpdir(), mode);
	char *argv[] = {qbin(), "--lcores", (char *)lcores, "--no-huge", "-m", "256", "--no-shconf",
			"--no-pci", "--log-level=error", "--vdev", vdev, "--", "--duration", "120", "--qmcp-port", "0",
			"--http-port", portstr, "--report", "json", "--report-file", rep, NULL};
	int pid = qp_spawn(argv, out, err);
	json_t *off = offline_report();

	json_t *st = wait_for_all_frames(port, pid, 163);
	cr_assert_str_eq(json_string_value(json_object_get(st, "mode")), mode);
	json_t *ports = json_object_get(st, "ports");
	cr_assert_eq(json_array_size(ports), 1);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(ports, 0), "rx_packets")), 163);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ports, 0), "name")), "net_pcap0");
	json_t *tot = json_object_get(st, "totals");
	cr_assert_eq(json_integer_value(json_object_get(tot, "measured")), 162);
	cr_assert_eq(json_integer_value(json_object_get(tot, "non_ip")), 1);
	size_t nworkers = 0, i;
	json_t *lc;
	json_array_foreach(json_object_get(st, "lcores"), i, lc)
		if (strcmp(json_string_value(json_object_get(lc, "role")), "worker") == 0)
			nworkers++;
	cr_assert_eq(nworkers, (size_t)workers);
	json_decref(st);

	json_t *fl = get_json(port, "/api/v1/flows?top=3&sort=packets", 200);
	json_t *arr = json_object_get(fl, "flows");
	cr_assert_eq(json_array_size(arr), 3);
	long want[] = {50, 40, 18};
	for (int k = 0; k < 3; k++) {
		json_t *p = json_object_get(json_array_get(arr, (size_t)k), "packets");
		long n = (long)(json_integer_value(json_object_get(p, "fwd")) +
				json_integer_value(json_object_get(p, "rev")));
		cr_assert_eq(n, want[k], "top flow %d has %ld packets", k, n);
	}
	cr_assert_eq(json_integer_value(json_object_get(fl, "active_flows")), 8);
	json_decref(fl);

	json_t *e = get_json(port, "/api/v1/flows?top=0", 400);
	cr_assert(strstr(json_string_value(json_object_get(e, "error")), "top '0'"));
	json_decref(e);
	e = get_json(port, "/api/v1/flows?sort=size", 400);
	cr_assert(strstr(json_string_value(json_object_get(e, "error")), "expected bytes or packets"));
	json_decref(e);
	e = get_json(port, "/api/v1/nothing", 404);
	cr_assert(strstr(json_string_value(json_object_get(e, "error")), "no such path"));
	json_decref(e);
	json_t *iv = get_json(port, "/api/v1/intervals?last=5", 200);
	cr_assert(json_is_array(json_object_get(iv, "intervals")));
	json_decref(iv);

	char *metrics;
	cr_assert_eq(qp_http_get(port, "/metrics", &metrics), 200);
	cr_assert(strstr(metrics, "# TYPE qprobe_worker_measured_total counter"));
	cr_assert(strstr(metrics, "qprobe_port_rx_packets_total{port=\"0\"} 163"), "%s", metrics);
	long measured = 0;
	for (char *p = metrics; (p = strstr(p, "qprobe_worker_measured_total{")); p++) {
		char *v = strchr(p, '}');
		measured += atol(v + 2);
	}
	cr_assert_eq(measured, 162);
	free(metrics);
	if (workers == 1) {
		/* the worker polls CPU 1 alone: no thread of the probe (liburcu's
		 * call_rcu thread included) is put there beside it */
		cr_assert_eq(threads_pinned_to(pid, 1), 1);
	}

	qp_stop_clean(pid, err);
	json_t *live = qp_json_load(rep);
	cr_assert_not_null(live);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(live, "source"), "kind")), "live");
	compare_flows(live, off);
	json_t *ivs = json_object_get(live, "intervals");
	long ivp = 0;
	json_array_foreach(ivs, i, lc)
		ivp += (long)(json_integer_value(json_object_get(json_object_get(lc, "packets"), "fwd")) +
			      json_integer_value(json_object_get(json_object_get(lc, "packets"), "rev")));
	cr_assert_eq(ivp, 162, "every measured frame is in exactly one interval");
	/* the metrics' counts do not depend on the clock: the same as offline */
	const char *paths[][3] = {{"tcp", "rtt_ms", "samples"}, {"tcp", "rtt_rev_ms", "samples"},
				  {"icmp", "echo_rtt_ms", "samples"}};
	for (int k = 0; k < 3; k++) {
		json_t *a = json_object_get(json_object_get(json_object_get(live, paths[k][0]), paths[k][1]), paths[k][2]);
		json_t *b = json_object_get(json_object_get(json_object_get(off, paths[k][0]), paths[k][1]), paths[k][2]);
		cr_assert(json_integer_value(b) > 0 && json_equal(a, b), "%s.%s.%s: live %lld offline %lld",
			  paths[k][0], paths[k][1], paths[k][2], (long long)json_integer_value(a),
			  (long long)json_integer_value(b));
	}
	json_t *lr = json_object_get(json_object_get(live, "rtp"), "fwd");
	json_t *ofr = json_object_get(json_object_get(off, "rtp"), "fwd");
	cr_assert(json_equal(json_object_get(lr, "packets"), json_object_get(ofr, "packets")));
	cr_assert_eq(json_integer_value(json_object_get(lr, "lost")), 1);
	json_decref(live);
	json_decref(off);
}

Test(live, net_pcap_single_worker_serves_http_and_matches_offline, .timeout = 300)
{
	live_run("0,1", "single_worker", 1);
}

Test(live, software_distribution_keeps_both_directions_together, .timeout = 300)
{
	/* three worker lcores on one CPU: a distributor and two workers */
	live_run("0@0,(1-3)@1", "software_distribution", 2);
}

static void expect_live_refusal(char *const argv[], int code, const char *needle)
{
	struct qp_run_result r;
	qp_run(argv, NULL, 60, &r);
	cr_assert(r.exited, "killed by signal %d", r.status);
	cr_assert_eq(r.status, code, "exit %d, want %d: %s", r.status, code, r.err);
	cr_assert(strstr(r.err, needle), "stderr lacks '%s': %s", needle, r.err);
}

Test(live_bad, too_few_lcores)
{
	char *argv[] = {qbin(), "-l", "0", "--no-huge", "-m", "128", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", "net_ring0", "--", "--duration", "1", NULL};
	expect_live_refusal(argv, 1, "too few lcores: 1 given, at least 2 needed");
}

Test(live_bad, no_port)
{
	char *argv[] = {qbin(), "-l", "0,1", "--no-huge", "-m", "128", "--no-shconf", "--no-pci",
			"--log-level=error", "--", "--duration", "1", NULL};
	expect_live_refusal(argv, 1, "no DPDK port");
}

Test(live_bad, unknown_device)
{
	char *argv[] = {qbin(), "-l", "0,1", "--no-huge", "-m", "128", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", "net_nosuchpmd0", "--", "--duration", "1", NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 60, &r);
	cr_assert(r.exited, "killed by signal %d", r.status);
	cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "no DPDK port") || strstr(r.err, "EAL options refused"), "%s", r.err);
}

Test(live_bad, bad_filter_and_http_address)
{
	char *a1[] = {qbin(), "-l", "0,1", "--no-huge", "-m", "128", "--no-shconf", "--no-pci",
		      "--log-level=error", "--vdev", "net_ring0", "--", "--filter", "port", NULL};
	expect_live_refusal(a1, 2, "bad filter 'port'");
	char *a2[] = {qbin(), "-l", "0,1", "--no-huge", "-m", "128", "--no-shconf", "--no-pci",
		      "--log-level=error", "--vdev", "net_ring0", "--", "--http-addr", "localhost:x",
		      "--duration", "1", NULL};
	expect_live_refusal(a2, 1, "cannot serve HTTP on localhost:x");
	char *a3[] = {qbin(), "-l", "0,1", "--no-huge", "--", "--pcap", "x.pcap", NULL};
	expect_live_refusal(a3, 1, "--pcap is offline mode");
}

/*
 * The flow memory is made and faulted in at start-up: a budget the machine
 * cannot hold is refused then, with what it takes, never left to the OOM
 * killer once traffic comes.
 */
Test(live_bad, a_flow_budget_beyond_the_memory_is_refused_at_start)
{
	/* 2^26 flows (the most a table holds) take 56,386 MiB a worker lcore:
	 * a machine with that much available would start: not this one */
	FILE *f = fopen("/proc/meminfo", "r");
	cr_assert_not_null(f);
	char line[128];
	unsigned long long kb = 0;
	while (fgets(line, sizeof(line), f) && sscanf(line, "MemAvailable: %llu kB", &kb) != 1)
		;
	fclose(f);
	if (kb > 56386ULL << 10)
		cr_skip_test("%llu kB available: the budget would fit", kb);
	char *argv[] = {qbin(), "-l", "0,1", "--no-huge", "-m", "128", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", "net_ring0", "--", "--duration", "1",
			"--qmcp-port", "0", "--http-port", "0", "--flow-budget", "67108864", NULL};
	expect_live_refusal(argv, 4,
			    "qprobe: 67108864 flows and 4096 RTT distributions per worker lcore take "
			    "56386 MiB each, more than lcore 1 can have: ask for fewer (--flow-budget, "
			    "--flow-rtt-dists)");
}

/*
 * `qp_gen KIND` (qos: 60 TCP flows with random RTTs and retransmissions,
 * three RTP streams with jitter and losses; dns: UDP and TCP DNS clients) as
 * net_pcap gives it: microseconds (the PMD reads files at that precision),
 * shifted to start on a whole second so that the live intervals (on the
 * wall clock's grid) and the offline ones (from the first frame) are the
 * same intervals. @return the frame count.
 */
static long gen_capture_us(const char *kind, const char *path)
{
	char ns[256], cmd[600];
	snprintf(ns, sizeof(ns), "%s/%s-ns.pcap", qp_tmpdir(), kind);
	snprintf(cmd, sizeof(cmd), "%s/qp_gen %s %s > /dev/null", qp_build(), kind, ns);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *in = pcap_open_offline_with_tstamp_precision(ns, PCAP_TSTAMP_PRECISION_MICRO, eb);
	cr_assert_not_null(in, "%s", eb);
	pcap_t *dead = pcap_open_dead_with_tstamp_precision(pcap_datalink(in), 65535,
							    PCAP_TSTAMP_PRECISION_MICRO);
	pcap_dumper_t *out = pcap_dump_open(dead, path);
	cr_assert_not_null(out, "%s", pcap_geterr(dead));
	struct pcap_pkthdr *h;
	const u_char *d;
	long n = 0, shift = -1;
	while (pcap_next_ex(in, &h, &d) == 1) {
		struct pcap_pkthdr o = *h;
		if (shift < 0)
			shift = (long)h->ts.tv_usec;
		long us = (long)o.ts.tv_sec * 1000000L + (long)o.ts.tv_usec - shift;
		o.ts.tv_sec = us / 1000000L;
		o.ts.tv_usec = us % 1000000L;
		pcap_dump((u_char *)out, &o, d);
		n++;
	}
	pcap_dump_close(out);
	pcap_close(dead);
	pcap_close(in);
	return n;
}

/*
 * Every flow of the offline report `off` in the live list `live`, field for
 * field but for how it ended (the file's end, the probe's stop or not yet).
 */
static void expect_same_flows(json_t *live, json_t *off, const char *what)
{
	json_t *lf = json_object_get(live, "flows"), *of = json_object_get(off, "flows");
	cr_assert_eq(json_array_size(lf), json_array_size(of), "%s: %zu flows live, %zu offline",
		     what, json_array_size(lf), json_array_size(of));
	size_t i;
	json_t *f;
	json_array_foreach(of, i, f)
	{
		const char *src = json_string_value(json_object_get(f, "src"));
		int sp = (int)json_integer_value(json_object_get(f, "sport"));
		json_t *g = qp_find_flow(live, src, sp, json_string_value(json_object_get(f, "dst")),
					 (int)json_integer_value(json_object_get(f, "dport")));
		cr_assert_not_null(g, "%s: live lacks the flow from %s:%d", what, src, sp);
		json_t *a = json_deep_copy(g), *b = json_deep_copy(f);
		json_object_del(a, "end");
		json_object_del(b, "end");
		char *ta = json_dumps(a, JSON_SORT_KEYS), *tb = json_dumps(b, JSON_SORT_KEYS);
		cr_expect_str_eq(ta, tb, "%s: flow %s:%d", what, src, sp);
		free(ta);
		free(tb);
		json_decref(a);
		json_decref(b);
	}
}

/* The figures of two reports, field by field: totals, every flow, every interval. */
static void expect_same_figures(json_t *live, json_t *off, size_t min_flows)
{
	const char *tot[] = {"tcp", "rtp", "icmp", "dns", "quic", "tls", "mpegts"};
	for (int k = 0; k < 7; k++) {
		char *a = json_dumps(json_object_get(live, tot[k]), JSON_SORT_KEYS);
		char *b = json_dumps(json_object_get(off, tot[k]), JSON_SORT_KEYS);
		cr_expect_str_eq(a, b, "%s: live and offline differ", tot[k]);
		free(a);
		free(b);
	}
	cr_assert_geq(json_array_size(json_object_get(off, "flows")), min_flows);
	expect_same_flows(live, off, "port time");
	size_t i;
	json_t *f;
	json_t *li = json_object_get(live, "intervals"), *oi = json_object_get(off, "intervals");
	cr_assert_eq(json_array_size(li), json_array_size(oi));
	json_array_foreach(oi, i, f)
	{
		json_t *g = json_array_get(li, i);
		const char *keys[] = {"start_ns", "packets", "bytes", "tcp",  "rtp",
				      "icmp",     "dns",     "quic",  "tls",  "mpegts"};
		for (int k = 0; k < 10; k++) {
			char *a = json_dumps(json_object_get(g, keys[k]), JSON_SORT_KEYS | JSON_ENCODE_ANY);
			char *b = json_dumps(json_object_get(f, keys[k]), JSON_SORT_KEYS | JSON_ENCODE_ANY);
			cr_expect_str_eq(a, b, "interval %zu: %s", i, keys[k]);
			free(a);
			free(b);
		}
	}
}

/*
 * The latest closed interval of measurement 1 (its JSON object, a new
 * reference) and /metrics read between two readings of it that agree: no
 * interval closed in between, so /metrics showed this one.
 */
static json_t *latest_with_metrics(int port, char **m)
{
	*m = NULL;
	for (int tries = 0;; tries++) {
		json_t *a = get_json(port, "/api/v1/intervals?measurement=1&last=1", 200);
		free(*m);
		cr_assert_eq(qp_http_get(port, "/metrics", m), 200);
		json_t *b = get_json(port, "/api/v1/intervals?measurement=1&last=1", 200);
		json_t *ia = json_array_get(json_object_get(a, "intervals"), 0);
		json_t *ib = json_array_get(json_object_get(b, "intervals"), 0);
		int same = ia && ib && json_equal(json_object_get(ia, "start_ns"), json_object_get(ib, "start_ns"));
		json_t *iv = same ? json_incref(ia) : NULL;
		json_decref(a);
		json_decref(b);
		if (iv)
			return iv;
		cr_assert_lt(tries, 50, "an interval closed at each of 50 tries");
	}
}

/* The DNS gauges of /metrics: the figures of the latest closed interval. */
static void expect_dns_gauges(int port)
{
	char *m;
	json_t *a = latest_with_metrics(port, &m);
	json_t *d = json_object_get(a, "dns");
	cr_assert_not_null(d);
	const char *kinds[] = {"queries", "responses", "answered", "unanswered", "retransmitted",
			       "unmatched", "truncated"};
	for (int k = 0; k < 7; k++) {
		char want[200];
		snprintf(want, sizeof(want), "\nqprobe_meas_dns_messages{measurement=\"1\",kind=\"%s\"} %lld\n",
			 kinds[k], (long long)json_integer_value(json_object_get(d, kinds[k])));
		cr_expect(strstr(m, want) != NULL, "%s not in /metrics", want);
	}
	const char *rk;
	json_t *rv;
	json_object_foreach(json_object_get(d, "rcodes"), rk, rv) {
		char want[200];
		snprintf(want, sizeof(want),
			 "\nqprobe_meas_dns_responses_by_rcode{measurement=\"1\",rcode=\"%s\"} %lld\n", rk,
			 (long long)json_integer_value(rv));
		cr_expect(strstr(m, want) != NULL, "%s not in /metrics", want);
	}
	json_t *rt = json_object_get(d, "response_time_ms");
	if (json_is_object(rt)) {
		char want[200];
		snprintf(want, sizeof(want),
			 "\nqprobe_meas_dns_response_time_seconds{measurement=\"1\",quantile=\"0.5\"} %.9f\n",
			 json_number_value(json_object_get(rt, "p50")) / 1e3);
		cr_expect(strstr(m, want) != NULL, "%s not in /metrics", want);
	}
	cr_expect_gt(json_integer_value(json_object_get(d, "queries")), 0,
		     "the latest interval has DNS (the test shows a figure)");
	free(m);
	json_decref(a);
}

/* /metrics' TLS gauges: the latest interval's handshake quantiles. */
static void expect_tls_gauges(int port)
{
	char *m;
	json_t *a = latest_with_metrics(port, &m);
	json_t *t = json_object_get(a, "tls");
	static const char *const phase[2] = {"client_hello_to_server_hello", "server_hello_to_client_data"};
	int shown = 0;
	for (int k = 0; k < 2; k++) {
		char key[64], want[256];
		snprintf(key, sizeof(key), "%s_ms", phase[k]);
		json_t *h = json_object_get(t, key);
		snprintf(want, sizeof(want),
			 "\nqprobe_meas_tls_handshake_seconds{measurement=\"1\",phase=\"%s\",quantile=\"0.5\"} ",
			 phase[k]);
		if (!json_is_object(h)) {
			cr_expect(strstr(m, want) == NULL, "%s in /metrics, not in the interval", want);
			continue;
		}
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%.9f\n",
			 json_number_value(json_object_get(h, "p50")) / 1e3);
		cr_expect(strstr(m, want) != NULL, "%s not in /metrics", want);
		shown++;
	}
	cr_expect_gt(shown, 0, "the latest interval has a TLS figure (the test shows one)");
	free(m);
	json_decref(a);
}

/* /metrics' QUIC gauges and qmctl's QUIC column: the latest intervals' figures. */
static void expect_quic_gauges(int port, int qport)
{
	char *m;
	json_t *a = latest_with_metrics(port, &m);
	json_t *q = json_object_get(a, "quic");
	int shown = 0;
	for (int d = 0; d < 2; d++) {
		json_t *rt = json_object_get(q, d ? "rtt_rev_ms" : "rtt_ms");
		if (!json_is_object(rt))
			continue;
		char want[200];
		snprintf(want, sizeof(want),
			 "\nqprobe_meas_quic_rtt_seconds{measurement=\"1\",dir=\"%s\",quantile=\"0.99\"} %.9f\n",
			 d ? "rev" : "fwd", json_number_value(json_object_get(rt, "p99")) / 1e3);
		cr_expect(strstr(m, want) != NULL, "%s not in /metrics", want);
		shown++;
	}
	cr_expect_gt(shown, 0, "the latest interval has spin samples");
	free(m);
	json_decref(a);
	/* qmctl: each interval's QUIC cell is its JSON's spin p50 */
	static char out[65536], err[4096];
	char *js[] = {"--json", "results", "1", "--last", "8", NULL};
	cr_assert_eq(qp_qmctl(qport, NULL, js, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	json_t *all = json_loads(out, 0, NULL);
	char *tab[] = {"results", "1", "--last", "8", NULL};
	cr_assert_eq(qp_qmctl(qport, NULL, tab, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	size_t i;
	json_t *iv;
	int cells = 0;
	json_array_foreach(all, i, iv) {
		json_t *rt = json_object_get(json_object_get(iv, "quic"), "rtt_ms");
		if (!json_is_object(rt))
			continue;
		char cell[64];
		snprintf(cell, sizeof(cell), " %.3f ", json_number_value(json_object_get(rt, "p50")));
		cr_expect(strstr(out, cell) != NULL, "'%s' not in\n%s", cell, out);
		cells++;
	}
	cr_assert_geq(cells, 1);
	json_decref(all);
}

/* /metrics' MPEG-TS counts and qmctl's column: the latest intervals' figures. */
static void expect_mpegts_gauges(int port, int qport)
{
	char *m;
	json_t *a = latest_with_metrics(port, &m);
	json_t *t = json_object_get(a, "mpegts");
	static const char *const kinds[] = {"packets", "cc_errors", "lost", "sync_errors", "partial"};
	for (int k = 0; k < 5; k++) {
		char want[200];
		snprintf(want, sizeof(want), "\nqprobe_meas_mpegts_packets{measurement=\"1\",kind=\"%s\"} %ld\n",
			 kinds[k], qp_geti(t, kinds[k]));
		cr_expect(strstr(m, want) != NULL, "%s not in /metrics", want);
	}
	free(m);
	json_decref(a);
	static char out[65536], err[4096];
	char *js[] = {"--json", "results", "1", "--last", "8", NULL};
	cr_assert_eq(qp_qmctl(qport, NULL, js, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	json_t *all = json_loads(out, 0, NULL);
	char *tab[] = {"results", "1", "--last", "8", NULL};
	cr_assert_eq(qp_qmctl(qport, NULL, tab, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	cr_assert(strstr(out, "ts cc err/lost\n"), "%s", out);
	size_t i;
	json_t *iv;
	int cells = 0, errors = 0;
	json_array_foreach(all, i, iv) {
		json_t *x = json_object_get(iv, "mpegts");
		if (!qp_geti(x, "packets"))
			continue;
		char cell[64];
		snprintf(cell, sizeof(cell), " %ld/%ld\n", qp_geti(x, "cc_errors"), qp_geti(x, "lost"));
		cr_expect(strstr(out, cell) != NULL, "'%s' not in\n%s", cell, out);
		cells++;
		errors += qp_geti(x, "cc_errors") > 0;
	}
	cr_assert_geq(cells, 3);
	cr_assert_geq(errors, 1, "the damaged flows show in the intervals");
	json_decref(all);
}

/* qmctl's table of results: each interval's DNS cell is its JSON's p50 and unanswered. */
static void expect_dns_rows(int qport)
{
	static char out[65536], err[4096];
	char *js[] = {"--json", "results", "1", "--last", "8", NULL};
	cr_assert_eq(qp_qmctl(qport, NULL, js, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	json_t *all = json_loads(out, 0, NULL);
	cr_assert(json_array_size(all) >= 3, "%s", out);
	char *tab[] = {"results", "1", "--last", "8", NULL};
	cr_assert_eq(qp_qmctl(qport, NULL, tab, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	cr_assert(strstr(out, "dns p50 ms/lost "), "%s", out);
	size_t i;
	json_t *iv;
	int cells = 0;
	json_array_foreach(all, i, iv) {
		json_t *d = json_object_get(iv, "dns"), *rt = json_object_get(d, "response_time_ms");
		if (!json_is_object(rt))
			continue;
		char cell[64];
		snprintf(cell, sizeof(cell), " %.3f/%lld ", json_number_value(json_object_get(rt, "p50")),
			 (long long)json_integer_value(json_object_get(d, "unanswered")));
		cr_expect(strstr(out, cell) != NULL, "'%s' not in\n%s", cell, out);
		cells++;
	}
	cr_assert_geq(cells, 3);
	json_decref(all);
}

/*
 * A capture of `qp_gen kind` live through net_pcap with its timestamps,
 * and offline: the same figures. The PMD gives the whole file at once, so
 * its time span must fit the workers' interval slots (QP_IV_SLOTS
 * intervals of interval_ms).
 */
static void port_time_run(const char *lcores, const char *mode, const char *kind,
			  size_t min_flows, const char *interval_ms)
{
	char cap[256], off_path[256], rep[256], vdev[512], portstr[16], err[256];
	snprintf(cap, sizeof(cap), "%s/%s-us-%s.pcap", qp_tmpdir(), kind, mode);
	long frames = gen_capture_us(kind, cap);
	snprintf(off_path, sizeof(off_path), "%s/%s-off-%s.json", qp_tmpdir(), kind, mode);
	char *oargv[] = {qbin(), "--pcap", cap, "--report-file", off_path, "--interval", (char *)interval_ms,
			 NULL};
	struct qp_run_result r;
	qp_run(oargv, NULL, 120, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	json_t *off = qp_json_load(off_path);

	int port = qp_free_port(), qport = qp_free_port();
	char qportstr[16];
	snprintf(qportstr, sizeof(qportstr), "%d", qport);
	snprintf(vdev, sizeof(vdev), "net_pcap0,rx_pcap=%s", cap);
	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(rep, sizeof(rep), "%s/%s-live-%s.json", qp_tmpdir(), kind, mode);
	snprintf(err, sizeof(err), "%s/%s-live-%s.err", qp_tmpdir(), kind, mode);
	char *argv[] = {qbin(), "--lcores", (char *)lcores, "--no-huge", "-m", "512", "--no-shconf",
			"--no-pci", "--log-level=error", "--vdev", vdev, "--", "--duration", "240",
			"--qmcp-port", qportstr, "--http-port", portstr, "--timestamps", "port",
			"--report", "json", "--report-file", rep, "--interval", (char *)interval_ms, NULL};
	int pid = qp_spawn(argv, NULL, err);
	json_t *st = wait_for_all_frames(port, pid, frames);
	cr_assert_str_eq(json_string_value(json_object_get(st, "mode")), mode);
	cr_assert_str_eq(json_string_value(json_object_get(st, "timestamp_source")), "port");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(st, "clock"), "source")), "port");
	cr_assert(json_is_true(json_object_get(json_array_get(json_object_get(st, "ports"), 0),
					       "rx_timestamps")));
	size_t i;
	json_t *lc;
	json_array_foreach(json_object_get(st, "lcores"), i, lc)
		cr_assert_eq(json_integer_value(json_object_get(lc, "ts_missing")), 0);
	json_decref(st);
	if (!strcmp(kind, "dns")) {
		expect_dns_gauges(port);
		expect_dns_rows(qport);
	}
	if (!strcmp(kind, "quic"))
		expect_quic_gauges(port, qport);
	if (!strcmp(kind, "tls"))
		expect_tls_gauges(port);
	if (!strcmp(kind, "mpegts"))
		expect_mpegts_gauges(port, qport);
	kill(pid, SIGTERM);
	qp_wait(pid, 60, &r, err);
	cr_assert(r.exited && r.status == 0, "exit %d: %s", r.status, r.err);
	json_t *live = qp_json_load(rep);
	cr_assert_not_null(live);
	expect_same_figures(live, off, min_flows);
	json_decref(live);
	json_decref(off);
}

/*
 * Packet results live: the standing measurement records every packet of
 * qp_gen qos replayed at its own times; each closed interval that still
 * carries its records (the latest 16) adds up to its figures.
 */
Test(live, packet_results_add_up_to_each_interval, .timeout = 300)
{
	char cap[256], vdev[512], portstr[16], err[256];
	snprintf(cap, sizeof(cap), "%s/qos-us-pres.pcap", qp_tmpdir());
	long frames = gen_capture_us("qos", cap);
	int port = qp_free_port();
	snprintf(vdev, sizeof(vdev), "net_pcap0,rx_pcap=%s", cap);
	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(err, sizeof(err), "%s/pres-live.err", qp_tmpdir());
	char *argv[] = {qbin(), "--lcores", "0,1", "--no-huge", "-m", "512", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", vdev, "--", "--duration", "240", "--qmcp-port", "0",
			"--http-port", portstr, "--timestamps", "port", "--measure", "--interval", "1000",
			"--packet-rate", "1000000", NULL};
	int pid = qp_spawn(argv, NULL, err);
	json_decref(wait_for_all_frames(port, pid, frames));
	json_t *a = get_json(port, "/api/v1/intervals?measurement=1&last=600", 200);
	json_t *ivs = json_object_get(a, "intervals"), *iv;
	size_t i;
	int checked = 0;
	long shown = 0;
	json_array_foreach(ivs, i, iv) {
		json_t *pr = json_object_get(iv, "packet_results");
		if (!pr)
			continue;
		cr_assert_str_eq(json_string_value(json_object_get(pr, "columns")),
				 "ts_ns,src,sport,dst,dport,proto,dir,wire_len,tcp_rtt_ms,tcp_rtt_dir,tcp_retrans,"
				 "tcp_ooo,tcp_dup_ack,rtp_ssrc,rtp_seq,rtp_received,rtp_expected,rtp_jitter_ms,tp_sig");
		cr_expect_eq(qp_geti(pr, "not_recorded"), 0);
		json_t *rows = json_object_get(pr, "rows");
		size_t n = json_array_size(rows);
		char **r = calloc(n + 1, sizeof(*r));
		for (size_t k = 0; k < n; k++)
			r[k] = (char *)json_string_value(json_array_get(rows, k));
		shown += qp_expect_rows_add_up(iv, r, n);
		free(r);
		checked++;
	}
	cr_expect_geq(checked, 10, "the latest 16 intervals keep their packets");
	cr_expect_gt(shown, 500);
	json_decref(a);
	struct qp_run_result res;
	kill(pid, SIGTERM);
	qp_wait(pid, 60, &res, err);
	cr_assert(res.exited && res.status == 0, "exit %d: %s", res.status, res.err);
}

Test(live, port_timestamps_of_net_pcap_give_the_offline_figures, .timeout = 300)
{
	port_time_run("0,1", "single_worker", "qos", 61, "1000");
}

Test(live, tls_figures_live_equal_the_offline_ones, .timeout = 300)
{
	/* through the distributor: a connection's two directions meet */
	port_time_run("0@0,(1-3)@1", "software_distribution", "tls", 8, "100");
}

Test(live, quic_figures_live_equal_the_offline_ones, .timeout = 300)
{
	port_time_run("0,1", "single_worker", "quic", 10, "1000");
}

Test(live, mpegts_figures_live_equal_the_offline_ones, .timeout = 300)
{
	port_time_run("0,1", "single_worker", "mpegts", 5, "100");
}

Test(live, dns_figures_live_equal_the_offline_ones, .timeout = 300)
{
	/* through the distributor: a TCP connection's two directions meet */
	port_time_run("0@0,(1-3)@1", "software_distribution", "dns", 26, "2000");
}

Test(live, port_timestamps_through_the_distributor_give_the_offline_figures, .timeout = 300)
{
	/* a distributor and two workers on one CPU */
	port_time_run("0@0,(1-3)@1", "software_distribution", "qos", 61, "1000");
}

Test(live_bad, timestamps_option)
{
	char *argv[] = {qbin(), "-l", "0,1", "--no-huge", "-m", "128", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", "net_ring0", "--", "--timestamps", "nic", NULL};
	expect_live_refusal(argv, 1, "--timestamps 'nic': expected tsc or port");
}

Test(live, a_probe_on_file_times_takes_no_two_point_role, .timeout = 120)
{
	int qport = qp_free_port(), hport = qp_free_port();
	char vdev[512], qs[16], hs[16], err[256];
	snprintf(vdev, sizeof(vdev), "net_pcap0,rx_pcap=%s", demo());
	snprintf(qs, sizeof(qs), "%d", qport);
	snprintf(hs, sizeof(hs), "%d", hport);
	snprintf(err, sizeof(err), "%s/no-tp.err", qp_tmpdir());
	char *argv[] = {qbin(), "-l", "0,1", "--no-huge", "-m", "256", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", vdev, "--", "--duration", "60", "--qmcp-addr",
			"127.0.0.1", "--qmcp-port", qs, "--http-port", hs, "--timestamps", "port", NULL};
	int pid = qp_spawn(argv, NULL, err);
	char out[8192], e[8192];
	char *info[] = {"--json", "info", NULL};
	int rc = -1;
	for (int i = 0; i < 200 && rc != 0; i++) {
		rc = qp_qmctl(qport, NULL, info, out, sizeof(out), e, sizeof(e));
		if (rc != 0)
			nap_ms(50);
	}
	cr_assert_eq(rc, 0, "%s", e);
	json_t *j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "%s", out);
	cr_assert(json_is_false(json_object_get(j, "two_point")), "%s", out);
	json_decref(j);
	char *tp[] = {"start", "--peer", "127.0.0.1:9", NULL};
	cr_assert_eq(qp_qmctl(qport, NULL, tp, out, sizeof(out), e, sizeof(e)), 2, "%s", e);
	cr_assert(strstr(e, "BAD_PARAM: two-point: this probe stamps frames with their capture "
			    "file's times (--timestamps port on net_pcap), which no other point shares"),
		  "%s", e);
	/* and a one-point measurement is taken as usual */
	char *one[] = {"start", "--interval", "100", NULL};
	cr_assert_eq(qp_qmctl(qport, NULL, one, out, sizeof(out), e, sizeof(e)), 0, "%s", e);
	cr_assert_str_eq(out, "measurement 1 started\n");
	qp_stop_clean(pid, err);
}

/*
 * The management core stalls for 20 intervals while the worker goes on
 * (its thread stopped with ptrace, the rest of the probe running): every
 * interval it closes afterwards is either whole, with the traffic that was
 * there (frames never stop: net_pcap loops), or says it is incomplete. None
 * is reported as an interval without traffic.
 */
Test(live, a_stalled_management_core_reports_lost_intervals_as_incomplete, .timeout = 180)
{
	int hport = qp_free_port();
	char vdev[512], hs[16], err[256];
	snprintf(vdev, sizeof(vdev), "net_pcap0,rx_pcap=%s,infinite_rx=1", demo());
	snprintf(hs, sizeof(hs), "%d", hport);
	snprintf(err, sizeof(err), "%s/stall.err", qp_tmpdir());
	char *argv[] = {qbin(), "-l", "0,1", "--no-huge", "-m", "256", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", vdev, "--", "--duration", "120", "--qmcp-port",
			"0", "--http-port", hs, "--measure", "--interval", "100", NULL};
	int pid = qp_spawn(argv, NULL, err);
	/* a few intervals closed in time first */
	long closed = 0;
	for (int i = 0; i < 400 && closed < 5; i++) {
		char *body = NULL;
		if (qp_http_get(hport, "/api/v1/measurements/1", &body) == 200) {
			json_t *j = json_loads(body, 0, NULL);
			closed = (long)json_integer_value(json_object_get(j, "intervals"));
			json_decref(j);
		}
		free(body);
		cr_assert_eq(kill(pid, 0), 0, "qprobe exited early");
		nap_ms(25);
	}
	cr_assert_geq(closed, 5);
	/* the main thread (the management core) stops; the worker lcore runs on */
	cr_assert_eq(ptrace(PTRACE_SEIZE, pid, NULL, NULL), 0, "ptrace: %s", strerror(errno));
	cr_assert_eq(ptrace(PTRACE_INTERRUPT, pid, NULL, NULL), 0, "ptrace: %s", strerror(errno));
	int ws;
	cr_assert_eq(waitpid(pid, &ws, __WALL), pid);
	nap_ms(2000); /* 20 intervals of 100 ms */
	cr_assert_eq(ptrace(PTRACE_DETACH, pid, NULL, NULL), 0, "ptrace: %s", strerror(errno));
	nap_ms(500);
	char *body = NULL;
	cr_assert_eq(qp_http_get(hport, "/api/v1/intervals?measurement=1&last=600", &body), 200);
	json_t *ivj = json_loads(body, 0, NULL);
	free(body);
	json_t *ivs = json_object_get(ivj, "intervals");
	cr_assert(json_is_array(ivs));
	size_t i, n = json_array_size(ivs), incomplete = 0;
	json_t *iv;
	int64_t prev = -1;
	json_array_foreach(ivs, i, iv)
	{
		int64_t start = (int64_t)json_integer_value(json_object_get(iv, "start_ns"));
		long pk = (long)(json_integer_value(json_object_get(json_object_get(iv, "packets"), "fwd")) +
				 json_integer_value(json_object_get(json_object_get(iv, "packets"), "rev")));
		int complete = json_is_true(json_object_get(iv, "complete"));
		/* consecutive: nothing skipped without a word */
		if (prev >= 0)
			cr_assert_eq(start - prev, 100000000, "interval %zu starts %lld ns after the one before",
				     i, (long long)(start - prev));
		prev = start;
		if (!complete) {
			incomplete++;
			cr_assert_eq(json_integer_value(json_object_get(iv, "lcores_missed")), 1);
		} else if (i > 0 && i + 1 < n) {
			/* whole intervals (the first and the last are cut) carry the traffic */
			cr_assert_gt(pk, 0, "interval %zu reported as complete without a frame", i);
		}
	}
	cr_log_info("%zu intervals after the stall, %zu incomplete", n, incomplete);
	/* a management core 20 intervals late finds the 8 slots' worth and loses the rest */
	cr_assert_geq(incomplete, 20 - 8 /* the worker's slots */ - 2, "%zu of %zu incomplete", incomplete, n);
	char *mb = NULL;
	cr_assert_eq(qp_http_get(hport, "/api/v1/measurements/1", &mb), 200);
	json_t *mj = json_loads(mb, 0, NULL);
	free(mb);
	cr_assert_eq((size_t)json_integer_value(json_object_get(mj, "intervals_incomplete")), incomplete);
	json_decref(mj);
	char *metrics = NULL, want[128];
	cr_assert_eq(qp_http_get(hport, "/metrics", &metrics), 200);
	snprintf(want, sizeof(want), "\nqprobe_meas_intervals_incomplete_total{measurement=\"1\"} %zu\n",
		 incomplete);
	cr_assert(strstr(metrics, want), "no '%s' in /metrics", want + 1);
	free(metrics);
	json_decref(ivj);
	qp_stop_clean(pid, err);
}

/*
 * Measurements that share the lcore's flow table (the same flow semantics,
 * different filters: none, one of hosts and protocols judged once a flow,
 * and one of TCP flags that splits flows) each give the flows offline gives
 * with the same filter, figure for figure (port time: the file's).
 */
Test(live, measurements_sharing_a_flow_table_each_give_their_offline_flows, .timeout = 300)
{
	static const char *filters[] = {"", "tcp or host 10.10.0.5", "tcp[13] & 2 != 0 or udp"};
	char cap[256], cfgp[256], vdev[512], portstr[16], err[256];
	snprintf(cap, sizeof(cap), "%s/qos-us-shared.pcap", qp_tmpdir());
	long frames = gen_capture_us("qos", cap);
	snprintf(cfgp, sizeof(cfgp), "%s/shared.json", qp_tmpdir());
	FILE *f = fopen(cfgp, "w");
	cr_assert_not_null(f);
	fprintf(f, "{\"measurements\": [{\"description\": \"all\"}, {\"filter\": \"%s\"}, "
		   "{\"filter\": \"%s\"}]}\n",
		filters[1], filters[2]);
	fclose(f);
	int port = qp_free_port();
	snprintf(vdev, sizeof(vdev), "net_pcap0,rx_pcap=%s", cap);
	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(err, sizeof(err), "%s/shared.err", qp_tmpdir());
	char *argv[] = {qbin(), "--lcores", "0,1", "--no-huge", "-m", "512", "--no-shconf",
			"--no-pci", "--log-level=error", "--vdev", vdev, "--", "--config", cfgp,
			"--qmcp-port", "0", "--http-port", portstr, "--timestamps", "port", NULL};
	int pid = qp_spawn(argv, NULL, err);
	json_decref(wait_for_frames(port, pid, frames, 3));
	for (int k = 0; k < 3; k++) {
		char off_path[256], path[128];
		snprintf(off_path, sizeof(off_path), "%s/shared-off-%d.json", qp_tmpdir(), k);
		char *oargv[] = {qbin(), "--pcap", cap, "--filter", (char *)filters[k], "--report-file",
				 off_path, NULL};
		struct qp_run_result r;
		qp_run(oargv, NULL, 120, &r);
		cr_assert_eq(r.status, 0, "%s", r.err);
		json_t *off = qp_json_load(off_path);
		snprintf(path, sizeof(path), "/api/v1/measurements/%d", k + 1);
		json_t *st = get_json(port, path, 200);
		cr_assert_eq(json_integer_value(json_object_get(json_object_get(st, "memory"), "shared_by")),
			     3, "one table for the three");
		json_decref(st);
		snprintf(path, sizeof(path), "/api/v1/flows?measurement=%d&top=1000", k + 1);
		json_t *live = get_json(port, path, 200);
		cr_assert_gt(json_array_size(json_object_get(off, "flows")), k == 2 ? 20 : 60, "'%s'",
			     filters[k]);
		expect_same_flows(live, off, filters[k]);
		json_decref(live);
		json_decref(off);
	}
	qp_stop_clean(pid, err);
}
