/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: the batch manifest parser.
 *
 * The smallest entry point that covers the whole manifest path is
 * sp_batch_run() with dry_run set: header line (BOM, CSV or TSV, blank
 * and comment lines, required columns), RFC 4180 field splitting, CRLF,
 * non-UTF-8 lines, per-row checks (empty fields, outputs that leave
 * --out-dir, duplicate outputs), the pipeline each row builds (slides
 * opened and regions planned, no pixels), template expansion and the
 * row callbacks. The manifest is written to a file in the scratch
 * directory (see fuzz-common.h), whose s.tif and g.png rows may name.
 *
 * The first byte picks the options, the rest is the manifest:
 *   bit 0: no row callback (else one that checks every row's outcome)
 *   bit 1: units=um by default
 *   bits 2-3: pipeline: the built-in one, or one of three templates
 *   bit 4: shard 2/3
 * Inputs naming /dev, /proc or /sys are skipped (reading /dev/zero is not
 * the manifest parser's problem).
 */
#include "fuzz-common.h"

static const char *const templates[] = {
	NULL,
	"load {slide} ! crop {x} {y} {w} {h} ! downsample {downsample} ! "
	"save {out}",
	"load {slide} level={level} ! threshold ! save {out}",
	"load {slide} ! tiles {out} size={w} stride={h}",
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(*argv ? (*argv)[0] : "manifest_fuzzer");
	return 0;
}

/* A dry run's rows are valid, invalid or failed, and only a bad one has
 * a reason. */
static void
check_row(const SpBatchRow *row, void *user_data)
{
	gboolean bad = row->status == SP_BATCH_ROW_INVALID ||
		row->status == SP_BATCH_ROW_FAILED;

	if ((!bad && row->status != SP_BATCH_ROW_VALID) || bad != !!row->error ||
		row->line < 2) {
		fprintf(stderr, "fuzz: row %" G_GUINT64_FORMAT " status %d\n",
			row->index, row->status);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	GError *error = NULL;

	if (size < 1 || size > 8192 || fuzz_names_system_files(data, size, "\""))
		return 0;

	fuzz_enter();
	guint8 flags = data[0];
	SpBatchOptions o = { 0 };
	o.manifest = "m.csv";
	o.out_dir = "out";
	o.jobs = 1;
	o.dry_run = TRUE;
	o.row = flags & 1 ? NULL : check_row;
	o.units = flags & 2 ? "um" : NULL;
	o.pipeline = templates[(flags >> 2) & 3];
	if (flags & 16) {
		o.shard_index = 2;
		o.shard_count = 3;
	}
	fuzz_write_file("m.csv", data + 1, size - 1);

	gboolean ran = sp_batch_run(&o, &error);

	if (ran == (error != NULL)) {
		fprintf(stderr, "fuzz: sp_batch_run returned %d, error %s\n", ran,
			error ? error->message : "unset");
		abort();
	}
	g_clear_error(&error);
	fuzz_remove_dir("out");
	fuzz_check_vips();
	fuzz_leave();
	return 0;
}
