/*
 * config: see config.h. Each checker takes the JSON path of the value it
 * looks at, so every message can say where the mistake is.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <pcap/pcap.h>

#include "jcheck.h"
#include "profile.h"
#include "qmcp_auth.h"
#include "qmcp_tls.h"
#include "qp_acl.h"
#include "qp_ipfix.h"
#include "qp_webcfg.h"

static void measurement(struct jc *c, const char *path, json_t *m, struct meas_params *p)
{
	static const char *const keys[] = {"description", "filter", "interval_ms", "metrics",
					   "idle_timeout_s", "active_timeout_s", "max_flows",
					   "rtp_ports", "dns_ports", "tls_sni", "rtp_clock_hz", "destinations", "flow_key",
					   "ipfix", "packet_rate", NULL};
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
	json_t *a = json_object_get(m, "flow_key");
	if (a) {
		snprintf(sp, sizeof(sp), "%s.flow_key", path);
		char why[400];
		if (!json_is_string(a))
			jc_bad(c, sp, "a string is expected: %s", QP_FLOW_KEY_SYNTAX);
		else if (qp_flow_key_parts_parse(json_string_value(a), &p->flow_key, why, sizeof(why)))
			jc_bad(c, sp, "%s", why);
	}
	a = json_object_get(m, "metrics");
	if (a) {
		snprintf(sp, sizeof(sp), "%s.metrics", path);
		uint32_t on = 0;
		size_t i;
		json_t *x;
		if (!json_is_array(a))
			jc_bad(c, sp, "an array of metric families (" QP_METRIC_NAMES ") is expected");
		json_array_foreach(a, i, x) {
			const char *s = json_string_value(x);
			int b = s ? qp_metrics_family(s) : -1;
			if (b >= 0)
				on |= (uint32_t)b;
			else {
				char ep[340];
				snprintf(ep, sizeof(ep), "%s[%zu]", sp, i);
				jc_bad(c, ep, "one of " QP_METRIC_NAMES " is expected");
			}
		}
		p->metrics_off = ~on & QP_METRICS_ALL;
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
	a = json_object_get(m, "dns_ports");
	if (a) {
		snprintf(sp, sizeof(sp), "%s.dns_ports", path);
		size_t i, n = json_array_size(a);
		json_t *x;
		int ok = json_is_array(a) && n >= 1 && n <= QP_DNS_PORTS;
		json_array_foreach(a, i, x) {
			json_int_t v = json_integer_value(x);
			ok = ok && json_is_integer(x) && v >= 1 && v <= 65535;
		}
		if (!ok)
			jc_bad(c, sp, "an array of 1 to %d ports from 1 to 65535 is expected", QP_DNS_PORTS);
		else {
			memset(p->dns_ports, 0, sizeof(p->dns_ports));
			json_array_foreach(a, i, x)
				p->dns_ports[i] = (uint16_t)json_integer_value(x);
		}
	}
	a = json_object_get(m, "tls_sni");
	if (a) {
		snprintf(sp, sizeof(sp), "%s.tls_sni", path);
		if (!json_is_boolean(a))
			jc_bad(c, sp, "true or false is expected");
		else
			p->tls_sni = json_is_true(a);
	}
	a = json_object_get(m, "packet_rate");
	if (a) {
		snprintf(sp, sizeof(sp), "%s.packet_rate", path);
		json_int_t v = json_integer_value(a);
		if (!json_is_integer(a) || v < 1 || v > QP_PRES_RATE_MAX)
			jc_bad(c, sp, "packet results: 1 to %d records a second are expected", QP_PRES_RATE_MAX);
		else
			p->packet_rate = (uint32_t)v;
	}
	a = json_object_get(m, "ipfix");
	if (a) {
		snprintf(sp, sizeof(sp), "%s.ipfix", path);
		if (!json_is_array(a) || json_array_size(a) > IPX_MAX) {
			jc_bad(c, sp, "an array of at most %d \"%s\" strings is expected", IPX_MAX,
			       QP_IPFIX_SYNTAX);
		} else {
			size_t i;
			json_t *x;
			json_array_foreach(a, i, x) {
				const char *s = json_string_value(x);
				char ep[340], host[256], why[400];
				uint16_t port;
				enum qp_ipfix_transport t;
				snprintf(ep, sizeof(ep), "%s[%zu]", sp, i);
				if (!s)
					jc_bad(c, ep, "a string is expected: %s", QP_IPFIX_SYNTAX);
				else if (qp_ipfix_spec_parse(s, host, sizeof(host), &port, &t, why,
							     sizeof(why)))
					jc_bad(c, ep, "%s", why);
				else
					snprintf(p->ipfix[p->nipfix++], sizeof(p->ipfix[0]), "%s", s);
			}
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

/* An array of strings, each checked by ok (NULL: any non-empty string). */
static int str_array(struct jc *c, const char *path, json_t *a, char *out, size_t each, int max,
		     int (*ok)(const char *), const char *what)
{
	if (!json_is_array(a) || (int)json_array_size(a) > max) {
		jc_bad(c, path, "an array of at most %d %s is expected", max, what);
		return 0;
	}
	int n = 0;
	size_t i;
	json_t *x;
	json_array_foreach(a, i, x) {
		char ep[300];
		snprintf(ep, sizeof(ep), "%s[%zu]", path, i);
		const char *v = json_string_value(x);
		if (!v || !v[0] || strlen(v) >= each || (ok && !ok(v)))
			jc_bad(c, ep, "%s is expected", what);
		else
			snprintf(out + (size_t)n++ * each, each, "%s", v);
	}
	return n;
}

