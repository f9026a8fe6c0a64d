#!/usr/bin/env bash
# Sweeps client threads (and protocols) over a cluster and tabulates the results.
#   scripts/sweep-threads.sh [-d] [-c conf] [-t "1 2 4 8 16"] [-r reps] [-p "curp curpho curpht"]
#                            [-l latency] [-o outdir] [-h]
# One scripts/run-local.sh run per protocol x threads x repetition (each run is a fresh cluster);
# with -d, one scripts/run-multi-client.sh -d run instead: every role on the host its conf line
# names, over ssh (SSH_USER, SSH_OPTS, REMOTE_DIR... as that script's header says).
# Writes <outdir>/results.csv with the columns
#   protocol,threads,rep,throughput,s_p50,s_p99,w_p50,w_p99,fast_fraction,cpu_us_per_op
# (latencies in ms from each run's merged samples; fast_fraction = fast / all strong completions;
# cpu_us_per_op = CPU time of every process per completed operation, from run-local.sh's
# summary, NA with -d) and prints a table of the medians over repetitions. Defaults:
# conf/local.conf, threads "1 2 4 8 16", 3 repetitions, the conf's protocol,
# results/sweep-<timestamp>.
set -euo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
conf="$top/conf/local.conf"
threads="1 2 4 8 16"
reps=3
protocols=""
latency=()
out=""
runner=("$top/scripts/run-local.sh")
while getopts "dc:t:r:p:l:o:h" opt; do
	case "$opt" in
	c) conf=$OPTARG ;;
	t) threads=$OPTARG ;;
	r) reps=$OPTARG ;;
	p) protocols=$OPTARG ;;
	l) latency=(-l "$OPTARG") ;;
	d) runner=("$top/scripts/run-multi-client.sh" -d) ;;
	o) out=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || { echo "sweep: -r needs a positive integer" >&2; exit 2; }
out=${out:-"$top/results/sweep-$(date +%Y%m%d-%H%M%S)"}
mkdir -p "$out"
csv="$out/results.csv"
echo "protocol,threads,rep,throughput,s_p50,s_p99,w_p50,w_p99,fast_fraction,cpu_us_per_op" >"$csv"

field() { # field <summary> <class> <label>: the number after "<label>: " on the class's line
	awk -v c="$2:" -v l="$3:" '$1 == c { for (i = 1; i < NF; i++) if ($i == l) { v = $(i + 1); sub(/ms$/, "", v); print v } }' "$1"
}
pct() { # pct <summary> <class...>: the median/p99 of the first class present (reads before writes)
	local v=""
	for c in "${@:3}"; do
		v=$(field "$1" "$c" "$2")
		[ -n "$v" ] && break
	done
	echo "${v:-0}"
}

[ -n "$protocols" ] || protocols="conf"
for p in $protocols; do
	for t in $threads; do
		for rep in $(seq "$reps"); do
			run="$out/$p-t$t-r$rep"
			popt=()
			[ "$p" = conf ] || popt=(-p "$p")
			echo "sweep: protocol $p, $t threads, repetition $rep" >&2
			if ! "${runner[@]}" -c "$conf" -t "$t" "${popt[@]}" "${latency[@]}" -o "$run" >"$run.out" 2>&1; then
				echo "sweep: run failed, see $run.out" >&2
				echo "$p,$t,$rep,0,0,0,0,0,0,NA" >>"$csv"
				continue
			fi
			s="$run/summary.txt"
			tp=$(awk '/^Aggregate throughput:/ {print $3}' "$s")
			sp50=$(pct "$s" Median strong_read strong_write)
			sp99=$(pct "$s" P99 strong_read strong_write)
			wp50=$(pct "$s" Median weak_read weak_write)
			wp99=$(pct "$s" P99 weak_read weak_write)
			ff=$(awk '/Strong paths:/ { f += $4; s += $4 + $8 + $11 } END { printf "%.4f", s ? f / s : 0 }' "$s")
			cpu=$(awk '/^CPU per op:/ && $4 ~ /^[0-9.]+$/ {print $4}' "$s")
			echo "$p,$t,$rep,$tp,$sp50,$sp99,$wp50,$wp99,$ff,${cpu:-NA}" >>"$csv"
		done
	done
done

echo "results: $csv"
printf "%-8s %7s %12s %8s %8s %8s %8s %6s %8s\n" protocol threads "ops/s(med)" s_p50 s_p99 w_p50 w_p99 fast cpu_us
tail -n +2 "$csv" | sort -t, -k1,1 -k2,2n | awk -F, '
	function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
	function flush() { if (n) printf "%-8s %7s %12.0f %8.2f %8.2f %8.2f %8.2f %6.3f %8s\n", k1, k2, med(tp, n), med(a, n), med(b, n), med(c, n), med(d, n), med(f, n), nu ? sprintf("%.2f", med(u, nu)) : "NA"; n = nu = 0 }
	{ if ($1 != k1 || $2 != k2) { flush(); k1 = $1; k2 = $2 } n++; tp[n] = $4; a[n] = $5; b[n] = $6; c[n] = $7; d[n] = $8; f[n] = $9; if ($10 != "NA") u[++nu] = $10 }
	END { flush() }'
