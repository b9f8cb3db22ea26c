/*
 * qp_ipfix: flow records as IPFIX (RFC 7011), the format every flow
 * collector reads (nfdump, pmacct, GoFlow2, Elastic, commercial analysers).
 *
 * One record a flow record (an active-timeout export or the flow's end): a
 * biflow (RFC 5103) whose source is the flow's initiator, the reverse
 * direction's counters under the reverse PEN 29305, standard information
 * elements where IANA has them and qprobe's own (RTT, TCP analysis, RTP, two-
 * point delay and loss) under QP_IPFIX_PEN. Templates are chosen by IP
 * version, by protocol (TCP, UDP, ICMP, other: a UDP flow carries no TCP
 * fields) and by whether two-point figures are given; each is sent before its
 * first record and again every QP_IPFIX_REFRESH_S seconds of export time when
 * the transport loses messages (UDP). docs/ipfix.md lists every element;
 * QP_IPFIX_ELEMENTS is the one list the encoder, that page's test and the
 * collectors' configurations in the tests come from.
 *
 * The encoder only builds messages; qp_ipfix_out sends them (UDP, TCP, or an
 * RFC 5655 file). Neither runs on a worker: the offline reader and the
 * management core call them.
 *
 * Thread-safety: an encoder and an output belong to one thread.
 */
#ifndef QP_IPFIX_H
#define QP_IPFIX_H

#include <stddef.h>
#include <stdint.h>

#include "qp_report.h"
#include "qp_tp.h"

#define QP_IPFIX_PORT 4739 /* IANA's port for IPFIX over UDP and TCP */
/* RFC 5612's documentation number: a placeholder until IANA assigns qprobe one */
#define QP_IPFIX_PEN 32473u
#define QP_IPFIX_REVERSE_PEN 29305u /* RFC 5103 */
#define QP_IPFIX_REFRESH_S 60      /* templates again after this long (UDP) */
#define QP_IPFIX_MAX_MSG 65535
/* UDP messages a second at most: 1472-byte messages at 118 Mbit/s, what a
 * collector's default 208 KiB socket buffer and one core keep up with */
#define QP_IPFIX_UDP_PPS 10000

/* Element groups: which templates carry an element. */
#define QP_IPFIX_G_BASE 0x01 /* every record */
#define QP_IPFIX_G_V4 0x02   /* IPv4 flows */
#define QP_IPFIX_G_V6 0x04   /* IPv6 flows */
#define QP_IPFIX_G_TCP 0x08  /* TCP flows */
#define QP_IPFIX_G_RTT 0x10  /* TCP flows (segment RTT), ICMP flows (echo RTT) */
#define QP_IPFIX_G_RTP 0x20  /* UDP flows */
#define QP_IPFIX_G_TP 0x40   /* a two-point measurement's flows */
#define QP_IPFIX_G_DNS 0x80  /* flows with DNS messages (UDP or TCP) */
#define QP_IPFIX_G_QUIC 0x100 /* QUIC flows */
#define QP_IPFIX_G_TLS 0x200  /* TLS flows */

/*
 * Every element a record can carry, in template order:
 * X(NAME, pen, id, length, group, "IANA type", "name", "meaning and unit").
 * pen 0: IANA's; QP_IPFIX_REVERSE_PEN: the reverse of IANA's element id;
 * QP_IPFIX_PEN: qprobe's (reverse direction: id + 100).
 */
