/*
 * qmcp_codec: QMCP frames and TLV fields (docs/qmcp.md), the part of libqmcp
 * that every peer uses: the probe's server, qmctl, qmstore and third-party
 * controllers and receivers.
 *
 * A frame is a 16-byte header (magic "QM", version, type, flags, request id,
 * body length) and a body of TLVs (type u16, length u32, value). Builders
 * grow a heap buffer; readers never allocate and never read past what they
 * were given, so any byte string can be handed to them.
 *
 * Thread-safety: none needed; every object belongs to its caller.
 */
#ifndef QMCP_CODEC_H
#define QMCP_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define QMCP_VERSION 1
#define QMCP_HDR_LEN 16
#define QMCP_TLV_HDR_LEN 6
#define QMCP_MAX_BODY (1u << 20) /* larger frames are refused (TOO_BIG) */
#define QMCP_PORT 8177

/* header flags */
#define QMCP_F_RESPONSE 0x0001
#define QMCP_F_ERROR 0x0002

/* Message types: name, number, meaning (the spec's table is generated from this list). */
#define QMCP_MESSAGES(X)                                                               \
	X(HELLO, 1, "open a session: who is calling; the answer names the probe and gives the nonce") \
	X(AUTH, 2, "prove the shared secret: HMAC-SHA256 over the nonce")                  \
	X(INFO, 3, "probe identity, version, ports and link state, clock state, capabilities") \
	X(START, 4, "start a measurement with parameters; the answer carries its id")      \
	X(STOP, 5, "stop a measurement")                                                   \
	X(LIST, 6, "every measurement on the probe")                                       \
	X(STATUS, 7, "one measurement")                                                    \
	X(SUBSCRIBE, 8, "have (or stop having) each interval's result pushed on this session") \
	X(RESULTS, 9, "the latest results kept for a measurement")                         \
	X(FLOWS, 10, "a page of a measurement's active flows")                             \
	X(BYE, 11, "close the session politely")                                           \
	X(CAPTURE, 12, "start (or stop, ON 0) a pcap capture of a measurement's packets, pushed as PCAP_DATA") \
	X(LOCATE, 16, "discovery over UDP: which probes are there")                        \
	X(RESULT, 32, "one interval's result, pushed by the probe (to subscribers and receivers)") \
	X(TP_RECORDS, 33, "two-point: a batch of packet records, pushed by a secondary to its primary") \
	X(PCAP_DATA, 34, "a capture's pcapng blocks, pushed by the probe; the last one says why it ended")

enum qmcp_msg_type {
#define QMCP_MT_(n, v, h) QMCP_MSG_##n = v,
	QMCP_MESSAGES(QMCP_MT_)
#undef QMCP_MT_
};

