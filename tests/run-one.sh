#!/bin/sh
# Runs one test binary for tests/run.sh and records its outcome: a Criterion binary, or
# a pytest file's wrapper (build/tests/python/test_x, written by make).
#   tests/run-one.sh BINARY RESULT
# The binary runs with QP_BUILD set to its build directory (build/asan/tests/x -> build/asan),
# all its output going to RESULT.log. RESULT gets one line "PASSED FAILED SECONDS"; a binary
# that exits non-zero without a failing test (a crash between tests, a sanitizer report at
# exit) counts one failure. Prints one line, and on failure what failed. Always exits 0:
# tests/run.sh adds the results up.
set -u
bin=$1
res=$2
case $bin in
*/tests/*) build=${bin%%/tests/*} ;;
*) build=build ;;
esac
mkdir -p "$(dirname "$res")"
start=$(date +%s.%N)
QP_BUILD=$build "$bin" --jobs 1 >"$res.log" 2>&1
rc=$?
secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
line=$(grep 'Synthesis:' "$res.log" | tail -n 1)
p=$(printf '%s' "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
f=$(printf '%s' "$line" | sed -n 's/.*Failing: \([0-9]*\) | Crashing: \([0-9]*\).*/\1 \2/p')
if [ -z "$line" ]; then
	# a pytest file (build/tests/python/*): its summary, "2 failed, 10 passed, 1 error in 5.1s"
	line=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error)' "$res.log" | tail -n 1)
	p=$(printf '%s' "$line" | sed -n 's/.*\b\([0-9][0-9]*\) passed.*/\1/p')
	f="$(printf '%s' "$line" | sed -n 's/.*\b\([0-9][0-9]*\) failed.*/\1/p') $(printf '%s' "$line" | sed -n 's/.*\b\([0-9][0-9]*\) error.*/\1/p')"
fi
[ -n "$p" ] || p=0
set -- $f
nf=$((${1:-0} + ${2:-0}))
if [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then nf=1; fi
echo "$p $nf $secs" >"$res"
if [ "$nf" -eq 0 ]; then
	printf '  ok    %-48s %3d passed  %6s s\n' "$bin" "$p" "$secs"
else
	# what failed and why first (a sanitizer report after it can be long), then the end
	{
		printf '  FAIL  %-48s %3d passed %d failed (exit %d)  %6s s; log %s\n' "$bin" "$p" "$nf" "$rc" "$secs" "$res.log"
		grep -E -A3 '^\[FAIL\]|^\[----\] [^ ]+:[0-9]+: ' "$res.log" | head -n 40
		grep -vE '^\[(----|PASS|RUN )\]' "$res.log" | tail -n 60
	} | sed 's/^/        /; 1s/^        //'
fi
exit 0
