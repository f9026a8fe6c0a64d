#!/usr/bin/env bash
# Sets up (scripts/bootstrap.sh, with any configure arguments given) and runs the test suite
# (make check), then prints "N passed, N failed" from automake's test-suite.log.
#   scripts/test.sh [configure arguments...]          e.g. --enable-asan --enable-werror
set -euo pipefail
case "${1:-}" in -h | --help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
scripts/bootstrap.sh "$@"

jobs=$(nproc 2>/dev/null || echo 2)
status=0
make -s -j"$jobs" check || status=$?

counts() { # counts <test-suite.log>: prints "pass fail"
	awk '/^# PASS:/ {p=$3} /^# FAIL:/ {f+=$3} /^# ERROR:/ {f+=$3} /^# XPASS:/ {f+=$3}
	     END {printf "%d %d\n", p, f}' "$1"
}
if [ -f test-suite.log ]; then
	read -r pass fail < <(counts test-suite.log)
	[ "$status" -eq 0 ] || [ "$fail" -gt 0 ] || fail=1
	echo "$pass passed, $fail failed"
else
	echo "0 passed, 1 failed"
	status=1
fi
exit "$status"
