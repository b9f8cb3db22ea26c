/*
 * qp_report: see qp_report.h. Flows are written in the order they began
 * (first packet time, then key), so two runs over one file give one report.
 */
#define _GNU_SOURCE /* qsort_r */
#include "qp_report.h"
#include "qp_jw.h"
#include "qp_mem.h"
#include "qp_cpu.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef QP_VERSION
#define QP_VERSION "0.1.0"
#endif

const char *qp_version(void)
{
	return QP_VERSION;
}

/* A flow's place in the report: when it began (what the order reads
 * first), and where it is: an offset in fbuf, or KEPT | i for kept[i]. */
struct rec_at {
	uint64_t first_ns;
	size_t off;
};
#define KEPT ((size_t)1 << (sizeof(size_t) * 8 - 1))

struct qp_report {
	/* the flow records, packed (qp_report_add_flow) one after the other
	 * in huge pages (qp_mem), and where each is: in the order added, in
	 * the report's order once sorted */
	uint8_t *fbuf;
	size_t fused, fbytes; /* bytes of fbuf in use, and mapped */
	struct rec_at *at;
	size_t nflows, capflows;
	/* flows read from their table entries (qp_report_add_flow_kept) */
	const struct qp_flow **kept;
	size_t nkept, capkept;
	const struct qp_rtp_cfg *kept_rtp;
	struct qp_flow_rec *rec; /* the writers' record, unpacked (qp_report_flow) */
	struct qp_interval_rec *ivs;
	size_t nivs, capivs;
	char *kind, *path, *linktype, *precision, *filter;
	uint32_t flow_key; /* QP_FLOW_KEY_* */
	struct qp_capture_totals totals;
	struct qp_interval_acc *tcp; /* capture-wide TCP counters and RTT histograms */
	struct qp_report_ext ext;
	int has_ext;
};

void qp_report_set_ext(struct qp_report *r, const struct qp_report_ext *ext)
{
	r->has_ext = ext != NULL;
	if (ext)
		r->ext = *ext;
}

