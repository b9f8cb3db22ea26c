/*
 * qmcp_auth: the shared-secret challenge-response of QMCP (docs/qmcp.md,
 * "Access"): nonces, HMAC-SHA256 (OpenSSL's libcrypto), constant-time
 * comparison, and loading a secret from a file only its owner may read.
 *
 * Thread-safety: every function is reentrant.
 */
#ifndef QMCP_AUTH_H
#define QMCP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define QMCP_NONCE_LEN 32
#define QMCP_HMAC_LEN 32
#define QMCP_SECRET_MIN 16
#define QMCP_SECRET_MAX 1024

/** Fill out with QMCP_NONCE_LEN random bytes. @return 0 or -EIO. */
int qmcp_nonce(uint8_t out[QMCP_NONCE_LEN]);

/** HMAC-SHA256(key, msg) into out. */
void qmcp_hmac(const uint8_t *key, size_t klen, const uint8_t *msg, size_t mlen,
	       uint8_t out[QMCP_HMAC_LEN]);

/** Compare two MACs in constant time. @return 1 when equal. */
int qmcp_hmac_equal(const uint8_t *a, const uint8_t *b);

/**
 * Read a secret: a regular file, not readable or writable by group or others,
 * of QMCP_SECRET_MIN..QMCP_SECRET_MAX bytes (one trailing newline dropped).
 * @return 0 with the secret in buf (*len bytes), or a negative errno with a
 *         message naming the file and what would be accepted in err.
 */
int qmcp_secret_load(const char *path, uint8_t *buf, size_t cap, size_t *len, char *err,
		     size_t errlen);

#endif
