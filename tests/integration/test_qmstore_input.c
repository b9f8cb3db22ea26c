/*
 * qmstore against hostile peers: a flood of connections sending garbage,
 * frames announcing bodies over 1 MiB, results that are not JSON; each is
 * refused and counted, and a well-behaved probe among them has every result
 * stored and acknowledged.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "qmcp_client.h"
#include "qmcp_codec.h"
#include "qp_run.h"

static int raw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Write, then wait for the receiver to close the connection (at most 10 s). */
static void send_and_expect_close(int fd, const void *b, size_t n)
{
	cr_assert_eq(write(fd, b, n), (ssize_t)n);
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char buf[4096];
	ssize_t r;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		;
	/* closed: an end of file, or a reset when our bytes were left unread */
	cr_assert(r == 0 || errno == ECONNRESET, "the receiver kept the connection: %s",
		  r < 0 ? strerror(errno) : "data");
	close(fd);
}

static int result(struct qmcp_client *c, uint64_t seq, const char *json, char *err, size_t errlen)
{
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_RESULT, 0, qmcp_client_next_id(c));
	qmcp_put_str(&m, QMCP_T_PROBE_ID, "good-probe");
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, 1);
	qmcp_put_u64(&m, QMCP_T_SEQ, seq);
	qmcp_put_u64(&m, QMCP_T_INTERVAL_START_NS, 1700000000000000000ULL + seq * 1000000000ULL);
	qmcp_put_str(&m, QMCP_T_RESULT_JSON, json);
	struct qmcp_reply r;
	int rc = qmcp_client_call(c, &m, &r, 10000, err, errlen);
	if (rc == 0 || rc == -EREMOTEIO)
		qmcp_reply_free(&r);
	return rc;
}

/*
 * A qmstore on a free port with a SQLite file named after the test (db, its
 * standard error in err), and a probe's session to it that said HELLO.
 */
static struct qmcp_client *store_and_probe(const char *name, int *port, int *pid, char *db, char *err)
{
	char bin[256], ps[16], e[512];
	*port = qp_free_port();
	snprintf(bin, sizeof(bin), "%s/qmstore", qp_build());
	snprintf(ps, sizeof(ps), "%d", *port);
	snprintf(db, 256, "%s/%s.sqlite", qp_tmpdir(), name);
	snprintf(err, 256, "%s/%s.err", qp_tmpdir(), name);
	char *argv[] = {bin, "--listen", "127.0.0.1", "--port", ps, "--db", db, "--quiet", NULL};
	*pid = qp_spawn(argv, NULL, err);
	struct qmcp_client *c = NULL;
	for (int i = 0; i < 200 && !c; i++) {
		c = qmcp_client_connect("127.0.0.1", *port, 1000, e, sizeof(e));
		if (!c) {
			struct timespec ts = {0, 50000000};
			nanosleep(&ts, NULL);
		}
	}
	cr_assert_not_null(c, "%s", e);
	cr_assert_eq(qmcp_client_hello(c, "good-probe", NULL, 0, 5000, e, sizeof(e)), 0, "%s", e);
	return c;
}

