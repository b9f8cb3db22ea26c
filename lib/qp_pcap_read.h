/*
 * qp_pcap_read: a classic pcap file read in large blocks, its records handed
 * out in place: one read(2) per block into a buffer the reader keeps (and
 * the cache with it), no copy out of it. libpcap opens the file first and
 * judges its header (so a refused file gets libpcap's own words); this
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
 * with those it has, then fills.
 *
 * Thread-safety: one reader per thread.
 */
#ifndef QP_PCAP_READ_H
#define QP_PCAP_READ_H

#include <pcap/pcap.h>
#include <stddef.h>
#include <stdint.h>

struct qp_pcap_reader {
	int fd;
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

/**
 * Open the capture at path, which libpcap opened as pc (nothing read from
 * pc yet), with a buffer of at least buf_bytes. @return 1 this reader takes
 * it; 0 it does not (read it through pc); -1 no memory or no file (errno;
 * read it through pc).
 */
int qp_pcap_read_open(struct qp_pcap_reader *r, const char *path, pcap_t *pc, size_t buf_bytes);

/** The next record: QP_PCAP_REC, QP_PCAP_FILL, QP_PCAP_END or QP_PCAP_DAMAGED. */
int qp_pcap_read_next(struct qp_pcap_reader *r, struct qp_pcap_rec *rec);

/**
 * Move what is left to the front and read on: every record handed out so
 * far is gone. @return 0, or -1 when the read failed (r->err).
 */
int qp_pcap_read_fill(struct qp_pcap_reader *r);

/** Close (a reader zeroed and never opened is accepted). */
void qp_pcap_read_close(struct qp_pcap_reader *r);

#endif