#define QP_IPFIX_ELEMENTS(X)                                                                      \
	X(SRC4, 0, 8, 4, QP_IPFIX_G_V4, "ipv4Address", "sourceIPv4Address", "the initiator's address")       \
	X(DST4, 0, 12, 4, QP_IPFIX_G_V4, "ipv4Address", "destinationIPv4Address", "the responder's address") \
	X(SRC6, 0, 27, 16, QP_IPFIX_G_V6, "ipv6Address", "sourceIPv6Address", "the initiator's address")     \
	X(DST6, 0, 28, 16, QP_IPFIX_G_V6, "ipv6Address", "destinationIPv6Address",                        \
	  "the responder's address")                                                                      \
	X(SPORT, 0, 7, 2, QP_IPFIX_G_BASE, "unsigned16", "sourceTransportPort",                           \
	  "the initiator's port (0 without ports)")                                                       \
	X(DPORT, 0, 11, 2, QP_IPFIX_G_BASE, "unsigned16", "destinationTransportPort",                     \
	  "the responder's port (0 without ports)")                                                       \
	X(PROTO, 0, 4, 1, QP_IPFIX_G_BASE, "unsigned8", "protocolIdentifier", "IP protocol number")       \
	X(VLAN, 0, 58, 2, QP_IPFIX_G_BASE, "unsigned16", "vlanId", "outermost VLAN id, 0: untagged")      \
	X(SEGMENT, 0, 351, 8, QP_IPFIX_G_BASE, "unsigned64", "layer2SegmentId",                           \
	  "VXLAN network identifier in the flow key: 0x01 << 56 | VNI; 0: none")                          \
	X(TUNNEL, QP_IPFIX_PEN, 1003, 4, QP_IPFIX_G_BASE, "unsigned32", "qpTunnelId",                        \
	  "GRE key or GTP-U TEID in the flow key (0: none)")                                              \
	X(START_MS, 0, 152, 8, QP_IPFIX_G_BASE, "dateTimeMilliseconds", "flowStartMilliseconds",          \
	  "the record's first packet")                                                                    \
	X(END_MS, 0, 153, 8, QP_IPFIX_G_BASE, "dateTimeMilliseconds", "flowEndMilliseconds",              \
	  "the record's last packet")                                                                     \
	X(START_NS, 0, 156, 8, QP_IPFIX_G_BASE, "dateTimeNanoseconds", "flowStartNanoseconds",            \
	  "the record's first packet, to the nanosecond")                                                 \
	X(END_NS, 0, 157, 8, QP_IPFIX_G_BASE, "dateTimeNanoseconds", "flowEndNanoseconds",                \
	  "the record's last packet, to the nanosecond")                                                  \
	X(END_REASON, 0, 136, 1, QP_IPFIX_G_BASE, "unsigned8", "flowEndReason",                           \
	  "1 idle timeout, 2 active timeout, 4 end of capture or shutdown, 5 evicted (table full)")      \
	X(BIFLOW_DIR, 0, 239, 1, QP_IPFIX_G_BASE, "unsigned8", "biflowDirection",                         \
	  "1: the source is the initiator")                                                               \
	X(OCTETS, 0, 1, 8, QP_IPFIX_G_BASE, "unsigned64", "octetDeltaCount",                              \
	  "bytes from the initiator: whole frames, as qprobe counts them (see below)")                    \
	X(PACKETS, 0, 2, 8, QP_IPFIX_G_BASE, "unsigned64", "packetDeltaCount", "packets from the initiator") \
	X(R_OCTETS, QP_IPFIX_REVERSE_PEN, 1, 8, QP_IPFIX_G_BASE, "unsigned64", "reverseOctetDeltaCount",   \
	  "bytes from the responder")                                                                     \
	X(R_PACKETS, QP_IPFIX_REVERSE_PEN, 2, 8, QP_IPFIX_G_BASE, "unsigned64",                            \
	  "reversePacketDeltaCount", "packets from the responder")                                        \
	X(TCP_FLAGS, 0, 6, 2, QP_IPFIX_G_TCP, "unsigned16", "tcpControlBits",                             \
	  "TCP flags seen from the initiator, ORed")                                                      \
	X(R_TCP_FLAGS, QP_IPFIX_REVERSE_PEN, 6, 2, QP_IPFIX_G_TCP, "unsigned16", "reverseTcpControlBits",  \
	  "TCP flags seen from the responder, ORed")                                                      \
	X(SYNS, 0, 218, 4, QP_IPFIX_G_TCP, "unsigned64", "tcpSynTotalCount",                              \
	  "SYN segments from the initiator in the record (reduced-size encoding)")                       \
	X(FINS, 0, 219, 4, QP_IPFIX_G_TCP, "unsigned64", "tcpFinTotalCount",                              \
	  "FIN segments from the initiator in the record")                                                \
	X(RSTS, 0, 220, 4, QP_IPFIX_G_TCP, "unsigned64", "tcpRstTotalCount",                              \
	  "RST segments from the initiator in the record")                                                \
	X(R_SYNS, QP_IPFIX_REVERSE_PEN, 218, 4, QP_IPFIX_G_TCP, "unsigned64", "reverseTcpSynTotalCount",  \
	  "SYN segments from the responder")                                                              \
	X(R_FINS, QP_IPFIX_REVERSE_PEN, 219, 4, QP_IPFIX_G_TCP, "unsigned64", "reverseTcpFinTotalCount",  \
	  "FIN segments from the responder")                                                              \
	X(R_RSTS, QP_IPFIX_REVERSE_PEN, 220, 4, QP_IPFIX_G_TCP, "unsigned64", "reverseTcpRstTotalCount",  \
	  "RST segments from the responder")                                                              \
	X(HS_SYN, QP_IPFIX_PEN, 1001, 8, QP_IPFIX_G_TCP, "unsigned64", "qpHandshakeSynToSynAckNs",           \
	  "ns from the SYN to the SYN/ACK answering it (the responder's side of the probe); 0: not seen") \
	X(HS_ACK, QP_IPFIX_PEN, 1002, 8, QP_IPFIX_G_TCP, "unsigned64", "qpHandshakeSynAckToAckNs",           \
	  "ns from the SYN/ACK to the ACK completing the handshake (the initiator's side); 0: not seen")  \
	X(RTT_N, QP_IPFIX_PEN, 1010, 4, QP_IPFIX_G_RTT, "unsigned32", "qpRttSamples",                       \
	  "RTT samples of the initiator's packets (TCP segments, ICMP echo requests)")                   \
	X(RTT_MIN, QP_IPFIX_PEN, 1011, 8, QP_IPFIX_G_RTT, "unsigned64", "qpRttMinNs", "their minimum, ns")   \
	X(RTT_MEAN, QP_IPFIX_PEN, 1012, 8, QP_IPFIX_G_RTT, "unsigned64", "qpRttMeanNs", "their mean, ns")    \
	X(RTT_MAX, QP_IPFIX_PEN, 1013, 8, QP_IPFIX_G_RTT, "unsigned64", "qpRttMaxNs", "their maximum, ns")   \
	X(RTT_P50, QP_IPFIX_PEN, 1014, 8, QP_IPFIX_G_RTT, "unsigned64", "qpRttP50Ns",                        \
	  "their median, ns, within 0.79 % (0: no distribution kept)")                                    \
	X(RTT_P99, QP_IPFIX_PEN, 1015, 8, QP_IPFIX_G_RTT, "unsigned64", "qpRttP99Ns",                        \
	  "their 99th percentile, ns, within 0.79 % (0: no distribution kept)")                           \
	X(RETRANS, QP_IPFIX_PEN, 1016, 4, QP_IPFIX_G_TCP, "unsigned32", "qpTcpRetransmissions",             \
	  "retransmitted segments from the initiator")                                                    \
	X(OOO, QP_IPFIX_PEN, 1017, 4, QP_IPFIX_G_TCP, "unsigned32", "qpTcpOutOfOrder",                      \
	  "out-of-order segments from the initiator")                                                     \
	X(DUPACK, QP_IPFIX_PEN, 1018, 4, QP_IPFIX_G_TCP, "unsigned32", "qpTcpDuplicateAcks",                \
	  "duplicate ACKs from the initiator")                                                            \
	X(ZEROWIN, QP_IPFIX_PEN, 1019, 4, QP_IPFIX_G_TCP, "unsigned32", "qpTcpZeroWindows",                 \
	  "zero-window advertisements from the initiator")                                                \
	X(RTP_SSRC, QP_IPFIX_PEN, 1020, 4, QP_IPFIX_G_RTP, "unsigned32", "qpRtpSsrc",                       \
	  "SSRC of the initiator's RTP stream (its first; 0 and zeros below: none)")                      \
	X(RTP_PT, QP_IPFIX_PEN, 1021, 1, QP_IPFIX_G_RTP, "unsigned8", "qpRtpPayloadType", "its payload type") \
	X(RTP_PKTS, QP_IPFIX_PEN, 1022, 4, QP_IPFIX_G_RTP, "unsigned32", "qpRtpPackets", "its packets")     \
	X(RTP_EXP, QP_IPFIX_PEN, 1023, 4, QP_IPFIX_G_RTP, "unsigned32", "qpRtpExpected",                    \
	  "packets expected by its sequence numbers (RFC 3550 A.3)")                                      \
	X(RTP_LOST, QP_IPFIX_PEN, 1024, 4, QP_IPFIX_G_RTP, "unsigned32", "qpRtpLost", "packets lost")        \
	X(RTP_JMEAN, QP_IPFIX_PEN, 1025, 8, QP_IPFIX_G_RTP, "unsigned64", "qpRtpJitterMeanNs",               \
	  "mean interarrival jitter (RFC 3550 A.8), ns")                                                  \
	X(RTP_JMAX, QP_IPFIX_PEN, 1026, 8, QP_IPFIX_G_RTP, "unsigned64", "qpRtpJitterMaxNs",                 \
	  "maximum interarrival jitter, ns")                                                              \
	X(RTP_MOS, QP_IPFIX_PEN, 1027, 2, QP_IPFIX_G_RTP, "unsigned16", "qpRtpMosX100",                      \
	  "MOS by the G.107 E-model, x 100 (100..450)")                                                   \
	X(TP_MATCHED, QP_IPFIX_PEN, 1028, 8, QP_IPFIX_G_TP, "unsigned64", "qpTwoPointMatched",              \
	  "packets from point A to point B seen at both (the whole flow; reverse id: B to A)")                          \
	X(TP_LOST, QP_IPFIX_PEN, 1029, 8, QP_IPFIX_G_TP, "unsigned64", "qpTwoPointLost",                    \
	  "packets from A to B seen at A and not at B")                                     \
	X(TP_DMIN, QP_IPFIX_PEN, 1030, 8, QP_IPFIX_G_TP, "signed64", "qpTwoPointDelayMinNs",                \
	  "one-way delay from A to B, minimum, ns")                                                \
	X(TP_DMEAN, QP_IPFIX_PEN, 1031, 8, QP_IPFIX_G_TP, "signed64", "qpTwoPointDelayMeanNs",              \
	  "one-way delay, mean, ns")                                                                      \
	X(TP_DMAX, QP_IPFIX_PEN, 1032, 8, QP_IPFIX_G_TP, "signed64", "qpTwoPointDelayMaxNs",                \
	  "one-way delay, maximum, ns")                                                                   \
	X(DNS_Q, QP_IPFIX_PEN, 1200, 4, QP_IPFIX_G_DNS, "unsigned32", "qpDnsQueries",                       \
	  "DNS queries (either direction)")                                                               \
	X(DNS_R, QP_IPFIX_PEN, 1201, 4, QP_IPFIX_G_DNS, "unsigned32", "qpDnsResponses", "DNS responses")    \
	X(DNS_ANS, QP_IPFIX_PEN, 1202, 4, QP_IPFIX_G_DNS, "unsigned32", "qpDnsAnswered",                    \
	  "responses matched to their query (ID, direction, question)")                                  \
	X(DNS_UNANS, QP_IPFIX_PEN, 1203, 4, QP_IPFIX_G_DNS, "unsigned32", "qpDnsUnanswered",                \
	  "queries without a response in 5 s, or when the flow ended idle")                              \
	X(DNS_RETX, QP_IPFIX_PEN, 1204, 4, QP_IPFIX_G_DNS, "unsigned32", "qpDnsRetransmitted",              \
	  "queries sent again before their answer")                                                       \
	X(DNS_TRUNC, QP_IPFIX_PEN, 1205, 4, QP_IPFIX_G_DNS, "unsigned32", "qpDnsTruncated",                 \
	  "responses with the TC bit")                                                                    \
	X(DNS_NXD, QP_IPFIX_PEN, 1206, 4, QP_IPFIX_G_DNS, "unsigned32", "qpDnsNxdomain",                    \
	  "responses with RCODE 3 (NXDOMAIN)")                                                            \
	X(DNS_SERVFAIL, QP_IPFIX_PEN, 1207, 4, QP_IPFIX_G_DNS, "unsigned32", "qpDnsServfail",               \
	  "responses with RCODE 2 (SERVFAIL)")                                                            \
	X(DNS_RT_MIN, QP_IPFIX_PEN, 1208, 8, QP_IPFIX_G_DNS, "unsigned64", "qpDnsResponseTimeMinNs",        \
	  "response time (query to its answer), minimum, ns; 0: none answered")                          \
	X(DNS_RT_MEAN, QP_IPFIX_PEN, 1209, 8, QP_IPFIX_G_DNS, "unsigned64", "qpDnsResponseTimeMeanNs",      \
	  "response time, mean, ns")                                                                      \
	X(DNS_RT_MAX, QP_IPFIX_PEN, 1210, 8, QP_IPFIX_G_DNS, "unsigned64", "qpDnsResponseTimeMaxNs",        \
	  "response time, maximum, ns")                                                                   \
	X(DNS_RT_P50, QP_IPFIX_PEN, 1211, 8, QP_IPFIX_G_DNS, "unsigned64", "qpDnsResponseTimeP50Ns",        \
	  "response time, median, ns, within 0.79 % (0: no distribution kept)")                          \
	X(DNS_RT_P99, QP_IPFIX_PEN, 1212, 8, QP_IPFIX_G_DNS, "unsigned64", "qpDnsResponseTimeP99Ns",        \
	  "response time, 99th percentile, ns, within 0.79 % (0: no distribution kept)")            \
	X(QUIC_VERSION, QP_IPFIX_PEN, 1220, 4, QP_IPFIX_G_QUIC, "unsigned32", "qpQuicVersion",              \
	  "the QUIC version of the connection's latest long header")                                      \
	X(QUIC_HS_SRV, QP_IPFIX_PEN, 1221, 8, QP_IPFIX_G_QUIC, "unsigned64", "qpQuicHandshakeServerNs",     \
	  "ns from the client's Initial to the server's first Initial or Handshake; 0: not seen")         \
	X(QUIC_HS_CLI, QP_IPFIX_PEN, 1222, 8, QP_IPFIX_G_QUIC, "unsigned64", "qpQuicHandshakeClientNs",     \
	  "ns from there to the client's next packet that is not 0-RTT; 0: not seen")                    \
	X(QUIC_SPIN, QP_IPFIX_PEN, 1223, 1, QP_IPFIX_G_QUIC, "unsigned8", "qpQuicSpinActive",               \
	  "1: the spin bit gave RTT (samples kept, at most one edge in four discarded)")                 \
	X(QUIC_EDGES_KEPT, QP_IPFIX_PEN, 1224, 4, QP_IPFIX_G_QUIC, "unsigned32", "qpQuicSpinEdgesKept",     \
	  "spin edges kept, both directions")                                                             \
	X(QUIC_EDGES_DISC, QP_IPFIX_PEN, 1225, 4, QP_IPFIX_G_QUIC, "unsigned32",                           \
	  "qpQuicSpinEdgesDiscarded", "spin edges not due (reordered, random spin), both directions")     \
	X(QUIC_RTT_N, QP_IPFIX_PEN, 1033, 4, QP_IPFIX_G_QUIC, "unsigned32", "qpQuicSpinRttSamples",         \
	  "spin-bit RTT samples of the initiator's edges")                                                \
	X(QUIC_RTT_MIN, QP_IPFIX_PEN, 1034, 8, QP_IPFIX_G_QUIC, "unsigned64", "qpQuicSpinRttMinNs",         \
	  "their minimum, ns")                                                                            \
	X(QUIC_RTT_MEAN, QP_IPFIX_PEN, 1035, 8, QP_IPFIX_G_QUIC, "unsigned64", "qpQuicSpinRttMeanNs",       \
	  "their mean, ns")                                                                               \
	X(QUIC_RTT_MAX, QP_IPFIX_PEN, 1036, 8, QP_IPFIX_G_QUIC, "unsigned64", "qpQuicSpinRttMaxNs",         \
	  "their maximum, ns")                                                                          \
	X(TLS_VERSION, QP_IPFIX_PEN, 1240, 2, QP_IPFIX_G_TLS, "unsigned16", "qpTlsVersion",                 \
	  "the version the ServerHello selects (0x0304: TLS 1.3); 0: not seen")                           \
	X(TLS_CLIENT_VERSION, QP_IPFIX_PEN, 1241, 2, QP_IPFIX_G_TLS, "unsigned16", "qpTlsClientVersion",    \
	  "the highest version the ClientHello offers")                                                   \
	X(TLS_HELLO, QP_IPFIX_PEN, 1242, 8, QP_IPFIX_G_TLS, "unsigned64", "qpTlsClientHelloToServerHelloNs", \
	  "ns from the ClientHello's last segment to the ServerHello's; 0: not measured")                \
	X(TLS_DATA, QP_IPFIX_PEN, 1243, 8, QP_IPFIX_G_TLS, "unsigned64", "qpTlsServerHelloToClientDataNs",  \
	  "ns from there to the client's first application-data record; 0: not measured")

