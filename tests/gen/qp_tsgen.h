/*
 * qp_tsgen: MPEG-2 transport streams over UDP and RTP with their truth, for
 * the tests and `qp_gen mpegts`. The stream is a file of 188-byte packets
 * (one ffmpeg wrote, in the tests) or a synthetic one (PAT, PMT, video with
 * PCRs, audio, null packets). It is sent as several flows, 7 packets a
 * datagram, each flow damaged its own way:
 *
 *   port 5000  clean, with one 100 ms pause (PCR intervals over 40 ms)
 *   port 5002  datagrams lost (1 in 37)
 *   port 5004  over RTP (type 33, RFC 2250), datagrams lost (1 in 41)
 *   port 5006  packets sent twice (1 in 97) and three times (1 in 211)
 *   port 5008  10 bytes of garbage before a datagram's third packet (1 in
 *              29), a datagram's last packet cut to 187 bytes (1 in 53),
 *              the transport error indicator set (1 in 101)
 *
 * The truth does not read continuity counters: each packet sent keeps its
 * place among its PID's packets with a payload in the clean stream (whose
 * counters must run without a gap), and a PID's errors and losses are the
 * places it skipped between the packets sent (fewer than 16 in a row, so
 * that the 4-bit counter can tell). PCR intervals are the sending times of
 * a PID's packets with a PCR.
 */
#ifndef QP_TSGEN_H
#define QP_TSGEN_H

#include <stddef.h>
#include <stdint.h>

#include "qp_pcapw.h"
#include "qp_ts_dp.h"

#define TSG_FLOWS 5
#define TSG_PIDS 16

struct tsg_pid {
	uint16_t pid;
	uint32_t packets, cc_errors, lost;
	uint32_t pcr_n, pcr_late;
	uint64_t pcr_sum_ns, pcr_max_ns;
};

struct tsg_flow {
	const char *src, *dst;
	uint16_t sport, dport;
	int rtp; /* over RTP, payload type 33 */
	uint32_t datagrams, rtp_lost;
	struct qp_ts_counts c; /* what the probe is to count */
	int npids;
	struct tsg_pid pid[TSG_PIDS];
};

struct tsg_truth {
	int n;
	struct tsg_flow f[TSG_FLOWS];
};

/** A synthetic stream of n packets (188 * n bytes, heap; the caller frees). */
uint8_t *tsg_synthetic(size_t n);

/**
 * Write the flows of the stream (len bytes at ts: whole packets whose
 * continuity counters run without a gap) to w from t0. Fills the truth.
 * @return 0, or -1 with a message on stderr when the stream is not one.
 */
int tsg_write(struct pw *w, uint64_t t0, const uint8_t *ts, size_t len, struct tsg_truth *t);

#endif
