#!/usr/bin/env bash
# Measures a single-node Redis on this machine as the ceiling to compare curpkv with.
#   scripts/bench-redis.sh [-n requests] [-c clients] [-h]
# Installs redis-server and redis-tools from Debian if they are missing, starts a private
# redis-server on a free 127.0.0.1 port (no persistence, in a mktemp -d directory), runs
# redis-benchmark for GET and SET unpipelined and with 16-deep pipelining (-q, 100-byte values),
# prints its lines, and stops exactly the server it started.
set -euo pipefail

usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }
requests=200000
clients=50
while getopts "n:c:h" opt; do
	case "$opt" in
	n) requests=$OPTARG ;;
	c) clients=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq >/dev/null
	$sudo apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
fi

tmp=$(mktemp -d)
pid=""
cleanup() {
	[ -z "$pid" ] || { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=""
for p in $(seq 26379 26479); do
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		port=$p
		break
	fi
done
[ -n "$port" ] || { echo "bench-redis: no free port" >&2; exit 1; }
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" \
	--daemonize no --logfile "$tmp/redis.log" &
pid=$!
for _ in $(seq 100); do
	redis-cli -p "$port" ping >/dev/null 2>&1 && break
	sleep 0.05
done
redis-cli -p "$port" ping >/dev/null

echo "redis-benchmark -n $requests -c $clients -d 100 (unpipelined):"
redis-benchmark -p "$port" -n "$requests" -c "$clients" -d 100 -t get,set -q | tr '\r' '\n' | grep "requests per second"
echo "redis-benchmark -n $requests -c $clients -d 100 -P 16 (pipelined):"
redis-benchmark -p "$port" -n "$requests" -c "$clients" -d 100 -t get,set -P 16 -q | tr '\r' '\n' | grep "requests per second"
