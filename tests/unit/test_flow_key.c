/*
 * The flow key choice as --flow-key, the config file and QMCP's START give
 * it: every accepted spelling, every refusal with its message.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "qp_flow_key.h"

static const struct {
	const char *text;
	uint32_t parts;
	const char *canonical;
} good[] = {
	{"5tuple", 0, "5tuple"},
	{"vlan", QP_FLOW_KEY_VLAN, "vlan"},
	{"vlan,vni,gre-key,gtpu-peers", QP_FLOW_KEY_DEFAULT, "vlan,vni,gre-key,gtpu-peers"},
	{"gtpu-peers,gre-key,vni,vlan", QP_FLOW_KEY_DEFAULT, "vlan,vni,gre-key,gtpu-peers"},
	{"teid", QP_FLOW_KEY_TEID, "teid"},
	{"vni,teid", QP_FLOW_KEY_VNI | QP_FLOW_KEY_TEID, "vni,teid"},
	{"gre-key", QP_FLOW_KEY_GRE_KEY, "gre-key"},
};

Test(flow_key, every_part_and_order_reads_back_canonical)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint32_t p = 0xdead;
		char err[400] = "", buf[64];
		cr_assert_eq(qp_flow_key_parts_parse(good[i].text, &p, err, sizeof(err)), 0, "%s: %s",
			     good[i].text, err);
		cr_assert_eq(p, good[i].parts, "%s: %#x", good[i].text, p);
		cr_assert_str_eq(qp_flow_key_parts_str(p, buf, sizeof(buf)), good[i].canonical);
		cr_assert(qp_flow_key_parts_ok(p));
	}
	char buf[64];
	cr_assert_str_eq(qp_flow_key_parts_str(QP_FLOW_KEY_DEFAULT, buf, sizeof(buf)),
			 "vlan,vni,gre-key,gtpu-peers");
}

static const struct {
	const char *text;
	const char *why;
} bad[] = {
	{"", "flow key \"\": \"\" is not a part;"},
	{"vlan,", "flow key \"vlan,\": \"\" is not a part;"},
	{",vlan", "flow key \",vlan\": \"\" is not a part;"},
	{"VLAN", "flow key \"VLAN\": \"VLAN\" is not a part;"},
	{"vlan,mpls", "flow key \"vlan,mpls\": \"mpls\" is not a part;"},
	{"5tuple,vlan", "\"5tuple\" is not a part;"},
	{"vni,vni", "flow key \"vni,vni\": vni named twice;"},
	{"teid,gtpu-peers", "gtpu-peers and teid both name the GTP-U part;"},
	{"vlan vni", "\"vlan vni\" is not a part;"},
};

Test(flow_key, a_wrong_choice_says_what_and_what_is_accepted)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t p = 0x77;
		char err[400] = "";
		cr_assert_eq(qp_flow_key_parts_parse(bad[i].text, &p, err, sizeof(err)), -EINVAL,
			     "%s accepted", bad[i].text);
		cr_assert_eq(p, 0x77, "%s: parts written", bad[i].text);
		cr_assert(strstr(err, bad[i].why), "%s: %s", bad[i].text, err);
		cr_assert(strstr(err, "comma-separated list of vlan, vni, gre-key, gtpu-peers, teid"),
			  "%s: %s", bad[i].text, err);
	}
	/* a long word is cut in the message, not the buffer overrun */
	char big[300];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	char err[64];
	uint32_t p;
	cr_assert_eq(qp_flow_key_parts_parse(big, &p, err, sizeof(err)), -EINVAL);
	cr_assert_eq(strlen(err), sizeof(err) - 1);
	cr_assert_not(qp_flow_key_parts_ok(QP_FLOW_KEY_TEID | QP_FLOW_KEY_GTPU_PEERS));
	cr_assert_not(qp_flow_key_parts_ok(0x20));
}
