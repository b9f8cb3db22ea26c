-- qprobe benchmark traffic for pktgen-dpdk: UDP frames of 64 to 1518 bytes
-- (sizes stepping by 2 through the range, so the mean is near 790 bytes; a
-- rate-limited IMIX-like mix for links where 64-byte frames are not the
-- question) over QP_FLOWS flows (default 10000). Same usage as udp64.lua.
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"
local qp = dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "qp.lua")

local flows = qp.flows(10000)
qp.flows_setup(flows)
pktgen.range.pkt_size("0", "start", 64)
pktgen.range.pkt_size("0", "inc", 2)
pktgen.range.pkt_size("0", "min", 64)
pktgen.range.pkt_size("0", "max", 1518)
pktgen.set_range("0", "on")
pktgen.set("0", "rate", 100)
printf("qprobe imix: %d flows, 64..1518-byte frames\n", flows)
pktgen.start("0")
