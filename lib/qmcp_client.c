/*
 * qmcp_client: see qmcp_client.h. Plain blocking sockets with poll() for
 * the timeouts; answers are matched by request id.
 */
#define _GNU_SOURCE
#include "qmcp_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "qmcp_auth.h"
#include "qmcp_tls.h"

struct qmcp_client {
	struct qmcp_io io; /* the socket, with TLS on it or not */
	uint32_t next_id;
	struct qmcp_rx rx;
	struct qmcp_reply *q; /* pushes kept while waiting for an answer */
	unsigned int qhead, qn;
	char probe_id[128];
	char host[96];
};

void qmcp_reply_free(struct qmcp_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

struct qmcp_client *qmcp_client_connect(const char *host, int port, int timeout_ms, char *err,
					size_t errlen)
{
	return qmcp_client_connect_tls(host, port, NULL, timeout_ms, err, errlen);
}

struct qmcp_client *qmcp_client_connect_tls(const char *host, int port, const struct qmcp_tls *tls,
					    int timeout_ms, char *err, size_t errlen)
{
	uint64_t until = now_ms() + (uint64_t)timeout_ms;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	char ps[16];
	snprintf(ps, sizeof(ps), "%d", port);
	int e = getaddrinfo(host, ps, &hints, &res);
	if (e) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(e));
		return NULL;
	}
	int fd = -1, last = 0;
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
			last = errno;
			close(fd);
			fd = -1;
			continue;
		}
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (poll(&pf, 1, timeout_ms) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
			last = soerr ? soerr : ETIMEDOUT;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "cannot connect to %s port %d: %s", host, port,
			 strerror(last ? last : ECONNREFUSED));
		return NULL;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct qmcp_client *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	qmcp_io_plain(&c->io, fd);
	c->next_id = 1;
	snprintf(c->host, sizeof(c->host), "%s", host);
	qmcp_rx_init(&c->rx);
	if (!tls)
		return c;
	/* TLS: the handshake whole before anything is said */
	if (qmcp_io_tls(&c->io, fd, tls, host) != 0) {
		snprintf(err, errlen, "out of memory");
		qmcp_client_close(c);
		return NULL;
	}
	for (;;) {
		int r = qmcp_io_handshake(&c->io);
		if (r == 1)
			return c;
		uint64_t t = now_ms();
		if (r == -EAGAIN && t < until) {
			struct pollfd pf = {.fd = fd, .events = qmcp_io_events(&c->io, 0)};
			poll(&pf, 1, (int)(until - t));
			continue;
		}
		snprintf(err, errlen, "TLS with %s port %d: %s", host, port,
			 r == -EPROTO ? c->io.err : r == -EAGAIN ? "no handshake in time"
						  : "the server closed the connection (does it speak TLS?)");
		qmcp_client_close(c);
		return NULL;
	}
}

void qmcp_client_close(struct qmcp_client *c)
{
	if (!c)
		return;
	qmcp_io_close(&c->io);
	qmcp_rx_free(&c->rx);
	for (unsigned int i = 0; i < c->qn; i++)
		qmcp_reply_free(&c->q[(c->qhead + i) % QMCP_CLIENT_QUEUE]);
	free(c->q);
	free(c);
}

const char *qmcp_client_probe_id(const struct qmcp_client *c)
{
	return c->probe_id;
}

uint32_t qmcp_client_next_id(struct qmcp_client *c)
{
	return c->next_id++;
}

static int send_all(struct qmcp_io *io, const uint8_t *p, size_t n, int timeout_ms)
{
	uint64_t until = now_ms() + (uint64_t)timeout_ms;
	while (n) {
		long k = qmcp_io_send(io, p, n);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (k != -EAGAIN)
			return -ECONNRESET;
		uint64_t t = now_ms();
		if (t >= until)
			return -ETIMEDOUT;
		struct pollfd pf = {.fd = io->fd, .events = qmcp_io_events(io, POLLOUT)};
		poll(&pf, 1, (int)(until - t));
	}
	return 0;
}

