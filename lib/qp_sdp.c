/*
 * qp_sdp: see qp_sdp.h. The parser walks the captured bytes once, line by
 * line, never past len; the table is set-associative (4 entries a set), each
 * entry under a sequence count its writer bumps around an update.
 */
#include "qp_sdp.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 4
#define READ_TRIES 8

/* ---- parsing ---- */

/* The line at p (up to len): its length without the line end; *next after it. */
static uint32_t line(const uint8_t *p, uint32_t len, uint32_t *next)
{
	uint32_t i = 0;
	while (i < len && p[i] != '\n')
		i++;
	*next = i < len ? i + 1 : len;
	return i > 0 && p[i - 1] == '\r' ? i - 1 : i;
}

static int starts(const uint8_t *p, uint32_t len, const char *s)
{
	size_t n = strlen(s);
	return len >= n && memcmp(p, s, n) == 0;
}

/* A decimal number of at most 9 digits at p; the digits taken in *used (0: none). */
static uint32_t number(const uint8_t *p, uint32_t len, uint32_t *used)
{
	uint32_t v = 0, i = 0;
	while (i < len && i < 9 && p[i] >= '0' && p[i] <= '9')
		v = v * 10 + (uint32_t)(p[i++] - '0');
	*used = i < len && p[i] >= '0' && p[i] <= '9' ? 0 : i; /* too long: none */
	return v;
}

/* "IN IP4 addr" or "IN IP6 addr" (a "/ttl" or "/n" suffix dropped). */
static int connection(const uint8_t *p, uint32_t len, uint8_t *ipver, uint8_t addr[16])
{
	int v;
	if (starts(p, len, "IN IP4 "))
		v = 4;
	else if (starts(p, len, "IN IP6 "))
		v = 6;
	else
		return 0;
	p += 7;
	len -= 7;
	char a[64];
	uint32_t n = 0;
	while (n < len && n < sizeof(a) - 1 && p[n] != '/' && p[n] != ' ')
		n++;
	if (n == 0 || n == sizeof(a) - 1)
		return 0;
	memcpy(a, p, n);
	a[n] = 0;
	uint8_t b[16] = {0};
	if (inet_pton(v == 4 ? AF_INET : AF_INET6, a, b) != 1)
		return 0;
	*ipver = (uint8_t)v;
	memcpy(addr, b, 16);
	return 1;
}

/* "96 opus/48000/2": a payload type and its clock rate. */
static int rtpmap(const uint8_t *p, uint32_t len, uint8_t *pt, uint32_t *clock)
{
	uint32_t u;
	uint32_t v = number(p, len, &u);
	if (!u || v > 127 || u >= len || p[u] != ' ')
		return 0;
	uint32_t i = u + 1;
	while (i < len && p[i] != '/')
		i++;
	if (i + 1 >= len)
		return 0;
	uint32_t c = number(p + i + 1, len - i - 1, &u);
	if (!u || c < 1000 || c > 1000000)
		return 0;
	*pt = (uint8_t)v;
	*clock = c;
	return 1;
}

static void map_add(struct qp_sdp_map *m, uint8_t pt, uint32_t clock)
{
	for (unsigned int i = 0; i < m->n; i++)
		if (m->pt[i] == pt) {
			m->clock_hz[i] = clock;
			return;
		}
	if (m->n < QP_SDP_PTS) {
		m->pt[m->n] = pt;
		m->clock_hz[m->n++] = clock;
	}
}

int qp_sdp_parse(const uint8_t *p, uint32_t len, struct qp_sdp_media out[QP_SDP_MEDIA])
{
	/* a SIP request or response: the body after the blank line */
	if (!(starts(p, len, "SIP/2.0 ") || starts(p, len, "INVITE ") || starts(p, len, "ACK ") ||
	      starts(p, len, "UPDATE ") || starts(p, len, "PRACK ")))
		return 0;
	uint32_t at = 0, next;
	for (;;) {
		if (at >= len)
			return 0;
		uint32_t l = line(p + at, len - at, &next);
		at += next;
		if (l == 0)
			break; /* the end of the headers */
	}
	const uint8_t *b = p + at;
	uint32_t blen = len - at;
	if (!starts(b, blen, "v=0"))
		return 0;
	uint8_t sess_ver = 0, sess_addr[16] = {0};
	int n = 0, cur = -1, have_c[QP_SDP_MEDIA] = {0};
	for (uint32_t o = 0; o < blen; o += next) {
		uint32_t l = line(b + o, blen - o, &next);
		const uint8_t *s = b + o;
		if (l < 2 || s[1] != '=')
			continue;
		const uint8_t *v = s + 2;
		uint32_t vl = l - 2;
		if (s[0] == 'c') {
			uint8_t ver, addr[16];
			if (!connection(v, vl, &ver, addr))
				continue;
			if (cur < 0) {
				sess_ver = ver;
				memcpy(sess_addr, addr, 16);
			} else {
				out[cur].ipver = ver;
				memcpy(out[cur].addr, addr, 16);
				have_c[cur] = 1;
			}
		} else if (s[0] == 'm') {
			cur = -1;
			if (n == QP_SDP_MEDIA)
				continue; /* more media than kept: their lines are skipped */
			uint32_t i = 0;
			while (i < vl && v[i] != ' ')
				i++; /* the media type */
			uint32_t u;
			uint32_t port = i < vl ? number(v + i + 1, vl - i - 1, &u) : 0;
			if (i >= vl || !u || port == 0 || port > 65535)
				continue; /* a disabled medium (port 0) or a bad line */
			cur = n++;
			memset(&out[cur], 0, sizeof(out[cur]));
			out[cur].port = (uint16_t)port;
		} else if (s[0] == 'a' && cur >= 0 && starts(v, vl, "rtpmap:")) {
			uint8_t pt;
			uint32_t clock;
			if (rtpmap(v + 7, vl - 7, &pt, &clock))
				map_add(&out[cur].map, pt, clock);
		}
	}
	/* each medium's address: its own c= line, else the session's */
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (!have_c[i]) {
			if (!sess_ver)
				continue;
			out[i].ipver = sess_ver;
			memcpy(out[i].addr, sess_addr, 16);
		}
		if (k != i)
			out[k] = out[i];
		k++;
	}
	return k;
}

