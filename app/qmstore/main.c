/*
 * qmstore: the results receiver. Probes push each interval of a measurement
 * (QMCP RESULT); qmstore writes it to SQLite (default, a file) or
 * PostgreSQL (--pg) and only acknowledges it once its transaction has
 * committed, so a probe resends what a crash lost. Results from every probe
 * go in batches: one transaction for what came in 50 ms (512 at most), each
 * table's rows in a few multi-row statements, so a fleet of probes costs a
 * handful of round trips and one commit a batch, not a dozen of each a
 * result. Storing is idempotent on (probe, measurement, interval sequence):
 * a resend is stored once.
 *
 *   qmstore [--listen ADDR] [--port PORT] [--secret-file F] [--tls-cert F --tls-key F [--tls-only]]
 *           [--db FILE | --pg CONNINFO]
 *
 * Tables (created when missing): probes, measurements, intervals (one row
 * per direction), rtp_streams (per interval), gaps (intervals a probe had to
 * drop), results (each interval's JSON as received). See README.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "db.h"
#include "qp_pres.h"
#include "qp_ts_dp.h"
#include "qmcp_auth.h"
#include "qmcp_listener.h"
#include "qmcp_tls.h"

#define QMSTORE_PORT 8179

static volatile sig_atomic_t g_stop;

static void on_signal(int s)
{
	(void)s;
	g_stop = 1;
}

static const char *schema[] = {
	"CREATE TABLE IF NOT EXISTS probes (probe_id TEXT PRIMARY KEY, address TEXT, "
	"first_seen_ns BIGINT, last_seen_ns BIGINT)",
	"CREATE TABLE IF NOT EXISTS measurements (probe_id TEXT NOT NULL, meas_id BIGINT NOT NULL, "
	"first_seq BIGINT, first_start_ns BIGINT, PRIMARY KEY (probe_id, meas_id))",
	"CREATE TABLE IF NOT EXISTS results (probe_id TEXT NOT NULL, meas_id BIGINT NOT NULL, "
	"seq BIGINT NOT NULL, start_ns BIGINT, received_ns BIGINT, json TEXT, "
	"PRIMARY KEY (probe_id, meas_id, seq))",
	"CREATE TABLE IF NOT EXISTS intervals (probe_id TEXT NOT NULL, meas_id BIGINT NOT NULL, "
	"seq BIGINT NOT NULL, direction TEXT NOT NULL, start_ns BIGINT, duration_ms DOUBLE PRECISION, "
	"packets BIGINT, bytes BIGINT, bps DOUBLE PRECISION, pps DOUBLE PRECISION, "
	"rtt_samples BIGINT, rtt_min_ms DOUBLE PRECISION, rtt_mean_ms DOUBLE PRECISION, "
	"rtt_p50_ms DOUBLE PRECISION, rtt_p90_ms DOUBLE PRECISION, rtt_p99_ms DOUBLE PRECISION, "
	"rtt_max_ms DOUBLE PRECISION, retransmissions BIGINT, out_of_order BIGINT, dup_acks BIGINT, "
	"zero_window BIGINT, resets BIGINT, rtp_packets BIGINT, rtp_expected BIGINT, rtp_lost BIGINT, "
	"rtp_jitter_mean_ms DOUBLE PRECISION, rtp_jitter_max_ms DOUBLE PRECISION, "
	"PRIMARY KEY (probe_id, meas_id, seq, direction))",
	"CREATE TABLE IF NOT EXISTS rtp_streams (probe_id TEXT NOT NULL, meas_id BIGINT NOT NULL, "
	"seq BIGINT NOT NULL, ssrc BIGINT NOT NULL, direction TEXT NOT NULL, src TEXT, sport INTEGER, "
	"dst TEXT, dport INTEGER, payload_type INTEGER, packets BIGINT, expected BIGINT, lost BIGINT, "
	"jitter_last_ms DOUBLE PRECISION, jitter_mean_ms DOUBLE PRECISION, "
	"jitter_max_ms DOUBLE PRECISION, mos DOUBLE PRECISION, "
	"PRIMARY KEY (probe_id, meas_id, seq, ssrc, direction))",
	"CREATE TABLE IF NOT EXISTS flows (probe_id TEXT NOT NULL, meas_id BIGINT NOT NULL, "
	"seq BIGINT NOT NULL, rank INTEGER NOT NULL, proto TEXT, src TEXT, sport INTEGER, dst TEXT, "
	"dport INTEGER, first_ns BIGINT, last_ns BIGINT, packets_fwd BIGINT, packets_rev BIGINT, "
	"bytes_fwd BIGINT, bytes_rev BIGINT, handshake_rtt_ms DOUBLE PRECISION, "
	"rtt_mean_ms DOUBLE PRECISION, rtt_p99_ms DOUBLE PRECISION, retrans_fwd BIGINT, "
	"retrans_rev BIGINT, json TEXT, PRIMARY KEY (probe_id, meas_id, seq, rank))",
	"CREATE TABLE IF NOT EXISTS dns (probe_id TEXT NOT NULL, meas_id BIGINT NOT NULL, "
	"seq BIGINT NOT NULL, start_ns BIGINT, queries BIGINT, responses BIGINT, answered BIGINT, "
	"unanswered BIGINT, retransmitted BIGINT, unmatched BIGINT, truncated BIGINT, "
	"noerror BIGINT, nxdomain BIGINT, servfail BIGINT, refused BIGINT, rt_samples BIGINT, "
	"rt_min_ms DOUBLE PRECISION, rt_mean_ms DOUBLE PRECISION, rt_p50_ms DOUBLE PRECISION, "
	"rt_p90_ms DOUBLE PRECISION, rt_p99_ms DOUBLE PRECISION, rt_max_ms DOUBLE PRECISION, "
	"rcodes TEXT, PRIMARY KEY (probe_id, meas_id, seq))",
	"CREATE TABLE IF NOT EXISTS quic (probe_id TEXT NOT NULL, meas_id BIGINT NOT NULL, "
	"seq BIGINT NOT NULL, start_ns BIGINT, handshakes BIGINT, handshake_p50_ms DOUBLE PRECISION, handshake_p99_ms DOUBLE PRECISION, "
	"rtt_samples BIGINT, rtt_p50_ms DOUBLE PRECISION, rtt_p99_ms DOUBLE PRECISION, "
	"rtt_rev_samples BIGINT, rtt_rev_p50_ms DOUBLE PRECISION, rtt_rev_p99_ms DOUBLE PRECISION, "
	"spin_edges_kept BIGINT, spin_edges_discarded BIGINT, PRIMARY KEY (probe_id, meas_id, seq))",
	"CREATE TABLE IF NOT EXISTS tls (probe_id TEXT NOT NULL, meas_id BIGINT NOT NULL, "
	"seq BIGINT NOT NULL, start_ns BIGINT, handshakes BIGINT, hello_p50_ms DOUBLE PRECISION, "
	"hello_p99_ms DOUBLE PRECISION, client_data BIGINT, data_p50_ms DOUBLE PRECISION, "
	"data_p99_ms DOUBLE PRECISION, tls13 BIGINT, tls12 BIGINT, versions TEXT, "
	"PRIMARY KEY (probe_id, meas_id, seq))",
#define QP_TS_COL_(n, h) #n " BIGINT, "
	"CREATE TABLE IF NOT EXISTS mpegts (probe_id TEXT NOT NULL, meas_id BIGINT NOT NULL, "
	"seq BIGINT NOT NULL, start_ns BIGINT, " QP_TS_COUNTS(QP_TS_COL_)
	"PRIMARY KEY (probe_id, meas_id, seq))",
#undef QP_TS_COL_
	"CREATE TABLE IF NOT EXISTS packets (probe_id TEXT NOT NULL, meas_id BIGINT NOT NULL, "
	"seq BIGINT NOT NULL, idx BIGINT NOT NULL, ts_ns BIGINT, src TEXT, sport INTEGER, dst TEXT, "
	"dport INTEGER, proto TEXT, dir TEXT, wire_len INTEGER, tcp_rtt_ms DOUBLE PRECISION, "
	"tcp_rtt_dir TEXT, tcp_retrans INTEGER, tcp_ooo INTEGER, tcp_dup_ack INTEGER, rtp_ssrc BIGINT, "
	"rtp_seq INTEGER, rtp_received BIGINT, rtp_expected BIGINT, rtp_jitter_ms DOUBLE PRECISION, "
	"tp_sig TEXT, PRIMARY KEY (probe_id, meas_id, seq, idx))",
	"CREATE TABLE IF NOT EXISTS gaps (probe_id TEXT NOT NULL, meas_id BIGINT NOT NULL, "
	"from_seq BIGINT NOT NULL, count BIGINT, noticed_ns BIGINT, "
	"PRIMARY KEY (probe_id, meas_id, from_seq))",
};

/* Multi-row statements: the head up to VALUES, a row's columns, the tail. */
struct table {
	const char *head, *tail;
	int ncols;
};

