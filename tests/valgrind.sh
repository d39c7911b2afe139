#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# `make check-valgrind`: the C API test (tests/test-api) and a set of CLI
# pipelines under valgrind's memcheck. Fails on any invalid read or write,
# use of uninitialised memory, bad free, or definitely lost block in them
# (--errors-for-leak-kinds=definite --error-exitcode); "possibly" and
# "still reachable" blocks (glib's type system, libvips' caches, thread
# pools) are not counted.
#
# valgrind 3.19 (Debian 12) dies of SIGILL in libhwy, which libvips' jxl
# module pulls in when libvips loads its modules; so libvips runs with a
# VIPSHOME whose module folder holds only the OpenSlide module, the one
# slidepipe needs.
#
# Environment (set by make check-valgrind): SLIDEPIPE, TEST_API, EXAMPLES,
# TESTS_SRCDIR, VIPS_LIBDIR (libvips' libdir), GLIB_SUPP (glib's valgrind
# suppressions), VALGRIND. Output is TAP-like; logs of failing runs are
# printed.
: "${TESTS_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}"
. "$TESTS_SRCDIR/lib.sh"

: "${VALGRIND:=$(command -v valgrind || true)}"
: "${TEST_API:=$TESTS_SRCDIR/test-api}"
: "${VIPS_LIBDIR:=$(pkg-config --variable=libdir vips)}"
: "${GLIB_SUPP:=$(pkg-config --variable=datadir gio-2.0)/glib-2.0/valgrind/glib.supp}"
[ -n "$VALGRIND" ] || skip_all "no valgrind (apt-get install valgrind)"

# --- VIPSHOME with the OpenSlide module only ------------------------------
modules=vips-modules-$(pkg-config --modversion vips | cut -d. -f1-2)
VIPSHOME=$TMPD/vipshome
mkdir -p "$VIPSHOME/$(basename "$VIPS_LIBDIR")/$modules"
ln -s "$VIPS_LIBDIR/$modules/vips-openslide.so" \
	"$VIPSHOME/$(basename "$VIPS_LIBDIR")/$modules/"
export VIPSHOME
# plain malloc for glib, so memcheck sees every block
export G_SLICE=always-malloc G_DEBUG=gc-friendly,fatal-criticals
# libvips' SIMD paths (Highway, dispatched on the CPU's features) off:
# under valgrind 3.19 they died of SIGILL in a reduce ("unrecognised
# instruction") that runs clean natively and under ASan
export VIPS_NOVECTOR=1

supp="--suppressions=$TESTS_SRCDIR/valgrind.supp"
[ -f "$GLIB_SUPP" ] && supp="$supp --suppressions=$GLIB_SUPP"
# libtool wrappers: run valgrind on the real program
real() {
	_d=$(dirname "$1") _b=$(basename "$1")
	if [ -x "$_d/.libs/lt-$_b" ]; then
		echo "$_d/.libs/lt-$_b"
	elif [ -x "$_d/.libs/$_b" ]; then
		echo "$_d/.libs/$_b"
	else
		echo "$1"
	fi
}
LIBDIRS=$(dirname "$SLIDEPIPE")/.libs
export LD_LIBRARY_PATH="$LIBDIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

