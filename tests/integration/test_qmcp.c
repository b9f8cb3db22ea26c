/*
 * QMCP end to end: a real probe on a net_tap port, controllers over
 * loopback (libqmcp in this process, and qmctl), frames injected into the
 * tap after the measurements start. Independent results for three
 * controllers with different filters, a killed controller's measurements,
 * 64 sessions, the allow-list, the shared secret, discovery, and hostile
 * peers after which a legitimate controller is still served.
 *
 * Live: starts DPDK probes (tests/run.sh runs such binaries one at a time).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/qmcp_auth.h"
#include "../../lib/qmcp_client.h"
#include "qp_qmcp.h"
#include "qp_run.h"

static int qmctl(const struct probe *p, const char *secret, char *const args[], char *out,
		 size_t outlen, char *err, size_t errlen)
{
	return qp_qmctl(p->port, secret, args, out, outlen, err, errlen);
}

/* How many measurements LIST shows. */
static int count_meas(struct qmcp_client *c)
{
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_LIST, 0, qmcp_client_next_id(c));
	struct qmcp_reply r = call_ok(c, &m);
	int n = 0;
	struct qmcp_iter it;
	struct qmcp_tlv t;
	qmcp_iter_init(&it, r.body, r.len);
	while (qmcp_next(&it, &t) == 1)
		n += t.type == QMCP_T_MEAS;
	qmcp_reply_free(&r);
	return n;
}

