#!/usr/bin/env bash
# make check: scripts/large-state.sh small, with 1 KiB chunks so that each state transfer spans
# hundreds of chunks (TAP). 20,000 keys x 100 B on 3 curp replicas under a 10% write load; a
# follower, then the leader, restarted with their state lost. Checks: each rejoined, by a transfer
# of at least 100 chunks; no view change during the follower's transfer; the replicas' digests are
# equal at the end (the script's exit status covers the last two). The figures go to the log.
set -uo pipefail

src=${CURPKV_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${CURPKV_BUILDDIR:-$src}
export CURPKV_BIN=$build/curpkv

echo "1..3"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/curpkv-large-state-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
out=$("$src/scripts/large-state.sh" -k 20000 -v 100 -C 1KiB -o "$tmp/run" 2>&1)
rc=$?
sed 's/^/# /' <<<"$out"
status=0
t=1
for what in follower leader; do
	# figures.txt: WHAT REPLICA SECONDS BYTES CHUNKS RSS_GROWTH_KB PEAK_KB RECEIVER_KB VIEW_CHANGES US
	read -r _ r secs bytes chunks _ _ _ vcs _ < <(grep "^$what " "$tmp/run/figures.txt" 2>/dev/null) ||
		chunks=""
	if [ -n "$chunks" ] && ((chunks >= 100)); then
		echo "ok $t - $what replica$r rejoined in $secs s: $bytes bytes in $chunks chunks, $vcs view change(s)"
	else
		echo "not ok $t - $what: no transfer of at least 100 chunks (figures: '${chunks:-none}')"
		status=1
	fi
	t=$((t + 1))
done
if [ "$rc" -eq 0 ]; then
	echo "ok 3 - $(grep '^digests:' <<<"$out")"
else
	echo "not ok 3 - scripts/large-state.sh exited $rc (a view change during the follower's transfer, a rejoin that never came, or digests not equal)"
	status=1
fi
exit $status
