# shellcheck shell=bash
# shellcheck disable=SC2034 # HR_KEY and HR_RC are for the caller
# What scripts/nemesis.sh and scripts/crash-all.sh do with load-generator histories (historyFile,
# one JSON object per line: CONF.md 5): sourced, not run. The final reads of a run are a session
# of their own, 1000000, made by history_reads after every load-generator operation; the
# lost-write counter takes them as each key's final state.

# history_max_ns FILE...: the largest invoke_ns or complete_ns of the files (0 if none).
history_max_ns() {
	awk 'match($0, /"complete_ns":[0-9]+/) { c = substr($0, RSTART + 14, RLENGTH - 14) + 0; if (c > m) m = c }
		match($0, /"invoke_ns":[0-9]+/) { c = substr($0, RSTART + 12, RLENGTH - 12) + 0; if (c > m) m = c }
		END { printf "%.0f\n", m }' "$@"
}

# history_reads BIN CONF HISTORY T ERRFILE KEY...: a strong `curpkv get` of each KEY (hex), one
# after the other, each appended to HISTORY as an operation of session 1000000 with made-up times
# after T (invoke T+2i-1, complete T+2i for the i-th key: T must be at least the latest time of
# every operation the reads must follow, history_max_ns). Stops at the first read with no answer
# (the others would wait as long): returns 1 with its key in HR_KEY and curpkv's exit status in
# HR_RC. curpkv's stderr goes to ERRFILE.
history_reads() {
	local bin=$1 conf=$2 hist=$3 t=$4 err=$5 i=0 key out result
	shift 5
	HR_KEY=""
	HR_RC=0
	for key; do
		i=$((i + 1))
		HR_RC=0
		out=$("$bin" get -config "$conf" --hex "$key" 2>>"$err") || HR_RC=$?
		case "$HR_RC" in
		0) result="\"$out\"" ;;
		1) result=null ;; # no such key
		*) HR_KEY=$key; return 1 ;;
		esac
		echo "{\"session\":1000000,\"seq\":$i,\"op\":\"get\",\"cons\":\"strong\",\"key\":\"$key\",\"value\":\"\",\"result\":$result,\"invoke_ns\":$((t + 2 * i - 1)),\"complete_ns\":$((t + 2 * i)),\"status\":\"ok\"}" >>"$hist"
	done
	HR_RC=0
}

# history_acked FILE...: the acknowledged writes of the load generators (put, del and append
# operations with status ok, weak ones included; not the final session's).
history_acked() {
	awk '/"op":"(put|del|append)"/ && /"status":"ok"/ && !/"session":100000[01],/ { n++ } END { print n + 0 }' "$@"
}

# Acknowledged register writes lost: for each key, the final read returned write W (or nothing);
# every acknowledged write (put or del) of the key invoked after W took effect (W's completion; a
# weak write's ordered_ns) should have replaced it: each is lost. A value never written counts one.
# Nothing returned: the last write to take effect was a del, so the puts invoked after the latest
# acknowledged del took effect are lost (every put when the key has no del; none when a weak del's
# ordering time is unknown or a del's outcome is, which may take effect at any time); a del
# invoked later leaves the key absent too and is not lost.
# Appends (curp's `appends: true`): each acknowledged append of a key whose element (its value) is
# not in the key's final read is lost (the final read follows every load-generator operation).
# Several files are one history (the times are one clock, CLOCK_MONOTONIC: docs/testing.md
# "Several histories as one"); the final reads may be in any of them.
# The checked workload's protocol-dependent conf lines, shared by nemesis.sh and crash-all.sh:
# `curp` appends (their elements checked exactly once, values up to 1 MiB), the hybrids half
# weak operations, half of those writes.
history_workload() { # history_workload PROTO
	if [ "$1" = curp ]; then
		echo "appends: true"
		echo "maxValueBytes: 1MiB"
		echo "maxFrameBytes: 2MiB"
	else
		echo "weakRatio: 50"
		echo "weakWrites: 50"
	fi
}

history_lost() { # history_lost HISTORY...
	awk '
	function fld(name,   r) {
		if (!match($0, "\"" name "\":(\"[^\"]*\"|[0-9]+|null)")) return ""
		r = substr($0, RSTART + length(name) + 3, RLENGTH - length(name) - 3)
		if (r == "null") return "null"
		gsub(/"/, "", r)
		return r
	}
	{
		op = fld("op"); st = fld("status"); k = fld("key")
		if (fld("session") == 1000000) { final[k] = fld("result"); next }
		if (op == "append") {
			if (st == "ok") { na[k]++; aval[k, na[k]] = fld("value") }
			next
		}
		if (op == "del" && st == "unknown") { dunknown[k] = 1; ndel[k]++; next } # may take effect any time
		# so may a put whose answer never came (its client died in a crash): the final read
		# may return it, and then says nothing about the writes around it
		if (op == "put" && st == "unknown") { v = fld("value"); done[v] = -1; written[v] = k; next }
		if ((op != "put" && op != "del") || st != "ok") next
		if (fld("cons") == "weak") { o = fld("ordered_ns"); d = o == "" ? -1 : o + 0 }
		else d = fld("complete_ns") + 0
		# a curpho weak write answered by its bound replica but never reported executed
		# (no ordered_ns) was promised to nobody else: it may be lost when that replica
		# fails (PROTOCOL.md 8.5; docs/durability.md, "Whole-cluster restart"), so it is
		# not counted lost; it still hides nothing (its value, if read, is a written one)
		if (op == "put" && d < 0) { v = fld("value"); done[v] = -1; written[v] = k; next }
		nw[k]++
		winv[k, nw[k]] = fld("invoke_ns") + 0
		if (op == "del") {
			ndel[k]++
			if (d < 0) dunknown[k] = 1
			else if (!(k in dlast) || d > dlast[k]) dlast[k] = d
			next
		}
		isput[k, nw[k]] = 1
		v = fld("value")
		done[v] = d
		written[v] = k
	}
	END {
		lost = 0
		for (k in final) {
			v = final[k]
			if (k in na) { # an append key: the elements of the final read
				w = length(aval[k, 1])
				split("", inread)
				if (v != "null" && w > 0)
					for (p = 1; p <= length(v); p += w) inread[substr(v, p, w)] = 1
				for (i = 1; i <= na[k]; i++) if (!(aval[k, i] in inread)) lost++
				continue
			}
			if (v == "null") {
				if (!(k in ndel)) { lost += nw[k]; continue }
				if (k in dunknown) continue # a weak del whose ordering time is unknown
				for (i = 1; i <= nw[k]; i++) if (isput[k, i] && winv[k, i] > dlast[k]) lost++
				continue
			}
			if (!(v in written) || written[v] != k) { lost++; continue }
			c = done[v]
			if (c < 0) continue # a weak write whose ordering time is unknown
			for (i = 1; i <= nw[k]; i++) if (winv[k, i] > c) lost++
		}
		print lost
	}' "$@"
}

