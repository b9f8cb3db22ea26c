/*
 * ctl: see ctl.h. One poll() set: the TCP listener, the UDP discovery
 * socket and the sessions. A session's bytes go through a qmcp_rx (input
 * bounded by one frame) and a tx buffer (output bounded by CTL_TX_MAX).
 */
#define _GNU_SOURCE
#include "ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include "qmcp_auth.h"
#include "qmcp_tls.h"
#include "qp_ipfix.h"
#include "qp_clock.h"
#include "qp_cap.h"
#include "capture.h"

struct session {
	int fd;
	struct qmcp_io io; /* the socket, with TLS on it once the client's first byte says so */
	int sniffed;       /* 1: the transport is known (TLS or plain QMCP) */
	int id; /* unique for the probe's life: owner of measurements */
	char peer[64];
	char client[64];
	struct qmcp_rx rx;
	uint8_t *tx;
	size_t txlen, txoff, txcap;
	int hello, authed, closing;
	uint8_t nonce[QMCP_NONCE_LEN];
	uint64_t opened_ns;
	uint32_t subs[MEAS_MAX];
	unsigned int nsubs;
};

struct ctl_counters ctl_cnt;

static struct {
	struct ctl_cfg cfg;
	int lfd, ufd;
	struct session *s[CTL_SESSIONS_MAX];
	unsigned int n;
	int next_id;
	uint64_t started_ns;
	uint64_t log_at_ns; /* refusal logging: once a second at most */
	uint64_t log_suppressed;
} C = {.lfd = -1, .ufd = -1};

/* Refusals are logged at a limited rate: one line a second, with a count of the rest. */
__attribute__((format(printf, 1, 2))) static void log_refusal(const char *fmt, ...)
{
	uint64_t now = qp_clock_realtime_ns();
	if (now - C.log_at_ns < 1000000000ULL) {
		C.log_suppressed++;
		return;
	}
	char line[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (C.log_suppressed)
		fprintf(stderr, "qprobe: qmcp: %s (and %llu more refusals in the last second)\n", line,
			(unsigned long long)C.log_suppressed);
	else
		fprintf(stderr, "qprobe: qmcp: %s\n", line);
	C.log_at_ns = now;
	C.log_suppressed = 0;
}

static int nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int parse_bind(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	return -EINVAL;
}

static int open_socket(const struct sockaddr_storage *ss, socklen_t len, int type)
{
	int fd = socket(ss->ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6) /* "::" takes IPv4 callers too */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (const struct sockaddr *)ss, len) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 128) != 0) || nonblock(fd) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int ctl_start(const struct ctl_cfg *cfg, char *err, size_t errlen)
{
	C.cfg = *cfg;
	C.next_id = 1;
	C.started_ns = qp_clock_realtime_ns();
	struct sockaddr_storage ss;
	socklen_t len;
	if (parse_bind(cfg->addr, cfg->port, &ss, &len)) {
		snprintf(err, errlen, "QMCP address '%s': an IPv4 or IPv6 literal is accepted",
			 cfg->addr);
		return -EINVAL;
	}
	C.lfd = open_socket(&ss, len, SOCK_STREAM);
	if (C.lfd < 0) {
		snprintf(err, errlen, "cannot serve QMCP on TCP %s port %d: %s", cfg->addr, cfg->port,
			 strerror(-C.lfd));
		return C.lfd;
	}
	C.ufd = open_socket(&ss, len, SOCK_DGRAM);
	if (C.ufd < 0) {
		snprintf(err, errlen, "cannot answer discovery on UDP %s port %d: %s", cfg->addr,
			 cfg->port, strerror(-C.ufd));
		close(C.lfd);
		C.lfd = -1;
		return C.ufd;
	}
	return 0;
}

unsigned int ctl_sessions(void)
{
	return __atomic_load_n(&C.n, __ATOMIC_RELAXED);
}

/* ---- output ---- */

/* Append a frame to a session's output; a peer that does not read is dropped. */
static int queue_bytes(struct session *s, const uint8_t *f, size_t n)
{
	if (s->txlen - s->txoff + n > CTL_TX_MAX) {
		if (!s->closing) {
			ctl_cnt.sessions_slow++;
			log_refusal("%s: closed, %zu bytes unread by the controller", s->peer,
				    s->txlen - s->txoff);
		}
		s->closing = 2; /* drop now: it does not read */
		return -1;
	}
	if (s->txoff && s->txoff == s->txlen)
		s->txoff = s->txlen = 0;
	if (s->txlen + n > s->txcap) {
		if (s->txoff) {
			memmove(s->tx, s->tx + s->txoff, s->txlen - s->txoff);
			s->txlen -= s->txoff;
			s->txoff = 0;
		}
		size_t c = s->txcap ? s->txcap : 8192;
		while (c < s->txlen + n)
			c *= 2;
		uint8_t *b = realloc(s->tx, c);
		if (!b) {
			s->closing = 2;
			return -1;
		}
		s->tx = b;
		s->txcap = c;
	}
	memcpy(s->tx + s->txlen, f, n);
	s->txlen += n;
	return 0;
}

static void send_msg(struct session *s, struct qmcp_msg *m)
{
	size_t n;
	const uint8_t *f = qmcp_msg_frame(m, &n);
	if (!f) {
		/* too big or no memory: say so in a frame that fits */
		struct qmcp_msg e;
		qmcp_msg_error(&e, m->type, m->req_id, m->err == -EMSGSIZE ? QMCP_E_LIMIT : QMCP_E_INTERNAL,
			       m->err == -EMSGSIZE ? "the answer would pass 1 MiB: ask for less"
						   : "out of memory");
		qmcp_msg_free(m);
		send_msg(s, &e);
		return;
	}
	queue_bytes(s, f, n);
	qmcp_msg_free(m);
}

