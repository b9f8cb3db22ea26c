/*
 * libFuzzer target for SIP/SDP as the worker reads it from a UDP payload
 * (qp_sdp_parse): at most QP_SDP_MEDIA media, each an IPv4 or IPv6 address
 * and a port with at most QP_SDP_PTS payload types, and each found again in
 * the table of announced endpoints once put there.
 */
#include <string.h>

#include "fuzz.h"
#include "qp_sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65535)
		return 0;
	/* the payload in a buffer of its own size: ASan sees any read past it */
	uint8_t *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);
	struct qp_sdp_media m[QP_SDP_MEDIA];
	int n = qp_sdp_parse(p, (uint32_t)size, m);
	free(p);
	if (n < 0 || n > QP_SDP_MEDIA)
		fuzz_fail("qp_sdp_parse gave %d media", n);
	static struct qp_sdp_table *t;
	if (!t && !(t = qp_sdp_table_create(64)))
		fuzz_fail("qp_sdp_table_create(64) failed");
	for (int i = 0; i < n; i++) {
		if (m[i].ipver != 4 && m[i].ipver != 6)
			fuzz_fail("medium %d: IP version %u", i, m[i].ipver);
		if (m[i].map.n > QP_SDP_PTS)
			fuzz_fail("medium %d: %u payload types", i, m[i].map.n);
		qp_sdp_table_put(t, &m[i], 1000);
		struct qp_sdp_map got;
		if (qp_sdp_table_get(t, m[i].ipver, m[i].addr, m[i].port, 1000, &got) != 1)
			fuzz_fail("medium %d: not found in the table once put there", i);
		if (got.n != m[i].map.n || memcmp(got.pt, m[i].map.pt, sizeof(got.pt)) != 0 ||
		    memcmp(got.clock_hz, m[i].map.clock_hz, sizeof(got.clock_hz)) != 0)
			fuzz_fail("medium %d: the table gives other payload types than were put", i);
	}
	return 0;
}
