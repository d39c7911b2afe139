/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The operator graph: nodes carry their operator's arguments and the slide
 * geometry they produce; images are built lazily, sinks pull pixels.
 */
#include "config.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "sp-private.h"

SpGraph *
sp_graph_new(void)
{
	SpGraph *graph;

	/* a failure to start shows in the first node's error (sp_load) */
	_sp_ensure_init(NULL);
	graph = g_new0(SpGraph, 1);

	graph->nodes = g_ptr_array_new();
	return graph;
}

static void
node_free(SpNode *node)
{
	if (node->op->free_priv && node->priv)
		node->op->free_priv(node->priv);
	_sp_node_free_args(node);
	if (node->image)
		g_object_unref(node->image);
	if (node->plane_images)
		g_ptr_array_unref(node->plane_images);
	g_free(node->source_planes);
	if (node->channel_names)
		g_ptr_array_unref(node->channel_names);
	if (node->channel_colours)
		g_array_unref(node->channel_colours);
	sp_slide_unref(node->slide);
	g_free(node->report);
	g_free(node);
}

void
sp_graph_free(SpGraph *graph)
{
	if (!graph)
		return;
	/* later nodes depend on earlier ones: free from the end */
	for (guint i = graph->nodes->len; i > 0; i--)
		node_free(g_ptr_array_index(graph->nodes, i - 1));
	g_ptr_array_free(graph->nodes, TRUE);
	sp_slide_cache_unref(graph->slide_cache);
	_sp_out_root_unref(graph->out_root);
	g_free(graph);
}

void
_sp_node_discard(SpNode *node)
{
	g_ptr_array_remove(node->graph->nodes, node);
	node_free(node);
}

void
sp_graph_set_progress(SpGraph *graph, SpProgressFunc func, void *user_data)
{
	graph->progress = func;
	graph->progress_data = user_data;
}

/* The operator called @op_name, or NULL with an error listing them. */
static const SpOpInfo *
op_lookup(const char *op_name, GError **error)
{
	const SpOpInfo *op = sp_op_lookup(op_name);

	if (!op) {
		int n;
		const SpOpInfo *const *ops = sp_op_list(&n);
		GString *names = g_string_new(NULL);

		for (int i = 0; i < n; i++)
			g_string_append_printf(names, "%s%s", i ? ", " : "",
				ops[i]->name);
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"unknown operator '%s' (operators: %s)", op_name,
			names->str);
		g_string_free(names, TRUE);
	}
	return op;
}

static SpNode *
node_alloc(SpGraph *graph, const SpOpInfo *op, SpNode *input, GError **error)
{
	SpNode *node;

	if (!op)
		return NULL;
	if (op->kind == SP_OP_SOURCE && input) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: a source takes no input; it must start the pipeline",
			op->name);
		return NULL;
	}
	if (op->kind != SP_OP_SOURCE && !input) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: needs an input; start the pipeline with a source such "
			"as 'load FILE'",
			op->name);
		return NULL;
	}
	if (input && input->op->kind == SP_OP_SINK) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: cannot follow '%s', which is a sink and must end the "
			"pipeline",
			op->name, input->op->name);
		return NULL;
	}
	if (input && input->graph != graph) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: the input node belongs to another graph",
			op->name);
		return NULL;
	}

	node = g_new0(SpNode, 1);
	node->graph = graph;
	node->op = op;
	/* the operator's plan may make it a filter for its arguments */
	node->role = op->role;
	node->input = input;
	/* node->given is a 64-bit map */
	g_assert(op->n_args <= 64);
	node->args = g_malloc0(op->args_size);
	if (input) {
		node->slide = input->slide ? sp_slide_ref(input->slide) : NULL;
		node->geom = input->geom;
		node->channel_names = input->channel_names ?
			g_ptr_array_ref(input->channel_names) :
			NULL;
		node->channel_colours = input->channel_colours ?
			g_array_ref(input->channel_colours) :
			NULL;
		node->mpp_z = input->mpp_z;
	}
	return node;
}

/* Finishes a node whose arguments are set: defaults, required, plan. */
/* An input an operator cannot take: another sample type than 8-bit, or
 * several planes for a sink that writes one. */
