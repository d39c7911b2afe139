#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark: crop 50000² at (25000, 25000) of a synthetic 100k × 100k slide
# and re-save it as a tiled pyramidal JPEG Q75 BigTIFF, slidepipe beside
# `vips crop` writing the same pyramid. Whole-process wall time, CPU and
# peak RSS from /usr/bin/time, RUNS alternating runs each, medians.
#
# usage: bench/crop-repyramid.sh [RUNS]   (from a built tree)
# env:   BENCH_DIR (default /tmp/slidepipe-bench) holds the 1.5 GB slide,
#        SHARED_DIR (default ../shared) has tools/mkslide.c
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
dir=${BENCH_DIR:-/tmp/slidepipe-bench}
shared=${SHARED_DIR:-$top/../shared}
slidepipe=$top/src/slidepipe
mkdir -p "$dir"

if [ ! -x "$dir/mkslide" ]; then
	cc -O2 -o "$dir/mkslide" "$shared/tools/mkslide.c" $(pkg-config --cflags --libs vips)
fi
if [ ! -f "$dir/slide100k.tif" ]; then
	echo "generating $dir/slide100k.tif (about 9 minutes, 1.5 GB)" >&2
	"$dir/mkslide" 100000 100000 "$dir/slide100k.tif.part" && mv "$dir/slide100k.tif.part" "$dir/slide100k.tif"
fi

sp_cmd=("$slidepipe" -q load "$dir/slide100k.tif" ! crop 25000 25000 50000 50000 ! save "$dir/sp.tif" compression=jpeg Q=75)
vips_cmd=(vips crop "$dir/slide100k.tif" "$dir/vips.tif[tile,tile-width=256,tile-height=256,pyramid,compression=jpeg,Q=75,bigtiff]" 25000 25000 50000 50000)

measure() { # name cmd... -> "name wall_s rss_kb cpu%"
	local name=$1; shift
	/usr/bin/time -f "$name %e %M %P" -o "$dir/time.txt" "$@" >/dev/null
	cat "$dir/time.txt"
}

echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cores, $(vips --version), slidepipe $($slidepipe --version | cut -d' ' -f2)"
echo "# name wall_s peak_rss_kb cpu"
for i in $(seq "$runs"); do
	measure slidepipe "${sp_cmd[@]}"
	measure vips "${vips_cmd[@]}"
done | tee "$dir/runs.txt"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for name in slidepipe vips; do
	wall=$(awk -v n=$name '$1==n {print $2}' "$dir/runs.txt" | median)
	rss=$(awk -v n=$name '$1==n {print $3}' "$dir/runs.txt" | median)
	echo "median $name: wall ${wall} s, peak RSS $((rss / 1024)) MB"
done
sw=$(awk '$1=="slidepipe" {print $2}' "$dir/runs.txt" | median)
vw=$(awk '$1=="vips" {print $2}' "$dir/runs.txt" | median)
echo "wall ratio slidepipe/vips: $(awk -v a="$sw" -v b="$vw" 'BEGIN {printf "%.3f", a / b}')"
# the two outputs hold the same pixels within JPEG tolerance (slidepipe
# encodes with TurboJPEG, libvips through libtiff's codec)
vips subtract "$dir/sp.tif" "$dir/vips.tif" "$dir/diff.v"
vips abs "$dir/diff.v" "$dir/absdiff.v"
echo "level 0, slidepipe vs vips: mean abs difference $(vips avg "$dir/absdiff.v"), max $(vips max "$dir/absdiff.v")"
rm -f "$dir/diff.v" "$dir/absdiff.v"
openslide-show-properties "$dir/sp.tif" | grep -E "level-count|vendor"
