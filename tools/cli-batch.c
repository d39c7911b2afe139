/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `slidepipe batch`: its options, the per-row report (CSV or JSON
 * Lines), the stderr lines, the progress line, the summary and the exit
 * status. The rows themselves are sp_batch_run()'s.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cli.h"

typedef struct {
	const char *manifest;
	const char *report_path;
	FILE *report;
	int report_errno; /* the first failed write to the report */
	gboolean jsonl;
	gboolean progress;
	gboolean started;
	guint64 done, failed, skipped, total;
	GTimer *timer;
	double last_progress;
} CliBatch;

static const char *const status_names[] = {
	[SP_BATCH_ROW_OK] = "ok",
	[SP_BATCH_ROW_SKIPPED] = "skipped",
	[SP_BATCH_ROW_VALID] = "valid",
	[SP_BATCH_ROW_INVALID] = "invalid",
	[SP_BATCH_ROW_FAILED] = "failed",
};

static void
append_csv_field(GString *s, const char *text)
{
	text = text ? text : "";
	if (strpbrk(text, ",\"\n\r")) {
		g_string_append_c(s, '"');
		for (const char *p = text; *p; p++) {
			if (*p == '"')
				g_string_append_c(s, '"');
			g_string_append_c(s,
				*p == '\n' || *p == '\r' ? ' ' : *p);
		}
		g_string_append_c(s, '"');
	} else
		g_string_append(s, text);
}

/* Opens --report for writing without harming what it names: never the
 * manifest (the same file by device and inode, whatever the name), and
 * never an existing file that is not an earlier report (a slide, say).
 * Emptied only once it is known to be neither. */
static FILE *
open_report(const char *path, const char *manifest, GError **error)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666);
	struct stat st, mst;
	FILE *f;

	if (fd < 0 || fstat(fd, &st) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: cannot write --report '%s': %s", path,
			g_strerror(err));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (stat(manifest, &mst) == 0 && st.st_dev == mst.st_dev &&
		st.st_ino == mst.st_ino) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: --report '%s' is the manifest '%s'; writing the report "
			"would destroy it",
			path, manifest);
		close(fd);
		return NULL;
	}
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		char start[16] = "";
		int in = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = in >= 0 ? pread(in, start, sizeof(start) - 1, 0) :
				      -1;

		if (in >= 0)
			close(in);
		/* JSON Lines as json-glib writes them, or as earlier
		 * versions did */
		if (n < 0 ||
			(!g_str_has_prefix(start, "row,slide,out") &&
				!g_str_has_prefix(start, "{\"row\":"))) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"batch: --report '%s' exists and is not a report of an "
				"earlier batch; writing the report would destroy it (remove "
				"it, or name another file)",
				path);
			close(fd);
			return NULL;
		}
	}
	if (S_ISREG(st.st_mode) && ftruncate(fd, 0) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: cannot write --report '%s': %s", path,
			g_strerror(err));
		close(fd);
		return NULL;
	}
	if (!(f = fdopen(fd, "w"))) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: cannot write --report '%s': %s", path,
			g_strerror(err));
		close(fd);
	}
	return f;
}

static void
print_progress(CliBatch *c, gboolean final)
{
	double now = g_timer_elapsed(c->timer, NULL);

	if (!c->progress || (!final && now - c->last_progress < 0.5))
		return;
	c->last_progress = now;
	double rate = now > 0 ? c->done / now : 0;
	double eta = rate > 0 ? (c->total - c->done) / rate : -1;
	fprintf(stderr,
		"\rbatch: %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
		" rows, %" G_GUINT64_FORMAT
		" failed, %.1f rows/s, ETA %d:%02d ",
		c->done, c->total, c->failed, rate,
		eta >= 0 ? (int) eta / 60 : 0, eta >= 0 ? (int) eta % 60 : 0);
	if (final)
		fputc('\n', stderr);
}

