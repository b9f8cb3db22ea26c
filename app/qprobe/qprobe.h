/*
 * qprobe daemon: options shared by main.c (command line) and live.c (the
 * DPDK run). Everything here is set once on the main thread before any lcore
 * starts and is read-only afterwards.
 */
#ifndef QPROBE_H
#define QPROBE_H

#include <stdint.h>

#include "qp_dns_dp.h"
#include "qp_rtp_dp.h"
#include "qp_sig.h"

struct config;

struct qprobe_opts {
	const char *drivers_cfg; /* NIC profiles directory; NULL: profile_default_dir() */
	int rx_desc_set;         /* --rx-desc given: it wins over the profiles */
	int quiet;               /* log level warning or error: no start-up information lines */
	/* two-point, offline: the secondary's capture and the matching options */
	const char *peer_pcap;
	const char *peer_filter;
	struct qp_sig_cfg sig;
	uint64_t loss_timer_ns; /* 0: twice the interval */
	uint64_t break_ns;
	uint32_t match_window;
	/* IPFIX collectors (HOST:PORT[/udp|/tcp]) of the run's flow records
	 * (offline) or the standing measurement's (live), a file (offline),
	 * and the observation domain */
	const char *ipfix[8];
	int nipfix;
	const char *ipfix_file;
	uint32_t ipfix_domain;
	int ipfix_domain_set;      /* --ipfix-domain given: it wins over the config's */
	const char *pcap;          /* offline capture, NULL for live */
	const char *filter;        /* NULL: none */
	uint64_t interval_ns;
	uint64_t idle_ns;
	uint64_t active_ns;
	uint32_t max_flows;        /* per worker lcore */
	uint32_t flow_dists;       /* per-flow RTT distributions per worker lcore */
	const char *report_format; /* "json" or "table" */
	const char *report_file;   /* NULL: stdout */
	int report_requested;      /* live: write a report at exit */
	const char *http_addr;     /* bind address of the HTTP endpoint */
	int http_port;             /* 0: no HTTP endpoint */
	double duration_s;         /* live: stop after this long, 0 = until a signal */
	uint32_t mbufs;            /* live: mbufs in the pool */
	uint32_t rx_desc;          /* live: rx descriptors per queue */
	int force_sw_dist;         /* live: software distribution even with RSS */
	struct qp_rtp_cfg rtp;     /* RTP ports, dynamic clock rate, E-model delay */
	uint16_t dns_ports[QP_DNS_PORTS]; /* 0-ended; none: 53 */
	int tls_sni;               /* report TLS server names (personal data: off) */
	const char *packet_results; /* offline: packet results' CSV file (NULL: none) */
	uint32_t packet_rate;      /* packet results: records a second (0: offline all, live none) */
	uint32_t metrics_off;      /* QP_METRICS_* left out */
	uint32_t flow_key;         /* QP_FLOW_KEY_* parts of the flow key */
	/* live: measurements and control */
	int measure;               /* start a standing measurement from these options */
	const char *description;   /* of that measurement */
	uint64_t flow_budget;      /* flows per worker lcore over all measurements */
	uint64_t capture_ceiling;  /* bit/s a pcap result may ask for (0: the default) */
	uint32_t meas_max_flows;   /* a QMCP measurement's table when START names none */
	int busy_poll;             /* keep polling with no measurement */
	int ts_port;               /* --timestamps port: ports' Rx timestamps where given */
	const char *qmcp_addr;
	int qmcp_port;             /* 0: no QMCP */
	const char *secret_file;   /* NULL: no challenge-response */
	const char *allow;         /* allow-list, NULL: loopback only */
	const char *http_allow;    /* the HTTP endpoint's, NULL: loopback only */
	const char *web_config;    /* the HTTP endpoint's TLS and basic auth, NULL: none */
	const char *spool;         /* results not yet acknowledged kept here, NULL: memory only */
	const char *tls_cert, *tls_key; /* QMCP over TLS, NULL: plain QMCP only */
	int tls_only;              /* refuse plain QMCP */
	const char *tls_ca;        /* trust for tls:// receivers and peers, NULL: the system's */
	uint32_t spool_mb;         /* at most this many MiB a destination, 0: the default */
	const char *probe_id, *probe_name; /* NULL: from the host name */
	const char *config;        /* --config FILE */
	struct config *cfg;        /* what it says, NULL without one */
};

/** Run on DPDK ports; EAL is initialised. @return a QP_EXIT_* code. */
int qprobe_live(const struct qprobe_opts *o);

#endif
