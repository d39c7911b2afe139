/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The C API: argument checks from the declarations, geometry planned
 * without pixels, pixel results of each operator, errors, and no leaked
 * libvips objects. GTest, TAP output.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <lcms2.h>
#include <slidepipe/slidepipe.h>
#include <tiffio.h>

static char *tmpdir;

static char *
tmp_path(const char *name)
{
	return g_build_filename(tmpdir, name, NULL);
}

static void *
count_cb(void *object, void *a, void *b)
{
	int *n = a;

	(*n)++;
	return NULL;
}

static int
live_objects(void)
{
	int n = 0;

	vips_object_map(count_cb, &n, NULL);
	return n;
}

/* A 1-band test image whose pixel (x, y) is (x + 3y) mod 256, written as a
 * tiled pyramidal LZW TIFF with a 0.5 µm pixel size. Lossless, so pixel
 * values can be checked exactly. */
static char *
make_gradient_slide(int w, int h)
{
	char *path = tmp_path("gradient.tif");
	VipsImage *xy, *x, *y, *t1, *t2, *t3;

	if (g_file_test(path, G_FILE_TEST_EXISTS))
		return path;
	g_assert_cmpint(vips_xyz(&xy, w, h, NULL), ==, 0);
	g_assert_cmpint(vips_extract_band(xy, &x, 0, NULL), ==, 0);
	g_assert_cmpint(vips_extract_band(xy, &y, 1, NULL), ==, 0);
	g_assert_cmpint(vips_linear1(y, &t1, 3.0, 0.0, NULL), ==, 0);
	g_assert_cmpint(vips_add(x, t1, &t2, NULL), ==, 0);
	g_assert_cmpint(vips_remainder_const1(t2, &t3, 256, NULL), ==, 0);
	VipsImage *u;
	g_assert_cmpint(vips_cast_uchar(t3, &u, NULL), ==, 0);
	g_assert_cmpint(vips_tiffsave(u, path, "tile", TRUE, "tile_width", 64,
				"tile_height", 64, "pyramid", TRUE,
				"compression",
				VIPS_FOREIGN_TIFF_COMPRESSION_LZW, "resunit",
				VIPS_FOREIGN_TIFF_RESUNIT_CM, "xres", 2000.0,
				"yres", 2000.0, NULL),
		==, 0);
	g_object_unref(u);
	g_object_unref(t3);
	g_object_unref(t2);
	g_object_unref(t1);
	g_object_unref(y);
	g_object_unref(x);
	g_object_unref(xy);
	return path;
}

/* Two classes: grey 50 on the left half, 200 on the right, plus a little
 * deterministic noise so the histogram is not two spikes. */
static char *
make_two_class_image(void)
{
	char *path = tmp_path("two-class.png");
	VipsImage *xy, *x, *cls, *noise, *sum, *u;
	const int w = 512, h = 256;

	g_assert_cmpint(vips_xyz(&xy, w, h, NULL), ==, 0);
	g_assert_cmpint(vips_extract_band(xy, &x, 0, NULL), ==, 0);
	/* x >= w/2 -> 255, then scale to 150 and add 50 */
	g_assert_cmpint(vips_moreeq_const1(x, &cls, w / 2, NULL), ==, 0);
	VipsImage *scaled;
	g_assert_cmpint(vips_linear1(cls, &scaled, 150.0 / 255.0, 50.0, NULL),
		==, 0);
	g_assert_cmpint(vips_gaussnoise(&noise, w, h, "sigma", 5.0, "mean", 0.0,
				"seed", 7, NULL),
		==, 0);
	g_assert_cmpint(vips_add(scaled, noise, &sum, NULL), ==, 0);
	g_assert_cmpint(vips_cast_uchar(sum, &u, NULL), ==, 0);
	g_assert_cmpint(vips_pngsave(u, path, NULL), ==, 0);
	g_object_unref(u);
	g_object_unref(sum);
	g_object_unref(noise);
	g_object_unref(scaled);
	g_object_unref(cls);
	g_object_unref(x);
	g_object_unref(xy);
	return path;
}

/* An RGB slide with smooth content, tiled 64², JPEG Q75, pyramidal:
 * the kind of source the writer and the tile copy meet. */
static char *
make_rgb_jpeg_slide(void)
{
	char *path = tmp_path("rgb-jpeg.tif");
	VipsImage *xy, *x, *y, *sum, *bands[3], *rgb, *u;
	const int w = 1200, h = 900;

	if (g_file_test(path, G_FILE_TEST_EXISTS))
		return path;
	g_assert_cmpint(vips_xyz(&xy, w, h, NULL), ==, 0);
	g_assert_cmpint(vips_extract_band(xy, &x, 0, NULL), ==, 0);
	g_assert_cmpint(vips_extract_band(xy, &y, 1, NULL), ==, 0);
	g_assert_cmpint(vips_add(x, y, &sum, NULL), ==, 0);
	g_assert_cmpint(vips_linear1(x, &bands[0], 255.0 / w, 0, NULL), ==, 0);
	g_assert_cmpint(vips_linear1(y, &bands[1], 255.0 / h, 0, NULL), ==, 0);
	g_assert_cmpint(vips_linear1(sum, &bands[2], 255.0 / (w + h), 0, NULL),
		==, 0);
	g_assert_cmpint(vips_bandjoin(bands, &rgb, 3, NULL), ==, 0);
	g_assert_cmpint(vips_cast_uchar(rgb, &u, NULL), ==, 0);
	u->Type = VIPS_INTERPRETATION_sRGB;
	g_assert_cmpint(vips_tiffsave(u, path, "tile", TRUE, "tile_width", 64,
				"tile_height", 64, "pyramid", TRUE,
				"compression",
				VIPS_FOREIGN_TIFF_COMPRESSION_JPEG, "Q", 75,
				NULL),
		==, 0);
	VipsImage *all[] = { u, rgb, bands[0], bands[1], bands[2], sum, y, x,
		xy };
	for (guint i = 0; i < G_N_ELEMENTS(all); i++)
		g_object_unref(all[i]);
	return path;
}

/* Mean absolute difference of page @page of two TIFFs. */
static double
page_mad(const char *a, const char *b, int page)
{
	VipsImage *ia, *ib, *d, *ad;
	double mean;

	g_assert_cmpint(vips_tiffload(a, &ia, "page", page, NULL), ==, 0);
	g_assert_cmpint(vips_tiffload(b, &ib, "page", page, NULL), ==, 0);
	g_assert_cmpint(ia->Xsize, ==, ib->Xsize);
	g_assert_cmpint(ia->Ysize, ==, ib->Ysize);
	g_assert_cmpint(vips_subtract(ia, ib, &d, NULL), ==, 0);
	g_assert_cmpint(vips_abs(d, &ad, NULL), ==, 0);
	g_assert_cmpint(vips_avg(ad, &mean, NULL), ==, 0);
	g_object_unref(ad);
	g_object_unref(d);
	g_object_unref(ib);
	g_object_unref(ia);
	return mean;
}

static double
pixel(VipsImage *image, int x, int y)
{
	double *v;
	int n;
	double r;

	g_assert_cmpint(vips_getpoint(image, &v, &n, x, y, NULL), ==, 0);
	r = v[0];
	g_free(v);
	return r;
}

static void
test_declarations(void)
{
	int n;
	const SpOpInfo *const *ops = sp_op_list(&n);
	const char *names[] = { "load", "crop", "downsample", "threshold",
		"save", "tiles", "overlay", "invert", "blur", "deconvolve",
		"morph", "label", "cast", "project", "channels", "colorize",
		"rasterize" };

	g_assert_cmpint(n, ==, G_N_ELEMENTS(names));
	for (int i = 0; i < n; i++) {
		g_assert_cmpstr(sp_op_get_name(ops[i]), ==, names[i]);
		int n_args;
		const SpArgInfo *args = sp_op_get_args(ops[i], &n_args);
		g_autofree char *help = sp_op_format_help(ops[i]);
		g_autofree char *man_roff = sp_op_format_man(ops[i]);
		/* roff writes a hyphen in a name as \- */
		g_auto(GStrv) parts = g_strsplit(man_roff, "\\-", -1);
		g_autofree char *man = g_strjoinv("-", parts);

		/* help and man page are derived from every declared argument */
		g_assert_cmpint(n_args, >, 0);
		for (int j = 0; j < n_args; j++) {
			g_assert_nonnull(strstr(help, args[j].name));
			g_assert_nonnull(strstr(man, args[j].name));
			g_assert_nonnull(args[j].doc);
		}
		g_assert_true(g_str_has_prefix(man, ".SS "));
	}
	g_assert_null(sp_op_lookup("sharpen"));
	g_assert_true(sp_op_get_kind(sp_op_lookup("save")) == SP_OP_SINK);
}

/* SP_ARG_LENGTH through the varargs: text, pixels or µm through the
 * slide's mpp (the gradient slide's 0.5 µm), checked in pixels; the
 * filters' halos and roles follow. */
static void
test_length_arguments(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *load = sp_load(graph, path, &error, NULL);
	SpNode *blur, *down, *local, *morph;
	SpPlan plan;

	g_assert_no_error(error);
	/* 2 µm at 0.5 µm per pixel: sigma 4 px, kernel radius 16 */
	blur = sp_node_new(graph, "blur", load, &error, "sigma", "2um", NULL);
	g_assert_no_error(error);
	g_assert_cmpint(sp_node_get_halo(blur), ==, 16);
	blur = sp_node_new(graph, "blur", load, &error, "sigma", "1.5", NULL);
	g_assert_no_error(error);
	g_assert_cmpint(sp_node_get_halo(blur), ==, 6);
	g_assert_cmpint(sp_node_get_halo(load), ==, 0);

	const char *bad[][2] = { { "0", "is not above 0" },
		{ "-1", "is not above 0" }, { "nan", "not a finite number" },
		{ "1e12", "over the limit of 250 px" },
		{ "abc", "is not a length" }, { "2mm", "is not a length" },
		{ "1000um", "over the limit of 250 px" } };
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_assert_null(sp_node_new(graph, "blur", load, &error, "sigma",
			bad[i][0], NULL));
		g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
		g_assert_nonnull(
			strstr(error->message, "blur: argument 'sigma'"));
		g_assert_nonnull(strstr(error->message, bad[i][1]));
		g_clear_error(&error);
	}
	g_assert_null(
		sp_node_new(graph, "blur", load, &error, "sigma", NULL, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);

	/* a local threshold is a filter: a downsample after it is computed
	 * at its level, not read from a lower one */
	local = sp_threshold(load, &error, "method", "local", "block", "51",
		NULL);
	g_assert_no_error(error);
	g_assert_cmpint(sp_node_get_halo(local), ==, 33);
	down = sp_downsample(local, 4, &error, NULL);
	g_assert_no_error(error);
	g_assert_false(sp_node_get_plan(down, &plan));
	g_assert_cmpint(plan.level, ==, 0);
	/* Otsu stays pointwise: the same downsample reads level 2 */
	down = sp_downsample(sp_threshold(load, &error, NULL), 4, &error, NULL);
	g_assert_no_error(error);
	g_assert_true(sp_node_get_plan(down, &plan));
	g_assert_cmpint(plan.level, ==, 2);

	morph = sp_node_new(graph, "morph", local, &error, "operation", "open",
		"radius", "1.5um", NULL);
	g_assert_no_error(error);
	g_assert_cmpint(sp_node_get_halo(morph), ==, 6);
	sp_graph_free(graph);
}

