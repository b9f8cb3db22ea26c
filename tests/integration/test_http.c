/*
 * The HTTP endpoint against hostile clients: 300 connections that send half
 * a request and wait, from 20 addresses, while a normal client is answered;
 * 40 from one address, of which all but the per-address limit are closed at
 * once; silent connections closed after the idle timeout; the allow-list
 * (--http-allow and the configuration's http.allow) and its bad values;
 * TLS and basic auth from a web configuration (--web-config, http.web_config):
 * credentials missing or wrong answered 401, plain HTTP to the TLS port
 * answered nothing, TLS 1.3 alone when the file says so, a bad file refused
 * in one line.
 * What the held connections cost a normal request goes to
 * build/test-results/http-slow-clients.txt (a figure, not a bound).
 *
 * Live: starts DPDK probes (tests/run.sh runs such binaries one at a time).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/qp_http.h"
#include "../gen/qp_tls.h"
#include "qp_run.h"

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A probe with its HTTP endpoint on a free port; extra qprobe options. */
static int probe(int *port, const char *const extra[])
{
	static char bin[256], hport[16], err[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	*port = qp_free_port();
	snprintf(hport, sizeof(hport), "%d", *port);
	snprintf(err, sizeof(err), "%s/probe.err", qp_tmpdir());
	char *argv[32] = {bin, "-l", "0,1", "--no-huge", "-m", "512", "--no-shconf", "--no-pci",
			  "--log-level=error", "--vdev", "net_pcap0,rx_pcap=tests/data/demo.pcap", "--",
			  "--qmcp-port", "0", "--http-port", hport};
	int n = 16;
	for (int i = 0; extra && extra[i] && n < 31; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	int pid = qp_spawn(argv, NULL, err);
	for (int i = 0; i < 600; i++) {
		char *body = NULL;
		int st = qp_http_get(*port, "/api/v1/stats", &body);
		free(body);
		if (st == 200)
			return pid;
		cr_assert_eq(kill(pid, 0), 0, "qprobe exited early");
		struct timespec t = {0, 50000000};
		nanosleep(&t, NULL);
	}
	cr_assert_fail("the probe's HTTP endpoint did not answer in 30 s");
	return pid;
}

/* A TCP connection to 127.0.0.1:port from the loopback address src. */
static int connect_from(const char *src, int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(s, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, src, &a.sin_addr);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0, "bind %s: %s", src, strerror(errno));
	struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
	cr_assert_eq(connect(s, (struct sockaddr *)&d, sizeof(d)), 0, "connect: %s", strerror(errno));
	return s;
}

/* 1 when the server closed s (or reset it) within timeout_s without answering, 0 when it is still open. */
static int closed_by_server(int s, double timeout_s)
{
	struct pollfd pf = {.fd = s, .events = POLLIN};
	if (poll(&pf, 1, (int)(timeout_s * 1000)) <= 0)
		return 0;
	char b[64];
	ssize_t k = recv(s, b, sizeof(b), MSG_DONTWAIT);
	return k <= 0;
}

/* GET path from src with a whole request; the status (-1: no answer within timeout_s). */
static int get_from(const char *src, int port, const char *path, double timeout_s)
{
	int s = connect_from(src, port);
	char req[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	cr_assert_eq(send(s, req, (size_t)n, MSG_NOSIGNAL), n);
	char b[512];
	int status = -1;
	size_t got = 0;
	double end = now_s() + timeout_s;
	while (got < sizeof(b) - 1 && now_s() < end) {
		struct pollfd pf = {.fd = s, .events = POLLIN};
		if (poll(&pf, 1, 100) <= 0)
			continue;
		ssize_t k = recv(s, b + got, sizeof(b) - 1 - got, 0);
		if (k <= 0)
			break;
		got += (size_t)k;
		b[got] = 0;
		if (sscanf(b, "HTTP/1.%*d %d", &status) == 1)
			break;
	}
	close(s);
	return status;
}

static const char half[] = "GET /api/v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow";

static json_t *http_counters(int port)
{
	char *body = NULL;
	cr_assert_eq(qp_http_get(port, "/api/v1/stats", &body), 200);
	json_t *st = json_loads(body, 0, NULL);
	free(body);
	json_t *h = json_incref(json_object_get(st, "http"));
	json_decref(st);
	return h;
}

Test(http, slow_clients_starve_no_one_and_are_closed_when_silent, .timeout = 180)
{
	int port;
	int pid = probe(&port, NULL);
	/* 300 held half requests, 15 from each of 20 addresses (under the per-address limit) */
	enum { ADDRS = 20, EACH = 15 };
	int held[ADDRS * EACH];
	for (int a = 0; a < ADDRS; a++) {
		char src[32];
		snprintf(src, sizeof(src), "127.0.0.%d", 2 + a);
		for (int k = 0; k < EACH; k++) {
			int s = connect_from(src, port);
			cr_assert_eq(send(s, half, sizeof(half) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(half) - 1));
			held[a * EACH + k] = s;
		}
	}
	/* a normal client is answered while they are held */
	double t0 = now_s();
	int st = get_from("127.0.0.1", port, "/metrics", 10);
	double held_ms = (now_s() - t0) * 1e3;
	cr_assert_eq(st, 200, "a normal request was not answered while 300 slow clients were held");
	json_t *h = http_counters(port);
	cr_assert_geq(json_integer_value(json_object_get(h, "open")), 300,
		      "the 300 slow clients are held (open %lld)",
		      (long long)json_integer_value(json_object_get(h, "open")));
	json_decref(h);
	/* one address opening 40: all but QP_HTTP_PER_ADDR are closed at accept */
	int one[40], refused = 0;
	for (int k = 0; k < 40; k++) {
		one[k] = connect_from("127.0.0.99", port);
		send(one[k], half, sizeof(half) - 1, MSG_NOSIGNAL);
	}
	/* refused ones are closed at accept: a moment, then each is looked at without
	 * waiting (well inside the idle timeout, which would close the rest too) */
	struct timespec moment = {0, 300000000};
	nanosleep(&moment, NULL);
	for (int k = 0; k < 40; k++)
		refused += closed_by_server(one[k], 0);
	cr_assert_eq(refused, 40 - QP_HTTP_PER_ADDR, "%d of 40 from one address closed at once, %d expected",
		     refused, 40 - QP_HTTP_PER_ADDR);
	/* silent connections are closed after the idle timeout (deadline: three times it) */
	int closed = 0;
	for (int i = 0; i < ADDRS * EACH; i++)
		closed += closed_by_server(held[i], 3.0 * QP_HTTP_IDLE_S);
	cr_assert_eq(closed, ADDRS * EACH, "%d of 300 silent connections closed", closed);
	for (int k = 0; k < 40; k++)
		close(one[k]);
	for (int i = 0; i < ADDRS * EACH; i++)
		close(held[i]);
	/* and at once after them, a normal client again */
	t0 = now_s();
	cr_assert_eq(get_from("127.0.0.1", port, "/metrics", 10), 200);
	double after_ms = (now_s() - t0) * 1e3;
	t0 = now_s();
	cr_assert_eq(get_from("127.0.0.1", port, "/metrics", 10), 200);
	double quiet_ms = (now_s() - t0) * 1e3;
	char path[512];
	snprintf(path, sizeof(path), "%s/test-results/http-slow-clients.txt", qp_build());
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f,
			"GET /metrics with 300 slow clients held: %.1f ms; right after they were closed: "
			"%.1f ms; with none: %.1f ms\n",
			held_ms, after_ms, quiet_ms);
		fclose(f);
	}
	cr_log_info("GET /metrics: %.1f ms with 300 slow clients held, %.1f ms after, %.1f ms with none",
		    held_ms, after_ms, quiet_ms);
	qp_stop_clean(pid, "/dev/null");
}

