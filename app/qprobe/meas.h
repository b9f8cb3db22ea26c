/*
 * meas: the measurements of a live probe, on the management core.
 *
 * A measurement is a filter, an interval, flow timeouts, a metric set and
 * RTP settings, with its own per-lcore worker state (flow table, interval
 * slots, counters) so measurements never see each other's flows. Starting
 * or stopping one publishes a new measurement set to the workers with
 * rcu_assign_pointer; a stopped measurement's state is freed only after a
 * grace period, so a worker never waits and never touches freed memory.
 * Closed intervals are kept (a bounded ring per measurement) for QMCP
 * RESULTS and HTTP, and handed to a hook (subscribers, results push).
 *
 * Thread-safety: meas_start/stop/tick run on the management thread only.
 * The table of measurements and their result rings are guarded by one mutex
 * (meas_lock/unlock) that the HTTP thread takes to read; flow tables are
 * walked as an RCU reader under that mutex. Workers read only the published
 * struct meas_set.
 */
#ifndef QPROBE_MEAS_H
#define QPROBE_MEAS_H

#include <stdint.h>

#include <jansson.h>
#include <rte_lcore.h>

#include "qp_http.h"
#include "qp_report.h"
#include "qp_group_dp.h"
#include "qp_worker_dp.h"
#include "ipfix.h"
#include "tpl.h"

#define MEAS_MAX 64          /* measurements at once */
#define MEAS_KEEP 600        /* closed intervals kept per measurement */
#define MEAS_DEST_MAX 4      /* results receivers per measurement */
#define MEAS_FLOWS_PAGE_MAX 1000
#define MEAS_FLOWS_DEPTH_MAX 100000 /* offset + count of a flow page */

/* What a controller (or the command line, or the config) asks for. */
struct meas_params {
	char filter[1024];
	uint64_t interval_ns;
	uint64_t idle_ns, active_ns;
	uint32_t max_flows;  /* per worker lcore */
	uint32_t metrics_off;
	uint32_t flow_key; /* QP_FLOW_KEY_* */
	struct qp_rtp_cfg rtp;
	uint16_t dns_ports[QP_DNS_PORTS]; /* 0-ended; none: port 53 */
	uint8_t tls_sni;                  /* report TLS server names */
	uint32_t packet_rate;             /* packet results: records a second (0: none) */
	char desc[256];
	int persist;
	char dest[MEAS_DEST_MAX][256];
	int ndest;
	char ipfix[IPX_MAX][256]; /* IPFIX collectors, HOST:PORT[/udp|/tcp] */
	int nipfix;
	struct tpl_params tp; /* two-point role and selection (role 0: none) */
};

struct meas;

/**
 * A results destination as accepted everywhere (QMCP START, config file):
 * "host:port" or "[IPv6]:port", port 1..65535, shorter than a dest slot.
 * @return 0 or -EINVAL.
 */
int meas_dest_check(const char *d);

/* What the workers read: published with rcu_assign_pointer. */
struct meas_set {
	unsigned int n;
	struct {
		const struct qp_measure_cfg *cfg;
		struct qp_worker *const *w; /* by worker index */
		/* the next interval the management core closes (atomic; UINT64_MAX: none
		 * yet): under port time a worker reads no frame that would take the
		 * slot of an interval not closed yet */
		const uint64_t *next_iv;
		int grouped; /* measured through one of g[] (not on its own) */
	} m[MEAS_MAX];
	/* measurements sharing a flow table per lcore (qp_group_dp.h) */
	unsigned int ng;
	struct {
		struct qp_group *const *g; /* by worker index */
		struct qp_group_view v;
	} g[MEAS_MAX];
};

/** Called for every closed interval (seq from 0), management thread. */
typedef void meas_result_fn(struct meas *m, uint64_t seq, const struct qp_interval_rec *rec,
			    void *arg);

/**
 * Set up the table: nworkers worker lcores, flow budget per lcore shared by
 * all measurements, per-flow RTT distributions per measurement and lcore.
 * @return 0 or -ENOMEM.
 */
int meas_init(unsigned int nworkers, const unsigned int *worker_lcores, uint64_t flow_budget,
	      uint32_t flow_dists, meas_result_fn *hook, void *hook_arg);

/**
 * Where packet time comes from (management core, before any start): `now`
 * gives it (the disciplined TSC clock, or the ports' latest Rx timestamp);
 * port_time says it is the ports' (a replayed file's time: a measurement's
 * first interval is its first frame's, and empty years are skipped).
 */
void meas_set_clock(uint64_t (*now)(void), int port_time);

/**
 * Measurement ids continue from run to run: the next one is read from path
 * (when it is there) and kept there as ids are given. So results of an earlier
 * run (a spool's) and of this one never share a measurement id at a receiver.
 * @return 0, or -1 with err set (the file says something else than an id).
 */
int meas_ids_file(const char *path, char *err, size_t errlen);

/* The set workers read, never NULL after meas_init(): rcu_dereference() it. */
extern struct meas_set *meas_published;