static gboolean
check_input(SpNode *node, GError **error)
{
	const SpGeometry *g;
	const char *path;

	if (!node->input)
		return TRUE;
	g = &node->input->geom;
	path = node->slide ? sp_slide_get_path(node->slide) : "the input";
	if (!node->op->any_format && g->format != VIPS_FORMAT_UCHAR) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: takes 8-bit input, and '%s' gives %s samples here; "
			"convert them first with 'cast format=uint8' (range=auto "
			"stretches the values found)",
			node->op->name, path, sp_format_name(g->format));
		return FALSE;
	}
	if (node->op->kind == SP_OP_SINK && !node->op->planes &&
		sp_geometry_get_plane_count(g) > 1) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: writes one plane, and the pipeline has %d (C %d × Z "
			"%d × T %d of '%s'): pick one with load's c=, z=, t= or "
			"page=, or reduce them with 'project'",
			node->op->name, sp_geometry_get_plane_count(g), g->n_c,
			g->n_z, g->n_t, path);
		return FALSE;
	}
	return TRUE;
}

static SpNode *
node_finish(SpNode *node, GError **error)
{
	if (!_sp_node_finish_args(node, error) || !check_input(node, error) ||
		(node->op->plan && !node->op->plan(node, error))) {
		node_free(node);
		return NULL;
	}
	/* a source that says nothing of planes makes one */
	if (node->geom.n_c < 1 || node->geom.n_z < 1 || node->geom.n_t < 1)
		node->geom.n_c = node->geom.n_z = node->geom.n_t = 1;
	if (node->op->kind != SP_OP_SINK)
		_sp_node_plan_read(node);
	g_ptr_array_add(node->graph->nodes, node);
	return node;
}

SpNode *
sp_node_new_valist(SpGraph *graph, const char *op_name, SpNode *input,
	GError **error, va_list ap)
{
	SpNode *node = node_alloc(graph, op_lookup(op_name, error), input,
		error);

	if (!node)
		return NULL;
	if (!_sp_node_set_valist(node, error, ap)) {
		node_free(node);
		return NULL;
	}
	return node_finish(node, error);
}

SpNode *
_sp_node_begin(SpGraph *graph, const SpOpInfo *op, SpNode *input,
	GError **error)
{
	if (!input && op->kind != SP_OP_SOURCE) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: the input node is NULL", op->name);
		return NULL;
	}
	return node_alloc(graph, op, input, error);
}

SpNode *
_sp_node_end(SpNode *node, gboolean ok, GError **error, va_list ap)
{
	if (!ok || !_sp_node_set_valist(node, error, ap)) {
		node_free(node);
		return NULL;
	}
	return node_finish(node, error);
}

SpNode *
_sp_node_new_text(SpGraph *graph, const SpOpInfo *op, SpNode *input,
	glong offset, const char *text, GError **error, va_list ap)
{
	SpNode *node = _sp_node_begin(graph, op, input, error);

	if (!node)
		return NULL;
	return _sp_node_end(node,
		_sp_node_set_text(node,
			(char **) ((char *) node->args + offset), text, error),
		error, ap);
}

SpNode *
sp_node_new(SpGraph *graph, const char *op_name, SpNode *input, GError **error,
	...)
{
	va_list ap;
	SpNode *node;

	va_start(ap, error);
	node = sp_node_new_valist(graph, op_name, input, error, ap);
	va_end(ap);
	return node;
}

static const SpArgInfo *
positional_arg(const SpOpInfo *op, int position)
{
	for (int i = 0; i < op->n_args; i++)
		if (op->args[i].position == position)
			return &op->args[i];
	return NULL;
}

/* @words as on the command line: NAME=VALUE for a declared NAME, a bare
 * boolean's name, the rest positional. With @expand, the words are a
 * template: which of them is which is decided on the template's text,
 * and only then is each value expanded, so no expanded text can turn
 * into another argument, a NAME=VALUE pair or a boolean flag. */