__attribute__((format(printf, 5, 6))) static void send_error(struct session *s, uint8_t type,
							     uint32_t req, uint16_t code,
							     const char *fmt, ...)
{
	char text[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	struct qmcp_msg m;
	qmcp_msg_error(&m, type, req, code, "%s", text);
	ctl_cnt.errors_sent++;
	send_msg(s, &m);
}

static void flush_tx(struct session *s)
{
	while (s->txoff < s->txlen) {
		long k = qmcp_io_send(&s->io, s->tx + s->txoff, s->txlen - s->txoff);
		if (k > 0) {
			s->txoff += (size_t)k;
			continue;
		}
		if (k == -EAGAIN)
			return;
		s->closing = 2;
		return;
	}
	if (s->txoff == s->txlen)
		s->txoff = s->txlen = 0;
	if (s->closing == 1)
		s->closing = 2;
}

static struct session *session_of(int id)
{
	for (unsigned int i = 0; i < C.n; i++)
		if (C.s[i]->id == id)
			return C.s[i];
	return NULL;
}

size_t ctl_room(int session)
{
	struct session *s = session_of(session);
	if (!s || s->closing)
		return 0;
	size_t held = s->txlen - s->txoff;
	return held >= CTL_TX_MAX ? 0 : CTL_TX_MAX - held;
}

int ctl_push(int session, struct qmcp_msg *m)
{
	struct session *s = session_of(session);
	if (!s) {
		qmcp_msg_free(m);
		return -ENOENT;
	}
	send_msg(s, m);
	return 0;
}

/* ---- sessions ---- */

static void close_session(unsigned int i)
{
	struct session *s = C.s[i];
	cap_session_closed(s->id);
	int stopped = meas_stop_session(s->id);
	if (stopped)
		fprintf(stderr, "qprobe: qmcp: %s closed; %d measurement(s) of its stopped\n", s->peer,
			stopped);
	qmcp_io_close(&s->io);
	qmcp_rx_free(&s->rx);
	free(s->tx);
	free(s);
	C.s[i] = C.s[--C.n];
	C.s[C.n] = NULL;
}

static void accept_all(void)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(C.lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		char peer[64];
		qp_sockaddr_str((struct sockaddr *)&ss, peer, sizeof(peer));
		if (!qp_acl_allows(C.cfg.acl, (struct sockaddr *)&ss)) {
			ctl_cnt.sessions_refused_acl++;
			log_refusal("%s: refused, not on the allow-list", peer);
			struct qmcp_msg m;
			qmcp_msg_error(&m, QMCP_MSG_HELLO, 0, QMCP_E_DENIED,
				       "%s is not on this probe's allow-list", peer);
			size_t n;
			const uint8_t *f = qmcp_msg_frame(&m, &n);
			if (f && send(fd, f, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				(void)0; /* best effort: the caller learns why, or just sees the close */
			qmcp_msg_free(&m);
			close(fd);
			continue;
		}
		if (C.n >= CTL_SESSIONS_MAX) {
			ctl_cnt.sessions_refused_full++;
			log_refusal("%s: refused, %d sessions open", peer, CTL_SESSIONS_MAX);
			struct qmcp_msg m;
			qmcp_msg_error(&m, QMCP_MSG_HELLO, 0, QMCP_E_LIMIT,
				       "%d controller sessions are open, the most this probe serves",
				       CTL_SESSIONS_MAX);
			size_t n;
			const uint8_t *f = qmcp_msg_frame(&m, &n);
			if (f && send(fd, f, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				(void)0;
			qmcp_msg_free(&m);
			close(fd);
			continue;
		}
		struct session *s = calloc(1, sizeof(*s));
		if (!s) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		s->fd = fd;
		qmcp_io_plain(&s->io, fd);
		s->id = C.next_id++;
		snprintf(s->peer, sizeof(s->peer), "%s", peer);
		qmcp_rx_init(&s->rx);
		s->opened_ns = qp_clock_realtime_ns();
		C.s[C.n] = s;
		__atomic_store_n(&C.n, C.n + 1, __ATOMIC_RELAXED);
		ctl_cnt.sessions_accepted++;
	}
}

/* ---- requests ---- */

static void do_hello(struct session *s, const struct qmcp_hdr *h, const uint8_t *b)
{
	struct qmcp_tlv t;
	if (qmcp_find(b, h->length, QMCP_T_CLIENT_NAME, &t) == 1 &&
	    qmcp_tlv_str(&t, s->client, sizeof(s->client)) != 0)
		snprintf(s->client, sizeof(s->client), "?");
	if (qmcp_nonce(s->nonce) != 0) {
		send_error(s, h->type, h->req_id, QMCP_E_INTERNAL, "no random bytes for a nonce");
		return;
	}
	s->hello = 1;
	s->authed = C.cfg.secret == NULL;
	struct qmcp_msg m;
	qmcp_msg_init(&m, h->type, QMCP_F_RESPONSE, h->req_id);
	qmcp_put_str(&m, QMCP_T_PROBE_ID, C.cfg.probe_id);
	qmcp_put_str(&m, QMCP_T_PROBE_NAME, C.cfg.probe_name);
	qmcp_put_str(&m, QMCP_T_SW_VERSION, qp_version());
	qmcp_put_bytes(&m, QMCP_T_NONCE, s->nonce, QMCP_NONCE_LEN);
	qmcp_put_u8(&m, QMCP_T_AUTH_REQUIRED, C.cfg.secret != NULL);
	qmcp_put_u16(&m, QMCP_T_QMCP_PORT, (uint16_t)C.cfg.port);
	send_msg(s, &m);
}

static void do_auth(struct session *s, const struct qmcp_hdr *h, const uint8_t *b)
{
	struct qmcp_tlv t;
	if (!C.cfg.secret) {
		s->authed = 1;
	} else {
		uint8_t want[QMCP_HMAC_LEN];
		qmcp_hmac(C.cfg.secret, C.cfg.secret_len, s->nonce, QMCP_NONCE_LEN, want);
		if (qmcp_find(b, h->length, QMCP_T_HMAC, &t) != 1 || t.len != QMCP_HMAC_LEN ||
		    !qmcp_hmac_equal(t.val, want)) {
			ctl_cnt.auth_failures++;
			log_refusal("%s: authentication failed", s->peer);
			send_error(s, h->type, h->req_id, QMCP_E_AUTH_FAILED,
				   "wrong HMAC: HMAC-SHA256 of the HELLO nonce keyed with the shared "
				   "secret is expected");
			s->closing = 1;
			return;
		}
		s->authed = 1;
	}
	struct qmcp_msg m;
	qmcp_msg_init(&m, h->type, QMCP_F_RESPONSE, h->req_id);
	send_msg(s, &m);
}

static void do_info(struct session *s, const struct qmcp_hdr *h)
{
	struct qmcp_msg m;
	json_t *j = json_object();
	qmcp_msg_init(&m, h->type, QMCP_F_RESPONSE, h->req_id);
	qmcp_put_str(&m, QMCP_T_PROBE_ID, C.cfg.probe_id);
	qmcp_put_str(&m, QMCP_T_PROBE_NAME, C.cfg.probe_name);
	qmcp_put_str(&m, QMCP_T_SW_VERSION, qp_version());
	uint64_t up = (qp_clock_realtime_ns() - C.started_ns) / 1000000000ULL;
	qmcp_put_u64(&m, QMCP_T_UPTIME_S, up);
	uint32_t cerr;
	const char *cs = qp_clock_sync_state(&cerr);
	qmcp_put_str(&m, QMCP_T_CLOCK_STATE, cs);
	qmcp_put_u32(&m, QMCP_T_CLOCK_ERROR_US, cerr);
	qmcp_put_u32(&m, QMCP_T_MEAS_COUNT, meas_count());
	qmcp_put_u32(&m, QMCP_T_MEAS_MAX, MEAS_MAX);
	json_object_set_new(j, "probe_id", json_string(C.cfg.probe_id));
	json_object_set_new(j, "name", json_string(C.cfg.probe_name));
	json_object_set_new(j, "version", json_string(qp_version()));
	json_object_set_new(j, "uptime_s", json_integer((json_int_t)up));
	json_object_set_new(j, "clock", json_pack("{s:s,s:i}", "state", cs, "estimated_error_us",
						   (int)cerr));
	json_object_set_new(j, "measurements", json_integer(meas_count()));
	json_object_set_new(j, "measurements_max", json_integer(MEAS_MAX));
	json_object_set_new(j, "sessions", json_integer(C.n));
	if (C.cfg.info)
		C.cfg.info(&m, j, C.cfg.info_arg);
	char *text = json_dumps(j, JSON_COMPACT);
	qmcp_put_str(&m, QMCP_T_INFO_JSON, text ? text : "{}");
	free(text);
	json_decref(j);
	send_msg(s, &m);
}

/* START's parameters over the defaults; 0, or an error answer was sent. */
static int start_params(struct session *s, const struct qmcp_hdr *h, const uint8_t *b,
			struct meas_params *p)
{
	*p = C.cfg.defaults;
	p->ndest = 0;
	p->nipfix = 0;
	struct qmcp_iter it;
	struct qmcp_tlv t;
	int r;
	qmcp_iter_init(&it, b, h->length);
	while ((r = qmcp_next(&it, &t)) == 1) {
		uint32_t v = 0;
		uint8_t v8 = 0;
		int e = 0;
		switch (t.type) {
		case QMCP_T_FILTER:
			e = qmcp_tlv_str(&t, p->filter, sizeof(p->filter));
			break;
		case QMCP_T_DESCRIPTION:
			e = qmcp_tlv_str(&t, p->desc, sizeof(p->desc));
			break;
		case QMCP_T_INTERVAL_MS:
			e = qmcp_tlv_u32(&t, &v);
			p->interval_ns = (uint64_t)v * 1000000ULL;
			break;
		case QMCP_T_IDLE_TIMEOUT_S:
			e = qmcp_tlv_u32(&t, &v);
			p->idle_ns = (uint64_t)v * 1000000000ULL;
			break;
		case QMCP_T_ACTIVE_TIMEOUT_S:
			e = qmcp_tlv_u32(&t, &v);
			p->active_ns = (uint64_t)v * 1000000000ULL;
			break;
		case QMCP_T_MAX_FLOWS:
			e = qmcp_tlv_u32(&t, &p->max_flows);
			break;
		case QMCP_T_METRICS:
			e = qmcp_tlv_u32(&t, &v);
			if (!e && (v & ~(uint32_t)QMCP_METRIC_ALL)) {
				send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM,
					   "METRICS 0x%x: only bits 0x1 traffic, 0x2 tcp, 0x4 rtp, 0x8 "
					   "icmp, 0x10 dns, 0x20 quic, 0x40 tls, 0x80 mpegts are known", v);
				return -1;
			}
			_Static_assert(QMCP_METRIC_TCP == QP_METRICS_TCP && QMCP_METRIC_RTP == QP_METRICS_RTP &&
					       QMCP_METRIC_ICMP == QP_METRICS_ICMP &&
					       QMCP_METRIC_DNS == QP_METRICS_DNS &&
					       QMCP_METRIC_QUIC == QP_METRICS_QUIC &&
					       QMCP_METRIC_TLS == QP_METRICS_TLS &&
					       QMCP_METRIC_MPEGTS == QP_METRICS_MPEGTS,
				       "QMCP's metric bits are the probe's");
			p->metrics_off = ~v & QP_METRICS_ALL;
			break;
		case QMCP_T_RTP_PORTS:
			e = qmcp_tlv_u32(&t, &v);
			p->rtp.port_lo = (uint16_t)(v >> 16);
			p->rtp.port_hi = (uint16_t)v;
			break;
		case QMCP_T_FLOW_KEY: {
			char fk[128], why[400];
			e = qmcp_tlv_str(&t, fk, sizeof(fk));
			if (!e && qp_flow_key_parts_parse(fk, &p->flow_key, why, sizeof(why))) {
				send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM, "FLOW_KEY: %s", why);
				return -1;
			}
			break;
		}
		case QMCP_T_RTP_CLOCK_HZ:
			e = qmcp_tlv_u32(&t, &p->rtp.dynamic_clock_hz);
			break;
		case QMCP_T_PERSIST:
			e = qmcp_tlv_u8(&t, &v8);
			p->persist = v8 != 0;
			break;
		case QMCP_T_DESTINATION: {
			if (p->ndest >= MEAS_DEST_MAX) {
				send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM,
					   "more than %d DESTINATION fields", MEAS_DEST_MAX);
				return -1;
			}
			char *d = p->dest[p->ndest];
			e = qmcp_tlv_str(&t, d, sizeof(p->dest[0]));
			if (!e && meas_dest_check(d)) {
				send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM,
					   "DESTINATION '%.100s': host:port is accepted "
					   "(e.g. 192.0.2.5:8179, [2001:db8::5]:8179)", d);
				return -1;
			}
			p->ndest += !e;
			break;
		}
		case QMCP_T_TLS_SNI:
			e = qmcp_tlv_u8(&t, &v8);
			p->tls_sni = v8 != 0; /* as PERSIST: any other value is 1 */
			break;
		case QMCP_T_PACKET_RATE:
			e = qmcp_tlv_u32(&t, &v);
			if (!e && (v < 1 || v > QP_PRES_RATE_MAX)) {
				send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM,
					   "PACKET_RATE %u: 1 to %u records a second are accepted", v,
					   QP_PRES_RATE_MAX);
				return -1;
			}
			p->packet_rate = v;
			break;
		case QMCP_T_DNS_PORTS: {
			char ports[128], why[300];
			e = qmcp_tlv_str(&t, ports, sizeof(ports));
			if (!e && qp_dns_ports_parse(ports, p->dns_ports, why, sizeof(why))) {
				send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM, "DNS_PORTS: %s", why);
				return -1;
			}
			break;
		}
		case QMCP_T_IPFIX: {
			if (p->nipfix >= IPX_MAX) {
				send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM,
					   "more than %d IPFIX fields", IPX_MAX);
				return -1;
			}
			char *d = p->ipfix[p->nipfix], host[256], why[400];
			uint16_t port;
			enum qp_ipfix_transport tr;
			e = qmcp_tlv_str(&t, d, sizeof(p->ipfix[0]));
			if (!e && qp_ipfix_spec_parse(d, host, sizeof(host), &port, &tr, why, sizeof(why))) {
				send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM, "IPFIX: %s", why);
				return -1;
			}
			p->nipfix += !e;
			break;
		}
		case QMCP_T_TP_ROLE:
			e = qmcp_tlv_u8(&t, &v8);
			p->tp.role = v8;
			break;
		case QMCP_T_TP_PEER:
			e = qmcp_tlv_str(&t, p->tp.peer, sizeof(p->tp.peer));
			if (!e && !p->tp.role)
				p->tp.role = TPL_ROLE_PRIMARY;
			break;
		case QMCP_T_TP_PEER_FILTER:
			e = qmcp_tlv_str(&t, p->tp.peer_filter, sizeof(p->tp.peer_filter));
			break;
		case QMCP_T_TP_THRESHOLD:
			e = qmcp_tlv_u64(&t, &p->tp.sig.threshold);
			break;
		case QMCP_T_TP_SIG_PAYLOAD:
			e = qmcp_tlv_u8(&t, &v8);
			p->tp.sig.payload_bytes = v8;
			break;
		case QMCP_T_TP_NAT:
			e = qmcp_tlv_u8(&t, &v8);
			p->tp.sig.nat = v8 != 0;
			break;
		case QMCP_T_TP_LOSS_TIMER_MS:
			e = qmcp_tlv_u32(&t, &v);
			p->tp.loss_timer_ns = (uint64_t)v * 1000000ULL;
			break;
		default:
			break; /* unknown fields are skipped: newer controllers still work */
		}
		if (e) {
			send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM,
				   "%s: %s", qmcp_tlv_name(t.type),
				   e == -ENAMETOOLONG ? "too long" : "wrong length or a NUL byte for its kind");
			return -1;
		}
	}
	if (r < 0) {
		send_error(s, h->type, h->req_id, QMCP_E_MALFORMED, "the body is not a TLV sequence");
		return -1;
	}
	return 0;
}