VG_N=0
VG_FAILED=0
# vg NAME EXPECTED-EXIT PROGRAM ARGS…
vg() {
	_name=$1 _want=$2 _prog=$(real "$3")
	shift 3
	VG_N=$((VG_N + 1))
	_log=$TMPD/vg-$VG_N.log
	# shellcheck disable=SC2086
	"$VALGRIND" --tool=memcheck --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite --show-leak-kinds=definite \
		--num-callers=30 --track-fds=no $supp --log-file="$_log" \
		"$_prog" "$@" >"$TMPD/vg-$VG_N.out" 2>"$TMPD/vg-$VG_N.err"
	_rc=$?
	_errors=$(sed -n 's/^==[0-9]*== ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$_log")
	_lost=$(sed -n 's/^==[0-9]*==    definitely lost: \([0-9,]*\) bytes.*/\1/p' "$_log")
	if [ "$_rc" = "$_want" ] && [ "${_errors:-x}" = 0 ]; then
		ok "$_name (valgrind: 0 errors, definitely lost ${_lost:-0} bytes)"
	else
		VG_FAILED=$((VG_FAILED + 1))
		not_ok "$_name (exit $_rc, expected $_want; valgrind errors ${_errors:-?})"
		grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Mismatched|.*definitely lost|   (at|by) )' "$_log" |
			head -60 | sed 's/^/#   /'
		diag_file "$TMPD/vg-$VG_N.err"
	fi
}

"$VALGRIND" --version >/dev/null 2>&1 || skip_all "valgrind does not run here"
make_slide 1024 768 "$TMPD/s.tif"
printf 'slide,x,y,w,h,out\n%s,0,0,256,256,a.tif\n%s,9999,0,10,10,b.tif\n%s,256,256,300,200,c.png\n' \
	"$TMPD/s.tif" "$TMPD/s.tif" "$TMPD/s.tif" >"$TMPD/m.csv"
printf 'x,y,w,h,class\n0,0,256,256,tumour\n256,0,256,256,stroma\n' >"$TMPD/p.csv"

S=$SLIDEPIPE
vg "slidepipe info" 0 "$S" info "$TMPD/s.tif"
vg "explain" 0 "$S" explain load "$TMPD/s.tif" ! crop 10 10 900 700 ! downsample 2.5
vg "crop, downsample 2, save TIFF (JPEG pyramid writer)" 0 \
	"$S" --quiet load "$TMPD/s.tif" ! crop 100 100 700 500 ! downsample 2 ! save "$TMPD/o.tif"
vg "downsample 1.5, threshold otsu, save PNG" 0 \
	"$S" --quiet load "$TMPD/s.tif" ! downsample 1.5 ! threshold ! save "$TMPD/o.png"
vg "compression=copy" 0 \
	"$S" --quiet load "$TMPD/s.tif" ! crop 256 256 512 256 ! save "$TMPD/c.tif" compression=copy
vg "compression=auto, level 0 re-cut from DCT coefficients" 0 \
	"$S" --quiet load "$TMPD/s.tif" ! crop 272 256 512 300 ! save "$TMPD/r.tif" compression=auto
vg "tiles with the default tissue mask" 0 \
	"$S" --quiet load "$TMPD/s.tif" ! tiles "$TMPD/t" size=128 min-tissue=0.2
vg "overlay with a legend" 0 \
	"$S" --quiet load "$TMPD/s.tif" ! downsample 4 ! overlay "$TMPD/p.csv" ! save "$TMPD/v.png"
vg "a region outside the slide (error)" 1 \
	"$S" load "$TMPD/s.tif" ! crop 0 0 5000 10 ! save "$TMPD/x.tif"
vg "batch -j 2 with a bad row" 1 \
	"$S" batch "$TMPD/m.csv" --out-dir "$TMPD/b" -j 2
vg "tests/test-api (the C API suite)" 0 "$TEST_API"
_plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$TMPD/vg-$VG_N.out")
_passed=$(grep -c '^ok ' "$TMPD/vg-$VG_N.out")
if [ -n "$_plan" ] && [ "$_plan" -gt 0 ] && [ "$_passed" = "$_plan" ]; then
	ok "tests/test-api under valgrind: all $_plan cases passed"
else
	VG_FAILED=$((VG_FAILED + 1))
	not_ok "tests/test-api under valgrind: $_passed of ${_plan:-?} cases passed"
	diag_file "$TMPD/vg-$VG_N.out"
fi

echo "1..$T_N"
[ "$VG_FAILED" = 0 ] || {
	echo "# $VG_FAILED of $T_N runs failed under valgrind"
	exit 1
}
