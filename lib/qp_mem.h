/*
 * qp_mem: large zeroed memory on 2 MiB boundaries with transparent huge
 * pages advised. Memory the process fills densely (a report's records, a
 * bucket array the expiry walk visits whole, a worker's interval slots)
 * then costs one fault and one TLB entry per 2 MiB instead of 512 of each;
 * on a virtual machine a fault is several microseconds (a 4 KiB fault each
 * was a fifth of an offline run of 10,000 flows).
 *
 * Thread-safety: any thread.
 */
#ifndef QP_MEM_H
#define QP_MEM_H

#include <stddef.h>

/** The bytes qp_mem_huge() maps for `bytes`: rounded up to 2 MiB. */
size_t qp_mem_huge_size(size_t bytes);

/** Zeroed memory of at least `bytes`, 2 MiB aligned; NULL (errno ENOMEM) when none. */
void *qp_mem_huge(size_t bytes);

/**
 * Make p (from qp_mem_huge(old_bytes)) hold new_bytes (more), its content
 * kept: its pages are moved (no copy) to a new place on a 2 MiB boundary.
 * @return the new place, or NULL (errno ENOMEM) with p as it was.
 */
void *qp_mem_huge_grow(void *p, size_t old_bytes, size_t new_bytes);

/** Give back what qp_mem_huge(bytes) returned (the same bytes); NULL is accepted. */
void qp_mem_huge_free(void *p, size_t bytes);

#endif
