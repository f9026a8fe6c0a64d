#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2154 # name, outdir, keep, dir, bin, conf, pids, mpid, lpid: scripts/cluster-common.sh's globals
# make check: faults of a replica's stateDir on real processes (issue 18 item 7; docs/durability.md
# "Faults"), TAP. Needs tmpfs mounts (root): exits 77 (SKIP) where `mount -t tmpfs` fails.
# * A full disk: 3 curp replicas, replica0's stateDir on a 68 MiB tmpfs (its first 64 MiB segment
#   fits, the second does not; snapshots of the 8 MiB state do not fit either), the others' on a
#   bigger one; a write load until replica0 stops. Checks: it exits non-zero with the disk-full
#   message; a snapshot that hit the full disk left no snap-*.tmp; its log is whole (`curpkv
#   wal-check`); after a kill -9 of the rest and a remount with room, the whole cluster restarts
#   from its logs, replica0 replays its own, a key written before is read back, and the replicas
#   converge (equal digests).
# * At start, for a replica and for the master: a missing stateDir (not created), one that is a
#   file, one on a read-only tmpfs: each refuses to start with its message, exit status 1.
set -uo pipefail

src=${CURPKV_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${CURPKV_BUILDDIR:-$src}
export CURPKV_BIN=$build/curpkv
top=$src
name=durable-faults
outdir=""
keep=0
# shellcheck source=scripts/run-common.sh
. "$top/scripts/run-common.sh"
# shellcheck source=scripts/cluster-common.sh
. "$top/scripts/cluster-common.sh"
cluster_init # bin, dir, conf; every PID in pids, mpid, lpid stopped at exit

mounts=()
# shellcheck disable=SC2317 # (called by the EXIT trap)
cleanup() {
	local p m
	for p in "$lpid" "${pids[@]}" "$mpid"; do stop_pid "$p"; done
	for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
	cluster_cleanup
}
trap cleanup EXIT
# mount_tmpfs DIR OPTIONS: a tmpfs at DIR (created), unmounted at exit
mount_tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs -o "$2" tmpfs "$1" 2>/dev/null || return 1
	mounts+=("$1")
}
if ! mount_tmpfs "$dir/full" size=68m || ! mount_tmpfs "$dir/big" size=400m; then
	echo "SKIP: cannot mount a tmpfs here (needs root)"
	exit 77
fi

