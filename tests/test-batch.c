/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sp_batch_run() through its callbacks, as a program other than the
 * slidepipe command uses it: rows and their outcomes, progress counts,
 * a refused start, and the manifest reader's cases (byte order mark,
 * comments, a quoted line break, a quote never closed, TSV). It prints
 * nothing itself. GTest, TAP output.
 */
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>
#include <slidepipe/slidepipe.h>

static char *tmpdir;

typedef struct {
	GMutex lock;
	GPtrArray *rows;    /* "index line status out|error" strings */
	gboolean started;
	guint64 total;
	guint64 done, failed; /* the last progress call's */
	int row_calls, progress_calls;
} Seen;

static char *
write_file(const char *name, const char *text)
{
	char *path = g_build_filename(tmpdir, name, NULL);

	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	return path;
}

static char *
make_slide(void)
{
	char *path = g_build_filename(tmpdir, "s.tif", NULL);
	VipsImage *image;

	if (g_file_test(path, G_FILE_TEST_EXISTS))
		return path;
	g_assert_cmpint(vips_black(&image, 512, 384, "bands", 3, NULL), ==, 0);
	g_assert_cmpint(vips_tiffsave(image, path, "tile", TRUE, "tile_width", 64,
						"tile_height", 64, "pyramid", TRUE, NULL),
		==, 0);
	g_object_unref(image);
	return path;
}

static gboolean
on_start(guint64 total, void *user_data, GError **error)
{
	Seen *seen = user_data;

	g_assert_false(seen->started);
	g_assert_cmpint(seen->row_calls, ==, 0);
	seen->started = TRUE;
	seen->total = total;
	return TRUE;
}

static gboolean
refuse_start(guint64 total, void *user_data, GError **error)
{
	g_set_error(error, SP_ERROR, SP_ERROR_USAGE, "not today");
	return FALSE;
}

static void
on_row(const SpBatchRow *row, void *user_data)
{
	static const char *const names[] = { "ok", "skipped", "valid",
		"invalid", "failed" };
	Seen *seen = user_data;

	/* never two at once */
	g_assert_true(g_mutex_trylock(&seen->lock));
	g_assert_true(seen->started);
	g_assert_cmpint(row->status, <=, SP_BATCH_ROW_FAILED);
	g_ptr_array_add(seen->rows,
		g_strdup_printf("%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %s %s",
			row->index, row->line, names[row->status],
			row->error ? row->error : (row->out ? row->out : "-")));
	seen->row_calls++;
	g_mutex_unlock(&seen->lock);
}

static void
on_progress(guint64 done, guint64 failed, guint64 total, void *user_data)
{
	Seen *seen = user_data;

	/* after each row's own callback */
	g_assert_cmpint(done, ==, seen->row_calls);
	g_assert_cmpint(total, ==, seen->total);
	seen->done = done;
	seen->failed = failed;
	seen->progress_calls++;
}

static gint
by_index(gconstpointer a, gconstpointer b)
{
	return g_ascii_strtoull(*(char **) a, NULL, 10) -
		g_ascii_strtoull(*(char **) b, NULL, 10);
}

static void
seen_init(Seen *seen)
{
	memset(seen, 0, sizeof(*seen));
	g_mutex_init(&seen->lock);
	seen->rows = g_ptr_array_new_with_free_func(g_free);
}

static void
seen_clear(Seen *seen)
{
	g_ptr_array_unref(seen->rows);
	g_mutex_clear(&seen->lock);
}

static void
test_rows_and_progress(void)
{
	g_autofree char *slide = make_slide();
	g_autofree char *out_dir = g_build_filename(tmpdir, "out", NULL);
	/* a BOM, a comment, a quoted line break, a duplicate output, an
	 * output leaving --out-dir, a region outside the slide, a blank
	 * line, and a quote never closed on the last line */
	g_autofree char *text = g_strdup_printf("\xEF\xBB\xBF# made by hand\n"
											"slide,x,y,w,h,out,note\n"
											"%s,0,0,64,64,a.png,plain\n"
											"%s,0,0,64,64,b.png,\"two\nlines\"\n"
											"%s,0,0,64,64,a.png,again\n"
											"\n"
											"%s,0,0,64,64,../c.png,up\n"
											"%s,0,0,9999,64,d.png,wide\n"
											"%s,0,0,64,64,e.png,\"open\n",
		slide, slide, slide, slide, slide, slide);
	g_autofree char *manifest = write_file("m.csv", text);
	SpBatchOptions o = { 0 };
	GError *error = NULL;
	Seen seen;

	seen_init(&seen);
	o.manifest = manifest;
	o.out_dir = out_dir;
	o.jobs = 2;
	o.dry_run = TRUE;
	o.start = on_start;
	o.row = on_row;
	o.progress = on_progress;
	o.user_data = &seen;
	g_assert_true(sp_batch_run(&o, &error));
	g_assert_no_error(error);

	g_ptr_array_sort(seen.rows, by_index);
	g_assert_cmpint(seen.rows->len, ==, 6);
	g_assert_cmpstr(g_ptr_array_index(seen.rows, 0), ==, "0 3 valid a.png");
	/* a record that spans two lines starts on the first */
	g_assert_cmpstr(g_ptr_array_index(seen.rows, 1), ==, "1 4 valid b.png");
	g_assert_cmpstr(g_ptr_array_index(seen.rows, 2), ==,
		"2 6 invalid output 'a.png' is also written by row 1");
	g_assert_true(g_str_has_prefix(g_ptr_array_index(seen.rows, 3),
		"3 8 invalid output '../c.png' leaves --out-dir"));
	g_assert_true(g_str_has_prefix(g_ptr_array_index(seen.rows, 4),
		"4 9 failed "));
	g_assert_cmpstr(g_ptr_array_index(seen.rows, 5), ==,
		"5 10 invalid unterminated quote");
	g_assert_cmpint(seen.progress_calls, ==, 6);
	g_assert_cmpint(seen.done, ==, 6);
	g_assert_cmpint(seen.failed, ==, 4);
	/* a dry run makes nothing */
	g_assert_false(g_file_test(out_dir, G_FILE_TEST_EXISTS));
	seen_clear(&seen);
}

