/*
 * qp_pcapw: a capture writer and packet builder for the tests, the demo
 * capture and the benchmarks. Frames are built inside out: payload first,
 * then each header is pushed in front of what is there, so any stack of
 * encapsulations is a sequence of pushes. Checksums are not filled in (the
 * probe never reads them); IPv4 header checksums are, for the peers'
 * dissectors.
 */
#ifndef QP_PCAPW_H
#define QP_PCAPW_H

#include <stdint.h>
#include <stdio.h>

struct pw {
	FILE *f;
	int ns;
};

#define PB_ROOM 4096

/* A frame under construction: bytes live in buf[head .. PB_ROOM). */
struct pb {
	uint8_t buf[PB_ROOM];
	uint32_t head;
	uint16_t next_type; /* ethertype the header in front must announce */
	uint8_t next_proto; /* IP protocol the IP header in front must announce */
};

/** Open a classic pcap for writing (ns=1: nanosecond magic). @return 0 or -errno. */
int pw_open(struct pw *w, const char *path, int linktype, int ns);
/** Append one record. */
void pw_write(struct pw *w, uint64_t ts_ns, const uint8_t *data, uint32_t caplen, uint32_t wirelen);
/** Close (flushes). */
void pw_close(struct pw *w);

/* Frames made out of time order (several connections at once), written in
 * time order: ties keep the order they were added in. */
struct pw_batch {
	struct pw_bf {
		uint64_t ts;
		uint32_t seq, len;
		uint8_t *data;
	} *f;
	size_t n, cap;
};

/** Add a copy of the frame under construction at time ts. */
void pwb_add(struct pw_batch *b, const struct pb *p, uint64_t ts);
/** Write the frames to w in time order and free them; @return how many. */
size_t pwb_flush(struct pw_batch *b, struct pw *w);

/** A seeded generator's next number below n (the tests' workloads: the same seed, the same bytes). */
static inline uint32_t pw_rand(unsigned int *state, uint32_t n)
{
	*state = *state * 1103515245u + 12345u;
	return (*state >> 8) % n;
}


void pb_init(struct pb *b);
uint8_t *pb_data(struct pb *b);
uint32_t pb_len(const struct pb *b);

/** Payload of n bytes, filled with a pattern. */
void pb_payload(struct pb *b, uint32_t n);
/** Raw bytes pushed in front. */
void pb_push_raw(struct pb *b, const void *p, uint32_t n);
void pb_push_tcp(struct pb *b, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		 uint8_t flags, uint16_t win);
void pb_push_udp(struct pb *b, uint16_t sport, uint16_t dport);
void pb_push_icmp(struct pb *b, uint8_t type, uint16_t id, uint16_t seq);
void pb_push_sctp(struct pb *b, uint16_t sport, uint16_t dport);
/** IPv4: addresses as dotted text; frag = flags and offset field (host order). */
void pb_push_ip4(struct pb *b, const char *src, const char *dst, uint16_t id, uint16_t frag);
void pb_push_ip6(struct pb *b, const char *src, const char *dst);
/** IPv6 extension header of type nh (0, 43, 60: 8 bytes; 44: fragment). */
void pb_push_ip6_ext(struct pb *b, uint8_t nh, uint16_t frag_off_flags, uint32_t frag_id);
void pb_push_vxlan(struct pb *b, uint32_t vni);
void pb_push_gtpu(struct pb *b, uint32_t teid);
void pb_push_gre(struct pb *b, int keyed); /* keyed: key 0x1234 */
void pb_push_gre_key(struct pb *b, uint32_t key);
void pb_push_mpls(struct pb *b, uint32_t label, int bos);
void pb_push_vlan(struct pb *b, uint16_t tpid, uint16_t vid);
void pb_push_eth(struct pb *b);
/** Set the protocol the next pushed IP header announces (after pb_push_raw). */
void pb_set_proto(struct pb *b, uint8_t proto);

#endif
