-- qprobe benchmark traffic for pktgen-dpdk: UDP frames of 64 to 1518 bytes
-- (sizes stepping by 2 through the range, so the mean is near 790 bytes; a
-- rate-limited IMIX-like mix for links where 64-byte frames are not the
-- question) over QP_FLOWS flows (default 10000). Same usage as udp64.lua.
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local flows = tonumber(os.getenv("QP_FLOWS") or "10000")
if flows == nil or flows < 1 or flows > 16777216 then
	error("QP_FLOWS must be a number of flows from 1 to 16777216")
end
local first = 0x0A000001
local function ip(n)
	return string.format("%d.%d.%d.%d", (n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255)
end

local dst_mac = os.getenv("QP_DST_MAC")
if dst_mac then
	pktgen.range.dst_mac("0", "start", dst_mac)
end
pktgen.range.src_ip("0", "start", ip(first))
pktgen.range.src_ip("0", "inc", "0.0.0.1")
pktgen.range.src_ip("0", "min", ip(first))
pktgen.range.src_ip("0", "max", ip(first + flows - 1))
pktgen.range.dst_ip("0", "start", "192.168.0.1")
pktgen.range.dst_ip("0", "inc", "0.0.0.0")
pktgen.range.dst_ip("0", "min", "192.168.0.1")
pktgen.range.dst_ip("0", "max", "192.168.0.1")
pktgen.range.ip_proto("0", "udp")
pktgen.range.pkt_size("0", "start", 64)
pktgen.range.pkt_size("0", "inc", 2)
pktgen.range.pkt_size("0", "min", 64)
pktgen.range.pkt_size("0", "max", 1518)
pktgen.set_range("0", "on")
pktgen.set("0", "rate", 100)
printf("qprobe imix: %d flows, 64..1518-byte frames\n", flows)
pktgen.start("0")
