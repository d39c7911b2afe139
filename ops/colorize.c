/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* colorize: an RGB composite of fluorescence channels, each in its own
 * colour over its own display range. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "sp-private.h"

typedef struct {
	char *colours;
	char *ranges;
} SpColorizeArgs;

static const SpArgInfo colorize_args[] = {
	{ "colours", SP_ARG_STRING, "#RRGGBB,…", NULL, 0, 0, NULL, -1, FALSE,
		"one colour per channel (default: the file's OME Channel Color, "
		"else blue, green, red, magenta, cyan, yellow, grey in turn)",
		SP_ARG_FIELD(SpColorizeArgs, colours) },
	{ "ranges", SP_ARG_STRING, "auto, type or MIN:MAX,…", "auto", 0, 0,
		NULL, -1, FALSE,
		"each channel's display range, mapped to 0 … full colour: auto "
		"the lowest to the highest value found (measured once on a "
		"view of at most 2048 px a side), type the sample type's own "
		"(0 … 65535 for uint16), or one MIN:MAX per channel",
		SP_ARG_FIELD(SpColorizeArgs, ranges) },
};

#define AUTO_VIEW_SIDE 2048

static const guint8 default_colours[][3] = { { 0, 0, 255 }, { 0, 255, 0 },
	{ 255, 0, 0 }, { 255, 0, 255 }, { 0, 255, 255 }, { 255, 255, 0 },
	{ 255, 255, 255 } };

typedef struct {
	int n; /* channels */
	int in_c;
	double (*rgb)[3]; /* colour of each, 0 … 1 */
	double *lo, *hi;
	gboolean measured;
} ColorizeState;

static void
colorize_state_free(void *data)
{
	ColorizeState *state = data;

	g_free(state->rgb);
	g_free(state->lo);
	g_free(state->hi);
	g_free(state);
}

static gboolean
parse_colour(const char *text, double rgb[3])
{
	unsigned v;
	char *end;

	if (text[0] != '#' || strlen(text) != 7)
		return FALSE;
	v = (unsigned) strtoul(text + 1, &end, 16);
	if (*end)
		return FALSE;
	rgb[0] = ((v >> 16) & 0xff) / 255.0;
	rgb[1] = ((v >> 8) & 0xff) / 255.0;
	rgb[2] = (v & 0xff) / 255.0;
	return TRUE;
}

static gboolean
colorize_plan(SpNode *node, GError **error)
{
	const SpColorizeArgs *args = node->args;
	ColorizeState *state = g_new0(ColorizeState, 1);
	SpGeometry *g = &node->geom;
	const char *path = sp_slide_get_path(node->slide);

	node->priv = state;
	if (g->bands != 1) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"colorize: takes channels of one band each, and '%s' gives "
			"%d bands here",
			path, g->bands);
		return FALSE;
	}
	state->n = g->n_c;
	state->in_c = g->n_c;
	state->rgb = (double(*)[3]) g_new0(double, 3 * state->n);
	state->lo = g_new0(double, state->n);
	state->hi = g_new0(double, state->n);

	g_auto(GStrv) colours = args->colours ?
		g_strsplit(args->colours, ",", -1) :
		NULL;
	if (colours && (int) g_strv_length(colours) != state->n) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"colorize: argument 'colours': %u colour%s for %d channel%s "
			"of '%s'",
			g_strv_length(colours),
			g_strv_length(colours) == 1 ? "" : "s", state->n,
			state->n == 1 ? "" : "s", path);
		return FALSE;
	}
	for (int c = 0; c < state->n; c++) {
		gint64 ome = node->channel_colours &&
				c < (int) node->channel_colours->len ?
			g_array_index(node->channel_colours, gint64, c) :
			-1;

		if (colours) {
			if (!parse_colour(colours[c], state->rgb[c])) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"colorize: argument 'colours': '%s' is not "
					"#RRGGBB",
					colours[c]);
				return FALSE;
			}
		} else if (ome >= 0) {
			state->rgb[c][0] = ((ome >> 24) & 0xff) / 255.0;
			state->rgb[c][1] = ((ome >> 16) & 0xff) / 255.0;
			state->rgb[c][2] = ((ome >> 8) & 0xff) / 255.0;
		} else
			for (int i = 0; i < 3; i++)
				state->rgb[c][i] =
					default_colours[c %
						G_N_ELEMENTS(default_colours)]
						       [i] /
					255.0;
	}

	if (strcmp(args->ranges, "type") == 0) {
		for (int c = 0; c < state->n; c++)
			_sp_format_range(g->format, &state->lo[c],
				&state->hi[c]);
		state->measured = TRUE;
	} else if (strcmp(args->ranges, "auto") != 0) {
		g_auto(GStrv) ranges = g_strsplit(args->ranges, ",", -1);

		if ((int) g_strv_length(ranges) != state->n) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"colorize: argument 'ranges': %u range%s for %d "
				"channel%s of '%s'",
				g_strv_length(ranges),
				g_strv_length(ranges) == 1 ? "" : "s", state->n,
				state->n == 1 ? "" : "s", path);
			return FALSE;
		}
		for (int c = 0; c < state->n; c++) {
			char *colon = strchr(ranges[c], ':'), *e0, *e1;

			if (!colon ||
				(state->lo[c] = g_ascii_strtod(ranges[c], &e0),
					e0 != colon) ||
				(state->hi[c] = g_ascii_strtod(colon + 1, &e1),
					e1 == colon + 1 || *e1) ||
				!isfinite(state->lo[c]) ||
				!isfinite(state->hi[c]) ||
				state->hi[c] <= state->lo[c]) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"colorize: argument 'ranges': '%s' is not "
					"MIN:MAX with MIN < MAX",
					ranges[c]);
				return FALSE;
			}
		}
		state->measured = TRUE;
	}
	g->n_c = 1;
	g->bands = 3;
	g->format = VIPS_FORMAT_UCHAR;
	g_clear_pointer(&node->channel_names, g_ptr_array_unref);
	g_clear_pointer(&node->channel_colours, g_array_unref);
	return TRUE;
}