static void do_start(struct session *s, const struct qmcp_hdr *h, const uint8_t *b)
{
	struct meas_params p;
	if (start_params(s, h, b, &p))
		return;
	if (p.tp.role && C.cfg.no_two_point) {
		send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM, "%s", C.cfg.no_two_point);
		return;
	}
	char owner[160], err[400];
	snprintf(owner, sizeof(owner), "%s%s%s%s", s->peer, s->client[0] ? " (" : "", s->client,
		 s->client[0] ? ")" : "");
	long id = meas_start(&p, owner, s->id, err, sizeof(err));
	if (id < 0) {
		send_error(s, h->type, h->req_id,
			   id == -EINVAL ? QMCP_E_BAD_PARAM : id == -ENOSPC ? QMCP_E_LIMIT : QMCP_E_INTERNAL,
			   "%s", err);
		return;
	}
	if (C.cfg.started)
		C.cfg.started(C.cfg.info_arg);
	fprintf(stderr, "qprobe: qmcp: %s started measurement %ld (filter '%s', interval %.0f ms%s)\n",
		owner, id, p.filter, (double)p.interval_ns / 1e6, p.persist ? ", persistent" : "");
	struct qmcp_msg m;
	qmcp_msg_init(&m, h->type, QMCP_F_RESPONSE, h->req_id);
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, (uint32_t)id);
	send_msg(s, &m);
}

