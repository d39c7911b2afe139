/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* slidepipe: lazily evaluated pipelines over whole-slide images.
 *
 * Public API. Everything here is prefixed sp_ / Sp / SP_.
 *
 * Coordinates: unless a comment says otherwise, positions and sizes are in
 * level-0 pixels of the source slide, origin at the top-left corner, x to
 * the right and y down, as in OpenSlide's openslide_read_region().
 * Pixel sizes are micrometres per pixel (mpp); 0 means "not known".
 *
 * Errors: every call that can fail takes a GError ** as its last fixed
 * argument and reports in the SP_ERROR domain (see SpError); on failure it
 * returns NULL / FALSE and leaves no half-built object behind.
 */
#ifndef SLIDEPIPE_H
#define SLIDEPIPE_H

#include <glib.h>
#include <vips/vips.h>

G_BEGIN_DECLS

/**
 * SP_ERROR:
 *
 * The GError domain of every error slidepipe reports.
 */
#define SP_ERROR (sp_error_quark())
GQuark sp_error_quark(void);

/**
 * SpError:
 * @SP_ERROR_FAILED: a runtime failure (libvips, libtiff or the OS failed);
 *   the CLI exits 1.
 * @SP_ERROR_USAGE: a malformed pipeline, unknown operator or argument, a
 *   value of the wrong type or out of its range; the CLI exits 2.
 * @SP_ERROR_IO: a file could not be opened, read or written; exit 1.
 * @SP_ERROR_FORMAT: a file is not an image any loader understands, or
 *   lacks what was asked of it (a level, an associated image); exit 1.
 * @SP_ERROR_REGION: a region lies (partly) outside its image; exit 1.
 *
 * Error codes in the %SP_ERROR domain. Messages always name the operator,
 * the argument or file, and the reason, e.g.
 * "crop: region x=0 y=0 w=9000 h=10 (level-0 px) is outside slide 'a.svs'
 * (2220 × 2967 level-0 px)".
 */
typedef enum {
	SP_ERROR_FAILED,
	SP_ERROR_USAGE,
	SP_ERROR_IO,
	SP_ERROR_FORMAT,
	SP_ERROR_REGION,
} SpError;

/**
 * sp_init:
 * @argv0: program name, as given to VIPS_INIT(), or %NULL
 * @error: return location for a #GError
 *
 * Initialises libvips (if the caller has not) and registers slidepipe's
 * operators. Safe to call more than once and from several threads.
 *
 * Optional: the first call of sp_graph_new(), sp_slide_open() or
 * sp_set_trusted_only() (and so of every entry point that takes what
 * they return) starts the library itself, once (g_once), as
 * sp_init(%NULL, %NULL) would. Call sp_init() first to pass @argv0 to
 * libvips or to get the error if libvips cannot start; after the library
 * has started, @argv0 is ignored.
 *
 * Returns: %TRUE on success; %FALSE with @error (%SP_ERROR_FAILED) if
 * libvips cannot start.
 */
gboolean sp_init(const char *argv0, GError **error);

/**
 * sp_set_trusted_only:
 * @trusted_only: %TRUE to refuse files that only an untrusted loader reads
 *
 * Blocks (or unblocks) every libvips loader that libvips marks untrusted
 * (%VIPS_OPERATION_UNTRUSTED: among them openslideload, so vendor
 * formats such as SVS, NDPI and MRXS, and magickload, ppmload,
 * vipsload, matload, fitsload, …), with vips_block_untrusted_set().
 * Generic and striped TIFF (read by libtiff), PNG and JPEG still load.
 * Opening a file that needs a blocked loader fails with %SP_ERROR_FORMAT
 * naming the loader. Process-wide; call it after sp_init(), before
 * opening slides. sp_init() calls it with %TRUE when the environment
 * variable SLIDEPIPE_TRUSTED_ONLY is set to anything but "" or "0".
 *
 * For inputs from strangers: fewer, better-fuzzed parsers see them.
 */
void sp_set_trusted_only(gboolean trusted_only);

/**
 * sp_version:
 *
 * Returns: the package version string, e.g. "0.1.0". Static; do not free.
 */
const char *sp_version(void);

/**
 * sp_remove_partial_outputs:
 *
 * Removes the temporary files of every save still in progress in this
 * process, and libvips' own (the lower levels of a pyramidal TIFF save,
 * "vips-*.target" in $TMPDIR, found through /proc/self/fd).
 * Async-signal-safe (it calls only readlink(2) and unlink(2)): call it
 * from a SIGINT/SIGTERM handler before exiting so an interrupted save
 * leaves nothing behind. The outputs' final paths are never touched.
 */
void sp_remove_partial_outputs(void);

/**
 * sp_printable:
 * @text: a message (or path) as slidepipe made it, in any encoding
 *
 * @text made fit for one line of a terminal or log: control characters
 * become escapes (a newline becomes backslash, n; also \r, \t, \x1b),
 * so do bytes that are not UTF-8 (\xff) and invisible characters such
 * as a byte order mark (\ufeff); when the result is longer than 1000
 * bytes its middle is replaced by " … [N bytes] … ", keeping the start
 * (what failed) and the end (why). Error messages quote paths and values
 * as given, which may hold newlines or be a megabyte long. The slidepipe
 * command prints every error through this.
 *
 * Returns: (transfer full): a new string; free with g_free().
 */
char *sp_printable(const char *text);

/**
 * sp_escape_text:
 * @text: (nullable): any bytes, NUL-terminated
 *
 * sp_printable() without the cut: the whole of @text on one line, with
 * the same escapes (control characters as \n, \r, \t or \xNN, bytes
 * that are not UTF-8 as \xNN, invisible format characters as \uNNNN).
 * For text from a file (slide metadata, paths) printed to a terminal.
 *
 * Returns: (transfer full): a new string; g_free() it.
 */
char *sp_escape_text(const char *text);

/**
 * sp_format_name:
 * @format: a libvips band format
 *
 * The sample type as OME-XML's Pixels Type and numpy name it: "uint8",
 * "int8", "uint16", "int16", "uint32", "int32", "float" (32-bit),
 * "double"; libvips' nickname for the others.
 *
 * Returns: (transfer none): a static string.
 */
const char *sp_format_name(VipsBandFormat format);

/**
 * sp_format_from_name:
 * @name: a sample type: OME/numpy's name (uint8 … float32, float) or
 *   libvips' (uchar, char, ushort, short, uint, int, float)
 * @format: (out): the libvips band format
 *
 * Returns: %TRUE when @name is one of slidepipe's pixel types (uint8,
 * int8, uint16, int16, uint32, int32, float32).
 */
gboolean sp_format_from_name(const char *name, VipsBandFormat *format);

/* ------------------------------------------------------------------ */
/* Slides                                                              */

/**
 * SpLevel:
 * @width: level width in pixels of this level
 * @height: level height in pixels of this level
 * @downsample: level-0 pixels per pixel of this level, as the slide
 *   reports it (not always a power of two: 2.0005 happens)
 * @tile_width: tile width in pixels, 0 for striped (untiled) storage
 * @tile_height: tile height in pixels, 0 for striped storage
 *
 * One level of a slide's pyramid.
 */
typedef struct {
	gint64 width;
	gint64 height;
	double downsample;
	int tile_width;
	int tile_height;
} SpLevel;

/**
 * SpSlide:
 *
 * An opened whole-slide image or plain image: its pyramid levels, pixel
 * size, vendor, properties and associated images. Opening reads headers
 * only, never pixels. Reference counted; thread-safe once opened.
 */
typedef struct _SpSlide SpSlide;

/**
 * sp_slide_open:
 * @path: file name
 * @error: return location for a #GError
 *
 * Opens a slide. Vendor formats (SVS, NDPI, MRXS, SCN, BIF, Philips TIFF)
 * are read through libvips' OpenSlide loader; generic tiled TIFF and plain
 * (also striped) TIFF through libtiff and libvips' TIFF loader, which finds
 * levels as reduced-resolution subfiles (NewSubfileType bit 0), as OpenSlide
 * does; PNG and JPEG (and anything else libvips loads) as one-level images.
 *
 * Returns: (transfer full): a new slide, or %NULL with @error set:
 * %SP_ERROR_IO when @path is missing, unreadable or a directory;
 * %SP_ERROR_FORMAT when no loader recognises it.
 */
SpSlide *sp_slide_open(const char *path, GError **error);

/** sp_slide_ref: @slide: a slide. Returns: (transfer full): @slide. */
SpSlide *sp_slide_ref(SpSlide *slide);
/** sp_slide_unref: @slide: (nullable): a slide; frees it on the last unref. */
void sp_slide_unref(SpSlide *slide);

