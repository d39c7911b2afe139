#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Annotation crops the way a typical openslide-python + PIL user script
does them: the peer of `slidepipe batch --annotations ... --outside white`
in bench/annotations.sh.

usage: annotations-openslide.py SLIDE POLYS.geojson OUTDIR
       annotations-openslide.py --generate POLYS.geojson [--count 1000]
                                [--seed 17] [--size 100000x100000]
                                [--sides loguniform|uniform]
       annotations-openslide.py --compare SLIDE POLYS.geojson DIR_A DIR_B
                                [--sample 20] [--pattern-a '{name}.png']
                                [--pattern-b '{name}_{index}.png']

Crops (the default mode), sequential, in file order: for each Polygon
feature, bbox = floor / ceil of the extent of its outer ring, clipped to
the slide; region = read_region((x, y), 0, (w, h)).convert('RGB'); mask =
Image.new('L', (w, h), 0) with ImageDraw.Draw(mask).polygon(outer ring
relative to (x, y), fill=255) and every hole drawn over it with fill=0;
Image.composite(region, white, mask).save(OUTDIR/NAME.png), NAME the
feature's properties.name (or feature_INDEX), PIL's default PNG
compression. Prints "openslide-python + PIL: N crops, T s", T the wall
time from the start of the script, imports included.

--generate writes COUNT seeded random star-shaped polygons without holes:
bounding box sides W and H drawn independently from 64 ... 4096 px
(log-uniform by default, i.e. as many 64-128 px annotations as
2048-4096 px ones; --sides uniform for uniform sides, about 4.7 x the
pixels), 8-40 vertices at sorted random angles around the centre with
radii 0.35-1 of the half-extent, then stretched so the outer ring's
extent is exactly the box; the box lies at a random place wholly inside
the slide (no clipping). Coordinates are level-0 px with two decimals,
properties {"name": "p0001", "classification": {"name": "Tumor"}} (every
fifth "Stroma").

--compare checks a sample of outputs of two tools (every len/SAMPLE-th
feature, and the largest): the same size; every pixel of each either the
slide's (read_region) or white, i.e. the pixels kept are exactly
OpenSlide's; the pixels where they differ (different inside/outside
decisions) all within 1.5 px of the polygon's boundary, counted as a
fraction of its perimeter. Exit status 1 if a check fails.
"""
import time

t_start = time.perf_counter()

import argparse
import json
import math
import os
import random
import sys


def features(path):
    with open(path) as f:
        doc = json.load(f)
    out = []
    for i, feat in enumerate(doc["features"]):
        geom = feat["geometry"]
        if geom["type"] != "Polygon":
            raise SystemExit("%s: feature %d is a %s, not a Polygon" % (path, i, geom["type"]))
        name = (feat.get("properties") or {}).get("name") or "feature_%d" % i
        out.append((i, name, geom["coordinates"]))
    return out


def bbox(ring, sw, sh):
    xs = [p[0] for p in ring]
    ys = [p[1] for p in ring]
    x0 = max(0, math.floor(min(xs)))
    y0 = max(0, math.floor(min(ys)))
    x1 = min(sw, math.ceil(max(xs)))
    y1 = min(sh, math.ceil(max(ys)))
    return x0, y0, x1 - x0, y1 - y0


def pil_mask(rings, x, y, w, h):
    from PIL import Image, ImageDraw
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    draw.polygon([(px - x, py - y) for px, py in rings[0]], fill=255)
    for hole in rings[1:]:
        draw.polygon([(px - x, py - y) for px, py in hole], fill=0)
    return mask


def crops(args):
    import openslide
    from PIL import Image
    slide = openslide.OpenSlide(args.slide)
    sw, sh = slide.dimensions
    os.makedirs(args.outdir, exist_ok=True)
    n = 0
    for index, name, rings in features(args.geojson):
        x, y, w, h = bbox(rings[0], sw, sh)
        if w <= 0 or h <= 0:
            continue
        region = slide.read_region((x, y), 0, (w, h)).convert("RGB")
        mask = pil_mask(rings, x, y, w, h)
        white = Image.new("RGB", (w, h), (255, 255, 255))
        Image.composite(region, white, mask).save(os.path.join(args.outdir, name + ".png"))
        n += 1
    print("openslide-python + PIL: %d crops, %.2f s" % (n, time.perf_counter() - t_start))


def generate(args):
    rng = random.Random(args.seed)
    sw, sh = (int(v) for v in args.size.lower().split("x"))
    lo, hi = 64, 4096

    def side():
        if args.sides == "uniform":
            return rng.uniform(lo, hi)
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))

    feats = []
    for i in range(args.count):
        w, h = side(), side()
        x0 = rng.uniform(0, sw - w)
        y0 = rng.uniform(0, sh - h)
        nv = rng.randint(8, 40)
        angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(nv))
        pts = [(r * math.cos(a), r * math.sin(a))
               for a, r in ((a, rng.uniform(0.35, 1.0)) for a in angles)]
        mnx = min(p[0] for p in pts); mxx = max(p[0] for p in pts)
        mny = min(p[1] for p in pts); mxy = max(p[1] for p in pts)
        ring = [[round(x0 + (px - mnx) / (mxx - mnx) * w, 2),
                 round(y0 + (py - mny) / (mxy - mny) * h, 2)] for px, py in pts]
        ring.append(list(ring[0]))
        feats.append({
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"name": "p%04d" % (i + 1),
                           "classification": {"name": "Stroma" if i % 5 == 4 else "Tumor"}},
        })
    with open(args.generate, "w") as f:
        json.dump({"type": "FeatureCollection", "features": feats}, f)
    total = 0
    for ft in feats:
        ring = ft["geometry"]["coordinates"][0]
        _, _, w, h = bbox(ring, sw, sh)
        total += w * h
    print("%s: %d polygons, bounding boxes %.2f Gpx in all (seed %d, %s sides)"
          % (args.generate, len(feats), total / 1e9, args.seed, args.sides))


def seg_dist(px, py, ring):
    """distance of points (px, py arrays) to the ring's edges"""
    import numpy as np
    d = np.full(px.shape, np.inf)
    for (ax, ay), (bx, by) in zip(ring[:-1], ring[1:]):
        dx, dy = bx - ax, by - ay
        ll = dx * dx + dy * dy
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / ll, 0, 1) if ll else 0
        d = np.minimum(d, np.hypot(px - (ax + t * dx), py - (ay + t * dy)))
    return d


