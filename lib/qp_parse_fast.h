/*
 * qp_parse_fast: the parser's straight line for the common frame, inline
 * where the worker's and distributor's loops call it (a call, its argument set-up and its
 * saved registers were 30 instructions a frame beside 120 of parsing), and
 * the key's hash. qp_parse() runs the same code; anything this declines
 * goes to the layered walk (qp_parse_walk).
 *
 * Thread-safety: as qp_parse().
 */
#ifndef QP_PARSE_FAST_H
#define QP_PARSE_FAST_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE4_2__
#include <nmmintrin.h>
#else
#include <rte_hash_crc.h>
#endif

#include "qp_parse_dp.h"

#define QP_ETH_IPV4 0x0800
#define QP_ETH_IPV6 0x86dd
#define QP_ETH_VLAN 0x8100
#define QP_PORT_VXLAN 4789
#define QP_PORT_GTPU 2152

static inline uint16_t qp_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t qp_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/** The TCP options the metrics use (timestamps), from len bytes at p into o. */
void qp_parse_tcp_options(struct qp_pkt *o, const uint8_t *p, uint32_t len);

/** qp_flow_key_hash(), inline. */
static inline __attribute__((always_inline)) uint32_t qp_flow_key_hash_inline(const struct qp_flow_key *k)
{
	/* CRC32-C over the 48-byte key, 8 bytes at a time: the SSE4.2 instruction
	 * where the CPU has it (DPDK picks), 6 steps instead of 6 64-bit mixes
	 * (97 -> ~20 instructions a packet, callgrind) */
#ifdef __SSE4_2__
	/* DPDK builds for corei7 and up: the instruction is always there.
	 * Written out: gcc does not unroll six steps (a loop costs 19
	 * instructions more a packet, callgrind); each word read where it
	 * is (a copy of the key first went through the stack) */
	typedef uint64_t __attribute__((may_alias)) u64_any;
	const u64_any *w = (const u64_any *)(const void *)k;
	uint64_t h = _mm_crc32_u64(0x9e3779b9u, w[0]);
	h = _mm_crc32_u64(h, w[1]);
	h = _mm_crc32_u64(h, w[2]);
	h = _mm_crc32_u64(h, w[3]);
	h = _mm_crc32_u64(h, w[4]);
	h = _mm_crc32_u64(h, w[5]);
	return (uint32_t)h;
#else
	uint64_t w[6];
	memcpy(w, k, sizeof(w));
	uint32_t h = 0x9e3779b9u;
	for (int i = 0; i < 6; i++)
		h = rte_hash_crc_8byte(w[i], h);
	return h;
#endif
}

/*
 * The common case in a straight line: Ethernet, at most one 802.1Q tag, IPv4
 * without fragmentation or IPv6 without extension headers, TCP or UDP (not
 * to a tunnel port), every header whole. Returns 1 with out filled exactly as
 * the layered walk fills it, or 0 when the frame is anything else (the walk
 * then takes it). Every field of out the frame's protocol has is written
 * here (the other protocols' are left as they were): no clearing first.
 */
_Static_assert(offsetof(struct qp_flow_key, addr) == 0 && offsetof(struct qp_flow_key, port) == 32 &&
		       offsetof(struct qp_flow_key, proto) == 36 && offsetof(struct qp_flow_key, ipver) == 37 &&
		       offsetof(struct qp_flow_key, vlan) == 38,
	       "the key's words as qp_parse_v4() makes them");
_Static_assert(offsetof(struct qp_pkt, swapped) == offsetof(struct qp_pkt, hash) + 4 &&
		       offsetof(struct qp_pkt, tcp_flags) == offsetof(struct qp_pkt, hash) + 5 &&
		       offsetof(struct qp_pkt, frag) == offsetof(struct qp_pkt, hash) + 6 &&
		       offsetof(struct qp_pkt, frag_attributed) == offsetof(struct qp_pkt, hash) + 7 &&
		       offsetof(struct qp_pkt, encap) == offsetof(struct qp_pkt, hash) + 8 &&
		       offsetof(struct qp_pkt, l4_hdr_ok) == offsetof(struct qp_pkt, hash) + 9 &&
		       offsetof(struct qp_pkt, vlan) == offsetof(struct qp_pkt, hash) + 10 &&
		       QP_FRAG_NONE == 0,
	       "the parse's small fields in 12 bytes, as qp_parse_v4() stores them");

