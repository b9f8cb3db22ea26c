/*
 * qp_ipfix: see qp_ipfix.h. A message is built in the encoder's buffer: a
 * 16-byte header written when it is emitted, then sets, each a 4-byte header
 * and its records. Templates are derived from QP_IPFIX_ELEMENTS by group.
 */
#include "qp_ipfix.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "qp_echo_dp.h"

enum elem {
#define X(N, pen, id, len, g, type, name, what) E_##N,
	QP_IPFIX_ELEMENTS(X)
#undef X
	E_COUNT
};

static const struct qp_ipfix_element elements[E_COUNT] = {
#define X(N, pen, id, len, g, type, name, what) {#N, pen, id, len, g, type, name, what},
	QP_IPFIX_ELEMENTS(X)
#undef X
};

const struct qp_ipfix_element *qp_ipfix_elements(size_t *n)
{
	*n = E_COUNT;
	return elements;
}

/* Elements sent once for each direction: qprobe's from RTT_N on. */
static int directional(enum elem x)
{
	return elements[x].pen == QP_IPFIX_PEN && elements[x].id >= QP_IPFIX_DIR_FIRST &&
	       elements[x].id < QP_IPFIX_DIR_END;
}

/* The template of a record: IP version, protocol class, two-point or not, DNS or not. */
static unsigned int template_of(const struct qp_flow_rec *r, int tp)
{
	unsigned int cls = r->key.proto == 6 ? 0 : r->key.proto == 17 ? 1
			 : (r->key.proto == 1 || r->key.proto == 58) ? 2 : 3;
	unsigned int app = r->has_dns ? 1 : r->has_quic ? 2 : r->has_tls ? 3 : 0;
	return (r->key.ipver == 6) + 2 * cls + 8 * (tp != 0) + 16 * app;
}

static uint16_t template_groups(unsigned int t)
{
	static const uint8_t cls[4] = {QP_IPFIX_G_TCP | QP_IPFIX_G_RTT, QP_IPFIX_G_RTP,
				       QP_IPFIX_G_RTT, 0};
	static const uint16_t app[4] = {0, QP_IPFIX_G_DNS, QP_IPFIX_G_QUIC, QP_IPFIX_G_TLS};
	return (uint16_t)(QP_IPFIX_G_BASE | (t & 1 ? QP_IPFIX_G_V6 : QP_IPFIX_G_V4) |
			  cls[(t >> 1) & 3] | (t & 8 ? QP_IPFIX_G_TP : 0) | app[(t >> 4) & 3]);
}

static int in_template(unsigned int t, enum elem x)
{
	return (elements[x].group & template_groups(t)) != 0;
}

/* A data record's length in template t. */
static size_t record_len(unsigned int t)
{
	size_t n = 0;
	for (int x = 0; x < E_COUNT; x++)
		if (in_template(t, (enum elem)x))
			n += elements[x].len * (directional((enum elem)x) ? 2u : 1u);
	return n;
}

/* Template t's record: id, field count, then each field specifier. */
static size_t template_len(unsigned int t)
{
	size_t n = 4;
	for (int x = 0; x < E_COUNT; x++)
		if (in_template(t, (enum elem)x))
			n += (elements[x].pen ? 8u : 4u) * (directional((enum elem)x) ? 2u : 1u);
	return n;
}

static uint8_t *put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

/* An unsigned value in len bytes (reduced-size encoding: the low bytes, saturated). */
static uint8_t *put_uint(uint8_t *p, uint64_t v, unsigned int len)
{
	if (len < 8 && v >> (len * 8))
		v = (1ULL << (len * 8)) - 1;
	for (unsigned int i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * (len - 1 - i)));
	return p + len;
}

static uint8_t *put_field_spec(uint8_t *p, enum elem x, int rev)
{
	const struct qp_ipfix_element *el = &elements[x];
	uint32_t id = el->id + (rev ? QP_IPFIX_REVERSE_OFFSET : 0);
	if (!el->pen)
		return put16(put16(p, id), el->len);
	p = put16(put16(p, 0x8000 | id), el->len);
	return put32(p, el->pen);
}

void qp_ipfix_enc_init(struct qp_ipfix_enc *e, enum qp_ipfix_transport t, uint32_t domain,
		       size_t max, qp_ipfix_emit_fn *emit, void *arg)
{
	memset(e, 0, offsetof(struct qp_ipfix_enc, buf));
	e->transport = t;
	e->domain = domain;
	e->max = max < 512 ? 512 : max > QP_IPFIX_MAX_MSG ? QP_IPFIX_MAX_MSG : max;
	e->emit = emit;
	e->arg = arg;
}

