/*
 * qp_flow_table: the per-lcore flow table.
 *
 * Each worker lcore owns one table and is its only writer: it looks flows up,
 * inserts them, expires them on idle and active timeouts and evicts the
 * longest-idle one when the table is full. The management core (and the HTTP
 * thread) walk the table to list flows, as RCU readers (liburcu QSBR): chains
 * are published with rcu_assign_pointer, and an unlinked entry goes back to
 * the table's free pool only after a grace period (call_rcu, once for a
 * batch of entries), so a reader never sees an entry reused under it. All
 * memory (entries, cold blocks, buckets, free pool) is allocated at
 * creation; the data path never allocates.
 *
 * Who may call what: qp_flow_table_create/destroy from the management core;
 * lookup/insert/expire/flush from the owning worker only; foreach/count from
 * any registered RCU reader inside rcu_read_lock().
 */
#ifndef QP_FLOW_TABLE_H
#define QP_FLOW_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <urcu-qsbr.h>
#ifdef __SSE4_1__
#include <smmintrin.h>
#endif

#include "qp_parse_dp.h"
#include "qp_dns_dp.h"
#include "qp_quic_dp.h"
#include "qp_tls_dp.h"
#include "qp_ts_dp.h"
#include "qp_echo_dp.h"
#include "qp_hist.h"
#include "qp_rtp_dp.h"
#include "qp_tcp_dp.h"

/* TCP handshake progress bits of qp_flow.tcp_state */
#define QP_TCP_ST_SYN 0x01    /* a SYN from the initiator was seen */
#define QP_TCP_ST_SYNACK 0x02 /* the SYN/ACK answering it was seen */
#define QP_TCP_ST_ACK 0x04    /* the ACK completing the handshake was seen */
/* what the flow's ports say, found at its first analysed segment (0 again
 * when an idle flow starts over) */
#define QP_TCP_PORTS 0x10 /* they were looked at */
#define QP_TCP_DNS 0x20   /* one is a DNS port */
#define QP_TCP_SIP 0x40   /* one is SIP's, 5060 */

/* qp_flow.udp_class bits */
#define QP_UDP_KNOWN 0x01 /* the flow's ports were looked at */
#define QP_UDP_DNS 0x02   /* one of them is a DNS port (DNS metrics on) */
#define QP_UDP_SIP 0x04   /* one of them is SIP's, 5060 */

#define QP_FLOW_RTP 4 /* RTP streams (and candidates) itemised per flow */

/* What application analysis a flow has (qp_flow.app): over UDP it says which
 * of the cold block's UDP states is the flow's (DNS, QUIC; RTP with NONE or
 * TS), over TCP and for TS what its application block holds */
#define QP_APP_NONE 0
#define QP_APP_DNS 1
#define QP_APP_QUIC 2 /* UDP only */
#define QP_APP_TLS 3  /* TCP only */
#define QP_APP_TLS_DONE 4 /* TLS whose handshake is all measured: its packets skip it */
#define QP_APP_TS 5 /* UDP only: an MPEG-2 transport stream (over RTP or not), in the application block */
#define QP_APP_FULL 0xFF /* the application blocks were all taken (counted once) */

/*
 * Application state of a TCP flow beside its TCP analysis (which fills the
 * cold block), or of a UDP transport stream beside its RTP analysis: from
 * a bounded pool of the table, bound to a cold block for good once taken,
 * like the RTT distributions.
 */
struct qp_flow_app {
	union {
		struct { /* QP_APP_DNS: DNS over TCP */
			struct qp_dns dns;
			struct qp_dns_stream dns_tcp[2];
		};
		struct qp_tls tls; /* QP_APP_TLS */
		struct qp_ts ts;   /* QP_APP_TS (UDP) */
	};
} __attribute__((aligned(64)));

/*
 * A flow's state beyond its three lines, per protocol: TCP's two directions,
 * RTP's, or ICMP echo. One block per entry (the same index in the table's
 * cold pool), attached when the flow first needs it (qp_flow_table_cold): a
 * UDP flow that is no RTP stream never touches it.
 */