static int meas_arg(struct session *s, const struct qmcp_hdr *h, const uint8_t *b, uint32_t *id)
{
	struct qmcp_tlv t;
	if (qmcp_find(b, h->length, QMCP_T_MEAS_ID, &t) != 1 || qmcp_tlv_u32(&t, id) != 0) {
		send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM,
			   "MEAS_ID (u32) is required by %s", qmcp_msg_name(h->type));
		return -1;
	}
	if (!meas_find(*id)) {
		send_error(s, h->type, h->req_id, QMCP_E_NO_SUCH_MEAS,
			   "no measurement %u on this probe (LIST shows them)", *id);
		return -1;
	}
	return 0;
}

/* u32 argument, default def, within [lo, hi]; 0, or an error answer was sent. */
static int u32_arg(struct session *s, const struct qmcp_hdr *h, const uint8_t *b, uint16_t type,
		   uint32_t def, uint32_t lo, uint32_t hi, uint32_t *v)
{
	struct qmcp_tlv t;
	*v = def;
	if (qmcp_find(b, h->length, type, &t) != 1)
		return 0;
	if (qmcp_tlv_u32(&t, v) != 0 || *v < lo || *v > hi) {
		send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM, "%s: a u32 from %u to %u is accepted",
			   qmcp_tlv_name(type), lo, hi);
		return -1;
	}
	return 0;
}

