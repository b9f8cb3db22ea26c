/*
 * spool (app/qprobe/spool.c): results written, acknowledged and given gaps
 * come back from the file as they were left, in order; a record cut short by
 * a crash ends the file without losing what came before; a rewrite keeps only
 * what is still to send; a file that is not a spool is refused by name.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../app/qprobe/spool.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/qp-spool-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(spool, .init = setup, .fini = teardown);

/* what spool_load gave */
static struct {
	int calls;
	char dest[256];
	unsigned int n, ngaps;
	struct spool_item items[16];
	struct spool_gap gaps[16];
} got;

static void take(void *arg, const char *dest, struct spool_item *items, unsigned int n,
		 const struct spool_gap *gaps, unsigned int ngaps)
{
	(void)arg;
	got.calls++;
	snprintf(got.dest, sizeof(got.dest), "%s", dest);
	cr_assert_leq(n, 16);
	got.n = n;
	memcpy(got.items, items, n * sizeof(items[0]));
	got.ngaps = ngaps;
	memcpy(got.gaps, gaps, ngaps * sizeof(gaps[0]));
}

static int load(char *err, size_t errlen)
{
	memset(&got, 0, sizeof(got));
	return spool_load(dir, take, NULL, err, errlen);
}

static struct spool_item item(uint32_t meas, uint64_t seq, const char *json, const char *flows)
{
	return (struct spool_item){meas, seq, 1000 * seq, 0, 0, 0, (char *)json, (char *)flows};
}

static void free_got(void)
{
	for (unsigned int i = 0; i < got.n; i++) {
		free(got.items[i].json);
		free(got.items[i].flows);
	}
}

static const char *only_file(void)
{
	static char path[256];
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "ls %s/spool-*.bin", dir);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(path, sizeof(path), p));
	pclose(p);
	path[strcspn(path, "\n")] = 0;
	return path;
}