/* A PCI address: DDDD:BB:DD.F (the domain may be left out). */
static int pci_ok(const char *s)
{
	unsigned int d, b, dv, f;
	char x;
	return sscanf(s, "%4x:%2x:%2x.%1x%c", &d, &b, &dv, &f, &x) == 4 ||
	       sscanf(s, "%2x:%2x.%1x%c", &b, &dv, &f, &x) == 3;
}

/* EAL's lcore list syntax, as far as characters go; EAL judges the rest. */
static int lcores_ok(const char *s)
{
	return s[strspn(s, "0123456789,-@()")] == '\0';
}

/* An EAL option, starting with '-' and without a space. */
static int eal_opt_ok(const char *s)
{
	return s[0] == '-' && !strchr(s, ' ');
}

static void dpdk_section(struct jc *c, json_t *d, struct config_dpdk *e)
{
	static const char *const keys[] = {"lcores", "ports", "vdevs", "hugepages", "memory_mb",
					   "file_prefix", "extra", NULL};
	if (!json_is_object(d)) {
		jc_bad(c, "$.dpdk", "an object is expected");
		return;
	}
	e->given = 1;
	e->hugepages = 1;
	jc_known_keys(c, "$.dpdk", d, keys);
	jc_str(c, "$.dpdk", d, "lcores", e->lcores, sizeof(e->lcores));
	if (e->lcores[0] && !lcores_ok(e->lcores))
		jc_bad(c, "$.dpdk.lcores", "an EAL lcore list is expected, e.g. \"0-3\" or \"0,2,4\"");
	if (!e->lcores[0])
		jc_bad(c, "$.dpdk.lcores", "required: the management lcore and at least one worker, e.g. \"0-1\"");
	json_t *a = json_object_get(d, "ports");
	if (a)
		e->nports = str_array(c, "$.dpdk.ports", a, e->ports[0], sizeof(e->ports[0]),
				      CONFIG_PORTS_MAX, pci_ok, "PCI addresses (\"0000:3b:00.0\")");
	a = json_object_get(d, "vdevs");
	if (a)
		e->nvdevs = str_array(c, "$.dpdk.vdevs", a, e->vdevs[0], sizeof(e->vdevs[0]),
				      CONFIG_PORTS_MAX, NULL, "virtual devices (\"net_pcap0,iface=eth1\")");
	if (!e->nports && !e->nvdevs)
		jc_bad(c, "$.dpdk", "no port: give \"ports\" (PCI addresses bound to DPDK) or \"vdevs\"");
	jc_bool(c, "$.dpdk", d, "hugepages", &e->hugepages);
	jc_int(c, "$.dpdk", d, "memory_mb", 64, 1 << 20, &e->memory_mb);
	if (!e->hugepages && !e->memory_mb)
		e->memory_mb = 1024;
	jc_str(c, "$.dpdk", d, "file_prefix", e->file_prefix, sizeof(e->file_prefix));
	if (strchr(e->file_prefix, '/') || strchr(e->file_prefix, ' '))
		jc_bad(c, "$.dpdk.file_prefix", "a name without '/' or spaces is expected");
	a = json_object_get(d, "extra");
	if (a)
		e->nextra = str_array(c, "$.dpdk.extra", a, e->extra[0], sizeof(e->extra[0]),
				      CONFIG_EXTRA_MAX, eal_opt_ok,
				      "EAL options, one per string (\"--iova-mode=va\")");
}

