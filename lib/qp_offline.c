/*
 * qp_offline: see qp_offline.h. A classic pcap file is read in blocks, its
 * frames used in place (qp_pcap_read); anything else comes from
 * libpcap one frame at a time in a buffer it reuses, so those frames are
 * copied into a batch arena. A batch closes when it is full or when a frame
 * enters a new interval, so the worker's interval slots are read before
 * they are reused.
 */
#include "qp_offline.h"
#include "qp_cpu.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qp_filter.h"
#include "qp_ipfix.h"
#include "qp_mem.h"
#include "qp_pcap_read.h"
#include "qp_report.h"
#include "qp_sig.h"
#include "qp_tp.h"
#include "qp_worker_dp.h"
#include "qp_tp_batch.h"

#define BATCH 32
#define ARENA (BATCH * 2048)
#define EXPIRE_BUCKETS 64
#define READ_BUF (1u << 20) /* a read(2) a MiB: the buffer stays in the cache */
#define AHEAD_BLOCK (1u << 20) /* read ahead: blocks of a MiB, */
#define AHEAD_BLOCKS 4	       /* four of them */

struct run {
	struct qp_worker *w;
	struct qp_measure_cfg cfg;
	struct qp_report *rep;
	uint64_t next_iv; /* first interval still to take from the worker */
	int oom;
	FILE *pres_out; /* packet results (NULL: none) */
	int pres_err;
};

/* The batch's packet results into their file. */
static void pres_drain(struct run *r)
{
	const struct qp_pres *p;
	while ((p = qp_pres_peek(r->w->pres))) {
		char line[400];
		size_t n = qp_pres_csv(p, line, sizeof(line));
		if (fwrite(line, 1, n, r->pres_out) != n)
			r->pres_err = 1;
		qp_pres_pop(r->w->pres);
	}
}

static void export_flow(const struct qp_flow *f, enum qp_flow_end why, void *arg)
{
	struct run *r = arg;
	struct qp_flow_rec rec;
	qp_flow_rec_from(&rec, f, why);
	qp_flow_rec_rtp(&rec, f, &r->cfg.rtp);
	if (qp_report_add_flow(r->rep, &rec) != 0)
		r->oom = 1;
}

/* A flow the capture's end finds in the table: the report reads it there
 * (nothing changes the table after this; it is freed after the report is
 * written and the IPFIX records are sent). */
static void keep_flow(const struct qp_flow *f, enum qp_flow_end why, void *arg)
{
	struct run *r = arg;
	(void)why; /* QP_FLOW_END_FLUSH */
	if (qp_report_add_flow_kept(r->rep, f, &r->cfg.rtp) != 0)
		r->oom = 1;
}

/*
 * A frame's time in ns (the capture is opened at nanosecond precision). A
 * classic pcap's seconds are unsigned 32-bit (2106 at most), but libpcap hands
 * them over through a signed 32-bit field: times past January 2038 arrive
 * negative and are taken back to what the file says, as Wireshark reads them.
 */
static uint64_t frame_ns(const struct pcap_pkthdr *h)
{
	uint64_t s = h->ts.tv_sec < 0 ? (uint32_t)h->ts.tv_sec : (uint64_t)h->ts.tv_sec;
	return s * 1000000000ULL + (uint64_t)h->ts.tv_usec;
}

/*
 * A capture opened for libpcap. When libpcap reads its records (`big`), with
 * a 1 MiB stdio buffer: libpcap's own open reads through a 4 KiB one, and a
 * read(2) per 4 KiB was a quarter of an offline run (perf, 454 MB capture).
 * Otherwise (a classic pcap, most likely read in place by qp_pcap_read:
 * libpcap reads only its header) with stdio's own: the big buffer's first
 * fill was 1 MiB read for nothing into a fresh huge page (2 % of a run). One
 * buffer per side (the primary's capture, the peer's), outliving the pcap_t
 * (glibc ignores a size without a buffer). Messages as libpcap words them.
 */
#define CAPTURE_BUF (1u << 20)
static char *capture_buf[2]; /* in huge pages where there are: a fault, not 256 */

