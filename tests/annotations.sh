#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# GeoJSON annotations burnt into a mask (issue 17): the rasterize operator
# against gdal_rasterize, pixel for pixel, on the grids of a crop at
# downsample 1, 2 and 4, an offset crop and a whole slide at downsample 8.
# tests/annotations.py makes the cases (seeded: ANNOTATIONS_SEED=N,
# default 1, or random): polygons with holes, MultiPolygons, bow-ties,
# polygons on tile corners and across the slide's edge, tiny ones and
# slivers, vertices on pixel centres and edges; class=, feature= and
# name= selections; and the errors (exit 2, "rasterize: " and the file's
# name on stderr, no output file).

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

[ -x /usr/bin/python3 ] || skip_all "/usr/bin/python3 missing"
PYTHON=/usr/bin/python3
"$PYTHON" -c 'import numpy, tifffile' 2>/dev/null ||
	skip_all "numpy or tifffile missing (install-deps.sh)"
command -v gdal_rasterize >/dev/null ||
	skip_all "gdal_rasterize (gdal-bin) not installed"
"$SLIDEPIPE" rasterize --help >/dev/null 2>&1 ||
	skip_all "slidepipe has no rasterize operator ('slidepipe rasterize --help' fails)"
cd "$TMPD" || exit 99

mkdir py
"$PYTHON" "$TESTS_SRCDIR/annotations.py" --slidepipe "$SLIDEPIPE" \
	--make-slide "$EXAMPLES/make-slide" --tmp "$TMPD/py" --shared "$SHARED_DIR" \
	--seed "${ANNOTATIONS_SEED:-1}" >py.out 2>py.err
_rc=$?
while IFS= read -r line; do
	case $line in
	"ok "*) ok "${line#ok }" ;;
	"not ok "*) not_ok "${line#not ok }" ;;
	"#"*) echo "$line" ;;
	"Bail out!"*) echo "$line"; exit 99 ;;
	esac
done <py.out
check "tests/annotations.py ran to its end" eval '[ $_rc = 0 ] || { diag_file py.err; false; }'

done_testing
