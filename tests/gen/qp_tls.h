/*
 * TLS for the tests, with OpenSSL: a self-signed certificate made on the spot
 * (EC P-256, for localhost and 127.0.0.1, a day long), a bcrypt hash of a
 * password, and an HTTPS GET with optional basic auth. Header-only: the
 * tests that include it link -lssl -lcrypto -lcrypt.
 */
#ifndef QP_TEST_TLS_H
#define QP_TEST_TLS_H

#include <arpa/inet.h>
#include <crypt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/** Write a new key and a certificate for it, self-signed. @return 0, or -1. */
static inline int qp_tls_selfsigned(const char *cert_path, const char *key_path)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	int rc = -1;
	if (!k || !x)
		goto out;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
	if (!e)
		goto out;
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (!X509_sign(x, k, EVP_sha256()))
		goto out;
	FILE *f = fopen(cert_path, "w");
	if (!f)
		goto out;
	PEM_write_X509(f, x);
	fclose(f);
	if (!(f = fopen(key_path, "w")))
		goto out;
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

/** A bcrypt hash of pass (cost 5: quick for tests) into out (at least 128 bytes). */
static inline int qp_tls_bcrypt(const char *pass, char *out, size_t outlen)
{
	char salt[64];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd || !crypt_gensalt_rn("$2b$", 5, NULL, 0, salt, sizeof(salt))) {
		free(cd);
		return -1;
	}
	const char *h = crypt_r(pass, salt, cd);
	int rc = h && h[0] == '$' ? 0 : -1;
	if (!rc)
		snprintf(out, outlen, "%s", h);
	free(cd);
	return rc;
}

/*
 * GET path over TLS on 127.0.0.1:port, checking the server's certificate
 * against ca_path (NULL: not checked), as user:pass (user NULL: no
 * credentials), TLS 1.2 only when tls12 is 1. *body is the body
 * (malloc'd), *head the header lines (malloc'd, NULL accepted).
 * @return the status, or -1 (no connection, or the handshake failed).
 */
static inline int qp_https_get(int port, const char *path, const char *ca_path, const char *user,
			       const char *pass, int tls12, char **head, char **body)
{
	*body = NULL;
	if (head)
		*head = NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return -1;
	if (tls12)
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	if (ca_path) {
		SSL_CTX_load_verify_locations(ctx, ca_path, NULL);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	int status = -1;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	SSL *ssl = NULL;
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto out;
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, s);
	SSL_set1_host(ssl, "127.0.0.1");
	if (SSL_connect(ssl) != 1)
		goto out;
	char auth[512] = "";
	if (user) {
		char up[256], b64[400];
		int n = snprintf(up, sizeof(up), "%s:%s", user, pass);
		EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)up, n);
		snprintf(auth, sizeof(auth), "Authorization: Basic %s\r\n", b64);
	}
	char req[1024];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%s\r\n", path, auth);
	if (SSL_write(ssl, req, n) != n)
		goto out;
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (len + 4096 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		int k = SSL_read(ssl, buf + len, (int)(cap - len - 1));
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	buf[len] = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	char *b = strstr(buf, "\r\n\r\n");
	*body = strdup(b ? b + 4 : "");
	if (head && b) {
		*b = 0;
		*head = strdup(buf);
	}
	free(buf);
out:
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	close(s);
	SSL_CTX_free(ctx);
	return status;
}

#endif
