/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* threshold: a 0/255 mask from a fixed value or Otsu's method. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "sp-private.h"

static const char *const method_choices[] = { "otsu", "value", NULL };
static const char *const channel_choices[] = { "saturation", "gray", NULL };

/* SpThresholdArgs is in sp-private.h: tiles reports the channel of its
 * default mask. */
static const SpArgInfo threshold_args[] = {
	{ "value", SP_ARG_DOUBLE, "0 … 255 channel value", NULL, 0, 255, NULL,
		-1, FALSE, "fixed threshold (implies method=value)",
		SP_ARG_FIELD(SpThresholdArgs, value) },
	{ "method", SP_ARG_CHOICE, NULL, NULL, 0, 0, method_choices, -1, FALSE,
		"how the threshold is chosen (default: otsu, or value when "
		"value= is given)",
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
};

/* The largest side of the view Otsu's histogram is taken from. */
#define OTSU_VIEW_SIDE 2048

typedef struct {
	gboolean have_value;
	double value;
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
	double bins[256] = { 0 };
	int level;

	if (!(view = _sp_node_low_res_view(node->input, OTSU_VIEW_SIDE, &level,
		      error)))
		return FALSE;
	channel = channel_image(node, view, error);
	if (!channel) {
		g_object_unref(view);
		return FALSE;
	}
	if (vips_hist_find(channel, &hist, NULL)) {
		g_object_unref(channel);
		g_object_unref(view);
		_sp_set_vips_error(error, "threshold",
			sp_slide_get_path(node->slide));
		return FALSE;
	}
	/* hist is 256 × 1, one band, uint or double */
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
	memcpy(bins, mem, MIN(size, sizeof(bins)));
	g_free(mem);
	state->value = otsu(bins, 256);
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

static gboolean
threshold_plan(SpNode *node, GError **error)
{
	const SpThresholdArgs *args = node->args;
	const char *method = args->method;
	gboolean has_value = _sp_node_given(node, &args->value);
	ThresholdState *state = g_new0(ThresholdState, 1);

	node->priv = state;
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

static VipsImage *
threshold_build(SpNode *node, VipsImage *in, GError **error)
{
	ThresholdState *state = node->priv;
	VipsImage *channel, *out;
	int r;

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
	.summary = "make a 0/255 tissue mask",
	.description =
		"Makes a one-band 8-bit mask: 255 where the channel is above the "
		"threshold, 0 elsewhere (the reverse with invert). With "
		"method=otsu (the default) the threshold is Otsu's (1979), "
		"computed from the histogram of a low-resolution view of the "
		"same region, long side at most 2048 pixels, read from a "
		"pyramid level when there is one, so level 0 is never read for "
		"it; the value used is printed and stored in the image as "
		"slidepipe-threshold. Tissue detection on H&E: the default, "
		"saturation with Otsu.",
	.kind = SP_OP_FILTER,
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
