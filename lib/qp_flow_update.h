/*
 * qp_flow_update: what one packet does to its flow and to the accounts of a
 * measurement it belongs to, shared by the two packet paths: a
 * measurement's table of its own (qp_worker_dp.c) and a table shared by
 * the measurements of an lcore (qp_group_dp.c). The flow's analysis (TCP,
 * RTP, inter-arrival, echo) is done once per packet (qp_flow_update); each
 * measurement the packet counts for then takes the result into its
 * counters and interval slot (qp_flow_account).
 *
 * Private to those two files: called by the worker that owns the table and
 * the struct qp_worker.
 */
#ifndef QP_FLOW_UPDATE_H
#define QP_FLOW_UPDATE_H

#include <stddef.h>
#include <string.h>

#include "qp_flow_table.h"
#include "qp_worker_dp.h"
#include "qp_sig.h"

/* The interval slot for a packet at ts; timestamps never move it back.
 * Before the first packet cur_iv_end is 0: one test a packet. */
static inline struct qp_interval_acc *qp_interval_for(struct qp_worker *w,
						   const struct qp_measure_cfg *cfg, uint64_t ts)
{
	if (__builtin_expect(ts >= w->cur_iv_end, 0)) {
		uint64_t iv = ts > cfg->base_ns ? (ts - cfg->base_ns) / cfg->interval_ns : 0;
		if (!w->have_iv || iv > w->cur_iv) {
			struct qp_interval_acc *a = &w->iv[iv & (QP_IV_SLOTS - 1)];
			/* a reader copying the slot must see that it is being
			 * rewritten (a seqlock: the mark lands before the zeroing,
			 * the new number after it) */
			__atomic_store_n(&a->iv, QP_IV_REWRITING, __ATOMIC_RELAXED);
			__atomic_thread_fence(__ATOMIC_RELEASE);
			memset(&a->pkts, 0,
			       offsetof(struct qp_interval_acc, rtp_streams) -
				       offsetof(struct qp_interval_acc, pkts));
			__atomic_store_n(&a->iv, iv, __ATOMIC_RELEASE);
			w->cur_iv = iv;
			w->cur_iv_end = cfg->base_ns + (iv + 1) * cfg->interval_ns;
			w->cur_acc = a;
			w->have_iv = 1;
		}
	}
	return w->cur_acc;
}

/* Add one RTP packet to its stream's entry (the flow's stream k) in the interval slot a. */
static inline void qp_interval_rtp_stream(struct qp_interval_acc *a, struct qp_flow *fl,
				       unsigned int k, const struct qp_rtp_event *ev)
{
	struct qp_flow_cold *c = fl->cold; /* attached: the packet is RTP */
	const struct qp_rtp_dir *r = &c->rtp[k];
	struct qp_iv_rtp *s;
	/* where the stream's previous packet found its entry (rtp: 25
	 * instructions a packet to find it again in the slot's index) */
	if (c->iv_acc == a && c->iv_num == a->iv && c->iv_idx[k]) {
		if (c->iv_idx[k] == UINT16_MAX)
			return; /* not itemised: counted in rtp_streams_over */
		s = &a->rtp_streams[c->iv_idx[k] - 1];
		goto add;
	}
	unsigned int dir = c->rtp_dir[k];
	_Static_assert(QP_FLOW_RTP <= 8, "a flow's streams in three bits");
	uint32_t h = ((c->inc * 8 + k) * 2654435761u) >> 22;
	_Static_assert(QP_IV_RTP_INDEX == 1u << 10, "the hash's top 10 bits");
	_Static_assert(QP_IV_RTP_STREAMS < UINT16_MAX, "an entry's index + 1 in 16 bits");
	struct qp_iv_rtp_slot *x;
	for (;; h = (h + 1) & (QP_IV_RTP_INDEX - 1)) {
		x = &a->rtp_index[h];
		if (!x->used)
			break;
		if (x->inc == c->inc && x->k == k)
			goto found;
	}
	if (a->rtp_known >= QP_IV_RTP_KNOWN) {
		/* as many streams as the index tells apart: more are counted at
		 * each packet */
		a->rtp_streams_over++;
		return;
	}
	a->rtp_known++;
	x->used = 1;
	x->inc = c->inc;
	x->k = (uint8_t)k;
	if (a->rtp_nstreams >= QP_IV_RTP_STREAMS) {
		x->idx = UINT16_MAX;
		a->rtp_streams_over++;
		return;
	}
	x->idx = (uint16_t)a->rtp_nstreams;
	s = &a->rtp_streams[a->rtp_nstreams];
	memset(s, 0, sizeof(*s));
	s->key = fl->key;
	s->init_swapped = fl->init_swapped;
	s->dir = (uint8_t)dir;
	s->flow_inc = c->inc;
	s->pt = r->pt;
	s->ssrc = r->ssrc;
	s->clock_hz = r->clock_hz;
	/* the entry is complete before the count that publishes it */
	__atomic_store_n(&a->rtp_nstreams, a->rtp_nstreams + 1, __ATOMIC_RELEASE);
found:
	if (c->iv_acc != a || c->iv_num != a->iv) {
		c->iv_acc = a;
		c->iv_num = a->iv;
		memset(c->iv_idx, 0, sizeof(c->iv_idx));
	}
	/* UINT16_MAX: beyond the streams itemised, counted once */
	c->iv_idx[k] = x->idx == UINT16_MAX ? UINT16_MAX : (uint16_t)(x->idx + 1);
	if (x->idx == UINT16_MAX)
		return; /* counted in rtp_streams_over */
	s = &a->rtp_streams[x->idx];
add:
	s->received += ev->received;
	s->expected += ev->expected;
	if (ev->jitter_n) {
		s->jitter_last = r->jitter;
		s->jitter_sum += ev->jitter_sum;
		s->jitter_n += ev->jitter_n;
		if (ev->jitter_max > s->jitter_max)
			s->jitter_max = ev->jitter_max;
	}
}

