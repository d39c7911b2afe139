/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tiles: cut a region into a grid of patches, keep those with enough
 * tissue, and write one file per patch (or hand them to a C callback).
 *
 * The patches are read from the planned level (the level whose downsample
 * is the largest not above the patch resolution's), so a grid at level 1
 * or 0.5 mpp decodes only that level's tiles, and no level is ever held
 * whole: each worker thread prepares one patch-sized libvips region at a
 * time. The tissue mask is a small in-memory image (long side at most
 * MASK_MAX_SIDE pixels) read from a low pyramid level.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>


#include "sp-private.h"
#include "writer/writer.h"

static const char *const format_choices[] = { "png", "jpeg", "tiff", NULL };
static const char *const grid_choices[] = { "level", "level0", NULL };
static const char *const edge_choices[] = { "skip", "pad", NULL };

typedef struct {
	char *dir;
	int size;
	int stride;
	int level;
	double mpp;
	char *format;
	int Q;
	int compression;
	char *mask;
	double min_tissue;
	char *grid;
	char *edge;
	char *prefix;
	char *shard;
	char *annotations;
	char *class_name;
	char *units;
	double min_annotation;
} SpTilesArgs;

static const char *const units_choices[] = { "px", "um", NULL };

static const SpArgInfo tiles_args[] = {
	{ "dir", SP_ARG_PATH, NULL, NULL, 0, 0, NULL, 0, TRUE,
		"output directory (made if missing); it gets one file per kept "
		"patch and tiles.csv listing them",
		SP_ARG_FIELD(SpTilesArgs, dir) },
	{ "size", SP_ARG_INT, "px", "224", 1, 16384, NULL, -1, FALSE,
		"patch width and height, in pixels of the patch resolution",
		SP_ARG_FIELD(SpTilesArgs, size) },
	{ "stride", SP_ARG_INT, "px", NULL, 1, 16384, NULL, -1, FALSE,
		"step between patch origins, in pixels of the patch resolution "
		"(default: size, patches side by side)",
		SP_ARG_FIELD(SpTilesArgs, stride) },
	{ "level", SP_ARG_INT, NULL, NULL, 0, 63, NULL, -1, FALSE,
		"patch resolution: this pyramid level's (default: the input's)",
		SP_ARG_FIELD(SpTilesArgs, level) },
	{ "mpp", SP_ARG_DOUBLE, "µm per pixel", NULL, 1e-6, 1e6, NULL, -1,
		FALSE,
		"patch resolution as a pixel size (needs the slide's mpp); read "
		"from the nearest finer level and reduced",
		SP_ARG_FIELD(SpTilesArgs, mpp) },
	{ "format", SP_ARG_CHOICE, NULL, "png", 0, 0, format_choices, -1, FALSE,
		"patch file format", SP_ARG_FIELD(SpTilesArgs, format) },
	{ "Q", SP_ARG_INT, NULL, "90", 1, 100, NULL, -1, FALSE,
		"JPEG quality; at 90 and above chroma is kept at full resolution",
		SP_ARG_FIELD(SpTilesArgs, Q) },
	{ "compression", SP_ARG_INT, NULL, "1", 0, 12, NULL, -1, FALSE,
		"PNG deflate level, 0 (stored) … 12 (libdeflate's levels; 1 "
		"gives files within ~10 % of zlib level 6's on H&E at ~4× "
		"its speed, 6 and above match or beat zlib's size)",
		SP_ARG_FIELD(SpTilesArgs, compression) },
	{ "mask", SP_ARG_STRING, NULL, NULL, 0, 0, NULL, -1, FALSE,
		"tissue mask: an image file (nonzero = tissue, any resolution, "
		"stretched over the whole slide) or a pipeline giving a 1-band "
		"image, such as 'load S.svs ! threshold channel=gray invert'",
		SP_ARG_FIELD(SpTilesArgs, mask) },
	{ "min-tissue", SP_ARG_DOUBLE, "fraction", NULL, 0, 1, NULL, -1, FALSE,
		"keep patches whose area is at least this fraction tissue "
		"(default: 0.5 with mask=, else every patch is kept); without "
		"mask= the mask is 'threshold method=otsu channel=saturation' "
		"read from a low level",
		SP_ARG_FIELD(SpTilesArgs, min_tissue) },
	{ "grid", SP_ARG_CHOICE, NULL, "level", 0, 0, grid_choices, -1, FALSE,
		"level: the grid starts at the region's top-left corner; level0: "
		"patch origins are multiples of stride × downsample level-0 "
		"pixels from the slide's origin, so grids of different regions "
		"of a slide line up",
		SP_ARG_FIELD(SpTilesArgs, grid) },
	{ "edge", SP_ARG_CHOICE, NULL, "skip", 0, 0, edge_choices, -1, FALSE,
		"patches that would run past the region: skip them, or pad them "
		"with white (0 for 1-band images)",
		SP_ARG_FIELD(SpTilesArgs, edge) },
	{ "prefix", SP_ARG_STRING, NULL, NULL, 0, 0, NULL, -1, FALSE,
		"file name prefix (default: the slide's file name without its "
		"extension, and '_')",
		SP_ARG_FIELD(SpTilesArgs, prefix) },
	{ "shard", SP_ARG_STRING, "K/N", NULL, 0, 0, NULL, -1, FALSE,
		"cut only the K-th of N equal shares of the kept patches "
		"(1-based; shares are consecutive runs in reading order, so "
		"N processes given 1/N … N/N cut every kept patch exactly "
		"once); every share computes the same mask",
		SP_ARG_FIELD(SpTilesArgs, shard) },
	{ "annotations", SP_ARG_PATH, NULL, NULL, 0, 0, NULL, -1, FALSE,
		"keep only patches that annotation polygons (GeoJSON, QuPath's "
		"export, level-0 pixels) cover by at least min-annotation, on "
		"top of the tissue mask's test (both must hold); tiles.csv "
		"gets the annotation coverage and the class at each patch's "
		"centre. mask=FILE.geojson instead makes the polygons the only "
		"test, with min-tissue as its threshold",
		SP_ARG_FIELD(SpTilesArgs, annotations) },
	{ "class", SP_ARG_STRING, NULL, NULL, 0, 0, NULL, -1, FALSE,
		"with annotations= or mask=FILE.geojson: only the polygons of "
		"this class (properties.classification.name)",
		SP_ARG_FIELD(SpTilesArgs, class_name) },
	{ "units", SP_ARG_CHOICE, NULL, "px", 0, 0, units_choices, -1, FALSE,
		"units of the GeoJSON's coordinates: level-0 pixels, or "
		"micrometres (divided by the slide's mpp)",
		SP_ARG_FIELD(SpTilesArgs, units) },
	{ "min-annotation", SP_ARG_DOUBLE, "fraction", "0.5", 0, 1, NULL, -1,
		FALSE,
		"with annotations=: the share of a patch's area the polygons "
		"must cover",
		SP_ARG_FIELD(SpTilesArgs, min_annotation) },
};

/* The mask's long side, in pixels: enough for a patch to cover ~16 × 16
 * mask pixels, but never more than this. */
#define MASK_MAX_SIDE 4096
#define MASK_MIN_SIDE 512
/* The grid's size limit, in patches */
#define MAX_PATCHES 100000000

typedef enum {
	PATCH_PNG,
	PATCH_JPEG,
	PATCH_TIFF,
} PatchFormat;

/* One kept patch: its grid column and row, its tissue fraction and,
 * with annotations, their coverage and the feature at its centre. */
typedef struct {
	int col, row;
	float tissue;
	float annotation;
	int feature;
} Patch;

typedef struct {
	/* the patch resolution */
	double ds_x, ds_y; /* level-0 pixels per patch pixel */
	double mpp_x, mpp_y; /* 0 when unknown */
	int level; /* the level read */
	gboolean direct; /* use the input image, not a planned view */
	/* the patch plane: a view of level-0 [ox, ox + width·ds_x) × … */
	double ox, oy;
	int width, height;
	int size, stride;
	int cols, rows;
	PatchFormat format;
	SpNode *mask_node; /* a pipeline mask, or the default one */
	char *mask_file; /* or an image file */
	double min_tissue; /* < 0: keep every patch */
	char *prefix;
	int shard_k, shard_n; /* shard=K/N; 1/1 without it */
	/* annotations= or mask=FILE.geojson */
	SpAnnotations *annotations;
	int *features; /* the selected ones */
	int n_features;
	gboolean annotations_only; /* mask=FILE.geojson: no tissue test */
	double min_annotation;
	/* sp_tiles_foreach() */
	SpPatchFunc func;
	void *func_data;
} TilesState;

static void
tiles_state_free(void *data)
{
	TilesState *state = data;

	g_free(state->mask_file);
	g_free(state->prefix);
	sp_annotations_unref(state->annotations);
	g_free(state->features);
	g_free(state);
}

static gboolean
plan_resolution(SpNode *node, TilesState *state, GError **error)
{
	const SpGeometry *in = &node->input->geom;
	SpSlide *slide = node->slide;
	const SpTilesArgs *args = node->args;
	gboolean has_level = _sp_node_given(node, &args->level);
	gboolean has_mpp = _sp_node_given(node, &args->mpp);
	gboolean associated = _sp_chain_source(node)->source_associated != NULL;
	const char *path = slide ? sp_slide_get_path(slide) : "?";

	if (has_level && has_mpp) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"tiles: give level=N or mpp=M, not both");
		return FALSE;
	}
	if ((has_level || has_mpp) && associated) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"tiles: %s= needs a slide level as input, not an associated "
			"image",
			has_level ? "level" : "mpp");
		return FALSE;
	}
	state->ds_x = in->downsample_x;
	state->ds_y = in->downsample_y;
	if (has_level) {
		int level = args->level;
		int n = sp_slide_get_level_count(slide);

		if (level >= n) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"tiles: argument 'level': '%s' has no level %d (levels 0 … "
				"%d)",
				path, level, n - 1);
			return FALSE;
		}
		const SpLevel *l0 = sp_slide_get_level(slide, 0);
		const SpLevel *l = sp_slide_get_level(slide, level);
		state->ds_x = (double) l0->width / l->width;
		state->ds_y = (double) l0->height / l->height;
	} else if (has_mpp) {
		double mpp = args->mpp;

		if (in->mpp_x <= 0 || in->mpp_y <= 0) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"tiles: mpp=%g needs the slide's pixel size, and '%s' "
				"records none; give level=N instead",
				mpp, path);
			return FALSE;
		}
		state->ds_x = mpp / (in->mpp_x / in->downsample_x);
		state->ds_y = mpp / (in->mpp_y / in->downsample_y);
		/* 2.0000001 from µm arithmetic is 2 */
		if (fabs(state->ds_x - floor(state->ds_x + 0.5)) < 1e-6)
			state->ds_x = floor(state->ds_x + 0.5);
		if (fabs(state->ds_y - floor(state->ds_y + 0.5)) < 1e-6)
			state->ds_y = floor(state->ds_y + 0.5);
	}
	if (state->ds_x < in->downsample_x * (1 - 1e-6) ||
		state->ds_y < in->downsample_y * (1 - 1e-6)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"tiles: %s asks for downsample %g, finer than the input's %g; "
			"tiles cannot enlarge",
			has_level ? "level" : "mpp", state->ds_x,
			in->downsample_x);
		return FALSE;
	}
	state->mpp_x = in->mpp_x > 0 ?
		in->mpp_x / in->downsample_x * state->ds_x :
		0;
	state->mpp_y = in->mpp_y > 0 ?
		in->mpp_y / in->downsample_y * state->ds_y :
		0;

	/* the level read: the planner's choice, unless told to be exact */
	const char *blocker = _sp_chain_unplannable(node->input);
	gboolean same = fabs(state->ds_x - in->downsample_x) <
			1e-9 * in->downsample_x &&
		fabs(state->ds_y - in->downsample_y) < 1e-9 * in->downsample_y;
	if (blocker && !same) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"tiles: level=/mpp= cannot be read through '%s'; put a "
			"downsample before it instead",
			blocker);
		return FALSE;
	}
	state->direct = blocker != NULL;
	if (associated || blocker)
		state->level = node->input->read.level;
	else if (node->graph->exact)
		state->level = node->input->read.level;
	else
		state->level = _sp_plan_level(slide, state->ds_x, state->ds_y);
	return TRUE;
}

