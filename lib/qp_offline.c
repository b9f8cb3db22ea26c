/*
 * qp_offline: see qp_offline.h. libpcap hands out one frame at a time in a
 * buffer it reuses, so frames are copied into a batch arena; a batch closes
 * when it is full or when a frame enters a new interval, so the worker's
 * interval slots are read before they are reused.
 */
#include "qp_offline.h"

#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qp_filter.h"
#include "qp_report.h"
#include "qp_worker_dp.h"

#define BATCH 32
#define ARENA (BATCH * 2048)
#define EXPIRE_BUCKETS 64

struct run {
	struct qp_worker *w;
	struct qp_measure_cfg cfg;
	struct qp_report *rep;
	uint64_t next_iv; /* first interval still to take from the worker */
	int oom;
};

static void export_flow(const struct qp_flow *f, enum qp_flow_end why, void *arg)
{
	struct run *r = arg;
	struct qp_flow_rec rec;
	qp_flow_rec_from(&rec, f, why);
	qp_flow_rec_rtp(&rec, f, &r->cfg.rtp);
	if (qp_report_add_flow(r->rep, &rec) != 0)
		r->oom = 1;
}

/* Take every finished interval (all of them when final) into the report. */
static void harvest(struct run *r, int final)
{
	if (!r->w->have_iv)
		return;
	uint64_t upto = final ? r->w->cur_iv + 1 : r->w->cur_iv;
	for (uint64_t k = r->next_iv; k < upto; k++) {
		static struct qp_interval_acc a; /* 32 KiB: not on the stack */
		if (!qp_worker_interval_read(r->w, k, &a))
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

int qp_offline_run(const struct qp_offline_opts *o)
{
	char errbuf[PCAP_ERRBUF_SIZE + 256];
	int rc = QP_EXIT_OK;
	pcap_t *pc = pcap_open_offline_with_tstamp_precision(o->path, PCAP_TSTAMP_PRECISION_NANO,
							      errbuf);
	if (!pc) {
		fprintf(stderr, "qprobe: %s: cannot read as a capture: %s (pcap or pcapng expected)\n",
			o->path, errbuf);
		return QP_EXIT_INPUT;
	}
	int lt = pcap_datalink(pc);
	if (!qp_parse_linktype_ok(lt)) {
		char acc[256];
		const char *name = pcap_datalink_val_to_name(lt);
		list_linktypes(acc, sizeof(acc));
		fprintf(stderr, "qprobe: %s: link type %d (%s) is not supported; accepted: %s\n",
			o->path, lt, name ? name : "unknown", acc);
		pcap_close(pc);
		return QP_EXIT_INPUT;
	}
	struct qp_filter *filter = NULL;
	if (o->filter && o->filter[0]) {
		filter = qp_filter_compile(o->filter, lt, errbuf, sizeof(errbuf));
		if (!filter) {
			fprintf(stderr, "qprobe: %s\n", errbuf);
			pcap_close(pc);
			return QP_EXIT_INPUT;
		}
	}

	struct run r;
	memset(&r, 0, sizeof(r));
	r.cfg.filter = filter;
	r.cfg.linktype = lt;
	r.cfg.interval_ns = o->interval_ns;
	r.cfg.idle_ns = o->idle_ns;
	r.cfg.active_ns = o->active_ns;
	r.cfg.rtp = o->rtp;
	r.rep = qp_report_create();
	r.w = aligned_alloc(64, sizeof(*r.w));
	uint8_t *arena = malloc(ARENA);
	int err = r.w ? qp_worker_init(r.w, 0, o->max_flows, 0) : -ENOMEM;
	if (!err)
		err = qp_flow_table_set_hists(r.w->flows, o->flow_dists);
	if (!r.rep || !arena || err) {
		fprintf(stderr, "qprobe: cannot allocate a flow table of %u flows: %s\n", o->max_flows,
			strerror(err ? -err : ENOMEM));
		rc = QP_EXIT_RUNTIME;
		goto out;
	}
	r.w->export_fn = export_flow;
	r.w->export_arg = &r;

	struct qp_frame fr[BATCH];
	unsigned int n = 0;
	size_t used = 0;
	int first = 1, done = 0;
	uint64_t iv_end = 0; /* end of the interval the worker is in */
	while (!done) {
		struct pcap_pkthdr *h;
		const u_char *data;
		int nx = pcap_next_ex(pc, &h, &data);
		int close_batch = 0;
		if (nx == 1) {
			uint32_t cl = h->caplen;
			if (cl > h->len && h->len > 0) /* a lying header: trust the smaller */
				cl = h->len;
			uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000ULL + (uint64_t)h->ts.tv_usec;
			if (first) {
				r.cfg.base_ns = ts;
				iv_end = ts + r.cfg.interval_ns;
				first = 0;
			}
			uint8_t *dst;
			uint8_t *big = NULL;
			if (cl > ARENA - used) {
				/* flush what is there to make room */
				if (n) {
					qp_worker_process(r.w, &r.cfg, fr, n);
					harvest(&r, 0);
					n = 0;
					used = 0;
				}
				if (cl > ARENA) {
					big = malloc(cl);
					if (!big) {
						rc = QP_EXIT_RUNTIME;
						fprintf(stderr, "qprobe: out of memory\n");
						break;
					}
				}
			}
			dst = big ? big : arena + used;
			memcpy(dst, data, cl);
			fr[n].data = dst;
			fr[n].caplen = cl;
			fr[n].wirelen = h->len;
			fr[n].ts_ns = ts;
			n++;
			if (big) {
				qp_worker_process(r.w, &r.cfg, fr, n);
				free(big);
				n = 0;
				used = 0;
				harvest(&r, 0);
				continue;
			}
			used += (cl + 63) & ~(size_t)63;
			close_batch = n == BATCH || ts >= iv_end;
		} else {
			if (nx == PCAP_ERROR) {
				fprintf(stderr,
					"qprobe: %s: capture damaged after %" PRIu64
					" frames: %s (report covers the frames before it)\n",
					o->path, r.w->cnt.packets + n, pcap_geterr(pc));
				rc = QP_EXIT_DAMAGED;
			}
			done = 1;
			close_batch = 1;
		}
		if (close_batch && n) {
			qp_worker_process(r.w, &r.cfg, fr, n);
			harvest(&r, 0);
			qp_worker_expire(r.w, &r.cfg, r.w->last_ts, EXPIRE_BUCKETS);
			if (r.w->have_iv)
				iv_end = r.w->cur_iv_end;
			n = 0;
			used = 0;
		}
	}
	harvest(&r, 1);
	qp_flow_table_flush(r.w->flows, export_flow, &r);

	struct qp_capture_totals tot;
	memset(&tot, 0, sizeof(tot));
	qp_capture_totals_add(&tot, r.w);
	qp_report_set_totals(r.rep, &tot);
	qp_report_set_source(r.rep, "pcap", o->path, qp_parse_linktype_name(lt),
			     file_precision(o->path), filter ? o->filter : NULL);
	if (r.oom) {
		fprintf(stderr, "qprobe: out of memory while collecting the report\n");
		rc = QP_EXIT_RUNTIME;
		goto out;
	}
	FILE *out = stdout;
	if (o->report_file) {
		out = fopen(o->report_file, "w");
		if (!out) {
			fprintf(stderr, "qprobe: cannot write the report to %s: %s\n", o->report_file,
				strerror(errno));
			rc = QP_EXIT_RUNTIME;
			goto out;
		}
	}
	if (qp_report_write(r.rep, o->report_format, out) != 0) {
		fprintf(stderr, "qprobe: writing the report to %s failed\n",
			o->report_file ? o->report_file : "stdout");
		rc = QP_EXIT_RUNTIME;
	}
	if (out != stdout)
		fclose(out);
out:
	if (r.w) {
		qp_worker_fini(r.w);
		free(r.w);
	}
	free(arena);
	qp_report_destroy(r.rep);
	qp_filter_free(filter);
	pcap_close(pc);
	return rc;
}
