/*
 * qp_filter: tcpdump expressions on built frames, with the verdict libpcap
 * gives, whatever runs them (DPDK's eBPF JIT, or libpcap's interpreter for
 * the loads DPDK 22.11 converts wrongly).
 */
#include <criterion/criterion.h>
#include <string.h>

#include <rte_eal.h>

#include "../gen/qp_pcapw.h"
#include "qp_filter.h"
#include "qp_parse_dp.h"

static void eal_up(void)
{
	char *argv[] = {"test_filter", "--no-huge", "-m", "64", "--no-shconf", "--no-pci",
			"--log-level=error", "--no-telemetry", NULL};
	cr_assert_geq(rte_eal_init(8, argv), 0, "DPDK's EAL for the filters");
}

TestSuite(filter, .init = eal_up);

/* A SYN 10.0.0.1:1234 -> 10.0.0.2:80, seq 3, with 100 bytes of data and IP options. */
static uint32_t syn(struct pb *b, int ip_opts)
{
	pb_init(b);
	pb_payload(b, 100);
	pb_push_tcp(b, 1234, 80, 3, 0, 0x02, 1000);
	pb_push_ip4(b, "10.0.0.1", "10.0.0.2", 1, 0);
	if (ip_opts) { /* four NOPs: the TCP header moves by 4 */
		uint8_t *ip = pb_data(b);
		uint8_t hdr[20];
		memcpy(hdr, ip, 20);
		b->head += 20;
		uint8_t nops[4] = {1, 1, 1, 1};
		pb_push_raw(b, nops, 4);
		hdr[0] = 0x46;
		hdr[3] = (uint8_t)(hdr[3] + 4);
		hdr[10] = hdr[11] = 0;
		pb_push_raw(b, hdr, 20);
	}
	pb_push_eth(b);
	return pb_len(b);
}

Test(filter, indexed_loads_of_every_size)
{
	static const struct {
		const char *expr;
		int match;
	} cases[] = {
		{"tcp[13] & 2 != 0", 1}, /* a byte at an indexed offset */
		{"tcp[13] = 2", 1},
		{"tcp[13] & 0x10 != 0", 0},
		{"tcp[12] = 0x50", 1},
		{"tcp[4:4] = 3", 1}, /* a word */
		{"tcp[4:4] = 4", 0},
		{"tcp[2:2] = 80", 1}, /* a half-word */
		{"tcp[tcpflags] & tcp-syn != 0", 1},
		{"tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn", 1},
		{"port 80 and tcp[13] = 2", 1},
		{"udp[8] = 0x80", 0},
		{"host 10.0.0.2 and greater 100", 1},
		{"less 100", 0},
		{"ip[9] = 6", 1}, /* a byte at a fixed offset */
	};
	for (int opts = 0; opts < 2; opts++) {
		struct pb b;
		uint32_t len = syn(&b, opts);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			char err[256];
			struct qp_filter *f =
				qp_filter_compile(cases[i].expr, QP_LINK_ETHERNET, err, sizeof(err));
			cr_assert_not_null(f, "%s: %s", cases[i].expr, err);
			cr_assert_eq(qp_filter_match(f, pb_data(&b), len), cases[i].match,
				     "'%s' on a SYN%s", cases[i].expr, opts ? " with IP options" : "");
			/* cut before the TCP header: nothing past the capture is read */
			if (strstr(cases[i].expr, "tcp["))
				cr_assert_eq(qp_filter_match(f, pb_data(&b), 30), 0, "'%s' cut",
					     cases[i].expr);
			qp_filter_free(f);
		}
	}
}

Test(filter, a_bad_expression_says_why)
{
	char err[256];
	cr_assert_null(qp_filter_compile("tcp[13 & 2", QP_LINK_ETHERNET, err, sizeof(err)));
	cr_assert(strstr(err, "bad filter 'tcp[13 & 2'") != NULL, "%s", err);
	cr_assert(strstr(err, "pcap-filter(7)") != NULL, "%s", err);
}
