/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The slidepipe command's files (tools/): what they share. Built on the
 * public header only; not library API.
 */
#ifndef SP_TOOLS_CLI_H
#define SP_TOOLS_CLI_H

#include <json-glib/json-glib.h>
#include <slidepipe/slidepipe.h>

G_BEGIN_DECLS

/* exit statuses */
#define CLI_EXIT_RUNTIME 1
#define CLI_EXIT_USAGE 2

/* Prints @error on one line ("slidepipe: MESSAGE", escaped by
 * sp_printable()), frees it and returns its exit status: 2 for
 * SP_ERROR_USAGE, else 1. */
int cli_fail(GError *error);

/* @d with 6 significant digits, as every number slidepipe prints. */
char *cli_format_number(double d);

/* Adds @text (NULL: "") to @builder as a JSON string. Text from a file may
 * be any bytes: a byte that is not part of valid UTF-8 becomes the code
 * point of the same value (Latin-1's reading: "caf\xe9" is "café"), so
 * the bytes can be recovered and the JSON stays valid. */
void cli_json_add_string(JsonBuilder *builder, const char *text);
/* The next member's name, any bytes made valid as above. */
void cli_json_set_member(JsonBuilder *builder, const char *name);
/* Adds @d rounded as cli_format_number() does (an integer as one). */
void cli_json_add_number(JsonBuilder *builder, double d);
/* @builder's value as one line of JSON, without a line break. */
char *cli_json_to_string(JsonBuilder *builder);

/* `slidepipe batch` (tools/cli-batch.c): @argv[0] is "batch". */
int cli_batch(int argc, char **argv, gboolean progress);

G_END_DECLS

#endif /* SP_TOOLS_CLI_H */
