#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# slidepipe tiles and overlay on a slide whose tissue layout is known:
# patch counts, coordinates and tissue fractions, pixels against crop +
# downsample, stride, grid, edge, mpp, masks from files and pipelines,
# formats, errors; overlay colours at known patches.

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

command -v vips >/dev/null || skip_all "vips (libvips-tools) not installed"
cd "$TMPD" || exit 99

# 4096 × 4096 at 0.25 µm/px, glass (242, 240, 244), tissue (160, 80, 160)
# in [1024, 3072) × [1024, 2048) and [0, 256) × [3584, 4096); lossless,
# 256² tiles, levels at downsample 1, 2, 4, 8, 16.
vips black bg.v 4096 4096 --bands 3 &&
	vips linear bg.v glass.v "1 1 1" "242 240 244" --uchar &&
	vips draw_rect glass.v "160 80 160" 1024 1024 2048 1024 --fill &&
	vips draw_rect glass.v "160 80 160" 0 3584 256 512 --fill &&
	vips tiffsave glass.v slide.tif --tile --pyramid --compression lzw \
		--tile-width 256 --tile-height 256 --xres 4000 --yres 4000 || {
	echo "Bail out! cannot make the test slide"
	exit 99
}
rm -f bg.v
S=$TMPD/slide.tif

# csv_col FILE NAME: the values of column NAME, one per line
csv_col() {
	awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next } { print $c }' "$1"
}
# rows FILE: data lines of a CSV
rows() {
	echo $(($(wc -l <"$1") - 1))
}
# pixel_near WHAT "R G B" FILE X Y: each band within 1 (blending rounds)
pixel_near() {
	_pn=$(pixel "$3" "$4" "$5")
	if echo "$2 $_pn" | awk '{ for (i = 1; i <= 3; i++) { d = $i - $(i + 3); if (d < -1 || d > 1 || $(i + 3) == "") exit 1 } }'; then
		return 0
	fi
	diag "$1: expected $2 ± 1, got '$_pn'"
	return 1
}
# pixel FILE X Y: "R G B" (or "V") at X, Y
pixel() {
	vips getpoint "$1" "$2" "$3" 2>/dev/null | tr -s ' \n' ' ' | sed 's/ $//'
}

# ------------------------------------------------------ the tissue mask
sp load "$S" ! tiles out size=256 level=1 min-tissue=0.5
check "default mask: exit 0" rc_is 0
check "default mask: 9 of 64 patches kept (8 inside, 1 half tissue)" \
	eq "rows" 9 "$(rows out/tiles.csv)"
check "default mask: the report says 9 of 64, read from level 1" has "$SP_ERR" \
	'tiles: 9 of 64 patches kept \(256 × 256 at downsample 2, 0\.5 µm per pixel, read from level 1\)'
check "default mask: Otsu on saturation, read from a low level (3)" has "$SP_ERR" \
	'tiles: tissue mask: Otsu threshold [0-9.]+ on saturation, 512 × 512 read at level 3'
check "default mask: the kept patches' level-0 corners" eq "x,y" \
	"0,3584 1024,1024 1024,1536 1536,1024 1536,1536 2048,1024 2048,1536 2560,1024 2560,1536" \
	"$(awk -F, 'NR > 1 { print $1 "," $2 }' out/tiles.csv | sort | tr '\n' ' ' | sed 's/ $//')"
check "default mask: tissue fractions 1 (×8) and 0.5 at 0,3584" eq "tissue" \
	"0,3584,0.5000 1024,1024,1.0000" \
	"$(awk -F, '$1 == 0 || ($1 == 1024 && $2 == 1024) { print $1 "," $2 "," $8 }' out/tiles.csv | sort | tr '\n' ' ' | sed 's/ $//')"
check "tiles.csv: header and columns" has out/tiles.csv \
	'^x,y,level,downsample,mpp,width,height,tissue,file$' \
	'^1024,1024,1,2,0\.5,256,256,1\.0000,slide_x1024_y1024\.png$'
check "files: one PNG per row, named from level-0 corners" \
	eq "files" "9" "$(ls out/*.png | wc -l | tr -d ' ')"