/* A whole TCP header's fields but its flags (frame: where the frame starts;
 * wire, cap: the segment's bytes per the IP header and as captured; doff:
 * its header's length, checked). */
static inline __attribute__((always_inline)) void qp_parse_tcp_fields(struct qp_pkt *out,
								      const uint8_t *frame,
								      const uint8_t *l4,
								      uint32_t wire, uint32_t cap,
								      uint32_t doff)
{
	out->ip_end = (uint32_t)(l4 - frame) + wire;
	out->tcp_seq = qp_rd32(l4 + 4);
	out->tcp_ack = qp_rd32(l4 + 8);
	out->tcp_win = qp_rd16(l4 + 14);
	out->l4_payload_len = wire - doff;
	out->tcp_has_ts = out->tcp_opt_bad = 0;
	out->tcp_tsval = out->tcp_tsecr = 0;
	if (doff > 20)
		qp_parse_tcp_options(out, l4 + 20, (doff < cap ? doff : cap) - 20);
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/*
 * The commonest frame of all, told by two loads and two masked compares:
 * untagged Ethernet, IPv4 of 20 bytes not fragmented; then UDP or TCP.
 * Returns 1 with out filled as qp_parse_fast() fills it, 0 for a frame that
 * straight line would decline too, -1 for any other frame (it then looks).
 * The key's words are made, hashed and stored from registers.
 */
static inline __attribute__((always_inline)) int qp_parse_v4(const uint8_t *p, uint32_t caplen,
							     struct qp_pkt *out)
{
	if (caplen < 14 + 20 + 8)
		return -1;
	uint64_t h0, h1;
	memcpy(&h0, p + 12, 8); /* type, version and length, TOS, total length, id */
	memcpy(&h1, p + 20, 8); /* flags and offset, TTL, protocol, checksum, 2 bytes */
	if ((h0 & 0xffffff) != 0x450008 || (h1 & 0xff3f) != 0)
		return -1;
	const uint8_t *ip = p + 14, *l4 = p + 34;
	uint32_t tot = __builtin_bswap16((uint16_t)(h0 >> 32)), proto = (uint32_t)(h1 >> 24) & 0xff;
	uint32_t len = caplen - 14;
	if (tot < 20)
		return 0;
	if (len > tot)
		len = tot;
	uint32_t wire = tot - 20, cap = len - 20;
	uint32_t pw;
	memcpy(&pw, l4, 4);
	uint16_t sport = __builtin_bswap16((uint16_t)pw), dport = __builtin_bswap16((uint16_t)(pw >> 16));
	uint64_t flags = 0;
	if (proto == 17) {
		if (cap < 8 || qp_rd16(l4 + 4) < 8 || dport == QP_PORT_VXLAN || dport == QP_PORT_GTPU)
			return 0;
		out->l4_payload_len = wire - 8;
		out->udp_payload = l4 + 8;
		out->udp_payload_cap = cap - 8;
	} else if (proto == 6) {
		if (cap < 20)
			return 0;
		uint32_t doff = (uint32_t)(l4[12] >> 4) * 4;
		if (doff < 20 || doff > wire)
			return 0;
		flags = l4[13];
		qp_parse_tcp_fields(out, p, l4, wire, cap, doff);
	} else {
		return 0;
	}
	out->ip_hdr = ip;
	out->ip_cap = len;
	out->l4_off = 20;
	out->l4_proto = (uint8_t)proto;
	uint64_t sd;
	memcpy(&sd, ip + 12, 8);
	uint32_t s = (uint32_t)sd, d = (uint32_t)(sd >> 32);
	uint32_t hs = __builtin_bswap32(s), hd = __builtin_bswap32(d);
	uint64_t swap = hs > hd || (hs == hd && sport > dport);
	uint64_t lo = swap ? d : s, hi = swap ? s : d;
	/* the key's fifth word: ports, protocol, version 4, no VLAN */
	uint64_t kw = (uint64_t)(swap ? dport : sport) | (uint64_t)(swap ? sport : dport) << 16 |
		      (uint64_t)proto << 32 | (uint64_t)4 << 40;
	uint64_t zero = 0;
	uint8_t *k = (uint8_t *)&out->key; /* word by word: an array of them went through the stack */
	memcpy(k, &lo, 8);
	memcpy(k + 8, &zero, 8);
	memcpy(k + 16, &hi, 8);
	memcpy(k + 24, &zero, 8);
	memcpy(k + 32, &kw, 8);
	memcpy(k + 40, &zero, 8);
#ifdef __SSE4_2__
	uint64_t h = _mm_crc32_u64(0x9e3779b9u, lo);
	h = _mm_crc32_u64(h, 0);
	h = _mm_crc32_u64(h, hi);
	h = _mm_crc32_u64(h, 0);
	h = _mm_crc32_u64(h, kw);
	uint32_t hash = (uint32_t)_mm_crc32_u64(h, 0);
#else
	uint32_t hash = qp_flow_key_hash_inline(&out->key);
#endif
	/* hash, swapped, tcp_flags, frag (none), frag_attributed (0); encap
	 * (none), l4_hdr_ok (1), vlan (0): two stores */
	uint64_t w0 = hash | swap << 32 | flags << 40;
	uint32_t w1 = 1u << 8;
	memcpy(&out->hash, &w0, 8);
	memcpy(&out->encap, &w1, 4);
	out->plain = 1;
	return 1;
}
#endif

static inline __attribute__((always_inline)) int qp_parse_fast(const struct qp_parse_ctx *ctx, const uint8_t *p, uint32_t caplen,
			     struct qp_pkt *out)
{
	if (caplen < 14 + 20)
		return 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	int v4 = qp_parse_v4(p, caplen, out);
	if (v4 >= 0)
		return v4;
#endif
	uint16_t type = qp_rd16(p + 12);
	uint16_t tag = 0;
	uint32_t off = 14;
	if (type == QP_ETH_VLAN) {
		tag = qp_rd16(p + 14) & 0x0fff;
		type = qp_rd16(p + 16);
		off = 18;
	}
	const uint8_t *ip = p + off;
	uint32_t len = caplen - off; /* captured from the IP header on */
	uint32_t l4off, wire, cap, ipcap;
	uint8_t proto, ipver;
	if (type == QP_ETH_IPV4) {
		if (len < 20)
			return 0;
		uint32_t vihl = ip[0], ihl, tot = qp_rd16(ip + 2);
		/* no options: the version and the length in one compare */
		if (__builtin_expect(vihl == 0x45, 1))
			ihl = 20;
		else if ((vihl >> 4) == 4 && (vihl & 0x0f) >= 5)
			ihl = (vihl & 0x0f) * 4;
		else
			return 0;
		if (tot < ihl || ihl > len || (qp_rd16(ip + 6) & 0x3fff))
			return 0;
		if (len > tot)
			len = tot;
		proto = ip[9];
		ipver = 4;
		l4off = ihl;
		wire = tot - ihl;
		cap = len - ihl;
		ipcap = len;
	} else if (type == QP_ETH_IPV6) {
		if (len < 40 || (ip[0] >> 4) != 6)
			return 0;
		wire = qp_rd16(ip + 4);
		if (wire == 0) /* a jumbogram: the walk trusts the capture */
			return 0;
		proto = ip[6];
		ipver = 6;
		l4off = 40;
		cap = len - 40 < wire ? len - 40 : wire;
		ipcap = 40 + cap;
	} else {
		return 0;
	}
	const uint8_t *l4 = ip + l4off;
	uint16_t sport, dport;
	if (proto == 6) {
		if (cap < 20)
			return 0;
		uint32_t doff = (uint32_t)(l4[12] >> 4) * 4;
		if (doff < 20 || doff > wire)
			return 0;
		out->tcp_flags = l4[13];
		qp_parse_tcp_fields(out, p, l4, wire, cap, doff);
	} else if (proto == 17) {
		if (cap < 8 || qp_rd16(l4 + 4) < 8)
			return 0;
		out->l4_payload_len = wire - 8;
		out->udp_payload = l4 + 8;
		out->udp_payload_cap = cap - 8;
	} else {
		return 0;
	}
	sport = qp_rd16(l4);
	dport = qp_rd16(l4 + 2);
	if (proto == 17 && (dport == QP_PORT_VXLAN || dport == QP_PORT_GTPU))
		return 0;
	/* the key, as make_key() makes it */
	struct qp_flow_key *k = &out->key;
	int swap;
	memset(k, 0, sizeof(*k));
	if (ipver == 4) {
		/* the endpoints picked without a branch and stored where they
		 * go (9 to 12 instructions a frame less than indexing
		 * the key's halves by the order) */
		uint32_t s, d;
		memcpy(&s, ip + 12, 4);
		memcpy(&d, ip + 16, 4);
		uint32_t hs = __builtin_bswap32(s), hd = __builtin_bswap32(d);
		swap = hs > hd || (hs == hd && sport > dport);
		uint32_t lo = swap ? d : s, hi = swap ? s : d;
		memcpy(k->addr[0], &lo, 4);
		memcpy(k->addr[1], &hi, 4);
		k->port[0] = swap ? dport : sport;
		k->port[1] = swap ? sport : dport;
	} else {
		uint64_t x[4];
		memcpy(x, ip + 8, 32);
		uint64_t a0 = __builtin_bswap64(x[0]), a1 = __builtin_bswap64(x[1]);
		uint64_t b0 = __builtin_bswap64(x[2]), b1 = __builtin_bswap64(x[3]);
		int c = a0 != b0 ? (a0 > b0 ? 1 : -1) : a1 != b1 ? (a1 > b1 ? 1 : -1) : 0;
		swap = c > 0 || (c == 0 && sport > dport);
		memcpy(k->addr[swap], ip + 8, 16);
		memcpy(k->addr[!swap], ip + 24, 16);
		k->port[swap] = sport;
		k->port[!swap] = dport;
	}
	k->proto = proto;
	k->ipver = ipver;
	if (tag && (ctx->key_parts & QP_FLOW_KEY_VLAN))
		k->vlan = tag;
	out->hash = qp_flow_key_hash_inline(k);
	out->swapped = (uint8_t)swap;
	out->frag = QP_FRAG_NONE;
	out->frag_attributed = 0;
	out->encap = off == 18 ? QP_ENCAP_VLAN : 0;
	out->l4_hdr_ok = 1;
	out->vlan = tag;
	out->ip_hdr = ip;
	out->ip_cap = ipcap;
	out->l4_off = l4off;
	out->l4_proto = proto;
	out->plain = !(out->encap & QP_ENCAP_VLAN) || out->key.vlan != 0;
	return 1;
}

/** qp_parse(), inline: the straight line, else the walk. */
static inline __attribute__((always_inline)) enum qp_parse_result
qp_parse_inline(struct qp_parse_ctx *ctx, int linktype, const uint8_t *data, uint32_t caplen,
		struct qp_pkt *out)
{
	if (linktype == QP_LINK_ETHERNET && qp_parse_fast(ctx, data, caplen, out))
		return QP_PARSE_FLOW;
	return qp_parse_walk(ctx, linktype, data, caplen, out);
}

#endif