/* TCP: who opened the flow, and the two halves of the handshake. */
static inline void qp_flow_handshake(struct qp_flow *f, struct qp_flow_cold *c,
				     const struct qp_pkt *pk, unsigned int *dir, uint64_t ts)
{
	uint8_t fl = pk->tcp_flags & (QP_TCP_SYN | QP_TCP_ACK | QP_TCP_RST);
	if (fl == QP_TCP_SYN) {
		if (*dir == 1 && !(f->tcp_state & QP_TCP_ST_SYN)) {
			/* the SYN's sender is the flow's source, whoever was
			 * seen first: turn the flow round */
			uint64_t p = f->pkts[0], b = f->bytes[0];
			f->pkts[0] = f->pkts[1];
			f->bytes[0] = f->bytes[1];
			f->pkts[1] = p;
			f->bytes[1] = b;
			struct qp_tcp_dir t = c->tcp[0];
			c->tcp[0] = c->tcp[1];
			c->tcp[1] = t;
			if (c->hist && f->hist_live == 1)
				qp_hist_counts_swap(&c->hist[0], &c->hist[1]);
			if (f->app == QP_APP_DNS)
				qp_dns_swap(&c->app->dns, c->app->dns_tcp);
			if (f->app == QP_APP_TLS || f->app == QP_APP_TLS_DONE)
				c->app->tls.client_dir ^= 1;
			f->init_swapped ^= 1;
			*dir = 0;
		}
		if (*dir == 0 && !(f->tcp_state & QP_TCP_ST_ACK)) {
			/* the latest SYN is the one the next SYN/ACK answers */
			f->tcp_state |= QP_TCP_ST_SYN;
			f->syn_ns = ts;
			f->syn_seq = pk->tcp_seq;
		}
		return;
	}
	if (fl == (QP_TCP_SYN | QP_TCP_ACK)) {
		/* the latest SYN/ACK before the completing ACK, and the latest SYN
		 * before it: a retransmission of either starts the halves again
		 * (Wireshark's initial RTT runs from its most recent SYN) */
		if (*dir == 1 && (f->tcp_state & (QP_TCP_ST_SYN | QP_TCP_ST_ACK)) == QP_TCP_ST_SYN &&
		    pk->tcp_ack == f->syn_seq + 1) {
			f->tcp_state |= QP_TCP_ST_SYNACK;
			f->synack_ns = ts;
			f->synack_seq = pk->tcp_seq;
			if (ts >= f->syn_ns)
				f->hs_rtt_ns = (int64_t)(ts - f->syn_ns);
		}
		return;
	}
	if (fl == QP_TCP_ACK && *dir == 0 &&
	    (f->tcp_state & (QP_TCP_ST_SYNACK | QP_TCP_ST_ACK)) == QP_TCP_ST_SYNACK &&
	    pk->tcp_ack == f->synack_seq + 1) {
		f->tcp_state |= QP_TCP_ST_ACK;
		if (ts >= f->synack_ns)
			f->hs_ack_rtt_ns = (int64_t)(ts - f->synack_ns);
	}
}

/* A new record's source: the first packet's sender, or a SYN/ACK's receiver. */
static inline void qp_flow_orient(struct qp_flow *fl, const struct qp_pkt *p)
{
	fl->init_swapped = p->swapped;
	if (p->key.proto == 6 && p->l4_hdr_ok &&
	    (p->tcp_flags & (QP_TCP_SYN | QP_TCP_ACK)) == (QP_TCP_SYN | QP_TCP_ACK))
		fl->init_swapped ^= 1;
}


/*
 * The flow's timeouts, honoured to the packet at ts whenever the expiry walk
 * last passed its bucket: past the idle timeout the record ends and a new
 * one starts from scratch (from this packet's direction); past the active
 * timeout it ends and the next continues.
 */
static inline void qp_flow_timeouts(struct qp_flow_table *t, struct qp_flow *fl,
				    const struct qp_measure_cfg *cfg, const struct qp_pkt *p,
				    uint64_t ts, qp_flow_export_fn *fn, void *arg)
{
	if (ts > fl->last_ns && fl->last_ns && ts - fl->last_ns >= cfg->idle_ns) {
		qp_flow_table_restart(t, fl, QP_FLOW_END_IDLE, fn, arg);
		qp_flow_orient(fl, p);
	} else if (cfg->active_ns && fl->first_ns && ts > fl->first_ns &&
		   ts - fl->first_ns >= cfg->active_ns) {
		qp_flow_table_restart(t, fl, QP_FLOW_END_ACTIVE, fn, arg);
	}
}

