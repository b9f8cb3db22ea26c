/*
 * Pcap results over QMCP end to end: a probe on a net_tap port, a
 * controller (libqmcp in this process) that starts a measurement and a
 * capture of it, the demo capture injected into the tap. The pcapng the
 * PCAP_DATA pushes carry, read back by tshark, holds exactly the packets
 * the measurement counted, with the probe's own timestamps (its flows' first
 * and last times), cut at the snaplen; a tight budget drops and counts what
 * does not fit, and the Interface Statistics Block says so; bad requests are
 * refused one by one and the capture goes on; a stopped measurement and a
 * closed session end their captures.
 *
 * Live: starts DPDK probes (tests/run.sh runs such binaries one at a time).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qp_qmcp.h"
#include "qp_run.h"

#define FILTER "host 192.0.2.10" /* the demo's DNS, TCP and ping flows: 68 frames */

struct capfile {
	uint8_t *b;
	size_t n, cap;
	int ended;
	uint8_t why;
	uint64_t packets, dropped;
};

static void add(struct capfile *f, const uint8_t *p, size_t n)
{
	if (f->n + n > f->cap) {
		f->cap = (f->n + n) * 2;
		f->b = realloc(f->b, f->cap);
		cr_assert_not_null(f->b);
	}
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

/* PCAP_DATA pushes of measurement id until the one that ends the capture. */
static void collect(struct qmcp_client *c, uint32_t id, struct capfile *f)
{
	for (int i = 0; i < 600 && !f->ended; i++) {
		struct qmcp_reply r;
		int k = qmcp_client_next_push(c, &r, 100);
		cr_assert_geq(k, 0, "the session ended");
		if (!k)
			continue;
		struct qmcp_tlv t;
		uint32_t mid = 0;
		if (r.h.type == QMCP_MSG_PCAP_DATA && qmcp_find(r.body, r.len, QMCP_T_MEAS_ID, &t) == 1 &&
		    qmcp_tlv_u32(&t, &mid) == 0 && mid == id) {
			cr_assert_eq(qmcp_find(r.body, r.len, QMCP_T_PCAPNG, &t), 1);
			add(f, t.val, t.len);
			if (qmcp_find(r.body, r.len, QMCP_T_CAPTURE_END, &t) == 1) {
				cr_assert_eq(qmcp_tlv_u8(&t, &f->why), 0);
				cr_assert_eq(qmcp_find(r.body, r.len, QMCP_T_CAP_PACKETS, &t), 1);
				qmcp_tlv_u64(&t, &f->packets);
				cr_assert_eq(qmcp_find(r.body, r.len, QMCP_T_CAP_DROPPED, &t), 1);
				qmcp_tlv_u64(&t, &f->dropped);
				f->ended = 1;
			}
		}
		qmcp_reply_free(&r);
	}
	cr_assert(f->ended, "no PCAP_DATA ended the capture");
}

static struct qmcp_reply capture(struct qmcp_client *c, uint32_t id, uint32_t snaplen, uint64_t rate,
				 uint8_t on, int *err)
{
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_CAPTURE, 0, qmcp_client_next_id(c));
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	if (!on)
		qmcp_put_u8(&m, QMCP_T_ON, 0);
	if (snaplen)
		qmcp_put_u32(&m, QMCP_T_SNAPLEN, snaplen);
	if (rate)
		qmcp_put_u64(&m, QMCP_T_RATE_BPS, rate);
	struct qmcp_reply r;
	char e[512];
	*err = qmcp_client_call(c, &m, &r, 10000, e, sizeof(e));
	qmcp_msg_free(&m);
	return r;
}

static void capture_ok(struct qmcp_client *c, uint32_t id, uint32_t snaplen, uint64_t rate, uint8_t on)
{
	int e;
	struct qmcp_reply r = capture(c, id, snaplen, rate, on, &e);
	cr_assert_eq(e, 0, "CAPTURE refused");
	qmcp_reply_free(&r);
}

/* A refusal: its code, and text that says what was wrong. */
static void expect_refused(struct qmcp_client *c, struct qmcp_msg *m, uint16_t code, const char *text)
{
	struct qmcp_reply r;
	char e[512];
	cr_assert_neq(qmcp_client_call(c, m, &r, 10000, e, sizeof(e)), 0);
	qmcp_msg_free(m);
	char msg[400];
	cr_expect_eq(qmcp_reply_error(&r, msg, sizeof(msg)), code, "%s", msg);
	cr_expect(strstr(msg, text) != NULL, "'%s' not in '%s'", text, msg);
	qmcp_reply_free(&r);
}

