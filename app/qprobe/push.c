/*
 * push: see push.h. A destination is a small state machine driven by
 * push_poll(): down -> resolving -> connecting -> hello sent -> auth sent ->
 * ready. Names are resolved by glibc's getaddrinfo_a (its own thread), so a
 * slow or dead DNS server never stalls the management loop. The
 * queue is a ring; its first `inflight` items have been sent and wait for
 * their acknowledgement, which comes in order.
 */
#define _GNU_SOURCE
#include "push.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "qmcp_auth.h"
#include "qmcp_codec.h"
#include "qmcp_tls.h"
#include "qp_clock.h"
#include "spool.h"

enum { D_DOWN, D_RESOLVING, D_CONNECTING, D_HELLO, D_AUTH, D_READY };
static const char *state_name[] = {"down", "resolving", "connecting", "hello", "auth", "ready"};

struct item {
	uint32_t meas;
	uint64_t seq, start_ns;
	char *json;
	char *flows; /* the top flows at the interval's close, JSON, may be NULL */
	uint32_t req;
	int has_gap;
	uint64_t gap_from, gap_count;
};

struct gap {
	uint32_t meas;
	uint64_t from, count;
};

struct dest {
	char name[256];
	int refs;
	int fd, state;
	struct qmcp_io io; /* on fd once connected: plain, or TLS for a tls:// destination */
	int tls;
	uint64_t next_try_ns, backoff_ns;
	struct qmcp_rx rx;
	uint8_t *tx;
	size_t txlen, txoff, txcap;
	struct item q[PUSH_BACKLOG];
	unsigned int head, n, inflight;
	uint32_t next_req, hello_req, auth_req;
	struct gap gaps[16];
	unsigned int ngaps;
	uint64_t produced, sent, acked, dropped, reconnects;
	char last_error[160];
	/* --spool: the queue on disk, and the bytes its results take there */
	struct spool *sp;
	uint64_t qbytes, spool_errors;
	/* D_RESOLVING: the request glibc's resolver thread fills (the dest is
	 * not freed while it runs) */
	struct gaicb gai;
	struct addrinfo hints;
	char host[256], port[8];
};

/* guards P against the HTTP thread's push_stats_json() */
static pthread_mutex_t plock = PTHREAD_MUTEX_INITIALIZER;

static struct {
	char probe_id[128];
	uint8_t secret[QMCP_SECRET_MAX];
	size_t secret_len;
	int has_secret;
	struct dest *d[PUSH_DESTS_MAX];
	unsigned int n;
	const struct qmcp_tls *tls; /* trust for tls:// receivers */
	char spool_dir[2048]; /* "": no spool */
	/* over every destination there has been, gone ones too */
	uint64_t produced, acked, dropped;
	uint64_t spool_max;
	int reloading; /* push_spool() is queueing what an earlier run left */
} P;

void push_init(const char *probe_id, const uint8_t *secret, size_t secret_len,
	       const struct qmcp_tls *tls)
{
	P.tls = tls;
	snprintf(P.probe_id, sizeof(P.probe_id), "%s", probe_id);
	if (secret && secret_len <= sizeof(P.secret)) {
		memcpy(P.secret, secret, secret_len);
		P.secret_len = secret_len;
		P.has_secret = 1;
	}
}

static struct dest *find(const char *name)
{
	for (unsigned int i = 0; i < P.n; i++)
		if (strcmp(P.d[i]->name, name) == 0)
			return P.d[i];
	return NULL;
}

static int ref_locked(const char *name)
{
	struct dest *d = find(name);
	if (!d) {
		if (P.n >= PUSH_DESTS_MAX)
			return -ENOSPC;
		d = calloc(1, sizeof(*d));
		if (!d)
			return -ENOMEM;
		snprintf(d->name, sizeof(d->name), "%s", name);
		d->fd = -1;
		d->backoff_ns = 500000000ULL;
		d->next_req = 1;
		qmcp_rx_init(&d->rx);
		/* (a destination an earlier run left results for opens its
		 * spool once they are queued again: reload()) */
		if (P.spool_dir[0] && !P.reloading) {
			char err[300];
			if (!(d->sp = spool_open(P.spool_dir, name, err, sizeof(err)))) {
				/* results still go, without a copy on disk: said, counted */
				fprintf(stderr, "qprobe: push to %s: %s; results not spooled\n", name, err);
				snprintf(d->last_error, sizeof(d->last_error), "%.159s", err);
				d->spool_errors++;
			}
		}
		P.d[P.n++] = d;
	}
	d->refs++;
	return 0;
}

