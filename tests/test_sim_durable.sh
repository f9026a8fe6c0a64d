#!/bin/sh
# make check: the deterministic simulation with durable restarts (docs/durability.md, "Checked by
# the simulation"): every restart that keeps the state rebuilds the replica from its
# write-ahead-log records (core_restore), now and then a replica's records become a snapshot, and
# every run has one power loss (all replicas down at once, back from their records, a new view).
# Seeds 1-50 of both profiles, every protocol at 3 and 5 replicas, with the same checks as
# tests/test_sim, then the seeds that found durability bugs. A failing seed is printed with the
# command that replays it. Exit status 1 if any seed failed.
build=${CURPKV_BUILDDIR:-$(cd "$(dirname "$0")/.." && pwd)}
sim=$build/tests/test_sim
status=0
"$sim" --seeds 1-50 --profile both --durable || status=1
# protocol n profile seed: what it found (docs/durability.md)
while read -r p n prof seed; do
	if "$sim" --seed "$seed" --protocol "$p" --n "$n" --profile "$prof" --durable >/dev/null; then
		echo "# durable regression seed $p N=$n profile $prof seed $seed: ok"
	else
		echo "# durable regression seed $p N=$n profile $prof seed $seed FAILED: replay with $sim --seed $seed --protocol $p --n $n --profile $prof --durable -v"
		status=1
	fi
done <<SEEDS
curp 5 1 76
curp 3 2 15
curpho 5 2 91
curp 5 1 128
SEEDS
exit $status
