/*
 * qmcp_codec: see qmcp_codec.h. Every multi-byte integer on the wire is
 * big-endian. Readers check each length against what remains before they
 * look at a byte.
 */
#include "qmcp_codec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int qmcp_hdr_decode(const uint8_t *b, size_t n, struct qmcp_hdr *h)
{
	if (n < QMCP_HDR_LEN)
		return -EAGAIN;
	if (b[0] != 'Q' || b[1] != 'M')
		return -EPROTO;
	h->version = b[2];
	h->type = b[3];
	h->flags = rd16(b + 4);
	h->req_id = rd32(b + 8);
	h->length = rd32(b + 12);
	if (h->version != QMCP_VERSION)
		return -EPROTONOSUPPORT;
	if (h->length > QMCP_MAX_BODY)
		return -EMSGSIZE;
	return 0;
}

void qmcp_msg_init(struct qmcp_msg *m, uint8_t type, uint16_t flags, uint32_t req_id)
{
	m->buf = NULL;
	m->len = QMCP_HDR_LEN;
	m->cap = 0;
	m->err = 0;
	m->type = type;
	m->flags = flags;
	m->req_id = req_id;
}

void qmcp_msg_free(struct qmcp_msg *m)
{
	free(m->buf);
	m->buf = NULL;
	m->cap = 0;
	m->len = QMCP_HDR_LEN;
}

/* Room for n more bytes; NULL (and m->err set) when it cannot be had. */
static uint8_t *reserve(struct qmcp_msg *m, size_t n)
{
	if (m->err)
		return NULL;
	if (m->len + n - QMCP_HDR_LEN > QMCP_MAX_BODY) {
		m->err = -EMSGSIZE;
		return NULL;
	}
	if (m->len + n > m->cap) {
		size_t c = m->cap ? m->cap : 256;
		while (c < m->len + n)
			c *= 2;
		uint8_t *b = realloc(m->buf, c);
		if (!b) {
			m->err = -ENOMEM;
			return NULL;
		}
		m->buf = b;
		m->cap = c;
	}
	uint8_t *p = m->buf + m->len;
	m->len += n;
	return p;
}

void qmcp_put_bytes(struct qmcp_msg *m, uint16_t t, const void *v, size_t n)
{
	if (n > QMCP_MAX_BODY) {
		m->err = m->err ? m->err : -EMSGSIZE;
		return;
	}
	uint8_t *p = reserve(m, QMCP_TLV_HDR_LEN + n);
	if (!p)
		return;
	wr16(p, t);
	wr32(p + 2, (uint32_t)n);
	if (n)
		memcpy(p + QMCP_TLV_HDR_LEN, v, n);
}

void qmcp_put_u8(struct qmcp_msg *m, uint16_t t, uint8_t v)
{
	qmcp_put_bytes(m, t, &v, 1);
}

void qmcp_put_u16(struct qmcp_msg *m, uint16_t t, uint16_t v)
{
	uint8_t b[2];
	wr16(b, v);
	qmcp_put_bytes(m, t, b, 2);
}

void qmcp_put_u32(struct qmcp_msg *m, uint16_t t, uint32_t v)
{
	uint8_t b[4];
	wr32(b, v);
	qmcp_put_bytes(m, t, b, 4);
}

void qmcp_put_u64(struct qmcp_msg *m, uint16_t t, uint64_t v)
{
	uint8_t b[8];
	wr32(b, (uint32_t)(v >> 32));
	wr32(b + 4, (uint32_t)v);
	qmcp_put_bytes(m, t, b, 8);
}

void qmcp_put_str(struct qmcp_msg *m, uint16_t t, const char *s)
{
	qmcp_put_bytes(m, t, s, s ? strlen(s) : 0);
}

size_t qmcp_nest_begin(struct qmcp_msg *m, uint16_t t)
{
	size_t at = m->len;
	uint8_t *p = reserve(m, QMCP_TLV_HDR_LEN);
	if (p) {
		wr16(p, t);
		wr32(p + 2, 0);
	}
	return at;
}

