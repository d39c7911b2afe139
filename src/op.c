/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The operator table, argument values and the text derived from the
 * declarations: `slidepipe ops`, `slidepipe OP --help`, the man page.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sp-private.h"

/* The one table of operators. Its lines are Makefile.am's SP_OPERATORS
 * list: adding an operator is its file in ops/ (which defines
 * _sp_op_NAME) and its line there; src/op-table.sh writes op-table.h from
 * the list, one OP(NAME) per operator, in the order of `slidepipe ops`
 * and the man page. */
#define OP(name) extern const SpOpInfo _sp_op_##name;
#include "op-table.h"
#undef OP

static const SpOpInfo *const op_table[] = {
#define OP(name) &_sp_op_##name,
#include "op-table.h"
#undef OP
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

/* The argument stored at @field of @node's argument struct. */
static int
arg_index_at(SpNode *node, const void *field)
{
	glong offset = (const char *) field - (const char *) node->args;

	for (int i = 0; i < node->op->n_args; i++)
		if (node->op->args[i].offset == offset)
			return i;
	g_error("operator %s has no argument at offset %ld", node->op->name,
		offset);
	return -1;
}

/* Where argument @i of @node is stored. */
static void *
arg_field(SpNode *node, int i)
{
	return (char *) node->args + node->op->args[i].offset;
}

static gboolean
is_text(SpArgType type)
{
	return type == SP_ARG_STRING || type == SP_ARG_CHOICE ||
		type == SP_ARG_PATH;
}

gboolean
_sp_node_given(SpNode *node, const void *field)
{
	return (node->given >> arg_index_at(node, field)) & 1;
}

void
_sp_node_free_args(SpNode *node)
{
	if (!node->args)
		return;
	for (int i = 0; i < node->op->n_args; i++)
		if (is_text(node->op->args[i].type))
			g_free(*(char **) arg_field(node, i));
	g_clear_pointer(&node->args, g_free);
}

static char *
format_range(const SpArgInfo *arg)
{
	if (arg->type == SP_ARG_CHOICE && arg->choices) {
		g_autofree char *joined = g_strjoinv("|",
			(char **) arg->choices);
		return g_strdup(joined);
	}
	if (arg->type == SP_ARG_INT || arg->type == SP_ARG_DOUBLE)
		return g_strdup_printf("%g … %g", arg->min, arg->max);
	return NULL;
}

/* One argument's value, before it is checked and stored. */
typedef union {
	gint64 i; /* SP_ARG_INT */
	double d; /* SP_ARG_DOUBLE */
	gboolean b; /* SP_ARG_BOOL */
	const char *s; /* the text types */
} ArgValue;

/* Parses @text as a value of @arg; errors name op and arg. */
static gboolean
parse_text(const SpOpInfo *op, const SpArgInfo *arg, const char *text,
	ArgValue *value, GError **error)
{
	char *end;

	switch (arg->type) {
	case SP_ARG_INT:
		errno = 0;
		value->i = g_ascii_strtoll(text, &end, 10);
		if (*text == '\0' || *end != '\0' || errno == ERANGE) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: argument '%s': '%s' is not an integer",
				op->name, arg->name, text);
			return FALSE;
		}
		return TRUE;
	case SP_ARG_DOUBLE:
		errno = 0;
		value->d = g_ascii_strtod(text, &end);
		if (*text == '\0' || *end != '\0' || errno == ERANGE ||
			!isfinite(value->d)) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: argument '%s': '%s' is not a finite number",
				op->name, arg->name, text);
			return FALSE;
		}
		return TRUE;
	case SP_ARG_BOOL:
		if (g_ascii_strcasecmp(text, "true") == 0 ||
			g_ascii_strcasecmp(text, "yes") == 0 ||
			strcmp(text, "1") == 0)
			value->b = TRUE;
		else if (g_ascii_strcasecmp(text, "false") == 0 ||
			g_ascii_strcasecmp(text, "no") == 0 ||
			strcmp(text, "0") == 0)
			value->b = FALSE;
		else {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: argument '%s': '%s' is not true or false",
				op->name, arg->name, text);
			return FALSE;
		}
		return TRUE;
	case SP_ARG_STRING:
	case SP_ARG_CHOICE:
	case SP_ARG_PATH:
		value->s = text;
		return TRUE;
	}
	return TRUE;
}

/* Checks @value against argument @i's declaration and stores it in
 * @node's argument struct. @text: the value as the user wrote it, for
 * messages (NULL: a typed C call's value, formatted here). */
