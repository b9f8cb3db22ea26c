/*
 * qmcp_tp: the two-point record batch (TP_RECORDS), how a secondary probe
 * ships the packets it selected to its primary (docs/qmcp.md, "Two-point").
 *
 * A batch holds the flows first used in it (an id and the 40-byte flow key,
 * 44 bytes each) and the records (signature, time after the batch's base,
 * size, flow id and direction: 18 bytes each), with the secondary's
 * watermark: every record older than it has been sent.
 *
 * The parser checks every length and never reads past the body; records
 * point into the caller's buffer. Thread-safety: none needed.
 */
#ifndef QMCP_TP_H
#define QMCP_TP_H

#include <stddef.h>
#include <stdint.h>

#include "qmcp_codec.h"

#define QMCP_TP_FLOW_LEN 44
#define QMCP_TP_REC_LEN 18
#define QMCP_TP_FLOW_ID_MAX 0x7fffffffu /* bit 31 of a record's flow field: direction */
#define QMCP_TP_DT_MAX 0xffffffffu      /* a record's time: at most 4.29 s after the base */

/* A flow key as on the wire (and as qprobe keeps it): endpoint 0 is the smaller. */
struct qmcp_tp_key {
	uint8_t addr[2][16]; /* IPv4: the first four bytes, the rest zero */
	uint16_t port[2];
	uint8_t proto;
	uint8_t ipver;
};

struct qmcp_tp_rec {
	uint64_t sig;
	uint64_t ts_ns;  /* absolute: base + the record's offset */
	uint16_t size;   /* wire length, 65535 for anything longer */
	uint32_t flow;   /* a flow id of this or an earlier batch */
	uint8_t swapped; /* direction within the flow key */
};

struct qmcp_tp_batch {
	uint32_t meas;
	uint64_t seq;
	uint64_t base_ns, watermark_ns, dropped;
	const uint8_t *flows, *recs; /* into the body */
	uint32_t nflows, nrecs;
};

/**
 * Build a TP_RECORDS push into m (already initialised with type TP_RECORDS).
 * Records must lie in [base_ns, base_ns + 4.29 s] and flow ids below 2^31.
 * @return 0, or -EINVAL for a record out of that range (nothing written).
 */
int qmcp_tp_build(struct qmcp_msg *m, const struct qmcp_tp_batch *hdr, const uint32_t *flow_ids,
		  const struct qmcp_tp_key *keys, uint32_t nflows, const struct qmcp_tp_rec *recs,
		  uint32_t nrecs);

/**
 * Parse a TP_RECORDS body. @return 0, or -EPROTO with errbuf saying what was
 * wrong (a missing field, a length that is not a whole number of entries).
 */
int qmcp_tp_parse(const uint8_t *body, size_t len, struct qmcp_tp_batch *b, char *errbuf,
		  size_t errlen);

/** Flow i of a parsed batch (i < nflows). */
void qmcp_tp_flow_at(const struct qmcp_tp_batch *b, uint32_t i, uint32_t *id,
		     struct qmcp_tp_key *key);
/** Record i of a parsed batch (i < nrecs). */
void qmcp_tp_rec_at(const struct qmcp_tp_batch *b, uint32_t i, struct qmcp_tp_rec *r);

#endif
