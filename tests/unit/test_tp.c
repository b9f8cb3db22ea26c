/*
 * Two-point signatures (qp_sig) and the matching engine (qp_tp) on hand-made
 * records: negative delays kept, the loss timer against each point's
 * watermark, late arrivals, duplicates, window overflow, unresolved records,
 * and signatures that refuse what the other point could not sign alike.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../gen/qp_pcapw.h"
#include "qp_parse_dp.h"
#include "qp_sig.h"
#include "qp_tp.h"

#define MS 1000000ULL

static struct qp_tp *engine(uint32_t window)
{
	struct qp_tp_cfg c = {.loss_timer_ns = 50 * MS,
			      .break_ns = 1000 * MS,
			      .interval_ns = 1000 * MS,
			      .window = window,
			      .max_flows = 16,
			      .flow_dists = 16};
	struct qp_tp *tp = qp_tp_create(&c);
	cr_assert_not_null(tp);
	return tp;
}

static struct qp_tp_rec rec(uint64_t sig, uint64_t t_ms, int flow)
{
	struct qp_tp_rec r;
	memset(&r, 0, sizeof(r));
	r.sig = sig;
	r.ts_ns = t_ms * MS;
	r.size = 100;
	r.key.ipver = 4;
	r.key.proto = 17;
	r.key.addr[0][0] = 10;
	r.key.addr[0][3] = (uint8_t)flow;
	r.key.port[0] = 1000;
	r.key.port[1] = 2000;
	return r;
}

static void add(struct qp_tp *tp, int side, uint64_t sig, uint64_t t_ms, int flow)
{
	struct qp_tp_rec r = rec(sig, t_ms, flow);
	qp_tp_add(tp, side, &r);
}

Test(tp, negative_delay_counted_not_clipped)
{
	struct qp_tp *tp = engine(64);
	add(tp, QP_TP_A, 1, 100, 1);
	add(tp, QP_TP_B, 1, 105, 1); /* 5 ms: the flow direction passes A first */
	add(tp, QP_TP_B, 2, 198, 1);
	add(tp, QP_TP_A, 2, 200, 1); /* the clocks now disagree: -2 ms */
	qp_tp_finish(tp);
	const struct qp_tp_dir *f = qp_tp_total(tp, 0);
	cr_expect_eq(f->matched, 2);
	cr_expect_eq(f->negative_delays, 1);
	cr_expect_eq(f->owd_min, -2 * (int64_t)MS);
	cr_expect_eq(f->owd_max, 5 * (int64_t)MS);
	cr_expect_eq(f->owd_sum, 3 * (int64_t)MS);
	cr_expect_eq(f->owd->count, 1, "percentiles are over the non-negative delays");
	cr_expect_eq(qp_tp_total(tp, 1)->matched, 0);
	json_t *j = qp_tp_dir_json(f);
	cr_expect_eq(json_real_value(json_object_get(json_object_get(j, "owd_ms"), "mean")), 1.5);
	json_decref(j);
	qp_tp_destroy(tp);
}

Test(tp, loss_timer_runs_on_the_other_points_watermark)
{
	struct qp_tp *tp = engine(64);
	add(tp, QP_TP_A, 7, 100, 1);
	qp_tp_watermark(tp, QP_TP_A, 10000 * MS); /* A's own time does not decide */
	qp_tp_watermark(tp, QP_TP_B, 149 * MS);
	cr_expect_eq(qp_tp_total(tp, 0)->lost, 0, "B has not yet reported 100 ms + 50 ms");
	qp_tp_watermark(tp, QP_TP_B, 150 * MS);
	cr_expect_eq(qp_tp_total(tp, 0)->lost, 1);
	cr_expect_eq(qp_tp_total(tp, 0)->selected, 1);
	/* B-only record: lost in the reverse direction */
	add(tp, QP_TP_B, 8, 300, 2);
	qp_tp_watermark(tp, QP_TP_A, 20000 * MS);
	cr_expect_eq(qp_tp_total(tp, 1)->lost, 1);
	qp_tp_destroy(tp);
}

