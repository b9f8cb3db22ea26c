/*
 * qp_quic_dp: see qp_quic_dp.h.
 */
#include "qp_quic_dp.h"

#include <string.h>

#define QUIC_V1 0x00000001u
#define QUIC_V2 0x6b3343cfu /* RFC 9369 */

/* 1 for the versions whose long-header layout qprobe reads. */
static int known_version(uint32_t v)
{
	return v == QUIC_V1 || v == QUIC_V2 || (v >= 0xff00001du && v <= 0xff000022u);
}

enum { T_INITIAL, T_ZERO_RTT, T_HANDSHAKE, T_RETRY };

/* A long header's packet type, as version 1 numbers them. */
static int long_type(uint8_t first, uint32_t version)
{
	unsigned int t = (first >> 4) & 3;
	if (version == QUIC_V2) /* RFC 9369 3.2: Initial 1, 0-RTT 2, Handshake 3, Retry 0 */
		return (int)((t + 3) & 3);
	return (int)t;
}

/* A variable-length integer (RFC 9000 16) at p[*at]; -1 when cut. */
static int varint(const uint8_t *p, uint32_t cap, uint32_t *at, uint64_t *v)
{
	if (*at >= cap)
		return -1;
	unsigned int n = 1u << (p[*at] >> 6);
	if (*at + n > cap)
		return -1;
	uint64_t x = p[*at] & 0x3F;
	for (unsigned int i = 1; i < n; i++)
		x = x << 8 | p[*at + i];
	*at += n;
	*v = x;
	return 0;
}

int qp_quic_detect(const uint8_t *p, uint32_t cap)
{
	if (cap < 7 || (p[0] & 0xC0) != 0xC0)
		return 0;
	uint32_t v = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	if (!known_version(v) || p[5] > 20 || 6u + p[5] >= cap || p[6 + p[5]] > 20)
		return 0;
	return 1;
}

void qp_quic_init(struct qp_quic *q)
{
	memset(q, 0, sizeof(*q));
	q->hs_ns = q->hs_ack_ns = -1;
}

static void add_version(struct qp_quic *q, uint32_t v)
{
	for (unsigned int i = 0; i < q->nversions; i++)
		if (q->versions[i] == v)
			return;
	if (q->nversions < QP_QUIC_VERSIONS)
		q->versions[q->nversions++] = v;
}

/* A short header's spin bit in direction dir. */
static void spin(struct qp_quic *q, unsigned int s, unsigned int dir, uint64_t ts,
		 struct qp_quic_event *ev)
{
	struct qp_quic_spin *me = &q->spin[dir], *other = &q->spin[!dir];
	if (!me->have) {
		me->have = 1;
		me->cur = (uint8_t)s;
		return;
	}
	if (s == me->cur)
		return;
	/* due: a server's edge takes the client's value, a client's edge
	 * the inverse of the server's */
	int client = (q->st & QP_QUIC_ST_CLIENT) ? dir == q->client_dir : dir == 0;
	if (!other->have || (client ? other->cur == s : other->cur != s)) {
		q->edges_discarded++;
		ev->edge_discarded++;
		return;
	}
	me->cur = (uint8_t)s;
	q->edges_kept++;
	ev->edge_kept++;
	if (me->have_edge && ts >= me->edge_ns) {
		uint64_t rtt = ts - me->edge_ns;
		qp_stat_add(&q->rtt[dir], rtt);
		ev->rtt_dir = (int8_t)dir;
		ev->rtt_ns = rtt;
	}
	me->edge_ns = ts;
	me->have_edge = 1;
}

