#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What OpenSlide (through python3-openslide) sees in a slide.

usage: openslide-check.py FILE
         JSON: vendor, level_count, level_dimensions, level_downsamples,
         tile sizes, mpp-x, mpp-y (null when absent), associated images
       openslide-check.py FILE FIELD…
         fields as plain text, one a line, for shell tests:
           vendor        the vendor name
           level_count   the number of levels
           levels        level sizes, "W×H,W×H,…"
           downsamples   level downsamples, "1,2.0005,…" (5 significant digits)
           mpp           "MPPX × MPPY", or "unknown"
           tile          level 0's tile size, "W×H"
           associated    associated images, "name:W×H,…" (sorted)
       openslide-check.py box FILE X Y W H F
         the mean R, G, B of the region X Y W H (level-0 px) read at the
         level best for downsample F, as "R G B"

Exit status 1 (with a message on stderr) when OpenSlide cannot open FILE.
"""
import json
import sys

import openslide
from PIL import Image, ImageStat


def open_slide(path):
    try:
        return openslide.OpenSlide(path)
    except (openslide.OpenSlideError, openslide.OpenSlideUnsupportedFormatError) as e:
        sys.exit("openslide-check: %s: %s" % (path, e or "not a slide OpenSlide reads"))


def mpp(props, axis):
    value = props.get("openslide.mpp-" + axis)
    return float(value) if value else None


def describe(slide):
    props = slide.properties
    return {
        "vendor": props.get(openslide.PROPERTY_NAME_VENDOR),
        "level_count": slide.level_count,
        "level_dimensions": [list(d) for d in slide.level_dimensions],
        "level_downsamples": list(slide.level_downsamples),
        "tile_width": int(props.get("openslide.level[0].tile-width", 0)),
        "tile_height": int(props.get("openslide.level[0].tile-height", 0)),
        "mpp-x": mpp(props, "x"),
        "mpp-y": mpp(props, "y"),
        "associated": {k: list(v.size) for k, v in slide.associated_images.items()},
    }


def field(info, name):
    if name == "vendor":
        return info["vendor"] or ""
    if name == "level_count":
        return str(info["level_count"])
    if name == "levels":
        return ",".join("%d×%d" % tuple(d) for d in info["level_dimensions"])
    if name == "downsamples":
        return ",".join("%.5g" % d for d in info["level_downsamples"])
    if name == "mpp":
        if info["mpp-x"] is None or info["mpp-y"] is None:
            return "unknown"
        return "%g × %g" % (info["mpp-x"], info["mpp-y"])
    if name == "tile":
        return "%d×%d" % (info["tile_width"], info["tile_height"])
    if name == "associated":
        return ",".join("%s:%d×%d" % (k, v[0], v[1])
                        for k, v in sorted(info["associated"].items()))
    sys.exit("openslide-check: unknown field '%s'" % name)


def box(path, x, y, w, h, f):
    slide = open_slide(path)
    level = slide.get_best_level_for_downsample(f)
    ds = slide.level_downsamples[level]
    size = (max(1, int(round(w / ds))), max(1, int(round(h / ds))))
    region = slide.read_region((int(x), int(y)), level, size)
    # flatten RGBA on white, as slidepipe does
    white = Image.new("RGBA", region.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, region).convert("RGB")
    return " ".join("%.2f" % m for m in ImageStat.Stat(rgb).mean)


def main(argv):
    if len(argv) == 8 and argv[1] == "box":
        x, y, w, h, f = (float(v) for v in argv[3:8])
        print(box(argv[2], x, y, w, h, f))
        return 0
    if len(argv) < 2:
        sys.exit(__doc__)
    info = describe(open_slide(argv[1]))
    if len(argv) > 2:
        for name in argv[2:]:
            print(field(info, name))
    else:
        print(json.dumps(info, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
