/*
 * capture: pcap results over QMCP (see capture.h).
 */
#include "capture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu-qsbr.h>

#include "ctl.h"
#include "live.h"
#include "qmcp_codec.h"
#include "qp_cap.h"
#include "qp_clock.h"
#include "qp_filter.h"

#define CAP_MAX MEAS_MAX
#define CAP_RING_PACKETS 16384      /* slots a worker's ring has, at most */
#define CAP_RING_BYTES (16u << 20)  /* and bytes */
#define CAP_DATA_MAX (256u << 10)   /* pcapng bytes in one PCAP_DATA */
#define CAP_CEILING_DEFAULT 1000000000ULL

struct capture {
	uint32_t meas_id;
	int session;
	uint32_t req_id;
	struct cap_req rq;
	struct qp_filter *filter;
	unsigned int nw;
	struct qp_cap_ring *ring; /* one a worker lcore */
	int published;
	int header_sent;
	uint64_t start_ns, end_ns; /* end_ns 0: no duration */
	uint64_t delivered;
	uint64_t per_port[RTE_MAX_ETHPORTS]; /* delivered, by interface */
	uint64_t unsent; /* packets taken but never sent: the session had no room at the end */
};

static struct {
	struct capture *c[CAP_MAX];
	unsigned int n;
	uint64_t ceiling;
	uint8_t buf[CAP_DATA_MAX + 65536 + 256];
} K = {.ceiling = CAP_CEILING_DEFAULT};

void cap_set_ceiling(uint64_t bps)
{
	K.ceiling = bps ? bps : CAP_CEILING_DEFAULT;
}

uint64_t cap_ceiling(void)
{
	return K.ceiling;
}

unsigned int cap_count(void)
{
	return K.n;
}

/* The interface a port is in the capture's file: its place among the probe's ports. */
static uint32_t ifid_of(uint16_t port)
{
	for (uint16_t i = 0; i < L.nports; i++)
		if (L.ports[i] == port)
			return i;
	return 0;
}

static struct capture *find(uint32_t id)
{
	for (unsigned int i = 0; i < K.n; i++)
		if (K.c[i]->meas_id == id)
			return K.c[i];
	return NULL;
}

static void free_capture(struct capture *c)
{
	for (unsigned int i = 0; i < c->nw && c->ring; i++)
		qp_cap_ring_fini(&c->ring[i]);
	free(c->ring);
	qp_filter_free(c->filter);
	free(c);
}

int cap_start(int session, uint32_t req_id, uint32_t id, const struct cap_req *rq, char *why,
	      size_t whylen)
{
	struct meas *m = meas_find(id);
	if (!m) {
		snprintf(why, whylen, "no measurement %u on this probe (LIST shows them)", id);
		return QMCP_E_NO_SUCH_MEAS;
	}
	if (rq->snaplen < QP_CAP_SNAP_MIN || rq->snaplen > QP_CAP_SNAP_MAX) {
		snprintf(why, whylen, "SNAPLEN: a u32 from %u to %u is accepted", QP_CAP_SNAP_MIN,
			 QP_CAP_SNAP_MAX);
		return QMCP_E_BAD_PARAM;
	}
	if (rq->rate_bps == 0 || rq->rate_bps > K.ceiling) {
		snprintf(why, whylen, "RATE_BPS: a u64 from 1 to %llu bit/s (this probe's ceiling) is accepted",
			 (unsigned long long)K.ceiling);
		return QMCP_E_BAD_PARAM;
	}
	struct capture *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(why, whylen, "out of memory");
		return QMCP_E_INTERNAL;
	}
	c->meas_id = id;
	c->session = session;
	c->req_id = req_id;
	c->rq = *rq;
	if (rq->filter[0]) {
		char err[256];
		c->filter = qp_filter_compile(rq->filter, QP_LINK_ETHERNET, err, sizeof(err));
		if (!c->filter) {
			snprintf(why, whylen, "FILTER '%.200s': %s", rq->filter, err);
			free_capture(c);
			return QMCP_E_BAD_PARAM;
		}
	}
	if (find(id)) {
		snprintf(why, whylen, "measurement %u is being captured already (one capture a measurement)",
			 id);
		free_capture(c);
		return QMCP_E_LIMIT;
	}
	c->nw = L.nworkers;
	c->ring = calloc(c->nw, sizeof(*c->ring));
	uint32_t slot = (uint32_t)sizeof(struct qp_cap_pkt) + rq->snaplen;
	uint32_t packets = CAP_RING_BYTES / slot < CAP_RING_PACKETS ? CAP_RING_BYTES / slot : CAP_RING_PACKETS;
	uint64_t share = rq->rate_bps / 8 / (c->nw ? c->nw : 1);
	for (unsigned int i = 0; c->ring && i < c->nw; i++)
		if (qp_cap_ring_init(&c->ring[i], packets, rq->snaplen, share ? share : 1, c->filter)) {
			c->nw = i;
			free_capture(c);
			snprintf(why, whylen, "no memory for the capture's rings (%u packets of %u bytes a worker)",
				 packets, rq->snaplen);
			return QMCP_E_LIMIT;
		}
	if (!c->ring) {
		free_capture(c);
		snprintf(why, whylen, "out of memory");
		return QMCP_E_INTERNAL;
	}
	c->start_ns = qp_clock_realtime_ns();
	c->end_ns = rq->duration_ms ? c->start_ns + (uint64_t)rq->duration_ms * 1000000ULL : 0;
	for (unsigned int i = 0; i < c->nw; i++) {
		struct qp_worker *w = meas_worker(m, i);
		meas_capturing(m, i, 1);
		rcu_assign_pointer(w->cap, &c->ring[i]);
		qp_worker_taps_update(w);
	}
	c->published = 1;
	K.c[K.n++] = c;
	return 0;
}

