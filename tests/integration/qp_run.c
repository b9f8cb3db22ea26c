/*
 * qp_run: see qp_run.h.
 */
#include "qp_run.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *qp_build(void)
{
	const char *b = getenv("QP_BUILD");
	return b && *b ? b : "build";
}

const char *qp_tmpdir(void)
{
	static char dir[64];
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/qprobe-test-XXXXXX");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			abort();
		}
	}
	return dir;
}

int qp_spawn(char *const argv[], const char *out_path, const char *err_path)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		/* a test that fails (or times out) ends its process: what it started
		 * must not run on, busy-polling a CPU beside the next tests */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int o = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int in = open("/dev/null", O_RDONLY);
		dup2(in, 0);
		dup2(o, 1);
		dup2(e, 2);
		/* a sanitizer report must not look like one of qprobe's exit codes */
		char asan[256];
		const char *extra = getenv("QP_ASAN_EXTRA"); /* a test's own ASan settings */
		snprintf(asan, sizeof(asan), "exitcode=86:detect_leaks=1%s%s", extra ? ":" : "",
			 extra ? extra : "");
		setenv("ASAN_OPTIONS", asan, 1);
		setenv("UBSAN_OPTIONS", "exitcode=87:print_stacktrace=1", 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void qp_wait(int pid, double timeout_s, struct qp_run_result *r, const char *err_path)
{
	memset(r, 0, sizeof(*r));
	double deadline = now_s() + timeout_s;
	int st = 0;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (now_s() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			r->timed_out = 1;
			break;
		}
		struct timespec nap = {0, 2000000};
		nanosleep(&nap, NULL);
	}
	r->exited = !r->timed_out && WIFEXITED(st);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? WTERMSIG(st) : -1;
	FILE *f = fopen(err_path, "r");
	if (f) {
		size_t n = fread(r->err, 1, sizeof(r->err) - 1, f);
		r->err[n] = 0;
		fclose(f);
		for (size_t i = 0; i < n; i++)
			if (r->err[i] == '\n')
				r->err_lines++;
	}
}

void qp_run(char *const argv[], const char *out_path, double timeout_s, struct qp_run_result *r)
{
	char err_path[256];
	snprintf(err_path, sizeof(err_path), "%s/stderr.%d", qp_tmpdir(), (int)getpid());
	int pid = qp_spawn(argv, out_path, err_path);
	qp_wait(pid, timeout_s, r, err_path);
	unlink(err_path);
}

json_t *qp_json_load(const char *path)
{
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);
	if (!j)
		fprintf(stderr, "%s: line %d: %s\n", path, e.line, e.text);
	return j;
}

int qp_http_get(int port, const char *path, char **body)
{
	*body = NULL;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(s);
		return -1;
	}
	char req[512];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (write(s, req, (size_t)n) != n) {
		close(s);
		return -1;
	}
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (len + 4096 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		ssize_t k = read(s, buf + len, cap - len - 1);
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	close(s);
	buf[len] = 0;
	int status = -1;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	char *b = strstr(buf, "\r\n\r\n");
	*body = strdup(b ? b + 4 : "");
	free(buf);
	return status;
}

json_t *qp_find_flow(json_t *report, const char *src, int sport, const char *dst, int dport)
{
	json_t *flows = json_object_get(report, "flows");
	size_t i;
	json_t *f;
	json_array_foreach(flows, i, f)
	{
		if (strcmp(json_string_value(json_object_get(f, "src")), src) == 0 &&
		    strcmp(json_string_value(json_object_get(f, "dst")), dst) == 0 &&
		    json_integer_value(json_object_get(f, "sport")) == sport &&
		    json_integer_value(json_object_get(f, "dport")) == dport)
			return f;
	}
	return NULL;
}

int qp_free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	socklen_t l = sizeof(a);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(s, (struct sockaddr *)&a, &l) != 0) {
		close(s);
		return 18000 + getpid() % 10000;
	}
	int p = ntohs(a.sin_port);
	close(s);
	return p;
}

