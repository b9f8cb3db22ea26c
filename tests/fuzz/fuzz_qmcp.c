/*
 * libFuzzer target for the QMCP decoder: the input is a byte stream as a
 * peer would send it, fed to the stream reader in chunks whose sizes come
 * from the input itself; every frame that comes out is checked, walked TLV
 * by TLV (nested ones too) and every value read with every typed getter, and
 * read as a two-point record batch (TP_RECORDS).
 *
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "qmcp_codec.h"
#include "qmcp_tp.h"

static void walk(const uint8_t *b, size_t n, int depth)
{
	struct qmcp_iter it;
	struct qmcp_tlv t;
	qmcp_iter_init(&it, b, n);
	while (qmcp_next(&it, &t) == 1) {
		uint8_t a;
		uint16_t c;
		uint32_t d;
		uint64_t e;
		char s[256];
		qmcp_tlv_u8(&t, &a);
		qmcp_tlv_u16(&t, &c);
		qmcp_tlv_u32(&t, &d);
		qmcp_tlv_u64(&t, &e);
		qmcp_tlv_str(&t, s, sizeof(s));
		(void)qmcp_tlv_name(t.type);
		if (depth < 4)
			walk(t.val, t.len, depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qmcp_rx rx;
	qmcp_rx_init(&rx);
	size_t at = 0;
	unsigned int step = size ? data[0] % 61 + 1 : 1;
	while (at < size) {
		size_t room;
		uint8_t *p = qmcp_rx_space(&rx, step, &room);
		if (!p)
			break;
		size_t take = size - at < room ? size - at : room;
		memcpy(p, data + at, take);
		qmcp_rx_commit(&rx, take);
		at += take;
		struct qmcp_hdr h;
		const uint8_t *body;
		int r;
		while ((r = qmcp_rx_frame(&rx, &h, &body)) == 1) {
			(void)qmcp_msg_name(h.type);
			if (qmcp_body_check(body, h.length) == 0)
				walk(body, h.length, 0);
			/* every body as a two-point record batch, each entry read */
			struct qmcp_tp_batch tb;
			char err[256];
			if (qmcp_tp_parse(body, h.length, &tb, err, sizeof(err)) == 0) {
				for (uint32_t i = 0; i < tb.nflows; i++) {
					uint32_t id;
					struct qmcp_tp_key k;
					qmcp_tp_flow_at(&tb, i, &id, &k);
				}
				for (uint32_t i = 0; i < tb.nrecs; i++) {
					struct qmcp_tp_rec rr;
					qmcp_tp_rec_at(&tb, i, &rr);
				}
			}
		}
		if (r < 0)
			break;
		step = step * 7 % 61 + 1;
	}
	qmcp_rx_free(&rx);
	return 0;
}
