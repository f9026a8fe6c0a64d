#!/usr/bin/env bash
# make check: scripts/nemesis.sh on the tree's curpkv, one 30-second run per protocol on 3
# replicas (TAP). Its lost-write counter is checked on hand-made histories by
# tests/test_lost_count.sh. Seeds: NEMESIS_SEED (default 1, 2, 3 for
# curp, curpho, curpht: the same schedules every time); NEMESIS_SECONDS (default 30).
# A failing run keeps its directory (printed) and its replay command. The output is TAP; the exit
# status is 1 if any check failed (automake runs .sh tests with its exit-status driver).
set -uo pipefail

src=${CURPKV_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${CURPKV_BUILDDIR:-$src}
export CURPKV_BIN=$build/curpkv
nemesis=$src/scripts/nemesis.sh
secs=${NEMESIS_SECONDS:-30}
# sanitizer builds run slower: longer waits (election timeout, rejoin, convergence); and
# AddressSanitizer's quarantine keeps up to 256 MiB of freed memory resident (replicas of a
# 30-second run measured 266-412 MiB, against 6-9 MiB in a release build)
# (grep reads all of ldd's output: with -q it may exit first, ldd then dies of SIGPIPE and, under
# pipefail, the test took an ASan build for a release one: a CI run failed on the 256 MiB bound)
if ldd "$CURPKV_BIN" 2>/dev/null | grep -E 'lib(a|t)san' >/dev/null; then
	export NEMESIS_SLOW=${NEMESIS_SLOW:-3}
	export NEMESIS_RSS_MIB=${NEMESIS_RSS_MIB:-768}
fi

echo "1..3"

status=0
t=1
s0=${NEMESIS_SEED:-0}
for p in curp curpho curpht; do
	seed=$((s0 > 0 ? s0 : t))
	out=$("$nemesis" -p "$p" -n 3 -d "$secs" -s "$seed" 2>&1)
	rc=$?
	sed 's/^/# /' <<<"$out"
	end=$(grep "^nemesis: $p N=3 seed" <<<"$out" | tail -1 | sed 's/^nemesis: //')
	if [ "$rc" -eq 0 ]; then
		echo "ok $t - $end"
	else
		echo "not ok $t - ${end:-nemesis -p $p exited $rc} (replay: scripts/nemesis.sh -p $p -n 3 -d $secs -s $seed)"
		status=1
	fi
	t=$((t + 1))
done
exit $status
