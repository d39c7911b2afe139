/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* threshold: a 0/255 mask from a fixed value, Otsu's method, or a local
 * (adaptive) threshold as scikit-image's threshold_local. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "sp-private.h"

static const char *const method_choices[] = { "otsu", "value", "local", NULL };
static const char *const channel_choices[] = { "saturation", "gray", NULL };
static const char *const mode_choices[] = { "gaussian", "mean", NULL };

/* The largest local block, in pixels of the level threshold runs at: a
 * mean over 1001 × 1001 is two passes of 1001 taps per pixel. */
#define MAX_BLOCK 1001

/* SpThresholdArgs is in sp-private.h: tiles reports the channel of its
 * default mask. */
static const SpArgInfo threshold_args[] = {
	{ "value", SP_ARG_DOUBLE, "channel value", NULL, -3.4e38, 3.4e38, NULL,
		-1, FALSE,
		"fixed threshold (implies method=value), in the input's sample "
		"range: 0 … 255 for 8-bit, 0 … 65535 for uint16, …",
		SP_ARG_FIELD(SpThresholdArgs, value) },
	{ "method", SP_ARG_CHOICE, NULL, NULL, 0, 0, method_choices, -1, FALSE,
		"how the threshold is chosen (default: otsu, or value when "
		"value= is given); local: a threshold per pixel, the weighted "
		"mean of the block around it minus offset",
		SP_ARG_FIELD(SpThresholdArgs, method) },
	{ "channel", SP_ARG_CHOICE, NULL, "saturation", 0, 0, channel_choices,
		-1, FALSE,
		"what is thresholded: HSV saturation (tissue is coloured, glass "
		"is not) or grey level; a 1-band input is used as it is",
		SP_ARG_FIELD(SpThresholdArgs, channel) },
	{ "invert", SP_ARG_BOOL, NULL, "false", 0, 0, NULL, -1, FALSE,
		"mark pixels at or below the threshold instead of above it (use "
		"with channel=gray: tissue is darker than glass)",
		SP_ARG_FIELD(SpThresholdArgs, invert) },
	{ "block", SP_ARG_LENGTH, "px of the level it runs at, or µm as 20um",
		NULL, 3, MAX_BLOCK, NULL, -1, FALSE,
		"method=local: side of the neighbourhood, an odd number of "
		"pixels (a length in µm is rounded to the nearest odd number)",
		SP_ARG_FIELD(SpThresholdArgs, block) },
	{ "offset", SP_ARG_DOUBLE, "channel value", NULL, -1e6, 1e6, NULL, -1,
		FALSE,
		"method=local: subtracted from the local mean (default 0)",
		SP_ARG_FIELD(SpThresholdArgs, offset) },
	{ "mode", SP_ARG_CHOICE, NULL, NULL, 0, 0, mode_choices, -1, FALSE,
		"method=local: gaussian (default: weights of a Gaussian of sigma "
		"(block - 1) / 6) or mean (the block × block box)",
		SP_ARG_FIELD(SpThresholdArgs, mode) },
};

/* The largest side of the view Otsu's histogram is taken from. */
#define OTSU_VIEW_SIDE 2048

typedef struct {
	gboolean have_value;
	double value;
	gboolean local;
	int block; /* method=local: odd, in pixels */
	gboolean mean; /* method=local mode=mean */
} ThresholdState;

/* Otsu's threshold for a 256-bin histogram: the t maximising the
 * between-class variance of [0, t] and (t, 255] (N. Otsu, IEEE Trans.
 * Systems, Man and Cybernetics 9(1):62–66, 1979). Where a range of t ties
 * (an empty gap between two classes), the middle of the range. */
static int
otsu(const double *hist, int n)
{
	double total = 0, sum = 0;
	double w0 = 0, sum0 = 0, best = -1;
	int first = 0, last = 0;

	for (int i = 0; i < n; i++) {
		total += hist[i];
		sum += i * hist[i];
	}
	if (total <= 0)
		return 0;
	for (int t = 0; t < n - 1; t++) {
		w0 += hist[t];
		sum0 += t * hist[t];
		double w1 = total - w0;
		if (w0 <= 0 || w1 <= 0)
			continue;
		double m0 = sum0 / w0, m1 = (sum - sum0) / w1;
		double between = w0 * w1 * (m0 - m1) * (m0 - m1);
		if (between > best * (1 + 1e-12)) {
			best = between;
			first = last = t;
		} else if (between >= best * (1 - 1e-12))
			last = t;
	}
	return (first + last) / 2;
}

