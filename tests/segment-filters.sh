#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The segmentation filters (blur, deconvolve, threshold method=local,
# morph) against scipy and scikit-image (tests/segment-filters.py) on
# random images (seeded: SEGMENT_SEED, printed) and on crops of the real
# CMU-1 slide when ../shared is there; lengths in µm; halos in explain;
# the planner; argument errors.

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

PYTHON=${PYTHON:-/usr/bin/python3}
"$PYTHON" -c 'import numpy, scipy, skimage, tifffile' 2>/dev/null ||
	skip_all "python3 numpy, scipy, scikit-image or tifffile not installed"
command -v vips >/dev/null || skip_all "vips (libvips-tools) not installed"

SEED=${SEGMENT_SEED:-14}
diag "random images from seed $SEED (SEGMENT_SEED=N to change)"
"$PYTHON" "$TESTS_SRCDIR/segment-filters.py" make "$TMPD" "$SEED" || {
	echo "Bail out! segment-filters.py make failed"
	exit 99
}
S=$TMPD/slide.tif # synthetic H&E, 0.25 µm per pixel, 5 levels
make_slide 4000 3000 "$S" --mpp 0.25
NOMPP=$TMPD/nompp.tif
make_slide 600 400 "$NOMPP" --no-mpp --no-pyramid
CMU=$SHARED_DIR/slides/CMU-1-Small-Region.svs
SPECS=$TMPD/specs.txt
: >"$SPECS"
O=$TMPD/out
mkdir -p "$O"

# spec KIND NAME ARGS…: an oracle check to run later, all in one python
spec() {
	echo "$*" >>"$SPECS"
}

# run LABEL ARGS…: slidepipe, which must exit 0
run() {
	_label=$1
	shift
	sp "$@"
	check "$_label: exit 0" rc_is 0
}

# lossless float/8-bit TIFF, one level, uncompressed (tifffile reads LZW
# only with imagecodecs)
F="compression=none pyramid=false"

# ------------------------------------------------------------ blur
for _s in 1 4; do
	run "blur sigma=$_s (random RGB)" load "$TMPD/rgb.tif" ! blur sigma=$_s ! save "$O/blur-rgb-$_s.tif" $F
	spec blur "blur-rgb-$_s" "$TMPD/rgb.tif" "$O/blur-rgb-$_s.tif" $_s
done
run "blur sigma=0.7 (random grey)" load "$TMPD/gray.tif" ! blur 0.7 ! save "$O/blur-gray.tif" $F
spec blur blur-gray "$TMPD/gray.tif" "$O/blur-gray.tif" 0.7
# µm through the mpp: 1.5 µm at 0.25 µm per pixel is 6 px
run "slide crop" load "$S" ! crop 1000 800 600 500 ! save "$O/s-crop.tif" $F
run "blur sigma=1.5um on the 0.25 µm slide" load "$S" ! crop 1000 800 600 500 ! blur sigma=1.5um ! save "$O/s-blur.tif" $F
spec blur blur-um "$O/s-crop.tif" "$O/s-blur.tif" 6

# ------------------------------------------------------- deconvolve
run "deconvolve he h" load "$TMPD/rgb.tif" ! deconvolve ! save "$O/d-h.tif" $F
run "deconvolve he e" load "$TMPD/rgb.tif" ! deconvolve stain=he channel=e ! save "$O/d-e.tif" $F
run "deconvolve hdab dab" load "$TMPD/rgb.tif" ! deconvolve stain=hdab channel=dab ! save "$O/d-xdab.tif" $F
run "deconvolve custom (the he vectors) e" load "$TMPD/rgb.tif" ! deconvolve stain=0.65,0.70,0.29,0.07,0.99,0.11,0.27,0.57,0.78 channel=2 ! save "$O/d-ce.tif" $F
spec deconv deconv-h "$TMPD/rgb.tif" "$O/d-h.tif" he 0
spec deconv deconv-e "$TMPD/rgb.tif" "$O/d-e.tif" he 1
spec deconv deconv-xdab "$TMPD/rgb.tif" "$O/d-xdab.tif" hdab 1
spec deconv deconv-ce "$TMPD/rgb.tif" "$O/d-ce.tif" he 1
spec maxdiff custom-vs-he "$O/d-e.tif" "$O/d-ce.tif"

