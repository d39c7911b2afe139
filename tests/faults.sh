#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Faults around a save: a full disk (a 2 MB tmpfs made here), an
# unwritable output directory, SIGINT/SIGTERM/SIGHUP during a long save
# and during a batch, a closed stderr pipe, SIGKILL and then a rerun.
# Whatever happens, nothing is left at the output path but a whole file,
# no temporary ".NAME.XXXXXX.sp-tmp" stays behind, and the error says
# what went wrong in one line. (tests/errors.sh covers SIGTERM/SIGINT
# during a deflate save; tests/batch.sh a batch killed with SIGKILL.)
#
# Mounting needs root (CAP_SYS_ADMIN); without it the disk-full and
# read-only cases are skipped, saying so.

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

[ -x "$EXAMPLES/make-slide" ] || skip_all "$EXAMPLES/make-slide not built"
command -v vips >/dev/null || skip_all "vips (libvips-tools) not installed"

# the signals below end slidepipe with their default action: no core files
ulimit -c 0 2>/dev/null
S=$TMPD/slide.tif     # 4000 × 3000: every save of it is over 2 MB
make_slide 4000 3000 "$S"
# 20000 × 20000 black, JPEG tiles: made in about a second, and any
# whole-image save of it takes several
BIG=$TMPD/big.tif
vips black "$BIG[tile,compression=jpeg,tile-width=256,tile-height=256]" \
	20000 20000 --bands 3 || {
	echo "Bail out! cannot make $BIG"
	exit 99
}
D=$TMPD/out
mkdir "$D"

# fails_cleanly OUT PATTERN: the last sp exited 1 with one stderr line
# "slidepipe: …" matching PATTERN, and left nothing at OUT and no
# temporary file beside it
fails_cleanly() {
	rc_is 1 || return 1
	if [ "$(wc -l <"$SP_ERR")" -ne 1 ] || ! grep -q '^slidepipe: ' "$SP_ERR"; then
		diag "stderr is not one 'slidepipe: ' line:"
		diag_file "$SP_ERR"
		return 1
	fi
	has "$SP_ERR" "$2" && absent "$1" && no_temp "$(dirname "$1")"
}

# ------------------------------------------------------------ disk full
MNT=$TMPD/full
mkdir "$MNT"
MOUNTED=
if mount -t tmpfs -o size=2m slidepipe-test "$MNT" 2>"$TMPD/mount.err"; then
	MOUNTED=yes
	trap 'umount "$MNT" 2>/dev/null; rm -rf "$TMPD"' EXIT
fi

# used: kilobytes in use on the small file system
used() {
	df -k "$MNT" | awk 'NR == 2 { print $3 }'
}

if [ -z "$MOUNTED" ]; then
	_why="cannot mount a 2 MB tmpfs here ($(head -c 120 "$TMPD/mount.err" | tr '\n' ' '))"
	for _c in "JPEG pyramid" "LZW pyramid (libvips tiffsave)" \
		"uncompressed, no pyramid" "PNG" "JPEG file" "copy with re-cut levels" \
		"auto, level 0 re-cut" "DICOM with copied tiles" \
		"DICOM from a computed pyramid" "batch rows after the disk fills" \
		"batch rerun after freeing space"; do
		skip "disk full: $_c" "$_why"
	done