Test(qmcp, three_controllers_get_independent_results, .timeout = 240)
{
	struct probe p;
	probe_start(&p, "127.0.0.1/32");
	static const char *filters[3] = {"udp port 53", "tcp and not udp", "icmp"};
	struct qmcp_client *c[3];
	uint32_t id[3];
	long want[3];
	for (int k = 0; k < 3; k++) {
		want[k] = offline_measured(filters[k]);
		c[k] = ctl(&p);
		id[k] = start_meas(c[k], filters[k], 100, 0);
	}
	cr_assert(want[0] == 40 && want[2] == 10, "demo: 40 DNS frames, 10 pings (%ld, %ld)", want[0],
		  want[2]);
	inject(p.tap);
	for (int k = 0; k < 3; k++)
		wait_measured(c[k], id[k], 163, want[k]);
	/* each controller sees its own measurement in LIST, all three there */
	cr_assert_eq(count_meas(c[0]), 3);
	struct qmcp_msg m;
	struct qmcp_reply r;
	/* an unknown request is answered with an error and the session goes on */
	qmcp_msg_init(&m, 99, 0, qmcp_client_next_id(c[1]));
	char err[512];
	cr_assert_eq(qmcp_client_call(c[1], &m, &r, 5000, err, sizeof(err)), -EREMOTEIO);
	qmcp_msg_free(&m);
	cr_assert(strstr(err, "UNKNOWN_TYPE: message type 99"), "%s", err);
	qmcp_reply_free(&r);
	/* a two-point START with a role that does not exist is refused, nothing started */
	qmcp_msg_init(&m, QMCP_MSG_START, 0, qmcp_client_next_id(c[1]));
	qmcp_put_u8(&m, QMCP_T_TP_ROLE, 3);
	cr_assert_eq(qmcp_client_call(c[1], &m, &r, 5000, err, sizeof(err)), -EREMOTEIO);
	qmcp_msg_free(&m);
	cr_assert(strstr(err, "BAD_PARAM: TP_ROLE 3: 1 (primary, with TP_PEER) or 2 (secondary) is "
			      "accepted"), "%s", err);
	qmcp_reply_free(&r);
	/* a flow key with a part that does not exist, named twice, or both GTP-U parts */
	static const char *const bad_keys[][2] = {
		{"vni,mpls", "BAD_PARAM: FLOW_KEY: flow key \"vni,mpls\": \"mpls\" is not a part; "
			     "\"5tuple\" or a comma-separated list of vlan, vni, gre-key, gtpu-peers, teid"},
		{"vlan,vlan", "BAD_PARAM: FLOW_KEY: flow key \"vlan,vlan\": vlan named twice"},
		{"teid,gtpu-peers", "gtpu-peers and teid both name the GTP-U part"},
	};
	for (int k = 0; k < 3; k++) {
		qmcp_msg_init(&m, QMCP_MSG_START, 0, qmcp_client_next_id(c[1]));
		qmcp_put_str(&m, QMCP_T_FLOW_KEY, bad_keys[k][0]);
		cr_assert_eq(qmcp_client_call(c[1], &m, &r, 5000, err, sizeof(err)), -EREMOTEIO);
		qmcp_msg_free(&m);
		cr_assert(strstr(err, bad_keys[k][1]), "%s", err);
		qmcp_reply_free(&r);
	}
	cr_assert_eq(count_meas(c[0]), 3, "and nothing was started");
	/* the probe's flow key is START's default, and a START names its own */
	json_t *s0 = status(c[0], id[0]);
	cr_assert_str_eq(json_string_value(json_object_get(s0, "flow_key")),
			 "vlan,vni,gre-key,gtpu-peers");
	json_decref(s0);
	qmcp_msg_init(&m, QMCP_MSG_START, 0, qmcp_client_next_id(c[1]));
	qmcp_put_str(&m, QMCP_T_FLOW_KEY, "teid,vni");
	qmcp_put_u8(&m, QMCP_T_PERSIST, 0);
	uint32_t kid = call_start(c[1], &m);
	s0 = status(c[1], kid);
	cr_assert_str_eq(json_string_value(json_object_get(s0, "flow_key")), "vni,teid");
	json_decref(s0);
	qmcp_msg_init(&m, QMCP_MSG_STOP, 0, qmcp_client_next_id(c[1]));
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, kid);
	cr_assert_eq(qmcp_client_call(c[1], &m, &r, 5000, err, sizeof(err)), 0, "%s", err);
	qmcp_msg_free(&m);
	qmcp_reply_free(&r);
	json_t *s = status(c[1], id[1]);
	cr_assert_str_eq(json_string_value(json_object_get(s, "filter")), filters[1]);
	json_decref(s);
	/* the same through HTTP, read-only */
	char *body = NULL;
	cr_assert_eq(qp_http_get(p.http_port, "/api/v1/measurements", &body), 200);
	json_t *all = json_loads(body, 0, NULL);
	free(body);
	cr_assert_eq(json_array_size(json_object_get(all, "measurements")), 3);
	json_decref(all);
	char path[64];
	snprintf(path, sizeof(path), "/api/v1/measurements/%u", id[0]);
	cr_assert_eq(qp_http_get(p.http_port, path, &body), 200);
	json_t *one = json_loads(body, 0, NULL);
	free(body);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(one, "capture"), "measured")),
		     want[0]);
	/* the lcore's flow tables in /api/v1/stats: the three share one; its
	 * memory and the lcore's pool are what each measurement reports */
	cr_assert_eq(qp_http_get(p.http_port, "/api/v1/stats", &body), 200);
	json_t *st = json_loads(body, 0, NULL);
	free(body);
	json_t *lc = json_array_get(json_object_get(st, "lcores"), 0);
	json_t *tabs = json_object_get(lc, "flow_tables");
	cr_assert_eq(json_array_size(tabs), 1, "one table shared by the three");
	json_t *tab = json_array_get(tabs, 0);
	cr_assert_eq(json_array_size(json_object_get(tab, "measurements")), 3);
	json_t *mem = json_object_get(one, "memory");
	cr_assert_eq(json_integer_value(json_object_get(lc, "flow_table_bytes")),
		     json_integer_value(json_object_get(mem, "total_bytes")));
	json_t *pool = json_object_get(lc, "flow_pool");
	cr_assert_eq(json_integer_value(json_object_get(pool, "tables")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(pool, "memory")), "touched",
			 "faulted in at start-up (no hugepages here)");
	cr_assert_eq(json_integer_value(json_object_get(pool, "socket")), 0);
	const char *key;
	json_t *v;
	json_object_foreach(json_object_get(mem, "per_lcore"), key, v) {
		json_t *x = json_object_get(tab, key);
		cr_assert_eq(json_integer_value(x ? x : json_object_get(pool, key)), json_integer_value(v),
			     "%s", key);
	}
	cr_assert_eq(json_integer_value(json_object_get(tab, "total_bytes")) +
			     json_integer_value(json_object_get(pool, "total_bytes")),
		     json_integer_value(json_object_get(mem, "total_bytes")), "one lcore");
	json_decref(st);
	json_decref(one);
	cr_assert_eq(qp_http_get(p.http_port, "/api/v1/measurements/999", &body), 404);
	cr_assert(strstr(body, "no measurement 999"), "%s", body);
	free(body);
	snprintf(path, sizeof(path), "/api/v1/flows?measurement=%u&top=5", id[2]);
	cr_assert_eq(qp_http_get(p.http_port, path, &body), 200);
	json_t *fl = json_loads(body, 0, NULL);
	free(body);
	cr_assert_eq(json_integer_value(json_object_get(fl, "active_flows")), 1, "one ping flow");
	json_decref(fl);
	for (int k = 0; k < 3; k++)
		qmcp_client_close(c[k]);
	probe_stop(&p);
}

