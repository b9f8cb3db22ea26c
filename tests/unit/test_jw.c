/*
 * qp_jw, the streaming JSON writer: numbers print as jansson prints them
 * (so a report reads back the same whichever writer made it), strings are
 * escaped, commas and nesting come out right, and a document reads back as
 * the jansson value it spells.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "qp_jw.h"

static char out[1 << 12];
static size_t nout;

static int sink(const char *b, size_t n, void *arg)
{
	(void)arg;
	cr_assert_lt(nout + n, sizeof(out));
	memcpy(out + nout, b, n);
	nout += n;
	out[nout] = 0;
	return 0;
}

static struct qp_jw w;

/* The next of a fixed sequence of 64-bit numbers (xorshift). */
static uint64_t next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void start(void)
{
	nout = 0;
	out[0] = 0;
	qp_jw_init(&w, sink, NULL);
}

Test(jw, reals_print_as_jansson_prints_them)
{
	static const double v[] = {0.0,     -0.0,       1.0,        -1.0,        0.5,        1e-3,  123.456,
				   1e20,    1.5e-7,     -2.5e+30,    1234567890.0, 12345678901.0,
				   0.1 + 0.2, 3.14159265358979, 1e-300, 990.0, 65536.0 / 3.0};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		start();
		qp_jw_real(&w, v[i]);
		cr_assert_eq(qp_jw_flush(&w), 0);
		json_t *j = json_real(v[i]);
		char *ref = json_dumps(j, JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
		cr_assert_str_eq(out, ref, "%.17g: '%s', jansson '%s'", v[i], out, ref);
		free(ref);
		json_decref(j);
	}
	/* and the report's kinds of numbers, whole ones among them (the
	 * writer's own digits then add ".0" themselves), of both signs; a
	 * fixed seed */
	uint64_t x = 0x2545F4914F6CDD1Dull;
	for (int i = 0; i < 300000; i++) {
		next(&x);
		double r;
		switch (i % 4) {
		case 0:
			r = (double)(x % 10000000000ull) / 1e6; /* nanoseconds in ms */
			break;
		case 1:
			r = (double)(x % 100000); /* whole */
			break;
		case 2:
			r = (double)(x % 1000) * pow(10, (double)((x >> 20) % 14) - 4);
			break;
		default:
			r = (double)(x >> 11) / (double)(1ull << 53) * pow(10, (double)((x >> 3) % 18) - 6);
		}
		if (i & 1)
			r = -r;
		start();
		qp_jw_real(&w, r);
		cr_assert_eq(qp_jw_flush(&w), 0);
		json_t *j = json_real(r);
		char *ref = json_dumps(j, JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
		cr_assert_str_eq(out, ref, "%.17g: '%s', jansson '%s'", r, out, ref);
		free(ref);
		json_decref(j);
	}
	start();
	qp_jw_real(&w, NAN);
	qp_jw_flush(&w);
	cr_assert_str_eq(out, "null", "JSON has no NaN");
}

/* The writer's own digits for a real are snprintf's "%.10g", value for value. */
Test(jw, a_reals_digits_without_snprintf_are_snprintfs)
{
	static const struct {
		double v;
		const char *s; /* NULL: left to snprintf */
	} c[] = {
		{990.0, "990"},
		{0.001, "0.001"},
		{12.345678, "12.345678"},
		{0.00012345, "0.00012345"},
		{-3.25, "-3.25"},
		{1e-4, "0.0001"},
		{9999999999.4, "9999999999"},
		{0.1 + 0.2, "0.3"},
		{65536.0 / 3.0, "21845.33333"},
		{9999999999.6, NULL},  /* rounds to 1e10: an exponent */
		{1234567890.5, NULL},  /* a tie at the eleventh digit */
		{1e-5, NULL},          /* an exponent */
		{-0.0, NULL},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char d[32];
		int n = qp_jw_g10(c[i].v, d);
		if (!c[i].s) {
			cr_assert_eq(n, 0, "%.17g: '%.*s'", c[i].v, n, d);
			continue;
		}
		cr_assert_eq(n, (int)strlen(c[i].s), "%.17g", c[i].v);
		cr_assert_str_eq(d, c[i].s);
	}
	/* the report's kinds of numbers: nanoseconds in ms, their means, and
	 * any value of every decade; a fixed seed */
	uint64_t x = 88172645463325252ull, fast = 0, all = 0;
	for (int i = 0; i < 2000000; i++) {
		next(&x);
		double v;
		switch (i % 4) {
		case 0:
			v = (double)(x % 10000000000ull) / 1e6; /* below 10 s */
			break;
		case 1:
			v = (double)(x % 1000000000000ull) / (double)(1 + (x >> 40) % 1000) / 1e6;
			break;
		case 2:
			v = (double)(x >> 11) / (double)(1ull << 53) * pow(10, (double)((x >> 3) % 18) - 6);
			break;
		default: {
			uint64_t b = x;
			memcpy(&v, &b, 8);
			if (!isfinite(v))
				continue;
		}
		}
		char d[32], ref[40];
		int n = qp_jw_g10(i & 1 ? -v : v, d);
		all += i % 4 < 2;
		if (!n)
			continue;
		fast += i % 4 < 2;
		snprintf(ref, sizeof(ref), "%.10g", i & 1 ? -v : v);
		cr_assert_str_eq(d, ref, "%.17g", i & 1 ? -v : v);
	}
	cr_assert_gt(fast, all * 99 / 100, "milliseconds take the short way: %llu of %llu",
		     (unsigned long long)fast, (unsigned long long)all);
}

Test(jw, integers_strings_and_nesting)
{
	start();
	qp_jw_obj(&w);
	qp_jw_kint(&w, "a", 0);
	qp_jw_kint(&w, "b", -9223372036854775807LL - 1);
	qp_jw_kint(&w, "c", 9223372036854775807LL);
	qp_jw_kstr(&w, "s", "quote \" backslash \\ tab \t bell \a");
	qp_jw_key(&w, "arr");
	qp_jw_arr(&w);
	qp_jw_int(&w, 1);
	qp_jw_obj(&w);
	qp_jw_end_obj(&w);
	qp_jw_null(&w);
	qp_jw_end_arr(&w);
	qp_jw_kreal(&w, "skipped", INFINITY);
	qp_jw_kreal(&w, "r", 2.0);
	qp_jw_end_obj(&w);
	cr_assert_eq(qp_jw_flush(&w), 0);
	cr_assert_str_eq(out, "{\"a\":0,\"b\":-9223372036854775808,\"c\":9223372036854775807,"
			      "\"s\":\"quote \\\" backslash \\\\ tab \\u0009 bell \\u0007\","
			      "\"arr\":[1,{},null],\"r\":2.0}");
	json_error_t e;
	json_t *j = json_loads(out, 0, &e);
	cr_assert_not_null(j, "%s", e.text);
	cr_assert_str_eq(json_string_value(json_object_get(j, "s")),
			 "quote \" backslash \\ tab \t bell \a");
	cr_assert_null(json_object_get(j, "skipped"), "a real that is not finite leaves its key out");
	json_decref(j);
}

/* Integers as printf's %lld writes them, every length of them. */
Test(jw, integers_of_every_length)
{
	int64_t v[64];
	int n = 0;
	for (int64_t p = 1; n < 38; p *= 10) {
		v[n++] = p - 1; /* 0, 9, 99, ... */
		v[n++] = -p;    /* -1, -10, ... */
		if (p > INT64_MAX / 10)
			break;
	}
	v[n++] = INT64_MAX;
	v[n++] = INT64_MIN;
	v[n++] = 1700000000990000000LL;
	for (int i = 0; i < n; i++) {
		start();
		qp_jw_arr(&w);
		qp_jw_int(&w, v[i]);
		qp_jw_int(&w, 7);
		qp_jw_end_arr(&w);
		cr_assert_eq(qp_jw_flush(&w), 0);
		char ref[64];
		snprintf(ref, sizeof(ref), "[%lld,7]", (long long)v[i]);
		cr_assert_str_eq(out, ref);
	}
}

/* A document far larger than the writer's buffer goes out whole, in order. */
static char big[1 << 18];
static size_t nbig;

static int big_sink(const char *b, size_t n, void *arg)
{
	(void)arg;
	cr_assert_lt(nbig + n, sizeof(big));
	memcpy(big + nbig, b, n);
	nbig += n;
	return 0;
}

Test(jw, documents_larger_than_the_buffer)
{
	struct qp_jw *x = malloc(sizeof(*x));
	cr_assert_not_null(x);
	qp_jw_init(x, big_sink, NULL);
	qp_jw_arr(x);
	for (int i = 0; i < 20000; i++)
		qp_jw_int(x, i * 7);
	qp_jw_end_arr(x);
	cr_assert_eq(qp_jw_flush(x), 0);
	free(x);
	cr_assert_gt(nbig, 65536, "more than one buffer's worth");
	json_t *j = json_loadb(big, nbig, 0, NULL);
	cr_assert(json_is_array(j));
	cr_assert_eq(json_array_size(j), 20000);
	for (int i = 0; i < 20000; i += 997)
		cr_assert_eq(json_integer_value(json_array_get(j, (size_t)i)), i * 7);
	json_decref(j);
}
