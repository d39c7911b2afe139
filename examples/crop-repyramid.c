/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* crop-repyramid: the main job through the C API. Crops a region of a
 * slide, downsamples it and re-saves it as a tiled pyramidal TIFF that
 * OpenSlide opens with every level.
 *
 * usage: crop-repyramid SLIDE X Y W H FACTOR OUT.tif
 *   X Y W H in level-0 pixels; FACTOR a downsample factor (>= 1).
 */
#include <stdio.h>
#include <stdlib.h>

#include <slidepipe/slidepipe.h>

int
main(int argc, char **argv)
{
	GError *error = NULL;
	SpGraph *graph;
	SpNode *node;

	if (argc != 8) {
		fprintf(stderr, "usage: %s SLIDE X Y W H FACTOR OUT.tif\n", argv[0]);
		return 2;
	}
	if (!sp_init(argv[0], &error))
		goto fail;

	graph = sp_graph_new();
	/* building the graph reads headers only; no pixel moves yet */
	if (!(node = sp_load(graph, argv[1], &error, NULL)) ||
		!(node = sp_crop(node, atof(argv[2]), atof(argv[3]), atof(argv[4]),
			  atof(argv[5]), &error, NULL)) ||
		!(node = sp_downsample(node, atof(argv[6]), &error, NULL)) ||
		!(node = sp_save(node, argv[7], &error, "Q", 85, NULL)) ||
		/* the sink pulls tiles through the chain and writes atomically */
		!sp_graph_run(graph, &error)) {
		sp_graph_free(graph);
		goto fail;
	}
	const SpGeometry *g = sp_node_get_geometry(node);
	printf("%s: %d × %d px, %.4g µm/px\n", argv[7], g->width, g->height,
		g->mpp_x);
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
