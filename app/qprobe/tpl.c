/* tpl: see tpl.h. */
#include "tpl.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qmcp_client.h"
#include "qmcp_tls.h"
#include "qmcp_tp.h"
#include "qp_clock.h"
#include "qp_tp.h"
#include "qp_tp_batch.h"

#define MARGIN_NS 20000000ULL     /* records are taken up to the workers' progress, and never from the last 20 ms */
#define MERGE_MAX (1u << 20)      /* records held between drains, at most */
#define RETRY_NS 2000000000ULL    /* reconnect to a lost secondary after */
#define DONE_MAX 64               /* final intervals waiting for a result */
#define WINDOW (1u << 20)         /* records waiting for their match */
#define FUTURE_NS 10000000000ULL  /* a secondary's watermark beyond now + this is clamped */
#define IV_RING 256

static struct {
	char probe_id[128];
	uint8_t secret[1024];
	size_t secret_len;
	int (*push)(int session, const uint8_t *frame, size_t len);
	uint64_t (*progress)(unsigned int worker);
	const struct qmcp_tls *tls; /* trust for tls:// secondaries */
} G;

enum peer_state { PEER_CONNECTING, PEER_CONNECTED, PEER_LOST, PEER_REFUSED };
static const char *const peer_state_name[] = {"connecting", "connected", "lost", "refused"};

struct tpl {
	struct tpl_params p;
	struct tpl_meas m;
	char filter[1024];
	uint64_t control_ns, loss_ns;
	unsigned int nworkers;
	struct qp_tp_ring **rings;
	/* records between drains, sorted before use */
	struct qp_tp_rec *buf;
	uint32_t nbuf;
	uint64_t last_upto;
	uint64_t late, overflow;
	/* secondary */
	struct qp_tp_batcher *batcher;
	uint64_t last_flush, push_failed;
	/* primary */
	pthread_t thread;
	int has_thread;
	int stop;
	struct qp_tp *tp;
	struct qmcp_client *c;
	uint64_t next_try, next_k, b_wm, last_totals;
	struct qp_flow_key *ids; /* the secondary's flow ids */
	uint8_t *id_ok;
	uint32_t nids;
	uint64_t records[2], batches, bad_batches, bad_records, peer_absent, peer_dropped;
	/* the engine: its thread changes it, other threads read flows, under elock */
	pthread_mutex_t elock;
	/* shared with the management thread, under lock */
	pthread_mutex_t lock;
	enum peer_state state;
	char peer_error[512];
	uint32_t peer_meas;
	char peer_clock[32];
	uint32_t peer_clock_err_us;
	json_t *done;   /* final intervals not yet in a result */
	json_t *totals; /* the engine's figures, refreshed each second */
};

void tpl_init(const char *probe_id, const uint8_t *secret, size_t secret_len,
	      const struct qmcp_tls *tls, int (*push)(int session, const uint8_t *frame, size_t len),
	      uint64_t (*progress)(unsigned int worker))
{
	G.tls = tls;
	G.progress = progress;
	snprintf(G.probe_id, sizeof(G.probe_id), "%s", probe_id ? probe_id : "qprobe");
	G.secret_len = secret && secret_len <= sizeof(G.secret) ? secret_len : 0;
	if (G.secret_len)
		memcpy(G.secret, secret, G.secret_len);
	G.push = push;
}

uint64_t tpl_control_ns(uint64_t interval_ns)
{
	uint64_t c = interval_ns / 10;
	return c < 50000000ULL ? 50000000ULL : c > 1000000000ULL ? 1000000000ULL : c;
}

uint64_t tpl_default_loss_timer_ns(uint64_t interval_ns)
{
	uint64_t l = 4 * tpl_control_ns(interval_ns);
	return l < 500000000ULL ? 500000000ULL : l;
}

/* ---- records from the workers, merged in time order ---- */

static int rec_cmp(const void *a, const void *b)
{
	const struct qp_tp_rec *x = a, *y = b;
	return x->ts_ns < y->ts_ns ? -1 : x->ts_ns > y->ts_ns;
}