static pcap_t *open_capture(const char *path, int side, int big, char *errbuf)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (big && !capture_buf[side])
		capture_buf[side] = qp_mem_huge(CAPTURE_BUF);
	if (big && capture_buf[side])
		setvbuf(f, capture_buf[side], _IOFBF, CAPTURE_BUF);
	pcap_t *pc = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!pc)
		fclose(f);
	return pc; /* pcap_close() closes f */
}

static void harvest(struct run *r, int final);

/* The capture's libpcap handle closed: there is none for a classic Ethernet
 * capture the reader opened itself. */
static void capture_close(pcap_t *pc)
{
	if (pc)
		pcap_close(pc);
}

/* A report file (flushed) cut where the report ends: what was left of an
 * older, longer one goes. 0, or -1 (errno). */
static int cut_to_end(FILE *out)
{
	struct stat st;
	if (out == stdout || fstat(fileno(out), &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	off_t end = ftello(out);
	return end < 0 ? -1 : ftruncate(fileno(out), end);
}

/*
 * The batch's frames through the worker, then every finished interval into
 * the report (the current one too when whole: the next frame is of a later
 * one), then a step of the expiry walk.
 */
static void run_batch(struct run *r, struct qp_frame *fr, unsigned int *n, int whole)
{
	if (*n)
		qp_worker_process(r->w, &r->cfg, fr, *n);
	*n = 0;
	if (r->pres_out)
		pres_drain(r);
	harvest(r, whole);
	qp_worker_expire(r->w, &r->cfg, r->w->last_ts, EXPIRE_BUCKETS);
}

/* Take every finished interval (all of them when final) into the report. */
static void harvest(struct run *r, int final)
{
	if (!r->w->have_iv)
		return;
	uint64_t upto = final ? r->w->cur_iv + 1 : r->w->cur_iv;
	for (uint64_t k = r->next_iv; k < upto; k++) {
		if (upto - k > QP_IV_SLOTS) {
			/* a jump in the file's time (hostile captures jump by decades):
			 * only intervals still in a slot can hold packets, so go to
			 * the lowest of them instead of visiting every empty one */
			uint64_t low = upto;
			for (unsigned int s = 0; s < QP_IV_SLOTS; s++) {
				uint64_t iv = r->w->iv[s].iv;
				if (iv >= k && iv < low)
					low = iv;
			}
			if (low == upto)
				break;
			k = low;
		}
		static struct qp_interval_acc a; /* 32 KiB: not on the stack */
		/* a batch ends before every frame of a later interval: nothing is lost here */
		if (qp_worker_interval_read(r->w, k, &a) != QP_IV_READ)
			continue;
		if (a.pkts[0] + a.pkts[1] == 0)
			continue;
		struct qp_interval_rec iv = {0};
		qp_interval_rec_from(&iv, &a);
		iv.start_ns = r->cfg.base_ns + k * r->cfg.interval_ns;
		iv.duration_ns = r->cfg.interval_ns;
		qp_report_add_tcp(r->rep, &a);
		if (qp_interval_rec_add_streams(&iv, &a, &r->cfg.rtp) != 0 ||
		    qp_report_add_interval(r->rep, &iv) != 0)
			r->oom = 1;
		qp_interval_rec_release(&iv);
	}
	r->next_iv = upto;
}

/* The file's own timestamp precision, from the pcap magic. */
static const char *file_precision(const char *path)
{
	unsigned char m[4];
	FILE *f = fopen(path, "rb");
	if (!f)
		return "unknown";
	size_t n = fread(m, 1, 4, f);
	fclose(f);
	if (n != 4)
		return "unknown";
	uint32_t be = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];
	uint32_t le = (uint32_t)m[3] << 24 | (uint32_t)m[2] << 16 | (uint32_t)m[1] << 8 | m[0];
	if (be == 0xa1b2c3d4 || le == 0xa1b2c3d4)
		return "us";
	if (be == 0xa1b23c4d || le == 0xa1b23c4d)
		return "ns";
	if (be == 0x0a0d0d0a)
		return "pcapng";
	return "unknown";
}

static void list_linktypes(char *buf, size_t len)
{
	static const int ok[] = {QP_LINK_ETHERNET, QP_LINK_SLL, QP_LINK_SLL2, QP_LINK_RAW,
				 QP_LINK_IPV4, QP_LINK_IPV6, QP_LINK_NULL, QP_LINK_LOOP};
	size_t off = 0;
	buf[0] = 0;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]) && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
					qp_parse_linktype_name(ok[i]));
}