/** sp_slide_get_path: @slide: a slide. Returns: the file name (owned by @slide). */
const char *sp_slide_get_path(SpSlide *slide);

/**
 * sp_slide_get_vendor:
 * @slide: a slide
 *
 * Returns: OpenSlide's vendor name ("aperio", "hamamatsu", "generic-tiff"
 * …), or "tiff" for a TIFF that OpenSlide does not read (e.g. striped),
 * or the libvips loader's format ("png", "jpeg", …). Owned by @slide.
 */
const char *sp_slide_get_vendor(SpSlide *slide);

/**
 * sp_slide_get_bands:
 * @slide: a slide
 *
 * How many bands the slide's levels have as slidepipe reads them, known
 * from the header before any pixel is read: 1 (grey, or grey with alpha
 * flattened on white) or 3 (RGB; RGBA, CMYK and palette images are
 * converted). Associated images are always 3.
 *
 * Returns: 1 or 3.
 */
int sp_slide_get_bands(SpSlide *slide);

/**
 * sp_slide_get_format:
 * @slide: a slide
 *
 * The sample type of the pixels slidepipe reads, from the header: the
 * file's own (uint8, int8, uint16, int16, uint32, int32 or float32),
 * never rescaled. Vendor slides read through OpenSlide are always
 * %VIPS_FORMAT_UCHAR.
 *
 * Returns: the libvips band format.
 */
VipsBandFormat sp_slide_get_format(SpSlide *slide);

/**
 * sp_slide_get_plane_sizes:
 * @slide: a slide
 * @n_c: (out) (optional): channels (OME SizeC; an RGB image is 1 channel
 *   of 3 bands)
 * @n_z: (out) (optional): z planes (OME SizeZ; the pages of a plain
 *   multi-page TIFF stack)
 * @n_t: (out) (optional): time points (OME SizeT)
 *
 * The planes the file stores, each a whole image with its own pyramid:
 * from the OME-XML of an OME-TIFF (series 0), or the main-chain pages of
 * a multi-page TIFF that have the first page's size and samples and are
 * not reduced-resolution subfiles. 1 × 1 × 1 for everything else. Plane
 * (c, z, t) has index c + n_c × (z + n_z × t) (OME's XYCZT order).
 */
void sp_slide_get_plane_sizes(SpSlide *slide, int *n_c, int *n_z, int *n_t);

/**
 * sp_slide_get_channel_name:
 * @slide: a slide
 * @c: channel, 0 … n_c - 1
 *
 * Returns: (nullable) (transfer none): the OME Channel Name, or %NULL.
 */
const char *sp_slide_get_channel_name(SpSlide *slide, int c);

/**
 * sp_slide_get_channel_colour:
 * @slide: a slide
 * @c: channel, 0 … n_c - 1
 * @rgb: (out): the OME Channel Color's red, green and blue (0 … 255)
 *
 * Returns: %TRUE when the file gives channel @c a colour.
 */
gboolean sp_slide_get_channel_colour(SpSlide *slide, int c, guint8 rgb[3]);

/**
 * sp_slide_get_mpp_z:
 * @slide: a slide
 *
 * Returns: the distance between z planes in µm (OME PhysicalSizeZ), 0
 * when unknown.
 */
double sp_slide_get_mpp_z(SpSlide *slide);

/** sp_slide_get_level_count: @slide: a slide. Returns: number of levels, >= 1. */
int sp_slide_get_level_count(SpSlide *slide);

/**
 * sp_slide_get_level:
 * @slide: a slide
 * @level: 0 … level count - 1
 *
 * Returns: (transfer none) (nullable): the level, largest first, or %NULL
 * if @level is out of range.
 */
const SpLevel *sp_slide_get_level(SpSlide *slide, int level);

/**
 * sp_slide_get_mpp:
 * @slide: a slide
 * @mpp_x: (out) (optional): µm per level-0 pixel horizontally, 0 if unknown
 * @mpp_y: (out) (optional): µm per level-0 pixel vertically, 0 if unknown
 *
 * The pixel size comes from the vendor's properties (openslide.mpp-x/y) or,
 * for TIFFs, from XResolution/YResolution with ResolutionUnit centimetre or
 * inch. A slide that records none has none: nothing is invented.
 *
 * Returns: %TRUE if the pixel size is known.
 */
gboolean sp_slide_get_mpp(SpSlide *slide, double *mpp_x, double *mpp_y);

/**
 * sp_slide_get_property:
 * @slide: a slide
 * @name: property name, OpenSlide's ("openslide.objective-power",
 *   "aperio.AppMag", "tiff.ImageDescription" …)
 *
 * Returns: (nullable): the value (owned by @slide), or %NULL.
 */
const char *sp_slide_get_property(SpSlide *slide, const char *name);

/**
 * sp_slide_get_property_names:
 * @slide: a slide
 *
 * Returns: (transfer none): %NULL-terminated, sorted array of property
 * names, owned by @slide.
 */
const char *const *sp_slide_get_property_names(SpSlide *slide);

/**
 * sp_slide_get_associated_names:
 * @slide: a slide
 *
 * Returns: (transfer none): %NULL-terminated array of associated image
 * names ("label", "macro", "thumbnail" …), possibly empty; owned by @slide.
 */
const char *const *sp_slide_get_associated_names(SpSlide *slide);

/**
 * sp_slide_get_associated_size:
 * @slide: a slide
 * @name: associated image name
 * @width: (out): width in pixels
 * @height: (out): height in pixels
 *
 * Returns: %TRUE if @slide has @name (sizes set), %FALSE otherwise.
 */
gboolean sp_slide_get_associated_size(SpSlide *slide, const char *name,
	int *width, int *height);

/**
 * sp_slide_get_icc_profile:
 * @slide: a slide
 *
 * The ICC colour profile the slide embeds for its pixels: TIFF tag
 * InterColorProfile (34675) of level 0's directory, where Aperio SVS and
 * generic TIFF keep it (OpenSlide 4 reads it there; OpenSlide 3.4.1 and
 * libvips' openslideload do not report it). Read from the file each call.
 *
 * Returns: (transfer full) (nullable): the profile's bytes exactly as
 * stored, or %NULL when the slide has none, is not a TIFF, or the tag is
 * shorter than an ICC header (128 bytes) or over 64 MiB. Free with
 * g_bytes_unref(). No #GError: a missing profile is not an error.
 */
GBytes *sp_slide_get_icc_profile(SpSlide *slide);

/**
 * sp_icc_profile_get_description:
 * @profile: (nullable): ICC profile bytes
 *
 * The profile's description tag ('desc'), as lcms2's
 * cmsGetProfileInfoASCII(cmsInfoDescription, "en", "US") gives it, e.g.
 * "IEC 61966-2.1 Default RGB colour space - sRGB".
 *
 * Returns: (transfer full) (nullable): the description, stripped of
 * surrounding spaces, or %NULL when @profile is %NULL, lcms2 cannot parse
 * it, or it has no (UTF-8) description. Free with g_free().
 */
char *sp_icc_profile_get_description(GBytes *profile);

/**
 * sp_slide_best_level_for_downsample:
 * @slide: a slide
 * @downsample: wanted level-0 pixels per output pixel, >= 1
 *
 * The level whose downsample is the largest not above @downsample (with a
 * 1e-3 relative tolerance, so a reported 2.0005 serves a request for 2),
 * as OpenSlide's openslide_get_best_level_for_downsample() picks.
 *
 * Returns: a level index, 0 … level count - 1.
 */
int sp_slide_best_level_for_downsample(SpSlide *slide, double downsample);

/**
 * sp_slide_read_region:
 * @slide: a slide whose samples are 8-bit (sp_slide_get_format() is
 *   %VIPS_FORMAT_UCHAR)
 * @x: left edge, level-0 pixels; may be negative or past the slide
 * @y: top edge, level-0 pixels; may be negative or past the slide
 * @level: 0 … level count - 1
 * @w: width, pixels of @level, 1 … 2^30
 * @h: height, pixels of @level, 1 … 2^30
 * @alpha: %TRUE for RGBA (4 bands), %FALSE for RGB (3 bands)
 * @error: return location for a #GError
 *
 * A region as OpenSlide's openslide_read_region() reads it: @w × @h
 * pixels of @level, the first of them the level's pixel (@x / d, @y / d)
 * for the level's downsample d. Where a quotient is a whole number that
 * is exactly OpenSlide's pixel; where it is not, OpenSlide interpolates
 * between pixels and slidepipe takes the nearest pixel instead (rounding
 * halves up), except left of or above the slide (@x or @y < 0), where
 * both truncate toward zero. Pixels inside the level
 * are opaque (alpha 255; an RGBA slide is flattened on white at load, as
 * sp_load() reads it); pixels outside it are transparent black, (0, 0, 0,
 * 0), or black (0, 0, 0) without @alpha. A grey slide gives R = G = B.
 * OpenSlide's premultiplied ARGB becomes straight RGBA, as
 * openslide-python's read_region() returns it.
 *
 * The result is lazy: pixels are read (only the level's tiles under the
 * region) when they are asked for, e.g. by vips_image_write_to_memory().
 *
 * Returns: (transfer full): a new @w × @h 8-bit sRGB image; unref it
 * with g_object_unref(). %NULL with @error: %SP_ERROR_USAGE for a level
 * or size out of range, %SP_ERROR_FORMAT for a slide of other samples
 * (read it with sp_load() and cast), the errors of opening the level.
 */