/* The filters' own argument checks, each error naming the operator and
 * the argument (and the file where the input is the cause). */
static void
test_filter_arguments(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *load = sp_load(graph, path, &error, NULL);
	g_autofree char *rgb_path = make_rgb_jpeg_slide();
	SpNode *rgb;

	g_assert_no_error(error);
	struct {
		const char *op, *args[5], *message;
	} bad[] = {
		{ "blur", { NULL }, "blur: missing argument 'sigma'" },
		{ "blur", { "sigma", "inf", NULL },
			"'inf' is not a finite number" },
		{ "blur", { "sigma", "1e400", NULL },
			"'1e400' is not a length" },
		{ "morph", { "operation", "open", "radius", "0.5", NULL },
			"morph: argument 'radius': 0.5 is below the smallest 1 px" },
		{ "morph", { "operation", "erode", "radius", "1000", NULL },
			"morph: argument 'radius': 1000 is over the limit of 64 px" },
		{ "morph", { "operation", "thin", "radius", "2", NULL },
			"morph: argument 'operation': 'thin' is not one of "
			"open|close|erode|dilate" },
		{ "threshold", { "method", "local", NULL },
			"threshold: method=local needs block=N" },
		{ "deconvolve", { NULL },
			"deconvolve: argument 'stain': colour deconvolution needs RGB "
			"input" },
	};
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		const char **a = bad[i].args;
		/* NAME, value pairs up to the first NULL name */
		SpNode *node = sp_node_new(graph, bad[i].op, load, &error, a[0],
			a[1], a[2], a[3], NULL);

		g_assert_null(node);
		g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
		if (!strstr(error->message, bad[i].message))
			g_error("'%s' lacks '%s'", error->message,
				bad[i].message);
		g_clear_error(&error);
	}
	/* the 1-band slide's name is in the message */
	g_assert_null(sp_node_new(graph, "deconvolve", load, &error, NULL));
	g_assert_nonnull(strstr(error->message, "gradient.tif"));
	g_clear_error(&error);

	/* stain matrices need an RGB input */
	rgb = sp_load(graph, rgb_path, &error, NULL);
	g_assert_no_error(error);
	g_assert_null(sp_node_new(graph, "deconvolve", rgb, &error, "stain",
		"1,0,0,2,0,0,0,0,1", NULL));
	g_assert_nonnull(strstr(error->message,
		"deconvolve: argument 'stain': the stain vectors "
		"'1,0,0,2,0,0,0,0,1' are linearly dependent"));
	g_clear_error(&error);
	g_assert_null(sp_node_new(graph, "deconvolve", rgb, &error, "stain",
		"hdab", "channel", "e", NULL));
	g_assert_nonnull(strstr(error->message,
		"deconvolve: argument 'channel': stain=hdab has no e"));
	g_clear_error(&error);
	g_assert_null(sp_node_new(graph, "deconvolve", rgb, &error, "stain",
		"0.65,0.70,0.29,0.07,x,0.11,0.27,0.57,0.78", NULL));
	g_assert_nonnull(strstr(error->message, "is not he, hdab or 9"));
	g_clear_error(&error);
	/* six numbers: the third stain is their cross product */
	SpNode *six = sp_node_new(graph, "deconvolve", rgb, &error, "stain",
		"0.65,0.70,0.29,0.07,0.99,0.11", NULL);
	g_assert_no_error(error);
	g_assert_cmpint(sp_node_get_geometry(six)->bands, ==, 1);
	sp_graph_free(graph);
}

/* Each operator's arguments are stored apart (issue 13: by struct
 * offset); the typed calls and sp_node_new() fill them, once each. */
