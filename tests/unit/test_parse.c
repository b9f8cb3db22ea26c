/*
 * Parser tests: every encapsulation the parser knows, every link type, and
 * malformed frames cut at every header boundary.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gen/qp_pcapw.h"
#include "qp_parse_dp.h"
#include "../gen/qp_pkt_fields.h"

static struct qp_parse_ctx ctx;

static void setup(void)
{
	qp_parse_ctx_init(&ctx);
}

TestSuite(parse, .init = setup);

/* The endpoint of a key that holds this address text. */
static int endpoint_of(const struct qp_flow_key *k, const char *addr)
{
	uint8_t a[16] = {0};
	if (k->ipver == 4)
		inet_pton(AF_INET, addr, a);
	else
		inet_pton(AF_INET6, addr, a);
	if (memcmp(k->addr[0], a, 16) == 0)
		return 0;
	if (memcmp(k->addr[1], a, 16) == 0)
		return 1;
	return -1;
}

/* Assert the packet's flow: source and destination (in packet direction). */
static void expect_flow(const struct qp_pkt *p, int ipver, uint8_t proto, const char *src,
			uint16_t sport, const char *dst, uint16_t dport)
{
	cr_assert_eq(p->key.ipver, ipver);
	cr_assert_eq(p->key.proto, proto);
	int s = endpoint_of(&p->key, src), d = endpoint_of(&p->key, dst);
	cr_assert(s >= 0 && d >= 0 && s != d, "addresses %s / %s not in key", src, dst);
	cr_assert_eq(s, p->swapped, "swapped flag wrong");
	cr_assert_eq(p->key.port[s], sport);
	cr_assert_eq(p->key.port[d], dport);
}

typedef void build_fn(struct pb *b);

static void tcp4(struct pb *b)
{
	pb_push_tcp(b, 40000, 80, 100, 0, 0x02, 1000);
	pb_push_ip4(b, "10.0.0.2", "10.0.0.1", 7, 0);
	pb_push_eth(b);
}

static void udp6(struct pb *b)
{
	pb_payload(b, 10);
	pb_push_udp(b, 5353, 53);
	pb_push_ip6(b, "2001:db8::2", "2001:db8::1");
	pb_push_eth(b);
}

static void qinq_tcp(struct pb *b)
{
	pb_push_tcp(b, 1234, 443, 1, 0, 0x10, 100);
	pb_push_ip4(b, "192.168.1.1", "192.168.1.2", 1, 0);
	pb_push_vlan(b, 0x8100, 20);
	pb_push_vlan(b, 0x88a8, 10);
	pb_push_eth(b);
}

static void qinq9100(struct pb *b)
{
	pb_push_udp(b, 1, 2);
	pb_push_ip4(b, "1.1.1.1", "2.2.2.2", 1, 0);
	pb_push_vlan(b, 0x8100, 5);
	pb_push_vlan(b, 0x9100, 6);
	pb_push_eth(b);
}

static void mpls2(struct pb *b)
{
	pb_push_udp(b, 1000, 2000);
	pb_push_ip4(b, "10.1.1.1", "10.2.2.2", 1, 0);
	pb_push_mpls(b, 100, 1);
	pb_push_mpls(b, 200, 0);
	pb_push_eth(b);
}

static void mpls_v6(struct pb *b)
{
	pb_push_tcp(b, 1000, 22, 1, 0, 0x02, 100);
	pb_push_ip6(b, "fe80::1", "fe80::2");
	pb_push_mpls(b, 16, 1);
	pb_push_eth(b);
}

static void ip4_options(struct pb *b)
{
	pb_push_udp(b, 68, 67);
	/* IPv4 with 8 bytes of options (IHL 7) built by hand */
	uint8_t ip[28] = {0x47, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
			  0x94, 4, 0, 0, 1, 1, 1, 0};
	uint32_t tot = pb_len(b) + 28;
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	pb_push_raw(b, ip, 28);
	b->next_type = 0x0800;
	pb_push_eth(b);
}

static void ip6_ext(struct pb *b)
{
	pb_push_tcp(b, 5000, 80, 1, 0, 0x02, 100);
	pb_push_ip6_ext(b, 60, 0, 0);
	pb_push_ip6_ext(b, 43, 0, 0);
	pb_push_ip6_ext(b, 0, 0, 0);
	pb_push_ip6(b, "2001:db8::a", "2001:db8::b");
	pb_push_eth(b);
}

static void icmp4(struct pb *b)
{
	pb_payload(b, 20);
	pb_push_icmp(b, 8, 1, 1);
	pb_push_ip4(b, "10.0.0.1", "10.0.0.9", 1, 0);
	pb_push_eth(b);
}

static void icmp6(struct pb *b)
{
	pb_push_icmp(b, 128, 1, 1);
	b->next_proto = 58;
	pb_push_ip6(b, "::1", "::2");
	pb_push_eth(b);
}

static void sctp4(struct pb *b)
{
	pb_push_sctp(b, 2905, 2906);
	pb_push_ip4(b, "10.9.9.1", "10.9.9.2", 1, 0);
	pb_push_eth(b);
}

static void vxlan(struct pb *b)
{
	pb_push_tcp(b, 33000, 8080, 1, 0, 0x02, 100);
	pb_push_ip4(b, "172.16.1.1", "172.16.2.2", 1, 0);
	pb_push_eth(b);
	pb_push_vxlan(b, 42);
	pb_push_udp(b, 49152, 4789);
	pb_push_ip4(b, "192.0.2.100", "192.0.2.200", 1, 0);
	pb_push_eth(b);
}

static void gre_keyed(struct pb *b)
{
	pb_push_udp(b, 7000, 7001);
	pb_push_ip4(b, "10.50.0.1", "10.60.0.1", 1, 0);
	pb_push_gre(b, 1);
	pb_push_ip4(b, "192.0.2.1", "192.0.2.2", 1, 0);
	pb_push_eth(b);
}

static void gre_plain_v6(struct pb *b)
{
	pb_push_udp(b, 7000, 7001);
	pb_push_ip6(b, "2001:db8:5::1", "2001:db8:6::1");
	pb_push_gre(b, 0);
	pb_push_ip4(b, "192.0.2.1", "192.0.2.2", 1, 0);
	pb_push_eth(b);
}

static void gtpu(struct pb *b)
{
	pb_payload(b, 30);
	pb_push_udp(b, 5000, 6000);
	pb_push_ip4(b, "100.64.0.9", "203.0.113.80", 1, 0);
	pb_push_gtpu(b, 0xbeef);
	pb_push_udp(b, 2152, 2152);
	pb_push_ip4(b, "192.0.2.30", "192.0.2.31", 1, 0);
	pb_push_eth(b);
}

static void ipip(struct pb *b)
{
	pb_push_tcp(b, 1, 2, 1, 0, 0x02, 1);
	pb_push_ip4(b, "10.7.0.1", "10.7.0.2", 1, 0);
	pb_push_ip4(b, "192.0.2.7", "192.0.2.8", 1, 0);
	pb_push_eth(b);
}