static const struct table T_PROBE = {
	"INSERT INTO probes (probe_id, address, first_seen_ns, last_seen_ns) VALUES ",
	" ON CONFLICT (probe_id) DO UPDATE SET address = excluded.address, "
	"last_seen_ns = excluded.last_seen_ns", 4};
static const struct table T_MEAS = {
	"INSERT INTO measurements (probe_id, meas_id, first_seq, first_start_ns) VALUES ",
	" ON CONFLICT (probe_id, meas_id) DO NOTHING", 4};
static const struct table T_RESULT = {
	"INSERT INTO results (probe_id, meas_id, seq, start_ns, received_ns, json) VALUES ",
	" ON CONFLICT (probe_id, meas_id, seq) DO NOTHING RETURNING probe_id, meas_id, seq", 6};
static const struct table T_IV = {
	"INSERT INTO intervals (probe_id, meas_id, seq, direction, start_ns, duration_ms, packets, "
	"bytes, bps, pps, rtt_samples, rtt_min_ms, rtt_mean_ms, rtt_p50_ms, rtt_p90_ms, rtt_p99_ms, "
	"rtt_max_ms, retransmissions, out_of_order, dup_acks, zero_window, resets, rtp_packets, "
	"rtp_expected, rtp_lost, rtp_jitter_mean_ms, rtp_jitter_max_ms) VALUES ",
	" ON CONFLICT (probe_id, meas_id, seq, direction) DO NOTHING", 27};
static const struct table T_RTP = {
	"INSERT INTO rtp_streams (probe_id, meas_id, seq, ssrc, direction, src, sport, dst, dport, "
	"payload_type, packets, expected, lost, jitter_last_ms, jitter_mean_ms, jitter_max_ms, mos) "
	"VALUES ",
	" ON CONFLICT (probe_id, meas_id, seq, ssrc, direction) DO NOTHING", 17};
