/*
 * qprobe: the passive QoS probe. This file reads the command line and
 * chooses the mode: offline on a capture file (--pcap), or live on DPDK
 * ports (EAL arguments, then `--`, then qprobe's own options, as every DPDK
 * application takes them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef QP_OFFLINE_ONLY
#include <rte_eal.h>
#include <rte_errno.h>
#endif
#include <limits.h>
#include <unistd.h>

#include "qp_ipfix.h"
#include "qp_offline.h"
#include "qp_report.h"
#include "qmcp_codec.h"
#include "config.h"
#include "ipfix.h"
#include "profile.h"
#include "qprobe.h"

#ifdef QP_OFFLINE_ONLY
/*
 * This program (build/qprobe) measures capture files, linked without DPDK
 * and OpenSSL: its start is half the full one's. Anything else (live
 * ports, a configuration file, its checks) is the full program's, next to
 * it: the process becomes qprobe-live, same arguments, same pid.
 */
static int run_live(char **argv)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - sizeof("qprobe-live"));
	if (n <= 0) {
		fprintf(stderr, "qprobe: cannot find where this program is (/proc/self/exe: %s), so "
				"not qprobe-live beside it either\n",
			strerror(errno));
		return QP_EXIT_RUNTIME;
	}
	path[n] = 0;
	char *slash = strrchr(path, '/');
	strcpy(slash ? slash + 1 : path, "qprobe-live");
	execv(path, argv);
	fprintf(stderr, "qprobe: live ports and configuration files are qprobe-live's, which "
			"could not be run: %s: %s (it is installed beside qprobe)\n",
		path, strerror(errno));
	return QP_EXIT_RUNTIME;
}
#endif

