/*
 * Worker path tests: what a burst of frames does to flows, counters and
 * intervals: direction of a flow, TCP handshake RTT, sizes, parse error
 * counting, interval accounting and eviction.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../gen/qp_pcapw.h"
#include "qp_worker_dp.h"

#define MS 1000000ULL
#define US 1000ULL
#define T0 1700000000000000000ULL

static struct qp_worker *w;
static struct qp_measure_cfg cfg;

/* Every exported record, kept for the assertions. */
static struct qp_flow recs[64];
static struct qp_flow_cold colds[64]; /* each record's cold block (zeros: none) */
static int why[64];
static int nrec;

static void keep(const struct qp_flow *f, enum qp_flow_end e, void *arg)
{
	(void)arg;
	cr_assert_lt(nrec, 64);
	recs[nrec] = *f;
	colds[nrec] = *qp_flow_cold_of(f);
	why[nrec++] = e;
}

static void setup(void)
{
	w = aligned_alloc(64, sizeof(*w));
	cr_assert_eq(qp_worker_init(w, 0, 1024, 0), 0);
	w->export_fn = keep;
	w->export_arg = NULL;
	memset(&cfg, 0, sizeof(cfg));
	cfg.linktype = QP_LINK_ETHERNET;
	cfg.flow_key = QP_FLOW_KEY_DEFAULT;
	cfg.base_ns = T0;
	cfg.interval_ns = 1000 * MS;
	cfg.idle_ns = 60000 * MS;
	nrec = 0;
}

static void teardown(void)
{
	qp_worker_fini(w);
	free(w);
}

TestSuite(worker, .init = setup, .fini = teardown);

/* Frames are built into a pool that lives as long as the test. */
static struct pb pool[64];
static int npool;

static struct qp_frame tcp(const char *src, uint16_t sp, const char *dst, uint16_t dp, uint8_t flags,
			   uint32_t seq, uint32_t ack, uint32_t payload, uint64_t ts)
{
	struct pb *b = &pool[npool++ % 64];
	pb_init(b);
	if (payload)
		pb_payload(b, payload);
	pb_push_tcp(b, sp, dp, seq, ack, flags, 1000);
	pb_push_ip4(b, src, dst, 1, 0);
	pb_push_eth(b);
	return (struct qp_frame){pb_data(b), pb_len(b), pb_len(b), ts};
}

#define C "192.0.2.1"
#define S "198.51.100.1"

static void run(struct qp_frame *f, unsigned int n)
{
	qp_worker_process(w, &cfg, f, n);
	qp_flow_table_flush(w->flows, keep, NULL);
}

/* The record's counters in the flow's own direction: [0] from src. */
static void expect_src_is(const struct qp_flow *f, const char *addr)
{
	uint8_t a[16] = {0};
	inet_pton(AF_INET, addr, a);
	cr_assert(memcmp(f->key.addr[f->init_swapped], a, 16) == 0, "src is not %s", addr);
}

Test(worker, handshake_rtt_both_halves_to_the_nanosecond)
{
	struct qp_frame f[] = {
		tcp(C, 40000, S, 443, 0x02, 100, 0, 0, T0),
		tcp(S, 443, C, 40000, 0x12, 900, 101, 0, T0 + 24 * MS + 350 * US + 7),
		tcp(C, 40000, S, 443, 0x10, 101, 901, 0, T0 + 24 * MS + 530 * US + 7),
		tcp(C, 40000, S, 443, 0x18, 101, 901, 100, T0 + 30 * MS),
		tcp(S, 443, C, 40000, 0x18, 901, 201, 1000, T0 + 55 * MS),
	};
	run(f, 5);
	cr_assert_eq(nrec, 1);
	const struct qp_flow *r = &recs[0];
	expect_src_is(r, C);
	cr_assert_eq(r->hs_rtt_ns, (int64_t)(24 * MS + 350 * US + 7));
	cr_assert_eq(r->hs_ack_rtt_ns, (int64_t)(180 * US));
	cr_assert_eq(r->pkts[0], 3);
	cr_assert_eq(r->pkts[1], 2);
	cr_assert_eq(r->bytes[0], 54 + 54 + 154);
	cr_assert_eq(r->bytes[1], 54 + 1054);
	cr_assert_eq(r->size_min, 54);
	cr_assert_eq(r->size_max, 1054);
	cr_assert_eq(r->first_ns, T0);
	cr_assert_eq(r->last_ns, T0 + 55 * MS);
	cr_assert_eq(w->cnt.measured, 5);
}

