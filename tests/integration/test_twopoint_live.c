/*
 * Two-point, live: two qprobe processes, each on its own tap port, and a
 * delay line in this test that sends every packet to the primary's port and,
 * a known time later, to the secondary's, except the ones it drops. A
 * controller starts the measurement on the primary naming the secondary;
 * the primary starts the secondary's half itself over QMCP and matches.
 * The delay line notes when it sent each copy: that is the truth the
 * one-way delay must meet within 1 ms, and the losses exactly.
 *
 * Live: starts DPDK probes (tests/run.sh runs such binaries one at a time).
 * Alone: measures delays against the wall clock, so nothing may run beside it.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../gen/qp_pcapw.h"
#include "qp_qmcp.h"
#include "qp_run.h"

#define NPKT 300
#define GAP_US 5000     /* between packets at the first point */
#define DELAY_US 20000  /* to the second point */
#define DROP_EVERY 10   /* every 10th packet never reaches the second point */

static uint32_t frame(uint32_t i, uint8_t *out)
{
	struct pb b;
	pb_init(&b);
	pb_payload(&b, 100);
	memcpy(pb_data(&b), &i, 4);
	pb_push_udp(&b, 40000 + (uint16_t)(i % 4), 5004);
	pb_push_ip4(&b, "10.77.0.1", "10.78.0.1", (uint16_t)i, 0x4000);
	pb_push_eth(&b);
	uint32_t n = pb_len(&b);
	memcpy(out, pb_data(&b), n);
	return n;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static json_t *two_point_of(struct qmcp_client *c, uint32_t id)
{
	json_t *s = status(c, id);
	json_t *tp = json_incref(json_object_get(s, "two_point"));
	json_decref(s);
	return tp;
}

static const char *str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

Test(twopoint_live, delay_line_between_two_probes, .timeout = 300)
{
	struct probe a, b;
	/* each probe's polling worker on its own CPU */
	probe_start_lcores(&b, "127.0.0.1/32", "0@1,1@0");
	probe_start_lcores(&a, "127.0.0.1/32", "0@0,1@1");
	struct qmcp_client *c = ctl(&a);
	char peer[64];
	snprintf(peer, sizeof(peer), "127.0.0.1:%d", b.port);

	/* a bad peer is refused before anything starts */
	struct qmcp_msg m;
	struct qmcp_reply r;
	char err[512];
	qmcp_msg_init(&m, QMCP_MSG_START, 0, qmcp_client_next_id(c));
	qmcp_put_str(&m, QMCP_T_TP_PEER, "no-port-here");
	cr_assert_eq(qmcp_client_call(c, &m, &r, 5000, err, sizeof(err)), -EREMOTEIO);
	qmcp_msg_free(&m);
	qmcp_reply_free(&r);
	cr_assert(strstr(err, "BAD_PARAM: TP_PEER 'no-port-here': the secondary as host:port"), "%s",
		  err);

	qmcp_msg_init(&m, QMCP_MSG_START, 0, qmcp_client_next_id(c));
	qmcp_put_str(&m, QMCP_T_FILTER, "udp port 5004");
	qmcp_put_u32(&m, QMCP_T_INTERVAL_MS, 500);
	qmcp_put_u32(&m, QMCP_T_MAX_FLOWS, 1024);
	qmcp_put_u8(&m, QMCP_T_PERSIST, 0);
	qmcp_put_str(&m, QMCP_T_TP_PEER, peer);
	qmcp_put_u32(&m, QMCP_T_TP_LOSS_TIMER_MS, 300);
	uint32_t id = call_start(c, &m);

	/* the primary reaches the secondary and starts its half there */
	json_t *tp = NULL;
	for (int i = 0; i < 1000; i++) {
		json_decref(tp);
		tp = two_point_of(c, id);
		if (!strcmp(str(tp, "peer_state"), "connected"))
			break;
		nap_ms(10);
	}
	cr_assert_str_eq(str(tp, "peer_state"), "connected", "peer error: %s", str(tp, "peer_error"));
	cr_assert_str_eq(str(tp, "role"), "primary");
	cr_assert_gt(json_integer_value(json_object_get(tp, "peer_measurement")), 0);
	json_decref(tp);
	struct qmcp_client *cb = ctl(&b);
	qmcp_msg_init(&m, QMCP_MSG_LIST, 0, qmcp_client_next_id(cb));
	r = call_ok(cb, &m);
	cr_assert(memmem(r.body, r.len, "two-point secondary of", 22) != NULL,
		  "the secondary runs the primary's half");
	qmcp_reply_free(&r);
	nap_ms(300); /* both workers run the new measurement set */

	/* the delay line */
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *pa = pcap_open_live(a.tap, 65535, 0, 100, eb);
	cr_assert_not_null(pa, "%s", eb);
	pcap_t *pb2 = pcap_open_live(b.tap, 65535, 0, 100, eb);
	cr_assert_not_null(pb2, "%s", eb);
	static uint64_t sent_a[NPKT], sent_b[NPKT];
	uint8_t f[256];
	uint64_t t0 = qp_realtime_ns() + 10000000ULL;
	uint32_t next_a = 0, next_b = 0;
	while (next_b < NPKT) {
		uint64_t due_a = next_a < NPKT ? t0 + (uint64_t)next_a * GAP_US * 1000 : UINT64_MAX;
		uint64_t due_b = t0 + (uint64_t)next_b * GAP_US * 1000 + DELAY_US * 1000ULL;
		if (due_a <= due_b) {
			qp_sleep_until(due_a);
			uint32_t n = frame(next_a, f);
			sent_a[next_a] = qp_realtime_ns();
			cr_assert_eq(pcap_inject(pa, f, n), (int)n, "%s", pcap_geterr(pa));
			next_a++;
		} else {
			qp_sleep_until(due_b);
			if (next_b % DROP_EVERY != DROP_EVERY - 1) {
				uint32_t n = frame(next_b, f);
				sent_b[next_b] = qp_realtime_ns();
				cr_assert_eq(pcap_inject(pb2, f, n), (int)n, "%s", pcap_geterr(pb2));
			}
			next_b++;
		}
	}
	pcap_close(pa);
	pcap_close(pb2);
	uint32_t drops = NPKT / DROP_EVERY;
	static double dl[NPKT];
	uint32_t nd = 0;
	double sum = 0;
	for (uint32_t i = 0; i < NPKT; i++) {
		if (i % DROP_EVERY == DROP_EVERY - 1)
			continue;
		dl[nd] = (double)(sent_b[i] - sent_a[i]) / 1e6;
		sum += dl[nd++];
	}
	double mean = sum / nd;
	qsort(dl, nd, sizeof(double), dcmp);
	double median = dl[(nd + 1) / 2 - 1];

	/* every packet's fate is known a loss timer after the last one */
	json_t *fwd = NULL;
	for (int i = 0; i < 1000; i++) {
		tp = two_point_of(c, id);
		fwd = json_object_get(tp, "fwd");
		if (fwd && json_integer_value(json_object_get(fwd, "selected")) >= NPKT)
			break;
		json_decref(tp);
		tp = NULL;
		nap_ms(20);
	}
	cr_assert_not_null(tp, "the primary never resolved all %d packets", NPKT);
	char *txt = json_dumps(fwd, JSON_COMPACT);
	cr_log_info("two-point live: %s", txt);
	free(txt);
	cr_expect_eq(json_integer_value(json_object_get(fwd, "selected")), NPKT);
	cr_expect_eq(json_integer_value(json_object_get(fwd, "lost")), drops);
	cr_expect_eq(json_integer_value(json_object_get(fwd, "matched")), NPKT - drops);
	cr_expect_eq(json_integer_value(json_object_get(fwd, "duplicates")), 0);
	json_t *owd = json_object_get(fwd, "owd_ms");
	double got_mean = json_number_value(json_object_get(owd, "mean"));
	double got_p50 = json_number_value(json_object_get(owd, "p50"));
	/* The delay line's times are taken around its writes; each probe's when its
	 * worker polls the tap. On this 2-CPU machine a worker can lose the CPU
	 * for a scheduler tick, so single packets (min, max) may be off by more
	 * than 1 ms; the median is what must agree. The mean must too, unless a
	 * worker was held off the CPU long enough to show in the maximum (5 ms
	 * beyond the delay line's: seen once in four runs of make test under
	 * ASan, the mean 4.6 ms high, the median right). */
	double got_max = json_number_value(json_object_get(owd, "max"));
	if (got_max < dl[nd - 1] + 5.0)
		cr_expect(fabs(got_mean - mean) < 1.0, "mean delay %.3f ms, the delay line's %.3f",
			  got_mean, mean);
	else
		cr_log_info("a worker lost the CPU (max %.3f ms, the delay line's %.3f): the mean is "
			    "not compared", got_max, dl[nd - 1]);
	cr_expect(fabs(got_p50 - median) < 1.0, "median delay %.3f ms, the delay line's %.3f", got_p50,
		  median);
	cr_log_info("delay line: min %.3f mean %.3f median %.3f max %.3f ms; probes: min %.3f mean "
		    "%.3f p50 %.3f max %.3f ms", dl[0], mean, median, dl[nd - 1],
		    json_number_value(json_object_get(owd, "min")), got_mean, got_p50, got_max);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(tp, "rev"), "matched")), 0);
	json_decref(tp);

	/* per flow: the four flows of the delay line add up to the totals */
	struct qmcp_tlv t;
	qmcp_msg_init(&m, QMCP_MSG_FLOWS, 0, qmcp_client_next_id(c));
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	r = call_ok(c, &m);
	cr_assert_eq(qmcp_find(r.body, r.len, QMCP_T_FLOWS_JSON, &t), 1);
	json_t *fl = json_loadb((const char *)t.val, t.len, 0, NULL), *x;
	qmcp_reply_free(&r);
	size_t fi;
	long fm = 0, flost = 0;
	json_array_foreach(fl, fi, x)
	{
		json_t *f2 = json_object_get(json_object_get(x, "two_point"), "fwd");
		fm += json_integer_value(json_object_get(f2, "matched"));
		flost += json_integer_value(json_object_get(f2, "lost"));
	}
	cr_expect_eq(json_array_size(fl), 4);
	cr_expect_eq(fm, NPKT - drops, "flows' matched");
	cr_expect_eq(flost, drops, "flows' lost");
	json_decref(fl);

	/* results carry the final intervals; they add up to the totals */
	qmcp_msg_init(&m, QMCP_MSG_RESULTS, 0, qmcp_client_next_id(c));
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	qmcp_put_u32(&m, QMCP_T_LAST, 600);
	r = call_ok(c, &m);
	long matched = 0, lost = 0;
	struct qmcp_iter it;
	qmcp_iter_init(&it, r.body, r.len);
	while (qmcp_next(&it, &t) == 1) {
		if (t.type != QMCP_T_RESULT)
			continue;
		struct qmcp_tlv j;
		cr_assert_eq(qmcp_find(t.val, t.len, QMCP_T_RESULT_JSON, &j), 1);
		json_t *res = json_loadb((const char *)j.val, j.len, 0, NULL);
		json_t *ivs = json_object_get(json_object_get(res, "two_point"), "intervals"), *iv;
		size_t k;
		json_array_foreach(ivs, k, iv)
		{
			matched += json_integer_value(json_object_get(json_object_get(iv, "fwd"), "matched"));
			lost += json_integer_value(json_object_get(json_object_get(iv, "fwd"), "lost"));
		}
		json_decref(res);
	}
	qmcp_reply_free(&r);
	/* the last final interval may not have reached a result yet: at most what is there */
	cr_expect(matched <= NPKT - drops && lost <= drops && matched > 0,
		  "results: %ld matched, %ld lost", matched, lost);

	/* the secondary goes away: the primary says so and keeps measuring its own point */
	qmcp_client_close(cb);
	probe_stop(&b);
	for (int i = 0; i < 500; i++) {
		tp = two_point_of(c, id);
		if (!strcmp(str(tp, "peer_state"), "connected")) {
			json_decref(tp);
			nap_ms(20);
			continue;
		}
		break;
	}
	cr_expect(strcmp(str(tp, "peer_state"), "lost") == 0 || strcmp(str(tp, "peer_state"), "refused") == 0,
		  "peer state after the secondary stopped: %s", str(tp, "peer_state"));
	json_decref(tp);
	json_t *s = status(c, id);
	cr_expect_str_eq(str(s, "state"), "running");
	json_decref(s);
	qmcp_client_close(c);
	probe_stop(&a);
}

