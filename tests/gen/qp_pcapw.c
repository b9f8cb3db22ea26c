/*
 * qp_pcapw: see qp_pcapw.h.
 */
#include "qp_pcapw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int pw_open(struct pw *w, const char *path, int linktype, int ns)
{
	w->f = fopen(path, "wb");
	if (!w->f)
		return -errno;
	w->ns = ns;
	uint32_t hdr[6] = {ns ? 0xa1b23c4d : 0xa1b2c3d4, 0x00040002, 0, 0, 262144, (uint32_t)linktype};
	fwrite(hdr, 4, 6, w->f);
	return 0;
}

void pw_write(struct pw *w, uint64_t ts_ns, const uint8_t *data, uint32_t caplen, uint32_t wirelen)
{
	uint32_t h[4];
	h[0] = (uint32_t)(ts_ns / 1000000000ULL);
	h[1] = (uint32_t)(w->ns ? ts_ns % 1000000000ULL : (ts_ns % 1000000000ULL) / 1000);
	h[2] = caplen;
	h[3] = wirelen;
	fwrite(h, 4, 4, w->f);
	fwrite(data, 1, caplen, w->f);
}

void pw_close(struct pw *w)
{
	if (w->f)
		fclose(w->f);
	w->f = NULL;
}

void pwb_add(struct pw_batch *b, const struct pb *p, uint64_t ts)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 512;
		b->f = realloc(b->f, b->cap * sizeof(*b->f));
		if (!b->f)
			abort();
	}
	struct pw_bf *f = &b->f[b->n];
	f->ts = ts;
	f->seq = (uint32_t)b->n++;
	f->len = pb_len(p);
	f->data = malloc(f->len);
	if (!f->data)
		abort();
	memcpy(f->data, p->buf + p->head, f->len);
}

static int bf_cmp(const void *a, const void *b)
{
	const struct pw_bf *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->seq < y->seq ? -1 : 1;
}

size_t pwb_flush(struct pw_batch *b, struct pw *w)
{
	size_t n = b->n;
	qsort(b->f, b->n, sizeof(*b->f), bf_cmp);
	for (size_t i = 0; i < b->n; i++) {
		pw_write(w, b->f[i].ts, b->f[i].data, b->f[i].len, b->f[i].len);
		free(b->f[i].data);
	}
	free(b->f);
	memset(b, 0, sizeof(*b));
	return n;
}

void pb_init(struct pb *b)
{
	b->head = PB_ROOM;
	b->next_type = 0;
	b->next_proto = 0;
}

uint8_t *pb_data(struct pb *b)
{
	return b->buf + b->head;
}

uint32_t pb_len(const struct pb *b)
{
	return PB_ROOM - b->head;
}

static uint8_t *push(struct pb *b, uint32_t n)
{
	b->head -= n;
	memset(b->buf + b->head, 0, n);
	return b->buf + b->head;
}

static void w16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void w32(uint8_t *p, uint32_t v)
{
	w16(p, (uint16_t)(v >> 16));
	w16(p + 2, (uint16_t)v);
}

void pb_payload(struct pb *b, uint32_t n)
{
	uint8_t *p = push(b, n);
	for (uint32_t i = 0; i < n; i++)
		p[i] = (uint8_t)(0x40 + i % 26);
}

void pb_push_raw(struct pb *b, const void *p, uint32_t n)
{
	memcpy(push(b, n), p, n);
}

void pb_set_proto(struct pb *b, uint8_t proto)
{
	b->next_proto = proto;
}

void pb_push_tcp(struct pb *b, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		 uint8_t flags, uint16_t win)
{
	uint8_t *p = push(b, 20);
	w16(p, sport);
	w16(p + 2, dport);
	w32(p + 4, seq);
	w32(p + 8, ack);
	p[12] = 5 << 4;
	p[13] = flags;
	w16(p + 14, win);
	b->next_proto = 6;
}

void pb_push_udp(struct pb *b, uint16_t sport, uint16_t dport)
{
	uint32_t len = pb_len(b) + 8;
	uint8_t *p = push(b, 8);
	w16(p, sport);
	w16(p + 2, dport);
	w16(p + 4, (uint16_t)len);
	b->next_proto = 17;
}

