/*
 * qmctl: the QMCP controller command line, a thin front of libqmcp.
 *
 *   qmctl [--probe HOST[:PORT]] [--secret-file F] [--tls [--ca F]] [--json] [--timeout MS] COMMAND ...
 *
 * Exit codes: 0 done, 1 usage, 2 refused by the probe (its message is shown
 * as it was sent), 3 connection or authentication failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "qmcp_auth.h"
#include "qmcp_client.h"
#include "qmcp_tls.h"
#include "qmcp_codec.h"
#include "qp_flow_key.h"
#include "qp_sig.h"

#define EXIT_USAGE 1
#define EXIT_REFUSED 2
#define EXIT_CONN 3

static struct {
	char host[256];
	int port;
	const char *secret_file;
	uint8_t secret[QMCP_SECRET_MAX];
	size_t secret_len;
	int json;
	int timeout_ms;
	int tls;
	const char *ca;
	struct qmcp_client *c;
} G = {.port = QMCP_PORT, .timeout_ms = 5000};

static volatile sig_atomic_t g_stop;

static void on_signal(int s)
{
	(void)s;
	g_stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"qmctl - control qprobe probes over QMCP\n"
		"\n"
		"usage: qmctl [global options] COMMAND [arguments]\n"
		"\n"
		"Global options:\n"
		"  --probe HOST[:PORT]   the probe (default localhost:%d; [v6addr]:port for IPv6)\n"
		"  --secret-file PATH    shared secret (mode 0600) when the probe requires one\n"
		"  --tls                 QMCP over TLS: the probe's certificate is verified for\n"
		"                        HOST before anything is sent\n"
		"  --ca FILE             CA certificates (PEM) to verify it with (default: the\n"
		"                        system's)\n"
		"  --json                machine-readable output\n"
		"  --timeout MS          wait this long for each answer (default 5000)\n"
		"\n"
		"Commands:\n"
		"  locate [TARGET...]    find probes: addresses, host names or IPv4 CIDRs (at most\n"
		"                        /16); none: broadcast 255.255.255.255 and ask ::1\n"
		"  info                  the probe: identity, version, ports and links, clock, load\n"
		"  start [--filter EXPR] [--interval MS] [--metrics tcp,rtp,icmp,dns,quic,tls,mpegts] [--idle-timeout S]\n"
		"        [--active-timeout S] [--max-flows N] [--rtp-ports LO-HI] [--rtp-clock HZ]\n"
		"        [--description TEXT] [--dest HOST:PORT]... [--flow-key PARTS]\n"
		"        [--ipfix HOST:PORT[/udp|/tcp]]... [--dns-ports 53,5353] [--tls-sni]\n"
		"        [--packet-results [--packet-rate N]]\n"
		"        [--watch [--count N]]\n"
		"        [--peer HOST:PORT [--sample 1/N] [--nat] [--sig-payload N]\n"
		"         [--loss-timer MS] [--peer-filter EXPR]]\n"
		"                        start a measurement; prints its id. It persists after\n"
		"                        qmctl exits; with --watch it is watched in this session\n"
		"                        and ends with it (Ctrl-C, or after N intervals). With\n"
		"                        --peer it is two-point: this probe is the primary, the\n"
		"                        peer the secondary (started and fed by this probe)\n"
		"  stop ID               stop a measurement\n"
		"  list                  the measurements on the probe\n"
		"  status ID             one measurement with its counters\n"
		"  watch ID [--count N]  a live table, one row per interval (Ctrl-C ends)\n"
		"  results ID [--last N] the latest N intervals kept by the probe (default 1)\n"
		"  flows ID [--top N] [--offset N] [--sort bytes|packets]\n"
		"                        the largest active flows (default top 20 by bytes)\n"
		"  packets ID [--count N] [--csv]\n"
		"                        packet results of a measurement started with them, as\n"
		"                        its intervals close: a table (--csv: CSV; --json: JSON\n"
		"                        objects), N records or until Ctrl-C\n"
		"  capture ID -w FILE|- [--snaplen N] [--count N] [--duration S] [--filter EXPR]\n"
		"        [--rate BIT/S]  the measurement's packets as pcapng, from now until N\n"
		"                        packets, S seconds or Ctrl-C (-w -: to stdout, for\n"
		"                        tshark -r - or wireshark -k -i -); default snaplen 256,\n"
		"                        rate 100 Mbit/s (what does not fit is dropped, counted)\n"
		"\n"
		"Exit codes: 0 done, 1 usage, 2 refused by the probe, 3 connection or\n"
		"authentication failure.\n",
		QMCP_PORT);
}

static int parse_probe(const char *s)
{
	const char *colon = NULL;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || (end[1] && end[1] != ':'))
			return -1;
		snprintf(G.host, sizeof(G.host), "%.*s", (int)(end - s - 1), s + 1);
		colon = end[1] ? end + 1 : NULL;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* a bare IPv6 address */
		snprintf(G.host, sizeof(G.host), "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
	}
	if (colon) {
		char *end;
		long p = strtol(colon + 1, &end, 10);
		if (*end || p < 1 || p > 65535)
			return -1;
		G.port = (int)p;
	}
	return G.host[0] ? 0 : -1;
}

static int connect_probe(void)
{
	char err[600], name[128], host[64] = "?";
	gethostname(host, sizeof(host) - 1);
	snprintf(name, sizeof(name), "qmctl@%s", host);
	struct qmcp_tls *tls = NULL;
	if (G.tls && !(tls = qmcp_tls_client(G.ca, err, sizeof(err)))) {
		fprintf(stderr, "qmctl: --ca: %s\n", err);
		return EXIT_USAGE;
	}
	G.c = qmcp_client_connect_tls(G.host, G.port, tls, G.timeout_ms, err, sizeof(err));
	qmcp_tls_free(tls); /* the connection keeps what it needs */
	if (!G.c) {
		fprintf(stderr, "qmctl: %s\n", err);
		return EXIT_CONN;
	}
	int e = qmcp_client_hello(G.c, name, G.secret_file ? G.secret : NULL, G.secret_len,
				  G.timeout_ms, err, sizeof(err));
	if (e) {
		fprintf(stderr, "qmctl: %s:%d: %s\n", G.host, G.port, err);
		return EXIT_CONN;
	}
	return 0;
}