VipsImage *sp_slide_read_region(SpSlide *slide, gint64 x, gint64 y, int level,
	int w, int h, gboolean alpha, GError **error);

/* ------------------------------------------------------------------ */
/* Operators and their declarations                                    */

/**
 * SpArgType:
 * @SP_ARG_INT: a whole number (an int in C varargs, see sp_node_new())
 * @SP_ARG_DOUBLE: a real number (double)
 * @SP_ARG_BOOL: true/false (gboolean); on the command line a bare
 *   `NAME` means NAME=true
 * @SP_ARG_STRING: text (const char *)
 * @SP_ARG_CHOICE: one of a fixed list of words (const char *)
 * @SP_ARG_PATH: a file name (const char *)
 * @SP_ARG_LENGTH: a length (a Gaussian's sigma, a mask's radius): a
 *   number of pixels of the level the operator runs at ("2", "2.5px"), or
 *   micrometres with the suffix `um` or `µm` ("2um"), converted through
 *   the slide's mpp when the node is made (%SP_ERROR_USAGE when the slide
 *   records none). It must be finite and above 0; @min and @max of its
 *   #SpArgInfo bound it in pixels, after conversion. In C varargs it is
 *   text (const char *), as on the command line.
 *
 * The type of an operator argument.
 */
typedef enum {
	SP_ARG_INT,
	SP_ARG_DOUBLE,
	SP_ARG_BOOL,
	SP_ARG_STRING,
	SP_ARG_CHOICE,
	SP_ARG_PATH,
	SP_ARG_LENGTH,
} SpArgType;

/**
 * SpArgInfo:
 * @name: argument name, as used in `NAME=VALUE`
 * @type: value type
 * @unit: (nullable): unit of the value ("level-0 px", "µm", "×") or %NULL
 * @default_value: (nullable): default as text, or %NULL when there is none
 *   (then the argument is either required or simply unset)
 * @min: smallest allowed value (numbers only)
 * @max: largest allowed value (numbers only)
 * @choices: (nullable): %NULL-terminated words for %SP_ARG_CHOICE
 * @position: position for positional use on the command line (0-based),
 *   or -1 when it can only be given as NAME=VALUE
 * @required: the argument must be given
 * @doc: one-line description
 * @offset: where the operator keeps the value, in bytes from the start of
 *   its argument struct: the library's own business (as a libvips
 *   argument's offset into its object), of no use to a caller
 *
 * The single declaration of one operator argument. The command line parser,
 * `slidepipe OP --help`, the man page and the C API's argument checks all
 * read it.
 */
typedef struct {
	const char *name;
	SpArgType type;
	const char *unit;
	const char *default_value;
	double min;
	double max;
	const char *const *choices;
	int position;
	gboolean required;
	const char *doc;
	glong offset;
} SpArgInfo;

/**
 * SpOpKind:
 * @SP_OP_SOURCE: makes an image from a file (no input)
 * @SP_OP_FILTER: image in, image out
 * @SP_OP_SINK: consumes an image and writes it out
 *
 * Where an operator may stand in a chain.
 */
typedef enum {
	SP_OP_SOURCE,
	SP_OP_FILTER,
	SP_OP_SINK,
} SpOpKind;

/**
 * SpNode:
 *
 * One operator in a graph with its checked arguments, its input node and
 * the #SpGeometry and #SpPlan it produces. Owned by its #SpGraph; opaque.
 */
typedef struct _SpNode SpNode;

/**
 * SpGraph:
 *
 * A pipeline: nodes (a chain is the common case; several sinks may share
 * nodes), the slides they opened, and run settings (progress, exact).
 * Not thread-safe: build and run a graph from one thread; libvips
 * parallelises the pixel work inside sp_graph_run(). Free with
 * sp_graph_free().
 */
typedef struct _SpGraph SpGraph;

/**
 * SpOpInfo:
 * @name: the operator's name ("crop")
 * @summary: one line
 * @description: a paragraph (plain text) for --help and the man page
 * @kind: source, filter or sink
 * @args: the argument declarations
 * @n_args: number of @args
 * @pointwise: %TRUE if each output pixel depends only on the input pixel
 *   at the same place (e.g. threshold): a planner may move geometry
 *   (crop, downsample) across it
 *
 * An operator's declaration. The callbacks are private to slidepipe.
 */
typedef struct _SpOpInfo SpOpInfo;

/**
 * sp_op_lookup:
 * @name: operator name
 *
 * Returns: (nullable) (transfer none): the operator, or %NULL if unknown.
 */
const SpOpInfo *sp_op_lookup(const char *name);

/**
 * sp_op_list:
 * @n: (out): number of operators
 *
 * Returns: (transfer none): all operators, in the order of the table.
 */
const SpOpInfo *const *sp_op_list(int *n);

/** sp_op_get_name: @op: an operator. Returns: its name. */
const char *sp_op_get_name(const SpOpInfo *op);
/** sp_op_get_summary: @op: an operator. Returns: its one-line summary. */
const char *sp_op_get_summary(const SpOpInfo *op);
/**
 * sp_op_get_description:
 * @op: an operator
 *
 * Returns: (transfer none): its paragraph of plain text (what it does,
 * its units and limits), as `slidepipe OP --help` and slidepipe(1) show it.
 */
const char *sp_op_get_description(const SpOpInfo *op);
/** sp_op_get_kind: @op: an operator. Returns: source, filter or sink. */
SpOpKind sp_op_get_kind(const SpOpInfo *op);

/**
 * sp_op_get_args:
 * @op: an operator
 * @n_args: (out): number of arguments
 *
 * Returns: (transfer none) (array length=n_args): the declarations.
 */
const SpArgInfo *sp_op_get_args(const SpOpInfo *op, int *n_args);

/* ------------------------------------------------------------------ */
/* Graphs and nodes                                                    */

/**
 * SpGeometry:
 * @width: output width in pixels
 * @height: output height in pixels
 * @bands: 3 for RGB, 1 for masks and grey images (4 never: RGBA is
 *   flattened on white at load)
 * @x: left edge of the covered region, level-0 pixels of the source slide
 * @y: top edge, level-0 pixels
 * @w: width of the covered region, level-0 pixels
 * @h: height of the covered region, level-0 pixels
 * @downsample_x: level-0 pixels per output pixel, horizontally
 * @downsample_y: level-0 pixels per output pixel, vertically
 * @mpp_x: µm per output pixel horizontally, 0 when the slide has no mpp
 * @mpp_y: µm per output pixel vertically, 0 when unknown
 * @format: the sample type of every band (%VIPS_FORMAT_UCHAR for 8-bit
 *   slides; the file's own for 16-bit, signed and float images; a
 *   threshold's mask is uchar); sp_format_name() names it
 * @n_c: channels: the planes the node produces are @n_c × @n_z × @n_t
 *   images of @width × @height × @bands, plane (c, z, t) at index
 *   c + @n_c × (z + @n_z × t) (OME's XYCZT order); 1 for a plain slide
 * @n_z: z planes (1 for a plain slide)
 * @n_t: time points (1 for a plain slide)
 *
 * What a node produces, known before any pixel is computed. Output pixel
 * (i, j) covers level-0 area [x + i·downsample_x, x + (i+1)·downsample_x) ×
 * [y + j·downsample_y, …). This is what lets a planner pick a pyramid level
 * instead of reading level 0. Every plane has the same geometry: a chain
 * of operators runs on each plane of its source (load's c=, z=, t= and
 * page= pick them) until an operator such as project reduces them.
 */
typedef struct {
	int width;
	int height;
	int bands;
	double x;
	double y;
	double w;
	double h;
	double downsample_x;
	double downsample_y;
	double mpp_x;
	double mpp_y;
	VipsBandFormat format;
	int n_c;
	int n_z;
	int n_t;
} SpGeometry;