SpNode *
_sp_node_new_from_template(SpGraph *graph, const char *op_name, SpNode *input,
	const char *const *words, SpExpandFunc expand, void *expand_data,
	GError **error)
{
	SpNode *node = node_alloc(graph, op_lookup(op_name, error), input,
		error);
	int position = 0;

	if (!node)
		return NULL;
	for (int i = 0; words && words[i]; i++) {
		const char *word = words[i];
		const char *eq = strchr(word, '=');
		g_autofree char *value = NULL;
		gboolean ok;

		/* NAME=VALUE when NAME is a declared argument; anything else
		 * with '=' could be a path, so positional arguments get it */
		if (eq && eq != word && !memchr(word, '{', eq - word)) {
			g_autofree char *name = g_strndup(word, eq - word);
			gboolean known = FALSE;

			for (int j = 0; j < node->op->n_args; j++)
				if (strcmp(node->op->args[j].name, name) == 0)
					known = TRUE;
			if (known || !positional_arg(node->op, position)) {
				value = expand ?
					expand(eq + 1, expand_data, error) :
					g_strdup(eq + 1);
				ok = value &&
					_sp_node_set_string(node, name, value,
						error);
				if (!ok)
					goto fail;
				continue;
			}
		}
		/* a bare word naming a boolean argument sets it */
		for (int j = 0; j < node->op->n_args; j++)
			if (node->op->args[j].type == SP_ARG_BOOL &&
				strcmp(node->op->args[j].name, word) == 0) {
				if (!_sp_node_set_string(node, word, "true",
					    error))
					goto fail;
				goto next;
			}

		if (!(value = expand ? expand(word, expand_data, error) :
				       g_strdup(word)))
			goto fail;
		const SpArgInfo *arg = positional_arg(node->op, position);
		if (!arg) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: unexpected argument '%s' (see 'slidepipe %s --help')",
				node->op->name, value, node->op->name);
			goto fail;
		}
		if (!_sp_node_set_string(node, arg->name, value, error))
			goto fail;
		position++;
	next:;
	}
	return node_finish(node, error);

fail:
	node_free(node);
	return NULL;
}

SpNode *
sp_node_new_from_strings(SpGraph *graph, const char *op_name, SpNode *input,
	const char *const *words, GError **error)
{
	return _sp_node_new_from_template(graph, op_name, input, words, NULL,
		NULL, error);
}

const SpOpInfo *
sp_node_get_op(SpNode *node)
{
	return node->op;
}

SpNode *
sp_node_get_input(SpNode *node)
{
	return node->input;
}

SpSlide *
sp_node_get_slide(SpNode *node)
{
	return node->slide;
}

const SpGeometry *
sp_node_get_geometry(SpNode *node)
{
	return &node->geom;
}

int
sp_node_get_halo(SpNode *node)
{
	return node->halo;
}

char *
sp_node_explain(SpNode *node)
{
	GPtrArray *chain = g_ptr_array_new();
	GString *s = g_string_new(NULL);

	g_return_val_if_fail(node != NULL, NULL);
	for (SpNode *n = node; n; n = sp_node_get_input(n))
		g_ptr_array_insert(chain, 0, n);
	for (guint i = 0; i < chain->len; i++) {
		SpNode *n = g_ptr_array_index(chain, i);
		const SpGeometry *g = sp_node_get_geometry(n);
		const char *name = sp_op_get_name(sp_node_get_op(n));
		SpPlan p;

		if (sp_op_get_kind(sp_node_get_op(n)) == SP_OP_SINK) {
			if (sp_node_get_op(n) == sp_op_lookup("save"))
				g_string_append_printf(s,
					"%u. %s %s: writes %d × %d px\n", i + 1,
					name, sp_node_get_output_path(n),
					g->width, g->height);
			else if (sp_node_get_output_path(n))
				g_string_append_printf(s, "%u. %s %s\n", i + 1,
					name, sp_node_get_output_path(n));
			else
				g_string_append_printf(s, "%u. %s\n", i + 1,
					name);
			if (sp_node_get_report(n))
				g_string_append_printf(s, "   %s\n",
					sp_node_get_report(n));
			continue;
		}
		sp_node_get_plan(n, &p);
		g_string_append_printf(s,
			"%u. %s: %d × %d × %d px, level-0 region x=%.6g y=%.6g "
			"w=%.6g h=%.6g, downsample %.6g",
			i + 1, name, g->width, g->height, g->bands, g->x, g->y,
			g->w, g->h, g->downsample_x);
		if (g->mpp_x > 0)
			g_string_append_printf(s, ", mpp %.6g", g->mpp_x);
		g_string_append_c(s, '\n');
		if (p.level < 0)
			g_string_append_printf(s,
				"   reads the associated image, region x=%.6g "
				"y=%.6g w=%.6g h=%.6g\n",
				p.x, p.y, p.w, p.h);
		else
			g_string_append_printf(s,
				"   reads level %d (downsample %.6g)%s, region "
				"x=%.6g y=%.6g w=%.6g h=%.6g (level px), then "
				"reduces by %.6g; decodes %" G_GUINT64_FORMAT
				" px\n",
				p.level, p.level_downsample_x,
				p.planned ? " [planned]" : "", p.x, p.y, p.w,
				p.h, p.remaining_x, p.decoded_pixels);
		if (sp_node_get_halo(n) > 0)
			g_string_append_printf(s,
				"   halo %d px: reads %d px of its input around "
				"each tile, at downsample %.6g\n",
				sp_node_get_halo(n), sp_node_get_halo(n),
				sp_node_get_geometry(sp_node_get_input(n))
					->downsample_x);
	}
	g_ptr_array_free(chain, TRUE);
	return g_string_free(s, FALSE);
}

