#!/usr/bin/env bash
# A randomized fault campaign on real processes: a master, N replicas and one load-generator
# process on loopback addresses of their own, faults drawn from a seeded schedule during the
# load, then everything healed and checked.
#   scripts/nemesis.sh -p curp|curpho|curpht -n N -d SECONDS [-s SEED] [-o OUTDIR] [-r RUNS] [-U]
# -n odd, 3..9 replicas; -d the faulty phase (>= 5 s); -s the schedule's seed (default: from the
# clock); -o where each run's files go (default: a mktemp directory, removed when the run
# passes); -r RUNS runs with seeds SEED, SEED+1, ... and a summary (each run in OUTDIR/seed-S).
# -U: the conf sets localSockets (the processes talk over Unix sockets, as conf/local.conf's do);
# nftables and ss -K do not see those, so the partition and connection-kill faults are skipped.
# Faults, one every 0.5-3 s (N >= 5: half the time two at once), never more than f replicas down
# (killed until restarted and rejoined, paused, isolated or cut): kill -9 of the leader or a
# follower, restarted 0.2-2 s later with its state lost; SIGSTOP/SIGCONT of the leader or a
# follower for 0.2-3 s; nftables drops for 0.2-3 s (a replica isolated, the leader cut from the
# followers and the master while clients still reach it, a one-way drop out of or into a
# replica); ss -K of a replica's connections; kill -9 of the master, restarted 0.2-2 s later
# with its stateDir or (half of the time) replaced by one without it.
# The load: 8 sessions, one operation at a time, 50% writes of unique values on 32 shared keys
# (curpho, curpht: half of the operations weak) or appends to 64 keys (curp), networkDelay 1 ms,
# its history in OUTDIR/history.jsonl. At the end: every fault healed, a final write and a
# strong read of every key (added to the history), the replicas converged; checked: the history
# (curpkv check-history: linearizability, causal (per key for curpht), appends exactly once),
# acknowledged writes lost, equal digests and indexes, no process died unkilled, replica RSS
# below NEMESIS_RSS_MIB (default 256), the load generator's exit status.
# One line per fault, then: nemesis: PROTO N=n seed S: F faults (per type), K ops,
# V violations, L lost, replicas identical|DIVERGED. Exit 1 on any failure (OUTDIR kept: the
# schedule, every log, the history; replay with the same -p -n -d -s -U). The binary is
# $CURPKV_BIN, else $CURPKV_BUILDDIR/curpkv, else the tree's curpkv (built if missing).
# Only 127.0.0.0/8 is used (replicas on 127.88.B.1-N, the master on 127.88.B.100, a free block
# B per run); processes are stopped by PID; the nftables table is removed on exit and on Ctrl-C.
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }

proto=""
n=3
dur=""
seed=""
outdir=""
runs=1
lost_file=""
unix=0
while getopts "p:n:d:s:o:r:L:Uh" opt; do
	case "$opt" in
	L) lost_file=$OPTARG ;;
	U) unix=1 ;;
	p) proto=$OPTARG ;;
	n) n=$OPTARG ;;
	d) dur=$OPTARG ;;
	s) seed=$OPTARG ;;
	o) outdir=$OPTARG ;;
	r) runs=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
if [ -z "$lost_file" ]; then
	case "$proto" in curp | curpho | curpht) ;; *) echo "nemesis: -p curp, curpho or curpht" >&2; exit 2 ;; esac
	[[ "$n" =~ ^[3579]$ ]] || { echo "nemesis: -n takes 3, 5, 7 or 9" >&2; exit 2; }
	[[ "$dur" =~ ^[0-9]+$ && "$dur" -ge 5 && "$dur" -le 3600 ]] || { echo "nemesis: -d takes 5..3600 seconds" >&2; exit 2; }