static gboolean
plan_grid(SpNode *node, TilesState *state, GError **error)
{
	const SpGeometry *in = &node->input->geom;
	const SpTilesArgs *args = node->args;
	gboolean pad = strcmp(args->edge, "pad") == 0;

	state->size = args->size;
	state->stride = _sp_node_given(node, &args->stride) ? args->stride :
							      state->size;
	state->ox = in->x;
	state->oy = in->y;
	if (strcmp(args->grid, "level0") == 0) {
		double step_x = state->stride * state->ds_x;
		double step_y = state->stride * state->ds_y;

		state->ox = ceil(in->x / step_x - 1e-9) * step_x;
		state->oy = ceil(in->y / step_y - 1e-9) * step_y;
	}
	state->width = (int) floor(
		(in->x + in->w - state->ox) / state->ds_x + 1e-6);
	state->height = (int) floor(
		(in->y + in->h - state->oy) / state->ds_y + 1e-6);
	state->width = MAX(0, state->width);
	state->height = MAX(0, state->height);

	int span_w = state->width - state->size;
	int span_h = state->height - state->size;
	if (pad) {
		state->cols = state->width > 0 ?
			MAX(0, (span_w + state->stride - 1) / state->stride) +
				1 :
			0;
		state->rows = state->height > 0 ?
			MAX(0, (span_h + state->stride - 1) / state->stride) +
				1 :
			0;
		if (span_w < 0 && state->width > 0)
			state->cols = 1;
		if (span_h < 0 && state->height > 0)
			state->rows = 1;
	} else {
		state->cols = span_w >= 0 ? span_w / state->stride + 1 : 0;
		state->rows = span_h >= 0 ? span_h / state->stride + 1 : 0;
	}
	if ((gint64) state->cols * state->rows > MAX_PATCHES) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"tiles: a %d × %d grid is more than %d patches; use a larger "
			"size or stride, or a lower level",
			state->cols, state->rows, MAX_PATCHES);
		return FALSE;
	}
	return TRUE;
}

