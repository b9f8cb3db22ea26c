/*
 * qp_parse_dp: the packet parser of the data path.
 *
 * Takes one captured frame (link type, captured bytes, wire length) and finds
 * the innermost IP flow in it: Ethernet, 802.1Q/QinQ tags, MPLS label stacks,
 * Linux SLL/SLL2, BSD loopback and raw IP framing; IPv4 with options, IPv6 with
 * extension headers, fragments of both; TCP, UDP, ICMP, ICMPv6, SCTP; and the
 * tunnels VXLAN, GRE (keyed or not), GTP-U, IP-in-IP and IPv6-in-IP. Every read
 * is checked against the captured length; a frame that does not hold the
 * headers it announces gets a reason code and is not measured.
 *
 * Called by a worker lcore (or the offline reader) for every packet. The
 * parse context (fragment attribution table) belongs to one lcore and is
 * touched by nobody else; the parser never allocates, locks or logs.
 */
#ifndef QP_PARSE_DP_H
#define QP_PARSE_DP_H

#include <stdint.h>

#include "qp_flow_key.h"

/* Link types the parser accepts, numbered as libpcap's DLT_ values. */
#define QP_LINK_NULL 0       /* BSD loopback, family in host byte order */
#define QP_LINK_ETHERNET 1
#define QP_LINK_RAW 12       /* DLT_RAW on Linux: bare IPv4 or IPv6 */
#define QP_LINK_RAW_ALT 14   /* DLT_RAW as OpenBSD numbers it */
#define QP_LINK_RAW_PCAP 101 /* LINKTYPE_RAW when read without mapping */
#define QP_LINK_LOOP 108     /* OpenBSD loopback, family in network order */
#define QP_LINK_SLL 113
#define QP_LINK_IPV4 228
#define QP_LINK_IPV6 229
#define QP_LINK_SLL2 276

/*
 * Why a frame was not measured. The names are the keys of the parse error
 * counters in JSON and Prometheus, the text is their help line.
 */
#define QP_PARSE_ERRORS(X)                                                      \
	X(truncated_l2, "link-layer header longer than the captured frame")        \
	X(vlan_depth, "more than 8 stacked VLAN tags")                             \
	X(truncated_mpls, "MPLS label stack cut by the capture")                   \
	X(mpls_depth, "more than 16 MPLS labels")                                  \
	X(mpls_payload, "MPLS payload neither IPv4 nor IPv6")                      \
	X(bad_link_family, "loopback or SLL header with an unknown protocol")      \
	X(truncated_ipv4, "IPv4 header cut by the capture")                        \
	X(bad_ipv4_header, "IPv4 version, IHL or total length impossible")         \
	X(truncated_ipv6, "IPv6 header or extension header cut by the capture")    \
	X(bad_ipv6_header, "IPv6 version wrong or extension header chain too long") \
	X(truncated_l4, "TCP, UDP, ICMP or SCTP header cut by the capture")        \
	X(bad_tcp_header, "TCP data offset below 5 words or past the segment")      \
	X(bad_udp_length, "UDP length below 8")                                    \
	X(truncated_tunnel, "tunnel header (VXLAN, GRE, GTP-U) cut by the capture") \
	X(tunnel_depth, "more than 4 nested tunnels")

enum qp_parse_result {
	QP_PARSE_FLOW = 0, /* an IP flow was found; the packet is measured */
	QP_PARSE_NON_IP,   /* a well-formed frame that carries no IP (ARP, LLDP...) */
#define QP_PARSE_ENUM_(name, help) QP_PERR_##name,
	QP_PARSE_ERRORS(QP_PARSE_ENUM_)
#undef QP_PARSE_ENUM_
	QP_PARSE_RESULT_MAX
};
#define QP_PARSE_ERR_FIRST QP_PERR_truncated_l2
#define QP_PARSE_ERR_COUNT (QP_PARSE_RESULT_MAX - QP_PARSE_ERR_FIRST)

/** Name of a parse error (the counter's key), or NULL for a non-error. */
const char *qp_parse_error_name(enum qp_parse_result r);
/** One-line help text of a parse error, or NULL for a non-error. */
const char *qp_parse_error_help(enum qp_parse_result r);

