/*
 * qp_cap: pcap results. The packets a measurement counts, copied by its
 * workers (at most snaplen bytes each) into one ring per worker lcore, and
 * written by the management core as pcapng (Section Header, one Interface
 * Description per port with nanosecond timestamps, Enhanced Packet Blocks
 * with the direction, an Interface Statistics Block at the end).
 *
 * A worker never waits: a packet beyond the capture's budget of bytes a
 * second (a token bucket on the packets' own times, this lcore's share of
 * the capture's rate) or one that finds the ring full is dropped and
 * counted; a narrowing filter's misses are not drops (not counted).
 *
 * Thread-safety: one producer (the worker lcore that owns the ring), one
 * consumer (the management core); the counters are written by the worker
 * and read by the consumer whole. The encoders are pure functions.
 */
#ifndef QP_CAP_H
#define QP_CAP_H

#include <stddef.h>
#include <stdint.h>

struct qp_filter;

#define QP_CAP_SNAP_MIN 16
#define QP_CAP_SNAP_MAX 65535
#define QP_CAP_SNAP_DEFAULT 256
#define QP_CAP_RATE_DEFAULT 100000000ULL /* bit/s: a capture's budget unless asked for less */

/* One packet in a ring. */
struct qp_cap_pkt {
	uint64_t ts_ns;
	uint32_t wirelen;
	uint32_t caplen; /* bytes that follow */
	uint16_t port;   /* the capture port (DPDK port id) */
	uint8_t dir;     /* 0 the flow's initiator sent it (fwd), 1 rev, 2 not known */
	uint8_t pad[5];
};

struct qp_cap_ring {
	/* written by the worker */
	uint64_t head __attribute__((aligned(64)));
	uint64_t taken, over_budget, ring_full;
	uint64_t tokens; /* bytes the budget allows now */
	uint64_t tok_ns; /* packet time of the latest refill */
	/* written by the consumer */
	uint64_t tail __attribute__((aligned(64)));
	/* set at creation */
	uint32_t mask, slot_bytes, snaplen;
	uint64_t rate;   /* bytes a second, this ring's share */
	uint64_t burst;  /* the bucket's depth */
	const struct qp_filter *filter; /* narrowing filter (NULL: none), the caller's */
	uint8_t *slots;
};

/**
 * A ring of at least `packets` slots (rounded up to a power of two) for
 * packets of at most snaplen bytes, with a budget of rate bytes a second.
 * @return 0, or -EINVAL (snaplen outside 16-65535, rate 0), -ENOMEM
 */
int qp_cap_ring_init(struct qp_cap_ring *r, uint32_t packets, uint32_t snaplen, uint64_t rate,
		     const struct qp_filter *filter);
void qp_cap_ring_fini(struct qp_cap_ring *r);

/**
 * A counted packet (data, caplen bytes of wirelen, at ts_ns, from port, in
 * direction dir) into the ring (the worker). Never waits.
 */
void qp_cap_take(struct qp_cap_ring *r, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
		 uint64_t ts_ns, uint16_t port, unsigned int dir);

/** The oldest packet (the consumer), or NULL; qp_cap_pop() frees its slot. */
const struct qp_cap_pkt *qp_cap_peek(struct qp_cap_ring *r);
void qp_cap_pop(struct qp_cap_ring *r);

/* Counters of a ring, as the consumer sees them. */
struct qp_cap_counts {
	uint64_t taken, over_budget, ring_full;
};
void qp_cap_counts(const struct qp_cap_ring *r, struct qp_cap_counts *c);

/*
 * pcapng blocks (draft-ietf-opsawg-pcapng), little endian as this host
 * writes them. Each returns the block's length, or 0 when it does not fit
 * in cap bytes.
 */
size_t qp_pcapng_shb(uint8_t *out, size_t cap, const char *app);
/** An interface: Ethernet, snaplen, its name and description, nanosecond times. */
size_t qp_pcapng_idb(uint8_t *out, size_t cap, uint32_t snaplen, const char *name, const char *descr);
/** A packet of interface ifid; dir 0 inbound (fwd), 1 outbound (rev), 2 not known. */
size_t qp_pcapng_epb(uint8_t *out, size_t cap, uint32_t ifid, const struct qp_cap_pkt *p,
		     const uint8_t *data);
/** Statistics of interface ifid at ts_ns: packets delivered, and dropped by the capture. */
size_t qp_pcapng_isb(uint8_t *out, size_t cap, uint32_t ifid, uint64_t ts_ns, uint64_t start_ns,
		     uint64_t delivered, uint64_t dropped);

#endif
