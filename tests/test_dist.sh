#!/usr/bin/env bash
# make check: the distributed mode of scripts/run-multi-client.sh end to end, through a real sshd.
# The test starts its own sshd (Debian's openssh-server, installed by scripts/bootstrap.sh) as its
# child, from a temporary directory: generated host and user keys, a free non-default port,
# ListenAddress on 127.0.0.40-43 (each address plays one machine). Then:
#   1. a 3-replica cluster (replicas on .40/.41/.42, the master on .40) and 2 client processes on
#      .43 through run-multi-client.sh -d: the summary counts 2 client processes, a positive
#      throughput and 0 errors; every server log ends with its clean stop (SIGTERM reached curpkv
#      itself, not a wrapper); every latencies-<client>.json came back; no sanitizer report;
#   2. the same run sent SIGTERM while its clients run: it stops every remote process, says so;
#   3. the hosts' sshd port wrong: the run fails at once, naming the host, and starts nothing;
#   4. scripts/sweep-threads.sh -d over 1 and 2 client threads, one repetition each: two rows of
#      results.csv with a positive throughput, every run's processes stopped.
# After each run no process of the PID files the script recorded in REMOTE_DIR is running.
# Before all that (no sshd needed): the summary of a run whose clients all failed is written.
# Exits 77 (automake SKIP) with the reason where sshd cannot run here.
set -euo pipefail

