/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* project: reduce the planes of one axis (z, t or c) to one, pixel by
 * pixel: maximum-intensity projection and its kin. */
#include "config.h"

#include <string.h>

#include "sp-private.h"

static const char *const method_choices[] = { "max", "min", "mean", "sum",
	NULL };
static const char *const axis_choices[] = { "z", "t", "c", NULL };

typedef struct {
	char *method;
	char *axis;
} SpProjectArgs;

static const SpArgInfo project_args[] = {
	{ "method", SP_ARG_CHOICE, NULL, NULL, 0, 0, method_choices, 0, TRUE,
		"max: maximum-intensity projection; min; mean and sum (as "
		"32-bit float)",
		SP_ARG_FIELD(SpProjectArgs, method) },
	{ "axis", SP_ARG_CHOICE, NULL, "z", 0, 0, axis_choices, -1, FALSE,
		"the axis whose planes are reduced",
		SP_ARG_FIELD(SpProjectArgs, axis) },
};

typedef struct {
	char axis;
	int n; /* planes reduced into one */
	int in_c, in_z, in_t; /* the input's sizes */
} ProjectState;

static gboolean
project_plan(SpNode *node, GError **error)
{
	const SpProjectArgs *args = node->args;
	ProjectState *state = g_new0(ProjectState, 1);
	SpGeometry *g = &node->geom;

	node->priv = state;
	state->axis = args->axis[0];
	state->in_c = g->n_c;
	state->in_z = g->n_z;
	state->in_t = g->n_t;
	if (state->axis == 'z') {
		state->n = g->n_z;
		g->n_z = 1;
		node->mpp_z = 0;
	} else if (state->axis == 't') {
		state->n = g->n_t;
		g->n_t = 1;
	} else {
		state->n = g->n_c;
		g->n_c = 1;
		/* one channel, which is none of the input's */
		g_clear_pointer(&node->channel_names, g_ptr_array_unref);
		g_clear_pointer(&node->channel_colours, g_array_unref);
	}
	if (strcmp(args->method, "mean") == 0 ||
		strcmp(args->method, "sum") == 0)
		g->format = VIPS_FORMAT_FLOAT;
	return TRUE;
}

static VipsImage *
project_build_plane(SpNode *node, int plane, GError **error)
{
	const SpProjectArgs *args = node->args;
	const ProjectState *state = node->priv;
	const SpGeometry *g = &node->geom;
	const char *path = sp_slide_get_path(node->slide);
	int c = plane % g->n_c, z = plane / g->n_c % g->n_z,
	    t = plane / g->n_c / g->n_z;
	g_autofree VipsImage **in = g_new0(VipsImage *, state->n);
	VipsImage *out = NULL, *t1;
	int r;

	for (int k = 0; k < state->n; k++) {
		int ck = state->axis == 'c' ? k : c;
		int zk = state->axis == 'z' ? k : z;
		int tk = state->axis == 't' ? k : t;

		if (!(in[k] = sp_node_get_plane(node->input,
			      ck + state->in_c * (zk + state->in_z * tk),
			      error)))
			return NULL;
	}
	if (state->n == 1 && strcmp(args->method, "max") == 0)
		return g_object_ref(in[0]);
	if (strcmp(args->method, "max") == 0 ||
		strcmp(args->method, "min") == 0)
		/* band by band, the n-th of the sorted values */
		r = vips_bandrank(in, &out, state->n, "index",
			strcmp(args->method, "max") == 0 ? state->n - 1 : 0,
			NULL);
	else {
		r = vips_sum(in, &t1, state->n, NULL);
		if (!r) {
			r = vips_linear1(t1, &out,
				strcmp(args->method, "mean") == 0 ?
					1.0 / state->n :
					1.0,
				0.0, NULL);
			g_object_unref(t1);
		}
		if (!r && out->BandFmt != VIPS_FORMAT_FLOAT) {
			r = vips_cast_float(out, &t1, NULL);
			g_object_unref(out);
			out = r ? NULL : t1;
		}
	}
	if (r) {
		_sp_set_vips_error(error, "project", path);
		return NULL;
	}
	return out;
}

const SpOpInfo _sp_op_project = {
	.name = "project",
	.summary = "reduce the planes of an axis: maximum-intensity projection",
	.description =
		"Reduces the planes along axis (z by default; t or c) to one, "
		"pixel by pixel and band by band: max (maximum-intensity "
		"projection, libvips bandrank), min, mean or sum (libvips sum; "
		"these two give 32-bit float). max and min keep the sample "
		"type. Each output tile reads the same tile of every plane of "
		"the axis, so a stack is projected in one streaming pass. A "
		"filter: a downsample after it is computed from its output; "
		"put the downsample first to read a lower pyramid level.",
	.kind = SP_OP_FILTER,
	.role = SP_ROLE_FILTER,
	.any_format = TRUE,
	.args = project_args,
	.n_args = G_N_ELEMENTS(project_args),
	.args_size = sizeof(SpProjectArgs),
	.plan = project_plan,
	.build_plane = project_build_plane,
	.free_priv = g_free,
};
