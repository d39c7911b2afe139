/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* load: a slide level or associated image as the source of a pipeline. */
#include "config.h"

#include <string.h>

#include "sp-private.h"

static const char *const associated_choices[] = { "label", "macro", "thumbnail",
	NULL };

typedef struct {
	char *path;
	int level;
	char *associated;
} SpLoadArgs;

static const SpArgInfo load_args[] = {
	{ "path", SP_ARG_PATH, NULL, NULL, 0, 0, NULL, 0, TRUE,
		"slide or image file (SVS, NDPI, MRXS, SCN, BIF, Philips TIFF, "
		"generic tiled or striped TIFF, PNG, JPEG)",
		SP_ARG_FIELD(SpLoadArgs, path) },
	{ "level", SP_ARG_INT, NULL, "0", 0, 63, NULL, -1, FALSE,
		"pyramid level to read (0 = full resolution)",
		SP_ARG_FIELD(SpLoadArgs, level) },
	{ "associated", SP_ARG_CHOICE, NULL, NULL, 0, 0, associated_choices, -1,
		FALSE, "read this associated image instead of the slide",
		SP_ARG_FIELD(SpLoadArgs, associated) },
};

static gboolean
load_plan(SpNode *node, GError **error)
{
	SpLoadArgs *args = node->args;
	const char *path = args->path;
	const char *associated = args->associated;
	int level = args->level;
	SpSlide *slide;
	SpGeometry *g = &node->geom;

	/* for the planner */
	node->source_level = level;
	node->source_associated = associated;

	slide = node->graph->slide_cache ?
		_sp_slide_cache_open(node->graph->slide_cache, path, error) :
		sp_slide_open(path, error);
	if (!slide)
		return FALSE;
	node->slide = slide;

	if (associated) {
		int w, h;

		if (_sp_node_given(node, &args->level)) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"load: give either 'level' or 'associated', not both");
			return FALSE;
		}
		if (!sp_slide_get_associated_size(slide, associated, &w, &h)) {
			const char *const *names =
				sp_slide_get_associated_names(slide);
			g_autofree char *list = g_strjoinv(", ",
				(char **) names);
			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				"load: '%s' has no associated image '%s' (it has: %s)",
				path, associated, *list ? list : "none");
			return FALSE;
		}
		/* an associated image is its own little image: level-0 pixels
		 * are its pixels, and it has no mpp */
		*g = (SpGeometry){ w, h, 3, 0, 0, w, h, 1, 1, 0, 0 };
		return TRUE;
	}

	if (level >= sp_slide_get_level_count(slide)) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"load: argument 'level': '%s' has %d level%s (0 … %d), not %d",
			path, sp_slide_get_level_count(slide),
			sp_slide_get_level_count(slide) == 1 ? "" : "s",
			sp_slide_get_level_count(slide) - 1, level);
		return FALSE;
	}
	const SpLevel *l0 = sp_slide_get_level(slide, 0);
	const SpLevel *l = sp_slide_get_level(slide, level);
	double mpp_x, mpp_y;

	if (l->width > G_MAXINT / 2 || l->height > G_MAXINT / 2) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"load: '%s': level %d is %" G_GINT64_FORMAT
			" × %" G_GINT64_FORMAT
			" pixels, larger than slidepipe handles",
			path, level, l->width, l->height);
		return FALSE;
	}
	sp_slide_get_mpp(slide, &mpp_x, &mpp_y);
	g->width = l->width;
	g->height = l->height;
	/* from the header: what the pixels will have (1-band slides were
	 * reported as 3 until their pixels were computed) */
	g->bands = sp_slide_get_bands(slide);
	g->x = 0;
	g->y = 0;
	g->w = l0->width;
	g->h = l0->height;
	/* per axis, from the sizes: a level's pixel covers exactly this many
	 * level-0 pixels in the libvips image we will read */
	g->downsample_x = (double) l0->width / l->width;
	g->downsample_y = (double) l0->height / l->height;
	g->mpp_x = mpp_x * g->downsample_x;
	g->mpp_y = mpp_y * g->downsample_y;
	return TRUE;
}

/* The widest span of this level the pipeline reads: when every consumer
 * keeps a region (crop), the widest; otherwise the whole level. */
static int
read_width(SpNode *node)
{
	GPtrArray *nodes = node->graph->nodes;
	int widest = 0;

	for (guint i = 0; i < nodes->len; i++) {
		SpNode *n = g_ptr_array_index(nodes, i);

		if (n->input != node)
			continue;
		if (n->op->role != SP_ROLE_REGION)
			return 0;
		widest = MAX(widest, n->geom.width);
	}
	return widest;
}

static VipsImage *
load_build(SpNode *node, VipsImage *in, GError **error)
{
	const SpLoadArgs *args = node->args;
	VipsImage *image = _sp_slide_load(node->slide, args->level,
		args->associated, read_width(node), error);

	if (image && image->Bands != node->geom.bands)
		node->geom.bands = image->Bands;
	return image;
}

const SpOpInfo _sp_op_load = {
	.name = "load",
	.summary = "read a whole-slide image or image file",
	.description =
		"Opens PATH and makes its pixels the source of the pipeline. "
		"Vendor slides are read through OpenSlide (via libvips), generic "
		"and striped TIFFs through libtiff/libvips (levels are the "
		"reduced-resolution subfiles), PNG and JPEG through libvips. "
		"RGBA slides are flattened on white, as OpenSlide's readers do. "
		"Only headers are read here; pixels are decoded tile by tile "
		"when a sink asks for them. Coordinates further down the "
		"pipeline are level-0 pixels whatever level is read.",
	.kind = SP_OP_SOURCE,
	.role = SP_ROLE_SOURCE,
	.args = load_args,
	.n_args = G_N_ELEMENTS(load_args),
	.args_size = sizeof(SpLoadArgs),
	.plan = load_plan,
	.build = load_build,
};

SpNode *
sp_load(SpGraph *graph, const char *path, GError **error, ...)
{
	va_list ap;
	SpNode *node;

	va_start(ap, error);
	node = _sp_node_new_text(graph, &_sp_op_load, NULL,
		G_STRUCT_OFFSET(SpLoadArgs, path), path, error, ap);
	va_end(ap);
	return node;
}
