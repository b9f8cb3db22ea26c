/*
 * Live accuracy against real time: the test paces traffic into a probe's
 * net_tap port and stamps its own send times (CLOCK_REALTIME, just before each
 * write): an RTP stream every 20 ms with a known jitter pattern, and a TCP
 * exchange every 500 ms with a known server delay and a data/ACK round trip.
 * The probe's live figures (RTP jitter, inter-arrival, handshake RTT halves,
 * data RTT) must agree with the sender's truth within what the kernel path
 * between the write and the worker's poll adds: median under 50 us, 90 % and
 * the stream's means under 100 us (measured here: median 15-28 us, p95 56-89 us).
 * Run for 60 s: the probe's time never went back (ts_backwards), and its
 * clock re-anchored every second without stepping packet time by more than
 * 10 us (the probe's max_reanchor_step_ns; a step would show in every figure).
 *
 * The sender runs on CPU 0, off the worker's.
 *
 * Live: starts DPDK probes (tests/run.sh runs such binaries one at a time).
 * Alone: holds live times against the wall clock, so nothing may run beside it.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <sched.h>
#include <math.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../gen/qp_pcapw.h"
#include "qp_run.h"

#define SECONDS 60
#define RTP_GAP_US 20000
#define TCP_EVERY_US 500000
#define SERVER_DELAY_US 5000  /* SYN -> SYN/ACK */
#define CLIENT_DELAY_US 1000  /* SYN/ACK -> ACK */
#define DATA_RTT_US 3000      /* data -> its ACK */
#define BOUND_US 100.0        /* what the kernel path may add, at most */

static const int jit_us[8] = {0, 3000, -2000, 1000, 0, 5000, -4000, 2000};

enum kind { RTP, SYN, SYNACK, ACK, DATA, DATA_ACK };
struct ev {
	uint64_t due;
	enum kind k;
	uint32_t i; /* RTP sequence, or TCP connection */
};

static int ev_cmp(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	return x->due < y->due ? -1 : x->due > y->due;
}

static uint32_t build(const struct ev *e, uint8_t *out)
{
	struct pb b;
	pb_init(&b);
	uint16_t cport = (uint16_t)(20000 + e->i);
	switch (e->k) {
	case RTP: {
		uint8_t rtp[12 + 160];
		memset(rtp, 0xd5, sizeof(rtp));
		rtp[0] = 0x80;
		rtp[1] = 0; /* PCMU */
		rtp[2] = (uint8_t)(e->i >> 8);
		rtp[3] = (uint8_t)e->i;
		uint32_t ts = e->i * 160;
		rtp[4] = (uint8_t)(ts >> 24);
		rtp[5] = (uint8_t)(ts >> 16);
		rtp[6] = (uint8_t)(ts >> 8);
		rtp[7] = (uint8_t)ts;
		rtp[8] = 0x12;
		rtp[9] = 0x34;
		rtp[10] = 0x56;
		rtp[11] = 0x78;
		pb_push_raw(&b, rtp, sizeof(rtp));
		pb_push_udp(&b, 16384, 16386);
		pb_push_ip4(&b, "10.1.0.1", "10.2.0.2", (uint16_t)e->i, 0);
		break;
	}
	case SYN:
		pb_push_tcp(&b, cport, 8080, 1000, 0, 0x02, 65535);
		pb_push_ip4(&b, "10.1.0.1", "10.2.0.3", 1, 0);
		break;
	case SYNACK:
		pb_push_tcp(&b, 8080, cport, 5000, 1001, 0x12, 65535);
		pb_push_ip4(&b, "10.2.0.3", "10.1.0.1", 1, 0);
		break;
	case ACK:
		pb_push_tcp(&b, cport, 8080, 1001, 5001, 0x10, 65535);
		pb_push_ip4(&b, "10.1.0.1", "10.2.0.3", 2, 0);
		break;
	case DATA:
		pb_payload(&b, 100);
		pb_push_tcp(&b, cport, 8080, 1001, 5001, 0x18, 65535);
		pb_push_ip4(&b, "10.1.0.1", "10.2.0.3", 3, 0);
		break;
	case DATA_ACK:
		pb_push_tcp(&b, 8080, cport, 5001, 1101, 0x10, 65535);
		pb_push_ip4(&b, "10.2.0.3", "10.1.0.1", 2, 0);
		break;
	}
	pb_push_eth(&b);
	memcpy(out, pb_data(&b), pb_len(&b));
	return pb_len(&b);
}

