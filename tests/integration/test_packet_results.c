/*
 * Packet results offline (qprobe --pcap F --packet-results FILE.csv): a CSV
 * line for each measured packet of qp_gen qos (TCP with random RTTs and
 * retransmissions, RTP streams), whose RTT samples, retransmissions, RTP
 * counts and jitter estimates add up, interval by interval, to the report's
 * interval figures; a rate keeps at most that many lines a second of the
 * capture's time; bad files and rates are refused. (Live, the same rows go
 * with each interval: test_live.)
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qp_run.h"

static char *qbin(void)
{
	static char b[256];
	snprintf(b, sizeof(b), "%s/qprobe", qp_build());
	return b;
}

static void qos(char *pcap, size_t len)
{
	snprintf(pcap, len, "%s/pr-qos.pcap", qp_tmpdir());
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "%s/qp_gen qos %s > /dev/null", qp_build(), pcap);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* The CSV's rows (header checked, then dropped); *n of them. */
static char **read_rows(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	char line[512];
	cr_assert_not_null(fgets(line, sizeof(line), f));
	cr_assert_str_eq(line, "ts_ns,src,sport,dst,dport,proto,dir,wire_len,tcp_rtt_ms,tcp_rtt_dir,"
			       "tcp_retrans,tcp_ooo,tcp_dup_ack,rtp_ssrc,rtp_seq,rtp_received,rtp_expected,"
			       "rtp_jitter_ms,tp_sig\n");
	size_t cap = 1024;
	char **rows = malloc(cap * sizeof(*rows));
	*n = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (*n == cap)
			rows = realloc(rows, (cap *= 2) * sizeof(*rows));
		rows[(*n)++] = strdup(line);
	}
	fclose(f);
	return rows;
}

static void free_rows(char **rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(rows[i]);
	free(rows);
}

Test(packet_results, every_packets_figures_add_up_to_its_intervals, .timeout = 120)
{
	char pcap[256], csv[256], extra[300];
	qos(pcap, sizeof(pcap));
	snprintf(csv, sizeof(csv), "%s/pr-qos.csv", qp_tmpdir());
	snprintf(extra, sizeof(extra), "--packet-results=%s", csv);
	json_t *rep = qp_offline_report(pcap, "pr-qos", extra);
	size_t n;
	char **rows = read_rows(csv, &n);
	json_t *ivs = json_object_get(rep, "intervals"), *iv;
	size_t i, at = 0, total = 0;
	long shown = 0;
	cr_assert_gt(json_array_size(ivs), 10);
	json_array_foreach(ivs, i, iv) {
		unsigned long long start = (unsigned long long)qp_geti(iv, "start_ns");
		unsigned long long end = start + (unsigned long long)(json_real_value(json_object_get(iv, "duration_ms")) * 1e6 + 0.5);
		/* the rows are in the packets' order: this interval's come next */
		while (at < n && strtoull(rows[at], NULL, 10) < start)
			at++;
		size_t k = at;
		while (k < n && strtoull(rows[k], NULL, 10) < end)
			k++;
		shown += qp_expect_rows_add_up(iv, rows + at, k - at);
		total += k - at;
		at = k;
	}
	cr_expect_eq(total, n, "every row in an interval");
	long measured = qp_geti(json_object_get(rep, "capture"), "measured");
	cr_expect_eq((long)n, measured, "a row a measured packet");
	cr_expect_gt(shown, 1000, "RTT samples and RTP packets to add up");
	free_rows(rows, n);
	json_decref(rep);
}

Test(packet_results, a_rate_keeps_that_many_a_second, .timeout = 120)
{
	char pcap[256], csv[256], extra[300];
	qos(pcap, sizeof(pcap));
	snprintf(csv, sizeof(csv), "%s/pr-rate.csv", qp_tmpdir());
	snprintf(extra, sizeof(extra), "--packet-results=%s", csv);
	char *argv[] = {qbin(), "--pcap", pcap, "--report-file", "/dev/null", extra, "--packet-rate", "50",
			NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 60, &r);
	cr_assert(r.exited && r.status == 0, "%s", r.err);
	size_t n;
	char **rows = read_rows(csv, &n);
	cr_assert_gt(n, 0);
	unsigned long long first = strtoull(rows[0], NULL, 10), last = strtoull(rows[n - 1], NULL, 10);
	/* a tenth of a second's worth at once, then 50 a second */
	double secs = (double)(last - first) / 1e9;
	cr_expect_leq((double)n, 5 + 50 * secs + 1, "%zu rows over %.3f s", n, secs);
	cr_expect_geq((double)n, 50 * secs - 1, "%zu rows over %.3f s", n, secs);
	free_rows(rows, n);
}

