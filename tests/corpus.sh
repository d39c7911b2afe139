#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The corpus of bad and unusual inputs (tests/corpus/make-corpus.sh, made
# fresh in a temporary directory) through slidepipe: every image through
# `info` and `load → crop → save`, every bad pipeline on the command line,
# every manifest through `batch`. One TAP line per case. A case passes
# when slidepipe
#   - gives the right result where the input is legal (output size), or
#     a clear error: one line "slidepipe: OP: …" naming the operator and
#     the file or argument, matching the case's pattern;
#   - exits 0 (legal input), 1 or 2, never by a signal (status < 128);
#   - finishes within 10 s (run under `timeout 10`: 124 is a hang);
#   - leaves no partial output: no output file for a failure, and no
#     temporary ".NAME.XXXXXX.sp-tmp" in the output directory.
# The last line counts the cases: "# corpus: N cases, N passed".

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

command -v vips >/dev/null || skip_all "vips (libvips-tools) not installed"
command -v timeout >/dev/null || skip_all "timeout (coreutils) not installed"
[ -x "$PYTHON" ] || command -v "$PYTHON" >/dev/null ||
	skip_all "python3 not installed (the corpus generator needs it)"

C=$TMPD/corpus
O=$TMPD/out
if ! sh "$TESTS_SRCDIR/corpus/make-corpus.sh" "$C" >"$TMPD/make-corpus.log" 2>&1; then
	echo "Bail out! tests/corpus/make-corpus.sh failed: $(tail -3 "$TMPD/make-corpus.log")"
	exit 99
fi
S=$C/ok-jpeg-tiled.tif   # the good slide of pipelines and manifests, 300 × 200

CASES=0
PASSED=0
WHY=

# why TEXT: the case fails, for this reason (the first one is kept)
why() {
	[ -n "$WHY" ] || WHY=$1
	return 1
}

# case_done NAME: one TAP line for the case, with the reason and
# slidepipe's stderr when it failed
case_done() {
	CASES=$((CASES + 1))
	if [ -z "$WHY" ]; then
		PASSED=$((PASSED + 1))
		ok "$1"
	else
		not_ok "$1"
		diag "$WHY" "exit status $RC; stderr:"
		diag_file "$SP_ERR"
	fi
	WHY=
}

# run ARGS…: slidepipe under `timeout 10`, output directory emptied first
run() {
	rm -rf "$O"
	mkdir "$O"
	timeout 10 "$SLIDEPIPE" "$@" >"$SP_OUT" 2>"$SP_ERR"
	RC=$?
}

# sane: no hang, no death by a signal, no temporary file left
sane() {
	[ "$RC" != 124 ] || why "took more than 10 s (killed by timeout)" || return 1
	[ "$RC" -lt 128 ] || why "died of signal $((RC - 128))" || return 1
	[ -z "$(find "$O" -name '.*.sp-tmp' | sed -n 1p)" ] ||
		why "temporary file left: $(find "$O" -name '.*.sp-tmp' | sed -n 1p)"
}

# one_error PATTERN: exit 1 or 2, and stderr is one line "slidepipe: …"
# matching PATTERN (an extended regular expression)
one_error() {
	sane || return 1
	[ "$RC" = 1 ] || [ "$RC" = 2 ] || why "exit status $RC, expected 1 or 2" ||
		return 1
	[ "$(wc -l <"$SP_ERR")" -eq 1 ] && grep -q '^slidepipe: ' "$SP_ERR" ||
		why "stderr is not one 'slidepipe: ' line" || return 1
	grep -Eq -- "$1" "$SP_ERR" || why "stderr does not match '$1'"
}

# no_output: nothing written in the output directory at all
no_output() {
	[ -z "$(ls -A "$O")" ] || why "output left after a failure: $(ls -A "$O" | head -3)"
}

# made W H FILE: FILE exists and is W × H (asked of vipsheader field by
# field: lib.sh's size parses its summary line, which fails on a name
# that is not UTF-8)
made() {
	[ -f "$3" ] || why "no output $3" || return 1
	_sz="$(vipsheader -f width "$3" 2>/dev/null) $(vipsheader -f height "$3" 2>/dev/null)"
	[ "$_sz" = "$1 $2" ] || why "output is '$_sz', expected '$1 $2'"
}

# --------------------------------------------------------------- images

