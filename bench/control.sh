#!/bin/sh
# QMCP control traffic of a measurement with 1,000 flows: bytes per interval
# pushed to a subscriber (or a results receiver: the same RESULT frame), and
# the bytes of one page listing all 1,000 flows (FLOWS, on demand).
#
#   bench/control.sh
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
dir=$BUILD/bench
mkdir -p "$dir"
cap=$dir/flows-1000.pcap
[ -f "$cap" ] || "$BUILD/qp_gen" bench "$cap" 10000 1000
port=$((20000 + $$ % 20000))
"$BUILD/qprobe" -l 0,1 --no-huge -m 1024 --no-shconf --no-pci --log-level=error \
	--vdev "net_pcap0,rx_pcap=$cap,infinite_rx=1" -- \
	--qmcp-port "$port" --http-port 0 --mbufs 32767 >/dev/null 2>"$dir/control.err" &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
sleep 2
Q="$BUILD/qmctl --probe 127.0.0.1:$port"
$Q start --interval 1000 --max-flows 4096 >/dev/null
$Q --json watch 1 --count 6 >"$dir/control.results"
# frame = 16-byte header + TLVs: PROBE_ID, MEAS_ID (4), SEQ (8), INTERVAL_START_NS (8), RESULT_JSON
id_len=$($Q --json info | sed -n 's/.*"probe_id": "\([^"]*\)".*/\1/p' | head -1 | tr -d '\n' | wc -c)
tail -n 5 "$dir/control.results" | awk -v id="$id_len" '
	{ n++; b += length($0) + 16 + (6 + id) + 10 + 14 + 14 + 6; f = $0 }
	END { printf "RESULT per interval (1 s, %s): %.0f bytes on average over %d intervals\n", "1,000 flows", b / n, n }'
# on the wire the page is compact JSON (qmctl prints it indented)
flows=$($Q --json flows 1 --top 1000 | python3 -c 'import json, sys; print(len(json.dumps(json.load(sys.stdin)["flows"], separators=(",", ":"))))')
active=$($Q --json flows 1 --top 1 | sed -n 's/.*"active_flows": \([0-9]*\).*/\1/p')
echo "FLOWS page of all $active active flows (on demand): $flows bytes of compact JSON (+ 62 bytes of frame and TLVs)"
$Q stop 1 >/dev/null
