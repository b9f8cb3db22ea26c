/*
 * qp_dnsgen: see qp_dnsgen.h.
 */
#include "qp_dnsgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US 1000ULL
#define MS 1000000ULL

static unsigned int rng;
static struct pw_batch batch;

static uint32_t rnd(uint32_t n)
{
	return pw_rand(&rng, n);
}

uint32_t dg_msg(uint8_t *m, uint16_t id, int response, unsigned int rcode, int tc,
		const char *name, uint16_t qtype, unsigned int answers)
{
	memset(m, 0, 12);
	m[0] = (uint8_t)(id >> 8);
	m[1] = (uint8_t)id;
	m[2] = (uint8_t)((response ? 0x80 : 0) | (tc ? 0x02 : 0) | 0x01);
	m[3] = (uint8_t)((response ? 0x80 : 0) | rcode);
	m[5] = 1;
	m[7] = (uint8_t)answers;
	uint32_t at = 12;
	const char *p = name;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		m[at++] = (uint8_t)l;
		memcpy(m + at, p, l);
		at += (uint32_t)l;
		p += l + (dot ? 1 : 0);
	}
	m[at++] = 0;
	m[at++] = (uint8_t)(qtype >> 8);
	m[at++] = (uint8_t)qtype;
	m[at++] = 0;
	m[at++] = 1;
	for (unsigned int k = 0; k < answers; k++) {
		/* an A record: a pointer to the question's name, type, class, TTL, address */
		const uint8_t a4[] = {0xC0, 12, 0, 1, 0, 1, 0, 0, 0x0E, 0x10, 0, 4, 192, 0, 2, (uint8_t)(1 + k)};
		memcpy(m + at, a4, sizeof(a4));
		at += sizeof(a4);
	}
	return at;
}

static void sample(struct dg_flow *f, uint64_t rt)
{
	if (!f->rt_n || rt < f->rt_min)
		f->rt_min = rt;
	if (rt > f->rt_max)
		f->rt_max = rt;
	f->rt_n++;
	f->rt_sum += rt;
}

/* ---- UDP ---- */

static void udp_msg(const struct dg_flow *f, int to_server, const uint8_t *m, uint32_t n, uint64_t ts)
{
	struct pb b;
	pb_init(&b);
	pb_push_raw(&b, m, n);
	if (to_server)
		pb_push_udp(&b, f->cport, f->sport);
	else
		pb_push_udp(&b, f->sport, f->cport);
	const char *src = to_server ? f->client : f->server, *dst = to_server ? f->server : f->client;
	if (strchr(f->client, ':'))
		pb_push_ip6(&b, src, dst);
	else
		pb_push_ip4(&b, src, dst, 1, 0);
	pb_push_eth(&b);
	pwb_add(&batch, &b, ts);
}

static void query(struct dg_flow *f, uint16_t id, const char *name, uint16_t qt, uint64_t ts)
{
	uint8_t m[300];
	udp_msg(f, 1, m, dg_msg(m, id, 0, 0, 0, name, qt, 0), ts);
}

static void answer(struct dg_flow *f, uint16_t id, const char *name, uint16_t qt, unsigned int rc,
		   int tc, uint64_t ts)
{
	uint8_t m[300];
	udp_msg(f, 0, m, dg_msg(m, id, 1, rc, tc, name, qt, rc == 0), ts);
	f->responses++;
	f->rcodes[rc]++;
	f->truncated += (uint32_t)tc;
}

static unsigned int pick_rcode(void)
{
	uint32_t r = rnd(100);
	return r < 80 ? 0 : r < 90 ? 3 : r < 95 ? 2 : 5;
}

