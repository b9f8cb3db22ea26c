/*
 * live.h: what the files of qprobe's live mode share. live.c sets up the
 * ports and lcores and runs the management loop; lcore.c is the worker and
 * distributor loops; ports.c the port set-up and NIC clocks; pclock.c the
 * packet clock (TSC discipline, port time); views.c what HTTP, /metrics,
 * QMCP INFO and DPDK telemetry show. The state they share is one struct live.
 */
#ifndef QPROBE_LIVE_H
#define QPROBE_LIVE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "ctl.h"
#include "meas.h"
#include "profile.h"
#include "qp_clock.h"
#include "qp_http.h"
#include "qmcp_codec.h"
#include "qprobe.h"

#define BURST 32
#define RING_SIZE 4096
#define EXPIRE_EVERY 64          /* poll loops between expiry steps */
#define EXPIRE_BUCKETS 64
#define IDLE_NAP_NS 10000000L     /* a worker with nothing to measure sleeps this long */

/* Per-port counters of /api/v1/stats and /metrics. */
#define QP_PORT_COUNTERS(X)                                            \
	X(ipackets, rx_packets, "Frames received by the port")         \
	X(ibytes, rx_bytes, "Bytes received by the port")              \
	X(imissed, imissed, "Frames dropped by the port: rx queue full") \
	X(ierrors, ierrors, "Erroneous frames received by the port")   \
	X(rx_nombuf, rx_nombuf, "Frames dropped for want of an mbuf")

/* Distributor counters. */
#define QP_DIST_COUNTERS(X)                                               \
	X(packets, "Frames received by the distributor")                  \
	X(ring_full, "Frames dropped because a worker's ring was full")    \
	X(ts_missing, "Frames of a port with Rx timestamps that came without one (TSC used)")

struct dist_counters {
#define F_(n, h) uint64_t n;
	QP_DIST_COUNTERS(F_)
#undef F_
};

/* Per worker lcore, whatever it measures. */
#define QP_LCORE_COUNTERS(X)                                                      \
	X(rx_packets, "Frames read by the lcore (from its queues or its ring)")   \
	X(rx_dropped_idle, "Frames read and dropped while no measurement ran")    \
	X(naps, "Sleeps taken while no measurement ran")                          \
	X(ts_missing, "Frames of a port with Rx timestamps that came without one (TSC used)")

/* Thread-safety: written by its worker only, read by the HTTP thread (whole loads). */
struct lcore_stat {
#define F_(n, h) uint64_t n;
	QP_LCORE_COUNTERS(F_)
#undef F_
	uint64_t busy_cycles, total_cycles;
	uint64_t done_ns; /* every frame this worker stamped before this time is processed */
	uint64_t port_ns; /* --timestamps port: the latest frame time it processed */
	int in_burst;     /* --timestamps port, distributor: frames taken, not yet measured */
	int idle;
} __attribute__((aligned(64)));

/* An (port, queue) pair a worker polls. */
struct rxq {
	uint16_t port;
	uint16_t queue;
};

/* What a port's Rx timestamps are (live.port_ts). */
enum { PORT_TS_NONE, PORT_TS_FILE, PORT_TS_NIC };

/*
 * Thread-safety: `clock` and `port_clock[]` are RCU-published by the
 * management core and read by every worker under the QSBR read side, like the
 * measurement set (meas_published); `disc` and `port_disc[]` are the
 * management core's; `clock_st` is written by
 * the management core and read by the HTTP and telemetry threads, under
 * `clock_mx` (the telemetry thread is no RCU reader); `quit` is set by the management core and polled by
 * workers; lst[i] is written by worker i only.
 */
