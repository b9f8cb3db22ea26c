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

/* 1: a byte a JSON string cannot hold as it is (a quote, a backslash, a
 * control character), or the end of a C string */
static const uint8_t esc[256] = {
	[0 ... 0x1f] = 1,
	['"'] = 1,
	['\\'] = 1,
};

static void string(struct qp_jw *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	put(w, '"');
	/* the runs between bytes to escape copied whole (a byte at a time was
	 * 9 instructions a byte, a flow's addresses most of them) */
	for (const unsigned char *p = (const unsigned char *)s;;) {
		const unsigned char *q = p;
		while (!esc[*q])
			q++;
		if (q > p)
			qp_jw_raw(w, (const char *)p, (size_t)(q - p));
		unsigned char c = *q;
		if (!c)
			break;
		if (c == '"' || c == '\\') {
			put(w, '\\');
			put(w, (char)c);
		} else {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			qp_jw_raw(w, e, sizeof(e));
		}
		p = q + 1;
	}
	put(w, '"');
}

void qp_jw_key_any(struct qp_jw *w, const char *k)
{
	value(w);
	string(w, k);
	put(w, ':');
	w->more[w->depth] = 2; /* the value after a key takes no comma */
}

/* the two digits of 0 .. 99 */
static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
			       "25262728293031323334353637383940414243444546474849"
			       "50515253545556575859606162636465666768697071727374"
			       "75767778798081828384858687888990919293949596979899";

void qp_jw_int(struct qp_jw *w, int64_t v)
{
	/* two digits a step, straight into the buffer (a byte at a time
	 * through qp_jw_raw: 100 instructions a number, a nanosecond time 230) */
	if (w->n + 22 > sizeof(w->b))
		qp_jw_flush(w);
	char *o = w->b + w->n;
	uint8_t *more = &w->more[w->depth];
	if (*more == 1)
		*o++ = ',';
	*more = 1;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	if (v < 0)
		*o++ = '-';
	/* the digits end at d[20]; twenty bytes from the first are copied,
	 * a fixed length (the buffer has room for them, d for the read) */
	char d[40];
	int i = 20;
	while (u >= 100) {
		unsigned int r = (unsigned int)(u % 100);
		u /= 100;
		i -= 2;
		d[i] = pairs[2 * r];
		d[i + 1] = pairs[2 * r + 1];
	}
	if (u >= 10) {
		i -= 2;
		d[i] = pairs[2 * u];
		d[i + 1] = pairs[2 * u + 1];
	} else {
		d[--i] = (char)('0' + u);
	}
	memcpy(o, d + i, 20);
	w->n = (size_t)(o - w->b) + 20 - (size_t)i;
}

/*
 * What snprintf's "%.10g" writes for v, without it, when v is 0 or its
 * magnitude is in [1e-4, 1e10) and its tenth significant digit is plain
 * (snprintf took 1,000 instructions a number, a third of the report's):
 * the length written to d, or 0 to ask snprintf. v scaled by a power of
 * ten (exact up to 1e13) to ten digits before the point is off the exact
 * product by 1e-6 at most: a fraction within 1e-5 of a half is left to
 * snprintf, any other rounds the same.
 */
