/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Aperio ImageDescription as slidepipe reads it for an svs output
 * (see ops/save-layout.c): "HEADER|key = value|key = value…". Hostile input:
 * a description is whatever bytes a file holds, so every field is checked
 * and none is trusted; anything gives a result, in one pass. Depends on
 * GLib only, so the fuzz replay (fuzz/aperio_fuzzer.c) builds it alone. */
#include "config.h"

#include <string.h>

#include "sp-private.h"

/* Copies @len bytes of @p into @s with line breaks (and every other
 * control character) as spaces: 3.4.1 names associated images by the
 * second line of their description, and keys are one a line for us. */
void
_sp_append_flat(GString *s, const char *p, gsize len)
{
	for (gsize i = 0; i < len; i++)
		g_string_append_c(s,
			(guchar) p[i] < 0x20 || p[i] == 0x7f ? ' ' : p[i]);
}

/* [@p, @end) without leading and trailing ASCII white space. */
static void
strip_span(const char **p, const char **end)
{
	while (*p < *end && g_ascii_isspace(**p))
		(*p)++;
	while (*end > *p && g_ascii_isspace((*end)[-1]))
		(*end)--;
}

char *
_sp_aperio_keys(const char *desc, const char *mpp, const char *mag,
	gboolean keep_icc_name, char **source_header)
{
	GString *s = g_string_new(NULL);
	gboolean have_mpp = FALSE, have_mag = FALSE;
	const char *p, *end;
	int n = 0;
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash,
		g_str_equal, g_free, NULL);

	*source_header = NULL;
	if (desc) {
		gsize total = strnlen(desc, SP_APERIO_MAX_DESCRIPTION);

		end = desc + total;
		p = memchr(desc, '|', total);
		if (!p)
			p = end;
		*source_header = g_string_free(g_string_new_len(desc, p - desc),
			FALSE);
		for (char *c = *source_header; *c; c++)
			if (*c == '|')
				*c = ' ';
		/* the fields after the first '|': "key = value", one each */
		while (p < end && n < SP_APERIO_MAX_KEYS) {
			const char *field = p + 1;
			const char *field_end = memchr(field, '|', end - field);

			if (!field_end)
				field_end = end;
			p = field_end;

			/* control characters as spaces first: the key is what a
			 * reader of the output sees ("MPP\x02" is "MPP" there) */
			g_autoptr(GString)
				flat = g_string_sized_new(field_end - field);
			_sp_append_flat(flat, field, field_end - field);

			const char *f = flat->str, *f_end = f + flat->len;
			const char *eq = memchr(f, '=', flat->len);
			const char *k = f, *k_end = eq ? eq : f_end;

			strip_span(&k, &k_end);
			/* junk (an empty field, no key, a key too long to be
			 * one) says nothing and is left out */
			if (!eq || k == k_end || k_end - k > SP_APERIO_MAX_KEY)
				continue;
			g_autofree char *key = g_strndup(k, k_end - k);
			/* one line per key: the first occurrence of a name */
			if (!g_hash_table_add(seen, g_strdup(key)))
				continue;
			n++;
			if (strcmp(key, "MPP") == 0) {
				have_mpp = TRUE;
				if (mpp)
					g_string_append_printf(s, "|MPP = %s",
						mpp);
			} else if (strcmp(key, "AppMag") == 0) {
				have_mag = TRUE;
				if (mag)
					g_string_append_printf(s,
						"|AppMag = %s", mag);
			} else if (strcmp(key, "ICC Profile") == 0 &&
				!keep_icc_name)
				continue;
			else {
				/* kept as it was, spacing and all */
				g_string_append_c(s, '|');
				g_string_append_len(s, flat->str, flat->len);
			}
		}
	}
	if (!have_mag && mag)
		g_string_append_printf(s, "|AppMag = %s", mag);
	if (!have_mpp && mpp)
		g_string_append_printf(s, "|MPP = %s", mpp);
	return g_string_free(s, FALSE);
}