# --------------------------------------------------- local threshold
run "threshold local gaussian block=35" load "$TMPD/gray.tif" ! threshold method=local block=35 ! save "$O/l-g35.tif" $F
run "threshold local mean block=25 offset=3" load "$TMPD/gray.tif" ! threshold method=local block=25 mode=mean offset=3 ! save "$O/l-m25.tif" $F
run "threshold local gaussian block=51 offset=-4 invert" load "$TMPD/gray.tif" ! threshold method=local block=51 offset=-4 invert ! save "$O/l-g51i.tif" $F
run "threshold local on float (deconvolve h)" load "$TMPD/rgb.tif" ! deconvolve ! threshold method=local block=21 offset=-0.002 ! save "$O/l-dh.tif" $F
spec local local-g35 "$TMPD/gray.tif" "$O/l-g35.tif" 35 gaussian 0 0
spec local local-m25 "$TMPD/gray.tif" "$O/l-m25.tif" 25 mean 3 0
spec local local-g51i "$TMPD/gray.tif" "$O/l-g51i.tif" 51 gaussian -4 1
spec local local-dh "$O/d-h.tif" "$O/l-dh.tif" 21 gaussian -0.002 0

# ------------------------------------------------------------ morph
# every operation with each shape, the radius drawn from the seed (1 … 4,
# or 2.6: a disk of non-whole radius)
_radii=$(awk -v seed="$SEED" 'BEGIN { srand(seed); split("1 2 3 4 2.6", r, " ");
	for (i = 0; i < 8; i++) printf "%s ", r[int(rand() * 5) + 1] }')
_k=0
for _op in open close erode dilate; do
	for _shape in disk square; do
		_k=$((_k + 1))
		_r=$(echo "$_radii" | cut -d' ' -f$_k)
		_n=m-$_op-$_shape-$_r
		run "morph $_op radius=$_r shape=$_shape" load "$TMPD/mask.tif" ! morph $_op radius=$_r shape=$_shape ! save "$O/$_n.tif" $F
		spec morph "$_n" "$TMPD/mask.tif" "$O/$_n.tif" $_op $_r $_shape
	done
done
run "morph open 2.6 (positional radius, a disk of non-whole radius)" load "$TMPD/mask.tif" ! morph open 2.6 ! save "$O/m-pos.tif" $F
spec morph m-positional-2.6 "$TMPD/mask.tif" "$O/m-pos.tif" open 2.6 disk

# ------------------------------------------- the README's whole chain
run "deconvolve ! blur ! threshold local ! morph open ! save" load "$S" ! crop 1000 800 1200 900 ! deconvolve stain=he channel=h ! blur sigma=1 ! threshold method=local block=51 ! morph open radius=2 ! save "$O/chain.tif" $F
spec mask chain "$O/chain.tif"

