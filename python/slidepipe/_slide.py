# SPDX-License-Identifier: LGPL-2.1-or-later
"""slidepipe.OpenSlide: openslide-python's OpenSlide over libslidepipe."""

import operator
import os
import weakref
from collections.abc import Mapping

import numpy as np

from ._capi import VIPS_FORMAT_UCHAR, api
from ._errors import Error, UsageError

PROPERTY_NAME_COMMENT = "openslide.comment"
PROPERTY_NAME_VENDOR = "openslide.vendor"
PROPERTY_NAME_QUICKHASH1 = "openslide.quickhash-1"
PROPERTY_NAME_BACKGROUND_COLOR = "openslide.background-color"
PROPERTY_NAME_OBJECTIVE_POWER = "openslide.objective-power"
PROPERTY_NAME_MPP_X = "openslide.mpp-x"
PROPERTY_NAME_MPP_Y = "openslide.mpp-y"
PROPERTY_NAME_BOUNDS_X = "openslide.bounds-x"
PROPERTY_NAME_BOUNDS_Y = "openslide.bounds-y"
PROPERTY_NAME_BOUNDS_WIDTH = "openslide.bounds-width"
PROPERTY_NAME_BOUNDS_HEIGHT = "openslide.bounds-height"


def _pil():
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - depends on the system
        raise ImportError("slidepipe: PIL images need Pillow (python3-pil); "
                          "read_region_array() needs only numpy") from e
    return Image


def _double(value):
    # as OpenSlide writes numbers into properties (g_ascii_dtostr, %.17g)
    return "%.17g" % value


def _size(size):
    w, h = (operator.index(v) for v in size)
    return w, h