/* The media SIP announced for either endpoint of a flow's key. */
static inline int qp_flow_sdp(const struct qp_sdp_table *sdp, const struct qp_flow_key *k,
			      uint64_t ts, struct qp_sdp_map *map)
{
	if (!qp_sdp_table_announced(sdp))
		return 0;
	return qp_sdp_table_get(sdp, k->ipver, k->addr[0], k->port[0], ts, map) ||
	       qp_sdp_table_get(sdp, k->ipver, k->addr[1], k->port[1], ts, map);
}

/* A SIP message (UDP or TCP port 5060) announcing media: into the probe's table. */
static inline void qp_flow_sip(struct qp_sdp_table *sdp, const struct qp_pkt *p,
			       const uint8_t *payload, uint32_t cap, uint64_t ts)
{
	if (!sdp || !payload || (p->key.port[0] != 5060 && p->key.port[1] != 5060))
		return;
	struct qp_sdp_media m[QP_SDP_MEDIA];
	int n = qp_sdp_parse(payload, cap, m);
	for (int i = 0; i < n; i++)
		qp_sdp_table_put(sdp, &m[i], ts);
}

/*
 * A UDP payload with RTP's version bits through the flow's RTP state: the
 * stream of its direction and SSRC, or a free slot, or the least advanced
 * candidate's; with every slot a stream, the packet is counted, not
 * itemised (rtp_over). RTP state takes a cold block once a packet makes a
 * direction a candidate, not for every payload that looks like RTP.
 * @return the stream the packet went to (its figures in ev).
 */
static inline unsigned int qp_flow_rtp(struct qp_flow_table *t, struct qp_flow *fl,
				       const struct qp_pkt *p, unsigned int dir, int ports,
				       uint64_t ts, const struct qp_rtp_cfg *rc,
				       struct qp_rtp_event *ev)
{
	const uint8_t *u = p->udp_payload;
	uint32_t ssrc = (uint32_t)u[8] << 24 | (uint32_t)u[9] << 16 | (uint32_t)u[10] << 8 | u[11];
	struct qp_flow_cold *c = fl->cold;
	struct qp_rtp_cfg sc;
	if (!c) {
		/* an endpoint SIP announced: its clocks, and a stream at once */
		struct qp_sdp_map map;
		int found = rc->sdp && qp_flow_sdp(rc->sdp, &p->key, ts, &map);
		if (found) {
			sc = *rc;
			sc.map = &map;
			rc = &sc;
		}
		struct qp_rtp_dir s;
		memset(&s, 0, sizeof(s));
		qp_rtp_update(&s, u, p->udp_payload_cap, ports || found, ts, rc, ev);
		if (s.state) {
			c = qp_flow_table_rtp_attach(t, fl);
			c->rtp[0] = s;
			c->rtp_dir[0] = (uint8_t)dir;
			c->sdp_found = (uint8_t)found;
			if (found)
				c->sdp = map;
		}
		return 0;
	}
	if (c->sdp_found) {
		sc = *rc;
		sc.map = &c->sdp;
		rc = &sc;
		ports = 1;
	}
	unsigned int k = c->rtp_last, free_k = QP_FLOW_RTP, cand = QP_FLOW_RTP;
	if (c->rtp[k].state && c->rtp_dir[k] == dir && c->rtp[k].ssrc == ssrc)
		goto update; /* most packets: the stream of the one before */
	for (k = 0; k < QP_FLOW_RTP; k++) {
		const struct qp_rtp_dir *r = &c->rtp[k];
		if (r->state == 0) {
			if (free_k == QP_FLOW_RTP)
				free_k = k;
			continue;
		}
		if (c->rtp_dir[k] == dir && r->ssrc == ssrc)
			break;
		if (r->state == 1 && (cand == QP_FLOW_RTP || r->probation < c->rtp[cand].probation))
			cand = k;
	}
	if (k == QP_FLOW_RTP) {
		k = free_k != QP_FLOW_RTP ? free_k : cand;
		if (k == QP_FLOW_RTP) {
			c->rtp_over++;
			memset(ev, 0, sizeof(*ev));
			return 0;
		}
		memset(&c->rtp[k], 0, sizeof(c->rtp[k]));
		c->rtp_dir[k] = (uint8_t)dir;
	}
update:
	c->rtp_last = (uint8_t)k;
	qp_rtp_update(&c->rtp[k], u, p->udp_payload_cap, ports, ts, rc, ev);
	return k;
}

/* What one packet did to its flow, for the measurements it counts for. */
/* qp_flow_ev.ev bits */
#define QP_EV_TCP 0x01  /* TCP analysis ran: e->tcp */
#define QP_EV_RTP 0x02  /* an RTP packet counted: e->rtp, e->rtp_k */
#define QP_EV_ECHO 0x04 /* an echo RTT sample: e->echo_* */
#define QP_EV_DNS 0x08  /* DNS analysis ran: e->dns */
#define QP_EV_QUIC 0x10 /* QUIC analysis ran: e->quic */
#define QP_EV_TLS 0x20  /* TLS analysis ran: e->tls */
#define QP_EV_TS 0x40   /* transport stream packets: e->ts */

