/*
 * config: the probe's JSON configuration file (read with jansson), for
 * unattended appliances: the DPDK environment (lcores, ports, memory), HTTP,
 * flow limits, port settings, log level, identity, QMCP access, and standing
 * measurements started at boot. `qprobe --config FILE` alone starts a probe
 * from it (EAL options from $.dpdk).
 *
 *   {"probe": {"id": "core-tap-1", "name": "Core tap 1"},
 *    "dpdk": {"lcores": "0-3", "ports": ["0000:3b:00.0"], "vdevs": [], "hugepages": true,
 *             "memory_mb": 2048, "file_prefix": "qprobe", "extra": []},
 *    "http": {"addr": "127.0.0.1", "port": 8178, "allow": ["10.0.0.0/8"]},
 *    "flows": {"max_flows": 262144, "flow_budget": 1048576},
 *    "ports": {"mbufs": 65535, "rx_desc": 4096, "drivers_cfg": "/usr/local/share/qprobe/drivers-cfg"},
 *    "log_level": "info",
 *    "ipfix": {"domain": 17},
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
#include <stdint.h>

#include "meas.h"
#include "qprobe.h"

#define CONFIG_MEAS_MAX 16
#define CONFIG_PORTS_MAX 16
#define CONFIG_EXTRA_MAX 16

/* The DPDK environment, for a probe started by `qprobe --config FILE` alone. */
struct config_dpdk {
	int given;           /* $.dpdk present */
	char lcores[128];    /* EAL --lcores */
	char ports[CONFIG_PORTS_MAX][32];   /* PCI addresses (EAL -a) */
	int nports;
	char vdevs[CONFIG_PORTS_MAX][512];  /* virtual devices (EAL --vdev) */
	int nvdevs;
	int hugepages;       /* 1 yes (default), 0 --no-huge */
	long long memory_mb; /* EAL -m, 0: EAL's choice (hugepages) */
	char file_prefix[64];
	char extra[CONFIG_EXTRA_MAX][128];  /* further EAL options, as given */
	int nextra;
};

struct config {
	struct config_dpdk dpdk;
	char http_addr[64];
	char http_allow[1024];
	int http_port;          /* -1: not given */
	uint32_t max_flows;     /* per measurement and lcore, 0: not given */
	uint64_t flow_budget;   /* 0: not given */
	uint64_t capture_ceiling; /* bit/s, 0: not given */
	uint32_t mbufs, rx_desc; /* 0: not given */
	char drivers_cfg[512];
	char log_level[16];     /* "": not given */
	char probe_id[128], probe_name[128];
	char qmcp_addr[64];
	int qmcp_port; /* -1: not given */
	char allow[1024];
	char secret_file[512];
	char web_config[512]; /* $.http.web_config */
	char spool[512];      /* $.push.spool */
	char tls_cert[512], tls_key[512], tls_ca[512]; /* $.qmcp.tls_* */
	int tls_only;
	uint32_t spool_mb;    /* $.push.spool_mb, 0: not given */
	uint32_t ipfix_domain; /* $.ipfix.domain, 0 when not given */
	struct meas_params meas[CONFIG_MEAS_MAX];
	int nmeas;
};

/**
 * EAL arguments for a probe configured by the file alone: argv[0] and what
 * $.dpdk says, into argv (at most max - 1 entries, NULL-terminated).
 * @return the count, or -1 when the file has no $.dpdk.
 */
int config_eal_args(const struct config *cfg, const char *argv0, char **argv, int max);

/**
 * Read and check a file; defaults for measurement fields come from o.
 * @return the number of errors (0: cfg is complete); each error is printed
 *         to stderr as "qprobe: FILE: $.path: message".
 */
int config_load(const char *path, const struct qprobe_opts *o, struct config *cfg);

#endif
