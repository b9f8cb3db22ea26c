/*
 * qp_ipfix_rd: see qp_ipfix_rd.h.
 */
#include "qp_ipfix_rd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rd16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t rd32(const uint8_t *p)
{
	return rd16(p) << 16 | rd16(p + 2);
}

void ipfix_rd_init(struct ipfix_rd *rd)
{
	memset(rd, 0, sizeof(*rd));
}

void ipfix_rd_free(struct ipfix_rd *rd)
{
	free(rd->r);
	rd->r = NULL;
	rd->nrec = rd->caprec = 0;
}

#define BAD(...)                                                                   \
	do {                                                                       \
		snprintf(rd->err, sizeof(rd->err), __VA_ARGS__);                   \
		return -1;                                                         \
	} while (0)

int ipfix_rd_msg(struct ipfix_rd *rd, const uint8_t *p, size_t len)
{
	if (len < 16 || rd16(p) != 10 || rd16(p + 2) != len)
		BAD("message %zu: bad header (version %u, length %u of %zu)", rd->nmsg,
		    len >= 2 ? rd16(p) : 0, len >= 4 ? rd16(p + 2) : 0, len);
	uint32_t domain = rd32(p + 12);
	if (rd32(p + 8) != rd->next_seq)
		rd->seq_errors++;
	if (rd->nmsg < sizeof(rd->export_s) / sizeof(rd->export_s[0]))
		rd->export_s[rd->nmsg] = rd32(p + 4);
	uint32_t records = 0;
	for (size_t off = 16; off < len;) {
		if (off + 4 > len)
			BAD("message %zu: a set header cut short", rd->nmsg);
		uint32_t sid = rd16(p + off), slen = rd16(p + off + 2);
		if (slen < 4 || off + slen > len)
			BAD("message %zu: set %u of %u bytes overruns the message", rd->nmsg, sid, slen);
		size_t o = off + 4, end = off + slen;
		if (sid == 2) {
			while (o < end) {
				if (o + 4 > end)
					BAD("message %zu: template header cut short", rd->nmsg);
				uint32_t tid = rd16(p + o), nf = rd16(p + o + 2);
				if (tid < 256 || tid >= 512 || nf > IPFIX_RD_FIELDS)
					BAD("message %zu: template %u with %u fields", rd->nmsg, tid, nf);
				o += 4;
				for (uint32_t i = 0; i < nf; i++) {
					if (o + 4 > end)
						BAD("message %zu: template %u cut short", rd->nmsg, tid);
					uint32_t id = rd16(p + o);
					rd->t[tid - 256].f[i].id = (uint16_t)(id & 0x7fff);
					rd->t[tid - 256].f[i].len = (uint16_t)rd16(p + o + 2);
					rd->t[tid - 256].f[i].pen = 0;
					o += 4;
					if (id & 0x8000) {
						if (o + 4 > end)
							BAD("message %zu: template %u cut short", rd->nmsg, tid);
						rd->t[tid - 256].f[i].pen = rd32(p + o);
						o += 4;
					}
				}
				rd->t[tid - 256].nf = (int)nf;
				rd->have[tid - 256] = 1;
				rd->ntemplates++;
			}
		} else if (sid >= 256 && sid < 512) {
			if (!rd->have[sid - 256])
				BAD("message %zu: records of template %u before the template", rd->nmsg, sid);
			size_t rl = 0;
			for (int i = 0; i < rd->t[sid - 256].nf; i++)
				rl += rd->t[sid - 256].f[i].len;
			if (!rl || (end - o) % rl)
				BAD("message %zu: set %u is not whole records of %zu bytes", rd->nmsg, sid, rl);
			for (; o < end; o += rl) {
				if (rd->nrec == rd->caprec) {
					size_t cap = rd->caprec ? 2 * rd->caprec : 256;
					struct ipfix_rd_rec *n = realloc(rd->r, cap * sizeof(*n));
					if (!n)
						BAD("out of memory");
					rd->r = n;
					rd->caprec = cap;
				}
				struct ipfix_rd_rec *r = &rd->r[rd->nrec++];
				r->tid = (uint16_t)sid;
				r->domain = domain;
				r->msg = rd->nmsg;
				r->nf = rd->t[sid - 256].nf;
				size_t v = o;
				for (int i = 0; i < r->nf; i++) {
					r->f[i] = rd->t[sid - 256].f[i];
					r->v[i] = p + v;
					v += r->f[i].len;
				}
				records++;
			}
		} else {
			BAD("message %zu: set id %u", rd->nmsg, sid);
		}
		off = end;
	}
	rd->next_seq = rd32(p + 8) + records;
	rd->nmsg++;
	return 0;
}

int ipfix_rd_stream(struct ipfix_rd *rd, const uint8_t *buf, size_t len)
{
	for (size_t o = 0; o < len;) {
		if (o + 4 > len)
			BAD("%zu bytes after the last whole message", len - o);
		size_t ml = rd16(buf + o + 2);
		if (ml < 16 || o + ml > len)
			BAD("message %zu: length %zu overruns the stream", rd->nmsg, ml);
		if (ipfix_rd_msg(rd, buf + o, ml))
			return -1;
		o += ml;
	}
	return 0;
}

const uint8_t *ipfix_rd_raw(const struct ipfix_rd_rec *r, uint32_t pen, uint16_t id)
{
	for (int i = 0; i < r->nf; i++)
		if (r->f[i].pen == pen && r->f[i].id == id)
			return r->v[i];
	return NULL;
}

int ipfix_rd_has(const struct ipfix_rd_rec *r, uint32_t pen, uint16_t id)
{
	return ipfix_rd_raw(r, pen, id) != NULL;
}

uint64_t ipfix_rd_val(const struct ipfix_rd_rec *r, uint32_t pen, uint16_t id)
{
	for (int i = 0; i < r->nf; i++)
		if (r->f[i].pen == pen && r->f[i].id == id) {
			uint64_t v = 0;
			for (unsigned int k = 0; k < r->f[i].len; k++)
				v = v << 8 | r->v[i][k];
			return v;
		}
	return 0;
}
