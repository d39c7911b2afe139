#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The C API examples: crop-repyramid (crop, downsample, pyramidal save)
# and tissue-mask (Otsu mask, tissue fraction) on a synthetic slide whose
# tissue layout is known (examples/make-slide.c).

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

for e in crop-repyramid tissue-mask make-slide patch-feed; do
	[ -x "$EXAMPLES/$e" ] || skip_all "$EXAMPLES/$e not built"
done
command -v vips >/dev/null || skip_all "vips (libvips-tools) not installed"

S=$TMPD/slide.tif   # 4000 × 3000, 0.25 µm/px
O=$TMPD/o
mkdir "$O"
make_slide 4000 3000 "$S"
EXPECTED=$(tissue_fraction)

# run_example NAME ARGS…: output in $SP_OUT / $SP_ERR, status in $RC
run_example() {
	_ex=$1
	shift
	"$EXAMPLES/$_ex" "$@" >"$SP_OUT" 2>"$SP_ERR"
	RC=$?
}

# ------------------------------------------------------- crop-repyramid
run_example crop-repyramid "$S" 500 400 2000 1500 4 "$O/cr.tif"
check "crop-repyramid 500 400 2000 1500 / 4: exits 0" rc_is 0
check "crop-repyramid: prints the output size and pixel size" has "$SP_OUT" \
	"^$O/cr\\.tif: 500 × 375 px, 1 µm/px\$"
check "crop-repyramid: the file is 500 × 375" \
	eq "size" "500 375" "$(size "$O/cr.tif")"
check "crop-repyramid: slidepipe info sees 2 levels and mpp 1 × 1" eval \
	'eq levels "500×375,250×187" "$(sp_levels "$O/cr.tif")" &&
		eq mpp "1 × 1" "$(sp_mpp "$O/cr.tif")"'
if [ -n "$OS_PYTHON" ]; then
	check "crop-repyramid: OpenSlide opens it with every level" \
		eq "levels" "500×375,250×187" "$(os_check "$O/cr.tif" levels)"
else
	skip "crop-repyramid: OpenSlide opens it with every level" \
		"no python3 with the openslide module"
fi
vips crop "$S" "$TMPD/ref.v" 500 400 2000 1500 &&
	vips shrink "$TMPD/ref.v" "$TMPD/ref4.v" 4 4
check "crop-repyramid: the pixels are the region box-averaged (MAD <= 3)" \
	mad_le "crop-repyramid" "$O/cr.tif" "$TMPD/ref4.v" 3

run_example crop-repyramid "$S" 3000 2000 2000 2000 2 "$O/outside.tif"
check "crop-repyramid outside the slide: exits 1" rc_is 1
check "crop-repyramid outside the slide: says so, with the slide's size" \
	has "$SP_ERR" "outside" "4000 × 3000"
check "crop-repyramid outside the slide: writes nothing" eval \
	'absent "$O/outside.tif" && no_temp "$O"'
run_example crop-repyramid "$S" 0 0 100
check "crop-repyramid with too few arguments: exits 2 with its usage" eval \
	'rc_is 2 && has "$SP_ERR" "usage: .*crop-repyramid SLIDE X Y W H FACTOR OUT.tif"'

# ---------------------------------------------------------- tissue-mask
run_example tissue-mask "$S" "$O/mask.tif"
check "tissue-mask: exits 0" rc_is 0
check "tissue-mask: prints the Otsu value, read from a pyramid level" has "$SP_OUT" \
	'^threshold: Otsu value [0-9.]+ on saturation, from a 125 × 94 view read at level [1-9]$'
_frac=$(sed -n 's/^tissue fraction \([0-9.]*\)$/\1/p' "$SP_OUT")
check "tissue-mask: tissue fraction $_frac is the ellipses' $EXPECTED ± 0.04" \
	num_near "tissue fraction" "$_frac" "$EXPECTED" 0.04
check "tissue-mask: the mask is 125 × 94 (4000 × 3000 / 32), 1 band" \
	eq "mask" "125 94 1 uchar tiffload" "$(hdr "$O/mask.tif")"
_avg=$(vips avg "$O/mask.tif" | awk '{ printf "%.4f", $1 / 255 }')
check "tissue-mask: the printed fraction is the saved mask's mean / 255" \
	num_near "mask mean / 255" "$_avg" "$_frac" 0.0001
