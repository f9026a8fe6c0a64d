#!/usr/bin/env bash
# make check: scripts/nemesis.sh on the tree's curpkv, one 30-second run per protocol on 3
# replicas (TAP). First its lost-write counter on hand-made histories (puts and dels; writes
# lost and none lost), so the count it reports can fail. Seeds: NEMESIS_SEED (default 1, 2, 3 for
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

echo "1..4"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/curpkv-nemesis-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# 1: the counter, on hand-made histories, one per case with the count it must print. A line's
# status is ok unless an 11th argument gives it.
line() { # line SESSION SEQ OP CONS KEY VALUE RESULT INVOKE COMPLETE [ORDERED] [STATUS]
	printf '{"session":%s,"seq":%s,"op":"%s","cons":"%s","key":"%s","value":"%s","result":%s,"invoke_ns":%s,"complete_ns":%s,"status":"%s"%s}\n' \
		"$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${11:-ok}" "${10:+,\"ordered_ns\":${10}}"
}
final() { line 1000000 "$1" get strong "$2" '' "$3" 100 101; } # final SEQ KEY RESULT
status=0
fails=()
counter_case() { # counter_case WANT NAME < HISTORY
	local got
	cat >"$tmp/case.jsonl"
	got=$("$nemesis" -L "$tmp/case.jsonl" 2>&1)
	[ "$got" = "$1" ] || fails+=("$2: '$got' (want $1)")
}
# bb was acknowledged after aa completed, the final read returns aa: 1 lost
counter_case 1 "put after the final value" < <(
	line 1 1 put strong 01 aa '""' 10 20; line 2 1 put strong 01 bb '""' 30 40; final 1 01 '"aa"'
)
# the weak write cc took effect (ordered_ns 60) after dd was invoked: legal
counter_case 0 "weak put ordered after a strong put" < <(
	line 1 2 put weak 02 cc '""' 10 12 60; line 2 2 put strong 02 dd '""' 50 55; final 2 02 '"cc"'
)
# deletes: a del after the put leaves the key absent (none lost), and so does a second del
counter_case 0 "put, del, del, read absent" < <(
	line 1 1 put strong 03 ee '""' 10 20; line 2 1 del strong 03 '' '""' 30 40
	line 1 2 del strong 03 '' '""' 50 60; final 1 03 null
)
# a del acknowledged after the put took effect, the final read still returns the put: 1 lost
counter_case 1 "del lost" < <(
	line 1 1 put strong 04 ff '""' 10 20; line 2 1 del strong 04 '' '""' 30 40; final 1 04 '"ff"'
)
# a put invoked after the del took effect, the final read returns nothing: 1 lost
counter_case 1 "put after a del lost" < <(
	line 1 1 del strong 05 '' '""' 10 20; line 2 1 put strong 05 gg '""' 30 40; final 1 05 null
)
# a put without any del, read absent: the put is lost
counter_case 1 "put read absent, no del" < <(
	line 1 1 put strong 06 hh '""' 10 20; final 1 06 null
)
# a weak del ordered at 60, after the put was invoked (50): absent is legal
counter_case 0 "weak del ordered after a put" < <(
	line 1 1 del weak 07 '' '""' 10 12 60; line 2 1 put strong 07 ii '""' 50 55; final 1 07 null
)
# a del whose outcome is unknown may take effect at any time: absent is legal
counter_case 0 "del of unknown outcome" < <(
	line 1 1 put strong 08 jj '""' 10 20; line 2 1 del strong 08 '' '""' 30 40 '' unknown
	line 1 2 put strong 08 kk '""' 50 60; final 1 08 null
)
# a failed del never takes effect: the put is lost
counter_case 1 "failed del" < <(
	line 1 1 put strong 09 ll '""' 10 20; line 2 1 del strong 09 '' '""' 30 40 '' fail
	final 1 09 null
)
if [ "${#fails[@]}" -eq 0 ]; then
	echo "ok 1 - lost-write counter: 9 hand-made histories (puts, dels, weak, unknown, failed)"
else
	echo "not ok 1 - lost-write counter: ${fails[*]}"
	status=1
fi

t=2
s0=${NEMESIS_SEED:-0}
for p in curp curpho curpht; do
	seed=$((s0 > 0 ? s0 : t - 1))
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