/**
 * SpPlan:
 * @planned: %TRUE when the planner moved the read to a lower-resolution
 *   level than the node's input reads (a downsample satisfied from the
 *   pyramid)
 * @level: the pyramid level the node's pixels are read from (-1 for an
 *   associated image)
 * @level_downsample_x: level-0 pixels per pixel of that level,
 *   horizontally (from the level sizes, so 2.0005 stays 2.0005)
 * @level_downsample_y: the same, vertically
 * @x: left edge of the region read, in that level's pixels (fractional:
 *   sub-pixel origins are kept, not rounded away)
 * @y: top edge, level pixels
 * @w: width, level pixels
 * @h: height, level pixels
 * @remaining_x: reduction still applied after reading (level pixels per
 *   output pixel), 1 when the level is used as it is
 * @remaining_y: the same, vertically
 * @decoded_pixels: pixels of the stored tiles (or strip rows) that
 *   reading the region decodes
 *
 * Where a node's pixels come from. Plans are made when nodes are created,
 * before any pixel: a `downsample` reads the level whose downsample is the
 * largest not above the one it wants (as openslide_get_best_level_for_
 * downsample()), maps the region into it and reduces only the remaining
 * factor; pointwise operators in the chain (threshold) run at that level.
 * sp_graph_set_exact() or the downsample argument exact=true turn this off.
 */
typedef struct {
	gboolean planned;
	int level;
	double level_downsample_x;
	double level_downsample_y;
	double x;
	double y;
	double w;
	double h;
	double remaining_x;
	double remaining_y;
	guint64 decoded_pixels;
} SpPlan;

/**
 * sp_graph_new:
 *
 * Returns: (transfer full): an empty graph. Free with sp_graph_free().
 * A graph owns its nodes and the slides they opened.
 */
SpGraph *sp_graph_new(void);

/** sp_graph_free: @graph: (nullable): a graph; frees it with all its nodes and images. */
void sp_graph_free(SpGraph *graph);

/**
 * sp_node_new:
 * @graph: the graph the node joins
 * @op_name: operator name ("load", "crop", …)
 * @input: (nullable): the input node; %NULL for sources, required otherwise
 * @error: return location for a #GError
 * @...: %NULL-terminated list of NAME, VALUE pairs; the C type of VALUE
 *   follows the argument's #SpArgType: %SP_ARG_INT takes an int,
 *   %SP_ARG_DOUBLE a double, %SP_ARG_BOOL a gboolean, strings and
 *   %SP_ARG_LENGTH ("3", "2.5um") a const char *
 *
 * Adds a fully specified node: checks every argument against the
 * operator's declaration (type, range, choices, required), then computes
 * its #SpGeometry from the input's (opening a slide's headers for load).
 * No pixel is computed.
 *
 * Returns: (transfer none): the node, owned by @graph; %NULL with @error
 * set (%SP_ERROR_USAGE for bad arguments, %SP_ERROR_IO / %SP_ERROR_FORMAT
 * / %SP_ERROR_REGION for files and regions).
 */
SpNode *sp_node_new(SpGraph *graph, const char *op_name, SpNode *input,
	GError **error, ...) G_GNUC_NULL_TERMINATED;

/**
 * sp_node_new_valist:
 * @graph: a graph
 * @op_name: operator name
 * @input: (nullable): input node
 * @error: return location for a #GError
 * @ap: NAME, VALUE pairs as for sp_node_new()
 *
 * See sp_node_new().
 *
 * Returns: (transfer none): the node, or %NULL.
 */
SpNode *sp_node_new_valist(SpGraph *graph, const char *op_name, SpNode *input,
	GError **error, va_list ap);

/**
 * sp_node_new_from_strings:
 * @graph: a graph
 * @op_name: operator name
 * @input: (nullable): input node
 * @words: %NULL-terminated command-line words: positional values and
 *   NAME=VALUE pairs (a bare NAME sets a boolean)
 * @error: return location for a #GError
 *
 * As sp_node_new(), with arguments given as text, the way the command line
 * and sp_pipeline_parse() give them.
 *
 * Returns: (transfer none): the node, or %NULL with @error set.
 */
SpNode *sp_node_new_from_strings(SpGraph *graph, const char *op_name,
	SpNode *input, const char *const *words, GError **error);

/** sp_node_get_op: @node: a node. Returns: (transfer none): its operator. */
const SpOpInfo *sp_node_get_op(SpNode *node);

/** sp_node_get_input: @node: a node. Returns: (transfer none) (nullable): its input. */
SpNode *sp_node_get_input(SpNode *node);

/** sp_node_get_slide: @node: a node. Returns: (transfer none): the slide its chain reads. */
SpSlide *sp_node_get_slide(SpNode *node);

/**
 * sp_node_get_geometry:
 * @node: a node
 *
 * Returns: (transfer none): what the node produces, known without pixels.
 */
const SpGeometry *sp_node_get_geometry(SpNode *node);

/**
 * sp_node_get_plan:
 * @node: a node; for a sink, its input's plan is given
 * @plan: (out caller-allocates): the plan
 *
 * Returns: %TRUE if the planner moved the read to a lower level (then
 * @plan->planned is %TRUE too).
 */
gboolean sp_node_get_plan(SpNode *node, SpPlan *plan);

/**
 * sp_node_get_halo:
 * @node: a node
 *
 * The halo of a filter: the border, in pixels of its input (the level it
 * runs at, see sp_node_get_plan()), that it reads around each output
 * pixel, so around each tile libvips computes. `blur`: its Gaussian's
 * kernel radius, round(4 sigma); `morph`: the radius R (erode, dilate) or
 * 2 R (open, close); `threshold method=local`: the local mean's radius.
 * Known when the node is made, before any pixel.
 *
 * Returns: the halo in pixels; 0 for operators that read each output
 * pixel's own input pixel only (pointwise, region, sinks) or whose
 * reach is not a border (reductions).
 */
int sp_node_get_halo(SpNode *node);

/**
 * sp_graph_set_exact:
 * @graph: a graph
 * @exact: %TRUE to compute every downsample from its input's level
 *
 * Turns the planner off for nodes added afterwards: results are computed
 * from level 0 (or the level `load` was given), as slow as that is.
 */
void sp_graph_set_exact(SpGraph *graph, gboolean exact);

/**
 * sp_node_explain:
 * @node: the last node of a chain (a sink or not)
 *
 * The plan of every step of the chain ending at @node, computed without
 * pixels, as `slidepipe explain` prints it: one numbered paragraph per
 * step, first the source, giving its output (width × height × bands px),
 * the level-0 region it covers, its downsample and mpp, then the pyramid
 * level it reads, the region in that level's pixels, the reduction left
 * and the stored pixels decoded (#SpPlan), and a filter's halo (see
 * sp_node_get_halo()); a sink gives its output path and report.
 *
 * Returns: (transfer full): the text, lines ending in newlines (UTF-8,
 * paths as given). Free with g_free().
 */
char *sp_node_explain(SpNode *node);

/**
 * sp_node_get_report:
 * @node: a node
 *
 * Returns: (nullable): a line the operator wants the user to see (e.g. the
 * Otsu threshold it chose), or %NULL. Owned by @node.
 */
const char *sp_node_get_report(SpNode *node);

/**
 * sp_node_get_image:
 * @node: a node (not a sink)
 * @error: return location for a #GError
 *
 * Builds (once) and returns the lazy libvips image for @node's first
 * plane. The image is @geometry.width × height × bands of band format
 * @geometry.format (uchar for 8-bit slides), sRGB or B_W. Building it
 * computes no pixels except what an operator must measure (threshold's
 * Otsu value, from a small view of its input).
 *
 * Returns: (transfer none): the image, owned by @node; %NULL with @error.
 */
VipsImage *sp_node_get_image(SpNode *node, GError **error);

/**
 * sp_node_get_plane:
 * @node: a node (not a sink)
 * @plane: 0 … n_c × n_z × n_t - 1 of the node's #SpGeometry, plane
 *   (c, z, t) being c + n_c × (z + n_z × t)
 * @error: return location for a #GError
 *
 * sp_node_get_image() for one plane of a stack: the same chain of
 * operators on that plane of the source. Plane 0 is sp_node_get_image().
 * An index out of range is SP_ERROR_USAGE.
 *
 * Returns: (transfer none): the image, owned by @node; %NULL with @error.
 */
VipsImage *sp_node_get_plane(SpNode *node, int plane, GError **error);

/**
 * sp_geometry_get_plane_count:
 * @geometry: a node's geometry
 *
 * Returns: n_c × n_z × n_t, the number of planes the node produces (1 for
 * a plain slide).
 */
int sp_geometry_get_plane_count(const SpGeometry *geometry);

/**
 * SpProgressFunc:
 * @node: the sink that is running
 * @percent: 0 … 100
 * @eta_seconds: estimated seconds left, < 0 when unknown
 * @user_data: closure
 *
 * Called from the thread that runs the sink, a few times a second.
 */
