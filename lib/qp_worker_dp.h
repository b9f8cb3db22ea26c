/*
 * qp_worker_dp: the per-packet path of a worker lcore.
 *
 * A burst of frames (from a DPDK rx queue, a distributor ring or the offline
 * reader) goes through: measurement filter -> parser -> flow lookup/insert ->
 * per-flow update (counters, sizes, TCP handshake) -> interval accumulator.
 * Everything a worker writes lives in its own struct qp_worker; it never
 * locks, allocates, logs or makes a system call here.
 *
 * Called by exactly one thread per struct qp_worker: a worker lcore live, the
 * reader thread offline. The management core reads the counters, the
 * interval slots and (as an RCU reader) the flow table.
 */
#ifndef QP_WORKER_DP_H
#define QP_WORKER_DP_H

#include <stdint.h>
#include <string.h>

#include "qp_cap.h"
#include "qp_pres.h"
#include "qp_dns_dp.h"
#include "qp_flow_table.h"
#include "qp_frame.h"
#include "qp_hist.h"
#include "qp_parse_dp.h"

struct qp_filter;
struct qp_group;
struct qp_top;
struct qp_sig_cfg;
struct qp_tp_ring;

/*
 * Worker counters: JSON key, Prometheus suffix and help text come from this
 * one list.
 */
#define QP_WORKER_COUNTERS(X)                                                         \
	X(packets, "Frames handed to the worker")                                        \
	X(bytes, "Bytes of those frames (wire length, FCS excluded)")                      \
	X(filtered_out, "Frames rejected by the measurement filter")                      \
	X(non_ip, "Well-formed frames that carry no IP (ARP, LLDP...)")                   \
	X(parse_errors, "Malformed frames not measured (sum of the parse error reasons)") \
	X(measured, "Frames counted in a flow")                                          \
	X(unattributed, "IP frames not counted in a flow because the flow table was full") \
	X(frag_unattributed, "Later IP fragments whose first fragment was not seen")     \
	X(ts_backwards, "Frames with a timestamp earlier than the one before")           \
	X(tcp_bad_options, "TCP segments with an option of impossible length")          \
	X(ip_len_over_frame, "TCP segments whose IP length is more than the frame holds (the frame's is used)") \
	X(tp_selected, "Two-point: packets selected and recorded for matching")          \
	X(tp_unsignable, "Two-point: packets whose signed bytes were not all captured")   \
	X(bursts, "Non-empty bursts processed")

struct qp_worker_counters {
#define QP_CNT_FIELD_(name, help) uint64_t name;
	QP_WORKER_COUNTERS(QP_CNT_FIELD_)
#undef QP_CNT_FIELD_
	uint64_t perr[QP_PARSE_ERR_COUNT]; /* by qp_parse_result - QP_PARSE_ERR_FIRST */
};

/*
 * One RTP stream's figures within one interval of one worker. The jitter
 * values are the A.8 estimate after each of the interval's packets, in RTP
 * timestamp units.
 */
struct qp_iv_rtp {
	struct qp_flow_key key;
	uint8_t init_swapped; /* of the flow: with dir, who sends the stream */
	uint8_t dir;          /* 0 fwd, 1 rev */
	uint8_t pt;
	uint8_t pad;
	uint32_t flow_inc; /* the flow entry's incarnation (qp_flow.inc) */
	uint32_t ssrc;
	uint32_t clock_hz;
	uint32_t received, expected; /* packets the stream's counts grew by */
	uint32_t jitter_n;
	double jitter_last, jitter_sum, jitter_max;
};

/* RTP streams itemised per interval and worker; more are counted only */
#define QP_IV_RTP_STREAMS 256
/* An interval's streams by flow incarnation and direction: open addressing,
 * at most QP_IV_RTP_KNOWN streams (itemised or not) told apart */
#define QP_IV_RTP_INDEX 1024
#define QP_IV_RTP_KNOWN 768
_Static_assert(QP_IV_RTP_STREAMS < 65535, "qp_iv_rtp_slot.idx is 16 bits");
_Static_assert((QP_IV_RTP_INDEX & (QP_IV_RTP_INDEX - 1)) == 0 && QP_IV_RTP_KNOWN < QP_IV_RTP_INDEX,
	       "a power of two, never full");

struct qp_iv_rtp_slot {
	uint32_t inc;
	uint16_t idx; /* in rtp_streams, UINT16_MAX: counted in rtp_streams_over */
	uint8_t k;    /* the flow's stream: qp_flow_cold.rtp[k] */
	uint8_t used;
};

