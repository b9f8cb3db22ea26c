/*
 * qp_dns_dp: see qp_dns_dp.h.
 */
#include "qp_dns_dp.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADD(d, ev, f) ((d)->c.f++, (ev)->c.f++)

/*
 * A label's bytes into the hash, 8 at a time, case folded by setting bit 5
 * of every byte (letters lose their case; the few other bytes it pairs up
 * only make a hash collision, which the ID and direction also guard).
 */
static inline uint32_t fold(uint32_t h, const uint8_t *p, uint32_t n)
{
	uint64_t x = h;
	for (; n >= 8; n -= 8, p += 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		x = (x ^ (w | 0x2020202020202020ULL)) * 0x9E3779B97F4A7C15ULL;
		x ^= x >> 29;
	}
	if (n) {
		uint64_t w = 0; /* the tail byte by byte: memcpy of n bytes is a call */
		for (uint32_t i = 0; i < n; i++)
			w |= (uint64_t)p[i] << (8 * i);
		x = (x ^ (w | (0x2020202020202020ULL >> (8 * (8 - n))))) * 0x9E3779B97F4A7C15ULL;
		x ^= x >> 29;
	}
	return (uint32_t)(x ^ x >> 32);
}

/*
 * The first question's hash: the name's labels without case (compression
 * pointers followed, at most 16, the name at most 255 bytes), its type and
 * class. @return 0 and the hash, or -1 when it is not all in the message.
 */
static int question_hash(const uint8_t *m, uint32_t cap, uint32_t *out)
{
	uint32_t h = 2166136261u, at = 12, namelen = 0, end = 0;
	unsigned int jumps = 0;
	for (;;) {
		if (at >= cap)
			return -1;
		uint8_t l = m[at];
		if ((l & 0xC0) == 0xC0) {
			if (at + 1 >= cap || ++jumps > 16)
				return -1;
			if (!end)
				end = at + 2;
			at = (uint32_t)(l & 0x3F) << 8 | m[at + 1];
			continue;
		}
		if (l & 0xC0)
			return -1; /* the extended label types are obsolete (RFC 6891) */
		namelen += l + 1u;
		if (namelen > 255 || at + 1 + l > cap)
			return -1;
		h = (h ^ l) * 16777619u;
		if (l == 0)
			break;
		h = fold(h, m + at + 1, l);
		at += 1u + l;
	}
	if (!end)
		end = at + 1;
	if (end + 4 > cap)
		return -1;
	for (uint32_t i = end; i < end + 4; i++)
		h = (h ^ m[i]) * 16777619u;
	*out = h;
	return 0;
}

void qp_dns_message(struct qp_dns *d, const uint8_t *m, uint32_t cap, unsigned int dir,
		    uint64_t ts, struct qp_dns_event *ev)
{
	uint32_t qh = 0;
	if (cap < 12 || ((m[4] | m[5]) && question_hash(m, cap, &qh))) {
		ADD(d, ev, malformed);
		return;
	}
	uint16_t id = (uint16_t)(m[0] << 8 | m[1]);
	if (!(m[2] & 0x80)) { /* a query */
		ADD(d, ev, queries);
		int free_i = -1;
		for (int i = 0; i < QP_DNS_OUT; i++) {
			const struct qp_dns_q *q = &d->out[i];
			if (!q->used) {
				if (free_i < 0)
					free_i = i;
			} else if (q->id == id && q->dir == dir && q->qhash == qh) {
				ADD(d, ev, retransmitted);
				return;
			}
		}
		if (free_i < 0) {
			ADD(d, ev, untracked);
			return;
		}
		struct qp_dns_q *q = &d->out[free_i];
		q->ns = ts;
		q->qhash = qh;
		q->id = id;
		q->dir = (uint8_t)dir;
		q->used = 1;
		d->nused++;
		return;
	}
	ADD(d, ev, responses);
	unsigned int rc = m[3] & 0x0F;
	d->c.rcodes[rc]++;
	if (ev->nrc < QP_DNS_SEG_MSGS)
		ev->rc[ev->nrc++] = (uint8_t)rc;
	if (m[2] & 0x02)
		ADD(d, ev, truncated);
	for (int i = 0; i < QP_DNS_OUT; i++) {
		struct qp_dns_q *q = &d->out[i];
		if (q->used && q->id == id && q->dir != dir && q->qhash == qh) {
			q->used = 0;
			d->nused--;
			uint64_t rt = ts > q->ns ? ts - q->ns : 0;
			ADD(d, ev, answered);
			qp_stat_add(&d->rt, rt);
			if (d->rt.n <= QP_DNS_KEEP)
				d->keep[d->rt.n - 1] = qp_ns32_enc(rt);
			if (ev->nrt < QP_DNS_SEG_MSGS)
				ev->rt[ev->nrt++] = rt;
			return;
		}
	}
	ADD(d, ev, unmatched);
}