/*
 * Two-point offline: the primary's capture (A) drives the run; the
 * secondary's (B) is read alongside in time order, and each selected packet
 * of either becomes a record of the matching engine.
 */
struct peer {
	const struct qp_offline_opts *o;
	pcap_t *pc;
	int lt[2];
	struct qp_filter *filter[2]; /* [A] is the run's own */
	struct qp_parse_ctx *ctx[2];
	struct qp_tp *tp;
	int eof, a_eof;
	/* B's next frame, valid until the next pcap_next_ex on B */
	int have;
	uint64_t ts;
	const u_char *data;
	uint32_t caplen, wirelen;
	uint64_t frames[2], unsignable[2], not_selected[2];
	int damaged;
	char precision[2][16];
	struct qp_tp_batcher *ctl;
	uint64_t ctl_interval_ns;
	uint64_t peer_last_ts;
};

/* What a live secondary would send for B's records: only the frames' sizes are kept. */
static void ctl_count(const uint8_t *frame, size_t len, uint32_t nrecs, void *arg)
{
	(void)frame;
	(void)len;
	(void)nrecs;
	(void)arg;
}

static void tp_frame(struct peer *p, int side, const uint8_t *data, uint32_t caplen,
		     uint32_t wirelen, uint64_t ts)
{
	p->frames[side]++;
	if (p->filter[side] && !qp_filter_match(p->filter[side], data, caplen))
		return;
	struct qp_pkt pk;
	if (qp_parse(p->ctx[side], p->lt[side], data, caplen, &pk) != QP_PARSE_FLOW)
		return;
	struct qp_tp_rec rec;
	if (qp_sig_of(&p->o->sig, &pk, &rec.sig) != 0) {
		p->unsignable[side]++;
		return;
	}
	if (!qp_sig_selected(&p->o->sig, rec.sig)) {
		p->not_selected[side]++;
		return;
	}
	rec.ts_ns = ts;
	rec.size = wirelen;
	rec.swapped = pk.swapped;
	rec.key = pk.key;
	/* everything of both captures before ts has been given */
	if (side == QP_TP_A ? !p->eof : !p->a_eof)
		qp_tp_watermark(p->tp, !side, ts);
	qp_tp_add(p->tp, side, &rec);
	if (side == QP_TP_B && p->ctl)
		qp_tp_batcher_add(p->ctl, &rec);
}

/* Read B's next frame into p (or note its end). */
static void peer_next(struct peer *p)
{
	struct pcap_pkthdr *h;
	p->have = 0;
	if (p->eof)
		return;
	int nx = pcap_next_ex(p->pc, &h, &p->data);
	if (nx != 1) {
		if (nx == PCAP_ERROR) {
			fprintf(stderr,
				"qprobe: %s: capture damaged after %" PRIu64
				" frames: %s (two-point results cover the frames before it)\n",
				p->o->peer_path, p->frames[1], pcap_geterr(p->pc));
			p->damaged = 1;
		}
		p->eof = 1;
		return;
	}
	p->caplen = h->caplen > h->len && h->len > 0 ? h->len : h->caplen;
	p->wirelen = h->len;
	p->ts = frame_ns(h);
	p->peer_last_ts = p->ts;
	p->have = 1;
}

/* B's frames up to time t (all of them with t = UINT64_MAX). */
static void peer_upto(struct peer *p, uint64_t t)
{
	while (p->have && p->ts <= t) {
		tp_frame(p, QP_TP_B, p->data, p->caplen, p->wirelen, p->ts);
		peer_next(p);
	}
}

