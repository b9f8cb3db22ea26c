/*
 * MPEG-TS end to end: a stream ffmpeg writes (MPEG-2 video and MP2 audio,
 * PAT, PMT, SDT) and a synthetic one (null packets, PCRs in packets without
 * a payload) sent by tests/gen/qp_tsgen as five flows damaged their own way
 * (datagrams lost, over RTP, packets duplicated, garbage, cut packets,
 * transport errors, a pause), measured by build/qprobe against the
 * generator's truth, and against the continuity counter skips tshark finds
 * in the same file.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gen/qp_tsgen.h"
#include "qp_run.h"

#define T0 1700000000000000000ULL

static struct tsg_truth truth;

/* ffmpeg's stream: 4 s of a test picture and a tone. */
static void ffmpeg_stream(char *path, size_t len)
{
	snprintf(path, len, "%s/stream.ts", qp_tmpdir());
	char *argv[] = {"ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
			"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
			"-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000",
			"-t", "4", "-c:v", "mpeg2video", "-b:v", "1M", "-c:a", "mp2",
			"-f", "mpegts", path, NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 60, &r);
	cr_assert(r.exited && r.status == 0, "ffmpeg: %s", r.err);
}

/* The flows of a stream (a file; NULL: the synthetic one) in a capture, measured. */
static json_t *measure(int from_ffmpeg, char *pcap, size_t len, const char *extra)
{
	uint8_t *ts;
	size_t n;
	if (from_ffmpeg) {
		char sp[256];
		ffmpeg_stream(sp, sizeof(sp));
		FILE *f = fopen(sp, "rb");
		cr_assert_not_null(f);
		fseek(f, 0, SEEK_END);
		n = (size_t)ftell(f);
		rewind(f);
		ts = malloc(n);
		cr_assert_not_null(ts);
		cr_assert_eq(fread(ts, 1, n, f), n);
		fclose(f);
	} else {
		n = 2000 * (size_t)QP_TS_PKT;
		ts = tsg_synthetic(2000);
		cr_assert_not_null(ts);
	}
	snprintf(pcap, len, "%s/mpegts%d.pcap", qp_tmpdir(), from_ffmpeg);
	struct pw w;
	cr_assert_eq(pw_open(&w, pcap, 1, 1), 0);
	cr_assert_eq(tsg_write(&w, T0, ts, n, &truth), 0);
	pw_close(&w);
	free(ts);
	return qp_offline_report(pcap, from_ffmpeg ? "mpegts_ff" : "mpegts_syn", extra);
}

static json_t *ts_of(json_t *rep, const struct tsg_flow *f)
{
	json_t *fl = qp_find_flow(rep, f->src, f->sport, f->dst, f->dport);
	cr_assert_not_null(fl, "no flow to port %u", f->dport);
	return json_object_get(fl, "mpegts");
}

static json_t *pid_of(json_t *m, uint16_t pid)
{
	json_t *pids = json_object_get(m, "pids"), *p;
	size_t i;
	json_array_foreach(pids, i, p)
		if (qp_geti(p, "pid") == pid)
			return p;
	return NULL;
}