Test(qmcp, a_killed_controller_ends_its_own_measurements_only, .timeout = 240)
{
	struct probe p;
	probe_start(&p, "127.0.0.1/32");
	struct qmcp_client *keeper = ctl(&p);
	uint32_t kept = start_meas(keeper, "udp", 200, 0);
	uint32_t persist = start_meas(keeper, "tcp", 200, 1);
	/* a qmctl that watches a measurement of its own, killed */
	char bin[256], probe[64];
	snprintf(bin, sizeof(bin), "%s/qmctl", qp_build());
	snprintf(probe, sizeof(probe), "127.0.0.1:%d", p.port);
	char *argv[] = {bin, "--probe", probe, "--secret-file", p.secret, "start", "--filter", "icmp",
			"--interval", "100", "--watch", NULL};
	char out[256], errp[256];
	snprintf(out, sizeof(out), "%s/watch.out", qp_tmpdir());
	snprintf(errp, sizeof(errp), "%s/watch.err", qp_tmpdir());
	int pid = qp_spawn(argv, out, errp);
	int three = 0;
	for (int i = 0; i < 3000 && !three; i++) {
		three = count_meas(keeper) == 3;
		if (!three)
			nap_ms(10);
	}
	cr_assert(three, "the watcher's measurement never appeared");
	kill(pid, SIGKILL);
	struct qp_run_result wr;
	qp_wait(pid, 30, &wr, errp);
	/* its measurement (id 3) ends; the keeper's two stay */
	int left = -1;
	for (int i = 0; i < 3000; i++) {
		struct qmcp_msg m;
		qmcp_msg_init(&m, QMCP_MSG_STATUS, 0, qmcp_client_next_id(keeper));
		qmcp_put_u32(&m, QMCP_T_MEAS_ID, 3);
		struct qmcp_reply r;
		char err[512];
		int e = qmcp_client_call(keeper, &m, &r, 5000, err, sizeof(err));
		qmcp_msg_free(&m);
		qmcp_reply_free(&r);
		if (e == -EREMOTEIO && strstr(err, "NO_SUCH_MEAS")) {
			left = 1;
			break;
		}
		nap_ms(10);
	}
	cr_assert_eq(left, 1, "measurement 3 outlived its controller");
	json_t *a = status(keeper, kept), *b = status(keeper, persist);
	cr_assert_str_eq(json_string_value(json_object_get(a, "state")), "running");
	cr_assert_str_eq(json_string_value(json_object_get(b, "state")), "running");
	json_decref(a);
	json_decref(b);
	/* the keeper leaves: its persistent measurement stays, the other ends */
	qmcp_client_close(keeper);
	struct qmcp_client *c = ctl(&p);
	for (int i = 0; i < 3000; i++) {
		struct qmcp_msg m;
		qmcp_msg_init(&m, QMCP_MSG_STATUS, 0, qmcp_client_next_id(c));
		qmcp_put_u32(&m, QMCP_T_MEAS_ID, kept);
		struct qmcp_reply r;
		char err[512];
		int e = qmcp_client_call(c, &m, &r, 5000, err, sizeof(err));
		qmcp_msg_free(&m);
		qmcp_reply_free(&r);
		if (e == -EREMOTEIO)
			break;
		nap_ms(10);
	}
	json_t *still = status(c, persist);
	cr_assert_eq(json_integer_value(json_object_get(still, "id")), persist);
	json_decref(still);
	qmcp_client_close(c);
	probe_stop(&p);
}

