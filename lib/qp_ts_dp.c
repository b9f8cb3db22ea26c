/*
 * qp_ts_dp: MPEG-2 transport stream continuity, sync and PCR figures (see
 * qp_ts_dp.h).
 */
#include "qp_ts_dp.h"

#include <string.h>

int qp_ts_detect(const uint8_t *p, uint32_t cap, uint32_t wire_len)
{
	if (wire_len < QP_TS_PKT || wire_len % QP_TS_PKT || !cap || cap > wire_len)
		return 0;
	for (uint32_t o = 0; o < cap; o += QP_TS_PKT)
		if (p[o] != QP_TS_SYNC)
			return 0;
	return 1;
}

int qp_ts_rtp_payload(const uint8_t *p, uint32_t cap, uint32_t wire_len, int known, uint32_t *pay_wire)
{
	if (cap < 12 || wire_len < cap || (p[0] >> 6) != 2)
		return -1;
	uint32_t hl = 12 + 4u * (p[0] & 0x0f);
	if ((p[0] & 0x10) && hl + 4 <= cap)
		hl += 4 + 4u * ((uint32_t)p[hl + 2] << 8 | p[hl + 3]);
	else if (p[0] & 0x10)
		return -1;
	if (hl >= cap)
		return -1;
	uint32_t w = wire_len - hl;
	if ((p[0] & 0x20) && cap == wire_len) { /* padding, its count in the last byte */
		uint8_t pad = p[cap - 1];
		if (pad > w)
			return -1;
		w -= pad;
	}
	if (known || (p[1] & 0x7f) == 33 || qp_ts_detect(p + hl, cap - hl < w ? cap - hl : w, w)) {
		*pay_wire = w;
		return (int)hl;
	}
	return -1;
}

/* The record of PID pid, taken at its first packet; NULL beyond QP_TS_PIDS. */
static struct qp_ts_pid *pid_of(struct qp_ts *s, uint16_t pid)
{
	if (s->last < s->npids && s->pid[s->last].pid == pid)
		return &s->pid[s->last];
	for (unsigned int i = 0; i < s->npids; i++)
		if (s->pid[i].pid == pid) {
			s->last = (uint8_t)i;
			return &s->pid[i];
		}
	if (s->npids == QP_TS_PIDS)
		return NULL;
	struct qp_ts_pid *r = &s->pid[s->npids];
	memset(r, 0, sizeof(*r));
	r->pid = pid;
	s->last = s->npids++;
	return r;
}

/* One 188-byte packet at p (cap bytes of it captured, at least 4). */
static void packet(struct qp_ts *s, const uint8_t *p, uint32_t cap, uint64_t ts, struct qp_ts_counts *c)
{
	c->packets++;
	if (p[1] & 0x80)
		c->transport_errors++;
	uint16_t pid = (uint16_t)((p[1] & 0x1f) << 8 | p[2]);
	if (pid == QP_TS_PID_NULL) {
		c->null_packets++;
		return;
	}
	struct qp_ts_pid *r = pid_of(s, pid);
	if (!r) {
		c->pids_over++;
		return;
	}
	r->packets++;
	unsigned int afc = (p[3] >> 4) & 3, cc = p[3] & 0x0f;
	/* the adaptation field's flags, when it has any (a length of 0 is one
	 * stuffing byte) */
	unsigned int af = (afc & 2) && cap > 5 && p[4] > 0 ? p[5] : 0;
	if (afc & 1) { /* a payload: the counter goes up */
		if (!(r->st & QP_TS_PID_CC) || (af & 0x80)) {
			if ((af & 0x80) && (r->st & QP_TS_PID_CC))
				c->discontinuities++;
			r->st = (uint8_t)((r->st & ~QP_TS_PID_DUP) | QP_TS_PID_CC);
		} else if (cc == r->cc) {
			if (r->st & QP_TS_PID_DUP) { /* a third copy */
				c->cc_errors++;
				r->cc_errors++;
			} else {
				c->duplicates++;
				r->st |= QP_TS_PID_DUP;
			}
		} else {
			if (cc != ((r->cc + 1u) & 0x0f)) {
				uint32_t skipped = (cc - r->cc - 1u) & 0x0f;
				c->cc_errors++;
				c->lost += skipped;
				r->cc_errors++;
				r->lost += skipped;
			}
			r->st &= (uint8_t)~QP_TS_PID_DUP;
		}
		r->cc = (uint8_t)cc;
	}
	/* a PCR: 6 bytes after the flags, inside the field's length */
	if ((af & 0x10) && p[4] >= 7 && cap >= 12) {
		if (r->st & QP_TS_PID_PCR) {
			uint64_t d = ts > r->pcr_ns ? ts - r->pcr_ns : 0;
			r->pcr_n++;
			r->pcr_iat_sum += d;
			uint32_t d32 = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
			if (d32 > r->pcr_iat_max)
				r->pcr_iat_max = d32;
			if (d > QP_TS_PCR_LATE_NS) {
				c->pcr_repetition_errors++;
				r->pcr_repetition_errors++;
			}
		}
		r->pcr_ns = ts;
		r->st |= QP_TS_PID_PCR;
	}
}

void qp_ts_update(struct qp_ts *s, const uint8_t *p, uint32_t cap, uint32_t wire_len, uint64_t ts,
		  struct qp_ts_event *ev)
{
	struct qp_ts_counts *c = &ev->c;
	memset(c, 0, sizeof(*c));
	if (cap > wire_len)
		cap = wire_len;
	uint32_t o = 0;
	while (o < cap) {
		if (p[o] != QP_TS_SYNC) {
			/* the next sync byte that another follows a packet later,
			 * or that begins the datagram's last packet */
			c->sync_errors++;
			uint32_t n = o + 1;
			while (n < cap && !(p[n] == QP_TS_SYNC &&
					    (n + QP_TS_PKT == wire_len ||
					     (n + QP_TS_PKT < cap && p[n + QP_TS_PKT] == QP_TS_SYNC))))
				n++;
			c->sync_skipped_bytes += n - o;
			o = n;
			continue;
		}
		if (wire_len - o < QP_TS_PKT) { /* a tail on the wire, not a packet */
			c->partial++;
			break;
		}
		if (cap - o < 4) /* the capture ends inside the header */
			break;
		packet(s, p + o, cap - o < QP_TS_PKT ? cap - o : QP_TS_PKT, ts, c);
		o += QP_TS_PKT;
	}
#define QP_TS_ACC_(n, h) s->c.n += c->n;
	QP_TS_COUNTS(QP_TS_ACC_)
#undef QP_TS_ACC_
}

void qp_ts_init(struct qp_ts *s, int over_rtp)
{
	memset(s, 0, sizeof(*s));
	s->over_rtp = (uint8_t)!!over_rtp;
}

void qp_ts_restart(struct qp_ts *s)
{
	memset(&s->c, 0, sizeof(s->c));
	for (unsigned int i = 0; i < s->npids; i++) {
		struct qp_ts_pid *r = &s->pid[i];
		r->packets = r->pcr_iat_sum = 0;
		r->pcr_iat_max = r->pcr_n = r->cc_errors = r->lost = r->pcr_repetition_errors = 0;
	}
}