Test(http, the_allow_list, .timeout = 120)
{
	int port;
	const char *const allow[] = {"--http-allow", "127.0.0.1/32,::1", NULL};
	int pid = probe(&port, allow);
	/* a caller not on the list is closed before a byte is read or answered */
	int s = connect_from("127.0.0.2", port);
	send(s, "GET /api/v1/flows HTTP/1.0\r\n\r\n", 30, MSG_NOSIGNAL);
	cr_assert(closed_by_server(s, 5), "127.0.0.2 was not refused");
	close(s);
	cr_assert_eq(get_from("127.0.0.2", port, "/api/v1/stats", 2), -1);
	cr_assert_eq(get_from("127.0.0.1", port, "/api/v1/stats", 5), 200);
	json_t *h = http_counters(port);
	cr_assert_eq(json_integer_value(json_object_get(h, "refused_acl")), 2);
	json_decref(h);
	qp_stop_clean(pid, "/dev/null");
}

Test(http, bad_allow_lists_are_refused_with_one_line, .timeout = 60)
{
	char bin[256], out[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	snprintf(out, sizeof(out), "%s/out", qp_tmpdir());
	char *argv[] = {bin, "-l", "0,1", "--no-huge", "-m", "256", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", "net_pcap0,rx_pcap=tests/data/demo.pcap", "--",
			"--qmcp-port", "0", "--http-allow", "10.0.0.0/33", NULL};
	struct qp_run_result r;
	qp_run(argv, out, 60, &r);
	cr_assert(r.exited && r.status == 1, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "qprobe: --http-allow: allow-list entry '10.0.0.0/33': expected an IPv4 or "
				"IPv6 address with an optional /prefix length"), "%s", r.err);
	cr_assert(strstr(r.err, "10.0.0.0/33"), "%s", r.err);
	/* the configuration's http.allow, entry by entry */
	char cfg[256];
	snprintf(cfg, sizeof(cfg), "%s/q.json", qp_tmpdir());
	FILE *f = fopen(cfg, "w");
	cr_assert_not_null(f);
	fputs("{\"http\": {\"port\": 0, \"allow\": [\"127.0.0.1/32\", \"not-an-address\"]}}\n", f);
	fclose(f);
	char *argv2[] = {bin, "--check-config", cfg, NULL};
	qp_run(argv2, out, 60, &r);
	cr_assert(r.exited && r.status != 0, "exit %d", r.status);
	cr_assert(strstr(r.err, "$.http.allow[1]"), "%s", r.err);
	cr_assert(strstr(r.err, "not-an-address"), "%s", r.err);
}

