#!/usr/bin/env bash
# Plots sweep results with gnuplot (PNG).
#   scripts/plot.sh results.csv [latencies.json] [-h]
# From results.csv (scripts/sweep-threads.sh): <dir>/throughput.png (median throughput vs client
# threads, one line per protocol, or per protocol and fsync policy when the CSV has a column fsync
# other than `conf`: sweep-threads.sh -f) and <dir>/latency.png (median strong p50 vs median
# throughput).
# With a latencies.json (scripts/run-local.sh): <dir>/cdf.png, the latency CDF of each class.
# <dir> is the directory of results.csv.
set -euo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in -h | --help | "") usage; [ -n "${1:-}" ] && exit 0 || exit 2 ;; esac
csv=$1
lat=${2:-}
[ -f "$csv" ] || { echo "plot: no file $csv" >&2; exit 2; }
command -v gnuplot >/dev/null || { echo "plot: gnuplot is missing (scripts/bootstrap.sh installs gnuplot-nox)" >&2; exit 1; }
dir=$(cd "$(dirname "$csv")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Medians per series and thread count: "<threads> <throughput> <s_p50>" per series file. A series
# is a protocol, or protocol/fsync (column 11) when that is not `conf`.
series() { tail -n +2 "$csv" | awk -F, '{ print (NF >= 11 && $11 != "conf") ? $1 "/" $11 : $1 }'; }
protocols=$(series | sort -u)
for p in $protocols; do
	tail -n +2 "$csv" | awk -F, -v p="$p" '((NF >= 11 && $11 != "conf") ? $1 "/" $11 : $1) == p' | sort -t, -k2,2n | awk -F, '
		function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
		function flush() { if (n) printf "%s %.2f %.4f\n", k, med(tp, n), med(l, n); n = 0 }
		{ if ($2 != k) { flush(); k = $2 } n++; tp[n] = $4; l[n] = $5 }
		END { flush() }' >"$tmp/${p//\//-}.dat"
done

plots_tp=""
plots_lat=""
for p in $protocols; do
	plots_tp="$plots_tp${plots_tp:+, }'$tmp/${p//\//-}.dat' using 1:2 with linespoints title '$p'"
	plots_lat="$plots_lat${plots_lat:+, }'$tmp/${p//\//-}.dat' using 2:3 with linespoints title '$p'"
done
gnuplot <<GP
set terminal pngcairo size 900,600 noenhanced
set grid
set key left top
set output '$dir/throughput.png'
set title 'Throughput vs client threads (median over repetitions)'
set xlabel 'client threads'
set ylabel 'ops/s'
set logscale x 2
plot $plots_tp
unset logscale x
set output '$dir/latency.png'
set title 'Strong median latency vs throughput'
set xlabel 'ops/s'
set ylabel 'strong p50 (ms)'
plot $plots_lat
GP
echo "plot: $dir/throughput.png $dir/latency.png"

if [ -n "$lat" ]; then
	[ -f "$lat" ] || { echo "plot: no file $lat" >&2; exit 2; }
	plots=""
	for class in strong_write strong_read weak_write weak_read; do
		sed -n "s/.*\"$class\":\[\([^]]*\)\].*/\1/p" "$lat" | tr ',' '\n' | { grep -v '^$' || true; } | sort -g |
			awk '{ v[NR] = $1 } END { for (i = 1; i <= NR; i++) print v[i], i / NR }' >"$tmp/$class.cdf"
		if [ -s "$tmp/$class.cdf" ]; then
			plots="$plots${plots:+, }'$tmp/$class.cdf' using 1:2 with lines title '$class'"
		fi
	done
	if [ -n "$plots" ]; then
		gnuplot <<GP
set terminal pngcairo size 900,600 noenhanced
set grid
set key right bottom
set output '$dir/cdf.png'
set title 'Latency CDF'
set xlabel 'latency (ms)'
set ylabel 'fraction of operations'
set logscale x 10
plot $plots
GP
		echo "plot: $dir/cdf.png"
	fi
fi