static void usage(FILE *out)
{
	fprintf(out,
		"qprobe %s - passive QoS measurement probe\n"
		"\n"
		"Offline, on a capture file (pcap or pcapng, us or ns):\n"
		"  qprobe --pcap FILE [options]\n"
		"Live, on DPDK ports:\n"
		"  qprobe [EAL options] -- [options]\n"
		"  e.g. qprobe -l 0,1 --no-huge -m 1024 --no-shconf \\\n"
		"         --vdev net_pcap0,rx_pcap=f.pcap -- --duration 10 --report table\n"
		"  Live, the probe measures nothing until a controller starts a measurement over\n"
		"  QMCP, unless --measure (implied by --filter, --report, --report-file) starts a\n"
		"  standing one from the options below.\n"
		"\n"
		"Options:\n"
		"  --pcap FILE           measure this capture file and exit\n"
		"  --filter EXPR         tcpdump filter: only matching frames are measured\n"
		"  --interval MS         averaging interval, ms (default 1000, at least 50)\n"
		"  --idle-timeout S      a flow with no packet for S seconds ends (default 120)\n"
		"  --active-timeout S    a flow record is exported every S seconds (default 1800, 0 = never)\n"
		"  --max-flows N         flow table size per worker lcore (default 1048576 offline,\n"
		"                        262144 for a live standing measurement)\n"
		"  --flow-rtt-dists N    flows per worker lcore whose RTT percentiles are kept (default 4096)\n"
		"  --report json|table   report format (default json)\n"
		"  --report-file PATH    write the report there instead of stdout\n"
		"  --rtp-ports LO-HI     UDP ports whose traffic is RTP without the heuristic's probation\n"
		"  --rtp-clock HZ        clock rate of dynamic RTP payload types (default 8000)\n"
		"  --mos-delay MS        one-way network delay assumed by the E-model (default 0)\n"
		"  --dns-ports LIST      UDP and TCP ports whose traffic is DNS (default 53), e.g.\n"
		"                        53,5353\n"
		"  --tls-sni             report the server name of TLS flows (personal data: off)\n"
		"  --packet-results FILE offline: a CSV line of each measured packet: its flow,\n"
		"                        size and what the metrics learned from it (docs/metrics.md)\n"
		"  --packet-rate N       packet results: at most N records a second (offline: of\n"
		"                        the capture's time, default all; live: the standing\n"
		"                        measurement's, none without it)\n"
		"  --metrics LIST        metric families, comma-separated: tcp,rtp,icmp,dns (default all;\n"
		"                        traffic counts are always kept)\n"
		"  --flow-key PARTS      what tells flows apart beside addresses, ports and protocol:\n"
		"                        vlan (innermost id), vni (VXLAN), gre-key, gtpu-peers (the\n"
		"                        GTP-U tunnel's endpoints), teid (GTP-U TEID: one flow per\n"
		"                        direction); comma-separated, or 5tuple for none\n"
		"                        (default vlan,vni,gre-key,gtpu-peers)\n"
		"Two-point, offline (A = --pcap, the primary's point; B = the secondary's):\n"
		"  --peer-pcap FILE      the secondary's capture of the same traffic: one-way delay,\n"
		"                        IPDV, PDV, loss, duplicates, reordering between A and B\n"
		"  --peer-filter EXPR    tcpdump filter for B (default: --filter), e.g. behind NAT\n"
		"  --sample RATE         hash-based selection: 1, 1/N or a fraction (default 1)\n"
		"  --sig-payload N       payload bytes in a packet's signature (default 16, 0-64)\n"
		"  --nat                 leave addresses, ports and ICMP id out of signatures\n"
		"  --loss-timer MS       a packet not seen at the other point by then is lost\n"
		"                        (default twice --interval)\n"
		"  --break MS            a gap this long in a flow's arrivals, with packets lost in\n"
		"                        it, is a connection break (default 1000)\n"
		"  --match-window N      records waiting for their match, at most (default 1048576)\n"
		"IPFIX (RFC 7011; docs/ipfix.md lists the elements):\n"
		"  --ipfix HOST:PORT[/udp|/tcp]  send every flow record to this collector (udp by\n"
		"                        default; [ADDR]:PORT for IPv6; up to 8 times): offline the\n"
		"                        run's records, live the standing measurement's\n"
		"  --ipfix-file PATH     offline: write them to an IPFIX file (RFC 5655) too\n"
		"  --ipfix-domain N      observation domain id (default 0); give each probe its own\n"
		"Live only:\n"
		"  --measure             start a standing measurement (persists, reported at exit)\n"
		"  --description TEXT    the standing measurement's description\n"
		"  --flow-budget N       flows per worker lcore for all measurements together\n"
		"                        (default 1048576); a START over it is refused\n"
		"  --capture-ceiling BPS the highest budget a pcap result (QMCP CAPTURE, qmctl\n"
		"                        capture) may ask for, bit/s (default 1000000000)\n"
		"  --busy-poll           keep polling with no measurement (lowest start latency)\n"
		"  --timestamps SRC      tsc (default): the worker's TSC on the disciplined clock;\n"
		"                        port: each frame's Rx timestamp where the port gives one\n"
		"                        (net_pcap: the file's own, in us), the TSC elsewhere\n"
		"  --qmcp-addr ADDR      QMCP bind address (default ::, IPv4 callers too)\n"
		"  --qmcp-port PORT      QMCP TCP port, and UDP for discovery (default 8177, 0 = off)\n"
		"  --allow CIDRS         controllers allowed, comma-separated (default\n"
		"                        127.0.0.0/8,::1/128)\n"
		"  --secret-file PATH    shared secret for QMCP authentication (mode 0600)\n"
		"  --tls-cert FILE       QMCP over TLS too: the probe's certificate (PEM) ...\n"
		"  --tls-key FILE        ... and its key; the port then takes TLS and plain QMCP\n"
		"  --tls-only            refuse plain QMCP (needs --tls-cert)\n"
		"  --tls-ca FILE         CA certificates (PEM) that tls:// results receivers and\n"
		"                        two-point secondaries are verified against (default:\n"
		"                        the system's)\n"
		"  --spool DIR           keep results not yet acknowledged by their receivers in\n"
		"                        DIR and send them after a restart (default: memory only)\n"
		"  --spool-mb N          at most N MiB of them a destination (default 64); beyond,\n"
		"                        the oldest go and are reported as a gap\n"
		"  --probe-id ID         the probe's identity in QMCP and results (default: host name)\n"
		"  --probe-name NAME     the probe's human name (default: host name)\n"
		"  --config FILE         JSON configuration: identity, QMCP access, standing\n"
		"                        measurements (options given here win over it)\n"
		"  --check-config FILE   check a configuration file, print every error with its\n"
		"                        JSON path, and exit (0 good, 1 not)\n"
		"  --http-addr ADDR      bind address of the HTTP endpoint (default 127.0.0.1)\n"
		"  --http-port PORT      HTTP endpoint port (default 8178, 0 = off)\n"
		"  --http-allow CIDRS    HTTP clients allowed, comma-separated (default\n"
		"                        127.0.0.0/8,::1/128); others are closed at accept\n"
		"  --web-config FILE     TLS and basic auth of the HTTP endpoint, in the Prometheus\n"
		"                        exporter toolkit's format (tls_server_config,\n"
		"                        basic_auth_users with bcrypt hashes)\n"
		"  --duration S          stop after S seconds (default: run until SIGINT/SIGTERM)\n"
		"  --mbufs N             packet buffers in the pool (default 16383)\n"
		"  --rx-desc N           rx descriptors per queue (default: the NIC profile's, else\n"
		"                        1024)\n"
		"  --drivers-cfg DIR     NIC profiles (default: drivers-cfg next to the program,\n"
		"                        else the installed ones)\n"
		"  --check-drivers-cfg DIR  check every NIC profile there, print each error with\n"
		"                        its JSON path, and exit (0 good, 1 not)\n"
		"  --sw-dist             spread flows over workers in software even if ports have RSS\n"
		"  --help, --version\n"
		"\n"
		"Exit codes: 0 ok, 1 usage, 2 input refused, 3 capture damaged (report written\n"
		"for the readable part), 4 runtime failure.\n",
		qp_version());
}