/* The 1-band channel the threshold applies to. */
static VipsImage *
channel_image(SpNode *node, VipsImage *in, GError **error)
{
	const SpThresholdArgs *args = node->args;
	const char *channel = args->channel;
	VipsImage *t, *out;

	if (in->Bands == 1)
		return g_object_ref(in);
	if (strcmp(channel, "saturation") == 0) {
		if (vips_sRGB2HSV(in, &t, NULL))
			goto fail;
		int r = vips_extract_band(t, &out, 1, NULL);
		g_object_unref(t);
		if (r)
			goto fail;
		return out;
	}
	if (vips_colourspace(in, &out, VIPS_INTERPRETATION_B_W, NULL))
		goto fail;
	return out;
fail:
	_sp_set_vips_error(error, "threshold", sp_slide_get_path(node->slide));
	return NULL;
}

static gboolean
compute_otsu(SpNode *node, ThresholdState *state, GError **error)
{
	VipsImage *view, *channel, *hist;
	double lo = 0, scale = 1;
	int level;

	if (!(view = _sp_node_low_res_view(node->input, OTSU_VIEW_SIDE, &level,
		      error)))
		return FALSE;
	channel = channel_image(node, view, error);
	if (!channel) {
		g_object_unref(view);
		return FALSE;
	}
	if (channel->BandFmt != VIPS_FORMAT_UCHAR &&
		channel->BandFmt != VIPS_FORMAT_USHORT) {
		/* 256 bins over the values found: lo + bin × scale */
		double hi;
		VipsImage *t;

		if (vips_min(channel, &lo, NULL) ||
			vips_max(channel, &hi, NULL) ||
			(scale = hi > lo ? (hi - lo) / 255.0 : 1,
				vips_linear1(channel, &t, 1.0 / scale,
					-lo / scale, "uchar", TRUE, NULL))) {
			g_object_unref(channel);
			g_object_unref(view);
			_sp_set_vips_error(error, "threshold",
				sp_slide_get_path(node->slide));
			return FALSE;
		}
		g_object_unref(channel);
		channel = t;
	}
	if (vips_hist_find(channel, &hist, NULL)) {
		g_object_unref(channel);
		g_object_unref(view);
		_sp_set_vips_error(error, "threshold",
			sp_slide_get_path(node->slide));
		return FALSE;
	}
	/* hist is 256 × 1 (65536 × 1 for 16-bit), one band, uint */
	VipsImage *d;
	void *mem;
	size_t size;
	if (vips_cast_double(hist, &d, NULL) ||
		!(mem = vips_image_write_to_memory(d, &size))) {
		g_object_unref(hist);
		g_object_unref(channel);
		g_object_unref(view);
		_sp_set_vips_error(error, "threshold",
			sp_slide_get_path(node->slide));
		return FALSE;
	}
	state->value = otsu(mem, size / sizeof(double));
	g_free(mem);
	if (scale != 1 || lo != 0)
		/* the middle of the bin's values */
		state->value = lo + (state->value + 0.5) * scale;
	state->have_value = TRUE;
	node->report = g_strdup_printf(
		"threshold: Otsu value %g on %s, from a %d × %d view read at "
		"level %d",
		state->value,
		channel->Bands == 1 && view->Bands == 1 ?
			"the grey input" :
			((SpThresholdArgs *) node->args)->channel,
		view->Xsize, view->Ysize, level);
	g_object_unref(d);
	g_object_unref(hist);
	g_object_unref(channel);
	g_object_unref(view);
	return TRUE;
}

/* method=local: the block in pixels, an odd whole number; a length in
 * µm is rounded to the nearest odd number of pixels. */
static gboolean
plan_local(SpNode *node, ThresholdState *state, GError **error)
{
	const SpThresholdArgs *args = node->args;
	double px = args->block.px;

	if (!_sp_node_given(node, &args->block)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"threshold: method=local needs block=N (an odd number of "
			"pixels, or a length in µm)");
		return FALSE;
	}
	if (args->block.um)
		state->block = 2 * (int) floor((px - 1) / 2 + 0.5) + 1;
	else if (px != floor(px) || (int) px % 2 == 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"threshold: argument 'block': %g is not an odd whole number "
			"of pixels (the block is centred on its pixel, as "
			"threshold_local's)",
			px);
		return FALSE;
	} else
		state->block = (int) px;
	state->block = CLAMP(state->block, 3, MAX_BLOCK);
	state->local = TRUE;
	state->mean = args->mode && strcmp(args->mode, "mean") == 0;
	node->halo = state->mean ?
		state->block / 2 :
		_sp_gaussian_radius((state->block - 1) / 6.0);
	/* the threshold of a pixel depends on its neighbours */
	node->role = SP_ROLE_FILTER;
	return TRUE;
}

