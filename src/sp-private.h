/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* slidepipe internals shared between src/ and ops/. Not installed. */
#ifndef SP_PRIVATE_H
#define SP_PRIVATE_H

#include <sys/stat.h>

#include <slidepipe/slidepipe.h>

/* libvips workarounds, g_autoptr(VipsImage) among them */
#include "compat.h"

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC(SpSlide, sp_slide_unref)

typedef struct _SpOutRoot SpOutRoot;

/* What an operator is to the planner (src/plan.c), which reads a chain
 * from whatever pyramid level serves it best and must know which
 * operators it may move that read through. */
typedef enum {
	SP_ROLE_SOURCE, /* makes the image from a slide (no input) */
	SP_ROLE_REGION, /* keeps a level-0 rectangle of its input (crop) */
	SP_ROLE_REDUCTION, /* lowers the resolution (downsample): the planner
	                    * may read a lower level and reduce only the rest */
	SP_ROLE_POINTWISE, /* each output pixel from the same input pixel
	                    * alone, so it commutes with region and reduction
	                    * and runs at whatever level is read (threshold) */
	SP_ROLE_FILTER, /* anything else: the planner reads it at its
	                    * input's level (overlay, blur, morph); a
	                    * reduction after it is computed, not read from
	                    * a lower level */
	SP_ROLE_SINK, /* writes the image out (save, tiles) */
} SpOpRole;

struct _SpOpInfo {
	const char *name;
	const char *summary;
	const char *description;
	SpOpKind kind;
	SpOpRole role;
	const SpArgInfo *args;
	int n_args;
	/* sizeof the operator's argument struct (SpCropArgs …), which the
	 * args' offsets point into; node->args is one, zeroed, then filled
	 * by the parser or the typed C call, defaults included */
	size_t args_size;

	/* Cross-argument checks and the output geometry, from the input's
	 * geometry and this node's arguments. No pixels. */
	gboolean (*plan)(SpNode *node, GError **error);
	/* The lazy image, for sources and filters. @in is the input's image
	 * (NULL for sources). Returns a new reference. */
	VipsImage *(*build)(SpNode *node, VipsImage *in, GError **error);
	/* Sinks: pull @in through and write it. */
	gboolean (*run)(SpNode *node, VipsImage *in, GError **error);
	/* Optional: free node->priv. */
	void (*free_priv)(void *priv);
	/* Optional, for operators that change the planes (project,
	 * channels): the image of output plane @plane, made from whichever
	 * planes of the input it needs (sp_node_get_plane()). Without it,
	 * build() runs on each plane of the input in turn. */
	VipsImage *(*build_plane)(SpNode *node, int plane, GError **error);
	/* Sample types the operator takes: FALSE, 8-bit (uchar) input only,
	 * and an input of another type is refused before anything runs
	 * with a message that names 'cast'; TRUE, any of slidepipe's. */
	gboolean any_format;
	/* For sinks: TRUE when it writes several planes (save); others
	 * refuse an input of more than one plane. */
	gboolean planes;
	/* Optional: a file @node reads that is not one of its SP_ARG_PATH
	 * arguments (a sink's are outputs), or NULL: save refuses to
	 * overwrite it. */
	const char *(*input_file)(SpNode *node);
};

/* The storage of an argument in its operator's argument struct T, the
 * last field of its SpArgInfo: member @field holds the value (int for
 * SP_ARG_INT, double, gboolean, an SpLength for SP_ARG_LENGTH, or an
 * owned char * for the text types; NULL or 0 when neither given nor
 * defaulted). */
#define SP_ARG_FIELD(T, field) G_STRUCT_OFFSET(T, field)

/* The value of an SP_ARG_LENGTH argument (a sigma, a radius, a block):
 * @value as the user gave it, in pixels, or in micrometres when @um
 * ("2um"); @px, the length in pixels of the level the operator runs at
 * (its input's: node->geom before the plan), filled in by
 * _sp_node_finish_args() from the input geometry's mpp and checked
 * against the declaration's range (in pixels). All 0 when the argument
 * is neither given nor defaulted. */
typedef struct {
	double value;
	gboolean um;
	double px;
} SpLength;

