#!/usr/bin/env bash
# Runs the deterministic simulation (tests/sim.c) over many seeds, and its mutants.
#   scripts/sim.sh [-s first-last] [-p curp|curpho|curpht] [-n 3|5] [-m]
# Default seeds 1-2000 on every protocol and 3 and 5 replicas (each seed: 4 sessions x 40
# operations with 1% frame loss, 1% duplication, follower crashes and, for curp and curpht,
# leader crashes with view changes; every history checked).
# -m also runs each mutant build over the same seeds (each must be caught). Builds the test
# programs first (scripts/bootstrap.sh if the tree is not configured). A failing seed prints the
# command that replays it; the exit status is 1 then.
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
seeds=1-2000
args=()
mutants=0
while getopts "s:p:n:mh" opt; do
	case "$opt" in
	s) seeds=$OPTARG ;;
	p) args+=(--protocol "$OPTARG") ;;
	n) args+=(--n "$OPTARG") ;;
	m) mutants=1 ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[[ "$seeds" =~ ^[0-9]+-[0-9]+$ ]] || { echo "sim: -s needs first-last" >&2; exit 2; }

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -f Makefile ] || scripts/bootstrap.sh >&2
progs=(tests/test_sim)
[ "$mutants" -eq 0 ] || progs+=(tests/sim_mutant_stale_spec tests/sim_mutant_double_exec
	tests/sim_mutant_exec_on_timeout tests/sim_mutant_no_conflict_check tests/sim_mutant_no_replay
	tests/sim_mutant_no_fencing)
make -s "${progs[@]}" >&2

status=0
start=$(date +%s)
tests/test_sim --seeds "$seeds" "${args[@]}" || status=1
for m in "${progs[@]:1}"; do
	"$m" --seeds "$seeds" "${args[@]}" || status=1
done
echo "sim: seeds $seeds in $(($(date +%s) - start)) s, exit $status"
exit $status
