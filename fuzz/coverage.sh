#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Source coverage of slidepipe's own code (src/, ops/) reached by a fuzz
# target's corpus: builds TARGET_fuzzer_cov with clang's source coverage
# (fuzz/build.sh, FUZZ_MODE=coverage), replays fuzz/corpus/TARGET through
# it and prints llvm-cov's per-file report (lines, functions, branches).
#
# usage: fuzz/coverage.sh TARGET [CORPUS-DIR]
set -eu
[ $# -ge 1 ] || {
	echo "usage: $0 TARGET [CORPUS-DIR]" >&2
	exit 2
}
here=$(cd "$(dirname "$0")" && pwd)
target=$1
corpus=${2:-$here/corpus/$target}
out=${FUZZ_OUT:-$here}
FUZZ_MODE=coverage sh "$here/build.sh" "$out" >/dev/null
prof=$(mktemp -d "${TMPDIR:-/tmp}/sp-cov.XXXXXX")
trap 'rm -rf "$prof"' EXIT
LLVM_PROFILE_FILE="$prof/%p.profraw" "$out/${target}_fuzzer_cov" "$corpus" \
	>/dev/null 2>&1 || true
llvm-profdata merge -sparse "$prof"/*.profraw -o "$prof/all.profdata"
llvm-cov report "$out/${target}_fuzzer_cov" -instr-profile="$prof/all.profdata" \
	-ignore-filename-regex='/fuzz/[^/]*$' -ignore-filename-regex='^/usr/'