/*
 * The elements of one direction (qprobe's ids 1010 .. 1199: RTT_N .. TP_DMAX)
 * are also sent for the responder's packets: id + 100, the same type and
 * unit. qprobe's ids below 1010 and from 1200 on are the flow's.
 */
#define QP_IPFIX_REVERSE_OFFSET 100
#define QP_IPFIX_DIR_FIRST 1010
#define QP_IPFIX_DIR_END 1200

/* Transport a message goes over: what bounds it and when templates repeat. */
enum qp_ipfix_transport { QP_IPFIX_UDP, QP_IPFIX_TCP, QP_IPFIX_FILE };

/* Takes one whole message; returns 0, or nonzero when it was not sent (counted). */
typedef int qp_ipfix_emit_fn(const uint8_t *msg, size_t len, void *arg);

/* Encoder counters. */
struct qp_ipfix_stats {
	uint64_t messages;  /* messages handed to emit */
	uint64_t records;   /* data records in them */
	uint64_t templates; /* template records in them */
	uint64_t failed;    /* messages emit refused, and the records in them ... */
	uint64_t failed_records;
};

/* 2 IP versions x 4 protocol classes x two-point or not x application (none, DNS, QUIC, TLS) */
#define QP_IPFIX_TEMPLATES 64

struct qp_ipfix_enc {
	enum qp_ipfix_transport transport;
	uint32_t domain; /* observation domain id */
	uint32_t seq;    /* data records sent before the message being built */
	size_t max;      /* message length at most */
	qp_ipfix_emit_fn *emit;
	void *arg;
	uint32_t export_s; /* export time of the message being built */
	size_t len;        /* bytes in buf */
	size_t set;        /* offset of the open set's header; 0: none open */
	uint16_t set_id;
	uint32_t nrec;           /* data records in the message */
	uint8_t sent[QP_IPFIX_TEMPLATES];      /* template sent since the stream began */
	uint8_t used[QP_IPFIX_TEMPLATES];      /* template of a record added since init */
	uint32_t sent_s[QP_IPFIX_TEMPLATES];   /* when, export time */
	struct qp_ipfix_stats stats;
	uint8_t buf[QP_IPFIX_MAX_MSG];
};

