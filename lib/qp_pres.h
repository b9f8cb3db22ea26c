/*
 * qp_pres: packet results. For each packet a measurement counts (up to a
 * rate), a record of what the metrics learned from it: its time, flow,
 * direction and size, the TCP RTT sample it gave and its retransmission,
 * out-of-order and duplicate-ACK flags, and for RTP its stream, sequence
 * number, the packets received and expected it added and the jitter
 * estimate after it. A measurement's intervals are made of the same
 * events, so its records add up to its intervals' figures. A two-point
 * measurement records only the packets its signature hash selects (RFC
 * 5475): both points record the same packets, and their rows join on the
 * signature they carry (the one-way delay is the difference of the times).
 *
 * The worker fills a slot of its SPSC ring in place (never waiting: over
 * the rate, or with the ring full, the record is not made and is counted);
 * the management core (or the offline reader) takes them off.
 *
 * Thread-safety: one producer (the worker), one consumer; counters written
 * by the producer and read whole.
 */
#ifndef QP_PRES_H
#define QP_PRES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "qp_parse_dp.h"

#define QP_PRES_RATE_DEFAULT 10000 /* records a second */
#define QP_PRES_RATE_MAX 1000000

/* qp_pres.tcp bits */
#define QP_PRES_TCP 0x01     /* TCP analysis ran */
#define QP_PRES_RETRANS 0x02 /* a retransmission */
#define QP_PRES_OOO 0x04     /* out of order */
#define QP_PRES_DUPACK 0x08  /* a duplicate ACK */

/* qp_pres.rtp bits */
#define QP_PRES_RTP 0x01    /* an RTP packet its stream counted */
#define QP_PRES_JITTER 0x02 /* with a jitter estimate after it */

struct qp_pres {
	uint64_t ts_ns;
	struct qp_flow_key key;
	uint32_t wirelen;
	uint8_t dir;          /* 0: sent by the flow's initiator (fwd), 1 rev */
	uint8_t init_swapped; /* the initiator is the key's endpoint 1 */
	uint8_t tcp;          /* QP_PRES_TCP... */
	int8_t rtt_dir;       /* the direction an RTT sample is of, -1: none */
	uint64_t rtt_ns;
	uint32_t rtp_ssrc;
	uint16_t rtp_seq;
	uint8_t rtp; /* QP_PRES_RTP, QP_PRES_JITTER */
	uint8_t has_sig; /* a two-point measurement's packet: tp_sig is its signature */
	uint32_t rtp_received, rtp_expected; /* what this packet added to its stream's counts */
	uint64_t jitter_ns;                  /* the A.8 estimate after it */
	uint64_t tp_sig; /* two-point: the packet's signature (both points' rows join on it) */
};

struct qp_pres_ring {
	uint32_t mask;
	uint64_t rate;       /* records a second */
	uint64_t tokens;     /* in 1e-9 records */
	uint64_t tok_ns;     /* packet time of the latest refill */
	uint64_t over_rate;  /* producer writes, consumer reads */
	uint64_t ring_full;
	uint64_t tail __attribute__((aligned(64))); /* producer */
	uint64_t head __attribute__((aligned(64))); /* consumer */
	struct qp_pres r[] __attribute__((aligned(64)));
};

/** A ring of n records (a power of two, 16 to 2^20) for rate records a second (1 .. QP_PRES_RATE_MAX; 0: no limit). */
struct qp_pres_ring *qp_pres_ring_create(uint32_t n, uint64_t rate);

/** The slot of the next record at ts (producer), or NULL: over the rate or full (counted). */
static inline struct qp_pres *qp_pres_slot(struct qp_pres_ring *q, uint64_t ts)
{
	if (!q->rate)
		goto room;
	if (ts > q->tok_ns) {
		uint64_t d = ts - q->tok_ns, cap = q->rate * 100000000ULL; /* a tenth of a second */
		if (cap < 1000000000ULL)
			cap = 1000000000ULL;
		uint64_t add = d >= 1000000000ULL ? cap : d * q->rate;
		q->tokens = q->tokens + add > cap ? cap : q->tokens + add;
		q->tok_ns = ts;
	}
	if (q->tokens < 1000000000ULL) {
		__atomic_store_n(&q->over_rate, q->over_rate + 1, __ATOMIC_RELAXED);
		return NULL;
	}
	q->tokens -= 1000000000ULL;
room:;
	uint64_t t = q->tail;
	if (t - __atomic_load_n(&q->head, __ATOMIC_ACQUIRE) > q->mask) {
		__atomic_store_n(&q->ring_full, q->ring_full + 1, __ATOMIC_RELAXED);
		return NULL;
	}
	return &q->r[t & q->mask];
}

/** Publish the slot qp_pres_slot() gave (producer). */
static inline void qp_pres_commit(struct qp_pres_ring *q)
{
	__atomic_store_n(&q->tail, q->tail + 1, __ATOMIC_RELEASE);
}

/** The oldest record (consumer), or NULL. */
static inline const struct qp_pres *qp_pres_peek(struct qp_pres_ring *q)
{
	uint64_t h = q->head;
	return h == __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE) ? NULL : &q->r[h & q->mask];
}

static inline void qp_pres_pop(struct qp_pres_ring *q)
{
	__atomic_store_n(&q->head, q->head + 1, __ATOMIC_RELEASE);
}

/** Records not made: over the rate, and with the ring full (consumer). */
static inline uint64_t qp_pres_dropped(const struct qp_pres_ring *q)
{
	return __atomic_load_n(&q->over_rate, __ATOMIC_RELAXED) +
	       __atomic_load_n(&q->ring_full, __ATOMIC_RELAXED);
}

/* The columns of a record, in the order CSV lines and JSON rows give them. */
#define QP_PRES_COLUMNS                                                                        \
	"ts_ns,src,sport,dst,dport,proto,dir,wire_len,tcp_rtt_ms,tcp_rtt_dir,tcp_retrans,tcp_ooo," \
	"tcp_dup_ack,rtp_ssrc,rtp_seq,rtp_received,rtp_expected,rtp_jitter_ms,tp_sig"

/**
 * A record as a CSV line (QP_PRES_COLUMNS, newline ended; empty fields
 * where the packet gave nothing) into buf. @return its length.
 */
size_t qp_pres_csv(const struct qp_pres *r, char *buf, size_t len);

#endif
