/*
 * qp_tcp_dp: TCP analysis of one flow, per direction, in the worker's
 * per-packet path: retransmissions, out-of-order segments, duplicate ACKs,
 * zero-window advertisements, resets, and the continuous RTT as seen from
 * the capture point.
 *
 * Definitions follow Wireshark's tcp.analysis where it has one (see
 * docs/metrics.md): a segment that carries sequence space (data, SYN or FIN)
 * below the highest sequence already seen is out-of-order when it comes
 * within the flow's initial RTT (3 ms when unknown) of the segment that
 * advanced the sequence and does not end where that one did, else a
 * retransmission; a keep-alive is neither. A duplicate ACK repeats the last
 * ACK number and window, carries no data and no SYN/FIN/RST.
 *
 * RTT: a flow whose both directions carry TCP timestamps gets one sample per
 * new TSval answered by its first echo (TSecr) from the other side; other
 * flows get one sample per data segment whose end is exactly acknowledged,
 * never from a segment that was retransmitted (Karn). A sample belongs to the
 * direction of the packet that was answered: fwd samples measure the far
 * side of the probe (probe -> receiver of fwd -> probe).
 *
 * Thread-safety: lives inside struct qp_flow; written by its worker only.
 */
#ifndef QP_TCP_DP_H
#define QP_TCP_DP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "qp_hist.h"
#include "qp_parse_dp.h"

#define QP_TCP_OUT 8 /* outstanding segments remembered for ACK-based RTT */
_Static_assert((QP_TCP_OUT & (QP_TCP_OUT - 1)) == 0, "a ring of a power of two");
#define QP_TCP_TSV 4 /* TSvals waiting for their echo, per direction */

struct qp_tcp_seg {
	uint32_t start, end;
	uint64_t ns : 62;
	uint64_t tainted : 1; /* overlapped by a retransmission: no RTT sample (Karn) */
	uint64_t done : 1;    /* acknowledged: its place is free once those before it are */
};

struct qp_tcp_dir {
	uint32_t nxt;      /* highest sequence number + 1 seen */
	uint32_t last_ack;
	uint64_t nxt_ns;   /* when nxt last advanced */
	uint16_t win;
	uint8_t st;        /* QP_TCPD_* */
	uint8_t nout;      /* segments in out[], a ring from out_head, oldest first */
	uint8_t ntsv;      /* TSvals waiting in tsv_val[], oldest first */
	uint8_t dup_run;   /* duplicate ACKs of last_ack in a row (saturates) */
	uint16_t dup_ms;   /* when the latest of them was sent, ms (16 bits: only for 20 ms) */
	uint16_t tsv_over; /* waiting TSvals pushed out by newer ones (saturates) */
	uint8_t out_head;
	uint8_t flags;     /* TCP flags of the record's segments, ORed */
	uint32_t ts_val;   /* latest new TSval sent */
	uint32_t retrans, ooo, dup_acks, zero_win, resets;
	uint16_t syns, fins; /* SYN and FIN segments of the record (saturate) */
	struct qp_stat rtt; /* RTT samples of this direction's packets */
	struct qp_tcp_seg out[QP_TCP_OUT];
	/* TSvals sent and not echoed yet, and when each was first seen: each
	 * ends an RTT sample at its echo */
	uint32_t tsv_val[QP_TCP_TSV];
	uint64_t tsv_ns[QP_TCP_TSV];
};

#define QP_TCPD_NXT 0x01    /* nxt is valid */
#define QP_TCPD_ACK 0x02    /* last_ack and win are valid */
#define QP_TCPD_TS 0x04     /* this direction sends timestamps */
#define QP_TCPD_TS_SEEN 0x10 /* ts_val holds a value */
#define QP_TCPD_KA 0x20      /* this direction's latest segment was a keep-alive */

/* What one segment did, for the interval accumulators. */
struct qp_tcp_event {
	uint8_t retrans, ooo, dup_ack, zero_win, reset;
	int8_t rtt_dir;   /* direction the RTT sample belongs to, -1: none */
	uint64_t rtt_ns;
};

/** 1 when the segment was a retransmission, out of order, a duplicate ACK,
 * a zero window or a reset: one test of the event's first 8 bytes (five
 * bytes of them tested one by one were 11 instructions a segment). */
static inline int qp_tcp_event_any(const struct qp_tcp_event *ev)
{
	_Static_assert(offsetof(struct qp_tcp_event, reset) == 4 && sizeof(struct qp_tcp_event) >= 8,
		       "the five events in the first 5 of 8 bytes");
	uint64_t first8;
	memcpy(&first8, ev, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (first8 & 0xffffffffffull) != 0;
#else
	return (first8 & 0xffffffffff000000ull) != 0;
#endif
}

/**
 * Account one segment travelling in direction dir (0 fwd, 1 rev).
 *
 * @param d          the flow's two direction states
 * @param pk         the parsed segment (TCP, header present)
 * @param ts         its timestamp
 * @param ooo_ns     out-of-order window: the flow's initial RTT, or 3 ms
 * @param ev         what the segment did
 */
void qp_tcp_update(struct qp_tcp_dir d[2], const struct qp_pkt *pk, unsigned int dir, uint64_t ts,
		   uint64_t ooo_ns, struct qp_tcp_event *ev);

#endif
