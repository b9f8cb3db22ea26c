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
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

/* The reader's buffer for an open file judged taken: 1, or -1 (errno). */
static int take(struct qp_pcap_reader *r, int fd, size_t buf_bytes)
{
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
	r->file_bytes = (uint64_t)st.st_size;
	r->snapshot = (uint32_t)pcap_snapshot(pc);
	return take(r, fd, buf_bytes);
}

int qp_pcap_read_open_self(struct qp_pcap_reader *r, const char *path, size_t buf_bytes)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	/* a pipe is never opened here: its writer must not see its reader go */
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0; /* libpcap's open says why, or reads it */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	uint32_t h[FILE_HDR / 4]; /* magic, versions, zone, accuracy, snapshot, link type */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || pread(fd, h, FILE_HDR, 0) != FILE_HDR ||
	    lseek(fd, FILE_HDR, SEEK_SET) != FILE_HDR) {
		close(fd);
		return 0;
	}
	if (h[0] == __builtin_bswap32(MAGIC_US) || h[0] == __builtin_bswap32(MAGIC_NS)) {
		r->swapped = 1;
		for (unsigned int i = 0; i < FILE_HDR / 4; i++)
			h[i] = __builtin_bswap32(h[i]);
		/* the two 16-bit versions: swapped as the 16-bit fields they are */
		h[1] = h[1] >> 16 | h[1] << 16;
	}
	uint32_t major, minor;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	major = h[1] & 0xffff;
	minor = h[1] >> 16;
#else
	major = h[1] >> 16;
	minor = h[1] & 0xffff;
#endif
	/* only what libpcap would take as it is: version 2.4, Ethernet with
	 * no FCS bits */
	if ((h[0] != MAGIC_US && h[0] != MAGIC_NS) || major != 2 || minor != 4 || h[5] != 1) {
		close(fd);
		return 0;
	}
	r->nsec = h[0] == MAGIC_NS;
	r->file_bytes = (uint64_t)st.st_size;
	/* libpcap's pcap_adjust_snapshot(): 0 or more than INT_MAX is the
	 * link type's largest (a snapshot above the largest stays: records
	 * beyond the largest are damaged, as they are anyway) */
	r->snapshot = h[4] == 0 || h[4] > INT32_MAX ? MAXIMUM_SNAPLEN : h[4];
	return take(r, fd, buf_bytes);
}

/*
 * Reading ahead: `n` blocks, each with room before it for a partial record
 * (`carry`). The thread fills block k % n once the caller has let go of
 * block k - n; the caller moves what is left of a record from its block to
 * just before the next one's bytes and reads on there.
 *
 * The thread waits for a free block by looking again after a short sleep
 * (AHEAD_POLL_NS, doubled up to AHEAD_POLL_MAX_NS), so the caller never has
 * to wake it: on this VM a wake-up through the kernel cost the caller about
 * 15 us a block (an interrupt to the other core), 6 % of its time on the
 * realistic mix, where the caller is the longer side and the thread waits
 * for nearly every block. The caller, when it waits for a filled block,
 * sleeps on `cv`, and the thread wakes it only then (`sleeping`).
 *
 * Thread-safety: `filled` is the thread's to store, with release (the
 * block's bytes, `got` and `err` before it); `released` and `stop` the
 * caller's, with release. `sleeping` is changed under `mu` by the caller
 * going to sleep; the thread stores `filled`, then looks at `sleeping`
 * (both sequentially consistent) and takes `mu` to wake it only when it is
 * set. A block's bytes are the thread's from when `released` lets it go
 * until `filled` counts it, then the caller's (and the room before a block
 * is the caller's alone). `cur` is the caller's; the rest is fixed.
 */
#define AHEAD_MAX 16
#define AHEAD_POLL_NS 20000	  /* the thread's first look again, */
#define AHEAD_POLL_MAX_NS 200000 /* and its longest sleep: a quarter of the blocks' work at least */
struct qp_pcap_ahead {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;
	uint8_t *mem, *own; /* the blocks; the reader's own buffer, kept */
	size_t carry, block, stride, bytes;
	unsigned int n;
	_Atomic uint64_t filled;   /* blocks the thread has filled */
	_Atomic uint64_t released; /* blocks the caller has let go of */
	_Atomic int stop;
	_Atomic int sleeping; /* the caller sleeps on cv, or is about to */
	uint64_t cur;	      /* the caller's block + 1 (0: none yet) */
	size_t got[AHEAD_MAX];
	int err[AHEAD_MAX];
};

static void *ahead_main(void *arg)
{
	struct qp_pcap_ahead *a = arg;
	for (uint64_t k = 0;; k++) {
		long ns = AHEAD_POLL_NS;
		while (!atomic_load_explicit(&a->stop, memory_order_acquire) &&
		       k - atomic_load_explicit(&a->released, memory_order_acquire) >= a->n) {
			struct timespec d = {0, ns};
			nanosleep(&d, NULL);
			if (ns < AHEAD_POLL_MAX_NS)
				ns *= 2;
		}
		if (atomic_load_explicit(&a->stop, memory_order_acquire))
			break;
		unsigned int i = (unsigned int)(k % a->n);
		uint8_t *dst = a->mem + (size_t)i * a->stride + a->carry;
		size_t have = 0;
		int e = 0;
		while (have < a->block) {
			ssize_t got = read(a->fd, dst + have, a->block - have);
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0)
				e = errno;
			if (got <= 0)
				break;
			have += (size_t)got;
		}
		a->got[i] = have;
		a->err[i] = e;
		atomic_store(&a->filled, k + 1);
		if (atomic_load(&a->sleeping)) {
			pthread_mutex_lock(&a->mu);
			pthread_cond_broadcast(&a->cv);
			pthread_mutex_unlock(&a->mu);
		}
		if (e || have < a->block)
			break; /* the end of the file, or an error: the caller sees it */
	}
	return NULL;
}