/* One request and its answer; on error prints it and returns the exit code. */
static int call(struct qmcp_msg *m, struct qmcp_reply *r)
{
	char err[700];
	int e = qmcp_client_call(G.c, m, r, G.timeout_ms, err, sizeof(err));
	qmcp_msg_free(m);
	if (e == 0)
		return 0;
	fprintf(stderr, "qmctl: %s\n", err);
	qmcp_reply_free(r);
	return e == -EREMOTEIO ? EXIT_REFUSED : EXIT_CONN;
}

static void request(struct qmcp_msg *m, uint8_t type)
{
	qmcp_msg_init(m, type, 0, qmcp_client_next_id(G.c));
}

/* A JSON string field of a body, parsed; NULL when absent or unreadable. */
static json_t *json_of(const uint8_t *b, size_t n, uint16_t type)
{
	struct qmcp_tlv t;
	if (qmcp_find(b, n, type, &t) != 1)
		return NULL;
	return json_loadb((const char *)t.val, t.len, 0, NULL);
}

/* The JSON field of every nested TLV of one type in an answer, as an array. */
static json_t *json_list(const struct qmcp_reply *r, uint16_t nest, uint16_t field)
{
	json_t *all = json_array();
	struct qmcp_iter it;
	struct qmcp_tlv t;
	qmcp_iter_init(&it, r->body, r->len);
	while (qmcp_next(&it, &t) == 1)
		if (t.type == nest) {
			json_t *j = json_of(t.val, t.len, field);
			if (j)
				json_array_append_new(all, j);
		}
	return all;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(1) | JSON_REAL_PRECISION(10));
	if (s) {
		puts(s);
		free(s);
	}
}

static int id_arg(int argc, char **argv, uint32_t *id)
{
	char *end;
	if (argc < 2) {
		fprintf(stderr, "qmctl: %s needs a measurement id (see qmctl list)\n", argv[0]);
		return -1;
	}
	errno = 0;
	unsigned long v = strtoul(argv[1], &end, 10);
	if (errno || *end || v < 1 || v > UINT32_MAX || argv[1][0] == '-') {
		fprintf(stderr, "qmctl: measurement id '%s': a whole number from 1 is expected\n",
			argv[1]);
		return -1;
	}
	*id = (uint32_t)v;
	return 0;
}

static int num_arg(const char *opt, const char *s, double lo, double hi, double *v)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	if (errno || end == s || *end || *v < lo || *v > hi) {
		fprintf(stderr, "qmctl: %s '%s': a number from %g to %g is expected\n", opt, s, lo, hi);
		return -1;
	}
	return 0;
}

/* ---- commands ---- */

static int cmd_info(void)
{
	struct qmcp_msg m;
	struct qmcp_reply r;
	request(&m, QMCP_MSG_INFO);
	int rc = call(&m, &r);
	if (rc)
		return rc;
	json_t *j = json_of(r.body, r.len, QMCP_T_INFO_JSON);
	if (G.json || !j) {
		print_json(j ? j : json_object());
	} else {
		printf("probe      %s (%s), qprobe %s\n", json_string_value(json_object_get(j, "probe_id")),
		       json_string_value(json_object_get(j, "name")),
		       json_string_value(json_object_get(j, "version")));
		printf("uptime     %" JSON_INTEGER_FORMAT " s\n",
		       json_integer_value(json_object_get(j, "uptime_s")));
		json_t *ck = json_object_get(j, "clock");
		printf("clock      %s, estimated error %" JSON_INTEGER_FORMAT " us\n",
		       json_string_value(json_object_get(ck, "state")),
		       json_integer_value(json_object_get(ck, "estimated_error_us")));
		printf("workers    %" JSON_INTEGER_FORMAT " (%s)%s\n",
		       json_integer_value(json_object_get(j, "workers")),
		       json_string_value(json_object_get(j, "mode")),
		       json_is_true(json_object_get(j, "idle")) ? ", idle" : "");
		printf("measuring  %" JSON_INTEGER_FORMAT " of at most %" JSON_INTEGER_FORMAT
		       " measurements, %" JSON_INTEGER_FORMAT " sessions\n",
		       json_integer_value(json_object_get(j, "measurements")),
		       json_integer_value(json_object_get(j, "measurements_max")),
		       json_integer_value(json_object_get(j, "sessions")));
		size_t i;
		json_t *p;
		json_array_foreach(json_object_get(j, "ports"), i, p)
			printf("port       %s (%s), link %s, %" JSON_INTEGER_FORMAT " Mbit/s\n",
			       json_string_value(json_object_get(p, "name")),
			       json_string_value(json_object_get(p, "driver")),
			       json_is_true(json_object_get(p, "link_up")) ? "up" : "down",
			       json_integer_value(json_object_get(p, "speed_mbps")));
	}
	json_decref(j);
	qmcp_reply_free(&r);
	return 0;
}

static int cmd_watch(int argc, char **argv);

