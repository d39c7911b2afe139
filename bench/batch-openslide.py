#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# openslide-python doing the batch job in one process: read_region of
# each manifest row at level 0, PNG through PIL.
#   batch-openslide.py MANIFEST OUT_DIR
import csv, os, sys
import openslide

manifest, out_dir = sys.argv[1], sys.argv[2]
os.makedirs(out_dir, exist_ok=True)
slides = {}
with open(manifest, newline='') as f:
    for row in csv.DictReader(f):
        slide = slides.get(row['slide']) or slides.setdefault(row['slide'], openslide.OpenSlide(row['slide']))
        region = slide.read_region((int(row['x']), int(row['y'])), 0, (int(row['w']), int(row['h'])))
        region.convert('RGB').save(os.path.join(out_dir, row['out']))
