/*
 * qp_quicgen: see qp_quicgen.h.
 */
#include "qp_quicgen.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US 1000ULL
#define MS 1000000ULL

static unsigned int rng;

static uint32_t rnd(uint32_t n)
{
	return pw_rand(&rng, n);
}

/* one datagram as the probe sees it */
struct obs {
	uint64_t ts;
	uint32_t seq;
	int from_client;
	int spin; /* short header's spin bit, -1: long header(s) */
	int skip; /* the reordered packet: left out of the truth's edges */
	int owner; /* the connection it belongs to */
	uint32_t len;
	uint8_t data[1300];
};
static struct obs *ob;
static size_t nob, capob;
static int owner_now; /* the connection add() makes datagrams of */

static struct obs *add(uint64_t ts, int from_client)
{
	if (nob == capob) {
		capob = capob ? capob * 2 : 1024;
		ob = realloc(ob, capob * sizeof(*ob));
		if (!ob)
			abort();
	}
	struct obs *o = &ob[nob];
	memset(o, 0, offsetof(struct obs, data));
	o->ts = ts;
	o->seq = (uint32_t)nob++;
	o->from_client = from_client;
	o->spin = -1;
	o->owner = owner_now;
	return o;
}

static const uint8_t CCID[8] = {0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8};
static const uint8_t SCID[4] = {0x5e, 0x5e, 0x5e, 0x01};

enum { INITIAL, ZERO_RTT, HANDSHAKE };

/* A long-header packet appended to o: payload of n bytes (filler). */
static void put_long(struct obs *o, uint32_t version, int type, int from_client, uint32_t n)
{
	unsigned int t = (unsigned int)type;
	if (version == 0x6b3343cfu) /* RFC 9369: Initial 1, 0-RTT 2, Handshake 3 */
		t = (t + 1) & 3;
	uint8_t *p = o->data + o->len;
	uint32_t at = 0;
	p[at++] = (uint8_t)(0xC0 | t << 4 | 0x01);
	p[at++] = (uint8_t)(version >> 24);
	p[at++] = (uint8_t)(version >> 16);
	p[at++] = (uint8_t)(version >> 8);
	p[at++] = (uint8_t)version;
	const uint8_t *d = from_client ? SCID : CCID, *s = from_client ? CCID : SCID;
	uint8_t dl = from_client ? 4 : 8, sl = from_client ? 8 : 4;
	p[at++] = dl;
	memcpy(p + at, d, dl);
	at += dl;
	p[at++] = sl;
	memcpy(p + at, s, sl);
	at += sl;
	if (type == INITIAL)
		p[at++] = 0; /* no token */
	p[at++] = (uint8_t)(0x40 | n >> 8);
	p[at++] = (uint8_t)n;
	for (uint32_t i = 0; i < n; i++)
		p[at + i] = (uint8_t)(0x5a ^ i);
	o->len += at + n;
}

/* A client datagram: an Initial (with more after it) padded to 1200 bytes. */
static void client_initial(struct obs *o, uint32_t version, int zero_rtt)
{
	put_long(o, version, INITIAL, 1, zero_rtt ? 900 : 1160);
	if (zero_rtt)
		put_long(o, version, ZERO_RTT, 1, 1200 - o->len - 30);
}

static void put_short(struct obs *o, int spin, int from_client)
{
	o->spin = spin;
	o->data[0] = (uint8_t)(0x40 | spin << 5 | 0x01);
	memcpy(o->data + 1, from_client ? SCID : CCID, from_client ? 4 : 8);
	o->len = 1 + (from_client ? 4u : 8u) + 40;
	memset(o->data + o->len - 40, 0xa5, 40);
}

/* sent 1-RTT packets of one side, for the peer's spin */
struct sent {
	uint64_t at; /* arrival at the peer */
	int spin;
};

/* The spin value of the latest packet from the peer that arrived by t (0: none yet). */
static int last_arrived(const struct sent *s, int n, uint64_t t)
{
	int v = 0;
	for (int i = 0; i < n && s[i].at <= t; i++)
		v = s[i].spin;
	return v;
}

enum { SPIN, REORDER, NO_SPIN, RANDOM, ZERO, VNEG };