const char *
sp_node_get_report(SpNode *node)
{
	return node->report;
}

const char *
sp_node_get_output_path(SpNode *node)
{
	if (node->op->kind != SP_OP_SINK)
		return NULL;
	/* a sink's first argument is where it writes */
	g_assert(node->op->args[0].type == SP_ARG_PATH);
	return *(char **) ((char *) node->args + node->op->args[0].offset);
}


/* Builds @node's image of @plane (a new reference). */
static VipsImage *
build_plane(SpNode *node, int plane, GError **error)
{
	SpGraph *graph = node->graph;
	int saved = graph->plane;
	VipsImage *in = NULL, *image;

	graph->plane = plane;
	if (node->op->build_plane)
		image = node->op->build_plane(node, plane, error);
	else if (node->read.planned)
		/* the planner moved the read to a lower level: the input's
		 * image is not needed */
		image = _sp_chain_view(node, node->read.level, node->geom.width,
			node->geom.height, error);
	else if (node->input &&
		!(in = sp_node_get_plane(node->input, plane, error)))
		image = NULL;
	else {
		/* an input's build may have set it for its own input */
		graph->plane = plane;
		image = node->op->build(node, in, error);
	}
	graph->plane = saved;
	if (image &&
		(image->Xsize != node->geom.width ||
			image->Ysize != node->geom.height)) {
		/* the plan and the pixels must agree; a mismatch is our bug */
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"%s: internal error: planned %d × %d, built %d × %d",
			node->op->name, node->geom.width, node->geom.height,
			image->Xsize, image->Ysize);
		g_clear_object(&image);
	}
	return image;
}

static void
unref_image(gpointer image)
{
	if (image)
		g_object_unref(image);
}

VipsImage *
sp_node_get_plane(SpNode *node, int plane, GError **error)
{
	int n = sp_geometry_get_plane_count(&node->geom);
	VipsImage *image;

	if (node->op->kind == SP_OP_SINK) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: a sink has no image", node->op->name);
		return NULL;
	}
	if (plane < 0 || plane >= n) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: plane %d is out of range (0 … %d)", node->op->name,
			plane, n - 1);
		return NULL;
	}
	if (plane == 0) {
		if (!node->image)
			node->image = build_plane(node, 0, error);
		if (node->image && node->image->BandFmt != node->geom.format) {
			/* what the pixels are wins over the plan's guess */
			node->geom.format = node->image->BandFmt;
		}
		return node->image;
	}
	if (!node->plane_images) {
		node->plane_images = g_ptr_array_new_full(n, unref_image);
		g_ptr_array_set_size(node->plane_images, n);
	}
	if (!(image = g_ptr_array_index(node->plane_images, plane))) {
		image = build_plane(node, plane, error);
		g_ptr_array_index(node->plane_images, plane) = image;
	}
	return image;
}

VipsImage *
sp_node_get_image(SpNode *node, GError **error)
{
	return sp_node_get_plane(node, 0, error);
}

