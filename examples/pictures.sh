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
ls -l "$out"
