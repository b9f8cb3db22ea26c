/*
 * qp_dns_dp: DNS response time from one point (RFC 1035), per flow.
 *
 * A query (QR 0) waits for its response (QR 1, the other direction, the
 * same ID and the same first question: name compared without case, type
 * and class). The response time runs from the query's first copy: a
 * query sent again with the same ID and question before its answer is a
 * retransmission and keeps the first one's time (Wireshark's dns.time does
 * the same; unlike Wireshark, a response whose question differs is not
 * taken for the query's answer). At most QP_DNS_OUT queries wait per flow;
 * one with no answer after QP_DNS_TIMEOUT_NS is unanswered.
 *
 * Over TCP (RFC 7766) messages are framed by a two-byte length; messages
 * are followed across segments by sequence number, and a message's first
 * QP_DNS_PART bytes (header and question) are gathered when segments cut
 * them (a question beyond them is taken as broken). A message's time is
 * its first byte's. A gap (a segment lost before the probe) stops the
 * direction's parsing for the rest of the flow (counted). At most
 * QP_DNS_SEG_MSGS messages are read per segment.
 *
 * Thread-safety: lives in a flow's cold block (UDP) or application block
 * (TCP); written by its worker only.
 */
#ifndef QP_DNS_DP_H
#define QP_DNS_DP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "qp_hist.h"

#define QP_DNS_OUT 8                        /* queries waiting per flow */
#define QP_DNS_TIMEOUT_NS 5000000000ULL     /* a query's answer is late after 5 s */
#define QP_DNS_SEG_MSGS 8                   /* messages read in one TCP segment */
#define QP_DNS_PORTS 8                      /* ports a measurement takes for DNS */
#define QP_DNS_PART 96                      /* a TCP message's start gathered across segments */
#define QP_DNS_KEEP 8                       /* a record's first response times kept exactly */

struct qp_dns_q {
	uint64_t ns;    /* the query's first copy */
	uint32_t qhash; /* its first question */
	uint16_t id;
	uint8_t dir;
	uint8_t used;
};

/* Counts of one flow record, and what one packet did (struct qp_dns_event). */
#define QP_DNS_COUNTS(X)                                                               \
	X(queries, "DNS queries (QR 0)")                                                    \
	X(responses, "DNS responses (QR 1)")                                                \
	X(answered, "Responses matched to their query: one response-time sample each")     \
	X(unanswered, "Queries without a response after 5 s")                               \
	X(retransmitted, "Queries sent again (same ID and question) before their answer")   \
	X(unmatched, "Responses with no query waiting (duplicates, late, another question)") \
	X(truncated, "Responses with the TC bit")                                            \
	X(untracked, "Queries not followed: 8 of the flow were waiting")                     \
	X(malformed, "DNS messages too short or with a broken question")                    \
	X(skipped, "DNS over TCP: messages passed over, more than 8 began in one segment")  \
	X(tcp_lost, "DNS over TCP: directions whose message framing was lost to a gap")

struct qp_dns_counts {
#define QP_DNS_CNT_(n, h) uint32_t n;
	QP_DNS_COUNTS(QP_DNS_CNT_)
#undef QP_DNS_CNT_
	uint32_t rcodes[16]; /* responses by RCODE (the header's 4 bits) */
};

/* The same summed over flows and workers (an interval's). */
struct qp_dns_totals {
#define QP_DNS_TOT_(n, h) uint64_t n;
	QP_DNS_COUNTS(QP_DNS_TOT_)
#undef QP_DNS_TOT_
	uint64_t rcodes[16];
};


static inline void qp_dns_totals_merge(struct qp_dns_totals *t, const struct qp_dns_totals *c)
{
#define QP_DNS_ADD_(n, h) t->n += c->n;
	QP_DNS_COUNTS(QP_DNS_ADD_)
#undef QP_DNS_ADD_
	for (int i = 0; i < 16; i++)
		t->rcodes[i] += c->rcodes[i];
}

/* 1 when the totals hold any DNS message */
static inline int qp_dns_totals_any(const struct qp_dns_totals *t)
{
	return t->queries || t->responses || t->malformed || t->unanswered || t->tcp_lost;
}

struct qp_dns {
	struct qp_dns_q out[QP_DNS_OUT];
	uint8_t nused; /* queries waiting in out[] */
	struct qp_dns_counts c; /* of the flow's record */
	struct qp_stat rt;      /* response times of the record */
	/* its first QP_DNS_KEEP samples (qp_ns32_enc): percentiles exact for
	 * a flow of few queries, without a distribution of its own */
	uint32_t keep[QP_DNS_KEEP];
};

