#!/bin/sh
# Worker replay: the per-packet path on one core fed from memory (bench/replay.c),
# (then pcap results' cost; last: the DNS, QUIC, TLS and MPEG-TS modules' cost, each mix with and without its family)
# each mix best of 3, next to ../shared/bench/limit.c (the cheapest honest flow tracker,
# when present) in the same run; then N measurements with different filters over the
# same frames; then instructions per frame counted by callgrind on the worker's path
# alone (this VM has no hardware counters for perf stat).
#
#   bench/replay.sh [PACKETS]      (default 4,000,000; 10,000,000 for 1M flows)
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
pk=${1:-4000000}
best() { # the best Mpps of three runs of a command
	for i in 1 2 3; do "$@"; done | awk '{ for (i = 1; i <= NF; i++) if ($i == "Mpps") { v = $(i - 1); break } }
		v + 0 > best { best = v + 0; line = $0 } END { print line }'
}
mpps() { awk '{ for (i = 1; i <= NF; i++) if ($i == "Mpps") { print $(i - 1); exit } }'; }
limit=""
if [ -f ../shared/bench/limit.c ]; then
	limit=$BUILD/limit
	gcc -O2 -msse4.2 -o "$limit" ../shared/bench/limit.c
fi
echo "worker replay, $(nproc) CPUs, $(date -u +%Y-%m-%d), all metrics on; best of 3:"
for mix in udp64-1k udp64-100k udp64-1m imix-tcp rtp; do
	n=$pk
	[ "$mix" = udp64-1m ] && n=$((pk * 5 / 2))
	line=$(best "$BUILD/qp_replay" "$mix" "$n")
	echo "$line"
	case $mix in udp64-1k) f=1000 ;; udp64-100k) f=100000 ;; udp64-1m) f=1000000 ;; *) f= ;; esac
	if [ -n "$limit" ] && [ -n "$f" ]; then
		l=$("$limit" "$f" "$n")
		q=$(echo "$line" | mpps)
		lm=$(echo "$l" | mpps)
		echo "  $l; qprobe worker+dma / limit = $(echo "scale=2; $q / $lm" | bc)"
	fi
done
echo "measurements over the same frames (udp64-100k, each with its own filter), cycles a frame (least of 3),"
echo "sharing one flow table as a probe's do, then each on a table of its own (--private):"
for mode in "" --private; do
	one=""
	for m in 1 2 4 16; do
		# the least of three runs: one run's figure moved by a third on a noisy hour
		c=$(for k in 1 2 3; do
			"$BUILD/qp_replay" udp64-100k 2000000 --measurements "$m" $mode |
				awk '{ for (i = 1; i <= NF; i++) if ($i == "cycles/frame") { print $(i - 1); exit } }'
		done | sort -n | head -1)
		[ -z "$one" ] && one=$c
		echo "  ${mode:-shared} $m: $c ($(echo "scale=2; $c / $one" | bc)x one)"
	done
