/*
 * qp_tsgen: MPEG-2 transport streams over UDP and RTP with their truth (see
 * qp_tsgen.h).
 */
#include "qp_tsgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PKT QP_TS_PKT
#define PER_DGRAM 7
#define GAP_NS 2000000ULL      /* between a flow's datagrams */
#define PAUSE_NS 100000000ULL  /* the clean flow's pause, half way */

static uint16_t pid_at(const uint8_t *p)
{
	return (uint16_t)((p[1] & 0x1f) << 8 | p[2]);
}

static int has_payload(const uint8_t *p)
{
	return (p[3] >> 4) & 1;
}

static int has_pcr(const uint8_t *p)
{
	return ((p[3] >> 4) & 2) && p[4] >= 7 && (p[5] & 0x10);
}

/* One packet of the synthetic stream. */
static void synth(uint8_t *p, uint16_t pid, uint8_t cc, int payload, int pcr, uint64_t pcr27)
{
	memset(p, 0xff, PKT);
	p[0] = QP_TS_SYNC;
	p[1] = (uint8_t)(pid >> 8);
	p[2] = (uint8_t)pid;
	p[3] = (uint8_t)((pcr ? 0x20 : 0) | (payload ? 0x10 : 0) | (cc & 0x0f));
	if (pcr) {
		p[4] = payload ? 7 : 183; /* flags and PCR; or the whole packet */
		p[5] = 0x10;
		uint64_t base = pcr27 / 300, ext = pcr27 % 300;
		p[6] = (uint8_t)(base >> 25);
		p[7] = (uint8_t)(base >> 17);
		p[8] = (uint8_t)(base >> 9);
		p[9] = (uint8_t)(base >> 1);
		p[10] = (uint8_t)((base & 1) << 7 | 0x7e | (ext >> 8));
		p[11] = (uint8_t)ext;
	}
}

uint8_t *tsg_synthetic(size_t n)
{
	uint8_t *s = malloc(n * PKT);
	if (!s)
		return NULL;
	uint8_t cc[4] = {0, 0, 0, 0}; /* PAT, PMT, video, audio */
	const uint16_t pids[4] = {0x0000, 0x1000, 0x0100, 0x0101};
	unsigned int video = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = s + i * PKT;
		unsigned int k = (unsigned int)(i % 20);
		if (k == 0 || k == 1) {
			unsigned int x = k;
			if (i % 100 >= 2) { /* PSI every 100 packets: video here */
				x = 2;
			}
			if (x < 2)
				synth(p, pids[x], cc[x]++, 1, 0, 0);
			else
				synth(p, pids[2], cc[2]++, 1, video++ % 20 == 0, i * 27000);
		} else if (k == 7) {
			synth(p, QP_TS_PID_NULL, 0, 1, 0, 0);
		} else if (k == 11 || k == 17) {
			synth(p, pids[3], cc[3]++, 1, 0, 0);
		} else if (k == 13 && i % 60 == 13) {
			/* adaptation field only, a PCR: the counter stays */
			synth(p, pids[2], (uint8_t)(cc[2] - 1), 0, 1, i * 27000);
		} else {
			synth(p, pids[2], cc[2]++, 1, video++ % 20 == 0, i * 27000);
		}
	}
	return s;
}

/* A packet's place among its PID's packets with a payload, -1 without one. */
static int32_t *places(const uint8_t *ts, size_t n)
{
	int32_t *ord = malloc(n * sizeof(*ord));
	int32_t *next = calloc(8192, sizeof(*next));
	int16_t *cc = malloc(8192 * sizeof(*cc));
	if (!ord || !next || !cc) {
		free(ord), free(next), free(cc);
		return NULL;
	}
	for (int i = 0; i < 8192; i++)
		cc[i] = -1;
	for (size_t j = 0; j < n; j++) {
		const uint8_t *p = ts + j * PKT;
		uint16_t pid = pid_at(p);
		ord[j] = -1;
		if (p[0] != QP_TS_SYNC || pid == QP_TS_PID_NULL || !has_payload(p))
			continue;
		if (cc[pid] >= 0 && (p[3] & 0x0f) != ((cc[pid] + 1) & 0x0f)) {
			fprintf(stderr, "tsg: packet %zu: PID 0x%x's counter %u after %d: not a clean stream\n",
				j, pid, p[3] & 0x0f, cc[pid]);
			free(ord), free(next), free(cc);
			return NULL;
		}
		cc[pid] = p[3] & 0x0f;
		ord[j] = next[pid]++;
	}
	free(next);
	free(cc);
	return ord;
}

/* One flow's per-PID truth as its packets are sent. */
struct follow {
	struct tsg_flow *f;
	int32_t prev[TSG_PIDS];
	int copies[TSG_PIDS];
	uint64_t pcr_last[TSG_PIDS];
	int pcr_have[TSG_PIDS];
};