else
	sp load "$S" ! save "$MNT/out.tif" Q=100
	check "disk full, default JPEG pyramid: exit 1, 'No space left', nothing left" \
		fails_cleanly "$MNT/out.tif" "^slidepipe: save: .*out\.tif.*No space left on device"
	sp load "$S" ! save "$MNT/out.tif" compression=lzw
	check "disk full, LZW pyramid (libvips tiffsave, which crashed): exit 1, nothing left" \
		fails_cleanly "$MNT/out.tif" "^slidepipe: save: cannot write .*out\.tif.: No space left on device"
	sp load "$S" ! save "$MNT/out.tif" compression=none pyramid=false
	check "disk full, uncompressed, no pyramid: exit 1, nothing left" \
		fails_cleanly "$MNT/out.tif" "^slidepipe: save: .*out\.tif.*No space left on device"
	sp load "$S" ! save "$MNT/out.png"
	check "disk full, PNG: exit 1, nothing left" \
		fails_cleanly "$MNT/out.png" "^slidepipe: save: .*out\.png.*No space left on device"
	sp load "$S" ! save "$MNT/out.jpg" Q=100
	check "disk full, JPEG file: exit 1, nothing left" \
		fails_cleanly "$MNT/out.jpg" "^slidepipe: save: .*out\.jpg.*No space left on device"
	# the tile copy and the DCT re-cut: level 0 copied while workers spool
	# the re-cut levels; level 0 re-cut by the workers themselves
	# (a slide whose compressed tiles, 5 MB, do not fit in 2 MB)
	make_slide 8000 6000 "$TMPD/slide8k.tif"
	sp -q load "$TMPD/slide8k.tif" ! crop 256 256 7424 5376 ! save "$MNT/out.tif" compression=copy
	check "disk full, copy with re-cut levels: exit 1, nothing left" \
		fails_cleanly "$MNT/out.tif" "^slidepipe: save: .*out\.tif.*No space left on device"
	sp -q load "$TMPD/slide8k.tif" ! crop 272 256 7424 5376 ! save "$MNT/out.tif" compression=auto
	check "disk full, auto, level 0 re-cut: exit 1, nothing left" \
		fails_cleanly "$MNT/out.tif" "^slidepipe: save: .*out\.tif.*No space left on device"
	# DICOM: the instances made from the source's tiles (copy), and
	# from a computed pyramid: the directory is never left half made
	sp -q load "$TMPD/slide8k.tif" ! save "$MNT/dcm" format=dicom compression=copy
	check "disk full, DICOM with copied tiles: exit 1, 'No space left', no directory left" \
		fails_cleanly "$MNT/dcm" "^slidepipe: save: .*dcm.*No space left on device"
	sp -q load "$TMPD/slide8k.tif" ! crop 100 100 7000 5000 ! save "$MNT/dcm" format=dicom
	check "disk full, DICOM from a computed pyramid: exit 1, no directory left" \
		fails_cleanly "$MNT/dcm" "^slidepipe: save: .*dcm.*No space left on device"
	check "disk full: the file system is empty again (no hidden spool or temp)" \
		eq "files on it" "" "$(ls -A "$MNT")"

	# batch: 8 rows of 196 KB each (uncompressed 256²) with 1 MB of the
	# 2 MB taken: the first rows fit, the rest fail; free the space and
	# rerun: the failed rows are done, the finished ones skipped
	head -c 1048576 /dev/zero >"$MNT/filler"
	{
		echo "slide,x,y,out"
		for _i in 0 1 2 3 4 5 6 7; do
			echo "$S,$((_i * 300)),$((_i * 200)),r$_i.tif"
		done
	} >"$TMPD/full.csv"
	_tpl='load {slide} ! crop {x} {y} 256 256 ! save {out} compression=none pyramid=false'
	sp batch "$TMPD/full.csv" --out-dir "$MNT/b" --pipeline "$_tpl" -j 1 \
		--report "$TMPD/full1.csv"
	_ok1=$(grep -c ',ok,' "$TMPD/full1.csv")
	_failed1=$(grep -c ',failed,save: .*No space left on device' "$TMPD/full1.csv")
	_failed_outs=$(awk -F, '$4 == "failed" { print $3 }' "$TMPD/full1.csv")
	check "batch on a filling disk: exit 1, rows done until it filled ($_ok1), the rest failed with 'No space left' ($_failed1)" \
		eval 'rc_is 1 && [ "$_ok1" -ge 1 ] && [ "$_failed1" -ge 1 ] &&
			[ $((_ok1 + _failed1)) -eq 8 ] && no_temp "$MNT/b" &&
			(cd "$MNT/b" && absent $_failed_outs)'
	rm -f "$MNT/filler"
	sp batch "$TMPD/full.csv" --out-dir "$MNT/b" --pipeline "$_tpl" -j 1 \
		--report "$TMPD/full2.csv" --resume
	_valid=0
	for _i in 0 1 2 3 4 5 6 7; do
		[ "$(size "$MNT/b/r$_i.tif")" = "256 256" ] && _valid=$((_valid + 1))
	done
	check "batch rerun after freeing space: exit 0, the $_failed1 failed rows done, $_ok1 skipped, 8 whole outputs" \
		eval 'rc_is 0 && eq skipped "$_ok1" "$(grep -c ",skipped," "$TMPD/full2.csv")" &&
			eq redone "$_failed1" "$(grep -c ",ok," "$TMPD/full2.csv")" &&
			eq "valid outputs" 8 "$_valid" && no_temp "$MNT/b"'
	rm -rf "$MNT/b"
