/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* label-objects: the objects of a mask, measured in the same process.
 *
 *   label-objects SLIDE [THRESHOLD [STOP_AFTER]]
 *
 * Thresholds SLIDE's grey (or 1-band) pixels above THRESHOLD (default
 * 128), labels the 8-connected objects in one streaming pass and hands
 * each finished object to a callback, which counts them, checks that its
 * runs add up to its area and keeps the largest; with STOP_AFTER the
 * callback stops the run after that many objects (the run then fails
 * with the callback's error). Prints "objects: N" and the largest.
 */
#include <stdio.h>
#include <stdlib.h>

#include <slidepipe/slidepipe.h>

typedef struct {
	guint64 count;
	guint64 stop_after; /* 0: never */
	guint64 runs_wrong; /* objects whose runs do not add up to the area */
	SpObject largest; /* without its runs */
} Tally;

static gboolean
on_object(const SpObject *object, void *user_data, GError **error)
{
	Tally *t = user_data;
	gint64 area = 0;

	for (gsize i = 0; i < object->n_runs; i++)
		area += object->runs[i].x1 - object->runs[i].x0 + 1;
	if (area != object->area)
		t->runs_wrong++;
	if (object->area > t->largest.area) {
		/* the runs are valid only during the call */
		t->largest = *object;
		t->largest.runs = NULL;
		t->largest.n_runs = 0;
	}
	if (++t->count == t->stop_after) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"stopped after %" G_GUINT64_FORMAT " objects",
			t->count);
		return FALSE;
	}
	return TRUE;
}

int
main(int argc, char **argv)
{
	GError *error = NULL;
	Tally t = { 0 };
	SpGraph *graph;
	SpNode *n;

	if (argc < 2) {
		fprintf(stderr, "usage: %s SLIDE [THRESHOLD [STOP_AFTER]]\n",
			argv[0]);
		return 2;
	}
	t.stop_after = argc > 3 ? g_ascii_strtoull(argv[3], NULL, 10) : 0;
	graph = sp_graph_new();
	n = sp_load(graph, argv[1], &error, NULL);
	n = n ? sp_threshold(n, &error, "value",
			argc > 2 ? g_ascii_strtod(argv[2], NULL) : 128.0,
			NULL) :
		NULL;
	if (!n || !sp_label_foreach(n, on_object, &t, &error, NULL)) {
		fprintf(stderr, "label-objects: %s\n", error->message);
		g_error_free(error);
		sp_graph_free(graph);
		return 1;
	}
	printf("objects: %" G_GUINT64_FORMAT "\n", t.count);
	if (t.count > 0)
		printf("largest: id %" G_GUINT64_FORMAT ", %" G_GINT64_FORMAT
		       " px, centroid %.2f, %.2f (level-0 px)\n",
			t.largest.id, t.largest.area, t.largest.centroid_x,
			t.largest.centroid_y);
	printf("objects whose runs do not add up to their area: %" G_GUINT64_FORMAT
	       "\n",
		t.runs_wrong);
	sp_graph_free(graph);
	return 0;
}
