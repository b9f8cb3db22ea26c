/*
 * qp_ipfix: the messages a collector receives, decoded here by their own
 * templates (RFC 7011): header fields, template sets, every value of a
 * record, message bounds, sequence numbers and template refresh; and
 * docs/ipfix.md lists every element as the encoder sends it.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gen/qp_ipfix_rd.h"
#include "qp_ipfix.h"

#define MAXMSG 64

struct sink {
	int n;
	size_t len[MAXMSG];
	uint8_t msg[MAXMSG][QP_IPFIX_MAX_MSG];
	int refuse;
};

static int emit(const uint8_t *m, size_t len, void *arg)
{
	struct sink *s = arg;
	cr_assert_lt(s->n, MAXMSG);
	memcpy(s->msg[s->n], m, len);
	s->len[s->n++] = len;
	return s->refuse;
}

/* An encoder into sink s (emptied), and the reader v to decode it with (emptied). */
static struct qp_ipfix_enc *fresh(struct sink *s, struct ipfix_rd *v, enum qp_ipfix_transport tr,
				  uint32_t domain, size_t max)
{
	memset(s, 0, sizeof(*s));
	ipfix_rd_free(v);
	ipfix_rd_init(v);
	struct qp_ipfix_enc *e = malloc(sizeof(*e));
	cr_assert_not_null(e);
	qp_ipfix_enc_init(e, tr, domain, max, emit, s);
	return e;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A collector's view of what the encoder emitted, message by message. */
static void decode(struct ipfix_rd *v, const struct sink *s)
{
	for (int m = 0; m < s->n; m++)
		cr_assert_eq(ipfix_rd_msg(v, s->msg[m], s->len[m]), 0, "%s", v->err);
}

static int has(const struct ipfix_rd_rec *r, uint32_t pen, uint16_t id)
{
	return ipfix_rd_has(r, pen, id);
}

static uint64_t val(const struct ipfix_rd_rec *r, uint32_t pen, uint16_t id)
{
	cr_assert(ipfix_rd_has(r, pen, id), "element %u/%u missing from template %u", pen, id,
		  r->tid);
	return ipfix_rd_val(r, pen, id);
}

static const uint8_t *raw(const struct ipfix_rd_rec *r, uint32_t pen, uint16_t id)
{
	const uint8_t *p = ipfix_rd_raw(r, pen, id);
	cr_assert_not_null(p, "element %u/%u missing", pen, id);
	return p;
}

/* An NTP timestamp as a reader truncating to ns reads it. */
static uint64_t ntp_ns(uint64_t v)
{
	return ((v >> 32) - 2208988800u) * 1000000000u + (((v & 0xffffffffu) * 1000000000u) >> 32);
}

#define Q QP_IPFIX_PEN
#define R QP_IPFIX_REVERSE_PEN

/* A TCP flow 198.51.100.7:443 <- 192.0.2.1:40000 whose initiator is key endpoint 1. */
static void tcp_rec(struct qp_flow_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->key.ipver = 4;
	r->key.proto = 6;
	uint8_t a[4] = {198, 51, 100, 7}, b[4] = {192, 0, 2, 1};
	memcpy(r->key.addr[0], a, 4);
	memcpy(r->key.addr[1], b, 4);
	r->key.port[0] = 443;
	r->key.port[1] = 40000;
	r->init_swapped = 1;
	r->vlan = 12;
	r->end = QP_FLOW_END_IDLE;
	r->first_ns = 1700000000123456789ULL;
	r->last_ns = 1700000002000000001ULL;
	r->pkts[0] = 10;
	r->pkts[1] = 8;
	r->bytes[0] = 1260;
	r->bytes[1] = 8832;
	r->hs_rtt_ns = 24350000;
	r->hs_ack_rtt_ns = -1;
	r->tcp_flags[0] = 0x1b;
	r->tcp_flags[1] = 0x12;
	r->syns[0] = 2;
	r->fins[0] = 1;
	r->resets[1] = 3;
	r->retrans[0] = 4;
	r->ooo[1] = 5;
	r->dup_acks[0] = 6;
	r->zero_win[1] = 7;
	r->rtt[0] = (struct qp_stat){.n = 4, .sum = 100000000, .min = 20000000, .max = 30000000};
	r->rtt[1] = (struct qp_stat){.n = 2, .sum = 3000, .min = 1000, .max = 2000};
	r->rtt_pct = 1;
	r->rtt_p50[0] = 24.35;
	r->rtt_p99[0] = 29.9;
	r->rtt_p50[1] = 0.001;
	r->rtt_p99[1] = 0.002;
}

Test(ipfix, a_tcp_record_reads_back_with_every_value)
{
	static struct sink s;
	static struct ipfix_rd v;
	struct qp_ipfix_enc *e = fresh(&s, &v, QP_IPFIX_TCP, 77, 65535);
	struct qp_flow_rec r;
	tcp_rec(&r);
	qp_ipfix_enc_add(e, &r, NULL, 1700000002);
	cr_assert_eq(s.n, 0, "nothing sent before the message fills or is flushed");
	qp_ipfix_enc_flush(e);
	cr_assert_eq(s.n, 1);
	const uint8_t *m = s.msg[0];
	cr_assert_eq(rd32(m + 4), 1700000002, "export time");
	cr_assert_eq(rd32(m + 8), 0, "sequence: no record before");
	cr_assert_eq(rd32(m + 12), 77, "observation domain");
	decode(&v, &s);
	cr_assert_eq(v.ntemplates, 1);
	cr_assert_eq(v.nrec, 1);
	const struct ipfix_rd_rec *x = &v.r[0];
	cr_assert_eq(x->tid, 256, "IPv4, TCP, no two-point");
	cr_assert_eq(x->nf, 48, "28 flow elements and 10 for each direction");
	/* the initiator is the source */
	cr_assert_eq(val(x, 0, 8), 0xc0000201u);
	cr_assert_eq(val(x, 0, 12), 0xc6336407u);
	cr_assert_eq(val(x, 0, 7), 40000);
	cr_assert_eq(val(x, 0, 11), 443);
	cr_assert_eq(val(x, 0, 4), 6);
	cr_assert_eq(val(x, 0, 58), 12);
	cr_assert_eq(val(x, 0, 152), 1700000000123ULL);
	cr_assert_eq(val(x, 0, 153), 1700000002000ULL);
	cr_assert_eq(ntp_ns(val(x, 0, 156)), 1700000000123456789ULL, "exact to the ns");
	cr_assert_eq(ntp_ns(val(x, 0, 157)), 1700000002000000001ULL);
	cr_assert_eq(val(x, 0, 136), 1, "idle timeout");
	cr_assert_eq(val(x, 0, 239), 1);
	cr_assert_eq(val(x, 0, 1), 1260);
	cr_assert_eq(val(x, 0, 2), 10);
	cr_assert_eq(val(x, R, 1), 8832);
	cr_assert_eq(val(x, R, 2), 8);
	cr_assert_eq(val(x, 0, 6), 0x1b);
	cr_assert_eq(val(x, R, 6), 0x12);
	cr_assert_eq(val(x, 0, 218), 2);
	cr_assert_eq(val(x, 0, 219), 1);
	cr_assert_eq(val(x, 0, 220), 0);
	cr_assert_eq(val(x, R, 220), 3);
	cr_assert_eq(val(x, Q, 1001), 24350000);
	cr_assert_eq(val(x, Q, 1002), 0, "not measured");
	cr_assert_eq(val(x, Q, 1010), 4);
	cr_assert_eq(val(x, Q, 1011), 20000000);
	cr_assert_eq(val(x, Q, 1012), 25000000);
	cr_assert_eq(val(x, Q, 1013), 30000000);
	cr_assert_eq(val(x, Q, 1014), 24350000);
	cr_assert_eq(val(x, Q, 1015), 29900000);
	cr_assert_eq(val(x, Q, 1110), 2);
	cr_assert_eq(val(x, Q, 1112), 1500);
	cr_assert_eq(val(x, Q, 1114), 1000);
	cr_assert_eq(val(x, Q, 1115), 2000);
	cr_assert_eq(val(x, Q, 1016), 4);
	cr_assert_eq(val(x, Q, 1117), 5);
	cr_assert_eq(val(x, Q, 1018), 6);
	cr_assert_eq(val(x, Q, 1119), 7);
	cr_assert_not(has(x, Q, 1020), "no RTP in a TCP record");
	cr_assert_not(has(x, Q, 1028), "no two-point figures without two-point");
	cr_assert_eq(e->stats.records, 1);
	free(e);
}

Test(ipfix, udp_icmp_ipv6_and_two_point_records_take_their_own_templates)
{
	static struct sink s;
	static struct ipfix_rd v;
	struct qp_ipfix_enc *e = fresh(&s, &v, QP_IPFIX_FILE, 1, 65535);
	struct qp_flow_rec u;
	memset(&u, 0, sizeof(u));
	u.key.ipver = 6;
	u.key.proto = 17;
	u.key.addr[0][0] = 0x20;
	u.key.addr[1][15] = 9;
	u.key.port[0] = 16384;
	u.key.port[1] = 16386;
	u.key.ctx = QP_KEY_CTX_VNI;
	u.key.vni[2] = 0x2a;
	u.end = QP_FLOW_END_EVICTED;
	u.pkts[0] = 50;
	u.rtp[1] = (struct qp_rtp_rec){.valid = 1, .dir = 1, .pt = 0, .ssrc = 0x1234, .packets = 48,
				       .expected = 50, .lost = 2, .jitter_mean_ms = 0.8367,
				       .jitter_max_ms = 2.5, .mos = 4.09};
	struct qp_flow_rec i;
	memset(&i, 0, sizeof(i));
	i.key.ipver = 4;
	i.key.proto = 1;
	i.end = QP_FLOW_END_FLUSH;
	i.echo_rtt[0] = (struct qp_stat){.n = 5, .sum = 75000000, .min = 14000000, .max = 16000000};
	struct qp_tp_dir tp[2];
	memset(tp, 0, sizeof(tp));
	tp[0].matched = 99;
	tp[0].lost = 1;
	tp[0].owd_min = -2000;
	tp[0].owd_max = 8000;
	tp[0].owd_sum = 99 * 5000;
	qp_ipfix_enc_add(e, &u, NULL, 10);
	qp_ipfix_enc_add(e, &i, NULL, 10);
	qp_ipfix_enc_add(e, &i, tp, 10);
	qp_ipfix_enc_add(e, &u, NULL, 200);
	qp_ipfix_enc_flush(e);
	decode(&v, &s);
	cr_assert_eq(v.ntemplates, 3, "a file takes each template once");
	cr_assert_eq(v.nrec, 4);
	const struct ipfix_rd_rec *x = &v.r[0];
	cr_assert_eq(x->tid, 256 + 1 + 2, "IPv6, UDP");
	cr_assert_eq(raw(x, 0, 27)[0], 0x20);
	cr_assert_eq(raw(x, 0, 28)[15], 9);
	cr_assert_eq(val(x, 0, 351), 0x0100000000000000ULL | 42, "VXLAN, VNI 42");
	cr_assert_eq(val(x, 0, 136), 5, "evicted: lack of resources");
	cr_assert_not(has(x, 0, 6), "no TCP flags in a UDP record");
	cr_assert_eq(val(x, Q, 1020), 0, "no stream from the initiator");
	cr_assert_eq(val(x, Q, 1120), 0x1234);
	cr_assert_eq(val(x, Q, 1122), 48);
	cr_assert_eq(val(x, Q, 1123), 50);
	cr_assert_eq(val(x, Q, 1124), 2);
	cr_assert_eq(val(x, Q, 1125), 836700);
	cr_assert_eq(val(x, Q, 1126), 2500000);
	cr_assert_eq(val(x, Q, 1127), 409);
	x = &v.r[1];
	cr_assert_eq(x->tid, 256 + 4, "IPv4, ICMP");
	cr_assert_eq(val(x, 0, 136), 4, "end of capture: forced end");
	cr_assert_eq(val(x, Q, 1010), 5, "echo RTT samples");
	cr_assert_eq(val(x, Q, 1012), 15000000);
	cr_assert_eq(val(x, Q, 1014), 0, "no distribution for echo RTT");
	x = &v.r[2];
	cr_assert_eq(x->tid, 256 + 4 + 8, "two-point");
	cr_assert_eq(val(x, Q, 1028), 99);
	cr_assert_eq(val(x, Q, 1029), 1);
	cr_assert_eq((int64_t)val(x, Q, 1030), -2000, "signed: two's complement");
	cr_assert_eq((int64_t)val(x, Q, 1031), 5000);
	cr_assert_eq((int64_t)val(x, Q, 1032), 8000);
	cr_assert_eq(val(x, Q, 1128), 0);
	free(e);
}

Test(ipfix, dns_flows_take_templates_with_the_dns_elements)
{
	static struct sink s;
	static struct ipfix_rd v;
	struct qp_ipfix_enc *e = fresh(&s, &v, QP_IPFIX_FILE, 1, 65535);
	struct qp_flow_rec u;
	memset(&u, 0, sizeof(u));
	u.key.ipver = 4;
	u.key.proto = 17;
	u.key.port[0] = 53;
	u.key.port[1] = 40000;
	u.init_swapped = 1;
	u.pkts[0] = u.pkts[1] = 9;
	u.has_dns = 1;
	u.dns.queries = 9;
	u.dns.responses = 8;
	u.dns.answered = 7;
	u.dns.unanswered = 2;
	u.dns.retransmitted = 1;
	u.dns.truncated = 3;
	u.dns.rcodes[0] = 4;
	u.dns.rcodes[2] = 1;
	u.dns.rcodes[3] = 3;
	u.dns_rt = (struct qp_stat){.n = 7, .sum = 7000003, .min = 400, .max = 3000000};
	u.dns_pct = 1;
	u.dns_p50 = 0.5;
	u.dns_p99 = 2.75;
	struct qp_flow_rec t = u;
	t.key.proto = 6;
	t.dns_pct = 0;
	struct qp_flow_rec plain = u;
	plain.has_dns = 0;
	qp_ipfix_enc_add(e, &u, NULL, 10);
	qp_ipfix_enc_add(e, &t, NULL, 10);
	qp_ipfix_enc_add(e, &plain, NULL, 10);
	qp_ipfix_enc_flush(e);
	decode(&v, &s);
	cr_assert_eq(v.ntemplates, 3);
	const struct ipfix_rd_rec *x = &v.r[0];
	cr_assert_eq(x->tid, 256 + 2 + 16, "IPv4, UDP, DNS");
	cr_assert_eq(val(x, 0, 7), 40000, "the initiator's port");
	cr_assert_eq(val(x, Q, 1200), 9);
	cr_assert_eq(val(x, Q, 1201), 8);
	cr_assert_eq(val(x, Q, 1202), 7);
	cr_assert_eq(val(x, Q, 1203), 2);
	cr_assert_eq(val(x, Q, 1204), 1);
	cr_assert_eq(val(x, Q, 1205), 3);
	cr_assert_eq(val(x, Q, 1206), 3, "NXDOMAIN");
	cr_assert_eq(val(x, Q, 1207), 1, "SERVFAIL");
	cr_assert_eq(val(x, Q, 1208), 400);
	cr_assert_eq(val(x, Q, 1209), 1000000, "the mean to the nearest ns");
	cr_assert_eq(val(x, Q, 1210), 3000000);
	cr_assert_eq(val(x, Q, 1211), 500000);
	cr_assert_eq(val(x, Q, 1212), 2750000);
	cr_assert_not(has(x, Q, 1300), "flow elements have no reverse");
	cr_assert_eq(val(x, Q, 1020), 0, "RTP's elements are there as for any UDP flow");
	x = &v.r[1];
	cr_assert_eq(x->tid, 256 + 16, "IPv4, TCP, DNS");
	cr_assert_eq(val(x, Q, 1200), 9);
	cr_assert_eq(val(x, Q, 1211), 0, "no distribution kept");
	cr_assert(has(x, Q, 1016), "and TCP's elements");
	x = &v.r[2];
	cr_assert_eq(x->tid, 256 + 2, "a UDP flow without DNS");
	cr_assert_not(has(x, Q, 1200));
	free(e);
}

Test(ipfix, quic_flows_take_templates_with_the_quic_elements)
{
	static struct sink s;
	static struct ipfix_rd v;
	struct qp_ipfix_enc *e = fresh(&s, &v, QP_IPFIX_FILE, 1, 65535);
	struct qp_flow_rec u;
	memset(&u, 0, sizeof(u));
	u.key.ipver = 6;
	u.key.proto = 17;
	u.key.port[0] = 50000;
	u.key.port[1] = 443;
	u.has_quic = 1;
	qp_quic_init(&u.quic);
	u.quic.nversions = 2;
	u.quic.versions[0] = 0xff00001d;
	u.quic.versions[1] = 1;
	u.quic.hs_ns = 40000123;
	u.quic.hs_ack_ns = 2000000;
	u.quic.edges_kept = 9;
	u.quic.edges_discarded = 1;
	u.quic.rtt[0] = (struct qp_stat){.n = 4, .sum = 160000002, .min = 39000000, .max = 41000000};
	u.quic.rtt[1] = (struct qp_stat){.n = 3, .sum = 120000000, .min = 40000000, .max = 40000000};
	qp_ipfix_enc_add(e, &u, NULL, 10);
	u.quic.hs_ack_ns = -1;
	u.quic.rtt[0].n = u.quic.rtt[1].n = 0;
	qp_ipfix_enc_add(e, &u, NULL, 10);
	qp_ipfix_enc_flush(e);
	decode(&v, &s);
	cr_assert_eq(v.ntemplates, 1);
	const struct ipfix_rd_rec *x = &v.r[0];
	cr_assert_eq(x->tid, 256 + 1 + 2 + 32, "IPv6, UDP, QUIC");
	cr_assert_eq(val(x, Q, 1220), 1, "the latest version");
	cr_assert_eq(val(x, Q, 1221), 40000123);
	cr_assert_eq(val(x, Q, 1222), 2000000);
	cr_assert_eq(val(x, Q, 1223), 1, "spin active");
	cr_assert_eq(val(x, Q, 1224), 9);
	cr_assert_eq(val(x, Q, 1225), 1);
	cr_assert_eq(val(x, Q, 1033), 4);
	cr_assert_eq(val(x, Q, 1034), 39000000);
	cr_assert_eq(val(x, Q, 1035), 40000001, "the mean to the nearest ns");
	cr_assert_eq(val(x, Q, 1036), 41000000);
	cr_assert_eq(val(x, Q, 1133), 3, "the responder's edges");
	cr_assert_eq(val(x, Q, 1135), 40000000);
	cr_assert_not(has(x, Q, 1200), "no DNS element");
	x = &v.r[1];
	cr_assert_eq(val(x, Q, 1222), 0, "not seen");
	cr_assert_eq(val(x, Q, 1223), 0, "no samples: not active");
	cr_assert_eq(val(x, Q, 1035), 0);
	free(e);
}

Test(ipfix, tls_flows_take_templates_with_the_tls_elements)
{
	static struct sink s;
	static struct ipfix_rd v;
	struct qp_ipfix_enc *e = fresh(&s, &v, QP_IPFIX_FILE, 1, 65535);
	struct qp_flow_rec u;
	memset(&u, 0, sizeof(u));
	u.key.ipver = 4;
	u.key.proto = 6;
	u.has_tls = 1;
	u.tls.st = QP_TLS_ST_CH | QP_TLS_ST_CH_DONE | QP_TLS_ST_SH | QP_TLS_ST_SH_DONE | QP_TLS_ST_DATA;
	u.tls.version = 0x0304;
	u.tls.client_version = 0x0304;
	u.tls.ch_ns = 1000;
	u.tls.sh_ns = 21001000;
	u.tls.data_ns = 40001000;
	qp_ipfix_enc_add(e, &u, NULL, 10);
	u.tls.st &= (uint8_t)~QP_TLS_ST_DATA;
	qp_ipfix_enc_add(e, &u, NULL, 10);
	qp_ipfix_enc_flush(e);
	decode(&v, &s);
	const struct ipfix_rd_rec *x = &v.r[0];
	cr_assert_eq(x->tid, 256 + 48, "IPv4, TCP, TLS");
	cr_assert_eq(val(x, Q, 1240), 0x0304);
	cr_assert_eq(val(x, Q, 1241), 0x0304);
	cr_assert_eq(val(x, Q, 1242), 21000000);
	cr_assert_eq(val(x, Q, 1243), 19000000);
	cr_assert(has(x, Q, 1016), "and TCP's elements");
	cr_assert_eq(val(&v.r[1], Q, 1243), 0, "not measured");
	free(e);
}

Test(ipfix, messages_stay_within_the_mtu_and_number_their_records)
{
	static struct sink s;
	static struct ipfix_rd v;
	struct qp_ipfix_enc *e = fresh(&s, &v, QP_IPFIX_UDP, 5, 1472);
	struct qp_flow_rec r;
	tcp_rec(&r);
	for (int k = 0; k < 100; k++) {
		r.pkts[0] = (uint64_t)k;
		qp_ipfix_enc_add(e, &r, NULL, 1000);
	}
	qp_ipfix_enc_flush(e);
	cr_assert_gt(s.n, 10);
	for (int m = 0; m < s.n; m++)
		cr_assert_leq(s.len[m], 1472, "message %d", m);
	decode(&v, &s);
	cr_assert_eq(v.nrec, 100);
	for (int k = 0; k < 100; k++)
		cr_assert_eq(val(&v.r[k], 0, 2), (uint64_t)k, "records in order, none lost");
	/* each message's sequence number is the records before it: the reader
	 * checks it against the records it read */
	cr_assert_eq(v.seq_errors, 0);
	cr_assert_eq(v.next_seq, 100);
	uint32_t before = 0;
	for (int m = 0; m < s.n; m++) {
		cr_assert_eq(rd32(s.msg[m] + 8), before, "message %d", m);
		size_t in_m = 0;
		for (size_t k = 0; k < v.nrec; k++)
			in_m += v.r[k].msg == (size_t)m;
		before += (uint32_t)in_m;
	}
	cr_assert_eq(before, 100);
	cr_assert_eq(e->stats.messages, (uint64_t)s.n);
	free(e);
}

Test(ipfix, templates_come_again_over_udp_after_a_minute_and_after_a_reset)
{
	static struct sink s;
	static struct ipfix_rd v;
	memset(&s, 0, sizeof(s));
	struct qp_ipfix_enc *e = malloc(sizeof(*e));
	struct qp_flow_rec r;
	tcp_rec(&r);
	static const struct {
		enum qp_ipfix_transport t;
		int templates;
	} cases[] = {{QP_IPFIX_UDP, 3}, {QP_IPFIX_TCP, 2}, {QP_IPFIX_FILE, 2}};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		memset(&s, 0, sizeof(s));
		ipfix_rd_free(&v);
	ipfix_rd_init(&v);
		qp_ipfix_enc_init(e, cases[c].t, 0, 1472, emit, &s);
		qp_ipfix_enc_add(e, &r, NULL, 1000);
		qp_ipfix_enc_add(e, &r, NULL, 1059); /* within the minute */
		qp_ipfix_enc_add(e, &r, NULL, 1060); /* UDP: again */
		qp_ipfix_enc_reset_templates(e);  /* a TCP collector reconnected */
		qp_ipfix_enc_add(e, &r, NULL, 1061);
		qp_ipfix_enc_flush(e);
		decode(&v, &s);
		cr_assert_eq(v.nrec, 4);
		cr_assert_eq(v.ntemplates, cases[c].templates, "transport %zu", c);
	}
	free(e);
}

