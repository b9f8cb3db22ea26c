/*
 * qp_webcfg: the HTTP endpoint's TLS and basic auth, read from a web
 * configuration file in the format of the Prometheus exporter toolkit
 * (https://github.com/prometheus/exporter-toolkit, docs/web-configuration.md),
 * so the file an operator already writes for node_exporter works here and a
 * Prometheus scrape_config with tls_config and basic_auth works unchanged:
 *
 *   tls_server_config:
 *     cert_file: /etc/qprobe/probe.crt   # PEM; a path relative to this file's directory
 *     key_file: /etc/qprobe/probe.key    # PEM, matching the certificate
 *     min_version: TLS12                 # or TLS13; TLS12 when absent
 *   basic_auth_users:
 *     prometheus: $2y$10$...             # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':')
 *
 * Either section may be left out (an empty file: plain HTTP, no auth). Keys
 * the toolkit has and qprobe does not do (client certificates, cipher
 * suites, HTTP headers) are refused by name rather than silently ignored.
 *
 * Thread-safety: called once at start-up, before the HTTP thread runs.
 */
#ifndef QP_WEBCFG_H
#define QP_WEBCFG_H

#include <stddef.h>

#include "qp_http.h"

/**
 * Read and check the file: YAML, known keys, certificate and key readable,
 * parseable and matching, each user's hash a bcrypt hash this system's
 * crypt(3) verifies.
 * @return 0 with *s filled (qp_webcfg_free it), or -1 with one line in err
 *         naming the file, the key and what is accepted.
 */
int qp_webcfg_load(const char *path, struct qp_http_security *s, char *err, size_t errlen);

/** Free what qp_webcfg_load filled (the structure itself is the caller's). */
void qp_webcfg_free(struct qp_http_security *s);

#endif