static struct spool_item as_spool(const struct item *it)
{
	return (struct spool_item){it->meas, it->seq, it->start_ns, it->has_gap,
				   it->gap_from, it->gap_count, it->json, it->flows};
}

static void spool_failed(struct dest *d, int e)
{
	if (!e)
		return;
	d->spool_errors++;
	snprintf(d->last_error, sizeof(d->last_error), "spool: %s", strerror(-e));
}

/*
 * The destination's spool from its queue: rewritten (after acknowledgements
 * piled up), or opened with it (reload). The old file is replaced in one step.
 */
static void spool_compact(struct dest *d)
{
	if (!d->sp && !P.reloading)
		return;
	struct spool_item items[PUSH_BACKLOG];
	const struct spool_item *ptr[PUSH_BACKLOG];
	for (unsigned int k = 0; k < d->n; k++) {
		items[k] = as_spool(&d->q[(d->head + k) % PUSH_BACKLOG]);
		ptr[k] = &items[k];
	}
	struct spool_gap g[16];
	for (unsigned int k = 0; k < d->ngaps; k++)
		g[k] = (struct spool_gap){d->gaps[k].meas, d->gaps[k].from, d->gaps[k].count};
	if (d->sp) {
		spool_failed(d, spool_rewrite(d->sp, ptr, d->n, g, d->ngaps));
		return;
	}
	char err[300];
	if (!(d->sp = spool_open_with(P.spool_dir, d->name, ptr, d->n, g, d->ngaps, err, sizeof(err)))) {
		fprintf(stderr, "qprobe: push to %s: %s; results not spooled\n", d->name, err);
		snprintf(d->last_error, sizeof(d->last_error), "%.159s", err);
		d->spool_errors++;
	}
}

int push_ref(const char *name)
{
	pthread_mutex_lock(&plock);
	int rc = ref_locked(name);
	pthread_mutex_unlock(&plock);
	return rc;
}

static void disconnect(struct dest *d, const char *why)
{
	if (d->fd >= 0)
		qmcp_io_close(&d->io);
	if (d->state == D_READY || d->state == D_CONNECTING)
		fprintf(stderr, "qprobe: push to %s: %s; retrying in %.1f s\n", d->name, why,
			(double)d->backoff_ns / 1e9);
	snprintf(d->last_error, sizeof(d->last_error), "%s", why);
	d->fd = -1;
	d->state = D_DOWN;
	d->inflight = 0; /* unacknowledged results are sent again */
	d->txlen = d->txoff = 0;
	qmcp_rx_free(&d->rx);
	qmcp_rx_init(&d->rx);
	d->next_try_ns = qp_clock_realtime_ns() + d->backoff_ns;
	d->backoff_ns = d->backoff_ns * 2 > 30000000000ULL ? 30000000000ULL : d->backoff_ns * 2;
}

static void free_dest(unsigned int i)
{
	struct dest *d = P.d[i];
	if (d->fd >= 0)
		qmcp_io_close(&d->io);
	for (unsigned int k = 0; k < d->n; k++) {
		free(d->q[(d->head + k) % PUSH_BACKLOG].json);
		free(d->q[(d->head + k) % PUSH_BACKLOG].flows);
	}
	/* an empty queue leaves no file; what is left waits for the next run */
	spool_close(d->sp, d->n == 0);
	qmcp_rx_free(&d->rx);
	free(d->tx);
	free(d);
	P.d[i] = P.d[--P.n];
}

void push_unref(const char *name)
{
	pthread_mutex_lock(&plock);
	struct dest *d = find(name);
	if (d && d->refs > 0)
		d->refs--;
	pthread_mutex_unlock(&plock);
}