struct qp_flow_cold {
	union {
		struct qp_tcp_dir tcp[2]; /* TCP flows */
		struct {
			/* UDP: RTP streams and candidates, one an SSRC and
			 * direction (WebRTC bundles several on a port pair) */
			struct qp_rtp_dir rtp[QP_FLOW_RTP];
			uint8_t rtp_dir[QP_FLOW_RTP]; /* each one's direction */
			uint8_t rtp_last; /* the one the latest packet went to */
			/* packets of streams beyond QP_FLOW_RTP: not itemised */
			uint32_t rtp_over;
			/* an endpoint of the flow announced by SIP: its clock
			 * rates, and streams without probation */
			uint8_t sdp_found;
			struct qp_sdp_map sdp;
			/* the RTP state's incarnation in its table (a new one at
			 * each attach, kept by a copy): what an interval's RTP
			 * streams know the flow by */
			uint32_t inc;
			/* where each stream's entry is in the interval slot iv_acc
			 * holds (its interval iv_num): index + 1, 0 not looked up
			 * yet; the worker's alone (a shared table's members take
			 * turns at it, each finding its own again) */
			uint16_t iv_idx[QP_FLOW_RTP];
			uint64_t iv_num;
			const void *iv_acc;
		};
		struct qp_echo echo; /* ICMP, ICMPv6: echo RTT */
		struct qp_dns dns;   /* UDP with app QP_APP_DNS */
		struct qp_quic quic; /* UDP with app QP_APP_QUIC */
	};
	/* RTT distribution of each direction: bound to this block for good
	 * once taken from the table's bounded pool (NULL: none); valid for the
	 * current flow when the entry's hist_live is 1 */
	struct qp_hist_counts *hist;
	/* TCP: the application block (NULL: none yet), bound likewise; valid
	 * for the current flow when the entry's app is a QP_APP_* kind */
	struct qp_flow_app *app;
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct qp_flow_cold) == 576, "a cold block is nine cache lines");

/*
 * One flow, as kept by its worker: three cache lines, all an ordinary UDP
 * or ICMP packet touches (TCP, RTP and echo go on in the cold block). The
 * layout is public because the worker's inline per-packet update writes it
 * directly.
 *
 * Thread-safety: written only by the owning worker. RCU readers may read any
 * field at any time and may see a flow between two updates (each aligned
 * 64-bit field is read whole); they must not write. `next` is the RCU-
 * protected chain link and `cold` is published once per flow: read them
 * with rcu_dereference() (or qp_flow_cold_of()).
 */
struct qp_flow {
	/* line 0: what the lookup reads */
	uint32_t next; /* the chain's next entry: its pool index + 1, 0 at the end */
	/* a table shared by measurements (qp_group_dp.h): the newest member
	 * whose filter's verdict `pass` holds, and whose stale bits are gone */
	uint32_t epoch;
	struct qp_flow_key key;
	uint8_t init_swapped; /* 1: the initiator (src, "fwd") is key endpoint 1 */
	union {
		uint8_t tcp_state; /* TCP: QP_TCP_ST_* */
		/* UDP: QP_UDP_* what the flow's ports say, found at its first
		 * analysed packet (0 again when an idle flow starts over) */
		uint8_t udp_class;
	};
	/* shared table: other entries of the key were there when this one was
	 * made (they come after it in the chain; without it, none does) */
	uint8_t more;
	uint8_t hist_live; /* the cold block's RTT distributions: 1 this flow's, 2 none to be had */
	uint8_t encap;
	uint8_t app; /* QP_APP_*: the flow's application analysis */
	uint16_t vlan; /* outermost VLAN id */
	/* line 1: counters */
	uint64_t first_ns; /* 0 until the first packet (and after an active-timeout export) */
	uint64_t last_ns;
	uint64_t pkts[2]; /* [0] fwd, [1] rev */
	uint64_t bytes[2];
	/* shared table: the member slots whose flow this entry is, and those
	 * whose filter passes the key's plain frames (0 in a table of its own) */
	uint32_t members;
	uint32_t pass;
	uint32_t size_min;
	uint32_t size_max;
	/* line 2: by the key's protocol */
	union {
		struct qp_iat iat; /* UDP, ICMP, and every protocol but TCP */
		struct {	   /* TCP: the handshake */
			uint64_t syn_ns;    /* time of the latest SYN before the SYN/ACK */
			uint64_t synack_ns; /* time of the latest SYN/ACK answering it */
			int64_t hs_rtt_ns;  /* SYN -> SYN/ACK, -1 until measured */
			int64_t hs_ack_rtt_ns; /* SYN/ACK -> ACK, -1 until measured */
			uint32_t syn_seq;
			uint32_t synack_seq;
		};
	};
	struct qp_flow_cold *cold; /* NULL until the flow's protocol needs it */
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct qp_flow) == 192, "a flow entry is three cache lines");
_Static_assert(offsetof(struct qp_flow, first_ns) == 64 && offsetof(struct qp_flow, iat) == 128,
	       "key, counters and the protocol's line each a line of their own");

