#!/bin/sh
# Live over memif: dpdk-testpmd --forward-mode=txonly (64-byte frames, memif
# server, polling on CPU 1) sends to a receiver (memif client, its polling lcore on
# CPU 0, its main lcore, which does not poll, on CPU 1): first
# dpdk-testpmd --forward-mode=rxonly, the ceiling, then qprobe with a standing
# measurement, in the same run. Never two polling loops on one CPU.
#
#   bench/memif.sh [SECONDS]
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
secs=${1:-10}
sock=/tmp/qp-bench-memif.sock
out=$BUILD/bench
mkdir -p "$out"

gen() {
	rm -f "$sock"
	timeout $((secs + 15)) dpdk-testpmd --lcores '0@0,1@1' --no-huge -m 512 --no-pci \
		--file-prefix qpgen$$ --vdev "net_memif0,role=server,socket=$sock" -- \
		--forward-mode=txonly --txpkts=64 --auto-start --total-num-mbufs=16384 \
		--stats-period 1 >"$out/memif-gen.out" 2>&1 &
	genpid=$!
	sleep 3
}

stop_gen() {
	kill "$genpid" 2>/dev/null || true
	wait "$genpid" 2>/dev/null || true
}

# testpmd's own receive rate: the last Rx-pps it printed
gen
timeout $((secs + 5)) dpdk-testpmd --lcores '0@1,1@0' --no-huge -m 512 --no-pci \
	--file-prefix qprx$$ --vdev "net_memif0,role=client,socket=$sock" -- \
	--forward-mode=rxonly --auto-start --total-num-mbufs=16384 --stats-period 1 \
	>"$out/memif-rx.out" 2>&1 &
rxpid=$!
sleep "$secs"
kill -INT "$rxpid" 2>/dev/null || true
wait "$rxpid" 2>/dev/null || true
stop_gen
cp "$out/memif-gen.out" "$out/memif-gen-rxonly.out"
ref=$(grep 'Rx-pps' "$out/memif-rx.out" | awk '{print $2}' | sort -n | tail -1)

# qprobe: the rate its port counted over the last half of the run, drops, busy ratio
gen
port=$((20000 + $$ % 20000))
"$BUILD/qprobe" --lcores '0@1,1@0' --no-huge -m 1024 --no-pci --file-prefix qpq$$ \
	--log-level=error --vdev "net_memif0,role=client,socket=$sock" -- \
	--duration $((secs + 2)) --qmcp-port 0 --http-port "$port" --measure \
	--report-file "$out/memif-report.json" >/dev/null 2>"$out/memif-qprobe.err" &
qpid=$!
sleep $((secs / 2))
curl -s "localhost:$port/api/v1/stats" >"$out/memif-st1.json"
sleep $((secs / 2))
curl -s "localhost:$port/api/v1/stats" >"$out/memif-st2.json"
wait "$qpid" || true
stop_gen
g1=$(grep 'Tx-pps' "$out/memif-gen-rxonly.out" | awk '{print $2}' | sort -n | tail -1)
g2=$(grep 'Tx-pps' "$out/memif-gen.out" | awk '{print $2}' | sort -n | tail -1)
echo "generator's best Tx-pps: ${g1:-?} while testpmd received, ${g2:-?} while qprobe did"
python3 - "$out" "$secs" "$ref" <<'PY'
import json, sys
out, secs, ref = sys.argv[1], int(sys.argv[2]), float(sys.argv[3] or 0)
a = json.load(open(out + "/memif-st1.json")); b = json.load(open(out + "/memif-st2.json"))
pa, pb = a["ports"][0], b["ports"][0]
dt = secs - secs // 2 if secs % 2 else secs // 2
rate = (pb["rx_packets"] - pa["rx_packets"]) / dt / 1e6
w = [l for l in b["lcores"] if l["role"] == "worker"][0]
print("live over memif, 64-byte frames from dpdk-testpmd txonly (one core, no hugepages):")
print("  dpdk-testpmd rxonly (ceiling): %.2f Mpps" % (ref / 1e6))
print("  qprobe, all metrics on: %.2f Mpps (%.0f %% of the ceiling), imissed %d, rx_nombuf %d, "
      "worker busy %.0f %%" % (rate, 100 * rate / (ref / 1e6) if ref else 0, pb["imissed"],
                               pb["rx_nombuf"], 100 * w["busy_ratio"]))
PY
