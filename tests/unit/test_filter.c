/*
 * qp_filter: tcpdump expressions on built frames, with the verdict libpcap
 * gives, whatever runs them: DPDK's eBPF JIT (live; libpcap's interpreter
 * for the loads DPDK 22.11 converts wrongly) or libpcap's interpreter alone
 * (capture files: qp_filter_compile_classic). The two give the same verdict
 * on every frame of tcpdump's captures.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pcap/pcap.h>
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
	for (int classic = 0; classic < 2; classic++)
		for (int opts = 0; opts < 2; opts++) {
			struct pb b;
			uint32_t len = syn(&b, opts);
			for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
				char err[256];
				const char *expr = cases[i].expr;
				struct qp_filter *f =
					classic ? qp_filter_compile_classic(expr, QP_LINK_ETHERNET, err,
									    sizeof(err))
						: qp_filter_compile(expr, QP_LINK_ETHERNET, err, sizeof(err));
				cr_assert_not_null(f, "%s: %s", expr, err);
				cr_assert_eq(qp_filter_match(f, pb_data(&b), len), cases[i].match,
					     "'%s' on a SYN%s (%s)", expr, opts ? " with IP options" : "",
					     classic ? "libpcap" : "eBPF");
				/* cut before the TCP header: nothing past the capture is read */
				if (strstr(expr, "tcp["))
					cr_assert_eq(qp_filter_match(f, pb_data(&b), 30), 0,
						     "'%s' cut (%s)", expr, classic ? "libpcap" : "eBPF");
				if (classic)
					cr_assert_eq(qp_filter_is_jit(f), 0, "%s", expr);
				qp_filter_free(f);
			}
		}
}

/* The same expressions on every frame of tcpdump's captures (any link type
 * libpcap compiles them for): DPDK's eBPF and libpcap's interpreter agree
 * on each, so a live port and a capture file filter alike. Frames of more
 * than 64 KiB are left out: an mbuf segment holds 64 KiB, so the eBPF one
 * sees their first 64 KiB only. */
Test(filter, the_two_engines_agree_on_tcpdumps_captures, .timeout = 300)
{
	static const char *const exprs[] = {
		"tcp", "udp port 53", "ip6", "vlan", "tcp[13] & 2 != 0", "greater 200",
		"icmp or arp", "net 10.0.0.0/8", "ip[6:2] & 0x1fff != 0", "udp[8:2] = 0x8000",
		"portrange 1000-2000", "ip and len < 100", "tcp[tcpflags] & tcp-rst != 0",
		"ip6 and ip6[6] = 17", "not ip", "ether[0] & 1 = 1",
	};
	const size_t nx = sizeof(exprs) / sizeof(exprs[0]);
	const char *cd = getenv("QP_CORPUS") ? getenv("QP_CORPUS") : "../shared/corpus/tcpdump";
	DIR *d = opendir(cd);
	if (!d)
		cr_skip_test("no corpus at %s", cd);
	struct dirent *e;
	long files = 0, frames = 0, verdicts = 0, matched = 0, refused = 0;
	char path[1024], eb[PCAP_ERRBUF_SIZE], err[256];
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 5, ".pcap") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", cd, e->d_name);
		pcap_t *pc = pcap_open_offline(path, eb);
		if (!pc)
			continue;
		int lt = pcap_datalink(pc);
		struct qp_filter *ebpf[16], *classic[16];
		for (size_t i = 0; i < nx; i++) {
			ebpf[i] = qp_filter_compile(exprs[i], lt, err, sizeof(err));
			classic[i] = qp_filter_compile_classic(exprs[i], lt, err, sizeof(err));
			cr_assert(ebpf[i] == NULL || classic[i] != NULL,
				  "%s: '%s' compiles for eBPF only", e->d_name, exprs[i]);
		}
		files++;
		for (size_t i = 0; i < nx; i++) {
			/* DPDK's eBPF loader refuses some of libpcap's programs for
			 * other link types (an immediate it does not take); live
			 * ports are Ethernet, where it takes each of these */
			if (classic[i] && !ebpf[i]) {
				cr_assert_neq(lt, DLT_EN10MB, "%s: '%s' refused by eBPF", e->d_name,
					      exprs[i]);
				qp_filter_free(classic[i]);
				classic[i] = NULL;
				refused++;
			}
		}
		struct pcap_pkthdr *h;
		const u_char *data;
		while (pcap_next_ex(pc, &h, &data) == 1) {
			if (h->caplen > UINT16_MAX)
				continue;
			frames++;
			for (size_t i = 0; i < nx; i++) {
				if (!classic[i])
					continue;
				int a = qp_filter_match(ebpf[i], data, h->caplen);
				int b = qp_filter_match(classic[i], data, h->caplen);
				cr_assert_eq(a, b, "%s frame %ld: '%s' eBPF %d, libpcap %d", e->d_name,
					     frames, exprs[i], a, b);
				verdicts++;
				matched += a;
			}
		}
		for (size_t i = 0; i < nx; i++) {
			qp_filter_free(ebpf[i]);
			qp_filter_free(classic[i]);
		}
		pcap_close(pc);
	}
	closedir(d);
	cr_log_info("corpus: %ld captures, %ld frames, %ld verdicts the same (%ld matches); "
		    "%ld programs for other link types refused by eBPF",
		    files, frames, verdicts, matched, refused);
	cr_assert_gt(files, 400, "tcpdump's captures were read");
	cr_assert_gt(matched, 1000, "the expressions match some frames");
	cr_assert_lt(matched, verdicts, "and leave others");
}

Test(filter, a_bad_expression_says_why)
{
	char err[256];
	cr_assert_null(qp_filter_compile("tcp[13 & 2", QP_LINK_ETHERNET, err, sizeof(err)));
	cr_assert(strstr(err, "bad filter 'tcp[13 & 2'") != NULL, "%s", err);
	cr_assert(strstr(err, "pcap-filter(7)") != NULL, "%s", err);
	err[0] = 0;
	cr_assert_null(qp_filter_compile_classic("tcp[13 & 2", QP_LINK_ETHERNET, err, sizeof(err)));
	cr_assert(strstr(err, "bad filter 'tcp[13 & 2'") != NULL, "%s", err);
	cr_assert(strstr(err, "pcap-filter(7)") != NULL, "%s", err);
}
