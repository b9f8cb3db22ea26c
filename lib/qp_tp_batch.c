/* qp_tp_batch: see qp_tp_batch.h. */
#include "qp_tp_batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qmcp_tp.h"

#define BATCH_MAX 50000                    /* records or new flows in a frame */
#define BODY_MAX (QMCP_MAX_BODY - 256)     /* room for the fixed TLVs */

struct qp_tp_batcher {
	uint32_t meas;
	uint64_t span, base, seq, dropped;
	qp_tp_frame_fn *fn;
	void *arg;
	struct qmcp_tp_rec *recs;
	uint32_t nrecs;
	uint32_t *new_ids;
	struct qmcp_tp_key *new_keys;
	uint32_t nnew;
	/* flows with an id: key -> id, open addressing; ids restart when full */
	struct qp_flow_key *keys;
	uint32_t *slots, nkeys, smask;
	struct qp_tp_batch_stats st;
};

struct qp_tp_batcher *qp_tp_batcher_create(uint32_t meas_id, uint64_t span_ns, qp_tp_frame_fn *fn,
					   void *arg)
{
	struct qp_tp_batcher *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->meas = meas_id;
	b->span = span_ns && span_ns <= QMCP_TP_DT_MAX ? span_ns : QMCP_TP_DT_MAX;
	b->fn = fn;
	b->arg = arg;
	b->smask = 1023;
	b->recs = malloc(sizeof(*b->recs) * BATCH_MAX);
	b->new_ids = malloc(sizeof(*b->new_ids) * BATCH_MAX);
	b->new_keys = malloc(sizeof(*b->new_keys) * BATCH_MAX);
	b->slots = calloc(b->smask + 1, sizeof(*b->slots));
	b->keys = malloc(sizeof(*b->keys) * (b->smask + 1) / 2);
	if (!b->recs || !b->new_ids || !b->new_keys || !b->slots || !b->keys) {
		qp_tp_batcher_destroy(b);
		return NULL;
	}
	return b;
}

void qp_tp_batcher_destroy(struct qp_tp_batcher *b)
{
	if (!b)
		return;
	free(b->recs);
	free(b->new_ids);
	free(b->new_keys);
	free(b->slots);
	free(b->keys);
	free(b);
}

const struct qp_tp_batch_stats *qp_tp_batcher_stats(const struct qp_tp_batcher *b)
{
	return &b->st;
}

static void emit(struct qp_tp_batcher *b, uint64_t watermark)
{
	struct qmcp_msg m;
	qmcp_msg_init(&m, QMCP_MSG_TP_RECORDS, 0, 0);
	struct qmcp_tp_batch h = {.meas = b->meas,
				  .seq = b->seq++,
				  .base_ns = b->nrecs ? b->base : watermark,
				  .watermark_ns = watermark,
				  .dropped = b->dropped};
	size_t n = 0;
	const uint8_t *f = NULL;
	if (qmcp_tp_build(&m, &h, b->new_ids, b->new_keys, b->nnew, b->recs, b->nrecs) == 0)
		f = qmcp_msg_frame(&m, &n);
	if (f) {
		b->st.frames++;
		b->st.bytes += n;
		b->st.records += b->nrecs;
		b->fn(f, n, b->nrecs, b->arg);
	} else {
		b->st.not_encoded += b->nrecs;
	}
	qmcp_msg_free(&m);
	b->nrecs = b->nnew = 0;
}

static void forget_flows(struct qp_tp_batcher *b)
{
	memset(b->slots, 0, sizeof(*b->slots) * (b->smask + 1));
	b->nkeys = 0;
}

static int grow(struct qp_tp_batcher *b)
{
	uint32_t nm = b->smask * 2 + 1;
	uint32_t *ns = calloc((size_t)nm + 1, sizeof(*ns));
	struct qp_flow_key *nk = ns ? realloc(b->keys, sizeof(*nk) * ((size_t)nm + 1) / 2) : NULL;
	if (!nk) {
		free(ns);
		return -ENOMEM;
	}
	b->keys = nk;
	for (uint32_t j = 0; j <= b->smask; j++)
		if (b->slots[j]) {
			uint32_t h = qp_flow_key_hash(&b->keys[b->slots[j] - 1]) & nm;
			while (ns[h])
				h = (h + 1) & nm;
			ns[h] = b->slots[j];
		}
	free(b->slots);
	b->slots = ns;
	b->smask = nm;
	return 0;
}

/* The flow's id, defined in the current frame when new; UINT32_MAX on ENOMEM. */
static uint32_t flow_id(struct qp_tp_batcher *b, const struct qp_flow_key *k)
{
	uint32_t i = qp_flow_key_hash(k) & b->smask;
	for (; b->slots[i]; i = (i + 1) & b->smask)
		if (memcmp(&b->keys[b->slots[i] - 1], k, sizeof(*k)) == 0)
			return b->slots[i] - 1;
	if (b->nkeys == QP_TP_BATCH_FLOW_IDS) {
		/* start again: every flow is defined anew in the frames that
		 * follow; the frame under way goes first, with its definitions */
		if (b->nrecs)
			return UINT32_MAX - 1; /* the caller emits, then asks again */
		forget_flows(b);
		b->nnew = 0;
		i = qp_flow_key_hash(k) & b->smask;
	}
	if ((b->nkeys + 1) * 2 > b->smask + 1) {
		if (grow(b))
			return UINT32_MAX;
		i = qp_flow_key_hash(k) & b->smask;
		while (b->slots[i])
			i = (i + 1) & b->smask;
	}
	uint32_t id = b->nkeys++;
	b->keys[id] = *k;
	b->slots[i] = id + 1;
	b->new_ids[b->nnew] = id;
	struct qmcp_tp_key *w = &b->new_keys[b->nnew++];
	memcpy(w->addr, k->addr, 32);
	w->port[0] = k->port[0];
	w->port[1] = k->port[1];
	w->proto = k->proto;
	w->ipver = k->ipver;
	return id;
}

void qp_tp_batcher_add(struct qp_tp_batcher *b, const struct qp_tp_rec *r)
{
	size_t body = (size_t)(b->nrecs + 1) * QMCP_TP_REC_LEN + (size_t)(b->nnew + 1) * QMCP_TP_FLOW_LEN;
	if (b->nrecs && (r->ts_ns < b->base || r->ts_ns - b->base >= b->span ||
			 b->nrecs == BATCH_MAX || b->nnew == BATCH_MAX || body > BODY_MAX))
		emit(b, b->recs[b->nrecs - 1].ts_ns);
	if (!b->nrecs)
		b->base = r->ts_ns;
	uint32_t id = flow_id(b, &r->key);
	if (id == UINT32_MAX - 1) { /* the ids started again: this frame goes first */
		emit(b, b->recs[b->nrecs - 1].ts_ns);
		b->base = r->ts_ns;
		id = flow_id(b, &r->key);
	}
	if (id >= UINT32_MAX - 1) {
		b->st.not_encoded++;
		return;
	}
	b->recs[b->nrecs++] = (struct qmcp_tp_rec){.sig = r->sig,
						   .ts_ns = r->ts_ns,
						   .size = (uint16_t)(r->size > 65535 ? 65535 : r->size),
						   .flow = id,
						   .swapped = r->swapped};
}

void qp_tp_batcher_flush(struct qp_tp_batcher *b, uint64_t watermark, uint64_t dropped)
{
	b->dropped = dropped;
	emit(b, watermark);
}
