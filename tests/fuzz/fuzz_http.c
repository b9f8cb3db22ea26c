/*
 * libFuzzer target for the HTTP endpoint: byte 0 picks a server without
 * auth or one with basic auth (user "fuzz", password "fuzz-pass"); the rest is
 * what a client sends, written to that server on loopback (libmicrohttpd's
 * request parsing, the Authorization header, then qp_http's paths and query
 * parameters: top, sort, last, measurement) whose callbacks answer as the
 * probe's would. After each input, a plain GET /api/v1/stats on a new
 * connection must still be answered 200: no request leaves the endpoint unable
 * to serve the next.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define _GNU_SOURCE
#include <crypt.h>

#include "fuzz.h"
#include "qp_http.h"

static json_t *stats(void *arg)
{
	(void)arg;
	return json_pack("{s:i}", "ports", 1);
}

static json_t *flows(void *arg, unsigned int meas, unsigned int top, enum qp_flow_sort sort)
{
	(void)arg;
	if (meas > 3)
		return json_pack("{s:s,s:i}", "error", "no such measurement", "status", 404);
	return json_pack("{s:i,s:i,s:[]}", "top", top, "sort", sort, "flows");
}

static json_t *intervals(void *arg, unsigned int meas, unsigned int last)
{
	(void)arg;
	if (meas > 3)
		return json_pack("{s:s,s:i}", "error", "no such measurement", "status", 404);
	return json_pack("{s:i,s:[]}", "last", last, "intervals");
}

static json_t *measurements(void *arg, unsigned int id)
{
	(void)arg;
	if (id > 3)
		return json_pack("{s:s,s:i}", "error", "no such measurement", "status", 404);
	return json_pack("{s:i}", "id", id);
}

static char *metrics(void *arg)
{
	(void)arg;
	return strdup("qprobe_up 1\n");
}

static const char page[] = "<!doctype html><title>qprobe</title>";
static struct qp_http *srv[2];
static int ports[2];

/* [0] no auth, [1] basic auth */
static void start(void)
{
	static const struct qp_http_ops ops = {stats, flows, intervals, measurements, metrics,
					       NULL, NULL, NULL, page, sizeof(page) - 1};
	static struct qp_http_security sec = {.nusers = 1, .users = {{"fuzz", ""}}};
	char salt[64];
	struct crypt_data cd = {0};
	const char *h = crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)) ? crypt_r("fuzz-pass", salt, &cd) : NULL;
	if (!h || h[0] != '$')
		fuzz_fail("no bcrypt from crypt(3)");
	snprintf(sec.users[0].hash, sizeof(sec.users[0].hash), "%s", h);
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 64 && !srv[k]; i++) {
			ports[k] = 20000 + (getpid() * 7 + i * 131 + k * 4111) % 40000;
			srv[k] = qp_http_start("127.0.0.1", ports[k], NULL, k ? &sec : NULL, &ops);
		}
	if (!srv[0] || !srv[1])
		fuzz_fail("no port for the HTTP servers");
}

/*
 * Send req and read the answer's first bytes into buf (NUL-terminated):
 * what arrives until the server closes or is quiet for quiet_ms. The
 * connection is then reset, so the server frees it at once (a request it
 * waits on the rest of would otherwise hold its slot for QP_HTTP_IDLE_S).
 */
static size_t exchange(int port, const uint8_t *req, size_t n, char *buf, size_t cap, int quiet_ms)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fuzz_fail("socket: %s", strerror(errno));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0)
		fuzz_fail("connect to the HTTP server: %s", strerror(errno));
	size_t at = 0;
	while (at < n) {
		ssize_t w = send(s, req + at, n - at, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* the server may close early on a bad request */
		at += (size_t)w;
	}
	size_t got = 0;
	for (;;) {
		struct pollfd p = {s, POLLIN, 0};
		if (poll(&p, 1, quiet_ms) <= 0)
			break;
		char tmp[4096];
		ssize_t r = recv(s, tmp, sizeof(tmp), 0);
		if (r <= 0)
			break;
		size_t take = (size_t)r < cap - 1 - got ? (size_t)r : cap - 1 - got;
		memcpy(buf + got, tmp, take);
		got += take;
	}
	buf[got] = 0;
	struct linger l = {1, 0};
	setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(s);
	return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 8192)
		return 0;
	if (!srv[0])
		start();
	int port = ports[data[0] & 1];
	char ans[512];
	size_t n = exchange(port, data + 1, size - 1, ans, sizeof(ans), 20);
	if (n && strncmp(ans, "HTTP/1.", 7) == 0 &&
	    (n < 12 || ans[8] != ' ' || ans[9] < '1' || ans[9] > '5'))
		fuzz_fail("a status line without a status: %.40s", ans);
	static const char good[] = "GET /api/v1/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
				   "Authorization: Basic ZnV6ejpmdXp6LXBhc3M=\r\n\r\n";
	/* "still answers", not "answers fast": a wrong password costs a bcrypt first */
	exchange(port, (const uint8_t *)good, sizeof(good) - 1, ans, sizeof(ans), 10000);
	if (strncmp(ans, "HTTP/1.1 200", 12) != 0)
		fuzz_fail("GET /api/v1/stats after the input: '%.60s'", ans);
	return 0;
}
