/*
 * qp_parse_dp: see qp_parse_dp.h. The walk is a chain of small functions, one
 * per header, each handed the bytes left in the capture; tunnels recurse with
 * a depth bound so a crafted frame cannot nest forever. The straight line for
 * the common frame and the key's hash are in qp_parse_fast.h (inline where
 * the packet loops call them).
 */
#include "qp_parse_dp.h"
#include "qp_parse_fast.h"
#include "qp_mix.h"

#include <string.h>

#define MAX_VLAN 8
#define MAX_MPLS 16
#define MAX_TUNNEL 4
#define MAX_V6_EXT 8

#define ETH_IPV4 QP_ETH_IPV4
#define ETH_IPV6 QP_ETH_IPV6
#define ETH_VLAN QP_ETH_VLAN
#define ETH_QINQ 0x88a8
#define ETH_QINQ_OLD 0x9100
#define ETH_MPLS 0x8847
#define ETH_MPLS_MC 0x8848
#define ETH_TEB 0x6558 /* transparent Ethernet bridging, GRE */

#define PORT_VXLAN QP_PORT_VXLAN
#define PORT_GTPU QP_PORT_GTPU

static const char *const err_names[] = {
#define NAME_(name, help) #name,
	QP_PARSE_ERRORS(NAME_)
#undef NAME_
};
static const char *const err_help[] = {
#define HELP_(name, help) help,
	QP_PARSE_ERRORS(HELP_)
#undef HELP_
};

const char *qp_parse_error_name(enum qp_parse_result r)
{
	if (r < QP_PARSE_ERR_FIRST || r >= QP_PARSE_RESULT_MAX)
		return NULL;
	return err_names[r - QP_PARSE_ERR_FIRST];
}

const char *qp_parse_error_help(enum qp_parse_result r)
{
	if (r < QP_PARSE_ERR_FIRST || r >= QP_PARSE_RESULT_MAX)
		return NULL;
	return err_help[r - QP_PARSE_ERR_FIRST];
}

#define rd16 qp_rd16
#define rd32 qp_rd32

#define mix64 qp_mix64

uint32_t qp_flow_key_hash(const struct qp_flow_key *k)
{
	return qp_flow_key_hash_inline(k);
}

uint32_t qp_flow_key_addr_hash(const struct qp_flow_key *k)
{
	uint64_t w[4];
	memcpy(w, k->addr, sizeof(w));
	uint64_t h = k->ipver;
	for (int i = 0; i < 4; i++)
		h = mix64(h ^ w[i]) + 0x9e3779b97f4a7c15ULL;
	return (uint32_t)(h ^ h >> 32);
}

const char *qp_proto_name(uint8_t proto)
{
	switch (proto) {
	case 1: return "icmp";
	case 6: return "tcp";
	case 17: return "udp";
	case 58: return "icmpv6";
	case 132: return "sctp";
	default: return NULL;
	}
}

int qp_parse_linktype_ok(int linktype)
{
	return qp_parse_linktype_name(linktype) != NULL;
}

const char *qp_parse_linktype_name(int linktype)
{
	switch (linktype) {
	case QP_LINK_NULL: return "bsd_loopback";
	case QP_LINK_LOOP: return "openbsd_loopback";
	case QP_LINK_ETHERNET: return "ethernet";
	case QP_LINK_RAW:
	case QP_LINK_RAW_ALT:
	case QP_LINK_RAW_PCAP: return "raw_ip";
	case QP_LINK_IPV4: return "ipv4";
	case QP_LINK_IPV6: return "ipv6";
	case QP_LINK_SLL: return "linux_sll";
	case QP_LINK_SLL2: return "linux_sll2";
	default: return NULL;
	}
}

void qp_parse_ctx_init(struct qp_parse_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->key_parts = QP_FLOW_KEY_DEFAULT;
}

