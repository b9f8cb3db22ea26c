/*
 * qmstore: the results receiver. Probes push each interval of a measurement
 * (QMCP RESULT); qmstore writes it to SQLite (default, a file) or
 * PostgreSQL (--pg) in one transaction and only then acknowledges it, so a
 * probe resends what a crash lost. Storing is idempotent on (probe,
 * measurement, interval sequence): a resend is stored once.
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
	"CREATE TABLE IF NOT EXISTS gaps (probe_id TEXT NOT NULL, meas_id BIGINT NOT NULL, "
	"from_seq BIGINT NOT NULL, count BIGINT, noticed_ns BIGINT, "
	"PRIMARY KEY (probe_id, meas_id, from_seq))",
};

static const char SQL_PROBE[] =
	"INSERT INTO probes (probe_id, address, first_seen_ns, last_seen_ns) VALUES ($1, $2, $3, $3) "
	"ON CONFLICT (probe_id) DO UPDATE SET address = excluded.address, last_seen_ns = $3";
static const char SQL_MEAS[] =
	"INSERT INTO measurements (probe_id, meas_id, first_seq, first_start_ns) VALUES ($1, $2, $3, $4) "
	"ON CONFLICT (probe_id, meas_id) DO NOTHING";
static const char SQL_RESULT[] =
	"INSERT INTO results (probe_id, meas_id, seq, start_ns, received_ns, json) "
	"VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (probe_id, meas_id, seq) DO NOTHING";
static const char SQL_IV[] =
	"INSERT INTO intervals (probe_id, meas_id, seq, direction, start_ns, duration_ms, packets, "
	"bytes, bps, pps, rtt_samples, rtt_min_ms, rtt_mean_ms, rtt_p50_ms, rtt_p90_ms, rtt_p99_ms, "
	"rtt_max_ms, retransmissions, out_of_order, dup_acks, zero_window, resets, rtp_packets, "
	"rtp_expected, rtp_lost, rtp_jitter_mean_ms, rtp_jitter_max_ms) VALUES ($1, $2, $3, $4, $5, "
	"$6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, "
	"$25, $26, $27) ON CONFLICT (probe_id, meas_id, seq, direction) DO NOTHING";
static const char SQL_RTP[] =
	"INSERT INTO rtp_streams (probe_id, meas_id, seq, ssrc, direction, src, sport, dst, dport, "
	"payload_type, packets, expected, lost, jitter_last_ms, jitter_mean_ms, jitter_max_ms, mos) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) "
	"ON CONFLICT (probe_id, meas_id, seq, ssrc, direction) DO NOTHING";
static const char SQL_FLOW[] =
	"INSERT INTO flows (probe_id, meas_id, seq, rank, proto, src, sport, dst, dport, first_ns, "
	"last_ns, packets_fwd, packets_rev, bytes_fwd, bytes_rev, handshake_rtt_ms, rtt_mean_ms, "
	"rtt_p99_ms, retrans_fwd, retrans_rev, json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
	"$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) "
	"ON CONFLICT (probe_id, meas_id, seq, rank) DO NOTHING";
static const char SQL_GAP[] =
	"INSERT INTO gaps (probe_id, meas_id, from_seq, count, noticed_ns) VALUES ($1, $2, $3, $4, $5) "
	"ON CONFLICT (probe_id, meas_id, from_seq) DO NOTHING";

struct store {
	struct db *db;
	int quiet;
	uint64_t stored, duplicates;
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

static int store(const struct qmcp_result *r, void *arg)
{
	struct store *s = arg;
	char err[512];
	json_t *j = json_loadb(r->json, r->json_len, 0, NULL);
	if (!j) {
		fprintf(stderr, "qmstore: %s measurement %u seq %" PRIu64 ": the result is not JSON; "
				"refused\n", r->probe_id, r->meas_id, r->seq);
		return -EINVAL;
	}
	struct txt t = {0};
	const char *probe = r->probe_id, *meas = u64s(&t, r->meas_id), *seq = u64s(&t, r->seq);
	const char *start = u64s(&t, r->start_ns), *now = u64s(&t, now_ns());
	if (db_exec(s->db, "BEGIN", 0, NULL, err, sizeof(err)) < 0)
		goto fail;
	const char *pp[] = {probe, r->peer, now};
	const char *pm[] = {probe, meas, seq, start};
	const char *pr[] = {probe, meas, seq, start, now, r->json};
	if (db_exec(s->db, SQL_PROBE, 3, pp, err, sizeof(err)) < 0 ||
	    db_exec(s->db, SQL_MEAS, 4, pm, err, sizeof(err)) < 0)
		goto rollback;
	long fresh = db_exec(s->db, SQL_RESULT, 6, pr, err, sizeof(err));
	if (fresh < 0)
		goto rollback;
	if (fresh == 0) {
		s->duplicates++;
	} else {
		for (int d = 0; d < 2; d++) {
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
			if (db_exec(s->db, SQL_IV, 27, pi, err, sizeof(err)) < 0)
				goto rollback;
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
			if (db_exec(s->db, SQL_RTP, 17, ps, err, sizeof(err)) < 0)
				goto rollback;
		}
		json_t *fl = r->flows_json ? json_loadb(r->flows_json, r->flows_len, 0, NULL) : NULL;
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
			long e = db_exec(s->db, SQL_FLOW, 21, pf, err, sizeof(err));
			free(one);
			if (e < 0) {
				json_decref(fl);
				goto rollback;
			}
		}
		json_decref(fl);
		if (r->has_gap) {
			const char *pg[] = {probe, meas, u64s(&t, r->gap_from), u64s(&t, r->gap_count), now};
			if (db_exec(s->db, SQL_GAP, 5, pg, err, sizeof(err)) < 0)
				goto rollback;
			fprintf(stderr, "qmstore: %s measurement %u: %" PRIu64 " intervals from seq %" PRIu64
					" were dropped by the probe's backlog\n",
				probe, r->meas_id, r->gap_count, r->gap_from);
		}
	}
	if (db_exec(s->db, "COMMIT", 0, NULL, err, sizeof(err)) < 0)
		goto rollback;
	json_decref(j);
	if (fresh)
		s->stored++;
	if (!s->quiet && fresh)
		printf("stored %s measurement %u seq %" PRIu64 "\n", probe, r->meas_id, r->seq);
	fflush(stdout);
	return 0;
rollback:
	{
		char e2[200];
		db_exec(s->db, "ROLLBACK", 0, NULL, e2, sizeof(e2));
	}
fail:
	fprintf(stderr, "qmstore: cannot store %s measurement %u seq %" PRIu64 ": %s\n", probe,
		r->meas_id, r->seq, err);
	json_decref(j);
	return -EIO;
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
	struct store st = {0};
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
	fprintf(stderr, "qmstore: listening on %s port %d%s, storing in %s%s\n", addr, port,
		!tls ? "" : tls_only ? " (TLS only)" : " (plain or TLS)", pg ? "PostgreSQL " : "",
		pg ? "" : path);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	while (!g_stop)
		qmcp_listener_run(l, 200);
	struct qmcp_listener_stats ls;
	qmcp_listener_stats(l, &ls);
	fprintf(stderr, "qmstore: %" PRIu64 " results stored, %" PRIu64 " resends already stored, %"
			PRIu64 " connections\n", st.stored, st.duplicates, ls.connections);
	qmcp_listener_destroy(l);
	qmcp_tls_free(tls);
	db_close(st.db);
	return 0;
}