/* One connection: handshake, then 1-RTT packets both ways. */
static void conn(struct qg_conn *c, uint64_t t0, int kind)
{
	uint64_t dc = (uint64_t)(300 + rnd(3000)) * US, ds = (uint64_t)(2000 + rnd(20000)) * US;
	uint64_t th = 500 * US, gap = (uint64_t)(2000 + rnd(3000)) * US;
	c->rtt_true = 2 * (dc + ds);
	c->gap_ns = (uint32_t)gap;
	c->hs_server_ns = c->hs_client_ns = -1;
	c->quic = 1;
	c->spins = kind == SPIN || kind == REORDER || kind == ZERO || kind == VNEG;
	c->reordered = kind == REORDER;
	c->random_spin = kind == RANDOM;
	size_t first = nob;
	uint64_t c0 = t0;
	if (kind == VNEG) {
		/* an Initial of a version the server refuses, its Version
		 * Negotiation, and the Initial again in version 1 */
		struct obs *o = add(c0 + dc, 1);
		put_long(o, 0xff00001d, INITIAL, 1, 1160);
		c->long_pkts++;
		o = add(c0 + dc + 2 * ds + 200 * US, 0);
		uint8_t *p = o->data;
		p[0] = 0x80 | 0x3a;
		memset(p + 1, 0, 4);
		p[5] = 8;
		memcpy(p + 6, CCID, 8);
		p[14] = 4;
		memcpy(p + 15, SCID, 4);
		memcpy(p + 19, "\x00\x00\x00\x01\x6b\x33\x43\xcf", 8);
		o->len = 27;
		c->long_pkts++;
		c->vneg++;
		c0 += 2 * (dc + ds) + 400 * US;
	}
	struct obs *o = add(c0 + dc, 1);
	client_initial(o, c->version, kind == ZERO);
	c->long_pkts += kind == ZERO ? 2 : 1;
	c->zero_rtt += kind == ZERO;
	if (kind == SPIN && (c->cport & 1)) {
		/* the client sends its Initial again before the answer: the
		 * latest one before the server's answer starts the halves */
		c0 += 1 * MS;
		o = add(c0 + dc, 1);
		client_initial(o, c->version, 0);
		c->long_pkts++;
	}
	uint64_t s0 = c0 + dc + ds + th; /* the server answers */
	o = add(s0 + ds, 0);
	put_long(o, c->version, INITIAL, 0, 120);
	put_long(o, c->version, HANDSHAKE, 0, 900);
	c->long_pkts += 2;
	c->hs_server_ns = (int64_t)((s0 + ds) - (c0 + dc));
	if (kind == ZERO) {
		/* 0-RTT the client sent before the answer reached it, seen after
		 * the answer passed the probe: not the client's next packet */
		o = add(s0 + ds + dc / 2 + 1 * US, 1);
		put_long(o, c->version, ZERO_RTT, 1, 300);
		c->long_pkts++;
		c->zero_rtt++;
	}
	uint64_t c1 = s0 + ds + dc + 200 * US; /* the client answers */
	o = add(c1 + dc, 1);
	put_long(o, c->version, INITIAL, 1, 40);
	put_long(o, c->version, HANDSHAKE, 1, 80);
	c->long_pkts += 2;
	c->hs_client_ns = (int64_t)((c1 + dc) - (s0 + ds));
	/* 1-RTT: each side every `gap`, 150 packets each */
	enum { N = 150 };
	struct sent cs[N], ss[N];
	uint64_t ct = c1 + gap, st = c1 + dc + ds + 300 * US;
	int fixed = (int)rnd(2) | 1; /* the non-spinning server's value */
	int nc = 0, ns = 0;
	while (nc < N || ns < N) {
		int client = nc < N && (ns >= N || ct <= st);
		if (client) {
			int v = kind == RANDOM ? (int)rnd(2) : !last_arrived(ss, ns, ct);
			if (kind == NO_SPIN)
				v = !fixed;
			cs[nc].at = ct + dc + ds;
			cs[nc].spin = v;
			o = add(ct + dc, 1);
			put_short(o, v, 1);
			nc++;
			ct += gap;
		} else {
			int v = kind == NO_SPIN ? fixed : last_arrived(cs, nc, st);
			ss[ns].at = st + ds + dc;
			ss[ns].spin = v;
			o = add(st + ds, 0);
			put_short(o, v, 0);
			ns++;
			st += gap;
		}
		c->short_pkts++;
	}
	if (kind == REORDER) {
		/* the client packet before its third edge is seen after the edge */
		int edges = 0, prev = -1;
		for (size_t i = first; i < nob; i++) {
			struct obs *x = &ob[i];
			if (!x->from_client || x->spin < 0)
				continue;
			if (prev >= 0 && x->spin != prev && ++edges == 3) {
				/* the one before i in the client's order */
				for (size_t j = i; j-- > first;)
					if (ob[j].from_client && ob[j].spin >= 0) {
						ob[j].ts = x->ts + 1 * US;
						ob[j].skip = 1;
						break;
					}
				break;
			}
			prev = x->spin;
		}
	}
}