# image_fails NAME FILE PATTERN: load → crop → save fails with one line
# matching PATTERN, and writes nothing; `info` fails the same way or
# (headers being readable) succeeds
image_fails() {
	_name=$1 _file=$2 _pat=$3
	run info "$_file"
	sane && { [ "$RC" = 0 ] || one_error "^slidepipe: load: .*$_pat"; } &&
		run -q load "$_file" ! crop 0 0 2 2 ! save "$O/out.tif" &&
		one_error "$_pat" && no_output
	case_done "$_name: a clear error, nothing written"
}

# image_ok NAME FILE W H [CROP_W CROP_H]: info says W × H; a crop of
# CROP_W × CROP_H (default 64 × 48) at 10, 20 saves as a TIFF of that size
image_ok() {
	_name=$1 _file=$2 _w=$3 _h=$4 _cw=${5:-64} _ch=${6:-48}
	run info "$_file"
	sane && { [ "$RC" = 0 ] || why "info: exit status $RC"; } &&
		{ grep -q "^  level 0: $_w × $_h px" "$SP_OUT" ||
			why "info: level 0 is not $_w × $_h"; } &&
		run -q load "$_file" ! crop 10 20 "$_cw" "$_ch" ! save "$O/out.tif" &&
		sane && { [ "$RC" = 0 ] || why "save: exit status $RC"; } &&
		made "$_cw" "$_ch" "$O/out.tif"
	case_done "$_name: legal, $_w × $_h, a $_cw × $_ch crop saved"
}

# image_either NAME FILE: damaged in a way decoders tolerate: a result of
# the right size, or a clear error; never a crash, hang or partial file
image_either() {
	_name=$1 _file=$2
	run info "$_file"
	sane && { [ "$RC" = 0 ] || one_error "^slidepipe: load: "; } &&
		run -q load "$_file" ! crop 0 0 2 2 ! save "$O/out.tif" &&
		if [ "$RC" = 0 ]; then
			sane && made 2 2 "$O/out.tif"
		else
			one_error "^slidepipe: (load|crop|save): " && no_output
		fi
	case_done "$_name: tolerated or a clear error (exit $RC)"
}

# legal files, in every layout and sample type slidepipe reads
image_ok "JPEG-tiled TIFF" "$C/ok-jpeg-tiled.tif" 300 200
image_ok "striped LZW TIFF" "$C/ok-striped.tif" 300 200
image_ok "1-band TIFF" "$C/ok-1band.tif" 300 200
image_ok "2-band (grey + alpha) TIFF" "$C/ok-2band.tif" 300 200
image_ok "RGBA TIFF" "$C/ok-rgba.tif" 300 200
image_ok "16-bit TIFF" "$C/ok-16bit.tif" 300 200
image_ok "CMYK TIFF" "$C/ok-cmyk.tif" 300 200
image_ok "palette TIFF" "$C/ok-palette.tif" 120 80 40 30
image_ok "tiles 100 × 100 (not a multiple of 16)" "$C/ok-tile100.tif" 250 150
image_ok "pyramid" "$C/ok-pyramid.tif" 300 200
image_ok "reduced level larger than level 0 (ignored)" \
	"$C/ok-pyramid-bigger-level.tif" 256 192
image_ok "JPEG tiles tagged with 4 × 1 YCbCr subsampling" \
	"$C/jpeg-ycbcr-odd-subsampling.tif" 300 200
image_ok "IFD chain that loops to itself" "$C/ifd-loop.tif" 300 200
image_ok "PNG" "$C/ok-image.png" 300 200
image_ok "JPEG" "$C/ok-image.jpg" 300 200

# 16-bit stays 16-bit (issue 15) until cast to 8 bits, which keeps the
# high byte: the same pixels as the 8-bit original
run -q load "$C/ok-16bit.tif" ! crop 10 20 64 48 ! cast uint8 ! save "$O/16.png"
mv "$O/16.png" "$TMPD/16.png" 2>/dev/null
run -q load "$C/ok-striped.tif" ! crop 10 20 64 48 ! save "$O/8.png"
_m=$(mad "$TMPD/16.png" "$O/8.png")
awk -v m="$_m" 'BEGIN { exit !(m != "" && m + 0 <= 0.5) }' ||
	why "mean absolute difference '$_m', expected <= 0.5"
case_done "16-bit TIFF: the 8-bit original's pixels (MAD <= 0.5)"