/*
 * The time before which every worker has recorded what it stamped: a worker
 * that lost its CPU holds it back, so none of its records comes late.
 */
static uint64_t complete_upto(const struct tpl *t, uint64_t now)
{
	uint64_t upto = now - MARGIN_NS;
	for (unsigned int i = 0; G.progress && i < t->nworkers; i++) {
		uint64_t d = G.progress(i);
		if (d < upto)
			upto = d;
	}
	return upto;
}

/* Drain the rings; return how many of the (sorted) records are older than upto. */
static uint32_t drain(struct tpl *t, uint64_t upto)
{
	for (unsigned int i = 0; i < t->nworkers; i++)
		t->nbuf += qp_tp_ring_pop(t->rings[i], t->buf + t->nbuf, MERGE_MAX - t->nbuf);
	qsort(t->buf, t->nbuf, sizeof(*t->buf), rec_cmp);
	uint32_t k = 0;
	while (k < t->nbuf && t->buf[k].ts_ns < upto)
		k++;
	return k;
}

static void consume(struct tpl *t, uint32_t k)
{
	memmove(t->buf, t->buf + k, (t->nbuf - k) * sizeof(*t->buf));
	t->nbuf -= k;
	if (t->nbuf == MERGE_MAX) /* full: the oldest give way, counted */
		t->overflow += t->nbuf, t->nbuf = 0;
}

static uint64_t ring_dropped(const struct tpl *t)
{
	uint64_t d = t->late + t->overflow;
	for (unsigned int i = 0; i < t->nworkers; i++)
		d += qp_tp_ring_dropped(t->rings[i]);
	return d;
}

/* ---- secondary ---- */

static void send_frame(const uint8_t *frame, size_t len, uint32_t nrecs, void *arg)
{
	struct tpl *t = arg;
	(void)nrecs;
	if (!G.push || G.push(t->m.session, frame, len) != 0)
		t->push_failed++;
}

void tpl_tick(struct tpl *t, uint64_t now)
{
	if (t->p.role != TPL_ROLE_SECONDARY || now - t->last_flush < t->control_ns)
		return;
	t->last_flush = now;
	uint64_t upto = complete_upto(t, now);
	uint32_t k = drain(t, upto);
	for (uint32_t i = 0; i < k; i++) {
		if (t->buf[i].ts_ns < t->last_upto)
			t->late++; /* older than a watermark already sent */
		else
			qp_tp_batcher_add(t->batcher, &t->buf[i]);
	}
	consume(t, k);
	if (upto > t->last_upto)
		t->last_upto = upto;
	qp_tp_batcher_flush(t->batcher, t->last_upto, ring_dropped(t));
}

/* ---- primary ---- */

static void set_state(struct tpl *t, enum peer_state s, const char *err)
{
	pthread_mutex_lock(&t->lock);
	t->state = s;
	snprintf(t->peer_error, sizeof(t->peer_error), "%s", err ? err : "");
	pthread_mutex_unlock(&t->lock);
}

