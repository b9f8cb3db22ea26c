/*
 * TLS end to end: the handshakes of tests/gen/qp_tlsgen (TLS 1.3 and 1.2,
 * hellos cut over segments, a ClientHello sent again, a server's alert,
 * flows that only look like TLS) measured by build/qprobe against the
 * truth and against the frames tshark dates the handshake messages and the
 * client's first application data by.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gen/qp_tlsgen.h"
#include "qp_run.h"

#define T0 1700000000000000000ULL

static struct tg_truth truth;

static json_t *measure(char *path, size_t len, const char *extra)
{
	snprintf(path, len, "%s/tls.pcap", qp_tmpdir());
	struct pw w;
	cr_assert_eq(pw_open(&w, path, 1, 1), 0);
	tg_write(&w, T0, 8446, &truth);
	pw_close(&w);
	return qp_offline_report(path, "tls", extra);
}

static json_t *tls_of(json_t *rep, const struct tg_conn *c)
{
	json_t *f = qp_find_flow(rep, c->client, c->cport, c->server, c->sport);
	cr_assert_not_null(f, "no flow %s:%u", c->client, c->cport);
	return json_object_get(f, "tls");
}

static void expect_ms(json_t *o, const char *k, int64_t ns, const struct tg_conn *c)
{
	json_t *v = json_object_get(o, k);
	if (ns < 0) {
		cr_expect(json_is_null(v), "%s:%u %s should be null", c->client, c->cport, k);
		return;
	}
	double want = (double)ns / 1e6, got = json_real_value(v);
	cr_expect(json_is_real(v) && qp_near(got, want),
		  "%s:%u %s: %.9g, want %.9g", c->client, c->cport, k, got, want);
}

static const char *vname(uint16_t v)
{
	return v == 0x0304 ? "TLS 1.3" : v == 0x0303 ? "TLS 1.2" : "?";
}

Test(tls_metrics, every_handshake_equals_its_truth, .timeout = 120)
{
	char path[256];
	json_t *rep = measure(path, sizeof(path), "--tls-sni");
	int tls = 0;
	for (int i = 0; i < truth.n; i++) {
		const struct tg_conn *c = &truth.c[i];
		json_t *t = tls_of(rep, c);
		if (!c->tls) {
			cr_expect_null(t, "%s:%u only looks like TLS", c->client, c->cport);
			continue;
		}
		cr_assert_not_null(t, "%s:%u has no tls", c->client, c->cport);
		tls++;
		cr_expect_str_eq(json_string_value(json_object_get(t, "client")), "fwd");
		cr_expect_str_eq(json_string_value(json_object_get(t, "client_version")),
				 vname(c->client_version), "%s:%u", c->client, c->cport);
		if (c->version)
			cr_expect_str_eq(json_string_value(json_object_get(t, "version")), vname(c->version),
					 "%s:%u", c->client, c->cport);
		else
			cr_expect(json_is_null(json_object_get(t, "version")));
		expect_ms(t, "client_hello_to_server_hello_ms", c->hello_ns, c);
		expect_ms(t, "server_hello_to_client_data_ms", c->data_ns, c);
		if (c->sni[0])
			cr_expect_str_eq(json_string_value(json_object_get(t, "sni")), c->sni);
		else
			cr_expect_null(json_object_get(t, "sni"), "%s:%u: the name is not in the first segment",
				       c->client, c->cport);
		cr_expect_eq(json_integer_value(json_object_get(t, "malformed")), c->malformed);
	}
	cr_assert_eq(tls, 6);
	json_t *tot = json_object_get(rep, "tls");
	cr_expect_eq(json_integer_value(json_object_get(tot, "handshakes")), 5);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(tot, "versions"), "TLS 1.2")), 1);
	json_decref(rep);
	/* by default the server name, personal data, is not reported */
	rep = measure(path, sizeof(path), NULL);
	cr_expect_null(json_object_get(tls_of(rep, &truth.c[0]), "sni"));
	json_decref(rep);
}

Test(tls_metrics, handshake_times_equal_the_frames_tshark_dates_them_by, .timeout = 120)
{
	char path[256];
	json_t *rep = measure(path, sizeof(path), NULL);
	/* per client port: the ClientHello's frame, the ServerHello's, the
	 * client's first frame with an application-data record after it */
	static unsigned long long ch[65536], sh[65536], data[65536];
	memset(ch, 0, sizeof(ch));
	memset(sh, 0, sizeof(sh));
	memset(data, 0, sizeof(data));
	char cmd[700];
	snprintf(cmd, sizeof(cmd),
		 "tshark -r '%s' -d tcp.port==8443,tls -Y 'tls and not tcp.analysis.retransmission' "
		 "-T fields -E separator=';' -e frame.time_epoch -e tcp.srcport -e tcp.dstport "
		 "-e tls.handshake.type -e tls.record.content_type -e tls.record.opaque_type 2>/dev/null",
		 path);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	char line[512];
	while (fgets(line, sizeof(line), p)) {
		char *f[6] = {0};
		int nf = 0;
		for (char *q = line, *s; nf < 6; q = s + 1) {
			f[nf++] = q;
			s = strpbrk(q, ";\n");
			if (!s)
				break;
			char c = *s;
			*s = 0;
			if (c == '\n')
				break;
		}
		cr_assert_geq(nf, 4, "tshark line");
		int sp = atoi(f[1]), dp = atoi(f[2]);
		int to_server = dp == 443 || dp == 8443;
		int port = to_server ? sp : dp;
		unsigned long long ts = qp_seconds_ns(f[0]);
		const char *hs = f[3] ? f[3] : "";
		if (to_server && strstr(hs, "1") == hs && !ch[port])
			ch[port] = ts;
		if (!to_server && strstr(hs, "2") == hs && !sh[port])
			sh[port] = ts;
		int app = (nf > 4 && f[4] && strstr(f[4], "23")) || (nf > 5 && f[5] && strstr(f[5], "23"));
		if (to_server && app && sh[port] && !data[port])
			data[port] = ts;
	}
	pclose(p);
	int compared = 0;
	for (int i = 0; i < truth.n; i++) {
		const struct tg_conn *c = &truth.c[i];
		if (!c->tls || c->hello_ns < 0)
			continue;
		json_t *t = tls_of(rep, c);
		cr_assert(ch[c->cport] && sh[c->cport] && data[c->cport], "tshark: %s:%u", c->client,
			  c->cport);
		expect_ms(t, "client_hello_to_server_hello_ms", (int64_t)(sh[c->cport] - ch[c->cport]), c);
		expect_ms(t, "server_hello_to_client_data_ms", (int64_t)(data[c->cport] - sh[c->cport]), c);
		compared++;
	}
	cr_assert_eq(compared, 5);
	json_decref(rep);
}

Test(tls_metrics, the_family_can_be_left_out, .timeout = 60)
{
	char path[256];
	json_t *rep = measure(path, sizeof(path), "--metrics=tcp,rtp,icmp,dns,quic");
	cr_expect_null(tls_of(rep, &truth.c[0]));
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(rep, "tls"), "handshakes")), 0);
	json_decref(rep);
}
