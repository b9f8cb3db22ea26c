/*
 * libFuzzer target for a capture file measured offline, the whole way: the
 * pcap and pcapng readers, the parser, every metric of the worker (TCP, RTP,
 * SIP/SDP, ICMP echo, inter-arrival), the interval and flow reports. The
 * input is the file, whole (any capture is a seed as it is); its size modulo
 * 32 chooses the options: bit 0 the table report instead of JSON, bit 1 the
 * same file as a two-point peer capture (record matching), bit 2 a one-flow
 * table (evictions), bit 3 a 1 ms interval, bit 4 an active timeout of 1 ms.
 * Whatever the file, qp_offline_run returns one of its exit codes: a refusal
 * (2) or damage (3) is an answer, not a failure.
 */
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "qp_flow_key.h"
#include "qp_offline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	unsigned int o = (unsigned int)(size % 32);
	char path[64];
	int fd = fuzz_file(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	struct qp_offline_opts off = {
		.path = path,
		.interval_ns = o & 8 ? 1000000ull : 1000000000ull,
		.idle_ns = 120000000000ull,
		.active_ns = o & 16 ? 1000000ull : 0,
		.max_flows = o & 4 ? 1 : 64,
		.flow_dists = 4,
		.report_format = o & 1 ? "table" : "json",
		.report_file = "/dev/null",
		.rtp = {.dynamic_clock_hz = 8000},
		.flow_key = QP_FLOW_KEY_DEFAULT,
		.peer_path = o & 2 ? path : NULL,
		.loss_timer_ns = 2000000000ull,
		.break_ns = 1000000000ull,
		.match_window = 64,
	};
	qp_sig_cfg_default(&off.sig);
	int rc = qp_offline_run(&off);
	close(fd);
	if (rc != QP_EXIT_OK && rc != QP_EXIT_INPUT && rc != QP_EXIT_DAMAGED)
		fuzz_fail("qp_offline_run: exit code %d on a file of %zu bytes", rc, size);
	return 0;
}
