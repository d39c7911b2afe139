#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# What a batch (and save) must never do, whatever the input (issue 12):
# write outside --out-dir through an argument given twice, a symbolic
# link or a template's own path; lose or destroy data (the manifest as
# --report, a manifest from a pipe, duplicate outputs under other
# spellings, a report on a full disk, another process's temporary file);
# hang on an endless manifest; leave temporary files after a signal with
# hundreds in flight; fail on long names; make directories in a dry run;
# call a template without a sink a success; split a quoted field that
# holds a line break. (tests/confine.sh generates confinement cases.)

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

[ -x "$EXAMPLES/make-slide" ] || skip_all "$EXAMPLES/make-slide not built"

S=$TMPD/slide.tif
make_slide 600 400 "$S"
cd "$TMPD" || exit 99
mkdir outside

# ------------------------------------------- one argument given twice
sp load "$S" ! crop 0 0 16 16 ! save a.png path=b.png
check "save a.png path=b.png: exit 2, names save and 'path', writes nothing" \
	eval 'rc_is 2 && has "$SP_ERR" "^slidepipe: save: argument .path. given twice" &&
		absent a.png b.png'
sp load "$S" ! crop 0 0 16 16 ! save path=a.png path=b.png
check "save path=a.png path=b.png: exit 2, writes nothing" \
	eval 'rc_is 2 && has "$SP_ERR" "save: argument .path. given twice" && absent a.png b.png'
sp load "$S" ! crop 0 0 16 16 x=5 ! save c.png
check "crop 0 0 16 16 x=5: exit 2, names crop and 'x'" \
	eval 'rc_is 2 && has "$SP_ERR" "^slidepipe: crop: argument .x. given twice" && absent c.png'

# --------------------------------------------------- confinement
printf 'slide,x,y,w,h,out,v\n%s,0,0,8,8,a.png,path=../outside/v1.png\n%s,0,0,8,8,b.png,x.png path=../outside/v2.png\n%s,0,0,8,8,c.png,!.png\n' \
	"$S" "$S" "$S" >values.csv
printf 'slide,x,y,w,h,out,v\n%s,0,0,8,8,a.png,path=%s/outside/v1.png\n%s,0,0,8,8,b.png,x.png ! save %s/outside/v2.png\n' \
	"$S" "$TMPD" "$S" "$TMPD" >abs-values.csv
sp batch abs-values.csv --out-dir o1 --pipeline 'load {slide} ! crop 0 0 8 8 ! save {out} {v}' -j 1
check "a column value cannot become a named path= or a '!' step: nothing outside --out-dir" \
	eval 'rc_is 1 && eq "outside" "" "$(ls -A outside)"'
sp batch values.csv --out-dir o2 --pipeline 'load {slide} ! crop 0 0 8 8 ! save {v}' -j 1
check "a value holding spaces, '=' and '!' is one path under --out-dir" \
	eval 'eq "outside" "" "$(ls -A outside)" &&
		[ -f "o2/path=../outside/v1.png" ] && [ -f "o2/x.png path=../outside/v2.png" ] &&
		[ -f "o2/!.png" ]'
sp batch values.csv --out-dir o3 --pipeline "load {slide} ! crop 0 0 8 8 ! save $TMPD/outside/fixed.png" -j 1
check "a template's own absolute path: every row fails, nothing written" \
	eval 'rc_is 1 && has "$SP_ERR" "row 1 .*save: output .*fixed\.png. is an absolute path" &&
		absent outside/fixed.png'
sp batch values.csv --out-dir o4 --pipeline 'load {slide} ! crop 0 0 8 8 ! save ../outside/up.png' -j 1
check "a template's own ../ path: every row fails, nothing written" \
	eval 'rc_is 1 && has "$SP_ERR" "leaves --out-dir" && absent outside/up.png'
mkdir -p o5/d
ln -s ../outside o5/link
ln -s ../../outside o5/d/deep
ln -s "$TMPD/outside" o5/d/abs
printf 'slide,x,y,w,h,out\n%s,0,0,8,8,link/s1.png\n%s,0,0,8,8,d/deep/s2.png\n%s,0,0,8,8,d/abs/new/s3.png\n%s,0,0,8,8,d/ok.png\n' \
	"$S" "$S" "$S" "$S" >links.csv
