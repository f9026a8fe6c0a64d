#!/usr/bin/env bash
# make check: the run scripts' shared code (scripts/run-common.sh) outside a cluster.
#   0. the summary of a run whose clients all failed is written.
set -euo pipefail

src=${CURPKV_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

fail() {
	echo "FAIL: $*"
	exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- 0. the summary of a run whose clients all failed -------------------------------------------
# (no report lines: run_summary's grep found nothing and, under set -e and pipefail, ended
# run-local.sh before it printed the clients' errors)
mkdir "$tmp/sum"
: >"$tmp/sum/client0.log"
: >"$tmp/sum/client1.log"
# its own bash: set -e does not apply inside a command tested by ||
bash -c 'set -euo pipefail; top=$1; . "$top/scripts/run-common.sh"; run_summary "$2" test.conf client0 client1' \
	_ "$src" "$tmp/sum" || fail "run_summary failed on a run without client reports"
grep -q "^Aggregate throughput: 0.00 ops/sec (0 client processes)$" "$tmp/sum/summary.txt" ||
	fail "no summary for a run without client reports"
grep -q '^{"strong_write":\[\],"strong_read":\[\],"weak_write":\[\],"weak_read":\[\]}$' "$tmp/sum/latencies.json" ||
	fail "no empty latencies.json for a run without client reports"
echo "ok 0: the summary of a run whose clients all failed"