Test(qmcp, sixty_four_sessions_each_with_a_measurement, .timeout = 300)
{
	struct probe p;
	probe_start(&p, "127.0.0.1/32");
	struct qmcp_client *c[64];
	uint32_t id[64];
	for (int k = 0; k < 64; k++) {
		c[k] = ctl(&p);
		id[k] = start_meas(c[k], k % 2 ? "ip and udp" : "tcp", 100, 0);
	}
	inject(p.tap);
	long want_tcp = offline_measured("tcp"), want_udp = offline_measured("ip and udp");
	for (int k = 0; k < 64; k++)
		wait_measured(c[k], id[k], 163, k % 2 ? want_udp : want_tcp);
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_INFO, 0, qmcp_client_next_id(c[0]));
	struct qmcp_reply r = call_ok(c[0], &m);
	struct qmcp_tlv t;
	cr_assert_eq(qmcp_find(r.body, r.len, QMCP_T_INFO_JSON, &t), 1);
	json_t *info = json_loadb((const char *)t.val, t.len, 0, NULL);
	cr_assert_eq(json_integer_value(json_object_get(info, "sessions")), 64);
	cr_assert_eq(json_integer_value(json_object_get(info, "measurements")), 64);
	json_decref(info);
	qmcp_reply_free(&r);
	for (int k = 0; k < 64; k++)
		qmcp_client_close(c[k]);
	/* every measurement ended with its session */
	struct qmcp_client *x = ctl(&p);
	long n = -1;
	for (int i = 0; i < 3000 && n != 0; i++) {
		n = count_meas(x);
		if (n)
			nap_ms(10);
	}
	cr_assert_eq(n, 0);
	qmcp_client_close(x);
	probe_stop(&p);
}

