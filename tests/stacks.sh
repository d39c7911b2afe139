#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Planes as an axis of the pipeline (issue 15): channels, z planes and
# time points of OME-TIFFs and the pages of multi-page TIFFs, their pixel
# types kept. tests/stacks.py checks the pixels against tifffile and numpy
# (seeded: STACKS_SEED=N, default 1, or random): every plane of the shared
# int8 z-series, a generated 16-bit stack through crop and downsample
# (numpy's box mean), page selections, project along z, and a generated
# 16-bit OME-TIFF pyramid with named channels saved again as OME-TIFF.
# Here: what info says about planes, and the errors.

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

"$PYTHON" -c 'import numpy, scipy, tifffile' 2>/dev/null ||
	skip_all "numpy, scipy or tifffile missing (install-deps.sh)"
# tifffile here decodes neither LZW nor zstd: libtiff's tiffcp writes the
# LZW pages of the generated stack and uncompressed copies to read back
command -v tiffcp >/dev/null || skip_all "tiffcp (libtiff-tools) not installed"
cd "$TMPD" || exit 99

ZS=$SHARED_DIR/images/multi-channel-z-series.ome.tif

# ------------------------------------------ pixels against tifffile/numpy
mkdir py
"$PYTHON" "$TESTS_SRCDIR/stacks.py" --slidepipe "$SLIDEPIPE" --tmp "$TMPD/py" \
	--shared "$SHARED_DIR" --seed "${STACKS_SEED:-1}" >py.out 2>py.err
_rc=$?
relay_tap py.out
check "tests/stacks.py ran to its end" eval '[ $_rc = 0 ] || { diag_file py.err; false; }'

# the files stacks.py made: 12 pages of 600 × 400 uint16, and an OME-TIFF
# pyramid C 2 (DAPI blue, FITC green) × Z 3 of 512 × 384 uint16
STACK=$TMPD/py/stack.tif
PYR=$TMPD/py/pyramid.ome.tif
[ -f "$STACK" ] && [ -f "$PYR" ] || {
	echo "Bail out! tests/stacks.py made no stack.tif or pyramid.ome.tif"
	exit 99
}

# ------------------------------------------------------------------ info
if [ -f "$ZS" ]; then
	sp info "$ZS"
	check "info on the z-series: pixel type int8, planes C 3 × Z 5 × T 1" eval \
		'rc_is 0 && has "$SP_OUT" "^pixel type: int8$" "^planes: C 3 × Z 5 × T 1$"'
	check "info on the z-series: a line per channel" eval \
		'has "$SP_OUT" "^ *channel 0:" "^ *channel 1:" "^ *channel 2:" &&
			lacks "$SP_OUT" "^ *channel 3:"'
else
	skip "info on the z-series" "$ZS absent (the shared images are not beside the repository)"
fi
sp info "$PYR"
check "info on the OME pyramid: pixel type uint16, planes C 2 × Z 3 × T 1" eval \
	'rc_is 0 && has "$SP_OUT" "^pixel type: uint16$" "^planes: C 2 × Z 3 × T 1$"'
check "info on the OME pyramid: channel names and colours (#RRGGBB)" has "$SP_OUT" \
	'^ *channel 0: DAPI.*#0000[Ff][Ff]' '^ *channel 1: FITC.*#00[Ff][Ff]00'
check "info on the OME pyramid: 3 levels (SubIFDs)" has "$SP_OUT" '^levels: 3$'
sp info "$STACK"
check "info on the multi-page TIFF: uint16, its 12 pages are z planes" eval \
	'rc_is 0 && has "$SP_OUT" "^pixel type: uint16$" "^planes: C 1 × Z 12 × T 1$"'

