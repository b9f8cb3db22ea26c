/*
 * qp_clock: see qp_clock.h. Management core only, but for qp_clock_ns()
 * (any thread, on a published mapping).
 */
#include "qp_clock.h"

#include <cpuid.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>

#define READS 5                   /* reads per anchor, the tightest kept */
#define LEAD_NS 1000000ULL        /* a new segment starts this far after its anchor */
#define SLEW_TC_NS 2000000000ULL  /* an offset is slewed out over about this long */
#define CALIB_PERIOD_NS 100000000ULL /* anchors while the window fills */
#define PERIOD_NS 1000000000ULL
#define CALIB_ANCHORS 8           /* anchors at CALIB_PERIOD_NS before PERIOD_NS */
/* REALTIME - MONOTONIC_RAW moves by at most NTP's slew between anchors; more is a step */
#define STEP_PPM 1000
#define STEP_MIN_NS 20000
/* anchors worse than this cannot discipline the clock */
#define NOISY_RESIDUAL_NS 50000
#define NOISY_STDERR_PPM 10.0

struct anchor {
	uint64_t tsc, raw, real;
};

struct qp_clock_disc {
	struct qp_clock_src src;
	double nominal_hz;
	int invariant;
	struct anchor win[QP_CLOCK_WINDOW]; /* ring of the latest anchors */
	uint32_t n, head;                   /* anchors held; next slot */
	double ns_per_tick;                 /* raw ns per tick: the fit */
	double real_rate;                   /* REALTIME ns per raw ns */
	struct qp_clock cur;                /* the mapping in force (a copy) */
	int have_cur;
	struct qp_clock_status st;
};

static uint64_t ts_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t qp_clock_realtime_ns(void)
{
	return ts_ns(CLOCK_REALTIME);
}

static uint64_t (*sys_tsc)(void);
static uint64_t src_tsc(void *arg)
{
	(void)arg;
	return sys_tsc();
}
static uint64_t src_raw(void *arg)
{
	(void)arg;
	return ts_ns(CLOCK_MONOTONIC_RAW);
}
static uint64_t src_real(void *arg)
{
	(void)arg;
	return ts_ns(CLOCK_REALTIME);
}

struct qp_clock_src qp_clock_system_src(uint64_t (*read_tsc)(void))
{
	sys_tsc = read_tsc;
	return (struct qp_clock_src){src_tsc, src_raw, src_real, NULL};
}

int qp_clock_tsc_invariant(void)
{
	unsigned int a, b, c, d;
	if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000007)
		return 0;
	__get_cpuid(0x80000007, &a, &b, &c, &d);
	return (d >> 8) & 1;
}

/*
 * One anchor: the counter read between two reads of each system clock, in
 * mirrored order (raw, real, counter, real, raw), so both clocks' midpoints
 * fall on the counter's read whatever it costs (a NIC clock read crosses
 * PCIe: 0.5 to 1 us; reading the counter on both sides of the clocks instead
 * put REALTIME half a read late). The tightest of READS.
 */
static struct anchor take(const struct qp_clock_src *s)
{
	struct anchor best = {0, 0, 0};
	uint64_t best_span = UINT64_MAX;
	for (int i = 0; i < READS; i++) {
		uint64_t raw1 = s->raw_ns(s->arg);
		uint64_t real1 = s->real_ns(s->arg);
		uint64_t c = s->tsc(s->arg);
		uint64_t real2 = s->real_ns(s->arg);
		uint64_t raw2 = s->raw_ns(s->arg);
		/* raw going back (a noisy source) still gives an anchor, the worst */
		uint64_t span = raw2 >= raw1 ? raw2 - raw1 : UINT64_MAX - 1;
		if (span < best_span) {
			best_span = span;
			best = (struct anchor){c, raw1 + (uint64_t)((int64_t)(raw2 - raw1) / 2),
					       real1 + (uint64_t)((int64_t)(real2 - real1) / 2)};
		}
	}
	return best;
}

