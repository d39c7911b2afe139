/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* downsample: reduce by a factor or to a target pixel size. */
#include "config.h"

#include <math.h>

#include "sp-private.h"

typedef struct {
	double factor;
	double mpp;
	gboolean exact;
} SpDownsampleArgs;

static const SpArgInfo downsample_args[] = {
	{ "factor", SP_ARG_DOUBLE, "×", NULL, 1, 1e6, NULL, 0, FALSE,
		"input pixels per output pixel along each axis (whole numbers "
		"average FACTOR × FACTOR blocks)",
		SP_ARG_FIELD(SpDownsampleArgs, factor) },
	{ "mpp", SP_ARG_DOUBLE, "µm per pixel", NULL, 1e-6, 1e6, NULL, -1,
		FALSE,
		"target pixel size instead of a factor (needs the slide's mpp)",
		SP_ARG_FIELD(SpDownsampleArgs, mpp) },
	{ "exact", SP_ARG_BOOL, NULL, "false", 0, 0, NULL, -1, FALSE,
		"compute from the input's level instead of reading a lower "
		"pyramid level (see 'slidepipe explain')",
		SP_ARG_FIELD(SpDownsampleArgs, exact) },
};

static int
out_size(double in, double factor)
{
	return MAX(1, (int) floor(in / factor + 0.5));
}

static gboolean
downsample_plan(SpNode *node, GError **error)
{
	const SpGeometry in = node->input->geom;
	SpGeometry *g = &node->geom;
	const SpDownsampleArgs *args = node->args;
	gboolean has_factor = _sp_node_given(node, &args->factor);
	gboolean has_mpp = _sp_node_given(node, &args->mpp);
	double factor;

	node->exact = args->exact;

	if (has_factor == has_mpp) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"downsample: give either a FACTOR or mpp=M%s",
			has_factor ? ", not both" : "");
		return FALSE;
	}
	if (has_mpp) {
		double mpp = args->mpp;

		if (in.mpp_x <= 0) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"downsample: mpp=%g needs the slide's pixel size, and '%s' "
				"records none; give a FACTOR instead",
				mpp, sp_slide_get_path(node->slide));
			return FALSE;
		}
		factor = mpp / in.mpp_x;
		if (factor < 1 - 1e-6) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"downsample: mpp=%g is finer than the input's %g µm per "
				"pixel; downsample cannot enlarge",
				mpp, in.mpp_x);
			return FALSE;
		}
		factor = MAX(factor, 1.0);
		/* 2.0000001 from µm arithmetic is 2 */
		if (fabs(factor - floor(factor + 0.5)) < 1e-6)
			factor = floor(factor + 0.5);
	} else
		factor = args->factor;

	node->priv = g_memdup2(&factor, sizeof(factor));
	g->width = out_size(in.width, factor);
	g->height = out_size(in.height, factor);
	if (_sp_is_whole_factor(factor)) {
		/* vips_shrink: output pixel i averages input [i·f, (i+1)·f) */
		g->downsample_x = in.downsample_x * factor;
		g->downsample_y = in.downsample_y * factor;
	} else {
		g->downsample_x = in.downsample_x * in.width / g->width;
		g->downsample_y = in.downsample_y * in.height / g->height;
	}
	g->w = g->width * g->downsample_x;
	g->h = g->height * g->downsample_y;
	g->mpp_x = in.mpp_x > 0 ? in.mpp_x * g->downsample_x / in.downsample_x :
				  0;
	g->mpp_y = in.mpp_y > 0 ? in.mpp_y * g->downsample_y / in.downsample_y :
				  0;
	return TRUE;
}

/* The planner's reduction (src/plan.c), from the input's level. */
static VipsImage *
downsample_build(SpNode *node, VipsImage *in, GError **error)
{
	double factor = *(double *) node->priv;
	const SpGeometry *g = &node->geom;

	return _sp_reduce(in, factor, factor, g->width, g->height, "downsample",
		sp_slide_get_path(node->slide), error);
}

const SpOpInfo _sp_op_downsample = {
	.name = "downsample",
	.summary = "reduce resolution by a factor or to a pixel size",
	.description =
		"Reduces the image by FACTOR along each axis, or to mpp=M "
		"micrometres per pixel. Whole factors average FACTOR × FACTOR "
		"blocks (area averaging, libvips shrink); fractional factors "
		"box-shrink then resample with a Lanczos-3 kernel (libvips "
		"resize), which antialiases. The output size is the input size "
		"divided by the factor, rounded to the nearest pixel; the mpp "
		"of the result scales with the factor. Unless exact is given, "
		"the planner reads the pyramid level whose downsample is the "
		"largest not above the one wanted and reduces only the rest.",
	.kind = SP_OP_FILTER,
	.any_format = TRUE,
	.role = SP_ROLE_REDUCTION,
	.args = downsample_args,
	.n_args = G_N_ELEMENTS(downsample_args),
	.args_size = sizeof(SpDownsampleArgs),
	.plan = downsample_plan,
	.build = downsample_build,
	.free_priv = g_free,
};

SpNode *
sp_downsample(SpNode *in, double factor, GError **error, ...)
{
	SpNode *node;
	SpDownsampleArgs *args;
	va_list ap;

	if (!(node = _sp_node_begin(in ? in->graph : NULL, &_sp_op_downsample,
		      in, error)))
		return NULL;
	args = node->args;
	va_start(ap, error);
	/* 0: the optional arguments say (mpp=) */
	node = _sp_node_end(node,
		factor == 0 ||
			_sp_node_set_double(node, &args->factor, factor, error),
		error, ap);
	va_end(ap);
	return node;
}
