/*
 * QMCP over TLS: one port takes TLS and plain QMCP (the client's first byte
 * tells); qmctl --tls verifies the probe's certificate and says why when it
 * does not; the HMAC challenge is asked for inside TLS as outside; INFO says
 * which transports the probe offers; --tls-only refuses plain QMCP with one
 * message; results pushed to a TLS-only qmstore at tls://HOST:PORT and a
 * two-point secondary reached at tls://HOST:PORT, each verified against
 * --tls-ca. A controller that resets the connection mid-answer, or a
 * subscriber that goes away, leaves the probe serving (OpenSSL's writes raise
 * SIGPIPE: the probe ignores it; before, the second such controller found it
 * dead).
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
#include "../../lib/qmcp_auth.h"
#include "../../lib/qmcp_client.h"
#include "../../lib/qmcp_tls.h"
#include "qp_qmcp.h"
#include "qp_run.h"

static char cert[256], key[256], secret[256];

static void certs(void)
{
	snprintf(cert, sizeof(cert), "%s/probe.crt", qp_tmpdir());
	snprintf(key, sizeof(key), "%s/probe.key", qp_tmpdir());
	snprintf(secret, sizeof(secret), "%s/secret", qp_tmpdir());
	cr_assert_eq(qp_tls_selfsigned(cert, key), 0);
	write_secret(secret, "a-shared-secret-of-the-fleet-0123\n");
}

/* a probe on net_pcap, QMCP on a free port with extra options; its pid */
static int probe(int *port, int *http, const char *lcores, char *const extra[])
{
	static char bin[256], qport[16], hport[16], err[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	*port = qp_free_port();
	*http = qp_free_port();
	snprintf(qport, sizeof(qport), "%d", *port);
	snprintf(hport, sizeof(hport), "%d", *http);
	snprintf(err, sizeof(err), "%s/probe-%d.err", qp_tmpdir(), *port);
	char *argv[40] = {bin, "--lcores", (char *)lcores, "--no-huge", "-m", "512", "--file-prefix", qport,
			  "--no-pci", "--log-level=error", "--vdev", "net_pcap0,rx_pcap=tests/data/demo.pcap",
			  "--", "--qmcp-addr", "127.0.0.1", "--qmcp-port", qport, "--http-port", hport};
	int n = 19;
	for (int i = 0; extra[i] && n < 39; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	int pid = qp_spawn(argv, NULL, err);
	for (int i = 0; i < 600; i++) {
		char *body = NULL;
		int st = qp_http_get(*http, "/api/v1/stats", &body);
		free(body);
		if (st == 200)
			return pid;
		cr_assert_eq(kill(pid, 0), 0, "qprobe exited early (%s)", err);
		nap_ms(50);
	}
	cr_assert_fail("the probe did not come up in 30 s");
	return pid;
}

static long qmcp_counter(int http, const char *name)
{
	char *body = NULL;
	cr_assert_eq(qp_http_get(http, "/api/v1/stats", &body), 200);
	json_t *j = json_loads(body, 0, NULL);
	free(body);
	long v = (long)json_integer_value(json_object_get(json_object_get(j, "qmcp"), name));
	json_decref(j);
	return v;
}

Test(qmcp_tls, tls_and_plain_on_one_port, .timeout = 120)
{
	certs();
	int port, http;
	char *extra[] = {"--tls-cert", cert, "--tls-key", key, "--secret-file", secret, NULL};
	int pid = probe(&port, &http, "0@0,1@1", extra);
	char out[8192], err[2048], want[512];
	/* over TLS, the probe's certificate verified, the secret proven inside */
	char *info_tls[] = {"--tls", "--ca", cert, "--json", "info", NULL};
	cr_assert_eq(qp_qmctl(port, secret, info_tls, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	json_t *j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "%s", out);
	json_t *tr = json_object_get(j, "transports");
	cr_assert_eq(json_array_size(tr), 2);
	cr_expect_str_eq(json_string_value(json_array_get(tr, 0)), "qmcp");
	cr_expect_str_eq(json_string_value(json_array_get(tr, 1)), "qmcp+tls");
	json_decref(j);
	cr_expect_eq(qmcp_counter(http, "sessions_tls"), 1);
	/* plain QMCP on the same port */
	char *info[] = {"info", NULL};
	cr_assert_eq(qp_qmctl(port, secret, info, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(qmcp_counter(http, "sessions_tls"), 1);
	/* the certificate checked against the system's authorities: it is self-signed */
	char *no_ca[] = {"--tls", "info", NULL};
	cr_assert_eq(qp_qmctl(port, secret, no_ca, out, sizeof(out), err, sizeof(err)), 3);
	snprintf(want, sizeof(want),
		 "qmctl: TLS with 127.0.0.1 port %d: TLS handshake: the certificate does not verify: "
		 "self-signed certificate\n", port);
	cr_expect_str_eq(err, want);
	/* a wrong secret is refused inside TLS as outside */
	char bad[256];
	snprintf(bad, sizeof(bad), "%s/wrong", qp_tmpdir());
	write_secret(bad, "not-the-secret-of-the-fleet-45678\n");
	cr_assert_eq(qp_qmctl(port, bad, info_tls, out, sizeof(out), err, sizeof(err)), 3);
	cr_expect(strstr(err, "HMAC") != NULL, "%s", err);
	cr_expect_eq(qmcp_counter(http, "auth_failures"), 1);
	cr_expect_eq(qmcp_counter(http, "sessions_tls"), 3);
	/* a TLS subscriber that goes away while results are pushed to it: the
	 * probe's writes fail (OpenSSL writes with write(2): SIGPIPE unless ignored)
	 * and it serves on */
	char *start[] = {"--tls", "--ca", cert, "start", "--interval", "50", NULL};
	cr_assert_eq(qp_qmctl(port, secret, start, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	unsigned int id = 0;
	cr_assert_eq(sscanf(out, "measurement %u started", &id), 1, "%s", out);
	for (int round = 0; round < 3; round++) {
		char e[512];
		struct qmcp_tls *t = qmcp_tls_client(cert, e, sizeof(e));
		cr_assert_not_null(t, "%s", e);
		struct qmcp_client *c = qmcp_client_connect_tls("127.0.0.1", port, t, 3000, e, sizeof(e));
		cr_assert_not_null(c, "%s", e);
		uint8_t sec[256];
		size_t sl = 0;
		cr_assert_eq(qmcp_secret_load(secret, sec, sizeof(sec), &sl, e, sizeof(e)), 0, "%s", e);
		cr_assert_eq(qmcp_client_hello(c, "vanishing", sec, sl, 3000, e, sizeof(e)), 0, "%s", e);
		struct qmcp_msg m;
		struct qmcp_reply r;
		qmcp_msg_init(&m, QMCP_MSG_SUBSCRIBE, 0, qmcp_client_next_id(c));
		qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
		cr_assert_eq(qmcp_client_call(c, &m, &r, 3000, e, sizeof(e)), 0, "%s", e);
		qmcp_reply_free(&r);
		qmcp_client_close(c); /* gone, with results on their way */
		qmcp_tls_free(t);
		nap_ms(300);
		cr_assert_eq(kill(pid, 0), 0, "the probe died when a TLS subscriber went away");
	}
	cr_assert_eq(qp_qmctl(port, secret, info_tls, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	qp_stop_clean(pid, "/dev/null");

	/* a probe without a certificate: a TLS client learns it at once */
	char *none[] = {NULL};
	pid = probe(&port, &http, "0@0,1@1", none);
	cr_assert_eq(qp_qmctl(port, NULL, info_tls, out, sizeof(out), err, sizeof(err)), 3);
	snprintf(want, sizeof(want),
		 "qmctl: TLS with 127.0.0.1 port %d: the server closed the connection (does it speak "
		 "TLS?)\n", port);
	cr_expect_str_eq(err, want);
	cr_expect_eq(qmcp_counter(http, "sessions_refused_transport"), 1);
	qp_stop_clean(pid, "/dev/null");
}

Test(qmcp_tls, tls_only_refuses_plain_qmcp, .timeout = 120)
{
	certs();
	int port, http;
	char *extra[] = {"--tls-cert", cert, "--tls-key", key, "--tls-only", NULL};
	int pid = probe(&port, &http, "0@0,1@1", extra);
	char out[8192], err[2048], want[512];
	char *info[] = {"info", NULL};
	cr_assert_eq(qp_qmctl(port, NULL, info, out, sizeof(out), err, sizeof(err)), 3);
	snprintf(want, sizeof(want),
		 "qmctl: 127.0.0.1:%d: DENIED: this probe takes QMCP over TLS only (qmctl --tls, tls:// "
		 "destinations)\n", port);
	cr_expect_str_eq(err, want);
	cr_expect_eq(qmcp_counter(http, "sessions_refused_transport"), 1);
	char *info_tls[] = {"--ca", cert, "--json", "info", NULL};
	cr_assert_eq(qp_qmctl(port, NULL, info_tls, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	json_t *j = json_loads(out, 0, NULL);
	json_t *tr = json_object_get(j, "transports");
	cr_assert_eq(json_array_size(tr), 1);
	cr_expect_str_eq(json_string_value(json_array_get(tr, 0)), "qmcp+tls");
	json_decref(j);
	qp_stop_clean(pid, "/dev/null");
	/* and its options checked before it starts */
	char bin[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	char *argv[] = {bin, "-l", "0,1", "--no-huge", "-m", "256", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", "net_pcap0,rx_pcap=tests/data/demo.pcap", "--",
			"--qmcp-port", "0", "--tls-only", NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 60, &r);
	cr_expect(r.exited && r.status == 1, "exit %d", r.status);
	cr_expect_str_eq(r.err, "qprobe: --tls-only needs --tls-cert and --tls-key\n");
	char *argv2[] = {bin, "-l", "0,1", "--no-huge", "-m", "256", "--no-shconf", "--no-pci",
			 "--log-level=error", "--vdev", "net_pcap0,rx_pcap=tests/data/demo.pcap", "--",
			 "--qmcp-port", "0", "--tls-cert", key, "--tls-key", key, NULL};
	qp_run(argv2, NULL, 60, &r);
	cr_expect(r.exited && r.status == 1, "exit %d", r.status);
	cr_expect(strstr(r.err, "qprobe: --tls-cert: TLS certificate ") != NULL, "%s", r.err);
}

static long sqlite_count(const char *db, const char *q)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s' '%s'", db, q);
	return qp_sh_long(cmd);
}

Test(qmcp_tls, results_to_a_tls_receiver_and_a_tls_secondary, .timeout = 180)
{
	certs();
	/* a receiver that takes TLS only */
	char bin[256], sp[16], db[256], serr[256];
	snprintf(bin, sizeof(bin), "%s/qmstore", qp_build());
	int sport = qp_free_port();
	snprintf(sp, sizeof(sp), "%d", sport);
	snprintf(db, sizeof(db), "%s/tls.sqlite", qp_tmpdir());
	snprintf(serr, sizeof(serr), "%s/qmstore.err", qp_tmpdir());
	char *sargv[] = {bin, "--listen", "127.0.0.1", "--port", sp, "--db", db, "--tls-cert", cert,
			 "--tls-key", key, "--tls-only", "--quiet", NULL};
	int spid = qp_spawn(sargv, NULL, serr);
	/* the secondary takes TLS; the primary trusts its certificate */
	int p2, h2, p1, h1;
	char *sec[] = {"--tls-cert", cert, "--tls-key", key, NULL};
	int pid2 = probe(&p2, &h2, "0@1,1@0", sec);
	char *pri[] = {"--tls-ca", cert, NULL};
	int pid1 = probe(&p1, &h1, "0@0,1@1", pri);
	char out[8192], err[2048], dest[64], peer[64];
	snprintf(dest, sizeof(dest), "tls://127.0.0.1:%d", sport);
	snprintf(peer, sizeof(peer), "tls://127.0.0.1:%d", p2);
	char *start[] = {"--json", "start", "--interval", "100", "--dest", dest, "--peer", peer, NULL};
	cr_assert_eq(qp_qmctl(p1, NULL, start, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	/* results reach the receiver over TLS, and the secondary runs its half */
	long stored = 0;
	for (int i = 0; i < 300 && stored < 3; i++) {
		nap_ms(100);
		stored = sqlite_count(db, "SELECT count(*) FROM results");
	}
	cr_expect_geq(stored, 3, "results stored over TLS: %ld", stored);
	char *list[] = {"--json", "list", NULL};
	cr_assert_eq(qp_qmctl(p2, NULL, list, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	cr_expect(strstr(out, "\"role\": \"secondary\"") != NULL, "the secondary's half: %s", out);
	cr_expect_eq(qmcp_counter(h2, "sessions_tls"), 1, "the primary's session to it, over TLS");
	char *status[] = {"--json", "status", "1", NULL};
	cr_assert_eq(qp_qmctl(p1, NULL, status, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	cr_expect(strstr(out, "\"peer_state\": \"connected\"") != NULL, "the peer link: %s", out);
	cr_expect(strstr(out, "\"peer_measurement\": 1") != NULL, "%s", out);
	qp_stop_clean(pid1, "/dev/null");
	qp_stop_clean(pid2, "/dev/null");
	kill(spid, SIGTERM);
	struct qp_run_result r;
	qp_wait(spid, 30, &r, serr);
	cr_expect(r.exited && r.status == 0, "%s", r.err);
}

/* one QMCP frame written over TLS */
static void tls_send(SSL *ssl, uint8_t type, uint32_t req, uint32_t meas, uint32_t last)
{
	struct qmcp_msg m;
	qmcp_msg_init(&m, type, 0, req);
	if (type == QMCP_MSG_HELLO)
		qmcp_put_str(&m, QMCP_T_CLIENT_NAME, "vanishing");
	else {
		qmcp_put_u32(&m, QMCP_T_MEAS_ID, meas);
		qmcp_put_u32(&m, QMCP_T_LAST, last);
	}
	size_t n;
	const uint8_t *f = qmcp_msg_frame(&m, &n);
	cr_assert_not_null(f);
	cr_assert_eq(SSL_write(ssl, f, (int)n), (int)n);
	qmcp_msg_free(&m);
}

/*
 * A TLS controller that asks for more than its window takes and then resets
 * the connection: the probe's next write to it fails. OpenSSL writes with
 * write(2), so that raises SIGPIPE, which must not kill the probe.
 */
Test(qmcp_tls, a_controller_that_resets_mid_answer, .timeout = 120)
{
	certs();
	int port, http;
	char *extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
	int pid = probe(&port, &http, "0@0,1@1", extra);
	char out[8192], err[2048];
	char *start[] = {"--tls", "--ca", cert, "start", "--interval", "50", NULL};
	cr_assert_eq(qp_qmctl(port, NULL, start, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	nap_ms(2000); /* 40 intervals to ask for */
	for (int round = 0; round < 3; round++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		int small = 1024;
		setsockopt(s, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		cr_assert_eq(kill(pid, 0), 0, "the probe died when a TLS controller reset mid-answer");
		cr_assert_eq(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
		SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
		SSL *ssl = SSL_new(ctx);
		SSL_set_fd(ssl, s);
		cr_assert_eq(SSL_connect(ssl), 1);
		tls_send(ssl, QMCP_MSG_HELLO, 1, 0, 0);
		uint8_t buf[512];
		cr_assert_gt(SSL_read(ssl, buf, sizeof(buf)), 0, "the HELLO answer");
		tls_send(ssl, QMCP_MSG_RESULTS, 2, 1, 40);
		nap_ms(200); /* the answer fills the window, the rest waits in the probe */
		struct linger l = {1, 0};
		setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		close(s); /* a reset, no TLS close notice */
		SSL_free(ssl);
		SSL_CTX_free(ctx);
		nap_ms(300);
		cr_assert_eq(kill(pid, 0), 0, "the probe died when a TLS controller reset mid-answer");
	}
	char *info[] = {"--tls", "--ca", cert, "info", NULL};
	cr_assert_eq(qp_qmctl(port, NULL, info, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	qp_stop_clean(pid, "/dev/null");
}