/*
 * Bidirectional flow key. Both directions of a flow produce the same key:
 * endpoint 0 is the smaller (address, port) pair. IPv4 addresses fill the
 * first four bytes and the rest is zero.
 *
 * Beside the 5-tuple, the context that tells apart tenants and mobile users
 * who reuse address space (the key's parts, QP_FLOW_KEY_*): the innermost
 * VLAN id, the VXLAN VNI, and one tunnel identifier, that of the innermost
 * keyed GRE or GTP-U tunnel. Every part is the same in both directions, so
 * a flow stays one flow: GTP-U's TEID is not (each end picks the TEID it
 * receives on), so by default a GTP-U flow is told apart by the tunnel's two
 * endpoint addresses instead (hashed, in either order), and the TEID is a
 * part one asks for. Unused parts are zero. 48 bytes so the key compares
 * with six 64-bit words.
 */
struct qp_flow_key {
	uint8_t addr[2][16];
	uint16_t port[2]; /* host order; ICMP and other protocols: 0 */
	uint8_t proto;    /* IP protocol number */
	uint8_t ipver;    /* 4 or 6 */
	uint16_t vlan;    /* innermost VLAN id; 0: untagged, or VLAN not in the key */
	uint8_t ctx;      /* QP_KEY_CTX_*: which of vni and tunnel_id are set */
	uint8_t vni[3];   /* VXLAN network identifier, big-endian as on the wire */
	uint32_t tunnel_id; /* GRE key, GTP-U TEID, or hash of the GTP-U endpoints */
};
_Static_assert(sizeof(struct qp_flow_key) == 48, "flow key must stay 48 bytes");

/* What qp_flow_key.ctx says is set. */
#define QP_KEY_CTX_VNI 0x01         /* vni */
#define QP_KEY_CTX_GRE_KEY 0x02     /* tunnel_id is a GRE key */
#define QP_KEY_CTX_TEID 0x04        /* tunnel_id is a GTP-U TEID */
#define QP_KEY_CTX_GTPU_PEERS 0x08  /* tunnel_id hashes the GTP-U endpoint pair */

/** Leave the 5-tuple only: VLAN, VNI and tunnel identifier zero. */
static inline void qp_flow_key_strip(struct qp_flow_key *k)
{
	k->vlan = 0;
	k->ctx = 0;
	k->vni[0] = k->vni[1] = k->vni[2] = 0;
	k->tunnel_id = 0;
}

/** The VNI of a key with QP_KEY_CTX_VNI set. */
static inline uint32_t qp_flow_key_vni(const struct qp_flow_key *k)
{
	return (uint32_t)k->vni[0] << 16 | (uint32_t)k->vni[1] << 8 | k->vni[2];
}

/* Layers seen on the way to the innermost flow (bits of qp_pkt.encap). */
#define QP_ENCAP_VLAN 0x01
#define QP_ENCAP_MPLS 0x02
#define QP_ENCAP_VXLAN 0x04
#define QP_ENCAP_GRE 0x08
#define QP_ENCAP_GTPU 0x10
#define QP_ENCAP_IPIP 0x20

/* TCP flag bits as they are on the wire. */
#define QP_TCP_FIN 0x01
#define QP_TCP_SYN 0x02
#define QP_TCP_RST 0x04
#define QP_TCP_PSH 0x08
#define QP_TCP_ACK 0x10

/* Fragment state of the innermost IP packet. */
#define QP_FRAG_NONE 0
#define QP_FRAG_FIRST 1 /* offset 0, more fragments follow */
#define QP_FRAG_LATER 2 /* offset > 0: ports come from the first fragment */

/*
 * What the parser found in one frame. The TCP fields (tcp_*) are set for TCP frames only, the
 * UDP payload's for UDP only, the ICMP ones for ICMP and ICMPv6 only
 * (l4_proto says which): a reader looks at a protocol's fields after
 * checking the protocol.
 */