Test(spool, what_was_left_comes_back_in_order)
{
	char err[256];
	struct spool *s = spool_open(dir, "[2001:db8::7]:9000", err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	struct spool_item a = item(1, 0, "{\"seq\":0}", "[{\"rank\":0}]");
	struct spool_item b = item(1, 1, "{\"seq\":1}", NULL);
	struct spool_item c = item(2, 7, "{\"seq\":7}", NULL);
	cr_assert_eq(spool_put(s, &a), 0);
	cr_assert_eq(spool_put(s, &b), 0);
	cr_assert_eq(spool_put(s, &c), 0);
	cr_assert_eq(spool_ack(s, 1, 0), 0);
	cr_assert_eq(spool_gap(s, 2, 7, 5, 2), 0);
	cr_assert_eq(spool_gap(s, 9, UINT64_MAX, 40, 3), 0);
	spool_close(s, 0);

	cr_assert_eq(load(err, sizeof(err)), 1, "%s", err);
	cr_assert_eq(got.calls, 1);
	cr_expect_str_eq(got.dest, "[2001:db8::7]:9000");
	cr_assert_eq(got.n, 2);
	cr_expect_eq(got.items[0].meas, 1);
	cr_expect_eq(got.items[0].seq, 1);
	cr_expect_eq(got.items[0].start_ns, 1000);
	cr_expect_str_eq(got.items[0].json, "{\"seq\":1}");
	cr_expect_null(got.items[0].flows);
	cr_expect_eq(got.items[0].has_gap, 0);
	cr_expect_eq(got.items[1].meas, 2);
	cr_expect_eq(got.items[1].seq, 7);
	cr_expect_eq(got.items[1].has_gap, 1);
	cr_expect_eq(got.items[1].gap_from, 5);
	cr_expect_eq(got.items[1].gap_count, 2);
	cr_assert_eq(got.ngaps, 1);
	cr_expect_eq(got.gaps[0].meas, 9);
	cr_expect_eq(got.gaps[0].from, 40);
	cr_expect_eq(got.gaps[0].count, 3);
	free_got();
}

Test(spool, a_record_cut_short_ends_the_file_there)
{
	char err[256];
	struct spool *s = spool_open(dir, "127.0.0.1:9000", err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	struct spool_item a = item(1, 0, "{\"seq\":0}", NULL);
	struct spool_item b = item(1, 1, "{\"seq\":1, \"long\": \"xxxxxxxxxxxxxxxxxxxxxxxx\"}", NULL);
	cr_assert_eq(spool_put(s, &a), 0);
	uint64_t whole = spool_bytes(s);
	cr_assert_eq(spool_put(s, &b), 0);
	spool_close(s, 0);
	/* the second record half written, as a crash leaves it */
	cr_assert_eq(truncate(only_file(), (off_t)whole + 20), 0);
	cr_assert_eq(load(err, sizeof(err)), 1, "%s", err);
	cr_assert_eq(got.n, 1);
	cr_expect_str_eq(got.items[0].json, "{\"seq\":0}");
	free_got();
	/* a byte changed inside a record: its checksum ends the file there too */
	s = spool_open(dir, "127.0.0.1:9000", err, sizeof(err));
	cr_assert_eq(spool_put(s, &a), 0);
	cr_assert_eq(spool_put(s, &b), 0);
	spool_close(s, 0);
	FILE *f = fopen(only_file(), "r+");
	cr_assert_not_null(f);
	fseek(f, (long)whole + 30, SEEK_SET);
	fputc('#', f);
	fclose(f);
	cr_assert_eq(load(err, sizeof(err)), 1, "%s", err);
	cr_assert_eq(got.n, 1);
	free_got();
}

Test(spool, a_rewrite_keeps_only_what_is_still_to_send)
{
	char err[256];
	struct spool *s = spool_open(dir, "receiver.example:9000", err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	uint64_t header = spool_bytes(s);
	struct spool_item it[10];
	char text[10][32];
	for (int i = 0; i < 10; i++) {
		snprintf(text[i], sizeof(text[i]), "{\"seq\":%d}", i);
		it[i] = item(3, (uint64_t)i, text[i], NULL);
		uint64_t before = spool_bytes(s);
		cr_assert_eq(spool_put(s, &it[i]), 0);
		cr_expect_eq(spool_bytes(s) - before, spool_item_bytes(&it[i]), "a result's bytes");
	}
	for (int i = 0; i < 8; i++)
		cr_assert_eq(spool_ack(s, 3, (uint64_t)i), 0);
	const struct spool_item *left[2] = {&it[8], &it[9]};
	cr_assert_eq(spool_rewrite(s, left, 2, NULL, 0), 0);
	cr_expect_eq(spool_bytes(s), header + spool_item_bytes(&it[8]) + spool_item_bytes(&it[9]));
	struct stat st;
	cr_assert_eq(stat(only_file(), &st), 0);
	cr_expect_eq((uint64_t)st.st_size, spool_bytes(s));
	spool_close(s, 0);
	cr_assert_eq(load(err, sizeof(err)), 1, "%s", err);
	cr_assert_eq(got.n, 2);
	cr_expect_eq(got.items[0].seq, 8);
	cr_expect_eq(got.items[1].seq, 9);
	free_got();
}

Test(spool, nothing_left_to_send_leaves_no_file)
{
	char err[256];
	struct spool *s = spool_open(dir, "127.0.0.1:9000", err, sizeof(err));
	struct spool_item a = item(1, 0, "{}", NULL);
	cr_assert_eq(spool_put(s, &a), 0);
	cr_assert_eq(spool_ack(s, 1, 0), 0);
	spool_close(s, 0);
	/* everything acknowledged: read as nothing, and the file goes */
	cr_assert_eq(load(err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(got.calls, 0);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "ls %s | grep -c spool- >/dev/null", dir);
	cr_expect_neq(system(cmd), 0, "no spool file left");
}

Test(spool, a_file_that_is_not_a_spool_is_refused)
{
	char path[256], err[512], want[512];
	snprintf(path, sizeof(path), "%s/spool-6869.bin", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("these are not the records you are looking for\n", f);
	fclose(f);
	cr_assert_eq(load(err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s is not a spool file of qprobe (move it out of the spool directory)", path);
	cr_expect_str_eq(err, want);
	/* a directory that cannot be made */
	cr_assert_eq(spool_load("/proc/nope/spool", take, NULL, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "cannot make the spool directory /proc/nope/spool: No such file or directory");
}