typedef void (*SpProgressFunc)(SpNode *node, int percent, int eta_seconds,
	void *user_data);

/**
 * sp_graph_set_progress:
 * @graph: a graph
 * @func: (nullable): progress callback, or %NULL for none
 * @user_data: closure for @func
 */
void
sp_graph_set_progress(SpGraph *graph, SpProgressFunc func, void *user_data);

/**
 * sp_node_run:
 * @node: a sink node
 * @error: return location for a #GError
 *
 * Runs the sink: pixels are pulled through the chain in tiles and written.
 * A sink writes atomically: to a temporary file beside the output, renamed
 * over it only on success; on failure nothing is left at the output path.
 *
 * Returns: %TRUE on success, %FALSE with @error set.
 */
gboolean sp_node_run(SpNode *node, GError **error);

/**
 * sp_graph_run:
 * @graph: a graph
 * @error: return location for a #GError
 *
 * Runs every sink in @graph, in the order they were added; stops at the
 * first failure.
 *
 * Returns: %TRUE if all succeeded.
 */
gboolean sp_graph_run(SpGraph *graph, GError **error);

/**
 * sp_node_get_output_path:
 * @node: a sink node
 *
 * Returns: (nullable): the path the sink writes, owned by @node.
 */
const char *sp_node_get_output_path(SpNode *node);

/**
 * sp_pipeline_parse:
 * @graph: the graph to add to
 * @words: %NULL-terminated words of a pipeline in GDAL `raster pipeline`
 *   syntax: `load IN ! crop X Y W H ! downsample 4 ! save OUT.tif`; a word
 *   "!" separates steps (a word ending in "!" or starting with it is split)
 * @error: return location for a #GError
 *
 * Parses and adds a linear chain to @graph; the first step must be a
 * source, the last may be a sink.
 *
 * Returns: (transfer none): the last node, or %NULL with @error
 * (%SP_ERROR_USAGE naming the step, or the open/region errors of
 * sp_node_new()).
 */
SpNode *
sp_pipeline_parse(SpGraph *graph, const char *const *words, GError **error);

/**
 * sp_pipeline_parse_string:
 * @graph: the graph to add to
 * @text: a pipeline as one string; words are split as a POSIX shell
 *   would (g_shell_parse_argv()), so quote paths with spaces
 * @error: return location for a #GError
 *
 * Returns: (transfer none): the last node, or %NULL with @error.
 */
SpNode *
sp_pipeline_parse_string(SpGraph *graph, const char *text, GError **error);

/* ------------------------------------------------------------------ */
/* One entry point per operator                                         */

/**
 * sp_load:
 * @graph: graph
 * @path: slide or image file
 * @error: return location for a #GError
 * @...: %NULL-terminated optional arguments: "level" (int),
 *   "associated" (const char *: label, macro, thumbnail)
 *
 * Source: the slide's level (default 0) or an associated image, as RGB
 * uchar (RGBA flattened on white), or 1-band uchar for grey files.
 *
 * Returns: (transfer none): the node, or %NULL (%SP_ERROR_IO,
 * %SP_ERROR_FORMAT, %SP_ERROR_USAGE).
 */
SpNode *sp_load(SpGraph *graph, const char *path, GError **error,
	...) G_GNUC_NULL_TERMINATED;

/**
 * sp_crop:
 * @in: input node
 * @x: left, level-0 px (or µm with "units", "um")
 * @y: top
 * @w: width, > 0
 * @h: height, > 0
 * @error: return location for a #GError
 * @...: optional "units" (const char *: "px" or "um"), %NULL-terminated
 *
 * Filter: the region of @in's slide, in level-0 coordinates whatever level
 * or downsample @in has. The region must lie inside @in's region.
 *
 * Returns: (transfer none): the node, or %NULL (%SP_ERROR_REGION when
 * outside, %SP_ERROR_USAGE for bad numbers or µm without mpp).
 */
SpNode *sp_crop(SpNode *in, double x, double y, double w, double h,
	GError **error, ...) G_GNUC_NULL_TERMINATED;

/**
 * sp_downsample:
 * @in: input node
 * @factor: downsample factor (>= 1; 0 to give "mpp" instead)
 * @error: return location for a #GError
 * @...: optional "mpp" (double, target µm per pixel), %NULL-terminated
 *
 * Filter: reduces by @factor: area (box) averaging for whole factors, a
 * Lanczos-3 kernel after box shrinking for fractional ones (libvips
 * vips_shrink() / vips_resize()). Output mpp is input mpp × factor.
 *
 * Returns: (transfer none): the node, or %NULL (%SP_ERROR_USAGE).
 */
SpNode *sp_downsample(SpNode *in, double factor, GError **error,
	...) G_GNUC_NULL_TERMINATED;

/**
 * sp_threshold:
 * @in: input node
 * @error: return location for a #GError
 * @...: optional "value" (double 0…255), "method" ("otsu" or "value"),
 *   "channel" ("saturation" or "gray"), "invert" (gboolean); %NULL-terminated
 *
 * Filter: a 1-band uchar mask, 255 where the channel is above the
 * threshold (at or below with invert), else 0. Otsu's threshold (N. Otsu, "A threshold selection
 * method from gray-level histograms", IEEE Trans. SMC 9(1), 1979) is
 * computed from the histogram of a low-resolution view of the same region
 * (long side <= 2048 px, read from a pyramid level when there is one).
 *
 * Returns: (transfer none): the node, or %NULL.
 */
SpNode *sp_threshold(SpNode *in, GError **error, ...) G_GNUC_NULL_TERMINATED;

/**
 * sp_save:
 * @in: input node
 * @path: output file; format from the extension (.tif/.tiff, .png, .jpg)
 * @error: return location for a #GError
 * @...: optional "compression", "Q" (int), "tile" (int), "pyramid"
 *   (gboolean), "bigtiff" ("auto", "true", "false"); %NULL-terminated
 *
 * Sink: see `slidepipe save --help`. Call sp_node_run() (or
 * sp_graph_run()) to write.
 *
 * Returns: (transfer none): the sink node, or %NULL.
 */
SpNode *sp_save(SpNode *in, const char *path, GError **error,
	...) G_GNUC_NULL_TERMINATED;

/**
 * sp_tiles:
 * @in: input node (a slide level, possibly cropped)
 * @dir: output directory, made if missing
 * @error: return location for a #GError
 * @...: %NULL-terminated optional arguments: "size", "stride" (int, pixels
 *   of the patch resolution), "level" (int) or "mpp" (double, µm per
 *   pixel), "format" ("png", "jpeg", "tiff"), "Q" (int), "compression"
 *   (int, PNG deflate level 0 … 12), "mask" (const char *: an image file
 *   or a pipeline), "min-tissue" (double, 0 … 1), "grid" ("level",
 *   "level0"), "edge" ("skip", "pad"), "prefix" (const char *), "shard"
 *   (const char *: "K/N", the K-th of N equal consecutive runs of the
 *   kept patches in reading order, for splitting one grid across
 *   processes)
 *
 * Sink: cuts @in's region into a grid of size × size patches and writes
 * those with enough tissue, one file each, plus `DIR/tiles.csv`; see
 * `slidepipe tiles --help` for every argument. Patches are read from the
 * planned pyramid level by parallel workers, a patch at a time. Run it
 * with sp_node_run().
 *
 * Returns: (transfer none): the sink node, or %NULL (%SP_ERROR_USAGE for
 * bad arguments, %SP_ERROR_IO when @dir cannot be made).
 */
SpNode *sp_tiles(SpNode *in, const char *dir, GError **error,
	...) G_GNUC_NULL_TERMINATED;

/**
 * SpPatch:
 * @index: grid index, row × columns + column, from the grid's top left
 * @x: left edge of the patch, level-0 pixels of the slide
 * @y: top edge, level-0 pixels
 * @level: the pyramid level the pixels were read from
 * @downsample: level-0 pixels per patch pixel (horizontally)
 * @mpp: µm per patch pixel, 0 when the slide records none
 * @width: patch width in pixels
 * @height: patch height in pixels
 * @bands: 3 (RGB) or 1 (grey or mask)
 * @tissue: tissue fraction 0 … 1 of the patch's area, or -1 without a mask
 * @pixels: @width × @height × @bands samples of @format, row-major,
 *   bands interleaved, rows @width × @bands × vips_format_sizeof(@format)
 *   bytes apart, in the machine's byte order (cast to the type @format
 *   names: guint16 for %VIPS_FORMAT_USHORT, float for
 *   %VIPS_FORMAT_FLOAT …); padding (edge=pad) is white, the type's
 *   maximum, for unsigned RGB, and 0 for 1-band, signed and float
 *   patches. Owned by slidepipe and valid only during the callback:
 *   copy what you keep.
 * @format: the sample type: the pipeline's (#SpGeometry format), uchar
 *   for 8-bit slides; a 16-bit image's patches are 16-bit unless the
 *   pipeline has a 'cast'
 *
 * One kept patch, as sp_tiles_foreach() hands it over.
 */