struct qp_flow_ev {
	unsigned int dir; /* 0 fwd, 1 rev: of the flow after the packet */
	uint8_t ev; /* QP_EV_*: what the packet's analysis found (0: a count only) */
	uint8_t ip_len_over; /* TCP: the IP length said more than the frame holds */
	uint8_t rtp_k;       /* RTP: the flow's stream the packet went to */
	unsigned int echo_dir;
	uint64_t echo_rtt;
	struct qp_tls_event tls;
	struct qp_quic_event quic;
	struct qp_tcp_event tcp;
	struct qp_rtp_event rtp;
	struct qp_dns_event dns;
	struct qp_ts_event ts;
};

/* A QUIC datagram through the flow's state (made the flow's at its first). */
static inline void qp_flow_quic(struct qp_flow_table *t, struct qp_flow *fl, const struct qp_pkt *p,
				unsigned int dir, uint64_t ts, struct qp_flow_ev *e)
{
	struct qp_flow_cold *c;
	if (fl->app == QP_APP_QUIC) {
		c = fl->cold;
	} else {
		c = qp_flow_table_cold_part(t, fl, sizeof(c->quic));
		qp_quic_init(&c->quic);
		fl->app = QP_APP_QUIC;
	}
	e->ev |= QP_EV_QUIC;
	qp_quic_update(&c->quic, p->udp_payload, p->udp_payload_cap, dir, ts, &e->quic);
	if (e->quic.rtt_dir >= 0) {
		struct qp_hist_counts *h = qp_flow_table_hist_of(t, fl);
		if (h)
			qp_hist_counts_add(&h[e->quic.rtt_dir], e->quic.rtt_ns);
	}
}

/* The DNS state of UDP flow fl: the cold block's, made the flow's at its first use. */
static inline struct qp_dns *qp_flow_dns_udp(struct qp_flow_table *t, struct qp_flow *fl)
{
	if (fl->app == QP_APP_DNS)
		return &fl->cold->dns;
	/* the DNS state's lines only, not the whole block */
	struct qp_flow_cold *c = qp_flow_table_cold_part(t, fl, sizeof(c->dns));
	memset(&c->dns, 0, sizeof(c->dns));
	fl->app = QP_APP_DNS;
	return &c->dns;
}

/* A DNS message over UDP, or a segment of a DNS connection (d, s: its state). */
static inline void qp_flow_dns(struct qp_flow_table *t, struct qp_flow *fl, struct qp_dns *d,
			       struct qp_dns_stream *s, const struct qp_pkt *p,
			       const uint8_t *pay, uint32_t cap,
			       unsigned int dir, uint64_t ts, struct qp_flow_ev *e)
{
	e->ev |= QP_EV_DNS;
	qp_dns_event_clear(&e->dns);
	qp_dns_expire(d, ts, &e->dns);
	if (p->key.proto == 17) {
		qp_dns_message(d, pay, cap, dir, ts, &e->dns);
		/* beyond its first samples, kept exactly, a flow takes a
		 * distribution (UDP has no other use for it): most DNS flows
		 * ask once or twice and never touch one */
		if (e->dns.nrt && d->rt.n > QP_DNS_KEEP) {
			struct qp_hist_counts *h = qp_flow_table_hist_of(t, fl);
			if (h && d->rt.n == QP_DNS_KEEP + 1)
				for (int i = 0; i < QP_DNS_KEEP; i++)
					qp_hist_counts_add(&h[0], qp_ns32_dec(d->keep[i]));
			if (h)
				qp_hist_counts_add(&h[0], e->dns.rt[0]);
		}
	} else {
		qp_dns_tcp(d, s, pay, cap, p->l4_payload_len, p->tcp_seq, !!(p->tcp_flags & QP_TCP_SYN),
			   dir, ts, &e->dns);
	}
}

/* The transport stream packets of a datagram (or of its RTP payload). */
static inline void qp_flow_ts(struct qp_flow_table *t, struct qp_flow *fl, const uint8_t *pay,
			      uint32_t cap, uint32_t wire, int over_rtp, uint64_t ts, struct qp_flow_ev *e)
{
	int found = fl->app != QP_APP_TS;
	struct qp_flow_app *app = qp_flow_table_app(t, fl, QP_APP_TS);
	if (!app)
		return;
	if (found)
		qp_ts_init(&app->ts, over_rtp);
	qp_ts_update(&app->ts, pay, cap, wire, ts, &e->ts);
	e->ev |= QP_EV_TS;
}

/*
 * A UDP packet's analysis: DNS on a DNS port (the ports are looked at once a
 * flow), QUIC from its first long header, else RTP, and inter-arrival times.
 */
