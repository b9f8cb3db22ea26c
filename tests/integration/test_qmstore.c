/*
 * Results push end to end: a probe pushes every interval of a measurement to
 * qmstore, which is killed (SIGKILL) and restarted in the middle; once the
 * probe's queue is empty, the store holds every interval exactly once, with
 * the packets the probe measured. Once against SQLite, once against a
 * PostgreSQL server the test starts itself (skipped when Debian's
 * postgresql is not installed). And a probe with a spool (--spool), killed
 * (SIGKILL) while its receiver is down, started again: every interval it had
 * closed is stored once, and the new run's measurement has an id of its own.
 *
 * Live: starts DPDK probes (tests/run.sh runs such binaries one at a time).
 */
#include <criterion/criterion.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qp_qmcp.h"
#include "qp_run.h"


static int spawn_store(const char *db_arg, const char *db_val, int port, const char *secret,
		       const char *err)
{
	char bin[256], ps[16];
	snprintf(bin, sizeof(bin), "%s/qmstore", qp_build());
	snprintf(ps, sizeof(ps), "%d", port);
	char *argv[] = {bin, "--listen", "127.0.0.1", "--port", ps, "--secret-file", (char *)secret,
			(char *)db_arg, (char *)db_val, "--quiet", NULL};
	return qp_spawn(argv, NULL, err);
}

/* The probe's push queue is empty when its stats list no destination. */
static void wait_pushed(const struct probe *p)
{
	for (int i = 0; i < 6000; i++) {
		char *body = NULL;
		if (qp_http_get(p->http_port, "/api/v1/stats", &body) == 200) {
			json_t *j = json_loads(body, 0, NULL);
			size_t n = json_array_size(json_object_get(j, "push"));
			json_decref(j);
			free(body);
			if (n == 0)
				return;
		} else {
			free(body);
		}
		nap_ms(10);
	}
	cr_assert_fail("the probe still has results queued after 60 s");
}

/* START of a DNS measurement of 100 ms intervals pushed to dest; its id */
static uint32_t start_pushed(struct qmcp_client *c, const char *dest)
{
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_START, 0, qmcp_client_next_id(c));
	qmcp_put_str(&m, QMCP_T_FILTER, "udp port 53");
	qmcp_put_u32(&m, QMCP_T_INTERVAL_MS, 100);
	qmcp_put_u32(&m, QMCP_T_MAX_FLOWS, 1024);
	qmcp_put_str(&m, QMCP_T_DESTINATION, dest);
	return call_start(c, &m);
}

/*
 * One run: measure, kill the store, measure, restart it, measure, stop.
 * sql(q) prints the answer of query q. Returns the intervals the probe closed.
 */
