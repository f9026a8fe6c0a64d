# shellcheck shell=bash
# Shared by scripts/run-local.sh and scripts/run-multi-client.sh (sourced, not run): the binary,
# the effective conf of a run, its summary and its report, so a local and a distributed run of
# the same conf write the same files and print the same lines.
# Needs $top (the source tree). CURPKV_BIN names the binary to run (default $top/curpkv, built by
# scripts/bootstrap.sh when missing); the test suite sets it for builds outside the source tree.

# run_bin: prints the binary's path, building it first if it is the default and missing.
run_bin() {
	local bin=${CURPKV_BIN:-$top/curpkv}
	if [ ! -x "$bin" ] && [ -z "${CURPKV_BIN:-}" ]; then
		"$top/scripts/bootstrap.sh" >&2
	fi
	[ -x "$bin" ] || { echo "${0##*/}: no curpkv binary at $bin" >&2; return 1; }
	echo "$bin"
}

# run_conf <conf> <threads> <protocol> <dest>: writes the conf of the run to dest. A non-empty
# threads or protocol overrides the conf's: the override goes first (a key line before the first
# section is global) and the conf's own lines for that key are dropped from the copy.
run_conf() {
	local drop='a^' # matches no line
	[ -z "$2" ] || drop="$drop|^[[:space:]]*(clientThreads|clones)[[:space:]:]"
	[ -z "$3" ] || drop="$drop|^[[:space:]]*protocol[[:space:]:]"
	{
		[ -z "$2" ] || echo "clientThreads: $2"
		[ -z "$3" ] || echo "protocol: $3"
		grep -v -i -E "$drop" "$1" || true
	} >"$4"
}

# run_conf_set <conf> <dest> [<key> <value>]...: writes to dest (which may be conf itself) the conf
# with each key set to its value, the same way run_conf overrides: "key: value" first (global),
# the conf's own lines for the key dropped (Apply-to sections' too). A pair with an empty value
# is left out (the conf's line stays). The one way the scripts set keys such as stateDir/fsync
# (scripts/sweep-threads.sh -f) on a conf they were given.
run_conf_set() {
	local src=$1 dest=$2 drop='a^' sets=""
	shift 2
	while [ $# -ge 2 ]; do
		if [ -n "$2" ]; then
			drop="$drop|^[[:space:]]*$1[[:space:]:]"
			sets+="$1: $2"$'\n'
		fi
		shift 2
	done
	{
		printf '%s' "$sets"
		grep -v -i -E "$drop" "$src" || true
	} >"$dest.set.$$"
	mv "$dest.set.$$" "$dest"
}

# run_check_args <threads> <protocol>: validates -t and -p (usage errors exit 2).
run_check_args() {
	if [ -n "$1" ] && ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
		echo "${0##*/}: -t needs a positive integer" >&2
		exit 2
	fi
	case "$2" in "" | curp | curpho | curpht) ;; *) echo "${0##*/}: -p: curp, curpho or curpht" >&2; exit 2 ;; esac
}

# run_summary <outdir> <conf> <client...>: from every client's report (<outdir>/<client>.log) and
# latencies-<client>.json, writes summary.txt (throughput summed over client processes;
# percentiles over every sample) and the merged latencies.json.
run_summary() {
	local out=$1 conf=$2 class c f logs=()
	shift 2
	for c; do logs+=("$out/$c.log"); done
	{
		echo "conf: $conf"
		echo "clients: $*"
		awk '/^Throughput:/ {t += $2; n++} END {printf "Aggregate throughput: %.2f ops/sec (%d client processes)\n", t, n}' "${logs[@]}"
		for class in strong_write strong_read weak_write weak_read; do
			for c; do
				f="$out/latencies-$c.json"
				[ -f "$f" ] && sed -n "s/.*\"$class\":\[\([^]]*\)\].*/\1/p" "$f" | tr ',' '\n'
			done | grep -v '^$' | sort -g >"$out/.$class" || true
			awk -v name="$class" '{v[NR] = $1; s += $1}
				function pct(p,  r) { r = int(p / 100 * NR); if (r < p / 100 * NR) r++; if (r < 1) r = 1; return v[r] }
				END { if (NR) printf "%s: %d ops | Avg: %.2fms | Median: %.2fms | P99: %.2fms | P99.9: %.2fms\n", name, NR, s / NR, pct(50), pct(99), pct(99.9) }' "$out/.$class"
		done
		# a client that failed has no report: the summary is still written
		grep -h "^Strong paths:\|^Errors:" "${logs[@]}" | sed 's/^/  /' || true
	} >"$out/summary.txt"
	{
		printf '{'
		local sep=""
		for class in strong_write strong_read weak_write weak_read; do
			printf '%s"%s":[%s]' "$sep" "$class" "$(paste -sd, "$out/.$class")"
			sep=","
			rm -f "$out/.$class"
		done
		printf '}\n'
	} >"$out/latencies.json"
}