Test(worker, the_latest_syn_is_the_one_answered)
{
	struct qp_frame f[] = {
		tcp(C, 40000, S, 443, 0x02, 100, 0, 0, T0),
		tcp(C, 40000, S, 443, 0x02, 100, 0, 0, T0 + 1000 * MS),
		tcp(S, 443, C, 40000, 0x12, 900, 101, 0, T0 + 1010 * MS),
	};
	run(f, 3);
	cr_assert_eq(recs[0].hs_rtt_ns, (int64_t)(10 * MS));
	cr_assert_eq(recs[0].hs_ack_rtt_ns, -1);
}

/* Retransmitted handshakes: the halves are the latest SYN/ACK's and the latest SYN before it's. */
Test(worker, a_retransmitted_syn_and_synack_start_the_halves_again)
{
	/* the client's SYN/ACK is lost past the tap: it sends its SYN again (tshark:
	 * tcp.analysis.initial_rtt 0.0555 s, the sum of the halves) */
	struct qp_frame f[] = {
		tcp(C, 40000, S, 443, 0x02, 100, 0, 0, T0),
		tcp(S, 443, C, 40000, 0x12, 900, 101, 0, T0 + 14400 * US),
		tcp(C, 40000, S, 443, 0x02, 100, 0, 0, T0 + 63800 * US),
		tcp(S, 443, C, 40000, 0x12, 900, 101, 0, T0 + 71100 * US),
		tcp(C, 40000, S, 443, 0x10, 101, 901, 0, T0 + 119300 * US),
	};
	run(f, 5);
	cr_assert_eq(recs[0].hs_rtt_ns, (int64_t)(7300 * US));
	cr_assert_eq(recs[0].hs_ack_rtt_ns, (int64_t)(48200 * US), "%lld",
		     (long long)recs[0].hs_ack_rtt_ns);
}

Test(worker, a_retransmitted_synack_alone)
{
	struct qp_frame f[] = {
		tcp(C, 40000, S, 443, 0x02, 100, 0, 0, T0),
		tcp(S, 443, C, 40000, 0x12, 900, 101, 0, T0 + 5 * MS),
		tcp(S, 443, C, 40000, 0x12, 900, 101, 0, T0 + 1005 * MS),
		tcp(C, 40000, S, 443, 0x10, 101, 901, 0, T0 + 1006 * MS),
		/* after the handshake: neither a SYN/ACK nor a SYN moves the halves */
		tcp(S, 443, C, 40000, 0x12, 900, 101, 0, T0 + 2000 * MS),
		tcp(C, 40000, S, 443, 0x02, 100, 0, 0, T0 + 2001 * MS),
	};
	run(f, 6);
	cr_assert_eq(recs[0].hs_rtt_ns, (int64_t)(1005 * MS));
	cr_assert_eq(recs[0].hs_ack_rtt_ns, (int64_t)(1 * MS));
}

Test(worker, a_syn_again_after_the_synack_keeps_the_pair_answered)
{
	struct qp_frame f[] = {
		tcp(C, 40000, S, 443, 0x02, 100, 0, 0, T0),
		tcp(S, 443, C, 40000, 0x12, 900, 101, 0, T0 + 5 * MS),
		tcp(C, 40000, S, 443, 0x02, 100, 0, 0, T0 + 1000 * MS),
		tcp(C, 40000, S, 443, 0x10, 101, 901, 0, T0 + 1001 * MS),
	};
	run(f, 4);
	cr_assert_eq(recs[0].hs_rtt_ns, (int64_t)(5 * MS));
	cr_assert_eq(recs[0].hs_ack_rtt_ns, (int64_t)(996 * MS));
}

Test(worker, an_ip_length_beyond_the_frame_is_not_the_segments)
{
	/* 100 bytes of data in a 154-byte frame whose IPv4 header says 1500
	 * (an offload on the capturing host): the next segment, at seq 101,
	 * is in order; taken at its word, the first would reach 1461 and the
	 * second be out of order */
	struct qp_frame f[] = {
		tcp(C, 40000, S, 443, 0x18, 1, 1, 100, T0),
		tcp(C, 40000, S, 443, 0x18, 101, 1, 100, T0 + 1 * MS),
		tcp(C, 40000, S, 443, 0x18, 201, 1, 100, T0 + 2 * MS),
	};
	uint8_t *ip = (uint8_t *)f[0].data + 14;
	ip[2] = 1500 >> 8;
	ip[3] = 1500 & 0xff;
	run(f, 3);
	cr_assert_eq(w->cnt.ip_len_over_frame, 1);
	cr_assert_eq(colds[0].tcp[0].ooo + colds[0].tcp[0].retrans, 0);
	cr_assert_eq(recs[0].bytes[0], 3 * 154, "the frames' own lengths");
	/* a capture cut short (snap length) is not such a frame */
	nrec = 0;
	struct qp_frame g[] = {tcp(C, 40001, S, 443, 0x18, 1, 1, 100, T0)};
	g[0].caplen = 60;
	run(g, 1);
	cr_assert_eq(w->cnt.ip_len_over_frame, 1);
}