/* Walk state for one frame. */
struct walk {
	struct qp_parse_ctx *ctx;
	struct qp_pkt *out;
	const uint8_t *frame; /* where the frame starts */
	int tunnels;
	/* addresses of the innermost IP header met so far */
	uint8_t src[16], dst[16];
	uint8_t ipver;
	uint16_t sport, dport;
	uint8_t proto;
	/* the innermost IP header met so far (qp_pkt.ip_hdr and friends) */
	const uint8_t *ip_hdr;
	uint32_t ip_cap;
	uint32_t l4_off;
	/* the key's context met so far: the latest VLAN tag, VXLAN VNI and
	 * GRE key or GTP-U tunnel (QP_KEY_CTX_* in have) */
	uint16_t vlan;
	uint8_t have;
	uint32_t vni, gre_key, teid, gtpu_peers;
	/* the innermost first fragment met, recorded once the flow is known */
	int frag_pending;
	struct qp_frag_slot frag_rec;
};

static enum qp_parse_result parse_ethertype(struct walk *w, uint16_t type, const uint8_t *p,
					    uint32_t len);
static enum qp_parse_result parse_ether(struct walk *w, const uint8_t *p, uint32_t len);
static enum qp_parse_result parse_ipv4(struct walk *w, const uint8_t *p, uint32_t len);
static enum qp_parse_result parse_ipv6(struct walk *w, const uint8_t *p, uint32_t len);

static uint32_t frag_index(const uint8_t *src, const uint8_t *dst, uint32_t id, uint8_t proto)
{
	uint64_t a, b, c, d;
	memcpy(&a, src, 8);
	memcpy(&b, src + 8, 8);
	memcpy(&c, dst, 8);
	memcpy(&d, dst + 8, 8);
	uint64_t h = mix64(a ^ mix64(b ^ mix64(c ^ mix64(d ^ ((uint64_t)id << 8 | proto)))));
	return (uint32_t)h & (QP_FRAG_SLOTS - 1);
}

static void frag_note(struct walk *w, uint32_t id, uint8_t proto)
{
	struct qp_frag_slot *r = &w->frag_rec;
	memcpy(r->src, w->src, 16);
	memcpy(r->dst, w->dst, 16);
	r->id = id;
	r->proto = proto;
	r->ipver = w->ipver;
	w->frag_pending = 1;
	w->out->frag = QP_FRAG_FIRST;
}

/* A later fragment: take the flow of its first fragment if it was seen. */
static enum qp_parse_result frag_later(struct walk *w, uint32_t id, uint8_t proto)
{
	struct qp_frag_slot *s = &w->ctx->frag[frag_index(w->src, w->dst, id, proto)];
	w->out->frag = QP_FRAG_LATER;
	w->proto = proto;
	w->sport = w->dport = 0;
	if (s->used && s->id == id && s->proto == proto && s->ipver == w->ipver &&
	    memcmp(s->src, w->src, 16) == 0 && memcmp(s->dst, w->dst, 16) == 0) {
		w->out->key = s->key;
		w->out->swapped = s->swapped;
		w->out->frag_attributed = 1;
		return QP_PARSE_FLOW;
	}
	w->ctx->frag_unattributed++;
	return QP_PARSE_FLOW;
}

static enum qp_parse_result parse_vxlan(struct walk *w, const uint8_t *p, uint32_t len)
{
	if (len < 8)
		return QP_PERR_truncated_tunnel;
	if (!(p[0] & 0x08)) /* no valid VNI: not VXLAN, measure the UDP flow */
		return QP_PARSE_FLOW;
	if (++w->tunnels > MAX_TUNNEL)
		return QP_PERR_tunnel_depth;
	w->out->encap |= QP_ENCAP_VXLAN;
	w->vni = (uint32_t)p[4] << 16 | (uint32_t)p[5] << 8 | p[6];
	w->have |= QP_KEY_CTX_VNI;
	return parse_ether(w, p + 8, len - 8);
}

static enum qp_parse_result parse_inner_ip(struct walk *w, const uint8_t *p, uint32_t len)
{
	if (len < 1)
		return QP_PERR_truncated_tunnel;
	switch (p[0] >> 4) {
	case 4: return parse_ipv4(w, p, len);
	case 6: return parse_ipv6(w, p, len);
	default: return QP_PARSE_FLOW; /* not IP inside: measure the outer flow */
	}
}

