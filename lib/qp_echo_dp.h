/*
 * qp_echo_dp: per-flow figures of UDP and ICMP flows that need no protocol
 * analysis: inter-arrival times per direction, and the ICMP echo RTT (an
 * echo request to the reply with the same identifier and sequence number,
 * ICMP types 8/0 and ICMPv6 128/129).
 *
 * Thread-safety: lives inside struct qp_flow (inter-arrival) or its cold
 * block (echo); written by its worker only.
 */
#ifndef QP_ECHO_DP_H
#define QP_ECHO_DP_H

#include <stdint.h>
#include <string.h>

#include "qp_hist.h"
#include "qp_parse_dp.h"

/*
 * Inter-arrival times of a flow's two directions ([0] fwd), in the flow's
 * third cache line beside nothing else. Minimum and maximum take 32 bits
 * each: exact to the nanosecond below 2^31 ns (2.1 s), to the microsecond
 * above (up to 35 minutes: longer gaps end the flow on its idle timeout
 * first); the sum and the count are exact, so the mean is.
 */
struct qp_iat {
	uint64_t last_ns[2]; /* 0: no packet yet */
	uint64_t sum[2];
	uint32_t n[2];
	uint32_t min[2], max[2]; /* qp_iat_enc() */
};
_Static_assert(sizeof(struct qp_iat) == 56, "both directions' inter-arrival times in one line");

#define QP_IAT_US QP_NS32_US /* an encoded value in microseconds */

/** A gap as the minimum and maximum keep it (qp_ns32_enc). */
static inline uint32_t qp_iat_enc(uint64_t ns)
{
	return qp_ns32_enc(ns);
}

static inline uint64_t qp_iat_dec(uint32_t v)
{
	return qp_ns32_dec(v);
}

/** Account a packet's arrival in direction dir; timestamps going back give no sample. */
static inline __attribute__((always_inline)) void qp_iat_add(struct qp_iat *a, unsigned int dir,
							     uint64_t ts)
{
	uint64_t last = a->last_ns[dir];
	if (ts < last)
		return;
	a->last_ns[dir] = ts;
	if (!last)
		return;
	uint32_t e = qp_iat_enc(ts - last);
	if (a->n[dir] == 0 || e < a->min[dir])
		a->min[dir] = e;
	if (e > a->max[dir])
		a->max[dir] = e;
	a->n[dir]++;
	a->sum[dir] += ts - last;
}

/** One direction's samples as a qp_stat (a reader may see them between two updates). */
static inline void qp_iat_stat(const struct qp_iat *a, unsigned int dir, struct qp_stat *s)
{
	s->n = a->n[dir];
	s->sum = a->sum[dir];
	s->min = qp_iat_dec(a->min[dir]);
	s->max = qp_iat_dec(a->max[dir]);
}

/** Start a new record: no sample yet, the arrival times kept. */
static inline void qp_iat_restart(struct qp_iat *a)
{
	memset(a->sum, 0, sizeof(a->sum));
	memset(a->n, 0, sizeof(a->n));
	memset(a->min, 0, sizeof(a->min));
	memset(a->max, 0, sizeof(a->max));
}

#define QP_ECHO_OUT 4 /* outstanding echo requests remembered */

struct qp_echo {
	struct {
		uint16_t id, seq;
		uint8_t dir, used;
		uint64_t ns;
	} out[QP_ECHO_OUT];
	uint8_t next; /* slot the next request takes (oldest overwritten) */
	uint32_t requests[2], replies[2];
	struct qp_stat rtt[2]; /* by the direction of the request */
};

/**
 * Account one ICMP/ICMPv6 packet travelling in direction dir.
 * @return 1 and the sample (ns, request direction) when it answers a request
 */
int qp_echo_update(struct qp_echo *e, const struct qp_pkt *pk, unsigned int dir, uint64_t ts,
		   uint64_t *rtt, unsigned int *req_dir);

#endif
