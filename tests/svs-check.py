#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks of save's TIFF layouts (format=svs, generic, ome) for tests/svs.sh.

usage: svs-check.py make-aperio OUT [ICC]
         writes a small synthetic Aperio SVS (python3-tifffile): level 0
         1200 x 900 tiled 256, a stripped thumbnail, label 300 x 200 and
         macro 640 x 240 (NewSubfileType 1 and 9, named in their
         descriptions as Aperio does), "MPP = 0.25", "AppMag = 40"; with
         ICC (a profile file) embedded in level 0 as tag 34675
       svs-check.py svs OUT SRC DOWNSAMPLE TILE [noassoc]
         what OpenSlide (python3-openslide) reads of OUT, an svs save of a
         region of SRC downsampled by DOWNSAMPLE (1, 2 …), as lines
         "PASS name" / "FAIL name: why", one per assertion:
         vendor aperio; levels halved from level 0 down to one TILE tile;
         mpp-x/y = SRC's x DOWNSAMPLE, or absent when SRC has none;
         objective-power = SRC's / DOWNSAMPLE, or absent; thumbnail
         present, long side <= 1024, close to the output (mean absolute
         difference < 8 against level 0 shrunk to its size); label and
         macro present exactly when SRC has them (not with noassoc), with
         SRC's pixels
       svs-check.py icc FILE
         the ICC profile (TIFF tag 34675) of FILE's first directory, as a
         sha256 hex digest, or "none"
       svs-check.py ome OUT
         what tifffile reads of an OME-TIFF: "levels N", "physical X Y"
         (from the OME-XML), "shapes W×H,…"
