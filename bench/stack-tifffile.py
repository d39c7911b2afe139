#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The tifffile/numpy side of bench/stack.sh, and its input and check.

usage: stack-tifffile.py make STACK [--pages N] [--size S] [--seed K]
       stack-tifffile.py loop STACK OUT [--factor F]
       stack-tifffile.py imread STACK OUT [--factor F]
       stack-tifffile.py compare A B [--pages I,J,...]

make    an uncompressed multi-page TIFF of N pages S x S uint16 (default
        200 of 2048 x 2048, 1.6 GB), written page by page so that memory
        stays at a few pages: a smooth background that drifts along z, a
        fixed field of nuclei-like blobs that come into focus and go out
        of it, and noise; deterministic for a seed. Pages are tifffile's
        default layout: one strip each, no ImageDescription.
loop    page by page: TiffFile(STACK).pages, page.asarray(), numpy's box
        mean by F, rounded to uint16, each appended to OUT with
        TiffWriter.write(contiguous=True): one page in memory at a time
imread  tifffile.imread(STACK)[:, ::F, ::F] written with tifffile.imwrite:
        the whole stack in memory, and every F-th pixel, not a mean
compare the largest |A - B| over the given pages of two multi-page TIFFs
        (default: 5 pages spread over the stack), and their page counts
"""
import argparse
import sys

import numpy as np
import scipy.ndimage as ndi
import tifffile


def make(args):
    n, s = args.pages, args.size
    rng = np.random.default_rng(args.seed)
    # nuclei: discs of random radius and brightness, softened once
    blobs = np.zeros((s, s), np.float32)
    count = s * s // 6000
    cy, cx = rng.uniform(0, s, count), rng.uniform(0, s, count)
    r = rng.uniform(4, 14, count)
    amp = rng.uniform(0.4, 1.0, count).astype(np.float32)
    focus = rng.uniform(0, n, count)  # the page each is sharpest on
    depth = rng.uniform(n / 8, n / 3, count)
    yy, xx = np.mgrid[-16:17, -16:17]
    owner = np.zeros((s, s), np.int32)
    for i in range(count):
        y, x = int(cy[i]), int(cx[i])
        y0, y1 = max(0, y - 16), min(s, y + 17)
        x0, x1 = max(0, x - 16), min(s, x + 17)
        d = (yy + y - cy[i]) ** 2 + (xx + x - cx[i]) ** 2 <= r[i] ** 2
        sl = (slice(y0 - y + 16, y1 - y + 16), slice(x0 - x + 16, x1 - x + 16))
        blobs[y0:y1, x0:x1] = np.maximum(blobs[y0:y1, x0:x1], amp[i] * d[sl])
        # which blob each pixel belongs to, for its focus along z
        near = (yy + y - cy[i]) ** 2 + (xx + x - cx[i]) ** 2 <= (r[i] + 3) ** 2
        owner[y0:y1, x0:x1][near[sl]] = i
    blobs = ndi.gaussian_filter(blobs, 1.5)
    # a smooth background: low-resolution noise, smoothed along z, scaled up
    low = ndi.gaussian_filter(rng.normal(size=(n // 8 + 2, 33, 33)), (1, 2, 2))
    low = (low - low.min()) / (low.max() - low.min())
    with tifffile.TiffWriter(args.stack, bigtiff=n * s * s * 2 > 4e9) as tw:
        for z in range(n):
            zr = np.random.default_rng([args.seed, z])
            k = z / 8.0
            lo = low[int(k)] * (1 - k % 1) + low[int(k) + 1] * (k % 1)
            bg = ndi.zoom(lo, s / 33.0, order=1)[:s, :s]
            f = np.exp(-((z - focus) / depth) ** 2).astype(np.float32)
            img = 3000 + 9000 * bg + 50000 * blobs * f[owner]
            img += zr.normal(scale=600, size=img.shape)
            tw.write(np.clip(np.rint(img), 0, 65535).astype(np.uint16),
                     photometric="minisblack", metadata=None)


def loop(args):
    f = args.factor
    with tifffile.TiffFile(args.stack) as t, tifffile.TiffWriter(args.out) as w:
        for page in t.pages:
            a = page.asarray()
            h, wd = a.shape
            m = a.reshape(h // f, f, wd // f, f).mean((1, 3))
            w.write(np.rint(m).astype(np.uint16), contiguous=True,
                    photometric="minisblack")


def imread(args):
    f = args.factor
    a = tifffile.imread(args.stack)[:, ::f, ::f]
    tifffile.imwrite(args.out, a, photometric="minisblack")


def compare(args):
    with tifffile.TiffFile(args.a) as ta, tifffile.TiffFile(args.b) as tb:
        na, nb = len(ta.pages), len(tb.pages)
        if args.pages:
            idx = [int(i) for i in args.pages.split(",")]
        else:
            idx = sorted(set(int(round(i * (min(na, nb) - 1) / 4.0)) for i in range(5)))
        worst = 0
        for i in idx:
            pa, pb = ta.pages[i].asarray(), tb.pages[i].asarray()
            if pa.shape != pb.shape:
                print("pages %d %d; page %d shapes %s %s" % (na, nb, i, pa.shape, pb.shape))
                return 1
            worst = max(worst, int(np.abs(pa.astype(np.int64) - pb.astype(np.int64)).max()))
    print("pages %d %d; sampled %s; max |difference| %d" % (
        na, nb, ",".join(map(str, idx)), worst))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make")
    p.add_argument("stack")
    p.add_argument("--pages", type=int, default=200)
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--seed", type=int, default=15)
    for name in ("loop", "imread"):
        p = sub.add_parser(name)
        p.add_argument("stack")
        p.add_argument("out")
        p.add_argument("--factor", type=int, default=4)
    p = sub.add_parser("compare")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--pages", default="")
    args = ap.parse_args()
    sys.exit({"make": make, "loop": loop, "imread": imread,
              "compare": compare}[args.cmd](args) or 0)


if __name__ == "__main__":
    main()
