/*
 * libFuzzer target for the packet parser, every link type: byte 0 picks the
 * link type, byte 1 the parts of the flow key, the rest is the frame. For any
 * frame:
 *   - the straight line (qp_parse) and the layered walk (qp_parse_walk) give
 *     the same result and, for a flow, the same fields;
 *   - a flow's IP header, layer 4 offset and UDP payload lie inside the frame
 *     and its hash is its key's;
 *   - the frame cut one byte short parses without reading past the cut;
 *   - the two-point signature is taken (every payload length) and SIP/SDP in
 *     a UDP payload is read as the worker reads it.
 */
#include <string.h>

#include "fuzz.h"
#include "qp_flow_key.h"
#include "qp_parse_dp.h"
#include "../gen/qp_pkt_fields.h"
#include "qp_sdp.h"
#include "qp_sig.h"

static const int links[] = {QP_LINK_NULL, QP_LINK_ETHERNET, QP_LINK_RAW,  QP_LINK_RAW_ALT,
			    QP_LINK_RAW_PCAP, QP_LINK_LOOP, QP_LINK_SLL, QP_LINK_IPV4,
			    QP_LINK_IPV6, QP_LINK_SLL2};

static void inside(const uint8_t *frame, uint32_t len, const uint8_t *p, uint64_t n, const char *what)
{
	if (p < frame || p + n > frame + len)
		fuzz_fail("%s: %llu bytes at offset %td, outside the %u-byte frame", what,
			  (unsigned long long)n, p - frame, len);
}

static void same(const struct qp_pkt *a, const struct qp_pkt *b)
{
#define SAME_(f)                                                                      \
	if (a->f != b->f)                                                             \
		fuzz_fail("straight line and walk differ in " #f);
	if (memcmp(&a->key, &b->key, sizeof(a->key)) != 0)
		fuzz_fail("straight line and walk differ in the key");
	QP_PKT_FIELDS_OF(a->l4_proto, SAME_);
#undef SAME_
}

/* the frame in a buffer of its own size: ASan sees any read past it */
static void one(int link, uint32_t parts, const uint8_t *data, uint32_t len)
{
	static struct qp_parse_ctx ca, cb;
	uint8_t *frame = malloc(len ? len : 1);
	if (!frame)
		return;
	memcpy(frame, data, len);
	qp_parse_ctx_init(&ca);
	qp_parse_ctx_init(&cb);
	ca.key_parts = cb.key_parts = parts;
	struct qp_pkt a, b;
	enum qp_parse_result ra = qp_parse(&ca, link, frame, len, &a);
	enum qp_parse_result rb = qp_parse_walk(&cb, link, frame, len, &b);
	if (ra != rb)
		fuzz_fail("link %d: straight line %d, walk %d", link, ra, rb);
	if (ra == QP_PARSE_FLOW) {
		same(&a, &b);
		inside(frame, len, a.ip_hdr, a.ip_cap, "IP header and what follows");
		if (a.l4_off > a.ip_cap && a.l4_hdr_ok)
			fuzz_fail("layer 4 at %u past the %u IP bytes captured", a.l4_off, a.ip_cap);
		/* a protocol's fields are set for its frames only */
		int udp = a.l4_proto == 17 && a.udp_payload;
		if (udp)
			inside(frame, len, a.udp_payload, a.udp_payload_cap, "UDP payload");
		if (a.hash != qp_flow_key_hash(&a.key))
			fuzz_fail("the hash is not the key's");
		struct qp_sig_cfg sc;
		qp_sig_cfg_default(&sc);
		uint64_t sig;
		for (uint32_t pb = 0; pb <= QP_SIG_PAYLOAD_MAX; pb += 8) {
			sc.payload_bytes = pb;
			sc.nat = (uint8_t)(pb / 8 & 1);
			(void)qp_sig_of(&sc, &a, &sig);
		}
		if (udp) {
			struct qp_sdp_media m[QP_SDP_MEDIA];
			int n = qp_sdp_parse(a.udp_payload, a.udp_payload_cap, m);
			if (n < 0 || n > QP_SDP_MEDIA)
				fuzz_fail("qp_sdp_parse gave %d media", n);
		}
	}
	free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 65535 + 2)
		return 0;
	int link = links[data[0] % (sizeof(links) / sizeof(links[0]))];
	uint32_t parts = data[1] & QP_FLOW_KEY_ALL;
	uint32_t len = (uint32_t)size - 2;
	one(link, parts, data + 2, len);
	if (len)
		one(link, parts, data + 2, len - 1);
	return 0;
}
