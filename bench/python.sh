#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark of patches for training in Python: 224² patches at level 1 of
# the synthetic 27648 × 29440 slide (../shared/tools/mkslide.c, seed 3),
# kept where an Otsu saturation mask covers at least half the patch, as
# numpy arrays (or uint8 tensors) in the Python process, nothing saved.
# All rows are bench/python-patches.py MODE SLIDE, which prints
# "MODE: N patches, T s", T its wall time from start to end, imports
# included. Whole-process figures from /usr/bin/time: wall seconds,
# CPU %, peak RSS.
#
#   a  openslide-python          read_region(...).convert('RGB') loop, each
#                                patch np.asarray'd (the grid and mask of
#                                bench/tiles-openslide.py)
#   b  slidepipe                 for p in slidepipe.load(S).patches(224,
#                                level=1, min_tissue=0.5): consume p.array
#   c  DataLoader, 0 workers     slidepipe.torch.PatchDataset +
#                                DataLoader(batch_size=32, num_workers=0)
#   d  DataLoader, 2 workers     the same, num_workers=2 (fork)
#
# Target (issue 16): b / a <= 0.2 in wall time. Once, untimed, the kept
# patches' level-0 (x, y) of every row are written to BENCH_DIR/py-*.txt:
# a and b are compared (their Otsu masks are computed at different
# resolutions, so a few patches may differ), b and c, b and d must be equal.
#
# usage: bench/python.sh [RUNS]     (from a built tree; RUNS per row,
#        default 3, runs alternate between rows)
# env:   BENCH_DIR (default /tmp/slidepipe-bench), SHARED_DIR (../shared),
#        PYTHON (default /usr/bin/python3: Debian's modules, whatever
#        python3 is on PATH), SLIDEPIPE_LIBRARY (default
#        src/.libs/libslidepipe.so of this tree)
# needs: python3-openslide python3-numpy python3-pil python3-torch, time
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
runs=${1:-${RUNS:-3}}
dir=${BENCH_DIR:-/tmp/slidepipe-bench}
shared=${SHARED_DIR:-$top/../shared}
py=${PYTHON:-/usr/bin/python3}
SLIDEPIPE_LIBRARY=${SLIDEPIPE_LIBRARY:-$top/src/.libs/libslidepipe.so}
PYTHONPATH=$top/python${PYTHONPATH:+:$PYTHONPATH}
LC_ALL=C
export SLIDEPIPE_LIBRARY PYTHONPATH LC_ALL
slide=$dir/slide27k.tif
script=$top/bench/python-patches.py
mkdir -p "$dir"

"$py" -c 'import openslide, numpy, PIL, torch' 2>/dev/null ||
	apt-get install -y -q python3-openslide python3-numpy python3-pil python3-torch >/dev/null
if [ ! -x "$dir/mkslide" ]; then
	cc -O2 -o "$dir/mkslide" "$shared/tools/mkslide.c" $(pkg-config --cflags --libs vips)
fi
if [ ! -f "$slide" ]; then
	echo "generating $slide (about a minute, 110 MB)" >&2
	"$dir/mkslide" 27648 29440 "$slide.part" 3 && mv "$slide.part" "$slide"
fi

mode() {
	case $1 in
	a) echo openslide ;;
	b) echo slidepipe ;;
	c) echo loader0 ;;
	d) echo loader2 ;;
	esac
}

# once, untimed: the patch sets (also warms the page cache)
echo "# patch sets (untimed):"
for r in a b c d; do
	"$py" "$script" "$(mode $r)" "$slide" --coords "$dir/py-$r.txt"
	sort -o "$dir/py-$r.txt" "$dir/py-$r.txt"
done
same() {
	if cmp -s "$dir/py-$1.txt" "$dir/py-$2.txt"; then
		echo "# $1 and $2: the same $(wc -l <"$dir/py-$1.txt") patches"
	else
		echo "# $1 and $2 differ: $(comm -23 "$dir/py-$1.txt" "$dir/py-$2.txt" | wc -l) only in $1," \
			"$(comm -13 "$dir/py-$1.txt" "$dir/py-$2.txt" | wc -l) only in $2"
	fi
}
same a b
[ "$(comm -3 "$dir/py-a.txt" "$dir/py-b.txt" | wc -l)" = 0 ] ||
	echo "#   (different Otsu masks: openslide-python's from the level with downsample closest to 32, slidepipe's from a finer level)"
same b c
same b d

results=$dir/python-results.txt
: >"$results"
# one ROW: appends "ROW wall cpu rss patches script_s"
run() {
	row=$1
	if /usr/bin/time -f "%e %P %M" -o "$dir/time.txt" "$py" "$script" "$(mode "$row")" "$slide" \
		>"$dir/stdout.txt" 2>"$dir/err.txt"; then
		read -r wall cpu rss <"$dir/time.txt"
		n=$(awk '{print $2; exit}' "$dir/stdout.txt")
		t=$(awk '{print $4; exit}' "$dir/stdout.txt")
		echo "$row $wall ${cpu%\%} $rss $n $t" | tee -a "$results"
	else
		echo "$row FAILED: $(tail -1 "$dir/err.txt")" | tee -a "$results"
	fi
}

echo "# $(date -u +%FT%TZ), $(uname -srm), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "# $("$py" -c 'import openslide, numpy, torch, slidepipe; print("openslide-python %s (libopenslide %s), numpy %s, torch %s, slidepipe python package %s" % (openslide.__version__, openslide.__library_version__, numpy.__version__, torch.__version__, getattr(slidepipe, "__version__", "?")))')"
echo "# $slide: 224² patches at level 1, min-tissue 0.5; $runs runs per row, alternating"
echo "# row wall_s cpu_% peak_rss_kb patches script_s"
for _ in $(seq "$runs"); do
	for r in a b c d; do
		run $r
	done
done

col() { awk -v r="$1" -v c="$2" '$1==r && $2!="FAILED:" {print $c}' "$results" | median; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN {if (n == "" || t == "" || t == 0) print "-"; else printf "%.0f", n / t}'; }

echo
echo "medians (patches/s: patches over whole-process wall, and over the script's own time):"
printf "%-3s %-24s %9s %6s %7s %8s %10s %10s\n" row tool wall_s cpu_% rss_MB patches "p/s wall" "p/s script"
for r in a b c d; do
	case $r in
	a) name="openslide-python" ;;
	b) name="slidepipe patches()" ;;
	c) name="DataLoader, 0 workers" ;;
	d) name="DataLoader, 2 workers" ;;
	esac
	w=$(col $r 2)
	[ -n "$w" ] || continue
	c=$(col $r 3); m=$(col $r 4); p=$(col $r 5); t=$(col $r 6)
	printf "%-3s %-24s %9.2f %6s %7d %8s %10s %10s\n" "$r" "$name" "$w" "$c" "$((${m%.*} / 1024))" \
		"$p" "$(rate "$p" "$w")" "$(rate "$p" "$t")"
done

echo
rb=$(ratio "$(col b 2)" "$(col a 2)")
verdict=$(awk -v r="$rb" 'BEGIN {print (r != "n/a" && r <= 0.2) ? "PASS" : "FAIL"}')
echo "b/a slidepipe/openslide-python, wall: $rb (target <= 0.2: $verdict); script time: $(ratio "$(col b 6)" "$(col a 6)"); peak RSS: $(ratio "$(col b 4)" "$(col a 4)")"
