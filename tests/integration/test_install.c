/*
 * make install puts libqmcp where a third party finds it: a controller
 * written against the installed header and pkg-config file alone builds and
 * speaks QMCP (it frames a HELLO and decodes it back).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qp_run.h"

static const char example[] =
	"#include <stdio.h>\n"
	"#include <qmcp_codec.h>\n"
	"#include <qmcp_client.h>\n"
	"int main(void) {\n"
	"  struct qmcp_msg m; size_t n; struct qmcp_hdr h; struct qmcp_tlv t; char s[64];\n"
	"  qmcp_msg_init(&m, QMCP_MSG_HELLO, 0, 7);\n"
	"  qmcp_put_str(&m, QMCP_T_CLIENT_NAME, \"third-party\");\n"
	"  const unsigned char *f = qmcp_msg_frame(&m, &n);\n"
	"  if (!f || qmcp_hdr_decode(f, n, &h) || qmcp_find(f + 16, h.length, QMCP_T_CLIENT_NAME, &t) != 1\n"
	"      || qmcp_tlv_str(&t, s, sizeof(s))) return 1;\n"
	"  printf(\"%s %zu %u\\n\", s, n, h.req_id);\n"
	"  qmcp_msg_free(&m);\n"
	"  return 0;\n"
	"}\n";

Test(install, a_third_party_controller_builds_against_the_installed_libqmcp, .timeout = 300)
{
	char dest[256], src[300], cmd[2048], out[300];
	snprintf(dest, sizeof(dest), "%s/root", qp_tmpdir());
	snprintf(src, sizeof(src), "%s/ctl.c", qp_tmpdir());
	snprintf(out, sizeof(out), "%s/ctl.out", qp_tmpdir());
	int san = strstr(qp_build(), "asan") != NULL;
	snprintf(cmd, sizeof(cmd), "make -s install BUILD=%s %s DESTDIR=%s PREFIX=/usr >/dev/null",
		 qp_build(), san ? "SAN=1" : "", dest);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	FILE *f = fopen(src, "w");
	fputs(example, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "PKG_CONFIG_PATH=%s/usr/lib/pkgconfig cc %s -o %s/ctl %s "
		 "$(PKG_CONFIG_PATH=%s/usr/lib/pkgconfig pkg-config --define-variable=prefix=%s/usr "
		 "--cflags --libs --static libqmcp) && %s/ctl > %s",
		 dest, san ? "-fsanitize=address,undefined" : "", qp_tmpdir(), src, dest, dest,
		 qp_tmpdir(), out);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	char line[128] = "";
	f = fopen(out, "r");
	cr_assert(fgets(line, sizeof(line), f));
	fclose(f);
	cr_assert_str_eq(line, "third-party 33 7\n");
	snprintf(cmd, sizeof(cmd), "make -s uninstall DESTDIR=%s PREFIX=/usr && test ! -e %s/usr/bin/qprobe "
		 "&& test ! -e %s/usr/include/qmcp", dest, dest, dest);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}