echo "1..9"
status=0
t=0
ok() { t=$((t + 1)); echo "ok $t - $*"; }
not_ok() { t=$((t + 1)); echo "not ok $t - $*"; status=1; }
check() { # check WHAT COMMAND...: ok if COMMAND succeeds
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

free_ports || { echo "Bail out! no free ports"; exit 1; }
# write_conf FILE STATEDIR [REPLICA0_STATEDIR]
write_conf() {
	{
		echo "-- Replicas --"
		for i in 0 1 2; do echo "replica$i 127.0.0.1:$((BASE + i))"; done
		echo "-- Clients --"
		echo "client0 127.0.0.1"
		echo "-- Master --"
		echo "master0 127.0.0.1:$((BASE + 9))"
		echo "protocol: curp"
		echo "stateDir: $2"
		echo "fsync: always"
		echo "snapshotEntries: 200"
		echo "replyTimeout: 5"
		echo "reqs: 0"
		echo "runTime: 40s"
		echo "clientThreads: 4"
		echo "pipeline: true"
		echo "pendings: 4"
		echo "writes: 100"
		echo "keySpace: 1024"
		echo "commandSize: 8192"
		if [ -n "${3:-}" ]; then
			echo "-- Apply to replica0 --"
			echo "stateDir: $3"
		fi
	} >"$1"
}
inc=0
start_all() { # the master and the three replicas, logs ending in .$inc
	local i
	inc=$((inc + 1))
	"$bin" -run master -config "$conf" -alias master0 -log "$dir/master.$inc.log" 2>>"$dir/master.err" &
	mpid=$!
	for i in 0 1 2; do
		"$bin" -run replica -config "$conf" -alias "replica$i" -log "$dir/replica$i.$inc.log" \
			2>>"$dir/replica$i.err" &
		pids[i]=$!
	done
}

# ---- a full disk ----------------------------------------------------------------------------
write_conf "$conf" "$dir/big" "$dir/full"
"$bin" -check -config "$conf" >/dev/null 2>"$dir/check.err" || { cat "$dir/check.err"; echo "Bail out! bad conf"; exit 1; }
start_all
for i in 0 1 2; do wait_ready "$i" 30000 || { echo "Bail out! replica$i never served (see $dir)"; keep=1; exit 1; }; done
"$bin" put -config "$conf" faults-key before-the-disk-filled >/dev/null 2>>"$dir/cli.err" ||
	{ echo "Bail out! the first put failed"; keep=1; exit 1; }
(cd "$dir" && exec "$bin" -run client -config "$conf" -alias client0 >"$dir/load.log" 2>"$dir/load.err") &
lpid=$!
limit=$(($(ms) + 40000))
while alive "${pids[0]}" && (($(ms) < limit)); do sleep 0.1; done
stop_pid "$lpid"
lpid=0
rc0=0
if alive "${pids[0]}"; then
	rc0=running
else
	wait "${pids[0]}" 2>/dev/null || rc0=$?
fi
pids[0]=0
line=$(grep -h "write-ahead log: disk full" "$dir/replica0.1.log" | head -1)
if [ "$rc0" != running ] && [ "$rc0" -ne 0 ] && grep -q "nothing acknowledged is lost; start it again once there is space" <<<"$line"; then
	ok "replica0 stopped on the full disk, exit status $rc0: ${line#* ERROR }"
else
	not_ok "replica0 did not stop with the disk-full message (exit: $rc0; see $dir/replica0.1.log)"
	keep=1
fi
# the whole cluster down, then what replica0 left on disk
for p in "${pids[@]}" "$mpid"; do [ "$p" -le 0 ] || kill -KILL "$p" 2>/dev/null || true; done
for p in "${pids[@]}" "$mpid"; do [ "$p" -le 0 ] || wait "$p" 2>/dev/null || true; done
pids=(0 0 0)
mpid=0
# a snapshot child outlives its replica until it has written or given up (it holds the log's
# lock meanwhile): a bounded wait for it
wc_out=""
limit=$(($(ms) + 15000))
while (($(ms) < limit)); do
	if wc_out=$("$bin" wal-check "$dir/full/replica0" 2>&1) && ! compgen -G "$dir/full/replica0/*.tmp" >/dev/null; then
		break
	fi
	sleep 0.2
done
snapfail=$(grep -c "not written: No space left on device" "$dir/replica0.err" 2>/dev/null || true)
# (whether a snapshot was under way when the disk filled depends on timing: counted, not required)
if ! compgen -G "$dir/full/replica0/*.tmp" >/dev/null; then
	ok "no snap-*.tmp left by the full disk ($snapfail snapshot(s) of replica0 hit it): $(cd "$dir/full/replica0" && echo *)"
else
	not_ok "a snapshot's .tmp is left after the full disk ($snapfail hit it): $(cd "$dir/full/replica0" && echo *)"
fi
if grep -q "^ok: " <<<"$wc_out"; then
	ok "replica0's log after the full disk: $(grep '^ok: ' <<<"$wc_out")"
else
	not_ok "curpkv wal-check $dir/full/replica0: $wc_out"
	keep=1
fi
# room again: the whole cluster restarts from its logs
mount -o remount,size=256m "$dir/full"
start_all
served=1
for i in 0 1 2; do wait_ready "$i" 60000 || served=0; done
replay=$(grep -h "records replayed" "$dir/replica0.2.log" | head -1)
if [ "$served" = 1 ] && [ -n "$replay" ]; then
	ok "after a remount with room, every replica serves again; replica0: ${replay#* INFO }"
else
	not_ok "the cluster did not serve again from its logs (see $dir/replica*.2.log)"
	keep=1
fi
got=$("$bin" get -config "$conf" faults-key 2>>"$dir/cli.err") || got="(exit $?)"
check "a key written before the disk filled is read back: '$got'" [ "$got" = before-the-disk-filled ]
if converge; then
	ok "the replicas converge, replica0 included: digest $DIGEST, $KEYS_NOW keys"
else
	not_ok "the replicas do not converge (see $dir/stats-diverged.txt)"
	keep=1
fi
for p in "${pids[@]}" "$mpid"; do stop_pid "$p"; done
pids=(0 0 0)
mpid=0

# ---- at start: missing, not a directory, read-only ---------------------------------------------
# refuses ROLE ALIAS STATEDIR PATTERN: the process exits 1 at once with PATTERN in its log
refuses() {
	local c=$dir/start-$2.conf log=$dir/start-$2.log rc=0
	write_conf "$c" "$3"
	rm -f "$log"
	timeout 20 "$bin" -run "$1" -config "$c" -alias "$2" -log "$log" 2>/dev/null || rc=$?
	[ "$rc" -eq 1 ] && grep -q "$4" "$log"
}
mount_tmpfs "$dir/ro" ro,size=1m || { echo "Bail out! cannot mount a read-only tmpfs"; exit 1; }
touch "$dir/a-file"
for role in replica master; do
	alias=replica0
	[ "$role" = replica ] || alias=master0
	if refuses "$role" "$alias" "$dir/missing/state" "stateDir $dir/missing/state does not exist: create it" &&
		refuses "$role" "$alias" "$dir/a-file" "stateDir $dir/a-file is not a directory" &&
		[ ! -e "$dir/missing" ]; then
		ok "$role: a missing stateDir (not created) and a file refuse to start: $(grep -h "ERROR" "$dir/start-$alias.log" | head -1 | sed 's/.* ERROR //')"
	else
		not_ok "$role: a missing stateDir or a file as stateDir did not refuse to start (see $dir/start-$alias.log)"
		keep=1
	fi
done
if refuses replica replica0 "$dir/ro" "stateDir $dir/ro is not writable: Read-only file system" &&
	refuses master master0 "$dir/ro" "stateDir $dir/ro is not writable: Read-only file system"; then
	ok "replica and master: a read-only stateDir refuses to start: $(grep -h "ERROR" "$dir/start-master0.log" | head -1 | sed 's/.* ERROR //')"
else
	not_ok "a read-only stateDir did not refuse to start (see $dir/start-*.log)"
	keep=1
fi
[ "$keep" = 0 ] || echo "# kept $dir"
exit $status