static void ip6in4(struct pb *b)
{
	pb_push_udp(b, 9, 10);
	pb_push_ip6(b, "2001:db8::77", "2001:db8::78");
	pb_push_ip4(b, "192.0.2.7", "192.0.2.8", 1, 0);
	pb_push_eth(b);
}

static void vxlan_in_mpls_vlan(struct pb *b)
{
	pb_push_udp(b, 111, 222);
	pb_push_ip6(b, "2001:db8::1", "2001:db8::2");
	pb_push_eth(b);
	pb_push_vxlan(b, 1);
	pb_push_udp(b, 4000, 4789);
	pb_push_ip4(b, "10.0.0.1", "10.0.0.2", 1, 0);
	pb_push_mpls(b, 5, 1);
	pb_push_vlan(b, 0x8100, 300);
	pb_push_eth(b);
}

struct flow_case {
	const char *name;
	build_fn *build;
	int ipver;
	uint8_t proto;
	const char *src;
	uint16_t sport;
	const char *dst;
	uint16_t dport;
	uint8_t encap;
	uint16_t vlan;
};

static const struct flow_case flow_cases[] = {
	{"tcp4", tcp4, 4, 6, "10.0.0.2", 40000, "10.0.0.1", 80, 0, 0},
	{"udp6", udp6, 6, 17, "2001:db8::2", 5353, "2001:db8::1", 53, 0, 0},
	{"qinq 88a8", qinq_tcp, 4, 6, "192.168.1.1", 1234, "192.168.1.2", 443, QP_ENCAP_VLAN, 10},
	{"qinq 9100", qinq9100, 4, 17, "1.1.1.1", 1, "2.2.2.2", 2, QP_ENCAP_VLAN, 6},
	{"mpls stack", mpls2, 4, 17, "10.1.1.1", 1000, "10.2.2.2", 2000, QP_ENCAP_MPLS, 0},
	{"mpls ipv6", mpls_v6, 6, 6, "fe80::1", 1000, "fe80::2", 22, QP_ENCAP_MPLS, 0},
	{"ipv4 options", ip4_options, 4, 17, "10.0.0.1", 68, "10.0.0.2", 67, 0, 0},
	{"ipv6 ext headers", ip6_ext, 6, 6, "2001:db8::a", 5000, "2001:db8::b", 80, 0, 0},
	{"icmp", icmp4, 4, 1, "10.0.0.1", 0, "10.0.0.9", 0, 0, 0},
	{"icmpv6", icmp6, 6, 58, "::1", 0, "::2", 0, 0, 0},
	{"sctp", sctp4, 4, 132, "10.9.9.1", 2905, "10.9.9.2", 2906, 0, 0},
	{"vxlan", vxlan, 4, 6, "172.16.1.1", 33000, "172.16.2.2", 8080, QP_ENCAP_VXLAN, 0},
	{"gre keyed", gre_keyed, 4, 17, "10.50.0.1", 7000, "10.60.0.1", 7001, QP_ENCAP_GRE, 0},
	{"gre ipv6", gre_plain_v6, 6, 17, "2001:db8:5::1", 7000, "2001:db8:6::1", 7001, QP_ENCAP_GRE, 0},
	{"gtp-u", gtpu, 4, 17, "100.64.0.9", 5000, "203.0.113.80", 6000, QP_ENCAP_GTPU, 0},
	{"ip-in-ip", ipip, 4, 6, "10.7.0.1", 1, "10.7.0.2", 2, QP_ENCAP_IPIP, 0},
	{"ipv6-in-ip", ip6in4, 6, 17, "2001:db8::77", 9, "2001:db8::78", 10, QP_ENCAP_IPIP, 0},
	{"vlan mpls vxlan v6", vxlan_in_mpls_vlan, 6, 17, "2001:db8::1", 111, "2001:db8::2", 222,
	 QP_ENCAP_VLAN | QP_ENCAP_MPLS | QP_ENCAP_VXLAN, 300},
};

Test(parse, every_encapsulation_finds_the_innermost_flow)
{
	for (size_t i = 0; i < sizeof(flow_cases) / sizeof(flow_cases[0]); i++) {
		const struct flow_case *c = &flow_cases[i];
		struct pb b;
		struct qp_pkt p;
		pb_init(&b);
		c->build(&b);
		enum qp_parse_result r = qp_parse(&ctx, QP_LINK_ETHERNET, pb_data(&b), pb_len(&b), &p);
		cr_assert_eq(r, QP_PARSE_FLOW, "%s: result %d", c->name, r);
		expect_flow(&p, c->ipver, c->proto, c->src, c->sport, c->dst, c->dport);
		cr_assert_eq(p.encap, c->encap, "%s: encap %#x", c->name, p.encap);
		cr_assert_eq(p.vlan, c->vlan, "%s: vlan %u", c->name, p.vlan);
		cr_assert_eq(p.hash, qp_flow_key_hash(&p.key));
		/* the innermost datagram is the frame's last bytes */
		if (c->proto == 6)
			cr_assert_eq(p.ip_end, pb_len(&b), "%s: ip_end %u", c->name, p.ip_end);
	}
}

Test(parse, both_directions_give_one_key)
{
	struct pb a, b;
	struct qp_pkt pa, pbk;
	pb_init(&a);
	pb_push_tcp(&a, 40000, 80, 1, 0, 0x02, 1);
	pb_push_ip4(&a, "10.0.0.2", "10.0.0.1", 1, 0);
	pb_push_eth(&a);
	pb_init(&b);
	pb_push_tcp(&b, 80, 40000, 1, 2, 0x12, 1);
	pb_push_ip4(&b, "10.0.0.1", "10.0.0.2", 1, 0);
	pb_push_eth(&b);
	cr_assert_eq(qp_parse(&ctx, 1, pb_data(&a), pb_len(&a), &pa), QP_PARSE_FLOW);
	cr_assert_eq(qp_parse(&ctx, 1, pb_data(&b), pb_len(&b), &pbk), QP_PARSE_FLOW);
	cr_assert(memcmp(&pa.key, &pbk.key, sizeof(pa.key)) == 0);
	cr_assert_eq(pa.hash, pbk.hash);
	cr_assert_neq(pa.swapped, pbk.swapped);
	cr_assert_eq(pa.tcp_flags, 0x02);
	cr_assert_eq(pbk.tcp_flags, 0x12);
	cr_assert_eq(pbk.tcp_ack, 2);
	cr_assert_eq(qp_flow_key_addr_hash(&pa.key), qp_flow_key_addr_hash(&pbk.key));
}

