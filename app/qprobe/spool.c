/*
 * spool: see spool.h. A record is [u32 length][u32 CRC32-C of the payload]
 * [payload], in the host's byte order (the file is read back by the probe that
 * wrote it); the payload starts with its kind:
 *   'H' u16 n, the destination's name (n bytes)         the header, first
 *   'R' u32 meas, u64 seq, u64 start_ns, u8 has_gap, u64 gap_from,
 *       u64 gap_count, u32 n, json (n), u32 m, flows (m; 0xffffffff: none)
 *   'A' u32 meas, u64 seq                               acknowledged
 *   'G' u32 meas, u64 seq, u64 from, u64 count          a gap attached
 */
#define _GNU_SOURCE
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_hash_crc.h>

#define REC_MAX (64u << 20) /* a longer record is damage, not a result */
#define NO_FLOWS 0xffffffffu

struct spool {
	int fd, dirfd;
	char path[4096], tmp[4096];
	char dest[256];
	uint64_t bytes;
};

/* a growing byte buffer for one record */
struct rec {
	uint8_t *b;
	size_t n, cap;
	int oom;
};

static void put(struct rec *r, const void *p, size_t n)
{
	if (r->oom)
		return;
	if (r->n + n > r->cap) {
		size_t c = r->cap ? r->cap : 256;
		while (c < r->n + n)
			c *= 2;
		uint8_t *nb = realloc(r->b, c);
		if (!nb) {
			r->oom = 1;
			return;
		}
		r->b = nb;
		r->cap = c;
	}
	memcpy(r->b + r->n, p, n);
	r->n += n;
}

#define PUT(r, v)                                                                     \
	do {                                                                          \
		__typeof__(v) v_ = (v);                                               \
		put((r), &v_, sizeof(v_));                                            \
	} while (0)

/* start a record: room for its length and checksum, then the kind */
static void begin(struct rec *r, char kind)
{
	r->n = 0;
	uint32_t z[2] = {0, 0};
	put(r, z, sizeof(z));
	put(r, &kind, 1);
}

/* CRC32-C of n bytes at any alignment (rte_hash_crc() loads 8 bytes at a time in place) */
static uint32_t crc(const uint8_t *p, size_t n)
{
	uint32_t c = 0;
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = rte_hash_crc_8byte(w, c);
	}
	for (; n; p++, n--)
		c = rte_hash_crc_1byte(*p, c);
	return c;
}

