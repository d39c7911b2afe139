/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* blur: a Gaussian blur, as scipy.ndimage.gaussian_filter samples it. */
#include "config.h"

#include <math.h>

#include "sp-private.h"

typedef struct {
	SpLength sigma;
} SpBlurArgs;

/* The largest sigma, in pixels of the level blur runs at: a kernel of
 * 2001 taps each way is already slow; larger blurs belong on a lower
 * level (downsample first). */
#define MAX_SIGMA 250

static const SpArgInfo blur_args[] = {
	{ "sigma", SP_ARG_LENGTH, "px of the level it runs at, or µm as 2um",
		NULL, 0.3, MAX_SIGMA, NULL, 0, TRUE,
		"standard deviation of the Gaussian",
		SP_ARG_FIELD(SpBlurArgs, sigma) },
};

int
_sp_gaussian_radius(double sigma)
{
	/* scipy.ndimage.gaussian_filter: radius = int(truncate * sigma +
	 * 0.5), truncate 4 */
	return (int) (4.0 * sigma + 0.5);
}

VipsImage *
_sp_gaussian(VipsImage *in, double sigma, const char *op, const char *path,
	GError **error)
{
	int radius = _sp_gaussian_radius(sigma);
	VipsImage *mask, *out;

	/* libvips' gaussmat keeps the offsets x whose weight exp(-x² / 2σ²)
	 * is at least min_ampl: a threshold half a pixel beyond the radius
	 * keeps exactly scipy's 2 radius + 1 taps. vips_gaussblur() runs the
	 * same gaussmat and convsep, but takes min_ampl ≥ 0.001 only, which
	 * cuts the kernel at 3.7 σ instead of 4 σ. The weights are
	 * normalised by their sum, as scipy's. */
	double min_ampl = exp(
		-(radius + 0.5) * (radius + 0.5) / (2.0 * sigma * sigma));

	min_ampl = CLAMP(min_ampl, 1e-6, 1.0);
	if (vips_gaussmat(&mask, sigma, min_ampl, "separable", TRUE,
		    "precision", VIPS_PRECISION_FLOAT, NULL)) {
		_sp_set_vips_error(error, op, path);
		return NULL;
	}
	int r = vips_convsep(in, &out, mask, "precision", VIPS_PRECISION_FLOAT,
		NULL);
	g_object_unref(mask);
	if (r) {
		_sp_set_vips_error(error, op, path);
		return NULL;
	}
	return out;
}

static gboolean
blur_plan(SpNode *node, GError **error)
{
	const SpBlurArgs *args = node->args;

	node->halo = _sp_gaussian_radius(args->sigma.px);
	node->geom.format = VIPS_FORMAT_FLOAT;
	return TRUE;
}

static VipsImage *
blur_build(SpNode *node, VipsImage *in, GError **error)
{
	const SpBlurArgs *args = node->args;

	return _sp_gaussian(in, args->sigma.px, "blur",
		sp_slide_get_path(node->slide), error);
}

const SpOpInfo _sp_op_blur = {
	.name = "blur",
	.summary = "Gaussian blur, as scipy.ndimage.gaussian_filter",
	.description =
		"Convolves every band with a Gaussian of standard deviation "
		"sigma, in pixels of the level it runs at or in micrometres "
		"(sigma=2um, through the slide's mpp). The kernel is sampled as "
		"scipy.ndimage.gaussian_filter samples it with truncate=4: "
		"round(4 sigma) pixels each way, weights exp(-x²/2sigma²) "
		"normalised to sum 1, applied along rows then columns (libvips "
		"gaussmat and convsep, the two steps of libvips gaussblur, with "
		"the kernel's cut-off set to scipy's). Output: 32-bit float, "
		"same size and bands (save it with compression=lzw, deflate, "
		"zstd or none). Lazy and tiled: each tile reads a halo of "
		"round(4 sigma) pixels around it ('slidepipe explain' shows "
		"it); at the image's edges the outermost pixels are repeated, "
		"where scipy reflects. A filter: it runs at its input's level, "
		"so after 'downsample 4' it blurs the reduced image.",
	.kind = SP_OP_FILTER,
	.any_format = TRUE,
	.role = SP_ROLE_FILTER,
	.args = blur_args,
	.n_args = G_N_ELEMENTS(blur_args),
	.args_size = sizeof(SpBlurArgs),
	.plan = blur_plan,
	.build = blur_build,
};
