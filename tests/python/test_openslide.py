# SPDX-License-Identifier: LGPL-2.1-or-later
"""slidepipe.OpenSlide against openslide-python, call for call.

On the synthetic slide (examples/make-slide) and the real slides in
../shared/slides: levels, downsamples, properties, mpp, associated images
(sizes and pixels), read_region (RGBA: levels 0, 1 and the last, regions
across tile edges, the slide's edges and wholly outside), read_region_array,
get_best_level_for_downsample and thumbnails; then errors and closing.

Pixels are compared exactly wherever the region's level-0 origin divided by
the level's downsample is a whole number (every level of the synthetic
slide, level 0 everywhere). Where it is not (level 1 of the TCGA slide,
downsample 2.0005) OpenSlide interpolates between pixels and slidepipe takes
the nearest one (libvips' openslideload, through which slidepipe reads that
level, has OpenSlide interpolate inside its own tiles too): there the
opaque pixels are compared within a tolerance and OpenSlide's half-covered
edge pixels (alpha strictly between 0 and 255) are left out.
"""

import os

import numpy as np
import pytest

openslide = pytest.importorskip("openslide")
PIL = pytest.importorskip("PIL.Image")

import slidepipe  # noqa: E402  (after the skips)

from conftest import STATS  # noqa: E402

# nearest pixel against OpenSlide's interpolation, where they differ (on
# the shared slides and the synthetic one: at most 6, mean at most 0.33)
TOL_MAX = 16
TOL_MEAN = 0.5


@pytest.fixture
def pair(slide_path):
    o = openslide.OpenSlide(slide_path)
    s = slidepipe.OpenSlide(slide_path)
    STATS["slides"].add(os.path.basename(slide_path))
    yield o, s
    o.close()
    s.close()


def test_levels(pair):
    o, s = pair
    assert s.level_count == o.level_count
    assert s.dimensions == o.dimensions
    assert s.level_dimensions == o.level_dimensions
    # the same doubles, not just close ones
    assert s.level_downsamples == o.level_downsamples
    for i, (tw, th) in enumerate(s.level_tile_sizes):
        assert str(tw) == o.properties.get(f"openslide.level[{i}].tile-width", "0")
        assert str(th) == o.properties.get(f"openslide.level[{i}].tile-height", "0")


def test_properties(pair):
    o, s = pair
    op, sp = dict(o.properties), dict(s.properties)
    # OpenSlide's standard keys slidepipe reports are OpenSlide's values
    for key, value in sp.items():
        if key in op:
            assert value == op[key], key
    # what OpenSlide has and slidepipe not: only the hash of the tile data
    assert set(op) - set(sp) <= {"openslide.quickhash-1"}
    # what slidepipe has and OpenSlide 3.4.1 not: the pixel size of a
    # generic TIFF (OpenSlide 4 reports it), from its resolution tags
    extra = set(sp) - set(op)
    assert extra <= {"openslide.mpp-x", "openslide.mpp-y"}
    if extra:
        assert sp["openslide.vendor"] == "generic-tiff"
        assert sp["tiff.ResolutionUnit"] == "centimeter"
        assert float(sp["openslide.mpp-x"]) == pytest.approx(
            10000 / float(sp["tiff.XResolution"]))
        assert float(sp["openslide.mpp-y"]) == pytest.approx(
            10000 / float(sp["tiff.YResolution"]))
    # the vendor, level and mpp keys, present in both
    keys = ["openslide.vendor", "openslide.level-count"]
    for i in range(o.level_count):
        keys += [f"openslide.level[{i}].{k}" for k in
                 ("width", "height", "downsample", "tile-width", "tile-height")]
    for key in keys + ["openslide.mpp-x", "openslide.mpp-y",
                       "openslide.objective-power"]:
        if key in op:
            assert sp[key] == op[key], key
    assert all(k in sp for k in keys)
    # a read-only mapping, as openslide-python's
    with pytest.raises(TypeError):
        s.properties["openslide.vendor"] = "x"


def test_mpp(pair):
    o, s = pair
    op = o.properties
    if "openslide.mpp-x" in op:
        assert s.mpp == (float(op["openslide.mpp-x"]), float(op["openslide.mpp-y"]))
    elif s.mpp is not None:
        # the synthetic slide's resolution tags: 0.25 µm
        assert s.mpp == pytest.approx((0.25, 0.25))
    else:
        assert "openslide.mpp-x" not in s.properties


