/* The operator table, argument values and the text derived from the
 * declarations: `slidepipe ops`, `slidepipe OP --help`, the man page.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sp-private.h"

/* The one table of operators. Adding an operator: its file in ops/, its
 * declaration in sp-private.h and one line here. */
static const SpOpInfo *const op_table[] = {
	&_sp_op_load,
	&_sp_op_crop,
	&_sp_op_downsample,
	&_sp_op_threshold,
	&_sp_op_save,
	&_sp_op_tiles,
	&_sp_op_overlay,
};

const SpOpInfo *
sp_op_lookup(const char *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(op_table); i++)
		if (strcmp(op_table[i]->name, name) == 0)
			return op_table[i];
	return NULL;
}

const SpOpInfo *const *
sp_op_list(int *n)
{
	*n = G_N_ELEMENTS(op_table);
	return op_table;
}

const char *
sp_op_get_name(const SpOpInfo *op)
{
	return op->name;
}

const char *
sp_op_get_summary(const SpOpInfo *op)
{
	return op->summary;
}

const char *
sp_op_get_description(const SpOpInfo *op)
{
	return op->description;
}

SpOpKind
sp_op_get_kind(const SpOpInfo *op)
{
	return op->kind;
}

const SpArgInfo *
sp_op_get_args(const SpOpInfo *op, int *n_args)
{
	*n_args = op->n_args;
	return op->args;
}

static int
arg_index(const SpOpInfo *op, const char *name)
{
	for (int i = 0; i < op->n_args; i++)
		if (strcmp(op->args[i].name, name) == 0)
			return i;
	return -1;
}

static int
arg_index_checked(SpNode *node, const char *name)
{
	int i = arg_index(node->op, name);

	if (i < 0)
		g_error("operator %s has no argument %s", node->op->name, name);
	return i;
}

gboolean
_sp_arg_is_set(SpNode *node, const char *name)
{
	return node->values[arg_index_checked(node, name)].set;
}

gint64
_sp_arg_int(SpNode *node, const char *name)
{
	return node->values[arg_index_checked(node, name)].i;
}

double
_sp_arg_double(SpNode *node, const char *name)
{
	return node->values[arg_index_checked(node, name)].d;
}

gboolean
_sp_arg_bool(SpNode *node, const char *name)
{
	return node->values[arg_index_checked(node, name)].i != 0;
}

const char *
_sp_arg_string(SpNode *node, const char *name)
{
	return node->values[arg_index_checked(node, name)].s;
}

static char *
format_range(const SpArgInfo *arg)
{
	if (arg->type == SP_ARG_CHOICE && arg->choices) {
		g_autofree char *joined = g_strjoinv("|", (char **) arg->choices);
		return g_strdup(joined);
	}
	if (arg->type == SP_ARG_INT || arg->type == SP_ARG_DOUBLE)
		return g_strdup_printf("%g … %g", arg->min, arg->max);
	return NULL;
}

/* Parses @text as a value of @arg into @value; errors name op and arg. */
static gboolean
parse_value(const SpOpInfo *op, const SpArgInfo *arg, const char *text,
	SpValue *value, GError **error)
{
	char *end;

	switch (arg->type) {
	case SP_ARG_INT: {
		errno = 0;
		gint64 n = g_ascii_strtoll(text, &end, 10);
		if (*text == '\0' || *end != '\0' || errno == ERANGE) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: argument '%s': '%s' is not an integer",
				op->name, arg->name, text);
			return FALSE;
		}
		value->i = n;
		value->d = (double) n;
		break;
	}
	case SP_ARG_DOUBLE: {
		errno = 0;
		double d = g_ascii_strtod(text, &end);
		if (*text == '\0' || *end != '\0' || errno == ERANGE ||
			!isfinite(d)) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: argument '%s': '%s' is not a finite number",
				op->name, arg->name, text);
			return FALSE;
		}
		value->d = d;
		/* the whole part, saturated: casting a double beyond gint64's
		 * range is undefined (the range check below rejects it) */
		value->i = d >= 0x1p63 ? G_MAXINT64 :
			d < -0x1p63        ? G_MININT64 :
								 (gint64) d;
		break;
	}
	case SP_ARG_BOOL:
		if (g_ascii_strcasecmp(text, "true") == 0 ||
			g_ascii_strcasecmp(text, "yes") == 0 || strcmp(text, "1") == 0)
			value->i = 1;
		else if (g_ascii_strcasecmp(text, "false") == 0 ||
			g_ascii_strcasecmp(text, "no") == 0 || strcmp(text, "0") == 0)
			value->i = 0;
		else {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: argument '%s': '%s' is not true or false",
				op->name, arg->name, text);
			return FALSE;
		}
		value->d = value->i;
		break;
	case SP_ARG_CHOICE: {
		gboolean ok = FALSE;
		for (int i = 0; arg->choices && arg->choices[i]; i++)
			if (strcmp(arg->choices[i], text) == 0)
				ok = TRUE;
		if (!ok) {
			g_autofree char *range = format_range(arg);
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: argument '%s': '%s' is not one of %s",
				op->name, arg->name, text, range);
			return FALSE;
		}
		break;
	}
	case SP_ARG_STRING:
	case SP_ARG_PATH:
		if (arg->type == SP_ARG_PATH && *text == '\0') {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: argument '%s': the path is empty", op->name,
				arg->name);
			return FALSE;
		}
		break;
	}

	if ((arg->type == SP_ARG_INT || arg->type == SP_ARG_DOUBLE) &&
		(value->d < arg->min || value->d > arg->max)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: argument '%s': %s is out of range (%g … %g)", op->name,
			arg->name, text, arg->min, arg->max);
		return FALSE;
	}

	g_free(value->s);
	value->s = g_strdup(text);
	value->set = TRUE;
	return TRUE;
}

gboolean
_sp_node_set_string(SpNode *node, const char *name, const char *text,
	GError **error)
{
	int i = arg_index(node->op, name);

	if (i < 0) {
		GString *names = g_string_new(NULL);
		for (int j = 0; j < node->op->n_args; j++)
			g_string_append_printf(names, "%s%s", j ? ", " : "",
				node->op->args[j].name);
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: unknown argument '%s' (known: %s)", node->op->name,
			name, names->str);
		g_string_free(names, TRUE);
		return FALSE;
	}
	/* a second value would silently win over the first: `save a.png
	 * path=b.png` wrote b.png, and a batch template's path could be
	 * replaced by a named one from a manifest value */
	if (node->values[i].set) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: argument '%s' given twice", node->op->name, name);
		return FALSE;
	}
	return parse_value(node->op, &node->op->args[i], text, &node->values[i],
		error);
}

gboolean
_sp_node_set_valist(SpNode *node, GError **error, va_list ap)
{
	const char *name;

	while ((name = va_arg(ap, const char *))) {
		int i = arg_index(node->op, name);
		g_autofree char *text = NULL;

		if (i < 0)
			return _sp_node_set_string(node, name, "", error);
		switch (node->op->args[i].type) {
		case SP_ARG_INT:
			text = g_strdup_printf("%d", va_arg(ap, int));
			break;
		case SP_ARG_DOUBLE: {
			char buf[G_ASCII_DTOSTR_BUF_SIZE];
			double d = va_arg(ap, double);
			if (!isfinite(d)) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"%s: argument '%s': value is not finite",
					node->op->name, name);
				return FALSE;
			}
			text = g_strdup(g_ascii_dtostr(buf, sizeof(buf), d));
			break;
		}
		case SP_ARG_BOOL:
			text = g_strdup(va_arg(ap, gboolean) ? "true" : "false");
			break;
		default: {
			const char *s = va_arg(ap, const char *);
			if (!s) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"%s: argument '%s': NULL string", node->op->name,
					name);
				return FALSE;
			}
			text = g_strdup(s);
		}
		}
		if (!_sp_node_set_string(node, name, text, error))
			return FALSE;
	}
	return TRUE;
}

/* Fills defaults and checks required arguments. */
gboolean
_sp_node_finish_args(SpNode *node, GError **error)
{
	for (int i = 0; i < node->op->n_args; i++) {
		const SpArgInfo *arg = &node->op->args[i];
		SpValue *value = &node->values[i];

		if (value->set)
			continue;
		if (arg->required) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: missing argument '%s' (%s)", node->op->name,
				arg->name, arg->doc);
			return FALSE;
		}
		if (arg->default_value) {
			if (!parse_value(node->op, arg, arg->default_value, value,
					error))
				return FALSE;
			/* a default is not "given" */
			value->set = FALSE;
		}
	}
	return TRUE;
}
