/*
 * qp_filter: a measurement's packet filter in tcpdump (libpcap) syntax.
 *
 * The expression is compiled by libpcap for the frames' link type, converted
 * to eBPF by DPDK (rte_bpf_convert) and run natively by the rte_bpf JIT where
 * the build has one, by the rte_bpf interpreter otherwise (live ports: DPDK's
 * EAL is up); or run by libpcap's own interpreter (qp_filter_compile_classic:
 * capture files, without DPDK). Compilation runs on
 * the management core; matching runs on the workers and is reentrant (a
 * compiled filter is read-only and may be shared by every lcore).
 */
#ifndef QP_FILTER_H
#define QP_FILTER_H

#include <stddef.h>
#include <stdint.h>

struct qp_filter;

/**
 * Compile a filter.
 *
 * @param expr     tcpdump expression; "" matches every frame
 * @param linktype QP_LINK_* (DLT) of the frames it will see
 * @param err      receives a one-line message on failure
 * @param errlen   size of err
 * @return the filter, or NULL with errno EINVAL (bad expression; err says
 *         why) or ENOMEM.
 */
struct qp_filter *qp_filter_compile(const char *expr, int linktype, char *err, size_t errlen);

/**
 * Compile a filter that libpcap's interpreter runs (bpf_filter), as tcpdump
 * does: DPDK is not needed, its EAL not started (an offline run's filter:
 * the EAL's start was 0.2 s of it). Same arguments and results as
 * qp_filter_compile(); the verdicts are the same, frame for frame, but for
 * a frame of more than 64 KiB, which this one matches whole.
 */
struct qp_filter *qp_filter_compile_classic(const char *expr, int linktype, char *err,
					    size_t errlen);

/** Free a filter (NULL accepted). Only once no worker can still run it. */
void qp_filter_free(struct qp_filter *f);

/** 1 when the frame matches, 0 when not. */
int qp_filter_match(const struct qp_filter *f, const uint8_t *data, uint32_t caplen);

/** 1 when the filter runs JIT-compiled, 0 when interpreted. */
int qp_filter_is_jit(const struct qp_filter *f);

/**
 * 1 when the expression reads nothing a flow key does not hold: made only of
 * host, net, mask, port, portrange, proto, ip, ip6, tcp, udp, icmp, icmp6,
 * sctp, vlan, and, or, not, parentheses and literal addresses and numbers
 * (no src or dst: a flow goes both ways). Such a filter says the same of
 * every plain frame of a flow (qp_pkt.plain). 0 for anything else, names
 * included (conservative: the filter then runs on every frame).
 */
int qp_filter_flow_invariant(const char *expr);

/** The expression as given. */
const char *qp_filter_expr(const struct qp_filter *f);

#endif