static void
test_tsv_and_shard(void)
{
	g_autofree char *slide = make_slide();
	g_autofree char *out_dir = g_build_filename(tmpdir, "out-tsv", NULL);
	g_autofree char *text = g_strdup_printf("slide\tx\ty\tw\th\tout\n"
											"%s\t0\t0\t32\t32\tp.png\n"
											"%s\t0\t0\t32\t32\tq.png\n"
											"%s\t0\t0\t32\t32\tr.png\n",
		slide, slide, slide);
	g_autofree char *manifest = write_file("m.tsv", text);
	SpBatchOptions o = { 0 };
	GError *error = NULL;
	Seen seen;

	seen_init(&seen);
	o.manifest = manifest;
	o.out_dir = out_dir;
	o.shard_index = 2;
	o.shard_count = 2;
	o.start = on_start;
	o.row = on_row;
	o.user_data = &seen;
	g_assert_true(sp_batch_run(&o, &error));
	g_assert_no_error(error);
	g_assert_cmpint(seen.total, ==, 1);
	g_assert_cmpint(seen.rows->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(seen.rows, 0), ==, "1 3 ok q.png");
	g_autofree char *q = g_build_filename(out_dir, "q.png", NULL);
	g_assert_true(g_file_test(q, G_FILE_TEST_IS_REGULAR));
	seen_clear(&seen);

	/* again: the output exists, so the row is skipped */
	seen_init(&seen);
	g_assert_true(sp_batch_run(&o, &error));
	g_assert_cmpstr(g_ptr_array_index(seen.rows, 0), ==, "1 3 skipped q.png");
	seen_clear(&seen);
}

static void
test_cannot_start(void)
{
	g_autofree char *slide = make_slide();
	g_autofree char *out_dir = g_build_filename(tmpdir, "out-no", NULL);
	g_autofree char *text = g_strdup_printf("slide,x,y,w,h,out\n"
											"%s,0,0,8,8,z.png\n",
		slide);
	g_autofree char *manifest = write_file("ok.csv", text);
	g_autofree char *no_out = write_file("no-out.csv", "slide,x,y,w,h\n");
	SpBatchOptions o = { 0 };
	GError *error = NULL;
	Seen seen;

	seen_init(&seen);
	o.out_dir = out_dir;
	o.row = on_row;
	o.user_data = &seen;

	/* a refused start: no row runs, its error comes back */
	o.manifest = manifest;
	o.start = refuse_start;
	g_assert_false(sp_batch_run(&o, &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_assert_cmpstr(error->message, ==, "not today");
	g_clear_error(&error);
	g_assert_cmpint(seen.row_calls, ==, 0);

	/* a missing column, named with the manifest */
	o.manifest = no_out;
	o.start = NULL;
	g_assert_false(sp_batch_run(&o, &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_assert_nonnull(strstr(error->message, "no 'out' column"));
	g_assert_nonnull(strstr(error->message, "no-out.csv"));
	g_clear_error(&error);
	g_assert_cmpint(seen.row_calls, ==, 0);
	seen_clear(&seen);
}

int
main(int argc, char **argv)
{
	GError *error = NULL;
	int result;

	g_test_init(&argc, &argv, NULL);
	g_assert_true(sp_init(argv[0], &error));
	tmpdir = g_dir_make_tmp("sp-test-batch-XXXXXX", NULL);

	g_test_add_func("/batch/rows-and-progress", test_rows_and_progress);
	g_test_add_func("/batch/tsv-shard-resume", test_tsv_and_shard);
	g_test_add_func("/batch/cannot-start", test_cannot_start);
	result = g_test_run();

	/* the scratch directory, then libvips */
	g_autofree char *rm = g_strdup_printf("rm -rf '%s'", tmpdir);
	if (system(rm) != 0)
		result = 1;
	g_free(tmpdir);
	vips_shutdown();
	return result;
}