Test(parse, same_addresses_ordered_by_port)
{
	struct pb a, b;
	struct qp_pkt pa, pbk;
	pb_init(&a);
	pb_push_udp(&a, 9000, 53);
	pb_push_ip4(&a, "127.0.0.1", "127.0.0.1", 1, 0);
	pb_push_eth(&a);
	pb_init(&b);
	pb_push_udp(&b, 53, 9000);
	pb_push_ip4(&b, "127.0.0.1", "127.0.0.1", 1, 0);
	pb_push_eth(&b);
	qp_parse(&ctx, 1, pb_data(&a), pb_len(&a), &pa);
	qp_parse(&ctx, 1, pb_data(&b), pb_len(&b), &pbk);
	cr_assert(memcmp(&pa.key, &pbk.key, sizeof(pa.key)) == 0);
	cr_assert_eq(pa.key.port[0], 53);
	cr_assert_eq(pa.swapped, 1);
	cr_assert_eq(pbk.swapped, 0);
}

/* Cut a frame at every length below the full one: the reason is exact. */
struct cut {
	uint32_t below; /* captured lengths < below ... */
	enum qp_parse_result r; /* ... give this reason (first matching row) */
};

static void check_cuts(const char *name, build_fn *build, const struct cut *cuts, size_t ncuts)
{
	struct pb b;
	pb_init(&b);
	build(&b);
	uint32_t full = pb_len(&b);
	for (uint32_t len = 0; len < full; len++) {
		enum qp_parse_result want = QP_PARSE_FLOW;
		for (size_t i = 0; i < ncuts; i++)
			if (len < cuts[i].below) {
				want = cuts[i].r;
				break;
			}
		struct qp_pkt p;
		enum qp_parse_result got = qp_parse(&ctx, QP_LINK_ETHERNET, pb_data(&b), len, &p);
		cr_assert_eq(got, want, "%s cut at %u of %u: got %s, want %s", name, len, full,
			     qp_parse_error_name(got) ? qp_parse_error_name(got) : "flow",
			     qp_parse_error_name(want) ? qp_parse_error_name(want) : "flow");
	}
}

Test(parse, truncated_at_every_boundary)
{
	const struct cut c_tcp4[] = {{14, QP_PERR_truncated_l2}, {34, QP_PERR_truncated_ipv4},
				     {54, QP_PERR_truncated_l4}};
	check_cuts("tcp4", tcp4, c_tcp4, 3);
	/* udp6 carries 10 bytes of payload: anything past the UDP header is a flow */
	const struct cut c_udp6[] = {{14, QP_PERR_truncated_l2}, {54, QP_PERR_truncated_ipv6},
				     {62, QP_PERR_truncated_l4}};
	check_cuts("udp6", udp6, c_udp6, 3);
	const struct cut c_qinq[] = {{14, QP_PERR_truncated_l2}, {22, QP_PERR_truncated_l2},
				     {42, QP_PERR_truncated_ipv4}, {62, QP_PERR_truncated_l4}};
	check_cuts("qinq", qinq_tcp, c_qinq, 4);
	const struct cut c_mpls[] = {{14, QP_PERR_truncated_l2}, {23, QP_PERR_truncated_mpls},
				     {42, QP_PERR_truncated_ipv4}, {50, QP_PERR_truncated_l4}};
	check_cuts("mpls", mpls2, c_mpls, 4);
	const struct cut c_ext[] = {{14, QP_PERR_truncated_l2}, {78, QP_PERR_truncated_ipv6},
				    {98, QP_PERR_truncated_l4}};
	check_cuts("ipv6 ext", ip6_ext, c_ext, 3);
	const struct cut c_vx[] = {{14, QP_PERR_truncated_l2},     {34, QP_PERR_truncated_ipv4},
				   {42, QP_PERR_truncated_l4},     {50, QP_PERR_truncated_tunnel},
				   {64, QP_PERR_truncated_l2},     {84, QP_PERR_truncated_ipv4},
				   {104, QP_PERR_truncated_l4}};
	check_cuts("vxlan", vxlan, c_vx, 7);
	const struct cut c_gtp[] = {{14, QP_PERR_truncated_l2},     {34, QP_PERR_truncated_ipv4},
				    {42, QP_PERR_truncated_l4},     {51, QP_PERR_truncated_tunnel},
				    {70, QP_PERR_truncated_ipv4},   {78, QP_PERR_truncated_l4}};
	check_cuts("gtp-u", gtpu, c_gtp, 6);
	const struct cut c_gre[] = {{14, QP_PERR_truncated_l2},     {34, QP_PERR_truncated_ipv4},
				    {38, QP_PERR_truncated_l4},     {42, QP_PERR_truncated_tunnel},
				    {62, QP_PERR_truncated_ipv4},   {70, QP_PERR_truncated_l4}};
	check_cuts("gre keyed", gre_keyed, c_gre, 6);
}

static void bad_ihl(struct pb *b)
{
	tcp4(b);
	pb_data(b)[14] = 0x44; /* IHL 4: below the minimum */
}

static void ihl_past_capture(struct pb *b)
{
	pb_push_ip4(b, "1.1.1.1", "2.2.2.2", 1, 0);
	pb_data(b)[0] = 0x4f; /* IHL 15 = 60 bytes, only 20 there */
	pb_data(b)[3] = 60;
	pb_push_eth(b);
}

static void total_below_ihl(struct pb *b)
{
	tcp4(b);
	pb_data(b)[16] = 0;
	pb_data(b)[17] = 10;
}

static void wrong_version(struct pb *b)
{
	tcp4(b);
	pb_data(b)[14] = 0x65;
}

static void tcp_doff_small(struct pb *b)
{
	tcp4(b);
	pb_data(b)[14 + 20 + 12] = 0x40;
}

static void tcp_doff_past_segment(struct pb *b)
{
	tcp4(b);
	pb_data(b)[14 + 20 + 12] = 0xf0; /* 60-byte header in a 20-byte segment */
}

static void udp_len_small(struct pb *b)
{
	udp6(b);
	pb_data(b)[14 + 40 + 4] = 0;
	pb_data(b)[14 + 40 + 5] = 7;
}

static void ext_loop(struct pb *b)
{
	pb_push_udp(b, 1, 2);
	for (int i = 0; i < 9; i++)
		pb_push_ip6_ext(b, 60, 0, 0);
	pb_push_ip6(b, "::1", "::2");
	pb_push_eth(b);
}

static void ext_len_past_payload(struct pb *b)
{
	pb_push_udp(b, 1, 2);
	pb_push_ip6_ext(b, 60, 0, 0);
	pb_push_ip6(b, "::1", "::2");
	pb_data(b)[41] = 200; /* 1608-byte option header */
	pb_push_eth(b);
}

static void vlan_deep(struct pb *b)
{
	pb_push_udp(b, 1, 2);
	pb_push_ip4(b, "1.1.1.1", "2.2.2.2", 1, 0);
	for (int i = 0; i < 9; i++)
		pb_push_vlan(b, 0x8100, (uint16_t)i);
	pb_push_eth(b);
}

static void mpls_deep(struct pb *b)
{
	pb_push_udp(b, 1, 2);
	pb_push_ip4(b, "1.1.1.1", "2.2.2.2", 1, 0);
	pb_push_mpls(b, 1, 1);
	for (int i = 0; i < 16; i++)
		pb_push_mpls(b, 2, 0);
	pb_push_eth(b);
}