void qp_ipfix_enc_reset_templates(struct qp_ipfix_enc *e)
{
	memset(e->sent, 0, sizeof(e->sent));
}

static void close_set(struct qp_ipfix_enc *e)
{
	if (!e->set)
		return;
	put16(e->buf + e->set + 2, (uint32_t)(e->len - e->set));
	e->set = 0;
}

void qp_ipfix_enc_flush(struct qp_ipfix_enc *e)
{
	if (e->len <= 16)
		return;
	close_set(e);
	uint8_t *p = put16(e->buf, 10);
	p = put16(p, (uint32_t)e->len);
	p = put32(p, e->export_s);
	p = put32(p, e->seq);
	put32(p, e->domain);
	e->stats.messages++;
	e->stats.records += e->nrec;
	if (e->emit(e->buf, e->len, e->arg) != 0) {
		e->stats.failed++;
		e->stats.failed_records += e->nrec;
	}
	/* records lost on the way leave a gap in the sequence: the collector
	 * counts them as lost */
	e->seq += e->nrec;
	e->nrec = 0;
	e->len = 0;
}

/* Room for n more bytes (a set's header included when it opens one). */
static void room(struct qp_ipfix_enc *e, size_t n)
{
	if (e->len + n > e->max)
		qp_ipfix_enc_flush(e);
	if (e->len == 0)
		e->len = 16;
}

static void open_set(struct qp_ipfix_enc *e, uint16_t id)
{
	close_set(e);
	e->set = e->len;
	e->set_id = id;
	put16(e->buf + e->len, id);
	e->len += 4;
}

static void add_template(struct qp_ipfix_enc *e, unsigned int t, uint32_t now_s)
{
	size_t tl = template_len(t);
	room(e, 4 + tl + 4 + record_len(t));
	if (!e->set || e->set_id != 2)
		open_set(e, 2);
	uint8_t *p = e->buf + e->len;
	uint32_t nf = 0;
	for (int x = 0; x < E_COUNT; x++)
		if (in_template(t, (enum elem)x))
			nf += directional((enum elem)x) ? 2 : 1;
	p = put16(put16(p, 256 + t), nf);
	for (int x = 0; x < E_COUNT; x++) {
		if (!in_template(t, (enum elem)x))
			continue;
		p = put_field_spec(p, (enum elem)x, 0);
		if (directional((enum elem)x))
			p = put_field_spec(p, (enum elem)x, 1);
	}
	e->len += tl;
	e->sent[t] = 1;
	e->sent_s[t] = now_s;
	e->stats.templates++;
}

/* NTP format (RFC 7011 6.1.10): seconds since 1900 and a binary fraction,
 * rounded up so that a reader truncating back to ns gets the ns */
static uint64_t ntp_of(uint64_t ns)
{
	uint64_t s = ns / 1000000000u, f = ns % 1000000000u;
	return (s + 2208988800u) << 32 | (((f << 32) + 999999999u) / 1000000000u);
}

static uint64_t ns_of_ms(double ms)
{
	return ms > 0 ? (uint64_t)llround(ms * 1e6) : 0;
}

/* The RTT samples of direction d: TCP segments, or ICMP echo requests. */
static const struct qp_stat *rtt_of(const struct qp_flow_rec *r, int d)
{
	return r->key.proto == 6 ? &r->rtt[d] : &r->echo_rtt[d];
}

/* Direction d's first RTP stream, or NULL. */
static const struct qp_rtp_rec *rtp_of(const struct qp_flow_rec *r, int d)
{
	for (int k = 0; k < QP_FLOW_RTP; k++)
		if (r->rtp[k].valid && r->rtp[k].dir == d)
			return &r->rtp[k];
	return NULL;
}

