/*
 * qp_report's flows: a report lists them in the order they began (first
 * packet time, then key, then the order they were added for two records of
 * one key and time), whatever order they came in, every record whole
 * whatever parts of it are set (the report keeps a record's parts that are
 * not all zero), also when they take more than one huge page (the store
 * then grows by moving its pages); and the flows a run's end keeps in its
 * table, read from their entries, in the same order among the records.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "qp_report.h"

#define N 5000 /* records kept in 392 to 1,128 bytes, 3.6 MB: the store grows from 2 to 4 MiB */

/* Record i: its time and key repeat in groups, so ties happen on both. */
static void make(struct qp_flow_rec *f, uint32_t i)
{
	memset(f, 0, sizeof(*f));
	f->first_ns = 1000000000ull + (i % 97) * 1000; /* 97 distinct times */
	f->last_ns = f->first_ns + i;
	f->key.ipver = 4;
	f->key.proto = 17;
	f->key.addr[0][0] = 10;
	f->key.addr[0][3] = (uint8_t)(i % 7); /* 7 keys a time: some records share key and time */
	f->key.port[0] = 1000;
	f->key.port[1] = 53;
	f->pkts[0] = i; /* which record it is */
	f->bytes[0] = (uint64_t)i * 100;
	/* parts beyond the first, some records each, filled with a pattern of i */
	memset(&f->quic, (int)(i % 251) + 1, sizeof(f->quic));
	f->has_quic = 1;
	if (i % 5 == 0)
		f->retrans[1] = i; /* TCP's */
	if (i % 5 == 1)
		f->rtp[2].ssrc = i; /* the third RTP stream's, not the first's */
	if (i % 2 == 0) {
		f->has_ts = 1;
		memset(&f->ts, (int)(i % 13) + 1, sizeof(f->ts)); /* the last part */
	}
}

/* The report's order of two flows by first time, then key (0: a tie). */
static int time_key_cmp(const struct qp_flow_rec *a, const struct qp_flow_rec *b)
{
	if (a->first_ns != b->first_ns)
		return a->first_ns < b->first_ns ? -1 : 1;
	return memcmp(&a->key, &b->key, sizeof(a->key));
}

Test(report, flows_come_out_in_the_order_they_began_each_record_whole)
{
	struct qp_report *r = qp_report_create();
	cr_assert_not_null(r);
	/* added in a scrambled order: i = k * 2503 mod N visits every i once */
	static uint32_t added[N]; /* when record i was added */
	for (uint32_t k = 0; k < N; k++) {
		struct qp_flow_rec f;
		uint32_t i = (uint32_t)((uint64_t)k * 2503 % N);
		added[i] = k;
		make(&f, i);
		cr_assert_eq(qp_report_add_flow(r, &f), 0);
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	cr_assert_eq(qp_report_write(r, "table", out), 0);
	fclose(out);
	free(buf);
	/* JSON: the same text whether a second thread formats flows (two
	 * processors or more: it takes two chunks in three) or not */
	char *js[2] = {NULL, NULL};
	size_t jl[2] = {0, 0};
	cpu_set_t all, one;
	cr_assert_eq(sched_getaffinity(0, sizeof(all), &all), 0);
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all)) {
			CPU_SET(c, &one);
			break;
		}
	for (int k = 0; k < 2; k++) {
		if (k == 1)
			cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
		out = open_memstream(&js[k], &jl[k]);
		cr_assert_eq(qp_report_write(r, "json", out), 0);
		fclose(out);
	}
	cr_assert_eq(sched_setaffinity(0, sizeof(all), &all), 0);
	cr_assert_eq(jl[0], jl[1]);
	cr_assert(memcmp(js[0], js[1], jl[0]) == 0, "one thread or two, the same report");
	cr_assert_not_null(strstr(js[0], "\"bytes\":{\"fwd\":499900,"), "flow 4999 is there");
	free(js[0]);
	free(js[1]);

	size_t n = qp_report_flow_count(r);
	cr_assert_eq(n, N);
	static struct qp_flow_rec fl[N];
	for (size_t j = 0; j < n; j++)
		qp_report_flow(r, j, &fl[j]);
	for (size_t j = 0; j < n; j++) {
		uint32_t i = (uint32_t)fl[j].pkts[0];
		struct qp_flow_rec want;
		make(&want, i);
		cr_assert_eq(memcmp(&fl[j], &want, sizeof(want)), 0, "record %zu (flow %u) is not whole", j, i);
		if (j == 0)
			continue;
		const struct qp_flow_rec *a = &fl[j - 1], *b = &fl[j];
		int c = time_key_cmp(a, b);
		if (!c) /* same key and time: the order they were added in */
			c = added[a->pkts[0]] < added[b->pkts[0]] ? -1 : 1;
		cr_assert_lt(c, 0, "flows %zu and %zu out of order", j - 1, j);
	}
	/* the first: the earliest time, the lowest key there, the first added */
	cr_assert_eq(fl[0].first_ns, 1000000000ull);
	cr_assert_eq(fl[0].key.addr[0][3], 0);
	qp_report_destroy(r);
}

/*
 * Records and kept table entries together: in the order they began, then
 * key, then records before entries (a run keeps its entries at its end),
 * entries in the order they were kept; an entry reads as its record made
 * at the end (QP_FLOW_END_FLUSH) would, with its RTP streams.
 */
