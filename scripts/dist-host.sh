#!/bin/sh
# The host side of a distributed run: scripts/run-multi-client.sh -d copies this script, the
# binary (curpkv) and the run's conf (benchmark.conf) into REMOTE_DIR on every host and runs it
# there over ssh, one command per step and host. Everything happens in the script's directory.
#   sh dist-host.sh start <latency|-> <role:alias>...  master or server processes, detached;
#                                      prints "<alias> <pid>" for each
#   sh dist-host.sh ready <seconds> <role:alias>...    waits until each master's log says
#                                      "cluster ready" and each server's "serving: view"
#   sh dist-host.sh client <latency|-> <alias>         the load generator in the foreground
#                                      (its report on stdout, progress on stderr)
#   sh dist-host.sh finish <seconds> <alias>...        SIGTERM to those running, SIGKILL after
#                                      <seconds>; one line each on stderr, then a tar of their
#                                      logs and latencies on stdout; fails if one is left
# Invariant: <alias>.pid holds the PID of that alias's curpkv itself (the process that runs it
# is exec'd into it), written before it runs, so finish never signals a wrapper and leaves
# curpkv behind. POSIX sh: the remote login shell only has to run "sh <file> <args>".
set -eu
cd "$(dirname "$0")"

# alive <alias>: true if the PID in <alias>.pid is a running curpkv (a zombie is not: on hosts
# whose init does not reap, a stopped process stays one).
alive() {
	pid=$(cat "$1.pid" 2>/dev/null) || return 1
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	st=$(ps -o stat= -p "$pid" 2>/dev/null) || return 1
	case $st in Z*) return 1 ;; esac
	[ "$(ps -o comm= -p "$pid" 2>/dev/null)" = curpkv ]
}

tail_logs() { # tail_logs <alias>: the end of its log and stderr, indented
	for f in "$1.log" "$1.err"; do
		[ -s "$f" ] || continue
		echo "  last lines of $PWD/$f:"
		tail -n 8 "$f" | sed 's/^/    /'
	done
}

latency() { # latency <latency|->: the -latency option, or nothing
	[ "$1" = - ] || printf '%s\n' "-latency $1"
}

cmd=${1:-}
[ $# -eq 0 ] || shift
case $cmd in
start)
	lat=$(latency "$1")
	shift
	for ra; do
		role=${ra%%:*} alias=${ra#*:}
		rm -f "$alias.pid" "$alias.log" "$alias.err"
		# A simple command run with & is forked and exec'd directly: $! is nohup's PID, and
		# nohup execs curpkv. Every descriptor is redirected, so the ssh channel closes when
		# this script returns. ($lat is one option and a file name without blanks.)
		# shellcheck disable=SC2086
		nohup ./curpkv -run "$role" -config benchmark.conf -alias "$alias" -log "$alias.log" \
			$lat </dev/null >"$alias.err" 2>&1 &
		echo $! >"$alias.pid"
		echo "$alias $!"
	done
	;;
ready)
	secs=$1
	shift
	i=0
	while :; do
		pending=""
		for ra; do
			alias=${ra#*:}
			case ${ra%%:*} in master) text="cluster ready" ;; *) text="serving: view" ;; esac
			grep -q "$text" "$alias.log" 2>/dev/null && continue
			if ! alive "$alias"; then
				echo "$alias exited before its log said '$text'"
				tail_logs "$alias"
				exit 1
			fi
			pending=1
			[ "$i" -lt $((secs * 10)) ] && continue
			echo "waited $secs s for '$text' in $PWD/$alias.log"
			tail_logs "$alias"
		done
		[ -n "$pending" ] || exit 0
		[ "$i" -lt $((secs * 10)) ] || exit 1
		i=$((i + 1))
		sleep 0.1
	done
	;;
client)
	lat=$(latency "$1")
	alias=$2
	rm -f "$alias.pid" "latencies-$alias.json"
	echo $$ >"$alias.pid"
	# shellcheck disable=SC2086
	exec ./curpkv -run client -config benchmark.conf -alias "$alias" $lat </dev/null
	;;
finish)
	secs=$1
	shift
	was_up=" "
	for a; do
		if alive "$a"; then
			was_up="$was_up$a "
			kill -TERM "$(cat "$a.pid")" 2>/dev/null || true
		fi
	done
	i=0
	while [ "$i" -lt $((secs * 10)) ]; do
		up=""
		for a; do alive "$a" && up=1; done
		[ -n "$up" ] || break
		i=$((i + 1))
		sleep 0.1
	done
	left=0
	for a; do
		pid=$(cat "$a.pid" 2>/dev/null) || pid=""
		if [ -z "$pid" ]; then
			echo "$a: not started (no PID file)"
		elif ! alive "$a"; then
			case $was_up in
			*" $a "*) echo "$a pid $pid: stopped" ;;
			*) echo "$a pid $pid: had exited" ;;
			esac
		else
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.2
			if alive "$a"; then
				echo "$a pid $pid: STILL RUNNING after SIGKILL"
				left=1
			else
				echo "$a pid $pid: killed (SIGTERM did not stop it in $secs s)"
			fi
		fi
	done >&2
	for a; do
		for f in "$a.log" "$a.err" "latencies-$a.json"; do
			[ -f "$f" ] && echo "$f"
		done
	done | tar -cf - -T -
	exit "$left"
	;;
*)
	sed -n '2,16p' "$0" >&2
	exit 2
	;;
esac
