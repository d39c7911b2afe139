#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The segmentation chain of bench/segment.sh the way a scikit-image user
writes it (the dask-image tutorial's chain, on one image in memory): the
peer of slidepipe's `deconvolve ! blur ! threshold method=local ! morph
open ! label`.

usage: segment-skimage.py IMAGE OBJECTS_CSV [--sigma 1] [--block 51]
                          [--radius 2] [--min-area 0]

IMAGE is read whole with tifffile (level 0 of a pyramidal TIFF); then
haematoxylin = skimage.color.rgb2hed(rgb)[..., 0]; smoothed =
scipy.ndimage.gaussian_filter(h, sigma); mask = smoothed >
skimage.filters.threshold_local(smoothed, block, method='gaussian');
mask = scipy.ndimage.binary_opening(mask, skimage.morphology.disk(radius));
labels = scipy.ndimage.label(mask, 8-connectivity); per object
skimage.measure.regionprops(labels, intensity_image=rgb): area, centroid,
bbox, mean intensity, perimeter, major/minor axis, eccentricity,
orientation, written as CSV. Prints "skimage: N objects, T s".
"""
import argparse
import csv
import sys
import time

t0 = time.perf_counter()
import numpy as np
import scipy.ndimage as ndi
import tifffile
from skimage import color, filters, measure, morphology


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("image")
    ap.add_argument("objects")
    ap.add_argument("--sigma", type=float, default=1.0)
    ap.add_argument("--block", type=int, default=51)
    ap.add_argument("--radius", type=int, default=2)
    ap.add_argument("--offset", type=float, default=0.0)
    ap.add_argument("--min-area", type=int, default=0)
    a = ap.parse_args()

    rgb = tifffile.imread(a.image, key=0)[..., :3]
    h = color.rgb2hed(rgb)[..., 0]
    smoothed = ndi.gaussian_filter(h, a.sigma)
    mask = smoothed > filters.threshold_local(smoothed, a.block,
                                              method="gaussian",
                                              offset=a.offset)
    mask = ndi.binary_opening(mask, morphology.disk(a.radius))
    labels, n = ndi.label(mask, structure=np.ones((3, 3), bool))
    props = measure.regionprops(labels, intensity_image=rgb)
    kept = 0
    with open(a.objects, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "area", "centroid_x", "centroid_y", "bbox_x",
                    "bbox_y", "bbox_w", "bbox_h", "mean_r", "mean_g",
                    "mean_b", "perimeter", "major_axis", "minor_axis",
                    "eccentricity", "orientation"])
        for p in props:
            if p.area < a.min_area:
                continue
            kept += 1
            r0, c0, r1, c1 = p.bbox
            m = p.mean_intensity
            w.writerow([p.label, p.area, p.centroid[1], p.centroid[0], c0,
                        r0, c1 - c0, r1 - r0, m[0], m[1], m[2], p.perimeter,
                        p.major_axis_length, p.minor_axis_length,
                        p.eccentricity, p.orientation])
    print("skimage: %d objects, %.2f s" % (kept, time.perf_counter() - t0))


if __name__ == "__main__":
    sys.exit(main())