/* One UDP client's queries from t; wrong: may answer another question first. */
static void udp_client(struct dg_flow *f, uint64_t t, int nq, int wrong)
{
	uint16_t id = (uint16_t)rnd(65536);
	char name[64], other[64];
	int lost_waiting = 0;
	for (int q = 0; q < nq; q++, id += 7) {
		snprintf(name, sizeof(name), "host%u.example.com", rnd(1000));
		snprintf(other, sizeof(other), "other%u.example.net", rnd(1000));
		if (lost_waiting) {
			/* the one before was never answered: this query comes 6 s
			 * later, so the probe finds it unanswered here */
			f->unanswered++;
			lost_waiting = 0;
		}
		uint64_t rt = (200 + rnd(80000)) * US;
		uint32_t sc = rnd(100);
		f->queries++;
		query(f, id, name, 1, t);
		if (sc < 50) {
			int tc = rnd(100) < 5;
			answer(f, id, name, 1, pick_rcode(), tc, t + rt);
			f->answered++;
			sample(f, rt);
			t += rt;
		} else if (sc < 60) {
			lost_waiting = 1;
			t += 6000 * MS;
			continue;
		} else if (sc < 70) {
			/* sent again after a second, answered from the first */
			query(f, id, name, 1, t + 1000 * MS);
			f->queries++;
			f->retransmitted++;
			answer(f, id, name, 1, 0, 0, t + 1000 * MS + rt);
			f->answered++;
			sample(f, 1000 * MS + rt);
			t += 1000 * MS + rt;
		} else if (sc < 77 && wrong) {
			answer(f, id, other, 1, 0, 0, t + rt);
			f->unmatched++;
			answer(f, id, name, 1, 0, 0, t + rt + 300 * US);
			f->answered++;
			sample(f, rt + 300 * US);
			f->wrong = 1;
			t += rt + 300 * US;
		} else if (sc < 85) {
			answer(f, id, name, 1, 0, 0, t + rt);
			answer(f, id, name, 1, 0, 0, t + rt + 50 * US);
			f->answered++;
			f->unmatched++;
			sample(f, rt);
			t += rt + 50 * US;
		} else {
			/* A and AAAA at once, the second answered first */
			query(f, (uint16_t)(id + 1), name, 28, t + 10 * US);
			f->queries++;
			answer(f, (uint16_t)(id + 1), name, 28, 0, 0, t + rt);
			answer(f, id, name, 1, 0, 0, t + rt + 900 * US);
			f->answered += 2;
			sample(f, rt - 10 * US);
			sample(f, rt + 900 * US);
			t += rt + 900 * US;
		}
		t += (10 + rnd(490)) * MS;
	}
	f->pending += (uint32_t)lost_waiting;
}

/* ---- TCP ---- */

struct conn {
	struct dg_flow *f;
	uint32_t cseq, sseq; /* next sequence number of each side */
};

static void tcp_seg(struct conn *c, int to_server, const uint8_t *p, uint32_t n, uint8_t flags,
		    uint64_t ts)
{
	struct dg_flow *f = c->f;
	struct pb b;
	pb_init(&b);
	if (n)
		pb_push_raw(&b, p, n);
	if (to_server)
		pb_push_tcp(&b, f->cport, f->sport, c->cseq, c->sseq, flags, 64240);
	else
		pb_push_tcp(&b, f->sport, f->cport, c->sseq, c->cseq, flags, 65160);
	const char *src = to_server ? f->client : f->server, *dst = to_server ? f->server : f->client;
	pb_push_ip4(&b, src, dst, 1, 0x4000);
	pb_push_eth(&b);
	pwb_add(&batch, &b, ts);
	uint32_t adv = n + ((flags & 0x03) ? 1 : 0); /* SYN and FIN take a number */
	if (to_server)
		c->cseq += adv;
	else
		c->sseq += adv;
}

/* A framed message: its length. */
static uint32_t tmsg(uint8_t *m, uint16_t id, int response, unsigned int rc, const char *name)
{
	uint32_t n = dg_msg(m + 2, id, response, rc, 0, name, 1, response && rc == 0);
	m[0] = (uint8_t)(n >> 8);
	m[1] = (uint8_t)n;
	return n + 2;
}

static void tcp_open(struct conn *c, uint64_t t)
{
	c->cseq = 1000 + rnd(100000);
	c->sseq = 5000 + rnd(100000);
	tcp_seg(c, 1, NULL, 0, 0x02, t);
	tcp_seg(c, 0, NULL, 0, 0x12, t + 1 * MS);
	tcp_seg(c, 1, NULL, 0, 0x10, t + 2 * MS);
}

static void tcp_close(struct conn *c, uint64_t t)
{
	tcp_seg(c, 1, NULL, 0, 0x11, t);
	tcp_seg(c, 0, NULL, 0, 0x11, t + 1 * MS);
	tcp_seg(c, 1, NULL, 0, 0x10, t + 2 * MS);
}

/* Whole messages: queries in a segment each, two answers sharing one. */
static void tcp_whole(struct dg_flow *f, uint64_t t)
{
	struct conn c = {.f = f};
	uint8_t m[600], r[600];
	tcp_open(&c, t);
	t += 3 * MS;
	for (uint16_t id = 1; id <= 4; id++) {
		uint32_t n = tmsg(m, id, 0, 0, id & 1 ? "a.tcp.example" : "bb.tcp.example");
		tcp_seg(&c, 1, m, n, 0x18, t);
		f->queries++;
		if (id == 3) {
			t += 100 * US;
			continue; /* answered with the next one */
		}
		uint64_t rt = (1000 + rnd(30000)) * US;
		n = 0;
		if (id == 4) {
			n = tmsg(r, 3, 1, 3, "a.tcp.example");
			f->responses++;
			f->rcodes[3]++;
			f->answered++;
			sample(f, rt + 100 * US);
		}
		n += tmsg(r + n, id, 1, 0, id & 1 ? "a.tcp.example" : "bb.tcp.example");
		f->responses++;
		f->rcodes[0]++;
		f->answered++;
		sample(f, rt);
		tcp_seg(&c, 0, r, n, 0x18, t + rt);
		t += rt + 5 * MS;
	}
	tcp_close(&c, t);
}