void pb_push_icmp(struct pb *b, uint8_t type, uint16_t id, uint16_t seq)
{
	uint8_t *p = push(b, 8);
	p[0] = type;
	w16(p + 4, id);
	w16(p + 6, seq);
	b->next_proto = 1;
}

void pb_push_sctp(struct pb *b, uint16_t sport, uint16_t dport)
{
	uint8_t *p = push(b, 12);
	w16(p, sport);
	w16(p + 2, dport);
	b->next_proto = 132;
}

static uint16_t csum(const uint8_t *p, uint32_t n)
{
	uint32_t s = 0;
	for (uint32_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

void pb_push_ip4(struct pb *b, const char *src, const char *dst, uint16_t id, uint16_t frag)
{
	uint32_t len = pb_len(b) + 20;
	uint8_t *p = push(b, 20);
	p[0] = 0x45;
	w16(p + 2, (uint16_t)len);
	w16(p + 4, id);
	w16(p + 6, frag);
	p[8] = 64;
	p[9] = b->next_proto;
	inet_pton(AF_INET, src, p + 12);
	inet_pton(AF_INET, dst, p + 16);
	w16(p + 10, csum(p, 20));
	b->next_type = 0x0800;
	b->next_proto = 4;
}

void pb_push_ip6(struct pb *b, const char *src, const char *dst)
{
	uint32_t plen = pb_len(b);
	uint8_t *p = push(b, 40);
	p[0] = 0x60;
	w16(p + 4, (uint16_t)plen);
	p[6] = b->next_proto;
	p[7] = 64;
	inet_pton(AF_INET6, src, p + 8);
	inet_pton(AF_INET6, dst, p + 24);
	b->next_type = 0x86dd;
	b->next_proto = 41;
}

void pb_push_ip6_ext(struct pb *b, uint8_t nh, uint16_t frag_off_flags, uint32_t frag_id)
{
	uint8_t *p = push(b, 8);
	p[0] = b->next_proto;
	if (nh == 44) {
		w16(p + 2, frag_off_flags);
		w32(p + 4, frag_id);
	} else {
		p[1] = 0; /* 8 bytes */
		p[2] = 1; /* PadN */
		p[3] = 4;
	}
	b->next_proto = nh;
}

void pb_push_vxlan(struct pb *b, uint32_t vni)
{
	uint8_t *p = push(b, 8);
	p[0] = 0x08;
	w32(p + 4, vni << 8);
}

void pb_push_gtpu(struct pb *b, uint32_t teid)
{
	uint32_t len = pb_len(b);
	uint8_t *p = push(b, 8);
	p[0] = 0x30; /* version 1, PT=1 */
	p[1] = 0xff;
	w16(p + 2, (uint16_t)len);
	w32(p + 4, teid);
}

void pb_push_gre(struct pb *b, int keyed)
{
	if (keyed) {
		pb_push_gre_key(b, 0x1234);
		return;
	}
	uint16_t type = b->next_type;
	uint8_t *p = push(b, 4);
	w16(p, 0);
	w16(p + 2, type);
	b->next_proto = 47;
}

void pb_push_gre_key(struct pb *b, uint32_t key)
{
	uint16_t type = b->next_type;
	uint8_t *k = push(b, 4);
	w32(k, key);
	uint8_t *p = push(b, 4);
	w16(p, 0x2000);
	w16(p + 2, type);
	b->next_proto = 47;
}

void pb_push_mpls(struct pb *b, uint32_t label, int bos)
{
	uint8_t *p = push(b, 4);
	w32(p, label << 12 | (bos ? 0x100 : 0) | 64);
	b->next_type = 0x8847;
}

void pb_push_vlan(struct pb *b, uint16_t tpid, uint16_t vid)
{
	uint16_t inner = b->next_type;
	uint8_t *p = push(b, 4);
	w16(p, vid);
	w16(p + 2, inner);
	b->next_type = tpid;
}

void pb_push_eth(struct pb *b)
{
	static const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x02}, src[6] = {0x02, 0, 0, 0, 0, 0x01};
	uint16_t type = b->next_type;
	uint8_t *p = push(b, 14);
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	w16(p + 12, type);
}
