/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* deconvolve: colour deconvolution of RGB to one stain's optical density
 * (A. C. Ruifrok and D. A. Johnston, "Quantification of histochemical
 * staining by color deconvolution", Analytical and Quantitative Cytology
 * and Histology 23(4):291–299, 2001), with the stain matrices and the
 * arithmetic of scikit-image 0.19's skimage.color.rgb2hed and
 * separate_stains.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "sp-private.h"

typedef struct {
	char *stain;
	char *channel;
} SpDeconvolveArgs;

static const char *const channel_choices[] = { "h", "e", "dab", "1", "2", "3",
	NULL };

static const SpArgInfo deconvolve_args[] = {
	{ "stain", SP_ARG_STRING, NULL, "he", 0, 0, NULL, -1, FALSE,
		"the stains: he (haematoxylin, eosin, DAB: skimage's rgb_from_hed), "
		"hdab (haematoxylin, DAB: skimage's rgb_from_hdx), or 9 numbers "
		"R,G,B,R,G,B,R,G,B: the optical density vectors of stains 1, 2 "
		"and 3 (6 numbers: the third is their cross product)",
		SP_ARG_FIELD(SpDeconvolveArgs, stain) },
	{ "channel", SP_ARG_CHOICE, NULL, "h", 0, 0, channel_choices, -1, FALSE,
		"the stain whose density is kept: h (stain 1), e (stain 2 of he), "
		"dab (stain 3 of he, 2 of hdab), or 1, 2, 3 for the stains of a "
		"custom matrix",
		SP_ARG_FIELD(SpDeconvolveArgs, channel) },
};

/* skimage.color.colorconv (0.19.3): rgb_from_hed, Ruifrok and Johnston's
 * vectors, rows H, E, DAB */
static const double rgb_from_hed[3][3] = {
	{ 0.65, 0.70, 0.29 },
	{ 0.07, 0.99, 0.11 },
	{ 0.27, 0.57, 0.78 },
};

/* rgb_from_hdx: H and DAB after G. Landini's colour deconvolution
 * plugin, as scikit-image gives them; the third row, their cross
 * product, is filled in when the matrix is used */
static const double rgb_from_hdx[2][3] = {
	{ 0.650, 0.704, 0.286 },
	{ 0.268, 0.570, 0.776 },
};

/* What the plan decided: the stain's column of the inverse matrix. */
typedef struct {
	double column[3];
} DeconvolveState;

static void
cross(const double *a, const double *b, double *out)
{
	out[0] = a[1] * b[2] - a[2] * b[1];
	out[1] = a[2] * b[0] - a[0] * b[2];
	out[2] = a[0] * b[1] - a[1] * b[0];
}

/* Parses @text as 9 (or 6) comma-separated finite numbers into @m. */
static gboolean
parse_matrix(const char *text, double m[3][3])
{
	g_auto(GStrv) parts = g_strsplit(text, ",", -1);
	int n = g_strv_length(parts);

	if (n != 9 && n != 6)
		return FALSE;
	for (int i = 0; i < n; i++) {
		char *end;
		const char *p = g_strstrip(parts[i]);

		errno = 0;
		double v = g_ascii_strtod(p, &end);
		if (*p == '\0' || *end != '\0' || errno == ERANGE ||
			!isfinite(v))
			return FALSE;
		m[i / 3][i % 3] = v;
	}
	if (n == 6)
		cross(m[0], m[1], m[2]);
	return TRUE;
}

/* The inverse of @m by its adjugate; FALSE when it is (nearly)
 * singular. */
static gboolean
invert3(double m[3][3], double inv[3][3])
{
	double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
		m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
		m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
	double norm = 0;

	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			norm = MAX(norm, fabs(m[i][j]));
	if (!isfinite(det) || norm == 0 ||
		fabs(det) < 1e-9 * norm * norm * norm)
		return FALSE;
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++) {
			int i1 = (j + 1) % 3, i2 = (j + 2) % 3;
			int j1 = (i + 1) % 3, j2 = (i + 2) % 3;

			inv[i][j] = (m[i1][j1] * m[i2][j2] -
					    m[i1][j2] * m[i2][j1]) /
				det;
		}
	return TRUE;
}

