/*
 * qp_replay: the worker's per-packet path on one core, fed from memory.
 *
 *   qp_replay MIX [PACKETS] [--measurements N [--private]] [--active-timeout US [--export]]
 *             [--capture [BIT/S]]
 *             [--metrics LIST] [--lazy]
 *                               MIX: udp64-1k, udp64-100k, udp64-1m, imix-tcp, rtp,
 *                                    dns, quic, tls, mpegts
 *
 * dns: 100,000 clients asking a resolver in turn, each query answered by the
 * next frame (a response-time sample every other frame; 2,000,000 frames
 * are 10 queries a client); quic: 1,000 connections,
 * an Initial each, then 1-RTT packets both ways whose spin bit flips every 20
 * (an RTT sample every 20 frames a connection); tls: imix-tcp whose 10,000
 * connections each begin with a ClientHello, a ServerHello and the client's
 * first application data. --metrics LIST (as qprobe's) leaves the other
 * families out: the same mix with and without a family gives its cost.
 *
 * --active-timeout US ends each flow's record every US microseconds of traffic
 * time (20 ns a frame), as a probe's active timeout does; with --export each
 * ended record goes where a live IPFIX measurement's go (qp_flow_ring_export:
 * copied into the worker's ring, taken off it after each burst): the two runs
 * side by side give the worker's cost of the export. --capture: pcap results,
 * every measured frame offered to a capture ring as a live capture's are (256
 * bytes, a budget of 100 Mbit/s unless given, on the frames' 20 ns spacing:
 * most frames are over it), the ring emptied after each burst.
 *
 * The flows live in a pool faulted in before the run, transparent huge pages
 * advised, as a probe's lcore pool is at start-up; --lazy: pages faulted in
 * as flows arrive, as offline (the two side by side give what the pool's
 * start-up touch is worth).
 *
 * With --measurements N, N measurements run over the same frames, each with a
 * filter of its own that every frame passes ("not host 192.0.2.K"), as N
 * controllers' measurements of one link would (the filters need DPDK's EAL:
 * it is started without hugepages). They share one flow table, as a probe's
 * do (qp_group_process; at most 31); with --private each has a table of its
 * own (qp_worker_process_parsed after one parse, as before tables were
 * shared).
 *
 * Frames are prepared once in a compact store. The timed loop does what a
 * NIC and a worker lcore do: per burst of 32 it writes the next frames into
 * a ring of 2048 mbuf-sized buffers (2176-byte stride, 128-byte headroom,
 * as DMA would) and hands the burst to qp_worker_process() with one
 * timestamp per burst, all metrics on. A reference loop that only writes
 * the buffers runs in the same process; the worker's own cost is the
 * difference.
 *
 * Prints Mpps, ns and TSC cycles per packet for both loops. Instructions per
 * packet: run under `valgrind --tool=callgrind --toggle-collect=qp_worker_process`
 * (bench/replay.sh does), which counts only the worker's path.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>

#include "../tests/gen/qp_dnsgen.h"
#include "../tests/gen/qp_pcapw.h"
#include "../tests/gen/qp_tsgen.h"
#include "qp_filter.h"
#include "qp_flow_ring.h"
#include "qp_group_dp.h"
#include "qp_worker_dp.h"

#define MEAS_MAX 64

#define BURST 32
#define RING 2048
#define STRIDE 2176
#define HEADROOM 128
#define SNAP 128 /* bytes of each frame kept in the store: every header the worker reads */
#define SNAP_WHOLE 1536 /* a mix whose payloads are read whole (mpegts) */

struct store {
	uint8_t *data;  /* n frames of snap bytes */
	size_t snap;
	uint32_t *caplen, *wirelen;
	size_t n;
};

static void put(struct store *s, size_t i, struct pb *b)
{
	uint32_t len = pb_len(b);
	s->caplen[i] = len < s->snap ? len : (uint32_t)s->snap;
	s->wirelen[i] = len;
	memcpy(s->data + i * s->snap, pb_data(b), s->caplen[i]);
}