static void run(const char *db_arg, const char *db_val, long (*sql)(const char *q))
{
	struct probe p;
	probe_start(&p, "127.0.0.1/32");
	int sport = qp_free_port();
	char serr[256], dest[64];
	snprintf(serr, sizeof(serr), "%s/qmstore.err", qp_tmpdir());
	snprintf(dest, sizeof(dest), "127.0.0.1:%d", sport);
	int spid = spawn_store(db_arg, db_val, sport, p.secret, serr);
	struct qmcp_client *c = ctl(&p);
	struct qmcp_msg m;
	uint32_t id = start_pushed(c, dest);

	inject(p.tap);
	wait_measured(c, id, 163, 40);
	kill(spid, SIGKILL);
	struct qp_run_result wr;
	qp_wait(spid, 30, &wr, serr);
	inject(p.tap);
	wait_measured(c, id, 326, 80);
	spid = spawn_store(db_arg, db_val, sport, p.secret, serr);
	inject(p.tap);
	wait_measured(c, id, 489, 120);

	json_t *s = status(c, id);
	long closed_before_stop = (long)json_integer_value(json_object_get(s, "intervals"));
	json_decref(s);
	qmcp_msg_init(&m, QMCP_MSG_STOP, 0, qmcp_client_next_id(c));
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	struct qmcp_reply r = call_ok(c, &m);
	qmcp_reply_free(&r);
	wait_pushed(&p);

	long n = sql("SELECT count(*) FROM results");
	long maxseq = sql("SELECT max(seq) FROM results");
	long distinct = sql("SELECT count(DISTINCT seq) FROM results");
	cr_assert_geq(n, closed_before_stop, "every interval closed before STOP, and the last");
	cr_assert_eq(n, maxseq + 1, "seq 0..%ld each once: %ld rows", maxseq, n);
	cr_assert_eq(distinct, n);
	cr_assert_eq(sql("SELECT count(*) FROM intervals"), 2 * n, "a row per direction");
	cr_assert_eq(sql("SELECT sum(packets) FROM intervals"), 120, "every DNS frame, once");
	/* the demo's 20 queries, each answered in 7 ms (injected, in microseconds), three times */
	cr_assert_eq(sql("SELECT sum(queries) FROM dns"), 60, "every DNS query, once");
	cr_assert_eq(sql("SELECT sum(answered) FROM dns"), 60);
	cr_assert_eq(sql("SELECT sum(noerror) FROM dns"), 60);
	cr_assert_eq(sql("SELECT sum(rt_samples) FROM dns"), 60);
	cr_assert_eq(sql("SELECT count(*) FROM dns WHERE nxdomain + servfail + refused > 0"), 0);
	cr_assert_eq(sql("SELECT count(*) FROM dns WHERE rcodes IS NULL"), 0);
	cr_assert_eq(sql("SELECT count(*) FROM measurements"), 1);
	cr_assert_eq(sql("SELECT count(*) FROM gaps"), 0, "nothing dropped within the backlog");
	/* the largest flows at each interval's close: the DNS flow, 120 frames at the end */
	cr_assert_eq(sql("SELECT max(packets_fwd + packets_rev) FROM flows"), 120);
	cr_assert_geq(sql("SELECT count(DISTINCT seq) FROM flows WHERE rank = 0"), 1);
	cr_assert_eq(sql("SELECT count(*) FROM flows WHERE rank > 0"), 0, "one flow in the filter");

	qmcp_client_close(c);
	probe_stop(&p);
	kill(spid, SIGTERM);
	qp_wait(spid, 30, &wr, serr);
	cr_assert(wr.exited && wr.status == 0, "qmstore exit %d: %s", wr.status, wr.err);
	cr_assert(strstr(wr.err, "results stored"), "%s", wr.err);
}

static char sqlite_path[512];

static long sqlite_q(const char *q)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s' '%s'", sqlite_path, q);
	return qp_sh_long(cmd);
}

Test(qmstore, sqlite_keeps_every_interval_once_across_a_restart, .timeout = 300)
{
	snprintf(sqlite_path, sizeof(sqlite_path), "%s/results.sqlite", qp_tmpdir());
	run("--db", sqlite_path, sqlite_q);
}

/* the push queue of the probe's first destination: queued results */
static long queued(const struct probe *p)
{
	char *body = NULL;
	long q = -1;
	if (qp_http_get(p->http_port, "/api/v1/stats", &body) == 200) {
		json_t *j = json_loads(body, 0, NULL);
		q = (long)json_integer_value(json_object_get(json_array_get(json_object_get(j, "push"), 0), "queued"));
		json_decref(j);
	}
	free(body);
	return q;
}