/*
 * Result (meas, seq) was dropped: the measurement's next result to be sent
 * says so. That is its first queued result not yet in flight, or, when it
 * has none queued, the next one it queues (held in gaps[] until then).
 */
static void gap_add(struct dest *d, uint32_t meas, uint64_t seq)
{
	for (unsigned int k = d->inflight; k < d->n; k++) {
		struct item *it = &d->q[(d->head + k) % PUSH_BACKLOG];
		if (it->meas != meas)
			continue;
		if (!it->has_gap) {
			it->has_gap = 1;
			it->gap_from = seq;
			it->gap_count = 0;
		}
		if (seq < it->gap_from)
			it->gap_from = seq;
		it->gap_count++;
		if (d->sp)
			spool_failed(d, spool_gap(d->sp, meas, it->seq, it->gap_from, it->gap_count));
		return;
	}
	unsigned int i = 0;
	while (i < d->ngaps && d->gaps[i].meas != meas)
		i++;
	if (i < d->ngaps)
		d->gaps[i].count++;
	else if (d->ngaps < 16)
		d->gaps[d->ngaps++] = (struct gap){meas, seq, 1};
	else
		return;
	if (d->sp)
		spool_failed(d, spool_gap(d->sp, meas, UINT64_MAX, d->gaps[i].from, d->gaps[i].count));
}

/* the oldest result not in flight goes (full queue or spool), reported as a gap */
static void drop_oldest(struct dest *d)
{
	unsigned int at = (d->head + d->inflight) % PUSH_BACKLOG;
	struct item old = d->q[at];
	for (unsigned int k = d->inflight; k + 1 < d->n; k++)
		d->q[(d->head + k) % PUSH_BACKLOG] = d->q[(d->head + k + 1) % PUSH_BACKLOG];
	d->n--;
	d->dropped++;
	P.dropped++;
	struct spool_item si = as_spool(&old);
	if (d->sp)
		d->qbytes -= spool_item_bytes(&si);
	/* a gap it carried goes on with the gap of its own */
	if (old.has_gap)
		for (uint64_t g = 0; g < old.gap_count; g++)
			gap_add(d, old.meas, old.gap_from + g);
	gap_add(d, old.meas, old.seq);
	free(old.json);
	free(old.flows);
}

/* take a result into the queue (the caller has made room) */
static struct item *enqueue(struct dest *d, uint32_t meas, uint64_t seq, uint64_t start_ns,
			    char *text, char *flows)
{
	struct item *it = &d->q[(d->head + d->n) % PUSH_BACKLOG];
	memset(it, 0, sizeof(*it));
	it->meas = meas;
	it->seq = seq;
	it->start_ns = start_ns;
	it->json = text;
	it->flows = flows;
	for (unsigned int i = 0; i < d->ngaps; i++)
		if (d->gaps[i].meas == meas) {
			it->has_gap = 1;
			it->gap_from = d->gaps[i].from;
			it->gap_count = d->gaps[i].count;
			d->gaps[i] = d->gaps[--d->ngaps];
			break;
		}
	d->n++;
	return it;
}

static void result_locked(const char *name, uint32_t meas, uint64_t seq, uint64_t start_ns,
			  const char *json, const char *flows)
{
	struct dest *d = find(name);
	if (!d)
		return;
	d->produced++;
	P.produced++;
	char *text = json ? strdup(json) : NULL;
	if (!text) {
		/* no memory for it: reported as a gap like a backlog overflow */
		gap_add(d, meas, seq);
		d->dropped++;
	P.dropped++;
		return;
	}
	char *fl = flows ? strdup(flows) : NULL;
	uint64_t bytes = 0;
	if (d->sp) {
		struct spool_item si = {meas, seq, start_ns, 0, 0, 0, text, fl};
		bytes = spool_item_bytes(&si);
		if (bytes > P.spool_max) { /* alone beyond the spool's bound */
			free(text);
			free(fl);
			gap_add(d, meas, seq);
			d->dropped++;
	P.dropped++;
			return;
		}
		/* the spool's bound: the oldest results not in flight make room */
		while (d->qbytes + bytes > P.spool_max && d->n > d->inflight)
			drop_oldest(d);
	}
	if (d->n == PUSH_BACKLOG) /* full: the oldest result not in flight goes */
		drop_oldest(d);
	struct item *it = enqueue(d, meas, seq, start_ns, text, fl);
	if (d->sp) {
		struct spool_item si = as_spool(it);
		d->qbytes += bytes;
		spool_failed(d, spool_put(d->sp, &si));
		if (spool_bytes(d->sp) > 2 * P.spool_max)
			spool_compact(d);
	}
}

