#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The fuzz targets' inputs replayed without libFuzzer (fuzz/standalone.c),
# with this build's compiler and flags (so with ASan and UBSan in the
# sanitizer build): the seed corpora fuzz/make-seeds.sh writes, then every
# input in fuzz/regressions/TARGET/, one by one. Each is an input a fuzz
# run once crashed on (tests/FUZZING.md says what it found); a crash, a
# sanitizer report or a leaked VipsObject fails it.
. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

: "${FUZZ_BUILDDIR:=$TESTS_SRCDIR/../fuzz}"
FUZZ_SRCDIR=$TESTS_SRCDIR/../fuzz
targets="pipeline manifest load template aperio annotations"
for t in $targets; do
	[ -x "$FUZZ_BUILDDIR/replay-$t" ] ||
		skip_all "fuzz/replay-$t is not built (make check builds it)"
done

# replay TARGET INPUT…: ok when it runs them all and exits 0
replay() {
	_t=$1
	shift
	"$FUZZ_BUILDDIR/replay-$_t" "$@" >"$TMPD/replay.out" 2>"$TMPD/replay.err"
	_rc=$?
	if [ $_rc -ne 0 ] || ! grep -q 'inputs ran$' "$TMPD/replay.out"; then
		diag "replay-$_t exit $_rc; stderr:"
		diag_file "$TMPD/replay.err"
		return 1
	fi
	return 0
}

EXAMPLES=$EXAMPLES sh "$FUZZ_SRCDIR/make-seeds.sh" "$TMPD/seeds" \
	>"$TMPD/seeds.log" 2>&1 ||
	{
		echo "Bail out! fuzz/make-seeds.sh failed: $(tail -3 "$TMPD/seeds.log")"
		exit 99
	}
for t in $targets; do
	n=$(ls "$TMPD/seeds/$t" | wc -l)
	check "$t: the $n seeds of fuzz/make-seeds.sh replay cleanly" \
		replay "$t" "$TMPD/seeds/$t"
done

for t in $targets; do
	for f in "$FUZZ_SRCDIR/regressions/$t"/*; do
		[ -f "$f" ] || continue
		check "$t: regression $(basename "$f")" replay "$t" "$f"
	done
done

# The image inputs through the command line: slidepipe's exit status (0
# or 1), never a crash, and libvips' leak report at exit (VIPS_LEAK=1)
# empty: no object alive, nothing left in its error buffer (libtiff's
# complaints about a file went there once, to surface in a later error).
# thirdparty-* inputs make OpenSlide misbehave (a GLib critical, a 4 GB
# malloc), which it survives: they run without G_DEBUG=fatal-criticals.
for f in "$FUZZ_SRCDIR/regressions/load"/*; do
	[ -f "$f" ] || continue
	_debug=$G_DEBUG
	case $(basename "$f") in thirdparty-*) _debug= ;; esac
	G_DEBUG=$_debug VIPS_LEAK=1 "$SLIDEPIPE" load "$f" ! crop 0 0 16 16 ! \
		save "$TMPD/out.png" >"$SP_OUT" 2>"$SP_ERR"
	RC=$?
	check "load: regression $(basename "$f") through the CLI exits 0 or 1" \
		eval '[ "$RC" = 0 ] || [ "$RC" = 1 ] || rc_is "0 or 1"'
	check "load: regression $(basename "$f") through the CLI leaves libvips' leak report empty" \
		lacks "$SP_ERR" 'objects alive|allocations|files:|error buffer'
done

done_testing