static gboolean
threshold_plan(SpNode *node, GError **error)
{
	const SpThresholdArgs *args = node->args;
	const char *method = args->method;
	gboolean has_value = _sp_node_given(node, &args->value);
	ThresholdState *state = g_new0(ThresholdState, 1);
	gboolean local = method && strcmp(method, "local") == 0;
	double lo, hi;

	node->priv = state;
	node->geom.format = VIPS_FORMAT_UCHAR;
	/* a value is of the input's samples: 0 … 255 for 8-bit */
	_sp_format_range(node->input->geom.format, &lo, &hi);
	if (has_value && (args->value < lo || args->value > hi)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"threshold: argument 'value': %g is out of range (%g … %g "
			"for %s samples)",
			args->value, lo, hi,
			sp_format_name(node->input->geom.format));
		return FALSE;
	}
	if (local && has_value) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"threshold: give either method=local or value=V, not both");
		return FALSE;
	}
	if (!local) {
		const char *only_local = _sp_node_given(node, &args->block) ?
			"block" :
			_sp_node_given(node, &args->offset) ? "offset" :
			_sp_node_given(node, &args->mode)   ? "mode" :
							      NULL;
		if (only_local) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"threshold: argument '%s' applies to method=local "
				"only",
				only_local);
			return FALSE;
		}
	}
	if (local && !plan_local(node, state, error))
		return FALSE;
	if (method && strcmp(method, "otsu") == 0 && has_value) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"threshold: give either method=otsu or value=V, not both");
		return FALSE;
	}
	if (method && strcmp(method, "value") == 0 && !has_value) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"threshold: method=value needs value=V");
		return FALSE;
	}
	if (has_value) {
		state->value = args->value;
		state->have_value = TRUE;
	}
	node->geom.bands = 1;
	return TRUE;
}

/* A mask image with its header set on a copy of its own: @out may be
 * shared through libvips' operation cache. Takes @out. */
static VipsImage *
mask_copy(SpNode *node, VipsImage *out, GError **error)
{
	VipsImage *copy;
	int r = vips_copy(out, &copy, "interpretation", VIPS_INTERPRETATION_B_W,
		NULL);

	g_object_unref(out);
	if (r) {
		_sp_set_vips_error(error, "threshold",
			sp_slide_get_path(node->slide));
		return NULL;
	}
	return copy;
}

/* method=local, as skimage.filters.threshold_local (0.19): T = the
 * local mean of the block around each pixel (mode=gaussian: Gaussian
 * weights of sigma (block - 1) / 6, truncated at 4 sigma as
 * scipy.ndimage.gaussian_filter; mode=mean: the block × block box, as
 * scipy.ndimage.uniform_filter) minus offset; the mask is 255 where the
 * channel is above T (at or below with invert), as the fixed and Otsu
 * thresholds, and as skimage's `image > threshold_local(image, …)`.
 * Float arithmetic (libvips convsep). */
static VipsImage *
threshold_local(SpNode *node, VipsImage *in, GError **error)
{
	const SpThresholdArgs *args = node->args;
	ThresholdState *state = node->priv;
	const char *path = sp_slide_get_path(node->slide);
	VipsImage *channel, *mean = NULL, *t = NULL, *out = NULL;
	int r = 0;

	if (!(channel = channel_image(node, in, error)))
		return NULL;
	if (state->mean) {
		/* the box: a row of ones then a column, each divided by its
		 * sum (the matrix's scale) */
		VipsImage *box = vips_image_new_matrix(state->block, 1);

		if (!box)
			r = -1;
		else {
			for (int i = 0; i < state->block; i++)
				*VIPS_MATRIX(box, i, 0) = 1.0;
			vips_image_set_double(box, "scale", state->block);
			vips_image_set_double(box, "offset", 0.0);
			r = vips_convsep(channel, &mean, box, "precision",
				VIPS_PRECISION_FLOAT, NULL);
			g_object_unref(box);
		}
	} else if (!(mean = _sp_gaussian(channel, (state->block - 1) / 6.0,
			     "threshold", path, error))) {
		g_object_unref(channel);
		return NULL;
	}
	if (!r)
		r = vips_linear1(mean, &t, 1.0, -args->offset, NULL);
	if (!r)
		r = args->invert ?
			vips_relational(channel, t, &out,
				VIPS_OPERATION_RELATIONAL_LESSEQ, NULL) :
			vips_relational(channel, t, &out,
				VIPS_OPERATION_RELATIONAL_MORE, NULL);
	g_object_unref(channel);
	if (mean)
		g_object_unref(mean);
	if (t)
		g_object_unref(t);
	if (r) {
		_sp_set_vips_error(error, "threshold", path);
		return NULL;
	}
	return mask_copy(node, out, error);
}