/* ---- a hostile secondary ---- */

struct fake {
	int lfd, port;
	int sent; /* hostile frames sent */
};

static void send_all(int fd, const uint8_t *b, size_t n)
{
	while (n) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
		if (k <= 0)
			return;
		b += k;
		n -= (size_t)k;
	}
}

static void send_msg_fd(int fd, struct qmcp_msg *m)
{
	size_t n;
	const uint8_t *f = qmcp_msg_frame(m, &n);
	if (f)
		send_all(fd, f, n);
	qmcp_msg_free(m);
}

/* A TP_RECORDS push built by hand: fields as given (NULL/0: left out). */
static void push_batch(int fd, int with_meas, const uint8_t *flows, size_t fl, const uint8_t *recs,
		       size_t rl)
{
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_TP_RECORDS, 0, 0);
	if (with_meas)
		qmcp_put_u32(&m, QMCP_T_MEAS_ID, 7);
	qmcp_put_u64(&m, QMCP_T_SEQ, 0);
	qmcp_put_u64(&m, QMCP_T_TP_BASE_NS, qp_realtime_ns() - 100000000ULL);
	qmcp_put_u64(&m, QMCP_T_TP_WATERMARK_NS, qp_realtime_ns() - 50000000ULL);
	if (flows)
		qmcp_put_bytes(&m, QMCP_T_TP_FLOWS, flows, fl);
	qmcp_put_bytes(&m, QMCP_T_TP_RECS, recs, rl);
	send_msg_fd(fd, &m);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	close(f->lfd); /* one session only: reconnects are refused */
	if (fd < 0)
		return NULL;
	struct qmcp_rx rx;
	qmcp_rx_init(&rx);
	int started = 0;
	while (!started) {
		if (qmcp_rx_read(&rx, fd) <= 0)
			break;
		struct qmcp_hdr h;
		const uint8_t *body;
		while (qmcp_rx_frame(&rx, &h, &body) == 1) {
			struct qmcp_msg m;
			qmcp_msg_init(&m, h.type, QMCP_F_RESPONSE, h.req_id);
			if (h.type == QMCP_MSG_HELLO) {
				uint8_t nonce[32] = {0};
				qmcp_put_str(&m, QMCP_T_PROBE_ID, "fake-secondary");
				qmcp_put_bytes(&m, QMCP_T_NONCE, nonce, sizeof(nonce));
				qmcp_put_u8(&m, QMCP_T_AUTH_REQUIRED, 0);
			} else if (h.type == QMCP_MSG_INFO) {
				qmcp_put_str(&m, QMCP_T_CLOCK_STATE, "synchronised");
				qmcp_put_u32(&m, QMCP_T_CLOCK_ERROR_US, 5);
			} else if (h.type == QMCP_MSG_START) {
				qmcp_put_u32(&m, QMCP_T_MEAS_ID, 7);
				started = 1;
			}
			send_msg_fd(fd, &m);
		}
	}
	/* records of 17 bytes; no MEAS_ID; a flow of IP version 9; an undefined flow */
	uint8_t recs[36] = {0}, flow[44] = {0};
	push_batch(fd, 1, NULL, 0, recs, 17);
	push_batch(fd, 0, NULL, 0, recs, 18);
	flow[41] = 9;
	push_batch(fd, 1, flow, 44, recs, 18);
	recs[17] = 5; /* flow id 5: never defined */
	push_batch(fd, 1, NULL, 0, recs, 18);
	/* then a frame announcing a 2 MiB body */
	uint8_t big[16] = {'Q', 'M', QMCP_VERSION, QMCP_MSG_TP_RECORDS, 0, 0, 0, 0,
			   0, 0, 0, 0, 0, 0x20, 0, 0};
	send_all(fd, big, sizeof(big));
	f->sent = 5;
	nap_ms(500);
	close(fd);
	qmcp_rx_free(&rx);
	return NULL;
}

