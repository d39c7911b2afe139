/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* make-slide: writes a deterministic synthetic H&E-like slide, so the
 * demo and the tests need no download.
 *
 * Layout (fractions of width and height): glass background RGB
 * (242, 240, 244) and three elliptical tissue islands,
 *   centre (0.30, 0.40) radii (0.18, 0.25)
 *   centre (0.70, 0.55) radii (0.20, 0.30)
 *   centre (0.50, 0.85) radii (0.12, 0.08)
 * filled with a pink (eosin) texture and purple (haematoxylin) "nuclei".
 * Output: tiled (256²) pyramidal JPEG Q 80 TIFF (BigTIFF when large),
 * levels as reduced-resolution subfiles, pixel size --mpp (default 0.25 µm)
 * as XResolution/YResolution in pixels per cm, so OpenSlide reads it as a
 * generic-tiff slide.
 *
 * usage: make-slide WIDTH HEIGHT OUT.tif [--mpp M | --no-mpp] [--striped]
 *        [--no-pyramid] [--seed N] [--lzw]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

static const double islands[][4] = {
	{ 0.30, 0.40, 0.18, 0.25 },
	{ 0.70, 0.55, 0.20, 0.30 },
	{ 0.50, 0.85, 0.12, 0.08 },
};

static int
build(VipsObject *scope, int w, int h, int seed, VipsImage **out)
{
	VipsImage **t = (VipsImage **) vips_object_local_array(scope, 32);
	VipsImage *mask = NULL;
	int k = 0;

	if (vips_xyz(&t[k++], w, h, NULL))
		return -1;
	VipsImage *xy = t[0];
	for (unsigned i = 0; i < G_N_ELEMENTS(islands); i++) {
		double cx = islands[i][0] * w, cy = islands[i][1] * h;
		double rx = islands[i][2] * w, ry = islands[i][3] * h;
		double a[2] = { 1.0 / rx, 1.0 / ry }, b[2] = { -cx / rx, -cy / ry };
		VipsImage *n, *sq, *sum, *in;

		if (vips_linear(xy, &n, a, b, 2, NULL))
			return -1;
		t[k++] = n;
		if (vips_multiply(n, n, &sq, NULL))
			return -1;
		t[k++] = sq;
		VipsImage *b0, *b1;
		if (vips_extract_band(sq, &b0, 0, NULL) ||
			vips_extract_band(sq, &b1, 1, NULL))
			return -1;
		vips_object_local(scope, b0);
		vips_object_local(scope, b1);
		if (vips_add(b0, b1, &sum, NULL))
			return -1;
		vips_object_local(scope, sum);
		if (vips_lesseq_const1(sum, &in, 1.0, NULL))
			return -1;
		vips_object_local(scope, in);
		if (mask) {
			VipsImage *m;
			if (vips_boolean(mask, in, &m, VIPS_OPERATION_BOOLEAN_OR, NULL))
				return -1;
			vips_object_local(scope, m);
			mask = m;
		}
		else
			mask = in;
	}

	/* texture: blurred noise; pink tissue, purple where it is darkest */
	VipsImage *noise, *blur, *tex, *pink, *purple, *nuclei, *tissue, *glass,
		*black, *slide;
	double pink_a[3] = { 0.35, 0.55, 0.30 }, pink_b[3] = { 185, 85, 160 };
	double purple_a[3] = { 0.3, 0.3, 0.3 }, purple_b[3] = { 70, 40, 120 };
	double white[3] = { 242, 240, 244 }, one[3] = { 1, 1, 1 };

	if (vips_gaussnoise(&noise, w, h, "sigma", 50.0, "mean", 128.0, "seed",
			seed, NULL))
		return -1;
	vips_object_local(scope, noise);
	if (vips_gaussblur(noise, &blur, 1.0, "precision",
			VIPS_PRECISION_INTEGER, NULL))
		return -1;
	vips_object_local(scope, blur);
	VipsImage *three[3] = { blur, blur, blur };
	if (vips_bandjoin(three, &tex, 3, NULL))
		return -1;
	vips_object_local(scope, tex);
	if (vips_linear(tex, &pink, pink_a, pink_b, 3, "uchar", TRUE, NULL) ||
		vips_linear(tex, &purple, purple_a, purple_b, 3, "uchar", TRUE,
			NULL) ||
		vips_lesseq_const1(blur, &nuclei, 80.0, NULL))
		return -1;
	vips_object_local(scope, pink);
	vips_object_local(scope, purple);
	vips_object_local(scope, nuclei);
	if (vips_ifthenelse(nuclei, purple, pink, &tissue, NULL))
		return -1;
	vips_object_local(scope, tissue);
	if (vips_black(&black, w, h, "bands", 3, NULL))
		return -1;
	vips_object_local(scope, black);
	if (vips_linear(black, &glass, one, white, 3, "uchar", TRUE, NULL))
		return -1;
	vips_object_local(scope, glass);
	if (vips_ifthenelse(mask, tissue, glass, &slide, NULL))
		return -1;
	vips_object_local(scope, slide);
	*out = slide;
	return 0;
}

