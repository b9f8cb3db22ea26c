/*
 * qp_cap: pcap results' rings and pcapng blocks (see qp_cap.h).
 */
#include "qp_cap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qp_filter.h"

#define HDR ((uint32_t)sizeof(struct qp_cap_pkt))

int qp_cap_ring_init(struct qp_cap_ring *r, uint32_t packets, uint32_t snaplen, uint64_t rate,
		     const struct qp_filter *filter)
{
	memset(r, 0, sizeof(*r));
	if (snaplen < QP_CAP_SNAP_MIN || snaplen > QP_CAP_SNAP_MAX || rate == 0 || packets == 0 ||
	    packets > (1u << 20))
		return -EINVAL;
	uint32_t n = 1;
	while (n < packets)
		n <<= 1;
	r->mask = n - 1;
	r->snaplen = snaplen;
	r->slot_bytes = (HDR + snaplen + 7) & ~7u;
	r->rate = rate;
	/* a tenth of a second's worth, and at least one whole packet */
	r->burst = rate / 10 > (uint64_t)snaplen ? rate / 10 : snaplen;
	r->tokens = r->burst;
	r->filter = filter;
	r->slots = malloc((size_t)n * r->slot_bytes);
	return r->slots ? 0 : -ENOMEM;
}

void qp_cap_ring_fini(struct qp_cap_ring *r)
{
	free(r->slots);
	r->slots = NULL;
}

void qp_cap_take(struct qp_cap_ring *r, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
		 uint64_t ts_ns, uint16_t port, unsigned int dir)
{
	if (r->filter && !qp_filter_match(r->filter, data, caplen))
		return;
	uint32_t n = caplen < r->snaplen ? caplen : r->snaplen;
	/* the budget: refilled by the packets' own time */
	if (ts_ns > r->tok_ns) {
		uint64_t d = ts_ns - r->tok_ns;
		uint64_t add = d >= 1000000000ULL ? r->burst : d * r->rate / 1000000000ULL;
		if (add) {
			r->tokens = r->tokens + add > r->burst ? r->burst : r->tokens + add;
			r->tok_ns = ts_ns;
		} else if (!r->tok_ns) {
			r->tok_ns = ts_ns;
		}
	}
	if (r->tokens < n) {
		__atomic_store_n(&r->over_budget, r->over_budget + 1, __ATOMIC_RELAXED);
		return;
	}
	uint64_t h = r->head;
	if (h - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) > r->mask) {
		__atomic_store_n(&r->ring_full, r->ring_full + 1, __ATOMIC_RELAXED);
		return;
	}
	r->tokens -= n;
	uint8_t *s = r->slots + (size_t)(h & r->mask) * r->slot_bytes;
	struct qp_cap_pkt p = {.ts_ns = ts_ns, .wirelen = wirelen, .caplen = n, .port = port,
			       .dir = (uint8_t)(dir > 2 ? 2 : dir)};
	memcpy(s, &p, sizeof(p));
	memcpy(s + HDR, data, n);
	__atomic_store_n(&r->taken, r->taken + 1, __ATOMIC_RELAXED);
	/* the slot's bytes before the head that shows them */
	__atomic_store_n(&r->head, h + 1, __ATOMIC_RELEASE);
}

const struct qp_cap_pkt *qp_cap_peek(struct qp_cap_ring *r)
{
	uint64_t t = r->tail;
	if (t == __atomic_load_n(&r->head, __ATOMIC_ACQUIRE))
		return NULL;
	return (const struct qp_cap_pkt *)(const void *)(r->slots + (size_t)(t & r->mask) * r->slot_bytes);
}

void qp_cap_pop(struct qp_cap_ring *r)
{
	/* the slot is read before the worker may take it again */
	__atomic_store_n(&r->tail, r->tail + 1, __ATOMIC_RELEASE);
}

void qp_cap_counts(const struct qp_cap_ring *r, struct qp_cap_counts *c)
{
	c->taken = __atomic_load_n(&r->taken, __ATOMIC_RELAXED);
	c->over_budget = __atomic_load_n(&r->over_budget, __ATOMIC_RELAXED);
	c->ring_full = __atomic_load_n(&r->ring_full, __ATOMIC_RELAXED);
}

/* ---- pcapng ---- */

struct blk {
	uint8_t *p;
	size_t cap, n;
	int over;
};

