/*
 * qp_frame: one frame as handed to the worker, from a port (live) or a
 * capture file (offline).
 */
#ifndef QP_FRAME_H
#define QP_FRAME_H

#include <stdint.h>

struct qp_frame {
	const uint8_t *data;
	uint32_t caplen;  /* bytes present at data */
	uint32_t wirelen; /* length on the wire (FCS excluded) */
	uint64_t ts_ns;
	uint16_t port; /* live: the DPDK port it came in on (pcap results); not read offline */
};

#endif
