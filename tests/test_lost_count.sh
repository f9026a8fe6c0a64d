#!/usr/bin/env bash
# make check: the lost-write counter of scripts/history-common.sh (history_lost), which
# scripts/nemesis.sh (-L FILE) and scripts/crash-all.sh (-L FILE...) report, on hand-made
# histories with the count each must give, so the count can fail (TAP; exit status 1 if a check
# failed). Then `curpkv check-history` over two histories as one, the way crash-all.sh checks a
# whole-cluster restart: a write acknowledged in the first and a stale final read in the second
# is a violation; the same read returning the write passes. No cluster: fast.
set -uo pipefail

src=${CURPKV_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${CURPKV_BUILDDIR:-$src}
bin=$build/curpkv
nemesis=$src/scripts/nemesis.sh
crash=$src/scripts/crash-all.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/curpkv-lost-count.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0
echo "1..3"

# 1: nemesis -L, on hand-made histories, one per case with the count it must print. A line's
# status is ok unless an 11th argument gives it.
line() { # line SESSION SEQ OP CONS KEY VALUE RESULT INVOKE COMPLETE [ORDERED] [STATUS]
	printf '{"session":%s,"seq":%s,"op":"%s","cons":"%s","key":"%s","value":"%s","result":%s,"invoke_ns":%s,"complete_ns":%s,"status":"%s"%s}\n' \
		"$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${11:-ok}" "${10:+,\"ordered_ns\":${10}}"
}
final() { line 1000000 "$1" get strong "$2" '' "$3" 100 101; } # final SEQ KEY RESULT
fails=()
ncases=0
counter_case() { # counter_case WANT NAME < HISTORY
	local got
	ncases=$((ncases + 1))
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
# a weak put answered but never reported executed (no ordered_ns) may be lost: none lost; the
# same put reported executed (ordered_ns) and missing: 1 lost
counter_case 0 "weak put never executed, lost" < <(
	line 1 1 put strong 0a aa '""' 10 20; line 2 1 put weak 0a bb '""' 30 32; final 1 0a '"aa"'
)
counter_case 1 "weak put executed, lost" < <(
	line 1 1 put strong 0b aa '""' 10 20; line 2 1 put weak 0b bb '""' 30 32 35; final 1 0b '"aa"'
)
# a put whose answer never came (its client crashed) took effect: the final read returns it after
# an acknowledged put: none lost (it may have taken effect after that one)
counter_case 0 "final value from a put of unknown outcome" < <(
	line 1 1 put strong 0c aa '""' 10 20; line 2 1 put strong 0c bb '""' 15 900 '' unknown
	final 1 0c '"bb"'
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
	echo "ok 1 - lost-write counter: $ncases hand-made histories (puts, dels, weak, unknown, failed)"
else
	echo "not ok 1 - lost-write counter: ${fails[*]}"
	status=1
fi


# 2: crash-all -L over two files (before the crash, after the restart; the final reads in the
# second) and appends (curp's workload)
fails=()
two_files() { # two_files WANT NAME: the case is $tmp/a.jsonl and $tmp/b.jsonl
	local got
	got=$("$crash" -L "$tmp/a.jsonl" "$tmp/b.jsonl" 2>&1)
	[ "$got" = "$1" ] || fails+=("$2: '$got' (want $1)")
}
# a put acknowledged before the crash, read absent after the restart: lost
line 1 1 put strong 01 aa '""' 10 20 >"$tmp/a.jsonl"
final 1 01 null >"$tmp/b.jsonl"
two_files 1 "put lost in the restart"
final 1 01 '"aa"' >"$tmp/b.jsonl"
two_files 0 "put kept"
# appends of 2-character elements: x1 and x2 acknowledged, x3 unknown (may or may not be there)
{
	line 1 1 append strong 02 a1 '""' 10 20
	line 1 2 append strong 02 a2 '""' 30 40
	line 2 1 append strong 02 a3 '""' 35 0 '' unknown
	line 2 2 append strong 02 a4 '""' 45 46 '' fail
} >"$tmp/a.jsonl"
final 1 02 '"a1"' >"$tmp/b.jsonl"
two_files 1 "one append lost"
final 1 02 null >"$tmp/b.jsonl"
two_files 2 "every append lost"
final 1 02 '"a1a2"' >"$tmp/b.jsonl"
two_files 0 "appends kept"
final 1 02 '"a1a3a2"' >"$tmp/b.jsonl"
two_files 0 "appends kept, the unknown one executed"
# an element that straddles two others is not one of them ("1a" in "a1a2")
line 1 1 append strong 03 1a '""' 10 20 >"$tmp/a.jsonl"
{ line 1 2 append strong 03 a1 '""' 30 40; line 1 3 append strong 03 a2 '""' 50 60; } >>"$tmp/a.jsonl"
final 1 03 '"a1a2"' >"$tmp/b.jsonl"
two_files 1 "element read only across a boundary"
if [ "${#fails[@]}" -eq 0 ]; then
	echo "ok 2 - crash-all -L: 7 hand-made pairs of histories (a put, appends)"
else
	echo "not ok 2 - crash-all -L: ${fails[*]}"
	status=1
fi

# 3: check-history over the two: the stale read fails, the fresh one passes; the first file
# alone passes
fails=()
line 1 1 put strong 01 aa '""' 10 20 >"$tmp/a.jsonl"
line 1 2 put strong 01 bb '""' 30 40 >>"$tmp/a.jsonl"
line 1 1 get strong 01 '' '"aa"' 50 60 >"$tmp/b.jsonl"
"$bin" check-history "$tmp/a.jsonl" "$tmp/b.jsonl" >"$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 1 ] || fails+=("stale read after the restart: exit $rc (want 1): $(tr '\n' ' ' <"$tmp/out")")
line 1 1 get strong 01 '' '"bb"' 50 60 >"$tmp/b.jsonl"
"$bin" check-history "$tmp/a.jsonl" "$tmp/b.jsonl" 1000 >"$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 0 ] || fails+=("fresh read after the restart: exit $rc (want 0): $(tr '\n' ' ' <"$tmp/out")")
grep -q "^history 2: $tmp/b.jsonl: lines 3-3, sessions + 1000000000000$" "$tmp/out" ||
	fails+=("no 'history 2' line: $(tr '\n' ' ' <"$tmp/out")")
"$bin" check-history "$tmp/a.jsonl" >"$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 0 ] || fails+=("the first history alone: exit $rc (want 0)")
if [ "${#fails[@]}" -eq 0 ]; then
	echo "ok 3 - check-history A B: a stale read after the restart fails, the fresh one passes"
else
	echo "not ok 3 - check-history A B: ${fails[*]}"
	status=1
fi
exit $status
