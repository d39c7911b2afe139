# SPDX-License-Identifier: LGPL-2.1-or-later
"""libslidepipe through cffi's ABI mode (ctypes when cffi is missing).

Nothing is compiled: the declarations below are copied from
include/slidepipe/slidepipe.h (and libvips'/glib's headers for the few
calls that take pixels out of a VipsImage and free memory) and the shared
libraries are opened at import.

Which libslidepipe is opened, first match:
  1. $SLIDEPIPE_LIBRARY, a path (the tests point it at the build tree's
     src/.libs/libslidepipe.so);
  2. the libdir `make install` recorded in slidepipe/_config.py;
  3. the soname libslidepipe.so.0, as the dynamic loader finds it.
$SLIDEPIPE_FFI=ctypes forces the ctypes bindings (for testing them).
"""

import os

import numpy as np

from ._errors import FailedError, error_from_code

SONAME = "libslidepipe.so.0"
VIPS_SONAME = "libvips.so.42"
GLIB_SONAME = "libglib-2.0.so.0"
GOBJECT_SONAME = "libgobject-2.0.so.0"

# VipsBandFormat's VIPS_FORMAT_UCHAR
VIPS_FORMAT_UCHAR = 0

CDEF = """
typedef int gboolean;
typedef uint32_t GQuark;
typedef struct { GQuark domain; int code; char *message; } GError;
typedef struct _SpSlide SpSlide;
typedef struct _SpGraph SpGraph;
typedef struct _SpNode SpNode;
typedef struct _VipsImage VipsImage;
typedef struct {
    int64_t width;
    int64_t height;
    double downsample;
    int tile_width;
    int tile_height;
} SpLevel;

const char *sp_version(void);
SpSlide *sp_slide_open(const char *path, GError **error);
void sp_slide_unref(SpSlide *slide);
const char *sp_slide_get_vendor(SpSlide *slide);
int sp_slide_get_format(SpSlide *slide);
int sp_slide_get_level_count(SpSlide *slide);
const SpLevel *sp_slide_get_level(SpSlide *slide, int level);
gboolean sp_slide_get_mpp(SpSlide *slide, double *mpp_x, double *mpp_y);
const char *sp_slide_get_property(SpSlide *slide, const char *name);
const char *const *sp_slide_get_property_names(SpSlide *slide);
const char *const *sp_slide_get_associated_names(SpSlide *slide);
gboolean sp_slide_get_associated_size(SpSlide *slide, const char *name,
    int *width, int *height);
int sp_slide_best_level_for_downsample(SpSlide *slide, double downsample);
VipsImage *sp_slide_read_region(SpSlide *slide, int64_t x, int64_t y,
    int level, int w, int h, gboolean alpha, GError **error);
SpGraph *sp_graph_new(void);
void sp_graph_free(SpGraph *graph);
SpNode *sp_load(SpGraph *graph, const char *path, GError **error, ...);
SpNode *sp_downsample(SpNode *in, double factor, GError **error, ...);
VipsImage *sp_node_get_image(SpNode *node, GError **error);

void *vips_image_write_to_memory(VipsImage *in, size_t *size);
int vips_image_get_width(const VipsImage *image);
int vips_image_get_height(const VipsImage *image);
int vips_image_get_bands(const VipsImage *image);
int vips_image_get_format(const VipsImage *image);
const char *vips_error_buffer(void);
void vips_error_clear(void);
void g_object_unref(void *object);
void g_free(void *mem);
void g_error_free(GError *error);
"""


def library_path():
    """The libslidepipe to open (str): a path, or the bare soname for the
    dynamic loader to find."""
    path = os.environ.get("SLIDEPIPE_LIBRARY")
    if path:
        return path
    try:
        from . import _config
    except ImportError:
        return SONAME
    libdir = getattr(_config, "LIBDIR", "")
    candidate = os.path.join(libdir, SONAME) if libdir else ""
    return candidate if candidate and os.path.exists(candidate) else SONAME


def _decode(raw):
    # metadata is UTF-8 from OpenSlide; bytes that are not stay readable
    return raw.decode("utf-8", "surrogateescape")


def _vips_failure(what, buffer_text):
    text = " ".join(buffer_text.split())
    return FailedError(f"{what}: {text}" if text else what)