static long measured(struct qmcp_client *c, uint32_t id)
{
	json_t *s = status(c, id);
	long v = (long)json_integer_value(json_object_get(json_object_get(s, "capture"), "measured"));
	json_decref(s);
	return v;
}

static void wait_counted(struct qmcp_client *c, uint32_t id, long want)
{
	for (int i = 0; i < 1000 && measured(c, id) < want; i++)
		nap_ms(10);
	cr_assert_eq(measured(c, id), want, "the measurement counts the demo's frames of " FILTER);
}

static void save(const struct capfile *f, const char *path)
{
	FILE *o = fopen(path, "wb");
	cr_assert_not_null(o);
	cr_assert_eq(fwrite(f->b, 1, f->n, o), f->n);
	fclose(o);
}

/* The Interface Statistics Block of interface 0: packets delivered and dropped. */
static void isb(const struct capfile *f, uint64_t *delivered, uint64_t *dropped)
{
	*delivered = *dropped = UINT64_MAX;
	for (size_t o = 0; o + 12 <= f->n;) {
		uint32_t type, len;
		memcpy(&type, f->b + o, 4);
		memcpy(&len, f->b + o + 4, 4);
		cr_assert(len >= 12 && len % 4 == 0 && o + len <= f->n, "block at %zu", o);
		if (type == 5) {
			uint32_t ifid;
			memcpy(&ifid, f->b + o + 8, 4);
			for (size_t q = o + 20; q + 4 <= o + len - 4;) {
				uint16_t code, l;
				memcpy(&code, f->b + q, 2);
				memcpy(&l, f->b + q + 2, 2);
				if (code == 0)
					break;
				if (ifid == 0 && code == 7)
					memcpy(dropped, f->b + q + 4, 8);
				if (ifid == 0 && code == 8)
					memcpy(delivered, f->b + q + 4, 8);
				q += 4 + ((l + 3u) & ~3u);
			}
		}
		o += len;
	}
}

struct pkt {
	char src[48], dst[48];
	int sport, dport;
	unsigned long long ts;
	int caplen, len;
	char ifname[32];
};

/* The capture's packets as tshark reads them. */
static int read_back(const char *path, struct pkt *p, int max)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd),
		 "tshark -r '%s' -T fields -E occurrence=f -e ip.src -e ip.dst -e tcp.srcport -e tcp.dstport "
		 "-e udp.srcport -e udp.dstport -e frame.time_epoch -e frame.cap_len -e frame.len "
		 "-e frame.interface_name 2>/dev/null",
		 path);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	char line[512];
	int n = 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		char *v[10] = {0};
		int k = 0;
		for (char *s = line; k < 10; k++) {
			v[k] = s;
			char *t = strpbrk(s, "\t\n");
			if (!t)
				break;
			*t = 0;
			s = t + 1;
		}
		struct pkt *x = &p[n++];
		snprintf(x->src, sizeof(x->src), "%s", v[0] ? v[0] : "");
		snprintf(x->dst, sizeof(x->dst), "%s", v[1] ? v[1] : "");
		x->sport = v[2] && *v[2] ? atoi(v[2]) : v[4] && *v[4] ? atoi(v[4]) : 0;
		x->dport = v[3] && *v[3] ? atoi(v[3]) : v[5] && *v[5] ? atoi(v[5]) : 0;
		x->ts = v[6] ? qp_seconds_ns(v[6]) : 0;
		x->caplen = v[7] ? atoi(v[7]) : -1;
		x->len = v[8] ? atoi(v[8]) : -1;
		snprintf(x->ifname, sizeof(x->ifname), "%s", v[9] ? v[9] : "");
	}
	pclose(f);
	return n;
}

