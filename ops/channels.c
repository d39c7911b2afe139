/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* channels: keep some channels (planes of the c axis) of a stack. */
#include "config.h"

#include "sp-private.h"

typedef struct {
	char *select;
} SpChannelsArgs;

static const SpArgInfo channels_args[] = {
	{ "select", SP_ARG_STRING, "N, A-B, A,B,…", NULL, 0, 0, NULL, 0, TRUE,
		"the channels to keep, in this order (0 is the first of the "
		"input's)",
		SP_ARG_FIELD(SpChannelsArgs, select) },
};

typedef struct {
	GArray *keep; /* int: input channel of each output channel */
	int in_c;
} ChannelsState;

static void
channels_state_free(void *data)
{
	ChannelsState *state = data;

	if (state->keep)
		g_array_unref(state->keep);
	g_free(state);
}

static gboolean
channels_plan(SpNode *node, GError **error)
{
	const SpChannelsArgs *args = node->args;
	ChannelsState *state = g_new0(ChannelsState, 1);
	SpGeometry *g = &node->geom;
	GError *local = NULL;

	node->priv = state;
	state->in_c = g->n_c;
	state->keep = g_array_new(FALSE, FALSE, sizeof(int));
	if (!_sp_plane_selection_parse(args->select, g->n_c, state->keep,
		    &local)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"channels: argument 'select': %s (channels of '%s')",
			local->message, sp_slide_get_path(node->slide));
		g_error_free(local);
		return FALSE;
	}
	g->n_c = state->keep->len;
	/* the names and colours of the channels kept */
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	GArray *colours = g_array_new(FALSE, FALSE, sizeof(gint64));
	for (guint i = 0; i < state->keep->len; i++) {
		int c = g_array_index(state->keep, int, i);
		gint64 colour = node->channel_colours &&
				c < (int) node->channel_colours->len ?
			g_array_index(node->channel_colours, gint64, c) :
			-1;

		g_ptr_array_add(names,
			g_strdup(node->channel_names &&
						c < (int) node->channel_names
								->len ?
					g_ptr_array_index(node->channel_names,
						c) :
					NULL));
		g_array_append_val(colours, colour);
	}
	if (node->channel_names)
		g_ptr_array_unref(node->channel_names);
	if (node->channel_colours)
		g_array_unref(node->channel_colours);
	node->channel_names = names;
	node->channel_colours = colours;
	return TRUE;
}

static VipsImage *
channels_build_plane(SpNode *node, int plane, GError **error)
{
	const ChannelsState *state = node->priv;
	const SpGeometry *g = &node->geom;
	int c = plane % g->n_c, rest = plane / g->n_c;
	VipsImage *in = sp_node_get_plane(node->input,
		g_array_index(state->keep, int, c) + state->in_c * rest, error);

	return in ? g_object_ref(in) : NULL;
}

const SpOpInfo _sp_op_channels = {
	.name = "channels",
	.summary = "keep some channels of a stack",
	.description =
		"Keeps the channels (planes of the c axis) given, in that "
		"order, with their names and colours; the z planes and time "
		"points of each are kept. 'load FILE c=…' does the same while "
		"reading; this picks among the channels a pipeline has.",
	.kind = SP_OP_FILTER,
	.role = SP_ROLE_FILTER,
	.any_format = TRUE,
	.args = channels_args,
	.n_args = G_N_ELEMENTS(channels_args),
	.args_size = sizeof(SpChannelsArgs),
	.plan = channels_plan,
	.build_plane = channels_build_plane,
	.free_priv = channels_state_free,
};
