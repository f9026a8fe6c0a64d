#!/usr/bin/env bash
# make check: scripts/run-local.sh and scripts/sweep-threads.sh report the CPU time per completed
# operation. A 3-replica cluster on free loopback ports runs a 2-second load:
#   1. run-local.sh: summary.txt has "CPU per op: T us (leader L, followers F, clients C,
#      master M) over N ops", N equal to the operations of the class lines, L, F and C positive
#      and T their sum with M; and "Weak reads per replica:" (from `curpkv stats` at the end:
#      stats.txt) names the 3 replicas, at least the report's weak reads, the 2 sessions bound;
#   2. sweep-threads.sh (1 thread, 1 repetition): results.csv has the column cpu_us_per_op,
#      positive in its row, equal to that run's summary; fsync is `conf` without -f;
#   3. sweep-threads.sh -f "memory always": one row per policy, in that order, fsync named; the
#      `always` run's conf has stateDir (under TMPDIR) and `fsync: always` and its replicas
#      opened a write-ahead log there, the `memory` run's conf has `stateDir: none` and no
#      replica opened one; no state directory is left under TMPDIR.
# Every process the scripts start is stopped by them (checked: none of the run's PIDs is left).
set -euo pipefail

src=${CURPKV_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
build=${CURPKV_BUILDDIR:-$src}
export CURPKV_BIN=$build/curpkv
fail() {
	echo "FAIL: $*"
	exit 1
}
[ -x "$CURPKV_BIN" ] || fail "no curpkv binary at $CURPKV_BIN"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# four free ports in a row below the ephemeral range (bounded tries)
base=0
for _ in $(seq 50); do
	b=$((20000 + RANDOM % 12000))
	if [ -z "$(ss -Htan "( sport >= :$b and sport <= :$((b + 3)) )" 2>/dev/null)" ]; then
		base=$b
		break
	fi
done
[ "$base" -gt 0 ] || fail "no 4 free ports found"
cat >"$tmp/run.conf" <<EOF
-- Replicas --
replica0 127.0.0.1:$base
replica1 127.0.0.1:$((base + 1))
replica2 127.0.0.1:$((base + 2))
-- Clients --
client0 127.0.0.1
-- Master --
master0 127.0.0.1
masterPort: $((base + 3))
protocol: curpho
maxDescRoutines: 1000
shards: 64
runTime: 2s
reqs: 1000000
writes: 5
weakRatio: 50
weakWrites: 5
clientThreads: 2
pendings: 10
keySpace: 1000
EOF

# cpu_line <summary>: checks the CPU line against the class lines; prints the total
cpu_line() {
	awk '
		/^(strong|weak)_(read|write): [0-9]+ ops/ { n += $2 }
		/^CPU per op:/ {
			line = $0; t = $4; gsub(/[(),]/, " ", line); split(line, w, " ")
			for (i = 1; (i in w) && w[i] != "seconds:"; i++) {
				if (w[i] == "leader") l = w[i + 1]; if (w[i] == "followers") f = w[i + 1]
				if (w[i] == "clients") c = w[i + 1]; if (w[i] == "master") m = w[i + 1]
				if (w[i] == "over") ops = w[i + 1]
			}
			seen = 1
		}
		END {
			if (!seen) { print "no CPU line"; exit 1 }
			if (ops != n) { printf "over %s ops, the class lines count %d\n", ops, n; exit 1 }
			if (!(l > 0 && f > 0 && c > 0)) { printf "a role without CPU: leader %s followers %s clients %s\n", l, f, c; exit 1 }
			d = t - (l + f + c + m); if (d < 0) d = -d
			if (d > 0.05) { printf "total %s is not the sum of the roles\n", t; exit 1 }
			print t
		}' "$1"
}

# 1. run-local.sh
"$src/scripts/run-local.sh" -c "$tmp/run.conf" -o "$tmp/r1" >"$tmp/r1.out" 2>&1 ||
	fail "run-local.sh failed: $(tail -n 20 "$tmp/r1.out")"
t1=$(cpu_line "$tmp/r1/summary.txt") || fail "run-local.sh summary: $t1"
echo "ok 1 - run-local.sh: $(grep '^CPU per op:' "$tmp/r1/summary.txt")"
# the weak reads each replica served: 3 replicas, at least the weak reads of the report, and the
# 2 sessions bound among them
wr=$(awk '
	/^weak_read: [0-9]+ ops/ { reads = $2 }
	/^Weak reads per replica:/ {
		for (i = 5; i <= NF; i++) {
			if ($i ~ /^replica[0-9]+$/) { n++; served += $(i + 1) }
			if ($i == "sessions") bound += $(i - 1)
		}
		line = $0
	}
	END {
		if (n != 3) { printf "no line for 3 replicas: %s\n", line; exit 1 }
		if (served < reads || reads == 0) { printf "%d served, %d weak reads in the report\n", served, reads; exit 1 }
		if (bound != 2) { printf "%d sessions bound, not 2: %s\n", bound, line; exit 1 }
		print line
	}' "$tmp/r1/summary.txt") || fail "run-local.sh summary: $wr"
[ -s "$tmp/r1/stats.txt" ] || fail "run-local.sh kept no stats.txt"
echo "ok 2 - run-local.sh: $wr"

# 2. sweep-threads.sh
"$src/scripts/sweep-threads.sh" -c "$tmp/run.conf" -t 1 -r 1 -o "$tmp/s" >"$tmp/s.out" 2>&1 ||
	fail "sweep-threads.sh failed: $(tail -n 20 "$tmp/s.out")"
csv=$tmp/s/results.csv
# col <csv> <name> <row>: the value of the named column in data row <row> (1 = the first)
col() {
	awk -F, -v name="$2" -v row="$3" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
		NR == row + 1 && c { print $c }' "$1"
}
row_cpu=$(col "$csv" cpu_us_per_op 1)
[ -n "$row_cpu" ] || fail "results.csv has no cpu_us_per_op: $(head -n 2 "$csv")"
[ "$(col "$csv" fsync 1)" = conf ] || fail "results.csv fsync without -f: $(head -n 2 "$csv")"
t2=$(cpu_line "$tmp/s/conf-t1-r1/summary.txt") || fail "sweep run summary: $t2"
awk -v a="$row_cpu" -v b="$t2" 'BEGIN { exit !(a > 0 && a == b) }' ||
	fail "results.csv cpu_us_per_op '$row_cpu', the run's summary says $t2"
echo "ok 3 - sweep-threads.sh: cpu_us_per_op $row_cpu"

# 3. sweep-threads.sh -f: the durable runs' confs and write-ahead logs
mkdir "$tmp/tmpdir"
TMPDIR=$tmp/tmpdir "$src/scripts/sweep-threads.sh" -c "$tmp/run.conf" -t 1 -r 1 -f "memory always" \
	-o "$tmp/f" >"$tmp/f.out" 2>&1 || fail "sweep-threads.sh -f failed: $(tail -n 20 "$tmp/f.out")"
csv=$tmp/f/results.csv
[ "$(col "$csv" fsync 1) $(col "$csv" fsync 2)" = "memory always" ] ||
	fail "results.csv fsync column: $(cat "$csv")"
for r in 1 2; do
	awk -v t="$(col "$csv" throughput $r)" 'BEGIN { exit !(t > 0) }' || fail "results.csv row $r: $(cat "$csv")"
done
d=$tmp/f/conf-t1-always-r1
grep -q "^stateDir: $tmp/tmpdir/curpkv-sweep\.[^/]*/conf-t1-always-r1\.state\$" "$d/benchmark.conf" ||
	fail "the always run's conf: $(head -n 5 "$d/benchmark.conf")"
grep -q "^fsync: always\$" "$d/benchmark.conf" || fail "the always run's conf: $(head -n 5 "$d/benchmark.conf")"
n=$(grep -l "write-ahead log .*(fsync always)" "$d"/replica*.log | wc -l)
[ "$n" -eq 3 ] || fail "$n of 3 replicas of the always run opened a write-ahead log"
d=$tmp/f/conf-t1-memory-r1
grep -q "^stateDir: none\$" "$d/benchmark.conf" || fail "the memory run's conf: $(head -n 5 "$d/benchmark.conf")"
! grep -q "write-ahead log" "$d"/replica*.log || fail "a replica of the memory run opened a write-ahead log"
[ -z "$(ls -A "$tmp/tmpdir")" ] || fail "left under TMPDIR: $(ls -A "$tmp/tmpdir")"
echo "ok 4 - sweep-threads.sh -f: memory and always runs, stateDir and fsync in the conf, no state left"

# no process left of either run (their master, replicas and clients all logged a PID? check the
# ports instead: nothing listens on them any more)
[ -z "$(ss -Htln "( sport >= :$base and sport <= :$((base + 3)) )" 2>/dev/null)" ] ||
	fail "a process still listens on the run's ports"
echo "ok 5 - nothing left listening on the run's ports"
