/*
 * qp_filter: see qp_filter.h. The converted program takes an rte_mbuf; the
 * worker hands it a one-segment mbuf header on the stack that points at the
 * captured bytes, so the same program serves DPDK ports and capture files.
 * Its packet length is the captured length: a load past the captured bytes
 * fails the match, as in libpcap.
 */
#include "qp_filter.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_bpf.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

struct qp_filter {
	struct rte_bpf *bpf;
	uint64_t (*jit)(void *);
	/* libpcap's own program, run by its interpreter, for what DPDK 22.11
	 * converts wrongly: a byte or word load at an indexed offset
	 * (`tcp[13]`, `tcp[4:4]`; tests/unit/test_filter.c). NULL: eBPF */
	struct bpf_insn *classic;
	char expr[];
};

/* 1 when the program has a load DPDK's conversion gets wrong. */
static int has_bad_ind_load(const struct bpf_program *p)
{
	for (u_int i = 0; i < p->bf_len; i++) {
		uint16_t c = p->bf_insns[i].code;
		if (BPF_CLASS(c) == BPF_LD && BPF_MODE(c) == BPF_IND && BPF_SIZE(c) != BPF_H)
			return 1;
	}
	return 0;
}

/* The expression compiled by libpcap for the link type into *prog. @return 0, or -1 (err, errno). */
static int compile_prog(const char *expr, int linktype, struct bpf_program *prog, char *err,
			size_t errlen)
{
	pcap_t *dead = pcap_open_dead(linktype, 262144);
	if (!dead) {
		snprintf(err, errlen, "cannot open a libpcap handle for link type %d", linktype);
		errno = ENOMEM;
		return -1;
	}
	if (pcap_compile(dead, prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		snprintf(err, errlen, "bad filter '%s': %s (tcpdump/pcap-filter(7) syntax expected)",
			 expr, pcap_geterr(dead));
		pcap_close(dead);
		errno = EINVAL;
		return -1;
	}
	pcap_close(dead);
	return 0;
}

/* A filter that runs prog in libpcap's interpreter (prog is freed). */
static struct qp_filter *classic_of(const char *expr, struct bpf_program *prog, char *err,
				    size_t errlen)
{
	size_t n = strlen(expr);
	struct qp_filter *f = calloc(1, sizeof(*f) + n + 1);
	struct bpf_insn *c = malloc(prog->bf_len * sizeof(*c));
	if (!f || !c) {
		free(f);
		free(c);
		pcap_freecode(prog);
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	memcpy(c, prog->bf_insns, prog->bf_len * sizeof(*c));
	pcap_freecode(prog);
	f->classic = c;
	memcpy(f->expr, expr, n + 1);
	return f;
}

struct qp_filter *qp_filter_compile_classic(const char *expr, int linktype, char *err,
					    size_t errlen)
{
	struct bpf_program prog;
	if (compile_prog(expr, linktype, &prog, err, errlen) != 0)
		return NULL;
	return classic_of(expr, &prog, err, errlen);
}

struct qp_filter *qp_filter_compile(const char *expr, int linktype, char *err, size_t errlen)
{
	struct bpf_program prog;
	if (compile_prog(expr, linktype, &prog, err, errlen) != 0)
		return NULL;
	if (has_bad_ind_load(&prog))
		return classic_of(expr, &prog, err, errlen);
	size_t n = strlen(expr);
	struct rte_bpf_prm *prm = rte_bpf_convert(&prog);
	pcap_freecode(&prog);
	if (!prm) {
		snprintf(err, errlen, "filter '%s': conversion to eBPF failed (%s)", expr,
			 strerror(rte_errno));
		errno = EINVAL;
		return NULL;
	}
	struct rte_bpf *bpf = rte_bpf_load(prm);
	rte_free(prm);
	if (!bpf) {
		snprintf(err, errlen, "filter '%s': eBPF load failed (%s)", expr, strerror(rte_errno));
		errno = EINVAL;
		return NULL;
	}
	struct qp_filter *f = malloc(sizeof(*f) + n + 1);
	if (!f) {
		rte_bpf_destroy(bpf);
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	f->bpf = bpf;
	f->classic = NULL;
	struct rte_bpf_jit jit;
	f->jit = (rte_bpf_get_jit(bpf, &jit) == 0) ? jit.func : NULL;
	memcpy(f->expr, expr, n + 1);
	return f;
}

void qp_filter_free(struct qp_filter *f)
{
	if (!f)
		return;
	if (f->bpf)
		rte_bpf_destroy(f->bpf);
	free(f->classic);
	free(f);
}

int qp_filter_match(const struct qp_filter *f, const uint8_t *data, uint32_t caplen)
{
	if (f->classic)
		return bpf_filter(f->classic, data, caplen, caplen) != 0;
	/* the calling thread's mbuf header: zeroed once, then only the fields a
	 * frame changes are set (clearing 128 bytes a frame was 40 of the 110
	 * instructions of a match, callgrind) */
	static __thread struct rte_mbuf m;
	m.buf_addr = (void *)(uintptr_t)data;
	m.data_off = 0;
	m.nb_segs = 1;
	/* an mbuf segment holds at most 64 KiB; a longer frame is matched on
	 * its first 64 KiB, which is where every header lives */
	uint16_t len = caplen > UINT16_MAX ? UINT16_MAX : (uint16_t)caplen;
	m.data_len = len;
	m.pkt_len = len;
	m.buf_len = len;
	uint64_t rc = f->jit ? f->jit(&m) : rte_bpf_exec(f->bpf, &m);
	return rc != 0;
}

int qp_filter_is_jit(const struct qp_filter *f)
{
	return f->jit != NULL;
}

const char *qp_filter_expr(const struct qp_filter *f)
{
	return f->expr;
}

int qp_filter_flow_invariant(const char *expr)
{
	static const char *const words[] = {"host", "net",  "mask", "port", "portrange", "proto",
					    "ip",   "ip6",  "tcp",  "udp",  "icmp",      "icmp6",
					    "sctp", "vlan", "and",  "or",   "not",       NULL};
	const char *p = expr;
	while (*p) {
		if (strchr(" \t\n()!", *p)) {
			p++;
			continue;
		}
		if ((p[0] == '&' && p[1] == '&') || (p[0] == '|' && p[1] == '|')) {
			p += 2;
			continue;
		}
		size_t n = strcspn(p, " \t\n()!&|");
		int ok = n > 0;
		if (ok && strspn(p, "0123456789abcdefABCDEF.:/-") < n) {
			/* not a literal address, number or range: a known word */
			ok = 0;
			for (int i = 0; words[i]; i++)
				if (strlen(words[i]) == n && !strncmp(p, words[i], n))
					ok = 1;
		}
		if (!ok)
			return 0;
		p += n;
	}
	return 1;
}