static gboolean
deconvolve_plan(SpNode *node, GError **error)
{
	const SpDeconvolveArgs *args = node->args;
	const char *path = sp_slide_get_path(node->slide);
	const char *channel = args->channel;
	double m[3][3], inv[3][3];
	int stain;

	if (node->input->geom.format != VIPS_FORMAT_UCHAR) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"deconvolve: argument 'stain': colour deconvolution needs "
			"8-bit RGB input, and '%s' gives %s samples here; convert "
			"them first with 'cast format=uint8'",
			path, sp_format_name(node->input->geom.format));
		return FALSE;
	}
	node->geom.format = VIPS_FORMAT_FLOAT;
	if (node->geom.bands != 3) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"deconvolve: argument 'stain': colour deconvolution needs "
			"RGB input, and '%s' gives %d band%s here",
			path, node->geom.bands,
			node->geom.bands == 1 ? "" : "s");
		return FALSE;
	}
	if (strcmp(args->stain, "he") == 0) {
		memcpy(m, rgb_from_hed, sizeof(m));
		stain = strcmp(channel, "h") == 0 || strcmp(channel, "1") == 0 ?
			0 :
			strcmp(channel, "e") == 0 || strcmp(channel, "2") == 0 ?
			1 :
			2;
	} else if (strcmp(args->stain, "hdab") == 0) {
		memcpy(m, rgb_from_hdx, sizeof(rgb_from_hdx));
		cross(m[0], m[1], m[2]);
		if (strcmp(channel, "e") == 0) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"deconvolve: argument 'channel': stain=hdab has no e "
				"(its stains are h and dab)");
			return FALSE;
		}
		stain = strcmp(channel, "h") == 0 || strcmp(channel, "1") == 0 ?
			0 :
			strcmp(channel, "dab") == 0 ||
				strcmp(channel, "2") == 0 ?
			1 :
			2;
	} else if (parse_matrix(args->stain, m)) {
		/* h, e, dab: stains 1, 2, 3 of the given matrix */
		stain = strcmp(channel, "h") == 0 || strcmp(channel, "1") == 0 ?
			0 :
			strcmp(channel, "e") == 0 || strcmp(channel, "2") == 0 ?
			1 :
			2;
	} else {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"deconvolve: argument 'stain': '%s' is not he, hdab or 9 "
			"comma-separated numbers (3 stain vectors R,G,B)",
			args->stain);
		return FALSE;
	}
	if (!invert3(m, inv)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"deconvolve: argument 'stain': the stain vectors '%s' are "
			"linearly dependent: no deconvolution separates them",
			args->stain);
		return FALSE;
	}

	DeconvolveState *state = g_new0(DeconvolveState, 1);
	for (int c = 0; c < 3; c++)
		state->column[c] = inv[c][stain];
	node->priv = state;
	node->geom.bands = 1;
	return TRUE;
}

/* Per pixel, as skimage.color.separate_stains (0.19.3): rgb = v / 255,
 * at least 1e-6; od = log(rgb) / log(1e-6) per band; the stain's value
 * is od · column of the inverse stain matrix, negatives clipped to 0.
 * od depends on one 8-bit value only, so it is a 256-entry table
 * (maplut); the sum is libvips' recomb, in double precision (the maplut
 * of a double table is double), rounded to float at the end. */
