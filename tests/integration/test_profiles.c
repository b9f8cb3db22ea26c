/*
 * NIC profiles (drivers-cfg/): every bundled profile parses; a probe on a
 * net_pcap port says which profile it took and shows it in /api/v1/stats; a
 * driver without a profile gets safe defaults and one warning line, and is
 * measured all the same; a broken profile stops the probe with each mistake
 * named by its JSON path.
 *
 * Live: starts DPDK probes (tests/run.sh runs such binaries one at a time).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qp_run.h"

static char *qbin(void)
{
	static char bin[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	return bin;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

/* The probe on the demo capture for a second; its report and stderr. */
static json_t *run(const char *cfgdir, struct qp_run_result *r)
{
	char out[256];
	snprintf(out, sizeof(out), "%s/live.json", qp_tmpdir());
	char *argv[] = {qbin(), "-l", "0,1", "--no-huge", "-m", "512", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", "net_pcap0,rx_pcap=tests/data/demo.pcap", "--",
			"--duration", "2", "--qmcp-port", "0", "--http-port", "0", "--report-file", out,
			cfgdir ? "--drivers-cfg" : NULL, (char *)cfgdir, NULL};
	qp_run(argv, NULL, 60, r);
	return r->exited && r->status == 0 ? qp_json_load(out) : NULL;
}

Test(profiles, bundled_profiles_parse)
{
	char *argv[] = {qbin(), "--check-drivers-cfg", "drivers-cfg", NULL};
	char out[256];
	snprintf(out, sizeof(out), "%s/check.txt", qp_tmpdir());
	struct qp_run_result r;
	qp_run(argv, out, 30, &r);
	cr_assert(r.exited && r.status == 0, "%s", r.err);
	FILE *f = fopen(out, "r");
	char line[256] = "";
	cr_assert(fgets(line, sizeof(line), f));
	fclose(f);
	cr_expect_str_eq(line, "drivers-cfg: ok, 10 profile(s)\n");
}

Test(profiles, port_takes_its_profile)
{
	struct qp_run_result r;
	json_t *rep = run(NULL, &r);
	cr_assert_not_null(rep, "%s", r.err);
	cr_expect(strstr(r.err, "qprobe: port 0 (net_pcap0): driver net_pcap, profile ") != NULL, "%s",
		  r.err);
	cr_expect(strstr(r.err, "drivers-cfg/pcap.json (libpcap capture file or interface (net_pcap))") !=
			  NULL, "%s", r.err);
	cr_expect(strstr(r.err, "warning") == NULL, "%s", r.err);
	json_decref(rep);
}

Test(profiles, no_profile_means_defaults_and_a_warning)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/empty-cfg", qp_tmpdir());
	mkdir(dir, 0755);
	struct qp_run_result r;
	json_t *rep = run(dir, &r);
	cr_assert_not_null(rep, "%s", r.err);
	char want[512];
	snprintf(want, sizeof(want),
		 "qprobe: warning: port 0 (net_pcap0): no profile for driver net_pcap in %s: safe "
		 "defaults (RSS on IP addresses when the port offers it, 1024 rx descriptors)\n", dir);
	cr_expect(strstr(r.err, want) != NULL, "%s", r.err);
	/* measured all the same: the demo's 163 frames */
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(rep, "capture"), "packets")),
		     163);
	json_decref(rep);
}

Test(profiles, broken_profile_stops_the_probe)
{
	char dir[256], f[300];
	snprintf(dir, sizeof(dir), "%s/bad-cfg", qp_tmpdir());
	mkdir(dir, 0755);
	snprintf(f, sizeof(f), "%s/pcap.json", dir);
	write_file(f, "{\"family\": \"x\", \"drivers\": [\"net_pcap\"], \"rx_desc\": 10,\n"
		      " \"rss\": {\"hsah\": [\"ipv4\"], \"hash\": [\"ipv4\", \"mac\"]},\n"
		      " \"timestamp\": {\"hardware\": \"atomic clock\"}}\n");
	struct qp_run_result r;
	json_t *rep = run(dir, &r);
	cr_assert_null(rep);
	cr_expect(r.exited && r.status == 1, "exit %d: %s", r.status, r.err);
	static const char *const want[] = {
		"pcap.json: $.rx_desc: a whole number from 64 to 32768 is expected",
		"pcap.json: $.rss.hsah: unknown key; accepted here: use, hash",
		"pcap.json: $.rss.hash[1]: one of ip, ipv4,",
		"pcap.json: $.timestamp.hardware: one of none, rx_offload, ptp_only, file is expected",
		"have errors (above); not starting with a port half-configured",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect(strstr(r.err, want[i]) != NULL, "'%s' in: %s", want[i], r.err);
}
