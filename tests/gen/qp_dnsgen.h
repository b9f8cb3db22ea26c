/*
 * qp_dnsgen: a DNS workload with its truth, for the tests, `qp_gen dns` and
 * the replay bench. Clients over UDP (IPv4 and IPv6) and over TCP ask a
 * resolver on port 53; each query is one scenario, chosen by a seeded
 * generator: answered (with an RCODE, some truncated), never answered,
 * sent again before its answer, answered first for another question,
 * answered twice, or two at once answered in reverse order. Over TCP,
 * messages come whole, several to a segment, and cut: the length alone,
 * the header cut across segments. Times are whole microseconds, so a
 * capture read by net_pcap (microseconds) gives the same figures.
 *
 * The truth is what the scenarios say (not a second DNS matcher): counts,
 * RCODEs, response-time samples and the queries still waiting at the end.
 */
#ifndef QP_DNSGEN_H
#define QP_DNSGEN_H

#include <stdint.h>

#include "qp_pcapw.h"

#define DG_FLOWS_MAX 64

struct dg_flow {
	char client[48], server[48];
	uint16_t cport, sport;
	uint8_t proto;  /* 17 or 6 */
	uint8_t wrong;  /* some response of it answers another question (tshark differs) */
	uint8_t cut;    /* TCP: messages cut across segments (tshark dates them by their end) */
	/* truth */
	uint32_t queries, responses, answered, unanswered, retransmitted, unmatched, truncated;
	uint32_t pending;
	uint32_t rcodes[16];
	uint32_t rt_n;
	uint64_t rt_sum, rt_min, rt_max; /* ns */
};

struct dg_truth {
	int n;
	struct dg_flow f[DG_FLOWS_MAX];
	uint64_t frames;
	uint64_t first_ns, last_ns;
};

/**
 * A DNS message at m with one question (name dotted, type qtype, class IN)
 * and `answers` A records pointing back at it: its length.
 */
uint32_t dg_msg(uint8_t *m, uint16_t id, int response, unsigned int rcode, int tc,
		const char *name, uint16_t qtype, unsigned int answers);

/**
 * Write the workload to w from t0 (ns, a whole microsecond), seeded.
 * wrong: include responses to another question (Wireshark matches those by
 * ID alone). Fills the truth.
 */
void dg_write(struct pw *w, uint64_t t0, unsigned int seed, int wrong, struct dg_truth *t);

#endif
