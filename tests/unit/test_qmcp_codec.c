/*
 * QMCP codec and authentication: round trips of every message, every
 * truncation point, oversized and zero lengths, unknown types and TLVs,
 * stream reassembly byte by byte, HMAC against RFC 4231, secret files.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qmcp_auth.h"
#include "qmcp_codec.h"

static const uint8_t all_types[] = {
#define T_(n, v, h) v,
	QMCP_MESSAGES(T_)
#undef T_
};

/* A message with one TLV of every kind, a nested one and an empty string. */
static const uint8_t *build(struct qmcp_msg *m, uint8_t type, uint32_t id, size_t *n)
{
	qmcp_msg_init(m, type, QMCP_F_RESPONSE, id);
	qmcp_put_u8(m, QMCP_T_PERSIST, 1);
	qmcp_put_u16(m, QMCP_T_QMCP_PORT, 8177);
	qmcp_put_u32(m, QMCP_T_MEAS_ID, 0xdeadbeef);
	qmcp_put_u64(m, QMCP_T_START_NS, 0x0102030405060708ULL);
	qmcp_put_str(m, QMCP_T_FILTER, "udp and port 5004");
	qmcp_put_str(m, QMCP_T_DESCRIPTION, "");
	size_t h = qmcp_nest_begin(m, QMCP_T_MEAS);
	qmcp_put_u32(m, QMCP_T_MEAS_ID, 7);
	qmcp_put_str(m, QMCP_T_OWNER, "127.0.0.1:5555");
	qmcp_nest_end(m, h);
	uint8_t nonce[32];
	for (int i = 0; i < 32; i++)
		nonce[i] = (uint8_t)i;
	qmcp_put_bytes(m, QMCP_T_NONCE, nonce, 32);
	return qmcp_msg_frame(m, n);
}

Test(qmcp, round_trip_of_every_message)
{
	for (size_t k = 0; k < sizeof(all_types); k++) {
		struct qmcp_msg m;
		size_t n;
		const uint8_t *f = build(&m, all_types[k], 1000 + (uint32_t)k, &n);
		cr_assert_not_null(f);
		struct qmcp_hdr h;
		cr_assert_eq(qmcp_hdr_decode(f, n, &h), 0);
		cr_assert_eq(h.type, all_types[k]);
		cr_assert_eq(h.version, QMCP_VERSION);
		cr_assert_eq(h.flags, QMCP_F_RESPONSE);
		cr_assert_eq(h.req_id, 1000 + k);
		cr_assert_eq(h.length, n - QMCP_HDR_LEN);
		const uint8_t *b = f + QMCP_HDR_LEN;
		cr_assert_eq(qmcp_body_check(b, h.length), 0);
		struct qmcp_tlv t;
		uint8_t u8;
		uint16_t u16;
		uint32_t u32;
		uint64_t u64;
		char s[64];
		cr_assert_eq(qmcp_find(b, h.length, QMCP_T_PERSIST, &t), 1);
		cr_assert_eq(qmcp_tlv_u8(&t, &u8), 0);
		cr_assert_eq(u8, 1);
		cr_assert_eq(qmcp_find(b, h.length, QMCP_T_QMCP_PORT, &t), 1);
		cr_assert_eq(qmcp_tlv_u16(&t, &u16), 0);
		cr_assert_eq(u16, 8177);
		cr_assert_eq(qmcp_find(b, h.length, QMCP_T_MEAS_ID, &t), 1);
		cr_assert_eq(qmcp_tlv_u32(&t, &u32), 0);
		cr_assert_eq(u32, 0xdeadbeef);
		cr_assert_eq(qmcp_find(b, h.length, QMCP_T_START_NS, &t), 1);
		cr_assert_eq(qmcp_tlv_u64(&t, &u64), 0);
		cr_assert_eq(u64, 0x0102030405060708ULL);
		cr_assert_eq(qmcp_find(b, h.length, QMCP_T_FILTER, &t), 1);
		cr_assert_eq(qmcp_tlv_str(&t, s, sizeof(s)), 0);
		cr_assert_str_eq(s, "udp and port 5004");
		cr_assert_eq(qmcp_find(b, h.length, QMCP_T_DESCRIPTION, &t), 1);
		cr_assert_eq(qmcp_tlv_str(&t, s, sizeof(s)), 0);
		cr_assert_str_eq(s, "");
		cr_assert_eq(qmcp_find(b, h.length, QMCP_T_MEAS, &t), 1);
		struct qmcp_tlv in;
		cr_assert_eq(qmcp_find(t.val, t.len, QMCP_T_OWNER, &in), 1);
		cr_assert_eq(qmcp_tlv_str(&in, s, sizeof(s)), 0);
		cr_assert_str_eq(s, "127.0.0.1:5555");
		cr_assert_eq(qmcp_find(b, h.length, QMCP_T_NONCE, &t), 1);
		cr_assert_eq(t.len, 32);
		cr_assert_eq(t.val[31], 31);
		cr_assert_str_neq(qmcp_msg_name(all_types[k]), "?");
		qmcp_msg_free(&m);
	}
}

