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

# The pipeline API (cffi only): graphs of operators, their geometry and
# plan, sinks, patches and batches; from include/slidepipe/slidepipe.h.
PIPELINE_CDEF = """
typedef struct _SpOpInfo SpOpInfo;
typedef struct {
    int width; int height; int bands;
    double x; double y; double w; double h;
    double downsample_x; double downsample_y;
    double mpp_x; double mpp_y;
    int format;
    int n_c; int n_z; int n_t;
} SpGeometry;
typedef struct {
    int index; double x; double y; int level; double downsample;
    double mpp; int width; int height; int bands; double tissue;
    const uint8_t *pixels; int format;
} SpPatch;
typedef gboolean (*SpPatchFunc)(const SpPatch *patch, void *user_data,
    GError **error);
typedef void (*SpProgressFunc)(SpNode *node, int percent, int eta_seconds,
    void *user_data);
typedef struct {
    uint64_t index; uint64_t line; const char *slide; const char *out;
    int status; const char *error; double seconds; int64_t bytes;
} SpBatchRow;
typedef gboolean (*SpBatchStartFunc)(uint64_t total, void *user_data,
    GError **error);
typedef void (*SpBatchRowFunc)(const SpBatchRow *row, void *user_data);
typedef void (*SpBatchProgressFunc)(uint64_t done, uint64_t failed,
    uint64_t total, void *user_data);
typedef struct {
    const char *manifest; const char *out_dir; const char *pipeline;
    int jobs; int shard_index; int shard_count;
    gboolean force; gboolean dry_run; gboolean allow_any_path;
    const char *units; const char *out_suffix;
    SpBatchStartFunc start; SpBatchRowFunc row;
    SpBatchProgressFunc progress; void *user_data;
} SpBatchOptions;

typedef struct { int y; int x0; int x1; } SpObjectRun;
typedef struct {
    uint64_t id; int64_t area; double area_um2;
    double centroid_x; double centroid_y;
    double centroid_x_um; double centroid_y_um;
    double bbox_x; double bbox_y; double bbox_w; double bbox_h;
    double perimeter; double perimeter_um;
    double major_axis; double minor_axis; double eccentricity;
    double orientation;
    gboolean edge; int bands;
    double mean[4]; double min[4]; double max[4];
    double x; double y; double downsample_x; double downsample_y;
    const SpObjectRun *runs; size_t n_runs;
} SpObject;
typedef gboolean (*SpObjectFunc)(const SpObject *object, void *user_data,
    GError **error);
gboolean sp_label_foreach_from_strings(SpNode *in, const char *const *words,
    SpObjectFunc func, void *user_data, GError **error);
void sp_graph_set_exact(SpGraph *graph, gboolean exact);
void sp_graph_set_progress(SpGraph *graph, SpProgressFunc func,
    void *user_data);
SpNode *sp_node_new_from_strings(SpGraph *graph, const char *op_name,
    SpNode *input, const char *const *words, GError **error);
SpNode *sp_pipeline_parse(SpGraph *graph, const char *const *words,
    GError **error);
SpNode *sp_pipeline_parse_string(SpGraph *graph, const char *text,
    GError **error);
const SpGeometry *sp_node_get_geometry(SpNode *node);
const SpOpInfo *sp_node_get_op(SpNode *node);
const SpOpInfo *sp_op_lookup(const char *name);
const SpOpInfo *const *sp_op_list(int *n);
const char *sp_op_get_name(const SpOpInfo *op);
const char *sp_op_get_summary(const SpOpInfo *op);
const char *sp_op_get_description(const SpOpInfo *op);
int sp_op_get_kind(const SpOpInfo *op);
char *sp_node_explain(SpNode *node);
const char *sp_node_get_report(SpNode *node);
SpNode *sp_node_get_input(SpNode *node);
const char *sp_node_get_output_path(SpNode *node);
gboolean sp_node_run(SpNode *node, GError **error);
VipsImage *sp_node_get_plane(SpNode *node, int plane, GError **error);
const char *sp_format_name(int format);
gboolean sp_tiles_foreach_from_strings(SpNode *in, const char *const *words,
    SpPatchFunc func, void *user_data, GError **error);
gboolean sp_batch_run(const SpBatchOptions *options, GError **error);
int vips_format_sizeof(int format);
"""

# VipsBandFormat -> numpy dtype (the formats slidepipe keeps)
NUMPY_DTYPES = {0: np.uint8, 1: np.int8, 2: np.uint16, 3: np.int16,
                4: np.uint32, 5: np.int32, 6: np.float32, 8: np.float64}

