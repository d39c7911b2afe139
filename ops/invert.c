/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* invert: each 8-bit band value v becomes white - v (a negative; a
 * mask's tissue becomes its background). The example operator of
 * HACKING.md.
 */
#include "config.h"

#include "sp-private.h"

/* The arguments, one member per declared argument below. */
typedef struct {
	int white;
} SpInvertArgs;

static const SpArgInfo invert_args[] = {
	{ "white", SP_ARG_INT, NULL, "255", 1, 255, NULL, -1, FALSE,
		"the value that becomes 0, and values above it too (glass that "
		"scans at 240 rather than 255 comes out black with white=240)",
		SP_ARG_FIELD(SpInvertArgs, white) },
};

/* Pixels only: the geometry is the input's, so there is no plan
 * function. Pointwise, so the planner runs this at whatever level the
 * chain reads, before the remaining reduction (src/plan.c). */
static VipsImage *
invert_build(SpNode *node, VipsImage *in, GError **error)
{
	const SpInvertArgs *args = node->args;
	VipsImage *out;
	int r;

	/* every image of a chain is uchar (src/slide.c); libvips' invert of
	 * another format is not 255 - v */
	if (in->BandFmt != VIPS_FORMAT_UCHAR) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"invert: the pixels of '%s' are not 8-bit",
			sp_slide_get_path(node->slide));
		return NULL;
	}
	if (args->white == 255)
		r = vips_invert(in, &out, NULL);
	else
		/* uchar output clips the values above white to 0 */
		r = vips_linear1(in, &out, -1.0, args->white, "uchar", TRUE,
			NULL);
	if (r) {
		_sp_set_vips_error(error, "invert",
			sp_slide_get_path(node->slide));
		return NULL;
	}
	return out;
}

const SpOpInfo _sp_op_invert = {
	.name = "invert",
	.summary = "make a negative: 255 - v in every band",
	.description =
		"Replaces each 8-bit value v of every band by 255 - v (libvips "
		"invert), so white glass becomes black and a 0/255 mask swaps "
		"tissue and background; with white=W by W - v, 0 where v is "
		"above W. Pointwise: after a downsample it runs on the pyramid "
		"level the planner reads, before the rest of the reduction.",
	.kind = SP_OP_FILTER,
	.role = SP_ROLE_POINTWISE,
	.args = invert_args,
	.n_args = G_N_ELEMENTS(invert_args),
	.args_size = sizeof(SpInvertArgs),
	.build = invert_build,
};
