/*
 * qp_ipfix_rd: an IPFIX reader for the tests, a collector's view of a byte
 * stream of messages (a TCP connection, a file, datagrams one after the
 * other): templates learnt, data records decoded by them, sequence numbers
 * checked. Strict: anything RFC 7011 does not allow is an error.
 */
#ifndef QP_IPFIX_RD_H
#define QP_IPFIX_RD_H

#include <stddef.h>
#include <stdint.h>

#define IPFIX_RD_FIELDS 128

struct ipfix_rd_field {
	uint32_t pen;
	uint16_t id, len;
};

struct ipfix_rd_rec {
	uint16_t tid;
	uint32_t domain;
	size_t msg; /* the message it came in, from 0 */
	int nf;
	struct ipfix_rd_field f[IPFIX_RD_FIELDS];
	const uint8_t *v[IPFIX_RD_FIELDS]; /* into the caller's buffer */
};

struct ipfix_rd {
	struct {
		int nf;
		struct ipfix_rd_field f[IPFIX_RD_FIELDS];
	} t[256];
	int have[256];
	size_t ntemplates; /* template records read */
	size_t nmsg;
	uint32_t next_seq;   /* the sequence number the next message must carry */
	size_t seq_errors;   /* messages whose sequence number was not that */
	size_t nrec, caprec;
	struct ipfix_rd_rec *r;
	uint32_t export_s[4096]; /* each message's export time (the first 4096) */
	char err[256];
};

/** Start a reader (nothing read). */
void ipfix_rd_init(struct ipfix_rd *rd);

/** Read messages back to back. @return 0, or -1 with rd->err saying where and what. */
int ipfix_rd_stream(struct ipfix_rd *rd, const uint8_t *buf, size_t len);

/** Read one message (a datagram): len must be its whole length. */
int ipfix_rd_msg(struct ipfix_rd *rd, const uint8_t *buf, size_t len);

/** 1 when the record's template has the element. */
int ipfix_rd_has(const struct ipfix_rd_rec *r, uint32_t pen, uint16_t id);

/** The element's value as an unsigned number (big-endian, its length); 0 when absent. */
uint64_t ipfix_rd_val(const struct ipfix_rd_rec *r, uint32_t pen, uint16_t id);

/** The element's bytes, or NULL. */
const uint8_t *ipfix_rd_raw(const struct ipfix_rd_rec *r, uint32_t pen, uint16_t id);

/** Free the records. */
void ipfix_rd_free(struct ipfix_rd *rd);

#endif