static inline __attribute__((always_inline)) void qp_flow_udp(struct qp_flow_table *t, struct qp_flow *fl,
							       const struct qp_measure_cfg *cfg,
							       const struct qp_pkt *p, unsigned int dir, uint64_t ts,
							       struct qp_flow_ev *e)
{
	if (__builtin_expect(!fl->udp_class, 0))
		fl->udp_class = QP_UDP_KNOWN |
				(!(cfg->metrics_off & QP_METRICS_DNS) &&
						 qp_dns_port(cfg->dns_ports, p->key.port[0], p->key.port[1])
					 ? QP_UDP_DNS
					 : 0) |
				(p->key.port[0] == 5060 || p->key.port[1] == 5060 ? QP_UDP_SIP : 0);
	const uint8_t *pay = p->udp_payload;
	uint32_t cap = p->udp_payload_cap;
	/* most UDP: a flow of no application yet, not on a DNS or SIP port,
	 * whose payload cannot begin a transport stream (0x47), RTP (version
	 * 2: 0x80-0xbf) or a QUIC long header (0xc0-): only its arrival times,
	 * whatever the branches below would have looked at (udp64-100k: 27
	 * instructions a frame less) */
	unsigned int b0 = cap ? pay[0] : 0; /* a UDP header whole: pay is set */
	int no_app = fl->app == QP_APP_NONE && !(fl->udp_class & (QP_UDP_DNS | QP_UDP_SIP));
	if (__builtin_expect(no_app && b0 < 0x80 && b0 != QP_TS_SYNC, 1)) {
		if (!(cfg->metrics_off & QP_METRICS_RTP))
			qp_iat_add(&fl->iat, dir, ts);
		return;
	}
	/* an RTP stream's next packet in sequence, the stream of the flow's
	 * packet before (most of a call's packets): a flow with RTP state and
	 * no other application, past the packets a transport stream over RTP
	 * is looked for in, straight to its stream; what the checks below
	 * would have come to for it (rtp: 582 -> 529 instructions a frame) */
	struct qp_flow_cold *rc0 = fl->cold;
	if (no_app && b0 == 0x80 && rc0 && cap >= 12 && !(cfg->metrics_off & QP_METRICS_RTP) &&
	    fl->pkts[0] + fl->pkts[1] >= 8) {
		unsigned int k = rc0->rtp_last;
		struct qp_rtp_dir *r = &rc0->rtp[k];
		if (r->state == 2 && rc0->rtp_dir[k] == dir && qp_rtp_next(r, pay, ts, &e->rtp)) {
			e->rtp_k = (uint8_t)k;
			e->ev |= QP_EV_RTP;
			qp_iat_add(&fl->iat, dir, ts);
			return;
		}
	}
	if ((fl->udp_class & QP_UDP_DNS) && pay) {
		qp_flow_dns(t, fl, qp_flow_dns_udp(t, fl), NULL, p, pay, cap, dir, ts, e);
		if (!(cfg->metrics_off & QP_METRICS_RTP))
			qp_iat_add(&fl->iat, dir, ts);
	} else if (fl->app == QP_APP_TS ? !fl->cold->app->ts.over_rtp && pay
					: __builtin_expect(pay && pay[0] == QP_TS_SYNC, 0) && fl->app == QP_APP_NONE &&
						  !(cfg->metrics_off & QP_METRICS_MPEGTS) &&
						  qp_ts_detect(pay, cap, p->l4_payload_len)) {
		/* a transport stream straight over UDP */
		qp_flow_ts(t, fl, pay, cap, p->l4_payload_len, 0, ts, e);
		if (!(cfg->metrics_off & QP_METRICS_RTP))
			qp_iat_add(&fl->iat, dir, ts);
	} else if ((fl->app == QP_APP_QUIC ||
		    /* a long header's two first bits (never RTP's version 2) before the call */
		    ((b0 & 0xC0) == 0xC0 && !fl->cold && qp_quic_detect(pay, cap))) &&
		   !(cfg->metrics_off & QP_METRICS_QUIC) && cap) {
		/* QUIC (a flow whose RTP state began first stays RTP) */
		qp_flow_quic(t, fl, p, dir, ts, e);
		if (!(cfg->metrics_off & QP_METRICS_RTP))
			qp_iat_add(&fl->iat, dir, ts);
	} else if (!(cfg->metrics_off & QP_METRICS_RTP)) {
		const struct qp_rtp_cfg *rc = &cfg->rtp;
		/* most UDP is not RTP: no call for a payload without RTP's
		 * version bits on a flow that is not a stream (what
		 * qp_rtp_update() itself returns at once for) */
		if (__builtin_expect(fl->udp_class & QP_UDP_SIP, 0))
			qp_flow_sip(rc->sdp, p, pay, cap, ts);
		if (cap >= 12 && (b0 >> 6) == 2) {
			int ports = rc->port_hi &&
				    ((p->key.port[0] >= rc->port_lo && p->key.port[0] <= rc->port_hi) ||
				     (p->key.port[1] >= rc->port_lo && p->key.port[1] <= rc->port_hi));
			e->rtp_k = qp_flow_rtp(t, fl, p, dir, ports, ts, rc, &e->rtp);
			if (e->rtp.expected || e->rtp.received || e->rtp.has_jitter)
				e->ev |= QP_EV_RTP;
			/* a transport stream over RTP (RFC 2250): type 33, or its
			 * packets' look right after a header of 12 bytes (a
			 * dynamic type with CSRCs or an extension: not looked for),
			 * among a flow's first 8 packets */
			if (fl->app == QP_APP_TS ||
			    (__builtin_expect(fl->pkts[0] + fl->pkts[1] < 8, 0) && fl->app == QP_APP_NONE &&
			     ((pay[1] & 0x7f) == 33 || (cap > 12 && pay[12] == QP_TS_SYNC)) &&
			     !(cfg->metrics_off & QP_METRICS_MPEGTS))) {
				uint32_t w;
				int off = qp_ts_rtp_payload(pay, cap, p->l4_payload_len, fl->app == QP_APP_TS, &w);
				if (off >= 0)
					qp_flow_ts(t, fl, pay + off, cap - (uint32_t)off, w, 1, ts, e);
			}
		}
		qp_iat_add(&fl->iat, dir, ts);
	}
}