static void unsubscribe(struct session *s, uint32_t id)
{
	for (unsigned int i = 0; i < s->nsubs; i++)
		if (s->subs[i] == id) {
			s->subs[i] = s->subs[--s->nsubs];
			return;
		}
}

static void do_stop(struct session *s, const struct qmcp_hdr *h, const uint8_t *b)
{
	uint32_t id;
	if (meas_arg(s, h, b, &id))
		return;
	meas_stop(id);
	fprintf(stderr, "qprobe: qmcp: %s stopped measurement %u\n", s->peer, id);
	struct qmcp_msg m;
	qmcp_msg_init(&m, h->type, QMCP_F_RESPONSE, h->req_id);
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	send_msg(s, &m);
}

static void put_meas(struct qmcp_msg *m, struct meas *x, int detail)
{
	json_t *j = meas_json(x, detail);
	size_t nest = qmcp_nest_begin(m, QMCP_T_MEAS);
	qmcp_put_u32(m, QMCP_T_MEAS_ID, meas_id(x));
	qmcp_put_str(m, QMCP_T_DESCRIPTION, json_string_value(json_object_get(j, "description")));
	const char *f = json_string_value(json_object_get(j, "filter"));
	qmcp_put_str(m, QMCP_T_FILTER, f ? f : "");
	qmcp_put_u32(m, QMCP_T_INTERVAL_MS,
		     (uint32_t)json_number_value(json_object_get(j, "interval_ms")));
	qmcp_put_u8(m, QMCP_T_STATE, 1);
	qmcp_put_str(m, QMCP_T_OWNER, json_string_value(json_object_get(j, "owner")));
	qmcp_put_u8(m, QMCP_T_PERSIST, json_is_true(json_object_get(j, "persist")));
	qmcp_put_u64(m, QMCP_T_START_NS, (uint64_t)json_integer_value(json_object_get(j, "start_ns")));
	qmcp_put_u64(m, QMCP_T_INTERVALS, (uint64_t)json_integer_value(json_object_get(j, "intervals")));
	char *text = json_dumps(j, JSON_COMPACT);
	qmcp_put_str(m, QMCP_T_MEAS_JSON, text ? text : "{}");
	free(text);
	qmcp_nest_end(m, nest);
	json_decref(j);
}

static void do_list(struct session *s, const struct qmcp_hdr *h, const uint8_t *b, int one)
{
	struct qmcp_msg m;
	uint32_t id = 0;
	if (one && meas_arg(s, h, b, &id))
		return;
	qmcp_msg_init(&m, h->type, QMCP_F_RESPONSE, h->req_id);
	/* the management thread is the only writer: no lock needed to read */
	for (unsigned int i = 0; i < meas_count(); i++) {
		struct meas *x = meas_at(i);
		if (!one || meas_id(x) == id)
			put_meas(&m, x, one);
	}
	send_msg(s, &m);
}

static void do_subscribe(struct session *s, const struct qmcp_hdr *h, const uint8_t *b)
{
	uint32_t id;
	if (meas_arg(s, h, b, &id))
		return;
	struct qmcp_tlv t;
	uint8_t on = 1;
	if (qmcp_find(b, h->length, QMCP_T_ON, &t) == 1 && qmcp_tlv_u8(&t, &on) != 0) {
		send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM, "ON: one byte, 1 or 0, is accepted");
		return;
	}
	unsubscribe(s, id);
	for (unsigned int i = 0; i < s->nsubs;) /* measurements stopped since */
		if (!meas_find(s->subs[i]))
			s->subs[i] = s->subs[--s->nsubs];
		else
			i++;
	if (on)
		s->subs[s->nsubs++] = id; /* room: at most MEAS_MAX measurements exist */
	struct qmcp_msg m;
	qmcp_msg_init(&m, h->type, QMCP_F_RESPONSE, h->req_id);
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	send_msg(s, &m);
}

static void put_result(struct qmcp_msg *m, uint32_t id, uint64_t seq, uint64_t start_ns,
		       const char *json)
{
	qmcp_put_u32(m, QMCP_T_MEAS_ID, id);
	qmcp_put_u64(m, QMCP_T_SEQ, seq);
	qmcp_put_u64(m, QMCP_T_INTERVAL_START_NS, start_ns);
	qmcp_put_str(m, QMCP_T_RESULT_JSON, json);
}

struct results_ctx {
	struct qmcp_msg *m;
	const struct meas *meas;
	uint32_t id;
	uint32_t given;
};

static void add_result(uint64_t seq, const struct qp_interval_rec *rec, void *arg)
{
	struct results_ctx *c = arg;
	if (c->m->len > QMCP_MAX_BODY - 64 * 1024)
		return; /* the answer stays under 1 MiB; COUNT says how many came */
	char *text = meas_result_text(c->meas, seq, rec);
	if (!text)
		return; /* COUNT says it did not come */
	size_t nest = qmcp_nest_begin(c->m, QMCP_T_RESULT);
	put_result(c->m, c->id, seq, rec->start_ns, text);
	qmcp_nest_end(c->m, nest);
	free(text);
	c->given++;
}

static void do_results(struct session *s, const struct qmcp_hdr *h, const uint8_t *b)
{
	uint32_t id, last;
	if (meas_arg(s, h, b, &id) || u32_arg(s, h, b, QMCP_T_LAST, 1, 1, MEAS_KEEP, &last))
		return;
	struct qmcp_msg m;
	qmcp_msg_init(&m, h->type, QMCP_F_RESPONSE, h->req_id);
	struct results_ctx c = {&m, meas_find(id), id, 0};
	meas_foreach_result(meas_find(id), last, add_result, &c);
	qmcp_put_u32(&m, QMCP_T_COUNT, c.given);
	send_msg(s, &m);
}

