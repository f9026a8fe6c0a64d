#!/usr/bin/env bash
# Compares binaries on session shapes (sessions x window) side by side in one run.
#   scripts/bench-sessions.sh [-b "name=path ..."] [-s "16x15 256x2 1024x1"] [-r reps]
#                             [-p protocol] [-c conf] [-o outdir] [-h]
# One scripts/run-local.sh run per binary x shape x repetition, in rounds (each round runs every
# binary and shape once, so the machine's noise of the moment falls on all of them alike). A
# shape SxW sets clientThreads S (sessions) and pendings W (each session's window) in a copy of
# the conf; -p sets its protocol (default: the conf's). -b names the binaries (default: this
# tree's curpkv as "this"). Writes <outdir>/results.csv (binary,shape,rep,throughput,
# cpu_us_per_op,load1: the 1-minute load average before the run) and prints, per binary and
# shape, the median throughput over the rounds and its % of the same binary's first shape.
# Defaults: conf/local.conf (curpho, 50% weak, 5% writes, keySpace 100000), 3 repetitions,
# results/sessions-<timestamp>.
set -euo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$top/scripts/run-common.sh"
conf="$top/conf/local.conf"
bins="this=$top/curpkv"
shapes="16x15 256x2 1024x1"
reps=3
protocol=""
out=""
while getopts "b:s:r:p:c:o:h" opt; do
	case "$opt" in
	b) bins=$OPTARG ;;
	s) shapes=$OPTARG ;;
	r) reps=$OPTARG ;;
	p) protocol=$OPTARG ;;
	c) conf=$OPTARG ;;
	o) out=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || { echo "bench-sessions: -r needs a positive integer" >&2; exit 2; }
[ -f "$conf" ] || { echo "bench-sessions: no conf file $conf" >&2; exit 2; }
for b in $bins; do
	[[ "$b" == *=* ]] && [ -x "${b#*=}" ] || { echo "bench-sessions: -b wants name=path of an executable: $b" >&2; exit 2; }
done
for sh in $shapes; do
	[[ "$sh" =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]] || { echo "bench-sessions: a shape is SESSIONSxWINDOW: $sh" >&2; exit 2; }
done
out=${out:-"$top/results/sessions-$(date +%Y%m%d-%H%M%S)"}
mkdir -p "$out"
csv="$out/results.csv"
echo "binary,shape,rep,throughput,cpu_us_per_op,load1" >"$csv"

for rep in $(seq "$reps"); do
	for b in $bins; do
		name=${b%%=*}
		for sh in $shapes; do
			run="$out/$name-$sh-r$rep"
			run_conf_set "$conf" "$run.conf" pendings "${sh#*x}" protocol "$protocol"
			load=$(cut -d' ' -f1 /proc/loadavg)
			echo "bench-sessions: round $rep, $name, $sh (load average $load)" >&2
			if ! CURPKV_BIN=${b#*=} "$top/scripts/run-local.sh" -c "$run.conf" -t "${sh%x*}" -o "$run" >"$run.out" 2>&1; then
				echo "bench-sessions: run failed, see $run.out" >&2
				echo "$name,$sh,$rep,0,NA,$load" >>"$csv"
				continue
			fi
			tp=$(awk '/^Aggregate throughput:/ {print $3}' "$run/summary.txt")
			cpu=$(awk '/^CPU per op:/ && $4 ~ /^[0-9.]+$/ {print $4}' "$run/summary.txt")
			echo "$name,$sh,$rep,${tp:-0},${cpu:-NA},$load" >>"$csv"
		done
	done
done

echo "results: $csv"
printf "%-10s %-8s %12s %8s %8s %s\n" binary shape "ops/s(med)" "%first" "cpu_us" "runs (ops/s)"
for b in $bins; do
	name=${b%%=*}
	first=""
	for sh in $shapes; do
		vals=$(awk -F, -v b="$name" -v s="$sh" '$1 == b && $2 == s {print $4}' "$csv" | sort -n)
		med=$(echo "$vals" | awk '{v[NR] = $1} END {print NR ? v[int((NR + 1) / 2)] : 0}')
		cpu=$(awk -F, -v b="$name" -v s="$sh" '$1 == b && $2 == s && $5 != "NA" {print $5}' "$csv" | sort -n |
			awk '{v[NR] = $1} END {print NR ? v[int((NR + 1) / 2)] : "NA"}')
		[ -n "$first" ] || first=$med
		pct=$(awk -v a="$med" -v b="$first" 'BEGIN {printf "%.0f", (b > 0 ? 100 * a / b : 0)}')
		printf "%-10s %-8s %12.0f %7s%% %8s %s\n" "$name" "$sh" "$med" "$pct" "$cpu" "$(echo $vals)"
	done
done
