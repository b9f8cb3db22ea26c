/*
 * qp_tlsgen: see qp_tlsgen.h.
 */
#include "qp_tlsgen.h"

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

struct conn {
	struct tg_conn *c;
	uint32_t cseq, sseq;
};

static void seg(struct conn *k, int to_server, const uint8_t *p, uint32_t n, uint8_t flags, uint64_t ts)
{
	struct tg_conn *c = k->c;
	struct pb b;
	pb_init(&b);
	if (n)
		pb_push_raw(&b, p, n);
	if (to_server)
		pb_push_tcp(&b, c->cport, c->sport, k->cseq, k->sseq, flags, 64240);
	else
		pb_push_tcp(&b, c->sport, c->cport, k->sseq, k->cseq, flags, 65160);
	pb_push_ip4(&b, to_server ? c->client : c->server, to_server ? c->server : c->client, 1, 0x4000);
	pb_push_eth(&b);
	pwb_add(&batch, &b, ts);
	uint32_t adv = n + ((flags & 0x03) ? 1 : 0);
	if (to_server)
		k->cseq += adv;
	else
		k->sseq += adv;
}

/* a segment sent again: the same bytes at the same sequence number */
static void seg_again(struct conn *k, int to_server, const uint8_t *p, uint32_t n, uint64_t ts)
{
	if (to_server)
		k->cseq -= n;
	else
		k->sseq -= n;
	seg(k, to_server, p, n, 0x18, ts);
}

static void w16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void w24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}

/* A record header at p for n bytes of content type t. */
static uint32_t rec(uint8_t *p, uint8_t t, uint32_t n)
{
	p[0] = t;
	p[1] = 3;
	p[2] = t == 22 ? 1 : 3;
	w16(p + 3, n);
	return 5;
}

/* An extension: type, then n bytes of data d. */
static uint32_t ext(uint8_t *p, uint32_t type, const uint8_t *d, uint32_t n)
{
	w16(p, type);
	w16(p + 2, n);
	if (d)
		memcpy(p + 4, d, n);
	else
		memset(p + 4, 0x33, n);
	return 4 + n;
}

/*
 * A ClientHello record at p: versions offered (tls13: supported_versions),
 * the server name, a key share of ks bytes. @return its length.
 */
static uint32_t client_hello(uint8_t *p, int tls13, const char *sni, uint32_t ks)
{
	uint8_t *h = p + 5; /* the handshake message */
	uint32_t at = 4;
	w16(h + at, 0x0303); /* legacy version */
	at += 2;
	memset(h + at, 0x11, 32); /* random */
	at += 32;
	h[at++] = 32;
	memset(h + at, 0x22, 32); /* session id */
	at += 32;
	static const uint8_t cs[] = {0x0a, 0x0a, 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f};
	w16(h + at, sizeof(cs));
	memcpy(h + at + 2, cs, sizeof(cs));
	at += 2 + sizeof(cs);
	h[at++] = 1;
	h[at++] = 0; /* null compression */
	uint32_t ext_at = at;
	at += 2;
	uint8_t sn[80];
	size_t nl = strlen(sni);
	w16(sn, nl + 3);
	sn[2] = 0;
	w16(sn + 3, nl);
	memcpy(sn + 5, sni, nl);
	at += ext(h + at, 0x1a1a, NULL, 0); /* GREASE */
	if (tls13) {
		at += ext(h + at, 0x0033, NULL, ks); /* key share */
		static const uint8_t sv[] = {6, 0x7a, 0x7a, 0x03, 0x04, 0x03, 0x03};
		at += ext(h + at, 0x002b, sv, sizeof(sv));
	}
	at += ext(h + at, 0x0000, sn, (uint32_t)nl + 5); /* after the key share: cut off with it */
	w16(h + ext_at, at - ext_at - 2);
	h[0] = 1;
	w24(h + 1, at - 4);
	rec(p, 22, at);
	return 5 + at;
}

