/*
 * qp_tls_dp: the TLS handshake's timing from one point (RFC 8446, 5246),
 * per TCP flow, on any port.
 *
 * A TCP flow is TLS when the first payload of one side, among its first
 * packets, is a handshake record (type 22, version 3.x) holding a
 * ClientHello (handshake type 1) of at most 128 KiB, or an SSL 2.0-format
 * ClientHello offering SSL 3.0 or TLS (older clients). That side is the
 * client. The probe times, in clear and without keys:
 *   ClientHello -> ServerHello: from the segment that completes the
 *     ClientHello to the one that completes the ServerHello (the server's
 *     think time plus the server's side of the RTT; Wireshark dates both
 *     messages by those segments);
 *   ServerHello -> client data: from there to the segment where the
 *     client's first application-data record (type 23) begins: its first
 *     request in TLS 1.2, its Finished in TLS 1.3 (encrypted, the two look
 *     alike on the wire): the handshake is over for the client.
 * The client's records are followed by their lengths across segments (in
 * order; a gap ends the following). Versions: the highest the client
 * offers (supported_versions, else the ClientHello's) and the one the
 * ServerHello selects. The server name (SNI) is kept only when asked for
 * (it is personal data), from the ClientHello's first segment.
 *
 * Thread-safety: lives in a TCP flow's application block; written by its
 * worker only.
 */
#ifndef QP_TLS_DP_H
#define QP_TLS_DP_H

#include <stdint.h>

#define QP_TLS_SNI 64 /* bytes of a server name kept (longer ones are cut) */

#define QP_TLS_ST_CH 0x01     /* the ClientHello began (client_dir, ch_end known) */
#define QP_TLS_ST_CH_DONE 0x02 /* its last segment was seen: ch_ns */
#define QP_TLS_ST_SH 0x04     /* the ServerHello began */
#define QP_TLS_ST_SH_DONE 0x08 /* its last segment was seen: sh_ns */
#define QP_TLS_ST_DATA 0x10   /* the client's first application data: data_ns */
#define QP_TLS_ST_LOST 0x20   /* the client's records cannot be followed any more */

struct qp_tls {
	uint8_t st;
	uint8_t client_dir;
	uint8_t hdr_have; /* bytes of a client record header gathered */
	uint8_t sni_len;
	uint16_t client_version; /* highest offered */
	uint16_t version;        /* selected by the ServerHello, 0 until seen */
	uint32_t ch_end;  /* sequence number after the ClientHello */
	uint32_t sh_end;  /* after the ServerHello */
	uint32_t nxt;     /* the client's next sequence number, records followed */
	uint32_t rec_left; /* bytes of the current client record still to come */
	uint8_t hdr[5];
	uint64_t ch_ns, sh_ns, data_ns;
	uint32_t malformed; /* handshake messages that do not parse */
	char sni[QP_TLS_SNI];
};

/* What one segment did, for the interval accumulators. */
struct qp_tls_event {
	uint8_t hello;      /* ClientHello -> ServerHello measured now */
	uint8_t data;       /* ServerHello -> client data measured now */
	uint16_t version;   /* with hello: the version selected */
	uint64_t hello_ns, data_ns;
};

/* The same summed over flows and workers (an interval's). */
struct qp_tls_totals {
	uint64_t hellos;       /* ClientHello -> ServerHello measured */
	uint64_t data;         /* ServerHello -> client data measured */
	uint64_t versions[6];  /* hellos by version: SSL 3.0, TLS 1.0 .. 1.3, other */
};

static inline unsigned int qp_tls_version_index(uint16_t v)
{
	return v >= 0x0300 && v <= 0x0304 ? (unsigned int)(v - 0x0300) : 5;
}

static inline void qp_tls_totals_add(struct qp_tls_totals *t, const struct qp_tls_event *e)
{
	t->hellos += e->hello;
	t->data += e->data;
	if (e->hello)
		t->versions[qp_tls_version_index(e->version)]++;
}

static inline void qp_tls_totals_merge(struct qp_tls_totals *t, const struct qp_tls_totals *s)
{
	t->hellos += s->hellos;
	t->data += s->data;
	for (int i = 0; i < 6; i++)
		t->versions[i] += s->versions[i];
}

/**
 * 1 when a TCP payload (cap bytes) begins a TLS ClientHello.
 */
int qp_tls_detect(const uint8_t *p, uint32_t cap);

/**
 * A TCP segment of the flow: payload p (len bytes, cap captured), its
 * first byte's sequence number, direction, time; sni: keep the server name.
 */
void qp_tls_update(struct qp_tls *t, const uint8_t *p, uint32_t cap, uint32_t len, uint32_t seq,
		   unsigned int dir, uint64_t ts, int sni, struct qp_tls_event *ev);

/** "TLS 1.3", "TLS 1.2", "TLS 1.1", "TLS 1.0", "SSL 3.0", or "0x%04x". */
const char *qp_tls_version_name(uint16_t v, char *buf, unsigned int len);

#endif