static int cmd_start(int argc, char **argv)
{
	static const struct option lo[] = {
		{"filter", required_argument, NULL, 'f'},   {"interval", required_argument, NULL, 'i'},
		{"metrics", required_argument, NULL, 'm'},  {"idle-timeout", required_argument, NULL, 'I'},
		{"active-timeout", required_argument, NULL, 'A'},
		{"max-flows", required_argument, NULL, 'F'}, {"rtp-ports", required_argument, NULL, 'r'},
		{"rtp-clock", required_argument, NULL, 'c'}, {"description", required_argument, NULL, 'd'},
		{"watch", no_argument, NULL, 'w'},          {"dest", required_argument, NULL, 'D'},
		{"count", required_argument, NULL, 'n'},    {"peer", required_argument, NULL, 'P'},
		{"peer-filter", required_argument, NULL, 'Q'}, {"sample", required_argument, NULL, 's'},
		{"nat", no_argument, NULL, 'N'},            {"sig-payload", required_argument, NULL, 'S'},
		{"loss-timer", required_argument, NULL, 'L'}, {"flow-key", required_argument, NULL, 'K'},
		{"ipfix", required_argument, NULL, 'X'},   {"dns-ports", required_argument, NULL, 'p'},
		{"tls-sni", no_argument, NULL, 'T'},
		{"packet-results", no_argument, NULL, 'R'}, {"packet-rate", required_argument, NULL, 'E'},
		{NULL, 0, NULL, 0}};
	double prate = 0;
	int presults = 0;
	int watch = 0;
	char *count = NULL;
	struct qmcp_msg m;
	request(&m, QMCP_MSG_START);
	int c;
	double v;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		switch (c) {
		case 'f': qmcp_put_str(&m, QMCP_T_FILTER, optarg); break;
		case 'd': qmcp_put_str(&m, QMCP_T_DESCRIPTION, optarg); break;
		case 'D': qmcp_put_str(&m, QMCP_T_DESTINATION, optarg); break;
		case 'X': qmcp_put_str(&m, QMCP_T_IPFIX, optarg); break;
		case 'P': qmcp_put_str(&m, QMCP_T_TP_PEER, optarg); break;
		case 'Q': qmcp_put_str(&m, QMCP_T_TP_PEER_FILTER, optarg); break;
		case 'N': qmcp_put_u8(&m, QMCP_T_TP_NAT, 1); break;
		case 'K': {
			uint32_t parts;
			char eb[400];
			if (qp_flow_key_parts_parse(optarg, &parts, eb, sizeof(eb))) {
				fprintf(stderr, "qmctl: --flow-key: %s\n", eb);
				goto usage;
			}
			qmcp_put_str(&m, QMCP_T_FLOW_KEY, optarg);
			break;
		}
		case 's': {
			struct qp_sig_cfg sc;
			char eb[256];
			qp_sig_cfg_default(&sc);
			if (qp_sig_parse_rate(&sc, optarg, eb, sizeof(eb))) {
				fprintf(stderr, "qmctl: --sample: %s\n", eb);
				goto usage;
			}
			qmcp_put_u64(&m, QMCP_T_TP_THRESHOLD, sc.threshold);
			break;
		}
		case 'S':
			if (num_arg("--sig-payload", optarg, 0, QP_SIG_PAYLOAD_MAX, &v))
				goto usage;
			qmcp_put_u8(&m, QMCP_T_TP_SIG_PAYLOAD, (uint8_t)v);
			break;
		case 'L':
			if (num_arg("--loss-timer", optarg, 10, 600000, &v))
				goto usage;
			qmcp_put_u32(&m, QMCP_T_TP_LOSS_TIMER_MS, (uint32_t)v);
			break;
		case 'w': watch = 1; break;
		case 'n':
			if (num_arg("--count", optarg, 1, 1e9, &v))
				goto usage;
			count = optarg;
			break;
		case 'i':
		case 'I':
		case 'A':
		case 'F':
		case 'c':
			if (num_arg(argv[optind - 1], optarg, 0, 4294967295.0, &v))
				goto usage;
			qmcp_put_u32(&m, c == 'i' ? QMCP_T_INTERVAL_MS : c == 'I' ? QMCP_T_IDLE_TIMEOUT_S
					 : c == 'A' ? QMCP_T_ACTIVE_TIMEOUT_S : c == 'F' ? QMCP_T_MAX_FLOWS
					 : QMCP_T_RTP_CLOCK_HZ, (uint32_t)v);
			break;
		case 'm': {
			uint32_t bits = QMCP_METRIC_TRAFFIC;
			char *copy = strdup(optarg), *save = NULL;
			for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				if (!strcmp(t, "tcp"))
					bits |= QMCP_METRIC_TCP;
				else if (!strcmp(t, "rtp"))
					bits |= QMCP_METRIC_RTP;
				else if (!strcmp(t, "icmp"))
					bits |= QMCP_METRIC_ICMP;
				else if (!strcmp(t, "dns"))
					bits |= QMCP_METRIC_DNS;
				else if (!strcmp(t, "quic"))
					bits |= QMCP_METRIC_QUIC;
				else if (!strcmp(t, "tls"))
					bits |= QMCP_METRIC_TLS;
				else if (!strcmp(t, "mpegts"))
					bits |= QMCP_METRIC_MPEGTS;
				else if (strcmp(t, "traffic")) {
					fprintf(stderr, "qmctl: --metrics: '%s' is not one of traffic, tcp, "
							"rtp, icmp, dns, quic, tls, mpegts\n", t);
					free(copy);
					goto usage;
				}
			}
			free(copy);
			qmcp_put_u32(&m, QMCP_T_METRICS, bits);
			break;
		}
		case 'r': {
			unsigned int a, b;
			char x;
			if (sscanf(optarg, "%u-%u%c", &a, &b, &x) != 2 || a < 1 || b > 65535 || a > b) {
				fprintf(stderr, "qmctl: --rtp-ports '%s': LO-HI, ports 1 to 65535, is "
						"expected\n", optarg);
				goto usage;
			}
			qmcp_put_u32(&m, QMCP_T_RTP_PORTS, a << 16 | b);
			break;
		}
		case 'p':
			qmcp_put_str(&m, QMCP_T_DNS_PORTS, optarg);
			break;
		case 'T':
			qmcp_put_u8(&m, QMCP_T_TLS_SNI, 1);
			break;
		case 'R': presults = 1; break;
		case 'E':
			if (num_arg("--packet-rate", optarg, 1, 1000000, &prate))
				goto usage;
			presults = 1;
			break;
		default:
			fprintf(stderr, "qmctl: start: unknown or incomplete option '%s'\n", argv[optind - 1]);
			goto usage;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "qmctl: start: unexpected argument '%s' (a filter goes in --filter)\n",
			argv[optind]);
		goto usage;
	}
	if (count && !watch) {
		fprintf(stderr, "qmctl: start: --count goes with --watch\n");
		goto usage;
	}
	if (presults)
		qmcp_put_u32(&m, QMCP_T_PACKET_RATE, prate ? (uint32_t)prate : QMCP_PACKET_RATE_DEFAULT);
	/* qmctl's session ends when it exits: what it starts persists unless watched here */
	qmcp_put_u8(&m, QMCP_T_PERSIST, !watch);
	struct qmcp_reply r;
	int rc = call(&m, &r);
	if (rc)
		return rc;
	struct qmcp_tlv t;
	uint32_t id = 0;
	if (qmcp_find(r.body, r.len, QMCP_T_MEAS_ID, &t) == 1)
		qmcp_tlv_u32(&t, &id);
	qmcp_reply_free(&r);
	if (watch) {
		char ids[16];
		snprintf(ids, sizeof(ids), "%u", id);
		if (!G.json)
			printf("measurement %u started; it ends with this watch\n", id);
		char *wargv[] = {"watch", ids, "--count", count, NULL};
		return cmd_watch(count ? 4 : 2, wargv);
	}
	if (G.json)
		printf("{\"id\": %u}\n", id);
	else
		printf("measurement %u started\n", id);
	return 0;
usage:
	qmcp_msg_free(&m);
	return EXIT_USAGE;
}