src=${CURPKV_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
build=${CURPKV_BUILDDIR:-$src}
bin=$build/curpkv
addrs=(127.0.0.40 127.0.0.41 127.0.0.42 127.0.0.43)

skip() {
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*"
	exit 1
}
[ -x "$bin" ] || fail "no curpkv binary at $bin"
sshd=""
for c in /usr/sbin/sshd "$(command -v sshd || true)"; do
	# sshd re-executes itself and needs an absolute path
	[ -n "$c" ] && [ -x "$c" ] && { sshd=$c; break; }
done
[ -n "$sshd" ] || skip "no sshd (apt-get install openssh-server, or scripts/bootstrap.sh)"
command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || skip "no ssh client (openssh-client)"

tmp=$(mktemp -d)
sshd_pid=""
run_pid=""
remote=$tmp/remote # REMOTE_DIR: one directory, since every "host" is this machine

# The processes a run recorded (REMOTE_DIR/<alias>.pid) that still run as curpkv. A zombie is
# not running: where init does not reap, a stopped detached process stays one.
left_running() {
	local f p st
	for f in "$remote"/*.pid; do
		[ -f "$f" ] || continue
		p=$(cat "$f")
		st=$(ps -o stat= -p "$p" 2>/dev/null) || continue
		[[ "$st" == Z* ]] && continue
		[ "$(ps -o comm= -p "$p" 2>/dev/null)" = curpkv ] && echo "${f##*/} $p"
	done
	return 0
}
cleanup() {
	local status=$? l
	if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
		kill -TERM "$run_pid" 2>/dev/null || true
		wait "$run_pid" 2>/dev/null || true
	fi
	# a safety net only: every check below fails the test first if a process is left
	for l in $(left_running | awk '{print $2}'); do kill -KILL "$l" 2>/dev/null || true; done
	if [ -n "$sshd_pid" ]; then
		kill -TERM "$sshd_pid" 2>/dev/null || true
		wait "$sshd_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT

# --- 0. the summary of a run whose clients all failed -------------------------------------------
# (no report lines: run_summary's grep found nothing and, under set -e and pipefail, ended
# run-local.sh before it printed the clients' errors)
mkdir "$tmp/sum"
: >"$tmp/sum/client0.log"
: >"$tmp/sum/client1.log"
# its own bash: set -e does not apply inside a command tested by ||
bash -c 'set -euo pipefail; top=$1; . "$top/scripts/run-common.sh"; run_summary "$2" test.conf client0 client1' \
	_ "$src" "$tmp/sum" || fail "run_summary failed on a run without client reports"
grep -q "^Aggregate throughput: 0.00 ops/sec (0 client processes)$" "$tmp/sum/summary.txt" ||
	fail "no summary for a run without client reports"
grep -q '^{"strong_write":\[\],"strong_read":\[\],"weak_write":\[\],"weak_read":\[\]}$' "$tmp/sum/latencies.json" ||
	fail "no empty latencies.json for a run without client reports"
echo "ok 0: the summary of a run whose clients all failed"

# --- sshd -------------------------------------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C curpkv-test-host -f "$tmp/host_key"
ssh-keygen -q -t ed25519 -N '' -C curpkv-test-user -f "$tmp/user_key"
cp "$tmp/user_key.pub" "$tmp/authorized_keys"
# As root, sshd needs its privilege-separation directory (the package's tmpfiles or init
# script makes it at boot). It is left in place: it is empty and other sshds may use it.
if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then
	mkdir -m 0755 /run/sshd 2>/dev/null || [ -d /run/sshd ] || skip "cannot create /run/sshd for sshd"
fi
port_taken() { # port_taken <addr> <port>: true if something accepts connections there
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}
random_port() { # below the ephemeral range, as tests/proc.c proc_free_ports
	echo $((20000 + (RANDOM * 32768 + RANDOM) % 12000))
}
start_sshd() { # start_sshd <port>: 0 when sshd listens on every address; 1 on a busy port
	local a n
	{
		echo "Port $1"
		for a in "${addrs[@]}"; do echo "ListenAddress $a"; done
		echo "HostKey $tmp/host_key"
		echo "AuthorizedKeysFile $tmp/authorized_keys"
		echo "PidFile $tmp/sshd.pid"
		echo "UsePAM no"
		echo "StrictModes no" # the keys live in a temporary directory
		echo "PasswordAuthentication no"
		echo "KbdInteractiveAuthentication no"
		echo "PermitRootLogin prohibit-password"
		echo "Subsystem sftp internal-sftp"
	} >"$tmp/sshd_config"
	"$sshd" -D -e -f "$tmp/sshd_config" 2>"$tmp/sshd.log" &
	sshd_pid=$!
	for _ in $(seq 100); do
		n=$(grep -c "^Server listening on" "$tmp/sshd.log" || true)
		[ "$n" -eq "${#addrs[@]}" ] && return 0
		if ! kill -0 "$sshd_pid" 2>/dev/null || grep -q "Bind to port\|Cannot bind" "$tmp/sshd.log"; then
			kill -TERM "$sshd_pid" 2>/dev/null || true
			wait "$sshd_pid" 2>/dev/null || true
			sshd_pid=""
			grep -q "Address already in use" "$tmp/sshd.log" && return 1
			skip "sshd cannot run here: $(tr '\n' ' ' <"$tmp/sshd.log")"
		fi
		sleep 0.1
	done
	skip "sshd did not listen on ${addrs[*]} within 10 s: $(tr '\n' ' ' <"$tmp/sshd.log")"
}
port=""
for _ in 1 2 3 4 5 6; do
	p=$(random_port)
	port_taken "${addrs[0]}" "$p" && continue
	start_sshd "$p" && { port=$p; break; }
done
[ -n "$port" ] || skip "no free port for sshd after 6 tries"
user=$(id -un)
export SSH_USER=$user REMOTE_DIR=$remote CURPKV_BIN=$bin
export SSH_OPTS="-o Port=$port -o IdentityFile=$tmp/user_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
# shellcheck disable=SC2086 # SSH_OPTS is words by design
ssh -n $SSH_OPTS -o BatchMode=yes "$user@${addrs[0]}" true 2>"$tmp/login.err" ||
	skip "sshd runs but refuses our key login: $(cat "$tmp/login.err") $(tr '\n' ' ' <"$tmp/sshd.log")"
echo "sshd pid $sshd_pid on ${addrs[*]} port $port"

# --- the cluster conf -------------------------------------------------------------------------
write_conf() { # write_conf <file> <runTime>: replicas on .40-.42, master .40, clients on .43
	local base i
	for _ in $(seq 50); do
		base=$(random_port)
		[ "$base" -le $((port)) ] && [ $((base + 3)) -ge "$port" ] && continue
		port_taken "${addrs[0]}" "$base" || port_taken "${addrs[1]}" $((base + 1)) ||
			port_taken "${addrs[2]}" $((base + 2)) || port_taken "${addrs[0]}" $((base + 3)) || break
	done
	{
		echo "-- Replicas --"
		for i in 0 1 2; do echo "replica$i ${addrs[i]}:$((base + i))"; done
		echo "-- Clients --"
		echo "client0 ${addrs[3]}"
		echo "client1 ${addrs[3]}"
		echo "-- Master --"
		echo "master0 ${addrs[0]}:$((base + 3))"
		echo "protocol: curpho"
		echo "runTime: $2"
		echo "reqs: 0"
		echo "writes: 5"
		echo "weakRatio: 50"
		echo "weakWrites: 5"
		echo "clientThreads: 2"
		echo "pipeline: true"
		echo "pendings: 4"
		echo "keySpace: 1000"
	} >"$1"
}
# check_stopped <outdir> <run output>: the script's own verdict, our check by PID, clean stops
check_stopped() {
	local r l
	grep -q "6 remote processes stopped; none is left" "$2" || fail "the run did not report 6 stopped processes, none left (see $2)"
	for r in master0 replica0 replica1 replica2 client0 client1; do
		[ -s "$remote/$r.pid" ] || fail "no PID file for $r in REMOTE_DIR"
	done
	l=$(left_running)
	[ -z "$l" ] || fail "curpkv processes left running: $l"
	grep -q "master stopped" "$1/master0.log" || fail "master0's log has no clean stop"
	for r in 0 1 2; do
		grep -q "replica$r stopped" "$1/replica$r.log" || fail "replica$r's log has no clean stop"
	done
	if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$1"/*.log "$1"/*.err 2>/dev/null; then
		fail "sanitizer reports in the files above"
	fi
}
show() { # show <file>: a run's output, for the test log
	sed 's/^/  | /' "$1"
}

# --- 1. a whole run -----------------------------------------------------------------------------
write_conf "$tmp/run.conf" 2s
start=$EPOCHREALTIME
status=0
timeout -k 10 180 "$src/scripts/run-multi-client.sh" -d -c "$tmp/run.conf" -o "$tmp/out1" >"$tmp/run1.out" 2>&1 || status=$?
secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
show "$tmp/run1.out"
[ "$status" -eq 0 ] || fail "run-multi-client.sh -d exited $status"
s=$tmp/out1/summary.txt
[ -f "$s" ] || fail "no summary"
tp=$(awk '/^Aggregate throughput:/ {print $3}' "$s")
grep -q "^Aggregate throughput: .* ops/sec (2 client processes)$" "$s" || fail "the summary does not count 2 client processes"
awk -v t="$tp" 'BEGIN {exit !(t > 0)}' || fail "throughput $tp is not positive"
[ "$(grep -c "^  Errors: 0 | Timeouts: 0$" "$s")" -eq 2 ] || fail "not 2 client reports with 0 errors and 0 timeouts"
for c in client0 client1; do
	[ -s "$tmp/out1/latencies-$c.json" ] || fail "latencies-$c.json did not come back"
	grep -q "^Throughput:" "$tmp/out1/$c.log" || fail "$c's report is missing"
done
grep -q "^strong_read: [1-9]" "$s" || fail "no merged strong reads in the summary"
check_stopped "$tmp/out1" "$tmp/run1.out"
echo "ok 1: 2 client processes, $tp ops/s, 0 errors, 6 processes stopped and none left ($secs s)"

# --- 2. SIGTERM while the clients run -----------------------------------------------------------
rm -f "$remote"/*.pid
write_conf "$tmp/run2.conf" 60s
"$src/scripts/run-multi-client.sh" -d -c "$tmp/run2.conf" -o "$tmp/out2" >"$tmp/run2.out" 2>&1 &
run_pid=$!
# the clients print a progress line on stderr every second once they run
for _ in $(seq 600); do
	[ -s "$tmp/out2/client0.err" ] && [ -s "$tmp/out2/client1.err" ] && break
	kill -0 "$run_pid" 2>/dev/null || break
	sleep 0.1
done
[ -s "$tmp/out2/client0.err" ] && [ -s "$tmp/out2/client1.err" ] || { show "$tmp/run2.out"; fail "the clients of run 2 did not start"; }
kill -TERM "$run_pid"
status=0
for _ in $(seq 600); do
	kill -0 "$run_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$run_pid" 2>/dev/null && fail "run-multi-client.sh still runs 60 s after SIGTERM"
wait "$run_pid" || status=$?
run_pid=""
show "$tmp/run2.out"
[ "$status" -eq 143 ] || fail "a terminated run exited $status, not 143"
grep -q "terminated; stopping the remote processes" "$tmp/run2.out" || fail "the run did not say it was terminated"
check_stopped "$tmp/out2" "$tmp/run2.out"
echo "ok 2: SIGTERM during the clients: exit 143, 6 processes stopped and none left"

# --- 3. an unreachable host ---------------------------------------------------------------------
rm -f "$remote"/*.pid
dead=""
for _ in $(seq 50); do
	dead=$(random_port)
	[ "$dead" -ne "$port" ] && ! port_taken "${addrs[0]}" "$dead" && break
done
start=$(date +%s)
status=0
SSH_OPTS="-o Port=$dead -o IdentityFile=$tmp/user_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null" \
	timeout -k 10 60 "$src/scripts/run-multi-client.sh" -d -c "$tmp/run.conf" -o "$tmp/out3" >"$tmp/run3.out" 2>&1 || status=$?
secs=$(($(date +%s) - start))
show "$tmp/run3.out"
[ "$status" -ne 0 ] || fail "a run whose hosts have no sshd succeeded"
[ "$status" -ne 124 ] || fail "a run whose hosts have no sshd hung (timeout)"
grep -q "cannot reach $user@${addrs[0]}:" "$tmp/run3.out" || fail "the failure does not name ${addrs[0]}"
[ -z "$(ls "$remote"/*.pid 2>/dev/null)" ] || fail "processes were started although a host was unreachable"
echo "ok 3: no sshd on the port: failed after $secs s naming ${addrs[0]}, nothing started"

# --- 4. a sweep in distributed mode -------------------------------------------------------------
rm -f "$remote"/*.pid
start=$EPOCHREALTIME
status=0
timeout -k 10 240 "$src/scripts/sweep-threads.sh" -d -c "$tmp/run.conf" -t "1 2" -r 1 -o "$tmp/out4" >"$tmp/run4.out" 2>&1 || status=$?
secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
show "$tmp/run4.out"
[ "$status" -eq 0 ] || fail "sweep-threads.sh -d exited $status"
csv=$tmp/out4/results.csv
[ "$(awk -F, 'NR > 1 && $4 > 0' "$csv" | wc -l)" -eq 2 ] || fail "results.csv does not have 2 rows with a positive throughput: $(cat "$csv")"
awk -F, 'NR > 1 {printf "%s %s threads %s ops/s; ", $1, $2, $4}' "$csv" >"$tmp/rows"
[ -z "$(left_running)" ] || fail "processes left after the sweep: $(left_running)"
echo "ok 4: sweep-threads.sh -d: $(cat "$tmp/rows")none left ($secs s)"
