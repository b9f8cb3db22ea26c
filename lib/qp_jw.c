/* qp_jw: see qp_jw.h. */
#include "qp_jw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void qp_jw_init(struct qp_jw *w, qp_jw_sink *sink, void *arg)
{
	w->sink = sink;
	w->arg = arg;
	w->err = 0;
	w->depth = 0;
	w->more[0] = 0;
	w->n = 0;
}

int qp_jw_flush(struct qp_jw *w)
{
	if (w->n && !w->err && w->sink(w->b, w->n, w->arg))
		w->err = 1;
	w->n = 0;
	return w->err ? -1 : 0;
}

void qp_jw_raw(struct qp_jw *w, const char *s, size_t len)
{
	while (len) {
		if (w->n == sizeof(w->b))
			qp_jw_flush(w);
		size_t k = sizeof(w->b) - w->n < len ? sizeof(w->b) - w->n : len;
		memcpy(w->b + w->n, s, k);
		w->n += k;
		s += k;
		len -= k;
	}
}

static inline void put(struct qp_jw *w, char c)
{
	if (w->n == sizeof(w->b))
		qp_jw_flush(w);
	w->b[w->n++] = c;
}

/* Before a value: the comma when one came before at this depth. */
static void value(struct qp_jw *w)
{
	if (w->more[w->depth] == 1)
		put(w, ',');
	w->more[w->depth] = 1;
}

static void open_(struct qp_jw *w, char c)
{
	value(w);
	put(w, c);
	if (w->depth + 1 < QP_JW_DEPTH)
		w->depth++;
	else
		w->err = 1; /* nested deeper than any record here */
	w->more[w->depth] = 0;
}

static void close_(struct qp_jw *w, char c)
{
	put(w, c);
	if (w->depth > 0)
		w->depth--;
}

void qp_jw_obj(struct qp_jw *w) { open_(w, '{'); }
void qp_jw_arr(struct qp_jw *w) { open_(w, '['); }
void qp_jw_end_obj(struct qp_jw *w) { close_(w, '}'); }
void qp_jw_end_arr(struct qp_jw *w) { close_(w, ']'); }

static void string(struct qp_jw *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	put(w, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			put(w, '\\');
			put(w, (char)c);
		} else if (c < 0x20) {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			qp_jw_raw(w, e, sizeof(e));
		} else {
			put(w, (char)c);
		}
	}
	put(w, '"');
}

void qp_jw_key(struct qp_jw *w, const char *k)
{
	value(w);
	string(w, k);
	put(w, ':');
	w->more[w->depth] = 2; /* the value after a key takes no comma */
}

void qp_jw_int(struct qp_jw *w, int64_t v)
{
	value(w);
	char d[24];
	int i = (int)sizeof(d);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		d[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		d[--i] = '-';
	qp_jw_raw(w, d + i, sizeof(d) - (size_t)i);
}

void qp_jw_real(struct qp_jw *w, double v)
{
	if (!isfinite(v)) {
		qp_jw_null(w); /* JSON has no such number */
		return;
	}
	value(w);
	char d[40];
	int len = snprintf(d, sizeof(d), "%.10g", v);
	if (len < 0 || (size_t)len >= sizeof(d) - 2) {
		w->err = 1;
		return;
	}
	/* as jansson's jsonp_dtostr: a real that reads as an integer gets
	 * ".0"; an exponent loses its '+' and leading zeros */
	if (!strchr(d, '.') && !strchr(d, 'e')) {
		d[len++] = '.';
		d[len++] = '0';
		d[len] = 0;
	}
	char *e = strchr(d, 'e');
	if (e) {
		char *start = e + 1, *end = e + 2;
		if (*start == '-')
			start++;
		while (*end == '0')
			end++;
		if (end != start) {
			memmove(start, end, (size_t)(len + 1 - (end - d))); /* the NUL too */
			len -= (int)(end - start);
		}
	}
	qp_jw_raw(w, d, (size_t)len);
}

void qp_jw_str(struct qp_jw *w, const char *s)
{
	value(w);
	string(w, s);
}

void qp_jw_null(struct qp_jw *w)
{
	value(w);
	qp_jw_raw(w, "null", 4);
}

void qp_jw_bool(struct qp_jw *w, int v)
{
	value(w);
	if (v)
		qp_jw_raw(w, "true", 4);
	else
		qp_jw_raw(w, "false", 5);
}

static int jw_dump(const char *buf, size_t len, void *arg)
{
	qp_jw_raw(arg, buf, len);
	return 0;
}

void qp_jw_json(struct qp_jw *w, const json_t *j)
{
	value(w);
	if (json_dump_callback(j, jw_dump, w, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10)))
		w->err = 1;
}

struct mem {
	char *p;
	size_t n, cap;
};

static int mem_sink(const char *buf, size_t len, void *arg)
{
	struct mem *m = arg;
	if (m->n + len + 1 > m->cap) {
		size_t c = (m->n + len + 1) * 2;
		char *p = realloc(m->p, c);
		if (!p)
			return -1;
		m->p = p;
		m->cap = c;
	}
	memcpy(m->p + m->n, buf, len);
	m->n += len;
	return 0;
}

json_t *qp_jw_to_json(void (*write)(struct qp_jw *w, const void *arg), const void *arg)
{
	struct qp_jw *w = malloc(sizeof(*w));
	if (!w)
		return NULL;
	struct mem m = {NULL, 0, 0};
	qp_jw_init(w, mem_sink, &m);
	write(w, arg);
	json_t *j = NULL;
	if (qp_jw_flush(w) == 0 && m.p)
		j = json_loadb(m.p, m.n, 0, NULL);
	free(w);
	free(m.p);
	return j;
}
