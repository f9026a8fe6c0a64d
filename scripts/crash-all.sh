#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2154 # name, keep, dir: the globals of scripts/cluster-common.sh
# Whole-cluster restart (issue 18 item 5; docs/durability.md "Whole-cluster restart"): kill -9 of
# every replica and the master under load, a restart of all of them, and a check that every
# acknowledged write is still there.
#   scripts/crash-all.sh [-p curp|curpho|curpht] [-n 3|5] [-r RUNS] [-f always|everysec|no]
#                        [-d SECONDS] [-s SEED] [-o OUTDIR] [-S ENTRIES]
# -p protocol (default curp); -n replicas (default 3); -r runs (default 1, seeds SEED, SEED+1..);
# -f the conf's fsync (default always); -d the writing load's duration (default 10, 3..3600);
# -S the conf's snapshotEntries (default 2000: snapshots, and logs truncated behind them, happen
# during the run, so a restart reads a snapshot and the log after it);
# -s seed of the crash times (default: from the clock); -o where the runs' files go (OUTDIR/run-I,
# kept; default a mktemp -d directory, removed unless a run failed).
# Per run, on 127.0.0.1: a master and N replicas with `stateDir` (a fresh directory of the run)
# and `fsync: F`; a load generator (client0) with historyFile write.jsonl: 50% writes of unique
# values on 32 keys (curp: appends to 64 keys, as scripts/nemesis.sh; curpho, curpht: half of
# the operations weak), 8 sessions; at a seeded random moment 1 s..SECONDS-1 s into the load,
# kill -9 of every replica and of the master (by PID); the load generator runs out (its
# operations in flight end unknown); all of them restarted with the same conf and stateDir; a
# bounded wait (60 s) until every replica serves (else the run fails: "never served"); a reading
# load generator (client1, writes 0, 3 s, historyFile read.jsonl) and then a strong
# `curpkv get` of every key write.jsonl wrote, appended to read.jsonl (scripts/history-common.sh);
# then `curpkv check-history` over write.jsonl and read.jsonl together and the count of
# acknowledged writes missing from the final reads (history_lost).
# One line per run:
#   crash-all: PROTO N=n fsync=F run I: K acked writes, L lost, check-history ok|VIOLATION
# then a summary. Exit 1 if a run lost an acknowledged write with fsync=always, had a violation
# (with everysec or no: a violation of write.jsonl alone; a loss shows as a violation of the two
# together, printed, not a failure: those modes may lose the last writes), never served again, or
# a process died by itself; 2 on a usage error. The binary is $CURPKV_BIN, else the tree's
# curpkv (scripts/run-common.sh).
# -L FILE...: only the lost-write count of those histories (tests/test_lost_count.sh).
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 && !/^# shellcheck/ { sub(/^# ?/, ""); print }' "$0"; }
proto=curp
n=3
runs=1
fsync=always
secs=10
seed=""
outdir=""
count_only=0
snapents=2000
while getopts "p:n:r:f:d:s:o:S:Lh" opt; do
	case "$opt" in
	p) proto=$OPTARG ;;
	n) n=$OPTARG ;;
	r) runs=$OPTARG ;;
	f) fsync=$OPTARG ;;
	d) secs=$OPTARG ;;
	s) seed=$OPTARG ;;
	o) outdir=$OPTARG ;;
	S) snapents=$OPTARG ;;
	L) count_only=1 ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/history-common.sh
. "$top/scripts/history-common.sh"
if [ "$count_only" -eq 1 ]; then
	[ "$#" -ge 1 ] || { echo "crash-all: -L needs history files" >&2; exit 2; }
	history_lost "$@"
	exit 0
