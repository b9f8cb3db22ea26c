/*
 * scripts/vs-wireshark on the `qp_gen qos` capture (60 TCP flows with RTO
 * retransmissions, three RTP streams with jitter, losses and wraps): every
 * TCP and RTP figure qprobe reports agrees with tshark's, row by row.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "qp_run.h"

/* scripts/vs-wireshark [opts] on a fresh `qp_gen qos` capture: its output to read. */
static FILE *vs_qos(const char *name, const char *opts)
{
	char pcap[256], gen[256], bin[256], cmd[1024];
	snprintf(pcap, sizeof(pcap), "%s/%s", qp_tmpdir(), name);
	snprintf(gen, sizeof(gen), "%s/qp_gen", qp_build());
	snprintf(bin, sizeof(bin), "%s/qprobe", qp_build());
	snprintf(cmd, sizeof(cmd), "'%s' qos '%s'", gen, pcap);
	cr_assert_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "scripts/vs-wireshark %s '%s' '%s' 2>&1", opts, pcap, bin);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	return p;
}

Test(vs_wireshark, every_row_of_the_qos_capture_agrees, .timeout = 120)
{
	FILE *p = vs_qos("qos.pcap", "");
	char line[512];
	int rows = 0, agree = 0, rtp_rows = 0;
	while (fgets(line, sizeof(line), p)) {
		if (strncmp(line, "| tcp", 5) && strncmp(line, "| rtp", 5))
			continue;
		rows++;
		rtp_rows += strncmp(line, "| rtp", 5) == 0;
		if (strstr(line, "| yes |"))
			agree++;
		else
			cr_log_error("disagrees: %s", line);
	}
	int rc = pclose(p);
	cr_assert_eq(rows, 13 + 5 * 4, "5 TCP counts, 2 x 4 RTT rows, 4 rows per RTP stream");
	cr_assert_eq(rtp_rows, 20, "PT 96 timed by the SDP, two SSRCs on one port pair: as tshark has them");
	cr_assert_eq(agree, rows);
	cr_assert_eq(rc, 0);
}

/* The same capture flow by flow: every row of every TCP flow agrees. */
Test(vs_wireshark, every_flow_of_the_qos_capture_agrees, .timeout = 120)
{
	FILE *p = vs_qos("qos-flows.pcap", "--flows");
	char line[512], last[512] = "";
	int flow_rows = 0, hs_rows = 0;
	while (fgets(line, sizeof(line), p)) {
		if (!strncmp(line, "| flow ", 7)) {
			flow_rows++;
			hs_rows += strstr(line, " handshake (ms) ") != NULL;
			if (!strstr(line, "| yes |"))
				cr_log_error("disagrees: %s", line);
		}
		if (line[0] != '\n')
			snprintf(last, sizeof(last), "%s", line);
	}
	int rc = pclose(p);
	/* 60 flows: 4 for packets and bytes, 10 for the TCP events, 1 handshake,
	 * RTT samples both ways and their min and max where there are samples */
	cr_assert_eq(hs_rows, 60);
	cr_assert_gt(flow_rows, 60 * 15);
	cr_assert(strstr(last, " agree, 0 by definition, 0 disagree"), "%s", last);
	cr_assert_eq(rc, 0);
}
