#!/bin/sh
# Loopback throughput of benchserver's stacks under wrk, interleaved.
#
#   go build -o /tmp/benchserver ./bench/http/benchserver
#   GOMAXPROCS=1 taskset -c 0 /tmp/benchserver -base 18090 &
#   sh bench/http/wrk.sh 18090 9 '' > /tmp/plain.txt
#   sh bench/http/wrk.sh 18090 9 'Accept-Encoding: gzip' > /tmp/gzip.txt
#
# Stacks: bare, full (sampled), unsampled, reference (otelhttp + slog),
# spin (bare plus a busy loop of benchserver's -spin, default 5µs: what a
# known in-process cost does to throughput here), quick and quick_unsampled
# (the quick start: patron.New + WithRoutes, default logger on stderr).
# STACKS="bare quick quick_unsampled reference" runs a subset (bare first).
# Each round runs wrk (pinned to CPU 1) for 2s against every stack in turn
# and prints requests/s and the server's CPU time per request (user+system
# from /proc, in µs). The CPU per request is steady on a shared machine,
# where neighbours take the server's core away at random; requests/s is
# what wrk saw. Ratios to bare are per round (neighbouring runs), then the
# median over rounds, with the lowest and highest round's ratio.
set -eu
base=${1:-18090}
rounds=${2:-7}
header=${3:-}
pid=$(pgrep -n -f "benchserver -base $base")
tck=$(getconf CLK_TCK)
cpu() { awk -v t="$tck" '{print ($14+$15)/t}' "/proc/$pid/stat"; }
all="bare full unsampled reference spin quick quick_unsampled"
names=${STACKS:-$all}
echo "round stack rps cpu_us_per_req"
r=1
while [ "$r" -le "$rounds" ]; do
	for n in $names; do
		i=0
		for a in $all; do
			[ "$a" = "$n" ] && break
			i=$((i + 1))
		done
		port=$((base + i))
		c0=$(cpu)
		if [ -n "$header" ]; then
			out=$(taskset -c 1 wrk -t1 -c32 -d2s -H "$header" "http://127.0.0.1:$port/items/42")
		else
			out=$(taskset -c 1 wrk -t1 -c32 -d2s "http://127.0.0.1:$port/items/42")
		fi
		c1=$(cpu)
		reqs=$(echo "$out" | awk '/requests in/{print $1}')
		rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
		echo "$r $n $rps $(awk -v a="$c0" -v b="$c1" -v n="$reqs" 'BEGIN{printf "%.2f", (b-a)*1e6/n}')"
	done
	r=$((r + 1))
done | awk -v names="$names" '
	{ print; rps[$1,$2]=$3; cpu[$1,$2]=$4; if ($1>R) R=$1 }
	function median(a, n,   i, j, t) {
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		ns = split(names, S, " ")
		print "stack median_rps median_cpu_us rps_ratio cpu_ratio(bare_cpu/stack_cpu) rps_ratio_min rps_ratio_max"
		for (s = 1; s <= ns; s++) {
			n = 0
			for (r = 1; r <= R; r++) if ((r, S[s]) in rps) { n++; a[n] = rps[r, S[s]]; b[n] = cpu[r, S[s]]; x[n] = rps[r, S[s]] / rps[r, "bare"]; y[n] = cpu[r, "bare"] / cpu[r, S[s]] }
			mx = median(x, n) # sorts x
			printf "%s %.0f %.2f %.2f %.2f %.2f %.2f\n", S[s], median(a, n), median(b, n), mx, median(y, n), x[1], x[n]
		}
	}'