/* ranges=auto: each channel's lowest and highest value, on a small view
 * of plane (c, first z, first t). */
static gboolean
measure(SpNode *node, ColorizeState *state, GError **error)
{
	SpGraph *graph = node->graph;
	int saved = graph->plane;
	GString *report = g_string_new("colorize: ranges=auto:");

	for (int c = 0; c < state->n; c++) {
		gboolean ok;

		/* the view reads the plane being built */
		graph->plane = c;
		ok = _sp_node_view_range(node->input, AUTO_VIEW_SIDE,
			"colorize", &state->lo[c], &state->hi[c], error);
		graph->plane = saved;
		if (!ok) {
			g_string_free(report, TRUE);
			return FALSE;
		}
		g_string_append_printf(report, "%s channel %d %g … %g",
			c ? "," : "", c, state->lo[c], state->hi[c]);
	}
	state->measured = TRUE;
	node->report = g_string_free(report, FALSE);
	return TRUE;
}

static VipsImage *
colorize_build_plane(SpNode *node, int plane, GError **error)
{
	ColorizeState *state = node->priv;
	const char *path = sp_slide_get_path(node->slide);
	VipsImage *sum = NULL, *out;
	int r = 0;

	if (!state->measured && !measure(node, state, error))
		return NULL;
	for (int c = 0; c < state->n && !r; c++) {
		VipsImage *in = sp_node_get_plane(node->input,
			c + state->n * plane, error);
		VipsImage *level, *clipped, *rgb;
		double a = 255.0 / (state->hi[c] - state->lo[c]);
		double colour[3];

		if (!in) {
			if (sum)
				g_object_unref(sum);
			return NULL;
		}
		/* 0 … 255 over the display range, clipped by the cast */
		if (vips_linear1(in, &level, a, -state->lo[c] * a, NULL))
			goto fail;
		r = vips_cast(level, &clipped, VIPS_FORMAT_UCHAR, NULL);
		g_object_unref(level);
		if (r)
			goto fail;
		for (int i = 0; i < 3; i++)
			colour[i] = state->rgb[c][i];
		r = vips_linear(clipped, &rgb, colour, (double[3]){ 0, 0, 0 },
			3, NULL);
		g_object_unref(clipped);
		if (r)
			goto fail;
		if (sum) {
			VipsImage *t;
			r = vips_add(sum, rgb, &t, NULL);
			g_object_unref(sum);
			g_object_unref(rgb);
			sum = t;
		} else
			sum = rgb;
	}
	if (r)
		goto fail;
	/* additive mixing, saturating at white */
	r = vips_cast(sum, &out, VIPS_FORMAT_UCHAR, NULL);
	g_object_unref(sum);
	sum = NULL;
	if (!r) {
		VipsImage *t;
		r = vips_copy(out, &t, "interpretation",
			VIPS_INTERPRETATION_sRGB, NULL);
		g_object_unref(out);
		out = t;
	}
	if (r)
		goto fail;
	return out;

fail:
	if (sum)
		g_object_unref(sum);
	_sp_set_vips_error(error, "colorize", path);
	return NULL;
}

const SpOpInfo _sp_op_colorize = {
	.name = "colorize",
	.summary = "RGB composite of fluorescence channels",
	.description =
		"Makes one 8-bit RGB image of the channels of a stack: channel c "
		"is mapped linearly from its display range (ranges=) to 0 … 1, "
		"clipped, times its colour (colours=, or the OME Channel Color), "
		"and the channels are added, saturating at white, as "
		"fluorescence viewers mix them. The z planes and time points "
		"are kept (project them first for one image). For thumbnails, "
		"overlays, tiles and JPEG output.",
	.kind = SP_OP_FILTER,
	.role = SP_ROLE_FILTER,
	.any_format = TRUE,
	.args = colorize_args,
	.n_args = G_N_ELEMENTS(colorize_args),
	.args_size = sizeof(SpColorizeArgs),
	.plan = colorize_plan,
	.build_plane = colorize_build_plane,
	.free_priv = colorize_state_free,
};