static int obs_cmp(const void *a, const void *b)
{
	const struct obs *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->seq < y->seq ? -1 : 1;
}

/* The truth's spin samples of one connection: edges in the order seen. */
static void spin_truth(struct qg_conn *c, const struct obs *o, size_t n, int cidx)
{
	int prev[2] = {-1, -1};
	uint64_t last[2] = {0, 0};
	int have[2] = {0, 0};
	for (size_t i = 0; i < n; i++) {
		if (o[i].owner != cidx || o[i].spin < 0 || o[i].skip)
			continue;
		int d = !o[i].from_client; /* the client is the flow's initiator: fwd */
		if (prev[d] >= 0 && o[i].spin != prev[d]) {
			if (have[d]) {
				uint64_t s = o[i].ts - last[d];
				if (!c->rtt_n[d] || s < c->rtt_min[d])
					c->rtt_min[d] = s;
				if (s > c->rtt_max[d])
					c->rtt_max[d] = s;
				c->rtt_n[d]++;
				c->rtt_sum[d] += s;
			}
			last[d] = o[i].ts;
			have[d] = 1;
		}
		prev[d] = o[i].spin;
	}
}

void qg_write(struct pw *w, uint64_t t0, unsigned int seed, struct qg_truth *t)
{
	rng = seed;
	memset(t, 0, sizeof(*t));
	nob = 0;
	static const struct {
		int kind, v6;
		uint32_t version;
	} plan[] = {
		{SPIN, 0, 0x00000001}, {SPIN, 1, 0x00000001}, {SPIN, 0, 0x6b3343cf},
		{SPIN, 1, 0xff00001d}, {REORDER, 0, 0x00000001}, {NO_SPIN, 0, 0x00000001},
		{RANDOM, 1, 0x00000001}, {ZERO, 0, 0x00000001}, {VNEG, 0, 0x00000001},
	};
	int np = (int)(sizeof(plan) / sizeof(plan[0]));
	for (int k = 0; k < np; k++) {
		struct qg_conn *c = &t->c[t->n++];
		if (plan[k].v6) {
			snprintf(c->client, sizeof(c->client), "2001:db8:c::%x", 0x10 + k);
			snprintf(c->server, sizeof(c->server), "2001:db8:5::443");
		} else {
			snprintf(c->client, sizeof(c->client), "10.3.0.%d", 10 + k);
			snprintf(c->server, sizeof(c->server), "10.4.0.1");
		}
		c->cport = (uint16_t)(50000 + k);
		c->sport = 443;
		c->version = plan[k].version;
		owner_now = k;
		conn(c, t0 + (uint64_t)k * 70 * MS, plan[k].kind);
	}
	/* a UDP flow of a version nobody knows: not QUIC */
	struct qg_conn *u = &t->c[t->n++];
	snprintf(u->client, sizeof(u->client), "10.3.0.99");
	snprintf(u->server, sizeof(u->server), "10.4.0.9");
	u->cport = 50099;
	u->sport = 4433;
	u->version = 0x1a2a3a4a;
	u->hs_server_ns = u->hs_client_ns = -1;
	owner_now = t->n - 1;
	for (int i = 0; i < 3; i++) {
		struct obs *o = add(t0 + (uint64_t)i * 10 * MS + 5 * US, i != 1);
		put_long(o, u->version, INITIAL, i != 1, 200);
	}
	for (size_t i = 0; i < nob; i++)
		ob[i].seq = (uint32_t)i;
	qsort(ob, nob, sizeof(*ob), obs_cmp);
	for (int k = 0; k < np; k++)
		spin_truth(&t->c[k], ob, nob, k);
	for (size_t i = 0; i < nob; i++) {
		const struct qg_conn *c = &t->c[ob[i].owner];
		struct pb b;
		pb_init(&b);
		pb_push_raw(&b, ob[i].data, ob[i].len);
		const char *src = ob[i].from_client ? c->client : c->server;
		const char *dst = ob[i].from_client ? c->server : c->client;
		if (ob[i].from_client)
			pb_push_udp(&b, c->cport, c->sport);
		else
			pb_push_udp(&b, c->sport, c->cport);
		if (strchr(c->client, ':'))
			pb_push_ip6(&b, src, dst);
		else
			pb_push_ip4(&b, src, dst, 1, 0);
		pb_push_eth(&b);
		pw_write(w, ob[i].ts, pb_data(&b), pb_len(&b), pb_len(&b));
	}
	t->frames = nob;
	free(ob);
	ob = NULL;
	nob = capob = 0;
}
