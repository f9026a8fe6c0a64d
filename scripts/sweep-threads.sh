#!/usr/bin/env bash
# Sweeps client threads (and protocols, and fsync policies) over a cluster and tabulates the results.
#   scripts/sweep-threads.sh [-d] [-c conf] [-t "1 2 4 8 16"] [-r reps] [-p "curp curpho curpht"]
#                            [-f "memory no everysec always"] [-P pendings] [-w writes]
#                            [-R "always everysec no"] [-l latency] [-o outdir] [-h]
# One scripts/run-local.sh run per protocol x threads x fsync policy x repetition (each run is a
# fresh cluster; its conf is kept as <outdir>/<run>.conf); with -d, one scripts/run-multi-client.sh
# -d run instead: every role on the host its conf line names, over ssh (SSH_USER, SSH_OPTS,
# REMOTE_DIR... as that script's header says).
# The runs go in rounds: each round runs every configuration once, in the order given, so the
# machine's noise of the moment falls on all of them alike; a median is over the rounds.
# -f: durability (docs/durability.md). For each policy F of the list (always, everysec, no) the
# run's conf gets `stateDir` (a fresh directory per run, removed after it) and `fsync: F`;
# `memory` runs without stateDir (memory only, the baseline: what the write-ahead log costs
# with fsync no). The state directories are made under TMPDIR (default /tmp): it must be the disk
# to measure, not a tmpfs. Not with -d (stateDir would have to exist on every remote host).
# -R: single-node Redis in the same rounds (scripts/bench-redis.sh, installed from Debian if
# missing), after each round's curpkv runs: for each policy of the list (appendfsync always,
# everysec, no) and each thread count t, redis-benchmark unpipelined with t x pendings clients,
# 100-byte values over 100,000 keys, SET then GET (-n REDIS_REQUESTS, default 200000); its rows
# go in results.csv as protocol redis-set / redis-get (s_p50 = its p50, the rest 0 or NA), so
# the table shows their medians beside curpkv's. Not with -d.
# -P and -w override the conf's pendings and writes (% of strong operations that are writes).
# Writes <outdir>/results.csv with the columns
#   protocol,threads,rep,throughput,s_p50,s_p99,w_p50,w_p99,fast_fraction,cpu_us_per_op,fsync,sw_p50
# (latencies in ms from each run's merged samples; s_p50/s_p99 are strong reads' when the run had
# any, else strong writes'; sw_p50 = strong writes' median; fast_fraction = fast / all strong
# completions; cpu_us_per_op = CPU time of every process per completed operation, from
# run-local.sh's summary, NA with -d; fsync = the policy, `memory`, or `conf` without -f) and
# prints a table of the medians over repetitions, with each configuration's throughput as a % of
# `no` (fsync no) of the same protocol and threads when -f has `no`. Defaults: conf/local.conf,
# threads "1 2 4 8 16", 3 repetitions, the conf's protocol, fsync, pendings and writes,
# results/sweep-<timestamp>.
set -euo pipefail

usage() { sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; }

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$top/scripts/run-common.sh"
conf="$top/conf/local.conf"
threads="1 2 4 8 16"
reps=3
protocols=""
fsyncs=""
pendings=""
writes=""
latency=()
out=""
distributed=false
runner=("$top/scripts/run-local.sh")
redis=""
while getopts "dc:t:r:p:f:P:w:R:l:o:h" opt; do
	case "$opt" in
	c) conf=$OPTARG ;;
	t) threads=$OPTARG ;;
	r) reps=$OPTARG ;;
	p) protocols=$OPTARG ;;
	f) fsyncs=$OPTARG ;;
	P) pendings=$OPTARG ;;
	w) writes=$OPTARG ;;
	R) redis=$OPTARG ;;
	l) latency=(-l "$OPTARG") ;;
	d)
		runner=("$top/scripts/run-multi-client.sh" -d)
		distributed=true
		;;
	o) out=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || { echo "sweep: -r needs a positive integer" >&2; exit 2; }
[ -z "$pendings" ] || [[ "$pendings" =~ ^[1-9][0-9]*$ ]] || { echo "sweep: -P needs a positive integer" >&2; exit 2; }
[ -z "$writes" ] || [[ "$writes" =~ ^[0-9]+$ ]] || { echo "sweep: -w needs a number (0..100)" >&2; exit 2; }
for f in $fsyncs; do
	case "$f" in
	memory) ;;
	always | everysec | no) ! $distributed || { echo "sweep: -f $f needs a local run (not -d)" >&2; exit 2; } ;;
	*) echo "sweep: -f takes memory, always, everysec, no" >&2; exit 2 ;;
	esac
done
for f in $redis; do
	case "$f" in
	always | everysec | no) ! $distributed || { echo "sweep: -R needs a local run (not -d)" >&2; exit 2; } ;;
	*) echo "sweep: -R takes always, everysec, no" >&2; exit 2 ;;
	esac
