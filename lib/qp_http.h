/*
 * qp_http: the read-only HTTP endpoint of the management core
 * (libmicrohttpd, driven by one thread of this module's own, so the
 * application can register that thread with RCU and unregister it before it
 * ends).
 *
 *   GET /api/v1/stats                      ports, lcores, counters (JSON)
 *   GET /api/v1/measurements               the measurements running (JSON)
 *   GET /api/v1/measurements/ID            one of them, with its counters
 *   GET /api/v1/flows?measurement=ID&top=N&sort=bytes|packets   its largest flows
 *   GET /api/v1/intervals?measurement=ID&last=N                 its latest intervals
 *   GET /metrics                           Prometheus text format
 *   GET /  (and /index.html)               the application's page (HTML), when it has one
 *
 * Without measurement=ID, flows and intervals are those of the measurement
 * with the lowest id. A callback may answer with {"error": ..., "status":
 * 4xx}; that status is sent.
 *
 * Anything else gets 404 (unknown path) or 405 (not GET) with a JSON error
 * body; a bad query parameter gets 400 naming the parameter and what it
 * accepts.
 *
 * Access and slow clients: a caller not on the allow-list is closed at
 * accept; at most QP_HTTP_PER_ADDR connections are open per address and
 * QP_HTTP_CONNS in all (beyond, a connection is closed at accept); a
 * connection silent for QP_HTTP_IDLE_S seconds is closed. So a few hundred
 * connections that send half a request and wait neither starve the others
 * nor outlive their silence.
 *
 * The content comes from callbacks of the application, called on the HTTP
 * thread; they must be safe to run concurrently with the workers.
 */
#ifndef QP_HTTP_H
#define QP_HTTP_H

#include <jansson.h>
#include <stdint.h>

#include "qp_acl.h"

enum qp_flow_sort { QP_SORT_BYTES, QP_SORT_PACKETS };

struct qp_http_ops {
	json_t *(*stats)(void *arg);
	/* meas 0: the lowest id */
	json_t *(*flows)(void *arg, unsigned int meas, unsigned int top, enum qp_flow_sort sort);
	json_t *(*intervals)(void *arg, unsigned int meas, unsigned int last);
	/* id 0: the list */
	json_t *(*measurements)(void *arg, unsigned int id);
	/* Prometheus text, malloc'd; NULL on ENOMEM */
	char *(*metrics)(void *arg);
	/* called on the HTTP thread when it starts and before it ends (may be
	 * NULL): where an application registers the thread with RCU */
	void (*thread_init)(void *arg);
	void (*thread_fini)(void *arg);
	void *arg;
	/* the HTML page of GET / (static for the server's life), or NULL: none */
	const char *page;
	size_t page_len;
};

#define QP_HTTP_TOP_MAX 10000
#define QP_HTTP_LAST_MAX 3600
#define QP_HTTP_CONNS 512   /* connections open at once */
#define QP_HTTP_PER_ADDR 16 /* of them from one address */
#define QP_HTTP_IDLE_S 3    /* a connection silent this long is closed */

/* Counters, their JSON keys and their help: one list. */
#define QP_HTTP_COUNTERS(X)                                                           \
	X(connections, "HTTP connections accepted")                                   \
	X(refused_acl, "HTTP connections refused: address not on the allow-list")    \
	X(requests, "HTTP requests answered")                                         \
	X(refused_auth, "HTTP requests refused: basic-auth credentials missing or wrong")

struct qp_http_counters {
#define QP_HTTP_F_(n, h) uint64_t n;
	QP_HTTP_COUNTERS(QP_HTTP_F_)
#undef QP_HTTP_F_
	uint64_t open; /* connections open now */
};

#define QP_HTTP_USERS_MAX 64

/* A basic-auth user: name and bcrypt hash. */
struct qp_http_user {
	char name[64];
	char hash[128];
};

/*
 * TLS and basic auth (qp_webcfg.h reads them from a web configuration file).
 * With users, every request must carry one's name and password (HTTP basic
 * auth, RFC 7617) or is answered 401; a password that verified is
 * remembered by its SHA-256, so a scrape a second costs one bcrypt, not one
 * a request.
 */
struct qp_http_security {
	char *cert_pem, *key_pem; /* PEM text, both set: TLS; both NULL: plain HTTP */
	int tls13_only;           /* 1: TLS 1.3 only; 0: TLS 1.2 and 1.3 */
	unsigned int nusers;      /* 0: no basic auth */
	struct qp_http_user users[QP_HTTP_USERS_MAX];
};

struct qp_http;

/**
 * Start serving on addr:port (IPv4 or IPv6 literal) to the callers acl
 * allows (NULL: loopback only), over TLS and with basic auth as sec says
 * (NULL: plain HTTP, no auth; copied, the caller may free it).
 * @return the server, or NULL with errno EINVAL (bad address), ENOTSUP (TLS
 *         asked of a libmicrohttpd without it), EPROTO (the TLS library
 *         refused the certificate or key), ELIBACC (libmicrohttpd could not
 *         be loaded: qp_http_lib_error() says why) or the bind error.
 */
/** Why libmicrohttpd could not be loaded (after qp_http_start() failed with ELIBACC). */
const char *qp_http_lib_error(void);

struct qp_http *qp_http_start(const char *addr, int port, const struct qp_acl *acl,
			      const struct qp_http_security *sec, const struct qp_http_ops *ops);

/** The counters (any thread). */
void qp_http_counters(const struct qp_http *h, struct qp_http_counters *c);

/** Stop and free (NULL accepted); waits for requests in progress. */
void qp_http_stop(struct qp_http *h);

#endif