void qmcp_nest_end(struct qmcp_msg *m, size_t handle)
{
	if (m->err || handle + QMCP_TLV_HDR_LEN > m->len)
		return;
	wr32(m->buf + handle + 2, (uint32_t)(m->len - handle - QMCP_TLV_HDR_LEN));
}

const uint8_t *qmcp_msg_frame(struct qmcp_msg *m, size_t *n)
{
	if (!m->err && !m->buf)
		reserve(m, 0);
	if (!m->err && m->cap < QMCP_HDR_LEN) {
		uint8_t *b = realloc(m->buf, QMCP_HDR_LEN);
		if (!b)
			m->err = -ENOMEM;
		else
			m->buf = b, m->cap = QMCP_HDR_LEN;
	}
	if (m->err)
		return NULL;
	uint8_t *h = m->buf;
	h[0] = 'Q';
	h[1] = 'M';
	h[2] = QMCP_VERSION;
	h[3] = m->type;
	wr16(h + 4, m->flags);
	wr16(h + 6, 0);
	wr32(h + 8, m->req_id);
	wr32(h + 12, (uint32_t)(m->len - QMCP_HDR_LEN));
	*n = m->len;
	return m->buf;
}

void qmcp_msg_error(struct qmcp_msg *m, uint8_t type, uint32_t req_id, uint16_t code,
		    const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	qmcp_msg_init(m, type, QMCP_F_RESPONSE | QMCP_F_ERROR, req_id);
	qmcp_put_u16(m, QMCP_T_ERROR_CODE, code);
	qmcp_put_str(m, QMCP_T_ERROR_MSG, text);
}

void qmcp_iter_init(struct qmcp_iter *it, const uint8_t *body, size_t len)
{
	it->p = body;
	it->end = body + len;
}

int qmcp_next(struct qmcp_iter *it, struct qmcp_tlv *t)
{
	size_t left = (size_t)(it->end - it->p);
	if (left == 0)
		return 0;
	if (left < QMCP_TLV_HDR_LEN)
		return -EPROTO;
	uint32_t n = rd32(it->p + 2);
	if (n > left - QMCP_TLV_HDR_LEN)
		return -EPROTO;
	t->type = rd16(it->p);
	t->len = n;
	t->val = it->p + QMCP_TLV_HDR_LEN;
	it->p += QMCP_TLV_HDR_LEN + n;
	return 1;
}

static int is_nest(uint16_t type)
{
	return type == QMCP_T_MEAS || type == QMCP_T_PORT || type == QMCP_T_RESULT;
}

static int check(const uint8_t *body, size_t len, int depth)
{
	struct qmcp_iter it;
	struct qmcp_tlv t;
	int r;
	qmcp_iter_init(&it, body, len);
	while ((r = qmcp_next(&it, &t)) == 1)
		if (is_nest(t.type) && (depth >= 4 || check(t.val, t.len, depth + 1)))
			return -EPROTO;
	return r;
}

int qmcp_body_check(const uint8_t *body, size_t len)
{
	return check(body, len, 1);
}

int qmcp_tlv_u8(const struct qmcp_tlv *t, uint8_t *v)
{
	if (t->len != 1)
		return -EPROTO;
	*v = t->val[0];
	return 0;
}

int qmcp_tlv_u16(const struct qmcp_tlv *t, uint16_t *v)
{
	if (t->len != 2)
		return -EPROTO;
	*v = rd16(t->val);
	return 0;
}

int qmcp_tlv_u32(const struct qmcp_tlv *t, uint32_t *v)
{
	if (t->len != 4)
		return -EPROTO;
	*v = rd32(t->val);
	return 0;
}

int qmcp_tlv_u64(const struct qmcp_tlv *t, uint64_t *v)
{
	if (t->len != 8)
		return -EPROTO;
	*v = (uint64_t)rd32(t->val) << 32 | rd32(t->val + 4);
	return 0;
}