static int cmd_stop(int argc, char **argv)
{
	uint32_t id;
	if (id_arg(argc, argv, &id))
		return EXIT_USAGE;
	struct qmcp_msg m;
	struct qmcp_reply r;
	request(&m, QMCP_MSG_STOP);
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	int rc = call(&m, &r);
	if (rc)
		return rc;
	if (G.json)
		printf("{\"id\": %u, \"stopped\": true}\n", id);
	else
		printf("measurement %u stopped\n", id);
	qmcp_reply_free(&r);
	return 0;
}

static int cmd_list(int argc, char **argv, int one)
{
	uint32_t id = 0;
	if (one && id_arg(argc, argv, &id))
		return EXIT_USAGE;
	struct qmcp_msg m;
	struct qmcp_reply r;
	request(&m, one ? QMCP_MSG_STATUS : QMCP_MSG_LIST);
	if (one)
		qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	int rc = call(&m, &r);
	if (rc)
		return rc;
	json_t *all = json_list(&r, QMCP_T_MEAS, QMCP_T_MEAS_JSON);
	if (G.json || one) {
		print_json(one ? json_array_get(all, 0) : all);
	} else {
		printf("%4s %-8s %9s %9s %-7s %-28s %-24s %s\n", "id", "state", "interval", "intervals",
		       "persist", "owner", "filter", "description");
		size_t i;
		json_t *j;
		json_array_foreach(all, i, j) {
			const char *f = json_string_value(json_object_get(j, "filter"));
			printf("%4" JSON_INTEGER_FORMAT " %-8s %7.0fms %9" JSON_INTEGER_FORMAT " %-7s %-28s %-24s %s\n",
			       json_integer_value(json_object_get(j, "id")),
			       json_string_value(json_object_get(j, "state")),
			       json_number_value(json_object_get(j, "interval_ms")),
			       json_integer_value(json_object_get(j, "intervals")),
			       json_is_true(json_object_get(j, "persist")) ? "yes" : "no",
			       json_string_value(json_object_get(j, "owner")), f ? f : "(all)",
			       json_string_value(json_object_get(j, "description")));
		}
	}
	json_decref(all);
	qmcp_reply_free(&r);
	return 0;
}

static void fmt_rate(char *b, size_t n, double v)
{
	const char *u = "";
	if (v >= 1e9)
		v /= 1e9, u = "G";
	else if (v >= 1e6)
		v /= 1e6, u = "M";
	else if (v >= 1e3)
		v /= 1e3, u = "k";
	snprintf(b, n, "%.1f%s", v, u);
}

static void watch_header(void)
{
	printf("%-12s %6s %17s %15s %17s %8s %12s %9s %5s %12s %12s %15s %14s\n", "time (UTC)", "seq",
	       "bit/s fwd/rev", "pkt/s fwd/rev", "rtt p50/p99 ms", "retrans", "rtp lost", "jit max", "mos",
	       "quic rtt ms", "tls hello ms", "dns p50 ms/lost", "ts cc err/lost");
}

/* One interval as a row of the watch table. */
static void watch_row(json_t *j)
{
	char when[32], b0[16], b1[16], bb[40], pp[40], rtt[40] = "-", lost[32] = "-", jit[24] = "-",
	     mos[16] = "-", dns[40] = "-", quic[24] = "-", tls[24] = "-", ts[40] = "-";
	time_t sec = (time_t)(json_integer_value(json_object_get(j, "start_ns")) / 1000000000LL);
	struct tm tm;
	gmtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	json_t *bps = json_object_get(j, "bps"), *pps = json_object_get(j, "pps");
	fmt_rate(b0, sizeof(b0), json_number_value(json_object_get(bps, "fwd")));
	fmt_rate(b1, sizeof(b1), json_number_value(json_object_get(bps, "rev")));
	snprintf(bb, sizeof(bb), "%s/%s", b0, b1);
	fmt_rate(b0, sizeof(b0), json_number_value(json_object_get(pps, "fwd")));
	fmt_rate(b1, sizeof(b1), json_number_value(json_object_get(pps, "rev")));
	snprintf(pp, sizeof(pp), "%s/%s", b0, b1);
	json_t *tcp = json_object_get(j, "tcp");
	json_t *r = json_object_get(tcp, "rtt_ms");
	if (json_is_object(r))
		snprintf(rtt, sizeof(rtt), "%.3f/%.3f", json_number_value(json_object_get(r, "p50")),
			 json_number_value(json_object_get(r, "p99")));
	json_t *rt = json_object_get(json_object_get(tcp, "retransmissions"), "fwd");
	json_t *rr = json_object_get(json_object_get(tcp, "retransmissions"), "rev");
	json_t *rtp = json_object_get(j, "rtp");
	long e = 0, l = 0;
	double jm = -1, mn = 10;
	for (int d = 0; d < 2; d++) {
		json_t *x = json_object_get(rtp, d ? "rev" : "fwd");
		e += (long)json_integer_value(json_object_get(x, "expected"));
		l += (long)json_integer_value(json_object_get(x, "lost"));
	}
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(rtp, "streams"), i, s) {
		json_t *jj = json_object_get(s, "jitter_ms");
		if (json_is_object(jj) && json_number_value(json_object_get(jj, "max")) > jm)
			jm = json_number_value(json_object_get(jj, "max"));
		double m = json_number_value(json_object_get(s, "mos"));
		mn = m < mn ? m : mn;
	}
	if (e)
		snprintf(lost, sizeof(lost), "%ld/%ld", l, e);
	if (jm >= 0)
		snprintf(jit, sizeof(jit), "%.3fms", jm);
	if (mn < 10)
		snprintf(mos, sizeof(mos), "%.2f", mn);
	/* DNS: the median response time, and the queries found unanswered */
	json_t *dj = json_object_get(j, "dns"), *drt = json_object_get(dj, "response_time_ms");
	long un = (long)json_integer_value(json_object_get(dj, "unanswered"));
	if (json_is_object(drt))
		snprintf(dns, sizeof(dns), "%.3f/%ld", json_number_value(json_object_get(drt, "p50")), un);
	else if (un)
		snprintf(dns, sizeof(dns), "-/%ld", un);
	/* QUIC: the median spin-bit RTT of the clients' edges */
	json_t *qr = json_object_get(json_object_get(j, "quic"), "rtt_ms");
	if (json_is_object(qr))
		snprintf(quic, sizeof(quic), "%.3f", json_number_value(json_object_get(qr, "p50")));
	/* TLS: the median ClientHello -> ServerHello */
	json_t *th = json_object_get(json_object_get(j, "tls"), "client_hello_to_server_hello_ms");
	if (json_is_object(th))
		snprintf(tls, sizeof(tls), "%.3f", json_number_value(json_object_get(th, "p50")));
	/* MPEG-TS: continuity errors and the packets they say were lost */
	json_t *tj = json_object_get(j, "mpegts");
	if (json_integer_value(json_object_get(tj, "packets")))
		snprintf(ts, sizeof(ts), "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(tj, "cc_errors")),
			 json_integer_value(json_object_get(tj, "lost")));
	printf("%-12s %6" JSON_INTEGER_FORMAT " %17s %15s %17s %8" JSON_INTEGER_FORMAT
	       " %12s %9s %5s %12s %12s %15s %14s\n",
	       when, json_integer_value(json_object_get(j, "seq")), bb, pp, rtt,
	       json_integer_value(rt) + json_integer_value(rr), lost, jit, mos, quic, tls, dns, ts);
	fflush(stdout);
}

