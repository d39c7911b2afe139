# SPDX-License-Identifier: LGPL-2.1-or-later
"""slidepipe: whole-slide images through libslidepipe.

``slidepipe.OpenSlide`` and ``slidepipe.open_slide`` read slides with the
names and meanings of openslide-python's (levels, properties, associated
images, ``read_region`` as an RGBA PIL image, thumbnails), plus
``read_region_array`` for numpy arrays without PIL and ``mpp``. Every pixel
and every fact comes from libslidepipe (loaded with cffi, or ctypes without
it; ``$SLIDEPIPE_LIBRARY`` names the library file to use).

Pipelines: ``slidepipe.load(path).crop(x, y, w, h).downsample(4)`` … chain
libslidepipe's operators (one method per operator), ``Pipeline.parse()``
takes the command line's form, ``.geometry`` and ``.explain()`` tell what
a pipeline makes without pixels, ``.to_numpy()`` computes it, a sink
(``.save(path)``, ``.tiles(dir)`` …) runs it, and ``.patches()`` yields
the tiles sink's patches as numpy arrays. ``slidepipe.batch()`` runs a
manifest. ``slidepipe.torch.PatchDataset`` feeds patches to a PyTorch
DataLoader.

Errors are :class:`slidepipe.Error` subclasses carrying libslidepipe's error
code (``code``) and message.
"""

from ._capi import api as _api
from ._errors import (
    SP_ERROR_FAILED,
    SP_ERROR_FORMAT,
    SP_ERROR_IO,
    SP_ERROR_REGION,
    SP_ERROR_USAGE,
    Error,
    FailedError,
    FileError,
    FormatError,
    RegionError,
    UsageError,
)
from ._pipeline import (
    TO_NUMPY_LIMIT,
    Geometry,
    Patch,
    Pipeline,
    Result,
    batch,
    load,
    operators,
)
from ._slide import (
    PROPERTY_NAME_BACKGROUND_COLOR,
    PROPERTY_NAME_BOUNDS_HEIGHT,
    PROPERTY_NAME_BOUNDS_WIDTH,
    PROPERTY_NAME_BOUNDS_X,
    PROPERTY_NAME_BOUNDS_Y,
    PROPERTY_NAME_COMMENT,
    PROPERTY_NAME_MPP_X,
    PROPERTY_NAME_MPP_Y,
    PROPERTY_NAME_OBJECTIVE_POWER,
    PROPERTY_NAME_QUICKHASH1,
    PROPERTY_NAME_VENDOR,
    OpenSlide,
    open_slide,
)

#: libslidepipe's version (str), from sp_version()
__version__ = _api.version()
#: the library file this module opened (str)
__library__ = _api.path
#: the bindings in use: "cffi" or "ctypes"
__ffi__ = _api.name

__all__ = [
    "load",
    "Pipeline",
    "Geometry",
    "Patch",
    "Result",
    "batch",
    "operators",
    "TO_NUMPY_LIMIT",
    "OpenSlide",
    "open_slide",
    "Error",
    "FailedError",
    "UsageError",
    "FileError",
    "FormatError",
    "RegionError",
    "SP_ERROR_FAILED",
    "SP_ERROR_USAGE",
    "SP_ERROR_IO",
    "SP_ERROR_FORMAT",
    "SP_ERROR_REGION",
    "PROPERTY_NAME_COMMENT",
    "PROPERTY_NAME_VENDOR",
    "PROPERTY_NAME_QUICKHASH1",
    "PROPERTY_NAME_BACKGROUND_COLOR",
    "PROPERTY_NAME_OBJECTIVE_POWER",
    "PROPERTY_NAME_MPP_X",
    "PROPERTY_NAME_MPP_Y",
    "PROPERTY_NAME_BOUNDS_X",
    "PROPERTY_NAME_BOUNDS_Y",
    "PROPERTY_NAME_BOUNDS_WIDTH",
    "PROPERTY_NAME_BOUNDS_HEIGHT",
]
