/*
 * jcheck: checking a JSON document read with jansson, value by value, each
 * message naming the JSON path of the mistake and what is accepted there.
 * Used by the configuration file (config.c) and the NIC profiles (profile.c).
 */
#ifndef QPROBE_JCHECK_H
#define QPROBE_JCHECK_H

#include <jansson.h>
#include <stddef.h>

struct jc {
	const char *file;
	int errors;
};

/** One error: "qprobe: FILE: PATH: message" on stderr, counted. */
void jc_bad(struct jc *c, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** Every key of o must be one of names (NULL-terminated); each other one is an error. */
void jc_known_keys(struct jc *c, const char *path, json_t *o, const char *const *names);

/** A string no longer than cap - 1 into out, when present. */
void jc_str(struct jc *c, const char *path, json_t *o, const char *key, char *out, size_t cap);

/** A whole number in [lo, hi]; 1 when present and good. */
int jc_int(struct jc *c, const char *path, json_t *o, const char *key, long long lo, long long hi,
	   long long *out);

/** A boolean; 1 when present and good. */
int jc_bool(struct jc *c, const char *path, json_t *o, const char *key, int *out);

#endif
