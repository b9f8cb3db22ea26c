/*
 * qp_filter: see qp_filter.h. The core: libpcap compiles, libpcap's
 * interpreter runs what the eBPF part (qp_filter_ebpf.c, DPDK) does not.
 * Its packet length is the captured length: a load past the captured bytes
 * fails the match, as in libpcap.
 */
#include "qp_filter_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int qp_filter_prog(const char *expr, int linktype, struct bpf_program *prog, char *err,
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

struct qp_filter *qp_filter_new(const char *expr)
{
	size_t n = strlen(expr);
	struct qp_filter *f = calloc(1, sizeof(*f) + n + 1);
	if (f)
		memcpy(f->expr, expr, n + 1);
	return f;
}

struct qp_filter *qp_filter_classic_of(const char *expr, struct bpf_program *prog, char *err,
				       size_t errlen)
{
	struct qp_filter *f = qp_filter_new(expr);
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
	return f;
}

struct qp_filter *qp_filter_compile_classic(const char *expr, int linktype, char *err,
					    size_t errlen)
{
	struct bpf_program prog;
	if (qp_filter_prog(expr, linktype, &prog, err, errlen) != 0)
		return NULL;
	return qp_filter_classic_of(expr, &prog, err, errlen);
}

void qp_filter_free(struct qp_filter *f)
{
	if (!f)
		return;
	if (f->destroy)
		f->destroy(f);
	free(f->classic);
	free(f);
}

int qp_filter_match(const struct qp_filter *f, const uint8_t *data, uint32_t caplen)
{
	if (f->classic)
		return bpf_filter(f->classic, data, caplen, caplen) != 0;
	return f->run(f, data, caplen);
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