/**
 * Start a measurement. @return its id (> 0), or a negative errno with a
 * message for the caller in err: -EINVAL bad parameter (err says which and
 * what is accepted), -ENOSPC too many measurements or flows over budget,
 * -ENOMEM.
 */
long meas_start(const struct meas_params *p, const char *owner, int session, char *err,
		size_t errlen);

/**
 * Stop one: unpublish, wait for a grace period, close its last interval,
 * free its state. @return 0 or -ENOENT.
 */
int meas_stop(uint32_t id);

/** Stop every measurement of a session that is not persistent. @return how many. */
int meas_stop_session(int session);

/**
 * Stop them all (shutdown, workers already ended): each one's last interval
 * is closed and handed to the hook; keep_id (0: none) stays in the table,
 * unpublished, for meas_report(); meas_fini() frees it.
 */
void meas_stop_all(uint32_t keep_id);
/** Free what is left. */
void meas_fini(void);

/** Close the intervals that have ended (final: the current one too). */
void meas_tick(uint64_t now_ns, int final);

/** Lock the table for reading from another thread. */
void meas_lock(void);
void meas_unlock(void);

/** What it was started with. */
const struct meas_params *meas_params(const struct meas *m);

/** A measurement's state on worker i (table locked, or on the management thread). */
struct qp_worker *meas_worker(struct meas *m, unsigned int i);

/**
 * Worker i of m gets (delta 1) or loses (-1) a capture: a table it shares
 * accounts frames one by one meanwhile (management thread).
 */
void meas_capturing(struct meas *m, unsigned int i, int delta);

/** Find a measurement (table locked, or on the management thread). */
struct meas *meas_find(uint32_t id);
uint32_t meas_id(const struct meas *m);
int meas_session(const struct meas *m);
unsigned int meas_count(void);
/** The i-th measurement in id order (table locked), or NULL. */
struct meas *meas_at(unsigned int i);

/** A measurement as JSON (detail: with counters and per-lcore flow tables). Table locked. */
json_t *meas_json(struct meas *m, int detail);

/** The latest closed interval (table locked), or NULL before the first. */
const struct qp_interval_rec *meas_last_result(const struct meas *m);

/** Intervals closed with a worker's part lost (the management core came too late). */
uint64_t meas_intervals_incomplete(const struct meas *m);

/** Two-point state and totals (tpl_json), or NULL when not two-point. Table locked. */
json_t *meas_two_point_json(struct meas *m);

/**
 * One closed interval as results carry it: README's interval object plus
 * "seq" and "measurement", compact JSON text (malloc'd), NULL on ENOMEM.
 */
char *meas_result_text(const struct meas *m, uint64_t seq, const struct qp_interval_rec *rec);

/**
 * The latest intervals, oldest first, as JSON (README's interval object plus
 * "seq" and "measurement"). Table locked. last: 1..MEAS_KEEP.
 */
json_t *meas_intervals_json(struct meas *m, unsigned int last);

/** Visit the kept intervals with seq >= from (at most max), oldest first. Table locked. */
void meas_foreach_result(struct meas *m, unsigned int last,
			 void (*fn)(uint64_t seq, const struct qp_interval_rec *rec, void *arg),
			 void *arg);

/**
 * A page of active flows, largest first: flows[offset .. offset+count).
 * Table locked; walks the flow tables as an RCU reader. *total: active flows.
 * @return a JSON array, or NULL on ENOMEM.
 */
json_t *meas_flows_json(struct meas *m, unsigned int offset, unsigned int count,
			enum qp_flow_sort sort, uint64_t *total);

/**
 * The largest flows (at most QP_TOP_FLOWS, by bytes) of the workers' latest
 * walks of their tables, which end at least once an interval: what results
 * pushed to receivers carry (no table is walked); those of a measurement
 * stopped, whose last results these are, as its tables hold them now (one
 * walk). NULL for a measurement without receivers. Called without the
 * measurements' lock.
 */
json_t *meas_top_flows_json(struct meas *m);

/** Counters summed over lcores and measurements, and per-lcore ones, for /api/v1/stats. */
void meas_totals(struct qp_capture_totals *sum);
/**
 * The flow tables of one worker lcore (a shared one once), each with its
 * own memory (buckets, batches), its measurements and its bytes; their bytes
 * together in *total. Called with the measurements' lock held.
 */
json_t *meas_lcore_tables_json(unsigned int worker, size_t *total);
/**
 * The pool of flow memory of one worker lcore, which its tables draw on:
 * every part and its bytes, the NUMA node, where the memory comes from,
 * how long faulting it in took; its bytes in *total. Any thread.
 */
json_t *meas_lcore_pool_json(unsigned int worker, size_t *total);
/** One lcore's counters summed over measurements. */
void meas_lcore_totals(unsigned int worker, struct qp_capture_totals *sum, uint32_t *flows);

/** The report of one measurement (live, at exit), to a file or stdout. @return QP_EXIT_*. */
int meas_report(uint32_t id, const char *format, const char *file, const char *source_desc);

#endif