# levels out of order are sorted by size, and each reads as itself
run info "$C/ok-pyramid-disorder.tif"
sane && { [ "$RC" = 0 ] || why "info: exit status $RC"; } &&
	eq "levels" "512×384,256×192,128×96" "$(info_levels <"$SP_OUT")" ||
	why "levels are not sorted by size: $(info_levels <"$SP_OUT")"
case_done "pyramid with levels out of order: info sorts them"
run -q load "$C/ok-pyramid-disorder.tif" level=2 ! save "$O/l2.png"
sane && { [ "$RC" = 0 ] || why "exit status $RC"; } && made 128 96 "$O/l2.png" &&
	{ [ "$(vips avg "$O/l2.png")" = 150.000000 ] ||
		why "level 2 is not the 128 × 96 directory (mean $(vips avg "$O/l2.png"))"; }
case_done "pyramid with levels out of order: level=2 is the 128 × 96 directory"
run -q load "$C/ok-pyramid-disorder.tif" ! downsample 2 ! save "$O/d2.png"
sane && { [ "$RC" = 0 ] || why "exit status $RC"; } && made 256 192 "$O/d2.png" &&
	{ [ "$(vips avg "$O/d2.png")" = 200.000000 ] ||
		why "downsample 2 did not read the 256 × 192 level"; }
case_done "pyramid with levels out of order: downsample 2 reads the 256 × 192 level"

# legal files at awkward paths, and outputs at awkward paths
# awkward_path LABEL NAME: a copy of the good slide at paths/NAME is read,
# and written to NAME
awkward_path() {
	run -q load "$C/paths/$2" ! crop 0 0 32 32 ! save "$O/$2"
	sane && { [ "$RC" = 0 ] || why "exit status $RC"; } && made 32 32 "$O/$2"
	case_done "path with $1: read and written"
}
awkward_path "a space" "with space.tif"
awkward_path "a newline" "new
line.tif"
awkward_path "Latin-1 bytes (not UTF-8)" "$(printf 'latin1-\351\377.tif')"
awkward_path "a leading dash" "-leading-dash.tif"
awkward_path "a leading '!'" "!bang.tif"
run load "$C/paths/new
line.tif" ! crop 0 0 32 32 ! save "$O/a
b.tif"
sane && { [ "$(wc -l <"$SP_OUT")" -eq 1 ] || why "the summary is not one line"; } &&
	{ grep -q 'a\\nb\.tif' "$SP_OUT" || why "the summary does not escape the newline"; }
case_done "an output path with a newline: the summary stays one line (escaped)"
run load "$C/paths/new
line.tif" ! crop 0 0 999 32 ! save "$O/out.tif"
one_error 'new\\nline\.tif' && no_output
case_done "an error naming a path with a newline stays one line (escaped)"

# not images, or not files
image_fails "missing file" "$C/no-such-file.tif" "no-such-file\.tif.*No such file"
image_fails "empty file" "$C/empty.tif" "empty\.tif.*empty"
image_fails "directory" "$C/directory.tif" "directory\.tif.*is a directory"
image_fails "FIFO" "$C/fifo.tif" "fifo\.tif.*not a regular file"
image_fails "symlink loop" "$C/loop-a.tif" "loop-a\.tif.*symbolic links"
image_fails "dangling symlink" "$C/dangling.tif" "dangling\.tif.*No such file"
image_fails "text file named .tif" "$C/not-an-image.tif" "not-an-image\.tif.*not a slide or image"
image_fails "random bytes" "$C/random.tif" "random\.tif.*not a slide or image"
image_fails "TIFF magic only" "$C/tiff-magic-only.tif" "tiff-magic-only\.tif"

# truncated
image_fails "TIFF truncated in the header (4 bytes)" "$C/trunc-header.tif" "trunc-header\.tif"
image_fails "TIFF truncated at 64 bytes" "$C/trunc-64.tif" "trunc-64\.tif.*libtiff cannot read"
image_fails "TIFF truncated half way" "$C/trunc-half.tif" "trunc-half\.tif.*libtiff cannot read"
image_fails "TIFF truncated 16 bytes before the end" "$C/trunc-end.tif" "trunc-end\.tif.*(corrupt|truncated)"
image_fails "PNG truncated half way" "$C/trunc-half.png" "^slidepipe: save: .*out\.tif.*(libpng|read error)"
image_fails "JPEG truncated half way" "$C/trunc-half.jpg" "^slidepipe: save: .*out\.tif.*Premature end"
image_fails "JPEG frame 65500 × 65500, data ends at once" "$C/jpeg-huge-frame.jpg" \
	"^slidepipe: save: .*Premature end"

