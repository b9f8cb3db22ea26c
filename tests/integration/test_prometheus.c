/*
 * /metrics for Prometheus: every counter of /api/v1/stats has its metric,
 * every metric family its HELP and TYPE lines; then Debian's prometheus
 * scrapes a running probe on loopback and its query API gives back the
 * values /api/v1/stats shows; and scrapes it over TLS with basic auth, the
 * probe's --web-config and Prometheus's scrape_config as their operators
 * write them.
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

#include "../gen/qp_tls.h"
#include "qp_run.h"

static void nap_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int has_sample(const char *text, const char *metric)
{
	char a[200], b[200];
	snprintf(a, sizeof(a), "\n%s{", metric);
	snprintf(b, sizeof(b), "\n%s ", metric);
	return strstr(text, a) || strstr(text, b);
}

/* Every family with samples has "# HELP name" and "# TYPE name" lines. */
static void help_and_type(const char *text)
{
	char *copy = strdup(text), *save = NULL;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (l[0] == '#')
			continue;
		char name[200];
		size_t n = strcspn(l, "{ ");
		cr_assert_lt(n, sizeof(name));
		memcpy(name, l, n);
		name[n] = 0;
		char h[260], t[260];
		snprintf(h, sizeof(h), "# HELP %s ", name);
		snprintf(t, sizeof(t), "# TYPE %s ", name);
		cr_expect(strstr(text, h) && strstr(text, t), "%s has no HELP or TYPE line", name);
	}
	free(copy);
}

/* Percent-encode a PromQL expression for a query string. */
static void urlenc(const char *s, char *out, size_t n)
{
	size_t k = 0;
	for (; *s && k + 4 < n; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
			out[k++] = (char)c;
		else
			k += (size_t)snprintf(out + k, n - k, "%%%02X", c);
	}
	out[k] = 0;
}