Test(worker, a_synack_that_does_not_answer_gives_no_rtt)
{
	struct qp_frame f[] = {
		tcp(C, 40000, S, 443, 0x02, 100, 0, 0, T0),
		tcp(S, 443, C, 40000, 0x12, 900, 555, 0, T0 + 5 * MS),
	};
	run(f, 2);
	cr_assert_eq(recs[0].hs_rtt_ns, -1);
}

Test(worker, synack_seen_first_makes_its_receiver_the_source)
{
	struct qp_frame f[] = {
		tcp(S, 443, C, 40000, 0x12, 900, 101, 0, T0),
		tcp(C, 40000, S, 443, 0x10, 101, 901, 0, T0 + 1 * MS),
	};
	run(f, 2);
	expect_src_is(&recs[0], C);
	cr_assert_eq(recs[0].pkts[0], 1);
	cr_assert_eq(recs[0].pkts[1], 1);
}

Test(worker, a_syn_turns_a_flow_round)
{
	/* the capture starts with a stray server segment, then the client opens */
	struct qp_frame f[] = {
		tcp(S, 443, C, 40000, 0x18, 1, 1, 10, T0),
		tcp(C, 40000, S, 443, 0x02, 100, 0, 0, T0 + 1 * MS),
		tcp(S, 443, C, 40000, 0x12, 900, 101, 0, T0 + 3 * MS),
	};
	run(f, 3);
	expect_src_is(&recs[0], C);
	cr_assert_eq(recs[0].pkts[0], 1);
	cr_assert_eq(recs[0].pkts[1], 2);
	cr_assert_eq(recs[0].bytes[1], 64 + 54);
	cr_assert_eq(recs[0].hs_rtt_ns, (int64_t)(2 * MS));
}

Test(worker, udp_source_is_the_first_sender)
{
	struct pb *b = &pool[0];
	pb_init(b);
	pb_push_udp(b, 53, 5353);
	pb_push_ip4(b, "10.0.0.53", "10.0.0.9", 1, 0);
	pb_push_eth(b);
	struct qp_frame f = {pb_data(b), pb_len(b), pb_len(b), T0};
	run(&f, 1);
	expect_src_is(&recs[0], "10.0.0.53");
	cr_assert_eq(recs[0].key.port[recs[0].init_swapped], 53);
}

Test(worker, counters_by_reason)
{
	struct qp_frame good = tcp(C, 1, S, 2, 0x10, 1, 1, 0, T0);
	struct qp_frame cut = good;
	cut.caplen = 20; /* IPv4 header cut */
	struct qp_frame tiny = good;
	tiny.caplen = 5;
	struct pb *b = &pool[63];
	pb_init(b);
	pb_payload(b, 28);
	b->next_type = 0x0806;
	pb_push_eth(b);
	struct qp_frame arp = {pb_data(b), pb_len(b), 60, T0};
	struct qp_frame f[] = {good, cut, tiny, arp, good};
	run(f, 5);
	cr_assert_eq(w->cnt.packets, 5);
	cr_assert_eq(w->cnt.bytes, 54 * 4 + 60);
	cr_assert_eq(w->cnt.measured, 2);
	cr_assert_eq(w->cnt.non_ip, 1);
	cr_assert_eq(w->cnt.parse_errors, 2);
	cr_assert_eq(w->cnt.perr[QP_PERR_truncated_ipv4 - QP_PARSE_ERR_FIRST], 1);
	cr_assert_eq(w->cnt.perr[QP_PERR_truncated_l2 - QP_PARSE_ERR_FIRST], 1);
}

