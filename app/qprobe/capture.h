/*
 * capture: pcap results (QMCP CAPTURE): the packets a measurement counts,
 * streamed to the session that asked as pcapng in PCAP_DATA pushes. The
 * workers copy into per-lcore rings (lib/qp_cap.h); the management core
 * merges the rings in time order, writes the blocks, and ends a capture on
 * its count, its duration, a CAPTURE with ON 0, its measurement's end, its
 * session's end or the probe's.
 *
 * Thread-safety: management thread only.
 */
#ifndef QPROBE_CAPTURE_H
#define QPROBE_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "meas.h"

/* What CAPTURE asks for. */
struct cap_req {
	uint32_t snaplen;     /* 16..65535 */
	uint32_t count;       /* packets, 0: no limit */
	uint32_t duration_ms; /* 0: until stopped */
	uint64_t rate_bps;    /* > 0, at most the ceiling */
	char filter[1024];    /* narrows the measurement's ("": none) */
};

/* Why a capture ended (QMCP CAPTURE_END). */
enum { CAP_END_COUNT = 1, CAP_END_DURATION, CAP_END_STOPPED, CAP_END_MEAS, CAP_END_PROBE };

/** The probe-wide ceiling of a capture's budget, bit/s (the config's; 0: the default). */
void cap_set_ceiling(uint64_t bps);
uint64_t cap_ceiling(void);

/**
 * Start a capture of measurement id for session `session`, its pushes
 * carrying req_id. @return 0, or a QMCP error code with why (what was
 * wrong and what is accepted).
 */
int cap_start(int session, uint32_t req_id, uint32_t id, const struct cap_req *rq, char *why,
	      size_t whylen);

/** End session's capture of measurement id (CAPTURE ON 0). @return 0, or -ENOENT. */
int cap_stop(int session, uint32_t id);

/** Move what the workers took to the sessions; end captures whose count or time is over. */
void cap_poll(void);

/** A session closes: its captures end (nothing more is sent to it). */
void cap_session_closed(int session);

/** Measurement m stopped and no worker reads it any more: its capture ends. */
void cap_meas_stopped(struct meas *m);

/** The probe stops (its workers have): every capture ends. */
void cap_fini(void);

/** Captures running. */
unsigned int cap_count(void);

#endif
