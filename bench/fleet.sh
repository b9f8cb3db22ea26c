#!/bin/sh
# A fleet of probes pushing results to qmstore: N simulated probes (bench/fleet.c: one
# QMCP connection each, M measurements at 1 s intervals, the interval and top-flows JSON
# of a real run) against qmstore on PostgreSQL (a private cluster, fsync on) and on
# SQLite, for N = 10, 100, 500. Prints results a second acknowledged, the delay from a
# RESULT sent to its acknowledgement, and the rows in the database against what was sent
# (none lost, none twice).
#
#   bench/fleet.sh [SECONDS] [MEASUREMENTS]     (defaults 20 and 4: 2,000 results/s at 500)
#   FLEET_N='10 100 500 1000' bench/fleet.sh    other fleet sizes
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
secs=${1:-20}
nm=${2:-4}
sizes=${FLEET_N:-10 100 500}
dir=$(mktemp -d /tmp/qprobe-fleet.XXXXXX)
trap 'kill $qs 2>/dev/null; [ -n "${pgbin:-}" ] && runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg" -m fast stop >/dev/null 2>&1; rm -rf "$dir"' EXIT
qs=""

# what a probe pushes: an interval of a real run and its largest flows
"$BUILD/qprobe" --pcap tests/data/demo.pcap --interval 1000 --report-file "$dir/demo.json"
python3 - "$dir" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1] + "/demo.json"))
json.dump(d["intervals"][0], open(sys.argv[1] + "/result.json", "w"), separators=(",", ":"))
flows = sorted(d["flows"], key=lambda f: -(f["bytes"]["fwd"] + f["bytes"]["rev"]))[:10]
json.dump(flows, open(sys.argv[1] + "/flows.json", "w"), separators=(",", ":"))
EOF
echo "fleet: $secs s, $nm measurements a probe (1 s intervals), RESULT_JSON $(wc -c <"$dir/result.json") bytes," \
	"FLOWS_JSON $(wc -c <"$dir/flows.json") bytes ($(nproc) CPUs, $(date -u +%Y-%m-%d))"

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)
pgport=$((30000 + $$ % 20000))
chown postgres "$dir"
runuser -u postgres -- "$pgbin/initdb" -D "$dir/pg" -A trust -U postgres >/dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w \
	-o "-p $pgport -k $dir -c listen_addresses=''" start >/dev/null
pgq() { psql -h "$dir" -p "$pgport" -U postgres -d "$1" -tA -c "$2"; }

run() { # store N: qmstore on that store, the fleet, then the database's count
	store=$1
	n=$2
	port=$((20000 + ($$ + n) % 10000))
	if [ "$store" = postgresql ]; then
		db="fleet$n"
		pgq postgres "DROP DATABASE IF EXISTS $db" >/dev/null
		pgq postgres "CREATE DATABASE $db" >/dev/null
		"$BUILD/qmstore" --quiet --listen 127.0.0.1 --port "$port" \
			--pg "host=$dir port=$pgport user=postgres dbname=$db" 2>"$dir/qmstore.err" &
	else
		rm -f "$dir/fleet.sqlite"*
		"$BUILD/qmstore" --quiet --listen 127.0.0.1 --port "$port" --db "$dir/fleet.sqlite" \
			2>"$dir/qmstore.err" &
	fi
	qs=$!
	i=0
	while ! grep -q listening "$dir/qmstore.err" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	line=$("$BUILD/qp_fleet" 127.0.0.1 "$port" "$n" "$nm" "$secs" "$dir/result.json" "$dir/flows.json") || true
	kill $qs
	wait $qs 2>/dev/null || true
	qs=""
	if [ "$store" = postgresql ]; then
		rows=$(pgq "$db" "SELECT count(*) FROM results")
		dist=$(pgq "$db" "SELECT count(DISTINCT (probe_id, meas_id, seq)) FROM results")
		flows=$(pgq "$db" "SELECT count(*) FROM flows")
	else
		rows=$(sqlite3 "$dir/fleet.sqlite" "SELECT count(*) FROM results")
		dist=$(sqlite3 "$dir/fleet.sqlite" "SELECT count(*) FROM (SELECT DISTINCT probe_id, meas_id, seq FROM results)")
		flows=$(sqlite3 "$dir/fleet.sqlite" "SELECT count(*) FROM flows")
	fi
	sent=$(echo "$line" | sed -n 's/.*sent \([0-9]*\).*/\1/p')
	echo "  $store, $n probes: $line"
	echo "    in the database: $rows results ($dist distinct), $flows flow rows; sent $sent:" \
		"$([ "$rows" = "$sent" ] && [ "$dist" = "$sent" ] && echo "none lost, none twice" || echo "MISMATCH")"
	grep -h "transactions" "$dir/qmstore.err" | sed 's/^/    /'
}

for n in $sizes; do
	run postgresql "$n"
done
for n in $sizes; do
	run sqlite "$n"
done
