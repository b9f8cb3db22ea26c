/*
 * qp_acl: an allow-list of address ranges (IPv4 and IPv6 CIDRs) for the
 * management protocols. IPv4-mapped IPv6 peers (::ffff:a.b.c.d, as a
 * dual-stack socket reports IPv4 callers) are matched as IPv4.
 *
 * Thread-safety: built once, then read-only.
 */
#ifndef QP_ACL_H
#define QP_ACL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define QP_ACL_MAX 64

struct qp_acl {
	unsigned int n;
	struct {
		uint8_t v6;
		uint8_t bits;
		uint8_t addr[16];
	} e[QP_ACL_MAX];
};

/**
 * Parse a comma-separated list of CIDRs ("127.0.0.0/8,::1/128"; a bare
 * address is a host). Appends to acl.
 * @return 0, or -EINVAL with the offending entry and what is accepted in err,
 *         -ENOSPC past QP_ACL_MAX entries.
 */
int qp_acl_add(struct qp_acl *acl, const char *list, char *err, size_t errlen);

/** The default: loopback only (127.0.0.0/8 and ::1). */
void qp_acl_loopback(struct qp_acl *acl);

/** @return 1 when the address (AF_INET or AF_INET6 sockaddr) is allowed. */
int qp_acl_allows(const struct qp_acl *acl, const struct sockaddr *sa);

/** The address of a peer as text ("192.0.2.1:5000", "[2001:db8::1]:5000"). */
void qp_sockaddr_str(const struct sockaddr *sa, char *buf, size_t len);

#endif
