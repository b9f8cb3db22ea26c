/*
 * qmcp_tls: QMCP over TLS (OpenSSL). A QMCP connection carries the same frames
 * either way; TLS (1.2 or 1.3) adds the server's authentication by its
 * certificate and encryption of everything said, filters, flows and results
 * included. The HMAC challenge of QMCP AUTH stays inside it: a probe with a
 * shared secret still asks for it over TLS.
 *
 * A server tells the two apart by the first byte a client sends (qmcp_io_sniff):
 * a TLS handshake starts with 0x16, a QMCP frame with 'Q'. So one port serves
 * both, and a server may refuse plain QMCP altogether.
 *
 * struct qmcp_io is a connection's transport: the socket, and TLS on it when
 * started. Its calls are non-blocking and take the place of recv/send: -EAGAIN
 * means "poll for qmcp_io_events() and call again". TLS may have bytes ready
 * that the socket no longer signals (qmcp_io_pending): read them before
 * polling.
 *
 * OpenSSL writes to the socket with write(2): a process that speaks TLS must
 * ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)), or a peer that closes while it
 * writes kills it.
 *
 * Thread-safety: a context may be shared by the connections of one thread; a
 * connection is one thread's.
 */
#ifndef QMCP_TLS_H
#define QMCP_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "qmcp_codec.h"

/* A TLS context: a server's certificate and key, or a client's trust. */
struct qmcp_tls;

/**
 * A server's context from PEM files (the certificate may be a chain).
 * @return the context, or NULL with one line in err naming the file and why.
 */
struct qmcp_tls *qmcp_tls_server(const char *cert_file, const char *key_file, char *err,
				 size_t errlen);

/**
 * A client's context: servers are verified against ca_file (PEM), or against
 * the system's certificate authorities when it is NULL.
 * @return the context, or NULL with one line in err.
 */
struct qmcp_tls *qmcp_tls_client(const char *ca_file, char *err, size_t errlen);

void qmcp_tls_free(struct qmcp_tls *t);

/* A connection's transport. */
struct qmcp_io {
	int fd;
	void *ssl;    /* SSL *, NULL: plain QMCP */
	short want;   /* poll events TLS waits for beyond the caller's */
	char err[160]; /* why TLS failed, when a call returned -EPROTO */
};

/** Plain QMCP on fd. */
void qmcp_io_plain(struct qmcp_io *io, int fd);

/**
 * TLS on fd (a connected socket), as the server (host NULL) or as a client
 * that verifies the server's certificate for host (a name or an address
 * literal). The handshake happens in the first calls of recv/send.
 * @return 0, or -ENOMEM.
 */
int qmcp_io_tls(struct qmcp_io *io, int fd, const struct qmcp_tls *t, const char *host);

/**
 * Drive the handshake (non-blocking). @return 1 done, -EAGAIN (poll for
 * qmcp_io_events(io, 0)), -EPROTO (io->err says why: a certificate that does not
 * verify, no common protocol), or -ECONNRESET.
 */
int qmcp_io_handshake(struct qmcp_io *io);

/** @return bytes read (>0), 0 at the peer's close, -EAGAIN, or a negative errno (-EPROTO: io->err). */
long qmcp_io_recv(struct qmcp_io *io, void *buf, size_t n);

/** @return bytes written (>0), -EAGAIN, or a negative errno (-EPROTO: io->err). */
long qmcp_io_send(struct qmcp_io *io, const void *buf, size_t n);

/** Bytes TLS has decrypted and not handed out (0 for plain QMCP). */
int qmcp_io_pending(const struct qmcp_io *io);

/** The poll events to wait for: the caller's (POLLIN, POLLOUT) and what TLS waits for. */
short qmcp_io_events(const struct qmcp_io *io, short base);

/** 1 when the connection is TLS. */
int qmcp_io_is_tls(const struct qmcp_io *io);

/** End the connection (a TLS close notice, best effort) and close fd. */
void qmcp_io_close(struct qmcp_io *io);

/**
 * What the client at fd speaks, from its first byte (not consumed):
 * @return 1 TLS, 0 QMCP (or anything else: the QMCP decoder says what is
 *         wrong), -EAGAIN nothing yet, -ECONNRESET closed.
 */
int qmcp_io_sniff(int fd);

/** qmcp_rx_read() through a transport. */
long qmcp_rx_read_io(struct qmcp_rx *r, struct qmcp_io *io);

/**
 * "tls://HOST:PORT" -> 1 and the rest in rest; "HOST:PORT" -> 0. The form a
 * results destination or a two-point peer is given in.
 */
int qmcp_dest_tls(const char *dest, const char **rest);

#endif