static gboolean
plan_mask(SpNode *node, TilesState *state, GError **error)
{
	const SpTilesArgs *args = node->args;
	const char *mask = args->mask;
	const char *geojson = args->annotations;

	if (mask && (g_str_has_suffix(mask, ".geojson") ||
			    g_str_has_suffix(mask, ".json") ||
			    g_str_has_suffix(mask, ".GEOJSON") ||
			    g_str_has_suffix(mask, ".JSON"))) {
		if (geojson) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"tiles: give annotations= or mask=FILE.geojson, "
				"not both");
			return FALSE;
		}
		geojson = mask;
		mask = NULL;
		state->annotations_only = TRUE;
	}
	if (args->class_name && !geojson) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"tiles: argument 'class' applies with annotations= or "
			"mask=FILE.geojson only");
		return FALSE;
	}
	if (geojson) {
		if (!(state->annotations = _sp_annotations_load_in(geojson,
			      args->units, node->slide, "tiles", error)))
			return FALSE;
		if (!(state->features = _sp_annotations_select(
			      state->annotations, -1, args->class_name, NULL,
			      &state->n_features, "tiles", error)))
			return FALSE;
		state->min_annotation = state->annotations_only ?
			(_sp_node_given(node, &args->min_tissue) ?
					args->min_tissue :
					0.5) :
			args->min_annotation;
		if (state->annotations_only) {
			/* the polygons are the only test */
			state->min_tissue = -1;
			return TRUE;
		}
	}

	state->min_tissue = _sp_node_given(node, &args->min_tissue) ?
		args->min_tissue :
		mask ? 0.5 :
		       -1;
	if (!mask) {
		if (state->min_tissue < 0)
			return TRUE;
		/* the default: Otsu on saturation, planned on a low level */
		SpNode *t = sp_threshold(node->input, error, "channel",
			"saturation", NULL);
		if (!t)
			return FALSE;
		state->mask_node = t;
		return TRUE;
	}
	if (g_file_test(mask, G_FILE_TEST_IS_REGULAR)) {
		state->mask_file = g_strdup(mask);
		return TRUE;
	}

	g_auto(GStrv) words = NULL;
	if (!g_shell_parse_argv(mask, NULL, &words, NULL) || !words[0] ||
		!sp_op_lookup(words[0])) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"tiles: argument 'mask': '%s' is neither an existing file nor a "
			"pipeline (such as 'load SLIDE ! threshold')",
			mask);
		return FALSE;
	}
	GError *local = NULL;
	SpNode *m = sp_pipeline_parse(node->graph, (const char *const *) words,
		&local);
	if (!m) {
		g_set_error(error, SP_ERROR, local->code,
			"tiles: argument 'mask': %s", local->message);
		g_error_free(local);
		return FALSE;
	}
	if (m->op->kind == SP_OP_SINK) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"tiles: argument 'mask': the pipeline must end with an image, "
			"not with '%s'",
			m->op->name);
		return FALSE;
	}
	if (m->geom.bands != 1) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"tiles: argument 'mask': the pipeline gives %d-band pixels; end "
			"it with threshold to make a 1-band mask",
			m->geom.bands);
		return FALSE;
	}
	state->mask_node = m;
	return TRUE;
}

