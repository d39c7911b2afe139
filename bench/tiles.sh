#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark of patch extraction for training: 224² patches at level 1 of
# the synthetic 27648 × 29440 slide (../shared/tools/mkslide.c, seed 3),
# kept where an Otsu saturation mask covers at least half the patch.
# openslide-python as a typical user script (bench/tiles-openslide.py)
# against slidepipe, with and without writing PNGs, in one run. PNG
# settings differ: PIL's default is zlib level 6, slidepipe tiles' default
# compression=1 (libdeflate; ~10 % larger than zlib 6 on this noise
# texture, see RESULTS.md). Whole-process figures
# from /usr/bin/time: wall seconds, CPU %, peak RSS.
#
#   a  openslide-python, PNGs written     bench/tiles-openslide.py SLIDE OUT
#   b  openslide-python, nothing written  … --no-save
#   c  slidepipe, PNGs written            slidepipe load … ! tiles OUT …
#   d  slidepipe, nothing written         examples/patch-feed SLIDE (the C API:
#                                         sp_tiles_foreach, patches to a callback)
#
# usage: bench/tiles.sh [RUNS]     (from a built tree; RUNS per row, default 3)
# env:   BENCH_DIR (default /tmp/slidepipe-bench), SHARED_DIR (../shared),
#        SLIDEPIPE (default src/slidepipe of this tree), PYTHON (default
#        /usr/bin/python3: Debian's modules, whatever python3 is on PATH)
# needs: python3-openslide python3-numpy python3-pil, time
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
runs=${1:-3}
dir=${BENCH_DIR:-/tmp/slidepipe-bench}
shared=${SHARED_DIR:-$top/../shared}
sp=${SLIDEPIPE:-$top/src/slidepipe}
py=${PYTHON:-/usr/bin/python3}
slide=$dir/slide27k.tif
out=$dir/tiles-out
mkdir -p "$dir"

"$py" -c 'import openslide, numpy, PIL' 2>/dev/null ||
	apt-get install -y -q python3-openslide python3-numpy python3-pil >/dev/null
if [ ! -x "$dir/mkslide" ]; then
	cc -O2 -o "$dir/mkslide" "$shared/tools/mkslide.c" $(pkg-config --cflags --libs vips)
fi
if [ ! -f "$slide" ] && [ -f "$slide.part" ]; then
	# another run (or bench/pyramid.sh's caller) is writing it: wait, 30 min at most
	echo "waiting for $slide.part to be finished" >&2
	n=0
	while [ ! -f "$slide" ] && [ "$n" -lt 60 ]; do
		sleep 30
		n=$((n + 1))
	done
fi
if [ ! -f "$slide" ]; then
	echo "generating $slide (about a minute, 110 MB)" >&2
	"$dir/mkslide" 27648 29440 "$slide.part" 3 && mv "$slide.part" "$slide"
fi

# slidepipe rows need the tiles operator; the callback row, its program
have_tiles=yes
"$sp" tiles --help >/dev/null 2>&1 || have_tiles=no
cb=${PATCH_FEED:-$top/examples/patch-feed}
cb_why=""
[ -x "$cb" ] || cb_why="skipped: $cb not built (make)"

results=$dir/tiles-results.txt
: >"$results"
# run ROW CMD... : appends "ROW wall cpu rss pngs reported" per run; pngs is
# the PNG count in $out, reported the first number on the first line of the
# tool's stdout then stderr that says "patches" ("openslide-python: N
# patches kept of M", "tiles: N of M patches kept")
run() {
	row=$1
	shift
	for _ in $(seq "$runs"); do
		rm -rf "$out"
		mkdir -p "$out"
		sync
		if /usr/bin/time -f "%e %P %M" -o "$dir/time.txt" "$@" >"$dir/stdout.txt" 2>"$dir/err.txt"; then
			read -r wall cpu rss <"$dir/time.txt"
			pngs=$(find "$out" -name '*.png' | wc -l)
			said=$(cat "$dir/stdout.txt" "$dir/err.txt" | awk '/patches kept|patch-feed:/ {
				for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) { print $i; exit } }')
			echo "$row $wall ${cpu%\%} $rss $pngs ${said:--}" | tee -a "$results"
		else
			echo "$row FAILED: $(tail -1 "$dir/err.txt")" | tee -a "$results"
		fi
	done
	rm -rf "$out"
}

echo "# $(date -u +%FT%TZ), $(uname -srm), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "# $("$sp" --version); $("$py" -c 'import openslide, numpy, PIL; print("openslide-python %s (libopenslide %s), numpy %s, Pillow %s" % (openslide.__version__, openslide.__library_version__, numpy.__version__, PIL.__version__))')"
echo "# $slide: 224² patches at level 1, min-tissue 0.5; $runs runs per row"
echo "# row wall_s cpu_% peak_rss_kb pngs reported_patches"

run a "$py" "$top/bench/tiles-openslide.py" "$slide" "$out"
run b "$py" "$top/bench/tiles-openslide.py" "$slide" "$out" --no-save
if [ "$have_tiles" = yes ]; then
	run c "$sp" -q load "$slide" ! tiles "$out" size=224 level=1 min-tissue=0.5
else
	echo "c skipped: slidepipe has no tiles operator"
fi
if [ "$have_tiles" = no ]; then
	echo "d skipped: slidepipe has no tiles operator"
elif [ -n "$cb_why" ]; then
	echo "d $cb_why"
else
	run d "$cb" "$slide" 1 224 0.5
fi

col() { awk -v r="$1" -v c="$2" '$1==r && $2!="FAILED:" {print $c}' "$results" | median; }

echo
echo "medians (patches: PNGs written, or as printed by a no-save row):"
printf "%-3s %-28s %8s %9s %6s %8s\n" row tool patches wall_s cpu_% rss_MB
for r in a b c d; do
	case $r in
	a) name="openslide-python, PNGs" ;;
	b) name="openslide-python, --no-save" ;;
	c) name="slidepipe tiles, PNGs" ;;
	d) name="slidepipe patch-feed (C API)" ;;
	esac
	w=$(col $r 2)
	[ -n "$w" ] || continue
	c=$(col $r 3); m=$(col $r 4); p=$(col $r 5)
	[ "$p" != 0 ] || p="$(col $r 6)"
	printf "%-3s %-28s %8s %9.2f %6s %8d\n" "$r" "$name" "${p:--}" "$w" "$c" "$((${m%.*} / 1024))"
done

echo
echo "c/a slidepipe/openslide-python, PNGs:      wall $(ratio "$(col c 2)" "$(col a 2)"), peak RSS $(ratio "$(col c 4)" "$(col a 4)")"
echo "d/b slidepipe/openslide-python, no saving: wall $(ratio "$(col d 2)" "$(col b 2)"), peak RSS $(ratio "$(col d 4)" "$(col b 4)")"
