-- qprobe benchmark traffic for pktgen-dpdk (tested against its 23.03 release
-- API): 64-byte UDP frames on port 0 at line rate, over QP_FLOWS flows
-- (environment, default 100000; 1000 and 1000000 are the worker replay's
-- mixes), one flow per source address counting up from 10.0.0.1.
--
--   QP_FLOWS=100000 pktgen -l 0-2 -n 4 -a 0000:03:00.0 -- -P -m "[1:2].0" \
--       -f bench/pktgen/udp64.lua
--
-- Set QP_DST_MAC to the probe port's MAC when a switch sits between the two
-- (a direct cable or a tap needs nothing). See bench/pktgen/README.md.
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"
local qp = dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "qp.lua")

local flows = qp.flows(100000)
local last = qp.flows_setup(flows)
for _, f in ipairs({ { pktgen.range.src_port, 1024 }, { pktgen.range.dst_port, 5001 } }) do
	f[1]("0", "start", f[2])
	f[1]("0", "inc", 0)
	f[1]("0", "min", f[2])
	f[1]("0", "max", f[2])
end
pktgen.range.pkt_size("0", "start", 64)
pktgen.range.pkt_size("0", "inc", 0)
pktgen.range.pkt_size("0", "min", 64)
pktgen.range.pkt_size("0", "max", 64)
pktgen.set_range("0", "on")
pktgen.set("0", "rate", 100)
printf("qprobe udp64: %d flows, 10.0.0.1 .. %s -> 192.168.0.1:5001, 64-byte frames\n", flows, last)
pktgen.start("0")