/* One interval's totals of one worker. */
struct qp_interval_acc {
	uint64_t iv; /* interval number: (ts - base_ns) / interval_ns */
	uint64_t pkts[2];
	uint64_t bytes[2];
	/* TCP events by the direction of the segment; RTT samples by the
	 * direction of the packet answered */
	uint64_t retrans[2], ooo[2], dup_acks[2], zero_win[2], resets[2];
	struct qp_hist rtt[2];
	struct qp_hist echo_rtt[2]; /* ICMP echo RTT, by the direction of the request */
	/* RTP streams of the interval, by direction: packets, expected packets,
	 * and the A.8 jitter estimate after each packet */
	uint64_t rtp_received[2], rtp_expected[2];
	struct qp_hist rtp_jitter[2];
	/* DNS messages and response times */
	struct qp_dns_totals dns;
	struct qp_hist dns_rt;
	/* QUIC: packets by header form, handshakes (both halves) and spin-bit
	 * RTT samples by the direction of the edges */
	struct qp_quic_totals quic;
	struct qp_hist quic_hs;
	struct qp_hist quic_rtt[2];
	/* TLS: handshakes timed, by the version selected, and their halves */
	struct qp_tls_totals tls;
	struct qp_hist tls_hello, tls_data;
	/* MPEG-2 transport streams: packets, continuity and sync errors */
	struct qp_ts_totals ts;
	/* the same per stream: the first QP_IV_RTP_STREAMS streams with a
	 * packet in the interval, the number of further ones in streams_over.
	 * Must stay last: a new slot zeroes the fields before it only. */
	uint32_t rtp_known; /* streams in rtp_index */
	struct qp_iv_rtp_slot rtp_index[QP_IV_RTP_INDEX];
	uint32_t rtp_nstreams, rtp_streams_over;
	struct qp_iv_rtp rtp_streams[QP_IV_RTP_STREAMS];
};

#define QP_IV_SLOTS 8
_Static_assert((QP_IV_SLOTS & (QP_IV_SLOTS - 1)) == 0, "power of two");
/* a slot's number while its worker rewrites it for a new interval */
#define QP_IV_REWRITING UINT64_MAX

/*
 * What a measurement asks of the workers. Published by the management core
 * with rcu_assign_pointer and read by workers under the QSBR read side; a
 * replaced version is freed with call_rcu.
 */
struct qp_measure_cfg {
	struct qp_filter *filter; /* NULL: every frame */
	int linktype;             /* QP_LINK_* of the frames */
	uint64_t base_ns;         /* interval 0 starts here */
	uint64_t interval_ns;
	uint64_t idle_ns;   /* flow idle timeout */
	uint64_t active_ns; /* flow active timeout, 0 = none */
	uint32_t metrics_off; /* QP_METRICS_* not wanted (0: every metric) */
	uint32_t flow_key;    /* QP_FLOW_KEY_* parts beside the 5-tuple (0: 5-tuple only) */
	struct qp_rtp_cfg rtp;
	/* UDP and TCP ports whose traffic is DNS (0-ended; default 53) */
	uint16_t dns_ports[QP_DNS_PORTS];
	uint8_t tls_sni; /* keep TLS server names (personal data: off by default) */
	const struct qp_sig_cfg *sig; /* two-point: sign and select (NULL: not two-point) */
	struct rcu_head rcu;
};

/* Metric families a measurement may leave out (traffic counts are always kept). */
#define QP_METRICS_TCP 0x02  /* TCP analysis and RTT */
#define QP_METRICS_RTP 0x04  /* RTP streams, UDP inter-arrival */
#define QP_METRICS_ICMP 0x08 /* ICMP echo RTT and inter-arrival */
#define QP_METRICS_DNS 0x10  /* DNS response times and codes */
#define QP_METRICS_QUIC 0x20 /* QUIC handshake and spin-bit RTT */
#define QP_METRICS_TLS 0x40  /* TLS handshake timing */
#define QP_METRICS_MPEGTS 0x80 /* MPEG-2 transport streams: continuity, sync, PCR */
#define QP_METRICS_ALL                                                                       \
	(QP_METRICS_TCP | QP_METRICS_RTP | QP_METRICS_ICMP | QP_METRICS_DNS | QP_METRICS_QUIC | \
	 QP_METRICS_TLS | QP_METRICS_MPEGTS)