static void put(struct blk *b, const void *v, size_t n)
{
	if (b->n + n > b->cap) {
		b->over = 1;
		return;
	}
	memcpy(b->p + b->n, v, n);
	b->n += n;
}

static void u16(struct blk *b, uint16_t v)
{
	put(b, &v, 2);
}

static void u32(struct blk *b, uint32_t v)
{
	put(b, &v, 4);
}

static void pad4(struct blk *b)
{
	static const uint8_t z[4];
	put(b, z, (4 - b->n % 4) % 4);
}

static void opt(struct blk *b, uint16_t code, const void *v, uint16_t len)
{
	u16(b, code);
	u16(b, len);
	put(b, v, len);
	pad4(b);
}

static void opt_str(struct blk *b, uint16_t code, const char *s)
{
	size_t n = strlen(s);
	opt(b, code, s, (uint16_t)(n > 256 ? 256 : n));
}

static void opt_time(struct blk *b, uint16_t code, uint64_t ns)
{
	uint32_t v[2] = {(uint32_t)(ns >> 32), (uint32_t)ns};
	opt(b, code, v, 8);
}

static void begin(struct blk *b, uint8_t *out, size_t cap, uint32_t type)
{
	b->p = out;
	b->cap = cap;
	b->n = 0;
	b->over = 0;
	u32(b, type);
	u32(b, 0); /* the length, once known */
}

static size_t end(struct blk *b)
{
	uint32_t len = (uint32_t)(b->n + 4);
	u32(b, len);
	if (b->over)
		return 0;
	memcpy(b->p + 4, &len, 4);
	return b->n;
}

size_t qp_pcapng_shb(uint8_t *out, size_t cap, const char *app)
{
	struct blk b;
	begin(&b, out, cap, 0x0A0D0D0A);
	u32(&b, 0x1A2B3C4D);
	u16(&b, 1);
	u16(&b, 0);
	uint64_t unknown = UINT64_MAX; /* section length: not known */
	put(&b, &unknown, 8);
	opt_str(&b, 4, app); /* shb_userappl */
	u32(&b, 0);          /* opt_endofopt */
	return end(&b);
}

size_t qp_pcapng_idb(uint8_t *out, size_t cap, uint32_t snaplen, const char *name, const char *descr)
{
	struct blk b;
	begin(&b, out, cap, 1);
	u16(&b, 1); /* LINKTYPE_ETHERNET */
	u16(&b, 0);
	u32(&b, snaplen);
	opt_str(&b, 2, name);  /* if_name */
	opt_str(&b, 3, descr); /* if_description */
	uint8_t res = 9;       /* if_tsresol: 10^-9 s */
	opt(&b, 9, &res, 1);
	u32(&b, 0);
	return end(&b);
}

size_t qp_pcapng_epb(uint8_t *out, size_t cap, uint32_t ifid, const struct qp_cap_pkt *p,
		     const uint8_t *data)
{
	struct blk b;
	begin(&b, out, cap, 6);
	u32(&b, ifid);
	u32(&b, (uint32_t)(p->ts_ns >> 32));
	u32(&b, (uint32_t)p->ts_ns);
	u32(&b, p->caplen);
	u32(&b, p->wirelen);
	put(&b, data, p->caplen);
	pad4(&b);
	if (p->dir < 2) {
		uint32_t flags = p->dir == 0 ? 1 : 2; /* epb_flags: inbound, outbound */
		opt(&b, 2, &flags, 4);
		u32(&b, 0);
	}
	return end(&b);
}

size_t qp_pcapng_isb(uint8_t *out, size_t cap, uint32_t ifid, uint64_t ts_ns, uint64_t start_ns,
		     uint64_t delivered, uint64_t dropped)
{
	struct blk b;
	begin(&b, out, cap, 5);
	u32(&b, ifid);
	u32(&b, (uint32_t)(ts_ns >> 32));
	u32(&b, (uint32_t)ts_ns);
	opt_time(&b, 2, start_ns); /* isb_starttime */
	opt_time(&b, 3, ts_ns);    /* isb_endtime */
	uint64_t recv = delivered + dropped;
	opt(&b, 4, &recv, 8);      /* isb_ifrecv: what the capture was given */
	opt(&b, 7, &dropped, 8);   /* isb_osdrop: what it had to drop */
	opt(&b, 8, &delivered, 8); /* isb_usrdeliv: what this file holds */
	u32(&b, 0);
	return end(&b);
}
