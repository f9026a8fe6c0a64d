#!/usr/bin/env bash
# `make installcheck`: builds tests/installcheck/hello.c against the INSTALLED header, library and
# pkg-config file only, starts a 3-replica cluster with the installed binary on 127.0.0.1 (ports
# picked at random, retried), runs the program, and stops exactly the processes it started.
#   tests/installcheck/run.sh SRCDIR BINDIR PKGCONFIGDIR [DESTDIR]
set -euo pipefail
src=$1
bindir=$2
export PKG_CONFIG_PATH=$3${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
# a staged install (DESTDIR): the .pc file names the final prefix; let pkg-config prepend DESTDIR
if [ -n "${4:-}" ]; then export PKG_CONFIG_SYSROOT_DIR=$4; fi
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2046
${CC:-cc} -o "$tmp/hello" "$src/tests/installcheck/hello.c" $(pkg-config --cflags --libs curpkv)
echo "installcheck: built hello with pkg-config curpkv ($(pkg-config --modversion curpkv))"

for attempt in 1 2 3 4 5; do
	base=$((20000 + (RANDOM * 7 + attempt * 1000) % 40000))
	cat >"$tmp/cluster.conf" <<CONF
-- Replicas --
replica0 127.0.0.1:$base
replica1 127.0.0.1:$((base + 1))
replica2 127.0.0.1:$((base + 2))
-- Clients --
client0 127.0.0.1
-- Master --
master0 127.0.0.1
masterPort: $((base + 3))
protocol: curp
CONF
	pids=()
	for r in 0 1 2; do
		"$bindir/curpkv" -run server -config "$tmp/cluster.conf" -alias "replica$r" \
			-log "$tmp/replica$r.log" &
		pids+=($!)
	done
	"$bindir/curpkv" -run master -config "$tmp/cluster.conf" -alias master0 -log "$tmp/master.log" &
	pids+=($!)
	ready=0
	for _ in $(seq 1 100); do
		if grep -q "cluster ready" "$tmp/master.log" 2>/dev/null; then ready=1; break; fi
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || break 2; done
		sleep 0.1
	done
	if [ "$ready" -eq 1 ]; then
		"$tmp/hello" "$tmp/cluster.conf"
		exit $?
	fi
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	echo "installcheck: cluster did not start on ports $base.. (attempt $attempt)" >&2
done
echo "installcheck: could not start a cluster" >&2
exit 1
