/*
 * What live mode shows: the /api/v1 pages and /metrics for the HTTP thread, INFO for
 * QMCP, /qprobe/<section> for DPDK telemetry. Readers only: counters are read
 * whole (a value may be one packet old), flow tables under the RCU read side,
 * the clocks' status under clock_mx.
 */
#include "live.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdarg.h>

#include <rte_telemetry.h>
#include <urcu-qsbr.h>

#include "push.h"
#include "qp_report.h"

/* ---- management: HTTP content ---- */

static const char *mode_name(void)
{
	return L.sw_dist ? "software_distribution" : (L.nworkers > 1 ? "rss" : "single_worker");
}

/* "port" when frames carry their ports' Rx timestamps, "tsc" otherwise. */
static const char *ts_source(void)
{
	for (uint16_t p = 0; p < L.nports; p++)
		if (L.port_ts[L.ports[p]])
			return "port";
	return "tsc";
}

/* The clock's status as last published (any thread). */
static struct qp_clock_status clock_status(void)
{
	pthread_mutex_lock(&L.clock_mx);
	struct qp_clock_status st = L.clock_st;
	pthread_mutex_unlock(&L.clock_mx);
	return st;
}

/* A clock's status as JSON: where it comes from, its state and its figures. */
static json_t *clock_status_json(const char *source, struct qp_clock_status st)
{
	json_t *o = json_pack("{s:s,s:s,s:s}", "source", source, "state", st.state ? st.state : "",
			      "reason", st.reason ? st.reason : "");
/* counts and ns as JSON integers, rates as reals */
#define CJ_(f, jn, mn, mt, h)                                                                 \
	json_object_set_new(o, #jn, _Generic((st.f), double: json_real((double)st.f),             \
					     default: json_integer((json_int_t)st.f)));
	QP_CLOCK_STATUS_FIELDS(CJ_)
#undef CJ_
	return o;
}

static json_t *clock_json(void)
{
	return clock_status_json(ts_source(), clock_status());
}

/*
 * Why this probe takes no two-point role, or NULL: frames stamped with a
 * replayed file's times share no clock with the other point.
 */
const char *views_no_two_point(void)
{
	for (uint16_t p = 0; p < L.nports; p++)
		if (L.port_ts[L.ports[p]] == PORT_TS_FILE)
			return "two-point: this probe stamps frames with their capture file's times "
			       "(--timestamps port on net_pcap), which no other point shares; a probe "
			       "on --timestamps tsc, or on NIC clocks, takes two-point roles";
	return NULL;
}

static const char *port_ts_name(int kind)
{
	return kind == PORT_TS_NIC ? "nic" : kind == PORT_TS_FILE ? "file" : "none";
}

