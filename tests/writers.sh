#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The writers under hostile input (issue 12): a save onto a file the
# pipeline reads, libvips' tiffsave kept out of the states where 8.14
# crashes (a 1-band mask as WebP, a missing or unusable TMPDIR), an
# OME-TIFF's levels reported, and compression=copy/auto over slidepipe's
# own outputs and over damaged tiles, checked with libvips' decoder
# against the source's pixels.

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

[ -x "$EXAMPLES/make-slide" ] || skip_all "$EXAMPLES/make-slide not built"
command -v vips >/dev/null || skip_all "vips (libvips-tools) not installed"

S=$TMPD/slide.tif
make_slide 3000 2000 "$S" --seed 3
O=$TMPD/out
mkdir "$O"

# one_line PATTERN: the last sp wrote one stderr line "slidepipe: …"
# matching PATTERN
one_line() {
	[ "$(wc -l <"$SP_ERR")" -eq 1 ] && has "$SP_ERR" "^slidepipe: .*$1"
}

# ------------------------------------------- save onto a file it reads
cp "$S" "$TMPD/victim.tif"
V=$TMPD/victim.tif
_sum=$(cksum <"$V")
ln "$V" "$TMPD/hard.tif"
ln -s victim.tif "$TMPD/sym.tif"
for _out in "$V" "$TMPD/hard.tif" "$TMPD/sym.tif" "$TMPD/./victim.tif" \
	"$O/../victim.tif"; do
	sp load "$V" ! crop 0 0 512 512 ! save "$_out"
	check "save onto the slide it reads ($(basename "$_out")): exit 2, refused, slide intact" \
		eval 'rc_is 2 && one_line "save: argument .path.: .* is the file that load reads .*source and destination must be different" &&
			eq checksum "$_sum" "$(cksum <"$V")" && no_temp "$TMPD"'
done
sp load "$TMPD/sym.tif" ! crop 0 0 512 512 ! save "$V"
check "save onto the target of the symlink it reads: refused, slide intact" \
	eval 'rc_is 2 && one_line "source and destination must be different" &&
		eq checksum "$_sum" "$(cksum <"$V")"'
printf 'x,y,w,h,score\n0,0,64,64,1\n' >"$TMPD/scores.png"
sp load "$V" ! overlay "$TMPD/scores.png" ! save "$TMPD/scores.png"
check "save onto overlay's CSV: refused, the CSV intact" \
	eval 'rc_is 2 && one_line "is the file that overlay reads" &&
		eq csv "x,y,w,h,score" "$(sed -n 1p "$TMPD/scores.png")"'

# ------------------------------- what libvips 8.14's tiffsave crashes on
M=$TMPD/mask.tif
sp -q load "$S" ! threshold ! save "$M" compression=webp
check "a 1-band mask with compression=webp: exit 2, names the compressions that work, nothing written" \
	eval 'rc_is 2 && one_line "save: argument .compression.: webp takes RGB images.*1-band.*lzw, deflate, zstd, jpeg or none" &&
		absent "$M" && no_temp "$TMPD"'
sp -q load "$S" ! crop 0 0 98 80 ! threshold ! save "$M" tile=112
sp -q load "$M" ! save "$O/w1.tif" compression=webp
check "a 1-band image of one tile with compression=webp: refused (libtiff wrote 0-byte tiles), nothing written" \
	eval 'rc_is 2 && one_line "webp takes RGB images" && absent "$O/w1.tif"'
rm -f "$M"

# Q where it means nothing: a usage error, as tile= on a PNG
sp -q load "$S" ! crop 0 0 10 10 ! save "$O/q.png" Q=81
check "Q= on a PNG: exit 2, says Q applies to JPEG and WebP only" \
	eval 'rc_is 2 && one_line "save: argument .Q. applies to JPEG and WebP compression only, not to the PNG file .*q\.png" &&
		absent "$O/q.png"'
sp -q load "$S" ! crop 0 0 10 10 ! save "$O/q.tif" Q=81 compression=lzw
check "Q= with compression=lzw: exit 2, says so" \
	eval 'rc_is 2 && one_line "save: argument .Q. applies to JPEG and WebP compression only, not to compression=lzw" &&
		absent "$O/q.tif"'

# every save through libvips' pyramid path with TMPDIR missing, a file, …
: >"$TMPD/a-file"
for _t in "$TMPD/missing" "$TMPD/a-file"; do
	for _c in lzw deflate zstd none webp; do
		TMPDIR=$_t sp -q load "$S" ! crop 0 0 1000 800 ! save "$O/t.tif" compression=$_c
		check "TMPDIR $(basename "$_t"), compression=$_c pyramid: exit 1, says TMPDIR, nothing written" \
			eval 'rc_is 1 && one_line "save: cannot write .*t.tif.: .* TMPDIR .*$(basename "$_t")" &&
				absent "$O/t.tif" && no_temp "$O"'
	done
	TMPDIR=$_t sp -q load "$S" ! crop 0 0 1000 800 ! save "$O/t.ome.tif"
	check "TMPDIR $(basename "$_t"), OME-TIFF: exit 1, says TMPDIR, nothing written" \
		eval 'rc_is 1 && one_line "TMPDIR" && absent "$O/t.ome.tif" && no_temp "$O"'
	TMPDIR=$_t sp -q load "$S" ! threshold ! save "$O/m.tif"
	check "TMPDIR $(basename "$_t"), a mask: exit 1, says TMPDIR, nothing written" \
		eval 'rc_is 1 && one_line "TMPDIR" && absent "$O/m.tif" && no_temp "$O"'