sp batch links.csv --out-dir o5 -j 1
check "symbolic links inside --out-dir (at any depth) are not followed: those rows fail, the plain one is done" \
	eval 'rc_is 1 && eq "outside" "" "$(ls -A outside)" && [ -f o5/d/ok.png ] &&
		has "$SP_ERR" "row 1 .*link.* is a symbolic link" "row 2 .*deep.* is a symbolic link" \
			"row 3 .*abs.* is a symbolic link" "3 failed"'
sp batch links.csv --out-dir o5 -j 1 --pipeline 'load {slide} ! crop 0 0 64 64 ! tiles {out} size=32'
check "tiles through a symbolic link inside --out-dir: nothing outside" \
	eval 'rc_is 1 && eq "outside" "" "$(ls -A outside)"'

# -------------------------------------------------------- data loss
printf 'slide,x,y,w,h,out\n%s,0,0,8,8,r1.png\n' "$S" >keep.csv
cp keep.csv keep.orig
ln keep.csv keep-link.csv
sp batch keep.csv --out-dir o6 --report ./keep-link.csv
check "--report naming the manifest under another name (a hard link): exit 2, manifest intact" \
	eval 'rc_is 2 && has "$SP_ERR" "is the manifest" && cmp -s keep.csv keep.orig'
sp batch keep.csv --out-dir o6 --report "$S"
check "--report naming an existing file that is not a report (the slide): exit 2, file intact" \
	eval 'rc_is 2 && has "$SP_ERR" "is not a report" && [ "$(size "$S")" = "600 400" ]'
sp batch keep.csv --out-dir o6 --report o6-report.csv
sp batch keep.csv --out-dir o6 --report o6-report.csv
check "--report may overwrite an earlier report" eval 'rc_is 0 && has o6-report.csv "^1,.*,skipped,"'
{
	echo "slide,x,y,w,h,out"
	# 200 KB of comments first: more than any read-ahead buffer
	for i in $(seq 1 2000); do echo "# padding line $i ........................................................................................"; done
	for i in 1 2 3 4 5; do echo "$S,0,0,8,8,p$i.png"; done
} | "$SLIDEPIPE" batch /dev/stdin --out-dir o7 >"$SP_OUT" 2>"$SP_ERR"
RC=$?
check "a manifest from a pipe (/dev/stdin): every row is run (5)" \
	eval 'rc_is 0 && eq outputs "p1.png p2.png p3.png p4.png p5.png" "$(ls o7 | paste -sd" ")"'
printf 'slide,x,y,w,h,out\n%s,0,0,8,8,a.png\n%s,0,0,8,8,./a.png\n%s,0,0,8,8,x/../a.png\n%s,0,0,8,8,s//b.png\n%s,0,0,8,8,s/b.png\n' \
	"$S" "$S" "$S" "$S" "$S" >dups.csv
sp batch dups.csv --out-dir o8 -j 1 --report dups-report.csv
check "./a.png, x/../a.png are a.png, s//b.png is s/b.png: duplicates" \
	eval 'rc_is 1 && has dups-report.csv "^2,.*,invalid,output .\./a\.png. is also written by row 1" \
		"^3,.*,invalid,.*also written by row 1" "^5,.*,invalid,.*also written by row 4"'
if [ -w /dev/full ]; then
	sp batch keep.csv --out-dir o9 --report /dev/full
	check "a full disk under --report: exit 1, says the report is incomplete" \
		eval 'rc_is 1 && has "$SP_ERR" "cannot write --report ./dev/full.: No space left on device"'
else
	skip "a full disk under --report" "no writable /dev/full"
fi
if command -v flock >/dev/null; then
	mkdir -p o10
	: >o10/.r1.png.LOCKED.sp-tmp
	: >o10/.sp-Stale1.sp-tmp
	flock o10/.r1.png.LOCKED.sp-tmp sleep 60 &
	_locker=$!
	sleep 0.3
	sp batch keep.csv --out-dir o10
	check "another process's locked temporary file is left alone; an unlocked one is removed" \
		eval 'rc_is 0 && [ -e o10/.r1.png.LOCKED.sp-tmp ] && absent o10/.sp-Stale1.sp-tmp'
	kill $_locker 2>/dev/null
	wait $_locker 2>/dev/null
else
	skip "another process's locked temporary file" "no flock(1)"
fi