/* The families by name, for the command line, the config and the docs. */
#define QP_METRIC_FAMILIES(X)  \
	X("tcp", QP_METRICS_TCP)   \
	X("rtp", QP_METRICS_RTP)   \
	X("icmp", QP_METRICS_ICMP) \
	X("dns", QP_METRICS_DNS)   \
	X("quic", QP_METRICS_QUIC) \
	X("tls", QP_METRICS_TLS)   \
	X("mpegts", QP_METRICS_MPEGTS)
#define QP_METRIC_NAMES "traffic, tcp, rtp, icmp, dns, quic, tls, mpegts"

/** The family named s (a QP_METRICS_* bit; 0 for "traffic", always on), or -1. */
static inline int qp_metrics_family(const char *s)
{
	if (!strcmp(s, "traffic"))
		return 0;
#define QP_MF_(n, bit)        \
	if (!strcmp(s, n)) \
		return bit;
	QP_METRIC_FAMILIES(QP_MF_)
#undef QP_MF_
	return -1;
}


/*
 * A worker's state. Thread-safety: every field is written by the owning
 * thread only. The management core reads `cnt`, `iv` and `cur_iv` with plain
 * 64-bit loads (a value may be one packet old) and walks `flows` under
 * rcu_read_lock().
 */
struct qp_worker {
	unsigned int id;
	struct qp_flow_table *flows;
	qp_flow_export_fn *export_fn; /* called for each exported flow record, may be NULL */
	void *export_arg;
	struct qp_worker_counters cnt;
	uint64_t cur_iv;     /* interval of the latest packet */
	uint64_t cur_iv_end; /* its end, ns (0 before the first packet) */
	struct qp_interval_acc *cur_acc; /* its slot, iv[cur_iv % QP_IV_SLOTS] */
	uint64_t last_ts;
	/* the lowest frame time measured, + 1 (0: none yet): no flow of the
	 * table has a time below it, so no timeout can end one before then */
	uint64_t ts_low;
	int have_iv;
	struct qp_interval_acc iv[QP_IV_SLOTS];
	uint64_t busy_cycles; /* TSC cycles spent on non-empty bursts (live) */
	uint64_t total_cycles; /* TSC cycles of the poll loop (live) */
	struct qp_tp_ring *tp_ring; /* two-point records go there (with cfg->sig) */
	/* pcap results: the packets it accounts go there (NULL: none); set
	 * and cleared by the management core, freed after a grace period */
	struct qp_cap_ring *cap;
	/* packet results: a record of each packet it accounts goes there
	 * (NULL: none); set and cleared as cap is */
	struct qp_pres_ring *pres;
	/* cap or pres is set (the one test a packet pays); the management
	 * core sets it after them and clears it before them */
	uint8_t taps;
	/* the largest flows its expiry walk finds (NULL: none wanted; results
	 * pushed to receivers carry them), set before the worker sees the
	 * measurement; and when the walk last stepped */
	struct qp_top *top; /* qp_top.h */
	uint64_t top_step_ns;
	/* a member of a table shared by measurements (qp_group_dp.h): `flows`
	 * is the group's, not this worker's; its slot there, the epoch it
	 * joined at, and its own part of the table's flows and counts */
	struct qp_group *group;
	unsigned int slot;
	uint32_t join;
	uint32_t nflows;
	struct qp_flow_table_stats fstats;
	struct qp_parse_ctx parse;
} __attribute__((aligned(64)));

/** After cap or pres changed: the flag the packet path tests (the setter's thread). */
static inline void qp_worker_taps_update(struct qp_worker *w)
{
	CMM_STORE_SHARED(w->taps, (uint8_t)((w->cap != NULL) | (w->pres != NULL) << 1));
}

/**
 * Prepare a worker. The flow table is created here with max_flows entries.
 *
 * @param shared 1 when another thread reads the flow table (live mode)
 * @return 0, or -ENOMEM / -EINVAL from qp_flow_table_create()
 */
int qp_worker_init(struct qp_worker *w, unsigned int id, uint32_t max_flows, int shared);

/** qp_worker_init() with a table drawing on pool p (a probe's lcore's). */
int qp_worker_init_in(struct qp_worker *w, unsigned int id, struct qp_flow_pool *p,
		      uint32_t max_flows, int shared);

/**
 * Prepare a worker that measures through a group's shared table (its flows
 * are the group's entries with its slot; qp_group_dp.h).
 */