static json_t *stats_json(void *arg)
{
	(void)arg;
	json_t *root = json_object();
	json_object_set_new(root, "qprobe", json_pack("{s:s}", "version", qp_version()));
	json_object_set_new(root, "probe_id", json_string(L.probe_id));
	json_object_set_new(root, "mode", json_string(mode_name()));
	json_object_set_new(root, "timestamp_source", json_string(ts_source()));
	json_object_set_new(root, "clock", clock_json());
	json_t *ports = json_array();
	for (uint16_t p = 0; p < L.nports; p++) {
		struct rte_eth_stats st;
		char name[RTE_ETH_NAME_MAX_LEN] = "";
		rte_eth_dev_get_name_by_port(L.ports[p], name);
		json_t *o = json_pack("{s:i,s:s,s:o,s:s,s:s}", "port", L.ports[p], "name", name, "profile",
				      L.prof[p].file[0] ? json_string(L.prof[p].file) : json_null(),
				      "family", L.prof[p].family, "hw_timestamp", L.prof[p].timestamp);
		int kind = L.port_ts[L.ports[p]];
		json_object_set_new(o, "rx_timestamps", json_boolean(kind != PORT_TS_NONE));
		json_object_set_new(o, "timestamp_clock", json_string(port_ts_name(kind)));
		if (kind == PORT_TS_NIC) {
			pthread_mutex_lock(&L.clock_mx);
			struct qp_clock_status cs = L.port_clock_st[L.ports[p]];
			pthread_mutex_unlock(&L.clock_mx);
			json_object_set_new(o, "clock", clock_status_json("nic", cs));
		}
		if (rte_eth_stats_get(L.ports[p], &st) == 0) {
#define P_(f, n, h) json_object_set_new(o, #n, json_integer((json_int_t)st.f));
			QP_PORT_COUNTERS(P_)
#undef P_
		}
		json_array_append_new(ports, o);
	}
	json_object_set_new(root, "ports", ports);
	json_t *lcores = json_array();
	struct qp_capture_totals tot;
	memset(&tot, 0, sizeof(tot));
	meas_lock();
	for (unsigned int i = 0; i < L.nworkers; i++) {
		const struct lcore_stat *st = &L.lst[i];
		struct qp_capture_totals lt;
		uint32_t flows;
		memset(&lt, 0, sizeof(lt));
		meas_lcore_totals(i, &lt, &flows);
		json_t *o = qp_counters_json(&lt.w);
		uint64_t busy = CMM_LOAD_SHARED(st->busy_cycles), tc = CMM_LOAD_SHARED(st->total_cycles);
		json_object_set_new(o, "lcore", json_integer(L.worker_lcore[i]));
		json_object_set_new(o, "role", json_string("worker"));
		json_object_set_new(o, "idle", json_boolean(CMM_LOAD_SHARED(st->idle)));
#define C_(n, h) json_object_set_new(o, #n, json_integer((json_int_t)CMM_LOAD_SHARED(st->n)));
		QP_LCORE_COUNTERS(C_)
#undef C_
		json_object_set_new(o, "busy_ratio", json_real(tc ? (double)busy / (double)tc : 0));
		json_object_set_new(o, "flows", json_integer(flows));
		json_object_set_new(o, "evictions", json_integer((json_int_t)lt.t.evicted));
		json_object_set_new(o, "table_full", json_integer((json_int_t)lt.t.table_full));
		size_t mem, pmem;
		json_object_set_new(o, "flow_pool", meas_lcore_pool_json(i, &pmem));
		json_object_set_new(o, "flow_tables", meas_lcore_tables_json(i, &mem));
		json_object_set_new(o, "flow_table_bytes", json_integer((json_int_t)(mem + pmem)));
		json_array_append_new(lcores, o);
	}
	meas_totals(&tot);
	unsigned int nmeas = meas_count();
	meas_unlock();
	if (L.sw_dist) {
		json_t *o = json_pack("{s:i,s:s,s:b}", "lcore", L.dist_lcore, "role", "distributor",
				      "idle", CMM_LOAD_SHARED(L.dist_idle));
#define D_(n, h) json_object_set_new(o, #n, json_integer((json_int_t)CMM_LOAD_SHARED(L.dist.n)));
		QP_DIST_COUNTERS(D_)
#undef D_
		json_array_append_new(lcores, o);
	}
	json_object_set_new(root, "lcores", lcores);
	json_t *t = qp_counters_json(&tot.w);
	json_object_set_new(t, "flows_evicted", json_integer((json_int_t)tot.t.evicted));
	json_object_set_new(t, "flow_table_full", json_integer((json_int_t)tot.t.table_full));
	json_object_set_new(root, "totals", t);
	json_object_set_new(root, "measurements", json_integer(nmeas));
	json_object_set_new(root, "qmcp", ctl_counters_json());
	struct qp_http_counters hc;
	qp_http_counters(L.http, &hc);
	json_t *hj = json_object();
#define HJ_(n, h) json_object_set_new(hj, #n, json_integer((json_int_t)hc.n));
	QP_HTTP_COUNTERS(HJ_)
#undef HJ_
	json_object_set_new(hj, "open", json_integer((json_int_t)hc.open));
	json_object_set_new(root, "http", hj);
	json_object_set_new(root, "push", push_stats_json());
	json_object_set_new(root, "push_totals", push_totals_json());
	return root;
}

/* 404 for a measurement id, or for "none running" when id is 0 */
static json_t *not_found(unsigned int id)
{
	char msg[160];
	if (id)
		snprintf(msg, sizeof(msg), "no measurement %u (see /api/v1/measurements)", id);
	else
		snprintf(msg, sizeof(msg), "no measurement is running");
	return json_pack("{s:s,s:i}", "error", msg, "status", 404);
}

/*
 * Lock the table and find the measurement asked for (the lowest id when id
 * is 0); when there is none, unlock and leave the 404 answer in *answer.
 */
static struct meas *pick_locked(unsigned int id, json_t **answer)
{
	meas_lock();
	struct meas *m = id ? meas_find(id) : meas_at(0);
	if (!m) {
		meas_unlock();
		*answer = not_found(id);
	}
	return m;
}

/* The HTTP thread is an RCU reader, offline except while it walks tables. */
static void http_thread_init(void *arg)
{
	(void)arg;
	rcu_register_thread();
	rcu_thread_offline();
}

static void http_thread_fini(void *arg)
{
	(void)arg;
	rcu_unregister_thread();
}

static json_t *flows_json(void *arg, unsigned int id, unsigned int top, enum qp_flow_sort sort)
{
	(void)arg;
	json_t *answer;
	struct meas *m = pick_locked(id, &answer);
	if (!m)
		return answer;
	uint64_t total = 0;
	json_t *arr = meas_flows_json(m, 0, top, sort, &total);
	uint32_t mid = meas_id(m);
	meas_unlock();
	if (!arr)
		return NULL;
	return json_pack("{s:i,s:s,s:i,s:I,s:o}", "measurement", (int)mid, "sort",
			 sort == QP_SORT_BYTES ? "bytes" : "packets", "top", (int)top, "active_flows",
			 (json_int_t)total, "flows", arr);
}

static json_t *intervals_json(void *arg, unsigned int id, unsigned int last)
{
	(void)arg;
	json_t *answer;
	struct meas *m = pick_locked(id, &answer);
	if (!m)
		return answer;
	json_t *o = json_pack("{s:i,s:f,s:o}", "measurement", (int)meas_id(m), "interval_ms",
			      (double)meas_params(m)->interval_ns / 1e6, "intervals",
			      meas_intervals_json(m, last));
	meas_unlock();
	return o;
}

