/*
 * Helpers of the integration tests: run a real program with a deadline,
 * capture its output, read its JSON report, fetch an HTTP path.
 */
#ifndef QP_RUN_H
#define QP_RUN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct qp_run_result {
	int exited;    /* 1: exited normally, 0: killed by a signal or the deadline */
	int status;    /* exit status, or the signal number */
	int timed_out; /* killed at the deadline */
	char err[8192]; /* what it wrote on stderr (truncated) */
	size_t err_lines;
};

/** Run argv (NULL-terminated), stdout to out_path (or /dev/null), within timeout_s. */
void qp_run(char *const argv[], const char *out_path, double timeout_s, struct qp_run_result *r);

/** Start argv in the background with stdout/stderr to files; returns the pid. */
int qp_spawn(char *const argv[], const char *out_path, const char *err_path);

/** Wait for pid within timeout_s; kills it (SIGKILL) at the deadline. */
void qp_wait(int pid, double timeout_s, struct qp_run_result *r, const char *err_path);

/** The build directory (QP_BUILD, default "build"). */
const char *qp_build(void);

/** A fresh temporary directory for one test (removed by the OS's tmp cleaning). */
const char *qp_tmpdir(void);

/** Read and parse a JSON file; NULL (with a message on stderr) on failure. */
json_t *qp_json_load(const char *path);

/**
 * GET http://127.0.0.1:port/path. Returns the status code (or -1) and the
 * body in a malloc'd string.
 */
int qp_http_get(int port, const char *path, char **body);

/** Find the report flow with this source and destination endpoint, or NULL. */
json_t *qp_find_flow(json_t *report, const char *src, int sport, const char *dst, int dport);

/**
 * Poll a live probe's /api/v1/stats on port until its workers have taken
 * `packets` frames (totals.packets) and its first port counted them, at most
 * timeout_s. @return the stats,
 * or NULL at the deadline.
 */
json_t *qp_stats_when_packets(int port, long packets, double timeout_s);

/**
 * The captures of the hostile corpus ($QP_CORPUS, default ../shared/corpus/tcpdump),
 * sorted by name, in malloc'd strings; skips the calling test when there is none.
 */
char **qp_corpus_list(const char **dirp, size_t *np);

/**
 * build/qmctl --probe 127.0.0.1:port [--secret-file secret] args...: its
 * standard output in out, its standard error in err. @return its exit code, -1
 * when it did not exit.
 */
int qp_qmctl(int port, const char *secret, char *const args[], char *out, size_t outlen, char *err,
	     size_t errlen);

/**
 * SIGTERM to a probe the test started, and assert it exits 0 within 60 s
 * (its standard error, for the message, in err_path).
 */
void qp_stop_clean(int pid, const char *err_path);

/** The first whole number a shell command prints (a SQL count, say), -1 when none. */
long qp_sh_long(const char *cmd);

/**
 * build/qprobe --pcap pcap [extra] with its report in the test's directory
 * under name: the report (asserts that qprobe exits 0 within 60 s).
 */
json_t *qp_offline_report(const char *pcap, const char *name, const char *extra);

/** Seconds as tshark prints them ("1700000000.037510000") in whole ns. */
unsigned long long qp_seconds_ns(const char *s);

/** The integer under key k of object o (asserts there is one). */
long qp_geti(json_t *o, const char *k);

/** 1 when a real of a report (10 significant digits) is the exact value want. */
int qp_near(double got, double want);

/** CLOCK_REALTIME now, ns: the time a test's sender stamps its frames with. */
uint64_t qp_realtime_ns(void);

/** Sleep until CLOCK_REALTIME reaches t (ns): to 200 us before it, then spin. */
void qp_sleep_until(uint64_t t);

/** A free TCP port on 127.0.0.1 (bound, then released). */
int qp_free_port(void);

/**
 * Packet results (CSV lines of the 19 columns qp_pres.h names, n of them) of
 * the packets of one interval: asserts that they add up to its figures
 * (packets and bytes by direction, TCP RTT samples and their min, mean, max,
 * retransmissions, RTP packets, expected packets and jitter samples).
 * @return the rows with an RTT sample plus those of RTP, to show the check
 *         had something to check.
 */
long qp_expect_rows_add_up(json_t *interval, char *const *rows, size_t n);

#endif