struct _SpNode {
	SpGraph *graph;
	const SpOpInfo *op;
	/* What the planner takes the node for: op->role, unless the
	 * operator's plan says otherwise for these arguments (threshold
	 * method=local is a filter, its other methods pointwise). A plan may
	 * only turn SP_ROLE_POINTWISE into SP_ROLE_FILTER. */
	SpOpRole role;
	/* Set by a filter's plan: the border, in pixels of its input, that
	 * it reads around each output pixel (a Gaussian's kernel radius, a
	 * morphological mask's); 0 for everything else. Shown by explain. */
	int halo;
	SpNode *input;
	void *args; /* the operator's argument struct (owned) */
	guint64 given; /* bit i: op->args[i] was given */
	SpSlide *slide; /* the slide this chain reads (ref) */
	SpGeometry geom;
	VipsImage *image; /* built lazily (ref): plane 0 */
	GPtrArray *plane_images; /* VipsImage * of planes 1 …, or NULL */
	char *report; /* a line for the user, or NULL */
	SpPlan read; /* where the pixels come from (src/plan.c) */
	/* Set by a source's plan, read by the planner: the level it reads
	 * and the associated image it reads instead (NULL: a level; owned by
	 * its arguments). */
	int source_level;
	const char *source_associated;
	/* Set by a source's plan: the file's plane (sp_slide_get_planes()
	 * order) of each plane of its output; NULL for plane 0 only. Owned. */
	int *source_planes;
	/* The output's channel names (char *, entries nullable) and OME
	 * colours (gint64, -1 none), or NULL: set by the source, passed on
	 * (a reference) by every operator that keeps the channels. */
	GPtrArray *channel_names;
	GArray *channel_colours;
	/* µm between z planes (OME PhysicalSizeZ), 0 unknown; passed on */
	double mpp_z;
	/* Set by a reduction's plan: compute it from the input's level (the
	 * planner may not move the read: downsample exact) */
	gboolean exact;
	void *progress_state; /* while a sink runs with progress */
	void *priv; /* operator's own state */
};

struct _SpGraph {
	GPtrArray *nodes; /* SpNode *, owned */
	gboolean exact; /* planner off: compute from the input's level */
	SpSlideCache *slide_cache; /* slides shared with other graphs, or NULL */
	SpOutRoot *out_root; /* where outputs are created (batch), or NULL */
	gboolean batch_row; /* one of a batch's rows: _sp_graph_set_batch_row() */
	SpProgressFunc progress;
	void *progress_data;
	/* While an image is built: the plane of it being built, as the
	 * source (load, or the planner's view of a level) reads it. */
	int plane;
};

/* src/planes.c: the planes (channels, z planes, time points) of a TIFF
 * and the directory that holds each. */
typedef struct {
	int n_c, n_z, n_t; /* OME SizeC, SizeZ, SizeT; 1 when absent */
	/* n_c × n_z × n_t TIFF directories (main chain), plane
	 * c + n_c × (z + n_z × t) at index the same */
	int *pages;
	char **names; /* n_c channel names (entries nullable), or NULL */
	gint64 *colours; /* n_c: -1 none, else OME's 0xRRGGBBAA */
	double mpp_x, mpp_y, mpp_z; /* µm, 0 when not given */
	gint64 width, height; /* OME SizeX, SizeY (0: not given) */
	int samples_per_channel; /* 3 for an RGB OME Image, else 1 */
	gboolean ome; /* from OME-XML, not from the directories */
} SpPlanes;

/* Reads @xml's Image number @series (0 first) into @planes; the file has
 * @n_pages main-chain directories. FALSE with @error (SP_ERROR_FORMAT:
 * bad XML or a plane outside the file; SP_ERROR_USAGE: no such series),
 * the message without the operator or file, for the caller to prefix. */
gboolean _sp_planes_from_ome(const char *xml, int series, int n_pages,
	SpPlanes *planes, GError **error);
void _sp_planes_clear(SpPlanes *planes);
/* A plane selection as load's c=, z=, t=, page= take it: N, A-B, A,B,…
 * and mixtures, or "all" (NULL too), each index < @size, into @out (int,
 * in the order given). FALSE with SP_ERROR_USAGE and a message saying
 * what is wrong with @text, without the argument's name. */
gboolean _sp_plane_selection_parse(const char *text, int size, GArray *out,
	GError **error);

/* src/util.c: the interpretation libvips savers expect of @bands bands of
 * @format: RGB16/GREY16 for 16-bit unsigned (pngsave writes 16 bits), else
 * sRGB or B_W. */
VipsInterpretation _sp_interpretation(int bands, VipsBandFormat format);
/* src/stripread.c: the libvips sample format of a TIFF's BitsPerSample
 * and SampleFormat (1-bit and palette come out as uchar from libvips). */
VipsBandFormat _sp_tiff_band_format(guint16 bps, guint16 sampleformat);
/* src/util.c: the values a sample of @format can hold (float: ±FLT_MAX). */
void _sp_format_range(VipsBandFormat format, double *lo, double *hi);

/* src/slidecache.c: a slide from the shared cache (a new reference). */
SpSlide *
_sp_slide_cache_open(SpSlideCache *cache, const char *path, GError **error);
/* How many graphs read @cache's slides at once (default 1): sizes the
 * readers they share. */
void _sp_slide_cache_set_pipelines(SpSlideCache *cache, int pipelines);

/* Expands a template word's {column}s: a new string, or NULL with @error. */
typedef char *(*SpExpandFunc)(const char *text, void *data, GError **error);

/* src/graph.c: sp_node_new_from_strings() on template words: each word's
 * role (NAME=VALUE, boolean flag, positional) is taken from the template
 * text, then its value is expanded by @expand (NULL: none). */
SpNode *_sp_node_new_from_template(SpGraph *graph, const char *op_name,
	SpNode *input, const char *const *words, SpExpandFunc expand,
	void *expand_data, GError **error);

/* src/pipeline.c: sp_pipeline_parse() on template words: steps are split
 * on the template's "!", then each step is built as above. */