/** The cold block a reader may read (a block of zeros when none is attached). */
const struct qp_flow_cold *qp_flow_cold_of(const struct qp_flow *f);

/* Why a flow left the table (argument of the expiry callback). */
enum qp_flow_end {
	QP_FLOW_END_IDLE,    /* no packet for the idle timeout */
	QP_FLOW_END_ACTIVE,  /* active timeout: record exported, flow continues */
	QP_FLOW_END_EVICTED, /* removed to make room for a new flow */
	QP_FLOW_END_FLUSH,   /* end of capture or shutdown */
};

/** Called by the owning worker for every flow record that is exported. */
typedef void qp_flow_export_fn(const struct qp_flow *f, enum qp_flow_end why, void *arg);

/**
 * Called by the owning worker when any record of the table ends, before it
 * is exported: `removed` 1 when the entry leaves the table (idle expiry,
 * eviction, flush, qp_flow_table_remove), 0 when it starts a new record in
 * place (qp_flow_table_restart). A table shared by measurements counts
 * each one's flows with it.
 */
typedef void qp_flow_end_fn(struct qp_flow *f, enum qp_flow_end why, int removed, void *arg);

/*
 * Table counters. Thread-safety: written by the owning worker only, read by
 * the management core without synchronisation (whole 64-bit loads).
 */
struct qp_flow_table_stats {
	uint64_t created;
	uint64_t expired_idle;
	uint64_t expired_active;
	uint64_t evicted;
	uint64_t table_full; /* packets whose new flow could not be stored */
	uint64_t hist_full;  /* flows that got no RTT distribution: pool exhausted */
	uint64_t app_full;   /* TCP flows that got no application block: pool exhausted */
};

struct qp_flow_table;
struct qp_flow_pool;

/* The most flows a table or a pool holds (and so a worker lcore's budget). */
#define QP_FLOW_TABLE_MAX (1u << 26)

/*
 * The memory flows live in: entries, their cold blocks, per-flow RTT
 * distributions and application blocks, and the ring of free entries. A
 * probe makes one pool for each worker lcore at start-up, sized by its flow
 * budget, placed on the lcore's NUMA node and faulted in there (huge pages
 * when the system has them reserved, else transparent huge pages advised);
 * every table of the lcore (each group of measurements, each two-point
 * measurement) draws its entries from it, so START allocates only a table's
 * buckets and the memory is the budget's whatever the measurements. A table
 * made with qp_flow_table_create() has a pool of its own, faulted in as
 * flows arrive (offline, tests).
 *
 * Thread-safety: the tables drawing on a pool are all owned by the same
 * worker, the only one to take from it; the call_rcu thread gives entries
 * back (MP ring). Created and destroyed by the management core.
 */

/** Memory from a hugepage heap (DPDK's), zeroed; NULL when it has none to give. */
typedef void *qp_pool_alloc_fn(size_t bytes, int socket, void *arg);
typedef void qp_pool_free_fn(void *p, void *arg);

struct qp_flow_pool_params {
	uint32_t flows;  /* flows the pool's tables hold together, 1 .. 2^26 */
	int shared;      /* 1: tables read by RCU readers (adds the reserve of entries
			  * waiting out a grace period: flows / 8, at least 64) */
	uint32_t dists;  /* per-flow RTT distributions (pairs) */
	uint32_t apps;   /* application blocks (DNS over TCP, TLS, MPEG-TS) */
	int socket;      /* NUMA node to place the memory on; -1: wherever it is faulted */
	int touch;       /* 1: fault every page in at creation, huge pages advised */
	qp_pool_alloc_fn *alloc; /* NULL: anonymous memory only */
	qp_pool_free_fn *free;
	void *alloc_arg;
};

