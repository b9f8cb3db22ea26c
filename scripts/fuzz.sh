#!/bin/sh
# Runs the libFuzzer targets of tests/fuzz/ (`make fuzz`): each for FUZZ_SECONDS
# (default 60) on the saved corpus tests/fuzz/corpus/fuzz_NAME and what earlier runs
# found (build/fuzz/corpus/fuzz_NAME); the capture target also starts from the
# captures of tests/data. One line per target: runs, inputs in the corpus, what was found. A crash is saved as
# build/fuzz/crash-fuzz_NAME-* and makes the script exit 1.
#
#   scripts/fuzz.sh [--save] [NAME...]     NAME: capture config http parse qmcp sdp (default: all)
#
# --save merges the run's corpus into tests/fuzz/corpus/fuzz_NAME, minimised: the
# inputs `make test` replays through every decoder in both builds.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
secs=${FUZZ_SECONDS:-60}
save=0
[ "${1:-}" = --save ] && { save=1; shift; }
names=$*
[ -n "$names" ] || names=$(ls tests/fuzz/fuzz_*.c | sed 's|tests/fuzz/fuzz_||; s|\.c$||')
crashed=""
for n in $names; do
	t=fuzz_$n
	if [ ! -f "tests/fuzz/$t.c" ]; then
		echo "fuzz.sh: no target '$n' (tests/fuzz/fuzz_$n.c); targets: $(ls tests/fuzz/fuzz_*.c | sed 's|tests/fuzz/fuzz_||; s|\.c$||' | tr '\n' ' ')" >&2
		exit 2
	fi
	make --no-print-directory BUILD="$BUILD" "$BUILD/fuzz/$t" >/dev/null || exit 1
	case $n in
	capture) maxlen=65536 ;;
	config) maxlen=8192 ;;
	http) maxlen=2048 ;;
	*) maxlen=4096 ;;
	esac
	seeds="tests/fuzz/corpus/$t"
	[ "$n" = capture ] && seeds="$seeds tests/data"
	work=$BUILD/fuzz/corpus/$t
	mkdir -p "$work"
	log=$BUILD/fuzz/$t.log
	"$BUILD/fuzz/$t" -max_total_time="$secs" -max_len="$maxlen" -close_fd_mask=3 \
		-artifact_prefix="$BUILD/fuzz/crash-$t-" -print_final_stats=1 "$work" $seeds >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	found=$(ls "$BUILD/fuzz/" | grep -c "^crash-$t-")
	printf '%-14s %3s s  %9s runs  %5s inputs in %s  %s\n' "$t" "$secs" "${runs:-?}" \
		"$(ls "$work" | wc -l)" "$work" \
		"$([ "$rc" -eq 0 ] && echo "nothing found" || echo "FOUND: see $log")"
	[ "$rc" -eq 0 ] || crashed="$crashed $t"
	if [ "$save" = 1 ]; then
		mkdir -p "tests/fuzz/corpus/$t"
		"$BUILD/fuzz/$t" -merge=1 -max_len="$maxlen" -close_fd_mask=3 "tests/fuzz/corpus/$t" "$work" \
			>>"$log" 2>&1 && echo "  saved: $(ls "tests/fuzz/corpus/$t" | wc -l) inputs in tests/fuzz/corpus/$t"
	fi
done
if [ -n "$crashed" ]; then
	echo "fuzz.sh: crashes in:$crashed (inputs in $BUILD/fuzz/crash-*)" >&2
	exit 1
fi