static double jnum(json_t *o, const char *a, const char *b)
{
	json_t *x = json_object_get(o, a);
	if (b)
		x = json_object_get(x, b);
	cr_assert(json_is_number(x), "%s.%s is not a number", a, b ? b : "");
	return json_number_value(x);
}

/*
 * Frames the probe measured (its filter passed), once it reaches `want` or at
 * the deadline; -1 while it does not answer.
 */
static long measured(int http, long want, double timeout_s)
{
	long got = -1;
	for (int i = 0; i < (int)(timeout_s * 20); i++) {
		char *body = NULL;
		if (qp_http_get(http, "/api/v1/stats", &body) == 200) {
			json_t *j = json_loads(body, 0, NULL);
			got = (long)json_integer_value(json_object_get(json_object_get(j, "totals"), "measured"));
			json_decref(j);
			if (got >= want) {
				free(body);
				return got;
			}
		}
		free(body);
		struct timespec ts = {0, 50000000};
		nanosleep(&ts, NULL);
	}
	return got;
}

/*
 * Every figure's difference from the truth, us. One TSC read per burst and a
 * shared 2-CPU machine make single frames late now and then (a burst that
 * took two frames stamps both alike; a worker that lost its CPU stamps late),
 * so the figures are held as a distribution: the median and the 90th
 * percentile within the bound, the 95th and the largest reported.
 */
