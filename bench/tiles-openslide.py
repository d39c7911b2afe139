#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Patch extraction the way a typical openslide-python user script does it:
the peer of slidepipe's tiles operator in bench/tiles.sh.

usage: tiles-openslide.py SLIDE OUTDIR [--no-save] [--size 224] [--level 1]
                          [--min-tissue 0.5]

Tissue mask: read_region of the whole pyramid level whose downsample is
closest to 32 (ties: the finer level), converted to HSV with PIL; mask =
saturation > t, t Otsu's threshold of the saturation (256-bin histogram,
t maximising the between-class variance of [0, t] and (t, 255]; first t
on ties).

Patches: a grid of SIZE x SIZE patches at LEVEL, patch (i, j) at level-0
origin (i * SIZE * ds, j * SIZE * ds), ds = level_downsamples[LEVEL]; only
patches lying wholly inside LEVEL. A patch's tissue fraction is the
area-weighted mean of the mask over its footprint in mask coordinates
(edge mask pixels count by the fraction of them the footprint covers);
patches with fraction >= MIN_TISSUE are kept, read with read_region(...)
.convert('RGB') in row-major order and, unless --no-save, saved as
OUTDIR/x{X}_y{Y}.png (X, Y the level-0 origin; PIL's default PNG
compression). Prints "openslide-python: N patches kept of M, T s", T the
wall time from the start of the script. TILES_VERBOSE=1 in the
environment prints the mask level, Otsu threshold and tissue share on
stderr.
"""
import time

t_start = time.perf_counter()

import argparse
import os
import sys

import numpy as np
import openslide


def otsu(values):
    """Otsu's threshold of uint8 values: t maximising the between-class
    variance of [0, t] and (t, 255]."""
    hist = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(hist)[:-1]
    s0 = np.cumsum(hist * levels)[:-1]
    total, s = hist.sum(), (hist * levels).sum()
    w1 = total - w0
    with np.errstate(divide='ignore', invalid='ignore'):
        between = w0 * w1 * (s0 / w0 - (s - s0) / w1) ** 2
    between[(w0 == 0) | (w1 == 0)] = -1
    return int(np.argmax(between))


def coverage(n, step, mask_len):
    """n x mask_len matrix: how much of mask pixel c the interval
    [i * step, (i + 1) * step) covers (0 … 1), step in mask pixels."""
    a = np.arange(n)[:, None] * step
    c = np.arange(mask_len)[None, :]
    return np.clip(np.minimum(a + step, c + 1) - np.maximum(a, c), 0, None)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('slide')
    p.add_argument('outdir')
    p.add_argument('--no-save', action='store_true')
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--level', type=int, default=1)
    p.add_argument('--min-tissue', type=float, default=0.5)
    a = p.parse_args()

    slide = openslide.OpenSlide(a.slide)
    w0, h0 = slide.dimensions

    # tissue mask on the level with downsample closest to 32
    mlevel = min(range(slide.level_count),
                 key=lambda l: abs(slide.level_downsamples[l] - 32))
    mw, mh = slide.level_dimensions[mlevel]
    thumb = slide.read_region((0, 0), mlevel, (mw, mh)).convert('RGB')
    sat = np.asarray(thumb.convert('HSV'))[:, :, 1]
    t = otsu(sat)
    mask = (sat > t).astype(np.float64)

    # grid at the patch level, fractions as Wy @ mask @ Wx.T / area
    ds = slide.level_downsamples[a.level]
    lw, lh = slide.level_dimensions[a.level]
    nx, ny = lw // a.size, lh // a.size
    sx, sy = a.size * ds * mw / w0, a.size * ds * mh / h0  # patch side in mask px
    frac = coverage(ny, sy, mh) @ mask @ coverage(nx, sx, mw).T / (sx * sy)

    if not a.no_save:
        os.makedirs(a.outdir, exist_ok=True)
    kept = 0
    for j in range(ny):
        for i in range(nx):
            if frac[j, i] < a.min_tissue:
                continue
            x, y = int(i * a.size * ds), int(j * a.size * ds)
            patch = slide.read_region((x, y), a.level, (a.size, a.size)).convert('RGB')
            if not a.no_save:
                patch.save(os.path.join(a.outdir, f'x{x}_y{y}.png'))
            kept += 1
    if os.environ.get('TILES_VERBOSE'):
        print(f'mask: level {mlevel} ({mw} x {mh}, downsample '
              f'{slide.level_downsamples[mlevel]:g}), Otsu threshold {t} on '
              f'saturation, tissue {mask.mean():.3f} of the mask',
              file=sys.stderr)
    slide.close()
    print(f'openslide-python: {kept} patches kept of {nx * ny}, '
          f'{time.perf_counter() - t_start:.1f} s')


if __name__ == '__main__':
    main()