done
TMPDIR=$TMPD/missing sp -q load "$S" ! crop 0 0 1000 800 ! save "$O/t.tif" compression=lzw pyramid=false
check "TMPDIR missing, no pyramid (no temporary files): written" \
	eval 'rc_is 0 && eq size "1000 800" "$(size "$O/t.tif")"'
TMPDIR=$TMPD/missing sp -q load "$S" ! crop 0 0 1000 800 ! save "$O/j.tif"
check "TMPDIR missing, the JPEG pyramid writer (spools beside the output): written" \
	eval 'rc_is 0 && eq size "1000 800" "$(size "$O/j.tif")"'

# ------------------------------------------------ OME-TIFF levels
sp load "$S" ! crop 0 0 2000 1500 ! save "$O/p.ome.tif"
check "OME-TIFF: the 'wrote' line lists its SubIFD levels" \
	eval 'rc_is 0 && has "$SP_OUT" "^wrote .*p\.ome\.tif: 2000 × 1500 px, 4 levels .2000×1500, 1000×750, 500×375, 250×187."'
sp load "$S" ! crop 0 0 130 458 ! save "$O/flat.ome.tif" pyramid=false compression=zstd
check "OME-TIFF with pyramid=false: one level, no SubIFDs" \
	eval 'rc_is 0 && has "$SP_OUT" "^wrote .*flat\.ome\.tif: 130 × 458 px, 1 level," &&
		eq directories 1 "$(tiffinfo "$O/flat.ome.tif" 2>/dev/null | grep -c "Image Width")" &&
		! tiffinfo "$O/flat.ome.tif" 2>/dev/null | grep -q SubIFD'

# ------------------- compression=copy/auto over slidepipe's own outputs
# slidepipe's default output has no JPEGTables: every tile carries its own
# tables (4:4:4 at Q 90, 4:2:0 below). Fed back in, its tiles are copied
# byte for byte or re-cut from their DCT coefficients; every level of the
# result must decode (libvips, and OpenSlide where it is installed) to the
# source's pixels of the region.
OWN=$TMPD/own.tif
OWN420=$TMPD/own420.tif
sp -q load "$S" ! save "$OWN"
sp -q load "$S" ! save "$OWN420" Q=80
check "own outputs as sources: no JPEGTables" \
	eval '! tiffinfo "$OWN" 2>/dev/null | grep -q "JPEG Tables" &&
		! tiffinfo "$OWN420" 2>/dev/null | grep -q "JPEG Tables"'

# levels_match OUT SRC X Y LIMIT0 LIMIT: every page of OUT decodes and
# matches SRC's page of the same downsample at (X, Y) >> page: level 0
# within mean absolute difference LIMIT0, the others (re-cut, or computed
# from pixels) within LIMIT
levels_match() {
	_n=$(vipsheader -f n-pages "$1" 2>/dev/null)
	[ "${_n:-0}" -ge 1 ] || { diag "$1: no pages"; return 1; }
	_p=0
	while [ $_p -lt "$_n" ]; do
		_w=$(vipsheader -f width "$1[page=$_p]") _h=$(vipsheader -f height "$1[page=$_p]")
		vips crop "$1[page=$_p]" "$TMPD/got.v" 0 0 "$_w" "$_h" 2>"$TMPD/vips.err" || {
			diag "page $_p of $1 does not decode:"
			diag_file "$TMPD/vips.err"
			return 1
		}
		vips crop "$2[page=$_p]" "$TMPD/ref.v" $(($3 >> _p)) $(($4 >> _p)) "$_w" "$_h" ||
			return 1
		_lim=$6
		[ $_p = 0 ] && _lim=$5
		mad_le "page $_p" "$TMPD/got.v" "$TMPD/ref.v" "$_lim" || return 1
		_p=$((_p + 1))
	done
	if [ -n "$OS_PYTHON" ]; then
		# OpenSlide decodes every tile itself: the region's mean colour
		# at each level
		_p=0 _ww=$(vipsheader -f width "$1") _hh=$(vipsheader -f height "$1")
		while [ $_p -lt "$_n" ]; do
			_f=$((1 << _p))
			_a=$(os_check box "$1" 0 0 "$_ww" "$_hh" $_f) || {
				diag "OpenSlide cannot read level $_p of $1"
				return 1
			}
			_b=$(os_check box "$2" "$3" "$4" "$_ww" "$_hh" $_f) || return 1
			echo "$_a $_b" | awk '{ for (i = 1; i <= 3; i++) { d = $i - $(i + 3); if (d < -1 || d > 1) exit 1 } }' || {
				diag "OpenSlide, level $_p: mean RGB $_a, the source's $_b"
				return 1
			}
			_p=$((_p + 1))
		done
	fi
}