int qmcp_tlv_str(const struct qmcp_tlv *t, char *buf, size_t cap)
{
	if (memchr(t->val, 0, t->len))
		return -EPROTO;
	if (cap == 0 || t->len > cap - 1)
		return -ENAMETOOLONG;
	memcpy(buf, t->val, t->len);
	buf[t->len] = 0;
	return 0;
}

int qmcp_find(const uint8_t *body, size_t len, uint16_t type, struct qmcp_tlv *t)
{
	struct qmcp_iter it;
	int r;
	qmcp_iter_init(&it, body, len);
	while ((r = qmcp_next(&it, t)) == 1)
		if (t->type == type)
			return 1;
	return r;
}

const char *qmcp_msg_name(uint8_t type)
{
	switch (type) {
#define N_(n, v, h) case v: return #n;
		QMCP_MESSAGES(N_)
#undef N_
	default: return "?";
	}
}

const char *qmcp_tlv_name(uint16_t type)
{
	switch (type) {
#define N_(n, v, k, h) case v: return #n;
		QMCP_TLVS(N_)
#undef N_
	default: return "?";
	}
}

const char *qmcp_error_name(uint16_t code)
{
	switch (code) {
#define N_(n, v, h) case v: return #n;
		QMCP_ERRORS(N_)
#undef N_
	default: return "?";
	}
}

void qmcp_rx_init(struct qmcp_rx *r)
{
	memset(r, 0, sizeof(*r));
}

void qmcp_rx_free(struct qmcp_rx *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* Drop the frame handed out last. */
static void drop_consumed(struct qmcp_rx *r)
{
	if (!r->consumed)
		return;
	memmove(r->buf, r->buf + r->consumed, r->len - r->consumed);
	r->len -= r->consumed;
	r->consumed = 0;
}

uint8_t *qmcp_rx_space(struct qmcp_rx *r, size_t want, size_t *room)
{
	drop_consumed(r);
	/* never more than the rest of the current frame, so a peer cannot make
	 * the buffer hold more than one header and one maximal body */
	size_t need = QMCP_HDR_LEN;
	struct qmcp_hdr h;
	if (qmcp_hdr_decode(r->buf, r->len, &h) == 0)
		need = QMCP_HDR_LEN + h.length;
	if (r->len < need && need - r->len < want)
		want = need - r->len;
	if (r->len >= need)
		want = want < QMCP_HDR_LEN ? want : QMCP_HDR_LEN;
	if (r->len + want > r->cap) {
		size_t c = r->cap ? r->cap : 4096;
		while (c < r->len + want)
			c *= 2;
		uint8_t *b = realloc(r->buf, c);
		if (!b)
			return NULL;
		r->buf = b;
		r->cap = c;
	}
	*room = want;
	return r->buf + r->len;
}

void qmcp_rx_commit(struct qmcp_rx *r, size_t n)
{
	r->len += n;
}

long qmcp_rx_read(struct qmcp_rx *r, int fd)
{
	size_t room;
	uint8_t *p = qmcp_rx_space(r, 65536, &room);
	if (!p)
		return -ENOMEM;
	ssize_t k = recv(fd, p, room, 0);
	if (k < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
	qmcp_rx_commit(r, (size_t)k);
	return k;
}

int qmcp_rx_frame(struct qmcp_rx *r, struct qmcp_hdr *h, const uint8_t **body)
{
	drop_consumed(r);
	int e = qmcp_hdr_decode(r->buf, r->len, h);
	if (e == -EAGAIN)
		return 0;
	if (e)
		return e;
	if (r->len < QMCP_HDR_LEN + (size_t)h->length)
		return 0;
	*body = r->buf + QMCP_HDR_LEN;
	r->consumed = QMCP_HDR_LEN + h->length;
	return 1;
}
