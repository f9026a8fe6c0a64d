#!/usr/bin/env bash
# Runs a conf with several client processes: locally, or distributed over ssh.
#   scripts/run-multi-client.sh [-d] [-c conf] [-t threads] [-p protocol] [-l latency] [-o outdir] [-h]
# Options as scripts/run-local.sh's. Without -d: exactly run-local.sh (every process of the conf on
# this machine). With -d: every process runs on the host its conf line names, over ssh:
#   SSH_USER       remote user (default: the current one); key authentication, no prompt
#                  (BatchMode)
#   SSH_OPTS       given to every ssh before the script's own options, so its values win:
#                  "-o Key=value" options only, e.g. "-o Port=2222 -o IdentityFile=~/.ssh/bench"
#   REMOTE_DIR     where the binary, the conf, the latency file and scripts/dist-host.sh go on
#                  every host (default /tmp/curpkv-run; a relative path is under the remote home)
#   SSH_TIMEOUT    seconds to connect to a host (default 10); READY_TIMEOUT: seconds to wait for
#                  the cluster (default 60); CURPKV_BIN: the binary (default ./curpkv)
# One ssh connection per host is opened first (an unreachable host fails the run there, named,
# before anything starts) and carries every later step; files travel as tar through it (no scp).
# Master and replicas start detached, their PIDs (curpkv's own) in REMOTE_DIR/<alias>.pid; the
# script waits for the master's "cluster ready" and every replica's "serving" (on failure it says
# what it waited for, where), runs the clients (reports in <outdir>/<client>.log), then stops
# exactly the processes it started, also on failure, Ctrl-C or SIGTERM, says that none is left
# (or which may be), copies back every remote log and latencies-<client>.json, and writes
# run-local.sh's summary. Hosts need sh, tar, ps and curpkv's runtime libraries
# (docs/benchmarks.md, "Running on several machines"). tests/test_dist.sh runs this mode.
set -euo pipefail

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
distributed=false
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	-d) distributed=true; shift ;;
	-h) usage; exit 0 ;;
	-c | -t | -p | -l | -o) [ $# -ge 2 ] || { usage >&2; exit 2; }; args+=("$1" "$2"); shift 2 ;;
	*) usage >&2; exit 2 ;;
	esac
done
if ! $distributed; then
	exec "$top/scripts/run-local.sh" "${args[@]}"
fi
. "$top/scripts/run-common.sh"
me=run-multi-client

conf="$top/conf/local.conf"
threads=""
protocol=""
latency=""
out="$top/results/dist-$(date +%Y%m%d-%H%M%S)"
set -- "${args[@]}"
while [ $# -gt 0 ]; do
	case "$1" in
	-c) conf=$2 ;;
	-t) threads=$2 ;;
	-p) protocol=$2 ;;
	-l) latency=$2 ;;
	-o) out=$2 ;;
	esac
	shift 2
done
[ -f "$conf" ] || { echo "$me: no conf file $conf" >&2; exit 2; }
[ -z "$latency" ] || [ -f "$latency" ] || { echo "$me: no latency file $latency" >&2; exit 2; }
run_check_args "$threads" "$protocol"

user=${SSH_USER:-$(id -un)}
rdir=${REMOTE_DIR:-/tmp/curpkv-run}
# rdir goes into remote command lines unquoted: keep it to characters no shell interprets.
[[ "$rdir" =~ ^[A-Za-z0-9_./-]+$ ]] || { echo "$me: REMOTE_DIR may only hold letters, digits and _ . / -" >&2; exit 2; }
ssh_timeout=${SSH_TIMEOUT:-10}
ready_timeout=${READY_TIMEOUT:-60}
[[ "$ssh_timeout" =~ ^[1-9][0-9]*$ && "$ready_timeout" =~ ^[1-9][0-9]*$ ]] ||
	{ echo "$me: SSH_TIMEOUT and READY_TIMEOUT are seconds (positive integers)" >&2; exit 2; }
ssh_opts=()
read -r -a words <<<"${SSH_OPTS:-}"
i=0
while [ "$i" -lt "${#words[@]}" ]; do
	w=${words[i]}
	if [ "$w" = -o ] && [ $((i + 1)) -lt "${#words[@]}" ] && [[ "${words[i + 1]}" =~ ^[A-Za-z]+=. ]]; then
		ssh_opts+=(-o "${words[i + 1]}")
		i=$((i + 2))
	elif [[ "$w" =~ ^-o[A-Za-z]+=. ]]; then
		ssh_opts+=("$w")
		i=$((i + 1))
	else
		echo "$me: SSH_OPTS takes -o Key=value options only (at '$w')" >&2
		exit 2
	fi