/* The GTP-U tunnel's endpoints (the outer addresses), in either order. */
static uint32_t peers_hash(const struct walk *w)
{
	uint64_t a[2], b[2];
	memcpy(a, w->src, 16);
	memcpy(b, w->dst, 16);
	uint64_t x = mix64(a[0] ^ mix64(a[1])), y = mix64(b[0] ^ mix64(b[1]));
	uint64_t lo = x < y ? x : y, hi = x < y ? y : x;
	uint64_t h = mix64(lo ^ mix64(hi ^ w->ipver));
	return (uint32_t)(h ^ h >> 32);
}

static enum qp_parse_result parse_gtpu(struct walk *w, const uint8_t *p, uint32_t len)
{
	if (len < 8)
		return QP_PERR_truncated_tunnel;
	/* version 1, protocol type GTP, message type G-PDU; anything else
	 * (echo, error indication, GTP') is measured as the UDP flow */
	if ((p[0] >> 5) != 1 || !(p[0] & 0x10) || p[1] != 0xff)
		return QP_PARSE_FLOW;
	uint32_t hdr = 8;
	if (p[0] & 0x07) {
		if (len < 12)
			return QP_PERR_truncated_tunnel;
		hdr = 12;
		if (p[0] & 0x04) {
			uint8_t next = p[11];
			for (int n = 0; next != 0; n++) {
				if (n >= 16 || hdr >= len || p[hdr] == 0)
					return QP_PERR_truncated_tunnel;
				uint32_t elen = (uint32_t)p[hdr] * 4;
				if (elen > len - hdr)
					return QP_PERR_truncated_tunnel;
				hdr += elen;
				next = p[hdr - 1];
			}
		}
	}
	if (++w->tunnels > MAX_TUNNEL)
		return QP_PERR_tunnel_depth;
	w->out->encap |= QP_ENCAP_GTPU;
	if (len > hdr && ((p[hdr] >> 4) == 4 || (p[hdr] >> 4) == 6)) {
		/* an inner flow: the tunnel is part of its key (not of the
		 * outer UDP flow measured when no IP is inside) */
		w->teid = rd32(p + 4);
		w->gtpu_peers = peers_hash(w);
		w->have = (uint8_t)((w->have & QP_KEY_CTX_VNI) | QP_KEY_CTX_TEID |
				    QP_KEY_CTX_GTPU_PEERS);
	}
	return parse_inner_ip(w, p + hdr, len - hdr);
}

static enum qp_parse_result parse_gre(struct walk *w, const uint8_t *p, uint32_t len)
{
	if (len < 4)
		return QP_PERR_truncated_l4;
	uint16_t flags = rd16(p);
	uint16_t type = rd16(p + 2);
	/* version 1 is PPTP's enhanced GRE and R is the obsolete routing
	 * field: both are measured as the GRE flow itself */
	if ((flags & 0x7) != 0 || (flags & 0x4000))
		return QP_PARSE_FLOW;
	uint32_t hdr = 4 + ((flags & 0x8000) ? 4 : 0) + ((flags & 0x2000) ? 4 : 0) +
		       ((flags & 0x1000) ? 4 : 0);
	if (len < hdr)
		return QP_PERR_truncated_tunnel;
	if (type != ETH_IPV4 && type != ETH_IPV6 && type != ETH_TEB && type != ETH_MPLS &&
	    type != ETH_MPLS_MC)
		return QP_PARSE_FLOW;
	if (++w->tunnels > MAX_TUNNEL)
		return QP_PERR_tunnel_depth;
	w->out->encap |= QP_ENCAP_GRE;
	/* the innermost tunnel names the tunnel part of the key: a GRE tunnel
	 * without a key inside a GTP-U one leaves the GTP-U part */
	if (flags & 0x2000) {
		w->gre_key = rd32(p + 4 + ((flags & 0x8000) ? 4 : 0));
		w->have = (uint8_t)((w->have & QP_KEY_CTX_VNI) | QP_KEY_CTX_GRE_KEY);
	}
	if (type == ETH_TEB)
		return parse_ether(w, p + hdr, len - hdr);
	return parse_ethertype(w, type, p + hdr, len - hdr);
}

/* An inner layer that holds no IP leaves the outer flow as the measured one. */
static enum qp_parse_result keep_outer(struct walk *w, const struct walk *saved,
				       enum qp_parse_result r)
{
	if (r != QP_PARSE_NON_IP)
		return r;
	uint8_t encap = w->out->encap;
	*w = *saved;
	w->out->encap = encap;
	return QP_PARSE_FLOW;
}