enum {
	OPT_PCAP = 256,
	OPT_FILTER,
	OPT_INTERVAL,
	OPT_IDLE,
	OPT_ACTIVE,
	OPT_MAX_FLOWS,
	OPT_REPORT,
	OPT_REPORT_FILE,
	OPT_HTTP_ADDR,
	OPT_HTTP_PORT,
	OPT_DURATION,
	OPT_MBUFS,
	OPT_RX_DESC,
	OPT_SW_DIST,
	OPT_HELP,
	OPT_VERSION,
	OPT_RTP_PORTS,
	OPT_DNS_PORTS,
	OPT_TLS_SNI,
	OPT_PACKET_RESULTS,
	OPT_PACKET_RATE,
	OPT_RTP_CLOCK,
	OPT_MOS_DELAY,
	OPT_FLOW_DISTS,
	OPT_METRICS,
	OPT_MEASURE,
	OPT_DESCRIPTION,
	OPT_FLOW_BUDGET,
	OPT_CAPTURE_CEILING,
	OPT_BUSY_POLL,
	OPT_TIMESTAMPS,
	OPT_FLOW_KEY,
	OPT_QMCP_ADDR,
	OPT_QMCP_PORT,
	OPT_ALLOW,
	OPT_HTTP_ALLOW,
	OPT_WEB_CONFIG,
	OPT_SPOOL,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_ONLY,
	OPT_TLS_CA,
	OPT_SPOOL_MB,
	OPT_SECRET_FILE,
	OPT_PROBE_ID,
	OPT_PROBE_NAME,
	OPT_CONFIG,
	OPT_CHECK_CONFIG,
	OPT_IPFIX,
	OPT_IPFIX_FILE,
	OPT_IPFIX_DOMAIN,
	OPT_PEER_PCAP,
	OPT_PEER_FILTER,
	OPT_SAMPLE,
	OPT_SIG_PAYLOAD,
	OPT_NAT,
	OPT_LOSS_TIMER,
	OPT_BREAK,
	OPT_MATCH_WINDOW,
	OPT_DRIVERS_CFG,
	OPT_CHECK_DRIVERS_CFG,
};