# own_copy SRC COMPRESSION X Y LIMIT0 LIMIT
own_copy() {
	_src=$1 _x=$3 _y=$4 _l0=$5 _l=$6
	sp load "$1" ! crop "$3" "$4" 1024 768 ! save "$O/c.tif" compression=$2
	check "$2 of $(basename "$1") at $3,$4: exit 0, every level decodes to the source's pixels" \
		eval 'rc_is 0 && levels_match "$O/c.tif" "$_src" "$_x" "$_y" "$_l0" "$_l"'
	rm -f "$O/c.tif"
}
# on the tile grid: level 0 copied, levels 1-2 re-cut (their origins,
# 256,128 and 128,64, are on the MCU grid only); then all copied; then
# level 0 re-cut (auto)
own_copy "$OWN" copy 512 256 0 0
own_copy "$OWN" auto 512 256 0 0
own_copy "$OWN" copy 1024 512 0 0
own_copy "$OWN" auto 16 32 0 2
own_copy "$OWN420" copy 512 256 0 0.05
own_copy "$OWN420" auto 16 32 0.05 2
# and a source with JPEGTables (make-slide: libtiff's abbreviated tiles)
own_copy "$S" copy 512 256 0 0.05
own_copy "$S" auto 16 32 0.05 2

# --------------------------------------- copy and re-cut of damaged tiles
# tests/corpus/damage-tile.py damages tile 0 of one directory of $OWN:
# directory 0 is met by the byte copy of a crop at 0,0; directory 1 by
# the re-cut of a crop at 256,256 (level 1's origin 128,128 is on the MCU
# grid only, and its first output tile takes from source tile 0).
# compression=copy must fail with one line naming the argument, the tile
# and the file, leaving nothing; auto falls back to decoding: either a
# clean error, or a file every level of which decodes.
DM=$TMPD/damaged.tif
for _d in "bytecount3:no image" "past-end:cannot read source tile" \
	"truncated:without an EOI marker|Premature end of JPEG file" "sof-size:frame is 128 × 128" \
	"sampling:chroma sampling 2×2 is not the directory's YCbCrSubsampling 1,1" \
	"component-ids:coded unlike tile" "no-tables:quantization table 0 is defined neither"; do
	for _dir in 0 1; do
		cp "$OWN" "$DM"
		"$PYTHON" "$TESTS_SRCDIR/corpus/damage-tile.py" "$DM" $_dir "${_d%%:*}" || {
			not_ok "damage ${_d%%:*} in directory $_dir"
			continue
		}
		_at="0 0"
		[ $_dir = 1 ] && _at="256 256"
		sp -q load "$DM" ! crop $_at 1024 768 ! save "$O/d.tif" compression=copy
		check "copy, ${_d%%:*} tile in directory $_dir: exit 1, '${_d#*:}', nothing written" \
			eval 'rc_is 1 && one_line "save: argument .compression.: cannot copy the source.s tiles into .*d\.tif.: .*(${_d#*:})" &&
				has "$SP_ERR" "damaged\.tif. directory $_dir" &&
				absent "$O/d.tif" && no_temp "$O"'
		sp load "$DM" ! crop $_at 1024 768 ! save "$O/d.tif" compression=auto
		if [ "$RC" = 0 ]; then
			check "auto, ${_d%%:*} tile in directory $_dir: decoded instead (says so), every level decodes" \
				eval 'has "$SP_ERR" "compression=auto: the source.s tiles cannot be taken as they are" &&
					vips avg "$O/d.tif[page=1]" >/dev/null && vips avg "$O/d.tif[page=2]" >/dev/null &&
					vips avg "$O/d.tif" >/dev/null'
		else
			check "auto, ${_d%%:*} tile in directory $_dir: the decoder's clean error, nothing written" \
				eval 'rc_is 1 && tail -n 1 "$SP_ERR" | grep -q "^slidepipe: save: .*damaged\.tif" &&
					absent "$O/d.tif" && no_temp "$O"'
		fi
		rm -f "$O/d.tif"
	done
done

# ------------------------------------- the pyramid writer's shared state
# Writer.error and .bad_source are set by the copier and re-cut threads
# while the main thread runs the sink: every use of them holds w->lock
# (has_error() and set_error() take it themselves). A lint over the
# source: a line using them outside a lock/unlock pair fails, but the
# g_free() after every thread is joined.
check "src/writer/pyramid.c: Writer.error and .bad_source used only under the writer's lock" \
	awk '
/g_mutex_lock\(&w(->|\.)lock\)/ { locked = 1 }
/g_mutex_unlock\(&w(->|\.)lock\)/ { locked = 0 }
/^[ \t]*(\/\*|\*)/ { next }
/w(->|\.)(error|bad_source)/ && !locked && !/g_free\(w\.error\)/ {
	print "# unlocked: " FILENAME ":" FNR ": " $0
	bad = 1
}
END { exit bad }' "$TESTS_SRCDIR/../src/writer/pyramid.c"

done_testing
