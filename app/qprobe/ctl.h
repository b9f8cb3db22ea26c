/*
 * ctl: the probe's QMCP server (docs/qmcp.md) on the management thread:
 * controller sessions over TCP, discovery over UDP on the same port, the
 * allow-list and the shared-secret challenge-response, and the operations
 * that start, stop, list and read measurements (meas.h). Results of each
 * closed interval are pushed to the sessions that subscribed.
 *
 * Every socket is non-blocking and served from ctl_poll(): a peer that sends
 * nothing, sends garbage or reads nothing delays no one else. Input is
 * bounded per session (one frame of at most 1 MiB), output too (CTL_TX_MAX;
 * a session that does not read is closed), sessions too (CTL_SESSIONS_MAX).
 *
 * Thread-safety: management thread only, except ctl_counters_json() which
 * the HTTP thread may call (plain loads of counters).
 */
#ifndef QPROBE_CTL_H
#define QPROBE_CTL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "meas.h"
#include "qmcp_codec.h"
#include "qp_acl.h"

#define CTL_SESSIONS_MAX 256
#define CTL_TX_MAX (16u << 20)       /* unsent bytes a session may hold */
#define CTL_HELLO_TIMEOUT_NS 10000000000ULL /* to finish HELLO (and AUTH) */

#define CTL_COUNTERS(X)                                                             \
	X(sessions_accepted, "Controller connections accepted")                     \
	X(sessions_refused_acl, "Connections refused: address not on the allow-list") \
	X(sessions_refused_full, "Connections refused: too many sessions")        \
	X(sessions_timed_out, "Sessions closed for not finishing HELLO/AUTH in time") \
	X(sessions_slow, "Sessions closed for not reading what was sent to them")  \
	X(auth_failures, "AUTH with a wrong HMAC")                                 \
	X(frames_in, "Frames received")                                            \
	X(frames_bad, "Frames refused: bad magic, version or length")              \
	X(errors_sent, "Error answers sent")                                       \
	X(locate_answered, "Discovery requests answered")                          \
	X(locate_refused, "Discovery requests not answered (allow-list or secret)")   \
	X(sessions_tls, "Controller sessions over TLS")                                \
	X(sessions_refused_transport, "Connections refused: TLS without a certificate, or plain QMCP to a TLS-only probe")

struct ctl_counters {
#define CTL_F_(n, h) uint64_t n;
	CTL_COUNTERS(CTL_F_)
#undef CTL_F_
};

struct ctl_cfg {
	const char *addr;   /* bind address (IPv4 or IPv6 literal) */
	int port;           /* TCP and UDP port; 0: no QMCP */
	const uint8_t *secret; /* NULL: no challenge-response */
	size_t secret_len;
	const struct qp_acl *acl;
	const char *probe_id, *probe_name;
	struct meas_params defaults; /* what START leaves out */
	/* fills an INFO answer's port and capability TLVs; management thread */
	void (*info)(struct qmcp_msg *m, json_t *j, void *arg);
	void *info_arg;
	/* called after a START, before its answer: returns once the workers run
	 * it, so every frame after the answer is measured */
	void (*started)(void *arg);
	/* non-NULL: why this probe takes no two-point role (START with one is
	 * refused with this text) */
	const char *no_two_point;
	/* QMCP over TLS: the server's context (NULL: plain QMCP only), and 1
	 * when plain QMCP is refused */
	const struct qmcp_tls *tls;
	int tls_only;
};

/**
 * Open the TCP and UDP sockets. @return 0 or a negative errno with a message
 * in err (the address and port, and what is accepted).
 */
int ctl_start(const struct ctl_cfg *cfg, char *err, size_t errlen);

/** Bytes session `id`'s output can still take (0: no such session, or closing). */
size_t ctl_room(int session);

/** Send m (consumed) on session `id`; -ENOENT when it is gone. */
int ctl_push(int session, struct qmcp_msg *m);

/** Serve what is ready, waiting at most timeout_ms. */
void ctl_poll(int timeout_ms);

/** Push one closed interval (its meas_result_text()) to the sessions subscribed to it. */
void ctl_on_result(uint32_t id, uint64_t seq, uint64_t start_ns, const char *json);

/** Close every session and socket. */
void ctl_stop(void);

/** Queue a frame on session `session` and start sending it. @return 0, -ENOTCONN, -ENOBUFS. */
int ctl_push_frame(int session, const uint8_t *frame, size_t len);

/** Counters and open sessions as JSON (any thread). */
json_t *ctl_counters_json(void);

/** Sessions open now. */
unsigned int ctl_sessions(void);

extern struct ctl_counters ctl_cnt;

#endif