static gboolean
tiles_plan(SpNode *node, GError **error)
{
	TilesState *state = g_new0(TilesState, 1);
	const SpTilesArgs *args = node->args;
	const char *dir = args->dir;
	const char *format = args->format;

	node->priv = state;
	state->format = strcmp(format, "jpeg") == 0 ? PATCH_JPEG :
		strcmp(format, "tiff") == 0         ? PATCH_TIFF :
						      PATCH_PNG;
	if (_sp_node_given(node, &args->Q) && state->format != PATCH_JPEG) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"tiles: argument 'Q' applies to format=jpeg only");
		return FALSE;
	}
	if (_sp_node_given(node, &args->compression) &&
		state->format != PATCH_PNG) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"tiles: argument 'compression' applies to format=png only");
		return FALSE;
	}
	state->shard_k = state->shard_n = 1;
	if (args->shard) {
		int k, n;
		char tail;

		if (sscanf(args->shard, "%d/%d%c", &k, &n, &tail) != 2 ||
			n < 1 || k < 1 || k > n) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"tiles: argument 'shard': '%s' is not K/N with "
				"1 <= K <= N",
				args->shard);
			return FALSE;
		}
		state->shard_k = k;
		state->shard_n = n;
	}
	if (!plan_resolution(node, state, error) ||
		!plan_grid(node, state, error) ||
		!plan_mask(node, state, error))
		return FALSE;

	if (args->prefix)
		state->prefix = g_strdup(args->prefix);
	else {
		g_autofree char *base = g_path_get_basename(
			node->slide ? sp_slide_get_path(node->slide) : "patch");
		char *dot = strrchr(base, '.');

		if (dot && dot != base)
			*dot = '\0';
		state->prefix = g_strdup_printf("%s_", base);
	}
	if (strchr(state->prefix, G_DIR_SEPARATOR)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"tiles: argument 'prefix': '%s' holds a '/'",
			state->prefix);
		return FALSE;
	}

	char mpp[64] = "";
	if (state->mpp_x > 0)
		g_snprintf(mpp, sizeof(mpp), ", %.4g µm per pixel",
			state->mpp_x);
	g_autofree char *keep = state->annotations &&
			(state->annotations_only || state->min_tissue < 0) ?
		g_strdup_printf("kept where %d annotation feature%s cover >= "
				"%g of the patch",
			state->n_features, state->n_features == 1 ? "" : "s",
			state->min_annotation) :
		state->min_tissue < 0 ?
		g_strdup("every patch kept") :
		g_strdup_printf("kept where tissue >= %g of the patch, by %s",
			state->min_tissue,
			state->mask_file   ? "the mask file" :
				args->mask ? "the mask pipeline" :
					     "Otsu on saturation at a low "
					     "level");
	if (state->annotations && !state->annotations_only &&
		state->min_tissue >= 0) {
		char *both = g_strdup_printf("%s, and where %d annotation "
					     "feature%s cover >= %g",
			keep, state->n_features,
			state->n_features == 1 ? "" : "s",
			state->min_annotation);
		g_free(keep);
		keep = both;
	}
	node->report = g_strdup_printf("tiles: plan: a %d × %d grid of %d × %d "
				       "patches (stride %d) at downsample %g%s, "
				       "read from level %d; %s",
		state->cols, state->rows, state->size, state->size,
		state->stride, state->ds_x, mpp, state->level, keep);

	/* a batch's row: beneath its --out-dir, directories made as needed */
	if (node->graph->out_root) {
		g_autofree char *probe = g_build_filename(dir, "tiles.csv",
			NULL);
		return _sp_check_output_path(node->graph, "tiles", probe,
			error);
	}
	/* the directory: made at run time, so its parent must be writable */
	if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
		g_autofree char *parent = g_path_get_dirname(dir);

		if (g_file_test(dir, G_FILE_TEST_EXISTS)) {
			g_set_error(error, SP_ERROR, SP_ERROR_IO,
				"tiles: cannot write to '%s': it is not a directory",
				dir);
			return FALSE;
		}
		if (!g_file_test(parent, G_FILE_TEST_IS_DIR)) {
			g_set_error(error, SP_ERROR, SP_ERROR_IO,
				"tiles: cannot make '%s': '%s' is not a directory",
				dir, parent);
			return FALSE;
		}
	} else {
		g_autofree char *probe = g_build_filename(dir, "tiles.csv",
			NULL);
		if (!_sp_check_output_path(node->graph, "tiles", probe, error))
			return FALSE;
	}
	return TRUE;
}

/* ------------------------------------------------------------------ */
/* The tissue mask                                                      */

typedef struct {
	guint8 *pixels; /* width × height, 0 … 255 tissue coverage */
	int width, height;
	/* the level-0 rectangle the mask covers */
	double x, y, w, h;
} Mask;

static gboolean
mask_from_image(Mask *mask, VipsImage *image, const char *what, GError **error)
{
	size_t size;

	if (!(mask->pixels = vips_image_write_to_memory(image, &size))) {
		_sp_set_vips_error(error, "tiles", what);
		return FALSE;
	}
	mask->width = image->Xsize;
	mask->height = image->Ysize;
	return TRUE;
}

static int
mask_side(const TilesState *state, double long_side_level0)
{
	/* a patch covers about 16 mask pixels across */
	double patch = state->size * MAX(state->ds_x, state->ds_y);
	int side = (int) ceil(long_side_level0 / (patch / 16));

	return CLAMP(side, MASK_MIN_SIDE, MASK_MAX_SIDE);
}

static gboolean
build_mask_file(SpNode *node, TilesState *state, Mask *mask, GError **error)
{
	const char *path = state->mask_file;
	VipsImage *image, *t;
	char *mask_why;
	const SpLevel *l0 = sp_slide_get_level(node->slide, 0);

#define MASK_FAIL() \
	do { \
		g_object_unref(image); \
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT, \
			"tiles: argument 'mask': '%s': %s", path, \
			mask_why = _sp_vips_error_take(path)); \
		g_free(mask_why); \
		return FALSE; \
	} while (0)

	if (!(image = vips_image_new_from_file(path, "access",
		      VIPS_ACCESS_SEQUENTIAL, NULL))) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"tiles: argument 'mask': cannot read '%s': %s", path,
			mask_why = _sp_vips_error_take(path));
		g_free(mask_why);
		return FALSE;
	}
	/* grey (with or without alpha): its first band; colour: luminance */
	if (image->Bands >= 3) {
		if (vips_colourspace(image, &t, VIPS_INTERPRETATION_B_W, NULL))
			MASK_FAIL();
		g_object_unref(image);
		image = t;
	}
	if (image->Bands > 1) {
		if (vips_extract_band(image, &t, 0, NULL))
			MASK_FAIL();
		g_object_unref(image);
		image = t;
	}
	/* nonzero is tissue */
	if (vips_more_const1(image, &t, 0, NULL))
		MASK_FAIL();
	g_object_unref(image);
	image = t;
	int side = MAX(image->Xsize, image->Ysize);
	int shrink = (side + MASK_MAX_SIDE - 1) / MASK_MAX_SIDE;
	if (shrink > 1) {
		/* box means keep the coverage fraction */
		if (vips_shrink(image, &t, shrink, shrink, NULL))
			MASK_FAIL();
		g_object_unref(image);
		image = t;
	}
	mask->x = 0;
	mask->y = 0;
	mask->w = l0->width;
	mask->h = l0->height;
	gboolean ok = mask_from_image(mask, image, path, error);
	g_object_unref(image);
	node->report = g_strdup_printf("tiles: tissue mask from '%s' (%d × %d, "
				       "stretched over the slide)",
		path, mask->width, mask->height);
	return ok;