/* A probe serving HTTPS with basic auth as web.yml in qp_tmpdir() says. */
static int probe_tls(int *port, const char *cert)
{
	static char bin[256], hport[16], err[256], web[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	snprintf(web, sizeof(web), "%s/web.yml", qp_tmpdir());
	*port = qp_free_port();
	snprintf(hport, sizeof(hport), "%d", *port);
	snprintf(err, sizeof(err), "%s/probe.err", qp_tmpdir());
	char *argv[] = {bin, "-l", "0,1", "--no-huge", "-m", "512", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", "net_pcap0,rx_pcap=tests/data/demo.pcap", "--",
			"--qmcp-port", "0", "--http-port", hport, "--web-config", web, NULL};
	int pid = qp_spawn(argv, NULL, err);
	for (int i = 0; i < 600; i++) {
		char *body = NULL;
		int st = qp_https_get(*port, "/api/v1/stats", cert, "prometheus", "s3cret", 0, NULL, &body);
		free(body);
		if (st == 200)
			return pid;
		cr_assert_eq(kill(pid, 0), 0, "qprobe exited early");
		struct timespec t = {0, 50000000};
		nanosleep(&t, NULL);
	}
	cr_assert_fail("the probe's HTTPS endpoint did not answer in 30 s");
	return pid;
}

static void write_web(const char *extra)
{
	char path[256], cert[256], key[256], hash[128];
	snprintf(cert, sizeof(cert), "%s/probe.crt", qp_tmpdir());
	snprintf(key, sizeof(key), "%s/probe.key", qp_tmpdir());
	cr_assert_eq(qp_tls_selfsigned(cert, key), 0);
	cr_assert_eq(qp_tls_bcrypt("s3cret", hash, sizeof(hash)), 0);
	snprintf(path, sizeof(path), "%s/web.yml", qp_tmpdir());
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "tls_server_config:\n  cert_file: probe.crt\n  key_file: probe.key\n%s"
		   "basic_auth_users:\n  prometheus: %s\n", extra, hash);
	fclose(f);
}