Test(twopoint_live, hostile_secondary, .timeout = 120)
{
	struct fake f = {0};
	f.lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t sl = sizeof(sa);
	getsockname(f.lfd, (struct sockaddr *)&sa, &sl);
	f.port = ntohs(sa.sin_port);
	cr_assert_eq(listen(f.lfd, 4), 0);
	pthread_t th;
	pthread_create(&th, NULL, fake_main, &f);

	struct probe a;
	probe_start(&a, "127.0.0.1/32");
	struct qmcp_client *c = ctl(&a);
	char peer[64];
	snprintf(peer, sizeof(peer), "127.0.0.1:%d", f.port);
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_START, 0, qmcp_client_next_id(c));
	qmcp_put_str(&m, QMCP_T_TP_PEER, peer);
	qmcp_put_u32(&m, QMCP_T_INTERVAL_MS, 200);
	qmcp_put_u32(&m, QMCP_T_MAX_FLOWS, 1024);
	uint32_t id = call_start(c, &m);
	pthread_join(th, NULL);

	json_t *tp = NULL;
	for (int i = 0; i < 500; i++) {
		json_decref(tp);
		tp = two_point_of(c, id);
		if (strcmp(str(tp, "peer_state"), "connected") && strcmp(str(tp, "peer_state"), "connecting"))
			break;
		nap_ms(20);
	}
	char *txt = json_dumps(tp, JSON_COMPACT);
	cr_log_info("after the hostile secondary: %s", txt);
	free(txt);
	cr_expect_str_eq(str(tp, "peer_state"), "lost");
	cr_expect(strstr(str(tp, "peer_error"), "over 1 MiB") != NULL, "%s", str(tp, "peer_error"));
	cr_expect_eq(json_integer_value(json_object_get(tp, "bad_batches")), 3,
		     "17-byte records, no MEAS_ID, IP version 9");
	cr_expect_eq(json_integer_value(json_object_get(tp, "bad_records")), 1, "flow 5 undefined");
	cr_expect_eq(json_integer_value(json_object_get(tp, "batches")), 1);
	cr_expect_eq(json_integer_value(json_object_get(tp, "peer_measurement")), 7);
	cr_expect_str_eq(str(json_object_get(tp, "clock"), "peer_state"), "synchronised");
	json_decref(tp);
	/* the primary runs on, measuring its own point */
	inject(a.tap);
	json_t *s = status(c, id);
	cr_expect_str_eq(str(s, "state"), "running");
	json_decref(s);
	qmcp_client_close(c);
	probe_stop(&a);
}