check "files: 256 × 256 RGB" eq "header" "256 256 3" \
	"$(hdr out/slide_x1024_y1024.png | cut -d' ' -f1-3)"
check "files: no temporary file left" no_temp out

# shard=K/N: N shares that together are the whole set, each once
for k in 1 2 3 4; do
	sp load "$S" ! tiles "shard$k" size=256 level=1 min-tissue=0.5 shard=$k/4
done
check "shard: 4 shares of 9 kept patches hold 2, 2, 2, 3" eq "rows" "2 2 2 3" \
	"$(for k in 1 2 3 4; do rows shard$k/tiles.csv; done | tr '\n' ' ' | sed 's/ $//')"
check "shard: together they are the unsharded set, each patch once" eq "rows" \
	"$(tail -n +2 out/tiles.csv | sort)" \
	"$(for k in 1 2 3 4; do tail -n +2 shard$k/tiles.csv; done | sort)"
check "shard: the report names the share" has "$SP_ERR" \
	'tiles: 3 of 64 patches kept in shard 4/4'
for bad in 0/4 5/4 1/0 x 1/2/3 '2/4 '; do
	sp load "$S" ! tiles shardbad size=256 shard="$bad"
	check "shard: '$bad' refused, exit 2" rc_is 2
	check "shard: '$bad': the message names the argument" has "$SP_ERR" \
		"tiles: argument 'shard': .* is not K/N"
done
check "shard: a refused shard writes nothing" sh -c "! test -e shardbad"

sp load "$S" ! crop 1024 1024 512 512 ! downsample 2 ! save ref.png
check "pixels: a patch equals crop + downsample of its region (MAD 0)" \
	mad_le "patch" out/slide_x1024_y1024.png ref.png 0
sp load "$S" ! crop 0 3584 512 512 ! downsample 2 ! save ref2.png
check "pixels: the half-tissue patch too" \
	mad_le "patch" out/slide_x0_y3584.png ref2.png 0
check "pixels: pHYs says 0.5 µm per pixel (2000 px/mm)" eq "xres" 2000 \
	"$(vipsheader -f xres out/slide_x1024_y1024.png)"

sp load "$S" ! tiles out60 size=256 level=1 min-tissue=0.6
check "min-tissue=0.6 drops the half-tissue patch: 8" eq "rows" 8 "$(rows out60/tiles.csv)"

sp load "$S" ! tiles all size=256 level=1
check "no mask, no min-tissue: all 64 kept, tissue column empty" eq "rows/tissue" \
	"64 ''" "$(rows all/tiles.csv) '$(csv_col all/tiles.csv tissue | sort -u)'"

sp explain load "$S" ! tiles ex size=256 mpp=0.75 min-tissue=0.5
check "explain: the grid, the level read and the rule, nothing written" eval '
	has "$SP_OUT" "tiles: plan: a 5 × 5 grid of 256 × 256 patches \(stride 256\) at downsample 3, 0\.75 µm per pixel, read from level 1; kept where tissue >= 0\.5 of the patch, by Otsu on saturation at a low level" &&
	absent ex'

# --------------------------------------------------------- masks given
vips black m.v 64 64 && vips draw_rect m.v 1 0 0 32 64 --fill &&
	vips copy m.v halfmask.png
sp load "$S" ! tiles fm size=256 level=1 mask="$TMPD/halfmask.png"
check "mask file (64 × 64, left half 1): stretched, 32 kept at min-tissue 0.5" \
	eq "rows" 32 "$(rows fm/tiles.csv)"
check "mask file: every kept patch lies in the left half" eq "max x" 1536 \
	"$(csv_col fm/tiles.csv x | sort -n | tail -1)"
check "mask file: named in the report" has "$SP_ERR" "tissue mask from '.*halfmask\.png' \(64 × 64"

sp load "$S" ! tiles pm size=256 level=1 mask="load $S ! threshold value=60 channel=saturation"
check "mask pipeline: the same 9 patches" eq "rows" 9 "$(rows pm/tiles.csv)"
sp load "$S" ! tiles pm2 size=256 level=1 mask="load $S ! threshold value=60 channel=saturation invert" min-tissue=1
check "mask pipeline, inverted, min-tissue=1: the 64 - 9 glass-only patches" \
	eq "rows" 55 "$(rows pm2/tiles.csv)"