#define NK 600
Test(report, flows_kept_in_their_table_sort_among_the_records)
{
	struct qp_report *r = qp_report_create();
	cr_assert_not_null(r);
	static struct qp_flow ent[NK];
	static const struct qp_rtp_cfg rtp; /* none of these flows has a stream */
	memset(ent, 0, sizeof(ent));
	for (uint32_t k = 0; k < 2 * NK; k++) {
		/* records and entries in turn; entry j shares time and key with
		 * record 5 * j, the time of 97 records, the key of 7 */
		uint32_t i = (uint32_t)((uint64_t)(k / 2) * 251 % NK);
		if (k % 2 == 0) {
			struct qp_flow_rec f;
			make(&f, 5 * i);
			cr_assert_eq(qp_report_add_flow(r, &f), 0);
			continue;
		}
		struct qp_flow_rec f;
		make(&f, 5 * i);
		struct qp_flow *e = &ent[i];
		e->key = f.key;
		e->first_ns = f.first_ns;
		e->last_ns = f.first_ns + 77;
		e->pkts[1] = 1000000 + i; /* which entry it is */
		e->bytes[1] = 60;
		e->size_min = e->size_max = 60;
		cr_assert_eq(qp_report_add_flow_kept(r, e, &rtp), 0);
	}
	FILE *out = fopen("/dev/null", "w");
	cr_assert_eq(qp_report_write(r, "table", out), 0);
	fclose(out);
	cr_assert_eq(qp_report_flow_count(r), 2 * NK);
	static struct qp_flow_rec fl[2 * NK];
	for (size_t j = 0; j < 2 * NK; j++)
		qp_report_flow(r, j, &fl[j]);
	static uint32_t kept_at[NK]; /* when entry i and record 5 i were added, in turns */
	for (uint32_t k = 0; k < NK; k++)
		kept_at[(uint32_t)((uint64_t)k * 251 % NK)] = k;
	for (size_t j = 0; j < 2 * NK; j++) {
		int kept = fl[j].pkts[1] >= 1000000;
		if (kept) {
			const struct qp_flow *e = &ent[fl[j].pkts[1] - 1000000];
			struct qp_flow_rec want;
			qp_flow_rec_from(&want, e, QP_FLOW_END_FLUSH);
			qp_flow_rec_rtp(&want, e, &rtp);
			cr_assert_eq(memcmp(&fl[j], &want, sizeof(want)), 0, "flow %zu is not its entry's", j);
			cr_assert_eq(fl[j].end, QP_FLOW_END_FLUSH);
			cr_assert_eq(fl[j].last_ns, fl[j].first_ns + 77);
		}
		if (j == 0)
			continue;
		const struct qp_flow_rec *a = &fl[j - 1], *b = &fl[j];
		int c = time_key_cmp(a, b);
		if (!c) {
			int ka = a->pkts[1] >= 1000000, kb = b->pkts[1] >= 1000000;
			if (ka != kb)
				c = ka ? 1 : -1; /* a record before an entry */
			else if (ka)
				c = kept_at[a->pkts[1] - 1000000] < kept_at[b->pkts[1] - 1000000] ? -1 : 1;
			else
				c = kept_at[a->pkts[0] / 5] < kept_at[b->pkts[0] / 5] ? -1 : 1;
		}
		cr_assert_lt(c, 0, "flows %zu and %zu out of order", j - 1, j);
	}
	/* the first two: record 0, then entry 0 with its time and key */
	cr_assert_eq(fl[0].pkts[0], 0);
	cr_assert_eq(fl[0].pkts[1], 0);
	cr_assert_eq(fl[1].pkts[1], 1000000);
	cr_assert_eq(fl[1].first_ns, fl[0].first_ns);
	qp_report_destroy(r);
}

/* A key's addresses as the report writes them: dotted quads and RFC 5952 IPv6. */
Test(report, addresses_are_written_as_inet_ntop_writes_them)
{
	static const struct {
		uint8_t a[4];
		const char *s;
	} v4[] = {
		{{0, 0, 0, 0}, "0.0.0.0"},
		{{255, 255, 255, 255}, "255.255.255.255"},
		{{10, 0, 0, 1}, "10.0.0.1"},
		{{192, 168, 100, 9}, "192.168.100.9"},
		{{1, 20, 100, 250}, "1.20.100.250"},
	};
	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		struct qp_flow_key k;
		memset(&k, 0, sizeof(k));
		k.ipver = 4;
		memcpy(k.addr[1], v4[i].a, 4);
		char b[64];
		qp_key_addr_str(&k, 1, b, sizeof(b));
		cr_assert_str_eq(b, v4[i].s);
	}
	struct qp_flow_key k;
	memset(&k, 0, sizeof(k));
	k.ipver = 6;
	k.addr[0][0] = 0x20;
	k.addr[0][1] = 0x01;
	k.addr[0][2] = 0x0d;
	k.addr[0][3] = 0xb8;
	k.addr[0][15] = 1;
	char b[64];
	qp_key_addr_str(&k, 0, b, sizeof(b));
	cr_assert_str_eq(b, "2001:db8::1");
}
