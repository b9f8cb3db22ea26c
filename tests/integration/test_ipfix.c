/*
 * IPFIX export against the collectors operators run, from Debian: every flow
 * record of `qprobe --pcap` arrives in nfdump (nfcapd) with its packets and
 * bytes, pmacct's nfacctd stores qprobe's RTT and jitter elements, tshark
 * decodes every record without an expert note, a TCP collector gets the same
 * records, and a collector that is down or cannot be named is handled.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../gen/qp_ipfix_rd.h"
#include "../gen/qp_pcapw.h"
#include "qp_run.h"

static int have(const char *prog)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

/* A port nothing listens on now (UDP or TCP), from the kernel. */
static int free_port(int type)
{
	int fd = socket(AF_INET, type, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t al = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &al);
	close(fd);
	return ntohs(a.sin_port);
}

static void pause_ms(int ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&t, NULL);
}

/* 1 when some program has UDP port `port` on 127.0.0.1 bound (our bind fails). */
static int udp_bound(int port)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return rc != 0;
}

/* Bytes waiting in the receive queue of the UDP socket on `port` (-1: none found). */
static long udp_queued(int port)
{
	FILE *f = fopen("/proc/net/udp", "r");
	char line[512];
	long q = -1;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned int lp, tx, rx;
		if (sscanf(line, " %*d: %*x:%x %*x:%*x %*x %x:%x", &lp, &tx, &rx) == 3 &&
		    (int)lp == port)
			q = (long)rx;
	}
	if (f)
		fclose(f);
	return q;
}

/* 1 when the file holds the text. */
static int file_has(const char *path, const char *text)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "grep -q -F '%s' %s 2>/dev/null", text, path);
	return system(cmd) == 0;
}

/*
 * A collector started on `port`: wait until it is bound and, when `ready`
 * is given, until its log (err) says so (at most 20 s each).
 */
static int start_collector(char *const argv[], int port, const char *err, const char *ready)
{
	int pid = qp_spawn(argv, NULL, err);
	for (int i = 0; i < 2000 && !udp_bound(port); i++)
		pause_ms(10);
	cr_assert(udp_bound(port), "%s never bound port %d", argv[0], port);
	for (int i = 0; ready && i < 2000 && !file_has(err, ready); i++)
		pause_ms(10);
	cr_assert(!ready || file_has(err, ready), "%s never said '%s'", argv[0], ready);
	return pid;
}

/* Stop a collector once it has read every datagram sent to it, and reap it. */
static void stop_collector(int pid, int port, int sig)
{
	for (int i = 0; i < 2000 && udp_queued(port) > 0; i++)
		pause_ms(10);
	cr_assert_eq(udp_queued(port), 0, "the collector left datagrams unread");
	/* its plugin processes too (nfacctd writes from one): each ends on its own */
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "pkill -%d -P %d", sig, pid);
	if (system(cmd) < 0)
		cr_log_warn("%s failed", cmd);
	kill(pid, sig);
	struct qp_run_result r;
	qp_wait(pid, 30, &r, "/dev/null");
	cr_assert(r.exited, "the collector did not stop on signal %d", sig);
}

/* A realistic mix: TCP with handshakes and FIN, IMIX sizes, heavy-tailed flows. */
static const char *bench_capture(void)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/mix.pcap", qp_tmpdir());
	char *gen[] = {(char *)"x", (char *)"bench", path, (char *)"30000", (char *)"400", NULL};
	char prog[256];
	snprintf(prog, sizeof(prog), "%s/qp_gen", qp_build());
	gen[0] = prog;
	struct qp_run_result r;
	qp_run(gen, NULL, 120, &r);
	cr_assert(r.exited && r.status == 0, "qp_gen: %s", r.err);
	return path;
}

