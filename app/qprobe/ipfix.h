/*
 * ipfix: a live measurement's flow records to its IPFIX collectors
 * (docs/ipfix.md). Workers put each record that ends (idle or active
 * timeout, eviction) into a ring of their own; the management core takes
 * them, encodes them (lib/qp_ipfix) and sends them: UDP paced at
 * QP_IPFIX_UDP_PPS messages a second, TCP through a bounded backlog,
 * reconnected every 5 s while the collector is down, templates first on each
 * connection. At STOP the measurement's remaining flows are exported (flow
 * end reason 4) and its exporter drains on its own after the measurement is
 * gone. Nothing here blocks the management loop: names are resolved once, at
 * START (the error goes in the answer), connects and sends are non-blocking.
 *
 * Thread-safety: ipx_* run on the management thread; the hook a worker gets
 * (ipx_hook()) only fills that worker's ring.
 */
#ifndef QPROBE_IPFIX_H
#define QPROBE_IPFIX_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "qp_flow_table.h"
#include "qp_rtp_dp.h"

#define IPX_MAX 4 /* collectors a measurement */

struct ipx;

/** The observation domain of every exporter from now on (--ipfix-domain). */
void ipx_set_domain(uint32_t domain);

/**
 * An exporter for one measurement: resolve each collector
 * ("HOST:PORT[/udp|/tcp]"), open its socket (TCP: connect started) and a
 * ring per worker. @return it, or NULL with one line in err.
 */
struct ipx *ipx_create(const char (*specs)[256], int n, unsigned int nworkers,
		       const struct qp_rtp_cfg *rtp, char *err, size_t errlen);

/** The export callback and argument worker i's struct qp_worker takes. */
qp_flow_export_fn *ipx_hook(struct ipx *x, unsigned int worker, void **arg);

/** Take records from the rings, send what is due (the management loop, often). */
void ipx_poll(uint64_t now_ns);

/**
 * The measurement stopped: its workers no longer write the rings. fn(flow
 * visitor, varg) is called once with a callback that takes each of its
 * remaining flows (exported with end reason "forced end"); the exporter then
 * drains on its own and is freed.
 */
void ipx_stop(struct ipx *x, void (*walk)(void (*take)(const struct qp_flow *f, void *a),
					    void *a, void *warg),
	      void *warg);

/** Send what every exporter still holds, for at most timeout_ms (at exit). */
void ipx_flush_all(int timeout_ms);

/** Counters of the exporter, per collector (measurement JSON, "ipfix"). */
json_t *ipx_json(const struct ipx *x);

/** Exporters that drain (stopped measurements), then all of them freed (exit). */
void ipx_fini(void);

/** Free an exporter that never ran (START failed after it was made). */
void ipx_destroy(struct ipx *x);

#endif