/* a destination an earlier run left results for: queued again, sent when it connects */
static void reload(void *arg, const char *dest, struct spool_item *items, unsigned int n,
		   const struct spool_gap *gaps, unsigned int ngaps)
{
	unsigned int *loaded = arg;
	P.reloading = 1;
	int e = ref_locked(dest);
	P.reloading = 0;
	if (e != 0) {
		for (unsigned int i = 0; i < n; i++) {
			free(items[i].json);
			free(items[i].flows);
		}
		return;
	}
	struct dest *d = find(dest);
	d->refs--; /* kept until its queue is empty, as a destination no measurement names */
	for (unsigned int i = 0; i < ngaps && d->ngaps < 16; i++)
		d->gaps[d->ngaps++] = (struct gap){gaps[i].meas, gaps[i].from, gaps[i].count};
	for (unsigned int i = 0; i < n; i++) {
		if (d->n == PUSH_BACKLOG)
			drop_oldest(d);
		struct item *it = enqueue(d, items[i].meas, items[i].seq, items[i].start_ns,
					  items[i].json, items[i].flows);
		if (items[i].has_gap) {
			it->has_gap = 1;
			it->gap_from = items[i].gap_from;
			it->gap_count = items[i].gap_count;
		}
		struct spool_item si = as_spool(it);
		d->qbytes += spool_item_bytes(&si);
		(*loaded)++;
	}
	P.reloading = 1;
	spool_compact(d); /* the spool opened with the queue: the old file replaced in one step */
	P.reloading = 0;
}

int push_spool(const char *dir, uint64_t max_bytes, char *err, size_t errlen)
{
	pthread_mutex_lock(&plock);
	snprintf(P.spool_dir, sizeof(P.spool_dir), "%s", dir);
	P.spool_max = max_bytes;
	unsigned int loaded = 0;
	int dests = spool_load(dir, reload, &loaded, err, errlen);
	if (dests < 0)
		P.spool_dir[0] = 0;
	pthread_mutex_unlock(&plock);
	if (dests > 0)
		fprintf(stderr, "qprobe: spool %s: %u results of an earlier run to send to %d "
				"destination(s)\n", dir, loaded, dests);
	return dests < 0 ? -1 : 0;
}

void push_result(const char *name, uint32_t meas, uint64_t seq, uint64_t start_ns,
		 const char *json, const char *flows)
{
	pthread_mutex_lock(&plock);
	result_locked(name, meas, seq, start_ns, json, flows);
	pthread_mutex_unlock(&plock);
}

static int queue_frame(struct dest *d, struct qmcp_msg *m)
{
	size_t n;
	const uint8_t *f = qmcp_msg_frame(m, &n);
	if (!f) {
		qmcp_msg_free(m);
		return -ENOMEM;
	}
	if (d->txlen + n > d->txcap) {
		size_t c = d->txcap ? d->txcap : 65536;
		while (c < d->txlen + n)
			c *= 2;
		uint8_t *b = realloc(d->tx, c);
		if (!b) {
			qmcp_msg_free(m);
			return -ENOMEM;
		}
		d->tx = b;
		d->txcap = c;
	}
	memcpy(d->tx + d->txlen, f, n);
	d->txlen += n;
	qmcp_msg_free(m);
	return 0;
}

