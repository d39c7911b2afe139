#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bad input on the command line. Each case must exit with the documented
# status (1 runtime error, 2 usage error), say what is wrong in one line
# on stderr that starts with "slidepipe: " and names the operator,
# argument or file, and leave nothing at the output path: no file, no
# temporary ".NAME.XXXXXX.sp-tmp" beside it, and an existing file
# untouched. Interrupted saves (SIGTERM, SIGINT) leave nothing either.

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

command -v vips >/dev/null || skip_all "vips (libvips-tools) not installed"

S=$TMPD/slide.tif          # 4000 × 3000, 0.25 µm/px
NOMPP=$TMPD/nompp.tif      # 1000 × 800, no pixel size
O=$TMPD/o                  # outputs go here, and must not appear
mkdir "$O"
make_slide 4000 3000 "$S"
make_slide 1000 800 "$NOMPP" --no-mpp
echo "not an image" >"$TMPD/text.txt"
: >"$TMPD/empty.tif"
mkdir "$TMPD/dir" "$O/dir.tif"

# fails_with CODE OUT PATTERN… -- ARGS…: slidepipe ARGS exits CODE with
# one stderr line "slidepipe: …" matching every PATTERN, and leaves
# nothing at OUT (nor a temporary file in OUT's directory)
fails_with() {
	_code=$1 _outp=$2
	shift 2
	_pats=
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		_pats="$_pats$1
"
		shift
	done
	shift
	sp "$@"
	rc_is "$_code" || return 1
	if [ "$(wc -l <"$SP_ERR")" -ne 1 ] || ! grep -q '^slidepipe: ' "$SP_ERR"; then
		diag "stderr is not one 'slidepipe: ' line:"
		diag_file "$SP_ERR"
		return 1
	fi
	_fail=0
	while IFS= read -r _fp; do
		[ -n "$_fp" ] && ! has "$SP_ERR" "$_fp" && _fail=1
	done <<EOF
$_pats
EOF
	[ "$_fail" = 0 ] || return 1
	if [ -n "$_outp" ]; then
		absent "$_outp" || return 1
		no_temp "$(dirname "$_outp")" || return 1
	fi
	[ -s "$SP_OUT" ] && { diag "unexpected stdout:"; diag_file "$SP_OUT"; return 1; }
	return 0
}

OUT=$O/out.tif

# ------------------------------------------------------------ inputs
check "missing input: exit 1, 'No such file', names the file" \
	fails_with 1 "$OUT" "^slidepipe: load: " "nope\.tif" "No such file or directory" -- \
	load "$TMPD/nope.tif" ! save "$OUT"
check "a text file as input: exit 1, names it, says it is not an image" \
	fails_with 1 "$OUT" "^slidepipe: load: " "text\.txt" "not a slide or image" -- \
	load "$TMPD/text.txt" ! save "$OUT"
check "an empty file as input: exit 1, says it is empty" \
	fails_with 1 "$OUT" "^slidepipe: load: " "empty\.tif" "empty" -- \
	load "$TMPD/empty.tif" ! save "$OUT"
check "a directory as input: exit 1, says it is a directory" \
	fails_with 1 "$OUT" "^slidepipe: load: " "/dir'" "is a directory" -- \
	load "$TMPD/dir" ! save "$OUT"
check "info on a missing file: exit 1" \
	fails_with 1 "" "^slidepipe: load: " "nope\.tif" "No such file" -- \
	info "$TMPD/nope.tif"
check "info without a file: exit 2" \
	fails_with 2 "" "^slidepipe: info: missing SLIDE" -- info

# ------------------------------------------------------------- crop
check "crop outside the slide: exit 1, gives the slide's size 4000 × 3000" \
	fails_with 1 "$OUT" "^slidepipe: crop: " "outside" "slide\.tif" "4000 × 3000" -- \
	load "$S" ! crop 3000 2000 2000 2000 ! save "$OUT"
check "crop outside a downsampled input: exit 1, says so" \
	fails_with 1 "$OUT" "^slidepipe: crop: " "outside its input" -- \
	load "$S" ! downsample 2 ! crop 3000 2000 2000 2000 ! save "$OUT"
check "crop width 0: exit 2" \
	fails_with 2 "$OUT" "^slidepipe: crop: " "w=0" "> 0" -- \
	load "$S" ! crop 0 0 0 10 ! save "$OUT"
check "crop negative height: exit 2, names 'h'" \
	fails_with 2 "$OUT" "^slidepipe: crop: " "'h'" "-5" -- \
	load "$S" ! crop 0 0 10 -5 ! save "$OUT"