static void do_flows(struct session *s, const struct qmcp_hdr *h, const uint8_t *b)
{
	uint32_t id, off, count;
	struct qmcp_tlv t;
	uint8_t sort = 0;
	if (meas_arg(s, h, b, &id) ||
	    u32_arg(s, h, b, QMCP_T_OFFSET, 0, 0, MEAS_FLOWS_DEPTH_MAX - 1, &off) ||
	    u32_arg(s, h, b, QMCP_T_COUNT, 100, 1, MEAS_FLOWS_PAGE_MAX, &count))
		return;
	if (off + count > MEAS_FLOWS_DEPTH_MAX)
		count = MEAS_FLOWS_DEPTH_MAX - off;
	if (qmcp_find(b, h->length, QMCP_T_SORT, &t) == 1 && (qmcp_tlv_u8(&t, &sort) || sort > 1)) {
		send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM, "SORT: 0 (bytes) or 1 (packets)");
		return;
	}
	uint64_t total = 0;
	meas_lock();
	json_t *a = meas_flows_json(meas_find(id), off, count, sort ? QP_SORT_PACKETS : QP_SORT_BYTES,
				    &total);
	meas_unlock();
	if (!a) {
		send_error(s, h->type, h->req_id, QMCP_E_INTERNAL, "out of memory for %u flows",
			   off + count);
		return;
	}
	char *text = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(10));
	struct qmcp_msg m;
	qmcp_msg_init(&m, h->type, QMCP_F_RESPONSE, h->req_id);
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	qmcp_put_u32(&m, QMCP_T_TOTAL, (uint32_t)(total > UINT32_MAX ? UINT32_MAX : total));
	qmcp_put_u32(&m, QMCP_T_OFFSET, off);
	qmcp_put_u32(&m, QMCP_T_COUNT, (uint32_t)json_array_size(a));
	qmcp_put_str(&m, QMCP_T_FLOWS_JSON, text ? text : "[]");
	free(text);
	json_decref(a);
	send_msg(s, &m);
}

/* CAPTURE: pcap results of a measurement, pushed to this session (capture.h). */
static void do_capture(struct session *s, const struct qmcp_hdr *h, const uint8_t *b)
{
	uint32_t id;
	if (meas_arg(s, h, b, &id))
		return;
	struct qmcp_tlv t;
	uint8_t on = 1;
	if (qmcp_find(b, h->length, QMCP_T_ON, &t) == 1 && (qmcp_tlv_u8(&t, &on) != 0 || on > 1)) {
		send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM, "ON: one byte, 1 or 0, is accepted");
		return;
	}
	struct qmcp_msg m;
	if (!on) {
		if (cap_stop(s->id, id) != 0) {
			send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM,
				   "this session captures no packets of measurement %u", id);
			return;
		}
		qmcp_msg_init(&m, h->type, QMCP_F_RESPONSE, h->req_id);
		qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
		send_msg(s, &m);
		return;
	}
	struct cap_req rq = {.rate_bps = QP_CAP_RATE_DEFAULT < cap_ceiling() ? QP_CAP_RATE_DEFAULT
									   : cap_ceiling()};
	/* the values' ranges are cap_start()'s to judge */
	if (u32_arg(s, h, b, QMCP_T_SNAPLEN, QP_CAP_SNAP_DEFAULT, 0, UINT32_MAX, &rq.snaplen) ||
	    u32_arg(s, h, b, QMCP_T_COUNT, 0, 0, UINT32_MAX, &rq.count) ||
	    u32_arg(s, h, b, QMCP_T_DURATION_MS, 0, 0, 86400000, &rq.duration_ms))
		return;
	if (qmcp_find(b, h->length, QMCP_T_RATE_BPS, &t) == 1 && qmcp_tlv_u64(&t, &rq.rate_bps) != 0) {
		send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM, "RATE_BPS: a u64 is accepted");
		return;
	}
	if (qmcp_find(b, h->length, QMCP_T_FILTER, &t) == 1 &&
	    qmcp_tlv_str(&t, rq.filter, sizeof(rq.filter)) != 0) {
		send_error(s, h->type, h->req_id, QMCP_E_BAD_PARAM,
			   "FILTER: a string of at most %zu bytes is accepted", sizeof(rq.filter) - 1);
		return;
	}
	char why[400];
	int e = cap_start(s->id, h->req_id, id, &rq, why, sizeof(why));
	if (e) {
		send_error(s, h->type, h->req_id, (uint16_t)e, "%s", why);
		return;
	}
	fprintf(stderr, "qprobe: qmcp: %s captures measurement %u (snaplen %u, %llu bit/s)\n", s->peer,
		id, rq.snaplen, (unsigned long long)rq.rate_bps);
	qmcp_msg_init(&m, h->type, QMCP_F_RESPONSE, h->req_id);
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	qmcp_put_u32(&m, QMCP_T_SNAPLEN, rq.snaplen);
	qmcp_put_u64(&m, QMCP_T_RATE_BPS, rq.rate_bps);
	send_msg(s, &m);
}

