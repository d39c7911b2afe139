#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# save format=svs (issue 7): a crop of each real slide in ../shared/slides
# (skipped when absent) and of two synthetic slides (an Aperio SVS with
# label and macro written by python3-tifffile, and make-slide's generic
# TIFF), saved in Aperio layout, must open in OpenSlide 3.4.1 with vendor
# aperio, every level, mpp × the downsample, the objective power ÷ the
# downsample (both absent when the source has none) and the thumbnail,
# label and macro, these two with the source's pixels
# (tests/svs-check.py). Also: format=generic's metadata as OpenSlide
# 3.4.1 reports it, compression=copy into svs, slidepipe info, errors.

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

[ -n "$OS_PYTHON" ] || skip_all "no python3 with the openslide module (python3-openslide)"
"$OS_PYTHON" -c 'import tifffile, numpy' 2>/dev/null ||
	skip_all "python3-tifffile or python3-numpy not installed"
command -v openslide-show-properties >/dev/null ||
	skip_all "openslide-show-properties (openslide-tools) not installed"

CHECK="$OS_PYTHON $TESTS_SRCDIR/svs-check.py"
SLIDES=$SHARED_DIR/slides
CMU=$SLIDES/CMU-1-Small-Region.svs
TCGA=$SLIDES/tcga-cr-7395-01a-01-ts1.svs

# svs_checks LABEL OUT SRC DOWNSAMPLE [noassoc]: svs-check.py's lines as
# TAP assertions; fails (one not ok) when it says nothing
svs_checks() {
	_label=$1
	shift
	$CHECK svs "$2" "$3" "$4" 256 $5 >"$TMPD/checks.txt" 2>"$TMPD/checks.err"
	if ! grep -q '^PASS\|^FAIL' "$TMPD/checks.txt"; then
		not_ok "$_label: OpenSlide opens the output"
		diag_file "$TMPD/checks.err"
		return
	fi
	while IFS= read -r _line; do
		case $_line in
		PASS\ *) ok "$_label: ${_line#PASS }" ;;
		FAIL\ *) not_ok "$_label: ${_line#FAIL }" ;;
		esac
	done <"$TMPD/checks.txt"
}

# prop FILE NAME: OpenSlide's value of property NAME ('' when absent)
prop() {
	"$OS_PYTHON" -c 'import openslide, sys
print(openslide.OpenSlide(sys.argv[1]).properties.get(sys.argv[2], ""))' \
		"$1" "$2" 2>/dev/null
}

# ------------------------------------------------- synthetic Aperio slide
SYN=$TMPD/synthetic.svs
$CHECK make-aperio "$SYN" || {
	echo "Bail out! cannot write a synthetic SVS with tifffile"
	exit 99
}
sp load "$SYN" ! crop 100 100 1000 700 ! downsample 2 ! save "$TMPD/syn.svs"
check "synthetic SVS: crop + downsample 2 saved as .svs" rc_is 0
svs_checks "synthetic SVS, downsample 2" x "$TMPD/syn.svs" "$SYN" 2

# the description: Aperio's own region-export form, keys rewritten or kept
D=$(prop "$TMPD/syn.svs" tiff.ImageDescription | tr '\r\n' '  ')
check "synthetic: description starts 'Aperio', names the region taken" \
	eq "first line" "Aperio Image Library slidepipe" \
	"$(echo "$D" | cut -c1-30)"
check "synthetic: region line '1200x900 [100,100 1000x700] (256x256) -> 500x350'" \
	eval 'echo "$D" | grep -q "1200x900 \[100,100 1000x700\] (256x256) -> 500x350 JPEG/RGB Q=90;Aperio Image Library v12.0.0"'
check "synthetic: MPP = 0.5, AppMag = 20, scan keys kept as they were" eval \
	'echo "$D" | grep -q "|AppMag = 20|MPP = 0.5|ScanScope ID = SYNTH|Left = 1.0|Top = 2.0|OriginalWidth = 1200|OriginalHeight = 900 *$"'