static int split_peer(const char *peer, char *host, size_t hl, int *port)
{
	const char *colon = strrchr(peer, ':');
	if (!colon)
		return -1;
	const char *h = peer;
	size_t n = (size_t)(colon - peer);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n == 0 || n >= hl)
		return -1;
	memcpy(host, h, n);
	host[n] = 0;
	char *end;
	long v = strtol(colon + 1, &end, 10);
	if (*end || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static void peer_info(struct tpl *t)
{
	struct qmcp_msg m;
	struct qmcp_reply r;
	char err[256];
	qmcp_msg_init(&m, QMCP_MSG_INFO, 0, qmcp_client_next_id(t->c));
	int rc = qmcp_client_call(t->c, &m, &r, 3000, err, sizeof(err));
	qmcp_msg_free(&m);
	if (rc == 0) {
		struct qmcp_tlv v;
		char st[32] = "unknown";
		uint32_t e = 0;
		if (qmcp_find(r.body, r.len, QMCP_T_CLOCK_STATE, &v) == 1)
			qmcp_tlv_str(&v, st, sizeof(st));
		if (qmcp_find(r.body, r.len, QMCP_T_CLOCK_ERROR_US, &v) == 1)
			qmcp_tlv_u32(&v, &e);
		pthread_mutex_lock(&t->lock);
		snprintf(t->peer_clock, sizeof(t->peer_clock), "%s", st);
		t->peer_clock_err_us = e;
		pthread_mutex_unlock(&t->lock);
	}
	qmcp_reply_free(&r);
}

static void connect_peer(struct tpl *t, uint64_t now)
{
	char host[256], err[512];
	int port;
	t->next_try = now + RETRY_NS;
	const char *addr;
	int tls = qmcp_dest_tls(t->p.peer, &addr); /* tls://host:port: over TLS */
	if (split_peer(addr, host, sizeof(host), &port)) {
		set_state(t, PEER_REFUSED, "the peer is not [tls://]host:port");
		return;
	}
	t->c = qmcp_client_connect_tls(host, port, tls ? G.tls : NULL, 2000, err, sizeof(err));
	if (!t->c) {
		set_state(t, PEER_LOST, err);
		return;
	}
	if (qmcp_client_hello(t->c, G.probe_id, G.secret_len ? G.secret : NULL, G.secret_len, 3000,
			      err, sizeof(err)) != 0)
		goto fail;
	peer_info(t);
	struct qmcp_msg m;
	struct qmcp_reply r;
	qmcp_msg_init(&m, QMCP_MSG_START, 0, qmcp_client_next_id(t->c));
	qmcp_put_str(&m, QMCP_T_FILTER, t->p.peer_filter[0] ? t->p.peer_filter : t->filter);
	qmcp_put_u32(&m, QMCP_T_INTERVAL_MS, (uint32_t)(t->m.interval_ns / 1000000));
	qmcp_put_u8(&m, QMCP_T_TP_ROLE, TPL_ROLE_SECONDARY);
	qmcp_put_u64(&m, QMCP_T_TP_THRESHOLD, t->p.sig.threshold);
	qmcp_put_u8(&m, QMCP_T_TP_SIG_PAYLOAD, (uint8_t)t->p.sig.payload_bytes);
	qmcp_put_u8(&m, QMCP_T_TP_NAT, t->p.sig.nat);
	qmcp_put_u32(&m, QMCP_T_TP_LOSS_TIMER_MS, (uint32_t)(t->loss_ns / 1000000));
	char desc[256];
	snprintf(desc, sizeof(desc), "two-point secondary of %s, measurement %u", G.probe_id, t->m.id);
	qmcp_put_str(&m, QMCP_T_DESCRIPTION, desc);
	int rc = qmcp_client_call(t->c, &m, &r, 5000, err, sizeof(err));
	qmcp_msg_free(&m);
	if (rc == 0) {
		struct qmcp_tlv v;
		uint32_t id = 0;
		if (qmcp_find(r.body, r.len, QMCP_T_MEAS_ID, &v) == 1)
			qmcp_tlv_u32(&v, &id);
		qmcp_reply_free(&r);
		pthread_mutex_lock(&t->lock);
		t->peer_meas = id;
		pthread_mutex_unlock(&t->lock);
		t->nids = 0; /* the new measurement's flow ids start afresh */
		memset(t->id_ok, 0, QP_TP_BATCH_FLOW_IDS);
		set_state(t, PEER_CONNECTED, NULL);
		return;
	}
	qmcp_reply_free(&r);
fail:
	set_state(t, PEER_REFUSED, err);
	qmcp_client_close(t->c);
	t->c = NULL;
}

static void peer_gone(struct tpl *t, const char *why)
{
	qmcp_client_close(t->c);
	t->c = NULL;
	qp_tp_finish(t->tp); /* what waited is lost or unresolved, as the watermarks say */
	t->next_try = qp_clock_realtime_ns() + RETRY_NS;
	set_state(t, PEER_LOST, why);
}

/* One TP_RECORDS batch from the secondary. */
static void take_batch(struct tpl *t, const struct qmcp_reply *rep, uint64_t now)
{
	struct qmcp_tp_batch b;
	char err[256];
	if (qmcp_tp_parse(rep->body, rep->len, &b, err, sizeof(err)) != 0) {
		t->bad_batches++;
		set_state(t, PEER_CONNECTED, err);
		return;
	}
	t->batches++;
	t->peer_dropped = b.dropped;
	for (uint32_t i = 0; i < b.nflows; i++) {
		uint32_t id;
		struct qmcp_tp_key k;
		qmcp_tp_flow_at(&b, i, &id, &k);
		if (id >= QP_TP_BATCH_FLOW_IDS) {
			t->bad_records++;
			continue;
		}
		struct qp_flow_key *d = &t->ids[id];
		memset(d, 0, sizeof(*d));
		memcpy(d->addr, k.addr, 32);
		d->port[0] = k.port[0];
		d->port[1] = k.port[1];
		d->proto = k.proto;
		d->ipver = k.ipver;
		t->id_ok[id] = 1;
	}
	for (uint32_t i = 0; i < b.nrecs; i++) {
		struct qmcp_tp_rec r;
		qmcp_tp_rec_at(&b, i, &r);
		if (r.flow >= QP_TP_BATCH_FLOW_IDS || !t->id_ok[r.flow] || r.ts_ns < t->b_wm) {
			t->bad_records++; /* an undefined flow, or older than a watermark given */
			continue;
		}
		struct qp_tp_rec rec = {.sig = r.sig, .ts_ns = r.ts_ns, .size = r.size,
					.swapped = r.swapped, .key = t->ids[r.flow]};
		qp_tp_add(t->tp, QP_TP_B, &rec);
		t->records[1]++;
	}
	uint64_t wm = b.watermark_ns;
	if (wm > now + FUTURE_NS)
		wm = now + FUTURE_NS;
	if (wm > t->b_wm) {
		t->b_wm = wm;
		qp_tp_watermark(t->tp, QP_TP_B, wm);
	}
}

static void finalize(struct tpl *t, uint64_t now)
{
	for (int n = 0; n < 1000 && qp_tp_interval_final(t->tp, t->next_k); n++) {
		json_t *j = qp_tp_interval_take(t->tp, t->next_k);
		json_object_set_new(j, "interval_start_ns",
				    json_integer((json_int_t)(t->next_k * t->m.interval_ns)));
		pthread_mutex_lock(&t->lock);
		if (json_array_size(t->done) >= DONE_MAX)
			json_array_remove(t->done, 0);
		json_array_append_new(t->done, j);
		pthread_mutex_unlock(&t->lock);
		t->next_k++;
	}
	if (now - t->last_totals >= 1000000000ULL) {
		json_t *tot = qp_tp_json(t->tp);
		pthread_mutex_lock(&t->lock);
		json_decref(t->totals);
		t->totals = tot;
		pthread_mutex_unlock(&t->lock);
		t->last_totals = now;
	}
}

static void *primary_main(void *arg)
{
	struct tpl *t = arg;
	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now = qp_clock_realtime_ns();
		if (!t->c && now >= t->next_try)
			connect_peer(t, now);
		uint64_t upto = complete_upto(t, now);
		uint32_t k = drain(t, upto);
		pthread_mutex_lock(&t->elock);
		for (uint32_t i = 0; i < k; i++) {
			if (t->buf[i].ts_ns < t->last_upto) {
				t->late++;
			} else if (t->c) {
				qp_tp_add(t->tp, QP_TP_A, &t->buf[i]);
				t->records[0]++;
			} else {
				t->peer_absent++; /* nothing to match against */
			}
		}
		if (t->c)
			qp_tp_watermark(t->tp, QP_TP_A, upto > t->last_upto ? upto : t->last_upto);
		pthread_mutex_unlock(&t->elock);
		consume(t, k);
		if (upto > t->last_upto)
			t->last_upto = upto;
		if (t->c) {
			for (int j = 0; j < 64 && t->c; j++) {
				struct qmcp_reply rep;
				int rc = qmcp_client_next_push(t->c, &rep, j ? 0 : 10);
				if (rc == 0)
					break;
				if (rc < 0) {
					pthread_mutex_lock(&t->elock);
					peer_gone(t, rc == -EPROTO ? "the secondary sent a frame that is not "
								     "QMCP or is over 1 MiB; session closed"
								   : "the secondary closed the session");
					pthread_mutex_unlock(&t->elock);
					break;
				}
				pthread_mutex_lock(&t->elock);
				if (rep.h.type == QMCP_MSG_TP_RECORDS)
					take_batch(t, &rep, now);
				pthread_mutex_unlock(&t->elock);
				qmcp_reply_free(&rep);
			}
		} else {
			struct timespec nap = {0, 10000000};
			nanosleep(&nap, NULL);
		}
		pthread_mutex_lock(&t->elock);
		finalize(t, qp_clock_realtime_ns());
		pthread_mutex_unlock(&t->elock);
	}
	if (t->c) {
		qmcp_client_close(t->c); /* the secondary's measurement ends with the session */
		t->c = NULL;
	}
	return NULL;
}

