/*
 * qp_flow_key: which parts make a flow key beside addresses, ports and
 * protocol (a measurement's choice), as the command line, the config file
 * and QMCP's START name them. The key itself is struct qp_flow_key in
 * qp_parse_dp.h; the parser fills it with the parts asked for.
 *
 * Control side only (no DPDK): the probe, qmctl and the offline reader parse
 * the text; any thread may call.
 */
#ifndef QP_FLOW_KEY_H
#define QP_FLOW_KEY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parts of the flow key beyond addresses, ports and protocol (a
 * measurement's choice; `--flow-key`). TEID and GTPU_PEERS are exclusive.
 */
#define QP_FLOW_KEY_VLAN 0x01
#define QP_FLOW_KEY_VNI 0x02
#define QP_FLOW_KEY_GRE_KEY 0x04
#define QP_FLOW_KEY_GTPU_PEERS 0x08
#define QP_FLOW_KEY_TEID 0x10
#define QP_FLOW_KEY_DEFAULT                                                   \
	(QP_FLOW_KEY_VLAN | QP_FLOW_KEY_VNI | QP_FLOW_KEY_GRE_KEY | QP_FLOW_KEY_GTPU_PEERS)
#define QP_FLOW_KEY_ALL (QP_FLOW_KEY_DEFAULT | QP_FLOW_KEY_TEID)

/* What --flow-key, the config's "flow_key" and START's FLOW_KEY accept. */
#define QP_FLOW_KEY_SYNTAX                                                    \
	"\"5tuple\" or a comma-separated list of vlan, vni, gre-key, gtpu-peers, teid " \
	"(gtpu-peers and teid exclude each other; default vlan,vni,gre-key,gtpu-peers)"

/**
 * Read a flow key choice: "5tuple" (no part), or names joined by commas.
 * @return 0 and *parts, or -EINVAL with the reason in err (naming the word
 *         that was wrong and QP_FLOW_KEY_SYNTAX).
 */
int qp_flow_key_parts_parse(const char *s, uint32_t *parts, char *err, size_t errlen);

/** The canonical text of a choice ("5tuple", "vlan,vni,..."); buf >= 48 bytes. */
const char *qp_flow_key_parts_str(uint32_t parts, char *buf, size_t len);

/** 1 when parts is a choice qp_flow_key_parts_parse() can return, else 0. */
int qp_flow_key_parts_ok(uint32_t parts);

#endif