Test(capture, holds_the_packets_the_measurement_counted_with_its_times, .timeout = 120)
{
	struct probe p;
	probe_start(&p, "127.0.0.1/32");
	struct qmcp_client *c = ctl(&p);
	long want = offline_measured(FILTER);
	cr_assert_eq(want, 68);
	uint32_t id = start_meas(c, FILTER, 100, 1);
	capture_ok(c, id, 0, 0, 1);
	inject(p.tap);
	wait_counted(c, id, want);
	capture_ok(c, id, 0, 0, 0);
	struct capfile f = {0};
	collect(c, id, &f);
	cr_expect_eq(f.why, 3, "ended by CAPTURE ON 0");
	cr_expect_eq(f.packets, (uint64_t)want);
	cr_expect_eq(f.dropped, 0);
	uint64_t del, drop;
	isb(&f, &del, &drop);
	cr_expect_eq(del, (uint64_t)want);
	cr_expect_eq(drop, 0);
	char path[256];
	snprintf(path, sizeof(path), "%s/capture.pcapng", qp_tmpdir());
	save(&f, path);
	static struct pkt pk[256];
	int n = read_back(path, pk, 256);
	cr_assert_eq(n, want, "tshark reads every packet the measurement counted");
	for (int i = 0; i < n; i++) {
		cr_expect_eq(pk[i].caplen, pk[i].len < 256 ? pk[i].len : 256, "packet %d", i);
		cr_expect_str_eq(pk[i].ifname, "net_tap0");
		cr_expect(!strcmp(pk[i].src, "192.0.2.10") || !strcmp(pk[i].dst, "192.0.2.10"));
	}
	/* the probe's own times: each flow's first and last packet */
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_FLOWS, 0, qmcp_client_next_id(c));
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	struct qmcp_reply r = call_ok(c, &m);
	struct qmcp_tlv t;
	cr_assert_eq(qmcp_find(r.body, r.len, QMCP_T_FLOWS_JSON, &t), 1);
	json_t *flows = json_loadb((const char *)t.val, t.len, 0, NULL);
	qmcp_reply_free(&r);
	size_t i;
	json_t *fl;
	long total = 0;
	cr_assert_eq(json_array_size(flows), 3);
	json_array_foreach(flows, i, fl) {
		const char *s = json_string_value(json_object_get(fl, "src")),
			   *d = json_string_value(json_object_get(fl, "dst"));
		int sp = (int)qp_geti(fl, "sport"), dp = (int)qp_geti(fl, "dport");
		unsigned long long lo = ~0ULL, hi = 0;
		long cnt = 0;
		for (int k = 0; k < n; k++) {
			int fwd = !strcmp(pk[k].src, s) && !strcmp(pk[k].dst, d) && pk[k].sport == sp &&
				  pk[k].dport == dp;
			int rev = !strcmp(pk[k].src, d) && !strcmp(pk[k].dst, s) && pk[k].sport == dp &&
				  pk[k].dport == sp;
			if (!fwd && !rev)
				continue;
			cnt++;
			lo = pk[k].ts < lo ? pk[k].ts : lo;
			hi = pk[k].ts > hi ? pk[k].ts : hi;
		}
		json_t *pkts = json_object_get(fl, "packets");
		cr_expect_eq(cnt, qp_geti(pkts, "fwd") + qp_geti(pkts, "rev"), "%s:%d", s, sp);
		cr_expect_eq(lo, (unsigned long long)qp_geti(fl, "first_ns"), "%s:%d first", s, sp);
		cr_expect_eq(hi, (unsigned long long)qp_geti(fl, "last_ns"), "%s:%d last", s, sp);
		total += cnt;
	}
	cr_expect_eq(total, want);
	json_decref(flows);
	free(f.b);
	qmcp_client_close(c);
	probe_stop(&p);
}

Test(capture, a_tight_budget_drops_and_counts_the_rest, .timeout = 120)
{
	struct probe p;
	probe_start(&p, "127.0.0.1/32");
	struct qmcp_client *c = ctl(&p);
	uint32_t id = start_meas(c, FILTER, 100, 1);
	/* 800 bit/s: 100 bytes a second, a bucket of one packet of 64 bytes */
	capture_ok(c, id, 64, 800, 1);
	inject(p.tap);
	wait_counted(c, id, 68);
	capture_ok(c, id, 0, 0, 0);
	struct capfile f = {0};
	collect(c, id, &f);
	cr_expect_geq(f.packets, 1);
	cr_expect_geq(f.dropped, 60);
	cr_expect_eq(f.packets + f.dropped, 68, "every packet counted is in the file or dropped");
	uint64_t del, drop;
	isb(&f, &del, &drop);
	cr_expect_eq(del, f.packets);
	cr_expect_eq(drop, f.dropped);
	char path[256];
	snprintf(path, sizeof(path), "%s/capture-budget.pcapng", qp_tmpdir());
	save(&f, path);
	static struct pkt pk[256];
	int n = read_back(path, pk, 256);
	cr_assert_eq((uint64_t)n, f.packets);
	for (int i = 0; i < n; i++)
		cr_expect_leq(pk[i].caplen, 64);
	free(f.b);
	qmcp_client_close(c);
	probe_stop(&p);
}