typedef struct {
	int index;
	double x;
	double y;
	int level;
	double downsample;
	double mpp;
	int width;
	int height;
	int bands;
	double tissue;
	const guint8 *pixels;
	VipsBandFormat format;
} SpPatch;

/**
 * SpPatchFunc:
 * @patch: the patch
 * @user_data: closure
 * @error: return location for a #GError, to stop with a reason
 *
 * Called once per kept patch, from slidepipe's worker threads but never
 * two at a time, in no fixed order (use @patch->index to order them).
 *
 * Returns: %TRUE to go on, %FALSE to stop the run (sp_tiles_foreach()
 * then fails with @error, or with %SP_ERROR_FAILED when it is not set).
 */
typedef gboolean (
	*SpPatchFunc)(const SpPatch *patch, void *user_data, GError **error);

/**
 * sp_tiles_foreach:
 * @in: input node
 * @func: called with each kept patch
 * @user_data: closure for @func
 * @error: return location for a #GError
 * @...: %NULL-terminated optional arguments, as sp_tiles() takes them
 *   ("format", "Q", "compression" and "prefix" have no use here)
 *
 * Like sp_tiles(), but hands each kept patch's pixels to @func instead of
 * writing files, for feeding a model in the same process. Decoding runs
 * on every core while @func runs; memory holds one patch per worker.
 *
 * Returns: %TRUE when every kept patch was handed over; %FALSE with
 * @error on bad arguments, a read failure or @func stopping the run.
 */
gboolean sp_tiles_foreach(SpNode *in, SpPatchFunc func, void *user_data,
	GError **error, ...) G_GNUC_NULL_TERMINATED;

/**
 * sp_tiles_foreach_from_strings:
 * @in: input node
 * @words: (nullable): %NULL-terminated NAME=VALUE words, as the command
 *   line's `tiles` takes them after its directory ("size=224",
 *   "mpp=0.5", "min-tissue=0.5", "shard=1/2" …)
 * @func: called with each kept patch
 * @user_data: closure for @func
 * @error: return location for a #GError
 *
 * sp_tiles_foreach() with its arguments as text, for bindings that cannot
 * pass C variable arguments (the Python module).
 *
 * Returns: as sp_tiles_foreach(); bad words fail with %SP_ERROR_USAGE
 * naming `tiles` and the argument.
 */
gboolean sp_tiles_foreach_from_strings(SpNode *in, const char *const *words,
	SpPatchFunc func, void *user_data, GError **error);

/**
 * sp_label:
 * @in: input node: a 1-band mask (nonzero = object), such as a threshold
 * @error: return location for a #GError
 * @...: %NULL-terminated optional arguments: "objects" (const char *: the
 *   CSV file, one row per object), "geojson" (const char *: the GeoJSON
 *   file of outlines), "connectivity" (int, 8 or 4), "intensity" (const
 *   char *: "source", "none", an image file or a pipeline), "min-area"
 *   (double, mask pixels), "fill-holes" (gboolean), "max-hole" (double,
 *   mask pixels)
 *
 * Sink: labels the connected components of @in in one streaming pass
 * over its rows and writes each object's measurements (objects=) and
 * outline (geojson=; at least one of the two is required); see
 * `slidepipe label --help` for the columns. Memory grows with the
 * mask's width and the number of objects open at once (and, with
 * geojson=, their runs), not with its area. Run it with sp_node_run();
 * sp_node_get_report() then tells the objects found and the area they
 * cover.
 *
 * Returns: (transfer none): the sink node, or %NULL: %SP_ERROR_USAGE for
 * bad arguments (no output, both outputs the same file, an output that is
 * a file the pipeline reads, a mask of more than one band), %SP_ERROR_IO
 * when an output's directory cannot be written.
 */
SpNode *sp_label(SpNode *in, GError **error, ...) G_GNUC_NULL_TERMINATED;

/**
 * SpObjectRun:
 * @y: row, in pixels of the mask (the level read) from its top edge
 * @x0: first column of the run, mask pixels from its left edge
 * @x1: last column (inclusive)
 *
 * A horizontal run of an object's pixels. Mask pixel (x, y) covers
 * level-0 pixels [@x + x·@downsample_x, @x + (x + 1)·@downsample_x) × …
 * of the #SpObject it belongs to.
 */
typedef struct {
	int y;
	int x0;
	int x1;
} SpObjectRun;

/**
 * SP_OBJECT_MAX_BANDS:
 *
 * The most intensity bands an #SpObject measures.
 */
#define SP_OBJECT_MAX_BANDS 4

/**
 * SpObject:
 * @id: 1, 2, 3 …: the order objects finish, by their last row, then left
 *   to right along it (objects dropped by min-area take no id)
 * @area: pixels of the mask (at the level read)
 * @area_um2: µm², NaN when the slide records no mpp
 * @centroid_x: centroid, level-0 pixels: the mean of the object's pixel
 *   centres, @x + (mean column + 0.5)·@downsample_x (the centroid of its
 *   pixel squares, so the same point as its outline's)
 * @centroid_y: the same vertically
 * @centroid_x_um: @centroid_x in µm from the slide's origin, NaN without mpp
 * @centroid_y_um: the same vertically
 * @bbox_x: bounding box, level-0 pixels: left edge of its leftmost pixel
 * @bbox_y: top edge of its top pixel
 * @bbox_w: width (columns × @downsample_x)
 * @bbox_h: height (rows × @downsample_y)
 * @perimeter: mask pixels: scikit-image's perimeter(neighbourhood=4) of
 *   its own pixels (Benkrid & Crookes' estimator, as regionprops)
 * @perimeter_um: µm, NaN without mpp
 * @major_axis: mask pixels: 4·√l1, l1 ≥ l2 the eigenvalues of the
 *   covariance of its pixel coordinates (regionprops' axis_major_length)
 * @minor_axis: 4·√l2
 * @eccentricity: √(1 − l2 / l1), 0 for a single pixel
 * @orientation: radians, −π/2 … π/2: the angle between the image's
 *   vertical (rows) axis and the major axis, counter-clockwise as seen on
 *   screen (regionprops' orientation)
 * @edge: the object touches the mask's edge: it may be cut (by a crop or
 *   the slide's border)
 * @bands: intensity bands measured (0 with intensity=none)
 * @mean: mean of each band over the object's pixels
 * @min: smallest value of each band
 * @max: largest value of each band
 * @x: the mask's left edge, level-0 pixels (its region's origin)
 * @y: its top edge
 * @downsample_x: level-0 pixels per mask pixel, horizontally
 * @downsample_y: vertically
 * @runs: (array length=n_runs): the object's pixels, sorted by row then
 *   column; owned by slidepipe and valid only during the callback
 * @n_runs: number of @runs
 *
 * One finished object, as sp_label_foreach() hands it over. Lengths in
 * mask pixels and µm use the mask's horizontal pixel size (the same
 * vertically: slides have square pixels).
 */
typedef struct {
	guint64 id;
	gint64 area;
	double area_um2;
	double centroid_x;
	double centroid_y;
	double centroid_x_um;
	double centroid_y_um;
	double bbox_x;
	double bbox_y;
	double bbox_w;
	double bbox_h;
	double perimeter;
	double perimeter_um;
	double major_axis;
	double minor_axis;
	double eccentricity;
	double orientation;
	gboolean edge;
	int bands;
	double mean[SP_OBJECT_MAX_BANDS];
	double min[SP_OBJECT_MAX_BANDS];
	double max[SP_OBJECT_MAX_BANDS];
	double x;
	double y;
	double downsample_x;
	double downsample_y;
	const SpObjectRun *runs;
	gsize n_runs;
} SpObject;

/**
 * SpObjectFunc:
 * @object: the finished object
 * @user_data: closure
 * @error: return location for a #GError, to stop with a reason
 *
 * Called once per object, in @object->id order, never two at a time,
 * from the libvips thread that receives the mask's rows in order (the
 * mask is computed on libvips' workers meanwhile), while
 * sp_label_foreach() waits.
 *
 * Returns: %TRUE to go on, %FALSE to stop the run (sp_label_foreach()
 * then fails with @error, or with %SP_ERROR_FAILED when it is not set).
 */
typedef gboolean (
	*SpObjectFunc)(const SpObject *object, void *user_data, GError **error);

