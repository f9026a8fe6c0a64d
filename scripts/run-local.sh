#!/usr/bin/env bash
# Runs a whole cluster of a conf on this machine under the load generator and prints the report.
#   scripts/run-local.sh [-c conf] [-t threads] [-p protocol] [-o outdir] [-h]
#     -c conf     cluster conf (default: conf/local.conf: 3 replicas, a master, 1 client process)
#     -t threads  client threads per client process (rewrites clientThreads in the copy)
#     -p protocol curp, curpho or curpht (rewrites protocol in the copy)
#     -o outdir   where results go (default: results/local-<timestamp>)
# Builds curpkv first if needed (scripts/bootstrap.sh). Starts the master and every replica of the
# conf, waits until the master says the cluster is ready, runs every client of the conf, waits
# for them, and stops exactly the processes it started. The outdir gets the conf used
# (benchmark.conf), every log, latencies-<client>.json, the merged latencies.json and
# summary.txt (aggregate throughput = sum over client processes; percentiles from the merged
# samples). Exits non-zero if any client failed.
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
conf="$top/conf/local.conf"
threads=""
protocol=""
out=""
while getopts "c:t:p:o:h" opt; do
	case "$opt" in
	c) conf=$OPTARG ;;
	t) threads=$OPTARG ;;
	p) protocol=$OPTARG ;;
	o) out=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[ -f "$conf" ] || { echo "run-local: no conf file $conf" >&2; exit 2; }
if [ -n "$threads" ] && ! [[ "$threads" =~ ^[1-9][0-9]*$ ]]; then
	echo "run-local: -t needs a positive integer" >&2
	exit 2
fi

bin="$top/curpkv"
if [ ! -x "$bin" ]; then
	"$top/scripts/bootstrap.sh" >&2
fi

out=${out:-"$top/results/local-$(date +%Y%m%d-%H%M%S)"}
mkdir -p "$out"
out=$(cd "$out" && pwd)
run_conf="$out/benchmark.conf"
case "$protocol" in "" | curp | curpho | curpht) ;; *) echo "run-local: -p: curp, curpho or curpht" >&2; exit 2 ;; esac
# Overrides go first (a key line before the first section is global) and the conf's own lines
# for those keys are dropped from the copy.
drop='a^' # matches no line
[ -z "$threads" ] || drop="$drop|^[[:space:]]*(clientThreads|clones)[[:space:]:]"
[ -z "$protocol" ] || drop="$drop|^[[:space:]]*protocol[[:space:]:]"
{
	[ -z "$threads" ] || echo "clientThreads: $threads"
	[ -z "$protocol" ] || echo "protocol: $protocol"
	grep -v -i -E "$drop" "$conf" || true
} >"$run_conf"

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
	"$bin" -run server -config "$run_conf" -alias "$r" -log "$out/$r.log" &
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

cpids=()
for c in $clients; do
	(cd "$out" && exec "$bin" -run client -config "$run_conf" -alias "$c" >"$out/$c.log" 2>"$out/$c.err") &
	cpids+=($!)
done
status=0
for p in "${cpids[@]}"; do
	wait "$p" || status=1
done
cleanup

# Summary: throughput summed over client processes; percentiles from every sample.
{
	echo "conf: $conf"
	echo "clients: $(echo $clients)"
	awk '/^Throughput:/ {t += $2; n++} END {printf "Aggregate throughput: %.2f ops/sec (%d client processes)\n", t, n}' $(for c in $clients; do echo "$out/$c.log"; done)
	for class in strong_write strong_read weak_write weak_read; do
		for c in $clients; do
			f="$out/latencies-$c.json"
			[ -f "$f" ] && sed -n "s/.*\"$class\":\[\([^]]*\)\].*/\1/p" "$f" | tr ',' '\n'
		done | grep -v '^$' | sort -g >"$out/.$class" || true
		awk -v name="$class" '{v[NR] = $1; s += $1}
			function pct(p,  r) { r = int(p / 100 * NR); if (r < p / 100 * NR) r++; if (r < 1) r = 1; return v[r] }
			END { if (NR) printf "%s: %d ops | Avg: %.2fms | Median: %.2fms | P99: %.2fms | P99.9: %.2fms\n", name, NR, s / NR, pct(50), pct(99), pct(99.9) }' "$out/.$class"
	done
	grep -h "^Strong paths:\|^Errors:" $(for c in $clients; do echo "$out/$c.log"; done) | sed 's/^/  /'
} >"$out/summary.txt"
{
	printf '{'
	sep=""
	for class in strong_write strong_read weak_write weak_read; do
		printf '%s"%s":[%s]' "$sep" "$class" "$(paste -sd, "$out/.$class")"
		sep=","
		rm -f "$out/.$class"
	done
	printf '}\n'
} >"$out/latencies.json"

for c in $clients; do
	echo "== $c"
	cat "$out/$c.log"
	[ "$status" -eq 0 ] || cat "$out/$c.err" >&2
done
echo "== summary ($out/summary.txt)"
cat "$out/summary.txt"
exit "$status"