fi
[ "$#" -eq 0 ] || { usage >&2; exit 2; }
case "$proto" in curp | curpho | curpht) ;; *) echo "crash-all: -p curp, curpho or curpht" >&2; exit 2 ;; esac
case "$n" in 3 | 5) ;; *) echo "crash-all: -n 3 or 5" >&2; exit 2 ;; esac
case "$fsync" in always | everysec | no) ;; *) echo "crash-all: -f always, everysec or no" >&2; exit 2 ;; esac
[[ "$runs" =~ ^[0-9]+$ && "$runs" -ge 1 && "$runs" -le 1000 ]] || { echo "crash-all: -r takes 1..1000" >&2; exit 2; }
[[ "$secs" =~ ^[0-9]+$ && "$secs" -ge 3 && "$secs" -le 3600 ]] || { echo "crash-all: -d takes 3..3600 seconds" >&2; exit 2; }
[[ "$snapents" =~ ^[0-9]+$ ]] || { echo "crash-all: -S takes a number of entries (0: no snapshots)" >&2; exit 2; }
[ -n "$seed" ] || seed=$(($(date +%s) % 100000))
[[ "$seed" =~ ^[0-9]+$ && "$seed" -lt 1000000000 ]] || { echo "crash-all: -s takes 0..999999999" >&2; exit 2; }
if [ -n "$outdir" ]; then
	mkdir -p "$outdir"
	outdir=$(cd "$outdir" && pwd)
	# it goes into a conf file (stateDir, historyFile)
	[[ "$outdir" =~ ^[A-Za-z0-9._/+-]+$ ]] || { echo "crash-all: -o: a path of letters, digits and ._/+-" >&2; exit 2; }
fi

# shellcheck source=scripts/run-common.sh
. "$top/scripts/run-common.sh"
name=crash-all
# shellcheck source=scripts/cluster-common.sh
. "$top/scripts/cluster-common.sh"
keep=0
cluster_init # bin, dir, trap: every PID in pids, mpid, lpid stopped at exit

REPLY_S=5  # replyTimeout: the load generator's operations in flight at the crash end unknown after it
READ_S=3   # the reading load generator's runTime
SERVE_MS=60000
RNG=1
rnd() { # rnd N -> R in [0, N): a 31-bit LCG, so the crash times depend on the seed only
	RNG=$(((RNG * 1103515245 + 12345) % 2147483648))
	R=$(((RNG >> 4) % $1))
}

write_conf() { # write_conf RDIR RUN_SEED
	local rd=$1 i keys=32
	[ "$proto" != curp ] || keys=64
	{
		echo "// scripts/crash-all.sh -p $proto -n $n -f $fsync -d $secs -s $2"
		echo "-- Replicas --"
		for ((i = 0; i < n; i++)); do echo "replica$i 127.0.0.1:$((BASE + i))"; done
		echo "-- Clients --"
		echo "client0 127.0.0.1"
		echo "client1 127.0.0.1"
		echo "-- Master --"
		echo "master0 127.0.0.1:$((BASE + 9))"
		echo "protocol: $proto"
		echo "stateDir: $rd/state"
		echo "fsync: $fsync"
		echo "snapshotEntries: $snapents"
		echo "replyTimeout: $REPLY_S"
		echo "reqs: 0"
		echo "runTime: ${secs}s"
		echo "clientThreads: 8"
		echo "pipeline: false"
		echo "writes: 50"
		echo "keySpace: $keys"
		echo "commandSize: 32"
		echo "seed: $2"
		echo "historyFile: $rd/write.jsonl"
		history_workload "$proto"
		# the reading pass after the restart: its own alias, so its sessions are its own too
		echo "-- Apply to client1 --"
		echo "writes: 0"
		echo "weakWrites: 0"
		echo "clientThreads: 4"
		echo "runTime: ${READ_S}s"
		echo "historyFile: $rd/read.jsonl"
	} >"$conf"
	mkdir -p "$rd/state"
	"$bin" -check -config "$conf" >/dev/null 2>"$rd/check-conf.err" || { cat "$rd/check-conf.err" >&2; return 1; }
}

start_all() { # start_all INCARNATION: the master and every replica
	local inc=$1 i
	"$bin" -run master -config "$conf" -alias master0 -log "$rdir/master.$inc.log" 2>>"$rdir/master.err" &
	mpid=$!
	for ((i = 0; i < n; i++)); do
		"$bin" -run replica -config "$conf" -alias "replica$i" -log "$rdir/replica$i.$inc.log" 2>>"$rdir/replica$i.err" &
		pids[i]=$!
	done
}

serving() { # every replica ready and out of its rejoin hold within SERVE_MS
	local i
	for ((i = 0; i < n; i++)); do wait_ready "$i" "$SERVE_MS" || return 1; done
}