/*
 * TCP options that the metrics use: timestamps. Only what was captured is
 * read; an option whose length is below 2 or past the header ends the walk
 * and marks the segment (counted, the segment is still measured).
 */
void qp_parse_tcp_options(struct qp_pkt *o, const uint8_t *p, uint32_t len)
{
	uint32_t i = 0;
	while (i < len) {
		uint8_t kind = p[i];
		if (kind == 0) /* end of options */
			return;
		if (kind == 1) { /* no-op */
			i++;
			continue;
		}
		if (i + 1 >= len) {
			o->tcp_opt_bad = 1;
			return;
		}
		uint32_t olen = p[i + 1];
		if (olen < 2 || olen > len - i) {
			o->tcp_opt_bad = 1;
			return;
		}
		if (kind == 8) {
			if (olen != 10) {
				o->tcp_opt_bad = 1;
				return;
			}
			o->tcp_has_ts = 1;
			o->tcp_tsval = rd32(p + i + 2);
			o->tcp_tsecr = rd32(p + i + 6);
		}
		i += olen;
	}
}

/*
 * The transport header. wire_len is the L4 length the IP header announces,
 * len what the capture holds of it (len <= wire_len).
 */
static enum qp_parse_result parse_l4(struct walk *w, uint8_t proto, const uint8_t *p,
				     uint32_t len, uint32_t wire_len)
{
	struct qp_pkt *o = w->out;
	struct walk saved;
	enum qp_parse_result r;

	w->proto = proto;
	w->sport = w->dport = 0;
	o->l4_hdr_ok = 0;
	switch (proto) {
	case 6:
		if (len < 20)
			return QP_PERR_truncated_l4;
		{
			uint32_t doff = (uint32_t)(p[12] >> 4) * 4;
			if (doff < 20 || doff > wire_len)
				return QP_PERR_bad_tcp_header;
			w->sport = rd16(p);
			w->dport = rd16(p + 2);
			o->tcp_seq = rd32(p + 4);
			o->tcp_ack = rd32(p + 8);
			o->tcp_flags = p[13];
			o->tcp_win = rd16(p + 14);
			o->l4_payload_len = wire_len - doff;
			o->ip_end = (uint32_t)(p - w->frame) + wire_len;
			qp_parse_tcp_options(o, p + 20, (doff < len ? doff : len) - 20);
		}
		o->l4_hdr_ok = 1;
		return QP_PARSE_FLOW;
	case 17:
		if (len < 8)
			return QP_PERR_truncated_l4;
		if (rd16(p + 4) < 8)
			return QP_PERR_bad_udp_length;
		w->sport = rd16(p);
		w->dport = rd16(p + 2);
		o->l4_payload_len = wire_len - 8;
		o->l4_hdr_ok = 1;
		o->udp_payload = p + 8;
		o->udp_payload_cap = len - 8;
		if (w->dport == PORT_VXLAN) {
			saved = *w;
			r = parse_vxlan(w, p + 8, len - 8);
			return keep_outer(w, &saved, r);
		}
		if (w->dport == PORT_GTPU) {
			saved = *w;
			r = parse_gtpu(w, p + 8, len - 8);
			return keep_outer(w, &saved, r);
		}
		return QP_PARSE_FLOW;
	case 132:
		if (len < 12)
			return QP_PERR_truncated_l4;
		w->sport = rd16(p);
		w->dport = rd16(p + 2);
		o->l4_payload_len = wire_len - 12;
		o->l4_hdr_ok = 1;
		return QP_PARSE_FLOW;
	case 1:
	case 58:
		if (len < 8)
			return QP_PERR_truncated_l4;
		o->l4_payload_len = wire_len - 8;
		o->l4_hdr_ok = 1;
		o->icmp_type = p[0];
		o->icmp_id = rd16(p + 4);
		o->icmp_seq = rd16(p + 6);
		return QP_PARSE_FLOW;
	case 47:
		saved = *w;
		r = parse_gre(w, p, len);
		return keep_outer(w, &saved, r);
	case 4:
	case 41:
		if (++w->tunnels > MAX_TUNNEL)
			return QP_PERR_tunnel_depth;
		o->encap |= QP_ENCAP_IPIP;
		return proto == 4 ? parse_ipv4(w, p, len) : parse_ipv6(w, p, len);
	default:
		o->l4_payload_len = wire_len;
		return QP_PARSE_FLOW;
	}
}