"""
import hashlib
import sys
import xml.etree.ElementTree as ET

import numpy as np

results = []


def report(name, ok, why=""):
    print("PASS %s" % name if ok else "FAIL %s: %s" % (name, why))


def make_aperio(out, icc=None):
    import tifffile

    extra = []
    if icc:
        data = open(icc, "rb").read()
        extra = [(34675, 7, len(data), data, True)]
    rng = np.random.default_rng(7)
    w, h = 1200, 900
    yy, xx = np.mgrid[0:h, 0:w]
    level0 = np.stack([(xx * 255 // w), (yy * 255 // h),
                       (128 + 100 * np.sin(xx / 40.0) * np.cos(yy / 30.0))], axis=-1).astype(np.uint8)
    thumb = level0[::4, ::4].copy()
    label = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    macro = rng.integers(0, 256, (240, 640, 3), dtype=np.uint8)
    head = "Aperio Image Library v12.0.0\r\n"
    keys = ("|AppMag = 40|MPP = 0.25|ScanScope ID = SYNTH|Left = 1.0"
            "|Top = 2.0|OriginalWidth = 1200|OriginalHeight = 900")
    with tifffile.TiffWriter(out) as t:
        t.write(level0, tile=(256, 256), photometric="rgb", metadata=None,
                description=head + "1200x900 (256x256) RAW" + keys,
                extratags=extra)
        t.write(thumb, photometric="rgb", metadata=None, rowsperstrip=16,
                description=head + "1200x900 -> 300x225 - " + keys)
        t.write(label, photometric="rgb", metadata=None, subfiletype=1,
                description="Aperio Image Library v12.0.0\nlabel 300x200")
        t.write(macro, photometric="rgb", metadata=None, subfiletype=9,
                description="Aperio Image Library v12.0.0\nmacro 640x240")


def near(a, b, rel=1e-6):
    return abs(a - b) <= rel * max(abs(a), abs(b))


def source_mpp(props, axis):
    """The source's pixel size as slidepipe reads it: OpenSlide's
    openslide.mpp-x/y, else (a generic TIFF, for which OpenSlide 3.4.1
    reports none) the resolution tags in pixels per cm or inch."""
    k = "openslide.mpp-" + axis
    if k in props:
        return float(props[k])
    res = props.get("tiff.%sResolution" % axis.upper())
    unit = props.get("tiff.ResolutionUnit")
    if res and float(res) > 0 and unit in ("centimeter", "inch"):
        return (10000.0 if unit == "centimeter" else 25400.0) / float(res)
    return None


def check_svs(out, src, ds, tile, assoc=True):
    import openslide

    o = openslide.OpenSlide(out)
    s = openslide.OpenSlide(src)
    op, sp = o.properties, s.properties
    report("vendor is aperio", op.get("openslide.vendor") == "aperio",
           op.get("openslide.vendor"))

    w, h = o.level_dimensions[0]
    want = [(w, h)]
    while not (w <= tile and h <= tile):
        w, h = max(1, w // 2), max(1, h // 2)
        want.append((w, h))
    report("every level, halved down to one tile: %s" %
           ",".join("%dx%d" % d for d in want),
           list(o.level_dimensions) == want, str(o.level_dimensions))

    for axis in "xy":
        k = "openslide.mpp-" + axis
        src_mpp = source_mpp(sp, axis)
        if src_mpp:
            exp = src_mpp * ds
            got = op.get(k)
            report("%s = source's %.6g x %g = %.6g" % (k, src_mpp, ds, exp),
                   got is not None and near(float(got), exp), got)
        else:
            report("%s absent, as in the source" % k, k not in op, op.get(k))
    k = "openslide.objective-power"
    if k in sp:
        exp = float(sp[k]) / ds
        got = op.get(k)
        report("%s = source's %s / %g = %g" % (k, sp[k], ds, exp),
               got is not None and near(float(got), exp), got)
    else:
        report("%s absent, as in the source" % k, k not in op, op.get(k))

    names = sorted(o.associated_images)
    exp = ["thumbnail"]
    if assoc:
        exp += [n for n in ("label", "macro") if n in s.associated_images]
    report("associated images %s" % ",".join(sorted(exp)),
           names == sorted(exp), ",".join(names))
    if "thumbnail" in o.associated_images:
        t = o.associated_images["thumbnail"]
        report("thumbnail long side <= 1024", max(t.size) <= 1024, str(t.size))
        ref = o.read_region((0, 0), 0, o.dimensions).convert("RGB")
        ref = ref.resize(t.size, resample=2)  # bilinear
        d = np.abs(np.asarray(t.convert("RGB"), dtype=np.int16) -
                   np.asarray(ref, dtype=np.int16)).mean()
        report("thumbnail shows the output (mean difference %.2f < 8)" % d,
               d < 8, "%.2f" % d)
    for n in ("label", "macro"):
        if n in names and n in s.associated_images:
            a = np.asarray(s.associated_images[n])
            b = np.asarray(o.associated_images[n])
            report("%s %dx%d: pixels equal the source's" %
                   (n, a.shape[1], a.shape[0]),
                   a.shape == b.shape and (a == b).all(),
                   "shapes %s %s" % (a.shape, b.shape))


def icc(path):
    import tifffile

    with tifffile.TiffFile(path) as t:
        tag = t.pages[0].tags.get(34675)
        if tag is None:
            print("none")
        else:
            print(hashlib.sha256(bytes(tag.value)).hexdigest())


def ome(path):
    import tifffile

    with tifffile.TiffFile(path) as t:
        s = t.series[0]
        print("levels %d" % len(s.levels))
        print("shapes " + ",".join("%d×%d" % (l.shape[1], l.shape[0])
                                   for l in s.levels))
        root = ET.fromstring(t.ome_metadata)
        ns = {"o": root.tag.split("}")[0].strip("{")}
        px = root.find(".//o:Pixels", ns)
        print("physical %s %s %s" % (px.get("PhysicalSizeX"),
                                     px.get("PhysicalSizeY"),
                                     px.get("PhysicalSizeXUnit")))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make-aperio":
        make_aperio(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    elif cmd == "svs":
        check_svs(sys.argv[2], sys.argv[3], float(sys.argv[4]),
                  int(sys.argv[5]), len(sys.argv) < 7)
    elif cmd == "icc":
        icc(sys.argv[2])
    elif cmd == "ome":
        ome(sys.argv[2])
    else:
        sys.exit("svs-check: unknown command " + cmd)
