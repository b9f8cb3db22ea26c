/*
 * qp_pcap_read against libpcap: every file the reader takes gives the same
 * records (lengths, times, bytes) and ends the same way, a damaged record
 * with libpcap's own message, whether it reads itself or a thread reads
 * ahead for it (in the smallest blocks, two of them: records across blocks,
 * records longer than a block). Generated files with each kind of damage,
 * and tcpdump's 830 hostile captures when ../shared/corpus is there.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qp_pcap_read.h"
#include "../gen/qp_pcapw.h"

/*
 * 1 when the reader took the file; the outcome compared with libpcap's
 * either way. frames: the records taken as qp_offline takes them, in runs
 * of at most 8 frames (qp_pcap_read_frames()), every other run stopped
 * before a record a millisecond or more after the one before it, which
 * qp_pcap_read_next() then takes. self: the reader opens the file without
 * libpcap (qp_pcap_read_open_self()), and takes only what libpcap takes,
 * as libpcap judges its header.
 */
static int compare(const char *path, size_t buf, long *records, int frames, int ahead, int self)
{
	char eb[PCAP_ERRBUF_SIZE];
	struct qp_pcap_reader r;
	pcap_t *a = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, eb);
	if (!a) {
		int t = self ? qp_pcap_read_open_self(&r, path, buf) : 0;
		if (t == 1)
			qp_pcap_read_close(&r);
		cr_assert_neq(t, 1, "%s: libpcap refuses it (%s), the reader took it", path, eb);
		return 0;
	}
	pcap_t *b = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, eb);
	cr_assert_not_null(b);
	int took = self ? qp_pcap_read_open_self(&r, path, buf) : qp_pcap_read_open(&r, path, b, buf);
	cr_assert_neq(took, -1, "%s: %s", path, strerror(errno));
	if (self && took == 1) {
		cr_assert_eq(pcap_datalink(b), DLT_EN10MB, "%s: an Ethernet capture", path);
		cr_assert_eq(r.snapshot, (uint32_t)pcap_snapshot(b), "%s: snapshot %u, libpcap %d",
			     path, r.snapshot, pcap_snapshot(b));
		cr_assert_eq(r.swapped, pcap_is_swapped(b), "%s: byte order", path);
	}
	if (took == 1 && ahead)
		cr_assert_eq(qp_pcap_read_ahead(&r, 4096, 2), 0, "%s: %s", path, strerror(errno));
	struct qp_frame fr[8];
	unsigned int fn = 0, fi = 0, runs = 0;
	uint64_t prev = 0;
	for (long i = 0; took == 1; i++) {
		struct pcap_pkthdr *h;
		const u_char *d;
		int x = pcap_next_ex(a, &h, &d);
		if (frames && fi == fn) {
			fn = qp_pcap_read_frames(&r, runs++ & 1 ? prev + 1000000 : UINT64_MAX, fr, 0, 8);
			fi = 0;
		}
		if (frames && fi < fn) {
			const struct qp_frame *f = &fr[fi++];
			cr_assert_eq(x, 1, "%s: frame %ld: libpcap has no record", path, i);
			uint64_t s = (uint32_t)h->ts.tv_sec;
			cr_assert_eq(f->ts_ns, s * 1000000000ull + (uint64_t)h->ts.tv_usec,
				     "%s: frame %ld time", path, i);
			uint32_t cl = h->caplen > h->len && h->len > 0 ? h->len : h->caplen;
			cr_assert_eq(f->caplen, cl, "%s: frame %ld caplen %u, libpcap %u (len %u)", path,
				     i, f->caplen, h->caplen, h->len);
			cr_assert_eq(f->wirelen, h->len, "%s: frame %ld len", path, i);
			cr_assert(memcmp(f->data, d, cl) == 0, "%s: frame %ld bytes", path, i);
			prev = f->ts_ns;
			(*records)++;
			continue;
		}
		struct qp_pcap_rec rec;
		int y = qp_pcap_read_next(&r, &rec);
		if (y == QP_PCAP_FILL) {
			cr_assert_eq(qp_pcap_read_fill(&r), 0);
			y = qp_pcap_read_next(&r, &rec);
			cr_assert_neq(y, QP_PCAP_FILL, "%s: a fill gives a record or an end", path);
		}
		if (x == 1) {
			cr_assert_eq(y, QP_PCAP_REC, "%s: record %ld: libpcap has one, the reader %d (%s)",
				     path, i, y, r.err);
			uint64_t s = (uint32_t)h->ts.tv_sec;
			cr_assert_eq(rec.ts_ns, s * 1000000000ull + (uint64_t)h->ts.tv_usec,
				     "%s: record %ld time", path, i);
			cr_assert_eq(rec.caplen, h->caplen, "%s: record %ld caplen %u, libpcap %u", path,
				     i, rec.caplen, h->caplen);
			cr_assert_eq(rec.len, h->len, "%s: record %ld len", path, i);
			cr_assert(memcmp(rec.data, d, h->caplen) == 0, "%s: record %ld bytes", path, i);
			prev = rec.ts_ns;
			(*records)++;
			continue;
		}
		if (x == PCAP_ERROR_BREAK)
			cr_assert_eq(y, QP_PCAP_END, "%s: libpcap ends after %ld, the reader %d", path, i,
				     y);
		else
			cr_assert(y == QP_PCAP_DAMAGED && strcmp(r.err, pcap_geterr(a)) == 0,
				  "%s: after %ld libpcap says '%s', the reader %d '%s'", path, i,
				  pcap_geterr(a), y, r.err);
		break;
	}
	qp_pcap_read_close(&r);
	pcap_close(a);
	pcap_close(b);
	return took == 1;
}

