/*
 * IPFIX export, live: a probe replays the demo capture through a net_pcap
 * port into a standing measurement that exports to this test, a TCP
 * collector; at exit every flow goes out (end reason "forced end") with the
 * packets and bytes of the offline report of the same file. A measurement
 * started over QMCP names a collector that cannot be resolved: START is
 * refused with the resolver's message and the probe goes on. And a TCP
 * collector that is down while flows end: their records wait in the
 * backlog, the probe reconnects when the collector is back, and every record
 * arrives, templates first.
 *
 * Live: starts a DPDK probe (tests/run.sh runs such binaries one at a time).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../gen/qp_ipfix_rd.h"
#include "qp_run.h"

#define DEMO "tests/data/demo.pcap"
#define DEMO_FRAMES 163

static char *qbin(void)
{
	static char bin[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	return bin;
}

static void nap_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* The test's TCP collector: one connection, read to its end. */
struct collector {
	int lfd;
	uint8_t buf[1 << 20];
	size_t len;
};

static void *collect(void *arg)
{
	struct collector *c = arg;
	int fd = accept(c->lfd, NULL, NULL);
	ssize_t r;
	while (fd >= 0 && c->len < sizeof(c->buf) &&
	       (r = read(fd, c->buf + c->len, sizeof(c->buf) - c->len)) > 0)
		c->len += (size_t)r;
	if (fd >= 0)
		close(fd);
	return NULL;
}

static json_t *stats_when_measured(int port, int pid)
{
	for (int i = 0; i < 3000; i++) {
		char *body;
		if (qp_http_get(port, "/api/v1/stats", &body) == 200) {
			json_t *j = json_loads(body, 0, NULL);
			free(body);
			if (json_integer_value(json_object_get(json_object_get(j, "totals"), "packets")) ==
			    DEMO_FRAMES)
				return j;
			json_decref(j);
		} else {
			free(body);
		}
		cr_assert_eq(kill(pid, 0), 0, "qprobe exited early");
		nap_ms(10);
	}
	cr_assert_fail("the demo's frames were not measured within 30 s");
	return NULL;
}

/* A socket of the given type bound to a free loopback port (*port). */
static int loopback(int type, int *port)
{
	int fd = socket(AF_INET, type, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t al = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &al);
	*port = ntohs(a.sin_port);
	return fd;
}

/* The offline report's flow a record is of, with its packets and bytes both ways. */
static json_t *offline_flow(const struct ipfix_rd_rec *k, json_t *offj)
{
	int v6 = ipfix_rd_has(k, 0, 27);
	char src[64], dst[64];
	inet_ntop(v6 ? AF_INET6 : AF_INET, ipfix_rd_raw(k, 0, v6 ? 27 : 8), src, sizeof(src));
	inet_ntop(v6 ? AF_INET6 : AF_INET, ipfix_rd_raw(k, 0, v6 ? 28 : 12), dst, sizeof(dst));
	int sp = (int)ipfix_rd_val(k, 0, 7), dp = (int)ipfix_rd_val(k, 0, 11);
	json_t *f = qp_find_flow(offj, src, sp, dst, dp);
	cr_assert_not_null(f, "a record the offline report has not: %s:%d -> %s:%d", src, sp, dst,
			   dp);
	json_t *pk = json_object_get(f, "packets"), *by = json_object_get(f, "bytes");
	cr_assert_eq(ipfix_rd_val(k, 0, 2), json_integer_value(json_object_get(pk, "fwd")));
	cr_assert_eq(ipfix_rd_val(k, 29305, 2), json_integer_value(json_object_get(pk, "rev")));
	cr_assert_eq(ipfix_rd_val(k, 0, 1), json_integer_value(json_object_get(by, "fwd")));
	cr_assert_eq(ipfix_rd_val(k, 29305, 1), json_integer_value(json_object_get(by, "rev")));
	return f;
}