Test(capture, bad_requests_are_refused_and_the_capture_goes_on, .timeout = 120)
{
	struct probe p;
	probe_start(&p, "127.0.0.1/32");
	struct qmcp_client *c = ctl(&p), *other = ctl(&p);
	uint32_t id = start_meas(c, FILTER, 100, 1);
	capture_ok(c, id, 0, 0, 1);
	struct qmcp_msg m;
	static const uint32_t snaps[] = {15, 65536, 0};
	for (int k = 0; k < 3; k++) {
		qmcp_msg_init(&m, QMCP_MSG_CAPTURE, 0, qmcp_client_next_id(other));
		qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
		qmcp_put_u32(&m, QMCP_T_SNAPLEN, snaps[k]);
		expect_refused(other, &m, QMCP_E_BAD_PARAM, "SNAPLEN: a u32 from 16 to 65535 is accepted");
	}
	static const uint64_t rates[] = {0, 1000000001ULL};
	for (int k = 0; k < 2; k++) {
		qmcp_msg_init(&m, QMCP_MSG_CAPTURE, 0, qmcp_client_next_id(other));
		qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
		qmcp_put_u64(&m, QMCP_T_RATE_BPS, rates[k]);
		expect_refused(other, &m, QMCP_E_BAD_PARAM,
			       "RATE_BPS: a u64 from 1 to 1000000000 bit/s (this probe's ceiling) is accepted");
	}
	qmcp_msg_init(&m, QMCP_MSG_CAPTURE, 0, qmcp_client_next_id(other));
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id + 5);
	expect_refused(other, &m, QMCP_E_NO_SUCH_MEAS, "no measurement");
	qmcp_msg_init(&m, QMCP_MSG_CAPTURE, 0, qmcp_client_next_id(other));
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	qmcp_put_str(&m, QMCP_T_FILTER, "tcp and and");
	expect_refused(other, &m, QMCP_E_BAD_PARAM, "FILTER 'tcp and and'");
	qmcp_msg_init(&m, QMCP_MSG_CAPTURE, 0, qmcp_client_next_id(other));
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	expect_refused(other, &m, QMCP_E_LIMIT, "is being captured already (one capture a measurement)");
	qmcp_msg_init(&m, QMCP_MSG_CAPTURE, 0, qmcp_client_next_id(other));
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	qmcp_put_u8(&m, QMCP_T_ON, 0);
	expect_refused(other, &m, QMCP_E_BAD_PARAM, "this session captures no packets of measurement");
	/* packet results: a rate of 0 or over a million a second */
	static const uint32_t prates[] = {0, 1000001};
	for (int k = 0; k < 2; k++) {
		qmcp_msg_init(&m, QMCP_MSG_START, 0, qmcp_client_next_id(other));
		qmcp_put_str(&m, QMCP_T_FILTER, "udp");
		qmcp_put_u32(&m, QMCP_T_PACKET_RATE, prates[k]);
		expect_refused(other, &m, QMCP_E_BAD_PARAM, "1 to 1000000 records a second are accepted");
	}
	/* the first capture saw none of that */
	inject(p.tap);
	wait_counted(c, id, 68);
	capture_ok(c, id, 0, 0, 0);
	struct capfile f = {0};
	collect(c, id, &f);
	cr_expect_eq(f.packets, 68);
	cr_expect_eq(f.dropped, 0);
	free(f.b);
	qmcp_client_close(other);
	qmcp_client_close(c);
	probe_stop(&p);
}

Test(capture, a_stopped_measurement_and_a_closed_session_end_their_captures, .timeout = 120)
{
	struct probe p;
	probe_start(&p, "127.0.0.1/32");
	struct qmcp_client *c = ctl(&p), *d = ctl(&p);
	uint32_t a = start_meas(c, FILTER, 100, 1), b = start_meas(c, "udp port 53", 100, 1);
	capture_ok(c, a, 0, 0, 1);
	capture_ok(d, b, 0, 0, 1);
	inject(p.tap);
	wait_counted(c, a, 68);
	/* measurement a stops: its capture ends, what it took is sent first */
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_STOP, 0, qmcp_client_next_id(c));
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, a);
	struct qmcp_reply r = call_ok(c, &m);
	qmcp_reply_free(&r);
	struct capfile f = {0};
	collect(c, a, &f);
	cr_expect_eq(f.why, 4, "ended with its measurement");
	cr_expect_eq(f.packets, 68);
	free(f.b);
	/* session d goes away: its capture of b ends with it; b measures on */
	qmcp_client_close(d);
	struct qmcp_client *e = ctl(&p);
	for (int i = 0; i < 100; i++) {
		/* a new capture of b is taken once the old one is gone */
		int err;
		r = capture(e, b, 0, 0, 1, &err);
		qmcp_reply_free(&r);
		if (!err)
			break;
		nap_ms(20);
	}
	inject(p.tap);
	wait_counted(c, b, 80);
	capture_ok(e, b, 0, 0, 0);
	struct capfile g = {0};
	collect(e, b, &g);
	cr_expect_eq(g.packets, 40, "the second injection's DNS frames");
	free(g.b);
	qmcp_client_close(e);
	qmcp_client_close(c);
	probe_stop(&p);
}