/* ---- both ---- */

struct tpl *tpl_create(const struct tpl_params *p, const struct tpl_meas *m, unsigned int nworkers,
		       char *err, size_t errlen)
{
	struct tpl *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->p = *p;
	t->m = *m;
	snprintf(t->filter, sizeof(t->filter), "%s", m->filter ? m->filter : "");
	t->m.filter = t->filter;
	t->control_ns = tpl_control_ns(m->interval_ns);
	t->loss_ns = p->loss_timer_ns ? p->loss_timer_ns : tpl_default_loss_timer_ns(m->interval_ns);
	t->nworkers = nworkers;
	t->last_upto = m->start_ns;
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->elock, NULL);
	t->done = json_array();
	t->rings = calloc(nworkers ? nworkers : 1, sizeof(*t->rings));
	t->buf = malloc(sizeof(*t->buf) * MERGE_MAX);
	int bad = !t->rings || !t->buf || !t->done;
	for (unsigned int i = 0; i < nworkers && !bad; i++)
		bad = !(t->rings[i] = qp_tp_ring_create(TPL_RING_ORDER));
	if (!bad && p->role == TPL_ROLE_SECONDARY) {
		t->batcher = qp_tp_batcher_create(m->id, 4000000000ULL, send_frame, t);
		bad = !t->batcher;
	}
	if (!bad && p->role == TPL_ROLE_PRIMARY) {
		struct qp_tp_cfg c = {.loss_timer_ns = t->loss_ns,
				      .break_ns = 1000000000ULL,
				      .interval_ns = m->interval_ns,
				      .base_ns = 0,
				      .window = WINDOW,
				      .iv_ring = IV_RING,
				      .max_flows = m->max_flows,
				      .flow_dists = 0};
		t->tp = qp_tp_create(&c);
		t->ids = malloc(sizeof(*t->ids) * QP_TP_BATCH_FLOW_IDS);
		t->id_ok = calloc(QP_TP_BATCH_FLOW_IDS, 1);
		bad = !t->tp || !t->ids || !t->id_ok;
		t->next_k = m->start_ns / m->interval_ns;
		t->state = PEER_CONNECTING;
		if (!bad) {
			bad = pthread_create(&t->thread, NULL, primary_main, t) != 0;
			t->has_thread = !bad;
		}
	}
	if (bad) {
		snprintf(err, errlen, "out of memory for the two-point state");
		tpl_destroy(t);
		return NULL;
	}
	return t;
}