# damaged tiles and tables
image_fails "JPEG tile without its SOI" "$C/corrupt-jpeg-soi.tif" \
	"corrupt-jpeg-soi\.tif: tile at 0,0 .*corrupt"
image_fails "JPEGTables with broken Huffman tables" "$C/wrong-jpegtables.tif" \
	"wrong-jpegtables\.tif: tile at .*corrupt"
image_fails "frames naming an undefined quantization table" "$C/undefined-quant-table.tif" \
	"undefined-quant-table\.tif: tile at 0,0 of directory 0 is corrupt or truncated"
image_fails "JPEGTables of garbage" "$C/garbage-jpegtables.tif" "garbage-jpegtables\.tif: tile at"
image_fails "tile offsets past the end" "$C/tile-offsets-past-eof.tif" \
	"tile-offsets-past-eof\.tif: tile at .*(corrupt|truncated)"
image_fails "tile offsets 0 (inside the header)" "$C/tile-offsets-zero.tif" \
	"tile-offsets-zero\.tif: tile at 0,0 .*no valid offset"
image_fails "tile byte counts 2 GB" "$C/tile-bytecounts-huge.tif" \
	"tile-bytecounts-huge\.tif: tile at .*(corrupt|truncated|invalid size)"
image_fails "tiles 40000 × 40000" "$C/tile-40000.tif" "tile-40000\.tif.*(layout|tile)"
image_fails "tile width 0" "$C/tile-width-0.tif" "tile-width-0\.tif.*libtiff cannot read"
image_fails "IFD with 65535 entries" "$C/ifd-count-huge.tif" "ifd-count-huge\.tif.*libtiff cannot read"
image_fails "BigTIFF whose IFD offset is 2^62" "$C/bigtiff-bad-offset.tif" \
	"bigtiff-bad-offset\.tif.*libtiff cannot read"

# impossible numbers
image_fails "width 0" "$C/zero-width.tif" "zero-width\.tif.*libtiff cannot read"
image_fails "height 0" "$C/zero-height.tif" "zero-height\.tif.*libtiff cannot read"
image_fails "2^31 × 2^31 tiled" "$C/huge-2p31-tiled.tif" "huge-2p31-tiled\.tif.*libtiff cannot read"
image_fails "2^31 × 1 striped" "$C/huge-2p31-striped.tif" \
	"huge-2p31-striped\.tif.*larger than slidepipe handles"
image_fails "1 × 2^32-1 striped" "$C/huge-height.tif" "huge-height\.tif.*larger than slidepipe handles"
image_fails "PNG header 2^31-1 × 2^31-1" "$C/png-huge-ihdr.png" "png-huge-ihdr\.png"
image_fails "bits per sample 0" "$C/bps-0.tif" "bps-0\.tif.*libtiff cannot read"
image_fails "bits per sample 3" "$C/bps-3.tif" "bps-3\.tif"
image_fails "bits per sample 12" "$C/bps-12.tif" "bps-12\.tif"
# float32 is one of the sample types slidepipe keeps (issue 15); 64-bit
# float is not
image_ok "float samples (kept as float32)" "$C/float.tif" 300 200
image_fails "double samples" "$C/double.tif" "double\.tif.*double samples"
image_fails "YCbCr subsampling 3 × 3" "$C/ycbcr-3x3-subsampling.tif" \
	"ycbcr-3x3-subsampling\.tif.*YCbCr subsampling"
image_fails "uncompressed YCbCr 2 × 1, odd width (libvips: unsupported)" \
	"$C/ycbcr-2x1-uncompressed.tif" "ycbcr-2x1-uncompressed\.tif.*subsampled"

# the same failures under libvips' own pyramidal tiffsave (LZW), whose
# error path crashed (SIGSEGV, libvips issue 3411) and left a temporary
# file in the output directory and the lower levels' in TMPDIR
# tiff_fails NAME FILE PATTERN
tiff_fails() {
	run -q load "$2" ! save "$O/out.tif" compression=lzw
	one_error "$3" && no_output
	case_done "$1, saved as an LZW pyramid: a clear error, no crash, nothing written"
}
tiff_fails "JPEG tile without its SOI" "$C/corrupt-jpeg-soi.tif" \
	"^slidepipe: save: '[^']*out\.tif': .*corrupt-jpeg-soi\.tif: tile at 0,0 .*corrupt"