#undef MASK_FAIL
}

static gboolean
build_mask_pipeline(SpNode *node, TilesState *state, Mask *mask, GError **error)
{
	SpNode *m = state->mask_node;
	const SpGeometry *g = &m->geom;
	int level;
	VipsImage *view;

	if (!(view = _sp_node_low_res_view(m, mask_side(state, MAX(g->w, g->h)),
		      &level, error)))
		return FALSE;
	/* a mask of another file covers this slide whole, stretched */
	if (m->slide && node->slide &&
		strcmp(sp_slide_get_path(m->slide),
			sp_slide_get_path(node->slide)) != 0) {
		const SpLevel *l0 = sp_slide_get_level(node->slide, 0);
		mask->x = 0;
		mask->y = 0;
		mask->w = l0->width;
		mask->h = l0->height;
	} else {
		mask->x = g->x;
		mask->y = g->y;
		mask->w = g->w;
		mask->h = g->h;
	}
	gboolean ok = mask_from_image(mask, view,
		m->slide ? sp_slide_get_path(m->slide) : "mask", error);
	double t;
	if (ok && m->op == &_sp_op_threshold &&
		!vips_image_get_double(view, "slidepipe-threshold", &t))
		node->report =
			g_strdup_printf("tiles: tissue mask: Otsu threshold "
					"%g on %s, %d × %d read at level %d",
				t, ((SpThresholdArgs *) m->args)->channel,
				view->Xsize, view->Ysize, level);
	else if (ok)
		node->report =
			g_strdup_printf("tiles: tissue mask %d × %d, read at "
					"level %d",
				view->Xsize, view->Ysize, level);
	g_free(_sp_vips_error_take(NULL));
	g_object_unref(view);
	return ok;
}

/* The annotations' coverage over the tiles' region, 0 … 255 per mask
 * pixel: rasterised at 4 × the mask's resolution and box-reduced, so a
 * mask pixel holds the share of its 16 sub-pixel centres inside. */
#define ANNOTATION_SUPERSAMPLE 4

static gboolean
build_mask_annotations(SpNode *node, TilesState *state, Mask *mask,
	GError **error)
{
	const SpGeometry *g = &node->input->geom;
	const int k = ANNOTATION_SUPERSAMPLE;
	int side = mask_side(state, MAX(g->w, g->h));
	double ds = MAX(g->w, g->h) / side;
	int width = MAX(1, (int) ceil(g->w / ds - 1e-9));
	int height = MAX(1, (int) ceil(g->h / ds - 1e-9));
	VipsImage *fine, *coarse;

	if (!(fine = sp_annotations_mask(state->annotations, state->features,
		      state->n_features, g->x, g->y, ds / k, ds / k, width * k,
		      height * k, error))) {
		g_prefix_error(error, "tiles: ");
		return FALSE;
	}
	if (vips_shrink(fine, &coarse, k, k, NULL)) {
		g_object_unref(fine);
		_sp_set_vips_error(error, "tiles",
			sp_annotations_get_path(state->annotations));
		return FALSE;
	}
	g_object_unref(fine);
	mask->x = g->x;
	mask->y = g->y;
	mask->w = width * ds;
	mask->h = height * ds;
	gboolean ok = mask_from_image(mask, coarse,
		sp_annotations_get_path(state->annotations), error);
	g_object_unref(coarse);
	return ok;
}

/* The fraction of level-0 rectangle [x0, x1) × [y0, y1) that is tissue:
 * mask pixels are weighted by the area of them inside the rectangle, and
 * what lies outside the mask counts as glass. */
static double
tissue_fraction(const Mask *mask, double x0, double y0, double x1, double y1)
{
	double sx = mask->width / mask->w, sy = mask->height / mask->h;
	double u0 = (x0 - mask->x) * sx, u1 = (x1 - mask->x) * sx;
	double v0 = (y0 - mask->y) * sy, v1 = (y1 - mask->y) * sy;
	double area = (u1 - u0) * (v1 - v0), sum = 0;

	if (area <= 0)
		return 0;
	int ua = MAX(0, (int) floor(u0)), ub = MIN(mask->width, (int) ceil(u1));
	int va = MAX(0, (int) floor(v0)),
	    vb = MIN(mask->height, (int) ceil(v1));
	for (int v = va; v < vb; v++) {
		double wy = MIN(v1, v + 1.0) - MAX(v0, (double) v);
		const guint8 *row = mask->pixels + (size_t) v * mask->width;
		double row_sum = 0;

		for (int u = ua; u < ub; u++) {
			double wx = MIN(u1, u + 1.0) - MAX(u0, (double) u);
			row_sum += row[u] * wx;
		}
		sum += row_sum * wy;
	}
	return sum / 255.0 / area;
}

/* ------------------------------------------------------------------ */
/* Running                                                              */

typedef struct {
	SpNode *node;
	TilesState *state;
	VipsImage *view;
	const char *dir;
	GArray *patches; /* Patch, in reading order */
	int bands;
	int pad_value; /* byte the padding is filled with */
	int sample_bytes; /* of the view's band format */
	SpWriteOptions write; /* how patch files are encoded */

	gint next; /* atomic: the next patch to take */
	gint done; /* atomic */
	gint failed; /* atomic */
	GMutex lock;
	GError *error; /* the first failure */
	guint64 bytes;
} Run;

static void
run_fail(Run *run, GError *error)
{
	g_mutex_lock(&run->lock);
	if (!run->error)
		run->error = error;
	else
		g_error_free(error);
	g_mutex_unlock(&run->lock);
	g_atomic_int_set(&run->failed, 1);
}

/* Level-0 origin of patch @p. */
static void
patch_origin(const TilesState *state, const Patch *p, double *x, double *y)
{
	*x = state->ox + (double) p->col * state->stride * state->ds_x;
	*y = state->oy + (double) p->row * state->stride * state->ds_y;
}

