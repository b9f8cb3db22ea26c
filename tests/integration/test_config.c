/*
 * The configuration file for an unattended probe: every new section's bad
 * values (wrong type, out of range, unknown key, unreadable or world-readable
 * secret file, lcore and PCI syntax, no port, log level, EAL extras) are
 * refused with their JSON paths; a complete file starts a probe with
 * `qprobe --config FILE` alone, on a vdev, with its HTTP port, flow limits,
 * port settings and standing measurement; a file without $.dpdk says how to
 * start instead.
 *
 * Live: starts DPDK probes (tests/run.sh runs such binaries one at a time).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qp_run.h"

static char *qbin(void)
{
	static char bin[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	return bin;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

Test(config, every_bad_value_named_by_its_path)
{
	char bad[256], loose[256], text[2048];
	snprintf(bad, sizeof(bad), "%s/bad.json", qp_tmpdir());
	snprintf(loose, sizeof(loose), "%s/loose-secret", qp_tmpdir());
	write_file(loose, "a-secret-that-anyone-can-read-0123\n", 0644);
	snprintf(text, sizeof(text),
		 "{\"dpdk\": {\"lcores\": \"0 to 3\", \"ports\": [\"3b:00\", 7], \"hugepages\": \"yes\",\n"
		 "          \"memory_mb\": 10, \"file_prefix\": \"a/b\", \"extra\": [\"iova va\"], \"cores\": 2},\n"
		 " \"http\": {\"addr\": 5, \"port\": -1},\n"
		 " \"flows\": {\"max_flows\": 8, \"flow_budget\": \"many\"},\n"
		 " \"ports\": {\"mbufs\": 10, \"rx_desc\": 99999, \"drivers_cfg\": \"/nonexistent\"},\n"
		 " \"log_level\": \"chatty\",\n"
		 " \"push\": {\"spool\": 3, \"spool_mb\": 0, \"spool_dir\": \"/x\"},\n"
		 " \"ipfix\": {\"domain\": -1, \"template_s\": 60},\n"
		 " \"measurements\": [{\"ipfix\": [\"c:4739/sctp\", 5, \"[::1]:0\"]},\n"
		 "                   {\"ipfix\": [\"a:1\", \"b:2\", \"c:3\", \"d:4\", \"e:5\"]},\n"
		 "                   {\"dns_ports\": [53, 0], \"tls_sni\": \"yes\", \"metrics\": [\"dns\", \"voip\"]}],\n"
		 " \"qmcp\": {\"secret_file\": \"%s\"}}\n",
		 loose);
	write_file(bad, text, 0644);
	char *argv[] = {qbin(), "--check-config", bad, NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 60, &r);
	cr_assert(r.exited && r.status == 1, "exit %d: %s", r.status, r.err);
	static const char *const want[] = {
		"$.dpdk.cores: unknown key; accepted here: lcores, ports, vdevs, hugepages, memory_mb, file_prefix, extra",
		"$.dpdk.lcores: an EAL lcore list is expected, e.g. \"0-3\" or \"0,2,4\"",
		"$.dpdk.ports[0]: PCI addresses (\"0000:3b:00.0\") is expected",
		"$.dpdk.ports[1]: PCI addresses (\"0000:3b:00.0\") is expected",
		"$.dpdk.hugepages: true or false is expected",
		"$.dpdk.memory_mb: a whole number from 64 to 1048576 is expected",
		"$.dpdk.file_prefix: a name without '/' or spaces is expected",
		"$.dpdk.extra[0]: EAL options, one per string (\"--iova-mode=va\") is expected",
		"$.http.addr: a string is expected",
		"$.http.port: a whole number from 0 to 65535 is expected",
		"$.flows.max_flows: a whole number from 16 to 16777216 is expected",
		"$.flows.flow_budget: a whole number from 16 to 67108864 is expected",
		"$.ports.mbufs: a whole number from 1023 to 16777215 is expected",
		"$.ports.rx_desc: a whole number from 64 to 32768 is expected",
		"$.ports.drivers_cfg: /nonexistent is not a readable directory of NIC profiles",
		"$.log_level: one of error, warning, info, debug is expected",
		"$.push.spool_dir: unknown key; accepted here: spool, spool_mb",
		"$.push.spool: a string is expected",
		"$.push.spool_mb: a whole number from 1 to 1048576 is expected",
		"$.ipfix.template_s: unknown key; accepted here: domain",
		"$.ipfix.domain: a whole number from 0 to 4294967295 is expected",
		"$.measurements[0].ipfix[0]: IPFIX collector 'c:4739/sctp': transport 'sctp' is not known (udp or tcp; SCTP is not supported)",
		"$.measurements[0].ipfix[1]: a string is expected: HOST:PORT[/udp|/tcp] ([V6ADDR]:PORT for IPv6 addresses; udp by default)",
		"$.measurements[0].ipfix[2]: IPFIX collector '[::1]:0': port '0' is not 1..65535",
		"$.measurements[1].ipfix: an array of at most 4 \"HOST:PORT[/udp|/tcp] ([V6ADDR]:PORT for IPv6 addresses; udp by default)\" strings is expected",
		"$.measurements[2].dns_ports: an array of 1 to 8 ports from 1 to 65535 is expected",
		"$.measurements[2].tls_sni: true or false is expected",
		"$.measurements[2].metrics[1]: one of traffic, tcp, rtp, icmp, dns, quic, tls, mpegts is expected",
		"$.qmcp.secret_file: ",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect(strstr(r.err, want[i]) != NULL, "'%s' in:\n%s", want[i], r.err);
	cr_expect(strstr(r.err, "(mode 0644); only its owner may: chmod 600") != NULL,
		  "the secret file's mode and the fix are named: %s", r.err);
	/* a missing secret file too */
	write_file(bad, "{\"qmcp\": {\"secret_file\": \"/nonexistent/secret\"}}", 0644);
	qp_run(argv, NULL, 60, &r);
	cr_expect_eq(r.status, 1);
	cr_expect(strstr(r.err, "$.qmcp.secret_file: ") && strstr(r.err, "/nonexistent/secret"), "%s",
		  r.err);
}

