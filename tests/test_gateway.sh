#!/usr/bin/env bash
# make check: the Redis gateway (`curpkv -run gateway`, docs/gateway.md) with the real tools, over
# 3 replicas and a master on 127.0.0.1: redis-cli round trips of every command and its errors
# (curp, INCR/DECR/INCRBY/DECRBY, SET NX/XX/GET, GETDEL, SETNX, GETSET and DEL's exact count
# included, compared with a private redis-server's replies when one is installed; then READONLY,
# --weak and the curp-only refusals on curpho), a malformed request closing only its own connection,
# `redis-cli --pipe` mass insertion of 100,000 keys with spot reads, and
# `redis-benchmark -t ping,set,get -n 50000 -P 16 -q` without an error, a client that does not
# read closed at the output cap, a connection's queue of 1,024 requests, and the leader replica
# killed (-9) during `redis-benchmark -t set,get`: the view changes and no error reaches
# redis-benchmark (version 7 exits with status 1 at the first error reply). Skipped (77) without
# redis-cli. GW_KEEP=1 keeps the run's directory. About 20 s.
set -euo pipefail

command -v redis-cli >/dev/null || { echo "1..0 # SKIP redis-cli is not installed (redis-tools)"; exit 77; }
top=${CURPKV_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${CURPKV_BUILDDIR:-$top}
export CURPKV_BIN=$build/curpkv
# shellcheck source=scripts/run-common.sh
. "$top/scripts/run-common.sh"
name=test-gateway
outdir=
keep=${GW_KEEP:-0}
# shellcheck source=scripts/cluster-common.sh
. "$top/scripts/cluster-common.sh"
# shellcheck source=scripts/resp-common.sh
. "$top/scripts/resp-common.sh"
cluster_init
# sanitizer builds run slower, so the gateway's bounded wait is longer there (grep reads all of
# ldd's output: see test_nemesis.sh). Until 2026-12-07 the leader kill below failed under
# AddressSanitizer on a busy machine even with 40 s: a follower that lagged behind the
# benchmark's writes of one key slowed down the further it lagged (every witness record walked
# the key's whole list) and held up the view change for 10-30 s; with that fixed
# (replica/core_wlist.c, docs/recovery.md "A lagging witness") this test passes with 5 s there
# beside two busy loops: 15 s is the margin
if ldd "$bin" 2>/dev/null | grep -E 'lib(a|t)san' >/dev/null; then
	export GW_REPLY_TIMEOUT=${GW_REPLY_TIMEOUT:-15}
fi
wpid=0
trap 'stop_pid "$gpid"; cluster_cleanup' EXIT

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"; }
# check NAME WANT CMD...: the output of redis-cli CMD... (raw replies, errors included) is WANT
check() {
	local what=$1 want=$2 got
	shift 2
	got=$(redis-cli -p "$gport" "$@" 2>&1) || true
	if [ "$got" = "$want" ]; then ok "$what"; else notok "$what: got '$got', want '$want'"; fi
}

echo "1..115"
gw_start curp

# ---- connection commands ---------------------------------------------------------------------
check "PING" "PONG" PING
check "PING msg" "hello" PING hello
check "PING, wrong arity" "ERR wrong number of arguments for 'ping' command" PING a b
got=$( { printf 'PING\r\n'; sleep 0.3; } | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$gport; cat >&3; head -c 7 <&3" | tr -d '\r\n') || true
[ "$got" = "+PONG" ] && ok "inline PING (raw socket)" || notok "inline PING (raw socket): '$got'"
check "ECHO" "x y" ECHO "x y"
check "SELECT 0" "OK" SELECT 0
check "SELECT 1" "ERR DB index is out of range" SELECT 1
check "SELECT x" "ERR value is not an integer or out of range" SELECT x
check "unknown command" "ERR unknown command 'FOO', with args beginning with: 'a' " FOO a
check "wrong arity" "ERR wrong number of arguments for 'get' command" GET
got=$(redis-cli -p "$gport" CLIENT ID)
[[ "$got" =~ ^[0-9]+$ ]] && ok "CLIENT ID is an integer ($got)" || notok "CLIENT ID: '$got'"
got=$(printf 'CLIENT SETNAME gw-test\nCLIENT GETNAME\n' | redis-cli -p "$gport" | tr '\n' ' ')
[ "$got" = "OK gw-test " ] && ok "CLIENT SETNAME/GETNAME" || notok "CLIENT SETNAME/GETNAME: '$got'"
check "HELLO 3" "NOPROTO sorry, this protocol version is not supported" HELLO 3
got=$(redis-cli -p "$gport" HELLO 2 | head -2 | tr '\n' ' ')
[ "$got" = "server redis " ] && ok "HELLO 2" || notok "HELLO 2: '$got'"
got=$(redis-cli -p "$gport" CONFIG GET save | tr '\n' ' ')
[ "$got" = "save  " ] && ok "CONFIG GET save" || notok "CONFIG GET save: '$got'"
check "CONFIG GET appendonly" $'appendonly\nno' CONFIG GET appendonly
check "CONFIG SET refused" "ERR CONFIG set is not supported by the curpkv gateway: its settings are the conf file's" CONFIG set save ""
got=$(redis-cli -p "$gport" COMMAND COUNT)
cmds=$(redis-cli -p "$gport" COMMAND | grep -c -x -E 'get|set|scan|mget' || true)
[[ "$got" =~ ^[0-9]+$ ]] && [ "$got" -gt 20 ] && [ "$cmds" -eq 4 ] && ok "COMMAND, COMMAND COUNT ($got)" || notok "COMMAND COUNT '$got', COMMAND names $cmds"
got=$(redis-cli -p "$gport" COMMAND DOCS get | head -3 | tr '\n' '|')
[ "$got" = "get|summary|Returns the value of a key.|" ] && ok "COMMAND DOCS get" || notok "COMMAND DOCS get: '$got'"
got=$(redis-cli -p "$gport" INFO)
grep -q '^connected_clients:' <<<"$got" && grep -q '^leader:replica' <<<"$got" && grep -q '^fast_path_share:' <<<"$got" &&
	ok "INFO (clients, curpkv: leader, fast_path_share)" || notok "INFO: $got"
check "QUIT" "OK" QUIT

# ---- keys --------------------------------------------------------------------------------------
check "SET" "OK" SET k1 v1
check "GET" "v1" GET k1
check "GET missing" "" GET nokey
check "SET EX refused" "ERR SET EX is not supported: curpkv keeps no TTLs (docs/gateway.md)" SET k1 v EX 10
check "SET bad option" "ERR syntax error" SET k1 v FOO
check "STRLEN" "2" STRLEN k1
check "APPEND (length after)" "5" APPEND k1 abc
check "GET after APPEND" "v1abc" GET k1
check "INCR of a missing key" "1" INCR n1
check "INCRBY" "11" INCRBY n1 10
check "DECR" "10" DECR n1
check "DECRBY" "-5" DECRBY n1 15
check "GET after INCR/DECR" "-5" GET n1
check "INCR of a non-integer value" "ERR value is not an integer or out of range" INCR k1
check "the value is unchanged" "v1abc" GET k1
check "INCRBY by a non-integer" "ERR value is not an integer or out of range" INCRBY n1 1x
check "INCRBY by a leading zero" "ERR value is not an integer or out of range" INCRBY n1 01
redis-cli -p "$gport" SET n2 9223372036854775806 >/dev/null
check "INCR to INT64_MAX" "9223372036854775807" INCR n2
check "INCR overflow" "ERR increment or decrement would overflow" INCR n2
check "DECRBY INT64_MIN" "ERR decrement would overflow" DECRBY n2 -9223372036854775808
check "DECRBY past INT64_MIN" "ERR increment or decrement would overflow" DECRBY n1 9223372036854775807
check "the value is unchanged after an overflow" "9223372036854775807" GET n2
# SET's options and GETDEL: one SETX or GETDEL each, executed once in the state machine
check "SET NX of a missing key" "OK" SET x1 a NX
check "SET NX of an existing key: nil" "" SET x1 b NX
check "the value after SET NX" "a" GET x1
check "SET XX of an existing key" "OK" SET x1 c XX
check "SET XX of a missing key: nil" "" SET x2 c XX
check "SET XX did not create the key" "0" EXISTS x2
check "SET GET: the old value" "c" SET x1 d GET
check "SET GET of a missing key: nil" "" SET x2 e GET
check "SET NX GET of an existing key: its value" "e" SET x2 f NX GET
check "SET NX GET of a missing key: nil" "" SET x3 g NX GET
check "SET XX GET of an existing key: the old value" "g" SET x3 h XX GET
check "SET XX GET of a missing key: nil" "" SET x4 i xx get
check "the values after the conditional SETs" $'\nd\ne\nh' MGET x4 x1 x2 x3
check "SET NX XX: syntax error" "ERR syntax error" SET x1 v NX XX
check "SET XX GET NX: syntax error" "ERR syntax error" SET x1 v XX GET NX
check "SET NX EX: no TTLs" "ERR SET EX is not supported: curpkv keeps no TTLs (docs/gateway.md)" SET x1 v NX EX 10
check "SET bad option after NX" "ERR syntax error" SET x1 v NX FOO
check "nothing was set by the refused SETs" "d" GET x1
big=$(printf '%04096d' 7)
check "SET NX of a maxValueBytes value" "OK" SET xbig "$big" NX
check "its length" "4096" STRLEN xbig
check "SETNX of a missing key" "1" SETNX x5 a
check "SETNX of an existing key" "0" SETNX x5 b
check "GETSET" "a" GETSET x5 c
check "GETDEL" "d" GETDEL x1
check "GETDEL of a missing key: nil" "" GETDEL x1
check "GET after GETDEL" "" GET x1
check "DEL of 3 keys, 2 of them existing" "2" DEL x2 nokey x3
check "DEL deleted them" "0" EXISTS x2 x3
check "DEL of a key named twice counts it once" "1" DEL x5 x5
# del_ops KEY...: DEL's reply and the strong operations it took (INFO curpkv's completions of
# the same connection before and after it)
del_ops() {
	printf 'INFO curpkv\nDEL %s\nINFO curpkv\n' "$*" | redis-cli -p "$gport" | tr -d '\r' |
		awk -F: '/^strong_(fast|slow|retry):/ {n[i] += $2} /^# Curpkv/ {i++} /^[0-9]+$/ {r = $1}
			END {print r, n[2] - n[1]}'
}
redis-cli -p "$gport" SET q1 v >/dev/null
redis-cli -p "$gport" SET q2 v >/dev/null
got=$(del_ops q1 nokey q2)
[ "$got" = "2 3" ] && ok "DEL of 3 keys: one GETDEL each (2 found, 3 operations)" || notok "DEL's operations: '$got' (count, operations)"
# the same commands against a private redis-server (when installed): the replies are Redis's,
# byte for byte (redis-cli's raw output: nil is an empty line)
parity=(
	"SET p:a 1 NX" "SET p:a 2 NX" "SET p:a 3 XX" "SET p:b 4 XX" "SET p:a 5 GET" "SET p:b 6 GET"
	"SET p:b 7 NX GET" "SET p:c 8 NX GET" "SET p:c 9 XX GET" "SET p:d 10 XX GET"
	"SET p:a 11 NX XX" "SET p:a 12 XX NX" "SET p:a 13 NX NX" "SET p:a 14 XX XX GET"
	"SET p:a 15 GET GET" "SET p:a 16 get nx" "SET p:a 17 FOO" "SET p:a 18 NX FOO"
	"MGET p:a p:b p:c p:d" "GETDEL p:a" "GETDEL p:a" "GETDEL p:a p:b" "SETNX p:e 1"
	"SETNX p:e 2" "GETSET p:e 3" "GETSET p:f 4" "DEL p:b p:c p:zz" "DEL p:e p:e"
	"EXISTS p:a p:b p:c p:d p:e p:f" "MGET p:a p:b p:c p:d p:e p:f")
want=
if command -v redis-server >/dev/null; then
	trap 'redis_stop; stop_pid "$gpid"; cluster_cleanup' EXIT
	if redis_start "$dir"; then
		want=$(printf '%s\n' "${parity[@]}" | redis-cli -p "$REDIS_PORT" 2>&1) || true
	fi
	redis_stop
	trap 'stop_pid "$gpid"; cluster_cleanup' EXIT
fi
if [ -n "$want" ]; then
	got=$(printf '%s\n' "${parity[@]}" | redis-cli -p "$gport" 2>&1) || true
	if [ "$got" = "$want" ]; then
		ok "${#parity[@]} SET NX/XX/GET, GETDEL, SETNX, GETSET and DEL commands: Redis's replies"
	else
		notok "replies unlike redis-server's: $(diff <(echo "$want") <(echo "$got") | tr '\n' '|')"
	fi
else
	n=$((n + 1))
	echo "ok $n - # SKIP no redis-server (not installed, or it did not start): no comparison with Redis's replies"
fi
check "EXISTS" "2" EXISTS k1 nokey k1
check "MGET" $'v1abc\n\nv1abc' MGET k1 nokey k1
check "MSET refused" "ERR MSET is not supported by the curpkv gateway: writes of several keys cannot be atomic in curpkv (docs/gateway.md)" MSET a 1 b 2
check "DEL counts existing keys" "1" DEL k1 nokey
check "GET after DEL" "" GET k1
for i in $(seq -w 1 25); do redis-cli -p "$gport" SET "s:$i" "$i" >/dev/null; done
# SCAN: follow the cursor to the end, 7 at a time, only s:* keys
keys=() cur=0 rounds=0
while :; do
	mapfile -t page < <(redis-cli -p "$gport" SCAN "$cur" MATCH 's:*' COUNT 7)
	cur=${page[0]}
	for k in "${page[@]:1}"; do [ -z "$k" ] || keys+=("$k"); done # (an empty page prints a blank line)
	rounds=$((rounds + 1))
	[ "$cur" = 0 ] || [ "$rounds" -gt 20 ] && break
done
[ "${#keys[@]}" -eq 25 ] && [ "${keys[0]}" = "s:01" ] && [ "${keys[24]}" = "s:25" ] &&
	ok "SCAN MATCH COUNT 7: 25 keys in order in $rounds pages" || notok "SCAN: ${#keys[@]} keys in $rounds pages: ${keys[*]}"
check "SCAN bad cursor" "ERR invalid cursor" SCAN abc
# (the header alone: bytes the gateway has not read when it closes would reset the connection,
# and the reply could be lost before the client reads it)
got=$( { printf '*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$5000\r\n'; sleep 0.3; } | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$gport; cat >&3; cat <&3" | tr -d '\r\n') || true
[[ "$got" == "-ERR Protocol error: invalid bulk length" ]] && ok "bulk above maxValueBytes: protocol error, closed" || notok "oversized bulk: '$got'"
check "other connections unaffected" "PONG" PING

# ---- mass insertion and the benchmark -----------------------------------------------------------
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "*3\r\n$3\r\nSET\r\n$%d\r\nkey:%d\r\n$%d\r\nval:%d\r\n", length("key:" i), i, length("val:" i), i }' >"$dir/mass.txt"
got=$(redis-cli -p "$gport" --pipe <"$dir/mass.txt" 2>&1 | tail -1)
if grep -q "errors: 0, replies: 100000" <<<"$got"; then ok "redis-cli --pipe: 100,000 SETs ($got)"; else notok "redis-cli --pipe: $got"; fi
check "spot read key:0" "val:0" GET key:0
check "spot read key:54321" "val:54321" GET key:54321
check "spot read key:99999" "val:99999" GET key:99999
out=$(redis-benchmark -p "$gport" -t ping,set,get -n 50000 -P 16 -q 2>&1 | tr '\r' '\n' | grep -v -e '^[[:space:]]*$' -e 'rps=' || true)
sed 's/^/# /' <<<"$out"
if [ "$(grep -c 'requests per second' <<<"$out")" -ge 4 ] && ! grep -qi 'error' <<<"$out"; then
	ok "redis-benchmark -t ping,set,get -n 50000 -P 16: no error"
else
	notok "redis-benchmark: $out"
fi

# info FIELD: the field of the gateway's INFO
info() { redis-cli -p "$gport" INFO | tr -d '\r' | awk -F: -v k="$1" '$1 == k {print $2; exit}'; }

# ---- a client that does not read its replies: the output cap ------------------------------------
# 20,000 pipelined GETs of a 4,000-byte value (80 MB of replies) from a connection that reads
# nothing: past the cap (32 MiB here) and the sockets' buffers the gateway closes it
redis-cli -p "$gport" SET big "$(printf '%04000d' 0)" >/dev/null
caps0=$(info output_cap_disconnections)
awk 'BEGIN { for (i = 0; i < 20000; i++) printf "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" }' >"$dir/gets.txt"
exec 5<>"/dev/tcp/127.0.0.1/$gport"
# (the writes fail once the gateway closed: EPIPE or a reset)
(timeout 30 cat "$dir/gets.txt" >&5) 2>/dev/null || true
limit=$(($(ms) + 30000))
until (($(info output_cap_disconnections) > caps0)) || (($(ms) > limit)); do sleep 0.05; done
caps1=$(info output_cap_disconnections)
# what reached the client before the close, then EOF (or a reset): not 124, a timeout
rc=0
timeout 20 cat <&5 >"$dir/unread.out" 2>/dev/null || rc=$?
exec 5>&-
got=$(stat -c %s "$dir/unread.out")
if ((caps1 == caps0 + 1)) && [ "$rc" != 124 ] && ((got < 20000 * 4007)); then
	ok "a client that does not read is closed at the output cap (INFO output_cap_disconnections $caps0 -> $caps1, $got of $((20000 * 4007)) reply bytes delivered)"
else
	notok "output cap: INFO output_cap_disconnections $caps0 -> $caps1, the read ended with $rc after $got bytes"
fi
check "other connections unaffected by the output cap" "4000" STRLEN big

# ---- the cap on a connection's queued requests ------------------------------------------------------
# The followers stopped, the leader cannot commit a SET: its reply holds the 3,000 PINGs pipelined
# behind it (replies go in request order); the gateway parses 1,024 requests (GW_MAX_JOBS), stops
# reading, and answers them all once the followers are back
leader=$(info leader)
li=${leader#replica}
fl=()
for i in 0 1 2; do [ "$i" = "$li" ] || fl+=("${pids[$i]}"); done
trap 'kill -CONT "${fl[@]}" 2>/dev/null || true; stop_pid "$gpid"; cluster_cleanup' EXIT
kill -STOP "${fl[@]}"
c0=$(info total_commands_processed) # (each INFO counts itself)
{
	printf '*3\r\n$3\r\nSET\r\n$3\r\nblk\r\n$1\r\n1\r\n'
	awk 'BEGIN { for (i = 0; i < 3000; i++) printf "*1\r\n$4\r\nPING\r\n" }'
} >"$dir/queued.txt"
exec 6<>"/dev/tcp/127.0.0.1/$gport"
timeout 10 cat "$dir/queued.txt" >&6 # (42 KB: the socket buffers hold it)
k=0 parsed=0
limit=$(($(ms) + 3000))
while ((parsed < 1024 && $(ms) < limit)); do
	k=$((k + 1))
	parsed=$(($(info total_commands_processed) - c0 - k))
done
k=$((k + 1))
parsed_later=$(($(info total_commands_processed) - c0 - k))
kill -CONT "${fl[@]}"
rc=0
replies=$(timeout 10 head -c $((5 + 3000 * 7)) <&6 | tr -d '\r' | sort | uniq -c | awk '{printf "%s %s,", $1, $2}') || rc=$?
exec 6>&-
if [ "$parsed" = 1024 ] && [ "$parsed_later" = 1024 ] && [ "$replies" = "1 +OK,3000 +PONG," ]; then
	ok "a connection's queue stops at 1,024 requests behind a pending write, then all 3,001 are answered"
else
	notok "queued requests: $parsed parsed, then $parsed_later; replies '$replies' ($rc)"
fi

# the same cap without a pending write: 1,100 inline PINGs in one write are all in the gateway's
# buffer once it stops at 1,024; the rest are parsed when those replies went out, with no read
# event to prompt it (until 2026-12-07 they were never answered)
got=$(awk 'BEGIN { for (i = 0; i < 1100; i++) printf "PING\r\n" }' |
	timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$gport; cat >&3; head -c $((1100 * 7)) <&3" |
	tr -d '\r' | sort | uniq -c | awk '{printf "%s %s,", $1, $2}') || true
[ "$got" = "1100 +PONG," ] && ok "1,100 PINGs in one write: all answered" || notok "1,100 PINGs in one write: '$got'"

# ---- a leader kill during redis-benchmark ---------------------------------------------------------
view0=$(info view)
cmds0=$(info total_commands_processed)
# (redis-benchmark 7 exits at the first error reply, with status 1 and "Error from server")
redis-benchmark -p "$gport" -t set,get -n 40000 -P 16 -c 20 -r 100000 -q >"$dir/bench-kill.out" 2>&1 &
bpid=$!
# kill the leader once the benchmark is well under way (bounded: 30 s)
limit=$(($(ms) + 30000))
while alive "$bpid" && (($(ms) < limit)) && (($(info total_commands_processed) < cmds0 + 10000)); do sleep 0.05; done
running=0
alive "$bpid" && running=1
kill -KILL "${pids[$li]}"
killed_ms=$(ms)
brc=0
wait "$bpid" || brc=$?
took=$(($(ms) - killed_ms))
view1=$(info view)
out=$(tr '\r' '\n' <"$dir/bench-kill.out" | grep -v -e '^[[:space:]]*$' -e 'rps=' || true)
sed 's/^/# /' <<<"$out"
echo "# leader $leader killed; view $view0 -> $view1; the benchmark ended $took ms after the kill (status $brc)"
if [ "$running" = 1 ] && [ "$brc" = 0 ] && [ "$(grep -c 'requests per second' <<<"$out")" -eq 2 ] &&
	! grep -qi 'error' <<<"$out" && [ "$view1" -gt "$view0" ]; then
	ok "leader $leader killed during redis-benchmark -t set,get -P 16: no error reached it, view $view0 -> $view1"
else
	notok "leader kill during redis-benchmark: running at the kill $running, status $brc, view $view0 -> $view1: $out"
fi
check "a read after the view change" "val:54321" GET key:54321

# INCR through redis-benchmark: every increment applied exactly once (its key is constant without -r)
out=$(redis-benchmark -p "$gport" -t incr -n 20000 -P 16 -c 20 -q 2>&1 | tr '\r' '\n' | grep -v -e '^[[:space:]]*$' -e 'rps=' || true)
sed 's/^/# /' <<<"$out"
got=$(redis-cli -p "$gport" GET "counter:__rand_int__")
if grep -q 'requests per second' <<<"$out" && ! grep -qi 'error' <<<"$out" && [ "$got" = 20000 ]; then
	ok "redis-benchmark -t incr -n 20000 -P 16: no error, the counter is 20000"
else
	notok "redis-benchmark -t incr: counter '$got': $out"
fi

# ---- READONLY on curpho ---------------------------------------------------------------------
gw_start curpho
check "curpho SET" "OK" SET r1 v1
got=$(printf 'READONLY\nSET r2 v2\nGET r2\nMGET r1 r2\nREADWRITE\nGET r1\n' | redis-cli -p "$gport" | tr '\n' ' ')
[ "$got" = "OK OK v2 v1 v2 OK v1 " ] && ok "READONLY: weak reads see the connection's write" || notok "READONLY: '$got'"
got=$(redis-cli -p "$gport" INFO curpkv | tr -d '\r' | awk -F: '$1 == "weak" {print $2}')
[ "${got:-0}" -ge 2 ] 2>/dev/null && ok "INFO curpkv counts the weak reads ($got)" || notok "INFO curpkv weak: '$got'"
# --weak: a second gateway whose connections start READONLY (for redis-benchmark)
wport=$((BASE + 7))
"$bin" -run gateway -config "$conf" -alias client0 -listen "127.0.0.1:$wport" --weak -log "$dir/weak-gateway.log" 2>>"$dir/gateway.err" &
wpid=$!
trap 'stop_pid "$wpid"; stop_pid "$gpid"; cluster_cleanup' EXIT
limit=$(($(ms) + 30000))
until [ "$(redis-cli -p "$wport" SET w1 v1 2>/dev/null)" = OK ] || (($(ms) > limit)); do sleep 0.1; done
got=$(printf 'GET w1\nGET w1\nINFO curpkv\n' | redis-cli -p "$wport" | tr -d '\r' | awk -F: 'NR <= 2 || $1 == "weak"' | tr '\n' ' ')
[ "$got" = "v1 v1 weak:2 " ] && ok "--weak: a connection's GETs are weak without READONLY" || notok "--weak: '$got'"
stop_pid "$wpid"
check "APPEND refused on curpho" "ERR APPEND is an operation of protocol curp only (docs/protocols.md)" APPEND r1 x
check "INCR refused on curpho" "ERR INCR is an operation of protocol curp only (docs/protocols.md)" INCR r1
check "GETDEL refused on curpho" "ERR GETDEL is an operation of protocol curp only (docs/protocols.md)" GETDEL r1
check "SET NX refused on curpho" "ERR SET NX is an operation of protocol curp only (docs/protocols.md)" SET r1 x NX
check "SET XX GET refused on curpho" "ERR SET XX is an operation of protocol curp only (docs/protocols.md)" SET r1 x XX GET
check "SETNX refused on curpho" "ERR SETNX is an operation of protocol curp only (docs/protocols.md)" SETNX r1 x
check "SET NX XX on curpho: syntax error first" "ERR syntax error" SET r1 x NX XX
got=$(del_ops r1 nokey)
[ "$got" = "1 4" ] && ok "curpho DEL: a GET and a DEL per key (1 found, 4 operations)" || notok "curpho DEL: '$got' (count, operations)"
check "curpho GET after DEL" "" GET r1


# ---- AUTH: the conf's secret ----------------------------------------------------------------
check "AUTH without a secret" "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?" AUTH x
sec=gw-test-secret-0123456789
GW_AUTH=$sec GW_CONF_EXTRA="secret: $sec" gw_start curp
check "with a secret: NOAUTH before AUTH" "NOAUTH Authentication required." GET a1
check "AUTH with a wrong password" "WRONGPASS invalid username-password pair or user is disabled." AUTH nope
check "AUTH as another user" "WRONGPASS invalid username-password pair or user is disabled." AUTH admin "$sec"
got=$(printf 'AUTH %s\nSET a1 v1\nGET a1\n' "$sec" | redis-cli -p "$gport" | tr '\n' ' ')
[ "$got" = "OK OK v1 " ] && ok "AUTH with the secret, then commands" || notok "AUTH: '$got'"
got=$(printf 'HELLO 2 AUTH default %s\nGET a1\nINFO stats\n' "$sec" | redis-cli -p "$gport" | tr -d '\r' |
	awk -F: '$1 == "v1" || $1 == "auth_failures" {print}' | tr '\n' ' ')
[ "$got" = "v1 auth_failures:2 " ] && ok "HELLO 2 AUTH, and INFO counts the failures" || notok "HELLO AUTH: '$got'"
out=$(redis-benchmark -p "$gport" -a "$sec" -t set,get -n 2000 -q 2>&1) || true
if grep -q 'requests per second' <<<"$out" && ! grep -qi 'error\|NOAUTH' <<<"$out"; then
	ok "redis-benchmark -a: no error"
else
	notok "redis-benchmark -a: $out"
fi

[ "$n" -eq 115 ] || { notok "the plan says 115 tests, $n ran"; }
[ "$fails" -eq 0 ]
