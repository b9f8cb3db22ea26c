/*
 * qmcp_listener: see qmcp_listener.h. One poll() set over the listening
 * socket and the probes' connections; answers are small and written at once
 * (a probe that does not read them is dropped).
 */
#define _GNU_SOURCE
#include "qmcp_listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmcp_auth.h"
#include "qmcp_tls.h"

struct peer {
	uint64_t id; /* from 1, never reused */
	int fd;
	struct qmcp_io io; /* TLS on fd when the probe's first byte starts a handshake */
	int sniffed;
	char addr[64];
	char probe_id[128];
	struct qmcp_rx rx;
	uint8_t nonce[QMCP_NONCE_LEN];
	int hello, authed, dead;
};

struct qmcp_listener {
	int fd;
	uint8_t secret[QMCP_SECRET_MAX];
	size_t secret_len;
	int has_secret;
	qmcp_result_fn *fn;
	void *arg;
	const struct qmcp_tls *tls; /* NULL: plain QMCP only */
	int tls_only;
	struct peer *p[QMCP_LISTENER_PEERS];
	unsigned int n;
	uint64_t next_id;
	struct qmcp_listener_stats st;
};

static void addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned int port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		port = ntohs(s->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr))
			inet_ntop(AF_INET, s->sin6_addr.s6_addr + 12, a, sizeof(a));
		else
			inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		port = ntohs(s->sin6_port);
	}
	snprintf(buf, len, "%s:%u", a, port);
}

struct qmcp_listener *qmcp_listener_create(const char *addr, int port, const uint8_t *secret,
					   size_t secret_len, qmcp_result_fn *fn, void *arg,
					   char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		len = sizeof(*s6);
	} else {
		snprintf(err, errlen, "listen address '%s': an IPv4 or IPv6 literal is accepted", addr);
		return NULL;
	}
	if (secret_len > QMCP_SECRET_MAX) {
		snprintf(err, errlen, "secret longer than %d bytes", QMCP_SECRET_MAX);
		return NULL;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1, zero = 0;
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ss.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, SOMAXCONN) != 0) {
		snprintf(err, errlen, "cannot listen on %s port %d: %s", addr, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	struct qmcp_listener *l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->fd = fd;
	l->fn = fn;
	l->arg = arg;
	if (secret) {
		memcpy(l->secret, secret, secret_len);
		l->secret_len = secret_len;
		l->has_secret = 1;
	}
	return l;
}

static void send_frame(struct peer *p, struct qmcp_msg *m)
{
	size_t n;
	const uint8_t *f = qmcp_msg_frame(m, &n);
	/* answers are tiny; a probe whose socket buffer is full is not reading: drop it */
	if (!f || qmcp_io_send(&p->io, f, n) != (long)n)
		p->dead = 1;
	qmcp_msg_free(m);
}

static void send_error(struct peer *p, const struct qmcp_hdr *h, uint16_t code, const char *msg)
{
	struct qmcp_msg m;
	qmcp_msg_error(&m, h->type, h->req_id, code, "%s", msg);
	send_frame(p, &m);
}

static void on_result(struct qmcp_listener *l, struct peer *p, const struct qmcp_hdr *h,
		      const uint8_t *b)
{
	struct qmcp_tlv t;
	struct qmcp_result r;
	char probe[128], *json = NULL, *flows = NULL;
	memset(&r, 0, sizeof(r));
	snprintf(probe, sizeof(probe), "%s", p->probe_id);
	if (qmcp_find(b, h->length, QMCP_T_PROBE_ID, &t) == 1 && qmcp_tlv_str(&t, probe, sizeof(probe)))
		goto bad;
	if (qmcp_find(b, h->length, QMCP_T_MEAS_ID, &t) != 1 || qmcp_tlv_u32(&t, &r.meas_id) ||
	    qmcp_find(b, h->length, QMCP_T_SEQ, &t) != 1 || qmcp_tlv_u64(&t, &r.seq) ||
	    qmcp_find(b, h->length, QMCP_T_RESULT_JSON, &t) != 1)
		goto bad;
	json = malloc(t.len + 1);
	if (!json) {
		send_error(p, h, QMCP_E_INTERNAL, "receiver out of memory");
		return;
	}
	memcpy(json, t.val, t.len);
	json[t.len] = 0;
	r.json = json;
	r.json_len = t.len;
	if (qmcp_find(b, h->length, QMCP_T_INTERVAL_START_NS, &t) == 1)
		qmcp_tlv_u64(&t, &r.start_ns);
	if (qmcp_find(b, h->length, QMCP_T_FLOWS_JSON, &t) == 1 && (flows = malloc(t.len + 1))) {
		memcpy(flows, t.val, t.len);
		flows[t.len] = 0;
		r.flows_json = flows;
		r.flows_len = t.len;
	}
	if (qmcp_find(b, h->length, QMCP_T_GAP_FROM, &t) == 1 && qmcp_tlv_u64(&t, &r.gap_from) == 0 &&
	    qmcp_find(b, h->length, QMCP_T_GAP_COUNT, &t) == 1 && qmcp_tlv_u64(&t, &r.gap_count) == 0)
		r.has_gap = 1;
	r.probe_id = probe;
	r.peer = p->addr;
	r.ack = (struct qmcp_ack){p->id, h->req_id, r.meas_id, r.seq};
	int e = l->fn(&r, l->arg);
	free(json);
	free(flows);
	if (e == QMCP_RESULT_LATER)
		return;
	if (e) {
		l->st.refused++;
		send_error(p, h, QMCP_E_INTERNAL, "the receiver could not store this result; resend");
		return;
	}
	l->st.results++;
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_RESULT, QMCP_F_RESPONSE, h->req_id);
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, r.meas_id);
	qmcp_put_u64(&m, QMCP_T_SEQ, r.seq);
	send_frame(p, &m);
	return;