/* Least squares of raw ns on TSC over the window: slope, its error, largest residual. */
static void fit(struct qp_clock_disc *d)
{
	if (d->n < 2)
		return;
	const struct anchor *o = &d->win[(d->head + QP_CLOCK_WINDOW - d->n) % QP_CLOCK_WINDOW];
	long double sx = 0, sy = 0, sxx = 0, sxy = 0;
	for (uint32_t i = 0; i < d->n; i++) {
		const struct anchor *a = &d->win[(d->head + QP_CLOCK_WINDOW - d->n + i) % QP_CLOCK_WINDOW];
		long double x = (long double)(int64_t)(a->tsc - o->tsc);
		long double y = (long double)(int64_t)(a->raw - o->raw);
		sx += x;
		sy += y;
		sxx += x * x;
		sxy += x * y;
	}
	long double n = d->n;
	long double vxx = sxx - sx * sx / n;
	if (vxx <= 0)
		return;
	long double slope = (sxy - sx * sy / n) / vxx;
	long double icpt = (sy - slope * sx) / n;
	long double ssr = 0, maxr = 0;
	for (uint32_t i = 0; i < d->n; i++) {
		const struct anchor *a = &d->win[(d->head + QP_CLOCK_WINDOW - d->n + i) % QP_CLOCK_WINDOW];
		long double x = (long double)(int64_t)(a->tsc - o->tsc);
		long double r = (long double)(int64_t)(a->raw - o->raw) - (slope * x + icpt);
		ssr += r * r;
		if (fabsl(r) > maxr)
			maxr = fabsl(r);
	}
	if (slope <= 0)
		return;
	d->ns_per_tick = (double)slope;
	d->st.hz = 1e9 / (double)slope;
	d->st.nominal_err_ppm = (d->nominal_hz - d->st.hz) / d->st.hz * 1e6;
	d->st.hz_stderr_ppm =
		d->n > 2 ? (double)(sqrtl(ssr / (n - 2) / vxx) / slope * 1e6) : 0;
	d->st.max_residual_ns = (int64_t)llroundl(maxr);
}

struct qp_clock_disc *qp_clock_disc_create(const struct qp_clock_src *src, double nominal_hz,
					   uint64_t calib_ns, int invariant)
{
	if (!src || !src->tsc || !src->raw_ns || !src->real_ns || !(nominal_hz > 0)) {
		errno = EINVAL;
		return NULL;
	}
	struct qp_clock_disc *d = calloc(1, sizeof(*d));
	if (!d) {
		errno = ENOMEM;
		return NULL;
	}
	d->src = *src;
	d->nominal_hz = nominal_hz;
	d->invariant = invariant;
	d->ns_per_tick = 1e9 / nominal_hz;
	d->real_rate = 1.0;
	d->st.nominal_hz = nominal_hz;
	d->st.hz = nominal_hz;
	d->st.state = "calibrating";
	d->st.reason = invariant ? "" : "the TSC is not invariant";
	/* the first two anchors: a rate before the first mapping */
	struct anchor a = take(&d->src);
	d->win[d->head++] = a;
	d->n = 1;
	if (calib_ns) {
		struct timespec t = {(time_t)(calib_ns / 1000000000ULL), (long)(calib_ns % 1000000000ULL)};
		nanosleep(&t, NULL);
	}
	return d;
}

void qp_clock_disc_destroy(struct qp_clock_disc *d)
{
	free(d);
}

const struct qp_clock *qp_clock_disc_current(const struct qp_clock_disc *d)
{
	return d->have_cur ? &d->cur : NULL;
}

uint64_t qp_clock_disc_period_ns(const struct qp_clock_disc *d)
{
	return d->st.updates < CALIB_ANCHORS ? CALIB_PERIOD_NS : PERIOD_NS;
}

static uint64_t mult_of(double ns_per_tick)
{
	return (uint64_t)llround(ns_per_tick * (double)(1ULL << QP_CLOCK_SHIFT));
}

struct qp_clock *qp_clock_disc_update(struct qp_clock_disc *d, int measuring,
				      struct qp_clock_event *ev)
{
	struct qp_clock_event e = {0, 0, 0, 0};
	struct qp_clock *c = calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	struct anchor a = take(&d->src);
	/* the anchor before: the window's newest (create puts the first one there) */
	const struct anchor *prev = &d->win[(d->head + QP_CLOCK_WINDOW - 1) % QP_CLOCK_WINDOW];
	/* REALTIME - MONOTONIC_RAW: drifts as NTP steers, jumps when it steps */
	int64_t doff = (int64_t)(a.real - a.raw) - (int64_t)(prev->real - prev->raw);
	uint64_t draw = a.raw - prev->raw;
	double allowed = (double)draw * STEP_PPM / 1e6 + STEP_MIN_NS;
	if (fabs((double)doff) > allowed) {
		e.stepped = 1;
		e.step_ns = doff;
		d->st.steps++;
		d->st.last_step_ns = doff;
	} else if (draw > 0 && d->st.updates >= 1) {
		/* REALTIME's rate, smoothed: the servo's feed-forward */
		double r = 1.0 + (double)doff / (double)draw;
		d->real_rate = d->st.updates < 2 ? r : d->real_rate + (r - d->real_rate) / 8;
	}
	d->st.realtime_ppm = (d->real_rate - 1.0) * 1e6;
	d->win[d->head] = a;
	d->head = (d->head + 1) % QP_CLOCK_WINDOW;
	if (d->n < QP_CLOCK_WINDOW)
		d->n++;
	fit(d);
	d->st.anchors = d->n;
	d->st.updates++;