Test(tp, late_arrival_is_lost_then_downstream_only)
{
	struct qp_tp *tp = engine(64);
	add(tp, QP_TP_A, 1, 100, 3);
	add(tp, QP_TP_B, 1, 110, 3); /* flow direction learned: A upstream */
	add(tp, QP_TP_A, 2, 200, 3);
	add(tp, QP_TP_B, 9, 260, 3); /* B's watermark passes 250: packet 2 lost */
	cr_expect_eq(qp_tp_total(tp, 0)->lost, 1);
	add(tp, QP_TP_B, 2, 270, 3); /* it arrives after all, 70 ms late */
	qp_tp_watermark(tp, QP_TP_A, 1000 * MS);
	qp_tp_finish(tp);
	const struct qp_tp_dir *f = qp_tp_total(tp, 0);
	cr_expect_eq(f->matched, 1);
	cr_expect_eq(f->lost, 1);
	cr_expect_eq(f->downstream_only, 2, "the late copy and the B-only record 9");
	cr_expect_eq(qp_tp_total(tp, 1)->lost, 0);
	qp_tp_destroy(tp);
}

Test(tp, duplicates_are_not_losses)
{
	struct qp_tp *tp = engine(64);
	add(tp, QP_TP_A, 5, 100, 1);
	add(tp, QP_TP_B, 5, 104, 1);
	add(tp, QP_TP_B, 5, 105, 1);
	add(tp, QP_TP_B, 5, 106, 1);
	qp_tp_finish(tp);
	const struct qp_tp_dir *f = qp_tp_total(tp, 0);
	cr_expect_eq(f->matched, 1);
	cr_expect_eq(f->duplicates, 2);
	cr_expect_eq(f->lost, 0);
	cr_expect_eq(f->downstream_only, 0);
	qp_tp_destroy(tp);
}

Test(tp, reordering_and_ipdv)
{
	struct qp_tp *tp = engine(64);
	add(tp, QP_TP_A, 1, 100, 1);
	add(tp, QP_TP_A, 2, 110, 1);
	add(tp, QP_TP_A, 3, 120, 1);
	add(tp, QP_TP_B, 1, 105, 1); /* 5 */
	add(tp, QP_TP_B, 3, 127, 1); /* 7 */
	add(tp, QP_TP_B, 2, 130, 1); /* 20, after 3: reordered */
	qp_tp_finish(tp);
	const struct qp_tp_dir *f = qp_tp_total(tp, 0);
	cr_expect_eq(f->matched, 3);
	cr_expect_eq(f->reordered, 1);
	cr_expect_eq(f->ipdv_n, 2);
	cr_expect_eq(f->ipdv_abs_sum, (2 + 13) * MS, "|7-5| + |20-7| in arrival order");
	qp_tp_destroy(tp);
}

Test(tp, window_overflow_and_unresolved)
{
	struct qp_tp *tp = engine(16);
	for (uint64_t i = 0; i < 20; i++)
		add(tp, QP_TP_A, 100 + i, 100 + i, 1);
	cr_expect_eq(qp_tp_counters(tp)->window_overflow, 4);
	qp_tp_watermark(tp, QP_TP_B, 110 * MS);
	qp_tp_finish(tp);
	/* records up to 110 ms: B was still watching, so lost; after: unresolved */
	cr_expect_eq(qp_tp_total(tp, 0)->lost, 7, "104..110");
	cr_expect_eq(qp_tp_counters(tp)->unresolved, 9, "111..119");
	qp_tp_destroy(tp);
}

Test(tp, flows_beyond_the_limit_still_count)
{
	struct qp_tp *tp = engine(64);
	for (int f = 0; f < 20; f++) {
		add(tp, QP_TP_A, 1000 + (uint64_t)f, 100, f);
		add(tp, QP_TP_B, 1000 + (uint64_t)f, 101, f);
	}
	qp_tp_finish(tp);
	cr_expect_eq(qp_tp_total(tp, 0)->matched, 20);
	cr_expect_eq(qp_tp_counters(tp)->flows_not_itemised, 8, "4 flows over 16, both points");
	qp_tp_destroy(tp);
}

Test(tp, bad_config_refused)
{
	struct qp_tp_cfg c = {.loss_timer_ns = 0, .window = 16};
	cr_expect_null(qp_tp_create(&c));
	c.loss_timer_ns = MS;
	c.window = 0;
	cr_expect_null(qp_tp_create(&c));
}

/* ---- signatures ---- */