tiff_fails "PNG truncated half way" "$C/trunc-half.png" "^slidepipe: save: '[^']*out\.tif': .*(libpng|read error)"
tiff_fails "JPEG truncated half way" "$C/trunc-half.jpg" "^slidepipe: save: '[^']*out\.tif': .*Premature end"

# the same damage met by the DCT re-cut (compression=auto on an origin
# on the 16-px MCU grid but off the 64-px tile grid): the re-cut refuses
# the tile, auto falls back to decoding, and the decoder's error is the
# clean one (tests/writers.sh checks the re-cut's and the copy's own)
# recut_fails NAME FILE PATTERN
recut_fails() {
	run -q load "$2" ! crop 16 16 64 48 ! save "$O/out.tif" compression=auto
	one_error "$3" && no_output
	case_done "$1, re-cut from DCT coefficients, then decoded: a clear error, nothing written"
}
recut_fails "JPEG tile without its SOI" "$C/corrupt-jpeg-soi.tif" \
	"^slidepipe: save: '[^']*out\.tif': .*corrupt-jpeg-soi\.tif: tile at 0,0 of directory 0 is corrupt"
recut_fails "JPEGTables with broken Huffman tables" "$C/wrong-jpegtables.tif" \
	"^slidepipe: save: '[^']*out\.tif': .*wrong-jpegtables\.tif: tile at 0,0 of directory 0 is corrupt"
recut_fails "frames naming an undefined quantization table" "$C/undefined-quant-table.tif" \
	"^slidepipe: save: '[^']*out\.tif': .*undefined-quant-table\.tif: tile at 0,0 of directory 0 is corrupt"
recut_fails "tile offsets 0 (inside the header)" "$C/tile-offsets-zero.tif" \
	"^slidepipe: save: '[^']*out\.tif': .*tile-offsets-zero\.tif: tile at 0,0 of directory 0 has no valid offset"

# damage decoders tolerate (libtiff and libjpeg only warn)
image_either "JPEG tile data overwritten (decoder warnings)" "$C/corrupt-jpeg-tiles.tif"
image_either "tile tables with one entry (a sparse slide)" "$C/sparse-tables-short.tif"
image_either "palette without a colour map" "$C/palette-no-colormap.tif"
image_either "1000 samples per pixel" "$C/spp-1000.tif"
image_either "strip with no bytes" "$C/strip-empty.tif"

# ------------------------------------------------------------ pipelines

