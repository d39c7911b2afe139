#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The rasterize operator (issue 17) against gdal_rasterize, pixel for pixel.

`slidepipe load S [! crop …] [! downsample F] ! rasterize FILE.geojson
[class=] [feature=] [name=] ! save mask.tif` burns GeoJSON annotations
(QuPath's export: level-0 pixels, y down) into a 0/255 mask with the
geometry of its input. The oracle is gdal_rasterize (default rule, no -at)
on the same grid: GDAL's rows go up, so it gets a copy of the GeoJSON with
every y negated and -te x -(y+h) x+w -y -ts W H. Regions are integers and
downsamples powers of two, so every coordinate maps to pixels exactly and
the two must agree on every pixel, ties included (vertices on pixel
centres and edges, horizontal edges on a row's centre line).

  grids    a 3000 × 2000 make-slide slide: level 0 of a crop, the same
           crop at downsample 2 and 4, an offset crop at downsample 4,
           the whole slide at downsample 8; the rasterize step keeps the
           geometry `explain` gives the step before it
  cases    seeded random GeoJSON files, several features each (union):
           star polygons with holes, MultiPolygons (overlapping parts
           XOR, even-odd as GDAL), bow-ties and shuffled stars
           (self-intersecting), rectilinear polygons on the half-pixel
           lattice, polygons on tile corners and across the slide's edge,
           tiny ones and slivers; vertices random floats, integers, or on
           pixel centres and edges
  ties     fixed shapes with edges and vertices on pixel centres, both
           windings: GDAL 3.6 burns a pixel whose centre lies on a
           horizontal edge when the ring's inside is above that edge, after
           orienting every ring itself (OGRLinearRing::isClockwise), so
           the result does not depend on the winding; the parts of a
           MultiPolygon are burnt one by one (union), rings of one Polygon
           combine even-odd
  select   class=, feature=, name= against GDAL on the features Python
           keeps
  real     a crop of ../shared's CMU-1-Small-Region.svs (240 px tiles)
  errors   invalid JSON, LineString, Point, NaN, 1e999, a ring of 2
           distinct points: exit 1 (a bad input file); no feature
           matching: exit 2 (usage); "rasterize: " and the file's name
           on stderr, no output file

Cases are random but seeded (--seed, printed). Prints one line per check,
"ok NAME" or "not ok NAME", and "# ..." diagnostics; tests/annotations.sh
turns them into TAP.
"""
import argparse
import json
import os
import random
import re
import sys
import time

import numpy as np
import tifffile

from tap import Fail, check, diag, run, skip  # tests/tap.py

SLIDE_W, SLIDE_H = 3000, 2000
TILE = 256
CLASSES = [("Tumor", [200, 0, 0]), ("Stroma", [150, 200, 150])]
CMU = "slides/CMU-1-Small-Region.svs"


# ---------------------------------------------------------------- grids

class Grid:
    """A pipeline before rasterize, and its geometry from `explain`:
    output W × H, level-0 region (x, y, w, h), downsample ds."""

    def __init__(self, label, slide, steps, tile=TILE):
        self.label, self.slide, self.steps, self.tile = label, slide, steps, tile
        self.W = self.H = self.x = self.y = self.w = self.h = self.ds = None

    def argv(self):
        a = ["load", self.slide]
        for s in self.steps:
            a += ["!"] + [str(v) for v in s]
        return a


STEP_RE = re.compile(r"^(\d+)\. (\w+): (\d+) × (\d+) × (\d+) px, level-0 region "
                     r"x=(-?\d+) y=(-?\d+) w=(\d+) h=(\d+), downsample ([0-9.]+)")


def explain_steps(sp, argv):
    rc, out, err = run([sp, "explain"] + argv)
    if rc != 0:
        raise Fail("explain exited %d: %s" % (rc, err.strip()))
    steps = []
    for line in out.splitlines():
        m = STEP_RE.match(line)
        if m:
            g = m.groups()
            steps.append((g[1], int(g[2]), int(g[3]), int(g[4]),
                          tuple(int(v) for v in g[5:9]), float(g[9])))
    if not steps:
        raise Fail("explain printed no step lines:\n" + out)
    return steps


def geometry(args, grid, probe):
    """Fills grid's geometry from explain, and checks that explain shows
    the rasterize step with the same geometry and 1 band."""
    before = explain_steps(args.slidepipe, grid.argv())[-1]
    _, W, H, _, (x, y, w, h), ds = before
    if ds != int(ds) or w != W * int(ds) or h != H * int(ds):
        raise Fail("%s: W %d H %d region %d %d %d %d downsample %g: not an exact "
                   "power-of-two grid" % (grid.label, W, H, x, y, w, h, ds))
    grid.W, grid.H, grid.x, grid.y, grid.w, grid.h, grid.ds = W, H, x, y, w, h, int(ds)
    after = explain_steps(args.slidepipe, grid.argv() + ["!", "rasterize", probe])[-1]
    want = ("rasterize", W, H, 1, (x, y, w, h), ds)
    if after != want:
        raise Fail("explain's last step %s, expected %s" % (after, want))


# ------------------------------------------------------------- shapes
# All in level-0 pixels (x right, y down). A "lattice" snaps a coordinate:
# None keeps random floats, "int" rounds to whole level-0 pixels, "half"
# to the half-pixel lattice of the output grid (pixel edges and centres).

def snap(v, mode, origin, ds):
    if mode == "int":
        return float(round(v))
    if mode == "half":
        return origin + ds * round((v - origin) / ds * 2) / 2.0
    return float(v)


def ring_pts(pts, grid, mode):
    r = [[snap(px, mode, grid.x, grid.ds), snap(py, mode, grid.y, grid.ds)]
         for px, py in pts]
    if len(set(map(tuple, r))) < 3:  # snapped to a point or a line: floats
        r = [[float(px), float(py)] for px, py in pts]
    return r + [list(r[0])]  # closed, as GeoJSON wants


def centre_line_edge(ring, grid):
    """Whether a ring has a horizontal edge on a row's centre line."""
    for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
        if y1 == y2 and x1 != x2 and ((y1 - grid.y) / grid.ds - 0.5) % 1 == 0:
            return True
    return False


def star(rng, cx, cy, rmin, rmax, n):
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = rng.uniform(rmin, rmax, n)
    return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a, r in zip(ang, rad)]


def star_with_holes(rng, grid, cx, cy, rmax, mode, holes):
    """A star polygon (3-40 vertices) with up to `holes` star holes inside
    its inner radius, not touching each other."""
    n = int(rng.integers(3, 41))
    rmin = rmax * rng.uniform(0.5, 0.9)
    outer = star(rng, cx, cy, rmin, rmax, n)
    rings = [ring_pts(outer, grid, mode)]
    # inside the inscribed circle of the star: at least rmin·cos(π/n') for
    # its largest angular gap; stay well inside it
    ang = sorted(np.arctan2([p[1] - cy for p in outer], [p[0] - cx for p in outer]))
    gaps = np.diff(ang + [ang[0] + 2 * np.pi])
    inner = rmin * np.cos(min(max(gaps), np.pi * 0.9) / 2) * 0.85
    nh = int(rng.integers(0, holes + 1)) if inner > 3 * grid.ds else 0
    for k in range(nh):
        if nh == 1:
            hx, hy, hr = cx, cy, inner * 0.6
        else:
            a = 2 * np.pi * k / nh
            hr = inner * 0.45 * np.sin(np.pi / nh) if nh > 2 else inner * 0.4
            hx, hy = cx + inner * 0.5 * np.cos(a), cy + inner * 0.5 * np.sin(a)
        h = star(rng, hx, hy, hr * 0.5, hr, int(rng.integers(3, 13)))
        rings.append(ring_pts(h, grid, mode))
    return rings


def bowtie(rng, grid, cx, cy, r, mode):
    a, b = r * rng.uniform(0.4, 1), r * rng.uniform(0.4, 1)
    pts = [(cx - a, cy - b), (cx + a, cy + b), (cx + a, cy - b), (cx - a, cy + b)]
    return [ring_pts(pts, grid, mode)]


def shuffled_star(rng, grid, cx, cy, r, mode):
    """A star whose vertices are visited out of order: self-intersecting.
    Without horizontal edges on a row's centre line: which of those GDAL
    burns depends on the orientation it gives the ring (see bowtie_flat)."""
    pts = star(rng, cx, cy, r * 0.3, r, int(rng.integers(5, 16)))
    order = rng.permutation(len(pts))
    ring = ring_pts([pts[i] for i in order], grid, mode)
    if centre_line_edge(ring, grid):
        ring = ring_pts([pts[i] for i in order], grid, None)
    return [ring]


def rectilinear(rng, grid, cx, cy, r):
    """An axis-parallel staircase polygon on the half-pixel lattice, both
    orientations: horizontal edges on row centre lines and on pixel
    edges, vertical ones on column centres and edges."""
    ds = grid.ds
    k = int(rng.integers(2, 6))
    xs = np.sort(rng.choice(np.arange(-2 * r, 2 * r + 1), 2 * k, replace=False))
    ys = np.sort(rng.choice(np.arange(-2 * r, 2 * r + 1), k + 1, replace=False))
    # an L/stair shape: walk right along the top, then down the steps
    half = lambda v: v * ds / 2.0  # noqa: E731
    X = lambda u: snap(cx + half(u), "half", grid.x, ds)  # noqa: E731
    Y = lambda v: snap(cy + half(v), "half", grid.y, ds)  # noqa: E731
    pts = [(X(xs[0]), Y(ys[0])), (X(xs[-1]), Y(ys[0]))]
    for i in range(1, k + 1):
        pts.append((X(xs[-1 - (i - 1)]), Y(ys[i])))
        pts.append((X(xs[-1 - i]), Y(ys[i])))
    pts.append((X(xs[0]), Y(ys[-1])))
    # drop repeats (two steps on one column)
    clean = [pts[0]]
    for p in pts[1:]:
        if p != clean[-1]:
            clean.append(p)
    if rng.random() < 0.5:
        clean = clean[::-1]
    r_ = [list(p) for p in clean]
    return [r_ + [list(r_[0])]]


def rect(rng, grid, cx, cy, r, reverse):
    """A rectangle on the half-pixel lattice, one orientation or the other."""
    ds = grid.ds
    u0, u1 = sorted(rng.choice(np.arange(-2 * r, 2 * r + 1), 2, replace=False))
    v0, v1 = sorted(rng.choice(np.arange(-2 * r, 2 * r + 1), 2, replace=False))
    X = lambda u: snap(cx + u * ds / 2.0, "half", grid.x, ds)  # noqa: E731
    Y = lambda v: snap(cy + v * ds / 2.0, "half", grid.y, ds)  # noqa: E731
    pts = [[X(u0), Y(v0)], [X(u1), Y(v0)], [X(u1), Y(v1)], [X(u0), Y(v1)]]
    if reverse:
        pts = pts[::-1]
    return [pts + [list(pts[0])]]


def sliver(rng, grid, cx, cy, r, mode):
    """A long thin triangle or quadrilateral, 0.01-0.4 output px wide."""
    a = rng.uniform(0, np.pi)
    L = r * rng.uniform(0.5, 1.0)
    wdt = grid.ds * rng.uniform(0.01, 0.4)
    dx, dy = np.cos(a), np.sin(a)
    nx, ny = -dy * wdt, dx * wdt
    pts = [(cx - L * dx, cy - L * dy), (cx + L * dx, cy + L * dy),
           (cx + L * dx + nx, cy + L * dy + ny)]
    if rng.random() < 0.5:
        pts.append((cx - L * dx + nx, cy - L * dy + ny))
    return [ring_pts(pts, grid, mode)]


def tiny(rng, grid, cx, cy, mode):
    """Under one output pixel across: 0 or 1 pixel."""
    r = grid.ds * rng.uniform(0.05, 0.5)
    return [ring_pts(star(rng, cx, cy, r * 0.3, r, int(rng.integers(3, 7))), grid, mode)]


def feature(geom_rings, k, cls, polys=None):
    """A QuPath-like annotation: Polygon from rings, or MultiPolygon from
    a list of ring lists (polys)."""
    if polys is not None:
        geom = {"type": "MultiPolygon", "coordinates": polys}
    else:
        geom = {"type": "Polygon", "coordinates": geom_rings}
    name, color = CLASSES[cls]
    return {"type": "Feature", "id": "a%04d" % k, "geometry": geom,
            "properties": {"objectType": "annotation", "name": "ann-%d" % k,
                           "classification": {"name": name, "color": color},
                           "isLocked": False}}


KINDS = ["star", "holes", "multi", "bowtie", "shuffled", "rectilinear", "rect",
         "tile", "edge", "tiny", "sliver"]


def random_feature(rng, grid, kind, k, slide_w, slide_h):
    """One feature of the given kind somewhere over (or across) the grid's
    region; returns (feature, description)."""
    ds = grid.ds
    mode = [None, None, "int", "half"][int(rng.integers(0, 4))]
    # sizes in output pixels, positions in level-0 pixels
    r = ds * float(rng.uniform(4, min(grid.W, grid.H) / 4))
    cx = grid.x + float(rng.uniform(0.1, 0.9)) * grid.w
    cy = grid.y + float(rng.uniform(0.1, 0.9)) * grid.h
    cls = int(rng.integers(0, 2))
    if kind == "tile":
        # centred on a corner of the 256 px tile grid, level 0 or output
        # (the slide's tiles: level-0 multiples of 256 inside the region;
        # the mask's: the region's origin plus multiples of 256 output px)
        if rng.random() < 0.5:
            unit = grid.tile * ds
            cx = grid.x + unit * int(rng.integers(1, max(2, grid.w // unit)))
            cy = grid.y + unit * int(rng.integers(1, max(2, grid.h // unit)))
        else:
            unit = grid.tile
            cx = unit * int(rng.integers(grid.x // unit + 1, max(grid.x // unit + 2,
                                                                 (grid.x + grid.w) // unit)))
            cy = unit * int(rng.integers(grid.y // unit + 1, max(grid.y // unit + 2,
                                                                 (grid.y + grid.h) // unit)))
        kind2 = ["star", "holes", "rect", "rectilinear"][int(rng.integers(0, 4))]
        f, d = random_feature_at(rng, grid, kind2, k, cls, cx, cy, r, mode)
        return f, "tile corner %s (%d, %d): %s" % (
            "level-0" if unit == grid.tile else "output", cx, cy, d)
    if kind == "edge":
        # across the slide's edge (or the region's), part outside
        side = int(rng.integers(0, 4))
        big = ds * float(rng.uniform(10, min(grid.W, grid.H) / 2))
        if side == 0:
            cx = float(rng.uniform(-big / 2, big / 2))
        elif side == 1:
            cy = float(rng.uniform(-big / 2, big / 2))
        elif side == 2:
            cx = slide_w + float(rng.uniform(-big / 2, big / 2))
        else:
            cy = slide_h + float(rng.uniform(-big / 2, big / 2))
        kind2 = ["star", "holes", "multi", "rect"][int(rng.integers(0, 4))]
        f, d = random_feature_at(rng, grid, kind2, k, cls, cx, cy, big, mode)
        return f, "across the slide's %s edge: %s" % (
            ["left", "top", "right", "bottom"][side], d)
    return random_feature_at(rng, grid, kind, k, cls, cx, cy, r, mode)


def random_feature_at(rng, grid, kind, k, cls, cx, cy, r, mode):
    ds = grid.ds
    lat = {None: "floats", "int": "integer", "half": "half-pixel"}[mode]
    if kind == "star":
        return feature(star_with_holes(rng, grid, cx, cy, r, mode, 0), k, cls), \
            "star (%s)" % lat
    if kind == "holes":
        rings = star_with_holes(rng, grid, cx, cy, r, mode, 3)
        return feature(rings, k, cls), "star with %d hole(s) (%s)" % (len(rings) - 1, lat)
    if kind == "multi":
        n = int(rng.integers(2, 5))
        polys = []
        for _ in range(n):
            ox, oy = rng.uniform(-r, r, 2)
            polys.append(star_with_holes(rng, grid, cx + ox, cy + oy,
                                         r * rng.uniform(0.3, 0.8), mode, 1))
        return feature(None, k, cls, polys), "MultiPolygon of %d (%s)" % (n, lat)
    if kind == "bowtie":
        return feature(bowtie(rng, grid, cx, cy, r, mode), k, cls), "bow-tie (%s)" % lat
    if kind == "shuffled":
        return feature(shuffled_star(rng, grid, cx, cy, r, mode), k, cls), \
            "self-intersecting star (%s)" % lat
    if kind == "rectilinear":
        rr = max(2, int(r / ds))
        return feature(rectilinear(rng, grid, cx, cy, rr), k, cls), \
            "rectilinear staircase on the half-pixel lattice"
    if kind == "rect":
        rr = max(2, int(r / ds))
        rev = bool(rng.random() < 0.5)
        return feature(rect(rng, grid, cx, cy, rr, rev), k, cls), \
            "rectangle on the half-pixel lattice (%s)" % ("reversed" if rev else "clockwise")
    if kind == "tiny":
        return feature(tiny(rng, grid, cx, cy, mode), k, cls), "tiny (%s)" % lat
    if kind == "sliver":
        return feature(sliver(rng, grid, cx, cy, r, mode), k, cls), "sliver (%s)" % lat
    raise ValueError(kind)


# ------------------------------------------------------------ the oracle

def write_json(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)


def negated(doc):
    """A copy with every y negated, for GDAL's north-up rows."""
    def neg(c):
        if isinstance(c[0], (int, float)):
            return [c[0], -c[1]] + list(c[2:])
        return [neg(v) for v in c]
    out = json.loads(json.dumps(doc))
    for f in out["features"]:
        g = f["geometry"]
        g["coordinates"] = neg(g["coordinates"])
    return out


def gdal(args, grid, doc, out):
    src = out + ".gdal.geojson"
    write_json(src, negated(doc))
    if os.path.exists(out):
        os.unlink(out)
    x, y, w, h = grid.x, grid.y, grid.w, grid.h
    rc, _, err = run([args.gdal_rasterize, "-q", "-te", x, -(y + h), x + w, -y,
                      "-ts", grid.W, grid.H, "-burn", 255, "-ot", "Byte",
                      "-init", 0, "-of", "GTiff", src, out])
    if rc != 0:
        raise Fail("gdal_rasterize exited %d: %s" % (rc, err.strip()))
    a = tifffile.imread(out)
    if a.shape != (grid.H, grid.W):
        raise Fail("gdal_rasterize made %s, expected (%d, %d)" % (a.shape, grid.H, grid.W))
    return a


def slidepipe_mask(args, grid, path, sel, out):
    if os.path.exists(out):
        os.unlink(out)
    cmd = [args.slidepipe, "-q"] + grid.argv() + ["!", "rasterize", path] + sel + \
        ["!", "save", out, "compression=" + args.compression]
    rc, _, err = run(cmd)
    if rc != 0:
        raise Fail("exit %d: %s\n%s" % (rc, " ".join(map(str, cmd)), err.strip()))
    a = tifffile.imread(out)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.dtype != np.uint8 or a.shape != (grid.H, grid.W):
        raise Fail("mask is %s %s, expected (%d, %d) uint8, 1 band"
                   % (a.shape, a.dtype, grid.H, grid.W))
    vals = set(np.unique(a).tolist())
    if not vals <= {0, 255}:
        raise Fail("mask values %s, expected only 0 and 255" % sorted(vals)[:10])
    return a


STATS = {"cases": 0, "pixels": 0, "set": 0}


def compare(got, want, grid):
    STATS["cases"] += 1
    STATS["pixels"] += want.size
    STATS["set"] += int(np.count_nonzero(want))
    diff = got != want
    n = int(np.count_nonzero(diff))
    if n:
        jj, ii = np.nonzero(diff)
        where = ", ".join("(%d, %d) %s" % (i, j, "slidepipe 255, GDAL 0" if got[j, i] else
                                           "slidepipe 0, GDAL 255")
                          for i, j in list(zip(ii, jj))[:6])
        raise Fail("%d of %d pixels differ (slidepipe %d set, GDAL %d); first (col, row): %s;\n"
                   "level-0 of (col, row): x + col·%d, y + row·%d with x=%d y=%d"
                   % (n, want.size, int(np.count_nonzero(got)), int(np.count_nonzero(want)),
                      where, grid.ds, grid.ds, grid.x, grid.y))


def one_case(args, grid, doc, path, sel, tag, keep=None, sp_doc=None):
    """slidepipe with sel against GDAL on doc's features kept by keep;
    slidepipe reads sp_doc instead when given (the same in µm)."""
    write_json(path, doc if sp_doc is None else sp_doc)
    want_doc = doc if keep is None else {"type": "FeatureCollection",
                                         "features": [f for i, f in enumerate(doc["features"])
                                                      if keep(i, f)]}
    base = os.path.join(args.tmp, tag)
    got = slidepipe_mask(args, grid, path, sel, base + ".sp.tif")
    want = gdal(args, grid, want_doc, base + ".gdal.tif")
    compare(got, want, grid)
    if not args.keep:
        for p in (base + ".sp.tif", base + ".gdal.tif", base + ".gdal.tif.gdal.geojson"):
            if os.path.exists(p):
                os.unlink(p)
    return int(np.count_nonzero(want))


# ----------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slidepipe", required=True)
    ap.add_argument("--make-slide", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--shared", default="")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--gdal-rasterize", default="gdal_rasterize")
    ap.add_argument("--compression", default="deflate")
    ap.add_argument("--cases", type=int, default=24)
    ap.add_argument("--keep", action="store_true", help="keep the files of each case")
    args = ap.parse_args()
    seed = random.randrange(1 << 31) if args.seed == "random" else int(args.seed)
    print("# annotations.py: seed %d (ANNOTATIONS_SEED=%d replays it)" % (seed, seed))
    t0 = time.time()
    d = args.tmp
    slide = os.path.join(d, "slide.tif")
    rc, _, err = run([args.make_slide, SLIDE_W, SLIDE_H, slide])
    if rc != 0:
        print("Bail out! make-slide failed: %s" % err.strip())
        sys.exit(1)

    probe = os.path.join(d, "probe.geojson")
    write_json(probe, {"type": "FeatureCollection", "features": [feature(
        [[[10, 10], [50, 10], [50, 40], [10, 10]]], 0, 0)]})

    grids = [Grid("crop 0 0 1536 1024", slide, [["crop", 0, 0, 1536, 1024]]),
             Grid("crop 0 0 1536 1024 ! downsample 2", slide,
                  [["crop", 0, 0, 1536, 1024], ["downsample", 2]]),
             Grid("crop 0 0 1536 1024 ! downsample 4", slide,
                  [["crop", 0, 0, 1536, 1024], ["downsample", 4]]),
             Grid("crop 100 300 1200 800 ! downsample 4", slide,
                  [["crop", 100, 300, 1200, 800], ["downsample", 4]]),
             Grid("downsample 8 (the whole slide)", slide, [["downsample", 8]])]
    ok_grids = []
    for g in grids:
        if check("grid %s: explain shows rasterize with the geometry of the step "
                 "before it, 1 band" % g.label, lambda: geometry(args, g, probe)):
            ok_grids.append(g)
            diag("grid %s: %d × %d px, level-0 region %d %d %d %d, downsample %d"
                 % (g.label, g.W, g.H, g.x, g.y, g.w, g.h, g.ds))
    if not ok_grids:
        print("Bail out! no grid: is the rasterize operator there?")
        sys.exit(1)

    rng = np.random.default_rng([seed, 17])
    # ------------------------------------------------------------ cases
    # every kind on every grid in turn, then random; 1-4 features a file
    for c in range(args.cases):
        grid = ok_grids[c % len(ok_grids)]
        kinds = [KINDS[c % len(KINDS)]] + \
            [KINDS[int(rng.integers(0, len(KINDS)))] for _ in range(int(rng.integers(0, 4)))]
        feats, descs = [], []
        for k, kind in enumerate(kinds):
            f, desc = random_feature(rng, grid, kind, k, SLIDE_W, SLIDE_H)
            feats.append(f)
            descs.append(desc)
        doc = {"type": "FeatureCollection", "features": feats}
        path = os.path.join(d, "case%02d.geojson" % c)
        name = "case %d, %s: %s" % (c, grid.label, "; ".join(descs))
        box = {}

        def case():
            box["n"] = one_case(args, grid, doc, path, [], "case%02d" % c)
        if check(name + ": equals gdal_rasterize", case):
            diag("case %d: %d pixels set" % (c, box["n"]))
        else:
            diag("case %d: the GeoJSON is %s%s" % (
                c, path, "" if args.keep else " (--keep keeps it and the masks)"))

    # ------------------------------------------------------------- ties
    # fixed shapes in output pixels (u, v), on two grids: GDAL's rule where
    # the boundary passes through pixel centres
    def at(grid, rings):
        return [[[grid.x + u * grid.ds, grid.y + v * grid.ds] for u, v in r + [r[0]]]
                for r in rings]
    sq_c = [(3.5, 2.5), (20.5, 2.5), (20.5, 12.5), (3.5, 12.5)]  # on centres
    sq_e = [(3, 2), (21, 2), (21, 13), (3, 13)]                    # on edges
    outer = [(1, 1), (30, 1), (30, 20), (1, 20)]
    hole_c = [(5.5, 4.5), (18.5, 4.5), (18.5, 15.5), (5.5, 15.5)]
    diamond = [(10.5, 2.5), (18.5, 10.5), (10.5, 18.5), (2.5, 10.5)]
    stair = [(2.5, 2.5), (12.5, 2.5), (12.5, 6.5), (8.5, 6.5), (8.5, 10.5),
             (4.5, 10.5), (4.5, 14.5), (2.5, 14.5)]
    flat_bowtie = [(2.5, 2.5), (16.5, 2.5), (2.5, 14.5), (16.5, 14.5)]
    ties = [
        ("a rectangle with its edges on pixel centres, clockwise on screen",
         [sq_c], "Polygon"),
        ("the same rectangle counter-clockwise", [sq_c[::-1]], "Polygon"),
        ("a rectangle with its edges on pixel edges", [sq_e], "Polygon"),
        ("a hole with its edges on pixel centres", [outer, hole_c], "Polygon"),
        ("the same hole, wound the other way", [outer, hole_c[::-1]], "Polygon"),
        ("a diamond with its vertices on pixel centres", [diamond], "Polygon"),
        ("a staircase with its edges on pixel centres", [stair], "Polygon"),
        ("the same staircase reversed", [stair[::-1]], "Polygon"),
        ("a MultiPolygon of two overlapping rectangles (GDAL burns each part: "
         "union, not XOR)", [[sq_c], [[(u + 6, v + 4) for u, v in sq_c]]], "MultiPolygon"),
        ("a Polygon whose 'hole' sticks out of it (even-odd: XOR)",
         [sq_c, [(u + 6, v + 4) for u, v in sq_c]], "Polygon"),
        ("a self-intersecting ring with horizontal edges on pixel centres "
         "(GDAL orients it by its bottom-right vertex)", [flat_bowtie], "Polygon"),
        ("the same ring reversed", [flat_bowtie[::-1]], "Polygon"),
    ]
    # all of them at downsample 2 (level-0 coordinates on whole and odd
    # half pixels), the orientation-dependent ones again on the offset crop
    for gi, which in ((1, range(len(ties))), (3, (1, 4, 7, 8, 10))):
        grid = ok_grids[min(gi, len(ok_grids) - 1)]
        for t in which:
            label, rings, gtype = ties[t]
            if gtype == "MultiPolygon":
                f = feature(None, 0, 0, [at(grid, p) for p in rings])
            else:
                f = feature(at(grid, rings), 0, 0)
            doc = {"type": "FeatureCollection", "features": [f]}
            path = os.path.join(d, "tie%d-%d.geojson" % (gi, t))
            check("tie, %s: %s: equals gdal_rasterize" % (grid.label, label),
                  lambda: one_case(args, grid, doc, path, [], "tie%d-%d" % (gi, t)))

    # ------------------------------------------------------- selections
    for s in range(6):
        grid = ok_grids[(s + 1) % len(ok_grids)]
        n = int(rng.integers(3, 6))
        feats = []
        for k in range(n):
            kind = ["holes", "multi", "star", "bowtie", "rect"][int(rng.integers(0, 5))]
            f, _ = random_feature(rng, grid, kind, k, SLIDE_W, SLIDE_H)
            feats.append(f)
        # at least one of each class, names unique but one repeated
        feats[0]["properties"]["classification"] = {"name": "Tumor", "color": CLASSES[0][1]}
        feats[1]["properties"]["classification"] = {"name": "Stroma", "color": CLASSES[1][1]}
        feats[-1]["properties"]["name"] = feats[0]["properties"]["name"]
        doc = {"type": "FeatureCollection", "features": feats}
        path = os.path.join(d, "sel%d.geojson" % s)
        target = feats[0]["properties"]["name"]
        which = [("class=Tumor", ["class=Tumor"],
                  lambda i, f: f["properties"]["classification"]["name"] == "Tumor"),
                 ("class=Stroma", ["class=Stroma"],
                  lambda i, f: f["properties"]["classification"]["name"] == "Stroma"),
                 ("feature=1", ["feature=1"], lambda i, f: i == 1),
                 ("feature=0", ["feature=0"], lambda i, f: i == 0),
                 ("name=%s (2 features)" % target, ["name=" + target],
                  lambda i, f: f["properties"]["name"] == target),
                 ("feature=%d (the last)" % (n - 1), ["feature=%d" % (n - 1)],
                  lambda i, f: i == n - 1)][s]
        label, sel, keep = which

        def sel_case():
            one_case(args, grid, doc, path, sel, "sel%d" % s, keep)
        check("selection %s of %d features, %s: equals gdal_rasterize on the features "
              "it keeps" % (label, n, grid.label), sel_case)

    # ------------------------------------------------------- real slide
    cmu = os.path.join(args.shared, CMU) if args.shared else ""
    if cmu and os.path.isfile(cmu):
        g = Grid("CMU-1-Small-Region.svs crop 240 480 1920 2400 ! downsample 2", cmu,
                 [["crop", 240, 480, 1920, 2400], ["downsample", 2]], tile=240)
        if check("grid %s: explain shows rasterize with the geometry of the step "
                 "before it, 1 band" % g.label, lambda: geometry(args, g, probe)):
            for c in range(2):
                kinds = ["tile", "holes", "edge", "multi"][2 * c:2 * c + 2]
                feats = [random_feature(rng, g, kd, k, 2220, 2967)[0]
                         for k, kd in enumerate(kinds)]
                doc = {"type": "FeatureCollection", "features": feats}
                path = os.path.join(d, "real%d.geojson" % c)
                check("real slide case %d, %s: %s: equals gdal_rasterize"
                      % (c, g.label, " and ".join(kinds)),
                      lambda: one_case(args, g, doc, path, [], "real%d" % c))
    else:
        skip("a crop of CMU-1-Small-Region.svs",
             "%s absent (the shared slides are not beside the repository)"
             % (cmu or CMU))

    # ------------------------------------------------------- units=um
    # the shapes written in µm (rounded to 0.1 nm, as an export in µm
    # would be); GDAL gets those µm divided by the slide's mpp, which is
    # what units=um must place
    def scaled(doc, fn):
        out = json.loads(json.dumps(doc))
        for f in out["features"]:
            g = f["geometry"]
            for poly in (g["coordinates"] if g["type"] == "MultiPolygon" else [g["coordinates"]]):
                for ring in poly:
                    for p in ring:
                        p[0], p[1] = fn(p[0]), fn(p[1])
        return out
    um_grids = [(g, 0.25) for g in ok_grids[:2]]
    if cmu and os.path.isfile(cmu):
        um_grids.append((Grid("CMU-1-Small-Region.svs crop 240 480 1920 2400", cmu,
                              [["crop", 240, 480, 1920, 2400]], tile=240), 0.499))
    for c, (g, mpp) in enumerate(um_grids):
        if g.W is None and not check("grid %s: explain shows its geometry" % g.label,
                                     lambda: geometry(args, g, probe)):
            continue
        kinds = ["holes", "multi", "star", "bowtie"]
        feats = [random_feature(rng, g, kd, k, 2220 if mpp == 0.499 else SLIDE_W,
                                2967 if mpp == 0.499 else SLIDE_H)[0]
                 for k, kd in enumerate(kinds)]
        doc = {"type": "FeatureCollection", "features": feats}
        um = scaled(doc, lambda v: round(v * mpp, 4))
        px = scaled(um, lambda v: v / mpp)
        path = os.path.join(d, "um%d.geojson" % c)
        check("units=um case %d, %s (mpp %g): equals gdal_rasterize on the µm divided by "
              "the mpp" % (c, g.label, mpp),
              lambda: one_case(args, g, px, path, ["units=um"], "um%d" % c, sp_doc=um))

    # ----------------------------------------------------------- errors
    grid = ok_grids[0]
    good = feature([[[100, 100], [300, 120], [200, 300], [100, 100]]], 0, 0)

    def fc(*feats):
        return json.dumps({"type": "FeatureCollection", "features": list(feats)})

    def geom(g):
        f = json.loads(json.dumps(good))
        f["geometry"] = g
        return f
    errors = [
        ("invalid JSON (truncated)", "bad-truncated.geojson", fc(good)[:-7], []),
        ("a LineString", "bad-linestring.geojson",
         fc(good, geom({"type": "LineString", "coordinates": [[0, 0], [50, 50]]})), []),
        ("a Point", "bad-point.geojson",
         fc(geom({"type": "Point", "coordinates": [20, 20]})), []),
        ("a literal NaN coordinate", "bad-nan.geojson",
         fc(good).replace("[300, 120]", "[300, NaN]"), []),
        ("a coordinate 1e999 (inf)", "bad-inf.geojson",
         fc(good).replace("[300, 120]", "[1e999, 120]"), []),
        ("a ring of 2 distinct points", "bad-ring.geojson",
         fc(geom({"type": "Polygon", "coordinates": [[[10, 10], [90, 90], [10, 10], [10, 10]]]})),
         []),
        ("class=Nope matches nothing", "bad-class.geojson", fc(good), ["class=Nope"]),
        ("feature=1 of 1 feature", "bad-feature.geojson", fc(good), ["feature=1"]),
        ("name=nobody matches nothing", "bad-name.geojson", fc(good), ["name=nobody"]),
    ]
    # a file that is not usable GeoJSON is a bad input file (exit 1, as a
    # damaged slide); a selection that matches nothing a usage error (2)
    for label, fname, text, sel in errors:
        want = 2 if sel else 1
        path = os.path.join(d, fname)
        with open(path, "w") as f:
            f.write(text)
        out = os.path.join(d, "err-" + fname.replace(".geojson", ".tif"))

        def err_case():
            cmd = [args.slidepipe, "-q"] + grid.argv() + ["!", "rasterize", path] + sel + \
                ["!", "save", out]
            rc, _, err = run(cmd)
            if rc != want:
                raise Fail("exit status %d, expected %d; stderr: %s" % (rc, want, err.strip()))
            if not re.search(r"(^|: )rasterize: .*" + re.escape(fname), err, re.M):
                raise Fail("stderr does not say 'rasterize: … %s':\n%s" % (fname, err.strip()))
            left = [p for p in os.listdir(d) if p.startswith(os.path.basename(out)) or
                    (p.startswith(".") and p.endswith(".sp-tmp"))]
            if left:
                raise Fail("left behind: %s" % ", ".join(left))
        check("error: %s: exit %d, 'rasterize: ' and the file name on stderr, no output"
              % (label, want), err_case)

    diag("%d comparisons with gdal_rasterize, %d pixels, %d of them set; %.1f s"
         % (STATS["cases"], STATS["pixels"], STATS["set"], time.time() - t0))


if __name__ == "__main__":
    main()
