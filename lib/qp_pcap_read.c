/*
 * qp_pcap_read: see qp_pcap_read.h. The record rules are libpcap 1.10's
 * (sf-pcap.c, pcap_next_packet) for a 2.4 file with 16-byte record headers:
 * a record longer than the link type's maximum is an error, one longer than
 * the snapshot length is cut to it and the rest skipped, a short header or
 * body is a truncated file.
 */
#include "qp_pcap_read.h"
#include "qp_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC_US 0xa1b2c3d4u
#define MAGIC_NS 0xa1b23c4du
#define MAXIMUM_SNAPLEN 262144u /* libpcap's for every link type taken here */
#define FILE_HDR 24
#define REC_HDR 16

/* Link types whose frames libpcap hands over as the file has them. */
static int plain_linktype(int lt, int swapped)
{
	switch (lt) {
	case DLT_EN10MB:
	case DLT_RAW:
	case 14: /* DLT_RAW elsewhere */
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_NULL:
	case DLT_LOOP:
		return 1;
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
		return !swapped; /* libpcap turns their pseudo-header round */
	default:
		return 0;
	}
}

int qp_pcap_read_open(struct qp_pcap_reader *r, const char *path, pcap_t *pc, size_t buf_bytes)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (pcap_major_version(pc) != 2 || pcap_minor_version(pc) != 4 ||
	    !plain_linktype(pcap_datalink(pc), pcap_is_swapped(pc)) || pcap_snapshot(pc) <= 0)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	uint32_t magic;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || pread(fd, &magic, 4, 0) != 4 ||
	    lseek(fd, FILE_HDR, SEEK_SET) != FILE_HDR) {
		close(fd);
		return 0;
	}
	r->swapped = pcap_is_swapped(pc);
	if (r->swapped)
		magic = __builtin_bswap32(magic);
	if (magic != MAGIC_US && magic != MAGIC_NS) {
		close(fd); /* the patched (Kuznetzov) format: 24-byte record headers */
		return 0;
	}
	r->nsec = magic == MAGIC_NS;
	r->snapshot = (uint32_t)pcap_snapshot(pc);
	r->max_caplen = MAXIMUM_SNAPLEN;
	/* room for the largest record libpcap would take, after a partial one */
	size_t least = 2 * ((size_t)REC_HDR + MAXIMUM_SNAPLEN);
	r->cap = (buf_bytes > least ? buf_bytes : least + 63) & ~(size_t)63;
	/* one huge page where the system gives them: a page fault a 4 KiB
	 * page costs 11 us here (2.8 ms a MiB), one of 2 MiB far less */
	r->buf = qp_mem_huge(r->cap);
	if (!r->buf) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	r->fd = fd;
	return 1;
}

int qp_pcap_read_fill(struct qp_pcap_reader *r)
{
	size_t left = r->have - r->off;
	memmove(r->buf, r->buf + r->off, left);
	r->have = left;
	r->off = 0;
	while (r->have < r->cap && !r->eof) {
		ssize_t got = read(r->fd, r->buf + r->have, r->cap - r->have);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			snprintf(r->err, sizeof(r->err), "error reading dump file: %s", strerror(errno));
			return -1;
		}
		if (got == 0)
			r->eof = 1;
		r->have += (size_t)got;
	}
	return 0;
}

int qp_pcap_read_next(struct qp_pcap_reader *r, struct qp_pcap_rec *rec)
{
	size_t left = r->have - r->off;
	if (left < REC_HDR) {
		if (!r->eof)
			return QP_PCAP_FILL;
		if (left == 0)
			return QP_PCAP_END;
		snprintf(r->err, sizeof(r->err),
			 "truncated dump file; tried to read %d header bytes, only got %zu", REC_HDR,
			 left);
		return QP_PCAP_DAMAGED;
	}
	const uint8_t *h = r->buf + r->off;
	uint32_t caplen = qp_pcap_rd32(r, h + 8);
	if (caplen > r->max_caplen) {
		if (caplen > r->snapshot)
			snprintf(r->err, sizeof(r->err),
				 "invalid packet capture length %u, bigger than snaplen of %u", caplen,
				 r->snapshot);
		else
			snprintf(r->err, sizeof(r->err),
				 "invalid packet capture length %u, bigger than maximum of %u", caplen,
				 r->max_caplen);
		return QP_PCAP_DAMAGED;
	}
	left -= REC_HDR;
	if (left < caplen) {
		if (!r->eof)
			return QP_PCAP_FILL;
		/* libpcap reads the snapshot's part first, then skips the rest */
		uint32_t part = caplen > r->snapshot ? r->snapshot : caplen;
		snprintf(r->err, sizeof(r->err),
			 "truncated dump file; tried to read %u captured bytes, only got %zu",
			 left < part ? part : caplen, left);
		return QP_PCAP_DAMAGED;
	}
	rec->data = h + REC_HDR;
	rec->caplen = caplen > r->snapshot ? r->snapshot : caplen;
	rec->len = qp_pcap_rd32(r, h + 12);
	rec->ts_ns = qp_pcap_rec_ns(r, h);
	r->off += REC_HDR + (size_t)caplen;
	return QP_PCAP_REC;
}

unsigned int qp_pcap_read_frames(struct qp_pcap_reader *r, uint64_t ts_stop, struct qp_frame *fr,
				 unsigned int n, unsigned int max)
{
	if (r->swapped)
		return n; /* the file's byte order is not ours: qp_pcap_read_next() */
	/* the reader's fields in locals: the frames' stores could alias them */
	const uint8_t *buf = r->buf;
	size_t off = r->off, have = r->have;
	uint32_t max_caplen = r->max_caplen, snapshot = r->snapshot;
	int nsec = r->nsec;
	while (n < max && have - off >= REC_HDR) {
		const uint8_t *h = buf + off;
		uint32_t hd[4]; /* seconds, fraction, captured, on the wire */
		memcpy(hd, h, REC_HDR);
		if (hd[2] > max_caplen || have - off - REC_HDR < hd[2])
			break; /* damaged, or not whole here */
		uint64_t ts = qp_pcap_ns(hd[0], hd[1], nsec);
		if (ts >= ts_stop)
			break;
		uint32_t cl = hd[2] > snapshot ? snapshot : hd[2];
		if (cl > hd[3] && hd[3] > 0)
			cl = hd[3];
		fr[n].data = h + REC_HDR;
		fr[n].caplen = cl;
		fr[n].wirelen = hd[3];
		fr[n].ts_ns = ts;
		off += REC_HDR + (size_t)hd[2];
		n++;
	}
	r->off = off;
	return n;
}

void qp_pcap_read_close(struct qp_pcap_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	if (r->buf)
		qp_mem_huge_free(r->buf, r->cap);
	r->fd = -1;
	r->buf = NULL;
}
