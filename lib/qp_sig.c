/* qp_sig: see qp_sig.h. */
#include "qp_sig.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void qp_sig_cfg_default(struct qp_sig_cfg *c)
{
	c->payload_bytes = QP_SIG_PAYLOAD_DEFAULT;
	c->nat = 0;
	c->threshold = UINT64_MAX;
}

int qp_sig_parse_rate(struct qp_sig_cfg *c, const char *s, char *errbuf, unsigned int errlen)
{
	char *end;
	if (strncmp(s, "1/", 2) == 0) {
		errno = 0;
		unsigned long long n = strtoull(s + 2, &end, 10);
		if (s[2] >= '0' && s[2] <= '9' && *end == '\0' && errno == 0 && n >= 1 &&
		    n <= (1ULL << 32)) {
			c->threshold = n == 1 ? UINT64_MAX : UINT64_MAX / n;
			return 0;
		}
	} else {
		errno = 0;
		double p = strtod(s, &end);
		if (end != s && *end == '\0' && errno == 0 && p > 0 && p <= 1) {
			c->threshold = p >= 1 ? UINT64_MAX : (uint64_t)ldexp(p, 64);
			return 0;
		}
	}
	snprintf(errbuf, errlen,
		 "sampling rate '%s' not understood: give 1 (every packet), 1/N with N from 1 to "
		 "4294967296, or a fraction above 0 and at most 1",
		 s);
	return -EINVAL;
}

double qp_sig_rate(const struct qp_sig_cfg *c)
{
	return c->threshold == UINT64_MAX ? 1.0 : ldexp((double)c->threshold, -64);
}

/* The invariant bytes are gathered into a small buffer, then hashed. */
struct sbuf {
	uint8_t b[160];
	uint32_t n;
};

static void put(struct sbuf *s, const uint8_t *p, uint32_t n)
{
	memcpy(s->b + s->n, p, n);
	s->n += n;
}

static uint64_t rd64le(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t hash_buf(const uint8_t *p, uint32_t n)
{
	uint64_t h = 0x6a09e667f3bcc909ULL ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL);
	uint8_t tail[8];
	for (uint32_t i = 0; i < n; i += 8) {
		uint64_t w;
		if (n - i >= 8) {
			w = rd64le(p + i);
		} else {
			memset(tail, 0, sizeof(tail));
			memcpy(tail, p + i, n - i);
			w = rd64le(tail);
		}
		w *= 0x87c37b91114253d5ULL;
		w = (w << 31) | (w >> 33);
		w *= 0x4cf5ad432745937fULL;
		h ^= w;
		h = (h << 27) | (h >> 37);
		h = h * 5 + 0x52dce729;
	}
	return qp_mix64(h);
}

int qp_sig_of(const struct qp_sig_cfg *c, const struct qp_pkt *p, uint64_t *sig)
{
	const uint8_t *ip = p->ip_hdr;
	if (!ip || p->ip_cap < 20 || p->l4_off > p->ip_cap)
		return -1;
	struct sbuf s;
	s.n = 0;
	int v4 = (ip[0] >> 4) == 4;
	if (v4) {
		put(&s, ip + 2, 6); /* total length, id, flags and fragment offset */
		put(&s, ip + 9, 1); /* protocol */
		if (!c->nat)
			put(&s, ip + 12, 8);
	} else {
		if (p->ip_cap < 40)
			return -1;
		put(&s, ip + 4, 3); /* payload length, next header */
		if (!c->nat)
			put(&s, ip + 8, 32);
	}
	const uint8_t *l4 = ip + p->l4_off;
	uint32_t cap = p->ip_cap - p->l4_off; /* captured bytes past the IP header(s) */
	uint32_t hdr = 0;
	if (p->frag != QP_FRAG_LATER) {
		switch (p->l4_proto) {
		case 6:
			if (cap < 20)
				return -1;
			hdr = (uint32_t)(l4[12] >> 4) * 4;
			if (!c->nat)
				put(&s, l4, 4);
			put(&s, l4 + 4, 12); /* seq, ack, offset, flags, window */
			put(&s, l4 + 18, 2); /* urgent pointer */
			break;
		case 17:
			if (cap < 8)
				return -1;
			hdr = 8;
			put(&s, l4 + (c->nat ? 4 : 0), c->nat ? 2 : 6); /* ports, length */
			break;
		case 1:
		case 58:
			if (cap < 8)
				return -1;
			hdr = 8;
			put(&s, l4, 2); /* type, code */
			put(&s, l4 + (c->nat ? 6 : 4), c->nat ? 2 : 4); /* id, sequence */
			break;
		default:
			break;
		}
	}
	uint8_t v[4];
	if (hdr > cap)
		hdr = cap; /* TCP options cut by the capture: the payload is not there */
	uint32_t want = c->payload_bytes;
	/* the payload per the IP length, whether captured or not: a probe with a
	 * shorter snap length must refuse rather than hash fewer bytes */
	uint32_t wire_payload = p->l4_payload_len;
	if (p->frag == QP_FRAG_LATER || hdr == 0) {
		uint32_t ip_len = v4 ? (uint32_t)(ip[2] << 8 | ip[3]) : 40u + (uint32_t)(ip[4] << 8 | ip[5]);
		wire_payload = ip_len > p->l4_off ? ip_len - p->l4_off : 0;
	}
	if (want > wire_payload)
		want = wire_payload;
	if (hdr + want > cap)
		return -1;
	put(&s, l4 + hdr, want);
	v[0] = (uint8_t)want;
	v[1] = c->nat;
	v[2] = v4 ? 4 : 6;
	v[3] = 0;
	put(&s, v, 4);
	*sig = hash_buf(s.b, s.n);
	return 0;
}