/* TLV types: name, number, value kind, meaning. Kinds: u8 u16 u32 u64 str bytes nest. */
#define QMCP_TLVS(X)                                                                   \
	X(PROBE_ID, 1, str, "the probe's stable identity")                             \
	X(PROBE_NAME, 2, str, "the probe's human name")                                \
	X(SW_VERSION, 3, str, "software version")                                     \
	X(NONCE, 4, bytes, "32 random bytes, fresh per connection (or per locate)")   \
	X(HMAC, 5, bytes, "HMAC-SHA256 with the shared secret as key")               \
	X(AUTH_REQUIRED, 6, u8, "1: AUTH must succeed before any other request")      \
	X(CLIENT_NAME, 7, str, "the caller's name, for logs and LIST")                \
	X(ERROR_CODE, 8, u16, "why a request failed (error codes below)")             \
	X(ERROR_MSG, 9, str, "what was wrong and what is accepted, for a human")      \
	X(MEAS_ID, 10, u32, "a measurement")                                          \
	X(FILTER, 11, str, "pcap filter syntax; empty: every packet")                 \
	X(INTERVAL_MS, 12, u32, "averaging interval, >= 50")                          \
	X(METRICS, 13, u32, "metric set bits (QMCP_METRIC_*)")                        \
	X(IDLE_TIMEOUT_S, 14, u32, "flow idle timeout")                               \
	X(ACTIVE_TIMEOUT_S, 15, u32, "flow active timeout, 0: none")                  \
	X(MAX_FLOWS, 16, u32, "flow table size per worker lcore")                     \
	X(RTP_PORTS, 17, u32, "RTP port range: low << 16 | high")                     \
	X(RTP_CLOCK_HZ, 18, u32, "clock rate of dynamic RTP payload types")           \
	X(DESCRIPTION, 19, str, "free text")                                          \
	X(PERSIST, 20, u8, "1: survives the controller's disconnect")                 \
	X(DESTINATION, 21, str, "results receiver host:port (repeatable)")            \
	X(MEAS, 22, nest, "a measurement's description (LIST, STATUS)")               \
	X(STATE, 23, u8, "1 running, 2 stopped")                                      \
	X(OWNER, 24, str, "the controller session that started it")                   \
	X(START_NS, 25, u64, "start time, ns since the Unix epoch")                   \
	X(INTERVALS, 26, u64, "intervals closed so far")                              \
	X(SEQ, 27, u64, "interval sequence number within a measurement, from 0")      \
	X(RESULT_JSON, 28, str, "one interval as JSON (README: the interval object)") \
	X(OFFSET, 29, u32, "first item of a page")                                    \
	X(COUNT, 30, u32, "items wanted / given")                                     \
	X(TOTAL, 31, u32, "items there are")                                          \
	X(SORT, 32, u8, "0 bytes, 1 packets")                                         \
	X(FLOWS_JSON, 33, str, "a JSON array of flow records (README: the flow object)") \
	X(PORT, 34, nest, "one capture port")                                         \
	X(PORT_NAME, 35, str, "DPDK device name")                                     \
	X(LINK_UP, 36, u8, "1 up, 0 down")                                            \
	X(LINK_SPEED, 37, u32, "Mbit/s")                                              \
	X(DRIVER, 38, str, "PMD driver name")                                         \
	X(CLOCK_STATE, 39, str, "synchronised, unsynchronised or unknown (adjtimex)") \
	X(CLOCK_ERROR_US, 40, u32, "estimated clock error, us (adjtimex)")            \
	X(CAPS, 41, u32, "capability bits (QMCP_CAP_*): 0x1 live ports, 0x2 results push, 0x4 two-point roles, 0x8 QMCP over TLS, 0x10 plain QMCP") \
	X(QMCP_PORT, 42, u16, "the probe's QMCP TCP port")                            \
	X(ON, 43, u8, "1 on, 0 off")                                                  \
	X(LAST, 44, u32, "how many of the latest")                                    \
	X(GAP_FROM, 45, u64, "first interval sequence number lost to the backlog bound") \
	X(GAP_COUNT, 46, u64, "intervals lost there")                                 \
	X(UPTIME_S, 47, u64, "seconds since the probe started")                       \
	X(MEAS_COUNT, 48, u32, "measurements running")                                \
	X(MEAS_MAX, 49, u32, "measurements the probe accepts at once")                \
	X(WORKERS, 50, u32, "worker lcores")                                          \
	X(RESULT, 51, nest, "one result: MEAS_ID, SEQ, RESULT_JSON")                  \
	X(INTERVAL_START_NS, 52, u64, "start of the interval, ns since the Unix epoch") \
	X(MEAS_JSON, 53, str, "a measurement as JSON (the /api/v1/measurements/ID object)") \
	X(INFO_JSON, 54, str, "the probe's INFO answer as JSON, for humans and scripts") \
	X(TP_ROLE, 55, u8, "two-point role: 1 primary, 2 secondary")                 \
	X(TP_PEER, 56, str, "two-point: the secondary probe, host:port")              \
	X(TP_THRESHOLD, 57, u64, "two-point selection: selected when the selection hash <= this") \
	X(TP_SIG_PAYLOAD, 58, u8, "two-point: payload bytes in a signature (0-64)")   \
	X(TP_NAT, 59, u8, "two-point: 1 signatures leave addresses, ports, ICMP id out") \
	X(TP_LOSS_TIMER_MS, 60, u32, "two-point loss timer (RFC 7680 Tmax)")           \
	X(TP_PEER_FILTER, 61, str, "two-point: the secondary's own filter (NAT)")       \
	X(TP_BASE_NS, 62, u64, "time base of a batch's records, ns since the Unix epoch") \
	X(TP_WATERMARK_NS, 63, u64, "the secondary has sent every record older than this") \
	X(TP_FLOWS, 64, bytes, "flow definitions: n x 44 bytes (docs/qmcp.md)")        \
	X(TP_RECS, 65, bytes, "packet records: n x 18 bytes (docs/qmcp.md)")           \
	X(TP_DROPPED, 66, u64, "records the secondary could not send, so far")        \
	X(FLOW_KEY, 67, str, "flow key parts: \"5tuple\" or vlan,vni,gre-key,gtpu-peers,teid") \
	X(IPFIX, 68, str, "IPFIX collector of the flow records: host:port, then /udp (default) or /tcp (repeatable)") \
	X(DNS_PORTS, 69, str, "UDP and TCP ports whose traffic is DNS: 1 to 8, comma-separated (default \"53\")") \
	X(TLS_SNI, 70, u8, "1: report TLS server names (personal data; default 0)") \
	X(SNAPLEN, 71, u32, "pcap results: bytes kept of each packet, 16 to 65535 (default 256)") \
	X(DURATION_MS, 72, u32, "pcap results: how long a capture runs, ms (0 or absent: until stopped)") \
	X(RATE_BPS, 73, u64, "pcap results: a capture's budget, bit/s (default 100,000,000; at most the probe's ceiling)") \
	X(PCAPNG, 74, bytes, "pcapng blocks, whole ones (the first PCAP_DATA begins with the section header)") \
	X(CAPTURE_END, 75, u8, "why a capture ended: 1 its count, 2 its duration, 3 stopped (ON 0), 4 its measurement stopped, 5 the probe stops") \
	X(CAP_PACKETS, 76, u64, "packets a capture delivered") \
	X(PACKET_RATE, 78, u32, "packet results: records a second (1 to 1,000,000); absent: none") \
	X(CAP_DROPPED, 77, u64, "packets a capture had to drop (over its budget, its rings full, its session too slow)")

