#!/usr/bin/env bash
# Measures a single-node Redis on this machine as the ceiling to compare curpkv with.
#   scripts/bench-redis.sh [-n requests] [-c clients] [-a always|everysec|no] [-r runs]
#                          [-k keyspace] [-P "1 16"] [-h]
# Installs redis-server and redis-tools from Debian if they are missing, starts a private
# redis-server on a free 127.0.0.1 port (its files in a mktemp -d directory, under TMPDIR), runs
# redis-benchmark for SET and GET (100-byte values as conf/local.conf's commandSize, keys random
# over -k, default 100000 as its keySpace) at each pipeline depth of -P (default: 1, unpipelined,
# and 16), -r times each (default 1), prints each run's requests per second and p50 and, over the
# runs, the median of both, and stops exactly the server it started.
# -a: persistence, as docs/durability.md's fsync policies: appendonly yes with appendfsync always
# (an fsync of the AOF before the replies of each event-loop iteration), everysec or no. Without
# -a: no persistence at all (no AOF, no RDB snapshots). -c: concurrent connections; to compare
# with a curpkv run use its sessions x pendings (16 x 15 -> -c 240, 4 x 10 -> -c 40).
set -euo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
requests=200000
clients=50
aof=""
runs=1
keyspace=100000
pipelines="1 16"
while getopts "n:c:a:r:k:P:h" opt; do
	case "$opt" in
	n) requests=$OPTARG ;;
	c) clients=$OPTARG ;;
	a) aof=$OPTARG ;;
	r) runs=$OPTARG ;;
	k) keyspace=$OPTARG ;;
	P) pipelines=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
for v in "$requests" "$clients" "$runs" "$keyspace" $pipelines; do
	[[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "bench-redis: -n, -c, -r, -k and -P take positive integers" >&2; exit 2; }
done
case "$aof" in "" | always | everysec | no) ;; *) echo "bench-redis: -a always, everysec or no" >&2; exit 2 ;; esac

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq >/dev/null
	$sudo apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
fi

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/resp-common.sh
. "$top/scripts/resp-common.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/curpkv-bench-redis.XXXXXX")
cleanup() {
	redis_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
redis_start "$tmp" "$aof"

declare -A rps p50
echo "bench-redis: redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), persistence ${aof:+appendonly yes, appendfsync }${aof:-none}, -n $requests -c $clients -d 100 -r $keyspace, $runs run(s)"
for r in $(seq "$runs"); do
	for mode in $pipelines; do
		echo "bench-redis: run $r, pipeline $mode (load average $(cut -d' ' -f1-3 /proc/loadavg))"
		while read -r test v p; do
			echo "  $test -P $mode: $v requests/s, p50 $p ms"
			rps[$test-$mode]+="$v "
			p50[$test-$mode]+="$p "
		done < <(resp_bench "$REDIS_PORT" "$mode" set,get "$requests" "$clients" 100 "$keyspace" "$tmp/out.csv" || echo "FAILED")
		[ -z "${rps[FAILED-$mode]:-}" ] || exit 1
	done
done
for mode in $pipelines; do
	for test in SET GET; do
		echo "bench-redis: $test -P $mode: median $(median <<<"${rps[$test-$mode]:-}") requests/s, p50 $(median <<<"${p50[$test-$mode]:-}") ms"
	done
done
