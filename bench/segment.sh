#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark of streaming segmentation: the classic chain (haematoxylin by
# colour deconvolution → Gaussian blur → local threshold → opening →
# connected components with measurements) in one run:
#
#   job 1  an 8192² region of real H&E texture (CMU-1-Small-Region's
#          epidermis, 1024² at (900, 1400) mirrored to 8192², a tiled
#          deflate TIFF, made under BENCH_DIR): slidepipe against the same
#          chain in scikit-image/scipy (bench/segment-skimage.py), wall,
#          peak RSS and object counts
#   job 2  level 0 of the synthetic 100k × 100k slide (bench/pyramid.sh
#          makes it): slidepipe alone, peak RSS and megapixels per second
#
# usage: bench/segment.sh [RUNS]   (from a built tree; RUNS of job 1 per
#        tool, default 3; job 2 runs once)
# env:   BENCH_DIR (default /tmp/slidepipe-bench), SHARED_DIR (../shared),
#        SKIP_100K=1 to leave job 2 out
# needs: python3-scipy python3-skimage python3-tifffile, time, libvips-tools
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
runs=${1:-3}
dir=${BENCH_DIR:-/tmp/slidepipe-bench}
shared=${SHARED_DIR:-$top/../shared}
sp=$top/src/slidepipe
py=/usr/bin/python3
cmu=$dir/cmu8k.tif
big=$dir/slide100k.tif
mkdir -p "$dir"

# the parameters of both chains
sigma=1 block=51 offset=-0.02 radius=2
chain() { # IN OBJECTS
	"$sp" -q load "$1" ! deconvolve stain=he channel=h ! blur sigma=$sigma \
		! threshold method=local block=$block offset=$offset \
		! morph open radius=$radius ! label objects="$2"
}
export -f chain
export sp sigma block offset radius

if [ ! -f "$cmu" ]; then
	t=$(mktemp -d "$dir/cmu.XXXXXX")
	vips crop "$shared/slides/CMU-1-Small-Region.svs[rgb]" "$t/cur.v" 900 1400 1024 1024
	for _ in 1 2 3; do
		vips flip "$t/cur.v" "$t/f.v" horizontal
		vips join "$t/cur.v" "$t/f.v" "$t/j.v" horizontal
		vips flip "$t/j.v" "$t/g.v" vertical
		vips join "$t/j.v" "$t/g.v" "$t/next.v" vertical
		mv "$t/next.v" "$t/cur.v"
	done
	vips tiffsave "$t/cur.v" "$cmu.part" --tile --compression deflate --pyramid --bigtiff
	mv "$cmu.part" "$cmu"
	rm -rf "$t"
fi

results=$dir/segment.txt
: >"$results"
measure() { # JOB TOOL OBJECTS_CSV CMD...
	local job=$1 tool=$2 objs=$3; shift 3
	rm -f "$objs"
	sync
	if /usr/bin/time -f "%e %P %M" -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/err.txt"; then
		read -r wall cpu rss <"$dir/time.txt"
		echo "$job $tool $wall ${cpu%\%} $rss $(($(wc -l <"$objs") - 1))" | tee -a "$results"
	else
		echo "$job $tool FAILED: $(tail -1 "$dir/err.txt")" | tee -a "$results"
	fi
}

echo "# $(date -u +%FT%TZ), $(uname -srm), $(nproc) cores; $($sp --version); scikit-image $($py -c 'import skimage; print(skimage.__version__)'), scipy $($py -c 'import scipy; print(scipy.__version__)')"
echo "# job tool wall_s cpu_% peak_rss_kb objects"
for _ in $(seq "$runs"); do
	measure 1 slidepipe "$dir/seg-sp.csv" bash -c 'chain "$0" "$1"' "$cmu" "$dir/seg-sp.csv"
	measure 1 skimage "$dir/seg-sk.csv" "$py" "$top/bench/segment-skimage.py" "$cmu" "$dir/seg-sk.csv" \
		--sigma $sigma --block $block --offset=$offset --radius $radius
done

col() { awk -v j="$1" -v t="$2" -v c="$3" '$1==j && $2==t && $3!="FAILED:" {print $c}' "$results" | median; }
echo
awk -v sw="$(col 1 slidepipe 3)" -v kw="$(col 1 skimage 3)" -v sm="$(col 1 slidepipe 5)" \
	-v km="$(col 1 skimage 5)" -v so="$(col 1 slidepipe 6)" -v ko="$(col 1 skimage 6)" 'BEGIN {
	printf "job 1 medians: slidepipe %.2f s %d MB %d objects; skimage %.2f s %d MB %d objects\n", sw, sm / 1024, so, kw, km / 1024, ko
	printf "job 1 slidepipe/skimage: wall %.3f, peak RSS %.3f, objects %+.2f %%\n", sw / kw, sm / km, 100 * (so - ko) / ko
}'

if [ "${SKIP_100K:-}" != 1 ]; then
	[ -f "$big" ] || { echo "no $big: run bench/pyramid.sh first (or SKIP_100K=1)" >&2; exit 2; }
	measure 2 slidepipe "$dir/seg-100k.csv" bash -c 'chain "$0" "$1"' "$big" "$dir/seg-100k.csv"
	px=$(vipsheader -f width "$big")
	py_=$(vipsheader -f height "$big")
	awk -v w="$(col 2 slidepipe 3)" -v m="$(col 2 slidepipe 5)" -v px="$px" -v py="$py_" 'BEGIN {
		printf "job 2: %d x %d px in %.1f s = %.1f MP/s, peak RSS %d MB\n", px, py, w, px * py / 1e6 / w, m / 1024
	}'
fi
rm -f "$dir/seg-100k.csv"
