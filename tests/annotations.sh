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
relay_tap py.out
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

# the document's top level is read by slidepipe's own scanner, a feature
# at a time: hostile shapes of it
i=0
for doc in '' '{' '[' '{"type":"FeatureCollection","features":[' \
	'{"type":"FeatureCollection","features":[]} trailing' \
	'{"type":"FeatureCollection","features":{}}' \
	'{"type":"FeatureCollection","features":[],"crs":{bad}}' \
	'{"type":"FeatureCollection","features":[]]' \
	'[{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,0]]]},]' \
	'{"features":[1,2],"type":"FeatureCollection"}' '"just a string"' \
	'{"type":"FeatureCollection","features":[],"x":"\' '[[[[[[[[[[[[[[[[[[[['; do
	i=$((i + 1))
	printf '%s' "$doc" >"hostile$i.geojson"
	sp load crop.tif ! rasterize "hostile$i.geojson" ! save "hostile$i.png"
	check "hostile document $i: exit 1, names the file, nothing written" eval \
		'rc_is 1 && has "$SP_ERR" "rasterize: .*hostile$i.geojson" && absent "hostile$i.png"'
done
printf '{"features":[{"type":"Feature","properties":{"name":"a"},"geometry":{"type":"Polygon","coordinates":[[[10,10],[90,10],[90,90],[10,10]]]}}],"type":"FeatureCollection","bbox":[0,0,1,1]}' >late-type.geojson
sp load crop.tif ! crop 0 0 100 100 ! rasterize late-type.geojson name=a ! save late.png
check "\"type\" after \"features\", and other members: read" rc_is 0

# ------------------------------------------------- batch --annotations
# one output per feature, named from properties.name (made safe); a
# feature outside the slide fails its own row only
python_json() { "$PYTHON" -c "$1" >"$2"; }
python_json 'import json
f = json.load(open("qupath.geojson"))
f.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[5000, 5000], [6000, 5000], [6000, 6000], [5000, 5000]]]},
          "properties": {"name": "far away", "classification": {"name": "Tumor"}}})
f.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[10, 10], [60, 10], [60, 60], [10, 10]]]},
          "properties": {"name": "../../escape,me", "classification": {"name": "Stroma"}}})
print(json.dumps(f))' batch.geojson
sp batch --annotations batch.geojson --slide crop.tif --out-dir bout --outside white --report report.csv
check "batch --annotations: a failed row: exit 1" rc_is 1
check "batch --annotations: one file per feature inside the slide, names made safe" eq "files" \
	"S1_1.png T1_0.png T2_2.png ______escape_me_4.png" "$(cd bout && ls | tr '\n' ' ' | sed 's/ $//')"
check "batch --annotations: the failed row names the feature's problem" has report.csv \
	"far_away_3.png.*failed.*lie outside"
sp load crop.tif ! crop geojson=batch.geojson feature=0 outside=white ! save one.png
check "batch --annotations: an output equals its single pipeline's" cmp -s one.png bout/T1_0.png
sp batch --annotations batch.geojson --slide crop.tif --out-dir bout --outside white --class Stroma
check "batch --annotations --class Stroma: rerun skips the 2 done rows" has "$SP_ERR" "2 rows: 0 ok, 2 skipped"
sp batch --annotations batch.geojson --slide crop.tif --out-dir bout --outside grey
check "batch --outside grey: exit 2" eval 'rc_is 2 && has "$SP_ERR" "--outside .grey. is not keep, white, black or transparent"'
sp batch --annotations batch.geojson --out-dir bout
check "batch --annotations without --slide: exit 2" eval 'rc_is 2 && has "$SP_ERR" "--annotations needs --slide"'
mkdir btmp
TMPDIR=$TMPD/btmp "$SLIDEPIPE" batch --annotations batch.geojson --slide crop.tif --out-dir bout2 --class Stroma >/dev/null 2>&1
check "batch --annotations: its generated manifest is removed (TMPDIR empty after the run)" \
	eq "files in TMPDIR" "" "$(ls -A btmp)"

# ------------------------------------------ one output per polygon
# --each polygon: S1 (a MultiPolygon of 2) gives S1_1_0 and S1_1_1, each
# equal to a crop by a file holding that polygon alone
sp batch --annotations qupath.geojson --slide crop.tif --out-dir ball --each polygon --outside black
check "batch --each polygon: one file per polygon" eq "files" \
	"S1_1_0.png S1_1_1.png T1_0_0.png T2_2_0.png" "$(cd ball && ls | tr '\n' ' ' | sed 's/ $//')"
python_json 'import json
f = json.load(open("qupath.geojson"))[1]
f["geometry"] = {"type": "Polygon", "coordinates": f["geometry"]["coordinates"][1]}
print(json.dumps([f]))' part1.geojson
sp load crop.tif ! crop geojson=part1.geojson outside=black ! save part1.png
check "batch --each polygon: S1_1_1 equals the crop of a file of that polygon alone" \
	cmp -s part1.png ball/S1_1_1.png
sp load crop.tif ! crop geojson=qupath.geojson feature=1 polygon=1 outside=black ! save part1b.png
check "crop feature=1 polygon=1 equals it too" cmp -s part1.png part1b.png
sp load crop.tif ! crop geojson=qupath.geojson feature=1 polygon=2 ! save nopart.png
check "crop polygon=2 of a MultiPolygon of 2: exit 2, says how many" eval \
	'rc_is 2 && has "$SP_ERR" "crop: feature 1 of .*qupath.geojson. has 2 polygons \(0 … 1\); there is no polygon=2" && absent nopart.png'
sp load crop.tif ! crop geojson=qupath.geojson polygon=0 ! save nopart.png
check "crop polygon= without feature=: exit 2" eval \
	'rc_is 2 && has "$SP_ERR" "crop: polygon= needs feature="'
sp batch --annotations qupath.geojson --slide crop.tif --out-dir ball --each part
check "batch --each part: exit 2" eval 'rc_is 2 && has "$SP_ERR" "--each must be feature or polygon"'

# ------------------------------------------------------- units=um
# the export in µm (arbitrary decimals) against the same shapes divided
# by the slide's mpp (0.25) by Python: equal masks, crops, batch outputs
python_json 'import json, random
random.seed(17)
f = json.load(open("qupath.geojson"))
for feat in f:
    g = feat["geometry"]
    for poly in (g["coordinates"] if g["type"] == "MultiPolygon" else [g["coordinates"]]):
        for ring in poly:
            for p in ring:
                p[0] = round(p[0] * 0.25 + random.uniform(-1, 1), 3)
                p[1] = round(p[1] * 0.25 + random.uniform(-1, 1), 3)
print(json.dumps(f))' um.geojson
python_json 'import json
f = json.load(open("um.geojson"))
for feat in f:
    g = feat["geometry"]
    for poly in (g["coordinates"] if g["type"] == "MultiPolygon" else [g["coordinates"]]):
        for ring in poly:
            for p in ring:
                p[0] /= 0.25
                p[1] /= 0.25
print(json.dumps(f))' umpx.geojson
sp load crop.tif ! rasterize um.geojson units=um ! save um-mask.png
sp load crop.tif ! rasterize umpx.geojson ! save umpx-mask.png
check "rasterize units=um equals the coordinates divided by the mpp" eval \
	'rc_is 0 && cmp -s um-mask.png umpx-mask.png'
sp load crop.tif ! crop geojson=um.geojson units=um name=S1 margin=7.5 outside=white ! save um-crop.png
sp load crop.tif ! crop geojson=umpx.geojson name=S1 margin=30 outside=white ! save umpx-crop.png
check "crop geojson= units=um (margin in µm too) equals the pixel crop" eval \
	'rc_is 0 && cmp -s um-crop.png umpx-crop.png'
sp load crop.tif ! tiles um-tiles size=128 annotations=um.geojson units=um min-annotation=0.3
sp load crop.tif ! tiles umpx-tiles size=128 annotations=umpx.geojson min-annotation=0.3
check "tiles annotations= units=um: the same patches and tiles.csv" eval \
	'rc_is 0 && cmp -s um-tiles/tiles.csv umpx-tiles/tiles.csv && [ "$(ls um-tiles | wc -l)" -gt 2 ]'
sp load crop.tif ! downsample 4 ! overlay annotations=um.geojson units=um ! save um-ov.png
sp load crop.tif ! downsample 4 ! overlay annotations=umpx.geojson ! save umpx-ov.png
check "overlay annotations= units=um: the same picture" eval 'rc_is 0 && cmp -s um-ov.png umpx-ov.png'
sp batch --annotations um.geojson --units um --margin 2.5 --slide crop.tif --out-dir bum --outside white
sp batch --annotations umpx.geojson --margin 10 --slide crop.tif --out-dir bumpx --outside white
check "batch --annotations --units um: the same outputs as in pixels" eval \
	'rc_is 0 && [ "$(ls bum)" = "$(ls bumpx)" ] && for f in bum/*; do cmp -s "$f" "bumpx/${f#bum/}" || exit 1; done'
"$PYTHON" -c 'from PIL import Image; Image.new("RGB", (300, 200), (240, 200, 220)).save("nompp.png")'
sp info nompp.png
check "a PNG without pHYs (libvips says 72 dpi) has no mpp" has "$SP_OUT" "^mpp: unknown"
sp load nompp.png ! rasterize um.geojson units=um ! save nompp-mask.png
check "units=um on an image without mpp: exit 2, names the image and the file" eval \
	'rc_is 2 && has "$SP_ERR" "rasterize: units=um: the slide .*nompp.png. has no pixel size \(mpp\), so the µm coordinates of .*um.geojson. cannot be placed" && absent nompp-mask.png'

# --------------------------------------------- overlay annotations=
# outlines: the mask's pixels within outline - 1 of an unset pixel, in
# the class colour (Tumor's 200,0,0; Stroma's 0,150,0); the rest of the
# picture untouched
sp load crop.tif ! downsample 4 ! overlay annotations=qupath.geojson outline=2 ! save outl.png
check "overlay annotations=: exit 0, no CSV needed" rc_is 0
sp load crop.tif ! downsample 4 ! save plain.png
sp load crop.tif ! downsample 4 ! rasterize qupath.geojson class=Tumor ! save mT.png
sp load crop.tif ! downsample 4 ! rasterize qupath.geojson class=Stroma ! save mS.png
check "overlay annotations=: outline pixels in class colours, every other pixel as it was" \
	"$PYTHON" - outl.png plain.png mT.png mS.png <<'PY'
import sys
import numpy as np
from PIL import Image
out, plain, mt, ms = (np.asarray(Image.open(p)).astype(int) for p in sys.argv[1:])
def outline(m, r=1):
    m = m > 0
    h, w = m.shape
    e = np.zeros_like(m)
    pad = np.pad(~m, r + 1, constant_values=False)
    for dy in range(-r - 1, r + 2):
        for dx in range(-r - 1, r + 2):
            if (abs(dx) > r and abs(dy) > r) or (abs(dx) <= r and abs(dy) <= r):
                continue
            e |= pad[r + 1 + dy:r + 1 + dy + h, r + 1 + dx:r + 1 + dx + w]
    return m & e
ot, os_ = outline(mt), outline(ms)
assert ot.sum() > 100 and os_.sum() > 100
assert (out[ot & ~os_] == [200, 0, 0]).all(), "Tumor outline"
assert (out[os_] == [0, 150, 0]).all(), "Stroma outline (drawn after Tumor)"
rest = ~(ot | os_)
assert np.array_equal(out[rest], plain[rest]), "untouched elsewhere"
PY
sp load crop.tif ! downsample 4 ! overlay ! save none.png
check "overlay without CSV or annotations=: exit 2" eval 'rc_is 2 && has "$SP_ERR" "give a CSV of per-patch values, annotations=FILE.geojson, or both"'

# ---------------------------------------- tiles with annotations (mask)
# The oracle: rasterize's full-resolution mask (itself checked against
# gdal_rasterize above) averaged over each patch; patches whose exact
# coverage is within 0.1 of the threshold are not judged (tiles measures
# coverage on a 4 × supersampled mask of at most 16384 px a side).
sp load crop.tif ! rasterize qupath.geojson ! save full.png
sp load crop.tif ! tiles ann size=128 mask=qupath.geojson
check "tiles mask=FILE.geojson: exit 0" rc_is 0
check "tiles mask=FILE.geojson: the report says what decides" has "$SP_ERR" \
	"kept where 3 annotation features cover >= 0.5 of the patch"
sp load crop.tif ! tiles annT size=128 mask=qupath.geojson class=Tumor
sp load crop.tif ! tiles both size=128 annotations=qupath.geojson class=Stroma min-annotation=0.3 min-tissue=0.05
check "tiles: kept patches, their coverage and class equal the full-resolution mask's" \
	"$PYTHON" - full.png ann/tiles.csv annT/tiles.csv both/tiles.csv <<'PY'
import csv, sys
import numpy as np
from PIL import Image
full = np.asarray(Image.open(sys.argv[1])) > 0
def rows(p):
    return {(int(float(r["x"])), int(float(r["y"]))): r for r in csv.DictReader(open(p))}
ann, annT, both = (rows(p) for p in sys.argv[2:])
# Tumor: feature 0 (with its hole) and 2; Stroma: feature 1
tumour = np.zeros_like(full)
tumour[:, :] = full
tumour[850:1350, 1450:2350] = False   # Stroma's box
judged = 0
for grid, mask, name, minimum in ((ann, full, "all", 0.5), (annT, tumour, "Tumor", 0.5)):
    for y in range(0, 2000 - 127, 128):
        for x in range(0, 3000 - 127, 128):
            cover = mask[y:y + 128, x:x + 128].mean()
            if abs(cover - minimum) < 0.1:
                continue
            judged += 1
            kept = (x, y) in grid
            assert kept == (cover >= minimum), (name, x, y, cover, kept)
            if kept:
                assert abs(float(grid[(x, y)]["annotation"]) - cover) < 0.05, (name, x, y, cover, grid[(x, y)])
# the class is the one of the polygon under the patch's centre, empty
# when the centre is outside (in a hole, say)
for (x, y), r in annT.items():
    assert r["class"] == ("Tumor" if tumour[y + 64, x + 64] else ""), r
for (x, y), r in ann.items():
    if full[y + 64, x + 64]:
        assert r["class"] in ("Tumor", "Stroma"), r
assert both and all(r["class"] in ("Stroma", "") and float(r["annotation"]) >= 0.3 - 1e-6
                    and float(r["tissue"]) >= 0.05 - 1e-6 for r in both.values()), both
assert judged > 300, judged
PY
sp load crop.tif ! tiles bad size=128 class=Tumor
check "tiles class= without annotations: exit 2" eval 'rc_is 2 && has "$SP_ERR" "argument .class. applies with annotations= or mask=FILE.geojson only"'
sp load crop.tif ! tiles bad size=128 mask=qupath.geojson annotations=qupath.geojson
check "tiles mask=FILE.geojson with annotations=: exit 2" eval 'rc_is 2 && has "$SP_ERR" "give annotations= or mask=FILE.geojson, not both"'

done_testing
