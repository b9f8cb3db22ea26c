/* profile: see profile.h. */
#include "profile.h"

#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_ethdev.h>

#include "jcheck.h"

#ifndef QP_DATADIR
#define QP_DATADIR "/usr/local/share/qprobe"
#endif

static const struct {
	const char *name;
	uint64_t hf;
} hash_names[] = {
	{"ip", RTE_ETH_RSS_IP},
	{"ipv4", RTE_ETH_RSS_IPV4},
	{"frag_ipv4", RTE_ETH_RSS_FRAG_IPV4},
	{"ipv4_other", RTE_ETH_RSS_NONFRAG_IPV4_OTHER},
	{"ipv6", RTE_ETH_RSS_IPV6},
	{"frag_ipv6", RTE_ETH_RSS_FRAG_IPV6},
	{"ipv6_other", RTE_ETH_RSS_NONFRAG_IPV6_OTHER},
	{"ipv6_ex", RTE_ETH_RSS_IPV6_EX},
};

const char *profile_default_dir(void)
{
	static char d[PATH_MAX];
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			struct stat st;
			/* build/qprobe (or build/asan/qprobe) -> drivers-cfg/ of the source
			 * tree; PREFIX/bin/qprobe -> PREFIX/share/qprobe/drivers-cfg, wherever
			 * PREFIX was moved to */
			static const char *const rel[] = {"/../drivers-cfg", "/../../drivers-cfg",
							  "/../share/qprobe/drivers-cfg"};
			for (int i = 0; i < 3; i++) {
				char c[PATH_MAX];
				snprintf(c, sizeof(c), "%.*s%s", (int)(sizeof(c) - 40), exe, rel[i]);
				if (stat(c, &st) == 0 && S_ISDIR(st.st_mode) && realpath(c, d))
					return d;
			}
		}
	}
	return QP_DATADIR "/drivers-cfg";
}

static void defaults(struct profile *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->family, sizeof(p->family), "unknown (safe defaults)");
	p->rss = 1;
	p->rss_hf = RTE_ETH_RSS_IP;
	snprintf(p->timestamp, sizeof(p->timestamp), "none");
}

