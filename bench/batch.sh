#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark of slidepipe batch: 300 random 512² crops (seed 1) of the
# synthetic 100k × 100k slide to PNG, beside a `vips crop` loop,
# openslide-python (Debian python3-openslide) and sharp in one process;
# then 10,000 rows against 300 for peak memory. Whole-process figures from
# /usr/bin/time.
#
# usage: bench/batch.sh          (from a built tree)
# env:   BENCH_DIR (default /tmp/slidepipe-bench, holds slide100k.tif from
#        bench/pyramid.sh), SHARP_DIR (default $BENCH_DIR/sharp), ROUNDS
#        (slidepipe/sharp alternations for the 300-row job, default 5)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${BENCH_DIR:-/tmp/slidepipe-bench}
sharp_dir=${SHARP_DIR:-$dir/sharp}
export SHARP_MODULE=$sharp_dir/node_modules/sharp
sp=$top/src/slidepipe
slide=$dir/slide100k.tif
[ -f "$slide" ] || { echo "run bench/pyramid.sh first to make $slide" >&2; exit 2; }

manifest() { # N SEED -> CSV on stdout
	awk -v n="$1" -v seed="$2" -v s="$slide" 'BEGIN {
		srand(seed); print "slide,x,y,w,h,out"
		for (i = 0; i < n; i++)
			printf "%s,%d,%d,512,512,c%05d.png\n", s, int(rand() * 99488), int(rand() * 99488), i
	}'
}
manifest 300 1 >"$dir/m300.csv"
manifest 10000 1 >"$dir/m10k.csv"

measure() { # NAME CMD... -> "NAME wall cpu rss_kb"
	local name=$1; shift
	rm -rf "$dir/out"; mkdir -p "$dir/out"; sync
	/usr/bin/time -f "%e %P %M" -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/err.txt" ||
		{ echo "$name FAILED: $(tail -1 "$dir/err.txt")"; return; }
	read -r wall cpu rss <"$dir/time.txt"
	echo "$name $wall ${cpu%\%} $rss ($(ls "$dir/out" | wc -l) files)"
}
vips_loop() {
	tail -n +2 "$dir/m300.csv" | while IFS=, read -r s x y w h out; do
		vips crop "$s" "$dir/out/$out" "$x" "$y" "$w" "$h"
	done
}
export -f vips_loop; export dir

echo "# $(date -u +%FT%TZ), $(uname -srm), $(nproc) cores; $($sp --version); sharp $(node -p "require('$SHARP_MODULE/package.json').version")"
echo "# tool wall_s cpu_% peak_rss_kb"
# slidepipe and sharp alternate, ROUNDS times (default 5), so a busy
# moment of a shared machine hits both; medians and their ratio follow
for _ in $(seq "${ROUNDS:-5}"); do
	measure "slidepipe-300" "$sp" batch "$dir/m300.csv" --out-dir "$dir/out" --no-progress
	measure "sharp-300" node "$top/bench/batch-sharp.js" "$dir/m300.csv" "$dir/out"
done | tee "$dir/rounds.txt"
med() { awk -v n="$1" '$1 == n { print $2 }' "$dir/rounds.txt" | sort -n |
	awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
echo "# medians: slidepipe $(med slidepipe-300) s, sharp $(med sharp-300) s, ratio" \
	"$(awk -v a="$(med slidepipe-300)" -v b="$(med sharp-300)" 'BEGIN { printf "%.3f", a / b }')"
measure "openslide-python-300" /usr/bin/python3 "$top/bench/batch-openslide.py" "$dir/m300.csv" "$dir/out"
measure "vips-crop-loop-300" bash -c vips_loop
measure "slidepipe-10000" "$sp" batch "$dir/m10k.csv" --out-dir "$dir/out" --no-progress
