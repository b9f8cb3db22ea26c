/*
 * qp_mixgen: the realistic mix (see qp_mixgen.h). Each flow is a small
 * state machine with the time of its next frame; a heap of them gives the
 * next frame of the capture, so a million frames need no more memory than
 * the flows.
 */
#include "qp_mixgen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPAN_US 10000000u /* flows begin over the first 10 s and mostly end by 20 s */

struct mflow {
	uint64_t next; /* its next frame, microseconds from t0 */
	uint32_t left; /* frames still to send */
	uint32_t step; /* TCP: 0 SYN, 1 SYN/ACK, 2 ACK, 3 data; UDP: frames sent */
	uint32_t cseq, sseq; /* the next sequence number each side sends */
	uint32_t seglen;     /* the data segment last sent */
	uint32_t gap;        /* microseconds between its frames */
	uint32_t hs, hs_ack; /* SYN -> SYN/ACK and SYN/ACK -> ACK, microseconds */
	uint16_t cport, sport;
	uint8_t tcp, v6;
	uint8_t up;      /* TCP: the client sends the data */
	uint8_t pending; /* TCP data: 0 a new segment next, 1 its ACK, 2 the segment again */
};

struct gen {
	struct mflow *f;
	uint32_t *heap, nheap;
	unsigned int rnd;
	struct mg_truth *t;
	struct pw *w;
	uint64_t t0;
};

static uint32_t rnd(struct gen *g, uint32_t n)
{
	return pw_rand(&g->rnd, n);
}

static int before(const struct gen *g, uint32_t a, uint32_t b)
{
	if (g->f[a].next != g->f[b].next)
		return g->f[a].next < g->f[b].next;
	return a < b;
}

static void heap_down(struct gen *g, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, m = i;
		if (l < g->nheap && before(g, g->heap[l], g->heap[m]))
			m = l;
		if (l + 1 < g->nheap && before(g, g->heap[l + 1], g->heap[m]))
			m = l + 1;
		if (m == i)
			return;
		uint32_t x = g->heap[i];
		g->heap[i] = g->heap[m];
		g->heap[m] = x;
		i = m;
	}
}

