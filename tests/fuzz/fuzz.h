/*
 * What the fuzz targets share. Each target is one file defining
 * LLVMFuzzerTestOneInput: built with clang and libFuzzer by `make fuzz`
 * (scripts/fuzz.sh), and built with gcc into tests/unit/test_fuzz_corpus
 * under its own name (FUZZ_NAME), which replays the saved corpus
 * tests/fuzz/corpus/NAME/ in both builds of `make test`.
 *
 * A target checks what must hold for any input and calls fuzz_fail() when it
 * does not: a crash libFuzzer saves, a failure the replay reports.
 */
#ifndef QP_FUZZ_H
#define QP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef FUZZ_NAME
/* the corpus replay links every target: each under its own name */
#define LLVMFuzzerTestOneInput FUZZ_NAME
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_fail(...)                                                                \
	do {                                                                          \
		fprintf(stderr, "fuzz: %s:%d: ", __FILE__, __LINE__);                 \
		fprintf(stderr, __VA_ARGS__);                                         \
		fputc('\n', stderr);                                                  \
		abort();                                                              \
	} while (0)

/**
 * The input as a file the code under test opens by name: a memfd, named
 * "/proc/self/fd/N" in path (at least 32 bytes). @return its descriptor (close
 * it when done), or -1.
 */
int fuzz_file(const uint8_t *data, size_t size, char *path, size_t pathlen);

#endif