static void lose(struct qp_dns *d, struct qp_dns_stream *s, struct qp_dns_event *ev)
{
	s->st |= QP_DNS_TCP_LOST;
	ADD(d, ev, tcp_lost);
}

/* A message's start, read: parsed, unless the segment had its fill. */
static void read_start(struct qp_dns *d, const uint8_t *m, uint32_t cap, unsigned int dir,
		       uint64_t ts, unsigned int *msgs, struct qp_dns_event *ev)
{
	if ((*msgs)++ < QP_DNS_SEG_MSGS)
		qp_dns_message(d, m, cap, dir, ts, ev);
	else
		ADD(d, ev, skipped);
}

void qp_dns_tcp(struct qp_dns *d, struct qp_dns_stream ss[2], const uint8_t *pay, uint32_t cap,
		uint32_t len, uint32_t seq, int syn, unsigned int dir, uint64_t ts,
		struct qp_dns_event *ev)
{
	struct qp_dns_stream *s = &ss[dir];
	if (syn) {
		memset(s, 0, offsetof(struct qp_dns_stream, part));
		s->st = QP_DNS_TCP_SYNC;
		s->nxt = seq + 1;
		return;
	}
	if (len == 0 || (s->st & QP_DNS_TCP_LOST))
		return;
	if (cap > len)
		cap = len;
	if (!(s->st & QP_DNS_TCP_SYNC)) {
		/* the connection began before the capture: a message starts
		 * where a segment does, most likely */
		s->st = QP_DNS_TCP_SYNC;
		s->nxt = seq;
	}
	int32_t diff = (int32_t)(seq - s->nxt);
	if (diff > 0) {
		lose(d, s, ev); /* bytes the probe never saw */
		return;
	}
	if (diff < 0) { /* sent again: only what goes beyond nxt is new */
		uint32_t old = (uint32_t)-diff;
		if (old >= len)
			return;
		pay += old < cap ? old : cap;
		cap = old < cap ? cap - old : 0;
		len -= old;
		seq = s->nxt;
	}
	s->nxt = seq + len;
	unsigned int msgs = 0;
	uint32_t pos = 0;
	while (pos < len) {
		if (s->skip && (s->st & QP_DNS_TCP_PART)) {
			/* more of a start cut by the segment before */
			uint32_t inseg = len - pos, need = (uint32_t)(s->part_want - s->part_len);
			if (inseg > need)
				inseg = need;
			uint32_t have = pos < cap ? cap - pos : 0;
			if (have > inseg)
				have = inseg;
			memcpy(s->part + s->part_len, pay + pos, have);
			s->part_len = (uint8_t)(s->part_len + have);
			s->skip -= inseg;
			pos += inseg;
			if (have < inseg || s->part_len == s->part_want) {
				/* whole, or cut by the capture (then taken as it is) */
				s->st &= (uint8_t)~QP_DNS_TCP_PART;
				read_start(d, s->part, s->part_len, dir, s->part_ns, &msgs, ev);
			}
			continue;
		}
		if (s->skip) {
			if (!(s->st & QP_DNS_TCP_READ)) {
				s->st |= QP_DNS_TCP_READ;
				uint32_t want = s->skip < QP_DNS_PART ? s->skip : QP_DNS_PART;
				if (len - pos < want) {
					/* the segment ends first: gather the start */
					s->st |= QP_DNS_TCP_PART;
					s->part_len = 0;
					s->part_want = (uint8_t)want;
					s->part_ns = ts;
					continue;
				}
				uint32_t have = pos < cap ? cap - pos : 0;
				read_start(d, pay + pos, have < s->skip ? have : s->skip, dir, ts, &msgs, ev);
			}
			uint32_t take = len - pos < s->skip ? len - pos : s->skip;
			s->skip -= take;
			pos += take;
			continue;
		}
		uint32_t b0;
		if (s->st & QP_DNS_TCP_LEN1) {
			b0 = s->len_hi;
		} else {
			if (pos >= cap) {
				lose(d, s, ev); /* the capture cut the length */
				return;
			}
			b0 = pay[pos++];
			if (pos == len) {
				s->len_hi = (uint8_t)b0;
				s->st |= QP_DNS_TCP_LEN1;
				return;
			}
		}
		if (pos >= cap) {
			lose(d, s, ev);
			return;
		}
		s->skip = b0 << 8 | pay[pos++];
		s->st &= (uint8_t)~(QP_DNS_TCP_LEN1 | QP_DNS_TCP_READ);
		if (s->skip == 0)
			ADD(d, ev, malformed); /* a message of no bytes */
	}
}