fi
uflag=""
net_off="" # why the network faults are off, when they are
[ "$unix" -eq 0 ] || { uflag=" -U"; net_off="blind to Unix sockets (-U)"; }
[[ "$runs" =~ ^[0-9]+$ && "$runs" -ge 1 && "$runs" -le 1000 ]] || { echo "nemesis: -r takes 1..1000" >&2; exit 2; }
[ -n "$seed" ] || seed=$(($(date +%s) % 100000))
[[ "$seed" =~ ^[0-9]+$ && "$seed" -lt 1000000000 ]] || { echo "nemesis: -s takes 0..999999999" >&2; exit 2; }
if [ -n "$outdir" ]; then
	mkdir -p "$outdir"
	outdir=$(cd "$outdir" && pwd)
	[[ "$outdir" =~ ^[A-Za-z0-9._/+-]+$ && ${#outdir} -le 300 ]] ||
		{ echo "nemesis: -o: a path of letters, digits and ._/+- (it goes into a conf file)" >&2; exit 2; }
fi

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/history-common.sh
. "$top/scripts/history-common.sh"
if [ -n "${CURPKV_BIN:-}" ]; then
	bin=$CURPKV_BIN
elif [ -n "${CURPKV_BUILDDIR:-}" ]; then
	bin=$CURPKV_BUILDDIR/curpkv
else
	bin=$top/curpkv
	if [ ! -x "$bin" ]; then
		[ -f "$top/Makefile" ] || "$top/scripts/bootstrap.sh" >&2
		make -s -C "$top" curpkv >&2
	fi
fi
[ -x "$bin" ] || { echo "nemesis: no curpkv binary at $bin" >&2; exit 2; }

f=$(((n - 1) / 2))
rss_mib=${NEMESIS_RSS_MIB:-256}
slow=${NEMESIS_SLOW:-1} # multiplies the waits (sanitizer builds: 3)
TAIL_S=5                # load after the faults stopped
lockroot=/tmp/curpkv-nemesis-locks

# ---- per-run state (reset by run_one) -----------------------------------------------------
dir=""
tmpdir=0
conf=""
block=""
base_port=0
table=""
nft_ok=0
ss_ok=0
pids=()     # replica pids (index = id), 0 = not running
incs=()     # replica incarnations
mpid=0      # master pid
minc=0
lpid=0      # load generator pid
problems=() # failed checks other than history violations
down=()     # fault id holding replica i down, or ""
T0=0
NOW=0
RNG=1

now() { local t=${EPOCHREALTIME/./}; NOW=$((10#$t / 1000)); }
rel() { printf '%d.%03d' $(((NOW - T0) / 1000)) $(((NOW - T0) % 1000)); }
ev() { now; echo "$(rel) $*" >>"$dir/events.log"; }
say() { echo "nemesis: $*"; ev "$*"; }
sayt() { now; echo "nemesis: $(rel) s  $*"; echo "$(rel) $*" >>"$dir/events.log"; } # with the time
problem() { problems+=("$*"); say "PROBLEM: $*"; }

# A 31-bit LCG: the schedule depends on the seed only (not on bash's RANDOM).
rnd() { # rnd N -> R in [0, N)
	RNG=$(((RNG * 1103515245 + 12345) % 2147483648))
	R=$(((RNG >> 4) % $1))
}

addr() { echo "127.88.$block.$(($1 + 1))"; }
maddr() { echo "127.88.$block.100"; }

alive() { # alive PID: running or stopped, not a zombie
	local st=""
	[ "$1" -gt 0 ] 2>/dev/null || return 1
	read -r _ _ st _ 2>/dev/null <"/proc/$1/stat" || return 1
	[ "$st" != Z ]
}

reap() { # reap PID -> RC (its status)
	RC=0
	wait "$1" 2>/dev/null || RC=$?
}

# ---- address block, ports, lock ---------------------------------------------------------
release_block() {
	[ -z "$block" ] || rm -rf "${lockroot:?}/$block"
	block=""
}

take_block() {
	mkdir -p "$lockroot"
	local try b p busy
	for ((try = 0; try < 60; try++)); do
		b=$(((seed + $$ + try * 7) % 240 + 10))
		if ! mkdir "$lockroot/$b" 2>/dev/null; then
			p=$(cat "$lockroot/$b/pid" 2>/dev/null || echo 0)
			if [ "$p" -gt 0 ] 2>/dev/null && kill -0 "$p" 2>/dev/null; then continue; fi
			rm -rf "${lockroot:?}/$b"
			mkdir "$lockroot/$b" 2>/dev/null || continue
		fi
		echo $$ >"$lockroot/$b/pid"
		block=$b
		base_port=$((20000 + b * 20))
		busy=$(ss -Htln "( sport >= :$base_port and sport <= :$((base_port + 15)) )" 2>/dev/null | head -1)
		busy+=$(ss -Htn "( src 127.88.$b.0/24 or dst 127.88.$b.0/24 )" 2>/dev/null | head -1)
		if [ -z "$busy" ]; then return 0; fi
		release_block
	done
	echo "nemesis: no free address block 127.88.B.0/24 with free ports (tried 60)" >&2
	return 1
}

# ---- processes ------------------------------------------------------------------------------
start_replica() {
	local i=$1
	incs[i]=$((${incs[i]:-0} + 1))
	"$bin" -run server -config "$conf" -alias "replica$i" -log "$dir/replica$i.${incs[i]}.log" \
		-xlog "$dir/replica$i.${incs[i]}.xlog" 2>>"$dir/replica$i.err" &
	pids[i]=$!
	ev "start replica$i (pid ${pids[i]}, incarnation ${incs[i]})"
}

start_master() {
	minc=$((minc + 1))
	"$bin" -run master -config "$conf" -alias master0 -log "$dir/master.$minc.log" 2>>"$dir/master.err" &
	mpid=$!
	ev "start master (pid $mpid, incarnation $minc)"
}

# stats_of ALIAS -> STATS (name value lines), 0 or 1
stats_of() {
	STATS=$("$bin" stats -config "$conf" -alias "$1" 2>/dev/null) || return 1
}
sv() { awk -v k="$1" '$1 == k {print $2; exit}' <<<"$STATS"; }

# LEADER: the master's (when it is ready), else, while the nemesis has the master down or
# restarting (no view can change then), the last one it named; returns 1 if neither is known
LAST_LEADER=""
find_leader() {
	if stats_of master0 && [ "$(sv ready)" = 1 ] && [[ "$(sv leader)" =~ ^[0-9]+$ ]]; then
		LEADER=$(sv leader)
		LAST_LEADER=$LEADER
		return 0
	fi
	[ -n "$master_fault" ] && [ -n "$LAST_LEADER" ] || return 1
	LEADER=$LAST_LEADER
}

stop_all() {
	local i p
	for p in "${pids[@]}" "$mpid" "$lpid"; do
		[ "$p" -gt 0 ] 2>/dev/null || continue
		kill -CONT "$p" 2>/dev/null || true
		kill -TERM "$p" 2>/dev/null || true
	done
	for ((i = 0; i < 50; i++)); do
		local any=0
		for p in "${pids[@]}" "$mpid" "$lpid"; do alive "$p" && any=1; done
		[ "$any" -eq 0 ] && break
		sleep 0.1
	done
	for p in "${pids[@]}" "$mpid" "$lpid"; do
		[ "$p" -gt 0 ] 2>/dev/null || continue
		alive "$p" && kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null || true
	done
	pids=()
	mpid=0
	lpid=0
}

nft_cleanup() {
	[ -z "$table" ] || nft delete table inet "$table" >/dev/null 2>&1 || true
	table=""
}

cleanup() {
	stop_all
	nft_cleanup
	release_block
}
trap cleanup EXIT
trap 'echo "nemesis: interrupted" >&2; exit 130' INT TERM

# ---- the conf ----------------------------------------------------------------------------------
write_conf() {
	local i keys
	conf=$dir/nemesis.conf
	keys=32
	[ "$proto" != curp ] || keys=64
	KEYS=$keys
	{
		echo "// scripts/nemesis.sh -p $proto -n $n -d $dur -s $run_seed$uflag"
		echo "-- Replicas --"
		for ((i = 0; i < n; i++)); do echo "replica$i $(addr "$i"):$((base_port + i))"; done
		echo "-- Clients --"
		echo "client0 127.88.$block.50"
		echo "-- Master --"
		echo "master0 $(maddr):$((base_port + 15))"
		echo "protocol: $proto"
		echo "heartbeatMs: 50"
		echo "leaderTimeoutMs: $((400 * slow))"
		echo "replyTimeout: 30"
		echo "stateDir: $dir/master-state"
		echo "reqs: 0"
		echo "runTime: $((dur + TAIL_S))s"
		echo "clientThreads: 8"
		echo "pipeline: false"
		echo "writes: 50"
		echo "keySpace: $keys"
		echo "commandSize: 32"
		echo "networkDelay: 1"
		echo "seed: $run_seed"
		echo "historyFile: $dir/history.jsonl"
		[ "$unix" -eq 0 ] || echo "localSockets: true"
		history_workload "$proto"
	} >"$conf"
	mkdir -p "$dir/master-state"
	"$bin" -check -config "$conf" >/dev/null 2>"$dir/check-conf.err" ||
		{ cat "$dir/check-conf.err" >&2; return 1; }
}

# ---- the schedule -------------------------------------------------------------------------------
# One line per fault: "gap_ms kind role dur_ms pick dir pair"; gap is from the previous start (a
# fault that must wait for a free replica delays the ones after it); pick chooses among the
# eligible followers; dir: oneway out of or into the replica, master restarted with its stateDir
# (out) or replaced without it (in); pair=1: starts with the previous one (N >= 5).
KINDS=(kill kill kill pause pause isolate cut oneway sskill master)
write_schedule() {
	local i gap kind role d pick dirn pair
	RNG=$((run_seed % 2147483648))
	rnd 1000
	{
		echo "# scripts/nemesis.sh -p $proto -n $n -d $dur -s $run_seed: gap_ms kind role dur_ms pick dir pair"
		for ((i = 0; i < dur * 2 + 10; i++)); do
			rnd 2501
			gap=$((500 + R))
			pair=0
			if [ "$n" -ge 5 ] && [ "$i" -gt 0 ]; then
				rnd 2
				if [ "$R" -eq 1 ]; then pair=1; gap=0; fi
			fi
			rnd ${#KINDS[@]}
			kind=${KINDS[R]}
			[ "$pair" -eq 0 ] || [ "$kind" != master ] || kind="kill"
			rnd 2
			role=$([ "$R" -eq 0 ] && echo leader || echo follower)
			[ "$kind" != cut ] || role=leader
			[ "$kind" != master ] || role=master
			case "$kind" in
			kill | master) rnd 1801; d=$((200 + R)) ;;
			sskill) d=0 ;;
			*) rnd 2801; d=$((200 + R)) ;;
			esac
			rnd 1000
			pick=$R
			rnd 2
			dirn=$([ "$R" -eq 0 ] && echo out || echo in)
			echo "$gap $kind $role $d $pick $dirn $pair"
		done
	} >"$dir/schedule.txt"
}

# ---- faults ---------------------------------------------------------------------------------------
# Active faults: F_KIND F_TGT F_END F_PHASE F_DEADLINE F_POLL, by fault id.
F_KIND=()
F_TGT=()
F_END=()
F_PHASE=()
F_DEADLINE=()
F_POLL=()
declare -A COUNT
nfaults=0
master_fault="" # active master fault id

ndown() {
	local i c=0
	for ((i = 0; i < n; i++)); do [ -z "${down[i]}" ] || c=$((c + 1)); done
	echo "$c"
}

active_faults() { # number of faults not done
	local k c=0
	for k in "${!F_PHASE[@]}"; do [ "${F_PHASE[k]}" = over ] || c=$((c + 1)); done
	echo "$c"
}

# resolve ROLE PICK -> TGT (replica id) or return 1 (not now)
resolve() {
	local role=$1 pick=$2 i cand=()
	[ "$(ndown)" -lt "$f" ] || [ "${3:-}" = nodown ] || return 1
	find_leader || return 1
	if [ "$role" = leader ]; then
		[ -z "${down[LEADER]}" ] || return 1
		TGT=$LEADER
		return 0
	fi
	for ((i = 0; i < n; i++)); do
		[ "$i" -ne "$LEADER" ] && [ -z "${down[i]}" ] && cand+=("$i")
	done
	[ "${#cand[@]}" -gt 0 ] || return 1
	TGT=${cand[pick % ${#cand[@]}]}
}

# nft_chain ID RULES...: a base chain of the run's table dropping what the rules match
nft_chain() {
	local id=$1 r
	shift
	nft add chain inet "$table" "f$id" '{ type filter hook input priority 0; policy accept; }' || return 1
	for r in "$@"; do nft add rule inet "$table" "f$id" $r || return 1; done
}

nft_unchain() {
	nft flush chain inet "$table" "f$1" 2>/dev/null || true
	nft delete chain inet "$table" "f$1" 2>/dev/null || true
}

others_set() { # others_set ID -> "{ a, b, master }" (every replica but ID, and the master)
	local i s=""
	for ((i = 0; i < n; i++)); do [ "$i" -eq "$1" ] || s+="$(addr "$i"), "; done
	echo "{ $s$(maddr) }"
}

# start_fault ID KIND ROLE DUR PICK DIR -> 0 started, 1 not now, 2 skipped for good
start_fault() {
	local id=$1 kind=$2 role=$3 d=$4 pick=$5 dirn=$6 t a o what
	case "$kind" in
	master)
		[ -z "$master_fault" ] || return 1
		find_leader || true # remembered while the master is down
		kill -KILL "$mpid" 2>/dev/null || true
		reap "$mpid"
		mpid=0
		master_fault=$id
		F_TGT[id]=m
		if [ "$dirn" = in ]; then
			# a replacement master: nothing of the old one's stateDir (view, id epoch)
			rm -rf "$dir/master-state"
			mkdir -p "$dir/master-state"
			what="kill -9 master, replaced by a new one without its stateDir after $d ms"
		else
			what="kill -9 master (restart after $d ms, same stateDir)"
		fi
		;;
	sskill)
		[ "$ss_ok" -eq 1 ] || { say "skip $kind: ss -K ${net_off:-unusable}"; return 2; }
		resolve "$role" "$pick" nodown || return 1
		t=$TGT
		a=$(addr "$t")
		ss -K -t "( src $a or dst $a )" >/dev/null 2>&1 || true
		F_TGT[id]=$t
		what="ss -K $role replica$t (every TCP connection of $a)"
		d=0
		;;
	kill | pause | isolate | cut | oneway)
		if [ "$nft_ok" -eq 0 ] && [[ "$kind" =~ ^(isolate|cut|oneway)$ ]]; then
			say "skip $kind: nftables ${net_off:-unusable}"
			return 2
		fi
		resolve "$role" "$pick" || return 1
		t=$TGT
		a=$(addr "$t")
		o=$(others_set "$t")
		case "$kind" in
		kill)
			kill -KILL "${pids[t]}" 2>/dev/null || true
			reap "${pids[t]}"
			pids[t]=0
			what="kill -9 $role replica$t (restart after $d ms, state lost)"
			;;
		pause)
			kill -STOP "${pids[t]}"
			what="SIGSTOP $role replica$t for $d ms"
			;;
		isolate)
			nft_chain "$id" "ip saddr $a drop" "ip daddr $a drop" || return 2
			what="isolate $role replica$t ($a) for $d ms"
			;;
		cut)
			nft_chain "$id" "ip saddr $a ip daddr $o drop" "ip saddr $o ip daddr $a drop" || return 2
			what="cut leader replica$t from the followers and the master (clients still reach it) for $d ms"
			;;
		oneway)
			if [ "$dirn" = out ]; then
				nft_chain "$id" "ip saddr $a ip daddr $o drop" || return 2
				what="drop every packet from $role replica$t to the others for $d ms"
			else
				nft_chain "$id" "ip saddr $o ip daddr $a drop" || return 2
				what="drop every packet from the others to $role replica$t for $d ms"
			fi
			;;
		esac
		down[t]=$id
		F_TGT[id]=$t
		;;
	*) return 2 ;;
	esac
	now
	F_KIND[id]=$kind
	F_END[id]=$((NOW + d))
	F_PHASE[id]=hold
	[ "$kind" != sskill ] || F_PHASE[id]=over
	nfaults=$((nfaults + 1))
	COUNT[$kind]=$((${COUNT[$kind]:-0} + 1))
	sayt "fault $nfaults: $what"
	return 0
}

