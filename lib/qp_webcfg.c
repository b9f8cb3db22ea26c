/*
 * qp_webcfg: see qp_webcfg.h. The YAML is read with libyaml into its
 * document tree and walked; certificate and key are checked with OpenSSL,
 * the hashes with crypt(3) (libxcrypt has bcrypt).
 */
#define _GNU_SOURCE
#include "qp_webcfg.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <yaml.h>

struct ctx {
	const char *path;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

static int bad(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct ctx *c, const char *fmt, ...)
{
	int n = snprintf(c->err, c->errlen, "web config %s: ", c->path);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *scalar(struct ctx *c, yaml_node_t *n)
{
	(void)c;
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The file at name (relative to the configuration's directory), whole, as text. */
static char *slurp(struct ctx *c, const char *key, const char *name)
{
	char full[4096];
	const char *slash = strrchr(c->path, '/');
	if (name[0] != '/' && slash)
		snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - c->path), c->path, name);
	else
		snprintf(full, sizeof(full), "%s", name);
	/* a regular file only: a FIFO or a terminal named here would block the start */
	int fd = open(full, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		bad(c, "%s: cannot read %s: %s", key, full, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		bad(c, "%s: %s is not a regular file (a PEM file is expected)", key, full);
		close(fd);
		return NULL;
	}
	FILE *f = fdopen(fd, "rb");
	if (!f) {
		bad(c, "%s: cannot read %s: %s", key, full, strerror(errno));
		close(fd);
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			if (cap >= (1u << 20)) {
				bad(c, "%s: %s is over 1 MiB: a PEM file is expected", key, full);
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			if (!nb) {
				bad(c, "%s: out of memory", key);
				goto fail;
			}
			buf = nb;
		}
		size_t r = fread(buf + len, 1, 4096, f);
		len += r;
		if (r < 4096)
			break;
	}
	fclose(f);
	buf[len] = 0;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

static int tls_section(struct ctx *c, yaml_node_t *m, struct qp_http_security *s)
{
	if (m->type != YAML_MAPPING_NODE)
		return bad(c, "tls_server_config: a mapping of cert_file, key_file, min_version is expected");
	const char *cert = NULL, *key = NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		const char *k = scalar(c, yaml_document_get_node(c->doc, p->key));
		const char *v = scalar(c, yaml_document_get_node(c->doc, p->value));
		if (!k)
			return bad(c, "tls_server_config: keys are names (cert_file, key_file, min_version)");
		if (!v)
			return bad(c, "tls_server_config.%.40s: a single value is expected", k);
		if (strcmp(k, "cert_file") == 0) {
			cert = v;
		} else if (strcmp(k, "key_file") == 0) {
			key = v;
		} else if (strcmp(k, "min_version") == 0) {
			if (strcmp(v, "TLS12") == 0)
				s->tls13_only = 0;
			else if (strcmp(v, "TLS13") == 0)
				s->tls13_only = 1;
			else
				return bad(c, "tls_server_config.min_version '%.40s': TLS12 or TLS13 is accepted", v);
		} else {
			return bad(c, "tls_server_config.%.40s: not supported by qprobe (it takes cert_file, "
				      "key_file, min_version)", k);
		}
	}
	if (!cert || !key || !cert[0] || !key[0])
		return bad(c, "tls_server_config: both cert_file and key_file are needed");
	if (!(s->cert_pem = slurp(c, "tls_server_config.cert_file", cert)) ||
	    !(s->key_pem = slurp(c, "tls_server_config.key_file", key)))
		return -1;
	BIO *b = BIO_new_mem_buf(s->cert_pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	b = BIO_new_mem_buf(s->key_pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	int rc = 0;
	if (!x)
		rc = bad(c, "tls_server_config.cert_file %.200s: not a PEM certificate", cert);
	else if (!k)
		rc = bad(c, "tls_server_config.key_file %.200s: not an unencrypted PEM private key", key);
	else if (X509_check_private_key(x, k) != 1)
		rc = bad(c, "tls_server_config: the key in %.200s is not the certificate's (%.200s)", key, cert);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

/* bcrypt's cost: a check takes 2^cost rounds (10: about 60 ms here, 15: 2 s) */
#define BCRYPT_COST_MIN 4
#define BCRYPT_COST_MAX 15

/* bcrypt: $2a$, $2b$ or $2y$, a two-digit cost, 53 characters of salt and hash */
static int bcrypt_form(const char *h)
{
	if (strlen(h) != 60 || h[0] != '$' || h[1] != '2' || !h[2] || !strchr("aby", h[2]) ||
	    h[3] != '$' || h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' || h[6] != '$')
		return 0;
	for (int i = 7; i < 60; i++)
		if (!strchr("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", h[i]))
			return 0;
	return 1;
}

static int users_section(struct ctx *c, yaml_node_t *m, struct qp_http_security *s)
{
	if (m->type != YAML_MAPPING_NODE)
		return bad(c, "basic_auth_users: a mapping of user names to bcrypt hashes is expected");
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return bad(c, "basic_auth_users: out of memory");
	int rc = 0;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top && !rc; p++) {
		const char *u = scalar(c, yaml_document_get_node(c->doc, p->key));
		const char *h = scalar(c, yaml_document_get_node(c->doc, p->value));
		if (!u || !u[0] || strchr(u, ':') || strlen(u) >= sizeof(s->users[0].name)) {
			rc = bad(c, "basic_auth_users: a user name of 1 to %zu characters without ':' is expected",
				 sizeof(s->users[0].name) - 1);
		} else if (!h || !bcrypt_form(h)) {
			rc = bad(c, "basic_auth_users.%s: a bcrypt hash is expected ($2y$10$ and 53 "
				    "characters, as htpasswd -nBC 10 writes)", u);
		} else if ((h[4] - '0') * 10 + (h[5] - '0') < BCRYPT_COST_MIN ||
			   (h[4] - '0') * 10 + (h[5] - '0') > BCRYPT_COST_MAX) {
			rc = bad(c, "basic_auth_users.%s: bcrypt cost %.2s: from %d to %d is accepted (a "
				    "check takes 2^cost rounds)", u, h + 4, BCRYPT_COST_MIN, BCRYPT_COST_MAX);
		} else if (s->nusers == QP_HTTP_USERS_MAX) {
			rc = bad(c, "basic_auth_users: at most %d users are accepted", QP_HTTP_USERS_MAX);
		} else {
			for (unsigned int i = 0; i < s->nusers && !rc; i++)
				if (strcmp(s->users[i].name, u) == 0)
					rc = bad(c, "basic_auth_users.%s: the user is there twice", u);
			/* this system's crypt(3) must verify the hash: it answers a
			 * method it lacks with a string starting with '*' (asked at
			 * the lowest cost, with the hash's own salt: quick) */
			char probe[64];
			snprintf(probe, sizeof(probe), "%.4s%02d%.23s", h, BCRYPT_COST_MIN, h + 6);
			const char *t = rc ? NULL : crypt_r("", probe, cd);
			if (!rc && (!t || t[0] != '$'))
				rc = bad(c, "basic_auth_users.%s: this system's crypt(3) cannot check a %.4s "
					    "hash", u, h);
			if (!rc) {
				snprintf(s->users[s->nusers].name, sizeof(s->users[0].name), "%s", u);
				snprintf(s->users[s->nusers].hash, sizeof(s->users[0].hash), "%s", h);
				s->nusers++;
			}
		}
	}
	free(cd);
	return rc;
}

int qp_webcfg_load(const char *path, struct qp_http_security *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	yaml_document_t doc;
	struct ctx c = {path, &doc, err, errlen};
	FILE *f = fopen(path, "rb");
	if (!f)
		return bad(&c, "cannot read it: %s", strerror(errno));
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return bad(&c, "out of memory");
	}
	yaml_parser_set_input_file(&parser, f);
	int ok = yaml_parser_load(&parser, &doc);
	if (!ok) {
		bad(&c, "line %zu column %zu: %s", parser.problem_mark.line + 1,
		    parser.problem_mark.column + 1, parser.problem ? parser.problem : "not YAML");
		yaml_parser_delete(&parser);
		fclose(f);
		return -1;
	}
	yaml_parser_delete(&parser);
	fclose(f);
	int rc = 0;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root || (root->type == YAML_SCALAR_NODE && !root->data.scalar.length)) {
		rc = 0; /* an empty file: plain HTTP, no auth */
	} else if (root->type != YAML_MAPPING_NODE) {
		rc = bad(&c, "a mapping with tls_server_config and basic_auth_users is expected");
	} else {
		for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
		     p < root->data.mapping.pairs.top && !rc; p++) {
			const char *k = scalar(&c, yaml_document_get_node(&doc, p->key));
			yaml_node_t *v = yaml_document_get_node(&doc, p->value);
			if (!k)
				rc = bad(&c, "keys are names (tls_server_config, basic_auth_users)");
			else if (strcmp(k, "tls_server_config") == 0)
				rc = tls_section(&c, v, s);
			else if (strcmp(k, "basic_auth_users") == 0)
				rc = users_section(&c, v, s);
			else
				rc = bad(&c, "%.40s: not supported by qprobe (it takes tls_server_config, "
					     "basic_auth_users)", k);
		}
	}
	yaml_document_delete(&doc);
	if (rc)
		qp_webcfg_free(s);
	return rc;
}

void qp_webcfg_free(struct qp_http_security *s)
{
	if (s->key_pem) /* no copy of the key left behind in freed memory */
		OPENSSL_cleanse(s->key_pem, strlen(s->key_pem));
	free(s->cert_pem);
	free(s->key_pem);
	s->cert_pem = s->key_pem = NULL;
	s->nusers = 0;
}