	/* the next segment: real ns per tick, corrected towards REALTIME */
	double rate = d->ns_per_tick * d->real_rate;
	uint64_t lead = (uint64_t)((double)LEAD_NS / rate);
	uint64_t tsc0 = a.tsc + lead;
	int64_t off = d->have_cur ? (int64_t)(a.real - qp_clock_ns(&d->cur, a.tsc)) : 0;
	double slew = 0;
	uint64_t ns0;
	if (!d->have_cur || !measuring) {
		/* nothing is measured: take real time as it is */
		ns0 = a.real + LEAD_NS;
		e.applied = d->have_cur && (off > 1000 || off < -1000);
	} else {
		ns0 = qp_clock_ns(&d->cur, tsc0);
		/* the offset the new segment must make up, from its start */
		int64_t off0 = (int64_t)(a.real + LEAD_NS) - (int64_t)ns0;
		slew = (double)off0 / (double)SLEW_TC_NS;
		double lim = QP_CLOCK_MAX_SLEW_PPM / 1e6;
		if (slew > lim)
			slew = lim;
		if (slew < -lim)
			slew = -lim;
	}
	d->st.offset_ns = off;
	d->st.slew_ppm = slew * 1e6;
	if (d->have_cur && measuring && tsc0 >= d->cur.tsc0) {
		/* the segment before is the one in force at the anchor: they meet at tsc0 */
		c->prev_tsc0 = d->cur.tsc0;
		c->prev_ns0 = d->cur.ns0;
		c->prev_mult = d->cur.mult;
	} else {
		/* the first mapping, or nothing is measured: this anchor's line */
		c->prev_tsc0 = a.tsc;
		c->prev_ns0 = a.real;
		c->prev_mult = mult_of(rate);
	}
	c->tsc0 = tsc0;
	c->ns0 = ns0;
	c->mult = mult_of(rate * (1.0 + slew));
	if (d->have_cur && measuring) {
		/* what a worker still on the mapping in force and one on the new
		 * one stamp for the same TSC value where they switch */
		uint64_t x = qp_clock_ns(c, tsc0), y = qp_clock_ns(&d->cur, tsc0);
		int64_t j = x > y ? (int64_t)(x - y) : (int64_t)(y - x);
		if (j > d->st.max_step_ns)
			d->st.max_step_ns = j;
	}

	const char *was = d->st.state;
	if (!d->invariant) {
		d->st.state = "undisciplined";
		d->st.reason = "the TSC is not invariant";
	} else if (d->n >= 4 && (d->st.max_residual_ns > NOISY_RESIDUAL_NS ||
				 d->st.hz_stderr_ppm > NOISY_STDERR_PPM)) {
		d->st.state = "undisciplined";
		d->st.reason = "anchors too noisy";
	} else if (d->n >= 4) {
		d->st.state = "disciplined";
		d->st.reason = "";
	}
	e.became_undisciplined = strcmp(d->st.state, "undisciplined") == 0 && strcmp(was, d->st.state) != 0;
	c->st = d->st;
	d->cur = *c;
	d->have_cur = 1;
	if (ev)
		*ev = e;
	return c;
}

const char *qp_clock_sync_state(uint32_t *err_us)
{
	struct timex tx;
	memset(&tx, 0, sizeof(tx));
	int st = adjtimex(&tx);
	*err_us = (uint32_t)(tx.esterror > 0 ? tx.esterror : 0);
	if (st < 0)
		return "unknown";
	return (st == TIME_ERROR || (tx.status & STA_UNSYNC)) ? "unsynchronised" : "synchronised";
}
