/*
 * qp_quicgen: QUIC connections with their truth, for the tests and `qp_gen
 * quic`. Each connection is simulated end to end: a client and a server
 * send a packet every few milliseconds, each packet's spin bit set by RFC
 * 9000 17.4 from the packets that have reached its sender (the server
 * reflects, the client inverts), seen by the probe on the path between
 * them (one-way delays to each side). Headers are real (long: type,
 * version, connection ids, token and length; short: the spin bit), the
 * payloads are filler: nothing is decrypted.
 *
 * Connections: spinning (versions 1, 2 and draft 29, IPv4 and IPv6), one
 * with a packet of the old spin value reordered after an edge, one whose
 * server does not spin (a fixed value), one whose client sets the spin bit
 * at random, one with 0-RTT packets after the server's first answer, one
 * answered by Version Negotiation first; and a UDP flow of an unknown
 * version (not QUIC).
 *
 * The truth is what the simulation sent and the probe saw: the handshake's
 * halves, and the spin edges of each direction (the value changing between
 * consecutive packets in the order seen, the reordered packet left out).
 */
#ifndef QP_QUICGEN_H
#define QP_QUICGEN_H

#include <stdint.h>

#include "qp_pcapw.h"

#define QG_CONNS 12
#define QG_EDGES 512

struct qg_conn {
	char client[48], server[48];
	uint16_t cport, sport;
	uint32_t version;
	int quic;       /* 0: the unknown version's flow, not QUIC */
	int spins;      /* the spin bit gives RTT (both ends spin) */
	int reordered;  /* packets of the old value seen after an edge */
	int random_spin; /* the client's spin bit is random */
	/* truth */
	int64_t hs_server_ns, hs_client_ns; /* -1: not measured */
	uint32_t long_pkts, short_pkts;
	uint32_t vneg, zero_rtt;
	uint32_t rtt_n[2];
	uint64_t rtt_min[2], rtt_max[2], rtt_sum[2];
	uint64_t rtt_true;  /* the path's RTT, both delays twice */
	uint32_t gap_ns;    /* time between an endpoint's packets */
};

struct qg_truth {
	int n;
	struct qg_conn c[QG_CONNS];
	uint64_t frames;
};

/** Write the connections to w from t0 (a whole microsecond). Fills the truth. */
void qg_write(struct pw *w, uint64_t t0, unsigned int seed, struct qg_truth *t);

#endif