done
[ -f "$conf" ] || { echo "sweep: no conf file $conf" >&2; exit 2; }
out=${out:-"$top/results/sweep-$(date +%Y%m%d-%H%M%S)"}
mkdir -p "$out"
csv="$out/results.csv"
echo "protocol,threads,rep,throughput,s_p50,s_p99,w_p50,w_p99,fast_fraction,cpu_us_per_op,fsync,sw_p50" >"$csv"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/curpkv-sweep.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

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
[ -n "$fsyncs" ] || fsyncs="conf"
for rep in $(seq "$reps"); do
	for p in $protocols; do
		for t in $threads; do
			for f in $fsyncs; do
				name="$p-t$t-r$rep"
				[ "$f" = conf ] || name="$p-t$t-$f-r$rep"
				run="$out/$name"
				popt=()
				[ "$p" = conf ] || popt=(-p "$p")
				# the run's conf: the overrides first (a key before the first section is global)
				run_conf_set "$conf" "$run.conf" pendings "$pendings" writes "$writes"
				case "$f" in
				conf) ;;
				memory) run_conf_set "$run.conf" "$run.conf" stateDir none ;;
				*)
					mkdir "$tmp/$name.state"
					run_conf_set "$run.conf" "$run.conf" stateDir "$tmp/$name.state" fsync "$f"
					;;
				esac
				echo "sweep: round $rep, protocol $p, $t threads, fsync $f (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
				ok=true
				"${runner[@]}" -c "$run.conf" -t "$t" "${popt[@]}" "${latency[@]}" -o "$run" >"$run.out" 2>&1 || ok=false
				rm -rf "$tmp/$name.state"
				if ! $ok; then
					echo "sweep: run failed, see $run.out" >&2
					echo "$p,$t,$rep,0,0,0,0,0,0,NA,$f,0" >>"$csv"
					continue
				fi
				s="$run/summary.txt"
				tp=$(awk '/^Aggregate throughput:/ {print $3}' "$s")
				sp50=$(pct "$s" Median strong_read strong_write)
				sp99=$(pct "$s" P99 strong_read strong_write)
				wp50=$(pct "$s" Median weak_read weak_write)
				wp99=$(pct "$s" P99 weak_read weak_write)
				swp50=$(pct "$s" Median strong_write)
				ff=$(awk '/Strong paths:/ { f += $4; s += $4 + $8 + $11 } END { printf "%.4f", s ? f / s : 0 }' "$s")
				cpu=$(awk '/^CPU per op:/ && $4 ~ /^[0-9.]+$/ {print $4}' "$s")
				echo "$p,$t,$rep,$tp,$sp50,$sp99,$wp50,$wp99,$ff,${cpu:-NA},$f,$swp50" >>"$csv"
			done
		done
	done
	for f in $redis; do
		for t in $threads; do
			# the same concurrency as the curpkv runs: threads x the conf's (or -P's) pendings
			pend=${pendings:-$(awk -F: '$1 ~ /^[ \t]*pendings$/ {gsub(/[ \t]/, "", $2); print $2; exit}' "$conf")}
			clients=$((t * ${pend:-1}))
			name="redis-t$t-$f-r$rep"
			echo "sweep: round $rep, redis appendfsync $f, $clients clients (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
			if ! "$top/scripts/bench-redis.sh" -a "$f" -c "$clients" -P 1 -r 1 \
				-n "${REDIS_REQUESTS:-200000}" >"$out/$name.out" 2>&1; then
				echo "sweep: redis run failed, see $out/$name.out" >&2
				continue
			fi
			for test in SET GET; do
				# "bench-redis: SET -P 1: median 12345.67 requests/s, p50 0.519 ms"
				awk -v t="$test" '$1 == "bench-redis:" && $2 == t && $3 == "-P" && $4 == "1:" {print $6, $9}' \
					"$out/$name.out" | while read -r rps p50; do
					lc=$(tr 'A-Z' 'a-z' <<<"$test")
					echo "redis-$lc,$t,$rep,$rps,$p50,0,0,0,0,NA,$f,0" >>"$csv"
				done
			done
		done
	done
done

echo "results: $csv"
printf "%-8s %7s %-8s %12s %6s %8s %8s %8s %8s %8s %6s %8s\n" protocol threads fsync "ops/s(med)" "%no" s_p50 s_p99 sw_p50 w_p50 w_p99 fast cpu_us
# medians per protocol, threads and fsync; then each one's throughput against `no`'s
tail -n +2 "$csv" | sort -t, -k1,1 -k2,2n -k11,11 | awk -F, '
	function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
	function flush() { if (n) { k = k1 SUBSEP k2; m = med(tp, n); if (k3 == "no") base[k] = m
		line[++nl] = sprintf("%-8s %7s %-8s %12.0f %%s %8.2f %8.2f %8.2f %8.2f %8.2f %6.3f %8s", k1, k2, k3, m, med(a, n), med(b, n), med(e, n), med(c, n), med(d, n), med(f, n), nu ? sprintf("%.2f", med(u, nu)) : "NA")
		key[nl] = k; val[nl] = m } n = nu = 0 }
	{ if ($1 != k1 || $2 != k2 || $11 != k3) { flush(); k1 = $1; k2 = $2; k3 = $11 } n++; tp[n] = $4; a[n] = $5; b[n] = $6; c[n] = $7; d[n] = $8; f[n] = $9; e[n] = $12; if ($10 != "NA") u[++nu] = $10 }
	END { flush(); for (i = 1; i <= nl; i++) printf line[i] "\n", (key[i] in base && base[key[i]] > 0) ? sprintf("%5.0f%%", 100 * val[i] / base[key[i]]) : sprintf("%6s", "-") }'