static VipsImage *
deconvolve_build(SpNode *node, VipsImage *in, GError **error)
{
	DeconvolveState *state = node->priv;
	const char *path = sp_slide_get_path(node->slide);
	VipsImage *rgb = NULL, *lut = NULL, *od = NULL, *matrix = NULL;
	VipsImage *sum = NULL, *absolute = NULL, *twice = NULL, *half = NULL;
	VipsImage *out = NULL;
	double table[256];

	if (in->BandFmt != VIPS_FORMAT_UCHAR ||
		(in->Bands != 3 && in->Bands != 4)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"deconvolve: argument 'stain': colour deconvolution needs "
			"8-bit RGB input, and '%s' gives %d band%s of %s here",
			path, in->Bands, in->Bands == 1 ? "" : "s",
			vips_enum_nick(VIPS_TYPE_BAND_FORMAT, in->BandFmt));
		return NULL;
	}
	for (int v = 0; v < 256; v++)
		table[v] = log(MAX(v / 255.0, 1e-6)) / log(1e-6);

	/* an alpha band is dropped */
	if (vips_extract_band(in, &rgb, 0, "n", 3, NULL) ||
		!(lut = vips_image_new_from_memory_copy(table, sizeof(table),
			  256, 1, 1, VIPS_FORMAT_DOUBLE)) ||
		vips_maplut(rgb, &od, lut, NULL) ||
		!(matrix = vips_image_new_matrix_from_array(3, 1, state->column,
			  3)) ||
		vips_recomb(od, &sum, matrix, NULL) ||
		/* max(x, 0) = (x + |x|) / 2, exactly */
		vips_abs(sum, &absolute, NULL) ||
		vips_add(sum, absolute, &twice, NULL) ||
		vips_linear1(twice, &half, 0.5, 0.0, NULL) ||
		/* double throughout, rounded once */
		vips_cast_float(half, &out, NULL)) {
		_sp_set_vips_error(error, "deconvolve", path);
		g_clear_object(&out);
	}
	VipsImage *all[] = { rgb, lut, od, matrix, sum, absolute, twice, half };
	for (guint i = 0; i < G_N_ELEMENTS(all); i++)
		if (all[i])
			g_object_unref(all[i]);
	if (!out)
		return NULL;

	VipsImage *copy;
	if (vips_copy(out, &copy, "interpretation", VIPS_INTERPRETATION_B_W,
		    NULL)) {
		g_object_unref(out);
		_sp_set_vips_error(error, "deconvolve", path);
		return NULL;
	}
	g_object_unref(out);
	return copy;
}

const SpOpInfo _sp_op_deconvolve = {
	.name = "deconvolve",
	.summary = "colour deconvolution: one stain's density (H&E, H-DAB)",
	.description =
		"Separates the stains of an RGB image by colour deconvolution "
		"(Ruifrok and Johnston, Anal. Quant. Cytol. Histol. 23(4), 2001) "
		"and keeps one: a one-band 32-bit float image of the stain's "
		"value exactly as scikit-image's rgb2hed gives it (skimage 0.19 "
		"separate_stains): each 8-bit band v becomes "
		"log(max(v/255, 1e-6)) / log(1e-6), the three are multiplied by "
		"the inverse of the stain matrix, and values below 0 become 0; "
		"about 0 … 0.3 on H&E, larger where the stain is denser. "
		"stain=he uses skimage's rgb_from_hed (Ruifrok and Johnston's H, "
		"E and DAB vectors), stain=hdab its rgb_from_hdx (H and DAB after "
		"G. Landini's ImageJ plugin, the third their cross product); a "
		"custom matrix is 9 numbers, rows of R,G,B optical density per "
		"stain, e.g. stain=0.65,0.70,0.29,0.07,0.99,0.11,0.27,0.57,0.78 "
		"(he). Input: 8-bit RGB (an alpha band is dropped). Pointwise: "
		"after a downsample it runs on the pyramid level the planner "
		"reads.",
	.kind = SP_OP_FILTER,
	.any_format = TRUE,
	.role = SP_ROLE_POINTWISE,
	.args = deconvolve_args,
	.n_args = G_N_ELEMENTS(deconvolve_args),
	.args_size = sizeof(SpDeconvolveArgs),
	.plan = deconvolve_plan,
	.build = deconvolve_build,
	.free_priv = g_free,
};
