/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tissue-mask: an Otsu tissue mask of a whole slide through the C API.
 *
 * usage: tissue-mask SLIDE MASK.tif [FACTOR]
 * Downsamples by FACTOR (default 32), thresholds HSV saturation at Otsu's
 * value (computed on a small view, never on level 0) and saves a 0/255
 * LZW-compressed pyramidal mask. Prints the threshold and tissue fraction.
 */
#include <stdio.h>
#include <stdlib.h>

#include <slidepipe/slidepipe.h>

int
main(int argc, char **argv)
{
	GError *error = NULL;
	SpGraph *graph;
	SpNode *mask, *node;
	VipsImage *image;
	double mean;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s SLIDE MASK.tif [FACTOR]\n", argv[0]);
		return 2;
	}
	if (!sp_init(argv[0], &error))
		goto fail;

	graph = sp_graph_new();
	if (!(node = sp_load(graph, argv[1], &error, NULL)) ||
		!(node = sp_downsample(node, argc == 4 ? atof(argv[3]) : 32, &error,
			  NULL)) ||
		!(mask = sp_threshold(node, &error, "method", "otsu", "channel",
			  "saturation", NULL)) ||
		!(image = sp_node_get_image(mask, &error)) ||
		!sp_save(mask, argv[2], &error, NULL) ||
		!sp_graph_run(graph, &error)) {
		sp_graph_free(graph);
		goto fail;
	}
	/* the mask is small here; its mean / 255 is the tissue fraction */
	if (vips_avg(image, &mean, NULL)) {
		sp_graph_free(graph);
		fprintf(stderr, "%s: %s\n", argv[0], vips_error_buffer());
		return 1;
	}
	printf("%s\ntissue fraction %.4f\n", sp_node_get_report(mask),
		mean / 255.0);
	sp_graph_free(graph);
	vips_shutdown();
	return 0;

fail:
	fprintf(stderr, "%s: %s\n", argv[0], error->message);
	int code = error->code == SP_ERROR_USAGE ? 2 : 1;
	g_error_free(error);
	vips_shutdown();
	return code;
}
