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
	libev-dev libmsgpack-dev libck-dev libcmocka-dev libsodium-dev
	gnuplot-nox procps iproute2 nftables faketime
	redis-tools
	openssh-client openssh-server
)

# The PID of a running system sshd (Debian's /run/sshd.pid), or nothing.
sshd_pid() {
	local p
	p=$(cat /run/sshd.pid 2>/dev/null) || return 0
	[[ "$p" =~ ^[0-9]+$ ]] && [ "$(ps -o comm= -p "$p" 2>/dev/null)" = sshd ] && echo "$p"
	return 0
}

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
	# openssh-server is here for the sshd that tests/test_dist.sh starts itself; its postinst would
	# also start the system's sshd on port 22 where no init policy forbids it (a container
	# without systemd runs /etc/init.d/ssh start). A policy-rc.d that refuses every start, only
	# while apt-get runs and only if the machine has none, keeps it from starting.
	policy=/usr/sbin/policy-rc.d
	own_policy=false
	cleanup() {
		rm -f "$log"
		if $own_policy; then $sudo rm -f "$policy"; fi
	}
	trap cleanup EXIT
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\n# scripts/bootstrap.sh: no service starts while it installs packages\nexit 101\n' |
			$sudo tee "$policy" >/dev/null
		own_policy=true
		$sudo chmod 755 "$policy"
	fi
	# A machine's own policy may allow starts: then an sshd the install started is stopped by
	# the PID it wrote (only if no sshd ran from that PID file before).
	sshd_before=$(sshd_pid)
	if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
		cat "$log" >&2
		echo "bootstrap: apt-get failed (see above)" >&2
		exit 1
	fi
	sshd_after=$(sshd_pid)
	if [ -z "$sshd_before" ] && [ -n "$sshd_after" ]; then
		echo "bootstrap: stopping the sshd the openssh-server install started (pid $sshd_after)" >&2
		$sudo kill -TERM "$sshd_after" || true
		for _ in $(seq 50); do
			[ -n "$(sshd_pid)" ] || break
			sleep 0.1
		done
		[ -z "$(sshd_pid)" ] || echo "bootstrap: sshd $sshd_after is still running" >&2
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