/* Have measurement id's results pushed to this session (Ctrl-C then ends the wait). */
static int subscribe(uint32_t id)
{
	struct qmcp_msg m;
	struct qmcp_reply r;
	request(&m, QMCP_MSG_SUBSCRIBE);
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	qmcp_put_u8(&m, QMCP_T_ON, 1);
	int rc = call(&m, &r);
	if (rc)
		return rc;
	qmcp_reply_free(&r);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	return 0;
}

/*
 * The next pushed result (up to half a second): 1 with *j its interval JSON
 * when it is measurement id's (NULL when it is another push), 0 on timeout,
 * -1 when the connection ended (said on stderr).
 */
static int next_result(uint32_t id, json_t **j)
{
	struct qmcp_reply r;
	*j = NULL;
	int k = qmcp_client_next_push(G.c, &r, 500);
	if (k == 0)
		return 0;
	if (k < 0) {
		fprintf(stderr, "qmctl: %s:%d: connection closed\n", G.host, G.port);
		return -1;
	}
	uint32_t mid = 0;
	struct qmcp_tlv t;
	if (r.h.type == QMCP_MSG_RESULT && qmcp_find(r.body, r.len, QMCP_T_MEAS_ID, &t) == 1 &&
	    qmcp_tlv_u32(&t, &mid) == 0 && mid == id)
		*j = json_of(r.body, r.len, QMCP_T_RESULT_JSON);
	qmcp_reply_free(&r);
	return 1;
}

static int cmd_watch(int argc, char **argv)
{
	uint32_t id;
	if (id_arg(argc, argv, &id))
		return EXIT_USAGE;
	double count = 0;
	if (argc == 4 && !strcmp(argv[2], "--count")) {
		if (num_arg("--count", argv[3], 1, 1e9, &count))
			return EXIT_USAGE;
	} else if (argc != 2) {
		fprintf(stderr, "qmctl: watch ID [--count N]\n");
		return EXIT_USAGE;
	}
	int rc = subscribe(id);
	if (rc)
		return rc;
	if (!G.json)
		watch_header();
	unsigned long rows = 0;
	while (!g_stop && (count == 0 || rows < (unsigned long)count)) {
		json_t *j;
		int k = next_result(id, &j);
		if (k < 0)
			return EXIT_CONN;
		if (!j)
			continue;
		if (G.json) {
			char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
			puts(s ? s : "{}");
			fflush(stdout);
			free(s);
		} else {
			watch_row(j);
		}
		rows++;
		json_decref(j);
	}
	return 0;
}

/* One PCAP_DATA of measurement id into out; 1 when it was the last. */
static int capture_data(const struct qmcp_reply *r, uint32_t id, FILE *out, int *failed)
{
	uint32_t mid = 0;
	struct qmcp_tlv t;
	if (r->h.type != QMCP_MSG_PCAP_DATA || qmcp_find(r->body, r->len, QMCP_T_MEAS_ID, &t) != 1 ||
	    qmcp_tlv_u32(&t, &mid) != 0 || mid != id)
		return 0;
	if (qmcp_find(r->body, r->len, QMCP_T_PCAPNG, &t) == 1 && t.len &&
	    (fwrite(t.val, 1, t.len, out) != t.len || fflush(out) != 0))
		*failed = 1;
	uint8_t why;
	if (qmcp_find(r->body, r->len, QMCP_T_CAPTURE_END, &t) != 1 || qmcp_tlv_u8(&t, &why) != 0)
		return 0;
	uint64_t pk = 0, dr = 0;
	if (qmcp_find(r->body, r->len, QMCP_T_CAP_PACKETS, &t) == 1)
		qmcp_tlv_u64(&t, &pk);
	if (qmcp_find(r->body, r->len, QMCP_T_CAP_DROPPED, &t) == 1)
		qmcp_tlv_u64(&t, &dr);
	static const char *const reason[] = {"", "its count", "its duration", "stopped",
					     "its measurement stopped", "the probe stops"};
	fprintf(stderr, "qmctl: capture of measurement %u ended (%s): %llu packets, %llu dropped\n", id,
		why < 6 ? reason[why] : "?", (unsigned long long)pk, (unsigned long long)dr);
	return 1;
}