/**
 * The q-quantile (nearest rank) of a record's samples when all are kept
 * (rt.n <= QP_DNS_KEEP), ns. @return 0 and *ns, or -1 when they are not.
 */
int qp_dns_kept_quantile(const struct qp_dns *d, double q, uint64_t *ns);

/* DNS over TCP: each direction's framing, beside struct qp_dns. */
struct qp_dns_stream {
	uint32_t nxt;  /* sequence number the next byte of the stream has */
	uint32_t skip; /* bytes of the current message still to come */
	uint8_t st;    /* QP_DNS_TCP_* */
	uint8_t len_hi; /* the length's first byte, when a segment ended after it */
	uint8_t part_len, part_want; /* the message's start: gathered, wanted */
	uint64_t part_ns;            /* its first byte's time */
	uint8_t part[QP_DNS_PART];
};

#define QP_DNS_TCP_SYNC 0x01  /* nxt is known: messages are followed */
#define QP_DNS_TCP_LEN1 0x02  /* one byte of the next length is in len_hi */
#define QP_DNS_TCP_READ 0x04  /* the current message's start was read (or is being gathered) */
#define QP_DNS_TCP_PART 0x10  /* its start is being gathered in part[] */
#define QP_DNS_TCP_LOST 0x08  /* a gap: no more parsing in this direction */

/* What one packet did, for the interval accumulators. */
struct qp_dns_event {
	struct qp_dns_counts c; /* the counts (c.rcodes is not used: rc[] is) */
	uint8_t nrt; /* response-time samples in rt[] */
	uint8_t nrc; /* responses' RCODEs in rc[] */
	uint8_t rc[QP_DNS_SEG_MSGS];
	uint64_t rt[QP_DNS_SEG_MSGS];
};

/** Start an event: its counts and lists empty. */
static inline void qp_dns_event_clear(struct qp_dns_event *e)
{
	memset(&e->c, 0, offsetof(struct qp_dns_counts, rcodes));
	e->nrt = e->nrc = 0;
}

static inline void qp_dns_totals_add(struct qp_dns_totals *t, const struct qp_dns_event *e)
{
#define QP_DNS_ADD_(n, h) t->n += e->c.n;
	QP_DNS_COUNTS(QP_DNS_ADD_)
#undef QP_DNS_ADD_
	for (unsigned int i = 0; i < e->nrc; i++)
		t->rcodes[e->rc[i]]++;
}

/** 1 when one of the ports is a DNS port of the list (0-ended, QP_DNS_PORTS at most). */
static inline int qp_dns_port(const uint16_t *ports, uint16_t a, uint16_t b)
{
	for (unsigned int i = 0; i < QP_DNS_PORTS && ports[i]; i++)
		if (ports[i] == a || ports[i] == b)
			return 1;
	return 0;
}

#define QP_DNS_PORTS_SYNTAX "PORT[,PORT...]: 1 to 8 ports from 1 to 65535"

/**
 * Parse a list of DNS ports ("53,5353") into out (0-ended).
 * @return 0, or -1 with why (what was wrong and what is accepted) filled
 */
int qp_dns_ports_parse(const char *s, uint16_t out[QP_DNS_PORTS], char *why, size_t whylen);

/**
 * One DNS message (a UDP payload, or one framed over TCP) of cap bytes
 * travelling in direction dir at ts. ev is added to, not cleared.
 */
void qp_dns_message(struct qp_dns *d, const uint8_t *m, uint32_t cap, unsigned int dir,
		    uint64_t ts, struct qp_dns_event *ev);

/**
 * A TCP segment's payload (len bytes, cap of them captured at pay, seq
 * its first byte's sequence number) in direction dir; syn: the segment carries SYN (the
 * stream starts at seq + 1).
 */
void qp_dns_tcp(struct qp_dns *d, struct qp_dns_stream s[2], const uint8_t *pay, uint32_t cap, uint32_t len, uint32_t seq,
		int syn, unsigned int dir, uint64_t ts, struct qp_dns_event *ev);

/** Queries still waiting that got no answer before `now` minus the timeout become unanswered. */
void qp_dns_expire(struct qp_dns *d, uint64_t now, struct qp_dns_event *ev);

/** The flow turned round (its source is the other endpoint): directions exchanged. */
void qp_dns_swap(struct qp_dns *d, struct qp_dns_stream s[2]);

/** Start a new record: counts and samples zeroed, waiting queries and framing kept. */
void qp_dns_restart(struct qp_dns *d);

/** Queries waiting for their answer. */
uint32_t qp_dns_pending(const struct qp_dns *d);

/** The name of an RCODE (NOERROR, NXDOMAIN...; "RCODE12" for those without one). */
const char *qp_dns_rcode_name(unsigned int rcode, char *buf, unsigned int len);

#endif