/* Some of the capture's packets, oldest first, into one PCAP_DATA (0: nothing to send). */
static size_t encode(struct capture *c, size_t room)
{
	size_t n = 0, lim = room < CAP_DATA_MAX ? room : CAP_DATA_MAX;
	if (!c->header_sent) {
		n += qp_pcapng_shb(K.buf + n, sizeof(K.buf) - n, "qprobe");
		for (uint16_t i = 0; i < L.nports; i++) {
			char name[RTE_ETH_NAME_MAX_LEN] = "";
			struct rte_eth_dev_info di;
			rte_eth_dev_get_name_by_port(L.ports[i], name);
			const char *drv = rte_eth_dev_info_get(L.ports[i], &di) == 0 && di.driver_name
						  ? di.driver_name
						  : "";
			n += qp_pcapng_idb(K.buf + n, sizeof(K.buf) - n, c->rq.snaplen, name, drv);
		}
		c->header_sent = 1;
	}
	while (n < lim && (!c->rq.count || c->delivered < c->rq.count)) {
		const struct qp_cap_pkt *best = NULL;
		unsigned int bi = 0;
		for (unsigned int i = 0; i < c->nw; i++) {
			const struct qp_cap_pkt *p = qp_cap_peek(&c->ring[i]);
			if (p && (!best || p->ts_ns < best->ts_ns)) {
				best = p;
				bi = i;
			}
		}
		if (!best)
			break;
		uint32_t ifid = ifid_of(best->port);
		size_t k = qp_pcapng_epb(K.buf + n, sizeof(K.buf) - n, ifid, best,
					 (const uint8_t *)(best + 1));
		if (!k)
			break; /* the buffer is full: the next PCAP_DATA */
		n += k;
		c->delivered++;
		c->per_port[ifid]++;
		qp_cap_pop(&c->ring[bi]);
	}
	return n;
}

static void push(struct capture *c, size_t n, int reason, uint64_t dropped)
{
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_PCAP_DATA, 0, c->req_id);
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, c->meas_id);
	qmcp_put_bytes(&m, QMCP_T_PCAPNG, K.buf, n);
	if (reason) {
		qmcp_put_u8(&m, QMCP_T_CAPTURE_END, (uint8_t)reason);
		qmcp_put_u64(&m, QMCP_T_CAP_PACKETS, c->delivered);
		qmcp_put_u64(&m, QMCP_T_CAP_DROPPED, dropped);
	}
	ctl_push(c->session, &m);
}

/* Send what fits in the session's output now. */
static void flush(struct capture *c)
{
	for (;;) {
		size_t room = ctl_room(c->session);
		if (room < CAP_DATA_MAX + 65536)
			return; /* the session reads slowly: the rings hold, then drop and count */
		size_t n = encode(c, CAP_DATA_MAX);
		if (!n)
			return;
		push(c, n, 0, 0);
		if (n < CAP_DATA_MAX / 2)
			return;
	}
}