# pipe NAME ARGS-FILE STATUS PATTERN: the pipeline in ARGS-FILE (one
# argument a line, @S@ the good slide, @OUT@ the output) exits STATUS
# with one line matching PATTERN, writing nothing
pipe() {
	_name=$1 _file=$C/$2 _st=$3 _pat=$4
	set --
	while IFS= read -r _a; do
		case $_a in
		@S@) _a=$S ;;
		@OUT@) _a=$O/out.tif ;;
		esac
		set -- "$@" "$_a"
	done <"$_file"
	run -q "$@"
	one_error "$_pat" && no_output &&
		{ [ "$RC" = "$_st" ] || why "exit status $RC, expected $_st"; } &&
		{ [ "$(wc -c <"$SP_ERR")" -le 1200 ] || why "the error line is $(wc -c <"$SP_ERR") bytes long"; }
	case_done "pipeline, $_name: exit $_st, one clear line"
}
pipe "unknown operator" pipe-unknown-op.args 2 "unknown operator 'sharpen'"
pipe "missing argument" pipe-missing-arg.args 2 "^slidepipe: crop: missing argument 'h'"
pipe "load without a path" pipe-missing-path.args 2 "^slidepipe: load: missing argument 'path'"
pipe "Q=high" pipe-wrong-type-int.args 2 "^slidepipe: save: argument 'Q': 'high' is not an integer"
pipe "pyramid=maybe" pipe-wrong-type-bool.args 2 "^slidepipe: save: argument 'pyramid'"
pipe "compression=gzip" pipe-wrong-choice.args 2 "^slidepipe: save: argument 'compression'"
pipe "unknown argument" pipe-unknown-arg.args 2 "^slidepipe: crop: unknown argument 'colour'"
pipe "NaN" pipe-nan.args 2 "^slidepipe: crop: argument 'x': 'nan'"
pipe "-inf" pipe-inf.args 2 "^slidepipe: crop: argument 'h': '-inf'"
pipe "negative width" pipe-negative.args 2 "^slidepipe: crop: argument 'w': -10"
pipe "integer overflow" pipe-overflow-int.args 2 "^slidepipe: load: argument 'level'"
pipe "1e400" pipe-overflow-double.args 2 "^slidepipe: crop: argument 'w': '1e400'"
pipe "2^31-1 × 2^31-1 crop" pipe-huge-wh.args 1 "^slidepipe: crop: .*outside"
pipe "downsample 1e300" pipe-huge-downsample.args 2 "^slidepipe: downsample: argument 'factor'"
pipe "mpp=1e-300" pipe-tiny-mpp.args 2 "^slidepipe: downsample: argument 'mpp'"
pipe "a stray quote" pipe-quote.args 2 "^slidepipe: crop: argument 'x': '\"0'"
pipe "an empty argument" pipe-empty-arg.args 2 "^slidepipe: crop: argument 'x': ''"
pipe "'=90'" pipe-equals-only.args 2 "^slidepipe: save: unexpected argument '=90'"
pipe "'! !'" pipe-double-bang.args 2 "step 2 is empty"
pipe "no sink" pipe-no-sink.args 2 "must end with a sink"
pipe "a byte order mark" pipe-bom.args 2 "unknown operator '\\\\ufeffload'"
pipe "a CR" pipe-crlf.args 2 "^slidepipe: crop: argument 'h': '10\\\\r'"
pipe "not UTF-8" pipe-not-utf8.args 2 "^slidepipe: crop: argument 'x': '1\\\\xff'"
pipe "a 100 KB number" pipe-long-number.args 2 "^slidepipe: crop: argument 'x': '7+ … \[[0-9]+ bytes\] … 7+' is not"
pipe "a 100 KB operator name" pipe-long-op.args 2 "unknown operator 'x+ … \[[0-9]+ bytes\]"
# hexadecimal is a number (strtod syntax): 0x10 is 16
run -q load "$S" ! crop 0x10 0 10 10 ! save "$O/out.tif"
sane && { [ "$RC" = 0 ] || why "exit status $RC"; } && made 10 10 "$O/out.tif"
case_done "pipeline, crop 0x10: hexadecimal 16, legal"

# ------------------------------------------------------------ manifests