SpNode *_sp_pipeline_parse_template(SpGraph *graph, const char *const *words,
	SpExpandFunc expand, void *expand_data, GError **error);
/* Checks a template's shape, without building anything: it must end in
 * a sink. SP_ERROR_USAGE. */
gboolean _sp_pipeline_check_template(const char *const *words, GError **error);

/* Argument setting, checked against the declaration (src/op.c): the
 * value of argument @name as text (the command line), or NAME, value
 * pairs as sp_node_new() takes them; one argument given twice is an
 * error (SP_ERROR_USAGE, as every error here). */
gboolean _sp_node_set_string(SpNode *node, const char *name, const char *text,
	GError **error);
gboolean _sp_node_set_valist(SpNode *node, GError **error, va_list ap);
/* Fills in the defaults of the arguments not given; fails on a required
 * one missing. */
gboolean _sp_node_finish_args(SpNode *node, GError **error);

/* For the typed entry points (sp_crop() …), which store their arguments
 * straight into the node's argument struct: begin makes a node of @op
 * on @input (NULL for a source); each setter checks its value against
 * the declaration of the argument stored at @field (a member of
 * node->args: a field that is no argument is a programming error),
 * stores it (strings copied) and marks it given; end sets the optional
 * arguments of @ap and plans the node when @ok, and frees it otherwise
 * (returning NULL). */
SpNode *_sp_node_begin(SpGraph *graph, const SpOpInfo *op, SpNode *input,
	GError **error);
gboolean
_sp_node_set_double(SpNode *node, double *field, double value, GError **error);
gboolean _sp_node_set_text(SpNode *node, char **field, const char *value,
	GError **error);
SpNode *_sp_node_end(SpNode *node, gboolean ok, GError **error, va_list ap);
/* The whole of a typed entry point whose one fixed argument is text:
 * begin, @text stored at @offset of the argument struct (from
 * G_STRUCT_OFFSET), end. */
SpNode *_sp_node_new_text(SpGraph *graph, const SpOpInfo *op, SpNode *input,
	glong offset, const char *text, GError **error, va_list ap);

/* Whether the argument stored at @field (a member of node->args) was
 * given, by the caller or the user (a default is not). */
gboolean _sp_node_given(SpNode *node, const void *field);
/* Frees node->args and the strings in it. */
void _sp_node_free_args(SpNode *node);

/* An operator's declaration that another file uses (tiles tells the
 * default mask, a threshold, from others); the table of all of them,
 * which declares each, is src/op.c's. */
extern const SpOpInfo _sp_op_threshold;

/* The argument struct another file reads: threshold's (the tissue mask
 * tiles reports). */
typedef struct {
	double value;
	char *method;
	char *channel;
	gboolean invert;
	SpLength block;
	double offset;
	char *mode;
} SpThresholdArgs;

/* ops/blur.c, for the operators that smooth (blur, threshold
 * method=local): @in (any bands, any format) convolved with a sampled
 * Gaussian of standard deviation @sigma pixels whose kernel reaches
 * _sp_gaussian_radius(@sigma) pixels each way, as
 * scipy.ndimage.gaussian_filter(truncate=4) samples it (libvips
 * gaussmat + convsep, float arithmetic). Float output (double for double
 * input), same size and bands; edges extended by copying (libvips').
 * A new reference, or NULL with @error naming @op and @path. */
VipsImage *_sp_gaussian(VipsImage *in, double sigma, const char *op,
	const char *path, GError **error);
/* round(4 σ): the half-width of that kernel, in pixels. */
int _sp_gaussian_radius(double sigma);

/* src/util.c: sp_init(NULL) unless it has run: every public entry point
 * that can be the first call (sp_graph_new, sp_slide_open,
 * sp_set_trusted_only, …) starts the library itself, once, thread-safely.
 * FALSE with @error when libvips cannot start. */
gboolean _sp_ensure_init(GError **error);

/* Sets a GError from the libvips error buffer (and clears it), prefixed
 * with the operator name. */
void _sp_set_vips_error(GError **error, const char *op, const char *what);

/* libvips' error buffer is one for the process: a running graph
 * (@owner) registers the files it reads and writes (sp_graph_run() does),
 * so that _sp_vips_error_take() leaves other graphs' lines for them; the
 * calling thread's lines are then @owner's too, until the remove.
 * _sp_vips_error_names_remove() forgets all of @owner's names and drops
 * the lines left for it. */
void _sp_vips_error_names_add(gconstpointer owner, const char *name);
void _sp_vips_error_names_remove(gconstpointer owner);
/* Takes the lines of libvips' error buffer that belong to the graphs
 * that registered @mine (a file path) or that the calling thread runs,
 * and the lines naming no registered file, joined into one line
 * (g_free it; "" when there were none), and clears them from the
 * buffer. */
char *_sp_vips_error_take(const char *mine);

/* A VipsImage of @slide's level @level (or associated image @associated if
 * non-NULL), RGB (RGBA flattened on white) or 1-band, of the file's
 * sample type (sp_slide_get_format()).
 * @read_width: the widest span, in the level's pixels, that the pipeline
 * will read (0: the whole level); sizes the tile cache. */
