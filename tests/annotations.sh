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

# ------------------------------------------- crop geojson= and outside=
# A QuPath-style export ("export as array": Features with objectType,
# name and classification): a Tumor polygon with a hole, a Stroma
# MultiPolygon, a Tumor square across the slide's right edge.
make_slide 3000 2000 crop.tif
cat >qupath.geojson <<'JSON'
[{"type": "Feature", "id": "a1", "geometry": {"type": "Polygon", "coordinates":
  [[[100, 100], [900, 150], [700, 800], [150, 600], [100, 100]],
   [[300, 300], [500, 300], [400, 500], [300, 300]]]},
  "properties": {"objectType": "annotation", "name": "T1",
   "classification": {"name": "Tumor", "color": [200, 0, 0]}}},
 {"type": "Feature", "id": "a2", "geometry": {"type": "MultiPolygon", "coordinates":
  [[[[1500, 900], [1900, 950], [1800, 1300], [1500, 900]]],
   [[[2000, 1000], [2300, 1000], [2300, 1200], [2000, 1000]]]]},
  "properties": {"objectType": "annotation", "name": "S1",
   "classification": {"name": "Stroma", "color": [0, 150, 0]}}},
 {"type": "Feature", "id": "a3", "geometry": {"type": "Polygon", "coordinates":
  [[[2900.5, 1700.5], [3100, 1700.5], [3100, 1900.5], [2900.5, 1900.5], [2900.5, 1700.5]]]},
  "properties": {"objectType": "annotation", "name": "T2",
   "classification": {"name": "Tumor", "color": [200, 0, 0]}}}]
JSON
sp load crop.tif ! crop geojson=qupath.geojson name=T1 ! save keep.png
check "crop geojson name=T1: exit 0" rc_is 0
check "crop geojson name=T1: the polygon's bounding box, 800 × 700" eq "size" "800 700" "$(size keep.png)"
sp load crop.tif ! crop geojson=qupath.geojson name=T1 outside=white ! save white.png
sp load crop.tif ! crop geojson=qupath.geojson name=T1 ! rasterize qupath.geojson name=T1 ! save mask.png
sp load crop.tif ! crop geojson=qupath.geojson name=T1 outside=transparent ! save alpha.png
sp load crop.tif ! crop geojson=qupath.geojson name=T1 outside=black ! save black.png
check "outside=white: pixels in the polygon as cropped, outside and in the hole 255" \
	"$PYTHON" - keep.png white.png mask.png alpha.png black.png <<'PY'
import sys
import numpy as np
from PIL import Image
keep, white, mask, alpha, black = (np.asarray(Image.open(p)) for p in sys.argv[1:])
inside = mask == 255
assert inside.sum() > 1000 and (~inside).sum() > 1000, "mask"
assert not inside[400 - 100, 380 - 100], "the hole is outside"
assert np.array_equal(white[inside], keep[inside]), "white: inside"
assert (white[~inside] == 255).all(), "white: outside"
assert np.array_equal(black[inside], keep[inside]) and (black[~inside] == 0).all(), "black"
assert alpha.shape[2] == 4 and np.array_equal(alpha[..., 3], mask), "alpha is the mask"
assert np.array_equal(alpha[..., :3], keep), "transparent keeps every RGB pixel"
PY
sp load crop.tif ! crop geojson=qupath.geojson class=Tumor margin=50 ! save tumour.png
check "class=Tumor: both Tumor features' box, margin 50, clipped at the slide's edge, widened to whole pixels (50 … 3000 × 50 … 1951)" \
	eq "size" "2950 1901" "$(size tumour.png)"
sp load crop.tif ! crop geojson=qupath.geojson class=Stroma ! save stroma.png
check "class=Stroma: the MultiPolygon's box, 800 × 400" eq "size" "800 400" "$(size stroma.png)"
sp load crop.tif ! crop geojson=qupath.geojson feature=2 outside=white ! downsample 2 ! save edge.png
check "feature=2 across the slide's edge (2900 … 3000 × 1700 … 1901 in whole pixels), then downsample 2: 50 × 101" \
	eq "size" "50 101" "$(size edge.png)"
sp load crop.tif ! crop geojson=qupath.geojson class=Necrosis ! save none.png
check "class=Necrosis: exit 2" rc_is 2
check "class=Necrosis: names the file and the class, nothing written" eval \
	'has "$SP_ERR" "crop: no feature of .*qupath.geojson. \(3 features\) matches class=Necrosis" && absent none.png'
sp load crop.tif ! crop 0 0 10 10 geojson=qupath.geojson ! save both.png
check "X Y W H with geojson=: exit 2, says so" eval 'rc_is 2 && has "$SP_ERR" "give X Y W H or geojson=, not both"'
sp load crop.tif ! crop 0 0 10 10 outside=white ! save o.png
check "outside= without geojson=: exit 2" eval 'rc_is 2 && has "$SP_ERR" "argument .outside. applies with geojson= only"'
printf '{"type": "Polygon", "coordinates": [[[5000, 5000], [6000, 5000], [6000, 6000], [5000, 5000]]]}' >far.geojson
sp load crop.tif ! crop geojson=far.geojson ! save far.png
check "a polygon wholly outside the slide: exit 1, names both files" eval \
	'rc_is 1 && has "$SP_ERR" "crop: the annotations picked from .*far.geojson. lie outside .*crop.tif" && absent far.png'
check "no temporary file left" no_temp .

done_testing