static int self_took; /* the last same_as_libpcap()'s file was opened without libpcap too */

/* compare() record by record, then in runs of frames, then in runs of
 * frames read ahead, then so after opening without libpcap (when the
 * reader takes it so): the same outcome. */
static int same_as_libpcap(const char *path, size_t buf, long *records)
{
	long again = 0, ahead = 0, self = 0, before = *records;
	int took = compare(path, buf, records, 0, 0, 0);
	cr_assert_eq(compare(path, buf, &again, 1, 0, 0), took, "%s", path);
	cr_assert_eq(again, *records - before, "%s: as many records in runs of frames", path);
	cr_assert_eq(compare(path, buf, &ahead, 1, 1, 0), took, "%s: read ahead", path);
	cr_assert_eq(ahead, *records - before, "%s: as many records read ahead", path);
	self_took = compare(path, buf, &self, 1, 1, 1);
	if (self_took) {
		cr_assert(took, "%s: opened without libpcap, not with it", path);
		cr_assert_eq(self, *records - before, "%s: as many records opened without libpcap",
			     path);
	}
	return took;
}

static char dir[256];

static const char *tmp(const char *name)
{
	static char p[512];
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/qp_pcap_read.XXXXXX");
		cr_assert_not_null(mkdtemp(dir));
	}
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

/* n frames of 100 bytes a record, 1 ms apart. */
static void write_frames(const char *path, int ns, int n, uint32_t caplen)
{
	struct pw w;
	cr_assert_eq(pw_open(&w, path, 1, ns), 0);
	uint8_t f[2000];
	for (int i = 0; i < n; i++) {
		memset(f, i, sizeof(f));
		pw_write(&w, 1700000000000000000ull + (uint64_t)i * 1000000 + (ns ? 7 : 0), f, caplen,
			 caplen + 4);
	}
	pw_close(&w);
}

static void cut(const char *path, long at)
{
	cr_assert_eq(truncate(path, at), 0);
}

static void put32(const char *path, long at, uint32_t v)
{
	FILE *f = fopen(path, "r+b");
	cr_assert_not_null(f);
	fseek(f, at, SEEK_SET);
	fwrite(&v, 4, 1, f);
	fclose(f);
}