#define MAX_ERRS 4096
static double errs[MAX_ERRS];
static const char *err_what[MAX_ERRS];
static size_t nerrs;
static void expect_close(const char *what, double probe_ms, double truth_ms)
{
	double err = fabs(probe_ms - truth_ms) * 1000;
	if (nerrs < MAX_ERRS) {
		err_what[nerrs] = strdup(what);
		errs[nerrs++] = err;
	}
	if (err > BOUND_US)
		cr_log_info("over the bound: %s: probe %.4f ms, sender %.4f ms (%.1f us apart)", what, probe_ms, truth_ms,
			    err);
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

Test(live_paced, probe_figures_agree_with_the_sender_for_a_minute, .timeout = 400)
{
	char tap[32], vdev[64], hport[16], rep[256], err[256], bin[256];
	snprintf(tap, sizeof(tap), "qpp%d", getpid() % 100000);
	snprintf(vdev, sizeof(vdev), "net_tap0,iface=%s", tap);
	int http = qp_free_port();
	snprintf(hport, sizeof(hport), "%d", http);
	snprintf(rep, sizeof(rep), "%s/paced.json", qp_tmpdir());
	snprintf(err, sizeof(err), "%s/paced.err", qp_tmpdir());
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	char *argv[] = {bin, "--lcores", "0@0,1@1", "--no-huge", "-m", "256", "--no-shconf", "--no-pci",
			"--log-level=error", "--vdev", vdev, "--", "--qmcp-port", "0", "--http-port", hport,
			"--filter", "udp port 16384 or tcp port 8080", "--duration", "300",
			"--report", "json", "--report-file", rep, NULL};
	int pid = qp_spawn(argv, NULL, err);
	cr_assert_geq(measured(http, 0, 30), 0, "the probe did not answer on HTTP");

	/* the timeline */
	const uint32_t nrtp = SECONDS * 1000000 / RTP_GAP_US, ntcp = SECONDS * 1000000 / TCP_EVERY_US;
	size_t nev = nrtp + 5 * (size_t)ntcp;
	struct ev *ev = calloc(nev, sizeof(*ev));
	uint64_t *sent = calloc(nev, sizeof(*sent));
	uint64_t t0 = qp_realtime_ns() + 200000000ULL;
	size_t k = 0;
	for (uint32_t i = 0; i < nrtp; i++)
		ev[k++] = (struct ev){t0 + (uint64_t)i * RTP_GAP_US * 1000 + 1000000 +
					      (uint64_t)((int64_t)jit_us[i % 8] * 1000),
				      RTP, i};
	for (uint32_t c = 0; c < ntcp; c++) {
		uint64_t s = t0 + (uint64_t)c * TCP_EVERY_US * 1000 + 7000000; /* between RTP packets */
		ev[k++] = (struct ev){s, SYN, c};
		ev[k++] = (struct ev){s + SERVER_DELAY_US * 1000ULL, SYNACK, c};
		ev[k++] = (struct ev){s + (SERVER_DELAY_US + CLIENT_DELAY_US) * 1000ULL, ACK, c};
		ev[k++] = (struct ev){s + 100000000ULL, DATA, c};
		ev[k++] = (struct ev){s + 100000000ULL + DATA_RTT_US * 1000ULL, DATA_ACK, c};
	}
	qsort(ev, nev, sizeof(*ev), ev_cmp);
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *out = pcap_open_live(tap, 65535, 0, 100, eb);
	cr_assert_not_null(out, "%s", eb);
	/* the sender stays off the worker's CPU (lcore 1 polls CPU 1) */
	cpu_set_t cpus;
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	cr_assert_eq(sched_setaffinity(0, sizeof(cpus), &cpus), 0);
	/* and before the probe's management thread there, where it may (root) */
	struct sched_param sp = {.sched_priority = 10};
	int fifo = sched_setscheduler(0, SCHED_FIFO, &sp) == 0;
	uint8_t f[512];
	for (size_t i = 0; i < nev; i++) {
		uint32_t n = build(&ev[i], f);
		qp_sleep_until(ev[i].due);
		cr_assert_eq(pcap_inject(out, f, n), (int)n, "%s", pcap_geterr(out));
		/* the frame is in the tap's queue once the write returns */
		sent[i] = qp_realtime_ns();
	}
	pcap_close(out);
	if (fifo) {
		sp.sched_priority = 0;
		sched_setscheduler(0, SCHED_OTHER, &sp);
	}
	/* the kernel sends its own frames on a tap (IPv6): the filter keeps them out */
	long got = measured(http, (long)nev, 30);
	cr_assert_eq(got, (long)nev, "the probe measured %ld of %zu frames", got, nev);
	/* the clock re-anchored once a second all along, never with a step */
	char *body = NULL;
	cr_assert_eq(qp_http_get(http, "/api/v1/stats", &body), 200);
	json_t *stj = json_loads(body, 0, NULL);
	free(body);
	json_t *clk = json_object_get(stj, "clock");
	cr_assert_geq(json_integer_value(json_object_get(clk, "anchors_taken")), SECONDS);
	json_int_t step = json_integer_value(json_object_get(clk, "max_reanchor_step_ns"));
	cr_assert(json_is_integer(json_object_get(clk, "max_reanchor_step_ns")));
	cr_assert_leq(step, 10000, "a re-anchor stepped packet time by %lld ns", (long long)step);
	cr_log_info("largest re-anchor step over %d s: %lld ns", SECONDS, (long long)step);
	json_decref(stj);
	qp_stop_clean(pid, err);
	json_t *rep_j = qp_json_load(rep);
	cr_assert_not_null(rep_j);
	cr_expect_eq(jnum(json_object_get(rep_j, "capture"), "ts_backwards", NULL), 0,
		     "the probe's time went back");

	/* the sender's truth: RTP inter-arrival and RFC 3550 jitter from its send times */
	double iat_min = 1e9, iat_max = 0, iat_sum = 0, J = 0, jsum = 0, jmax = 0;
	uint64_t prev = 0;
	double prev_d = 0;
	uint32_t nj = 0;
	for (size_t i = 0; i < nev; i++) {
		if (ev[i].k != RTP)
			continue;
		double d = (double)sent[i] / 1e6 - ev[i].i * 20.0; /* transit, ms, up to a constant */
		if (prev) {
			double iat = (double)(sent[i] - prev) / 1e6;
			iat_min = fmin(iat_min, iat);
			iat_max = fmax(iat_max, iat);
			iat_sum += iat;
			J += (fabs(d - prev_d) - J) / 16;
			jsum += J;
			jmax = fmax(jmax, J);
			nj++;
		}
		prev = sent[i];
		prev_d = d;
	}
	json_t *rtpf = qp_find_flow(rep_j, "10.1.0.1", 16384, "10.2.0.2", 16386);
	cr_assert_not_null(rtpf, "no RTP flow in the report");
	json_t *iat = json_object_get(json_object_get(rtpf, "iat_ms"), "fwd");
	cr_assert_eq(jnum(iat, "samples", NULL), nrtp - 1);
	expect_close("RTP inter-arrival min", jnum(iat, "min", NULL), iat_min);
	expect_close("RTP inter-arrival max", jnum(iat, "max", NULL), iat_max);
	expect_close("RTP inter-arrival mean", jnum(iat, "mean", NULL), iat_sum / nj);
	json_t *s0 = json_array_get(json_object_get(rtpf, "rtp"), 0);
	cr_assert_eq(jnum(s0, "packets", NULL), nrtp);
	cr_assert_eq(jnum(s0, "lost", NULL), 0);
	expect_close("RTP jitter last", jnum(s0, "jitter_ms", "last"), J);
	expect_close("RTP jitter mean", jnum(s0, "jitter_ms", "mean"), jsum / nj);
	expect_close("RTP jitter max", jnum(s0, "jitter_ms", "max"), jmax);

	/* TCP: every connection's handshake halves and data round trip */
	uint64_t *t = calloc((size_t)ntcp * 5, sizeof(*t));
	for (size_t i = 0; i < nev; i++)
		if (ev[i].k != RTP)
			t[ev[i].i * 5 + (ev[i].k - SYN)] = sent[i];
	for (uint32_t c = 0; c < ntcp; c++) {
		json_t *fl = qp_find_flow(rep_j, "10.1.0.1", 20000 + (int)c, "10.2.0.3", 8080);
		cr_assert_not_null(fl, "no flow for connection %u", c);
		json_t *tcp = json_object_get(fl, "tcp");
		char what[64];
		snprintf(what, sizeof(what), "connection %u handshake (SYN -> SYN/ACK)", c);
		expect_close(what, jnum(tcp, "handshake_rtt_ms", NULL), (double)(t[c * 5 + 1] - t[c * 5]) / 1e6);
		snprintf(what, sizeof(what), "connection %u handshake (SYN/ACK -> ACK)", c);
		expect_close(what, jnum(tcp, "handshake_ack_rtt_ms", NULL),
			     (double)(t[c * 5 + 2] - t[c * 5 + 1]) / 1e6);
		snprintf(what, sizeof(what), "connection %u data RTT", c);
		/* the seq/ack samples: the SYN answered (the handshake) and the data answered */
		expect_close(what, jnum(tcp, "rtt_ms", "min"), (double)(t[c * 5 + 4] - t[c * 5 + 3]) / 1e6);
		snprintf(what, sizeof(what), "connection %u RTT samples", c);
		cr_expect_eq(jnum(tcp, "rtt_ms", "samples"), 2, "%s", what);
		expect_close(what, jnum(tcp, "rtt_ms", "max"), (double)(t[c * 5 + 1] - t[c * 5]) / 1e6);
	}
	cr_assert_gt(nerrs, 300);
	double *sorted = malloc(nerrs * sizeof(*sorted));
	memcpy(sorted, errs, nerrs * sizeof(*sorted));
	qsort(sorted, nerrs, sizeof(*sorted), dcmp);
	double p50 = sorted[nerrs / 2], p90 = sorted[nerrs * 90 / 100], p95 = sorted[nerrs * 95 / 100];
	double mx = sorted[nerrs - 1];
	size_t over = 0;
	for (size_t i = 0; i < nerrs; i++)
		over += errs[i] > BOUND_US;
	char line[512];
	snprintf(line, sizeof(line),
		 "%s: %d s, %u RTP packets, %u TCP connections, %zu figures against the sender's "
		 "truth: median %.1f us, p90 %.1f us, p95 %.1f us, largest %.1f us, %zu over %.0f us; "
		 "largest re-anchor step %lld ns",
		 qp_build(), SECONDS, nrtp, ntcp, nerrs, p50, p90, p95, mx, over, BOUND_US,
		 (long long)step);
	cr_log_info("%s", line);
	FILE *sum = fopen("build/test-results/paced-accuracy.txt", "a");
	if (sum) {
		fprintf(sum, "%s\n", line);
		fclose(sum);
	}
	/* p95 is 56-89 us here: the bound holds at p90, with room for a noisier machine */
	cr_expect(p50 < BOUND_US / 2, "%s", line);
	cr_expect(p90 < BOUND_US, "%s", line);
	/* the aggregates of the stream (means over 3,000 packets) are within the bound */
	for (size_t i = 0; i < nerrs; i++)
		if (strstr(err_what[i], "mean"))
			cr_expect(errs[i] < BOUND_US, "%s: %.1f us", err_what[i], errs[i]);
	for (size_t i = 0; i < nerrs; i++)
		free((char *)err_what[i]);
	free(sorted);
	free(t);
	free(ev);
	free(sent);
	json_decref(rep_j);
}
