/*
 * qp_sdp: the media a SIP call announces in its SDP (RFC 4566), for the RTP
 * streams that follow: where each medium is received (the c= address and the
 * m= port) and the clock rate of each dynamic payload type there
 * (a=rtpmap:PT NAME/CLOCK). A SIP message on port 5060 (UDP, or TCP with the
 * message in one segment) is parsed by whichever worker sees it; its media go
 * into one table of the probe, which every worker's RTP detection reads: an
 * RTP flow with an announced endpoint takes its clock rates from it and is a
 * stream without the heuristic's probation.
 *
 * Bounded: QP_SDP_MEDIA media a message, QP_SDP_PTS payload types a medium,
 * lines and messages of at most what the payload holds; the table has a
 * fixed number of entries, the oldest of a set giving way, and an entry not
 * announced again for QP_SDP_EXPIRE_NS of packet time is forgotten.
 *
 * Thread-safety: qp_sdp_parse() is pure. The table may be written and read
 * by any number of threads at once: writers take a spinlock (SIP is rare),
 * readers take none (each entry is sequence-checked).
 */
#ifndef QP_SDP_H
#define QP_SDP_H

#include <stddef.h>
#include <stdint.h>

#define QP_SDP_MEDIA 4
#define QP_SDP_PTS 8
#define QP_SDP_EXPIRE_NS (2 * 3600 * 1000000000ull)

/* The clock rates of a medium's dynamic payload types. */
struct qp_sdp_map {
	uint8_t n;
	uint8_t pt[QP_SDP_PTS];
	uint32_t clock_hz[QP_SDP_PTS];
};

/* One medium: received at addr:port. */
struct qp_sdp_media {
	uint8_t ipver; /* 4 or 6 */
	uint8_t addr[16];
	uint16_t port;
	struct qp_sdp_map map;
};

/**
 * The media of a SIP message with an SDP body (len bytes at p, as captured).
 * @return how many (0: not SIP with SDP, or nothing usable in it).
 */
int qp_sdp_parse(const uint8_t *p, uint32_t len, struct qp_sdp_media out[QP_SDP_MEDIA]);

struct qp_sdp_table;

/** A table of n entries (rounded up to a power of two, at least 64); NULL: no memory. */
struct qp_sdp_table *qp_sdp_table_create(uint32_t n);
void qp_sdp_table_destroy(struct qp_sdp_table *t);

/** Announce a medium at packet time ts (replaces what the endpoint had). */
void qp_sdp_table_put(struct qp_sdp_table *t, const struct qp_sdp_media *m, uint64_t ts);

/**
 * What was announced for an endpoint, not expired at ts.
 * @return 1 and *map, or 0.
 */
int qp_sdp_table_get(const struct qp_sdp_table *t, uint8_t ipver, const uint8_t addr[16],
		     uint16_t port, uint64_t ts, struct qp_sdp_map *map);

/** Media announced so far (counter). */
uint64_t qp_sdp_table_announced(const struct qp_sdp_table *t);

#endif