static enum qp_parse_result parse_ipv4(struct walk *w, const uint8_t *p, uint32_t len)
{
	if (len < 20)
		return QP_PERR_truncated_ipv4;
	uint32_t ihl = (uint32_t)(p[0] & 0x0f) * 4;
	uint32_t tot = rd16(p + 2);
	if ((p[0] >> 4) != 4 || ihl < 20 || tot < ihl)
		return QP_PERR_bad_ipv4_header;
	if (ihl > len)
		return QP_PERR_truncated_ipv4;
	if (len > tot) /* Ethernet padding is not IP payload */
		len = tot;
	w->ip_hdr = p;
	w->ip_cap = len;
	w->l4_off = ihl;
	/* an outer first fragment stays pending: its later fragments belong
	 * to the innermost flow found below */
	memset(w->src, 0, 16);
	memset(w->dst, 0, 16);
	memcpy(w->src, p + 12, 4);
	memcpy(w->dst, p + 16, 4);
	w->ipver = 4;
	w->out->frag = QP_FRAG_NONE;
	uint16_t fo = rd16(p + 6);
	uint32_t id = rd16(p + 4);
	if (fo & 0x1fff)
		return frag_later(w, id, p[9]);
	if (fo & 0x2000)
		frag_note(w, id, p[9]);
	return parse_l4(w, p[9], p + ihl, len - ihl, tot - ihl);
}

static enum qp_parse_result parse_ipv6(struct walk *w, const uint8_t *p, uint32_t len)
{
	if (len < 40)
		return QP_PERR_truncated_ipv6;
	if ((p[0] >> 4) != 6)
		return QP_PERR_bad_ipv6_header;
	uint32_t plen = rd16(p + 4);
	uint32_t wire = plen ? plen : len - 40; /* 0: jumbogram, trust the capture */
	memcpy(w->src, p + 8, 16);
	memcpy(w->dst, p + 24, 16);
	w->ipver = 6;
	w->out->frag = QP_FRAG_NONE;
	uint8_t nh = p[6];
	const uint8_t *q = p + 40;
	uint32_t left = len - 40;
	if (left > wire)
		left = wire;
	w->ip_hdr = p;
	w->ip_cap = 40 + left;
	w->l4_off = 40;
	for (int n = 0;; n++) {
		uint32_t hl;
		switch (nh) {
		case 0:   /* hop-by-hop */
		case 43:  /* routing */
		case 60:  /* destination options */
		case 135: /* mobility */
		case 139: /* HIP */
		case 140: /* shim6 */
			if (left < 8)
				return QP_PERR_truncated_ipv6;
			hl = ((uint32_t)q[1] + 1) * 8;
			break;
		case 51: /* AH */
			if (left < 8)
				return QP_PERR_truncated_ipv6;
			hl = ((uint32_t)q[1] + 2) * 4;
			break;
		case 44: /* fragment */
			if (left < 8)
				return QP_PERR_truncated_ipv6;
			hl = 8;
			break;
		default:
			w->l4_off = (uint32_t)(q - p);
			return parse_l4(w, nh, q, left, wire);
		}
		if (n >= MAX_V6_EXT)
			return QP_PERR_bad_ipv6_header;
		if (hl > left || hl > wire)
			return QP_PERR_truncated_ipv6;
		if (nh == 44) {
			uint32_t id = rd32(q + 4);
			uint8_t next = q[0];
			w->l4_off = (uint32_t)(q + hl - p);
			if (rd16(q + 2) >> 3)
				return frag_later(w, id, next);
			if (q[3] & 1)
				frag_note(w, id, next);
		}
		nh = q[0];
		q += hl;
		left -= hl;
		wire -= hl;
	}
}

