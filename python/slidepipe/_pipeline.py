# SPDX-License-Identifier: LGPL-2.1-or-later
"""slidepipe.load(...)...: pipelines of libslidepipe's operators.

A Pipeline is a list of steps (operator name and argument words, exactly
as the command line takes them); nothing is opened until a property or a
method needs the graph, and no pixel is computed until a sink runs, the
result is taken as an array, or patches are asked for. Every argument is
checked, and every error raised, by the C library.
"""

import collections
import os
import queue
import shlex
import tempfile
import threading
import weakref

import numpy as np

from ._capi import OP_SINK, api
from ._errors import UsageError

#: to_numpy()'s default limit on the result's size, in bytes (2 GiB)
TO_NUMPY_LIMIT = 2 << 30


class Geometry(collections.namedtuple("Geometry", (
        "width", "height", "bands", "x", "y", "w", "h", "downsample_x",
        "downsample_y", "mpp_x", "mpp_y", "format", "n_c", "n_z", "n_t"))):
    """What a pipeline produces, known before any pixel (SpGeometry).

    width, height, bands: the output image, pixels (bands 3: RGB; 1: a
        mask or grey image);
    x, y, w, h: the level-0 region it covers, level-0 pixels of the slide
        (floats: sub-pixel origins are kept);
    downsample_x, downsample_y: level-0 pixels per output pixel;
    mpp_x, mpp_y: µm per output pixel, None when the slide has no mpp;
    format: the sample type as a name ("uint8", "uint16", "float32" …);
    n_c, n_z, n_t: the planes (channels, z, time points): 1, 1, 1 for a
        plain slide.
    """

    __slots__ = ()

    @property
    def dtype(self):
        """The numpy dtype of the samples."""
        return np.dtype(self.format)

    @property
    def planes(self):
        """n_c × n_z × n_t."""
        return self.n_c * self.n_z * self.n_t


#: One kept patch, as Pipeline.patches() yields it.
#:   array: numpy (height, width, bands) of the pipeline's sample type
#:       (uint8 for 8-bit slides), rows top to bottom, bands interleaved;
#:       padding (edge="pad") is white for RGB, 0 for 1 band
#:   x, y: the patch's top-left corner, level-0 pixels (floats), as the
#:       tiles sink's tiles.csv gives them
#:   level: the pyramid level its pixels were read from
#:   downsample: level-0 pixels per patch pixel
#:   mpp: µm per patch pixel, or None
#:   tissue: fraction 0 … 1 of the patch that is tissue, None without a
#:       mask (min_tissue not given and no mask)
#:   index: grid index, row × columns + column
Patch = collections.namedtuple(
    "Patch", ("array", "x", "y", "level", "downsample", "mpp", "tissue",
              "index"))

#: What running a sink gives: the path it wrote (None for sinks without
#: one) and the report lines the pipeline's steps made, source first
#: (str or None), e.g. the Otsu threshold chosen or the patches kept, as
#: the command prints them.
Result = collections.namedtuple("Result", ("output", "report"))

_OPS = None


def _ops():
    """{name: (kind, summary, description)} of libslidepipe's operators."""
    global _OPS
    if _OPS is None:
        _OPS = {name: (kind, summary, desc)
                for name, kind, summary, desc in api.op_list()}
    return _OPS