Test(qmstore, a_spool_keeps_every_interval_across_a_killed_probe, .timeout = 300)
{
	snprintf(sqlite_path, sizeof(sqlite_path), "%s/spooled.sqlite", qp_tmpdir());
	char spool[256], dest[64], serr[256];
	snprintf(spool, sizeof(spool), "%s/spool", qp_tmpdir());
	int sport = qp_free_port();
	snprintf(dest, sizeof(dest), "127.0.0.1:%d", sport);
	snprintf(serr, sizeof(serr), "%s/qmstore-spool.err", qp_tmpdir());
	char *extra[] = {"--spool", spool, NULL};
	struct probe p;
	probe_start_args(&p, "127.0.0.1/32", extra);
	struct qmcp_client *c = ctl(&p);
	struct qmcp_msg m;
	uint32_t id = start_pushed(c, dest);
	cr_assert_eq(id, 1, "the first measurement of a new spool");
	/* the receiver is not there: every interval waits in the queue, and on disk */
	inject(p.tap);
	wait_measured(c, id, 163, 40);
	while (queued(&p) < 10)
		nap_ms(20);
	json_t *s = status(c, id);
	long closed = (long)json_integer_value(json_object_get(s, "intervals"));
	json_decref(s);
	qmcp_client_close(c);
	kill(p.pid, SIGKILL);
	struct qp_run_result wr;
	qp_wait(p.pid, 30, &wr, p.err);

	/* the receiver back, then the probe, with the same spool */
	int spid = spawn_store("--db", sqlite_path, sport, p.secret, serr);
	struct probe p2;
	probe_start_args(&p2, "127.0.0.1/32", extra);
	c = ctl(&p2);
	uint32_t id2 = start_pushed(c, dest);
	cr_assert_eq(id2, 2, "ids go on from the earlier run's");
	nap_ms(350); /* a few intervals of its own */
	qmcp_msg_init(&m, QMCP_MSG_STOP, 0, qmcp_client_next_id(c));
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id2);
	struct qmcp_reply r = call_ok(c, &m);
	qmcp_reply_free(&r);
	wait_pushed(&p2);
	qmcp_client_close(c);
	probe_stop(&p2);
	char want[512];
	snprintf(want, sizeof(want), "qprobe: spool %s: ", spool);
	FILE *f = fopen(p2.err, "r");
	char line[512], said[512] = "";
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, want))
			snprintf(said, sizeof(said), "%s", line);
	if (f)
		fclose(f);
	long told = -1;
	cr_assert_eq(sscanf(said + strlen(want), "%ld results of an earlier run to send to 1 destination(s)",
			    &told), 1, "%s", said);

	long n = sqlite_q("SELECT count(*) FROM results WHERE meas_id = 1");
	cr_assert_geq(told, closed, "the spool had every interval closed before the kill");
	cr_assert_eq(n, told, "each of them stored");
	cr_assert_eq(sqlite_q("SELECT max(seq) FROM results WHERE meas_id = 1"), n - 1, "seq 0..%ld", n - 1);
	cr_assert_eq(sqlite_q("SELECT count(DISTINCT seq) FROM results WHERE meas_id = 1"), n, "each once");
	cr_assert_eq(sqlite_q("SELECT sum(packets) FROM intervals WHERE meas_id = 1"), 40,
		     "every DNS frame measured before the kill, once");
	cr_assert_geq(sqlite_q("SELECT count(*) FROM results WHERE meas_id = 2"), 1, "the new run's too");
	cr_assert_eq(sqlite_q("SELECT count(*) FROM measurements"), 2);
	cr_assert_eq(sqlite_q("SELECT count(*) FROM gaps"), 0);
	/* nothing left in the spool but the next id */
	snprintf(want, sizeof(want), "ls '%s' | grep -c spool-", spool);
	cr_assert_eq(qp_sh_long(want), 0, "the spool files went with their results");
	kill(spid, SIGTERM);
	qp_wait(spid, 30, &wr, serr);
}

static char pg_sock[512];
static int pg_port;

static long pg_q(const char *q)
{
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "psql -h '%s' -p %d -U postgres -d postgres -tA -c '%s'", pg_sock,
		 pg_port, q);
	return qp_sh_long(cmd);
}