static enum qp_parse_result parse_mpls(struct walk *w, const uint8_t *p, uint32_t len)
{
	w->out->encap |= QP_ENCAP_MPLS;
	for (int n = 0;; n++) {
		if (n >= MAX_MPLS)
			return QP_PERR_mpls_depth;
		if (len < 4)
			return QP_PERR_truncated_mpls;
		int bos = p[2] & 1;
		p += 4;
		len -= 4;
		if (bos)
			break;
	}
	if (len < 1)
		return QP_PERR_truncated_mpls;
	switch (p[0] >> 4) {
	case 4: return parse_ipv4(w, p, len);
	case 6: return parse_ipv6(w, p, len);
	default: return QP_PERR_mpls_payload;
	}
}

static enum qp_parse_result parse_ethertype(struct walk *w, uint16_t type, const uint8_t *p,
					    uint32_t len)
{
	for (int n = 0; type == ETH_VLAN || type == ETH_QINQ || type == ETH_QINQ_OLD; n++) {
		if (n >= MAX_VLAN)
			return QP_PERR_vlan_depth;
		if (len < 4)
			return QP_PERR_truncated_l2;
		w->vlan = rd16(p) & 0x0fff;
		if (!(w->out->encap & QP_ENCAP_VLAN))
			w->out->vlan = w->vlan;
		w->out->encap |= QP_ENCAP_VLAN;
		type = rd16(p + 2);
		p += 4;
		len -= 4;
	}
	switch (type) {
	case ETH_IPV4: return parse_ipv4(w, p, len);
	case ETH_IPV6: return parse_ipv6(w, p, len);
	case ETH_MPLS:
	case ETH_MPLS_MC: return parse_mpls(w, p, len);
	default: return QP_PARSE_NON_IP;
	}
}

static enum qp_parse_result parse_ether(struct walk *w, const uint8_t *p, uint32_t len)
{
	if (len < 14)
		return QP_PERR_truncated_l2;
	return parse_ethertype(w, rd16(p + 12), p + 14, len - 14);
}

static enum qp_parse_result parse_family(struct walk *w, uint32_t af, const uint8_t *p,
					 uint32_t len)
{
	switch (af) {
	case 2: return parse_ipv4(w, p, len);
	case 10: /* Linux */
	case 24: /* NetBSD, OpenBSD */
	case 28: /* FreeBSD */
	case 30: /* macOS */
		return parse_ipv6(w, p, len);
	default: return QP_PERR_bad_link_family;
	}
}