# ------------------------------------------------------------- hangs
timeout 30 "$SLIDEPIPE" batch /dev/zero --out-dir o11 >"$SP_OUT" 2>"$SP_ERR"
RC=$?
check "batch /dev/zero: exit 2 at once, says it is not text" \
	eval 'rc_is 2 && has "$SP_ERR" "^slidepipe: batch: manifest ./dev/zero.*NUL byte"'
{ echo "slide,x,y,w,h,out"; head -c 8000000 /dev/zero; } >nul-rows.csv
timeout 30 "$SLIDEPIPE" batch nul-rows.csv --out-dir o11 >"$SP_OUT" 2>"$SP_ERR"
RC=$?
check "a manifest whose rows never end (NUL bytes): exit 2, names the line" \
	eval 'rc_is 2 && has "$SP_ERR" "line 2: longer than 4 MiB"'
sp batch . --out-dir o11
check "a directory as manifest: exit 2" eval 'rc_is 2 && has "$SP_ERR" "is a directory"'

# --------------------------------------------------------- leftovers
if [ -x "${TESTS_BUILDDIR:-$TESTS_SRCDIR}/pending-temps" ]; then
	mkdir pending
	"${TESTS_BUILDDIR:-$TESTS_SRCDIR}/pending-temps" pending 600 >"$SP_OUT" 2>"$SP_ERR"
	RC=$?
	check "SIGTERM with 600 temporary files in flight, 200 with a temporary directory of 6 files of any name (level-N.dcm, label.dcm, notes.txt, .hidden …): every one removed" \
		eval 'rc_is 143 && has "$SP_OUT" "600 temporary files made" &&
			eq "left" "0" "$(ls -A pending | wc -l | tr -d " ")"'
else
	skip "SIGTERM with 600 temporary files in flight" "tests/pending-temps not built"
fi

# ---------------------------------------------------------- long names
_n=$(printf '%0251d' 0 | tr 0 n)
sp load "$S" ! crop 0 0 8 8 ! save "$_n.png"
check "save to a name of 255 bytes (NAME_MAX)" \
	eval 'rc_is 0 && [ -f "$_n.png" ] && no_temp .'
printf 'slide,x,y,w,h,out\n%s,0,0,8,8,sub/%s.png\n' "$S" "$_n" >long.csv
sp batch long.csv --out-dir o12
check "batch output of 255 bytes" eval 'rc_is 0 && [ -f "o12/sub/$_n.png" ]'
sp load "$S" ! crop 0 0 8 8 ! save "${_n}xx.png"
check "a name of 257 bytes: exit 1 before any pixel, 'File name too long'" \
	eval 'rc_is 1 && has "$SP_ERR" "File name too long" && no_temp .'

# --------------------------------------------------- wrong results
sp batch links.csv --out-dir dry/new --dry-run
check "--dry-run makes no directory (neither --out-dir nor sub/)" \
	eval 'absent dry && has "$SP_ERR" "4 rows"'
sp batch values.csv --out-dir o13 --pipeline 'load {slide} ! crop 0 0 8 8'
check "a template with no sink: exit 2 before any row" \
	eval 'rc_is 2 && has "$SP_ERR" "^slidepipe: batch: --pipeline: .*not a sink" && absent o13'

# ------------------------------------------ RFC 4180 line breaks
printf 'slide,x,y,w,h,out\n%s,0,0,8,8,"two\nlines.png"\n%s,abc,0,8,8,bad.png\n%s,0,0,8,8,after.png\n' \
	"$S" "$S" "$S" >multi.csv
sp batch multi.csv --out-dir o14 -j 1
check "a quoted field holding a line break is one field; later rows keep their line numbers" \
	eval 'rc_is 1 && [ -f "o14/two
lines.png" ] && [ -f o14/after.png ] &&
		has "$SP_ERR" "row 2 \(line 4\): crop: argument .x." "3 rows: 2 ok"'
printf 'slide,x,y,w,h,out\n%s,0,0,8,8,"open.png\n%s,0,0,8,8,next.png\n' "$S" "$S" >open.csv
sp batch open.csv --out-dir o15 -j 1
check "a quote never closed fails its own line only; the next row is read" \
	eval 'rc_is 1 && [ -f o15/next.png ] && has "$SP_ERR" "row 1 \(line 2\): unterminated quote"'

done_testing
