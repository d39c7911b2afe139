#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Which reader sees which metadata of slidepipe's TIFF outputs.

usage: metadata-table.py LABEL=FILE …

For each FILE (labelled LABEL, e.g. "svs"), asks four readers what they
see and prints a Markdown table, one row per output format and reader:

  OpenSlide   python3-openslide over the system's libopenslide (3.4.1 on
              Debian 12): openslide.mpp-x, openslide.objective-power,
              level_count, associated_images; ICC: no API in 3.4.1
  vips        `vipsheader -a` (libvips' own choice of loader): mpp from
              openslide.mpp-x or 1000 / xres (px/mm, when the file has a
              resolution unit), objective from openslide.objective-power,
              levels from openslide.level-count or the pages and SubIFDs,
              associated from slide-associated-images, ICC from
              icc-profile-data
  tifffile    python3-tifffile: mpp from the Aperio description (MPP),
              the OME-XML (PhysicalSizeX) or XResolution; objective from
              AppMag or NominalMagnification; levels of series 0; other
              series as associated images; ICC from tag 34675
  GDAL        `gdalinfo -json -mdd all`, when installed: mpp from
              TIFFTAG_XRESOLUTION/RESOLUTIONUNIT; levels = 1 + overviews;
              associated: subdatasets; ICC from COLOR_PROFILE

A cell is "—" when the reader reports nothing; "error: …" when it cannot
open the file.
"""
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

COLUMNS = ["mpp (µm)", "objective", "levels", "associated images", "ICC profile"]


def g(x):
    return "%.4g" % x


def openslide_row(path):
    import openslide

    try:
        s = openslide.OpenSlide(path)
    except Exception as e:  # noqa: BLE001 — any failure is a table cell
        return ["error: %s" % e] * 5
    p = s.properties
    desc = p.get("tiff.ImageDescription", "")

    def in_description(key):
        m = re.search(r"^%s = (\S+)$" % re.escape(key), desc, re.M)
        return " (tiff.ImageDescription: %s)" % m.group(1) if m else ""

    mpp = p.get("openslide.mpp-x")
    if mpp:
        mpp = g(float(mpp))
    else:
        mpp = "—" + in_description("openslide.mpp-x")
        if "tiff.XResolution" in p:
            mpp += " (tiff.XResolution %s per %s)" % (
                g(float(p["tiff.XResolution"])),
                p.get("tiff.ResolutionUnit", "?"))
    obj = p.get("openslide.objective-power") or \
        "—" + in_description("openslide.objective-power")
    return [mpp, obj,
            "%d (%s)" % (s.level_count, p.get("openslide.vendor")),
            ", ".join(sorted(s.associated_images)) or "—",
            "— (no ICC API in %s)" % openslide.__library_version__]


def vips_row(path):
    r = subprocess.run(["vipsheader", "-a", path], capture_output=True,
                       text=True)
    if r.returncode:
        return ["error: %s" % r.stderr.strip()[:60]] * 5
    h = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(": ")
        h.setdefault(k.strip(), v.strip())
    loader = h.get("vips-loader", "?")
    if "openslide.mpp-x" in h:
        mpp = g(float(h["openslide.mpp-x"]))
    elif h.get("resolution-unit") in ("cm", "in") and "xres" in h:
        mpp = g(1000.0 / float(h["xres"].split()[0]))
    else:
        mpp = "—"
    if "openslide.level-count" in h:
        levels = "%s (%s)" % (h["openslide.level-count"], loader)
    else:
        pages = h.get("n-pages", "1")
        subifds = h.get("n-subifds", "0")
        levels = "%s page(s) + %s SubIFD(s) (%s)" % (pages, subifds, loader)
    icc = h.get("icc-profile-data")
    icc = ("yes, " + icc.split(",")[0].replace(" of binary data", "").strip()
           if icc else "—")
    return [mpp, h.get("openslide.objective-power", "—"), levels,
            h.get("slide-associated-images", "—") or "—", icc]


def tifffile_row(path):
    import tifffile

    try:
        t = tifffile.TiffFile(path)
    except Exception as e:  # noqa: BLE001
        return ["error: %s" % e] * 5
    with t:
        p0 = t.pages[0]
        mpp = obj = None
        if t.is_svs:
            # tifffile's is_svs test passed: read the keys as Aperio's
            m = dict(kv.split(" = ", 1) for kv in p0.description.split("|")[1:]
                     if " = " in kv)
            mpp = float(m["MPP"]) if "MPP" in m else None
            obj = m.get("AppMag")
        elif t.is_ome:
            root = ET.fromstring(t.ome_metadata)
            ns = {"o": root.tag.split("}")[0].strip("{")}
            px = root.find(".//o:Pixels", ns)
            if px is not None and px.get("PhysicalSizeX"):
                mpp = float(px.get("PhysicalSizeX"))
            ob = root.find(".//o:Objective", ns)
            if ob is not None:
                obj = ob.get("NominalMagnification")
        if mpp is None and "XResolution" in p0.tags:
            unit = p0.tags.get("ResolutionUnit")
            unit = unit.value if unit is not None else 2
            num, den = p0.tags["XResolution"].value
            per = {2: 25400.0, 3: 10000.0}.get(int(unit))
            if per and num:
                mpp = "%s (XResolution)" % g(per * den / num)
        s0 = t.series[0]
        others = [s.name or s.kind for s in t.series[1:]]
        icc = p0.tags.get(34675)
        return [g(mpp) if isinstance(mpp, float) else (mpp or "—"),
                str(obj) if obj else "—",
                "%d (series %s)" % (len(s0.levels), s0.kind or "?"),
                ", ".join(others) or "—",
                "yes, %d bytes" % len(icc.value) if icc else "—"]


def gdal_row(path):
    if not shutil.which("gdalinfo"):
        return ["(gdalinfo not installed)"] * 5
    r = subprocess.run(["gdalinfo", "-json", "-mdd", "all", path],
                       capture_output=True, text=True)
    if r.returncode:
        return ["error: %s" % r.stderr.strip()[:60]] * 5
    d = json.loads(r.stdout)
    md = d.get("metadata", {}).get("", {})
    mpp = "—"
    res, unit = md.get("TIFFTAG_XRESOLUTION"), md.get("TIFFTAG_RESOLUTIONUNIT", "")
    if res and float(res) > 0:
        per = 10000.0 if unit.startswith("3") else 25400.0 if unit.startswith("2") else None
        if per:
            mpp = "%s (TIFFTAG_XRESOLUTION)" % g(per / float(res))
    subs = d.get("metadata", {}).get("SUBDATASETS", {})
    n_sub = len([k for k in subs if k.endswith("_NAME")])
    overviews = d.get("bands", [{}])[0].get("overviews", [])
    icc = d.get("metadata", {}).get("COLOR_PROFILE", {}).get("SOURCE_ICC_PROFILE")
    sizes = [d.get("size", [0, 0])] + [o.get("size", [0, 0]) for o in overviews]
    return [mpp, "—", "%d: %s" % (len(sizes), ", ".join("%d×%d" % tuple(z)
                                                         for z in sizes)),
            "%d subdataset(s)" % n_sub if n_sub else "—",
            "yes (SOURCE_ICC_PROFILE)" if icc else "—"]


def main():
    rows = []
    for arg in sys.argv[1:]:
        label, _, path = arg.partition("=")
        for reader, fn in (("OpenSlide", openslide_row), ("vips", vips_row),
                           ("tifffile", tifffile_row), ("GDAL", gdal_row)):
            rows.append([label, reader] + fn(path))
    import openslide
    import tifffile

    vips = subprocess.run(["vips", "--version"], capture_output=True,
                          text=True).stdout.strip()
    gdal = subprocess.run(["gdalinfo", "--version"], capture_output=True,
                          text=True).stdout.strip() \
        if shutil.which("gdalinfo") else "GDAL not installed"
    print("Readers: OpenSlide %s (python3-openslide %s), %s, tifffile %s, "
          "%s.\n" % (openslide.__library_version__, openslide.__version__,
                     vips, tifffile.__version__, gdal.split(",")[0]))
    print("| output | reader | " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * (len(COLUMNS) + 2))
    for r in rows:
        print("| " + " | ".join(re.sub(r"\s+", " ", c) for c in r) + " |")


if __name__ == "__main__":
    main()