Test(pcap_read, plain_files_read_as_libpcap_reads_them)
{
	long n = 0;
	write_frames(tmp("us.pcap"), 0, 300, 100);
	/* record 5 says it captured more than the wire had: 100 of 60 */
	put32(tmp("us.pcap"), 24 + 5 * (16 + 100) + 12, 60);
	cr_assert(same_as_libpcap(tmp("us.pcap"), 0, &n));
	cr_assert(self_took, "a classic Ethernet capture is opened without libpcap");
	cr_assert_eq(n, 300);
	n = 0;
	write_frames(tmp("ns.pcap"), 1, 300, 100);
	cr_assert(same_as_libpcap(tmp("ns.pcap"), 0, &n), "the nanosecond magic");
	cr_assert(self_took);
	cr_assert_eq(n, 300);
	n = 0;
	write_frames(tmp("empty.pcap"), 0, 0, 100);
	cr_assert(same_as_libpcap(tmp("empty.pcap"), 0, &n), "no record");
	cr_assert_eq(n, 0);
}

/* Records across buffer fills: the smallest buffer the reader takes, 1,500-byte records. */
Test(pcap_read, records_across_fills)
{
	long n = 0;
	write_frames(tmp("big.pcap"), 0, 1000, 1500);
	cr_assert(same_as_libpcap(tmp("big.pcap"), 1, &n));
	cr_assert_eq(n, 1000);
}

/* Records of every length about a 4 KiB block read ahead, and past the
 * largest a block holds (100,000 bytes: 25 blocks). */
Test(pcap_read, records_longer_than_a_block_read_ahead)
{
	static const uint32_t len[] = {60, 4079, 4080, 4081, 4096, 1500, 9000, 100000, 16, 8191};
	static uint8_t f[100000];
	struct pw w;
	cr_assert_eq(pw_open(&w, tmp("long.pcap"), 1, 0), 0);
	for (int i = 0; i < 40; i++) {
		uint32_t n = len[i % 10];
		for (uint32_t k = 0; k < n; k++)
			f[k] = (uint8_t)(i * 7 + k);
		pw_write(&w, 1700000000000000000ull + (uint64_t)i * 1000, f, n, n);
	}
	pw_close(&w);
	long n = 0;
	cr_assert(same_as_libpcap(tmp("long.pcap"), 0, &n));
	cr_assert_eq(n, 40);
	/* cut in the 4th long record's body (record 37): the same message either way */
	long at = 24;
	for (int i = 0; i < 37; i++)
		at += 16 + len[i % 10];
	cut(tmp("long.pcap"), at + 16 + 50000);
	n = 0;
	cr_assert(same_as_libpcap(tmp("long.pcap"), 0, &n));
	cr_assert_eq(n, 37);
}

/* A reader that cannot read ahead says why and reads as before. */
Test(pcap_read, read_ahead_refused)
{
	write_frames(tmp("ra.pcap"), 0, 10, 100);
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline_with_tstamp_precision(tmp("ra.pcap"), 1, eb);
	struct qp_pcap_reader r;
	cr_assert_eq(qp_pcap_read_open(&r, tmp("ra.pcap"), p, 0), 1);
	errno = 0;
	cr_assert_eq(qp_pcap_read_ahead(&r, 4096, 1), -1, "one block");
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(qp_pcap_read_ahead(&r, 1024, 2), -1, "blocks under 4 KiB");
	cr_assert_eq(qp_pcap_read_ahead(&r, 4096, 17), -1, "more than 16 blocks");
	cr_assert_eq(qp_pcap_read_ahead(&r, 4096, 2), 0);
	cr_assert_eq(qp_pcap_read_ahead(&r, 4096, 2), -1, "twice");
	struct qp_pcap_rec x;
	int k, got = 0;
	while ((k = qp_pcap_read_next(&r, &x)) == QP_PCAP_REC || k == QP_PCAP_FILL)
		if (k == QP_PCAP_FILL)
			cr_assert_eq(qp_pcap_read_fill(&r), 0);
		else
			cr_assert_eq(x.data[0], got++);
	cr_assert_eq(k, QP_PCAP_END);
	cr_assert_eq(got, 10);
	qp_pcap_read_close(&r);
	/* closed before the first record: the thread stops */
	cr_assert_eq(qp_pcap_read_open(&r, tmp("ra.pcap"), p, 0), 1);
	cr_assert_eq(qp_pcap_read_ahead(&r, 4096, 3), 0);
	qp_pcap_read_close(&r);
	pcap_close(p);
}