/* The next frame from the connection. 1 got, 0 timeout, negative: ended or garbage. */
static int read_frame(struct qmcp_client *c, struct qmcp_reply *r, uint64_t until)
{
	for (;;) {
		const uint8_t *body;
		int k = qmcp_rx_frame(&c->rx, &r->h, &body);
		if (k < 0)
			return -EPROTO;
		if (k == 1) {
			r->len = r->h.length;
			r->body = malloc(r->len ? r->len : 1);
			if (!r->body)
				return -ENOMEM;
			memcpy(r->body, body, r->len);
			return 1;
		}
		uint64_t t = now_ms();
		if (t >= until)
			return 0;
		/* bytes TLS has already decrypted are not the socket's to signal */
		if (!qmcp_io_pending(&c->io)) {
			struct pollfd pf = {.fd = c->io.fd, .events = qmcp_io_events(&c->io, POLLIN)};
			int p = poll(&pf, 1, (int)(until - t));
			if (p == 0)
				return 0;
			if (p < 0 && errno != EINTR)
				return -ECONNRESET;
		}
		long n = qmcp_rx_read_io(&c->rx, &c->io);
		if (n == -EAGAIN)
			continue;
		if (n == -ENOMEM)
			return -ENOMEM;
		if (n <= 0)
			return -ECONNRESET;
	}
}

static void queue_push(struct qmcp_client *c, struct qmcp_reply *r)
{
	if (!c->q)
		c->q = calloc(QMCP_CLIENT_QUEUE, sizeof(*c->q));
	if (!c->q || c->qn == QMCP_CLIENT_QUEUE) {
		qmcp_reply_free(r); /* the oldest pushes are kept; a reader this slow loses the rest */
		return;
	}
	c->q[(c->qhead + c->qn) % QMCP_CLIENT_QUEUE] = *r;
	c->qn++;
}

uint16_t qmcp_reply_error(const struct qmcp_reply *r, char *msg, size_t len)
{
	if (len)
		msg[0] = 0;
	if (!(r->h.flags & QMCP_F_ERROR))
		return 0;
	struct qmcp_tlv t;
	uint16_t code = QMCP_E_INTERNAL;
	if (qmcp_find(r->body, r->len, QMCP_T_ERROR_CODE, &t) == 1)
		qmcp_tlv_u16(&t, &code);
	if (qmcp_find(r->body, r->len, QMCP_T_ERROR_MSG, &t) == 1 && len)
		if (qmcp_tlv_str(&t, msg, len) != 0)
			snprintf(msg, len, "(unreadable message)");
	return code;
}

int qmcp_client_call(struct qmcp_client *c, struct qmcp_msg *req, struct qmcp_reply *rep,
		     int timeout_ms, char *err, size_t errlen)
{
	size_t n;
	const uint8_t *f = qmcp_msg_frame(req, &n);
	memset(rep, 0, sizeof(*rep));
	if (!f) {
		snprintf(err, errlen, "cannot build the request: %s", strerror(-req->err));
		return req->err;
	}
	uint64_t until = now_ms() + (uint64_t)timeout_ms;
	int e = send_all(&c->io, f, n, timeout_ms);
	if (e) {
		snprintf(err, errlen, "%s: connection lost while sending", c->host);
		return e;
	}
	for (;;) {
		struct qmcp_reply r = {0};
		int k = read_frame(c, &r, until);
		if (k == 0) {
			snprintf(err, errlen, "%s: no answer to %s within %d ms", c->host,
				 qmcp_msg_name(req->type), timeout_ms);
			return -ETIMEDOUT;
		}
		if (k < 0) {
			snprintf(err, errlen, "%s: %s", c->host,
				 k == -EPROTO ? "the peer does not speak QMCP" : "connection closed");
			return k;
		}
		if ((r.h.flags & QMCP_F_RESPONSE) && r.h.req_id == req->req_id) {
			*rep = r;
			if (r.h.flags & QMCP_F_ERROR) {
				char msg[512];
				uint16_t code = qmcp_reply_error(&r, msg, sizeof(msg));
				snprintf(err, errlen, "%s: %s", qmcp_error_name(code), msg);
				return -EREMOTEIO;
			}
			return 0;
		}
		if ((r.h.flags & QMCP_F_RESPONSE) && (r.h.flags & QMCP_F_ERROR) && r.h.req_id == 0) {
			/* an error not tied to a request: the probe refused the connection */
			char msg[512];
			uint16_t code = qmcp_reply_error(&r, msg, sizeof(msg));
			snprintf(err, errlen, "%s: %s", qmcp_error_name(code), msg);
			*rep = r;
			return -EREMOTEIO;
		}
		if (!(r.h.flags & QMCP_F_RESPONSE))
			queue_push(c, &r);
		else
			qmcp_reply_free(&r);
	}
}

