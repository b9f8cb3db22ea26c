/* qmcp_tp: see qmcp_tp.h. */
#include "qmcp_tp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void w64(uint8_t *p, uint64_t v)
{
	w32(p, (uint32_t)(v >> 32));
	w32(p + 4, (uint32_t)v);
}

static uint16_t r16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t r32(const uint8_t *p)
{
	return (uint32_t)r16(p) << 16 | r16(p + 2);
}

static uint64_t r64(const uint8_t *p)
{
	return (uint64_t)r32(p) << 32 | r32(p + 4);
}

int qmcp_tp_build(struct qmcp_msg *m, const struct qmcp_tp_batch *hdr, const uint32_t *flow_ids,
		  const struct qmcp_tp_key *keys, uint32_t nflows, const struct qmcp_tp_rec *recs,
		  uint32_t nrecs)
{
	for (uint32_t i = 0; i < nrecs; i++)
		if (recs[i].ts_ns < hdr->base_ns || recs[i].ts_ns - hdr->base_ns > QMCP_TP_DT_MAX ||
		    recs[i].flow > QMCP_TP_FLOW_ID_MAX)
			return -EINVAL;
	for (uint32_t i = 0; i < nflows; i++)
		if (flow_ids[i] > QMCP_TP_FLOW_ID_MAX)
			return -EINVAL;
	size_t fl = (size_t)nflows * QMCP_TP_FLOW_LEN, rl = (size_t)nrecs * QMCP_TP_REC_LEN;
	uint8_t *b = malloc(fl + rl + 1);
	if (!b) {
		m->err = -ENOMEM;
		return 0;
	}
	for (uint32_t i = 0; i < nflows; i++) {
		uint8_t *p = b + (size_t)i * QMCP_TP_FLOW_LEN;
		w32(p, flow_ids[i]);
		memcpy(p + 4, keys[i].addr, 32);
		w16(p + 36, keys[i].port[0]);
		w16(p + 38, keys[i].port[1]);
		p[40] = keys[i].proto;
		p[41] = keys[i].ipver;
		p[42] = p[43] = 0;
	}
	for (uint32_t i = 0; i < nrecs; i++) {
		uint8_t *p = b + fl + (size_t)i * QMCP_TP_REC_LEN;
		w64(p, recs[i].sig);
		w32(p + 8, (uint32_t)(recs[i].ts_ns - hdr->base_ns));
		w16(p + 12, recs[i].size);
		w32(p + 14, recs[i].flow | (recs[i].swapped ? 0x80000000u : 0));
	}
	qmcp_put_u32(m, QMCP_T_MEAS_ID, hdr->meas);
	qmcp_put_u64(m, QMCP_T_SEQ, hdr->seq);
	qmcp_put_u64(m, QMCP_T_TP_BASE_NS, hdr->base_ns);
	qmcp_put_u64(m, QMCP_T_TP_WATERMARK_NS, hdr->watermark_ns);
	qmcp_put_u64(m, QMCP_T_TP_DROPPED, hdr->dropped);
	if (nflows)
		qmcp_put_bytes(m, QMCP_T_TP_FLOWS, b, fl);
	qmcp_put_bytes(m, QMCP_T_TP_RECS, b + fl, rl);
	free(b);
	return 0;
}

int qmcp_tp_parse(const uint8_t *body, size_t len, struct qmcp_tp_batch *b, char *errbuf,
		  size_t errlen)
{
	memset(b, 0, sizeof(*b));
	struct qmcp_iter it;
	struct qmcp_tlv t;
	int got = 0, rc;
	qmcp_iter_init(&it, body, len);
	while ((rc = qmcp_next(&it, &t)) == 1) {
		int bad = 0;
		switch (t.type) {
		case QMCP_T_MEAS_ID: bad = qmcp_tlv_u32(&t, &b->meas); got |= 1; break;
		case QMCP_T_SEQ: bad = qmcp_tlv_u64(&t, &b->seq); got |= 2; break;
		case QMCP_T_TP_BASE_NS: bad = qmcp_tlv_u64(&t, &b->base_ns); got |= 4; break;
		case QMCP_T_TP_WATERMARK_NS: bad = qmcp_tlv_u64(&t, &b->watermark_ns); got |= 8; break;
		case QMCP_T_TP_DROPPED: bad = qmcp_tlv_u64(&t, &b->dropped); break;
		case QMCP_T_TP_FLOWS:
			if (t.len % QMCP_TP_FLOW_LEN) {
				snprintf(errbuf, errlen,
					 "TP_FLOWS of %u bytes: a whole number of 44-byte flows expected",
					 t.len);
				return -EPROTO;
			}
			b->flows = t.val;
			b->nflows = t.len / QMCP_TP_FLOW_LEN;
			break;
		case QMCP_T_TP_RECS:
			if (t.len % QMCP_TP_REC_LEN) {
				snprintf(errbuf, errlen,
					 "TP_RECS of %u bytes: a whole number of 18-byte records expected",
					 t.len);
				return -EPROTO;
			}
			b->recs = t.val;
			b->nrecs = t.len / QMCP_TP_REC_LEN;
			got |= 16;
			break;
		default: break; /* unknown TLVs are skipped */
		}
		if (bad) {
			snprintf(errbuf, errlen, "%s: wrong length %u", qmcp_tlv_name(t.type), t.len);
			return -EPROTO;
		}
	}
	if (rc < 0) {
		snprintf(errbuf, errlen, "TP_RECORDS body is not a TLV sequence");
		return -EPROTO;
	}
	if ((got & 31) != 31) {
		snprintf(errbuf, errlen,
			 "TP_RECORDS needs MEAS_ID, SEQ, TP_BASE_NS, TP_WATERMARK_NS and TP_RECS");
		return -EPROTO;
	}
	for (uint32_t i = 0; i < b->nflows; i++) {
		const uint8_t *p = b->flows + (size_t)i * QMCP_TP_FLOW_LEN;
		if (r32(p) > QMCP_TP_FLOW_ID_MAX || (p[41] != 4 && p[41] != 6)) {
			snprintf(errbuf, errlen, "TP_FLOWS entry %u: id above 2^31 or IP version not 4/6",
				 i);
			return -EPROTO;
		}
	}
	return 0;
}

void qmcp_tp_flow_at(const struct qmcp_tp_batch *b, uint32_t i, uint32_t *id,
		     struct qmcp_tp_key *key)
{
	const uint8_t *p = b->flows + (size_t)i * QMCP_TP_FLOW_LEN;
	*id = r32(p);
	memcpy(key->addr, p + 4, 32);
	key->port[0] = r16(p + 36);
	key->port[1] = r16(p + 38);
	key->proto = p[40];
	key->ipver = p[41];
}

void qmcp_tp_rec_at(const struct qmcp_tp_batch *b, uint32_t i, struct qmcp_tp_rec *r)
{
	const uint8_t *p = b->recs + (size_t)i * QMCP_TP_REC_LEN;
	r->sig = r64(p);
	r->ts_ns = b->base_ns + r32(p + 8);
	r->size = r16(p + 12);
	uint32_t f = r32(p + 14);
	r->flow = f & QMCP_TP_FLOW_ID_MAX;
	r->swapped = (uint8_t)(f >> 31);
}