/* Ask for the destination's address; the answer is picked up by poll_once(). */
static void start_resolve(struct dest *d)
{
	const char *name;
	d->tls = qmcp_dest_tls(d->name, &name); /* tls://host:port: over TLS */
	const char *colon = strrchr(name, ':');
	size_t hl = (size_t)(colon - name);
	if (name[0] == '[' && hl >= 2 && name[hl - 1] == ']')
		snprintf(d->host, sizeof(d->host), "%.*s", (int)(hl - 2), name + 1);
	else
		snprintf(d->host, sizeof(d->host), "%.*s", (int)hl, name);
	snprintf(d->port, sizeof(d->port), "%s", colon + 1);
	d->hints = (struct addrinfo){.ai_socktype = SOCK_STREAM};
	d->gai = (struct gaicb){.ar_name = d->host, .ar_service = d->port, .ar_request = &d->hints};
	struct gaicb *list[1] = {&d->gai};
	if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL) != 0) {
		disconnect(d, "cannot start resolving the host");
		return;
	}
	d->state = D_RESOLVING;
}

/* Connect to the first address found (res stays the caller's). */
static void start_connect(struct dest *d, const struct addrinfo *res)
{
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS)) {
		if (fd >= 0)
			close(fd);
		disconnect(d, "connection refused");
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	d->fd = fd;
	qmcp_io_plain(&d->io, fd);
	d->state = D_CONNECTING;
	d->reconnects++;
}

/* Answers from the receiver. */
static void handle(struct dest *d, const struct qmcp_hdr *h, const uint8_t *b)
{
	if (!(h->flags & QMCP_F_RESPONSE))
		return;
	if (h->flags & QMCP_F_ERROR) {
		char msg[200] = "", why[240];
		struct qmcp_tlv t;
		if (qmcp_find(b, h->length, QMCP_T_ERROR_MSG, &t) == 1)
			qmcp_tlv_str(&t, msg, sizeof(msg));
		snprintf(why, sizeof(why), "the receiver refused %s: %s", qmcp_msg_name(h->type), msg);
		disconnect(d, why);
		return;
	}
	if (d->state == D_HELLO && h->type == QMCP_MSG_HELLO && h->req_id == d->hello_req) {
		struct qmcp_tlv t;
		uint8_t need = 0;
		if (qmcp_find(b, h->length, QMCP_T_AUTH_REQUIRED, &t) == 1)
			qmcp_tlv_u8(&t, &need);
		if (!need) {
			d->state = D_READY;
			d->backoff_ns = 500000000ULL;
			return;
		}
		if (!P.has_secret || qmcp_find(b, h->length, QMCP_T_NONCE, &t) != 1 ||
		    t.len != QMCP_NONCE_LEN) {
			disconnect(d, "the receiver wants the shared secret and this probe has none "
				      "(--secret-file)");
			return;
		}
		uint8_t mac[QMCP_HMAC_LEN];
		qmcp_hmac(P.secret, P.secret_len, t.val, QMCP_NONCE_LEN, mac);
		struct qmcp_msg m;
		d->auth_req = d->next_req++;
		qmcp_msg_init(&m, QMCP_MSG_AUTH, 0, d->auth_req);
		qmcp_put_bytes(&m, QMCP_T_HMAC, mac, sizeof(mac));
		queue_frame(d, &m);
		d->state = D_AUTH;
		return;
	}
	if (d->state == D_AUTH && h->type == QMCP_MSG_AUTH && h->req_id == d->auth_req) {
		d->state = D_READY;
		d->backoff_ns = 500000000ULL;
		return;
	}
	if (d->state == D_READY && h->type == QMCP_MSG_RESULT && d->inflight &&
	    h->req_id == d->q[d->head].req) {
		struct item *it = &d->q[d->head];
		if (d->sp) {
			struct spool_item si = as_spool(it);
			d->qbytes -= spool_item_bytes(&si);
			spool_failed(d, spool_ack(d->sp, it->meas, it->seq));
		}
		free(it->json);
		free(it->flows);
		d->head = (d->head + 1) % PUSH_BACKLOG;
		d->n--;
		d->inflight--;
		d->acked++;
		P.acked++;
		/* all delivered: the file back to its header; or rid of what
		 * acknowledgements made dead */
		if (d->sp && (!d->n || spool_bytes(d->sp) > 2 * P.spool_max))
			spool_compact(d);
	}
}