static json_t *measurements_json(void *arg, unsigned int id)
{
	(void)arg;
	meas_lock();
	json_t *o;
	if (id) {
		struct meas *m = meas_find(id);
		o = m ? meas_json(m, 1) : not_found(id);
	} else {
		json_t *a = json_array();
		for (unsigned int i = 0; i < meas_count(); i++)
			json_array_append_new(a, meas_json(meas_at(i), 0));
		o = json_pack("{s:o}", "measurements", a);
	}
	meas_unlock();
	return o;
}

/* Growable text buffer for /metrics. */
struct sbuf {
	char *s;
	size_t n, cap;
	int oom;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		if (k < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)k < b->cap - b->n) {
			b->n += (size_t)k;
			return;
		}
		size_t nc = (b->cap + (size_t)k + 1) * 2;
		char *p = realloc(b->s, nc);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->s = p;
		b->cap = nc;
	}
}

/* A label value as Prometheus wants it: backslash, quote and newline escaped. */
static const char *lv(const char *s, char *buf, size_t n)
{
	size_t k = 0;
	for (; *s && k + 2 < n; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			buf[k++] = '\\';
			buf[k++] = *s == '\n' ? 'n' : *s;
		} else {
			buf[k++] = *s;
		}
	}
	buf[k] = 0;
	return buf;
}

