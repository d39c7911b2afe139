#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer: a
# build of this tree in its own directory (default _asan/ at the top of
# the source tree) configured with --enable-sanitizers, then its
# `make check` (tests/lsan.supp and the sanitizer options are set by the
# Makefile). Exit status: make check's. For CI, beside the normal build:
#
#   tests/sanitizer-check.sh            (from the top of the source tree)
#
# A VPATH build (BUILDDIR/build, configured from the source tree) when the
# source tree is not configured itself; when it is (CI builds in place
# first, and configure refuses a VPATH build from a configured tree), from
# a clean copy of it made with `make distdir` (BUILDDIR/src), which holds
# what the tarball holds.
#
# usage: tests/sanitizer-check.sh [BUILDDIR]
# environment: JOBS (make -j, default: the number of cores), CONFIGURE_ARGS
# (more configure options, e.g. --enable-werror)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/_asan}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
start=$(date +%s)
mkdir -p "$build"
build=$(cd "$build" && pwd)

if [ -f "$top/config.status" ]; then
	src=$build/src
	make -s -C "$top" distdir distdir="$src" >"$build/distdir.log" 2>&1 || {
		tail -20 "$build/distdir.log"
		exit 1
	}
else
	src=$top
	[ -x "$src/configure" ] || (cd "$src" && autoreconf -fi)
fi
mkdir -p "$build/build"
cd "$build/build"
# configure again only when the options, the source or configure changed
want="--enable-sanitizers ${CONFIGURE_ARGS:-} ($src)"
if [ ! -f Makefile ] || [ "$src/configure" -nt Makefile ] ||
	[ "$(cat .sanitizer-check-args 2>/dev/null || true)" != "$want" ]; then
	# shellcheck disable=SC2086
	"$src/configure" --enable-sanitizers ${CONFIGURE_ARGS:-} \
		>configure.log 2>&1 || {
		tail -20 configure.log
		exit 1
	}
	echo "$want" >.sanitizer-check-args
fi
# the real slides beside this source tree, not beside the copy
[ -d "$top/../shared" ] && export SHARED_DIR="${SHARED_DIR:-$top/../shared}"
set +e
make -j"$jobs" check
rc=$?
set -e
awk '/^# PASS:/ {p = $3} /^# FAIL:/ {f = $3} /^# ERROR:/ {e = $3} /^# SKIP:/ {s = $3}
	END {printf "sanitizer build: %d passed, %d failed, %d skipped\n", p, f + e, s}' \
	test-suite.log 2>/dev/null || true
echo "sanitizer build: configure, build and make check took $(($(date +%s) - start)) s (exit $rc)"
exit $rc
