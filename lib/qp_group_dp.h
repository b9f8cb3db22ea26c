/*
 * qp_group_dp: measurements of one worker lcore that share a flow table.
 *
 * Measurements with the same flow semantics (link type, flow key, idle and
 * active timeouts, metrics, RTP settings; not two-point) form a group: per
 * lcore one table, in which each frame is looked up once and each flow's
 * TCP, RTP, inter-arrival and echo analysis is done once. What stays per
 * measurement is its struct qp_worker: counters, interval slots, and its
 * part of the table's flows (the entries with its slot in `members`).
 *
 * An entry holds exactly what each of its members would hold in a table of
 * its own: it was made by the first frame of its key that their filters
 * passed after they joined, and a frame updates it only when every one of
 * its members' filters passes the frame. A frame that some members of an
 * entry pass and others do not splits it: the others get a copy the frame
 * does not touch. The figures of a measurement are the ones it has alone
 * (tests/unit/test_group_dp.c holds the two paths to each other); only
 * evictions differ, the limit being the members' flows together.
 *
 * Filters: one that reads only what the key holds (qp_filter_flow_invariant:
 * hosts, nets, ports, protocols, VLANs) says the same of every plain frame of
 * a key (qp_pkt.plain), so its verdict is taken once per key and kept in the
 * entry (`pass`, valid at `epoch`); other filters, and every filter on other
 * frames, run on each frame.
 *
 * Slots and epochs: a member takes a free slot and a join epoch higher than
 * any before. A slot's bit in an entry whose epoch is older than the slot's
 * member's join belongs to a member that has left: it is dropped when the
 * worker next meets the entry, and never counted meanwhile.
 *
 * Who calls what: create, set_limit and destroy from the management core;
 * process and expire from the lcore's worker only, one call at a time; the
 * view is published by the management core (RCU) and read by the worker.
 */
#ifndef QP_GROUP_DP_H
#define QP_GROUP_DP_H

#include <stdint.h>

#include "qp_flow_table.h"
#include "qp_worker_dp.h"

#define QP_GROUP_SLOTS 31                  /* members of one group at most */
#define QP_GROUP_PASS_KNOWN (1u << 31)     /* qp_flow.pass holds the verdicts */
_Static_assert(QP_GROUP_SLOTS < 32, "slots are bits of qp_flow.members, bit 31 says `known`");

struct qp_group;

/* One member, as the worker sees it. */
struct qp_group_member {
	unsigned int slot;
	uint32_t join;                    /* its join epoch (> 0) */
	const struct qp_measure_cfg *cfg; /* its filter and intervals */
	struct qp_worker *const *w;       /* its state, by worker index */
};

/*
 * The members of a group, as the management core publishes them (RCU) and
 * the worker reads them for one burst. Immutable once published.
 */
struct qp_group_view {
	const struct qp_measure_cfg *cfg; /* the flow semantics, any member's */
	unsigned int n;
	uint32_t epoch;     /* the latest member's join */
	uint32_t active;    /* slots with a member */
	uint32_t per_frame; /* slots whose filter runs on every frame */
	uint32_t join[QP_GROUP_SLOTS]; /* by slot: its member's join epoch */
	uint8_t at[QP_GROUP_SLOTS];    /* by slot: its member's index in m */
	struct qp_group_member m[QP_GROUP_SLOTS]; /* n of them */
};

/**
 * Complete a view whose cfg, n and m[] are set: epoch, active, per_frame,
 * join and at. @return 0, or -EINVAL for a slot out of range or taken twice,
 * or a join epoch of 0
 */
int qp_group_view_build(struct qp_group_view *v);

/**
 * Create one lcore's part of a group: a table of at most max_flows flows
 * (its limit starts there; see qp_group_set_limit) with `dists` per-flow RTT
 * distributions. @param shared as qp_flow_table_create()
 * @return the group, or NULL with errno EINVAL or ENOMEM
 */
struct qp_group *qp_group_create(uint32_t max_flows, uint32_t dists, int shared);

/** qp_group_create() with a table drawing on pool p (its RTT distributions are the pool's). */
struct qp_group *qp_group_create_in(struct qp_flow_pool *p, uint32_t max_flows, int shared);

/** Flows held before evicting: the members' flows together (management core). */
void qp_group_set_limit(struct qp_group *g, uint32_t max_flows);

/**
 * A member's capture begins (+1) or ends (-1) on this lcore's table: while
 * any is on, frames are accounted one by one (management core).
 */
void qp_group_capturing(struct qp_group *g, int delta);

/** The group's table (RCU readers walk it; its owner is the worker). */
struct qp_flow_table *qp_group_flows(const struct qp_group *g);

/**
 * Destroy groups no worker runs any more, with one rcu_barrier() for all
 * their tables (not from an online QSBR reader). NULL entries are skipped.
 */
void qp_groups_fini(struct qp_group *const *g, unsigned int n);

/**
 * Process a burst for every member of view v (worker index idx): pp is the
 * burst parsed by the lcore (qp_parse_burst), or NULL; a parse of another
 * flow key or link type than the group's is not used.
 */
void qp_group_process(struct qp_group *g, const struct qp_group_view *v, unsigned int idx,
		      const struct qp_frame *fr, unsigned int n, const struct qp_parsed *pp);

/** Bounded housekeeping, as qp_worker_expire(), for every member. */
void qp_group_expire(struct qp_group *g, const struct qp_group_view *v, unsigned int idx,
		     uint64_t now_ns, uint32_t max_buckets);

/** Export and remove every flow (the worker, or after it stopped), FLUSH. */
void qp_group_flush(struct qp_group *g, const struct qp_group_view *v, unsigned int idx);

#endif