Test(qmcp, allow_list_secret_and_discovery, .timeout = 240)
{
	struct probe p;
	probe_start(&p, "127.0.0.1/32");
	char out[4096], err[8192];
	char *info[] = {"info", NULL};
	/* no secret, a wrong secret: connection or authentication failure, exit 3 */
	cr_assert_eq(qmctl(&p, NULL, info, out, sizeof(out), err, sizeof(err)), 3, "%s", err);
	cr_assert(strstr(err, "the probe requires the shared secret"), "%s", err);
	char wrong[256];
	snprintf(wrong, sizeof(wrong), "%s/wrong", qp_tmpdir());
	write_secret(wrong, "not-the-secret-at-all-0000");
	cr_assert_eq(qmctl(&p, wrong, info, out, sizeof(out), err, sizeof(err)), 3, "%s", err);
	cr_assert(strstr(err, "AUTH_FAILED: wrong HMAC"), "%s", err);
	/* the right one */
	cr_assert_eq(qmctl(&p, p.secret, info, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	cr_assert(strstr(out, "port       net_tap0 (net_tap)"), "%s", out);
	/* a refusal by the probe is exit 2 with its message as sent */
	char *bad[] = {"start", "--interval", "10", NULL};
	cr_assert_eq(qmctl(&p, p.secret, bad, out, sizeof(out), err, sizeof(err)), 2, "%s", err);
	cr_assert(strstr(err, "BAD_PARAM: interval 10 ms: from 50 ms to 3600000 ms is accepted"), "%s",
		  err);
	char *badf[] = {"start", "--filter", "tcp and and", NULL};
	cr_assert_eq(qmctl(&p, p.secret, badf, out, sizeof(out), err, sizeof(err)), 2, "%s", err);
	cr_assert(strstr(err, "BAD_PARAM"), "%s", err);
	char *badd[] = {"start", "--dns-ports", "53,x", NULL};
	cr_assert_eq(qmctl(&p, p.secret, badd, out, sizeof(out), err, sizeof(err)), 2, "%s", err);
	cr_assert(strstr(err, "BAD_PARAM: DNS_PORTS: '53,x' is not a port list; expected PORT[,PORT...]: "
			      "1 to 8 ports from 1 to 65535"),
		  "%s", err);
	/* DNS ports, server names and the metric families reach the measurement */
	char *dns[] = {"start", "--dns-ports", "53,5353", "--tls-sni", "--metrics", "dns,quic,tls", NULL};
	cr_assert_eq(qmctl(&p, p.secret, dns, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	char mid[16];
	unsigned int id = 0;
	cr_assert_eq(sscanf(out, "measurement %u started", &id), 1, "%s", out);
	snprintf(mid, sizeof(mid), "%u", id);
	char *st[] = {"--json", "status", mid, NULL};
	cr_assert_eq(qmctl(&p, p.secret, st, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	json_t *sj = json_loads(out, 0, NULL);
	cr_assert_not_null(sj, "%s", out);
	cr_expect_eq(json_integer_value(json_array_get(json_object_get(sj, "dns_ports"), 1)), 5353, "%s", out);
	cr_expect(json_is_true(json_object_get(sj, "tls_sni")), "%s", out);
	char *fams = json_dumps(json_object_get(sj, "metrics"), JSON_COMPACT);
	cr_expect_str_eq(fams, "[\"traffic\",\"dns\",\"quic\",\"tls\"]");
	free(fams);
	json_decref(sj);
	char *stop[] = {"stop", mid, NULL};
	cr_assert_eq(qmctl(&p, p.secret, stop, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	/* a watched measurement: a header and one row per interval, then it ends */
	char *watch[] = {"start", "--interval", "100", "--watch", "--count", "3", NULL};
	cr_assert_eq(qmctl(&p, p.secret, watch, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	int rows = 0;
	for (char *l = strstr(out, "\n"); l && l[1]; l = strstr(l + 1, "\n"))
		rows++;
	cr_assert(strstr(out, "time (UTC)      seq     bit/s fwd/rev"), "%s", out);
	cr_assert_eq(rows, 1 + 3, "a header and three rows: %s", out);
	char *list[] = {"--json", "list", NULL};
	cr_assert_eq(qmctl(&p, p.secret, list, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
	json_t *l = json_loads(out, 0, NULL);
	cr_assert_eq(json_array_size(l), 0, "the watched measurement ended with its session: %s", out);
	json_decref(l);
	/* discovery: answered to the secret's holder, and proven back */
	struct qmcp_located found[4];
	int nf = 0;
	const char *target[] = {"127.0.0.1"};
	char e2[256];
	void collect(const struct qmcp_located *l, void *arg);
	int k = qmcp_locate(target, 1, p.port, (const uint8_t *)SECRET, strlen(SECRET), 1000,
			    collect, &nf, e2, sizeof(e2));
	cr_assert_eq(k, 1, "%s", e2);
	(void)found;
	k = qmcp_locate(target, 1, p.port, NULL, 0, 500, NULL, NULL, e2, sizeof(e2));
	cr_assert_eq(k, 0, "no answer without the secret");
	probe_stop(&p);

	/* an allow-list without loopback: refused, and told why */
	probe_start(&p, "192.0.2.0/24");
	cr_assert_eq(qmctl(&p, p.secret, info, out, sizeof(out), err, sizeof(err)), 3, "%s", err);
	cr_assert(strstr(err, "DENIED: 127.0.0.1:"), "%s", err);
	cr_assert(strstr(err, "is not on this probe's allow-list"), "%s", err);
	k = qmcp_locate(target, 1, p.port, (const uint8_t *)SECRET, strlen(SECRET), 500, NULL, NULL,
			e2, sizeof(e2));
	cr_assert_eq(k, 0, "discovery is not answered off the allow-list");
	probe_stop(&p);
}

void collect(const struct qmcp_located *l, void *arg)
{
	int *n = arg;
	cr_assert(l->verified, "the probe proved the secret");
	cr_assert_eq(l->auth_required, 1);
	cr_assert_str_eq(l->version, "0.1.0");
	(*n)++;
}

static long rss_kb(int pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static int raw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Send bytes, then read until the probe closes; returns what it answered. */
static size_t hostile(int port, const void *bytes, size_t n, uint8_t *ans, size_t cap)
{
	int fd = raw_connect(port);
	if (n)
		cr_assert_eq(send(fd, bytes, n, MSG_NOSIGNAL), (ssize_t)n);
	size_t got = 0;
	struct timeval tv = {30, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		ssize_t k = recv(fd, ans + got, cap - got, 0);
		if (k <= 0)
			break;
		got += (size_t)k;
		if (got == cap)
			break;
	}
	close(fd);
	return got;
}

static uint16_t answer_code(const uint8_t *a, size_t n)
{
	struct qmcp_hdr h;
	struct qmcp_tlv t;
	uint16_t code = 0;
	if (qmcp_hdr_decode(a, n, &h) == 0 && n >= QMCP_HDR_LEN + h.length &&
	    qmcp_find(a + QMCP_HDR_LEN, h.length, QMCP_T_ERROR_CODE, &t) == 1)
		qmcp_tlv_u16(&t, &code);
	return code;
}

static void hostile_round(const struct probe *p)
{
	uint8_t ans[4096];
	/* garbage: answered MALFORMED, closed */
	static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	size_t n = hostile(p->port, junk, sizeof(junk) - 1, ans, sizeof(ans));
	cr_assert_eq(answer_code(ans, n), QMCP_E_MALFORMED);
	/* a 4 GiB length: TOO_BIG before a byte of it is buffered */
	uint8_t big[16] = {'Q', 'M', 1, QMCP_MSG_START, 0, 0, 0, 0, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff};
	n = hostile(p->port, big, sizeof(big), ans, sizeof(ans));
	cr_assert_eq(answer_code(ans, n), QMCP_E_TOO_BIG);
	/* another version */
	uint8_t v9[16] = {'Q', 'M', 9, QMCP_MSG_INFO, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0};
	n = hostile(p->port, v9, sizeof(v9), ans, sizeof(ans));
	cr_assert_eq(answer_code(ans, n), QMCP_E_VERSION);
	/* a frame cut short, then closed */
	for (int k = 0; k < 20; k++) {
		int fd = raw_connect(p->port);
		uint8_t cut[24] = {'Q', 'M', 1, QMCP_MSG_HELLO, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0};
		cr_assert_eq(send(fd, cut, sizeof(cut), MSG_NOSIGNAL), (ssize_t)sizeof(cut));
		close(fd);
	}
	/* 1000 rapid connects */
	for (int k = 0; k < 1000; k++)
		close(raw_connect(p->port));
}

Test(qmcp, hostile_peers_delay_no_one_and_leave_nothing_behind, .timeout = 300)
{
	struct probe p;
	/* under ASan, freed memory waits in a quarantine and RSS would only grow:
	 * without it the sanitizer build measures what the allocator keeps */
	setenv("QP_ASAN_EXTRA", "quarantine_size_mb=0", 1);
	probe_start(&p, "127.0.0.1/32");
	unsetenv("QP_ASAN_EXTRA");
	/* a connection that sends nothing stays open throughout */
	int silent = raw_connect(p.port);
	struct qmcp_client *c = ctl(&p);
	uint32_t id = start_meas(c, "udp port 53", 100, 1);
	/* the allocator's free lists fill to the rounds' working set over the
	 * first ones (under ASan by 200-300 kB a round for three rounds, then
	 * tens: measured), a leak goes on growing with every round: the
	 * reading starts after three */
	for (int k = 0; k < 3; k++)
		hostile_round(&p);
	long rss1 = rss_kb(p.pid);
	hostile_round(&p);
	hostile_round(&p);
	long rss2 = rss_kb(p.pid);
	hostile_round(&p);
	hostile_round(&p);
	long rss3 = rss_kb(p.pid);
	cr_log_info("probe RSS after three hostile rounds %ld kB, after five %ld kB, after seven %ld kB",
		    rss1, rss2, rss3);
	/* a leak grows over every two rounds; memory the probe touches once at
	 * some point of its life (a fresh machine ran the rounds in a quarter of
	 * the time and caught a one-off 3.8 MB between rounds 3 and 5, where 60
	 * to 80 kB is usual) shows between one pair of readings only */
	long g1 = rss2 - rss1, g2 = rss3 - rss2;
	cr_assert(g1 <= 1024 || g2 <= 1024,
		  "memory grew by %ld kB over rounds 4-5 and by %ld kB over rounds 6-7", g1, g2);
	/* the legitimate controller, connected before, and a new one, are served */
	inject(p.tap);
	wait_measured(c, id, 163, 40);
	struct qmcp_client *d = ctl(&p);
	json_t *s = status(d, id);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(s, "capture"), "measured")), 40);
	json_decref(s);
	qmcp_client_close(d);
	qmcp_client_close(c);
	/* the silent one was closed by the probe once it let HELLO time out */
	uint8_t b[256];
	struct timeval tv = {30, 0};
	setsockopt(silent, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t k = recv(silent, b, sizeof(b), 0);
	cr_assert_eq(k, 0, "the probe closes a session that never says HELLO");
	close(silent);
	probe_stop(&p);
}

Test(qmcp, a_config_file_starts_standing_measurements_and_names_every_mistake, .timeout = 240)
{
	char bad[256], good[256], secret[256], bin[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	snprintf(bad, sizeof(bad), "%s/bad.json", qp_tmpdir());
	snprintf(good, sizeof(good), "%s/good.json", qp_tmpdir());
	snprintf(secret, sizeof(secret), "%s/cfg-secret", qp_tmpdir());
	write_secret(secret, SECRET "\n");
	FILE *f = fopen(bad, "w");
	fprintf(f, "{\"probe\": {\"nmae\": \"x\"}, \"qmcp\": {\"port\": 70000},\n"
		   " \"measurements\": [{\"filter\": \"tcp and and\", \"interval_ms\": 10,\n"
		   "   \"destinations\": [\"nohost\"], \"flow_key\": \"vlan,mpls\"}]}\n");
	fclose(f);
	char *check[] = {bin, "--check-config", bad, NULL};
	struct qp_run_result r;
	qp_run(check, NULL, 60, &r);
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "$.probe.nmae: unknown key; accepted here: id, name"), "%s", r.err);
	cr_assert(strstr(r.err, "$.qmcp.port: a whole number from 0 to 65535 is expected"), "%s", r.err);
	cr_assert(strstr(r.err, "$.measurements[0].filter: not a tcpdump filter"), "%s", r.err);
	cr_assert(strstr(r.err, "$.measurements[0].interval_ms: a whole number from 50 to 3600000"),
		  "%s", r.err);
	cr_assert(strstr(r.err, "$.measurements[0].destinations[0]: \"host:port\" is expected"), "%s",
		  r.err);
	cr_assert(strstr(r.err, "$.measurements[0].flow_key: flow key \"vlan,mpls\": \"mpls\" is not "
			       "a part; \"5tuple\" or a comma-separated list"), "%s", r.err);
	cr_assert(strstr(r.err, "6 error(s); the probe would not start"), "%s", r.err);

	int port = qp_free_port();
	f = fopen(good, "w");
	fprintf(f, "{\"probe\": {\"id\": \"tap-7\", \"name\": \"Tap seven\"},\n"
		   " \"qmcp\": {\"addr\": \"127.0.0.1\", \"port\": %d, \"allow\": [\"127.0.0.1/32\"],\n"
		   "   \"secret_file\": \"%s\"},\n"
		   " \"measurements\": [{\"description\": \"dns at boot\", \"filter\": \"udp port 53\",\n"
		   "   \"interval_ms\": 100, \"metrics\": [\"traffic\"], \"flow_key\": \"5tuple\"}]}\n",
		port, secret);
	fclose(f);
	char *ok[] = {bin, "--check-config", good, NULL};
	char out[256];
	snprintf(out, sizeof(out), "%s/check.out", qp_tmpdir());
	qp_run(ok, out, 60, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	struct probe p;
	probe_start_config(&p, good, port, secret);
	struct qmcp_client *c = ctl(&p);
	cr_assert_str_eq(qmcp_client_probe_id(c), "tap-7");
	json_t *s = status(c, 1);
	cr_assert_str_eq(json_string_value(json_object_get(s, "owner")), "config");
	cr_assert_str_eq(json_string_value(json_object_get(s, "description")), "dns at boot");
	cr_assert(json_is_true(json_object_get(s, "persist")));
	cr_assert_eq(json_array_size(json_object_get(s, "metrics")), 1, "traffic only");
	cr_assert_str_eq(json_string_value(json_object_get(s, "flow_key")), "5tuple");
	/* the lcore's pool, sized for the flow budget (2^20 a lcore) at
	 * start-up, and the table the measurement shares (with none here):
	 * 65,536 flows held */
	json_t *mem = json_object_get(s, "memory"), *pl = json_object_get(mem, "per_lcore");
	long mf = (long)json_integer_value(json_object_get(s, "max_flows"));
	cr_assert_eq(mf, 65536);
	cr_assert_eq(json_integer_value(json_object_get(mem, "shared_by")), 1);
	cr_assert_eq(json_integer_value(json_object_get(mem, "flows_held")), mf);
	long cap = 1L << 20;
	long entries = (long)json_integer_value(json_object_get(pl, "flow_entries"));
	cr_assert_eq(entries, cap + cap / 8, "capacity and the RCU reserve");
	cr_assert_eq(json_integer_value(json_object_get(pl, "flow_entry_bytes")), 192);
	cr_assert_eq(json_integer_value(json_object_get(pl, "flow_pool_bytes")), entries * 192);
	cr_assert_eq(json_integer_value(json_object_get(pl, "cold_block_bytes")), 576);
	cr_assert_eq(json_integer_value(json_object_get(pl, "cold_pool_bytes")), entries * 576);
	cr_assert_eq(json_integer_value(json_object_get(pl, "bucket_bytes")), cap * 4);
	/* unlinked entries wait out a grace period 32 to a batch of 160 bytes:
	 * enough batches for every entry and six more */
	cr_assert_eq(json_integer_value(json_object_get(pl, "free_batch_bytes")),
		     (entries / 32 + 6) * 160);
	/* their ring (qp_mpsc): 65,536 slots of 8 bytes (the power of two at or
	 * above 36,870 batches) and the ring's 192-byte header */
	cr_assert_eq(json_integer_value(json_object_get(pl, "batch_ring_bytes")), 65536 * 8 + 192);
	long nd = (long)json_integer_value(json_object_get(pl, "rtt_distributions"));
	cr_assert_eq(nd, 4096);
	cr_assert_eq(json_integer_value(json_object_get(pl, "rtt_distribution_bytes")), nd * 2 * (8184 + 96));
	/* as many application blocks (DNS over TCP, TLS) as distributions, 576 bytes each */
	cr_assert_eq(json_integer_value(json_object_get(pl, "app_blocks")), nd);
	cr_assert_eq(json_integer_value(json_object_get(pl, "app_block_bytes")), nd * 576);
	long per = (long)(json_integer_value(json_object_get(pl, "app_block_bytes")) +
			  json_integer_value(json_object_get(pl, "flow_pool_bytes")) +
			  json_integer_value(json_object_get(pl, "cold_pool_bytes")) +
			  json_integer_value(json_object_get(pl, "bucket_bytes")) +
			  json_integer_value(json_object_get(pl, "free_ring_bytes")) +
			  json_integer_value(json_object_get(pl, "free_batch_bytes")) +
			  json_integer_value(json_object_get(pl, "batch_ring_bytes")) +
			  json_integer_value(json_object_get(pl, "rtt_distribution_bytes")));
	cr_assert_eq(json_integer_value(json_object_get(mem, "lcores")), 1);
	cr_assert_eq(json_integer_value(json_object_get(mem, "total_bytes")), per);
	cr_assert_eq(json_integer_value(json_object_get(mem, "bytes_per_flow")), per / cap);
	json_decref(s);
	inject(p.tap);
	wait_measured(c, 1, 163, 40);
	qmcp_client_close(c);
	probe_stop(&p);
}