Test(ipfix_live, every_flow_reaches_a_tcp_collector_with_the_offline_figures, .timeout = 300)
{
	static struct collector c;
	int cport;
	c.lfd = loopback(SOCK_STREAM, &cport);
	listen(c.lfd, 1);
	pthread_t th;
	pthread_create(&th, NULL, collect, &c);

	char vdev[300], spec[64], http[16], qmcp[16], out[256], err[256], rep[256], off[256];
	snprintf(vdev, sizeof(vdev), "net_pcap0,rx_pcap=%s", DEMO);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d/tcp", cport);
	int hport = qp_free_port(), qport = qp_free_port();
	snprintf(http, sizeof(http), "%d", hport);
	snprintf(qmcp, sizeof(qmcp), "%d", qport);
	snprintf(out, sizeof(out), "%s/ipx-live.out", qp_tmpdir());
	snprintf(err, sizeof(err), "%s/ipx-live.err", qp_tmpdir());
	snprintf(rep, sizeof(rep), "%s/ipx-live.json", qp_tmpdir());
	snprintf(off, sizeof(off), "%s/ipx-offline.json", qp_tmpdir());
	char *argv[] = {qbin(), "-l", "0,1", "--no-huge", "-m", "256", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", vdev, "--", "--timestamps", "port", "--duration", "120", "--qmcp-port",
			qmcp, "--http-port", http, "--measure", "--ipfix", spec, "--ipfix-domain", "9",
			"--report", "json", "--report-file", rep, NULL};
	int pid = qp_spawn(argv, out, err);
	json_decref(stats_when_measured(hport, pid));

	/* the measurement says where its records go, and that the collector is there */
	char *body;
	cr_assert_eq(qp_http_get(hport, "/api/v1/measurements/1", &body), 200);
	json_t *mj = json_loads(body, 0, NULL);
	free(body);
	json_t *x = json_array_get(json_object_get(mj, "ipfix"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(x, "collector")), spec);
	cr_assert_str_eq(json_string_value(json_object_get(x, "transport")), "tcp");
	cr_assert(json_is_true(json_object_get(x, "up")), "%s", json_dumps(x, 0));
	json_decref(mj);

	/* a collector that cannot be named: START refused, the probe runs on */
	char o[4096], e[4096];
	char *start[] = {"start", "--ipfix", "no-such-collector.invalid:4739", NULL};
	cr_assert_eq(qp_qmctl(qport, NULL, start, o, sizeof(o), e, sizeof(e)), 2, "%s%s", o, e);
	cr_assert(strstr(e, "IPFIX collector 'no-such-collector.invalid:4739': cannot resolve "
			    "'no-such-collector.invalid': "),
		  "%s", e);
	char *bad[] = {"start", "--ipfix", "collector:4739/sctp", NULL};
	cr_assert_eq(qp_qmctl(qport, NULL, bad, o, sizeof(o), e, sizeof(e)), 2, "%s%s", o, e);
	cr_assert(strstr(e, "IPFIX: IPFIX collector 'collector:4739/sctp': transport 'sctp' is not "
			    "known (udp or tcp; SCTP is not supported)"),
		  "%s", e);

	qp_stop_clean(pid, err);
	pthread_join(th, NULL);
	close(c.lfd);

	char *oargv[] = {qbin(), "--pcap", DEMO, "--report-file", off, NULL};
	struct qp_run_result r;
	qp_run(oargv, NULL, 60, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	json_t *offj = qp_json_load(off);
	json_t *flows = json_object_get(offj, "flows");

	static struct ipfix_rd rd;
	ipfix_rd_init(&rd);
	cr_assert_eq(ipfix_rd_stream(&rd, c.buf, c.len), 0, "%s", rd.err);
	cr_assert_eq(rd.seq_errors, 0);
	cr_assert_eq(rd.nrec, json_array_size(flows), "a record for each of the %zu flows",
		     json_array_size(flows));
	size_t checked = 0;
	for (size_t i = 0; i < rd.nrec; i++) {
		const struct ipfix_rd_rec *k = &rd.r[i];
		json_t *f = offline_flow(k, offj);
		cr_assert_eq(ipfix_rd_val(k, 0, 136), 4, "the probe stopped: forced end");
		cr_assert_eq(k->domain, 9);
		/* the file's own times (--timestamps port): the offline figures */
		json_t *tcp = json_object_get(f, "tcp");
		json_t *hs = json_object_get(tcp, "handshake_rtt_ms");
		json_t *rtt = json_object_get(tcp, "rtt_ms");
		if (hs)
			cr_assert_eq(ipfix_rd_val(k, 32473, 1001), llround(json_number_value(hs) * 1e6),
				     "record %zu: the handshake", i);
		if (rtt) {
			cr_assert_eq(ipfix_rd_val(k, 32473, 1010),
				     json_integer_value(json_object_get(rtt, "samples")));
			cr_assert_eq(ipfix_rd_val(k, 32473, 1012),
				     llround(json_number_value(json_object_get(rtt, "mean")) * 1e6));
			checked++;
		}
	}
	cr_assert_eq(checked, 4, "the demo's TCP flows");
	ipfix_rd_free(&rd);
	json_decref(offj);
}

static int measurement_ipfix_up(int hport)
{
	char *body;
	if (qp_http_get(hport, "/api/v1/measurements/1", &body) != 200) {
		free(body);
		return -1;
	}
	json_t *mj = json_loads(body, 0, NULL);
	free(body);
	json_t *x = json_array_get(json_object_get(mj, "ipfix"), 0);
	int up = json_is_true(json_object_get(x, "up"));
	json_decref(mj);
	return up;
}

Test(ipfix_live, records_of_flows_that_end_while_the_collector_is_down_arrive_when_it_is_back,
     .timeout = 300)
{
	/* a port nobody listens on yet */
	static struct collector c;
	c.len = 0;
	int cport;
	c.lfd = loopback(SOCK_STREAM, &cport);

	char vdev[300], spec[64], http[16], out[256], err[256];
	snprintf(vdev, sizeof(vdev), "net_pcap0,rx_pcap=%s", DEMO);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d/tcp", cport);
	int hport = qp_free_port();
	snprintf(http, sizeof(http), "%d", hport);
	snprintf(out, sizeof(out), "%s/ipx-down.out", qp_tmpdir());
	snprintf(err, sizeof(err), "%s/ipx-down.err", qp_tmpdir());
	/* flows end 1 s after their last frame (idle timeout), while no one listens */
	char *argv[] = {qbin(), "-l", "0,1", "--no-huge", "-m", "256", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", vdev, "--", "--duration", "120", "--qmcp-port",
			"0", "--http-port", http, "--measure", "--idle-timeout", "1", "--ipfix", spec,
			NULL};
	int pid = qp_spawn(argv, out, err);
	json_decref(stats_when_measured(hport, pid));
	cr_assert_eq(measurement_ipfix_up(hport), 0, "nothing listens: the collector is down");
	/* every flow idle past its timeout: all of them ended while the collector is down */
	char *body;
	for (int i = 0; i < 3000; i++) {
		cr_assert_eq(qp_http_get(hport, "/api/v1/measurements/1", &body), 200);
		json_t *mj = json_loads(body, 0, NULL);
		free(body);
		json_t *x = json_array_get(json_object_get(mj, "ipfix"), 0);
		long recs = (long)json_integer_value(json_object_get(x, "records"));
		long active = (long)json_integer_value(
			json_object_get(json_object_get(mj, "capture"), "active_flows"));
		json_decref(mj);
		if (recs == 8 && active == 0)
			break;
		cr_assert_lt(i, 2999, "the demo's 8 flows did not end into the backlog");
		nap_ms(10);
	}
	/* the collector comes back: the probe reconnects (every 5 s) and sends the backlog */
	listen(c.lfd, 1);
	pthread_t th;
	pthread_create(&th, NULL, collect, &c);
	for (int i = 0; i < 1500 && measurement_ipfix_up(hport) != 1; i++)
		nap_ms(10);
	cr_assert_eq(measurement_ipfix_up(hport), 1, "reconnected within 15 s");
	qp_stop_clean(pid, err);
	pthread_join(th, NULL);
	close(c.lfd);

	static struct ipfix_rd rd;
	ipfix_rd_init(&rd);
	cr_assert_eq(ipfix_rd_stream(&rd, c.buf, c.len), 0, "templates before their records: %s",
		     rd.err);
	cr_assert_eq(rd.nrec, 8, "every flow, once");
	for (size_t i = 0; i < rd.nrec; i++)
		cr_assert_eq(ipfix_rd_val(&rd.r[i], 0, 136), 1, "ended by the idle timeout");
	ipfix_rd_free(&rd);
}


/* The test's UDP collector: every datagram until told to stop and quiet for 200 ms. */
struct udp_collector {
	int fd;
	volatile int done;
	size_t n;
	size_t len[256];
	uint8_t msg[256][1500];
};

static void *udp_collect(void *arg)
{
	struct udp_collector *u = arg;
	struct timeval tv = {0, 200000};
	setsockopt(u->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		ssize_t r = recv(u->fd, u->msg[u->n < 255 ? u->n : 255], 1500, 0);
		if (r > 0 && u->n < 256)
			u->len[u->n++] = (size_t)r;
		else if (r < 0 && u->done)
			return NULL;
	}
}

Test(ipfix_live, a_udp_collector_gets_every_flow_paced_at_exit, .timeout = 300)
{
	static struct udp_collector u;
	int cport;
	u.fd = loopback(SOCK_DGRAM, &cport);
	pthread_t th;
	pthread_create(&th, NULL, udp_collect, &u);

	char vdev[300], spec[64], http[16], out[256], err[256], off[256];
	snprintf(vdev, sizeof(vdev), "net_pcap0,rx_pcap=%s", DEMO);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", cport);
	int hport = qp_free_port();
	snprintf(http, sizeof(http), "%d", hport);
	snprintf(out, sizeof(out), "%s/ipx-udp.out", qp_tmpdir());
	snprintf(err, sizeof(err), "%s/ipx-udp.err", qp_tmpdir());
	snprintf(off, sizeof(off), "%s/ipx-udp-offline.json", qp_tmpdir());
	char *argv[] = {qbin(), "-l", "0,1", "--no-huge", "-m", "256", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", vdev, "--", "--duration", "120", "--qmcp-port",
			"0", "--http-port", http, "--measure", "--ipfix", spec, "--ipfix-domain", "3",
			NULL};
	int pid = qp_spawn(argv, out, err);
	json_decref(stats_when_measured(hport, pid));
	qp_stop_clean(pid, err);
	u.done = 1;
	pthread_join(th, NULL);
	close(u.fd);

	char *oargv[] = {qbin(), "--pcap", DEMO, "--report-file", off, NULL};
	struct qp_run_result r;
	qp_run(oargv, NULL, 60, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	json_t *offj = qp_json_load(off);

	static struct ipfix_rd rd;
	ipfix_rd_init(&rd);
	for (size_t i = 0; i < u.n; i++) {
		cr_assert_leq(u.len[i], 1472, "a datagram within one MTU");
		cr_assert_eq(ipfix_rd_msg(&rd, u.msg[i], u.len[i]), 0, "%s", rd.err);
	}
	cr_assert_eq(rd.seq_errors, 0, "none lost");
	cr_assert_eq(rd.nrec, json_array_size(json_object_get(offj, "flows")));
	for (size_t i = 0; i < rd.nrec; i++) {
		const struct ipfix_rd_rec *k = &rd.r[i];
		offline_flow(k, offj);
		cr_assert_eq(k->domain, 3);
	}
	ipfix_rd_free(&rd);
	json_decref(offj);
}
