/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* patch-feed: hand every tissue patch of a slide to a function in the
 * same process, as a model's data loader would, without writing files.
 *
 * usage: patch-feed SLIDE [LEVEL [SIZE [MIN_TISSUE]]]
 *        (defaults: level 1, 224 × 224 patches, tissue >= 0.5)
 *
 * Prints the number of patches, their mean pixel value and the seconds
 * taken. The "model" here only averages the pixels; put yours in
 * feed_patch(). Patches arrive from slidepipe's worker threads one at a
 * time, in no fixed order: patch->index says where each lies in the grid.
 */
#include <stdio.h>
#include <stdlib.h>

#include <slidepipe/slidepipe.h>

typedef struct {
	int patches;
	double sum;
	double pixels;
} Feed;

static gboolean
feed_patch(const SpPatch *patch, void *user_data, GError **error)
{
	Feed *feed = user_data;
	size_t n = (size_t) patch->width * patch->height * patch->bands;
	guint64 sum = 0;

	/* patch->pixels is valid only during this call: copy it into your
	 * batch tensor here */
	for (size_t i = 0; i < n; i++)
		sum += patch->pixels[i];
	feed->patches++;
	feed->sum += sum;
	feed->pixels += n;
	return TRUE;
}

int
main(int argc, char **argv)
{
	GError *error = NULL;
	Feed feed = { 0 };

	if (argc < 2 || argc > 5) {
		fprintf(stderr, "usage: %s SLIDE [LEVEL [SIZE [MIN_TISSUE]]]\n",
			argv[0]);
		return 2;
	}
	if (!sp_init(argv[0], &error)) {
		fprintf(stderr, "patch-feed: %s\n", error->message);
		return 1;
	}
	int level = argc > 2 ? atoi(argv[2]) : 1;
	int size = argc > 3 ? atoi(argv[3]) : 224;
	double min_tissue = argc > 4 ? g_ascii_strtod(argv[4], NULL) : 0.5;

	GTimer *timer = g_timer_new();
	SpGraph *graph = sp_graph_new();
	SpNode *slide = sp_load(graph, argv[1], &error, NULL);
	if (!slide ||
		!sp_tiles_foreach(slide, feed_patch, &feed, &error, "level", level,
			"size", size, "min-tissue", min_tissue, NULL)) {
		fprintf(stderr, "patch-feed: %s\n", error->message);
		g_error_free(error);
		g_timer_destroy(timer);
		sp_graph_free(graph);
		return 1;
	}
	printf("patch-feed: %d patches of %d × %d at level %d, mean value "
		   "%.2f, %.2f s\n",
		feed.patches, size, size, level,
		feed.pixels > 0 ? feed.sum / feed.pixels : 0,
		g_timer_elapsed(timer, NULL));
	g_timer_destroy(timer);
	sp_graph_free(graph);
	return 0;
}
