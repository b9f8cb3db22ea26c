/*
 * ipfix: see ipfix.h.
 */
#include "ipfix.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "qp_flow_ring.h"
#include "qp_ipfix.h"
#include "qp_report.h"

#define RING_ORDER 12                  /* 4,096 ended flows a worker waiting */
#define BACKLOG_MAX (4u << 20)         /* TCP: bytes waiting for the collector */
#define RECONNECT_NS 5000000000ULL     /* TCP: a down collector is tried this often */
#define HOLD_NS 1000000000ULL          /* a record waits at most this long for its message */
#define UDP_BURST 64.0                 /* UDP: messages sent at once after a quiet spell */
#define DRAIN_NS 600000000000ULL       /* a stopped measurement's exporter gives up after 10 min */

struct out {
	char spec[256];
	enum qp_ipfix_transport t;
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd;
	int up;            /* UDP: always; TCP: connected */
	int connecting;
	uint64_t retry_ns; /* TCP: next connect attempt */
	double tokens;     /* UDP: messages that may go now */
	uint64_t tok_ns;
	uint8_t *q;        /* TCP backlog: whole messages, q[qoff..] not sent yet */
	size_t qlen, qoff, qfirst; /* qfirst: length of the first message */
	uint64_t messages, records, dropped_messages, dropped_records, connects;
	char error[160];
	struct qp_ipfix_enc *enc;
	uint64_t now_s; /* export time of what is being added */
};

struct ipx {
	struct ipx *next;
	unsigned int nworkers;
	struct qp_flow_ring_hook *hooks;
	int n;
	struct out out[IPX_MAX];
	uint64_t pending_since; /* encoders hold records since (0: none) */
	struct qp_flow_rec *final; /* the flows at STOP, sent after the rings */
	size_t nfinal, ifinal, capfinal;
	int stopped;
	uint64_t stopped_ns;
	uint64_t taken; /* records taken from the rings and the flows at STOP */
	const struct qp_rtp_cfg *rtp;
};

static struct {
	struct ipx *all;
	uint32_t domain;
} X;