# associated=drop: the thumbnail only
sp load "$SYN" ! crop 0 0 512 512 ! save "$TMPD/drop.svs" associated=drop
check "associated=drop: saved" rc_is 0
svs_checks "synthetic SVS, associated=drop" x "$TMPD/drop.svs" "$SYN" 1 noassoc

# a downsample that leaves a fractional magnification: 40 / 3
sp load "$SYN" ! downsample 3 ! save "$TMPD/third.svs"
check "downsample 3: AppMag 13.33333333 in the description" eval \
	'rc_is 0 && prop "$TMPD/third.svs" aperio.AppMag | grep -qx "13.33333333"'
check "downsample 3: OpenSlide 3.4.1 reports no (non-integer) objective-power" \
	eq "objective-power" "" "$(prop "$TMPD/third.svs" openslide.objective-power)"
check "downsample 3: mpp 0.75" \
	num_near "mpp-x" "$(prop "$TMPD/third.svs" openslide.mpp-x)" 0.75 1e-9

# ------------------------------------------ make-slide's generic TIFF
make_slide 1500 1100 "$TMPD/gen.tif" --mpp 0.3
sp load "$TMPD/gen.tif" ! crop 256 0 1024 1024 ! save "$TMPD/gen.svs"
check "generic TIFF source: saved as .svs" rc_is 0
svs_checks "generic TIFF source" x "$TMPD/gen.svs" "$TMPD/gen.tif" 1

# --------------------------------------------------- format=generic
sp load "$SYN" ! crop 100 100 1000 700 ! downsample 2 ! save "$TMPD/syn.tif"
check "format=generic (.tif): saved" rc_is 0
check "generic: OpenSlide sees generic-tiff, 2 levels" eval \
	'eq vendor generic-tiff "$(prop "$TMPD/syn.tif" openslide.vendor)" &&
		eq levels 2 "$(prop "$TMPD/syn.tif" openslide.level-count)"'
check "generic: tiff.ResolutionUnit centimeter, XResolution 20000 px/cm (0.5 µm)" eval \
	'eq unit centimeter "$(prop "$TMPD/syn.tif" tiff.ResolutionUnit)" &&
		num_near XResolution "$(prop "$TMPD/syn.tif" tiff.XResolution)" 20000 0.01'
prop "$TMPD/syn.tif" tiff.ImageDescription >"$TMPD/gdesc.txt"
check "generic: ImageDescription lists mpp 0.5, objective power 20, source keys" \
	has "$TMPD/gdesc.txt" '^slidepipe ' '^openslide.mpp-x = 0.5$' \
	'^openslide.mpp-y = 0.5$' '^openslide.objective-power = 20$' \
	'^slidepipe.source = synthetic.svs$' '^slidepipe.region = 100,100 1000x700$' \
	'^aperio.ScanScope ID = SYNTH$'
make_slide 600 400 "$TMPD/plain.tif" --no-mpp
sp load "$TMPD/plain.tif" ! save "$TMPD/plain-out.tif"
check "generic: nothing to record, no ImageDescription (as before)" eval \
	'rc_is 0 && eq description "" "$(prop "$TMPD/plain-out.tif" tiff.ImageDescription)"'

# ------------------------------------------------------------- errors
sp load "$SYN" ! save "$TMPD/bad.svs" compression=lzw
check "format=svs with compression=lzw: usage error naming save and the argument" eval \
	'rc_is 2 && has "$SP_ERR" "save: argument .compression.: format=svs" && absent "$TMPD/bad.svs"'
sp load "$SYN" ! save "$TMPD/bad.tif" associated=drop
check "associated= with a generic TIFF: usage error" eval \
	'rc_is 2 && has "$SP_ERR" "argument .associated. applies to format=svs and format=dicom only"'
sp load "$SYN" ! save "$TMPD/bad.png" format=svs
check "format= with a PNG: usage error" eval \
	'rc_is 2 && has "$SP_ERR" "argument .format. applies to TIFF output only"'
check "no temporary file left" no_temp "$TMPD"