static int peer_open(struct peer *p, const struct qp_offline_opts *o, int lt_a,
		     struct qp_filter *filter_a, char *err, size_t errlen)
{
	char eb[PCAP_ERRBUF_SIZE];
	p->o = o;
	p->lt[0] = lt_a;
	p->filter[0] = filter_a;
	snprintf(p->precision[0], sizeof(p->precision[0]), "%s", file_precision(o->path));
	snprintf(p->precision[1], sizeof(p->precision[1]), "%s", file_precision(o->peer_path));
	p->pc = open_capture(o->peer_path, 1, 1, eb);
	if (!p->pc) {
		snprintf(err, errlen, "%s: cannot read as a capture: %s (pcap or pcapng expected)",
			 o->peer_path, eb);
		return QP_EXIT_INPUT;
	}
	p->lt[1] = pcap_datalink(p->pc);
	if (!qp_parse_linktype_ok(p->lt[1])) {
		char acc[256];
		list_linktypes(acc, sizeof(acc));
		snprintf(err, errlen, "%s: link type %d is not supported; accepted: %s", o->peer_path,
			 p->lt[1], acc);
		return QP_EXIT_INPUT;
	}
	const char *fb = o->peer_filter ? o->peer_filter : o->filter;
	if (fb && fb[0]) {
		p->filter[1] = qp_filter_compile_classic(fb, p->lt[1], eb, sizeof(eb));
		if (!p->filter[1]) {
			snprintf(err, errlen, "peer filter: %s", eb);
			return QP_EXIT_INPUT;
		}
	}
	struct qp_tp_cfg tc = {
		.loss_timer_ns = o->loss_timer_ns,
		.break_ns = o->break_ns,
		.interval_ns = o->interval_ns,
		.window = o->match_window,
		.max_flows = o->max_flows,
		.flow_dists = o->flow_dists,
	};
	p->ctl_interval_ns = o->loss_timer_ns / 2;
	p->ctl = qp_tp_batcher_create(1, p->ctl_interval_ns, ctl_count, NULL);
	p->ctx[0] = malloc(sizeof(*p->ctx[0]));
	p->ctx[1] = malloc(sizeof(*p->ctx[1]));
	p->tp = qp_tp_create(&tc);
	if (!p->ctx[0] || !p->ctx[1] || !p->tp || !p->ctl) {
		snprintf(err, errlen, "cannot allocate the two-point window of %u records and %u flows",
			 o->match_window, o->max_flows);
		return QP_EXIT_RUNTIME;
	}
	qp_parse_ctx_init(p->ctx[0]);
	qp_parse_ctx_init(p->ctx[1]);
	peer_next(p);
	return QP_EXIT_OK;
}

static void peer_close(struct peer *p)
{
	if (p->pc)
		pcap_close(p->pc);
	qp_filter_free(p->filter[1]);
	free(p->ctx[0]);
	free(p->ctx[1]);
	qp_tp_destroy(p->tp);
	qp_tp_batcher_destroy(p->ctl);
}

static json_t *tp_top(void *arg)
{
	struct peer *p = arg;
	json_t *o = qp_tp_json(p->tp);
	json_object_set_new(o, "role", json_string("primary"));
	json_object_set_new(o, "peer", json_string(p->o->peer_path));
	json_object_set_new(o, "peer_filter",
			    p->o->peer_filter ? json_string(p->o->peer_filter) : json_null());
	json_object_set_new(o, "clock",
			    json_pack("{s:s,s:s,s:s}", "source", "capture files", "precision",
				      p->precision[0], "peer_precision", p->precision[1]));
	if (p->ctl) {
		const struct qp_tp_batch_stats *c = qp_tp_batcher_stats(p->ctl);
		json_object_set_new(
			o, "control",
			json_pack("{s:f,s:I,s:I,s:I,s:I,s:o}", "interval_ms",
				  (double)p->ctl_interval_ns / 1e6, "frames", (json_int_t)c->frames,
				  "bytes", (json_int_t)c->bytes, "records", (json_int_t)c->records,
				  "not_encoded", (json_int_t)c->not_encoded, "bytes_per_record",
				  c->records ? json_real((double)c->bytes / (double)c->records)
					     : json_null()));
	}
	json_object_set_new(
		o, "selection",
		json_pack("{s:f,s:i,s:b,s:I,s:I,s:I,s:I}", "rate", qp_sig_rate(&p->o->sig),
			  "payload_bytes", (int)p->o->sig.payload_bytes, "nat", p->o->sig.nat,
			  "unsignable", (json_int_t)p->unsignable[0], "peer_unsignable",
			  (json_int_t)p->unsignable[1], "not_selected", (json_int_t)p->not_selected[0],
			  "peer_not_selected", (json_int_t)p->not_selected[1]));
	return o;
}

static json_t *tp_flow(const struct qp_flow_rec *fr, void *arg)
{
	struct peer *p = arg;
	return qp_tp_flow_json(p->tp, &fr->key);
}

