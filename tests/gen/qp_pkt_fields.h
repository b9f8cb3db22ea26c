/*
 * The fields of a parsed packet (struct qp_pkt) beside its key that the
 * parser's straight line and its layered walk must fill alike (each
 * protocol's own fields for its frames only): one list for the test that
 * holds them together and the fuzzer that does the same.
 */
#ifndef QP_PKT_FIELDS_H
#define QP_PKT_FIELDS_H

#define QP_PKT_SAME_FIELDS(X)                                                         \
	X(hash) X(swapped) X(frag) X(frag_attributed) X(encap) X(l4_hdr_ok) X(vlan)     \
	X(l4_payload_len) X(ip_hdr) X(ip_cap) X(l4_off) X(l4_proto)

/* the fields of one protocol, set only for its frames (l4_proto says whose) */
#define QP_PKT_TCP_FIELDS(X)                                                          \
	X(tcp_flags) X(tcp_seq) X(tcp_ack) X(tcp_win) X(tcp_has_ts) X(tcp_opt_bad)      \
	X(tcp_tsval) X(tcp_tsecr) X(ip_end)
#define QP_PKT_UDP_FIELDS(X) X(udp_payload) X(udp_payload_cap)
#define QP_PKT_ICMP_FIELDS(X) X(icmp_type) X(icmp_id) X(icmp_seq)

/* Every field the two must fill alike for a frame of protocol `proto`. */
#define QP_PKT_FIELDS_OF(proto, X)                                                    \
	do {                                                                          \
		QP_PKT_SAME_FIELDS(X)                                                 \
		if ((proto) == 6) {                                                   \
			QP_PKT_TCP_FIELDS(X)                                          \
		} else if ((proto) == 17) {                                           \
			QP_PKT_UDP_FIELDS(X)                                          \
		} else if ((proto) == 1 || (proto) == 58) {                           \
			QP_PKT_ICMP_FIELDS(X)                                         \
		}                                                                     \
	} while (0)

#endif
