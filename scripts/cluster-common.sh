# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034 # the caller sets the globals below; the functions set BASE, STATS, DIGEST, KEYS_NOW for it
# The pieces of a 3-replica test cluster that scripts/large-state.sh and scripts/del-soak.sh
# share: sourced after run-common.sh, once the script has set
#   name    its name, for messages and its conf file ("large-state")
#   top     the source tree
#   outdir  where logs go ("": a mktemp -d directory, removed at exit unless keep=1)
# cluster_init then sets bin (run-common.sh's run_bin), dir (the logs), conf ($dir/$name.conf),
# pids (the replicas' PIDs, 0: not running), mpid (the master's) and lpid (a load generator's),
# and stops all of them by PID at exit. Loops are bounded.

cluster_init() {
	bin=$(run_bin)
	if [ -n "$outdir" ]; then
		mkdir -p "$outdir"
		dir=$(cd "$outdir" && pwd)
	else
		dir=$(mktemp -d)
	fi
	conf=$dir/$name.conf
	pids=(0 0 0)
	mpid=0
	lpid=0
	trap cluster_cleanup EXIT
	trap 'echo "$name: interrupted" >&2; exit 130' INT TERM
}
cluster_cleanup() {
	local p
	for p in "$lpid" "${pids[@]}" "$mpid"; do stop_pid "$p"; done
	[ -n "$outdir" ] || [ "${keep:-0}" = 1 ] || rm -rf "$dir"
}

alive() { [ "$1" -gt 0 ] 2>/dev/null && kill -0 "$1" 2>/dev/null; }
stop_pid() { # stop_pid PID: TERM, then KILL after 10 s
	local p=$1 i
	alive "$p" || { wait "$p" 2>/dev/null || true; return 0; }
	kill -TERM "$p" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do alive "$p" || break; sleep 0.1; done
	alive "$p" && kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null || true
}
die() { echo "$name: $*" >&2; exit 1; }
ms() { local t=${EPOCHREALTIME/./}; echo $((10#$t / 1000)); }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
stats_of() { STATS=$("$bin" stats -config "$conf" -alias "$1" 2>/dev/null) || return 1; }
sv() { awk -v k="$1" '$1 == k {print $2; exit}' <<<"$STATS"; }

# free_ports: sets BASE to the first of 10 free TCP ports (replicas BASE.., the master BASE+9)
free_ports() {
	local try b
	for ((try = 0; try < 50; try++)); do
		b=$((21000 + (($$ + try * 37) % 400) * 10))
		if [ -z "$(ss -Htln "( sport >= :$b and sport <= :$((b + 9)) )" 2>/dev/null | head -1)" ]; then
			BASE=$b
			return 0
		fi
	done
	return 1
}

# wait_ready I [MS]: replica I serves and has left its rejoin hold (MS, default 60,000, at most)
wait_ready() {
	local limit=$(($(ms) + ${2:-60000}))
	while (($(ms) < limit)); do
		alive "${pids[$1]}" || return 1
		if stats_of "replica$1" && [ "$(sv ready)" = 1 ] && [ "$(sv rejoining)" = 0 ]; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# converge: within 120 s every replica has executed what it knows committed, the same index as
# replica0, with equal digests and key counts; sets DIGEST and KEYS_NOW. Otherwise writes the last
# stats to $dir/stats-diverged.txt and returns 1.
converge() {
	local limit=$(($(ms) + 120000)) out=""
	while (($(ms) < limit)); do
		if out=$("$bin" stats -config "$conf" 2>/dev/null) && awk '
			/^replica/ { r = $1; next }
			{ v[r, $1] = $2 }
			END {
				for (i = 0; i < 3; i++) {
					r = "replica" i
					if (v[r, "ready"] != 1 || v[r, "rejoining"] != 0) exit 1
					if (v[r, "exec_index"] != v[r, "commit_index"]) exit 1
					if (v[r, "exec_index"] != v["replica0", "exec_index"]) exit 1
					if (v[r, "digest"] != v["replica0", "digest"]) exit 1
					if (v[r, "keys"] != v["replica0", "keys"]) exit 1
				}
			}' <<<"$out"; then
			DIGEST=$(awk '$1 == "digest" {print $2; exit}' <<<"$out")
			KEYS_NOW=$(awk '$1 == "keys" {print $2; exit}' <<<"$out")
			return 0
		fi
		sleep 0.2
	done
	echo "$out" >"$dir/stats-diverged.txt"
	return 1
}