class _CffiBindings:
    """The C calls through cffi; every method takes and returns Python
    values (str, int, float, tuples, numpy arrays) or opaque handles."""

    name = "cffi"

    def __init__(self, path):
        import cffi

        self.ffi = ffi = cffi.FFI()
        ffi.cdef(CDEF)
        self.path = path
        self.sp = ffi.dlopen(path)
        # libslidepipe links these, so they are open already: the same
        # copies of libvips and glib as the library's
        self.vips = ffi.dlopen(VIPS_SONAME)
        self.glib = ffi.dlopen(GLIB_SONAME)
        self.gobject = ffi.dlopen(GOBJECT_SONAME)
        self.NULL_STR = ffi.cast("char *", 0)

    # --- errors ---------------------------------------------------------
    def _raise(self, errp):
        err = errp[0]
        if err == self.ffi.NULL:
            raise FailedError("libslidepipe failed without saying why")
        exc = error_from_code(err.code, _decode(self.ffi.string(err.message)))
        self.glib.g_error_free(err)
        raise exc

    def _str(self, p):
        return None if p == self.ffi.NULL else _decode(self.ffi.string(p))

    def _strv(self, p):
        out = []
        if p == self.ffi.NULL:
            return out
        i = 0
        while p[i] != self.ffi.NULL:
            out.append(_decode(self.ffi.string(p[i])))
            i += 1
        return out

    # --- slides ---------------------------------------------------------
    def version(self):
        return self._str(self.sp.sp_version())

    def slide_open(self, path):
        errp = self.ffi.new("GError **")
        slide = self.sp.sp_slide_open(os.fsencode(path), errp)
        if slide == self.ffi.NULL:
            self._raise(errp)
        return slide

    def slide_unref(self, slide):
        self.sp.sp_slide_unref(slide)

    def vendor(self, slide):
        return self._str(self.sp.sp_slide_get_vendor(slide))

    def sample_format(self, slide):
        return self.sp.sp_slide_get_format(slide)

    def level_count(self, slide):
        return self.sp.sp_slide_get_level_count(slide)

    def level(self, slide, i):
        lv = self.sp.sp_slide_get_level(slide, i)
        return (lv.width, lv.height, lv.downsample, lv.tile_width, lv.tile_height)

    def mpp(self, slide):
        xy = self.ffi.new("double[2]")
        if not self.sp.sp_slide_get_mpp(slide, xy, xy + 1):
            return None
        return (xy[0], xy[1])

    def property_names(self, slide):
        return self._strv(self.sp.sp_slide_get_property_names(slide))

    def property(self, slide, name):
        return self._str(self.sp.sp_slide_get_property(
            slide, name.encode("utf-8", "surrogateescape")))

    def associated_names(self, slide):
        return self._strv(self.sp.sp_slide_get_associated_names(slide))

    def associated_size(self, slide, name):
        wh = self.ffi.new("int[2]")
        if not self.sp.sp_slide_get_associated_size(
                slide, name.encode("utf-8", "surrogateescape"), wh, wh + 1):
            return None
        return (wh[0], wh[1])

    def best_level(self, slide, downsample):
        return self.sp.sp_slide_best_level_for_downsample(slide, downsample)

    # --- pixels ---------------------------------------------------------
    def _pixels(self, image, what):
        """A VipsImage's pixels as a (height, width, bands) uint8 array that
        owns the buffer libvips wrote (no copy)."""
        ffi = self.ffi
        if self.vips.vips_image_get_format(image) != VIPS_FORMAT_UCHAR:
            raise FailedError(f"{what}: the image is not 8-bit")
        size = ffi.new("size_t *")
        buf = self.vips.vips_image_write_to_memory(image, size)
        if buf == ffi.NULL:
            text = self._str(self.vips.vips_error_buffer()) or ""
            self.vips.vips_error_clear()
            raise _vips_failure(what, text)
        buf = ffi.gc(buf, self.glib.g_free)
        shape = (self.vips.vips_image_get_height(image),
                 self.vips.vips_image_get_width(image),
                 self.vips.vips_image_get_bands(image))
        return np.frombuffer(ffi.buffer(buf, size[0]), np.uint8).reshape(shape)

    def read_region(self, slide, x, y, level, w, h, alpha):
        errp = self.ffi.new("GError **")
        image = self.sp.sp_slide_read_region(slide, x, y, level, w, h,
                                             1 if alpha else 0, errp)
        if image == self.ffi.NULL:
            self._raise(errp)
        try:
            return self._pixels(image, "read_region")
        finally:
            self.gobject.g_object_unref(image)

    def pipeline_pixels(self, path, associated=None, downsample=None):
        """Pixels of `load PATH [associated=NAME] [! downsample F]`."""
        ffi, sp = self.ffi, self.sp
        errp = ffi.new("GError **")
        graph = sp.sp_graph_new()
        try:
            if associated is not None:
                key = ffi.new("char[]", b"associated")
                value = ffi.new("char[]", associated.encode("utf-8"))
                node = sp.sp_load(graph, os.fsencode(path), errp, key, value,
                                  self.NULL_STR)
            else:
                node = sp.sp_load(graph, os.fsencode(path), errp,
                                  self.NULL_STR)
            if node != ffi.NULL and downsample is not None:
                node = sp.sp_downsample(node, float(downsample), errp,
                                        self.NULL_STR)
            if node == ffi.NULL:
                self._raise(errp)
            image = sp.sp_node_get_image(node, errp)
            if image == ffi.NULL:
                self._raise(errp)
            return self._pixels(image, "load")
        finally:
            sp.sp_graph_free(graph)