/* Before the first row: the report is opened (and its header written). */
static gboolean
batch_start(guint64 total, void *user_data, GError **error)
{
	CliBatch *c = user_data;

	c->total = total;
	if (c->report_path) {
		if (!(c->report = open_report(c->report_path, c->manifest,
			      error)))
			return FALSE;
		c->jsonl = g_str_has_suffix(c->report_path, ".jsonl") ||
			g_str_has_suffix(c->report_path, ".json");
		if (!c->jsonl &&
			(fputs("row,slide,out,status,error,seconds,bytes\n",
				 c->report) == EOF ||
				fflush(c->report) == EOF))
			c->report_errno = errno ? errno : EIO;
	}
	c->started = TRUE;
	return TRUE;
}

/* One row: an error line on stderr, a report line. sp_batch_run() calls
 * this for one row at a time. */
static void
batch_row(const SpBatchRow *row, void *user_data)
{
	CliBatch *c = user_data;
	const char *status = status_names[row->status];
	char secs[32];

	if (row->status == SP_BATCH_ROW_FAILED ||
		row->status == SP_BATCH_ROW_INVALID)
		c->failed++;
	else if (row->status == SP_BATCH_ROW_SKIPPED)
		c->skipped++;
	c->done++;
	if (row->error) {
		/* one line on stderr; the report keeps the whole message */
		g_autofree char *text = sp_printable(row->error);
		fprintf(stderr,
			"slidepipe: batch: row %" G_GUINT64_FORMAT
			" (line %" G_GUINT64_FORMAT "): %s\n",
			row->index + 1, row->line, text);
	}
	if (!c->report)
		return;

	GString *s = g_string_new(NULL);
	g_snprintf(secs, sizeof(secs), "%.3f", row->seconds);
	if (c->jsonl) {
		g_autoptr(JsonBuilder) b = json_builder_new();

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "row");
		json_builder_add_int_value(b, row->index + 1);
		json_builder_set_member_name(b, "slide");
		cli_json_add_string(b, row->slide);
		json_builder_set_member_name(b, "out");
		cli_json_add_string(b, row->out);
		json_builder_set_member_name(b, "status");
		cli_json_add_string(b, status);
		json_builder_set_member_name(b, "error");
		if (row->error)
			cli_json_add_string(b, row->error);
		else
			json_builder_add_null_value(b);
		json_builder_set_member_name(b, "seconds");
		json_builder_add_double_value(b, g_ascii_strtod(secs, NULL));
		json_builder_set_member_name(b, "bytes");
		json_builder_add_int_value(b, row->bytes);
		json_builder_end_object(b);
		g_autofree char *line = cli_json_to_string(b);
		g_string_append_printf(s, "%s\n", line);
	} else {
		g_string_append_printf(s, "%" G_GUINT64_FORMAT ",",
			row->index + 1);
		append_csv_field(s, row->slide);
		g_string_append_c(s, ',');
		append_csv_field(s, row->out);
		g_string_append_printf(s, ",%s,", status);
		append_csv_field(s, row->error);
		g_string_append_printf(s, ",%s,%" G_GINT64_FORMAT "\n", secs,
			row->bytes);
	}
	/* every write checked: a full disk must not pass for a whole report */
	if (!c->report_errno &&
		(fputs(s->str, c->report) == EOF || fflush(c->report) == EOF))
		c->report_errno = errno ? errno : EIO;
	g_string_free(s, TRUE);
}

static void
batch_progress(guint64 done, guint64 failed, guint64 total, void *user_data)
{
	print_progress(user_data, FALSE);
}

/* One CSV field, quoted when it must be (RFC 4180). */
static void
csv_field(GString *s, const char *text)
{
	if (!strpbrk(text, ",\"\r\n")) {
		g_string_append(s, text);
		return;
	}
	g_string_append_c(s, '"');
	for (const char *p = text; *p; p++) {
		if (*p == '"')
			g_string_append_c(s, '"');
		g_string_append_c(s, *p);
	}
	g_string_append_c(s, '"');
}

/* A feature's output name: its properties.name with anything but ASCII
 * letters, digits, '-' and '_' made '_' (at most 64 bytes), or
 * "feature", then _INDEX (and _POLYGON when @polygon >= 0) and @suffix. */
