#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark of annotation crops (issue 17): 1,000 seeded random
# star-shaped polygons without holes (8-40 vertices, bounding boxes with
# sides from 64 to 4096 px, log-uniform by default; SIDES=uniform for
# uniform sides, about 4.7 x the pixels and 15+ minutes for row a) placed
# inside the synthetic 100k x 100k slide of ../shared/tools/mkslide.c, each
# cropped to its bounding box with the pixels outside the polygon white,
# saved as PNG. Whole-process figures from /usr/bin/time: wall seconds,
# CPU %, peak RSS; and the outputs' size on disk. PNG settings differ:
# PIL's default zlib level 6, slidepipe's save default.
#
#   a  openslide-python + PIL    bench/annotations-openslide.py SLIDE POLYS OUT
#                                (read_region, ImageDraw.polygon mask,
#                                Image.composite on white, sequential)
#   b  slidepipe                 slidepipe batch --annotations POLYS --slide SLIDE
#                                --out-dir OUT --outside white (default --jobs)
#
# Target (issue 17): b / a <= 0.2 in wall time. Once, untimed, a sample of
# 20 crops (and the largest) of a and b are compared pixel for pixel:
# same size, every pixel either OpenSlide's read_region pixel or white,
# and the pixels where the two differ (PIL's polygon fill, which includes
# the outline, against slidepipe's rasterize rule: pixel centre inside)
# all within 1.5 px of the polygon's boundary, counted per pixel of
# perimeter.
#
# usage: bench/annotations.sh [RUNS]     (from a built tree; RUNS per row,
#        default 1 as row a takes minutes; runs alternate between rows)
# env:   BENCH_DIR (default /tmp/slidepipe-bench), SHARED_DIR (../shared),
#        SLIDEPIPE (default src/slidepipe of this tree), PYTHON (default
#        /usr/bin/python3: Debian's modules, whatever python3 is on PATH),
#        COUNT (1000), SEED (17), SIDES (loguniform|uniform)
# needs: python3-openslide python3-numpy python3-pil, time
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
runs=${1:-${RUNS:-1}}
dir=${BENCH_DIR:-/tmp/slidepipe-bench}
shared=${SHARED_DIR:-$top/../shared}
sp=${SLIDEPIPE:-$top/src/slidepipe}
py=${PYTHON:-/usr/bin/python3}
count=${COUNT:-1000}
seed=${SEED:-17}
sides=${SIDES:-loguniform}
LC_ALL=C
export LC_ALL
slide=$dir/slide100k.tif
polys=$dir/annotations-$count-$seed-$sides.geojson
script=$top/bench/annotations-openslide.py
mkdir -p "$dir"

"$py" -c 'import openslide, numpy, PIL' 2>/dev/null ||
	apt-get install -y -q python3-openslide python3-numpy python3-pil >/dev/null
if [ ! -x "$dir/mkslide" ]; then
	cc -O2 -o "$dir/mkslide" "$shared/tools/mkslide.c" $(pkg-config --cflags --libs vips)
fi
if [ ! -f "$slide" ]; then
	echo "generating $slide (about 9 minutes, 1.5 GB)" >&2
	"$dir/mkslide" 100000 100000 "$slide.part" && mv "$slide.part" "$slide"
fi
"$py" "$script" --generate "$polys" --count "$count" --seed "$seed" --sides "$sides" | sed 's/^/# /'

have_b=yes
"$sp" batch --help 2>&1 | grep -q -- --annotations || have_b=no

results=$dir/annotations-results.txt
: >"$results"
# one ROW: appends "ROW wall cpu rss pngs out_kb"; the outputs stay in
# $dir/ann-ROW for the comparison
run() {
	row=$1
	out=$dir/ann-$row
	rm -rf "$out"
	mkdir -p "$out"
	sync
	case $row in
	a) set -- "$py" "$script" "$slide" "$polys" "$out" ;;
	b) set -- "$sp" batch --annotations "$polys" --slide "$slide" --out-dir "$out" \
		--outside white --no-progress ;;
	esac
	if /usr/bin/time -f "%e %P %M" -o "$dir/time.txt" "$@" >"$dir/stdout.txt" 2>"$dir/err.txt"; then
		read -r wall cpu rss <"$dir/time.txt"
		pngs=$(find "$out" -name '*.png' | wc -l)
		kb=$(du -sk "$out" | cut -f1)
		echo "$row $wall ${cpu%\%} $rss $pngs $kb" | tee -a "$results"
	else
		echo "$row FAILED: $(tail -1 "$dir/err.txt")" | tee -a "$results"
	fi
}

echo "# $(date -u +%FT%TZ), $(uname -srm), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $("$sp" --version); $("$py" -c 'import sys, openslide, numpy, PIL; print("Python %s, openslide-python %s (libopenslide %s), numpy %s, Pillow %s" % (sys.version.split()[0], openslide.__version__, openslide.__library_version__, numpy.__version__, PIL.__version__))')"
echo "# $slide, $polys; $runs runs per row, alternating"
# the slide into the page cache for both rows alike (1.5 GB; the polygons touch ~10 % of it)
cat "$slide" >/dev/null
echo "# row wall_s cpu_% peak_rss_kb pngs out_kb"
for _ in $(seq "$runs"); do
	run a
	if [ "$have_b" = yes ]; then
		run b
	fi
done
[ "$have_b" = yes ] || echo "b skipped: $sp batch has no --annotations"

if [ "$have_b" = yes ] && [ -d "$dir/ann-a" ] && [ -d "$dir/ann-b" ]; then
	echo "# a against b, 20 crops and the largest (untimed):"
	"$py" "$script" --compare "$slide" "$polys" "$dir/ann-a" "$dir/ann-b" --sample 20 \
		--pattern-a '{name}.png' --pattern-b '{name}_{index}.png' | sed 's/^/#   /' || true
fi

col() { awk -v r="$1" -v c="$2" '$1==r && $2!="FAILED:" {print $c}' "$results" | median; }

echo
echo "medians:"
printf "%-3s %-26s %6s %9s %6s %7s %7s\n" row tool pngs wall_s cpu_% rss_MB out_MB
for r in a b; do
	case $r in
	a) name="openslide-python + PIL" ;;
	b) name="slidepipe batch" ;;
	esac
	w=$(col $r 2)
	[ -n "$w" ] || continue
	c=$(col $r 3); m=$(col $r 4); p=$(col $r 5); k=$(col $r 6)
	printf "%-3s %-26s %6s %9.2f %6s %7d %7d\n" "$r" "$name" "$p" "$w" "$c" "$((${m%.*} / 1024))" "$((${k%.*} / 1024))"
done

echo
rb=$(ratio "$(col b 2)" "$(col a 2)")
verdict=$(awk -v r="$rb" 'BEGIN {print (r != "n/a" && r <= 0.2) ? "PASS" : "FAIL"}')
echo "b/a slidepipe/openslide-python + PIL, wall: $rb (target <= 0.2: $verdict); peak RSS: $(ratio "$(col b 4)" "$(col a 4)"); output size: $(ratio "$(col b 6)" "$(col a 6)")"
