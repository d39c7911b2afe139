#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds slidepipe's libFuzzer targets: the library's sources and each
# fuzz/*_fuzzer.c compiled with clang, -fsanitize=fuzzer,address,undefined
# (UBSan findings abort, so libFuzzer keeps the input), linked statically
# into one program per target. A build of its own, beside the autotools
# one: the library is not rebuilt with clang there, and nothing here needs
# configure's choices beyond config.h.
#
# usage: fuzz/build.sh [OUTDIR]      (`make fuzz` runs it)
#   OUTDIR   where the programs go (default: fuzz/ in the source tree)
# environment:
#   FUZZ_CC         the compiler (default clang, else clang-14)
#   FUZZ_CONFIG_H   a configured config.h (default: OUTDIR/../config.h if
#                   present, else a minimal one is written)
#   FUZZ_CFLAGS     extra flags (e.g. -O2)
#   FUZZ_MODE       "coverage": build TARGET_cov instead, with clang's
#                   source coverage and no sanitizer, whose main() replays
#                   files (fuzz/standalone.c); fuzz/coverage.sh uses it
# Debian packages: clang, libclang-rt-14-dev (libFuzzer), and the build
# dependencies of slidepipe itself (install-deps.sh installs them all).
set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$srcdir/fuzz}
mode=${FUZZ_MODE:-fuzz}
objdir=obj
[ "$mode" = coverage ] && objdir=obj-cov
mkdir -p "$out/$objdir"
out=$(cd "$out" && pwd)
obj=$out/$objdir

CC=${FUZZ_CC:-}
if [ -z "$CC" ]; then
	for c in clang clang-14; do
		if command -v "$c" >/dev/null 2>&1; then
			CC=$c
			break
		fi
	done
fi
[ -n "$CC" ] || {
	echo "fuzz/build.sh: no clang (apt-get install clang libclang-rt-14-dev)" >&2
	exit 1
}

# config.h: the configured one, or the little the sources use
config=${FUZZ_CONFIG_H:-$out/../config.h}
if [ -f "$config" ]; then
	cp "$config" "$obj/config.h.new"
else
	version=$(sed -n 's/^AC_INIT(\[slidepipe\], \[\([^]]*\)\].*/\1/p' "$srcdir/configure.ac")
	printf '#define PACKAGE_VERSION "%s"\n' "$version" >"$obj/config.h.new"
fi
if cmp -s "$obj/config.h.new" "$obj/config.h"; then
	rm -f "$obj/config.h.new"
else
	mv "$obj/config.h.new" "$obj/config.h"
fi

pkgs="vips glib-2.0 gobject-2.0 gio-2.0 libtiff-4 lcms2 libturbojpeg libjpeg libdeflate json-glib-1.0"
pkg_cflags=$(pkg-config --cflags $pkgs)
pkg_libs=$(pkg-config --libs $pkgs)
vips_libdir=$(pkg-config --variable=libdir vips)

if [ "$mode" = coverage ]; then
	SAN="-fprofile-instr-generate -fcoverage-mapping"
	lib_flag=
	link_flag=
	main_src=$srcdir/fuzz/standalone.c
	suffix=_cov
else
	SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
	lib_flag=-fsanitize=fuzzer-no-link
	link_flag=-fsanitize=fuzzer
	main_src=
	suffix=
fi
CFLAGS="-std=gnu11 -g -O1 $SAN -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	-DG_LOG_DOMAIN=\"slidepipe\" -DSP_VIPS_LIBDIR=\"$vips_libdir\"
	-I$obj -I$srcdir/include -I$srcdir/src -Wall -Wno-unused-parameter -Wno-unknown-attributes
	${FUZZ_CFLAGS:-}"

# compile FILE OBJ: when the source, a header or the flags changed
flags_now=$(printf '%s %s' "$CC" "$CFLAGS" | tr -s ' \n\t' '   ')
flags_old=$(cat "$obj/flags" 2>/dev/null || true)
[ "$flags_now" = "$flags_old" ] || rm -f "$out"/obj/*.o
printf '%s' "$flags_now" >"$obj/flags"
compile() {
	if [ -f "$2" ] && [ ! "$1" -nt "$2" ] &&
		[ ! "$srcdir/src/sp-private.h" -nt "$2" ] &&
		[ ! "$srcdir/include/slidepipe/slidepipe.h" -nt "$2" ] &&
		[ ! "$srcdir/fuzz/fuzz-common.h" -nt "$2" ] &&
		[ ! "$obj/config.h" -nt "$2" ] &&
		[ ! "$obj/op-table.h" -nt "$2" ]; then
		return 0
	fi
	echo "  CC       $(basename "$1")"
	# shellcheck disable=SC2086
	$CC $CFLAGS $pkg_cflags $3 -c "$1" -o "$2"
}

# the operator table, from Makefile.am's SP_OPERATORS list as make does
ops_list=$(sed -n '/^SP_OPERATORS = /,/^$/p' "$srcdir/Makefile.am" | grep -o 'ops/[^ ]*\.c')
# shellcheck disable=SC2086
sh "$srcdir/src/op-table.sh" $ops_list >"$obj/op-table.h.new"
if cmp -s "$obj/op-table.h.new" "$obj/op-table.h"; then
	rm -f "$obj/op-table.h.new"
else
	mv "$obj/op-table.h.new" "$obj/op-table.h"
fi

objs=
for f in "$srcdir"/src/*.c "$srcdir"/src/writer/*.c "$srcdir"/ops/*.c; do
	o=$obj/$(basename "$(dirname "$f")")-$(basename "$f" .c).o
	compile "$f" "$o" "$lib_flag"
	objs="$objs $o"
done
if [ -n "$main_src" ]; then
	compile "$main_src" "$obj/standalone.o" ""
	objs="$objs $obj/standalone.o"
fi

for t in "$srcdir"/fuzz/*_fuzzer.c; do
	name=$(basename "$t" .c)
	compile "$t" "$obj/$name.o" "$lib_flag"
	echo "  CCLD     $name$suffix"
	# shellcheck disable=SC2086
	$CC $CFLAGS $link_flag "$obj/$name.o" $objs $pkg_libs -lm \
		-o "$out/$name$suffix"
done
echo "fuzz/build.sh: targets in $out: $(cd "$srcdir/fuzz" && ls *_fuzzer.c | sed "s/\.c\$/$suffix/" | tr '\n' ' ')"
