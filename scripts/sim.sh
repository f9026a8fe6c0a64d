#!/usr/bin/env bash
# Runs the deterministic simulation (tests/test_sim) over many seeds in parallel, and its mutants.
#   scripts/sim.sh [-s first-last] [-p curp|curpho|curpht] [-n 3|5] [-P 1|2|both] [-j jobs]
#                  [-c chunk] [-m] [-D]
# Default: seeds 1-2000 of every protocol, 3 and 5 replicas, both workload profiles
# (docs/testing.md, "Deterministic simulation"). Each configuration's range is split into
# chunks of -c seeds (default: up to 50) run by -j processes at once (default: nproc); every
# seed runs, each failing one is printed with the command that replays it, and one line per
# configuration ends the output:
#   sim: curp N=3 profile 1 seeds 1-2000: 2000 runs, 0 failed
# -m also runs each mutant build (tests/sim_mutant_*) over the same seeds, once per profile: a
# mutant must be caught (a failing run is the good outcome there). -D runs them durable
# (test_sim --durable: restarts rebuild replicas from their log records, one power loss per run;
# docs/durability.md). Builds the programs first
# (scripts/bootstrap.sh if the tree is not configured). Exit status 1 if any seed failed, any
# chunk crashed or any mutant escaped; 2 on a usage error. Ctrl-C stops the runs it started.
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
seeds=1-2000
protos=(curp curpho curpht)
sizes=(3 5)
profiles=(1 2)
jobs=
chunk=
mutants=0
durable=
while getopts "s:p:n:P:j:c:mDh" opt; do
	case "$opt" in
	s) seeds=$OPTARG ;;
	p) protos=("$OPTARG") ;;
	n) sizes=("$OPTARG") ;;
	P) case "$OPTARG" in both) profiles=(1 2) ;; 1 | 2) profiles=("$OPTARG") ;; *)
		echo "sim: -P 1|2|both" >&2; exit 2 ;; esac ;;
	j) jobs=$OPTARG ;;
	c) chunk=$OPTARG ;;
	m) mutants=1 ;;
	D) durable=" --durable" ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[[ "$seeds" =~ ^([0-9]+)-([0-9]+)$ ]] || { echo "sim: -s needs first-last" >&2; exit 2; }
first=${BASH_REMATCH[1]} last=${BASH_REMATCH[2]}
((first >= 1 && last >= first)) || { echo "sim: -s needs 1 <= first <= last" >&2; exit 2; }
for p in "${protos[@]}"; do
	[[ "$p" =~ ^(curp|curpho|curpht)$ ]] || { echo "sim: -p curp|curpho|curpht" >&2; exit 2; }
done
for n in "${sizes[@]}"; do
	[[ "$n" =~ ^[0-9]+$ ]] || { echo "sim: -n needs a replica count" >&2; exit 2; }
done
[ -n "$jobs" ] || jobs=$(nproc)
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "sim: -j needs a positive number" >&2; exit 2; }
nseeds=$((last - first + 1))
if [ -z "$chunk" ]; then
	chunk=$(((nseeds + 4 * jobs - 1) / (4 * jobs))) # 4 chunks per job at least
	((chunk <= 50)) || chunk=50
fi
[[ "$chunk" =~ ^[1-9][0-9]*$ ]] || { echo "sim: -c needs a positive number" >&2; exit 2; }
((BASH_VERSINFO[0] > 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] >= 1))) ||
	{ echo "sim: needs bash >= 5.1 (wait -n -p)" >&2; exit 2; }

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -f Makefile ] || scripts/bootstrap.sh >&2
mutant_progs=()
if [ "$mutants" -eq 1 ]; then
	mutant_progs=(tests/sim_mutant_stale_spec tests/sim_mutant_double_exec
		tests/sim_mutant_double_exec_history tests/sim_mutant_exec_on_timeout
		tests/sim_mutant_no_conflict_check tests/sim_mutant_no_replay
		tests/sim_mutant_no_fencing tests/sim_mutant_scan_short tests/sim_mutant_scan_stale
		tests/sim_mutant_no_expiry_refusal)
fi
make -s tests/test_sim "${mutant_progs[@]}" >&2