fi

# --------------------------------------------------- unwritable directory
RO=$TMPD/ro
mkdir "$RO"
_ro=
if [ "$(id -u)" != 0 ]; then
	chmod 555 "$RO" && _ro="Permission denied"
elif [ -n "$MOUNTED" ] && mount -t tmpfs -o ro,size=1m slidepipe-test-ro "$RO" 2>/dev/null; then
	# root writes through permission bits: a read-only mount it is
	_ro="Read-only file system"
	trap 'umount "$RO" 2>/dev/null; umount "$MNT" 2>/dev/null; rm -rf "$TMPD"' EXIT
fi
if [ -z "$_ro" ]; then
	skip "unwritable output directory: save" "root, and cannot mount a read-only tmpfs"
	skip "unwritable output directory: batch" "root, and cannot mount a read-only tmpfs"
	skip "unwritable output directory: tiles" "root, and cannot mount a read-only tmpfs"
else
	sp load "$S" ! crop 0 0 100 100 ! save "$RO/out.tif"
	check "unwritable output directory: save exits 1, '$_ro', nothing written" \
		fails_cleanly "$RO/out.tif" "^slidepipe: save: cannot write .*ro/out\.tif.*$_ro"
	printf 'slide,x,y,w,h,out\n%s,0,0,64,64,a.png\n%s,0,0,64,64,sub/b.png\n' "$S" "$S" \
		>"$TMPD/ro.csv"
	sp batch "$TMPD/ro.csv" --out-dir "$RO"
	check "unwritable --out-dir: batch exits 1, each row says '$_ro'" \
		eval 'rc_is 1 && has "$SP_ERR" "row 1 \(line 2\): save: .*$_ro" \
			"row 2 \(line 3\): save: .*sub.*" "2 rows: 0 ok"'
	sp load "$S" ! crop 0 0 448 448 ! tiles "$RO/t" size=224
	check "unwritable output directory: tiles exits 1, says so" \
		eval 'rc_is 1 && has "$SP_ERR" "^slidepipe: tiles: .*$_ro"'
	# libvips' pyramid tiffsave spools levels to TMPDIR; 8.14 crashed
	# (SIGSEGV) when it could not create them there
	for _c in lzw webp; do
		TMPDIR=$RO sp load "$S" ! crop 0 0 1000 1000 ! save "$D/tmpdir.tif" compression=$_c
		check "TMPDIR unwritable ($_ro), compression=$_c pyramid: exit 1, says TMPDIR, nothing written" \
			fails_cleanly "$D/tmpdir.tif" "^slidepipe: save: cannot write .*tmpdir\.tif.: .*TMPDIR .*$_ro"
	done
	[ "$(id -u)" != 0 ] && chmod 755 "$RO"
fi

# -------------------------------------------- signals during a long save