/* Per measurement, the QoS of its latest closed interval (gauges); table locked. */
static void meas_qos_metrics(struct sbuf *b, unsigned int nm)
{
	static const char *const dn[2] = {"fwd", "rev"};
	static const struct {
		const char *name, *help;
	} g[] = {
		{"qprobe_meas_interval_start_seconds", "Start of the latest closed interval (Unix time)"},
		{"qprobe_meas_bits_per_second", "Throughput in the latest interval, by direction"},
		{"qprobe_meas_packets_per_second", "Packet rate in the latest interval, by direction"},
		{"qprobe_meas_tcp_rtt_seconds", "TCP RTT quantiles in the latest interval, by direction"},
		{"qprobe_meas_tcp_retransmissions", "TCP retransmissions in the latest interval, by direction"},
		{"qprobe_meas_rtp_loss_ratio", "RTP packets lost / expected in the latest interval, by direction"},
		{"qprobe_meas_rtp_jitter_seconds", "RTP jitter (RFC 3550), mean over the latest interval, by direction"},
		{"qprobe_meas_rtp_mos_min", "Lowest MOS (E-model) of an RTP stream in the latest interval"},
		{"qprobe_meas_dns_response_time_seconds", "DNS response time quantiles in the latest interval"},
		{"qprobe_meas_dns_messages", "DNS queries, responses, answered, unanswered, retransmitted, unmatched and truncated in the latest interval"},
		{"qprobe_meas_dns_responses_by_rcode", "DNS responses by RCODE in the latest interval"},
		{"qprobe_meas_quic_rtt_seconds", "QUIC spin-bit RTT quantiles in the latest interval, by the direction of the edges"},
		{"qprobe_meas_quic_handshake_seconds", "QUIC handshake RTT (both halves) quantiles in the latest interval"},
		{"qprobe_meas_tls_handshake_seconds", "TLS ClientHello to ServerHello, and ServerHello to the client's data, quantiles in the latest interval"},
		{"qprobe_meas_mpegts_packets", "MPEG-TS packets, continuity errors, packets lost, sync errors and the rest of docs/metrics.md's counts in the latest interval"},
		{"qprobe_meas_two_point_owd_seconds", "Two-point one-way delay so far, by direction"},
		{"qprobe_meas_two_point_loss_ratio", "Two-point packets lost / selected so far, by direction"},
	};
	for (size_t gi = 0; gi < sizeof(g) / sizeof(g[0]); gi++) {
		sb_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", g[gi].name, g[gi].help, g[gi].name);
		for (unsigned int k = 0; k < nm; k++) {
			struct meas *m = meas_at(k);
			uint32_t id = meas_id(m);
			const struct qp_interval_rec *r = meas_last_result(m);
			if (gi >= 15) {
				json_t *tp = meas_two_point_json(m);
				for (int d = 0; tp && d < 2; d++) {
					json_t *o = json_object_get(tp, dn[d]);
					json_t *w = json_object_get(o, "owd_ms");
					if (gi == 15 && json_is_object(w)) {
						static const char *const st[] = {"min", "mean", "max", "p50", "p99"};
						for (int s = 0; s < 5; s++)
							if (json_is_number(json_object_get(w, st[s])))
								sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\",stat=\"%s\"} %.9f\n",
									  g[gi].name, id, dn[d], st[s],
									  json_number_value(json_object_get(w, st[s])) / 1e3);
					} else if (gi == 16 && json_is_number(json_object_get(o, "loss_ratio"))) {
						sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\"} %.9f\n", g[gi].name, id,
							  dn[d], json_number_value(json_object_get(o, "loss_ratio")));
					}
				}
				json_decref(tp);
				continue;
			}
			if (!r)
				continue;
			double secs = (double)r->duration_ns / 1e9;
			if (gi == 0) {
				sb_printf(b, "%s{measurement=\"%u\"} %.3f\n", g[gi].name, id,
					  (double)r->start_ns / 1e9);
				continue;
			}
			if (gi == 8) {
				if (r->dns_rt.n)
					sb_printf(b, "%s{measurement=\"%u\",quantile=\"0.5\"} %.9f\n"
						      "%s{measurement=\"%u\",quantile=\"0.99\"} %.9f\n",
						  g[gi].name, id, r->dns_rt.p50 / 1e3, g[gi].name, id,
						  r->dns_rt.p99 / 1e3);
				continue;
			}
			if (gi == 9) {
				const struct qp_dns_totals *t = &r->dns;
				const struct {
					const char *k;
					uint64_t v;
				} kv[] = {{"queries", t->queries},	 {"responses", t->responses},
					  {"answered", t->answered},	 {"unanswered", t->unanswered},
					  {"retransmitted", t->retransmitted}, {"unmatched", t->unmatched},
					  {"truncated", t->truncated}};
				for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
					sb_printf(b, "%s{measurement=\"%u\",kind=\"%s\"} %" PRIu64 "\n", g[gi].name,
						  id, kv[i].k, kv[i].v);
				continue;
			}
			if (gi == 14) {
#define QP_TS_G_(n, h)                                                                       \
	sb_printf(b, "%s{measurement=\"%u\",kind=\"" #n "\"} %" PRIu64 "\n", g[gi].name, id, r->ts.n);
				QP_TS_COUNTS(QP_TS_G_)
#undef QP_TS_G_
				continue;
			}
			if (gi == 13) {
				const struct qp_dist_summary *ph[2] = {&r->tls_hello, &r->tls_data};
				static const char *const pn[2] = {"client_hello_to_server_hello",
								  "server_hello_to_client_data"};
				for (int k = 0; k < 2; k++)
					if (ph[k]->n)
						sb_printf(b, "%s{measurement=\"%u\",phase=\"%s\",quantile=\"0.5\"} %.9f\n"
							      "%s{measurement=\"%u\",phase=\"%s\",quantile=\"0.99\"} %.9f\n",
							  g[gi].name, id, pn[k], ph[k]->p50 / 1e3, g[gi].name, id,
							  pn[k], ph[k]->p99 / 1e3);
				continue;
			}
			if (gi == 12) {
				if (r->quic_hs.n)
					sb_printf(b, "%s{measurement=\"%u\",quantile=\"0.5\"} %.9f\n"
						      "%s{measurement=\"%u\",quantile=\"0.99\"} %.9f\n",
						  g[gi].name, id, r->quic_hs.p50 / 1e3, g[gi].name, id,
						  r->quic_hs.p99 / 1e3);
				continue;
			}
			if (gi == 11) {
				for (int d = 0; d < 2; d++)
					if (r->quic_rtt[d].n)
						sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\",quantile=\"0.5\"} %.9f\n"
							      "%s{measurement=\"%u\",dir=\"%s\",quantile=\"0.99\"} %.9f\n",
							  g[gi].name, id, dn[d], r->quic_rtt[d].p50 / 1e3, g[gi].name,
							  id, dn[d], r->quic_rtt[d].p99 / 1e3);
				continue;
			}
			if (gi == 10) {
				char nb[16];
				for (unsigned int i = 0; i < 16; i++)
					if (r->dns.rcodes[i])
						sb_printf(b, "%s{measurement=\"%u\",rcode=\"%s\"} %" PRIu64 "\n",
							  g[gi].name, id, qp_dns_rcode_name(i, nb, sizeof(nb)),
							  r->dns.rcodes[i]);
				continue;
			}
			if (gi == 7) {
				double mn = 0;
				int have = 0;
				for (uint32_t i = 0; i < r->nstreams; i++)
					if (r->streams[i].mos > 0 && (!have || r->streams[i].mos < mn)) {
						mn = r->streams[i].mos;
						have = 1;
					}
				if (have)
					sb_printf(b, "%s{measurement=\"%u\"} %.3f\n", g[gi].name, id, mn);
				continue;
			}
			for (int d = 0; d < 2; d++) {
				if (gi == 1)
					sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\"} %.3f\n", g[gi].name, id, dn[d],
						  secs > 0 ? (double)r->bytes[d] * 8 / secs : 0);
				else if (gi == 2)
					sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\"} %.3f\n", g[gi].name, id, dn[d],
						  secs > 0 ? (double)r->pkts[d] / secs : 0);
				else if (gi == 3 && r->rtt[d].n)
					sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\",quantile=\"0.5\"} %.9f\n"
						      "%s{measurement=\"%u\",dir=\"%s\",quantile=\"0.99\"} %.9f\n",
						  g[gi].name, id, dn[d], r->rtt[d].p50 / 1e3, g[gi].name, id, dn[d],
						  r->rtt[d].p99 / 1e3);
				else if (gi == 4)
					sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\"} %" PRIu64 "\n", g[gi].name, id,
						  dn[d], r->retrans[d]);
				else if (gi == 5 && r->rtp_expected[d])
					sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\"} %.6f\n", g[gi].name, id, dn[d],
						  r->rtp_received[d] >= r->rtp_expected[d]
							  ? 0.0
							  : (double)(r->rtp_expected[d] - r->rtp_received[d]) /
								    (double)r->rtp_expected[d]);
				else if (gi == 6 && r->rtp_jitter[d].n)
					sb_printf(b, "%s{measurement=\"%u\",dir=\"%s\"} %.9f\n", g[gi].name, id, dn[d],
						  r->rtp_jitter[d].mean / 1e3);
			}
		}
	}
}

