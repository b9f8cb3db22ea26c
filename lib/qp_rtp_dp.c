/*
 * qp_rtp_dp: see qp_rtp_dp.h. Sequence numbers follow RFC 3550 A.1
 * (update_seq: MAX_DROPOUT 3000, MAX_MISORDER 100) extended with a 64-packet
 * bitmap that tells a duplicate from a late packet.
 */
#include "qp_rtp_dp.h"

#include <math.h>

#define MAX_DROPOUT 3000
#define MAX_MISORDER 100
#define SEQ_MOD QP_RTP_SEQ_MOD

uint32_t qp_rtp_clock(uint8_t pt)
{
	switch (pt) {
	case 0: case 3: case 4: case 5: case 7: case 8: case 9: case 12: case 13: case 15:
	case 18:
		return 8000;
	case 6: return 16000;
	case 10: case 11: return 44100;
	case 16: return 11025;
	case 17: return 22050;
	case 14: case 25: case 26: case 28: case 31: case 32: case 33: case 34:
		return 90000;
	default: return 0;
	}
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An RTP header that holds together; fills ssrc, seq, ts, pt. */
static int rtp_header(const uint8_t *p, uint32_t cap, uint32_t *ssrc, uint16_t *seq, uint32_t *ts,
		      uint8_t *pt)
{
	if (cap < 12 || (p[0] >> 6) != 2)
		return 0;
	uint8_t t = p[1] & 0x7f;
	if (t >= 72 && t <= 76) /* RTCP SR/RR/SDES/BYE/APP with the marker bit */
		return 0;
	/* RTCP multiplexed on the RTP port (RFC 5761): packet types 192-223,
	 * feedback (205, 206) and extended reports (207) included */
	if (p[1] >= 192 && p[1] <= 223)
		return 0;
	uint32_t hl = 12 + 4u * (p[0] & 0x0f);
	if (hl > cap)
		return 0;
	if (p[0] & 0x10) { /* header extension */
		if (hl + 4 > cap || hl + 4 + 4u * rd16(p + hl + 2) > cap)
			return 0;
	}
	*pt = t;
	*seq = rd16(p + 2);
	*ts = rd32(p + 4);
	*ssrc = rd32(p + 8);
	return 1;
}

static void start_stream(struct qp_rtp_dir *r, uint16_t first_seq, uint16_t seq, uint32_t count)
{
	r->state = 2;
	r->base_seq = first_seq;
	r->max_seq = seq;
	/* probation may have crossed the wrap (first 65533, now 6): one cycle */
	r->cycles = seq < first_seq ? SEQ_MOD : 0;
	r->bad_seq = SEQ_MOD + 1;
	r->received = count;
	r->seen = count >= 64 ? ~0ULL : ((1ULL << count) - 1);
}

/* RFC 3550 A.1 update_seq, with duplicates told apart. */
static void update_seq(struct qp_rtp_dir *r, uint16_t seq)
{
	uint16_t udelta = (uint16_t)(seq - r->max_seq);
	if (udelta == 0) {
		r->dups++;
		return;
	}
	if (udelta < MAX_DROPOUT) {
		if (seq < r->max_seq)
			r->cycles += SEQ_MOD;
		r->seen = udelta >= 64 ? 1 : (r->seen << udelta) | 1;
		r->max_seq = seq;
		r->received++;
		return;
	}
	if (udelta <= SEQ_MOD - MAX_MISORDER) {
		/* a very large jump: a restarted sender, taken after two in a row */
		if (seq == r->bad_seq) {
			/* resynchronise; expected and received go on from where they
			 * were, so the jump itself is not counted as loss */
			uint32_t expected = qp_rtp_expected(r);
			if (r->jumps < UINT16_MAX)
				r->jumps++;
			r->max_seq = seq;
			r->cycles = 0;
			r->base_seq = (uint32_t)seq - expected;
			r->bad_seq = SEQ_MOD + 1;
			r->seen = 1;
			r->received++;
		} else {
			r->bad_seq = (seq + 1u) & (SEQ_MOD - 1);
		}
		return;
	}
	/* behind max_seq: late, or a duplicate of one already counted */
	uint16_t back = (uint16_t)(r->max_seq - seq);
	if (back < 64) {
		if (r->seen & (1ULL << back)) {
			r->dups++;
			return;
		}
		r->seen |= 1ULL << back;
	}
	r->ooo++;
	r->received++;
}

static void update_jitter(struct qp_rtp_dir *r, uint32_t rtp_ts, uint64_t ts)
{
	qp_rtp_jitter_step(r, rtp_ts, ts);
}

static void rtp_packet(struct qp_rtp_dir *r, const uint8_t *payload, uint32_t cap, int ports_match,
		       uint64_t ts, const struct qp_rtp_cfg *cfg);

void qp_rtp_update_slow(struct qp_rtp_dir *r, const uint8_t *payload, uint32_t cap, int ports_match,
			uint64_t ts, const struct qp_rtp_cfg *cfg, struct qp_rtp_event *ev)
{
	if (r->state != 2 && (!payload || cap < 12 || (payload[0] >> 6) != 2)) {
		/* most UDP is not RTP: out before any bookkeeping (the version bits
		 * are checked again in rtp_header()) */
		ev->received = ev->expected = 0;
		ev->has_jitter = 0;
		ev->jitter_n = 0;
		return;
	}
	uint32_t exp0 = qp_rtp_expected(r), rec0 = r->state == 2 ? r->received : 0;
	uint32_t jn0 = r->jitter_n;
	int was_stream = r->state == 2;
	ev->has_jitter = 0;
	ev->jitter_n = 0;
	rtp_packet(r, payload, cap, ports_match, ts, cfg);
	if (r->state != 2) {
		ev->received = ev->expected = 0;
		return;
	}
	ev->expected = qp_rtp_expected(r) - exp0;
	ev->received = r->received - rec0;
	if (was_stream) {
		qp_rtp_jitter_event(r, jn0, ev);
	} else if (r->jitter_n != jn0 && r->clock_hz) {
		ev->has_jitter = 1;
		ev->jitter_ns = (uint64_t)(r->jitter / r->clock_hz * 1e9);
		ev->jitter_n = r->jitter_n;
		ev->jitter_sum = r->jitter_sum;
		ev->jitter_max = r->jitter_max;
	}
}

/* A payload type's clock: RFC 3551's, the SDP's for a dynamic one, else the configured. */
static uint32_t clock_of(uint8_t pt, const struct qp_rtp_cfg *cfg)
{
	uint32_t clock = qp_rtp_clock(pt);
	if (clock || pt < 96)
		return clock;
	for (unsigned int i = 0; cfg->map && i < cfg->map->n; i++)
		if (cfg->map->pt[i] == pt)
			return cfg->map->clock_hz[i];
	return cfg->dynamic_clock_hz;
}

static void rtp_packet(struct qp_rtp_dir *r, const uint8_t *payload, uint32_t cap, int ports_match,
		       uint64_t ts, const struct qp_rtp_cfg *cfg)
{
	uint32_t ssrc, rtp_ts;
	uint16_t seq;
	uint8_t pt;
	if (!payload || !rtp_header(payload, cap, &ssrc, &seq, &rtp_ts, &pt))
		return;
	if (r->state == 2) {
		if (ssrc != r->ssrc)
			return; /* another stream in the same direction: not followed */
		update_seq(r, seq);
		if (pt != r->pt) {
			/* a telephone event or comfort noise shares the sequence but not
			 * the timeline; a run of another type is a codec switch */
			r->other_pt++;
			r->run = pt == r->run_pt && r->run < UINT8_MAX ? (uint8_t)(r->run + 1) : 1;
			r->run_pt = pt;
			if (pt == 13 || pt == 19 || r->run < QP_RTP_PT_SWITCH)
				return;
			r->pt = pt;
			r->clock_hz = clock_of(pt, cfg);
			r->have_prev = 0; /* the estimator starts again on the new clock */
			r->run = 0;
		}
		r->run = 0;
		update_jitter(r, rtp_ts, ts);
		return;
	}
	uint32_t clock = clock_of(pt, cfg);
	if (r->state == 1 && ssrc == r->ssrc && pt == r->pt && seq == (uint16_t)(r->max_seq + 1)) {
		r->probation++;
		r->max_seq = seq;
	} else {
		/* a new candidate: this packet starts it; its jitter starts here */
		r->state = 1;
		r->ssrc = ssrc;
		r->pt = pt;
		r->probation = 1;
		r->max_seq = seq;
		r->base_seq = seq;
		r->clock_hz = clock;
		r->have_prev = 0;
		r->jitter = r->jitter_sum = r->jitter_max = 0;
		r->jitter_n = 0;
	}
	update_jitter(r, rtp_ts, ts);
	if (ports_match || r->probation >= QP_RTP_PROBATION)
		start_stream(r, (uint16_t)r->base_seq, seq, r->probation);
}

void qp_rtp_restart(struct qp_rtp_dir *r)
{
	if (r->state != 2)
		return;
	r->base_seq = (uint32_t)r->cycles + r->max_seq + 1;
	r->received = r->dups = r->ooo = r->jumps = 0;
	r->other_pt = 0;
	r->ts_jumps = 0;
	r->jitter_sum = r->jitter_max = 0;
	r->jitter_n = 0;
}

uint32_t qp_rtp_expected(const struct qp_rtp_dir *r)
{
	if (r->state != 2)
		return 0;
	return r->cycles + r->max_seq - r->base_seq + 1;
}

uint32_t qp_rtp_lost(const struct qp_rtp_dir *r)
{
	uint32_t e = qp_rtp_expected(r);
	return e > r->received ? e - r->received : 0;
}

double qp_rtp_jitter_ms(const struct qp_rtp_dir *r, double units)
{
	return r->clock_hz ? units / r->clock_hz * 1000.0 : 0;
}

/* Equipment impairment Ie and packet-loss robustness Bpl (ITU-T G.113 App. I). */
static void codec(uint8_t pt, double *ie, double *bpl)
{
	switch (pt) {
	case 18: *ie = 11; *bpl = 19.0; break;   /* G.729A + VAD */
	case 4: *ie = 15; *bpl = 16.1; break;    /* G.723.1 6.3 kbit/s */
	case 3: *ie = 20; *bpl = 10.0; break;    /* GSM full rate (no Bpl in G.113: assumed) */
	default: *ie = 0; *bpl = 25.1; break;    /* G.711 with packet loss concealment */
	}
}

double qp_rtp_mos_of(uint8_t pt, uint32_t expected, uint32_t lost, double mean_jitter_ms,
		     const struct qp_rtp_cfg *cfg)
{
	double ie, bpl;
	codec(pt, &ie, &bpl);
	double ppl = expected ? 100.0 * (lost < expected ? lost : expected) / expected : 0;
	double ta = 20.0 + 2 * mean_jitter_ms + cfg->network_delay_ms;
	double id = 0.024 * ta + (ta > 177.3 ? 0.11 * (ta - 177.3) : 0);
	double ie_eff = ie + (95 - ie) * ppl / (ppl + bpl); /* random loss: BurstR = 1 */
	double rr = 93.2 - id - ie_eff;
	if (rr <= 0)
		return 1.0;
	if (rr >= 100)
		return 4.5;
	return 1 + 0.035 * rr + rr * (rr - 60) * (100 - rr) * 7e-6;
}

double qp_rtp_mos(const struct qp_rtp_dir *r, const struct qp_rtp_cfg *cfg)
{
	double mean_jit = r->jitter_n ? qp_rtp_jitter_ms(r, r->jitter_sum / r->jitter_n) : 0;
	return qp_rtp_mos_of(r->pt, qp_rtp_expected(r), qp_rtp_lost(r), mean_jit, cfg);
}