check "crop negative x: exit 2, names 'x'" \
	fails_with 2 "$OUT" "^slidepipe: crop: " "'x'" "-1" -- \
	load "$S" ! crop -1 0 10 10 ! save "$OUT"
check "crop x=abc: exit 2, names 'x' and 'abc'" \
	fails_with 2 "$OUT" "^slidepipe: crop: " "'x'" "'abc'" "not a finite number" -- \
	load "$S" ! crop abc 0 10 10 ! save "$OUT"
check "crop y=nan: exit 2" \
	fails_with 2 "$OUT" "^slidepipe: crop: " "'y'" "'nan'" -- \
	load "$S" ! crop 0 nan 10 10 ! save "$OUT"
check "crop w=inf: exit 2" \
	fails_with 2 "$OUT" "^slidepipe: crop: " "'w'" "'inf'" -- \
	load "$S" ! crop 0 0 inf 10 ! save "$OUT"
check "crop 1e999 (overflows): exit 2" \
	fails_with 2 "$OUT" "^slidepipe: crop: " "'1e999'" -- \
	load "$S" ! crop 0 0 1e999 10 ! save "$OUT"
check "crop with a fifth positional value: exit 2, names it" \
	fails_with 2 "$OUT" "^slidepipe: crop: " "unexpected argument '20'" -- \
	load "$S" ! crop 0 0 10 10 20 ! save "$OUT"
check "crop units=um without mpp: exit 2, names the slide" \
	fails_with 2 "$OUT" "^slidepipe: crop: " "units=um" "nompp\.tif" -- \
	load "$NOMPP" ! crop 0 0 10 10 units=um ! save "$OUT"

# ---------------------------------------------------- operators, arguments
check "unknown operator: exit 2, lists the operators" \
	fails_with 2 "$OUT" "unknown operator 'sharpen'" \
	"load, crop, downsample, threshold, save" -- \
	load "$S" ! sharpen 3 ! save "$OUT"
check "unknown argument foo=1: exit 2, names it and the known ones" \
	fails_with 2 "$OUT" "^slidepipe: crop: " "unknown argument 'foo'" "x, y, w, h, units" -- \
	load "$S" ! crop 0 0 10 10 foo=1 ! save "$OUT"
check "missing argument: exit 2, names 'h'" \
	fails_with 2 "$OUT" "^slidepipe: crop: " "missing argument 'h'" -- \
	load "$S" ! crop 0 0 10 ! save "$OUT"
check "compression=gif: exit 2, lists the choices" \
	fails_with 2 "$OUT" "^slidepipe: save: " "'compression'" "'gif'" "jpeg\|lzw" -- \
	load "$S" ! save "$OUT" compression=gif
check "Q=0: exit 2, out of range 1 … 100" \
	fails_with 2 "$OUT" "^slidepipe: save: " "'Q'" "out of range \(1 … 100\)" -- \
	load "$S" ! save "$OUT" Q=0
check "Q=101: exit 2, out of range" \
	fails_with 2 "$OUT" "^slidepipe: save: " "'Q'" "101 is out of range" -- \
	load "$S" ! save "$OUT" Q=101
check "Q=abc: exit 2, not an integer" \
	fails_with 2 "$OUT" "^slidepipe: save: " "'Q'" "not an integer" -- \
	load "$S" ! save "$OUT" Q=abc
check "tile=100: exit 2, not a multiple of 16" \
	fails_with 2 "$OUT" "^slidepipe: save: " "'tile'" "multiple of 16" -- \
	load "$S" ! save "$OUT" tile=100
check "tile=512 on a PNG: exit 2, TIFF only" \
	fails_with 2 "$O/out.png" "^slidepipe: save: " "'tile'" "TIFF output only" -- \
	load "$S" ! crop 0 0 10 10 ! save "$O/out.png" tile=512
check "pyramid=maybe: exit 2, not true or false" \
	fails_with 2 "$OUT" "^slidepipe: save: " "'pyramid'" "true or false" -- \
	load "$S" ! save "$OUT" pyramid=maybe
check "load associated=foo: exit 2, lists the choices" \
	fails_with 2 "$OUT" "^slidepipe: load: " "'associated'" "label\|macro\|thumbnail" -- \
	load "$S" associated=foo ! save "$OUT"
check "threshold value=300: exit 2, out of range 0 … 255" \
	fails_with 2 "$OUT" "^slidepipe: threshold: " "'value'" "out of range" -- \
	load "$S" ! threshold value=300 ! save "$OUT"