# ------------------------------------------------- stride, edge, grid
sp load "$S" ! tiles st size=256 stride=128 level=1
check "stride=128: (2048 - 256) / 128 + 1 = 15 per side, 225" eq "rows" 225 "$(rows st/tiles.csv)"
check "stride=128: corners step 256 level-0 pixels" eq "x" "0 256 512" \
	"$(csv_col st/tiles.csv x | sort -nu | sed -n 1,3p | tr '\n' ' ' | sed 's/ $//')"

sp load "$S" ! crop 0 0 1000 1000 ! tiles es size=256 level=1
check "edge=skip: a 500 × 500 view holds one whole 256 patch" eq "rows" 1 "$(rows es/tiles.csv)"
sp load "$S" ! crop 0 0 1000 1000 ! tiles ep size=256 level=1 edge=pad
check "edge=pad: 2 × 2 patches" eq "rows" 4 "$(rows ep/tiles.csv)"
check "edge=pad: the corner patch is 256 × 256" eq "size" "256 256" "$(size ep/slide_x512_y512.png)"
check "edge=pad: inside the region: glass" eq "pixel" "242 240 244" "$(pixel ep/slide_x512_y512.png 10 10)"
check "edge=pad: past the region: white padding" eq "pixel" "255 255 255" "$(pixel ep/slide_x512_y512.png 250 250)"

sp load "$S" ! crop 100 100 2000 2000 ! tiles gl size=256 level=1
check "grid=level: the grid starts at the region's corner (100)" eq "min x" 100 \
	"$(csv_col gl/tiles.csv x | sort -n | head -1)"
sp load "$S" ! crop 100 100 2000 2000 ! tiles g0 size=256 level=1 grid=level0
check "grid=level0: corners are multiples of 512 level-0 px (first 512)" eq "x" "512 1024 1536" \
	"$(csv_col g0/tiles.csv x | sort -nu | tr '\n' ' ' | sed 's/ $//')"
check "grid=level0: 3 × 3 patches inside [100, 2100)" eq "rows" 9 "$(rows g0/tiles.csv)"
sp load "$S" ! crop 512 1024 1024 1024 ! downsample 2 ! save g0ref.png
vips crop g0ref.png g0ref-c.png 256 0 256 256
check "grid=level0: patch 1024,1024 holds that region" \
	mad_le "patch" g0/slide_x1024_y1024.png g0ref-c.png 0

# ---------------------------------------------------------------- mpp
sp load "$S" ! tiles mp size=256 mpp=1
check "mpp=1: downsample 4, read from level 2, 4 × 4 patches" eq "csv" \
	"16 2 4 1" "$(rows mp/tiles.csv) $(csv_col mp/tiles.csv level | sort -u) $(csv_col mp/tiles.csv downsample | sort -u) $(csv_col mp/tiles.csv mpp | sort -u)"
sp load "$S" ! tiles m3 size=256 mpp=0.75
check "mpp=0.75: downsample 3, read from level 1 and reduced, 5 × 5" eq "csv" \
	"25 1 3" "$(rows m3/tiles.csv) $(csv_col m3/tiles.csv level | sort -u) $(csv_col m3/tiles.csv downsample | sort -u)"
check "mpp=0.75: corners step 768 level-0 px" eq "x" "0 768 1536" \
	"$(csv_col m3/tiles.csv x | sort -nu | sed -n 1,3p | tr '\n' ' ' | sed 's/ $//')"
sp load "$S" ! crop 1536 1536 768 768 ! downsample mpp=0.75 ! save m3ref.png
check "mpp=0.75: a patch equals crop + downsample mpp=0.75 (MAD <= 1)" \
	mad_le "patch" m3/slide_x1536_y1536.png m3ref.png 1

