/*
 * config: the probe's JSON configuration file (read with jansson), for
 * unattended appliances: identity, QMCP access, and standing measurements
 * started at boot.
 *
 *   {"probe": {"id": "core-tap-1", "name": "Core tap 1"},
 *    "qmcp": {"addr": "::", "port": 8177, "allow": ["10.0.0.0/8"],
 *             "secret_file": "/etc/qprobe/secret"},
 *    "measurements": [{"description": "voice", "filter": "udp", "interval_ms": 1000,
 *                      "metrics": ["rtp"], "idle_timeout_s": 120, "active_timeout_s": 1800,
 *                      "max_flows": 65536, "rtp_ports": [16384, 32767], "rtp_clock_hz": 8000,
 *                      "destinations": ["10.0.0.5:8179"]}]}
 *
 * Every error names its JSON path ($.measurements[0].interval_ms) and what is
 * accepted; unknown keys are errors (a misspelt key must not be ignored).
 * Command-line options given explicitly win over the file.
 *
 * Thread-safety: main thread, before anything starts.
 */
#ifndef QPROBE_CONFIG_H
#define QPROBE_CONFIG_H

#include <stddef.h>

#include "meas.h"
#include "qprobe.h"

#define CONFIG_MEAS_MAX 16

struct config {
	char probe_id[128], probe_name[128];
	char qmcp_addr[64];
	int qmcp_port; /* -1: not given */
	char allow[1024];
	char secret_file[512];
	struct meas_params meas[CONFIG_MEAS_MAX];
	int nmeas;
};

/**
 * Read and check a file; defaults for measurement fields come from o.
 * @return the number of errors (0: cfg is complete); each error is printed
 *         to stderr as "qprobe: FILE: $.path: message".
 */
int config_load(const char *path, const struct qprobe_opts *o, struct config *cfg);

#endif
