/*
 * qmcp_tls: see qmcp_tls.h. OpenSSL in non-blocking mode: SSL_read and
 * SSL_write carry the handshake along; what they wait for is kept in io->want
 * for the caller's poll.
 */
#define _GNU_SOURCE
#include "qmcp_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct qmcp_tls {
	SSL_CTX *ctx;
	int server;
};

/* OpenSSL's oldest queued error, as one line */
static void ssl_why(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "unknown error";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	snprintf(err, errlen, "%s: %s", what, buf);
}

static SSL_CTX *new_ctx(int server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* a write may end part way and be taken up again from a moved buffer */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return ctx;
}

struct qmcp_tls *qmcp_tls_server(const char *cert_file, const char *key_file, char *err,
				 size_t errlen)
{
	struct qmcp_tls *t = calloc(1, sizeof(*t));
	if (!t || !(t->ctx = new_ctx(1))) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->server = 1;
	char what[600];
	if (SSL_CTX_use_certificate_chain_file(t->ctx, cert_file) != 1) {
		snprintf(what, sizeof(what), "TLS certificate %.500s", cert_file);
		ssl_why(err, errlen, what);
	} else if (SSL_CTX_use_PrivateKey_file(t->ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		snprintf(what, sizeof(what), "TLS key %.500s", key_file);
		ssl_why(err, errlen, what);
	} else if (SSL_CTX_check_private_key(t->ctx) != 1) {
		snprintf(err, errlen, "TLS key %.200s is not the certificate's (%.200s)", key_file, cert_file);
		ERR_clear_error();
	} else {
		return t;
	}
	qmcp_tls_free(t);
	return NULL;
}

struct qmcp_tls *qmcp_tls_client(const char *ca_file, char *err, size_t errlen)
{
	struct qmcp_tls *t = calloc(1, sizeof(*t));
	if (!t || !(t->ctx = new_ctx(0))) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	int ok = ca_file ? SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL)
			 : SSL_CTX_set_default_verify_paths(t->ctx);
	if (ok != 1) {
		char what[600];
		snprintf(what, sizeof(what), "TLS CA file %.500s", ca_file ? ca_file : "(the system's)");
		ssl_why(err, errlen, what);
		qmcp_tls_free(t);
		return NULL;
	}
	return t;
}

void qmcp_tls_free(struct qmcp_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

void qmcp_io_plain(struct qmcp_io *io, int fd)
{
	memset(io, 0, sizeof(*io));
	io->fd = fd;
}

int qmcp_io_tls(struct qmcp_io *io, int fd, const struct qmcp_tls *t, const char *host)
{
	qmcp_io_plain(io, fd);
	SSL *ssl = SSL_new(t->ctx);
	if (!ssl)
		return -ENOMEM;
	SSL_set_fd(ssl, fd);
	if (t->server) {
		SSL_set_accept_state(ssl);
	} else {
		unsigned char a[16];
		if (host && (inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1)) {
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
		} else if (host) {
			SSL_set_tlsext_host_name(ssl, host);
			SSL_set1_host(ssl, host);
		}
		SSL_set_connect_state(ssl);
	}
	io->ssl = ssl;
	return 0;
}

/* what an SSL call's result r means for the caller */
static long outcome(struct qmcp_io *io, int r, const char *what)
{
	SSL *ssl = io->ssl;
	int e = SSL_get_error(ssl, r);
	io->want = 0;
	switch (e) {
	case SSL_ERROR_WANT_READ:
		io->want = POLLIN;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		io->want = POLLOUT;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (errno == EAGAIN || errno == EINTR)
			return -EAGAIN;
		return errno ? -errno : 0; /* 0: the peer closed without a TLS close notice */
	default: {
		long v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK) {
			snprintf(io->err, sizeof(io->err), "TLS %s: the certificate does not verify: %s",
				 what, X509_verify_cert_error_string(v));
			ERR_clear_error();
		} else {
			char w[64];
			snprintf(w, sizeof(w), "TLS %s", what);
			ssl_why(io->err, sizeof(io->err), w);
		}
		return -EPROTO;
	}
	}
}

int qmcp_io_handshake(struct qmcp_io *io)
{
	if (!io->ssl || SSL_is_init_finished(io->ssl))
		return 1;
	int r = SSL_do_handshake(io->ssl);
	if (r == 1) {
		io->want = 0;
		return 1;
	}
	long o = outcome(io, r, "handshake");
	return o == 0 ? -ECONNRESET : (int)o;
}

long qmcp_io_recv(struct qmcp_io *io, void *buf, size_t n)
{
	if (!io->ssl) {
		ssize_t k = recv(io->fd, buf, n, 0);
		if (k < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
		return k;
	}
	int r = SSL_read(io->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
	if (r > 0) {
		io->want = 0;
		return r;
	}
	return outcome(io, r, "read");
}

long qmcp_io_send(struct qmcp_io *io, const void *buf, size_t n)
{
	if (!io->ssl) {
		ssize_t k = send(io->fd, buf, n, MSG_NOSIGNAL);
		if (k < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
		return k;
	}
	int r = SSL_write(io->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
	if (r > 0) {
		io->want = 0;
		return r;
	}
	long o = outcome(io, r, "write");
	return o == 0 ? -ECONNRESET : o;
}

int qmcp_io_pending(const struct qmcp_io *io)
{
	return io->ssl ? SSL_pending(io->ssl) : 0;
}

short qmcp_io_events(const struct qmcp_io *io, short base)
{
	return (short)(base | io->want);
}

int qmcp_io_is_tls(const struct qmcp_io *io)
{
	return io->ssl != NULL;
}

void qmcp_io_close(struct qmcp_io *io)
{
	if (io->ssl) {
		if (SSL_is_init_finished(io->ssl))
			SSL_shutdown(io->ssl); /* one close notice, not waiting for the peer's */
		SSL_free(io->ssl);
		ERR_clear_error();
		io->ssl = NULL;
	}
	if (io->fd >= 0)
		close(io->fd);
	io->fd = -1;
}

int qmcp_io_sniff(int fd)
{
	uint8_t b;
	ssize_t k = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (k == 1)
		return b == 0x16; /* a TLS handshake record */
	if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return -EAGAIN;
	return -ECONNRESET;
}

long qmcp_rx_read_io(struct qmcp_rx *r, struct qmcp_io *io)
{
	size_t room;
	uint8_t *p = qmcp_rx_space(r, 65536, &room);
	if (!p)
		return -ENOMEM;
	long k = qmcp_io_recv(io, p, room);
	if (k > 0)
		qmcp_rx_commit(r, (size_t)k);
	return k;
}

int qmcp_dest_tls(const char *dest, const char **rest)
{
	if (strncmp(dest, "tls://", 6) == 0) {
		*rest = dest + 6;
		return 1;
	}
	*rest = dest;
	return 0;
}
