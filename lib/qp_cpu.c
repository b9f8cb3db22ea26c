/*
 * qp_cpu: see qp_cpu.h.
 */
#define _GNU_SOURCE
#include "qp_cpu.h"

#include <sched.h>

int qp_cpu_usable(void)
{
	cpu_set_t s;
	if (sched_getaffinity(0, sizeof(s), &s) != 0)
		return 1;
	int n = CPU_COUNT(&s);
	return n > 0 ? n : 1;
}
