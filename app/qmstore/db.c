/*
 * db: see db.h. SQLite statements are prepared once per SQL text and kept.
 */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#define CACHE 32

struct db {
	sqlite3 *lite;
	PGconn *pg;
	/* prepared statements by SQL text (a batch's statements are built per
	 * batch: the text, not its address, says which one it is) */
	struct {
		char *sql;
		sqlite3_stmt *st;
	} cache[CACHE];
	int ncache;
};

struct db *db_open_sqlite(const char *path, char *err, size_t errlen)
{
	struct db *db = calloc(1, sizeof(*db));
	if (!db)
		return NULL;
	if (sqlite3_open(path, &db->lite) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open the SQLite file %s: %s", path,
			 db->lite ? sqlite3_errmsg(db->lite) : "out of memory");
		sqlite3_close(db->lite);
		free(db);
		return NULL;
	}
	sqlite3_busy_timeout(db->lite, 5000);
	/* every acknowledged result is on disk: WAL with full sync */
	sqlite3_exec(db->lite, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL);
	return db;
}

struct db *db_open_pg(const char *conninfo, char *err, size_t errlen)
{
	struct db *db = calloc(1, sizeof(*db));
	if (!db)
		return NULL;
	db->pg = PQconnectdb(conninfo);
	if (PQstatus(db->pg) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect to PostgreSQL (%s): %s", conninfo,
			 PQerrorMessage(db->pg));
		size_t n = strlen(err);
		while (n && err[n - 1] == '\n')
			err[--n] = 0;
		PQfinish(db->pg);
		free(db);
		return NULL;
	}
	PQsetNoticeProcessor(db->pg, NULL, NULL);
	return db;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	for (int i = 0; i < db->ncache; i++) {
		sqlite3_finalize(db->cache[i].st);
		free(db->cache[i].sql);
	}
	if (db->lite)
		sqlite3_close(db->lite);
	if (db->pg)
		PQfinish(db->pg);
	free(db);
}

static sqlite3_stmt *prepared(struct db *db, const char *sql)
{
	for (int i = 0; i < db->ncache; i++)
		if (!strcmp(db->cache[i].sql, sql)) {
			sqlite3_reset(db->cache[i].st);
			sqlite3_clear_bindings(db->cache[i].st);
			return db->cache[i].st;
		}
	sqlite3_stmt *st = NULL;
	/* "$N" and "?N" cost SQLite a linear search each, at parse or bind (a
	 * batch's statements have thousands: quadratic); parameters written in
	 * order, $1, $2, ..., are plain "?" */
	char *q = malloc(strlen(sql) + 1);
	if (!q)
		return NULL;
	long next = 1;
	int in_order = 1;
	char *o = q;
	for (const char *c = sql; *c;) {
		if (c[0] == '$' && c[1] >= '0' && c[1] <= '9') {
			char *end;
			long k = strtol(c + 1, &end, 10);
			in_order &= k == next++;
			*o++ = '?';
			if (!in_order) /* a parameter used twice: keep its number */
				o += sprintf(o, "%ld", k);
			c = end;
		} else {
			*o++ = *c++;
		}
	}
	*o = 0;
	if (!in_order) { /* numbered throughout: the simple form is wrong for all of it */
		o = q;
		for (const char *c = sql; *c; c++)
			*o++ = *c == '$' && c[1] >= '0' && c[1] <= '9' ? '?' : *c;
		*o = 0;
	}
	int rc = sqlite3_prepare_v2(db->lite, q, -1, &st, NULL);
	free(q);
	if (rc != SQLITE_OK)
		return NULL;
	if (db->ncache < CACHE && (db->cache[db->ncache].sql = strdup(sql))) {
		db->cache[db->ncache].st = st;
		db->ncache++;
	}
	return st;
}

static void release(struct db *db, sqlite3_stmt *st)
{
	for (int i = 0; i < db->ncache; i++)
		if (db->cache[i].st == st)
			return;
	sqlite3_finalize(st);
}

static int bind_all(sqlite3_stmt *st, int n, const char *const *params)
{
	int np = sqlite3_bind_parameter_count(st);
	for (int i = 0; i < n && i < np; i++) {
		int idx = i + 1;
		int rc = params[i] ? sqlite3_bind_text(st, idx, params[i], -1, SQLITE_TRANSIENT)
				   : sqlite3_bind_null(st, idx);
		if (rc != SQLITE_OK)
			return -1;
	}
	return 0;
}

long db_exec(struct db *db, const char *sql, int n, const char *const *params, char *err,
	     size_t errlen)
{
	return db_exec_rows(db, sql, n, params, NULL, NULL, err, errlen);
}

