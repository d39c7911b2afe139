#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# libvips' own leak check on the command line: with VIPS_LEAK=1 (as
# vips_leak_set()), vips_shutdown() lists VipsObjects still alive, tracked
# memory and files not released, and text left in the error buffer. It
# only prints, so the report is searched: every run here must leave it
# empty, whether the run succeeds or fails. (tests/test-api does the same
# for the C API; tests/valgrind.sh and the sanitizer build check the
# malloc heap.)
. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

make_slide 1200 900 "$TMPD/s.tif"
printf 'slide,x,y,w,h,out\n%s,0,0,256,256,a.tif\n%s,9999,0,10,10,b.tif\nmissing.tif,0,0,1,1,c.tif\n' \
	"$TMPD/s.tif" "$TMPD/s.tif" >"$TMPD/m.csv"
printf 'x,y,w,h,score\n0,0,400,400,0.2\n400,0,400,400,0.9\n' >"$TMPD/p.csv"

# leak_free NAME EXPECTED-EXIT ARGS…: slidepipe ARGS with the report on
leak_free() {
	_name=$1 _rc=$2
	shift 2
	VIPS_LEAK=1 "$SLIDEPIPE" "$@" >"$SP_OUT" 2>"$SP_ERR"
	RC=$?
	check "$_name: exit $_rc" rc_is "$_rc"
	check "$_name: libvips reports no leak" \
		lacks "$SP_ERR" 'objects alive|allocations|files:|error buffer'
}

leak_free "crop, downsample, save TIFF" 0 \
	load "$TMPD/s.tif" ! crop 100 100 700 500 ! downsample 2 ! save "$TMPD/o.tif"
leak_free "threshold, save PNG" 0 \
	load "$TMPD/s.tif" ! downsample 4 ! threshold ! save "$TMPD/o.png"
leak_free "tiles with the default mask" 0 \
	load "$TMPD/s.tif" ! tiles "$TMPD/t" size=128 min-tissue=0.2
leak_free "overlay" 0 \
	load "$TMPD/s.tif" ! downsample 4 ! overlay "$TMPD/p.csv" ! save "$TMPD/v.png"
leak_free "compression=copy" 0 \
	load "$TMPD/s.tif" ! crop 256 256 512 256 ! save "$TMPD/c.tif" compression=copy
leak_free "compression=auto, level 0 re-cut" 0 \
	load "$TMPD/s.tif" ! crop 272 256 512 300 ! save "$TMPD/r.tif" compression=auto
leak_free "explain" 0 explain load "$TMPD/s.tif" ! downsample 3
leak_free "info" 0 info "$TMPD/s.tif"
leak_free "a region outside the slide" 1 \
	load "$TMPD/s.tif" ! crop 0 0 5000 10 ! save "$TMPD/x.tif"
leak_free "a file that is not an image" 1 \
	load "$TMPD/p.csv" ! save "$TMPD/x.tif"
leak_free "batch, with a bad and a missing row" 1 \
	batch "$TMPD/m.csv" --out-dir "$TMPD/b" -j 2

done_testing
