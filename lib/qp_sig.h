/*
 * qp_sig: two-point packet signatures and consistent selection.
 *
 * A signature is a 64-bit hash of the parts of a packet no router changes on
 * its way: addresses (unless nat), protocol, IPv4 total length, id and fragment
 * field, or IPv6 payload length and next header; the L4 header without its
 * checksum (TCP: ports, sequence and acknowledgement numbers, offset and flags,
 * window, urgent pointer; UDP: ports and length; ICMP: type, code, identifier
 * and sequence); and the first payload_bytes of the L4 payload. Never TTL or
 * hop limit, checksums, DSCP/ECN, the IPv6 flow label, IP or TCP options. With
 * nat set, addresses, ports and the ICMP identifier are left out, so a path
 * through NAT/NAPT still matches.
 *
 * Selection (RFC 5475 hash-based): a packet is selected when a second,
 * independent mix of its signature falls at or below a threshold, so two
 * probes with the same threshold select the same packets without talking.
 *
 * Pure functions of their arguments: any thread may call them.
 */
#ifndef QP_SIG_H
#define QP_SIG_H

#include <stdint.h>

#include "qp_mix.h"
#include "qp_parse_dp.h"

#define QP_SIG_PAYLOAD_DEFAULT 16
#define QP_SIG_PAYLOAD_MAX 64

struct qp_sig_cfg {
	uint32_t payload_bytes; /* 0 .. QP_SIG_PAYLOAD_MAX */
	uint8_t nat;            /* 1: addresses, ports and ICMP id left out */
	uint64_t threshold;     /* selected when qp_sig_sel() <= threshold; UINT64_MAX: all */
};

/** Defaults: 16 payload bytes, no NAT, every packet selected. */
void qp_sig_cfg_default(struct qp_sig_cfg *c);

/**
 * Parse a sampling rate: "1" (every packet), "1/N" (N from 1 to 2^32) or a
 * fraction 0 < p <= 1 ("0.0625"). Sets threshold.
 * @return 0, or -EINVAL (errbuf says what is accepted)
 */
int qp_sig_parse_rate(struct qp_sig_cfg *c, const char *s, char *errbuf, unsigned int errlen);

/** The sampling rate a threshold stands for (0 < rate <= 1). */
double qp_sig_rate(const struct qp_sig_cfg *c);

/**
 * Signature of a parsed packet (qp_parse() returned QP_PARSE_FLOW).
 * @return 0 with *sig set, or -1 when the packet cannot be signed the same
 *         way at another point: the IP header or the requested payload bytes
 *         were not captured.
 */
int qp_sig_of(const struct qp_sig_cfg *c, const struct qp_pkt *p, uint64_t *sig);

/** Selection hash of a signature (independent of the signature's own bits). */
static inline uint64_t qp_sig_sel(uint64_t sig)
{
	return qp_mix64(sig ^ 0x9e3779b97f4a7c15ULL);
}

static inline int qp_sig_selected(const struct qp_sig_cfg *c, uint64_t sig)
{
	return qp_sig_sel(sig) <= c->threshold;
}

#endif