/* Replace every occurrence of from in s (malloc'd) by to. */
static char *subst(char *s, const char *from, const char *to)
{
	char *at;
	while ((at = strstr(s, from))) {
		size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
		char *r = malloc(n);
		snprintf(r, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
		free(s);
		s = r;
	}
	return s;
}

/*
 * The Grafana dashboard for qmstore's PostgreSQL schema: every query of it,
 * its variables filled in and Grafana's time macro as a plain condition, runs
 * against the results just stored; the throughput panel has rows.
 */
static void dashboard_queries_run(void)
{
	json_error_t je;
	json_t *d = json_load_file("docs/grafana/qprobe-qmstore-postgres.json", 0, &je);
	cr_assert_not_null(d, "dashboard: %s", je.text);
	json_t *all = json_array(), *p, *t;
	size_t i, k;
	json_array_foreach(json_object_get(json_object_get(d, "templating"), "list"), i, p)
		if (json_is_string(json_object_get(p, "query")) &&
		    strcmp(json_string_value(json_object_get(p, "type")), "datasource"))
			json_array_append(all, json_object_get(p, "query"));
	json_array_foreach(json_object_get(d, "panels"), i, p)
		json_array_foreach(json_object_get(p, "targets"), k, t)
			json_array_append(all, json_object_get(t, "rawSql"));
	cr_assert_geq(json_array_size(all), 10);
	json_t *q;
	json_array_foreach(all, i, q) {
		char *sqltext = strdup(json_string_value(q));
		sqltext = subst(sqltext, "$__unixEpochNanoFilter(start_ns)", "start_ns > 0");
		sqltext = subst(sqltext, "$__unixEpochNanoFilter(r.start_ns)", "r.start_ns > 0");
		sqltext = subst(sqltext, "'$probe'", "(SELECT min(probe_id) FROM probes)");
		sqltext = subst(sqltext, "$measurement", "(SELECT min(meas_id) FROM measurements)");
		cr_assert(!strchr(sqltext, '$'), "a Grafana macro left: %s", sqltext);
		char f[512], cmd[1200];
		snprintf(f, sizeof(f), "%s/panel.sql", qp_tmpdir());
		FILE *o = fopen(f, "w");
		fprintf(o, "SELECT count(*) FROM (%s) AS panel;\n", sqltext);
		fclose(o);
		snprintf(cmd, sizeof(cmd),
			 "psql -v ON_ERROR_STOP=1 -h '%s' -p %d -U postgres -d postgres -tA -f '%s'",
			 pg_sock, pg_port, f);
		long rows = qp_sh_long(cmd);
		cr_expect_geq(rows, 0, "dashboard query failed: %s", sqltext);
		if (i == 2) /* after the two variables, the throughput panel: a row per interval and direction */
			cr_expect_gt(rows, 0, "no throughput rows: %s", sqltext);
		free(sqltext);
	}
	json_decref(all);
	json_decref(d);
}

Test(qmstore, postgresql_keeps_every_interval_once_across_a_restart, .timeout = 300)
{
	glob_t g;
	if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0 || getuid() != 0) {
		cr_skip_test("PostgreSQL's server (Debian postgresql) is not installed, or not root");
		return;
	}
	char bindir[256];
	snprintf(bindir, sizeof(bindir), "%s", g.gl_pathv[0]);
	globfree(&g);
	*strrchr(bindir, '/') = 0;
	/* a private server: its own data directory and socket, owned by postgres */
	char dir[512], cmd[8192];
	snprintf(dir, sizeof(dir), "%s/pg", qp_tmpdir());
	snprintf(pg_sock, sizeof(pg_sock), "%s/pg/sock", qp_tmpdir());
	pg_port = qp_free_port();
	snprintf(cmd, sizeof(cmd),
		 "chmod 755 '%s' && mkdir -p '%s/data' '%s' && chown -R postgres '%s' && "
		 "runuser -u postgres -- '%s/initdb' -D '%s/data' -A trust -U postgres >/dev/null && "
		 "runuser -u postgres -- '%s/pg_ctl' -D '%s/data' -l '%s/log' -w -o "
		 "\"-p %d -k %s -c listen_addresses=''\" start >/dev/null",
		 qp_tmpdir(), dir, pg_sock, dir, bindir, dir, bindir, dir, dir, pg_port, pg_sock);
	cr_assert_eq(system(cmd), 0, "could not start PostgreSQL: %s", cmd);
	char conn[700];
	snprintf(conn, sizeof(conn), "host=%s port=%d user=postgres dbname=postgres", pg_sock, pg_port);
	run("--pg", conn, pg_q);
	dashboard_queries_run();
	snprintf(cmd, sizeof(cmd), "runuser -u postgres -- '%s/pg_ctl' -D '%s/data' -m fast stop >/dev/null",
		 bindir, dir);
	cr_assert_eq(system(cmd), 0);
}
