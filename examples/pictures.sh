#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Makes the pictures in examples/pictures/ that README shows: tissue masks
# and overlays of the real slides in ../shared/slides. Run from the
# repository root after `make`:  sh examples/pictures.sh
#
#   tcga-tissue.png  thumbnail | Otsu tissue mask | the 64 × 64 patches
#                    (level 1) that tiles keeps at min-tissue=0.5
#   cmu-overlay.png  per-patch scores painted with overlay (viridis); the
#                    score here is each patch's tissue fraction, standing
#                    in for a model's output
#   cmu-nuclei.jpg   a 512 × 512 region of CMU-1 at level 0, and the same
#                    with the outlines (GeoJSON) of the objects that the
#                    segmentation chain (deconvolve ! blur ! threshold
#                    method=local ! morph open ! label) finds, drawn in
#                    green with python3-pil
#   seed-workflow.png  examples/seed_workflow.py's overlay of a random-weight
#                    CNN's per-patch scores on CMU-1 (Python package, torch),
#                    reduced to 256 colours with python3-pil
set -eu
sp=${SLIDEPIPE:-src/slidepipe}
shared=${SHARED_DIR:-../shared}
out=examples/pictures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

tcga=$shared/slides/tcga-cr-7395-01a-01-ts1.svs
cmu=$shared/slides/CMU-1-Small-Region.svs
for f in "$tcga" "$cmu"; do
	[ -f "$f" ] || { echo "pictures.sh: $f is missing" >&2; exit 1; }
done

# TCGA: thumbnail, mask, kept patches
"$sp" -q load "$tcga" ! downsample 16 ! save "$tmp/thumb.png" >/dev/null
"$sp" -q load "$tcga" ! threshold ! downsample 16 ! save "$tmp/mask.png" >/dev/null
"$sp" -q load "$tcga" ! tiles "$tmp/t" size=64 level=1 min-tissue=0.5 2>/dev/null
awk -F, 'NR == 1 { print $0 ",class" } NR > 1 { print $0 ",tissue >= 0.5" }' \
	"$tmp/t/tiles.csv" >"$tmp/kept.csv"
"$sp" -q load "$tcga" ! downsample 16 ! overlay "$tmp/kept.csv" \
	palette="tissue >= 0.5:#2ca02c" alpha=0.35 ! save "$tmp/kept.png" >/dev/null
vips join "$tmp/thumb.png" "$tmp/mask.png" "$tmp/a.v" horizontal --shim 6 --background 255
vips join "$tmp/a.v" "$tmp/kept.png" "$out/tcga-tissue.png" horizontal --shim 6 --background 255

# CMU-1: scores over a thumbnail
"$sp" -q load "$cmu" ! tiles "$tmp/c" size=120 min-tissue=0.05 2>/dev/null
awk -F, 'NR == 1 { print $0 ",score" } NR > 1 { print $0 "," $8 }' \
	"$tmp/c/tiles.csv" >"$tmp/scores.csv"
"$sp" -q load "$cmu" ! downsample 7 ! overlay "$tmp/scores.csv" \
	column=score alpha=0.5 ! save "$out/cmu-overlay.png" >/dev/null
# CMU-1: nuclei outlined by the segmentation chain
"$sp" -q load "$cmu" ! crop 900 1700 512 512 ! save "$tmp/region.png" >/dev/null
"$sp" -q load "$cmu" ! crop 900 1700 512 512 ! deconvolve stain=he channel=h \
	! blur sigma=1 ! threshold method=local block=51 offset=-0.02 \
	! morph open radius=2 ! label geojson="$tmp/nuclei.geojson" >/dev/null
/usr/bin/python3 - "$tmp/region.png" "$tmp/nuclei.geojson" "$out/cmu-nuclei.jpg" <<'PY'
import json, sys
from PIL import Image, ImageDraw
region, geojson, out = sys.argv[1:4]
x0, y0 = 900, 1700  # the crop's level-0 origin: outlines are in level-0 px
im = Image.open(region).convert("RGB")
drawn = im.copy()
d = ImageDraw.Draw(drawn)
for f in json.load(open(geojson))["features"]:
    g = f["geometry"]
    polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
    for poly in polys:
        for ring in poly:
            d.line([(x - x0, y - y0) for x, y in ring], fill=(0, 200, 0), width=1)
both = Image.new("RGB", (im.width * 2 + 6, im.height), "white")
both.paste(im, (0, 0))
both.paste(drawn, (im.width + 6, 0))
both.save(out, quality=90)
PY
SLIDEPIPE_LIBRARY=${SLIDEPIPE_LIBRARY:-src/.libs/libslidepipe.so} \
PYTHONPATH=python${PYTHONPATH:+:$PYTHONPATH} \
	/usr/bin/python3 examples/seed_workflow.py "$cmu" "$tmp/seed.png"
/usr/bin/python3 -c 'import sys; from PIL import Image
Image.open(sys.argv[1]).quantize(256, method=Image.Quantize.LIBIMAGEQUANT).save(sys.argv[2], optimize=True)' \
	"$tmp/seed.png" "$out/seed-workflow.png"
ls -l "$out"