static void sent(struct follow *s, const uint8_t *p, int32_t ord, int tei, uint64_t t)
{
	struct tsg_flow *f = s->f;
	f->c.packets++;
	if (tei)
		f->c.transport_errors++;
	uint16_t pid = pid_at(p);
	if (pid == QP_TS_PID_NULL) {
		f->c.null_packets++;
		return;
	}
	int i = 0;
	while (i < f->npids && f->pid[i].pid != pid)
		i++;
	if (i == f->npids) {
		if (f->npids == QP_TS_PIDS) {
			f->c.pids_over++;
			return;
		}
		f->npids++;
		f->pid[i].pid = pid;
		s->prev[i] = -1;
	}
	struct tsg_pid *r = &f->pid[i];
	r->packets++;
	if (ord >= 0) {
		if (s->prev[i] >= 0 && ord == s->prev[i]) {
			if (++s->copies[i] == 2) {
				f->c.duplicates++;
			} else {
				f->c.cc_errors++;
				r->cc_errors++;
			}
		} else {
			if (s->prev[i] >= 0 && ord != s->prev[i] + 1) {
				uint32_t gone = (uint32_t)(ord - s->prev[i] - 1);
				if (gone >= 16)
					fprintf(stderr, "tsg: PID 0x%x lost %u in a row\n", pid, gone), abort();
				f->c.cc_errors++;
				f->c.lost += gone;
				r->cc_errors++;
				r->lost += gone;
			}
			s->copies[i] = 1;
		}
		s->prev[i] = ord;
	}
	if (has_pcr(p)) {
		if (s->pcr_have[i]) {
			uint64_t d = t - s->pcr_last[i];
			r->pcr_n++;
			r->pcr_sum_ns += d;
			if (d > r->pcr_max_ns)
				r->pcr_max_ns = d;
			if (d > QP_TS_PCR_LATE_NS) {
				r->pcr_late++;
				f->c.pcr_repetition_errors++;
			}
		}
		s->pcr_have[i] = 1;
		s->pcr_last[i] = t;
	}
}

/* What flow fi sends of packet j, in order: its copies. */
static int copies_of(int fi, size_t j)
{
	if (fi != 3)
		return 1;
	return j % 211 == 50 ? 3 : j % 97 == 3 ? 2 : 1;
}

int tsg_write(struct pw *w, uint64_t t0, const uint8_t *ts, size_t len, struct tsg_truth *t)
{
	memset(t, 0, sizeof(*t));
	size_t n = len / PKT;
	if (len % PKT || n < 2 * PER_DGRAM) {
		fprintf(stderr, "tsg: %zu bytes: not a stream of 188-byte packets\n", len);
		return -1;
	}
	int32_t *ord = places(ts, n);
	if (!ord)
		return -1;
	/* each flow's packets in the order sent (copies included) */
	size_t *seq = malloc(n * 3 * sizeof(*seq));
	uint8_t *tei = malloc(n * 3);
	if (!seq || !tei) {
		free(ord), free(seq), free(tei);
		return -1;
	}
	struct pw_batch b = {0};
	static const uint16_t ports[TSG_FLOWS] = {5000, 5002, 5004, 5006, 5008};
	t->n = TSG_FLOWS;
	for (int fi = 0; fi < TSG_FLOWS; fi++) {
		struct tsg_flow *f = &t->f[fi];
		f->src = "10.9.0.1";
		f->dst = "239.1.1.1";
		f->sport = (uint16_t)(40000 + fi);
		f->dport = ports[fi];
		f->rtp = fi == 2;
		struct follow s = {.f = f};
		size_t m = 0;
		for (size_t j = 0; j < n; j++)
			for (int c = copies_of(fi, j); c > 0; c--) {
				tei[m] = fi == 4 && j % 101 == 13;
				seq[m++] = j;
			}
		size_t ndg = (m + PER_DGRAM - 1) / PER_DGRAM;
		uint16_t rtp_seq = 1000;
		for (size_t k = 0; k < ndg; k++, rtp_seq++) {
			uint64_t at = t0 + k * GAP_NS + (uint64_t)fi * 50000 + (fi == 0 && k >= ndg / 2 ? PAUSE_NS : 0);
			int lose = (fi == 1 && k % 37 == 5) || (fi == 2 && k % 41 == 9);
			if (lose && k + 1 < ndg) {
				f->rtp_lost += f->rtp;
				continue;
			}
			int garbage = fi == 4 && k % 29 == 7, cut = fi == 4 && k % 53 == 11;
			uint8_t d[PER_DGRAM * PKT + 32];
			uint32_t dl = 0;
			size_t first = k * PER_DGRAM, last = first + PER_DGRAM < m ? first + PER_DGRAM : m;
			for (size_t x = first; x < last; x++) {
				if (garbage && x == first + 2) {
					memset(d + dl, 0, 10);
					dl += 10;
					f->c.sync_errors++;
					f->c.sync_skipped_bytes += 10;
				}
				memcpy(d + dl, ts + seq[x] * PKT, PKT);
				if (tei[x])
					d[dl + 1] |= 0x80;
				if (cut && x == last - 1 && last - first == PER_DGRAM) {
					dl += PKT - 1; /* no packet: a tail */
					f->c.partial++;
					break;
				}
				sent(&s, d + dl, ord[seq[x]], tei[x], at);
				dl += PKT;
			}
			struct pb p;
			pb_init(&p);
			pb_push_raw(&p, d, dl);
			if (f->rtp) {
				uint32_t rts = (uint32_t)((at - t0) / 100000 * 9); /* 90 kHz */
				uint8_t h[12] = {0x80, 33, (uint8_t)(rtp_seq >> 8), (uint8_t)rtp_seq,
						 (uint8_t)(rts >> 24), (uint8_t)(rts >> 16), (uint8_t)(rts >> 8),
						 (uint8_t)rts, 0x51, 0x7e, 0x00, 0x21};
				pb_push_raw(&p, h, sizeof(h));
			}
			pb_push_udp(&p, f->sport, f->dport);
			pb_push_ip4(&p, f->src, f->dst, (uint16_t)k, 0x4000);
			pb_push_eth(&p);
			pwb_add(&b, &p, at);
			f->datagrams++;
		}
	}
	pwb_flush(&b, w);
	free(ord);
	free(seq);
	free(tei);
	return 0;
}