Test(sig, sampling_rates)
{
	struct qp_sig_cfg c;
	char eb[256];
	qp_sig_cfg_default(&c);
	cr_expect_eq(qp_sig_parse_rate(&c, "1", eb, sizeof(eb)), 0);
	cr_expect_eq(c.threshold, UINT64_MAX);
	cr_expect_eq(qp_sig_parse_rate(&c, "1/16", eb, sizeof(eb)), 0);
	cr_expect_eq(qp_sig_rate(&c), 1.0 / 16);
	cr_expect_eq(qp_sig_parse_rate(&c, "0.25", eb, sizeof(eb)), 0);
	cr_expect_eq(qp_sig_rate(&c), 0.25);
	static const char *bad[] = {"0", "2", "1/0", "1/", "1/x", "abc", "-0.5", "1/99999999999", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(qp_sig_parse_rate(&c, bad[i], eb, sizeof(eb)), -EINVAL, "'%s'", bad[i]);
		cr_expect(strstr(eb, "1/N") != NULL, "message says what is accepted: %s", eb);
	}
	/* 1/16 of many signatures, within 4 standard deviations */
	qp_sig_parse_rate(&c, "1/16", eb, sizeof(eb));
	uint32_t n = 0;
	for (uint64_t i = 0; i < 160000; i++)
		n += (uint32_t)qp_sig_selected(&c, i * 0x9e3779b97f4a7c15ULL);
	cr_expect(n > 10000 - 4 * 97 && n < 10000 + 4 * 97, "%u selected", n);
}

static uint64_t sig_of(const struct qp_sig_cfg *c, const uint8_t *b, uint32_t caplen, int *rc)
{
	static struct qp_parse_ctx ctx;
	qp_parse_ctx_init(&ctx);
	struct qp_pkt p;
	cr_assert_eq(qp_parse(&ctx, QP_LINK_ETHERNET, b, caplen, &p), QP_PARSE_FLOW);
	uint64_t s = 0;
	*rc = qp_sig_of(c, &p, &s);
	return s;
}

Test(sig, ipv6_hop_limit_and_traffic_class_ignored_payload_counted)
{
	struct pb b;
	pb_init(&b);
	pb_payload(&b, 40);
	pb_push_udp(&b, 1000, 2000);
	pb_push_ip6(&b, "2001:db8::1", "2001:db8::2");
	pb_push_eth(&b);
	uint8_t f[256];
	uint32_t n = pb_len(&b);
	memcpy(f, pb_data(&b), n);
	struct qp_sig_cfg c;
	qp_sig_cfg_default(&c);
	int rc;
	uint64_t s0 = sig_of(&c, f, n, &rc);
	cr_assert_eq(rc, 0);
	f[14 + 7] = 3;    /* hop limit */
	f[14 + 0] = 0x6b; /* traffic class */
	f[14 + 1] = 0x80;
	f[14 + 40 + 6] ^= 0xff; /* UDP checksum */
	cr_expect_eq(sig_of(&c, f, n, &rc), s0);
	f[14 + 40 + 8 + 3] ^= 1; /* 4th payload byte: another packet */
	cr_expect_neq(sig_of(&c, f, n, &rc), s0);
	f[14 + 40 + 8 + 3] ^= 1;
	f[14 + 40 + 8 + 20] ^= 1; /* 21st byte: past the 16 signed */
	cr_expect_eq(sig_of(&c, f, n, &rc), s0);
	/* a capture cut inside the signed payload cannot be signed alike */
	sig_of(&c, f, 14 + 40 + 8 + 10, &rc);
	cr_expect_eq(rc, -1);
	c.payload_bytes = 8;
	sig_of(&c, f, 14 + 40 + 8 + 10, &rc);
	cr_expect_eq(rc, 0, "8 payload bytes are all there");
}

Test(sig, nat_leaves_addresses_ports_and_icmp_id_out)
{
	struct qp_sig_cfg c;
	qp_sig_cfg_default(&c);
	uint8_t f[2][256];
	uint32_t n[2];
	for (int i = 0; i < 2; i++) {
		struct pb b;
		pb_init(&b);
		pb_payload(&b, 32);
		pb_push_icmp(&b, 8, (uint16_t)(i ? 999 : 7), 42);
		pb_push_ip4(&b, i ? "192.0.2.9" : "10.0.0.9", "10.9.9.9", 1234, 0);
		pb_push_eth(&b);
		n[i] = pb_len(&b);
		memcpy(f[i], pb_data(&b), n[i]);
	}
	int rc;
	cr_expect_neq(sig_of(&c, f[0], n[0], &rc), sig_of(&c, f[1], n[1], &rc));
	c.nat = 1;
	cr_expect_eq(sig_of(&c, f[0], n[0], &rc), sig_of(&c, f[1], n[1], &rc));
}