# wait_temp PID DIR: until a temporary file shows up in DIR (or PID ends),
# then a moment more so the save is well under way
wait_temp() {
	_i=0
	while [ $_i -lt 200 ] && kill -0 "$1" 2>/dev/null &&
		[ -z "$(find "$2" -name '.*.sp-tmp' | sed -n 1p)" ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	sleep 0.3
}

# interrupt SIGNAL STATUS WHAT ARGS…: runs slidepipe ARGS (writing into
# $D, with its own TMPDIR), sends SIGNAL during the save, expects death
# with STATUS and nothing left in $D, nor in TMPDIR (libvips spools the
# lower levels of a TIFF pyramid there)
VT=$TMPD/vips-tmp
interrupt() {
	_sig=$1 _st=$2 _what=$3
	shift 3
	rm -rf "$D" "$VT"
	mkdir "$D" "$VT"
	TMPDIR=$VT "$SLIDEPIPE" -q "$@" >/dev/null 2>"$TMPD/sig.err" &
	_pid=$!
	wait_temp $_pid "$D"
	_sent=no
	kill -0 $_pid 2>/dev/null && kill -"$_sig" $_pid 2>/dev/null && _sent=yes
	wait $_pid 2>/dev/null
	_rc=$?
	if [ "$_sent" = no ] || [ "$_rc" = 0 ]; then
		skip "SIG$_sig during $_what" "it finished (status $_rc) before the signal"
		return
	fi
	check "SIG$_sig during $_what: status $_st, no output, no temporary file" \
		eval 'eq "exit status" "$_st" "$_rc" && eq "files left" "" "$(ls -A "$D")" &&
			eq "files left in TMPDIR" "" "$(ls -A "$VT")"'
}
interrupt INT 130 "the JPEG pyramid writer" load "$BIG" ! save "$D/out.tif"
interrupt TERM 143 "the JPEG pyramid writer" load "$BIG" ! save "$D/out.tif"
interrupt HUP 129 "a PNG save" load "$BIG" ! save "$D/out.png"
interrupt TERM 143 "an LZW pyramid (libvips tiffsave)" \
	load "$BIG" ! save "$D/out.tif" compression=lzw
# every other signal whose default action ends the process: the cleanup
# runs, then the signal's own default action (status 128 + its number on
# Linux); a scheduler's warning (USR1/USR2/ALRM), a profiler's timers, a
# CPU limit, ^\ (QUIT)
for _s in QUIT:131 USR1:138 USR2:140 ALRM:142 XCPU:152 VTALRM:154 PROF:155; do
	interrupt "${_s%:*}" "${_s#*:}" "the JPEG pyramid writer" load "$BIG" ! save "$D/out.tif"
done
# the signals of a crash: cleanup too, then the default action (a real
# fault returns to the faulting instruction under it)
if [ -n "${SP_SAN_FLAGS:-}" ]; then
	# AddressSanitizer's own handler takes SIGSEGV and SIGBUS (and ends
	# the process its way, exit 23): the native build tests slidepipe's
	skip "SIGSEGV during the JPEG pyramid writer" "a sanitizer build: its handler owns SIGSEGV"
	skip "SIGBUS during a PNG save" "a sanitizer build: its handler owns SIGBUS"
else
	interrupt SEGV 139 "the JPEG pyramid writer" load "$BIG" ! save "$D/out.tif"
	interrupt BUS 135 "a PNG save" load "$BIG" ! save "$D/out.png"
fi
interrupt USR1 138 "an LZW pyramid (libvips tiffsave)" \
	load "$BIG" ! save "$D/out.tif" compression=lzw
interrupt QUIT 131 "a PNG save" load "$BIG" ! save "$D/out.png"

# a file-size limit: the write that passes it raises SIGXFSZ (status 153)
# (ulimit -f counts 512-byte blocks in dash, 1024 in bash: 2000 is 1-2 MB,
# and every save of $S is bigger)
# xfsz WHAT ARGS…
xfsz() {
	_what=$1
	shift
	rm -rf "$D" "$VT"
	mkdir "$D" "$VT"
	{ (ulimit -f 2000 && TMPDIR=$VT exec "$SLIDEPIPE" -q "$@") >/dev/null 2>&1; } 2>/dev/null
	_rc=$?
	check "file-size limit (SIGXFSZ) during $_what: status 153, no output, no temporary file" \
		eval 'eq "exit status" 153 "$_rc" && eq "files left" "" "$(ls -A "$D")" &&
			eq "files left in TMPDIR" "" "$(ls -A "$VT")"'
}
xfsz "the JPEG pyramid writer" load "$S" ! save "$D/out.tif" Q=100
xfsz "an uncompressed pyramid (libvips tiffsave)" load "$S" ! save "$D/out.tif" compression=none
xfsz "a PNG save" load "$S" ! save "$D/out.png"

# during a batch: rows in flight lose their temporary files; rows already
# finished stay whole
printf 'slide,x,y,w,h,out\n%s,0,0,64,64,small.png\n%s,0,0,20000,20000,a.png\n%s,0,0,20000,20000,b.tif\n' \
	"$BIG" "$BIG" "$BIG" >"$TMPD/sig.csv"
rm -rf "$D"
mkdir "$D"
"$SLIDEPIPE" batch "$TMPD/sig.csv" --out-dir "$D" -j 3 >/dev/null 2>&1 &
_pid=$!
wait_temp $_pid "$D"
kill -TERM $_pid 2>/dev/null
wait $_pid 2>/dev/null
_rc=$?
check "SIGTERM during a batch: status 143, no temporary file, only whole outputs" \
	eval 'eq "exit status" 143 "$_rc" && no_temp "$D" && absent "$D/a.png" "$D/b.tif" &&
		{ [ ! -e "$D/small.png" ] || eq size "64 64" "$(size "$D/small.png")"; }'

# a closed stderr pipe kills the process at its next warning (SIGPIPE):
# its temporary file goes with it. A truncated PNG warns during the save.
vips crop "$S" "$TMPD/whole.png" 0 0 1000 1000
head -c "$(($(wc -c <"$TMPD/whole.png") / 2))" "$TMPD/whole.png" >"$TMPD/half.png"
rm -rf "$D"
mkdir "$D"
{
	env -u VIPS_WARNING "$SLIDEPIPE" -q load "$TMPD/half.png" ! save "$D/out.tif" \
		compression=lzw 2>&1
	echo $? >"$TMPD/pipe.st"
} | true
check "stderr closed (SIGPIPE) during a save: no output, no temporary file" \
	eval 'eq "files left" "" "$(ls -A "$D")" && diag "exit status $(cat "$TMPD/pipe.st")"'

# ------------------------------------------------ SIGKILL, then a rerun
rm -rf "$D"
mkdir "$D"
"$SLIDEPIPE" -q load "$BIG" ! save "$D/out.png" >/dev/null 2>&1 &
_pid=$!
wait_temp $_pid "$D"
kill -KILL $_pid 2>/dev/null
wait $_pid 2>/dev/null
_stale=$(find "$D" -name '.*.sp-tmp' | sed -n 1p)
if [ -z "$_stale" ]; then
	skip "SIGKILL during a save, then a rerun" "no temporary file was left to clean"
else
	sp -q load "$S" ! crop 0 0 300 200 ! save "$D/out.png"
	check "after SIGKILL: a rerun of the save exits 0 and removes the stale temporary file" \
		eval 'rc_is 0 && absent "$_stale" && eq size "300 200" "$(size "$D/out.png")" &&
			no_temp "$D"'
	# a save in progress holds a lock on its temporary file: another
	# save of the same output leaves that file alone
	"$SLIDEPIPE" -q load "$BIG" ! save "$D/out.png" >/dev/null 2>&1 &
	_live=$!
	wait_temp $_live "$D"
	_live_temp=$(find "$D" -name '.*.sp-tmp' | sed -n 1p)
	sp -q load "$S" ! crop 0 0 200 100 ! save "$D/out.png"
	check "a second save of the same output leaves the first one's temporary file alone" \
		eval 'rc_is 0 && [ -n "$_live_temp" ] && [ -e "$_live_temp" ] &&
			kill -0 $_live 2>/dev/null'
	kill -TERM $_live 2>/dev/null
	wait $_live 2>/dev/null
	check "after both: nothing but the output is left" \
		eq "files" "out.png" "$(ls -A "$D")"
fi

done_testing