Test(qmstore_input, hostile_peers_are_refused_and_counted_and_a_probe_among_them_is_served,
     .timeout = 120)
{
	int port, pid;
	char db[256], err[256], e[512];
	struct qmcp_client *c = store_and_probe("hostile", &port, &pid, db, err);
	cr_assert_eq(result(c, 0, "{\"packets\": {\"fwd\": 1, \"rev\": 0}}", e, sizeof(e)), 0, "%s", e);

	/* a flood of garbage: 50 connections, each closed at its first bytes */
	for (int i = 0; i < 50; i++)
		send_and_expect_close(raw_connect(port), "GET / HTTP/1.1\r\n\r\n", 18);
	/* frames announcing bodies over 1 MiB: closed before the body is read */
	for (int i = 0; i < 5; i++) {
		struct qmcp_msg m;
		qmcp_msg_init(&m, QMCP_MSG_RESULT, 0, 1);
		qmcp_put_u32(&m, QMCP_T_MEAS_ID, 1);
		size_t n;
		const uint8_t *f = qmcp_msg_frame(&m, &n);
		uint8_t hdr[QMCP_HDR_LEN];
		memcpy(hdr, f, sizeof(hdr));
		uint32_t big = QMCP_MAX_BODY + 1;
		hdr[12] = (uint8_t)(big >> 24);
		hdr[13] = (uint8_t)(big >> 16);
		hdr[14] = (uint8_t)(big >> 8);
		hdr[15] = (uint8_t)big;
		qmcp_msg_free(&m);
		send_and_expect_close(raw_connect(port), hdr, sizeof(hdr));
	}
	/* a result that is not JSON: refused, the connection kept */
	cr_assert_eq(result(c, 1, "{not json", e, sizeof(e)), -EREMOTEIO);
	cr_assert(strstr(e, "could not store this result"), "%s", e);
	/* the probe goes on being served */
	for (uint64_t s = 2; s < 12; s++)
		cr_assert_eq(result(c, s, "{\"packets\": {\"fwd\": 2, \"rev\": 1}}", e, sizeof(e)), 0,
			     "seq %llu: %s", (unsigned long long)s, e);
	qmcp_client_close(c);
	kill(pid, SIGTERM);
	struct qp_run_result r;
	qp_wait(pid, 30, &r, err);
	cr_assert(r.exited && r.status == 0, "qmstore exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "qmstore: 11 results stored, 0 resends already stored, 56 "
				"connections,"),
		  "%s", r.err);
	cr_assert(strstr(r.err, ", 55 bad frames, 1 refused\n"), "%s", r.err);
	char q[512];
	snprintf(q, sizeof(q), "sqlite3 '%s' 'SELECT count(*) FROM results'", db);
	cr_assert_eq(qp_sh_long(q), 11);
	snprintf(q, sizeof(q), "sqlite3 '%s' 'SELECT sum(packets) FROM intervals'", db);
	cr_assert_eq(qp_sh_long(q), 1 + 10 * 3);
}

/*
 * The intervals of an offline run over QUIC, DNS, TLS and MPEG-TS traffic,
 * pushed as a probe pushes them: the quic, dns, tls and mpegts tables hold
 * their figures.
 */