void qp_quic_update(struct qp_quic *q, const uint8_t *p, uint32_t cap, unsigned int dir,
		    uint64_t ts, struct qp_quic_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->rtt_dir = -1;
	int client_initial = 0, server_hs = 0, not_0rtt = 0;
	uint32_t at = 0;
	/* at most 4 coalesced packets are read: a client sends Initial,
	 * 0-RTT and 1-RTT at most, a server Initial, Handshake and 1-RTT */
	for (int k = 0; k < 4 && at < cap; k++) {
		uint8_t first = p[at];
		if (!(first & 0x80)) { /* short header: the rest of the datagram */
			q->short_pkts++;
			not_0rtt = 1;
			spin(q, (first >> 5) & 1, dir, ts, ev);
			break;
		}
		if (cap - at < 7)
			break;
		uint32_t v = (uint32_t)p[at + 1] << 24 | (uint32_t)p[at + 2] << 16 |
			     (uint32_t)p[at + 3] << 8 | p[at + 4];
		q->long_pkts++;
		if (v == 0) { /* version negotiation: the rest of the datagram */
			q->vneg++;
			break;
		}
		if (!known_version(v)) {
			q->unknown_version++;
			break;
		}
		add_version(q, v);
		uint32_t h = at + 5;
		if (p[h] > 20 || h + 1 + p[h] >= cap)
			break;
		h += 1u + p[h];
		if (p[h] > 20 || h + 1 + p[h] > cap)
			break;
		h += 1u + p[h];
		int t = long_type(first, v);
		uint64_t len = 0, tok = 0;
		if (t == T_RETRY) {
			q->retry++;
			break; /* the rest of the datagram */
		}
		if (t == T_INITIAL) {
			q->initial++;
			if (varint(p, cap, &h, &tok) || tok > cap - h)
				break;
			h += (uint32_t)tok;
			if (!(q->st & QP_QUIC_ST_CLIENT)) {
				q->st |= QP_QUIC_ST_CLIENT;
				q->client_dir = (uint8_t)dir;
			}
			client_initial |= dir == q->client_dir;
			server_hs |= dir != q->client_dir;
		} else if (t == T_HANDSHAKE) {
			q->handshake++;
			server_hs |= (q->st & QP_QUIC_ST_CLIENT) && dir != q->client_dir;
		} else {
			q->zero_rtt++;
		}
		not_0rtt |= t != T_ZERO_RTT;
		if (varint(p, cap, &h, &len))
			break;
		if (len > cap - h)
			break; /* the capture, or the packet, ends first */
		at = h + (uint32_t)len;
	}
	if (!(q->st & QP_QUIC_ST_CLIENT))
		return;
	if (dir == q->client_dir) {
		if (client_initial && !(q->st & QP_QUIC_ST_SERVER)) {
			q->ci_ns = ts; /* the latest before the server answers */
			q->st |= QP_QUIC_ST_CI;
		}
		else if (not_0rtt && (q->st & (QP_QUIC_ST_SERVER | QP_QUIC_ST_DONE)) == QP_QUIC_ST_SERVER) {
			q->st |= QP_QUIC_ST_DONE;
			if (ts >= q->s_ns)
				q->hs_ack_ns = (int64_t)(ts - q->s_ns);
			if (q->hs_ns >= 0 && q->hs_ack_ns >= 0) {
				ev->handshake = 1;
				ev->hs_total_ns = (uint64_t)(q->hs_ns + q->hs_ack_ns);
			}
		}
	} else if (server_hs && !(q->st & QP_QUIC_ST_SERVER)) {
		q->st |= QP_QUIC_ST_SERVER;
		q->s_ns = ts;
		if ((q->st & QP_QUIC_ST_CI) && ts >= q->ci_ns)
			q->hs_ns = (int64_t)(ts - q->ci_ns);
	}
}

void qp_quic_restart(struct qp_quic *q)
{
	q->long_pkts = q->short_pkts = 0;
	q->initial = q->zero_rtt = q->handshake = q->retry = q->vneg = 0;
	q->unknown_version = 0;
	q->edges_kept = q->edges_discarded = 0;
	memset(q->rtt, 0, sizeof(q->rtt));
}

int qp_quic_spin_active(const struct qp_quic *q)
{
	return (q->rtt[0].n || q->rtt[1].n) && q->edges_discarded * 4 <= q->edges_kept;
}
