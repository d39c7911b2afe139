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
	char *page;
	char *c;
	char *z;
	char *t;
	int series;
} SpLoadArgs;

static const SpArgInfo load_args[] = {
	{ "path", SP_ARG_PATH, NULL, NULL, 0, 0, NULL, 0, TRUE,
		"slide or image file (SVS, NDPI, MRXS, SCN, BIF, Philips TIFF, "
		"generic tiled or striped TIFF, PNG, JPEG), or a DICOM WSI: a "
		".dcm file (its series is read) or a directory of instances "
		"(or of links to them)",
		SP_ARG_FIELD(SpLoadArgs, path) },
	{ "level", SP_ARG_INT, NULL, "0", 0, 63, NULL, -1, FALSE,
		"pyramid level to read (0 = full resolution)",
		SP_ARG_FIELD(SpLoadArgs, level) },
	{ "associated", SP_ARG_CHOICE, NULL, NULL, 0, 0, associated_choices, -1,
		FALSE, "read this associated image instead of the slide",
		SP_ARG_FIELD(SpLoadArgs, associated) },
	{ "page", SP_ARG_STRING, "N, A-B, A,B,… or all", NULL, 0, 0, NULL, -1,
		FALSE,
		"multi-page TIFF (a stack): the pages to read, as z planes "
		"(default 0); pages are those with the first page's size and "
		"samples that are not reduced-resolution levels",
		SP_ARG_FIELD(SpLoadArgs, page) },
	{ "c", SP_ARG_STRING, "N, A-B, A,B,… or all", NULL, 0, 0, NULL, -1,
		FALSE, "OME-TIFF: the channels to read (default all)",
		SP_ARG_FIELD(SpLoadArgs, c) },
	{ "z", SP_ARG_STRING, "N, A-B, A,B,… or all", NULL, 0, 0, NULL, -1,
		FALSE, "OME-TIFF: the z planes to read (default all)",
		SP_ARG_FIELD(SpLoadArgs, z) },
	{ "t", SP_ARG_STRING, "N, A-B, A,B,… or all", NULL, 0, 0, NULL, -1,
		FALSE, "OME-TIFF: the time points to read (default all)",
		SP_ARG_FIELD(SpLoadArgs, t) },
	{ "series", SP_ARG_INT, NULL, "0", 0, 1000000, NULL, -1, FALSE,
		"OME-TIFF: the Image to read (slidepipe reads series 0)",
		SP_ARG_FIELD(SpLoadArgs, series) },
};

/* The planes @node reads: load's selections against the slide's planes,
 * into node->source_planes and the geometry's n_c, n_z, n_t. */
static gboolean
plan_planes(SpNode *node, GError **error)
{
	SpLoadArgs *args = node->args;
	const SpPlanes *pl = _sp_slide_get_planes(node->slide);
	const char *path = args->path;
	g_autoptr(GArray) cs = g_array_new(FALSE, FALSE, sizeof(int));
	g_autoptr(GArray) zs = g_array_new(FALSE, FALSE, sizeof(int));
	g_autoptr(GArray) ts = g_array_new(FALSE, FALSE, sizeof(int));
	const struct {
		const char *name;
		const char *text;
		int size;
		GArray *out;
	} axes[] = { { "c", args->c, pl->n_c, cs },
		{ "z", args->z, pl->n_z, zs }, { "t", args->t, pl->n_t, ts } };
	GError *local = NULL;

	if (args->series > 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"load: argument 'series': slidepipe reads series 0 of "
			"'%s', not %d",
			path, args->series);
		return FALSE;
	}
	if (!pl->ome) {
		const char *given = args->c ? "c" :
			args->z             ? "z" :
			args->t             ? "t" :
					      NULL;

		if (given) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"load: argument '%s': '%s' is not an OME-TIFF; the "
				"pages of a multi-page TIFF are chosen with page=",
				given, path);
			return FALSE;
		}
		if (!_sp_plane_selection_parse(args->page ? args->page : "0",
			    pl->n_z, zs, &local)) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"load: argument 'page': '%s': %s (pages of the "
				"same size as the first)",
				path, local->message);
			g_error_free(local);
			return FALSE;
		}
		g_array_append_val(cs, (int){ 0 });
		g_array_append_val(ts, (int){ 0 });
	} else {
		if (args->page) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"load: argument 'page': '%s' is an OME-TIFF; choose "
				"its planes with c=, z= and t=",
				path);
			return FALSE;
		}
		for (guint i = 0; i < G_N_ELEMENTS(axes); i++)
			if (!_sp_plane_selection_parse(axes[i].text,
				    axes[i].size, axes[i].out, &local)) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"load: argument '%s': '%s': %s",
					axes[i].name, path, local->message);
				g_error_free(local);
				return FALSE;
			}
	}

	node->channel_names = g_ptr_array_new_with_free_func(g_free);
	node->channel_colours = g_array_new(FALSE, FALSE, sizeof(gint64));
	for (guint i = 0; i < cs->len; i++) {
		int c = g_array_index(cs, int, i);
		gint64 colour = pl->colours ? pl->colours[c] : -1;

		g_ptr_array_add(node->channel_names,
			g_strdup(pl->names ? pl->names[c] : NULL));
		g_array_append_val(node->channel_colours, colour);
	}
	node->mpp_z = pl->mpp_z;

	SpGeometry *g = &node->geom;
	g->n_c = cs->len;
	g->n_z = zs->len;
	g->n_t = ts->len;
	node->source_planes = g_new(int, cs->len * zs->len * ts->len);
	for (guint t = 0; t < ts->len; t++)
		for (guint z = 0; z < zs->len; z++)
			for (guint c = 0; c < cs->len; c++)
				node->source_planes[c +
					cs->len * (z + zs->len * t)] =
					g_array_index(cs, int, c) +
					pl->n_c *
						(g_array_index(zs, int, z) +
							pl->n_z *
								g_array_index(ts,
									int,
									t));
	return TRUE;
}

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
		*g = (SpGeometry){ w, h, 3, 0, 0, w, h, 1, 1, 0, 0,
			VIPS_FORMAT_UCHAR, 1, 1, 1 };
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
	g->format = sp_slide_get_format(slide);
	return plan_planes(node, error);
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
	int plane = node->source_planes ?
		node->source_planes[node->graph->plane] :
		0;
	VipsImage *image = _sp_slide_load_plane(node->slide, args->level, plane,
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
		"reduced-resolution subfiles), PNG and JPEG through libvips, "
		"DICOM whole-slide images by slidepipe's own reader (levels "
		"are the series' VOLUME instances; label and macro its LABEL "
		"and OVERVIEW). "
		"RGBA slides are flattened on white, as OpenSlide's readers do. "
		"Only headers are read here; pixels are decoded tile by tile "
		"when a sink asks for them. Coordinates further down the "
		"pipeline are level-0 pixels whatever level is read. Samples "
		"keep the file's type (uint8, int8, uint16, int16, uint32, "
		"int32, float32). A stack is read plane by plane: page= picks "
		"pages of a multi-page TIFF, c=, z=, t= the channels, z planes "
		"and time points of an OME-TIFF (read from its OME-XML; levels "
		"are each plane's SubIFDs), and every operator after load runs "
		"on each plane.",
	.kind = SP_OP_SOURCE,
	.any_format = TRUE,
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