/* Where a pool's memory comes from (qp_flow_pool_memory.kind). */
#define QP_POOL_LAZY 0       /* anonymous, faulted in as flows arrive */
#define QP_POOL_TOUCHED 1    /* anonymous, faulted in at creation (huge pages advised) */
#define QP_POOL_HUGEPAGES 2  /* the hugepage heap: pinned, faulted in */

/** The name of a QP_POOL_* kind ("lazy", "touched", "hugepages"). */
const char *qp_flow_pool_kind_str(int kind);

/** The bytes a pool of these parameters takes, every part. */
size_t qp_flow_pool_need(const struct qp_flow_pool_params *p);

/**
 * Create a pool. @return the pool, or NULL with errno EINVAL (bad size) or
 * ENOMEM (a pool to touch that needs more than the system has available is
 * refused before any of it is faulted in).
 */
struct qp_flow_pool *qp_flow_pool_create(const struct qp_flow_pool_params *p);

/** Destroy a pool no table draws on any more (NULL is accepted). */
void qp_flow_pool_destroy(struct qp_flow_pool *p);

/* A pool's parts and their sizes. */
struct qp_flow_pool_memory {
	uint32_t entries;         /* flow entries (the flows and the RCU reserve) */
	size_t entry_bytes;       /* one entry */
	size_t pool_bytes;        /* the entries */
	size_t cold_bytes;        /* one entry's cold block (TCP, RTP, echo, DNS, QUIC state) */
	size_t cold_pool_bytes;   /* the cold blocks, one per entry */
	size_t free_ring_bytes;   /* the ring of free entries */
	uint32_t rtt_dists;       /* per-flow RTT distributions */
	size_t rtt_dist_bytes;
	uint32_t app_blocks;      /* application blocks */
	size_t app_bytes;
	int socket;               /* the NUMA node it was placed on, -1: none asked */
	int kind;                 /* QP_POOL_* */
	uint64_t touch_ns;        /* how long faulting it in took */
	uint32_t tables;          /* tables drawing on it now */
	uint32_t in_use;          /* entries in some table or waiting out a grace period */
};

/** A pool's parts (any thread: sizes are set at creation, counts read whole). */
void qp_flow_pool_memory(const struct qp_flow_pool *p, struct qp_flow_pool_memory *m);

/** Bytes of a pool, every part. */
size_t qp_flow_pool_bytes(const struct qp_flow_pool_memory *m);

/**
 * A table of at most max_flows flows drawing on pool p (whose entries its
 * other tables may hold: a table finds none free when they have them all).
 * @param shared as qp_flow_table_create(); the pool's must be 1 too.
 * @return the table, or NULL with errno EINVAL (bad size) or ENOMEM.
 */
struct qp_flow_table *qp_flow_table_create_in(struct qp_flow_pool *p, uint32_t max_flows,
					      int shared);

/** The pool a table draws on. */
struct qp_flow_pool *qp_flow_table_pool(const struct qp_flow_table *t);

/**
 * Create a table for at most max_flows flows.
 *
 * @param max_flows  1 .. 2^26
 * @param shared     1 when RCU readers on other threads walk the table: entries
 *                   are then freed through call_rcu. 0 for a single-threaded
 *                   user (offline mode): entries are reused at once.
 * @return the table, or NULL with errno EINVAL (bad size) or ENOMEM.
 */
struct qp_flow_table *qp_flow_table_create(uint32_t max_flows, int shared);

/**
 * Give the table's own pool n per-flow RTT distributions (two per flow, one
 * per direction), before any flow is inserted. 0 (the default): none.
 * @return 0, or -ENOMEM; -EINVAL for a table drawing on a pool it shares.
 */
int qp_flow_table_set_hists(struct qp_flow_table *t, uint32_t n);

/**
 * The two RTT distributions of a flow (owner only), cleared for this flow on
 * first use; NULL when the pool is exhausted (counted in hist_full).
 */
struct qp_hist_counts *qp_flow_table_hist(struct qp_flow_table *t, struct qp_flow *f);

/** qp_flow_table_hist() with its common cases inline: the distributions are
 * already this flow's (hist_live 1: its cold block has them; a call was 31
 * instructions an RTT sample), or there are none for it (hist_live 2: the
 * pool ran out, and it only ever gives; on the realistic mix offline, 1,868
 * flows' samples called to learn it, 1.5 % of the measuring thread). */