static void send_window(struct dest *d)
{
	while (d->state == D_READY && d->inflight < d->n && d->inflight < PUSH_WINDOW) {
		struct item *it = &d->q[(d->head + d->inflight) % PUSH_BACKLOG];
		struct qmcp_msg m;
		it->req = d->next_req++;
		if (!it->req)
			it->req = d->next_req++;
		qmcp_msg_init(&m, QMCP_MSG_RESULT, 0, it->req);
		qmcp_put_str(&m, QMCP_T_PROBE_ID, P.probe_id);
		qmcp_put_u32(&m, QMCP_T_MEAS_ID, it->meas);
		qmcp_put_u64(&m, QMCP_T_SEQ, it->seq);
		qmcp_put_u64(&m, QMCP_T_INTERVAL_START_NS, it->start_ns);
		if (it->has_gap) {
			qmcp_put_u64(&m, QMCP_T_GAP_FROM, it->gap_from);
			qmcp_put_u64(&m, QMCP_T_GAP_COUNT, it->gap_count);
		}
		qmcp_put_str(&m, QMCP_T_RESULT_JSON, it->json);
		if (it->flows)
			qmcp_put_str(&m, QMCP_T_FLOWS_JSON, it->flows);
		if (queue_frame(d, &m))
			return;
		d->inflight++;
		d->sent++;
	}
}

static void drive(struct dest *d, short revents)
{
	if (d->state == D_CONNECTING && (revents & (POLLOUT | POLLERR | POLLHUP))) {
		int err = 0;
		socklen_t sl = sizeof(err);
		getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
		if (err) {
			disconnect(d, strerror(err));
			return;
		}
		/* TLS: the handshake goes on in the reads and writes below */
		if (d->tls && (!P.tls || qmcp_io_tls(&d->io, d->fd, P.tls, d->host) != 0)) {
			disconnect(d, "cannot start TLS");
			return;
		}
		struct qmcp_msg m;
		d->hello_req = d->next_req++;
		qmcp_msg_init(&m, QMCP_MSG_HELLO, 0, d->hello_req);
		qmcp_put_str(&m, QMCP_T_CLIENT_NAME, P.probe_id);
		queue_frame(d, &m);
		d->state = D_HELLO;
	}
	if (d->state >= D_HELLO &&
	    ((revents & (POLLIN | POLLHUP | POLLERR)) || (d->io.want && (revents & POLLOUT)) ||
	     qmcp_io_pending(&d->io))) {
		for (int rounds = 0; rounds < 16 && d->fd >= 0; rounds++) {
			long k = qmcp_rx_read_io(&d->rx, &d->io);
			if (k == -EAGAIN)
				break;
			if (k <= 0) {
				disconnect(d, k == -ENOMEM ? "out of memory"
					      : k == -EPROTO ? d->io.err
							     : "the receiver closed the connection");
				return;
			}
			struct qmcp_hdr h;
			const uint8_t *body;
			int r;
			while (d->fd >= 0 && (r = qmcp_rx_frame(&d->rx, &h, &body)) == 1)
				handle(d, &h, body);
			if (d->fd >= 0 && r < 0) {
				disconnect(d, "the receiver does not speak QMCP");
				return;
			}
		}
	}
	if (d->fd < 0)
		return;
	send_window(d);
	while (d->txoff < d->txlen) {
		long k = qmcp_io_send(&d->io, d->tx + d->txoff, d->txlen - d->txoff);
		if (k > 0) {
			d->txoff += (size_t)k;
			continue;
		}
		if (k == -EAGAIN)
			break;
		disconnect(d, k == -EPROTO ? d->io.err : "connection lost");
		return;
	}
	if (d->txoff == d->txlen)
		d->txoff = d->txlen = 0;
}