/* A ServerHello record (tls13: with supported_versions 1.3, a key share of ks bytes). */
static uint32_t server_hello(uint8_t *p, int tls13, uint32_t ks)
{
	uint8_t *h = p + 5;
	uint32_t at = 4;
	w16(h + at, 0x0303);
	at += 2;
	memset(h + at, 0x44, 32);
	at += 32;
	h[at++] = 32;
	memset(h + at, 0x22, 32);
	at += 32;
	w16(h + at, tls13 ? 0x1301 : 0xc02f);
	at += 2;
	h[at++] = 0;
	uint32_t ext_at = at;
	at += 2;
	if (tls13) {
		static const uint8_t sv[] = {0x03, 0x04};
		at += ext(h + at, 0x002b, sv, 2);
		at += ext(h + at, 0x0033, NULL, ks);
	} else {
		at += ext(h + at, 0xff01, (const uint8_t *)"\0", 1); /* renegotiation info */
	}
	w16(h + ext_at, at - ext_at - 2);
	h[0] = 2;
	w24(h + 1, at - 4);
	rec(p, 22, at);
	return 5 + at;
}

/* A record of type t with n bytes of filler (encrypted, to the probe). */
static uint32_t opaque(uint8_t *p, uint8_t t, uint32_t n)
{
	rec(p, t, n);
	memset(p + 5, 0x77, n);
	return 5 + n;
}

static void open_tcp(struct conn *k, uint64_t t, uint64_t rtt)
{
	k->cseq = 1000 + rnd(1000000);
	k->sseq = 7000 + rnd(1000000);
	seg(k, 1, NULL, 0, 0x02, t);
	seg(k, 0, NULL, 0, 0x12, t + rtt);
	seg(k, 1, NULL, 0, 0x10, t + rtt + 100 * US);
}

static void close_tcp(struct conn *k, uint64_t t)
{
	seg(k, 1, NULL, 0, 0x11, t);
	seg(k, 0, NULL, 0, 0x11, t + 1 * MS);
	seg(k, 1, NULL, 0, 0x10, t + 2 * MS);
}

enum { T13, T12, T13_CUT, CH_AGAIN, ALERT, TINY, HUGE };