int
main(int argc, char **argv)
{
	double mpp = 0.25;
	gboolean striped = FALSE, pyramid = TRUE, lzw = FALSE;
	int seed = 1, w, h;
	const char *path;

	if (VIPS_INIT(argv[0]))
		vips_error_exit(NULL);
	if (argc < 4) {
		fprintf(stderr,
			"usage: %s WIDTH HEIGHT OUT.tif [--mpp M | --no-mpp] "
			"[--striped] [--no-pyramid] [--seed N] [--lzw]\n",
			argv[0]);
		return 2;
	}
	w = atoi(argv[1]);
	h = atoi(argv[2]);
	path = argv[3];
	for (int i = 4; i < argc; i++) {
		if (strcmp(argv[i], "--mpp") == 0 && i + 1 < argc)
			mpp = g_ascii_strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--no-mpp") == 0)
			mpp = 0;
		else if (strcmp(argv[i], "--striped") == 0)
			striped = TRUE;
		else if (strcmp(argv[i], "--no-pyramid") == 0)
			pyramid = FALSE;
		else if (strcmp(argv[i], "--lzw") == 0)
			lzw = TRUE;
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = atoi(argv[++i]);
		else {
			fprintf(stderr, "%s: unknown option %s\n", argv[0], argv[i]);
			return 2;
		}
	}
	if (w < 16 || h < 16 || w > 1000000 || h > 1000000) {
		fprintf(stderr, "%s: WIDTH and HEIGHT must be 16 … 1000000\n",
			argv[0]);
		return 2;
	}

	VipsObject *scope = VIPS_OBJECT(vips_image_new());
	VipsImage *slide;
	int r = build(scope, w, h, seed, &slide);
	if (!r) {
		gboolean big = (double) w * h * 3 > 3.5e9;
		/* with no pixel size: resolution 1 px/mm and unit none, so
		 * readers find no mpp */
		r = vips_tiffsave(slide, path,
			"tile", !striped,
			"tile_width", 256, "tile_height", 256,
			"pyramid", pyramid && !striped,
			"bigtiff", big,
			"compression", lzw ? VIPS_FOREIGN_TIFF_COMPRESSION_LZW :
								 VIPS_FOREIGN_TIFF_COMPRESSION_JPEG,
			"Q", 80,
			"resunit", VIPS_FOREIGN_TIFF_RESUNIT_CM,
			"xres", mpp > 0 ? 1000.0 / mpp : 1.0,
			"yres", mpp > 0 ? 1000.0 / mpp : 1.0, NULL);
	}
	g_object_unref(scope);
	if (r)
		vips_error_exit("make-slide");
	if (mpp <= 0) {
		/* drop the resolution unit so no reader derives an mpp */
		const char *cmd[] = { "tiffset", "-s", "296", "1", path, NULL };
		int status = 1;
		if (!g_spawn_sync(NULL, (char **) cmd, NULL,
				G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
					G_SPAWN_STDERR_TO_DEV_NULL,
				NULL, NULL, NULL, NULL, &status, NULL) ||
			status != 0)
			fprintf(stderr, "%s: warning: could not clear ResolutionUnit\n",
				argv[0]);
	}
	vips_shutdown();
	return 0;
}