static uint8_t *put_value(uint8_t *p, enum elem x, int d, const struct qp_flow_rec *r,
			  const struct qp_tp_dir *tp)
{
	unsigned int len = elements[x].len;
	int s = r->init_swapped, o = !s;
	const struct qp_stat *st = rtt_of(r, d);
	const struct qp_rtp_rec *rtp = rtp_of(r, d);
	uint64_t v = 0;
	switch (x) {
	case E_SRC4:
	case E_SRC6:
		memcpy(p, r->key.addr[s], len);
		return p + len;
	case E_DST4:
	case E_DST6:
		memcpy(p, r->key.addr[o], len);
		return p + len;
	case E_SPORT: v = r->key.port[s]; break;
	case E_DPORT: v = r->key.port[o]; break;
	case E_PROTO: v = r->key.proto; break;
	case E_VLAN: v = r->vlan; break;
	case E_SEGMENT:
		if (r->key.ctx & QP_KEY_CTX_VNI)
			v = 1ULL << 56 | qp_flow_key_vni(&r->key);
		break;
	case E_TUNNEL:
		if (r->key.ctx & (QP_KEY_CTX_GRE_KEY | QP_KEY_CTX_TEID))
			v = r->key.tunnel_id;
		break;
	case E_START_MS: v = r->first_ns / 1000000; break;
	case E_END_MS: v = r->last_ns / 1000000; break;
	case E_START_NS: v = ntp_of(r->first_ns); break;
	case E_END_NS: v = ntp_of(r->last_ns); break;
	case E_END_REASON:
		v = r->end == QP_FLOW_END_IDLE	   ? 1
		    : r->end == QP_FLOW_END_ACTIVE  ? 2
		    : r->end == QP_FLOW_END_EVICTED ? 5
						    : 4;
		break;
	case E_BIFLOW_DIR: v = 1; break;
	case E_OCTETS: v = r->bytes[0]; break;
	case E_PACKETS: v = r->pkts[0]; break;
	case E_R_OCTETS: v = r->bytes[1]; break;
	case E_R_PACKETS: v = r->pkts[1]; break;
	case E_TCP_FLAGS: v = r->tcp_flags[0]; break;
	case E_R_TCP_FLAGS: v = r->tcp_flags[1]; break;
	case E_SYNS: v = r->syns[0]; break;
	case E_FINS: v = r->fins[0]; break;
	case E_RSTS: v = r->resets[0]; break;
	case E_R_SYNS: v = r->syns[1]; break;
	case E_R_FINS: v = r->fins[1]; break;
	case E_R_RSTS: v = r->resets[1]; break;
	case E_HS_SYN: v = r->hs_rtt_ns > 0 ? (uint64_t)r->hs_rtt_ns : 0; break;
	case E_HS_ACK: v = r->hs_ack_rtt_ns > 0 ? (uint64_t)r->hs_ack_rtt_ns : 0; break;
	case E_RTT_N: v = st->n; break;
	case E_RTT_MIN: v = st->n ? st->min : 0; break;
	case E_RTT_MEAN: v = st->n ? (st->sum + st->n / 2) / st->n : 0; break; /* to the nearest ns */
	case E_RTT_MAX: v = st->n ? st->max : 0; break;
	case E_RTT_P50: v = r->rtt_pct && r->key.proto == 6 ? ns_of_ms(r->rtt_p50[d]) : 0; break;
	case E_RTT_P99: v = r->rtt_pct && r->key.proto == 6 ? ns_of_ms(r->rtt_p99[d]) : 0; break;
	case E_RETRANS: v = r->retrans[d]; break;
	case E_OOO: v = r->ooo[d]; break;
	case E_DUPACK: v = r->dup_acks[d]; break;
	case E_ZEROWIN: v = r->zero_win[d]; break;
	case E_RTP_SSRC: v = rtp ? rtp->ssrc : 0; break;
	case E_RTP_PT: v = rtp ? rtp->pt : 0; break;
	case E_RTP_PKTS: v = rtp ? rtp->packets : 0; break;
	case E_RTP_EXP: v = rtp ? rtp->expected : 0; break;
	case E_RTP_LOST: v = rtp ? rtp->lost : 0; break;
	case E_RTP_JMEAN: v = rtp ? ns_of_ms(rtp->jitter_mean_ms) : 0; break;
	case E_RTP_JMAX: v = rtp ? ns_of_ms(rtp->jitter_max_ms) : 0; break;
	case E_RTP_MOS: v = rtp && rtp->mos > 0 ? (uint64_t)llround(rtp->mos * 100) : 0; break;
	case E_TP_MATCHED: v = tp ? tp[d].matched : 0; break;
	case E_TP_LOST: v = tp ? tp[d].lost : 0; break;
	case E_TP_DMIN: v = tp && tp[d].matched ? (uint64_t)tp[d].owd_min : 0; break;
	case E_TP_DMEAN:
		v = tp && tp[d].matched ? (uint64_t)llround((double)tp[d].owd_sum / (double)tp[d].matched) : 0;
		break;
	case E_TP_DMAX: v = tp && tp[d].matched ? (uint64_t)tp[d].owd_max : 0; break;
	case E_DNS_Q: v = r->dns.queries; break;
	case E_DNS_R: v = r->dns.responses; break;
	case E_DNS_ANS: v = r->dns.answered; break;
	case E_DNS_UNANS: v = r->dns.unanswered; break;
	case E_DNS_RETX: v = r->dns.retransmitted; break;
	case E_DNS_TRUNC: v = r->dns.truncated; break;
	case E_DNS_NXD: v = r->dns.rcodes[3]; break;
	case E_DNS_SERVFAIL: v = r->dns.rcodes[2]; break;
	case E_DNS_RT_MIN: v = r->dns_rt.n ? r->dns_rt.min : 0; break;
	case E_DNS_RT_MEAN:
		v = r->dns_rt.n ? (r->dns_rt.sum + r->dns_rt.n / 2) / r->dns_rt.n : 0;
		break;
	case E_DNS_RT_MAX: v = r->dns_rt.n ? r->dns_rt.max : 0; break;
	case E_DNS_RT_P50: v = r->dns_pct ? ns_of_ms(r->dns_p50) : 0; break;
	case E_DNS_RT_P99: v = r->dns_pct ? ns_of_ms(r->dns_p99) : 0; break;
	case E_QUIC_VERSION: v = r->quic.nversions ? r->quic.versions[r->quic.nversions - 1] : 0; break;
	case E_QUIC_HS_SRV: v = r->quic.hs_ns > 0 ? (uint64_t)r->quic.hs_ns : 0; break;
	case E_QUIC_HS_CLI: v = r->quic.hs_ack_ns > 0 ? (uint64_t)r->quic.hs_ack_ns : 0; break;
	case E_QUIC_SPIN: v = (uint64_t)qp_quic_spin_active(&r->quic); break;
	case E_QUIC_EDGES_KEPT: v = r->quic.edges_kept; break;
	case E_QUIC_EDGES_DISC: v = r->quic.edges_discarded; break;
	case E_QUIC_RTT_N: v = r->quic.rtt[d].n; break;
	case E_QUIC_RTT_MIN: v = r->quic.rtt[d].n ? r->quic.rtt[d].min : 0; break;
	case E_QUIC_RTT_MEAN:
		v = r->quic.rtt[d].n ? (r->quic.rtt[d].sum + r->quic.rtt[d].n / 2) / r->quic.rtt[d].n : 0;
		break;
	case E_QUIC_RTT_MAX: v = r->quic.rtt[d].n ? r->quic.rtt[d].max : 0; break;
	case E_TLS_VERSION: v = r->tls.version; break;
	case E_TLS_CLIENT_VERSION: v = r->tls.client_version; break;
	case E_TLS_HELLO:
		v = (r->tls.st & (QP_TLS_ST_CH_DONE | QP_TLS_ST_SH_DONE)) ==
				    (QP_TLS_ST_CH_DONE | QP_TLS_ST_SH_DONE) &&
			    r->tls.sh_ns >= r->tls.ch_ns
			    ? r->tls.sh_ns - r->tls.ch_ns
			    : 0;
		break;
	case E_TLS_DATA:
		v = (r->tls.st & QP_TLS_ST_DATA) && r->tls.data_ns >= r->tls.sh_ns
			    ? r->tls.data_ns - r->tls.sh_ns
			    : 0;
		break;
	case E_COUNT: break;
	}
	/* signed values are written whole (8 bytes): two's complement */
	return put_uint(p, v, len);
}

