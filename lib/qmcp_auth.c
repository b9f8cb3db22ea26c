/*
 * qmcp_auth: see qmcp_auth.h. libcrypto does the cryptography; this file
 * only decides what goes in and what a secret file must look like.
 */
#include "qmcp_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

int qmcp_nonce(uint8_t out[QMCP_NONCE_LEN])
{
	return RAND_bytes(out, QMCP_NONCE_LEN) == 1 ? 0 : -EIO;
}

void qmcp_hmac(const uint8_t *key, size_t klen, const uint8_t *msg, size_t mlen,
	       uint8_t out[QMCP_HMAC_LEN])
{
	unsigned int n = QMCP_HMAC_LEN;
	if (!HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &n))
		memset(out, 0, QMCP_HMAC_LEN); /* matches no peer's MAC of a real secret */
}

int qmcp_hmac_equal(const uint8_t *a, const uint8_t *b)
{
	return CRYPTO_memcmp(a, b, QMCP_HMAC_LEN) == 0;
}

int qmcp_secret_load(const char *path, uint8_t *buf, size_t cap, size_t *len, char *err,
		     size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open the secret file %s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot stat the secret file %s: %s", path, strerror(-rc));
	} else if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(err, errlen, "the secret file %s is not a regular file", path);
	} else if (st.st_mode & 077) {
		rc = -EPERM;
		snprintf(err, errlen,
			 "the secret file %s may be read by others (mode %04o); only its owner may: "
			 "chmod 600 %s",
			 path, (unsigned)(st.st_mode & 07777), path);
	} else {
		uint8_t tmp[QMCP_SECRET_MAX + 2];
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "cannot read the secret file %s: %s", path, strerror(-rc));
		} else {
			if (n > 0 && tmp[n - 1] == '\n')
				n--;
			if (n < QMCP_SECRET_MIN || n > QMCP_SECRET_MAX || (size_t)n > cap) {
				rc = -EINVAL;
				snprintf(err, errlen,
					 "the secret in %s is %zd bytes; %d to %d bytes are accepted "
					 "(e.g. head -c 32 /dev/urandom | base64 > %s)",
					 path, n, QMCP_SECRET_MIN, QMCP_SECRET_MAX, path);
			} else {
				memcpy(buf, tmp, (size_t)n);
				*len = (size_t)n;
			}
			OPENSSL_cleanse(tmp, sizeof(tmp));
		}
	}
	close(fd);
	return rc;
}