void qp_dns_expire(struct qp_dns *d, uint64_t now, struct qp_dns_event *ev)
{
	for (int i = 0; i < QP_DNS_OUT && d->nused; i++) {
		struct qp_dns_q *q = &d->out[i];
		if (q->used && now > q->ns && now - q->ns >= QP_DNS_TIMEOUT_NS) {
			q->used = 0;
			d->nused--;
			ADD(d, ev, unanswered);
		}
	}
}

void qp_dns_swap(struct qp_dns *d, struct qp_dns_stream s[2])
{
	struct qp_dns_stream t = s[0];
	s[0] = s[1];
	s[1] = t;
	for (int i = 0; i < QP_DNS_OUT; i++)
		d->out[i].dir ^= 1;
}

void qp_dns_restart(struct qp_dns *d)
{
	memset(&d->c, 0, sizeof(d->c));
	memset(&d->rt, 0, sizeof(d->rt));
}

int qp_dns_kept_quantile(const struct qp_dns *d, double q, uint64_t *ns)
{
	uint32_t n = d->rt.n;
	if (n == 0 || n > QP_DNS_KEEP)
		return -1;
	uint64_t v[QP_DNS_KEEP];
	for (uint32_t i = 0; i < n; i++) {
		uint64_t x = qp_ns32_dec(d->keep[i]);
		uint32_t j = i;
		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
	uint32_t rank = (uint32_t)(q * n + 0.999999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	*ns = v[rank - 1];
	return 0;
}

uint32_t qp_dns_pending(const struct qp_dns *d)
{
	return d->nused;
}

const char *qp_dns_rcode_name(unsigned int rcode, char *buf, unsigned int len)
{
	static const char *const names[] = {"NOERROR", "FORMERR",  "SERVFAIL", "NXDOMAIN",
					    "NOTIMP",  "REFUSED",  "YXDOMAIN", "YXRRSET",
					    "NXRRSET", "NOTAUTH",  "NOTZONE",  "DSOTYPENI"};
	if (rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	snprintf(buf, len, "RCODE%u", rcode & 0xF);
	return buf;
}

int qp_dns_ports_parse(const char *s, uint16_t out[QP_DNS_PORTS], char *why, size_t whylen)
{
	uint16_t p[QP_DNS_PORTS] = {0};
	unsigned int n = 0;
	const char *at = s;
	for (;;) {
		char *end;
		unsigned long v = strtoul(at, &end, 10);
		if (end == at || *at == '-' || *at == '+' || v < 1 || v > 65535 ||
		    (*end && *end != ',')) {
			snprintf(why, whylen, "'%s' is not a port list; expected " QP_DNS_PORTS_SYNTAX, s);
			return -1;
		}
		if (n == QP_DNS_PORTS) {
			snprintf(why, whylen, "'%s' names more than %d ports; expected " QP_DNS_PORTS_SYNTAX,
				 s, QP_DNS_PORTS);
			return -1;
		}
		p[n++] = (uint16_t)v;
		if (!*end)
			break;
		at = end + 1;
	}
	memcpy(out, p, sizeof(p));
	return 0;
}
