/*
 * qp_ts_dp: MPEG-2 transport stream (ISO/IEC 13818-1) over UDP or RTP
 * (RFC 2250, payload type 33) from one point: continuity, sync and PCR
 * figures per flow and per PID, as ETSI TR 101 290 defines them.
 *
 * A UDP flow is a transport stream when a datagram's payload is a whole
 * number of 188-byte packets, each beginning with the sync byte 0x47 (an
 * RTP packet's payload likewise, or any payload of type 33). Its datagrams
 * are then walked packet by packet:
 *
 * - Continuity (TR 101 290 1.4): a PID's continuity counter goes up by one
 *   for each packet with a payload. Packets without one (adaptation field
 *   only) are not checked; the discontinuity indicator starts the count
 *   afresh; a packet may come twice (a duplicate), not three times. Any
 *   other counter is an error, and the counters it skipped are an estimate
 *   of the packets lost (16 or more lost in a row look like fewer: the
 *   counter has 4 bits). The null PID 0x1FFF is not checked.
 * - Sync (1.2): a packet's place not holding 0x47 is a sync error; the walk
 *   looks for the next 0x47 that another one follows 188 bytes later (or
 *   that ends the datagram) and counts the bytes it passed over.
 * - PCR (2.3): the arrival times of a PID's packets carrying a PCR: their
 *   intervals (mean, max) and those over 40 ms (PCR repetition errors).
 * - Transport errors (2.1): packets with the transport error indicator.
 *
 * PIDs are itemised per flow up to QP_TS_PIDS, in the order they appear;
 * packets of further PIDs are counted (pids_over) and not checked.
 *
 * Thread-safety: lives in a flow's application block; written by its
 * worker only.
 */
#ifndef QP_TS_DP_H
#define QP_TS_DP_H

#include <stdint.h>

#define QP_TS_PKT 188
#define QP_TS_SYNC 0x47
#define QP_TS_PID_NULL 0x1FFF
#define QP_TS_PIDS 10                      /* PIDs itemised per flow */
#define QP_TS_PCR_LATE_NS 40000000ULL     /* TR 101 290 2.3: PCRs at most 40 ms apart */

/* Counts of one flow record, and what one datagram did (struct qp_ts_event). */
#define QP_TS_COUNTS(X)                                                                        \
	X(packets, "Transport stream packets (188 bytes each), null packets included")          \
	X(null_packets, "Null packets (PID 0x1FFF)")                                              \
	X(cc_errors, "Continuity counter errors (TR 101 290 1.4)")                               \
	X(lost, "Packets lost, estimated from the continuity counters they skipped")            \
	X(duplicates, "Packets sent twice (allowed once)")                                       \
	X(discontinuities, "Discontinuity indicators honoured")                                   \
	X(sync_errors, "Packet places without the sync byte 0x47 (TR 101 290 1.2)")             \
	X(sync_skipped_bytes, "Bytes passed over to find the next sync byte")                     \
	X(partial, "Datagram tails shorter than a packet")                                        \
	X(transport_errors, "Packets with the transport error indicator (TR 101 290 2.1)")       \
	X(pcr_repetition_errors, "PCR intervals over 40 ms (TR 101 290 2.3)")                   \
	X(pids_over, "Packets of PIDs beyond the 10 itemised per flow: not checked")

struct qp_ts_counts {
#define QP_TS_FIELD_(n, h) uint32_t n;
	QP_TS_COUNTS(QP_TS_FIELD_)
#undef QP_TS_FIELD_
};

#define QP_TS_PID_CC 0x01  /* cc holds the counter of the PID's latest payload */
#define QP_TS_PID_DUP 0x02 /* that packet came twice already */
#define QP_TS_PID_PCR 0x04 /* pcr_ns holds the latest PCR's arrival */

/* One PID of a flow. */
struct qp_ts_pid {
	uint64_t packets;
	uint64_t pcr_ns;      /* arrival of the latest packet with a PCR */
	uint64_t pcr_iat_sum; /* ns, over pcr_n intervals */
	uint32_t pcr_iat_max; /* ns (at most 4.29 s) */
	uint32_t pcr_n;       /* intervals between PCRs measured */
	uint32_t cc_errors;
	uint32_t lost;
	uint32_t pcr_repetition_errors;
	uint16_t pid;
	uint8_t cc;
	uint8_t st; /* QP_TS_PID_* */
};
_Static_assert(sizeof(struct qp_ts_pid) == 48, "a PID is 48 bytes");

struct qp_ts {
	struct qp_ts_counts c;
	uint8_t npids;
	uint8_t last; /* the PID record the latest packet went to */
	uint8_t over_rtp; /* the packets come in RTP's payload */
	struct qp_ts_pid pid[QP_TS_PIDS];
};

/* What one datagram did, for the interval accumulators. */
struct qp_ts_event {
	struct qp_ts_counts c;
};

/* The same summed over flows and workers (an interval's). */
struct qp_ts_totals {
#define QP_TS_TFIELD_(n, h) uint64_t n;
	QP_TS_COUNTS(QP_TS_TFIELD_)
#undef QP_TS_TFIELD_
};

static inline void qp_ts_totals_add(struct qp_ts_totals *t, const struct qp_ts_event *e)
{
#define QP_TS_ADD_(n, h) t->n += e->c.n;
	QP_TS_COUNTS(QP_TS_ADD_)
#undef QP_TS_ADD_
}

static inline void qp_ts_totals_sum(struct qp_ts_totals *t, const struct qp_ts_totals *o)
{
#define QP_TS_SUM_(n, h) t->n += o->n;
	QP_TS_COUNTS(QP_TS_SUM_)
#undef QP_TS_SUM_
}

/**
 * 1 when a payload of wire_len bytes (cap of them captured at p) looks like
 * transport stream packets: a whole number of them, every captured one
 * beginning with the sync byte.
 */
int qp_ts_detect(const uint8_t *p, uint32_t cap, uint32_t wire_len);

/**
 * The transport stream packets of one datagram's payload (wire_len bytes
 * on the wire, cap of them captured at p) arriving at ts: into the flow's
 * state, and what they did into ev (cleared here).
 */
void qp_ts_update(struct qp_ts *s, const uint8_t *p, uint32_t cap, uint32_t wire_len, uint64_t ts,
		  struct qp_ts_event *ev);

/** A flow's state from scratch (a new flow, or one idle for its timeout). */
void qp_ts_init(struct qp_ts *s, int over_rtp);

/** A new record of the same flow (active timeout): counts zeroed, counters and PCR times kept. */
void qp_ts_restart(struct qp_ts *s);

/**
 * The transport stream in an RTP packet (p, cap of its wire_len bytes
 * captured): its payload's offset and, in *pay_wire, length (padding left
 * out), when the packet is of type 33, `known` says the flow is one, or the
 * payload looks like one (qp_ts_detect); else -1.
 */
int qp_ts_rtp_payload(const uint8_t *p, uint32_t cap, uint32_t wire_len, int known, uint32_t *pay_wire);

#endif
