/*
 * spool: a results destination's queue on disk (push.h), so results not yet
 * acknowledged outlive the probe: a probe killed, crashed or restarted sends
 * them again when it starts with the same spool directory.
 *
 * One append-only file a destination, DIR/spool-HEX.bin (HEX: the
 * destination's name in hexadecimal): a header record naming the destination,
 * then a record per result queued (on disk, fdatasync'd, before spool_put
 * returns), per acknowledgement, and per gap attached to a result. Each record
 * is length-prefixed and checksummed (CRC32-C): a record cut short by a crash
 * ends the file there, and what comes before it is read. The file is
 * rewritten from the queue when it has grown past its bound (acknowledged
 * records are dropped then) and cut back to its header when the queue is
 * empty.
 *
 * Thread-safety: the management thread only (push.c calls it under its lock).
 */
#ifndef QPROBE_SPOOL_H
#define QPROBE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

/* A result as the spool keeps it. */
struct spool_item {
	uint32_t meas;
	uint64_t seq, start_ns;
	int has_gap;
	uint64_t gap_from, gap_count;
	char *json;  /* malloc'd */
	char *flows; /* malloc'd, may be NULL */
};

/* A gap waiting for its measurement's next result. */
struct spool_gap {
	uint32_t meas;
	uint64_t from, count;
};

struct spool;

/**
 * Create (or empty) dest's file in dir and write its header.
 * @return the spool, or NULL with a message in err.
 */
struct spool *spool_open(const char *dir, const char *dest, char *err, size_t errlen);

/**
 * The same, the file holding items and gaps from the start: an earlier
 * run's file is replaced by it in one step (a crash leaves one or the other).
 */
struct spool *spool_open_with(const char *dir, const char *dest, const struct spool_item *const *items,
			      unsigned int n, const struct spool_gap *gaps, unsigned int ngaps,
			      char *err, size_t errlen);

/** Append a queued result and wait for it to reach the disk. @return 0, or -errno. */
int spool_put(struct spool *s, const struct spool_item *it);

/** Append: result (meas, seq) was acknowledged. @return 0, or -errno. */
int spool_ack(struct spool *s, uint32_t meas, uint64_t seq);

/**
 * Append: result (meas, seq) now carries the gap [from, from + count); seq
 * UINT64_MAX: the gap waits for the measurement's next result. @return 0, or -errno.
 */
int spool_gap(struct spool *s, uint32_t meas, uint64_t seq, uint64_t from, uint64_t count);

/** Rewrite the file as the header, items and pending gaps, on disk before it returns. */
int spool_rewrite(struct spool *s, const struct spool_item *const *items, unsigned int n,
		  const struct spool_gap *gaps, unsigned int ngaps);

/** The file's size in bytes. */
uint64_t spool_bytes(const struct spool *s);

/** The bytes a result takes in the file. */
uint64_t spool_item_bytes(const struct spool_item *it);

/** Close; remove 1: delete the file too (nothing left to send). */
void spool_close(struct spool *s, int remove);

/**
 * Read every spool file of dir (made if missing) and call fn once for each
 * destination with what is still to send: its results in the order they were
 * queued (fn takes them: their strings are its to free) and its pending
 * gaps. A file cut short is read up to its last whole record.
 * @return the number of destinations, or -1 with a message in err (dir cannot
 *         be made or read, a file there is not a spool).
 */
int spool_load(const char *dir,
	       void (*fn)(void *arg, const char *dest, struct spool_item *items, unsigned int n,
			  const struct spool_gap *gaps, unsigned int ngaps),
	       void *arg, char *err, size_t errlen);

#endif
