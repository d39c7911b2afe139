#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Two builds of slidepipe side by side on the slidepipe jobs of
# bench/pyramid.sh (jobs 1-4) and bench/tiles.sh (rows c and d), runs
# alternating A, B, A, B … so that a busy moment of a shared machine hits
# both: for checking that a change (a refactor, a new default) costs no
# speed or memory. Whole-process figures from /usr/bin/time (wall seconds,
# CPU %, peak RSS), medians per job and build, and B / A.
#
# usage: bench/compare.sh TREE_A TREE_B [RUNS]   (two built trees; RUNS per
#        job and build, default 3)
# env:   BENCH_DIR (default /tmp/slidepipe-bench; slide100k.tif from
#        bench/pyramid.sh, slide27k.tif from bench/tiles.sh)
set -euo pipefail
[ $# -ge 2 ] || { sed -n '3,13s/^# \{0,1\}//p' "$0" >&2; exit 2; }
a=$(cd "$1" && pwd)
b=$(cd "$2" && pwd)
runs=${3:-3}
dir=${BENCH_DIR:-/tmp/slidepipe-bench}
big=$dir/slide100k.tif
small=$dir/slide27k.tif
for f in "$big" "$small"; do
	[ -f "$f" ] || { echo "bench/compare.sh: no $f (run bench/pyramid.sh and bench/tiles.sh first)" >&2; exit 2; }
done
for t in "$a" "$b"; do
	[ -x "$t/src/slidepipe" ] && [ -x "$t/examples/patch-feed" ] ||
		{ echo "bench/compare.sh: $t is not a built tree" >&2; exit 2; }
done
results=$dir/compare.txt
: >"$results"

# job TREE NAME: runs one job with TREE's binaries
job() {
	local sp=$1/src/slidepipe
	case $2 in
	1) "$sp" -q load "$big" ! crop 25000 25000 50000 50000 ! save "$dir/out-cmp.tif" compression=jpeg Q=75 ;;
	2) "$sp" -q load "$big" ! crop 25000 25000 50000 50000 ! downsample 4 ! save "$dir/out-cmp.tif" compression=jpeg Q=75 ;;
	3) "$sp" -q load "$big" ! crop 24832 24832 49920 49920 ! save "$dir/out-cmp.tif" compression=copy Q=75 ;;
	4) "$sp" -q load "$big" ! crop 25000 25000 25000 25000 ! save "$dir/out-cmp.tif" compression=jpeg Q=75 ;;
	c) "$sp" -q load "$small" ! tiles "$dir/cmp-tiles" size=224 level=1 min-tissue=0.5 ;;
	d) "$1/examples/patch-feed" "$small" 1 224 0.5 ;;
	esac
}
export -f job
export big small dir

echo "# $(date -u +%FT%TZ), $(uname -srm), $(nproc) cores; A=$a ($(git -C "$a" rev-parse --short HEAD 2>/dev/null || echo ?)), B=$b ($(git -C "$b" rev-parse --short HEAD 2>/dev/null || echo ?))"
echo "# job build wall_s cpu_% peak_rss_kb"
for j in 1 2 3 4 c d; do
	for _ in $(seq "$runs"); do
		for t in A B; do
			tree=$a
			[ $t = B ] && tree=$b
			rm -rf "$dir/out-cmp.tif" "$dir/cmp-tiles"
			sync
			if /usr/bin/time -f "%e %P %M" -o "$dir/time.txt" bash -c 'job "$0" "$1"' "$tree" "$j" >/dev/null 2>"$dir/err.txt"; then
				read -r wall cpu rss <"$dir/time.txt"
				echo "$j $t $wall ${cpu%\%} $rss" | tee -a "$results"
			else
				echo "$j $t FAILED: $(tail -1 "$dir/err.txt")" | tee -a "$results"
			fi
		done
	done
done
rm -rf "$dir/out-cmp.tif" "$dir/cmp-tiles"

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
col() { awk -v j="$1" -v t="$2" -v c="$3" '$1==j && $2==t && $3!="FAILED:" {print $c}' "$results" | median; }
echo
echo "medians: job, A wall s, B wall s, B/A wall, A peak RSS MB, B peak RSS MB"
for j in 1 2 3 4 c d; do
	awk -v j="$j" -v aw="$(col "$j" A 3)" -v bw="$(col "$j" B 3)" -v am="$(col "$j" A 5)" -v bm="$(col "$j" B 5)" \
		'BEGIN { printf "job %s  %6.2f  %6.2f  %.3f  %4d  %4d\n", j, aw, bw, bw / aw, am / 1024, bm / 1024 }'
done