/* The status of a query ("success", or Prometheus's error). */
static char *prom_status(int port, const char *expr, char *buf, size_t n)
{
	char enc[2048], path[2200], *body = NULL;
	urlenc(expr, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/query?query=%s", enc);
	qp_http_get(port, path, &body);
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	snprintf(buf, n, "%s %s", json_string_value(json_object_get(j, "status")),
		 json_string_value(json_object_get(j, "error")) ? json_string_value(json_object_get(j, "error")) : "");
	json_decref(j);
	free(body);
	return buf;
}

static double prom_query(int port, const char *q)
{
	char path[512], *body = NULL;
	snprintf(path, sizeof(path), "/api/v1/query?query=%s", q);
	if (qp_http_get(port, path, &body) != 200) {
		free(body);
		return -1;
	}
	json_t *j = json_loads(body, 0, NULL);
	free(body);
	json_t *res = json_object_get(json_object_get(j, "data"), "result");
	double v = -1;
	if (json_array_size(res) > 0)
		v = atof(json_string_value(json_array_get(json_object_get(json_array_get(res, 0), "value"), 1)));
	json_decref(j);
	return v;
}

/*
 * Debian's Prometheus scraping the probe at 127.0.0.1:http once a second, as
 * job qprobe with the scrape_config lines given (indented for the job; ""
 * for none), its data under name in qp_tmpdir(). Its pid; its port in *pport
 * and its standard error's path in perr.
 */
static int prometheus(const char *name, int http, const char *job_lines, int *pport, char *perr,
		      size_t perrlen)
{
	*pport = qp_free_port();
	char yml[256], data[256], text[1024], paddr[64], cfgarg[300], dataarg[300];
	snprintf(yml, sizeof(yml), "%s/%s.yml", qp_tmpdir(), name);
	snprintf(data, sizeof(data), "%s/%s-data", qp_tmpdir(), name);
	snprintf(text, sizeof(text),
		 "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: qprobe\n%s"
		 "    static_configs:\n      - targets: ['127.0.0.1:%d']\n", job_lines, http);
	FILE *f = fopen(yml, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	snprintf(paddr, sizeof(paddr), "--web.listen-address=127.0.0.1:%d", *pport);
	snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s", yml);
	snprintf(dataarg, sizeof(dataarg), "--storage.tsdb.path=%s", data);
	snprintf(perr, perrlen, "%s/%s.err", qp_tmpdir(), name);
	char *pargv[] = {"prometheus", cfgarg, dataarg, paddr, NULL};
	return qp_spawn(pargv, NULL, perr);
}

/* Prometheus, then the probe: each stopped, the probe exiting 0. */
static void stop_both(int ppid, const char *perr, int pid, const char *err)
{
	struct qp_run_result r;
	kill(ppid, SIGTERM);
	qp_wait(ppid, 60, &r, perr);
	kill(pid, SIGTERM);
	qp_wait(pid, 60, &r, err);
	cr_expect(r.exited && r.status == 0, "%s", r.err);
}

Test(prometheus, metrics_complete_and_scraped, .timeout = 180)
{
	char bin[256], hport[16], err[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	int http = qp_free_port();
	snprintf(hport, sizeof(hport), "%d", http);
	snprintf(err, sizeof(err), "%s/probe.err", qp_tmpdir());
	char *argv[] = {bin, "-l", "0,1", "--no-huge", "-m", "512", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", "net_pcap0,rx_pcap=tests/data/demo.pcap", "--",
			"--qmcp-port", "0", "--http-port", hport, "--measure", "--interval", "200",
			"--probe-id", "prom-\"test\"", NULL};
	int pid = qp_spawn(argv, NULL, err);
	json_t *st = qp_stats_when_packets(http, 163, 15);
	cr_assert_not_null(st, "the probe never measured the demo");
	char *m = NULL;
	cr_assert_eq(qp_http_get(http, "/metrics", &m), 200);
	help_and_type(m);
	/* every counter of /api/v1/stats */
	const char *k;
	json_t *v;
	char name[200];
	json_object_foreach(json_object_get(st, "totals"), k, v) {
		if (!strcmp(k, "parse_error_reasons"))
			continue; /* qprobe_parse_errors_by_reason_total{reason=} */
		snprintf(name, sizeof(name), "qprobe_worker_%s_total", k);
		if (!strcmp(k, "flows_evicted") || !strcmp(k, "flow_table_full"))
			snprintf(name, sizeof(name), "qprobe_flows_%s_total",
				 !strcmp(k, "flows_evicted") ? "evicted" : "table_full");
		cr_expect(has_sample(m, name), "totals.%s: no %s", k, name);
	}
	cr_expect(has_sample(m, "qprobe_parse_errors_by_reason_total"));
	json_object_foreach(json_array_get(json_object_get(st, "ports"), 0), k, v) {
		if (!json_is_integer(v) || !strcmp(k, "port"))
			continue;
		snprintf(name, sizeof(name), "qprobe_port_%s_total", k);
		cr_expect(has_sample(m, name), "ports[0].%s: no %s", k, name);
	}
	static const char *const lc[][2] = {
		{"rx_packets", "qprobe_lcore_rx_packets_total"}, {"rx_dropped_idle", "qprobe_lcore_rx_dropped_idle_total"},
		{"naps", "qprobe_lcore_naps_total"}, {"ts_missing", "qprobe_lcore_ts_missing_total"},
		{"busy_ratio", "qprobe_worker_busy_ratio"},
		{"flows", "qprobe_flows"}, {"idle", "qprobe_lcore_idle"},
		{"evictions", "qprobe_flows_evicted_total"}, {"table_full", "qprobe_flows_table_full_total"}};
	json_t *l0 = json_array_get(json_object_get(st, "lcores"), 0);
	for (size_t i = 0; i < sizeof(lc) / sizeof(lc[0]); i++) {
		cr_expect(json_object_get(l0, lc[i][0]) != NULL, "lcores[0].%s is in the stats", lc[i][0]);
		cr_expect(has_sample(m, lc[i][1]), "lcores[0].%s: no %s", lc[i][0], lc[i][1]);
	}
	json_object_foreach(json_object_get(st, "qmcp"), k, v) {
		if (!json_is_integer(v))
			continue;
		snprintf(name, sizeof(name), "qprobe_qmcp_%s%s", k, strcmp(k, "sessions") ? "_total" : "");
		cr_expect(has_sample(m, name), "qmcp.%s: no %s", k, name);
	}
	cr_assert_eq(json_object_size(json_object_get(st, "http")), 5);
	json_object_foreach(json_object_get(st, "http"), k, v) {
		if (strcmp(k, "open"))
			snprintf(name, sizeof(name), "qprobe_http_%s_total", k);
		else
			snprintf(name, sizeof(name), "qprobe_http_connections_open");
		cr_expect(has_sample(m, name), "http.%s: no %s", k, name);
	}
	/* the packet clock: each figure, and DPDK's rate as the stats have it */
	json_object_foreach(json_object_get(st, "clock"), k, v) {
		if (!json_is_number(v))
			continue;
		snprintf(name, sizeof(name), "qprobe_clock_%s", !strcmp(k, "realtime_steps") ? "realtime_steps_total"
							   : !strcmp(k, "anchors_taken") ? "anchors_total" : k);
		cr_expect(has_sample(m, name), "clock.%s: no %s", k, name);
	}
	char want[128];
	snprintf(want, sizeof(want), "\nqprobe_clock_nominal_hz %.17g\n",
		 json_number_value(json_object_get(json_object_get(st, "clock"), "nominal_hz")));
	cr_expect(strstr(m, want) != NULL, "no '%s'", want + 1);
	cr_expect(strstr(m, "\nqprobe_clock_info{source=\"tsc\",state=\"") != NULL);
	cr_expect(strstr(m, "\nqprobe_info{version=\"") != NULL && strstr(m, "probe_id=\"prom-\\\"test\\\"\""),
		  "the probe id's quote escaped in the label");
	free(m);

	/* Prometheus scrapes it */
	int pport;
	char perr[256];
	int ppid = prometheus("prometheus", http, "", &pport, perr, sizeof(perr));
	double pk = -1;
	for (int i = 0; i < 600 && pk < 0; i++) {
		nap_ms(100);
		cr_assert_eq(kill(ppid, 0), 0, "prometheus exited (is it installed? %s)", perr);
		pk = prom_query(pport, "sum%28qprobe_worker_packets_total%29");
	}
	cr_expect_eq(pk, 163.0, "sum(qprobe_worker_packets_total) = %g", pk);
	json_t *p0 = json_array_get(json_object_get(st, "ports"), 0);
	cr_expect_eq(prom_query(pport, "qprobe_port_rx_packets_total"),
		     (double)json_integer_value(json_object_get(p0, "rx_packets")));
	cr_expect_eq(prom_query(pport, "sum%28qprobe_worker_measured_total%29"),
		     (double)json_integer_value(json_object_get(json_object_get(st, "totals"), "measured")));
	cr_expect_eq(prom_query(pport, "qprobe_measurements"), 1.0);
	cr_expect_eq(prom_query(pport, "up"), 1.0, "the target is up");
	/* the Grafana dashboard: every query is valid PromQL, every metric exists */
	json_error_t je;
	json_t *dash = json_load_file("docs/grafana/qprobe-prometheus.json", 0, &je);
	cr_assert_not_null(dash, "dashboard: %s", je.text);
	cr_assert_eq(qp_http_get(http, "/metrics", &m), 200);
	json_t *panel, *t;
	size_t pi, ti;
	int nexpr = 0;
	json_array_foreach(json_object_get(dash, "panels"), pi, panel)
		json_array_foreach(json_object_get(panel, "targets"), ti, t) {
			char expr[1024], st2[512];
			snprintf(expr, sizeof(expr), "%s", json_string_value(json_object_get(t, "expr")));
			char *at;
			while ((at = strstr(expr, "$measurement")))
				memmove(at + 2, at + 12, strlen(at + 12) + 1), at[0] = '.', at[1] = '*';
			while ((at = strstr(expr, "$__rate_interval")))
				memmove(at + 3, at + 16, strlen(at + 16) + 1), memcpy(at, "10s", 3);
			cr_expect_str_eq(prom_status(pport, expr, st2, sizeof(st2)), "success ", "%s", expr);
			for (const char *q = strstr(expr, "qprobe_"); q; q = strstr(q + 1, "qprobe_")) {
				char name[128], h[160];
				size_t n = strspn(q, "abcdefghijklmnopqrstuvwxyz0123456789_");
				snprintf(name, sizeof(name), "%.*s", (int)n, q);
				snprintf(h, sizeof(h), "# HELP %s ", name);
				cr_expect(strstr(m, h) != NULL, "the dashboard's %s is not in /metrics", name);
			}
			nexpr++;
		}
	cr_expect_geq(nexpr, 15);
	free(m);
	json_decref(dash);
	/* the QoS gauges of the latest closed interval, per measurement and direction */
	cr_assert_eq(qp_http_get(http, "/metrics", &m), 200);
	cr_expect(strstr(m, "\nqprobe_meas_bits_per_second{measurement=\"1\",dir=\"fwd\"} ") != NULL, "%s", m);
	cr_expect(strstr(m, "\nqprobe_meas_interval_start_seconds{measurement=\"1\"} ") != NULL);
	free(m);
	json_decref(st);
	stop_both(ppid, perr, pid, err);
}

Test(prometheus, scraped_over_tls_with_basic_auth, .timeout = 180)
{
	char bin[256], hport[16], err[256], cert[256], key[256], web[256], hash[128];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	snprintf(cert, sizeof(cert), "%s/probe.crt", qp_tmpdir());
	snprintf(key, sizeof(key), "%s/probe.key", qp_tmpdir());
	snprintf(web, sizeof(web), "%s/web.yml", qp_tmpdir());
	cr_assert_eq(qp_tls_selfsigned(cert, key), 0);
	cr_assert_eq(qp_tls_bcrypt("scrape-me", hash, sizeof(hash)), 0);
	FILE *f = fopen(web, "w");
	cr_assert_not_null(f);
	fprintf(f, "tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prom: %s\n",
		cert, key, hash);
	fclose(f);
	int http = qp_free_port();
	snprintf(hport, sizeof(hport), "%d", http);
	snprintf(err, sizeof(err), "%s/probe.err", qp_tmpdir());
	char *argv[] = {bin, "-l", "0,1", "--no-huge", "-m", "512", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", "net_pcap0,rx_pcap=tests/data/demo.pcap", "--",
			"--qmcp-port", "0", "--http-port", hport, "--web-config", web, "--measure", NULL};
	int pid = qp_spawn(argv, NULL, err);

	int pport;
	char job[512], perr[256];
	snprintf(job, sizeof(job),
		 "    scheme: https\n    tls_config:\n      ca_file: %s\n"
		 "    basic_auth:\n      username: prom\n      password: scrape-me\n", cert);
	int ppid = prometheus("prometheus-tls", http, job, &pport, perr, sizeof(perr));
	double pk = -1;
	for (int i = 0; i < 600 && pk != 163.0; i++) {
		nap_ms(100);
		cr_assert_eq(kill(ppid, 0), 0, "prometheus exited (is it installed? %s)", perr);
		cr_assert_eq(kill(pid, 0), 0, "qprobe exited (%s)", err);
		pk = prom_query(pport, "sum%28qprobe_worker_packets_total%29");
	}
	cr_expect_eq(pk, 163.0, "sum(qprobe_worker_packets_total) = %g, scraped over TLS", pk);
	cr_expect_eq(prom_query(pport, "up"), 1.0, "the target is up");
	/* every scrape carried the credentials */
	cr_expect_eq(prom_query(pport, "qprobe_http_refused_auth_total"), 0.0);
	cr_expect_geq(prom_query(pport, "qprobe_http_requests_total"), 1.0);
	stop_both(ppid, perr, pid, err);
}