/* Packets the workers had to drop so far. */
static uint64_t dropped_of(const struct capture *c)
{
	uint64_t d = c->unsent;
	for (unsigned int i = 0; i < c->nw; i++) {
		struct qp_cap_counts k;
		qp_cap_counts(&c->ring[i], &k);
		d += k.over_budget + k.ring_full;
	}
	return d;
}

/*
 * End capture c: its rings are taken from the workers (m: its measurement
 * while the workers may still read them; NULL when they no longer do), the
 * rest sent, then the statistics and why it ended.
 */
static void end_capture(struct capture *c, struct meas *m, int reason)
{
	if (c->published && m) {
		for (unsigned int i = 0; i < c->nw; i++) {
			rcu_assign_pointer(meas_worker(m, i)->cap, NULL);
			qp_worker_taps_update(meas_worker(m, i));
			meas_capturing(m, i, -1);
		}
		synchronize_rcu(); /* no worker writes the rings any more */
	}
	c->published = 0;
	int alive = ctl_room(c->session) > 0;
	while (alive && (!c->rq.count || c->delivered < c->rq.count)) {
		size_t n = encode(c, CAP_DATA_MAX);
		if (!n)
			break;
		if (ctl_room(c->session) < n + 65536)
			break;
		push(c, n, 0, 0);
	}
	/* what the session could not take now */
	for (unsigned int i = 0; i < c->nw && (!c->rq.count || c->delivered < c->rq.count); i++)
		while (qp_cap_peek(&c->ring[i])) {
			qp_cap_pop(&c->ring[i]);
			c->unsent++;
		}
	uint64_t dropped = dropped_of(c), now = qp_clock_realtime_ns();
	size_t n = 0;
	if (!c->header_sent)
		n = encode(c, 0); /* a file with no packet sent still has its header */
	for (uint16_t i = 0; i < L.nports; i++)
		n += qp_pcapng_isb(K.buf + n, sizeof(K.buf) - n, i, now, c->start_ns, c->per_port[i],
				   i == 0 ? dropped : 0);
	if (alive)
		push(c, n, reason, dropped);
	fprintf(stderr, "qprobe: capture of measurement %u ended (%s): %llu packets, %llu dropped\n",
		c->meas_id,
		reason == CAP_END_COUNT ? "its count" : reason == CAP_END_DURATION ? "its duration"
		: reason == CAP_END_STOPPED ? "stopped" : reason == CAP_END_MEAS ? "its measurement stopped"
		: "the probe stops",
		(unsigned long long)c->delivered, (unsigned long long)dropped);
	for (unsigned int i = 0; i < K.n; i++)
		if (K.c[i] == c) {
			K.c[i] = K.c[--K.n];
			break;
		}
	free_capture(c);
}

int cap_stop(int session, uint32_t id)
{
	struct capture *c = find(id);
	if (!c || c->session != session)
		return -ENOENT;
	end_capture(c, meas_find(id), CAP_END_STOPPED);
	return 0;
}

void cap_poll(void)
{
	uint64_t now = qp_clock_realtime_ns();
	for (unsigned int i = 0; i < K.n;) {
		struct capture *c = K.c[i];
		flush(c);
		if (c->rq.count && c->delivered >= c->rq.count) {
			end_capture(c, meas_find(c->meas_id), CAP_END_COUNT);
			continue;
		}
		if (c->end_ns && now >= c->end_ns) {
			end_capture(c, meas_find(c->meas_id), CAP_END_DURATION);
			continue;
		}
		i++;
	}
}

void cap_session_closed(int session)
{
	for (unsigned int i = 0; i < K.n;) {
		struct capture *c = K.c[i];
		if (c->session != session) {
			i++;
			continue;
		}
		c->session = -1; /* nothing more to it */
		end_capture(c, meas_find(c->meas_id), CAP_END_STOPPED);
	}
}

void cap_meas_stopped(struct meas *m)
{
	struct capture *c = find(meas_id(m));
	if (!c)
		return;
	/* no worker reads m: the rings are the capture's alone; the group's count goes back */
	for (unsigned int i = 0; i < c->nw; i++)
		meas_capturing(m, i, -1);
	c->published = 0;
	end_capture(c, NULL, CAP_END_MEAS);
}

void cap_fini(void)
{
	while (K.n)
		end_capture(K.c[0], meas_find(K.c[0]->meas_id), CAP_END_PROBE);
}
