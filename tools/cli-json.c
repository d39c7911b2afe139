/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JSON output of the slidepipe command, through json-glib. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "cli.h"

/* @text as valid UTF-8, each byte that is not part of it as U+00XX. */
static char *
to_utf8(const char *text)
{
	const char *p = text ? text : "", *end = p + strlen(p);
	GString *s;

	if (g_utf8_validate(p, -1, NULL))
		return g_strdup(p);
	s = g_string_new(NULL);
	while (p < end) {
		gunichar c = g_utf8_get_char_validated(p, end - p);

		if (c == (gunichar) -1 || c == (gunichar) -2) {
			g_string_append_unichar(s, (guchar) *p);
			p++;
			continue;
		}
		g_string_append_len(s, p, g_utf8_next_char(p) - p);
		p = g_utf8_next_char(p);
	}
	return g_string_free(s, FALSE);
}

void
cli_json_add_string(JsonBuilder *builder, const char *text)
{
	g_autofree char *valid = to_utf8(text);

	json_builder_add_string_value(builder, valid);
}

void
cli_json_set_member(JsonBuilder *builder, const char *name)
{
	g_autofree char *valid = to_utf8(name);

	json_builder_set_member_name(builder, valid);
}

void
cli_json_add_number(JsonBuilder *builder, double d)
{
	g_autofree char *text = cli_format_number(d);
	double r = g_ascii_strtod(text, NULL);

	if (r == floor(r) && fabs(r) < 1e15)
		json_builder_add_int_value(builder, (gint64) r);
	else
		json_builder_add_double_value(builder, r);
}

char *
cli_json_to_string(JsonBuilder *builder)
{
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(JsonNode) root = json_builder_get_root(builder);

	json_generator_set_root(generator, root);
	return json_generator_to_data(generator, NULL);
}
