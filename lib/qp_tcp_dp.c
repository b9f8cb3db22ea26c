/*
 * qp_tcp_dp: see qp_tcp_dp.h. Sequence numbers compare in serial number
 * arithmetic (RFC 1982), so a flow may wrap its 32-bit space.
 */
#include "qp_tcp_dp.h"

#include <string.h>

static inline int seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline int seq_le(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

static void rtt_sample(struct qp_tcp_dir *d, unsigned int dir, uint64_t rtt,
		       struct qp_tcp_event *ev)
{
	qp_stat_add(&d->rtt, rtt);
	ev->rtt_dir = (int8_t)dir;
	ev->rtt_ns = rtt;
}

/* The segment i places after the oldest remembered. */
static inline struct qp_tcp_seg *seg_at(struct qp_tcp_dir *d, unsigned int i)
{
	return &d->out[(d->out_head + i) & (QP_TCP_OUT - 1)];
}

/*
 * Remember a segment's end for the ACK-based RTT, in a ring in the order
 * sent: the oldest gives way when full, and nothing is copied along.
 */
static void push_out(struct qp_tcp_dir *d, uint32_t start, uint32_t end, uint64_t ts)
{
	if (d->nout == QP_TCP_OUT) {
		d->out_head = (uint8_t)((d->out_head + 1) & (QP_TCP_OUT - 1));
		d->nout--;
	}
	*seg_at(d, d->nout++) = (struct qp_tcp_seg){start, end, ts, 0, 0};
}

void qp_tcp_update(struct qp_tcp_dir dd[2], const struct qp_pkt *pk, unsigned int dir, uint64_t ts,
		   uint64_t ooo_ns, struct qp_tcp_event *ev)
{
	struct qp_tcp_dir *d = &dd[dir], *o = &dd[!dir];
	uint8_t fl = pk->tcp_flags;
	uint32_t seq = pk->tcp_seq, ack = pk->tcp_ack;
	uint32_t seglen = pk->l4_payload_len + ((fl & QP_TCP_SYN) ? 1 : 0) + ((fl & QP_TCP_FIN) ? 1 : 0);

	memset(ev, 0, sizeof(*ev));
	ev->rtt_dir = -1;
	d->flags |= fl;
	/* one test on the common path: most segments carry neither */
	if (__builtin_expect(fl & (QP_TCP_SYN | QP_TCP_FIN), 0)) {
		if ((fl & QP_TCP_SYN) && d->syns < UINT16_MAX)
			d->syns++;
		if ((fl & QP_TCP_FIN) && d->fins < UINT16_MAX)
			d->fins++;
	}
	if (fl & QP_TCP_RST) {
		d->resets++;
		ev->reset = 1;
	}
	if (pk->tcp_win == 0 && !(fl & (QP_TCP_RST | QP_TCP_FIN | QP_TCP_SYN))) {
		d->zero_win++;
		ev->zero_win = 1;
	}

	/* a keep-alive (Wireshark's): at most one byte, one before the next
	 * sequence number */
	int keepalive = (d->st & QP_TCPD_NXT) && seglen <= 1 && seq == d->nxt - 1 &&
			!(fl & (QP_TCP_SYN | QP_TCP_FIN | QP_TCP_RST));
	/* duplicate ACK, checked against the state before this segment; an ACK
	 * answering the other side's keep-alive is a keep-alive ACK, not one */
	if ((fl & QP_TCP_ACK) && (d->st & QP_TCPD_ACK) && seglen == 0 && pk->tcp_win != 0 &&
	    pk->tcp_win == d->win && (d->st & QP_TCPD_NXT) && seq == d->nxt && ack == d->last_ack &&
	    !(fl & (QP_TCP_SYN | QP_TCP_FIN | QP_TCP_RST)) && !(o->st & QP_TCPD_KA)) {
		d->dup_acks++;
		ev->dup_ack = 1;
		if (d->dup_run < UINT8_MAX)
			d->dup_run++;
		d->dup_ms = (uint16_t)(ts / 1000000); /* a division for duplicates only */
	}
	if (keepalive)
		d->st |= QP_TCPD_KA;
	else
		d->st &= (uint8_t)~QP_TCPD_KA;

	if (seglen == 0 && !(d->st & QP_TCPD_NXT)) {
		/* a direction seen only acknowledging so far: its next sequence
		 * number is this one (Wireshark's, for its duplicate ACKs) */
		d->nxt = seq;
		d->nxt_ns = ts;
		d->st |= QP_TCPD_NXT;
	}
	if (seglen > 0) {
		uint32_t end = seq + seglen;
		if (!(d->st & QP_TCPD_NXT)) {
			d->nxt = end;
			d->nxt_ns = ts;
			d->st |= QP_TCPD_NXT;
			push_out(d, seq, end, ts);
		} else if (seq_lt(seq, d->nxt)) {
			if (keepalive) {
				/* its one byte is acknowledged at once: an RTT sample,
				 * as Wireshark takes it */
				push_out(d, seq, end, ts);
			} else {
				uint64_t since = ts > d->nxt_ns ? ts - d->nxt_ns : 0;
				/* data the other side already acknowledged is sent again
				 * (Wireshark's spurious retransmission), however soon */
				int acked = (o->st & QP_TCPD_ACK) && seq_le(end, o->last_ack);
				/* what two duplicate ACKs asked for, within 20 ms of the
				 * latest: Wireshark's fast retransmission */
				int fast = o->dup_run >= 2 && seq == o->last_ack &&
					   (uint16_t)((uint16_t)(ts / 1000000) - o->dup_ms) < 20;
				if (since < ooo_ns && d->nxt != end && !acked && !fast) {
					/* sent once, reordered before the probe: its ACK
					 * is an RTT sample like any first transmission's */
					d->ooo++;
					ev->ooo = 1;
					push_out(d, seq, end, ts);
				} else {
					d->retrans++;
					ev->retrans = 1;
					for (unsigned int i = 0; i < d->nout; i++) {
						struct qp_tcp_seg *x = seg_at(d, i);
						if (!x->done && seq_lt(seq, x->end) &&
						    seq_lt(x->start, end))
							x->tainted = 1;
					}
				}
				if (seq_lt(d->nxt, end)) {
					d->nxt = end;
					d->nxt_ns = ts;
				}
			}
		} else {
			d->nxt = end;
			d->nxt_ns = ts;
			push_out(d, seq, end, ts);
		}
	}

	if (pk->tcp_has_ts) {
		d->st |= QP_TCPD_TS;
		/* an echo of a waiting TSval of the other side answers it; the
		 * older ones waiting will not be echoed any more (an echo is the
		 * latest in-order TSval the other side received) */
		if ((fl & QP_TCP_ACK) && o->ntsv) {
			unsigned int i = 0;
			while (i < o->ntsv && o->tsv_val[i] != pk->tcp_tsecr)
				i++;
			if (i < o->ntsv) {
				if (ts >= o->tsv_ns[i] && (o->st & QP_TCPD_TS))
					rtt_sample(o, !dir, ts - o->tsv_ns[i], ev);
				o->ntsv = (uint8_t)(o->ntsv - i - 1);
				memmove(&o->tsv_val[0], &o->tsv_val[i + 1], sizeof(o->tsv_val[0]) * o->ntsv);
				memmove(&o->tsv_ns[0], &o->tsv_ns[i + 1], sizeof(o->tsv_ns[0]) * o->ntsv);
			}
		}
		/* a new TSval starts a wait; a repeated one keeps the first time */
		if (!(d->st & QP_TCPD_TS_SEEN) || pk->tcp_tsval != d->ts_val) {
			d->ts_val = pk->tcp_tsval;
			d->st |= QP_TCPD_TS_SEEN;
			if (d->ntsv == QP_TCP_TSV) {
				/* the oldest gives way, counted */
				memmove(&d->tsv_val[0], &d->tsv_val[1], sizeof(d->tsv_val[0]) * (QP_TCP_TSV - 1));
				memmove(&d->tsv_ns[0], &d->tsv_ns[1], sizeof(d->tsv_ns[0]) * (QP_TCP_TSV - 1));
				d->ntsv--;
				if (d->tsv_over < UINT16_MAX)
					d->tsv_over++;
			}
			d->tsv_val[d->ntsv] = pk->tcp_tsval;
			d->tsv_ns[d->ntsv] = ts;
			d->ntsv++;
		}
	}

	if (fl & QP_TCP_ACK) {
		/* ACK-based RTT only for flows without timestamps on both sides */
		int ts_flow = (d->st & QP_TCPD_TS) && (o->st & QP_TCPD_TS);
		struct qp_tcp_seg *hit = NULL;
		for (unsigned int i = 0; i < o->nout; i++) {
			struct qp_tcp_seg *s = seg_at(o, i);
			if (s->done || !seq_le(s->end, ack))
				continue;
			/* one sample an ACK: of the latest segment it ends (a
			 * keep-alive or a reordered one may end where another did) */
			if (s->end == ack)
				hit = s;
			s->done = 1; /* acknowledged: forget it */
		}
		/* the places of the acknowledged oldest are free again */
		while (o->nout && seg_at(o, 0)->done) {
			o->out_head = (uint8_t)((o->out_head + 1) & (QP_TCP_OUT - 1));
			o->nout--;
		}
		if (hit && !hit->tainted && !ts_flow && ts >= hit->ns)
			rtt_sample(o, !dir, ts - hit->ns, ev);
		if (!ev->dup_ack && ack != d->last_ack)
			d->dup_run = 0;
		d->last_ack = ack;
		d->win = pk->tcp_win;
		d->st |= QP_TCPD_ACK;
	}
}