check "threshold method=value without value: exit 2" \
	fails_with 2 "$OUT" "^slidepipe: threshold: " "needs value=V" -- \
	load "$S" ! threshold method=value ! save "$OUT"
check "unknown option --frobnicate: exit 2" \
	eval 'sp --frobnicate; rc_is 2 && has "$SP_ERR" "^slidepipe: unknown option .--frobnicate."'
check "no arguments: exit 2 with the usage on stderr" \
	eval 'sp; rc_is 2 && has "$SP_ERR" "^usage: slidepipe"'

# ------------------------------------------------------------- outputs
check "output in a directory that does not exist: exit 1, names it" \
	fails_with 1 "$O/nodir/out.tif" "^slidepipe: save: " "nodir" "No such file or directory" -- \
	load "$S" ! crop 0 0 100 100 ! save "$O/nodir/out.tif"
check "... and the directory is not created" absent "$O/nodir"
echo "a file" >"$O/plain"
check "output under a regular file: exit 1, 'not a directory'" \
	fails_with 1 "$O/plain/out.tif" "^slidepipe: save: " "plain" "not a directory" -- \
	load "$S" ! crop 0 0 100 100 ! save "$O/plain/out.tif"
check "output path is a directory: exit 1, says so" \
	eval 'fails_with 1 "" "^slidepipe: save: " "dir\.tif" "is a directory" -- \
		load "$S" ! crop 0 0 100 100 ! save "$O/dir.tif" && [ -d "$O/dir.tif" ] && no_temp "$O"'
check "output extension .bmp: exit 2, lists the extensions" \
	fails_with 2 "$O/out.bmp" "^slidepipe: save: " "out\.bmp" "extension" -- \
	load "$S" ! crop 0 0 100 100 ! save "$O/out.bmp"

# ------------------------------------------------------------ pipelines
check "pipeline without a sink: exit 2" \
	fails_with 2 "" "must end with a sink" -- load "$S" ! crop 0 0 10 10
check "pipeline not starting with load: exit 2, names the step" \
	fails_with 2 "$OUT" "must start with a source" "'crop'" -- \
	crop 0 0 10 10 ! save "$OUT"
check "empty step 'load x ! ! save y': exit 2, names step 2" \
	fails_with 2 "$OUT" "step 2 is empty" -- load "$S" ! ! save "$OUT"
check "a trailing '!': exit 2" \
	fails_with 2 "" "step 3 is empty" -- load "$S" ! crop 0 0 10 10 !
check "a sink in the middle: exit 2" \
	fails_with 2 "$OUT" "'save' is a sink and must end the pipeline" -- \
	load "$S" ! save "$OUT" ! crop 0 0 10 10 ! save "$O/b.tif"
check "a second load: exit 2" \
	fails_with 2 "$OUT" "'load' is a source" -- load "$S" ! load "$S" ! save "$OUT"
check "a bad pipeline is refused before any file is opened (missing input, bad step)" \
	fails_with 2 "$OUT" "unknown operator 'sharpen'" -- \
	load "$TMPD/nope.tif" ! sharpen ! save "$OUT"

# ----------------------------------------------------------------- load
# the declaration's range of level is 0 … 63: beyond it is a usage error;
# a level inside that range the slide lacks is a runtime (format) error
check "load level=5 of a 5-level slide: exit 1, gives the level count" \
	fails_with 1 "$OUT" "^slidepipe: load: " "'level'" "has 5 levels \(0 … 4\)" -- \
	load "$S" level=5 ! save "$OUT"
check "load level=99: exit 2, out of the declared range 0 … 63" \
	fails_with 2 "$OUT" "^slidepipe: load: " "'level'" "99" -- \
	load "$S" level=99 ! save "$OUT"
check "load associated=label without associated images: exit 1" \
	fails_with 1 "$O/label.png" "^slidepipe: load: " "no associated image 'label'" "it has: none" -- \
	load "$S" associated=label ! save "$O/label.png"

# ------------------------------------------------------------ downsample
check "downsample mpp=1 on a slide without mpp: exit 2, names the slide" \
	fails_with 2 "$OUT" "^slidepipe: downsample: " "mpp=1" "nompp\.tif" "records none" -- \
	load "$NOMPP" ! downsample mpp=1 ! save "$OUT"
check "downsample 0.5: exit 2, names 'factor'" \
	fails_with 2 "$OUT" "^slidepipe: downsample: " "'factor'" "0\.5" -- \
	load "$S" ! downsample 0.5 ! save "$OUT"