static void handle(struct session *s, const struct qmcp_hdr *h, const uint8_t *b)
{
	ctl_cnt.frames_in++;
	if (h->flags & QMCP_F_RESPONSE)
		return; /* the probe asks controllers nothing: stray answers are dropped */
	if (qmcp_body_check(b, h->length) != 0) {
		send_error(s, h->type, h->req_id, QMCP_E_MALFORMED,
			   "the body of %s is not a well-formed TLV sequence (type u16, length u32, "
			   "value)", qmcp_msg_name(h->type));
		return;
	}
	if (h->type == QMCP_MSG_HELLO) {
		do_hello(s, h, b);
		return;
	}
	if (h->type == QMCP_MSG_BYE) {
		struct qmcp_msg m;
		qmcp_msg_init(&m, h->type, QMCP_F_RESPONSE, h->req_id);
		send_msg(s, &m);
		s->closing = 1;
		return;
	}
	if (!s->hello) {
		send_error(s, h->type, h->req_id, QMCP_E_AUTH_REQUIRED, "send HELLO first");
		return;
	}
	if (h->type == QMCP_MSG_AUTH) {
		do_auth(s, h, b);
		return;
	}
	if (!s->authed) {
		send_error(s, h->type, h->req_id, QMCP_E_AUTH_REQUIRED,
			   "this probe requires AUTH (HMAC-SHA256 of the HELLO nonce with the shared "
			   "secret) before %s", qmcp_msg_name(h->type));
		return;
	}
	switch (h->type) {
	case QMCP_MSG_INFO: do_info(s, h); break;
	case QMCP_MSG_START: do_start(s, h, b); break;
	case QMCP_MSG_STOP: do_stop(s, h, b); break;
	case QMCP_MSG_LIST: do_list(s, h, b, 0); break;
	case QMCP_MSG_STATUS: do_list(s, h, b, 1); break;
	case QMCP_MSG_SUBSCRIBE: do_subscribe(s, h, b); break;
	case QMCP_MSG_RESULTS: do_results(s, h, b); break;
	case QMCP_MSG_FLOWS: do_flows(s, h, b); break;
	case QMCP_MSG_CAPTURE: do_capture(s, h, b); break;
	default:
		send_error(s, h->type, h->req_id, QMCP_E_UNKNOWN_TYPE,
			   "message type %u (%s) is not served by this probe (QMCP version %d)",
			   h->type, qmcp_msg_name(h->type), QMCP_VERSION);
	}
}

/*
 * The client's first byte: a TLS handshake (0x16) or QMCP ('Q'). 1 when the
 * session can go on, 0 to wait, -1 when it was refused.
 */
static int sniff(struct session *s)
{
	int t = qmcp_io_sniff(s->fd);
	if (t == -EAGAIN)
		return 0;
	if (t < 0) {
		s->closing = 2;
		return -1;
	}
	if (t == 1 && !C.cfg.tls) {
		/* it cannot read a QMCP error: the close and the log say it */
		ctl_cnt.sessions_refused_transport++;
		log_refusal("%s: refused, TLS asked of a probe without --tls-cert", s->peer);
		s->closing = 2;
		return -1;
	}
	if (t == 0 && C.cfg.tls_only) {
		ctl_cnt.sessions_refused_transport++;
		log_refusal("%s: refused, plain QMCP to a probe that takes TLS only", s->peer);
		send_error(s, QMCP_MSG_HELLO, 0, QMCP_E_DENIED,
			   "this probe takes QMCP over TLS only (qmctl --tls, tls:// destinations)");
		s->closing = 1;
		return -1;
	}
	if (t == 1) {
		if (qmcp_io_tls(&s->io, s->fd, C.cfg.tls, NULL) != 0) {
			s->closing = 2;
			return -1;
		}
		ctl_cnt.sessions_tls++;
	}
	s->sniffed = 1;
	return 1;
}

static void read_session(struct session *s)
{
	if (!s->sniffed && sniff(s) <= 0)
		return;
	for (int rounds = 0; rounds < 16 && !s->closing; rounds++) {
		long k = qmcp_rx_read_io(&s->rx, &s->io);
		if (k == -EPROTO) {
			log_refusal("%s: closed, %s", s->peer, s->io.err);
			s->closing = 2;
			return;
		}
		if (k == -EAGAIN)
			return;
		if (k <= 0) {
			s->closing = 2; /* closed, reset, or no memory for its frame */
			return;
		}
		struct qmcp_hdr h;
		const uint8_t *body;
		int r;
		while (!s->closing && (r = qmcp_rx_frame(&s->rx, &h, &body)) == 1)
			handle(s, &h, body);
		if (!s->closing && r < 0) {
			/* the stream cannot be followed past a bad header: say why, then close */
			ctl_cnt.frames_bad++;
			uint16_t code = r == -EMSGSIZE ? QMCP_E_TOO_BIG
					: r == -EPROTONOSUPPORT ? QMCP_E_VERSION : QMCP_E_MALFORMED;
			const char *why = r == -EMSGSIZE ? "a body over 1 MiB is refused"
					  : r == -EPROTONOSUPPORT ? "only QMCP version 1 is spoken here"
					  : "not a QMCP frame: the magic 'QM' is expected";
			log_refusal("%s: %s; closed", s->peer, why);
			send_error(s, r == -EPROTO ? 0 : h.type, r == -EPROTO ? 0 : h.req_id, code, "%s",
				   why);
			s->closing = 1;
		}
	}
}

/* ---- discovery ---- */