static void mpls_not_ip(struct pb *b)
{
	pb_payload(b, 20);
	pb_data(b)[0] = 0x00; /* pseudowire control word */
	pb_push_mpls(b, 1, 1);
	pb_push_eth(b);
}

static void tunnel_deep(struct pb *b)
{
	pb_push_udp(b, 1, 2);
	pb_push_ip4(b, "10.0.0.1", "10.0.0.2", 1, 0);
	for (int i = 0; i < 5; i++)
		pb_push_ip4(b, "10.0.0.1", "10.0.0.2", 1, 0);
	pb_push_eth(b);
}

static void arp(struct pb *b)
{
	pb_payload(b, 28);
	b->next_type = 0x0806;
	pb_push_eth(b);
}

static void gtpu_bad_ext(struct pb *b)
{
	pb_payload(b, 8);
	uint8_t g[12] = {0x34, 0xff, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0x85};
	pb_push_raw(b, g, 12);
	pb_data(b)[12] = 0; /* extension of length 0: would never end */
	pb_push_udp(b, 2152, 2152);
	pb_push_ip4(b, "1.1.1.1", "2.2.2.2", 1, 0);
	pb_push_eth(b);
}

struct bad_case {
	const char *name;
	build_fn *build;
	enum qp_parse_result r;
};

static const struct bad_case bad_cases[] = {
	{"IHL below 5", bad_ihl, QP_PERR_bad_ipv4_header},
	{"IHL past the capture", ihl_past_capture, QP_PERR_truncated_ipv4},
	{"total length below IHL", total_below_ihl, QP_PERR_bad_ipv4_header},
	{"IP version 6 in an IPv4 ethertype", wrong_version, QP_PERR_bad_ipv4_header},
	{"TCP data offset 4", tcp_doff_small, QP_PERR_bad_tcp_header},
	{"TCP data offset past the segment", tcp_doff_past_segment, QP_PERR_bad_tcp_header},
	{"UDP length 7", udp_len_small, QP_PERR_bad_udp_length},
	{"9 IPv6 extension headers", ext_loop, QP_PERR_bad_ipv6_header},
	{"IPv6 ext header past the payload", ext_len_past_payload, QP_PERR_truncated_ipv6},
	{"9 VLAN tags", vlan_deep, QP_PERR_vlan_depth},
	{"17 MPLS labels", mpls_deep, QP_PERR_mpls_depth},
	{"MPLS pseudowire", mpls_not_ip, QP_PERR_mpls_payload},
	{"5 nested IP-in-IP", tunnel_deep, QP_PERR_tunnel_depth},
	{"GTP-U extension of length 0", gtpu_bad_ext, QP_PERR_truncated_tunnel},
	{"ARP", arp, QP_PARSE_NON_IP},
};

Test(parse, malformed_frames_get_their_reason)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct pb b;
		struct qp_pkt p;
		pb_init(&b);
		bad_cases[i].build(&b);
		enum qp_parse_result r = qp_parse(&ctx, QP_LINK_ETHERNET, pb_data(&b), pb_len(&b), &p);
		cr_assert_eq(r, bad_cases[i].r, "%s: got %d want %d", bad_cases[i].name, r,
			     bad_cases[i].r);
	}
}

Test(parse, ethernet_padding_is_not_payload)
{
	struct pb b;
	struct qp_pkt p;
	pb_init(&b);
	pb_payload(&b, 10); /* trailer after the IP packet */
	uint8_t pad[10];
	memcpy(pad, pb_data(&b), 10);
	pb_init(&b);
	pb_push_tcp(&b, 1, 2, 1, 0, 0x10, 1);
	pb_push_ip4(&b, "1.1.1.1", "2.2.2.2", 1, 0);
	pb_push_eth(&b);
	uint8_t frame[128];
	uint32_t n = pb_len(&b);
	memcpy(frame, pb_data(&b), n);
	memcpy(frame + n, pad, 10);
	cr_assert_eq(qp_parse(&ctx, 1, frame, n + 10, &p), QP_PARSE_FLOW);
	cr_assert_eq(p.l4_payload_len, 0);
	cr_assert_eq(p.ip_end, n, "the datagram ends before the trailer");
}