class _CtypesBindings(_CffiBindings):
    """The same calls through ctypes, for a Python without cffi."""

    name = "ctypes"

    def __init__(self, path):
        import ctypes as C

        self.C = C

        class GError(C.Structure):
            _fields_ = [("domain", C.c_uint32), ("code", C.c_int),
                        ("message", C.c_char_p)]

        class SpLevel(C.Structure):
            _fields_ = [("width", C.c_int64), ("height", C.c_int64),
                        ("downsample", C.c_double), ("tile_width", C.c_int),
                        ("tile_height", C.c_int)]

        self.GError = GError
        self.path = path
        sp = self.sp = C.CDLL(path)
        vips = self.vips = C.CDLL(VIPS_SONAME)
        glib = self.glib = C.CDLL(GLIB_SONAME)
        gobject = self.gobject = C.CDLL(GOBJECT_SONAME)
        P, S, I, D = C.c_void_p, C.c_char_p, C.c_int, C.c_double
        errpp = C.POINTER(C.POINTER(GError))
        strv = C.POINTER(C.c_char_p)

        def sig(fn, restype, *argtypes):
            fn.restype = restype
            fn.argtypes = list(argtypes)

        sig(sp.sp_version, S)
        sig(sp.sp_slide_open, P, S, errpp)
        sig(sp.sp_slide_unref, None, P)
        sig(sp.sp_slide_get_vendor, S, P)
        sig(sp.sp_slide_get_format, I, P)
        sig(sp.sp_slide_get_level_count, I, P)
        sig(sp.sp_slide_get_level, C.POINTER(SpLevel), P, I)
        sig(sp.sp_slide_get_mpp, I, P, C.POINTER(D), C.POINTER(D))
        sig(sp.sp_slide_get_property, S, P, S)
        sig(sp.sp_slide_get_property_names, strv, P)
        sig(sp.sp_slide_get_associated_names, strv, P)
        sig(sp.sp_slide_get_associated_size, I, P, S, C.POINTER(I),
            C.POINTER(I))
        sig(sp.sp_slide_best_level_for_downsample, I, P, D)
        sig(sp.sp_slide_read_region, P, P, C.c_int64, C.c_int64, I, I, I, I,
            errpp)
        sig(sp.sp_graph_new, P)
        sig(sp.sp_graph_free, None, P)
        # variadic: only the result type; arguments are passed typed
        sp.sp_load.restype = P
        sp.sp_downsample.restype = P
        sig(sp.sp_node_get_image, P, P, errpp)
        sig(vips.vips_image_write_to_memory, P, P, C.POINTER(C.c_size_t))
        for fn in (vips.vips_image_get_width, vips.vips_image_get_height,
                   vips.vips_image_get_bands, vips.vips_image_get_format):
            sig(fn, I, P)
        sig(vips.vips_error_buffer, S)
        sig(vips.vips_error_clear, None)
        sig(gobject.g_object_unref, None, P)
        sig(glib.g_free, None, P)
        sig(glib.g_error_free, None, C.POINTER(GError))

    def _errp(self):
        return self.C.POINTER(self.GError)()

    def _raise(self, err):
        if not err:
            raise FailedError("libslidepipe failed without saying why")
        exc = error_from_code(err.contents.code,
                              _decode(err.contents.message or b""))
        self.glib.g_error_free(err)
        raise exc

    def _str(self, raw):
        return None if raw is None else _decode(raw)

    def _strv(self, p):
        out = []
        if not p:
            return out
        i = 0
        while p[i] is not None:
            out.append(_decode(p[i]))
            i += 1
        return out

    def slide_open(self, path):
        err = self._errp()
        slide = self.sp.sp_slide_open(os.fsencode(path), self.C.byref(err))
        if not slide:
            self._raise(err)
        return slide

    def level(self, slide, i):
        lv = self.sp.sp_slide_get_level(slide, i).contents
        return (lv.width, lv.height, lv.downsample, lv.tile_width, lv.tile_height)

    def mpp(self, slide):
        x, y = self.C.c_double(), self.C.c_double()
        if not self.sp.sp_slide_get_mpp(slide, self.C.byref(x), self.C.byref(y)):
            return None
        return (x.value, y.value)

    def associated_size(self, slide, name):
        w, h = self.C.c_int(), self.C.c_int()
        if not self.sp.sp_slide_get_associated_size(
                slide, name.encode("utf-8", "surrogateescape"),
                self.C.byref(w), self.C.byref(h)):
            return None
        return (w.value, h.value)

    def _pixels(self, image, what):
        """As the cffi version, but copied once into numpy's memory (ctypes
        has no finaliser for the libvips buffer)."""
        C, vips = self.C, self.vips
        if vips.vips_image_get_format(image) != VIPS_FORMAT_UCHAR:
            raise FailedError(f"{what}: the image is not 8-bit")
        size = C.c_size_t()
        buf = vips.vips_image_write_to_memory(image, C.byref(size))
        if not buf:
            text = self._str(vips.vips_error_buffer()) or ""
            vips.vips_error_clear()
            raise _vips_failure(what, text)
        try:
            data = (C.c_uint8 * size.value).from_address(buf)
            arr = np.array(data, dtype=np.uint8, copy=True)
        finally:
            self.glib.g_free(buf)
        shape = (vips.vips_image_get_height(image),
                 vips.vips_image_get_width(image),
                 vips.vips_image_get_bands(image))
        return arr.reshape(shape)

    def read_region(self, slide, x, y, level, w, h, alpha):
        err = self._errp()
        image = self.sp.sp_slide_read_region(slide, x, y, level, w, h,
                                             1 if alpha else 0,
                                             self.C.byref(err))
        if not image:
            self._raise(err)
        try:
            return self._pixels(image, "read_region")
        finally:
            self.gobject.g_object_unref(image)

    def pipeline_pixels(self, path, associated=None, downsample=None):
        C, sp = self.C, self.sp
        err = self._errp()
        errp = C.byref(err)
        end = C.c_char_p(None)
        graph = C.c_void_p(sp.sp_graph_new())
        try:
            if associated is not None:
                node = sp.sp_load(graph, C.c_char_p(os.fsencode(path)), errp,
                                  C.c_char_p(b"associated"),
                                  C.c_char_p(associated.encode("utf-8")), end)
            else:
                node = sp.sp_load(graph, C.c_char_p(os.fsencode(path)), errp,
                                  end)
            if node and downsample is not None:
                node = sp.sp_downsample(C.c_void_p(node),
                                        C.c_double(float(downsample)), errp,
                                        end)
            if not node:
                self._raise(err)
            image = sp.sp_node_get_image(node, errp)
            if not image:
                self._raise(err)
            return self._pixels(image, "load")
        finally:
            sp.sp_graph_free(graph)


def _open_bindings():
    path = library_path()
    kind = _CtypesBindings
    if os.environ.get("SLIDEPIPE_FFI") != "ctypes":
        try:
            import cffi  # noqa: F401
        except ImportError:
            pass
        else:
            kind = _CffiBindings
    try:
        return kind(path)
    except OSError as e:
        raise ImportError(
            f"slidepipe: cannot open libslidepipe ({path}): {e}; install "
            "slidepipe's library or set SLIDEPIPE_LIBRARY to its path") from e


api = _open_bindings()
