#!/usr/bin/env bash
# Redis against curpkv behind its Redis gateway, with redis-benchmark, in one run:
#   scripts/bench-resp.sh [-n requests] [-r rounds] [-c clients] [-P "1 16"] [-k keyspace]
#                         [-t targets] [-o dir] [-h]
# Targets (-t, comma-separated, default all, in this order each round):
#   redis         redis-server without persistence (no AOF, no RDB)
#   redis-always  redis-server, appendonly yes, appendfsync always
#   curp          the gateway over 3 `curp` replicas and a master, in memory
#   curp-fsync    the same with stateDir and `fsync: always` (docs/durability.md)
#   curpho-weak   the gateway over 3 `curpho` replicas with --weak: every connection starts
#                 READONLY, so GETs are weak (redis-benchmark cannot send READONLY itself);
#                 SET and INCR stay strong (INCR is curp-only: refused, reported as "-")
# Each target at each pipeline depth of -P (default 1 and 16) runs redis-benchmark -t
# set,get,incr with -c clients (default 50), -d 100, keys random over -k (default 100000), -n
# requests per test (default 20000). -r rounds (default 3) repeat every target in turn; the
# table has the medians (requests/s and p50 ms) and the load average of each round. Everything
# runs on 127.0.0.1; each server and cluster is started fresh per round and stopped by PID.
# -o keeps the logs in dir (default: a mktemp -d directory, removed).
set -euo pipefail
# shellcheck disable=SC2034 # name, outdir, keep: read by cluster-common.sh

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
requests=20000
rounds=3
clients=50
pipelines="1 16"
keyspace=100000
targets="redis,redis-always,curp,curp-fsync,curpho-weak"
outdir=
while getopts "n:r:c:P:k:t:o:h" opt; do
	case "$opt" in
	n) requests=$OPTARG ;;
	r) rounds=$OPTARG ;;
	c) clients=$OPTARG ;;
	P) pipelines=$OPTARG ;;
	k) keyspace=$OPTARG ;;
	t) targets=$OPTARG ;;
	o) outdir=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
for v in "$requests" "$rounds" "$clients" "$keyspace" $pipelines; do
	[[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "bench-resp: -n, -r, -c, -k and -P take positive integers" >&2; exit 2; }
done
IFS=, read -r -a tlist <<<"$targets"
for t in "${tlist[@]}"; do
	case "$t" in redis | redis-always | curp | curp-fsync | curpho-weak) ;; *) echo "bench-resp: unknown target '$t'" >&2; exit 2 ;; esac
done
if ! command -v redis-benchmark >/dev/null || ! command -v redis-server >/dev/null; then
	echo "bench-resp: needs redis-server and redis-tools (scripts/bootstrap.sh installs redis-tools)" >&2
	exit 1
fi

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/run-common.sh
. "$top/scripts/run-common.sh"
name=bench-resp
keep=0
# shellcheck source=scripts/cluster-common.sh
. "$top/scripts/cluster-common.sh"
# shellcheck source=scripts/resp-common.sh
. "$top/scripts/resp-common.sh"
cluster_init
trap 'redis_stop; stop_pid "$gpid"; cluster_cleanup' EXIT

declare -A rps p50
loads=()
# bench TARGET PORT: every pipeline depth against the server at PORT
bench() {
	local t=$1 port=$2 mode test v p tests=set,get,incr
	[ "$t" != curpho-weak ] || tests=set,get
	for mode in $pipelines; do
		while read -r test v p; do
			[ "$test" != FAILED ] || die "redis-benchmark failed against $t (see $dir)"
			echo "  $t $test -P $mode: $v requests/s, p50 $p ms"
			rps[$t-$test-$mode]+="$v "
			p50[$t-$test-$mode]+="$p "
		done < <(resp_bench "$port" "$mode" "$tests" "$requests" "$clients" 100 "$keyspace" "$dir/$t.csv" || echo FAILED)
	done
}

for r in $(seq "$rounds"); do
	for t in "${tlist[@]}"; do
		load=$(cut -d' ' -f1-3 /proc/loadavg)
		loads+=("round $r $t: $load")
		echo "bench-resp: round $r, $t (load average $load)"
		case "$t" in
		redis | redis-always)
			mkdir -p "$dir/redis-$r-$t"
			aof=""
			[ "$t" = redis ] || aof=always
			redis_start "$dir/redis-$r-$t" "$aof"
			bench "$t" "$REDIS_PORT"
			redis_stop
			;;
		curp | curp-fsync | curpho-weak)
			GW_CONF_EXTRA=""
			if [ "$t" = curp-fsync ]; then
				rm -rf "$dir/state"
				mkdir -p "$dir/state"
				GW_CONF_EXTRA=$(printf 'stateDir: %s\nfsync: always' "$dir/state")
			fi
			if [ "$t" = curpho-weak ]; then gw_start curpho --weak; else gw_start curp; fi
			bench "$t" "$gport"
			gw_stop
			;;
		esac
	done
done

echo
echo "bench-resp: medians of $rounds round(s), redis-benchmark -c $clients -d 100 -r $keyspace -n $requests (requests/s, p50 ms)"
printf '| target | P |'
for test in SET GET INCR; do printf ' %s req/s | %s p50 ms |' "$test" "$test"; done
echo
printf '|---|---|'
for _ in SET GET INCR; do printf -- '---|---|'; done
echo
for t in "${tlist[@]}"; do
	for mode in $pipelines; do
		printf '| %s | %s |' "$t" "$mode"
		for test in SET GET INCR; do
			if [ -n "${rps[$t-$test-$mode]:-}" ]; then
				printf ' %.0f | %s |' "$(median <<<"${rps[$t-$test-$mode]}")" "$(median <<<"${p50[$t-$test-$mode]}")"
			else
				printf ' - | - |'
			fi
		done
		echo
	done
done
echo
echo "bench-resp: load average (1, 5, 15 min) before each target: ${#loads[@]} samples"
printf '  %s\n' "${loads[@]}"
echo "bench-resp: $(nproc) CPUs"
