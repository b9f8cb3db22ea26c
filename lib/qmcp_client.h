/*
 * qmcp_client: the controller side of QMCP (docs/qmcp.md) for qmctl and
 * third-party controllers: connect, HELLO and AUTH, one request at a time
 * with its answer, results pushed on the session, and discovery over UDP.
 *
 * Blocking calls with a timeout on one TCP connection. Frames that are not
 * the awaited answer (RESULT pushes) are kept, up to QMCP_CLIENT_QUEUE, for
 * qmcp_client_next_push().
 *
 * Thread-safety: a client belongs to one thread at a time.
 */
#ifndef QMCP_CLIENT_H
#define QMCP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "qmcp_codec.h"

#define QMCP_CLIENT_QUEUE 1024

/* A frame received: header and an owned copy of the body. */
struct qmcp_reply {
	struct qmcp_hdr h;
	uint8_t *body;
	size_t len;
};

void qmcp_reply_free(struct qmcp_reply *r);

struct qmcp_client;

/**
 * Connect to host (name or address) and port.
 * @return the client, or NULL with a message in err (which host, why).
 */
struct qmcp_client *qmcp_client_connect(const char *host, int port, int timeout_ms, char *err,
					size_t errlen);

struct qmcp_tls;

/**
 * The same over TLS (qmcp_tls.h): the server's certificate is verified
 * against tls's trust for host before anything is sent (tls NULL: plain).
 * @return the client, or NULL with a message in err ("TLS with HOST port P:
 *         the certificate does not verify: ...").
 */
struct qmcp_client *qmcp_client_connect_tls(const char *host, int port, const struct qmcp_tls *tls,
					    int timeout_ms, char *err, size_t errlen);

/** Close and free (NULL accepted). */
void qmcp_client_close(struct qmcp_client *c);

/**
 * HELLO, then AUTH when the probe asks for it (secret NULL: none to give).
 * @return 0; -EACCES refused (allow-list, wrong or missing secret: err holds
 *         the probe's message); -ETIMEDOUT; -ECONNRESET; -EPROTO.
 */
int qmcp_client_hello(struct qmcp_client *c, const char *name, const uint8_t *secret,
		      size_t secret_len, int timeout_ms, char *err, size_t errlen);

/** The probe's identity from HELLO ("" before). */
const char *qmcp_client_probe_id(const struct qmcp_client *c);

/** A fresh request id. */
uint32_t qmcp_client_next_id(struct qmcp_client *c);

/**
 * Send req (its frame is built here) and wait for the answer with its id.
 * @return 0 with the answer in rep; -EREMOTEIO when the answer is an error
 *         (rep filled; err holds the probe's message as sent, prefixed with
 *         the error code's name); -ETIMEDOUT; -ECONNRESET; -EPROTO; -ENOMEM.
 */
int qmcp_client_call(struct qmcp_client *c, struct qmcp_msg *req, struct qmcp_reply *rep,
		     int timeout_ms, char *err, size_t errlen);

/**
 * The next pushed frame (RESULT), waiting at most timeout_ms.
 * @return 1 with rep filled, 0 on timeout, negative errno when the
 *         connection ended.
 */
int qmcp_client_next_push(struct qmcp_client *c, struct qmcp_reply *rep, int timeout_ms);

/** The error code and message of an error answer ("" and 0 otherwise). */
uint16_t qmcp_reply_error(const struct qmcp_reply *r, char *msg, size_t len);

/* A probe that answered discovery. */
struct qmcp_located {
	char addr[64];       /* where the answer came from */
	char probe_id[128];
	char name[128];
	char version[32];
	uint16_t port;
	int auth_required;
	int verified;        /* its HMAC over our nonce proved the shared secret */
};

/**
 * Send LOCATE to each target (IPv4/IPv6 address or name; 255.255.255.255
 * broadcasts) on port, and collect answers for timeout_ms.
 * @return the number of probes found (fn called for each), or a negative
 *         errno with err set.
 */
int qmcp_locate(const char *const *targets, unsigned int n, int port, const uint8_t *secret,
		size_t secret_len, int timeout_ms,
		void (*fn)(const struct qmcp_located *p, void *arg), void *arg, char *err,
		size_t errlen);

#endif