/* ---- the table ---- */

struct entry {
	uint32_t seq; /* odd while its writer changes it */
	uint8_t used;
	uint8_t ipver;
	uint16_t port;
	uint8_t addr[16];
	uint64_t ts; /* when it was last announced */
	struct qp_sdp_map map;
};

struct qp_sdp_table {
	uint32_t mask; /* of sets */
	int lock;
	uint64_t announced;
	struct entry *e;
};

struct qp_sdp_table *qp_sdp_table_create(uint32_t n)
{
	uint32_t sets = 16;
	while (sets * WAYS < n && sets < (1u << 20))
		sets <<= 1;
	struct qp_sdp_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->e = calloc((size_t)sets * WAYS, sizeof(*t->e));
	if (!t->e) {
		free(t);
		return NULL;
	}
	t->mask = sets - 1;
	return t;
}

void qp_sdp_table_destroy(struct qp_sdp_table *t)
{
	if (t)
		free(t->e);
	free(t);
}

static uint32_t set_of(const struct qp_sdp_table *t, uint8_t ipver, const uint8_t addr[16],
		       uint16_t port)
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	h = (h ^ ipver) * 16777619u;
	h = (h ^ (port & 0xff)) * 16777619u;
	h = (h ^ (port >> 8)) * 16777619u;
	return h & t->mask;
}

void qp_sdp_table_put(struct qp_sdp_table *t, const struct qp_sdp_media *m, uint64_t ts)
{
	struct entry *s = &t->e[(size_t)set_of(t, m->ipver, m->addr, m->port) * WAYS];
	while (__atomic_exchange_n(&t->lock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&t->lock, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
	struct entry *x = NULL;
	for (int i = 0; i < WAYS && !x; i++)
		if (s[i].used && s[i].ipver == m->ipver && s[i].port == m->port &&
		    memcmp(s[i].addr, m->addr, 16) == 0)
			x = &s[i];
	for (int i = 0; i < WAYS && !x; i++)
		if (!s[i].used)
			x = &s[i];
	if (!x) { /* the set is full: the one announced longest ago gives way */
		x = &s[0];
		for (int i = 1; i < WAYS; i++)
			if (s[i].ts < x->ts)
				x = &s[i];
	}
	__atomic_store_n(&x->seq, x->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	x->used = 1;
	x->ipver = m->ipver;
	x->port = m->port;
	memcpy(x->addr, m->addr, 16);
	x->ts = ts;
	x->map = m->map;
	__atomic_store_n(&x->seq, x->seq + 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(&t->announced, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&t->lock, 0, __ATOMIC_RELEASE);
}

int qp_sdp_table_get(const struct qp_sdp_table *t, uint8_t ipver, const uint8_t addr[16],
		     uint16_t port, uint64_t ts, struct qp_sdp_map *map)
{
	const struct entry *s = &t->e[(size_t)set_of(t, ipver, addr, port) * WAYS];
	for (int i = 0; i < WAYS; i++) {
		for (int tries = 0; tries < READ_TRIES; tries++) {
			uint32_t q = __atomic_load_n(&s[i].seq, __ATOMIC_ACQUIRE);
			if (q & 1)
				continue;
			struct entry c;
			memcpy(&c, &s[i], sizeof(c));
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(&s[i].seq, __ATOMIC_RELAXED) != q)
				continue;
			if (c.used && c.ipver == ipver && c.port == port &&
			    memcmp(c.addr, addr, 16) == 0 &&
			    !(ts > c.ts && ts - c.ts > QP_SDP_EXPIRE_NS)) {
				*map = c.map;
				return 1;
			}
			break;
		}
	}
	return 0;
}

uint64_t qp_sdp_table_announced(const struct qp_sdp_table *t)
{
	return __atomic_load_n(&t->announced, __ATOMIC_RELAXED);
}
