#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark of planes (issue 15): downsample every page of a large 16-bit
# multi-page TIFF by 4 (box mean) and write the result as a multi-page
# TIFF, one page per plane:
#
#   input     200 pages of 2048 × 2048 uint16, uncompressed (1.6 GB), made
#             once under BENCH_DIR by bench/stack-tifffile.py (smooth
#             background, nuclei-like blobs going in and out of focus,
#             noise; deterministic), read once before timing so that
#             every run starts with it in the page cache
#   slidepipe load STACK page=all ! downsample 4 ! save OUT compression=none pyramid=false
#   loop      tifffile page by page: page.asarray(), reshape(512, 4, 512, 4)
#             .mean((1, 3)) rounded to uint16, TiffWriter.write(contiguous=True)
#   imread    tifffile.imread(STACK)[:, ::4, ::4] and tifffile.imwrite: the
#             whole stack in memory, every 4th pixel rather than a mean
#
# Each tool runs RUNS times, alternating, under /usr/bin/time -v (wall
# time, CPU, max RSS); the table gives the medians. slidepipe's output is
# then compared with the loop's on 5 pages spread over the stack: the
# largest difference must be at most 1 (rounding).
#
# usage: bench/stack.sh [RUNS]   (from a built tree; default 3)
# env:   BENCH_DIR (default /tmp/slidepipe-bench), TOOLS (default
#        "slidepipe loop imread": the tools to time), SLIDEPIPE (default
#        src/slidepipe of this tree)
# needs: python3-numpy python3-scipy python3-tifffile, time
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
runs=${1:-3}
dir=${BENCH_DIR:-/tmp/slidepipe-bench}
tools=${TOOLS:-slidepipe loop imread}
sp=${SLIDEPIPE:-$top/src/slidepipe}
py=/usr/bin/python3
helper=$top/bench/stack-tifffile.py
stack=$dir/stack200.tif
mkdir -p "$dir"

if [ ! -f "$stack" ]; then
	echo "making $stack (200 pages of 2048 × 2048 uint16) ..." >&2
	"$py" "$helper" make "$stack.part"
	mv "$stack.part" "$stack"
fi
cat "$stack" >/dev/null

run_tool() { # TOOL OUT
	case $1 in
	slidepipe) "$sp" -q load "$stack" page=all ! downsample 4 ! save "$2" compression=none pyramid=false ;;
	loop) "$py" "$helper" loop "$stack" "$2" ;;
	imread) "$py" "$helper" imread "$stack" "$2" ;;
	*) echo "unknown tool $1" >&2; return 2 ;;
	esac
}
export -f run_tool
export sp py helper stack

results=$dir/stack.txt
: >"$results"
measure() { # TOOL
	local tool=$1 out=$dir/stack-$1.tif
	rm -f "$out"
	sync
	if /usr/bin/time -v -o "$dir/time.txt" bash -c 'run_tool "$0" "$1"' "$tool" "$out" \
		>/dev/null 2>"$dir/err.txt"; then
		awk -v t="$tool" '
			/Elapsed \(wall clock\)/ { n = split($NF, p, ":"); w = 0
				for (i = 1; i <= n; i++) w = w * 60 + p[i] }
			/Percent of CPU/ { c = $NF; sub(/%/, "", c) }
			/Maximum resident set size/ { m = $NF }
			END { printf "%s %.2f %d %d\n", t, w, c, m }' "$dir/time.txt" | tee -a "$results"
	else
		echo "$tool FAILED: $(tail -1 "$dir/err.txt")" | tee -a "$results"
	fi
}

echo "# $(date -u +%FT%TZ), $(uname -srm), $(nproc) cores; $("$sp" --version 2>/dev/null || echo 'slidepipe ?'); tifffile $("$py" -c 'import tifffile; print(tifffile.__version__)'), numpy $("$py" -c 'import numpy; print(numpy.__version__)')"
echo "# input: $stack, $(stat -c %s "$stack") bytes"
echo "# tool wall_s cpu_% max_rss_kb"
for _ in $(seq "$runs"); do
	for t in $tools; do
		measure "$t"
	done
done

col() { awk -v t="$1" -v c="$2" '$1==t && $2!="FAILED:" {print $c}' "$results" | median; }
echo
printf '%-10s %10s %6s %12s\n' tool "wall (s)" "CPU" "max RSS"
for t in $tools; do
	w=$(col "$t" 2)
	[ -n "$w" ] || { printf '%-10s %10s\n' "$t" FAILED; continue; }
	printf '%-10s %10.2f %5.0f%% %9.0f MB\n' "$t" "$w" "$(col "$t" 3)" "$(col "$t" 4 | awk '{ print $1 / 1024 }')"
done
sw=$(col slidepipe 2) lw=$(col loop 2)
if [ -n "$sw" ] && [ -n "$lw" ]; then
	awk -v sw="$sw" -v lw="$lw" -v sm="$(col slidepipe 4)" -v lm="$(col loop 4)" 'BEGIN {
		printf "slidepipe/loop: wall %.3f, max RSS %.3f\n", sw / lw, sm / lm }'
	check=$("$py" "$helper" compare "$dir/stack-slidepipe.tif" "$dir/stack-loop.tif")
	echo "slidepipe vs loop: $check"
	awk -v c="$check" 'BEGIN { gsub(/;/, "", c); n = split(c, f, " ")
		exit !(f[1] == "pages" && f[2] == f[3] && f[n] <= 1) }' ||
		{ echo "slidepipe's output differs from the loop's by more than 1" >&2; exit 1; }
fi
rm -f "$dir"/stack-slidepipe.tif "$dir"/stack-loop.tif "$dir"/stack-imread.tif "$dir/time.txt" "$dir/err.txt"