/* Offsets where a top-level TLV starts or the body ends. */
static int is_boundary(const uint8_t *b, size_t len, size_t k)
{
	struct qmcp_iter it;
	struct qmcp_tlv t;
	qmcp_iter_init(&it, b, len);
	size_t at = 0;
	if (k == 0)
		return 1;
	while (qmcp_next(&it, &t) == 1) {
		at += QMCP_TLV_HDR_LEN + t.len;
		if (at == k)
			return 1;
	}
	return 0;
}

Test(qmcp, every_truncation_point)
{
	struct qmcp_msg m;
	size_t n;
	const uint8_t *f = build(&m, QMCP_MSG_START, 9, &n);
	const uint8_t *b = f + QMCP_HDR_LEN;
	size_t blen = n - QMCP_HDR_LEN;
	int boundaries = 0;
	for (size_t k = 0; k < blen; k++) {
		int want = is_boundary(b, blen, k) ? 0 : -EPROTO;
		boundaries += want == 0;
		cr_assert_eq(qmcp_body_check(b, k), want, "body cut at %zu", k);
		/* a truncated body never yields a TLV running past the cut */
		struct qmcp_iter it;
		struct qmcp_tlv t;
		int r;
		qmcp_iter_init(&it, b, k);
		while ((r = qmcp_next(&it, &t)) == 1)
			cr_assert_leq(t.val + t.len, b + k);
	}
	cr_assert_eq(boundaries, 8, "eight top-level TLVs");
	/* a frame cut anywhere is incomplete to the stream reader */
	for (size_t k = 0; k < n; k++) {
		struct qmcp_rx rx;
		qmcp_rx_init(&rx);
		size_t room;
		uint8_t *p = qmcp_rx_space(&rx, k ? k : 1, &room);
		size_t take = k < room ? k : room;
		memcpy(p, f, take);
		qmcp_rx_commit(&rx, take);
		struct qmcp_hdr h;
		const uint8_t *body;
		cr_assert_eq(qmcp_rx_frame(&rx, &h, &body), 0, "frame cut at %zu", k);
		qmcp_rx_free(&rx);
	}
	/* a nested TLV whose inside is cut short is malformed even when the outer length fits */
	uint8_t bad[] = {0, QMCP_T_MEAS, 0, 0, 0, 8, 0, QMCP_T_MEAS_ID, 0, 0, 0, 4, 0, 0};
	cr_assert_eq(qmcp_body_check(bad, sizeof(bad)), -EPROTO);
	qmcp_msg_free(&m);
}

Test(qmcp, header_errors_and_lengths)
{
	uint8_t h[16] = {'Q', 'M', 1, QMCP_MSG_INFO, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0};
	struct qmcp_hdr hd;
	cr_assert_eq(qmcp_hdr_decode(h, 15, &hd), -EAGAIN);
	cr_assert_eq(qmcp_hdr_decode(h, 16, &hd), 0);
	cr_assert_eq(hd.length, 0, "a zero-length body is a valid frame");
	cr_assert_eq(hd.req_id, 5);
	uint8_t big[16];
	memcpy(big, h, 16);
	big[12] = big[13] = big[14] = big[15] = 0xff; /* 4 GiB - 1 */
	cr_assert_eq(qmcp_hdr_decode(big, 16, &hd), -EMSGSIZE);
	big[12] = 0;
	big[13] = 0x10;
	big[14] = 0;
	big[15] = 1; /* 1 MiB + 1 */
	cr_assert_eq(qmcp_hdr_decode(big, 16, &hd), -EMSGSIZE);
	big[15] = 0; /* exactly 1 MiB */
	cr_assert_eq(qmcp_hdr_decode(big, 16, &hd), 0);
	uint8_t magic[16];
	memcpy(magic, h, 16);
	magic[1] = 'X';
	cr_assert_eq(qmcp_hdr_decode(magic, 16, &hd), -EPROTO);
	uint8_t ver[16];
	memcpy(ver, h, 16);
	ver[2] = 2;
	cr_assert_eq(qmcp_hdr_decode(ver, 16, &hd), -EPROTONOSUPPORT);
	cr_assert_eq(hd.version, 2);
	/* a body over the limit is refused by the builder */
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_RESULT, 0, 0);
	char *s = malloc(QMCP_MAX_BODY);
	memset(s, 'x', QMCP_MAX_BODY - 1);
	s[QMCP_MAX_BODY - 1] = 0;
	qmcp_put_str(&m, QMCP_T_RESULT_JSON, s);
	size_t n;
	cr_assert_null(qmcp_msg_frame(&m, &n));
	cr_assert_eq(m.err, -EMSGSIZE);
	qmcp_msg_free(&m);
	free(s);
	/* an empty message is a bare header */
	qmcp_msg_init(&m, QMCP_MSG_LIST, 0, 3);
	const uint8_t *f = qmcp_msg_frame(&m, &n);
	cr_assert_eq(n, QMCP_HDR_LEN);
	cr_assert_eq(qmcp_hdr_decode(f, n, &hd), 0);
	cr_assert_eq(hd.type, QMCP_MSG_LIST);
	qmcp_msg_free(&m);
}