# --------------------------------------------- real texture: CMU-1
if [ -f "$CMU" ]; then
	CMU_MPP=$(sp_mpp "$CMU" | sed 's/ .*//')
	run "CMU-1: crop" load "$CMU" ! crop 700 1000 768 768 ! save "$O/c-crop.tif" $F
	run "CMU-1: blur sigma=2" load "$CMU" ! crop 700 1000 768 768 ! blur sigma=2 ! save "$O/c-blur.tif" $F
	run "CMU-1: blur sigma=1um" load "$CMU" ! crop 700 1000 768 768 ! blur sigma=1um ! save "$O/c-blur-um.tif" $F
	run "CMU-1: deconvolve he h" load "$CMU" ! crop 700 1000 768 768 ! deconvolve ! save "$O/c-h.tif" $F
	run "CMU-1: deconvolve hdab dab" load "$CMU" ! crop 700 1000 768 768 ! deconvolve stain=hdab channel=dab ! save "$O/c-xdab.tif" $F
	run "CMU-1: local threshold of H" load "$CMU" ! crop 700 1000 768 768 ! deconvolve ! threshold method=local block=51 offset=-0.01 ! save "$O/c-lh.tif" $F
	run "CMU-1: local threshold of H, mean" load "$CMU" ! crop 700 1000 768 768 ! deconvolve ! threshold method=local block=31 mode=mean ! save "$O/c-lm.tif" $F
	run "CMU-1: open the local mask, disk 2" load "$O/c-lh.tif" ! morph open radius=2 ! save "$O/c-open.tif" $F
	spec blur cmu-blur "$O/c-crop.tif" "$O/c-blur.tif" 2
	spec blur cmu-blur-um "$O/c-crop.tif" "$O/c-blur-um.tif" "$(awk -v m="$CMU_MPP" 'BEGIN { print 1 / m }')"
	spec deconv cmu-h "$O/c-crop.tif" "$O/c-h.tif" he 0
	spec deconv cmu-xdab "$O/c-crop.tif" "$O/c-xdab.tif" hdab 1
	spec local cmu-lh "$O/c-h.tif" "$O/c-lh.tif" 51 gaussian -0.01 0
	spec local cmu-lm "$O/c-h.tif" "$O/c-lm.tif" 31 mean 0 0
	spec morph cmu-open "$O/c-lh.tif" "$O/c-open.tif" open 2 disk
fi

# -------------------------------------------------------- the planner
# pointwise: deconvolve after a downsample runs on level 2
sp explain load "$S" ! downsample 4 ! deconvolve stain=he channel=h ! save "$O/p.tif"
check "explain: downsample 4 ! deconvolve reads level 2, deconvolve there too" \
	eval 'has "$SP_OUT" "^2\. downsample: 1000 × 750 × 3 px" "^3\. deconvolve: 1000 × 750 × 1 px" &&
		[ "$(grep -c "^   reads level 2 (downsample 4)" "$SP_OUT")" = 2 ]'
# and before it: the downsample still reads level 2, deconvolving there
sp explain load "$S" ! deconvolve ! downsample 4 ! save "$O/p.tif"
check "explain: deconvolve ! downsample 4 still reads level 2 (pointwise)" \
	has "$SP_OUT" "^3\. downsample: .*" "^   reads level 2 \(downsample 4\) \[planned\]"
run "deconvolve ! downsample 4, planned" load "$S" ! deconvolve ! downsample 4 ! save "$O/p-d4.tif" $F
vips tiffload "$S" "$O/level2.tif" --page 2
spec deconv planned-deconv "$O/level2.tif" "$O/p-d4.tif" he 0
# a filter keeps its level: blur after the downsample runs on level 2 …
sp explain load "$S" ! downsample 4 ! blur sigma=2 ! save "$O/p.tif"
check "explain: downsample 4 ! blur: blur on level 2, halo 8 px" \
	has "$SP_OUT" "^3\. blur: 1000 × 750 × 3 px" "^   halo 8 px: reads 8 px of its input around each tile, at downsample 4"
check "explain: blur after downsample 4 reads level 2" eval \
	'[ "$(grep -c "^   reads level 2 (downsample 4)" "$SP_OUT")" = 2 ]'
run "downsample 4 ! blur sigma=2" load "$S" ! downsample 4 ! blur sigma=2 ! save "$O/p-b.tif" $F
spec blur planned-blur "$O/level2.tif" "$O/p-b.tif" 2
# … and a downsample after a filter is computed from the filter's level
sp explain load "$S" ! blur sigma=2 ! downsample 4 ! save "$O/p.tif"
check "explain: blur ! downsample 4 reads level 0 and reduces by 4 (not planned)" eval \
	'has "$SP_OUT" "^3\. downsample" "^   reads level 0 \(downsample 1\), .* then reduces by 4" &&
		lacks "$SP_OUT" "planned"'
