/*
 * libFuzzer target for the HTTP endpoint's web configuration (--web-config,
 * qp_webcfg_load): the input is the YAML file. Whatever it says, the reader
 * accepts it whole or refuses it with one line naming the file; an accepted
 * file has at most QP_HTTP_USERS_MAX users, each with a bcrypt hash, and TLS
 * only with both certificate and key.
 */
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "qp_webcfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	char path[64];
	int fd = fuzz_file(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	struct qp_http_security s;
	char err[512] = "";
	int rc = qp_webcfg_load(path, &s, err, sizeof(err));
	close(fd);
	if (rc == 0) {
		if (s.nusers > QP_HTTP_USERS_MAX || !s.cert_pem != !s.key_pem)
			fuzz_fail("accepted: %u users, certificate %d, key %d", s.nusers, !!s.cert_pem,
				  !!s.key_pem);
		for (unsigned int i = 0; i < s.nusers; i++)
			if (strncmp(s.users[i].hash, "$2", 2) != 0 || strlen(s.users[i].hash) != 60)
				fuzz_fail("user %u accepted with hash '%s'", i, s.users[i].hash);
		qp_webcfg_free(&s);
	} else if (rc != -1 || strncmp(err, "web config ", 11) != 0 || strchr(err, '\n')) {
		fuzz_fail("refused with %d and '%s'", rc, err);
	}
	return 0;
}