struct live {
	const struct qprobe_opts *o;
	struct rte_mempool *mp;
	uint16_t ports[RTE_MAX_ETHPORTS];
	struct profile prof[RTE_MAX_ETHPORTS]; /* each port's NIC profile */
	uint16_t nports;
	int sw_dist;
	unsigned int nworkers;
	unsigned int worker_lcore[RTE_MAX_LCORE];
	struct lcore_stat lst[RTE_MAX_LCORE];
	struct rte_ring *ring[RTE_MAX_LCORE];
	unsigned int dist_lcore;
	int ts_off; /* mbuf dynfield holding the distributor's timestamp */
	/* --timestamps port: PORT_TS_* of each port; its frames carry the file's
	 * time (us) or the NIC clock's count in DPDK's Rx timestamp dynfield,
	 * flagged by rx_ts_flag */
	int port_ts[RTE_MAX_ETHPORTS];
	/* NIC clocks: each disciplined against the system clocks as the TSC is,
	 * from rte_eth_read_clock() */
	struct qp_clock_disc *port_disc[RTE_MAX_ETHPORTS];
	struct qp_clock *port_clock[RTE_MAX_ETHPORTS];
	int rx_ts_off;
	uint64_t rx_ts_flag;
	int ts_warned;
	struct qp_clock *clock;
	struct qp_clock_disc *disc;   /* management core only */
	pthread_mutex_t clock_mx;     /* guards clock_st */
	struct qp_clock_status clock_st; /* a copy for the HTTP and telemetry threads */
	struct qp_clock_status port_clock_st[RTE_MAX_ETHPORTS]; /* the same of NIC clocks */
	int quit;
	const char *source_desc;
	char probe_id[128], probe_name[128];
	struct qp_http *http; /* the HTTP endpoint (its counters), NULL: none */
	/* written by the distributor for every burst: on lines of their own, so
	 * the workers' reads of clock and quit above never miss for them */
	struct {
		struct dist_counters dist;
		int dist_idle;
		uint64_t dist_ns; /* --timestamps port: the latest frame time it handed out */
	} __attribute__((aligned(64)));
};
_Static_assert(offsetof(struct live, dist) % 64 == 0 &&
		       offsetof(struct live, quit) / 64 != offsetof(struct live, dist) / 64 &&
		       offsetof(struct live, clock) / 64 != offsetof(struct live, dist) / 64,
	       "the distributor's counters share no cache line with what workers read");


extern struct live L;

/* lcore.c: the polling lcores */
int lcore_worker_main(void *arg);
int lcore_dist_main(void *arg);
/** Start the distributor (if any) and the workers on their lcores. */
void lcore_launch(void);
/** Two-point: every frame worker i stamped before this time is processed. */
uint64_t lcore_done_ns(unsigned int i);
/** Give each worker its queues: queue i of every port with RSS, else queue 0. */
void lcore_assign_queues(int rss);

/* ports.c */
int ports_has_rss(uint16_t port, unsigned int nq);
/** Configure and start one port; its NIC clock too, under --timestamps port. @return 0 or an errno. */
int ports_setup(uint16_t port, uint16_t nrxq, int rss, const struct profile *prof);
/** One anchor of every NIC clock (management core, with the TSC's). */
void ports_nic_clock_anchor(int measuring);

/* pclock.c: the packet clock */
uint64_t pclock_read_tsc(void);
/** Frees a replaced struct qp_clock (call_rcu callback). */
void pclock_free_cb(struct rcu_head *h);
/** Start the TSC discipline and publish the first mapping. @return 0 or -ENOMEM. */
int pclock_start(void);
/** One anchor of every clock, with a line for what a user must know. */
void pclock_anchor(void);
/** Packet time for the measurements' intervals (management core). */
uint64_t pclock_packet_now(void);
/** One warning when a port that gives Rx timestamps sent frames without. */
void pclock_warn_missing_ts(void);
uint64_t pclock_mono_ns(void);

/* views.c */
/** The HTTP endpoint's callbacks. */
void views_http_ops(struct qp_http_ops *ops);

/** The dashboard page served at GET / (built in from app/qprobe/www/dashboard.html). */
const char *views_dashboard(size_t *len);
/** INFO's port and capability TLVs and JSON (ctl_cfg.info). */
void views_info_fill(struct qmcp_msg *m, json_t *j, void *arg);
/** /qprobe/<section> in DPDK telemetry. */
void views_tel_register(void);
/** Why this probe takes no two-point role, or NULL. */
const char *views_no_two_point(void);

#endif
