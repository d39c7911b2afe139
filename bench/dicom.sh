#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark of DICOM WSI output (issue 18): the synthetic 100k x 100k
# slide of ../shared/tools/mkslide.c (tiled pyramidal JPEG BigTIFF, 1.5
# GB) converted, every level, to a DICOM whole-slide series with its JPEG
# tiles copied, not re-encoded. Whole-process figures from /usr/bin/time:
# wall seconds, CPU %, peak RSS; and the output's size on disk.
#
#   c  cp                     cp SLIDE OUT/slide.tif (the floor: the bytes
#                             once read and once written)
#   o  OrthancWSIDicomizer    OrthancWSIDicomizer --reencode=0 --threads=N
#                             --folder=OUT SLIDE (orthanc-wsi 1.1)
#   s  slidepipe              slidepipe load SLIDE ! save OUT format=dicom
#                             compression=copy
#   t  slidepipe, back        slidepipe load OUT_OF_s ! save OUT.tif
#                             compression=copy (the series back to a TIFF,
#                             its frames copied into tiles)
#
# Targets (issue 18): s <= 0.15 x o and <= 3 x c in wall time, s's peak
# RSS <= 200 MB. After the runs, untimed: dciodvfy's error count on each
# of slidepipe's instances and on OrthancWSIDicomizer's first, and a
# 2048^2 crop of slidepipe's level 0 read back against the source's, pixel
# for pixel. cp copies in the kernel (copy_file_range) into the page cache,
# and nothing here waits for the disk: the rows compare CPU and page-cache
# work, which is what a 2-core machine with the slide cached spends.
#
# usage: bench/dicom.sh [RUNS]     (from a built tree; RUNS per row,
#        default 1; runs alternate between rows)
# env:   BENCH_DIR (default /tmp/slidepipe-bench), SHARED_DIR (../shared),
#        SLIDEPIPE (default src/slidepipe of this tree), THREADS (Orthanc's,
#        default: cores), ROWS (default "c o s t"; t needs s)
# needs: orthanc-wsi, dicom3tools, time
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
runs=${1:-${RUNS:-1}}
dir=${BENCH_DIR:-/tmp/slidepipe-bench}
shared=${SHARED_DIR:-$top/../shared}
sp=${SLIDEPIPE:-$top/src/slidepipe}
threads=${THREADS:-$(nproc)}
LC_ALL=C
export LC_ALL
slide=$dir/slide100k.tif
mkdir -p "$dir"

command -v OrthancWSIDicomizer >/dev/null && command -v dciodvfy >/dev/null ||
	apt-get install -y -q orthanc-wsi dicom3tools >/dev/null
if [ ! -x "$dir/mkslide" ]; then
	cc -O2 -o "$dir/mkslide" "$shared/tools/mkslide.c" $(pkg-config --cflags --libs vips)
fi
if [ ! -f "$slide" ]; then
	echo "generating $slide (about 9 minutes, 1.5 GB)" >&2
	"$dir/mkslide" 100000 100000 "$slide.part" && mv "$slide.part" "$slide"
fi

results=$dir/dicom-results.txt
: >"$results"
# one ROW: appends "ROW wall cpu rss files out_kb"
run() {
	row=$1
	out=$dir/dicom-$row
	rm -rf "$out"
	sync
	case $row in
	c) mkdir -p "$out"; set -- cp "$slide" "$out/slide.tif" ;;
	o) mkdir -p "$out"; set -- OrthancWSIDicomizer --reencode=0 --threads="$threads" \
		--folder="$out" "$slide" ;;
	s) set -- "$sp" load "$slide" ! save "$out" format=dicom compression=copy ;;
	t) mkdir -p "$out"
		set -- "$sp" load "$dir/dicom-s" ! save "$out/slide.tif" compression=copy ;;
	esac
	if /usr/bin/time -f "%e %P %M" -o "$dir/time.txt" "$@" >"$dir/stdout.txt" 2>"$dir/err.txt"; then
		read -r wall cpu rss <"$dir/time.txt"
		files=$(find "$out" -type f | wc -l)
		kb=$(du -sk "$out" | cut -f1)
		echo "$row $wall ${cpu%\%} $rss $files $kb" | tee -a "$results"
	else
		echo "$row FAILED: $(tail -1 "$dir/err.txt")" | tee -a "$results"
	fi
	# the next run starts with what it writes gone
	sync
}