sp explain load "$S" ! threshold channel=gray method=local block=51 ! downsample 4 ! save "$O/p.tif"
check "explain: a local threshold is a filter: not planned through, halo 33 px" eval \
	'has "$SP_OUT" "^   halo 33 px" && lacks "$SP_OUT" "planned"'
sp explain load "$S" ! threshold channel=gray ! downsample 4 ! save "$O/p.tif"
check "explain: an Otsu threshold stays pointwise: downsample reads level 2" \
	has "$SP_OUT" "^   reads level 2 \(downsample 4\) \[planned\]"
sp explain load "$S" ! threshold channel=gray method=local block=25 mode=mean ! morph close radius=3 shape=square ! morph erode radius=2 ! save "$O/p.tif"
check "explain: halos of mean (block/2 = 12), close (2R = 6), erode (R = 2)" \
	has "$SP_OUT" "^2\. threshold" "^   halo 12 px" "^   halo 6 px" "^   halo 2 px"
sp explain load "$S" ! deconvolve ! blur sigma=0.5um ! save "$O/p.tif"
check "explain: sigma=0.5um is 2 px at 0.25 µm: halo 8 px; deconvolve has none" eval \
	'has "$SP_OUT" "^   halo 8 px" && [ "$(grep -c "halo" "$SP_OUT")" = 1 ]'

# ------------------------------------------------------ help and ops
sp ops
check "ops: lists blur, deconvolve and morph" \
	has "$SP_OUT" "^blur " "^deconvolve " "^morph "
for _op in blur deconvolve morph threshold; do
	sp $_op --help
	cp "$SP_OUT" "$TMPD/help-$_op.txt"
	check "$_op --help: exit 0, usage, arguments" eval 'rc_is 0 && has "$SP_OUT" "^usage: slidepipe $_op" "^arguments:"'
done
check "blur --help: sigma is a length, µm accepted, scipy named" \
	has "$TMPD/help-blur.txt" "^usage: slidepipe blur SIGMA" "length, px of the level it runs at, or µm as 2um, 0.3 … 250 px" "gaussian_filter"
check "deconvolve --help: float output, sources, custom syntax" \
	has "$TMPD/help-deconvolve.txt" "32-bit float" "Ruifrok" "rgb2hed" "0.65,0.70,0.29"
check "morph --help: disk as skimage's, square, halo" \
	has "$TMPD/help-morph.txt" "skimage.morphology.disk" "^  shape " "halo of R pixels"
check "threshold --help: method local, block, offset, mode" \
	has "$TMPD/help-threshold.txt" "otsu\|value\|local" "^  block " "^  offset " "^  mode " "threshold_local"

