#!/bin/sh
# Soak: one probe for SOAK_SECONDS (default 1800) under everything at once, then the
# verdict. Not part of `make test` (it takes half an hour).
#
#   - traffic: a net_pcap port replaying (infinite_rx) a capture of 65,536 flows into
#     measurements of 16,384 flows a worker with a 1 s idle timeout: flows arrive, are
#     evicted and expire all the time, at the tables' capacity;
#   - a standing measurement (from a configuration file) pushing 1 s intervals to qmstore,
#     with the probe's spool (--spool);
#   - a controller starting 8 measurements every 3 s (0.5 s intervals, each its own
#     filter, pushing to qmstore too) and stopping them 3 s later;
#   - qmstore killed (SIGKILL) and started again every 60 s;
#   - the HTTP endpoint scraped every second (/metrics and /api/v1/stats);
#   - the probe's RSS sampled every 10 s.
#
# Verdict (exit 1 when one fails):
#   - the probe ran to the end and exits 0 on SIGTERM;
#   - RSS flat after warm-up: the last sample within 8 MiB of the first sample after
#     SOAK_WARMUP seconds (default 120);
#   - every interval stored exactly once: for each measurement, seq 0..max each once
#     in qmstore's database, no gap reported, and the rows in all equal to the results
#     the probe says it made for qmstore (/api/v1/stats push_totals.produced), none dropped.
#
#   bench/soak.sh            SOAK_SECONDS=N SOAK_WARMUP=N SOAK_LCORES=LIST (EAL --lcores, default 0,1) BUILD=build
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
secs=${SOAK_SECONDS:-1800}
warm=${SOAK_WARMUP:-120}
dir=$BUILD/soak
rm -rf "$dir"
mkdir -p "$dir"
cap=$BUILD/bench/soak-131072-65536.pcap
mkdir -p "$BUILD/bench"
[ -f "$cap" ] || "$BUILD/qp_gen" bench "$cap" 131072 65536 >/dev/null || exit 1
base=$((20000 + $$ % 20000))
qport=$base
hport=$((base + 1))
sport=$((base + 2))
db=$dir/soak.sqlite

store() {
	"$BUILD/qmstore" --listen 127.0.0.1 --port "$sport" --db "$db" --quiet 2>>"$dir/qmstore.err" &
	spid=$!
}
cat >"$dir/probe.json" <<EOF
{"measurements": [{"description": "soak: standing", "interval_ms": 1000, "idle_timeout_s": 1,
                   "max_flows": 16384, "destinations": ["127.0.0.1:$sport"]}]}
EOF
store
"$BUILD/qprobe" --lcores "${SOAK_LCORES:-0,1}" --no-huge -m 2048 --no-shconf --no-pci --log-level=error \
	--vdev "net_pcap0,rx_pcap=$cap,infinite_rx=1" -- \
	--config "$dir/probe.json" --qmcp-addr 127.0.0.1 --qmcp-port "$qport" --http-port "$hport" \
	--flow-budget 262144 --mbufs 163839 --spool "$dir/spool" >/dev/null 2>"$dir/probe.err" &