Test(pcap_read, damage_ends_as_libpcap_ends)
{
	const long rec = 16 + 100;
	long n = 0;
	/* a header cut short after 3 records */
	write_frames(tmp("h.pcap"), 0, 5, 100);
	cut(tmp("h.pcap"), 24 + 3 * rec + 5);
	cr_assert(same_as_libpcap(tmp("h.pcap"), 0, &n));
	cr_assert_eq(n, 3);
	/* a body cut short */
	n = 0;
	write_frames(tmp("b.pcap"), 0, 5, 100);
	cut(tmp("b.pcap"), 24 + 3 * rec + 16 + 20);
	cr_assert(same_as_libpcap(tmp("b.pcap"), 0, &n));
	cr_assert_eq(n, 3);
	struct qp_pcap_reader r;
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline_with_tstamp_precision(tmp("b.pcap"), 1, eb);
	cr_assert_eq(qp_pcap_read_open(&r, tmp("b.pcap"), p, 0), 1);
	struct qp_pcap_rec x;
	int k, got = 0;
	while ((k = qp_pcap_read_next(&r, &x)) == QP_PCAP_REC || k == QP_PCAP_FILL)
		if (k == QP_PCAP_FILL)
			qp_pcap_read_fill(&r);
		else
			got++;
	cr_assert_eq(got, 3);
	cr_assert_eq(k, QP_PCAP_DAMAGED);
	cr_assert_str_eq(r.err, "truncated dump file; tried to read 100 captured bytes, only got 20");
	qp_pcap_read_close(&r);
	pcap_close(p);
	/* a capture length beyond libpcap's maximum in the 2nd record */
	n = 0;
	write_frames(tmp("m.pcap"), 0, 5, 100);
	put32(tmp("m.pcap"), 24 + rec + 8, 262145);
	cr_assert(same_as_libpcap(tmp("m.pcap"), 0, &n));
	cr_assert_eq(n, 1);
	/* beyond the file's snapshot length (200 here): cut to it, the rest skipped */
	n = 0;
	write_frames(tmp("s.pcap"), 0, 5, 300);
	put32(tmp("s.pcap"), 16, 200);
	cr_assert(same_as_libpcap(tmp("s.pcap"), 0, &n));
	cr_assert_eq(n, 5);
	/* and such a record cut in its skipped part */
	n = 0;
	cut(tmp("s.pcap"), 24 + 2 * (16 + 300) + 16 + 250);
	cr_assert(same_as_libpcap(tmp("s.pcap"), 0, &n));
	cr_assert_eq(n, 2);
}

Test(pcap_read, the_other_byte_order)
{
	write_frames(tmp("be.pcap"), 1, 20, 100);
	/* every 32-bit field of the file turned round; the 16-bit versions too */
	FILE *f = fopen(tmp("be.pcap"), "r+b");
	uint8_t buf[1 << 14];
	size_t len = fread(buf, 1, sizeof(buf), f);
	uint32_t v;
	for (size_t o = 0; o < 24; o += 4) {
		if (o == 4) {
			uint16_t a = (uint16_t)(buf[4] << 8 | buf[5]), b = (uint16_t)(buf[6] << 8 | buf[7]);
			memcpy(buf + 4, &a, 2);
			memcpy(buf + 6, &b, 2);
			continue;
		}
		memcpy(&v, buf + o, 4);
		v = __builtin_bswap32(v);
		memcpy(buf + o, &v, 4);
	}
	for (size_t o = 24; o < len; o += 16 + 100)
		for (size_t k = 0; k < 16; k += 4) {
			memcpy(&v, buf + o + k, 4);
			v = __builtin_bswap32(v);
			memcpy(buf + o + k, &v, 4);
		}
	rewind(f);
	fwrite(buf, 1, len, f);
	fclose(f);
	long n = 0;
	cr_assert(same_as_libpcap(tmp("be.pcap"), 0, &n), "a swapped file is taken");
	cr_assert(self_took, "and opened without libpcap");
	cr_assert_eq(n, 20);
}

/* The header fields libpcap judges: the reader opens without libpcap only
 * what libpcap takes, with libpcap's snapshot length, and leaves the rest
 * to libpcap. */