tmp=$(mktemp -d)
declare -A running=() # pid -> job index
# shellcheck disable=SC2317 # (called by the trap)
cleanup() {
	local pid
	for pid in "${!running[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${!running[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "sim: interrupted" >&2; exit 130' INT TERM

# The jobs: one per (configuration, chunk) and one per (mutant, profile), in that order.
job_cmd=()   # the command line (printed to replay a crashed chunk)
job_conf=()  # "curp N=3 profile 1" (a sweep) or "mutant <prog> profile 1"
for prof in "${profiles[@]}"; do
	for p in "${protos[@]}"; do
		for n in "${sizes[@]}"; do
			for ((a = first; a <= last; a += chunk)); do
				b=$((a + chunk - 1 < last ? a + chunk - 1 : last))
				job_cmd+=("tests/test_sim --seeds $a-$b --protocol $p --n $n --profile $prof --keep-going$durable")
				job_conf+=("$p N=$n profile $prof")
			done
		done
	done
done
filters=()
[ "${#protos[@]}" -eq 3 ] || filters+=(--protocol "${protos[0]}")
[ "${#sizes[@]}" -eq 2 ] || filters+=(--n "${sizes[0]}")
for m in "${mutant_progs[@]}"; do
	for prof in "${profiles[@]}"; do
		job_cmd+=("$m --seeds $first-$last --profile $prof ${filters[*]}")
		job_conf+=("mutant $m profile $prof")
	done
done

declare -A runs=() failed=() crashed=() caught=()
status=0
start=$(date +%s)
# A finished job: its failing seeds now, its tally for the end.
reap() {
	local i=$1 rc=$2 out="$tmp/$1.out" conf=${job_conf[$1]}
	if [[ "$conf" == mutant* ]]; then
		if [ "$rc" -eq 0 ] && grep -q '^ok 1 - mutant' "$out"; then
			caught[$conf]=$(sed -n 's/^ok 1 - mutant .* caught: //p' "$out")
		else
			caught[$conf]=
		fi
		return
	fi
	grep -E '^# (FAILED|CRASHED)' -A1 "$out" | grep -v '^--$' || true
	local tally
	tally=$(grep -E '^# sim: ' "$out" || true)
	if [[ "$tally" =~ :\ ([0-9]+)\ runs,\ ([0-9]+)\ failed$ ]]; then
		runs[$conf]=$((${runs[$conf]:-0} + BASH_REMATCH[1]))
		failed[$conf]=$((${failed[$conf]:-0} + BASH_REMATCH[2]))
	fi
	if [ -z "$tally" ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; }; then
		echo "sim: ${job_cmd[$i]} ended with status $rc before its tally (a crash: the" \
			"line above names its seed; seeds after it in the chunk did not run)"
		crashed[$conf]=$((${crashed[$conf]:-0} + 1))
		status=1
	fi
}

njobs=${#job_cmd[@]}
next=0
done_jobs=0
while ((done_jobs < njobs)); do
	while ((next < njobs && ${#running[@]} < jobs)); do
		# shellcheck disable=SC2086 # the command is words
		${job_cmd[$next]} >"$tmp/$next.out" 2>"$tmp/$next.err" &
		running[$!]=$next
		next=$((next + 1))
	done
	rc=0
	wait -n -p pid "${!running[@]}" || rc=$?
	i=${running[$pid]}
	unset "running[$pid]"
	reap "$i" "$rc"
	done_jobs=$((done_jobs + 1))
	[ ! -t 2 ] || printf 'sim: %d/%d chunks done\r' "$done_jobs" "$njobs" >&2
done
[ ! -t 2 ] || printf '\n' >&2

for prof in "${profiles[@]}"; do
	for p in "${protos[@]}"; do
		for n in "${sizes[@]}"; do
			conf="$p N=$n profile $prof"
			f=${failed[$conf]:-0}
			c=${crashed[$conf]:-0}
			extra=
			[ "$c" -eq 0 ] || extra=", $c chunks crashed"
			echo "sim: $conf seeds $first-$last: ${runs[$conf]:-0} runs, $f failed$extra"
			[ "$f" -eq 0 ] || status=1
		done
	done
done
for m in "${mutant_progs[@]}"; do
	any=0
	for prof in "${profiles[@]}"; do
		conf="mutant $m profile $prof"
		how=${caught[$conf]}
		if [ -z "$how" ]; then
			echo "sim: $m profile $prof seeds $first-$last: not caught"
			continue
		fi
		# a catch counts only if the real cores pass that seed (else a protocol bug
		# failed it, not the mutant's)
		replay=()
		if [[ "$how" =~ ^(--seed [0-9]+ --protocol [a-z]+ --n [0-9]+ --profile [12]): ]]; then
			read -ra replay <<<"${BASH_REMATCH[1]}"
		fi
		if [ "${#replay[@]}" -gt 0 ] && tests/test_sim "${replay[@]}" >/dev/null 2>&1; then
			echo "sim: $m profile $prof seeds $first-$last: caught (a failing run is" \
				"the good outcome for a mutant): $how"
			any=1
		else
			echo "sim: $m profile $prof seeds $first-$last: inconclusive, its first" \
				"failing seed fails without the mutant too: $how"
		fi
	done
	if [ "$any" -eq 0 ]; then
		echo "sim: MUTANT ESCAPED: $m, by every profile of seeds $first-$last"
		status=1
	fi
done
echo "sim: $njobs jobs on $jobs processes in $(($(date +%s) - start)) s, exit $status"
exit $status
