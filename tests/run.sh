#!/bin/sh
# Runs Criterion test binaries one after the other and closes with one line
# adding them up: "tests: N passed, N failed". Exits non-zero if any failed.
#   tests/run.sh JOBS BINARY...
set -u
jobs=$1
shift
pass=0
fail=0
for t in "$@"; do
	echo "== $t"
	out=$("$t" --jobs "$jobs" 2>&1)
	rc=$?
	# what failed and why first (a sanitizer report after it can be long), then the end
	printf '%s\n' "$out" | grep -E -A3 '^\[FAIL\]|^\[----\] [^ ]+:[0-9]+: ' | head -n 40
	printf '%s\n' "$out" | grep -vE '^\[(----|PASS|RUN )\]' | tail -n 60
	line=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -n 1)
	p=$(printf '%s' "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
	f=$(printf '%s' "$line" | sed -n 's/.*Failing: \([0-9]*\) | Crashing: \([0-9]*\).*/\1 \2/p')
	[ -n "$p" ] || p=0
	set -- $f
	nf=$(( ${1:-0} + ${2:-0} ))
	if [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then nf=1; fi
	pass=$((pass + p))
	fail=$((fail + nf))
done
echo "tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