struct qp_tp_ring *tpl_ring(struct tpl *t, unsigned int worker)
{
	return t->rings[worker];
}

const struct qp_sig_cfg *tpl_sig(const struct tpl *t)
{
	return &t->p.sig;
}

static json_t *state_json(struct tpl *t)
{
	/* lock held */
	json_t *o = json_object();
	json_object_set_new(o, "role", json_string(t->p.role == TPL_ROLE_PRIMARY ? "primary" : "secondary"));
	json_object_set_new(o, "loss_timer_ms", json_real((double)t->loss_ns / 1e6));
	json_object_set_new(o, "control_interval_ms", json_real((double)t->control_ns / 1e6));
	json_object_set_new(o, "selection",
			    json_pack("{s:f,s:i,s:b}", "rate", qp_sig_rate(&t->p.sig), "payload_bytes",
				      (int)t->p.sig.payload_bytes, "nat", t->p.sig.nat));
	uint32_t e = 0;
	const char *cs = qp_clock_sync_state(&e);
	json_t *clk = json_pack("{s:s,s:I}", "state", cs, "error_us", (json_int_t)e);
	if (t->p.role == TPL_ROLE_PRIMARY) {
		json_object_set_new(o, "peer", json_string(t->p.peer));
		json_object_set_new(o, "peer_state", json_string(peer_state_name[t->state]));
		json_object_set_new(o, "peer_error", t->peer_error[0] ? json_string(t->peer_error) : json_null());
		json_object_set_new(o, "peer_measurement", json_integer(t->peer_meas));
		json_object_set_new(clk, "peer_state", json_string(t->peer_clock[0] ? t->peer_clock : "unknown"));
		json_object_set_new(clk, "peer_error_us", json_integer(t->peer_clock_err_us));
		json_object_set_new(o, "records", json_pack("{s:I,s:I}", "primary", (json_int_t)t->records[0],
							    "secondary", (json_int_t)t->records[1]));
		json_object_set_new(o, "batches", json_integer((json_int_t)t->batches));
		json_object_set_new(o, "bad_batches", json_integer((json_int_t)t->bad_batches));
		json_object_set_new(o, "bad_records", json_integer((json_int_t)t->bad_records));
		json_object_set_new(o, "records_without_peer", json_integer((json_int_t)t->peer_absent));
		json_object_set_new(o, "peer_dropped", json_integer((json_int_t)t->peer_dropped));
	} else {
		const struct qp_tp_batch_stats *s = qp_tp_batcher_stats(t->batcher);
		json_object_set_new(o, "sent", json_pack("{s:I,s:I,s:I,s:I}", "frames", (json_int_t)s->frames,
							 "bytes", (json_int_t)s->bytes, "records",
							 (json_int_t)s->records, "not_sent",
							 (json_int_t)t->push_failed));
	}
	json_object_set_new(o, "clock", clk);
	json_object_set_new(o, "dropped", json_integer((json_int_t)ring_dropped(t)));
	return o;
}

