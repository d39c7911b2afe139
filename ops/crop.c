/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* crop: a region of the slide, in level-0 pixels or micrometres. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "sp-private.h"

static const char *const units_choices[] = { "px", "um", NULL };
static const char *const outside_choices[] = { "keep", "white", "black",
	"transparent", NULL };

#define COORD_MAX 1e12

typedef struct {
	double x, y, w, h;
	char *units;
	char *geojson;
	int feature;
	int polygon;
	char *name;
	char *class_name;
	double margin;
	char *outside;
} SpCropArgs;

static const SpArgInfo crop_args[] = {
	{ "x", SP_ARG_DOUBLE, "level-0 px (µm with units=um)", NULL, 0,
		COORD_MAX, NULL, 0, FALSE,
		"left edge of the region (required unless geojson= is given)",
		SP_ARG_FIELD(SpCropArgs, x) },
	{ "y", SP_ARG_DOUBLE, "level-0 px (µm with units=um)", NULL, 0,
		COORD_MAX, NULL, 1, FALSE, "top edge of the region",
		SP_ARG_FIELD(SpCropArgs, y) },
	{ "w", SP_ARG_DOUBLE, "level-0 px (µm with units=um)", NULL, 0,
		COORD_MAX, NULL, 2, FALSE, "width of the region, > 0",
		SP_ARG_FIELD(SpCropArgs, w) },
	{ "h", SP_ARG_DOUBLE, "level-0 px (µm with units=um)", NULL, 0,
		COORD_MAX, NULL, 3, FALSE, "height of the region, > 0",
		SP_ARG_FIELD(SpCropArgs, h) },
	{ "units", SP_ARG_CHOICE, NULL, "px", 0, 0, units_choices, -1, FALSE,
		"units of x, y, w, h (or of the GeoJSON's coordinates and "
		"margin with geojson=): level-0 pixels or micrometres "
		"(needs the slide's mpp)",
		SP_ARG_FIELD(SpCropArgs, units) },
	{ "geojson", SP_ARG_PATH, NULL, NULL, 0, 0, NULL, -1, FALSE,
		"instead of X Y W H: the bounding box of annotation polygons "
		"in this GeoJSON file (level-0 pixels, y down, as QuPath "
		"exports them; µm with units=um), all of them or those "
		"feature=, polygon=, name= and class= pick",
		SP_ARG_FIELD(SpCropArgs, geojson) },
	{ "feature", SP_ARG_INT, NULL, NULL, 0, G_MAXINT, NULL, -1, FALSE,
		"with geojson=: only the N-th feature (0-based, in file order)",
		SP_ARG_FIELD(SpCropArgs, feature) },
	{ "polygon", SP_ARG_INT, NULL, NULL, 0, G_MAXINT, NULL, -1, FALSE,
		"with feature=: only the K-th polygon of a MultiPolygon "
		"(0-based; 0 for a Polygon)",
		SP_ARG_FIELD(SpCropArgs, polygon) },
	{ "name", SP_ARG_STRING, NULL, NULL, 0, 0, NULL, -1, FALSE,
		"with geojson=: only features whose properties.name is this",
		SP_ARG_FIELD(SpCropArgs, name) },
	{ "class", SP_ARG_STRING, NULL, NULL, 0, 0, NULL, -1, FALSE,
		"with geojson=: only features of this class "
		"(properties.classification.name)",
		SP_ARG_FIELD(SpCropArgs, class_name) },
	{ "margin", SP_ARG_DOUBLE, "level-0 px (µm with units=um)", "0", 0, COORD_MAX, NULL, -1,
		FALSE,
		"with geojson=: widen the bounding box by this much on every "
		"side (clipped to the slide)",
		SP_ARG_FIELD(SpCropArgs, margin) },
	{ "outside", SP_ARG_CHOICE, NULL, "keep", 0, 0, outside_choices, -1,
		FALSE,
		"with geojson=: what becomes of pixels whose centre is outside "
		"the polygons (holes count as outside; the rule is "
		"rasterize's): keep them, make them white or black, or add an "
		"alpha band that is 0 there (RGBA, for PNG or TIFF)",
		SP_ARG_FIELD(SpCropArgs, outside) },
};

