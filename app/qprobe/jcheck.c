/* jcheck: see jcheck.h. */
#include "jcheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void jc_bad(struct jc *c, const char *path, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "qprobe: %s: %s: %s\n", c->file, path, msg);
	c->errors++;
}

void jc_known_keys(struct jc *c, const char *path, json_t *o, const char *const *names)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		int ok = 0;
		for (int i = 0; names[i]; i++)
			ok |= strcmp(k, names[i]) == 0;
		if (!ok) {
			char p[300], list[300] = "";
			snprintf(p, sizeof(p), "%s.%s", path, k);
			for (int i = 0; names[i]; i++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 i ? ", " : "", names[i]);
			jc_bad(c, p, "unknown key; accepted here: %s", list);
		}
	}
}

void jc_str(struct jc *c, const char *path, json_t *o, const char *key, char *out, size_t cap)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return;
	char p[300];
	snprintf(p, sizeof(p), "%s.%s", path, key);
	if (!json_is_string(v))
		jc_bad(c, p, "a string is expected");
	else if (strlen(json_string_value(v)) >= cap)
		jc_bad(c, p, "longer than %zu characters", cap - 1);
	else
		snprintf(out, cap, "%s", json_string_value(v));
}

int jc_int(struct jc *c, const char *path, json_t *o, const char *key, long long lo, long long hi,
	   long long *out)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	char p[300];
	snprintf(p, sizeof(p), "%s.%s", path, key);
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		jc_bad(c, p, "a whole number from %lld to %lld is expected", lo, hi);
		return 0;
	}
	*out = json_integer_value(v);
	return 1;
}

int jc_bool(struct jc *c, const char *path, json_t *o, const char *key, int *out)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		char p[300];
		snprintf(p, sizeof(p), "%s.%s", path, key);
		jc_bad(c, p, "true or false is expected");
		return 0;
	}
	*out = json_is_true(v);
	return 1;
}