# ------------------------------------------------------------ formats
sp load "$S" ! tiles fj size=256 level=2 format=jpeg Q=80 min-tissue=0.5
check "format=jpeg: .jpg files, 256 × 256" eq "size" "256 256" "$(size fj/slide_x1024_y1024.jpg)"
check "format=jpeg: close to the PNG patch (MAD <= 3)" sh -c '
	'"$SLIDEPIPE"' -q load '"$S"' ! crop 1024 1024 1024 1024 ! downsample 4 ! save fjref.png'
check "format=jpeg: MAD <= 3" mad_le "jpeg patch" fj/slide_x1024_y1024.jpg fjref.png 3
sp load "$S" ! tiles ft size=256 level=2 format=tiff min-tissue=0.5
check "format=tiff: lossless (MAD 0)" mad_le "tiff patch" ft/slide_x1024_y1024.tif fjref.png 0
sp load "$S" ! threshold value=60 ! tiles fmask size=128 level=3
check "a 1-band mask chain: 1-band patches" eq "bands" 1 \
	"$(hdr fmask/slide_x1024_y1024.png | cut -d' ' -f3)"
check "a 1-band mask chain: tissue is 255" eq "pixel" 255 "$(pixel fmask/slide_x1024_y1024.png 5 5)"

# ------------------------------------------------------------- errors
sp load "$S" ! tiles e1 level=9
check "level=9: exit 2" rc_is 2
check "level=9: names the slide and its levels" has "$SP_ERR" \
	"tiles: argument 'level': '.*slide\.tif' has no level 9 \(levels 0 … 4\)"
sp load "$S" ! tiles e2 level=1 mpp=1
check "level and mpp: refused" has "$SP_ERR" "tiles: give level=N or mpp=M, not both"
sp load "$S" ! downsample 4 ! tiles e3 level=1
check "a level finer than the input: refused" has "$SP_ERR" \
	"tiles: level asks for downsample 2, finer than the input's 4; tiles cannot enlarge"
sp load "$S" ! tiles e4 mask=nonexistent.png
check "mask neither file nor pipeline" has "$SP_ERR" \
	"tiles: argument 'mask': 'nonexistent\.png' is neither an existing file nor a pipeline"
sp load "$S" ! tiles e5 mask="load $S"
check "mask pipeline with 3 bands" has "$SP_ERR" \
	"tiles: argument 'mask': the pipeline gives 3-band pixels; end it with threshold"
sp load "$S" ! tiles e6 Q=80
check "Q with PNG" has "$SP_ERR" "tiles: argument 'Q' applies to format=jpeg only"
: >afile
sp load "$S" ! tiles afile
check "DIR is a file: exit 1, clear error" has "$SP_ERR" \
	"tiles: cannot write to 'afile': it is not a directory"
check "DIR is a file: exit 1" rc_is 1
sp load "$S" ! tiles "$TMPD/no/such/dir"
check "DIR's parent missing" has "$SP_ERR" "tiles: cannot make '.*/no/such/dir': '.*/no/such' is not a directory"
sp load "$S" ! tiles e7 size=0
check "size=0: out of range" has "$SP_ERR" "tiles: argument 'size': 0 is out of range"
check "no failed run left a directory" absent e1 e2 e3 e4 e5 e6 e7

# ------------------------------------------------------------ overlay
# a 256 × 256 thumbnail (downsample 16): patch rectangles of 1024 level-0
# pixels are 64 × 64 thumbnail pixels
cat >classes.csv <<EOF
x,y,w,h,class
0,0,1024,1024,tumour
1024,0,1024,1024,stroma
2048,2048,1024,1024,tumour
3072,3072,1024,1024,
EOF
sp load "$S" ! downsample 16 ! overlay classes.csv alpha=1 legend=false ! save ov1.png
check "overlay: exit 0" rc_is 0
check "overlay without legend: the thumbnail's size" eq "size" "256 256" "$(size ov1.png)"
check "overlay: first class in tab10 blue (31 119 180)" eq "pixel" "31 119 180" "$(pixel ov1.png 32 32)"
check "overlay: second class in tab10 orange (255 127 14)" eq "pixel" "255 127 14" "$(pixel ov1.png 96 32)"
check "overlay: the first class again, blue" eq "pixel" "31 119 180" "$(pixel ov1.png 160 160)"
check "overlay: an empty value is left unpainted (glass)" eq "pixel" "242 240 244" "$(pixel ov1.png 224 224)"
check "overlay: an unlisted patch is left unpainted (tissue)" eq "pixel" "160 80 160" "$(pixel ov1.png 96 96)"
check "overlay: rectangles end on their edges (63 blue, 64 orange)" eq "pixels" \
	"31 119 180|255 127 14" "$(pixel ov1.png 63 10)|$(pixel ov1.png 64 10)"