/*
 * The packet p (frame f, at f->ts_ns) through its flow fl: the analysis its
 * protocol has under cfg, the flow's counters and its RTT distribution.
 */
static inline __attribute__((always_inline)) void qp_flow_update(struct qp_flow_table *t, struct qp_flow *fl,
				  const struct qp_measure_cfg *cfg, const struct qp_pkt *p,
				  const struct qp_frame *f, struct qp_flow_ev *e)
{
	uint64_t ts = f->ts_ns;
	unsigned int dir = p->swapped ^ fl->init_swapped;
	e->ev = 0;
	if (p->key.proto == 6 && p->l4_hdr_ok && p->frag != QP_FRAG_LATER &&
	    !(cfg->metrics_off & QP_METRICS_TCP)) {
		e->ev = QP_EV_TCP;
		e->ip_len_over = 0;
		/* an IP length beyond the frame on the wire (offloads on the
		 * capturing host, a broken sender) is not the segment's: what
		 * the frame holds is (a capture's cut is not the wire's) */
		struct qp_pkt cut;
		/* one compare a segment: the parse says where the datagram ends
		 * (18 instructions a segment for the lengths, imix-tcp) */
		if (__builtin_expect(p->ip_end > f->wirelen, 0)) {
			uint32_t at = (uint32_t)(p->ip_hdr - f->data) + p->l4_off;
			uint32_t ip_l4 = p->ip_end - at;
			uint32_t wire_l4 = f->wirelen > at ? f->wirelen - at : 0;
			cut = *p;
			uint32_t over = ip_l4 - wire_l4;
			cut.l4_payload_len = p->l4_payload_len > over ? p->l4_payload_len - over : 0;
			p = &cut;
			e->ip_len_over = 1;
		}
		/* the ports once a flow (a loop over the DNS ports a segment
		 * cost 15 instructions, imix-tcp) */
		if (__builtin_expect(!(fl->tcp_state & QP_TCP_PORTS), 0))
			fl->tcp_state |= QP_TCP_PORTS |
					 (qp_dns_port(cfg->dns_ports, p->key.port[0], p->key.port[1]) ? QP_TCP_DNS : 0) |
					 (p->key.port[0] == 5060 || p->key.port[1] == 5060 ? QP_TCP_SIP : 0);
		if (__builtin_expect(fl->tcp_state & QP_TCP_SIP, 0) &&
		    !(cfg->metrics_off & QP_METRICS_RTP) && p->l4_payload_len) {
			/* SIP over TCP: a message whole in its segment */
			const uint8_t *l4 = p->ip_hdr + p->l4_off;
			uint32_t hl = (uint32_t)(l4[12] >> 4) * 4, l4cap = p->ip_cap - p->l4_off;
			if (l4cap > hl)
				qp_flow_sip(cfg->rtp.sdp, p, l4 + hl, l4cap - hl, ts);
		}
		struct qp_flow_cold *c = qp_flow_table_tcp_cold(t, fl);
		qp_flow_handshake(fl, c, p, &dir, ts);
		/* Wireshark's out-of-order window: the initial RTT */
		uint64_t ooo = (fl->hs_rtt_ns >= 0 && fl->hs_ack_rtt_ns >= 0)
				       ? (uint64_t)(fl->hs_rtt_ns + fl->hs_ack_rtt_ns)
				       : 3000000;
		qp_tcp_update(c->tcp, p, dir, ts, ooo, &e->tcp);
		if (e->tcp.rtt_dir >= 0) {
			struct qp_hist_counts *h = qp_flow_table_hist_of(t, fl);
			if (h)
				qp_hist_counts_add(&h[e->tcp.rtt_dir], e->tcp.rtt_ns);
		}
		if (__builtin_expect(fl->app == QP_APP_DNS ||
					     (fl->app == QP_APP_NONE && (fl->tcp_state & QP_TCP_DNS)),
				     0) &&
		    !(cfg->metrics_off & QP_METRICS_DNS)) {
			struct qp_flow_app *app = qp_flow_table_app(t, fl, QP_APP_DNS);
			if (app) {
				const uint8_t *l4 = p->ip_hdr + p->l4_off;
				uint32_t hl = (uint32_t)(l4[12] >> 4) * 4, l4cap = p->ip_cap - p->l4_off;
				qp_flow_dns(t, fl, &app->dns, app->dns_tcp, p, l4 + hl, l4cap > hl ? l4cap - hl : 0, dir,
					    ts, e);
			}
		} else if (p->l4_payload_len && !(cfg->metrics_off & QP_METRICS_TLS) &&
			   (fl->app == QP_APP_TLS || (fl->app == QP_APP_NONE && fl->pkts[dir] < 8))) {
			/* TLS: a ClientHello among a side's first packets */
			const uint8_t *l4 = p->ip_hdr + p->l4_off;
			uint32_t hl = (uint32_t)(l4[12] >> 4) * 4, l4cap = p->ip_cap - p->l4_off;
			const uint8_t *pay = l4 + hl;
			uint32_t cap = l4cap > hl ? l4cap - hl : 0;
			if (fl->app == QP_APP_TLS || qp_tls_detect(pay, cap)) {
				struct qp_flow_app *app = qp_flow_table_app(t, fl, QP_APP_TLS);
				if (app) {
					e->ev |= QP_EV_TLS;
					qp_tls_update(&app->tls, pay, cap, p->l4_payload_len, p->tcp_seq, dir,
						      ts, cfg->tls_sni, &e->tls);
					/* nothing more to learn: the flow's packets leave the
					 * block alone (a cache line less a packet) */
					if (app->tls.st & (QP_TLS_ST_DATA | QP_TLS_ST_LOST))
						fl->app = QP_APP_TLS_DONE;
				}
			}
		}
	} else if (p->key.proto == 17 && p->l4_hdr_ok && p->frag != QP_FRAG_LATER) {
		qp_flow_udp(t, fl, cfg, p, dir, ts, e);
	} else if ((p->key.proto == 1 || p->key.proto == 58) && p->l4_hdr_ok &&
		   !(cfg->metrics_off & QP_METRICS_ICMP) && p->frag != QP_FRAG_LATER) {
		uint64_t rtt;
		unsigned int rd;
		qp_iat_add(&fl->iat, dir, ts);
		if (qp_echo_update(&qp_flow_table_cold(t, fl)->echo, p, dir, ts, &rtt, &rd)) {
			e->ev |= QP_EV_ECHO;
			e->echo_rtt = rtt;
			e->echo_dir = rd;
		}
	}
	if (!fl->first_ns)
		fl->first_ns = ts ? ts : 1;
	if (ts > fl->last_ns)
		fl->last_ns = ts;
	fl->pkts[dir]++;
	fl->bytes[dir] += f->wirelen;
	if (f->wirelen < fl->size_min)
		fl->size_min = f->wirelen;
	if (f->wirelen > fl->size_max)
		fl->size_max = f->wirelen;
	e->dir = dir;
}