Test(ipfix, a_message_the_collector_refuses_is_counted_and_leaves_a_sequence_gap)
{
	static struct sink s;
	memset(&s, 0, sizeof(s));
	struct qp_ipfix_enc *e = malloc(sizeof(*e));
	qp_ipfix_enc_init(e, QP_IPFIX_UDP, 0, 1472, emit, &s);
	struct qp_flow_rec r;
	tcp_rec(&r);
	s.refuse = 1;
	qp_ipfix_enc_add(e, &r, NULL, 1);
	qp_ipfix_enc_add(e, &r, NULL, 1);
	qp_ipfix_enc_flush(e);
	s.refuse = 0;
	qp_ipfix_enc_add(e, &r, NULL, 2);
	qp_ipfix_enc_flush(e);
	cr_assert_eq(e->stats.failed, 1);
	cr_assert_eq(e->stats.failed_records, 2);
	cr_assert_eq(e->stats.records, 3);
	cr_assert_eq(rd32(s.msg[1] + 8), 2, "the collector sees two records missing");
	free(e);
}

Test(ipfix, collector_specs_are_parsed_and_bad_ones_named)
{
	static const struct {
		const char *spec;
		int ok;
		const char *host;
		unsigned int port;
		enum qp_ipfix_transport t;
		const char *err;
	} cases[] = {
		{"127.0.0.1:4739", 1, "127.0.0.1", 4739, QP_IPFIX_UDP, NULL},
		{"collector.example.net:2055/tcp", 1, "collector.example.net", 2055, QP_IPFIX_TCP, NULL},
		{"[2001:db8::5]:4739/udp", 1, "2001:db8::5", 4739, QP_IPFIX_UDP, NULL},
		{"host:4739/sctp", 0, NULL, 0, 0,
		 "IPFIX collector 'host:4739/sctp': transport 'sctp' is not known (udp or tcp; SCTP is "
		 "not supported)"},
		{"host:0", 0, NULL, 0, 0, "IPFIX collector 'host:0': port '0' is not 1..65535"},
		{"host:70000", 0, NULL, 0, 0, "IPFIX collector 'host:70000': port '70000' is not 1..65535"},
		{"host", 0, NULL, 0, 0,
		 "IPFIX collector 'host': expected HOST:PORT[/udp|/tcp] ([V6ADDR]:PORT for IPv6 "
		 "addresses; udp by default)"},
		{"2001:db8::5:4739", 0, NULL, 0, 0,
		 "IPFIX collector '2001:db8::5:4739': an IPv6 address goes in brackets: [ADDR]:PORT"},
		{":4739", 0, NULL, 0, 0,
		 "IPFIX collector ':4739': expected HOST:PORT[/udp|/tcp] ([V6ADDR]:PORT for IPv6 "
		 "addresses; udp by default)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char host[256] = "", err[400] = "";
		uint16_t port = 0;
		enum qp_ipfix_transport t = QP_IPFIX_FILE;
		int rc = qp_ipfix_spec_parse(cases[i].spec, host, sizeof(host), &port, &t, err,
					     sizeof(err));
		if (cases[i].ok) {
			cr_assert_eq(rc, 0, "%s: %s", cases[i].spec, err);
			cr_assert_str_eq(host, cases[i].host);
			cr_assert_eq(port, cases[i].port);
			cr_assert_eq(t, cases[i].t);
		} else {
			cr_assert_eq(rc, -EINVAL, "%s", cases[i].spec);
			cr_assert_str_eq(err, cases[i].err);
		}
	}
}

Test(ipfix, docs_list_every_element_as_it_is_sent)
{
	FILE *f = fopen("docs/ipfix.md", "r");
	cr_assert_not_null(f, "run from the repository root");
	static char doc[1 << 16];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = 0;
	size_t ne;
	const struct qp_ipfix_element *el = qp_ipfix_elements(&ne);
	cr_assert_eq(ne, 80);
	for (size_t i = 0; i < ne; i++) {
		char id[32], row[256];
		if (el[i].pen == QP_IPFIX_PEN && el[i].id >= QP_IPFIX_DIR_FIRST &&
		    el[i].id < QP_IPFIX_DIR_END)
			snprintf(id, sizeof(id), "%u / %u", el[i].id, el[i].id + QP_IPFIX_REVERSE_OFFSET);
		else
			snprintf(id, sizeof(id), "%u", el[i].id);
		snprintf(row, sizeof(row), "| %s | %s | %s | %s | %u |", el[i].ie_name,
			 el[i].pen == 0 ? "IANA" : el[i].pen == QP_IPFIX_PEN ? "32473" : "29305 (reverse)",
			 id, el[i].type, el[i].len);
		cr_assert_not_null(strstr(doc, row), "docs/ipfix.md has no row '%s'", row);
	}
}