static void expect_truth(json_t *rep)
{
	for (int i = 0; i < truth.n; i++) {
		const struct tsg_flow *f = &truth.f[i];
		json_t *m = ts_of(rep, f);
		cr_assert_not_null(m, "port %u: no mpegts", f->dport);
#define QP_TS_EXPECT_(n, h) \
	cr_expect_eq(qp_geti(m, #n), f->c.n, "port %u " #n ": %ld, want %u", f->dport, qp_geti(m, #n), f->c.n);
		QP_TS_COUNTS(QP_TS_EXPECT_)
#undef QP_TS_EXPECT_
		cr_expect_eq(json_array_size(json_object_get(m, "pids")), (size_t)f->npids, "port %u", f->dport);
		for (int k = 0; k < f->npids; k++) {
			const struct tsg_pid *t = &f->pid[k];
			json_t *p = pid_of(m, t->pid);
			cr_assert_not_null(p, "port %u PID 0x%x", f->dport, t->pid);
			cr_expect_eq(qp_geti(p, "packets"), t->packets, "port %u PID 0x%x", f->dport, t->pid);
			cr_expect_eq(qp_geti(p, "cc_errors"), t->cc_errors, "port %u PID 0x%x", f->dport, t->pid);
			cr_expect_eq(qp_geti(p, "lost"), t->lost, "port %u PID 0x%x", f->dport, t->pid);
			json_t *pcr = json_object_get(p, "pcr");
			if (!t->pcr_n) {
				cr_expect(!pcr || qp_geti(pcr, "intervals") == 0, "port %u PID 0x%x", f->dport, t->pid);
				continue;
			}
			cr_assert_not_null(pcr, "port %u PID 0x%x: no pcr", f->dport, t->pid);
			cr_expect_eq(qp_geti(pcr, "intervals"), t->pcr_n);
			cr_expect_eq(qp_geti(pcr, "repetition_errors"), t->pcr_late);
			cr_expect(qp_near(json_real_value(json_object_get(pcr, "interval_max_ms")),
					  (double)t->pcr_max_ns / 1e6));
			cr_expect(qp_near(json_real_value(json_object_get(pcr, "interval_mean_ms")),
					  (double)(t->pcr_sum_ns / t->pcr_n) / 1e6));
		}
		if (f->rtp) {
			json_t *r = json_array_get(json_object_get(qp_find_flow(rep, f->src, f->sport, f->dst,
										f->dport), "rtp"), 0);
			cr_assert_not_null(r, "port %u: no RTP stream", f->dport);
			cr_expect_eq(qp_geti(r, "lost"), f->rtp_lost);
			cr_expect_eq(qp_geti(r, "packets"), f->datagrams);
		}
	}
}

Test(mpegts_metrics, ffmpegs_stream_damaged_five_ways_equals_the_truth, .timeout = 120)
{
	char pcap[256];
	json_t *rep = measure(1, pcap, sizeof(pcap), NULL);
	expect_truth(rep);
	/* what the damage did, so that the truth is not all zeros */
	cr_expect_gt(truth.f[1].c.cc_errors, 3);
	cr_expect_gt(truth.f[2].c.lost, 7);
	cr_expect_gt(truth.f[3].c.duplicates, 10);
	cr_expect_gt(truth.f[3].c.cc_errors, 3);
	cr_expect_eq(truth.f[4].c.sync_errors, truth.f[4].datagrams / 29 + (truth.f[4].datagrams % 29 > 7));
	cr_expect_gt(truth.f[0].c.pcr_repetition_errors, 0);
	json_decref(rep);
}

Test(mpegts_metrics, a_synthetic_stream_with_null_packets_and_pcr_only_packets, .timeout = 120)
{
	char pcap[256];
	json_t *rep = measure(0, pcap, sizeof(pcap), NULL);
	expect_truth(rep);
	cr_expect_eq(truth.f[0].c.null_packets, 100);
	json_decref(rep);
}

/* tshark's continuity counter skips of one flow, by PID: packets with skips, and their sum. */
struct skips {
	long drops[8192], sum[8192];
};

Test(mpegts_metrics, cc_errors_and_losses_equal_the_skips_tshark_finds, .timeout = 120)
{
	char pcap[256];
	json_t *rep = measure(1, pcap, sizeof(pcap), NULL);
	static struct skips by[TSG_FLOWS];
	memset(by, 0, sizeof(by));
	char cmd[600];
	snprintf(cmd, sizeof(cmd),
		 "tshark -r '%s' -d udp.port==5000,mp2t -d udp.port==5002,mp2t -d udp.port==5004,rtp "
		 "-Y 'mp2t.analysis.drops' -T pdml 2>/dev/null",
		 pcap);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	char line[1024];
	int port = 0;
	long pid = -1, lines = 0;
	while (fgets(line, sizeof(line), p)) {
		char *s = strstr(line, " show=\"");
		if (!s)
			continue;
		s += 7;
		if (strstr(line, "name=\"udp.dstport\""))
			port = atoi(s);
		else if (strstr(line, "name=\"mp2t.pid\""))
			pid = strtol(s, NULL, 16);
		else if (strstr(line, "name=\"mp2t.analysis.skips\"") && port >= 5000 && port <= 5004 &&
			 pid >= 0 && pid < 8192) {
			by[(port - 5000) / 2].drops[pid]++;
			by[(port - 5000) / 2].sum[pid] += atol(s);
			lines++;
		}
	}
	pclose(p);
	cr_assert_gt(lines, 10, "tshark finds skips");
	/* the clean flow, datagrams lost, and over RTP: the same rule (the
	 * others differ by design: tshark takes any number of copies of a
	 * packet, and garbage or cut packets are not packets to it) */
	for (int i = 0; i < 3; i++) {
		const struct tsg_flow *f = &truth.f[i];
		json_t *m = ts_of(rep, f);
		long drops = 0;
		for (int k = 0; k < 8192; k++) {
			drops += by[i].drops[k];
			if (!by[i].drops[k])
				continue;
			json_t *pj = pid_of(m, (uint16_t)k);
			cr_assert_not_null(pj, "port %u PID 0x%x", f->dport, k);
			cr_expect_eq(qp_geti(pj, "cc_errors"), by[i].drops[k], "port %u PID 0x%x", f->dport, k);
			cr_expect_eq(qp_geti(pj, "lost"), by[i].sum[k], "port %u PID 0x%x", f->dport, k);
		}
		cr_expect_eq(qp_geti(m, "cc_errors"), drops, "port %u", f->dport);
	}
	json_decref(rep);
}

Test(mpegts_metrics, intervals_add_up_and_the_family_can_be_left_out, .timeout = 120)
{
	char pcap[256];
	json_t *rep = measure(0, pcap, sizeof(pcap), "--interval=100");
	json_t *ivs = json_object_get(rep, "intervals"), *iv;
	size_t i;
	long pk = 0, cc = 0, lost = 0, sync = 0;
	json_array_foreach(ivs, i, iv) {
		json_t *m = json_object_get(iv, "mpegts");
		pk += qp_geti(m, "packets");
		cc += qp_geti(m, "cc_errors");
		lost += qp_geti(m, "lost");
		sync += qp_geti(m, "sync_errors");
	}
	cr_assert_gt(json_array_size(ivs), 5);
	long want_pk = 0, want_cc = 0, want_lost = 0, want_sync = 0;
	for (int k = 0; k < truth.n; k++) {
		want_pk += truth.f[k].c.packets;
		want_cc += truth.f[k].c.cc_errors;
		want_lost += truth.f[k].c.lost;
		want_sync += truth.f[k].c.sync_errors;
	}
	cr_expect_eq(pk, want_pk);
	cr_expect_eq(cc, want_cc);
	cr_expect_eq(lost, want_lost);
	cr_expect_eq(sync, want_sync);
	cr_expect_eq(qp_geti(json_object_get(rep, "mpegts"), "cc_errors"), want_cc);
	json_decref(rep);
	rep = measure(0, pcap, sizeof(pcap), "--metrics=tcp,rtp");
	cr_expect_null(ts_of(rep, &truth.f[0]));
	cr_expect_eq(qp_geti(json_object_get(rep, "mpegts"), "packets"), 0);
	json_decref(rep);
}
