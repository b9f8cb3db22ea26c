#!/bin/sh
# Installs the Debian 12 packages qprobe needs to build, test and be compared
# with its peers. Idempotent: packages already present are not touched, and a
# machine that has everything runs no apt-get at all.
#
#   scripts/install-deps.sh           build + test + peers (default)
#   scripts/install-deps.sh --build   only what `make` needs
set -eu

build_pkgs="build-essential pkg-config libdpdk-dev dpdk liburcu-dev libjansson-dev \
libmicrohttpd-dev libpcap-dev libssl-dev libsqlite3-dev libpq-dev"
test_pkgs="libcriterion-dev tshark curl python3-scapy argus-server libndpi-bin \
valgrind bc time postgresql sqlite3 clang libclang-rt-14-dev dpdk-dev systemd prometheus"

case "${1:-}" in
--build) want="$build_pkgs" ;;
"" | --all) want="$build_pkgs $test_pkgs" ;;
*)
	echo "install-deps.sh: unknown option '$1' (accepted: --build, --all)" >&2
	exit 2
	;;
esac

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
