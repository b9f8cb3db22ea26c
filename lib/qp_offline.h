/*
 * qp_offline: measure a capture file (pcap or pcapng, micro- or nanosecond).
 *
 * Reads the file with libpcap at nanosecond precision (a nanosecond capture
 * keeps its nanoseconds; a microsecond one is exact in ns too), feeds the
 * frames through the same worker path as live traffic, with the file's own
 * timestamps as the clock, and writes the report when the file ends. Runs on
 * one thread; nothing else touches its worker.
 */
#ifndef QP_OFFLINE_H
#define QP_OFFLINE_H

#include <stdint.h>

#include "qp_dns_dp.h"
#include "qp_rtp_dp.h"
#include "qp_sig.h"

/* Exit codes shared by the offline and live modes of qprobe. */
#define QP_EXIT_OK 0
#define QP_EXIT_USAGE 1   /* bad command line */
#define QP_EXIT_INPUT 2   /* input refused: missing, unreadable, not a capture, bad link type, bad filter */
#define QP_EXIT_DAMAGED 3 /* capture damaged part way: report written for the readable part */
#define QP_EXIT_RUNTIME 4 /* out of memory, cannot write the report, port failure */

struct qp_offline_opts {
	const char *path;
	const char *filter;      /* NULL or "": none */
	uint64_t interval_ns;
	uint64_t idle_ns;
	uint64_t active_ns;      /* 0: none */
	uint32_t max_flows;
	uint32_t flow_dists;       /* flows that get an RTT distribution (percentiles) */
	const char *report_format; /* "json" or "table" */
	const char *report_file;   /* NULL: stdout */
	struct qp_rtp_cfg rtp;
	uint16_t dns_ports[QP_DNS_PORTS]; /* 0-ended; none: port 53 */
	uint32_t metrics_off;     /* QP_METRICS_* not wanted (0: every metric) */
	int tls_sni;              /* report TLS server names */
	uint32_t flow_key;        /* QP_FLOW_KEY_* parts of the flow key */
	/* two-point: the secondary's capture of the same traffic (NULL: none) */
	const char *peer_path;
	const char *peer_filter;  /* NULL: the same filter as the primary's */
	struct qp_sig_cfg sig;
	uint64_t loss_timer_ns;
	uint64_t break_ns;
	uint32_t match_window;    /* records waiting for their match, at most */
	/* IPFIX: collectors (qp_ipfix_out_open's spec) and a file, each sent
	 * every flow record at the end of the run */
	const char *const *ipfix;
	int nipfix;
	const char *ipfix_file;
	uint32_t ipfix_domain;
	/* packet results: a CSV line a measured packet into this file (NULL:
	 * none), at most packet_rate a second of the capture's time (0: all) */
	const char *packet_results;
	uint32_t packet_rate;
};

/**
 * Open the capture and check it can be measured (readable, known link
 * type, filter compiles) without reading any packet, then measure it.
 * Every refusal prints one line on stderr.
 *
 * Filters run in libpcap's interpreter (qp_filter_compile_classic): no
 * DPDK EAL is needed.
 *
 * @return a QP_EXIT_* code
 */
int qp_offline_run(const struct qp_offline_opts *opts);

#endif
