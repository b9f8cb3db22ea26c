/*
 * The flow key end to end: one TCP connection (10.0.0.1:40000 -> 10.0.0.2:80)
 * eight times at once, in two VXLAN VNIs, two QinQ C-tags, two GRE keys and
 * two GTP-U tunnels (`qp_gen tenants`). Offline, each key choice gives the
 * flows it should, with their figures; live, through the software
 * distributor and two workers, the same flows with the same figures.
 *
 * Live: starts DPDK probes (tests/run.sh runs such binaries one at a time).
 */
#include <criterion/criterion.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qp_run.h"

static char *qbin(void)
{
	static char bin[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	return bin;
}

/* The tenants capture, at microseconds (what net_pcap hands on). */
static const char *tenants_us(void)
{
	static char path[256];
	char ns[256], cmd[1024];
	snprintf(path, sizeof(path), "%s/tenants-us.pcap", qp_tmpdir());
	snprintf(ns, sizeof(ns), "%s/tenants-ns.pcap", qp_tmpdir());
	snprintf(cmd, sizeof(cmd), "%s/qp_gen tenants %s && editcap -F pcap %s %s",
		 qp_build(), ns, ns, path);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, eb);
	cr_assert_not_null(p, "%s", eb);
	cr_assert_eq(pcap_get_tstamp_precision(p), PCAP_TSTAMP_PRECISION_MICRO);
	pcap_close(p);
	return path;
}

static json_t *offline(const char *cap, const char *key, const char *name)
{
	char out[256];
	snprintf(out, sizeof(out), "%s/tenants-%s.json", qp_tmpdir(), name);
	char *argv[] = {qbin(), "--pcap", (char *)cap, "--report-file", out, "--flow-key",
			(char *)(key ? key : "vlan,vni,gre-key,gtpu-peers"), NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 60, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	return qp_json_load(out);
}

static long jget(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

/* The flow whose forward packets are n (each tenant's are its own). */
static json_t *flow_with_fwd(json_t *rep, long n)
{
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(rep, "flows"), i, f)
		if (jget(f, "packets", "fwd") == n)
			return f;
	return NULL;
}

Test(flow_key, by_default_each_tenant_is_its_own_flow_with_its_own_figures)
{
	json_t *rep = offline(tenants_us(), NULL, "default");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(rep, "source"), "flow_key")),
			 "vlan,vni,gre-key,gtpu-peers");
	json_t *flows = json_object_get(rep, "flows");
	cr_assert_eq(json_array_size(flows), 8);
	/* tenant i: far RTT i + 1 ms, i + 1 exchanges: 4 + (i + 1) frames out, 2 + (i + 1) back */
	static const struct {
		const char *field;
		long value;
		long vlan;
	} ctx[8] = {{"vni", 10, -1},    {"vni", 20, -1},    {"inner_vlan", 10, 300},
		    {"inner_vlan", 20, 300}, {"gre_key", 1, -1}, {"gre_key", 2, -1},
		    {NULL, 0, -1},         {NULL, 0, -1}};
	for (int t = 0; t < 8; t++) {
		json_t *f = flow_with_fwd(rep, 5 + t);
		cr_assert_not_null(f, "tenant %d", t);
		cr_assert_str_eq(json_string_value(json_object_get(f, "src")), "10.0.0.1");
		cr_assert_eq(jget(f, "sport", NULL), 40000);
		cr_assert_str_eq(json_string_value(json_object_get(f, "dst")), "10.0.0.2");
		cr_assert_eq(jget(f, "dport", NULL), 80);
		cr_assert_eq(jget(f, "packets", "rev"), 3 + t, "tenant %d", t);
		json_t *tcp = json_object_get(f, "tcp");
		cr_assert_eq(json_real_value(json_object_get(tcp, "handshake_rtt_ms")), (double)(t + 1),
			     "tenant %d", t);
		cr_assert_eq(json_real_value(json_object_get(tcp, "handshake_ack_rtt_ms")), 0.2);
		cr_assert_eq(jget(json_object_get(tcp, "retransmissions"), "fwd", NULL), 0);
		cr_assert_eq(jget(json_object_get(tcp, "retransmissions"), "rev", NULL), 0);
		if (ctx[t].field)
			cr_assert_eq(jget(f, ctx[t].field, NULL), ctx[t].value, "tenant %d", t);
		cr_assert_eq(jget(f, "vlan", NULL), ctx[t].vlan, "tenant %d", t);
		cr_assert_null(json_object_get(f, "teid"), "tenant %d", t);
	}
	json_decref(rep);
}

Test(flow_key, the_5tuple_alone_merges_the_tenants_as_wireshark_does)
{
	json_t *rep = offline(tenants_us(), "5tuple", "5tuple");
	json_t *flows = json_object_get(rep, "flows");
	cr_assert_eq(json_array_size(flows), 1);
	json_t *f = json_array_get(flows, 0);
	/* sum over t of 4 + (t + 1) and 2 + (t + 1), t = 0..7 */
	cr_assert_eq(jget(f, "packets", "fwd"), 68);
	cr_assert_eq(jget(f, "packets", "rev"), 52);
	cr_assert_null(json_object_get(f, "vni"));
	/* eight interleaved connections on one 5-tuple look like retransmissions */
	cr_assert_gt(jget(json_object_get(json_object_get(f, "tcp"), "retransmissions"), "fwd", NULL), 0);
	json_decref(rep);
}

