#!/usr/bin/env bash
# scripts/crash-all.sh on the tree's curpkv: one short run per protocol on 3 replicas with
# fsync: always (TAP): kill -9 of every replica and the master under load, a restart of all of
# them, and every acknowledged write must still be there (check-history over the histories of
# before and after, no write lost; docs/durability.md). Seeds: CRASH_SEED (default 1, 2, 3 for
# curp, curpho, curpht); CRASH_SECONDS, the writing load (default 8). A failing run keeps its
# directory (printed by crash-all.sh). Exit status 1 if any run failed.
set -uo pipefail

src=${CURPKV_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${CURPKV_BUILDDIR:-$src}
export CURPKV_BIN=$build/curpkv
secs=${CRASH_SECONDS:-8}
s0=${CRASH_SEED:-0}

echo "1..3"
status=0
t=1
for p in curp curpho curpht; do
	seed=$((s0 > 0 ? s0 : t))
	out=$("$src/scripts/crash-all.sh" -p "$p" -n 3 -f always -d "$secs" -s "$seed" 2>&1)
	rc=$?
	sed 's/^/# /' <<<"$out"
	end=$(grep "^crash-all: $p N=3 fsync=always run 1:" <<<"$out" | tail -1 | sed 's/^crash-all: //')
	if [ "$rc" -eq 0 ]; then
		echo "ok $t - $end"
	else
		echo "not ok $t - ${end:-crash-all -p $p exited $rc} (replay: scripts/crash-all.sh -p $p -n 3 -f always -d $secs -s $seed)"
		status=1
	fi
	t=$((t + 1))
done
exit $status