# Moves fault ID on when its time came; with force, ends it now (heal).
step_fault() {
	local id=$1 force=${2:-0} t=${F_TGT[$1]}
	now
	case "${F_KIND[id]}:${F_PHASE[id]}" in
	*:over) return 0 ;;
	kill:hold | master:hold)
		[ "$force" -eq 1 ] || [ "$NOW" -ge "${F_END[id]}" ] || return 0
		if [ "$t" = m ]; then start_master; else start_replica "$t"; fi
		F_PHASE[id]=rejoin
		F_POLL[id]=$((NOW + 300))
		F_DEADLINE[id]=$((NOW + 20000 * slow))
		;;
	kill:rejoin | master:rejoin)
		[ "$NOW" -ge "${F_POLL[id]}" ] || return 0
		F_POLL[id]=$((NOW + 250))
		if [ "$t" = m ]; then
			if stats_of master0 && [ "$(sv ready)" = 1 ]; then
				ev "master ready again (view $(sv view), leader replica$(sv leader))"
				master_fault=""
				F_PHASE[id]=over
			elif [ "$NOW" -ge "${F_DEADLINE[id]}" ]; then
				problem "the restarted master was not ready within $((20 * slow)) s"
				master_fault=""
				F_PHASE[id]=over
			fi
		else
			if stats_of "replica$t" && [ "$(sv ready)" = 1 ] && [ "$(sv rejoining)" = 0 ]; then
				ev "replica$t rejoined (view $(sv view), exec ${STATS:+$(sv exec_index)})"
				down[t]=""
				F_PHASE[id]=over
			elif [ "$NOW" -ge "${F_DEADLINE[id]}" ]; then
				problem "replica$t did not rejoin within $((20 * slow)) s of its restart"
				F_PHASE[id]=stuck # stays down
			fi
		fi
		;;
	pause:hold)
		[ "$force" -eq 1 ] || [ "$NOW" -ge "${F_END[id]}" ] || return 0
		kill -CONT "${pids[t]}" 2>/dev/null || true
		ev "SIGCONT replica$t"
		down[t]=""
		F_PHASE[id]=over
		;;
	isolate:hold | cut:hold | oneway:hold)
		[ "$force" -eq 1 ] || [ "$NOW" -ge "${F_END[id]}" ] || return 0
		nft_unchain "$id"
		ev "healed ${F_KIND[id]} of replica$t"
		down[t]=""
		F_PHASE[id]=over
		;;
	esac
}