Test(worker, intervals_per_direction)
{
	struct qp_frame f[] = {
		tcp(C, 1, S, 2, 0x10, 1, 1, 0, T0),
		tcp(S, 2, C, 1, 0x10, 1, 1, 46, T0 + 500 * MS),
		tcp(C, 1, S, 2, 0x10, 1, 1, 0, T0 + 999 * MS + 999999),
		tcp(C, 1, S, 2, 0x10, 1, 1, 0, T0 + 1000 * MS),
		tcp(C, 1, S, 2, 0x10, 1, 1, 0, T0 + 3700 * MS),
	};
	qp_worker_process(w, &cfg, f, 3);
	struct qp_interval_acc a;
	cr_assert(qp_worker_interval_read(w, 0, &a));
	cr_assert_eq(a.pkts[0], 2);
	cr_assert_eq(a.pkts[1], 1);
	cr_assert_eq(a.bytes[1], 100);
	qp_worker_process(w, &cfg, f + 3, 2);
	cr_assert(qp_worker_interval_read(w, 1, &a));
	cr_assert_eq(a.pkts[0], 1);
	cr_assert_eq(a.pkts[1], 0);
	cr_assert(qp_worker_interval_read(w, 3, &a));
	cr_assert_eq(a.pkts[0], 1);
	cr_assert_eq(w->cur_iv, 3);
	cr_assert_eq(w->cur_iv_end, T0 + 4000 * MS);
	/* interval 2 had no packet: the worker never held it */
	cr_assert_eq(qp_worker_interval_read(w, 2, &a), QP_IV_NONE);
}

Test(worker, an_interval_whose_slot_a_later_one_took_is_lost_not_empty)
{
	struct qp_frame f[] = {
		tcp(C, 1, S, 2, 0x10, 1, 1, 0, T0),
		tcp(C, 1, S, 2, 0x10, 1, 1, 0, T0 + 3000 * MS),
		tcp(C, 1, S, 2, 0x10, 1, 1, 0, T0 + QP_IV_SLOTS * 1000 * MS + 1),
	};
	qp_worker_process(w, &cfg, f, 3);
	struct qp_interval_acc a;
	/* interval 0's slot holds interval 8 now: its packet is gone */
	cr_assert_eq(qp_worker_interval_read(w, 0, &a), QP_IV_LOST);
	cr_assert_eq(qp_worker_interval_read(w, 3, &a), QP_IV_READ);
	cr_assert_eq(a.pkts[0], 1);
	cr_assert_eq(qp_worker_interval_read(w, QP_IV_SLOTS, &a), QP_IV_READ);
	cr_assert_eq(a.pkts[0], 1);
	/* never had a frame, and not reached yet */
	cr_assert_eq(qp_worker_interval_read(w, 5, &a), QP_IV_NONE);
	cr_assert_eq(qp_worker_interval_read(w, 2 * QP_IV_SLOTS, &a), QP_IV_NONE);
}

/*
 * The management core copies a slot while the worker runs on: a copy the
 * worker rewrote meanwhile (for the interval 8 later) must come back LOST,
 * never as figures. The worker puts 1 + (k % 7) frames in interval k; every
 * copy taken as read must hold exactly that.
 */
static volatile int race_stop;
static uint64_t race_reads, race_lost, race_bad;

static void *race_reader(void *arg)
{
	(void)arg;
	static struct qp_interval_acc a;
	while (!race_stop) {
		uint64_t cur = __atomic_load_n(&w->cur_iv, __ATOMIC_ACQUIRE);
		for (uint64_t k = cur > QP_IV_SLOTS ? cur - QP_IV_SLOTS : 0; k < cur; k++) {
			int r = qp_worker_interval_read(w, k, &a);
			if (r == QP_IV_READ) {
				race_reads++;
				race_bad += a.pkts[0] + a.pkts[1] != 1 + k % 7;
			} else if (r == QP_IV_LOST) {
				race_lost++;
			}
		}
	}
	return NULL;
}

Test(worker, a_slot_rewritten_during_its_copy_is_never_read_as_figures, .timeout = 60)
{
	/* one frame to copy: its time is all that changes */
	struct qp_frame f = tcp(C, 1, S, 2, 0x10, 1, 1, 0, T0);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, race_reader, NULL), 0);
	const uint64_t n = 200000;
	for (uint64_t k = 0; k < n; k++)
		for (uint64_t j = 0; j <= k % 7; j++) {
			f.ts_ns = T0 + k * 1000 * MS + j;
			qp_worker_process(w, &cfg, &f, 1);
		}
	race_stop = 1;
	pthread_join(th, NULL);
	cr_log_info("%llu copies read, %llu found rewritten", (unsigned long long)race_reads,
		    (unsigned long long)race_lost);
	cr_assert_gt(race_reads, 0);
	cr_assert_eq(race_bad, 0, "%llu copies of %llu were torn or of another interval",
		     (unsigned long long)race_bad, (unsigned long long)race_reads);
}

