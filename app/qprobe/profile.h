/*
 * profile: per-NIC profiles (drivers-cfg/NAME.json). A port's DPDK driver name
 * picks its profile; the probe takes from it the rx descriptor count, whether
 * and how far to use RSS, the RSS hash fields, and reports the family, the
 * hardware timestamping note and the quirks. A driver without a profile gets
 * safe defaults and a warning; a profile that does not parse stops the probe
 * (every mistake with its JSON path), never a half-configured port.
 *
 * Thread-safety: main thread, before the ports start.
 */
#ifndef QPROBE_PROFILE_H
#define QPROBE_PROFILE_H

#include <stddef.h>
#include <stdint.h>

struct profile {
	char file[256];    /* the profile's file name, "" for the defaults */
	char family[128];
	uint32_t rx_desc;  /* 0: the probe's --rx-desc */
	uint32_t max_rx_queues; /* RSS over at most this many queues; 0: no limit */
	int rss;           /* 0: never RSS (software distribution) */
	uint64_t rss_hf;   /* RTE_ETH_RSS_* to hash on */
	char timestamp[16]; /* "none", "rx_offload", "ptp_only", "file" */
	int nquirks;
};

/** The directory used when none is given: next to the program (../drivers-cfg), else DATADIR. */
const char *profile_default_dir(void);

/**
 * The profile for driver in dir. @return 1 found, 0 none (defaults filled,
 * why in note), -1 a profile there does not parse (errors printed).
 */
int profile_for(const char *dir, const char *driver, struct profile *p, char *note, size_t notelen);

/** Check every profile of dir. @return the number of errors (printed with paths). */
int profile_check_dir(const char *dir, int *nfiles);

#endif
