/*
 * The realistic mix of the offline benchmark (tests/gen/qp_mixgen, `qp_gen
 * mix`), measured by build/qprobe: its report equals what the generator
 * decided (frames, bytes, flows of each kind, the largest flow, each TCP
 * flow's handshake times, the retransmissions each way), and Wireshark
 * finds the same retransmissions and no other TCP event in it: the mix is
 * traffic a TCP analyser calls ordinary, so the benchmark measures the
 * common path.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../gen/qp_mixgen.h"
#include "qp_run.h"

#define T0 1700000000000000000ULL

static struct mg_truth truth;

static json_t *measure(char *path, size_t len)
{
	snprintf(path, len, "%s/mix.pcap", qp_tmpdir());
	struct pw w;
	cr_assert_eq(pw_open(&w, path, 1, 0), 0);
	cr_assert_eq(mg_write(&w, T0, 60000, 1000, &truth), 0);
	pw_close(&w);
	return qp_offline_report(path, "mix", NULL);
}

Test(mix, the_report_equals_what_the_generator_wrote, .timeout = 120)
{
	char path[256];
	json_t *rep = measure(path, sizeof(path));
	json_t *cap = json_object_get(rep, "capture");
	cr_assert_eq(truth.frames, 60000);
	cr_assert_eq(qp_geti(cap, "packets"), 60000);
	cr_assert_eq(qp_geti(cap, "measured"), 60000);
	cr_assert_eq((uint64_t)qp_geti(cap, "bytes"), truth.bytes);
	cr_assert_eq(qp_geti(cap, "flows"), 1000);
	json_t *fl = json_object_get(rep, "flows");
	cr_assert_eq(json_array_size(fl), 1000);
	uint32_t tcp = 0, udp = 0, v6 = 0;
	uint64_t hs = 0, hs_ack = 0, largest = 0, first = UINT64_MAX, last = 0;
	uint64_t retrans[2] = {0, 0};
	for (size_t i = 0; i < json_array_size(fl); i++) {
		json_t *f = json_array_get(fl, i);
		const char *p = json_string_value(json_object_get(f, "proto"));
		v6 += qp_geti(f, "ip_version") == 6;
		json_t *pk = json_object_get(f, "packets");
		uint64_t n = (uint64_t)(qp_geti(pk, "fwd") + qp_geti(pk, "rev"));
		largest = n > largest ? n : largest;
		uint64_t a = (uint64_t)qp_geti(f, "first_ns"), b = (uint64_t)qp_geti(f, "last_ns");
		first = a < first ? a : first;
		last = b > last ? b : last;
		if (strcmp(p, "udp") == 0) {
			udp++;
			continue;
		}
		cr_assert_str_eq(p, "tcp");
		tcp++;
		json_t *t = json_object_get(f, "tcp");
		/* whole microseconds, written in milliseconds with three decimals */
		hs += (uint64_t)llround(json_real_value(json_object_get(t, "handshake_rtt_ms")) * 1000);
		hs_ack += (uint64_t)llround(json_real_value(json_object_get(t, "handshake_ack_rtt_ms")) * 1000);
		cr_assert(json_is_real(json_object_get(t, "handshake_rtt_ms")), "flow %zu: no handshake", i);
		json_t *re = json_object_get(t, "retransmissions");
		retrans[0] += (uint64_t)qp_geti(re, "fwd");
		retrans[1] += (uint64_t)qp_geti(re, "rev");
		cr_assert_eq(qp_geti(json_object_get(t, "out_of_order"), "fwd") +
				     qp_geti(json_object_get(t, "out_of_order"), "rev") +
				     qp_geti(json_object_get(t, "dup_acks"), "fwd") +
				     qp_geti(json_object_get(t, "dup_acks"), "rev"),
			     0, "flow %zu", i);
	}
	cr_assert_eq(tcp, truth.tcp_flows);
	cr_assert_eq(udp, truth.udp_flows);
	cr_assert_eq(v6, truth.v6_flows);
	cr_assert_eq(tcp, 610);
	cr_assert_eq(v6, 93);
	cr_assert_eq(hs, truth.hs_rtt_us);
	cr_assert_eq(hs_ack, truth.hs_ack_rtt_us);
	cr_assert_eq(largest, truth.largest);
	cr_assert_eq(first, truth.first_ns);
	cr_assert_eq(last, truth.last_ns);
	cr_assert_eq(retrans[0], truth.retrans[0]);
	cr_assert_eq(retrans[1], truth.retrans[1]);
	cr_assert_eq(retrans[0], 17);
	cr_assert_eq(retrans[1], 93);
	/* the capture-wide figures add up the flows' */
	json_t *re = json_object_get(json_object_get(rep, "tcp"), "retransmissions");
	cr_assert_eq(qp_geti(re, "fwd"), 17);
	cr_assert_eq(qp_geti(re, "rev"), 93);

	char cmd[512];
	snprintf(cmd, sizeof(cmd), "tshark -r '%s' -Y tcp.analysis.retransmission 2>/dev/null | wc -l",
		 path);
	cr_assert_eq(qp_sh_long(cmd), 110, "Wireshark's retransmissions");
	snprintf(cmd, sizeof(cmd),
		 "tshark -r '%s' -Y 'tcp.analysis.flags && !tcp.analysis.retransmission' 2>/dev/null | wc -l",
		 path);
	cr_assert_eq(qp_sh_long(cmd), 0, "Wireshark's other TCP events");
	json_decref(rep);
}