void qp_ipfix_enc_add(struct qp_ipfix_enc *e, const struct qp_flow_rec *r,
		      const struct qp_tp_dir *tp, uint32_t now_s)
{
	unsigned int t = template_of(r, tp != NULL);
	if (!e->sent[t] || (e->transport == QP_IPFIX_UDP && now_s - e->sent_s[t] >= QP_IPFIX_REFRESH_S))
		add_template(e, t, now_s);
	size_t rl = record_len(t);
	int open = e->set && e->set_id == 256 + t;
	room(e, rl + (open ? 0 : 4));
	if (!e->set || e->set_id != 256 + t)
		open_set(e, (uint16_t)(256 + t));
	uint8_t *p = e->buf + e->len;
	for (int x = 0; x < E_COUNT; x++) {
		if (!in_template(t, (enum elem)x))
			continue;
		p = put_value(p, (enum elem)x, 0, r, tp);
		if (directional((enum elem)x))
			p = put_value(p, (enum elem)x, 1, r, tp);
	}
	e->len += rl;
	e->nrec++;
	e->export_s = now_s;
	e->used[t] = 1;
}

void qp_ipfix_enc_templates(struct qp_ipfix_enc *e, uint32_t now_s)
{
	qp_ipfix_enc_flush(e);
	e->export_s = now_s;
	for (unsigned int t = 0; t < QP_IPFIX_TEMPLATES; t++)
		if (e->used[t])
			add_template(e, t, now_s);
	qp_ipfix_enc_flush(e);
}

