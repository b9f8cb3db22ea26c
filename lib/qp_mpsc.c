/*
 * qp_mpsc: see qp_mpsc.h.
 */
#include "qp_mpsc.h"

#include <sys/mman.h>

static uint32_t slots_for(uint32_t n)
{
	uint32_t s = 1;
	while (s < n)
		s <<= 1;
	return s;
}

size_t qp_mpsc_bytes(uint32_t n)
{
	return sizeof(struct qp_mpsc) + (size_t)slots_for(n) * sizeof(struct qp_mpsc_slot);
}

struct qp_mpsc *qp_mpsc_create(uint32_t n, size_t *bytes)
{
	if (n < 1 || n > (1u << 30))
		return NULL;
	size_t b = qp_mpsc_bytes(n);
	/* zeros: every slot waits for its first lap */
	void *m = mmap(NULL, b, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	struct qp_mpsc *q = m;
	q->mask = slots_for(n) - 1;
	if (bytes)
		*bytes = b;
	return q;
}

void qp_mpsc_destroy(struct qp_mpsc *q)
{
	if (q)
		munmap(q, qp_mpsc_bytes(q->mask + 1));
}
