#!/bin/sh
# Idle CPU of a running probe with no measurement, over 10 s: the share of one
# core its threads used (from /proc/PID/stat), with the per-thread split.
#
#   bench/idle.sh [SECONDS]
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
secs=${1:-10}
port=$((20000 + $$ % 20000))
"$BUILD/qprobe" -l 0,1 --no-huge -m 512 --no-shconf --no-pci --log-level=error \
	--vdev net_pcap0,rx_pcap=tests/data/demo.pcap,infinite_rx=1 -- \
	--qmcp-port "$port" --http-port 0 >/dev/null 2>"$BUILD/idle.err" &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
sleep 3
hz=$(getconf CLK_TCK)
snap() { for t in /proc/$pid/task/*; do echo "$(cat "$t/comm") $(awk '{print $14+$15}' "$t/stat")"; done; }
a=$(awk '{print $14+$15}' /proc/$pid/stat)
snap >"$BUILD/idle.a"
sleep "$secs"
b=$(awk '{print $14+$15}' /proc/$pid/stat)
snap >"$BUILD/idle.b"
echo "idle probe (no measurement, a port delivering 10+ Mpps if polled), $secs s, $(nproc) CPUs, $(date -u +%Y-%m-%d):"
echo "  CPU: $(echo "scale=2; 100 * ($b - $a) / $hz / $secs" | bc -l) % of one core ($((b - a)) ticks of 1/$hz s)"
paste "$BUILD/idle.a" "$BUILD/idle.b" | awk -v hz="$hz" -v s="$secs" '{printf "  thread %-16s %.2f %%\n", $1, 100 * ($4 - $2) / hz / s}'
