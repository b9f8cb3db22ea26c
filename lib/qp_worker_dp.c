/*
 * qp_worker_dp: see qp_worker_dp.h. A burst is parsed first, the buckets of
 * every parsed flow are prefetched, then the flows are updated: the hash
 * lookups of a burst overlap their cache misses instead of paying them one
 * after the other.
 */
#include "qp_worker_dp.h"
#include "qp_sig.h"
#include "qp_tp_ring.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "qp_filter.h"

#define BURST_MAX 64
_Static_assert(QP_PARSED_MAX <= BURST_MAX, "a parsed burst is one chunk of process()");

int qp_worker_init(struct qp_worker *w, unsigned int id, uint32_t max_flows, int shared)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	qp_parse_ctx_init(&w->parse);
	w->flows = qp_flow_table_create(max_flows, shared);
	if (!w->flows)
		return -errno;
	return 0;
}

void qp_worker_fini(struct qp_worker *w)
{
	qp_flow_table_destroy(w->flows);
	w->flows = NULL;
}

void qp_workers_fini(struct qp_worker *const *w, unsigned int n)
{
	int any = 0;
	for (unsigned int i = 0; i < n; i++)
		any |= w[i] && w[i]->flows;
	if (any)
		rcu_barrier(); /* every table's pending frees, at once */
	for (unsigned int i = 0; i < n; i++)
		if (w[i]) {
			qp_flow_table_destroy_drained(w[i]->flows);
			w[i]->flows = NULL;
		}
}

/* The interval slot for a packet at ts; timestamps never move it back. */
static inline struct qp_interval_acc *interval_for(struct qp_worker *w,
						   const struct qp_measure_cfg *cfg, uint64_t ts)
{
	if (!w->have_iv || ts >= w->cur_iv_end) {
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
			w->have_iv = 1;
		}
	}
	return &w->iv[w->cur_iv & (QP_IV_SLOTS - 1)];
}