bad:
	l->st.bad_frames++;
	send_error(p, h, QMCP_E_BAD_PARAM,
		   "RESULT needs MEAS_ID (u32), SEQ (u64) and RESULT_JSON (str)");
}

int qmcp_listener_done(struct qmcp_listener *l, const struct qmcp_ack *a, int err)
{
	struct peer *p = NULL;
	for (unsigned int i = 0; i < l->n && !p; i++)
		if (l->p[i]->id == a->peer && !l->p[i]->dead)
			p = l->p[i];
	if (!p) {
		l->st.acks_lost++;
		return -ENOTCONN;
	}
	struct qmcp_hdr h = {.type = QMCP_MSG_RESULT, .req_id = a->req_id};
	if (err) {
		l->st.refused++;
		send_error(p, &h, QMCP_E_INTERNAL, "the receiver could not store this result; resend");
		return 0;
	}
	l->st.results++;
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_RESULT, QMCP_F_RESPONSE, a->req_id);
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, a->meas_id);
	qmcp_put_u64(&m, QMCP_T_SEQ, a->seq);
	send_frame(p, &m);
	return 0;
}

static void handle(struct qmcp_listener *l, struct peer *p, const struct qmcp_hdr *h,
		   const uint8_t *b)
{
	if (h->flags & QMCP_F_RESPONSE)
		return;
	if (qmcp_body_check(b, h->length)) {
		l->st.bad_frames++;
		send_error(p, h, QMCP_E_MALFORMED, "the body is not a well-formed TLV sequence");
		return;
	}
	struct qmcp_tlv t;
	switch (h->type) {
	case QMCP_MSG_HELLO: {
		if (qmcp_find(b, h->length, QMCP_T_CLIENT_NAME, &t) == 1)
			qmcp_tlv_str(&t, p->probe_id, sizeof(p->probe_id));
		if (qmcp_nonce(p->nonce)) {
			send_error(p, h, QMCP_E_INTERNAL, "no random bytes for a nonce");
			return;
		}
		p->hello = 1;
		p->authed = !l->has_secret;
		struct qmcp_msg m;
		qmcp_msg_init(&m, h->type, QMCP_F_RESPONSE, h->req_id);
		qmcp_put_str(&m, QMCP_T_PROBE_NAME, "qmcp receiver");
		qmcp_put_bytes(&m, QMCP_T_NONCE, p->nonce, QMCP_NONCE_LEN);
		qmcp_put_u8(&m, QMCP_T_AUTH_REQUIRED, (uint8_t)l->has_secret);
		send_frame(p, &m);
		return;
	}
	case QMCP_MSG_AUTH: {
		uint8_t want[QMCP_HMAC_LEN];
		if (!p->hello) {
			send_error(p, h, QMCP_E_AUTH_REQUIRED, "send HELLO first");
			return;
		}
		if (l->has_secret) {
			qmcp_hmac(l->secret, l->secret_len, p->nonce, QMCP_NONCE_LEN, want);
			if (qmcp_find(b, h->length, QMCP_T_HMAC, &t) != 1 || t.len != QMCP_HMAC_LEN ||
			    !qmcp_hmac_equal(t.val, want)) {
				l->st.auth_failures++;
				send_error(p, h, QMCP_E_AUTH_FAILED, "wrong HMAC");
				p->dead = 1;
				return;
			}
		}
		p->authed = 1;
		struct qmcp_msg m;
		qmcp_msg_init(&m, h->type, QMCP_F_RESPONSE, h->req_id);
		send_frame(p, &m);
		return;
	}
	case QMCP_MSG_RESULT:
		if (!p->authed) {
			send_error(p, h, QMCP_E_AUTH_REQUIRED, "HELLO and AUTH before RESULT");
			return;
		}
		on_result(l, p, h, b);
		return;
	case QMCP_MSG_BYE: {
		struct qmcp_msg m;
		qmcp_msg_init(&m, h->type, QMCP_F_RESPONSE, h->req_id);
		send_frame(p, &m);
		p->dead = 1;
		return;
	}
	default:
		send_error(p, h, QMCP_E_UNKNOWN_TYPE, "a results receiver takes HELLO, AUTH, RESULT, BYE");
	}
}

