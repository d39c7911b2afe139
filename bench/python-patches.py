#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""224² patches at level 1 with tissue >= 0.5 as numpy arrays / tensors,
one way per run: the rows of bench/python.sh.

usage: python-patches.py MODE SLIDE [--coords FILE] [--size 224]
                         [--level 1] [--min-tissue 0.5]

MODE:
  openslide  openslide-python read_region loop, each patch
             np.asarray(read_region(...).convert('RGB')); the grid and
             Otsu saturation mask of bench/tiles-openslide.py
  slidepipe  for p in slidepipe.load(SLIDE).patches(...): consume p.array
  loader0    slidepipe.torch.PatchDataset + DataLoader(batch_size=32,
             num_workers=0)
  loader2    the same, num_workers=2 (fork: this process computes no
             pixels before the DataLoader starts)

Every patch's first pixel is added to a checksum so no work is skipped.
Prints "MODE: N patches, T s, checksum C", T the wall time from the
start of the script (imports included). --coords FILE writes the kept
patches' level-0 "x y" (integers, sorted) to FILE, one a line.
"""
import time

t_start = time.perf_counter()

import argparse
import importlib.util
import os
import sys


def openslide_patches(a):
    import numpy as np
    import openslide
    # the mask and grid functions of the existing openslide-python peer
    spec = importlib.util.spec_from_file_location(
        "tiles_openslide",
        os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     "tiles-openslide.py"))
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)

    slide = openslide.OpenSlide(a.slide)
    w0, h0 = slide.dimensions
    mlevel = min(range(slide.level_count),
                 key=lambda l: abs(slide.level_downsamples[l] - 32))
    mw, mh = slide.level_dimensions[mlevel]
    thumb = slide.read_region((0, 0), mlevel, (mw, mh)).convert('RGB')
    sat = np.asarray(thumb.convert('HSV'))[:, :, 1]
    mask = (sat > peer.otsu(sat)).astype(np.float64)
    ds = slide.level_downsamples[a.level]
    lw, lh = slide.level_dimensions[a.level]
    nx, ny = lw // a.size, lh // a.size
    sx, sy = a.size * ds * mw / w0, a.size * ds * mh / h0
    frac = (peer.coverage(ny, sy, mh) @ mask @ peer.coverage(nx, sx, mw).T
            / (sx * sy))
    n, check, coords = 0, 0, []
    for j in range(ny):
        for i in range(nx):
            if frac[j, i] < a.min_tissue:
                continue
            x, y = int(i * a.size * ds), int(j * a.size * ds)
            arr = np.asarray(slide.read_region(
                (x, y), a.level, (a.size, a.size)).convert('RGB'))
            check += int(arr[0, 0, 0])
            n += 1
            coords.append((x, y))
    slide.close()
    return n, check, coords


def slidepipe_patches(a):
    import slidepipe
    n, check, coords = 0, 0, []
    for p in slidepipe.load(a.slide).patches(a.size, level=a.level,
                                             min_tissue=a.min_tissue):
        check += int(p.array[0, 0, 0])
        n += 1
        coords.append((round(p.x), round(p.y)))
    return n, check, coords


def loader_patches(a, workers):
    import slidepipe
    import slidepipe.torch
    from torch.utils.data import DataLoader
    ds = slidepipe.torch.PatchDataset(slidepipe.load(a.slide), size=a.size,
                                      level=a.level, min_tissue=a.min_tissue)
    n, check, coords = 0, 0, []
    for images, info in DataLoader(ds, batch_size=32, num_workers=workers):
        check += int(images[:, 0, 0, 0].sum())
        n += images.shape[0]
        coords.extend(zip((round(float(v)) for v in info["x"]),
                          (round(float(v)) for v in info["y"])))
    return n, check, coords


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('mode', choices=('openslide', 'slidepipe', 'loader0',
                                    'loader2'))
    p.add_argument('slide')
    p.add_argument('--coords')
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--level', type=int, default=1)
    p.add_argument('--min-tissue', type=float, default=0.5)
    a = p.parse_args()
    if a.mode == 'openslide':
        n, check, coords = openslide_patches(a)
    elif a.mode == 'slidepipe':
        n, check, coords = slidepipe_patches(a)
    else:
        n, check, coords = loader_patches(a, int(a.mode[-1]))
    t = time.perf_counter() - t_start
    if a.coords:
        with open(a.coords, 'w') as f:
            f.writelines(f'{x} {y}\n' for x, y in sorted(coords))
    print(f'{a.mode}: {n} patches, {t:.2f} s, checksum {check}')


if __name__ == '__main__':
    sys.exit(main())