static int cmd_capture(int argc, char **argv)
{
	uint32_t id;
	if (id_arg(argc, argv, &id))
		return EXIT_USAGE;
	const char *path = NULL, *filter = NULL;
	double snap = 0, count = 0, dur = 0, rate = 0;
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc) {
			fprintf(stderr, "qmctl: capture: '%s' needs a value\n", argv[i]);
			return EXIT_USAGE;
		}
		const char *o = argv[i], *v = argv[i + 1];
		if (!strcmp(o, "-w"))
			path = v;
		else if (!strcmp(o, "--filter"))
			filter = v;
		else if (!strcmp(o, "--snaplen")) {
			if (num_arg(o, v, 16, 65535, &snap))
				return EXIT_USAGE;
		} else if (!strcmp(o, "--count")) {
			if (num_arg(o, v, 1, UINT32_MAX, &count))
				return EXIT_USAGE;
		} else if (!strcmp(o, "--duration")) {
			if (num_arg(o, v, 0.001, 86400, &dur))
				return EXIT_USAGE;
		} else if (!strcmp(o, "--rate")) {
			if (num_arg(o, v, 1, 1e15, &rate))
				return EXIT_USAGE;
		} else {
			fprintf(stderr, "qmctl: capture: unknown option '%s' (-w, --snaplen, --count, "
					"--duration, --filter, --rate are known)\n", o);
			return EXIT_USAGE;
		}
	}
	if (!path) {
		fprintf(stderr, "qmctl: capture ID -w FILE (or -w - for stdout) is needed\n");
		return EXIT_USAGE;
	}
	FILE *out = strcmp(path, "-") ? fopen(path, "wb") : stdout;
	if (!out) {
		fprintf(stderr, "qmctl: -w %s: %s\n", path, strerror(errno));
		return EXIT_USAGE;
	}
	struct qmcp_msg m;
	struct qmcp_reply r;
	request(&m, QMCP_MSG_CAPTURE);
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	if (snap)
		qmcp_put_u32(&m, QMCP_T_SNAPLEN, (uint32_t)snap);
	if (count)
		qmcp_put_u32(&m, QMCP_T_COUNT, (uint32_t)count);
	if (dur)
		qmcp_put_u32(&m, QMCP_T_DURATION_MS, (uint32_t)(dur * 1000 + 0.5));
	if (rate)
		qmcp_put_u64(&m, QMCP_T_RATE_BPS, (uint64_t)rate);
	if (filter)
		qmcp_put_str(&m, QMCP_T_FILTER, filter);
	int rc = call(&m, &r);
	if (rc) {
		if (out != stdout)
			fclose(out);
		return rc;
	}
	qmcp_reply_free(&r);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	int done = 0, failed = 0, asked = 0;
	while (!done && !failed) {
		if (g_stop && !asked) {
			/* Ctrl-C: the probe ends it, and sends what it holds first */
			request(&m, QMCP_MSG_CAPTURE);
			qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
			qmcp_put_u8(&m, QMCP_T_ON, 0);
			asked = 1;
			if (call(&m, &r) == 0)
				qmcp_reply_free(&r);
		}
		int k = qmcp_client_next_push(G.c, &r, 200);
		if (k == 0)
			continue;
		if (k < 0) {
			fprintf(stderr, "qmctl: %s:%d: connection closed\n", G.host, G.port);
			rc = EXIT_CONN;
			break;
		}
		done = capture_data(&r, id, out, &failed);
		qmcp_reply_free(&r);
	}
	if (failed) {
		fprintf(stderr, "qmctl: -w %s: %s\n", path, strerror(errno));
		rc = EXIT_USAGE;
	}
	if (out != stdout && fclose(out) != 0 && !rc)
		rc = EXIT_USAGE;
	return rc;
}

/* One packet-results row (CSV of cols) as a JSON object: numbers as numbers, empty as null. */
static json_t *row_json(const char *cols, const char *row)
{
	json_t *o = json_object();
	char cb[512], rb[512], *cs = NULL;
	snprintf(cb, sizeof(cb), "%s", cols);
	snprintf(rb, sizeof(rb), "%s", row);
	char *c = strtok_r(cb, ",", &cs), *r = rb;
	while (c) {
		char *comma = strchr(r, ',');
		if (comma)
			*comma = 0;
		char *end;
		errno = 0;
		long long ll = strtoll(r, &end, 10);
		double d;
		if (!*r)
			json_object_set_new(o, c, json_null());
		else if (!*end && !errno)
			json_object_set_new(o, c, json_integer(ll));
		else if ((d = strtod(r, &end)), !*end)
			json_object_set_new(o, c, json_real(d));
		else
			json_object_set_new(o, c, json_string(r));
		r = comma ? comma + 1 : r + strlen(r);
		c = strtok_r(NULL, ",", &cs);
	}
	return o;
}

/* A row as a line of the table: time, flow, direction, size, and what the metrics saw. */
static void row_table(const char *row)
{
	char rb[512], *f[19];
	snprintf(rb, sizeof(rb), "%s", row);
	int k = 0;
	for (char *s = rb; k < 19; k++) {
		f[k] = s;
		char *c = strchr(s, ',');
		if (!c) {
			k++;
			break;
		}
		*c = 0;
		s = c + 1;
	}
	if (k < 19)
		return;
	unsigned long long ns = strtoull(f[0], NULL, 10);
	time_t sec = (time_t)(ns / 1000000000ULL);
	struct tm tm;
	char when[32], flow[160], tcp[64] = "", rtp[96] = "";
	gmtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	snprintf(flow, sizeof(flow), "%s:%s > %s:%s %s", f[1], f[2], f[3], f[4], f[5]);
	if (*f[8] || *f[10])
		snprintf(tcp, sizeof(tcp), "%s%s%s%s%s%s", *f[8] ? "rtt " : "", f[8], *f[8] ? " ms " : "",
			 !strcmp(f[10], "1") ? "retrans " : "", !strcmp(f[11], "1") ? "ooo " : "",
			 !strcmp(f[12], "1") ? "dup-ack" : "");
	if (*f[13])
		snprintf(rtp, sizeof(rtp), "rtp 0x%08lx seq %s%s%s%s", strtoul(f[13], NULL, 10), f[14],
			 *f[17] ? " jitter " : "", f[17], *f[17] ? " ms" : "");
	printf("%s.%09llu %-52s %3s %6s %s%s\n", when, ns % 1000000000ULL, flow, f[6], f[7], tcp, rtp);
}

