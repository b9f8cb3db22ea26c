/*
 * Robustness: every capture of tcpdump's test suite (../shared/corpus/tcpdump,
 * many crafted to crash dissectors) goes through build/qprobe --pcap. Each
 * must be measured (exit 0) or refused / reported damaged with one line on
 * stderr (exit 2 or 3): no crash, no sanitizer report, no hang. The counts go
 * to $QP_BUILD/corpus-summary.txt. The same corpus in pairs, two-point:
 * test_corpus_twopoint.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qp_run.h"

Test(corpus, every_tcpdump_capture_is_measured_or_refused, .timeout = 1200)
{
	const char *dir;
	size_t n;
	char **names = qp_corpus_list(&dir, &n);
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
