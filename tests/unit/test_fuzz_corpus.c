/*
 * The fuzzers' saved inputs (tests/fuzz/corpus/fuzz_NAME/), replayed through
 * the same targets built with gcc: every decoder of outside input meets every
 * input that once found new code in it, in both builds (ASan/UBSan in one).
 * Each target checks what must hold for any input and aborts when it does not;
 * a crash here names the target and, in its log, the input.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_TARGETS(X)                                                               \
	X(fuzz_capture) X(fuzz_config) X(fuzz_http) X(fuzz_parse) X(fuzz_qmcp) X(fuzz_sdp)  \
	X(fuzz_spool) X(fuzz_webcfg)

#define DECL_(n) int n(const uint8_t *data, size_t size);
FUZZ_TARGETS(DECL_)
#undef DECL_

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* feed every file of the target's corpus to it; returns how many */
static int replay(const char *name, int (*fn)(const uint8_t *, size_t))
{
	char dir[256];
	snprintf(dir, sizeof(dir), "tests/fuzz/corpus/%s", name);
	struct dirent **list;
	int n = scandir(dir, &list, NULL, by_name);
	cr_assert_geq(n, 0, "%s: cannot read %s", name, dir);
	int fed = 0;
	for (int i = 0; i < n; i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
		FILE *f = list[i]->d_name[0] == '.' ? NULL : fopen(path, "rb");
		if (f) {
			fseek(f, 0, SEEK_END);
			long len = ftell(f);
			rewind(f);
			uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
			cr_assert_not_null(b);
			cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len, "%s: short read", path);
			fclose(f);
			fprintf(stderr, "%s: %s (%ld bytes)\n", name, path, len);
			cr_assert_eq(fn(b, (size_t)len), 0, "%s: %s", name, path);
			free(b);
			fed++;
		}
		free(list[i]);
	}
	free(list);
	return fed;
}

#define TEST_(n)                                                                      \
	Test(fuzz_corpus, n, .timeout = 300)                                          \
	{                                                                             \
		int fed = replay(#n, n);                                              \
		cr_assert_geq(fed, 2, #n ": %d inputs saved, at least 2 expected", fed); \
	}
FUZZ_TARGETS(TEST_)
#undef TEST_

/* a target in tests/fuzz/ that this file does not replay is a mistake */
Test(fuzz_corpus, every_target_is_replayed)
{
	static const char *const known[] = {
#define NAME_(n) #n ".c",
		FUZZ_TARGETS(NAME_)
#undef NAME_
	};
	struct dirent **list;
	int n = scandir("tests/fuzz", &list, NULL, by_name);
	cr_assert_geq(n, 0, "cannot read tests/fuzz");
	int targets = 0;
	for (int i = 0; i < n; i++) {
		const char *d = list[i]->d_name;
		size_t l = strlen(d);
		if (strncmp(d, "fuzz_", 5) == 0 && l > 2 && strcmp(d + l - 2, ".c") == 0) {
			int found = 0;
			for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
				found |= strcmp(known[k], d) == 0;
			cr_expect(found, "tests/fuzz/%s is a target test_fuzz_corpus does not replay", d);
			targets++;
		}
		free(list[i]);
	}
	free(list);
	cr_assert_eq(targets, (int)(sizeof(known) / sizeof(known[0])), "targets in tests/fuzz/");
}
