#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# invert, the example operator of HACKING.md: its --help, its pixels
# against numpy's 255 - v (and white - v, clipped) of the same region as
# libvips reads it, and the planner running it on the level it reads.

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

command -v vips >/dev/null || skip_all "vips (libvips-tools) not installed"
PYTHON=${PYTHON:-/usr/bin/python3}
"$PYTHON" -c 'import numpy' 2>/dev/null || skip_all "numpy not installed"

S=$TMPD/slide.tif      # 4000 × 3000, 5 levels (downsamples 1, 2, 4 …)
make_slide 4000 3000 "$S" --mpp 0.25

# expect_invert WHAT OUT REF WHITE: OUT (any image libvips reads) is
# WHITE - v of REF, 0 where v > WHITE, computed by numpy on raw bytes
expect_invert() {
	vips rawsave "$2" "$TMPD/out.raw" 2>/dev/null &&
		vips rawsave "$3" "$TMPD/ref.raw" 2>/dev/null || {
		diag "$1: vips rawsave failed"
		return 1
	}
	_h=$(hdr "$2" "$3" | cut -d' ' -f1-3)
	_r=$("$PYTHON" -c '
import sys
import numpy as np
out = np.fromfile(sys.argv[1], np.uint8).astype(int)
ref = np.fromfile(sys.argv[2], np.uint8).astype(int)
want = np.clip(int(sys.argv[3]) - ref, 0, 255)
if out.shape != want.shape:
    print("sizes differ: %d and %d bytes" % (out.size, want.size))
else:
    print("max-diff %d" % np.abs(out - want).max())
' "$TMPD/out.raw" "$TMPD/ref.raw" "$4")
	if [ "$(echo "$_h" | sed -n 1p)" != "$(echo "$_h" | sed -n 2p)" ] ||
		[ "$_r" != "max-diff 0" ]; then
		diag "$1: headers '$(echo "$_h" | paste -sd'|' -)', $_r"
		return 1
	fi
}

# ----------------------------------------------------------- the command
sp invert --help
check "invert --help: exits 0, usage line, names white" eval \
	'rc_is 0 && has "$SP_OUT" "^usage: slidepipe invert \[white=N\]" "^  white "'
sp ops
check "ops: lists invert, a pointwise filter, with its summary" \
	has "$SP_OUT" "^invert .*255 - v"
sp load "$S" ! invert white=0 ! save "$TMPD/x.png"
check "white=0: exit 2, out of range 1 … 255" eval \
	'rc_is 2 && has "$SP_ERR" "invert: argument .white.: 0 is out of range \(1 … 255\)"'
sp load "$S" ! invert white=200 white=100 ! save "$TMPD/x.png"
check "white given twice: exit 2" eval \
	'rc_is 2 && has "$SP_ERR" "invert: argument .white. given twice"'

# -------------------------------------------------------------- pixels
vips crop "$S" "$TMPD/ref.v" 500 400 600 300
sp load "$S" ! crop 500 400 600 300 ! invert ! save "$TMPD/inv.png"
check "load ! crop ! invert ! save: exit 0" rc_is 0
check "invert: every value is 255 - v of the region libvips reads" \
	expect_invert "invert" "$TMPD/inv.png" "$TMPD/ref.v" 255
sp load "$S" ! crop 500 400 600 300 ! invert white=200 ! save "$TMPD/inv200.png"
check "invert white=200: 200 - v, 0 where v > 200 (numpy)" \
	expect_invert "invert white=200" "$TMPD/inv200.png" "$TMPD/ref.v" 200

# ------------------------------------------------------------- planner
sp explain load "$S" ! downsample 4 ! invert ! save "$TMPD/p4.png"
check "planner: downsample 4 ! invert reads level 2, then inverts" \
	has "$SP_OUT" '^   reads level 2 \(downsample 4\) \[planned\]' \
	'^3\. invert: 1000 × 750 × 3 px'
sp load "$S" ! downsample 4 ! invert ! save "$TMPD/p4.png"
vips tiffload "$S" "$TMPD/l2.v" --page 2
check "planned: 255 - v of level 2's pixels, exactly" \
	expect_invert "planned invert" "$TMPD/p4.png" "$TMPD/l2.v" 255
sp --exact load "$S" ! downsample 4 ! invert ! save "$TMPD/e4.png"
check "exact (level 0, shrink, invert) agrees with planned: PSNR >= 35 dB" \
	psnr_ge "exact vs planned" "$TMPD/p4.png" "$TMPD/e4.png" 35

done_testing
