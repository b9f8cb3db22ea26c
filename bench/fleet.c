/*
 * qp_fleet: a fleet of simulated probes pushing results to a receiver
 * (qmstore), for bench/fleet.sh. Each probe is one QMCP connection (HELLO,
 * then RESULT frames as qprobe's push sends them) carrying M measurements at
 * 1 s intervals: N x M results a second, the same JSON a real probe sends
 * (taken from files), each with its own probe id, measurement and sequence
 * number. It measures the time from each RESULT sent to its acknowledgement
 * and prints what was sent, acknowledged and refused.
 *
 *   qp_fleet HOST PORT PROBES MEASUREMENTS SECONDS RESULT.json FLOWS.json
 *
 * One thread, non-blocking sockets in one poll set; frames are written whole
 * or the probe is counted as stalled (a receiver too slow to read).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "qmcp_codec.h"
#include "qmcp_tls.h"

#define MAX_PROBES 2000
#define MAX_OUT 4096 /* results a probe may wait on */

struct probe {
	int fd;
	struct qmcp_io io;
	struct qmcp_rx rx;
	int hello_ok;
	uint64_t next_ns; /* when its next interval closes */
	uint64_t seq;     /* intervals sent a measurement */
	uint64_t sent_ns[MAX_OUT]; /* by req_id % MAX_OUT */
	uint32_t req;
};