enum qmcp_tlv_type {
#define QMCP_TT_(n, v, k, h) QMCP_T_##n = v,
	QMCP_TLVS(QMCP_TT_)
#undef QMCP_TT_
};

/* Error codes carried in ERROR_CODE. */
#define QMCP_ERRORS(X)                                                        \
	X(MALFORMED, 1, "a frame or field that does not parse")               \
	X(UNKNOWN_TYPE, 2, "a message type this peer does not know")          \
	X(VERSION, 3, "a frame version this peer does not speak")             \
	X(TOO_BIG, 4, "a body longer than 1 MiB")                             \
	X(AUTH_REQUIRED, 5, "AUTH must come first")                           \
	X(AUTH_FAILED, 6, "wrong HMAC")                                       \
	X(DENIED, 7, "the caller's address is not on the allow-list")         \
	X(BAD_PARAM, 8, "a parameter out of range or missing")                \
	X(NO_SUCH_MEAS, 9, "no measurement with that id")                     \
	X(LIMIT, 10, "too many measurements, sessions or flows")              \
	X(INTERNAL, 11, "the probe failed; it says why")

enum qmcp_error {
#define QMCP_E_(n, v, h) QMCP_E_##n = v,
	QMCP_ERRORS(QMCP_E_)
#undef QMCP_E_
};

/* metric set bits (METRICS) */
#define QMCP_METRIC_TRAFFIC 0x01
#define QMCP_METRIC_TCP 0x02
#define QMCP_METRIC_RTP 0x04
#define QMCP_METRIC_ICMP 0x08
#define QMCP_METRIC_DNS 0x10
#define QMCP_METRIC_QUIC 0x20
#define QMCP_METRIC_TLS 0x40
#define QMCP_METRIC_MPEGTS 0x80
#define QMCP_METRIC_ALL 0xff

/* PACKET_RATE when a controller asks for packet results without a rate (records a second) */
#define QMCP_PACKET_RATE_DEFAULT 10000

/* capability bits (CAPS) */
#define QMCP_CAP_LIVE 0x01
#define QMCP_CAP_PUSH 0x02
#define QMCP_CAP_TWO_POINT 0x04
#define QMCP_CAP_TLS 0x08   /* the port takes QMCP over TLS */
#define QMCP_CAP_PLAIN 0x10 /* the port takes plain QMCP */

struct qmcp_hdr {
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t req_id;
	uint32_t length;
};

/**
 * Decode a frame header from n bytes.
 * @return 0; -EAGAIN when n < QMCP_HDR_LEN; -EPROTO on a bad magic;
 *         -EPROTONOSUPPORT on another version (h is filled);
 *         -EMSGSIZE when length > QMCP_MAX_BODY (h is filled).
 */
int qmcp_hdr_decode(const uint8_t *b, size_t n, struct qmcp_hdr *h);

/* A message under construction: the header's room, then the body. */
struct qmcp_msg {
	uint8_t *buf;
	size_t len; /* header + body so far */
	size_t cap;
	int err;    /* sticky: -ENOMEM or -EMSGSIZE from an earlier put */
	uint8_t type;
	uint16_t flags;
	uint32_t req_id;
};

/** Start a message (no allocation until the first put). */
void qmcp_msg_init(struct qmcp_msg *m, uint8_t type, uint16_t flags, uint32_t req_id);
/** Release the buffer (the struct may be initialised again). */
void qmcp_msg_free(struct qmcp_msg *m);