struct qp_pkt {
	struct qp_flow_key key; /* canonical key of the innermost flow */
	uint32_t hash;          /* symmetric hash of key */
	uint8_t swapped;        /* 1: the packet travels endpoint 1 -> 0 */
	uint8_t tcp_flags;      /* TCP only */
	uint8_t frag;           /* QP_FRAG_* */
	uint8_t frag_attributed; /* LATER fragment whose first fragment was seen */
	uint8_t encap;          /* QP_ENCAP_* bits */
	uint8_t l4_hdr_ok;      /* the full fixed L4 header is present */
	uint16_t vlan;          /* outermost VLAN id, 0 when untagged (the key has the innermost) */
	uint32_t tcp_seq;
	uint32_t tcp_ack;
	uint16_t tcp_win;
	uint8_t tcp_has_ts;      /* a timestamps option was read */
	uint8_t tcp_opt_bad;     /* an option with an impossible length ended the walk */
	uint32_t tcp_tsval;
	uint32_t tcp_tsecr;
	uint32_t l4_payload_len; /* L4 payload bytes per the IP header */
	uint8_t icmp_type;          /* ICMP and ICMPv6 */
	/* 1: a plain frame (Ethernet, no tag or one whose id is in the key,
	 * IPv4 unfragmented or IPv6 without extension headers, TCP or UDP, no
	 * tunnel): every byte a filter of hosts, nets, ports, protocols and
	 * VLANs reads is in the key, so such a filter says the same of every
	 * plain frame of a flow (qp_group_dp.h) */
	uint8_t plain;
	uint16_t icmp_id, icmp_seq; /* echo identifier and sequence number */
	const uint8_t *udp_payload; /* UDP: the payload bytes captured ... */
	uint32_t udp_payload_cap;   /* ... and how many there are */
	/* TCP: where the innermost IP datagram ends by its header, in bytes
	 * from the frame's start (beyond the frame's length on the wire: the
	 * segment's length is cut to what the frame holds) */
	uint32_t ip_end;
	/* the innermost IP header (two-point signatures): its captured bytes up
	 * to the IP length (Ethernet padding excluded), where its payload (L4
	 * header, or fragment data) starts, and the protocol found there */
	const uint8_t *ip_hdr;
	uint32_t ip_cap;
	uint32_t l4_off;
	uint8_t l4_proto;
};

/*
 * Fragment attribution: a first fragment leaves the flow key it carried under
 * (addresses, protocol, IP id) so the later fragments of the same datagram,
 * which have no ports, are counted in the same flow. Direct-mapped and
 * overwritten on collision: bounded, and a miss only costs attribution.
 */
#define QP_FRAG_SLOTS 1024
_Static_assert((QP_FRAG_SLOTS & (QP_FRAG_SLOTS - 1)) == 0, "power of two");

struct qp_frag_slot {
	uint8_t src[16], dst[16];
	uint32_t id;
	uint8_t proto, ipver, used, swapped;
	struct qp_flow_key key; /* the 5-tuple only: a later fragment crossed the
				 * same tunnels and brings its own context */
};

/*
 * Per-lcore parser state. Thread-safety: owned by one lcore (or the offline
 * reader); no other thread reads or writes it.
 */
struct qp_parse_ctx {
	uint32_t key_parts;       /* QP_FLOW_KEY_* the keys are made of (the caller's) */
	uint64_t frag_first;      /* first fragments recorded */
	uint64_t frag_unattributed; /* later fragments with no first fragment */
	struct qp_frag_slot frag[QP_FRAG_SLOTS];
};

/** Reset a parse context to empty, keys of QP_FLOW_KEY_DEFAULT. Cannot fail. */
void qp_parse_ctx_init(struct qp_parse_ctx *ctx);

/**
 * Parse one frame.
 *
 * @param ctx      the calling lcore's parse context (fragment table)
 * @param linktype one of the QP_LINK_* values (see qp_parse_linktype_ok())
 * @param data     the captured bytes
 * @param caplen   how many bytes were captured; nothing past it is read
 * @param out      filled when the result is QP_PARSE_FLOW
 * @return QP_PARSE_FLOW, QP_PARSE_NON_IP or the QP_PERR_* reason
 */
enum qp_parse_result qp_parse(struct qp_parse_ctx *ctx, int linktype, const uint8_t *data,
			      uint32_t caplen, struct qp_pkt *out);

/**
 * The layered walk alone, which qp_parse() takes for every frame its
 * straight line for plain Ethernet/IPv4/IPv6/TCP/UDP does not: the same
 * results for every frame (tests hold the two against each other).
 */
enum qp_parse_result qp_parse_walk(struct qp_parse_ctx *ctx, int linktype, const uint8_t *data,
				   uint32_t caplen, struct qp_pkt *out);

/** 1 when the parser accepts this link type, else 0. */
int qp_parse_linktype_ok(int linktype);

/** Short lower-case name of an accepted link type ("ethernet", "linux_sll"...). */
const char *qp_parse_linktype_name(int linktype);

/** Symmetric 32-bit hash of a canonical flow key. */
uint32_t qp_flow_key_hash(const struct qp_flow_key *k);

/**
 * Symmetric hash of the key's addresses only. Used to spread packets over
 * workers so that every fragment of a datagram reaches the same lcore.
 */
uint32_t qp_flow_key_addr_hash(const struct qp_flow_key *k);

/** Protocol name as reported ("tcp", "udp", "icmp", "icmpv6", "sctp") or NULL. */
const char *qp_proto_name(uint8_t proto);

#endif
