/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* morph: binary erosion, dilation, opening and closing of a mask with a
 * disk or a square (libvips morph).
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "sp-private.h"

typedef struct {
	char *operation;
	SpLength radius;
	char *shape;
} SpMorphArgs;

static const char *const operation_choices[] = { "open", "close", "erode",
	"dilate", NULL };
static const char *const shape_choices[] = { "disk", "square", NULL };

/* The largest radius, in pixels of the level morph runs at: a disk of
 * radius 64 is 12,869 mask elements tested per pixel already. */
#define MAX_RADIUS 64

static const SpArgInfo morph_args[] = {
	{ "operation", SP_ARG_CHOICE, NULL, NULL, 0, 0, operation_choices, 0,
		TRUE,
		"erode, dilate, open (erode then dilate: removes specks) or close "
		"(dilate then erode: fills gaps)",
		SP_ARG_FIELD(SpMorphArgs, operation) },
	{ "radius", SP_ARG_LENGTH, "px of the level it runs at, or µm as 2um",
		NULL, 1, MAX_RADIUS, NULL, 1, TRUE,
		"radius R of the structuring element",
		SP_ARG_FIELD(SpMorphArgs, radius) },
	{ "shape", SP_ARG_CHOICE, NULL, "disk", 0, 0, shape_choices, -1, FALSE,
		"disk: the offsets (x, y) with x² + y² ≤ R² "
		"(skimage.morphology.disk(R)); square: (2 floor(R) + 1)²",
		SP_ARG_FIELD(SpMorphArgs, shape) },
};

static gboolean
is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* floor(R), R a length in pixels (at least 1). */
static int
whole_radius(const SpMorphArgs *args)
{
	return (int) floor(args->radius.px + 1e-9);
}

static gboolean
morph_plan(SpNode *node, GError **error)
{
	const SpMorphArgs *args = node->args;
	int r = whole_radius(args);

	node->geom.format = VIPS_FORMAT_UCHAR;
	if (node->geom.bands != 1) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"morph: argument 'operation': morphology works on a 0/255 "
			"mask (one band, e.g. from threshold), and '%s' gives %d "
			"bands here",
			sp_slide_get_path(node->slide), node->geom.bands);
		return FALSE;
	}
	/* open and close read the border twice: erode's, then dilate's */
	node->halo = is(args->operation, "open") ||
			is(args->operation, "close") ?
		2 * r :
		r;
	return TRUE;
}

/* A libvips morphology mask, @w × @h: 255 where the structuring element
 * is, 128 (do not care) elsewhere. The disk is skimage.morphology.disk's
 * (0.19): the offsets with x² + y² ≤ R², R the length given. */
static VipsImage *
make_mask(int w, int h, double radius, gboolean disk)
{
	double *m = g_new(double, (gsize) w *h);
	VipsImage *mask;

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			double dx = x - w / 2, dy = y - h / 2;

			m[y * w + x] = !disk ||
					dx * dx + dy * dy <=
						radius * radius + 1e-9 ?
				255 :
				128;
		}
	mask = vips_image_new_matrix_from_array(w, h, m, w * h);
	g_free(m);
	return mask;
}

/* One erosion or dilation of the 0/255 image @in by the structuring
 * element: the disk as one mask; the square as a row then a column,
 * which is the same set (a square is the Minkowski sum of its sides)
 * for 2 (2 R + 1) tests per pixel instead of (2 R + 1)². */
static int
morph_once(VipsImage *in, VipsImage **out, const SpMorphArgs *args,
	VipsOperationMorphology op)
{
	int r = whole_radius(args), side = 2 * r + 1;
	VipsImage *row, *column, *t;
	int ret;

	if (is(args->shape, "disk")) {
		if (!(row = make_mask(side, side, args->radius.px, TRUE)))
			return -1;
		ret = vips_morph(in, out, row, op, NULL);
		g_object_unref(row);
		return ret;
	}
	if (!(row = make_mask(side, 1, r, FALSE)))
		return -1;
	if (!(column = make_mask(1, side, r, FALSE))) {
		g_object_unref(row);
		return -1;
	}
	ret = vips_morph(in, &t, row, op, NULL);
	if (!ret) {
		ret = vips_morph(t, out, column, op, NULL);
		g_object_unref(t);
	}
	g_object_unref(row);
	g_object_unref(column);
	return ret;
}

static VipsImage *
morph_build(SpNode *node, VipsImage *in, GError **error)
{
	const SpMorphArgs *args = node->args;
	const char *operation = args->operation;
	VipsOperationMorphology first, second;
	VipsImage *mask, *t, *out;
	int r;

	/* libvips morph combines bytes with bitwise and/or: make the input
	 * exactly 0/255 (any non-zero value is foreground) */
	if (vips_notequal_const1(in, &mask, 0.0, NULL)) {
		_sp_set_vips_error(error, "morph",
			sp_slide_get_path(node->slide));
		return NULL;
	}
	first = is(operation, "erode") || is(operation, "open") ?
		VIPS_OPERATION_MORPHOLOGY_ERODE :
		VIPS_OPERATION_MORPHOLOGY_DILATE;
	second = first == VIPS_OPERATION_MORPHOLOGY_ERODE ?
		VIPS_OPERATION_MORPHOLOGY_DILATE :
		VIPS_OPERATION_MORPHOLOGY_ERODE;
	r = morph_once(mask, &t, args, first);
	g_object_unref(mask);
	if (!r && (is(operation, "open") || is(operation, "close"))) {
		r = morph_once(t, &out, args, second);
		g_object_unref(t);
	} else if (!r)
		out = t;
	if (r) {
		_sp_set_vips_error(error, "morph",
			sp_slide_get_path(node->slide));
		return NULL;
	}
	VipsImage *copy;
	r = vips_copy(out, &copy, "interpretation", VIPS_INTERPRETATION_B_W,
		NULL);
	g_object_unref(out);
	if (r) {
		_sp_set_vips_error(error, "morph",
			sp_slide_get_path(node->slide));
		return NULL;
	}
	return copy;
}

const SpOpInfo _sp_op_morph = {
	.name = "morph",
	.summary = "erode, dilate, open or close a mask (disk or square)",
	.description =
		"Binary morphology of a one-band mask (any non-zero value is "
		"foreground; output 0/255) with a disk of radius R (the offsets "
		"x² + y² ≤ R², as skimage.morphology.disk(R)) or a square of side "
		"2 floor(R) + 1. erode keeps the pixels whose whole neighbourhood "
		"is foreground, dilate marks those with any, open is erode then "
		"dilate (removes objects and spurs narrower than the element), "
		"close is dilate then erode (fills holes and gaps narrower than "
		"it), as scipy.ndimage's binary_erosion, binary_dilation, "
		"binary_opening and binary_closing. R in pixels of the level it "
		"runs at, or in micrometres (radius=2um) through the slide's "
		"mpp; at most 64 px (downsample first for more). libvips morph, "
		"lazy and tiled: each tile reads a halo of R pixels (2 R for "
		"open and close); at the image's edges the outermost pixels are "
		"repeated (scipy takes the outside as background for erosion).",
	.kind = SP_OP_FILTER,
	.role = SP_ROLE_FILTER,
	.args = morph_args,
	.n_args = G_N_ELEMENTS(morph_args),
	.args_size = sizeof(SpMorphArgs),
	.plan = morph_plan,
	.build = morph_build,
};