Test(worker, timestamps_going_back_are_counted_and_never_move_intervals_back)
{
	struct qp_frame f[] = {
		tcp(C, 1, S, 2, 0x10, 1, 1, 0, T0 + 2500 * MS),
		tcp(C, 1, S, 2, 0x10, 1, 1, 0, T0 + 100 * MS),
	};
	qp_worker_process(w, &cfg, f, 2);
	cr_assert_eq(w->cnt.ts_backwards, 1);
	cr_assert_eq(w->cur_iv, 2);
	struct qp_interval_acc a;
	cr_assert(qp_worker_interval_read(w, 2, &a));
	cr_assert_eq(a.pkts[0], 2);
	qp_flow_table_flush(w->flows, keep, NULL);
	cr_assert_eq(recs[0].first_ns, T0 + 2500 * MS);
	cr_assert_eq(recs[0].last_ns, T0 + 2500 * MS);
}

Test(worker, a_full_table_evicts_and_keeps_counting)
{
	qp_worker_fini(w);
	cr_assert_eq(qp_worker_init(w, 0, 2, 0), 0);
	w->export_fn = keep;
	struct qp_frame f[] = {
		tcp("10.0.0.1", 1, S, 2, 0x10, 1, 1, 0, T0),
		tcp("10.0.0.2", 1, S, 2, 0x10, 1, 1, 0, T0 + 1),
		tcp("10.0.0.3", 1, S, 2, 0x10, 1, 1, 0, T0 + 2),
	};
	qp_worker_process(w, &cfg, f, 3);
	cr_assert_eq(nrec, 1);
	cr_assert_eq(why[0], QP_FLOW_END_EVICTED);
	expect_src_is(&recs[0], "10.0.0.1");
	cr_assert_eq(w->cnt.measured, 3);
	cr_assert_eq(w->cnt.unattributed, 0);
}

Test(worker, idle_flows_expire_on_packet_time)
{
	cfg.idle_ns = 10 * MS;
	struct qp_frame f[] = {
		tcp("10.0.0.1", 1, S, 2, 0x10, 1, 1, 0, T0),
		tcp("10.0.0.2", 1, S, 2, 0x10, 1, 1, 0, T0 + 20 * MS),
	};
	qp_worker_process(w, &cfg, f, 2);
	qp_worker_expire(w, &cfg, w->last_ts, 1u << 20);
	cr_assert_eq(nrec, 1);
	cr_assert_eq(why[0], QP_FLOW_END_IDLE);
	expect_src_is(&recs[0], "10.0.0.1");
}

/*
 * The walk is skipped while no flow can have timed out, judged from the
 * lowest time measured: a flow whose frame went back in time (in a later
 * burst, and in the middle of one) still ends when its idle time has
 * passed, though the latest frame is well within the timeout. And nothing
 * ends before its time.
 */
Test(worker, a_flow_from_a_frame_back_in_time_still_idles_out)
{
	cfg.idle_ns = 50 * MS;
	struct qp_frame a[] = {
		tcp("10.0.0.1", 1, S, 2, 0x10, 1, 1, 0, T0 + 100 * MS),
	};
	struct qp_frame b[] = {
		tcp("10.0.0.2", 1, S, 2, 0x10, 1, 1, 0, T0 + 110 * MS),
		tcp("10.0.0.3", 1, S, 2, 0x10, 1, 1, 0, T0 + 20 * MS), /* back */
		tcp("10.0.0.2", 1, S, 2, 0x10, 1, 1, 0, T0 + 120 * MS),
	};
	qp_worker_process(w, &cfg, a, 1);
	qp_worker_process(w, &cfg, b, 3);
	cr_assert_eq(w->cnt.ts_backwards, 1);
	qp_worker_expire(w, &cfg, T0 + 69 * MS, 1u << 20);
	cr_assert_eq(nrec, 0, "10.0.0.3 has 49 ms of idle time");
	/* 25 ms after 10.0.0.1's, 5 after the latest frame */
	qp_worker_expire(w, &cfg, T0 + 125 * MS, 1u << 20);
	cr_assert_eq(nrec, 1);
	cr_assert_eq(why[0], QP_FLOW_END_IDLE);
	expect_src_is(&recs[0], "10.0.0.3");
	qp_worker_expire(w, &cfg, T0 + 150 * MS, 1u << 20);
	cr_assert_eq(nrec, 2);
	expect_src_is(&recs[1], "10.0.0.1");
}