static uint64_t mono(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t real(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	if (b)
		b[n] = 0;
	fclose(f);
	return b;
}

static int send_msg(struct probe *p, struct qmcp_msg *m)
{
	size_t n;
	const uint8_t *f = qmcp_msg_frame(m, &n);
	size_t off = 0;
	/* whole frames: wait for room (a receiver that reads slowly shows as delay) */
	while (f && off < n) {
		long w = qmcp_io_send(&p->io, f + off, n - off);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w != -EAGAIN)
			break;
		struct pollfd pf = {.fd = p->fd, .events = POLLOUT};
		poll(&pf, 1, 100);
	}
	qmcp_msg_free(m);
	return off == n ? 0 : -1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: qp_fleet HOST PORT PROBES MEASUREMENTS SECONDS RESULT.json "
				"FLOWS.json\n");
		return 1;
	}
	const char *host = argv[1];
	int port = atoi(argv[2]), np = atoi(argv[3]), nm = atoi(argv[4]), secs = atoi(argv[5]);
	char *json = slurp(argv[6]), *flows = slurp(argv[7]);
	if (!json || !flows || np < 1 || np > MAX_PROBES || nm < 1 || nm > 64 || secs < 1) {
		fprintf(stderr, "qp_fleet: bad arguments or unreadable JSON files\n");
		return 1;
	}
	struct probe *P = calloc((size_t)np, sizeof(*P));
	struct pollfd *pf = calloc((size_t)np, sizeof(*pf));
	size_t cap_delays = (size_t)np * (size_t)nm * (size_t)(secs + 2);
	uint64_t *delays = malloc(cap_delays * sizeof(*delays));
	if (!P || !pf || !delays)
		return 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, host, &a.sin_addr);
	uint64_t t0 = mono();
	for (int i = 0; i < np; i++) {
		struct probe *p = &P[i];
		p->fd = socket(AF_INET, SOCK_STREAM, 0);
		int one = 1;
		setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(p->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
			fprintf(stderr, "qp_fleet: probe %d: connect: %s\n", i, strerror(errno));
			return 2;
		}
		qmcp_io_plain(&p->io, p->fd);
		qmcp_rx_init(&p->rx);
		char name[32];
		snprintf(name, sizeof(name), "fleet-%04d", i);
		struct qmcp_msg m;
		qmcp_msg_init(&m, QMCP_MSG_HELLO, 0, ++p->req);
		qmcp_put_str(&m, QMCP_T_CLIENT_NAME, name);
		if (send_msg(p, &m))
			return 2;
		/* intervals close at the same second on every probe of a real fleet, the
		 * probes a little apart: spread over the first 100 ms */
		p->next_ns = t0 + 1000000000u + (uint64_t)i * 100000000u / (uint64_t)np;
	}
	uint64_t sent = 0, acked = 0, refused = 0, stalled = 0, nd = 0;
	uint64_t end_send = t0 + 1000000000u + (uint64_t)secs * 1000000000u;
	uint64_t deadline = end_send + 30000000000ULL;
	uint64_t first_ack = 0, last_ack = 0;
	while (mono() < deadline && (mono() < end_send || acked + refused < sent)) {
		uint64_t now = mono();
		for (int i = 0; i < np && now < end_send; i++) {
			struct probe *p = &P[i];
			if (now < p->next_ns || !p->hello_ok)
				continue;
			uint64_t start = real() - 1000000000u;
			for (int k = 0; k < nm; k++) {
				struct qmcp_msg m;
				uint32_t req = ++p->req;
				qmcp_msg_init(&m, QMCP_MSG_RESULT, 0, req);
				char name[32];
				snprintf(name, sizeof(name), "fleet-%04d", i);
				qmcp_put_str(&m, QMCP_T_PROBE_ID, name);
				qmcp_put_u32(&m, QMCP_T_MEAS_ID, (uint32_t)k + 1);
				qmcp_put_u64(&m, QMCP_T_SEQ, p->seq);
				qmcp_put_u64(&m, QMCP_T_INTERVAL_START_NS, start);
				qmcp_put_str(&m, QMCP_T_RESULT_JSON, json);
				qmcp_put_str(&m, QMCP_T_FLOWS_JSON, flows);
				p->sent_ns[req % MAX_OUT] = mono();
				if (send_msg(p, &m) == 0)
					sent++;
				else
					stalled++;
			}
			p->seq++;
			p->next_ns += 1000000000u;
		}
		for (int i = 0; i < np; i++)
			pf[i] = (struct pollfd){.fd = P[i].fd, .events = POLLIN};
		if (poll(pf, (nfds_t)np, 2) <= 0)
			continue;
		for (int i = 0; i < np; i++) {
			if (!pf[i].revents)
				continue;
			struct probe *p = &P[i];
			long k = qmcp_rx_read(&p->rx, p->fd);
			if (k <= 0 && k != -EAGAIN) {
				fprintf(stderr, "qp_fleet: probe %d: the receiver closed the connection\n", i);
				return 2;
			}
			struct qmcp_hdr h;
			const uint8_t *body;
			while (qmcp_rx_frame(&p->rx, &h, &body) == 1) {
				if (h.type == QMCP_MSG_HELLO) {
					p->hello_ok = 1;
					continue;
				}
				if (h.type != QMCP_MSG_RESULT)
					continue;
				uint64_t now2 = mono();
				if (h.flags & QMCP_F_ERROR) {
					refused++;
					continue;
				}
				acked++;
				if (!first_ack)
					first_ack = now2;
				last_ack = now2;
				if (nd < cap_delays)
					delays[nd++] = now2 - p->sent_ns[h.req_id % MAX_OUT];
			}
		}
	}
	qsort(delays, nd, sizeof(*delays), cmp_u64);
	double span = (double)(last_ack - first_ack) / 1e9;
	printf("probes %d measurements %d seconds %d: sent %" PRIu64 " acknowledged %" PRIu64
	       " refused %" PRIu64 " stalled %" PRIu64 "; %.0f results/s acknowledged; delay p50 %.1f ms "
	       "p99 %.1f ms max %.1f ms\n",
	       np, nm, secs, sent, acked, refused, stalled, span > 0 ? (double)acked / span : 0.0,
	       nd ? (double)delays[nd / 2] / 1e6 : 0.0, nd ? (double)delays[nd * 99 / 100] / 1e6 : 0.0,
	       nd ? (double)delays[nd - 1] / 1e6 : 0.0);
	for (int i = 0; i < np; i++)
		close(P[i].fd);
	return acked == sent && !refused ? 0 : 3;
}
