/*
 * Robustness: every capture of tcpdump's test suite (../shared/corpus/tcpdump,
 * many crafted to crash dissectors) goes through build/qprobe --pcap. Each
 * must be measured (exit 0) or refused / reported damaged with one line on
 * stderr (exit 2 or 3): no crash, no sanitizer report, no hang. The counts go
 * to $QP_BUILD/corpus-summary.txt.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qp_run.h"

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The corpus's captures, sorted; skips the test when there is no corpus. */
static char **list(const char **dirp, size_t *np)
{
	const char *dir = getenv("QP_CORPUS");
	if (!dir)
		dir = "../shared/corpus/tcpdump";
	*dirp = dir;
	DIR *d = opendir(dir);
	if (!d)
		cr_skip_test("no corpus at %s", dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if ((l > 5 && strcmp(e->d_name + l - 5, ".pcap") == 0) ||
		    (l > 7 && strcmp(e->d_name + l - 7, ".pcapng") == 0)) {
			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				names = realloc(names, cap * sizeof(*names));
			}
			names[n++] = strdup(e->d_name);
		}
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp);
	cr_assert_gt(n, 0);
	*np = n;
	return names;
}

Test(corpus, every_tcpdump_capture_is_measured_or_refused, .timeout = 1200)
{
	const char *dir;
	size_t n;
	char **names = list(&dir, &n);
	char bin[256], out[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	snprintf(out, sizeof(out), "%s/corpus.json", qp_tmpdir());
	size_t ok = 0, refused = 0, damaged = 0, bad = 0;
	for (size_t i = 0; i < n; i++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		char *argv[] = {bin, "--pcap", path, "--report-file", out, NULL};
		struct qp_run_result r;
		qp_run(argv, NULL, 60, &r);
		int good = r.exited && ((r.status == 0 && r.err_lines == 0) ||
					((r.status == 2 || r.status == 3) && r.err_lines == 1));
		if (!good) {
			bad++;
			cr_log_error("%s: exited=%d status=%d timed_out=%d stderr: %.2000s", names[i],
				     r.exited, r.status, r.timed_out, r.err);
		} else if (r.status == 0) {
			ok++;
			json_t *j = qp_json_load(out);
			if (!j) {
				bad++;
				cr_log_error("%s: report is not JSON", names[i]);
			}
			json_decref(j);
		} else if (r.status == 2) {
			refused++;
		} else {
			damaged++;
		}
		free(names[i]);
	}
	free(names);
	char sum[256];
	snprintf(sum, sizeof(sum), "%s/corpus-summary.txt", qp_build());
	FILE *f = fopen(sum, "w");
	if (f) {
		fprintf(f,
			"files %zu: reported %zu, refused %zu, damaged (report of the readable part) "
			"%zu, crashed/hung/sanitizer %zu\n",
			n, ok, refused, damaged, bad);
		fclose(f);
	}
	cr_log_info("corpus: %zu files: reported %zu, refused %zu, damaged %zu, failed %zu", n, ok,
		    refused, damaged, bad);
	cr_assert_eq(bad, 0, "%zu captures crashed, hung or broke the one-line rule", bad);
}

/*
 * Two-point on hostile pairs: each capture as the primary's with the next as
 * the secondary's, a small match window (overflow), NAT signatures and 1/2
 * sampling on every other pair. Same rule: exit 0 with a JSON report holding
 * two_point, or 2/3 with one line.
 */
Test(corpus, two_point_pairs_are_measured_or_refused, .timeout = 1200)
{
	const char *dir;
	size_t n;
	char **names = list(&dir, &n);
	char bin[256], out[256];
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	snprintf(out, sizeof(out), "%s/corpus-tp.json", qp_tmpdir());
	size_t ok = 0, bad = 0;
	for (size_t i = 0; i < n; i++) {
		char a[1024], b[1024];
		snprintf(a, sizeof(a), "%s/%s", dir, names[i]);
		snprintf(b, sizeof(b), "%s/%s", dir, names[(i + 1) % n]);
		char *argv[] = {bin, "--pcap", a, "--peer-pcap", b, "--match-window", "64",
				"--report-file", out, i % 2 ? "--nat" : "--sample", i % 2 ? NULL : "1/2",
				NULL};
		struct qp_run_result r;
		qp_run(argv, NULL, 60, &r);
		int good = r.exited && ((r.status == 0 && r.err_lines == 0) ||
					((r.status == 2 || r.status == 3) && r.err_lines == 1));
		if (good && r.status == 0) {
			json_t *j = qp_json_load(out);
			if (!j || !json_object_get(j, "two_point"))
				good = 0;
			else
				ok++;
			json_decref(j);
		}
		if (!good) {
			bad++;
			cr_log_error("%s + %s: exited=%d status=%d timed_out=%d stderr: %.2000s", names[i],
				     names[(i + 1) % n], r.exited, r.status, r.timed_out, r.err);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	cr_log_info("two-point corpus: %zu pairs, %zu reported, %zu failed", n, ok, bad);
	cr_assert_gt(ok, n / 2);
	cr_assert_eq(bad, 0, "%zu pairs crashed, hung or broke the one-line rule", bad);
}