Test(http, tls_and_basic_auth, .timeout = 120)
{
	write_web("");
	char cert[256];
	snprintf(cert, sizeof(cert), "%s/probe.crt", qp_tmpdir());
	int port;
	int pid = probe_tls(&port, cert);
	char *head, *body;
	/* no credentials, then a wrong password: 401 and the challenge */
	cr_assert_eq(qp_https_get(port, "/api/v1/flows", cert, NULL, NULL, 0, &head, &body), 401);
	cr_expect(strstr(head, "\r\nWWW-Authenticate: Basic realm=\"qprobe\"") != NULL, "%s", head);
	cr_expect_str_eq(body, "{\"error\":\"credentials needed: HTTP basic auth with a user of the "
			       "probe's web configuration\",\"status\":401}\n");
	free(head);
	free(body);
	cr_assert_eq(qp_https_get(port, "/metrics", cert, "prometheus", "wrong", 0, NULL, &body), 401);
	free(body);
	cr_assert_eq(qp_https_get(port, "/", cert, "nobody", "s3cret", 0, NULL, &body), 401);
	free(body);
	/* the right one, over TLS 1.2 as well as 1.3 */
	cr_assert_eq(qp_https_get(port, "/api/v1/stats", cert, "prometheus", "s3cret", 1, NULL, &body), 200);
	json_t *st = json_loads(body, 0, NULL);
	free(body);
	cr_assert_not_null(st);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(st, "http"), "refused_auth")), 3);
	json_decref(st);
	cr_assert_eq(qp_https_get(port, "/metrics", cert, "prometheus", "s3cret", 0, NULL, &body), 200);
	cr_expect(strstr(body, "\nqprobe_http_refused_auth_total 3\n") != NULL, "%s", body);
	free(body);
	/* plain HTTP to the TLS port: no HTTP answer */
	cr_assert_eq(qp_http_get(port, "/api/v1/stats", &body), -1);
	free(body);
	qp_stop_clean(pid, "/dev/null");

	/* TLS 1.3 alone: a TLS 1.2 client gets no handshake */
	write_web("  min_version: TLS13\n");
	pid = probe_tls(&port, cert);
	cr_assert_eq(qp_https_get(port, "/api/v1/stats", cert, "prometheus", "s3cret", 1, NULL, &body), -1);
	free(body);
	cr_assert_eq(qp_https_get(port, "/api/v1/stats", cert, "prometheus", "s3cret", 0, NULL, &body), 200);
	free(body);
	qp_stop_clean(pid, "/dev/null");
}

Test(http, bad_web_configs_are_refused_with_one_line, .timeout = 60)
{
	write_web("  client_ca_file: probe.crt\n");
	char bin[256], out[256], web[256], want[512];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	snprintf(out, sizeof(out), "%s/out", qp_tmpdir());
	snprintf(web, sizeof(web), "%s/web.yml", qp_tmpdir());
	char *argv[] = {bin, "-l", "0,1", "--no-huge", "-m", "256", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", "net_pcap0,rx_pcap=tests/data/demo.pcap", "--",
			"--qmcp-port", "0", "--web-config", web, NULL};
	struct qp_run_result r;
	qp_run(argv, out, 60, &r);
	cr_assert(r.exited && r.status == 1, "exit %d: %s", r.status, r.err);
	snprintf(want, sizeof(want),
		 "qprobe: --web-config: web config %s: tls_server_config.client_ca_file: not supported by "
		 "qprobe (it takes cert_file, key_file, min_version)\n", web);
	cr_expect_str_eq(r.err, want);
	/* the configuration's http.web_config, checked with the rest of the file */
	char cfg[256];
	snprintf(cfg, sizeof(cfg), "%s/q.json", qp_tmpdir());
	FILE *f = fopen(cfg, "w");
	cr_assert_not_null(f);
	fprintf(f, "{\"http\": {\"port\": 8178, \"web_config\": \"%s\"}}\n", web);
	fclose(f);
	char *argv2[] = {bin, "--check-config", cfg, NULL};
	qp_run(argv2, out, 60, &r);
	cr_assert(r.exited && r.status == 1, "exit %d: %s", r.status, r.err);
	snprintf(want, sizeof(want), "$.http.web_config: web config %s: tls_server_config.client_ca_file", web);
	cr_expect(strstr(r.err, want) != NULL, "%s", r.err);
}
