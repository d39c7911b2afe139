#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Planes (channels, z planes, time points) against tifffile and numpy.

  shared   the OME z-series of ../shared/images (C 3 x Z 5, int8, stored
           XYZCT): every plane on its own, the whole file and one channel
           as OME-TIFF, a selection of channels and planes, the channels
           operator, project max along z per channel
  stack    a generated 16-bit multi-page TIFF (12 pages, uncompressed and
           LZW pages, full 0..65535 range): random crops and downsamples
           of all pages against numpy's box mean, page selections,
           project max/min/mean/sum along z
  ome      a generated 16-bit OME-TIFF pyramid (C 2 named and coloured,
           Z 3, T 1, SubIFD levels, physical sizes): random crops and
           downsamples saved as OME-TIFF, pixels and OME-XML; a channel
           selection keeps its name and colour

Cases are random but seeded (--seed, printed). The files it makes are
left in --tmp (stack.tif, pyramid.ome.tif) for tests/stacks.sh.

Prints one line per check, "ok NAME" or "not ok NAME", and "# ..."
diagnostics; tests/stacks.sh turns them into TAP.
"""
import argparse
import os
import random
import xml.etree.ElementTree as ET

import numpy as np
import scipy.ndimage as ndi
import tifffile

from tap import Fail, check, diag, run, say, skip  # tests/tap.py

ZSERIES = "images/multi-channel-z-series.ome.tif"


def sp(args, *argv):
    """Runs slidepipe; raises Fail (with its stderr) unless it exits 0."""
    cmd = [args.slidepipe, "-q"] + [str(a) for a in argv]
    rc, _, err = run(cmd)
    if rc != 0:
        raise Fail("exit %d: %s\n%s" % (rc, " ".join(cmd), err.strip()))


# what tifffile decodes without the imagecodecs package: none, deflate
# (both tags), LZMA, PackBits
TIFFFILE_CODECS = {1, 8, 32946, 34925, 32773}


def readable(path):
    """path, or a copy that libtiff's tiffcp wrote uncompressed when
    tifffile cannot decode a page of it (LZW, zstd, JPEG). The copy keeps
    the pages of the main chain and the OME-XML, not the SubIFDs."""
    with tifffile.TiffFile(path) as t:
        codes = set(int(p.compression) for p in t.pages)
    if codes <= TIFFFILE_CODECS:
        return path
    plain = path + ".plain.tif"
    rc, _, err = run(["tiffcp", "-c", "none", path, plain])
    if rc != 0:
        raise Fail("tiffcp -c none %s: %s" % (path, err.strip()))
    return plain


def pages_of(path):
    """Every page of the main IFD chain (SubIFDs are not pages)."""
    with tifffile.TiffFile(readable(path)) as t:
        return [p.asarray() for p in t.pages]


def same(what, got, want):
    if got.dtype != want.dtype:
        raise Fail("%s: dtype %s, expected %s" % (what, got.dtype, want.dtype))
    if got.shape != want.shape:
        raise Fail("%s: shape %s, expected %s" % (what, got.shape, want.shape))
    if not np.array_equal(got, want):
        d = got.astype(np.int64) - want.astype(np.int64)
        n = int(np.count_nonzero(d))
        idx = np.unravel_index(int(np.argmax(np.abs(d))), d.shape)
        raise Fail("%s: %d of %d values differ, the largest by %d at %s "
                   "(%s, expected %s)" % (what, n, d.size, int(d[idx]), idx,
                                          got[idx], want[idx]))


def near(what, got, want, dtype, tol):
    """got (of dtype) is want (floats) within tol."""
    if got.dtype != np.dtype(dtype):
        raise Fail("%s: dtype %s, expected %s" % (what, got.dtype, dtype))
    if got.shape != want.shape:
        raise Fail("%s: shape %s, expected %s" % (what, got.shape, want.shape))
    d = np.abs(got.astype(np.float64) - want)
    if d.max() > tol:
        idx = np.unravel_index(int(np.argmax(d)), d.shape)
        raise Fail("%s: %d of %d values off by more than %g, the largest by "
                   "%.4f at %s (%s, expected %.4f)" % (
                       what, int((d > tol).sum()), d.size, tol, d[idx], idx,
                       got[idx], want[idx]))
    return float(d.max())


def box_mean(a, f):
    """numpy's box mean of the last two axes by whole factor f."""
    h, w = a.shape[-2:]
    b = a.reshape(a.shape[:-2] + (h // f, f, w // f, f))
    return b.astype(np.float64).mean(axis=(-3, -1))


# ----------------------------------------------------------- OME-XML

def ome_pixels(path):
    """(Pixels attributes, [Channel attributes]) of image 0, and the
    series' CZYX array as tifffile reads it (axes rearranged: T, when
    there, must be 1)."""
    with tifffile.TiffFile(path) as t:
        if not t.is_ome:
            raise Fail("%s: tifffile does not see an OME-TIFF" % path)
        xml = t.ome_metadata
    with tifffile.TiffFile(readable(path)) as t:
        s = t.series[0]
        arr = s.levels[0].asarray() if s.levels else s.asarray()
        axes = s.axes
    root = ET.fromstring(xml)
    ns = {"o": root.tag[1:].split("}")[0]} if root.tag.startswith("{") else {}
    pre = "o:" if ns else ""
    px = root.find(".//%sImage/%sPixels" % (pre, pre), ns)
    if px is None:
        raise Fail("%s: no Image/Pixels in the OME-XML" % path)
    chans = [c.attrib for c in px.findall("%sChannel" % pre, ns)]
    # the array as C, Z, Y, X whatever the order tifffile gives
    for ax in "CZ":
        if ax not in axes:
            arr = arr[np.newaxis]
            axes = ax + axes
    if "T" in axes:
        if arr.shape[axes.index("T")] != 1:
            raise Fail("%s: more than one time point" % path)
        arr = arr.take(0, axis=axes.index("T"))
        axes = axes.replace("T", "")
    if sorted(axes) != sorted("CZYX"):
        raise Fail("%s: tifffile's axes %s" % (path, s.axes))
    arr = np.transpose(arr, [axes.index(a) for a in "CZYX"])
    return px.attrib, chans, arr, s.axes


def attr_is(what, attrs, name, want):
    got = attrs.get(name)
    if got != str(want):
        raise Fail("%s: %s=%r, expected %r" % (what, name, got, str(want)))


def attr_near(what, attrs, name, want):
    got = attrs.get(name)
    try:
        v = float(got)
    except (TypeError, ValueError):
        raise Fail("%s: %s=%r, expected %g" % (what, name, got, want))
    if abs(v - want) > 1e-6 * max(1.0, abs(want)):
        raise Fail("%s: %s=%r, expected %g" % (what, name, got, want))


# ------------------------------------------------- the shared z-series

def shared_checks(args):
    path = os.path.join(args.shared, ZSERIES)
    if not os.path.isfile(path):
        skip("OME z-series (int8, C 3 x Z 5)",
             "%s absent (the shared images are not beside the repository)" % path)
        return
    with tifffile.TiffFile(path) as t:
        a = t.series[0].asarray()
        axes = t.series[0].axes
    if not say(axes == "CZYX" and a.shape == (3, 5, 167, 439) and a.dtype == np.int8,
               "z-series: tifffile reads CZYX (3, 5, 167, 439) int8",
               "axes %s shape %s dtype %s" % (axes, a.shape, a.dtype)):
        return
    neg = int((a < 0).sum())
    say(neg > 0, "z-series: the file has negative values (%d pixels, min %d)"
        % (neg, int(a.min())))
    d = args.tmp

    # (a) every plane on its own: the file stores them z fastest (XYZCT),
    # so IFD z + 5c is plane (c, z)
    bad, negs = [], 0
    for c in range(3):
        for z in range(5):
            out = os.path.join(d, "zs-c%dz%d.tif" % (c, z))
            try:
                sp(args, "load", path, "c=%d" % c, "z=%d" % z, "!",
                   "save", out, "compression=lzw", "pyramid=false")
                pages = pages_of(out)
                if len(pages) != 1:
                    raise Fail("%d pages, expected 1" % len(pages))
                same("c=%d z=%d" % (c, z), pages[0], a[c, z])
                negs += int((pages[0] < 0).sum())
            except Fail as e:
                bad.append("c=%d z=%d: %s" % (c, z, e))
            finally:
                if os.path.exists(out):
                    os.unlink(out)
    say(not bad, "z-series: each of the 15 planes (load c=C z=Z ! save .tif) "
        "is tifffile's [C, Z] exactly, int8", "\n".join(bad))
    say(not bad and negs == neg,
        "z-series: the negative values survive (%d of %d)" % (negs, neg))

    # (b) the whole file as one multi-page TIFF: plane order c fastest
    def all_tif():
        out = os.path.join(d, "zs-all.tif")
        sp(args, "load", path, "!", "save", out, "compression=lzw", "pyramid=false")
        pages = pages_of(out)
        if len(pages) != 15:
            raise Fail("%d pages, expected 15" % len(pages))
        for z in range(5):
            for c in range(3):
                same("page %d (c=%d z=%d)" % (c + 3 * z, c, z), pages[c + 3 * z], a[c, z])
    check("z-series: load ! save .tif: 15 pages, page c + 3z is plane (c, z)", all_tif)

    # (b) as OME-TIFF
    def all_ome():
        out = os.path.join(d, "zs-all.ome.tif")
        sp(args, "load", path, "!", "save", out)
        px, _, arr, taxes = ome_pixels(out)
        diag("z-series as OME-TIFF: tifffile's axes %s, shape %s" % (taxes, arr.shape))
        for k, v in (("SizeC", 3), ("SizeZ", 5), ("SizeT", 1), ("SizeX", 439),
                     ("SizeY", 167), ("Type", "int8"), ("DimensionOrder", "XYCZT")):
            attr_is("OME-XML", px, k, v)
        same("series 0 as CZYX", arr, a)
    check("z-series: load ! save .ome.tif: SizeC 3, SizeZ 5, SizeT 1, int8, "
          "XYCZT; series 0 as CZYX (3, 5, 167, 439) equals the original", all_ome)

    def one_channel():
        out = os.path.join(d, "zs-c1.ome.tif")
        sp(args, "load", path, "c=1", "!", "save", out)
        px, _, arr, _ = ome_pixels(out)
        attr_is("OME-XML", px, "SizeC", 1)
        attr_is("OME-XML", px, "SizeZ", 5)
        attr_is("OME-XML", px, "SizeT", 1)
        same("channel 1", arr, a[1:2])
    check("z-series: load c=1 ! save .ome.tif: SizeC 1, SizeZ 5, channel 1's planes",
          one_channel)

    def selection():
        out = os.path.join(d, "zs-sel.ome.tif")
        sp(args, "load", path, "c=0,2", "z=1-3", "!", "save", out)
        px, _, arr, _ = ome_pixels(out)
        attr_is("OME-XML", px, "SizeC", 2)
        attr_is("OME-XML", px, "SizeZ", 3)
        same("c=0,2 z=1-3", arr, a[[0, 2]][:, 1:4])
    check("z-series: load c=0,2 z=1-3 ! save .ome.tif: SizeC 2, SizeZ 3, those planes",
          selection)

    def channels_op():
        out = os.path.join(d, "zs-ch.ome.tif")
        sp(args, "load", path, "!", "channels", "0,2", "!", "save", out)
        px, _, arr, _ = ome_pixels(out)
        attr_is("OME-XML", px, "SizeC", 2)
        attr_is("OME-XML", px, "SizeZ", 5)
        same("channels 0,2", arr, a[[0, 2]])
    check("z-series: load ! channels 0,2 ! save .ome.tif: SizeC 2, SizeZ 5, those planes",
          channels_op)

    # (e) maximum along z, per channel
    bad = []
    for c in range(3):
        out = os.path.join(d, "zs-max%d.tif" % c)
        try:
            sp(args, "load", path, "c=%d" % c, "!", "project", "max", "axis=z", "!",
               "save", out, "compression=lzw", "pyramid=false")
            pages = pages_of(out)
            if len(pages) != 1:
                raise Fail("%d pages, expected 1" % len(pages))
            same("channel %d" % c, pages[0], a[c].max(axis=0))
        except Fail as e:
            bad.append(str(e))
    say(not bad, "z-series: load c=C ! project max axis=z is numpy's max over z "
        "exactly, int8, for each channel", "\n".join(bad))


# -------------------------------------------- a generated 16-bit stack

def make_stack(rng, path, tmp, n=12, h=400, w=600):
    """n pages h x w uint16: smooth blobs correlated along z plus noise,
    stretched over 0..65535 and clipped (both ends occur). Written one
    page per file by tifffile, LZW (with and without the horizontal
    predictor) by tiffcp for some, then joined by tiffcp, which keeps
    each page's compression."""
    smooth = ndi.gaussian_filter(rng.normal(size=(n, h, w)), sigma=(1.5, 14, 14))
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    v = smooth * 70000.0 - 2000.0 + rng.normal(scale=900.0, size=smooth.shape)
    stack = np.clip(np.rint(v), 0, 65535).astype(np.uint16)
    parts = []
    for i in range(n):
        raw = os.path.join(tmp, "page%02d-raw.tif" % i)
        tifffile.imwrite(raw, stack[i], photometric="minisblack", metadata=None,
                         rowsperstrip=32 + 16 * (i % 3))
        comp = ("none", "lzw", "lzw:2")[i % 3]
        if comp == "none":
            parts.append(raw)
            continue
        p = os.path.join(tmp, "page%02d-%s.tif" % (i, comp.replace(":", "")))
        rc, _, err = run(["tiffcp", "-c", comp, raw, p])
        if rc != 0:
            raise RuntimeError("tiffcp -c %s failed: %s" % (comp, err))
        os.unlink(raw)
        parts.append(p)
    rc, _, err = run(["tiffcp"] + parts + [path])
    if rc != 0:
        raise RuntimeError("tiffcp (join) failed: %s" % err)
    for p in parts:
        os.unlink(p)
    return stack


def stack_checks(args, rng):
    d = args.tmp
    path = os.path.join(d, "stack.tif")
    stack = make_stack(rng, path, d)
    n, h, w = stack.shape
    with tifffile.TiffFile(path) as t:
        comps = sorted(set("%s%s" % (p.compression.name, "+predictor" if p.predictor > 1 else "")
                           for p in t.pages))
    back = np.stack(pages_of(path))
    say(np.array_equal(back, stack) and int(stack.min()) == 0 and
        int(stack.max()) == 65535,
        "stack: %d pages %d x %d uint16, 0..65535, %s (libtiff reads them back)"
        % (n, w, h, ", ".join(comps)))

    # (c) crops and downsamples of every page against numpy's box mean
    factors = [2, 3, 4] + [rng.choice([2, 3, 4]) for _ in range(2)]
    for k, f in enumerate(factors):
        cw = f * int(rng.integers(1, w // f + 1))
        ch = f * int(rng.integers(1, h // f + 1))
        x = int(rng.integers(0, w - cw + 1))
        y = int(rng.integers(0, h - ch + 1))
        name = "stack case %d: page=all ! crop %d %d %d %d ! downsample %d" % (
            k + 1, x, y, cw, ch, f)

        def case():
            out = os.path.join(d, "st-case%d.tif" % k)
            sp(args, "load", path, "page=all", "!", "crop", x, y, cw, ch, "!",
               "downsample", f, "!", "save", out, "compression=deflate")
            pages = pages_of(out)
            if len(pages) != n:
                raise Fail("%d pages, expected %d (levels are SubIFDs)" % (len(pages), n))
            want = box_mean(stack[:, y:y + ch, x:x + cw], f)
            worst = 0.0
            for i in range(n):
                worst = max(worst, near("page %d" % i, pages[i], want[i], np.uint16, 0.5))
            diag("%s: largest difference from the box mean %.3f" % (name, worst))
            os.unlink(out)
        check(name + ": %d pages, each the box mean within 0.5" % n, case)

    # page selections
    for sel, idx in (("3", [3]), ("2-5", [2, 3, 4, 5]), (None, [0]),
                     ("0,7,9-11", [0, 7, 9, 10, 11])):
        def pick():
            out = os.path.join(d, "st-pick.tif")
            argv = ["load", path] + (["page=" + sel] if sel else []) + \
                ["!", "save", out, "compression=lzw", "pyramid=false"]
            sp(args, *argv)
            pages = pages_of(out)
            if len(pages) != len(idx):
                raise Fail("%d pages, expected %d" % (len(pages), len(idx)))
            for j, i in enumerate(idx):
                same("output page %d (source page %d)" % (j, i), pages[j], stack[i])
            os.unlink(out)
        check("stack: %s gives pages %s exactly" % (
            "page=" + sel if sel else "no page= (default 0)",
            ",".join(map(str, idx))), pick)

    # (e) projections along z
    for op, want, dt in (("max", stack.max(axis=0), np.uint16),
                         ("min", stack.min(axis=0), np.uint16),
                         ("mean", stack.astype(np.float64).mean(axis=0), None),
                         ("sum", stack.astype(np.float64).sum(axis=0), None)):
        def proj():
            out = os.path.join(d, "st-%s.tif" % op)
            sp(args, "load", path, "page=all", "!", "project", op, "axis=z", "!",
               "save", out, "compression=lzw", "pyramid=false")
            pages = pages_of(out)
            if len(pages) != 1:
                raise Fail("%d pages, expected 1" % len(pages))
            if dt is not None:
                same(op, pages[0], want.astype(dt))
            else:
                if pages[0].dtype.kind != "f":
                    raise Fail("%s: dtype %s, expected a float type" % (op, pages[0].dtype))
                near(op, pages[0], want, pages[0].dtype, 1e-6 * float(np.abs(want).max()))
            os.unlink(out)
        check("stack: page=all ! project %s axis=z is numpy's %s over the pages%s" % (
            op, op, " exactly, uint16" if dt is not None else ", as floats"), proj)

    def default_axis():
        out = os.path.join(d, "st-maxdef.tif")
        sp(args, "load", path, "page=all", "!", "project", "max", "!",
           "save", out, "compression=lzw", "pyramid=false")
        pages = pages_of(out)
        if len(pages) != 1:
            raise Fail("%d pages, expected 1" % len(pages))
        same("max", pages[0], stack.max(axis=0))
    check("stack: project max without axis= is along z", default_axis)


# ------------------------------------- a generated 16-bit OME pyramid

CHANNELS = ["DAPI", "FITC"]
COLORS = [0x0000FFFF, 0x00FF00FF]  # OME RGBA: blue, green


def make_ome_pyramid(rng, path, c=2, z=3, h=384, w=512):
    """CZYX uint16 with two SubIFD levels, each level exactly the 2 x 2
    box mean of the one above: every 2 x 2 block of a level is its parent
    pixel plus (+a, -a; +b, -b). Whatever level a reader picks for a
    downsample on that grid, the box mean of level 0 comes out."""
    smooth = ndi.gaussian_filter(rng.normal(size=(c, z, h // 4, w // 4)),
                                 sigma=(0, 0.7, 4, 4))
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    lev2 = np.rint(4000 + smooth * 56000 +
                   rng.normal(scale=500, size=smooth.shape)).astype(np.int64)

    def refine(parent):
        pc, pz, ph, pw = parent.shape
        a = rng.integers(-800, 801, size=parent.shape)
        b = rng.integers(-800, 801, size=parent.shape)
        child = np.empty((pc, pz, ph * 2, pw * 2), np.int64)
        child[..., 0::2, 0::2] = parent + a
        child[..., 0::2, 1::2] = parent - a
        child[..., 1::2, 0::2] = parent + b
        child[..., 1::2, 1::2] = parent - b
        return child

    lev1 = refine(lev2)
    lev0 = refine(lev1)
    levels = [lv.astype(np.uint16) for lv in (lev0, lev1, lev2)]
    assert all(np.array_equal(box_mean(lev0, 2 ** k), levels[k]) for k in (1, 2))
    meta = {"axes": "CZYX", "Channel": {"Name": CHANNELS, "Color": COLORS},
            "PhysicalSizeX": 0.5, "PhysicalSizeXUnit": "µm",
            "PhysicalSizeY": 0.5, "PhysicalSizeYUnit": "µm",
            "PhysicalSizeZ": 2.0, "PhysicalSizeZUnit": "µm"}
    opts = dict(tile=(128, 128), compression="zlib", photometric="minisblack")
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(levels[0], subifds=2, metadata=meta, **opts)
        for lv in levels[1:]:
            tif.write(lv, subfiletype=1, metadata=None, **opts)
    return levels[0]


def ome_checks(args, rng):
    d = args.tmp
    path = os.path.join(d, "pyramid.ome.tif")
    src = make_ome_pyramid(rng, path)
    c, z, h, w = src.shape
    with tifffile.TiffFile(path) as t:
        s = t.series[0]
        ok = t.is_ome and s.axes == "CZYX" and len(s.levels) == 3 and \
            np.array_equal(s.levels[0].asarray(), src)
    say(ok, "OME pyramid: C 2 x Z 3, %d x %d uint16, 3 levels as SubIFDs "
        "(tifffile reads it back)" % (w, h))

    # crops on the grid of the coarsest level (4 px), so that any level a
    # plan reads covers whole pixels
    # every compression that 16-bit planes may have, one per case
    for k, (f, comp) in enumerate(zip([1, 2, 4, 8], ["none", "lzw", "deflate", "zstd"])):
        m = max(f, 4)
        cw = m * int(rng.integers(1, w // m + 1))
        ch = m * int(rng.integers(1, h // m + 1))
        x = 4 * int(rng.integers(0, (w - cw) // 4 + 1))
        y = 4 * int(rng.integers(0, (h - ch) // 4 + 1))
        steps = ["crop", x, y, cw, ch] + (["!", "downsample", f] if f > 1 else [])
        name = "OME pyramid case %d: crop %d %d %d %d%s ! save .ome.tif compression=%s" % (
            k + 1, x, y, cw, ch, " ! downsample %d" % f if f > 1 else "", comp)

        def case():
            out = os.path.join(d, "om-case%d.ome.tif" % k)
            sp(args, "load", path, "!", *steps, "!", "save", out, "compression=" + comp)
            px, chans, arr, _ = ome_pixels(out)
            for key, v in (("SizeC", c), ("SizeZ", z), ("SizeT", 1),
                           ("SizeX", cw // f), ("SizeY", ch // f),
                           ("Type", "uint16"), ("DimensionOrder", "XYCZT")):
                attr_is("OME-XML", px, key, v)
            for key in ("PhysicalSizeX", "PhysicalSizeY"):
                attr_near("OME-XML", px, key, 0.5 * f)
                if px.get(key + "Unit", "µm") != "µm":
                    raise Fail("OME-XML: %sUnit=%r" % (key, px.get(key + "Unit")))
            attr_near("OME-XML", px, "PhysicalSizeZ", 2.0)
            names = [ch_.get("Name") for ch_ in chans]
            if names != CHANNELS:
                raise Fail("OME-XML: channel names %s, expected %s" % (names, CHANNELS))
            colors = [ch_.get("Color") for ch_ in chans]
            if colors != [str(v) for v in COLORS]:
                raise Fail("OME-XML: channel colours %s, expected %s" % (colors, COLORS))
            want = box_mean(src[:, :, y:y + ch, x:x + cw], f)
            worst = near("CZYX", arr, want, np.uint16, 0.5)
            diag("%s: largest difference from the box mean %.3f" % (name, worst))
            # the planes as pages, c fastest
            pages = pages_of(out)
            if len(pages) != c * z:
                raise Fail("%d pages, expected %d" % (len(pages), c * z))
            for zi in range(z):
                for ci in range(c):
                    same("page %d" % (ci + c * zi), pages[ci + c * zi], arr[ci, zi])
            # the pyramid: SubIFDs of each plane, down to one 256 px tile
            if max(cw, ch) // f > 256:
                with tifffile.TiffFile(out) as t:
                    nsub = [len(p.subifds or ()) for p in t.pages]
                if min(nsub) < 1:
                    raise Fail("SubIFDs per page %s: expected levels below %d x %d"
                               % (nsub, cw // f, ch // f))
                diag("%s: SubIFD levels per page %s" % (name, nsub))
        check(name + ": box mean within 0.5, SizeC 2 SizeZ 3 SizeT 1, uint16, "
              "names and colours, PhysicalSizeX/Y %g, Z 2" % (0.5 * f), case)


    # a channel selection keeps that channel's name and colour
    def one_channel():
        out = os.path.join(d, "om-c1.ome.tif")
        sp(args, "load", path, "c=1", "!", "save", out, "compression=deflate")
        px, chans, arr, _ = ome_pixels(out)
        attr_is("OME-XML", px, "SizeC", 1)
        attr_is("OME-XML", px, "SizeZ", z)
        names = [ch_.get("Name") for ch_ in chans]
        colors = [ch_.get("Color") for ch_ in chans]
        if names != CHANNELS[1:] or colors != [str(COLORS[1])]:
            raise Fail("OME-XML: channels %s colours %s, expected %s %s" % (
                names, colors, CHANNELS[1:], COLORS[1:]))
        same("channel 1", arr, src[1:2])
    check("OME pyramid: load c=1 ! save .ome.tif: SizeC 1, named FITC with its "
          "colour, its planes", one_channel)


def reduce_checks(args, rng):
    """load page=all ! downsample F straight from uncompressed strips
    (slidepipe averages them as it reads) against numpy's box mean, for
    every sample type, grey and RGB, sides the factor divides or not (the
    libvips path: within 0.5 too, except 8-bit, which libvips' integer
    shrink rounds twice, within 1), strips of 1 row, a few rows and a whole
    page."""
    types = ["uint8", "int8", "uint16", "int16", "uint32", "int32",
             "float32"]
    for case in range(10):
        dtype = types[case % len(types)]
        bands = 3 if case % 3 == 0 and dtype in ("uint8", "uint16") else 1
        f = int(rng.choice([2, 3, 4, 5]))
        h = int(rng.integers(2, 40)) * f + (int(rng.integers(1, f)) if case % 4 == 3 else 0)
        w = int(rng.integers(2, 40)) * f
        n = int(rng.integers(1, 4))
        info = np.iinfo(dtype) if dtype != "float32" else None
        lo, hi = (info.min, info.max) if info else (-1e6, 1e6)
        shape = (n, h, w, bands) if bands > 1 else (n, h, w)
        a = rng.uniform(lo, hi, shape)
        a = a.astype(dtype) if info is None else np.clip(np.rint(a), lo, hi).astype(dtype)
        rps = [1, 3, h][case % 3]
        path = os.path.join(args.tmp, "reduce%d.tif" % case)
        out = os.path.join(args.tmp, "reduce%d-out.tif" % case)
        tifffile.imwrite(path, a, photometric="rgb" if bands > 1 else "minisblack",
                         rowsperstrip=rps, metadata=None)
        name = ("reduce case %d: %d page(s) %d × %d × %d %s, rows per strip %d, "
                "downsample %d: each page the box mean" % (
                    case, n, w, h, bands, dtype, rps, f))

        def one():
            sp(args, "load", path, "page=all", "!", "downsample", f, "!",
               "save", out, "compression=deflate", "pyramid=false")
            pages = pages_of(out)
            if len(pages) != n:
                raise Fail("%d pages, expected %d" % (len(pages), n))
            for i, got in enumerate(pages):
                src = a[i]
                hh, ww = h // f * f, w // f * f
                if bands > 1:
                    want = np.stack([box_mean(src[:hh, :ww, b], f)
                                     for b in range(bands)], axis=-1)
                    got = got[:h // f, :w // f]
                else:
                    want = box_mean(src[:hh, :ww], f)
                    got = got[:h // f, :w // f]
                # 8-bit through libvips' integer shrink (a side the
                # factor does not divide) rounds twice: within 1
                tol = (1.0 if dtype == "uint8" and (h % f or w % f) else
                       0.5) if info else \
                    1e-3 * max(1.0, float(np.abs(want).max()))
                near("page %d" % i, got, want, dtype, tol)
        check(name, one)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slidepipe", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--shared", default="")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--only", choices=["shared", "stack", "ome", "reduce"],
                    action="append")
    args = ap.parse_args()
    seed = random.randrange(1 << 31) if args.seed == "random" else int(args.seed)
    print("# stacks.py: seed %d (STACKS_SEED=%d replays it)" % (seed, seed))
    parts = args.only or ["shared", "stack", "ome", "reduce"]
    # the same seed gives the same files and cases whatever --only says
    rngs = {"stack": np.random.default_rng([seed, 1]),
            "ome": np.random.default_rng([seed, 2]),
            "reduce": np.random.default_rng([seed, 3])}
    if "shared" in parts:
        shared_checks(args)
    if "stack" in parts:
        stack_checks(args, rngs["stack"])
    if "ome" in parts:
        ome_checks(args, rngs["ome"])
    if "reduce" in parts:
        reduce_checks(args, rngs["reduce"])


if __name__ == "__main__":
    main()