/* In graph.c, not plan.c: a chain with a filter is viewed through the
 * node's own image, and the planner does not build images. */
VipsImage *
_sp_node_low_res_view(SpNode *node, int max_side, int *level_out,
	GError **error)
{
	const SpGeometry *g = &node->geom;
	SpNode *source = _sp_chain_source(node);
	double extra = MAX(1.0, (double) MAX(g->width, g->height) / max_side);
	int level = 0;
	int width = MAX(1, (int) floor(g->width / extra + 0.5));
	int height = MAX(1, (int) floor(g->height / extra + 0.5));

	if (_sp_chain_unplannable(node)) {
		/* a filter's pixels are those of its own level: reduce the
		 * node's image (computing the chain at its level), of the
		 * plane being built */
		int plane = node->graph->plane <
				sp_geometry_get_plane_count(&node->geom) ?
			node->graph->plane :
			0;
		VipsImage *image = sp_node_get_plane(node, plane, error);

		if (!image)
			return NULL;
		if (level_out)
			*level_out = node->read.level;
		return _sp_reduce(image, (double) image->Xsize / width,
			(double) image->Ysize / height, width, height,
			node->op->name, "view", error);
	}
	if (!source->source_associated && _sp_chain_planes_have_levels(node))
		level = _sp_plan_level(node->slide, g->downsample_x * extra,
			g->downsample_y * extra);
	if (level_out)
		*level_out = level;
	return _sp_chain_view(node, level, width, height, error);
}

gboolean
_sp_node_view_range(SpNode *node, int max_side, const char *op, double *lo,
	double *hi, GError **error)
{
	VipsImage *view = _sp_node_low_res_view(node, max_side, NULL, error);
	int r;

	if (!view)
		return FALSE;
	r = vips_min(view, lo, NULL) || vips_max(view, hi, NULL);
	g_object_unref(view);
	if (r) {
		_sp_set_vips_error(error, op,
			node->slide ? sp_slide_get_path(node->slide) : "image");
		return FALSE;
	}
	if (*hi <= *lo)
		*hi = *lo + 1;
	return TRUE;
}

/* Progress of the running sink: libvips' eval signal for sinks that are
 * libvips savers, _sp_node_progress() for slidepipe's own writer. */
typedef struct {
	GTimer *timer;
	double last;
	int last_percent;
} ProgressState;

void
_sp_node_progress(SpNode *node, int percent)
{
	ProgressState *state = node->progress_state;
	SpGraph *graph = node->graph;

	if (!state || !graph->progress)
		return;
	double now = g_timer_elapsed(state->timer, NULL);
	/* a few times a second, never 100 %: that comes once, when the sink
	 * has really finished */
	if (now - state->last < 0.5 || percent >= 100 ||
		percent <= state->last_percent)
		return;
	int eta = percent > 0 ? (int) (now * (100 - percent) / percent) : -1;
	state->last = now;
	state->last_percent = percent;
	graph->progress(node, percent, eta, graph->progress_data);
}

static void
eval_cb(VipsImage *image, VipsProgress *progress, SpNode *node)
{
	_sp_node_progress(node, progress->percent);
}

gboolean
sp_node_run(SpNode *node, GError **error)
{
	VipsImage *in;
	ProgressState state = { NULL, 0, -1 };
	gulong handler = 0;
	gboolean ok;

	if (node->op->kind != SP_OP_SINK) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: not a sink; end the pipeline with one such as 'save FILE'",
			node->op->name);
		return FALSE;
	}
	if (!(in = sp_node_get_image(node->input, error)))
		return FALSE;
	if (node->graph->progress) {
		state.timer = g_timer_new();
		node->progress_state = &state;
		vips_image_set_progress(in, TRUE);
		handler = g_signal_connect(in, "eval", G_CALLBACK(eval_cb),
			node);
	}
	ok = node->op->run(node, in, error);
	if (handler) {
		g_signal_handler_disconnect(in, handler);
		vips_image_set_progress(in, FALSE);
		g_timer_destroy(state.timer);
		node->progress_state = NULL;
		if (ok)
			node->graph->progress(node, 100, 0,
				node->graph->progress_data);
	}
	return ok;
}

