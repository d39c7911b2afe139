/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* crop: a region of the slide, in level-0 pixels or micrometres. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "sp-private.h"

static const char *const units_choices[] = { "px", "um", NULL };

#define COORD_MAX 1e12

typedef struct {
	double x, y, w, h;
	char *units;
} SpCropArgs;

static const SpArgInfo crop_args[] = {
	{ "x", SP_ARG_DOUBLE, "level-0 px (µm with units=um)", NULL, 0,
		COORD_MAX, NULL, 0, TRUE, "left edge of the region",
		SP_ARG_FIELD(SpCropArgs, x) },
	{ "y", SP_ARG_DOUBLE, "level-0 px (µm with units=um)", NULL, 0,
		COORD_MAX, NULL, 1, TRUE, "top edge of the region",
		SP_ARG_FIELD(SpCropArgs, y) },
	{ "w", SP_ARG_DOUBLE, "level-0 px (µm with units=um)", NULL, 0,
		COORD_MAX, NULL, 2, TRUE, "width of the region, > 0",
		SP_ARG_FIELD(SpCropArgs, w) },
	{ "h", SP_ARG_DOUBLE, "level-0 px (µm with units=um)", NULL, 0,
		COORD_MAX, NULL, 3, TRUE, "height of the region, > 0",
		SP_ARG_FIELD(SpCropArgs, h) },
	{ "units", SP_ARG_CHOICE, NULL, "px", 0, 0, units_choices, -1, FALSE,
		"units of x, y, w, h: level-0 pixels or micrometres "
		"(needs the slide's mpp)",
		SP_ARG_FIELD(SpCropArgs, units) },
};

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

	if (strcmp(args->units, "um") == 0) {
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
	return TRUE;
}

static VipsImage *
crop_build(SpNode *node, VipsImage *in, GError **error)
{
	const SpGeometry *ig = &node->input->geom;
	const SpGeometry *g = &node->geom;
	int left = (int) floor((g->x - ig->x) / ig->downsample_x + 0.5);
	int top = (int) floor((g->y - ig->y) / ig->downsample_y + 0.5);
	VipsImage *out;

	if (vips_extract_area(in, &out, left, top, g->width, g->height, NULL)) {
		_sp_set_vips_error(error, "crop",
			sp_slide_get_path(node->slide));
		return NULL;
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
		"input pixels.",
	.kind = SP_OP_FILTER,
	.any_format = TRUE,
	.role = SP_ROLE_REGION,
	.args = crop_args,
	.n_args = G_N_ELEMENTS(crop_args),
	.args_size = sizeof(SpCropArgs),
	.plan = crop_plan,
	.build = crop_build,
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