check "downsample 2 mpp=1: exit 2, not both" \
	fails_with 2 "$OUT" "^slidepipe: downsample: " "not both" -- \
	load "$S" ! downsample 2 mpp=1 ! save "$OUT"
check "downsample with neither a factor nor mpp: exit 2" \
	fails_with 2 "$OUT" "^slidepipe: downsample: " "give either a FACTOR or mpp" -- \
	load "$S" ! downsample ! save "$OUT"
check "downsample mpp=0.1 on a 0.25 µm slide: exit 2, cannot enlarge" \
	fails_with 2 "$OUT" "^slidepipe: downsample: " "cannot enlarge" -- \
	load "$S" ! downsample mpp=0.1 ! save "$OUT"

# ------------------------------------------ existing outputs stay as they were
"$SLIDEPIPE" -q load "$S" ! crop 0 0 300 300 ! save "$OUT"
SUM=$(cksum <"$OUT")
check "existing output: a failing plan (crop outside) leaves it untouched" \
	eval 'fails_with 1 "" "outside" -- load "$S" ! crop 3900 0 200 200 ! save "$OUT" &&
		eq checksum "$SUM" "$(cksum <"$OUT")" && no_temp "$O"'
check "existing output: a usage error (Q=0) leaves it untouched" \
	eval 'fails_with 2 "" "Q" -- load "$S" ! save "$OUT" Q=0 &&
		eq checksum "$SUM" "$(cksum <"$OUT")" && no_temp "$O"'

# a source whose tiles are corrupt fails while the save is running, after
# the temporary file exists: the tiles from byte 100000 on are overwritten
make_slide 1000 800 "$TMPD/corrupt.tif" --lzw --no-pyramid
yes 'corrupt tile data 0123456789' | head -c 200000 |
	dd of="$TMPD/corrupt.tif" bs=1000 seek=100 conv=notrunc 2>/dev/null
check "corrupt source, pyramid=false: exit 1, 'corrupt', output untouched, no temp" \
	eval 'fails_with 1 "" "^slidepipe: save: " "corrupt\.tif" "corrupt or truncated" -- \
		load "$TMPD/corrupt.tif" ! save "$OUT" pyramid=false &&
		eq checksum "$SUM" "$(cksum <"$OUT")" && no_temp "$O"'
check "corrupt source, PNG output: exit 1, nothing written, no temp" \
	fails_with 1 "$O/corrupt.png" "^slidepipe: save: " "corrupt or truncated" -- \
	load "$TMPD/corrupt.tif" ! save "$O/corrupt.png"
# (libvips 8.14.1's tiffsave crashes in its pyramid error path, libvips
# issue 3411: save guards it, see ops/save.c; tests/corpus.sh saves broken
# sources as LZW pyramids)
check "corrupt source, default pyramidal TIFF: exit 1, output untouched, no temp" \
	eval 'fails_with 1 "" "corrupt or truncated" -- load "$TMPD/corrupt.tif" ! save "$OUT" &&
		eq checksum "$SUM" "$(cksum <"$OUT")" && no_temp "$O"'
rm -f "$O"/.*.sp-tmp

# ----------------------------------------------------- interrupted saves
# A save of an 8000 × 8000 slide with deflate takes a few seconds: start
# it, wait until its temporary file exists, signal it, and expect death
# by that signal with nothing left behind.
make_slide 8000 8000 "$TMPD/big.tif" --no-pyramid
D=$TMPD/sig
mkdir "$D"

