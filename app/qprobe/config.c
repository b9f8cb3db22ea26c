/*
 * config: see config.h. Each checker takes the JSON path of the value it
 * looks at, so every message can say where the mistake is.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <pcap/pcap.h>

#include "jcheck.h"
#include "qp_acl.h"

static void measurement(struct jc *c, const char *path, json_t *m, struct meas_params *p)
{
	static const char *const keys[] = {"description", "filter", "interval_ms", "metrics",
					   "idle_timeout_s", "active_timeout_s", "max_flows",
					   "rtp_ports", "rtp_clock_hz", "destinations", NULL};
	if (!json_is_object(m)) {
		jc_bad(c, path, "an object is expected");
		return;
	}
	jc_known_keys(c, path, m, keys);
	long long v;
	jc_str(c, path, m, "description", p->desc, sizeof(p->desc));
	jc_str(c, path, m, "filter", p->filter, sizeof(p->filter));
	if (p->filter[0]) {
		/* libpcap decides what a filter is, before anything starts */
		pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
		struct bpf_program prog;
		char fp[300];
		snprintf(fp, sizeof(fp), "%s.filter", path);
		if (dead && pcap_compile(dead, &prog, p->filter, 1, PCAP_NETMASK_UNKNOWN) != 0)
			jc_bad(c, fp, "not a tcpdump filter: %s", pcap_geterr(dead));
		else if (dead)
			pcap_freecode(&prog);
		if (dead)
			pcap_close(dead);
	}
	if (jc_int(c, path, m, "interval_ms", 50, 3600000, &v))
		p->interval_ns = (uint64_t)v * 1000000ULL;
	if (jc_int(c, path, m, "idle_timeout_s", 1, 86400, &v))
		p->idle_ns = (uint64_t)v * 1000000000ULL;
	if (jc_int(c, path, m, "active_timeout_s", 0, 86400, &v))
		p->active_ns = (uint64_t)v * 1000000000ULL;
	if (jc_int(c, path, m, "max_flows", 16, 16777216, &v))
		p->max_flows = (uint32_t)v;
	if (jc_int(c, path, m, "rtp_clock_hz", 1000, 1000000, &v))
		p->rtp.dynamic_clock_hz = (uint32_t)v;
	char sp[300];
	json_t *a = json_object_get(m, "metrics");
	if (a) {
		snprintf(sp, sizeof(sp), "%s.metrics", path);
		uint32_t on = 0;
		size_t i;
		json_t *x;
		if (!json_is_array(a))
			jc_bad(c, sp, "an array of \"tcp\", \"rtp\", \"icmp\", \"traffic\" is expected");
		json_array_foreach(a, i, x) {
			const char *s = json_string_value(x);
			if (s && !strcmp(s, "tcp"))
				on |= QP_METRICS_TCP;
			else if (s && !strcmp(s, "rtp"))
				on |= QP_METRICS_RTP;
			else if (s && !strcmp(s, "icmp"))
				on |= QP_METRICS_ICMP;
			else if (!s || strcmp(s, "traffic")) {
				char ep[340];
				snprintf(ep, sizeof(ep), "%s[%zu]", sp, i);
				jc_bad(c, ep, "one of \"traffic\", \"tcp\", \"rtp\", \"icmp\" is expected");
			}
		}
		p->metrics_off = ~on & (QP_METRICS_TCP | QP_METRICS_RTP | QP_METRICS_ICMP);
	}
	a = json_object_get(m, "rtp_ports");
	if (a) {
		snprintf(sp, sizeof(sp), "%s.rtp_ports", path);
		json_int_t lo = json_integer_value(json_array_get(a, 0));
		json_int_t hi = json_integer_value(json_array_get(a, 1));
		if (!json_is_array(a) || json_array_size(a) != 2 || !json_is_integer(json_array_get(a, 0)) ||
		    !json_is_integer(json_array_get(a, 1)) || lo < 1 || hi > 65535 || lo > hi)
			jc_bad(c, sp, "[low, high], ports from 1 to 65535 with low <= high, is expected");
		else {
			p->rtp.port_lo = (uint16_t)lo;
			p->rtp.port_hi = (uint16_t)hi;
		}
	}
	a = json_object_get(m, "destinations");
	if (a) {
		snprintf(sp, sizeof(sp), "%s.destinations", path);
		if (!json_is_array(a) || json_array_size(a) > MEAS_DEST_MAX) {
			jc_bad(c, sp, "an array of at most %d \"host:port\" strings is expected", MEAS_DEST_MAX);
		} else {
			size_t i;
			json_t *x;
			json_array_foreach(a, i, x) {
				const char *s = json_string_value(x);
				char ep[340];
				snprintf(ep, sizeof(ep), "%s[%zu]", sp, i);
				if (!s || meas_dest_check(s))
					jc_bad(c, ep, "\"host:port\" is expected (e.g. \"192.0.2.5:8179\", "
						   "\"[2001:db8::5]:8179\")");
				else
					snprintf(p->dest[p->ndest++], sizeof(p->dest[0]), "%s", s);
			}
		}
	}
}

