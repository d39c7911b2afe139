# SPDX-License-Identifier: LGPL-2.1-or-later
"""DICOM whole-slide series through the Python package: a series the
package writes (save format=dicom, the synthetic slide's JPEG tiles copied
into its frames) opens in slidepipe.OpenSlide with the TIFF's levels and
mpp, reads as openslide-python reads the TIFF pixel for pixel, and goes
back to a TIFF (its frames copied into tiles) that openslide-python opens.
"""

import os
import subprocess

import numpy as np
import pytest

openslide = pytest.importorskip("openslide")

import slidepipe  # noqa: E402  (after the skip)
from slidepipe import _capi  # noqa: E402

# the command line, for the ctypes bindings, which have no pipelines
SLIDEPIPE = os.environ.get("SLIDEPIPE", os.path.join(
    os.path.dirname(__file__), "..", "..", "src", "slidepipe"))
needs_pipelines = pytest.mark.skipif(
    not _capi.api.has_pipelines,
    reason="the ctypes bindings have no pipelines (they need cffi)")


@pytest.fixture(scope="module")
def series(synthetic_slide, tmp_path_factory):
    out = tmp_path_factory.mktemp("dicom") / "series"
    if _capi.api.has_pipelines:
        r = slidepipe.load(synthetic_slide).save(out, format="dicom",
                                                 compression="copy")
        assert r.output == str(out)
    elif os.access(SLIDEPIPE, os.X_OK):
        subprocess.run([SLIDEPIPE, "-q", "load", synthetic_slide, "!", "save",
                        str(out), "format=dicom", "compression=copy"],
                       check=True)
    else:
        pytest.skip(f"no pipelines (ctypes) and no {SLIDEPIPE} to write the series")
    return str(out)


def test_levels_and_mpp(synthetic_slide, series):
    with openslide.OpenSlide(synthetic_slide) as o, \
            slidepipe.OpenSlide(series) as s:
        assert s.level_count == o.level_count
        assert s.level_dimensions == o.level_dimensions
        assert s.mpp == pytest.approx((0.25, 0.25))
        assert s.properties["dicom.DimensionOrganizationType"] == "TILED_FULL"
        assert sorted(os.listdir(series)) == \
            ["level-%d.dcm" % i for i in range(o.level_count)]


def test_pixels_equal_openslide_on_the_tiff(synthetic_slide, series):
    with openslide.OpenSlide(synthetic_slide) as o, \
            slidepipe.OpenSlide(series) as s:
        # levels 0–3 are the TIFF's tiles byte for byte (level 4's
        # downsample, 16.02, is no power of 2: computed, JPEG's loss)
        for level in range(4):
            ds = o.level_downsamples[level]
            for x, y, w, h in ((0, 0, 300, 200), (700, 500, 600, 400)):
                a = np.asarray(o.read_region((int(x * ds), int(y * ds)), level,
                                             (w, h)))
                b = np.asarray(s.read_region((int(x * ds), int(y * ds)), level,
                                             (w, h)))
                assert np.array_equal(a, b), f"level {level} region {x, y, w, h}"


@needs_pipelines
def test_back_to_tiff(series, tmp_path):
    out = tmp_path / "back.tif"
    slidepipe.load(series).save(out, compression="copy")
    with openslide.OpenSlide(str(out)) as o, \
            slidepipe.OpenSlide(series) as s:
        assert o.level_dimensions == s.level_dimensions
        a = np.asarray(o.read_region((1000, 700), 0, (512, 512)))
        b = np.asarray(s.read_region((1000, 700), 0, (512, 512)))
        assert np.array_equal(a, b)


def test_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 64)
    with pytest.raises(slidepipe.Error, match="bad.dcm"):
        slidepipe.OpenSlide(bad)
