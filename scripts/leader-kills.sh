#!/usr/bin/env bash
# Kills the leader with SIGKILL under load, over and over, on real processes (the leader tests
# of tests/test_cluster_runs with more kills): master + 3 replicas (-k3 kills, default 20) and
# master + 5 replicas (-k5 kills, default 10), each killed replica started again (it catches up
# by state transfer) before the next kill. Every operation's result is checked against the
# sessions' models and the replicas must end identical. Prints each kill and the p50/p99 time
# from a kill to the first completed operation in the new view.
#   scripts/leader-kills.sh [-a kills-on-3] [-b kills-on-5]
# Processes are started and stopped by PID by the test program; its scratch dirs are removed.
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
k3=20
k5=10
while getopts "a:b:h" opt; do
	case "$opt" in
	a) k3=$OPTARG ;;
	b) k5=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[[ "$k3" =~ ^[0-9]+$ && "$k5" =~ ^[0-9]+$ && "$k3" -le 64 && "$k5" -le 64 ]] ||
	{ echo "leader-kills: -a and -b take 1..64" >&2; exit 2; }

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -f Makefile ] || scripts/bootstrap.sh >&2
make -s curpkv tests/test_cluster_runs >&2
start=$(date +%s)
set +e
CURPKV_KILLS_3=$k3 CURPKV_KILLS_5=$k5 CLUSTER_TESTS='test_leader_killed_*' \
	tests/test_cluster_runs 2>&1 | grep -E '^# |OK|FAILED|ERROR'
rc=${PIPESTATUS[0]}
set -e
status=0
[ "$rc" -eq 0 ] || status=1
echo "leader-kills: $k3 kills on 3 replicas, $k5 on 5, in $(($(date +%s) - start)) s, exit $status"
exit $status