static VipsImage *
threshold_build(SpNode *node, VipsImage *in, GError **error)
{
	ThresholdState *state = node->priv;
	VipsImage *channel, *out;
	int r;

	if (state->local)
		return threshold_local(node, in, error);
	/* Otsu's value is measured once, on a small view, never on @in */
	if (!state->have_value && !compute_otsu(node, state, error))
		return NULL;
	if (!(channel = channel_image(node, in, error)))
		return NULL;
	if (((SpThresholdArgs *) node->args)->invert)
		r = vips_lesseq_const1(channel, &out, state->value, NULL);
	else
		r = vips_more_const1(channel, &out, state->value, NULL);
	g_object_unref(channel);
	if (r) {
		_sp_set_vips_error(error, "threshold",
			sp_slide_get_path(node->slide));
		return NULL;
	}
	/* @out may be shared through libvips' operation cache (another
	 * threshold of the same input at the same value gets the same
	 * image): the header and metadata are set on a copy of its own */
	VipsImage *copy;
	r = vips_copy(out, &copy, "interpretation", VIPS_INTERPRETATION_B_W,
		NULL);
	g_object_unref(out);
	if (r) {
		_sp_set_vips_error(error, "threshold",
			sp_slide_get_path(node->slide));
		return NULL;
	}
	vips_image_set_double(copy, "slidepipe-threshold", state->value);
	return copy;
}

const SpOpInfo _sp_op_threshold = {
	.name = "threshold",
	.summary = "make a 0/255 mask: fixed, Otsu or local threshold",
	.description =
		"Makes a one-band 8-bit mask: 255 where the channel is above the "
		"threshold, 0 elsewhere (the reverse with invert). With "
		"method=otsu (the default) the threshold is Otsu's (1979), "
		"computed from the histogram of a low-resolution view of the "
		"same region, long side at most 2048 pixels, read from a "
		"pyramid level when there is one, so level 0 is never read for "
		"it; the value used is printed and stored in the image as "
		"slidepipe-threshold. Tissue detection on H&E: the default, "
		"saturation with Otsu. method=local block=N is an adaptive "
		"threshold, as scikit-image's threshold_local (0.19): each pixel's "
		"threshold is the mean of the N × N block around it, weighted by "
		"a Gaussian of sigma (N - 1) / 6 truncated at 4 sigma "
		"(mode=gaussian, the default) or unweighted (mode=mean), minus "
		"offset, so the mask is skimage's image > threshold_local(image, "
		"N, mode, offset=offset). N is an odd number of pixels of the "
		"level threshold runs at (3 … 1001), or micrometres (block=25um, "
		"rounded to the nearest odd number of pixels). It works on any "
		"one-band input, 8-bit or float (e.g. deconvolve's output), and "
		"on the channel of an RGB input. At the image's edges the "
		"outermost pixels are repeated where skimage reflects. Fixed and "
		"Otsu thresholds are pointwise (after a downsample they run on "
		"the level the planner reads); a local threshold is a filter: "
		"it runs at its input's level and reads a halo around each tile "
		"(the Gaussian's radius, or N / 2), shown by 'slidepipe explain'.",
	.kind = SP_OP_FILTER,
	.any_format = TRUE,
	/* method=local makes a node a filter (threshold_plan) */
	.role = SP_ROLE_POINTWISE,
	.args = threshold_args,
	.n_args = G_N_ELEMENTS(threshold_args),
	.args_size = sizeof(SpThresholdArgs),
	.plan = threshold_plan,
	.build = threshold_build,
	.free_priv = g_free,
};

SpNode *
sp_threshold(SpNode *in, GError **error, ...)
{
	SpNode *node;
	va_list ap;

	if (!(node = _sp_node_begin(in ? in->graph : NULL, &_sp_op_threshold,
		      in, error)))
		return NULL;
	va_start(ap, error);
	node = _sp_node_end(node, TRUE, error, ap);
	va_end(ap);
	return node;
}