/* Link types: the same IPv4/UDP packet under every accepted framing. */
Test(parse, every_link_type)
{
	struct pb b;
	pb_init(&b);
	pb_push_udp(&b, 1111, 2222);
	pb_push_ip4(&b, "10.0.0.1", "10.0.0.2", 1, 0);
	uint8_t ip[64];
	uint32_t n = pb_len(&b);
	memcpy(ip, pb_data(&b), n);
	struct {
		int lt;
		uint8_t hdr[20];
		uint32_t hl;
	} cases[] = {
		{QP_LINK_SLL, {0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00}, 16},
		{QP_LINK_SLL2, {0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0}, 20},
		{QP_LINK_NULL, {2, 0, 0, 0}, 4},  /* little-endian writer */
		{QP_LINK_NULL, {0, 0, 0, 2}, 4},  /* big-endian writer */
		{QP_LINK_LOOP, {0, 0, 0, 2}, 4},
		{QP_LINK_RAW, {0}, 0},
		{QP_LINK_RAW_PCAP, {0}, 0},
		{QP_LINK_IPV4, {0}, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t f[128];
		struct qp_pkt p;
		memcpy(f, cases[i].hdr, cases[i].hl);
		memcpy(f + cases[i].hl, ip, n);
		cr_assert_eq(qp_parse(&ctx, cases[i].lt, f, cases[i].hl + n, &p), QP_PARSE_FLOW,
			     "link type %d", cases[i].lt);
		expect_flow(&p, 4, 17, "10.0.0.1", 1111, "10.0.0.2", 2222);
		if (cases[i].hl)
			cr_assert_neq(qp_parse(&ctx, cases[i].lt, f, cases[i].hl - 1, &p), QP_PARSE_FLOW);
	}
	uint8_t bad[64] = {0, 0, 0, 99};
	struct qp_pkt p;
	memcpy(bad + 4, ip, n);
	cr_assert_eq(qp_parse(&ctx, QP_LINK_LOOP, bad, 4 + n, &p), QP_PERR_bad_link_family);
	cr_assert_eq(qp_parse_linktype_ok(127), 0);
	cr_assert_str_eq(qp_parse_linktype_name(QP_LINK_SLL2), "linux_sll2");
}

static void frag4(struct pb *b, uint16_t frag, int with_udp)
{
	pb_payload(b, 24);
	if (with_udp)
		pb_push_udp(b, 4444, 5555);
	else
		pb_set_proto(b, 17);
	pb_push_ip4(b, "10.0.0.1", "10.0.0.2", 0x4242, frag);
	pb_push_eth(b);
}

Test(parse, ipv4_fragments_follow_their_first_fragment)
{
	struct pb b;
	struct qp_pkt first, later;
	pb_init(&b);
	frag4(&b, 0x2000, 1); /* MF, offset 0 */
	cr_assert_eq(qp_parse(&ctx, 1, pb_data(&b), pb_len(&b), &first), QP_PARSE_FLOW);
	cr_assert_eq(first.frag, QP_FRAG_FIRST);
	pb_init(&b);
	frag4(&b, 4, 0); /* offset 32 bytes, last */
	cr_assert_eq(qp_parse(&ctx, 1, pb_data(&b), pb_len(&b), &later), QP_PARSE_FLOW);
	cr_assert_eq(later.frag, QP_FRAG_LATER);
	cr_assert_eq(later.frag_attributed, 1);
	cr_assert(memcmp(&first.key, &later.key, sizeof(first.key)) == 0);
	cr_assert_eq(later.swapped, first.swapped);
	cr_assert_eq(ctx.frag_first, 1);
	cr_assert_eq(ctx.frag_unattributed, 0);
}

Test(parse, a_fragment_without_its_first_is_counted_with_ports_zero)
{
	struct pb b;
	struct qp_pkt p;
	pb_init(&b);
	frag4(&b, 0x2000 | 3, 0);
	cr_assert_eq(qp_parse(&ctx, 1, pb_data(&b), pb_len(&b), &p), QP_PARSE_FLOW);
	cr_assert_eq(p.frag_attributed, 0);
	expect_flow(&p, 4, 17, "10.0.0.1", 0, "10.0.0.2", 0);
	cr_assert_eq(ctx.frag_unattributed, 1);
}

Test(parse, ipv6_fragments_follow_their_first_fragment)
{
	struct pb b;
	struct qp_pkt first, later;
	pb_init(&b);
	pb_payload(&b, 16);
	pb_push_tcp(&b, 7000, 8000, 1, 0, 0x18, 1);
	pb_push_ip6_ext(&b, 44, 0x0001, 0xabcdef01); /* offset 0, M */
	pb_push_ip6(&b, "2001:db8::1", "2001:db8::2");
	pb_push_eth(&b);
	cr_assert_eq(qp_parse(&ctx, 1, pb_data(&b), pb_len(&b), &first), QP_PARSE_FLOW);
	expect_flow(&first, 6, 6, "2001:db8::1", 7000, "2001:db8::2", 8000);
	pb_init(&b);
	pb_payload(&b, 16);
	pb_set_proto(&b, 6);
	pb_push_ip6_ext(&b, 44, 0x0005 << 3, 0xabcdef01);
	pb_push_ip6(&b, "2001:db8::1", "2001:db8::2");
	pb_push_eth(&b);
	cr_assert_eq(qp_parse(&ctx, 1, pb_data(&b), pb_len(&b), &later), QP_PARSE_FLOW);
	cr_assert_eq(later.frag, QP_FRAG_LATER);
	cr_assert(memcmp(&first.key, &later.key, sizeof(first.key)) == 0);
}

Test(parse, fragments_of_a_tunnel_follow_the_inner_flow)
{
	struct pb b;
	struct qp_pkt first, later;
	pb_init(&b);
	pb_payload(&b, 40);
	pb_push_udp(&b, 1000, 2000);
	pb_push_ip4(&b, "10.8.0.1", "10.8.0.2", 1, 0);
	pb_push_ip4(&b, "192.0.2.1", "192.0.2.2", 0x77, 0x2000);
	pb_push_eth(&b);
	cr_assert_eq(qp_parse(&ctx, 1, pb_data(&b), pb_len(&b), &first), QP_PARSE_FLOW);
	expect_flow(&first, 4, 17, "10.8.0.1", 1000, "10.8.0.2", 2000);
	pb_init(&b);
	pb_payload(&b, 40);
	pb_set_proto(&b, 4);
	pb_push_ip4(&b, "192.0.2.1", "192.0.2.2", 0x77, 6);
	pb_push_eth(&b);
	cr_assert_eq(qp_parse(&ctx, 1, pb_data(&b), pb_len(&b), &later), QP_PARSE_FLOW);
	cr_assert(memcmp(&first.key, &later.key, sizeof(first.key)) == 0);
}

Test(parse, vxlan_without_vni_flag_is_the_udp_flow)
{
	struct pb b;
	struct qp_pkt p;
	pb_init(&b);
	vxlan(&b);
	pb_data(&b)[42] = 0; /* clear the I flag */
	cr_assert_eq(qp_parse(&ctx, 1, pb_data(&b), pb_len(&b), &p), QP_PARSE_FLOW);
	expect_flow(&p, 4, 17, "192.0.2.100", 49152, "192.0.2.200", 4789);
	cr_assert_eq(p.encap, 0);
}

Test(parse, vxlan_carrying_arp_is_the_udp_flow)
{
	struct pb b;
	struct qp_pkt p;
	pb_init(&b);
	pb_payload(&b, 28);
	b.next_type = 0x0806;
	pb_push_eth(&b);
	pb_push_vxlan(&b, 5);
	pb_push_udp(&b, 1, 4789);
	pb_push_ip4(&b, "192.0.2.1", "192.0.2.2", 1, 0);
	pb_push_eth(&b);
	cr_assert_eq(qp_parse(&ctx, 1, pb_data(&b), pb_len(&b), &p), QP_PARSE_FLOW);
	expect_flow(&p, 4, 17, "192.0.2.1", 1, "192.0.2.2", 4789);
	cr_assert_eq(p.encap, QP_ENCAP_VXLAN);
}

Test(parse, error_names_come_from_the_list)
{
	cr_assert_str_eq(qp_parse_error_name(QP_PERR_truncated_l2), "truncated_l2");
	cr_assert_str_eq(qp_parse_error_name(QP_PERR_tunnel_depth), "tunnel_depth");
	cr_assert_null(qp_parse_error_name(QP_PARSE_FLOW));
	cr_assert_null(qp_parse_error_name(QP_PARSE_NON_IP));
	cr_assert_not_null(qp_parse_error_help(QP_PERR_bad_udp_length));
}

/* TCP options: timestamps are read, impossible lengths end the walk. */
static void tcp_with_options(struct pb *b, const uint8_t *opt, uint32_t n)
{
	uint8_t tcp[20] = {0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x10, 1, 0};
	tcp[12] = (uint8_t)(((20 + n) / 4) << 4);
	pb_push_raw(b, opt, n);
	pb_push_raw(b, tcp, 20);
	pb_set_proto(b, 6);
	pb_push_ip4(b, "10.0.0.1", "10.0.0.2", 1, 0);
	pb_push_eth(b);
}

Test(parse, tcp_timestamps_option)
{
	const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0x30, 0x39, 0xde, 0xad, 0xbe, 0xef};
	struct pb b;
	struct qp_pkt p;
	pb_init(&b);
	tcp_with_options(&b, ts, 12);
	cr_assert_eq(qp_parse(&ctx, 1, pb_data(&b), pb_len(&b), &p), QP_PARSE_FLOW);
	cr_assert_eq(p.tcp_has_ts, 1);
	cr_assert_eq(p.tcp_tsval, 12345);
	cr_assert_eq(p.tcp_tsecr, 0xdeadbeef);
	cr_assert_eq(p.tcp_opt_bad, 0);
	/* the options cut by the capture: no timestamps, still a flow */
	cr_assert_eq(qp_parse(&ctx, 1, pb_data(&b), pb_len(&b) - 4, &p), QP_PARSE_FLOW);
	cr_assert_eq(p.tcp_has_ts, 0);
}