# SpOpKind
OP_SOURCE, OP_FILTER, OP_SINK = 0, 1, 2
# SpBatchStatus, as names
BATCH_STATUS = ("ok", "skipped", "valid", "invalid", "failed")


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


# libvips keeps worker threads once it has computed pixels, and a forked
# child has none of them: computing pixels there hangs for ever. Pixel
# calls note that they ran; in a child forked after that they raise.
_fork_state = {"pixels": False, "forked_after_pixels": False}


def _after_fork_in_child():
    _fork_state["forked_after_pixels"] = _fork_state["pixels"]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _pixel_work(what):
    """Called before every call that computes pixels."""
    if _fork_state["forked_after_pixels"]:
        raise FailedError(
            f"{what}: this process was forked from one in which libvips "
            "had computed pixels, and libvips cannot compute any in it (it "
            "would hang); start workers with multiprocessing's 'spawn' or "
            "'forkserver' method (DataLoader(..., "
            "multiprocessing_context='spawn')), or fork before any pixel")
    _fork_state["pixels"] = True


class _CffiBindings:
    """The C calls through cffi; every method takes and returns Python
    values (str, int, float, tuples, numpy arrays) or opaque handles."""

    name = "cffi"

    def __init__(self, path):
        import cffi

        self.ffi = ffi = cffi.FFI()
        ffi.cdef(CDEF)
        ffi.cdef(PIPELINE_CDEF)
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
        _pixel_work("read_region")
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
        _pixel_work("load")
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

    # --- pipelines (cffi only) -------------------------------------------
    has_pipelines = True

    def _words(self, words):
        """A NULL-terminated char *[] of @words, and what keeps it alive."""
        ffi = self.ffi
        keep = [ffi.new("char[]", os.fsencode(w)) for w in words]
        arr = ffi.new("char *[]", keep + [ffi.NULL])
        return arr, keep

    def op_list(self):
        """[(name, kind, summary, description)] of every operator."""
        n = self.ffi.new("int *")
        ops = self.sp.sp_op_list(n)
        return [(self._str(self.sp.sp_op_get_name(ops[i])),
                 self.sp.sp_op_get_kind(ops[i]),
                 self._str(self.sp.sp_op_get_summary(ops[i])),
                 self._str(self.sp.sp_op_get_description(ops[i])))
                for i in range(n[0])]

    def graph_new(self, exact=False):
        graph = self.sp.sp_graph_new()
        self.sp.sp_graph_set_exact(graph, 1 if exact else 0)
        return graph

    def graph_free(self, graph):
        self.sp.sp_graph_free(graph)

    def parse(self, graph, text):
        errp = self.ffi.new("GError **")
        node = self.sp.sp_pipeline_parse_string(
            graph, text.encode("utf-8", "surrogateescape"), errp)
        if node == self.ffi.NULL:
            self._raise(errp)
        return node

    def parse_words(self, graph, words):
        errp = self.ffi.new("GError **")
        arr, _keep = self._words(words)
        node = self.sp.sp_pipeline_parse(graph, arr, errp)
        if node == self.ffi.NULL:
            self._raise(errp)
        return node

    def node_new(self, graph, op, input_node, words):
        errp = self.ffi.new("GError **")
        arr, _keep = self._words(words)
        node = self.sp.sp_node_new_from_strings(
            graph, op.encode(), input_node or self.ffi.NULL, arr, errp)
        if node == self.ffi.NULL:
            self._raise(errp)
        return node

    def node_kind(self, node):
        return self.sp.sp_op_get_kind(self.sp.sp_node_get_op(node))

    def node_op_name(self, node):
        return self._str(self.sp.sp_op_get_name(self.sp.sp_node_get_op(node)))

    def geometry(self, node):
        g = self.sp.sp_node_get_geometry(node)
        return dict(width=g.width, height=g.height, bands=g.bands,
                    x=g.x, y=g.y, w=g.w, h=g.h,
                    downsample_x=g.downsample_x, downsample_y=g.downsample_y,
                    mpp_x=g.mpp_x, mpp_y=g.mpp_y, format=g.format,
                    format_name=self._str(self.sp.sp_format_name(g.format)),
                    n_c=g.n_c, n_z=g.n_z, n_t=g.n_t)

    def explain(self, node):
        text = self.sp.sp_node_explain(node)
        try:
            return self._str(text)
        finally:
            self.glib.g_free(text)

    def report(self, node):
        """The report lines of @node's chain, source first (str), or
        None when no step made one."""
        lines = []
        while node != self.ffi.NULL:
            text = self._str(self.sp.sp_node_get_report(node))
            if text:
                lines.insert(0, text)
            node = self.sp.sp_node_get_input(node)
        return "\n".join(lines) or None

    def output_path(self, node):
        return self._str(self.sp.sp_node_get_output_path(node))

    def run(self, graph, node, progress=None):
        """Runs the sink @node; @progress(percent, eta_seconds) is called a
        few times a second from the thread running it."""
        _pixel_work("run")
        ffi = self.ffi
        failure = []
        cb = ffi.NULL
        if progress is not None:
            def on_progress(_node, percent, eta, _data):
                if failure:
                    return
                try:
                    progress(percent, eta if eta >= 0 else None)
                except BaseException as e:  # noqa: B036 - re-raised below
                    failure.append(e)
            cb = ffi.callback("SpProgressFunc", on_progress)
        self.sp.sp_graph_set_progress(graph, cb, ffi.NULL)
        errp = ffi.new("GError **")
        try:
            ok = self.sp.sp_node_run(node, errp)
        finally:
            self.sp.sp_graph_set_progress(graph, ffi.NULL, ffi.NULL)
        if not ok:
            self._raise(errp)
        if failure:
            raise failure[0]

    def plane_pixels(self, node, plane):
        """Plane @plane of @node as a (height, width, bands) array of the
        node's sample type, owning libvips' buffer."""
        _pixel_work("to_numpy")
        ffi = self.ffi
        errp = ffi.new("GError **")
        image = self.sp.sp_node_get_plane(node, plane, errp)
        if image == ffi.NULL:
            self._raise(errp)
        fmt = self.vips.vips_image_get_format(image)
        dtype = NUMPY_DTYPES.get(fmt)
        if dtype is None:
            raise FailedError(f"to_numpy: sample format {fmt} has no numpy type")
        size = ffi.new("size_t *")
        buf = self.vips.vips_image_write_to_memory(image, size)
        if buf == ffi.NULL:
            text = self._str(self.vips.vips_error_buffer()) or ""
            self.vips.vips_error_clear()
            raise _vips_failure("to_numpy", text)
        buf = ffi.gc(buf, self.glib.g_free)
        shape = (self.vips.vips_image_get_height(image),
                 self.vips.vips_image_get_width(image),
                 self.vips.vips_image_get_bands(image))
        return np.frombuffer(ffi.buffer(buf, size[0]), dtype).reshape(shape)

    def _foreach(self, fn, cb_type, cb, node, words, failure):
        """Calls the *_foreach_from_strings() @fn with @cb (a Python
        function of C type @cb_type that appends what it raises to
        @failure and returns 0 then); raises that, or the C error."""
        ffi = self.ffi
        c_cb = ffi.callback(cb_type, cb)
        arr, _keep = self._words(words)
        errp = ffi.new("GError **")
        ok = fn(node, arr, c_cb, ffi.NULL, errp)
        if failure:
            if errp[0] != ffi.NULL:
                self.glib.g_error_free(errp[0])
            raise failure[0]
        if not ok:
            self._raise(errp)
        return True

    def tiles_foreach(self, node, words, on_patch):
        """Calls @on_patch(index, x, y, level, downsample, mpp, tissue,
        array) for each kept patch (array copied, (h, w, bands)); it
        returns False to stop. Returns normally, or raises the C error or
        what @on_patch raised."""
        _pixel_work("patches")
        ffi = self.ffi
        failure = []

        def cb(patch, _data, _errp):
            try:
                dtype = NUMPY_DTYPES[patch.format]
                shape = (patch.height, patch.width, patch.bands)
                n = patch.width * patch.height * patch.bands * \
                    np.dtype(dtype).itemsize
                arr = np.frombuffer(ffi.buffer(patch.pixels, n),
                                    dtype).reshape(shape).copy()
                return 1 if on_patch(patch.index, patch.x, patch.y,
                                     patch.level, patch.downsample,
                                     patch.mpp, patch.tissue, arr) else 0
            except BaseException as e:  # noqa: B036 - re-raised below
                failure.append(e)
                return 0
        return self._foreach(self.sp.sp_tiles_foreach_from_strings,
                             "SpPatchFunc", cb, node, words, failure)

    def label_foreach(self, node, words, on_object, runs=False):
        """Calls @on_object(dict) for each object sp_label_foreach() finds
        (see Pipeline.objects() for the keys); it returns False to stop."""
        _pixel_work("objects")
        ffi = self.ffi
        failure = []

        def nan_none(v):
            return None if v != v else v

        def cb(o, _data, _errp):
            try:
                n = o.bands
                d = dict(id=o.id, area=o.area, area_um2=nan_none(o.area_um2),
                         centroid_x=o.centroid_x, centroid_y=o.centroid_y,
                         centroid_x_um=nan_none(o.centroid_x_um),
                         centroid_y_um=nan_none(o.centroid_y_um),
                         bbox_x=o.bbox_x, bbox_y=o.bbox_y, bbox_w=o.bbox_w,
                         bbox_h=o.bbox_h, perimeter=o.perimeter,
                         perimeter_um=nan_none(o.perimeter_um),
                         major_axis=o.major_axis, minor_axis=o.minor_axis,
                         eccentricity=o.eccentricity,
                         orientation=o.orientation, edge=bool(o.edge),
                         mean=[o.mean[i] for i in range(n)],
                         min=[o.min[i] for i in range(n)],
                         max=[o.max[i] for i in range(n)],
                         mask_x=o.x, mask_y=o.y,
                         downsample_x=o.downsample_x,
                         downsample_y=o.downsample_y)
                if runs:
                    raw = ffi.buffer(o.runs, o.n_runs * 12)
                    d["runs"] = np.frombuffer(raw, np.int32).reshape(
                        o.n_runs, 3).copy()
                return 1 if on_object(d) else 0
            except BaseException as e:  # noqa: B036 - re-raised below
                failure.append(e)
                return 0
        return self._foreach(self.sp.sp_label_foreach_from_strings,
                             "SpObjectFunc", cb, node, words, failure)

    def batch(self, manifest, out_dir, pipeline, jobs, shard, force, dry_run,
              allow_any_path, units, out_suffix, on_row, on_progress):
        _pixel_work("batch")
        ffi = self.ffi
        keep = []
        failure = []

        def cstr(v):
            if v is None:
                return ffi.NULL
            c = ffi.new("char[]", os.fsencode(v))
            keep.append(c)
            return c

        o = ffi.new("SpBatchOptions *")
        o.manifest = cstr(manifest)
        o.out_dir = cstr(out_dir)
        o.pipeline = cstr(pipeline)
        o.jobs = jobs
        o.shard_index, o.shard_count = shard if shard else (0, 0)
        o.force = 1 if force else 0
        o.dry_run = 1 if dry_run else 0
        o.allow_any_path = 1 if allow_any_path else 0
        o.units = cstr(units)
        o.out_suffix = cstr(out_suffix)

        def row_cb(row, _data):
            try:
                on_row(dict(index=row.index, line=row.line,
                            slide=self._str(row.slide),
                            out=self._str(row.out),
                            status=BATCH_STATUS[row.status],
                            error=self._str(row.error),
                            seconds=row.seconds, bytes=row.bytes))
            except BaseException as e:  # noqa: B036 - re-raised below
                failure.append(e)

        def progress_cb(done, failed, total, _data):
            if on_progress is None or failure:
                return
            try:
                on_progress(done, failed, total or None)
            except BaseException as e:  # noqa: B036 - re-raised below
                failure.append(e)

        c_row = ffi.callback("SpBatchRowFunc", row_cb)
        c_progress = ffi.callback("SpBatchProgressFunc", progress_cb)
        o.row = c_row
        o.progress = c_progress
        errp = ffi.new("GError **")
        ok = self.sp.sp_batch_run(o, errp)
        if not ok:
            self._raise(errp)
        if failure:
            raise failure[0]


class _CtypesBindings(_CffiBindings):
    """The same calls through ctypes, for a Python without cffi."""

    name = "ctypes"
    has_pipelines = False

    def __getattribute__(self, attr):
        if attr in _PIPELINE_CALLS:
            raise FailedError(
                "slidepipe: pipelines, patches and batches need cffi "
                "(python3-cffi); these bindings are ctypes")
        return object.__getattribute__(self, attr)

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
        _pixel_work("read_region")
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
        _pixel_work("load")
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


# what _CtypesBindings refuses (they exist in _CffiBindings only)
_PIPELINE_CALLS = frozenset((
    "op_list", "graph_new", "graph_free", "parse", "parse_words",
    "node_new", "node_kind", "node_op_name", "geometry", "explain",
    "report", "output_path", "run", "plane_pixels", "tiles_foreach",
    "label_foreach", "batch"))


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
