/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: load → crop → save on in-memory image bytes (TIFF
 * mostly: tiled JPEG pyramids, striped, LZW, 1-band; PNG and JPEG too).
 *
 * The bytes are written to a file in the scratch directory (slides are
 * opened by name: libtiff, OpenSlide and libvips all want a path), opened
 * with sp_load(), which reads headers only, and bounded with slidepipe's
 * own view of them before any pixel is decoded: inputs whose level 0 is
 * more than 16 Mpx, or whose tiles are more than 1 Mpx, are skipped, so
 * each input stays fast. Then a small region (at most 96 × 96 level-0
 * pixels, where the input's hash says) is cropped, sometimes downsampled
 * (which the planner reads from a pyramid level) or thresholded, and
 * saved as a tiled TIFF (slidepipe's JPEG pyramid writer; the tile copy
 * or the DCT re-cut, compression=copy|auto, on origins put on the tile or
 * MCU grid; or libvips' for masks) or a PNG, then removed.
 */
#include "fuzz-common.h"

#include <math.h>

#define MAX_LEVEL0_PIXELS (16 * 1024 * 1024)
#define MAX_TILE_PIXELS (1024 * 1024)
#define CROP 96

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(*argv ? (*argv)[0] : "load_fuzzer");
	return 0;
}

/* FNV-1a: the input chooses where to crop and what to do, repeatably */
static guint32
hash(const guint8 *data, size_t size)
{
	guint32 h = 2166136261u;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	return h;
}

static gboolean
too_big(SpSlide *slide)
{
	for (int i = 0; i < sp_slide_get_level_count(slide); i++) {
		const SpLevel *l = sp_slide_get_level(slide, i);

		if (l->width * (double) l->height > MAX_LEVEL0_PIXELS ||
			(double) l->tile_width * l->tile_height > MAX_TILE_PIXELS)
			return TRUE;
	}
	return FALSE;
}

static void
run(guint32 h)
{
	GError *error = NULL;
	SpGraph *graph = sp_graph_new();
	SpNode *node = sp_load(graph, "in.img", &error, NULL);
	const char *out = h & 1 ? "out.png" : "out.tif";
	const SpLevel *l0;

	if (!node || too_big(sp_node_get_slide(node)))
		goto done;

	const SpGeometry *g = sp_node_get_geometry(node);
	double w = MIN(CROP, g->w), hh = MIN(CROP, g->h);
	double x = (h >> 8) % (guint32) MAX(1, g->w - w + 1);
	double y = (h >> 20) % (guint32) MAX(1, g->h - hh + 1);

	static const char *const steps[8] = { "", " ! downsample 2",
		" ! downsample 2", " ! threshold", " ! downsample 1.5", "", "", "" };
	int step = (h >> 1) & 7;

	/* steps 5 and 6: the compressed-tile paths, on a TIFF: the origin on
	 * the 16-px MCU grid with compression=auto (re-cut from DCT
	 * coefficients), or on level 0's tile grid with compression=copy */
	l0 = sp_slide_get_level(sp_node_get_slide(node), 0);
	if (step == 5 || step == 6) {
		int grid = step == 5 ? 16 : MAX(16, (int) l0->tile_width);

		x = floor(x / grid) * grid;
		y = floor(y / grid) * grid;
		out = "out.tif";
	}

	/* SP_FUZZ_VERBOSE=1: the same pipeline on the command line */
	if (g_getenv("SP_FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz: slidepipe load IN ! crop %g %g %g %g%s ! "
						"save %s Q=50 %s\n",
			x, y, w, hh, steps[step], out,
			step == 5 ? "compression=auto" :
			step == 6 ? "compression=copy" : "tile=16");
	if (!(node = sp_crop(node, x, y, w, hh, &error, NULL)))
		goto done;
	switch (step) {
	case 1:
	case 2:
		node = sp_downsample(node, 2.0, &error, NULL);
		break;
	case 3:
		node = sp_threshold(node, &error, NULL);
		break;
	case 4:
		node = sp_downsample(node, 1.5, &error, NULL);
		break;
	}
	if (node && (step == 5 || step == 6))
		node = sp_save(node, out, &error, "Q", 50, "compression",
			step == 5 ? "auto" : "copy", NULL);
	else if (node)
		node = sp_save(node, out, &error, "Q", 50, "tile", 16, NULL);
	if (node && sp_node_run(node, &error))
		unlink(out);

done:
	if (error) {
		if (error->domain != SP_ERROR) {
			fprintf(stderr, "fuzz: error outside SP_ERROR: %s\n",
				error->message);
			abort();
		}
		g_clear_error(&error);
	}
	sp_graph_free(graph);
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	if (size < 8 || size > 1024 * 1024)
		return 0;
	fuzz_enter();
	fuzz_write_file("in.img", data, size);
	run(hash(data, size));
	/* a failed save leaves nothing behind, not even its temporary */
	GDir *dir = g_dir_open(".", 0, NULL);
	const char *name;
	while (dir && (name = g_dir_read_name(dir)))
		if (g_str_has_prefix(name, "out.") || g_str_has_suffix(name, ".sp-tmp")) {
			fprintf(stderr, "fuzz: '%s' left after a failed save\n", name);
			abort();
		}
	if (dir)
		g_dir_close(dir);
	fuzz_check_vips();
	fuzz_leave();
	return 0;
}
