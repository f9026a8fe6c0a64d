#!/usr/bin/env bash
# Runs a whole cluster of a conf on this machine under the load generator and prints the report.
#   scripts/run-local.sh [-c conf] [-t threads] [-p protocol] [-l latency] [-o outdir] [-h]
#     -c conf     cluster conf (default: conf/local.conf: 3 replicas, a master, 1 client process)
#     -t threads  client threads per client process (rewrites clientThreads in the copy)
#     -p protocol curp, curpho or curpht (rewrites protocol in the copy)
#     -l latency  latency file given to every replica and client (-latency; docs/conf.md)
#     -o outdir   where results go (default: results/local-<timestamp>)
# Builds curpkv first if needed (scripts/bootstrap.sh; CURPKV_BIN names another binary). Starts
# the master and every replica of the conf, waits until the master says the cluster is ready,
# runs every client of the conf, waits for them, and stops exactly the processes it started.
# The outdir gets the conf used (benchmark.conf), every log, latencies-<client>.json, the merged
# latencies.json and summary.txt (aggregate throughput = sum over client processes; percentiles
# from the merged samples; the CPU time per completed operation, in total and per role: the
# leader, the followers, the client processes, the master, from /proc over the clients' run and
# each client process's whole life), and the weak reads each replica served (from `curpkv stats`
# at the end, kept in stats.txt). Exits non-zero if any client failed.
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$top/scripts/run-common.sh"
conf="$top/conf/local.conf"
threads=""
protocol=""
latency=""
out=""
while getopts "c:t:p:l:o:h" opt; do
	case "$opt" in
	c) conf=$OPTARG ;;
	t) threads=$OPTARG ;;
	p) protocol=$OPTARG ;;
	l) latency=$OPTARG ;;
	o) out=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[ -f "$conf" ] || { echo "run-local: no conf file $conf" >&2; exit 2; }
[ -z "$latency" ] || [ -f "$latency" ] || { echo "run-local: no latency file $latency" >&2; exit 2; }
run_check_args "$threads" "$protocol"
bin=$(run_bin)

out=${out:-"$top/results/local-$(date +%Y%m%d-%H%M%S)"}
mkdir -p "$out"
out=$(cd "$out" && pwd)
run_conf="$out/benchmark.conf"
run_conf "$conf" "$threads" "$protocol" "$run_conf"
lat=()
if [ -n "$latency" ]; then
	cp "$latency" "$out/latency.txt"
	lat=(-latency "$out/latency.txt")
fi

# Hosts from the effective settings (also validates the conf).
check=$("$bin" -check -config "$run_conf" 2>"$out/check.err") || {
	cat "$out/check.err" >&2
	exit 1
}
replicas=$(awk '/^replicas:/ {r=1; next} /^[a-z]+:/ {r=0} r && NF {print $1}' <<<"$check")
clients=$(awk '/^clients:/ {c=1; next} /^[a-z]+:/ {c=0} c && NF {print $1}' <<<"$check")
master=$(awk '/^master:/ {print $2}' <<<"$check")
[ -n "$replicas" ] && [ -n "$clients" ] && [ -n "$master" ] || {
	echo "run-local: the conf needs replicas, clients and a master" >&2
	exit 1
}

pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap cleanup EXIT
trap 'echo "run-local: interrupted" >&2; exit 130' INT TERM

"$bin" -run master -config "$run_conf" -alias "$master" -log "$out/$master.log" &
pids+=($!)
for r in $replicas; do
	"$bin" -run server -config "$run_conf" -alias "$r" "${lat[@]}" -log "$out/$r.log" &
	pids+=($!)
done

# Readiness: the master's own word, polled for at most 60 s (no fixed sleep).
for _ in $(seq 600); do
	grep -q "cluster ready" "$out/$master.log" 2>/dev/null && break
	for p in "${pids[@]}"; do
		kill -0 "$p" 2>/dev/null || { echo "run-local: a server process exited; see $out" >&2; exit 1; }
	done
	sleep 0.1
done
grep -q "cluster ready" "$out/$master.log" || { echo "run-local: the cluster did not become ready; see $out" >&2; exit 1; }
# The master is ready with a majority; the last replicas start serving a moment later.
for r in $replicas; do
	for _ in $(seq 300); do
		grep -q "serving: view" "$out/$r.log" 2>/dev/null && break
		sleep 0.1
	done
	grep -q "serving: view" "$out/$r.log" || { echo "run-local: $r does not serve; see $out" >&2; exit 1; }
done

# CPU time of the servers over the clients' run (from /proc); each client's own from `times`
# in the subshell that waits for it (its whole life: the load generator measures from start)
declare -A cpu0
for p in "${pids[@]}"; do cpu0[$p]=$(run_cpu_ticks "$p"); done
cpids=()
for c in $clients; do
	(
		cd "$out" || exit 1
		st=0
		"$bin" -run client -config "$run_conf" -alias "$c" "${lat[@]}" >"$out/$c.log" 2>"$out/$c.err" || st=$?
		times >"$out/.$c.times"
		exit "$st"
	) &
	cpids+=($!)
done
status=0
for p in "${cpids[@]}"; do
	wait "$p" || status=1
done
# the leader at the end (the master's last word on it); replica pids follow the master's
leader=$(grep -o 'leader replica[0-9]*' "$out/$master.log" | tail -n 1 | sed 's/^leader //')
tick=$(getconf CLK_TCK)
cpu_m=0 cpu_l=0 cpu_f=0 cpu_c=0 i=0
for r in $master $replicas; do
	p=${pids[$i]}
	d=$(awk -v a="$(run_cpu_ticks "$p")" -v b="${cpu0[$p]}" -v t="$tick" 'BEGIN {printf "%.3f", (a - b) / t}')
	if [ "$i" -eq 0 ]; then cpu_m=$d
	elif [ "$r" = "$leader" ]; then cpu_l=$d
	else cpu_f=$(awk -v a="$cpu_f" -v b="$d" 'BEGIN {printf "%.3f", a + b}'); fi
	i=$((i + 1))
done
for c in $clients; do
	cpu_c=$(awk -v a="$cpu_c" -v b="$(run_times_s "$out/.$c.times")" 'BEGIN {printf "%.3f", a + b}')
	rm -f "$out/.$c.times"
done
# the replicas' counters at the end (weak reads served by each: summary.txt)
"$bin" stats -config "$run_conf" >"$out/stats.txt" 2>&1 || true
cleanup

run_summary "$out" "$conf" $clients
run_cpu_report "$out" "$cpu_l" "$cpu_f" "$cpu_c" "$cpu_m"
run_weak_reads "$out" $clients
run_report "$out" "$status" $clients
exit "$status"
