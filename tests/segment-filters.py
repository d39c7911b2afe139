#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Oracles for tests/segment-filters.sh: scipy and scikit-image on the
same pixels slidepipe's segmentation filters saw.

    segment-filters.py make DIR SEED     random test images in DIR
    segment-filters.py check SPECS       one "NAME VALUE" line per spec

A spec line is KIND NAME ARGS…:
    blur NAME IN OUT SIGMA               PSNR (dB, peak 255) of OUT against
                                         gaussian_filter(IN, SIGMA,
                                         truncate=4) away from the borders
    deconv NAME IN OUT STAIN CHANNEL     max |OUT - skimage| / range, STAIN
                                         he (rgb2hed) or hdab (hdx_from_rgb)
    local NAME IN OUT BLOCK MODE OFFSET INVERT
                                         fraction of pixels equal to
                                         IN > threshold_local(IN, …) (<= with
                                         INVERT 1) away from the borders
    morph NAME IN OUT OP RADIUS SHAPE    fraction equal to scipy's binary_OP
                                         with disk(R) or a square
    maxdiff NAME A B                     max |A - B|
    mask NAME OUT                        "W×H×BANDS DTYPE VALUES" of a mask
"""
import sys

import numpy as np
import tifffile
from scipy import ndimage as ndi
from skimage import color, filters, morphology


def read(path):
    a = tifffile.imread(path)
    return np.asarray(a)


def make(directory, seed):
    rng = np.random.default_rng(seed)
    h, w = 384, 512
    # smooth structure at several scales, plus noise: few exact ties
    def texture(bands):
        out = []
        for _ in range(bands):
            base = ndi.gaussian_filter(rng.normal(size=(h, w)), 12)
            fine = ndi.gaussian_filter(rng.normal(size=(h, w)), 2)
            img = base / base.std() * 40 + fine / fine.std() * 15 + \
                rng.normal(size=(h, w)) * 6 + 128
            out.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
        return out[0] if bands == 1 else np.dstack(out)
    tifffile.imwrite(f"{directory}/gray.tif", texture(1))
    # H&E-like colours: random stain amounts through skimage's own matrix
    hed = np.dstack([
        np.clip(ndi.gaussian_filter(rng.random((h, w)), 3) * 0.6 +
                rng.random((h, w)) * 0.05 - 0.2, 0, None),
        np.clip(ndi.gaussian_filter(rng.random((h, w)), 6) * 0.4 +
                rng.random((h, w)) * 0.03 - 0.1, 0, None),
        np.clip(rng.random((h, w)) * 0.02, 0, None)])
    rgb = color.hed2rgb(hed)
    rgb = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    # some saturated and black pixels: the 1e-6 clip
    rgb[rng.random((h, w)) < 0.002] = 0
    rgb[rng.random((h, w)) < 0.002] = 255
    tifffile.imwrite(f"{directory}/rgb.tif", rgb, photometric="rgb")
    # a mask: blobs of several sizes, holes, specks and 1-px lines
    blobs = ndi.gaussian_filter(rng.normal(size=(h, w)), 5)
    mask = blobs > 0.02
    mask ^= rng.random((h, w)) < 0.01
    mask[100, 50:400] = True
    mask[:, 300] = False
    tifffile.imwrite(f"{directory}/mask.tif",
                     (mask * 255).astype(np.uint8))


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def inner(a, border):
    return a[border:a.shape[0] - border, border:a.shape[1] - border]


def blur(args):
    src, out, sigma = read(args[0]).astype(np.float64), read(args[1]), \
        float(args[2])
    sig = (sigma, sigma, 0) if src.ndim == 3 else sigma
    want = ndi.gaussian_filter(src, sig, truncate=4.0)
    if out.shape != want.shape:
        return f"shape {out.shape} != {want.shape}"
    b = int(4 * sigma + 0.5) + 1
    return "%.2f" % psnr(inner(out, b), inner(want, b))


def deconv(args):
    src, out, stain, channel = read(args[0]), read(args[1]), args[2], \
        int(args[3])
    if stain == "he":
        want = color.rgb2hed(src[..., :3])[..., channel]
    else:
        want = color.separate_stains(src[..., :3],
                                     color.hdx_from_rgb)[..., channel]
    if out.shape != want.shape:
        return f"shape {out.shape} != {want.shape}"
    spread = max(float(want.max() - want.min()), 1e-12)
    return "%.3g" % (np.abs(out.astype(np.float64) - want).max() / spread)


def local(args):
    src, out = read(args[0]), read(args[1])
    block, mode, offset, invert = int(args[2]), args[3], float(args[4]), \
        args[5] == "1"
    t = filters.threshold_local(src, block, method=mode, offset=offset)
    want = (src <= t) if invert else (src > t)
    if out.shape != want.shape:
        return f"shape {out.shape} != {want.shape}"
    b = block // 2 if mode == "mean" else int(4 * (block - 1) / 6 + 0.5)
    return "%.5f" % np.mean(inner(out > 0, b + 1) == inner(want, b + 1))


def morph(args):
    src, out = read(args[0]) > 0, read(args[1])
    op, radius, shape = args[2], float(args[3]), args[4]
    r = int(np.floor(radius + 1e-9))
    if shape == "disk":
        ys, xs = np.mgrid[-r:r + 1, -r:r + 1]
        fp = xs ** 2 + ys ** 2 <= radius ** 2
        if radius == r:
            assert (fp == morphology.disk(r).astype(bool)).all()
    else:
        fp = np.ones((2 * r + 1, 2 * r + 1), bool)
    fn = {"erode": ndi.binary_erosion, "dilate": ndi.binary_dilation,
          "open": ndi.binary_opening, "close": ndi.binary_closing}[op]
    want = fn(src, structure=fp)
    if out.shape != want.shape:
        return f"shape {out.shape} != {want.shape}"
    b = 2 * r if op in ("open", "close") else r
    return "%.5f" % np.mean(inner(out > 0, b + 1) == inner(want, b + 1))


def maxdiff(args):
    a, b = read(args[0]).astype(np.float64), read(args[1]).astype(np.float64)
    if a.shape != b.shape:
        return f"shape {a.shape} != {b.shape}"
    return "%.3g" % np.abs(a - b).max()


def mask(args):
    a = read(args[0])
    bands = 1 if a.ndim == 2 else a.shape[2]
    values = ",".join(str(v) for v in np.unique(a)[:4])
    return f"{a.shape[1]}×{a.shape[0]}×{bands} {a.dtype} {values}"


def main():
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
        return
    kinds = {"blur": blur, "deconv": deconv, "local": local, "morph": morph,
             "maxdiff": maxdiff, "mask": mask}
    with open(sys.argv[2]) as specs:
        for line in specs:
            words = line.split()
            if not words:
                continue
            try:
                value = kinds[words[0]](words[2:])
            except Exception as e:  # reported, the check then fails
                value = "error:" + type(e).__name__ + ":" + \
                    str(e).replace(" ", "_")[:80]
            print(words[1], value, flush=True)


main()