# ------------------------------------------------------------- errors
# (more of them, through the C API in one process: tests/test-api.c's
# /ops/length-arguments and /ops/filter-arguments)
# err LABEL PATTERN ARGS…: exit 2, stderr matches PATTERN, nothing written
err() {
	_label=$1 _pat=$2
	shift 2
	sp "$@"
	check "$_label: exit 2, says why" eval 'rc_is 2 && has "$SP_ERR" "$_pat"'
}
err "sigma=0" "blur: argument .sigma.: 0 is not above 0" load "$S" ! blur sigma=0 ! save "$O/e.tif"
err "sigma=-1" "blur: argument .sigma.: -1 is not above 0" load "$S" ! blur sigma=-1 ! save "$O/e.tif"
err "sigma=nan" "blur: argument .sigma.: .nan. is not a finite number" load "$S" ! blur sigma=nan ! save "$O/e.tif"
err "sigma=1e12" "blur: argument .sigma.: 1e12 is over the limit of 250 px" load "$S" ! blur sigma=1e12 ! save "$O/e.tif"
err "sigma=100um (400 px at 0.25 µm)" "blur: argument .sigma.: 100um \(400 px at 0.25 µm per pixel of '.*slide.tif'\) is over the limit of 250 px" load "$S" ! blur sigma=100um ! save "$O/e.tif"
err "sigma=2um without mpp" "blur: argument .sigma.: 2um needs the slide's pixel size, and '.*nompp.tif' records none" load "$NOMPP" ! blur sigma=2um ! save "$O/e.tif"
err "radius=abc" "morph: argument .radius.: .abc. is not a length" load "$TMPD/mask.tif" ! morph open radius=abc ! save "$O/e.tif"
err "morph on RGB" "morph: argument .operation.: .* '.*rgb.tif' gives 3 bands" load "$TMPD/rgb.tif" ! morph open radius=2 ! save "$O/e.tif"
err "block even" "threshold: argument .block.: 50 is not an odd whole number" load "$TMPD/gray.tif" ! threshold method=local block=50 ! save "$O/e.tif"
err "block < 3" "threshold: argument .block.: 1 is below the smallest 3 px" load "$TMPD/gray.tif" ! threshold method=local block=1 ! save "$O/e.tif"
err "block without method=local" "threshold: argument .block. applies to method=local only" load "$TMPD/gray.tif" ! threshold block=51 ! save "$O/e.tif"
err "stain unknown" "deconvolve: argument .stain.: .hex. is not he, hdab or 9" load "$TMPD/rgb.tif" ! deconvolve stain=hex ! save "$O/e.tif"
err "deconvolve on 1 band" "deconvolve: argument .stain.: colour deconvolution needs RGB input, and '.*gray.tif' gives 1 band" load "$TMPD/gray.tif" ! deconvolve ! save "$O/e.tif"
# Otsu on float input (issue 15: on the native range, 256 bins over the
# values found), not refused as before
sp load "$TMPD/rgb.tif" ! deconvolve ! threshold ! save "$TMPD/otsu-float.tif"
check "Otsu on float input: a 0/255 mask, the value reported" eval \
	'[ "$RC" = 0 ] && has "$SP_ERR" "threshold: Otsu value [-0-9.e]* on the grey input" &&
		eq "mask" "1" "$(vipsheader -f bands "$TMPD/otsu-float.tif")" && vipsheader "$TMPD/otsu-float.tif" | grep -q "uchar, 1 band"'
check "errors: nothing written" absent "$O/e.tif"
check "errors: no temporary file left" no_temp "$O"

# ---------------------------------------------- the oracles, at once
"$PYTHON" "$TESTS_SRCDIR/segment-filters.py" check "$SPECS" >"$TMPD/values.txt" 2>"$TMPD/oracle.err"
[ -s "$TMPD/oracle.err" ] && diag_file "$TMPD/oracle.err"
val() {
	sed -n "s/^$1 //p" "$TMPD/values.txt"
}
for _n in $(awk '$1 == "blur" { print $2 }' "$SPECS"); do
	check "$_n: PSNR >= 40 dB against scipy gaussian_filter away from the borders" \
		num_ge "$_n PSNR" "$(val "$_n")" 40
done
for _n in $(awk '$1 == "deconv" { print $2 }' "$SPECS"); do
	check "$_n: within 1e-5 of skimage's (relative to its range)" \
		num_le "$_n max diff / range" "$(val "$_n")" 1e-5
done
check "custom matrix = the he vectors: the same as stain=he" \
	num_le "custom vs he" "$(val custom-vs-he)" 0
for _n in $(awk '$1 == "local" { print $2 }' "$SPECS"); do
	check "$_n: >= 99.5 % equal to skimage's threshold_local mask away from the borders" \
		num_ge "$_n fraction equal" "$(val "$_n")" 0.995
done
for _n in $(awk '$1 == "morph" { print $2 }' "$SPECS"); do
	check "$_n: >= 99.5 % equal to scipy's binary morphology away from the borders" \
		num_ge "$_n fraction equal" "$(val "$_n")" 0.995
done
check "the README chain: a 1200 × 900 one-band 8-bit 0/255 mask" \
	eq "chain mask" "1200×900×1 uint8 0,255" "$(val chain)"
diag "oracle values:" "$(cat "$TMPD/values.txt")"

done_testing