static char *
feature_out(const char *name, int index, int polygon, const char *suffix)
{
	GString *s = g_string_new(NULL);

	for (const char *p = name ? name : ""; *p && s->len < 64; p++)
		g_string_append_c(s,
			g_ascii_isalnum(*p) || *p == '-' || *p == '_' ? *p :
									'_');
	if (s->len == 0)
		g_string_append(s, "feature");
	g_string_append_printf(s, "_%d", index);
	if (polygon >= 0)
		g_string_append_printf(s, "_%d", polygon);
	g_string_append(s, suffix);
	return g_string_free(s, FALSE);
}

/* --annotations: a manifest in @dir of one row per feature, or per
 * polygon with @per_polygon (geojson, feature, polygon, class, name,
 * out), for the template below. */
static char *
annotation_manifest(const char *geojson, const char *class_name,
	gboolean per_polygon, const char *suffix, const char *dir,
	GError **error)
{
	SpAnnotations *a = sp_annotations_load(geojson, error);
	GString *csv;
	int n, kept = 0;

	if (!a)
		return NULL;
	if (suffix[0] != '.' || strchr(suffix, '/')) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"--suffix '%s' is not an extension such as .png",
			suffix);
		sp_annotations_unref(a);
		return NULL;
	}
	csv = g_string_new("geojson,feature,polygon,class,name,out\n");
	n = sp_annotations_get_count(a);
	for (int i = 0; i < n; i++) {
		const char *c = sp_annotations_get_class(a, i);
		const char *nm = sp_annotations_get_name(a, i);
		int parts = per_polygon ? sp_annotations_get_polygon_count(a, i) :
					  1;

		if (class_name && g_strcmp0(c, class_name) != 0)
			continue;
		for (int k = 0; k < parts; k++) {
			g_autofree char *out = feature_out(nm, i,
				per_polygon ? k : -1, suffix);

			csv_field(csv, geojson);
			g_string_append_printf(csv, ",%d,%d,", i, k);
			csv_field(csv, c ? c : "");
			g_string_append_c(csv, ',');
			csv_field(csv, nm ? nm : "");
			g_string_append_c(csv, ',');
			csv_field(csv, out);
			g_string_append_c(csv, '\n');
			kept++;
		}
	}
	sp_annotations_unref(a);
	if (kept == 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"no feature of '%s' (%d) %s", geojson, n,
			class_name ? "has that --class" : "has a polygon");
		g_string_free(csv, TRUE);
		return NULL;
	}
	char *path = g_build_filename(dir, "annotations.csv", NULL);
	if (!g_file_set_contents(path, csv->str, csv->len, error)) {
		g_free(path);
		path = NULL;
	}
	g_string_free(csv, TRUE);
	return path;
}

/* The pipeline of one feature (or polygon): crop its box out of @slide.
 * The slide is quoted into the template; the GeoJSON comes from the
 * manifest. */
static char *
annotation_template(const char *slide, double margin, const char *outside,
	const char *units, gboolean per_polygon, GError **error)
{
	const char *modes[] = { "keep", "white", "black", "transparent" };
	gboolean known = !outside;

	for (guint i = 0; i < G_N_ELEMENTS(modes) && !known; i++)
		known = strcmp(outside, modes[i]) == 0;
	if (!known) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"--outside '%s' is not keep, white, black or transparent",
			outside);
		return NULL;
	}
	if (!(margin >= 0) || margin > 1e12) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"--margin %g is not in 0 … 1e12", margin);
		return NULL;
	}
	if (strchr(slide, '{') || strchr(slide, '}')) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"--slide '%s': a path with '{' or '}' cannot go into a "
			"pipeline template; rename or link it",
			slide);
		return NULL;
	}
	g_autofree char *quoted = g_shell_quote(slide);
	return g_strdup_printf("load %s ! crop geojson={geojson} "
			       "feature={feature}%s margin=%.17g units=%s "
			       "outside=%s ! save {out}",
		quoted, per_polygon ? " polygon={polygon}" : "", margin,
		units ? units : "px", outside ? outside : "keep");
}