class OpenSlide:
    """An opened whole-slide image, read by libslidepipe.

    The same names and meanings as openslide-python's ``openslide.OpenSlide``
    (levels, properties, associated images, ``read_region`` as an RGBA PIL
    image, thumbnails), plus ``read_region_array`` (numpy, no PIL) and
    ``mpp``. Opening reads headers only. Reads any file slidepipe reads:
    vendor formats through OpenSlide (via libvips), generic and striped TIFF
    through libtiff, PNG and JPEG as one-level images.

    Coordinates: ``location`` arguments are level-0 pixels, (x, y) from the
    top-left corner; ``size`` arguments are pixels of the level read.

    ``close()`` frees the slide (also done when the object is collected);
    the object is a context manager that closes it on exit. Any use after
    ``close()`` raises :class:`slidepipe.UsageError`.

    Raises (from the constructor): :class:`slidepipe.FileError` when the
    file is missing or unreadable, :class:`slidepipe.FormatError` when no
    reader understands it.
    """

    def __init__(self, filename):
        """Open `filename` (str or os.PathLike)."""
        self._filename = filename
        self._path = os.fspath(filename)
        self._handle = api.slide_open(self._path)
        self._finalizer = weakref.finalize(self, api.slide_unref, self._handle)
        self._properties = None

    def __repr__(self):
        return f"{self.__class__.__name__}({self._filename!r})"

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()
        return False

    @classmethod
    def detect_format(cls, filename):
        """The vendor (str, e.g. "aperio", "generic-tiff", "png") slidepipe
        reads `filename` as, or None when it cannot read it."""
        try:
            slide = api.slide_open(os.fspath(filename))
        except Error:
            return None
        try:
            return api.vendor(slide)
        finally:
            api.slide_unref(slide)

    def close(self):
        """Free the slide. Calling it again does nothing."""
        self._finalizer()
        self._handle = None

    @property
    def _h(self):
        if self._handle is None:
            raise UsageError(f"slide {self._path!r} is closed")
        return self._handle

    # --- levels -----------------------------------------------------------
    @property
    def level_count(self):
        """Number of pyramid levels (int, >= 1)."""
        return api.level_count(self._h)

    @property
    def level_dimensions(self):
        """((width, height), …) of each level in its own pixels, level 0
        (full resolution) first; ints."""
        h = self._h
        return tuple(api.level(h, i)[:2] for i in range(api.level_count(h)))

    @property
    def dimensions(self):
        """(width, height) of level 0, in level-0 pixels; ints."""
        return self.level_dimensions[0]

    @property
    def level_downsamples(self):
        """(downsample, …) of each level: level-0 pixels per pixel of that
        level (floats), as the slide reports them (2.0005 happens)."""
        h = self._h
        return tuple(api.level(h, i)[2] for i in range(api.level_count(h)))

    @property
    def level_tile_sizes(self):
        """((tile_width, tile_height), …) of each level in its pixels;
        (0, 0) for striped (untiled) storage."""
        h = self._h
        return tuple(api.level(h, i)[3:] for i in range(api.level_count(h)))

    @property
    def mpp(self):
        """(mpp_x, mpp_y): micrometres per level-0 pixel (floats), or None
        when the slide records no pixel size."""
        return api.mpp(self._h)

    @property
    def vendor(self):
        """The format slidepipe reads the file as (str): OpenSlide's vendor
        ("aperio", "generic-tiff", …), "tiff" for a striped TIFF, or the
        image format ("png", "jpeg", …)."""
        return api.vendor(self._h)

    def get_best_level_for_downsample(self, downsample):
        """The level (int) to read for `downsample` level-0 pixels per output
        pixel: the one whose downsample is the largest not above it. Unlike
        OpenSlide, with a tolerance of 1e-3 (relative), so a level whose
        downsample is 2.0005 serves a request for 2."""
        return api.best_level(self._h, float(downsample))

    # --- metadata -----------------------------------------------------------
    @property
    def properties(self):
        """Read-only mapping of property name -> value (str): the slide's own
        (OpenSlide's "openslide.*", the vendor's "aperio.*", "tiff.*" …)
        and, where the reader gave none, OpenSlide's standard keys made from
        what slidepipe read: openslide.vendor, openslide.level-count,
        openslide.level[N].width / height / downsample / tile-width /
        tile-height, openslide.mpp-x / mpp-y (µm per level-0 pixel)."""
        h = self._h
        if self._properties is None:
            props = {name: api.property(h, name)
                     for name in api.property_names(h)}
            std = {PROPERTY_NAME_VENDOR: api.vendor(h)}
            n = api.level_count(h)
            std["openslide.level-count"] = str(n)
            for i in range(n):
                w, ht, ds, tw, th = api.level(h, i)
                std[f"openslide.level[{i}].width"] = str(w)
                std[f"openslide.level[{i}].height"] = str(ht)
                std[f"openslide.level[{i}].downsample"] = _double(ds)
                if tw > 0 and th > 0:
                    std[f"openslide.level[{i}].tile-width"] = str(tw)
                    std[f"openslide.level[{i}].tile-height"] = str(th)
            mpp = api.mpp(h)
            if mpp:
                std[PROPERTY_NAME_MPP_X] = _double(mpp[0])
                std[PROPERTY_NAME_MPP_Y] = _double(mpp[1])
            for key, value in std.items():
                props.setdefault(key, value)
            self._properties = _ReadOnlyMap(props)
        return self._properties

    @property
    def associated_images(self):
        """Mapping of associated image name ("label", "macro", "thumbnail")
        -> RGBA PIL image (opaque), read when looked up."""
        return _AssociatedImageMap(self)

    # --- pixels ---------------------------------------------------------------
    def read_region_array(self, location, level, size, alpha=False):
        """A region's pixels as a numpy array, without PIL.

        location: (x, y), level-0 pixels (ints; may be negative or past the
            slide).
        level: the level to read (int).
        size: (width, height) in pixels of `level` (ints, >= 0).
        alpha: False for RGB, True for RGBA.

        Returns a C-contiguous uint8 array of shape (height, width, 3), or
        (height, width, 4) with alpha: the level's pixels from (x / d, y / d)
        for the level's downsample d (truncated toward zero), alpha 255
        inside the level and (0, 0, 0, 0) outside it (RGB: (0, 0, 0)), as
        ``np.asarray(openslide.read_region(...))`` gives. Read only slides
        whose samples are 8-bit.

        Raises UsageError for a level out of range, a negative size;
        FormatError for a slide that is not 8-bit; FailedError when
        decoding fails. TypeError for coordinates that are not integers.
        """
        x, y = (operator.index(v) for v in location)
        w, h = _size(size)
        level = operator.index(level)
        bands = 4 if alpha else 3
        if w == 0 or h == 0:
            if w < 0 or h < 0:
                raise UsageError(f"read_region: negative size {w} × {h}")
            return np.zeros((h, w, bands), np.uint8)
        return api.read_region(self._h, x, y, level, w, h, bool(alpha))

    def read_region(self, location, level, size):
        """A region as an RGBA PIL image, as openslide-python returns it.

        location: (x, y), level-0 pixels.
        level: the level to read.
        size: (width, height) in pixels of `level`.

        Pixels inside the level have alpha 255, pixels outside it are
        (0, 0, 0, 0) (straight, not premultiplied, alpha). See
        read_region_array() for the exact mapping and the exceptions.
        """
        arr = self.read_region_array(location, level, size, alpha=True)
        Image = _pil()
        if arr.size == 0:
            return Image.new("RGBA", (arr.shape[1], arr.shape[0]))
        return Image.frombuffer("RGBA", (arr.shape[1], arr.shape[0]), arr,
                                "raw", "RGBA", 0, 1)

    def get_thumbnail(self, size):
        """An RGB PIL image of the whole slide that fits in `size` (width,
        height), keeping the aspect ratio (a slide smaller than `size` is
        returned whole). Computed by slidepipe's downsample from the best
        pyramid level (area averaging for whole factors, Lanczos-3 for
        fractional ones), not by PIL; sizes are rounded to the nearest
        pixel."""
        Image = _pil()
        sw, sh = _size(size)
        if sw < 1 or sh < 1:
            raise UsageError(f"get_thumbnail: size {sw} × {sh} is below 1 px")
        width, height = self.dimensions
        factor = max(width / sw, height / sh)
        if factor <= 1:
            arr = self.read_region_array((0, 0), 0, (width, height))
        else:
            self._h  # closed slides fail here, not in the pipeline
            arr = api.pipeline_pixels(self._path, downsample=factor)
        if arr.shape[2] == 1:
            return Image.fromarray(arr[:, :, 0], "L").convert("RGB")
        return Image.fromarray(arr, "RGB")

    def _associated_names(self):
        return api.associated_names(self._h)

    def _associated_image(self, name):
        Image = _pil()
        self._h
        rgb = api.pipeline_pixels(self._path, associated=name)
        if rgb.shape[2] == 1:
            rgb = np.repeat(rgb, 3, axis=2)
        rgba = np.empty(rgb.shape[:2] + (4,), np.uint8)
        rgba[:, :, :3] = rgb
        rgba[:, :, 3] = 255
        return Image.fromarray(rgba, "RGBA")


class _ReadOnlyMap(Mapping):
    def __init__(self, data):
        self._data = data

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)

    def __repr__(self):
        return f"<{self.__class__.__name__} {self._data!r}>"


class _AssociatedImageMap(Mapping):
    """name -> RGBA PIL image, each read from the file when looked up."""

    def __init__(self, slide):
        self._slide = slide
        self._names = slide._associated_names()

    def __getitem__(self, key):
        if key not in self._names:
            raise KeyError(key)
        return self._slide._associated_image(key)

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)

    def __repr__(self):
        return f"<{self.__class__.__name__} {self._names!r}>"


def open_slide(filename):
    """Open `filename` as an OpenSlide. openslide-python's open_slide()
    falls back to an ImageSlide for PNG and JPEG; slidepipe reads those
    itself, so this is always an OpenSlide."""
    return OpenSlide(filename)
