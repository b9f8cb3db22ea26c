/*
 * qp_jw: a streaming JSON writer. Values go straight into a buffer that is
 * handed to a sink when it fills: no tree of objects, no allocation per
 * value. For records written by the thousand (the report's flows); numbers
 * print as jansson prints them with JSON_REAL_PRECISION(10), so a document
 * reads back the same whichever way it was written.
 *
 * Thread-safety: one writer per thread.
 */
#ifndef QP_JW_H
#define QP_JW_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define QP_JW_DEPTH 16

/* Takes len bytes of output; returns 0, or nonzero to fail the writer. */
typedef int qp_jw_sink(const char *buf, size_t len, void *arg);

struct qp_jw {
	qp_jw_sink *sink;
	void *arg;
	int err;
	int depth;
	uint8_t more[QP_JW_DEPTH]; /* a value was written at this depth: a comma before the next */
	size_t n;
	char b[1 << 16];
};

/** Start a writer (no output yet). */
void qp_jw_init(struct qp_jw *w, qp_jw_sink *sink, void *arg);

/** Hand what is buffered to the sink. @return 0, or -1 if the writer failed. */
int qp_jw_flush(struct qp_jw *w);

/** Raw text, as it is (a separator between documents, say). */
void qp_jw_raw(struct qp_jw *w, const char *s, size_t len);

void qp_jw_obj(struct qp_jw *w);    /* { */
void qp_jw_arr(struct qp_jw *w);    /* [ */
void qp_jw_end_obj(struct qp_jw *w); /* } */
void qp_jw_end_arr(struct qp_jw *w); /* ] */

/** The key of the next value, inside an object, escaped as it needs. */
void qp_jw_key_any(struct qp_jw *w, const char *k);

/**
 * The key of the next value, inside an object. A key the compiler knows
 * (a literal: the program's keys are identifiers, nothing to escape) goes
 * into the buffer as it is, inline (a call a byte: a sixth of the report's
 * instructions); any other as qp_jw_key_any().
 */
static inline __attribute__((always_inline)) void qp_jw_key(struct qp_jw *w, const char *k)
{
	size_t len = __builtin_strlen(k);
	if (__builtin_constant_p(len) && len <= 64 && w->n + len + 4 <= sizeof(w->b)) {
		char *o = w->b + w->n;
		uint8_t *more = &w->more[w->depth];
		if (*more == 1)
			*o++ = ',';
		*o++ = '"';
		__builtin_memcpy(o, k, len);
		o += len;
		*o++ = '"';
		*o++ = ':';
		*more = 2; /* the value after a key takes no comma */
		w->n = (size_t)(o - w->b);
		return;
	}
	qp_jw_key_any(w, k);
}

void qp_jw_int(struct qp_jw *w, int64_t v);
void qp_jw_real(struct qp_jw *w, double v); /* as jansson: %.10g, ".0" when it reads as an integer; null when not finite */

/** What snprintf(d, 32, "%.10g", v) writes, when it can be told without it:
 * its length, or 0 (d then undefined). */
int qp_jw_g10(double v, char d[32]);
void qp_jw_str(struct qp_jw *w, const char *s);
void qp_jw_null(struct qp_jw *w);
void qp_jw_bool(struct qp_jw *w, int v);
void qp_jw_json(struct qp_jw *w, const json_t *j); /* a jansson value, compact */

/* key and value at once */
static inline __attribute__((always_inline)) void qp_jw_kint(struct qp_jw *w, const char *k, int64_t v)
{
	qp_jw_key(w, k);
	qp_jw_int(w, v);
}

/* a real that is not finite leaves its key out, as jansson's json_real() refuses it */
static inline __attribute__((always_inline)) void qp_jw_kreal(struct qp_jw *w, const char *k, double v)
{
	if (__builtin_isfinite(v)) {
		qp_jw_key(w, k);
		qp_jw_real(w, v);
	}
}

static inline __attribute__((always_inline)) void qp_jw_kbool(struct qp_jw *w, const char *k, int v)
{
	qp_jw_key(w, k);
	qp_jw_bool(w, v);
}

static inline __attribute__((always_inline)) void qp_jw_kstr(struct qp_jw *w, const char *k, const char *s)
{
	qp_jw_key(w, k);
	qp_jw_str(w, s);
}

/* Memory a writer's output grows in (qp_jw_mem_sink): p[0 .. n). */
struct qp_jw_mem {
	char *p;
	size_t n, cap;
};

/** A sink appending to a struct qp_jw_mem (arg), grown as it needs; -1 without memory. */
int qp_jw_mem_sink(const char *buf, size_t len, void *arg);

/** A writer's document read back as a jansson value (for callers that want one). */
json_t *qp_jw_to_json(void (*write)(struct qp_jw *w, const void *arg), const void *arg);

#endif
