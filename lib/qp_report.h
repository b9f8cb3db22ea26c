/*
 * qp_report: what a measurement found, as records and as output.
 *
 * Collects flow records (copied out of the flow tables when flows are
 * exported or when a listing is taken), interval totals and capture counters,
 * and renders them as the JSON report (the contract scripts rely on, see
 * README) or as a readable table. Runs on the management core, or on the
 * offline reader thread; it is never called per packet in live mode.
 */
#ifndef QP_REPORT_H
#define QP_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "qp_flow_table.h"
#include "qp_hist.h"
#include "qp_worker_dp.h"

/* A flow as reported: a copy, so it outlives the table entry. */
struct qp_flow_rec {
	struct qp_flow_key key;
	uint8_t init_swapped;
	uint8_t end; /* enum qp_flow_end, or 255 for a flow still active */
	uint8_t encap;
	uint16_t vlan;
	uint64_t first_ns, last_ns;
	uint64_t pkts[2], bytes[2];
	uint32_t size_min, size_max;
	int64_t hs_rtt_ns, hs_ack_rtt_ns;
	/* TCP, per direction of the segments ([0] fwd) */
	uint32_t retrans[2], ooo[2], dup_acks[2], zero_win[2], resets[2];
	uint8_t tcp_flags[2];      /* flags of the direction's segments, ORed */
	uint16_t syns[2], fins[2]; /* SYN and FIN segments (saturate at 65535) */
	/* RTT samples of the packets sent in each direction */
	struct qp_stat rtt[2];
	uint8_t rtt_pct;                      /* the percentiles below are known */
	double rtt_p50[2], rtt_p90[2], rtt_p99[2]; /* ms, within 0.79 % */
	uint8_t tcp_ts; /* both directions carry TCP timestamps */
	uint32_t tsv_over[2]; /* TSvals pushed out of the waiting set before an echo */
	/* RTP stream of each direction (UDP flows), valid when .valid */
	struct qp_rtp_rec {
		uint8_t valid;
		uint8_t dir; /* 0 fwd, 1 rev */
		uint8_t pt;
		uint32_t ssrc, clock_hz;
		uint32_t packets, expected, lost, dups, ooo;
		uint32_t other_pt, ts_jumps;
		double jitter_last_ms, jitter_mean_ms, jitter_max_ms, mos;
	} rtp[QP_FLOW_RTP]; /* the flow's streams, in the order they began */
	uint32_t rtp_over; /* packets of streams beyond them, not itemised */
	/* UDP and ICMP: inter-arrival times; ICMP: echo requests, replies, RTT */
	uint8_t has_iat;
	struct qp_stat iat[2];
	uint8_t has_echo;
	uint32_t echo_req[2], echo_rep[2];
	struct qp_stat echo_rtt[2];
	/* DNS: the record's messages; queries waiting when it was taken (a
	 * flow ended on its idle timeout counts them unanswered instead) */
	uint8_t has_dns;
	struct qp_dns_counts dns;
	uint32_t dns_pending;
	struct qp_stat dns_rt;
	uint8_t dns_pct; /* the percentiles below are known */
	double dns_p50, dns_p90, dns_p99; /* ms, within 0.79 % */
	/* QUIC: its state as the record was taken (handshake, counts, spin) */
	uint8_t has_quic;
	struct qp_quic quic;
	uint8_t quic_pct; /* the spin RTT percentiles below are known */
	double quic_p50[2], quic_p90[2], quic_p99[2]; /* ms, within 0.79 % */
	/* TLS: its state as the record was taken */
	uint8_t has_tls;
	struct qp_tls tls;

	uint8_t has_ts; /* an MPEG-2 transport stream: continuity, sync, PCR by PID */
	struct qp_ts ts;
};

/** Copy a flow's RTP figures (cfg: the E-model's settings). */
void qp_flow_rec_rtp(struct qp_flow_rec *r, const struct qp_flow *f, const struct qp_rtp_cfg *cfg);