Test(pcap_read, a_header_judged_as_libpcap_judges_it)
{
	long n = 0;
	/* a snapshot length of 0, and one past INT_MAX: libpcap's largest
	 * (records of 300 bytes kept whole) */
	write_frames(tmp("s0.pcap"), 0, 5, 300);
	put32(tmp("s0.pcap"), 16, 0);
	cr_assert(same_as_libpcap(tmp("s0.pcap"), 0, &n));
	cr_assert(self_took);
	cr_assert_eq(n, 5);
	n = 0;
	write_frames(tmp("sbig.pcap"), 0, 5, 300);
	put32(tmp("sbig.pcap"), 16, 0x80000000u);
	cr_assert(same_as_libpcap(tmp("sbig.pcap"), 0, &n));
	cr_assert(self_took);
	cr_assert_eq(n, 5);
	struct qp_pcap_reader r;
	cr_assert_eq(qp_pcap_read_open_self(&r, tmp("sbig.pcap"), 0), 1);
	cr_assert_eq(r.snapshot, 262144);
	qp_pcap_read_close(&r);
	/* one past the largest stays as it is */
	write_frames(tmp("s1.pcap"), 0, 5, 300);
	put32(tmp("s1.pcap"), 16, 262145);
	cr_assert_eq(qp_pcap_read_open_self(&r, tmp("s1.pcap"), 0), 1);
	cr_assert_eq(r.snapshot, 262145);
	qp_pcap_read_close(&r);
	/* a snapshot of 64: records cut to it */
	n = 0;
	write_frames(tmp("s64.pcap"), 0, 5, 300);
	put32(tmp("s64.pcap"), 16, 64);
	cr_assert(same_as_libpcap(tmp("s64.pcap"), 0, &n));
	cr_assert(self_took);
	cr_assert_eq(qp_pcap_read_open_self(&r, tmp("s64.pcap"), 0), 1);
	cr_assert_eq(r.snapshot, 64);
	qp_pcap_read_close(&r);
	/* version 2.3, 3.4, a link type other than Ethernet, FCS bits: libpcap's */
	static const struct {
		long at;
		uint32_t v;
	} edit[] = {{4, 2 | 3u << 16}, {4, 3 | 4u << 16}, {20, 101}, {20, 1 | 0x14000000u}};
	for (unsigned int i = 0; i < sizeof(edit) / sizeof(edit[0]); i++) {
		n = 0;
		write_frames(tmp("e.pcap"), 0, 5, 100);
		put32(tmp("e.pcap"), edit[i].at, edit[i].v);
		same_as_libpcap(tmp("e.pcap"), 0, &n);
		cr_assert_not(self_took, "edit %u: left to libpcap", i);
		cr_assert_eq(qp_pcap_read_open_self(&r, tmp("e.pcap"), 0), 0, "edit %u", i);
	}
	/* a header cut short, and a file that is not a capture */
	write_frames(tmp("c.pcap"), 0, 0, 100);
	cut(tmp("c.pcap"), 20);
	cr_assert_eq(qp_pcap_read_open_self(&r, tmp("c.pcap"), 0), 0);
	cr_assert_eq(qp_pcap_read_open_self(&r, "/proc/self/status", 0), 0);
	cr_assert_eq(qp_pcap_read_open_self(&r, tmp("none.pcap"), 0), 0);
}

/* tcpdump's captures: the reader's outcome is libpcap's on each it takes. */
Test(pcap_read, hostile_corpus, .timeout = 300)
{
	const char *cd = getenv("QP_CORPUS") ? getenv("QP_CORPUS") : "../shared/corpus/tcpdump";
	DIR *d = opendir(cd);
	if (!d)
		cr_skip_test("no corpus at %s", cd);
	struct dirent *e;
	long files = 0, taken = 0, records = 0, selfs = 0;
	char path[1024];
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 5, ".pcap") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", cd, e->d_name);
		files++;
		taken += same_as_libpcap(path, 0, &records);
		selfs += self_took;
	}
	closedir(d);
	cr_log_info("corpus: %ld .pcap files, %ld read in place (%ld opened without libpcap), %ld records the same",
		    files, taken, selfs, records);
	cr_assert_gt(selfs, taken / 2, "most of them Ethernet");
	cr_assert_gt(taken, files / 2, "most of tcpdump's captures are plain pcap");
}