json_t *qp_stats_when_packets(int port, long packets, double timeout_s)
{
	for (int i = 0; i < (int)(timeout_s * 20); i++) {
		char *body = NULL;
		if (qp_http_get(port, "/api/v1/stats", &body) == 200) {
			json_t *j = json_loads(body, 0, NULL);
			/* the first port's counter is read before the workers' in one GET:
			 * both must have got there */
			json_t *p0 = json_array_get(json_object_get(j, "ports"), 0);
			if (json_integer_value(json_object_get(json_object_get(j, "totals"), "packets")) ==
				    packets &&
			    json_integer_value(json_object_get(p0, "rx_packets")) == packets) {
				free(body);
				return j;
			}
			json_decref(j);
		}
		free(body);
		struct timespec ts = {0, 50000000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **qp_corpus_list(const char **dirp, size_t *np)
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
				cr_assert_not_null(names);
			}
			names[n++] = strdup(e->d_name);
		}
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	cr_assert_gt(n, 0);
	*np = n;
	return names;
}

uint64_t qp_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void qp_sleep_until(uint64_t t)
{
	for (;;) {
		uint64_t n = qp_realtime_ns();
		if (n >= t)
			return;
		uint64_t d = t - n;
		if (d > 200000) {
			d -= 200000;
			struct timespec s = {(time_t)(d / 1000000000ULL), (long)(d % 1000000000ULL)};
			nanosleep(&s, NULL);
		}
	}
}