int config_eal_args(const struct config *cfg, const char *argv0, char **argv, int max)
{
	const struct config_dpdk *e = &cfg->dpdk;
	static char mem[32], lvl[48];
	if (!e->given)
		return -1;
	int n = 0;
#define ADD(x) do { if (n < max - 1) argv[n++] = (char *)(x); } while (0)
	ADD(argv0);
	ADD("--lcores");
	ADD(e->lcores);
	for (int i = 0; i < e->nports; i++) {
		ADD("-a");
		ADD(e->ports[i]);
	}
	if (!e->nports)
		ADD("--no-pci");
	for (int i = 0; i < e->nvdevs; i++) {
		ADD("--vdev");
		ADD(e->vdevs[i]);
	}
	if (!e->hugepages)
		ADD("--no-huge");
	if (e->memory_mb) {
		snprintf(mem, sizeof(mem), "%lld", e->memory_mb);
		ADD("-m");
		ADD(mem);
	}
	if (e->file_prefix[0]) {
		ADD("--file-prefix");
		ADD(e->file_prefix);
	} else if (!e->hugepages) {
		ADD("--no-shconf");
	}
	if (cfg->log_level[0]) {
		/* DPDK's own info lines are many: its warnings at qprobe's info */
		snprintf(lvl, sizeof(lvl), "--log-level=%s",
			 !strcmp(cfg->log_level, "debug") ? "debug"
			 : !strcmp(cfg->log_level, "error") ? "error" : "warning");
		ADD(lvl);
	}
	for (int i = 0; i < e->nextra; i++)
		ADD(e->extra[i]);
#undef ADD
	argv[n] = NULL;
	return n;
}

/* An allow-list (a non-empty array of CIDR strings) at path, as one comma-separated text. */
static void allow_list(struct jc *c, const char *path, json_t *a, char *out, size_t outlen)
{
	if (!a)
		return;
	size_t i;
	json_t *x;
	if (!json_is_array(a) || json_array_size(a) == 0)
		jc_bad(c, path, "a non-empty array of CIDR strings is expected");
	json_array_foreach(a, i, x) {
		char ep[64], err[300];
		snprintf(ep, sizeof(ep), "%s[%zu]", path, i);
		struct qp_acl acl = {0};
		if (!json_is_string(x)) {
			jc_bad(c, ep, "a CIDR string is expected (e.g. \"10.0.0.0/8\")");
		} else if (qp_acl_add(&acl, json_string_value(x), err, sizeof(err))) {
			jc_bad(c, ep, "%s", err);
		} else {
			size_t l = strlen(out);
			snprintf(out + l, outlen - l, "%s%s", l ? "," : "", json_string_value(x));
		}
	}
}

