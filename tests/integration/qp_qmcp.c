/*
 * Helpers of the QMCP integration tests: a probe on a net_tap port with a
 * shared secret, controllers from libqmcp, frames injected into the tap.
 */
#include "qp_qmcp.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qp_run.h"

void nap_ms(int ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&t, NULL);
}

const char *qp_demo(void)
{
	return "tests/data/demo.pcap";
}

void write_secret(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

struct qmcp_client *connect_as(const struct probe *p, const char *secret, char *err,
				      size_t errlen, int *rc)
{
	struct qmcp_client *c = qmcp_client_connect("127.0.0.1", p->port, 5000, err, errlen);
	if (!c) {
		*rc = -ECONNREFUSED;
		return NULL;
	}
	*rc = qmcp_client_hello(c, "test", (const uint8_t *)secret, secret ? strlen(secret) : 0, 5000,
				err, errlen);
	if (*rc) {
		qmcp_client_close(c);
		return NULL;
	}
	return c;
}

struct qmcp_client *ctl(const struct probe *p)
{
	char err[512];
	int rc;
	struct qmcp_client *c = connect_as(p, SECRET, err, sizeof(err), &rc);
	cr_assert_not_null(c, "controller: %s", err);
	return c;
}

/*
 * The kernel sends IPv6 router solicitations and listener reports on a new
 * interface for seconds after it comes up: frames the test did not send,
 * arriving at times of their own, between a test's readings. IPv6 off on the
 * tap stops them; the test's own frames are injected raw and do not need it.
 */
static void quiet_tap(const char *tap)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", tap);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs("1\n", f);
		fclose(f);
	}
}

/* Start a probe on a fresh tap; extra options after "--". */
/* Spawn the probe on a fresh tap with qprobe options qargs; wait until QMCP answers. */
static int nprobes; /* probes started by this process: each its own tap and log */

static void spawn_probe_on(struct probe *p, char *const qargs[], const char *lcores)
{
	char bin[256], vdev[64], hport[16];
	int k = nprobes++;
	if (k)
		snprintf(p->tap, sizeof(p->tap), "qpt%d_%d", getpid() % 100000, k % 100);
	else
		snprintf(p->tap, sizeof(p->tap), "qpt%d", getpid() % 100000);
	snprintf(p->err, sizeof(p->err), "%s/probe%d.err", qp_tmpdir(), k);
	p->http_port = qp_free_port();
	snprintf(hport, sizeof(hport), "%d", p->http_port);
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	snprintf(vdev, sizeof(vdev), "net_tap0,iface=%s", p->tap);
	char *argv[40] = {bin, "--lcores", (char *)lcores, "--no-huge", "-m", "512", "--no-shconf",
			  "--no-pci", "--log-level=error", "--vdev", vdev, "--", "--http-port", hport};
	int n = 14;
	for (int i = 0; qargs[i] && n < 39; i++)
		argv[n++] = qargs[i];
	argv[n] = NULL;
	p->pid = qp_spawn(argv, NULL, p->err);
	/* ready when it answers a TCP connect */
	for (int i = 0; i < 3000; i++) {
		char err[256];
		struct qmcp_client *c = qmcp_client_connect("127.0.0.1", p->port, 1000, err, sizeof(err));
		if (c) {
			qmcp_client_close(c);
			quiet_tap(p->tap);
			return;
		}
		cr_assert_eq(kill(p->pid, 0), 0, "qprobe exited early");
		nap_ms(10);
	}
	cr_assert_fail("the probe did not open its QMCP port within 30 s");
}

static void spawn_probe(struct probe *p, char *const qargs[])
{
	spawn_probe_on(p, qargs, "0@0,1@1");
}

static void start_extra(struct probe *p, const char *allow, const char *lcores, char *const extra[])
{
	p->port = qp_free_port();
	snprintf(p->secret, sizeof(p->secret), "%s/secret", qp_tmpdir());
	write_secret(p->secret, SECRET "\n");
	char port[16];
	snprintf(port, sizeof(port), "%d", p->port);
	char *q[24] = {"--qmcp-addr", "127.0.0.1", "--qmcp-port", port, "--secret-file", p->secret,
		       "--allow", (char *)allow, NULL};
	for (int i = 0, n = 8; extra && extra[i] && n < 23; i++)
		q[n++] = extra[i];
	spawn_probe_on(p, q, lcores);
}

static void start_with(struct probe *p, const char *allow, const char *lcores)
{
	start_extra(p, allow, lcores, NULL);
}

void probe_start_args(struct probe *p, const char *allow, char *const extra[])
{
	start_extra(p, allow, "0@0,1@1", extra);
}

void probe_start(struct probe *p, const char *allow)
{
	start_with(p, allow, "0@0,1@1");
}

void probe_start_lcores(struct probe *p, const char *allow, const char *lcores)
{
	start_with(p, allow, lcores);
}

void probe_start_config(struct probe *p, const char *config, int qmcp_port, const char *secret)
{
	p->port = qmcp_port;
	snprintf(p->secret, sizeof(p->secret), "%s", secret);
	char *q[] = {"--config", (char *)config, NULL};
	spawn_probe(p, q);
}