Test(packet_results, bad_files_and_rates_are_refused, .timeout = 60)
{
	char pcap[256];
	qos(pcap, sizeof(pcap));
	struct qp_run_result r;
	char *nodir[] = {qbin(), "--pcap", pcap, "--report-file", "/dev/null", "--packet-results",
			 "/nonexistent/dir/p.csv", NULL};
	qp_run(nodir, NULL, 60, &r);
	cr_expect_eq(r.status, 4);
	cr_expect(strstr(r.err, "qprobe: --packet-results /nonexistent/dir/p.csv: No such file or directory"),
		  "%s", r.err);
	char *zero[] = {qbin(), "--pcap", pcap, "--packet-results", "/dev/null", "--packet-rate", "0", NULL};
	qp_run(zero, NULL, 60, &r);
	cr_expect_eq(r.status, 1);
	cr_expect(strstr(r.err, "--packet-rate"), "%s", r.err);
	char *live[] = {qbin(), "-l", "0", "--no-huge", "-m", "64", "--no-shconf", "--no-pci",
			"--log-level=error", "--", "--packet-results", "/tmp/x.csv", NULL};
	qp_run(live, NULL, 60, &r);
	cr_expect_eq(r.status, 1);
	cr_expect(strstr(r.err, "qprobe: --packet-results is offline (with --pcap)"), "%s", r.err);
}

/* A CSV's rows' signatures (the last column) and times; *n rows. */
struct sigrow {
	unsigned long long sig, ts;
};

static int by_sig(const void *a, const void *b)
{
	const struct sigrow *x = a, *y = b;
	return x->sig < y->sig ? -1 : x->sig > y->sig;
}

static struct sigrow *sig_rows(const char *csv, size_t *n)
{
	char **rows = read_rows(csv, n);
	struct sigrow *s = malloc((*n + 1) * sizeof(*s));
	for (size_t i = 0; i < *n; i++) {
		const char *last = strrchr(rows[i], ',');
		cr_assert(last && strlen(last + 1) == 16, "row '%s': a two-point signature", rows[i]);
		s[i].sig = strtoull(last + 1, NULL, 16);
		s[i].ts = strtoull(rows[i], NULL, 10);
	}
	free_rows(rows, *n);
	qsort(s, *n, sizeof(*s), by_sig);
	return s;
}

/*
 * Two-point: each point records the packets the signature hash selects (RFC
 * 5475), the same at both, and its rows join on the signature: the joined
 * times give every matched packet's one-way delay, as the two-point report
 * has them.
 */
Test(packet_results, both_points_record_the_same_packets_and_join_on_their_signatures, .timeout = 120)
{
	char a[256], b[256], cmd[4096], ca[256], cb[256], ra[256];
	snprintf(a, sizeof(a), "%s/pr-A.pcap", qp_tmpdir());
	snprintf(b, sizeof(b), "%s/pr-B.pcap", qp_tmpdir());
	snprintf(ca, sizeof(ca), "%s/pr-A.csv", qp_tmpdir());
	snprintf(cb, sizeof(cb), "%s/pr-B.csv", qp_tmpdir());
	snprintf(ra, sizeof(ra), "%s/pr-AB.json", qp_tmpdir());
	snprintf(cmd, sizeof(cmd),
		 "%1$s/qp_gen pair %2$s %3$s 20000 200 > /dev/null && "
		 "%1$s/qprobe --pcap %2$s --peer-pcap %3$s --sample 1/4 --packet-results %4$s --report-file %6$s && "
		 "%1$s/qprobe --pcap %3$s --peer-pcap %2$s --sample 1/4 --packet-results %5$s --report-file /dev/null",
		 qp_build(), a, b, ca, cb, ra);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	size_t na, nb;
	struct sigrow *sa = sig_rows(ca, &na), *sb = sig_rows(cb, &nb);
	json_t *rep = qp_json_load(ra);
	json_t *tp = json_object_get(rep, "two_point"), *fwd = json_object_get(tp, "fwd");
	cr_assert_eq((long)na, qp_geti(json_object_get(tp, "records"), "primary"), "A's rows: its selected packets");
	cr_assert_eq((long)nb, qp_geti(json_object_get(tp, "records"), "secondary"), "B's: its own");
	long matched = 0;
	unsigned long long lo = ~0ULL, hi = 0;
	double sum = 0;
	for (size_t i = 0, j = 0; i < na && j < nb;) {
		if (sa[i].sig < sb[j].sig) {
			i++;
		} else if (sa[i].sig > sb[j].sig) {
			cr_assert_fail("B recorded %016llx, which A did not", sb[j].sig);
		} else {
			cr_assert_geq(sb[j].ts, sa[i].ts);
			unsigned long long d = sb[j].ts - sa[i].ts;
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
			sum += (double)d;
			matched++;
			i++;
			j++;
		}
	}
	cr_expect_eq(matched, (long)nb, "every packet B recorded, A recorded");
	cr_expect_eq(matched, qp_geti(fwd, "matched"));
	cr_expect_eq((long)na - matched, qp_geti(fwd, "lost"));
	json_t *owd = json_object_get(fwd, "owd_ms");
	cr_expect(qp_near(json_real_value(json_object_get(owd, "min")), (double)lo / 1e6));
	cr_expect(qp_near(json_real_value(json_object_get(owd, "max")), (double)hi / 1e6));
	double mean = json_real_value(json_object_get(owd, "mean"));
	cr_expect(fabs(mean - sum / (double)matched / 1e6) < 1e-8, "mean %.9f, rows %.9f", mean,
		  sum / (double)matched / 1e6);
	free(sa);
	free(sb);
	json_decref(rep);
}