static json_t *run_offline(const char *pcap, const char *extra[], const char *report)
{
	char prog[256];
	snprintf(prog, sizeof(prog), "%s/qprobe", qp_build());
	char *argv[32] = {prog, (char *)"--pcap", (char *)pcap, (char *)"--report-file",
			  (char *)report};
	int n = 5;
	for (int i = 0; extra[i]; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	struct qp_run_result r;
	qp_run(argv, NULL, 120, &r);
	cr_assert(r.exited && r.status == 0, "qprobe exited %d: %s", r.status, r.err);
	json_t *j = qp_json_load(report);
	cr_assert_not_null(j);
	return j;
}

/* A flow as a line both sides can print: src,dst,sport,dport,proto,pf,bf,pr,br. */
static char *flow_line(const char *src, const char *dst, long sp, long dp, const char *proto,
		       long pf, long bf, long pr, long br)
{
	char *s;
	cr_assert(asprintf(&s, "%s,%s,%ld,%ld,%s,%ld,%ld,%ld,%ld", src, dst, sp, dp, proto, pf, bf,
			   pr, br) > 0);
	return s;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static json_t *fwdrev(json_t *f, const char *k, const char *d)
{
	return json_object_get(json_object_get(f, k), d);
}

/* The report's flow records as sorted lines. */
static char **report_lines(json_t *rep, size_t *n)
{
	json_t *flows = json_object_get(rep, "flows");
	*n = json_array_size(flows);
	char **l = calloc(*n, sizeof(*l));
	for (size_t i = 0; i < *n; i++) {
		json_t *f = json_array_get(flows, i);
		l[i] = flow_line(json_string_value(json_object_get(f, "src")),
				 json_string_value(json_object_get(f, "dst")),
				 (long)json_integer_value(json_object_get(f, "sport")),
				 (long)json_integer_value(json_object_get(f, "dport")),
				 json_string_value(json_object_get(f, "proto")),
				 (long)json_integer_value(fwdrev(f, "packets", "fwd")),
				 (long)json_integer_value(fwdrev(f, "bytes", "fwd")),
				 (long)json_integer_value(fwdrev(f, "packets", "rev")),
				 (long)json_integer_value(fwdrev(f, "bytes", "rev")));
	}
	qsort(l, *n, sizeof(*l), cmp_str);
	return l;
}

Test(ipfix, nfdump_receives_every_flow_record_with_its_packets_and_bytes, .timeout = 300)
{
	if (!have("nfcapd") || !have("nfdump"))
		cr_skip_test("nfdump is not installed (scripts/install-deps.sh --test installs it)");
	const char *pcap = bench_capture();
	char dir[256], report[256], out[256], err[256], ps[16], spec[64];
	snprintf(dir, sizeof(dir), "%s/nfcapd", qp_tmpdir());
	mkdir(dir, 0755);
	snprintf(report, sizeof(report), "%s/nf-report.json", qp_tmpdir());
	snprintf(err, sizeof(err), "%s/nfcapd.err", qp_tmpdir());
	int port = free_port(SOCK_DGRAM);
	snprintf(ps, sizeof(ps), "%d", port);
	char *nfc[] = {(char *)"nfcapd", (char *)"-w", dir, (char *)"-p", ps, (char *)"-b",
		       (char *)"127.0.0.1", NULL};
	int pid = start_collector(nfc, port, err, NULL);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
	/* active timeouts of 5 ms in a capture of 30: several records for most flows */
	const char *extra[] = {"--ipfix", spec, "--active-timeout", "0.005", NULL};
	json_t *rep = run_offline(pcap, extra, report);
	stop_collector(pid, port, SIGTERM);

	size_t n;
	char **want = report_lines(rep, &n);
	cr_assert_gt(n, 400, "more records than flows: the active timeout exported some twice");
	snprintf(out, sizeof(out), "%s/nfdump.csv", qp_tmpdir());
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "nfdump -R %s -q -N -o csv > %s", dir, out);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	FILE *f = fopen(out, "r");
	char line[2048];
	char **got = calloc(n + 64, sizeof(*got));
	size_t m = 0;
	while (fgets(line, sizeof(line), f)) {
		/* ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,... */
		char *fld[20];
		int k = 0;
		for (char *s = line, *t; k < 20 && (t = strsep(&s, ",")); k++)
			fld[k] = t;
		if (k < 15 || !strcmp(fld[0], "ts"))
			continue;
		char proto[8];
		snprintf(proto, sizeof(proto), "%s", fld[7]);
		for (char *c = proto; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		cr_assert_lt(m, n + 64);
		got[m++] = flow_line(fld[3], fld[4], atol(fld[5]), atol(fld[6]), proto, atol(fld[11]),
				     atol(fld[12]), atol(fld[13]), atol(fld[14]));
	}
	fclose(f);
	qsort(got, m, sizeof(*got), cmp_str);
	cr_assert_eq(m, n, "nfdump has %zu records, the report %zu", m, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(got[i], want[i], "record %zu", i);
	cr_log_info("nfdump: %zu records, each with the report's packets and bytes", n);
	for (size_t i = 0; i < n; i++) {
		free(got[i]);
		free(want[i]);
	}
	free(got);
	free(want);
	json_decref(rep);
}

Test(ipfix, pmacct_stores_qprobes_rtt_and_jitter_elements, .timeout = 120)
{
	if (!have("nfacctd"))
		cr_skip_test("pmacct is not installed (scripts/install-deps.sh --test installs it)");
	char report[256], conf[256], prim[256], csv[256], err[256];
	snprintf(report, sizeof(report), "%s/pm-report.json", qp_tmpdir());
	snprintf(conf, sizeof(conf), "%s/nfacctd.conf", qp_tmpdir());
	snprintf(prim, sizeof(prim), "%s/qprobe.lst", qp_tmpdir());
	snprintf(csv, sizeof(csv), "%s/pmacct.csv", qp_tmpdir());
	snprintf(err, sizeof(err), "%s/nfacctd.err", qp_tmpdir());
	int port = free_port(SOCK_DGRAM);
	FILE *f = fopen(prim, "w");
	fprintf(f, "name=qp_hs field_type=32473:1001 len=8 semantics=u_int\n"
		   "name=qp_rtt_n field_type=32473:1010 len=4 semantics=u_int\n"
		   "name=qp_rtt_mean field_type=32473:1012 len=8 semantics=u_int\n"
		   "name=qp_rtt_mean_rev field_type=32473:1112 len=8 semantics=u_int\n"
		   "name=qp_jitter_mean field_type=32473:1025 len=8 semantics=u_int\n"
		   "name=qp_jitter_max field_type=32473:1026 len=8 semantics=u_int\n");
	fclose(f);
	f = fopen(conf, "w");
	fprintf(f,
		"daemonize: false\nnfacctd_ip: 127.0.0.1\nnfacctd_port: %d\n"
		"aggregate_primitives: %s\nplugins: print[p]\n"
		"aggregate[p]: src_host, dst_host, src_port, dst_port, proto, qp_hs, qp_rtt_n, "
		"qp_rtt_mean, qp_rtt_mean_rev, qp_jitter_mean, qp_jitter_max\n"
		"print_output[p]: csv\nprint_output_file[p]: %s\nprint_refresh_time[p]: 1\n"
		"print_output_file_append[p]: true\n",
		port, prim, csv);
	fclose(f);
	char *nfa[] = {(char *)"nfacctd", (char *)"-f", conf, NULL};
	/* its print plugin takes records once it has purged its cache a first time */
	int pid = start_collector(nfa, port, err, "Purging cache - END");
	char spec[64];
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
	const char *extra[] = {"--ipfix", spec, NULL};
	json_t *rep = run_offline("tests/data/demo.pcap", extra, report);
	json_t *flows = json_object_get(rep, "flows");
	size_t n = json_array_size(flows), checked = 0, jit = 0;
	/* nfacctd appends what it aggregated every second: wait for every flow */
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "grep -c '^[0-9a-f:.]*,' %s 2>/dev/null || echo 0", csv);
	for (int i = 0; i < 3000 && qp_sh_long(cmd) < (long)n; i++)
		pause_ms(10);
	stop_collector(pid, port, SIGINT);
	f = fopen(csv, "r");
	cr_assert_not_null(f, "nfacctd wrote no %s", csv);
	char line[1024];
	size_t rows = 0;
	while (fgets(line, sizeof(line), f)) {
		char src[64], dst[64], proto[16];
		long sp, dp, pkts, bytes;
		unsigned long long hs, rn, rm, rmr, jm, jx;
		if (sscanf(line, "%63[^,],%63[^,],%ld,%ld,%15[^,],%llu,%llu,%llu,%llu,%llu,%llu,%ld,%ld",
			   src, dst, &sp, &dp, proto, &hs, &rn, &rm, &rmr, &jm, &jx, &pkts, &bytes) != 13)
			continue;
		rows++;
		json_t *fl = qp_find_flow(rep, src, (int)sp, dst, (int)dp);
		cr_assert_not_null(fl, "pmacct has a flow the report has not: %s", line);
		cr_assert_eq(pkts, json_integer_value(fwdrev(fl, "packets", "fwd")));
		cr_assert_eq(bytes, json_integer_value(fwdrev(fl, "bytes", "fwd")));
		json_t *tcp = json_object_get(fl, "tcp");
		if (tcp) {
			json_t *rtt = json_object_get(tcp, "rtt_ms"), *rrev = json_object_get(tcp, "rtt_rev_ms");
			cr_assert_eq((long long)rn, json_integer_value(json_object_get(rtt, "samples")));
			cr_assert_eq((long long)hs, llround(json_real_value(json_object_get(tcp, "handshake_rtt_ms")) * 1e6));
			if (rn) {
				cr_assert_eq((long long)rm, llround(json_number_value(json_object_get(rtt, "mean")) * 1e6), "%s", line);
				cr_assert_eq((long long)rmr, llround(json_number_value(json_object_get(rrev, "mean")) * 1e6), "%s", line);
			}
			checked++;
		}
		json_t *rtp = json_array_get(json_object_get(fl, "rtp"), 0);
		if (rtp && !strcmp(json_string_value(json_object_get(rtp, "direction")), "fwd")) {
			json_t *j = json_object_get(rtp, "jitter_ms");
			cr_assert_eq((long long)jm, llround(json_number_value(json_object_get(j, "mean")) * 1e6));
			cr_assert_eq((long long)jx, llround(json_number_value(json_object_get(j, "max")) * 1e6));
			cr_assert_gt(jm, 0);
			jit++;
		}
	}
	fclose(f);
	cr_assert_eq(rows, n, "a row for each of the report's %zu flows", n);
	cr_assert_geq(checked, 4, "the demo's TCP flows");
	cr_assert_eq(jit, 1, "the demo's RTP stream");
	json_decref(rep);
}

/* An IPFIX file's messages as UDP datagrams to port 4739, for tshark. */
static void ipfix_to_pcap(const char *ipfix, const char *pcap, size_t *nmsg)
{
	FILE *f = fopen(ipfix, "rb");
	cr_assert_not_null(f);
	static uint8_t buf[1 << 22];
	size_t len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	struct pw w;
	cr_assert_eq(pw_open(&w, pcap, 1, 0), 0);
	*nmsg = 0;
	for (size_t o = 0; o + 16 <= len;) {
		size_t ml = (size_t)buf[o + 2] << 8 | buf[o + 3];
		cr_assert(ml >= 16 && o + ml <= len, "message %zu", *nmsg);
		struct pb b;
		pb_init(&b);
		pb_push_raw(&b, buf + o, (uint32_t)ml);
		pb_push_udp(&b, 40000, 4739);
		pb_push_ip4(&b, "127.0.0.1", "127.0.0.1", 1, 0);
		pb_push_eth(&b);
		pw_write(&w, 1700000000000000000ULL + *nmsg * 1000, pb_data(&b), pb_len(&b), pb_len(&b));
		o += ml;
		(*nmsg)++;
	}
	pw_close(&w);
}

Test(ipfix, tshark_decodes_every_record_of_the_file_without_an_expert_note, .timeout = 300)
{
	const char *pcap = bench_capture();
	char report[256], file[256], file2[256], wrapped[256], out[256], cmd[1024];
	snprintf(report, sizeof(report), "%s/ts-report.json", qp_tmpdir());
	snprintf(file, sizeof(file), "%s/run.ipfix", qp_tmpdir());
	snprintf(file2, sizeof(file2), "%s/run2.ipfix", qp_tmpdir());
	snprintf(wrapped, sizeof(wrapped), "%s/ipfix.pcap", qp_tmpdir());
	snprintf(out, sizeof(out), "%s/tshark.txt", qp_tmpdir());
	const char *extra[] = {"--ipfix-file", file, "--active-timeout", "0.005", "--ipfix-domain", "42",
			       NULL};
	json_t *rep = run_offline(pcap, extra, report);
	const char *extra2[] = {"--ipfix-file", file2, "--active-timeout", "0.005", "--ipfix-domain", "42",
				NULL};
	json_decref(run_offline(pcap, extra2, report));
	snprintf(cmd, sizeof(cmd), "cmp -s %s %s", file, file2);
	cr_assert_eq(system(cmd), 0, "one capture, one IPFIX file");
	size_t nmsg;
	ipfix_to_pcap(file, wrapped, &nmsg);
	size_t n = json_array_size(json_object_get(rep, "flows"));
	/* every record, with its packets (both directions) */
	snprintf(cmd, sizeof(cmd),
		 "tshark -r %s -d udp.port==4739,cflow -T fields -e cflow.od_id -e cflow.packets "
		 "2>/dev/null | tr '\\t' '\\n' | tr ',' '\\n' | grep -c . > %s",
		 wrapped, out);
	cr_assert_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "cat %s", out);
	long fields = qp_sh_long(cmd);
	cr_assert_eq(fields, (long)(nmsg + 2 * n), "a domain id a message, two packet counts a record");
	/* no expert note: no malformed packet, no undecoded field */
	snprintf(cmd, sizeof(cmd),
		 "tshark -r %s -d udp.port==4739,cflow -q -z expert,note 2>/dev/null | grep -c -E "
		 "'Malformed|Warning|Error|Note'",
		 wrapped);
	cr_assert_eq(qp_sh_long(cmd), 0, "tshark found expert notes");
	snprintf(cmd, sizeof(cmd),
		 "tshark -r %s -d udp.port==4739,cflow -T fields -e cflow.od_id 2>/dev/null | sort -u",
		 wrapped);
	cr_assert_eq(qp_sh_long(cmd), 42, "the observation domain");
	cr_log_info("tshark: %zu messages, %zu records, no expert note", nmsg, n);
	json_decref(rep);
}

/* A TCP collector: accept one connection and read it to the end. */
static size_t tcp_collect(int lfd, uint8_t *buf, size_t cap)
{
	int c = accept(lfd, NULL, NULL);
	cr_assert_geq(c, 0);
	size_t n = 0;
	ssize_t r;
	while (n < cap && (r = read(c, buf + n, cap - n)) > 0)
		n += (size_t)r;
	close(c);
	return n;
}

Test(ipfix, a_tcp_collector_gets_the_templates_first_and_every_record, .timeout = 120)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t al = sizeof(a);
	getsockname(lfd, (struct sockaddr *)&a, &al);
	listen(lfd, 1);
	char spec[64], report[256], prog[256], err[256];
	snprintf(spec, sizeof(spec), "127.0.0.1:%d/tcp", ntohs(a.sin_port));
	snprintf(report, sizeof(report), "%s/tcp-report.json", qp_tmpdir());
	snprintf(err, sizeof(err), "%s/tcp.err", qp_tmpdir());
	snprintf(prog, sizeof(prog), "%s/qprobe", qp_build());
	char *argv[] = {prog, (char *)"--pcap", (char *)"tests/data/demo.pcap", (char *)"--ipfix",
			spec, (char *)"--report-file", report, NULL};
	int pid = qp_spawn(argv, NULL, err);
	static uint8_t buf[1 << 20];
	size_t len = tcp_collect(lfd, buf, sizeof(buf));
	struct qp_run_result r;
	qp_wait(pid, 60, &r, err);
	cr_assert(r.exited && r.status == 0, "%s", r.err);
	close(lfd);
	json_t *rep = qp_json_load(report);
	size_t nflows = json_array_size(json_object_get(rep, "flows"));
	/* templates before their records, sequence numbers right, every record */
	static struct ipfix_rd rd;
	ipfix_rd_init(&rd);
	cr_assert_eq(ipfix_rd_stream(&rd, buf, len), 0, "%s", rd.err);
	cr_assert_eq(rd.seq_errors, 0);
	size_t records = rd.nrec;
	cr_assert_eq(records, nflows, "every flow record over TCP");
	ipfix_rd_free(&rd);
	json_decref(rep);
}