/* Outputs */

struct qp_ipfix_out {
	enum qp_ipfix_transport t;
	int fd;
	int err; /* a write or send failed */
	uint32_t pps;      /* UDP: messages a second at most */
	uint64_t next_ns;  /* UDP: when the next message may go */
	struct qp_ipfix_enc enc;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* UDP has no flow control: messages go out evenly, pps a second, so that a
 * burst (a run's records at its end) does not overrun the collector's socket */
static void pace(struct qp_ipfix_out *o)
{
	uint64_t now = mono_ns();
	if (o->next_ns > now) {
		uint64_t d = o->next_ns - now;
		struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		now = o->next_ns;
	}
	o->next_ns = now + 1000000000u / o->pps;
}

static int write_all(int fd, const uint8_t *b, size_t n, int sock)
{
	while (n) {
		/* a collector gone: EPIPE, not SIGPIPE */
		ssize_t w = sock ? send(fd, b, n, MSG_NOSIGNAL) : write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int out_emit(const uint8_t *msg, size_t len, void *arg)
{
	struct qp_ipfix_out *o = arg;
	int rc;
	if (o->t == QP_IPFIX_UDP) {
		pace(o);
		rc = send(o->fd, msg, len, MSG_DONTWAIT) == (ssize_t)len ? 0 : -1;
	}
	else
		rc = write_all(o->fd, msg, len, o->t == QP_IPFIX_TCP);
	/* UDP: a message the collector did not take is counted, not an error */
	if (rc && o->t != QP_IPFIX_UDP)
		o->err = 1;
	return rc;
}

int qp_ipfix_spec_parse(const char *spec, char *host, size_t hostlen, uint16_t *port,
			enum qp_ipfix_transport *t, char *err, size_t errlen)
{
	char buf[300];
	if (!spec || strlen(spec) >= sizeof(buf) || !spec[0]) {
		snprintf(err, errlen, "IPFIX collector '%.64s': expected %s", spec ? spec : "",
			 QP_IPFIX_SYNTAX);
		return -EINVAL;
	}
	strcpy(buf, spec);
	*t = QP_IPFIX_UDP;
	char *slash = strrchr(buf, '/');
	if (slash) {
		if (!strcmp(slash + 1, "udp"))
			*t = QP_IPFIX_UDP;
		else if (!strcmp(slash + 1, "tcp"))
			*t = QP_IPFIX_TCP;
		else {
			snprintf(err, errlen,
				 "IPFIX collector '%s': transport '%s' is not known (udp or tcp; SCTP "
				 "is not supported)",
				 spec, slash + 1);
			return -EINVAL;
		}
		*slash = 0;
	}
	char *h = buf, *colon;
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		if (!close || close[1] != ':') {
			snprintf(err, errlen, "IPFIX collector '%s': expected %s", spec, QP_IPFIX_SYNTAX);
			return -EINVAL;
		}
		*close = 0;
		h = buf + 1;
		colon = close + 1;
	} else {
		colon = strrchr(buf, ':');
		if (colon && strchr(buf, ':') != colon) {
			snprintf(err, errlen,
				 "IPFIX collector '%s': an IPv6 address goes in brackets: [ADDR]:PORT",
				 spec);
			return -EINVAL;
		}
	}
	if (!colon || colon == buf || !*h) {
		snprintf(err, errlen, "IPFIX collector '%s': expected %s", spec, QP_IPFIX_SYNTAX);
		return -EINVAL;
	}
	*colon = 0;
	char *end;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p < 1 || p > 65535) {
		snprintf(err, errlen, "IPFIX collector '%s': port '%s' is not 1..65535", spec,
			 colon + 1);
		return -EINVAL;
	}
	if (strlen(h) >= hostlen) {
		snprintf(err, errlen, "IPFIX collector '%s': host name too long", spec);
		return -EINVAL;
	}
	strcpy(host, h);
	*port = (uint16_t)p;
	return 0;
}

int qp_ipfix_resolve(const char *spec, struct sockaddr_storage *sa, unsigned int *salen,
		     enum qp_ipfix_transport *t, size_t *max, char *err, size_t errlen)
{
	char host[256], ps[8];
	uint16_t port;
	if (qp_ipfix_spec_parse(spec, host, sizeof(host), &port, t, err, errlen))
		return -EINVAL;
	snprintf(ps, sizeof(ps), "%u", port);
	struct addrinfo hints = {0}, *ai = NULL;
	hints.ai_socktype = *t == QP_IPFIX_TCP ? SOCK_STREAM : SOCK_DGRAM;
	int g = getaddrinfo(host, ps, &hints, &ai);
	if (g || !ai || ai->ai_addrlen > sizeof(*sa)) {
		snprintf(err, errlen, "IPFIX collector '%s': cannot resolve '%s': %s", spec, host,
			 g ? gai_strerror(g) : "no address");
		if (ai)
			freeaddrinfo(ai);
		return -EINVAL;
	}
	memcpy(sa, ai->ai_addr, ai->ai_addrlen);
	*salen = (unsigned int)ai->ai_addrlen;
	/* UDP: one MTU of 1500 less the IP and UDP headers */
	*max = *t != QP_IPFIX_UDP ? QP_IPFIX_MAX_MSG : ai->ai_family == AF_INET6 ? 1500 - 48 : 1500 - 28;
	freeaddrinfo(ai);
	return 0;
}

/* A TCP connect that gives up after timeout_ms. */
static int connect_timeout(int fd, const struct sockaddr *a, socklen_t alen, int timeout_ms)
{
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	int rc = connect(fd, a, alen);
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		rc = poll(&pf, 1, timeout_ms);
		if (rc == 0) {
			errno = ETIMEDOUT;
			rc = -1;
		} else if (rc > 0) {
			int e = 0;
			socklen_t el = sizeof(e);
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
			errno = e;
			rc = e ? -1 : 0;
		}
	}
	fcntl(fd, F_SETFL, fl);
	return rc;
}

struct qp_ipfix_out *qp_ipfix_out_open(const char *spec, const char *path, uint32_t domain,
				       char *err, size_t errlen)
{
	struct qp_ipfix_out *o = calloc(1, sizeof(*o));
	if (!o) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	o->fd = -1;
	o->pps = QP_IPFIX_UDP_PPS;
	size_t max = QP_IPFIX_MAX_MSG;
	if (path) {
		o->t = QP_IPFIX_FILE;
		/* MTU-sized like UDP's: a file replays to a UDP collector as it is */
		max = 1500 - 28;
		o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (o->fd < 0) {
			snprintf(err, errlen, "cannot write the IPFIX file %s: %s", path, strerror(errno));
			free(o);
			return NULL;
		}
	} else {
		struct sockaddr_storage sa;
		unsigned int salen;
		if (qp_ipfix_resolve(spec, &sa, &salen, &o->t, &max, err, errlen)) {
			free(o);
			return NULL;
		}
		o->fd = socket(sa.ss_family, (o->t == QP_IPFIX_TCP ? SOCK_STREAM : SOCK_DGRAM) |
						   SOCK_CLOEXEC, 0);
		int rc = o->fd < 0 ? -1
				   : o->t == QP_IPFIX_TCP
					     ? connect_timeout(o->fd, (struct sockaddr *)&sa, salen, 5000)
					     : connect(o->fd, (struct sockaddr *)&sa, salen);
		if (rc < 0) {
			snprintf(err, errlen, "IPFIX collector '%s': cannot connect: %s", spec,
				 strerror(errno));
			if (o->fd >= 0)
				close(o->fd);
			free(o);
			return NULL;
		}
	}
	qp_ipfix_enc_init(&o->enc, o->t, domain, max, out_emit, o);
	return o;
}

struct qp_ipfix_enc *qp_ipfix_out_enc(struct qp_ipfix_out *o)
{
	return &o->enc;
}

int qp_ipfix_out_close(struct qp_ipfix_out *o)
{
	if (!o)
		return 0;
	qp_ipfix_enc_flush(&o->enc);
	int rc = o->err ? -EIO : 0;
	if (o->t == QP_IPFIX_FILE && close(o->fd) != 0)
		rc = -EIO;
	else if (o->t != QP_IPFIX_FILE)
		close(o->fd);
	free(o);
	return rc;
}