typedef struct {
	SpAnnotations *annotations; /* with geojson= */
	int *features;
	int n_features;
} CropState;

static void
crop_state_free(void *data)
{
	CropState *state = data;

	sp_annotations_unref(state->annotations);
	g_free(state->features);
	g_free(state);
}

/* geojson=: the region is the selected features' bounding box, widened
 * by margin and clipped to the input's region. */
static gboolean
annotation_region(SpNode *node, double *x, double *y, double *w, double *h,
	GError **error)
{
	const SpGeometry in = node->input->geom;
	const SpCropArgs *args = node->args;
	CropState *state = g_new0(CropState, 1);
	gboolean by_feature = _sp_node_given(node, &args->feature);
	double x0, y0, x1, y1;
	double margin_x = args->margin, margin_y = args->margin;

	node->priv = state;
	if (_sp_node_given(node, &args->x) || _sp_node_given(node, &args->y) ||
		_sp_node_given(node, &args->w) || _sp_node_given(node, &args->h)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"crop: give X Y W H or geojson=, not both");
		return FALSE;
	}
	if (!(state->annotations = _sp_annotations_load_in(args->geojson,
		      args->units, node->slide, "crop", error)))
		return FALSE;
	if (_sp_node_given(node, &args->polygon)) {
		SpAnnotations *one;

		if (!by_feature) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"crop: polygon= needs feature= (the feature "
				"whose polygon it is)");
			return FALSE;
		}
		if (args->feature >= sp_annotations_get_count(state->annotations))
			return !!_sp_annotations_select(state->annotations,
				args->feature, NULL, NULL, &state->n_features,
				"crop", error);
		if (!(one = _sp_annotations_polygon(state->annotations,
			      args->feature, args->polygon, "crop", error)))
			return FALSE;
		sp_annotations_unref(state->annotations);
		state->annotations = one;
		by_feature = FALSE;
	}
	if (!(state->features = _sp_annotations_select(state->annotations,
		      by_feature ? args->feature : -1, args->class_name,
		      args->name, &state->n_features, "crop", error)))
		return FALSE;
	if (strcmp(args->units, "um") == 0) {
		double mpp_x, mpp_y;

		sp_slide_get_mpp(node->slide, &mpp_x, &mpp_y);
		margin_x = args->margin / mpp_x;
		margin_y = args->margin / mpp_y;
	}
	_sp_annotations_bounds(state->annotations, state->features,
		state->n_features, &x0, &y0, &x1, &y1);
	x0 = MAX(x0 - margin_x, in.x);
	y0 = MAX(y0 - margin_y, in.y);
	x1 = MIN(x1 + margin_x, in.x + in.w);
	y1 = MIN(y1 + margin_y, in.y + in.h);
	if (x1 <= x0 || y1 <= y0) {
		g_autofree char *shown = sp_printable(args->geojson);
		g_set_error(error, SP_ERROR, SP_ERROR_REGION,
			"crop: the annotations picked from '%s' lie outside "
			"'%s' (%g × %g level-0 px)",
			shown, sp_slide_get_path(node->slide), in.w, in.h);
		return FALSE;
	}
	*x = x0;
	*y = y0;
	*w = x1 - x0;
	*h = y1 - y0;
	return TRUE;
}

/* Output pixels [left, right) of the input that cover level-0 [a, b). */
static void
span(double in_origin, double in_ds, double a, double b, int *left, int *right)
{
	/* a small tolerance so exact level-0 coordinates on a level's grid
	 * do not pick up a sliver from rounding */
	*left = (int) floor((a - in_origin) / in_ds + 1e-6);
	*right = (int) ceil((b - in_origin) / in_ds - 1e-6);
	if (*right <= *left)
		*right = *left + 1;
}

