#!/bin/sh
# Live over memif: dpdk-testpmd --forward-mode=txonly (64-byte frames, memif
# server, polling on CPU 1) sends to a receiver (memif client, its polling lcore on
# CPU 0, its main lcore, which does not poll, on CPU 1): first
# dpdk-testpmd --forward-mode=rxonly, the ceiling, then qprobe with a standing
# measurement, alternating, ROUNDS times. Never two polling loops on one CPU.
#
#   bench/memif.sh [SECONDS]       (each receiver's run; ROUNDS=2 by default)
#
# For each round: the generator's median Tx rate while each receiver ran,
# testpmd's median Rx rate, qprobe's rate by its port counter over the second
# half of its run, and qprobe's drops (imissed, rx_nombuf) and worker busy share.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
secs=${1:-10}
rounds=${ROUNDS:-2}
sock=/tmp/qp-bench-memif.sock
out=$BUILD/bench
mkdir -p "$out"

gen() {
	rm -f "$sock"
	timeout $((secs + 25)) dpdk-testpmd --lcores '0@0,1@1' --no-huge -m 512 --no-pci \
		--file-prefix qpgen$$ --vdev "net_memif0,role=server,socket=$sock" -- \
		--forward-mode=txonly --txpkts=64 --auto-start --total-num-mbufs=16384 \
		--stats-period 1 >"$1" 2>&1 &
	genpid=$!
	sleep 3
}

stop_gen() {
	kill "$genpid" 2>/dev/null || true
	wait "$genpid" 2>/dev/null || true
}

# median of the non-zero per-second rates testpmd printed (the first second
# after the link comes up can show a backlog: a peak is not a rate)
median() { grep "$1" "$2" | awk '$2 > 0 {print $2}' | sort -n | awk '{v[NR] = $1} END {print NR ? v[int((NR + 1) / 2)] : 0}'; }

echo "live over memif, 64-byte frames from dpdk-testpmd txonly (one flow, no hugepages), $(nproc) CPUs, $(date -u +%Y-%m-%d):"
echo ""
echo "| round | generator to testpmd (Mpps) | testpmd rxonly (Mpps) | generator to qprobe (Mpps) | qprobe, all metrics (Mpps) | qprobe / testpmd | qprobe / its generator | imissed | rx_nombuf | worker busy |"
echo "|---|---|---|---|---|---|---|---|---|---|"
r=1
while [ "$r" -le "$rounds" ]; do
	gen "$out/memif-gen-rxonly.out"
	timeout $((secs + 5)) dpdk-testpmd --lcores '0@1,1@0' --no-huge -m 512 --no-pci \
		--file-prefix qprx$$ --vdev "net_memif0,role=client,socket=$sock" -- \
		--forward-mode=rxonly --auto-start --total-num-mbufs=16384 --stats-period 1 \
		>"$out/memif-rx.out" 2>&1 &
	rxpid=$!
	sleep "$secs"
	kill -INT "$rxpid" 2>/dev/null || true
	wait "$rxpid" 2>/dev/null || true
	stop_gen
	ref=$(median Rx-pps "$out/memif-rx.out")
	g1=$(median Tx-pps "$out/memif-gen-rxonly.out")

	gen "$out/memif-gen.out"
	port=$((20000 + $$ % 20000))
	"$BUILD/qprobe" --lcores '0@1,1@0' --no-huge -m 1024 --no-pci --file-prefix qpq$$ \
		--log-level=error --vdev "net_memif0,role=client,socket=$sock" -- \
		--duration $((secs + 8)) --qmcp-port 0 --http-port "$port" --measure \
		--report-file "$out/memif-report.json" >/dev/null 2>"$out/memif-qprobe.err" &
	qpid=$!
	# its start (the clock measured, the port set up) took 3 s here, and more
	# than 5 when the generator's two polling cores slowed it: the rate is
	# taken once its HTTP port answers
	i=0
	until curl -sf -o /dev/null "localhost:$port/api/v1/stats"; do
		i=$((i + 1))
		[ "$i" -le 60 ] || break
		sleep 0.5
	done
	sleep 1
	t1=$(date +%s.%N)
	curl -s "localhost:$port/api/v1/stats" >"$out/memif-st1.json"
	sleep $((secs / 2))
	t2=$(date +%s.%N)
	curl -s "localhost:$port/api/v1/stats" >"$out/memif-st2.json"
	wait "$qpid" || true
	stop_gen
	g2=$(median Tx-pps "$out/memif-gen.out")
	python3 - "$out" "$t1" "$t2" "$ref" "$g1" "$g2" "$r" <<'PY'
import json, sys
out = sys.argv[1]
t1, t2, ref, g1, g2 = (float(x) for x in sys.argv[2:7])
a = json.load(open(out + "/memif-st1.json")); b = json.load(open(out + "/memif-st2.json"))
pa, pb = a["ports"][0], b["ports"][0]
rate = (pb["rx_packets"] - pa["rx_packets"]) / (t2 - t1)
w = [l for l in b["lcores"] if l["role"] == "worker"][0]
ratio = lambda x, y: "%.2f" % (x / y) if y else "-"
print("| %s | %.2f | %.2f | %.2f | %.2f | %s | %s | %d | %d | %.0f %% |" % (
    sys.argv[7], g1 / 1e6, ref / 1e6, g2 / 1e6, rate / 1e6, ratio(rate, ref), ratio(rate, g2),
    pb["imissed"], pb["rx_nombuf"], 100 * w["busy_ratio"]))
PY
	r=$((r + 1))
done