Test(flow_key, teid_makes_each_gtpu_direction_its_own_flow)
{
	json_t *rep = offline(tenants_us(), "vlan,vni,gre-key,teid", "teid");
	cr_assert_eq(json_array_size(json_object_get(rep, "flows")), 10);
	/* tenants 6 and 7: uplink TEIDs 0x106, 0x107 (11 and 12 frames), downlink 0x206, 0x207 */
	static const struct {
		long teid, fwd, rev;
	} want[4] = {{0x106, 11, 0}, {0x107, 12, 0}, {0x206, 0, 9}, {0x207, 0, 10}};
	for (int k = 0; k < 4; k++) {
		size_t i;
		json_t *f, *found = NULL;
		json_array_foreach(json_object_get(rep, "flows"), i, f)
			if (jget(f, "teid", NULL) == want[k].teid)
				found = f;
		cr_assert_not_null(found, "teid %#lx", want[k].teid);
		cr_assert_eq(jget(found, "packets", "fwd"), want[k].fwd, "teid %#lx", want[k].teid);
		cr_assert_eq(jget(found, "packets", "rev"), want[k].rev, "teid %#lx", want[k].teid);
		cr_assert(json_is_null(json_object_get(json_object_get(found, "tcp"), "handshake_rtt_ms")),
			  "one direction has no handshake");
	}
	json_decref(rep);
}

Test(flow_key_bad, a_wrong_flow_key_is_refused_with_what_is_accepted)
{
	char *argv[] = {qbin(), "--pcap", "tests/data/demo.pcap", "--flow-key", "vlan,qinq", NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 30, &r);
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "qprobe: --flow-key: flow key \"vlan,qinq\": \"qinq\" is not a part; "
				"\"5tuple\" or a comma-separated list of vlan, vni, gre-key, gtpu-peers, "
				"teid"), "%s", r.err);
}

static int cmp_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Flows as text, sorted, without how each ended (the file's end, the probe's stop). */
static char *flows_text(json_t *rep)
{
	json_t *a = json_deep_copy(json_object_get(rep, "flows"));
	size_t i, n = json_array_size(a);
	char **t = calloc(n, sizeof(*t));
	json_t *f;
	json_array_foreach(a, i, f)
	{
		json_object_del(f, "end");
		t[i] = json_dumps(f, JSON_SORT_KEYS);
	}
	qsort(t, n, sizeof(*t), cmp_text);
	size_t len = 1;
	for (i = 0; i < n; i++)
		len += strlen(t[i]) + 1;
	char *s = calloc(1, len);
	for (i = 0; i < n; i++) {
		strcat(s, t[i]);
		strcat(s, "\n");
		free(t[i]);
	}
	free(t);
	json_decref(a);
	return s;
}

Test(flow_key, live_through_the_distributor_gives_the_offline_flows, .timeout = 300)
{
	const char *cap = tenants_us();
	const char *key = "vlan,vni,gre-key,teid";
	json_t *off = offline(cap, key, "teid-off");
	int port = qp_free_port();
	char vdev[512], portstr[16], rep[256], err[256];
	snprintf(vdev, sizeof(vdev), "net_pcap0,rx_pcap=%s", cap);
	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(rep, sizeof(rep), "%s/tenants-live.json", qp_tmpdir());
	snprintf(err, sizeof(err), "%s/tenants-live.err", qp_tmpdir());
	/* a distributor and two workers on one CPU */
	char *argv[] = {qbin(), "--lcores", "0@0,(1-3)@1", "--no-huge", "-m", "512", "--no-shconf",
			"--no-pci", "--log-level=error", "--vdev", vdev, "--", "--duration", "240",
			"--qmcp-port", "0", "--http-port", portstr, "--timestamps", "port",
			"--flow-key", (char *)key, "--report", "json", "--report-file", rep, NULL};
	int pid = qp_spawn(argv, NULL, err);
	json_t *st = qp_stats_when_packets(port, 120, 60);
	cr_assert_not_null(st, "the probe did not measure the 120 frames");
	cr_assert_str_eq(json_string_value(json_object_get(st, "mode")), "software_distribution");
	/* the distributor spreads by address pair: all ten flows (they share one)
	 * are on one worker, none split across two. A worker counts a burst's
	 * frames before it makes their flows: the stats are read again until
	 * the flows are there too */
	long most = 0, sum = 0;
	for (int tries = 0; tries < 200 && sum < 10; tries++) {
		if (tries) {
			json_decref(st);
			struct timespec ts = {0, 50000000};
			nanosleep(&ts, NULL);
			st = qp_stats_when_packets(port, 120, 10);
			cr_assert_not_null(st);
		}
		size_t i;
		json_t *lc;
		most = sum = 0;
		json_array_foreach(json_object_get(st, "lcores"), i, lc)
		{
			long n = (long)json_integer_value(json_object_get(lc, "flows"));
			sum += n;
			most = n > most ? n : most;
		}
	}
	json_decref(st);
	qp_stop_clean(pid, err);
	json_t *live = qp_json_load(rep);
	cr_assert_not_null(live);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(live, "source"), "flow_key")),
			 key);
	char *a = flows_text(live), *b = flows_text(off);
	cr_assert_str_eq(a, b);
	free(a);
	free(b);
	cr_assert_eq(sum, 10);
	cr_assert_eq(most, 10);
	json_decref(live);
	json_decref(off);
}