def test_associated_images(pair):
    o, s = pair
    assert sorted(s.associated_images) == sorted(o.associated_images)
    assert len(s.associated_images) == len(o.associated_images)
    for name, oimg in o.associated_images.items():
        simg = s.associated_images[name]
        assert simg.mode == oimg.mode == "RGBA"
        assert simg.size == oimg.size
        a, b = np.asarray(oimg), np.asarray(simg)
        assert np.array_equal(a, b), name
        STATS["associated_pixels"] += a.shape[0] * a.shape[1]
    with pytest.raises(KeyError):
        s.associated_images["no-such-image"]


def _regions(s, level):
    """(x, y, w, h): level-0 origin, size in the level's pixels."""
    ds = s.level_downsamples[level]
    W, H = s.level_dimensions[level]
    tw, th = s.level_tile_sizes[level]
    tw, th = tw or 256, th or 256
    level_regions = [
        (0, 0, 300, 200),                    # from the origin, over a tile edge
        (tw - 37, th - 21, 90, 70),          # over a tile corner
        (2 * tw - 5, th - 3, 10, 6),         # a few pixels over a corner
        (tw, th, 1, 1),                      # one pixel
        (W // 2 - 150, H // 2 - 100, 300, 200),  # the middle
        (W - 60, H - 40, 128, 96),           # over the right and bottom edges
        (W - 1, 0, 1, 50),                   # the last column
        (-25, -15, 80, 60),                  # over the top and left edges
        (-10, H // 2, 40, 30),               # left of the slide only
        (W + 5, 10, 20, 20),                 # wholly outside
        (-500, -500, 16, 16),                # wholly outside, negative
    ]
    return [(round(lx * ds), round(ly * ds), w, h)
            for lx, ly, w, h in level_regions]


def _levels(o):
    return sorted({0, min(1, o.level_count - 1), o.level_count - 1})


def test_read_region(pair):
    o, s = pair
    for level in _levels(o):
        ds = o.level_downsamples[level]
        for x, y, w, h in _regions(s, level):
            oimg = o.read_region((x, y), level, (w, h))
            simg = s.read_region((x, y), level, (w, h))
            assert simg.mode == "RGBA" and simg.size == oimg.size == (w, h)
            a = np.asarray(oimg).astype(int)
            b = np.asarray(simg).astype(int)
            where = f"level {level} region {(x, y, w, h)}"
            STATS["regions"] += 1
            STATS["pixels"] += w * h
            exact = all(c < 0 or float(c / ds).is_integer() for c in (x, y))
            if exact:
                assert np.array_equal(a, b), where
                STATS["exact_regions"] += 1
                continue
            # OpenSlide interpolated: its opaque and transparent pixels
            whole = (a[..., 3] == 0) | (a[..., 3] == 255)
            assert np.array_equal(a[whole][:, 3], b[whole][:, 3]), where
            d = np.abs(a[whole] - b[whole])
            assert d.max(initial=0) <= TOL_MAX, where
            assert d.size == 0 or d.mean() <= TOL_MEAN, where
            # the half-covered pixels are at most one row and column
            assert (~whole).any(axis=1).sum() <= h and (~whole).sum() <= w + h


def test_read_region_array(pair):
    o, s = pair
    level = o.level_count - 1
    W, H = o.level_dimensions[level]
    ds = o.level_downsamples[level]
    for x, y, w, h in [(0, 0, 64, 48), (round((W - 20) * ds), 0, 50, 30)]:
        rgba = s.read_region_array((x, y), level, (w, h), alpha=True)
        rgb = s.read_region_array((x, y), level, (w, h))
        assert rgba.dtype == rgb.dtype == np.uint8
        assert rgba.shape == (h, w, 4) and rgb.shape == (h, w, 3)
        assert rgb.flags.c_contiguous and rgba.flags.c_contiguous
        assert np.array_equal(rgba[..., :3], rgb)
        assert np.array_equal(rgba, np.asarray(s.read_region((x, y), level, (w, h))))
        # as openslide-python's image converted to RGB: black outside
        if float(x / ds).is_integer():
            orgb = np.asarray(o.read_region((x, y), level, (w, h)).convert("RGB"))
            assert np.array_equal(rgb, orgb)
    empty = s.read_region((0, 0), 0, (0, 5))
    assert empty.size == (0, 5) and empty.mode == "RGBA"
    assert s.read_region_array((0, 0), 0, (3, 0)).shape == (0, 3, 3)


def test_best_level_for_downsample(pair):
    o, s = pair
    downsamples = [0.5, 1, 1.5, 2, 2.0004, 3, 4, 7.99, 8, 12, 16, 16.02, 17, 1000]
    for d in downsamples:
        got, want = s.get_best_level_for_downsample(d), o.get_best_level_for_downsample(d)
        if got != want:
            # slidepipe's documented tolerance: a level at most 1e-3 above
            # the request serves it (2.0005 for 2); OpenSlide's does not
            ds = s.level_downsamples[got]
            assert got == want + 1 and d < ds <= d * (1 + 1e-3), d


def test_thumbnail(pair):
    o, s = pair
    for size in [(200, 200), (256, 100), (50, 400)]:
        ot, st = o.get_thumbnail(size), s.get_thumbnail(size)
        assert st.mode == "RGB"
        assert st.size == ot.size, size
        # slidepipe's area averaging against PIL's Lanczos: close, not equal
        d = np.abs(np.asarray(ot).astype(int) - np.asarray(st).astype(int))
        assert d.mean() < 3, size


def test_detect_format_and_repr(slide_path):
    o = openslide.OpenSlide.detect_format(slide_path)
    assert slidepipe.OpenSlide.detect_format(slide_path) == o
    with slidepipe.open_slide(slide_path) as s:
        assert repr(s) == f"OpenSlide({slide_path!r})"


# --- errors ---------------------------------------------------------------


def test_errors(synthetic_slide, tmp_path):
    missing = tmp_path / "missing.svs"
    with pytest.raises(slidepipe.FileError) as e:
        slidepipe.OpenSlide(missing)
    assert e.value.code == slidepipe.SP_ERROR_IO
    assert isinstance(e.value, OSError) and str(missing) in str(e.value)

    junk = tmp_path / "junk.svs"
    junk.write_bytes(b"not a slide at all\n" * 10)
    with pytest.raises(slidepipe.FormatError) as e:
        slidepipe.OpenSlide(junk)
    assert e.value.code == slidepipe.SP_ERROR_FORMAT
    assert slidepipe.OpenSlide.detect_format(junk) is None
    assert slidepipe.OpenSlide.detect_format(synthetic_slide) == "generic-tiff"

    s = slidepipe.OpenSlide(synthetic_slide)
    with pytest.raises(slidepipe.UsageError) as e:
        s.read_region((0, 0), s.level_count, (10, 10))
    assert e.value.code == slidepipe.SP_ERROR_USAGE
    assert "level" in e.value.message and isinstance(e.value, ValueError)
    with pytest.raises(slidepipe.UsageError):
        s.read_region((0, 0), 0, (-1, 10))
    with pytest.raises(TypeError):
        s.read_region((0.5, 0), 0, (10, 10))
    s.close()
    s.close()
    with pytest.raises(slidepipe.UsageError, match="closed"):
        s.dimensions
    with pytest.raises(slidepipe.UsageError, match="closed"):
        s.read_region((0, 0), 0, (1, 1))
    with pytest.raises(slidepipe.UsageError, match="closed"):
        s.properties


def test_not_8bit(tmp_path):
    # a 16-bit TIFF opens, but read_region gives 8-bit RGBA only
    from PIL import Image
    path = tmp_path / "u16.tif"
    Image.fromarray(np.arange(64 * 48, dtype=np.uint16).reshape(48, 64)).save(path)
    with slidepipe.OpenSlide(path) as s:
        assert s.dimensions == (64, 48)
        with pytest.raises(slidepipe.FormatError, match="uint16"):
            s.read_region((0, 0), 0, (8, 8))


def test_context_manager_and_library(synthetic_slide):
    with slidepipe.OpenSlide(synthetic_slide) as s:
        assert s.vendor == "generic-tiff"
    with pytest.raises(slidepipe.UsageError):
        s.level_count
    assert slidepipe.__ffi__ == os.environ.get("SLIDEPIPE_FFI", slidepipe.__ffi__)
    if os.environ.get("SLIDEPIPE_LIBRARY"):
        assert slidepipe.__library__ == os.environ["SLIDEPIPE_LIBRARY"]


def test_pipelines_need_cffi_under_ctypes(synthetic_slide):
    """The ctypes bindings read slides but refuse pipelines, saying why."""
    import slidepipe
    from slidepipe import _capi
    if _capi.api.name == "ctypes":
        assert not _capi.api.has_pipelines
        with pytest.raises(slidepipe.FailedError, match="need cffi"):
            slidepipe.load(synthetic_slide)
    else:
        assert _capi.api.has_pipelines
        assert slidepipe.load(synthetic_slide).geometry.width == 3000