static inline struct qp_hist_counts *qp_flow_table_hist_of(struct qp_flow_table *t,
							   struct qp_flow *f)
{
	if (__builtin_expect(f->hist_live == 1, 1))
		return f->cold->hist;
	if (f->hist_live == 2)
		return NULL;
	return qp_flow_table_hist(t, f);
}

/**
 * Give the table's own pool n application blocks (DNS over TCP...), before
 * any flow is inserted. 0 (the default): none.
 * @return 0, or -ENOMEM; -EINVAL for a table drawing on a pool it shares.
 */
int qp_flow_table_set_apps(struct qp_flow_table *t, uint32_t n);

/**
 * The application block of TCP flow f for analysis `kind` (owner only),
 * zeroed on first use for this flow; NULL when the pool is exhausted
 * (counted in app_full) or the flow has another kind.
 */
struct qp_flow_app *qp_flow_table_app(struct qp_flow_table *t, struct qp_flow *f, uint8_t kind);

/* What a table holds in memory beside its pool's, sized at creation. */
struct qp_flow_table_memory {
	size_t bucket_bytes;      /* the bucket array */
	size_t free_batch_bytes;  /* the batches unlinked entries wait out a grace period in */
	size_t batch_ring_bytes;  /* the ring of free batches */
};

/** The table's own memory (any thread: set at creation). */
void qp_flow_table_memory(const struct qp_flow_table *t, struct qp_flow_table_memory *m);

/**
 * Destroy a table (NULL is accepted): its entries go back to its pool, which
 * goes with it when it is the table's own. Waits for pending RCU frees, so
 * the calling thread must not be an online QSBR reader.
 */
void qp_flow_table_destroy(struct qp_flow_table *t);

/**
 * Destroy a table whose RCU frees are known to be done: its owner stopped,
 * a grace period passed and the caller ran rcu_barrier() since (one barrier
 * for every table of a measurement, not one each). NULL is accepted.
 */
void qp_flow_table_destroy_drained(struct qp_flow_table *t);

/** Bucket array, mask and pools, exposed for the inline lookup. */
struct qp_flow_table_hdr {
	uint32_t *buckets; /* the chain's first entry: pool index + 1, 0: empty */
	uint32_t mask;
	struct qp_flow *pool;
	struct qp_flow_cold *cold; /* cold[i] is pool[i]'s block */
};

static inline const struct qp_flow_table_hdr *qp_flow_table_hdr(const struct qp_flow_table *t)
{
	return (const struct qp_flow_table_hdr *)t;
}

/** The entry a chain link names (ref: pool index + 1, not 0). */
static inline struct qp_flow *qp_flow_table_at(const struct qp_flow_table *t, uint32_t ref)
{
	return &qp_flow_table_hdr(t)->pool[ref - 1];
}

/**
 * The cold block of flow f, attached and zeroed (the histogram binding
 * kept) on first use for this flow (owner only).
 */
/**
 * The cold block of flow f attached with only its first `bytes` zeroed (a
 * state that clears itself, smaller than the block: DNS, QUIC). Owner only.
 */
static inline struct qp_flow_cold *qp_flow_table_cold_part(struct qp_flow_table *t, struct qp_flow *f,
							    size_t bytes)
{
	struct qp_flow_cold *c = f->cold;
	if (c)
		return c;
	const struct qp_flow_table_hdr *h = qp_flow_table_hdr(t);
	c = &h->cold[f - h->pool];
	memset(c, 0, bytes);
	rcu_assign_pointer(f->cold, c);
	return c;
}

static inline struct qp_flow_cold *qp_flow_table_cold(struct qp_flow_table *t, struct qp_flow *f)
{
	struct qp_flow_cold *c = f->cold;
	if (__builtin_expect(c != NULL, 1))
		return c;
	const struct qp_flow_table_hdr *h = qp_flow_table_hdr(t);
	c = &h->cold[f - h->pool];
	memset(c, 0, offsetof(struct qp_flow_cold, hist));
	/* the block's zeros before the pointer a reader follows */
	rcu_assign_pointer(f->cold, c);
	return c;
}

