/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `slidepipe OP --help` and the operators' sections of slidepipe(1),
 * derived from the declarations through the public introspection
 * (sp_op_list(), sp_op_get_args() …): the command's work, not the
 * library's.
 */
#include "config.h"

#include <string.h>

#include "help.h"

/* The values an argument takes: its choices, or its numeric range. */
static char *
format_range(const SpArgInfo *arg)
{
	if (arg->type == SP_ARG_CHOICE && arg->choices)
		return g_strjoinv("|", (char **) arg->choices);
	if (arg->type == SP_ARG_INT || arg->type == SP_ARG_DOUBLE)
		return g_strdup_printf("%g … %g", arg->min, arg->max);
	if (arg->type == SP_ARG_LENGTH)
		return g_strdup_printf("%g … %g px", arg->min, arg->max);
	return NULL;
}

static const char *
type_name(SpArgType type)
{
	switch (type) {
	case SP_ARG_INT:
		return "integer";
	case SP_ARG_DOUBLE:
		return "number";
	case SP_ARG_BOOL:
		return "boolean";
	case SP_ARG_STRING:
		return "text";
	case SP_ARG_CHOICE:
		return "choice";
	case SP_ARG_PATH:
		return "path";
	case SP_ARG_LENGTH:
		return "length";
	}
	return "?";
}

static void
append_usage(GString *s, const SpOpInfo *op)
{
	int n_args;
	const SpArgInfo *args = sp_op_get_args(op, &n_args);

	g_string_append(s, sp_op_get_name(op));
	for (int i = 0; i < n_args; i++) {
		const SpArgInfo *arg = &args[i];
		g_autofree char *upper = g_ascii_strup(arg->name, -1);
		g_autofree char *value = NULL;

		if (arg->position >= 0) {
			g_string_append_printf(s,
				arg->required ? " %s" : " [%s]", upper);
			continue;
		}
		if (arg->type == SP_ARG_BOOL && arg->default_value &&
			strcmp(arg->default_value, "false") == 0) {
			g_string_append_printf(s, " [%s]", arg->name);
			continue;
		}
		if (arg->type == SP_ARG_CHOICE)
			value = format_range(arg);
		else if (arg->type == SP_ARG_BOOL)
			value = g_strdup("true|false");
		else if (arg->type == SP_ARG_INT || arg->type == SP_ARG_DOUBLE)
			value = g_strdup("N");
		else if (arg->type == SP_ARG_LENGTH)
			value = g_strdup("N[um]");
		else
			value = g_strdup(upper);
		g_string_append_printf(s, " [%s=%s]", arg->name, value);
	}
}

char *
sp_op_format_help(const SpOpInfo *op)
{
	GString *s = g_string_new("usage: slidepipe ");
	int n_args;
	const SpArgInfo *args = sp_op_get_args(op, &n_args);

	append_usage(s, op);
	g_string_append_printf(s, "\n\n%s\n\n%s\n\narguments:\n",
		sp_op_get_summary(op), sp_op_get_description(op));
	for (int i = 0; i < n_args; i++) {
		const SpArgInfo *arg = &args[i];
		g_autofree char *range = format_range(arg);

		g_string_append_printf(s, "  %-12s %s", arg->name, arg->doc);
		g_string_append_printf(s, "\n  %-12s %s", "",
			type_name(arg->type));
		if (arg->unit)
			g_string_append_printf(s, ", %s", arg->unit);
		if (range)
			g_string_append_printf(s, ", %s", range);
		if (arg->required)
			g_string_append(s, ", required");
		else if (arg->default_value)
			g_string_append_printf(s, ", default %s",
				arg->default_value);
		if (arg->position >= 0)
			g_string_append_printf(s, ", positional #%d",
				arg->position + 1);
		g_string_append_c(s, '\n');
	}
	return g_string_free(s, FALSE);
}

/* Escapes text for roff: backslashes, leading dots and quotes. */
static void
append_roff(GString *s, const char *text)
{
	gboolean bol = TRUE;

	for (const char *p = text; *p; p++) {
		if (bol && (*p == '.' || *p == '\''))
			g_string_append(s, "\\&");
		if (*p == '\\')
			g_string_append(s, "\\e");
		else if (*p == '-')
			g_string_append(s, "\\-");
		else
			g_string_append_c(s, *p);
		bol = *p == '\n';
	}
}

char *
sp_op_format_man(const SpOpInfo *op)
{
	GString *s = g_string_new(".SS ");
	GString *usage = g_string_new(NULL);
	int n_args;
	const SpArgInfo *args = sp_op_get_args(op, &n_args);

	append_roff(s, sp_op_get_name(op));
	g_string_append(s, "\n.B ");
	append_usage(usage, op);
	append_roff(s, usage->str);
	g_string_free(usage, TRUE);
	g_string_append(s, "\n.PP\n");
	append_roff(s, sp_op_get_summary(op));
	g_string_append(s, "\n.PP\n");
	append_roff(s, sp_op_get_description(op));
	g_string_append_c(s, '\n');
	for (int i = 0; i < n_args; i++) {
		const SpArgInfo *arg = &args[i];
		g_autofree char *range = format_range(arg);

		g_string_append(s, ".TP\n.B ");
		append_roff(s, arg->name);
		g_string_append_c(s, '\n');
		append_roff(s, arg->doc);
		g_string_append(s, " (");
		append_roff(s, type_name(arg->type));
		if (arg->unit) {
			g_string_append(s, ", ");
			append_roff(s, arg->unit);
		}
		if (range) {
			g_string_append(s, ", ");
			append_roff(s, range);
		}
		if (arg->required)
			g_string_append(s, ", required");
		else if (arg->default_value) {
			g_string_append(s, ", default ");
			append_roff(s, arg->default_value);
		}
		g_string_append(s, ")\n");
	}
	return g_string_free(s, FALSE);
}
