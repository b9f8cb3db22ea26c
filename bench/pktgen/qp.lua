-- Shared by qprobe's pktgen scripts: the flow count from QP_FLOWS, addresses, and
-- the traffic every script sets up the same way (loaded with dofile by each).
local M = {}

-- QP_FLOWS (or the script's default), checked
function M.flows(default)
	local n = tonumber(os.getenv("QP_FLOWS") or tostring(default))
	if n == nil or n < 1 or n > 16777216 then
		error("QP_FLOWS must be a number of flows from 1 to 16777216")
	end
	return n
end

function M.ip(n)
	return string.format("%d.%d.%d.%d", (n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255)
end

M.first = 0x0A000001 -- 10.0.0.1

-- port 0: one flow per source address from 10.0.0.1, all to 192.168.0.1, UDP
function M.flows_setup(flows)
	local dst_mac = os.getenv("QP_DST_MAC")
	if dst_mac then
		pktgen.range.dst_mac("0", "start", dst_mac)
	end
	pktgen.range.src_ip("0", "start", M.ip(M.first))
	pktgen.range.src_ip("0", "inc", "0.0.0.1")
	pktgen.range.src_ip("0", "min", M.ip(M.first))
	pktgen.range.src_ip("0", "max", M.ip(M.first + flows - 1))
	pktgen.range.dst_ip("0", "start", "192.168.0.1")
	pktgen.range.dst_ip("0", "inc", "0.0.0.0")
	pktgen.range.dst_ip("0", "min", "192.168.0.1")
	pktgen.range.dst_ip("0", "max", "192.168.0.1")
	pktgen.range.ip_proto("0", "udp")
	return M.ip(M.first + flows - 1)
end

return M
