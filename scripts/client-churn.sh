#!/usr/bin/env bash
# Client churn (issue 17 item 3; figures in docs/benchmarks.md "Client churn"): 3 replicas of PROTO
# on 127.0.0.1 with clientLeaseMs LEASE, and bench/bench_churn running CLIENTS short-lived clients
# (each a client id from the master that writes once, on one of SESSIONS sessions, and is never
# heard from again; every RECONNECT-th client of a session on new connections). Every 2 s it
# samples each replica's RSS (/proc/PID/status VmRSS) and the client records it holds
# (`curpkv stats`: clients_live, clients_expired), and prints a table; once the driver is done it
# samples 3 leases more (the last records expire), then the verdict.
#   scripts/client-churn.sh [-n CLIENTS] [-l LEASE_MS] [-s SESSIONS] [-r RECONNECT]
#                           [-p curp|curpho|curpht] [-o DIR]
# Defaults: 100000 clients, a lease of 5000 ms, 32 sessions, a reconnect every 10 clients, curp.
# -l 0 turns leases off (every record stays: the growth the leases remove). -o keeps the run's
# directory (conf, logs, samples.txt) there instead of a removed temporary one.
# Verdict: flat when no replica's RSS at any sample from 2 leases after the start on exceeds its
# RSS at that mark by more than max(5% of it, 8 MiB), and when, at the end, every replica holds
# fewer records than 1% of the clients. Why: once the first clients' leases ran out (a lease, plus
# an eighth of one between the leader's looks, plus the EXPIRE's round), records come and go at
# the same rate (about rate x 1.2 leases of them live), so only a leak grows; without leases each
# client's record (about 550 bytes) stays, which the slack does not absorb at this scale.
# Exit status 0 when flat and the driver succeeded; 1 otherwise; 2 on a usage error. The binary is
# $CURPKV_BIN, else the tree's curpkv (scripts/run-common.sh); the driver the tree's
# bench/bench_churn (built if missing).
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
clients=100000
lease=5000
sessions=32
reconnect=10
proto=curp
outdir=
while getopts "n:l:s:r:p:o:h" opt; do
	case "$opt" in
	n) clients=$OPTARG ;;
	l) lease=$OPTARG ;;
	s) sessions=$OPTARG ;;
	r) reconnect=$OPTARG ;;
	p) proto=$OPTARG ;;
	o) outdir=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
for v in "$clients" "$sessions"; do
	[[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "client-churn: -n and -s need positive integers" >&2; exit 2; }
done
if ! [[ "$lease" =~ ^[0-9]+$ ]] || ((lease > 0 && lease < 100)); then
	echo "client-churn: -l takes 0 or 100.. ms" >&2
	exit 2
fi
[[ "$reconnect" =~ ^[0-9]+$ ]] || { echo "client-churn: -r needs a number" >&2; exit 2; }
case "$proto" in curp | curpho | curpht) ;; *) echo "client-churn: -p curp|curpho|curpht" >&2; exit 2 ;; esac

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/run-common.sh
. "$top/scripts/run-common.sh"
name=client-churn
# shellcheck source=scripts/cluster-common.sh
. "$top/scripts/cluster-common.sh"
cluster_init
driver=$top/bench/bench_churn
[ -x "$driver" ] || make -s -C "$top" bench/bench_churn >&2 || die "cannot build bench/bench_churn"

# ---- the cluster --------------------------------------------------------------------------
free_ports || die "no free ports"
base=$BASE
{
	echo "// scripts/client-churn.sh -n $clients -l $lease -s $sessions -r $reconnect -p $proto"
	echo "-- Replicas --"
	for i in 0 1 2; do echo "replica$i 127.0.0.1:$((base + i))"; done
	echo "-- Clients --"
	echo "client0 127.0.0.1"
	echo "-- Master --"
	echo "master0 127.0.0.1:$((base + 9))"
	echo "protocol: $proto"
	echo "clientLeaseMs: $lease"
	echo "maxClients: 4096"
	echo "replyTimeout: 30"
} >"$conf"
"$bin" -check -config "$conf" >/dev/null || die "bad conf $conf"

for i in 0 1 2; do
	"$bin" -run server -config "$conf" -alias "replica$i" -log "$dir/replica$i.log" 2>>"$dir/replica$i.err" &
	pids[i]=$!
done
"$bin" -run master -config "$conf" -alias master0 -log "$dir/master.log" 2>>"$dir/master.err" &
mpid=$!
for i in 0 1 2; do wait_ready "$i" || die "replica$i never served (see $dir)"; done