static const struct option longopts[] = {
	{"pcap", required_argument, NULL, OPT_PCAP},
	{"filter", required_argument, NULL, OPT_FILTER},
	{"interval", required_argument, NULL, OPT_INTERVAL},
	{"idle-timeout", required_argument, NULL, OPT_IDLE},
	{"active-timeout", required_argument, NULL, OPT_ACTIVE},
	{"max-flows", required_argument, NULL, OPT_MAX_FLOWS},
	{"report", required_argument, NULL, OPT_REPORT},
	{"report-file", required_argument, NULL, OPT_REPORT_FILE},
	{"http-addr", required_argument, NULL, OPT_HTTP_ADDR},
	{"http-port", required_argument, NULL, OPT_HTTP_PORT},
	{"duration", required_argument, NULL, OPT_DURATION},
	{"mbufs", required_argument, NULL, OPT_MBUFS},
	{"rx-desc", required_argument, NULL, OPT_RX_DESC},
	{"sw-dist", no_argument, NULL, OPT_SW_DIST},
	{"rtp-ports", required_argument, NULL, OPT_RTP_PORTS},
	{"dns-ports", required_argument, NULL, OPT_DNS_PORTS},
	{"tls-sni", no_argument, NULL, OPT_TLS_SNI},
	{"packet-results", required_argument, NULL, OPT_PACKET_RESULTS},
	{"packet-rate", required_argument, NULL, OPT_PACKET_RATE},
	{"flow-rtt-dists", required_argument, NULL, OPT_FLOW_DISTS},
	{"rtp-clock", required_argument, NULL, OPT_RTP_CLOCK},
	{"mos-delay", required_argument, NULL, OPT_MOS_DELAY},
	{"metrics", required_argument, NULL, OPT_METRICS},
	{"measure", no_argument, NULL, OPT_MEASURE},
	{"description", required_argument, NULL, OPT_DESCRIPTION},
	{"flow-budget", required_argument, NULL, OPT_FLOW_BUDGET},
	{"capture-ceiling", required_argument, NULL, OPT_CAPTURE_CEILING},
	{"busy-poll", no_argument, NULL, OPT_BUSY_POLL},
	{"timestamps", required_argument, NULL, OPT_TIMESTAMPS},
	{"flow-key", required_argument, NULL, OPT_FLOW_KEY},
	{"qmcp-addr", required_argument, NULL, OPT_QMCP_ADDR},
	{"qmcp-port", required_argument, NULL, OPT_QMCP_PORT},
	{"allow", required_argument, NULL, OPT_ALLOW},
	{"http-allow", required_argument, NULL, OPT_HTTP_ALLOW},
	{"web-config", required_argument, NULL, OPT_WEB_CONFIG},
	{"spool", required_argument, NULL, OPT_SPOOL},
	{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
	{"tls-key", required_argument, NULL, OPT_TLS_KEY},
	{"tls-only", no_argument, NULL, OPT_TLS_ONLY},
	{"tls-ca", required_argument, NULL, OPT_TLS_CA},
	{"spool-mb", required_argument, NULL, OPT_SPOOL_MB},
	{"secret-file", required_argument, NULL, OPT_SECRET_FILE},
	{"probe-id", required_argument, NULL, OPT_PROBE_ID},
	{"probe-name", required_argument, NULL, OPT_PROBE_NAME},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"check-config", required_argument, NULL, OPT_CHECK_CONFIG},
	{"ipfix", required_argument, NULL, OPT_IPFIX},
	{"ipfix-file", required_argument, NULL, OPT_IPFIX_FILE},
	{"ipfix-domain", required_argument, NULL, OPT_IPFIX_DOMAIN},
	{"peer-pcap", required_argument, NULL, OPT_PEER_PCAP},
	{"peer-filter", required_argument, NULL, OPT_PEER_FILTER},
	{"sample", required_argument, NULL, OPT_SAMPLE},
	{"sig-payload", required_argument, NULL, OPT_SIG_PAYLOAD},
	{"nat", no_argument, NULL, OPT_NAT},
	{"loss-timer", required_argument, NULL, OPT_LOSS_TIMER},
	{"break", required_argument, NULL, OPT_BREAK},
	{"match-window", required_argument, NULL, OPT_MATCH_WINDOW},
	{"drivers-cfg", required_argument, NULL, OPT_DRIVERS_CFG},
	{"check-drivers-cfg", required_argument, NULL, OPT_CHECK_DRIVERS_CFG},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

/* A number within [lo, hi], or a one-line complaint naming the option. */
static int num_opt(const char *name, const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
		fprintf(stderr, "qprobe: --%s '%s': expected a number from %.15g to %.15g\n", name, s,
			lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct qprobe_opts *o)
{
	double v;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PCAP: o->pcap = optarg; break;
		case OPT_FILTER:
			o->filter = optarg;
			o->measure = 1;
			break;
		case OPT_METRICS: {
			uint32_t on = 0;
			char *copy = strdup(optarg), *save = NULL;
			for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				int b = qp_metrics_family(t);
				if (b < 0) {
					fprintf(stderr, "qprobe: --metrics '%s': '%s' is not a metric family; "
							"these are: " QP_METRIC_NAMES "\n", optarg, t);
					free(copy);
					return -1;
				}
				on |= (uint32_t)b;
			}
			free(copy);
			o->metrics_off = ~on & QP_METRICS_ALL;
			break;
		}
		case OPT_FLOW_KEY: {
			char why[400];
			if (qp_flow_key_parts_parse(optarg, &o->flow_key, why, sizeof(why))) {
				fprintf(stderr, "qprobe: --flow-key: %s\n", why);
				return -1;
			}
			break;
		}
		case OPT_MEASURE: o->measure = 1; break;
		case OPT_DESCRIPTION: o->description = optarg; break;
		case OPT_FLOW_BUDGET:
			if (num_opt("flow-budget", optarg, 16, QP_FLOW_TABLE_MAX, &v))
				return -1;
			o->flow_budget = (uint64_t)v;
			break;
		case OPT_CAPTURE_CEILING:
			if (num_opt("capture-ceiling", optarg, 1000, 1e12, &v))
				return -1;
			o->capture_ceiling = (uint64_t)v;
			break;
		case OPT_BUSY_POLL: o->busy_poll = 1; break;
		case OPT_TIMESTAMPS:
			if (strcmp(optarg, "tsc") && strcmp(optarg, "port")) {
				fprintf(stderr, "qprobe: --timestamps '%s': expected tsc or port\n", optarg);
				return -1;
			}
			o->ts_port = !strcmp(optarg, "port");
			break;
		case OPT_QMCP_ADDR: o->qmcp_addr = optarg; break;
		case OPT_QMCP_PORT:
			if (num_opt("qmcp-port", optarg, 0, 65535, &v))
				return -1;
			o->qmcp_port = (int)v;
			break;
		case OPT_ALLOW: o->allow = optarg; break;
		case OPT_HTTP_ALLOW: o->http_allow = optarg; break;
		case OPT_WEB_CONFIG: o->web_config = optarg; break;
		case OPT_SPOOL: o->spool = optarg; break;
		case OPT_TLS_CERT: o->tls_cert = optarg; break;
		case OPT_TLS_KEY: o->tls_key = optarg; break;
		case OPT_TLS_ONLY: o->tls_only = 1; break;
		case OPT_TLS_CA: o->tls_ca = optarg; break;
		case OPT_SPOOL_MB:
			if (num_opt("spool-mb", optarg, 1, 1048576, &v))
				return -1;
			o->spool_mb = (uint32_t)v;
			break;
		case OPT_SECRET_FILE: o->secret_file = optarg; break;
		case OPT_PROBE_ID: o->probe_id = optarg; break;
		case OPT_PROBE_NAME: o->probe_name = optarg; break;
		case OPT_CONFIG: o->config = optarg; break;
		case OPT_CHECK_CONFIG: {
#ifdef QP_OFFLINE_ONLY
			exit(run_live(argv));
#else
			static struct config cc;
			int n = config_load(optarg, o, &cc);
			if (n) {
				fprintf(stderr, "qprobe: %s: %d error(s); the probe would not start\n",
					optarg, n);
				exit(QP_EXIT_USAGE);
			}
			printf("%s: ok, %d standing measurement(s)\n", optarg, cc.nmeas);
			exit(QP_EXIT_OK);
#endif
		}
		case OPT_INTERVAL:
			if (num_opt("interval", optarg, 50, 86400000, &v))
				return -1;
			o->interval_ns = (uint64_t)(v * 1e6);
			break;
		case OPT_IDLE:
			if (num_opt("idle-timeout", optarg, 0.001, 86400, &v))
				return -1;
			o->idle_ns = (uint64_t)(v * 1e9);
			break;
		case OPT_ACTIVE:
			if (num_opt("active-timeout", optarg, 0, 86400 * 7, &v))
				return -1;
			o->active_ns = (uint64_t)(v * 1e9);
			break;
		case OPT_MAX_FLOWS:
			if (num_opt("max-flows", optarg, 1, 1 << 26, &v))
				return -1;
			if (v != floor(v)) {
				fprintf(stderr, "qprobe: --max-flows '%s': expected a whole number\n",
					optarg);
				return -1;
			}
			o->max_flows = (uint32_t)v;
			break;
		case OPT_REPORT:
			if (strcmp(optarg, "json") && strcmp(optarg, "table")) {
				fprintf(stderr, "qprobe: --report '%s': expected json or table\n", optarg);
				return -1;
			}
			o->report_format = optarg;
			o->report_requested = 1;
			o->measure = 1;
			break;
		case OPT_REPORT_FILE:
			o->report_file = optarg;
			o->report_requested = 1;
			o->measure = 1;
			break;
		case OPT_HTTP_ADDR: o->http_addr = optarg; break;
		case OPT_HTTP_PORT:
			if (num_opt("http-port", optarg, 0, 65535, &v))
				return -1;
			o->http_port = (int)v;
			break;
		case OPT_DURATION:
			if (num_opt("duration", optarg, 0.001, 86400 * 365, &v))
				return -1;
			o->duration_s = v;
			break;
		case OPT_MBUFS:
			if (num_opt("mbufs", optarg, 1023, 16777215, &v))
				return -1;
			o->mbufs = (uint32_t)v;
			break;
		case OPT_RX_DESC:
			if (num_opt("rx-desc", optarg, 64, 32768, &v))
				return -1;
			o->rx_desc = (uint32_t)v;
			o->rx_desc_set = 1;
			break;
		case OPT_DRIVERS_CFG: o->drivers_cfg = optarg; break;
		case OPT_CHECK_DRIVERS_CFG: {
#ifdef QP_OFFLINE_ONLY
			exit(run_live(argv));
#else
			int nf = 0, n = profile_check_dir(optarg, &nf);
			if (n) {
				fprintf(stderr, "qprobe: %s: %d error(s) in the NIC profiles\n", optarg, n);
				exit(QP_EXIT_USAGE);
			}
			printf("%s: ok, %d profile(s)\n", optarg, nf);
			exit(QP_EXIT_OK);
#endif
		}
		case OPT_SW_DIST: o->force_sw_dist = 1; break;
		case OPT_RTP_PORTS: {
			unsigned int lo, hi;
			char extra;
			if (sscanf(optarg, "%u-%u%c", &lo, &hi, &extra) != 2 || lo < 1 || lo > hi ||
			    hi > 65535) {
				fprintf(stderr, "qprobe: --rtp-ports '%s': expected LO-HI, two ports "
						"from 1 to 65535 with LO <= HI\n", optarg);
				return -1;
			}
			o->rtp.port_lo = (uint16_t)lo;
			o->rtp.port_hi = (uint16_t)hi;
			break;
		}
		case OPT_TLS_SNI: o->tls_sni = 1; break;
		case OPT_PACKET_RESULTS: o->packet_results = optarg; break;
		case OPT_PACKET_RATE:
			if (num_opt("packet-rate", optarg, 1, QP_PRES_RATE_MAX, &v))
				return -1;
			o->packet_rate = (uint32_t)v;
			break;
		case OPT_DNS_PORTS: {
			char why[200];
			if (qp_dns_ports_parse(optarg, o->dns_ports, why, sizeof(why))) {
				fprintf(stderr, "qprobe: --dns-ports %s\n", why);
				return -1;
			}
			break;
		}
		case OPT_FLOW_DISTS:
			if (num_opt("flow-rtt-dists", optarg, 0, 1 << 20, &v))
				return -1;
			o->flow_dists = (uint32_t)v;
			break;
		case OPT_RTP_CLOCK:
			if (num_opt("rtp-clock", optarg, 1000, 1000000, &v))
				return -1;
			o->rtp.dynamic_clock_hz = (uint32_t)v;
			break;
		case OPT_MOS_DELAY:
			if (num_opt("mos-delay", optarg, 0, 10000, &v))
				return -1;
			o->rtp.network_delay_ms = v;
			break;
		case OPT_IPFIX: {
			char host[256], eb[400];
			uint16_t port;
			enum qp_ipfix_transport t;
			if (qp_ipfix_spec_parse(optarg, host, sizeof(host), &port, &t, eb, sizeof(eb))) {
				fprintf(stderr, "qprobe: --ipfix: %s\n", eb);
				return -1;
			}
			if (o->nipfix == (int)(sizeof(o->ipfix) / sizeof(o->ipfix[0]))) {
				fprintf(stderr, "qprobe: --ipfix: at most %zu collectors\n",
					sizeof(o->ipfix) / sizeof(o->ipfix[0]));
				return -1;
			}
			o->ipfix[o->nipfix++] = optarg;
			break;
		}
		case OPT_IPFIX_FILE: o->ipfix_file = optarg; break;
		case OPT_IPFIX_DOMAIN:
			if (num_opt("ipfix-domain", optarg, 0, 4294967295.0, &v))
				return -1;
			o->ipfix_domain = (uint32_t)v;
			o->ipfix_domain_set = 1;
			break;
		case OPT_PEER_PCAP: o->peer_pcap = optarg; break;
		case OPT_PEER_FILTER: o->peer_filter = optarg; break;
		case OPT_SAMPLE: {
			char eb[256];
			if (qp_sig_parse_rate(&o->sig, optarg, eb, sizeof(eb))) {
				fprintf(stderr, "qprobe: --sample: %s\n", eb);
				return -1;
			}
			break;
		}
		case OPT_SIG_PAYLOAD:
			if (num_opt("sig-payload", optarg, 0, QP_SIG_PAYLOAD_MAX, &v))
				return -1;
			o->sig.payload_bytes = (uint32_t)v;
			break;
		case OPT_NAT: o->sig.nat = 1; break;
		case OPT_LOSS_TIMER:
			if (num_opt("loss-timer", optarg, 1, 3600000, &v))
				return -1;
			o->loss_timer_ns = (uint64_t)(v * 1e6);
			break;
		case OPT_BREAK:
			if (num_opt("break", optarg, 1, 3600000, &v))
				return -1;
			o->break_ns = (uint64_t)(v * 1e6);
			break;
		case OPT_MATCH_WINDOW:
			if (num_opt("match-window", optarg, 16, 1 << 26, &v))
				return -1;
			o->match_window = (uint32_t)v;
			break;
		case OPT_HELP: usage(stdout); exit(QP_EXIT_OK);
		case OPT_VERSION: printf("qprobe %s\n", qp_version()); exit(QP_EXIT_OK);
		case ':':
			fprintf(stderr, "qprobe: option '%s' needs a value (see --help)\n", argv[optind - 1]);
			return -1;
		default:
			fprintf(stderr, "qprobe: unknown option '%s' (see --help)\n", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "qprobe: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	/*
	 * A measurement's tables are allocated at START and freed at STOP. glibc
	 * raises its mmap threshold to the size of each large block freed, so
	 * the next START's tables come from the heap, where they fragment it: RSS
	 * grew 13 MiB over 14 minutes of the soak (8 measurements started and
	 * stopped every 3 s) before it settled. A fixed threshold keeps every
	 * block of 128 KiB and more mapped on its own and given back at free.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	/* a peer that closes while TLS writes to it is an error to handle, not a
	 * reason to die: OpenSSL writes with write(2), which raises SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	struct qprobe_opts o = {
		.interval_ns = 1000000000ULL,
		.idle_ns = 120000000000ULL,
		.active_ns = 1800000000000ULL,
		.max_flows = 0, /* by mode, below */
		.flow_budget = 0, /* 0: from --config, else 2^20 */
		.meas_max_flows = 65536,
		.qmcp_addr = NULL, /* NULL / -1: from --config, else "::" / 8177 */
		.qmcp_port = -1,
		.flow_dists = 4096,
		.report_format = "json",
		.http_addr = NULL, /* NULL / -1 / 0: from --config, else 127.0.0.1 / 8178 / 16383 */
		.http_port = -1,
		.mbufs = 0,
		.rx_desc = 1024,
		.rtp = {.dynamic_clock_hz = 8000},
		.flow_key = QP_FLOW_KEY_DEFAULT,
		.break_ns = 1000000000ULL,
		.match_window = 1u << 20,
	};
	qp_sig_cfg_default(&o.sig);
	int sep = 0;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			sep = i;
			break;
		}

	int from_config = 0;
#ifdef QP_OFFLINE_ONLY
	if (sep)
		return run_live(argv);
#endif
	if (!sep) {
		/* no EAL part: offline (or help/version), or live from the config alone */
		if (parse_opts(argc, argv, &o) != 0)
			return QP_EXIT_USAGE;
		from_config = !o.pcap && o.config;
	}
	if (!sep && !from_config) {
		if (!o.pcap) {
			fprintf(stderr, "qprobe: nothing to measure: give --pcap FILE, or EAL options "
					"then -- for live ports (see --help)\n");
			return QP_EXIT_USAGE;
		}
		if (!o.max_flows)
			o.max_flows = 1u << 20;
		if (!o.peer_pcap && o.peer_filter) {
			fprintf(stderr, "qprobe: --peer-filter needs --peer-pcap\n");
			return QP_EXIT_USAGE;
		}
		struct qp_offline_opts off = {
			.path = o.pcap,
			.filter = o.filter,
			.interval_ns = o.interval_ns,
			.idle_ns = o.idle_ns,
			.active_ns = o.active_ns,
			.max_flows = o.max_flows,
			.flow_dists = o.flow_dists,
			.report_format = o.report_format,
			.report_file = o.report_file,
			.rtp = o.rtp,
			.flow_key = o.flow_key,
			.peer_path = o.peer_pcap,
			.peer_filter = o.peer_filter,
			.sig = o.sig,
			.loss_timer_ns = o.loss_timer_ns ? o.loss_timer_ns : 2 * o.interval_ns,
			.break_ns = o.break_ns,
			.match_window = o.match_window,
			.ipfix = o.ipfix,
			.nipfix = o.nipfix,
			.ipfix_file = o.ipfix_file,
			.ipfix_domain = o.ipfix_domain,
		};
		memcpy(off.dns_ports, o.dns_ports, sizeof(off.dns_ports));
		off.metrics_off = o.metrics_off;
		off.tls_sni = o.tls_sni;
		off.packet_results = o.packet_results;
		off.packet_rate = o.packet_rate;
		return qp_offline_run(&off);
	}

#ifdef QP_OFFLINE_ONLY
	return run_live(argv);
#else
	/* live: qprobe's own options come after "--" (or there are only its own) */
	if (sep) {
		char **qargv = argv + sep;
		int qargc = argc - sep;
		qargv[0] = argv[0];
		if (parse_opts(qargc, qargv, &o) != 0)
			return QP_EXIT_USAGE;
	}
	if (o.peer_pcap) {
		fprintf(stderr, "qprobe: --peer-pcap is offline two-point mode, with --pcap and no "
				"EAL options\n");
		return QP_EXIT_USAGE;
	}
	if (o.pcap) {
		fprintf(stderr, "qprobe: --pcap is offline mode and takes no EAL options; for a "
				"capture replayed as a port use --vdev net_pcap0,rx_pcap=FILE\n");
		return QP_EXIT_USAGE;
	}
	if (o.nipfix > IPX_MAX) {
		fprintf(stderr, "qprobe: --ipfix: a live measurement exports to at most %d collectors\n",
			IPX_MAX);
		return QP_EXIT_USAGE;
	}
	if (o.ipfix_file) {
		fprintf(stderr, "qprobe: --ipfix-file is offline (with --pcap); live, records go to "
				"collectors: --ipfix HOST:PORT[/udp|/tcp]\n");
		return QP_EXIT_USAGE;
	}
	if (o.packet_results) {
		fprintf(stderr, "qprobe: --packet-results is offline (with --pcap); live, packet results "
				"go with each interval: --measure --packet-rate N, or qmctl start "
				"--packet-results\n");
		return QP_EXIT_USAGE;
	}
	static struct config cfg;
	if (o.config) {
		int n = config_load(o.config, &o, &cfg);
		if (n) {
			fprintf(stderr, "qprobe: %s: %d error(s); not starting half-configured\n",
				o.config, n);
			return QP_EXIT_USAGE;
		}
		o.cfg = &cfg;
		if (!o.probe_id && cfg.probe_id[0])
			o.probe_id = cfg.probe_id;
		if (!o.probe_name && cfg.probe_name[0])
			o.probe_name = cfg.probe_name;
		if (!o.qmcp_addr && cfg.qmcp_addr[0])
			o.qmcp_addr = cfg.qmcp_addr;
		if (o.qmcp_port < 0 && cfg.qmcp_port >= 0)
			o.qmcp_port = cfg.qmcp_port;
		if (!o.allow && cfg.allow[0])
			o.allow = cfg.allow;
		if (!o.http_allow && cfg.http_allow[0])
			o.http_allow = cfg.http_allow;
		if (!o.web_config && cfg.web_config[0])
			o.web_config = cfg.web_config;
		if (!o.secret_file && cfg.secret_file[0])
			o.secret_file = cfg.secret_file;
		if (!o.spool && cfg.spool[0])
			o.spool = cfg.spool;
		if (!o.tls_cert && cfg.tls_cert[0])
			o.tls_cert = cfg.tls_cert;
		if (!o.tls_key && cfg.tls_key[0])
			o.tls_key = cfg.tls_key;
		if (!o.tls_ca && cfg.tls_ca[0])
			o.tls_ca = cfg.tls_ca;
		if (cfg.tls_only)
			o.tls_only = 1;
		if (!o.spool_mb && cfg.spool_mb)
			o.spool_mb = cfg.spool_mb;
		if (!o.ipfix_domain_set)
			o.ipfix_domain = cfg.ipfix_domain;
		if (!o.http_addr && cfg.http_addr[0])
			o.http_addr = cfg.http_addr;
		if (o.http_port < 0)
			o.http_port = cfg.http_port;
		if (!o.max_flows && cfg.max_flows)
			o.max_flows = o.meas_max_flows = cfg.max_flows;
		if (!o.flow_budget)
			o.flow_budget = cfg.flow_budget;
		if (!o.capture_ceiling)
			o.capture_ceiling = cfg.capture_ceiling;
		if (!o.mbufs)
			o.mbufs = cfg.mbufs;
		if (!o.rx_desc_set && cfg.rx_desc) {
			o.rx_desc = cfg.rx_desc;
			o.rx_desc_set = 1;
		}
		if (!o.drivers_cfg && cfg.drivers_cfg[0])
			o.drivers_cfg = cfg.drivers_cfg;
		if (!strcmp(cfg.log_level, "error") || !strcmp(cfg.log_level, "warning"))
			o.quiet = 1;
	} else if (from_config) {
		return QP_EXIT_USAGE; /* unreachable: from_config needs o.config */
	}
	if (!o.http_addr)
		o.http_addr = "127.0.0.1";
	if (o.http_port < 0)
		o.http_port = 8178;
	if (!o.flow_budget)
		o.flow_budget = 1u << 20;
	if (!o.mbufs)
		o.mbufs = 16383;
	if (!o.max_flows)
		o.max_flows = 1u << 18;
	if (!o.qmcp_addr)
		o.qmcp_addr = "::";
	if (o.qmcp_port < 0)
		o.qmcp_port = QMCP_PORT;
	if (o.measure && o.max_flows > o.flow_budget) {
		fprintf(stderr, "qprobe: --max-flows %u is over --flow-budget %llu\n", o.max_flows,
			(unsigned long long)o.flow_budget);
		return QP_EXIT_USAGE;
	}
	if (o.meas_max_flows > o.flow_budget)
		o.meas_max_flows = (uint32_t)o.flow_budget;
	int eal_argc = sep;
	char **eal_argv = argv;
	static char *cfg_eal[3 * CONFIG_PORTS_MAX + CONFIG_EXTRA_MAX + 16];
	if (from_config) {
		eal_argc = config_eal_args(&cfg, argv[0], cfg_eal, (int)(sizeof(cfg_eal) / sizeof(cfg_eal[0])));
		if (eal_argc < 0) {
			fprintf(stderr, "qprobe: %s has no $.dpdk section: give EAL options then -- on the "
					"command line, or add $.dpdk (lcores and ports) to the file\n",
				o.config);
			return QP_EXIT_USAGE;
		}
		eal_argv = cfg_eal;
	} else {
		argv[sep] = NULL;
	}
	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		fprintf(stderr, "qprobe: EAL options refused: %s (see the DPDK EAL parameters)\n",
			rte_strerror(rte_errno));
		return QP_EXIT_USAGE;
	}
	int rc = qprobe_live(&o);
	rte_eal_cleanup();
	return rc;
#endif
}
