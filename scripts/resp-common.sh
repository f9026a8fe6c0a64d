# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034 # the caller sets dir, bin, conf, pids, mpid (cluster-common.sh); these set the globals named below
# The pieces of the Redis-protocol scripts (scripts/bench-redis.sh, scripts/bench-resp.sh,
# tests/test_gateway.sh), sourced:
#   redis_start DIR [always|everysec|no]  a private redis-server on a free 127.0.0.1 port, its
#                                          files in DIR; sets REDIS_PID and REDIS_PORT (no
#                                          persistence at all without the second argument)
#   redis_stop                             stops exactly that server
#   resp_bench PORT P TESTS N C D K CSV    redis-benchmark -P P -t TESTS -n N -c C -d D -r K,
#                                          its --csv into CSV; prints "TEST RPS P50" lines
#   median                                 the median of the numbers on stdin
#   gw_start PROTOCOL [GATEWAY FLAGS...]   (after cluster-common.sh's cluster_init) a fresh
#                                          3-replica cluster, its master and a gateway on
#                                          127.0.0.1:$gport, once it answers; extra conf lines
#                                          from $GW_CONF_EXTRA, replyTimeout $GW_REPLY_TIMEOUT
#                                          (default 5 s) (with a secret: $GW_AUTH is
#                                          the password its readiness probe gives); sets
#                                          gport and gpid
#   gw_stop                                stops the gateway and the cluster by PID
# Loops are bounded; nothing is stopped but the PIDs these started.

REDIS_PID=0
REDIS_PORT=0
gpid=0
gport=0

redis_start() {
	local d=$1 aof=${2:-} p
	REDIS_PORT=0
	for p in $(seq 26379 26479); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			REDIS_PORT=$p
			break
		fi
	done
	[ "$REDIS_PORT" != 0 ] || { echo "${0##*/}: no free port for redis-server" >&2; return 1; }
	local persist=(--appendonly no)
	[ -z "$aof" ] || persist=(--appendonly yes --appendfsync "$aof")
	# the server never answers fewer clients than asked (maxclients 10000 by default)
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" "${persist[@]}" --dir "$d" \
		--daemonize no --logfile "$d/redis.log" &
	REDIS_PID=$!
	for _ in $(seq 100); do
		redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
		sleep 0.05
	done
	redis-cli -p "$REDIS_PORT" ping >/dev/null || return 1
	[ -z "$aof" ] || [ "$(redis-cli -p "$REDIS_PORT" config get appendfsync | tail -n 1)" = "$aof" ] ||
		{ echo "${0##*/}: the server did not take appendfsync $aof" >&2; return 1; }
}

redis_stop() {
	[ "$REDIS_PID" != 0 ] || return 0
	kill -TERM "$REDIS_PID" 2>/dev/null || true
	wait "$REDIS_PID" 2>/dev/null || true
	REDIS_PID=0
}

resp_bench() {
	local port=$1 p=$2 tests=$3 n=$4 c=$5 d=$6 k=$7 csv=$8 test v lat
	# --csv: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",... per test
	redis-benchmark -p "$port" -n "$n" -c "$c" -d "$d" -r "$k" -t "$tests" -P "$p" --csv \
		>"$csv" 2>"$csv.err" || { cat "$csv.err" >&2; return 1; }
	while IFS=, read -r test v _ _ lat _; do
		test=${test//\"/}
		[ "$test" != test ] || continue
		echo "$test ${v//\"/} ${lat//\"/}"
	done <"$csv"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "?"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

gw_stop() {
	local i
	stop_pid "$gpid"
	for i in 0 1 2; do stop_pid "${pids[$i]}"; done
	stop_pid "$mpid"
	gpid=0
}

gw_start() {
	local proto=$1 i
	shift
	gw_stop
	free_ports || die "no free ports"
	gport=$((BASE + 8))
	{
		echo "-- Replicas --"
		for i in 0 1 2; do echo "replica$i 127.0.0.1:$((BASE + i))"; done
		echo "-- Clients --"
		echo "client0 127.0.0.1"
		echo "-- Master --"
		echo "master0 127.0.0.1:$((BASE + 9))"
		echo "protocol: $proto"
		echo "replyTimeout: ${GW_REPLY_TIMEOUT:-5}"
		echo "maxValueBytes: 4096"
		echo "maxClients: 200"
		echo "pipeline: true"
		echo "pendings: 64"
		[ -z "${GW_CONF_EXTRA:-}" ] || echo "$GW_CONF_EXTRA"
	} >"$conf"
	for i in 0 1 2; do
		"$bin" -run server -config "$conf" -alias "replica$i" -log "$dir/$proto-replica$i.log" 2>>"$dir/replica$i.err" &
		pids[i]=$!
	done
	"$bin" -run master -config "$conf" -alias master0 -log "$dir/$proto-master.log" 2>>"$dir/master.err" &
	mpid=$!
	for i in 0 1 2; do wait_ready "$i" 30000 || die "replica$i never served (see $dir)"; done
	"$bin" -run gateway -config "$conf" -alias client0 -listen "127.0.0.1:$gport" "$@" -log "$dir/$proto-gateway.log" 2>>"$dir/gateway.err" &
	gpid=$!
	local limit=$(($(ms) + 30000))
	local auth=()
	[ -z "${GW_AUTH:-}" ] || auth=(-a "$GW_AUTH" --no-auth-warning)
	until [ "$(redis-cli -p "$gport" "${auth[@]}" GET __ready__ 2>/dev/null)" = "" ] &&
		redis-cli -p "$gport" "${auth[@]}" SET __ready__ 1 2>/dev/null | grep -q OK; do
		(($(ms) < limit)) && alive "$gpid" || die "the gateway never answered (see $dir)"
		sleep 0.1
	done
	redis-cli -p "$gport" DEL __ready__ >/dev/null
}