# Processes that died without being killed: recorded, and started again.
check_deaths() {
	local i why
	for ((i = 0; i < n; i++)); do
		[ "${pids[i]:-0}" -gt 0 ] || continue
		alive "${pids[i]}" && continue
		reap "${pids[i]}"
		why=$(grep -m1 -E "runtime error|ERROR: |Assertion|abort" "$dir/replica$i.err" 2>/dev/null || true)
		problem "replica$i (pid ${pids[i]}) died by itself (status $RC${why:+: $why}; see $dir/replica$i.err and replica$i.${incs[i]}.log)"
		pids[i]=0
		start_replica "$i"
	done
	if [ "$mpid" -gt 0 ] && ! alive "$mpid"; then
		reap "$mpid"
		problem "the master (pid $mpid) died by itself (status $RC; see $dir/master.err)"
		mpid=0
		start_master
	fi
}

# ---- checks ---------------------------------------------------------------------------------------
# The final write, then a strong read of every key, appended to the history as a session of
# their own (1000000) after every load-generator operation.
final_ops() {
	local i t rc keys=()
	t=$(history_max_ns "$dir/history.jsonl")
	local fval
	fval=$(printf 'final-%s-%s' "$proto" "$run_seed" | od -An -tx1 | tr -d ' \n')
	rc=0
	"$bin" put -config "$conf" --hex ffffffffffffffff "$fval" >/dev/null 2>>"$dir/final.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		problem "the final write after healing failed (exit $rc)"
	else
		echo "{\"session\":1000001,\"seq\":1,\"op\":\"put\",\"cons\":\"strong\",\"key\":\"ffffffffffffffff\",\"value\":\"$fval\",\"result\":\"\",\"invoke_ns\":$((t + 1)),\"complete_ns\":$((t + 2)),\"status\":\"ok\"}" >>"$dir/history.jsonl"
		t=$((t + 2))
	fi
	for ((i = 0; i < KEYS; i++)); do keys+=("$(printf '%016x' "$i")"); done
	keys+=(ffffffffffffffff)
	# no answer: the cluster does not serve; the other keys would wait as long
	history_reads "$bin" "$conf" "$dir/history.jsonl" "$t" "$dir/final.err" "${keys[@]}" ||
		problem "the final read of key $HR_KEY failed (exit $HR_RC); no further final reads"
}