/* Append one TLV. Errors are sticky in m->err and reported by qmcp_msg_frame(). */
void qmcp_put_u8(struct qmcp_msg *m, uint16_t t, uint8_t v);
void qmcp_put_u16(struct qmcp_msg *m, uint16_t t, uint16_t v);
void qmcp_put_u32(struct qmcp_msg *m, uint16_t t, uint32_t v);
void qmcp_put_u64(struct qmcp_msg *m, uint16_t t, uint64_t v);
void qmcp_put_str(struct qmcp_msg *m, uint16_t t, const char *s);
void qmcp_put_bytes(struct qmcp_msg *m, uint16_t t, const void *p, size_t n);
/** Open a nested TLV; @return the handle for qmcp_nest_end(). */
size_t qmcp_nest_begin(struct qmcp_msg *m, uint16_t t);
void qmcp_nest_end(struct qmcp_msg *m, size_t handle);

/**
 * Finish: write the header in front of the body.
 * @return the frame and its length in *n, or NULL with m->err (-ENOMEM,
 *         -EMSGSIZE when the body passed QMCP_MAX_BODY).
 */
const uint8_t *qmcp_msg_frame(struct qmcp_msg *m, size_t *n);

/** An error answer to a request: ERROR_CODE and ERROR_MSG (printf format). */
void qmcp_msg_error(struct qmcp_msg *m, uint8_t type, uint32_t req_id, uint16_t code,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* One TLV as read: points into the caller's buffer. */
struct qmcp_tlv {
	uint16_t type;
	uint32_t len;
	const uint8_t *val;
};

struct qmcp_iter {
	const uint8_t *p, *end;
};

/** Iterate over the TLVs of a body (or of a nested TLV's value). */
void qmcp_iter_init(struct qmcp_iter *it, const uint8_t *body, size_t len);
/**
 * Next TLV. @return 1 with *t filled, 0 at the end, -EPROTO when the rest is
 * shorter than a TLV header or than the length it announces.
 */
int qmcp_next(struct qmcp_iter *it, struct qmcp_tlv *t);

/**
 * Check that a body is a well-formed TLV sequence, nested TLVs of the known
 * nesting types included (up to 4 levels). @return 0 or -EPROTO.
 */
int qmcp_body_check(const uint8_t *body, size_t len);

/* Typed values; each returns 0, or -EPROTO when the length is not the kind's. */
int qmcp_tlv_u8(const struct qmcp_tlv *t, uint8_t *v);
int qmcp_tlv_u16(const struct qmcp_tlv *t, uint16_t *v);
int qmcp_tlv_u32(const struct qmcp_tlv *t, uint32_t *v);
int qmcp_tlv_u64(const struct qmcp_tlv *t, uint64_t *v);
/**
 * A string copied NUL-terminated into buf. @return 0; -EPROTO when it holds
 * a NUL byte; -ENAMETOOLONG when it does not fit in cap - 1 bytes.
 */
int qmcp_tlv_str(const struct qmcp_tlv *t, char *buf, size_t cap);

/** The first TLV of a type in a body. @return 1 found, 0 not, -EPROTO malformed. */
int qmcp_find(const uint8_t *body, size_t len, uint16_t type, struct qmcp_tlv *t);

/** Names for logs and messages ("?" when unknown). */
const char *qmcp_msg_name(uint8_t type);
const char *qmcp_tlv_name(uint16_t type);
const char *qmcp_error_name(uint16_t code);

/*
 * Reassembly of frames from a byte stream (one per connection). Bytes are
 * read into the buffer with qmcp_rx_space()/qmcp_rx_commit(); complete frames
 * come out of qmcp_rx_frame(). The buffer never grows past one header and
 * QMCP_MAX_BODY.
 */
struct qmcp_rx {
	uint8_t *buf;
	size_t len, cap;
	size_t consumed; /* bytes of the frame handed out last, dropped on the next call */
};

void qmcp_rx_init(struct qmcp_rx *r);
void qmcp_rx_free(struct qmcp_rx *r);
/** Room to read into: at least min(want, what the current frame still needs). @return NULL on ENOMEM. */
uint8_t *qmcp_rx_space(struct qmcp_rx *r, size_t want, size_t *room);
void qmcp_rx_commit(struct qmcp_rx *r, size_t n);
/**
 * One recv() from a stream socket into the buffer (space and commit in one).
 * @return bytes read (> 0); 0 when the peer closed; -EAGAIN when nothing
 *         waits (or a signal came); -ENOMEM; another negative errno.
 */
long qmcp_rx_read(struct qmcp_rx *r, int fd);
/**
 * The next complete frame. @return 1 with h and body (valid until the next
 * call), 0 when more bytes are needed, or the error of qmcp_hdr_decode()
 * (the connection cannot be resynchronised: answer and close).
 */
int qmcp_rx_frame(struct qmcp_rx *r, struct qmcp_hdr *h, const uint8_t **body);

#endif
