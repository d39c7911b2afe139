#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs one fuzz target for a given time, in one process on one core.
#
# usage: fuzz/run.sh TARGET SECONDS [libFuzzer options…]
#   TARGET    pipeline, manifest, load, template or aperio (fuzz/TARGET_fuzzer.c)
#   SECONDS   how long (libFuzzer -max_total_time)
# e.g.  make fuzz && fuzz/run.sh pipeline 600
#
# The program is FUZZ_BIN (default: fuzz/TARGET_fuzzer beside this script,
# as `make fuzz` builds it in an in-tree build; set FUZZ_BIN for a VPATH
# build). The working corpus is fuzz/corpus/TARGET (made from
# fuzz/make-seeds.sh when missing, and kept between runs; it is not
# committed); crashes, leaks and timeouts go to fuzz/artifacts/TARGET/,
# and the log (with libFuzzer's final stats: runs, coverage) to
# fuzz/logs/TARGET-DATE.log. Exit status: libFuzzer's (0: no crash).
# A crash file replays with `fuzz/TARGET_fuzzer FILE`; small ones belong
# in fuzz/regressions/TARGET/, which `make check` replays.
set -eu

[ $# -ge 2 ] || {
	sed -n '3,21s/^# \{0,1\}//p' "$0" >&2
	exit 2
}
target=$1
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
[ -f "$here/${target}_fuzzer.c" ] || {
	echo "fuzz/run.sh: no target '$target' (pipeline, manifest, load, template, aperio)" >&2
	exit 2
}
bin=${FUZZ_BIN:-$here/${target}_fuzzer}
[ -x "$bin" ] || {
	echo "fuzz/run.sh: $bin is not built; run 'make fuzz' (or fuzz/build.sh)" >&2
	exit 2
}

corpus=$here/corpus/$target
artifacts=$here/artifacts/$target
logs=$here/logs
mkdir -p "$corpus" "$artifacts" "$logs"
if [ -z "$(ls -A "$corpus")" ]; then
	seeds=$(mktemp -d "${TMPDIR:-/tmp}/sp-seeds.XXXXXX")
	EXAMPLES=${EXAMPLES:-$(dirname "$bin")/../examples} \
		sh "$here/make-seeds.sh" "$seeds" >/dev/null
	cp "$seeds/$target"/* "$corpus"/
	rm -rf "$seeds"
fi
dict=
[ -f "$here/$target.dict" ] && dict=-dict=$here/$target.dict
log=$logs/$target-$(date +%Y%m%d-%H%M%S).log

# Leaks inside fontconfig and the like are not ours (tests/lsan.supp);
# UBSan's findings abort (the build has -fno-sanitize-recover).
export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_stack_use_after_return=1}"
export G_SLICE=always-malloc

echo "fuzz/run.sh: $target for $seconds s; log $log"
set +e
# one process, one core: no -jobs/-workers/-fork. stdout and stderr of
# the target are closed (-close_fd_mask=3): slidepipe reports every bad
# input there; libFuzzer's own and the sanitizers' reports still show.
# A single malloc may be larger than the RSS limit: OpenSlide 3.4.1's TIFF
# reader asks for a tag's claimed size (4 GB for a 6 KB file; see
# tests/FUZZING.md) and copes when it is refused, and it touches none of
# it; the RSS limit still catches memory really used.
# shellcheck disable=SC2086
"$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 \
	-malloc_limit_mb="${FUZZ_MALLOC_LIMIT_MB:-8192}" \
	-close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$artifacts/" \
	$dict "$@" "$corpus" >"$log" 2>&1
rc=$?
set -e
grep -E '^(#[0-9]+ *DONE|Done [0-9]+ runs)|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|^==[0-9]+==ERROR|^SUMMARY' "$log" || true
echo "fuzz/run.sh: $target exit $rc, corpus $(ls "$corpus" | wc -l) inputs"
exit $rc