void ipx_set_domain(uint32_t domain)
{
	X.domain = domain;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

qp_flow_export_fn *ipx_hook(struct ipx *x, unsigned int worker, void **arg)
{
	*arg = &x->hooks[worker];
	return qp_flow_ring_export;
}

static void out_close(struct out *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	o->up = o->connecting = 0;
}

/* TCP: a message cut by a lost connection goes with it; whole ones wait. */
static void tcp_down(struct out *o, const char *why, uint64_t now)
{
	snprintf(o->error, sizeof(o->error), "%s", why);
	out_close(o);
	if (o->qoff && o->qlen) {
		memmove(o->q, o->q + o->qfirst, o->qlen - o->qfirst);
		o->qlen -= o->qfirst;
		o->dropped_messages++;
		o->qoff = 0;
		o->qfirst = o->qlen >= 4 ? ((size_t)o->q[2] << 8 | o->q[3]) : 0;
	}
	o->retry_ns = now + RECONNECT_NS;
}

/* Send what the backlog holds, without waiting. */
static void tcp_send(struct out *o, uint64_t now)
{
	while (o->up && o->qoff < o->qlen) {
		ssize_t w = send(o->fd, o->q + o->qoff, o->qlen - o->qoff, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w <= 0) {
			char why[160];
			snprintf(why, sizeof(why), "send: %s", w < 0 ? strerror(errno) : "closed");
			tcp_down(o, why, now);
			return;
		}
		o->qoff += (size_t)w;
		/* whole messages sent leave the backlog */
		while (o->qfirst && o->qoff >= o->qfirst) {
			o->messages++;
			memmove(o->q, o->q + o->qfirst, o->qlen - o->qfirst);
			o->qlen -= o->qfirst;
			o->qoff -= o->qfirst;
			o->qfirst = o->qlen >= 4 ? ((size_t)o->q[2] << 8 | o->q[3]) : 0;
		}
	}
}

/* The encoder's message: UDP goes now, TCP joins the backlog. */
static int emit(const uint8_t *msg, size_t len, void *arg)
{
	struct out *o = arg;
	uint32_t nrec = o->enc->nrec;
	if (o->t == QP_IPFIX_UDP) {
		o->tokens -= 1;
		if (send(o->fd, msg, len, MSG_DONTWAIT) == (ssize_t)len) {
			o->messages++;
			o->records += nrec;
			return 0;
		}
		snprintf(o->error, sizeof(o->error), "send: %s", strerror(errno));
		o->dropped_messages++;
		o->dropped_records += nrec;
		return -1;
	}
	if (o->qlen + len > BACKLOG_MAX) {
		o->dropped_messages++;
		o->dropped_records += nrec;
		return -1;
	}
	memcpy(o->q + o->qlen, msg, len);
	if (!o->qlen)
		o->qfirst = len;
	o->qlen += len;
	o->records += nrec; /* counted as sent once queued: a later loss counts a message */
	return 0;
}

static void tcp_connect(struct out *o, uint64_t now)
{
	o->fd = socket(o->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (o->fd < 0) {
		tcp_down(o, strerror(errno), now);
		return;
	}
	if (connect(o->fd, (struct sockaddr *)&o->sa, o->salen) == 0) {
		o->connecting = 1; /* completed at once: the check below sees it */
	} else if (errno == EINPROGRESS) {
		o->connecting = 1;
	} else {
		char why[160];
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		tcp_down(o, why, now);
	}
}

/* TCP: connected now? Templates go before whatever waits. */
static void tcp_check(struct out *o, uint64_t now)
{
	struct pollfd pf = {.fd = o->fd, .events = POLLOUT};
	if (poll(&pf, 1, 0) <= 0)
		return;
	int e = 0;
	socklen_t el = sizeof(e);
	getsockopt(o->fd, SOL_SOCKET, SO_ERROR, &e, &el);
	if (e) {
		char why[160];
		snprintf(why, sizeof(why), "connect: %s", strerror(e));
		tcp_down(o, why, now);
		return;
	}
	o->connecting = 0;
	o->up = 1;
	o->connects++;
	o->error[0] = 0;
	/* a new transport session: the waiting messages need their templates
	 * first; what the encoder holds goes with the waiting ones */
	qp_ipfix_enc_flush(o->enc);
	uint8_t *old = o->q;
	size_t oldlen = o->qlen;
	o->q = malloc(BACKLOG_MAX);
	if (!o->q) {
		o->q = old;
		return;
	}
	o->qlen = o->qoff = o->qfirst = 0;
	qp_ipfix_enc_reset_templates(o->enc);
	qp_ipfix_enc_templates(o->enc, (uint32_t)o->now_s);
	if (o->qlen + oldlen <= BACKLOG_MAX) {
		memcpy(o->q + o->qlen, old, oldlen);
		if (!o->qlen && oldlen)
			o->qfirst = (size_t)old[2] << 8 | old[3];
		o->qlen += oldlen;
	}
	free(old);
}

static int out_open(struct out *o, const char *spec, uint32_t domain, char *err, size_t errlen)
{
	memset(o, 0, sizeof(*o));
	o->fd = -1;
	snprintf(o->spec, sizeof(o->spec), "%s", spec);
	size_t max;
	unsigned int salen;
	/* the one blocking step, at START, so that its error is in the answer */
	if (qp_ipfix_resolve(spec, &o->sa, &salen, &o->t, &max, err, errlen))
		return -1;
	o->salen = salen;
	o->enc = malloc(sizeof(*o->enc));
	if (!o->enc) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	qp_ipfix_enc_init(o->enc, o->t, domain, max, emit, o);
	if (o->t == QP_IPFIX_UDP) {
		o->fd = socket(o->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (o->fd < 0 || connect(o->fd, (struct sockaddr *)&o->sa, o->salen) != 0) {
			snprintf(err, errlen, "IPFIX collector '%s': %s", spec, strerror(errno));
			return -1;
		}
		o->up = 1;
		o->tokens = UDP_BURST;
		o->tok_ns = mono_ns();
	} else {
		o->q = malloc(BACKLOG_MAX);
		if (!o->q) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		tcp_connect(o, mono_ns()); /* a collector down now is retried, not refused */
	}
	return 0;
}

static void out_free(struct out *o)
{
	out_close(o);
	free(o->q);
	free(o->enc);
}

void ipx_destroy(struct ipx *x)
{
	if (!x)
		return;
	for (struct ipx **p = &X.all; *p; p = &(*p)->next)
		if (*p == x) {
			*p = x->next;
			break;
		}
	for (int i = 0; i < x->n; i++)
		out_free(&x->out[i]);
	for (unsigned int i = 0; x->hooks && i < x->nworkers; i++)
		free(x->hooks[i].ring);
	free(x->hooks);
	free(x->final);
	free(x);
}

struct ipx *ipx_create(const char (*specs)[256], int n, unsigned int nworkers,
		       const struct qp_rtp_cfg *rtp, char *err, size_t errlen)
{
	struct ipx *x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	x->nworkers = nworkers;
	x->rtp = rtp;
	x->hooks = calloc(nworkers, sizeof(*x->hooks));
	for (unsigned int i = 0; x->hooks && i < nworkers; i++) {
		x->hooks[i].rtp = rtp;
		if (!(x->hooks[i].ring = qp_flow_ring_create(RING_ORDER))) {
			snprintf(err, errlen, "out of memory for the IPFIX rings");
			ipx_destroy(x);
			return NULL;
		}
	}
	for (int i = 0; i < n && i < IPX_MAX; i++) {
		x->n = i + 1;
		if (out_open(&x->out[i], specs[i], X.domain, err, errlen)) {
			ipx_destroy(x);
			return NULL;
		}
	}
	x->next = X.all;
	X.all = x;
	return x;
}

/* The next record to send: the rings' first, then the flows at STOP. */
static const struct qp_flow_rec *next_rec(struct ipx *x, unsigned int *w)
{
	for (unsigned int k = 0; k < x->nworkers; k++) {
		unsigned int i = (*w + k) % x->nworkers;
		const struct qp_flow_rec *r = qp_flow_ring_peek(x->hooks[i].ring);
		if (r) {
			*w = i;
			return r;
		}
	}
	*w = UINT32_MAX;
	return x->ifinal < x->nfinal ? &x->final[x->ifinal] : NULL;
}

static int drained(const struct ipx *x)
{
	for (unsigned int i = 0; i < x->nworkers; i++)
		if (qp_flow_ring_peek(x->hooks[i].ring))
			return 0;
	if (x->ifinal < x->nfinal || x->pending_since)
		return 0;
	for (int i = 0; i < x->n; i++)
		if (x->out[i].t == QP_IPFIX_TCP && x->out[i].qlen)
			return 0;
	return 1;
}

static void poll_one(struct ipx *x, uint64_t mono, uint64_t now_s, int force)
{
	/* connections, pacing, backlogs */
	unsigned int budget = UINT32_MAX;
	for (int i = 0; i < x->n; i++) {
		struct out *o = &x->out[i];
		o->now_s = now_s;
		if (o->t == QP_IPFIX_TCP) {
			if (!o->up && !o->connecting && mono >= o->retry_ns)
				tcp_connect(o, mono);
			if (o->connecting)
				tcp_check(o, mono);
			tcp_send(o, mono);
			continue;
		}
		o->tokens += (double)(mono - o->tok_ns) * QP_IPFIX_UDP_PPS / 1e9;
		o->tok_ns = mono;
		if (o->tokens > UDP_BURST)
			o->tokens = UDP_BURST;
		/* a message holds two records at least: take no more than fit in
		 * the messages that may go */
		unsigned int b = o->tokens >= 1 ? (unsigned int)o->tokens * 2 : 0;
		if (b < budget)
			budget = b;
	}
	unsigned int w = 0;
	const struct qp_flow_rec *r;
	unsigned int took = 0;
	while (took < budget && (r = next_rec(x, &w))) {
		for (int i = 0; i < x->n; i++)
			qp_ipfix_enc_add(x->out[i].enc, r, NULL, (uint32_t)now_s);
		if (w == UINT32_MAX)
			x->ifinal++;
		else
			qp_flow_ring_pop(x->hooks[w].ring);
		took++;
		x->taken++;
		if (!x->pending_since)
			x->pending_since = mono ? mono : 1;
	}
	if (x->pending_since && (force || x->stopped || mono - x->pending_since >= HOLD_NS)) {
		for (int i = 0; i < x->n; i++)
			qp_ipfix_enc_flush(x->out[i].enc);
		x->pending_since = 0;
		for (int i = 0; i < x->n; i++)
			if (x->out[i].t == QP_IPFIX_TCP)
				tcp_send(&x->out[i], mono);
	}
}

void ipx_poll(uint64_t now_ns)
{
	uint64_t mono = mono_ns();
	for (struct ipx *x = X.all, *nx; x; x = nx) {
		nx = x->next;
		poll_one(x, mono, now_ns / 1000000000u, 0);
		if (x->stopped && (drained(x) || mono - x->stopped_ns > DRAIN_NS))
			ipx_destroy(x);
	}
}

static struct ipx *taking;

static void take_flow(const struct qp_flow *f, void *a)
{
	struct ipx *x = a;
	if (CMM_LOAD_SHARED(f->pkts[0]) + CMM_LOAD_SHARED(f->pkts[1]) == 0)
		return;
	if (x->nfinal == x->capfinal) {
		size_t cap = x->capfinal ? 2 * x->capfinal : 1024;
		struct qp_flow_rec *n = realloc(x->final, cap * sizeof(*n));
		if (!n)
			return; /* out of memory: the rest of the flows go unexported */
		x->final = n;
		x->capfinal = cap;
	}
	struct qp_flow_rec *r = &x->final[x->nfinal++];
	qp_flow_rec_from(r, f, QP_FLOW_END_FLUSH);
	qp_flow_rec_rtp(r, f, x->rtp);
}

void ipx_stop(struct ipx *x, void (*walk)(void (*take)(const struct qp_flow *f, void *a), void *a,
					    void *warg),
	      void *warg)
{
	if (!x)
		return;
	taking = x;
	walk(take_flow, x, warg);
	taking = NULL;
	x->stopped = 1;
	x->stopped_ns = mono_ns();
	x->rtp = NULL; /* the measurement's configuration is about to go */
	for (unsigned int i = 0; i < x->nworkers; i++)
		x->hooks[i].rtp = NULL;
}

void ipx_flush_all(int timeout_ms)
{
	uint64_t end = mono_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		uint64_t mono = mono_ns();
		int left = 0;
		for (struct ipx *x = X.all; x; x = x->next) {
			poll_one(x, mono, (uint64_t)time(NULL), 1);
			left |= !drained(x);
		}
		if (!left || mono >= end)
			return;
		struct timespec ts = {0, 1000000}; /* 1 ms: UDP pacing, TCP sends */
		nanosleep(&ts, NULL);
	}
}

json_t *ipx_json(const struct ipx *x)
{
	json_t *a = json_array();
	uint64_t ring_dropped = 0;
	for (unsigned int i = 0; i < x->nworkers; i++)
		ring_dropped += qp_flow_ring_dropped(x->hooks[i].ring);
	for (int i = 0; i < x->n; i++) {
		const struct out *o = &x->out[i];
		json_t *j = json_pack("{s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I}", "collector", o->spec,
				      "transport", o->t == QP_IPFIX_TCP ? "tcp" : "udp", "up",
				      o->up != 0, "messages", (json_int_t)o->messages, "records",
				      (json_int_t)o->records, "dropped_messages",
				      (json_int_t)o->dropped_messages, "dropped_records",
				      (json_int_t)o->dropped_records, "backlog_bytes",
				      (json_int_t)(o->qlen - o->qoff), "records_lost_in_workers",
				      (json_int_t)ring_dropped);
		if (o->error[0])
			json_object_set_new(j, "error", json_string(o->error));
		json_array_append_new(a, j);
	}
	return a;
}

void ipx_fini(void)
{
	while (X.all)
		ipx_destroy(X.all);
}
