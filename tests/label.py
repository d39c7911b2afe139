#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""label against scipy.ndimage.label + skimage.measure.regionprops.

Random masks (seeded; the seed is printed): blobs with holes, spirals,
touching and diagonal objects, sparse single pixels, objects crossing
tile and strip boundaries, one object covering everything, an empty
mask; 8- and 4-connectivity. Each mask is written as a grey TIFF whose
values are above 128 exactly on the mask (so `threshold value=128` gives
the mask and the grey values are the intensity), or as a 0/255 mask with
a separate RGB intensity image. slidepipe's CSV and GeoJSON are compared
object by object with the oracles.

Prints one line per check, "ok NAME" or "not ok NAME", and "# ..."
diagnostics; tests/label.sh turns them into TAP.
"""
import argparse
import csv
import json
import math
import os
import random
import subprocess
import sys

import numpy as np
import scipy.ndimage as ndi
import tifffile
from skimage.measure import regionprops

try:
    import shapely.geometry
    import shapely.ops
    HAVE_SHAPELY = True
except ImportError:
    HAVE_SHAPELY = False

STRUCT = {8: np.ones((3, 3), bool),
          4: ndi.generate_binary_structure(2, 1)}


def say(ok, name, why=None):
    print("%s %s" % ("ok" if ok else "not ok", name))
    if not ok and why:
        for line in str(why).splitlines()[:12]:
            print("# " + line)
    sys.stdout.flush()
    return ok


def diag(text):
    for line in str(text).splitlines():
        print("# " + line)


# ------------------------------------------------------------ masks

def disc(mask, cy, cx, r, value=True):
    h, w = mask.shape
    y0, y1 = max(0, int(cy - r)), min(h, int(cy + r) + 1)
    x0, x1 = max(0, int(cx - r)), min(w, int(cx + r) + 1)
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    mask[y0:y1, x0:x1][(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = value


def blobs_with_holes(rng, h, w, n, rmax):
    m = np.zeros((h, w), bool)
    for _ in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(2, rmax)
        disc(m, cy, cx, r)
        if r > 6 and rng.random() < 0.7:
            for _ in range(rng.integers(1, 4)):
                disc(m, cy + rng.uniform(-r / 2, r / 2),
                     cx + rng.uniform(-r / 2, r / 2), rng.uniform(1, r / 3),
                     False)
    return m


def spiral(rng, h, w):
    m = np.zeros((h, w), bool)
    cy, cx = h / 2, w / 2
    turns = rng.uniform(3, 6)
    rmax = min(h, w) / 2 - 2
    for t in np.linspace(0, turns * 2 * math.pi, 20000):
        r = rmax * t / (turns * 2 * math.pi)
        y, x = int(cy + r * math.sin(t)), int(cx + r * math.cos(t))
        if 0 <= y < h and 0 <= x < w:
            m[y, x] = True
    # a second, thicker arm
    for t in np.linspace(0, turns * 2 * math.pi, 20000):
        r = rmax * t / (turns * 2 * math.pi)
        y, x = int(cy - r * math.sin(t)), int(cx - r * math.cos(t))
        if 0 <= y < h - 1 and 0 <= x < w - 1:
            m[y:y + 2, x:x + 2] = True
    return m


def diagonal_objects(rng, h, w):
    m = rng.random((h, w)) < 0.28  # many corner contacts
    # checkerboard patches and diagonal lines
    for _ in range(6):
        y, x = rng.integers(0, h - 20), rng.integers(0, w - 20)
        s = rng.integers(4, 20)
        yy, xx = np.mgrid[0:s, 0:s]
        m[y:y + s, x:x + s] = (yy + xx) % 2 == 0
    for _ in range(6):
        y, x = rng.integers(0, h), rng.integers(0, w)
        for k in range(rng.integers(5, 60)):
            if 0 <= y + k < h and 0 <= x + k < w:
                m[y + k, x + k] = True
    return m


def make_case(rng, kind):
    if kind == "blobs":
        return blobs_with_holes(rng, 300, 420, 60, 30)
    if kind == "spiral":
        return spiral(rng, 257, 311)
    if kind == "diagonal":
        return diagonal_objects(rng, 120, 150)
    if kind == "pixels":
        return rng.random((97, 203)) < 0.05
    if kind == "tiles":
        # 700 wide, 1300 tall: objects across 256/512 tiles and strips
        m = blobs_with_holes(rng, 1300, 700, 40, 120)
        m[255:258, :] = True
        m[:, 511:513] = True
        return m
    if kind == "narrow":
        return blobs_with_holes(rng, 900, 60, 30, 25)
    if kind == "full":
        m = np.ones((211, 173), bool)
        disc(m, 100, 80, 20, False)
        return m
    if kind == "empty":
        return np.zeros((64, 80), bool)
    raise ValueError(kind)


# ------------------------------------------------------------ running

def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    return p.returncode, p.stdout, p.stderr


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(v):
    return float(v) if v != "" else math.nan


def close(a, b, rel, abs_=0.0):
    return abs(a - b) <= rel * max(abs(a), abs(b)) + abs_


def runs_of(image, y0, x0):
    """Boxes (x0, y0, x1, y1) of the runs of a boolean image."""
    boxes = []
    for r in range(image.shape[0]):
        row = np.concatenate(([False], image[r], [False])).astype(np.int8)
        d = np.diff(row)
        starts, ends = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
        for s, e in zip(starts, ends):
            boxes.append((x0 + s, y0 + r, x0 + e, y0 + r + 1))
    return boxes


def compare(name, mask, intensity, conn, rows, features, stats,
            exact_perimeter=False):
    """Checks slidepipe's objects (CSV rows, GeoJSON features) against
    scipy + skimage; level-0 = mask pixels (origin 0, downsample 1)."""
    lab, n = ndi.label(mask, structure=STRUCT[conn])
    props = regionprops(lab, intensity_image=intensity)
    ok = say(len(rows) == n, "%s: %d objects, as scipy.ndimage.label" %
             (name, n), "slidepipe found %d" % len(rows))
    if not ok:
        return

    def key(bbox, area):
        return tuple(int(v) for v in bbox) + (int(area),)

    ours = {}
    for r in rows:
        x0, y0 = int(num(r["bbox_x"])), int(num(r["bbox_y"]))
        bb = (y0, x0, y0 + int(num(r["bbox_h"])), x0 + int(num(r["bbox_w"])))
        ours.setdefault(key(bb, num(r["area_px"])), []).append(r)
    theirs = {}
    for p in props:
        theirs.setdefault(key(p.bbox, p.area), []).append(p)
    say(sorted(ours) == sorted(theirs),
        "%s: areas and bounding boxes equal regionprops' exactly" % name,
        "only ours: %s\nonly theirs: %s" % (
            sorted(set(ours) - set(theirs))[:5],
            sorted(set(theirs) - set(ours))[:5]))
    pairs = []
    for k in theirs:
        a = sorted(ours.get(k, []), key=lambda r: (num(r["centroid_y"]),
                                                   num(r["centroid_x"])))
        b = sorted(theirs[k], key=lambda p: p.centroid)
        pairs += list(zip(a, b))
    bands = 1 if intensity.ndim == 2 else intensity.shape[2]
    sfx = [""] if bands == 1 else ["_r", "_g", "_b"][:bands]
    worst = {k: 0.0 for k in ("centroid", "mean", "perimeter", "major",
                              "minor", "ecc", "orient")}
    bad = {k: [] for k in worst}
    minmax_bad = []
    perim_agree = 0
    skipped_orient = 0
    for r, p in pairs:
        cy, cx = p.centroid
        d = max(abs(num(r["centroid_x"]) - 0.5 - cx),
                abs(num(r["centroid_y"]) - 0.5 - cy))
        worst["centroid"] = max(worst["centroid"], d)
        if d > 1e-9:
            bad["centroid"].append((r["id"], d))
        means = np.atleast_1d(p.intensity_mean)
        mins = np.atleast_1d(p.intensity_min)
        maxs = np.atleast_1d(p.intensity_max)
        for b in range(bands):
            d = abs(num(r["mean" + sfx[b]]) - means[b])
            worst["mean"] = max(worst["mean"], d)
            if d > 1e-9:
                bad["mean"].append((r["id"], d))
            if (num(r["min" + sfx[b]]) != mins[b] or
                    num(r["max" + sfx[b]]) != maxs[b]):
                minmax_bad.append(r["id"])
        per = num(r["perimeter_px"])
        d = abs(per - p.perimeter) / max(1.0, abs(p.perimeter))
        worst["perimeter"] = max(worst["perimeter"], d)
        if d <= 1e-9:
            perim_agree += 1
        elif conn == 8 or exact_perimeter:
            bad["perimeter"].append((r["id"], per, p.perimeter))
        for col, attr, k, abs_ in (
                ("major_axis_px", "axis_major_length", "major", 0),
                ("minor_axis_px", "axis_minor_length", "minor", 1e-6),
                ("eccentricity", "eccentricity", "ecc", 1e-6)):
            a, b = num(r[col]), getattr(p, attr)
            d = abs(a - b) / max(abs(a), abs(b), 1e-300)
            if not close(a, b, 1e-9, abs_):
                bad[k].append((r["id"], a, b))
                worst[k] = max(worst[k], d)
        l1, l2 = p.inertia_tensor_eigvals
        a, b = num(r["orientation"]), p.orientation
        d = abs(math.remainder(a - b, math.pi))
        # exactly equal row and column variances (integer arithmetic):
        # skimage's special case a - c == 0 is taken on rounded moments,
        # so its sign of ±π/4 is a matter of rounding there
        rr, cc = p.coords[:, 0].astype(object), p.coords[:, 1].astype(object)
        n_ = len(rr)
        tie = (n_ * sum(rr * rr) - sum(rr) ** 2 ==
               n_ * sum(cc * cc) - sum(cc) ** 2)
        if d > 1e-9 and tie and abs(abs(a) - math.pi / 4) < 1e-12 and \
                abs(abs(b) - math.pi / 4) < 1e-9:
            stats["ties"] += 1
        elif l1 > 0 and (l1 - l2) / l1 > 1e-4:
            worst["orient"] = max(worst["orient"], d)
            if d > 1e-9:
                bad["orient"].append((r["id"], a, b))
        else:
            skipped_orient += 1
    say(not bad["centroid"], "%s: centroids within 1e-9 (worst %.2g)" %
        (name, worst["centroid"]), bad["centroid"][:5])
    say(not bad["mean"] and not minmax_bad,
        "%s: mean (within 1e-9, worst %.2g), min and max of %d band(s)" %
        (name, worst["mean"], bands), (bad["mean"][:5], minmax_bad[:5]))
    if conn == 8 or exact_perimeter:
        say(not bad["perimeter"],
            "%s: perimeter equals skimage's perimeter(neighbourhood=4)" %
            name, bad["perimeter"][:5])
    else:
        diag("%s: 4-connected perimeter agrees with skimage on %d of %d "
             "objects" % (name, perim_agree, len(pairs)))
        stats["perim4"][0] += perim_agree
        stats["perim4"][1] += len(pairs)
    say(not bad["major"] and not bad["minor"] and not bad["ecc"],
        "%s: major/minor axis and eccentricity within 1e-9 relative" % name,
        (bad["major"][:3], bad["minor"][:3], bad["ecc"][:3]))
    say(not bad["orient"],
        "%s: orientation within 1e-9 (%d isotropic objects not compared)" %
        (name, skipped_orient), bad["orient"][:5])
    edge_bad = [r["id"] for r, p in pairs
                if int(r["edge"]) != int(p.bbox[0] == 0 or p.bbox[1] == 0 or
                                         p.bbox[2] == mask.shape[0] or
                                         p.bbox[3] == mask.shape[1])]
    say(not edge_bad, "%s: edge flags objects touching the image edge" %
        name, edge_bad[:5])

    if features is None:
        return
    say(len(features) == len(rows),
        "%s: one GeoJSON feature per CSV row" % name,
        "%d features" % len(features))
    if not HAVE_SHAPELY:
        return
    invalid, wrong = [], []
    by_id = {int(num(r["id"])): (r, p) for r, p in pairs}
    for f in features:
        meas = f["properties"]["measurements"]
        if f["properties"].get("objectType") != "detection":
            wrong.append("objectType")
        g = shapely.geometry.shape(f["geometry"])
        if not g.is_valid:
            from shapely.validation import explain_validity
            invalid.append((meas["id"], explain_validity(g)))
            continue
        r, p = by_id[int(meas["id"])]
        minx, miny, maxx, maxy = g.bounds
        if (g.area != p.area or
                (miny, minx, maxy, maxx) != tuple(float(v) for v in p.bbox) or
                not close(g.centroid.x - 0.5, p.centroid[1], 1e-9, 1e-9) or
                not close(g.centroid.y - 0.5, p.centroid[0], 1e-9, 1e-9)):
            wrong.append((meas["id"], g.area, p.area, g.bounds, p.bbox))
            continue
        if len(p.coords) < 20000:
            boxes = runs_of(p.image, p.bbox[0], p.bbox[1])
            ref = shapely.ops.unary_union(
                [shapely.geometry.box(*b) for b in boxes])
            if g.symmetric_difference(ref).area != 0:
                wrong.append((meas["id"], "pixels differ"))
    stats["features"] += len(features)
    say(not invalid, "%s: every geometry valid (shapely is_valid)" % name,
        invalid[:5])
    say(not wrong, "%s: polygons cover exactly the object's pixels (area, "
        "bounds, centroid, union of its pixel squares)" % name, wrong[:5])


def check_real(csv_path, geojson_path, mask_path, rgb_path, x, y, ds):
    """A crop at (x, y), downsampled by ds: the objects of its mask (as
    slidepipe saved it) in level-0 pixels, cut objects flagged."""
    mask = tifffile.TiffFile(mask_path).pages[0].asarray() > 0
    rgb = tifffile.TiffFile(rgb_path).pages[0].asarray()
    rows = read_csv(csv_path)
    lab, n = ndi.label(mask, structure=STRUCT[8])
    props = regionprops(lab, intensity_image=rgb)
    say(len(rows) == n and n > 10, "%d objects, as scipy on the saved "
        "mask (%d × %d)" % (n, mask.shape[1], mask.shape[0]),
        "slidepipe: %d" % len(rows))
    theirs = {}
    for p in props:
        b = p.bbox
        k = (x + b[1] * ds, y + b[0] * ds, (b[3] - b[1]) * ds,
             (b[2] - b[0]) * ds, p.area)
        theirs[k] = p
    bad, edge_bad, mean_bad, outside = [], [], [], []
    h, w = mask.shape
    for r in rows:
        k = (num(r["bbox_x"]), num(r["bbox_y"]), num(r["bbox_w"]),
             num(r["bbox_h"]), int(r["area_px"]))
        p = theirs.get(k)
        if p is None:
            bad.append(k)
            continue
        cy, cx = p.centroid
        if (abs(num(r["centroid_x"]) - (x + (cx + 0.5) * ds)) > 1e-9 or
                abs(num(r["centroid_y"]) - (y + (cy + 0.5) * ds)) > 1e-9):
            bad.append((k, "centroid"))
        cut = (p.bbox[0] == 0 or p.bbox[1] == 0 or p.bbox[2] == h or
               p.bbox[3] == w)
        if int(r["edge"]) != int(cut):
            edge_bad.append(r["id"])
        for b, s in enumerate(("_r", "_g", "_b")):
            if abs(num(r["mean" + s]) - p.intensity_mean[b]) > 1e-9:
                mean_bad.append(r["id"])
        if not (x <= num(r["bbox_x"]) and
                num(r["bbox_x"]) + num(r["bbox_w"]) <= x + w * ds and
                y <= num(r["bbox_y"]) and
                num(r["bbox_y"]) + num(r["bbox_h"]) <= y + h * ds):
            outside.append(r["id"])
    say(not bad, "bounding boxes (x + column × %g) and centroids (x + "
        "(column + 0.5) × %g) in level-0 pixels" % (ds, ds), bad[:5])
    say(not outside, "every object inside the crop", outside[:5])
    cut = sum(int(r["edge"]) for r in rows)
    say(not edge_bad and cut > 0, "the %d objects cut by the crop are "
        "flagged edge, no other" % cut, edge_bad[:5])
    say(not mean_bad, "mean RGB of the source's pixels (the region saved "
        "by the same chain) within 1e-9", mean_bad[:5])
    if HAVE_SHAPELY:
        with open(geojson_path) as f:
            doc = json.load(f)
        invalid = [f["properties"]["measurements"]["id"]
                   for f in doc["features"]
                   if not shapely.geometry.shape(f["geometry"]).is_valid]
        wrong = []
        for f in doc["features"]:
            g = shapely.geometry.shape(f["geometry"])
            m = f["properties"]["measurements"]
            if g.area != m["area_px"] * ds * ds or \
                    g.bounds != (m["bbox_x"], m["bbox_y"],
                                 m["bbox_x"] + m["bbox_w"],
                                 m["bbox_y"] + m["bbox_h"]):
                wrong.append(m["id"])
        say(not invalid and not wrong and len(doc["features"]) == n,
            "GeoJSON: %d valid polygons in level-0 pixels, area = area_px "
            "× %g², bounds = bbox" % (len(doc["features"]), ds),
            (invalid[:5], wrong[:5]))
        um = [f for f in doc["features"]
              if "area_um2" in f["properties"]["measurements"]]
        say(len(um) == n, "GeoJSON: µm measurements present (the slide "
            "has an mpp)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slidepipe", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--seed", default="1")
    ap.add_argument("--real", nargs=7)
    args = ap.parse_args()
    if args.real:
        c, g, m, r, x, y, ds = args.real
        check_real(c, g, m, r, float(x), float(y), float(ds))
        return
    seed = (random.SystemRandom().randrange(1 << 30)
            if args.seed == "random" else int(args.seed))
    print("# seed %d (rerun: tests/label.py --seed %d)" % (seed, seed))
    rng = np.random.default_rng(seed)
    stats = {"perim4": [0, 0], "features": 0, "ties": 0}
    kinds = ["blobs", "spiral", "diagonal", "pixels", "tiles", "narrow",
             "full", "empty"]
    for i, kind in enumerate(kinds):
        mask = make_case(rng, kind)
        h, w = mask.shape
        grey = np.where(mask, rng.integers(129, 256, mask.shape),
                        rng.integers(0, 129, mask.shape)).astype(np.uint8)
        src = os.path.join(args.tmp, "%s.tif" % kind)
        tiled = kind in ("tiles", "blobs", "full")
        tifffile.imwrite(src, grey, tile=(256, 256) if tiled else None,
                         photometric="minisblack")
        for conn in (8, 4):
            name = "%s %d×%d %d-connected" % (kind, w, h, conn)
            out = os.path.join(args.tmp, "%s-%d.csv" % (kind, conn))
            gj = os.path.join(args.tmp, "%s-%d.geojson" % (kind, conn))
            rc, so, se = run([args.slidepipe, "-q", "load", src, "!",
                              "threshold", "value=128", "!", "label",
                              "objects=" + out, "geojson=" + gj,
                              "connectivity=%d" % conn])
            if not say(rc == 0, "%s: label exits 0" % name, se):
                continue
            rows = read_csv(out)
            with open(gj) as f:
                doc = json.load(f)
            say(doc.get("type") == "FeatureCollection",
                "%s: GeoJSON is a FeatureCollection" % name)
            compare(name, mask, grey, conn, rows, doc["features"], stats)

    # a 0/255 mask with a separate RGB intensity image
    mask = blobs_with_holes(rng, 333, 517, 50, 25)
    rgb = rng.integers(0, 256, mask.shape + (3,)).astype(np.uint8)
    mpath = os.path.join(args.tmp, "mask.tif")
    ipath = os.path.join(args.tmp, "rgb.tif")
    tifffile.imwrite(mpath, (mask * 255).astype(np.uint8),
                     photometric="minisblack")
    tifffile.imwrite(ipath, rgb, photometric="rgb")
    out = os.path.join(args.tmp, "rgb.csv")
    rc, so, se = run([args.slidepipe, "-q", "load", mpath, "!", "label",
                      "objects=" + out, "intensity=" + ipath])
    if say(rc == 0, "mask + RGB intensity=FILE: exits 0", se):
        compare("mask + RGB intensity", mask, rgb, 8, read_csv(out), None,
                stats)
    rc, so, se = run([args.slidepipe, "-q", "load", mpath, "!", "label",
                      "objects=" + out, "intensity=load " + ipath +
                      " ! crop 0 0 %d %d" % (mask.shape[1], mask.shape[0])])
    if say(rc == 0, "mask + intensity=PIPELINE: exits 0", se):
        compare("mask + intensity pipeline", mask, rgb, 8, read_csv(out),
                None, stats)
    rc, so, se = run([args.slidepipe, "-q", "load", mpath, "!", "label",
                      "objects=" + out, "intensity=none", "min-area=30"])
    if say(rc == 0, "intensity=none min-area=30: exits 0", se):
        rows = read_csv(out)
        lab, n = ndi.label(mask, structure=STRUCT[8])
        areas = np.bincount(lab.ravel())[1:]
        say(len(rows) == int((areas >= 30).sum()) and
            sorted(int(r["area_px"]) for r in rows) ==
            sorted(int(a) for a in areas if a >= 30),
            "min-area=30 keeps exactly the objects of 30 px or more (%d of "
            "%d)" % ((areas >= 30).sum(), n), "%d rows" % len(rows))
        say("mean" not in rows[0] if rows else True,
            "intensity=none: no intensity columns")
        say([int(r["id"]) for r in rows] == list(range(1, len(rows) + 1)),
            "ids are 1 … N in file order, dropped objects take none")
    # fill-holes: background components (the other connectivity) that
    # touch no edge and border one object only join it
    for kind in ("blobs", "diagonal", "spiral"):
        mask = make_case(rng, kind)
        grey = np.where(mask, rng.integers(129, 256, mask.shape),
                        rng.integers(0, 129, mask.shape)).astype(np.uint8)
        src = os.path.join(args.tmp, "fill-%s.tif" % kind)
        tifffile.imwrite(src, grey, photometric="minisblack")
        for conn, max_hole in ((8, None), (4, None), (8, 20)):
            lab, n = ndi.label(mask, structure=STRUCT[conn])
            bg, nb = ndi.label(~mask, structure=STRUCT[12 - conn])
            filled = mask.copy()
            h, w = mask.shape
            holes = 0
            for sl, i in zip(ndi.find_objects(bg), range(1, nb + 1)):
                if sl[0].start == 0 or sl[1].start == 0 or \
                        sl[0].stop == h or sl[1].stop == w:
                    continue
                comp = bg == i
                if max_hole is not None and comp.sum() > max_hole:
                    continue
                ring = ndi.binary_dilation(comp, STRUCT[4]) & mask
                if len(np.unique(lab[ring])) == 1:
                    filled |= comp
                    holes += 1
            name = "fill-holes %s %d-connected%s" % (
                kind, conn, "" if max_hole is None else
                " max-hole=%d" % max_hole)
            out = os.path.join(args.tmp, "fill-%s-%d.csv" % (kind, conn))
            gj = out.replace(".csv", ".geojson")
            cmd = [args.slidepipe, "-q", "load", src, "!", "threshold",
                   "value=128", "!", "label", "objects=" + out,
                   "geojson=" + gj, "connectivity=%d" % conn, "fill-holes"]
            if max_hole is not None:
                cmd.append("max-hole=%d" % max_hole)
            rc, so, se = run(cmd)
            if not say(rc == 0, "%s: exits 0" % name, se):
                continue
            diag("%s: %d holes filled" % (name, holes))
            with open(gj) as f:
                doc = json.load(f)
            compare(name, filled, grey, conn, read_csv(out), doc["features"],
                    stats, exact_perimeter=True)

    p4 = stats["perim4"]
    if p4[1]:
        diag("4-connected perimeters: %d of %d objects equal skimage's "
             "(%.2f %%)" % (p4[0], p4[1], 100.0 * p4[0] / p4[1]))
    diag("GeoJSON features checked with shapely: %d" % stats["features"])
    diag("objects with exactly equal row and column variances where skimage's "
         "rounding gave the other sign of π/4: %d" % stats["ties"])


if __name__ == "__main__":
    main()
