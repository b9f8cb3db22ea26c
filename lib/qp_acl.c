/*
 * qp_acl: see qp_acl.h.
 */
#include "qp_acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_one(struct qp_acl *acl, const char *s, char *err, size_t errlen)
{
	char a[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(a))
		goto bad;
	memcpy(a, s, alen);
	a[alen] = 0;
	if (acl->n >= QP_ACL_MAX) {
		snprintf(err, errlen, "allow-list: more than %d entries", QP_ACL_MAX);
		return -ENOSPC;
	}
	typeof(acl->e[0]) *e = &acl->e[acl->n];
	memset(e, 0, sizeof(*e));
	int max;
	if (inet_pton(AF_INET, a, e->addr) == 1) {
		e->v6 = 0;
		max = 32;
	} else if (inet_pton(AF_INET6, a, e->addr) == 1) {
		e->v6 = 1;
		max = 128;
	} else {
		goto bad;
	}
	long bits = max;
	if (slash) {
		char *end;
		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || bits < 0 || bits > max)
			goto bad;
	}
	e->bits = (uint8_t)bits;
	acl->n++;
	return 0;
bad:
	snprintf(err, errlen,
		 "allow-list entry '%.60s': expected an IPv4 or IPv6 address with an optional "
		 "/prefix length (e.g. 192.0.2.0/24, 2001:db8::/32)",
		 s);
	return -EINVAL;
}

int qp_acl_add(struct qp_acl *acl, const char *list, char *err, size_t errlen)
{
	char *copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	int rc = 0;
	char *save = NULL;
	for (char *t = strtok_r(copy, ", ", &save); t && !rc; t = strtok_r(NULL, ", ", &save))
		rc = add_one(acl, t, err, errlen);
	if (!rc && acl->n == 0) {
		snprintf(err, errlen, "allow-list '%.60s' names no address range", list);
		rc = -EINVAL;
	}
	free(copy);
	return rc;
}

void qp_acl_loopback(struct qp_acl *acl)
{
	char err[128];
	acl->n = 0;
	qp_acl_add(acl, "127.0.0.0/8,::1/128", err, sizeof(err));
}

static int prefix_eq(const uint8_t *a, const uint8_t *b, unsigned int bits)
{
	unsigned int full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, full))
		return 0;
	if (!rest)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

int qp_acl_allows(const struct qp_acl *acl, const struct sockaddr *sa)
{
	uint8_t addr[16];
	int v6;
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		v6 = 0;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(addr, a6->s6_addr + 12, 4);
			v6 = 0;
		} else {
			memcpy(addr, a6->s6_addr, 16);
			v6 = 1;
		}
	} else {
		return 0;
	}
	for (unsigned int i = 0; i < acl->n; i++)
		if (acl->e[i].v6 == v6 && prefix_eq(acl->e[i].addr, addr, acl->e[i].bits))
			return 1;
	return 0;
}

void qp_sockaddr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
			inet_ntop(AF_INET, s->sin6_addr.s6_addr + 12, a, sizeof(a));
			snprintf(buf, len, "%s:%u", a, ntohs(s->sin6_port));
		} else {
			inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
			snprintf(buf, len, "[%s]:%u", a, ntohs(s->sin6_port));
		}
	} else {
		snprintf(buf, len, "?");
	}
}
