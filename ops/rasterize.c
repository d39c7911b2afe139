/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rasterize: the mask of annotation polygons (GeoJSON) on the input's
 * grid: 255 inside, 0 outside, filled tile by tile on demand by scan
 * conversion (src/annotations.c) with gdal_rasterize's default rule.
 */
#include "config.h"

#include <string.h>

#include "sp-private.h"

typedef struct {
	char *path;
	char *class_name;
	int feature;
	char *name;
	char *units;
} SpRasterizeArgs;

static const char *const units_choices[] = { "px", "um", NULL };

static const SpArgInfo rasterize_args[] = {
	{ "path", SP_ARG_PATH, NULL, NULL, 0, 0, NULL, 0, TRUE,
		"GeoJSON file: a FeatureCollection, an array of Features "
		"(QuPath's export), a Feature or a geometry; Polygon and "
		"MultiPolygon geometries in level-0 pixels, y down (µm with "
		"units=um)",
		SP_ARG_FIELD(SpRasterizeArgs, path) },
	{ "class", SP_ARG_STRING, NULL, NULL, 0, 0, NULL, -1, FALSE,
		"only features of this class (properties.classification.name, "
		"as QuPath writes it)",
		SP_ARG_FIELD(SpRasterizeArgs, class_name) },
	{ "feature", SP_ARG_INT, NULL, NULL, 0, G_MAXINT, NULL, -1, FALSE,
		"only the N-th feature (0-based, in file order, counting only "
		"features with a geometry)",
		SP_ARG_FIELD(SpRasterizeArgs, feature) },
	{ "name", SP_ARG_STRING, NULL, NULL, 0, 0, NULL, -1, FALSE,
		"only features whose properties.name is this",
		SP_ARG_FIELD(SpRasterizeArgs, name) },
	{ "units", SP_ARG_CHOICE, NULL, "px", 0, 0, units_choices, -1, FALSE,
		"units of the GeoJSON's coordinates: level-0 pixels, or "
		"micrometres (divided by the slide's mpp)",
		SP_ARG_FIELD(SpRasterizeArgs, units) },
};

typedef struct {
	SpAnnotations *annotations;
	int *features; /* the selected ones */
	int n_features;
} RasterizeState;

static void
rasterize_state_free(void *data)
{
	RasterizeState *state = data;

	sp_annotations_unref(state->annotations);
	g_free(state->features);
	g_free(state);
}

static gboolean
rasterize_plan(SpNode *node, GError **error)
{
	const SpRasterizeArgs *args = node->args;
	RasterizeState *state = g_new0(RasterizeState, 1);
	SpGeometry *g = &node->geom;

	node->priv = state;
	if (!(state->annotations = _sp_annotations_load_in(args->path,
		      args->units, node->slide, "rasterize", error)))
		return FALSE;
	int n = sp_annotations_get_count(state->annotations);
	gboolean by_feature = _sp_node_given(node, &args->feature);

	if (by_feature || args->class_name || args->name) {
		if (!(state->features = _sp_annotations_select(
			      state->annotations, by_feature ? args->feature : -1,
			      args->class_name, args->name, &state->n_features,
			      "rasterize", error)))
			return FALSE;
	} else {
		/* every feature; none at all gives an empty mask */
		state->features = g_new(int, MAX(1, n));
		for (int i = 0; i < n; i++)
			state->features[i] = i;
		state->n_features = n;
	}
	g->bands = 1;
	g->format = VIPS_FORMAT_UCHAR;
	node->report = g_strdup_printf(
		"rasterize: %d of %d annotation feature%s on a %d × %d mask "
		"at downsample %g",
		state->n_features, n, n == 1 ? "" : "s", g->width, g->height,
		g->downsample_x);
	return TRUE;
}

/* The input's pixels are never read: only its grid. */
static VipsImage *
rasterize_build(SpNode *node, VipsImage *in, GError **error)
{
	RasterizeState *state = node->priv;
	const SpGeometry *g = &node->geom;
	VipsImage *out = sp_annotations_mask(state->annotations,
		state->features, state->n_features, g->x, g->y,
		g->downsample_x, g->downsample_y, g->width, g->height, error);

	if (!out)
		g_prefix_error(error, "rasterize: ");
	return out;
}

static const char *
rasterize_input_file(SpNode *node)
{
	const SpRasterizeArgs *args = node->args;

	return args->path;
}

const SpOpInfo _sp_op_rasterize = {
	.name = "rasterize",
	.summary = "the mask of annotation polygons (GeoJSON): 255 inside",
	.description =
		"Makes a 1-band uchar mask on the input's grid (its size, "
		"level-0 region and downsample; the input's pixels are not "
		"read): 255 where an annotation polygon covers a pixel's "
		"centre, 0 elsewhere. GeoJSON coordinates are level-0 pixels, "
		"x right, y down (QuPath's export). The rule is gdal_rasterize's "
		"default: rows are scanned at pixel centres, the rings of one "
		"polygon (outline, holes, self-crossings) combine by the "
		"even-odd rule, polygons (of a MultiPolygon too) and features "
		"by union; a centre exactly on a left edge is outside, on a right "
		"edge inside. Tiles are filled on demand from an index of the "
		"polygons' edges, so memory grows with the vertices, not the "
		"area. Refused: invalid JSON, geometries other than Polygon "
		"and MultiPolygon, coordinates that are not finite, rings of "
		"under 3 distinct points.",
	.kind = SP_OP_FILTER,
	.role = SP_ROLE_FILTER,
	.args = rasterize_args,
	.n_args = G_N_ELEMENTS(rasterize_args),
	.args_size = sizeof(SpRasterizeArgs),
	.plan = rasterize_plan,
	.build = rasterize_build,
	.free_priv = rasterize_state_free,
	.any_format = TRUE,
	.input_file = rasterize_input_file,
};