/* Messages cut: a length alone, a header across two segments, an answer in three. */
static void tcp_cut(struct dg_flow *f, uint64_t t)
{
	struct conn c = {.f = f};
	uint8_t m[600];
	tcp_open(&c, t);
	t += 3 * MS;
	/* the length alone, the message 20 us later */
	uint32_t n = tmsg(m, 11, 0, 0, "cut.tcp.example");
	tcp_seg(&c, 1, m, 2, 0x18, t);
	tcp_seg(&c, 1, m + 2, n - 2, 0x18, t + 20 * US);
	f->queries++;
	uint64_t q1 = t + 20 * US;
	/* the second query's header cut after 7 bytes */
	n = tmsg(m, 12, 0, 0, "cut2.tcp.example");
	tcp_seg(&c, 1, m, 7, 0x18, t + 40 * US);
	tcp_seg(&c, 1, m + 7, n - 7, 0x18, t + 60 * US);
	f->queries++;
	uint64_t q2 = t + 40 * US;
	/* the first answer in three pieces: its time is its first byte's */
	n = tmsg(m, 11, 1, 0, "cut.tcp.example");
	uint64_t a1 = t + 9 * MS;
	tcp_seg(&c, 0, m, 5, 0x18, a1);
	tcp_seg(&c, 0, m + 5, 20, 0x18, a1 + 30 * US);
	tcp_seg(&c, 0, m + 25, n - 25, 0x18, a1 + 60 * US);
	f->responses++;
	f->rcodes[0]++;
	f->answered++;
	sample(f, a1 - q1);
	/* the second answer, and a third query that is never answered */
	n = tmsg(m, 12, 1, 2, "cut2.tcp.example");
	uint32_t n2 = tmsg(m + n, 13, 0, 0, "late.tcp.example");
	tcp_seg(&c, 0, m, n, 0x18, a1 + 2 * MS);
	f->responses++;
	f->rcodes[2]++;
	f->answered++;
	sample(f, a1 + 2 * MS - q2);
	tcp_seg(&c, 1, m + n, n2, 0x18, a1 + 3 * MS);
	f->queries++;
	f->pending++;
	tcp_close(&c, a1 + 10 * MS);
}

void dg_write(struct pw *w, uint64_t t0, unsigned int seed, int wrong, struct dg_truth *t)
{
	rng = seed;
	memset(t, 0, sizeof(*t));
	for (int k = 0; k < 24; k++) {
		struct dg_flow *f = &t->f[t->n++];
		if (k % 2) {
			snprintf(f->client, sizeof(f->client), "2001:db8:1::%x", 0x100 + k);
			snprintf(f->server, sizeof(f->server), "2001:db8:53::53");
		} else {
			snprintf(f->client, sizeof(f->client), "10.1.0.%d", 10 + k);
			snprintf(f->server, sizeof(f->server), "10.9.9.9");
		}
		f->cport = (uint16_t)(20000 + 37 * k);
		f->sport = 53;
		f->proto = 17;
		udp_client(f, t0 + (uint64_t)k * 137 * MS + rnd(1000) * US, 1 + (int)rnd(6), wrong);
	}
	static const char *tc[] = {"10.2.0.1", "10.2.0.2"};
	for (int k = 0; k < 2; k++) {
		struct dg_flow *f = &t->f[t->n++];
		snprintf(f->client, sizeof(f->client), "%s", tc[k]);
		snprintf(f->server, sizeof(f->server), "10.9.9.9");
		f->cport = (uint16_t)(40000 + k);
		f->sport = 53;
		f->proto = 6;
		f->cut = (uint8_t)k;
		if (k)
			tcp_cut(f, t0 + 500 * MS);
		else
			tcp_whole(f, t0 + 300 * MS);
	}
	t->first_ns = batch.n ? batch.f[0].ts : 0;
	uint64_t last = 0;
	for (size_t i = 0; i < batch.n; i++)
		last = batch.f[i].ts > last ? batch.f[i].ts : last;
	t->last_ns = last;
	t->frames = pwb_flush(&batch, w);
}