static json_t *tp_iv(const struct qp_interval_rec *iv, void *arg)
{
	struct peer *p = arg;
	return qp_tp_interval_json(p->tp, iv->start_ns);
}

#define MAX_IPFIX 9 /* collectors and the file */

/*
 * Every flow record of the run to each IPFIX output, in the order they
 * ended, each message stamped with its records' time (a file of the same
 * capture is the same file). Two-point figures come from the peer's matcher,
 * which has seen both captures whole by now.
 */
static int ipfix_export(struct qp_ipfix_out **out, int n, const struct qp_report *rep,
			const struct peer *pp)
{
	size_t nf = qp_report_flow_count(rep);
	struct qp_flow_rec *fr = malloc(sizeof(*fr));
	if (!fr)
		return -ENOMEM;
	int rc = 0;
	for (int k = 0; k < n; k++) {
		struct qp_ipfix_enc *e = qp_ipfix_out_enc(out[k]);
		for (size_t i = 0; i < nf; i++) {
			qp_report_flow(rep, i, fr);
			const struct qp_tp_dir *tp = pp ? qp_tp_flow(pp->tp, &fr->key) : NULL;
			struct qp_tp_dir none[2];
			if (pp && !tp) {
				memset(none, 0, sizeof(none));
				tp = none;
			}
			qp_ipfix_enc_add(e, fr, tp, (uint32_t)(fr->last_ns / 1000000000u));
		}
		qp_ipfix_enc_flush(e);
		struct qp_ipfix_stats st = e->stats;
		if (st.failed)
			fprintf(stderr,
				"qprobe: IPFIX: %" PRIu64 " of %" PRIu64 " messages (%" PRIu64
				" records) were not taken by the collector\n",
				st.failed, st.messages, st.failed_records);
		if (qp_ipfix_out_close(out[k]) != 0)
			rc = -EIO;
		out[k] = NULL;
	}
	free(fr);
	return rc;
}

