/*
 * qp_pcap_read: a classic pcap file read in large blocks, its records handed
 * out in place: one read(2) per block into a buffer the reader keeps (and
 * the cache with it), no copy out of it. libpcap opens the file first and
 * judges its header (so a refused file gets libpcap's own words), or, for a
 * classic Ethernet capture, the reader judges it as libpcap does without
 * loading libpcap (qp_pcap_read_open_self()); this
 * reader then takes the records exactly as libpcap's pcap_next_ex() would
 * at nanosecond precision: the same frames, lengths and times, and the same
 * error where a record is damaged. It takes what it can read that way: a
 * regular file in pcap 2.4 with the standard or the nanosecond magic, in
 * either byte order, of a link type whose frames libpcap leaves as they are.
 * Anything else (pcapng, a pipe, older versions, the patched format,
 * byte-swapped pseudo-headers) is left to libpcap.
 *
 * Records point into the buffer until the next qp_pcap_read_fill(): the
 * caller takes records until qp_pcap_read_next() says QP_PCAP_FILL, is done
 * with those it has, then fills. Read ahead (qp_pcap_read_ahead()), a
 * thread of the reader's own fills blocks with read(2) on another core and
 * a fill takes the next one: the same records.
 *
 * Thread-safety: one reader per thread (its read-ahead thread is its own).
 */
#ifndef QP_PCAP_READ_H
#define QP_PCAP_READ_H

#include <pcap/pcap.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "qp_frame.h"

struct qp_pcap_reader {
	int fd;
	uint64_t file_bytes; /* the file's size at open */
	uint8_t *buf;
	size_t cap;  /* buffer size */
	size_t have; /* bytes in the buffer */
	size_t off;  /* the next record's header in the buffer */
	int eof;     /* the file has no more bytes */
	int swapped; /* the file's byte order is not ours */
	int nsec;    /* the nanosecond magic: times as they are */
	uint32_t snapshot;   /* libpcap's snapshot length for the file */
	uint32_t max_caplen; /* libpcap's largest record for the link type */
	char err[PCAP_ERRBUF_SIZE];
	struct qp_pcap_ahead *ahead; /* a reader thread's blocks, or NULL */
	const uint8_t *pf; /* read ahead: the buffer's bytes asked for up to here */
};

/* One record: data points into the reader's buffer. */
struct qp_pcap_rec {
	const uint8_t *data;
	uint32_t caplen;
	uint32_t len;
	uint64_t ts_ns;
};

enum {
	QP_PCAP_DAMAGED = -1, /* r->err says how, in libpcap's words */
	QP_PCAP_END = 0,
	QP_PCAP_REC = 1,
	QP_PCAP_FILL = 2, /* the next record is not whole in the buffer: fill */
};

/** A 32-bit field of the file, in the file's byte order. */
static inline uint32_t qp_pcap_rd32(const struct qp_pcap_reader *r, const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return r->swapped ? __builtin_bswap32(v) : v;
}

/*
 * A record's time in nanoseconds from its seconds and fraction (nsec: the
 * fraction is in nanoseconds, else microseconds). libpcap takes the fraction
 * as a signed 32-bit field (a hostile one may be negative); the seconds are
 * taken back to unsigned, as the file means them (qp_offline's frame_ns).
 */
static inline uint64_t qp_pcap_ns(uint32_t sec, uint32_t frac, int nsec)
{
	int64_t f = (int32_t)frac;
	return (uint64_t)sec * 1000000000ull + (uint64_t)(nsec ? f : f * 1000);
}

/* A record header's time in nanoseconds. */
static inline uint64_t qp_pcap_rec_ns(const struct qp_pcap_reader *r, const uint8_t *h)
{
	return qp_pcap_ns(qp_pcap_rd32(r, h), qp_pcap_rd32(r, h + 4), r->nsec);
}

/**
 * Open the capture at path, which libpcap opened as pc (nothing read from
 * pc yet), with a buffer of at least buf_bytes. @return 1 this reader takes
 * it; 0 it does not (read it through pc); -1 no memory or no file (errno;
 * read it through pc).
 */
int qp_pcap_read_open(struct qp_pcap_reader *r, const char *path, pcap_t *pc, size_t buf_bytes);

/**
 * Open the capture at path without libpcap when its header is one libpcap
 * takes as it is, and its link type Ethernet (DLT_EN10MB): pcap 2.4, either
 * magic, either byte order, link type field 1. The records are then read as
 * after qp_pcap_read_open(). Loading libpcap and its libraries was 2.2 ms of
 * every run here. @return 1 this reader takes it; 0 it does not (open it
 * with libpcap, which says what is wrong with it); -1 no memory (errno).
 */
int qp_pcap_read_open_self(struct qp_pcap_reader *r, const char *path, size_t buf_bytes);

/** The next record: QP_PCAP_REC, QP_PCAP_FILL, QP_PCAP_END or QP_PCAP_DAMAGED. */
int qp_pcap_read_next(struct qp_pcap_reader *r, struct qp_pcap_rec *rec);

/**
 * The records whole in the buffer as frames, in a straight line (a record
 * through qp_pcap_read_next() and the offline loop was 95 instructions, 40
 * here): taken as qp_pcap_read_next() takes them into fr[n] .. fr[max - 1]
 * (data in place), up to the first whose time is ts_stop or later; a
 * frame's caplen is the wire's length when the record says it captured
 * more than the wire had (a lying header: the smaller is trusted). It stops
 * at any record it does not take (not whole in the buffer, damaged, at or
 * past ts_stop; in a file of the other byte order, every one), which
 * qp_pcap_read_next() then takes. `port` is left as it is.
 * @return n and the records taken.
 */
unsigned int qp_pcap_read_frames(struct qp_pcap_reader *r, uint64_t ts_stop, struct qp_frame *fr,
				 unsigned int n, unsigned int max);

/**
 * Move what is left to the front and read on: every record handed out so
 * far is gone. @return 0, or -1 when the read failed (r->err).
 */
int qp_pcap_read_fill(struct qp_pcap_reader *r);

/**
 * Read ahead on a thread of its own (another core): its read(2)s, the
 * kernel's copy of the file, run beside the caller's work on the records;
 * qp_pcap_read_fill() then takes the next block it has filled. Records are
 * the same either way. @return 0, or -1 (errno) and the reader reads as
 * before.
 */
int qp_pcap_read_ahead(struct qp_pcap_reader *r, size_t block, unsigned int blocks);

/** Close (a reader zeroed and never opened is accepted). */
void qp_pcap_read_close(struct qp_pcap_reader *r);

#endif