/* Results push, per destination, from push_stats_json(). */
static void push_metrics(struct sbuf *b)
{
	static const struct {
		const char *key, *name, *type, *help;
	} f[] = {
		{"produced", "qprobe_push_produced_total", "counter", "Results made for the receiver (one an interval)"},
		{"queued", "qprobe_push_queued", "gauge", "Results waiting for a receiver"},
		{"in_flight", "qprobe_push_in_flight", "gauge", "Results sent, not yet acknowledged"},
		{"sent", "qprobe_push_sent_total", "counter", "Results sent (again after a reconnect too)"},
		{"acknowledged", "qprobe_push_acknowledged_total", "counter", "Results the receiver stored"},
		{"dropped", "qprobe_push_dropped_total", "counter", "Results dropped: queue full (reported as gaps)"},
		{"connects", "qprobe_push_connects_total", "counter", "Connections opened to the receiver"},
		{"spool_bytes", "qprobe_push_spool_bytes", "gauge", "Bytes of the receiver's spool file (--spool)"},
		{"spool_errors", "qprobe_push_spool_errors_total", "counter", "Spool writes that failed (--spool)"},
	};
	json_t *a = push_stats_json();
	char esc[600];
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", f[i].name, f[i].help, f[i].name, f[i].type);
		size_t k;
		json_t *d;
		json_array_foreach(a, k, d)
			sb_printf(b, "%s{destination=\"%s\"} %" JSON_INTEGER_FORMAT "\n", f[i].name,
				  lv(json_string_value(json_object_get(d, "destination")), esc, sizeof(esc)),
				  json_integer_value(json_object_get(d, f[i].key)));
	}
	sb_printf(b, "# HELP qprobe_push_connected 1 while the session to the receiver is up (HELLO and AUTH done)\n"
		      "# TYPE qprobe_push_connected gauge\n");
	size_t k;
	json_t *d;
	json_array_foreach(a, k, d)
		sb_printf(b, "qprobe_push_connected{destination=\"%s\"} %d\n",
			  lv(json_string_value(json_object_get(d, "destination")), esc, sizeof(esc)),
			  !strcmp(json_string_value(json_object_get(d, "state")), "ready"));
	json_decref(a);
}