Test(parse, tcp_options_with_impossible_lengths)
{
	const uint8_t bad[4][8] = {
		{2, 0, 1, 1, 1, 1, 1, 1},  /* length 0 */
		{2, 1, 1, 1, 1, 1, 1, 1},  /* length 1 */
		{3, 40, 1, 1, 1, 1, 1, 1}, /* past the header */
		{8, 6, 0, 0, 0, 0, 1, 1},  /* timestamps of length 6 */
	};
	for (int i = 0; i < 4; i++) {
		struct pb b;
		struct qp_pkt p;
		pb_init(&b);
		tcp_with_options(&b, bad[i], 8);
		cr_assert_eq(qp_parse(&ctx, 1, pb_data(&b), pb_len(&b), &p), QP_PARSE_FLOW);
		cr_assert_eq(p.tcp_opt_bad, 1, "case %d", i);
		cr_assert_eq(p.tcp_has_ts, 0, "case %d", i);
	}
}

/*
 * The flow key's context. One inner UDP flow, 10.0.0.1:5000 <-> 10.0.0.2:6000,
 * carried in each direction through the layers a struct tun names.
 */
struct tun {
	uint16_t s_tag, c_tag; /* QinQ tags (0: none) */
	int vxlan;
	uint32_t vni;
	int gre;
	uint32_t gre_key; /* with gre: 0 unkeyed */
	int gtpu;
	uint32_t teid[2];      /* by direction: [0] client -> server, [1] back */
	const char *gtp_ep[2]; /* tunnel endpoints, [0] the client's side */
	int frag;              /* 1: first fragment (MF), 2: later fragment (no UDP) */
};

static void tun_frame(struct pb *b, const struct tun *t, int back)
{
	const char *in_a = back ? "10.0.0.2" : "10.0.0.1", *in_b = back ? "10.0.0.1" : "10.0.0.2";
	pb_init(b);
	pb_payload(b, 40);
	if (t->frag == 2)
		pb_set_proto(b, 17);
	else
		pb_push_udp(b, back ? 6000 : 5000, back ? 5000 : 6000);
	pb_push_ip4(b, in_a, in_b, 0x777, t->frag == 1 ? 0x2000 : t->frag == 2 ? 6 : 0);
	if (t->vxlan) {
		pb_push_eth(b);
		pb_push_vxlan(b, t->vni);
		pb_push_udp(b, back ? 51000 : 50000, 4789);
		pb_push_ip4(b, back ? "192.0.2.2" : "192.0.2.1", back ? "192.0.2.1" : "192.0.2.2", 1, 0);
	} else if (t->gre) {
		if (t->gre_key)
			pb_push_gre_key(b, t->gre_key);
		else
			pb_push_gre(b, 0);
		pb_push_ip4(b, back ? "192.0.2.6" : "192.0.2.5", back ? "192.0.2.5" : "192.0.2.6", 1, 0);
	} else if (t->gtpu) {
		pb_push_gtpu(b, t->teid[back]);
		pb_push_udp(b, 2152, 2152);
		pb_push_ip4(b, t->gtp_ep[back], t->gtp_ep[!back], 1, 0);
	}
	if (t->c_tag)
		pb_push_vlan(b, 0x8100, t->c_tag);
	if (t->s_tag)
		pb_push_vlan(b, 0x88a8, t->s_tag);
	pb_push_eth(b);
}

static struct qp_pkt tun_parse(const struct tun *t, int back, uint32_t parts)
{
	struct pb b;
	struct qp_pkt p;
	ctx.key_parts = parts;
	tun_frame(&b, t, back);
	cr_assert_eq(qp_parse(&ctx, QP_LINK_ETHERNET, pb_data(&b), pb_len(&b), &p), QP_PARSE_FLOW);
	expect_flow(&p, 4, 17, back ? "10.0.0.2" : "10.0.0.1", t->frag == 2 ? 0 : back ? 6000 : 5000,
		    back ? "10.0.0.1" : "10.0.0.2", t->frag == 2 ? 0 : back ? 5000 : 6000);
	cr_assert_eq(p.hash, qp_flow_key_hash(&p.key));
	return p;
}

static int same_key(const struct qp_pkt *a, const struct qp_pkt *b)
{
	return memcmp(&a->key, &b->key, sizeof(a->key)) == 0 && a->hash == b->hash;
}

#define GTP_A {"192.0.2.50", "192.0.2.60"}
#define GTP_B {"192.0.2.51", "192.0.2.60"}

struct key_case {
	const char *name;
	struct tun t;
	uint32_t parts;
	/* the key expected (both directions, unless split) */
	uint16_t vlan;
	uint8_t ctx;
	uint32_t vni, tunnel_id; /* tunnel_id checked unless GTPU_PEERS (a hash) */
	int split;               /* 1: the directions are two keys (TEID) */
};

static const struct key_case key_cases[] = {
	{"plain", {0}, QP_FLOW_KEY_DEFAULT, 0, 0, 0, 0, 0},
	{"vxlan vni 5001", {.vxlan = 1, .vni = 5001}, QP_FLOW_KEY_DEFAULT, 0, QP_KEY_CTX_VNI, 5001, 0, 0},
	{"vxlan vni 0", {.vxlan = 1, .vni = 0}, QP_FLOW_KEY_DEFAULT, 0, QP_KEY_CTX_VNI, 0, 0, 0},
	{"vxlan vni max", {.vxlan = 1, .vni = 0xffffff}, QP_FLOW_KEY_DEFAULT, 0, QP_KEY_CTX_VNI,
	 0xffffff, 0, 0},
	{"vxlan, vni left out", {.vxlan = 1, .vni = 5001}, QP_FLOW_KEY_VLAN, 0, 0, 0, 0, 0},
	{"qinq: the C-tag", {.s_tag = 300, .c_tag = 20}, QP_FLOW_KEY_DEFAULT, 20, 0, 0, 0, 0},
	{"one tag", {.c_tag = 4095}, QP_FLOW_KEY_DEFAULT, 4095, 0, 0, 0, 0},
	{"qinq, vlan left out", {.s_tag = 300, .c_tag = 20}, QP_FLOW_KEY_VNI, 0, 0, 0, 0, 0},
	{"vlan under vxlan", {.c_tag = 7, .vxlan = 1, .vni = 9}, QP_FLOW_KEY_DEFAULT, 7, QP_KEY_CTX_VNI,
	 9, 0, 0},
	{"gre key 7", {.gre = 1, .gre_key = 7}, QP_FLOW_KEY_DEFAULT, 0, QP_KEY_CTX_GRE_KEY, 0, 7, 0},
	{"gre key max", {.gre = 1, .gre_key = 0xffffffff}, QP_FLOW_KEY_DEFAULT, 0, QP_KEY_CTX_GRE_KEY,
	 0, 0xffffffff, 0},
	{"gre unkeyed", {.gre = 1}, QP_FLOW_KEY_DEFAULT, 0, 0, 0, 0, 0},
	{"gre key left out", {.gre = 1, .gre_key = 7}, QP_FLOW_KEY_VNI, 0, 0, 0, 0, 0},
	{"gtp-u peers", {.gtpu = 1, .teid = {0x100, 0x200}, .gtp_ep = GTP_A}, QP_FLOW_KEY_DEFAULT, 0,
	 QP_KEY_CTX_GTPU_PEERS, 0, 0, 0},
	{"gtp-u teid", {.gtpu = 1, .teid = {0x100, 0x200}, .gtp_ep = GTP_A}, QP_FLOW_KEY_TEID, 0,
	 QP_KEY_CTX_TEID, 0, 0x100, 1},
	{"gtp-u, tunnel left out", {.gtpu = 1, .teid = {0x100, 0x200}, .gtp_ep = GTP_A},
	 QP_FLOW_KEY_VLAN, 0, 0, 0, 0, 0},
	{"5tuple", {.s_tag = 300, .c_tag = 20, .vxlan = 1, .vni = 5001}, 0, 0, 0, 0, 0, 0},
};

