/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvips 8.14's error buffer is one for the process: when batch rows
 * fail in parallel, each row's message must reach that row, not the row
 * that happens to read the buffer first (issue 12: messages landed on the
 * wrong row, and the other row said "libvips failed without saying why").
 * Built with its own copy of src/util.c, whose internals the library does
 * not export. */
#include "config.h"

#include <string.h>

#include "../src/sp-private.h"

/* Two rows in flight fail at once: each takes the lines naming its
 * graph's files; a line naming no registered file goes to the first
 * reader. Graph B runs on another thread, as batch rows do. */
static const int A = 1, B = 2;

static gpointer
register_b(gpointer data)
{
	_sp_vips_error_names_add(&B, "rows/b.tif");
	_sp_vips_error_names_add(&B, "out/b.png");
	return NULL;
}

static gpointer
fail_b(gpointer data)
{
	GError **b = data;

	_sp_set_vips_error(b, "load", "rows/b.tif");
	return NULL;
}

static void
test_two_rows(void)
{
	GError *a = NULL, *b = NULL;

	_sp_vips_error_names_add(&A, "rows/a.tif");
	g_thread_join(g_thread_new("b", register_b, NULL));
	vips_error("tiffload", "%s", "rows/b.tif: bad tile 3");
	vips_error("tiffload", "%s", "rows/a.tif: truncated");
	vips_error("vips2png", "%s", "unable to write to out/b.png");
	vips_error("jpeg2vips", "%s", "Corrupt JPEG data");

	_sp_set_vips_error(&a, "load", "rows/a.tif");
	g_assert_nonnull(a);
	g_assert_nonnull(strstr(a->message, "rows/a.tif: truncated"));
	g_assert_nonnull(strstr(a->message, "Corrupt JPEG data"));
	g_assert_null(strstr(a->message, "bad tile"));
	g_assert_null(strstr(a->message, "b.png"));
	g_assert_null(strchr(a->message, '\n'));

	/* the other row's lines wait in the buffer for it */
	g_thread_join(g_thread_new("b", fail_b, &b));
	g_assert_nonnull(b);
	g_assert_nonnull(strstr(b->message, "rows/b.tif: bad tile 3"));
	g_assert_nonnull(strstr(b->message, "unable to write to out/b.png"));
	g_assert_null(strstr(b->message, "truncated"));
	g_assert_cmpstr(vips_error_buffer(), ==, "");

	/* a graph's lines nobody took go when it ends; others' stay */
	vips_error("tiffload", "%s", "rows/a.tif: late warning");
	vips_error("tiffload", "%s", "rows/b.tif: for b");
	_sp_vips_error_names_remove(&A);
	g_assert_cmpstr(vips_error_buffer(), ==, "tiffload: rows/b.tif: for b\n");
	_sp_vips_error_names_remove(&B);
	g_assert_cmpstr(vips_error_buffer(), ==, "");
	g_error_free(a);
	g_error_free(b);
}

/* With nothing registered, a failure takes every line, as before. */
static void
test_alone(void)
{
	GError *e = NULL;

	vips_error("tiffload", "%s", "x.tif: not a TIFF");
	vips_error("other", "%s", "y.tif: also");
	_sp_set_vips_error(&e, "load", "x.tif");
	g_assert_nonnull(strstr(e->message, "x.tif: not a TIFF"));
	g_assert_nonnull(strstr(e->message, "y.tif: also"));
	g_assert_cmpstr(vips_error_buffer(), ==, "");
	g_clear_error(&e);

	/* an empty buffer says so */
	_sp_set_vips_error(&e, "load", "z.tif");
	g_assert_nonnull(strstr(e->message, "without saying why"));
	g_error_free(e);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	if (VIPS_INIT(argv[0]))
		return 1;
	g_test_add_func("/vips-errors/two-rows", test_two_rows);
	g_test_add_func("/vips-errors/alone", test_alone);
	return g_test_run();
}