/* Add one RTP packet to its stream's entry in the interval slot a. */
static inline void rtp_interval_stream(struct qp_interval_acc *a, struct qp_flow *fl,
				       unsigned int dir, const struct qp_rtp_event *ev)
{
	const struct qp_rtp_dir *r = &fl->rtp[dir];
	uint32_t h = ((fl->inc * 2 + dir) * 2654435761u) >> 22;
	_Static_assert(QP_IV_RTP_INDEX == 1u << 10, "the hash's top 10 bits");
	struct qp_iv_rtp_slot *x;
	struct qp_iv_rtp *s;
	for (;; h = (h + 1) & (QP_IV_RTP_INDEX - 1)) {
		x = &a->rtp_index[h];
		if (!x->used)
			break;
		if (x->inc == fl->inc && x->dir == dir) {
			if (x->idx == UINT16_MAX)
				return; /* counted in rtp_streams_over */
			goto found;
		}
	}
	if (a->rtp_known >= QP_IV_RTP_KNOWN) {
		/* as many streams as the index tells apart: more are counted at
		 * each packet */
		a->rtp_streams_over++;
		return;
	}
	a->rtp_known++;
	x->used = 1;
	x->inc = fl->inc;
	x->dir = (uint8_t)dir;
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
	s->flow_inc = fl->inc;
	s->pt = r->pt;
	s->ssrc = r->ssrc;
	s->clock_hz = r->clock_hz;
	/* the entry is complete before the count that publishes it */
	__atomic_store_n(&a->rtp_nstreams, a->rtp_nstreams + 1, __ATOMIC_RELEASE);
found:
	s = &a->rtp_streams[x->idx];
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
static inline void tcp_update(struct qp_flow *f, const struct qp_pkt *pk, unsigned int *dir,
			      uint64_t ts)
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
			struct qp_tcp_dir t = f->tcp[0];
			f->tcp[0] = f->tcp[1];
			f->tcp[1] = t;
			if (f->hist && f->hist_live == 1)
				qp_hist_counts_swap(&f->hist[0], &f->hist[1]);
			f->init_swapped ^= 1;
			*dir = 0;
		}
		if (*dir == 0 && !(f->tcp_state & QP_TCP_ST_SYNACK)) {
			f->tcp_state |= QP_TCP_ST_SYN;
			f->syn_ns = ts; /* the latest SYN is the one answered */
			f->syn_seq = pk->tcp_seq;
		}
		return;
	}
	if (fl == (QP_TCP_SYN | QP_TCP_ACK)) {
		if (*dir == 1 && (f->tcp_state & (QP_TCP_ST_SYN | QP_TCP_ST_SYNACK)) == QP_TCP_ST_SYN &&
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
static inline void orient(struct qp_flow *fl, const struct qp_pkt *p)
{
	fl->init_swapped = p->swapped;
	if (p->key.proto == 6 && p->l4_hdr_ok &&
	    (p->tcp_flags & (QP_TCP_SYN | QP_TCP_ACK)) == (QP_TCP_SYN | QP_TCP_ACK))
		fl->init_swapped ^= 1;
}

/* Two-point: sign the packet, and record it when selected. */
static void tp_record(struct qp_worker *w, const struct qp_sig_cfg *sc, const struct qp_pkt *p,
		      const struct qp_frame *f)
{
	struct qp_tp_rec rec;
	if (qp_sig_of(sc, p, &rec.sig) != 0) {
		w->cnt.tp_unsignable++;
		return;
	}
	if (!qp_sig_selected(sc, rec.sig))
		return;
	rec.ts_ns = f->ts_ns;
	rec.size = f->wirelen;
	rec.swapped = p->swapped;
	rec.key = p->key;
	if (qp_tp_ring_push(w->tp_ring, &rec) == 0)
		w->cnt.tp_selected++;
}

void qp_parse_burst(struct qp_parse_ctx *ctx, int linktype, uint32_t key_parts,
		    const struct qp_frame *fr, unsigned int n, struct qp_parsed *out)
{
	if (n > QP_PARSED_MAX)
		n = QP_PARSED_MAX;
	ctx->key_parts = key_parts;
	out->n = n;
	out->linktype = linktype;
	out->key_parts = key_parts;
	for (unsigned int i = 0; i < n; i++)
		out->r[i] = (int8_t)qp_parse(ctx, linktype, fr[i].data, fr[i].caplen, &out->pk[i]);
}

/*
 * The burst through one measurement: its filter, then the parse (`pp`, done
 * once for every measurement of the lcore, or here when pp is NULL, only for
 * frames the filter let through), the flow lookup and every update.
 */
static void process(struct qp_worker *w, const struct qp_measure_cfg *cfg,
		    const struct qp_frame *fr, unsigned int n, const struct qp_parsed *pp)
{
	struct qp_pkt own[BURST_MAX];
	const struct qp_pkt *pk[BURST_MAX];
	const struct qp_frame *pf[BURST_MAX];

	while (n > 0) {
		unsigned int chunk = n > BURST_MAX ? BURST_MAX : n;
		unsigned int np = 0;
		w->cnt.bursts++;
		w->parse.key_parts = cfg->flow_key;
		for (unsigned int i = 0; i < chunk; i++) {
			const struct qp_frame *f = &fr[i];
			w->cnt.packets++;
			w->cnt.bytes += f->wirelen;
			if (cfg->filter && !qp_filter_match(cfg->filter, f->data, f->caplen)) {
				w->cnt.filtered_out++;
				continue;
			}
			enum qp_parse_result r;
			if (pp) {
				r = (enum qp_parse_result)pp->r[i];
				pk[np] = &pp->pk[i];
			} else {
				r = qp_parse(&w->parse, cfg->linktype, f->data, f->caplen, &own[np]);
				pk[np] = &own[np];
			}
			if (r == QP_PARSE_FLOW) {
				if (pk[np]->frag == QP_FRAG_LATER && !pk[np]->frag_attributed)
					w->cnt.frag_unattributed++;
				qp_flow_table_prefetch(w->flows, pk[np]->hash);
				if (cfg->sig && w->tp_ring)
					tp_record(w, cfg->sig, pk[np], f);
				pf[np++] = f;
			} else if (r == QP_PARSE_NON_IP) {
				w->cnt.non_ip++;
			} else {
				w->cnt.parse_errors++;
				w->cnt.perr[r - QP_PARSE_ERR_FIRST]++;
			}
		}
		/* the slots have arrived meanwhile: fetch the flows they point to
		 * (100k flows: 5.9 -> see bench/RESULTS.md) */
		for (unsigned int i = 0; i < np; i++)
			qp_flow_table_prefetch_flow(w->flows, pk[i]->hash, pk[i]->key.proto);
		for (unsigned int i = 0; i < np; i++) {
			const struct qp_pkt *p = pk[i];
			const struct qp_frame *f = pf[i];
			uint64_t ts = f->ts_ns;
			if (ts < w->last_ts)
				w->cnt.ts_backwards++;
			else
				w->last_ts = ts;
			struct qp_flow *fl = qp_flow_table_lookup(w->flows, &p->key, p->hash);
			if (!fl) {
				fl = qp_flow_table_insert(w->flows, p, w->export_fn, w->export_arg);
				if (!fl) {
					w->cnt.unattributed++;
					continue;
				}
				orient(fl, p);
			} else if (ts > fl->last_ns && fl->last_ns && ts - fl->last_ns >= cfg->idle_ns) {
				/* the timeout is honoured to the packet, whenever the
				 * expiry walk last passed this bucket */
				qp_flow_table_restart(w->flows, fl, QP_FLOW_END_IDLE, w->export_fn,
						      w->export_arg);
				orient(fl, p);
			} else if (cfg->active_ns && fl->first_ns && ts > fl->first_ns &&
				   ts - fl->first_ns >= cfg->active_ns) {
				qp_flow_table_restart(w->flows, fl, QP_FLOW_END_ACTIVE, w->export_fn,
						      w->export_arg);
			}
			unsigned int dir = p->swapped ^ fl->init_swapped;
			struct qp_tcp_event ev;
			struct qp_rtp_event rev;
			int is_rtp = 0;
			int echo_sample = 0;
			uint64_t echo_rtt = 0;
			unsigned int echo_dir = 0;
			int is_tcp = p->key.proto == 6 && p->l4_hdr_ok && p->frag != QP_FRAG_LATER &&
				     !(cfg->metrics_off & QP_METRICS_TCP);
			if (is_tcp) {
				tcp_update(fl, p, &dir, ts);
				/* Wireshark's out-of-order window: the initial RTT */
				uint64_t ooo = (fl->hs_rtt_ns >= 0 && fl->hs_ack_rtt_ns >= 0)
						       ? (uint64_t)(fl->hs_rtt_ns + fl->hs_ack_rtt_ns)
						       : 3000000;
				qp_tcp_update(fl->tcp, p, dir, ts, ooo, &ev);
				if (p->tcp_opt_bad)
					w->cnt.tcp_bad_options++;
			} else if (p->key.proto == 17 && p->l4_hdr_ok && p->frag != QP_FRAG_LATER &&
				   !(cfg->metrics_off & QP_METRICS_RTP)) {
				const struct qp_rtp_cfg *rc = &cfg->rtp;
				/* most UDP is not RTP: no call for a payload without RTP's
				 * version bits on a flow that is not a stream (what
				 * qp_rtp_update() itself returns at once for) */
				if (qp_rtp_maybe(&fl->rtp[dir], p->udp_payload, p->udp_payload_cap)) {
					int ports = rc->port_hi &&
						    ((p->key.port[0] >= rc->port_lo &&
						      p->key.port[0] <= rc->port_hi) ||
						     (p->key.port[1] >= rc->port_lo &&
						      p->key.port[1] <= rc->port_hi));
					qp_rtp_update(&fl->rtp[dir], p->udp_payload, p->udp_payload_cap,
						      ports, ts, rc, &rev);
					is_rtp = rev.expected || rev.received || rev.has_jitter;
				}
				qp_iat_add(&fl->iat[dir], ts);
			} else if ((p->key.proto == 1 || p->key.proto == 58) && p->l4_hdr_ok &&
				   !(cfg->metrics_off & QP_METRICS_ICMP) &&
				   p->frag != QP_FRAG_LATER) {
				uint64_t rtt;
				unsigned int rd;
				qp_iat_add(&fl->iat[dir], ts);
				if (qp_echo_update(&fl->echo, p, dir, ts, &rtt, &rd)) {
					echo_sample = 1;
					echo_rtt = rtt;
					echo_dir = rd;
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
			w->cnt.measured++;
			struct qp_interval_acc *a = interval_for(w, cfg, ts);
			a->pkts[dir]++;
			a->bytes[dir] += f->wirelen;
			if (is_tcp) {
				a->retrans[dir] += ev.retrans;
				a->ooo[dir] += ev.ooo;
				a->dup_acks[dir] += ev.dup_ack;
				a->zero_win[dir] += ev.zero_win;
				a->resets[dir] += ev.reset;
				if (ev.rtt_dir >= 0) {
					qp_hist_add(&a->rtt[ev.rtt_dir], ev.rtt_ns);
					struct qp_hist_counts *h = qp_flow_table_hist(w->flows, fl);
					if (h)
						qp_hist_counts_add(&h[ev.rtt_dir], ev.rtt_ns);
				}
			}
			if (echo_sample)
				qp_hist_add(&a->echo_rtt[echo_dir], echo_rtt);
			if (is_rtp) {
				a->rtp_received[dir] += rev.received;
				a->rtp_expected[dir] += rev.expected;
				if (rev.has_jitter)
					qp_hist_add(&a->rtp_jitter[dir], rev.jitter_ns);
				rtp_interval_stream(a, fl, dir, &rev);
			}
		}
		fr += chunk;
		n -= chunk;
	}
}

void qp_worker_process(struct qp_worker *w, const struct qp_measure_cfg *cfg,
		       const struct qp_frame *fr, unsigned int n)
{
	process(w, cfg, fr, n, NULL);
}

void qp_worker_process_parsed(struct qp_worker *w, const struct qp_measure_cfg *cfg,
			      const struct qp_frame *fr, const struct qp_parsed *pp)
{
	/* keys of other parts, or frames of another link type: its own parse */
	if (pp->key_parts != cfg->flow_key || pp->linktype != cfg->linktype)
		process(w, cfg, fr, pp->n, NULL);
	else
		process(w, cfg, fr, pp->n, pp);
}

void qp_worker_expire(struct qp_worker *w, const struct qp_measure_cfg *cfg, uint64_t now_ns,
		      uint32_t max_buckets)
{
	qp_flow_table_expire(w->flows, now_ns, cfg->idle_ns, cfg->active_ns, max_buckets,
			     w->export_fn, w->export_arg);
}

int qp_worker_interval_read(const struct qp_worker *w, uint64_t iv, struct qp_interval_acc *out)
{
	const struct qp_interval_acc *a = &w->iv[iv & (QP_IV_SLOTS - 1)];
	uint64_t held = __atomic_load_n(&a->iv, __ATOMIC_ACQUIRE);
	if (held != iv) {
		/* a later interval took the slot, or is taking it
		 * (QP_IV_REWRITING is above every number): what the worker had
		 * of iv is gone. An earlier one, or none: it never had a frame
		 * in iv */
		return held > iv ? QP_IV_LOST : QP_IV_NONE;
	}
	/* a copy taken while the worker may still add to the slot: each field
	 * is read whole, the set may be one packet apart */
	uint32_t ns = __atomic_load_n(&a->rtp_nstreams, __ATOMIC_ACQUIRE);
	if (ns > QP_IV_RTP_STREAMS)
		ns = QP_IV_RTP_STREAMS;
	memcpy(out, a, offsetof(struct qp_interval_acc, rtp_streams));
	memcpy(out->rtp_streams, a->rtp_streams, ns * sizeof(a->rtp_streams[0]));
	/* the copy is of iv only if the slot still holds it: the loads above
	 * come before this one */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&a->iv, __ATOMIC_RELAXED) != iv)
		return QP_IV_LOST;
	out->rtp_nstreams = ns;
	out->iv = iv;
	return QP_IV_READ;
}
