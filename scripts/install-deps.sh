#!/bin/sh
# Installs the Debian 12 packages one of qprobe's make targets needs. Idempotent:
# packages already present are not touched, and a machine that has them runs no
# apt-get at all. Each set includes the ones above it.
#
#   scripts/install-deps.sh --build   `make`, `make demo`: compiler, DPDK, liburcu,
#                                     jansson, libmicrohttpd, libpcap, OpenSSL,
#                                     libyaml, libcrypt, SQLite and libpq headers
#   scripts/install-deps.sh --test    `make test`, `make check` (the default): Criterion,
#                                     tshark, nfdump and pmacct (IPFIX collectors), PostgreSQL, sqlite3, DPDK's tools (testpmd,
#                                     dpdk-telemetry.py, dpdk-devbind.py), systemd,
#                                     Prometheus, pytest and venv (the Python client),
#                                     Chromium (the dashboard's browser test), ffmpeg (MPEG-TS streams)
#   scripts/install-deps.sh --bench   `make bench`, `make fuzz`: argus, nDPI,
#                                     valgrind, bc, time, curl, scapy, clang with libFuzzer
#   scripts/install-deps.sh --list SET   prints the set's packages and exits
set -eu

build_pkgs="make gcc libc6-dev libcrypt-dev pkg-config libdpdk-dev liburcu-dev libjansson-dev \
libmicrohttpd-dev libpcap-dev libssl-dev libyaml-dev libsqlite3-dev libpq-dev"
test_pkgs="libcriterion-dev tshark nfdump pmacct postgresql sqlite3 dpdk dpdk-dev python3 systemd prometheus \
python3-pytest python3-venv chromium fonts-dejavu-core openssl ffmpeg"
bench_pkgs="argus-server libndpi-bin valgrind bc time curl python3-scapy \
clang libclang-rt-14-dev"

set_of() {
	case "$1" in
	--build) echo "$build_pkgs" ;;
	--test | "") echo "$build_pkgs $test_pkgs" ;;
	--bench | --all) echo "$build_pkgs $test_pkgs $bench_pkgs" ;;
	*)
		echo "install-deps.sh: unknown set '$1' (accepted: --build, --test, --bench, --all)" >&2
		exit 2
		;;
	esac
}

if [ "${1:-}" = --list ]; then
	set_of "${2:-}"
	exit 0
fi
want=$(set_of "${1:-}")

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "install-deps.sh: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
else
	echo "install-deps.sh: missing packages:$missing; run this script as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing
