#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# label: connected components and their measurements against
# scipy.ndimage.label + skimage.measure.regionprops on random masks
# (tests/label.py, seeded: LABEL_SEED=N or random), GeoJSON read by
# shapely and GDAL's ogrinfo, level-0 coordinates through a crop and a
# downsample of a real slide, the errors, the C API (examples/label-objects)
# and batch.

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

"$PYTHON" -c 'import numpy, scipy, skimage, tifffile' 2>/dev/null ||
	skip_all "numpy, scipy, scikit-image or tifffile missing (install-deps.sh)"
cd "$TMPD" || exit 99

# grey IMAGE.tif W H SEED: a 1-band grey TIFF of random blobs (values
# above 128 on them), tiled 256 × 256
grey() {
	"$PYTHON" - "$@" <<'EOF'
import sys
import numpy as np
import tifffile
path, w, h, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(seed)
m = np.zeros((h, w), bool)
for _ in range(max(3, w * h // 4000)):
    cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(2, 15)
    y0, y1 = max(0, int(cy - r)), min(h, int(cy + r) + 1)
    x0, x1 = max(0, int(cx - r)), min(w, int(cx + r) + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    m[y0:y1, x0:x1] |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
g = np.where(m, rng.integers(129, 256, m.shape), rng.integers(0, 129, m.shape))
tifffile.imwrite(path, g.astype(np.uint8), tile=(256, 256), photometric="minisblack")
EOF
}

# ------------------------------------------------------------ the command
sp label --help
check "label --help: exits 0 and names every argument" eval \
	'rc_is 0 && has "$SP_OUT" "^usage: slidepipe label" "^  objects " "^  geojson " "^  connectivity " "^  intensity " "^  min-area " "^  fill-holes " "^  max-hole "'
sp ops
check "ops: lists label, a sink, with its summary" has "$SP_OUT" \
	"^label .*objects of a mask"

# ------------------------------------ against scipy and scikit-image
mkdir py
"$PYTHON" "$TESTS_SRCDIR/label.py" --slidepipe "$SLIDEPIPE" --tmp "$TMPD/py" \
	--seed "${LABEL_SEED:-1}" >py.out 2>py.err
_rc=$?
while IFS= read -r line; do
	case $line in
	"ok "*) ok "${line#ok }" ;;
	"not ok "*) not_ok "${line#not ok }" ;;
	"#"*) echo "$line" ;;
	esac
done <py.out
check "tests/label.py ran to its end" eval '[ $_rc = 0 ] || { diag_file py.err; false; }'

# -------------------------------------------------------- GeoJSON readers
grey g1.tif 700 1300 7
sp load g1.tif ! threshold value=128 ! label objects=g1.csv geojson=g1.geojson
check "700 × 1300 tiled grey image: label exits 0" rc_is 0
_n=$(($(wc -l <g1.csv) - 1))
check "summary on stderr: objects, area covered" has "$SP_ERR" \
	"^slidepipe: label: $_n objects \([0-9]+ touching the edge\) covering [0-9]+ px"
if command -v ogrinfo >/dev/null; then
	ogrinfo -ro -al -so g1.geojson >ogr.out 2>ogr.err
	check "ogrinfo opens the GeoJSON: $_n features, polygons" eval \
		'has ogr.out "Feature Count: $_n" "Geometry: (Multi )?Polygon" "objectType: String" "measurements: String\(JSON\)"'
else
	skip "ogrinfo opens the GeoJSON" "ogrinfo (gdal-bin) not installed"
fi
check "no temporary file left" no_temp .

# ------------------------------------------------ explain and progress
sp explain load g1.tif ! threshold value=128 ! label objects=x.csv
check "explain: label is the sink, and the level read" has "$SP_OUT" \
	'^3\. label x\.csv$' 'label: plan: 8-connected objects of a 700 × 1300 mask at downsample 1 \(read from level 0\)'
sp explain load g1.tif ! threshold value=128 ! label geojson=x.geojson
check "explain: with geojson= only" has "$SP_OUT" '^3\. label$'
check "explain writes nothing" absent x.csv x.geojson
sp --progress load g1.tif ! threshold value=128 ! label objects=p.csv
check "--progress: exit 0, the same objects" eval \
	'rc_is 0 && cmp -s p.csv g1.csv'

# ------------------------------------------------------------ errors
sp load g1.tif ! threshold value=128 ! label
check "no output: exit 2, says what to give" eval \
	'rc_is 2 && has "$SP_ERR" "label: nothing to write: give objects=FILE.csv, geojson=FILE.geojson or both"'
sp load g1.tif ! threshold value=128 ! label objects=g1.tif
check "output = the input: exit 2, refused" eval \
	'rc_is 2 && has "$SP_ERR" "label: argument .objects.: .g1\.tif. is the file that load reads"'
sp load g1.tif ! threshold value=128 ! label objects=same.csv geojson=./same.csv
check "objects and geojson the same file: exit 2" eval \
	'rc_is 2 && has "$SP_ERR" "label: arguments .objects. and .geojson. name the same file"'
sp load g1.tif ! threshold value=128 ! label objects="$TMPD/no/such/dir/x.csv"
check "unwritable directory: exit 1, names it" eval \
	'rc_is 1 && has "$SP_ERR" "label: cannot write .*no/such/dir/x\.csv"'
"$PYTHON" -c '
import numpy as np, tifffile
tifffile.imwrite("rgb.tif", np.full((64, 64, 3), 200, np.uint8), photometric="rgb")'
sp load rgb.tif ! label objects=rgb.csv
check "a 3-band input: exit 2, asks for a 1-band mask" eval \
	'rc_is 2 && has "$SP_ERR" "label: the input has 3 bands, and label needs a 1-band mask"'
sp load g1.tif ! threshold value=128 ! label objects=x.csv min-area=nan
check "min-area=nan: exit 2" eval \
	'rc_is 2 && has "$SP_ERR" "label: argument .min-area."'
sp load g1.tif ! threshold value=128 ! label objects=x.csv min-area=1e300
check "min-area=1e300: exit 2, out of range" eval \
	'rc_is 2 && has "$SP_ERR" "label: argument .min-area.: .* out of range"'
sp load g1.tif ! threshold value=128 ! label objects=x.csv max-hole=10
check "max-hole without fill-holes: exit 2" eval \
	'rc_is 2 && has "$SP_ERR" "label: argument .max-hole. needs fill-holes"'
sp load g1.tif ! threshold value=128 ! label objects=x.csv connectivity=6
check "connectivity=6: exit 2" eval \
	'rc_is 2 && has "$SP_ERR" "label: argument .connectivity.: 6 is neither 4 nor 8"'
sp load g1.tif ! threshold value=128 ! label objects=x.csv intensity=rgb.tif
check "intensity image of another size: exit 2, both sizes" eval \
	'rc_is 2 && has "$SP_ERR" "label: argument .intensity.: .rgb\.tif. is 64 × 64 pixels and the mask 700 × 1300"'
check "refused runs write nothing" absent x.csv same.csv rgb.csv
# a slide whose tiles past the first rows are cut off: the run fails
# part-way, after objects were written to the temporary files
grey big.tif 1024 2048 3
_size=$(wc -c <big.tif)
head -c $((_size / 2)) big.tif >cut.tif
sp load cut.tif ! threshold value=128 ! label objects=cut.csv geojson=cut.geojson
check "a read failure part-way: exit 1, no output, no temporary file" eval \
	'rc_is 1 && absent cut.csv cut.geojson && no_temp .'

# ------------------------------------- level-0 coordinates on a real slide
SVS=$SHARED_DIR/slides/CMU-1-Small-Region.svs
if [ -f "$SVS" ]; then
	C="crop 300 400 1000 800 ! downsample 2"
	T="threshold channel=gray value=150 invert"
	sp load "$SVS" ! $C ! $T ! label objects=real.csv geojson=real.geojson
	check "CMU-1-Small-Region: crop, downsample 2, threshold, label: exit 0" rc_is 0
	"$SLIDEPIPE" -q load "$SVS" ! $C ! $T ! save realmask.tif compression=none pyramid=false >/dev/null 2>&1
	"$SLIDEPIPE" -q load "$SVS" ! $C ! save realrgb.tif compression=none pyramid=false >/dev/null 2>&1
	"$PYTHON" "$TESTS_SRCDIR/label.py" --slidepipe "$SLIDEPIPE" --tmp . \
		--real real.csv real.geojson realmask.tif realrgb.tif 300 400 2 >real.out 2>real.err
	_rc=$?
	while IFS= read -r line; do
		case $line in
		"ok "*) ok "CMU-1-Small-Region: ${line#ok }" ;;
		"not ok "*) not_ok "CMU-1-Small-Region: ${line#not ok }" ;;
		"#"*) echo "$line" ;;
		esac
	done <real.out
	check "CMU-1-Small-Region: the check ran to its end" eval \
		'[ $_rc = 0 ] || { diag_file real.err; false; }'
	# the segmentation chain's nuclei on the real slide, as README shows
	sp load "$SVS" ! deconvolve stain=he channel=h ! blur sigma=1 \
		! threshold method=local block=51 offset=-0.02 ! morph open radius=2 \
		! label objects=nuc.csv geojson=nuc.geojson
	check "CMU-1-Small-Region nuclei (deconvolve ! blur ! local threshold ! open ! label): exit 0" rc_is 0
	"$PYTHON" - nuc.geojson nuc.csv >nuc.out 2>&1 <<'EOF2'
import csv, json, sys
from shapely.geometry import shape
feats = json.load(open(sys.argv[1]))["features"]
rows = list(csv.DictReader(open(sys.argv[2])))
geoms = [shape(f["geometry"]) for f in feats]
bad = sum(not g.is_valid or g.geom_type not in ("Polygon", "MultiPolygon") for g in geoms)
areas = sum(abs(g.area - float(r["area_px"])) > 1e-9 for g, r in zip(geoms, rows))
print("features %d rows %d invalid %d area-mismatch %d" % (len(feats), len(rows), bad, areas))
EOF2
	_nuc=$(($(wc -l <nuc.csv) - 1))
	check "nuclei GeoJSON: $_nuc valid (Multi)Polygons, areas = area_px (shapely)" has nuc.out \
		"^features $_nuc rows $_nuc invalid 0 area-mismatch 0$"
	if command -v ogrinfo >/dev/null 2>&1; then
		ogrinfo -so -al nuc.geojson >ogr.out 2>&1
		check "nuclei GeoJSON: ogrinfo reads $_nuc features" has ogr.out "^Feature Count: $_nuc$"
	else
		skip "nuclei GeoJSON: ogrinfo" "gdal-bin missing (install-deps.sh)"
	fi
	sp explain load "$SVS" ! $C ! $T ! label objects=x.csv
	check "explain on the slide: label reads level 0 at downsample 2" has "$SP_OUT" \
		'label: plan: 8-connected objects of a 500 × 400 mask at downsample 2 \(read from level 0\)'
else
	skip "real slide: level-0 coordinates through crop and downsample" \
		"$SVS absent (the shared slides are not beside the repository)"
fi

# ------------------------------------------------------------ the C API
if [ -x "$EXAMPLES/label-objects" ]; then
	"$EXAMPLES/label-objects" g1.tif 128 >c.out 2>c.err
	RC=$?
	_max=$(awk -F, 'NR > 1 && $2 + 0 > m { m = $2 + 0 } END { print m }' g1.csv)
	check "label-objects (sp_label_foreach): exit 0, as many objects as the CSV ($_n)" \
		eval 'rc_is 0 && has c.out "^objects: $_n$"'
	check "label-objects: the largest object's area is the CSV's largest ($_max px)" \
		has c.out "^largest: id [0-9]+, $_max px"
	check "label-objects: every object's runs add up to its area" \
		has c.out "^objects whose runs do not add up to their area: 0$"
	"$EXAMPLES/label-objects" g1.tif 128 3 >c.out 2>c.err
	RC=$?
	check "label-objects stopping after 3 objects: exit 1 with its reason" eval \
		'rc_is 1 && has c.err "label-objects: stopped after 3 objects"'