# interrupt SIGNAL STATUS
interrupt() {
	rm -rf "$D" && mkdir "$D"
	"$SLIDEPIPE" -q load "$TMPD/big.tif" ! save "$D/out.tif" compression=deflate \
		>/dev/null 2>"$TMPD/sig.err" &
	_pid=$!
	_i=0
	while [ $_i -lt 300 ] && kill -0 $_pid 2>/dev/null &&
		[ -z "$(find "$D" -name '.*.sp-tmp')" ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	sleep 0.5
	_sent=no
	if kill -0 $_pid 2>/dev/null && kill -"$1" $_pid 2>/dev/null; then
		_sent=yes
	fi
	wait $_pid
	_st=$?
	_sig="SIG$1 during a save"
	if [ "$_sent" = no ] || [ "$_st" = 0 ]; then
		skip "$_sig: dies with status $2, leaves no output, no temp" \
			"the save finished (status $_st) before the signal"
		return
	fi
	check "$_sig: dies with status $2 (128 + signal)" eq "exit status" "$2" "$_st"
	check "$_sig: nothing at the output path" absent "$D/out.tif"
	check "$_sig: no temporary file left" no_temp "$D"
}
# ------------------------------------------------------- overlay numbers
# huge and non-finite scores and rectangles (issue 12: a NaN colour-map
# index crashed overlay with SIGSEGV)
PNG=$O/ov.png
printf 'x,y,w,h,score\n0,0,1000,1000,1e300\n1000,0,1000,1000,-1e300\n2000,0,1000,1000,0.5\n' >"$TMPD/huge.csv"
sp load "$S" ! downsample 16 ! overlay "$TMPD/huge.csv" ! save "$PNG"
check "overlay: scores ±1e300 (their span overflows): exit 0, no crash" \
	eval 'rc_is 0 && [ -s "$PNG" ]'
check "overlay: scores ±1e300: the output is the thumbnail plus a legend, 250 px high" \
	eq "height" "188" "$(size "$PNG" | cut -d' ' -f2)"
rm -f "$PNG"
printf 'x,y,w,h,score\n0,0,1000,1000,1e308\n1000,0,1000,1000,-1e308\n' >"$TMPD/max.csv"
check "overlay: a score of 1e308: exit 2, names the file, line and column" \
	fails_with 2 "$PNG" "^slidepipe: overlay: " "max\.csv' line 2: column 'score': '1e308' is not a number \(a finite one" -- \
	load "$S" ! downsample 16 ! overlay "$TMPD/max.csv" ! save "$PNG"
for v in nan inf -inf NaN Infinity; do
	printf 'x,y,w,h,score\n0,0,1000,1000,%s\n' "$v" >"$TMPD/nonfinite.csv"
	check "overlay: a score of $v: exit 2, names file, line 2 and column" \
		fails_with 2 "$PNG" "^slidepipe: overlay: " "nonfinite\.csv' line 2: column 'score': '$v' is not a number \(a finite one" -- \
		load "$S" ! downsample 16 ! overlay "$TMPD/nonfinite.csv" ! save "$PNG"
done
printf 'x,y,w,h,score\nnan,0,1000,1000,0.5\n' >"$TMPD/nanx.csv"
check "overlay: x = nan: exit 2, names column 'x'" \
	fails_with 2 "$PNG" "^slidepipe: overlay: " "nanx\.csv' line 2: column 'x': 'nan' is not a number \(a finite one" -- \
	load "$S" ! downsample 16 ! overlay "$TMPD/nanx.csv" ! save "$PNG"
printf 'x,y,w,h,score\n-1e300,-1e300,1e300,1e300,0.5\n1e300,0,1,1,0.5\n0,0,2e9,5e9,0.25\n' >"$TMPD/farrect.csv"
sp load "$S" ! downsample 16 ! overlay "$TMPD/farrect.csv" legend=false ! save "$PNG"
check "overlay: rectangles 1e300 px away and 5e9 px wide: exit 0 (clamped, not cast)" \
	eval 'rc_is 0 && eq size "250 188" "$(size "$PNG")"'
rm -f "$PNG"
printf 'x,y,width,height,downsample,score\n0,0,1e300,1,1e300,0.5\n' >"$TMPD/ovfds.csv"
check "overlay: width × downsample overflows: exit 2, says so" \
	fails_with 2 "$PNG" "^slidepipe: overlay: " "ovfds\.csv' line 2: width × downsample" -- \
	load "$S" ! downsample 16 ! overlay "$TMPD/ovfds.csv" ! save "$PNG"
check "overlay: range=-1e300,1e300: exit 0" \
	eval 'sp load "$S" ! downsample 16 ! overlay "$TMPD/huge.csv" range=-1e300,1e300 ! save "$PNG"; rc_is 0'
rm -f "$PNG"

interrupt TERM 143
interrupt INT 130

# a failure is one line, even after a step measured something (threshold's
# Otsu report came first, then the error); the report comes on success
sp load "$S" ! threshold ! save "$TMPD/m.tif" compression=webp
check "threshold then a failing save: the error is the one line on stderr" eval \
	'rc_is 2 && eq lines 1 "$(wc -l <"$SP_ERR" | tr -d " ")" &&
		has "$SP_ERR" "^slidepipe: save: argument .compression.: webp"'
sp load "$S" ! threshold ! save "$TMPD/m.tif"
check "threshold then a save that works: the Otsu report, then the output" eval \
	'rc_is 0 && has "$SP_ERR" "^slidepipe: threshold: Otsu value"'

done_testing