int qp_qmctl(int port, const char *secret, char *const args[], char *out, size_t outlen, char *err,
	     size_t errlen)
{
	char bin[256], probe[64], outp[256];
	snprintf(bin, sizeof(bin), "%s/qmctl", qp_build());
	snprintf(probe, sizeof(probe), "127.0.0.1:%d", port);
	snprintf(outp, sizeof(outp), "%s/qmctl.out", qp_tmpdir());
	char *argv[32] = {bin, "--probe", probe};
	int n = 3;
	if (secret) {
		argv[n++] = "--secret-file";
		argv[n++] = (char *)secret;
	}
	for (int i = 0; args[i] && n < 30; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	struct qp_run_result r;
	qp_run(argv, outp, 60, &r);
	FILE *f = fopen(outp, "r");
	size_t k = f ? fread(out, 1, outlen - 1, f) : 0;
	out[k] = 0;
	if (f)
		fclose(f);
	snprintf(err, errlen, "%s", r.err);
	return r.exited ? r.status : -1;
}

void qp_stop_clean(int pid, const char *err_path)
{
	kill(pid, SIGTERM);
	struct qp_run_result r;
	qp_wait(pid, 60, &r, err_path);
	cr_assert(r.exited && r.status == 0, "exit %d: %s", r.status, r.err);
}

long qp_sh_long(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	long v = -1;
	if (p && fscanf(p, "%ld", &v) != 1)
		v = -1;
	if (p)
		pclose(p);
	return v;
}

json_t *qp_offline_report(const char *pcap, const char *name, const char *extra)
{
	char qb[256], rep[256];
	snprintf(qb, sizeof(qb), "%s/qprobe", qp_build());
	snprintf(rep, sizeof(rep), "%s/%s.json", qp_tmpdir(), name);
	char *argv[] = {qb, "--pcap", (char *)pcap, "--report-file", rep, (char *)extra, NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 60, &r);
	cr_assert(r.exited && r.status == 0, "qprobe --pcap %s: %s", pcap, r.err);
	json_t *j = qp_json_load(rep);
	cr_assert_not_null(j);
	return j;
}

unsigned long long qp_seconds_ns(const char *s)
{
	unsigned long long sec = strtoull(s, NULL, 10), frac = 0;
	const char *dot = strchr(s, '.');
	int digits = 0;
	if (dot)
		for (const char *q = dot + 1; *q >= '0' && *q <= '9' && digits < 9; q++, digits++)
			frac = frac * 10 + (unsigned long long)(*q - '0');
	for (; digits < 9; digits++)
		frac *= 10;
	return sec * 1000000000ULL + frac;
}

int qp_near(double got, double want)
{
	double tol = (want < 0 ? -want : want) * 1e-9;
	return got >= want - tol && got <= want + tol;
}

long qp_geti(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	cr_assert(json_is_integer(v), "%s is no integer", k);
	return (long)json_integer_value(v);
}

/* One statistic of rows against the interval's {min, mean, max, samples} (null without). */
struct rowstat {
	long n;
	double sum, min, max;
};

static void rowstat_add(struct rowstat *s, double v)
{
	if (!s->n || v < s->min)
		s->min = v;
	if (!s->n || v > s->max)
		s->max = v;
	s->n++;
	s->sum += v;
}

static void expect_stat(json_t *d, const struct rowstat *s, const char *what)
{
	if (!s->n) {
		cr_expect(!json_is_object(d) || qp_geti(d, "samples") == 0, "%s: no rows, the interval has samples",
			  what);
		return;
	}
	cr_assert(json_is_object(d), "%s: %ld rows, no samples in the interval", what, s->n);
	cr_expect_eq(qp_geti(d, "samples"), s->n, "%s samples", what);
	cr_expect(qp_near(json_real_value(json_object_get(d, "min")), s->min), "%s min", what);
	cr_expect(qp_near(json_real_value(json_object_get(d, "max")), s->max), "%s max", what);
	double mean = json_real_value(json_object_get(d, "mean"));
	cr_expect(fabs(mean - s->sum / (double)s->n) <= fabs(mean) * 1e-9 + 1e-9, "%s mean %.9f, rows %.9f",
		  what, mean, s->sum / (double)s->n);
}

long qp_expect_rows_add_up(json_t *iv, char *const *rows, size_t n)
{
	long pk[2] = {0, 0}, by[2] = {0, 0}, re[2] = {0, 0}, rr[2] = {0, 0}, rx[2] = {0, 0}, shown = 0;
	struct rowstat rtt[2] = {{0}}, jit[2] = {{0}};
	for (size_t i = 0; i < n; i++) {
		char line[512], *f[19];
		snprintf(line, sizeof(line), "%s", rows[i]);
		int k = 0;
		for (char *s = line; k < 19; k++) {
			f[k] = s;
			char *c = strchr(s, ',');
			if (!c) {
				k++;
				break;
			}
			*c = 0;
			s = c + 1;
		}
		cr_assert_eq(k, 19, "row '%s': 19 columns", rows[i]);
		int d = !strcmp(f[6], "rev");
		pk[d]++;
		by[d] += atol(f[7]);
		if (*f[8]) {
			rowstat_add(&rtt[!strcmp(f[9], "rev")], atof(f[8]));
			shown++;
		}
		if (*f[10])
			re[d] += atol(f[10]);
		if (*f[13]) {
			rr[d] += atol(f[15]);
			rx[d] += atol(f[16]);
			shown++;
		}
		if (*f[17])
			rowstat_add(&jit[d], atof(f[17]));
	}
	json_t *p = json_object_get(iv, "packets"), *b = json_object_get(iv, "bytes"),
	       *tcp = json_object_get(iv, "tcp"), *rtp = json_object_get(iv, "rtp");
	static const char *const dn[2] = {"fwd", "rev"};
	for (int d = 0; d < 2; d++) {
		cr_expect_eq(qp_geti(p, dn[d]), pk[d], "%s packets", dn[d]);
		cr_expect_eq(qp_geti(b, dn[d]), by[d], "%s bytes", dn[d]);
		cr_expect_eq(qp_geti(json_object_get(tcp, "retransmissions"), dn[d]), re[d], "%s retransmissions",
			     dn[d]);
		expect_stat(json_object_get(tcp, d ? "rtt_rev_ms" : "rtt_ms"), &rtt[d], d ? "rtt rev" : "rtt fwd");
		json_t *r = json_object_get(rtp, dn[d]);
		cr_expect_eq(qp_geti(r, "packets"), rr[d], "%s RTP packets", dn[d]);
		cr_expect_eq(qp_geti(r, "expected"), rx[d], "%s RTP expected", dn[d]);
		expect_stat(json_object_get(r, "jitter_ms"), &jit[d], d ? "jitter rev" : "jitter fwd");
	}
	return shown;
}