died() { # died: names a started process that is gone (not killed by this script), or returns 1
	local i
	for ((i = 0; i < n; i++)); do alive "${pids[i]}" || { echo "replica$i"; return 0; }; done
	alive "$mpid" || { echo master0; return 0; }
	return 1
}

run_load() { # run_load ALIAS OUT: the load generator in the background (lpid), in rdir
	(cd "$rdir" && exec "$bin" -run client -config "$conf" -alias "$1" >"$rdir/$2.out" 2>"$rdir/$2.err") &
	lpid=$!
}

wait_load() { # wait_load LIMIT_MS: the load generator's exit status in LRC (124: killed at LIMIT)
	local limit=$(($(ms) + $1))
	while alive "$lpid" && (($(ms) < limit)); do sleep 0.1; done
	if alive "$lpid"; then
		stop_pid "$lpid"
		LRC=124
	else
		LRC=0
		wait "$lpid" || LRC=$?
	fi
	lpid=0
}

# one_run I RUN_SEED: sets RUN_FAIL (0/1) and adds to the totals
one_run() {
	local i=$1 rseed=$2 t0 crash_ms why="" lrc_w lrc_r cst=0 ast=0 acked lost verdict line keys extra="" k p
	RUN_FAIL=0
	rdir=$dir/run-$i
	mkdir -p "$rdir"
	free_ports || { echo "crash-all: no free ports" >&2; return 1; }
	conf=$rdir/crash-all.conf
	write_conf "$rdir" "$rseed"
	if [ "$i" -eq 1 ] && grep -q "unknown key 'fsync'" "$rdir/check-conf.err"; then
		echo "crash-all: this curpkv does not know the fsync key (no write-ahead log yet): replicas keep their state in memory only, so a restart of all of them loses every write"
	fi
	pids=()
	for ((k = 0; k < n; k++)); do pids[k]=0; done
	RNG=$((rseed % 2147483648))
	rnd 1000
	rnd $((secs * 1000 - 2000))
	crash_ms=$((1000 + R))

	start_all 1
	if ! serving; then
		why="the cluster never served at start"
	else
		run_load client0 write
		t0=$(ms)
		while (($(ms) < t0 + crash_ms)); do
			if p=$(died); then why="$p died by itself before the crash"; break; fi
			sleep 0.05
		done
	fi
	# the crash: every replica and the master, at once, by PID
	for p in "${pids[@]}" "$mpid"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${pids[@]}" "$mpid"; do [ "$p" -le 0 ] || wait "$p" 2>/dev/null || true; done
	for ((k = 0; k < n; k++)); do pids[k]=0; done
	mpid=0
	echo "$(date +%T) crash at $crash_ms ms into the load" >"$rdir/events.log"
	# the load generator runs out: its operations in flight end unknown after replyTimeout
	lrc_w=0
	if [ "$lpid" -gt 0 ]; then
		wait_load $(((secs + 2 * REPLY_S + 30) * 1000))
		lrc_w=$LRC
		[ "$lrc_w" -ne 124 ] || why="${why:-the writing load generator did not end (killed)}"
	fi

	if [ -z "$why" ]; then
		start_all 2
		if ! serving; then
			why="never served after the restart (${SERVE_MS} ms; see $rdir/replica*.2.log)"
		fi
	fi
	lrc_r=0
	if [ -z "$why" ]; then
		run_load client1 read
		wait_load $(((READ_S + 2 * REPLY_S + 30) * 1000))
		lrc_r=$LRC
		[ "$lrc_r" -eq 0 ] || why="the reading load generator exited with status $lrc_r (see $rdir/read.err)"
		touch "$rdir/read.jsonl"
		# the final reads: every key the writing load wrote, after both histories' operations
		mapfile -t keys < <(awk 'match($0, /"op":"(put|del|append)"/) && match($0, /"key":"[0-9a-f]*"/) { print substr($0, RSTART + 7, RLENGTH - 8) }' "$rdir/write.jsonl" | sort -u)
		if ! history_reads "$bin" "$conf" "$rdir/read.jsonl" "$(history_max_ns "$rdir/write.jsonl" "$rdir/read.jsonl")" \
			"$rdir/final.err" "${keys[@]}"; then
			why="${why:-the final read of key $HR_KEY got no answer (exit $HR_RC)}"
		fi
		if p=$(died); then why="${why:-$p died by itself after the restart}"; fi
	fi
	for p in "${pids[@]}" "$mpid"; do stop_pid "$p"; done
	for ((k = 0; k < n; k++)); do pids[k]=0; done
	mpid=0

	touch "$rdir/write.jsonl" "$rdir/read.jsonl"
	local copt=()
	[ "$proto" != curpht ] || copt=(--causal-per-key)
	"$bin" check-history "${copt[@]}" "$rdir/write.jsonl" "$rdir/read.jsonl" >"$rdir/check.txt" 2>&1 || cst=$?
	"$bin" check-history "${copt[@]}" "$rdir/write.jsonl" >"$rdir/check-write.txt" 2>&1 || ast=$?
	acked=$(history_acked "$rdir/write.jsonl")
	lost=$(history_lost "$rdir/write.jsonl" "$rdir/read.jsonl")
	case "$cst" in 0) verdict=ok ;; 1) verdict=VIOLATION ;; 3) verdict="undecided (budget)" ;; *) verdict="ERROR (exit $cst)" ;; esac
	line="crash-all: $proto N=$n fsync=$fsync run $i: $acked acked writes, $lost lost, check-history $verdict"
	# what the replicas did with their logs: snapshots written (before the crash and after the
	# restart), and the restarts that read one back (docs/durability.md)
	local snaps replays
	snaps=$(cat "$rdir"/replica*.log 2>/dev/null | grep -c 'snapshot at LSN .* written' || true)
	replays=$(cat "$rdir"/replica*.log 2>/dev/null | grep -c 'records replayed' || true)
	extra+="; $snaps snapshot(s) written, $replays replica(s) restarted from their log"
	if [ "$fsync" = always ]; then
		# exit 3 (a key beyond the search budget, no violation) is reported, not a failure,
		# as in the nemesis
		[ "$lost" -eq 0 ] && [ "$cst" -ne 1 ] || RUN_FAIL=1
	else
		# these modes may lose the last writes, which the two histories together show as a
		# violation; what was acknowledged before the crash must still be linearizable
		[ "$ast" -ne 1 ] && [ "$ast" -ne 2 ] || { RUN_FAIL=1; extra+="; the writing history alone: exit $ast (see $rdir/check-write.txt)"; }
		[ "$lost" -eq 0 ] || extra+="; a loss that fsync=$fsync allows"
	fi
	[ "$cst" -ne 2 ] || RUN_FAIL=1
	[ -z "$why" ] || { RUN_FAIL=1; extra+="; FAILED: $why"; }
	[ "$lrc_w" -eq 0 ] || [ "$lrc_w" -eq 124 ] || extra+=" (writing load generator exit $lrc_w: the crash)"
	echo "$line (crash at $((crash_ms / 1000)).$(printf '%03d' $((crash_ms % 1000))) s, seed $rseed)$extra"
	echo "$line$extra" >"$rdir/result.txt"
	grep -h "^first violation" "$rdir/check.txt" | head -2 | sed 's/^/  /' || true
	tot_acked=$((tot_acked + acked))
	tot_lost=$((tot_lost + lost))
	[ "$cst" -ne 1 ] || tot_viol=$((tot_viol + 1))
	if [ "$RUN_FAIL" -eq 1 ]; then failed=$((failed + 1)); else passed=$((passed + 1)); fi
}

tot_acked=0
tot_lost=0
tot_viol=0
passed=0
failed=0
start=$(date +%s)
for ((r = 1; r <= runs; r++)); do
	one_run "$r" $((seed + r - 1))
done
echo "crash-all: summary: $proto N=$n fsync=$fsync, $runs run(s) of $secs s (seeds $seed-$((seed + runs - 1))): $passed passed, $failed failed; $tot_acked acked writes, $tot_lost lost, $tot_viol run(s) with a violation; $(($(date +%s) - start)) s"
if [ "$failed" -gt 0 ]; then
	keep=1
	echo "crash-all: kept $dir (per run: crash-all.conf, logs, write.jsonl, read.jsonl, check.txt)"
	exit 1
fi
[ -z "$outdir" ] || echo "crash-all: files in $dir"
exit 0