static void answer_locate(void)
{
	for (int rounds = 0; rounds < 64; rounds++) {
		uint8_t buf[2048];
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		ssize_t k = recvfrom(C.ufd, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &len);
		if (k < 0)
			return;
		struct qmcp_hdr h;
		struct qmcp_tlv nonce, mac;
		char peer[64];
		qp_sockaddr_str((struct sockaddr *)&ss, peer, sizeof(peer));
		if (qmcp_hdr_decode(buf, (size_t)k, &h) != 0 || h.type != QMCP_MSG_LOCATE ||
		    (h.flags & QMCP_F_RESPONSE) || h.length != (size_t)k - QMCP_HDR_LEN ||
		    qmcp_body_check(buf + QMCP_HDR_LEN, h.length) != 0 ||
		    qmcp_find(buf + QMCP_HDR_LEN, h.length, QMCP_T_NONCE, &nonce) != 1 ||
		    nonce.len != QMCP_NONCE_LEN) {
			ctl_cnt.locate_refused++;
			continue; /* not a locate request: no answer, no amplification */
		}
		if (!qp_acl_allows(C.cfg.acl, (struct sockaddr *)&ss)) {
			ctl_cnt.locate_refused++;
			log_refusal("%s: discovery not answered, not on the allow-list", peer);
			continue;
		}
		uint8_t msg[8 + QMCP_NONCE_LEN], want[QMCP_HMAC_LEN];
		if (C.cfg.secret) {
			/* the caller proves the secret over its nonce; the answer proves it back */
			memcpy(msg, "LOCATE", 6);
			memcpy(msg + 6, nonce.val, QMCP_NONCE_LEN);
			qmcp_hmac(C.cfg.secret, C.cfg.secret_len, msg, 6 + QMCP_NONCE_LEN, want);
			if (qmcp_find(buf + QMCP_HDR_LEN, h.length, QMCP_T_HMAC, &mac) != 1 ||
			    mac.len != QMCP_HMAC_LEN || !qmcp_hmac_equal(mac.val, want)) {
				ctl_cnt.locate_refused++;
				log_refusal("%s: discovery not answered, wrong or missing HMAC", peer);
				continue;
			}
		}
		struct qmcp_msg m;
		qmcp_msg_init(&m, QMCP_MSG_LOCATE, QMCP_F_RESPONSE, h.req_id);
		qmcp_put_str(&m, QMCP_T_PROBE_ID, C.cfg.probe_id);
		qmcp_put_str(&m, QMCP_T_PROBE_NAME, C.cfg.probe_name);
		qmcp_put_str(&m, QMCP_T_SW_VERSION, qp_version());
		qmcp_put_u16(&m, QMCP_T_QMCP_PORT, (uint16_t)C.cfg.port);
		qmcp_put_u8(&m, QMCP_T_AUTH_REQUIRED, C.cfg.secret != NULL);
		if (C.cfg.secret) {
			memcpy(msg, "LOCATED", 7);
			memcpy(msg + 7, nonce.val, QMCP_NONCE_LEN);
			qmcp_hmac(C.cfg.secret, C.cfg.secret_len, msg, 7 + QMCP_NONCE_LEN, want);
			qmcp_put_bytes(&m, QMCP_T_HMAC, want, QMCP_HMAC_LEN);
		}
		size_t n;
		const uint8_t *f = qmcp_msg_frame(&m, &n);
		if (f && sendto(C.ufd, f, n, 0, (struct sockaddr *)&ss, len) == (ssize_t)n)
			ctl_cnt.locate_answered++;
		qmcp_msg_free(&m);
	}
}

/* ---- the loop ---- */

void ctl_poll(int timeout_ms)
{
	if (C.lfd < 0) {
		struct timespec nap = {0, (long)timeout_ms * 1000000L};
		nanosleep(&nap, NULL);
		return;
	}
	struct pollfd pf[CTL_SESSIONS_MAX + 2];
	pf[0] = (struct pollfd){.fd = C.lfd, .events = POLLIN};
	pf[1] = (struct pollfd){.fd = C.ufd, .events = POLLIN};
	unsigned int n = C.n;
	for (unsigned int i = 0; i < n; i++) {
		struct session *s = C.s[i];
		pf[2 + i] = (struct pollfd){.fd = s->fd,
					    .events = qmcp_io_events(&s->io,
						    (short)((s->closing ? 0 : POLLIN) |
							    (s->txoff < s->txlen ? POLLOUT : 0)))};
		/* what TLS has decrypted already is not the socket's to signal */
		if (qmcp_io_pending(&s->io))
			timeout_ms = 0;
	}
	if (poll(pf, 2 + n, timeout_ms) < 0)
		return;
	uint64_t now = qp_clock_realtime_ns();
	for (unsigned int i = 0; i < n; i++) {
		struct session *s = C.s[i];
		if ((pf[2 + i].revents & (POLLIN | POLLOUT | POLLHUP | POLLERR)) || qmcp_io_pending(&s->io))
			read_session(s);
		if (s->txoff < s->txlen)
			flush_tx(s);
		else if (s->closing == 1)
			s->closing = 2;
		if (!s->authed && !s->closing && now - s->opened_ns > CTL_HELLO_TIMEOUT_NS) {
			ctl_cnt.sessions_timed_out++;
			log_refusal("%s: closed, no HELLO/AUTH within 10 s", s->peer);
			s->closing = 2;
		}
	}
	/* close from the end: close_session() moves the last session into the hole */
	for (unsigned int i = n; i-- > 0;)
		if (C.s[i]->closing == 2)
			close_session(i);
	if (pf[0].revents & POLLIN)
		accept_all();
	if (pf[1].revents & POLLIN)
		answer_locate();
}

void ctl_on_result(uint32_t id, uint64_t seq, uint64_t start_ns, const char *json)
{
	for (unsigned int i = 0; i < C.n; i++) {
		struct session *s = C.s[i];
		for (unsigned int k = 0; k < s->nsubs; k++) {
			if (s->subs[k] != id || s->closing)
				continue;
			struct qmcp_msg msg;
			qmcp_msg_init(&msg, QMCP_MSG_RESULT, 0, 0);
			qmcp_put_str(&msg, QMCP_T_PROBE_ID, C.cfg.probe_id);
			put_result(&msg, id, seq, start_ns, json);
			send_msg(s, &msg);
			flush_tx(s);
		}
	}
}

int ctl_push_frame(int session, const uint8_t *frame, size_t len)
{
	for (unsigned int i = 0; i < C.n; i++) {
		struct session *s = C.s[i];
		if (s->id != session)
			continue;
		if (s->closing)
			return -ENOTCONN;
		if (queue_bytes(s, frame, len) != 0)
			return -ENOBUFS;
		flush_tx(s);
		return 0;
	}
	return -ENOTCONN;
}

void ctl_stop(void)
{
	while (C.n) {
		struct session *s = C.s[C.n - 1];
		flush_tx(s);
		qmcp_io_close(&s->io);
		qmcp_rx_free(&s->rx);
		free(s->tx);
		free(s);
		C.s[--C.n] = NULL;
	}
	if (C.lfd >= 0)
		close(C.lfd);
	if (C.ufd >= 0)
		close(C.ufd);
	C.lfd = C.ufd = -1;
}

json_t *ctl_counters_json(void)
{
	json_t *o = json_object();
#define J_(n, h) json_object_set_new(o, #n, json_integer((json_int_t)__atomic_load_n(&ctl_cnt.n, __ATOMIC_RELAXED)));
	CTL_COUNTERS(J_)
#undef J_
	json_object_set_new(o, "sessions", json_integer(ctl_sessions()));
	return o;
}