# run_report <outdir> <status> <client...>: prints every client's report (and its stderr when
# the run failed), then the summary.
run_report() {
	local out=$1 status=$2 c
	shift 2
	for c; do
		echo "== $c"
		cat "$out/$c.log"
		[ "$status" -eq 0 ] || cat "$out/$c.err" >&2
	done
	echo "== summary ($out/summary.txt)"
	cat "$out/summary.txt"
}

# run_cpu_ticks <pid>: the CPU time (user + system, in clock ticks) process pid has used so far, 0
# if it is gone. (The command name, field 2, may hold spaces: the fields are counted after it.)
run_cpu_ticks() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	stat=${stat##*) }
	awk '{print $12 + $13}' <<<"$stat"
}

# run_times_s <file>: the children's CPU seconds (user + system) from bash's `times` output.
run_times_s() {
	awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); sub(/s$/, "", a[2]); t += a[1] * 60 + a[2] } printf "%.3f\n", t }' "$1" 2>/dev/null || echo 0
}

# run_cpu_report <outdir> <leader_s> <followers_s> <clients_s> <master_s>: appends the CPU time
# per completed operation (total and per role, in microseconds) to <outdir>/summary.txt. The
# operations are those of summary.txt's class lines.
run_cpu_report() {
	local out=$1
	awk -v l="$2" -v f="$3" -v c="$4" -v m="$5" '
		/^(strong|weak)_(read|write): [0-9]+ ops/ { n += $2 }
		END {
			if (n == 0) { print "CPU per op: no operation completed"; exit }
			u = 1e6 / n
			printf "CPU per op: %.2f us (leader %.2f, followers %.2f, clients %.2f, master %.2f) over %d ops; CPU seconds: leader %.2f, followers %.2f, clients %.2f, master %.2f\n", (l + f + c + m) * u, l * u, f * u, c * u, m * u, n, l, f, c, m
		}' "$out/summary.txt" >>"$out/summary.txt"
}

# run_weak_reads <outdir> <client...>: appends to <outdir>/summary.txt the weak reads each replica
# served (`weak_reads` of <outdir>/stats.txt, the `curpkv stats` output the caller took at the end
# of the run; warm-up reads and reads asked again included) and the sessions bound to it at the
# end (the clients' "Sessions per bound replica" lines, which count every session: the "Bound
# replicas" list shows only the first 256 of a client process).
run_weak_reads() {
	local out=$1 c logs=()
	shift
	for c; do [ -f "$out/$c.log" ] && logs+=("$out/$c.log"); done
	awk '
		FNR == 1 { f++ }
		f == 1 && /^replica[0-9]+$/ { r = $1; order[++n] = r }
		f == 1 && $1 == "weak_reads" { w[r] = $2; t += $2 }
		f > 1 && /^Sessions per bound replica/ { for (i = 1; i < NF; i++) if ($i ~ /^replica[0-9]+$/) b[$i] += $(i + 1) }
		END {
			if (n == 0) { print "Weak reads per replica: no stats"; exit }
			line = "Weak reads per replica:"
			for (i = 1; i <= n; i++)
				line = line sprintf("%s %s %d (%.1f%%, %d sessions bound)", i > 1 ? " |" : "", order[i], w[order[i]], t ? 100 * w[order[i]] / t : 0, b[order[i]])
			print line
		}' "$out/stats.txt" "${logs[@]}" >>"$out/summary.txt" 2>/dev/null || echo "Weak reads per replica: no stats" >>"$out/summary.txt"
}