static int cmd_packets(int argc, char **argv)
{
	uint32_t id;
	if (id_arg(argc, argv, &id))
		return EXIT_USAGE;
	double count = 0;
	int csv = 0;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--csv"))
			csv = 1;
		else if (!strcmp(argv[i], "--json"))
			G.json = 1;
		else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			if (num_arg("--count", argv[++i], 1, 1e12, &count))
				return EXIT_USAGE;
		} else {
			fprintf(stderr, "qmctl: packets ID [--count N] [--csv|--json]: '%s'?\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	int rc = subscribe(id);
	if (rc)
		return rc;
	unsigned long long shown = 0;
	int header = 0;
	while (!g_stop && (count == 0 || shown < (unsigned long long)count)) {
		json_t *j;
		if (next_result(id, &j) < 0)
			return EXIT_CONN;
		json_t *pr = json_object_get(j, "packet_results");
		if (j && !pr) {
			fprintf(stderr, "qmctl: measurement %u has no packet results (start it with "
					"--packet-results)\n", id);
			json_decref(j);
			return EXIT_REFUSED;
		}
		const char *cols = json_string_value(json_object_get(pr, "columns"));
		if (cols && csv && !header++)
			printf("%s\n", cols);
		size_t i;
		json_t *row;
		json_array_foreach(json_object_get(pr, "rows"), i, row) {
			if (count && shown >= (unsigned long long)count)
				break;
			const char *s = json_string_value(row);
			if (!s || !cols)
				continue;
			if (csv) {
				printf("%s\n", s);
			} else if (G.json) {
				json_t *o = row_json(cols, s);
				char *txt = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
				puts(txt ? txt : "{}");
				free(txt);
				json_decref(o);
			} else {
				row_table(s);
			}
			shown++;
		}
		fflush(stdout);
		json_decref(j);
	}
	return 0;
}

static int cmd_results(int argc, char **argv)
{
	uint32_t id;
	double last = 1;
	if (id_arg(argc, argv, &id))
		return EXIT_USAGE;
	if (argc == 4 && !strcmp(argv[2], "--last")) {
		if (num_arg("--last", argv[3], 1, 600, &last))
			return EXIT_USAGE;
	} else if (argc != 2) {
		fprintf(stderr, "qmctl: results ID [--last N]\n");
		return EXIT_USAGE;
	}
	struct qmcp_msg m;
	struct qmcp_reply r;
	request(&m, QMCP_MSG_RESULTS);
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	qmcp_put_u32(&m, QMCP_T_LAST, (uint32_t)last);
	int rc = call(&m, &r);
	if (rc)
		return rc;
	json_t *all = json_list(&r, QMCP_T_RESULT, QMCP_T_RESULT_JSON);
	if (G.json) {
		print_json(all);
	} else {
		watch_header();
		size_t i;
		json_t *j;
		json_array_foreach(all, i, j)
			watch_row(j);
	}
	json_decref(all);
	qmcp_reply_free(&r);
	return 0;
}

static int cmd_flows(int argc, char **argv)
{
	uint32_t id;
	double top = 20, off = 0;
	uint8_t sort = 0;
	if (id_arg(argc, argv, &id))
		return EXIT_USAGE;
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc) {
			fprintf(stderr, "qmctl: flows: option '%s' needs a value\n", argv[i]);
			return EXIT_USAGE;
		}
		if (!strcmp(argv[i], "--top")) {
			if (num_arg("--top", argv[i + 1], 1, 1000, &top))
				return EXIT_USAGE;
		} else if (!strcmp(argv[i], "--offset")) {
			if (num_arg("--offset", argv[i + 1], 0, 99999, &off))
				return EXIT_USAGE;
		} else if (!strcmp(argv[i], "--sort")) {
			if (strcmp(argv[i + 1], "bytes") && strcmp(argv[i + 1], "packets")) {
				fprintf(stderr, "qmctl: --sort '%s': bytes or packets\n", argv[i + 1]);
				return EXIT_USAGE;
			}
			sort = !strcmp(argv[i + 1], "packets");
		} else {
			fprintf(stderr, "qmctl: flows: unknown option '%s'\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	struct qmcp_msg m;
	struct qmcp_reply r;
	request(&m, QMCP_MSG_FLOWS);
	qmcp_put_u32(&m, QMCP_T_MEAS_ID, id);
	qmcp_put_u32(&m, QMCP_T_COUNT, (uint32_t)top);
	qmcp_put_u32(&m, QMCP_T_OFFSET, (uint32_t)off);
	qmcp_put_u8(&m, QMCP_T_SORT, sort);
	int rc = call(&m, &r);
	if (rc)
		return rc;
	json_t *a = json_of(r.body, r.len, QMCP_T_FLOWS_JSON);
	struct qmcp_tlv t;
	uint32_t total = 0;
	if (qmcp_find(r.body, r.len, QMCP_T_TOTAL, &t) == 1)
		qmcp_tlv_u32(&t, &total);
	if (G.json) {
		json_t *o = json_pack("{s:i,s:I,s:O}", "measurement", (int)id, "active_flows",
				      (json_int_t)total, "flows", a ? a : json_array());
		print_json(o);
		json_decref(o);
	} else {
		printf("%u active flows in measurement %u\n", total, id);
		printf("%-5s %-40s %-40s %17s %17s %10s\n", "proto", "source", "destination",
		       "packets fwd/rev", "bytes fwd/rev", "rtt ms");
		size_t i;
		json_t *f;
		json_array_foreach(a, i, f) {
			char src[80], dst[80], pk[48], by[48], rtt[24] = "-";
			snprintf(src, sizeof(src), "%s:%" JSON_INTEGER_FORMAT,
				 json_string_value(json_object_get(f, "src")),
				 json_integer_value(json_object_get(f, "sport")));
			snprintf(dst, sizeof(dst), "%s:%" JSON_INTEGER_FORMAT,
				 json_string_value(json_object_get(f, "dst")),
				 json_integer_value(json_object_get(f, "dport")));
			json_t *p = json_object_get(f, "packets"), *b = json_object_get(f, "bytes");
			snprintf(pk, sizeof(pk), "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
				 json_integer_value(json_object_get(p, "fwd")),
				 json_integer_value(json_object_get(p, "rev")));
			snprintf(by, sizeof(by), "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
				 json_integer_value(json_object_get(b, "fwd")),
				 json_integer_value(json_object_get(b, "rev")));
			json_t *rt = json_object_get(json_object_get(f, "tcp"), "rtt_ms");
			if (json_is_object(rt))
				snprintf(rtt, sizeof(rtt), "%.3f", json_number_value(json_object_get(rt, "mean")));
			json_t *pr = json_object_get(f, "proto");
			char pn[16];
			if (json_is_string(pr))
				snprintf(pn, sizeof(pn), "%s", json_string_value(pr));
			else
				snprintf(pn, sizeof(pn), "%" JSON_INTEGER_FORMAT, json_integer_value(pr));
			printf("%-5s %-40s %-40s %17s %17s %10s\n", pn, src, dst, pk, by, rtt);
		}
	}
	json_decref(a);
	qmcp_reply_free(&r);
	return 0;
}

/* ---- locate ---- */

static void located(const struct qmcp_located *p, void *arg)
{
	json_t *a = arg;
	json_array_append_new(a, json_pack("{s:s,s:i,s:s,s:s,s:s,s:b,s:b}", "address", p->addr, "port",
					   p->port, "probe_id", p->probe_id, "name", p->name,
					   "version", p->version, "auth_required", p->auth_required,
					   "verified", p->verified));
}

static int cmd_locate(int argc, char **argv)
{
	const char **targets = NULL;
	unsigned int n = 0, cap = 0;
	char **owned = NULL;
	unsigned int nowned = 0;
	for (int i = 1; i < argc; i++) {
		const char *slash = strchr(argv[i], '/');
		if (slash) {
			char a[64];
			struct in_addr in;
			char *end;
			long bits = strtol(slash + 1, &end, 10);
			snprintf(a, sizeof(a), "%.*s", (int)(slash - argv[i]), argv[i]);
			if (inet_pton(AF_INET, a, &in) != 1 || *end || bits < 16 || bits > 32) {
				fprintf(stderr, "qmctl: locate '%s': an IPv4 CIDR from /16 to /32 is "
						"expected\n", argv[i]);
				return EXIT_USAGE;
			}
			uint32_t base = ntohl(in.s_addr) & (bits ? ~0u << (32 - bits) : 0);
			uint32_t count = 1u << (32 - bits);
			for (uint32_t k = 0; k < count; k++) {
				if (n == cap) {
					cap = cap ? cap * 2 : 256;
					targets = realloc(targets, cap * sizeof(*targets));
					owned = realloc(owned, cap * sizeof(*owned));
				}
				struct in_addr x = {htonl(base + k)};
				char *s = malloc(INET_ADDRSTRLEN);
				inet_ntop(AF_INET, &x, s, INET_ADDRSTRLEN);
				targets[n++] = s;
				owned[nowned++] = s;
			}
		} else {
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				targets = realloc(targets, cap * sizeof(*targets));
				owned = realloc(owned, cap * sizeof(*owned));
			}
			targets[n++] = argv[i];
		}
	}
	static const char *dflt[] = {"255.255.255.255", "::1"};
	char err[300];
	json_t *found = json_array();
	int k = qmcp_locate(n ? targets : dflt, n ? n : 2, G.port, G.secret_file ? G.secret : NULL,
			    G.secret_len, G.timeout_ms < 2000 ? G.timeout_ms : 2000, located, found, err,
			    sizeof(err));
	for (unsigned int i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	free(targets);
	if (k < 0) {
		fprintf(stderr, "qmctl: locate: %s\n", err);
		json_decref(found);
		return EXIT_CONN;
	}
	if (G.json) {
		print_json(found);
	} else {
		printf("%-40s %5s %-24s %-20s %-8s %s\n", "address", "port", "probe id", "name", "version",
		       "auth");
		size_t i;
		json_t *p;
		json_array_foreach(found, i, p)
			printf("%-40s %5" JSON_INTEGER_FORMAT " %-24s %-20s %-8s %s\n",
			       json_string_value(json_object_get(p, "address")),
			       json_integer_value(json_object_get(p, "port")),
			       json_string_value(json_object_get(p, "probe_id")),
			       json_string_value(json_object_get(p, "name")),
			       json_string_value(json_object_get(p, "version")),
			       !json_is_true(json_object_get(p, "auth_required")) ? "none"
			       : json_is_true(json_object_get(p, "verified")) ? "secret (verified)"
									      : "secret (not verified)");
	}
	json_decref(found);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"probe", required_argument, NULL, 'p'},
					   {"secret-file", required_argument, NULL, 's'},
					   {"json", no_argument, NULL, 'j'},
					   {"tls", no_argument, NULL, 'T'},
					   {"ca", required_argument, NULL, 'C'},
					   {"timeout", required_argument, NULL, 't'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	snprintf(G.host, sizeof(G.host), "localhost");
	signal(SIGPIPE, SIG_IGN); /* a probe that closes while TLS writes to it: an error, not death */
	int c;
	double v;
	opterr = 0;
	/* global options end at the command */
	while ((c = getopt_long(argc, argv, "+:", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_probe(optarg)) {
				fprintf(stderr, "qmctl: --probe '%s': HOST, HOST:PORT or [IPv6]:PORT is "
						"expected\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 's': G.secret_file = optarg; break;
		case 'j': G.json = 1; break;
		case 'T': G.tls = 1; break;
		case 'C': G.ca = optarg; G.tls = 1; break;
		case 't':
			if (num_arg("--timeout", optarg, 1, 3600000, &v))
				return EXIT_USAGE;
			G.timeout_ms = (int)v;
			break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "qmctl: unknown or incomplete option '%s' (see --help)\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (G.secret_file) {
		char err[400];
		if (qmcp_secret_load(G.secret_file, G.secret, sizeof(G.secret), &G.secret_len, err,
				     sizeof(err))) {
			fprintf(stderr, "qmctl: --secret-file: %s\n", err);
			return EXIT_USAGE;
		}
	}
	const char *cmd = argv[optind];
	int cargc = argc - optind;
	char **cargv = argv + optind;
	static const char *known[] = {"locate", "info", "start", "stop", "list", "status", "watch",
				      "results", "flows", "capture", "packets", NULL};
	int ok = 0;
	for (int i = 0; known[i]; i++)
		ok |= !strcmp(cmd, known[i]);
	if (!ok) {
		fprintf(stderr, "qmctl: unknown command '%s'; locate, info, start, stop, list, status, "
				"watch, results, flows, capture and packets are known\n", cmd);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "locate"))
		return cmd_locate(cargc, cargv);
	int rc = connect_probe();
	if (rc)
		return rc;
	if (!strcmp(cmd, "info"))
		rc = cmd_info();
	else if (!strcmp(cmd, "start"))
		rc = cmd_start(cargc, cargv);
	else if (!strcmp(cmd, "stop"))
		rc = cmd_stop(cargc, cargv);
	else if (!strcmp(cmd, "list"))
		rc = cmd_list(cargc, cargv, 0);
	else if (!strcmp(cmd, "status"))
		rc = cmd_list(cargc, cargv, 1);
	else if (!strcmp(cmd, "watch"))
		rc = cmd_watch(cargc, cargv);
	else if (!strcmp(cmd, "results"))
		rc = cmd_results(cargc, cargv);
	else if (!strcmp(cmd, "capture"))
		rc = cmd_capture(cargc, cargv);
	else if (!strcmp(cmd, "packets"))
		rc = cmd_packets(cargc, cargv);
	else
		rc = cmd_flows(cargc, cargv);
	/* a polite end: the probe logs it as such */
	struct qmcp_msg m;
	struct qmcp_reply r;
	char err[200];
	request(&m, QMCP_MSG_BYE);
	if (qmcp_client_call(G.c, &m, &r, 1000, err, sizeof(err)) == 0)
		qmcp_reply_free(&r);
	qmcp_msg_free(&m);
	qmcp_client_close(G.c);
	return rc;
}