int qp_pcap_read_ahead(struct qp_pcap_reader *r, size_t block, unsigned int blocks)
{
	if (r->fd < 0 || r->ahead || r->have || blocks < 2 || blocks > AHEAD_MAX || block < 4096) {
		errno = EINVAL;
		return -1;
	}
	struct qp_pcap_ahead *a = calloc(1, sizeof(*a));
	if (!a)
		return -1;
	a->fd = r->fd;
	a->n = blocks;
	a->block = block & ~(size_t)63;
	a->carry = ((size_t)REC_HDR + r->max_caplen + 63) & ~(size_t)63;
	a->stride = a->carry + a->block;
	a->bytes = a->stride * a->n;
	a->mem = qp_mem_huge(a->bytes);
	if (!a->mem) {
		free(a);
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	int e = pthread_create(&a->th, NULL, ahead_main, a);
	if (e) {
		pthread_cond_destroy(&a->cv);
		pthread_mutex_destroy(&a->mu);
		qp_mem_huge_free(a->mem, a->bytes);
		free(a);
		errno = e;
		return -1;
	}
	a->own = r->buf;
	r->ahead = a;
	return 0;
}

/* The next block, what is left of the caller's before it. */
static int next_block(struct qp_pcap_reader *r, struct qp_pcap_ahead *a)
{
	size_t left = r->have - r->off;
	uint64_t next = a->cur; /* the block after the caller's */
	if (atomic_load_explicit(&a->filled, memory_order_acquire) <= next) {
		pthread_mutex_lock(&a->mu);
		atomic_store(&a->sleeping, 1);
		while (atomic_load(&a->filled) <= next)
			pthread_cond_wait(&a->cv, &a->mu);
		atomic_store(&a->sleeping, 0);
		pthread_mutex_unlock(&a->mu);
	}
	unsigned int i = (unsigned int)(next % a->n);
	uint8_t *at = a->mem + (size_t)i * a->stride + a->carry;
	memcpy(at - left, r->buf + r->off, left);
	/* every block before this one (the thread looks again by itself) */
	atomic_store_explicit(&a->released, next, memory_order_release);
	a->cur = next + 1;
	r->buf = at - left;
	r->pf = NULL;
	r->off = 0;
	r->have = left + a->got[i];
	if (a->err[i]) {
		snprintf(r->err, sizeof(r->err), "error reading dump file: %s", strerror(a->err[i]));
		return -1;
	}
	if (a->got[i] < a->block)
		r->eof = 1;
	return 0;
}

/* Blocks until the next record is whole (or the file ends): a fill gives a
 * record or an end, as the reader's own buffer does. What is left before a
 * block is a partial record: shorter than its header and the longest body
 * taken (a longer one is damaged), which the room before each block holds. */
static int fill_ahead(struct qp_pcap_reader *r, struct qp_pcap_ahead *a)
{
	for (;;) {
		if (next_block(r, a) != 0)
			return -1;
		if (r->eof)
			return 0;
		if (r->have < REC_HDR)
			continue;
		uint32_t caplen = qp_pcap_rd32(r, r->buf + 8);
		if (caplen > r->max_caplen || r->have - REC_HDR >= caplen)
			return 0;
	}
}

static void ahead_stop(struct qp_pcap_reader *r)
{
	struct qp_pcap_ahead *a = r->ahead;
	atomic_store_explicit(&a->stop, 1, memory_order_release); /* seen at its next look */
	pthread_join(a->th, NULL);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	qp_mem_huge_free(a->mem, a->bytes);
	r->buf = a->own;
	free(a);
	r->ahead = NULL;
}

int qp_pcap_read_fill(struct qp_pcap_reader *r)
{
	if (r->ahead)
		return fill_ahead(r, r->ahead);
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

#define PF_AHEAD 4096 /* bytes of a block read ahead asked for before they are walked */
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
	/* read ahead, every line a little ahead asked for: the bytes come from
	 * another core's cache, and each record's place is known only from the
	 * record before (without: 1M frames 0.075 -> 0.185 s); the reader's own
	 * buffer is in this core's cache already */
	const uint8_t *end = buf + have, *pf = r->ahead ? buf + off : end;
	/* where the last call's asking stopped, when it is in the buffer and
	 * ahead (a batch's call asked again for the 4 KiB the one before had:
	 * 8 instructions a frame of the realistic mix) */
	if (r->ahead && r->pf > pf && r->pf <= end)
		pf = r->pf;
	while (n < max && have - off >= REC_HDR) {
		const uint8_t *h = buf + off;
		const uint8_t *lim = end - h > PF_AHEAD ? h + PF_AHEAD : end;
		for (; pf < lim; pf += 64)
			__builtin_prefetch(pf);
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
	r->pf = pf;
	return n;
}

void qp_pcap_read_close(struct qp_pcap_reader *r)
{
	if (r->ahead)
		ahead_stop(r);
	if (r->fd >= 0)
		close(r->fd);
	if (r->buf)
		qp_mem_huge_free(r->buf, r->cap);
	r->fd = -1;
	r->buf = NULL;
}
