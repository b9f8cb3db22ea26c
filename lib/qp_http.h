/*
 * qp_http: the read-only HTTP endpoint of the management core
 * (libmicrohttpd, driven by one thread of this module's own, so the
 * application can register that thread with RCU and unregister it before it
 * ends).
 *
 *   GET /api/v1/stats                      ports, lcores, counters (JSON)
 *   GET /api/v1/flows?top=N&sort=bytes|packets   the largest flows (JSON)
 *   GET /api/v1/intervals?last=N           the latest interval totals (JSON)
 *   GET /metrics                           Prometheus text format
 *
 * Anything else gets 404 (unknown path) or 405 (not GET) with a JSON error
 * body; a bad query parameter gets 400 naming the parameter and what it
 * accepts. The content comes from callbacks of the application, called on
 * the HTTP thread; they must be safe to run concurrently with the workers.
 */
#ifndef QP_HTTP_H
#define QP_HTTP_H

#include <jansson.h>

enum qp_flow_sort { QP_SORT_BYTES, QP_SORT_PACKETS };

struct qp_http_ops {
	json_t *(*stats)(void *arg);
	json_t *(*flows)(void *arg, unsigned int top, enum qp_flow_sort sort);
	json_t *(*intervals)(void *arg, unsigned int last);
	/* Prometheus text, malloc'd; NULL on ENOMEM */
	char *(*metrics)(void *arg);
	/* called on the HTTP thread when it starts and before it ends (may be
	 * NULL): where an application registers the thread with RCU */
	void (*thread_init)(void *arg);
	void (*thread_fini)(void *arg);
	void *arg;
};

#define QP_HTTP_TOP_MAX 10000
#define QP_HTTP_LAST_MAX 3600

struct qp_http;

/**
 * Start serving on addr:port (IPv4 or IPv6 literal).
 * @return the server, or NULL with errno EINVAL (bad address) or the bind error.
 */
struct qp_http *qp_http_start(const char *addr, int port, const struct qp_http_ops *ops);

/** Stop and free (NULL accepted); waits for requests in progress. */
void qp_http_stop(struct qp_http *h);

#endif