VipsImage *_sp_slide_load(SpSlide *slide, int level, const char *associated,
	int read_width, GError **error);
/* _sp_slide_load() of plane @plane (c + n_c × (z + n_z × t) of the file's
 * planes, sp_slide_get_planes()); plane 0 is what _sp_slide_load() reads. */
VipsImage *_sp_slide_load_plane(SpSlide *slide, int level, int plane,
	const char *associated, int read_width, GError **error);
/* Whether every plane has the slide's lower levels: they are SubIFDs of
 * each plane's directory (an OME-TIFF pyramid), or there are none.
 * Levels in the main chain are the first directory's only. */
gboolean _sp_slide_planes_have_levels(SpSlide *slide);
/* Whether the planner may read @node's chain from a lower level: its
 * source reads only the first plane, or every plane has the levels. */
gboolean _sp_chain_planes_have_levels(SpNode *node);
/* The slide's planes (owned by @slide). */
const SpPlanes *_sp_slide_get_planes(SpSlide *slide);

/* Levels whose reader a slide can share. */
#define SP_SHARED_LEVELS 64

/* From now on the pipelines reading @slide share one reader per level
 * (TIFF slides read by src/tiffread.c) instead of each opening its own:
 * handles and decoded tiles then outlive a row. @pipelines: how many
 * read at once, which sizes the shared tile cache. For the rows of a
 * batch, whose slides are shared through src/slidecache.c. */
void _sp_slide_share_readers(SpSlide *slide, int pipelines);

/* Lets go of @slide's shared readers (they stay shared: the next read
 * opens a new one). Pipelines still reading keep theirs until they end. */
void _sp_slide_drop_readers(SpSlide *slide);

/* The TIFF directory holding @level of @slide, or -1 when the slide is
 * not a TIFF libtiff can read level by level. */
int _sp_slide_tiff_page(SpSlide *slide, int level);

/* The layout of one TIFF directory, as libtiff reports it (defaults
 * filled in). */
typedef struct {
	gboolean tiled;
	guint32 width, height;
	guint32 tile_width, tile_height; /* 0 when striped */
	gint64 tile_size; /* decoded bytes of one tile */
	guint16 bps, spp, planar, sampleformat, compression, photometric;
} SpTiffLayout;

/* Reads directory @page of @filename; FALSE if it cannot be opened. */
gboolean _sp_tiff_layout(const char *filename, int page, SpTiffLayout *layout);

/* src/tiffread.c: TIFFOpen() with this handle's errors and warnings
 * silenced (slidepipe reports failures from return values). libtiff's
 * global handlers are libvips', which would leave the text in the libvips
 * error buffer, to surface in some later, unrelated error; swapping the
 * global handlers is not thread-safe. */
typedef struct tiff TIFF;
TIFF *_sp_tiff_open(const char *filename, const char *mode);

/* A new TIFF (BigTIFF when @bigtiff) for writing at @filename, created or
 * emptied without O_TRUNC; errors as _sp_tiff_open(). */
TIFF *_sp_tiff_create(const char *filename, gboolean bigtiff);

/* As _sp_tiff_layout(), on an open handle (which it moves to @page): one
 * open for many directories. */
gboolean _sp_tiff_layout_at(TIFF *tiff, int page, SpTiffLayout *layout);

/* The compressed bytes of tile @index of @tiff's current directory (page
 * @page of @path, for messages), read into *@buf, which is grown (g_malloc)
 * to *@cap bytes as needed and freed by the caller. Returns the byte
 * count, or -1 with @error: SP_ERROR_FAILED for a tile missing or over
 * 64 MB, SP_ERROR_IO when it cannot be read. */
gint64 _sp_tiff_read_raw_tile(TIFF *tiff, guint32 index, const char *path,
	int page, unsigned char **buf, gint64 *cap, GError **error);

/* src/stripread.c: an uncompressed striped directory, its rows read
 * straight from the file (pread) into each region; nothing buffered. */
/* The directory at file offset @offset (TIFFCurrentDirOffset()); NULL
 * without @error when it is not an uncompressed striped image of 8, 16 or
 * 32-bit samples (the caller reads it otherwise), NULL with @error
 * (SP_ERROR_IO) when the file cannot be opened. */
VipsImage *_sp_stripread_new(const char *path, guint64 offset,
	GError **error);
/* @in box-reduced by whole factors @kx × @ky, read and averaged by the
 * strip reader itself (each output row from its block of input rows,
 * rounded to nearest once), when @in is an image of
 * _sp_stripread_new() whose sides the factors divide (up to 64); else
 * NULL, and the caller reduces with libvips. */
VipsImage *_sp_stripread_shrink(VipsImage *in, int kx, int ky);

/* src/dicom.c: DICOM whole-slide images (a series of Part 10 files). */
typedef struct _SpDicom SpDicom;
/* "DICM" at byte 128 of @path. */
gboolean _sp_dicom_is_file(const char *path);
/* @path is a DICOM file, or a directory holding one. */
gboolean _sp_dicom_sniff(const char *path);
/* The series of @path (a file: its series among the files beside it; a
 * directory: the one series it holds): headers only. NULL with a
 * SP_ERROR_FORMAT error naming the file for what is not read. */
SpDicom *_sp_dicom_open(const char *path, GError **error);
SpDicom *_sp_dicom_ref(SpDicom *d);
void _sp_dicom_unref(SpDicom *d);
int _sp_dicom_level_count(SpDicom *d);
void _sp_dicom_level_size(SpDicom *d, int level, gint64 *width,
	gint64 *height, int *tile_w, int *tile_h);
int _sp_dicom_bands(SpDicom *d);
gboolean _sp_dicom_mpp(SpDicom *d, double *mpp_x, double *mpp_y);
/* NULL-terminated (g_strfreev): label, macro, thumbnail when present. */
char **_sp_dicom_associated_names(SpDicom *d);
GBytes *_sp_dicom_icc(SpDicom *d);
void _sp_dicom_foreach_property(SpDicom *d,
	void (*fn)(const char *name, const char *value, void *user_data),
	void *user_data);
/* The lazy image of a level or an associated image (uchar, 1 or 3
 * bands); its tile cache sized for reads @read_width pixels wide. */
VipsImage *_sp_dicom_load(SpDicom *d, int level, const char *associated,
	int read_width, GError **error);

/* One level's frames seen as a grid of JPEG tiles, for copying them
 * without decoding (save compression=copy|auto). Strings are the
 * SpDicom's. */
typedef struct {
	const char *path; /* the instance file holding them */
	gint64 width, height; /* the level, pixels */
	int tile; /* square tiles (Columns = Rows), pixels */
	int tiles_across, tiles_down;
	guint16 spp; /* 3 */
	guint16 photometric; /* as a TIFF would name the samples:
			      * PHOTOMETRIC_RGB (2) or PHOTOMETRIC_YCBCR (6) */
	guint16 ss_h, ss_v; /* the first frame's luma sampling factors */
} SpDicomTiles;
/* Fills @out when level @level's frames can be copied as JPEG tiles
 * (JPEG baseline, 3 samples, square tiles a multiple of 16 wide, a frame
 * for every tile); else FALSE and *@why (g_free) says why. Reads the
 * first frame's header. */
gboolean _sp_dicom_jpeg_tiles(SpDicom *d, int level, SpDicomTiles *out,
	char **why);
/* The byte range in the level's file (read with @fd, open on
 * SpDicomTiles.path) of the JPEG stream of tile (@tx, @ty): its one
 * fragment's value (a trailing pad byte included). FALSE with @error:
 * SP_ERROR_FAILED (no such tile), SP_ERROR_FORMAT (not one fragment, or
 * damaged). */
gboolean _sp_dicom_tile_range(SpDicom *d, int level, int fd, int tx, int ty,
	guint64 *offset, guint64 *length, GError **error);
/* Tile (@tx, @ty)'s JPEG stream read into *@buf, grown (g_malloc) to
 * *@cap bytes as needed and freed by the caller, as
 * _sp_tiff_read_raw_tile(): its byte count, or -1 with @error
 * (SP_ERROR_FAILED: missing, empty or over 64 MB; SP_ERROR_FORMAT; or
 * SP_ERROR_IO: cannot be read). */
gint64 _sp_dicom_read_tile(SpDicom *d, int level, int fd, int tx, int ty,
	unsigned char **buf, gint64 *cap, GError **error);

/* src/icc.c: lcms2's sRGB profile, serialised (a new reference), or NULL
 * when lcms2 cannot make it. */
GBytes *_sp_icc_srgb(void);

/* src/slide.c: a DICOM slide's series, or NULL. */
SpDicom *_sp_slide_get_dicom(SpSlide *slide);

/* src/tiffread.c: our own tiled-TIFF source operation. */
GType sp_tiffread_get_type(void);
gboolean _sp_tiffread_can_read(const char *filename, int page);
VipsImage *_sp_tiffread_new(const char *filename, int page, int cache_width,
	GError **error);
/* Makes the tile cache of @image (from _sp_tiffread_new(); anything
 * else is left alone) hold what @readers pipelines, each reading spans
 * up to @cache_width pixels wide, need at once. The cache only grows. */
void _sp_tiffread_fit_cache(VipsImage *image, int cache_width, int readers);

/* src/plan.c: fills node->read from the node's geometry and its input's
 * plan. */
void _sp_node_plan_read(SpNode *node);

/* Whether the chain up to @node may be read from another pyramid level:
 * only source, region, reduction and pointwise nodes stand in it (by
 * node->role). NULL when it may, else the name of the first node (from
 * @node back) that may not. */
const char *_sp_chain_unplannable(SpNode *node);

/* The first node of @node's chain: its source. */
SpNode *_sp_chain_source(SpNode *node);

/* The pyramid level to read for a wanted downsample (level-0 pixels per
 * output pixel, per axis): the one whose downsample is the largest not
 * above the finer axis's (OpenSlide's rule), so no axis is enlarged.
 * Every choice of a level for a downsample goes through here. */
int _sp_plan_level(SpSlide *slide, double downsample_x, double downsample_y);

/* Whether a reduction @factor is taken as a whole number (within 1e-6:
 * see src/plan.c). */
gboolean _sp_is_whole_factor(double factor);

