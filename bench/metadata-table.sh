#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Which reader sees which metadata in each of save's TIFF layouts
# (format=svs, generic, ome): the table in README.md ("Slide metadata in
# the output"), made by bench/metadata-table.py.
#
# The source is synthetic, so the table needs no download: an Aperio SVS
# written by tests/svs-check.py (python3-tifffile) with mpp 0.25, AppMag
# 40, thumbnail, label, macro and an embedded wide-gamut ICC profile
# (tests/make-icc, lcms2). The pipeline crops and downsamples by 2, so the
# outputs should say mpp 0.5 and objective 20.
#
# usage: bench/metadata-table.sh [OUT.md]   (from the build directory,
#        after `make` and `make tests/make-icc`)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
SLIDEPIPE=${SLIDEPIPE:-$top/src/slidepipe}
MAKE_ICC=${MAKE_ICC:-$top/tests/make-icc}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
for t in "$SLIDEPIPE" "$MAKE_ICC"; do
	[ -x "$t" ] || {
		echo "metadata-table: $t is not built (make && make tests/make-icc)" >&2
		exit 2
	}
done
"$PY" -c 'import openslide, tifffile' || {
	echo "metadata-table: needs python3-openslide and python3-tifffile" >&2
	exit 2
}

d=$(mktemp -d "${TMPDIR:-/tmp}/metadata-table.XXXXXX")
trap 'rm -rf "$d"' EXIT
"$MAKE_ICC" "$d/wide.icc"
"$PY" "$top/tests/svs-check.py" make-aperio "$d/source.svs" "$d/wide.icc"
for f in out.svs out.tif out.ome.tif; do
	"$SLIDEPIPE" --quiet load "$d/source.svs" ! crop 100 100 1000 700 ! \
		downsample 2 ! save "$d/$f"
done
{
	"$PY" "$top/bench/metadata-table.py" "source (synthetic Aperio SVS)=$d/source.svs" \
		"svs=$d/out.svs" "generic (.tif)=$d/out.tif" "ome=$d/out.ome.tif"
} >"$d/table.md"
if [ $# -ge 1 ]; then
	cp "$d/table.md" "$1"
else
	cat "$d/table.md"
fi
