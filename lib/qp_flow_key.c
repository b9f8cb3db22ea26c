/*
 * qp_flow_key: see qp_flow_key.h.
 */
#include "qp_flow_key.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	uint32_t bit;
} key_parts[] = {
	{"vlan", QP_FLOW_KEY_VLAN},
	{"vni", QP_FLOW_KEY_VNI},
	{"gre-key", QP_FLOW_KEY_GRE_KEY},
	{"gtpu-peers", QP_FLOW_KEY_GTPU_PEERS},
	{"teid", QP_FLOW_KEY_TEID},
};

int qp_flow_key_parts_ok(uint32_t parts)
{
	return !(parts & ~(uint32_t)QP_FLOW_KEY_ALL) &&
	       (parts & (QP_FLOW_KEY_GTPU_PEERS | QP_FLOW_KEY_TEID)) !=
		       (QP_FLOW_KEY_GTPU_PEERS | QP_FLOW_KEY_TEID);
}

int qp_flow_key_parts_parse(const char *s, uint32_t *parts, char *err, size_t errlen)
{
	if (!strcmp(s, "5tuple")) {
		*parts = 0;
		return 0;
	}
	uint32_t v = 0;
	const char *p = s;
	for (;;) {
		size_t n = strcspn(p, ",");
		size_t i;
		for (i = 0; i < sizeof(key_parts) / sizeof(key_parts[0]); i++)
			if (strlen(key_parts[i].name) == n && !strncmp(p, key_parts[i].name, n))
				break;
		if (i == sizeof(key_parts) / sizeof(key_parts[0])) {
			snprintf(err, errlen, "flow key \"%s\": \"%.*s\" is not a part; %s", s,
				 (int)(n > 40 ? 40 : n), p, QP_FLOW_KEY_SYNTAX);
			return -EINVAL;
		}
		if (v & key_parts[i].bit) {
			snprintf(err, errlen, "flow key \"%s\": %s named twice; %s", s,
				 key_parts[i].name, QP_FLOW_KEY_SYNTAX);
			return -EINVAL;
		}
		v |= key_parts[i].bit;
		if (!p[n])
			break;
		p += n + 1;
	}
	if (!qp_flow_key_parts_ok(v)) {
		snprintf(err, errlen,
			 "flow key \"%s\": gtpu-peers and teid both name the GTP-U part; %s", s,
			 QP_FLOW_KEY_SYNTAX);
		return -EINVAL;
	}
	*parts = v;
	return 0;
}

const char *qp_flow_key_parts_str(uint32_t parts, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < sizeof(key_parts) / sizeof(key_parts[0]); i++)
		if ((parts & key_parts[i].bit) && o < len)
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "," : "", key_parts[i].name);
	if (!buf[0])
		snprintf(buf, len, "5tuple");
	return buf;
}