/* One RTP packet of the stream sent from port sp (ssrc sp), processed at once. */
static void rtp_pkt(uint16_t sp, uint16_t seq, uint64_t ts)
{
	struct pb b;
	pb_init(&b);
	pb_payload(&b, 160);
	uint8_t h[12] = {0x80, 0, (uint8_t)(seq >> 8), (uint8_t)seq, 0, 0, (uint8_t)(seq >> 8),
			 (uint8_t)seq, 0, 0, (uint8_t)(sp >> 8), (uint8_t)sp};
	pb_push_raw(&b, h, 12);
	pb_push_udp(&b, sp, 30000);
	pb_push_ip4(&b, C, S, 1, 0);
	pb_push_eth(&b);
	struct qp_frame f = {pb_data(&b), pb_len(&b), pb_len(&b), ts};
	qp_worker_process(w, &cfg, &f, 1);
}

static const struct qp_iv_rtp *iv_stream(const struct qp_interval_acc *a, uint32_t ssrc)
{
	for (uint32_t i = 0; i < a->rtp_nstreams; i++)
		if (a->rtp_streams[i].ssrc == ssrc)
			return &a->rtp_streams[i];
	return NULL;
}

Test(worker, rtp_streams_of_an_interval_are_itemised_up_to_the_limit_and_counted_beyond)
{
	cfg.rtp.port_lo = 30000;
	cfg.rtp.port_hi = 30000;
	const unsigned int n = QP_IV_RTP_STREAMS + 44;
	for (unsigned int i = 0; i < n; i++)
		rtp_pkt((uint16_t)(20000 + i), 7, T0 + i * US);
	rtp_pkt(20000, 8, T0 + 500 * MS);              /* itemised: its entry grows */
	rtp_pkt((uint16_t)(20000 + n - 1), 8, T0 + 501 * MS); /* not itemised: counted once */
	static struct qp_interval_acc a;
	cr_assert(qp_worker_interval_read(w, 0, &a));
	cr_assert_eq(a.rtp_nstreams, QP_IV_RTP_STREAMS);
	cr_assert_eq(a.rtp_streams_over, 44);
	cr_assert_eq(a.rtp_received[0], n + 2, "the direction totals count every stream");
	const struct qp_iv_rtp *s = iv_stream(&a, 20000);
	cr_assert_not_null(s);
	cr_assert_eq(s->received, 2);
	cr_assert_eq(s->expected, 2);
	cr_assert_eq(s->jitter_n, 1);
	cr_assert_null(iv_stream(&a, 20000 + n - 1));
	/* the next interval starts a new list: the last stream comes first */
	rtp_pkt((uint16_t)(20000 + n - 1), 10, T0 + 1000 * MS);
	cr_assert(qp_worker_interval_read(w, 1, &a));
	cr_assert_eq(a.rtp_nstreams, 1);
	cr_assert_eq(a.rtp_streams_over, 0);
	cr_assert_eq(a.rtp_streams[0].ssrc, 20000 + n - 1);
	cr_assert_eq(a.rtp_streams[0].received, 1);
	cr_assert_eq(a.rtp_streams[0].expected, 2, "sequence number 9 is missing");
	cr_assert_eq(a.rtp_streams[0].dir, 0);
}

/*
 * A burst parsed once for several measurements gives each the figures of
 * its own parse: counters, intervals and flows, for the parse's key parts and
 * (its own parse then) for others.
 */
