/*
 * qp_tls_dp: see qp_tls_dp.h.
 */
#include "qp_tls_dp.h"

#include <stdio.h>
#include <string.h>

#define HS_MAX (128u * 1024) /* a hello longer than this is not believed */
#define REC_MAX 16384u       /* a record's plaintext at most (RFC 8446 5.1) */

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* A handshake record holding message type `type` at p: its message length, or 0. */
static uint32_t hello_len(const uint8_t *p, uint32_t cap, uint8_t type)
{
	if (cap < 9 || p[0] != 22 || p[1] != 3 || p[2] > 4 || be16(p + 3) < 4 || p[5] != type)
		return 0;
	uint32_t n = be24(p + 6);
	return n >= 38 && n <= HS_MAX ? n : 0;
}

/*
 * An SSL 2.0-format ClientHello offering SSL 3.0 or TLS (RFC 5246 E.2,
 * older clients): its length after the 2-byte header, or 0.
 */
static uint32_t v2_hello_len(const uint8_t *p, uint32_t cap)
{
	if (cap < 5 || !(p[0] & 0x80) || p[2] != 1 || p[3] != 3 || p[4] > 3)
		return 0;
	uint32_t n = (uint32_t)(p[0] & 0x7f) << 8 | p[1];
	return n >= 9 ? n : 0;
}

int qp_tls_detect(const uint8_t *p, uint32_t cap)
{
	return hello_len(p, cap, 1) != 0 || v2_hello_len(p, cap) != 0;
}

/* The sequence number after a hello of n bytes whose first record begins at seq. */
static uint32_t hello_end(uint32_t seq, uint32_t n)
{
	uint32_t records = (4 + n + REC_MAX - 1) / REC_MAX; /* fragmented at 2^14 */
	return seq + 4 + n + 5 * records;
}