int qmcp_client_hello(struct qmcp_client *c, const char *name, const uint8_t *secret,
		      size_t secret_len, int timeout_ms, char *err, size_t errlen)
{
	struct qmcp_msg m;
	struct qmcp_reply r;
	qmcp_msg_init(&m, QMCP_MSG_HELLO, 0, qmcp_client_next_id(c));
	qmcp_put_str(&m, QMCP_T_CLIENT_NAME, name);
	int e = qmcp_client_call(c, &m, &r, timeout_ms, err, errlen);
	qmcp_msg_free(&m);
	if (e == -EREMOTEIO) {
		qmcp_reply_free(&r);
		return -EACCES;
	}
	if (e)
		return e;
	struct qmcp_tlv t, nonce;
	uint8_t need = 0;
	if (qmcp_find(r.body, r.len, QMCP_T_PROBE_ID, &t) == 1)
		qmcp_tlv_str(&t, c->probe_id, sizeof(c->probe_id));
	if (qmcp_find(r.body, r.len, QMCP_T_AUTH_REQUIRED, &t) == 1)
		qmcp_tlv_u8(&t, &need);
	if (!need) {
		qmcp_reply_free(&r);
		return 0;
	}
	if (!secret) {
		qmcp_reply_free(&r);
		snprintf(err, errlen, "the probe requires the shared secret: give --secret-file");
		return -EACCES;
	}
	if (qmcp_find(r.body, r.len, QMCP_T_NONCE, &nonce) != 1 || nonce.len != QMCP_NONCE_LEN) {
		qmcp_reply_free(&r);
		snprintf(err, errlen, "the probe's HELLO answer carries no nonce");
		return -EPROTO;
	}
	uint8_t mac[QMCP_HMAC_LEN];
	qmcp_hmac(secret, secret_len, nonce.val, QMCP_NONCE_LEN, mac);
	qmcp_reply_free(&r);
	qmcp_msg_init(&m, QMCP_MSG_AUTH, 0, qmcp_client_next_id(c));
	qmcp_put_bytes(&m, QMCP_T_HMAC, mac, sizeof(mac));
	e = qmcp_client_call(c, &m, &r, timeout_ms, err, errlen);
	qmcp_msg_free(&m);
	qmcp_reply_free(&r);
	return e == -EREMOTEIO ? -EACCES : e;
}

int qmcp_client_next_push(struct qmcp_client *c, struct qmcp_reply *rep, int timeout_ms)
{
	memset(rep, 0, sizeof(*rep));
	if (c->qn) {
		*rep = c->q[c->qhead];
		c->qhead = (c->qhead + 1) % QMCP_CLIENT_QUEUE;
		c->qn--;
		return 1;
	}
	uint64_t until = now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		struct qmcp_reply r = {0};
		int k = read_frame(c, &r, until);
		if (k <= 0)
			return k;
		if (!(r.h.flags & QMCP_F_RESPONSE)) {
			*rep = r;
			return 1;
		}
		qmcp_reply_free(&r);
	}
}