#define QP_FLOW_REC_ACTIVE 255

/* A distribution summarised for output, in ms. */
struct qp_dist_summary {
	uint64_t n;
	double min, mean, max, p50, p90, p99;
};

/** Summarise a histogram of ns values into ms figures. */
void qp_dist_summarize(const struct qp_hist *h, struct qp_dist_summary *s);

/** Copy a flow (owner, or an RCU reader inside rcu_read_lock()). */
void qp_flow_rec_from(struct qp_flow_rec *r, const struct qp_flow *f, int end);

/** One interval's totals, summed over workers. */
struct qp_interval_rec {
	uint64_t start_ns;
	uint64_t duration_ns;
	uint64_t pkts[2], bytes[2];
	uint64_t retrans[2], ooo[2], dup_acks[2], zero_win[2], resets[2];
	struct qp_dist_summary rtt[2];
	struct qp_dist_summary echo_rtt[2];
	uint64_t rtp_received[2], rtp_expected[2];
	struct qp_dist_summary rtp_jitter[2];
	struct qp_dns_totals dns;
	struct qp_dist_summary dns_rt;
	struct qp_quic_totals quic;
	struct qp_dist_summary quic_hs, quic_rtt[2];
	struct qp_tls_totals tls;
	struct qp_dist_summary tls_hello, tls_data;
	struct qp_ts_totals ts;
	/* per RTP stream (heap, owned by the record: qp_interval_rec_release) */
	struct qp_rtp_iv_rec *streams;
	uint32_t nstreams;
	uint64_t streams_over; /* streams with packets in the interval, not itemised */
	/* live two-point: the figures the primary finished since the previous
	 * interval, JSON text (heap, owned; NULL: none) */
	char *tp_json;
	/* live packet results: the records of the interval's packets, JSON
	 * text (heap, owned; NULL: none) */
	char *pres_json;
	/* live: worker lcores whose part was gone when the interval was closed
	 * (the management core came too late); 0: the interval is complete */
	uint32_t lcores_missed;
};

/* One RTP stream within one interval, as reported. */
struct qp_rtp_iv_rec {
	struct qp_flow_key key;
	uint8_t init_swapped, dir, pt;
	uint32_t ssrc;
	uint32_t packets, expected, lost;
	double jitter_last_ms, jitter_mean_ms, jitter_max_ms; /* 0 without jitter samples */
	uint32_t jitter_samples;
	double mos;
};

/**
 * Fill an interval record from the accumulators of one interval summed over
 * workers (acc->rtt merged); the caller sets start and duration. The
 * streams are left as they are (qp_interval_rec_add_streams): start from a
 * zeroed record.
 */
void qp_interval_rec_from(struct qp_interval_rec *r, const struct qp_interval_acc *acc);

/**
 * Append the RTP streams of one worker's interval accumulator (cfg: the
 * E-model's settings). @return 0, or -ENOMEM (the streams are then counted
 * in streams_over).
 */
int qp_interval_rec_add_streams(struct qp_interval_rec *r, const struct qp_interval_acc *acc,
				const struct qp_rtp_cfg *cfg);

/** Free what an interval record owns (its streams); the record stays valid and empty. */
void qp_interval_rec_release(struct qp_interval_rec *r);

/** Add one worker's interval accumulator to a sum (counters and histograms). */
void qp_interval_acc_add(struct qp_interval_acc *sum, const struct qp_interval_acc *a);

/* Capture-wide totals: worker counters summed, plus the flow table's. */
struct qp_capture_totals {
	struct qp_worker_counters w;
	struct qp_flow_table_stats t;
};

/** Add one worker's counters and flow table stats to a sum. */
void qp_capture_totals_add(struct qp_capture_totals *sum, const struct qp_worker *w);

struct qp_report;

