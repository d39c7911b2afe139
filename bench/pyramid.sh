#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark of the planner, the pyramid writer and the tile copy against
# the peers, in one run, on the synthetic 100k × 100k slide of
# ../shared/tools/mkslide.c. Whole-process figures from /usr/bin/time:
# wall seconds, CPU %, peak RSS.
#
#   job 1  crop 50000² at (25000, 25000) → tiled pyramidal JPEG Q75 BigTIFF
#   job 2  the same crop, downsampled × 4, re-pyramided
#   job 3  tile-aligned crop 49920² at (24832, 24832), compression=copy:
#          level 0 copied, levels 1–4 (origins half a tile off the grid,
#          on the MCU grid) re-cut from DCT coefficients, 5–8 from pixels
#   job 4  job 1 at 25000², for peak RSS against the 50000² crop
#
# usage: bench/pyramid.sh [RUNS]     (from a built tree; RUNS per tool, default 1)
# env:   BENCH_DIR (default /tmp/slidepipe-bench), SHARED_DIR (../shared),
#        SHARP_DIR (where `npm install sharp` is done, default $BENCH_DIR/sharp)
# needs: gdal-bin, libjpeg-turbo-progs (tjbench), nodejs + npm (sharp)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
runs=${1:-1}
dir=${BENCH_DIR:-/tmp/slidepipe-bench}
shared=${SHARED_DIR:-$top/../shared}
sharp_dir=${SHARP_DIR:-$dir/sharp}
sp=$top/src/slidepipe
slide=$dir/slide100k.tif
mkdir -p "$dir"

command -v gdal_translate >/dev/null || apt-get install -y -q gdal-bin >/dev/null
command -v tjbench >/dev/null || apt-get install -y -q libjpeg-turbo-progs >/dev/null
if [ ! -d "$sharp_dir/node_modules/sharp" ]; then
	mkdir -p "$sharp_dir"
	(cd "$sharp_dir" && npm init -y >/dev/null && npm install sharp >/dev/null)
fi
export SHARP_MODULE=$sharp_dir/node_modules/sharp
if [ ! -x "$dir/mkslide" ]; then
	cc -O2 -o "$dir/mkslide" "$shared/tools/mkslide.c" $(pkg-config --cflags --libs vips)
fi
if [ ! -f "$slide" ]; then
	echo "generating $slide (about 9 minutes, 1.5 GB)" >&2
	"$dir/mkslide" 100000 100000 "$slide.part" && mv "$slide.part" "$slide"
fi

results=$dir/results.txt
: > "$results"
# run JOB TOOL CMD... : appends "JOB TOOL wall cpu rss_kb" per run
run() {
	local job=$1 tool=$2; shift 2
	for i in $(seq "$runs"); do
		rm -f "$dir"/out-*.tif
		sync
		if /usr/bin/time -f "%e %P %M" -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/err.txt"; then
			read -r wall cpu rss < "$dir/time.txt"
			echo "$job $tool $wall ${cpu%\%} $rss" | tee -a "$results"
		else
			echo "$job $tool FAILED: $(tail -1 "$dir/err.txt")" | tee -a "$results"
		fi
	done
}

tif="[tile,tile-width=256,tile-height=256,pyramid,compression=jpeg,Q=75,bigtiff]"
cog=(-of COG -co COMPRESS=JPEG -co QUALITY=75 -co BLOCKSIZE=256 -co BIGTIFF=YES -co NUM_THREADS=ALL_CPUS)

echo "# $(date -u +%FT%TZ), $(uname -srm), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "# $($sp --version); $(vips --version); $(gdal_translate --version); sharp $(node -p "require('$SHARP_MODULE/package.json').version")"
echo "# job tool wall_s cpu_% peak_rss_kb"

run 1 slidepipe "$sp" -q load "$slide" ! crop 25000 25000 50000 50000 ! save "$dir/out-sp.tif" compression=jpeg Q=75
run 1 vips vips crop "$slide" "$dir/out-vips.tif$tif" 25000 25000 50000 50000
run 1 sharp node "$top/bench/sharp-crop.js" "$slide" "$dir/out-sharp.tif" 25000 25000 50000 50000
run 1 gdal gdal_translate -q -srcwin 25000 25000 50000 50000 "${cog[@]}" "$slide" "$dir/out-gdal.tif"