/* The one remaining reduction: @in reduced by @rx × @ry (input pixels
 * per output pixel) to exactly @out_width × @out_height. Whole factors
 * average blocks (vips_shrink), others resample with Lanczos-3
 * (vips_resize); edges are extended to the planned size. A new
 * reference, or NULL with @error naming @op and @what. */
VipsImage *_sp_reduce(VipsImage *in, double rx, double ry, int out_width,
	int out_height, const char *op, const char *what, GError **error);

/* The lazy image of @node's region read from @level of its chain's
 * source, sub-pixel aligned, with the chain's pointwise operators applied
 * at that level, then reduced to @out_width × @out_height. Only for a
 * chain _sp_chain_unplannable() lets through: filters are not in it. */
VipsImage *_sp_chain_view(SpNode *node, int level, int out_width,
	int out_height, GError **error);

/* The same for the level-0 rectangle @x, @y, @w × @h (inside @node's
 * region) instead of @node's whole region. */
VipsImage *_sp_chain_view_region(SpNode *node, int level, double x, double y,
	double w, double h, int out_width, int out_height, GError **error);

/* The source's own pixels (no operator of the chain applied) over the
 * region @node covers, read from the level @node's pixels come from and
 * reduced to @node's size: pixel (i, j) is the same place as @node's
 * pixel (i, j). The intensity image of label. */
VipsImage *_sp_source_view(SpNode *node, GError **error);

/* src/graph.c: refuses @path, where sink @node writes (its argument
 * @arg), when it is a file the graph reads (a load's slide, an overlay's
 * CSV, a tiles mask file), or the directory entry one was read through:
 * the rename at the end would replace it while, or after, it is read.
 * SP_ERROR_USAGE naming the operator, the argument and both files. */
gboolean _sp_check_not_an_input(SpNode *node, const char *arg, const char *path,
	GError **error);

/* src/graph.c: removes @node, the graph's last node, from its graph and
 * frees it. */
void _sp_node_discard(SpNode *node);

/* A low-resolution view of the region @node covers, with the long side
 * at most @max_side pixels, read from the smallest pyramid level that
 * still has at least that resolution, with @node's pointwise operators
 * applied. Used for measurements (Otsu) that must not read level 0.
 * A chain with a filter in it (blur, morph …) cannot be read from
 * another level: its view is @node's own image, reduced, which computes
 * the filters at their level. *@level_out gets the level read. Returns
 * a new reference. */
VipsImage *_sp_node_low_res_view(SpNode *node, int max_side, int *level_out,
	GError **error);
/* The lowest and highest sample of @node's plane being built, on its
 * _sp_node_low_res_view() of at most @max_side px a side; @hi is made
 * @lo + 1 when they are equal. FALSE with @error naming @op. */
gboolean _sp_node_view_range(SpNode *node, int max_side, const char *op,
	double *lo, double *hi, GError **error);

/* Where a graph's outputs are created (src/util.c). A batch opens its
 * --out-dir once as an SpOutRoot and sets it on the graph of each row:
 * every output of that graph (save, tiles) is then resolved beneath it
 * through directory descriptors, relative paths from --out-dir; with
 * @confine, never through "..", an absolute path or a symbolic link. A
 * graph without a root writes where its paths say. @dir may not exist
 * yet (a dry run): then nothing is beneath it. */
SpOutRoot *_sp_out_root_new(const char *dir, gboolean confine, GError **error);
SpOutRoot *_sp_out_root_ref(SpOutRoot *root);
void _sp_out_root_unref(SpOutRoot *root);
void _sp_graph_set_out_root(SpGraph *graph, SpOutRoot *root);
/* @graph is one row of a batch (set by src/batch.c): its outputs' stale
 * temporaries are cleaned once per directory by its SpOutRoot, so a save
 * does not list its directory again for every row. */
void _sp_graph_set_batch_row(SpGraph *graph, gboolean batch_row);
/* lstat() of @path beneath @root (no link followed); FALSE if it is not
 * there. */
gboolean _sp_out_root_stat(SpOutRoot *root, const char *path, struct stat *st);
/* @path with ".", "" and "dir/.." components removed, lexically ("." for
 * nothing left; leading ".." kept). g_free(). */
char *_sp_path_normalize(const char *path);

/* Whether entry @name of directory @dirfd is an output that a new one of
 * the same kind may replace (save format=dicom: a series slidepipe
 * wrote). Not following links. */
typedef gboolean (*SpReplaceable)(int dirfd, const char *name);

/* Atomic output: a temporary file ".sp-XXXXXX.sp-tmp" in the directory
 * of @path (beneath @graph's root if it has one: missing directories are
 * made there), locked while it is written, renamed to @path by commit.
 * @graph may be NULL. A directory at @path is an SP_ERROR_IO error. */
typedef struct _SpAtomicFile SpAtomicFile;
SpAtomicFile *_sp_atomic_file_new(SpGraph *graph, const char *op,
	const char *path, GError **error);
/* As _sp_atomic_file_new(), and a directory at @path is fine when
 * @replaceable (a directory output's commit replaces it). */
SpAtomicFile *_sp_atomic_file_new_replacing(SpGraph *graph, const char *op,
	const char *path, SpReplaceable replaceable, GError **error);
/* The temporary file's path for libraries that open files by name
 * (through /proc/self/fd: the directory already resolved). */
const char *_sp_atomic_file_temp_path(SpAtomicFile *af);
/* Its descriptor, open for reading and writing. */
int _sp_atomic_file_fd(SpAtomicFile *af);
gboolean _sp_atomic_file_commit(SpAtomicFile *af, GError **error);
void _sp_atomic_file_abort(SpAtomicFile *af);
/* Whether output @path of @graph is free: nothing there, or what is there
 * is @replaceable. */
gboolean _sp_output_replaceable(SpGraph *graph, const char *op,
	const char *path, SpReplaceable replaceable);
/* For an output that is a directory of files (save format=dicom): the
 * caller makes a temporary directory in _sp_atomic_file_dirfd(), named
 * _sp_atomic_file_temp_name() + ".d" (so a dead writer's is cleaned up
 * like its files), writes into it, and commits: the directory is renamed
 * to @path and the temporary file removed. What is at @path already is
 * replaced in one step (renameat2 RENAME_EXCHANGE, then removed) when
 * @replaceable says so (checked before and after the exchange); anything
 * else there is an SP_ERROR_IO error, and left as it was. Abort removes
 * both. */
int _sp_atomic_file_dirfd(SpAtomicFile *af);
const char *_sp_atomic_file_temp_name(SpAtomicFile *af);
gboolean _sp_atomic_file_commit_dir(SpAtomicFile *af, const char *dir_name,
	SpReplaceable replaceable, GError **error);
void _sp_atomic_file_abort_dir(SpAtomicFile *af, const char *dir_name);
/* Writes @length bytes to @path atomically, in one call. */
gboolean _sp_atomic_file_write(SpGraph *graph, const char *op, const char *path,
	const void *data, size_t length, GError **error);
/* Removes the temporary files in the directory of @path whose process
 * died (SIGKILL, a crash, a power cut): those no process holds a lock
 * on. Saves in progress, in this process or another, are left alone. */
void _sp_remove_stale_temps(const char *path);
/* Replaces the temporary file's path, wherever it appears in @error's
 * message, by the output's @path: the user never asked for the former. */
void _sp_message_name_output(GError *error, const char *path);

/* The pyramid writer works through the image in vertical stripes about
 * this wide (level-0 pixels), so its memory, and the source tile cache's,
 * does not grow with the width of the image. */
#define SP_STRIPE_WIDTH 4096

/* src/aperio.c: the keys an svs output keeps of an Aperio ImageDescription
 * @desc (NULL: not an Aperio source), as "|key = value…": every
 * "key = value" field after the first '|' once (the first occurrence of
 * a name), MPP and AppMag replaced by @mpp and @mag (NULL: dropped; added
 * at the end when @desc has none), "ICC Profile" dropped unless
 * @keep_icc_name, junk fields (empty, no '=', no key) left out, control
 * characters as spaces. Reads at most SP_APERIO_MAX_DESCRIPTION bytes and
 * SP_APERIO_MAX_KEYS keys. *@source_header: @desc up to its first '|'
 * ('|' as spaces), or NULL without @desc. Total: any bytes give a result
 * (the fuzz target fuzz/aperio_fuzzer.c checks it). g_free() both. */
#define SP_APERIO_MAX_KEYS 1024
#define SP_APERIO_MAX_KEY 256
#define SP_APERIO_MAX_DESCRIPTION (1024 * 1024)
char *_sp_aperio_keys(const char *desc, const char *mpp, const char *mag,
	gboolean keep_icc_name, char **source_header);
/* Appends @len bytes of @p to @s, control characters as spaces. */
void _sp_append_flat(GString *s, const char *p, gsize len);

/* src/util.c: @text (leading and trailing white space allowed) as a
 * finite number in [@min, @max], with nothing else after it; FALSE (and
 * *@out untouched) otherwise. */
gboolean
_sp_parse_number(const char *text, double min, double max, double *out);

/* @d as metadata text (mpp, magnification): "%.10g", whatever the
 * locale. g_free(). */
char *_sp_format_double(double d);

/* The largest objective power slidepipe believes (a 4294967296× lens is
 * a damaged or hostile file). */
#define SP_MAX_OBJECTIVE_POWER 1000.0

/* src/slide.c: @slide's openslide.objective-power when it is a number in
 * (0, SP_MAX_OBJECTIVE_POWER], else 0 (unknown). */
double _sp_slide_objective_power(SpSlide *slide);

/* src/icc.c: @in (uchar RGB, tagged with nothing) converted from
 * @profile to sRGB by vips_icc_transform() (lcms2; relative
 * colorimetric, 8 bits), with no profile attached; 1-band images are
 * returned as they are. A new reference, or NULL with @error. */
VipsImage *_sp_icc_to_srgb(VipsImage *in, GBytes *profile, GError **error);

/* src/graph.c: tells the graph's progress callback how far a sink is
 * (0 … 100). */
void _sp_node_progress(SpNode *node, int percent);

