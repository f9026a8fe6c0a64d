#!/usr/bin/env bash
# The real-process fault tests of tests/test_cluster, repeated: a follower killed (SIGKILL) and
# restarted, paused (SIGSTOP 3 s), its connections killed (ss -K), partitioned (nftables); the
# leader killed and restarted (3 replicas, 5 replicas), paused past leaderTimeoutMs, killed under
# a 50% weak load (curpho, curpht), killed under the exactly-once append workload (a load-generator
# process); hostile frames and a flood. Every run checks its results (per session models, the
# linearizability, causal and append checkers) and the replicas' digests.
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
make -s curpkv tests/test_cluster >&2
patterns=('test_follower_*' 'test_leader_*' 'test_hybrid_*_leader_killed'
	'test_loadgen_appends_*' 'test_flood' 'test_hostile_input')
pass=0
fail=0
start=$(date +%s)
for ((i = 1; i <= rounds; i++)); do
	for p in "${patterns[@]}"; do
		if CLUSTER_TESTS=$p tests/test_cluster >/dev/null 2>&1; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			echo "faults: round $i: $p failed (rerun: CLUSTER_TESTS='$p' tests/test_cluster)"
		fi
	done
done
echo "faults: $rounds rounds, $pass passed, $fail failed, in $(($(date +%s) - start)) s"
[ "$fail" -eq 0 ]
