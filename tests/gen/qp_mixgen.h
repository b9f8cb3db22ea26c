/*
 * qp_mixgen: a realistic mix for the offline benchmark and its test, as
 * issue 14 asks for one: flows of heavy-tailed sizes (Pareto, alpha 1.2: a
 * few elephants carry most frames, most flows are a handful), overlapping
 * in time; three in five TCP connections with their handshake, data in one
 * direction each acknowledged, 1 % of the data segments sent twice, and
 * their FIN exchange; the rest UDP; one flow in ten over IPv6. IP packets
 * are IMIX's 40 (the ACKs), 576 and 1500 bytes. Times are whole
 * microseconds (the capture is a microsecond pcap, like most).
 *
 * The truth is what the generator decided: frames, bytes, flows, the
 * retransmissions each way and each TCP flow's handshake times.
 */
#ifndef QP_MIXGEN_H
#define QP_MIXGEN_H

#include <stdint.h>

#include "qp_pcapw.h"

struct mg_truth {
	uint64_t frames, bytes;
	uint32_t flows, tcp_flows, udp_flows, v6_flows;
	/* data segments sent twice: [0] by the client (fwd), [1] by the server */
	uint64_t retrans[2];
	uint64_t hs_rtt_us, hs_ack_rtt_us; /* the TCP flows' SYN -> SYN/ACK, SYN/ACK -> ACK, summed */
	uint64_t largest;                  /* frames of the largest flow */
	uint64_t first_ns, last_ns;
};

/**
 * Write `frames` frames over `flows` flows (6 <= 6 * flows <= frames,
 * flows <= 1,000,000) to w, a microsecond capture, from t0 (ns, a whole
 * microsecond), in time order. The same arguments give the same bytes.
 * @return 0, or -1 when the sizes are out of range or memory is short.
 */
int mg_write(struct pw *w, uint64_t t0, uint64_t frames, uint32_t flows, struct mg_truth *t);

#endif
