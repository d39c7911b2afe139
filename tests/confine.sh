#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Confinement property test (issue 12): generated manifests and templates
# name paths every way they can (absolute, '..', symbolic links at every
# depth, named arguments, quotes, {column}s, '!', line breaks); after each
# batch the whole scratch tree is listed: nothing may appear, change or
# vanish outside --out-dir. Fixed seed; the case count is printed. Longer:
# CONFINE_CASES=5000 CONFINE_SECONDS=1800 CONFINE_SEED=N.

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

[ -x "$EXAMPLES/make-slide" ] || skip_all "$EXAMPLES/make-slide not built"
command -v python3 >/dev/null || skip_all "python3 not installed"

S=$TMPD/slide.tif
make_slide 64 64 "$S"
# libvips' own spool files stay out of the listed tree
mkdir "$TMPD/vipstmp"
TMPDIR=$TMPD/vipstmp python3 "$TESTS_SRCDIR/confine.py" "$SLIDEPIPE" "$S" \
	"$TMPD/scratch" "${CONFINE_CASES:-400}" "${CONFINE_SECONDS:-60}" \
	"${CONFINE_SEED:-12}" >"$TMPD/confine.out" 2>&1
_rc=$?
diag_file "$TMPD/confine.out"
check "confinement: $(tail -1 "$TMPD/confine.out" | cut -c1-120)" \
	eval '[ $_rc = 0 ] && has "$TMPD/confine.out" "^[1-9][0-9]* cases .*nothing created outside"'

done_testing
