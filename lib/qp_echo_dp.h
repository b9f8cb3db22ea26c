/*
 * qp_echo_dp: per-flow figures of UDP and ICMP flows that need no protocol
 * analysis: inter-arrival times per direction, and the ICMP echo RTT (an
 * echo request to the reply with the same identifier and sequence number,
 * ICMP types 8/0 and ICMPv6 128/129).
 *
 * Thread-safety: lives inside struct qp_flow; written by its worker only.
 */
#ifndef QP_ECHO_DP_H
#define QP_ECHO_DP_H

#include <stdint.h>

#include "qp_hist.h"
#include "qp_parse_dp.h"

/* inter-arrival times of one direction */
struct qp_iat {
	uint64_t last_ns; /* 0: no packet yet */
	struct qp_stat s;
};

/** Account a packet's arrival; timestamps going back give no sample. */
static inline __attribute__((always_inline)) void qp_iat_add(struct qp_iat *a, uint64_t ts)
{
	if (a->last_ns && ts >= a->last_ns)
		qp_stat_add(&a->s, ts - a->last_ns);
	if (ts >= a->last_ns)
		a->last_ns = ts;
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