static gboolean
crop_plan(SpNode *node, GError **error)
{
	const SpGeometry in = node->input->geom;
	SpGeometry *g = &node->geom;
	const SpCropArgs *args = node->args;
	double x = args->x, y = args->y, w = args->w, h = args->h;
	const char *path = sp_slide_get_path(node->slide);

	if (args->geojson) {
		if (!annotation_region(node, &x, &y, &w, &h, error))
			return FALSE;
	} else {
		const char *names[] = { "x", "y", "w", "h" };
		const double *fields[] = { &args->x, &args->y, &args->w,
			&args->h };

		for (int i = 0; i < 4; i++)
			if (!_sp_node_given(node, fields[i])) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"crop: missing argument '%s' (give X Y W "
					"H, or geojson=FILE)",
					names[i]);
				return FALSE;
			}
		const char *geo_only[] = { "feature", "polygon", "name",
			"class", "margin", "outside" };
		const void *geo_fields[] = { &args->feature, &args->polygon,
			&args->name, &args->class_name, &args->margin,
			&args->outside };
		for (int i = 0; i < 6; i++)
			if (_sp_node_given(node, geo_fields[i])) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"crop: argument '%s' applies with "
					"geojson= only",
					geo_only[i]);
				return FALSE;
			}
	}
	if (!args->geojson && strcmp(args->units, "um") == 0) {
		double mpp_x, mpp_y;

		if (!sp_slide_get_mpp(node->slide, &mpp_x, &mpp_y)) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"crop: units=um needs the slide's pixel size, and '%s' "
				"records none; give level-0 pixels instead",
				path);
			return FALSE;
		}
		x /= mpp_x;
		w /= mpp_x;
		y /= mpp_y;
		h /= mpp_y;
	}
	if (w <= 0 || h <= 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"crop: width and height must be > 0 (got w=%g h=%g)", w,
			h);
		return FALSE;
	}

	/* inside the input's region, with a tolerance of a thousandth of a
	 * level-0 pixel for µm arithmetic */
	const double eps = 1e-3;
	if (x < in.x - eps || y < in.y - eps || x + w > in.x + in.w + eps ||
		y + h > in.y + in.h + eps) {
		if (node->input->op->kind == SP_OP_SOURCE)
			g_set_error(error, SP_ERROR, SP_ERROR_REGION,
				"crop: region x=%g y=%g w=%g h=%g (level-0 px) is outside "
				"'%s' (%g × %g level-0 px)",
				x, y, w, h, path, in.w, in.h);
		else
			g_set_error(error, SP_ERROR, SP_ERROR_REGION,
				"crop: region x=%g y=%g w=%g h=%g (level-0 px) is outside "
				"its input, which covers x=%g y=%g w=%g h=%g of '%s'",
				x, y, w, h, in.x, in.y, in.w, in.h, path);
		return FALSE;
	}

	int left, right, top, bottom;
	span(in.x, in.downsample_x, x, x + w, &left, &right);
	span(in.y, in.downsample_y, y, y + h, &top, &bottom);
	left = CLAMP(left, 0, in.width - 1);
	top = CLAMP(top, 0, in.height - 1);
	right = CLAMP(right, left + 1, in.width);
	bottom = CLAMP(bottom, top + 1, in.height);

	g->width = right - left;
	g->height = bottom - top;
	g->x = in.x + left * in.downsample_x;
	g->y = in.y + top * in.downsample_y;
	g->w = g->width * in.downsample_x;
	g->h = g->height * in.downsample_y;

	if (args->geojson && strcmp(args->outside, "keep") != 0) {
		CropState *state = node->priv;

		if (strcmp(args->outside, "transparent") == 0)
			g->bands += 1;
		else if (g->format != VIPS_FORMAT_UCHAR &&
			g->format != VIPS_FORMAT_USHORT) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"crop: outside=%s needs 8- or 16-bit unsigned "
				"samples, and '%s' gives %s; use "
				"outside=transparent, or 'cast' first",
				args->outside, path, sp_format_name(g->format));
			return FALSE;
		}
		/* the mask is drawn on this node's own grid: a downsample
		 * after it is computed from it, not read from a lower level */
		node->role = SP_ROLE_FILTER;
		node->report = g_strdup_printf("crop: %d annotation feature%s, "
					       "outside=%s",
			state->n_features, state->n_features == 1 ? "" : "s",
			args->outside);
	}
	return TRUE;
}

