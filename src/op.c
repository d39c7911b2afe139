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
	if (arg->type == SP_ARG_LENGTH)
		return g_strdup_printf("%g … %g px", arg->min, arg->max);
	return NULL;
}

/* One argument's value, before it is checked and stored. */
typedef union {
	gint64 i; /* SP_ARG_INT */
	double d; /* SP_ARG_DOUBLE */
	gboolean b; /* SP_ARG_BOOL */
	const char *s; /* the text types */
	SpLength l; /* SP_ARG_LENGTH */
} ArgValue;

/* The largest length in µm taken before the mpp is known: 1 m. */
#define MAX_LENGTH_UM 1e6

/* @text as a length: a number, then nothing or "px" (pixels), or "um" or
 * "µm" (micrometres). FALSE when it is not one. */
static gboolean
parse_length(const char *text, SpLength *length)
{
	char *end;

	errno = 0;
	length->value = g_ascii_strtod(text, &end);
	if (end == text || errno == ERANGE)
		return FALSE;
	if (*end == '\0' || strcmp(end, "px") == 0)
		length->um = FALSE;
	else if (strcmp(end, "um") == 0 || strcmp(end, "µm") == 0)
		length->um = TRUE;
	else
		return FALSE;
	length->px = length->um ? 0 : length->value;
	return TRUE;
}

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
	case SP_ARG_LENGTH:
		if (!text || !parse_length(text, &value->l)) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: argument '%s': '%s' is not a length (pixels, as "
				"3 or 2.5, or micrometres, as 2um)",
				op->name, arg->name, text ? text : "(null)");
			return FALSE;
		}
		return TRUE;
	}
	return TRUE;
}

/* A length of @px pixels outside its argument's declared range. */
static void
set_length_range_error(const SpOpInfo *op, const SpArgInfo *arg,
	const char *shown, double px, GError **error)
{
	if (px > arg->max)
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: argument '%s': %s is over the limit of %g px (%g … %g "
			"px): a larger kernel would be slow and huge; downsample "
			"first",
			op->name, arg->name, shown, arg->max, arg->min,
			arg->max);
	else
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: argument '%s': %s is below the smallest %g px (%g … "
			"%g px)",
			op->name, arg->name, shown, arg->min, arg->min,
			arg->max);
}

/* Checks a length as given (finite, above 0; in pixels, the declared
 * range; in µm, at most MAX_LENGTH_UM until the mpp is known). */
static gboolean
check_length(const SpOpInfo *op, const SpArgInfo *arg, const SpLength *l,
	const char *text, GError **error)
{
	char buf[G_ASCII_DTOSTR_BUF_SIZE];
	const char *shown = text ? text :
				   g_ascii_dtostr(buf, sizeof(buf), l->value);

	if (!isfinite(l->value)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: argument '%s': '%s' is not a finite number",
			op->name, arg->name, shown);
		return FALSE;
	}
	if (l->value <= 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: argument '%s': %s is not above 0", op->name,
			arg->name, shown);
		return FALSE;
	}
	if (l->um && l->value > MAX_LENGTH_UM) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: argument '%s': %s is more than a metre", op->name,
			arg->name, shown);
		return FALSE;
	}
	if (!l->um && (l->px < arg->min || l->px > arg->max)) {
		set_length_range_error(op, arg, shown, l->px, error);
		return FALSE;
	}
	return TRUE;
}

/* An SP_ARG_LENGTH in µm turned into pixels of @node's input level (its
 * geometry before the plan, a copy of the input's), then checked against
 * the declared range in pixels. */
static gboolean
convert_length(SpNode *node, int i, GError **error)
{
	const SpArgInfo *arg = &node->op->args[i];
	SpLength *l = arg_field(node, i);
	const SpGeometry *g = &node->geom;
	const char *path = node->slide ? sp_slide_get_path(node->slide) : "?";
	char value[G_ASCII_DTOSTR_BUF_SIZE];

	if (!l->um || l->value == 0)
		return TRUE;
	g_ascii_formatd(value, sizeof(value), "%g", l->value);
	if (!(g->mpp_x > 0 && g->mpp_y > 0)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: argument '%s': %sum needs the slide's pixel size, and "
			"'%s' records none; give it in pixels",
			node->op->name, arg->name, value, path);
		return FALSE;
	}
	/* lengths are isotropic: the mean pixel size of the two axes */
	double mpp = (g->mpp_x + g->mpp_y) / 2;
	l->px = l->value / mpp;
	if (!isfinite(l->px) || l->px < arg->min || l->px > arg->max) {
		g_autofree char *shown =
			g_strdup_printf("%sum (%g px at %g µm per pixel of '%s')",
				value, l->px, mpp, path);

		set_length_range_error(node->op, arg, shown, l->px, error);
		return FALSE;
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
	case SP_ARG_LENGTH:
		if (!check_length(op, arg, &value->l, text, error))
			return FALSE;
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
	case SP_ARG_LENGTH:
		*(SpLength *) field = value->l;
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
		case SP_ARG_LENGTH: {
			/* text, as on the command line: "3", "2.5um" */
			const char *text = va_arg(ap, const char *);

			if (!parse_text(node->op, &node->op->args[i], text,
				    &value, error) ||
				!store_value(node, i, &value, text, error))
				return FALSE;
			continue;
		}
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
	/* lengths in µm, through the mpp of the level the node runs at */
	for (int i = 0; i < node->op->n_args; i++)
		if (node->op->args[i].type == SP_ARG_LENGTH &&
			!convert_length(node, i, error))
			return FALSE;
	return TRUE;
}
