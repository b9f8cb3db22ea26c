/*
 * TP_RECORDS (two-point record batches): what is built is parsed back field
 * for field; malformed and hostile batches are refused with a message that
 * says what was wrong, and the parser never reads past the body.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qmcp_tp.h"

#define BASE 1700000000000000000ULL

static struct qmcp_tp_key key(uint8_t last)
{
	struct qmcp_tp_key k;
	memset(&k, 0, sizeof(k));
	k.addr[0][0] = 10;
	k.addr[0][3] = last;
	k.addr[1][0] = 10;
	k.addr[1][1] = 9;
	k.port[0] = 5004;
	k.port[1] = 20001;
	k.proto = 17;
	k.ipver = 4;
	return k;
}

/* Build a batch of n records over two flows; returns the body (malloc'd). */
static uint8_t *build(uint32_t n, size_t *len)
{
	struct qmcp_tp_rec *r = calloc(n ? n : 1, sizeof(*r));
	for (uint32_t i = 0; i < n; i++)
		r[i] = (struct qmcp_tp_rec){.sig = 0x0123456789abcdefULL * (i + 1),
					    .ts_ns = BASE + (uint64_t)i * 1000003,
					    .size = (uint16_t)(64 + i),
					    .flow = i % 2 ? 7 : 0x7fffffff,
					    .swapped = (uint8_t)(i % 3 == 0)};
	uint32_t ids[2] = {7, 0x7fffffff};
	struct qmcp_tp_key keys[2] = {key(1), key(2)};
	struct qmcp_tp_batch h = {.meas = 9, .seq = 5, .base_ns = BASE, .watermark_ns = BASE + 5, .dropped = 11};
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_TP_RECORDS, 0, 0);
	cr_assert_eq(qmcp_tp_build(&m, &h, ids, keys, 2, r, n), 0);
	size_t fl;
	const uint8_t *f = qmcp_msg_frame(&m, &fl);
	cr_assert_not_null(f);
	*len = fl - QMCP_HDR_LEN;
	uint8_t *body = malloc(*len);
	memcpy(body, f + QMCP_HDR_LEN, *len);
	qmcp_msg_free(&m);
	free(r);
	return body;
}

Test(qmcp_tp, round_trip)
{
	size_t len;
	uint8_t *b = build(1000, &len);
	cr_expect_eq(len, 10 + 4 * 14 + 2 * 6 + 2 * 44 + 1000 * 18, "fixed TLVs, flows, records");
	struct qmcp_tp_batch p;
	char err[256];
	cr_assert_eq(qmcp_tp_parse(b, len, &p, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(p.meas, 9);
	cr_expect_eq(p.seq, 5);
	cr_expect_eq(p.base_ns, BASE);
	cr_expect_eq(p.watermark_ns, BASE + 5);
	cr_expect_eq(p.dropped, 11);
	cr_assert_eq(p.nflows, 2);
	cr_assert_eq(p.nrecs, 1000);
	uint32_t id;
	struct qmcp_tp_key k, want = key(2);
	qmcp_tp_flow_at(&p, 1, &id, &k);
	cr_expect_eq(id, 0x7fffffff);
	cr_expect_eq(memcmp(&k, &want, sizeof(k)), 0);
	for (uint32_t i = 0; i < 1000; i++) {
		struct qmcp_tp_rec r;
		qmcp_tp_rec_at(&p, i, &r);
		cr_assert_eq(r.sig, 0x0123456789abcdefULL * (i + 1));
		cr_assert_eq(r.ts_ns, BASE + (uint64_t)i * 1000003);
		cr_assert_eq(r.size, 64 + i);
		cr_assert_eq(r.flow, i % 2 ? 7u : 0x7fffffffu);
		cr_assert_eq(r.swapped, i % 3 == 0);
	}
	free(b);
}

Test(qmcp_tp, build_refuses_what_cannot_be_encoded)
{
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_TP_RECORDS, 0, 0);
	struct qmcp_tp_batch h = {.base_ns = BASE};
	struct qmcp_tp_rec r = {.ts_ns = BASE - 1};
	size_t before = m.len;
	cr_expect_eq(qmcp_tp_build(&m, &h, NULL, NULL, 0, &r, 1), -EINVAL, "before the base");
	r.ts_ns = BASE + 0x100000000ULL;
	cr_expect_eq(qmcp_tp_build(&m, &h, NULL, NULL, 0, &r, 1), -EINVAL, "4.29 s after it");
	r.ts_ns = BASE;
	r.flow = 0x80000000u;
	cr_expect_eq(qmcp_tp_build(&m, &h, NULL, NULL, 0, &r, 1), -EINVAL, "flow id bit 31");
	cr_expect_eq(m.len, before, "nothing written");
	qmcp_msg_free(&m);
}

static void refused(const uint8_t *b, size_t len, const char *msg)
{
	struct qmcp_tp_batch p;
	char err[256] = "";
	cr_expect_eq(qmcp_tp_parse(b, len, &p, err, sizeof(err)), -EPROTO, "expected: %s", msg);
	cr_expect(strstr(err, msg) != NULL, "'%s' in '%s'", msg, err);
}

Test(qmcp_tp, hostile_batches_refused)
{
	size_t len;
	uint8_t *b = build(10, &len);
	/* records TLV is last: cut one byte from it (length field fixed to match) */
	uint8_t *c = malloc(len);
	memcpy(c, b, len);
	size_t rec_tlv = len - 10 * 18 - 6;
	c[rec_tlv + 5] = (uint8_t)(10 * 18 - 1);
	refused(c, len - 1, "whole number of 18-byte records");
	/* a body cut in the middle of a TLV */
	refused(b, len - 7, "not a TLV sequence");
	/* the flows TLV follows the five fixed ones: 10 + 4 x 14 bytes */
	memcpy(c, b, len);
	c[66 + 6 + 41] = 5; /* IP version 5 */
	refused(c, len, "IP version not 4/6");
	memcpy(c, b, len);
	c[66 + 5] = 43; /* flows length 43: and then the sequence breaks too */
	refused(c, len, "whole number of 44-byte flows");
	/* a missing field: only the records TLV */
	refused(b + rec_tlv, len - rec_tlv, "needs MEAS_ID, SEQ");
	/* a fixed field of the wrong size */
	memcpy(c, b, len);
	c[5] = 3; /* MEAS_ID of 3 bytes: the rest no longer lines up */
	struct qmcp_tp_batch p;
	char err[256];
	cr_expect_eq(qmcp_tp_parse(c, len, &p, err, sizeof(err)), -EPROTO);
	/* every prefix of a good batch: refused or parsed, never read past */
	for (size_t n = 0; n < len; n++) {
		uint8_t *cut = malloc(n ? n : 1);
		memcpy(cut, b, n);
		int rc = qmcp_tp_parse(cut, n, &p, err, sizeof(err));
		cr_expect(rc == -EPROTO, "prefix of %zu bytes: %d", n, rc);
		free(cut);
	}
	free(c);
	free(b);
}
