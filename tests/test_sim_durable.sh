#!/bin/sh
# make check: the deterministic simulation with durable restarts (docs/durability.md, "Checked by
# the simulation"): every restart that keeps the state rebuilds the replica from its
# write-ahead-log records (core_restore), and every run has one power loss (all replicas down at
# once, back from their records, a new view). Seeds 1-50 of both profiles, every protocol at 3
# and 5 replicas, with the same checks as tests/test_sim. A failing seed is printed with the
# command that replays it (add --durable). Exit status 1 if any seed failed.
build=${CURPKV_BUILDDIR:-$(cd "$(dirname "$0")/.." && pwd)}
exec "$build/tests/test_sim" --seeds 1-50 --profile both --durable