Test(worker, a_burst_parsed_once_gives_each_measurement_its_own_figures)
{
	struct qp_frame f[] = {
		tcp(C, 1000, S, 80, 0x02, 100, 0, 0, T0),
		tcp(S, 80, C, 1000, 0x12, 500, 101, 0, T0 + 10 * MS),
		tcp(C, 1000, S, 80, 0x10, 101, 501, 0, T0 + 11 * MS),
		tcp(C, 1000, S, 80, 0x18, 101, 501, 300, T0 + 20 * MS),
		tcp(S, 80, C, 1000, 0x10, 501, 401, 0, T0 + 35 * MS),
		tcp(C, 1001, S, 443, 0x02, 7, 0, 0, T0 + 1500 * MS),
	};
	unsigned int n = sizeof(f) / sizeof(f[0]);
	struct qp_parse_ctx *pc = malloc(sizeof(*pc));
	struct qp_parsed *pp = malloc(sizeof(*pp));
	cr_assert(pc && pp);
	qp_parse_ctx_init(pc);
	for (int variant = 0; variant < 2; variant++) {
		struct qp_worker *own = aligned_alloc(64, sizeof(*own));
		struct qp_worker *shared = aligned_alloc(64, sizeof(*shared));
		cr_assert_eq(qp_worker_init(own, 0, 1024, 0), 0);
		cr_assert_eq(qp_worker_init(shared, 0, 1024, 0), 0);
		struct qp_measure_cfg c2 = cfg;
		/* variant 1: a measurement of other key parts than the parse's */
		c2.flow_key = variant ? 0 : cfg.flow_key;
		qp_worker_process(own, &c2, f, n);
		qp_parse_burst(pc, QP_LINK_ETHERNET, cfg.flow_key, f, n, pp);
		cr_assert_eq(pp->n, n);
		qp_worker_process_parsed(shared, &c2, f, pp);
		cr_assert(memcmp(&own->cnt, &shared->cnt, sizeof(own->cnt)) == 0, "variant %d", variant);
		cr_assert_eq(shared->cnt.measured, n);
		for (uint64_t k = 0; k < 2; k++) {
			static struct qp_interval_acc a, b;
			cr_assert_eq(qp_worker_interval_read(own, k, &a), QP_IV_READ);
			cr_assert_eq(qp_worker_interval_read(shared, k, &b), QP_IV_READ);
			cr_assert(memcmp(&a, &b, offsetof(struct qp_interval_acc, rtp_streams)) == 0,
				  "variant %d interval %llu", variant, (unsigned long long)k);
		}
		cr_assert_eq(qp_flow_table_count(own->flows), 2);
		cr_assert_eq(qp_flow_table_count(shared->flows), 2);
		qp_worker_fini(own);
		qp_worker_fini(shared);
		free(own);
		free(shared);
	}
	free(pc);
	free(pp);
}

/* One RTP packet of SSRC ssrc on the port pair 40000 <-> 30000, sent by C (rev 0) or S (rev 1). */
static void rtp_ssrc(int rev, uint32_t ssrc, uint16_t seq, uint64_t ts)
{
	struct pb b;
	pb_init(&b);
	pb_payload(&b, 160);
	uint32_t rts = (uint32_t)seq * 160;
	uint8_t h[12] = {0x80,
			 0,
			 (uint8_t)(seq >> 8),
			 (uint8_t)seq,
			 (uint8_t)(rts >> 24),
			 (uint8_t)(rts >> 16),
			 (uint8_t)(rts >> 8),
			 (uint8_t)rts,
			 (uint8_t)(ssrc >> 24),
			 (uint8_t)(ssrc >> 16),
			 (uint8_t)(ssrc >> 8),
			 (uint8_t)ssrc};
	pb_push_raw(&b, h, 12);
	pb_push_udp(&b, rev ? 30000 : 40000, rev ? 40000 : 30000);
	pb_push_ip4(&b, rev ? S : C, rev ? C : S, 1, 0);
	pb_push_eth(&b);
	struct qp_frame f = {pb_data(&b), pb_len(&b), pb_len(&b), ts};
	qp_worker_process(w, &cfg, &f, 1);
}

static const struct qp_rtp_dir *stream_of(const struct qp_flow_cold *c, uint32_t ssrc, int dir)
{
	for (int k = 0; k < QP_FLOW_RTP; k++)
		if (c->rtp[k].state == 2 && c->rtp[k].ssrc == ssrc && c->rtp_dir[k] == dir)
			return &c->rtp[k];
	return NULL;
}

/*
 * Several SSRCs on one port pair and direction (WebRTC BUNDLE, a sender that
 * changes SSRC; issue 15 item 6): each its own stream, found by the
 * heuristic's probation even when the other's packets come between; beyond
 * QP_FLOW_RTP streams a flow's packets are counted, not itemised.
 */
