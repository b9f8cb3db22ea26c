/*
 * qp_tlsgen: TLS handshakes with their truth, for the tests and `qp_gen
 * tls`. Each connection is a TCP connection (handshake, data, FIN) whose
 * first bytes are a TLS handshake with real record and handshake headers
 * and real hello fields (versions, server name, key shares of the real
 * sizes); what would be encrypted is filler.
 *
 * Connections: TLS 1.3 (ClientHello, ServerHello with the server's
 * encrypted flight, the client's Change Cipher Spec and Finished), TLS 1.2
 * (ServerHello, Certificate and ServerHelloDone over three segments, the
 * client's key exchange and Finished, then its request), TLS 1.3 with a
 * post-quantum key share (ClientHello and ServerHello each cut over two
 * segments), a ClientHello sent again, a server that answers with an alert,
 * and two TCP flows that only look like TLS at first (a hello of 1 byte, a
 * hello announcing 16 MiB).
 *
 * The truth: the segment that completes the ClientHello, the one that
 * completes the ServerHello, the one where the client's first application-
 * data record begins, the versions and the server name.
 */
#ifndef QP_TLSGEN_H
#define QP_TLSGEN_H

#include <stdint.h>

#include "qp_pcapw.h"

#define TG_CONNS 8

struct tg_conn {
	char client[48], server[48];
	uint16_t cport, sport;
	int tls;          /* 0: a flow that only looks like TLS */
	int cut;          /* the hellos are cut over segments */
	uint16_t client_version, version; /* highest offered, selected (0: none) */
	char sni[64];     /* "" when the first segment does not hold it */
	/* truth: ns, -1 when there is none */
	int64_t hello_ns; /* ClientHello's last segment -> ServerHello's last */
	int64_t data_ns;  /* -> the client's first application-data record */
	uint32_t malformed;
};

struct tg_truth {
	int n;
	struct tg_conn c[TG_CONNS];
	uint64_t frames;
};

/** Write the connections to w from t0 (a whole microsecond). Fills the truth. */
void tg_write(struct pw *w, uint64_t t0, unsigned int seed, struct tg_truth *t);

#endif