Test(config, the_file_alone_starts_a_probe, .timeout = 120)
{
	char cfg[256], text[2048], out[256];
	snprintf(cfg, sizeof(cfg), "%s/probe.json", qp_tmpdir());
	snprintf(out, sizeof(out), "%s/probe.out", qp_tmpdir());
	int http = qp_free_port();
	snprintf(text, sizeof(text),
		 "{\"probe\": {\"id\": \"cfg-only\"},\n"
		 " \"dpdk\": {\"lcores\": \"0@0,1@1\", \"vdevs\": [\"net_pcap0,rx_pcap=tests/data/demo.pcap\"],\n"
		 "          \"hugepages\": false, \"memory_mb\": 512, \"file_prefix\": \"qpcfg%d\"},\n"
		 " \"http\": {\"addr\": \"127.0.0.1\", \"port\": %d},\n"
		 " \"flows\": {\"max_flows\": 4096, \"flow_budget\": 65536},\n"
		 " \"ports\": {\"mbufs\": 4095, \"rx_desc\": 512, \"drivers_cfg\": \"drivers-cfg\"},\n"
		 " \"log_level\": \"warning\",\n"
		 " \"qmcp\": {\"port\": 0},\n"
		 " \"measurements\": [{\"description\": \"everything\", \"interval_ms\": 200,\n"
		 "                   \"dns_ports\": [53, 5353], \"tls_sni\": true}]}\n",
		 getpid(), http);
	write_file(cfg, text, 0644);
	char err[256];
	snprintf(err, sizeof(err), "%s/probe.err", qp_tmpdir());
	char *argv[] = {qbin(), "--config", cfg, NULL};
	int pid = qp_spawn(argv, out, err);
	json_t *st = qp_stats_when_packets(http, 163, 15);
	cr_assert_not_null(st, "the probe never served its stats on port %d", http);
	cr_expect_str_eq(json_string_value(json_object_get(st, "probe_id")), "cfg-only");
	json_t *p0 = json_array_get(json_object_get(st, "ports"), 0);
	cr_expect_str_eq(json_string_value(json_object_get(p0, "profile")), "pcap.json");
	json_decref(st);
	char *body = NULL;
	cr_assert_eq(qp_http_get(http, "/api/v1/measurements/1", &body), 200);
	json_t *m = json_loads(body, 0, NULL);
	free(body);
	cr_expect_str_eq(json_string_value(json_object_get(m, "description")), "everything");
	cr_expect_eq(json_integer_value(json_object_get(m, "max_flows")), 4096, "flows.max_flows");
	cr_expect_str_eq(json_string_value(json_object_get(m, "owner")), "config");
	json_t *dp = json_object_get(m, "dns_ports");
	cr_expect_eq(json_array_size(dp), 2);
	cr_expect_eq(json_integer_value(json_array_get(dp, 1)), 5353, "dns_ports");
	cr_expect(json_is_true(json_object_get(m, "tls_sni")), "tls_sni");
	json_decref(m);
	kill(pid, SIGTERM);
	struct qp_run_result r;
	qp_wait(pid, 60, &r, err);
	cr_expect(r.exited && r.status == 0, "exit %d: %s", r.status, r.err);
	/* log level warning: no start-up information lines */
	cr_expect(strstr(r.err, "qprobe: HTTP on") == NULL, "%s", r.err);
	cr_expect(strstr(r.err, "profile") == NULL, "%s", r.err);
}

Test(config, a_file_without_dpdk_says_how_to_start)
{
	char cfg[256];
	snprintf(cfg, sizeof(cfg), "%s/nodpdk.json", qp_tmpdir());
	write_file(cfg, "{\"probe\": {\"id\": \"x\"}}\n", 0644);
	char *argv[] = {qbin(), "--config", cfg, NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 30, &r);
	cr_expect(r.exited && r.status == 1, "exit %d", r.status);
	cr_expect(strstr(r.err, "has no $.dpdk section: give EAL options then -- on the command line, "
				"or add $.dpdk (lcores and ports) to the file"), "%s", r.err);
}