int config_load(const char *path, const struct qprobe_opts *o, struct config *cfg)
{
	struct jc c = {path, 0};
	memset(cfg, 0, sizeof(*cfg));
	cfg->qmcp_port = -1;
	cfg->http_port = -1;
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
	static const char *const top[] = {"probe", "dpdk", "http", "flows", "ports", "log_level",
					  "qmcp", "measurements", "push", "ipfix", NULL};
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
	json_t *d = json_object_get(root, "dpdk");
	if (d)
		dpdk_section(&c, d, &cfg->dpdk);
	json_t *h = json_object_get(root, "http");
	if (h) {
		static const char *const keys[] = {"addr", "port", "allow", "web_config", NULL};
		if (!json_is_object(h))
			jc_bad(&c, "$.http", "an object is expected");
		jc_known_keys(&c, "$.http", h, keys);
		jc_str(&c, "$.http", h, "addr", cfg->http_addr, sizeof(cfg->http_addr));
		long long v;
		if (jc_int(&c, "$.http", h, "port", 0, 65535, &v))
			cfg->http_port = (int)v;
		allow_list(&c, "$.http.allow", json_object_get(h, "allow"), cfg->http_allow,
			   sizeof(cfg->http_allow));
		jc_str(&c, "$.http", h, "web_config", cfg->web_config, sizeof(cfg->web_config));
		if (cfg->web_config[0]) {
			struct qp_http_security sec;
			char err[512];
			if (qp_webcfg_load(cfg->web_config, &sec, err, sizeof(err)))
				jc_bad(&c, "$.http.web_config", "%s", err);
			else
				qp_webcfg_free(&sec);
		}
	}
	json_t *ix = json_object_get(root, "ipfix");
	if (ix) {
		static const char *const keys[] = {"domain", NULL};
		if (!json_is_object(ix))
			jc_bad(&c, "$.ipfix", "an object is expected");
		jc_known_keys(&c, "$.ipfix", ix, keys);
		long long v;
		if (jc_int(&c, "$.ipfix", ix, "domain", 0, 4294967295LL, &v))
			cfg->ipfix_domain = (uint32_t)v;
	}
	json_t *pu = json_object_get(root, "push");
	if (pu) {
		static const char *const keys[] = {"spool", "spool_mb", NULL};
		if (!json_is_object(pu))
			jc_bad(&c, "$.push", "an object is expected");
		jc_known_keys(&c, "$.push", pu, keys);
		jc_str(&c, "$.push", pu, "spool", cfg->spool, sizeof(cfg->spool));
		long long v;
		if (jc_int(&c, "$.push", pu, "spool_mb", 1, 1048576, &v))
			cfg->spool_mb = (uint32_t)v;
	}
	json_t *fl = json_object_get(root, "flows");
	if (fl) {
		static const char *const keys[] = {"max_flows", "flow_budget", NULL};
		if (!json_is_object(fl))
			jc_bad(&c, "$.flows", "an object is expected");
		jc_known_keys(&c, "$.flows", fl, keys);
		long long v;
		if (jc_int(&c, "$.flows", fl, "max_flows", 16, 16777216, &v))
			cfg->max_flows = (uint32_t)v;
		if (jc_int(&c, "$.flows", fl, "flow_budget", 16, QP_FLOW_TABLE_MAX, &v))
			cfg->flow_budget = (uint64_t)v;

	}
	json_t *pt = json_object_get(root, "ports");
	if (pt) {
		static const char *const keys[] = {"mbufs", "rx_desc", "drivers_cfg", NULL};
		if (!json_is_object(pt))
			jc_bad(&c, "$.ports", "an object is expected");
		jc_known_keys(&c, "$.ports", pt, keys);
		long long v;
		if (jc_int(&c, "$.ports", pt, "mbufs", 1023, 16777215, &v))
			cfg->mbufs = (uint32_t)v;
		if (jc_int(&c, "$.ports", pt, "rx_desc", 64, 32768, &v))
			cfg->rx_desc = (uint32_t)v;
		jc_str(&c, "$.ports", pt, "drivers_cfg", cfg->drivers_cfg, sizeof(cfg->drivers_cfg));
		if (cfg->drivers_cfg[0]) {
			int nf = 0;
			DIR *dd = opendir(cfg->drivers_cfg);
			if (!dd)
				jc_bad(&c, "$.ports.drivers_cfg", "%s is not a readable directory of NIC profiles",
				       cfg->drivers_cfg);
			else if (closedir(dd), profile_check_dir(cfg->drivers_cfg, &nf))
				jc_bad(&c, "$.ports.drivers_cfg", "the NIC profiles there have errors (above)");
		}
	}
	jc_str(&c, "$", root, "log_level", cfg->log_level, sizeof(cfg->log_level));
	if (cfg->log_level[0] && strcmp(cfg->log_level, "error") && strcmp(cfg->log_level, "warning") &&
	    strcmp(cfg->log_level, "info") && strcmp(cfg->log_level, "debug"))
		jc_bad(&c, "$.log_level", "one of error, warning, info, debug is expected");
	json_t *q = json_object_get(root, "qmcp");
	if (q) {
		static const char *const keys[] = {"addr", "port", "allow", "secret_file", "tls_cert",
						   "tls_key", "tls_only", "tls_ca", "capture_ceiling_bps", NULL};
		if (!json_is_object(q))
			jc_bad(&c, "$.qmcp", "an object is expected");
		jc_known_keys(&c, "$.qmcp", q, keys);
		jc_str(&c, "$.qmcp", q, "addr", cfg->qmcp_addr, sizeof(cfg->qmcp_addr));
		jc_str(&c, "$.qmcp", q, "secret_file", cfg->secret_file, sizeof(cfg->secret_file));
		jc_str(&c, "$.qmcp", q, "tls_cert", cfg->tls_cert, sizeof(cfg->tls_cert));
		jc_str(&c, "$.qmcp", q, "tls_key", cfg->tls_key, sizeof(cfg->tls_key));
		jc_str(&c, "$.qmcp", q, "tls_ca", cfg->tls_ca, sizeof(cfg->tls_ca));
		jc_bool(&c, "$.qmcp", q, "tls_only", &cfg->tls_only);
		long long cv;
		if (jc_int(&c, "$.qmcp", q, "capture_ceiling_bps", 1000, 1000000000000LL, &cv))
			cfg->capture_ceiling = (uint64_t)cv;
		if (!cfg->tls_cert[0] != !cfg->tls_key[0])
			jc_bad(&c, "$.qmcp", "tls_cert and tls_key go together");
		else if (cfg->tls_only && !cfg->tls_cert[0])
			jc_bad(&c, "$.qmcp.tls_only", "needs tls_cert and tls_key");
		if (cfg->tls_cert[0] && cfg->tls_key[0]) {
			char terr[700];
			struct qmcp_tls *t = qmcp_tls_server(cfg->tls_cert, cfg->tls_key, terr, sizeof(terr));
			if (!t)
				jc_bad(&c, "$.qmcp.tls_cert", "%s", terr);
			qmcp_tls_free(t);
		}
		if (cfg->secret_file[0]) {
			/* readable, owner-only and long enough: checked now, not at the first AUTH */
			uint8_t sec[QMCP_SECRET_MAX];
			size_t sl;
			char err[300];
			if (qmcp_secret_load(cfg->secret_file, sec, sizeof(sec), &sl, err, sizeof(err)))
				jc_bad(&c, "$.qmcp.secret_file", "%s", err);
		}
		long long v;
		if (jc_int(&c, "$.qmcp", q, "port", 0, 65535, &v))
			cfg->qmcp_port = (int)v;
		allow_list(&c, "$.qmcp.allow", json_object_get(q, "allow"), cfg->allow, sizeof(cfg->allow));
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
				mp_->max_flows = cfg->max_flows ? cfg->max_flows : o->meas_max_flows;
				mp_->rtp = o->rtp;
				memcpy(mp_->dns_ports, o->dns_ports, sizeof(mp_->dns_ports));
				mp_->tls_sni = (uint8_t)(o->tls_sni != 0);
				mp_->flow_key = o->flow_key;
				mp_->persist = 1;
				measurement(&c, mp, m, mp_);
			}
		}
	}
	json_decref(root);
	return c.errors;
}