static void poll_once(int timeout_ms)
{
	uint64_t now = qp_clock_realtime_ns();
	for (unsigned int i = P.n; i-- > 0;) {
		struct dest *d = P.d[i];
		if (d->state == D_RESOLVING) {
			int r = gai_error(&d->gai);
			if (r == EAI_INPROGRESS)
				continue;
			struct addrinfo *res = d->gai.ar_result;
			d->gai.ar_result = NULL;
			d->state = D_DOWN;
			if (r != 0 || !res) {
				char why[160];
				snprintf(why, sizeof(why), "cannot resolve the host: %s", gai_strerror(r));
				disconnect(d, why);
			} else {
				start_connect(d, res);
			}
			if (res)
				freeaddrinfo(res);
		}
		if (!d->refs && !d->n && d->state != D_RESOLVING) {
			free_dest(i);
			continue;
		}
		if (d->state == D_DOWN && now >= d->next_try_ns)
			start_resolve(d);
	}
	struct pollfd pf[PUSH_DESTS_MAX];
	unsigned int map[PUSH_DESTS_MAX], np = 0;
	for (unsigned int i = 0; i < P.n; i++) {
		struct dest *d = P.d[i];
		if (d->fd < 0)
			continue;
		short ev = POLLIN;
		if (d->state == D_CONNECTING || d->txoff < d->txlen)
			ev |= POLLOUT;
		if (d->state != D_CONNECTING)
			ev = qmcp_io_events(&d->io, ev);
		if (qmcp_io_pending(&d->io))
			timeout_ms = 0; /* decrypted already: not the socket's to signal */
		pf[np] = (struct pollfd){.fd = d->fd, .events = ev};
		map[np++] = i;
	}
	if (np && poll(pf, np, timeout_ms) < 0)
		return;
	for (unsigned int k = 0; k < np; k++)
		drive(P.d[map[k]], pf[k].revents);
}

void push_poll(void)
{
	pthread_mutex_lock(&plock);
	poll_once(0);
	pthread_mutex_unlock(&plock);
}

void push_flush(int timeout_ms)
{
	uint64_t until = qp_clock_realtime_ns() + (uint64_t)timeout_ms * 1000000ULL;
	for (;;) {
		unsigned int pending = 0;
		pthread_mutex_lock(&plock);
		for (unsigned int i = 0; i < P.n; i++)
			pending += P.d[i]->n;
		if (pending)
			poll_once(10);
		pthread_mutex_unlock(&plock);
		if (!pending || qp_clock_realtime_ns() >= until)
			return;
	}
}

void push_fini(void)
{
	pthread_mutex_lock(&plock);
	while (P.n) {
		struct dest *d = P.d[P.n - 1];
		/* a resolution still running writes into the dest: leave it to
		 * the exiting process rather than free it under the resolver */
		if (d->state == D_RESOLVING && gai_cancel(&d->gai) != EAI_CANCELED &&
		    gai_error(&d->gai) == EAI_INPROGRESS) {
			P.n--;
			continue;
		}
		if (d->state == D_RESOLVING && d->gai.ar_result)
			freeaddrinfo(d->gai.ar_result);
		free_dest(P.n - 1);
	}
	pthread_mutex_unlock(&plock);
}

json_t *push_totals_json(void)
{
	pthread_mutex_lock(&plock);
	json_t *o = json_pack("{s:I,s:I,s:I}", "produced", (json_int_t)P.produced, "acknowledged",
			      (json_int_t)P.acked, "dropped", (json_int_t)P.dropped);
	pthread_mutex_unlock(&plock);
	return o;
}

json_t *push_stats_json(void)
{
	json_t *a = json_array();
	pthread_mutex_lock(&plock);
	for (unsigned int i = 0; i < P.n; i++) {
		struct dest *d = P.d[i];
		json_array_append_new(
			a, json_pack("{s:s,s:s,s:I,s:i,s:i,s:I,s:I,s:I,s:I,s:s,s:b,s:I,s:I}", "destination",
				     d->name, "state", state_name[d->state], "produced",
				     (json_int_t)d->produced, "queued", (int)d->n,
				     "in_flight", (int)d->inflight, "sent", (json_int_t)d->sent,
				     "acknowledged", (json_int_t)d->acked, "dropped",
				     (json_int_t)d->dropped, "connects", (json_int_t)d->reconnects,
				     "last_error", d->last_error, "spooled", d->sp != NULL,
				     "spool_bytes", (json_int_t)(d->sp ? spool_bytes(d->sp) : 0),
				     "spool_errors", (json_int_t)d->spool_errors));
	}
	pthread_mutex_unlock(&plock);
	return a;
}