int qp_offline_run(const struct qp_offline_opts *o)
{
	char errbuf[PCAP_ERRBUF_SIZE + 256];
	int rc = QP_EXIT_OK;
	/* a classic Ethernet capture is read without libpcap (pc NULL): its
	 * header judged here as libpcap judges it */
	struct qp_pcap_reader rd;
	pcap_t *pc = NULL;
	int mapped = qp_pcap_read_open_self(&rd, o->path, READ_BUF) == 1;
	if (!mapped) {
		/* libpcap's stdio buffer is made big only when libpcap reads
		 * the records (below) */
		pc = open_capture(o->path, 0, 0, errbuf);
		if (!pc) {
			fprintf(stderr,
				"qprobe: %s: cannot read as a capture: %s (pcap or pcapng expected)\n",
				o->path, errbuf);
			return QP_EXIT_INPUT;
		}
		/* in place when the file allows, else through libpcap (then copied) */
		mapped = qp_pcap_read_open(&rd, o->path, pc, READ_BUF) == 1;
	}
	/* the kernel's copy of the file on another core, beside the work on
	 * the frames (1M frames: 0.099 -> 0.075 s); a file of a few blocks
	 * is not worth a thread */
	if (mapped && rd.file_bytes > 4 * (uint64_t)AHEAD_BLOCK && qp_cpu_usable() >= 2)
		qp_pcap_read_ahead(&rd, AHEAD_BLOCK, AHEAD_BLOCKS);
	if (!mapped) {
		/* libpcap reads it: again, through a big buffer (the same file
		 * opened a moment ago, judged the same) */
		pcap_close(pc);
		pc = open_capture(o->path, 0, 1, errbuf);
		if (!pc) {
			fprintf(stderr, "qprobe: %s: cannot read as a capture: %s (pcap or pcapng expected)\n",
				o->path, errbuf);
			return QP_EXIT_INPUT;
		}
	}
	int lt = pc ? pcap_datalink(pc) : DLT_EN10MB;
	if (!qp_parse_linktype_ok(lt)) {
		char acc[256];
		const char *name = pcap_datalink_val_to_name(lt);
		list_linktypes(acc, sizeof(acc));
		fprintf(stderr, "qprobe: %s: link type %d (%s) is not supported; accepted: %s\n",
			o->path, lt, name ? name : "unknown", acc);
		qp_pcap_read_close(&rd);
		capture_close(pc);
		return QP_EXIT_INPUT;
	}
	struct qp_filter *filter = NULL;
	if (o->filter && o->filter[0]) {
		filter = qp_filter_compile_classic(o->filter, lt, errbuf, sizeof(errbuf));
		if (!filter) {
			fprintf(stderr, "qprobe: %s\n", errbuf);
			qp_pcap_read_close(&rd);
			capture_close(pc);
			return QP_EXIT_INPUT;
		}
	}

	/* IPFIX outputs before any frame is read: a collector that cannot be
	 * reached is refused up front */
	struct qp_ipfix_out *ipx[MAX_IPFIX] = {NULL};
	int nipx = 0;
	for (int i = 0; i <= o->nipfix && i < MAX_IPFIX; i++) {
		if (i == o->nipfix && !o->ipfix_file)
			break;
		ipx[nipx] = qp_ipfix_out_open(i < o->nipfix ? o->ipfix[i] : NULL,
					      i < o->nipfix ? NULL : o->ipfix_file, o->ipfix_domain,
					      errbuf, sizeof(errbuf));
		if (!ipx[nipx]) {
			fprintf(stderr, "qprobe: %s\n", errbuf);
			for (int k = 0; k < nipx; k++)
				qp_ipfix_out_close(ipx[k]);
			qp_filter_free(filter);
			qp_pcap_read_close(&rd);
			capture_close(pc);
			return QP_EXIT_INPUT;
		}
		nipx++;
	}

	struct peer peer, *pp = NULL;
	memset(&peer, 0, sizeof(peer));
	if (o->peer_path) {
		pp = &peer;
		int prc = peer_open(pp, o, lt, filter, errbuf, sizeof(errbuf));
		if (prc != QP_EXIT_OK) {
			fprintf(stderr, "qprobe: %s\n", errbuf);
			peer_close(pp);
			for (int k = 0; k < nipx; k++)
				qp_ipfix_out_close(ipx[k]);
			qp_filter_free(filter);
			qp_pcap_read_close(&rd);
			capture_close(pc);
			return prc;
		}
	}

	FILE *out = stdout;
	int written = 0, made = 0; /* made: the report file is this run's */
	struct run r;
	memset(&r, 0, sizeof(r));
	r.cfg.filter = filter;
	r.cfg.linktype = lt;
	r.cfg.interval_ns = o->interval_ns;
	r.cfg.idle_ns = o->idle_ns;
	r.cfg.active_ns = o->active_ns;
	r.cfg.rtp = o->rtp;
	r.cfg.metrics_off = o->metrics_off;
	r.cfg.tls_sni = (uint8_t)(o->tls_sni != 0);
	memcpy(r.cfg.dns_ports, o->dns_ports, sizeof(r.cfg.dns_ports));
	if (!r.cfg.dns_ports[0])
		r.cfg.dns_ports[0] = 53;
	struct qp_sdp_table *sdp = qp_sdp_table_create(4096);
	r.cfg.rtp.sdp = sdp;
	r.cfg.flow_key = o->flow_key;
	r.rep = qp_report_create();
	/* 1.9 MB, mostly interval slots cleared at once: one huge page */
	r.w = qp_mem_huge(sizeof(*r.w));
	uint8_t *arena = malloc(ARENA);

	int err = r.w ? qp_worker_init(r.w, 0, o->max_flows, 0) : -ENOMEM;
	if (!err)
		err = qp_flow_table_set_hists(r.w->flows, o->flow_dists);
	if (!err)
		err = qp_flow_table_set_apps(r.w->flows, o->flow_dists);
	if (!r.rep || !arena || !sdp || err) {
		fprintf(stderr, "qprobe: cannot allocate a flow table of %u flows: %s\n", o->max_flows,
			strerror(err ? -err : ENOMEM));
		rc = QP_EXIT_RUNTIME;
		goto out;
	}
	r.w->export_fn = export_flow;
	r.w->export_arg = &r;
	if (o->packet_results) {
		r.w->pres = qp_pres_ring_create(BATCH * 2, o->packet_rate);
		r.pres_out = r.w->pres ? fopen(o->packet_results, "w") : NULL;
		if (!r.pres_out || fprintf(r.pres_out, "%s\n", QP_PRES_COLUMNS) < 0) {
			fprintf(stderr, "qprobe: --packet-results %s: %s\n", o->packet_results,
				r.w->pres ? strerror(errno) : "no memory");
			rc = QP_EXIT_RUNTIME;
			goto out;
		}
		qp_worker_taps_update(r.w);
		/* two-point: the primary's rows are the packets both points select
		 * (the worker signs none itself offline: it has no record ring) */
		if (o->peer_path)
			r.cfg.sig = &o->sig;
	}
	/* the report's file before the first frame: a path that cannot be
	 * written is refused now, not after the whole capture */
	if (o->report_file) {
		struct stat rs, cs;
		made = stat(o->report_file, &rs) != 0;
		if (!made && stat(o->path, &cs) == 0 && rs.st_dev == cs.st_dev &&
		    rs.st_ino == cs.st_ino) {
			fprintf(stderr,
				"qprobe: --report-file %s is the capture being read: give another file\n",
				o->report_file);
			rc = QP_EXIT_USAGE;
			goto out;
		}
		/* not truncated: an old report's pages are written over and the
		 * file cut to the new one's length at the end (truncating a 6 MB
		 * report and filling new pages was 2.5 to 3 ms of a run) */
		int fd = open(o->report_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
		out = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!out) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			fprintf(stderr, "qprobe: cannot write the report to %s: %s\n", o->report_file,
				strerror(e));
			rc = QP_EXIT_RUNTIME;
			goto out;
		}
	}

	struct qp_frame fr[BATCH];
	unsigned int n = 0;
	size_t used = 0;
	int first = 1, done = 0;
	uint64_t iv_end = 0; /* end of the interval the batch's frames are in */
	while (!done) {
		if (mapped && !first && !pp) {
			/* the common frames in a straight line; the steps below
			 * take the record it stops at */
			n = qp_pcap_read_frames(&rd, iv_end, fr, n, BATCH);
			if (n == BATCH) {
				run_batch(&r, fr, &n, 0);
				continue;
			}
		}
		struct pcap_pkthdr *h;
		struct qp_pcap_rec rec;
		const u_char *data;
		uint32_t cl = 0, wl = 0;
		uint64_t ts = 0;
		int nx;
		if (mapped) {
			nx = qp_pcap_read_next(&rd, &rec);
			if (nx == QP_PCAP_FILL) {
				/* the batch's frames are in the buffer the fill reuses */
				run_batch(&r, fr, &n, 0);
				nx = qp_pcap_read_fill(&rd) == 0 ? qp_pcap_read_next(&rd, &rec)
								 : QP_PCAP_DAMAGED;
			}
			nx = nx == QP_PCAP_REC ? 1 : nx == QP_PCAP_END ? PCAP_ERROR_BREAK : PCAP_ERROR;
			data = rec.data;
			cl = rec.caplen;
			wl = rec.len;
			ts = rec.ts_ns;
		} else {
			nx = pcap_next_ex(pc, &h, &data);
			if (nx == 1) {
				cl = h->caplen;
				wl = h->len;
				ts = frame_ns(h);
			}
		}
		if (nx != 1) {
			if (nx == PCAP_ERROR) {
				fprintf(stderr,
					"qprobe: %s: capture damaged after %" PRIu64
					" frames: %s (report covers the frames before it)\n",
					o->path, r.w->cnt.packets + n, mapped ? rd.err : pcap_geterr(pc));
				rc = QP_EXIT_DAMAGED;
			}
			run_batch(&r, fr, &n, 0);
			done = 1;
			continue;
		}
		if (cl > wl && wl > 0) /* a lying header: trust the smaller */
			cl = wl;
		if (first) {
			r.cfg.base_ns = ts;
			iv_end = ts + r.cfg.interval_ns;
			first = 0;
			if (pp)
				qp_tp_set_base(pp->tp, ts);
		} else if (ts >= iv_end) {
			/* the frame is of a later interval: the batch so far and its
			 * interval are taken first, before any frame of the later one
			 * can take the interval's slot (a jump of a multiple of the
			 * slots would have) */
			run_batch(&r, fr, &n, 1);
			used = 0;
			iv_end = r.cfg.base_ns + ((ts - r.cfg.base_ns) / r.cfg.interval_ns + 1) *
							 r.cfg.interval_ns;
		}
		if (pp) {
			peer_upto(pp, ts);
			tp_frame(pp, QP_TP_A, data, cl, wl, ts);
		}
		uint8_t *big = NULL;
		if (mapped) {
			fr[n].data = data; /* in place */
		} else {
			if (cl > ARENA - used) {
				/* what is there first, to make room */
				run_batch(&r, fr, &n, 0);
				used = 0;
				if (cl > ARENA && !(big = malloc(cl))) {
					rc = QP_EXIT_RUNTIME;
					fprintf(stderr, "qprobe: out of memory\n");
					break;
				}
			}
			uint8_t *dst = big ? big : arena + used;
			memcpy(dst, data, cl);
			fr[n].data = dst;
			used += (cl + 63) & ~(size_t)63;
		}
		fr[n].caplen = cl;
		fr[n].wirelen = wl;
		fr[n].ts_ns = ts;
		n++;
		if (big || n == BATCH) {
			run_batch(&r, fr, &n, 0);
			used = 0;
			free(big);
		}
	}
	harvest(&r, 1);
	qp_flow_table_flush(r.w->flows, keep_flow, &r);
	if (pp) {
		pp->a_eof = 1;
		peer_upto(pp, UINT64_MAX);
		qp_tp_finish(pp->tp);
		if (pp->peer_last_ts)
			qp_tp_batcher_flush(pp->ctl, pp->peer_last_ts, 0);
		struct qp_report_ext ext = {"two_point", tp_top, tp_flow, tp_iv, pp};
		qp_report_set_ext(r.rep, &ext);
		if (pp->damaged && rc == QP_EXIT_OK)
			rc = QP_EXIT_DAMAGED;
	}

	struct qp_capture_totals tot;
	memset(&tot, 0, sizeof(tot));
	qp_capture_totals_add(&tot, r.w);
	qp_report_set_totals(r.rep, &tot);
	qp_report_set_source(r.rep, "pcap", o->path, qp_parse_linktype_name(lt),
			     file_precision(o->path), filter ? o->filter : NULL);
	qp_report_set_flow_key(r.rep, o->flow_key);
	if (r.oom) {
		fprintf(stderr, "qprobe: out of memory while collecting the report\n");
		rc = QP_EXIT_RUNTIME;
		goto out;
	}
	if (nipx && ipfix_export(ipx, nipx, r.rep, pp) != 0) {
		fprintf(stderr, "qprobe: IPFIX: a message could not be written or sent in full\n");
		rc = QP_EXIT_RUNTIME;
	}
	int bad = qp_report_write(r.rep, o->report_format, out) != 0;
	if (cut_to_end(out)) /* even after a failed write: no old report's tail */
		bad = 1;
	if (bad) {
		fprintf(stderr, "qprobe: writing the report to %s failed\n",
			o->report_file ? o->report_file : "stdout");
		rc = QP_EXIT_RUNTIME;
	}
	written = 1;
