#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# save format=ome (issue 7): an OME-TIFF pyramid, levels as SubIFDs, with
# OME-XML giving PhysicalSizeX/Y in µm. tifffile (python3-tifffile) must
# read it as a pyramid with the right level count and pixel size, and
# vips must read every SubIFD; OpenSlide sees only the first level (it
# never walks SubIFDs), as the docs say.

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

command -v vips >/dev/null || skip_all "vips (libvips-tools) not installed"
"$PYTHON" -c 'import tifffile, numpy' 2>/dev/null ||
	skip_all "python3-tifffile or python3-numpy not installed"

CHECK="$PYTHON $TESTS_SRCDIR/svs-check.py"
CMU=$SHARED_DIR/slides/CMU-1-Small-Region.svs

# ome_checks LABEL FILE LEVELS SHAPES MPP: tifffile's view, then vips
# reading each SubIFD
ome_checks() {
	$CHECK ome "$2" >"$TMPD/ome.txt" 2>"$TMPD/ome.err"
	check "$1: tifffile reads a pyramid of $3 levels" \
		eq "levels" "levels $3" "$(sed -n 's/^\(levels .*\)/\1/p' "$TMPD/ome.txt")"
	check "$1: level sizes $4" \
		eq "shapes" "shapes $4" "$(sed -n 's/^\(shapes .*\)/\1/p' "$TMPD/ome.txt")"
	_phys=$(sed -n 's/^physical //p' "$TMPD/ome.txt")
	_want=$5
	check "$1: OME-XML PhysicalSizeX/Y $5 µm" eval \
		'num_near PhysicalSizeX "$(echo "$_phys" | cut -d" " -f1)" "$_want" 1e-6 &&
			num_near PhysicalSizeY "$(echo "$_phys" | cut -d" " -f2)" "$_want" 1e-6 &&
			eq unit µm "$(echo "$_phys" | cut -d" " -f3)"' 
	_i=1
	for _s in $(echo "$4" | tr ',' ' ' | cut -d' ' -f2-); do
		_n=$((_i - 1))
		vips copy "$2[subifd=$_n]" "$TMPD/sub.v" 2>"$TMPD/sub.err"
		check "$1: vips reads subifd $_n, $_s" \
			eq "subifd $_n" "$(echo "$_s" | sed 's/×/ /')" "$(size "$TMPD/sub.v")"
		_i=$((_i + 1))
	done
}

make_slide 1500 1100 "$TMPD/slide.tif" --mpp 0.3
sp load "$TMPD/slide.tif" ! save "$TMPD/out.ome.tif"
check ".ome.tif: saved" rc_is 0
ome_checks "synthetic" "$TMPD/out.ome.tif" 4 "1500×1100,750×550,375×275,187×137" 0.3
check "synthetic: OpenSlide reads one level (SubIFDs are not walked)" eval \
	'[ -z "$OS_PYTHON" ] || eq levels 1 "$(os_check "$TMPD/out.ome.tif" level_count)"'
sp load "$TMPD/slide.tif" ! save "$TMPD/ref.tif"
check "synthetic: level 0 pixels as the generic TIFF's (mean difference <= 1.5)" eval \
	'rc_is 0 && vips extract_band "$TMPD/out.ome.tif" "$TMPD/o0.tif" 0 --n 3 &&
		mad_le "ome vs generic" "$TMPD/o0.tif" "$TMPD/ref.tif" 1.5'

# slidepipe reads an OME-TIFF's SubIFDs as levels (issue 12: it saw one)
sp info "$TMPD/out.ome.tif"
check "synthetic: info lists the 4 SubIFD levels" eval \
	'rc_is 0 && has "$SP_OUT" "^levels: 4$" &&
		has "$SP_OUT" "level 2: 375 × 275 px, downsample 4,"'
sp load "$TMPD/out.ome.tif" level=2 ! save "$TMPD/l2.tif" compression=lzw
check "synthetic: load level=2 gives subifd 1's pixels exactly" eval \
	'rc_is 0 && vips copy "$TMPD/out.ome.tif[subifd=1]" "$TMPD/s1.v" &&
		vips extract_band "$TMPD/s1.v" "$TMPD/s1b.v" 0 --n 3 &&
		mad_le "level 2 vs subifd 1" "$TMPD/l2.tif" "$TMPD/s1b.v" 0'
sp explain load "$TMPD/out.ome.tif" ! downsample 4 ! save "$TMPD/p4.tif"
check "synthetic: downsample 4 is planned from the SubIFD level 2" eval \
	'rc_is 0 && has "$SP_OUT" "reads level 2 .downsample 4. .planned."'

sp load "$TMPD/slide.tif" ! crop 100 100 1000 600 ! downsample 2 ! save "$TMPD/d.tif" format=ome
check "format=ome with .tif, crop + downsample 2: saved" rc_is 0
ome_checks "downsample 2" "$TMPD/d.tif" 2 "500×300,250×150" 0.6

sp load "$TMPD/slide.tif" ! crop 0 0 512 512 ! save "$TMPD/x.ome.tif" compression=copy
check "format=ome with compression=copy: usage error" eval \
	'rc_is 2 && has "$SP_ERR" "compression=copy is impossible with format=ome"'

if [ -f "$CMU" ]; then
	sp load "$CMU" ! crop 240 480 1440 1920 ! downsample 2 ! save "$TMPD/cmu.ome.tif"
	check "CMU crop + downsample 2: saved" rc_is 0
	ome_checks "CMU" "$TMPD/cmu.ome.tif" 3 "720×960,360×480,180×240" 0.998
	tiffinfo "$TMPD/cmu.ome.tif" 2>/dev/null | grep -a 'NominalMagnification' >"$TMPD/mag.txt"
	check "CMU: OME-XML objective NominalMagnification = 20 / 2 = 10" \
		has "$TMPD/mag.txt" 'NominalMagnification="10"'
else
	skip "CMU as OME-TIFF" "../shared/slides is absent"
fi

done_testing