# ------------------------------------- the docs' table matches the code
if command -v gdalinfo >/dev/null && [ -x "${TESTS_BUILDDIR:-}/make-icc" ] &&
	command -v vips >/dev/null; then
	SLIDEPIPE=$SLIDEPIPE MAKE_ICC=$TESTS_BUILDDIR/make-icc \
		sh "$TESTS_SRCDIR/../bench/metadata-table.sh" "$TMPD/table.md" \
		>"$TMPD/table.err" 2>&1
	sed -n '/^<!-- metadata-table begin -->$/,/^<!-- metadata-table end -->$/p' \
		"$TESTS_SRCDIR/../README.md" | sed '1d;$d' >"$TMPD/readme-table.md"
	if cmp -s "$TMPD/table.md" "$TMPD/readme-table.md"; then
		ok "README's metadata table is bench/metadata-table.sh's output"
	else
		not_ok "README's metadata table is bench/metadata-table.sh's output"
		diff "$TMPD/readme-table.md" "$TMPD/table.md" | sed 's/^/#   /' | sed -n 1,20p
		diag_file "$TMPD/table.err"
	fi
else
	skip "README's metadata table is bench/metadata-table.sh's output" \
		"gdalinfo (gdal-bin), vips or tests/make-icc missing"
fi

# ------------------------------------------------------ real slides
if [ ! -f "$CMU" ] || [ ! -f "$TCGA" ]; then
	skip "real slides: svs crops of CMU-1-Small-Region.svs and tcga-cr-7395-01a-01-ts1.svs" \
		"../shared/slides is absent"
	done_testing
fi

sp info "$CMU"
check "info CMU: associated images with sizes, no ICC profile" eval \
	'rc_is 0 && has "$SP_OUT" "^  label: 387 × 463 px$" "^  macro: 1280 × 431 px$" \
		"^  thumbnail: 574 × 768 px$" "^icc profile: none$"'

sp load "$CMU" ! crop 240 480 1440 1920 ! save "$TMPD/cmu.svs"
check "CMU: crop saved as .svs" rc_is 0
svs_checks "CMU crop" x "$TMPD/cmu.svs" "$CMU" 1
sp load "$CMU" ! crop 240 480 1440 1920 ! downsample 2 ! save "$TMPD/cmu2.svs"
check "CMU: crop + downsample 2 saved as .svs" rc_is 0
svs_checks "CMU crop, downsample 2" x "$TMPD/cmu2.svs" "$CMU" 2
check "CMU: source keys kept (Left, OriginalWidth, ScanScope ID)" eval \
	'eq Left 25.691574 "$(prop "$TMPD/cmu2.svs" aperio.Left)" &&
		eq ScanScope CPAPERIOCS "$(prop "$TMPD/cmu2.svs" "aperio.ScanScope ID")"'

# compression=copy: level 0's JPEG tiles copied into the Aperio layout
sp load "$CMU" ! crop 240 480 1440 1920 ! save "$TMPD/cmuc.svs" compression=copy
check "CMU: compression=copy into .svs" eval \
	'rc_is 0 && has "$SP_ERR" "copied 1 level"'
svs_checks "CMU crop, compression=copy" x "$TMPD/cmuc.svs" "$CMU" 1

sp load "$TCGA" ! crop 512 512 2048 2048 ! save "$TMPD/tcga.svs"
check "TCGA: crop saved as .svs (JPEG 2000 tiles re-encoded as JPEG)" eval \
	'rc_is 0 && eq compression JPEG "$(tiffinfo "$TMPD/tcga.svs" 2>/dev/null | sed -n "s/^ *Compression Scheme: //p" | sed -n 1p)"'
svs_checks "TCGA crop" x "$TMPD/tcga.svs" "$TCGA" 1
sp load "$TCGA" ! crop 0 0 4443 3567 ! downsample 2 ! save "$TMPD/tcga2.svs"
check "TCGA: downsample 2 saved as .svs" rc_is 0
svs_checks "TCGA, downsample 2" x "$TMPD/tcga2.svs" "$TCGA" 2

done_testing
