#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Round-trip property test of slidepipe (issue 12).

Builds random pipelines (load [level=] ! crop ! [downsample] ! [threshold]
! save [options]) over random sources -- make-slide's synthetic slides of
random (odd) sizes, striped TIFFs, PNG and JPEG files, the real slides in
../shared/slides when present, and slidepipe's own earlier outputs of every
layout, codec and tile size -- and checks every output against independent
decoders (libvips' CLI, OpenSlide through python3-openslide, tifffile) and
an exact reference made with the `vips` CLI (crop, shrink, resize).

usage: roundtrip.py [--seed N|random] [--cases N] [--minutes M]
                    [--keep DIR] [--known-bugs skip|run] [--verbose]

  --seed S       the run's seed (default 1); "random" picks one
  --cases N      cases per seed (default 60)
  --minutes M    soak: run seeds S, S+1, ... (each N cases) until M minutes
                 have passed; the first failing case stops the run
  --keep DIR     keep the failing case's files (sources, output, log) in DIR
  --keep-going   soak: go on with the next seed after a failing one
  --known-bugs   skip (default): cases in KNOWN_BUGS below are reported as
                 TAP SKIP, not run; run: run them like every other case

Output is TAP: "# roundtrip: N cases, seed S", one line per case. A failing
case prints its seed, its number and its command line; `roundtrip.py --seed S
--cases K` (K = its number) replays the run up to it exactly, since every
source and every case comes from the seed alone.

Environment (set by `make check`): SLIDEPIPE, EXAMPLES, SHARED_DIR.
"""
import argparse
import math
import os
import random
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
    import openslide
    import tifffile
except ImportError as e:  # make check: skip cleanly
    print("1..0 # SKIP python3 module missing: %s" % e.name)
    sys.exit(0)

HERE = os.path.dirname(os.path.abspath(__file__))
SLIDEPIPE = os.environ.get("SLIDEPIPE") or os.path.join(HERE, "..", "src", "slidepipe")
EXAMPLES = os.environ.get("EXAMPLES") or os.path.join(HERE, "..", "examples")
SHARED_DIR = os.environ.get("SHARED_DIR") or os.path.join(HERE, "..", "..", "shared")
TIMEOUT = 300  # seconds per slidepipe run: more is a hang

# --------------------------------------------------------------- known bugs
# Cases that hit a bug already reported in the issue tracker are skipped in the fast `make check` run, each by the rule
# below, so that the rest stays green while the owner fixes it. The list is
# meant to be emptied: when a fix lands, delete its entry, and the cases it
# covered run (and must pass) again. `--known-bugs run` runs them anyway.
# Each entry: (id, what, predicate over a case dict).
KNOWN_BUGS = [
]


def libvips_pyramid(c):
    """Whether libvips' tiffsave writes the case's pyramid (lzw, deflate,
    zstd, webp, none, masks, every OME-TIFF), not slidepipe's JPEG writer:
    its levels also end at the first one 1 px wide or tall (save --help)."""
    sv = c["save"]
    comp = sv.get("compression")
    rgb_out = c["threshold"] is None and c["src"].bands == 3
    jpeg_writer = sv["ext"] != ".ome.tif" and rgb_out and comp in ("jpeg", "copy", "auto", None)
    # an .svs is written by slidepipe's own writer, masks too (grey JPEG)
    return not jpeg_writer and sv["ext"] != ".svs"


def known_bug(case):
    for kid, what, pred in KNOWN_BUGS:
        try:
            if pred(case):
                return kid, what
        except (KeyError, TypeError):
            pass
    return None


# ---------------------------------------------------------------- helpers
class Fail(Exception):
    pass


def run(argv, timeout=TIMEOUT):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, b"", b"timeout after %d s" % timeout
    return p.returncode, p.stdout, p.stderr


def vips(*args):
    rc, out, err = run(["vips"] + [str(a) for a in args], timeout=120)
    if rc != 0:
        raise Fail("reference: vips %s failed: %s" % (" ".join(map(str, args)),
                                                       err.decode(errors="replace").strip()))
    return out.decode().strip()


def read_v(path):
    """A .v file (libvips' own format) as a numpy array H x W x B (uchar)."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        magic = hdr[:4]
        if magic == b"\xb6\xa6\xf2\x08":
            w, h, b, _bbits, fmt = struct.unpack("<5i", hdr[4:24])
        else:
            w, h, b, _bbits, fmt = struct.unpack(">5i", hdr[4:24])
        if fmt != 0:
            raise Fail("reference: %s is not uchar (format %d)" % (path, fmt))
        data = np.frombuffer(f.read(w * h * b), dtype=np.uint8)
    return data.reshape(h, w, b)


class Scratch:
    def __init__(self, root):
        self.root = root
        self.n = 0

    def path(self, suffix):
        self.n += 1
        return os.path.join(self.root, "t%05d%s" % (self.n, suffix))


def vips_decode(scratch, src, opts=""):
    """SRC decoded by libvips -> array. OPTS: loader options like [page=1]
    ("[page=N]" and "[subifd=N]" go to tiffload itself, so an .svs is
    read by libtiff and not through OpenSlide)."""
    out = scratch.path(".v")
    m = re.match(r"\[(page|subifd)=(\d+)\]$", opts)
    try:
        if m:
            vips("tiffload", src, out, "--" + m.group(1), m.group(2))
        else:
            vips("copy", src + opts, out)
    except Fail as e:
        raise Fail("libvips cannot decode %s%s: %s" % (os.path.basename(src), opts, e))
    a = read_v(out)
    os.unlink(out)
    return a


def rgb(a):
    if a.shape[2] == 4:
        return a[:, :, :3]
    return a


def psnr(a, b):
    d = a.astype(np.float64) - b.astype(np.float64)
    mse = float(np.mean(d * d))
    return float("inf") if mse == 0 else 10 * math.log10(255.0 * 255.0 / mse)


def compare(what, ref, got, exact=False, min_psnr=None, max_mad=None):
    if ref.shape != got.shape:
        raise Fail("%s: shape %s, reference %s" % (what, got.shape, ref.shape))
    d = np.abs(ref.astype(np.int16) - got.astype(np.int16))
    mx = int(d.max()) if d.size else 0
    mad = float(d.mean()) if d.size else 0.0
    p = psnr(ref, got)
    if exact and mx != 0:
        yx = np.unravel_index(np.argmax(d.max(axis=2)), d.shape[:2])
        raise Fail("%s: not identical: max diff %d at x=%d y=%d, mean %.4f, %d px differ"
                   % (what, mx, yx[1], yx[0], mad, int(np.count_nonzero(d.max(axis=2)))))
    if min_psnr is not None and p < min_psnr:
        raise Fail("%s: PSNR %.2f dB < %.1f (max diff %d, mean %.3f)" % (what, p, min_psnr, mx, mad))
    if max_mad is not None and mad > max_mad:
        raise Fail("%s: mean abs diff %.3f > %.3f (PSNR %.2f)" % (what, mad, max_mad, p))
    return p


def pyramid_dims(w, h, t, stop_at_1px=False):
    dims = [(w, h)]
    while (w > t or h > t) and not (stop_at_1px and (w == 1 or h == 1)):
        w, h = max(w // 2, 1), max(h // 2, 1)
        dims.append((w, h))
    return dims


COMPRESSION_TAG = {"jpeg": (7,), "lzw": (5,), "deflate": (8, 32946), "zstd": (50000,),
                   "webp": (50001,), "none": (1,)}


# --------------------------------------------------------------- sources
class Source:
    """An input: path, kind, and what independent readers say about it."""

    def __init__(self, path, kind, origin):
        self.path = path
        self.kind = kind          # tiff, svs, ome, png, jpg, real
        self.origin = origin      # how it was made (for the failure report)
        self.w = self.h = 0
        self.bands = 3
        self.levels = []          # level dims (OpenSlide / tifffile)
        self.level_opts = []      # vips loader options per level
        self.tile = None          # level 0 tile size, or None (striped)
        self.compression = None   # level 0 TIFF compression tag
        self.mpp = None
        self.jpegtables = False
        self.stored_bands = 3     # samples per pixel in the file

    def describe(self):
        return "%s (%s: %s, %d×%d, levels %s, tile %s, compression %s)" % (
            self.path, self.kind, self.origin, self.w, self.h,
            ",".join("%d×%d" % d for d in self.levels), self.tile, self.compression)


def inspect_source(path, kind, origin):
    s = Source(path, kind, origin)
    if kind in ("png", "jpg"):
        hdr = subprocess.run(["vipsheader", path], stdout=subprocess.PIPE).stdout.decode()
        m = re.search(r": (\d+)x(\d+) uchar, (\d+) band", hdr)
        s.w, s.h, s.bands = int(m.group(1)), int(m.group(2)), int(m.group(3))
        s.levels = [(s.w, s.h)]
        s.level_opts = [""]
        return s
    with tifffile.TiffFile(path) as t:
        p0 = t.pages[0]
        s.w, s.h = p0.imagewidth, p0.imagelength
        s.bands = s.stored_bands = p0.samplesperpixel
        s.tile = (p0.tilewidth, p0.tilelength) if p0.is_tiled else None
        s.compression = int(p0.compression)
        s.jpegtables = "JPEGTables" in p0.tags
        xres = p0.tags.get("XResolution")
        unit = p0.tags.get("ResolutionUnit")
        if xres is not None and unit is not None and int(unit.value) == 3:
            num, den = xres.value
            if num and den:
                s.mpp = 1e4 / (num / den)
        if kind == "ome":
            s.levels = [(s.w, s.h)]
            s.level_opts = ["[page=0]"]
            n = len(p0.subifds or [])
            # the SubIFD sizes through libvips (tifffile's API for them varies)
            for i in range(n):
                out = subprocess.run(["vipsheader", "%s[subifd=%d]" % (path, i)],
                                     stdout=subprocess.PIPE).stdout.decode()
                m = re.search(r": (\d+)x(\d+) ", out)
                s.levels.append((int(m.group(1)), int(m.group(2))))
                s.level_opts.append("[subifd=%d]" % i)
            return s
    if kind in ("svs", "real"):
        s.bands = 3  # read through OpenSlide: RGB whatever is stored
        o = openslide.OpenSlide(path)
        s.levels = list(o.level_dimensions)
        mpp = o.properties.get("openslide.mpp-x")
        s.mpp = float(mpp) if mpp else None
        o.close()
        s.level_opts = ["[level=%d]" % i for i in range(len(s.levels))]
        # OpenSlide 3.4.1 hands a level that is not 3-sample JPEG or
        # JPEG 2000 to libtiff's RGBA interface, which gets a tile wider
        # or taller than its image wrong (white rows): those levels are
        # decoded by libvips' tiffload instead (slidepipe reads them with
        # its own reader: src/slide.c rgba_decoded_page)
        with tifffile.TiffFile(path) as t:
            for i, p in enumerate(t.pages):
                if not p.is_tiled or (p.imagewidth, p.imagelength) not in s.levels:
                    continue
                k = s.levels.index((p.imagewidth, p.imagelength))
                codec = int(p.compression)
                if (p.tilewidth > p.imagewidth or p.tilelength > p.imagelength) and \
                        ((codec == 7 and p.samplesperpixel == 1) or codec in (1, 5, 8, 32946)):
                    s.level_opts[k] = "[page=%d]" % i
        return s
    # generic TIFF: levels are the main chain's reduced-resolution pages
    with tifffile.TiffFile(path) as t:
        for i, p in enumerate(t.pages):
            if i == 0 or (p.is_reduced and p.is_tiled):
                s.levels.append((p.imagewidth, p.imagelength))
                s.level_opts.append("[page=%d]" % i)
    return s


def decode_source_level(scratch, s, level):
    """Level LEVEL of source S decoded (RGB or 1 band) by libvips."""
    if s.kind in ("svs", "real"):
        a = vips_decode(scratch, s.path, s.level_opts[level])
        if a.shape[2] == 1:  # a grey level read by tiffload: RGB as OpenSlide gives
            a = np.repeat(a, 3, axis=2)
        return rgb(a)
    a = vips_decode(scratch, s.path, s.level_opts[level])
    if a.shape[2] == 4:  # RGBA flattened on white, as slidepipe does
        alpha = a[:, :, 3:4].astype(np.float64) / 255
        a = np.rint(a[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    return a


def make_sources(rng, scratch, quick):
    srcs = []
    n_syn = 2 if quick else 3
    for i in range(n_syn):
        w = rng.randint(1500, 3200 if quick else 5000) | rng.choice((0, 1))
        h = rng.randint(1500, 3200 if quick else 5000) | rng.choice((0, 1))
        path = scratch.path("-syn.tif")
        args = [str(w), str(h), path, "--seed", str(rng.randint(1, 1000))]
        if rng.random() < 0.3:
            args.append("--lzw")
        if rng.random() < 0.2:
            args += ["--mpp", "%.3f" % rng.uniform(0.2, 1.0)]
        rc, _, err = run([os.path.join(EXAMPLES, "make-slide")] + args)
        if rc != 0:
            raise Fail("make-slide %s: %s" % (" ".join(args), err.decode()))
        srcs.append(inspect_source(path, "tiff", "make-slide " + " ".join(args[:2] + args[3:])))
    # a striped TIFF, a PNG and a JPEG
    w, h = rng.randint(500, 1800), rng.randint(500, 1800)
    path = scratch.path("-striped.tif")
    args = [str(w), str(h), path, "--striped", "--no-pyramid", "--seed", str(rng.randint(1, 99))]
    rc, _, err = run([os.path.join(EXAMPLES, "make-slide")] + args)
    if rc != 0:
        raise Fail("make-slide %s: %s" % (" ".join(args), err.decode()))
    srcs.append(inspect_source(path, "tiff", "make-slide " + " ".join(args[:2] + args[3:])))
    base = srcs[0]
    for ext in ("png", "jpg"):
        w, h = rng.randint(200, 1200), rng.randint(200, 1200)
        path = scratch.path("." + ext)
        vips("crop", base.path, path + ("[Q=85]" if ext == "jpg" else ""), 0, 0,
             min(w, base.w), min(h, base.h))
        srcs.append(inspect_source(path, ext, "vips crop of %s" % os.path.basename(base.path)))
    reals = []
    slides = os.path.join(SHARED_DIR, "slides")
    for name in ("CMU-1-Small-Region.svs", "tcga-cr-7395-01a-01-ts1.svs"):
        p = os.path.join(slides, name)
        if os.path.exists(p):
            reals.append(inspect_source(p, "real", "real slide " + name))
    return srcs, reals


# ---------------------------------------------------------- random cases
TILES = [64, 128, 256, 512, 48, 80, 112, 144, 208, 336]
CODECS = ["jpeg", "lzw", "deflate", "zstd", "webp", "none", "copy", "auto"]


def random_crop(rng, s, level):
    W, H = s.w, s.h
    t = s.tile[0] if s.tile else 256
    kind = rng.choice(["tile", "tile", "mcu", "mcu", "edge", "onepx", "random", "whole"])
    maxs = 1400
    if kind == "whole":
        if W * H <= 2500 * 2500:
            return 0, 0, W, H, kind
        kind = "random"

    def pick(total, grid):
        if grid:
            x = rng.randrange(0, max(total - 1, 1) // grid + 1) * grid
            if x >= total:
                x = 0
        else:
            x = rng.randrange(0, total)
        return x

    if kind in ("tile", "mcu"):
        g = t if kind == "tile" else 16
        x, y = pick(W, g), pick(H, g)
        if rng.random() < 0.5:  # ends on the grid too, or at the edge
            w = min(W - x, g * rng.randint(1, max(1, maxs // g)))
            h = min(H - y, g * rng.randint(1, max(1, maxs // g)))
        else:
            w = rng.randint(1, min(W - x, maxs))
            h = rng.randint(1, min(H - y, maxs))
    elif kind == "edge":
        w = rng.randint(1, min(W, maxs))
        h = rng.randint(1, min(H, maxs))
        x = W - w if rng.random() < 0.7 else pick(W - w + 1, 0)
        y = H - h if rng.random() < 0.7 else pick(H - h + 1, 0)
    elif kind == "onepx":
        x, y = pick(W, 0), pick(H, 0)
        w = 1 if rng.random() < 0.6 else rng.randint(1, min(W - x, maxs))
        h = 1 if w != 1 or rng.random() < 0.5 else rng.randint(1, min(H - y, maxs))
        w, h = min(w, W - x), min(h, H - y)
    else:
        x, y = pick(W, 0), pick(H, 0)
        w = rng.randint(1, min(W - x, maxs))
        h = rng.randint(1, min(H - y, maxs))
    return x, y, w, h, kind


def random_case(rng, pool, idx):
    # slidepipe's own outputs are re-read more often by copy and auto
    own = [p for p in pool if p.origin.startswith("output of")]
    if own and rng.random() < 0.35:
        s = rng.choice(own)
    else:
        s = rng.choice(pool)
    c = {"idx": idx, "src": s, "level": 0, "threshold": None, "down": None, "exact": False}
    if len(s.levels) > 1 and rng.random() < 0.15:
        c["level"] = rng.randrange(1, len(s.levels))
    c["crop"] = random_crop(rng, s, c["level"])
    r = rng.random()
    if r < 0.25:
        c["down"] = ("factor", rng.choice([2, 2, 3, 4, 5, 8]))
    elif r < 0.38:
        c["down"] = ("factor", rng.choice([1.5, 2.5, 1.25, 3.3, 6.75]))
    elif r < 0.45 and s.mpp:
        c["down"] = ("mpp", round(s.mpp * rng.uniform(1.1, 6.0), 4))
    if c["down"] and rng.random() < 0.4:
        c["exact"] = True
    if rng.random() < 0.2:
        th = {}
        if rng.random() < 0.5:
            th["value"] = rng.randint(5, 250)
        if rng.random() < 0.5:
            th["channel"] = rng.choice(["saturation", "gray"])
        if rng.random() < 0.3:
            th["invert"] = True
        c["threshold"] = th
    ext = rng.choices([".tif", ".svs", ".ome.tif", ".png", ".jpg"], [50, 15, 20, 8, 7])[0]
    sv = {"ext": ext}
    if ext not in (".png", ".jpg"):
        if rng.random() < 0.85:
            sv["compression"] = rng.choice(CODECS)
            if ext == ".svs" and rng.random() < 0.7:
                sv["compression"] = rng.choice(["jpeg", "copy", "auto"])
        if rng.random() < 0.7:
            sv["tile"] = rng.choice(TILES)
        if rng.random() < 0.3:
            sv["bigtiff"] = rng.choice(["true", "false", "auto"])
        if rng.random() < 0.1:
            sv["pyramid"] = "false"
    if sv.get("compression") in ("jpeg", "webp", None) and rng.random() < 0.3:
        sv["Q"] = rng.randint(40, 100)
    if s in own and rng.random() < 0.5 and "compression" in sv:
        sv["compression"] = rng.choice(["copy", "auto"])
        sv.pop("tile", None)
    if sv.get("compression") in ("copy", "auto") and rng.random() < 0.6:
        # copies are mostly made without resampling: give them a chance
        c["down"] = None
        c["threshold"] = None
        c["exact"] = False
        c["level"] = 0
        if rng.random() < 0.75 and s.tile:
            copy = sv["compression"] == "copy"
            g = s.tile[0] if (copy or rng.random() < 0.5) else 16
            x, y, w, h, _ = c["crop"]
            x, y = x - x % g, y - y % g
            c["crop"] = (x, y, min(w, s.w - x), min(h, s.h - y), "grid%d" % g)
    c["save"] = sv
    return c


def case_argv(c, out):
    s = c["src"]
    argv = [SLIDEPIPE, "load", s.path]
    if c["level"]:
        argv.append("level=%d" % c["level"])
    x, y, w, h, _ = c["crop"]
    argv += ["!", "crop", str(x), str(y), str(w), str(h)]
    if c["down"]:
        argv += ["!", "downsample"]
        if c["down"][0] == "factor":
            argv.append("%g" % c["down"][1])
        else:
            argv.append("mpp=%g" % c["down"][1])
        if c["exact"]:
            argv.append("exact")
    if c["threshold"] is not None:
        argv += ["!", "threshold"]
        for k, v in sorted(c["threshold"].items()):
            argv.append(k if v is True else "%s=%s" % (k, v))
    argv += ["!", "save", out]
    for k in ("compression", "Q", "tile", "bigtiff", "pyramid"):
        if k in c["save"]:
            argv.append("%s=%s" % (k, c["save"][k]))
    return argv


# ---------------------------------------------------------------- checks
def factor_of(c):
    s = c["src"]
    if not c["down"]:
        return None
    if c["down"][0] == "factor":
        return float(c["down"][1])
    return c["down"][1] / s.mpp


def expected_size(c):
    """(w, h, exact?) of the output, from the case alone."""
    s = c["src"]
    x, y, w, h, _ = c["crop"]
    exact = True
    ow, oh = float(w), float(h)
    dsx = dsy = 1.0
    if c["level"]:
        # crop --help: on a downsampled input the region is widened to
        # whole input pixels
        lw, lh = s.levels[c["level"]]
        dsx, dsy = s.w / lw, s.h / lh
        ow = min(lw, math.ceil((x + w) / dsx)) - math.floor(x / dsx)
        oh = min(lh, math.ceil((y + h) / dsy)) - math.floor(y / dsy)
        exact = False
    f = factor_of(c)
    if f is not None:
        if c["down"][0] == "mpp":
            # mpp= is relative to the pixels of the level read
            ow /= f / dsx
            oh /= f / dsy
            exact = False
        else:
            ow /= f
            oh /= f
    # a region that rounds to nothing still gives one pixel
    return (max(int(math.floor(ow + 0.5)), 1), max(int(math.floor(oh + 0.5)), 1), exact)


def copy_must_work(c):
    """compression=copy on a case that plainly meets the documented rule:
    a JPEG-tiled source, only crop, on the source's tile grid."""
    s = c["src"]
    if c["down"] or c["threshold"] is not None or c["level"]:
        return False
    if s.compression != 7 or not s.tile or s.kind in ("png", "jpg"):
        return False
    if "tile" in c["save"] and s.tile and c["save"]["tile"] != s.tile[0]:
        return False
    x, y, w, h, _ = c["crop"]
    tw, th = s.tile
    return (x % tw == 0 and y % th == 0 and ((x + w) % tw == 0 or x + w == s.w)
            and ((y + h) % th == 0 or y + h == s.h))


def refusal_allowed(c):
    """Combinations slidepipe may legitimately refuse (clean error, exit 1/2)."""
    sv = c["save"]
    comp = sv.get("compression")
    if comp == "copy" and not copy_must_work(c):
        return "compression=copy off the documented rule"
    if comp == "copy" and "tile" in sv:
        return "compression=copy with tile="
    if c["down"] and c["down"][0] == "mpp":
        lw = c["src"].levels[c["level"]][0]
        if c["down"][1] < c["src"].mpp * c["src"].w / lw * 1.001:
            return "mpp= finer than the level read"
    ow, oh, _ = expected_size(c)
    if ow <= 1 or oh <= 1:
        return "output of %d × %d px" % (ow, oh)
    if sv["ext"] == ".svs" and (comp not in (None, "jpeg", "copy", "auto")
                                or c["threshold"] is not None):
        return "format=svs takes JPEG RGB only"
    if c["src"].kind == "real" and comp == "copy":
        return "copy of a real slide's tiles"
    if comp == "copy" and c["src"].stored_bands == 1:
        return "compression=copy of 1-band (grey JPEG) tiles"
    if comp == "copy" and sv["ext"] == ".ome.tif":
        return "compression=copy with format=ome (libvips writes OME-TIFF)"
    if comp == "webp" and (c["threshold"] is not None or c["src"].bands == 1):
        return "compression=webp of a 1-band image (libvips 8.14 crashes)"
    if "Q" in sv and (sv["ext"] == ".png" or comp in ("lzw", "deflate", "zstd", "none")
                      or (comp is None and sv["ext"] != ".jpg"
                          and (c["threshold"] is not None or c["src"].bands == 1))):
        return "Q= where it means nothing"
    return None


def no_temp(d):
    return [f for f in os.listdir(d) if f.startswith(".") and "sp-tmp" in f]


def check_case(c, scratch, outdir, log):
    out = os.path.join(outdir, "out%04d%s" % (c["idx"], c["save"]["ext"]))
    argv = case_argv(c, out)
    c["argv"] = argv
    rc, so, se = run(argv)
    err = se.decode(errors="replace")
    c["stderr"] = err
    log.append("$ " + " ".join(shlex.quote(a) for a in argv))
    log.append("exit %s; stderr: %s" % (rc, err.strip()))
    temps = no_temp(outdir)
    for t in temps:  # reported once, then removed: the next case starts clean
        os.unlink(os.path.join(outdir, t))
    if temps:
        raise Fail("temporary file left behind: %s (exit %s)" % (temps, rc))
    if rc is None:
        raise Fail("hang: no exit after %d s" % TIMEOUT)
    if rc < 0:
        raise Fail("killed by signal %d: %s" % (-rc, err.strip()[-300:]))
    if rc != 0:
        if os.path.exists(out):
            raise Fail("exit %d but the output exists" % rc)
        if rc not in (1, 2):
            raise Fail("exit status %d (not 0, 1 or 2): %s" % (rc, err.strip()))
        lines = [l for l in err.splitlines() if l.strip()]
        if len(lines) != 1:
            raise Fail("error is %d lines, not one: %r" % (len(lines), err[:400]))
        if not re.match(r"slidepipe: (load|crop|downsample|threshold|save)\b", lines[0]):
            raise Fail("error names no operator: %s" % lines[0])
        why = refusal_allowed(c)
        if why is None:
            raise Fail("refused (exit %d) a case that should work: %s" % (rc, lines[0]))
        return "refused (%s): %s" % (why, lines[0])
    if not os.path.exists(out):
        raise Fail("exit 0 but no output")
    # what slidepipe says on success is its own: no library warnings
    for line in err.splitlines():
        if line.strip() and not line.startswith("slidepipe: "):
            raise Fail("stderr line not slidepipe's own: %r" % line[:300])
    m = re.search(r"threshold: Otsu value (\d+)", err)
    c["otsu"] = int(m.group(1)) if m else None
    return check_output(c, out, scratch)


def check_output(c, out, scratch):
    s = c["src"]
    sv = c["save"]
    ext = sv["ext"]
    mask = c["threshold"] is not None
    bands = 1 if (mask or s.bands == 1) else 3
    ew, eh, size_exact = expected_size(c)
    notes = []
    # --- libvips' view: size and bands (TIFF: libtiff through tiffload)
    tiff = ext not in (".png", ".jpg")
    got = vips_decode(scratch, out, "[page=0]" if tiff else "")
    h, w, b = got.shape
    if b != bands:
        raise Fail("libvips: %d bands, expected %d" % (b, bands))
    tol = 0 if size_exact else 1
    if abs(w - ew) > tol or abs(h - eh) > tol:
        raise Fail("libvips: %d × %d px, expected %d × %d%s" % (
            w, h, ew, eh, "" if size_exact else " ± 1"))
    levels = [(w, h)]
    comp = sv.get("compression")
    if ext not in (".png", ".jpg"):
        levels = check_tiff_structure(c, out, w, h, bands, notes)
    # --- pixels: libvips' decoding of level 0 against the reference
    lossy = (ext == ".jpg" or comp in ("jpeg", "webp") or
             (comp in (None, "auto") and ext != ".png" and not mask and bands == 3)
             or ext == ".svs" and comp != "copy")
    if mask:
        check_mask("level 0", got, lossy)
    ref = reference(c, scratch, w, h)
    resampled = bool(c["down"]) or c["level"] > 0
    if ref is not None:
        what = "level 0 vs vips reference"
        if mask:
            # the same channel and value through the vips CLI; exact but for
            # pixels whose channel value sits at the threshold after a
            # resampling or a lossy codec
            g = np.where(got >= 128, 255, 0)
            agree = float(np.mean(ref == g))
            if resampled or lossy:
                # then only at the reference's edges (a pixel with both
                # values in its 3 × 3 neighbourhood) may they differ
                r = ref[:, :, 0] > 0
                pad = np.pad(r, 1, mode="edge")
                hi = np.zeros_like(r)
                lo = np.ones_like(r)
                for dy in range(3):
                    for dx in range(3):
                        win = pad[dy:dy + r.shape[0], dx:dx + r.shape[1]]
                        hi |= win
                        lo &= win
                edge = hi & ~lo
                off = float(np.mean((ref[:, :, 0] != g[:, :, 0]) & ~edge))
                if off > 0.01:
                    raise Fail("%s: mask differs on %.4f of pixels off the edges" % (what, off))
            elif agree < 0.999:
                raise Fail("%s: mask agrees on %.4f of pixels (< 0.999)" % (what, agree))
            notes.append("mask agrees %.4f" % agree)
        elif comp == "copy":
            compare(what + " (copy)", ref, got, exact=True)
            notes.append("copy identical")
        elif comp == "auto" and not resampled and \
                re.search(r"save: plan: (copies|re-cuts) levels? 0\b", c.get("stderr", "")) and \
                "decoded and re-encoded" not in c.get("stderr", ""):
            # level 0 taken from the source's tiles, as the plan says
            p = compare(what + " (auto: copy/re-cut)", ref, got, min_psnr=40)
            notes.append("auto PSNR %.1f" % p)
        elif not lossy and not resampled:
            compare(what + " (lossless crop)", ref, got, exact=True)
            notes.append("identical")
        elif not lossy and c["down"] and c["down"][0] == "factor" and \
                float(c["down"][1]).is_integer() and c["exact"] and not c["level"] and \
                min(c["crop"][2], c["crop"][3]) >= c["down"][1]:
            p = compare(what + " (lossless, whole factor, exact)", ref, got, max_mad=0.5)
            notes.append("PSNR %.1f" % p)
        else:
            q = sv.get("Q", 90)
            bound = 24 if not lossy else (22 if q >= 70 else 18)
            if min(w, h) < 8:
                bound -= 6
            if lossy and w * h < 16:
                # a few pixels of WebP/JPEG: one 4:2:0 chroma sample for
                # all of them (a 1 × 1 WebP at Q=70 came out at 14.5 dB)
                bound = 10
            p = compare(what, ref, got, min_psnr=bound)
            notes.append("PSNR %.1f" % p)
    # --- OpenSlide's decoding of level 0 (generic and svs RGB outputs)
    # (OpenSlide 3.4.1 decodes non-JPEG tiles through libtiff's RGBA
    # interface, which fails on uncompressed tiles whose size is not a
    # multiple of 64 and gives wrong pixels when the image is narrower or
    # shorter than a tile, libvips' own outputs alike: third-party, T1 and
    # T2 in tests/FUZZING.md; not compared there)
    ct = tiff and tag_of(out)
    t_os = tiff and tile_of(out)
    if ext in (".tif", ".svs") and bands == 3 and (
            ct == 7 or (w >= t_os and h >= t_os and not (ct == 1 and t_os % 64))):
        o = openslide.OpenSlide(out)
        a = np.asarray(o.read_region((0, 0), 0, (w, h)).convert("RGB"))
        o.close()
        compare("OpenSlide vs libvips decoding of level 0", got, a,
                exact=comp not in ("jpeg", "webp", None, "copy", "auto") or False,
                min_psnr=45)
    # --- tifffile's own decoding where it has the codec (none, deflate)
    if ext in (".tif", ".ome.tif") and comp in ("none", "deflate"):
        with tifffile.TiffFile(out) as t:
            a = t.pages[0].asarray()
        if a.ndim == 2:
            a = a[:, :, None]
        compare("tifffile vs libvips decoding of level 0", got, a, exact=True)
    # --- lower levels: each about level 0 reduced by its downsample
    if len(levels) > 1:
        lvl = len(levels) - 1 if len(levels) < 3 else 1 + (c["idx"] % (len(levels) - 1))
        lw, lh = levels[lvl]
        opt = "[subifd=%d]" % (lvl - 1) if ext == ".ome.tif" else "[page=%d]" % page_of(out, ext, lvl)
        low = rgb(vips_decode(scratch, out, opt)) if bands == 3 else vips_decode(scratch, out, opt)
        if low.shape[:2] != (lh, lw):
            raise Fail("level %d decodes as %s, expected %d × %d" % (lvl, low.shape, lw, lh))
        tmp = scratch.path(".v")
        vips("tiffload", out, tmp, "--page", "0")
        r = box_chain(rgb(read_v(tmp)) if bands == 3 else read_v(tmp), lw, lh)
        if r is None:
            tmp2 = scratch.path(".v")
            vips("resize", tmp, tmp2, lw / w, "--vscale", lh / h)
            r = rgb(read_v(tmp2)) if bands == 3 else read_v(tmp2)
            os.unlink(tmp2)
        os.unlink(tmp)
        if bands == 1:
            # 1-band levels are reduced by their mode (save.c: region_shrink
            # mode), so they stay 0/255: not compared with an average
            if mask and not lossy:
                check_mask("level %d" % lvl, low, False)
        elif min(lw, lh) >= 16:
            p = compare("level %d vs level 0 reduced" % lvl, r[:lh, :lw], low,
                        min_psnr=18)
            notes.append("L%d PSNR %.1f" % (lvl, p))
    return "%d×%d %s" % (w, h, "; ".join(notes))


def box_chain(a, lw, lh):
    """Level 0 halved by 2 × 2 means (odd last row and column dropped) until
    it is LW × LH, as save --help says the levels are made; None when the
    level's size is not on that chain (then libvips' resize stands in). A
    Lanczos resize is no reference for sharp content: a 0/255 mask saved as
    RGB differed from it by 15.7 dB at level 4 and from this by 36.9."""
    a = a.astype(np.float64)
    while a.shape[1] > lw or a.shape[0] > lh:
        h, w = a.shape[0] // 2, a.shape[1] // 2
        if h < 1 or w < 1:
            return None
        a = a[:2 * h, :2 * w].reshape(h, 2, w, 2, a.shape[2]).mean(axis=(1, 3))
    if a.shape[:2] != (lh, lw):
        return None
    return np.clip(np.floor(a + 0.5), 0, 255).astype(np.uint8)


def check_mask(what, a, lossy):
    """A mask: 0/255 only; with a lossy codec (asked for), nearly so."""
    if not lossy:
        vals = np.unique(a)
        if not set(vals.tolist()) <= {0, 255}:
            raise Fail("%s: mask not binary: values %s" % (what, vals[:10].tolist()))
        return
    near = np.mean((a <= 40) | (a >= 215))
    if near < 0.97:
        raise Fail("%s: lossy mask: only %.3f of pixels near 0 or 255" % (what, near))


def tile_of(out):
    with tifffile.TiffFile(out) as t:
        return t.pages[0].tilewidth


def tag_of(out):
    with tifffile.TiffFile(out) as t:
        return int(t.pages[0].compression)


def page_of(out, ext, lvl):
    """The TIFF page (main chain) of level LVL: svs has the thumbnail at 1."""
    if ext == ".svs":
        return 0 if lvl == 0 else lvl + 1
    return lvl


def got_mpp(p0, ext):
    if ext == ".tif":
        xres, unit = p0.tags.get("XResolution"), p0.tags.get("ResolutionUnit")
        if xres is not None and unit is not None and int(unit.value) == 3:
            return 1e4 / (xres.value[0] / xres.value[1])
        return -1.0
    m = re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', p0.description or "")
    return float(m.group(1)) if m else -1.0


def check_tiff_structure(c, out, w, h, bands, notes):
    s = c["src"]
    sv = c["save"]
    ext = sv["ext"]
    comp = sv.get("compression")
    with tifffile.TiffFile(out) as t:
        if sv.get("bigtiff") in ("true", "false") and t.is_bigtiff != (sv["bigtiff"] == "true"):
            raise Fail("bigtiff=%s but the file is%s BigTIFF" % (
                sv["bigtiff"], "" if t.is_bigtiff else " not"))
        p0 = t.pages[0]
        if not p0.is_tiled:
            raise Fail("level 0 is not tiled")
        tile = (p0.tilewidth, p0.tilelength)
        if comp == "copy":
            want = s.tile
        elif comp == "auto" and s.tile and s.compression == 7 and "tile" not in sv:
            want = None  # auto may keep the source's tiles or use the default
        else:
            want = (sv.get("tile", 256),) * 2
        if want and tile != tuple(want):
            raise Fail("tile %s, expected %s" % (tile, want))
        ct = int(p0.compression)
        if comp in COMPRESSION_TAG and ct not in COMPRESSION_TAG[comp]:
            raise Fail("compression tag %d, asked for %s" % (ct, comp))
        # save --help: the default is jpeg for RGB, lzw for masks and grey
        if comp is None and ct != (7 if bands == 3 or ext == ".svs" else 5):
            raise Fail("default compression: tag %d for %d band(s)" % (ct, bands))
        if comp in ("copy", "auto") and ct != 7 and s.compression == 7 and not c["down"] \
                and c["threshold"] is None and comp == "copy":
            raise Fail("copy wrote compression tag %d" % ct)
        if comp == "copy" or comp == "auto":
            # every JPEG tile must decode on its own or with the tables
            pass
        if ext == ".ome.tif":
            subs = p0.subifds or []
            levels = [(w, h)]
            for i in range(len(subs)):
                out_h = subprocess.run(["vipsheader", "%s[subifd=%d]" % (out, i)],
                                       stdout=subprocess.PIPE).stdout.decode()
                m = re.search(r": (\d+)x(\d+) ", out_h)
                if not m:
                    raise Fail("libvips cannot read SubIFD %d" % i)
                levels.append((int(m.group(1)), int(m.group(2))))
        else:
            # generic: reduced-resolution tiled pages; svs: every tiled page
            # (Aperio's levels are plain subfiles; thumbnail, label and
            # macro are stripped)
            levels = [(w, h)]
            for i, p in enumerate(t.pages):
                if i > 0 and p.is_tiled and (p.is_reduced or ext == ".svs"):
                    levels.append((p.imagewidth, p.imagelength))
        tw = tile[0]
        # the pixel size written: XResolution (px/cm) for generic, OME-XML
        # PhysicalSizeX (µm) for ome: the region's width over the output's,
        # or the source's times a whole shrink factor (its blocks)
        x_, y_, cw_, ch_, _ = c["crop"]
        if s.mpp and not c["level"] and ext in (".tif", ".ome.tif"):
            want = s.mpp * cw_ / w
            f = factor_of(c)
            if f and float(f).is_integer() and abs(s.mpp * f - got_mpp(p0, ext)) < 1e-3 * want:
                want = s.mpp * f
            got = got_mpp(p0, ext)
            if abs(got - want) > 1e-3 * want:
                raise Fail("mpp written %s, expected %.6f" % (got, want))
    want_levels = (pyramid_dims(w, h, tw, libvips_pyramid(c))
                   if sv.get("pyramid") != "false" else [(w, h)])
    if levels != want_levels:
        raise Fail("levels %s, expected %s (tile %d)" % (levels, want_levels, tw))
    if ext == ".tif":
        # libvips' view: one page per level in the main chain
        n = subprocess.run(["vipsheader", "-f", "n-pages", out], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE).stdout.decode().strip()
        if n != str(len(levels)):
            raise Fail("libvips: n-pages %r, expected %d" % (n, len(levels)))
    if ext in (".tif", ".svs") and bands == 3:
        o = openslide.OpenSlide(out)
        try:
            if list(o.level_dimensions) != levels:
                raise Fail("OpenSlide: levels %s, expected %s" % (list(o.level_dimensions), levels))
            for k, d in enumerate(o.level_downsamples):
                want = (w / levels[k][0] + h / levels[k][1]) / 2
                if abs(d - want) > 1e-6 * want:
                    raise Fail("OpenSlide: level %d downsample %.6f, expected %.6f" % (k, d, want))
            if ext == ".svs" and o.properties.get("openslide.vendor") != "aperio":
                raise Fail("OpenSlide: vendor %s, expected aperio" % o.properties.get("openslide.vendor"))
            x_, y_, cw_, ch_, _ = c["crop"]
            if s.mpp and ext == ".svs" and not c["level"]:
                # the pixel size of the output as written: the region's
                # width over the (rounded) output width
                mx = o.properties.get("openslide.mpp-x")
                want = s.mpp * cw_ / w
                f = factor_of(c)
                if mx and f and float(f).is_integer() and \
                        abs(float(mx) - s.mpp * f) < 1e-3 * want:
                    want = s.mpp * f  # whole shrink blocks
                if mx is None or abs(float(mx) - want) > 1e-3 * want + 1e-6:
                    raise Fail("OpenSlide: mpp-x %s, expected %.6f" % (mx, want))
        finally:
            o.close()
    notes.append("%d levels tile %d" % (len(levels), tw))
    return levels


def planned_read(c):
    """(level, x, y, w, h, rest) that 'slidepipe explain' says the
    downsample step reads (region in that level's pixels) and the reduction
    left after it, or None when it reads the input's own level. The level
    is checked against the rule in 'downsample --help': the largest
    downsample not above the one wanted."""
    s = c["src"]
    argv = case_argv(c, "unused.tif")
    rc, out, err = run([SLIDEPIPE, "explain"] + argv[1:argv.index("save") - 1])
    if rc != 0:
        raise Fail("explain failed: %s" % err.decode(errors="replace").strip())
    lines = [l for l in out.decode().splitlines() if l.strip().startswith("reads level")]
    # the step after crop (downsample) is the third 'reads' line
    m = re.search(r"reads level (\d+) \(downsample ([\d.]+)\)( \[planned\])?, region "
                  r"x=([\d.]+) y=([\d.]+) w=([\d.]+) h=([\d.]+) \(level px\), "
                  r"then reduces by ([\d.]+)",
                  lines[2] if len(lines) > 2 else "")
    if not m:
        raise Fail("explain: no plan for the downsample step in %r" % out.decode())
    lvl = int(m.group(1))
    if not m.group(3):
        return None
    lw0, _ = s.levels[c["level"]]
    f = factor_of(c)
    wanted = (s.w / lw0) * f if c["down"][0] == "factor" else f
    # sp_slide_best_level_for_downsample(): a level's downsample is the
    # mean of its two axes' ratios, and one up to 1e-3 above the wanted
    # one serves it (soak: 4.0013 for 4)
    ds = [(s.w / lw + s.h / lh) / 2 for lw, lh in s.levels]
    ok = [k for k, d in enumerate(ds) if d <= wanted * (1 + 1e-3)]
    if lvl != max(ok, key=lambda k: ds[k]):
        raise Fail("plan: read level %d (downsample %.4f) for downsample %.4f; levels %s" % (
            lvl, ds[lvl], wanted, ", ".join("%.4f" % d for d in ds)))
    # a region of fractional level pixels is read as the whole pixels
    # that cover it
    rx, ry, rw, rh = (float(m.group(k)) for k in (4, 5, 6, 7))
    lw, lh = s.levels[lvl]
    x0, y0 = int(math.floor(rx)), int(math.floor(ry))
    x1 = min(lw, int(math.ceil(rx + rw - 1e-9)))
    y1 = min(lh, int(math.ceil(ry + rh - 1e-9)))
    return (lvl, x0, y0, x1 - x0, y1 - y0, float(m.group(8)))


def reference(c, scratch, w, h):
    """The expected level 0: vips crop (and shrink/resize) of the source."""
    s = c["src"]
    x, y, cw, ch, _ = c["crop"]
    f = factor_of(c)
    plan = None
    if c["threshold"] is not None and f and not c["exact"]:
        # a mask flips wherever the channel sits near the value, so it is
        # compared with the same reduction from the level the planner read
        # (a source's own pyramid is not a Lanczos resize of level 0: seed
        # 1311277019 case 24 read level 2 and agreed exactly with this, but
        # on 26 % of pixels with a resize of level 0), the choice of level
        # itself checked against the documented rule in planned_read
        plan = planned_read(c)
    if plan is not None:
        lvl, x0, y0, pw, ph, rest = plan
        x1, y1 = x0 + pw, y0 + ph
    elif c["level"]:
        lvl = c["level"]
        lw, lh = s.levels[lvl]
        dsx, dsy = s.w / lw, s.h / lh
        x0, y0 = int(math.floor(x / dsx)), int(math.floor(y / dsy))
        x1 = min(lw, int(math.ceil((x + cw) / dsx)))
        y1 = min(lh, int(math.ceil((y + ch) / dsy)))
    else:
        lvl, x0, y0, x1, y1 = 0, x, y, x + cw, y + ch
    a = decode_source_level(scratch, s, lvl)
    cropped = np.ascontiguousarray(a[y0:y1, x0:x1])
    if not f and not c["level"]:
        ref = cropped
    else:
        src_v = scratch.path(".v")
        tmp = scratch.path(".v")
        write_v(cropped, src_v)
        if plan is not None and float(rest).is_integer() and rest > 1 and \
                min(cropped.shape[:2]) >= rest:
            vips("shrink", src_v, tmp, rest, rest)
        elif plan is None and f and float(f).is_integer() and not c["level"] and \
                min(cropped.shape[:2]) >= f:
            vips("shrink", src_v, tmp, f, f)
        else:
            vips("resize", src_v, tmp, w / cropped.shape[1], "--vscale", h / cropped.shape[0])
        ref = read_v(tmp)
        for p in (src_v, tmp):
            os.unlink(p)
        if ref.shape[:2] != (h, w):
            ref = ref[:h, :w]
            if ref.shape[:2] != (h, w):
                return None
    if c["threshold"] is not None:
        th = c["threshold"]
        value = th.get("value", c.get("otsu"))
        if value is None:
            return None
        # threshold --help: HSV saturation or grey level (libvips' sRGB2HSV
        # band 1, colourspace b-w), a 1-band input as it is
        if ref.shape[2] == 1:
            grey = ref
        else:
            tmp = scratch.path(".v")
            write_v(ref, tmp)
            g = scratch.path(".v")
            if th.get("channel", "saturation") == "gray":
                vips("colourspace", tmp, g, "b-w")
            else:
                vips("sRGB2HSV", tmp, g)
            grey = read_v(g)
            grey = grey[:, :, :1] if th.get("channel") == "gray" else grey[:, :, 1:2]
            for p in (tmp, g):
                os.unlink(p)
        m = grey > value
        if th.get("invert"):
            m = ~m
        return (m * 255).astype(np.uint8)
    return ref


def write_v(a, path):
    """An array written for the vips CLI as a .v file (no codec), made by
    vips itself from the raw bytes with rawload: no hand-written header."""
    raw = path + ".raw"
    with open(raw, "wb") as f:
        f.write(np.ascontiguousarray(a).tobytes())
    h, w, b = a.shape
    vips("rawload", raw, path, w, h, b)
    os.unlink(raw)


# ----------------------------------------------------------------- runner
def run_seed(seed, ncases, known, keep, verbose, tap_n, quick):
    rng = random.Random(seed)
    root = tempfile.mkdtemp(prefix="slidepipe-roundtrip.")
    scratch = Scratch(root)
    outdir = os.path.join(root, "out")
    os.mkdir(outdir)
    failures = 0
    skipped = 0
    try:
        srcs, reals = make_sources(rng, scratch, quick)
        if not reals:
            print("# roundtrip: real slides skipped: none in %s" % os.path.join(SHARED_DIR, "slides"))
        pool = srcs + reals
        for i in range(1, ncases + 1):
            case = random_case(rng, pool, i)
            kb = known_bug(case) if known == "skip" else None
            tap_n += 1
            label = "seed %d case %d" % (seed, i)
            if kb:
                skipped += 1
                argv = case_argv(case, os.path.join(outdir, "out%04d%s" % (i, case["save"]["ext"])))
                print("ok %d - %s # SKIP known bug %s: %s" % (tap_n, label, kb[0], kb[1]))
                print("#   not run: %s" % " ".join(shlex.quote(a) for a in argv[1:]))
                continue
            log = []
            try:
                t0 = time.time()
                what = check_case(case, scratch, outdir, log)
                print("ok %d - %s: %s (%.1f s)" % (tap_n, label, what, time.time() - t0))
                if verbose:
                    print("# " + log[0])
            except Exception as e:  # noqa: BLE001 - every error is the case's failure
                if not isinstance(e, Fail):
                    e = "%s: %s" % (type(e).__name__, e)
                failures += 1
                print("not ok %d - %s: %s" % (tap_n, label, e))
                print("#   source: %s" % case["src"].describe())
                for line in log:
                    print("#   " + line[:2000])
                print("#   replay: %s %s--seed %d --cases %d%s" % (
                    os.path.abspath(__file__), "--quick " if quick else "", seed, i,
                    " --known-bugs run" if known == "run" else ""))
                if keep:
                    os.makedirs(keep, exist_ok=True)
                    dst = os.path.join(keep, "seed%d-case%d" % (seed, i))
                    shutil.copytree(root, dst, dirs_exist_ok=True)
                    print("#   files kept in %s" % dst)
            sys.stdout.flush()
            # successful outputs of TIFF kinds become sources (bounded pool)
            out = os.path.join(outdir, "out%04d%s" % (i, case["save"]["ext"]))
            if os.path.exists(out):
                ext = case["save"]["ext"]
                kind = {".tif": "tiff", ".svs": "svs", ".ome.tif": "ome"}.get(ext)
                if kind and not failures:
                    keepp = scratch.path("-gen" + ext)
                    os.rename(out, keepp)
                    try:
                        src = inspect_source(keepp, kind, "output of case %d: %s" % (
                            i, " ".join(shlex.quote(a) for a in case["argv"][1:])))
                        if src.w * src.h >= 64 * 64:
                            pool.append(src)
                            if len(pool) > 24:
                                pool.pop(len(srcs) + len(reals))
                    except Exception as e:  # noqa: BLE001 - reported, not fatal
                        print("# cannot inspect output of case %d as a source: %s" % (i, e))
                else:
                    os.unlink(out)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return tap_n, failures, skipped


def main():
    # SIGTERM (a soak stopped, make check's timeout) removes the scratch too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", default="1")
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--minutes", type=float, default=0)
    ap.add_argument("--keep")
    ap.add_argument("--known-bugs", choices=("skip", "run"), default="skip")
    ap.add_argument("--quick", action="store_true",
                    help="smaller synthetic sources (make check)")
    ap.add_argument("--keep-going", action="store_true",
                    help="soak: go on with the next seed after a failure")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    sysrand = random.SystemRandom()
    seed = sysrand.randrange(1, 2**31) if a.seed == "random" else int(a.seed)
    for tool in ("vips", "vipsheader"):
        if not shutil.which(tool):
            print("1..0 # SKIP %s (libvips-tools) not installed" % tool)
            return 0
    if a.known_bugs == "skip":
        for kid, what, _ in KNOWN_BUGS:
            print("# known bug %s (cases skipped): %s" % (kid, what))
    start = time.time()
    tap_n = failures = skipped = 0
    seeds = 0
    while True:
        print("# roundtrip: %d cases, seed %d" % (a.cases, seed))
        sys.stdout.flush()
        tap_n, f, sk = run_seed(seed, a.cases, a.known_bugs, a.keep, a.verbose, tap_n, a.quick)
        failures += f
        skipped += sk
        seeds += 1
        if (failures and not a.keep_going) or not a.minutes or \
                time.time() - start > a.minutes * 60:
            break
        seed = sysrand.randrange(1, 2**31) if a.seed == "random" else seed + 1
    print("# roundtrip: %d cases in %d seed(s) (%d skipped as known bugs), %d failed, %.0f s"
          % (tap_n, seeds, skipped, failures, time.time() - start))
    if failures:
        print("# replay a failure with the command under it (same --known-bugs and --quick)")
    print("1..%d" % tap_n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
