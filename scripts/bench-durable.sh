#!/usr/bin/env bash
# What durability costs (docs/durability.md, "Cost"; docs/benchmarks.md): the local cluster of
# conf/local.conf under the load generator, run side by side without stateDir (memory only) and
# with stateDir and each fsync policy, interleaved, RUNS times each; prints every run and the
# median throughput, strong-write p50 and CPU per operation of each configuration.
#   scripts/bench-durable.sh [-r RUNS] [-t THREADS] [-w WRITES] [-p PROTOCOL] [-P PENDINGS]
#                            [-f "memory always everysec no"] [-o OUTDIR]
# -r runs per configuration (default 3); -t client threads (default 16); -w the conf's writes
# (% of strong operations, default 50); -p protocol (default curpho); -P pendings per thread
# (default 15); -f the configurations, in the order they run in each round; -o keep every run's
# directory there (default: a removed mktemp -d). Each run is scripts/run-local.sh (10 s).
# Exit status 1 if a run failed.
set -euo pipefail

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
runs=3
threads=16
writes=50
proto=curpho
pendings=15
configs="memory always everysec no"
outdir=""
while getopts "r:t:w:p:P:f:o:h" opt; do
	case "$opt" in
	r) runs=$OPTARG ;;
	t) threads=$OPTARG ;;
	w) writes=$OPTARG ;;
	p) proto=$OPTARG ;;
	P) pendings=$OPTARG ;;
	f) configs=$OPTARG ;;
	o) outdir=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
for v in "$runs" "$threads" "$writes" "$pendings"; do
	[[ "$v" =~ ^[0-9]+$ ]] || { echo "bench-durable: -r, -t, -w and -P take numbers" >&2; exit 2; }
done
for c in $configs; do
	case "$c" in memory | always | everysec | no) ;; *) echo "bench-durable: -f takes memory, always, everysec, no" >&2; exit 2 ;; esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/curpkv-bench-durable.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
[ -n "$outdir" ] || outdir=$tmp/runs
mkdir -p "$outdir"

# conf CONFIG DIR: conf/local.conf with this benchmark's settings, and stateDir/fsync
conf() {
	sed -e "s/^pendings:.*/pendings:      $pendings/" -e "s/^writes:.*/writes:        $writes/" \
		"$top/conf/local.conf"
	if [ "$1" != memory ]; then
		echo "stateDir: $2/state"
		echo "fsync: $1"
	fi
}

declare -A tput p50 cpu
fail=0
echo "bench-durable: $proto, $threads threads x $pendings in flight, writes $writes%, $runs round(s) of: $configs"
for r in $(seq 1 "$runs"); do
	for c in $configs; do
		d=$outdir/$c-$r
		mkdir -p "$d/state" # (stateDir must exist: it is never created)
		conf "$c" "$d" >"$d.conf"
		if ! "$top/scripts/run-local.sh" -c "$d.conf" -t "$threads" -p "$proto" -o "$d" >"$d.out" 2>&1; then
			echo "bench-durable: $c run $r failed (see $d.out)"
			fail=1
			continue
		fi
		t=$(awk '/^Aggregate throughput:/ {print $3}' "$d/summary.txt")
		u=$(awk '/^CPU per op:/ {print $4}' "$d/summary.txt")
		p=$(awk '/^strong_write:/ {for (i = 1; i <= NF; i++) if ($i == "Median:") {print $(i + 1); exit}}' "$d/summary.txt")
		tput[$c]+="$t "
		cpu[$c]+="$u "
		p50[$c]+="${p:-?} "
		echo "  round $r $c: ${t:-?} ops/s, CPU ${u:-?} us/op, strong-write p50 ${p:-?}"
	done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "?"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
base=$(median <<<"${tput[memory]:-}")
for c in $configs; do
	m=$(median <<<"${tput[$c]:-}")
	rel=""
	[[ "$base" != "?" && "$m" != "?" && "$c" != memory ]] && rel=$(awk -v a="$m" -v b="$base" 'BEGIN {printf " (%.0f%% of memory)", 100 * a / b}')
	echo "bench-durable: $c: median $m ops/s$rel, CPU $(median <<<"${cpu[$c]:-}") us/op, strong-write p50 $(median <<<"${p50[$c]:-}")"
done
exit $fail
