#!/usr/bin/env bash
# A DEL-heavy soak (issue 17; figures in docs/benchmarks.md "DEL soak"): 3 replicas of PROTO on
# 127.0.0.1 under a load whose writes are half DELs, half PUTs (writes: 100, deletes: 50) of
# 100-byte values over KEYS keys for SECONDS; for curpho and curpht half of the writes are weak
# (weakRatio 50, weakWrites 100), so weak DELs soak too. Every 10 s it samples each replica's RSS
# (/proc/PID/status VmRSS) and the `keys` count of `curpkv stats`, and prints a table; then the
# load generator's figures, the verdict and whether the replicas' digests are equal at the end.
#   scripts/del-soak.sh [-p curp|curpho|curpht] [-k KEYS] [-d SECONDS] [-t THREADS] [-o DIR]
# -p protocol (default curp), -k keys (default 1048576), -d the load's duration (default 600,
# at least 20), -t the load generator's sessions (default 8, each pipelined 8 deep), -o keep the
# run's directory (conf, logs, samples.txt) there instead of a removed temporary one.
# Verdict: flat when no replica's RSS at any sample of the last half of the run exceeds its RSS
# at the half-way mark by more than max(5% of it, 8 MiB). Why: the live set settles at about
# KEYS/2 keys once each key has been written a few times (the table's keys column shows when),
# after which only a leak grows. A tombstone per DEL, the bug this guards against, is 50 bytes or
# more per DEL: at the slowest rate seen here (a few thousand DELs/s) that is tens of MB over the
# last half, far above the slack; the slack absorbs what is not a leak (malloc arenas and
# fragmentation of churned 100-byte values, connection buffers, the map's shards growing once).
# The maximum over the last half, not only the final sample, so a spike that came back counts.
# Exit status 0 when flat with equal digests and the load generator succeeded; 1 otherwise;
# 2 on a usage error. The binary is $CURPKV_BIN, else the tree's curpkv (scripts/run-common.sh).
# -V SAMPLES: only the verdict on a samples.txt of an earlier run (rows T KEYS RSS0 RSS1 RSS2, KiB;
# -d its duration), exit 0 if flat, 1 if not (tests/test_del_soak.sh checks it on made-up rows).
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
proto=curp
keys=1048576
secs=600
threads=8
outdir=
vfile=
while getopts "p:k:d:t:o:V:h" opt; do
	case "$opt" in
	p) proto=$OPTARG ;;
	k) keys=$OPTARG ;;
	d) secs=$OPTARG ;;
	t) threads=$OPTARG ;;
	o) outdir=$OPTARG ;;
	V) vfile=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
for v in "$keys" "$threads" "$secs"; do
	[[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "del-soak: -k, -d and -t need positive integers" >&2; exit 2; }
done
((secs >= 20 && secs <= 86400)) || { echo "del-soak: -d takes 20..86400 seconds" >&2; exit 2; }
case "$proto" in curp | curpho | curpht) ;; *) echo "del-soak: -p curp|curpho|curpht" >&2; exit 2 ;; esac

# verdict SAMPLES: prints "flat|GROWING T_HALF T_LAST KEYS_HALF KEYS_LAST per-replica figures".
# The half-way mark is the first sample at or after SECONDS/2; each replica's largest RSS from
# there on is compared with its RSS there.
verdict() {
	awk -v half=$((secs / 2)) '
	$1 >= half && !seen { seen = 1; th = $1; k0 = $2; for (i = 0; i < 3; i++) { h[i] = $(3 + i); m[i] = h[i] } }
	seen { for (i = 0; i < 3; i++) if ($(3 + i) > m[i]) m[i] = $(3 + i); k1 = $2; tl = $1 }
	END {
		if (!seen) { print "GROWING - - - - no sample after the half-way mark"; exit }
		flat = 1
		for (i = 0; i < 3; i++) {
			allow = h[i] * 0.05; if (allow < 8192) allow = 8192
			g = m[i] - h[i]
			if (g > allow) flat = 0
			line = line sprintf("%sreplica%d %.1f -> max %.1f MiB (%+.1f, allowed %.1f)", i ? "; " : "", i, h[i] / 1024, m[i] / 1024, g / 1024, allow / 1024)
		}
		printf "%s %d %d %s %s %s\n", flat ? "flat" : "GROWING", th, tl, k0, k1, line
	}' "$1"
}
print_verdict() { # print_verdict SAMPLES: the verdict line; returns 1 unless flat
	local word th tl k0 k1 rest
	read -r word th tl k0 k1 rest < <(verdict "$1")
	echo "verdict: $word: from t=$th s to t=$tl s (keys $k0 -> $k1): $rest"
	[ "$word" = flat ]
}
if [ -n "$vfile" ]; then
	[ -r "$vfile" ] || { echo "del-soak: -V: cannot read $vfile" >&2; exit 2; }
	print_verdict "$vfile" && exit 0
	exit 1