echo "client-churn: $proto N=3, clientLeaseMs $lease, $clients clients (one write each) on $sessions sessions, new connections every ${reconnect:-0} clients"

# ---- the churn ------------------------------------------------------------------------------
# sample T: one row of samples.txt (T DONE RSS0 RSS1 RSS2 (KiB) LIVE0 LIVE1 LIVE2 EXPIRED0) and
# of the table
sample() {
	local done_=- r=() l=() x=-
	done_=$(awk '/^t=/ {d = $3} END {print d + 0}' "$dir/driver.out" 2>/dev/null || echo 0)
	for i in 0 1 2; do
		r[i]=$(rss_kb "${pids[$i]}")
		l[i]=-
		if stats_of "replica$i"; then
			l[i]=$(sv clients_live)
			((i > 0)) || x=$(sv clients_expired)
		fi
	done
	echo "$1 $done_ ${r[*]} ${l[*]} $x" >>"$dir/samples.txt"
	printf '%6s %8s %9s %9s %9s %8s %8s %8s %9s\n' "$1" "$done_" "${r[@]}" "${l[@]}" "$x"
}
: >"$dir/samples.txt"
printf '%6s %8s %9s %9s %9s %8s %8s %8s %9s\n' "t (s)" clients "rss0 KiB" "rss1 KiB" "rss2 KiB" \
	live0 live1 live2 expired0
(cd "$dir" && exec "$driver" -config "$conf" -alias client0 -clients "$clients" \
	-sessions "$sessions" -reconnect "$reconnect" >"$dir/driver.out" 2>"$dir/driver.err") &
lpid=$!
t0=$(ms)
sample 0
tail_s=$(((3 * lease + 1999) / 1000)) # samples after the driver is done: 3 leases
((tail_s >= 6)) || tail_s=6
end_at=0
for ((n = 1; n <= 100000; n++)); do
	while (($(ms) < t0 + n * 2000)); do sleep 0.1; done
	for i in 0 1 2; do alive "${pids[$i]}" || die "replica$i died (see $dir/replica$i.err)"; done
	sample $((n * 2))
	if ((end_at == 0)) && ! alive "$lpid"; then
		end_at=$((n * 2 + tail_s))
	fi
	((end_at == 0 || n * 2 < end_at)) || break
done
lrc=0
wait "$lpid" || lrc=$?
lpid=0
tail -1 "$dir/driver.out" | sed 's/^/driver: /'
fail=0
if [ "$lrc" -ne 0 ]; then
	echo "driver: exited with status $lrc (see $dir/driver.err)"
	sed 's/^/driver: /' "$dir/driver.err" | head -5
	fail=1
fi

# ---- verdict --------------------------------------------------------------------------------
# RSS: each replica's largest from the mark (2 leases in; for -l 0, a third of the run) on, against
# its RSS at the mark. Records: each replica's clients_live at the last sample.
mark=$(((2 * lease + 999) / 1000))
((lease > 0)) || mark=$((n * 2 / 3))
awk -v mark="$mark" -v clients="$clients" '
	$1 >= mark && !seen { seen = 1; t = $1; for (i = 0; i < 3; i++) { h[i] = $(3 + i); m[i] = h[i] } }
	seen { for (i = 0; i < 3; i++) if ($(3 + i) > m[i]) m[i] = $(3 + i) }
	{ for (i = 0; i < 3; i++) live[i] = $(6 + i); last = $1; exp0 = $9 }
	END {
		if (!seen) { print "verdict: GROWING: no sample after the mark"; exit 1 }
		flat = 1
		for (i = 0; i < 3; i++) {
			allow = h[i] * 0.05; if (allow < 8192) allow = 8192
			if (m[i] - h[i] > allow) flat = 0
			if (live[i] == "-" || live[i] > clients / 100) flat = 0
			line = line sprintf("%sreplica%d %.1f -> max %.1f MiB (%+.1f, allowed %.1f), %s records left", i ? "; " : "", i, h[i] / 1024, m[i] / 1024, (m[i] - h[i]) / 1024, allow / 1024, live[i])
		}
		printf "verdict: %s: from t=%d s to t=%d s: %s; %s clients expired at replica0\n", flat ? "flat" : "GROWING", t, last, line, exp0
		exit flat ? 0 : 1
	}' "$dir/samples.txt" || fail=1
exit "$fail"