/**
 * Start an encoder.
 * @param max  message length at most: the path MTU less IP and UDP headers for
 *             UDP (1472 over IPv4 with a 1500-byte MTU), up to 65535 otherwise;
 *             at least 512
 */
void qp_ipfix_enc_init(struct qp_ipfix_enc *e, enum qp_ipfix_transport t, uint32_t domain,
		       size_t max, qp_ipfix_emit_fn *emit, void *arg);

/**
 * Forget which templates were sent: the next records bring theirs again (a
 * TCP collector reconnected). The sequence number goes on.
 */
void qp_ipfix_enc_reset_templates(struct qp_ipfix_enc *e);

/**
 * Emit what is being built, then a message of every template a record was
 * added with so far: a TCP collector reconnected, and messages built for
 * the old connection are about to follow.
 */
void qp_ipfix_enc_templates(struct qp_ipfix_enc *e, uint32_t now_s);

/**
 * Add one flow record (tp: the two-point figures of its two directions, or
 * NULL). A full message is emitted first when the record does not fit.
 * @param now_s  export time, seconds since 1970
 */
void qp_ipfix_enc_add(struct qp_ipfix_enc *e, const struct qp_flow_rec *r,
		      const struct qp_tp_dir *tp, uint32_t now_s);

/** Emit the message being built, if it holds anything. */
void qp_ipfix_enc_flush(struct qp_ipfix_enc *e);