static void store_alloc(struct store *s, size_t n)
{
	s->n = n;
	if (!s->snap)
		s->snap = SNAP;
	s->data = aligned_alloc(64, n * s->snap);
	s->caplen = malloc(n * sizeof(uint32_t));
	s->wirelen = malloc(n * sizeof(uint32_t));
	if (!s->data || !s->caplen || !s->wirelen) {
		fprintf(stderr, "qp_replay: no memory for %zu frames\n", n);
		exit(1);
	}
}

static void addr(char *buf, size_t len, int net, uint32_t host)
{
	snprintf(buf, len, "10.%d.%u.%u", net + (int)((host >> 16) & 0x3f), (host >> 8) & 0xff,
		 host & 0xff);
}

/* 64-byte UDP frames over nflows flows, flows in a shuffled order repeated. */
static void mix_udp(struct store *s, size_t npkts, uint32_t nflows)
{
	store_alloc(s, npkts);
	uint32_t *perm = malloc(nflows * sizeof(*perm));
	for (uint32_t i = 0; i < nflows; i++)
		perm[i] = i;
	unsigned int seed = 1;
	for (uint32_t i = nflows - 1; i > 0; i--) {
		uint32_t j = (uint32_t)rand_r(&seed) % (i + 1), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (size_t i = 0; i < npkts; i++) {
		uint32_t f = perm[i % nflows];
		char a[32], b[32];
		addr(a, sizeof(a), 0, f);
		addr(b, sizeof(b), 64, f);
		struct pb p;
		pb_init(&p);
		pb_payload(&p, 18); /* 14 + 20 + 8 + 18 = 60, 64 on the wire with the FCS */
		pb_push_udp(&p, (uint16_t)(10000 + (f & 0x3fff)), 5000);
		pb_push_ip4(&p, a, b, (uint16_t)i, 0);
		pb_push_eth(&p);
		put(s, i, &p);
	}
	free(perm);
}

/* TCP over 10,000 connections, IMIX sizes (7 x 64, 4 x 576, 1 x 1500 bytes): a
 * data segment and its ACK per exchange, so RTT is sampled on every other frame. */
static void mix_tcp_tls(struct store *s, size_t npkts, int tls);

static void mix_tcp(struct store *s, size_t npkts)
{
	mix_tcp_tls(s, npkts, 0);
}

/* A TLS record header and the start of its content (a hello's type and length). */
static uint32_t tls_start(uint8_t *m, uint8_t type, uint8_t hs, uint32_t len)
{
	m[0] = type;
	m[1] = 3;
	m[2] = 3;
	m[3] = (uint8_t)(len >> 8);
	m[4] = (uint8_t)len;
	if (!hs)
		return 5;
	m[5] = hs;
	m[6] = 0;
	m[7] = (uint8_t)((len - 4) >> 8);
	m[8] = (uint8_t)(len - 4);
	m[9] = 3;
	m[10] = 3;
	return 11;
}

static void mix_tcp_tls(struct store *s, size_t npkts, int tls)
{
	const uint32_t nflows = 10000;
	static const uint32_t imix[12] = {64, 64, 64, 64, 64, 64, 64, 576, 576, 576, 576, 1500};
	store_alloc(s, npkts);
	uint32_t *seq = calloc(nflows, sizeof(*seq)), *sseq = calloc(nflows, sizeof(*sseq));
	uint8_t *n_ex = calloc(nflows, 1);
	unsigned int seed = 2;
	for (size_t i = 0; i < npkts; i += 2) {
		uint32_t f = (uint32_t)rand_r(&seed) % nflows;
		char a[32], b[32];
		addr(a, sizeof(a), 0, f);
		addr(b, sizeof(b), 64, f);
		uint32_t wire = imix[(i / 2) % 12], pay = wire - 58;
		/* tls: the exchange's first segment a ClientHello (its answer
		 * carries the ServerHello), the second the client's data */
		int ex = tls ? n_ex[f] : 2;
		if (ex < 2)
			n_ex[f]++;
		struct pb p;
		pb_init(&p);
		if (ex == 0) {
			uint8_t m[16];
			uint32_t h = tls_start(m, 22, 1, 512);
			pb_payload(&p, 517 - h);
			pb_push_raw(&p, m, h);
			pay = 517;
		} else if (ex == 1) {
			uint8_t m[16];
			uint32_t h = tls_start(m, 23, 0, pay - 5);
			pb_payload(&p, pay - h);
			pb_push_raw(&p, m, h);
		} else {
			pb_payload(&p, pay);
		}
		pb_push_tcp(&p, (uint16_t)(20000 + (f & 0x3fff)), 443, 1000 + seq[f], 1, 0x18, 500);
		pb_push_ip4(&p, a, b, 1, 0x4000);
		pb_push_eth(&p);
		put(s, i, &p);
		seq[f] += pay;
		if (i + 1 < npkts) {
			pb_init(&p);
			uint32_t spay = 0;
			if (ex == 0) { /* the ServerHello */
				uint8_t m[16];
				uint32_t h = tls_start(m, 22, 2, 90);
				pb_payload(&p, 95 - h);
				pb_push_raw(&p, m, h);
				spay = 95;
			}
			pb_push_tcp(&p, 443, (uint16_t)(20000 + (f & 0x3fff)), 1 + sseq[f], 1000 + seq[f],
				    spay ? 0x18 : 0x10, 500);
			sseq[f] += spay;
			pb_push_ip4(&p, b, a, 1, 0x4000);
			pb_push_eth(&p);
			put(s, i + 1, &p);
		}
	}
	free(seq);
	free(sseq);
	free(n_ex);
}

/* 100,000 DNS clients: a query, then its answer, each client in turn. */
static void mix_dns(struct store *s, size_t npkts)
{
	const uint32_t nflows = 100000;
	store_alloc(s, npkts);
	for (size_t i = 0; i < npkts; i++) {
		uint32_t f = (uint32_t)((i / 2) % nflows), k = (uint32_t)(i / 2 / nflows);
		char a[32], name[40];
		addr(a, sizeof(a), 0, f);
		snprintf(name, sizeof(name), "h%u.example.com", f % 977);
		uint8_t m[128];
		uint32_t n = dg_msg(m, (uint16_t)(f + k), (int)(i & 1), 0, 0, name, 1, 0);
		struct pb p;
		pb_init(&p);
		pb_push_raw(&p, m, n);
		if (i & 1) {
			pb_push_udp(&p, 53, (uint16_t)(10000 + (f & 0x3fff)));
			pb_push_ip4(&p, "10.99.0.53", a, (uint16_t)i, 0);
		} else {
			pb_push_udp(&p, (uint16_t)(10000 + (f & 0x3fff)), 53);
			pb_push_ip4(&p, a, "10.99.0.53", (uint16_t)i, 0);
		}
		pb_push_eth(&p);
		put(s, i, &p);
	}
}

/* 1,000 QUIC connections: an Initial, then 1-RTT packets both ways, the spin bit flipping every 20. */
static void mix_quic(struct store *s, size_t npkts)
{
	const uint32_t nflows = 1000;
	store_alloc(s, npkts);
	for (size_t i = 0; i < npkts; i++) {
		uint32_t f = (uint32_t)(i % nflows), k = (uint32_t)(i / nflows);
		char a[32], b[32];
		addr(a, sizeof(a), 0, f);
		addr(b, sizeof(b), 64, f);
		uint8_t q[64];
		uint32_t n;
		int client = !(k & 1);
		if (k == 0) { /* the client's Initial */
			static const uint8_t ini[] = {0xC1, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x44, 0xd0};
			memcpy(q, ini, sizeof(ini));
			n = sizeof(ini);
		} else {
			q[0] = (uint8_t)(0x41 | ((k / 20) & 1) << 5);
			memset(q + 1, 0x5c, 40);
			n = 41;
		}
		struct pb p;
		pb_init(&p);
		pb_payload(&p, k == 0 ? 1182 : 1200 - 41);
		pb_push_raw(&p, q, n);
		if (client) {
			pb_push_udp(&p, (uint16_t)(30000 + (f & 0x3fff)), 443);
			pb_push_ip4(&p, a, b, (uint16_t)i, 0);
		} else {
			pb_push_udp(&p, 443, (uint16_t)(30000 + (f & 0x3fff)));
			pb_push_ip4(&p, b, a, (uint16_t)i, 0);
		}
		pb_push_eth(&p);
		put(s, i, &p);
	}
}

/* 200 IPTV channels: UDP datagrams of 7 transport stream packets, interleaved. */
static void mix_mpegts(struct store *s, size_t npkts)
{
	const uint32_t nchan = 200, n = 7 * 286; /* the stream wraps after whole datagrams */
	uint8_t *ts = tsg_synthetic(n);
	if (!ts)
		abort();
	s->snap = SNAP_WHOLE;
	store_alloc(s, npkts);
	for (size_t i = 0; i < npkts; i++) {
		uint32_t f = (uint32_t)(i % nchan), k = (uint32_t)(i / nchan);
		char a[32], b[32];
		addr(a, sizeof(a), 0, f);
		snprintf(b, sizeof(b), "239.1.%u.%u", f >> 8, f & 0xff);
		struct pb p;
		pb_init(&p);
		pb_push_raw(&p, ts + (size_t)((k * 7) % n) * QP_TS_PKT, 7 * QP_TS_PKT);
		pb_push_udp(&p, 5000, 5000);
		pb_push_ip4(&p, a, b, (uint16_t)i, 0);
		pb_push_eth(&p);
		put(s, i, &p);
	}
	free(ts);
}

/* 1,000 G.711 streams (214-byte frames, 20 ms of audio each), interleaved. */
static void mix_rtp(struct store *s, size_t npkts)
{
	const uint32_t nstreams = 1000;
	store_alloc(s, npkts);
	for (size_t i = 0; i < npkts; i++) {
		uint32_t f = (uint32_t)(i % nstreams), k = (uint32_t)(i / nstreams);
		char a[32], b[32];
		addr(a, sizeof(a), 0, f);
		addr(b, sizeof(b), 64, f);
		uint8_t h[12] = {0x80, 0};
		uint16_t sq = (uint16_t)(k + f);
		uint32_t ts = k * 160, ssrc = 0x1000 + f;
		h[2] = (uint8_t)(sq >> 8);
		h[3] = (uint8_t)sq;
		for (int j = 0; j < 4; j++) {
			h[4 + j] = (uint8_t)(ts >> (24 - 8 * j));
			h[8 + j] = (uint8_t)(ssrc >> (24 - 8 * j));
		}
		struct pb p;
		pb_init(&p);
		pb_payload(&p, 160);
		pb_push_raw(&p, h, 12);
		pb_push_udp(&p, (uint16_t)(16384 + 2 * (f & 0x1fff)), 16384);
		pb_push_ip4(&p, a, b, (uint16_t)i, 0);
		pb_push_eth(&p);
		put(s, i, &p);
	}
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static inline uint64_t tsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* The NIC's part: the next burst's frames written into ring buffers. */
static inline void dma(const struct store *s, size_t at, uint8_t *ring, unsigned int *slot,
		       struct qp_frame *fr, unsigned int n, uint64_t ts)
{
	for (unsigned int k = 0; k < n; k++) {
		size_t i = at + k;
		uint8_t *buf = ring + (size_t)*slot * STRIDE + HEADROOM;
		*slot = (*slot + 1) % RING;
		memcpy(buf, s->data + i * s->snap, s->snap);
		fr[k].data = buf;
		fr[k].caplen = s->caplen[i];
		fr[k].wirelen = s->wirelen[i];
		fr[k].ts_ns = ts;
	}
}

int main(int argc, char **argv)
{
	unsigned int nmeas = 0; /* 0: one measurement without a filter */
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--measurements")) {
			nmeas = (unsigned int)strtoul(argv[i + 1], NULL, 10);
			if (nmeas < 1 || nmeas > MEAS_MAX) {
				fprintf(stderr, "qp_replay: --measurements: 1 to %d\n", MEAS_MAX);
				return 1;
			}
			for (int k = i; k + 2 <= argc; k++)
				argv[k] = argv[k + 2];
			argc -= 2;
			break;
		}
	uint64_t active_ns = 0;
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--active-timeout")) {
			active_ns = strtoull(argv[i + 1], NULL, 10) * 1000u;
			for (int k = i; k + 2 <= argc; k++)
				argv[k] = argv[k + 2];
			argc -= 2;
			break;
		}
	int export = 0;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--export")) {
			export = 1;
			for (int k = i; k + 1 <= argc; k++)
				argv[k] = argv[k + 1];
			argc--;
			break;
		}
	uint64_t cap_bps = 0;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--capture")) {
			int k = i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9';
			cap_bps = k ? (uint64_t)strtod(argv[i + 1], NULL) : QP_CAP_RATE_DEFAULT;
			for (int j = i; j + 1 + k <= argc; j++)
				argv[j] = argv[j + 1 + k];
			argc -= 1 + k;
			break;
		}
	uint32_t metrics_off = 0;
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--metrics")) {
			uint32_t on = 0;
			char *copy = strdup(argv[i + 1]), *save = NULL;
			for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				int b = qp_metrics_family(t);
				if (b < 0) {
					fprintf(stderr, "qp_replay: --metrics: '%s' is not one of " QP_METRIC_NAMES "\n", t);
					return 1;
				}
				on |= (uint32_t)b;
			}
			free(copy);
			metrics_off = ~on & QP_METRICS_ALL;
			for (int k = i; k + 2 <= argc; k++)
				argv[k] = argv[k + 2];
			argc -= 2;
			break;
		}
	int private = 0, lazy = 0;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--private") || !strcmp(argv[i], "--lazy")) {
			*(argv[i][2] == 'p' ? &private : &lazy) = 1;
			for (int k = i; k + 1 <= argc; k++)
				argv[k] = argv[k + 1];
			argc--;
			i--;
		}
	if (nmeas > QP_GROUP_SLOTS && !private) {
		fprintf(stderr, "qp_replay: --measurements: at most %d share a table (or --private)\n",
			QP_GROUP_SLOTS);
		return 1;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: qp_replay udp64-1k|udp64-100k|udp64-1m|imix-tcp|rtp|dns|quic|tls|mpegts "
				"[PACKETS] [--measurements N [--private]] [--active-timeout US [--export]] [--capture [BIT/S]] "
				"[--metrics LIST] [--lazy]\n");
		return 1;
	}
	const char *mix = argv[1];
	size_t npkts = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000000;
	if (npkts < BURST) {
		fprintf(stderr, "qp_replay: PACKETS: at least %d\n", BURST);
		return 1;
	}
	struct store s = {0};
	uint32_t max_flows;
	if (!strcmp(mix, "udp64-1k"))
		mix_udp(&s, npkts, 1000), max_flows = 4096;
	else if (!strcmp(mix, "udp64-100k"))
		mix_udp(&s, npkts, 100000), max_flows = 1 << 18;
	else if (!strcmp(mix, "udp64-1m"))
		mix_udp(&s, npkts, 1000000), max_flows = 1 << 21;
	else if (!strcmp(mix, "imix-tcp"))
		mix_tcp(&s, npkts), max_flows = 1 << 15;
	else if (!strcmp(mix, "rtp"))
		mix_rtp(&s, npkts), max_flows = 4096;
	else if (!strcmp(mix, "dns"))
		mix_dns(&s, npkts), max_flows = 1 << 18;
	else if (!strcmp(mix, "quic"))
		mix_quic(&s, npkts), max_flows = 4096;
	else if (!strcmp(mix, "tls"))
		mix_tcp_tls(&s, npkts, 1), max_flows = 1 << 15;
	else if (!strcmp(mix, "mpegts"))
		mix_mpegts(&s, npkts), max_flows = 4096;
	else {
		fprintf(stderr, "qp_replay: unknown mix '%s'\n", mix);
		return 1;
	}
	if (nmeas) {
		char *eal[] = {argv[0], "--no-huge", "-m", "64", "--no-shconf", "--no-pci",
			       "--log-level=error", "--no-telemetry", NULL};
		if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
			fprintf(stderr, "qp_replay: cannot start DPDK's EAL for the filters\n");
			return 1;
		}
	}
	unsigned int nm = nmeas ? nmeas : 1;
	uint8_t *ring = aligned_alloc(64, (size_t)RING * STRIDE);
	struct qp_worker *ws[MEAS_MAX];
	struct qp_measure_cfg cfgs[MEAS_MAX];
	uint64_t ts0 = 1700000000000000000ULL;
	/* (the tls mix's 10,000 connections each take an application block) */
	struct qp_flow_pool_params pool_p = {.flows = max_flows, .dists = 4096, .apps = 1 << 15,
					 .socket = -1, .touch = !lazy};
	struct qp_flow_pool *pools[MEAS_MAX];
	for (unsigned int k = 0; k < nm; k++) {
		ws[k] = aligned_alloc(64, sizeof(*ws[k]));
		/* a table of its own each when private: a pool each */
		pools[k] = k == 0 || private ? qp_flow_pool_create(&pool_p) : NULL;
		if (!ring || !ws[k] || (!pools[k] && (k == 0 || private)) ||
		    qp_worker_init_in(ws[k], 0, pools[k] ? pools[k] : pools[0], max_flows, 0)) {
			fprintf(stderr, "qp_replay: no memory for the worker\n");
			return 1;
		}
		cfgs[k] = (struct qp_measure_cfg){.linktype = QP_LINK_ETHERNET,
						  .base_ns = ts0,
						  .interval_ns = 1000000000ULL,
						  .idle_ns = 120000000000ULL,
						  .active_ns = active_ns,
						  .flow_key = QP_FLOW_KEY_DEFAULT,
						  .metrics_off = metrics_off,
						  .dns_ports = {53},
						  .rtp = {.dynamic_clock_hz = 8000}};
		if (nmeas) {
			char expr[64], err[256];
			snprintf(expr, sizeof(expr), "not host 192.0.2.%u", k + 1);
			cfgs[k].filter = qp_filter_compile(expr, QP_LINK_ETHERNET, err, sizeof(err));
			if (!cfgs[k].filter) {
				fprintf(stderr, "qp_replay: filter '%s': %s\n", expr, err);
				return 1;
			}
		}
	}
	/* shared: one group, one slot each */
	struct qp_group *grp = NULL;
	static struct qp_group_view view;
	if (nmeas && !private) {
		/* the size of one table of its own whatever N: every frame passes every
		 * filter, so the members share the same flows */
		grp = qp_group_create_in(pools[0], max_flows, 0);
		if (!grp) {
			fprintf(stderr, "qp_replay: no memory for the shared table\n");
			return 1;
		}
		view.cfg = &cfgs[0];
		view.n = nm;
		for (unsigned int k = 0; k < nm; k++) {
			qp_worker_fini(ws[k]);
			qp_worker_init_member(ws[k], 0, grp, k, k + 1);
			view.m[k] = (struct qp_group_member){k, k + 1, &cfgs[k], &ws[k]};
		}
		qp_group_view_build(&view);
	}
	struct qp_worker *w = ws[0];
	/* ended records to a ring, as a live IPFIX measurement's workers do */
	struct qp_flow_ring_hook hook = {qp_flow_ring_create(12), &cfgs[0].rtp};
	uint64_t exported = 0;
	if (export)
		for (unsigned int k = 0; k < nm; k++) {
			ws[k]->export_fn = qp_flow_ring_export;
			ws[k]->export_arg = &hook;
		}
	/* pcap results: each worker's frames into a ring, as a live capture's */
	struct qp_cap_ring *caps = cap_bps ? calloc(nm, sizeof(*caps)) : NULL;
	for (unsigned int k = 0; caps && k < nm; k++) {
		if (qp_cap_ring_init(&caps[k], 16384, QP_CAP_SNAP_DEFAULT, cap_bps / 8, NULL)) {
			fprintf(stderr, "qp_replay: no memory for the capture rings\n");
			return 1;
		}
		ws[k]->cap = &caps[k];
		qp_worker_taps_update(ws[k]);
		if (grp)
			qp_group_capturing(grp, 1);
	}
	struct qp_parse_ctx *pctx = malloc(sizeof(*pctx));
	struct qp_parsed *pp = malloc(sizeof(*pp));
	if (!pctx || !pp) {
		fprintf(stderr, "qp_replay: no memory for the parse\n");
		return 1;
	}
	qp_parse_ctx_init(pctx);
	struct qp_frame fr[BURST];
	unsigned int slot = 0;
	size_t whole = npkts / BURST * BURST;

	/* reference: the buffers written, nothing measured */
	uint64_t t0 = now_ns(), c0 = tsc();
	volatile uint8_t sink = 0;
	for (size_t at = 0; at < whole; at += BURST) {
		dma(&s, at, ring, &slot, fr, BURST, ts0 + at * 50);
		sink ^= fr[0].data[0];
	}
	uint64_t ref_ns = now_ns() - t0, ref_c = tsc() - c0;

	/* the worker: 20 ns of traffic time per frame (50 Mpps), a burst per timestamp */
	t0 = now_ns();
	c0 = tsc();
	for (size_t at = 0; at < whole; at += BURST) {
		dma(&s, at, ring, &slot, fr, BURST, ts0 + at * 20);
		if (grp) {
			qp_group_process(grp, &view, 0, fr, BURST, NULL);
		} else if (nm == 1) {
			qp_worker_process(ws[0], &cfgs[0], fr, BURST);
		} else { /* each its own table, one parse for all */
			qp_parse_burst(pctx, QP_LINK_ETHERNET, QP_FLOW_KEY_DEFAULT, fr, BURST, pp);
			for (unsigned int k = 0; k < nm; k++)
				qp_worker_process_parsed(ws[k], &cfgs[k], fr, pp);
		}
		/* the management core's part: taking them off (a head store each) */
		while (export && qp_flow_ring_peek(hook.ring)) {
			qp_flow_ring_pop(hook.ring);
			exported++;
		}
		for (unsigned int k = 0; caps && k < nm; k++)
			while (qp_cap_peek(&caps[k]))
				qp_cap_pop(&caps[k]);
	}
	uint64_t run_ns = now_ns() - t0, run_c = tsc() - c0;

	double n = (double)whole;
	if (nmeas)
		printf("measurements %u (filtered, %s)  ", nmeas, private ? "own tables" : "shared table");
	printf("%-11s %9zu frames  worker+dma %6.2f Mpps %7.1f ns %7.1f cycles/frame  "
	       "dma only %6.1f ns  worker alone %6.2f Mpps %6.1f ns %6.1f cycles  flows %u\n",
	       mix, whole, n / (double)run_ns * 1e3, (double)run_ns / n, (double)run_c / n,
	       (double)ref_ns / n, n / (double)(run_ns - ref_ns) * 1e3,
	       (double)(run_ns - ref_ns) / n, (double)(run_c - ref_c) / n,
	       qp_worker_flow_count(w));
	struct qp_flow_table_stats fs;
	qp_worker_flow_stats(w, &fs);
	if (active_ns || export)
		printf("  records ended by the active timeout %" PRIu64 " (one per %.1f frames), "
		       "exported %" PRIu64 ", dropped %" PRIu64 "\n",
		       fs.expired_active, n / (double)(fs.expired_active ? fs.expired_active : 1),
		       exported, qp_flow_ring_dropped(hook.ring));
	free(hook.ring);
	for (unsigned int k = 0; caps && k < nm; k++) {
		struct qp_cap_counts cc;
		qp_cap_counts(&caps[k], &cc);
		printf("  capture %u: %" PRIu64 " bit/s, taken %" PRIu64 ", over its budget %" PRIu64
		       ", ring full %" PRIu64 "\n", k, cap_bps, cc.taken, cc.over_budget, cc.ring_full);
		ws[k]->cap = NULL;
		qp_worker_taps_update(ws[k]);
		qp_cap_ring_fini(&caps[k]);
	}
	free(caps);
	if (w->cnt.measured != whole)
		fprintf(stderr, "qp_replay: only %" PRIu64 " of %zu frames measured (parse errors %" PRIu64
				", table full %" PRIu64 ")\n", w->cnt.measured, whole, w->cnt.parse_errors,
			w->cnt.unattributed);
	for (unsigned int k = 0; k < nm; k++) {
		if (ws[k]->cnt.measured != whole)
			fprintf(stderr, "qp_replay: measurement %u measured %" PRIu64 " of %zu frames\n", k,
				ws[k]->cnt.measured, whole);
		qp_filter_free(cfgs[k].filter);
		qp_worker_fini(ws[k]);
		free(ws[k]);
	}
	if (grp)
		qp_groups_fini(&grp, 1);
	free(ring);
	free(pctx);
	free(pp);
	free(s.data);
	free(s.caplen);
	free(s.wirelen);
	(void)sink;
	return 0;
}