fi

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/run-common.sh
. "$top/scripts/run-common.sh"
name=del-soak
# shellcheck source=scripts/cluster-common.sh
. "$top/scripts/cluster-common.sh"
cluster_init


# ---- the cluster --------------------------------------------------------------------------
free_ports || die "no free ports"
base=$BASE
{
	echo "// scripts/del-soak.sh -p $proto -k $keys -d $secs -t $threads"
	echo "-- Replicas --"
	for i in 0 1 2; do echo "replica$i 127.0.0.1:$((base + i))"; done
	echo "-- Clients --"
	echo "client0 127.0.0.1"
	echo "-- Master --"
	echo "master0 127.0.0.1:$((base + 9))"
	echo "protocol: $proto"
	echo "replyTimeout: 60"
	echo "clientThreads: $threads"
	echo "pipeline: true"
	echo "pendings: 8"
	echo "commandSize: 100"
	echo "reqs: 0"
	echo "runTime: ${secs}s"
	echo "writes: 100"
	echo "deletes: 50"
	echo "keySpace: $keys"
	if [ "$proto" = curp ]; then
		echo "weakRatio: 0"
	else
		echo "weakRatio: 50"
		echo "weakWrites: 100"
	fi
} >"$conf"
"$bin" -check -config "$conf" >/dev/null || die "bad conf $conf"

for i in 0 1 2; do
	"$bin" -run server -config "$conf" -alias "replica$i" -log "$dir/replica$i.log" 2>>"$dir/replica$i.err" &
	pids[i]=$!
done
"$bin" -run master -config "$conf" -alias master0 -log "$dir/master.log" 2>>"$dir/master.err" &
mpid=$!

for i in 0 1 2; do wait_ready "$i" || die "replica$i never served (see $dir)"; done


weak=""
[ "$proto" = curp ] || weak=", half of them weak,"
echo "del-soak: $proto N=3, writes 100% (50% DEL, 50% PUT of 100 B)$weak over $keys keys for $secs s, $threads sessions x 8 in flight"

# ---- the soak -------------------------------------------------------------------------------
# sample T: one row of samples.txt (T KEYS RSS0 RSS1 RSS2, KiB) and of the table
sample() {
	local k=- r0 r1 r2
	stats_of replica0 && k=$(sv keys)
	r0=$(rss_kb "${pids[0]}")
	r1=$(rss_kb "${pids[1]}")
	r2=$(rss_kb "${pids[2]}")
	echo "$1 ${k:--} $r0 $r1 $r2" >>"$dir/samples.txt"
	printf '%7s %10s %12s %12s %12s\n' "$1" "${k:--}" "$r0" "$r1" "$r2"
}
: >"$dir/samples.txt"
printf '%7s %10s %12s %12s %12s\n' "t (s)" keys "replica0 KiB" "replica1 KiB" "replica2 KiB"
(cd "$dir" && exec "$bin" -run client -config "$conf" -alias client0 >"$dir/load.log" 2>"$dir/load.err") &
lpid=$!
t0=$(ms)
sample 0
for ((n = 1; n * 10 <= secs; n++)); do
	while (($(ms) < t0 + n * 10000)); do sleep 0.2; done
	for i in 0 1 2; do alive "${pids[$i]}" || die "replica$i died (see $dir/replica$i.err)"; done
	sample $((n * 10))
	# the load ends by itself at about SECONDS: much earlier, it failed
	if ! alive "$lpid" && ((n * 10 + 10 < secs)); then
		echo "load: the load generator stopped after $((n * 10)) s of $secs"
		break
	fi
done
lrc=0
wait "$lpid" || lrc=$?
lpid=0
grep -h "^Throughput:\|^Deletes:\|^Errors:\|^Strong paths:" "$dir/load.log" | sed 's/^/load: /' || true
fail=0
if [ "$lrc" -ne 0 ]; then
	echo "load: the load generator exited with status $lrc (see $dir/load.err)"
	fail=1
fi

# ---- verdict --------------------------------------------------------------------------------
print_verdict "$dir/samples.txt" || fail=1
if converge; then
	echo "digests: equal ($DIGEST), $KEYS_NOW keys on every replica"
else
	echo "digests: NOT equal (see $dir/stats-diverged.txt)"
	fail=1
fi
exit "$fail"