/* One element as the list gives it (for docs and tests). */
struct qp_ipfix_element {
	const char *name;
	uint32_t pen;
	uint16_t id;
	uint16_t len;
	uint16_t group;
	const char *type;
	const char *ie_name;
	const char *meaning;
};

/** The element list, QP_IPFIX_ELEMENTS in order; *n its length. */
const struct qp_ipfix_element *qp_ipfix_elements(size_t *n);

/*
 * An IPFIX output: a collector over UDP or TCP, or a file.
 */
struct qp_ipfix_out;

/** What --ipfix accepts. */
#define QP_IPFIX_SYNTAX "HOST:PORT[/udp|/tcp] ([V6ADDR]:PORT for IPv6 addresses; udp by default)"

/**
 * Parse "HOST:PORT[/udp|/tcp]" without resolving it.
 * @return 0, or -EINVAL with one line in err naming what was wrong
 */
int qp_ipfix_spec_parse(const char *spec, char *host, size_t hostlen, uint16_t *port,
			enum qp_ipfix_transport *t, char *err, size_t errlen);

struct sockaddr_storage;

/**
 * Parse and resolve a collector ("HOST:PORT[/udp|/tcp]"): its address, its
 * transport and the largest message it takes (UDP: one 1500-byte MTU less
 * the IP and UDP headers; TCP: QP_IPFIX_MAX_MSG). Blocks while the name
 * resolves.
 * @return 0, or -EINVAL with one line in err (bad spec, or the resolver's
 *         message)
 */
int qp_ipfix_resolve(const char *spec, struct sockaddr_storage *sa, unsigned int *salen,
		     enum qp_ipfix_transport *t, size_t *max, char *err, size_t errlen);

/**
 * Open an output: resolve and connect a collector (spec as above), or
 * create the file (path). UDP sends without waiting for an answer, paced at
 * QP_IPFIX_UDP_PPS messages a second (the caller sleeps); TCP connects now,
 * blocking up to 5 s.
 * @param domain  observation domain id of the messages
 * @return the output, or NULL with one line in err
 */
struct qp_ipfix_out *qp_ipfix_out_open(const char *spec, const char *path, uint32_t domain,
				       char *err, size_t errlen);

/** The output's encoder (add records to it). */
struct qp_ipfix_enc *qp_ipfix_out_enc(struct qp_ipfix_out *o);

/**
 * Flush and close (NULL accepted).
 * @return 0, or -EIO when a message could not be written (file) or sent
 *         (TCP), which the counters show
 */
int qp_ipfix_out_close(struct qp_ipfix_out *o);

#endif
