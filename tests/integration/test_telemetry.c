/*
 * DPDK telemetry: a running probe answers dpdk-telemetry.py with its own
 * counters (/qprobe/...) next to DPDK's /ethdev/stats, and they agree with
 * /api/v1/stats.
 *
 * Live: starts DPDK probes (tests/run.sh runs such binaries one at a time).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qp_run.h"

Test(telemetry, dpdk_telemetry_shows_qprobe_counters, .timeout = 120)
{
	char bin[256], prefix[64], hport[16], err[256], out[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	snprintf(prefix, sizeof(prefix), "qptel%d", getpid());
	int http = qp_free_port();
	snprintf(hport, sizeof(hport), "%d", http);
	snprintf(err, sizeof(err), "%s/probe.err", qp_tmpdir());
	char *argv[] = {bin, "-l", "0,1", "--no-huge", "-m", "512", "--file-prefix", prefix, "--no-pci",
			"--log-level=error", "--vdev", "net_pcap0,rx_pcap=tests/data/demo.pcap", "--",
			"--qmcp-port", "0", "--http-port", hport, "--measure", NULL};
	int pid = qp_spawn(argv, NULL, err);
	json_t *st = qp_stats_when_packets(http, 163, 15);
	cr_assert_not_null(st, "the probe never measured the demo");

	char cmd[512];
	snprintf(out, sizeof(out), "%s/tel.out", qp_tmpdir());
	snprintf(cmd, sizeof(cmd),
		 "printf '/\\n/qprobe/totals\\n/qprobe/ports\\n/ethdev/stats,0\\n/qprobe/lcores,0\\n"
		 "/qprobe/measurements,1\\n/qprobe/info\\n/qprobe/clock\\n' | dpdk-telemetry.py -f %s",
		 prefix);
	char *tel[] = {"/bin/sh", "-c", cmd, NULL};
	struct qp_run_result r;
	qp_run(tel, out, 60, &r);
	cr_assert(r.exited && r.status == 0, "dpdk-telemetry.py: %s", r.err);
	FILE *f = fopen(out, "r");
	cr_assert_not_null(f);
	json_t *ans = json_object();
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		json_t *j = json_loads(line, 0, NULL);
		const char *k;
		json_t *v;
		json_object_foreach(j, k, v)
			json_object_set(ans, k, v);
		json_decref(j);
	}
	free(line);
	fclose(f);
	/* the command list has ours */
	json_t *list = json_object_get(ans, "/"), *x;
	size_t i;
	int ours = 0;
	json_array_foreach(list, i, x)
		ours += !strncmp(json_string_value(x), "/qprobe/", 8);
	cr_expect_eq(ours, 8, "eight /qprobe commands listed");
	/* the packet clock: DPDK's rate beside the estimate, as in /api/v1/stats */
	json_t *clk = json_object_get(ans, "/qprobe/clock");
	cr_expect_str_eq(json_string_value(json_object_get(clk, "source")), "tsc");
	/* DPDK telemetry has no reals: they come as text */
	const char *hz = json_string_value(json_object_get(clk, "tsc_hz"));
	cr_expect(hz && atof(hz) > 1e8, "tsc_hz %s", hz ? hz : "(none)");
	const char *nom = json_string_value(json_object_get(clk, "nominal_hz"));
	cr_expect(nom && atof(nom) == json_real_value(json_object_get(json_object_get(st, "clock"),
								      "nominal_hz")),
		  "nominal_hz %s", nom ? nom : "(none)");
	cr_expect_eq(json_integer_value(json_object_get(clk, "realtime_steps")), 0);
	json_t *tot = json_object_get(ans, "/qprobe/totals");
	json_t *want = json_object_get(st, "totals");
	cr_expect_eq(json_integer_value(json_object_get(tot, "packets")), 163);
	cr_expect_eq(json_integer_value(json_object_get(tot, "measured")),
		     json_integer_value(json_object_get(want, "measured")));
	cr_expect_eq(json_integer_value(json_object_get(tot, "parse_error_reasons_truncated_l2")), 0);
	json_t *ports = json_object_get(ans, "/qprobe/ports");
	cr_expect_str_eq(json_string_value(json_object_get(ports, "0_profile")), "pcap.json");
	cr_expect_eq(json_integer_value(json_object_get(ports, "0_rx_packets")),
		     json_integer_value(json_object_get(json_object_get(ans, "/ethdev/stats"), "ipackets")),
		     "qprobe's port counter and DPDK's ethdev stats");
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(ans, "/qprobe/lcores"), "packets")),
		     163);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(ans, "/qprobe/measurements"),
							"capture_packets")), 163);
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(ans, "/qprobe/info"),
							    "mode")), "single_worker");
	json_decref(ans);
	json_decref(st);
	kill(pid, SIGTERM);
	qp_wait(pid, 60, &r, err);
	cr_expect(r.exited && r.status == 0, "%s", r.err);
}
