/*
 * DNS end to end: the generated workload of tests/gen/qp_dnsgen (UDP over
 * IPv4 and IPv6, TCP with whole and cut messages; answered, lost,
 * retransmitted, doubly answered queries, answers to another question)
 * measured by build/qprobe and compared with the scenarios' truth, flow
 * by flow, and with tshark's dns.time on the same responses.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gen/qp_dnsgen.h"
#include "qp_run.h"

#define T0 1700000000000000000ULL

static struct dg_truth truth;

/* The workload written to a fresh file and measured: the report. */
static json_t *measure(int wrong, char *path, size_t len, const char *extra)
{
	snprintf(path, len, "%s/dns-%d.pcap", qp_tmpdir(), wrong);
	struct pw w;
	cr_assert_eq(pw_open(&w, path, 1, 1), 0);
	dg_write(&w, T0, 53, wrong, &truth);
	pw_close(&w);
	return qp_offline_report(path, wrong ? "dns-1" : "dns-0", extra);
}

/* a real of the report against the exact value */
static void expect_near(json_t *o, const char *k, double want, const struct dg_flow *f)
{
	double v = json_real_value(json_object_get(o, k));
	cr_expect(qp_near(v, want), "%s:%u %s: %.12g, want %.12g", f->client, f->cport, k, v, want);
}

static json_t *flow_of(json_t *rep, const struct dg_flow *f)
{
	json_t *fl = qp_find_flow(rep, f->client, f->cport, f->server, f->sport);
	cr_assert_not_null(fl, "no flow %s:%u", f->client, f->cport);
	return fl;
}

Test(dns_metrics, every_flow_equals_its_truth, .timeout = 120)
{
	char path[256];
	json_t *rep = measure(1, path, sizeof(path), NULL);
	cr_assert_eq(json_array_size(json_object_get(rep, "flows")), (size_t)truth.n);
	struct dg_flow sum;
	memset(&sum, 0, sizeof(sum));
	int wrong = 0, retrans = 0, unanswered = 0, pending = 0, cut = 0;
	for (int i = 0; i < truth.n; i++) {
		const struct dg_flow *f = &truth.f[i];
		json_t *d = json_object_get(flow_of(rep, f), "dns");
		cr_assert_not_null(d, "%s:%u has no dns", f->client, f->cport);
		cr_expect_eq(qp_geti(d, "queries"), f->queries, "%s:%u queries", f->client, f->cport);
		cr_expect_eq(qp_geti(d, "responses"), f->responses, "%s:%u", f->client, f->cport);
		cr_expect_eq(qp_geti(d, "answered"), f->answered, "%s:%u", f->client, f->cport);
		cr_expect_eq(qp_geti(d, "unanswered"), f->unanswered, "%s:%u", f->client, f->cport);
		cr_expect_eq(qp_geti(d, "pending"), f->pending, "%s:%u", f->client, f->cport);
		cr_expect_eq(qp_geti(d, "retransmitted"), f->retransmitted, "%s:%u", f->client, f->cport);
		cr_expect_eq(qp_geti(d, "unmatched"), f->unmatched, "%s:%u", f->client, f->cport);
		cr_expect_eq(qp_geti(d, "truncated"), f->truncated, "%s:%u", f->client, f->cport);
		cr_expect_eq(qp_geti(d, "malformed"), 0);
		cr_expect_eq(qp_geti(d, "untracked"), 0);
		cr_expect_eq(qp_geti(d, "tcp_lost"), 0);
		json_t *rc = json_object_get(d, "rcodes");
		static const char *names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
		uint32_t listed = 0;
		for (int k = 0; k < 6; k++) {
			json_t *v = json_object_get(rc, names[k]);
			cr_expect_eq(v ? (uint32_t)json_integer_value(v) : 0, f->rcodes[k], "%s:%u %s",
				     f->client, f->cport, names[k]);
			listed += f->rcodes[k] ? 1 : 0;
		}
		cr_expect_eq(json_object_size(rc), listed, "only the codes seen are listed");
		json_t *rt = json_object_get(d, "response_time_ms");
		cr_expect_eq(qp_geti(rt, "samples"), f->rt_n);
		expect_near(rt, "min", (double)f->rt_min / 1e6, f);
		expect_near(rt, "max", (double)f->rt_max / 1e6, f);
		expect_near(rt, "mean", (double)f->rt_sum / f->rt_n / 1e6, f);
		/* UDP flows have their percentiles (within a bucket's 0.79 %) */
		if (f->proto == 17)
			cr_expect_leq(json_real_value(json_object_get(rt, "p99")), (double)f->rt_max / 1e6);
		sum.queries += f->queries;
		sum.answered += f->answered;
		sum.responses += f->responses;
		sum.unanswered += f->unanswered;
		sum.rt_n += f->rt_n;
		wrong += f->wrong;
		retrans += f->retransmitted > 0;
		unanswered += f->unanswered > 0;
		pending += f->pending > 0;
		cut += f->cut;
	}
	/* the workload has every case it claims */
	cr_assert(wrong > 0 && retrans > 0 && unanswered > 0 && pending > 0 && cut == 1,
		  "wrong %d, retransmitted %d, unanswered %d, pending %d, cut %d", wrong, retrans,
		  unanswered, pending, cut);
	json_t *tot = json_object_get(rep, "dns");
	cr_assert_eq(qp_geti(tot, "queries"), sum.queries);
	cr_assert_eq(qp_geti(tot, "responses"), sum.responses);
	cr_assert_eq(qp_geti(tot, "answered"), sum.answered);
	cr_assert_eq(qp_geti(json_object_get(tot, "response_time_ms"), "samples"), sum.rt_n);
	/* the intervals add up to the totals; unanswered ones are found by a later query */
	long iq = 0, ia = 0, iu = 0;
	size_t i;
	json_t *iv;
	json_array_foreach(json_object_get(rep, "intervals"), i, iv) {
		json_t *d = json_object_get(iv, "dns");
		iq += qp_geti(d, "queries");
		ia += qp_geti(d, "answered");
		iu += qp_geti(d, "unanswered");
	}
	cr_assert_eq(iq, sum.queries);
	cr_assert_eq(ia, sum.answered);
	cr_assert_eq(iu, sum.unanswered);
	json_decref(rep);
}