/* 1 when the packet's result has more than a count for the measurements (qp_flow_account_events). */
static inline int qp_flow_ev_events(const struct qp_pkt *p, const struct qp_flow_ev *e)
{
	unsigned int ev = e->ev;
	return ev && (((ev & QP_EV_TCP) && (p->tcp_opt_bad || e->ip_len_over || e->tcp.rtt_dir >= 0 ||
					    qp_tcp_event_any(&e->tcp))) ||
		      (ev & (QP_EV_ECHO | QP_EV_RTP | QP_EV_DNS | QP_EV_TS)) ||
		      ((ev & QP_EV_QUIC) &&
		       (e->quic.edge_kept | e->quic.edge_discarded | e->quic.handshake)) ||
		      ((ev & QP_EV_TLS) && (e->tls.hello | e->tls.data)));
}

/* What the packet's result (e, from qp_flow_update) adds to measurement w beyond its count. */
static inline void qp_flow_account_events(struct qp_worker *w, struct qp_interval_acc *a,
					  struct qp_flow *fl, const struct qp_pkt *p,
					  const struct qp_flow_ev *e)
{
	unsigned int dir = e->dir, ev = e->ev;
	if (!ev)
		return;
	if (ev & QP_EV_TCP) {
		if (__builtin_expect(p->tcp_opt_bad | e->ip_len_over, 0)) {
			w->cnt.tcp_bad_options += p->tcp_opt_bad;
			w->cnt.ip_len_over_frame += e->ip_len_over;
		}
		/* most segments are none of these */
		if (qp_tcp_event_any(&e->tcp)) {
			a->retrans[dir] += e->tcp.retrans;
			a->ooo[dir] += e->tcp.ooo;
			a->dup_acks[dir] += e->tcp.dup_ack;
			a->zero_win[dir] += e->tcp.zero_win;
			a->resets[dir] += e->tcp.reset;
		}
		if (e->tcp.rtt_dir >= 0)
			qp_hist_add(&a->rtt[e->tcp.rtt_dir], e->tcp.rtt_ns);
	}
	/* the rarer applications behind one test (a TCP segment's or RTP
	 * packet's event went through six: 12 instructions) */
	if (__builtin_expect(ev & (QP_EV_ECHO | QP_EV_TLS | QP_EV_QUIC | QP_EV_DNS | QP_EV_TS), 0)) {
		if (ev & QP_EV_ECHO)
			qp_hist_add(&a->echo_rtt[e->echo_dir], e->echo_rtt);
		if ((ev & QP_EV_TLS) && (e->tls.hello | e->tls.data)) {
			qp_tls_totals_add(&a->tls, &e->tls);
			if (e->tls.hello)
				qp_hist_add(&a->tls_hello, e->tls.hello_ns);
			if (e->tls.data)
				qp_hist_add(&a->tls_data, e->tls.data_ns);
		}
		if (ev & QP_EV_QUIC) {
			qp_quic_totals_add(&a->quic, &e->quic);
			if (e->quic.handshake)
				qp_hist_add(&a->quic_hs, e->quic.hs_total_ns);
			if (e->quic.rtt_dir >= 0)
				qp_hist_add(&a->quic_rtt[e->quic.rtt_dir], e->quic.rtt_ns);
		}
		if (ev & QP_EV_DNS) {
			qp_dns_totals_add(&a->dns, &e->dns);
			for (unsigned int i = 0; i < e->dns.nrt; i++)
				qp_hist_add(&a->dns_rt, e->dns.rt[i]);
		}
		if (ev & QP_EV_TS)
			qp_ts_totals_add(&a->ts, &e->ts);
	}
	if (ev & QP_EV_RTP) {
		a->rtp_received[dir] += e->rtp.received;
		a->rtp_expected[dir] += e->rtp.expected;
		if (e->rtp.has_jitter)
			qp_hist_add(&a->rtp_jitter[dir], e->rtp.jitter_ns);
		qp_interval_rtp_stream(a, fl, e->rtp_k, &e->rtp);
	}
}

