#!/usr/bin/env bash
# Replicas with a large state rejoin (docs/recovery.md "State transfer"; figures in
# docs/benchmarks.md). A 3-replica cluster on 127.0.0.1 is loaded with KEYS unique keys of BYTES
# bytes, then, under a running write load, a follower is killed -9 and started again with its
# state lost, then the leader is. For each restart it prints: the time to rejoin, the bytes and
# chunks sent, the transfer rate, the RSS of the sender (growth and peak) and the receiver's
# peak, the view changes during the transfer, the longest call into the sender's core, and
# whether the replicas' digests are equal once the load stops.
#   scripts/large-state.sh [-k KEYS] [-v BYTES] [-p curp|curpho|curpht] [-C CHUNK] [-w WRITES]
#                          [-t THREADS] [-o DIR] [-D [-S ENTRIES] [-f FSYNC]]
# -k keys to load (default 4194304), -v value bytes (default 256): 4 M x 256 B is 1 GiB of values.
# -C snapChunkBytes (default: the conf default, 256KiB), -w the running load's write percentage
# (default 10; 0: no load during the restarts), -t the loader's client threads (default 16),
# -o keep the run's directory (logs, conf, stats) there instead of a removed temporary one.
# -D durable (issue 18 item 6, docs/durability.md "Restart time"): the conf gets `stateDir` (the
# run directory's state/) and each restart KEEPS its state: once the victim has written a
# snapshot and none is being written (a bounded wait, printed), kill -9 and a start with the same
# stateDir; printed per restart: the time until its log says `records replayed` (with the
# replica's own figure: records, snapshot or not, ms), until it serves (ready, not rejoining),
# and what it received by transfer. -S the conf's snapshotEntries with -D (default: the conf's);
# -f the conf's fsync (always, everysec or no; default: the conf's, always): what is on disk at a
# restart does not depend on it (each restart waits for a snapshot, then kill -9), only the load's
# speed does.
# Exit status 0 if every restart rejoined with equal digests and no view change happened during
# a follower's transfer; 1 otherwise; 2 on a usage error.
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
keys=4194304
vbytes=256
proto=curp
chunk=
wpct=10
threads=16
outdir=
durable=0
snapents=
fsyncmode=
while getopts "k:v:p:C:w:t:o:DS:f:h" opt; do
	case "$opt" in
	k) keys=$OPTARG ;;
	v) vbytes=$OPTARG ;;
	p) proto=$OPTARG ;;
	C) chunk=$OPTARG ;;
	w) wpct=$OPTARG ;;
	t) threads=$OPTARG ;;
	o) outdir=$OPTARG ;;
	D) durable=1 ;;
	S) snapents=$OPTARG ;;
	f) fsyncmode=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
for v in "$keys" "$vbytes" "$threads"; do
	[[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "large-state: -k, -v and -t need positive integers" >&2; exit 2; }
done
[[ "$wpct" =~ ^[0-9]+$ ]] && ((wpct <= 100)) || { echo "large-state: -w needs 0..100" >&2; exit 2; }
case "$proto" in curp | curpho | curpht) ;; *) echo "large-state: -p curp|curpho|curpht" >&2; exit 2 ;; esac
((keys >= threads)) || threads=$keys
[ -z "$snapents" ] || { [ "$durable" = 1 ] && [[ "$snapents" =~ ^[0-9]+$ ]]; } ||
	{ echo "large-state: -S takes a number of entries, with -D" >&2; exit 2; }
[ -z "$fsyncmode" ] || { [ "$durable" = 1 ] && [[ "$fsyncmode" =~ ^(always|everysec|no)$ ]]; } ||
	{ echo "large-state: -f always|everysec|no, with -D" >&2; exit 2; }

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/run-common.sh
. "$top/scripts/run-common.sh"
name=large-state
# shellcheck source=scripts/cluster-common.sh
. "$top/scripts/cluster-common.sh"
cluster_init
fail=0

hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# cpu_ms PID: user + system CPU time the process has used, in ms (/proc/PID/stat fields 14, 15;
# the command name in field 2 has no spaces here)
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{printf "%d", ($14 + $15) * 1000 / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
mb() { awk -v k="$1" 'BEGIN {printf "%.0f MB", k * 1024 / 1e6}'; }
# stats_must NAME: stats_of, retried for 10 s (a loaded machine), or the script stops saying so
stats_must() {
	local k
	for ((k = 0; k < 50; k++)); do
		stats_of "$1" && return 0
		sleep 0.2
	done
	die "$1 does not answer stats (see $dir)"
}

# ---- the cluster --------------------------------------------------------------------------
free_ports || die "no free ports"
base=$BASE
{
	echo "// scripts/large-state.sh -k $keys -v $vbytes -p $proto"
	echo "-- Replicas --"
	for i in 0 1 2; do echo "replica$i 127.0.0.1:$((base + i))"; done
	echo "-- Clients --"
	echo "client0 127.0.0.1"
	echo "load0 127.0.0.1"
	echo "-- Master --"
	echo "master0 127.0.0.1:$((base + 9))"
	echo "protocol: $proto"
	echo "replyTimeout: 60"
	echo "clientThreads: $threads"
	echo "pipeline: true"
	echo "pendings: 8"
	echo "commandSize: $vbytes"
	echo "weakRatio: 0"
	[ -z "$chunk" ] || echo "snapChunkBytes: $chunk"
	if [ "$durable" = 1 ]; then
		echo "stateDir: $dir/state"
		[ -z "$snapents" ] || echo "snapshotEntries: $snapents"
		[ -z "$fsyncmode" ] || echo "fsync: $fsyncmode"
	fi
	echo "-- Apply to client0 --"
	echo "reqs: $(((keys + threads - 1) / threads))"
	echo "writes: 100"
	echo "keySpace: 0"
	echo "-- Apply to load0 --"
	echo "clientThreads: 4"
	echo "pendings: 2"
	echo "reqs: 0"
	echo "runTime: 86400s"
	echo "writes: $wpct"
	echo "keySpace: $keys"
} >"$conf"
"$bin" -check -config "$conf" >/dev/null || die "bad conf $conf"
[ "$durable" = 0 ] || mkdir -p "$dir/state"

inc=(0 0 0)
start_replica() {
	inc[$1]=$((inc[$1] + 1))
	"$bin" -run server -config "$conf" -alias "replica$1" -log "$dir/replica$1.${inc[$1]}.log" \
		2>>"$dir/replica$1.err" &
	pids[$1]=$!
}
for i in 0 1 2; do start_replica "$i"; done
"$bin" -run master -config "$conf" -alias master0 -log "$dir/master.log" 2>>"$dir/master.err" &
mpid=$!

for i in 0 1 2; do wait_ready "$i" || die "replica$i never served (see $dir)"; done
leader() { stats_of master0 && [ "$(sv ready)" = 1 ] && LEADER=$(sv leader) && [[ "$LEADER" =~ ^[0-9]+$ ]]; }
leader_wait() { # leader, retried for 10 s
	local k
	for ((k = 0; k < 50; k++)); do
		leader && return 0
		sleep 0.2
	done
	return 1
}


mb_state=$(awk -v k="$keys" -v v="$vbytes" 'BEGIN {b = k * v; if (b >= 1e9) printf "%.2f GB", b / 1e9; else printf "%.1f MB", b / 1e6}')
echo "large-state: $proto N=3, $keys keys x $vbytes B ($mb_state of values), chunks ${chunk:-256KiB}, a ${wpct}% write load during the restarts$([ "$durable" = 0 ] || echo ", durable: stateDir, snapshotEntries ${snapents:-100000 (default)}, fsync ${fsyncmode:-always (default)}, restarts keep their state")"

# ---- load -----------------------------------------------------------------------------------
t0=$(ms)
(cd "$dir" && exec "$bin" -run client -config "$conf" -alias client0 >"$dir/load.log" 2>"$dir/load.err") ||
	die "the loader failed (see $dir/load.err)"
t1=$(ms)
converge || die "the replicas disagree after the load (see $dir)"
leader_wait || die "no leader"
echo "load: $keys writes in $(((t1 - t0) / 1000)).$((((t1 - t0) % 1000) / 100)) s; $KEYS_NOW keys; replica RSS $(mb "$(rss_kb "${pids[0]}")"), $(mb "$(rss_kb "${pids[1]}")"), $(mb "$(rss_kb "${pids[2]}")"); leader replica$LEADER"

if ((wpct > 0)); then
	(cd "$dir" && exec "$bin" -run client -config "$conf" -alias load0 >"$dir/load0.log" 2>"$dir/load0.err") &
	lpid=$!
	sleep 1
fi

# snap_wait I: (-D) until replica I has written a snapshot and is not writing one, at most 30 min
# (a snapshot of 1 GiB takes seconds; one starts every snapshotEntries executed entries);
# prints how long it waited and the snapshot's LSN
snap_wait() {
	local i=$1 t0 limit
	t0=$(ms)
	limit=$((t0 + 1800000))
	while (($(ms) < limit)); do
		if stats_of "replica$i" && [ "$(sv snapshot_lsn)" -gt 0 ] && [ "$(sv snapshot_running)" = 0 ]; then
			echo "  replica$i: its last snapshot (LSN $(sv snapshot_lsn), $(sv snapshots) written, $(sv snapshot_failures) failed) is complete; waited $((($(ms) - t0) / 1000)) s"
			return 0
		fi
		sleep 0.2
	done
	die "replica$i wrote no snapshot within 30 min"
}

# restart I WHAT: kills replica I (-9), starts it with its state lost (-D: with its stateDir),
# measures its rejoin
restart() {
	local i=$1 what=$2 sender vc0 b0 c0 base_rss peak_rss r t_kill t_up t_done limit hw t_replayed=0 replayed=""
	leader_wait || die "no leader before the $what restart"
	[ "$durable" = 0 ] || snap_wait "$i"
	leader_wait || die "no leader before the $what restart"
	stats_must master0
	vc0=$(sv view_changes)
	kill -KILL "${pids[$i]}"
	wait "${pids[$i]}" 2>/dev/null || true
	t_kill=$(ms)
	if [ "$what" = leader ]; then # a new leader first (the transfer comes from it)
		limit=$(($(ms) + 30000))
		while (($(ms) < limit)); do
			if leader && [ "$LEADER" != "$i" ]; then break; fi
			sleep 0.05
		done
		[ "$LEADER" != "$i" ] || die "no new leader after replica$i was killed"
		stats_must master0
		vc0=$(sv view_changes)
		echo "  view change: leader replica$LEADER in $((($(ms) - t_kill) / 1000)).$(((($(ms) - t_kill) % 1000) / 100)) s"
	fi
	sender=$LEADER
	stats_must "replica$sender"
	b0=$(sv snap_bytes)
	c0=$(sv snap_chunks)
	local s0 o0 sent over failed
	s0=$(sv snap_sent)
	o0=$(sv snap_overflow)
	base_rss=$(rss_kb "${pids[$sender]}")
	local cpu_s0
	cpu_s0=$(cpu_ms "${pids[$sender]}")
	peak_rss=$base_rss
	start_replica "$i"
	t_up=$(ms)
	limit=$((t_up + 60000 + keys * vbytes / 10000))
	t_done=0
	while (($(ms) < limit)); do
		r=$(rss_kb "${pids[$sender]}")
		((r <= peak_rss)) || peak_rss=$r
		if ((t_replayed == 0)) && [ "$durable" = 1 ] &&
			replayed=$(grep -h -m1 "records replayed" "$dir/replica$i.${inc[$i]}.log" 2>/dev/null); then
			t_replayed=$(ms)
		fi
		if stats_of "replica$i" && [ "$(sv ready)" = 1 ] && [ "$(sv rejoining)" = 0 ]; then
			t_done=$(ms)
			break
		fi
		sleep 0.05
	done
	((t_done > 0)) || { echo "  replica$i did not rejoin within $(((limit - t_up) / 1000)) s" >&2; fail=1; return; }
	hw=$(hwm_kb "${pids[$i]}")
	local cpu_r cpu_s
	cpu_r=$(cpu_ms "${pids[$i]}")
	cpu_s=$(($(cpu_ms "${pids[$sender]}") - cpu_s0))
	local xfer_us
	xfer_us=$(sv snap_last_us) # (STATS: the receiver's, from the wait above)
	failed=$(sv snap_failed)
	stats_must "replica$sender"
	local bytes=$(($(sv snap_bytes) - b0)) chunks=$(($(sv snap_chunks) - c0)) core_max
	core_max=$(sv xfer_call_max_us)
	sent=$(($(sv snap_sent) - s0))
	over=$(($(sv snap_overflow) - o0))
	stats_must master0
	local vcs=$(($(sv view_changes) - vc0))
	local secs
	secs=$(awk -v a="$t_up" -v b="$t_done" 'BEGIN {printf "%.1f", (b - a) / 1000}')
	if [ "$durable" = 1 ]; then
		[ -n "$replayed" ] || replayed=$(grep -h -m1 "records replayed\|write-ahead log" "$dir/replica$i.${inc[$i]}.log" || true)
		echo "$what replica$i restarted from its stateDir: serving again in $secs s" \
			"(its log replayed $(awk -v a="$t_up" -v b="$t_replayed" 'BEGIN {printf "%.1f", (b > 0 ? (b - a) / 1000 : -1)}') s after the start);" \
			"${replayed#* INFO }"
	fi
	echo "$what replica$i restarted with its state $([ "$durable" = 1 ] && echo kept || echo lost): rejoined in $secs s;" \
		"$(awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "%.0f MB", b / 1e6}') in $chunks chunks" \
		"($(awk -v b="$bytes" -v a="$t_up" -v c="$t_done" 'BEGIN {printf "%.0f", b / 1e6 / ((c - a) / 1000)}') MB/s over the rejoin;" \
		"the transfer itself $(awk -v u="$xfer_us" -v b="$bytes" 'BEGIN {printf "%.1f s, %.0f MB/s", u / 1e6, (u > 0 ? b / u : 0)}'));" \
		"sender replica$sender RSS +$(mb $((peak_rss - base_rss))) (peak $(mb "$peak_rss")), receiver peak RSS $(mb "$hw");" \
		"$vcs view change(s) during the transfer; most CPU in one loop call at the sender while sending ${core_max} us;" \
		"transfers: $sent completed, $failed failed at the receiver, $over stopped by too many changes;" \
		"CPU over the rejoin: receiver $(awk -v m="$cpu_r" -v b="$bytes" 'BEGIN {printf "%.1f s (%.0f MB per CPU second)", m / 1000, (m > 0 ? b / m / 1000 : 0)}'), sender $(awk -v m="$cpu_s" 'BEGIN {printf "%.1f s", m / 1000}') (its client load included)"
	if [ "$what" = follower ] && [ "$vcs" -ne 0 ]; then fail=1; fi
	echo "$what $i $secs $bytes $chunks $((peak_rss - base_rss)) $peak_rss $hw $vcs $core_max $xfer_us $cpu_r $cpu_s $((t_replayed > 0 ? t_replayed - t_up : -1))" >>"$dir/figures.txt"
}

leader_wait || die "no leader"
restart $(((LEADER + 1) % 3)) follower
leader_wait || die "no leader after the follower's restart"
restart "$LEADER" leader
if ((lpid > 0)); then
	stop_pid "$lpid"
	lpid=0
	grep -h "^Errors:\|^Throughput:" "$dir/load0.log" | sed 's/^/  write load: /' || true
fi
if converge; then
	echo "digests: equal ($DIGEST), $KEYS_NOW keys on every replica"
else
	echo "digests: NOT equal (see $dir/stats-diverged.txt)"
	fail=1
fi
exit "$fail"