static void conn(struct tg_conn *c, uint64_t t, int kind)
{
	static uint8_t m[8192];
	struct conn k = {.c = c};
	uint64_t rtt = (uint64_t)(5000 + rnd(30000)) * US, think = (uint64_t)(100 + rnd(2000)) * US;
	c->hello_ns = c->data_ns = -1;
	c->tls = kind != TINY && kind != HUGE;
	c->cut = kind == T13_CUT;
	open_tcp(&k, t, rtt);
	t += rtt + 200 * US;
	if (kind == TINY || kind == HUGE) {
		/* a handshake record with a ClientHello of 1 byte, or of 16 MiB */
		uint32_t n = rec(m, 22, 300);
		m[n] = 1;
		w24(m + n + 1, kind == TINY ? 1 : 16u << 20);
		memset(m + n + 4, 0x55, 296);
		seg(&k, 1, m, 305, 0x18, t);
		seg(&k, 0, m, 50, 0x18, t + rtt);
		close_tcp(&k, t + 2 * rtt);
		return;
	}
	int tls13 = kind != T12;
	snprintf(c->sni, sizeof(c->sni), "svc%u.example.net", rnd(100));
	c->client_version = tls13 ? 0x0304 : 0x0303;
	uint32_t n = client_hello(m, tls13, c->sni, kind == T13_CUT ? 1400 : 36);
	uint64_t ch;
	if (kind == T13_CUT) {
		/* cut at 1400 bytes: the server name, after the key share, is in
		 * the second segment */
		seg(&k, 1, m, 1400, 0x10, t);
		seg(&k, 1, m + 1400, n - 1400, 0x18, t + 30 * US);
		ch = t + 30 * US;
		/* the server name and supported_versions come after the key
		 * share, in the second segment: the probe reads the first */
		c->sni[0] = 0;
		c->client_version = 0x0303;
	} else {
		seg(&k, 1, m, n, 0x18, t);
		ch = t;
		if (kind == CH_AGAIN) {
			seg_again(&k, 1, m, n, t + 3 * rtt); /* after the ServerHello */
		}
	}
	uint64_t s = ch + rtt + think; /* the server's first flight */
	if (kind == ALERT) {
		uint8_t a[7] = {21, 3, 3, 0, 2, 2, 40}; /* handshake failure */
		seg(&k, 0, a, 7, 0x18, s);
		c->malformed = 1;
		c->version = 0;
		close_tcp(&k, s + 1 * MS);
		return;
	}
	uint64_t sh;
	if (tls13) {
		n = server_hello(m, 1, kind == T13_CUT ? 1120 : 32);
		n += opaque(m + n, 20, 1);   /* change cipher spec */
		n += opaque(m + n, 23, 900); /* encrypted extensions, certificate... */
		if (kind == T13_CUT) {
			seg(&k, 0, m, 1000, 0x10, s);
			seg(&k, 0, m + 1000, n - 1000, 0x18, s + 40 * US);
			sh = s + 40 * US;
		} else {
			seg(&k, 0, m, n, 0x18, s);
			sh = s;
		}
		c->version = 0x0304;
		/* the client's Change Cipher Spec and Finished (23 on the wire) */
		uint64_t f = sh + rtt + 300 * US;
		n = opaque(m, 20, 1);
		n += opaque(m + n, 23, 53);
		seg(&k, 1, m, n, 0x18, f);
		c->data_ns = (int64_t)(f - sh);
		n = opaque(m, 23, 400); /* the request */
		seg(&k, 1, m, n, 0x18, f + 100 * US);
		n = opaque(m, 23, 1200);
		seg(&k, 0, m, n, 0x18, f + rtt);
		close_tcp(&k, f + rtt + 5 * MS);
	} else {
		/* ServerHello, Certificate, ServerHelloDone over three segments */
		n = server_hello(m, 0, 0);
		uint32_t shl = n;
		uint8_t *cert = m + n;
		uint32_t cl = 3000;
		rec(cert, 22, cl);
		cert[5] = 11;
		w24(cert + 6, cl - 4);
		memset(cert + 9, 0x66, cl - 4);
		n += 5 + cl;
		static const uint8_t done[] = {22, 3, 3, 0, 4, 14, 0, 0, 0};
		memcpy(m + n, done, sizeof(done));
		n += sizeof(done);
		seg(&k, 0, m, 1400, 0x10, s);
		seg(&k, 0, m + 1400, 1400, 0x10, s + 20 * US);
		seg(&k, 0, m + 2800, n - 2800, 0x18, s + 40 * US);
		sh = s; /* the ServerHello is whole in the first segment */
		(void)shl;
		c->version = 0x0303;
		/* key exchange, change cipher spec, Finished (22, encrypted) */
		uint64_t f = sh + 40 * US + rtt + 500 * US;
		n = opaque(m, 22, 37);
		n += opaque(m + n, 20, 1);
		n += opaque(m + n, 22, 40);
		seg(&k, 1, m, n, 0x18, f);
		/* the server's change cipher spec and Finished */
		n = opaque(m, 20, 1);
		n += opaque(m + n, 22, 40);
		seg(&k, 0, m, n, 0x18, f + rtt);
		/* the client's request: its first application data */
		uint64_t d = f + rtt + 200 * US;
		n = opaque(m, 23, 300);
		seg(&k, 1, m, n, 0x18, d);
		c->data_ns = (int64_t)(d - sh);
		close_tcp(&k, d + rtt);
	}
	c->hello_ns = (int64_t)(sh - ch);
}

void tg_write(struct pw *w, uint64_t t0, unsigned int seed, struct tg_truth *t)
{
	rng = seed;
	memset(t, 0, sizeof(*t));
	static const int plan[] = {T13, T12, T13_CUT, CH_AGAIN, ALERT, TINY, HUGE, T13};
	for (int i = 0; i < (int)(sizeof(plan) / sizeof(plan[0])); i++) {
		struct tg_conn *c = &t->c[t->n++];
		snprintf(c->client, sizeof(c->client), "10.6.0.%d", 10 + i);
		snprintf(c->server, sizeof(c->server), "10.7.0.%d", 1 + i % 3);
		c->cport = (uint16_t)(41000 + i);
		c->sport = i == 1 ? 8443 : 443;
		conn(c, t0 + (uint64_t)i * 50 * MS, plan[i]);
	}
	t->frames = pwb_flush(&batch, w);
}