static int finish(struct rec *r)
{
	if (r->oom)
		return -ENOMEM;
	uint32_t len = (uint32_t)(r->n - 8);
	uint32_t sum = crc(r->b + 8, len);
	memcpy(r->b, &len, 4);
	memcpy(r->b + 4, &sum, 4);
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void rec_header(struct rec *r, const char *dest)
{
	begin(r, 'H');
	uint16_t n = (uint16_t)strlen(dest);
	PUT(r, n);
	put(r, dest, n);
}

static void rec_item(struct rec *r, const struct spool_item *it)
{
	begin(r, 'R');
	PUT(r, it->meas);
	PUT(r, it->seq);
	PUT(r, it->start_ns);
	PUT(r, (uint8_t)(it->has_gap != 0));
	PUT(r, it->gap_from);
	PUT(r, it->gap_count);
	uint32_t n = (uint32_t)strlen(it->json);
	PUT(r, n);
	put(r, it->json, n);
	n = it->flows ? (uint32_t)strlen(it->flows) : NO_FLOWS;
	PUT(r, n);
	if (it->flows)
		put(r, it->flows, n);
}

static void rec_gap(struct rec *r, uint32_t meas, uint64_t seq, uint64_t from, uint64_t count)
{
	begin(r, 'G');
	PUT(r, meas);
	PUT(r, seq);
	PUT(r, from);
	PUT(r, count);
}

/* append one record to the open file */
static int append(struct spool *s, struct rec *r, int sync)
{
	int e = finish(r);
	if (!e)
		e = write_all(s->fd, r->b, r->n);
	if (!e && sync && fdatasync(s->fd) != 0)
		e = -errno;
	if (!e)
		s->bytes += r->n;
	free(r->b);
	return e;
}

static void file_names(struct spool *s, const char *dir, const char *dest)
{
	char hex[520];
	size_t k = 0;
	for (const unsigned char *p = (const unsigned char *)dest; *p && k + 3 < sizeof(hex); p++)
		k += (size_t)snprintf(hex + k, sizeof(hex) - k, "%02x", *p);
	hex[k] = 0;
	snprintf(s->path, sizeof(s->path), "%s/spool-%s.bin", dir, hex);
	snprintf(s->tmp, sizeof(s->tmp), "%s/spool-%s.tmp", dir, hex);
}

int spool_rewrite(struct spool *s, const struct spool_item *const *items, unsigned int n,
		  const struct spool_gap *gaps, unsigned int ngaps)
{
	int fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	struct rec r = {0};
	uint64_t bytes = 0;
	int e = 0;
	for (unsigned int i = 0; i < n + ngaps + 1 && !e; i++) {
		if (i == 0)
			rec_header(&r, s->dest);
		else if (i <= n)
			rec_item(&r, items[i - 1]);
		else
			rec_gap(&r, gaps[i - 1 - n].meas, UINT64_MAX, gaps[i - 1 - n].from,
				gaps[i - 1 - n].count);
		e = finish(&r);
		if (!e)
			e = write_all(fd, r.b, r.n);
		bytes += r.n;
	}
	free(r.b);
	/* the new file whole on disk, then in the old one's place, then the
	 * directory's entry on disk: a crash leaves one or the other */
	if (!e && fdatasync(fd) != 0)
		e = -errno;
	close(fd);
	if (!e && rename(s->tmp, s->path) != 0)
		e = -errno;
	if (!e && fsync(s->dirfd) != 0)
		e = -errno;
	if (e) {
		unlink(s->tmp);
		return e;
	}
	int nfd = open(s->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (nfd < 0)
		return -errno;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = nfd;
	s->bytes = bytes;
	return 0;
}

struct spool *spool_open(const char *dir, const char *dest, char *err, size_t errlen)
{
	return spool_open_with(dir, dest, NULL, 0, NULL, 0, err, errlen);
}

struct spool *spool_open_with(const char *dir, const char *dest, const struct spool_item *const *items,
			      unsigned int n, const struct spool_gap *gaps, unsigned int ngaps,
			      char *err, size_t errlen)
{
	struct spool *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->fd = -1;
	snprintf(s->dest, sizeof(s->dest), "%s", dest);
	file_names(s, dir, dest);
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int e = s->dirfd < 0 ? -errno : spool_rewrite(s, items, n, gaps, ngaps);
	if (e) {
		snprintf(err, errlen, "spool %s: %s", s->path, strerror(-e));
		if (s->dirfd >= 0)
			close(s->dirfd);
		free(s);
		return NULL;
	}
	return s;
}

int spool_put(struct spool *s, const struct spool_item *it)
{
	struct rec r = {0};
	rec_item(&r, it);
	return append(s, &r, 1);
}

int spool_ack(struct spool *s, uint32_t meas, uint64_t seq)
{
	/* not synced: an acknowledgement lost in a crash only sends the result
	 * again, and receivers keep one copy */
	struct rec r = {0};
	begin(&r, 'A');
	PUT(&r, meas);
	PUT(&r, seq);
	return append(s, &r, 0);
}

int spool_gap(struct spool *s, uint32_t meas, uint64_t seq, uint64_t from, uint64_t count)
{
	struct rec r = {0};
	rec_gap(&r, meas, seq, from, count);
	return append(s, &r, 1);
}

uint64_t spool_bytes(const struct spool *s)
{
	return s->bytes;
}

uint64_t spool_item_bytes(const struct spool_item *it)
{
	return 8 + 1 + 4 + 8 + 8 + 1 + 8 + 8 + 4 + strlen(it->json) + 4 +
	       (it->flows ? strlen(it->flows) : 0);
}

void spool_close(struct spool *s, int remove)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	if (remove && unlink(s->path) == 0)
		fsync(s->dirfd);
	close(s->dirfd);
	free(s);
}

/* ---- reading back ---- */

struct cur {
	const uint8_t *p;
	size_t n;
	int bad;
};

static void get(struct cur *c, void *out, size_t n)
{
	if (c->bad || c->n < n) {
		c->bad = 1;
		memset(out, 0, n);
		return;
	}
	memcpy(out, c->p, n);
	c->p += n;
	c->n -= n;
}

static char *get_str(struct cur *c, uint32_t n)
{
	if (c->bad || c->n < n) {
		c->bad = 1;
		return NULL;
	}
	char *s = malloc((size_t)n + 1);
	if (!s) {
		c->bad = 1;
		return NULL;
	}
	memcpy(s, c->p, n);
	s[n] = 0;
	c->p += n;
	c->n -= n;
	return s;
}

static void free_item(struct spool_item *it)
{
	free(it->json);
	free(it->flows);
}

struct loaded {
	char dest[256];
	struct spool_item *items;
	unsigned int n, cap;
	struct spool_gap gaps[16];
	unsigned int ngaps;
};

static int find_item(struct loaded *l, uint32_t meas, uint64_t seq)
{
	for (unsigned int i = 0; i < l->n; i++)
		if (l->items[i].meas == meas && l->items[i].seq == seq)
			return (int)i;
	return -1;
}

/* apply one record's payload; -1: the file is not a spool */
static int apply(struct loaded *l, const uint8_t *p, uint32_t len, int first)
{
	struct cur c = {p, len, 0};
	char kind = 0;
	get(&c, &kind, 1);
	if (first != (kind == 'H'))
		return -1;
	if (kind == 'H') {
		uint16_t n;
		get(&c, &n, 2);
		char *d = get_str(&c, n);
		if (!d || n >= sizeof(l->dest)) {
			free(d);
			return -1;
		}
		memcpy(l->dest, d, (size_t)n + 1);
		free(d);
	} else if (kind == 'R') {
		struct spool_item it = {0};
		uint8_t g;
		uint32_t n;
		get(&c, &it.meas, 4);
		get(&c, &it.seq, 8);
		get(&c, &it.start_ns, 8);
		get(&c, &g, 1);
		it.has_gap = g;
		get(&c, &it.gap_from, 8);
		get(&c, &it.gap_count, 8);
		get(&c, &n, 4);
		it.json = get_str(&c, n);
		get(&c, &n, 4);
		if (n != NO_FLOWS)
			it.flows = get_str(&c, n);
		if (c.bad || c.n) {
			free_item(&it);
			return -1;
		}
		if (l->n == l->cap) {
			unsigned int nc = l->cap ? l->cap * 2 : 64;
			struct spool_item *ni = realloc(l->items, nc * sizeof(*ni));
			if (!ni) {
				free_item(&it);
				return -1;
			}
			l->items = ni;
			l->cap = nc;
		}
		l->items[l->n++] = it;
	} else if (kind == 'A') {
		uint32_t meas;
		uint64_t seq;
		get(&c, &meas, 4);
		get(&c, &seq, 8);
		if (c.bad || c.n)
			return -1;
		int i = find_item(l, meas, seq);
		if (i >= 0) {
			free_item(&l->items[i]);
			memmove(&l->items[i], &l->items[i + 1], (l->n - (unsigned int)i - 1) * sizeof(l->items[0]));
			l->n--;
		}
	} else if (kind == 'G') {
		uint32_t meas;
		uint64_t seq, from, count;
		get(&c, &meas, 4);
		get(&c, &seq, 8);
		get(&c, &from, 8);
		get(&c, &count, 8);
		if (c.bad || c.n)
			return -1;
		int i = seq == UINT64_MAX ? -1 : find_item(l, meas, seq);
		if (i >= 0) {
			l->items[i].has_gap = 1;
			l->items[i].gap_from = from;
			l->items[i].gap_count = count;
		} else if (seq == UINT64_MAX) {
			unsigned int k = 0;
			while (k < l->ngaps && l->gaps[k].meas != meas)
				k++;
			if (k < 16) {
				l->gaps[k] = (struct spool_gap){meas, from, count};
				if (k == l->ngaps)
					l->ngaps++;
			}
		}
	} else {
		return -1;
	}
	return 0;
}

/* read one file; 0 done (l filled), -1 not a spool */
static int load_file(const char *path, struct loaded *l)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	size_t size = (size_t)st.st_size;
	uint8_t *b = malloc(size ? size : 1);
	size_t got = 0;
	while (b && got < size) {
		ssize_t k = read(fd, b + got, size - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	if (!b)
		return -1;
	int rc = 0;
	size_t at = 0;
	int first = 1;
	/* every whole record; a torn one at the end (a crash mid-write) ends it */
	while (at + 8 <= got) {
		uint32_t len, sum;
		memcpy(&len, b + at, 4);
		memcpy(&sum, b + at + 4, 4);
		if (len == 0 || len > REC_MAX || at + 8 + len > got || crc(b + at + 8, len) != sum)
			break;
		if (apply(l, b + at + 8, len, first) != 0) {
			rc = -1;
			break;
		}
		first = 0;
		at += 8 + len;
	}
	free(b);
	if (first && got) /* not one whole header: not ours */
		rc = -1;
	return first && !got ? 1 : rc;
}

int spool_load(const char *dir,
	       void (*fn)(void *arg, const char *dest, struct spool_item *items, unsigned int n,
			  const struct spool_gap *gaps, unsigned int ngaps),
	       void *arg, char *err, size_t errlen)
{
	/* made with its parents where they are missing, as mkdir -p */
	char part[4096];
	snprintf(part, sizeof(part), "%s", dir);
	for (char *sl = strchr(part + 1, '/'); sl; sl = strchr(sl + 1, '/')) {
		*sl = 0;
		mkdir(part, 0755);
		*sl = '/';
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot make the spool directory %s: %s", dir, strerror(errno));
		return -1;
	}
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "cannot read the spool directory %s: %s", dir, strerror(errno));
		return -1;
	}
	int dests = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (strncmp(e->d_name, "spool-", 6) == 0 && l > 10 && strcmp(e->d_name + l - 4, ".tmp") == 0) {
			unlink(path); /* a rewrite a crash interrupted: the .bin is whole */
			continue;
		}
		if (strncmp(e->d_name, "spool-", 6) != 0 || l < 11 || strcmp(e->d_name + l - 4, ".bin") != 0)
			continue;
		struct loaded *ld = calloc(1, sizeof(*ld));
		int r = ld ? load_file(path, ld) : -1;
		if (r < 0) {
			snprintf(err, errlen, "%s is not a spool file of qprobe (move it out of the "
					      "spool directory)", path);
			if (ld) {
				for (unsigned int i = 0; i < ld->n; i++)
					free_item(&ld->items[i]);
				free(ld->items);
				free(ld);
			}
			closedir(d);
			return -1;
		}
		if (r == 0 && ld->n) {
			fn(arg, ld->dest, ld->items, ld->n, ld->gaps, ld->ngaps);
			dests++;
		} else {
			/* nothing left to send (a gap alone belongs to a measurement
			 * that ended with the run), or a file a crash left before
			 * its header */
			unlink(path);
		}
		free(ld->items);
		free(ld);
	}
	closedir(d);
	return dests;
}