void probe_stop(struct probe *p)
{
	kill(p->pid, SIGTERM);
	struct qp_run_result r;
	qp_wait(p->pid, 60, &r, p->err);
	cr_assert(r.exited && r.status == 0, "probe exit %d: %s", r.status, r.err);
}

void inject(const char *tap)
{
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *in = pcap_open_offline(qp_demo(), eb);
	cr_assert_not_null(in, "%s", eb);
	pcap_t *out = pcap_open_live(tap, 65535, 0, 100, eb);
	cr_assert_not_null(out, "%s", eb);
	struct pcap_pkthdr *h;
	const u_char *d;
	while (pcap_next_ex(in, &h, &d) == 1)
		cr_assert_eq(pcap_inject(out, d, h->caplen), (int)h->caplen, "%s", pcap_geterr(out));
	pcap_close(out);
	pcap_close(in);
}

/* A request with an answer that must not be an error. */
struct qmcp_reply call_ok(struct qmcp_client *c, struct qmcp_msg *m)
{
	struct qmcp_reply r;
	char err[512];
	int e = qmcp_client_call(c, m, &r, 10000, err, sizeof(err));
	qmcp_msg_free(m);
	cr_assert_eq(e, 0, "%s", err);
	return r;
}

uint32_t start_meas(struct qmcp_client *c, const char *filter, uint32_t interval_ms,
			   int persist)
{
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_START, 0, qmcp_client_next_id(c));
	qmcp_put_str(&m, QMCP_T_FILTER, filter);
	qmcp_put_u32(&m, QMCP_T_INTERVAL_MS, interval_ms);
	qmcp_put_u32(&m, QMCP_T_MAX_FLOWS, 1024);
	qmcp_put_u8(&m, QMCP_T_PERSIST, (uint8_t)persist);
	return call_start(c, &m);
}

uint32_t call_start(struct qmcp_client *c, struct qmcp_msg *m)
{
	struct qmcp_reply r = call_ok(c, m);
	struct qmcp_tlv t;
	uint32_t id = 0;
	cr_assert_eq(qmcp_find(r.body, r.len, QMCP_T_MEAS_ID, &t), 1);
	cr_assert_eq(qmcp_tlv_u32(&t, &id), 0);
	qmcp_reply_free(&r);
	return id;
}

/* STATUS of one measurement as the probe's JSON. */
json_t *status(struct qmcp_client *c, uint32_t id)
{
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_STATUS, 0, qmcp_client_next_id(c));
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	struct qmcp_reply r = call_ok(c, &m);
	struct qmcp_tlv t, j;
	cr_assert_eq(qmcp_find(r.body, r.len, QMCP_T_MEAS, &t), 1);
	cr_assert_eq(qmcp_find(t.val, t.len, QMCP_T_MEAS_JSON, &j), 1);
	json_t *o = json_loadb((const char *)j.val, j.len, 0, NULL);
	qmcp_reply_free(&r);
	return o;
}

/* Packets of every kept interval of a measurement, summed. */
long result_packets(struct qmcp_client *c, uint32_t id, int *nres)
{
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_RESULTS, 0, qmcp_client_next_id(c));
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	qmcp_put_u32(&m, QMCP_T_LAST, 600);
	struct qmcp_reply r = call_ok(c, &m);
	long sum = 0;
	*nres = 0;
	struct qmcp_iter it;
	struct qmcp_tlv t, j;
	qmcp_iter_init(&it, r.body, r.len);
	while (qmcp_next(&it, &t) == 1) {
		if (t.type != QMCP_T_RESULT)
			continue;
		cr_assert_eq(qmcp_find(t.val, t.len, QMCP_T_RESULT_JSON, &j), 1);
		json_t *o = json_loadb((const char *)j.val, j.len, 0, NULL);
		json_t *p = json_object_get(o, "packets");
		sum += (long)(json_integer_value(json_object_get(p, "fwd")) +
			      json_integer_value(json_object_get(p, "rev")));
		json_decref(o);
		(*nres)++;
	}
	qmcp_reply_free(&r);
	return sum;
}

/* What the offline probe measures of the demo capture under a filter. */
long offline_measured(const char *filter)
{
	char bin[256], out[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	snprintf(out, sizeof(out), "%s/offline.json", qp_tmpdir());
	char *argv[] = {bin, "--pcap", (char *)qp_demo(), "--filter", (char *)filter, "--report-file",
			out, NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 60, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	json_t *j = qp_json_load(out);
	long n = (long)json_integer_value(json_object_get(json_object_get(j, "capture"), "measured"));
	json_decref(j);
	return n;
}

/*
 * Wait until a measurement has seen at least `frames` frames (the kernel adds
 * its own IPv6 chatter on the tap, which the filters here leave out) and its
 * intervals hold `measured`.
 */
void wait_measured(struct qmcp_client *c, uint32_t id, long frames, long measured)
{
	for (int i = 0; i < 3000; i++) {
		json_t *s = status(c, id);
		long seen = (long)json_integer_value(
			json_object_get(json_object_get(s, "capture"), "packets"));
		json_decref(s);
		int n;
		if (seen >= frames && result_packets(c, id, &n) == measured)
			return;
		nap_ms(10);
	}
	int n;
	cr_assert_fail("measurement %u: %ld packets in its intervals, %ld expected", id,
		       result_packets(c, id, &n), measured);
}