static const struct table T_FLOW = {
	"INSERT INTO flows (probe_id, meas_id, seq, rank, proto, src, sport, dst, dport, first_ns, "
	"last_ns, packets_fwd, packets_rev, bytes_fwd, bytes_rev, handshake_rtt_ms, rtt_mean_ms, "
	"rtt_p99_ms, retrans_fwd, retrans_rev, json) VALUES ",
	" ON CONFLICT (probe_id, meas_id, seq, rank) DO NOTHING", 21};
static const struct table T_DNS = {
	"INSERT INTO dns (probe_id, meas_id, seq, start_ns, queries, responses, answered, unanswered, "
	"retransmitted, unmatched, truncated, noerror, nxdomain, servfail, refused, rt_samples, "
	"rt_min_ms, rt_mean_ms, rt_p50_ms, rt_p90_ms, rt_p99_ms, rt_max_ms, rcodes) VALUES ",
	" ON CONFLICT (probe_id, meas_id, seq) DO NOTHING", 23};
static const struct table T_QUIC = {
	"INSERT INTO quic (probe_id, meas_id, seq, start_ns, handshakes, "
	"handshake_p50_ms, handshake_p99_ms, rtt_samples, rtt_p50_ms, rtt_p99_ms, rtt_rev_samples, "
	"rtt_rev_p50_ms, rtt_rev_p99_ms, spin_edges_kept, spin_edges_discarded) VALUES ",
	" ON CONFLICT (probe_id, meas_id, seq) DO NOTHING", 15};
static const struct table T_TLS = {
	"INSERT INTO tls (probe_id, meas_id, seq, start_ns, handshakes, hello_p50_ms, hello_p99_ms, "
	"client_data, data_p50_ms, data_p99_ms, tls13, tls12, versions) VALUES ",
	" ON CONFLICT (probe_id, meas_id, seq) DO NOTHING", 13};
/* the MPEG-TS table's columns: the probe's counts by their JSON names */
#define QP_TS_NAME_(n, h) ", " #n
#define QP_TS_ONE_(n, h) +1
static const struct table T_TS = {
	"INSERT INTO mpegts (probe_id, meas_id, seq, start_ns" QP_TS_COUNTS(QP_TS_NAME_) ") VALUES ",
	" ON CONFLICT (probe_id, meas_id, seq) DO NOTHING", 4 QP_TS_COUNTS(QP_TS_ONE_)};
#undef QP_TS_NAME_
/* packet results: an interval's rows, its packet_results CSV columns (qp_pres.h) after the key */
static const struct table T_PKT = {
	"INSERT INTO packets (probe_id, meas_id, seq, idx, " QP_PRES_COLUMNS ") VALUES ",
	" ON CONFLICT (probe_id, meas_id, seq, idx) DO NOTHING", 23};
static const struct table T_GAP = {
	"INSERT INTO gaps (probe_id, meas_id, from_seq, count, noticed_ns) VALUES ",
	" ON CONFLICT (probe_id, meas_id, from_seq) DO NOTHING", 5};

/* Rows of one table waiting for a statement: their values as text (NULL: SQL NULL). */
struct rows {
	const struct table *t;
	char **v; /* nrows x t->ncols */
	size_t nrows, cap;
};

static int rows_add(struct rows *r, const char *const *vals)
{
	if (r->nrows == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		char **n = realloc(r->v, cap * (size_t)r->t->ncols * sizeof(*n));
		if (!n)
			return -ENOMEM;
		r->v = n;
		r->cap = cap;
	}
	char **row = &r->v[r->nrows * (size_t)r->t->ncols];
	for (int c = 0; c < r->t->ncols; c++)
		row[c] = vals[c] ? strdup(vals[c]) : NULL;
	r->nrows++;
	return 0;
}

static void rows_clear(struct rows *r)
{
	for (size_t i = 0; i < r->nrows * (size_t)r->t->ncols; i++)
		free(r->v[i]);
	r->nrows = 0;
}

/*
 * The rows in as few statements as the engines' parameter limits allow
 * (PostgreSQL 65,535 a statement, SQLite 32,766): a batch of results is a
 * handful of round trips, not one per row.
 */
