/*
 * qp_pres: packet results' ring and text (see qp_pres.h).
 */
#include "qp_pres.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "qp_report.h"

struct qp_pres_ring *qp_pres_ring_create(uint32_t n, uint64_t rate)
{
	if (n < 16 || n > (1u << 20) || (n & (n - 1)) || rate > QP_PRES_RATE_MAX)
		return NULL;
	struct qp_pres_ring *q = aligned_alloc(64, sizeof(*q) + (size_t)n * sizeof(struct qp_pres));
	if (!q)
		return NULL;
	memset(q, 0, sizeof(*q));
	q->mask = n - 1;
	q->rate = rate;
	return q;
}

size_t qp_pres_csv(const struct qp_pres *r, char *buf, size_t len)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], proto[8], rtt[64] = ",,", tcp[16] = ",,",
										       rtp[96] = ",,,,";
	int s = r->init_swapped, d = !s;
	qp_key_addr_str(&r->key, s, src, sizeof(src));
	qp_key_addr_str(&r->key, d, dst, sizeof(dst));
	const char *pn = qp_proto_name(r->key.proto);
	if (pn)
		snprintf(proto, sizeof(proto), "%s", pn);
	else
		snprintf(proto, sizeof(proto), "%u", r->key.proto);
	if (r->rtt_dir >= 0)
		snprintf(rtt, sizeof(rtt), "%" PRIu64 ".%06" PRIu64 ",%s,", r->rtt_ns / 1000000,
			 r->rtt_ns % 1000000, r->rtt_dir ? "rev" : "fwd");
	else
		snprintf(rtt, sizeof(rtt), ",,");
	if (r->tcp & QP_PRES_TCP)
		snprintf(tcp, sizeof(tcp), "%d,%d,%d", !!(r->tcp & QP_PRES_RETRANS), !!(r->tcp & QP_PRES_OOO),
			 !!(r->tcp & QP_PRES_DUPACK));
	if (r->rtp & QP_PRES_RTP) {
		char jit[40] = "";
		if (r->rtp & QP_PRES_JITTER)
			snprintf(jit, sizeof(jit), "%" PRIu64 ".%06" PRIu64, r->jitter_ns / 1000000,
				 r->jitter_ns % 1000000);
		snprintf(rtp, sizeof(rtp), "%u,%u,%u,%u,%s", r->rtp_ssrc, r->rtp_seq, r->rtp_received,
			 r->rtp_expected, jit);
	}
	char sig[24] = "";
	if (r->has_sig)
		snprintf(sig, sizeof(sig), "%016" PRIx64, r->tp_sig);
	int n = snprintf(buf, len, "%" PRIu64 ",%s,%u,%s,%u,%s,%s,%u,%s%s,%s,%s\n", r->ts_ns, src,
			 r->key.port[s], dst, r->key.port[d], proto, r->dir ? "rev" : "fwd", r->wirelen,
			 rtt, tcp, rtp, sig);
	return n < 0 ? 0 : (size_t)n >= len ? len - 1 : (size_t)n;
}