Test(qmstore_input, quic_dns_tls_and_mpegts_intervals_fill_their_tables, .timeout = 120)
{
	char gen[2048], cap[256], rep[256];
	snprintf(cap, sizeof(cap), "%s/quic-dns.pcap", qp_tmpdir());
	snprintf(rep, sizeof(rep), "%s/quic-dns.json", qp_tmpdir());
	snprintf(gen, sizeof(gen),
		 "%s/qp_gen quic %s/q.pcap && %s/qp_gen dns %s/d.pcap && %s/qp_gen tls %s/t.pcap && "
		 "%s/qp_gen mpegts %s/m.pcap && "
		 "mergecap -w %s %s/q.pcap %s/d.pcap %s/t.pcap %s/m.pcap && %s/qprobe --pcap %s --report-file %s",
		 qp_build(), qp_tmpdir(), qp_build(), qp_tmpdir(), qp_build(), qp_tmpdir(), qp_build(),
		 qp_tmpdir(), cap, qp_tmpdir(), qp_tmpdir(), qp_tmpdir(), qp_tmpdir(), qp_build(), cap, rep);
	cr_assert_eq(system(gen), 0, "%s", gen);
	json_t *off = qp_json_load(rep);
	cr_assert_not_null(off);
	int port, pid;
	char db[256], err[256], e[512];
	struct qmcp_client *c = store_and_probe("apps", &port, &pid, db, err);
	size_t i;
	json_t *iv;
	long hs = 0, kept = 0, rtt_n = 0, queries = 0, answered = 0, with_quic = 0, tls_hs = 0, tls13 = 0;
	long ts_pk = 0, ts_cc = 0, ts_lost = 0, ts_sync = 0, with_ts = 0;
	json_array_foreach(json_object_get(off, "intervals"), i, iv) {
		char *txt = json_dumps(iv, JSON_COMPACT);
		cr_assert_eq(result(c, i, txt, e, sizeof(e)), 0, "%s", e);
		free(txt);
		json_t *q = json_object_get(iv, "quic"), *d = json_object_get(iv, "dns");
		hs += (long)json_integer_value(json_object_get(q, "handshakes"));
		kept += (long)json_integer_value(json_object_get(q, "spin_edges_kept"));
		rtt_n += (long)json_integer_value(json_object_get(json_object_get(q, "rtt_ms"), "samples"));
		queries += (long)json_integer_value(json_object_get(d, "queries"));
		answered += (long)json_integer_value(json_object_get(d, "answered"));
		json_t *t = json_object_get(iv, "tls");
		tls_hs += (long)json_integer_value(json_object_get(t, "handshakes"));
		tls13 += (long)json_integer_value(json_object_get(json_object_get(t, "versions"), "TLS 1.3"));
		json_t *m = json_object_get(iv, "mpegts");
		ts_pk += qp_geti(m, "packets");
		ts_cc += qp_geti(m, "cc_errors");
		ts_lost += qp_geti(m, "lost");
		ts_sync += qp_geti(m, "sync_errors");
		with_ts += qp_geti(m, "packets") > 0;
		with_quic += json_integer_value(json_object_get(q, "handshakes")) +
				     json_integer_value(json_object_get(q, "spin_edges_kept")) +
				     json_integer_value(json_object_get(q, "spin_edges_discarded")) >
			     0;
	}
	qmcp_client_close(c);
	kill(pid, SIGTERM);
	struct qp_run_result r;
	qp_wait(pid, 30, &r, err);
	cr_assert(r.exited && r.status == 0, "qmstore exit %d: %s", r.status, r.err);
	cr_assert_eq(hs, 9, "the nine QUIC handshakes");
	cr_assert_gt(rtt_n, 0);
	cr_assert_eq(queries, 105);
	char q[512];
#define SQL_(what) (snprintf(q, sizeof(q), "sqlite3 '%s' '%s'", db, what), qp_sh_long(q))
	cr_assert_eq(SQL_("SELECT sum(handshakes) FROM quic"), hs);
	cr_assert_eq(SQL_("SELECT sum(spin_edges_kept) FROM quic"), kept);
	cr_assert_eq(SQL_("SELECT sum(rtt_samples) FROM quic"), rtt_n);
	cr_assert_eq(SQL_("SELECT count(*) FROM quic"), with_quic);
	cr_assert_eq(SQL_("SELECT sum(queries) FROM dns"), queries);
	cr_assert_eq(SQL_("SELECT sum(answered) FROM dns"), answered);
	cr_assert_eq(tls_hs, 5);
	cr_assert_eq(SQL_("SELECT sum(handshakes) FROM tls"), tls_hs);
	cr_assert_eq(SQL_("SELECT sum(tls13) FROM tls"), tls13);
	cr_assert_eq(ts_pk, 9930, "qp_gen mpegts: five flows of the synthetic stream");
	cr_assert_gt(ts_cc, 0);
	cr_assert_eq(SQL_("SELECT sum(packets) FROM mpegts"), ts_pk);
	cr_assert_eq(SQL_("SELECT sum(cc_errors) FROM mpegts"), ts_cc);
	cr_assert_eq(SQL_("SELECT sum(lost) FROM mpegts"), ts_lost);
	cr_assert_eq(SQL_("SELECT sum(sync_errors) FROM mpegts"), ts_sync);
	cr_assert_eq(SQL_("SELECT count(*) FROM mpegts"), with_ts);
#undef SQL_
	json_decref(off);
}

/*
 * Intervals with their packet results, pushed as a probe pushes them: the
 * packets table holds every row, NULL where the packet gave nothing, and its
 * RTT samples and RTP counts are the intervals'.
 */