# Waits until every replica answers, has rejoined, and all agree on view, indexes and digest.
# Sets SAME (1/0) and writes the last stats to stats-final.txt.
converge() {
	local deadline
	now
	deadline=$((NOW + 60000 * slow))
	SAME=0
	while :; do
		if "$bin" stats -config "$conf" >"$dir/stats-final.txt" 2>/dev/null; then
			if awk -v n="$n" '
				/^replica/ { r = $1; next }
				{ v[r, $1] = $2 }
				END {
					for (i = 0; i < n; i++) {
						r = "replica" i
						if (v[r, "ready"] != 1 || v[r, "rejoining"] != 0) exit 1
						if (v[r, "exec_index"] != v[r, "commit_index"]) exit 1
						if (v[r, "exec_index"] != v["replica0", "exec_index"]) exit 1
						if (v[r, "view"] != v["replica0", "view"]) exit 1
						if (v[r, "digest"] != v["replica0", "digest"]) exit 1
					}
				}' "$dir/stats-final.txt"; then
				SAME=1
				return 0
			fi
		fi
		now
		[ "$NOW" -lt "$deadline" ] || return 0
		sleep 0.2
	done
}

# ---- one run ---------------------------------------------------------------------------------------
run_one() {
	run_seed=$1
	local rdir=$2 i
	problems=()
	pids=()
	incs=()
	down=()
	F_KIND=()
	F_TGT=()
	F_END=()
	F_PHASE=()
	F_DEADLINE=()
	F_POLL=()
	COUNT=()
	nfaults=0
	master_fault=""
	mpid=0
	minc=0
	lpid=0
	tmpdir=0
	if [ -n "$rdir" ]; then
		dir=$rdir
		mkdir -p "$dir"
		rm -f "$dir"/*.log "$dir"/*.xlog "$dir"/*.err "$dir"/*.txt "$dir"/*.out "$dir"/*.json \
			"$dir"/history.jsonl
		rm -rf "$dir/master-state" # a fresh cluster starts at view 0
	else
		dir=$(mktemp -d "${TMPDIR:-/tmp}/curpkv-nemesis.XXXXXX")
		tmpdir=1
	fi
	: >"$dir/events.log"
	for ((i = 0; i < n; i++)); do down[i]=""; done
	take_block
	now
	T0=$NOW
	write_conf
	write_schedule
	table=curpkv_nemesis_$block
	nft_ok=0
	ss_ok=0
	if [ "$unix" -eq 1 ]; then
		table=""
		say "-U: Unix sockets (localSockets), which nftables and ss -K do not see: no partition or connection-kill faults"
	else
		if nft add table inet "$table" >/dev/null 2>&1; then
			nft_ok=1
		else
			table=""
			say "warning: nftables is not usable here (install nftables; needs CAP_NET_ADMIN): no partition faults"
		fi
		if ss -K 'dport = :1' >/dev/null 2>&1; then ss_ok=1; else say "warning: ss -K is not usable here: no connection-kill faults"; fi
	fi
	ev "run: -p $proto -n $n -d $dur -s $run_seed$uflag in $dir (replicas $(addr 0)..$(addr $((n - 1))), ports $base_port.., master $(maddr):$((base_port + 15)))"

	# the cluster
	start_master
	for ((i = 0; i < n; i++)); do start_replica "$i"; done
	local ok=0
	for ((i = 0; i < 300 * slow; i++)); do
		if grep -q "cluster ready" "$dir/master.1.log" 2>/dev/null; then ok=1; break; fi
		sleep 0.1
	done
	[ "$ok" -eq 1 ] || { problem "the cluster did not become ready (see $dir/master.1.log)"; finish; return; }

	# the load
	(cd "$dir" && exec "$bin" -run client -config "$conf" -alias client0 >"$dir/client0.out" 2>"$dir/client0.err") &
	lpid=$!
	ok=0
	for ((i = 0; i < 300 * slow; i++)); do
		if grep -q "^progress:" "$dir/client0.err" 2>/dev/null; then ok=1; break; fi
		alive "$lpid" || break
		sleep 0.1
	done
	[ "$ok" -eq 1 ] || { problem "the load generator did not start (see $dir/client0.err)"; finish; return; }
	now
	T0=$NOW
	ev "load running: faults from now on for $dur s"

	# the faults
	local gap kind role d pick dirn pair next=$((NOW + 1000)) waited_since=0 id=0 rc k
	local -a sched
	mapfile -t sched < <(grep -v '^#' "$dir/schedule.txt")
	local si=0
	while :; do
		now
		[ "$NOW" -lt $((T0 + dur * 1000)) ] || break
		check_deaths
		if ! alive "$lpid"; then break; fi
		for k in "${!F_PHASE[@]}"; do step_fault "$k"; done
		if [ "$NOW" -ge "$next" ] && [ "$si" -lt "${#sched[@]}" ]; then
			read -r gap kind role d pick dirn pair <<<"${sched[si]}"
			[ "$waited_since" -gt 0 ] || waited_since=$NOW
			rc=0
			start_fault "$id" "$kind" "$role" "$d" "$pick" "$dirn" || rc=$?
			if [ "$rc" -eq 1 ] && [ $((NOW - waited_since)) -lt $((8000 * slow)) ]; then
				next=$((NOW + 100)) # not now (too many replicas down, no leader yet...)
			else
				[ "$rc" -ne 1 ] || sayt "skip $kind $role: no eligible target for $((8 * slow)) s"
				id=$((id + 1))
				si=$((si + 1))
				waited_since=0
				# the next fault: its gap after this one (0: together with it)
				if [ "$si" -lt "${#sched[@]}" ]; then
					read -r gap _ <<<"${sched[si]}"
					next=$((NOW + gap))
				fi
			fi
		fi
		sleep 0.05
	done

	# heal
	now
	ev "healing"
	for k in "${!F_PHASE[@]}"; do
		case "${F_PHASE[k]}" in hold) step_fault "$k" 1 ;; esac
	done
	local hdeadline=$((NOW + 30000 * slow))
	while [ "$(active_faults)" -gt 0 ]; do
		now
		[ "$NOW" -lt "$hdeadline" ] || break
		for k in "${!F_PHASE[@]}"; do
			[ "${F_PHASE[k]}" != stuck ] || F_PHASE[k]=over
			step_fault "$k"
		done
		sleep 0.1
	done
	check_deaths
	sayt "healed: $(active_faults) fault(s) still open"

	# the load ends (runTime covers $TAIL_S more seconds), then at most replyTimeout to settle
	local ldeadline=$((NOW + (TAIL_S + 30 + 60) * 1000 * slow))
	while alive "$lpid"; do
		now
		if [ "$NOW" -ge "$ldeadline" ]; then
			problem "the load generator did not finish; killed"
			kill -KILL "$lpid" 2>/dev/null || true
			break
		fi
		check_deaths
		sleep 0.2
	done
	reap "$lpid"
	lpid=0
	LG_RC=$RC
	[ "$LG_RC" -eq 0 ] || problem "the load generator exited with status $LG_RC: $(grep -E 'ERROR|Errors:' "$dir/client0.err" "$dir/client0.out" 2>/dev/null | head -3 | tr '\n' ' ')"
	finish
}

# The checks after the load; prints the end line. Sets RUN_OK.
finish() {
	local ops=0 viol=0 lost=0 same=DIVERGED i p rss cst line k
	if [ -f "$dir/history.jsonl" ] && [ "$lpid" -eq 0 ] && [ "$mpid" -gt 0 ]; then
		ops=$(wc -l <"$dir/history.jsonl")
		final_ops
		converge
		[ "$SAME" -eq 1 ] && same=identical
		[ "$SAME" -eq 1 ] || problem "the replicas did not converge within $((60 * slow)) s (see $dir/stats-final.txt)"
		stats_of master0 && ev "master: view $(sv view), $(sv view_changes) view change(s)" || true
		# memory
		for ((i = 0; i < n; i++)); do
			p=${pids[i]:-0}
			rss=$(awk '/^VmRSS:/ {print int($2 / 1024)}' "/proc/$p/status" 2>/dev/null || echo 0)
			ev "replica$i RSS ${rss:-0} MiB"
			[ "${rss:-0}" -lt "$rss_mib" ] || problem "replica$i RSS $rss MiB >= $rss_mib MiB"
		done
		# the history
		cst=0
		local copt=()
		[ "$proto" != curpht ] || copt=(--causal-per-key)
		"$bin" check-history "${copt[@]}" "$dir/history.jsonl" >"$dir/check.txt" 2>&1 || cst=$?
		sed 's/^/  /' "$dir/check.txt" >>"$dir/events.log"
		viol=$(awk '
			/^linearizability:/ { for (i = 1; i <= NF; i++) if ($i ~ /^violations/) v += $(i - 1) }
			/^causal/ && /violations$/ { v += $(NF - 1) }
			/^appends:/ { for (i = 1; i <= NF; i++) if ($i == "violated") v += $(i - 1) }
			/^reads of values never written:/ { }
			END { print v + 0 }' "$dir/check.txt")
		[ "$cst" -ne 2 ] || problem "check-history could not read the history (see $dir/check.txt)"
		[ "$cst" -ne 1 ] || [ "$viol" -gt 0 ] || viol=1
		[ "$cst" -ne 3 ] || ev "check-history: some key exceeded its search budget (unknown, not a violation)"
		if [ "$proto" = curp ]; then
			lost=$(sed -n 's/.* executed twice, \([0-9]*\) lost).*/\1/p' "$dir/check.txt" | head -1)
			lost=${lost:-0}
		else
			lost=$(history_lost "$dir/history.jsonl")
		fi
		while read -r line; do say "  $line"; done < <(grep -h "^first" "$dir/check.txt" || true)
	fi
	# every process still up (none died unkilled), then stopped: each must exit cleanly
	check_deaths
	for ((i = 0; i < n; i++)); do
		p=${pids[i]:-0}
		[ "$p" -gt 0 ] || continue
		kill -TERM "$p" 2>/dev/null || true
	done
	[ "$mpid" -le 0 ] || kill -TERM "$mpid" 2>/dev/null || true
	for ((i = 0; i < n; i++)); do
		p=${pids[i]:-0}
		[ "$p" -gt 0 ] || continue
		reap "$p"
		[ "$RC" -eq 0 ] || problem "replica$i exited with status $RC when stopped (see $dir/replica$i.err)"
	done
	[ "$mpid" -le 0 ] || { reap "$mpid"; [ "$RC" -eq 0 ] || problem "the master exited with status $RC when stopped"; }
	pids=()
	mpid=0
	stop_all
	nft_cleanup
	release_block
	if grep -l -E "ERROR: (Address|Leak|Thread)Sanitizer|runtime error:" "$dir"/*.err >/dev/null 2>&1; then
		problem "sanitizer reports in $(grep -l -E "ERROR: (Address|Leak|Thread)Sanitizer|runtime error:" "$dir"/*.err | tr '\n' ' ')"
	fi
	local per=""
	for k in kill pause isolate cut oneway sskill master; do
		[ -z "${COUNT[$k]:-}" ] || per+="${per:+, }$k ${COUNT[$k]}"
	done
	line="$proto N=$n seed $run_seed: $nfaults faults (${per:-none}), $ops ops, $viol violations, $lost lost, replicas $same"
	RUN_OK=1
	if [ "$viol" -gt 0 ] || [ "$lost" -gt 0 ] || [ "$same" != identical ] || [ "${#problems[@]}" -gt 0 ]; then
		RUN_OK=0
		line+="; FAILED"
		[ "${#problems[@]}" -eq 0 ] || line+=" (${#problems[@]} problem(s): ${problems[0]}$([ "${#problems[@]}" -gt 1 ] && echo '; ...'))"
	fi
	echo "$line" >"$dir/result.txt"
	say "$line"
	tot_faults=$((tot_faults + nfaults))
	tot_ops=$((tot_ops + ops))
	tot_viol=$((tot_viol + viol))
	tot_lost=$((tot_lost + lost))
	[ "$same" = identical ] || tot_div=$((tot_div + 1))
	for k in "${!COUNT[@]}"; do TOT_COUNT[$k]=$((${TOT_COUNT[$k]:-0} + ${COUNT[$k]})); done
	if [ "$RUN_OK" -eq 1 ]; then
		[ "$tmpdir" -eq 0 ] || rm -rf "$dir"
	else
		echo "nemesis: kept $dir (schedule.txt, events.log, logs, history.jsonl, check.txt); replay: scripts/nemesis.sh -p $proto -n $n -d $dur -s $run_seed$uflag -o <dir>"
	fi
}

# ---- main ---------------------------------------------------------------------------------------------
tot_faults=0
tot_ops=0
tot_viol=0
tot_lost=0
tot_div=0
declare -A TOT_COUNT
if [ -n "$lost_file" ]; then
	[ -r "$lost_file" ] || { echo "nemesis: -L: cannot read $lost_file" >&2; exit 2; }
	history_lost "$lost_file"
	exit 0
fi
passed=0
failed=0
failed_seeds=""
start=$(date +%s)
for ((r = 0; r < runs; r++)); do
	s=$((seed + r))
	rd=""
	if [ -n "$outdir" ]; then
		rd=$outdir
		[ "$runs" -eq 1 ] || rd=$outdir/seed-$s
	fi
	run_one "$s" "$rd"
	if [ "$RUN_OK" -eq 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_seeds+=" $s"; fi
done
if [ "$runs" -gt 1 ]; then
	per=""
	for k in kill pause isolate cut oneway sskill master; do
		[ -z "${TOT_COUNT[$k]:-}" ] || per+="${per:+, }$k ${TOT_COUNT[$k]}"
	done
	echo "nemesis: summary: $proto N=$n, $runs runs of $dur s (seeds $seed-$((seed + runs - 1))): $passed passed, $failed failed${failed_seeds:+ (seeds$failed_seeds)}; $tot_faults faults (${per:-none}), $tot_ops ops, $tot_viol violations, $tot_lost lost, $tot_div divergent; $(($(date +%s) - start)) s"
fi
[ "$failed" -eq 0 ]
