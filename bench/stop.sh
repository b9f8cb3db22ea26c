#!/bin/sh
# STOP latency: a measurement started and stopped 10 times over QMCP against a probe with
# 1 worker and with 3 workers and a distributor (all worker lcores on CPU 1, net_ring0:
# no traffic), next to a qmctl LIST round trip as the reference, same run.
#
#   bench/stop.sh            (build/ by default; BUILD=build/asan for the other tree)
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build}
port=18177
us() { echo $(( ($2 - $1) / 1000 )); }
run() {
	lcores=$1 what=$2
	"$B/qprobe" --lcores "$lcores" --no-huge -m 512 --no-shconf --no-pci --log-level=error \
		--vdev net_ring0 -- --qmcp-addr 127.0.0.1 --qmcp-port $port --http-port 0 \
		--duration 120 2>/dev/null &
	pid=$!
	for i in $(seq 1 100); do
		"$B/qmctl" --probe 127.0.0.1:$port list >/dev/null 2>&1 && break
		sleep 0.1
	done
	stop=0 ref=0
	for i in $(seq 1 10); do
		id=$("$B/qmctl" --probe 127.0.0.1:$port start --interval 1000 | awk '{print $2}')
		t0=$(date +%s%N)
		"$B/qmctl" --probe 127.0.0.1:$port stop "$id" >/dev/null
		t1=$(date +%s%N)
		"$B/qmctl" --probe 127.0.0.1:$port list >/dev/null
		t2=$(date +%s%N)
		stop=$((stop + $(us "$t0" "$t1"))) ref=$((ref + $(us "$t1" "$t2")))
	done
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	echo "$what: STOP $((stop / 10)) us, LIST $((ref / 10)) us (each a qmctl process)"
}
run '0@0,1@1' "1 worker"
run '0@0,(1-4)@1' "3 workers + distributor"