def _word(value):
    """An argument value as the command line writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest round trip; nan/inf are refused in C
    if isinstance(value, (list, tuple)):
        return ",".join(_word(v) for v in value)
    if isinstance(value, os.PathLike):
        return os.fsdecode(os.fspath(value))
    if isinstance(value, bytes):
        return os.fsdecode(value)
    return str(value)


def _positional(value):
    word = _word(value)
    # "NAME=VALUE" is read as a named argument when NAME is one: a
    # relative path holding '=' is given as ./path so it stays a path
    if "=" in word and not word.startswith("/") and \
            isinstance(value, (str, bytes, os.PathLike)):
        word = "./" + word
    return word


def _words(args, kwargs):
    words = [_positional(a) for a in args]
    for key, value in kwargs.items():
        if value is None:
            continue
        words.append(f"{key.replace('_', '-')}={_word(value)}")
    return tuple(words)


class _Graph:
    """An SpGraph, freed with the object."""

    def __init__(self, exact):
        self.handle = api.graph_new(exact)
        self._finalizer = weakref.finalize(self, api.graph_free, self.handle)

    def free(self):
        self._finalizer()


class Pipeline:
    """A chain of slidepipe operators: a source (load), filters, and
    optionally a sink, in GDAL `raster pipeline` order.

    Make one with :func:`slidepipe.load` or :meth:`Pipeline.parse`, then
    add steps with a method per operator: ``p.crop(x, y, w, h)``,
    ``p.downsample(4)``, ``p.threshold(method="otsu")`` … Positional
    arguments are the operator's positional ones; keyword arguments are its
    named ones, ``_`` standing for ``-`` (``min_tissue=0.5`` is
    ``min-tissue=0.5``); True/False are true/false, lists are joined with
    commas, None leaves the argument out. ``slidepipe.operators()`` lists
    the operators, and each method's docstring is the operator's own help.
    Each step returns a new Pipeline; the old one is unchanged.

    Calling a sink (``save``, ``tiles``, ``label``, ``overlay`` …) runs the
    pipeline at once and returns a :class:`Result`; it takes
    ``progress=callable(percent, eta_seconds)``. No pixel is computed
    before that, nor by ``geometry`` or ``explain()``.

    Errors: building raises :class:`slidepipe.UsageError` for bad
    arguments (naming the operator and argument), ``FileError``,
    ``FormatError`` or ``RegionError`` for the files and regions; running
    raises ``FailedError`` or ``FileError``. A failed save leaves nothing
    at its output path. The GIL is released while pixels are computed.
    """

    def __init__(self, steps, exact=False):
        self._steps = tuple(steps)
        self._exact = bool(exact)
        self._graph = None
        self._node = None

    # --- making -----------------------------------------------------------
    @classmethod
    def parse(cls, pipeline, exact=False):
        """A pipeline from its command-line form.

        pipeline: a str, split into words as a POSIX shell would (quote
            paths with spaces), or a list of words; steps are separated by
            "!": ``"load s.svs ! crop 0 0 4096 4096 ! downsample 4"``. It
            may end in a sink; then call :meth:`run`.
        exact: compute every downsample from level 0 (no planning).

        Raises UsageError (naming the step) and the errors of opening the
        slide, at once.
        """
        if isinstance(pipeline, (str, bytes)):
            step = ("text", os.fsdecode(pipeline))
        else:
            step = ("words", tuple(_word(w) for w in pipeline))
        p = cls([step], exact)
        p._build()
        return p

    def then(self, op, *args, **kwargs):
        """This pipeline followed by operator `op` (its name, as
        `slidepipe --help` lists it) with these arguments. Sinks are not
        run (see :meth:`run`)."""
        p = Pipeline(self._steps + ((op, _words(args, kwargs)),),
                     self._exact)
        p._build()
        return p

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        op = name.replace("_", "-")
        info = _ops().get(op)
        if info is None:
            raise AttributeError(
                f"'Pipeline' has no attribute '{name}' (and slidepipe has "
                "no such operator; slidepipe.operators() lists them)")
        kind, summary, desc = info

        if kind == OP_SINK:
            def step(*args, progress=None, **kwargs):
                return self.then(op, *args, **kwargs).run(progress=progress)
        else:
            def step(*args, **kwargs):
                return self.then(op, *args, **kwargs)
        step.__name__ = name
        step.__doc__ = f"{op}: {summary}\n\n{desc or ''}"
        return step

    def __dir__(self):
        return sorted(set(super().__dir__()) |
                      {n.replace("-", "_") for n in _ops()})

    def __getstate__(self):
        # the steps only: a copy (a DataLoader worker) opens its own files
        return {"steps": self._steps, "exact": self._exact}

    def __setstate__(self, state):
        self.__init__(state["steps"], state["exact"])

    def __str__(self):
        out = []
        for kind, words in self._steps:
            if kind == "text":
                out.append(words)
            elif kind == "words":
                out.append(" ".join(shlex.quote(w) for w in words))
            else:
                out.append(" ".join([kind] + [shlex.quote(w) for w in words]))
        return " ! ".join(out)

    def __repr__(self):
        return f"<slidepipe.Pipeline {self}>"

    # --- the graph ----------------------------------------------------------
    def _make(self):
        """A new graph holding this pipeline; (graph, last node)."""
        graph = _Graph(self._exact)
        node = None
        try:
            for kind, words in self._steps:
                if kind == "text":
                    node = api.parse(graph.handle, words)
                elif kind == "words":
                    node = api.parse_words(graph.handle, words)
                else:
                    node = api.node_new(graph.handle, kind, node, words)
        except BaseException:
            graph.free()
            raise
        return graph, node

    def _build(self):
        if self._graph is None:
            self._graph, self._node = self._make()
        return self._node

    def _is_sink(self):
        return api.node_kind(self._build()) == OP_SINK

    @property
    def geometry(self):
        """The :class:`Geometry` of the last step (a sink: of its input's
        output), computed without pixels."""
        g = api.geometry(self._build())
        return Geometry(g["width"], g["height"], g["bands"], g["x"], g["y"],
                        g["w"], g["h"], g["downsample_x"], g["downsample_y"],
                        g["mpp_x"] or None, g["mpp_y"] or None,
                        g["format_name"], g["n_c"], g["n_z"], g["n_t"])

    def explain(self):
        """The plan of every step as `slidepipe explain` prints it (str):
        sizes, level-0 regions, the pyramid level each step reads and the
        pixels it decodes. No pixel is computed."""
        return api.explain(self._build())

    # --- running ------------------------------------------------------------
    def run(self, progress=None):
        """Runs a pipeline that ends in a sink.

        progress: None, or callable(percent, eta_seconds) called a few
            times a second from the thread running the sink (eta_seconds
            None when unknown); an exception it raises is re-raised when
            the run ends.

        Returns a :class:`Result`. Raises UsageError when the last step is
        not a sink, and the run's errors (FailedError, FileError …). A
        pipeline runs once: its graph is used up (run it again with a new
        Pipeline, e.g. ``Pipeline.parse(str(p))``).
        """
        node = self._build()
        if api.node_kind(node) != OP_SINK:
            raise UsageError(
                "run: the pipeline does not end in a sink (save, tiles, "
                "label, overlay …); use to_numpy() or patches() for pixels")
        graph = self._graph
        self._graph = self._node = None
        try:
            api.run(graph.handle, node, progress)
            return Result(api.output_path(node), api.report(node))
        finally:
            graph.free()

    def to_numpy(self, plane=None, limit=TO_NUMPY_LIMIT):
        """The pipeline's output as one numpy array (for results that fit
        in memory: a crop, a thumbnail, a mask).

        Returns (height, width, bands) of the pipeline's sample type
        (Geometry.format: uint8 for 8-bit slides, uint16 …), rows top to
        bottom. For a stack (Geometry.planes > 1) and plane None:
        (planes, height, width, bands), plane c + n_c·(z + n_z·t); an int
        `plane` gives that plane alone.

        limit: refuse (UsageError) results of more bytes than this.
        Raises UsageError for a sink pipeline, RegionError, FailedError.
        """
        node = self._build()
        if api.node_kind(node) == OP_SINK:
            raise UsageError("to_numpy: the pipeline ends in a sink; "
                             "drop it, or run() it")
        g = self.geometry
        planes = [plane] if plane is not None else range(g.planes)
        if plane is not None and not 0 <= plane < g.planes:
            raise UsageError(f"to_numpy: plane {plane} is not in 0 … "
                             f"{g.planes - 1}")
        nbytes = (g.width * g.height * g.bands * g.dtype.itemsize *
                  len(planes))
        if nbytes > limit:
            raise UsageError(
                f"to_numpy: the result is {g.width} × {g.height} × {g.bands}"
                f" {g.format}" + (f" × {len(planes)} planes" if
                                  len(planes) > 1 else "") +
                f", {nbytes} bytes, over limit={limit}; crop or downsample "
                "it, or stream it with patches()")
        arrays = [api.plane_pixels(node, i) for i in planes]
        if plane is not None or g.planes == 1:
            return arrays[0]
        return np.stack(arrays)

    def patches(self, size=224, *, shard=None, queue_size=16, **options):
        """The kept patches of a grid over the pipeline's region, as the
        `tiles` sink cuts them, but as numpy arrays in this process.

        size: patch side in pixels of the patch resolution (default 224).
        options: the tiles sink's arguments, ``_`` for ``-``: stride, level
            or mpp (the patch resolution; default the pipeline's),
            mask (an image file or a pipeline string giving a 1-band
            image), min_tissue (0 … 1; default 0.5 with mask, else every
            patch kept; without mask, the tissue is Otsu on saturation at a
            low level), grid ("level", "level0"), edge ("skip", "pad").
        shard: None, or (i, n): only the i-th (0-based) of n equal shares of
            the kept patches (consecutive runs in reading order), so n
            processes given 0 … n-1 get every kept patch exactly once.
        queue_size: patches decoded ahead of the consumer.

        Yields :class:`Patch` tuples, in no fixed order (sort by index for
        grid order). Pixels are decoded by libslidepipe's worker threads
        outside the GIL, while the loop body runs. Stopping early (break,
        close()) stops the decoding. Raises UsageError for bad options at
        once, and read errors where they happen.
        """
        words = list(_words((), dict(size=size, **options)))
        if shard is not None:
            i, n = shard
            if not (isinstance(i, int) and isinstance(n, int) and
                    0 <= i < n):
                raise UsageError(f"patches: shard={shard!r} is not (i, n) "
                                 "with 0 <= i < n")
            words.append(f"shard={i + 1}/{n}")
        words = tuple(words)
        # the options are checked now, not at the first next() (which may
        # be in a DataLoader worker): a tiles sink is planned, not run
        check = Pipeline(self._steps + (("tiles", (tempfile.gettempdir(),) +
                                         words),), self._exact)
        check._build()
        check._graph.free()
        return self._patches(words, max(1, int(queue_size)))

    def objects(self, runs=False, *, queue_size=64, **options):
        """The connected components of a 1-band mask pipeline (such as
        ``load(s).threshold(...)``), measured as the `label` sink measures
        them, streamed: one dict per object as soon as it is finished.

        options: label's arguments, ``_`` for ``-``: connectivity (8, 4),
            min_area (mask pixels), fill_holes, max_hole, intensity
            ("source", "none", an image file or pipeline), objects=/geojson=
            (also write those files).
        runs: add "runs", an int32 array of (row, first column, last
            column) rows, mask pixels.

        Each dict: id, area (mask pixels), area_um2, centroid_x,
        centroid_y (level-0 px), centroid_x_um, centroid_y_um, bbox_x,
        bbox_y, bbox_w, bbox_h (level-0 px), perimeter, perimeter_um,
        major_axis, minor_axis (mask px), eccentricity, orientation
        (radians), edge (bool: touches the mask's edge), mean, min, max
        (lists, one value per intensity band), mask_x, mask_y,
        downsample_x, downsample_y (where mask pixel (0, 0) is and its
        size, level-0 px). µm values are None when the slide has no mpp.
        Raises UsageError for bad options or a mask of more than 1 band.
        """
        words = _words((), options)
        return self._stream("objects", (words, bool(runs)),
                            max(1, int(queue_size)))

    def _patches(self, words, queue_size):
        return self._stream("patches", words, queue_size)

    def _stream(self, kind, words, queue_size):
        # a graph of its own, made here: a worker process (fork or spawn)
        # opens its own files
        graph, node = self._make()
        q = queue.Queue(queue_size)
        stop = threading.Event()
        end = object()

        def put(item):
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    pass
            return False

        def on_patch(index, x, y, level, downsample, mpp, tissue, array):
            return put(Patch(array, x, y, level, downsample, mpp or None,
                             tissue if tissue >= 0 else None, index))

        def produce():
            try:
                if kind == "patches":
                    api.tiles_foreach(node, words, on_patch)
                else:
                    api.label_foreach(node, words[0], put, runs=words[1])
                q.put((end, None))
            except BaseException as e:  # noqa: B036 - handed to the consumer
                if not stop.is_set():
                    q.put((end, e))

        thread = threading.Thread(target=produce, name=f"slidepipe-{kind}",
                                  daemon=True)
        thread.start()
        try:
            while True:
                item = q.get()
                if isinstance(item, tuple) and len(item) == 2 and \
                        item[0] is end:
                    if item[1] is not None:
                        raise item[1]
                    return
                yield item
        finally:
            stop.set()
            while thread.is_alive():
                try:
                    q.get(timeout=0.05)
                except queue.Empty:
                    pass
            thread.join()
            graph.free()


def load(path, *args, exact=False, **kwargs):
    """A pipeline that starts by reading `path` (a slide or image file).

    Keyword arguments are load's: level (int), associated ("label",
    "macro", "thumbnail"), page, c, z, t (plane selections: int, "A-B",
    list or "all"). exact: compute every later downsample from level 0.

    Raises FileError, FormatError or UsageError at once; no pixel is read.
    """
    p = Pipeline([("load", _words((path,) + args, kwargs))], exact)
    p._build()
    return p


def operators():
    """{name: summary} of every operator, as `slidepipe --help` lists
    them; each is a Pipeline method (``-`` as ``_``)."""
    return {name: info[1] for name, info in _ops().items()}


def batch(manifest, out_dir=None, pipeline=None, *, jobs=0, shard=None,
          force=False, dry_run=False, allow_any_path=False, units=None,
          out_suffix=None, progress=None):
    """Runs one pipeline per manifest row, as `slidepipe batch` does.

    manifest: CSV/TSV path with columns slide, x, y, w, h (level-0 px, or
        µm with units), optional level, downsample, mpp, units, out; or
        with `pipeline`, a folder of images.
    out_dir: directory outputs go under (default: the current one);
        outputs may not leave it unless allow_any_path.
    pipeline: a template with {column} placeholders, e.g.
        "load {slide} ! threshold ! save {out}"; default crop and save.
    jobs: rows at once (0: one per core). shard: (k, n), 1-based as
        --shard K/N. force: redo rows whose output exists. dry_run: check
        rows without pixels. units: "px" or "um". out_suffix: for a folder.
    progress: None or callable(done, failed, total) after each row (total
        None when unknown).

    Returns a list of dicts, one per row in the order they finished:
    index, line, slide, out, status ("ok", "skipped", "valid", "invalid",
    "failed"), error (str or None), seconds, bytes. A bad row does not
    stop the others. Raises UsageError or FileError when the batch cannot
    start (bad options, no header, unreadable manifest).
    """
    rows = []
    if shard is not None:
        k, n = shard
        shard = (int(k), int(n))
    api.batch(os.fspath(manifest),
              None if out_dir is None else os.fspath(out_dir),
              None if pipeline is None else str(pipeline), int(jobs), shard,
              force, dry_run, allow_any_path, units, out_suffix, rows.append,
              progress)
    return rows