static char *
patch_name(const TilesState *state, const Patch *p)
{
	static const char *const ext[] = { "png", "jpg", "tif" };
	double x, y;

	patch_origin(state, p, &x, &y);
	return g_strdup_printf("%sx%" G_GINT64_FORMAT "_y%" G_GINT64_FORMAT
			       ".%s",
		state->prefix, (gint64) floor(x + 0.5), (gint64) floor(y + 0.5),
		ext[state->format]);
}

/* Through the graph's output root when a batch set one. */
static gboolean
write_file(SpGraph *graph, const char *path, const void *data, size_t length,
	GError **error)
{
	return _sp_atomic_file_write(graph, "tiles", path, data, length, error);
}

static GMutex callback_lock;

static gpointer
worker(gpointer data)
{
	Run *run = data;
	TilesState *state = run->state;
	int size = state->size, bands = run->bands;
	/* bytes per pixel: the samples of the view's type */
	int pixel = bands * run->sample_bytes;
	VipsRegion *region = vips_region_new(run->view);
	guint8 *pixels = g_malloc((size_t) size * size * pixel);
	GByteArray *out = g_byte_array_new();
	SpPatchEncoder *encoder = !state->func ?
		_sp_patch_encoder_new(&run->write) :
		NULL;
	VipsRect bounds = { 0, 0, run->view->Xsize, run->view->Ysize };

	for (;;) {
		int k = g_atomic_int_add(&run->next, 1);
		GError *error = NULL;

		if (k >= (int) run->patches->len ||
			g_atomic_int_get(&run->failed))
			break;
		const Patch *p = &g_array_index(run->patches, Patch, k);
		VipsRect want = { p->col * state->stride,
			p->row * state->stride, size, size };
		VipsRect clip;
		double x0, y0;

		patch_origin(state, p, &x0, &y0);
		vips_rect_intersectrect(&want, &bounds, &clip);
		if (clip.width < size || clip.height < size)
			memset(pixels, run->pad_value,
				(size_t) size * size * pixel);
		if (!vips_rect_isempty(&clip)) {
			if (vips_region_prepare(region, &clip)) {
				g_autofree char *what =
					g_strdup_printf("patch at %.0f,%.0f",
						x0, y0);
				_sp_set_vips_error(&error, "tiles", what);
				run_fail(run, error);
				break;
			}
			for (int y = 0; y < clip.height; y++)
				memcpy(pixels +
						((size_t) (clip.top - want.top +
							 y) * size +
							(clip.left -
								want.left)) *
							pixel,
					VIPS_REGION_ADDR(region, clip.left,
						clip.top + y),
					(size_t) clip.width * pixel);
		}

		gboolean ok;
		if (state->func) {
			SpPatch patch = {
				.index = p->row * state->cols + p->col,
				.x = x0,
				.y = y0,
				.level = state->level,
				.downsample = state->ds_x,
				.mpp = state->mpp_x,
				.width = size,
				.height = size,
				.bands = bands,
				.tissue = p->tissue,
				.pixels = pixels,
				.format = run->view->BandFmt,
			};
			g_mutex_lock(&callback_lock);
			/* no call after one has stopped the run */
			if (g_atomic_int_get(&run->failed)) {
				g_mutex_unlock(&callback_lock);
				break;
			}
			ok = state->func(&patch, state->func_data, &error);
			if (!ok) {
				if (!error)
					g_set_error(&error, SP_ERROR,
						SP_ERROR_FAILED,
						"tiles: the patch callback stopped the run at patch "
						"%.0f,%.0f",
						x0, y0);
				run_fail(run, error);
			}
			g_mutex_unlock(&callback_lock);
			if (!ok)
				break;
		} else {
			g_autofree char *name = patch_name(state, p);
			g_autofree char *path = g_build_filename(run->dir, name,
				NULL);

			ok = _sp_patch_encode(encoder, pixels, size, size,
				     bands, out, &error) &&
				write_file(run->node->graph, path, out->data,
					out->len, &error);
			if (ok) {
				g_mutex_lock(&run->lock);
				run->bytes += out->len;
				g_mutex_unlock(&run->lock);
			}
		}
		if (!ok) {
			run_fail(run, error);
			break;
		}
		g_atomic_int_inc(&run->done);
	}

	_sp_patch_encoder_free(encoder);
	g_byte_array_unref(out);
	g_free(pixels);
	g_object_unref(region);
	return NULL;
}

static gpointer
worker_thread(gpointer data)
{
	worker(data);
	vips_thread_shutdown();
	return NULL;
}

/* Reading order: vertical stripes of the patch plane, rows within a
 * stripe, so the source's tile cache holds what the next row of patches
 * needs. */
static int
reading_order(gconstpointer a, gconstpointer b, gpointer data)
{
	const TilesState *state = data;
	const Patch *p = a, *q = b;
	int sp = p->col * state->stride / SP_STRIPE_WIDTH;
	int sq = q->col * state->stride / SP_STRIPE_WIDTH;

	if (sp != sq)
		return sp - sq;
	if (p->row != q->row)
		return p->row - q->row;
	return p->col - q->col;
}

static int
grid_order(gconstpointer a, gconstpointer b)
{
	const Patch *p = a, *q = b;

	if (p->row != q->row)
		return p->row - q->row;
	return p->col - q->col;
}

static gboolean
write_csv(Run *run, GError **error)
{
	TilesState *state = run->state;
	g_autofree char *path = g_build_filename(run->dir, "tiles.csv", NULL);
	GString *csv = g_string_new("x,y,level,downsample,mpp,width,height,"
				    "tissue,file");
	char ds[G_ASCII_DTOSTR_BUF_SIZE], mpp[G_ASCII_DTOSTR_BUF_SIZE];
	char bx[G_ASCII_DTOSTR_BUF_SIZE], by[G_ASCII_DTOSTR_BUF_SIZE];

	g_string_append(csv, state->annotations ? ",annotation,class\n" : "\n");
	g_ascii_formatd(ds, sizeof(ds), "%.6g", state->ds_x);
	if (state->mpp_x > 0)
		g_ascii_formatd(mpp, sizeof(mpp), "%.6g", state->mpp_x);
	else
		mpp[0] = '\0';
	g_array_sort(run->patches, grid_order);
	for (guint k = 0; k < run->patches->len; k++) {
		const Patch *p = &g_array_index(run->patches, Patch, k);
		g_autofree char *name = patch_name(state, p);
		double x, y;

		patch_origin(state, p, &x, &y);
		g_string_append_printf(csv, "%s,%s,%d,%s,%s,%d,%d,",
			g_ascii_formatd(bx, sizeof(bx), "%.10g", x),
			g_ascii_formatd(by, sizeof(by), "%.10g", y),
			state->level, ds, mpp, state->size, state->size);
		if (state->min_tissue >= 0 || state->mask_node ||
			state->mask_file)
			g_string_append_printf(csv, "%.4f", p->tissue);
		g_string_append_printf(csv, ",%s", name);
		if (state->annotations) {
			const char *c = p->feature >= 0 ?
				sp_annotations_get_class(state->annotations,
					p->feature) :
				NULL;
			g_autofree char *field = _sp_csv_quote(c ? c : "");

			g_string_append_printf(csv, ",%.4f,%s", p->annotation,
				field);
		}
		g_string_append_c(csv, '\n');
	}
	gboolean ok = write_file(run->node->graph, path, csv->str, csv->len,
		error);
	g_string_free(csv, TRUE);
	return ok;
}

/* The patch files' encoding, from tiles' arguments. */
static void
tiles_write_options(SpNode *node, const TilesState *state, SpWriteOptions *o)
{
	const SpTilesArgs *args = node->args;

	*o = (SpWriteOptions){ 0 };
	o->op = "tiles";
	o->format = state->format == PATCH_JPEG ? SP_WRITE_JPEG :
		state->format == PATCH_TIFF     ? SP_WRITE_TIFF :
						  SP_WRITE_PNG;
	o->png_level = args->compression;
	o->quality = args->Q;
	o->mpp_x = state->mpp_x;
	o->mpp_y = state->mpp_y;
}

static gboolean
tiles_execute(SpNode *node, GError **error)
{
	TilesState *state = node->priv;
	const SpTilesArgs *args = node->args;
	const char *dir = args->dir;
	Mask mask = { 0 };
	gboolean have_mask = state->mask_node || state->mask_file;
	Run run = { 0 };
	int total = state->cols * state->rows;
	VipsBandFormat format = node->input->geom.format;

	if (format != VIPS_FORMAT_UCHAR && !state->func) {
		/* sp_tiles_foreach() hands typed buffers; files are 8-bit */
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"tiles: writes 8-bit patches, and '%s' gives %s samples "
			"here; convert them first with 'cast format=uint8' "
			"(range=auto stretches the values found)",
			sp_slide_get_path(node->slide), sp_format_name(format));
		return FALSE;
	}
	run.node = node;
	run.state = state;
	run.dir = dir;
	tiles_write_options(node, state, &run.write);
	g_mutex_init(&run.lock);

	g_clear_pointer(&node->report, g_free);
	if (!state->func && !node->graph->out_root &&
		g_mkdir_with_parents(dir, 0777) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"tiles: cannot make directory '%s': %s", dir,
			g_strerror(err));
		return FALSE;
	}
	if (have_mask &&
		!(state->mask_file ?
				build_mask_file(node, state, &mask, error) :
				build_mask_pipeline(node, state, &mask, error)))
		return FALSE;

	Mask amask = { 0 };
	SpAnnotationLocator *locator = NULL;
	if (state->annotations) {
		if (!build_mask_annotations(node, state, &amask, error)) {
			g_free(mask.pixels);
			return FALSE;
		}
		locator = _sp_annotation_locator_new(state->annotations,
			state->features, state->n_features);
	}

	/* which patches to keep: no pixel of the slide is read for this */
	run.patches = g_array_new(FALSE, FALSE, sizeof(Patch));
	for (int row = 0; row < state->rows; row++)
		for (int col = 0; col < state->cols; col++) {
			Patch p = { col, row, -1, -1, -1 };
			double x, y, x1, y1;

			patch_origin(state, &p, &x, &y);
			x1 = x + state->size * state->ds_x;
			y1 = y + state->size * state->ds_y;
			if (have_mask) {
				p.tissue = tissue_fraction(&mask, x, y, x1, y1);
				/* a float's rounding must not drop a patch at exactly
				 * the limit */
				if (p.tissue < state->min_tissue - 1e-9)
					continue;
			}
			if (state->annotations) {
				p.annotation = tissue_fraction(&amask, x, y, x1,
					y1);
				if (p.annotation < state->min_annotation - 1e-9)
					continue;
				p.feature = _sp_annotation_locate(locator,
					(x + x1) / 2, (y + y1) / 2);
			}
			g_array_append_val(run.patches, p);
		}
	g_free(mask.pixels);
	g_free(amask.pixels);
	_sp_annotation_locator_free(locator);
	g_array_sort_with_data(run.patches, reading_order, state);
	if (state->shard_n > 1) {
		/* the K-th of N consecutive runs, in reading order: shares
		 * of equal size that read neighbouring patches */
		guint64 len = run.patches->len;
		guint start = len * (state->shard_k - 1) / state->shard_n;
		guint end = len * state->shard_k / state->shard_n;

		g_array_remove_range(run.patches, end, len - end);
		g_array_remove_range(run.patches, 0, start);
	}

	/* the patch plane, read from the planned level */
	if (state->width > 0 && state->height > 0 && run.patches->len > 0) {
		if (state->direct) {
			const SpGeometry *in = &node->input->geom;
			VipsImage *image = sp_node_get_image(node->input,
				error);
			int left = (int) floor(
				(state->ox - in->x) / in->downsample_x + 0.5);
			int top = (int) floor(
				(state->oy - in->y) / in->downsample_y + 0.5);

			if (!image) {
				g_array_unref(run.patches);
				return FALSE;
			}
			if (vips_extract_area(image, &run.view, left, top,
				    MIN(state->width, image->Xsize - left),
				    MIN(state->height, image->Ysize - top),
				    NULL)) {
				_sp_set_vips_error(error, "tiles", "region");
				g_array_unref(run.patches);
				return FALSE;
			}
		} else if (!(run.view = _sp_chain_view_region(node->input,
				     state->level, state->ox, state->oy,
				     state->width * state->ds_x,
				     state->height * state->ds_y, state->width,
				     state->height, error))) {
			g_array_unref(run.patches);
			return FALSE;
		}
		run.bands = run.view->Bands;
		run.sample_bytes = vips_format_sizeof(run.view->BandFmt);
		/* white, or for samples that have no white (signed, float)
		 * and for masks, 0 */
		run.pad_value = run.bands == 1 ||
				!vips_band_format_isuint(run.view->BandFmt) ?
			0 :
			255;

		int n_threads = MAX(1, MIN(vips_concurrency_get(), 64));
		GThread *threads[64];
		for (int i = 1; i < n_threads; i++)
			threads[i] = g_thread_new("tiles", worker_thread, &run);
		/* this thread works too, and reports progress between patches */
		worker(&run);
		for (int i = 1; i < n_threads; i++)
			g_thread_join(threads[i]);
		g_object_unref(run.view);
	}

	gboolean ok = !run.error;
	if (!ok)
		g_propagate_error(error, run.error);
	else if (!state->func)
		ok = write_csv(&run, error);
	if (ok) {
		g_autofree char *mask_report = node->report;
		char mpp[64] = "";

		if (state->mpp_x > 0)
			g_snprintf(mpp, sizeof(mpp), ", %.4g µm per pixel",
				state->mpp_x);
		char shard[64] = "";

		if (state->shard_n > 1)
			g_snprintf(shard, sizeof(shard), " in shard %d/%d",
				state->shard_k, state->shard_n);
		node->report =
			g_strdup_printf("%s%s"
					"tiles: %u of %d patches kept%s (%d × %d "
					"at downsample %g%s, read from level "
					"%d)%s%s",
				mask_report ? mask_report : "",
				mask_report ? "\n" : "", run.patches->len,
				total, shard, state->size, state->size,
				state->ds_x, mpp, state->level,
				state->func ? "" : ", written to ",
				state->func ? "" : dir);
		if (!state->func) {
			g_autofree char *bytes = g_format_size(run.bytes);
			char *t = g_strdup_printf("%s, %s", node->report,
				bytes);
			g_free(node->report);
			node->report = t;
		}
	}
	g_array_unref(run.patches);
	g_mutex_clear(&run.lock);
	return ok;
}