/* A packet's record for packet results (w has a ring): what its analysis found. */
static __attribute__((noinline)) void qp_flow_pres(struct qp_pres_ring *q, const struct qp_sig_cfg *sc,
				const struct qp_flow *fl, const struct qp_pkt *p,
				const struct qp_frame *f, const struct qp_flow_ev *e)
{
	/* two-point: the packets the signature hash selects (RFC 5475), as at the other point */
	uint64_t sig = 0;
	if (sc && (qp_sig_of(sc, p, &sig) != 0 || !qp_sig_selected(sc, sig)))
		return;
	struct qp_pres *r = qp_pres_slot(q, f->ts_ns);
	if (!r)
		return;
	r->has_sig = sc != NULL;
	r->tp_sig = sig;
	r->ts_ns = f->ts_ns;
	r->key = p->key;
	r->wirelen = f->wirelen;
	r->dir = (uint8_t)e->dir;
	r->init_swapped = fl->init_swapped;
	r->tcp = 0;
	r->rtt_dir = -1;
	r->rtt_ns = 0;
	r->rtp = 0;
	r->rtp_ssrc = r->rtp_received = r->rtp_expected = 0;
	r->rtp_seq = 0;
	r->jitter_ns = 0;
	if (e->ev & QP_EV_TCP) {
		r->tcp = (uint8_t)(QP_PRES_TCP | (e->tcp.retrans ? QP_PRES_RETRANS : 0) |
				   (e->tcp.ooo ? QP_PRES_OOO : 0) | (e->tcp.dup_ack ? QP_PRES_DUPACK : 0));
		if (e->tcp.rtt_dir >= 0) {
			r->rtt_dir = e->tcp.rtt_dir;
			r->rtt_ns = e->tcp.rtt_ns;
		}
	}
	if ((e->ev & QP_EV_RTP) && p->udp_payload && p->udp_payload_cap >= 12) {
		const uint8_t *u = p->udp_payload;
		r->rtp = (uint8_t)(QP_PRES_RTP | (e->rtp.has_jitter ? QP_PRES_JITTER : 0));
		r->rtp_seq = (uint16_t)(u[2] << 8 | u[3]);
		r->rtp_ssrc = (uint32_t)u[8] << 24 | (uint32_t)u[9] << 16 | (uint32_t)u[10] << 8 | u[11];
		r->rtp_received = e->rtp.received;
		r->rtp_expected = e->rtp.expected;
		r->jitter_ns = e->rtp.jitter_ns;
	}
	qp_pres_commit(q);
}

/* A packet w accounts, to its capture and its packet results (either on). */
static __attribute__((noinline)) void qp_flow_taps(struct qp_worker *w, const struct qp_measure_cfg *cfg,
						   const struct qp_flow *fl, const struct qp_pkt *p,
						   const struct qp_frame *f, const struct qp_flow_ev *e)
{
	/* the capture last: a tail call, and no register kept across a call
	 * when packet results are off (the capture's common case) */
	struct qp_pres_ring *pres = rcu_dereference(w->pres);
	if (pres)
		qp_flow_pres(pres, cfg->sig, fl, p, f, e);
	struct qp_cap_ring *cap = rcu_dereference(w->cap);
	if (cap)
		qp_cap_take(cap, f->data, f->caplen, f->wirelen, f->ts_ns, f->port, e->dir);
}

/* The packet's result (e, from qp_flow_update) into measurement w's accounts. */
static inline void qp_flow_account(struct qp_worker *w, const struct qp_measure_cfg *cfg,
				   struct qp_flow *fl, const struct qp_pkt *p,
				   const struct qp_frame *f, const struct qp_flow_ev *e)
{
	unsigned int dir = e->dir;
	w->cnt.measured++;
	if (__builtin_expect(CMM_LOAD_SHARED(w->taps) != 0, 0))
		qp_flow_taps(w, cfg, fl, p, f, e);
	struct qp_interval_acc *a = qp_interval_for(w, cfg, f->ts_ns);
	a->pkts[dir]++;
	a->bytes[dir] += f->wirelen;
	qp_flow_account_events(w, a, fl, p, e);
}

#endif