# manifest FILE [batch options]: runs batch on FILE with @S@ filled in,
# outputs in $O, report in $TMPD/report.csv
manifest() {
	_m=$TMPD/manifest.${1##*.}
	sed "s|@S@|$S|g" "$C/$1" >"$_m"
	shift
	run batch "$_m" --out-dir "$O" --report "$TMPD/report.csv" -j 2 "$@"
}

# rows STATUS PATTERN…: exit STATUS, stderr matches every PATTERN, no
# temporary files, and each stderr line is at most 1200 bytes
rows() {
	_st=$1
	shift
	sane || return 1
	[ "$RC" = "$_st" ] || why "exit status $RC, expected $_st" || return 1
	for _p in "$@"; do
		grep -Eq -- "$_p" "$SP_ERR" || why "stderr does not match '$_p'" || return 1
	done
	[ "$(awk 'length > 1200' "$SP_ERR" | wc -l)" -eq 0 ] ||
		why "a stderr line is longer than 1200 bytes"
}

# outputs NAME…: exactly these files were written under $O
outputs() {
	_want=$(printf '%s\n' "$@" | sort | paste -sd' ' -)
	_got=$(cd "$O" && find . -type f | sed 's|^\./||' | sort | paste -sd' ' -)
	[ "$_want" = "$_got" ] || why "outputs are '$_got', expected '$_want'"
}

manifest manifest-numbers.csv
rows 1 "row 2 \(line 3\): crop: argument 'x': 'nan'" \
	"row 3 \(line 4\): crop: argument 'y': 'inf'" \
	"row 4 \(line 5\): crop: argument 'w': -5" \
	"row 5 \(line 6\): crop: argument 'w': '1e999'" \
	"row 6 \(line 7\): crop: argument 'w': 99999999999999999999999" \
	"row 7 \(line 8\): crop: .*outside" \
	"row 8 \(line 9\): crop: argument 'x': 'zero'" \
	"8 rows: 1 ok, 0 skipped \(done before\), 7 failed" && outputs good.png &&
	made 32 32 "$O/good.png"
case_done "manifest, NaN/inf/negative/overflowing/huge/words: each row refused, the good one done"
manifest manifest-unterminated-quote.csv
rows 1 "row 2 \(line 3\): unterminated quote" && outputs good.png after-quote.png
case_done "manifest, an unterminated quote: that row fails, the next is read"
manifest manifest-bom-crlf.csv
rows 1 "row 2 \(line 3\): crop: width and height must be > 0" && outputs good.png
case_done "manifest, BOM and CRLF: read; the zero-width row refused"
manifest manifest-missing-fields.csv
rows 1 "row 2 \(line 3\): the 'out' column is empty" && outputs good.png extra.png
case_done "manifest, missing and surplus fields: short row refused, surplus ignored"
manifest manifest-short.tsv
rows 1 "row 2 \(line 3\): the 'out' column is empty" && outputs good.png
case_done "manifest (TSV), a short row refused"
manifest manifest-1mb-line.csv
rows 1 "row 2 \(line 3\): save: .* … \[[0-9]+ bytes\] … .*File name too long" &&
	outputs good.png after-long.png
case_done "manifest, a 1 MB line: that row fails in one short line, the next is read"
manifest manifest-1mb-garbage.csv
rows 1 "row 2 \(line 3\): the 'out' column is empty" && outputs good.png
case_done "manifest, a 1 MB line of one field: refused"
manifest manifest-not-utf8.csv
rows 1 "row 2 \(line 3\): the line is not UTF-8 text" && outputs good.png after.png
case_done "manifest, bytes that are not UTF-8: that row fails, line numbers stay right"
manifest manifest-nul.csv
rows 1 "row 2 \(line 3\): the line contains a NUL byte" && outputs good.png after.png
case_done "manifest, a NUL byte in a path: that row fails (no cut-short output)"
manifest manifest-bad-rows.csv
rows 1 "row 2 \(line 3\): load: cannot open .*no-such-slide\.tif.: No such file" \
	"row 3 \(line 4\): output '/etc/escape\.png' is an absolute path" && outputs good.png
case_done "manifest, a missing slide and an absolute output: refused"
manifest manifest-bad-slides.csv
rows 1 "row 2 \(line 3\): load: .*not-an-image\.tif.* not a slide or image" \
	"row 3 \(line 4\): load: cannot open .*fifo\.tif.: not a regular file" && outputs good.png
case_done "manifest, a text file and a FIFO as slides: refused, no hang"
manifest manifest-header-only.csv
rows 0 "0 rows: 0 ok" && outputs
case_done "manifest, a header and no rows: nothing to do, exit 0"
manifest manifest-no-columns.csv
rows 2 "^slidepipe: batch: manifest .* has no 'w' column" && outputs
case_done "manifest without w, h, out columns: exit 2"
manifest manifest-bom-only.csv
rows 2 "^slidepipe: batch: manifest .* has no 'slide' column" && outputs
case_done "manifest of a byte order mark only: exit 2"
manifest manifest-empty.csv
rows 2 "^slidepipe: batch: manifest .* has no header line" && outputs
case_done "empty manifest: exit 2"
manifest manifest-utf16.csv
rows 2 "^slidepipe: batch: manifest .* header is not UTF-8 text" && outputs
case_done "UTF-16 manifest: exit 2, says it is not UTF-8"
manifest manifest-1mb-header.csv
rows 2 "^slidepipe: batch: manifest .* has no 'slide' column" && outputs
case_done "manifest whose header is 1 MB of commas: exit 2"
manifest manifest-template.csv --pipeline 'load {slide} ! crop 0 0 "16 16 ! save {out}'
rows 2 "^slidepipe: batch: --pipeline: .*quot" && outputs
case_done "--pipeline with an unterminated quote: exit 2 before any row, says why"
manifest manifest-template.csv --pipeline 'load {slide} ! sharpen ! save {out}'
rows 2 "^slidepipe: batch: --pipeline: unknown operator 'sharpen'" && outputs
case_done "--pipeline with an unknown operator: exit 2 before any row"
manifest manifest-template.csv --pipeline 'load {slide} ! crop {x} 0 16 16 ! save {out}'
rows 1 "row 1 \(line 2\): the template's \{x\} has no value" && outputs
case_done "--pipeline with a column the manifest lacks: every row fails"

# ------------------------------------------- DICOM whole-slide images
# each damaged instance alone in a directory (made by make-corpus.sh when
# pydicom is there): load → crop → save fails with one line naming the
# file, or (damage a reader may tolerate) works or fails cleanly
if [ -d "$C/ok-dicom-jpeg" ]; then
	image_ok "DICOM JPEG baseline, a Basic Offset Table" "$C/ok-dicom-jpeg/instance.dcm" 160 96
	image_ok "DICOM native RGB" "$C/ok-dicom-native/instance.dcm" 80 48 32 24
	image_ok "DICOM, its directory" "$C/ok-dicom-jpeg" 160 96
	image_fails "DICOM cut in its file meta" "$C/dcm-trunc-meta/instance.dcm" "no transfer syntax"
	image_fails "DICOM cut before Pixel Data" "$C/dcm-trunc-header/instance.dcm" "ends before its Pixel Data"
	image_fails "DICOM cut half way through its frames" "$C/dcm-trunc-pixels/instance.dcm" "past the end of the file"
	image_either "DICOM without Pixel Data's delimiter" "$C/dcm-no-delimiter/instance.dcm"
	image_fails "DICOM, an offset table entry past the end" "$C/dcm-bot-past-end/instance.dcm" "past the end of the file"
	image_fails "DICOM, an offset table entry of 2^32 - 256" "$C/dcm-bot-backwards/instance.dcm" "past the end of the file"
	image_fails "DICOM, a fragment 2^32 - 16 bytes long" "$C/dcm-fragment-length/instance.dcm" "not a fragment"
	image_fails "DICOM, a frame that is not JPEG" "$C/dcm-corrupt-frame/instance.dcm" "instance.dcm.*a JPEG frame"
	image_fails "DICOM, implicit VR transfer syntax" "$C/dcm-implicit-syntax/instance.dcm" "implicit VR little endian\\) is not read"
	image_fails "DICOM, Rows 0" "$C/dcm-zero-rows/instance.dcm" "frames of 64 × 0 pixels"
	image_fails "DICOM, a 2^32 - 1 pixel wide matrix" "$C/dcm-huge-matrix/instance.dcm" "total pixel matrix of 4294967295"
	image_fails "DICOM, NumberOfFrames 99 for 6 frames" "$C/dcm-many-frames/instance.dcm" "lists 6 frames; NumberOfFrames is 99"
	image_fails "DICOM, 10,000 nested sequences" "$C/dcm-deep-sequences/instance.dcm" "nested more than 16 deep"
else
	skip "DICOM cases" "python3-pydicom missing: make-corpus.sh made none"
fi

# ------------------------------------------------- GeoJSON annotations
# geo NAME FILE PATTERN: crop geojson=FILE of the good slide exits 1 with
# one line matching PATTERN that names the file, writing nothing
geo() {
	run -q load "$S" ! crop geojson="$C/$2" ! save "$O/out.tif"
	one_error "^slidepipe: crop: .*$2.*$3" && no_output &&
		{ [ "$RC" = 1 ] || why "exit status $RC, expected 1"; }
	case_done "GeoJSON, $1: exit 1, one line naming the file"
}
geo "an empty file" geo-empty.geojson "the file is empty"
geo "truncated" geo-truncated.geojson "not valid JSON: line 1"
geo "a coordinate 1e999 (inf)" geo-infinite.geojson "not a finite number"
geo "a NaN token" geo-nan.geojson "not valid JSON"
geo "a ring of 2 distinct points" geo-two-points.geojson "2 distinct points"
geo "a LineString" geo-linestring.geojson "'LineString' is not supported"
geo "a GeometryCollection" geo-collection.geojson "'GeometryCollection' is not supported"
geo "a coordinate that is a string" geo-string-number.geojson "not a number"
geo "a coordinate of 5e12" geo-huge.geojson "out of range"
geo "100,000 nested brackets" geo-deep.geojson "not valid JSON"
geo "UTF-16" geo-utf16.geojson "not"
geo "text after the document" geo-trailing.geojson "text after the document"

diag "corpus: $CASES cases, $PASSED passed"
done_testing