else
	skip "examples/label-objects" "not built"
fi

# --------------------------------------------------------------- batch
grey g2.tif 300 200 11
cat >m.csv <<EOF
slide,out
$TMPD/g1.tif,a.csv
$TMPD/missing.tif,b.csv
$TMPD/g2.tif,sub/c.csv
EOF
sp batch m.csv --out-dir B --report rep.csv \
	--pipeline 'load {slide} ! threshold value=128 ! label objects={out} geojson={out}.geojson'
check "batch of 3 rows, one bad: exit 1" rc_is 1
check "batch: the good rows' objects files, the same as one pipeline's" eval \
	'cmp -s B/a.csv g1.csv && [ -s B/sub/c.csv ] && [ -s B/a.csv.geojson ] && [ -s B/sub/c.csv.geojson ]'
check "batch: nothing for the bad row" absent B/b.csv B/b.csv.geojson
check "batch: the report names the bad row and its reason" has rep.csv \
	"^2,.*missing\.tif,b\.csv,failed,load: cannot open" '^1,.*,a\.csv,ok,' '^3,.*,sub/c\.csv,ok,'
check "batch: no temporary file left" eval 'no_temp B && no_temp B/sub'
sp batch m.csv --out-dir B --report rep2.csv \
	--pipeline 'load {slide} ! threshold value=128 ! label objects={out} geojson={out}.geojson'
check "batch rerun: done rows skipped, the bad one fails again" has rep2.csv \
	'^1,.*,a\.csv,skipped,' '^3,.*,sub/c\.csv,skipped,' '^2,.*,b\.csv,failed,'

# ------------------------------------------------- batch over a folder
mkdir -p stack/sub
cp g1.tif stack/s1.tif
cp g2.tif 'stack/two, "quoted".tif'
printf 'not an image\n' >stack/notes.txt
cp g1.tif stack/.hidden.tif
cp g1.tif stack/sub/deeper.tif
sp batch stack --out-dir F --report frep.csv \
	--pipeline 'load {slide} ! threshold value=128 ! label objects={out} geojson={name}.geojson'
check "batch over a folder: exit 0" rc_is 0
check "folder: one objects file per image, the same as one pipeline's" eval \
	'cmp -s F/s1.csv g1.csv && [ -s "F/two, \"quoted\".csv" ] && [ -s F/s1.geojson ]'
check "folder: not a row: a text file, a hidden file, a subfolder's image" eval \
	'[ "$(ls F | wc -l)" = 4 ] && absent F/notes.csv F/.hidden.csv F/deeper.csv'
check "folder: the report has its two rows" has frep.csv '^1,.*s1\.tif,s1\.csv,ok,' \
	'^2,.*quoted.*,ok,'
sp batch stack --out-dir F --out-suffix .objects.csv \
	--pipeline 'load {slide} ! threshold value=128 ! label objects={out}'
check "folder: --out-suffix names the outputs" eval \
	'rc_is 0 && cmp -s F/s1.objects.csv g1.csv'
sp batch stack --out-dir F
check "folder without --pipeline: exit 2, says a folder needs one" eval \
	'rc_is 2 && has "$SP_ERR" "is a directory: a folder of images needs a pipeline template"'
mkdir empty
sp batch empty --pipeline 'load {slide} ! threshold value=128 ! label objects={out}'
check "empty folder: exit 2, says it holds no image" eval \
	'rc_is 2 && has "$SP_ERR" "holds no image that libvips can load"'

done_testing