ppid=$!
trap 'kill $ppid $spid 2>/dev/null' EXIT
Q="$BUILD/qmctl --probe 127.0.0.1:$qport --timeout 10000"
sleep 3
kill -0 $ppid 2>/dev/null || { echo "soak: the probe did not start:"; cat "$dir/probe.err"; exit 1; }

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$ppid/status" 2>/dev/null; }
start=$(date +%s)
next_rss=$start
next_store=$((start + 60))
next_ctl=$start
ctl_state=idle
ids=""
rss_first=$(rss)
rss_warm=""
scrapes=0
scrape_fail=0
started=0
echo "soak: ${secs} s, probe pid $ppid, RSS sampled every 10 s (kB):"
printf '  %5s %8s\n' "t (s)" "RSS"
while :; do
	now=$(date +%s)
	t=$((now - start))
	[ "$t" -ge "$secs" ] && break
	kill -0 $ppid 2>/dev/null || { echo "soak: the probe died at t=$t s"; tail -5 "$dir/probe.err"; exit 1; }
	if [ "$now" -ge "$next_rss" ]; then
		r=$(rss)
		printf '  %5d %8s\n' "$t" "$r"
		echo "$t $r" >>"$dir/rss.txt"
		[ -z "$rss_warm" ] && [ "$t" -ge "$warm" ] && rss_warm=$r && rss_warm_t=$t
		next_rss=$((next_rss + 10))
	fi
	if [ "$now" -ge "$next_store" ]; then
		kill -9 $spid 2>/dev/null
		wait $spid 2>/dev/null
		store
		next_store=$((next_store + 60))
	fi
	if [ "$now" -ge "$next_ctl" ]; then
		if [ "$ctl_state" = idle ]; then
			ids=""
			for k in 1 2 3 4 5 6 7 8; do
				id=$($Q start --filter "not host 192.0.2.$k" --interval 500 --idle-timeout 1 \
					--max-flows 16384 --dest "127.0.0.1:$sport" 2>>"$dir/qmctl.err")
				[ -n "$id" ] && ids="$ids $id" && started=$((started + 1))
			done
			ctl_state=running
		else
			for id in $ids; do $Q stop "$id" >/dev/null 2>>"$dir/qmctl.err"; done
			ctl_state=idle
		fi
		next_ctl=$((next_ctl + 3))
	fi
	if curl -sf -m 2 "http://127.0.0.1:$hport/metrics" >/dev/null &&
		curl -sf -m 2 "http://127.0.0.1:$hport/api/v1/stats" >/dev/null; then
		scrapes=$((scrapes + 1))
	else
		scrape_fail=$((scrape_fail + 1))
	fi
	sleep 1
done
stats=$(curl -s "http://127.0.0.1:$hport/api/v1/stats")
evicted=$(echo "$stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"]["flows_evicted"])')
measured=$(echo "$stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"]["measured"])')
for id in $ids; do [ "$ctl_state" = running ] && $Q stop "$id" >/dev/null 2>&1; done
rss_last=$(rss)
$Q stop 1 >/dev/null 2>&1
# everything delivered: the push queue empty, with qmstore up
kill -0 $spid 2>/dev/null || store
for i in $(seq 1 600); do
	q=$(curl -s "http://127.0.0.1:$hport/api/v1/stats" | python3 -c '
import json, sys
p = json.load(sys.stdin)["push"]
print(sum(d["queued"] for d in p))' 2>/dev/null)
	[ "$q" = 0 ] && break
	sleep 0.1
done
stats=$(curl -s "http://127.0.0.1:$hport/api/v1/stats")
produced=$(echo "$stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["push_totals"]["produced"])')
dropped=$(echo "$stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["push_totals"]["dropped"])')
kill -TERM $ppid
wait $ppid
prc=$?
kill -TERM $spid
wait $spid 2>/dev/null
rows=$(sqlite3 "$db" 'SELECT count(*) FROM results')
meas=$(sqlite3 "$db" 'SELECT count(DISTINCT meas_id) FROM results')
holes=$(sqlite3 "$db" 'SELECT count(*) FROM (SELECT meas_id FROM results GROUP BY meas_id HAVING count(*) != max(seq) + 1)')
gaps=$(sqlite3 "$db" 'SELECT count(*) FROM gaps')

fail=0
echo "soak: $t s; $started measurements started by the controller; $scrapes scrapes answered, $scrape_fail not"
echo "  at the end, the standing measurement and the controller's last 8: frames measured $measured, flows evicted $evicted"
echo "  RSS: first $rss_first kB, at warm-up (t=${rss_warm_t:-?} s) ${rss_warm:-?} kB, last $rss_last kB"
if [ -z "$rss_warm" ] || [ $((rss_last - rss_warm)) -gt 8192 ]; then
	echo "  FAIL: RSS grew by more than 8 MiB after warm-up"
	fail=1
fi
echo "  results: the probe made $produced for qmstore (dropped $dropped); qmstore holds $rows rows of $meas measurements, $holes with a hole, $gaps gaps"
if [ "$rows" != "$produced" ] || [ "$dropped" != 0 ] || [ "$holes" != 0 ] || [ "$gaps" != 0 ]; then
	echo "  FAIL: not every interval stored exactly once"
	fail=1
fi
if [ "$prc" != 0 ]; then
	echo "  FAIL: the probe exited $prc on SIGTERM"
	fail=1
fi
[ "$scrape_fail" -gt 0 ] && echo "  note: $scrape_fail scrapes not answered within 2 s"
[ $fail = 0 ] && echo "soak: passed"
exit $fail
