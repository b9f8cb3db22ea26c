/*
 * qp_mem: see qp_mem.h. The mapping is made 2 MiB larger than asked and
 * trimmed to the boundary: the kernel backs a range with a huge page only
 * where the whole aligned 2 MiB lies inside the mapping.
 */
#define _GNU_SOURCE /* mremap */
#include "qp_mem.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#define HUGE_2M ((size_t)2 << 20)

size_t qp_mem_huge_size(size_t bytes)
{
	return (bytes + HUGE_2M - 1) & ~(HUGE_2M - 1);
}

void *qp_mem_huge(size_t bytes)
{
	size_t len = qp_mem_huge_size(bytes ? bytes : 1);
	uint8_t *p = mmap(NULL, len + HUGE_2M, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	size_t head = (HUGE_2M - ((uintptr_t)p & (HUGE_2M - 1))) & (HUGE_2M - 1);
	if (head)
		munmap(p, head);
	munmap(p + head + len, HUGE_2M - head);
	(void)madvise(p + head, len, MADV_HUGEPAGE); /* advice: without it, 4 KiB pages */
	return p + head;
}

/* The pages move to an aligned place (MREMAP_FIXED over a fresh mapping): a
 * move where the kernel likes would keep the old offset within 2 MiB, and
 * the pages faulted after it would be 4 KiB ones. */
void *qp_mem_huge_grow(void *p, size_t old_bytes, size_t new_bytes)
{
	size_t ol = qp_mem_huge_size(old_bytes ? old_bytes : 1), nl = qp_mem_huge_size(new_bytes);
	void *to = qp_mem_huge(new_bytes);
	if (!to)
		return NULL;
	void *q = mremap(p, ol, nl, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (q == MAP_FAILED) {
		qp_mem_huge_free(to, new_bytes);
		errno = ENOMEM;
		return NULL;
	}
	(void)madvise(q, nl, MADV_HUGEPAGE);
	return q;
}

void qp_mem_huge_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, qp_mem_huge_size(bytes ? bytes : 1));
}
