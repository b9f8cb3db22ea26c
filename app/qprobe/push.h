/*
 * push: results pushed to results receivers (qmstore, or any QMCP listener),
 * on the management thread.
 *
 * One outbound connection per destination (host:port), shared by the
 * measurements that name it. Each closed interval is queued for each of its
 * measurement's destinations and sent as a RESULT (probe id, measurement id,
 * interval sequence, the interval's JSON); a receiver acknowledges what it
 * stored, and only then is it dropped from the queue. A connection that
 * fails is retried with back-off (0.5 s doubling to 30 s) and everything
 * unacknowledged is sent again, so a receiver restart loses nothing within
 * the backlog. The backlog is bounded (PUSH_BACKLOG results per
 * destination); beyond it the oldest unsent results are dropped and the next
 * result of that measurement says so (GAP_FROM, GAP_COUNT): never silent.
 *
 * With a spool (push_spool, --spool DIR), every queued result is on disk
 * before push_result returns and stays there until it is acknowledged
 * (spool.h), so a probe killed or restarted sends it again: the results of an
 * earlier run go to their destinations first, whatever this run measures.
 * The spool is bounded in bytes a destination: beyond, the oldest results
 * not in flight go and are reported as a gap, as with the backlog.
 *
 * Thread-safety: management thread, and push_stats_json() from the HTTP
 * thread; one mutex guards the destinations.
 */
#ifndef QPROBE_PUSH_H
#define QPROBE_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>


#define PUSH_BACKLOG 1024
#define PUSH_WINDOW 32
#define PUSH_DESTS_MAX 64

/**
 * Identity and secret used towards receivers (secret NULL: none to offer),
 * and the trust a destination given as tls://host:port is verified against.
 */
struct qmcp_tls;
void push_init(const char *probe_id, const uint8_t *secret, size_t secret_len,
	       const struct qmcp_tls *tls);

/**
 * Keep queued results in dir (made if missing), at most max_bytes of them a
 * destination, and queue what an earlier run left there. Call once, before
 * any push_ref(). @return 0, or -1 with err set (dir unusable, a file there
 * that is not a spool).
 */
int push_spool(const char *dir, uint64_t max_bytes, char *err, size_t errlen);

/** A measurement names a destination. @return 0, -ENOSPC (too many destinations). */
int push_ref(const char *dest);
/** It no longer does; the destination goes once nothing references it and its queue is empty. */
void push_unref(const char *dest);

/**
 * Queue one interval (its meas_result_text(); NULL when it could not be
 * made, reported as a gap) for a destination, with the top flows as a JSON
 * array (may be NULL).
 */
void push_result(const char *dest, uint32_t meas, uint64_t seq, uint64_t start_ns,
		 const char *json, const char *flows_json);

/** Drive the connections: connect, authenticate, send, read acknowledgements. */
void push_poll(void);

/** At shutdown: keep sending for at most timeout_ms or until every queue is empty. */
void push_flush(int timeout_ms);

/** Close everything. */
void push_fini(void);

/** Per destination: state, queued, sent, acknowledged, dropped, reconnects. */
json_t *push_stats_json(void);

/**
 * Over every destination of the probe's life (a destination goes when no
 * measurement names it and its queue is empty): results made, acknowledged,
 * dropped.
 */
json_t *push_totals_json(void);

#endif