static char *metrics_text(void *arg)
{
	(void)arg;
	struct sbuf b = {.s = malloc(4096), .cap = 4096};
	if (!b.s)
		return NULL;
	b.s[0] = 0;
	meas_lock();
	unsigned int nm = meas_count();
	/* worker counters per measurement and lcore */
#define W_(name, help)                                                                          \
	sb_printf(&b, "# HELP qprobe_worker_" #name "_total " help "\n# TYPE qprobe_worker_" #name   \
		      "_total counter\n");                                                          \
	for (unsigned int k = 0; k < nm; k++)                                                    \
		for (unsigned int i = 0; i < L.nworkers; i++)                                    \
			sb_printf(&b, "qprobe_worker_" #name "_total{measurement=\"%u\",lcore=\"%u\"} %" PRIu64 "\n", \
				  meas_id(meas_at(k)), L.worker_lcore[i],                          \
				  CMM_LOAD_SHARED(meas_worker(meas_at(k), i)->cnt.name));
	QP_WORKER_COUNTERS(W_)
#undef W_
	sb_printf(&b, "# HELP qprobe_parse_errors_by_reason_total Malformed frames by reason\n"
		      "# TYPE qprobe_parse_errors_by_reason_total counter\n");
	for (unsigned int k = 0; k < nm; k++)
		for (unsigned int i = 0; i < L.nworkers; i++)
			for (int r = 0; r < QP_PARSE_ERR_COUNT; r++)
				sb_printf(&b,
					  "qprobe_parse_errors_by_reason_total{measurement=\"%u\",lcore=\"%u\","
					  "reason=\"%s\"} %" PRIu64 "\n",
					  meas_id(meas_at(k)), L.worker_lcore[i],
					  qp_parse_error_name(QP_PARSE_ERR_FIRST + r),
					  CMM_LOAD_SHARED(meas_worker(meas_at(k), i)->cnt.perr[r]));
	sb_printf(&b, "# HELP qprobe_flows Flows in the table\n# TYPE qprobe_flows gauge\n");
	for (unsigned int k = 0; k < nm; k++)
		for (unsigned int i = 0; i < L.nworkers; i++)
			sb_printf(&b, "qprobe_flows{measurement=\"%u\",lcore=\"%u\"} %u\n",
				  meas_id(meas_at(k)), L.worker_lcore[i],
				  qp_worker_flow_count(meas_worker(meas_at(k), i)));
	static const char *tnames[] = {"created", "expired_idle", "expired_active", "evicted", "table_full"};
	static const char *thelp[] = {"Flows created", "Flows ended by the idle timeout",
				      "Flow records exported by the active timeout",
				      "Flows evicted to make room", "New flows refused: table full"};
	for (int t = 0; t < 5; t++) {
		sb_printf(&b, "# HELP qprobe_flows_%s_total %s\n# TYPE qprobe_flows_%s_total counter\n",
			  tnames[t], thelp[t], tnames[t]);
		for (unsigned int k = 0; k < nm; k++)
			for (unsigned int i = 0; i < L.nworkers; i++) {
				struct qp_flow_table_stats s;
				qp_worker_flow_stats(meas_worker(meas_at(k), i), &s);
				uint64_t v[] = {s.created, s.expired_idle, s.expired_active, s.evicted,
						s.table_full};
				sb_printf(&b, "qprobe_flows_%s_total{measurement=\"%u\",lcore=\"%u\"} %" PRIu64 "\n",
					  tnames[t], meas_id(meas_at(k)), L.worker_lcore[i], v[t]);
			}
	}
	meas_qos_metrics(&b, nm);
	sb_printf(&b, "# HELP qprobe_meas_intervals_incomplete_total Intervals closed with a worker's "
		      "part lost (the management core came too late)\n"
		      "# TYPE qprobe_meas_intervals_incomplete_total counter\n");
	for (unsigned int k = 0; k < nm; k++)
		sb_printf(&b, "qprobe_meas_intervals_incomplete_total{measurement=\"%u\"} %" PRIu64 "\n",
			  meas_id(meas_at(k)), meas_intervals_incomplete(meas_at(k)));
	meas_unlock();
	sb_printf(&b, "# HELP qprobe_measurements Measurements running\n# TYPE qprobe_measurements gauge\n"
		      "qprobe_measurements %u\n", nm);
	struct qp_clock_status cs = clock_status();
	char l1[128], l2[128];
	sb_printf(&b, "# HELP qprobe_clock_info Packet clock: source, state and why not disciplined\n"
		      "# TYPE qprobe_clock_info gauge\nqprobe_clock_info{source=\"%s\",state=\"%s\","
		      "reason=\"%s\"} 1\n", ts_source(), lv(cs.state ? cs.state : "", l1, sizeof(l1)),
		  lv(cs.reason ? cs.reason : "", l2, sizeof(l2)));
#define CM_(f, jn, mn, mt, h)                                                                 \
	sb_printf(&b, "# HELP qprobe_clock_" #mn " " h "\n# TYPE qprobe_clock_" #mn " " #mt      \
		      "\nqprobe_clock_" #mn " %.17g\n", (double)cs.f);
	QP_CLOCK_STATUS_FIELDS(CM_)
#undef CM_
#define LC_(name, help)                                                                          \
	sb_printf(&b, "# HELP qprobe_lcore_" #name "_total " help "\n# TYPE qprobe_lcore_" #name     \
		      "_total counter\n");                                                           \
	for (unsigned int i = 0; i < L.nworkers; i++)                                             \
		sb_printf(&b, "qprobe_lcore_" #name "_total{lcore=\"%u\"} %" PRIu64 "\n",            \
			  L.worker_lcore[i], CMM_LOAD_SHARED(L.lst[i].name));
	QP_LCORE_COUNTERS(LC_)
#undef LC_
	sb_printf(&b, "# HELP qprobe_worker_busy_ratio Share of poll-loop time spent on packets\n"
		      "# TYPE qprobe_worker_busy_ratio gauge\n");
	for (unsigned int i = 0; i < L.nworkers; i++) {
		uint64_t busy = CMM_LOAD_SHARED(L.lst[i].busy_cycles), t = CMM_LOAD_SHARED(L.lst[i].total_cycles);
		sb_printf(&b, "qprobe_worker_busy_ratio{lcore=\"%u\"} %.6f\n", L.worker_lcore[i],
			  t ? (double)busy / (double)t : 0.0);
	}
#define QC_(name, help)                                                                       \
	sb_printf(&b, "# HELP qprobe_qmcp_" #name "_total " help "\n# TYPE qprobe_qmcp_" #name    \
		      "_total counter\nqprobe_qmcp_" #name "_total %" PRIu64 "\n",                \
		  (uint64_t)__atomic_load_n(&ctl_cnt.name, __ATOMIC_RELAXED));
	CTL_COUNTERS(QC_)
#undef QC_
	sb_printf(&b, "# HELP qprobe_qmcp_sessions Controller sessions open\n"
		      "# TYPE qprobe_qmcp_sessions gauge\nqprobe_qmcp_sessions %u\n", ctl_sessions());
	struct qp_http_counters hc;
	qp_http_counters(L.http, &hc);
#define HC_(name, help)                                                                       \
	sb_printf(&b, "# HELP qprobe_http_" #name "_total " help "\n# TYPE qprobe_http_" #name    \
		      "_total counter\nqprobe_http_" #name "_total %" PRIu64 "\n", hc.name);
	QP_HTTP_COUNTERS(HC_)
#undef HC_
	sb_printf(&b, "# HELP qprobe_http_connections_open HTTP connections open\n"
		      "# TYPE qprobe_http_connections_open gauge\nqprobe_http_connections_open %" PRIu64 "\n",
		  hc.open);
	struct rte_eth_stats st[RTE_MAX_ETHPORTS];
	int ok[RTE_MAX_ETHPORTS];
	for (uint16_t p = 0; p < L.nports; p++)
		ok[p] = rte_eth_stats_get(L.ports[p], &st[p]) == 0;
#define PM_(f, n, h)                                                                          \
	sb_printf(&b, "# HELP qprobe_port_" #n "_total " h "\n# TYPE qprobe_port_" #n "_total counter\n"); \
	for (uint16_t p = 0; p < L.nports; p++)                                                \
		if (ok[p])                                                                     \
			sb_printf(&b, "qprobe_port_" #n "_total{port=\"%u\"} %" PRIu64 "\n", L.ports[p], \
				  (uint64_t)st[p].f);
	QP_PORT_COUNTERS(PM_)
#undef PM_
	if (L.sw_dist) {
#define DM_(n, h)                                                                                     \
	sb_printf(&b, "# HELP qprobe_distributor_" #n "_total " h "\n# TYPE qprobe_distributor_" #n "_total counter\n" \
		      "qprobe_distributor_" #n "_total{lcore=\"%u\"} %" PRIu64 "\n",                     \
		  L.dist_lcore, CMM_LOAD_SHARED(L.dist.n));
		QP_DIST_COUNTERS(DM_)
#undef DM_
	}
	sb_printf(&b, "# HELP qprobe_lcore_idle 1 while the worker naps (no measurement)\n"
		      "# TYPE qprobe_lcore_idle gauge\n");
	for (unsigned int i = 0; i < L.nworkers; i++)
		sb_printf(&b, "qprobe_lcore_idle{lcore=\"%u\"} %d\n", L.worker_lcore[i],
			  CMM_LOAD_SHARED(L.lst[i].idle));
	sb_printf(&b, "# HELP qprobe_port_info A port, its driver and NIC profile (value 1)\n"
		      "# TYPE qprobe_port_info gauge\n");
	for (uint16_t p = 0; p < L.nports; p++) {
		struct rte_eth_dev_info di;
		char name[RTE_ETH_NAME_MAX_LEN] = "";
		rte_eth_dev_get_name_by_port(L.ports[p], name);
		const char *drv = rte_eth_dev_info_get(L.ports[p], &di) == 0 && di.driver_name
					  ? di.driver_name : "?";
		char e1[200], e2[200];
		sb_printf(&b, "qprobe_port_info{port=\"%u\",name=\"%s\",driver=\"%s\",profile=\"%s\"} 1\n",
			  L.ports[p], lv(name, e1, sizeof(e1)), lv(drv, e2, sizeof(e2)), L.prof[p].file);
	}
	char eid[300];
	sb_printf(&b, "# HELP qprobe_info The probe (value 1)\n# TYPE qprobe_info gauge\n"
		      "qprobe_info{version=\"%s\",probe_id=\"%s\",mode=\"%s\"} 1\n",
		  qp_version(), lv(L.probe_id, eid, sizeof(eid)), mode_name());
	push_metrics(&b);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* ---- management: QMCP INFO ---- */

void views_info_fill(struct qmcp_msg *m, json_t *j, void *arg)
{
	(void)arg;
	json_t *ports = json_array();
	for (uint16_t p = 0; p < L.nports; p++) {
		char name[RTE_ETH_NAME_MAX_LEN] = "";
		struct rte_eth_dev_info di;
		struct rte_eth_link link;
		rte_eth_dev_get_name_by_port(L.ports[p], name);
		const char *drv = rte_eth_dev_info_get(L.ports[p], &di) == 0 && di.driver_name
					  ? di.driver_name : "?";
		memset(&link, 0, sizeof(link));
		rte_eth_link_get_nowait(L.ports[p], &link);
		size_t nest = qmcp_nest_begin(m, QMCP_T_PORT);
		qmcp_put_str(m, QMCP_T_PORT_NAME, name);
		qmcp_put_str(m, QMCP_T_DRIVER, drv);
		qmcp_put_u8(m, QMCP_T_LINK_UP, link.link_status == RTE_ETH_LINK_UP);
		qmcp_put_u32(m, QMCP_T_LINK_SPEED, link.link_speed);
		qmcp_nest_end(m, nest);
		json_array_append_new(ports, json_pack("{s:s,s:s,s:b,s:i}", "name", name, "driver", drv,
						       "link_up", link.link_status == RTE_ETH_LINK_UP,
						       "speed_mbps", (int)link.link_speed));
	}
	qmcp_put_u32(m, QMCP_T_WORKERS, L.nworkers);
	int tls = L.o->tls_cert != NULL, plain = !L.o->tls_only;
	qmcp_put_u32(m, QMCP_T_CAPS,
		     QMCP_CAP_LIVE | QMCP_CAP_PUSH | (views_no_two_point() ? 0 : QMCP_CAP_TWO_POINT) |
			     (tls ? QMCP_CAP_TLS : 0) | (plain ? QMCP_CAP_PLAIN : 0));
	json_t *tr = json_array();
	if (plain)
		json_array_append_new(tr, json_string("qmcp"));
	if (tls)
		json_array_append_new(tr, json_string("qmcp+tls"));
	json_object_set_new(j, "transports", tr);
	json_object_set_new(j, "two_point", json_boolean(!views_no_two_point()));
	json_object_set_new(j, "ports", ports);
	json_object_set_new(j, "workers", json_integer(L.nworkers));
	json_object_set_new(j, "mode", json_string(mode_name()));
	json_object_set_new(j, "idle", json_boolean(CMM_LOAD_SHARED(L.lst[0].idle)));
	json_object_set_new(j, "capabilities", views_no_two_point()
							 ? json_pack("[s,s]", "live", "push")
							 : json_pack("[s,s,s]", "live", "push", "two_point"));
	json_object_set_new(j, "packet_clock", clock_json());
}

/* ---- DPDK telemetry: /qprobe/<section> beside /ethdev/stats ---- */

/* One value of the stats JSON into the dict, under a dotted name. */
static void tel_put(struct rte_tel_data *d, const char *name, json_t *v, int *n)
{
	if (*n >= RTE_TEL_MAX_DICT_ENTRIES - 1)
		return;
	char buf[64];
	if (json_is_object(v) || json_is_array(v)) {
		size_t i;
		const char *k;
		json_t *x;
		char sub[RTE_TEL_MAX_STRING_LEN];
		if (json_is_object(v)) {
			json_object_foreach(v, k, x) {
				snprintf(sub, sizeof(sub), "%s%s%s", name, name[0] ? "_" : "", k);
				tel_put(d, sub, x, n);
			}
		} else {
			json_array_foreach(v, i, x) {
				snprintf(sub, sizeof(sub), "%s%s%zu", name, name[0] ? "_" : "", i);
				tel_put(d, sub, x, n);
			}
		}
		return;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		rte_tel_data_add_dict_u64(d, name, (uint64_t)json_integer_value(v));
	else if (json_is_integer(v))
		rte_tel_data_add_dict_int(d, name, (int)json_integer_value(v));
	else if (json_is_boolean(v))
		rte_tel_data_add_dict_int(d, name, json_is_true(v));
	else if (json_is_real(v)) {
		snprintf(buf, sizeof(buf), "%.12g", json_real_value(v)); /* Hz to the unit */
		rte_tel_data_add_dict_string(d, name, buf);
	} else if (json_is_string(v))
		rte_tel_data_add_dict_string(d, name, json_string_value(v));
	else
		return; /* null: left out */
	(*n)++;
}

/*
 * /qprobe/info, /qprobe/totals, /qprobe/ports, /qprobe/lcores[,I],
 * /qprobe/measurements, /qprobe/qmcp, /qprobe/push: the sections of
 * /api/v1/stats, flattened into one dict ("0_rx_packets": DPDK takes letters, digits and _ in names); a
 * list section with a parameter gives that one item.
 */
static int tel_cb(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const char *sec = strrchr(cmd, '/') + 1;
	json_t *st = stats_json(NULL);
	json_t *v = NULL;
	if (!strcmp(sec, "measurements")) {
		/* the list, or one (its id as parameter) with its counters */
		long id = 0;
		if (params && *params) {
			char *end;
			id = strtol(params, &end, 10);
			if (*end || id <= 0) {
				json_decref(st);
				return -EINVAL;
			}
		}
		json_t *m = measurements_json(NULL, (unsigned int)id);
		v = json_incref(id ? m : json_object_get(m, "measurements"));
		json_decref(m);
		params = NULL;
	} else if (!strcmp(sec, "info")) {
		v = json_object();
		const char *k;
		json_t *x;
		json_object_foreach(st, k, x)
			if (!json_is_object(x) && !json_is_array(x))
				json_object_set(v, k, x);
		json_object_set(v, "qprobe", json_object_get(st, "qprobe"));
	} else {
		v = json_incref(json_object_get(st, sec));
		if (v && json_is_array(v) && params && *params) {
			char *end;
			long i = strtol(params, &end, 10);
			json_t *one = *end || i < 0 ? NULL : json_incref(json_array_get(v, (size_t)i));
			json_decref(v);
			v = one;
			if (!v) {
				json_decref(st);
				return -EINVAL;
			}
		}
	}
	rte_tel_data_start_dict(d);
	int n = 0;
	if (v)
		tel_put(d, json_is_object(v) || json_is_array(v) ? "" : sec, v, &n);
	json_decref(v);
	json_decref(st);
	return 0;
}

void views_tel_register(void)
{
	static const struct {
		const char *cmd, *help;
	} c[] = {
		{"/qprobe/info", "qprobe: version, probe id, mode. No parameters"},
		{"/qprobe/totals", "qprobe: counters summed over workers and measurements. No parameters"},
		{"/qprobe/ports", "qprobe: each port's counters and NIC profile. Parameters: port index (optional)"},
		{"/qprobe/lcores", "qprobe: each worker lcore's counters. Parameters: worker index (optional)"},
		{"/qprobe/measurements", "qprobe: the measurements; with a measurement id as parameter, that one with its counters"},
		{"/qprobe/qmcp", "qprobe: QMCP sessions and counters. No parameters"},
		{"/qprobe/push", "qprobe: results push per destination. No parameters"},
		{"/qprobe/clock", "qprobe: the packet clock: source, state, estimated TSC rate, errors, steps. No parameters"},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		rte_telemetry_register_cmd(c[i].cmd, tel_cb, c[i].help);
}

void views_http_ops(struct qp_http_ops *ops)
{
	*ops = (struct qp_http_ops){stats_json,	       flows_json,   intervals_json,
				    measurements_json, metrics_text, http_thread_init,
				    http_thread_fini,  NULL};
	ops->page = views_dashboard(&ops->page_len);
}