/* TLS or plain QMCP, from the probe's first byte; 0 to wait, 1 to go on */
static int sniff(struct qmcp_listener *l, struct peer *p)
{
	int t = qmcp_io_sniff(p->fd);
	if (t == -EAGAIN)
		return 0;
	if (t < 0 || (t == 1 && !l->tls)) {
		p->dead = 1; /* closed, or TLS to a receiver without a certificate */
		if (t == 1)
			l->st.refused_transport++;
		return 0;
	}
	if (t == 0 && l->tls_only) {
		l->st.refused_transport++;
		struct qmcp_hdr h = {.type = QMCP_MSG_HELLO};
		send_error(p, &h, QMCP_E_DENIED, "this receiver takes QMCP over TLS only (tls:// destinations)");
		p->dead = 1;
		return 0;
	}
	if (t == 1 && qmcp_io_tls(&p->io, p->fd, l->tls, NULL) != 0) {
		p->dead = 1;
		return 0;
	}
	p->sniffed = 1;
	return 1;
}

static void read_peer(struct qmcp_listener *l, struct peer *p)
{
	if (!p->sniffed && !sniff(l, p))
		return;
	for (int rounds = 0; rounds < 16 && !p->dead; rounds++) {
		long k = qmcp_rx_read_io(&p->rx, &p->io);
		if (k == -EAGAIN)
			return;
		if (k <= 0) {
			p->dead = 1;
			return;
		}
		struct qmcp_hdr h;
		const uint8_t *body;
		int r = 0;
		while (!p->dead && (r = qmcp_rx_frame(&p->rx, &h, &body)) == 1)
			handle(l, p, &h, body);
		if (r < 0) {
			l->st.bad_frames++;
			p->dead = 1;
		}
	}
}

int qmcp_listener_run(struct qmcp_listener *l, int timeout_ms)
{
	struct pollfd pf[QMCP_LISTENER_PEERS + 1];
	pf[0] = (struct pollfd){.fd = l->fd, .events = POLLIN};
	unsigned int n = l->n;
	for (unsigned int i = 0; i < n; i++) {
		pf[1 + i] = (struct pollfd){.fd = l->p[i]->fd, .events = qmcp_io_events(&l->p[i]->io, POLLIN)};
		if (qmcp_io_pending(&l->p[i]->io))
			timeout_ms = 0; /* decrypted already: not the socket's to signal */
	}
	int k = poll(pf, 1 + n, timeout_ms);
	if (k < 0)
		return errno == EINTR ? -EINTR : 0;
	for (unsigned int i = 0; i < n; i++)
		if (pf[1 + i].revents || qmcp_io_pending(&l->p[i]->io))
			read_peer(l, l->p[i]);
	for (unsigned int i = n; i-- > 0;) {
		struct peer *p = l->p[i];
		if (!p->dead)
			continue;
		qmcp_io_close(&p->io);
		qmcp_rx_free(&p->rx);
		free(p);
		l->p[i] = l->p[--l->n];
	}
	if (pf[0].revents & POLLIN) {
		for (;;) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);
			int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd < 0)
				break;
			struct peer *p = l->n < QMCP_LISTENER_PEERS ? calloc(1, sizeof(*p)) : NULL;
			if (!p) {
				close(fd);
				continue;
			}
			p->id = ++l->next_id;
			p->fd = fd;
			qmcp_io_plain(&p->io, fd);
			addr_str(&ss, p->addr, sizeof(p->addr));
			qmcp_rx_init(&p->rx);
			l->p[l->n++] = p;
			l->st.connections++;
		}
	}
	return 0;
}

void qmcp_listener_set_tls(struct qmcp_listener *l, const struct qmcp_tls *tls, int tls_only)
{
	l->tls = tls;
	l->tls_only = tls && tls_only;
}

void qmcp_listener_stats(const struct qmcp_listener *l, struct qmcp_listener_stats *s)
{
	*s = l->st;
}

void qmcp_listener_destroy(struct qmcp_listener *l)
{
	if (!l)
		return;
	for (unsigned int i = 0; i < l->n; i++) {
		qmcp_io_close(&l->p[i]->io);
		qmcp_rx_free(&l->p[i]->rx);
		free(l->p[i]);
	}
	close(l->fd);
	memset(l->secret, 0, sizeof(l->secret));
	free(l);
}