done
# The user's options first: for each option, ssh keeps the first value it is given.
ssh_opts+=(-o BatchMode=yes -o ConnectTimeout="$ssh_timeout" -o ServerAliveInterval=5 -o ServerAliveCountMax=3)

bin=$(run_bin)
mkdir -p "$out"
out=$(cd "$out" && pwd)
run_conf "$conf" "$threads" "$protocol" "$out/benchmark.conf"
check=$("$bin" -check -config "$out/benchmark.conf" 2>"$out/check.err") || {
	cat "$out/check.err" >&2
	exit 1
}

# Every process of the conf as "role alias host" (role: master, server or client; the host
# without its port, an IPv6 address without brackets).
roles=$(awk '
	function host(a) {
		if (a ~ /^\[/) { sub(/^\[/, "", a); sub(/\].*$/, "", a); return a }
		if (gsub(/:/, ":", a) == 1) sub(/:[0-9]+$/, "", a)
		return a
	}
	/^master:/ { print "master", $2, host($3); s = ""; next }
	/^replicas:/ { s = "server"; next }
	/^clients:/ { s = "client"; next }
	/^[a-z]+:/ { s = ""; next }
	s != "" && NF { print s, $1, host($2) }' <<<"$check")
read -r _ m_alias m_host < <(grep '^master ' <<<"$roles" || true)
mapfile -t replicas < <(sed -n 's/^server //p' <<<"$roles") # "alias host"
mapfile -t clients < <(sed -n 's/^client //p' <<<"$roles")
[ -n "${m_alias:-}" ] && [ "${#replicas[@]}" -gt 0 ] && [ "${#clients[@]}" -gt 0 ] || {
	echo "$me: the conf needs replicas, clients and a master" >&2
	exit 1
}
declare -A on_host=() # host -> " alias alias ...": every process started there
declare -A servers=() # host -> " role:alias ...": the master and replicas to start there
host_list=()          # each host once, in conf order
add_host() {
	[ -n "${on_host[$1]+x}" ] || { on_host[$1]=""; servers[$1]=""; host_list+=("$1"); }
}
add_host "$m_host"
servers[$m_host]+=" master:$m_alias"
for e in "${replicas[@]}"; do
	add_host "${e#* }"
	servers[${e#* }]+=" server:${e% *}"
done
for e in "${clients[@]}"; do add_host "${e#* }"; done
lat_arg=-
[ -z "$latency" ] || lat_arg=latency.txt

# One ssh connection per host, made first (this is where an unreachable host fails, before any
# start) and kept open by a master process of ours; every later command to that host goes
# through it (ControlPath), so a step costs no new key exchange. A command whose host's master
# is gone connects on its own.
ctl=$(mktemp -d)
declare -A mux_pid=()
ssh_cmd=(ssh "${ssh_opts[@]}" -o ControlMaster=no -o ControlPath="$ctl/%C")
remote() { # remote <args>: the command line that runs scripts/dist-host.sh <args> on a host
	echo "sh $rdir/dist-host.sh $1"
}

# Steps run on every host at once: each job is the ssh process itself (so stopping it is one
# kill), its output in $ctl/<step>.<host>.
step=""
step_pids=()
declare -A step_host=()
begin_step() {
	step=$1
	step_pids=()
	step_host=()
}
launched() { # launched <host>: records the job just started ($!) for that host
	step_pids+=($!)
	step_host[$!]=$1
}
end_step() { # waits for every job of the step; names each host where it failed
	local p rc=0
	for p in "${step_pids[@]}"; do
		wait "$p" && continue
		rc=1
		echo "$me: $step failed on $user@${step_host[$p]}:" >&2
		sed 's/^/  /' "$ctl/$step.${step_host[$p]}" >&2
	done
	step_pids=()
	return "$rc"
}

cpids=() # local ssh processes of the clients
done_cleanup=false
# Stops every remote process this run started, says whether any is left, copies back the logs
# and latencies (after the stop, so the servers' logs are complete), closes the connections.
# Returns 1 if a process may be left or a host could not be reached for it.
stop_all() {
	local h p rc=0 n=0 line
	$done_cleanup && return 0
	done_cleanup=true
	# a step in flight: a wait is abandoned; copies and starts end first (a start that went on
	# would outlive the stop below)
	if [ "$step" = ready ]; then
		for p in "${step_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	fi
	for p in "${step_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for p in "${cpids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${cpids[@]}"; do wait "$p" 2>/dev/null || true; done
	cpids=()
	begin_step finish
	for h in "${host_list[@]}"; do
		[ -n "${on_host[$h]}" ] || continue
		"${ssh_cmd[@]}" -n "$user@$h" "$(remote "finish 10${on_host[$h]}")" \
			>"$ctl/finish.$h.tar" 2>"$ctl/finish.$h" &
		launched "$h"
	done
	end_step || rc=1
	for h in "${host_list[@]}"; do
		[ -n "${on_host[$h]}" ] || continue
		while read -r line; do
			echo "$me: $h: $line" >&2
			case "$line" in *": stopped" | *": had exited" | *": killed "*) n=$((n + 1)) ;; esac
		done <"$ctl/finish.$h"
		tar -C "$out" -xf "$ctl/finish.$h.tar" 2>/dev/null ||
			echo "$me: $user@$h: the logs of${on_host[$h]} did not come back" >&2
	done
	if [ "$rc" -eq 0 ]; then
		echo "$me: $n remote processes stopped; none is left" >&2
	else
		echo "$me: some remote processes may be left (see above); REMOTE_DIR holds their PID files" >&2
	fi
	for p in "${mux_pid[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${mux_pid[@]}"; do wait "$p" 2>/dev/null || true; done
	mux_pid=()
	return "$rc"
}
on_exit() {
	local status=$?
	stop_all || status=1
	rm -rf "$ctl"
	exit "$status"
}
trap on_exit EXIT
trap 'echo "$me: interrupted; stopping the remote processes" >&2; exit 130' INT
trap 'echo "$me: terminated; stopping the remote processes" >&2; exit 143' TERM

for h in "${host_list[@]}"; do
	ssh -n -N "${ssh_opts[@]}" -o ControlMaster=yes -o ControlPath="$ctl/%C" "$user@$h" 2>"$ctl/$h.err" &
	mux_pid[$h]=$!
done
for h in "${host_list[@]}"; do
	for _ in $(seq $((ssh_timeout * 10 + 50))); do
		"${ssh_cmd[@]}" -O check "$user@$h" 2>/dev/null && continue 2
		kill -0 "${mux_pid[$h]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "$me: cannot reach $user@$h: $(tr '\n' ' ' <"$ctl/$h.err")" >&2
	exit 1
done

# Ship: the binary, the conf, the latency file and the host script, one tar per host.
mkdir "$ctl/stage"
cp "$bin" "$ctl/stage/curpkv"
cp "$out/benchmark.conf" "$top/scripts/dist-host.sh" "$ctl/stage/"
[ -z "$latency" ] || cp "$latency" "$ctl/stage/latency.txt"
begin_step ship
for h in "${host_list[@]}"; do
	tar -C "$ctl/stage" -cf - . |
		"${ssh_cmd[@]}" "$user@$h" "mkdir -p $rdir && tar -C $rdir -xf -" >"$ctl/ship.$h" 2>&1 &
	launched "$h"
done
end_step || exit 1

begin_step start
for h in "${host_list[@]}"; do
	[ -n "${servers[$h]}" ] || continue
	for e in ${servers[$h]}; do on_host[$h]+=" ${e#*:}"; done
	"${ssh_cmd[@]}" -n "$user@$h" "$(remote "start $lat_arg${servers[$h]}")" >"$ctl/start.$h" 2>&1 &
	launched "$h"
done
end_step || exit 1
for h in "${host_list[@]}"; do
	[ -n "${servers[$h]}" ] || continue
	while read -r a p; do echo "$me: $a started on $h, pid $p" >&2; done <"$ctl/start.$h"
done

# Readiness: the master's own word ("cluster ready": a majority of replicas registered) and
# every replica serving (the last ones serve a moment after the master is ready). Each host
# waits at most READY_TIMEOUT s and says what it waited for.
begin_step ready
for h in "${host_list[@]}"; do
	[ -n "${servers[$h]}" ] || continue
	"${ssh_cmd[@]}" -n "$user@$h" "$(remote "ready $ready_timeout${servers[$h]}")" >"$ctl/ready.$h" 2>&1 &
	launched "$h"
done
end_step || { echo "$me: the cluster did not become ready" >&2; exit 1; }
step=""

for e in "${clients[@]}"; do
	c=${e% *} h=${e#* }
	on_host[$h]+=" $c"
	"${ssh_cmd[@]}" -n "$user@$h" "$(remote "client $lat_arg $c")" >"$out/$c.log" 2>"$out/$c.err" &
	cpids+=($!)
done
status=0
for p in "${cpids[@]}"; do wait "$p" || status=1; done
cpids=()
stop_all || status=1

names=()
for e in "${clients[@]}"; do names+=("${e% *}"); done
run_summary "$out" "$conf" "${names[@]}"
run_report "$out" "$status" "${names[@]}"
exit "$status"
