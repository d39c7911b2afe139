#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The seed workflow in Python: tissue mask, patches, a CNN, an overlay.

    usage: seed_workflow.py SLIDE OUT.png [--mpp 0.5] [--size 224]
                            [--min-tissue 0.5] [--workers 0] [--check]

Steps:

1. Tissue mask: ``load SLIDE ! downsample ! threshold method=otsu
   channel=saturation`` at a low resolution (long side about 1024 px),
   read with to_numpy(); prints the tissue fraction of the slide.
2. Patches: SIZE × SIZE patches at MPP µm per pixel (0.5 by default) whose
   area is at least MIN_TISSUE tissue, from slidepipe.torch.PatchDataset
   through a torch DataLoader in batches of 32 (WORKERS worker processes;
   0: decoded by libslidepipe's threads in this process).
3. A small CNN made here (three conv layers with pooling, then a linear
   layer and a sigmoid: one score per patch), in eval mode under
   torch.no_grad(), on the patches scaled to floats 0 … 1. Its weights are
   random, fixed by torch.manual_seed(0): the scores show the plumbing
   working, they are not a diagnosis of anything. Put a trained model in
   its place for real use.
4. The scores go to scores.csv (x, y, w, h in level-0 pixels, score) in a
   temporary directory.
5. ``overlay`` paints them over a thumbnail of the slide (long side about
   800 px; the colour map spans the scores' own range, since an untrained
   network's scores crowd around one value), saved to OUT.png by slidepipe.

--check (for the test suite) also verifies the result: one CSV row per
patch, every score in [0, 1], OUT.png there with the size slidepipe
planned; it exits 1 if any of that fails.

Example:

    python3 examples/seed_workflow.py CMU-1-Small-Region.svs out.png
"""

import argparse
import csv
import math
import os
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

import slidepipe
import slidepipe.torch

BATCH = 32
MASK_LONG_SIDE = 1024   # tissue mask resolution, px on the long side
THUMB_LONG_SIDE = 800   # overlay picture, px on the long side (+ legend)


def log(msg):
    print(msg, flush=True)


def tissue_mask(slide):
    """Step 1: the Otsu/saturation mask of the whole slide at a low
    resolution; returns (mask array, factor)."""
    g = slidepipe.load(slide).geometry
    factor = max(1, math.ceil(max(g.width, g.height) / MASK_LONG_SIDE))
    mask = (slidepipe.load(slide).downsample(factor)
            .threshold(method="otsu", channel="saturation").to_numpy())
    return mask, factor


class SmallCNN(nn.Module):
    """Three conv + pool stages, global average pooling, a linear layer
    and a sigmoid: one score in (0, 1) per patch. The first convolution
    has stride 2 (as ResNet's stem), which keeps the CPU cost low: ~25
    MFLOP a 224 px patch."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.MaxPool2d(4),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(64, 1)

    def forward(self, x):
        return torch.sigmoid(self.head(self.features(x).flatten(1)))[:, 0]


def score_patches(slide, args, model):
    """Steps 2 and 3: (rows of x, y, w, h, score), seconds."""
    dataset = slidepipe.torch.PatchDataset(
        slide, size=args.size, mpp=args.mpp, min_tissue=args.min_tissue)
    extra = {}
    if args.workers > 0:
        # step 1 computed pixels in this process, and libvips is not
        # fork-safe after that: start the workers fresh
        extra = dict(multiprocessing_context="spawn")
    loader = DataLoader(dataset, batch_size=BATCH,
                        num_workers=args.workers, **extra)
    rows = []
    t0 = time.monotonic()
    with torch.no_grad():
        for i, (images, info) in enumerate(loader):
            scores = model(images.float() / 255.0)
            side = info["downsample"] * args.size   # level-0 px
            for x, y, s, score in zip(info["x"].tolist(), info["y"].tolist(),
                                      side.tolist(), scores.tolist()):
                rows.append((x, y, s, s, score))
            if i % 10 == 0:
                dt = time.monotonic() - t0
                log(f"  batch {i + 1}: {len(rows)} patches, {dt:.1f} s")
    return rows, time.monotonic() - t0


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x", "y", "w", "h", "score"])
        for x, y, pw, ph, score in rows:
            # level-0 coordinates may be fractional (0.5 mpp on a 0.499
            # mpp slide): keep three decimals, not %g's six digits
            w.writerow([round(x, 3), round(y, 3), round(pw, 3), round(ph, 3),
                        f"{score:.6f}"])


def overlay(slide, csv_path, out, scores):
    """Step 5: paints the scores over a thumbnail, saves OUT; returns the
    planned (width, height) of the picture."""
    g = slidepipe.load(slide).geometry
    factor = max(1, math.ceil(max(g.width, g.height) / THUMB_LONG_SIDE))
    lo, hi = (min(scores), max(scores)) if scores else (0.0, 1.0)
    if hi <= lo:
        lo, hi = 0.0, 1.0
    p = (slidepipe.load(slide).downsample(factor)
         .overlay(csv_path, column="score", range=f"{lo:.4f},{hi:.4f}",
                  alpha=0.5))
    size = (p.geometry.width, p.geometry.height)
    p.save(out)
    return size, factor, (lo, hi)


def check(csv_path, n_patches, out, size):
    """--check: the CSV, the scores and the picture."""
    problems = []
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != n_patches:
        problems.append(f"{len(rows)} CSV rows for {n_patches} patches")
    if n_patches == 0:
        problems.append("no patches")
    bad = [r["score"] for r in rows if not 0.0 <= float(r["score"]) <= 1.0]
    if bad:
        problems.append(f"{len(bad)} scores outside [0, 1], e.g. {bad[0]}")
    if not os.path.exists(out):
        problems.append(f"{out} is missing")
    else:
        from PIL import Image
        with Image.open(out) as im:
            if im.size != tuple(size):
                problems.append(f"{out} is {im.size[0]} × {im.size[1]}, "
                                f"expected {size[0]} × {size[1]}")
    for p in problems:
        print(f"check FAILED: {p}", file=sys.stderr)
    if not problems:
        log("check: ok")
    return not problems


def main():
    ap = argparse.ArgumentParser(
        description="tissue mask → patches → a small CNN with fixed random "
        "weights → per-patch scores → overlay picture (a demonstration of "
        "the plumbing, not a diagnosis)")
    ap.add_argument("slide", metavar="SLIDE")
    ap.add_argument("out", metavar="OUT.png")
    ap.add_argument("--mpp", type=float, default=0.5,
                    help="patch resolution, µm per pixel (default 0.5)")
    ap.add_argument("--size", type=int, default=224,
                    help="patch side, pixels (default 224)")
    ap.add_argument("--min-tissue", type=float, default=0.5,
                    help="keep patches at least this fraction tissue "
                    "(default 0.5)")
    ap.add_argument("--workers", type=int, default=0,
                    help="DataLoader worker processes (default 0)")
    ap.add_argument("--check", action="store_true",
                    help="verify the CSV, the scores and OUT.png; exit 1 "
                    "if wrong")
    args = ap.parse_args()

    t_start = time.monotonic()
    torch.manual_seed(0)
    model = SmallCNN().eval()

    g = slidepipe.load(args.slide).geometry
    mpp = f"{g.mpp_x:g} mpp" if g.mpp_x else "no mpp"
    log(f"slide: {args.slide}: {g.width} × {g.height}, {mpp}")

    t = time.monotonic()
    mask, factor = tissue_mask(args.slide)
    frac = float(np.count_nonzero(mask)) / mask.size
    log(f"1. tissue mask: {mask.shape[1]} × {mask.shape[0]} (÷{factor}), "
        f"{100 * frac:.1f} % tissue, {time.monotonic() - t:.1f} s")

    log(f"2-3. patches {args.size} px at {args.mpp:g} mpp, min tissue "
        f"{args.min_tissue:g}, batches of {BATCH}, {args.workers} workers "
        "→ CNN (random weights, seed 0)")
    rows, seconds = score_patches(args.slide, args, model)
    rate = len(rows) / seconds if seconds > 0 else 0.0
    scores = [r[4] for r in rows]
    if scores:
        log(f"   {len(rows)} patches in {seconds:.1f} s ({rate:.1f} "
            f"patches/s); scores {min(scores):.4f} … {max(scores):.4f}")
    else:
        log("   no patch kept (no tissue?)")

    ok = True
    with tempfile.TemporaryDirectory(prefix="seed-workflow-") as tmp:
        csv_path = os.path.join(tmp, "scores.csv")
        write_csv(csv_path, rows)
        log(f"4. scores: {csv_path}")
        t = time.monotonic()
        size, factor, (lo, hi) = overlay(args.slide, csv_path, args.out,
                                         scores)
        log(f"5. overlay: {args.out}: {size[0]} × {size[1]} (thumbnail ÷"
            f"{factor}, colours span {lo:.4f} … {hi:.4f}), "
            f"{time.monotonic() - t:.1f} s")
        if args.check:
            ok = check(csv_path, len(rows), args.out, size)

    total = time.monotonic() - t_start
    log(f"summary: {len(rows)} patches, {total:.1f} s in all, "
        f"{seconds:.1f} s patches + CNN ({rate:.1f} patches/s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