Test(ipfix, collectors_that_cannot_be_named_or_reached_are_refused_or_counted, .timeout = 120)
{
	char prog[256], report[256], tcp_spec[64], udp_spec[64];
	snprintf(prog, sizeof(prog), "%s/qprobe", qp_build());
	snprintf(report, sizeof(report), "%s/bad-report.json", qp_tmpdir());
	snprintf(tcp_spec, sizeof(tcp_spec), "127.0.0.1:%d/tcp", free_port(SOCK_STREAM));
	snprintf(udp_spec, sizeof(udp_spec), "127.0.0.1:%d", free_port(SOCK_DGRAM));
	struct qp_run_result r;
	char want[256];

	/* a name that does not resolve: one line, before any frame is read */
	char *a1[] = {prog, (char *)"--pcap", (char *)"tests/data/demo.pcap", (char *)"--ipfix",
		      (char *)"no-such-collector.invalid:4739", NULL};
	qp_run(a1, NULL, 60, &r);
	cr_assert(r.exited);
	cr_assert_eq(r.status, 2, "input refused");
	cr_assert_eq(r.err_lines, 1, "%s", r.err);
	cr_assert(strstr(r.err, "qprobe: IPFIX collector 'no-such-collector.invalid:4739': cannot "
				"resolve 'no-such-collector.invalid': "),
		  "%s", r.err);

	/* a TCP collector that is down */
	char *a2[] = {prog, (char *)"--pcap", (char *)"tests/data/demo.pcap", (char *)"--ipfix",
		      tcp_spec, NULL};
	qp_run(a2, NULL, 60, &r);
	cr_assert_eq(r.status, 2);
	snprintf(want, sizeof(want), "qprobe: IPFIX collector '%s': cannot connect: Connection refused\n",
		 tcp_spec);
	cr_assert_str_eq(r.err, want);

	/* bad syntax is a usage error */
	char *a3[] = {prog, (char *)"--pcap", (char *)"tests/data/demo.pcap", (char *)"--ipfix",
		      (char *)"collector:4739/sctp", NULL};
	qp_run(a3, NULL, 60, &r);
	cr_assert_eq(r.status, 1);
	cr_assert_str_eq(r.err, "qprobe: --ipfix: IPFIX collector 'collector:4739/sctp': transport "
				"'sctp' is not known (udp or tcp; SCTP is not supported)\n");

	/* a UDP collector that is down: the run and its report go on, the loss is said */
	char *a4[] = {prog,	      (char *)"--pcap", (char *)"tests/data/demo.pcap",
		      (char *)"--ipfix", udp_spec,	(char *)"--ipfix-file",
		      (char *)"/nonexistent-dir/x.ipfix", NULL};
	qp_run(a4, NULL, 60, &r);
	cr_assert_eq(r.status, 2, "an IPFIX file that cannot be written is refused");
	cr_assert(strstr(r.err, "cannot write the IPFIX file /nonexistent-dir/x.ipfix: No such file "
				"or directory"),
		  "%s", r.err);
	const char *extra[] = {"--ipfix", udp_spec, "--active-timeout", "0.001", NULL};
	char *a5[16] = {prog, (char *)"--pcap", (char *)"tests/data/demo.pcap", (char *)"--report-file",
			report};
	int k = 5;
	for (int i = 0; extra[i]; i++)
		a5[k++] = (char *)extra[i];
	a5[k] = NULL;
	qp_run(a5, NULL, 60, &r);
	cr_assert(r.exited && r.status == 0, "%s", r.err);
	cr_assert(strstr(r.err, "records) were not taken by the collector"), "%s", r.err);
	json_t *rep = qp_json_load(report);
	cr_assert_not_null(rep);
	cr_assert_gt(json_array_size(json_object_get(rep, "flows")), 8);
	json_decref(rep);
}