static void
test_argument_storage(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	int n;
	const SpOpInfo *const *ops = sp_op_list(&n);

	for (int i = 0; i < n; i++) {
		int n_args;
		const SpArgInfo *args = sp_op_get_args(ops[i], &n_args);

		for (int j = 0; j < n_args; j++)
			for (int k = 0; k < j; k++)
				g_assert_cmpint(args[j].offset, !=,
					args[k].offset);
	}

	SpNode *load = sp_load(graph, path, &error, NULL);
	g_assert_no_error(error);

	/* a fixed argument given again among the optional ones */
	g_assert_null(sp_crop(load, 0, 0, 10, 10, &error, "x", 5.0, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_assert_nonnull(
		strstr(error->message, "crop: argument 'x' given twice"));
	g_clear_error(&error);
	g_assert_null(sp_load(graph, path, &error, "path", path, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_assert_nonnull(strstr(error->message, "given twice"));
	g_clear_error(&error);

	/* an int through the varargs, range-checked as the command line's */
	g_assert_null(
		sp_node_new(graph, "invert", load, &error, "white", 0, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_assert_nonnull(strstr(error->message,
		"invert: argument 'white': 0 is out of range (1 … 255)"));
	g_clear_error(&error);
	SpNode *inv = sp_node_new(graph, "invert", load, &error, "white", 200,
		NULL);
	g_assert_no_error(error);
	g_assert_cmpint(sp_node_get_geometry(inv)->width, ==, 1000);
	g_assert_cmpint(sp_node_get_geometry(inv)->bands, ==, 1);

	/* a NULL text argument is an error, not a crash */
	g_assert_null(sp_save(inv, NULL, &error, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_assert_nonnull(
		strstr(error->message, "save: argument 'path' is NULL"));
	g_clear_error(&error);

	sp_graph_free(graph);
}

static void
test_argument_checks(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *load = sp_load(graph, path, &error, NULL);

	g_assert_no_error(error);
	g_assert_nonnull(load);

	/* out of the declared range */
	g_assert_null(sp_node_new(graph, "save", load, &error, "path", "x.tif",
		"Q", 101, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_assert_nonnull(strstr(error->message, "'Q'"));
	g_assert_nonnull(strstr(error->message, "out of range"));
	g_clear_error(&error);

	/* not one of the choices */
	g_assert_null(sp_threshold(load, &error, "channel", "hue", NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_assert_nonnull(strstr(error->message, "saturation|gray"));
	g_clear_error(&error);

	/* unknown argument names the known ones */
	g_assert_null(sp_crop(load, 0, 0, 10, 10, &error, "unit", "um", NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_assert_nonnull(strstr(error->message, "unknown argument 'unit'"));
	g_assert_nonnull(strstr(error->message, "units"));
	g_clear_error(&error);

	/* NaN and non-positive sizes */
	g_assert_null(sp_crop(load, NAN, 0, 10, 10, &error, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);
	g_assert_null(sp_crop(load, 0, 0, 0, 10, &error, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);

	/* a crop outside names the slide's size */
	g_assert_null(sp_crop(load, 900, 0, 200, 10, &error, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_REGION);
	g_assert_nonnull(strstr(error->message, "1000 × 700"));
	g_clear_error(&error);

	/* downsample: factor or mpp, not both, not below 1 */
	g_assert_null(sp_downsample(load, 2, &error, "mpp", 1.0, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);
	g_assert_null(sp_downsample(load, 0.5, &error, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);

	/* structure: a filter needs an input, a sink ends the chain */
	g_assert_null(sp_crop(NULL, 0, 0, 1, 1, &error, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);
	SpNode *save = sp_save(load, "out.tif", &error, NULL);
	g_assert_no_error(error);
	g_assert_null(sp_crop(save, 0, 0, 1, 1, &error, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);
	g_assert_null(sp_node_new(graph, "sharpen", load, &error, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_assert_nonnull(strstr(error->message, "load, crop, downsample"));
	g_clear_error(&error);

	sp_graph_free(graph);
	g_assert_cmpint(live_objects(), ==, 0);
}

static void
test_load_errors(void)
{
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	g_autofree char *text = tmp_path("notes.txt");
	g_autofree char *empty = tmp_path("empty.tif");

	g_assert_null(sp_load(graph, "/nonexistent/slide.svs", &error, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_IO);
	g_assert_nonnull(strstr(error->message, "/nonexistent/slide.svs"));
	g_clear_error(&error);

	g_assert_true(g_file_set_contents(text, "not an image\n", -1, NULL));
	g_assert_null(sp_load(graph, text, &error, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_FORMAT);
	g_assert_nonnull(strstr(error->message, "notes.txt"));
	g_clear_error(&error);

	g_assert_true(g_file_set_contents(empty, "", 0, NULL));
	g_assert_null(sp_load(graph, empty, &error, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_FORMAT);
	g_clear_error(&error);

	g_assert_null(sp_load(graph, tmpdir, &error, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_IO);
	g_assert_nonnull(strstr(error->message, "directory"));
	g_clear_error(&error);

	sp_graph_free(graph);
}

static void
test_slide_levels(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	GError *error = NULL;
	SpSlide *slide = sp_slide_open(path, &error);
	double mx, my;

	g_assert_no_error(error);
	g_assert_cmpstr(sp_slide_get_vendor(slide), ==, "generic-tiff");
	/* 1000 -> 500 -> 250 -> 125 -> 63: down to one 64-px tile */
	g_assert_cmpint(sp_slide_get_level_count(slide), ==, 5);
	g_assert_cmpint(sp_slide_get_level(slide, 1)->width, ==, 500);
	g_assert_cmpint(sp_slide_get_level(slide, 1)->height, ==, 350);
	g_assert_cmpint(sp_slide_get_level(slide, 0)->tile_width, ==, 64);
	g_assert_cmpfloat_with_epsilon(sp_slide_get_level(slide, 2)->downsample,
		4.0, 1e-9);
	g_assert_null(sp_slide_get_level(slide, 5));
	g_assert_true(sp_slide_get_mpp(slide, &mx, &my));
	g_assert_cmpfloat_with_epsilon(mx, 0.5, 1e-4);
	g_assert_cmpfloat_with_epsilon(my, 0.5, 1e-4);

	/* largest downsample not above the request, with tolerance */
	g_assert_cmpint(sp_slide_best_level_for_downsample(slide, 1), ==, 0);
	g_assert_cmpint(sp_slide_best_level_for_downsample(slide, 3.9), ==, 1);
	g_assert_cmpint(sp_slide_best_level_for_downsample(slide, 4), ==, 2);
	g_assert_cmpint(sp_slide_best_level_for_downsample(slide, 3.999), ==,
		2);
	g_assert_cmpint(sp_slide_best_level_for_downsample(slide, 1000), ==, 4);
	sp_slide_unref(slide);
}

/* sp_slide_get_icc_profile(), sp_icc_profile_get_description(), and
 * save's icc=keep and format=svs through the C API. */
static void
test_icc_profile(void)
{
	g_autofree char *plain = make_rgb_jpeg_slide();
	g_autofree char *tagged = tmp_path("icc-tagged.tif");
	g_autofree char *out = tmp_path("icc-out.svs");
	GError *error = NULL;
	SpSlide *slide;
	cmsHPROFILE srgb = cmsCreate_sRGBProfile();
	cmsUInt32Number n = 0;

	/* none, NULL, garbage */
	slide = sp_slide_open(plain, &error);
	g_assert_no_error(error);
	g_assert_null(sp_slide_get_icc_profile(slide));
	sp_slide_unref(slide);
	g_assert_null(sp_icc_profile_get_description(NULL));
	static const char junk_text[] =
		"not an ICC profile, not an ICC profile, not an ICC profile, "
		"not an ICC profile, not an ICC profile, not an ICC profile, "
		"not an ICC profile";
	g_autoptr(GBytes)
		junk = g_bytes_new_static(junk_text, sizeof junk_text - 1);
	g_assert_null(sp_icc_profile_get_description(junk));

	/* lcms2's own sRGB profile, embedded by libvips */
	g_assert_true(cmsSaveProfileToMem(srgb, NULL, &n));
	g_autofree guint8 *bytes = g_malloc(n);
	g_assert_true(cmsSaveProfileToMem(srgb, bytes, &n));
	cmsCloseProfile(srgb);
	VipsImage *in, *copy;
	g_assert_cmpint(vips_tiffload(plain, &in, NULL), ==, 0);
	g_assert_cmpint(vips_copy(in, &copy, NULL), ==, 0);
	vips_image_set_blob_copy(copy, VIPS_META_ICC_NAME, bytes, n);
	g_assert_cmpint(vips_tiffsave(copy, tagged, "tile", TRUE, "tile_width",
				64, "tile_height", 64, "pyramid", TRUE, NULL),
		==, 0);
	g_object_unref(copy);
	g_object_unref(in);

	slide = sp_slide_open(tagged, &error);
	g_assert_no_error(error);
	g_autoptr(GBytes) got = sp_slide_get_icc_profile(slide);
	g_assert_nonnull(got);
	g_assert_cmpmem(g_bytes_get_data(got, NULL), g_bytes_get_size(got),
		bytes, n);
	g_autofree char *description = sp_icc_profile_get_description(got);
	g_assert_cmpstr(description, ==, "sRGB built-in");
	sp_slide_unref(slide);

	/* kept byte for byte in an svs save */
	SpGraph *graph = sp_graph_new();
	SpNode *node = sp_load(graph, tagged, &error, NULL);
	g_assert_no_error(error);
	node = sp_crop(node, 64, 64, 512, 384, &error, NULL);
	g_assert_no_error(error);
	g_assert_nonnull(sp_save(node, out, &error, NULL));
	g_assert_no_error(error);
	g_assert_true(sp_graph_run(graph, &error));
	g_assert_no_error(error);
	sp_graph_free(graph);

	slide = sp_slide_open(out, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(sp_slide_get_vendor(slide), ==, "aperio");
	g_autoptr(GBytes) kept = sp_slide_get_icc_profile(slide);
	g_assert_nonnull(kept);
	g_assert_true(g_bytes_equal(kept, got));
	/* the thumbnail, made from the output */
	const char *const *names = sp_slide_get_associated_names(slide);
	g_assert_true(g_strv_contains(names, "thumbnail"));
	sp_slide_unref(slide);
}

/* band @b of pixel (@x, @y) */
static double
pixel_band(VipsImage *image, int x, int y, int b)
{
	double *v;
	int n;
	double r;

	g_assert_cmpint(vips_getpoint(image, &v, &n, x, y, NULL), ==, 0);
	g_assert_cmpint(b, <, n);
	r = v[b];
	g_free(v);
	return r;
}

/* sp_slide_read_region(): OpenSlide's read_region on a grey gradient:
 * R = G = B, opaque inside, (0, 0, 0, 0) outside, a region over the top
 * left edge shifted by -x / downsample, level 1 at x / 2. */
static void
test_read_region(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	GError *error = NULL;
	SpSlide *slide = sp_slide_open(path, &error);

	g_assert_no_error(error);
	VipsImage *r = sp_slide_read_region(slide, 990, 690, 0, 20, 30, TRUE,
		&error);
	g_assert_no_error(error);
	g_assert_cmpint(r->Xsize, ==, 20);
	g_assert_cmpint(r->Ysize, ==, 30);
	g_assert_cmpint(r->Bands, ==, 4);
	g_assert_cmpint(r->BandFmt, ==, VIPS_FORMAT_UCHAR);
	for (int b = 0; b < 3; b++)
		g_assert_cmpfloat(pixel_band(r, 0, 0, b), ==,
			(990 + 3 * 690) % 256);
	g_assert_cmpfloat(pixel_band(r, 9, 9, 3), ==, 255);
	for (int b = 0; b < 4; b++) {
		g_assert_cmpfloat(pixel_band(r, 10, 0, b), ==, 0);
		g_assert_cmpfloat(pixel_band(r, 0, 10, b), ==, 0);
	}
	g_object_unref(r);

	/* over the top left corner; RGB: black outside */
	r = sp_slide_read_region(slide, -5, -2, 0, 10, 10, FALSE, &error);
	g_assert_no_error(error);
	g_assert_cmpint(r->Bands, ==, 3);
	g_assert_cmpfloat(pixel_band(r, 4, 1, 0), ==, 0);
	g_assert_cmpfloat(pixel_band(r, 5, 2, 1), ==, 0);
	g_assert_cmpfloat(pixel_band(r, 6, 3, 2), ==, 1 + 3 * 1);
	g_object_unref(r);

	/* level 1 (downsample 2): level-0 (200, 100) is its pixel (100, 50) */
	SpGraph *graph = sp_graph_new();
	SpNode *l1 = sp_load(graph, path, &error, "level", 1, NULL);
	g_assert_no_error(error);
	VipsImage *level = sp_node_get_image(l1, &error);
	g_assert_no_error(error);
	r = sp_slide_read_region(slide, 200, 100, 1, 8, 8, TRUE, &error);
	g_assert_no_error(error);
	g_assert_cmpfloat(pixel_band(r, 0, 0, 0), ==, pixel(level, 100, 50));
	g_assert_cmpfloat(pixel_band(r, 7, 7, 2), ==, pixel(level, 107, 57));
	g_object_unref(r);
	sp_graph_free(graph);

	/* wholly outside */
	r = sp_slide_read_region(slide, 5000, 0, 0, 4, 4, TRUE, &error);
	g_assert_no_error(error);
	g_assert_cmpfloat(pixel_band(r, 3, 3, 3), ==, 0);
	g_object_unref(r);

	g_assert_null(sp_slide_read_region(slide, 0, 0, 9, 4, 4, TRUE, &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);
	g_assert_null(sp_slide_read_region(slide, 0, 0, 0, 0, 4, TRUE, &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);
	sp_slide_unref(slide);
	g_assert_cmpint(live_objects(), ==, 0);
}

static void
test_crop_pixels(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *node = sp_load(graph, path, &error, NULL);

	node = sp_crop(node, 100, 50, 300, 200, &error, NULL);
	g_assert_no_error(error);
	const SpGeometry *g = sp_node_get_geometry(node);
	g_assert_cmpint(g->width, ==, 300);
	g_assert_cmpint(g->height, ==, 200);
	g_assert_cmpfloat(g->x, ==, 100);
	g_assert_cmpfloat_with_epsilon(g->mpp_x, 0.5, 1e-4);

	VipsImage *image = sp_node_get_image(node, &error);
	g_assert_no_error(error);
	g_assert_cmpint(image->Bands, ==, 1);
	/* pixel (0,0) of the crop is slide pixel (100, 50) */
	g_assert_cmpfloat(pixel(image, 0, 0), ==, (100 + 3 * 50) % 256);
	g_assert_cmpfloat(pixel(image, 299, 199), ==, (399 + 3 * 249) % 256);

	/* crop in µm: 0.5 µm per pixel */
	SpNode *um = sp_crop(sp_node_get_input(node), 50, 25, 150, 100, &error,
		"units", "um", NULL);
	g_assert_no_error(error);
	g_assert_cmpint(sp_node_get_geometry(um)->width, ==, 300);
	g_assert_cmpfloat(sp_node_get_geometry(um)->x, ==, 100);

	/* a crop of a crop is still in level-0 coordinates */
	SpNode *inner = sp_crop(node, 200, 100, 10, 10, &error, NULL);
	g_assert_no_error(error);
	image = sp_node_get_image(inner, &error);
	g_assert_cmpfloat(pixel(image, 0, 0), ==, (200 + 3 * 100) % 256);
	g_assert_null(sp_crop(node, 50, 50, 10, 10, &error, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_REGION);
	g_assert_nonnull(strstr(error->message, "its input"));
	g_clear_error(&error);

	sp_graph_free(graph);
	g_assert_cmpint(live_objects(), ==, 0);
}

static void
test_downsample_box(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *crop = sp_crop(sp_load(graph, path, &error, NULL), 0, 0, 400,
		400, &error, NULL);
	SpNode *node = sp_downsample(crop, 4, &error, NULL);
	g_assert_no_error(error);

	const SpGeometry *g = sp_node_get_geometry(node);
	g_assert_cmpint(g->width, ==, 100);
	g_assert_cmpfloat(g->downsample_x, ==, 4);
	g_assert_cmpfloat_with_epsilon(g->mpp_x, 2.0, 1e-4);

	VipsImage *image = sp_node_get_image(node, &error);
	VipsImage *src = sp_node_get_image(crop, &error);
	g_assert_no_error(error);
	/* each output pixel is the mean of its 4 × 4 block, within 2 */
	for (int y = 0; y < 100; y += 7)
		for (int x = 0; x < 100; x += 9) {
			double sum = 0;
			for (int j = 0; j < 4; j++)
				for (int i = 0; i < 4; i++)
					sum += pixel(src, 4 * x + i, 4 * y + j);
			g_assert_cmpfloat(fabs(pixel(image, x, y) - sum / 16),
				<=, 2);
		}

	/* fractional: size rounds, mpp scales */
	SpNode *frac = sp_downsample(crop, 2.5, &error, NULL);
	g_assert_no_error(error);
	g_assert_cmpint(sp_node_get_geometry(frac)->width, ==, 160);
	g_assert_cmpfloat_with_epsilon(sp_node_get_geometry(frac)->mpp_x, 1.25,
		1e-6);
	image = sp_node_get_image(frac, &error);
	g_assert_no_error(error);
	g_assert_cmpint(image->Xsize, ==, 160);

	/* by target mpp */
	SpNode *bympp = sp_downsample(crop, 0, &error, "mpp", 2.0, NULL);
	g_assert_no_error(error);
	g_assert_cmpint(sp_node_get_geometry(bympp)->width, ==, 100);

	sp_graph_free(graph);
	g_assert_cmpint(live_objects(), ==, 0);
}

static void
test_otsu_two_class(void)
{
	g_autofree char *path = make_two_class_image();
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *mask = sp_threshold(sp_load(graph, path, &error, NULL), &error,
		NULL);
	VipsImage *image;
	double value;

	g_assert_no_error(error);
	image = sp_node_get_image(mask, &error);
	g_assert_no_error(error);
	g_assert_cmpint(image->Bands, ==, 1);
	g_assert_cmpint(image->BandFmt, ==, VIPS_FORMAT_UCHAR);
	g_assert_cmpint(vips_image_get_double(image, "slidepipe-threshold",
				&value),
		==, 0);
	/* between the classes, and reported */
	g_assert_cmpfloat(value, >, 70);
	g_assert_cmpfloat(value, <, 180);
	g_assert_nonnull(strstr(sp_node_get_report(mask), "Otsu value"));
	g_assert_cmpfloat(pixel(image, 10, 10), ==, 0);
	g_assert_cmpfloat(pixel(image, 500, 200), ==, 255);

	/* invert and a fixed value */
	SpNode *inv = sp_threshold(sp_node_get_input(mask), &error, "value",
		100.0, "invert", TRUE, NULL);
	g_assert_no_error(error);
	image = sp_node_get_image(inv, &error);
	g_assert_cmpfloat(pixel(image, 10, 10), ==, 255);
	g_assert_cmpfloat(pixel(image, 500, 200), ==, 0);
	g_assert_null(sp_threshold(sp_node_get_input(mask), &error, "value",
		100.0, "method", "otsu", NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);

	sp_graph_free(graph);
	g_assert_cmpint(live_objects(), ==, 0);
}

static void
test_otsu_reads_low_level(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *mask = sp_threshold(sp_load(graph, path, &error, NULL), &error,
		NULL);

	g_assert_no_error(error);
	/* a 1000-px slide is below 2048: read at level 0 */
	g_assert_nonnull(sp_node_get_image(mask, &error));
	g_assert_nonnull(strstr(sp_node_get_report(mask), "1000 × 700 view"));
	g_assert_nonnull(strstr(sp_node_get_report(mask), "level 0"));
	sp_graph_free(graph);
	g_assert_cmpint(live_objects(), ==, 0);
}

static void
test_save_atomic(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	g_autofree char *out = tmp_path("crop.tif");
	g_autofree char *bad = tmp_path("no-such-dir/crop.tif");
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *crop = sp_crop(sp_load(graph, path, &error, NULL), 10, 10, 600,
		500, &error, NULL);
	SpNode *save = sp_save(crop, out, &error, "tile", 128, NULL);

	g_assert_no_error(error);
	g_assert_cmpstr(sp_node_get_output_path(save), ==, out);
	g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
	g_assert_true(sp_graph_run(graph, &error));
	g_assert_no_error(error);

	/* the output is a pyramid whose levels we can read back */
	SpSlide *written = sp_slide_open(out, &error);
	g_assert_no_error(error);
	g_assert_cmpint(sp_slide_get_level_count(written), ==, 4);
	g_assert_cmpint(sp_slide_get_level(written, 0)->width, ==, 600);
	g_assert_cmpint(sp_slide_get_level(written, 0)->tile_width, ==, 128);
	g_assert_cmpint(sp_slide_get_level(written, 3)->width, ==, 75);
	double mx;
	g_assert_true(sp_slide_get_mpp(written, &mx, NULL));
	g_assert_cmpfloat_with_epsilon(mx, 0.5, 1e-3);
	sp_slide_unref(written);

	/* no temporary file stays behind */
	GDir *dir = g_dir_open(tmpdir, 0, NULL);
	const char *name;
	while ((name = g_dir_read_name(dir)))
		g_assert_false(g_str_has_suffix(name, ".sp-tmp"));
	g_dir_close(dir);

	/* a directory that does not exist: caught before any pixel work */
	g_assert_null(sp_save(crop, bad, &error, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_IO);
	g_assert_nonnull(strstr(error->message, "no-such-dir"));
	g_clear_error(&error);

	sp_graph_free(graph);
	g_assert_cmpint(live_objects(), ==, 0);
}

/* PNG output (written on the row's thread with libdeflate,
 * src/writer/png.c) decodes to what vips_pngsave() writes of the same
 * image with its defaults: the same pixels, bands and resolution (the
 * bytes differ: another deflate). RGB in several strips, grey, a mask,
 * with and without a pixel size. */
static void
check_png_matches_pngsave(SpNode *node, const char *name)
{
	g_autofree char *ours = tmp_path(name);
	g_autofree char *ref_name = g_strconcat("ref-", name, NULL);
	g_autofree char *ref = tmp_path(ref_name);
	g_autofree char *a = NULL, *b = NULL;
	gsize la, lb;
	GError *error = NULL;
	SpNode *save = sp_save(node, ours, &error, NULL);

	g_assert_no_error(error);
	g_assert_true(sp_node_run(save, &error));
	g_assert_no_error(error);

	/* what save did before: the pixel size as the resolution, then
	 * vips_pngsave() with its defaults */
	const SpGeometry *g = sp_node_get_geometry(node);
	VipsImage *image = sp_node_get_image(node, &error), *t;
	g_assert_no_error(error);
	if (g->mpp_x > 0)
		g_assert_cmpint(vips_copy(image, &t, "xres", 1000.0 / g->mpp_x,
					"yres", 1000.0 / g->mpp_y, NULL),
			==, 0);
	else
		t = g_object_ref(image);
	g_assert_cmpint(vips_pngsave(t, ref, NULL), ==, 0);
	g_object_unref(t);

	VipsImage *da = vips_image_new_from_file(ours, NULL);
	VipsImage *db = vips_image_new_from_file(ref, NULL);
	g_assert_nonnull(da);
	g_assert_nonnull(db);
	g_assert_cmpint(da->Xsize, ==, db->Xsize);
	g_assert_cmpint(da->Ysize, ==, db->Ysize);
	g_assert_cmpint(da->Bands, ==, db->Bands);
	g_assert_cmpint(da->BandFmt, ==, db->BandFmt);
	g_assert_cmpfloat(da->Xres, ==, db->Xres);
	g_assert_cmpfloat(da->Yres, ==, db->Yres);
	a = vips_image_write_to_memory(da, &la);
	b = vips_image_write_to_memory(db, &lb);
	g_assert_nonnull(a);
	g_assert_nonnull(b);
	g_assert_cmpmem(a, la, b, lb);
	g_object_unref(da);
	g_object_unref(db);
}

static void
test_png_matches_pngsave(void)
{
	g_autofree char *rgb = make_rgb_jpeg_slide();
	g_autofree char *grey = make_gradient_slide(1000, 700);
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *rgb_load = sp_load(graph, rgb, &error, NULL);
	SpNode *grey_load = sp_load(graph, grey, &error, NULL);

	g_assert_no_error(error);
	/* 1200 × 3 bytes a line: the writer's 1 MB strips split 900 lines */
	check_png_matches_pngsave(rgb_load, "rgb.png");
	check_png_matches_pngsave(sp_crop(rgb_load, 33, 17, 301, 211, &error,
					  NULL),
		"rgb-crop.png");
	check_png_matches_pngsave(sp_crop(grey_load, 5, 7, 640, 480, &error,
					  NULL),
		"grey-crop.png");
	check_png_matches_pngsave(sp_downsample(grey_load, 3, &error, NULL),
		"grey-ds.png");
	check_png_matches_pngsave(sp_threshold(grey_load, &error, NULL),
		"mask.png");
	g_assert_no_error(error);
	sp_graph_free(graph);
	g_assert_cmpint(live_objects(), ==, 0);
}

static void
test_writer_matches_tiffsave(void)
{
	g_autofree char *path = make_rgb_jpeg_slide();
	g_autofree char *ours = tmp_path("ours.tif");
	g_autofree char *theirs = tmp_path("theirs.tif");
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *crop = sp_crop(sp_load(graph, path, &error, NULL), 37, 11, 1000,
		700, &error, NULL);
	SpNode *save = sp_save(crop, ours, &error, "Q", 85, NULL);

	g_assert_no_error(error);
	g_assert_true(sp_node_run(save, &error));
	g_assert_no_error(error);
	g_assert_cmpint(vips_tiffsave(sp_node_get_image(crop, &error), theirs,
				"tile", TRUE, "tile_width", 256, "tile_height",
				256, "pyramid", TRUE, "compression",
				VIPS_FOREIGN_TIFF_COMPRESSION_JPEG, "Q", 85,
				NULL),
		==, 0);
	/* 1000 × 700, 500 × 350, 250 × 175: the same levels, the same
	 * pixels within JPEG tolerance at every level */
	for (int page = 0; page < 3; page++)
		g_assert_cmpfloat(page_mad(ours, theirs, page), <=, 1.5);
	VipsImage *extra;
	g_assert_cmpint(vips_tiffload(ours, &extra, "page", 3, NULL), !=, 0);
	vips_error_clear();
	sp_graph_free(graph);
	g_assert_cmpint(live_objects(), ==, 0);
}

/* Level sizes of a written file, as "WxH WxH …". */
static char *
level_sizes(const char *path)
{
	GError *error = NULL;
	SpSlide *slide = sp_slide_open(path, &error);
	GString *s = g_string_new(NULL);

	g_assert_no_error(error);
	for (int i = 0; i < sp_slide_get_level_count(slide); i++) {
		const SpLevel *l = sp_slide_get_level(slide, i);
		g_string_append_printf(s,
			"%s%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT,
			i ? " " : "", l->width, l->height);
	}
	sp_slide_unref(slide);
	return g_string_free(s, FALSE);
}

static void
test_writer_edges(void)
{
	g_autofree char *path = make_rgb_jpeg_slide();
	g_autofree char *out = tmp_path("edge.tif");
	const struct {
		int x, y, w, h, tile;
		const char *levels;
	} cases[] = {
		/* width not a multiple of the tile */
		{ 3, 5, 257, 300, 256, "257x300 128x150" },
		/* 1 pixel wide: halves to 1 pixel */
		{ 100, 0, 1, 600, 256, "1x600 1x300 1x150" },
		{ 0, 100, 700, 1, 256, "700x1 350x1 175x1" },
		/* a single tile */
		{ 10, 10, 200, 200, 256, "200x200" },
		{ 0, 0, 64, 64, 64, "64x64" },
		{ 0, 0, 1, 1, 16, "1x1" },
		/* one pixel past two tiles: the last tile column or row has no
		 * parent in the next level (once a heap overflow, found by
		 * fuzz/load_fuzzer) */
		{ 0, 0, 513, 300, 256, "513x300 256x150" },
		{ 7, 3, 1025, 257, 256, "1025x257 512x128 256x64" },
		{ 0, 0, 96, 65, 16, "96x65 48x32 24x16 12x8" },
		{ 5, 5, 33, 17, 16, "33x17 16x8" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		SpGraph *graph = sp_graph_new();
		GError *error = NULL;
		SpNode *crop = sp_crop(sp_load(graph, path, &error, NULL),
			cases[i].x, cases[i].y, cases[i].w, cases[i].h, &error,
			NULL);
		SpNode *save = sp_save(crop, out, &error, "tile", cases[i].tile,
			"Q", 95, NULL);

		g_assert_no_error(error);
		g_assert_true(sp_node_run(save, &error));
		g_assert_no_error(error);
		g_autofree char *sizes = level_sizes(out);
		g_assert_cmpstr(sizes, ==, cases[i].levels);

		/* level 0 holds the crop's pixels */
		VipsImage *written, *d, *ad;
		double mad;
		g_assert_cmpint(vips_tiffload(out, &written, NULL), ==, 0);
		g_assert_cmpint(vips_subtract(written,
					sp_node_get_image(crop, &error), &d,
					NULL),
			==, 0);
		g_assert_cmpint(vips_abs(d, &ad, NULL), ==, 0);
		g_assert_cmpint(vips_avg(ad, &mad, NULL), ==, 0);
		g_assert_cmpfloat(mad, <=, 2);
		g_object_unref(ad);
		g_object_unref(d);
		g_object_unref(written);
		sp_graph_free(graph);
	}
	g_assert_cmpint(live_objects(), ==, 0);
}

/* The largest difference between page @page of @out and the region at
 * (@ox, @oy) of page @src_page of @src, over the pixels at least 2 pixels
 * away from both tile grids (@tile in @out's pixels, the same tile size
 * offset by the origin in @src's), where JPEG chroma upsampling sees other
 * neighbours. 0 when a re-cut level holds the source's DCT blocks. */
static int
interior_max_diff(const char *out, int page, const char *src, int src_page,
	int ox, int oy, int tile)
{
	VipsImage *a, *b, *cb;
	size_t na, nb;
	int worst = 0;

	g_assert_cmpint(vips_tiffload(out, &a, "page", page, NULL), ==, 0);
	g_assert_cmpint(vips_tiffload(src, &b, "page", src_page, NULL), ==, 0);
	g_assert_cmpint(vips_extract_area(b, &cb, ox, oy, a->Xsize, a->Ysize,
				NULL),
		==, 0);
	VipsPel *pa = vips_image_write_to_memory(a, &na);
	VipsPel *pb = vips_image_write_to_memory(cb, &nb);
	g_assert_cmpuint(na, ==, nb);
	int w = a->Xsize, h = a->Ysize, bands = a->Bands;
#define NEAR_EDGE(v) ((v) % tile < 2 || (v) % tile >= tile - 2)
	for (int y = 0; y < h; y++) {
		if (NEAR_EDGE(y) || NEAR_EDGE(y + oy))
			continue;
		for (int x = 0; x < w; x++) {
			if (NEAR_EDGE(x) || NEAR_EDGE(x + ox))
				continue;
			for (int c = 0; c < bands; c++) {
				size_t i = ((size_t) y * w + x) * bands + c;
				worst = MAX(worst,
					abs((int) pa[i] - (int) pb[i]));
			}
		}
	}
#undef NEAR_EDGE
	g_free(pa);
	g_free(pb);
	g_object_unref(cb);
	g_object_unref(b);
	g_object_unref(a);
	return worst;
}

static void
test_copy_tiles(void)
{
	g_autofree char *path = make_rgb_jpeg_slide();
	g_autofree char *out = tmp_path("copy.tif");
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *load = sp_load(graph, path, &error, NULL);
	/* on the 64-px grid at level 0 and level 1 (128/2 = 64) */
	SpNode *crop = sp_crop(load, 128, 128, 700, 500, &error, NULL);
	SpNode *save = sp_save(crop, out, &error, "compression", "copy", NULL);

	g_assert_no_error(error);
	g_assert_true(sp_node_run(save, &error));
	g_assert_no_error(error);
	/* levels 0 and 1 copied; level 2, at origin 32, is off the 64-px
	 * grid but on the 16-px MCU grid: re-cut (the source's level 3, 150 ×
	 * 112, has a downsample of 8.02, not the 8 output level 3 needs) */
	g_assert_nonnull(strstr(sp_node_get_report(save), "copied 2 levels"));
	g_assert_nonnull(strstr(sp_node_get_report(save), "re-cut 1 more"));
	g_assert_cmpint(interior_max_diff(out, 1, path, 1, 64, 64, 64), ==, 0);
	g_assert_cmpint(interior_max_diff(out, 2, path, 2, 32, 32, 64), ==, 0);

	/* level 0's compressed tiles are byte-identical to the source's */
	TIFF *src = TIFFOpen(path, "r"), *dst = TIFFOpen(out, "r");
	guint32 tw;
	g_assert_nonnull(src);
	g_assert_nonnull(dst);
	TIFFGetField(dst, TIFFTAG_TILEWIDTH, &tw);
	g_assert_cmpuint(tw, ==, 64);
	int n = 0;
	for (int y = 0; y < 500; y += 64)
		for (int x = 0; x < 700; x += 64) {
			ttile_t a = TIFFComputeTile(src, 128 + x, 128 + y, 0,
				0);
			ttile_t b = TIFFComputeTile(dst, x, y, 0, 0);
			tmsize_t sa = (tmsize_t) TIFFGetStrileByteCount(src, a);
			tmsize_t sb = (tmsize_t) TIFFGetStrileByteCount(dst, b);
			g_assert_cmpint(sa, ==, sb);
			g_autofree unsigned char *ba = g_malloc(sa);
			g_autofree unsigned char *bb = g_malloc(sb);
			g_assert_cmpint(TIFFReadRawTile(src, a, ba, sa), ==,
				sa);
			g_assert_cmpint(TIFFReadRawTile(dst, b, bb, sb), ==,
				sb);
			g_assert_cmpint(memcmp(ba, bb, sa), ==, 0);
			n++;
		}
	g_assert_cmpint(n, ==, 11 * 8);
	TIFFClose(src);
	TIFFClose(dst);
	g_autofree char *sizes = level_sizes(out);
	g_assert_cmpstr(sizes, ==, "700x500 350x250 175x125 87x62 43x31");

	/* off the grid: copy refuses and says why; auto falls back */
	SpNode *off = sp_crop(load, 100, 128, 700, 500, &error, NULL);
	g_assert_null(sp_save(off, out, &error, "compression", "copy", NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_FORMAT);
	g_assert_nonnull(strstr(error->message, "tile grid"));
	g_clear_error(&error);
	SpNode *any = sp_save(off, out, &error, "compression", "auto", NULL);
	g_assert_no_error(error);
	g_assert_true(sp_node_run(any, &error));
	g_assert_null(sp_node_get_report(any));

	/* on the MCU grid, off the tile grid: copy refuses, auto re-cuts level
	 * 0 (and level 1, at 40,24, is computed from pixels) */
	SpNode *mcu = sp_crop(load, 80, 48, 500, 400, &error, NULL);
	g_assert_null(sp_save(mcu, out, &error, "compression", "copy", NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_FORMAT);
	g_clear_error(&error);
	SpNode *recut = sp_save(mcu, out, &error, "compression", "auto", NULL);
	g_assert_no_error(error);
	g_assert_true(sp_node_run(recut, &error));
	g_assert_no_error(error);
	g_assert_nonnull(strstr(sp_node_get_report(recut), "copied 0 levels"));
	g_assert_nonnull(strstr(sp_node_get_report(recut), "re-cut 1 more"));
	g_assert_cmpint(interior_max_diff(out, 0, path, 0, 80, 48, 64), ==, 0);
	g_autofree char *recut_sizes = level_sizes(out);
	g_assert_cmpstr(recut_sizes, ==, "500x400 250x200 125x100 62x50");
	/* the whole of level 0 within JPEG tolerance of the source, edges
	 * included */
	{
		VipsImage *a, *b, *cb, *d, *ad;
		double mad;

		g_assert_cmpint(vips_tiffload(out, &a, "page", 0, NULL), ==, 0);
		g_assert_cmpint(vips_tiffload(path, &b, "page", 0, NULL), ==,
			0);
		g_assert_cmpint(vips_extract_area(b, &cb, 80, 48, 500, 400,
					NULL),
			==, 0);
		g_assert_cmpint(vips_subtract(a, cb, &d, NULL), ==, 0);
		g_assert_cmpint(vips_abs(d, &ad, NULL), ==, 0);
		g_assert_cmpint(vips_avg(ad, &mad, NULL), ==, 0);
		g_assert_cmpfloat(mad, <, 0.05);
		VipsImage *all[] = { ad, d, cb, b, a };
		for (guint i = 0; i < G_N_ELEMENTS(all); i++)
			g_object_unref(all[i]);
	}

	/* a pixel operator in between */
	SpNode *mask = sp_threshold(crop, &error, "value", 10.0, NULL);
	g_assert_null(sp_save(mask, out, &error, "compression", "copy", NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_FORMAT);
	g_assert_nonnull(strstr(error->message, "threshold"));
	g_clear_error(&error);
	sp_graph_free(graph);
	g_assert_cmpint(live_objects(), ==, 0);
}

static SpNode *
chain(SpGraph *graph, const char *text)
{
	GError *error = NULL;
	SpNode *node = sp_pipeline_parse_string(graph, text, &error);

	g_assert_no_error(error);
	return node;
}

static void
test_plan(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	SpGraph *graph = sp_graph_new();
	SpPlan p;
	g_autofree char *t1 =
		g_strdup_printf("load %s ! crop 100 60 800 600 ! downsample 4",
			path);
	g_autofree char *t2 =
		g_strdup_printf("load %s ! crop 101 61 400 300 ! downsample 4",
			path);
	g_autofree char *t3 =
		g_strdup_printf("load %s ! crop 0 0 600 600 ! downsample mpp=3",
			path);
	g_autofree char *t4 = g_strdup_printf(
		"load %s ! crop 100 60 800 600 ! downsample 4 exact=true",
		path);
	g_autofree char *t5 = g_strdup_printf(
		"load %s ! crop 100 60 800 600 ! threshold value=99 ! downsample 4",
		path);
	g_autofree char *t6 = g_strdup_printf("load %s ! downsample 3", path);

	/* aligned: level 2 (downsample 4) read as it is */
	g_assert_true(sp_node_get_plan(chain(graph, t1), &p));
	g_assert_cmpint(p.level, ==, 2);
	g_assert_cmpfloat_with_epsilon(p.x, 25, 1e-9);
	g_assert_cmpfloat_with_epsilon(p.y, 15, 1e-9);
	g_assert_cmpfloat_with_epsilon(p.w, 200, 1e-9);
	g_assert_cmpfloat_with_epsilon(p.remaining_x, 1, 1e-9);
	/* 4 × 3 tiles of 64 px at level 2 */
	g_assert_cmpuint(p.decoded_pixels, ==, 4 * 3 * 64 * 64);

	/* not on the level's grid: the sub-pixel origin is kept */
	g_assert_true(sp_node_get_plan(chain(graph, t2), &p));
	g_assert_cmpint(p.level, ==, 2);
	g_assert_cmpfloat_with_epsilon(p.x, 25.25, 1e-9);
	g_assert_cmpfloat_with_epsilon(p.y, 15.25, 1e-9);

	/* mpp target: 0.5 -> 3 µm is a factor of 6: level 2, then 1.5 */
	g_assert_true(sp_node_get_plan(chain(graph, t3), &p));
	g_assert_cmpint(p.level, ==, 2);
	g_assert_cmpfloat_with_epsilon(p.remaining_x, 1.5, 1e-9);

	/* exact=true and a pointwise operator in between */
	g_assert_false(sp_node_get_plan(chain(graph, t4), &p));
	g_assert_cmpint(p.level, ==, 0);
	g_assert_cmpfloat_with_epsilon(p.remaining_x, 4, 1e-9);
	g_assert_true(sp_node_get_plan(chain(graph, t5), &p));
	g_assert_cmpint(p.level, ==, 2);

	/* largest downsample not above 3 is level 1 (2) */
	g_assert_true(sp_node_get_plan(chain(graph, t6), &p));
	g_assert_cmpint(p.level, ==, 1);
	g_assert_cmpfloat_with_epsilon(p.remaining_x, 1.5, 1e-9);

	/* the whole graph exact */
	sp_graph_set_exact(graph, TRUE);
	g_assert_false(sp_node_get_plan(chain(graph, t1), &p));
	g_assert_cmpint(p.level, ==, 0);
	sp_graph_free(graph);
}

static void
test_plan_pixels(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	SpGraph *graph = sp_graph_new();
	g_autofree char *text =
		g_strdup_printf("load %s ! crop 100 60 800 600 ! downsample 4",
			path);
	SpNode *planned = chain(graph, text);
	GError *error = NULL;

	sp_graph_set_exact(graph, TRUE);
	SpNode *exact = chain(graph, text);
	VipsImage *a = sp_node_get_image(planned, &error);
	VipsImage *b = sp_node_get_image(exact, &error);
	g_assert_no_error(error);
	g_assert_cmpint(a->Xsize, ==, b->Xsize);
	g_assert_cmpint(a->Ysize, ==, b->Ysize);
	/* level 2 holds 4 × 4 means of level 0 (rounded twice): within 1 */
	for (int y = 0; y < a->Ysize; y += 13)
		for (int x = 0; x < a->Xsize; x += 11)
			g_assert_cmpfloat(fabs(pixel(a, x, y) - pixel(b, x, y)),
				<=, 1);
	sp_graph_free(graph);
	g_assert_cmpint(live_objects(), ==, 0);
}

static void
test_pipeline_parse(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	g_autofree char *text = g_strdup_printf(
		"load '%s' ! crop 0 0 512 512 ! downsample factor=2 ! threshold "
		"value=10 invert",
		path);
	/* only a lone '!' separates steps: '512!' is an argument */
	g_autofree char *glued =
		g_strdup_printf("load '%s' ! crop 0 0 512 512! downsample factor=2",
			path);
	g_assert_null(sp_pipeline_parse_string(graph, glued, &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_assert_nonnull(strstr(error->message, "'512!'"));
	g_clear_error(&error);
	SpNode *last = sp_pipeline_parse_string(graph, text, &error);

	g_assert_no_error(error);
	g_assert_cmpstr(sp_op_get_name(sp_node_get_op(last)), ==, "threshold");
	g_assert_cmpint(sp_node_get_geometry(last)->width, ==, 256);
	g_assert_cmpint(sp_node_get_geometry(last)->bands, ==, 1);
	g_assert_cmpstr(sp_op_get_name(sp_node_get_op(sp_node_get_input(last))),
		==, "downsample");

	g_assert_null(sp_pipeline_parse_string(graph,
		"load a.tif ! ! save b.tif", &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_assert_nonnull(strstr(error->message, "empty"));
	g_clear_error(&error);
	g_assert_null(sp_pipeline_parse_string(graph, "crop 0 0 1 1", &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);
	g_assert_null(
		sp_pipeline_parse_string(graph, "load 'unterminated", &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);
	sp_graph_free(graph);
}

/* Messages for one terminal line: escapes, and long values shortened in
 * the middle. */
static void
test_printable(void)
{
	g_autofree char *plain = sp_printable("crop: argument 'x': 'abc' µm");
	g_autofree char *controls = sp_printable("a\nb\rc\td\x1b[31m");
	g_autofree char *bytes = sp_printable("latin1-\xe9\xff.tif");
	g_autofree char *bom = sp_printable("\xef\xbb\xbfload");
	GString *huge = g_string_new("crop: argument 'x': '");

	g_assert_cmpstr(plain, ==, "crop: argument 'x': 'abc' µm");
	g_assert_cmpstr(controls, ==, "a\\nb\\rc\\td\\x1b[31m");
	g_assert_cmpstr(bytes, ==, "latin1-\\xe9\\xff.tif");
	g_assert_cmpstr(bom, ==, "\\ufeffload");

	for (int i = 0; i < 100000; i++)
		g_string_append_c(huge, '7');
	g_string_append(huge, "' is not a finite number");
	g_autofree char *cut = sp_printable(huge->str);
	g_assert_cmpuint(strlen(cut), <=, 1100);
	g_assert_true(g_str_has_prefix(cut, "crop: argument 'x': '777"));
	g_assert_true(g_str_has_suffix(cut, "777' is not a finite number"));
	g_assert_nonnull(strstr(cut, " bytes] … "));
	g_assert_true(g_utf8_validate(cut, -1, NULL));
	g_string_free(huge, TRUE);
}

typedef struct {
	int count;
	int bad_pixels;
	guint64 index_sum;
	int stop_after;
	int level;
	double tissue;
} PatchTally;

static gboolean
tally_patch(const SpPatch *patch, void *user_data, GError **error)
{
	PatchTally *t = user_data;
	int x0 = (int) patch->x, y0 = (int) patch->y;

	t->count++;
	t->index_sum += patch->index;
	t->level = patch->level;
	t->tissue = patch->tissue;
	g_assert_cmpint(patch->bands, ==, 1);
	/* the gradient (x + 3y) mod 256 at level 0; at level 1 each pixel is
	 * the mean of a 2 × 2 block, checked at the corners only */
	if (patch->downsample == 1)
		for (int y = 0; y < patch->height; y++)
			for (int x = 0; x < patch->width; x++)
				if (patch->pixels[y * patch->width + x] !=
					(x0 + x + 3 * (y0 + y)) % 256)
					t->bad_pixels++;
	if (t->stop_after && t->count >= t->stop_after) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED, "enough");
		return FALSE;
	}
	return TRUE;
}

/* sp_tiles_foreach: every patch of the grid once, its pixels where its
 * coordinates say, and a callback that stops the run. */
static void
test_tiles_foreach(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *load = sp_load(graph, path, &error, NULL);
	PatchTally t = { 0 };

	g_assert_no_error(error);
	g_assert_true(sp_tiles_foreach(load, tally_patch, &t, &error, "size",
		100, NULL));
	g_assert_no_error(error);
	g_assert_cmpint(t.count, ==, 70); /* 10 × 7 */
	g_assert_cmpint(t.index_sum, ==, 69 * 70 / 2); /* each index once */
	g_assert_cmpint(t.bad_pixels, ==, 0);
	g_assert_cmpfloat(t.tissue, ==, -1);

	/* level 1 (500 × 350): 50-pixel patches, read from level 1 */
	memset(&t, 0, sizeof(t));
	g_assert_true(sp_tiles_foreach(load, tally_patch, &t, &error, "size",
		50, "level", 1, NULL));
	g_assert_no_error(error);
	g_assert_cmpint(t.count, ==, 70);
	g_assert_cmpint(t.level, ==, 1);

	/* a crop, stride and edge=pad: 250 × 150 region, 100 patches, stride
	 * 100: 3 × 2 with padding */
	SpNode *crop = sp_crop(load, 100, 100, 250, 150, &error, NULL);
	memset(&t, 0, sizeof(t));
	g_assert_true(sp_tiles_foreach(crop, tally_patch, &t, &error, "size",
		100, "edge", "pad", NULL));
	g_assert_cmpint(t.count, ==, 6);
	g_assert_cmpint(t.bad_pixels, >,
		0); /* the padding is 0, not gradient */

	/* the callback stops the run with its own error */
	memset(&t, 0, sizeof(t));
	t.stop_after = 3;
	g_assert_false(sp_tiles_foreach(load, tally_patch, &t, &error, "size",
		100, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_FAILED);
	g_assert_cmpstr(error->message, ==, "enough");
	g_assert_cmpint(t.count, ==, 3);
	g_clear_error(&error);

	/* bad arguments are the operator's usage errors */
	g_assert_false(sp_tiles_foreach(load, tally_patch, &t, &error, "level",
		9, NULL));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_assert_nonnull(strstr(error->message, "has no level 9"));
	g_clear_error(&error);

	sp_graph_free(graph);
	g_assert_cmpint(live_objects(), ==, 0);
}

static gboolean
count_object(const SpObject *object, void *user_data, GError **error)
{
	gint64 *area = user_data;

	for (gsize i = 0; i < object->n_runs; i++)
		area[0] += object->runs[i].x1 - object->runs[i].x0 + 1;
	area[1] += object->area;
	area[2]++;
	return TRUE;
}

/* The text forms the Python module calls: the same patches as the
 * variadic one, shard=K/N shares that add up to the grid once each, the
 * label objects of a mask, and usage errors naming the argument. */
static void
test_foreach_from_strings(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *load = sp_load(graph, path, &error, NULL);
	PatchTally t = { 0 };
	const char *size100[] = { "size=100", NULL };

	g_assert_no_error(error);
	g_assert_true(sp_tiles_foreach_from_strings(load, size100, tally_patch,
		&t, &error));
	g_assert_no_error(error);
	g_assert_cmpint(t.count, ==, 70);
	g_assert_cmpint(t.index_sum, ==, 69 * 70 / 2);
	g_assert_cmpint(t.bad_pixels, ==, 0);

	/* three shares: 23, 23, 24 patches, each index once in all */
	guint64 sum = 0;
	int count = 0;
	for (int k = 1; k <= 3; k++) {
		g_autofree char *shard = g_strdup_printf("shard=%d/3", k);
		const char *words[] = { "size=100", shard, NULL };

		memset(&t, 0, sizeof(t));
		g_assert_true(sp_tiles_foreach_from_strings(load, words,
			tally_patch, &t, &error));
		g_assert_no_error(error);
		g_assert_cmpint(t.count, ==, k < 3 ? 23 : 24);
		g_assert_cmpint(t.bad_pixels, ==, 0);
		sum += t.index_sum;
		count += t.count;
	}
	g_assert_cmpint(count, ==, 70);
	g_assert_cmpint(sum, ==, 69 * 70 / 2);

	const char *bad[] = { "size=100", "shard=4/3", NULL };
	g_assert_false(sp_tiles_foreach_from_strings(load, bad, tally_patch,
		&t, &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_assert_nonnull(strstr(error->message, "tiles: argument 'shard'"));
	g_clear_error(&error);

	/* label: the gradient's values >= 128 in a threshold mask */
	SpNode *mask = sp_threshold(sp_crop(load, 0, 0, 256, 64, &error, NULL),
		&error, "value", 128.0, NULL);
	gint64 area[3] = { 0 };
	const char *conn[] = { "connectivity=4", NULL };

	g_assert_no_error(error);
	g_assert_true(sp_label_foreach_from_strings(mask, conn, count_object,
		area, &error));
	g_assert_no_error(error);
	g_assert_cmpint(area[2], >, 0);
	g_assert_cmpint(area[0], ==, area[1]);

	const char *badlabel[] = { "connectivity=5", NULL };
	g_assert_false(sp_label_foreach_from_strings(mask, badlabel,
		count_object, area, &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_assert_nonnull(strstr(error->message, "label: argument 'connectivity'"));
	g_clear_error(&error);

	sp_graph_free(graph);
	g_assert_cmpint(live_objects(), ==, 0);
}

/* sp_annotations_*: a QuPath-style file read back (names, classes,
 * colours, bounds), its mask on two grids against the polygons' known
 * pixels, the mask alive after the annotations' last reference, and
 * errors naming the file. */
static void
test_annotations(void)
{
	g_autofree char *dir = g_dir_make_tmp("sp-test-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "a.geojson", NULL);
	g_autofree char *bad = g_build_filename(dir, "bad.geojson", NULL);
	const char *text =
		"[{\"type\":\"Feature\",\"properties\":{\"name\":\"sq\","
		"\"classification\":{\"name\":\"Tumor\",\"color\":[200,0,"
		"10]}},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":"
		"[[[10,10],[30,10],[30,30],[10,30],[10,10]],[[15,15],[25,15],"
		"[25,25],[15,25],[15,15]]]}},"
		"{\"type\":\"Feature\",\"properties\":{},\"geometry\":{\"type\":"
		"\"MultiPolygon\",\"coordinates\":[[[[40,0],[50,0],[50,8],"
		"[40,8],[40,0]]]]}}]";
	GError *error = NULL;
	guint8 rgb[3];
	double x, y, w, h;

	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	SpAnnotations *a = sp_annotations_load(path, &error);
	g_assert_no_error(error);
	g_assert_cmpint(sp_annotations_get_count(a), ==, 2);
	g_assert_cmpstr(sp_annotations_get_name(a, 0), ==, "sq");
	g_assert_cmpstr(sp_annotations_get_class(a, 0), ==, "Tumor");
	g_assert_null(sp_annotations_get_class(a, 1));
	g_assert_true(sp_annotations_get_colour(a, 0, rgb));
	g_assert_cmpint(rgb[0], ==, 200);
	g_assert_cmpint(rgb[2], ==, 10);
	g_assert_false(sp_annotations_get_colour(a, 1, rgb));
	sp_annotations_get_bounds(a, 1, &x, &y, &w, &h);
	g_assert_cmpfloat(x, ==, 40);
	g_assert_cmpfloat(w, ==, 10);
	g_assert_cmpfloat(h, ==, 8);

	/* level 0, 60 × 40 from the origin: the square ring (10 … 29 minus
	 * 15 … 24) and the MultiPolygon's rectangle (40 … 49 × 0 … 7) */
	VipsImage *m = sp_annotations_mask(a, NULL, 0, 0, 0, 1, 1, 60, 40,
		&error);
	g_assert_no_error(error);
	sp_annotations_unref(a);
	size_t len;
	guint8 *px = vips_image_write_to_memory(m, &len);
	int bad_pixels = 0, set = 0;
	for (int j = 0; j < 40; j++)
		for (int i = 0; i < 60; i++) {
			gboolean sq = i >= 10 && i < 30 && j >= 10 && j < 30 &&
				!(i >= 15 && i < 25 && j >= 15 && j < 25);
			gboolean rect = i >= 40 && i < 50 && j < 8;
			set += px[j * 60 + i] == 255;
			bad_pixels += px[j * 60 + i] != (sq || rect ? 255 : 0);
		}
	g_assert_cmpint(bad_pixels, ==, 0);
	g_assert_cmpint(set, ==, 400 - 100 + 80);
	g_free(px);
	g_object_unref(m);

	/* feature 1 only, at downsample 2 from (40, 0): 5 × 4 set */
	a = sp_annotations_load(path, &error);
	int one = 1;
	m = sp_annotations_mask(a, &one, 1, 40, 0, 2, 2, 8, 8, &error);
	g_assert_no_error(error);
	px = vips_image_write_to_memory(m, &len);
	set = 0;
	for (size_t i = 0; i < len; i++)
		set += px[i] == 255;
	g_assert_cmpint(set, ==, 5 * 4);
	g_free(px);
	g_object_unref(m);

	/* the same file taken as µm at 0.5 µm per pixel: coordinates and
	 * boxes doubled, properties kept; a bad mpp refused */
	g_assert_cmpint(sp_annotations_get_polygon_count(a, 0), ==, 1);
	g_assert_cmpint(sp_annotations_get_polygon_count(a, 1), ==, 1);
	SpAnnotations *um = sp_annotations_to_pixels(a, 0.5, 0.25, &error);
	g_assert_no_error(error);
	g_assert_cmpint(sp_annotations_get_count(um), ==, 2);
	g_assert_cmpstr(sp_annotations_get_name(um, 0), ==, "sq");
	g_assert_true(sp_annotations_get_colour(um, 0, rgb));
	sp_annotations_get_bounds(um, 1, &x, &y, &w, &h);
	g_assert_cmpfloat(x, ==, 80);
	g_assert_cmpfloat(w, ==, 20);
	g_assert_cmpfloat(h, ==, 32);
	m = sp_annotations_mask(um, &one, 1, 80, 0, 1, 1, 20, 40, &error);
	g_assert_no_error(error);
	px = vips_image_write_to_memory(m, &len);
	set = 0;
	for (size_t i = 0; i < len; i++)
		set += px[i] == 255;
	g_assert_cmpint(set, ==, 20 * 32);
	g_free(px);
	g_object_unref(m);
	sp_annotations_unref(um);
	g_assert_null(sp_annotations_to_pixels(a, 0, 1, &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);
	g_assert_null(sp_annotations_to_pixels(a, 1, 1e7, &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);
	g_assert_null(sp_annotations_to_pixels(a, 1e-13, 1, &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_FORMAT);
	g_assert_nonnull(strstr(error->message, "feature 0"));
	g_assert_nonnull(strstr(error->message, "exceed ±1e12 pixels"));
	g_clear_error(&error);

	/* a bad grid; a bad file */
	g_assert_null(sp_annotations_mask(a, NULL, 0, 0, 0, 0, 1, 8, 8, &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);
	sp_annotations_unref(a);
	g_assert_true(g_file_set_contents(bad,
		"{\"type\":\"Point\",\"coordinates\":[1,2]}", -1, NULL));
	g_assert_null(sp_annotations_load(bad, &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_FORMAT);
	g_assert_nonnull(strstr(error->message, "bad.geojson"));
	g_assert_nonnull(strstr(error->message, "'Point' is not supported"));
	g_clear_error(&error);
	g_assert_null(sp_annotations_load(dir, &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_IO);
	g_clear_error(&error);

	g_unlink(path);
	g_unlink(bad);
	g_rmdir(dir);
	g_assert_cmpint(live_objects(), ==, 0);
}

/* Shuts libvips down with its leak report on (vips_leak_set()), which
 * lists live objects, tracked memory and files left, and text left in
 * the error buffer, and only prints. The report is caught and searched:
 * FALSE (and the report as TAP diagnostics) if it names anything. */
static gboolean
vips_shutdown_without_leaks(void)
{
	static const char *const markers[] = { "objects alive", "allocations",
		"files", "error buffer" };
	g_autofree char *path = NULL;
	g_autofree char *report = NULL;
	int fd = g_file_open_tmp("sp-test-api-leak-XXXXXX", &path, NULL);
	int saved = dup(2);
	gboolean clean = TRUE;

	vips_leak_set(TRUE);
	fflush(stderr);
	if (fd < 0 || saved < 0 || dup2(fd, 2) < 0) {
		printf("# cannot catch libvips' leak report\n");
		vips_shutdown();
		return FALSE;
	}
	vips_shutdown();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	g_file_get_contents(path, &report, NULL, NULL);
	g_unlink(path);
	for (guint i = 0; report && i < G_N_ELEMENTS(markers); i++)
		if (strstr(report, markers[i]))
			clean = FALSE;
	if (!clean) {
		g_auto(GStrv) lines = g_strsplit(report, "\n", -1);

		printf("# libvips' leak report at exit is not empty:\n");
		for (int i = 0; lines[i]; i++)
			printf("#   %s\n", lines[i]);
	}
	return clean;
}

static TIFFErrorHandler
current_error_handler(void)
{
	TIFFErrorHandler h = TIFFSetErrorHandler(NULL);

	TIFFSetErrorHandler(h);
	return h;
}

static TIFFErrorHandler
current_warning_handler(void)
{
	TIFFErrorHandler h = TIFFSetWarningHandler(NULL);

	TIFFSetWarningHandler(h);
	return h;
}

/* Opening slides leaves libtiff's global error and warning handlers
 * alone: they are libvips' (it sets them each time it sniffs a TIFF),
 * and slidepipe swapping them lost libvips' TIFF messages after the first
 * open and raced between batch rows. slidepipe's own libtiff handles
 * carry their handlers (TIFFOpenOptions). */
static void
test_tiff_global_handlers(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	g_autofree char *broken = tmp_path("broken.tif");
	GError *error = NULL;
	SpSlide *slide;

	/* libvips' own, as its TIFF sniffing sets them */
	g_assert_nonnull(vips_foreign_find_load(path));
	TIFFErrorHandler vips_error = current_error_handler();
	TIFFErrorHandler vips_warning = current_warning_handler();
	g_assert_nonnull(vips_error);

	/* a TIFF slidepipe reads with libtiff (not OpenSlide) */
	slide = sp_slide_open(path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(sp_slide_get_vendor(slide), ==, "generic-tiff");
	g_assert_true(current_error_handler() == vips_error);
	g_assert_true(current_warning_handler() == vips_warning);
	/* its pixels, through slidepipe's own reader */
	SpGraph *graph = sp_graph_new();
	SpNode *node = sp_load(graph, path, &error, NULL);
	g_assert_no_error(error);
	VipsImage *image = sp_node_get_image(node, &error);
	g_assert_no_error(error);
	double mean;
	g_assert_cmpint(vips_avg(image, &mean, NULL), ==, 0);
	g_assert_true(current_error_handler() == vips_error);
	g_assert_true(current_warning_handler() == vips_warning);
	sp_graph_free(graph);
	sp_slide_unref(slide);

	/* one libtiff cannot read */
	g_assert_true(
		g_file_set_contents(broken, "II*\0\xff\xff\xff\x7f", 8, NULL));
	g_assert_null(sp_slide_open(broken, &error));
	g_assert_nonnull(error);
	g_clear_error(&error);
	vips_error_clear();
	g_assert_true(current_error_handler() == vips_error);
	g_assert_true(current_warning_handler() == vips_warning);
	g_remove(broken);
}

/* threshold's image is its own, even when libvips' operation cache would
 * give two thresholds of one input at one value the same image: the
 * metadata one sets (slidepipe-threshold, the interpretation) is set on a
 * copy, never on an image the cache shares. */
static void
test_threshold_not_shared(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *load = sp_load(graph, path, &error, NULL);
	SpNode *t1, *t2;
	VipsImage *i1, *i2;

	g_assert_no_error(error);
	vips_cache_set_max(100);
	t1 = sp_threshold(load, &error, "value", 100.0, NULL);
	t2 = sp_threshold(load, &error, "value", 100.0, NULL);
	g_assert_no_error(error);
	i1 = sp_node_get_image(t1, &error);
	g_assert_no_error(error);
	i2 = sp_node_get_image(t2, &error);
	g_assert_no_error(error);
	g_assert_true(i1 != i2);
	vips_image_set_int(i1, "probe", 1);
	g_assert_cmpint(vips_image_get_typeof(i2, "probe"), ==, 0);
	g_assert_cmpint(i1->Type, ==, VIPS_INTERPRETATION_B_W);
	g_assert_cmpfloat(pixel(i2, 150, 0), ==, 255);
	sp_graph_free(graph);
	vips_cache_set_max(0);
}

/* overlay's legend panel belongs to its image, which may outlive the
 * graph (it was painted from memory the node freed: garbage or a
 * use-after-free). */
static void
test_overlay_legend_outlives_graph(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	g_autofree char *csv = tmp_path("ov.csv");
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *n;
	VipsImage *image;

	g_assert_true(g_file_set_contents(csv,
		"x,y,w,h,score\n0,0,400,400,0.9\n", -1, NULL));
	n = sp_load(graph, path, &error, NULL);
	n = n ? sp_downsample(n, 4, &error, NULL) : NULL;
	n = n ? sp_overlay(n, csv, &error, NULL) : NULL;
	g_assert_no_error(error);
	image = sp_node_get_image(n, &error);
	g_assert_no_error(error);
	g_object_ref(image);
	g_assert_cmpint(image->Xsize, >, 250);
	g_assert_cmpint(image->Ysize, ==, 175);
	size_t legend = (size_t) (image->Xsize - 250) * image->Ysize * 3;
	sp_graph_free(graph);

	/* reuse the freed memory, as a program would */
	void *blocks[8];
	for (int i = 0; i < 8; i++) {
		blocks[i] = g_malloc(legend);
		memset(blocks[i], 0, legend);
	}
	/* the legend's background, bottom right, is white */
	g_assert_cmpfloat(pixel(image, image->Xsize - 2, image->Ysize - 2), ==,
		255);
	for (int i = 0; i < 8; i++)
		g_free(blocks[i]);
	g_object_unref(image);
	g_remove(csv);
}

/* A 1-band slide's geometry says 1 band from the plan on, before any
 * pixel is computed (it said 3 until the image was built). */
static void
test_bands_at_plan_time(void)
{
	g_autofree char *path = make_gradient_slide(1000, 700);
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *load = sp_load(graph, path, &error, NULL);
	SpNode *crop;

	g_assert_no_error(error);
	g_assert_cmpint(sp_slide_get_bands(sp_node_get_slide(load)), ==, 1);
	g_assert_cmpint(sp_node_get_geometry(load)->bands, ==, 1);
	crop = sp_crop(load, 10, 10, 100, 100, &error, NULL);
	g_assert_no_error(error);
	g_assert_cmpint(sp_node_get_geometry(crop)->bands, ==, 1);
	/* and the pixels agree */
	VipsImage *image = sp_node_get_image(crop, &error);
	g_assert_no_error(error);
	g_assert_cmpint(image->Bands, ==, 1);
	sp_graph_free(graph);
}

/* A 1-band uint16 TIFF of 3 pages, 300 × 200: page p's pixel (x, y) is
 * 100 x + 7 y + 10000 p (up to 51293: above 8 bits), uncompressed strips
 * (slidepipe's own strip reader). */
static char *
make_u16_stack(void)
{
	char *path = tmp_path("u16-stack.tif");
	VipsImage *pages[3], *joined, *tagged;

	if (g_file_test(path, G_FILE_TEST_EXISTS))
		return path;
	for (int p = 0; p < 3; p++) {
		VipsImage *xy, *x, *y, *t1, *t2;
		g_assert_cmpint(vips_xyz(&xy, 300, 200, NULL), ==, 0);
		g_assert_cmpint(vips_extract_band(xy, &x, 0, NULL), ==, 0);
		g_assert_cmpint(vips_extract_band(xy, &y, 1, NULL), ==, 0);
		g_assert_cmpint(vips_linear1(y, &t1, 7.0, 10000.0 * p, NULL),
			==, 0);
		g_assert_cmpint(vips_linear1(x, &t2, 100.0, 0.0, NULL), ==, 0);
		VipsImage *sum;
		g_assert_cmpint(vips_add(t1, t2, &sum, NULL), ==, 0);
		g_assert_cmpint(vips_cast_ushort(sum, &pages[p], NULL), ==, 0);
		g_object_unref(sum);
		g_object_unref(t2);
		g_object_unref(t1);
		g_object_unref(y);
		g_object_unref(x);
		g_object_unref(xy);
	}
	g_assert_cmpint(vips_arrayjoin(pages, &joined, 3, "across", 1, NULL),
		==, 0);
	g_assert_cmpint(vips_copy(joined, &tagged, NULL), ==, 0);
	vips_image_set_int(tagged, VIPS_META_PAGE_HEIGHT, 200);
	g_assert_cmpint(vips_tiffsave(tagged, path, NULL), ==, 0);
	g_object_unref(tagged);
	g_object_unref(joined);
	for (int p = 0; p < 3; p++)
		g_object_unref(pages[p]);
	return path;
}

typedef struct {
	int count;
	int bad;
} TypedTally;

static gboolean
typed_patch(const SpPatch *patch, void *user_data, GError **error)
{
	TypedTally *t = user_data;
	const guint16 *v = (const guint16 *) patch->pixels;

	t->count++;
	g_assert_cmpint(patch->format, ==, VIPS_FORMAT_USHORT);
	for (int y = 0; y < patch->height; y++)
		for (int x = 0; x < patch->width; x++)
			if (patch->x + x < 300 && patch->y + y < 200 &&
				v[y * patch->width + x] !=
					100 * ((int) patch->x + x) +
						7 * ((int) patch->y + y) +
						10000)
				t->bad++;
	return TRUE;
}

/* 16-bit samples stay 16-bit: the geometry says so before any pixel,
 * every plane of a page=all stack is its page, and sp_tiles_foreach()
 * hands uint16 patches with the file's values. */
static void
test_typed_planes(void)
{
	g_autofree char *path = make_u16_stack();
	SpGraph *graph = sp_graph_new();
	GError *error = NULL;
	SpNode *all = sp_load(graph, path, &error, "page", "all", NULL);
	SpNode *one;
	double v;

	g_assert_no_error(error);
	const SpGeometry *g = sp_node_get_geometry(all);
	g_assert_cmpint(g->format, ==, VIPS_FORMAT_USHORT);
	g_assert_cmpint(sp_geometry_get_plane_count(g), ==, 3);
	g_assert_cmpint(g->n_z, ==, 3);
	for (int p = 0; p < 3; p++) {
		VipsImage *image = sp_node_get_plane(all, p, &error);
		g_assert_no_error(error);
		g_assert_cmpint(image->BandFmt, ==, VIPS_FORMAT_USHORT);
		g_assert_cmpint(vips_avg(image, &v, NULL), ==, 0);
		/* mean of 100 x + 7 y over the page, + 10000 p */
		g_assert_cmpfloat(fabs(v -
					  (100 * 149.5 + 7 * 99.5 + 10000 * p)),
			<, 1e-6);
	}
	g_assert_null(sp_node_get_plane(all, 3, &error));
	g_assert_error(error, SP_ERROR, SP_ERROR_USAGE);
	g_clear_error(&error);

	one = sp_load(graph, path, &error, "page", "1", NULL);
	g_assert_no_error(error);
	TypedTally t = { 0 };
	g_assert_true(sp_tiles_foreach(one, typed_patch, &t, &error, "size",
		128, "edge", "pad", NULL));
	g_assert_no_error(error);
	g_assert_cmpint(t.count, ==, 6);
	g_assert_cmpint(t.bad, ==, 0);
	sp_graph_free(graph);
}

int
main(int argc, char **argv)
{
	GError *error = NULL;
	int result;

	g_test_init(&argc, &argv, NULL);
	g_assert_true(sp_init(argv[0], &error));
	/* the operation cache holds references; without it every live
	 * object after a test is a leak */
	vips_cache_set_max(0);
	tmpdir = g_dir_make_tmp("sp-test-api-XXXXXX", NULL);

	g_test_add_func("/ops/declarations", test_declarations);
	g_test_add_func("/ops/argument-checks", test_argument_checks);
	g_test_add_func("/ops/argument-storage", test_argument_storage);
	g_test_add_func("/ops/length-arguments", test_length_arguments);
	g_test_add_func("/ops/filter-arguments", test_filter_arguments);
	g_test_add_func("/load/errors", test_load_errors);
	g_test_add_func("/load/levels", test_slide_levels);
	g_test_add_func("/load/bands-at-plan-time", test_bands_at_plan_time);
	g_test_add_func("/load/typed-planes", test_typed_planes);
	g_test_add_func("/load/icc-profile", test_icc_profile);
	g_test_add_func("/load/tiff-global-handlers",
		test_tiff_global_handlers);
	g_test_add_func("/slide/read-region", test_read_region);
	g_test_add_func("/crop/pixels", test_crop_pixels);
	g_test_add_func("/downsample/box", test_downsample_box);
	g_test_add_func("/threshold/otsu-two-class", test_otsu_two_class);
	g_test_add_func("/threshold/otsu-view", test_otsu_reads_low_level);
	g_test_add_func("/threshold/not-shared", test_threshold_not_shared);
	g_test_add_func("/overlay/legend-outlives-graph",
		test_overlay_legend_outlives_graph);
	g_test_add_func("/save/atomic", test_save_atomic);
	g_test_add_func("/save/png-matches-pngsave", test_png_matches_pngsave);
	g_test_add_func("/pipeline/parse", test_pipeline_parse);
	g_test_add_func("/errors/printable", test_printable);
	g_test_add_func("/plan/levels", test_plan);
	g_test_add_func("/plan/pixels", test_plan_pixels);
	g_test_add_func("/writer/matches-tiffsave",
		test_writer_matches_tiffsave);
	g_test_add_func("/writer/edges", test_writer_edges);
	g_test_add_func("/writer/copy-tiles", test_copy_tiles);
	g_test_add_func("/tiles/foreach", test_tiles_foreach);
	g_test_add_func("/tiles/foreach-from-strings",
		test_foreach_from_strings);
	g_test_add_func("/annotations/load-and-mask", test_annotations);
	result = g_test_run();

	/* remove the scratch directory */
	GDir *dir = g_dir_open(tmpdir, 0, NULL);
	const char *name;
	while (dir && (name = g_dir_read_name(dir))) {
		g_autofree char *p = g_build_filename(tmpdir, name, NULL);
		g_remove(p);
	}
	if (dir)
		g_dir_close(dir);
	g_rmdir(tmpdir);
	if (!vips_shutdown_without_leaks())
		result = 1;
	return result;
}