static int rows_exec(struct db *db, struct rows *r, db_row_fn *fn, void *arg, char *err,
		     size_t errlen)
{
	int nc = r->t->ncols;
	size_t per = 30000 / (size_t)nc;
	for (size_t from = 0; from < r->nrows; from += per) {
		size_t n = r->nrows - from < per ? r->nrows - from : per;
		size_t cap = strlen(r->t->head) + strlen(r->t->tail) + n * (size_t)nc * 8 + 16;
		char *sql = malloc(cap);
		if (!sql) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		size_t o = (size_t)snprintf(sql, cap, "%s", r->t->head);
		for (size_t i = 0; i < n; i++) {
			sql[o++] = i ? ',' : '(';
			if (i)
				sql[o++] = '(';
			for (int c = 0; c < nc; c++)
				o += (size_t)snprintf(sql + o, cap - o, "%s$%zu", c ? "," : "",
						      i * (size_t)nc + (size_t)c + 1);
			sql[o++] = ')';
		}
		snprintf(sql + o, cap - o, "%s", r->t->tail);
		long rc = db_exec_rows(db, sql, (int)(n * (size_t)nc),
				       (const char *const *)&r->v[from * (size_t)nc], fn, arg, err, errlen);
		free(sql);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/*
 * Rows that cannot exist yet (a result stored now for the first time):
 * PostgreSQL takes them by COPY, the fastest way in, with nothing to parse
 * or plan; SQLite as rows_exec() does.
 */
static int rows_copy(struct db *db, struct rows *r, char *err, size_t errlen)
{
	if (!db_is_pg(db) || !r->nrows)
		return rows_exec(db, r, NULL, NULL, err, errlen);
	/* "INSERT INTO t (cols) VALUES " -> "t (cols)" */
	char target[1024];
	const char *h = r->t->head + strlen("INSERT INTO ");
	size_t n = strlen(h) - strlen(" VALUES ");
	snprintf(target, sizeof(target), "%.*s", (int)n, h);
	return db_copy(db, target, r->t->ncols, r->nrows, r->v, err, errlen) < 0 ? -1 : 0;
}

/* A result waiting for its batch's commit. */
struct item {
	struct qmcp_ack ack;
	char *probe, *peer, *json, *flows;
	json_t *doc; /* json, parsed once (when it came) */
	uint32_t meas_id;
	uint64_t seq, start_ns, received_ns;
	int has_gap;
	uint64_t gap_from, gap_count;
	int fresh; /* not stored before (RETURNING said so) */
};

#define BATCH_MAX 512             /* results a transaction at most */
#define BATCH_NS 50000000ULL      /* a result waits at most this long for its commit */

struct store {
	struct db *db;
	struct qmcp_listener *l;
	int quiet;
	uint64_t stored, duplicates, batches;
	struct item b[BATCH_MAX];
	int n;
	int from, to; /* the items the transaction being written holds */
	uint64_t first_ns; /* when the oldest waiting result came */
	struct rows probe, meas, result, iv, rtp, flow, dns, quic, tls, ts, pkt, gap;
};

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* Text of a JSON number or integer (NULL for null/absent); buffers come from a pool. */
struct txt {
	char b[40][40];
	int n;
};

static const char *num(struct txt *t, json_t *v)
{
	if (!v || json_is_null(v) || t->n >= 40)
		return NULL;
	char *b = t->b[t->n++];
	if (json_is_integer(v))
		snprintf(b, 40, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(b, 40, "%.9g", json_real_value(v));
	else
		return NULL;
	return b;
}

static const char *u64s(struct txt *t, uint64_t v)
{
	char *b = t->b[t->n++];
	snprintf(b, 40, "%" PRIu64, v);
	return b;
}

/* A fresh result's rows: intervals (both directions), RTP streams, top flows, gap. */
static int child_rows(struct store *s, const struct item *it, json_t *j)
{
	struct txt t = {0};
	const char *probe = it->probe, *meas = u64s(&t, it->meas_id), *seq = u64s(&t, it->seq);
	const char *start = u64s(&t, it->start_ns);
	int e = 0;
	for (int d = 0; d < 2 && !e; d++) {
		const char *dn = d ? "rev" : "fwd";
		json_t *tcp = json_object_get(j, "tcp"), *rtp = json_object_get(json_object_get(j, "rtp"), dn);
		json_t *rtt = json_object_get(tcp, d ? "rtt_rev_ms" : "rtt_ms");
		json_t *jit = json_object_get(rtp, "jitter_ms");
		struct txt v = {0};
		const char *pi[27] = {
			probe, meas, seq, dn, start, num(&v, json_object_get(j, "duration_ms")),
			num(&v, json_object_get(json_object_get(j, "packets"), dn)),
			num(&v, json_object_get(json_object_get(j, "bytes"), dn)),
			num(&v, json_object_get(json_object_get(j, "bps"), dn)),
			num(&v, json_object_get(json_object_get(j, "pps"), dn)),
			num(&v, json_object_get(rtt, "samples")), num(&v, json_object_get(rtt, "min")),
			num(&v, json_object_get(rtt, "mean")), num(&v, json_object_get(rtt, "p50")),
			num(&v, json_object_get(rtt, "p90")), num(&v, json_object_get(rtt, "p99")),
			num(&v, json_object_get(rtt, "max")),
			num(&v, json_object_get(json_object_get(tcp, "retransmissions"), dn)),
			num(&v, json_object_get(json_object_get(tcp, "out_of_order"), dn)),
			num(&v, json_object_get(json_object_get(tcp, "dup_acks"), dn)),
			num(&v, json_object_get(json_object_get(tcp, "zero_window"), dn)),
			num(&v, json_object_get(json_object_get(tcp, "resets"), dn)),
			num(&v, json_object_get(rtp, "packets")), num(&v, json_object_get(rtp, "expected")),
			num(&v, json_object_get(rtp, "lost")), num(&v, json_object_get(jit, "mean")),
			num(&v, json_object_get(jit, "max"))};
		e = rows_add(&s->iv, pi);
	}
	size_t i;
	json_t *st;
	json_array_foreach(json_object_get(json_object_get(j, "rtp"), "streams"), i, st) {
		struct txt v = {0};
		json_t *jit = json_object_get(st, "jitter_ms");
		const char *ps[17] = {probe, meas, seq, num(&v, json_object_get(st, "ssrc")),
				      json_string_value(json_object_get(st, "direction")),
				      json_string_value(json_object_get(st, "src")),
				      num(&v, json_object_get(st, "sport")),
				      json_string_value(json_object_get(st, "dst")),
				      num(&v, json_object_get(st, "dport")),
				      num(&v, json_object_get(st, "payload_type")),
				      num(&v, json_object_get(st, "packets")),
				      num(&v, json_object_get(st, "expected")),
				      num(&v, json_object_get(st, "lost")),
				      num(&v, json_object_get(jit, "last")),
				      num(&v, json_object_get(jit, "mean")),
				      num(&v, json_object_get(jit, "max")),
				      num(&v, json_object_get(st, "mos"))};
		e |= rows_add(&s->rtp, ps);
	}
	json_t *dns = json_object_get(j, "dns");
	if (json_integer_value(json_object_get(dns, "queries")) ||
	    json_integer_value(json_object_get(dns, "responses")) ||
	    json_integer_value(json_object_get(dns, "unanswered"))) {
		/* an interval with DNS: its figures, the codes beyond the four
		 * columns in the JSON of all of them */
		struct txt v = {0};
		json_t *rt = json_object_get(dns, "response_time_ms"), *rc = json_object_get(dns, "rcodes");
		json_t *zero = json_integer(0);
#define RC_(n) num(&v, json_object_get(rc, n) ? json_object_get(rc, n) : zero)
		char *rcs = json_dumps(rc ? rc : zero, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		const char *samples = json_is_object(rt) ? num(&v, json_object_get(rt, "samples")) : "0";
		const char *pd[23] = {probe, meas, seq, start,
				      num(&v, json_object_get(dns, "queries")),
				      num(&v, json_object_get(dns, "responses")),
				      num(&v, json_object_get(dns, "answered")),
				      num(&v, json_object_get(dns, "unanswered")),
				      num(&v, json_object_get(dns, "retransmitted")),
				      num(&v, json_object_get(dns, "unmatched")),
				      num(&v, json_object_get(dns, "truncated")),
				      RC_("NOERROR"), RC_("NXDOMAIN"), RC_("SERVFAIL"), RC_("REFUSED"),
				      samples,
				      num(&v, json_object_get(rt, "min")), num(&v, json_object_get(rt, "mean")),
				      num(&v, json_object_get(rt, "p50")), num(&v, json_object_get(rt, "p90")),
				      num(&v, json_object_get(rt, "p99")), num(&v, json_object_get(rt, "max")),
				      rcs};
#undef RC_
		e |= rows_add(&s->dns, pd);
		free(rcs);
		json_decref(zero);
	}
	json_t *qu = json_object_get(j, "quic");
	if (json_integer_value(json_object_get(qu, "handshakes")) ||
	    json_integer_value(json_object_get(qu, "spin_edges_kept")) ||
	    json_integer_value(json_object_get(qu, "spin_edges_discarded"))) {
		struct txt v = {0};
		json_t *hs = json_object_get(qu, "handshake_ms"), *r0 = json_object_get(qu, "rtt_ms"),
		       *r1 = json_object_get(qu, "rtt_rev_ms");
		const char *n0 = json_is_object(r0) ? num(&v, json_object_get(r0, "samples")) : "0";
		const char *n1 = json_is_object(r1) ? num(&v, json_object_get(r1, "samples")) : "0";
		const char *pq[15] = {probe, meas, seq, start,
				      num(&v, json_object_get(qu, "handshakes")),
				      num(&v, json_object_get(hs, "p50")), num(&v, json_object_get(hs, "p99")),
				      n0, num(&v, json_object_get(r0, "p50")), num(&v, json_object_get(r0, "p99")),
				      n1, num(&v, json_object_get(r1, "p50")), num(&v, json_object_get(r1, "p99")),
				      num(&v, json_object_get(qu, "spin_edges_kept")),
				      num(&v, json_object_get(qu, "spin_edges_discarded"))};
		e |= rows_add(&s->quic, pq);
	}
	json_t *tl = json_object_get(j, "tls");
	if (json_integer_value(json_object_get(tl, "handshakes")) ||
	    json_integer_value(json_object_get(tl, "client_data"))) {
		struct txt v = {0};
		json_t *h = json_object_get(tl, "client_hello_to_server_hello_ms"),
		       *dd = json_object_get(tl, "server_hello_to_client_data_ms"),
		       *vs = json_object_get(tl, "versions"), *zero = json_integer(0);
		char *vtxt = json_dumps(vs ? vs : zero, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		json_t *v13 = json_object_get(vs, "TLS 1.3"), *v12 = json_object_get(vs, "TLS 1.2");
		const char *pt[13] = {probe, meas, seq, start,
				      num(&v, json_object_get(tl, "handshakes")),
				      num(&v, json_object_get(h, "p50")), num(&v, json_object_get(h, "p99")),
				      num(&v, json_object_get(tl, "client_data")),
				      num(&v, json_object_get(dd, "p50")), num(&v, json_object_get(dd, "p99")),
				      num(&v, v13 ? v13 : zero), num(&v, v12 ? v12 : zero), vtxt};
		e |= rows_add(&s->tls, pt);
		free(vtxt);
		json_decref(zero);
	}
	json_t *mt = json_object_get(j, "mpegts");
	if (json_integer_value(json_object_get(mt, "packets"))) {
		struct txt v = {0};
		const char *pm[4 QP_TS_COUNTS(QP_TS_ONE_)] = {probe, meas, seq, start
#define QP_TS_V_(n, h) , num(&v, json_object_get(mt, #n))
							      QP_TS_COUNTS(QP_TS_V_)
#undef QP_TS_V_
		};
		e |= rows_add(&s->ts, pm);
	}
	json_t *fl = it->flows ? json_loads(it->flows, 0, NULL) : NULL;
	json_array_foreach(fl, i, st) {
		struct txt v = {0};
		json_t *tcp = json_object_get(st, "tcp"), *rtt = json_object_get(tcp, "rtt_ms");
		json_t *pr = json_object_get(st, "proto");
		char *one = json_dumps(st, JSON_COMPACT | JSON_REAL_PRECISION(10));
		const char *pf[21] = {probe, meas, seq, u64s(&v, i),
				      json_is_string(pr) ? json_string_value(pr) : num(&v, pr),
				      json_string_value(json_object_get(st, "src")),
				      num(&v, json_object_get(st, "sport")),
				      json_string_value(json_object_get(st, "dst")),
				      num(&v, json_object_get(st, "dport")),
				      num(&v, json_object_get(st, "first_ns")),
				      num(&v, json_object_get(st, "last_ns")),
				      num(&v, json_object_get(json_object_get(st, "packets"), "fwd")),
				      num(&v, json_object_get(json_object_get(st, "packets"), "rev")),
				      num(&v, json_object_get(json_object_get(st, "bytes"), "fwd")),
				      num(&v, json_object_get(json_object_get(st, "bytes"), "rev")),
				      num(&v, json_object_get(tcp, "handshake_rtt_ms")),
				      num(&v, json_object_get(rtt, "mean")),
				      num(&v, json_object_get(rtt, "p99")),
				      num(&v, json_object_get(json_object_get(tcp, "retransmissions"), "fwd")),
				      num(&v, json_object_get(json_object_get(tcp, "retransmissions"), "rev")),
				      one};
		e |= rows_add(&s->flow, pf);
		free(one);
	}
	json_decref(fl);
	/* packet results: each row's 19 columns, an empty one NULL */
	json_t *prow;
	json_array_foreach(json_object_get(json_object_get(j, "packet_results"), "rows"), i, prow) {
		const char *line = json_string_value(prow);
		char buf[512];
		if (!line || strlen(line) >= sizeof(buf))
			continue;
		memcpy(buf, line, strlen(line) + 1);
		struct txt v = {0};
		const char *pv[23] = {probe, meas, seq, u64s(&v, i)};
		int k = 4;
		for (char *c = buf; k < 23; k++) {
			char *comma = strchr(c, ',');
			if (comma)
				*comma = 0;
			pv[k] = *c ? c : NULL;
			if (!comma) {
				k++;
				break;
			}
			c = comma + 1;
		}
		if (k == 23)
			e |= rows_add(&s->pkt, pv);
	}
	if (it->has_gap) {
		const char *pg[] = {probe, meas, u64s(&t, it->gap_from), u64s(&t, it->gap_count),
				    u64s(&t, it->received_ns)};
		e |= rows_add(&s->gap, pg);
	}
	return e;
}

/* RETURNING of the results insert: mark the items stored now for the first time. */
static void fresh_row(const char *const *cols, int nc, void *arg)
{
	struct store *s = arg;
	if (nc < 3 || !cols[0] || !cols[1] || !cols[2])
		return;
	unsigned long long m = strtoull(cols[1], NULL, 10), q = strtoull(cols[2], NULL, 10);
	for (int i = s->from; i < s->to; i++)
		if (!s->b[i].fresh && s->b[i].meas_id == m && s->b[i].seq == q &&
		    !strcmp(s->b[i].probe, cols[0])) {
			s->b[i].fresh = 1;
			return;
		}
}

static void all_clear(struct store *s)
{
	rows_clear(&s->probe);
	rows_clear(&s->meas);
	rows_clear(&s->result);
	rows_clear(&s->iv);
	rows_clear(&s->rtp);
	rows_clear(&s->flow);
	rows_clear(&s->dns);
	rows_clear(&s->quic);
	rows_clear(&s->tls);
	rows_clear(&s->ts);
	rows_clear(&s->pkt);
	rows_clear(&s->gap);
}

/*
 * Items b[from..to) in one transaction: probes and measurements first, the
 * results (RETURNING the ones new to the store), then the new ones' rows.
 * @return 0 committed, -1 rolled back (err says why)
 */
static int put(struct store *s, int from, int to, char *err, size_t errlen)
{
	int e = 0;
	all_clear(s);
	for (int i = from; i < to && !e; i++) {
		struct item *it = &s->b[i];
		struct txt t = {0};
		const char *meas = u64s(&t, it->meas_id), *seq = u64s(&t, it->seq);
		const char *start = u64s(&t, it->start_ns), *now = u64s(&t, it->received_ns);
		it->fresh = 0;
		/* one row a probe and a measurement: a statement may not touch a row twice */
		int seen_p = 0, seen_m = 0;
		for (int k = from; k < i; k++) {
			seen_p |= !strcmp(s->b[k].probe, it->probe);
			seen_m |= !strcmp(s->b[k].probe, it->probe) && s->b[k].meas_id == it->meas_id;
		}
		const char *pp[] = {it->probe, it->peer, now, now};
		const char *pm[] = {it->probe, meas, seq, start};
		const char *pr[] = {it->probe, meas, seq, start, now, it->json};
		if (!seen_p)
			e |= rows_add(&s->probe, pp);
		else /* the latest address and time */
			for (size_t r = 0; r < s->probe.nrows; r++)
				if (!strcmp(s->probe.v[r * 4], it->probe)) {
					free(s->probe.v[r * 4 + 1]);
					free(s->probe.v[r * 4 + 3]);
					s->probe.v[r * 4 + 1] = strdup(it->peer);
					s->probe.v[r * 4 + 3] = strdup(now);
				}
		if (!seen_m)
			e |= rows_add(&s->meas, pm);
		e |= rows_add(&s->result, pr);
	}
	if (e) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (db_exec(s->db, "BEGIN", 0, NULL, err, errlen) < 0)
		return -1;
	s->from = from;
	s->to = to;
	if (rows_exec(s->db, &s->probe, NULL, NULL, err, errlen) ||
	    rows_exec(s->db, &s->meas, NULL, NULL, err, errlen) ||
	    rows_exec(s->db, &s->result, fresh_row, s, err, errlen))
		goto rollback;
	for (int i = from; i < to && !e; i++) {
		if (!s->b[i].fresh)
			continue;
		e = child_rows(s, &s->b[i], s->b[i].doc);
	}
	if (e) {
		snprintf(err, errlen, "out of memory");
		goto rollback;
	}
	/* a fresh result's intervals and flows are new rows; RTP streams (two
	 * flows may share an SSRC) and gaps may repeat */
	if (rows_copy(s->db, &s->iv, err, errlen) ||
	    rows_exec(s->db, &s->rtp, NULL, NULL, err, errlen) ||
	    rows_copy(s->db, &s->flow, err, errlen) ||
	    rows_copy(s->db, &s->pkt, err, errlen) ||
	    rows_exec(s->db, &s->dns, NULL, NULL, err, errlen) ||
	    rows_exec(s->db, &s->quic, NULL, NULL, err, errlen) ||
	    rows_exec(s->db, &s->tls, NULL, NULL, err, errlen) ||
	    rows_exec(s->db, &s->ts, NULL, NULL, err, errlen) ||
	    rows_exec(s->db, &s->gap, NULL, NULL, err, errlen) ||
	    db_exec(s->db, "COMMIT", 0, NULL, err, errlen) < 0)
		goto rollback;
	all_clear(s);
	return 0;
rollback:
	{
		char e2[200];
		db_exec(s->db, "ROLLBACK", 0, NULL, e2, sizeof(e2));
	}
	all_clear(s);
	return -1;
}

/* Acknowledge item i (err 0: stored) and let it go. */
static void finish(struct store *s, struct item *it, int err, const char *why)
{
	if (!err && it->fresh) {
		s->stored++;
		if (!s->quiet)
			printf("stored %s measurement %u seq %" PRIu64 "\n", it->probe, it->meas_id,
			       it->seq);
		if (it->has_gap)
			fprintf(stderr, "qmstore: %s measurement %u: %" PRIu64
					" intervals from seq %" PRIu64 " were dropped by the probe's backlog\n",
				it->probe, it->meas_id, it->gap_count, it->gap_from);
	} else if (!err) {
		s->duplicates++;
	} else {
		fprintf(stderr, "qmstore: cannot store %s measurement %u seq %" PRIu64 ": %s\n",
			it->probe, it->meas_id, it->seq, why);
	}
	qmcp_listener_done(s->l, &it->ack, err);
	free(it->probe);
	free(it->peer);
	free(it->json);
	free(it->flows);
	json_decref(it->doc);
}

/*
 * Commit the waiting results in one transaction and acknowledge them. When
 * the transaction fails, each result is tried in one of its own, so one
 * that cannot be stored does not keep the others out.
 */
static void commit(struct store *s)
{
	if (!s->n)
		return;
	char err[512];
	s->batches++;
	if (put(s, 0, s->n, err, sizeof(err)) == 0) {
		for (int i = 0; i < s->n; i++)
			finish(s, &s->b[i], 0, NULL);
	} else {
		for (int i = 0; i < s->n; i++) {
			int e = put(s, i, i + 1, err, sizeof(err)) == 0 ? 0 : -EIO;
			finish(s, &s->b[i], e, err);
		}
	}
	fflush(stdout);
	s->n = 0;
}

/* The listener's callback: the result waits for its batch (QMCP_RESULT_LATER). */
static int store(const struct qmcp_result *r, void *arg)
{
	struct store *s = arg;
	json_t *j = json_loadb(r->json, r->json_len, 0, NULL);
	if (!j) {
		fprintf(stderr, "qmstore: %s measurement %u seq %" PRIu64 ": the result is not JSON; "
				"refused\n", r->probe_id, r->meas_id, r->seq);
		return -EINVAL;
	}
	if (s->n == BATCH_MAX)
		commit(s);
	struct item *it = &s->b[s->n];
	memset(it, 0, sizeof(*it));
	it->doc = j;
	it->ack = r->ack;
	it->probe = strdup(r->probe_id);
	it->peer = strdup(r->peer);
	it->json = strdup(r->json);
	it->flows = r->flows_json ? strdup(r->flows_json) : NULL;
	if (!it->probe || !it->peer || !it->json || (r->flows_json && !it->flows)) {
		free(it->probe);
		free(it->peer);
		free(it->json);
		free(it->flows);
		json_decref(j);
		return -ENOMEM;
	}
	it->meas_id = r->meas_id;
	it->seq = r->seq;
	it->start_ns = r->start_ns;
	it->received_ns = now_ns();
	it->has_gap = r->has_gap;
	it->gap_from = r->gap_from;
	it->gap_count = r->gap_count;
	if (!s->n)
		s->first_ns = it->received_ns;
	s->n++;
	return QMCP_RESULT_LATER;
}

static void usage(FILE *out)
{
	fprintf(out,
		"qmstore - keeps the results qprobe probes push\n"
		"\n"
		"usage: qmstore [options]\n"
		"  --listen ADDR         bind address (default ::, IPv4 too)\n"
		"  --port PORT           TCP port (default %d)\n"
		"  --secret-file PATH    shared secret the probes must prove (mode 0600)\n"
		"  --tls-cert FILE       QMCP over TLS too (probes push to tls://HOST:PORT):\n"
		"  --tls-key FILE        this receiver's certificate and key (PEM)\n"
		"  --tls-only            refuse plain QMCP\n"
		"  --db FILE             SQLite file (default qmstore.sqlite)\n"
		"  --pg CONNINFO         PostgreSQL instead, e.g. 'host=db1 dbname=qos user=qmstore'\n"
		"  --quiet               no line per stored result\n"
		"\n"
		"Exit codes: 0 stopped by a signal, 1 usage, 2 database, 3 cannot listen.\n",
		QMSTORE_PORT);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"listen", required_argument, NULL, 'l'}, {"port", required_argument, NULL, 'p'},
		{"secret-file", required_argument, NULL, 's'}, {"db", required_argument, NULL, 'd'},
		{"pg", required_argument, NULL, 'g'},     {"quiet", no_argument, NULL, 'q'},
		{"tls-cert", required_argument, NULL, 'c'}, {"tls-key", required_argument, NULL, 'k'},
		{"tls-only", no_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	const char *addr = "::", *secret_file = NULL, *path = "qmstore.sqlite", *pg = NULL;
	const char *cert = NULL, *key = NULL;
	int tls_only = 0;
	int port = QMSTORE_PORT, c;
	static struct store st = {.probe = {&T_PROBE}, .meas = {&T_MEAS}, .result = {&T_RESULT},
				  .iv = {&T_IV}, .rtp = {&T_RTP}, .flow = {&T_FLOW}, .dns = {&T_DNS}, .quic = {&T_QUIC}, .tls = {&T_TLS}, .ts = {&T_TS}, .pkt = {&T_PKT},
				  .gap = {&T_GAP}};
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		switch (c) {
		case 'l': addr = optarg; break;
		case 'p': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 65535) {
				fprintf(stderr, "qmstore: --port '%s': 1 to 65535 is expected\n", optarg);
				return 1;
			}
			port = (int)v;
			break;
		}
		case 's': secret_file = optarg; break;
		case 'd': path = optarg; break;
		case 'g': pg = optarg; break;
		case 'q': st.quiet = 1; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'o': tls_only = 1; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "qmstore: unknown or incomplete option '%s' (see --help)\n",
				argv[optind - 1]);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "qmstore: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 1;
	}
	char err[600];
	uint8_t secret[QMCP_SECRET_MAX];
	size_t slen = 0;
	if (secret_file && qmcp_secret_load(secret_file, secret, sizeof(secret), &slen, err, sizeof(err))) {
		fprintf(stderr, "qmstore: --secret-file: %s\n", err);
		return 1;
	}
	if (!cert != !key || (tls_only && !cert)) {
		fprintf(stderr, "qmstore: %s\n", tls_only && !cert ? "--tls-only needs --tls-cert and --tls-key"
							       : "--tls-cert and --tls-key go together");
		return 1;
	}
	struct qmcp_tls *tls = cert ? qmcp_tls_server(cert, key, err, sizeof(err)) : NULL;
	if (cert && !tls) {
		fprintf(stderr, "qmstore: --tls-cert: %s\n", err);
		return 1;
	}
	st.db = pg ? db_open_pg(pg, err, sizeof(err)) : db_open_sqlite(path, err, sizeof(err));
	if (!st.db) {
		fprintf(stderr, "qmstore: %s\n", err);
		return 2;
	}
	for (size_t i = 0; i < sizeof(schema) / sizeof(schema[0]); i++)
		if (db_exec(st.db, schema[i], 0, NULL, err, sizeof(err)) < 0) {
			fprintf(stderr, "qmstore: cannot create the tables: %s\n", err);
			db_close(st.db);
			return 2;
		}
	struct qmcp_listener *l = qmcp_listener_create(addr, port, secret_file ? secret : NULL, slen,
						       store, &st, err, sizeof(err));
	if (!l) {
		fprintf(stderr, "qmstore: %s\n", err);
		db_close(st.db);
		return 3;
	}
	qmcp_listener_set_tls(l, tls, tls_only);
	st.l = l;
	fprintf(stderr, "qmstore: listening on %s port %d%s, storing in %s%s\n", addr, port,
		!tls ? "" : tls_only ? " (TLS only)" : " (plain or TLS)", pg ? "PostgreSQL " : "",
		pg ? "" : path);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	while (!g_stop) {
		/* results wait at most BATCH_NS for their commit (and its acknowledgement) */
		qmcp_listener_run(l, st.n ? 5 : 200);
		if (st.n && (st.n == BATCH_MAX || now_ns() - st.first_ns >= BATCH_NS))
			commit(&st);
	}
	commit(&st);
	struct qmcp_listener_stats ls;
	qmcp_listener_stats(l, &ls);
	fprintf(stderr, "qmstore: %" PRIu64 " results stored, %" PRIu64 " resends already stored, %"
			PRIu64 " connections, %" PRIu64 " transactions, %" PRIu64 " bad frames, %" PRIu64
			" refused\n", st.stored, st.duplicates, ls.connections, st.batches,
		ls.bad_frames + ls.auth_failures + ls.refused_transport, ls.refused);
	qmcp_listener_destroy(l);
	all_clear(&st);
	struct rows *all[] = {&st.probe, &st.meas, &st.result, &st.iv, &st.rtp, &st.flow, &st.dns,
			      &st.quic, &st.tls, &st.ts, &st.pkt, &st.gap};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		free(all[i]->v);
	qmcp_tls_free(tls);
	db_close(st.db);
	return 0;
}