/* tshark's dns.time of the responses to one client port: count, min, max, sum in ns. */
struct ts_agg {
	long n;
	long long min, max, sum;
};

static void tshark_times(const char *path, struct ts_agg *by_port)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd),
		 "tshark -r '%s' -Y 'dns.time' -T fields -e udp.dstport -e tcp.dstport -e dns.time "
		 "2>/dev/null",
		 path);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	char line[256];
	while (fgets(line, sizeof(line), p)) {
		char udp[256] = "", tcp[256] = "", t[256] = "";
		/* fields are tab-separated; one of the ports is empty */
		char *a = line, *b = strchr(a, '\t'), *c = b ? strchr(b + 1, '\t') : NULL;
		cr_assert(b && c, "tshark line '%s'", line);
		*b = *c = 0;
		snprintf(udp, sizeof(udp), "%s", a);
		snprintf(tcp, sizeof(tcp), "%s", b + 1);
		snprintf(t, sizeof(t), "%s", c + 1);
		int port = atoi(udp[0] ? udp : tcp);
		cr_assert(port > 0 && port < 65536);
		struct ts_agg *g = &by_port[port];
		/* a frame with several responses lists their times comma-separated */
		for (char *save = NULL, *one = strtok_r(t, ",\n", &save); one;
		     one = strtok_r(NULL, ",\n", &save)) {
			long long ns = (long long)qp_seconds_ns(one);
			if (!g->n || ns < g->min)
				g->min = ns;
			if (ns > g->max)
				g->max = ns;
			g->n++;
			g->sum += ns;
		}
	}
	pclose(p);
}

Test(dns_metrics, response_times_equal_tsharks_dns_time, .timeout = 120)
{
	char path[256];
	json_t *rep = measure(0, path, sizeof(path), NULL);
	static struct ts_agg by_port[65536];
	memset(by_port, 0, sizeof(by_port));
	tshark_times(path, by_port);
	int compared = 0;
	for (int i = 0; i < truth.n; i++) {
		const struct dg_flow *f = &truth.f[i];
		cr_assert_eq(f->wrong, 0);
		if (f->cut)
			continue; /* tshark dates a cut message by its last segment */
		const struct ts_agg *g = &by_port[f->cport];
		json_t *rt = json_object_get(json_object_get(flow_of(rep, f), "dns"), "response_time_ms");
		cr_expect_eq(qp_geti(rt, "samples"), g->n, "%s:%u", f->client, f->cport);
		expect_near(rt, "min", (double)g->min / 1e6, f);
		expect_near(rt, "max", (double)g->max / 1e6, f);
		expect_near(rt, "mean", (double)g->sum / g->n / 1e6, f);
		compared++;
	}
	cr_assert_eq(compared, truth.n - 1);
	json_decref(rep);
}

Test(dns_metrics, other_ports_and_the_family_switch, .timeout = 120)
{
	char path[256];
	/* DNS on 5353 only: port 53 is plain UDP and TCP */
	json_t *rep = measure(1, path, sizeof(path), "--dns-ports=5353");
	cr_assert_eq(qp_geti(json_object_get(rep, "dns"), "queries"), 0);
	cr_assert_null(json_object_get(flow_of(rep, &truth.f[0]), "dns"));
	json_decref(rep);
	rep = measure(1, path, sizeof(path), "--metrics=tcp,rtp,icmp");
	cr_assert_eq(qp_geti(json_object_get(rep, "dns"), "queries"), 0);
	cr_assert_null(json_object_get(flow_of(rep, &truth.f[0]), "dns"));
	json_decref(rep);
	rep = measure(1, path, sizeof(path), "--metrics=dns");
	cr_assert_eq(qp_geti(json_object_get(rep, "dns"), "answered") > 0, 1);
	json_decref(rep);
}

Test(dns_metrics, bad_port_lists_are_refused_with_what_is_accepted)
{
	char qb[256];
	snprintf(qb, sizeof(qb), "%s/qprobe", qp_build());
	const char *bad[] = {"--dns-ports=0", "--dns-ports=53,x", "--dns-ports=1,2,3,4,5,6,7,8,9",
			     "--metrics=dns,voip"};
	const char *msg[] = {"qprobe: --dns-ports '0' is not a port list; expected PORT[,PORT...]: 1 "
			     "to 8 ports from 1 to 65535\n",
			     "qprobe: --dns-ports '53,x' is not a port list; expected PORT[,PORT...]: "
			     "1 to 8 ports from 1 to 65535\n",
			     "qprobe: --dns-ports '1,2,3,4,5,6,7,8,9' names more than 8 ports; "
			     "expected PORT[,PORT...]: 1 to 8 ports from 1 to 65535\n",
			     "qprobe: --metrics 'dns,voip': 'voip' is not a metric family; these are: "
			     "traffic, tcp, rtp, icmp, dns, quic, tls, mpegts\n"};
	for (int i = 0; i < 4; i++) {
		char *argv[] = {qb, "--pcap", "tests/data/demo.pcap", (char *)bad[i], NULL};
		struct qp_run_result r;
		qp_run(argv, NULL, 30, &r);
		cr_assert_eq(r.status, 1, "%s", bad[i]);
		cr_assert_str_eq(r.err, msg[i]);
	}
}
