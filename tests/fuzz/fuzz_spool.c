/*
 * libFuzzer target for the results spool as a probe reads it back at start
 * (--spool DIR, spool_load): the input is a spool file, as a crash, a full
 * disk or another program may have left it. Whatever it holds, the reader
 * gives back whole results only (each with its JSON) or refuses the file by
 * name; it never reads past a record.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "spool.h"

static char dir[64];

static void gone(void)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/spool-66757a7a.bin", dir);
	unlink(path);
	rmdir(dir);
}

static void take(void *arg, const char *dest, struct spool_item *items, unsigned int n,
		 const struct spool_gap *gaps, unsigned int ngaps)
{
	(void)arg;
	(void)gaps;
	if (!dest || strlen(dest) > 255 || ngaps > 16)
		fuzz_fail("destination '%.40s', %u gaps", dest ? dest : "(null)", ngaps);
	for (unsigned int i = 0; i < n; i++) {
		if (!items[i].json)
			fuzz_fail("result %u without its JSON", i);
		free(items[i].json);
		free(items[i].flows);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	if (!dir[0]) {
		strcpy(dir, "/tmp/qp-fuzz-spool-XXXXXX");
		if (!mkdtemp(dir))
			fuzz_fail("no directory for the spool");
		atexit(gone);
	}
	char path[128], err[512] = "";
	snprintf(path, sizeof(path), "%s/spool-66757a7a.bin", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		fuzz_fail("cannot write %s", path);
	close(fd);
	int n = spool_load(dir, take, NULL, err, sizeof(err));
	if (n < -1 || n > 1 || (n == -1 && !strstr(err, "is not a spool file of qprobe")))
		fuzz_fail("spool_load: %d, '%s'", n, err);
	unlink(path); /* a refused file stays where it was: gone before the next input */
	return 0;
}