static VipsImage *
crop_build(SpNode *node, VipsImage *in, GError **error)
{
	const SpGeometry *ig = &node->input->geom;
	const SpGeometry *g = &node->geom;
	const SpCropArgs *args = node->args;
	int left = (int) floor((g->x - ig->x) / ig->downsample_x + 0.5);
	int top = (int) floor((g->y - ig->y) / ig->downsample_y + 0.5);
	VipsImage *out;

	if (vips_extract_area(in, &out, left, top, g->width, g->height, NULL)) {
		_sp_set_vips_error(error, "crop",
			sp_slide_get_path(node->slide));
		return NULL;
	}
	if (args->geojson && strcmp(args->outside, "keep") != 0) {
		CropState *state = node->priv;
		VipsImage *mask = sp_annotations_mask(state->annotations,
			state->features, state->n_features, g->x, g->y,
			g->downsample_x, g->downsample_y, g->width, g->height,
			error);
		VipsImage *masked = NULL;
		int r;

		if (!mask) {
			g_object_unref(out);
			g_prefix_error(error, "crop: ");
			return NULL;
		}
		if (strcmp(args->outside, "transparent") == 0) {
			VipsImage *alpha = mask;

			/* the alpha band in the image's own type */
			r = out->BandFmt != VIPS_FORMAT_UCHAR &&
				vips_cast(mask, &alpha, out->BandFmt, NULL);
			if (!r)
				r = vips_bandjoin2(out, alpha, &masked, NULL);
			if (alpha != mask)
				g_object_unref(alpha);
		} else {
			double max = out->BandFmt == VIPS_FORMAT_USHORT ? 65535 :
									  255;
			VipsImage *bg = vips_image_new_from_image1(out,
				strcmp(args->outside, "white") == 0 ? max : 0);

			r = !bg || vips_ifthenelse(mask, out, bg, &masked, NULL);
			if (bg)
				g_object_unref(bg);
		}
		g_object_unref(mask);
		g_object_unref(out);
		if (r) {
			_sp_set_vips_error(error, "crop",
				sp_slide_get_path(node->slide));
			return NULL;
		}
		out = masked;
	}
	return out;
}

const SpOpInfo _sp_op_crop = {
	.name = "crop",
	.summary = "cut a region out of the slide",
	.description =
		"Keeps the region X, Y, W, H. Coordinates are level-0 pixels of "
		"the slide (as in OpenSlide's read_region), whatever level or "
		"downsample the input has, or micrometres with units=um. The "
		"region must lie inside the input; the error names the slide's "
		"size. On a downsampled input the region is widened to whole "
		"input pixels. With geojson=FILE instead, the region is the "
		"bounding box of annotation polygons (QuPath's GeoJSON export, "
		"level-0 pixels), widened by margin= and clipped to the slide; "
		"outside= whitens, blackens or makes transparent what lies "
		"outside the polygons, by rasterize's rule.",
	.kind = SP_OP_FILTER,
	.any_format = TRUE,
	.role = SP_ROLE_REGION,
	.args = crop_args,
	.n_args = G_N_ELEMENTS(crop_args),
	.args_size = sizeof(SpCropArgs),
	.plan = crop_plan,
	.build = crop_build,
	.free_priv = crop_state_free,
};

SpNode *
sp_crop(SpNode *in, double x, double y, double w, double h, GError **error, ...)
{
	SpNode *node;
	SpCropArgs *args;
	va_list ap;

	if (!(node = _sp_node_begin(in ? in->graph : NULL, &_sp_op_crop, in,
		      error)))
		return NULL;
	args = node->args;
	va_start(ap, error);
	node = _sp_node_end(node,
		_sp_node_set_double(node, &args->x, x, error) &&
			_sp_node_set_double(node, &args->y, y, error) &&
			_sp_node_set_double(node, &args->w, w, error) &&
			_sp_node_set_double(node, &args->h, h, error),
		error, ap);
	va_end(ap);
	return node;
}