Test(qmcp, unknown_types_and_tlvs)
{
	cr_assert_str_eq(qmcp_msg_name(200), "?");
	cr_assert_str_eq(qmcp_tlv_name(60000), "?");
	cr_assert_str_eq(qmcp_error_name(999), "?");
	cr_assert_str_eq(qmcp_error_name(QMCP_E_AUTH_FAILED), "AUTH_FAILED");
	struct qmcp_msg m;
	qmcp_msg_init(&m, 200, 0, 1);
	qmcp_put_str(&m, 60000, "from a newer peer");
	qmcp_put_bytes(&m, 60001, NULL, 0);
	qmcp_put_u32(&m, QMCP_T_INTERVAL_MS, 1000);
	size_t n;
	const uint8_t *f = qmcp_msg_frame(&m, &n);
	struct qmcp_hdr h;
	cr_assert_eq(qmcp_hdr_decode(f, n, &h), 0);
	cr_assert_eq(h.type, 200);
	cr_assert_eq(qmcp_body_check(f + 16, h.length), 0, "unknown TLVs are well-formed TLVs");
	struct qmcp_tlv t;
	uint32_t v;
	cr_assert_eq(qmcp_find(f + 16, h.length, QMCP_T_INTERVAL_MS, &t), 1, "skipped over");
	cr_assert_eq(qmcp_tlv_u32(&t, &v), 0);
	cr_assert_eq(v, 1000);
	cr_assert_eq(qmcp_find(f + 16, h.length, QMCP_T_FILTER, &t), 0);
	qmcp_msg_free(&m);
	/* an error answer names its code and says what was wrong */
	qmcp_msg_error(&m, 200, 1, QMCP_E_UNKNOWN_TYPE, "message type %d is not known", 200);
	f = qmcp_msg_frame(&m, &n);
	cr_assert_eq(qmcp_hdr_decode(f, n, &h), 0);
	cr_assert_eq(h.flags, QMCP_F_RESPONSE | QMCP_F_ERROR);
	uint16_t code;
	char s[128];
	cr_assert_eq(qmcp_find(f + 16, h.length, QMCP_T_ERROR_CODE, &t), 1);
	cr_assert_eq(qmcp_tlv_u16(&t, &code), 0);
	cr_assert_eq(code, QMCP_E_UNKNOWN_TYPE);
	cr_assert_eq(qmcp_find(f + 16, h.length, QMCP_T_ERROR_MSG, &t), 1);
	cr_assert_eq(qmcp_tlv_str(&t, s, sizeof(s)), 0);
	cr_assert_str_eq(s, "message type 200 is not known");
	qmcp_msg_free(&m);
}

