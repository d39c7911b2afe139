/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: the pipeline parser.
 *
 * The input is pipeline text, as `slidepipe explain` or `batch
 * --pipeline` take it: split into words like a shell would
 * (sp_pipeline_parse_string()), checked against the operators'
 * declarations, and planned (slides opened, geometry and the read level
 * computed). Then every node's lazy image is built, which computes no
 * pixels except threshold's Otsu value from a small view; sinks are
 * never run, so nothing is written.
 *
 * Inputs run in the scratch directory with the fixtures of fuzz-common.h:
 * "load s.tif" (a 300 × 200 pyramid with mpp), "load g.png", "overlay
 * p.csv". Inputs holding '/' are skipped, so nothing outside the scratch
 * directory is read (no /dev/zero, no /proc).
 */
#include "fuzz-common.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(*argv ? (*argv)[0] : "pipeline_fuzzer");
	return 0;
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	GError *error = NULL;

	if (size > 4096 || memchr(data, '/', size))
		return 0;

	fuzz_enter();
	g_autofree char *text = g_strndup((const char *) data, size);
	SpGraph *graph = sp_graph_new();
	SpNode *last = sp_pipeline_parse_string(graph, text, &error);

	if (last) {
		/* every node's image (and the plan a sink reads) */
		for (SpNode *n = last; n; n = sp_node_get_input(n)) {
			SpPlan plan;

			sp_node_get_plan(n, &plan);
			(void) sp_node_get_geometry(n);
			if (sp_op_get_kind(sp_node_get_op(n)) == SP_OP_SINK)
				continue;
			if (!sp_node_get_image(n, &error))
				break;
		}
	}
	else if (!error) {
		fprintf(stderr, "fuzz: parse failed without an error\n");
		abort();
	}
	if (error) {
		if (error->domain != SP_ERROR || !*error->message) {
			fprintf(stderr, "fuzz: error outside SP_ERROR: %s\n",
				error->message);
			abort();
		}
		g_clear_error(&error);
	}
	sp_graph_free(graph);
	fuzz_check_vips();
	fuzz_leave();
	return 0;
}