/* The endpoints of flow i: clients in 10/8 or 2001:db8:1::/64, a thousand servers. */
static void addrs(uint32_t i, int v6, char *c, char *s)
{
	if (v6) {
		sprintf(c, "2001:db8:1::%x:%x", i >> 16, i & 0xffff);
		sprintf(s, "2001:db8:2::%x", 1 + i % 1000);
	} else {
		sprintf(c, "10.%u.%u.%u", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
		sprintf(s, "172.16.%u.%u", (1 + i % 1000) >> 8, (1 + i % 1000) & 0xff);
	}
}

static void frame(struct gen *g, struct pb *b, uint32_t i, int c2s, uint64_t us)
{
	const struct mflow *f = &g->f[i];
	char c[48], s[48];
	addrs(i, f->v6, c, s);
	if (f->v6)
		pb_push_ip6(b, c2s ? c : s, c2s ? s : c);
	else
		pb_push_ip4(b, c2s ? c : s, c2s ? s : c, (uint16_t)f->step, 0x4000);
	pb_push_eth(b);
	uint64_t ns = g->t0 + us * 1000;
	pw_write(g->w, ns, pb_data(b), pb_len(b), pb_len(b));
	g->t->frames++;
	g->t->bytes += pb_len(b);
	if (!g->t->first_ns)
		g->t->first_ns = ns;
	g->t->last_ns = ns;
}

/* A TCP flow's next frame; the time of the one after. */
static uint64_t tcp_next(struct gen *g, uint32_t i)
{
	struct mflow *f = &g->f[i];
	struct pb b;
	pb_init(&b);
	int c2s;
	uint64_t after = f->gap;
	if (f->step == 0) { /* SYN */
		pb_push_tcp(&b, f->cport, f->sport, f->cseq++, 0, 0x02, 64240);
		c2s = 1;
		after = f->hs;
	} else if (f->step == 1) { /* SYN/ACK */
		pb_push_tcp(&b, f->sport, f->cport, f->sseq++, f->cseq, 0x12, 65160);
		c2s = 0;
		after = f->hs_ack;
	} else if (f->step == 2 || f->left > 3) { /* the handshake's ACK, or data */
		uint32_t *snd = f->up ? &f->cseq : &f->sseq, *rcv = f->up ? &f->sseq : &f->cseq;
		int from_client = f->up;
		if (f->step == 2) {
			pb_push_tcp(&b, f->cport, f->sport, f->cseq, f->sseq, 0x10, 502);
			c2s = 1;
		} else if (f->pending != 1) {
			if (f->pending == 0) { /* a new segment: IMIX's 576 or 1500-byte packet, 4 to 1 */
				f->seglen = (rnd(g, 5) ? 536u : 1460u) - (f->v6 ? 20u : 0u);
				*snd += f->seglen;
				/* one in a hundred is sent again after a timeout */
				f->pending = f->left > 5 && rnd(g, 100) == 0 ? 2 : 1;
				if (f->pending == 2)
					after = 3 * (uint64_t)(f->hs + f->hs_ack) + 200;
			} else { /* the same again */
				g->t->retrans[from_client ? 0 : 1]++;
				f->pending = 1;
			}
			pb_payload(&b, f->seglen);
			uint32_t seq = *snd - f->seglen;
			if (from_client)
				pb_push_tcp(&b, f->cport, f->sport, seq, *rcv, 0x18, 502);
			else
				pb_push_tcp(&b, f->sport, f->cport, seq, *rcv, 0x18, 509);
			c2s = from_client;
		} else { /* its ACK, a 40-byte packet */
			if (from_client)
				pb_push_tcp(&b, f->sport, f->cport, *rcv, *snd, 0x10, 509);
			else
				pb_push_tcp(&b, f->cport, f->sport, *rcv, *snd, 0x10, 502);
			c2s = !from_client;
			f->pending = 0;
		}
		f->step = 3;
	} else if (f->left == 3) { /* the client closes */
		pb_push_tcp(&b, f->cport, f->sport, f->cseq++, f->sseq, 0x11, 502);
		c2s = 1;
	} else if (f->left == 2) { /* so does the server */
		pb_push_tcp(&b, f->sport, f->cport, f->sseq++, f->cseq, 0x11, 509);
		c2s = 0;
	} else { /* the last ACK */
		pb_push_tcp(&b, f->cport, f->sport, f->cseq, f->sseq, 0x10, 502);
		c2s = 1;
	}
	if (f->step < 3)
		f->step++;
	frame(g, &b, i, c2s, f->next);
	return after;
}

/* A UDP flow's next frame: IMIX's 40, 576 and 1500-byte packets, 7 to 4 to 1. */
static uint64_t udp_next(struct gen *g, uint32_t i)
{
	struct mflow *f = &g->f[i];
	struct pb b;
	pb_init(&b);
	uint32_t k = rnd(g, 12), ip = k < 7 ? 40 : k < 11 ? 576 : 1500;
	uint32_t hdr = (f->v6 ? 40 : 20) + 8;
	pb_payload(&b, ip > hdr ? ip - hdr : 0);
	int c2s = f->step == 0 || rnd(g, 3) == 0; /* the client asks, the server sends more */
	if (c2s)
		pb_push_udp(&b, f->cport, f->sport);
	else
		pb_push_udp(&b, f->sport, f->cport);
	f->step++;
	frame(g, &b, i, c2s, f->next);
	return f->gap;
}

int mg_write(struct pw *w, uint64_t t0, uint64_t frames, uint32_t flows, struct mg_truth *t)
{
	if (flows < 1 || flows > 1000000 || frames < 6 * (uint64_t)flows)
		return -1;
	struct gen g = {calloc(flows, sizeof(struct mflow)), calloc(flows, sizeof(uint32_t)), 0, 14,
			t, w, t0};
	double *wt = malloc(flows * sizeof(double));
	if (!g.f || !g.heap || !wt) {
		free(g.f);
		free(g.heap);
		free(wt);
		return -1;
	}
	memset(t, 0, sizeof(*t));
	/* sizes: a minimum (TCP 6: handshake and close; UDP 2) and a Pareto share of the rest */
	double sum = 0;
	uint64_t mins = 0;
	for (uint32_t i = 0; i < flows; i++) {
		struct mflow *f = &g.f[i];
		f->tcp = rnd(&g, 5) < 3;
		f->v6 = rnd(&g, 10) == 0;
		double u = (rnd(&g, 1u << 24) + 1.0) / (double)(1u << 24);
		wt[i] = pow(u, -1.0 / 1.2) - 1.0;
		sum += wt[i];
		mins += f->tcp ? 6 : 2;
	}
	uint64_t given = 0;
	for (uint32_t i = 0; i < flows; i++) {
		struct mflow *f = &g.f[i];
		f->left = (f->tcp ? 6 : 2) + (uint32_t)(wt[i] / sum * (double)(frames - mins));
		given += f->left;
	}
	for (uint32_t i = 0; given < frames; i = (i + 1) % flows, given++)
		g.f[i].left++;
	free(wt);
	for (uint32_t i = 0; i < flows; i++) {
		struct mflow *f = &g.f[i];
		t->flows++;
		t->tcp_flows += f->tcp;
		t->udp_flows += !f->tcp;
		t->v6_flows += f->v6;
		if (f->left > t->largest)
			t->largest = f->left;
		f->next = rnd(&g, SPAN_US);
		/* 20 us to 2 ms apart, closer for a large flow: it ends within the span too */
		f->gap = 20 + rnd(&g, 1980);
		if ((uint64_t)f->gap * f->left > SPAN_US)
			f->gap = SPAN_US / f->left > 10 ? SPAN_US / f->left : 10;
		f->hs = 200 + rnd(&g, 40000);
		f->hs_ack = 20 + rnd(&g, 5000);
		f->cport = (uint16_t)(1024 + rnd(&g, 64000));
		static const uint16_t tcp_ports[] = {443, 443, 443, 443, 443, 443, 443, 80, 80, 8080};
		f->sport = f->tcp ? tcp_ports[rnd(&g, 10)] : (uint16_t)(10000 + rnd(&g, 20000));
		f->up = rnd(&g, 5) == 0;
		f->cseq = rnd(&g, 1u << 24) << 8 | rnd(&g, 256);
		f->sseq = rnd(&g, 1u << 24) << 8 | rnd(&g, 256);
		if (f->tcp) {
			t->hs_rtt_us += f->hs;
			t->hs_ack_rtt_us += f->hs_ack;
		}
		g.heap[g.nheap++] = i;
	}
	for (uint32_t i = g.nheap / 2; i-- > 0;)
		heap_down(&g, i);
	while (g.nheap) {
		uint32_t i = g.heap[0];
		struct mflow *f = &g.f[i];
		uint64_t after = f->tcp ? tcp_next(&g, i) : udp_next(&g, i);
		if (--f->left == 0)
			g.heap[0] = g.heap[--g.nheap];
		else
			f->next += after;
		heap_down(&g, 0);
	}
	free(g.f);
	free(g.heap);
	return 0;
}