def compare(args):
    import numpy as np
    import openslide
    from PIL import Image
    slide = openslide.OpenSlide(args.compare)
    sw, sh = slide.dimensions
    feats = features(args.geojson)
    step = max(1, len(feats) // args.sample)
    pick = list(range(0, len(feats), step))[:args.sample]
    largest = max(range(len(feats)), key=lambda i: bbox(feats[i][2][0], sw, sh)[2] * bbox(feats[i][2][0], sw, sh)[3])
    if largest not in pick:
        pick.append(largest)
    bad = 0
    tot_diff = tot_perim = tot_px = 0
    worst = 0.0
    for i in pick:
        index, name, rings = feats[i]
        x, y, w, h = bbox(rings[0], sw, sh)
        fa = os.path.join(args.dir_a, args.pattern_a.format(name=name, index=index))
        fb = os.path.join(args.dir_b, args.pattern_b.format(name=name, index=index))
        try:
            a = np.asarray(Image.open(fa).convert("RGB"))
            b = np.asarray(Image.open(fb).convert("RGB"))
        except OSError as e:
            print("%s: %s" % (name, e))
            bad += 1
            continue
        if a.shape != b.shape or a.shape != (h, w, 3):
            print("%s: sizes differ: %s %s, bbox %dx%d" % (name, a.shape[1::-1], b.shape[1::-1], w, h))
            bad += 1
            continue
        r = np.asarray(slide.read_region((x, y), 0, (w, h)).convert("RGB"))
        white = np.uint8(255)
        stray = 0
        for img in (a, b):
            ok = (img == r).all(-1) | (img == white).all(-1)
            stray += int((~ok).sum())
        diff = (a != b).any(-1)
        nd = int(diff.sum())
        ys, xs = np.nonzero(diff)
        far = 0
        if nd:
            d = seg_dist(xs + 0.5 + x, ys + 0.5 + y, [tuple(p) for p in rings[0]])
            for hole in rings[1:]:
                d = np.minimum(d, seg_dist(xs + 0.5 + x, ys + 0.5 + y, [tuple(p) for p in hole]))
            far = int((d > 1.5).sum())
        perim = sum(math.hypot(q[0] - p[0], q[1] - p[1])
                    for ring in rings for p, q in zip(ring[:-1], ring[1:]))
        frac = nd / perim
        worst = max(worst, frac)
        tot_diff += nd
        tot_perim += perim
        tot_px += w * h
        # a white in a, slide pixel in b: b takes the pixel in, a does not
        a_in = int((diff & (b == white).all(-1)).sum())
        flag = "" if stray == 0 and far == 0 else "  <-- BAD"
        if flag:
            bad += 1
        if args.verbose or flag:
            print("%s %5dx%-5d %6d differing px (%d kept by a only), %.3f of the %.0f px perimeter,"
                  " %d beyond 1.5 px of the boundary, %d px neither the slide's nor white%s"
                  % (name, w, h, nd, a_in, frac, perim, far, stray, flag))
    print("compare: %d sampled crops (%.1f Mpx), %d failing a check; differing pixels %d = %.3f px per"
          " perimeter px (%.0f px of perimeters; worst crop %.3f)"
          % (len(pick), tot_px / 1e6, bad, tot_diff, tot_diff / tot_perim if tot_perim else 0,
             tot_perim, worst))
    return 1 if bad else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--generate", metavar="OUT.geojson")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--seed", type=int, default=17)
    p.add_argument("--size", default="100000x100000")
    p.add_argument("--sides", choices=("loguniform", "uniform"), default="loguniform")
    p.add_argument("--compare", metavar="SLIDE")
    p.add_argument("--sample", type=int, default=20)
    p.add_argument("--pattern-a", default="{name}.png")
    p.add_argument("--pattern-b", default="{name}_{index}.png")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("args", nargs="*")
    args = p.parse_args()
    if args.generate:
        if args.args:
            p.error("--generate takes no positional arguments")
        return generate(args)
    if args.compare:
        if len(args.args) != 3:
            p.error("--compare SLIDE POLYS.geojson DIR_A DIR_B")
        args.geojson, args.dir_a, args.dir_b = args.args
        return compare(args)
    if len(args.args) != 3:
        p.error("SLIDE POLYS.geojson OUTDIR")
    args.slide, args.geojson, args.outdir = args.args
    return crops(args)


if __name__ == "__main__":
    sys.exit(main())