json_t *tpl_take_results(struct tpl *t)
{
	if (t->p.role != TPL_ROLE_PRIMARY)
		return NULL;
	pthread_mutex_lock(&t->lock);
	json_t *o = state_json(t);
	json_object_set_new(o, "intervals", t->done);
	t->done = json_array();
	pthread_mutex_unlock(&t->lock);
	return o;
}

json_t *tpl_flow_json(struct tpl *t, const struct qp_flow_key *key)
{
	if (!t->tp)
		return NULL;
	pthread_mutex_lock(&t->elock);
	json_t *j = qp_tp_flow_json(t->tp, key);
	pthread_mutex_unlock(&t->elock);
	return j;
}

json_t *tpl_json(struct tpl *t)
{
	pthread_mutex_lock(&t->lock);
	json_t *o = state_json(t);
	if (t->totals) {
		json_object_set(o, "fwd", json_object_get(t->totals, "fwd"));
		json_object_set(o, "rev", json_object_get(t->totals, "rev"));
		json_object_set(o, "window_overflow", json_object_get(t->totals, "window_overflow"));
	}
	pthread_mutex_unlock(&t->lock);
	return o;
}

void tpl_destroy(struct tpl *t)
{
	if (!t)
		return;
	if (t->has_thread) {
		__atomic_store_n(&t->stop, 1, __ATOMIC_RELEASE);
		pthread_join(t->thread, NULL);
	}
	if (t->rings)
		for (unsigned int i = 0; i < t->nworkers; i++)
			free(t->rings[i]);
	free(t->rings);
	free(t->buf);
	qp_tp_batcher_destroy(t->batcher);
	qp_tp_destroy(t->tp);
	free(t->ids);
	free(t->id_ok);
	json_decref(t->done);
	json_decref(t->totals);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->elock);
	free(t);
}
