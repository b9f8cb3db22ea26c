/*
 * qp_webcfg: the Prometheus exporter toolkit's web configuration as qprobe
 * reads it: both sections, either alone, an empty file, paths relative to the
 * file; and every mistake refused with one line naming the key and what is
 * accepted (unknown keys, a bad TLS version, a missing, foreign or non-PEM
 * certificate or key, a hash that is not bcrypt, a user twice, not YAML).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qp_webcfg.h"
#include "../gen/qp_tls.h"

static char dir[64];
static char hash_a[128], hash_b[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/qp-webcfg-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	char c[128], k[128];
	snprintf(c, sizeof(c), "%s/c.pem", dir);
	snprintf(k, sizeof(k), "%s/k.pem", dir);
	cr_assert_eq(qp_tls_selfsigned(c, k), 0);
	snprintf(c, sizeof(c), "%s/c2.pem", dir);
	snprintf(k, sizeof(k), "%s/k2.pem", dir);
	cr_assert_eq(qp_tls_selfsigned(c, k), 0);
	cr_assert_eq(qp_tls_bcrypt("secret", hash_a, sizeof(hash_a)), 0);
	cr_assert_eq(qp_tls_bcrypt("other", hash_b, sizeof(hash_b)), 0);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(webcfg, .init = setup, .fini = teardown);

/* write text as DIR/name; returns the path */
static const char *file(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static char *slurp(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	static char buf[8192];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return strdup(buf);
}

Test(webcfg, tls_and_two_users)
{
	char text[1024];
	snprintf(text, sizeof(text),
		 "# as node_exporter's\ntls_server_config:\n  cert_file: c.pem\n  key_file: %s/k.pem\n"
		 "basic_auth_users:\n  prometheus: %s\n  alice: '%s'\n",
		 dir, hash_a, hash_b);
	struct qp_http_security s;
	char err[512] = "";
	cr_assert_eq(qp_webcfg_load(file("web.yml", text), &s, err, sizeof(err)), 0, "%s", err);
	char *c = slurp("c.pem"), *k = slurp("k.pem");
	cr_expect_str_eq(s.cert_pem, c, "cert_file read relative to the file's directory");
	cr_expect_str_eq(s.key_pem, k);
	cr_expect_eq(s.tls13_only, 0);
	cr_assert_eq(s.nusers, 2);
	cr_expect_str_eq(s.users[0].name, "prometheus");
	cr_expect_str_eq(s.users[0].hash, hash_a);
	cr_expect_str_eq(s.users[1].name, "alice");
	cr_expect_str_eq(s.users[1].hash, hash_b);
	free(c);
	free(k);
	qp_webcfg_free(&s);
	cr_expect_null(s.cert_pem);
	cr_expect_null(s.key_pem);
}

Test(webcfg, either_section_alone_or_none)
{
	struct qp_http_security s;
	char err[512] = "";
	cr_assert_eq(qp_webcfg_load(file("a.yml", "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n"
						    "  min_version: TLS13\n"),
				    &s, err, sizeof(err)),
		     0, "%s", err);
	cr_expect_not_null(s.cert_pem);
	cr_expect_eq(s.tls13_only, 1);
	cr_expect_eq(s.nusers, 0);
	qp_webcfg_free(&s);
	char text[256];
	snprintf(text, sizeof(text), "basic_auth_users:\n  u: %s\n", hash_a);
	cr_assert_eq(qp_webcfg_load(file("b.yml", text), &s, err, sizeof(err)), 0, "%s", err);
	cr_expect_null(s.cert_pem);
	cr_expect_eq(s.nusers, 1);
	qp_webcfg_free(&s);
	cr_assert_eq(qp_webcfg_load(file("c.yml", ""), &s, err, sizeof(err)), 0, "%s", err);
	cr_expect_null(s.cert_pem);
	cr_expect_eq(s.nusers, 0);
}

/* the file's text -> the one line expected after "web config PATH: " */
static void refused(const char *text, const char *want)
{
	struct qp_http_security s;
	char err[512] = "", expect[768];
	const char *path = file("bad.yml", text);
	cr_assert_eq(qp_webcfg_load(path, &s, err, sizeof(err)), -1, "accepted: %s", text);
	snprintf(expect, sizeof(expect), "web config %s: %s", path, want);
	cr_expect_str_eq(err, expect);
	cr_expect_null(s.cert_pem);
	cr_expect_eq(s.nusers, 0);
}

Test(webcfg, every_mistake_named)
{
	refused("http_server_config:\n  http2: false\n",
		"http_server_config: not supported by qprobe (it takes tls_server_config, basic_auth_users)");
	refused("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_ca_file: c.pem\n",
		"tls_server_config.client_ca_file: not supported by qprobe (it takes cert_file, key_file, "
		"min_version)");
	refused("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS11\n",
		"tls_server_config.min_version 'TLS11': TLS12 or TLS13 is accepted");
	refused("tls_server_config:\n  cert_file: c.pem\n", "tls_server_config: both cert_file and key_file are needed");
	refused("tls_server_config: c.pem\n",
		"tls_server_config: a mapping of cert_file, key_file, min_version is expected");
	char want[512];
	snprintf(want, sizeof(want), "tls_server_config.cert_file: cannot read %s/none.pem: No such file or directory", dir);
	refused("tls_server_config:\n  cert_file: none.pem\n  key_file: k.pem\n", want);
	refused("tls_server_config:\n  cert_file: /dev/null\n  key_file: k.pem\n",
		"tls_server_config.cert_file: /dev/null is not a regular file (a PEM file is expected)");
	refused("tls_server_config:\n  cert_file: c.pem\n  key_file: k2.pem\n",
		"tls_server_config: the key in k2.pem is not the certificate's (c.pem)");
	file("text.pem", "not a certificate\n");
	refused("tls_server_config:\n  cert_file: text.pem\n  key_file: k.pem\n",
		"tls_server_config.cert_file text.pem: not a PEM certificate");
	refused("tls_server_config:\n  cert_file: c.pem\n  key_file: c.pem\n",
		"tls_server_config.key_file c.pem: not an unencrypted PEM private key");
	refused("basic_auth_users:\n  prom: secret\n",
		"basic_auth_users.prom: a bcrypt hash is expected ($2y$10$ and 53 characters, as htpasswd "
		"-nBC 10 writes)");
	refused("basic_auth_users:\n  prom: $1$abc$0123456789012345678901\n",
		"basic_auth_users.prom: a bcrypt hash is expected ($2y$10$ and 53 characters, as htpasswd "
		"-nBC 10 writes)");
	refused("basic_auth_users:\n  prom: $2y$31$aaaaaaaaaaaaaaaaaaaaaOjOHCcGZ1ZydhnG2lX11qSmiRJbsbsA.\n",
		"basic_auth_users.prom: bcrypt cost 31: from 4 to 15 is accepted (a check takes 2^cost "
		"rounds)");
	char text[512];
	snprintf(text, sizeof(text), "basic_auth_users:\n  prom: %s\n  prom: %s\n", hash_a, hash_b);
	refused(text, "basic_auth_users.prom: the user is there twice");
	snprintf(text, sizeof(text), "basic_auth_users:\n  'a:b': %s\n", hash_a);
	refused(text, "basic_auth_users: a user name of 1 to 63 characters without ':' is expected");
	refused("basic_auth_users: [prom]\n",
		"basic_auth_users: a mapping of user names to bcrypt hashes is expected");
	refused("- tls_server_config\n", "a mapping with tls_server_config and basic_auth_users is expected");
	refused("tls_server_config:\n  cert_file: [c.pem\n",
		"line 3 column 1: did not find expected ',' or ']'");
}

Test(webcfg, a_file_that_is_not_there)
{
	struct qp_http_security s;
	char err[512];
	cr_assert_eq(qp_webcfg_load("/nonexistent/web.yml", &s, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "web config /nonexistent/web.yml: cannot read it: No such file or directory");
}