static enum qp_parse_result parse_link(struct walk *w, int linktype, const uint8_t *p,
				       uint32_t len)
{
	switch (linktype) {
	case QP_LINK_ETHERNET:
		return parse_ether(w, p, len);
	case QP_LINK_SLL:
		if (len < 16)
			return QP_PERR_truncated_l2;
		return parse_ethertype(w, rd16(p + 14), p + 16, len - 16);
	case QP_LINK_SLL2:
		if (len < 20)
			return QP_PERR_truncated_l2;
		return parse_ethertype(w, rd16(p), p + 20, len - 20);
	case QP_LINK_NULL:
	case QP_LINK_LOOP: {
		if (len < 4)
			return QP_PERR_truncated_l2;
		uint32_t be = rd32(p);
		uint32_t le = (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
		/* DLT_NULL is in the writer's byte order: take whichever is small */
		uint32_t af = (linktype == QP_LINK_LOOP || be < 256) ? be : le;
		return parse_family(w, af, p + 4, len - 4);
	}
	case QP_LINK_RAW:
	case QP_LINK_RAW_ALT:
	case QP_LINK_RAW_PCAP:
		if (len < 1)
			return QP_PERR_truncated_l2;
		switch (p[0] >> 4) {
		case 4: return parse_ipv4(w, p, len);
		case 6: return parse_ipv6(w, p, len);
		default: return QP_PERR_bad_link_family;
		}
	case QP_LINK_IPV4:
		return parse_ipv4(w, p, len);
	case QP_LINK_IPV6:
		return parse_ipv6(w, p, len);
	default:
		return QP_PERR_bad_link_family;
	}
}

static void make_key(struct walk *w)
{
	struct qp_pkt *o = w->out;
	struct qp_flow_key *k = &o->key;
	/* memcmp's order, without the call: two big-endian 64-bit words */
	uint64_t a[2], b[2];
	memcpy(a, w->src, 16);
	memcpy(b, w->dst, 16);
	uint64_t a0 = __builtin_bswap64(a[0]), b0 = __builtin_bswap64(b[0]);
	uint64_t a1 = __builtin_bswap64(a[1]), b1 = __builtin_bswap64(b[1]);
	int c = a0 != b0 ? (a0 > b0 ? 1 : -1) : a1 != b1 ? (a1 > b1 ? 1 : -1) : 0;
	int swap = c > 0 || (c == 0 && w->sport > w->dport);
	memset(k, 0, sizeof(*k));
	memcpy(k->addr[swap], w->src, 16);
	memcpy(k->addr[!swap], w->dst, 16);
	k->port[swap] = w->sport;
	k->port[!swap] = w->dport;
	k->proto = w->proto;
	k->ipver = w->ipver;
	o->swapped = (uint8_t)swap;
}

/* The key's context: the parts the caller asked for of what the walk met. */
static void key_context(const struct walk *w, uint32_t parts, struct qp_flow_key *k)
{
	if (parts & QP_FLOW_KEY_VLAN)
		k->vlan = w->vlan;
	if ((parts & QP_FLOW_KEY_VNI) && (w->have & QP_KEY_CTX_VNI)) {
		k->ctx |= QP_KEY_CTX_VNI;
		k->vni[0] = (uint8_t)(w->vni >> 16);
		k->vni[1] = (uint8_t)(w->vni >> 8);
		k->vni[2] = (uint8_t)w->vni;
	}
	if ((parts & QP_FLOW_KEY_GRE_KEY) && (w->have & QP_KEY_CTX_GRE_KEY)) {
		k->ctx |= QP_KEY_CTX_GRE_KEY;
		k->tunnel_id = w->gre_key;
	} else if ((parts & QP_FLOW_KEY_TEID) && (w->have & QP_KEY_CTX_TEID)) {
		k->ctx |= QP_KEY_CTX_TEID;
		k->tunnel_id = w->teid;
	} else if ((parts & QP_FLOW_KEY_GTPU_PEERS) && (w->have & QP_KEY_CTX_GTPU_PEERS)) {
		k->ctx |= QP_KEY_CTX_GTPU_PEERS;
		k->tunnel_id = w->gtpu_peers;
	}
}

enum qp_parse_result qp_parse(struct qp_parse_ctx *ctx, int linktype, const uint8_t *data,
			      uint32_t caplen, struct qp_pkt *out)
{
	return qp_parse_inline(ctx, linktype, data, caplen, out);
}

enum qp_parse_result qp_parse_walk(struct qp_parse_ctx *ctx, int linktype, const uint8_t *data,
				   uint32_t caplen, struct qp_pkt *out)
{
	struct walk w;
	memset(out, 0, sizeof(*out));
	w.ctx = ctx;
	w.out = out;
	w.frame = data;
	w.tunnels = 0;
	w.ipver = 0;
	w.frag_pending = 0;
	w.ip_hdr = NULL;
	w.ip_cap = w.l4_off = 0;
	w.vlan = 0;
	w.have = 0;
	enum qp_parse_result r = parse_link(&w, linktype, data, caplen);
	if (r != QP_PARSE_FLOW)
		return r;
	out->ip_hdr = w.ip_hdr;
	out->ip_cap = w.ip_cap;
	out->l4_off = w.l4_off;
	out->l4_proto = w.proto;
	if (!(out->frag == QP_FRAG_LATER && out->frag_attributed))
		make_key(&w);
	if (w.frag_pending) {
		struct qp_frag_slot *s =
			&ctx->frag[frag_index(w.frag_rec.src, w.frag_rec.dst, w.frag_rec.id,
					      w.frag_rec.proto)];
		*s = w.frag_rec;
		s->used = 1;
		s->key = out->key;
		s->swapped = out->swapped;
		ctx->frag_first++;
	}
	if (w.have | w.vlan) /* most frames cross no tunnel and no tag */
		key_context(&w, ctx->key_parts, &out->key);
	out->hash = qp_flow_key_hash(&out->key);
	return QP_PARSE_FLOW;
}
