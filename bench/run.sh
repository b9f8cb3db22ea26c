#!/bin/sh
# Offline benchmark: qprobe --pcap against argus -r, ndpiReader -i and
# tshark -q -z conv,tcp -z conv,udp on the same generated capture (1,000,000 frames over 10,000 flows by default:
# `qp_gen mix`, the realistic mix issue 14 names; KIND=bench for `qp_gen bench`'s round robin), in
# the same run, best of 3 wall-clock runs each, with peak memory. Marginal rates too:
# each program's run on a capture with no frame is subtracted (argus spends a fixed
# second), and `cat FILE > /dev/null` is the reading reference, also as 21 pairs of runs
# in turn (qprobe, cat, qprobe, ...) whose median ratio holds when the machine drifts.
#
#   bench/run.sh [PACKETS] [FLOWS]
#   KIND=bench bench/run.sh                         the older capture: every flow 100 frames in turn
#   QPROBE_REF=/path/to/older/qprobe bench/run.sh   adds that build as a row
#                                                   (e.g. an earlier commit's)
# Writes the table to stdout and to build/bench/offline.md.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
pk=${1:-1000000}
fl=${2:-10000}
dir=$BUILD/bench
mkdir -p "$dir"
kind=${KIND:-mix}
case $kind in mix | bench) ;; *) echo "bench/run.sh: KIND is mix or bench, not '$kind'" >&2; exit 2 ;; esac
cap=$dir/$kind-$pk-$fl.pcap
[ -f "$cap" ] || "$BUILD/qp_gen" "$kind" "$cap" "$pk" "$fl"

. bench/lib.sh

empty=$dir/empty.pcap
head -c 24 "$cap" >"$empty" # the file header alone: no frame
q=$(best "$BUILD/qprobe" --pcap "$cap" --report-file "$dir/report.json")
q0=$(best "$BUILD/qprobe" --pcap "$empty" --report-file "$dir/report0.json")
a0=$(best argus -r "$empty" -w "$dir/out0.argus")
c=$(best cat "$cap") # best() sends its output to /dev/null: no shell's start in cat's time
r=""
if [ -n "${QPROBE_REF:-}" ]; then
	r=$(best "$QPROBE_REF" --pcap "$cap" --report-file "$dir/report-ref.json")
fi
a=$(best argus -r "$cap" -w "$dir/out.argus")
n=$(best ndpiReader -i "$cap" -q)
t=$(best tshark -n -q -r "$cap" -z conv,tcp -z conv,udp)
rate() { echo "scale=2; $pk / $1 / 1000000" | bc -l; }
ratio() { echo "scale=2; $2 / $1" | bc -l; }
set -- $q
qs=$1 qm=$2
set -- $a
as=$1 am=$2
set -- $n
ns=$1 nm=$2
set -- $t
ts=$1 tm=$2
{
	echo "Offline, qp_gen $kind: $pk frames over $fl flows ($(du -h "$cap" | cut -f1)), $(nproc) CPUs, $(date -u +%Y-%m-%d)"
	echo ""
	echo "| program | seconds | Mpps | peak RSS | qprobe is faster by |"
	echo "|---|---|---|---|---|"
	echo "| qprobe --pcap | $qs | $(rate "$qs") | $((qm / 1024)) MiB | - |"
	if [ -n "$r" ]; then
		set -- $r
		echo "| reference: $QPROBE_REF | $1 | $(rate "$1") | $(($2 / 1024)) MiB | $(ratio "$qs" "$1")x |"
	fi
	echo "| argus -r | $as | $(rate "$as") | $((am / 1024)) MiB | $(ratio "$qs" "$as")x |"
	echo "| ndpiReader -i | $ns | $(rate "$ns") | $((nm / 1024)) MiB | $(ratio "$qs" "$ns")x |"
	echo "| tshark -q -z conv,tcp -z conv,udp | $ts | $(rate "$ts") | $((tm / 1024)) MiB | $(ratio "$qs" "$ts")x |"
	set -- $q0
	q0s=$1
	set -- $a0
	a0s=$1
	set -- $c
	cs=$1
	qd=$(echo "$qs - $q0s" | bc -l)
	ad=$(echo "$as - $a0s" | bc -l)
	echo ""
	echo "Marginal (minus the run on a capture with no frame: qprobe $q0s s, argus $a0s s):"
	echo "qprobe $qd s ($(rate "$qd") Mpps), argus $ad s ($(rate "$ad") Mpps): qprobe is faster by"
	echo "$(ratio "$qd" "$ad")x; reading the file alone (cat > /dev/null) $cs s: qprobe takes"
	echo "$(ratio "$cs" "$qs")x as long"
	# the same in pairs: each ratio of two runs one after the other
	python3 - "$BUILD/qprobe" "$cap" "$dir/report.json" <<'PY'
import statistics, subprocess, sys, time
qprobe, cap, out = sys.argv[1:4]
def run(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t
q = [qprobe, "--pcap", cap, "--report-file", out]
c = ["cat", cap]  # its output to /dev/null (run()): no shell's start in cat's time
run(q), run(c)
tq, tc, r = [], [], []
for _ in range(21):
    a, b = run(q), run(c)
    tq.append(a), tc.append(b), r.append(a / b)
print("in 21 pairs of runs in turn: qprobe %.3f s, cat %.3f s (medians); qprobe/cat %.2fx"
      " (median; %.2f to %.2f)" % (statistics.median(tq), statistics.median(tc),
                                    statistics.median(r), min(r), max(r)))
PY
} | tee "$dir/offline.md"
