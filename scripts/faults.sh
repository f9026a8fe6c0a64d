#!/usr/bin/env bash
# The real-process fault tests of tests/test_cluster_{runs,hybrid,clients,hostile}, repeated: a
# follower killed (SIGKILL) and restarted, paused (SIGSTOP 3 s), its connections killed (ss -K),
# partitioned (nftables); the leader killed and restarted (3 and 5 replicas), paused past
# leaderTimeoutMs, killed under a 50% weak load (curpho, curpht) and under the exactly-once
# append workload (a load-generator process); hostile frames and a flood. Every run checks its
# results (session models, the linearizability, causal and append checkers) and the digests.
#   scripts/faults.sh [-n rounds]      (default 5)
# make check runs each once. Processes are started and stopped by PID by the test program.
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
rounds=5
while getopts "n:h" opt; do
	case "$opt" in
	n) rounds=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[[ "$rounds" =~ ^[0-9]+$ && "$rounds" -ge 1 ]] || { echo "faults: -n takes a count" >&2; exit 2; }

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -f Makefile ] || scripts/bootstrap.sh >&2
programs=(tests/test_cluster_runs tests/test_cluster_hybrid tests/test_cluster_clients
	tests/test_cluster_hostile)
make -s curpkv "${programs[@]}" >&2
# program:pattern (CLUSTER_TESTS selects the tests of a program)
runs=('tests/test_cluster_runs:test_follower_*' 'tests/test_cluster_runs:test_leader_*'
	'tests/test_cluster_hybrid:test_hybrid_*_leader_killed'
	'tests/test_cluster_clients:test_loadgen_appends_*'
	'tests/test_cluster_hostile:test_flood' 'tests/test_cluster_hostile:test_hostile_input')
pass=0
fail=0
start=$(date +%s)
for ((i = 1; i <= rounds; i++)); do
	for r in "${runs[@]}"; do
		prog=${r%%:*} p=${r#*:}
		if CLUSTER_TESTS=$p "$prog" >/dev/null 2>&1; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			echo "faults: round $i: $p failed (rerun: CLUSTER_TESTS='$p' $prog)"
		fi
	done
done
echo "faults: $rounds rounds, $pass passed, $fail failed, in $(($(date +%s) - start)) s"
[ "$fail" -eq 0 ]