/**
 * sp_label_foreach:
 * @in: input node: a 1-band mask (nonzero = object)
 * @func: called with each object
 * @user_data: closure for @func
 * @error: return location for a #GError
 * @...: %NULL-terminated optional arguments, as sp_label() takes them
 *   ("objects" and "geojson" are optional here: with them the files are
 *   written too)
 *
 * Like sp_label(), but hands each finished object, with its measurements
 * and runs, to @func as soon as it is finished, for filtering or
 * classifying objects in the same process. One pass over the mask's rows
 * in order; memory holds the open objects only.
 *
 * Returns: %TRUE when every object was handed over; %FALSE with @error
 * on bad arguments, a read failure or @func stopping the run.
 */
gboolean sp_label_foreach(SpNode *in, SpObjectFunc func, void *user_data,
	GError **error, ...) G_GNUC_NULL_TERMINATED;

/**
 * sp_label_foreach_from_strings:
 * @in: input node: a 1-band mask (nonzero = object)
 * @words: (nullable): %NULL-terminated NAME=VALUE words, as the command
 *   line's `label` takes them ("connectivity=4", "min-area=20",
 *   "intensity=source", "fill-holes" …)
 * @func: called with each object
 * @user_data: closure for @func
 * @error: return location for a #GError
 *
 * sp_label_foreach() with its arguments as text, for bindings that
 * cannot pass C variable arguments (the Python module).
 *
 * Returns: as sp_label_foreach(); bad words fail with %SP_ERROR_USAGE
 * naming `label` and the argument.
 */
gboolean sp_label_foreach_from_strings(SpNode *in, const char *const *words,
	SpObjectFunc func, void *user_data, GError **error);

/**
 * sp_overlay:
 * @in: input node: the picture to paint on, usually a thumbnail
 *   (`load S ! downsample mpp=8`), RGB or grey
 * @csv: CSV file of per-patch values with columns x, y, w, h (level-0
 *   pixels of @in's slide) and a value column
 * @error: return location for a #GError
 * @...: %NULL-terminated optional arguments: "column" (const char *,
 *   default "class" if present, else "score"), "cmap" ("viridis",
 *   "magma", "plasma", "inferno", "gray"), "palette" ("tab10", "set1",
 *   or NAME:#RRGGBB,…), "alpha" (double, 0 … 1), "range" (const char *,
 *   "MIN,MAX"), "legend" (gboolean)
 *
 * Filter: paints each row's rectangle over @in: a class with its palette
 * colour, a score with its colour-map colour, blended with "alpha", and
 * adds a legend panel on the right. The output is RGB uchar, @in's height
 * and @in's width plus the legend panel's.
 *
 * Returns: (transfer none): the node, or %NULL (%SP_ERROR_IO when @csv
 * cannot be read, %SP_ERROR_USAGE for a bad column or value, naming the
 * file and line).
 */
SpNode *sp_overlay(SpNode *in, const char *csv, GError **error,
	...) G_GNUC_NULL_TERMINATED;

/* ------------------------------------------------------------------ */
/* Batch cropping                                                        */

/**
 * SpSlideCache:
 *
 * Opened slides shared between graphs (the rows of a batch), keyed by
 * path: a slide's headers are read once while rows use it (the 64 most
 * recently used are kept), and graphs reading a tiled TIFF slide share
 * one reader per level, its file handles and decoded tiles, while the
 * slide is among the most recently used. Thread-safe; reference counted.
 */
typedef struct _SpSlideCache SpSlideCache;

/** sp_slide_cache_new: Returns: (transfer full): an empty cache. */
SpSlideCache *sp_slide_cache_new(void);

/** sp_slide_cache_unref: @cache: (nullable): a cache; freed on the last unref. */
void sp_slide_cache_unref(SpSlideCache *cache);

/**
 * sp_graph_set_slide_cache:
 * @graph: a graph
 * @cache: (nullable): slides to share, or %NULL
 *
 * `load` nodes added afterwards take their slide from @cache (the graph
 * holds a reference).
 */
void sp_graph_set_slide_cache(SpGraph *graph, SpSlideCache *cache);

/**
 * SpBatchStatus:
 * @SP_BATCH_ROW_OK: the row's pipeline ran
 * @SP_BATCH_ROW_SKIPPED: its output existed (an earlier run made it)
 * @SP_BATCH_ROW_VALID: a dry run found nothing wrong with it
 * @SP_BATCH_ROW_INVALID: the row itself is unusable (a line that cannot
 *   be read, an empty or escaping output, an output another row writes)
 * @SP_BATCH_ROW_FAILED: its pipeline could not be built or run
 *
 * What became of one manifest row.
 */
typedef enum {
	SP_BATCH_ROW_OK,
	SP_BATCH_ROW_SKIPPED,
	SP_BATCH_ROW_VALID,
	SP_BATCH_ROW_INVALID,
	SP_BATCH_ROW_FAILED,
} SpBatchStatus;

/**
 * SpBatchRow:
 * @index: the row's 0-based index among the manifest's data rows
 * @line: the manifest line the row starts on (1-based)
 * @slide: (nullable): its slide column, %NULL when empty or missing
 * @out: (nullable): its out column as written, %NULL when empty
 * @status: what became of it
 * @error: (nullable): why it is invalid or failed (one #GError message,
 *   which may hold any bytes a path holds), else %NULL
 * @seconds: wall time the row took
 * @bytes: size of its output file, 0 when there is none
 *
 * One row's outcome, given to #SpBatchRowFunc. Valid during the call only.
 */
typedef struct {
	guint64 index;
	guint64 line;
	const char *slide;
	const char *out;
	SpBatchStatus status;
	const char *error;
	double seconds;
	gint64 bytes;
} SpBatchRow;

/**
 * SpBatchStartFunc:
 * @total: data rows this run will see (of this shard), counted ahead in
 *   a regular file; 0 when unknown (a pipe)
 * @user_data: #SpBatchOptions' @user_data
 * @error: return location for a #GError
 *
 * Called once the manifest's header is read and the output directory
 * exists, before any row: the place to open a report file.
 *
 * Returns: %FALSE (with @error set) to stop the batch before it starts.
 */
typedef gboolean (
	*SpBatchStartFunc)(guint64 total, void *user_data, GError **error);

/**
 * SpBatchRowFunc:
 * @row: the row's outcome
 * @user_data: #SpBatchOptions' @user_data
 *
 * Called once per row, from the worker thread that ran it, never for two
 * rows at once (the batch holds a lock around the call).
 */
typedef void (*SpBatchRowFunc)(const SpBatchRow *row, void *user_data);

/**
 * SpBatchProgressFunc:
 * @done: rows finished so far (any status)
 * @failed: of them, rows invalid or failed
 * @total: as #SpBatchStartFunc's @total
 * @user_data: #SpBatchOptions' @user_data
 *
 * Called after each row's #SpBatchRowFunc, under the same lock.
 */
typedef void (*SpBatchProgressFunc)(guint64 done, guint64 failed, guint64 total,
	void *user_data);

/**
 * SpBatchOptions:
 * @manifest: CSV or TSV file (tab in the header line: TSV) with a header;
 *   columns slide, x, y, w, h (level-0 px, or µm with a units column or
 *   @units), optional level, downsample, mpp, units, and out (relative to
 *   @out_dir); extra columns are free for @pipeline. With @pipeline, a
 *   folder instead: one row per image in it (not recursive; regular files
 *   not starting with '.' that a libvips loader recognises, in byte order
 *   of their names), with columns slide (its path), name (its file name
 *   without the last extension) and out (name + @out_suffix)
 * @out_dir: (nullable): directory outputs go under, made if missing;
 *   %NULL: the current directory
 * @pipeline: (nullable): a pipeline template with {column} placeholders,
 *   each replaced inside its word after the template is split into words
 *   ({out} is the row's output, relative to @out_dir; every output of a
 *   row is created beneath @out_dir); %NULL: `load {slide} !
 *   crop {x} {y} {w} {h} [! downsample …] ! save {out}`
 * @jobs: rows run at once; 0: one per core. Each row's pipeline also
 *   uses libvips' threads: a program running @jobs rows at once should
 *   set vips_concurrency_set() to cores / @jobs so the two do not
 *   oversubscribe (the slidepipe command does)
 * @shard_index: K of "K/N", 1-based: run only rows whose 0-based index
 *   mod N == K - 1; 0 with @shard_count 0 for all rows
 * @shard_count: N
 * @force: redo rows whose output exists (default: skip them, so a rerun
 *   after a crash finishes the rest; outputs only ever appear whole)
 * @dry_run: check every row (slide opens, region inside, output path
 *   allowed and writable, no two rows writing one output) without pixels
 * @allow_any_path: let outputs be absolute or leave @out_dir through ..
 * @units: (nullable): default units of x, y, w, h: "px" or "um"
 * @out_suffix: (nullable): with a folder as @manifest, what each image's
 *   out is: its name followed by this (%NULL: ".csv", an objects file)
 * @start: (nullable): called before the first row
 * @row: (nullable): called with each row's outcome
 * @progress: (nullable): called after each row with the counts
 * @user_data: passed to the callbacks
 *
 * What sp_batch_run() does.
 */
