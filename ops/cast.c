/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cast: convert samples to another type, with a given or measured range. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "sp-private.h"

typedef struct {
	char *format;
	char *range;
} SpCastArgs;

static const SpArgInfo cast_args[] = {
	{ "format", SP_ARG_STRING,
		"uint8, int8, uint16, int16, uint32, int32, "
		"float",
		NULL, 0, 0, NULL, 0, TRUE,
		"the sample type to make (libvips' names uchar, char, ushort, "
		"short, uint, int work too)",
		SP_ARG_FIELD(SpCastArgs, format) },
	{ "range", SP_ARG_STRING, "type, auto or MIN,MAX", "type", 0, 0, NULL,
		-1, FALSE,
		"which input values map to the output type's full range. type: "
		"the input type's own (16 to 8 bits keeps the high byte, v >> 8, "
		"as libvips' cast with shift; 8 to 16 bits is v << 8; to or from "
		"float, and signed to unsigned, values are kept and clipped); "
		"auto: the lowest to the highest value of the image, measured "
		"once on a view of at most 2048 px a side; MIN,MAX: those "
		"values (below MIN gives the type's minimum, above MAX its "
		"maximum). To float, auto and MIN,MAX give 0 … 1",
		SP_ARG_FIELD(SpCastArgs, range) },
};

/* The largest side of the view range=auto measures. */
#define AUTO_VIEW_SIDE 2048

typedef struct {
	VipsBandFormat format;
	gboolean linear; /* map [lo, hi] to the output range */
	gboolean measured; /* range=auto, and lo/hi are known */
	double lo, hi;
} CastState;

static gboolean
cast_plan(SpNode *node, GError **error)
{
	const SpCastArgs *args = node->args;
	CastState *state = g_new0(CastState, 1);

	node->priv = state;
	if (!sp_format_from_name(args->format, &state->format)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"cast: argument 'format': '%s' is not a sample type "
			"(uint8, int8, uint16, int16, uint32, int32, float)",
			args->format);
		return FALSE;
	}
	if (strcmp(args->range, "auto") == 0)
		state->linear = TRUE;
	else if (strcmp(args->range, "type") != 0) {
		g_auto(GStrv) parts = g_strsplit(args->range, ",", -1);
		char *end0 = NULL, *end1 = NULL;

		if (g_strv_length(parts) != 2 ||
			(state->lo = g_ascii_strtod(parts[0], &end0),
				end0 == parts[0] || *end0) ||
			(state->hi = g_ascii_strtod(parts[1], &end1),
				end1 == parts[1] || *end1) ||
			!isfinite(state->lo) || !isfinite(state->hi) ||
			state->hi <= state->lo) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"cast: argument 'range': '%s' is not type, auto or "
				"MIN,MAX with MIN < MAX (finite numbers)",
				args->range);
			return FALSE;
		}
		state->linear = TRUE;
		state->measured = TRUE;
	}
	node->geom.format = state->format;
	return TRUE;
}

/* range=auto: the lowest and highest value of every band, on a small
 * view of the input (the same for every plane: the first built). */
static gboolean
measure(SpNode *node, CastState *state, GError **error)
{
	if (!_sp_node_view_range(node->input, AUTO_VIEW_SIDE, "cast",
		    &state->lo, &state->hi, error))
		return FALSE;
	state->measured = TRUE;
	node->report = g_strdup_printf("cast: range=auto maps %g … %g to %s",
		state->lo, state->hi, sp_format_name(state->format));
	return TRUE;
}

/* @image with the interpretation of its new type (a 16-bit RGB image
 * cast to 8 bits is sRGB, not RGB16, or pngsave writes 16 bits). Takes
 * @image. */
static VipsImage *
interpret(VipsImage *image, const char *path, GError **error)
{
	VipsInterpretation type = _sp_interpretation(image->Bands,
		image->BandFmt);
	VipsImage *out;
	int r = vips_copy(image, &out, "interpretation", type, NULL);

	g_object_unref(image);
	if (r) {
		_sp_set_vips_error(error, "cast", path);
		return NULL;
	}
	return out;
}

static VipsImage *
cast_build(SpNode *node, VipsImage *in, GError **error)
{
	CastState *state = node->priv;
	const char *path = sp_slide_get_path(node->slide);
	VipsImage *t, *out;
	double lo, hi;

	if (!state->linear) {
		if (vips_cast(in, &out, state->format, "shift",
			    vips_band_format_isint(in->BandFmt) &&
				    vips_band_format_isint(state->format),
			    NULL)) {
			_sp_set_vips_error(error, "cast", path);
			return NULL;
		}
		return interpret(out, path, error);
	}
	if (!state->measured && !measure(node, state, error))
		return NULL;
	if (state->format == VIPS_FORMAT_FLOAT)
		lo = 0, hi = 1;
	else
		_sp_format_range(state->format, &lo, &hi);

	double a = (hi - lo) / (state->hi - state->lo);
	double b = lo - state->lo * a;
	int r = vips_linear1(in, &t, a, b, NULL);

	if (!r && state->format != VIPS_FORMAT_FLOAT) {
		VipsImage *rounded;

		r = vips_round(t, &rounded, VIPS_OPERATION_ROUND_RINT, NULL);
		g_object_unref(t);
		t = rounded;
	}
	if (r) {
		_sp_set_vips_error(error, "cast", path);
		return NULL;
	}
	/* cast clips to the type's range */
	r = vips_cast(t, &out, state->format, NULL);
	g_object_unref(t);
	if (r) {
		_sp_set_vips_error(error, "cast", path);
		return NULL;
	}
	return interpret(out, path, error);
}

const SpOpInfo _sp_op_cast = {
	.name = "cast",
	.summary = "convert samples to another type (16-bit to 8-bit …)",
	.description =
		"Converts every band to format (uint8, int8, uint16, int16, "
		"uint32, int32, float), mapping range to the output type's: by "
		"default the input type's own (16 to 8 bits keeps the high "
		"byte), range=auto the values found in the image, range=MIN,MAX "
		"the given values; integers are rounded to nearest and clipped. "
		"slidepipe keeps a file's sample type through every operator "
		"until a cast; operators that need 8-bit input (tiles, morph, "
		"deconvolve …) say so. Pointwise: after a downsample it runs on "
		"the pyramid level the planner reads.",
	.kind = SP_OP_FILTER,
	.role = SP_ROLE_POINTWISE,
	.any_format = TRUE,
	.args = cast_args,
	.n_args = G_N_ELEMENTS(cast_args),
	.args_size = sizeof(SpCastArgs),
	.plan = cast_plan,
	.build = cast_build,
	.free_priv = g_free,
};
