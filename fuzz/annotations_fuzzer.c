/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: the GeoJSON annotation reader and the mask it
 * rasterises.
 *
 * The bytes are written to a.geojson in the scratch directory (see
 * fuzz-common.h) and read with sp_annotations_load(): slidepipe's scanner
 * of the document's top level, json-glib for each feature, the polygon
 * checks. What loads is asked for every feature's name, class, colour and
 * bounds, then drawn on a 64 × 48 grid whose origin and downsample the
 * input's hash picks (so the grid lands on, beside and across the
 * polygons) and computed whole: the cell and band index, the scan
 * conversion and its clipping. Every pixel must be 0 or 255. A load that
 * fails must say why.
 */
#include "fuzz-common.h"

#include <math.h>

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(*argv ? (*argv)[0] : "annotations_fuzzer");
	return 0;
}

static guint32
hash(const guint8 *data, size_t size)
{
	guint32 h = 2166136261u;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	return h;
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	GError *error = NULL;
	SpAnnotations *a;

	if (size > 65536)
		return 0;
	fuzz_enter();
	fuzz_write_file("a.geojson", data, size);
	if (!(a = sp_annotations_load("a.geojson", &error))) {
		if (!error || !error->message[0]) {
			fprintf(stderr, "fuzz: a failed load without a reason\n");
			abort();
		}
		g_clear_error(&error);
		fuzz_leave();
		return 0;
	}

	int n = sp_annotations_get_count(a);
	double x0 = 0, y0 = 0;
	for (int i = 0; i < n; i++) {
		double x, y, w, h;
		guint8 rgb[3];

		(void) sp_annotations_get_name(a, i);
		(void) sp_annotations_get_class(a, i);
		(void) sp_annotations_get_colour(a, i, rgb);
		sp_annotations_get_bounds(a, i, &x, &y, &w, &h);
		if (!isfinite(x) || !isfinite(y) || w < 0 || h < 0) {
			fprintf(stderr, "fuzz: feature %d: bounds %g %g %g %g\n",
				i, x, y, w, h);
			abort();
		}
		if (i == 0) {
			x0 = x;
			y0 = y;
		}
	}

	guint32 hv = hash(data, size);
	static const double downsamples[] = { 1, 2, 0.5, 3.7, 64, 1e-3 };
	double ds = downsamples[hv % G_N_ELEMENTS(downsamples)];
	double ox = x0 - ((hv >> 3) & 63) * ds, oy = y0 - ((hv >> 9) & 63) * ds;
	VipsImage *mask = sp_annotations_mask(a, NULL, 0, ox, oy, ds, ds, 64,
		48, &error);

	if (!mask) {
		fprintf(stderr, "fuzz: mask: %s\n", error ? error->message : "?");
		abort();
	}
	size_t len;
	guint8 *pixels = vips_image_write_to_memory(mask, &len);
	if (!pixels || len != 64 * 48) {
		fprintf(stderr, "fuzz: mask pixels: %s\n", vips_error_buffer());
		abort();
	}
	for (size_t i = 0; i < len; i++)
		if (pixels[i] != 0 && pixels[i] != 255) {
			fprintf(stderr, "fuzz: mask value %d\n", pixels[i]);
			abort();
		}
	g_free(pixels);
	g_object_unref(mask);
	sp_annotations_unref(a);
	fuzz_check_vips();
	fuzz_leave();
	return 0;
}
