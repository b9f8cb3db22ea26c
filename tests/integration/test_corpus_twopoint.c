/*
 * Robustness, two-point: the captures of tcpdump's test suite
 * (../shared/corpus/tcpdump) in pairs, each as the primary's capture with the
 * next as the secondary's, through build/qprobe --pcap --peer-pcap. Hostile
 * timestamps (decades apart, backwards) and truncated frames on both sides.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qp_run.h"

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
	char **names = qp_corpus_list(&dir, &n);
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
