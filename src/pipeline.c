/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pipeline text, in GDAL `raster pipeline` form: `step args ! step args`. */
#include "config.h"

#include <string.h>

#include "sp-private.h"

/* Splits words into steps at each word that is "!" and nothing else: a
 * word that merely starts or ends with '!' is an argument ("!x.tif" is a
 * file name), so paths are never cut. An empty word is an argument too
 * (crop "$X" 0 10 10 with X unset must fail, not shift y into x). */
static GPtrArray *
split_steps(const char *const *words)
{
	GPtrArray *steps = g_ptr_array_new_with_free_func(
		(GDestroyNotify) g_ptr_array_unref);
	GPtrArray *step = g_ptr_array_new_with_free_func(g_free);

	for (int i = 0; words[i]; i++) {
		if (strcmp(words[i], "!") == 0) {
			g_ptr_array_add(steps, step);
			step = g_ptr_array_new_with_free_func(g_free);
		} else
			g_ptr_array_add(step, g_strdup(words[i]));
	}
	g_ptr_array_add(steps, step);
	return steps;
}

/* The shape of a pipeline: no empty step, known operators, a source
 * first, a sink only last (and, with @need_sink, a sink last). */
static gboolean
check_shape(GPtrArray *steps, gboolean need_sink, GError **error)
{
	for (guint i = 0; i < steps->len; i++)
		if (((GPtrArray *) g_ptr_array_index(steps, i))->len == 0) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"pipeline step %u is empty (two '!' in a row, or one at "
				"an end)",
				i + 1);
			return FALSE;
		}
	for (guint i = 0; i < steps->len; i++) {
		GPtrArray *step = g_ptr_array_index(steps, i);
		const char *name = g_ptr_array_index(step, 0);
		const SpOpInfo *op = sp_op_lookup(name);

		if (!op) {
			/* the graph's own message, which lists the operators */
			SpGraph *graph = sp_graph_new();
			sp_node_new(graph, name, NULL, error, NULL);
			sp_graph_free(graph);
			return FALSE;
		}
		if ((i == 0) != (sp_op_get_kind(op) == SP_OP_SOURCE)) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				i == 0 ?
					"pipeline must start with a source such as 'load "
					"FILE', not '%s'" :
					"'%s' is a source and can only start the pipeline",
				name);
			return FALSE;
		}
		if (sp_op_get_kind(op) == SP_OP_SINK && i + 1 < steps->len) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"'%s' is a sink and must end the pipeline",
				name);
			return FALSE;
		}
		if (need_sink && i + 1 == steps->len &&
			sp_op_get_kind(op) != SP_OP_SINK) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"pipeline ends with '%s', not a sink such as 'save FILE' "
				"or 'tiles DIR': it would write nothing",
				name);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean
_sp_pipeline_check_template(const char *const *words, GError **error)
{
	g_autoptr(GPtrArray) steps = NULL;

	if (!words || !words[0]) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"empty pipeline: expected 'load FILE ! … ! save FILE'");
		return FALSE;
	}
	steps = split_steps(words);
	return check_shape(steps, TRUE, error);
}

SpNode *
_sp_pipeline_parse_template(SpGraph *graph, const char *const *words,
	SpExpandFunc expand, void *expand_data, GError **error)
{
	g_autoptr(GPtrArray) steps = NULL;
	SpNode *node = NULL;

	if (!words || !words[0]) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"empty pipeline: expected 'load FILE ! … ! save FILE'");
		return NULL;
	}
	/* the steps are split on the template's words, before anything is
	 * expanded: a value holding '!' stays a value */
	steps = split_steps(words);
	/* the shape first: a syntax error wins over opening files */
	if (!check_shape(steps, FALSE, error))
		return NULL;
	for (guint i = 0; i < steps->len; i++) {
		GPtrArray *step = g_ptr_array_index(steps, i);

		g_ptr_array_add(step, NULL);
		node = _sp_node_new_from_template(graph,
			g_ptr_array_index(step, 0), node,
			(const char *const *) step->pdata + 1, expand,
			expand_data, error);
		if (!node)
			return NULL;
	}
	return node;
}

SpNode *
sp_pipeline_parse(SpGraph *graph, const char *const *words, GError **error)
{
	return _sp_pipeline_parse_template(graph, words, NULL, NULL, error);
}

SpNode *
sp_pipeline_parse_string(SpGraph *graph, const char *text, GError **error)
{
	g_auto(GStrv) argv = NULL;
	GError *shell_error = NULL;
	int argc;

	if (!g_shell_parse_argv(text, &argc, &argv, &shell_error)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE, "pipeline: %s",
			shell_error->message);
		g_error_free(shell_error);
		return NULL;
	}
	return sp_pipeline_parse(graph, (const char *const *) argv, error);
}