/* A GREASE value (RFC 8701): 0x?a?a */
static int grease(uint32_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/*
 * The extensions of a hello (body at b, n bytes of it captured, its length
 * len): versions, and the server name when sni. @return -1 when a length
 * runs past the message.
 */
static int extensions(struct qp_tls *t, const uint8_t *b, uint32_t n, uint32_t len, int client,
		      int sni)
{
	uint32_t at = 2 + 32; /* legacy version, random */
	if (at + 1 > n)
		return 0;
	at += 1 + b[at]; /* session id */
	if (client) {
		if (at + 2 > n)
			return 0;
		at += 2 + be16(b + at); /* cipher suites */
		if (at + 1 > n)
			return 0;
		at += 1 + b[at]; /* compression methods */
	} else {
		at += 2 + 1; /* cipher suite, compression method */
	}
	if (at > len)
		return -1;
	if (at + 2 > n)
		return 0;
	uint32_t end = at + 2 + be16(b + at);
	if (end > len)
		return -1;
	at += 2;
	while (at + 4 <= end && at + 4 <= n) {
		uint32_t type = be16(b + at), el = be16(b + at + 2);
		const uint8_t *e = b + at + 4;
		if (at + 4 + el > end)
			return -1;
		uint32_t have = n - (at + 4) < el ? n - (at + 4) : el;
		if (type == 0x002b && client && have >= 1) {
			for (uint32_t i = 1; i + 1 < have && i + 1 <= e[0]; i += 2) {
				uint32_t v = be16(e + i);
				if (!grease(v) && v > t->client_version)
					t->client_version = (uint16_t)v;
			}
		} else if (type == 0x002b && !client && have >= 2) {
			t->version = (uint16_t)be16(e);
		} else if (type == 0 && client && sni && have >= 5 && e[2] == 0) {
			uint32_t nl = be16(e + 3);
			if (nl > have - 5)
				nl = have - 5;
			if (nl > QP_TLS_SNI - 1)
				nl = QP_TLS_SNI - 1;
			memcpy(t->sni, e + 5, nl);
			t->sni[nl] = 0;
			t->sni_len = (uint8_t)nl;
		}
		at += 4 + el;
	}
	return 0;
}

/* The client's records from its stream's byte seq on: the first application data after the ServerHello. */
static void client_records(struct qp_tls *t, const uint8_t *p, uint32_t cap, uint32_t len,
			   uint32_t seq, uint64_t ts, struct qp_tls_event *ev)
{
	if (t->st & (QP_TLS_ST_DATA | QP_TLS_ST_LOST))
		return;
	int32_t diff = (int32_t)(seq - t->nxt);
	if (diff > 0) {
		t->st |= QP_TLS_ST_LOST; /* bytes the probe did not see */
		return;
	}
	uint32_t pos = (uint32_t)-diff;
	if (pos >= len)
		return; /* sent again */
	t->nxt = seq + len;
	while (pos < len) {
		if (t->rec_left) {
			uint32_t take = len - pos < t->rec_left ? len - pos : t->rec_left;
			t->rec_left -= take;
			pos += take;
			continue;
		}
		if (pos >= cap) {
			t->st |= QP_TLS_ST_LOST; /* a header the capture cut */
			return;
		}
		t->hdr[t->hdr_have++] = p[pos++];
		if (t->hdr_have < 5)
			continue;
		t->hdr_have = 0;
		uint8_t type = t->hdr[0];
		if (type < 20 || type > 24 || t->hdr[1] != 3) {
			t->st |= QP_TLS_ST_LOST; /* not a record: the framing is gone */
			return;
		}
		if (type == 23 && (t->st & QP_TLS_ST_SH_DONE)) {
			t->st |= QP_TLS_ST_DATA;
			t->data_ns = ts;
			if (ts >= t->sh_ns) {
				ev->data = 1;
				ev->data_ns = ts - t->sh_ns;
			}
			return;
		}
		t->rec_left = be16(t->hdr + 3);
	}
}

void qp_tls_update(struct qp_tls *t, const uint8_t *p, uint32_t cap, uint32_t len, uint32_t seq,
		   unsigned int dir, uint64_t ts, int sni, struct qp_tls_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (cap > len)
		cap = len;
	if (!len)
		return;
	if (!(t->st & QP_TLS_ST_CH)) {
		uint32_t n = hello_len(p, cap, 1), v2 = n ? 0 : v2_hello_len(p, cap);
		if (!n && !v2)
			return;
		t->st |= QP_TLS_ST_CH;
		t->client_dir = (uint8_t)dir;
		if (v2) {
			/* no extensions: the version offered is in the header */
			t->ch_end = seq + 2 + v2;
			t->client_version = (uint16_t)be16(p + 3);
			t->nxt = seq + 2 + v2; /* the records follow it */
		} else {
			t->ch_end = hello_end(seq, n);
			t->client_version = (uint16_t)(cap >= 11 ? be16(p + 9) : 0);
			if (extensions(t, p + 9, cap - 9, n, 1, sni))
				t->malformed++;
			t->nxt = seq;
		}
	}
	if (dir == t->client_dir) {
		if (!(t->st & QP_TLS_ST_CH_DONE) && (int32_t)(seq + len - t->ch_end) >= 0) {
			t->st |= QP_TLS_ST_CH_DONE;
			t->ch_ns = ts;
		}
		/* an SSL 2.0-format hello is no record: the records begin after it */
		int32_t skip = (int32_t)(t->nxt - seq);
		if (skip > 0 && (uint32_t)skip < len && (t->st & QP_TLS_ST_CH_DONE) &&
		    !(t->st & (QP_TLS_ST_SH | QP_TLS_ST_DATA)) && seq + (uint32_t)skip == t->ch_end)
			client_records(t, p + skip, cap > (uint32_t)skip ? cap - (uint32_t)skip : 0,
				       len - (uint32_t)skip, t->nxt, ts, ev);
		else
			client_records(t, p, cap, len, seq, ts, ev);
		return;
	}
	if (!(t->st & QP_TLS_ST_SH)) {
		uint32_t n = hello_len(p, cap, 2);
		if (!n) {
			t->malformed++; /* the server's first bytes are no ServerHello */
			t->st |= QP_TLS_ST_SH | QP_TLS_ST_LOST;
			t->sh_end = seq; /* never reached: no figure */
			return;
		}
		t->st |= QP_TLS_ST_SH;
		t->sh_end = hello_end(seq, n);
		t->version = (uint16_t)(cap >= 11 ? be16(p + 9) : 0);
		if (extensions(t, p + 9, cap - 9, n, 0, 0))
			t->malformed++;
	}
	if (!(t->st & (QP_TLS_ST_SH_DONE | QP_TLS_ST_LOST)) &&
	    (int32_t)(seq + len - t->sh_end) >= 0) {
		t->st |= QP_TLS_ST_SH_DONE;
		t->sh_ns = ts;
		if ((t->st & QP_TLS_ST_CH_DONE) && ts >= t->ch_ns) {
			ev->hello = 1;
			ev->hello_ns = ts - t->ch_ns;
			ev->version = t->version;
		}
	}
}

const char *qp_tls_version_name(uint16_t v, char *buf, unsigned int len)
{
	switch (v) {
	case 0x0304: return "TLS 1.3";
	case 0x0303: return "TLS 1.2";
	case 0x0302: return "TLS 1.1";
	case 0x0301: return "TLS 1.0";
	case 0x0300: return "SSL 3.0";
	default: snprintf(buf, len, "0x%04x", v); return buf;
	}
}
