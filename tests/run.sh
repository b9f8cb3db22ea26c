#!/bin/sh
# Runs Criterion test binaries, JOBS at a time, and closes with one line per build
# directory and one for all: "tests (build/asan): N passed, N failed". Exits non-zero
# if any failed.
#   tests/run.sh JOBS [--alone 'BINARY...'] [--live 'BINARY...'] BINARY...
# Binaries named in --alone measure live timing (a delay line, paced traffic): they run
# first, one after the other, with nothing beside them. Binaries named in --live start live DPDK probes whose workers poll lcore 1's CPU: they
# run one at a time (never two busy-polling loops on one CPU) while the others fill the
# remaining slots. Each free slot takes the first binary of the list that may start, so
# list the longest first. Outcomes and logs: build/test-results/ (tests/run-one.sh).
set -u
jobs=$1
shift
alone=""
live=""
while :; do
	case "${1:-}" in
	--alone) alone=$2 ;;
	--live) live=$2 ;;
	*) break ;;
	esac
	shift 2
done
results=build/test-results
q=$results/.queue
rm -rf "$results"
mkdir -p "$q"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$(pwd)/tests/lsan.supp}"
i=0
for t in "$@"; do
	kind=other
	for l in $alone; do [ "$l" = "$t" ] && kind=alone; done
	[ "$kind" = alone ] && continue
	for l in $live; do [ "$l" = "$t" ] && kind=live; done
	i=$((i + 1))
	echo "$i $kind $t" >>"$q/list"
done

# Claim the next binary (under the claim lock): the first unclaimed one, skipping live
# ones while a live one runs, unless only live ones are left (then it waits its turn
# on the live lock). Prints "N KIND BINARY", or nothing when all are claimed.
claim() {
	exec 8>"$q/claim.lock"
	flock 8
	pick=""
	first_live=""
	while read -r n kind t; do
		[ -e "$q/c.$n" ] && continue
		if [ "$kind" = live ]; then
			[ -n "$first_live" ] || first_live="$n $kind $t"
			[ -e "$q/live-running" ] && continue
		fi
		pick="$n $kind $t"
		break
	done <"$q/list"
	[ -n "$pick" ] || pick=$first_live
	if [ -n "$pick" ]; then
		set -- $pick
		: >"$q/c.$1"
		[ "$2" = live ] && : >"$q/live-running"
	fi
	flock -u 8
	exec 8>&-
	echo "$pick"
}

worker() {
	while :; do
		job=$(claim)
		[ -n "$job" ] || return 0
		set -- $job
		if [ "$2" = live ]; then
			flock "$q/live.lock" tests/run-one.sh "$3" "$results/$3.res"
			rm -f "$q/live-running"
		else
			tests/run-one.sh "$3" "$results/$3.res"
		fi
	done
}

start=$(date +%s)
for t in "$@"; do
	for l in $alone; do [ "$l" = "$t" ] && tests/run-one.sh "$t" "$results/$t.res"; done
done
w=0
while [ "$w" -lt "$jobs" ]; do
	worker &
	w=$((w + 1))
done
wait
secs=$(($(date +%s) - start))
fail_all=0
pass_all=0
for b in $(for t in "$@"; do echo "${t%%/tests/*}"; done | sort -u); do
	pass=0
	fail=0
	for t in "$@"; do
		[ "${t%%/tests/*}" = "$b" ] || continue
		if [ -f "$results/$t.res" ]; then
			read -r p f _ <"$results/$t.res"
		else
			echo "  FAIL  $t: did not run"
			p=0
			f=1
		fi
		pass=$((pass + p))
		fail=$((fail + f))
	done
	echo "tests ($b): $pass passed, $fail failed"
	pass_all=$((pass_all + pass))
	fail_all=$((fail_all + fail))
done
echo "tests: $pass_all passed, $fail_all failed, in $secs s"
[ "$fail_all" -eq 0 ]