Test(parse, the_flow_key_holds_the_parts_asked_for_the_same_both_ways)
{
	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		const struct key_case *c = &key_cases[i];
		struct qp_pkt a = tun_parse(&c->t, 0, c->parts), b = tun_parse(&c->t, 1, c->parts);
		cr_assert_eq(a.key.vlan, c->vlan, "%s: vlan %u", c->name, a.key.vlan);
		cr_assert_eq(a.key.ctx, c->ctx, "%s: ctx %#x", c->name, a.key.ctx);
		cr_assert_eq(qp_flow_key_vni(&a.key), c->vni, "%s: vni", c->name);
		if (!(c->ctx & QP_KEY_CTX_GTPU_PEERS))
			cr_assert_eq(a.key.tunnel_id, c->tunnel_id, "%s: tunnel id %#x", c->name,
				     a.key.tunnel_id);
		if (c->split) {
			cr_assert(!same_key(&a, &b), "%s: one key for both directions", c->name);
			cr_assert_eq(b.key.tunnel_id, c->t.teid[1], "%s", c->name);
		} else {
			cr_assert(same_key(&a, &b), "%s: the directions differ", c->name);
		}
		/* the outermost tag is what the report's vlan says */
		cr_assert_eq(a.vlan, c->t.s_tag ? c->t.s_tag : c->t.c_tag, "%s", c->name);
	}
}

Test(parse, tenants_that_reuse_addresses_are_told_apart)
{
	const struct {
		struct tun a, b;
		uint32_t parts;
	} pairs[] = {
		{{.vxlan = 1, .vni = 10}, {.vxlan = 1, .vni = 20}, QP_FLOW_KEY_DEFAULT},
		{{.vxlan = 1, .vni = 10}, {0}, QP_FLOW_KEY_DEFAULT},
		{{.s_tag = 300, .c_tag = 10}, {.s_tag = 300, .c_tag = 20}, QP_FLOW_KEY_DEFAULT},
		{{.gre = 1, .gre_key = 1}, {.gre = 1, .gre_key = 2}, QP_FLOW_KEY_DEFAULT},
		{{.gre = 1, .gre_key = 1}, {.gre = 1}, QP_FLOW_KEY_DEFAULT},
		{{.gtpu = 1, .teid = {1, 2}, .gtp_ep = GTP_A}, {.gtpu = 1, .teid = {1, 2}, .gtp_ep = GTP_B},
		 QP_FLOW_KEY_DEFAULT},
		{{.gtpu = 1, .teid = {1, 2}, .gtp_ep = GTP_A}, {.gtpu = 1, .teid = {3, 4}, .gtp_ep = GTP_A},
		 QP_FLOW_KEY_TEID},
		/* a GRE key and a TEID of the same value are not one tunnel */
		{{.gre = 1, .gre_key = 9}, {.gtpu = 1, .teid = {9, 9}, .gtp_ep = GTP_A},
		 QP_FLOW_KEY_GRE_KEY | QP_FLOW_KEY_TEID},
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		struct qp_pkt a = tun_parse(&pairs[i].a, 0, pairs[i].parts);
		struct qp_pkt b = tun_parse(&pairs[i].b, 0, pairs[i].parts);
		cr_assert(!same_key(&a, &b), "pair %zu: one key", i);
		/* ... and the workers' spread still sends both to one lcore per address pair */
		cr_assert_eq(qp_flow_key_addr_hash(&a.key), qp_flow_key_addr_hash(&b.key), "pair %zu", i);
		a = tun_parse(&pairs[i].a, 0, 0);
		b = tun_parse(&pairs[i].b, 0, 0);
		cr_assert(same_key(&a, &b), "pair %zu: 5tuple keys differ", i);
	}
}

Test(parse, a_later_fragment_in_a_tunnel_gets_the_tunnel_in_its_key)
{
	struct tun first = {.vxlan = 1, .vni = 77, .c_tag = 5, .frag = 1};
	struct tun later = first;
	later.frag = 2;
	struct qp_pkt f = tun_parse(&first, 0, QP_FLOW_KEY_DEFAULT);
	struct qp_pkt l;
	struct pb b;
	tun_frame(&b, &later, 0);
	cr_assert_eq(qp_parse(&ctx, QP_LINK_ETHERNET, pb_data(&b), pb_len(&b), &l), QP_PARSE_FLOW);
	cr_assert_eq(l.frag, QP_FRAG_LATER);
	cr_assert_eq(l.frag_attributed, 1);
	cr_assert(same_key(&f, &l));
	cr_assert_eq(l.key.ctx, QP_KEY_CTX_VNI);
	cr_assert_eq(l.key.vlan, 5);
	/* recorded under one measurement's parts, attributed under another's */
	cr_assert_eq(qp_parse(&ctx, QP_LINK_ETHERNET, pb_data(&b), pb_len(&b), &l), QP_PARSE_FLOW);
	ctx.key_parts = 0;
	cr_assert_eq(qp_parse(&ctx, QP_LINK_ETHERNET, pb_data(&b), pb_len(&b), &l), QP_PARSE_FLOW);
	cr_assert_eq(l.frag_attributed, 1);
	expect_flow(&l, 4, 17, "10.0.0.1", 5000, "10.0.0.2", 6000);
	cr_assert_eq(l.key.ctx, 0);
	cr_assert_eq(l.key.vlan, 0);
}