/* `batch`: options through GOption; the rows are sp_batch_run()'s, the
 * report file, stderr and the exit status this file's. */
int
cli_batch(int argc, char **argv, gboolean progress)
{
	SpBatchOptions o = { 0 };
	CliBatch cli = { 0 };
	/* GOption allocates string and filename values */
	g_autofree char *shard = NULL;
	g_autofree char *units = NULL;
	g_autofree char *out_dir = NULL;
	g_autofree char *pipeline = NULL;
	g_autofree char *report = NULL;
	g_autofree char *out_suffix = NULL;
	g_autofree char *annotations = NULL;
	g_autofree char *slide = NULL;
	g_autofree char *class_name = NULL;
	g_autofree char *outside = NULL;
	g_autofree char *suffix = NULL;
	g_autofree char *each = NULL;
	gboolean per_polygon;
	g_autofree char *tmp_dir = NULL;
	g_autofree char *generated = NULL;
	g_autofree char *template = NULL;
	double margin = 0;
	gboolean resume = FALSE, force = FALSE, no_progress = FALSE;
	gboolean show_progress = FALSE;
	GError *error = NULL;
	GOptionEntry entries[] = {
		{ "jobs", 'j', 0, G_OPTION_ARG_INT, &o.jobs,
			"rows at once (default: one per core)", "N" },
		{ "out-dir", 0, 0, G_OPTION_ARG_FILENAME, &out_dir,
			"outputs go under DIR (made if missing; default: .)",
			"DIR" },
		{ "pipeline", 0, 0, G_OPTION_ARG_STRING, &pipeline,
			"pipeline template with {column} placeholders",
			"TEMPLATE" },
		{ "shard", 0, 0, G_OPTION_ARG_STRING, &shard,
			"run rows whose index mod N is K-1; 'slurm' reads "
			"SLURM_ARRAY_TASK_ID/COUNT",
			"K/N|slurm" },
		{ "resume", 0, 0, G_OPTION_ARG_NONE, &resume,
			"skip rows whose output exists (the default)", NULL },
		{ "force", 0, 0, G_OPTION_ARG_NONE, &force,
			"redo rows whose output exists", NULL },
		{ "dry-run", 0, 0, G_OPTION_ARG_NONE, &o.dry_run,
			"check every row without computing pixels", NULL },
		{ "report", 0, 0, G_OPTION_ARG_FILENAME, &report,
			"per-row report: CSV, or JSON Lines for .jsonl",
			"FILE" },
		{ "allow-any-path", 0, 0, G_OPTION_ARG_NONE, &o.allow_any_path,
			"allow outputs outside --out-dir", NULL },
		{ "units", 0, 0, G_OPTION_ARG_STRING, &units,
			"units of x, y, w, h when the manifest has no units "
			"column; with --annotations, of the GeoJSON's "
			"coordinates and --margin",
			"px|um" },
		{ "out-suffix", 0, 0, G_OPTION_ARG_FILENAME, &out_suffix,
			"with a folder of images as MANIFEST: each image's {out} "
			"is its {name} followed by SUFFIX (default: .csv)",
			"SUFFIX" },
		{ "annotations", 0, 0, G_OPTION_ARG_FILENAME, &annotations,
			"instead of a MANIFEST: crop each feature of this GeoJSON "
			"file (its bounding box) out of --slide",
			"FILE.geojson" },
		{ "slide", 0, 0, G_OPTION_ARG_FILENAME, &slide,
			"with --annotations: the slide the polygons are drawn on",
			"SLIDE" },
		{ "class", 0, 0, G_OPTION_ARG_STRING, &class_name,
			"with --annotations: only features of this class", "NAME" },
		{ "margin", 0, 0, G_OPTION_ARG_DOUBLE, &margin,
			"with --annotations: widen each box by PX level-0 pixels",
			"PX" },
		{ "outside", 0, 0, G_OPTION_ARG_STRING, &outside,
			"with --annotations: keep (default), white, black or "
			"transparent: what becomes of pixels outside the polygon",
			"MODE" },
		{ "each", 0, 0, G_OPTION_ARG_STRING, &each,
			"with --annotations: one output per feature (default) "
			"or per polygon (each part of a MultiPolygon alone)",
			"feature|polygon" },
		{ "suffix", 0, 0, G_OPTION_ARG_STRING, &suffix,
			"with --annotations: the outputs' extension (default .png)",
			".EXT" },
		{ "progress", 0, 0, G_OPTION_ARG_NONE, &show_progress,
			"rows done, rows per second and ETA on stderr", NULL },
		{ "no-progress", 0, 0, G_OPTION_ARG_NONE, &no_progress,
			"no progress line", NULL },
		{ NULL },
	};
	GOptionContext *context = g_option_context_new(
		"MANIFEST|FOLDER - crop regions listed in a CSV/TSV manifest, or "
		"run a pipeline over a manifest or a folder of images");
	int code;

	g_option_context_add_main_entries(context, entries, NULL);
	g_option_context_set_summary(context,
		"Manifest columns: slide, x, y, w, h (level-0 px, or micrometres with "
		"units=um), out (relative to --out-dir), optional level, downsample, "
		"mpp, units, and any others for --pipeline.\n"
		"A FOLDER (with --pipeline) is one row per image in it, with columns "
		"slide, name (the file name without its extension) and out (name + "
		"--out-suffix).\n"
		"Exit status: 0 all rows done, 1 some rows failed, 2 unusable "
		"manifest or options.");
	g_option_context_set_help_enabled(context, TRUE);
	argv[0] = "slidepipe batch";
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_option_context_free(context);
		g_prefix_error(&error, "batch: ");
		cli_fail(error);
		return CLI_EXIT_USAGE;
	}
	g_option_context_free(context);
	per_polygon = each && strcmp(each, "polygon") == 0;
	if (annotations) {
		if (argc != 1 || pipeline || out_suffix) {
			fprintf(stderr,
				"slidepipe: batch: --annotations replaces MANIFEST, "
				"--pipeline and --out-suffix\n");
			return CLI_EXIT_USAGE;
		}
		if (each && strcmp(each, "feature") != 0 &&
			strcmp(each, "polygon") != 0) {
			fprintf(stderr,
				"slidepipe: batch: --each must be feature or "
				"polygon, not '%s'\n",
				each);
			return CLI_EXIT_USAGE;
		}
		if (units && strcmp(units, "px") != 0 &&
			strcmp(units, "um") != 0) {
			fprintf(stderr,
				"slidepipe: batch: --units must be px or um, not "
				"'%s'\n",
				units);
			return CLI_EXIT_USAGE;
		}
		if (!slide) {
			fprintf(stderr, "slidepipe: batch: --annotations needs "
					"--slide\n");
			return CLI_EXIT_USAGE;
		}
		if (!(template = annotation_template(slide, margin, outside,
			      units, per_polygon, &error))) {
			g_prefix_error(&error, "batch: ");
			cli_fail(error);
			return CLI_EXIT_USAGE;
		}
		/* the manifest is made once every option is checked */
		argv[1] = annotations;
		argc = 2;
		pipeline = g_strdup(template);
		/* the units went into the template, not to x, y, w, h */
		g_clear_pointer(&units, g_free);
	} else if (slide || class_name || outside || suffix || each ||
		margin != 0) {
		fprintf(stderr,
			"slidepipe: batch: --slide, --class, --margin, --outside, "
			"--each and --suffix go with --annotations\n");
		return CLI_EXIT_USAGE;
	}
	if (argc != 2) {
		fprintf(stderr,
			"slidepipe: batch: give one MANIFEST or FOLDER (see "
			"'slidepipe batch --help')\n");
		return CLI_EXIT_USAGE;
	}
	if (resume && force) {
		fprintf(stderr,
			"slidepipe: batch: --resume and --force exclude "
			"each other\n");
		return CLI_EXIT_USAGE;
	}
	if (units && strcmp(units, "px") != 0 && strcmp(units, "um") != 0) {
		fprintf(stderr,
			"slidepipe: batch: --units must be px or um, not "
			"'%s'\n",
			units);
		return CLI_EXIT_USAGE;
	}
	if (shard) {
		const char *id = g_getenv("SLURM_ARRAY_TASK_ID");
		const char *count = g_getenv("SLURM_ARRAY_TASK_COUNT");
		const char *min = g_getenv("SLURM_ARRAY_TASK_MIN");
		int k = 0, n = 0;
		char tail;

		if (strcmp(shard, "slurm") == 0) {
			if (!id || !count) {
				fprintf(stderr,
					"slidepipe: batch: --shard slurm needs "
					"SLURM_ARRAY_TASK_ID and "
					"SLURM_ARRAY_TASK_COUNT\n");
				return CLI_EXIT_USAGE;
			}
			k = atoi(id) - (min ? atoi(min) : 0) + 1;
			n = atoi(count);
		} else if (sscanf(shard, "%d/%d%c", &k, &n, &tail) != 2) {
			fprintf(stderr,
				"slidepipe: batch: --shard '%s' is not K/N\n",
				shard);
			return CLI_EXIT_USAGE;
		}
		if (n < 1 || k < 1 || k > n) {
			fprintf(stderr,
				"slidepipe: batch: --shard %d/%d: need 1 <= K "
				"<= N\n",
				k, n);
			return CLI_EXIT_USAGE;
		}
		o.shard_index = k;
		o.shard_count = n;
	}
	if (annotations) {
		if (!(tmp_dir = g_dir_make_tmp("slidepipe-batch-XXXXXX",
			      &error)) ||
			!(generated = annotation_manifest(annotations, class_name,
				  per_polygon, suffix ? suffix : ".png", tmp_dir,
				  &error))) {
			if (tmp_dir)
				g_rmdir(tmp_dir);
			g_prefix_error(&error, "batch: ");
			cli_fail(error);
			return CLI_EXIT_USAGE;
		}
		argv[1] = generated;
	}
	o.manifest = argv[1];
	o.out_dir = out_dir;
	o.pipeline = pipeline;
	o.force = force;
	o.units = units;
	o.out_suffix = out_suffix;
	o.start = batch_start;
	o.row = batch_row;
	o.progress = batch_progress;
	o.user_data = &cli;
	cli.manifest = o.manifest;
	cli.report_path = report;
	cli.progress = (progress || show_progress) && !no_progress;
	cli.timer = g_timer_new();

	/* rows and pixel threads share the cores */
	int jobs = o.jobs > 0 ? o.jobs : (int) g_get_num_processors();
	vips_concurrency_set(MAX(1, (int) g_get_num_processors() / jobs));

	gboolean ran = sp_batch_run(&o, &error);
	if (cli.started)
		print_progress(&cli, TRUE);
	if (cli.report) {
		if (fclose(cli.report) != 0 && !cli.report_errno)
			cli.report_errno = errno ? errno : EIO;
		cli.report = NULL;
	}
	if (!ran)
		code = CLI_EXIT_USAGE;
	else {
		code = cli.failed > 0 ? CLI_EXIT_RUNTIME : 0;
		fprintf(stderr,
			"slidepipe: batch: %" G_GUINT64_FORMAT
			" rows: %" G_GUINT64_FORMAT " ok, %" G_GUINT64_FORMAT
			" skipped (done before), %" G_GUINT64_FORMAT
			" failed, in %.1f s\n",
			cli.done, cli.done - cli.failed - cli.skipped,
			cli.skipped, cli.failed,
			g_timer_elapsed(cli.timer, NULL));
		if (cli.report_errno) {
			g_set_error(&error, SP_ERROR, SP_ERROR_IO,
				"batch: cannot write --report '%s': %s; the report is "
				"incomplete",
				report, g_strerror(cli.report_errno));
			code = CLI_EXIT_RUNTIME;
		}
	}
	if (error)
		cli_fail(error);
	g_timer_destroy(cli.timer);
	if (generated) {
		g_unlink(generated);
		g_rmdir(tmp_dir);
	}
	return code;
}
