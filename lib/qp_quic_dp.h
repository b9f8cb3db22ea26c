/*
 * qp_quic_dp: QUIC from one point (RFC 8999, 9000, 9369, 9312): the
 * handshake's two halves and the RTT of the spin bit, per flow.
 *
 * A UDP flow is QUIC once it carries a long-header packet (first byte
 * 11xxxxxx) of a version qprobe knows (1, 2, drafts 29 to 34) with
 * connection ids of at most 20 bytes; its short-header packets are then
 * 1-RTT packets. Only the parts of a packet that header protection leaves
 * in clear are read: the header form, the long header's type, version and
 * connection ids, the short header's spin bit. Coalesced long-header
 * packets (RFC 9000 12.2) are walked by their Length fields.
 *
 * Handshake: the client is the sender of the first Initial. From the
 * client's latest Initial before the server's first Initial or Handshake
 * packet to that packet (the server's side of the probe, and its think
 * time), and from there to the client's next packet that is not 0-RTT
 * (the client's side): as TCP's SYN -> SYN/ACK and SYN/ACK -> ACK.
 *
 * Spin bit: each endpoint's edges (the value changing) come one RTT apart.
 * An edge is kept only when the other direction's latest kept value says
 * it is due (a server reflects the client's value, a client sends the
 * inverse of the server's): a reordered packet of the old value, and the
 * random values of an endpoint that does not spin, make edges that are not
 * due; they are discarded, counted, and the direction keeps its value.
 * Each kept edge after a direction's first gives an RTT sample.
 *
 * Thread-safety: lives in a UDP flow's cold block; written by its worker only.
 */
#ifndef QP_QUIC_DP_H
#define QP_QUIC_DP_H

#include <stdint.h>

#include "qp_hist.h"

#define QP_QUIC_VERSIONS 4 /* versions itemised per flow */

struct qp_quic_spin {
	uint64_t edge_ns; /* the latest kept edge */
	uint8_t have;     /* a value was seen */
	uint8_t cur;      /* the latest kept value */
	uint8_t have_edge;
};

#define QP_QUIC_ST_CLIENT 0x01 /* client_dir is known (an Initial was seen) */
#define QP_QUIC_ST_SERVER 0x02 /* the server's first Initial/Handshake was seen */
#define QP_QUIC_ST_DONE 0x04   /* the client's next packet was seen */
#define QP_QUIC_ST_CI 0x08     /* ci_ns holds a client Initial's time */

struct qp_quic {
	uint8_t st;         /* QP_QUIC_ST_* */
	uint8_t client_dir; /* the flow direction the client sends in */
	uint8_t nversions;
	uint32_t versions[QP_QUIC_VERSIONS]; /* in the order seen */
	uint64_t ci_ns;     /* the client's latest Initial before the server's first */
	uint64_t s_ns;      /* the server's first Initial or Handshake */
	int64_t hs_ns;      /* client Initial -> server's first, -1 until measured */
	int64_t hs_ack_ns;  /* server's first -> client's next, -1 until measured */
	struct qp_quic_spin spin[2];
	/* counts of the record */
	uint32_t long_pkts, short_pkts; /* packets by header form (coalesced ones each) */
	uint32_t initial, zero_rtt, handshake, retry, vneg;
	uint32_t unknown_version; /* long headers of a version qprobe does not know */
	uint32_t edges_kept, edges_discarded;
	struct qp_stat rtt[2]; /* spin RTT samples by the direction of the edges */
};

/* What one datagram did, for the interval accumulators (a datagram that
 * did none of it is only counted: the burst's batch takes it). */
struct qp_quic_event {
	uint8_t edge_kept, edge_discarded;
	uint8_t handshake;  /* both halves are known since this datagram */
	int8_t rtt_dir;     /* a spin sample's direction, -1: none */
	uint64_t rtt_ns;
	uint64_t hs_total_ns; /* with handshake: the two halves together */
};

/* The same summed over flows and workers (an interval's). */
struct qp_quic_totals {
	uint64_t handshakes, edges_kept, edges_discarded;
};

static inline void qp_quic_totals_add(struct qp_quic_totals *t, const struct qp_quic_event *e)
{
	t->handshakes += e->handshake;
	t->edges_kept += e->edge_kept;
	t->edges_discarded += e->edge_discarded;
}

static inline void qp_quic_totals_merge(struct qp_quic_totals *t, const struct qp_quic_totals *s)
{
	t->handshakes += s->handshakes;
	t->edges_kept += s->edges_kept;
	t->edges_discarded += s->edges_discarded;
}

/**
 * 1 when a UDP payload opens a QUIC flow: a long header of a known version
 * with connection ids of at most 20 bytes.
 */
int qp_quic_detect(const uint8_t *p, uint32_t cap);

/** Start a flow's QUIC state (before its first datagram). */
void qp_quic_init(struct qp_quic *q);

/** One UDP datagram of the flow (payload p, cap bytes) in direction dir at ts. */
void qp_quic_update(struct qp_quic *q, const uint8_t *p, uint32_t cap, unsigned int dir,
		    uint64_t ts, struct qp_quic_event *ev);

/** Start a new record: counts and samples zeroed, the handshake and spin state kept. */
void qp_quic_restart(struct qp_quic *q);

/** 1 when the spin bit gives RTT: samples kept and at most one edge in four discarded. */
int qp_quic_spin_active(const struct qp_quic *q);

#endif
