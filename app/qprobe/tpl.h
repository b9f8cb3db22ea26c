/*
 * tpl: live two-point measurements (docs/qmcp.md, "Two-point").
 *
 * Secondary: the records its workers take go out as TP_RECORDS frames on the
 * session of the primary that started it, every control interval, from the
 * management thread (tpl_tick).
 *
 * Primary: a thread per measurement opens a session to the secondary (HELLO,
 * AUTH with this probe's secret), starts the matching measurement there, and
 * runs the matching engine over its own workers' records (point A) and the
 * secondary's batches (point B). Each interval becomes final a loss timer
 * after its end; the management thread collects the final ones
 * (tpl_take_results) into the next interval's result. When the secondary
 * goes away the results say so, the primary keeps measuring its own point
 * and tries to reconnect every 2 s.
 *
 * Thread-safety: tpl_create/tick/take/json/destroy on the management thread;
 * the primary's thread owns the engine and the client; a mutex guards what
 * they share (state text, finished intervals).
 */
#ifndef QPROBE_TPL_H
#define QPROBE_TPL_H

#include <jansson.h>
#include <stdint.h>

#include "qp_sig.h"
#include "qp_tp_ring.h"
#include "qmcp_codec.h"

#define TPL_ROLE_PRIMARY 1
#define TPL_ROLE_SECONDARY 2
#define TPL_RING_ORDER 17 /* records per worker ring: 131072 */

struct tpl_params {
	int role;               /* 0: not two-point */
	char peer[256];         /* primary: the secondary, host:port */
	char peer_filter[1024]; /* primary: the secondary's filter ("": the same) */
	struct qp_sig_cfg sig;
	uint64_t loss_timer_ns; /* 0: the default, from the interval */
};

/* What the measurement around it says. */
struct tpl_meas {
	uint32_t id;
	int session; /* secondary: the primary's session */
	const char *filter;
	uint64_t interval_ns;
	uint64_t start_ns;
	uint32_t max_flows;
};

/**
 * Process-wide: identity, secret and TLS trust (for a TP_PEER given as
 * tls://host:port) for sessions to secondaries, how to push
 * on a session, and each worker's progress (the time before which it has
 * recorded every frame it stamped; NULL: trust the clock less a margin).
 */
struct qmcp_tls;
void tpl_init(const char *probe_id, const uint8_t *secret, size_t secret_len,
	      const struct qmcp_tls *tls, int (*push)(int session, const uint8_t *frame, size_t len),
	      uint64_t (*progress)(unsigned int worker));

/** The control interval and default loss timer of an averaging interval. */
uint64_t tpl_control_ns(uint64_t interval_ns);
uint64_t tpl_default_loss_timer_ns(uint64_t interval_ns);

struct tpl;

/**
 * Set up a two-point measurement: rings for nworkers workers (tpl_ring), and
 * for a primary, its thread. @return NULL with err (which parameter, what is
 * accepted, or out of memory).
 */
struct tpl *tpl_create(const struct tpl_params *p, const struct tpl_meas *m, unsigned int nworkers,
		       char *err, size_t errlen);
struct qp_tp_ring *tpl_ring(struct tpl *t, unsigned int worker);
const struct qp_sig_cfg *tpl_sig(const struct tpl *t);

/** Management thread, often: a secondary ships what its workers recorded. */
void tpl_tick(struct tpl *t, uint64_t now_ns);

/** Primary: the two-point JSON to put into the interval closing now (new reference), or NULL. */
json_t *tpl_take_results(struct tpl *t);

/** Primary: {"fwd", "rev"} of one flow (canonical key) so far, or NULL. Any thread. */
json_t *tpl_flow_json(struct tpl *t, const struct qp_flow_key *key);

/** Role, peer, state and totals (for STATUS, the report). New reference. */
json_t *tpl_json(struct tpl *t);

/** Stop (joins the primary's thread; workers must no longer write the rings) and free. */
void tpl_destroy(struct tpl *t);

#endif