struct qp_report *qp_report_create(void)
{
	struct qp_report *r = calloc(1, sizeof(*r));
	if (r) {
		r->tcp = calloc(1, sizeof(*r->tcp));
		r->rec = malloc(sizeof(*r->rec));
	}
	if (!r || !r->tcp || !r->rec) {
		if (r) {
			free(r->tcp);
			free(r->rec);
		}
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	return r;
}

void qp_report_destroy(struct qp_report *r)
{
	if (!r)
		return;
	qp_mem_huge_free(r->fbuf, r->fbytes);
	free(r->at);
	free(r->kept);
	free(r->rec);
	for (size_t i = 0; i < r->nivs; i++)
		qp_interval_rec_release(&r->ivs[i]);
	free(r->ivs);
	free(r->tcp);
	free(r->kind);
	free(r->path);
	free(r->linktype);
	free(r->precision);
	free(r->filter);
	free(r);
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 256;
	void *p = realloc(*arr, nc * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

/*
 * A record is kept packed: the sections of struct qp_flow_rec below that are
 * not all zero, one after the other behind a header saying which. A TCP flow
 * has no RTP, DNS, QUIC, TLS or transport stream; a UDP flow no TCP: 10,000
 * whole records were 19 MB, each megabyte this VM faults in is about 1.7 ms
 * (0.6 GB/s first touch, 27 GB/s after), and the records were a quarter of
 * an offline run. Unpacked, a record is byte for byte what was added.
 */
static const size_t sec_at[] = {
	0,
	offsetof(struct qp_flow_rec, retrans),  /* TCP */
	offsetof(struct qp_flow_rec, rtp[0]),   /* RTP, a stream a section */
	offsetof(struct qp_flow_rec, rtp[1]),
	offsetof(struct qp_flow_rec, rtp[2]),
	offsetof(struct qp_flow_rec, rtp[3]),
	offsetof(struct qp_flow_rec, rtp_over), /* streams beyond, inter-arrival times */
	offsetof(struct qp_flow_rec, has_echo),
	offsetof(struct qp_flow_rec, has_dns),
	offsetof(struct qp_flow_rec, has_quic),
	offsetof(struct qp_flow_rec, has_tls),
	offsetof(struct qp_flow_rec, has_ts),
	sizeof(struct qp_flow_rec),
};
#define NSEC (sizeof(sec_at) / sizeof(sec_at[0]) - 1)
_Static_assert(QP_FLOW_RTP == 4, "a section for each of a flow's RTP streams");
_Static_assert(offsetof(struct qp_flow_rec, key) == 0 &&
		       offsetof(struct qp_flow_rec, first_ns) < offsetof(struct qp_flow_rec, retrans),
	       "the key and the time, which the order reads, in the first section");

struct rec_hdr {
	uint64_t sections; /* bit i: section i is there (8 bytes: the record after it aligned) */
};

static int all_zero(const uint8_t *p, size_t n)
{
	uint64_t acc = 0, w;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* Room for `bytes` more in the records' mapping: it grows by moving its pages. */
static int grow_fbuf(struct qp_report *r, size_t bytes)
{
	if (r->fused + bytes <= r->fbytes)
		return 0;
	size_t want = r->fbytes ? 2 * r->fbytes : 1;
	while (want < r->fused + bytes)
		want *= 2;
	want = qp_mem_huge_size(want);
	uint8_t *p = r->fbuf ? qp_mem_huge_grow(r->fbuf, r->fbytes, want) : qp_mem_huge(want);
	if (!p)
		return -ENOMEM;
	r->fbuf = p;
	r->fbytes = want;
	return 0;
}

int qp_report_add_flow(struct qp_report *r, const struct qp_flow_rec *fr)
{
	const uint8_t *src = (const uint8_t *)fr;
	struct rec_hdr h = {1};
	size_t bytes = sizeof(h) + sec_at[1];
	for (unsigned int i = 1; i < NSEC; i++) {
		if (!all_zero(src + sec_at[i], sec_at[i + 1] - sec_at[i])) {
			h.sections |= 1u << i;
			bytes += sec_at[i + 1] - sec_at[i];
		}
	}
	bytes = (bytes + 7) & ~(size_t)7;
	if (grow_fbuf(r, bytes) || grow((void **)&r->at, &r->capflows, r->nflows, sizeof(*r->at)))
		return -ENOMEM;
	uint8_t *d = r->fbuf + r->fused;
	memcpy(d, &h, sizeof(h));
	d += sizeof(h);
	for (unsigned int i = 0; i < NSEC; i++) {
		if (h.sections & (1u << i)) {
			memcpy(d, src + sec_at[i], sec_at[i + 1] - sec_at[i]);
			d += sec_at[i + 1] - sec_at[i];
		}
	}
	r->at[r->nflows++] = (struct rec_at){fr->first_ns, r->fused};
	r->fused += bytes;
	return 0;
}

int qp_report_add_flow_kept(struct qp_report *r, const struct qp_flow *f,
			    const struct qp_rtp_cfg *rtp)
{
	if (grow((void **)&r->kept, &r->capkept, r->nkept, sizeof(*r->kept)) ||
	    grow((void **)&r->at, &r->capflows, r->nflows, sizeof(*r->at)))
		return -ENOMEM;
	r->kept_rtp = rtp;
	r->at[r->nflows++] = (struct rec_at){f->first_ns, KEPT | r->nkept};
	r->kept[r->nkept++] = f;
	return 0;
}

void qp_report_flow(const struct qp_report *r, size_t i, struct qp_flow_rec *out)
{
	if (r->at[i].off & KEPT) {
		const struct qp_flow *f = r->kept[r->at[i].off & ~KEPT];
		qp_flow_rec_from(out, f, QP_FLOW_END_FLUSH);
		qp_flow_rec_rtp(out, f, r->kept_rtp);
		return;
	}
	const uint8_t *p = r->fbuf + r->at[i].off;
	struct rec_hdr h;
	memcpy(&h, p, sizeof(h));
	p += sizeof(h);
	uint8_t *dst = (uint8_t *)out;
	for (unsigned int k = 0; k < NSEC; k++) {
		size_t n = sec_at[k + 1] - sec_at[k];
		if (h.sections & (1u << k)) {
			memcpy(dst + sec_at[k], p, n);
			p += n;
		} else {
			memset(dst + sec_at[k], 0, n);
		}
	}
}

int qp_report_add_interval(struct qp_report *r, const struct qp_interval_rec *iv)
{
	if (grow((void **)&r->ivs, &r->capivs, r->nivs, sizeof(*iv)))
		return -ENOMEM;
	struct qp_interval_rec c = *iv;
	if (iv->nstreams) {
		c.streams = malloc(iv->nstreams * sizeof(*c.streams));
		if (!c.streams)
			return -ENOMEM;
		memcpy(c.streams, iv->streams, iv->nstreams * sizeof(*c.streams));
	}
	c.pres_json = NULL; /* a report's intervals do not carry packet results */
	if (iv->tp_json) {
		c.tp_json = strdup(iv->tp_json);
		if (!c.tp_json) {
			free(c.streams);
			return -ENOMEM;
		}
	}
	r->ivs[r->nivs++] = c;
	return 0;
}

static void set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? strdup(s) : NULL;
}

void qp_report_set_source(struct qp_report *r, const char *kind, const char *path,
			  const char *linktype, const char *ts_precision, const char *filter)
{
	set_str(&r->kind, kind);
	set_str(&r->path, path);
	set_str(&r->linktype, linktype);
	set_str(&r->precision, ts_precision);
	set_str(&r->filter, filter);
}

void qp_report_set_flow_key(struct qp_report *r, uint32_t parts)
{
	r->flow_key = parts;
}

void qp_report_set_totals(struct qp_report *r, const struct qp_capture_totals *t)
{
	r->totals = *t;
}

size_t qp_report_flow_count(const struct qp_report *r)
{
	return r->nflows;
}

void qp_dist_summarize(const struct qp_hist *h, struct qp_dist_summary *s)
{
	s->n = h->count;
	s->min = (double)h->min / 1e6;
	s->max = (double)h->max / 1e6;
	s->mean = qp_hist_mean(h) / 1e6;
	s->p50 = (double)qp_hist_quantile(h, 0.50) / 1e6;
	s->p90 = (double)qp_hist_quantile(h, 0.90) / 1e6;
	s->p99 = (double)qp_hist_quantile(h, 0.99) / 1e6;
}

void qp_interval_acc_add(struct qp_interval_acc *sum, const struct qp_interval_acc *a)
{
	for (int d = 0; d < 2; d++) {
		sum->pkts[d] += a->pkts[d];
		sum->bytes[d] += a->bytes[d];
		sum->retrans[d] += a->retrans[d];
		sum->ooo[d] += a->ooo[d];
		sum->dup_acks[d] += a->dup_acks[d];
		sum->zero_win[d] += a->zero_win[d];
		sum->resets[d] += a->resets[d];
		qp_hist_merge(&sum->rtt[d], &a->rtt[d]);
		qp_hist_merge(&sum->echo_rtt[d], &a->echo_rtt[d]);
		sum->rtp_received[d] += a->rtp_received[d];
		sum->rtp_expected[d] += a->rtp_expected[d];
		qp_hist_merge(&sum->rtp_jitter[d], &a->rtp_jitter[d]);
	}
	qp_dns_totals_merge(&sum->dns, &a->dns);
	qp_hist_merge(&sum->dns_rt, &a->dns_rt);
	qp_quic_totals_merge(&sum->quic, &a->quic);
	qp_tls_totals_merge(&sum->tls, &a->tls);
	qp_ts_totals_sum(&sum->ts, &a->ts);
	qp_hist_merge(&sum->tls_hello, &a->tls_hello);
	qp_hist_merge(&sum->tls_data, &a->tls_data);
	qp_hist_merge(&sum->quic_hs, &a->quic_hs);
	qp_hist_merge(&sum->quic_rtt[0], &a->quic_rtt[0]);
	qp_hist_merge(&sum->quic_rtt[1], &a->quic_rtt[1]);
}

void qp_interval_rec_from(struct qp_interval_rec *r, const struct qp_interval_acc *acc)
{
	for (int d = 0; d < 2; d++) {
		r->pkts[d] = acc->pkts[d];
		r->bytes[d] = acc->bytes[d];
		r->retrans[d] = acc->retrans[d];
		r->ooo[d] = acc->ooo[d];
		r->dup_acks[d] = acc->dup_acks[d];
		r->zero_win[d] = acc->zero_win[d];
		r->resets[d] = acc->resets[d];
		qp_dist_summarize(&acc->rtt[d], &r->rtt[d]);
		qp_dist_summarize(&acc->echo_rtt[d], &r->echo_rtt[d]);
		r->rtp_received[d] = acc->rtp_received[d];
		r->rtp_expected[d] = acc->rtp_expected[d];
		qp_dist_summarize(&acc->rtp_jitter[d], &r->rtp_jitter[d]);
	}
	r->dns = acc->dns;
	qp_dist_summarize(&acc->dns_rt, &r->dns_rt);
	r->quic = acc->quic;
	r->tls = acc->tls;
	r->ts = acc->ts;
	qp_dist_summarize(&acc->tls_hello, &r->tls_hello);
	qp_dist_summarize(&acc->tls_data, &r->tls_data);
	qp_dist_summarize(&acc->quic_hs, &r->quic_hs);
	qp_dist_summarize(&acc->quic_rtt[0], &r->quic_rtt[0]);
	qp_dist_summarize(&acc->quic_rtt[1], &r->quic_rtt[1]);
}

int qp_interval_rec_add_streams(struct qp_interval_rec *r, const struct qp_interval_acc *acc,
				const struct qp_rtp_cfg *cfg)
{
	r->streams_over += acc->rtp_streams_over;
	uint32_t n = acc->rtp_nstreams;
	if (!n)
		return 0;
	struct qp_rtp_iv_rec *a = realloc(r->streams, (r->nstreams + n) * sizeof(*a));
	if (!a) {
		r->streams_over += n;
		return -ENOMEM;
	}
	r->streams = a;
	for (uint32_t i = 0; i < n; i++) {
		const struct qp_iv_rtp *s = &acc->rtp_streams[i];
		struct qp_rtp_iv_rec *o = &a[r->nstreams++];
		memset(o, 0, sizeof(*o));
		o->key = s->key;
		o->init_swapped = s->init_swapped;
		o->dir = s->dir;
		o->pt = s->pt;
		o->ssrc = s->ssrc;
		o->packets = s->received;
		o->expected = s->expected;
		o->lost = s->expected > s->received ? s->expected - s->received : 0;
		o->jitter_samples = s->jitter_n;
		if (s->clock_hz && s->jitter_n) {
			double k = 1000.0 / s->clock_hz;
			o->jitter_last_ms = s->jitter_last * k;
			o->jitter_mean_ms = s->jitter_sum / s->jitter_n * k;
			o->jitter_max_ms = s->jitter_max * k;
		}
		o->mos = qp_rtp_mos_of(s->pt, o->expected, o->lost, o->jitter_mean_ms, cfg);
	}
	return 0;
}

void qp_interval_rec_release(struct qp_interval_rec *r)
{
	free(r->streams);
	r->streams = NULL;
	r->nstreams = 0;
	free(r->tp_json);
	r->tp_json = NULL;
	free(r->pres_json);
	r->pres_json = NULL;
}

void qp_report_add_tcp(struct qp_report *r, const struct qp_interval_acc *acc)
{
	qp_interval_acc_add(r->tcp, acc);
}

void qp_capture_totals_add(struct qp_capture_totals *sum, const struct qp_worker *w)
{
#define ADD_(name, help) sum->w.name += CMM_LOAD_SHARED(w->cnt.name);
	QP_WORKER_COUNTERS(ADD_)
#undef ADD_
	for (int i = 0; i < QP_PARSE_ERR_COUNT; i++)
		sum->w.perr[i] += CMM_LOAD_SHARED(w->cnt.perr[i]);
	struct qp_flow_table_stats s;
	qp_worker_flow_stats(w, &s);
	sum->t.created += s.created;
	sum->t.expired_idle += s.expired_idle;
	sum->t.expired_active += s.expired_active;
	sum->t.evicted += s.evicted;
	sum->t.table_full += s.table_full;
	sum->t.hist_full += s.hist_full;
	sum->t.app_full += s.app_full;
}

void qp_flow_rec_from(struct qp_flow_rec *r, const struct qp_flow *f, int end)
{
	memset(r, 0, sizeof(*r));
	r->key = f->key;
	r->init_swapped = CMM_LOAD_SHARED(f->init_swapped);
	r->end = (uint8_t)end;
	r->encap = f->encap;
	r->vlan = f->vlan;
	r->first_ns = CMM_LOAD_SHARED(f->first_ns);
	r->last_ns = CMM_LOAD_SHARED(f->last_ns);
	for (int d = 0; d < 2; d++) {
		r->pkts[d] = CMM_LOAD_SHARED(f->pkts[d]);
		r->bytes[d] = CMM_LOAD_SHARED(f->bytes[d]);
	}
	r->size_min = CMM_LOAD_SHARED(f->size_min);
	r->size_max = CMM_LOAD_SHARED(f->size_max);
	const struct qp_flow_cold *c = qp_flow_cold_of(f);
	uint8_t p = f->key.proto;
	r->hs_rtt_ns = r->hs_ack_rtt_ns = -1;
	if (p == 6) {
		r->hs_rtt_ns = CMM_LOAD_SHARED(f->hs_rtt_ns);
		r->hs_ack_rtt_ns = CMM_LOAD_SHARED(f->hs_ack_rtt_ns);
	}
	for (int d = 0; d < 2 && p == 6; d++) {
		const struct qp_tcp_dir *t = &c->tcp[d];
		r->retrans[d] = CMM_LOAD_SHARED(t->retrans);
		r->ooo[d] = CMM_LOAD_SHARED(t->ooo);
		r->dup_acks[d] = CMM_LOAD_SHARED(t->dup_acks);
		r->zero_win[d] = CMM_LOAD_SHARED(t->zero_win);
		r->resets[d] = CMM_LOAD_SHARED(t->resets);
		r->tcp_flags[d] = CMM_LOAD_SHARED(t->flags);
		r->syns[d] = CMM_LOAD_SHARED(t->syns);
		r->fins[d] = CMM_LOAD_SHARED(t->fins);
		r->rtt[d] = t->rtt;
		r->tsv_over[d] = CMM_LOAD_SHARED(t->tsv_over);
		if (c->hist && f->hist_live == 1) {
			r->rtt_pct = 1;
			r->rtt_p50[d] = (double)qp_hist_counts_quantile(&c->hist[d], &t->rtt, 0.50) / 1e6;
			r->rtt_p90[d] = (double)qp_hist_counts_quantile(&c->hist[d], &t->rtt, 0.90) / 1e6;
			r->rtt_p99[d] = (double)qp_hist_counts_quantile(&c->hist[d], &t->rtt, 0.99) / 1e6;
		}
	}
	r->tcp_ts = p == 6 && (c->tcp[0].st & QP_TCPD_TS) && (c->tcp[1].st & QP_TCPD_TS);
	r->has_iat = p == 17 || p == 1 || p == 58;
	r->has_echo = p == 1 || p == 58;
	for (int d = 0; d < 2 && r->has_iat; d++)
		qp_iat_stat(&f->iat, (unsigned int)d, &r->iat[d]);
	for (int d = 0; d < 2 && r->has_echo; d++) {
		r->echo_req[d] = c->echo.requests[d];
		r->echo_rep[d] = c->echo.replies[d];
		r->echo_rtt[d] = c->echo.rtt[d];
	}
	uint8_t app = CMM_LOAD_SHARED(f->app);
	if (p == 6 && (app == QP_APP_TLS || app == QP_APP_TLS_DONE) && rcu_dereference(c->app)) {
		r->has_tls = 1;
		r->tls = c->app->tls;
	}
	if (p == 17 && CMM_LOAD_SHARED(f->app) == QP_APP_QUIC) {
		r->has_quic = 1;
		r->quic = c->quic;
		for (int d = 0; d < 2 && c->hist && f->hist_live == 1; d++) {
			const struct qp_stat *st = &r->quic.rtt[d];
			r->quic_pct = 1;
			r->quic_p50[d] = (double)qp_hist_counts_quantile(&c->hist[d], st, 0.50) / 1e6;
			r->quic_p90[d] = (double)qp_hist_counts_quantile(&c->hist[d], st, 0.90) / 1e6;
			r->quic_p99[d] = (double)qp_hist_counts_quantile(&c->hist[d], st, 0.99) / 1e6;
		}
	}
	if (p == 17 && app == QP_APP_TS && rcu_dereference(c->app)) {
		r->has_ts = 1;
		r->ts = c->app->ts;
	}
	const struct qp_dns *dn = NULL;
	if (CMM_LOAD_SHARED(f->app) == QP_APP_DNS)
		dn = p == 17 ? &c->dns : p == 6 ? rcu_dereference(c->app) ? &c->app->dns : NULL : NULL;
	if (dn) {
		r->has_dns = 1;
		r->dns = dn->c;
		r->dns_pending = qp_dns_pending(dn);
		r->dns_rt = dn->rt;
		if (end == QP_FLOW_END_IDLE) {
			/* the flow is over: no answer comes any more */
			r->dns.unanswered += r->dns_pending;
			r->dns_pending = 0;
		}
		uint64_t q50, q90, q99;
		if (!qp_dns_kept_quantile(dn, 0.50, &q50) && !qp_dns_kept_quantile(dn, 0.90, &q90) &&
		    !qp_dns_kept_quantile(dn, 0.99, &q99)) {
			/* few samples: exact */
			r->dns_pct = 1;
			r->dns_p50 = (double)q50 / 1e6;
			r->dns_p90 = (double)q90 / 1e6;
			r->dns_p99 = (double)q99 / 1e6;
		} else if (p == 17 && c->hist && f->hist_live == 1 && r->dns_rt.n) {
			r->dns_pct = 1;
			r->dns_p50 = (double)qp_hist_counts_quantile(&c->hist[0], &r->dns_rt, 0.50) / 1e6;
			r->dns_p90 = (double)qp_hist_counts_quantile(&c->hist[0], &r->dns_rt, 0.90) / 1e6;
			r->dns_p99 = (double)qp_hist_counts_quantile(&c->hist[0], &r->dns_rt, 0.99) / 1e6;
		}
	}
}

void qp_flow_rec_rtp(struct qp_flow_rec *r, const struct qp_flow *f, const struct qp_rtp_cfg *cfg)
{
	const struct qp_flow_cold *c = qp_flow_cold_of(f);
	memset(r->rtp, 0, sizeof(r->rtp));
	r->rtp_over = 0;
	uint8_t app = CMM_LOAD_SHARED(f->app);
	/* RTP: the cold block's UDP state unless DNS or QUIC took it */
	if (f->key.proto != 17 || app == QP_APP_DNS || app == QP_APP_QUIC)
		return;
	r->rtp_over = CMM_LOAD_SHARED(c->rtp_over);
	for (int k = 0; k < QP_FLOW_RTP; k++) {
		const struct qp_rtp_dir *s = &c->rtp[k];
		if (s->state != 2)
			continue;
		struct qp_rtp_rec *o = &r->rtp[k];
		o->valid = 1;
		o->dir = c->rtp_dir[k];
		o->pt = s->pt;
		o->ssrc = s->ssrc;
		o->clock_hz = s->clock_hz;
		o->packets = s->received;
		o->expected = qp_rtp_expected(s);
		o->lost = qp_rtp_lost(s);
		o->dups = s->dups;
		o->ooo = s->ooo;
		o->other_pt = s->other_pt;
		o->ts_jumps = s->ts_jumps;
		o->jitter_last_ms = qp_rtp_jitter_ms(s, s->jitter);
		o->jitter_mean_ms = s->jitter_n ? qp_rtp_jitter_ms(s, s->jitter_sum / s->jitter_n) : 0;
		o->jitter_max_ms = qp_rtp_jitter_ms(s, s->jitter_max);
		o->mos = qp_rtp_mos(s, cfg);
	}
}

static json_t *dist_json(const struct qp_dist_summary *s)
{
	if (!s->n)
		return json_null();
	return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:I}", "min", s->min, "mean", s->mean, "max",
			 s->max, "p50", s->p50, "p90", s->p90, "p99", s->p99, "samples",
			 (json_int_t)s->n);
}

void qp_key_addr_str(const struct qp_flow_key *k, int endpoint, char *buf, size_t len)
{
	if (k->ipver != 6 && len >= 16) {
		/* dotted quad, as inet_ntop writes it (which takes a sprintf:
		 * 1,800 instructions an address, a tenth of a flow's record) */
		const uint8_t *a = k->addr[endpoint];
		char *o = buf;
		for (int i = 0; i < 4; i++) {
			unsigned int v = a[i];
			if (v >= 100)
				*o++ = (char)('0' + v / 100);
			if (v >= 10)
				*o++ = (char)('0' + v / 10 % 10);
			*o++ = (char)('0' + v % 10);
			*o++ = i < 3 ? '.' : 0;
		}
		return;
	}
	if (!inet_ntop(k->ipver == 6 ? AF_INET6 : AF_INET, k->addr[endpoint], buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

/* The same for the table: " vni 5001 gre-key 7", or "". */
static void key_ctx_str(const struct qp_flow_key *k, uint16_t outer_vlan, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	if (k->vlan && k->vlan != outer_vlan)
		o += (size_t)snprintf(buf + o, len - o, " inner-vlan %u", k->vlan);
	if ((k->ctx & QP_KEY_CTX_VNI) && o < len)
		o += (size_t)snprintf(buf + o, len - o, " vni %u", qp_flow_key_vni(k));
	if ((k->ctx & QP_KEY_CTX_GRE_KEY) && o < len)
		o += (size_t)snprintf(buf + o, len - o, " gre-key %u", k->tunnel_id);
	if ((k->ctx & QP_KEY_CTX_TEID) && o < len)
		snprintf(buf + o, len - o, " teid 0x%08x", k->tunnel_id);
}

static const char *end_name(int end)
{
	switch (end) {
	case QP_FLOW_END_IDLE: return "idle_timeout";
	case QP_FLOW_END_ACTIVE: return "active_timeout";
	case QP_FLOW_END_EVICTED: return "evicted";
	case QP_FLOW_END_FLUSH: return "end_of_capture";
	default: return "active";
	}
}

static json_t *encap_json(uint8_t encap)
{
	static const struct {
		uint8_t bit;
		const char *name;
	} names[] = {{QP_ENCAP_VLAN, "vlan"},   {QP_ENCAP_MPLS, "mpls"}, {QP_ENCAP_VXLAN, "vxlan"},
		     {QP_ENCAP_GRE, "gre"},     {QP_ENCAP_GTPU, "gtpu"}, {QP_ENCAP_IPIP, "ipip"}};
	json_t *a = json_array();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (encap & names[i].bit)
			json_array_append_new(a, json_string(names[i].name));
	return a;
}

/*
 * What tells the flow apart beside its 5-tuple. The VLAN in the key is the
 * innermost; it is written (as name) when it differs from outer_vlan, the
 * one already reported. A GTP-U endpoint pair is only hashed in the key and
 * not reported.
 */
static void key_ctx_json(json_t *o, const struct qp_flow_key *k, uint16_t outer_vlan,
			 const char *name)
{
	if (k->vlan && k->vlan != outer_vlan)
		json_object_set_new(o, name, json_integer(k->vlan));
	if (k->ctx & QP_KEY_CTX_VNI)
		json_object_set_new(o, "vni", json_integer(qp_flow_key_vni(k)));
	if (k->ctx & QP_KEY_CTX_GRE_KEY)
		json_object_set_new(o, "gre_key", json_integer(k->tunnel_id));
	if (k->ctx & QP_KEY_CTX_TEID)
		json_object_set_new(o, "teid", json_integer(k->tunnel_id));
}

static json_t *fwd_rev(uint64_t fwd, uint64_t rev)
{
	return json_pack("{s:I,s:I}", "fwd", (json_int_t)fwd, "rev", (json_int_t)rev);
}

/* The writer's forms of the helpers above. */
static inline __attribute__((always_inline)) void w_fwd_rev(struct qp_jw *w, const char *k, uint64_t fwd, uint64_t rev)
{
	qp_jw_key(w, k);
	qp_jw_obj(w);
	qp_jw_kint(w, "fwd", (int64_t)fwd);
	qp_jw_kint(w, "rev", (int64_t)rev);
	qp_jw_end_obj(w);
}

static inline __attribute__((always_inline)) void w_ms_or_null(struct qp_jw *w, const char *k, int64_t ns)
{
	qp_jw_key(w, k);
	if (ns < 0)
		qp_jw_null(w);
	else
		qp_jw_real(w, (double)ns / 1e6);
}

/* stat_json's object, left open for more keys; 0 (and null written) without samples */
static inline __attribute__((always_inline)) int w_stat_open(struct qp_jw *w, const char *k, const struct qp_stat *s)
{
	qp_jw_key(w, k);
	if (!s->n) {
		qp_jw_null(w);
		return 0;
	}
	qp_jw_obj(w);
	qp_jw_kreal(w, "min", (double)s->min / 1e6);
	qp_jw_kreal(w, "mean", (double)s->sum / s->n / 1e6);
	qp_jw_kreal(w, "max", (double)s->max / 1e6);
	qp_jw_kint(w, "samples", (int)s->n);
	return 1;
}

/* A series with its percentiles (ms) when they are known (pct); null without samples. */
static void w_dist(struct qp_jw *w, const char *k, const struct qp_stat *s, int pct, double p50,
		   double p90, double p99)
{
	if (!w_stat_open(w, k, s))
		return;
	if (pct) {
		qp_jw_kreal(w, "p50", p50);
		qp_jw_kreal(w, "p90", p90);
		qp_jw_kreal(w, "p99", p99);
	}
	qp_jw_end_obj(w);
}

static inline __attribute__((always_inline)) void w_stat(struct qp_jw *w, const char *k, const struct qp_stat *s)
{
	if (w_stat_open(w, k, s))
		qp_jw_end_obj(w);
}

/* A flow's DNS figures: its counts, codes and response times. */
static void w_dns(struct qp_jw *w, const struct qp_flow_rec *fr)
{
	char b[16];
	qp_jw_key(w, "dns");
	qp_jw_obj(w);
#define W_(n, h) qp_jw_kint(w, #n, fr->dns.n);
	QP_DNS_COUNTS(W_)
#undef W_
	qp_jw_kint(w, "pending", fr->dns_pending);
	qp_jw_key(w, "rcodes");
	qp_jw_obj(w);
	for (unsigned int i = 0; i < 16; i++)
		if (fr->dns.rcodes[i])
			qp_jw_kint(w, qp_dns_rcode_name(i, b, sizeof(b)), fr->dns.rcodes[i]);
	qp_jw_end_obj(w);
	w_dist(w, "response_time_ms", &fr->dns_rt, fr->dns_pct, fr->dns_p50, fr->dns_p90, fr->dns_p99);
	qp_jw_end_obj(w);
}

/* A flow's TLS figures: versions, the handshake's two times, the server name when kept. */
static void w_tls(struct qp_jw *w, const struct qp_flow_rec *fr)
{
	const struct qp_tls *t = &fr->tls;
	char b[16];
	qp_jw_key(w, "tls");
	qp_jw_obj(w);
	qp_jw_kstr(w, "client", t->client_dir ? "rev" : "fwd");
	qp_jw_kstr(w, "client_version", qp_tls_version_name(t->client_version, b, sizeof(b)));
	qp_jw_key(w, "version");
	if (t->version)
		qp_jw_str(w, qp_tls_version_name(t->version, b, sizeof(b)));
	else
		qp_jw_null(w);
	int hello = (t->st & (QP_TLS_ST_CH_DONE | QP_TLS_ST_SH_DONE)) ==
			    (QP_TLS_ST_CH_DONE | QP_TLS_ST_SH_DONE) &&
		    t->sh_ns >= t->ch_ns;
	w_ms_or_null(w, "client_hello_to_server_hello_ms", hello ? (int64_t)(t->sh_ns - t->ch_ns) : -1);
	w_ms_or_null(w, "server_hello_to_client_data_ms",
		     (t->st & QP_TLS_ST_DATA) && t->data_ns >= t->sh_ns ? (int64_t)(t->data_ns - t->sh_ns)
									 : -1);
	if (t->sni_len)
		qp_jw_kstr(w, "sni", t->sni);
	qp_jw_kint(w, "malformed", t->malformed);
	qp_jw_end_obj(w);
}

/* A flow's transport stream: its counts, and each PID's. */
static void w_ts(struct qp_jw *w, const struct qp_flow_rec *fr)
{
	const struct qp_ts *s = &fr->ts;
	qp_jw_key(w, "mpegts");
	qp_jw_obj(w);
#define QP_TS_W_(n, h) qp_jw_kint(w, #n, s->c.n);
	QP_TS_COUNTS(QP_TS_W_)
#undef QP_TS_W_
	qp_jw_key(w, "pids");
	qp_jw_arr(w);
	for (unsigned int i = 0; i < s->npids && i < QP_TS_PIDS; i++) {
		const struct qp_ts_pid *r = &s->pid[i];
		qp_jw_obj(w);
		qp_jw_kint(w, "pid", r->pid);
		qp_jw_kint(w, "packets", (int64_t)r->packets);
		qp_jw_kint(w, "cc_errors", r->cc_errors);
		qp_jw_kint(w, "lost", r->lost);
		if (r->st & QP_TS_PID_PCR) {
			qp_jw_key(w, "pcr");
			qp_jw_obj(w);
			qp_jw_kint(w, "intervals", r->pcr_n);
			w_ms_or_null(w, "interval_mean_ms",
				     r->pcr_n ? (int64_t)(r->pcr_iat_sum / r->pcr_n) : -1);
			w_ms_or_null(w, "interval_max_ms", r->pcr_n ? (int64_t)r->pcr_iat_max : -1);
			qp_jw_kint(w, "repetition_errors", r->pcr_repetition_errors);
			qp_jw_end_obj(w);
		}
		qp_jw_end_obj(w);
	}
	qp_jw_end_arr(w);
	qp_jw_end_obj(w);
}

/* A flow's QUIC figures: versions, handshake halves, spin-bit RTT, counts. */
static void w_quic(struct qp_jw *w, const struct qp_flow_rec *fr)
{
	const struct qp_quic *q = &fr->quic;
	qp_jw_key(w, "quic");
	qp_jw_obj(w);
	qp_jw_key(w, "versions");
	qp_jw_arr(w);
	for (unsigned int i = 0; i < q->nversions && i < QP_QUIC_VERSIONS; i++) {
		char v[16];
		snprintf(v, sizeof(v), "0x%08x", q->versions[i]);
		qp_jw_str(w, v);
	}
	qp_jw_end_arr(w);
	if ((q->st & QP_QUIC_ST_CLIENT))
		qp_jw_kstr(w, "client", q->client_dir ? "rev" : "fwd");
	w_ms_or_null(w, "handshake_ms",
		     q->hs_ns >= 0 && q->hs_ack_ns >= 0 && q->hs_ns <= INT64_MAX - q->hs_ack_ns
			     ? q->hs_ns + q->hs_ack_ns
			     : -1);
	w_ms_or_null(w, "handshake_server_ms", q->hs_ns);
	w_ms_or_null(w, "handshake_client_ms", q->hs_ack_ns);
	for (int i = 0; i < 2; i++)
		w_dist(w, i ? "rtt_rev_ms" : "rtt_ms", &q->rtt[i], fr->quic_pct, fr->quic_p50[i],
		       fr->quic_p90[i], fr->quic_p99[i]);
	qp_jw_kbool(w, "spin_active", qp_quic_spin_active(q));
	qp_jw_kint(w, "spin_edges_kept", q->edges_kept);
	qp_jw_kint(w, "spin_edges_discarded", q->edges_discarded);
	qp_jw_kint(w, "packets_long", q->long_pkts);
	qp_jw_kint(w, "packets_short", q->short_pkts);
	qp_jw_kint(w, "initial", q->initial);
	qp_jw_kint(w, "zero_rtt", q->zero_rtt);
	qp_jw_kint(w, "handshake", q->handshake);
	qp_jw_kint(w, "retry", q->retry);
	qp_jw_kint(w, "version_negotiation", q->vneg);
	qp_jw_kint(w, "unknown_version", q->unknown_version);
	qp_jw_end_obj(w);
}

void qp_flow_rec_write(struct qp_jw *w, const struct qp_flow_rec *fr)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	int s = fr->init_swapped, d = !s;
	qp_key_addr_str(&fr->key, s, src, sizeof(src));
	qp_key_addr_str(&fr->key, d, dst, sizeof(dst));
	const char *pn = qp_proto_name(fr->key.proto);
	if (pn)
		qp_jw_kstr(w, "proto", pn);
	else
		qp_jw_kint(w, "proto", fr->key.proto);
	qp_jw_kint(w, "ip_version", fr->key.ipver);
	qp_jw_kstr(w, "src", src);
	qp_jw_kint(w, "sport", fr->key.port[s]);
	qp_jw_kstr(w, "dst", dst);
	qp_jw_kint(w, "dport", fr->key.port[d]);
	qp_jw_kint(w, "first_ns", (int64_t)fr->first_ns);
	qp_jw_kint(w, "last_ns", (int64_t)fr->last_ns);
	qp_jw_kreal(w, "duration_ms", (double)(fr->last_ns - fr->first_ns) / 1e6);
	w_fwd_rev(w, "packets", fr->pkts[0], fr->pkts[1]);
	w_fwd_rev(w, "bytes", fr->bytes[0], fr->bytes[1]);
	qp_jw_key(w, "size");
	qp_jw_obj(w);
	qp_jw_kint(w, "min", fr->size_min == UINT32_MAX ? 0 : (int)fr->size_min);
	qp_jw_kint(w, "max", (int)fr->size_max);
	qp_jw_end_obj(w);
	if (fr->vlan || (fr->encap & QP_ENCAP_VLAN))
		qp_jw_kint(w, "vlan", fr->vlan);
	if (fr->encap & ~QP_ENCAP_VLAN) {
		json_t *e = encap_json(fr->encap & ~QP_ENCAP_VLAN);
		qp_jw_key(w, "encap");
		qp_jw_json(w, e);
		json_decref(e);
	}
	const struct qp_flow_key *k = &fr->key;
	if (k->vlan && k->vlan != fr->vlan)
		qp_jw_kint(w, "inner_vlan", k->vlan);
	if (k->ctx & QP_KEY_CTX_VNI)
		qp_jw_kint(w, "vni", qp_flow_key_vni(k));
	if (k->ctx & QP_KEY_CTX_GRE_KEY)
		qp_jw_kint(w, "gre_key", k->tunnel_id);
	if (k->ctx & QP_KEY_CTX_TEID)
		qp_jw_kint(w, "teid", k->tunnel_id);
	qp_jw_kstr(w, "end", end_name(fr->end));
	if (fr->key.proto == 6) {
		qp_jw_key(w, "tcp");
		qp_jw_obj(w);
		w_ms_or_null(w, "handshake_rtt_ms", fr->hs_rtt_ns);
		w_ms_or_null(w, "handshake_ack_rtt_ms", fr->hs_ack_rtt_ns);
		for (int i = 0; i < 2; i++)
			w_dist(w, i ? "rtt_rev_ms" : "rtt_ms", &fr->rtt[i], fr->rtt_pct, fr->rtt_p50[i],
			       fr->rtt_p90[i], fr->rtt_p99[i]);
		qp_jw_kstr(w, "rtt_method", fr->tcp_ts ? "timestamps" : "seq_ack");
		if (fr->tcp_ts)
			w_fwd_rev(w, "tsvals_pushed_out", fr->tsv_over[0], fr->tsv_over[1]);
		w_fwd_rev(w, "retransmissions", fr->retrans[0], fr->retrans[1]);
		w_fwd_rev(w, "out_of_order", fr->ooo[0], fr->ooo[1]);
		w_fwd_rev(w, "dup_acks", fr->dup_acks[0], fr->dup_acks[1]);
		w_fwd_rev(w, "zero_window", fr->zero_win[0], fr->zero_win[1]);
		w_fwd_rev(w, "resets", fr->resets[0], fr->resets[1]);
		qp_jw_end_obj(w);
	}
	if (fr->has_iat) {
		qp_jw_key(w, "iat_ms");
		qp_jw_obj(w);
		w_stat(w, "fwd", &fr->iat[0]);
		w_stat(w, "rev", &fr->iat[1]);
		qp_jw_end_obj(w);
	}
	if (fr->has_echo) {
		qp_jw_key(w, "icmp");
		qp_jw_obj(w);
		w_fwd_rev(w, "echo_requests", fr->echo_req[0], fr->echo_req[1]);
		w_fwd_rev(w, "echo_replies", fr->echo_rep[0], fr->echo_rep[1]);
		w_stat(w, "echo_rtt_ms", &fr->echo_rtt[0]);
		w_stat(w, "echo_rtt_rev_ms", &fr->echo_rtt[1]);
		qp_jw_end_obj(w);
	}
	if (fr->has_dns)
		w_dns(w, fr);
	if (fr->has_quic)
		w_quic(w, fr);
	if (fr->has_tls)
		w_tls(w, fr);
	if (fr->has_ts)
		w_ts(w, fr);
	int any = 0;
	for (int i = 0; i < QP_FLOW_RTP; i++)
		any |= fr->rtp[i].valid;
	if (any) {
		qp_jw_key(w, "rtp");
		qp_jw_arr(w);
		for (int i = 0; i < QP_FLOW_RTP; i++) {
			const struct qp_rtp_rec *r = &fr->rtp[i];
			if (!r->valid)
				continue;
			qp_jw_obj(w);
			qp_jw_kint(w, "ssrc", r->ssrc);
			qp_jw_kstr(w, "direction", r->dir ? "rev" : "fwd");
			qp_jw_kint(w, "payload_type", r->pt);
			qp_jw_kint(w, "clock_hz", r->clock_hz);
			qp_jw_kint(w, "packets", r->packets);
			qp_jw_kint(w, "expected", r->expected);
			qp_jw_kint(w, "lost", r->lost);
			qp_jw_kint(w, "duplicates", r->dups);
			qp_jw_kint(w, "out_of_order", r->ooo);
			qp_jw_key(w, "jitter_ms");
			qp_jw_obj(w);
			qp_jw_kreal(w, "last", r->jitter_last_ms);
			qp_jw_kreal(w, "mean", r->jitter_mean_ms);
			qp_jw_kreal(w, "max", r->jitter_max_ms);
			qp_jw_end_obj(w);
			qp_jw_kreal(w, "mos", r->mos);
			qp_jw_kint(w, "other_payload_packets", r->other_pt);
			qp_jw_kint(w, "timestamp_jumps", r->ts_jumps);
			qp_jw_end_obj(w);
		}
		qp_jw_end_arr(w);
	}
	if (fr->rtp_over)
		qp_jw_kint(w, "rtp_packets_not_itemised", fr->rtp_over);
}

static void flow_rec_doc(struct qp_jw *w, const void *fr)
{
	qp_jw_obj(w);
	qp_flow_rec_write(w, fr);
	qp_jw_end_obj(w);
}

json_t *qp_flow_rec_json(const struct qp_flow_rec *fr)
{
	return qp_jw_to_json(flow_rec_doc, fr);
}

json_t *qp_counters_json(const struct qp_worker_counters *c)
{
	json_t *o = json_object();
#define SET_(name, help) json_object_set_new(o, #name, json_integer((json_int_t)c->name));
	QP_WORKER_COUNTERS(SET_)
#undef SET_
	json_t *pe = json_object();
	for (int i = 0; i < QP_PARSE_ERR_COUNT; i++)
		json_object_set_new(pe, qp_parse_error_name(QP_PARSE_ERR_FIRST + i),
				    json_integer((json_int_t)c->perr[i]));
	json_object_set_new(o, "parse_error_reasons", pe);
	return o;
}

/* The key of the flow at `off` (a record's or a kept entry's). */
static const void *key_at(const struct qp_report *r, size_t off)
{
	if (off & KEPT)
		return &r->kept[off & ~KEPT]->key;
	return r->fbuf + off + sizeof(struct rec_hdr) + offsetof(struct qp_flow_rec, key);
}

/* The report's order of two flows: when they began, then their key, then
 * when they were added (records in the order of their offsets, before kept
 * entries in the order given: the capture's end keeps them, after every
 * record). The times are in the array (the sort's compares read no record:
 * 65,536 flows, a run 0.126 -> 0.119 s with qp_jw_real's change); the keys
 * only for a tie. */
static int rec_cmp(const void *a, const void *b, void *rep)
{
	const struct rec_at *x = a, *y = b;
	if (x->first_ns != y->first_ns)
		return x->first_ns < y->first_ns ? -1 : 1;
	int c = memcmp(key_at(rep, x->off), key_at(rep, y->off), sizeof(struct qp_flow_key));
	if (c)
		return c;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Put the flows in the report's order: their places are sorted, the records
 * stay where they are. By their first times in a radix sort (bytes of the
 * time past the earliest, as many as the capture's span has), then each run
 * of one time by rec_cmp: the order rec_cmp gives, for 0.1 ms where
 * qsort_r took 1 ms of the realistic mix's 10,000 flows (6.3 M
 * instructions). */
static void sort_flows(struct qp_report *r)
{
	size_t n = r->nflows;
	struct rec_at *a = r->at, *b = n >= 64 ? malloc(n * sizeof(*b)) : NULL;
	if (!b) {
		if (n >= 2)
			qsort_r(a, n, sizeof(*a), rec_cmp, r);
		return;
	}
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < n; i++) {
		lo = a[i].first_ns < lo ? a[i].first_ns : lo;
		hi = a[i].first_ns > hi ? a[i].first_ns : hi;
	}
	for (unsigned int sh = 0; sh < 64 && ((hi - lo) >> sh); sh += 8) {
		size_t at[256] = {0};
		for (size_t i = 0; i < n; i++)
			at[((a[i].first_ns - lo) >> sh) & 255]++;
		for (size_t d = 0, sum = 0; d < 256; d++) {
			size_t c = at[d];
			at[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			b[at[((a[i].first_ns - lo) >> sh) & 255]++] = a[i];
		struct rec_at *x = a;
		a = b;
		b = x;
	}
	if (a != r->at) {
		memcpy(r->at, a, n * sizeof(*a));
		b = a;
	}
	free(b);
	a = r->at;
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && a[j].first_ns == a[i].first_ns; j++)
			;
		if (j - i > 1)
			qsort_r(a + i, j - i, sizeof(*a), rec_cmp, r);
	}
}

/* RTP of an interval or of the whole capture, all streams of a direction. */
static json_t *rtp_totals_json(const struct qp_interval_rec *iv)
{
	json_t *o = json_object();
	for (int d = 0; d < 2; d++) {
		uint64_t e = iv->rtp_expected[d], r = iv->rtp_received[d];
		json_object_set_new(o, d ? "rev" : "fwd",
				    json_pack("{s:I,s:I,s:I,s:o}", "packets", (json_int_t)r, "expected",
					      (json_int_t)e, "lost", (json_int_t)(e > r ? e - r : 0),
					      "jitter_ms", dist_json(&iv->rtp_jitter[d])));
	}
	return o;
}

/* One RTP stream of an interval: who sends it, and its figures there. */
static json_t *rtp_iv_stream_json(const struct qp_rtp_iv_rec *s)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	int a = s->init_swapped ^ s->dir, b = !a;
	qp_key_addr_str(&s->key, a, src, sizeof(src));
	qp_key_addr_str(&s->key, b, dst, sizeof(dst));
	json_t *j = json_pack("{s:I,s:s,s:s,s:i,s:s,s:i,s:i,s:I,s:I,s:I,s:f}", "ssrc",
			      (json_int_t)s->ssrc, "direction", s->dir ? "rev" : "fwd", "src", src,
			      "sport", s->key.port[a], "dst", dst, "dport", s->key.port[b],
			      "payload_type", s->pt, "packets", (json_int_t)s->packets, "expected",
			      (json_int_t)s->expected, "lost", (json_int_t)s->lost, "mos", s->mos);
	key_ctx_json(j, &s->key, 0, "vlan");
	json_object_set_new(j, "jitter_ms",
			    s->jitter_samples ? json_pack("{s:f,s:f,s:f,s:I}", "last", s->jitter_last_ms,
							  "mean", s->jitter_mean_ms, "max",
							  s->jitter_max_ms, "samples",
							  (json_int_t)s->jitter_samples)
					      : json_null());
	return j;
}

/* TCP figures of an interval or of the whole capture. */
static json_t *tcp_totals_json(const uint64_t *retrans, const uint64_t *ooo, const uint64_t *dup,
			       const uint64_t *zw, const uint64_t *rst,
			       const struct qp_dist_summary *rtt)
{
	json_t *t = json_object();
	json_object_set_new(t, "rtt_ms", dist_json(&rtt[0]));
	json_object_set_new(t, "rtt_rev_ms", dist_json(&rtt[1]));
	json_object_set_new(t, "retransmissions", fwd_rev(retrans[0], retrans[1]));
	json_object_set_new(t, "out_of_order", fwd_rev(ooo[0], ooo[1]));
	json_object_set_new(t, "dup_acks", fwd_rev(dup[0], dup[1]));
	json_object_set_new(t, "zero_window", fwd_rev(zw[0], zw[1]));
	json_object_set_new(t, "resets", fwd_rev(rst[0], rst[1]));
	return t;
}

/* DNS totals (an interval's, or the capture's) as JSON. */
static json_t *dns_totals_json(const struct qp_dns_totals *t, const struct qp_dist_summary *rt)
{
	char b[16];
	json_t *o = json_object(), *rc = json_object();
#define J_(n, h) json_object_set_new(o, #n, json_integer((json_int_t)t->n));
	QP_DNS_COUNTS(J_)
#undef J_
	for (unsigned int i = 0; i < 16; i++)
		if (t->rcodes[i])
			json_object_set_new(rc, qp_dns_rcode_name(i, b, sizeof(b)),
					    json_integer((json_int_t)t->rcodes[i]));
	json_object_set_new(o, "rcodes", rc);
	json_object_set_new(o, "response_time_ms", dist_json(rt));
	return o;
}

/* QUIC totals (an interval's, or the capture's) as JSON. */
static json_t *quic_totals_json(const struct qp_quic_totals *t, const struct qp_dist_summary *hs,
				const struct qp_dist_summary rtt[2])
{
	return json_pack("{s:I,s:o,s:o,s:o,s:I,s:I}", "handshakes", (json_int_t)t->handshakes, "handshake_ms", dist_json(hs), "rtt_ms",
			 dist_json(&rtt[0]), "rtt_rev_ms", dist_json(&rtt[1]), "spin_edges_kept",
			 (json_int_t)t->edges_kept, "spin_edges_discarded", (json_int_t)t->edges_discarded);
}

/* Transport stream totals (an interval's, or the capture's) as JSON. */
static json_t *ts_totals_json(const struct qp_ts_totals *t)
{
	json_t *o = json_object();
#define QP_TS_J_(n, h) json_object_set_new(o, #n, json_integer((json_int_t)t->n));
	QP_TS_COUNTS(QP_TS_J_)
#undef QP_TS_J_
	return o;
}

/* TLS totals (an interval's, or the capture's) as JSON. */
static json_t *tls_totals_json(const struct qp_tls_totals *t, const struct qp_dist_summary *hello,
			       const struct qp_dist_summary *data)
{
	char b[16];
	json_t *v = json_object();
	for (unsigned int i = 0; i < 6; i++)
		if (t->versions[i])
			json_object_set_new(v, i < 5 ? qp_tls_version_name((uint16_t)(0x0300 + i), b, sizeof(b))
						     : "other",
					    json_integer((json_int_t)t->versions[i]));
	return json_pack("{s:I,s:o,s:I,s:o,s:o}", "handshakes", (json_int_t)t->hellos,
			 "client_hello_to_server_hello_ms", dist_json(hello), "client_data",
			 (json_int_t)t->data, "server_hello_to_client_data_ms", dist_json(data),
			 "versions", v);
}

json_t *qp_interval_rec_json(const struct qp_interval_rec *iv)
{
	double secs = (double)iv->duration_ns / 1e9;
	json_t *o = json_object();
	json_object_set_new(o, "start_ns", json_integer((json_int_t)iv->start_ns));
	json_object_set_new(o, "duration_ms", json_real((double)iv->duration_ns / 1e6));
	/* false: part of it was lost (lcores_missed workers' share); its figures
	 * are those of the rest, not the interval's traffic */
	json_object_set_new(o, "complete", json_boolean(iv->lcores_missed == 0));
	if (iv->lcores_missed)
		json_object_set_new(o, "lcores_missed", json_integer(iv->lcores_missed));
	json_object_set_new(o, "packets", fwd_rev(iv->pkts[0], iv->pkts[1]));
	json_object_set_new(o, "bytes", fwd_rev(iv->bytes[0], iv->bytes[1]));
	json_object_set_new(o, "bps", json_pack("{s:f,s:f}", "fwd", (double)iv->bytes[0] * 8 / secs,
						 "rev", (double)iv->bytes[1] * 8 / secs));
	json_object_set_new(o, "pps", json_pack("{s:f,s:f}", "fwd", (double)iv->pkts[0] / secs,
						 "rev", (double)iv->pkts[1] / secs));
	json_object_set_new(o, "tcp", tcp_totals_json(iv->retrans, iv->ooo, iv->dup_acks,
						       iv->zero_win, iv->resets, iv->rtt));
	json_object_set_new(o, "icmp", json_pack("{s:o,s:o}", "echo_rtt_ms", dist_json(&iv->echo_rtt[0]),
						 "echo_rtt_rev_ms", dist_json(&iv->echo_rtt[1])));
	json_object_set_new(o, "dns", dns_totals_json(&iv->dns, &iv->dns_rt));
	json_object_set_new(o, "quic", quic_totals_json(&iv->quic, &iv->quic_hs, iv->quic_rtt));
	json_object_set_new(o, "tls", tls_totals_json(&iv->tls, &iv->tls_hello, &iv->tls_data));
	json_object_set_new(o, "mpegts", ts_totals_json(&iv->ts));
	json_t *rtp = rtp_totals_json(iv);
	json_t *st = json_array();
	for (uint32_t i = 0; i < iv->nstreams; i++)
		json_array_append_new(st, rtp_iv_stream_json(&iv->streams[i]));
	json_object_set_new(rtp, "streams", st);
	json_object_set_new(rtp, "streams_not_itemised", json_integer((json_int_t)iv->streams_over));
	json_object_set_new(o, "rtp", rtp);
	if (iv->tp_json) {
		json_t *tp = json_loads(iv->tp_json, 0, NULL);
		if (tp)
			json_object_set_new(o, "two_point", tp);
	}
	if (iv->pres_json) {
		json_t *pr = json_loads(iv->pres_json, 0, NULL);
		if (pr)
			json_object_set_new(o, "packet_results", pr);
	}
	return o;
}

/* Everything of the report but its flows and intervals. */
static json_t *report_head_json(struct qp_report *r)
{
	sort_flows(r);
	const struct qp_capture_totals *t = &r->totals;
	json_t *root = json_object();
	json_object_set_new(root, "qprobe", json_pack("{s:s}", "version", qp_version()));
	json_t *src = json_object();
	json_object_set_new(src, "kind", json_string(r->kind ? r->kind : "unknown"));
	if (r->path)
		json_object_set_new(src, "path", json_string(r->path));
	if (r->linktype)
		json_object_set_new(src, "linktype", json_string(r->linktype));
	if (r->precision)
		json_object_set_new(src, "timestamp_precision", json_string(r->precision));
	json_object_set_new(src, "filter", r->filter ? json_string(r->filter) : json_null());
	char fk[64];
	json_object_set_new(src, "flow_key",
			    json_string(qp_flow_key_parts_str(r->flow_key, fk, sizeof(fk))));
	json_object_set_new(root, "source", src);

	json_t *cap = qp_counters_json(&t->w);
	json_object_set_new(cap, "flows", json_integer((json_int_t)r->nflows));
	json_object_set_new(cap, "flows_evicted", json_integer((json_int_t)t->t.evicted));
	json_object_set_new(cap, "flows_expired_idle", json_integer((json_int_t)t->t.expired_idle));
	json_object_set_new(cap, "flows_expired_active",
			    json_integer((json_int_t)t->t.expired_active));
	json_object_set_new(cap, "flow_table_full", json_integer((json_int_t)t->t.table_full));
	json_object_set_new(cap, "flow_rtt_dist_full", json_integer((json_int_t)t->t.hist_full));
	json_object_set_new(cap, "flow_app_block_full", json_integer((json_int_t)t->t.app_full));
	json_object_set_new(root, "capture", cap);
	struct qp_interval_rec all;
	memset(&all, 0, sizeof(all));
	qp_interval_rec_from(&all, r->tcp);
	json_object_set_new(root, "tcp", tcp_totals_json(all.retrans, all.ooo, all.dup_acks,
							 all.zero_win, all.resets, all.rtt));
	json_object_set_new(root, "icmp",
			    json_pack("{s:o,s:o}", "echo_rtt_ms", dist_json(&all.echo_rtt[0]),
				      "echo_rtt_rev_ms", dist_json(&all.echo_rtt[1])));
	json_object_set_new(root, "dns", dns_totals_json(&all.dns, &all.dns_rt));
	json_object_set_new(root, "quic", quic_totals_json(&all.quic, &all.quic_hs, all.quic_rtt));
	json_object_set_new(root, "tls", tls_totals_json(&all.tls, &all.tls_hello, &all.tls_data));
	json_object_set_new(root, "mpegts", ts_totals_json(&all.ts));
	json_object_set_new(root, "rtp", rtp_totals_json(&all));
	if (r->has_ext && r->ext.top) {
		json_t *x = r->ext.top(r->ext.arg);
		if (x)
			json_object_set_new(root, r->ext.name, x);
	}
	return root;
}

static void fmt_bytes(char *b, size_t n, double v)
{
	static const char *u[] = {"", "k", "M", "G", "T"};
	int i = 0;
	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	snprintf(b, n, i ? "%.1f%s" : "%.0f%s", v, u[i]);
}

/* "addr:port" of a flow's source (side 0) or destination (side 1); IPv6 in brackets. */
static void endpoint_str(const struct qp_flow_rec *f, int side, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	int e = side ? !f->init_swapped : f->init_swapped;
	qp_key_addr_str(&f->key, e, ip, sizeof(ip));
	snprintf(buf, len, f->key.ipver == 6 ? "[%s]:%u" : "%s:%u", ip, f->key.port[e]);
}

/* A flow's mean RTT of one direction as "12.345ms", or "-". */
static void ms_mean(char *buf, size_t len, const struct qp_flow_rec *f, int d)
{
	if (f->rtt[d].n)
		snprintf(buf, len, "%.3fms", (double)f->rtt[d].sum / f->rtt[d].n / 1e6);
	else
		snprintf(buf, len, "-");
}

static void write_table(struct qp_report *r, FILE *out)
{
	sort_flows(r);
	const struct qp_capture_totals *t = &r->totals;
	char fk[64];
	fprintf(out, "qprobe %s  source %s %s  link %s  filter %s  flow key %s\n", qp_version(),
		r->kind ? r->kind : "?", r->path ? r->path : "", r->linktype ? r->linktype : "?",
		r->filter ? r->filter : "(none)", qp_flow_key_parts_str(r->flow_key, fk, sizeof(fk)));
	fprintf(out,
		"frames %" PRIu64 "  measured %" PRIu64 "  filtered %" PRIu64 "  non-ip %" PRIu64
		"  malformed %" PRIu64 "  flows %zu  evicted %" PRIu64 "  table-full %" PRIu64 "\n",
		t->w.packets, t->w.measured, t->w.filtered_out, t->w.non_ip, t->w.parse_errors,
		r->nflows, t->t.evicted, t->t.table_full);
	for (int i = 0; i < QP_PARSE_ERR_COUNT; i++)
		if (t->w.perr[i])
			fprintf(out, "  malformed %-18s %" PRIu64 "\n",
				qp_parse_error_name(QP_PARSE_ERR_FIRST + i), t->w.perr[i]);
	struct qp_interval_rec all;
	memset(&all, 0, sizeof(all));
	qp_interval_rec_from(&all, r->tcp);
	for (int d = 0; d < 2; d++)
		if (all.rtt[d].n)
			fprintf(out,
				"tcp rtt %s (%" PRIu64 " samples): min %.3f  p50 %.3f  p90 %.3f  p99 %.3f  "
				"max %.3f ms; retransmissions %" PRIu64 "\n",
				d ? "rev" : "fwd", all.rtt[d].n, all.rtt[d].min, all.rtt[d].p50,
				all.rtt[d].p90, all.rtt[d].p99, all.rtt[d].max, all.retrans[d]);
	/* endpoint columns as wide as the widest endpoint */
	int wa = (int)strlen("source"), wb = (int)strlen("destination");
	struct qp_flow_rec *f = r->rec;
	for (size_t i = 0; i < r->nflows; i++) {
		char a[INET6_ADDRSTRLEN + 8], b[INET6_ADDRSTRLEN + 8];
		qp_report_flow(r, i, f);
		endpoint_str(f, 0, a, sizeof(a));
		endpoint_str(f, 1, b, sizeof(b));
		if ((int)strlen(a) > wa)
			wa = (int)strlen(a);
		if ((int)strlen(b) > wb)
			wb = (int)strlen(b);
	}
	fprintf(out, "\n%-6s %-*s %-*s %17s %17s %10s %9s %9s %9s %9s%s\n", "proto", wa, "source", wb,
		"destination", "packets fwd/rev", "bytes fwd/rev", "duration", "hs rtt", "rtt fwd",
		"rtt rev", "retr f/r", "");
	for (size_t i = 0; i < r->nflows; i++) {
		qp_report_flow(r, i, f);
		char a[INET6_ADDRSTRLEN + 8], b[INET6_ADDRSTRLEN + 8];
		char pk[48], by[40], b0[16], b1[16], rtt[24], proto[8], r0[24], r1[24], re[24];
		endpoint_str(f, 0, a, sizeof(a));
		endpoint_str(f, 1, b, sizeof(b));
		snprintf(pk, sizeof(pk), "%" PRIu64 "/%" PRIu64, f->pkts[0], f->pkts[1]);
		fmt_bytes(b0, sizeof(b0), (double)f->bytes[0]);
		fmt_bytes(b1, sizeof(b1), (double)f->bytes[1]);
		snprintf(by, sizeof(by), "%s/%s", b0, b1);
		if (f->hs_rtt_ns >= 0)
			snprintf(rtt, sizeof(rtt), "%.3fms", (double)f->hs_rtt_ns / 1e6);
		else
			snprintf(rtt, sizeof(rtt), "-");
		const char *pn = qp_proto_name(f->key.proto);
		if (pn)
			snprintf(proto, sizeof(proto), "%s", pn);
		else
			snprintf(proto, sizeof(proto), "%u", f->key.proto);
		ms_mean(r0, sizeof(r0), f, 0);
		ms_mean(r1, sizeof(r1), f, 1);
		if (f->key.proto == 6)
			snprintf(re, sizeof(re), "%u/%u", f->retrans[0], f->retrans[1]);
		else
			snprintf(re, sizeof(re), "-");
		char kc[80];
		key_ctx_str(&f->key, f->vlan, kc, sizeof(kc));
		fprintf(out, "%-6s %-*s %-*s %17s %17s %9.3fs %9s %9s %9s %9s%s\n", proto, wa, a, wb, b,
			pk, by, (double)(f->last_ns - f->first_ns) / 1e9, rtt, r0, r1, re, kc);
	}
	int any_rtp = 0;
	for (size_t i = 0; i < r->nflows; i++) {
		qp_report_flow(r, i, f);
		for (int k = 0; k < QP_FLOW_RTP; k++) {
			const struct qp_rtp_rec *s = &f->rtp[k];
			int d = s->dir;
			if (!s->valid)
				continue;
			if (!any_rtp++)
				fprintf(out, "\n%-*s %-*s %10s %3s %8s %8s %6s %9s %9s %9s %5s\n", wa,
					"rtp source", wb, "destination", "ssrc", "pt", "packets", "expected",
					"lost", "jit last", "jit mean", "jit max", "mos");
			char a[INET6_ADDRSTRLEN + 8], b[INET6_ADDRSTRLEN + 8];
			endpoint_str(f, d, a, sizeof(a));
			endpoint_str(f, !d, b, sizeof(b));
			fprintf(out, "%-*s %-*s 0x%08x %3u %8u %8u %6u %7.3fms %7.3fms %7.3fms %5.2f\n", wa,
				a, wb, b, s->ssrc, s->pt, s->packets, s->expected, s->lost,
				s->jitter_last_ms, s->jitter_mean_ms, s->jitter_max_ms, s->mos);
		}
	}
	fprintf(out, "\n%-23s %15s %10s %10s %19s %9s %11s %9s\n", "interval start (UTC)",
		"bit/s fwd/rev", "pkt/s fwd", "pkt/s rev", "rtt fwd p50/p99", "retrans",
		"rtp lost", "jit max");
	for (size_t i = 0; i < r->nivs; i++) {
		const struct qp_interval_rec *iv = &r->ivs[i];
		double secs = (double)iv->duration_ns / 1e9;
		char b0[16], b1[16], bb[40], when[40], rtt[40], lost[32], jit[24], re[32];
		fmt_bytes(b0, sizeof(b0), (double)iv->bytes[0] * 8 / secs);
		fmt_bytes(b1, sizeof(b1), (double)iv->bytes[1] * 8 / secs);
		snprintf(bb, sizeof(bb), "%s/%s", b0, b1);
		time_t sec = (time_t)(iv->start_ns / 1000000000ULL);
		struct tm tm;
		gmtime_r(&sec, &tm);
		size_t n = strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		snprintf(when + n, sizeof(when) - n, ".%03u",
			 (unsigned)(iv->start_ns % 1000000000ULL / 1000000));
		/* RTT of the fwd packets (the initiator's, answered by the far side) */
		if (iv->rtt[0].n)
			snprintf(rtt, sizeof(rtt), "%.3f/%.3f", iv->rtt[0].p50, iv->rtt[0].p99);
		else
			snprintf(rtt, sizeof(rtt), "-");
		snprintf(re, sizeof(re), "%" PRIu64, iv->retrans[0] + iv->retrans[1]);
		uint64_t e = iv->rtp_expected[0] + iv->rtp_expected[1];
		uint64_t g = iv->rtp_received[0] + iv->rtp_received[1];
		if (e)
			snprintf(lost, sizeof(lost), "%" PRIu64 "/%" PRIu64, e > g ? e - g : 0, e);
		else
			snprintf(lost, sizeof(lost), "-");
		double jm = iv->rtp_jitter[0].n ? iv->rtp_jitter[0].max : 0;
		if (iv->rtp_jitter[1].n && iv->rtp_jitter[1].max > jm)
			jm = iv->rtp_jitter[1].max;
		if (iv->rtp_jitter[0].n || iv->rtp_jitter[1].n)
			snprintf(jit, sizeof(jit), "%.3fms", jm);
		else
			snprintf(jit, sizeof(jit), "-");
		fprintf(out, "%-23s %15s %10.1f %10.1f %19s %9s %11s %9s\n", when, bb,
			(double)iv->pkts[0] / secs, (double)iv->pkts[1] / secs, rtt, re, lost, jit);
		for (uint32_t k = 0; k < iv->nstreams; k++) {
			const struct qp_rtp_iv_rec *st = &iv->streams[k];
			char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
			int x = st->init_swapped ^ st->dir;
			qp_key_addr_str(&st->key, x, a, sizeof(a));
			qp_key_addr_str(&st->key, !x, b, sizeof(b));
			fprintf(out,
				"  rtp 0x%08x %s:%u > %s:%u  packets %u  lost %u/%u  jitter mean %.3f "
				"max %.3f ms  mos %.2f\n",
				st->ssrc, a, st->key.port[x], b, st->key.port[!x], st->packets, st->lost,
				st->expected, st->jitter_mean_ms, st->jitter_max_ms, st->mos);
		}
		if (iv->streams_over)
			fprintf(out, "  rtp: %" PRIu64 " more streams not itemised\n", iv->streams_over);
	}
}

/* jansson writes token by token: gather them and hand stdio 64 KiB at a time */
struct outbuf {
	FILE *f;
	size_t n;
	int err;
	char b[65536];
};

static int outbuf_flush(struct outbuf *o)
{
	if (o->n && fwrite(o->b, 1, o->n, o->f) != o->n)
		o->err = 1;
	o->n = 0;
	return o->err ? -1 : 0;
}

static int outbuf_add(const char *buf, size_t size, void *data)
{
	struct outbuf *o = data;
	if (size > sizeof(o->b) - o->n && outbuf_flush(o))
		return -1;
	if (size > sizeof(o->b))
		return fwrite(buf, 1, size, o->f) == size ? 0 : -1;
	memcpy(o->b + o->n, buf, size);
	o->n += size;
	return 0;
}

#define DUMP_FLAGS (JSON_INDENT(1) | JSON_REAL_PRECISION(10))

/* One array of the report, each element built, written and freed in turn. */
static int write_array(struct outbuf *ob, const char *name, size_t n,
		       json_t *(*elem)(const struct qp_report *r, size_t i), const struct qp_report *r)
{
	char pre[64];
	snprintf(pre, sizeof(pre), ",\n \"%s\": [", name);
	if (outbuf_add(pre, strlen(pre), ob))
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *j = elem(r, i);
		if (!j)
			return -1;
		int rc = outbuf_add(i ? ",\n" : "\n", i ? 2 : 1, ob);
		if (!rc)
			rc = json_dump_callback(j, outbuf_add, ob, DUMP_FLAGS);
		json_decref(j);
		if (rc)
			return -1;
	}
	return outbuf_add(n ? "\n ]" : "]", n ? 3 : 1, ob);
}

/*
 * The flows, one a line, written as they are read (qp_jw): a million-flow
 * report builds no object a flow. The extension's part (two-point) is a
 * jansson value, dumped inside.
 */
static int jw_outbuf(const char *buf, size_t len, void *arg)
{
	return outbuf_add(buf, len, arg);
}

/* Flows [from, to) of the report, each after its separator (i: its place). */
static void write_flow_range(struct qp_jw *w, const struct qp_report *r, size_t from, size_t to,
			     struct qp_flow_rec *rec)
{
	for (size_t i = from; i < to; i++) {
		qp_jw_raw(w, i ? ",\n  " : "\n  ", i ? 4 : 3);
		qp_jw_obj(w);
		qp_report_flow(r, i, rec);
		qp_flow_rec_write(w, rec);
		if (r->has_ext && r->ext.flow) {
			json_t *x = r->ext.flow(rec, r->ext.arg);
			if (x) {
				qp_jw_key(w, r->ext.name);
				qp_jw_json(w, x);
				json_decref(x);
			}
		}
		qp_jw_end_obj(w);
		w->depth = 0; /* each flow a document of its own */
		w->more[0] = 0;
	}
}

/*
 * The flows' chunks are shared out as the two threads come for them: each
 * takes the next chunk not yet taken, the first writes them out in order,
 * straight when it took the chunk next in line, else from the buffer the
 * chunk was made in. The report's flows are made from the records or the
 * table's entries and formatted: 14 ms of the realistic mix's 10,000 flows
 * on one core, and a second core made them at 1.3 to 2 us a flow against
 * the first's 1 (the entries are in the first one's cache, and the two
 * cores of a VM need not be as fast): a fixed share (two chunks of every
 * three) left the first waiting for a third of the time. The file's writes
 * stay on the first. Only for reports of many flows, when a second
 * processor is there, and without an extension (its callbacks are not made
 * for two threads).
 */
#define CHUNK 128
#define HELPER_MIN (16 * CHUNK)
#define NBUF 8 /* chunks taken ahead of the one next in line */

struct chunk_buf {
	struct qp_jw_mem m;
	size_t k; /* the chunk made in it, + 1 (0: none yet) */
	int err;
};

/* Thread-safety: next, out, stop and buf[].k under mu; a buffer's bytes
 * are its maker's until its k says the chunk is made, then the writer's
 * until out passes the chunk. */
struct helper {
	const struct qp_report *r;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t nchunks;
	size_t next; /* the next chunk either thread takes */
	size_t out;  /* chunks below this are written out */
	int stop;
	struct chunk_buf buf[NBUF];
	struct qp_jw w;
	struct qp_flow_rec rec;
};

/* Chunk k of the flows through w. */
static void chunk_range(struct qp_jw *w, const struct qp_report *r, size_t k,
			struct qp_flow_rec *rec)
{
	size_t from = k * CHUNK, to = from + CHUNK < r->nflows ? from + CHUNK : r->nflows;
	write_flow_range(w, r, from, to, rec);
}

/* Chunk k into its buffer, through w (whose sink is switched there). */
static void chunk_make(struct helper *h, struct qp_jw *w, size_t k, struct qp_flow_rec *rec)
{
	struct chunk_buf *c = &h->buf[k % NBUF];
	qp_jw_sink *sink = w->sink;
	void *arg = w->arg;
	int err0 = qp_jw_flush(w); /* what w holds is its own sink's */
	c->m.n = 0;
	w->sink = qp_jw_mem_sink;
	w->arg = &c->m;
	chunk_range(w, h->r, k, rec);
	int err = qp_jw_flush(w) != 0;
	w->sink = sink;
	w->arg = arg;
	w->err = err0;
	pthread_mutex_lock(&h->mu);
	c->err = err;
	c->k = k + 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

/* A chunk may be taken when there is one left and its buffer is free. */
static int can_take(const struct helper *h)
{
	return h->next < h->nchunks && h->next < h->out + NBUF;
}

static void *helper_main(void *arg)
{
	struct helper *h = arg;
	qp_jw_init(&h->w, qp_jw_mem_sink, NULL);
	pthread_mutex_lock(&h->mu);
	while (!h->stop && h->next < h->nchunks) {
		if (!can_take(h)) {
			pthread_cond_wait(&h->cv, &h->mu);
			continue;
		}
		size_t k = h->next++;
		pthread_mutex_unlock(&h->mu);
		chunk_make(h, &h->w, k, &h->rec);
		pthread_mutex_lock(&h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* Every chunk, in order, through w (the writer's), the helper making some. */
static void shared_chunks(struct qp_jw *w, struct outbuf *ob, const struct qp_report *r,
			  struct helper *h)
{
	pthread_mutex_lock(&h->mu);
	while (h->out < h->nchunks) {
		size_t k = h->out;
		struct chunk_buf *c = &h->buf[k % NBUF];
		if (c->k == k + 1) { /* made: written out from its buffer */
			int err = c->err;
			pthread_mutex_unlock(&h->mu);
			if (err) /* no memory there: made here instead */
				chunk_range(w, r, k, r->rec);
			else if (qp_jw_flush(w) || outbuf_add(c->m.p, c->m.n, ob))
				w->err = 1;
			pthread_mutex_lock(&h->mu);
			h->out++;
			pthread_cond_broadcast(&h->cv);
		} else if (can_take(h)) {
			size_t t = h->next++;
			pthread_mutex_unlock(&h->mu);
			if (t == k) { /* next in line: straight out */
				chunk_range(w, r, k, r->rec);
				pthread_mutex_lock(&h->mu);
				h->out++;
				pthread_cond_broadcast(&h->cv);
			} else {
				chunk_make(h, w, t, r->rec);
				pthread_mutex_lock(&h->mu);
			}
		} else { /* the helper is making the chunk next in line */
			pthread_cond_wait(&h->cv, &h->mu);
		}
	}
	h->stop = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

static int write_flows(struct outbuf *ob, const struct qp_report *r)
{
	if (outbuf_add(",\n \"flows\": [", 13, ob))
		return -1;
	struct qp_jw *w = malloc(sizeof(*w));
	if (!w)
		return -1;
	qp_jw_init(w, jw_outbuf, ob);
	size_t nchunks = (r->nflows + CHUNK - 1) / CHUNK;
	struct helper *h = NULL;
	pthread_t th;
	if (r->nflows >= HELPER_MIN && !(r->has_ext && r->ext.flow) && qp_cpu_usable() >= 2 &&
	    (h = calloc(1, sizeof(*h)))) {
		h->r = r;
		h->nchunks = nchunks;
		pthread_mutex_init(&h->mu, NULL);
		pthread_cond_init(&h->cv, NULL);
		if (pthread_create(&th, NULL, helper_main, h) != 0) {
			pthread_mutex_destroy(&h->mu);
			pthread_cond_destroy(&h->cv);
			free(h);
			h = NULL;
		}
	}
	if (h) {
		shared_chunks(w, ob, r, h);
		pthread_join(th, NULL);
		for (int i = 0; i < NBUF; i++)
			free(h->buf[i].m.p);
		pthread_mutex_destroy(&h->mu);
		pthread_cond_destroy(&h->cv);
		free(h);
	} else {
		for (size_t k = 0; k < nchunks; k++)
			chunk_range(w, r, k, r->rec);
	}
	int rc = qp_jw_flush(w);
	free(w);
	if (rc)
		return -1;
	return outbuf_add(r->nflows ? "\n ]" : "]", r->nflows ? 3 : 1, ob);
}

static json_t *iv_elem(const struct qp_report *r, size_t i)
{
	json_t *j = qp_interval_rec_json(&r->ivs[i]);
	if (j && r->has_ext && r->ext.interval) {
		json_t *x = r->ext.interval(&r->ivs[i], r->ext.arg);
		if (x)
			json_object_set_new(j, r->ext.name, x);
	}
	return j;
}

/*
 * The JSON report, streamed: the head is dumped as one object without its
 * closing brace, then each flow and interval is built, written and freed, so
 * a report of a million flows never holds them all as JSON at once.
 */
static int write_json(struct qp_report *r, FILE *out)
{
	json_t *head = report_head_json(r);
	char *h = head ? json_dumps(head, DUMP_FLAGS) : NULL;
	json_decref(head);
	struct outbuf *ob = h ? malloc(sizeof(*ob)) : NULL;
	if (!ob) {
		free(h);
		return -ENOMEM;
	}
	ob->f = out;
	ob->n = 0;
	ob->err = 0;
	size_t hl = strlen(h);
	while (hl && h[hl - 1] != '}') /* the head's closing brace goes last */
		hl--;
	if (hl) /* and so does the white space before it */
		for (hl--; hl && (h[hl - 1] == '\n' || h[hl - 1] == ' '); hl--)
			;
	int rc = hl ? outbuf_add(h, hl, ob) : -1;
	if (!rc)
		rc = write_flows(ob, r);
	if (!rc)
		rc = write_array(ob, "intervals", r->nivs, iv_elem, r);
	if (!rc)
		rc = outbuf_add("\n}\n", 3, ob);
	if (outbuf_flush(ob))
		rc = -1;
	free(ob);
	free(h);
	return rc ? -EIO : 0;
}

int qp_report_write(struct qp_report *r, const char *format, FILE *out)
{
	if (strcmp(format, "table") == 0)
		write_table(r, out);
	else if (write_json(r, out) != 0)
		return -EIO;
	return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}