Test(parse, gtpu_without_ip_inside_keeps_the_tunnel_out_of_the_outer_key)
{
	struct pb b;
	struct qp_pkt p;
	pb_init(&b);
	static const uint8_t not_ip[8] = {0x00, 1, 2, 3};
	pb_push_raw(&b, not_ip, sizeof(not_ip));
	pb_push_gtpu(&b, 0xabc);
	pb_push_udp(&b, 2152, 2152);
	pb_push_ip4(&b, "192.0.2.50", "192.0.2.60", 1, 0);
	pb_push_eth(&b);
	cr_assert_eq(qp_parse(&ctx, QP_LINK_ETHERNET, pb_data(&b), pb_len(&b), &p), QP_PARSE_FLOW);
	expect_flow(&p, 4, 17, "192.0.2.50", 2152, "192.0.2.60", 2152);
	cr_assert_eq(p.key.ctx, 0);
	cr_assert_eq(p.key.tunnel_id, 0);
}

/*
 * The straight line (qp_parse) against the layered walk (qp_parse_walk): the
 * same result, field for field, on every frame: every builder above, plain
 * TCP and UDP in every shape the straight line takes or hands over, each cut
 * at every byte and padded, and every frame of the tcpdump corpus when it is
 * there.
 */
static struct qp_parse_ctx ctx_walk;
static unsigned long diff_frames, diff_flows;

static void same_parse(const uint8_t *d, uint32_t len, const char *what)
{
	struct qp_pkt a, b;
	enum qp_parse_result ra = qp_parse(&ctx, QP_LINK_ETHERNET, d, len, &a);
	enum qp_parse_result rb = qp_parse_walk(&ctx_walk, QP_LINK_ETHERNET, d, len, &b);
	diff_frames++;
	cr_assert_eq(ra, rb, "%s (%u bytes): %d against the walk's %d", what, len, ra, rb);
	if (ra != QP_PARSE_FLOW)
		return;
	diff_flows++;
#define SAME_(f) cr_assert(a.f == b.f, "%s (%u bytes): " #f " differs", what, len);
	cr_assert(memcmp(&a.key, &b.key, sizeof(a.key)) == 0, "%s (%u bytes): key differs", what, len);
	QP_PKT_FIELDS_OF(a.l4_proto, SAME_);
#undef SAME_
}

/* The frame, then every cut of it, then padded by 20 bytes (Ethernet padding). */
static void same_parse_all_cuts(struct pb *b, const char *what)
{
	uint32_t n = pb_len(b);
	static uint8_t buf[PB_ROOM + 64];
	memcpy(buf, pb_data(b), n);
	same_parse(buf, n, what);
	for (uint32_t k = 0; k < n; k++)
		same_parse(buf, k, what);
	memset(buf + n, 0xa5, 20);
	same_parse(buf, n + 20, what);
}

static void plain(struct pb *b, int v6, int vlan, uint8_t proto, uint16_t dport, uint16_t frag,
		  int opts, uint32_t payload)
{
	pb_init(b);
	if (payload)
		pb_payload(b, payload);
	if (proto == 6) {
		if (opts) {
			/* NOP NOP timestamps, or an option of impossible length */
			uint8_t o[12] = {1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9};
			if (opts == 2)
				o[3] = 1;
			pb_push_raw(b, o, sizeof(o));
		}
		pb_push_tcp(b, 40000, dport, 1000, 2000, 0x18, 512);
		if (opts) {
			uint8_t *t = pb_data(b);
			t[12] = (uint8_t)((20 + 12) / 4 << 4);
		}
	} else if (proto == 17) {
		pb_push_udp(b, 40000, dport);
	} else {
		pb_push_icmp(b, 8, 1, 2);
	}
	if (v6)
		pb_push_ip6(b, "2001:db8::1", "2001:db8::2");
	else
		pb_push_ip4(b, "10.1.2.3", "10.1.2.2", 7, frag);
	if (vlan >= 0)
		pb_push_vlan(b, 0x8100, (uint16_t)vlan);
	pb_push_eth(b);
}

Test(parse, the_straight_line_gives_what_the_walk_gives_on_every_frame, .timeout = 120)
{
	qp_parse_ctx_init(&ctx_walk);
	diff_frames = diff_flows = 0;
	struct pb b;
	for (size_t i = 0; i < sizeof(flow_cases) / sizeof(flow_cases[0]); i++) {
		pb_init(&b);
		flow_cases[i].build(&b);
		same_parse_all_cuts(&b, flow_cases[i].name);
	}
	static const uint8_t protos[] = {6, 17, 1};
	static const uint16_t dports[] = {80, 4789, 2152};
	static const uint16_t frags[] = {0, 0x4000, 0x2000, 0x0003};
	static const int vlans[] = {-1, 0, 5, 4095};
	for (uint32_t parts = 0; parts <= 1; parts++)
		for (int v6 = 0; v6 < 2; v6++)
			for (size_t vi = 0; vi < 4; vi++)
				for (size_t pi = 0; pi < 3; pi++)
					for (size_t di = 0; di < 3; di++)
						for (size_t fi = 0; fi < (v6 ? 1 : 4); fi++)
							for (int opts = 0; opts < (protos[pi] == 6 ? 3 : 1); opts++) {
								ctx.key_parts = ctx_walk.key_parts =
									parts ? QP_FLOW_KEY_DEFAULT : 0;
								plain(&b, v6, vlans[vi], protos[pi], dports[di],
								      frags[fi], opts, 17);
								same_parse_all_cuts(&b, "plain");
							}
	/* a UDP length below 8, and an IPv4 header of impossible length */
	plain(&b, 0, -1, 17, 53, 0, 0, 4);
	pb_data(&b)[14 + 20 + 4] = 0;
	pb_data(&b)[14 + 20 + 5] = 7;
	same_parse_all_cuts(&b, "udp length 7");
	plain(&b, 0, -1, 6, 80, 0, 0, 4);
	pb_data(&b)[14] = 0x44;
	same_parse_all_cuts(&b, "ihl 4");
	/* the tcpdump corpus, when it is there: every Ethernet frame of every capture */
	const char *list = getenv("QP_CORPUS") ? getenv("QP_CORPUS") : "../shared/corpus/tcpdump";
	unsigned int files = 0;
	{
		DIR *d = opendir(list);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			char path[1024], eb[PCAP_ERRBUF_SIZE];
			snprintf(path, sizeof(path), "%s/%s", list, e->d_name);
			pcap_t *pc = e->d_name[0] != '.' ? pcap_open_offline(path, eb) : NULL;
			if (!pc)
				continue;
			if (pcap_datalink(pc) == DLT_EN10MB) {
				files++;
				struct pcap_pkthdr *h;
				const u_char *data;
				ctx.key_parts = ctx_walk.key_parts = QP_FLOW_KEY_DEFAULT;
				for (int k = 0; k < 100000 && pcap_next_ex(pc, &h, &data) == 1; k++)
					same_parse(data, h->caplen, e->d_name);
			}
			pcap_close(pc);
		}
		if (d)
			closedir(d);
	}
	cr_log_info("%lu frames (%lu flows) alike, %u corpus captures", diff_frames, diff_flows, files);
	cr_assert_gt(diff_flows, 1000);
}