# ---------------------------------------------------------------- errors
# err_is WHAT OUT PATTERN…: the last sp failed as a usage (2) or runtime
# (1) error, not a crash, with one line on stderr matching every PATTERN
# (and not "unknown argument": these arguments exist), and wrote nothing
err_is() {
	_what=$1 _out=$2
	shift 2
	if [ "$RC" != 1 ] && [ "$RC" != 2 ]; then
		diag "$_what: exit status $RC, expected 1 or 2; stderr:"
		diag_file "$SP_ERR"
		return 1
	fi
	has "$SP_ERR" "$@" || return 1
	lacks "$SP_ERR" "unknown argument" || return 1
	_lines=$(wc -l <"$SP_ERR")
	[ "$_lines" = 1 ] || { diag "$_what: $_lines lines on stderr, expected 1"; diag_file "$SP_ERR"; return 1; }
	absent "$_out" && no_temp "$(dirname "$_out")"
}

# a regular expression for "FIRST … LAST", the valid range of a selection
range_re() {
	echo "$1 ?(…|\\.\\.\\.?|-|–|to) ?$2"
}

sp load "$STACK" page=all ! save "$TMPD/j.tif" compression=jpeg
check "jpeg on 16-bit planes: refused, names the compressions that work" \
	err_is "compression=jpeg" "$TMPD/j.tif" "jpeg" "lzw" "deflate" "zstd" "none"
sp load "$PYR" ! crop 0 0 256 256 ! save "$TMPD/j.ome.tif" compression=jpeg
check "jpeg on a 16-bit OME-TIFF: refused, names the compressions that work" \
	err_is "compression=jpeg" "$TMPD/j.ome.tif" "jpeg" "lzw" "deflate" "zstd" "none"

if [ -f "$ZS" ]; then
	sp load "$ZS" c=7 ! save "$TMPD/c7.tif"
	check "c=7 on the 3-channel z-series: names 'c', the file, channels 0 … 2" \
		err_is "c=7" "$TMPD/c7.tif" "argument .c." "multi-channel-z-series\.ome\.tif" "$(range_re 0 2)"
	sp load "$ZS" z=5 ! save "$TMPD/z5.tif"
	check "z=5 on the 5-plane z-series: names 'z', the file, planes 0 … 4" \
		err_is "z=5" "$TMPD/z5.tif" "argument .z." "multi-channel-z-series\.ome\.tif" "$(range_re 0 4)"
else
	skip "c=7 and z=5 on the z-series" "$ZS absent"
fi
sp load "$PYR" c=0,7 ! save "$TMPD/c07.tif"
check "c=0,7 on the 2-channel pyramid: names 'c', the file, channels 0 … 1" \
	err_is "c=0,7" "$TMPD/c07.tif" "argument .c." "pyramid\.ome\.tif" "$(range_re 0 1)"
sp load "$PYR" t=1 ! save "$TMPD/t1.tif"
check "t=1 on a single time point: names 't' and the file" \
	err_is "t=1" "$TMPD/t1.tif" "argument .t." "pyramid\.ome\.tif"
sp load "$STACK" page=99 ! save "$TMPD/p99.tif"
check "page=99 on 12 pages: names 'page', the file, pages 0 … 11" \
	err_is "page=99" "$TMPD/p99.tif" "argument .page." "stack\.tif" "$(range_re 0 11)"
sp load "$STACK" page=10-12 ! save "$TMPD/p1012.tif"
check "page=10-12 on 12 pages: refused, names 'page'" \
	err_is "page=10-12" "$TMPD/p1012.tif" "argument .page." "$(range_re 0 11)"
sp load "$STACK" z=0 ! save "$TMPD/z0.tif"
check "z= on a multi-page TIFF that is not OME: refused, names 'z'" \
	err_is "z=0" "$TMPD/z0.tif" "argument .z.: "
for _sel in 'x' '1,,2' '-1' '2-' '1-2-3'; do
	sp load "$STACK" "page=$_sel" ! save "$TMPD/bad.tif"
	check "page=$_sel: a malformed selection, exit 2, names it" eval \
		'rc_is 2 && err_is "page=$_sel" "$TMPD/bad.tif" "argument .page.: .*$_sel"'
done

done_testing