static inline int qp_flow_key_eq(const struct qp_flow_key *a, const struct qp_flow_key *b)
{
#ifdef __SSE4_1__
	/* three 16-byte compares (DPDK builds for corei7 and up): 29 -> 11
	 * instructions a lookup, callgrind */
	const __m128i *x = (const __m128i *)(const void *)a, *y = (const __m128i *)(const void *)b;
	__m128i d = _mm_or_si128(_mm_xor_si128(_mm_loadu_si128(x), _mm_loadu_si128(y)),
				 _mm_xor_si128(_mm_loadu_si128(x + 1), _mm_loadu_si128(y + 1)));
	d = _mm_or_si128(d, _mm_xor_si128(_mm_loadu_si128(x + 2), _mm_loadu_si128(y + 2)));
	return _mm_testz_si128(d, d);
#else
	uint64_t x[6], y[6];
	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4]) |
		(x[5] ^ y[5])) == 0;
#endif
}

/** A TCP flow's cold block, attached at insert: found by index (owner only). */
static inline struct qp_flow_cold *qp_flow_table_tcp_cold(const struct qp_flow_table *t,
							 const struct qp_flow *f)
{
	const struct qp_flow_table_hdr *h = qp_flow_table_hdr(t);
	/* its byte offset three times the entry's: no division by 192 */
	_Static_assert(sizeof(struct qp_flow_cold) == 3 * sizeof(struct qp_flow),
		       "a cold block is three entries long");
	return (struct qp_flow_cold *)(void *)((char *)h->cold +
					       3 * (size_t)((const char *)f - (const char *)h->pool));
}

/**
 * Attach flow f's cold block for RTP state (owner only; f has none yet): a
 * new incarnation, what an interval's RTP streams know the flow by.
 */
struct qp_flow_cold *qp_flow_table_rtp_attach(struct qp_flow_table *t, struct qp_flow *f);

/*
 * The prefetches are always inlined: GCC takes a function of prefetches
 * alone for one without side effects and drops a call it did not inline
 * (this one was not: until now the flow prefetch never ran).
 */

/** Prefetch the bucket a hash falls in (owner, before a burst is processed). */
static inline __attribute__((always_inline)) void qp_flow_table_prefetch(const struct qp_flow_table *t, uint32_t hash)
{
	const struct qp_flow_table_hdr *h = qp_flow_table_hdr(t);
	__builtin_prefetch(&h->buckets[hash & h->mask]);
}

/**
 * Second stage of a burst: the bucket's slot has arrived (prefetched by
 * qp_flow_table_prefetch()); fetch the first flow of its chain, the lines a
 * packet of IP protocol `proto` touches, before the burst's lookups need them.
 */
static inline __attribute__((always_inline)) void qp_flow_table_prefetch_flow(const struct qp_flow_table *t, uint32_t hash,
					       uint8_t proto)
{
	const struct qp_flow_table_hdr *h = qp_flow_table_hdr(t);
	uint32_t r = h->buckets[hash & h->mask];
	if (!r)
		return;
	const char *b = (const char *)&h->pool[r - 1];
	/* key, counters and the protocol's line: every packet */
	__builtin_prefetch(b);
	__builtin_prefetch(b + 64);
	__builtin_prefetch(b + 128);
	if (proto == 6) {
		/* both directions' TCP state, in the entry's cold block */
		const char *c = (const char *)&h->cold[r - 1];
#pragma GCC unroll 16
		for (unsigned int off = 0; off < sizeof(struct qp_tcp_dir[2]); off += 64)
			__builtin_prefetch(c + off);
	}
}

/** Find a flow; NULL when absent. Owner, or a reader inside rcu_read_lock(). */
static inline struct qp_flow *qp_flow_table_lookup(const struct qp_flow_table *t,
						   const struct qp_flow_key *key, uint32_t hash)
{
	const struct qp_flow_table_hdr *h = qp_flow_table_hdr(t);
	for (uint32_t r = rcu_dereference(h->buckets[hash & h->mask]); r;) {
		struct qp_flow *f = &h->pool[r - 1];
		if (qp_flow_key_eq(&f->key, key))
			return f;
		r = rcu_dereference(f->next);
	}
	return NULL;
}

/**
 * Insert a new flow for a packet whose key is not in the table (owner only).
 * When the table holds max_flows flows, the longest-idle of a bounded sample
 * is exported with QP_FLOW_END_EVICTED first.
 *
 * @return the zeroed flow with key, hash and init_swapped set, or NULL when no
 *         entry is free (counted in table_full).
 */
