/*
 * libFuzzer target for the two JSON files an operator writes: byte 0 even,
 * the rest is a probe configuration (--config FILE, config_load); odd, a NIC
 * profile in a directory of its own (drivers-cfg/NAME.json, profile_check_dir,
 * as `qprobe --check-profiles` reads it). Either is read whole or refused
 * with errors that count: a configuration with no error is complete, one
 * with errors says how many.
 */
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include "fuzz.h"
#include "config.h"
#include "profile.h"
#include "qprobe.h"

static char dir[64];

static void gone(void)
{
	rmdir(dir);
}

static int profile(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		strcpy(dir, "/tmp/qp-fuzz-profile-XXXXXX");
		if (!mkdtemp(dir)) {
			dir[0] = 0;
			return 0;
		}
		atexit(gone);
	}
	char path[128];
	snprintf(path, sizeof(path), "%s/fuzz.json", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return 0;
	ssize_t w = write(fd, data, size);
	close(fd);
	if (w != (ssize_t)size)
		return 0;
	int nfiles;
	int errors = profile_check_dir(dir, &nfiles);
	if (nfiles != 1 || errors < 0)
		fuzz_fail("profile_check_dir: %d files, %d errors", nfiles, errors);
	struct profile p;
	char note[256];
	int found = profile_for(dir, "fuzz", &p, note, sizeof(note));
	if ((found == -1) != (errors != 0))
		fuzz_fail("profile_for: %d for a profile with %d errors", found, errors);
	unlink(path);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 16))
		return 0;
	if (data[0] & 1)
		return profile(data + 1, size - 1);
	char path[64];
	int fd = fuzz_file(data + 1, size - 1, path, sizeof(path));
	if (fd < 0)
		return 0;
	struct qprobe_opts o = {
		.interval_ns = 1000000000ull,
		.idle_ns = 120000000000ull,
		.meas_max_flows = 65536,
		.rtp = {.dynamic_clock_hz = 8000},
	};
	static struct config cfg;
	int errors = config_load(path, &o, &cfg);
	close(fd);
	if (errors < 0)
		fuzz_fail("config_load: %d errors", errors);
	if (errors == 0 && (cfg.nmeas < 0 || cfg.nmeas > CONFIG_MEAS_MAX))
		fuzz_fail("config_load: %d measurements", cfg.nmeas);
	return 0;
}