Test(qmstore_input, packet_results_fill_the_packets_table, .timeout = 120)
{
	char gen[2048], cap[256], rep[256], csv[256];
	snprintf(cap, sizeof(cap), "%s/pres-store.pcap", qp_tmpdir());
	snprintf(rep, sizeof(rep), "%s/pres-store.json", qp_tmpdir());
	snprintf(csv, sizeof(csv), "%s/pres-store.csv", qp_tmpdir());
	snprintf(gen, sizeof(gen), "%s/qp_gen qos %s > /dev/null && %s/qprobe --pcap %s --report-file %s "
				   "--packet-results %s",
		 qp_build(), cap, qp_build(), cap, rep, csv);
	cr_assert_eq(system(gen), 0, "%s", gen);
	json_t *off = qp_json_load(rep);
	FILE *f = fopen(csv, "r");
	cr_assert_not_null(f);
	char line[512], cols[512];
	cr_assert_not_null(fgets(cols, sizeof(cols), f));
	cols[strcspn(cols, "\n")] = 0;
	int port, pid;
	char db[256], err[256], e[512];
	struct qmcp_client *c = store_and_probe("pres", &port, &pid, db, err);
	size_t i;
	json_t *iv;
	long rows = 0, rtt = 0, rtp_pk = 0, rtp_rows = 0;
	int have = fgets(line, sizeof(line), f) != NULL;
	json_array_foreach(json_object_get(off, "intervals"), i, iv) {
		unsigned long long end = (unsigned long long)qp_geti(iv, "start_ns") +
					 (unsigned long long)(json_real_value(json_object_get(iv, "duration_ms")) * 1e6 + 0.5);
		json_t *r = json_array();
		while (have && strtoull(line, NULL, 10) < end) {
			line[strcspn(line, "\n")] = 0;
			json_array_append_new(r, json_string(line));
			have = fgets(line, sizeof(line), f) != NULL;
		}
		rows += (long)json_array_size(r);
		json_object_set_new(iv, "packet_results",
				    json_pack("{s:s,s:o,s:i}", "columns", cols, "rows", r, "not_recorded", 0));
		json_t *tcp = json_object_get(iv, "tcp"), *rtp = json_object_get(iv, "rtp");
		for (int d = 0; d < 2; d++) {
			json_t *s = json_object_get(tcp, d ? "rtt_rev_ms" : "rtt_ms");
			rtt += json_is_object(s) ? qp_geti(s, "samples") : 0;
			rtp_pk += qp_geti(json_object_get(rtp, d ? "rev" : "fwd"), "packets");
		}
		size_t k;
		json_t *row;
		json_array_foreach(r, k, row) {
			/* a jitter estimate: the last column but one (before tp_sig, empty here) */
			const char *t = json_string_value(row);
			size_t l = strlen(t);
			rtp_rows += strstr(t, ",udp,") && l > 2 && t[l - 1] == ',' && t[l - 2] != ',';
		}
		char *txt = json_dumps(iv, JSON_COMPACT);
		cr_assert_eq(result(c, i, txt, e, sizeof(e)), 0, "%s", e);
		free(txt);
	}
	fclose(f);
	qmcp_client_close(c);
	kill(pid, SIGTERM);
	struct qp_run_result res;
	qp_wait(pid, 30, &res, err);
	cr_assert(res.exited && res.status == 0, "qmstore exit %d: %s", res.status, res.err);
	cr_assert_gt(rows, 10000);
	char q[512];
#define SQL_(what) (snprintf(q, sizeof(q), "sqlite3 '%s' '%s'", db, what), qp_sh_long(q))
	cr_expect_eq(SQL_("SELECT count(*) FROM packets"), rows);
	cr_expect_eq(SQL_("SELECT count(tcp_rtt_ms) FROM packets"), rtt);
	cr_expect_eq(SQL_("SELECT sum(rtp_received) FROM packets"), rtp_pk);
	cr_expect_eq(SQL_("SELECT count(*) FROM packets WHERE rtp_jitter_ms IS NOT NULL"), rtp_rows);
	cr_expect_eq(SQL_("SELECT count(*) FROM packets WHERE proto = \"udp\" AND tcp_retrans IS NOT NULL"), 0);
#undef SQL_
	json_decref(off);
}