sp load "$S" ! downsample 16 ! overlay classes.csv alpha=0.5 palette="stroma:#000000" ! save ov2.png
check "overlay: alpha 0.5 blends (glass + tab10 blue) / 2" pixel_near "pixel" \
	"136.5 179.5 212" ov2.png 32 32
check "overlay: a named palette colour (stroma black at 0.5 over glass)" pixel_near "pixel" \
	"121 120 122" ov2.png 96 32
_w=$(size ov2.png | cut -d' ' -f1)
check "overlay: the legend panel widens the picture ($_w)" num_ge "width" "$_w" 300
check "overlay: the legend panel is white" eq "pixel" "255 255 255" "$(pixel ov2.png $((_w - 2)) 250)"

cat >scores.csv <<EOF
x,y,w,h,score
0,0,1024,1024,0
1024,0,1024,1024,1
2048,0,1024,1024,0.5
EOF
sp load "$S" ! downsample 16 ! overlay scores.csv alpha=1 legend=false ! save ov3.png
check "overlay: score 0 is viridis' first colour (68 1 84)" eq "pixel" "68 1 84" "$(pixel ov3.png 32 32)"
check "overlay: score 1 is viridis' last (253 231 37)" eq "pixel" "253 231 37" "$(pixel ov3.png 96 32)"
check "overlay: score 0.5 is viridis' middle (teal 33 145 140 ± 2)" sh -c '
	set -- $(vips getpoint ov3.png 160 32); [ $(( ($1-33)*($1-33) + ($2-145)*($2-145) + ($3-140)*($3-140) )) -le 12 ]'
sp load "$S" ! downsample 16 ! overlay scores.csv alpha=1 legend=false cmap=gray range=0,2 ! save ov4.png
check "overlay: cmap=gray range=0,2: score 1 is mid grey" eq "pixel" "128 128 128" "$(pixel ov4.png 96 32)"

awk -F, 'NR == 1 { print $0 ",pred" } NR > 1 { print $0 "," (NR % 2 ? "a" : "b") }' out/tiles.csv >pred.csv
sp load "$S" ! downsample 16 ! overlay pred.csv column=pred alpha=1 legend=false ! save ov5.png
check "overlay: tiles.csv's width × downsample give the rectangles" eq "pixel" \
	"31 119 180" "$(pixel ov5.png 66 66)"

printf 'x,y,w,h,score\n0,0,10,10,abc\n' >bad.csv
sp load "$S" ! downsample 16 ! overlay bad.csv ! save bad.png
check "overlay: a bad score names file, line and column" has "$SP_ERR" \
	"overlay: '.*bad\.csv' line 2: column 'score': 'abc' is not a number"
printf 'x,y,w,h,score\n0,0,ten,10,1\n' >bad2.csv
sp load "$S" ! downsample 16 ! overlay bad2.csv ! save bad.png
check "overlay: a bad coordinate too" has "$SP_ERR" "line 2: column 'w': 'ten' is not a number"
sp load "$S" ! downsample 16 ! overlay classes.csv column=nope ! save bad.png
check "overlay: a missing column" has "$SP_ERR" "overlay: argument 'column': '.*classes\.csv' has no column 'nope'"
sp load "$S" ! overlay classes.csv ! save bad.png
check "overlay: paints on a 16-megapixel picture (the limit is 64)" rc_is 0
sp load "$S" ! downsample 16 ! overlay missing.csv ! save bad.png
check "overlay: a missing CSV: exit 1, names it" has "$SP_ERR" "overlay: .*missing\.csv"

done_testing