gboolean
sp_graph_run(SpGraph *graph, GError **error)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new();
	gboolean ok = TRUE;

	/* the files this graph reads and writes, so that libvips messages
	 * naming them come back to it when pipelines fail in parallel */
	for (guint i = 0; i < graph->nodes->len; i++) {
		SpNode *node = g_ptr_array_index(graph->nodes, i);

		if (node->slide)
			g_ptr_array_add(names,
				(char *) sp_slide_get_path(node->slide));
		for (int a = 0; a < node->op->n_args; a++) {
			const SpArgInfo *arg = &node->op->args[a];
			char *path = arg->type != SP_ARG_PATH ?
				NULL :
				*(char **) ((char *) node->args + arg->offset);

			if (path)
				g_ptr_array_add(names, path);
		}
	}
	for (guint i = 0; i < names->len; i++)
		_sp_vips_error_names_add(graph, g_ptr_array_index(names, i));

	for (guint i = 0; ok && i < graph->nodes->len; i++) {
		SpNode *node = g_ptr_array_index(graph->nodes, i);

		if (node->op->kind == SP_OP_SINK && !sp_node_run(node, error))
			ok = FALSE;
	}

	_sp_vips_error_names_remove(graph);
	return ok;
}

/* Whether writing @out would replace @in: the same file (by device and
 * inode: the path itself, a hard link, a symlink to it, another spelling
 * of its path), the same directory entry (the rename replaces the entry,
 * whatever it is: a symlink the input was read through), or a directory
 * @in (resolved) lies in. */
static gboolean
same_file(SpGraph *graph, const char *out, const char *in)
{
	struct stat od, of, si;
	gboolean has_file;

	/* @out as the save will open it: beneath the graph's output root
	 * (a batch's --out-dir) when it has one */
	if (!_sp_output_lookup(graph, out, &od, &of, &has_file))
		return FALSE;
	if (has_file && stat(in, &si) == 0 && of.st_dev == si.st_dev &&
		of.st_ino == si.st_ino)
		return TRUE;
	/* a directory output (a DICOM series, which a save replaces whole)
	 * that holds the input: its files would go with it */
	if (has_file && S_ISDIR(of.st_mode)) {
		g_autofree char *real = realpath(in, NULL);
		g_autofree char *parent = real ? g_path_get_dirname(real) : NULL;
		if (parent && stat(parent, &si) == 0 &&
			of.st_dev == si.st_dev && of.st_ino == si.st_ino)
			return TRUE;
	}

	g_autofree char *ob = g_path_get_basename(out);
	g_autofree char *id = g_path_get_dirname(in);
	g_autofree char *ib = g_path_get_basename(in);
	return strcmp(ob, ib) == 0 && stat(id, &si) == 0 &&
		od.st_dev == si.st_dev && od.st_ino == si.st_ino;
}

/* Refuses an output that is a file the graph reads (a load's slide, an
 * overlay's CSV, a tiles mask file), before any pixel is computed: the
 * rename at the end would replace it while, or after, it is read. */
gboolean
_sp_check_not_an_input(SpNode *node, const char *arg, const char *path,
	GError **error)
{
	GPtrArray *nodes = node->graph->nodes;

	for (guint i = 0; i < nodes->len; i++) {
		SpNode *n = g_ptr_array_index(nodes, i);
		const char *in = NULL;

		if (n->op->kind == SP_OP_SOURCE && n->slide)
			in = sp_slide_get_path(n->slide);
		if (in && same_file(node->graph, path, in))
			goto refuse;
		if (n->op->kind == SP_OP_SINK)
			/* outputs, but a file it reads (a tiles mask file) */
			in = n->op->input_file ? n->op->input_file(n) : NULL;
		else
			for (int a = 0; a < n->op->n_args && (in = NULL, TRUE);
				a++)
				if (n->op->args[a].type == SP_ARG_PATH &&
					(in = *(char **) ((char *) n->args +
						 n->op->args[a].offset)) &&
					same_file(node->graph, path, in))
					break;
		if (in && same_file(node->graph, path, in))
			goto refuse;
		continue;
	refuse:
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: argument '%s': '%s' is the file that %s reads "
			"('%s'); source and destination must be different",
			node->op->name, arg, path, n->op->name, in);
		return FALSE;
	}
	return TRUE;
}
