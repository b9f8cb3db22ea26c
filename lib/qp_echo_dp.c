/*
 * qp_echo_dp: see qp_echo_dp.h.
 */
#include "qp_echo_dp.h"

int qp_echo_update(struct qp_echo *e, const struct qp_pkt *pk, unsigned int dir, uint64_t ts,
		   uint64_t *rtt, unsigned int *req_dir)
{
	int v6 = pk->key.proto == 58;
	uint8_t req = v6 ? 128 : 8, rep = v6 ? 129 : 0;
	if (pk->icmp_type == req) {
		e->requests[dir]++;
		e->out[e->next].id = pk->icmp_id;
		e->out[e->next].seq = pk->icmp_seq;
		e->out[e->next].dir = (uint8_t)dir;
		e->out[e->next].used = 1;
		e->out[e->next].ns = ts;
		e->next = (uint8_t)((e->next + 1) % QP_ECHO_OUT);
		return 0;
	}
	if (pk->icmp_type != rep)
		return 0;
	e->replies[dir]++;
	for (unsigned int i = 0; i < QP_ECHO_OUT; i++) {
		if (!e->out[i].used || e->out[i].dir == dir || e->out[i].id != pk->icmp_id ||
		    e->out[i].seq != pk->icmp_seq)
			continue;
		e->out[i].used = 0; /* a duplicated reply gives no second sample */
		if (ts < e->out[i].ns)
			return 0;
		*rtt = ts - e->out[i].ns;
		*req_dir = e->out[i].dir;
		qp_stat_add(&e->rtt[*req_dir], *rtt);
		return 1;
	}
	return 0;
}