struct qp_flow *qp_flow_table_insert(struct qp_flow_table *t, const struct qp_pkt *pk,
				     qp_flow_export_fn *fn, void *arg);

/**
 * Copy flow f into a new entry of the same table (owner only), with the same
 * incarnation: a shared flow whose measurements part ways (qp_group_dp.h).
 * The copy takes no part of the limit's evictions: it may use the pool's
 * reserve. @return the copy, or NULL when no entry is free (counted in
 * table_full).
 */
struct qp_flow *qp_flow_table_clone(struct qp_flow_table *t, const struct qp_flow *f);

/** Unlink one flow without exporting it (owner only; the end callback says FLUSH). */
void qp_flow_table_remove(struct qp_flow_table *t, struct qp_flow *f);

/** Set the end callback (before the owner starts; NULL: none). */
void qp_flow_table_set_end_fn(struct qp_flow_table *t, qp_flow_end_fn *fn, void *arg);

/**
 * Flows the table holds before it evicts, at most the max_flows it was
 * created with (any thread; the owner sees the new limit at its next insert).
 */
void qp_flow_table_set_limit(struct qp_flow_table *t, uint32_t max_flows);

/**
 * What qp_flow_table_expire() does when the caller knows no flow can have
 * reached a timeout (owner only): the walk's place moves on by the buckets
 * it would have visited, so later walks reach each bucket when they would
 * have, and nothing else changes.
 */
void qp_flow_table_expire_skip(struct qp_flow_table *t, uint32_t max_buckets);

/**
 * Expire flows idle for idle_ns or active for active_ns (0 = no active
 * timeout), visiting at most max_buckets buckets from where the last call
 * stopped (owner only). Time is the caller's clock (packet time offline).
 *
 * @return the number of records exported.
 */
uint32_t qp_flow_table_expire(struct qp_flow_table *t, uint64_t now_ns, uint64_t idle_ns,
			      uint64_t active_ns, uint32_t max_buckets, qp_flow_export_fn *fn,
			      void *arg);

/** Called for each flow with packets a walk meets (owner). */
typedef void qp_flow_visit_fn(struct qp_flow *f, void *arg);

/**
 * qp_flow_table_expire(), and visit(f, varg) for every flow with packets the
 * walk leaves in the table; with `wrapped` (not NULL), the walk stops after
 * the table's last bucket and says so in *wrapped (1: a pass over the whole
 * table ended; 0 else).
 */
uint32_t qp_flow_table_expire_visit(struct qp_flow_table *t, uint64_t now_ns, uint64_t idle_ns,
				    uint64_t active_ns, uint32_t max_buckets, qp_flow_export_fn *fn,
				    void *arg, qp_flow_visit_fn *visit, void *varg, int *wrapped);

/**
 * Export a flow's record and start a new one in the same entry (owner only).
 * Used when a packet arrives for a flow past its idle timeout (why IDLE: the
 * new record starts from scratch) or active timeout (why ACTIVE: the record
 * continues where the exported one ended). Counts the expiry.
 */
void qp_flow_table_restart(struct qp_flow_table *t, struct qp_flow *f, enum qp_flow_end why,
			   qp_flow_export_fn *fn, void *arg);

/** Export and remove every flow (owner only, or after the owner stopped). */
void qp_flow_table_flush(struct qp_flow_table *t, qp_flow_export_fn *fn, void *arg);

/** Call fn for every flow with packets; caller holds rcu_read_lock() or is the owner. */
void qp_flow_table_foreach(const struct qp_flow_table *t,
			   void (*fn)(const struct qp_flow *f, void *arg), void *arg);

/** Flows currently in the table. */
uint32_t qp_flow_table_count(const struct qp_flow_table *t);

/** Flows held before evicting: the capacity given at creation, or the limit set since. */
uint32_t qp_flow_table_capacity(const struct qp_flow_table *t);

/** Counters kept by one core, copied by another: each whole, one maybe an update behind. */
void qp_flow_table_stats_copy(struct qp_flow_table_stats *out, const struct qp_flow_table_stats *in);

/** Counters (a snapshot copy). */
void qp_flow_table_stats(const struct qp_flow_table *t, struct qp_flow_table_stats *out);

/** Bucket count; the expiry walk visits this many buckets for a full pass. */
uint32_t qp_flow_table_buckets(const struct qp_flow_table *t);

#endif