Test(worker, every_ssrc_of_a_port_pair_is_a_stream_of_its_own)
{
	uint64_t t = T0;
	/* audio and video interleaved, 20 ms apart each, video with one loss */
	for (uint16_t i = 0; i < 20; i++) {
		rtp_ssrc(0, 0xa0d10, (uint16_t)(100 + i), t += 10 * MS);
		if (i != 12)
			rtp_ssrc(0, 0x51de0, (uint16_t)(7000 + i), t += 10 * MS);
	}
	/* the far side answers with one stream; the near side's audio changes SSRC */
	for (uint16_t i = 0; i < 10; i++) {
		rtp_ssrc(1, 0xfa7, (uint16_t)(300 + i), t += 10 * MS);
		rtp_ssrc(0, 0xa0d11, (uint16_t)(50 + i), t += 10 * MS);
	}
	/* a fifth SSRC finds every slot a stream: counted, not itemised */
	for (uint16_t i = 0; i < 6; i++)
		rtp_ssrc(0, 0xbeef, (uint16_t)(1 + i), t += 10 * MS);
	struct qp_interval_acc a;
	cr_assert(qp_worker_interval_read(w, 0, &a));
	qp_flow_table_flush(w->flows, keep, NULL);
	cr_assert_eq(nrec, 1);
	const struct qp_flow_cold *c = &colds[0];
	const struct qp_rtp_dir *au = stream_of(c, 0xa0d10, 0), *vi = stream_of(c, 0x51de0, 0);
	const struct qp_rtp_dir *far = stream_of(c, 0xfa7, 1), *au2 = stream_of(c, 0xa0d11, 0);
	cr_assert(au && vi && far && au2, "four streams");
	cr_assert_eq(au->received, 20);
	cr_assert_eq(qp_rtp_lost(au), 0);
	cr_assert_eq(vi->received, 19);
	cr_assert_eq(qp_rtp_expected(vi), 20);
	cr_assert_eq(qp_rtp_lost(vi), 1, "the video's one loss, not the audio's packets between");
	cr_assert_eq(far->received, 10);
	cr_assert_eq(au2->received, 10);
	cr_assert_eq(c->rtp_over, 6);
	/* the interval itemises the four streams by SSRC and direction */
	cr_assert_eq(a.rtp_nstreams, 4);
	cr_assert_eq(a.rtp_received[0], 20 + 19 + 10);
	cr_assert_eq(a.rtp_received[1], 10);
	cr_assert_eq(iv_stream(&a, 0x51de0)->expected, 20);
	cr_assert_eq(iv_stream(&a, 0xfa7)->dir, 1);
}

/*
 * An RTP stream's packets in sequence (past the flow's first 8, they take
 * the worker's short way to their stream): the stream, the interval and the
 * flow's arrival gaps each get every one of them.
 */
Test(worker, a_streams_packets_in_sequence_count_everywhere_they_belong)
{
	uint64_t t = T0;
	for (uint16_t i = 0; i < 12; i++)
		rtp_ssrc(0, 0x5eed, (uint16_t)(65530 + i), t += (i == 10 ? 35 : 20) * MS);
	struct qp_interval_acc a;
	cr_assert(qp_worker_interval_read(w, 0, &a));
	qp_flow_table_flush(w->flows, keep, NULL);
	cr_assert_eq(nrec, 1);
	const struct qp_rtp_dir *s = stream_of(&colds[0], 0x5eed, 0);
	cr_assert_not_null(s);
	cr_assert_eq(s->received, 12);
	cr_assert_eq(qp_rtp_expected(s), 12, "across the sequence wrap");
	/* 15 ms late at 8 kHz: 120 units, 1/16 of it; then 1/16 less */
	cr_assert_eq(s->jitter_max, 7.5);
	cr_assert_eq(s->jitter, 7.5 - 7.5 / 16);
	/* the helper's RTP timestamps (160 a sequence number) wrap with the
	 * sequence: a step back of 1,310 s, no sample (11 steps, 10 samples) */
	cr_assert_eq(s->ts_jumps, 1);
	cr_assert_eq(s->jitter_n, 10);
	const struct qp_iv_rtp *v = iv_stream(&a, 0x5eed);
	cr_assert_not_null(v);
	cr_assert_eq(v->received, 12);
	cr_assert_eq(v->expected, 12);
	cr_assert_eq(v->jitter_n, 10);
	cr_assert_eq(v->jitter_max, 7.5);
	cr_assert_eq(a.rtp_received[0], 12);
	cr_assert_eq(a.rtp_expected[0], 12);
	cr_assert_eq(a.pkts[0], 12);
	const struct qp_iat *g = &recs[0].iat;
	cr_assert_eq(g->n[0], 11);
	cr_assert_eq(g->sum[0], 235 * MS);
	cr_assert_eq(g->min[0], qp_iat_enc(20 * MS));
	cr_assert_eq(g->max[0], qp_iat_enc(35 * MS));
	cr_assert_eq(g->n[1], 0);
}