static gboolean
tiles_run(SpNode *node, VipsImage *in, GError **error)
{
	return tiles_execute(node, error);
}

/* A mask file the tiles read: save must not overwrite it. */
static const char *
tiles_input_file(SpNode *node)
{
	return ((SpTilesArgs *) node->args)->mask;
}

const SpOpInfo _sp_op_tiles = {
	.name = "tiles",
	.summary = "write patches where there is tissue, and tiles.csv",
	.description =
		"Cuts the region into a grid of SIZE × SIZE patches at the "
		"resolution of level= or mpp= (default: the input's), keeps those "
		"whose tissue fraction reaches min-tissue, and writes each as "
		"DIR/PREFIXxX_yY.png (X, Y: the patch's top-left corner in "
		"level-0 pixels) plus DIR/tiles.csv with columns x, y (level-0 "
		"pixels), level (the pyramid level read), downsample, mpp, "
		"width, height, tissue (fraction 0–1, empty without a mask) and "
		"file. Patches are read from the pyramid level whose downsample "
		"is the largest not above the patch resolution's, by parallel "
		"workers, one patch at a time, and only where the mask keeps "
		"them. The tissue fraction is the mean of the mask over the "
		"patch's area, each mask pixel weighted by how much of it lies "
		"inside the patch. The default mask (with min-tissue and no "
		"mask=) is 'threshold method=otsu channel=saturation' on the "
		"same region, read from a low level. Each file is written "
		"atomically; tiles.csv is written last, so it exists only when "
		"every patch does.",
	.kind = SP_OP_SINK,
	.any_format = TRUE,
	.role = SP_ROLE_SINK,
	.args = tiles_args,
	.n_args = G_N_ELEMENTS(tiles_args),
	.args_size = sizeof(SpTilesArgs),
	.input_file = tiles_input_file,
	.plan = tiles_plan,
	.run = tiles_run,
	.free_priv = tiles_state_free,
};

SpNode *
sp_tiles(SpNode *in, const char *dir, GError **error, ...)
{
	va_list ap;
	SpNode *node;

	va_start(ap, error);
	node = _sp_node_new_text(in ? in->graph : NULL, &_sp_op_tiles, in,
		G_STRUCT_OFFSET(SpTilesArgs, dir), dir, error, ap);
	va_end(ap);
	return node;
}

/* Hands @node's kept patches to @func, then drops the node. */
static gboolean
tiles_foreach_node(SpNode *node, SpPatchFunc func, void *user_data,
	GError **error)
{
	TilesState *state = node->priv;
	gboolean ok;

	state->func = func;
	state->func_data = user_data;
	ok = tiles_execute(node, error);
	_sp_node_discard(node);
	return ok;
}

gboolean
sp_tiles_foreach(SpNode *in, SpPatchFunc func, void *user_data, GError **error,
	...)
{
	va_list ap;
	SpNode *node;

	g_return_val_if_fail(func != NULL, FALSE);
	va_start(ap, error);
	/* no file is written: any directory that passes the checks */
	node = _sp_node_new_text(in ? in->graph : NULL, &_sp_op_tiles, in,
		G_STRUCT_OFFSET(SpTilesArgs, dir), g_get_tmp_dir(), error, ap);
	va_end(ap);
	if (!node)
		return FALSE;
	return tiles_foreach_node(node, func, user_data, error);
}

gboolean
sp_tiles_foreach_from_strings(SpNode *in, const char *const *words,
	SpPatchFunc func, void *user_data, GError **error)
{
	GPtrArray *all = g_ptr_array_new();
	SpNode *node;

	g_return_val_if_fail(in != NULL, FALSE);
	g_return_val_if_fail(func != NULL, FALSE);
	/* no file is written: any directory that passes the checks */
	g_ptr_array_add(all, (gpointer) g_get_tmp_dir());
	for (int i = 0; words && words[i]; i++)
		g_ptr_array_add(all, (gpointer) words[i]);
	g_ptr_array_add(all, NULL);
	node = sp_node_new_from_strings(in->graph, "tiles", in,
		(const char *const *) all->pdata, error);
	g_ptr_array_free(all, TRUE);
	if (!node)
		return FALSE;
	return tiles_foreach_node(node, func, user_data, error);
}