Test(qmcp, typed_values_refuse_wrong_lengths)
{
	uint8_t v[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	struct qmcp_tlv t = {1, 3, v};
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;
	cr_assert_eq(qmcp_tlv_u8(&t, &a), -EPROTO);
	cr_assert_eq(qmcp_tlv_u16(&t, &b), -EPROTO);
	cr_assert_eq(qmcp_tlv_u32(&t, &c), -EPROTO);
	cr_assert_eq(qmcp_tlv_u64(&t, &d), -EPROTO);
	t.len = 0;
	cr_assert_eq(qmcp_tlv_u8(&t, &a), -EPROTO);
	char s[4];
	uint8_t nul[3] = {'a', 0, 'b'};
	struct qmcp_tlv ts = {1, 3, nul};
	cr_assert_eq(qmcp_tlv_str(&ts, s, sizeof(s)), -EPROTO);
	uint8_t lng[4] = {'a', 'b', 'c', 'd'};
	struct qmcp_tlv tl = {1, 4, lng};
	cr_assert_eq(qmcp_tlv_str(&tl, s, sizeof(s)), -ENAMETOOLONG);
	tl.len = 3;
	cr_assert_eq(qmcp_tlv_str(&tl, s, sizeof(s)), 0);
	cr_assert_str_eq(s, "abc");
}

Test(qmcp, stream_reassembly_byte_by_byte)
{
	struct qmcp_msg m[3];
	uint8_t stream[4096];
	size_t total = 0;
	for (int i = 0; i < 3; i++) {
		size_t n;
		const uint8_t *f = build(&m[i], QMCP_MSG_LIST, (uint32_t)i + 1, &n);
		memcpy(stream + total, f, n);
		total += n;
	}
	struct qmcp_rx rx;
	qmcp_rx_init(&rx);
	int got = 0;
	for (size_t k = 0; k < total; k++) {
		size_t room;
		uint8_t *p = qmcp_rx_space(&rx, 1, &room);
		cr_assert_geq(room, 1);
		*p = stream[k];
		qmcp_rx_commit(&rx, 1);
		struct qmcp_hdr h;
		const uint8_t *body;
		int r;
		while ((r = qmcp_rx_frame(&rx, &h, &body)) == 1) {
			got++;
			cr_assert_eq(h.req_id, (uint32_t)got);
			cr_assert_eq(memcmp(body, m[got - 1].buf + QMCP_HDR_LEN, h.length), 0);
		}
		cr_assert_eq(r, 0);
	}
	cr_assert_eq(got, 3);
	cr_assert_leq(rx.cap, 8192, "the buffer holds about one frame");
	qmcp_rx_free(&rx);
	for (int i = 0; i < 3; i++)
		qmcp_msg_free(&m[i]);
}

Test(qmcp, a_huge_announced_body_is_refused_before_it_is_buffered)
{
	uint8_t h[16] = {'Q', 'M', 1, QMCP_MSG_START, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff};
	struct qmcp_rx rx;
	qmcp_rx_init(&rx);
	size_t room;
	uint8_t *p = qmcp_rx_space(&rx, 1 << 20, &room);
	cr_assert_eq(room, QMCP_HDR_LEN, "only the header is read before the length is known");
	memcpy(p, h, 16);
	qmcp_rx_commit(&rx, 16);
	struct qmcp_hdr hd;
	const uint8_t *body;
	cr_assert_eq(qmcp_rx_frame(&rx, &hd, &body), -EMSGSIZE);
	cr_assert_eq(hd.req_id, 1, "the request id is known, for the error answer");
	qmcp_rx_free(&rx);
}

Test(qmcp_auth, hmac_sha256_rfc4231_case_2)
{
	static const uint8_t want[32] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
					 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
					 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
					 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
	uint8_t out[32];
	const char *msg = "what do ya want for nothing?";
	qmcp_hmac((const uint8_t *)"Jefe", 4, (const uint8_t *)msg, strlen(msg), out);
	cr_assert(qmcp_hmac_equal(out, want));
	out[31] ^= 1;
	cr_assert_not(qmcp_hmac_equal(out, want));
	uint8_t n1[32], n2[32];
	cr_assert_eq(qmcp_nonce(n1), 0);
	cr_assert_eq(qmcp_nonce(n2), 0);
	cr_assert_neq(memcmp(n1, n2, 32), 0);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	fchmod(fd, mode);
	close(fd);
}

Test(qmcp_auth, secret_files)
{
	char path[] = "/tmp/qmcp-secret-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	uint8_t buf[QMCP_SECRET_MAX];
	size_t len = 0;
	char err[512];
	write_file(path, "0123456789abcdef0123\n", 0600);
	cr_assert_eq(qmcp_secret_load(path, buf, sizeof(buf), &len, err, sizeof(err)), 0);
	cr_assert_eq(len, 20, "the trailing newline is not part of the secret");
	write_file(path, "0123456789abcdef0123\n", 0644);
	cr_assert_eq(qmcp_secret_load(path, buf, sizeof(buf), &len, err, sizeof(err)), -EPERM);
	cr_assert(strstr(err, "chmod 600"), "%s", err);
	write_file(path, "short", 0600);
	cr_assert_eq(qmcp_secret_load(path, buf, sizeof(buf), &len, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "16 to 1024 bytes"), "%s", err);
	unlink(path);
	cr_assert_eq(qmcp_secret_load(path, buf, sizeof(buf), &len, err, sizeof(err)), -ENOENT);
	cr_assert(strstr(err, path), "%s", err);
	cr_assert_eq(qmcp_secret_load("/tmp", buf, sizeof(buf), &len, err, sizeof(err)), -EINVAL);
}