static gboolean
store_value(SpNode *node, int i, const ArgValue *value, const char *text,
	GError **error)
{
	const SpOpInfo *op = node->op;
	const SpArgInfo *arg = &op->args[i];
	void *field = arg_field(node, i);
	double number = 0;

	switch (arg->type) {
	case SP_ARG_INT:
		number = (double) value->i;
		break;
	case SP_ARG_DOUBLE:
		if (!isfinite(value->d)) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: argument '%s': value is not finite",
				op->name, arg->name);
			return FALSE;
		}
		number = value->d;
		break;
	case SP_ARG_BOOL:
		break;
	case SP_ARG_CHOICE: {
		gboolean ok = FALSE;
		for (int k = 0; value->s && arg->choices && arg->choices[k];
			k++)
			if (strcmp(arg->choices[k], value->s) == 0)
				ok = TRUE;
		if (value->s && !ok) {
			g_autofree char *range = format_range(arg);
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: argument '%s': '%s' is not one of %s",
				op->name, arg->name, value->s, range);
			return FALSE;
		}
	}
		/* fall through */
	case SP_ARG_STRING:
	case SP_ARG_PATH:
		if (!value->s) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: argument '%s' is NULL", op->name,
				arg->name);
			return FALSE;
		}
		if (arg->type == SP_ARG_PATH && *value->s == '\0') {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: argument '%s': the path is empty",
				op->name, arg->name);
			return FALSE;
		}
		break;
	}

	if ((arg->type == SP_ARG_INT || arg->type == SP_ARG_DOUBLE) &&
		(number < arg->min || number > arg->max)) {
		char buf[G_ASCII_DTOSTR_BUF_SIZE];

		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: argument '%s': %s is out of range (%g … %g)",
			op->name, arg->name,
			text ? text : g_ascii_dtostr(buf, sizeof(buf), number),
			arg->min, arg->max);
		return FALSE;
	}

	switch (arg->type) {
	case SP_ARG_INT:
		/* in range, and every declared range lies within int's */
		*(int *) field = (int) value->i;
		break;
	case SP_ARG_DOUBLE:
		*(double *) field = value->d;
		break;
	case SP_ARG_BOOL:
		*(gboolean *) field = value->b;
		break;
	default:
		g_free(*(char **) field);
		*(char **) field = g_strdup(value->s);
	}
	return TRUE;
}

/* Marks argument @i given: a second value would silently win over the
 * first (`save a.png path=b.png` wrote b.png, and a batch template's path
 * could be replaced by a named one from a manifest value). */
static gboolean
mark_given(SpNode *node, int i, GError **error)
{
	if ((node->given >> i) & 1) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: argument '%s' given twice", node->op->name,
			node->op->args[i].name);
		return FALSE;
	}
	node->given |= G_GUINT64_CONSTANT(1) << i;
	return TRUE;
}

gboolean
_sp_node_set_string(SpNode *node, const char *name, const char *text,
	GError **error)
{
	int i = arg_index(node->op, name);
	ArgValue value;

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
	return mark_given(node, i, error) &&
		parse_text(node->op, &node->op->args[i], text, &value, error) &&
		store_value(node, i, &value, text, error);
}

gboolean
_sp_node_set_valist(SpNode *node, GError **error, va_list ap)
{
	const char *name;

	while ((name = va_arg(ap, const char *))) {
		int i = arg_index(node->op, name);
		ArgValue value;

		if (i < 0)
			return _sp_node_set_string(node, name, "", error);
		if (!mark_given(node, i, error))
			return FALSE;
		switch (node->op->args[i].type) {
		case SP_ARG_INT:
			value.i = va_arg(ap, int);
			break;
		case SP_ARG_DOUBLE:
			value.d = va_arg(ap, double);
			break;
		case SP_ARG_BOOL:
			value.b = va_arg(ap, gboolean) != FALSE;
			break;
		default:
			value.s = va_arg(ap, const char *);
		}
		if (!store_value(node, i, &value, NULL, error))
			return FALSE;
	}
	return TRUE;
}

/* A typed entry point's value for the argument stored at @field, which
 * must be of a type @value fits. */
static gboolean
set_at(SpNode *node, const void *field, gboolean text, const ArgValue *value,
	GError **error)
{
	int i = arg_index_at(node, field);

	g_assert(is_text(node->op->args[i].type) == text);
	return mark_given(node, i, error) &&
		store_value(node, i, value, NULL, error);
}

gboolean
_sp_node_set_double(SpNode *node, double *field, double value, GError **error)
{
	ArgValue v = { .d = value };

	g_assert(node->op->args[arg_index_at(node, field)].type ==
		SP_ARG_DOUBLE);
	return set_at(node, field, FALSE, &v, error);
}

gboolean
_sp_node_set_text(SpNode *node, char **field, const char *value, GError **error)
{
	ArgValue v = { .s = value };

	return set_at(node, field, TRUE, &v, error);
}

/* Fills defaults and checks required arguments. */
gboolean
_sp_node_finish_args(SpNode *node, GError **error)
{
	for (int i = 0; i < node->op->n_args; i++) {
		const SpArgInfo *arg = &node->op->args[i];
		ArgValue value;

		if ((node->given >> i) & 1)
			continue;
		if (arg->required) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: missing argument '%s' (%s)",
				node->op->name, arg->name, arg->doc);
			return FALSE;
		}
		/* a default is not "given" */
		if (arg->default_value &&
			!(parse_text(node->op, arg, arg->default_value, &value,
				  error) &&
				store_value(node, i, &value, arg->default_value,
					error)))
			return FALSE;
	}
	return TRUE;
}