done
if command -v valgrind >/dev/null; then
	echo "instructions per frame in qp_worker_process (callgrind; 10 frames a flow and more,"
	echo "so flow creation weighs as in a steady state):"
	for spec in udp64-1k:200000 udp64-100k:1000000 imix-tcp:400000 rtp:200000; do
		mix=${spec%%:*}
		n=${spec#*:}
		ir=$(valgrind --tool=callgrind --toggle-collect=qp_worker_process \
			--callgrind-out-file=/dev/null "$BUILD/qp_replay" "$mix" "$n" 2>&1 |
			sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
		echo "  $mix: $((ir / n)) ($n frames)"
	done
	echo "instructions per frame with N measurements sharing a table (udp64-100k, 1,000,000 frames):"
	for m in 1 4 16; do
		ir=$(valgrind --tool=callgrind --toggle-collect=qp_group_process \
			--callgrind-out-file=/dev/null "$BUILD/qp_replay" udp64-100k 1000000 \
			--measurements "$m" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
		echo "  $m: $((ir / 1000000))"
	done
	echo "the worker's cost of IPFIX export: instructions in qp_worker_process with the active"
	echo "timeout ending records every few frames, without and with --export (each record into"
	echo "the worker's ring, as a live IPFIX measurement's), and per frame with no record ending:"
	for spec in imix-tcp:400000:1000 udp64-100k:1000000:2000; do
		mix=${spec%%:*}
		rest=${spec#*:}
		n=${rest%%:*}
		us=${rest#*:}
		ir() {
			valgrind --tool=callgrind --toggle-collect=qp_worker_process --callgrind-out-file=/dev/null \
				"$BUILD/qp_replay" "$mix" "$n" "$@" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
		}
		recs=$("$BUILD/qp_replay" "$mix" "$n" --active-timeout "$us" | sed -n 's/.*active timeout \([0-9]*\).*/\1/p')
		a=$(ir --active-timeout "$us")
		b=$(ir --active-timeout "$us" --export)
		c=$(ir)
		d=$(ir --export)
		echo "  $mix: $recs records: $((a / n)) -> $((b / n)) a frame, $(((b - a) / recs)) a record;" \
			"no record ending: $((c / n)) -> $((d / n)) a frame"
	done
fi
# Pcap results: every measured frame offered to a capture's ring, at the default budget
# (100 Mbit/s of 256-byte snaps: on the replay's 50 Mpps of traffic time most frames are
# over it) and with a budget that takes them all.
echo "pcap results (qp_replay --capture), cycles a frame (worker+dma), best of 3:"
for mix in udp64-100k imix-tcp; do
	cyc() { best "$BUILD/qp_replay" "$mix" 2000000 "$@" | awk '{ for (i = 1; i <= NF; i++) if ($i == "cycles/frame") { print $(i - 1); exit } }'; }
	echo "  $mix: without $(cyc), default budget $(cyc --capture), every frame $(cyc --capture 1e13)"
done
if command -v valgrind >/dev/null; then
	echo "the same, instructions a frame in qp_worker_process (callgrind, 400,000 frames):"
	for mix in udp64-100k imix-tcp; do
		ir() {
			valgrind --tool=callgrind --toggle-collect=qp_worker_process --callgrind-out-file=/dev/null \
				"$BUILD/qp_replay" "$mix" 400000 "$@" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
		}
		echo "  $mix: without $(($(ir) / 400000)), default budget $(($(ir --capture) / 400000))," \
			"every frame $(($(ir --capture 1e13) / 400000))"
	done
fi
# What each application module costs on a mix that carries it: the same frames
# with every metric family, and with every family but that one (qp_replay --metrics).
echo "application modules, cycles a frame (worker+dma), with and without the family, best of 3:"
for fam in dns quic tls mpegts; do
	others=$(echo tcp,rtp,icmp,dns,quic,tls,mpegts | tr ',' '\n' | grep -vx "$fam" | paste -sd,)
	cyc() { best "$BUILD/qp_replay" "$fam" 2000000 "$@" | awk '{ for (i = 1; i <= NF; i++) if ($i == "cycles/frame") { print $(i - 1); exit } }'; }
	with=$(cyc)
	without=$(cyc --metrics "$others")
	echo "  $fam mix: with $with, without $without ($(echo "scale=2; $with / $without" | bc)x)"
done
if command -v valgrind >/dev/null; then
	echo "the same, instructions a frame in qp_worker_process (callgrind, 400,000 frames):"
	for fam in dns quic tls mpegts; do
		others=$(echo tcp,rtp,icmp,dns,quic,tls,mpegts | tr ',' '\n' | grep -vx "$fam" | paste -sd,)
		ir() {
			valgrind --tool=callgrind --toggle-collect=qp_worker_process --callgrind-out-file=/dev/null \
				"$BUILD/qp_replay" "$fam" 400000 "$@" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
		}
		a=$(ir)
		b=$(ir --metrics "$others")
		echo "  $fam mix: with $((a / 400000)), without $((b / 400000))"
	done
fi
