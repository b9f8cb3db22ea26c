/*
 * qp_filter_impl: what qp_filter.c and qp_filter_ebpf.c share (private to
 * them). A filter runs libpcap's program in libpcap's interpreter, or
 * DPDK's eBPF through `run`: the core (qp_filter.c) names no DPDK symbol,
 * so a program that only runs capture files links without DPDK.
 */
#ifndef QP_FILTER_IMPL_H
#define QP_FILTER_IMPL_H

#include <pcap/pcap.h>
#include <stddef.h>
#include <stdint.h>

#include "qp_filter.h"

struct qp_filter {
	/* DPDK's eBPF program (qp_filter_ebpf.c) and how to run and free it;
	 * NULL when `classic` runs */
	void *ebpf;
	int (*run)(const struct qp_filter *f, const uint8_t *data, uint32_t caplen);
	void (*destroy)(struct qp_filter *f);
	uint64_t (*jit)(void *ctx); /* the program JIT-compiled (NULL: interpreted) */
	/* libpcap's own program, run by its interpreter: a capture file's
	 * filter, or what DPDK 22.11 converts wrongly (a byte or word load at
	 * an indexed offset: `tcp[13]`, `tcp[4:4]`; tests/unit/test_filter.c) */
	struct bpf_insn *classic;
	char expr[];
};

/* The expression compiled by libpcap for the link type into *prog. @return 0, or -1 (err, errno). */
int qp_filter_prog(const char *expr, int linktype, struct bpf_program *prog, char *err,
		   size_t errlen);

/* A filter that runs prog in libpcap's interpreter (prog is freed). NULL: no memory (err). */
struct qp_filter *qp_filter_classic_of(const char *expr, struct bpf_program *prog, char *err,
				       size_t errlen);

/* A filter of expression expr, zeroed but for it. NULL: no memory. */
struct qp_filter *qp_filter_new(const char *expr);

#endif