typedef struct {
	const char *manifest;
	const char *out_dir;
	const char *pipeline;
	int jobs;
	int shard_index;
	int shard_count;
	gboolean force;
	gboolean dry_run;
	gboolean allow_any_path;
	const char *units;
	const char *out_suffix;
	SpBatchStartFunc start;
	SpBatchRowFunc row;
	SpBatchProgressFunc progress;
	void *user_data;
} SpBatchOptions;

/**
 * sp_batch_run:
 * @options: what to run
 * @error: return location for a #GError
 *
 * Runs one pipeline per manifest row on parallel workers. Rows are read
 * as they are needed, so memory does not grow with the manifest. Every
 * row is independent: a bad row (missing slide, region outside, bad
 * number, duplicate or escaping output) is given to @options' row
 * callback with its status and reason, and the others go on. Prints
 * nothing.
 *
 * Returns: %TRUE when every row was read and run (each row's own outcome
 * went to the row callback: some may have failed); %FALSE with @error
 * when the batch could not start (%SP_ERROR_USAGE: bad options, a
 * manifest without a header or a needed column, a refused start
 * callback; %SP_ERROR_IO: an unreadable manifest, an output directory
 * that cannot be made) or the manifest could not be read to its end
 * (%SP_ERROR_IO, naming the manifest and line; the rows before it ran).
 */
gboolean sp_batch_run(const SpBatchOptions *options, GError **error);

/* ------------------------------------------------------------------ */
/* Annotations (GeoJSON polygons)                                       */

/**
 * SpAnnotations:
 *
 * Polygon annotations read from a GeoJSON file: features, each a Polygon
 * or MultiPolygon (holes included) in level-0 pixels of a slide, x right
 * and y down (QuPath's export), with their properties' name and
 * classification. Reference-counted; immutable once loaded, so it may be
 * shared between threads.
 */
typedef struct _SpAnnotations SpAnnotations;

/**
 * sp_annotations_load:
 * @path: a GeoJSON file: a FeatureCollection, a JSON array of Features
 *   (QuPath's "export as array"), one Feature, or a bare Polygon or
 *   MultiPolygon
 * @error: return location for a #GError
 *
 * Reads every feature that has a geometry (unlocated features, geometry
 * null, are skipped; feature indices count only the others). Keeps
 * properties.name, properties.classification.name (or a string
 * classification), its colour (classification.color [r, g, b], or
 * colorRGB) and properties.objectType. Memory: 16 bytes per vertex once
 * read; the file is mapped and its top level walked by slidepipe's
 * scanner, json-glib parsing one feature at a time. The last 4 files
 * read are kept while unchanged (device, inode, size, modification time),
 * so loading the same file again is cheap.
 *
 * Returns: (transfer full): the annotations (sp_annotations_unref()), or
 * %NULL with @error: %SP_ERROR_IO when the file cannot be read,
 * %SP_ERROR_FORMAT naming the file (and the feature's index) for invalid
 * JSON, a geometry other than Polygon and MultiPolygon, a coordinate
 * that is not a finite number or beyond ±1e12, a ring of under 3
 * distinct points.
 */
SpAnnotations *sp_annotations_load(const char *path, GError **error);

/**
 * sp_annotations_to_pixels:
 * @annotations: annotations whose coordinates are micrometres (level-0
 *   µm from the slide's top-left corner, y down)
 * @mpp_x: the slide's level-0 µm per pixel, horizontally (0 < mpp ≤ 1e6)
 * @mpp_y: vertically
 * @error: return location for a #GError
 *
 * The same features with every coordinate divided by the mpp, so in
 * level-0 pixels as the other functions take them (what `units=um` does
 * in the operators). Names, classes and colours are kept. Memory: a
 * copy of the vertices.
 *
 * Returns: (transfer full): new annotations, or %NULL with @error:
 * %SP_ERROR_USAGE for an mpp out of range, %SP_ERROR_FORMAT naming the
 * file and feature when a coordinate would exceed ±1e12 pixels.
 */
SpAnnotations *sp_annotations_to_pixels(SpAnnotations *annotations,
	double mpp_x, double mpp_y, GError **error);

/** sp_annotations_ref: @annotations: annotations. Returns: (transfer full): @annotations. */
SpAnnotations *sp_annotations_ref(SpAnnotations *annotations);

/** sp_annotations_unref: @annotations: (nullable): drops a reference; the last frees them. */
void sp_annotations_unref(SpAnnotations *annotations);

/** sp_annotations_get_path: @annotations: annotations. Returns: (transfer none): the file read. */
const char *sp_annotations_get_path(SpAnnotations *annotations);

/** sp_annotations_get_count: @annotations: annotations. Returns: the number of features. */
int sp_annotations_get_count(SpAnnotations *annotations);

/**
 * sp_annotations_get_polygon_count:
 * @annotations: annotations
 * @feature: 0 … count - 1
 *
 * Returns: the polygons of the feature: 1 for a Polygon, the parts of a
 *   MultiPolygon (operators pick one with `polygon=`).
 */
int sp_annotations_get_polygon_count(SpAnnotations *annotations, int feature);

/**
 * sp_annotations_get_name:
 * @annotations: annotations
 * @feature: 0 … count - 1
 *
 * Returns: (transfer none) (nullable): the feature's properties.name.
 */
const char *sp_annotations_get_name(SpAnnotations *annotations, int feature);

/**
 * sp_annotations_get_class:
 * @annotations: annotations
 * @feature: 0 … count - 1
 *
 * Returns: (transfer none) (nullable): its classification's name.
 */
const char *sp_annotations_get_class(SpAnnotations *annotations, int feature);

/**
 * sp_annotations_get_colour:
 * @annotations: annotations
 * @feature: 0 … count - 1
 * @rgb: (out caller-allocates): its class colour, when it has one
 *
 * Returns: %TRUE when the feature's classification gives a colour.
 */
gboolean sp_annotations_get_colour(SpAnnotations *annotations, int feature,
	guint8 rgb[3]);

/**
 * sp_annotations_get_bounds:
 * @annotations: annotations
 * @feature: 0 … count - 1
 * @x: (out): left edge of the bounding box of its vertices, level-0 px
 * @y: (out): top edge
 * @w: (out): width (0 for a vertical sliver)
 * @h: (out): height
 */
void sp_annotations_get_bounds(SpAnnotations *annotations, int feature,
	double *x, double *y, double *w, double *h);

/**
 * sp_annotations_mask:
 * @annotations: annotations
 * @features: (nullable) (array length=n_features): the features to draw
 *   (indices); %NULL for all
 * @n_features: length of @features
 * @x: level-0 x of the mask's left edge
 * @y: level-0 y of its top edge
 * @downsample_x: level-0 pixels per mask pixel, horizontally (> 0)
 * @downsample_y: vertically
 * @width: mask width in pixels (>= 1)
 * @height: mask height in pixels
 * @error: return location for a #GError
 *
 * The lazy mask of the features on a grid: a @width × @height × 1 uchar
 * image, 255 where a feature covers a pixel's centre and 0 elsewhere.
 * Pixel (i, j) covers level-0 [@x + i·@downsample_x, @x + (i + 1)·
 * @downsample_x) × [@y + j·@downsample_y, …). The rule is
 * gdal_rasterize's default (GDAL alg/llrasterize.cpp): rows scanned at
 * their centres, each polygon's rings (outline, holes, self-crossings)
 * combined by the even-odd rule, polygons (of a MultiPolygon too) and
 * features by union; a
 * centre exactly on a crossing is inside on a right edge, outside on a
 * left one. Tiles are filled when libvips asks for them, from an index
 * of cells (256² mask pixels) and, for features of many edges, row
 * bands: memory grows with the vertices and the cells their boxes cover,
 * not with the area. The image holds a reference to @annotations.
 *
 * Returns: (transfer full): the image, or %NULL with @error
 * (%SP_ERROR_USAGE for a bad grid).
 */
VipsImage *sp_annotations_mask(SpAnnotations *annotations, const int *features,
	int n_features, double x, double y, double downsample_x,
	double downsample_y, int width, int height, GError **error);

G_END_DECLS

#endif /* SLIDEPIPE_H */
