#!/bin/sh
# Offline two-point: qprobe --pcap A --peer-pcap B on the same traffic seen at
# two points (build/qp_gen pair: 1,000,000 frames over 10,000 flows, B 5 ms
# later, 1 in 100 lost), against qprobe --pcap A alone in the same run; best
# of 3 each, with peak memory and the control bytes a live secondary would
# send per selected packet (TP_RECORDS frames built by the real encoder).
#
#   bench/twopoint.sh [PACKETS] [FLOWS]
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
pk=${1:-1000000}
fl=${2:-10000}
dir=$BUILD/bench
mkdir -p "$dir"
a=$dir/pair-$pk-$fl-a.pcap
b=$dir/pair-$pk-$fl-b.pcap
[ -f "$a" ] && [ -f "$b" ] || "$BUILD/qp_gen" pair "$a" "$b" "$pk" "$fl"

. bench/lib.sh

set -- $(best "$BUILD/qprobe" --pcap "$a" --peer-pcap "$b" --report-file "$dir/tp.json")
ts=$1 tm=$2
set -- $(best "$BUILD/qprobe" --pcap "$a" --report-file "$dir/a.json")
as=$1 am=$2
nb=$(python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['two_point']; print(t['records']['secondary'])" "$dir/tp.json")
echo "Offline two-point, $pk frames at A and $nb at B over $fl flows, $(nproc) CPUs, $(date -u +%Y-%m-%d)"
echo ""
echo "| run | seconds | frames/s (A + B) | peak RSS |"
echo "|---|---|---|---|"
echo "| qprobe --pcap A --peer-pcap B | $ts | $(echo "scale=2; ($pk + $nb) / $ts / 1000000" | bc -l) M | $((tm / 1024)) MiB |"
echo "| reference: qprobe --pcap A alone | $as | $(echo "scale=2; $pk / $as / 1000000" | bc -l) M | $((am / 1024)) MiB |"
python3 - "$dir/tp.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["two_point"]
c, f = t["control"], t["fwd"]
print("")
print("control: %d TP_RECORDS frames, %d bytes for %d records: %.2f bytes per selected packet"
      % (c["frames"], c["bytes"], c["records"], c["bytes_per_record"]))
print("fwd: selected %d, matched %d, lost %d; owd min %.6f mean %.6f max %.6f ms"
      % (f["selected"], f["matched"], f["lost"], f["owd_ms"]["min"], f["owd_ms"]["mean"],
         f["owd_ms"]["max"]))
PY