long db_exec_rows(struct db *db, const char *sql, int n, const char *const *params,
		  db_row_fn *fn, void *arg, char *err, size_t errlen)
{
	if (db->pg) {
		PGresult *r = PQexecParams(db->pg, sql, n, NULL, params, NULL, NULL, 0);
		ExecStatusType s = PQresultStatus(r);
		long rows = -1;
		if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
			const char *t = PQcmdTuples(r);
			rows = t && *t ? atol(t) : 0;
			int nc = PQnfields(r);
			const char *cols[16];
			for (int i = 0; fn && s == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
				for (int c = 0; c < nc && c < 16; c++)
					cols[c] = PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c);
				fn(cols, nc < 16 ? nc : 16, arg);
			}
		} else {
			snprintf(err, errlen, "%s", PQresultErrorMessage(r));
		}
		PQclear(r);
		return rows;
	}
	if (n == 0 && strchr(sql, ';')) {
		char *e = NULL;
		if (sqlite3_exec(db->lite, sql, NULL, NULL, &e) != SQLITE_OK) {
			snprintf(err, errlen, "%s", e ? e : "sqlite error");
			sqlite3_free(e);
			return -1;
		}
		return 0;
	}
	sqlite3_stmt *st = prepared(db, sql);
	if (!st || bind_all(st, n, params)) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db->lite));
		if (st)
			release(db, st);
		return -1;
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int nc = sqlite3_column_count(st);
		const char *cols[16];
		for (int c = 0; fn && c < nc && c < 16; c++)
			cols[c] = (const char *)sqlite3_column_text(st, c);
		if (fn)
			fn(cols, nc < 16 ? nc : 16, arg);
	}
	long rows = rc == SQLITE_DONE ? sqlite3_changes(db->lite) : -1;
	if (rows < 0)
		snprintf(err, errlen, "%s", sqlite3_errmsg(db->lite));
	sqlite3_reset(st);
	release(db, st);
	return rows;
}

int db_is_pg(const struct db *db)
{
	return db->pg != NULL;
}

/* Append a COPY text value: backslash, tab, newline and return escaped. */
static size_t copy_text(char *o, const char *v)
{
	size_t n = 0;
	for (; *v; v++) {
		switch (*v) {
		case '\\': o[n++] = '\\'; o[n++] = '\\'; break;
		case '\t': o[n++] = '\\'; o[n++] = 't'; break;
		case '\n': o[n++] = '\\'; o[n++] = 'n'; break;
		case '\r': o[n++] = '\\'; o[n++] = 'r'; break;
		default: o[n++] = *v;
		}
	}
	return n;
}

long db_copy(struct db *db, const char *target, int ncols, size_t nrows, char *const *vals,
	     char *err, size_t errlen)
{
	if (!db->pg) {
		snprintf(err, errlen, "COPY is PostgreSQL's");
		return -1;
	}
	size_t cap = 0;
	for (size_t i = 0; i < nrows * (size_t)ncols; i++)
		cap += (vals[i] ? 2 * strlen(vals[i]) : 2) + 1;
	char *buf = malloc(cap + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t o = 0;
	for (size_t r = 0; r < nrows; r++)
		for (int c = 0; c < ncols; c++) {
			const char *v = vals[r * (size_t)ncols + (size_t)c];
			if (v) {
				o += copy_text(buf + o, v);
			} else {
				buf[o++] = '\\';
				buf[o++] = 'N';
			}
			buf[o++] = c + 1 < ncols ? '\t' : '\n';
		}
	char sql[1024];
	snprintf(sql, sizeof(sql), "COPY %s FROM STDIN", target);
	PGresult *res = PQexec(db->pg, sql);
	long rc = -1;
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		snprintf(err, errlen, "%s", PQresultErrorMessage(res));
		PQclear(res);
		free(buf);
		return -1;
	}
	PQclear(res);
	int ok = PQputCopyData(db->pg, buf, (int)o) == 1 && PQputCopyEnd(db->pg, NULL) == 1;
	free(buf);
	while ((res = PQgetResult(db->pg))) {
		if (PQresultStatus(res) == PGRES_COMMAND_OK && ok)
			rc = (long)nrows;
		else
			snprintf(err, errlen, "%s", PQresultErrorMessage(res));
		PQclear(res);
	}
	return rc;
}

long long db_scalar(struct db *db, const char *sql, int n, const char *const *params)
{
	long long v = -1;
	if (db->pg) {
		PGresult *r = PQexecParams(db->pg, sql, n, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
			v = atoll(PQgetvalue(r, 0, 0));
		PQclear(r);
		return v;
	}
	sqlite3_stmt *st = prepared(db, sql);
	if (!st || bind_all(st, n, params))
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	release(db, st);
	return v;
}
