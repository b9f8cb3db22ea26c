/*
 * docs/qmcp.md is the contract: every worked example in it is a frame this
 * codec decodes, with the length it announces and a well-formed body, and
 * every message type has at least one example.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmcp_codec.h"

Test(qmcp_doc, every_worked_example_decodes)
{
	FILE *f = fopen("docs/qmcp.md", "r");
	cr_assert_not_null(f, "run from the repository root");
	char line[512];
	uint8_t frame[4096];
	size_t n = 0;
	int in = 0, examples = 0;
	int seen[256] = {0};
	while (fgets(line, sizeof(line), f)) {
		if (!in && strncmp(line, "```hex", 6) == 0) {
			in = 1;
			n = 0;
			continue;
		}
		if (in && strncmp(line, "```", 3) == 0) {
			in = 0;
			struct qmcp_hdr h;
			cr_assert_eq(qmcp_hdr_decode(frame, n, &h), 0, "example %d", examples + 1);
			cr_assert_eq(n, QMCP_HDR_LEN + h.length, "example %d: length field", examples + 1);
			cr_assert_eq(qmcp_body_check(frame + QMCP_HDR_LEN, h.length), 0, "example %d",
				     examples + 1);
			seen[h.type] = 1;
			examples++;
			continue;
		}
		if (!in)
			continue;
		for (char *p = strtok(line, " \n"); p; p = strtok(NULL, " \n")) {
			cr_assert_lt(n, sizeof(frame));
			frame[n++] = (uint8_t)strtoul(p, NULL, 16);
		}
	}
	fclose(f);
	cr_assert_geq(examples, 20);
#define M_(name, v, h) cr_assert(seen[v], "no example of %s", #name);
	QMCP_MESSAGES(M_)
#undef M_
}