run 2 slidepipe "$sp" -q load "$slide" ! crop 25000 25000 50000 50000 ! downsample 4 ! save "$dir/out-sp.tif" compression=jpeg Q=75
run 2 gdal gdal_translate -q -srcwin 25000 25000 50000 50000 -outsize 12500 12500 -r average "${cog[@]}" "$slide" "$dir/out-gdal.tif"
run 2 sharp node "$top/bench/sharp-crop.js" "$slide" "$dir/out-sharp.tif" 25000 25000 50000 50000 4

run 3 slidepipe "$sp" -q load "$slide" ! crop 24832 24832 49920 49920 ! save "$dir/out-sp.tif" compression=copy Q=75
run 3 vips vips crop "$slide" "$dir/out-vips.tif$tif" 24832 24832 49920 49920

run 4 slidepipe "$sp" -q load "$slide" ! crop 25000 25000 25000 25000 ! save "$dir/out-sp.tif" compression=jpeg Q=75

col() { awk -v j="$1" -v t="$2" -v c="$3" '$1==j && $2==t && $3!="FAILED:" {print $c}' "$results" | median; }

echo
echo "medians (wall s, CPU %, peak RSS MB):"
for jt in "1 slidepipe" "1 vips" "1 sharp" "1 gdal" "2 slidepipe" "2 gdal" "2 sharp" "3 slidepipe" "3 vips" "4 slidepipe"; do
	set -- $jt
	w=$(col "$1" "$2" 3); c=$(col "$1" "$2" 4); m=$(col "$1" "$2" 5)
	[ -n "$w" ] && printf "job %s %-9s %7.2f s %4s %% %6d MB\n" "$1" "$2" "$w" "$c" "$((m / 1024))"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
echo
echo "job 1 slidepipe/vips wall: $(ratio "$(col 1 slidepipe 3)" "$(col 1 vips 3)")"
echo "job 2 slidepipe/gdal wall: $(ratio "$(col 2 slidepipe 3)" "$(col 2 gdal 3)")"
echo "job 3 vips/slidepipe wall: $(ratio "$(col 3 vips 3)" "$(col 3 slidepipe 3)")"
echo "job 4 vs job 1 slidepipe peak RSS: $(ratio "$(col 1 slidepipe 5)" "$(col 4 slidepipe 5)")"

# the codec limit: tjbench on real H&E texture (CMU-1-Small-Region)
vips crop "$shared/slides/CMU-1-Small-Region.svs[rgb]" "$dir/he.ppm" 0 0 2048 2048
tj=$(cd "$dir" && tjbench he.ppm 75 -subsamp 420 -benchtime 3 -warmup 1 2>&1 | awk '/Throughput:.*Megapixels/ {print $2}' | paste -sd' ')
enc=$(echo "$tj" | cut -d' ' -f1); dec=$(echo "$tj" | cut -d' ' -f2)
decoded=$("$sp" explain load "$slide" ! crop 25000 25000 50000 50000 ! save x.tif | awk '/^2\./ {getline; print}' | sed 's/.*decodes \([0-9]*\) px/\1/')
# encoded: every tile of every output level, 256² each
encoded=$(awk 'BEGIN {w = 50000; h = 50000; n = 0; while (1) { n += int((w + 255) / 256) * int((h + 255) / 256); if (w <= 256 && h <= 256) break; w = int(w / 2); h = int(h / 2) } print n * 65536}')
echo "tjbench per core: compress $enc MP/s, decompress $dec MP/s"
awk -v d="$decoded" -v e="$encoded" -v w="$(col 1 slidepipe 3)" -v cd="$dec" -v ce="$enc" 'BEGIN {
	limit = d / 1e6 / cd + e / 1e6 / ce
	printf "job 1 codec work: %.2f GP decoded + %.2f GP encoded = %.1f core-seconds at tjbench rates\n", d / 1e9, e / 1e9, limit
	printf "job 1 share of the 2-core codec limit: %.0f %% (limit %.2f s wall, measured %.2f s)\n", 100 * (limit / 2) / w, limit / 2, w
}'

# job 3: the copied level-0 tiles are the source's, byte for byte
"$sp" -q load "$slide" ! crop 24832 24832 49920 49920 ! save "$dir/out-copy.tif" compression=copy
"$top/bench/tile-hash" "$slide" 0 24832 24832 "$dir/out-copy.tif" 49920 49920
openslide-show-properties "$dir/out-copy.tif" | grep -E "level-count"
