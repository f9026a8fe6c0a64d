#!/usr/bin/env bash
# Installs every Debian package curpkv's build, tests and scripts need (idempotent, quiet when
# nothing is missing), then builds in the source tree: autoreconf -fi && ./configure "$@" && make.
#   scripts/bootstrap.sh [configure arguments...]     e.g. --enable-asan --enable-werror
#   CURPKV_NO_BUILD=1 scripts/bootstrap.sh            only install packages
set -euo pipefail

usage() {
	sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
}
case "${1:-}" in -h | --help) usage; exit 0 ;; esac

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

packages=(
	build-essential autoconf automake libtool pkg-config
	libev-dev libmsgpack-dev libck-dev libcmocka-dev
	gnuplot-nox procps iproute2 nftables faketime
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -gt 0 ]; then
	echo "bootstrap: installing ${missing[*]}" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	log=$(mktemp)
	trap 'rm -f "$log"' EXIT
	if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
		cat "$log" >&2
		echo "bootstrap: apt-get failed (see above)" >&2
		exit 1
	fi
fi

[ -z "${CURPKV_NO_BUILD:-}" ] || exit 0

cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
# Reconfigure only when needed: a first run, or different configure arguments.
want="$*"
have=""
[ -f config.status ] && have=$(sed -n "s/^ac_cs_config='\(.*\)'$/\1/p" config.status | tr -d "'")
if [ ! -f configure ] || [ ! -f Makefile ] || [ "$want" != "$have" ]; then
	autoreconf -fi >/dev/null 2>&1 || { autoreconf -fi; exit 1; }
	./configure -q "$@"
fi
make -s -j"$jobs"