out:
	if (out && out != stdout) {
		/* a report file this run made for a report it did not write goes
		 * (a device, /dev/null say, is left alone, and so is an older
		 * report: nothing was written over it) */
		struct stat rs;
		int regular = fstat(fileno(out), &rs) == 0 && S_ISREG(rs.st_mode);
		fclose(out); /* the report's writes were flushed and checked */
		if (!written && made && regular)
			unlink(o->report_file);
	}
	for (int k = 0; k < nipx; k++)
		qp_ipfix_out_close(ipx[k]);
	if (r.pres_out && (fclose(r.pres_out) != 0 || r.pres_err)) {
		fprintf(stderr, "qprobe: --packet-results %s: %s\n", o->packet_results,
			r.pres_err ? "a write failed" : strerror(errno));
		if (rc == QP_EXIT_OK)
			rc = QP_EXIT_RUNTIME;
	}
	if (r.w) {
		free(r.w->pres);
		qp_worker_fini(r.w);
		qp_mem_huge_free(r.w, sizeof(*r.w));
	}
	free(arena);
	qp_sdp_table_destroy(sdp);
	qp_report_destroy(r.rep);
	if (pp)
		peer_close(pp);
	qp_filter_free(filter);
	qp_pcap_read_close(&rd);
	capture_close(pc);
	return rc;
}
