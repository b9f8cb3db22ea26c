/*
 * qp_clock: see qp_clock.h. The anchor reads the TSC on both sides of
 * clock_gettime and keeps the middle, which bounds the anchor's own error
 * by half the read time.
 */
#include "qp_clock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>

#define SHIFT 32

uint64_t qp_clock_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct qp_clock *qp_clock_anchor(uint64_t tsc_hz, uint64_t (*read_tsc)(void))
{
	if (tsc_hz == 0) {
		errno = EINVAL;
		return NULL;
	}
	struct qp_clock *c = calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	uint64_t t1 = read_tsc();
	uint64_t ns = qp_clock_realtime_ns();
	uint64_t t2 = read_tsc();
	c->tsc0 = t1 + (t2 - t1) / 2;
	c->ns0 = ns;
	c->shift = SHIFT;
	c->mult = (uint64_t)(((unsigned __int128)1000000000ULL << SHIFT) / tsc_hz);
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