/** Create an empty report, or NULL with errno ENOMEM. */
struct qp_report *qp_report_create(void);
/** Destroy (NULL accepted). */
void qp_report_destroy(struct qp_report *r);

/** Append a flow record. @return 0 or -ENOMEM. */
int qp_report_add_flow(struct qp_report *r, const struct qp_flow_rec *fr);
/**
 * Append flow f as its table entry holds it at the end (QP_FLOW_END_FLUSH):
 * not copied now, its record is made from the entry (qp_flow_rec_from, then
 * qp_flow_rec_rtp with rtp) each time it is read. For the flows a run finds
 * in its table when it is done: f, its cold block and *rtp must stay as they
 * are until the report is destroyed, and every one comes after every record
 * added (qp_report_add_flow) when two tie in the report's order. An offline
 * run of 10,000 flows copied 4 MB of records it had to fault in first.
 * @return 0 or -ENOMEM.
 */
int qp_report_add_flow_kept(struct qp_report *r, const struct qp_flow *f,
			    const struct qp_rtp_cfg *rtp);
/** Append a copy of an interval (its streams copied too). @return 0 or -ENOMEM. */
int qp_report_add_interval(struct qp_report *r, const struct qp_interval_rec *iv);

/**
 * Flow record i (i < qp_report_flow_count()) whole into *out: in the order
 * they were added until the report is written, in the report's order after.
 */
void qp_report_flow(const struct qp_report *r, size_t i, struct qp_flow_rec *out);

/**
 * Add an interval's accumulator to the capture-wide TCP totals (counters
 * and RTT distributions over all samples).
 */
void qp_report_add_tcp(struct qp_report *r, const struct qp_interval_acc *acc);

/** Describe the source: kind ("pcap", "live"), path or ports, link type, precision, filter. */
void qp_report_set_source(struct qp_report *r, const char *kind, const char *path,
			  const char *linktype, const char *ts_precision, const char *filter);
/** The flow key parts (QP_FLOW_KEY_*) the flows were told apart by; default none (5tuple). */
void qp_report_set_flow_key(struct qp_report *r, uint32_t parts);
/** Set the capture totals. */
void qp_report_set_totals(struct qp_report *r, const struct qp_capture_totals *t);

/** Number of flow records held. */
size_t qp_report_flow_count(const struct qp_report *r);

/*
 * An extension of the JSON report (two-point results): an object added at the
 * top level under name, and one added to each flow and each interval under
 * the same name when the callbacks return one (new references, or NULL).
 */
struct qp_report_ext {
	const char *name;
	json_t *(*top)(void *arg);
	json_t *(*flow)(const struct qp_flow_rec *fr, void *arg);
	json_t *(*interval)(const struct qp_interval_rec *iv, void *arg);
	void *arg;
};

/** Set (or with NULL clear) the report's extension; the struct is copied. */
void qp_report_set_ext(struct qp_report *r, const struct qp_report_ext *ext);

/**
 * Write the report to out as JSON (format "json", streamed one flow and one
 * interval at a time) or a table ("table"). @return 0 or -errno.
 */
int qp_report_write(struct qp_report *r, const char *format, FILE *out);

/** One flow record as the JSON object of the report and of /api/v1/flows. */
json_t *qp_flow_rec_json(const struct qp_flow_rec *fr);

struct qp_jw;
/** The same record's keys and values, into an object the writer has open. */
void qp_flow_rec_write(struct qp_jw *w, const struct qp_flow_rec *fr);

/** One interval as the JSON object of the report and of /api/v1/intervals. */
json_t *qp_interval_rec_json(const struct qp_interval_rec *iv);

/** Worker counters (plus parse errors by reason) as a JSON object. */
json_t *qp_counters_json(const struct qp_worker_counters *c);

/** Text form of one endpoint address of a key (IPv6 compressed). */
void qp_key_addr_str(const struct qp_flow_key *k, int endpoint, char *buf, size_t len);

/** The version string of qprobe. */
const char *qp_version(void);

#endif
