/*
 * The fields of a parsed packet (struct qp_pkt) beside its key that the
 * parser's straight line and its layered walk must fill alike: one list for
 * the test that holds them together and the fuzzer that does the same.
 */
#ifndef QP_PKT_FIELDS_H
#define QP_PKT_FIELDS_H

#define QP_PKT_SAME_FIELDS(X)                                                         \
	X(hash) X(swapped) X(tcp_flags) X(frag) X(frag_attributed) X(encap) X(l4_hdr_ok) \
	X(vlan) X(tcp_seq) X(tcp_ack) X(tcp_win) X(tcp_has_ts) X(tcp_opt_bad) X(tcp_tsval) \
	X(tcp_tsecr) X(l4_payload_len) X(icmp_type) X(icmp_id) X(icmp_seq) X(udp_payload) \
	X(udp_payload_cap) X(ip_hdr) X(ip_cap) X(l4_off) X(l4_proto)

#endif