int qmcp_locate(const char *const *targets, unsigned int n, int port, const uint8_t *secret,
		size_t secret_len, int timeout_ms,
		void (*fn)(const struct qmcp_located *p, void *arg), void *arg, char *err,
		size_t errlen)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int v6 = fd >= 0;
	if (fd >= 0) {
		int zero = 0;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	} else {
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot open a UDP socket: %s", strerror(errno));
		return -errno;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	uint8_t nonce[QMCP_NONCE_LEN];
	if (qmcp_nonce(nonce)) {
		close(fd);
		snprintf(err, errlen, "no random bytes for a nonce");
		return -EIO;
	}
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_LOCATE, 0, 1);
	qmcp_put_bytes(&m, QMCP_T_NONCE, nonce, sizeof(nonce));
	uint8_t msg[8 + QMCP_NONCE_LEN], mac[QMCP_HMAC_LEN];
	if (secret) {
		memcpy(msg, "LOCATE", 6);
		memcpy(msg + 6, nonce, QMCP_NONCE_LEN);
		qmcp_hmac(secret, secret_len, msg, 6 + QMCP_NONCE_LEN, mac);
		qmcp_put_bytes(&m, QMCP_T_HMAC, mac, sizeof(mac));
	}
	size_t flen;
	const uint8_t *f = qmcp_msg_frame(&m, &flen);
	int sent = 0;
	for (unsigned int i = 0; i < n && f; i++) {
		struct addrinfo hints = {.ai_socktype = SOCK_DGRAM,
					 .ai_family = v6 ? AF_UNSPEC : AF_INET}, *res = NULL;
		char ps[16];
		snprintf(ps, sizeof(ps), "%d", port);
		if (getaddrinfo(targets[i], ps, &hints, &res) != 0)
			continue;
		struct sockaddr_in6 mapped;
		struct sockaddr *to = res->ai_addr;
		socklen_t tolen = res->ai_addrlen;
		if (v6 && res->ai_family == AF_INET) {
			/* a dual-stack socket sends to IPv4 through a mapped address */
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)res->ai_addr;
			memset(&mapped, 0, sizeof(mapped));
			mapped.sin6_family = AF_INET6;
			mapped.sin6_port = s4->sin_port;
			mapped.sin6_addr.s6_addr[10] = mapped.sin6_addr.s6_addr[11] = 0xff;
			memcpy(mapped.sin6_addr.s6_addr + 12, &s4->sin_addr, 4);
			to = (struct sockaddr *)&mapped;
			tolen = sizeof(mapped);
		}
		if (sendto(fd, f, flen, 0, to, tolen) == (ssize_t)flen)
			sent++;
		freeaddrinfo(res);
	}
	qmcp_msg_free(&m);
	if (!sent) {
		close(fd);
		snprintf(err, errlen, "no LOCATE could be sent (check the targets)");
		return -EHOSTUNREACH;
	}
	int found = 0;
	uint64_t until = now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		uint64_t t = now_ms();
		if (t >= until)
			break;
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (poll(&pf, 1, (int)(until - t)) <= 0)
			break;
		uint8_t buf[2048];
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		ssize_t k = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &sl);
		struct qmcp_hdr h;
		if (k < QMCP_HDR_LEN || qmcp_hdr_decode(buf, (size_t)k, &h) != 0 ||
		    h.type != QMCP_MSG_LOCATE || !(h.flags & QMCP_F_RESPONSE) ||
		    h.length != (size_t)k - QMCP_HDR_LEN || qmcp_body_check(buf + QMCP_HDR_LEN, h.length))
			continue;
		const uint8_t *b = buf + QMCP_HDR_LEN;
		struct qmcp_located p;
		struct qmcp_tlv tv;
		memset(&p, 0, sizeof(p));
		char a[INET6_ADDRSTRLEN] = "?";
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
				inet_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, a, sizeof(a));
			else
				inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		} else {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a));
		}
		snprintf(p.addr, sizeof(p.addr), "%s", a);
		if (qmcp_find(b, h.length, QMCP_T_PROBE_ID, &tv) == 1)
			qmcp_tlv_str(&tv, p.probe_id, sizeof(p.probe_id));
		if (qmcp_find(b, h.length, QMCP_T_PROBE_NAME, &tv) == 1)
			qmcp_tlv_str(&tv, p.name, sizeof(p.name));
		if (qmcp_find(b, h.length, QMCP_T_SW_VERSION, &tv) == 1)
			qmcp_tlv_str(&tv, p.version, sizeof(p.version));
		if (qmcp_find(b, h.length, QMCP_T_QMCP_PORT, &tv) == 1)
			qmcp_tlv_u16(&tv, &p.port);
		uint8_t ar = 0;
		if (qmcp_find(b, h.length, QMCP_T_AUTH_REQUIRED, &tv) == 1)
			qmcp_tlv_u8(&tv, &ar);
		p.auth_required = ar;
		if (secret && qmcp_find(b, h.length, QMCP_T_HMAC, &tv) == 1 && tv.len == QMCP_HMAC_LEN) {
			memcpy(msg, "LOCATED", 7);
			memcpy(msg + 7, nonce, QMCP_NONCE_LEN);
			qmcp_hmac(secret, secret_len, msg, 7 + QMCP_NONCE_LEN, mac);
			p.verified = qmcp_hmac_equal(tv.val, mac);
		}
		found++;
		if (fn)
			fn(&p, arg);
	}
	close(fd);
	return found;
}
