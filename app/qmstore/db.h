/*
 * db: the two stores of qmstore behind one small interface: SQLite (a file,
 * embedded) and PostgreSQL (libpq). SQL is written once with $1..$n
 * parameters, passed as text; both engines take that.
 *
 * Thread-safety: one thread per handle.
 */
#ifndef QMSTORE_DB_H
#define QMSTORE_DB_H

#include <stddef.h>

struct db;

/** Open a SQLite file (created when missing). NULL with a message in err. */
struct db *db_open_sqlite(const char *path, char *err, size_t errlen);
/** Connect to PostgreSQL with a libpq connection string. NULL with a message in err. */
struct db *db_open_pg(const char *conninfo, char *err, size_t errlen);
void db_close(struct db *db);

/**
 * Run one statement with n text parameters (NULL: SQL NULL).
 * @return rows changed (>= 0), or -1 with the engine's message in err.
 */
long db_exec(struct db *db, const char *sql, int n, const char *const *params, char *err,
	     size_t errlen);

/* One row a statement returns: its columns as text (NULL: SQL NULL), valid during the call. */
typedef void db_row_fn(const char *const *cols, int ncols, void *arg);

/**
 * db_exec() for a statement that returns rows (INSERT ... RETURNING): fn is
 * called for each (at most 16 columns). @return rows changed, or -1 as db_exec.
 */
long db_exec_rows(struct db *db, const char *sql, int n, const char *const *params,
		  db_row_fn *fn, void *arg, char *err, size_t errlen);

/** 1 for PostgreSQL, 0 for SQLite. */
int db_is_pg(const struct db *db);

/**
 * PostgreSQL: nrows rows of ncols text values (NULL: SQL NULL) into target
 * ("table (col, ...)") with COPY, no statement to parse or plan; no ON
 * CONFLICT either, so only for rows that cannot exist yet.
 * @return rows copied, or -1 with the server's message in err.
 */
long db_copy(struct db *db, const char *target, int ncols, size_t nrows, char *const *vals,
	     char *err, size_t errlen);

/** One integer from a query (first column of the first row); -1 when none or on error. */
long long db_scalar(struct db *db, const char *sql, int n, const char *const *params);

#endif