int config_load(const char *path, const struct qprobe_opts *o, struct config *cfg)
{
	struct jc c = {path, 0};
	memset(cfg, 0, sizeof(*cfg));
	cfg->qmcp_port = -1;
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		fprintf(stderr, "qprobe: %s: line %d column %d: %s\n", path, je.line, je.column, je.text);
		return 1;
	}
	if (!json_is_object(root)) {
		jc_bad(&c, "$", "an object is expected");
		json_decref(root);
		return c.errors;
	}
	static const char *const top[] = {"probe", "qmcp", "measurements", NULL};
	jc_known_keys(&c, "$", root, top);
	json_t *p = json_object_get(root, "probe");
	if (p) {
		static const char *const keys[] = {"id", "name", NULL};
		if (!json_is_object(p))
			jc_bad(&c, "$.probe", "an object is expected");
		jc_known_keys(&c, "$.probe", p, keys);
		jc_str(&c, "$.probe", p, "id", cfg->probe_id, sizeof(cfg->probe_id));
		jc_str(&c, "$.probe", p, "name", cfg->probe_name, sizeof(cfg->probe_name));
	}
	json_t *q = json_object_get(root, "qmcp");
	if (q) {
		static const char *const keys[] = {"addr", "port", "allow", "secret_file", NULL};
		if (!json_is_object(q))
			jc_bad(&c, "$.qmcp", "an object is expected");
		jc_known_keys(&c, "$.qmcp", q, keys);
		jc_str(&c, "$.qmcp", q, "addr", cfg->qmcp_addr, sizeof(cfg->qmcp_addr));
		jc_str(&c, "$.qmcp", q, "secret_file", cfg->secret_file, sizeof(cfg->secret_file));
		long long v;
		if (jc_int(&c, "$.qmcp", q, "port", 0, 65535, &v))
			cfg->qmcp_port = (int)v;
		json_t *a = json_object_get(q, "allow");
		if (a) {
			size_t i;
			json_t *x;
			if (!json_is_array(a) || json_array_size(a) == 0)
				jc_bad(&c, "$.qmcp.allow", "a non-empty array of CIDR strings is expected");
			json_array_foreach(a, i, x) {
				char ep[64], err[300];
				snprintf(ep, sizeof(ep), "$.qmcp.allow[%zu]", i);
				struct qp_acl acl = {0};
				if (!json_is_string(x)) {
					jc_bad(&c, ep, "a CIDR string is expected (e.g. \"10.0.0.0/8\")");
				} else if (qp_acl_add(&acl, json_string_value(x), err, sizeof(err))) {
					jc_bad(&c, ep, "%s", err);
				} else {
					size_t l = strlen(cfg->allow);
					snprintf(cfg->allow + l, sizeof(cfg->allow) - l, "%s%s", l ? "," : "",
						 json_string_value(x));
				}
			}
		}
	}
	json_t *ms = json_object_get(root, "measurements");
	if (ms) {
		if (!json_is_array(ms) || json_array_size(ms) > CONFIG_MEAS_MAX)
			jc_bad(&c, "$.measurements", "an array of at most %d measurement objects is expected",
			    CONFIG_MEAS_MAX);
		else {
			size_t i;
			json_t *m;
			json_array_foreach(ms, i, m) {
				char mp[64];
				snprintf(mp, sizeof(mp), "$.measurements[%zu]", i);
				struct meas_params *mp_ = &cfg->meas[cfg->nmeas++];
				memset(mp_, 0, sizeof(*mp_));
				qp_sig_cfg_default(&mp_->tp.sig);
				mp_->interval_ns = 1000000000ULL;
				mp_->idle_ns = o->idle_ns;
				mp_->active_ns = o->active_ns;
				mp_->max_flows = o->meas_max_flows;
				mp_->rtp = o->rtp;
				mp_->persist = 1;
				measurement(&c, mp, m, mp_);
			}
		}
	}
	json_decref(root);
	return c.errors;
}