echo "# $(date -u +%FT%TZ), $(uname -srm), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg), $(df -h "$dir" | awk 'NR==2 {print $1}')"
echo "# $("$sp" --version); OrthancWSIDicomizer $(dpkg-query -W -f='${Version}' orthanc-wsi 2>/dev/null || echo '?') (orthanc-wsi)"
echo "# $slide ($(du -h "$slide" | cut -f1)); $runs runs per row, alternating"
# the slide into the page cache for every row alike
cat "$slide" >/dev/null
echo "# row wall_s cpu_% peak_rss_kb files out_kb"
rows=${ROWS:-c o s t}
for _ in $(seq "$runs"); do
	for r in $rows; do
		run "$r"
	done
done

echo "# dciodvfy errors (untimed):"
for f in "$dir"/dicom-s/*.dcm; do
	printf '#   slidepipe %s: %s errors\n' "$(basename "$f")" \
		"$(dciodvfy "$f" 2>&1 | grep -c '^Error' || true)"
done
first=$(ls "$dir"/dicom-o/*.dcm 2>/dev/null | head -1)
[ -n "$first" ] && printf '#   OrthancWSIDicomizer %s: %s errors\n' "$(basename "$first")" \
	"$(dciodvfy "$first" 2>&1 | grep -c '^Error' || true)"
echo "# level 0 read back (untimed):"
"$sp" -q load "$dir/dicom-s" ! crop 40000 40000 2048 2048 ! save "$dir/dicom-back.png"
"$sp" -q load "$slide" ! crop 40000 40000 2048 2048 ! save "$dir/dicom-src.png"
if /usr/bin/python3 -c 'import sys, numpy as n; from PIL import Image as I
sys.exit(0 if (n.asarray(I.open(sys.argv[1])) == n.asarray(I.open(sys.argv[2]))).all() else 1)' \
	"$dir/dicom-back.png" "$dir/dicom-src.png"; then
	echo "#   a 2048^2 crop at (40000, 40000): equal to the source's"
else
	echo "#   a 2048^2 crop at (40000, 40000): DIFFERS from the source's"
fi

col() { awk -v r="$1" -v c="$2" '$1==r && $2!="FAILED:" {print $c}' "$results" | median; }

echo
echo "medians:"
printf "%-3s %-22s %6s %9s %6s %7s %7s\n" row tool files wall_s cpu_% rss_MB out_MB
for r in c o s t; do
	case $r in
	c) name="cp" ;;
	o) name="OrthancWSIDicomizer" ;;
	s) name="slidepipe" ;;
	t) name="slidepipe, back" ;;
	esac
	w=$(col $r 2)
	[ -n "$w" ] || continue
	c=$(col $r 3); m=$(col $r 4); f=$(col $r 5); k=$(col $r 6)
	printf "%-3s %-22s %6s %9.2f %6s %7d %7d\n" "$r" "$name" "$f" "$w" "$c" "$((${m%.*} / 1024))" "$((${k%.*} / 1024))"
done

echo
so=$(ratio "$(col s 2)" "$(col o 2)")
sc=$(ratio "$(col s 2)" "$(col c 2)")
rss=$(col s 4)
echo "s/o slidepipe/OrthancWSIDicomizer, wall: $so (target <= 0.15: $(awk -v r="$so" 'BEGIN {print (r != "n/a" && r <= 0.15) ? "PASS" : "FAIL"}'))"
echo "s/c slidepipe/cp, wall: $sc (target <= 3: $(awk -v r="$sc" 'BEGIN {print (r != "n/a" && r <= 3) ? "PASS" : "FAIL"}'))"
echo "slidepipe peak RSS: $((${rss%.*} / 1024)) MB (target <= 200: $(awk -v m="${rss%.*}" 'BEGIN {print (m <= 200 * 1024) ? "PASS" : "FAIL"}'))"
echo "t/c slidepipe DICOM → TIFF/cp, wall: $(ratio "$(col t 2)" "$(col c 2)"); peak RSS $(( $(col t 4 | cut -d. -f1) / 1024 )) MB"
if [ -f "$dir/dicom-t/slide.tif" ]; then
	"$sp" -q load "$dir/dicom-t/slide.tif" ! crop 40000 40000 2048 2048 ! save "$dir/dicom-back-t.png"
	if cmp -s "$dir/dicom-back-t.png" "$dir/dicom-back.png"; then
		echo "#   DICOM → TIFF: the 2048^2 crop at (40000, 40000) equals the series' (untimed)"
	else
		echo "#   DICOM → TIFF: the 2048^2 crop at (40000, 40000) DIFFERS from the series' (untimed)"
	fi
fi
rm -rf "$dir/dicom-c" "$dir/dicom-t"
