#!/usr/bin/env bash
# Runs the libFuzzer targets (fuzz/) for a while each and prints executions and crashes.
#   scripts/fuzz.sh [-t seconds-per-target] [-o outdir] [target...]   (targets: proto conf auth wal resp)
# Builds every target with clang -fsanitize=fuzzer,address,undefined in a mktemp -d directory
# (installs clang from Debian if missing), runs each over a scratch corpus seeded from the
# committed one (tests/data/proto; tests/data/{compat,bad,warn} for conf; tests/data/auth and
# tests/data/proto for auth, the handshake; tests/data/wal for wal, segment files; tests/data/resp for resp, Redis requests) so the repository is never written, and prints one
# line per target: "<target>: N executions, M crashes". Crash inputs are kept in outdir (default:
# ./fuzz-out) and the script exits 1 if there are any.
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
secs=60
out=fuzz-out
while getopts "t:o:h" opt; do
	case "$opt" in
	t) secs=$OPTARG ;;
	o) out=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(proto conf auth wal resp)

top=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v clang >/dev/null; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq >/dev/null
	$sudo apt-get install -y -qq --no-install-recommends clang >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$out"

# config.h is what configure would make; the fuzzed modules only need its feature macros.
printf '#define _GNU_SOURCE 1\n#define PACKAGE_VERSION "fuzz"\n' > "$tmp/config.h"
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-std=gnu11 -include "$tmp/config.h" -I"$top" -I"$top/include"
	$(pkg-config --cflags msgpack-c 2>/dev/null || pkg-config --cflags msgpack)
	$(pkg-config --cflags libsodium))
mlibs=$(pkg-config --libs msgpack-c 2>/dev/null || pkg-config --libs msgpack)
slibs=$(pkg-config --libs libsodium)

status=0
for t in "${targets[@]}"; do
	case "$t" in
	proto) srcs=("$top/fuzz/fuzz_proto.c" "$top/proto/proto.c" "$top"/common/*.c)
	       seeds=("$top/tests/data/proto") ;;
	conf) srcs=("$top/fuzz/fuzz_conf.c" "$top"/conf/*.c "$top"/common/*.c)
	      seeds=("$top/tests/data/compat" "$top/tests/data/bad" "$top/tests/data/warn") ;;
	auth) srcs=("$top/fuzz/fuzz_auth.c" "$top/auth/auth.c" "$top/proto/proto.c" "$top"/conf/*.c
		    "$top"/common/*.c)
	      seeds=("$top/tests/data/auth" "$top/tests/data/proto") ;;
	wal) srcs=("$top/fuzz/fuzz_wal.c" "$top"/wal/*.c "$top"/common/*.c)
	     seeds=("$top/tests/data/wal") ;;
	resp) srcs=("$top/fuzz/fuzz_resp.c" "$top/resp/resp.c")
	      seeds=("$top/tests/data/resp") ;;
	*) echo "fuzz: unknown target $t (proto, conf, auth, wal, resp)" >&2; exit 2 ;;
	esac
	clang "${cflags[@]}" "${srcs[@]}" -o "$tmp/fuzz_$t" $mlibs $slibs -lm -lpthread
	mkdir -p "$tmp/corpus_$t"
	log="$tmp/fuzz_$t.log"
	set +e
	"$tmp/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$out/$t-" \
		"$tmp/corpus_$t" "${seeds[@]}" >"$log" 2>&1
	rc=$?
	set -e
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	crashes=$(ls "$out" 2>/dev/null | grep -c "^$t-" || true)
	echo "$t: ${execs:-0} executions in ${secs}s, $crashes crashes (libFuzzer exit $rc)"
	if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
		tail -n 30 "$log" >&2
		status=1
	fi
done
exit $status