run_example tissue-mask "$S" "$O/mask8.tif" 8
_frac8=$(sed -n 's/^tissue fraction \([0-9.]*\)$/\1/p' "$SP_OUT")
check "tissue-mask FACTOR 8: 500 × 375, fraction $_frac8 within 0.02 of $EXPECTED" eval \
	'rc_is 0 && eq size "500 375" "$(size "$O/mask8.tif")" &&
		num_near "tissue fraction" "$_frac8" "$EXPECTED" 0.02'
run_example tissue-mask "$TMPD/nope.tif" "$O/nope-mask.tif"
check "tissue-mask on a missing slide: exits 1, nothing written" eval \
	'rc_is 1 && has "$SP_ERR" "nope\.tif" && absent "$O/nope-mask.tif" && no_temp "$O"'

# ----------------------------------------------------------- patch-feed
run_example patch-feed "$S" 1 128 0.5
check "patch-feed: exits 0" rc_is 0
"$SLIDEPIPE" load "$S" ! tiles "$O/patches" size=128 level=1 min-tissue=0.5 2>/dev/null
_n=$(($(wc -l <"$O/patches/tiles.csv") - 1))
check "patch-feed: as many patches as tiles writes ($_n)" has "$SP_OUT" \
	"^patch-feed: $_n patches of 128 × 128 at level 1, mean value [0-9.]+, [0-9.]+ s$"
check "patch-feed: some patches ($_n > 10)" num_ge "patches" "$_n" 10
run_example patch-feed "$S" 7
check "patch-feed at a missing level: exits 1, says why" eval \
	'rc_is 1 && has "$SP_ERR" "has no level 7"'

# ------------------------------------------------- README's C example
# The block under "## C API" in README.md, copied verbatim, built with
# pkg-config alone against this build (slidepipe.pc with its libdir and
# includedir pointed at the build and source trees), run on the slide.
# It calls no sp_init(): the library starts itself (it crashed before).
: "${TESTS_BUILDDIR:=$TESTS_SRCDIR}"
TOP_SRC=$TESTS_SRCDIR/..
TOP_BUILD=$TESTS_BUILDDIR/..
if [ ! -f "$TOP_BUILD/slidepipe.pc" ] || [ ! -d "$TOP_BUILD/src/.libs" ] ||
	! command -v pkg-config >/dev/null || ! command -v cc >/dev/null; then
	skip "README's C example builds and runs" "no slidepipe.pc, src/.libs, pkg-config or cc"
else
	mkdir -p "$TMPD/readme/pc"
	sed -n '/^## C API/,/^## /p' "$TOP_SRC/README.md" |
		sed -n '/^```c$/,/^```$/p' | sed '1d;$d' >"$TMPD/readme/app.c"
	check "README's C API section has a C block with main()" \
		has "$TMPD/readme/app.c" '^main\(int argc, char \*\*argv\)$' '^#include <slidepipe/slidepipe.h>'
	sed -e "s|^libdir=.*|libdir=$(cd "$TOP_BUILD/src/.libs" && pwd)|" \
		-e "s|^includedir=.*|includedir=$(cd "$TOP_SRC/include" && pwd)|" \
		"$TOP_BUILD/slidepipe.pc" >"$TMPD/readme/pc/slidepipe.pc"
	# shellcheck disable=SC2046
	( cd "$TMPD/readme" && PKG_CONFIG_PATH=$TMPD/readme/pc &&
		export PKG_CONFIG_PATH &&
		cc ${SP_SAN_FLAGS:-} -o app app.c $(pkg-config --cflags --libs slidepipe) ) \
		>"$TMPD/readme/cc.log" 2>&1
	check "README's C example builds with cc \$(pkg-config --cflags --libs slidepipe)" \
		eval '[ -x "$TMPD/readme/app" ] || { diag_file "$TMPD/readme/cc.log"; false; }'
	LD_LIBRARY_PATH=$(cd "$TOP_BUILD/src/.libs" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
		"$TMPD/readme/app" "$S" "$O/readme.tif" >"$SP_OUT" 2>"$SP_ERR"
	RC=$?
	check "README's C example runs without sp_init() (was SIGSEGV): exits 0" rc_is 0
	check "README's C example: its output is the 2048² crop / 4 = 512 × 512" \
		eq "size" "512 512" "$(size "$O/readme.tif")"
	LD_LIBRARY_PATH=$(cd "$TOP_BUILD/src/.libs" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
		"$TMPD/readme/app" "$O/missing.svs" "$O/readme2.tif" >"$SP_OUT" 2>"$SP_ERR"
	RC=$?
	check "README's C example on a missing slide: exit 1, the error names it" \
		eval 'rc_is 1 && has "$SP_ERR" "missing\.svs" && absent "$O/readme2.tif"'
fi

done_testing