/* qp_jw_g10(); json: a number without a fraction gets ".0", as in qp_jw_real() */
static inline __attribute__((always_inline)) int g10(double v, char d[32], int json)
{
	/* 10^k at p10[k + 4], k = -4 .. 13 (1e-4 .. 1e-1 as the literals
	 * round them, which 1.0 / 10^k rounds to as well) */
	static const double p10[] = {1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1,	1e2,  1e3,  1e4,
				     1e5,  1e6,	 1e7,  1e8,  1e9, 1e10, 1e11, 1e12, 1e13};
#define P10(k) p10[(k) + 4]
	int n = 0;
	if (v == 0) {
		if (signbit(v))
			return 0;
		memcpy(d, "0.0", 4);
		if (json)
			return 3;
		d[1] = 0;
		return 1;
	}
	double a = v;
	if (v < 0) {
		a = -v;
		d[n++] = '-';
	}
	if (!(a >= 1e-4 && a < 1e10))
		return 0;
	/* the decimal exponent e: the largest with 10^e <= a. From the binary
	 * one b (2^b <= a < 2^(b+1)): floor(b log10 2) is e or e - 1 (a span
	 * of 0.301 decades), and 10^that is below a by 2 % at least, far
	 * beyond any rounding of the table (a loop down from 10^9 was a
	 * quarter of the report's instructions) */
	uint64_t bits;
	memcpy(&bits, &a, sizeof(bits));
	int b = (int)(bits >> 52) - 1023; /* a normal number here */
	int e = (b * 1233) >> 12;	  /* floor(b log10 2) for |b| < 100 */
	if (e < -4)
		e = -4;
	if (a >= P10(e + 1))
		e++;
	double s = a * P10(9 - e);
	if (s < 1e9) { /* 1e-4 .. 1e-1 are not exact: one step more */
		if (e == -4)
			return 0;
		e--;
		s = a * P10(9 - e);
	}
	if (s >= 1e10)
		return 0;
	uint64_t dg = (uint64_t)s;
	double frac = s - (double)dg;
	if (frac > 0.5 - 1e-5 && frac < 0.5 + 1e-5)
		return 0;
	if (frac > 0.5)
		dg++;
	if (dg == 10000000000ull) { /* rounded up to the next power of ten */
		dg = 1000000000ull;
		if (++e == 10)
			return 0;
	}
	/* ten digits, two a step, in two halves of five (32-bit divisions);
	 * ten more bytes that a copy of fixed length may read past them */
	char t[20];
	memset(t + 10, '0', 10);
	uint32_t hl[2] = {(uint32_t)(dg / 100000), (uint32_t)(dg % 100000)};
	for (int h = 0; h < 2; h++) {
		uint32_t x = hl[h];
		char *o = t + 5 * h;
		uint32_t r = x % 100;
		x /= 100;
		memcpy(o + 3, pairs + 2 * r, 2);
		r = x % 100;
		x /= 100;
		memcpy(o + 1, pairs + 2 * r, 2);
		o[0] = (char)('0' + x);
	}
#undef P10
	int last = 9; /* the last significant digit kept: trailing zeros go */
	while (last > 0 && t[last] == '0')
		last--;
	/* the digits copied ten at a time, a fixed length (what follows them
	 * is written over, or left past the end): d has room */
	if (e >= 0) {
		memcpy(d + n, t, 10);
		n += e + 1;
		if (last > e) {
			d[n++] = '.';
			memcpy(d + n, t + e + 1, 9);
			n += last - e;
		} else if (json) {
			d[n++] = '.';
			d[n++] = '0';
		}
	} else {
		memcpy(d + n, "0.0000", 6);
		n += 1 - e;
		memcpy(d + n, t, 10);
		n += last + 1;
	}
	d[n] = 0;
	return n;
}

int qp_jw_g10(double v, char d[32])
{
	return g10(v, d, 0);
}

void qp_jw_real(struct qp_jw *w, double v)
{
	if (!isfinite(v)) {
		qp_jw_null(w); /* JSON has no such number */
		return;
	}
	value(w);
	char d[40];
	int len = g10(v, d, 1);
	if (len) { /* no exponent, and a fraction */
		qp_jw_raw(w, d, (size_t)len);
		return;
	}
	len = snprintf(d, sizeof(d), "%.10g", v);
	if (len < 0 || (size_t)len >= sizeof(d) - 2) {
		w->err = 1;
		return;
	}
	/* as jansson's jsonp_dtostr: a real that reads as an integer gets
	 * ".0"; an exponent loses its '+' and leading zeros */
	char *e = memchr(d, 'e', (size_t)len);
	if (!e && !memchr(d, '.', (size_t)len)) {
		d[len++] = '.';
		d[len++] = '0';
		d[len] = 0;
	}
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

int qp_jw_mem_sink(const char *buf, size_t len, void *arg)
{
	struct qp_jw_mem *m = arg;
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
	struct qp_jw_mem m = {NULL, 0, 0};
	qp_jw_init(w, qp_jw_mem_sink, &m);
	write(w, arg);
	json_t *j = NULL;
	if (qp_jw_flush(w) == 0 && m.p)
		j = json_loadb(m.p, m.n, 0, NULL);
	free(w);
	free(m.p);
	return j;
}
