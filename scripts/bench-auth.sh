#!/usr/bin/env bash
# Measures what the shared-secret handshake costs: the same cluster without and with a secret,
# side by side in one run.
#   scripts/bench-auth.sh [-c conf] [-t threads] [-w window] [-r reps] [-o outdir] [-h]
#     -c conf     cluster conf (default: conf/local.conf)
#     -t threads  client threads (sessions) per client process (default 16)
#     -w window   pendings: requests in flight per session (default 15)
#     -r reps     repetitions of each mode (default 3)
#     -o outdir   where results go (default: results/bench-auth-<timestamp>)
# Each repetition runs scripts/run-local.sh once without a secret and once with one (a random
# 32-byte secret in a chmod-600 secretFile of a mktemp -d directory, removed at exit), in
# alternating order (off/on, on/off, ...) so that drift of a shared machine hits both modes.
# Checks from the logs that each run had the mode it claims (the replicas' "no secret" warning
# present without, absent with). Writes <outdir>/results.csv
#   mode,rep,throughput,strong_p50_ms
# (strong p50 over strong reads and writes together) and prints the runs, the medians over
# repetitions of each mode and the change with the secret. Exits non-zero if a run failed.
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
conf="$top/conf/local.conf"
threads=16
window=15
reps=3
out=""
while getopts "c:t:w:r:o:h" opt; do
	case "$opt" in
	c) conf=$OPTARG ;;
	t) threads=$OPTARG ;;
	w) window=$OPTARG ;;
	r) reps=$OPTARG ;;
	o) out=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
for v in "$threads" "$window" "$reps"; do
	[[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "bench-auth: -t, -w and -r need positive integers" >&2; exit 2; }
done
[ -f "$conf" ] || { echo "bench-auth: no conf file $conf" >&2; exit 2; }
out=${out:-"$top/results/bench-auth-$(date +%Y%m%d-%H%M%S)"}
mkdir -p "$out"
out=$(cd "$out" && pwd)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'echo "bench-auth: interrupted" >&2; exit 130' INT TERM
(umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n=' >"$tmp/secret")

# The conf of a mode: the window and (with a secret) secretFile go first, as global keys; the
# conf's own lines for those keys are dropped.
mode_conf() { # mode_conf <off|on> <dest>
	{
		echo "pipeline: true"
		echo "pendings: $window"
		[ "$1" = off ] || echo "secretFile: $tmp/secret"
		grep -v -i -E '^[[:space:]]*(pipeline|pendings|secret|secretFile)[[:space:]:]' "$conf" || true
	} >"$2"
}
mode_conf off "$tmp/off.conf"
mode_conf on "$tmp/on.conf"

# strong p50 (ms) over strong reads and writes of a run's merged latencies.json
strong_p50() {
	sed -n 's/.*"strong_write":\[\([^]]*\)\].*/\1/p; s/.*"strong_read":\[\([^]]*\)\].*/\1/p' "$1" |
		tr ',' '\n' | grep -v '^$' | sort -g |
		awk '{v[NR] = $1} END { if (!NR) { print 0; exit } r = int(NR / 2); if (r < NR / 2) r++; if (r < 1) r = 1; printf "%.3f\n", v[r] }'
}

csv="$out/results.csv"
echo "mode,rep,throughput,strong_p50_ms" >"$csv"
status=0
for rep in $(seq "$reps"); do
	order="off on"
	[ $((rep % 2)) -eq 1 ] || order="on off"
	for mode in $order; do
		run="$out/$mode-r$rep"
		echo "bench-auth: repetition $rep, secret $mode" >&2
		if ! "$top/scripts/run-local.sh" -c "$tmp/$mode.conf" -t "$threads" -o "$run" >"$run.out" 2>&1; then
			echo "bench-auth: run failed, see $run.out" >&2
			status=1
			continue
		fi
		# the mode really was what it claims
		warned=$({ grep -l "no secret: any host" "$run"/replica*.log || true; } | wc -l)
		if { [ "$mode" = off ] && [ "$warned" -eq 0 ]; } || { [ "$mode" = on ] && [ "$warned" -ne 0 ]; }; then
			echo "bench-auth: $run: the replicas' logs do not match mode $mode" >&2
			status=1
			continue
		fi
		tp=$(awk '/^Aggregate throughput:/ {print $3}' "$run/summary.txt")
		echo "$mode,$rep,$tp,$(strong_p50 "$run/latencies.json")" >>"$csv"
	done
done

echo "results: $csv ($threads sessions x window $window, $(basename "$conf"))"
printf "%-5s %4s %12s %10s\n" mode rep ops/s strong_p50
tail -n +2 "$csv" | awk -F, '{printf "%-5s %4s %12.0f %8.3f ms\n", $1, $2, $3, $4}'
tail -n +2 "$csv" | awk -F, '
	function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
	{ n[$1]++; if ($1 == "off") { toff[n[$1]] = $3; poff[n[$1]] = $4 } else { ton[n[$1]] = $3; pon[n[$1]] = $4 } }
	END {
		if (!n["off"] || !n["on"]) { print "medians: a mode has no successful run"; exit }
		mt0 = med(toff, n["off"]); mp0 = med(poff, n["off"]); mt1 = med(ton, n["on"]); mp1 = med(pon, n["on"])
		printf "median without a secret: %.0f ops/s, strong p50 %.3f ms (%d runs)\n", mt0, mp0, n["off"]
		printf "median with a secret:    %.0f ops/s, strong p50 %.3f ms (%d runs)\n", mt1, mp1, n["on"]
		printf "with the secret: throughput %+.1f%%, strong p50 %+.1f%%\n", (mt1 / mt0 - 1) * 100, (mp1 / mp0 - 1) * 100
	}'
exit "$status"