/* Parse one profile; returns 1 when it names driver (0 when not), -1 on errors. */
static int parse(const char *path, const char *driver, struct profile *p, int *errors)
{
	struct jc c = {path, 0};
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		fprintf(stderr, "qprobe: %s: line %d column %d: %s\n", path, je.line, je.column, je.text);
		(*errors)++;
		return -1;
	}
	static const char *const top[] = {"family", "drivers", "rx_desc", "max_rx_queues", "rss",
					  "timestamp", "quirks", "notes", NULL};
	if (!json_is_object(root)) {
		jc_bad(&c, "$", "an object is expected");
		goto out;
	}
	jc_known_keys(&c, "$", root, top);
	struct profile q;
	defaults(&q);
	jc_str(&c, "$", root, "family", q.family, sizeof(q.family));
	long long v;
	if (jc_int(&c, "$", root, "rx_desc", 64, 32768, &v))
		q.rx_desc = (uint32_t)v;
	if (jc_int(&c, "$", root, "max_rx_queues", 1, 1024, &v))
		q.max_rx_queues = (uint32_t)v;
	int match = 0;
	json_t *d = json_object_get(root, "drivers");
	if (!json_is_array(d) || json_array_size(d) == 0) {
		jc_bad(&c, "$.drivers", "a non-empty array of DPDK driver names (e.g. \"net_ixgbe\") is expected");
	} else {
		size_t i;
		json_t *x;
		json_array_foreach(d, i, x) {
			if (!json_is_string(x)) {
				char ep[64];
				snprintf(ep, sizeof(ep), "$.drivers[%zu]", i);
				jc_bad(&c, ep, "a driver name string is expected");
			} else if (driver && !strcmp(json_string_value(x), driver)) {
				match = 1;
			}
		}
	}
	json_t *r = json_object_get(root, "rss");
	if (r) {
		static const char *const keys[] = {"use", "hash", NULL};
		if (!json_is_object(r))
			jc_bad(&c, "$.rss", "an object is expected");
		jc_known_keys(&c, "$.rss", r, keys);
		jc_bool(&c, "$.rss", r, "use", &q.rss);
		json_t *h = json_object_get(r, "hash");
		if (h) {
			q.rss_hf = 0;
			size_t i;
			json_t *x;
			if (!json_is_array(h) || json_array_size(h) == 0)
				jc_bad(&c, "$.rss.hash", "a non-empty array of hash field names is expected");
			json_array_foreach(h, i, x) {
				const char *s = json_string_value(x);
				size_t k = 0;
				for (; s && k < sizeof(hash_names) / sizeof(hash_names[0]); k++)
					if (!strcmp(s, hash_names[k].name))
						break;
				if (!s || k == sizeof(hash_names) / sizeof(hash_names[0])) {
					char ep[64];
					snprintf(ep, sizeof(ep), "$.rss.hash[%zu]", i);
					jc_bad(&c, ep, "one of ip, ipv4, frag_ipv4, ipv4_other, ipv6, frag_ipv6, "
						       "ipv6_other, ipv6_ex is expected (addresses only: both "
						       "directions and every fragment of a flow on one worker)");
				} else {
					q.rss_hf |= hash_names[k].hf;
				}
			}
		}
	}
	json_t *t = json_object_get(root, "timestamp");
	if (t) {
		static const char *const keys[] = {"hardware", "how", "source", NULL};
		if (!json_is_object(t))
			jc_bad(&c, "$.timestamp", "an object is expected");
		jc_known_keys(&c, "$.timestamp", t, keys);
		jc_str(&c, "$.timestamp", t, "hardware", q.timestamp, sizeof(q.timestamp));
		if (strcmp(q.timestamp, "none") && strcmp(q.timestamp, "rx_offload") &&
		    strcmp(q.timestamp, "ptp_only") && strcmp(q.timestamp, "file"))
			jc_bad(&c, "$.timestamp.hardware", "one of none, rx_offload, ptp_only, file is expected");
	}
	json_t *qs = json_object_get(root, "quirks");
	if (qs) {
		size_t i;
		json_t *x;
		if (!json_is_array(qs))
			jc_bad(&c, "$.quirks", "an array of {\"text\", \"source\"} objects is expected");
		json_array_foreach(qs, i, x) {
			char ep[64];
			snprintf(ep, sizeof(ep), "$.quirks[%zu]", i);
			static const char *const keys[] = {"text", "source", NULL};
			if (!json_is_object(x) || !json_is_string(json_object_get(x, "text")) ||
			    !json_is_string(json_object_get(x, "source"))) {
				jc_bad(&c, ep, "an object with \"text\" and \"source\" strings is expected");
				continue;
			}
			jc_known_keys(&c, ep, x, keys);
			q.nquirks++;
		}
	}
	if (!c.errors && match) {
		*p = q;
		const char *base = strrchr(path, '/');
		snprintf(p->file, sizeof(p->file), "%s", base ? base + 1 : path);
	}
out:
	json_decref(root);
	*errors += c.errors;
	return c.errors ? -1 : match;
}

/* Visit the *.json files of dir in name order. */
static int each_file(const char *dir, char ***names)
{
	struct dirent **list;
	int n = scandir(dir, &list, NULL, alphasort);
	if (n < 0)
		return -1;
	int k = 0;
	*names = calloc((size_t)n + 1, sizeof(char *));
	for (int i = 0; i < n; i++) {
		size_t l = strlen(list[i]->d_name);
		if (*names && l > 5 && !strcmp(list[i]->d_name + l - 5, ".json")) {
			char *p = malloc(strlen(dir) + l + 2);
			if (p) {
				sprintf(p, "%s/%s", dir, list[i]->d_name);
				(*names)[k++] = p;
			}
		}
		free(list[i]);
	}
	free(list);
	return *names ? k : -1;
}

static void free_names(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int profile_for(const char *dir, const char *driver, struct profile *p, char *note, size_t notelen)
{
	defaults(p);
	char **names;
	int n = each_file(dir, &names);
	if (n < 0) {
		snprintf(note, notelen, "cannot read the profile directory %s", dir);
		return 0;
	}
	int errors = 0, found = 0;
	for (int i = 0; i < n && !found; i++) {
		int r = parse(names[i], driver, p, &errors);
		if (r < 0)
			break;
		found = r;
	}
	free_names(names, n);
	if (errors)
		return -1;
	if (!found)
		snprintf(note, notelen, "no profile for driver %s in %s", driver, dir);
	return found;
}

int profile_check_dir(const char *dir, int *nfiles)
{
	char **names;
	int n = each_file(dir, &names);
	*nfiles = n < 0 ? 0 : n;
	if (n < 0) {
		fprintf(stderr, "qprobe: cannot read the profile directory %s\n", dir);
		return 1;
	}
	int errors = 0;
	struct profile p;
	for (int i = 0; i < n; i++)
		parse(names[i], NULL, &p, &errors);
	free_names(names, n);
	return errors;
}
