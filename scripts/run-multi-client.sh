#!/usr/bin/env bash
# Runs a conf with several client processes: locally, or distributed over ssh.
#   scripts/run-multi-client.sh [-c conf] [-t threads] [-p protocol] [-o outdir] [-d] [-h]
# Without -d: exactly scripts/run-local.sh (every host of the conf on this machine; all client
# processes run at once; the summary sums their throughput and merges their latencies).
# With -d: every role runs on the host its conf line names, over ssh ($SSH_USER@host, default the
# current user; keys must be set up). The binary and the conf are copied to $REMOTE_DIR
# (default /tmp/curpkv-run) on every host; master and replicas are started in the background,
# the script waits for the master's "cluster ready", runs the clients in the foreground (their
# stdout is the local <outdir>/<client>.log), copies back latencies-<client>.json and the server
# logs, stops exactly the remote processes it started (by the PIDs it recorded), then writes the
# same summary as run-local.sh. Hosts must be reachable by name or address; nothing is ever
# started on an address the conf does not name. Distributed mode is not run by the test suite.
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
distributed=false
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	-d) distributed=true; shift ;;
	-h) usage; exit 0 ;;
	-c | -t | -p | -o) [ $# -ge 2 ] || { usage >&2; exit 2; }; args+=("$1" "$2"); shift 2 ;;
	*) usage >&2; exit 2 ;;
	esac
done
if ! $distributed; then
	exec "$top/scripts/run-local.sh" "${args[@]}"
fi

conf="$top/conf/local.conf"
out="$top/results/dist-$(date +%Y%m%d-%H%M%S)"
set -- "${args[@]}"
while [ $# -gt 0 ]; do
	case "$1" in
	-c) conf=$2 ;;
	-o) out=$2 ;;
	-t | -p) echo "run-multi-client: -t/-p are applied by editing the conf in -d mode" >&2; exit 2 ;;
	esac
	shift 2
done
bin="$top/curpkv"
[ -x "$bin" ] || "$top/scripts/bootstrap.sh" >&2
mkdir -p "$out"
cp "$conf" "$out/benchmark.conf"
check=$("$bin" -check -config "$out/benchmark.conf")
user=${SSH_USER:-$(id -un)}
rdir=${REMOTE_DIR:-/tmp/curpkv-run}
hosts() { # hosts <section>: "alias address" lines
	awk -v sec="$1:" '$1 == sec {s=1; next} /^[a-z]+:/ {s=0} s && NF {a=$2; sub(/:[0-9]+$/, "", a); print $1, a}' <<<"$check"
}
master_line=$(awk '/^master:/ {a=$3; sub(/:[0-9]+$/, "", a); print $2, a}' <<<"$check")
started=() # "host pid" of every remote background process
cleanup() {
	local e
	for e in "${started[@]}"; do
		ssh "$user@${e% *}" "kill -TERM ${e#* } 2>/dev/null || true" || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
start_bg() { # start_bg <host> <role> <alias>: starts and records the remote PID
	local pid
	pid=$(ssh "$user@$1" "mkdir -p $rdir && cd $rdir && nohup ./curpkv -run $2 -config benchmark.conf -alias $3 -log $3.log >/dev/null 2>&1 & echo \$!")
	started+=("$1 $pid")
}
for h in $(hosts replicas | awk '{print $2}') ${master_line#* } $(hosts clients | awk '{print $2}'); do
	ssh "$user@$h" "mkdir -p $rdir" && scp -q "$bin" "$out/benchmark.conf" "$user@$h:$rdir/"
done
start_bg "${master_line#* }" master "${master_line% *}"
while read -r alias addr; do start_bg "$addr" server "$alias"; done < <(hosts replicas)
for _ in $(seq 600); do
	ssh "$user@${master_line#* }" "grep -q 'cluster ready' $rdir/${master_line% *}.log" && break
	sleep 0.2
done
cpids=()
while read -r alias addr; do
	ssh "$user@$addr" "cd $rdir && ./curpkv -run client -config benchmark.conf -alias $alias" >"$out/$alias.log" 2>"$out/$alias.err" &
	cpids+=($!)
done < <(hosts clients)
status=0
for p in "${cpids[@]}"; do wait "$p" || status=1; done
while read -r alias addr; do scp -q "$user@$addr:$rdir/latencies-$alias.json" "$out/" || true; done < <(hosts clients)
cleanup
started=()
awk '/^Throughput:/ {t += $2; n++} END {printf "Aggregate throughput: %.2f ops/sec (%d client processes)\n", t, n}' "$out"/*.log | tee "$out/summary.txt"
exit "$status"
