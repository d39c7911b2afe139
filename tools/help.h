/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The slidepipe command's help texts (tools/help.c). Not library API. */
#ifndef SP_TOOLS_HELP_H
#define SP_TOOLS_HELP_H

#include <slidepipe/slidepipe.h>

G_BEGIN_DECLS

/**
 * sp_op_format_help:
 * @op: an operator
 *
 * Returns: (transfer full): the text of `slidepipe OP --help`: usage line,
 * summary, description and one line per argument (type, unit, default,
 * range, position).
 */
char *sp_op_format_help(const SpOpInfo *op);

/**
 * sp_op_format_man:
 * @op: an operator
 *
 * Returns: (transfer full): the operator's section of slidepipe(1), in
 * roff (man macros), derived from the same declaration as
 * sp_op_format_help().
 */
char *sp_op_format_man(const SpOpInfo *op);

G_END_DECLS

#endif /* SP_TOOLS_HELP_H */
