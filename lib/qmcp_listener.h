/*
 * qmcp_listener: the results-receiver side of QMCP (docs/qmcp.md, "Results
 * push"), for qmstore and third-party collectors. Probes connect, say HELLO
 * (and AUTH when the listener has a secret) and send RESULT frames; each one
 * is handed to the application's callback and acknowledged only when the
 * callback says it is stored, so a probe resends what was not acknowledged.
 *
 * Single-threaded: qmcp_listener_run() serves what is ready and returns.
 *
 * Thread-safety: a listener belongs to one thread.
 */
#ifndef QMCP_LISTENER_H
#define QMCP_LISTENER_H

#include <stddef.h>
#include <stdint.h>

#include "qmcp_codec.h"

#define QMCP_LISTENER_PEERS 1024

/* Who to acknowledge a result to later (the callback returned QMCP_RESULT_LATER). */
struct qmcp_ack {
	uint64_t peer;   /* the connection: a new one never takes an old one's number */
	uint32_t req_id;
	uint32_t meas_id;
	uint64_t seq;
};

/* One pushed result, valid during the callback. */
struct qmcp_result {
	const char *probe_id;  /* from the RESULT (or the probe's HELLO) */
	const char *peer;      /* the probe's address:port */
	uint32_t meas_id;
	uint64_t seq;
	uint64_t start_ns;
	const char *json;      /* RESULT_JSON, NUL-terminated */
	size_t json_len;
	const char *flows_json; /* FLOWS_JSON when sent (the largest flows), NUL-terminated, or NULL */
	size_t flows_len;
	int has_gap;           /* intervals lost to the probe's backlog bound before this one */
	uint64_t gap_from, gap_count;
	struct qmcp_ack ack;   /* for an acknowledgement sent later */
};

#define QMCP_RESULT_LATER 1

/**
 * @return 0 when stored (the probe gets an acknowledgement now), a negative
 *         errno when not (an error: the probe resends), or QMCP_RESULT_LATER
 *         when it will be stored with others: the callback keeps r->ack and
 *         calls qmcp_listener_done() once it knows (a batch committed).
 */
typedef int qmcp_result_fn(const struct qmcp_result *r, void *arg);

struct qmcp_listener;

/**
 * Listen on addr:port (TCP). secret NULL: no AUTH asked.
 * @return the listener, or NULL with a message in err.
 */
struct qmcp_listener *qmcp_listener_create(const char *addr, int port, const uint8_t *secret,
					   size_t secret_len, qmcp_result_fn *fn, void *arg,
					   char *err, size_t errlen);

struct qmcp_tls;
/**
 * Take QMCP over TLS too (qmcp_tls.h: a server context, kept by the caller
 * while the listener lives), and with tls_only 1 refuse plain QMCP. The
 * HMAC challenge is asked for inside TLS as outside it.
 */
void qmcp_listener_set_tls(struct qmcp_listener *l, const struct qmcp_tls *tls, int tls_only);

/** Serve what is ready, waiting at most timeout_ms. @return 0, or -EINTR. */
int qmcp_listener_run(struct qmcp_listener *l, int timeout_ms);

/**
 * Acknowledge a result the callback kept (err 0: stored; else a negative errno,
 * and the probe is told to resend). A probe whose connection has closed since
 * gets nothing: it resends on its next connection.
 * @return 0, or -ENOTCONN when the connection is gone (counted in acks_lost)
 */
int qmcp_listener_done(struct qmcp_listener *l, const struct qmcp_ack *a, int err);

/** Counters: results stored, refused by the callback, connections, auth failures. */
struct qmcp_listener_stats {
	uint64_t results, refused, connections, auth_failures, bad_frames;
	uint64_t acks_lost; /* results kept for later whose connection closed first */
	uint64_t refused_transport; /* TLS without a certificate, or plain QMCP when TLS only */
};
void qmcp_listener_stats(const struct qmcp_listener *l, struct qmcp_listener_stats *s);

/** Close every connection and free (NULL accepted). */
void qmcp_listener_destroy(struct qmcp_listener *l);

#endif