/* src/util.c: what @path names as an output of @graph (beneath its
 * output root, when it has one): @dir, its parent directory (FALSE when
 * that does not exist yet or cannot be reached), and @file, the file
 * itself with symlinks followed, when *@has_file. No error: for
 * comparisons. */
gboolean _sp_output_lookup(SpGraph *graph, const char *path, struct stat *dir,
	struct stat *file, gboolean *has_file);

/* Checks that the directory of @path (beneath @graph's root, if it has
 * one: there, directories still to be made are fine) exists and is
 * writable, and that @path is not a directory. */
gboolean _sp_check_output_path(SpGraph *graph, const char *op, const char *path,
	GError **error);
/* As _sp_check_output_path(), and a directory at @path is fine when
 * @replaceable says so. */
gboolean _sp_check_output_path_replacing(SpGraph *graph, const char *op,
	const char *path, SpReplaceable replaceable, GError **error);

/* The number of pixels a ranged value may describe. */
#define SP_MAX_DIM (G_GINT64_CONSTANT(1) << 30)

/* src/csv.c: the CSV/TSV reader of batch manifests and overlay tables.
 * A byte order mark at the start is skipped; blank lines and lines
 * starting with '#' are skipped; the header is the first other line, and
 * a tab in it makes the file TSV; records follow RFC 4180 quoting, line
 * breaks inside quotes included. */
typedef struct _SpCsv SpCsv;
typedef enum {
	SP_CSV_OK,
	SP_CSV_END, /* no more records */
	SP_CSV_TOO_LONG, /* a record over SP_CSV_MAX_RECORD: not text */
	SP_CSV_READ_ERROR, /* _sp_csv_read_errno() */
	SP_CSV_NUL, /* a bad record (the next one can be read) … */
	SP_CSV_NOT_UTF8,
	SP_CSV_BAD_QUOTE
} SpCsvStatus;
#define SP_CSV_MAX_RECORD (4 << 20)
/* Reads @fd (not owned) in blocks, or @data (not copied: kept alive). */
SpCsv *_sp_csv_new(int fd);
SpCsv *_sp_csv_new_from_data(const char *data, gsize length);
void _sp_csv_free(SpCsv *csv);
/* Reads the header line; first, once. */
SpCsvStatus _sp_csv_read_header(SpCsv *csv);
/* The next record's fields (g_free'd strings, stripped) in *@fields, set
 * only with SP_CSV_OK. */
SpCsvStatus _sp_csv_next(SpCsv *csv, GPtrArray **fields);
/* "unterminated quote" … for a bad record's status, else NULL. */
const char *_sp_csv_status_text(SpCsvStatus status);
/* The line the last record (or header) started on, 1-based. */
guint64 _sp_csv_line(SpCsv *csv);
int _sp_csv_read_errno(SpCsv *csv);
GPtrArray *_sp_csv_header(SpCsv *csv);
/* @text as one CSV field (RFC 4180): quoted, with quotes doubled, when it
 * holds a comma, a quote or a line break. */
char *_sp_csv_quote(const char *text);
/* The column called @name (ASCII case ignored), or -1. */
int _sp_csv_column(SpCsv *csv, const char *name);
/* @fields' value in column @name, or NULL when it is missing or empty. */
const char *_sp_csv_field(SpCsv *csv, GPtrArray *fields, const char *name);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SpCsv, _sp_csv_free)

G_END_DECLS

/* src/annotations.c: the features of @a that match every criterion
 * given (@feature >= 0, @class_name, @name non-NULL; none: all), as a new
 * array of indices (g_free) of length *@n_selected; %NULL with a usage
 * error naming @op and the file when none matches. */
int *_sp_annotations_select(SpAnnotations *a, int feature,
	const char *class_name, const char *name, int *n_selected,
	const char *op, GError **error);
/* The annotations of @path for an operator @op on @slide: as read for
 * @units NULL or "px", divided by the slide's mpp for "um" (a usage
 * error when the slide has none); errors are prefixed with "@op: ".
 * Cached like sp_annotations_load(). */
SpAnnotations *_sp_annotations_load_in(const char *path, const char *units,
	SpSlide *slide, const char *op, GError **error);
/* A set of one feature: polygon @polygon of @a's @feature alone (its
 * properties kept); a usage error naming @op when there is no such
 * polygon. */
SpAnnotations *_sp_annotations_polygon(SpAnnotations *a, int feature,
	int polygon, const char *op, GError **error);
/* The bounding box of @features, level-0 px. */
void _sp_annotations_bounds(SpAnnotations *a, const int *features, int n,
	double *x0, double *y0, double *x1, double *y1);

/* Which of @features (indices into @a) contains level-0 point (x, y):
 * the first in file order, by the even-odd rule per polygon; -1 for
 * none. */
typedef struct _SpAnnotationLocator SpAnnotationLocator;
SpAnnotationLocator *_sp_annotation_locator_new(SpAnnotations *a,
	const int *features, int n);
void _sp_annotation_locator_free(SpAnnotationLocator *l);
int _sp_annotation_locate(SpAnnotationLocator *l, double x, double y);

#endif /* SP_PRIVATE_H */