void qp_worker_init_member(struct qp_worker *w, unsigned int id, struct qp_group *g,
			   unsigned int slot, uint32_t join);

/** Flows the worker's measurement has in its table (any thread). */
uint32_t qp_worker_flow_count(const struct qp_worker *w);

/** Its flow counters: created, expired, evicted... (a snapshot, any thread). */
void qp_worker_flow_stats(const struct qp_worker *w, struct qp_flow_table_stats *out);

/** Call fn for each of its flows with packets (inside rcu_read_lock(), or the owner). */
void qp_worker_flows_foreach(const struct qp_worker *w,
			     void (*fn)(const struct qp_flow *f, void *arg), void *arg);

/** Release what qp_worker_init() allocated (the struct itself is the caller's). */
void qp_worker_fini(struct qp_worker *w);

/**
 * The same for n workers no thread runs any more, with one rcu_barrier()
 * for all their tables (the calling thread must not be an online QSBR reader).
 */
void qp_workers_fini(struct qp_worker *const *w, unsigned int n);

/** Process a burst of n frames under configuration cfg. */
void qp_worker_process(struct qp_worker *w, const struct qp_measure_cfg *cfg,
		       const struct qp_frame *fr, unsigned int n);

/*
 * A burst parsed once for every measurement of a worker lcore: each
 * measurement's filter still sees every frame, but the parse (and the
 * fragment attribution) is done once. On the lcore's stack; its own.
 */
#define QP_PARSED_MAX 64
struct qp_parsed {
	unsigned int n;
	int linktype;
	uint32_t key_parts; /* QP_FLOW_KEY_* the keys were made of */
	int8_t r[QP_PARSED_MAX]; /* enum qp_parse_result of each frame */
	struct qp_pkt pk[QP_PARSED_MAX];
};

/** Parse at most QP_PARSED_MAX frames with the lcore's parse context. Cannot fail. */
void qp_parse_burst(struct qp_parse_ctx *ctx, int linktype, uint32_t key_parts,
		    const struct qp_frame *fr, unsigned int n, struct qp_parsed *out);

/**
 * qp_worker_process() on a parsed burst (the frames fr[0 .. pp->n) that pp
 * was parsed from). A measurement whose flow key or link type differs from
 * the parse's parses for itself.
 */
void qp_worker_process_parsed(struct qp_worker *w, const struct qp_measure_cfg *cfg,
			      const struct qp_frame *fr, const struct qp_parsed *pp);

/**
 * Bounded housekeeping: expire idle and active flows, visiting at most
 * max_buckets buckets. now_ns is the worker's clock (packet time offline).
 * With a top set (w->top), the walk also offers it every flow it meets, and
 * goes as fast as ending a pass an interval (a second at least) takes
 * (qp_top_pace): at the end of each pass the set is published.
 */
/**
 * Buckets a walk step visits so that a pass over `buckets` takes at most
 * interval_ns, or QP_TOP_PASS_MIN_NS when that is longer: the share of the
 * time since the last step (*last, updated), at least min_buckets, at most
 * QP_TOP_STEP_MAX.
 */
uint32_t qp_top_pace(uint64_t *last, uint64_t now_ns, uint64_t interval_ns, uint32_t buckets,
		     uint32_t min_buckets);
#define QP_TOP_STEP_MAX 65536
/* A pass a second at most: a table of 2^20 buckets and a million flows
 * takes 30 ms of the worker's a pass (8.7 ms with 100,000 flows) */
#define QP_TOP_PASS_MIN_NS 1000000000ULL

void qp_worker_expire(struct qp_worker *w, const struct qp_measure_cfg *cfg, uint64_t now_ns,
		      uint32_t max_buckets);

/* What qp_worker_interval_read() found. */
#define QP_IV_READ 1  /* out holds the worker's totals of the interval */
#define QP_IV_NONE 0  /* the worker had no frame in it */
#define QP_IV_LOST -1 /* a later interval took its slot: the worker's part is gone */

/**
 * Read one interval's totals from a worker (management core, or the offline
 * reader). The slot is sequence-checked: a copy the worker rewrote meanwhile
 * for a later interval is not taken for the interval's.
 * @return QP_IV_READ, QP_IV_NONE or QP_IV_LOST
 */
int qp_worker_interval_read(const struct qp_worker *w, uint64_t iv, struct qp_interval_acc *out);

#endif
