/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Batch cropping: one pipeline per row of a CSV/TSV manifest, rows on
 * parallel workers, every row independent, outputs atomic and resumable.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "sp-private.h"

/* ------------------------------------------------------------------ */
/* The manifest                                                          */

typedef struct {
	const char *path;
	int fd;
	struct stat st;
	SpCsv *csv;
	/* a folder given as the manifest: the CSV made from its images */
	GString *folder;
	guint64 folder_rows;
} Manifest;

/* The next row, or NULL at the end (error unset) or with @error: a row
 * error (SP_ERROR_USAGE: the row fails, the rest go on) or the end of
 * the manifest (SP_ERROR_IO, the message naming the manifest). */
static GPtrArray *
manifest_next(Manifest *m, GError **error)
{
	GPtrArray *fields;
	SpCsvStatus status = _sp_csv_next(m->csv, &fields);

	switch (status) {
	case SP_CSV_OK:
		return fields;
	case SP_CSV_END:
		return NULL;
	case SP_CSV_TOO_LONG:
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: manifest '%s' line %" G_GUINT64_FORMAT
			": longer than "
			"%d MiB (is it a text file?)",
			m->path, _sp_csv_line(m->csv), SP_CSV_MAX_RECORD >> 20);
		return NULL;
	case SP_CSV_READ_ERROR:
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: manifest '%s' line %" G_GUINT64_FORMAT ": %s",
			m->path, _sp_csv_line(m->csv),
			g_strerror(_sp_csv_read_errno(m->csv)));
		return NULL;
	default:
		g_set_error_literal(error, SP_ERROR, SP_ERROR_USAGE,
			_sp_csv_status_text(status));
		return NULL;
	}
}

/* One CSV field, quoted, its quotes doubled. */
static void
csv_append_field(GString *csv, const char *text)
{
	g_string_append_c(csv, '"');
	for (const char *p = text; *p; p++) {
		if (*p == '"')
			g_string_append_c(csv, '"');
		g_string_append_c(csv, *p);
	}
	g_string_append_c(csv, '"');
}

static int
compare_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* A folder as the manifest: one row per image in it, in byte order of
 * the names, with columns slide (the folder's path joined to the name),
 * name (the name without its last extension) and out (name + @suffix).
 * An image is a regular file (or a link to one) whose name does not
 * start with '.' and that one of libvips' loaders recognises
 * (vips_foreign_find_load(), which sniffs its first bytes): anything
 * else in the folder, outputs written there included, is not a row. Not
 * recursive. SP_ERROR_USAGE when it holds no image. */
static gboolean
manifest_folder(Manifest *m, const char *path, const char *suffix,
	GError **error)
{
	GError *dir_error = NULL;
	GDir *dir = g_dir_open(path, 0, &dir_error);
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	const char *name;

	if (!dir) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: folder '%s': %s", path, dir_error->message);
		g_error_free(dir_error);
		g_ptr_array_unref(names);
		return FALSE;
	}
	while ((name = g_dir_read_name(dir))) {
		g_autofree char *file = g_build_filename(path, name, NULL);
		struct stat st;

		if (name[0] == '.' || stat(file, &st) != 0 ||
			!S_ISREG(st.st_mode))
			continue;
		if (!vips_foreign_find_load(file)) {
			vips_error_clear();
			continue;
		}
		g_ptr_array_add(names, g_strdup(name));
	}
	g_dir_close(dir);
	g_ptr_array_sort(names, compare_names);
	if (names->len == 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: folder '%s' holds no image that libvips can "
			"load (hidden files and subfolders are not read; with "
			"--trusted-only, neither are files that need an "
			"untrusted loader)",
			path);
		g_ptr_array_unref(names);
		return FALSE;
	}
	m->folder = g_string_new("slide,name,out\n");
	for (guint i = 0; i < names->len; i++) {
		const char *n = names->pdata[i];
		const char *dot = strrchr(n, '.');
		g_autofree char *file = g_build_filename(path, n, NULL);
		g_autofree char *stem = dot && dot != n ?
			g_strndup(n, dot - n) :
			g_strdup(n);
		g_autofree char *out = g_strconcat(stem, suffix, NULL);

		csv_append_field(m->folder, file);
		g_string_append_c(m->folder, ',');
		csv_append_field(m->folder, stem);
		g_string_append_c(m->folder, ',');
		csv_append_field(m->folder, out);
		g_string_append_c(m->folder, '\n');
	}
	m->folder_rows = names->len;
	g_ptr_array_unref(names);
	m->csv = _sp_csv_new_from_data(m->folder->str, m->folder->len);
	return TRUE;
}

/* Opens the manifest and reads its header. It is read once, from one
 * descriptor: a pipe or /dev/stdin cannot be read twice. A folder is a
 * manifest of its images (manifest_folder()) when @folder_suffix is set,
 * that is with a pipeline template. */
static gboolean
manifest_open(Manifest *m, const char *path, const char *folder_suffix,
	GError **error)
{
	m->path = path;
	if ((m->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
		fstat(m->fd, &m->st) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: manifest '%s': %s", path, g_strerror(err));
		return FALSE;
	}
	if (S_ISDIR(m->st.st_mode)) {
		if (!folder_suffix) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"batch: manifest '%s' is a directory: a folder of "
				"images needs a pipeline template (--pipeline), "
				"with {slide}, {name} and {out} for each image",
				path);
			return FALSE;
		}
		if (!manifest_folder(m, path, folder_suffix, error))
			return FALSE;
	} else
		m->csv = _sp_csv_new(m->fd);
	SpCsvStatus status = _sp_csv_read_header(m->csv);
	switch (status) {
	case SP_CSV_OK:
		return TRUE;
	case SP_CSV_END:
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: manifest '%s' has no header line", path);
		return FALSE;
	case SP_CSV_TOO_LONG:
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: manifest '%s' cannot be read: its header line is longer "
			"than %d MiB (is it a text file?)",
			path, SP_CSV_MAX_RECORD >> 20);
		return FALSE;
	case SP_CSV_READ_ERROR:
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: manifest '%s' cannot be read: %s", path,
			g_strerror(_sp_csv_read_errno(m->csv)));
		return FALSE;
	case SP_CSV_NUL:
	case SP_CSV_NOT_UTF8:
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: manifest '%s' cannot be read: its header is not UTF-8 "
			"text%s",
			path,
			status == SP_CSV_NUL ?
				" (it holds a NUL byte: is it a text file?)" :
				"");
		return FALSE;
	case SP_CSV_BAD_QUOTE:
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: manifest '%s' line %" G_GUINT64_FORMAT ": %s",
			path, _sp_csv_line(m->csv),
			_sp_csv_status_text(SP_CSV_BAD_QUOTE));
		return FALSE;
	}
	return FALSE;
}

static int
column(Manifest *m, const char *name)
{
	return _sp_csv_column(m->csv, name);
}

/* Data rows, for progress: lines after the header, counted through the
 * same descriptor without moving it; only for a regular file (a pipe is
 * read once, and its length is not known ahead). */
static guint64
manifest_count_rows(Manifest *m)
{
	guint8 buf[65536];
	guint64 n = 0;
	off_t at = 0;
	ssize_t got;
	int last = '\n';

	if (m->folder)
		return m->folder_rows;
	if (!S_ISREG(m->st.st_mode))
		return 0;
	while ((got = pread(m->fd, buf, sizeof(buf), at)) > 0) {
		for (ssize_t i = 0; i < got; i++)
			n += buf[i] == '\n';
		last = buf[got - 1];
		at += got;
	}
	if (last != '\n')
		n++;
	return n > 0 ? n - 1 : 0;
}

static void
manifest_close(Manifest *m)
{
	_sp_csv_free(m->csv);
	m->csv = NULL;
	if (m->folder)
		g_string_free(m->folder, TRUE);
	m->folder = NULL;
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

/* ------------------------------------------------------------------ */
/* Rows                                                                   */

typedef struct {
	guint64 index; /* 0-based data row */
	guint64 line; /* manifest line */
	GPtrArray *fields;
	char *slide;
	char *out; /* as the manifest says */
	char *out_path; /* normalised; relative ones are under --out-dir */
	char *error; /* set when the row is bad before it runs */
} Row;

typedef struct {
	const SpBatchOptions *options;
	Manifest *manifest;
	SpSlideCache *slides;
	SpOutRoot *root; /* --out-dir: every output is created beneath it */
	char **template; /* --pipeline's words, or NULL */
	GMutex lock; /* callbacks, counters, outputs, queue */
	GCond taken; /* a worker took a row from the queue */
	guint queued; /* rows pushed and not yet taken */
	GHashTable *outputs; /* out_path -> row index: duplicates */
	guint64 done, failed, total;
} Batch;

static void
row_free(Row *row)
{
	if (row->fields)
		g_ptr_array_unref(row->fields);
	g_free(row->slide);
	g_free(row->out);
	g_free(row->out_path);
	g_free(row->error);
	g_free(row);
}

static const char *
field(Manifest *m, Row *row, const char *name)
{
	return _sp_csv_field(m->csv, row->fields, name);
}

typedef struct {
	Batch *b;
	Row *row;
} Expansion;

/* Substitutes {column} in one word of the template with the row's value,
 * as it is: the template was split into words (and steps, and NAME=VALUE
 * pairs) before, so a value is text inside its word and nothing else.
 * {out} is the row's output, relative to --out-dir. */
static char *
expand_word(const char *text, void *data, GError **error)
{
	Expansion *x = data;
	GString *s = g_string_new(NULL);

	for (const char *p = text; *p; p++) {
		const char *end;

		if (*p != '{' || !(end = strchr(p, '}'))) {
			g_string_append_c(s, *p);
			continue;
		}
		g_autofree char *name = g_strndup(p + 1, end - p - 1);
		const char *value = strcmp(name, "out") == 0 ?
			x->row->out_path :
			field(x->b->manifest, x->row, name);
		if (!value) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"the template's {%s} has no value in this row",
				name);
			g_string_free(s, TRUE);
			return NULL;
		}
		g_string_append(s, value);
		p = end;
	}
	return g_string_free(s, FALSE);
}

/* Builds the row's pipeline into @graph; no pixels. The built-in one is a
 * template too, so its values are only ever values. */
static SpNode *
build_row(Batch *b, Row *row, SpGraph *graph, GError **error)
{
	Manifest *m = b->manifest;
	Expansion x = { b, row };

	if (b->template)
		return _sp_pipeline_parse_template(graph,
			(const char *const *) b->template, expand_word, &x,
			error);

	const char *names[] = { "x", "y", "w", "h" };
	for (int i = 0; i < 4; i++)
		if (!field(m, row, names[i])) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"column '%s' is empty", names[i]);
			return NULL;
		}
	const char *units = b->options->units ? b->options->units : "px";
	g_autofree char *units_arg = g_strdup_printf("units=%s", units);
	GPtrArray *words = g_ptr_array_new();

	g_ptr_array_add(words, "load");
	g_ptr_array_add(words, "{slide}");
	if (field(m, row, "level"))
		g_ptr_array_add(words, "level={level}");
	g_ptr_array_add(words, "!");
	g_ptr_array_add(words, "crop");
	g_ptr_array_add(words, "{x}");
	g_ptr_array_add(words, "{y}");
	g_ptr_array_add(words, "{w}");
	g_ptr_array_add(words, "{h}");
	g_ptr_array_add(words,
		field(m, row, "units") ? "units={units}" : units_arg);
	if (field(m, row, "downsample") || field(m, row, "mpp")) {
		g_ptr_array_add(words, "!");
		g_ptr_array_add(words, "downsample");
		g_ptr_array_add(words,
			field(m, row, "downsample") ? "{downsample}" :
						      "mpp={mpp}");
	}
	g_ptr_array_add(words, "!");
	g_ptr_array_add(words, "save");
	g_ptr_array_add(words, "{out}");
	g_ptr_array_add(words, NULL);
	SpNode *node = _sp_pipeline_parse_template(graph,
		(const char *const *) words->pdata, expand_word, &x, error);
	g_ptr_array_free(words, TRUE);
	return node;
}

/* The row's output, normalised ("./a.png", "x/../a.png" and "a//b.png"
 * name what "a.png" and "a/b.png" do: one key for duplicates), refusing
 * paths that leave --out-dir. Only a first check, for a clear message
 * before the row runs: what confines outputs is how save and tiles
 * create them, beneath --out-dir's descriptor. */
static char *
output_path(Batch *b, const char *out, GError **error)
{
	g_autofree char *norm = _sp_path_normalize(out);

	if (!b->options->allow_any_path) {
		if (g_path_is_absolute(out)) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"output '%s' is an absolute path; outputs must stay "
				"under --out-dir (or give --allow-any-path)",
				out);
			return NULL;
		}
		if (strcmp(norm, "..") == 0 || g_str_has_prefix(norm, "../")) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"output '%s' leaves --out-dir through '..' (give "
				"--allow-any-path to allow it)",
				out);
			return NULL;
		}
	}
	return g_steal_pointer(&norm);
}
/* One row's outcome to the caller; called with b->lock held, so the
 * callbacks are never called at once. */
static void
report_row(Batch *b, Row *row, SpBatchStatus status, const char *error,
	double seconds, gint64 bytes)
{
	SpBatchRow r = { row->index, row->line, row->slide, row->out, status,
		error, seconds, bytes };

	if (status == SP_BATCH_ROW_FAILED || status == SP_BATCH_ROW_INVALID)
		b->failed++;
	b->done++;
	if (b->options->row)
		b->options->row(&r, b->options->user_data);
	if (b->options->progress)
		b->options->progress(b->done, b->failed, b->total,
			b->options->user_data);
}

/* Runs (or, with --dry-run, only plans) one row; on a pool thread. */

/* Whether @out (beneath the output root) is a finished output, and its
 * size: a file (outputs appear whole, renamed into place), or the
 * directory of a DICOM series (save format=dicom renames it into place
 * whole too; a directory without its level-0.dcm, like a tiles sink's,
 * is not taken for finished). */
static gboolean
finished_output(Batch *b, const char *out, gint64 *bytes)
{
	struct stat st;

	*bytes = 0;
	if (!_sp_out_root_stat(b->root, out, &st))
		return FALSE;
	if (S_ISREG(st.st_mode)) {
		*bytes = st.st_size;
		return TRUE;
	}
	if (!S_ISDIR(st.st_mode))
		return FALSE;
	gboolean series = FALSE;
	const char *extra[] = { "label.dcm", "overview.dcm" };
	for (int i = 0; i < 64 + 2; i++) {
		g_autofree char *name = i < 64 ?
			g_strdup_printf("%s/level-%d.dcm", out, i) :
			g_strdup_printf("%s/%s", out, extra[i - 64]);
		if (_sp_out_root_stat(b->root, name, &st) &&
			S_ISREG(st.st_mode)) {
			*bytes += st.st_size;
			series = series || i == 0;
		} else if (i < 64)
			i = 63; /* the levels end */
	}
	return series;
}

static void
run_row(gpointer data, gpointer user_data)
{
	Row *row = data;
	Batch *b = user_data;
	GTimer *timer = g_timer_new();
	GError *error = NULL;
	SpBatchStatus status = SP_BATCH_ROW_OK;
	gint64 bytes = 0;

	/* a place in the bounded queue is free */
	g_mutex_lock(&b->lock);
	b->queued--;
	g_cond_signal(&b->taken);
	g_mutex_unlock(&b->lock);
	if (row->error) {
		status = SP_BATCH_ROW_INVALID;
		error = g_error_new_literal(SP_ERROR, SP_ERROR_USAGE,
			row->error);
	} else if (!b->options->force && !b->options->dry_run &&
		finished_output(b, row->out_path, &bytes)) {
		/* finished by an earlier run: outputs appear only whole */
		status = SP_BATCH_ROW_SKIPPED;
	} else {
		SpGraph *graph = sp_graph_new();

		/* every output the row's graph creates (save, tiles, whatever
		 * its path) is created beneath --out-dir, subdirectories made
		 * there as needed; nothing is made in a dry run */
		_sp_graph_set_out_root(graph, b->root);
		_sp_graph_set_batch_row(graph, TRUE);
		sp_graph_set_slide_cache(graph, b->slides);
		if (!build_row(b, row, graph, &error) ||
			(!b->options->dry_run && !sp_graph_run(graph, &error)))
			status = SP_BATCH_ROW_FAILED;
		else if (b->options->dry_run)
			status = SP_BATCH_ROW_VALID;
		else
			finished_output(b, row->out_path, &bytes);
		sp_graph_free(graph);
	}

	g_mutex_lock(&b->lock);
	report_row(b, row, status, error ? error->message : NULL,
		g_timer_elapsed(timer, NULL), bytes);
	g_mutex_unlock(&b->lock);
	g_clear_error(&error);
	g_timer_destroy(timer);
	row_free(row);
}

static gboolean
parse_shard(const SpBatchOptions *o, guint64 *k, guint64 *n, GError **error)
{
	*k = o->shard_index;
	*n = o->shard_count;
	if (*n == 0) {
		*k = 1;
		*n = 1;
	}
	if (*k < 1 || *k > *n) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: --shard %" G_GUINT64_FORMAT
			"/%" G_GUINT64_FORMAT ": K must be 1 … N",
			*k, *n);
		return FALSE;
	}
	return TRUE;
}

/* What sp_batch_run() holds, freed at its end. */
static void
batch_clear(Batch *b, Manifest *m)
{
	if (b->outputs)
		g_hash_table_destroy(b->outputs);
	sp_slide_cache_unref(b->slides);
	_sp_out_root_unref(b->root);
	g_strfreev(b->template);
	manifest_close(m);
}

gboolean
sp_batch_run(const SpBatchOptions *options, GError **error)
{
	Manifest m = { .fd = -1 };
	Batch b = { 0 };
	guint64 shard_k, shard_n;
	GError *row_error = NULL;
	int jobs = options->jobs > 0 ? options->jobs :
				       (int) g_get_num_processors();
	gboolean ok = TRUE;
	const char *out_dir = options->out_dir ? options->out_dir : ".";

	if (!parse_shard(options, &shard_k, &shard_n, error))
		return FALSE;
	if (options->pipeline) {
		GError *shell_error = NULL;
		int argc;

		/* the template is split into words once, before any value is
		 * put in: see expand_word() */
		if (!g_shell_parse_argv(options->pipeline, &argc, &b.template,
			    &shell_error)) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"batch: --pipeline: %s", shell_error->message);
			g_error_free(shell_error);
			return FALSE;
		}
		if (!_sp_pipeline_check_template((const char *const *)
							 b.template,
			    error)) {
			g_prefix_error(error, "batch: --pipeline: ");
			batch_clear(&b, &m);
			return FALSE;
		}
	}
	if (!manifest_open(&m, options->manifest,
		    options->pipeline ?
			    (options->out_suffix ? options->out_suffix :
						   ".csv") :
			    NULL,
		    error)) {
		batch_clear(&b, &m);
		return FALSE;
	}
	if (!options->pipeline) {
		const char *required[] = { "slide", "x", "y", "w", "h", "out" };
		for (guint i = 0; i < G_N_ELEMENTS(required); i++)
			if (column(&m, required[i]) < 0) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"batch: manifest '%s' has no '%s' column (it needs slide, "
					"x, y, w, h, out)",
					options->manifest, required[i]);
				batch_clear(&b, &m);
				return FALSE;
			}
	} else if (column(&m, "out") < 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: manifest '%s' has no 'out' column",
			options->manifest);
		batch_clear(&b, &m);
		return FALSE;
	}
	/* a dry run makes nothing, not even --out-dir */
	if (!options->dry_run && g_mkdir_with_parents(out_dir, 0777) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: cannot create --out-dir '%s': %s", out_dir,
			g_strerror(err));
		batch_clear(&b, &m);
		return FALSE;
	}
	if (!(b.root = _sp_out_root_new(out_dir, !options->allow_any_path,
		      error))) {
		batch_clear(&b, &m);
		return FALSE;
	}
	b.total = (manifest_count_rows(&m) + shard_n - shard_k) / shard_n;
	if (options->start &&
		!options->start(b.total, options->user_data, error)) {
		batch_clear(&b, &m);
		return FALSE;
	}

	b.options = options;
	b.manifest = &m;
	b.slides = sp_slide_cache_new();
	_sp_slide_cache_set_pipelines(b.slides, jobs);
	g_mutex_init(&b.lock);
	g_cond_init(&b.taken);
	b.outputs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
		NULL);

	GThreadPool *pool = g_thread_pool_new(run_row, &b, jobs, FALSE, NULL);
	GPtrArray *fields;
	for (guint64 index = 0;
		(fields = manifest_next(&m, &row_error)) || row_error;
		index++) {
		if (!fields) {
			/* a line that cannot be split (a quote left open, a NUL
			 * byte, bytes that are not UTF-8): the row fails, the rest
			 * go on; a read error or a line that never ends ends the
			 * manifest */
			if (row_error->code != SP_ERROR_USAGE) {
				g_propagate_error(error, row_error);
				row_error = NULL;
				ok = FALSE;
				break;
			}
			fields = g_ptr_array_new_with_free_func(g_free);
		}
		if (index % shard_n != shard_k - 1) {
			g_ptr_array_unref(fields);
			g_clear_error(&row_error);
			continue;
		}
		Row *row = g_new0(Row, 1);
		row->index = index;
		row->line = _sp_csv_line(m.csv);
		row->fields = fields;
		row->slide = g_strdup(field(&m, row, "slide"));
		row->out = g_strdup(field(&m, row, "out"));

		GError *e = NULL;
		if (row_error)
			row->error = g_strdup(row_error->message);
		else if (!row->out)
			row->error = g_strdup("the 'out' column is empty");
		else if (!options->pipeline && !row->slide)
			row->error = g_strdup("the 'slide' column is empty");
		else if (!(row->out_path = output_path(&b, row->out, &e))) {
			row->error = g_strdup(e->message);
			g_clear_error(&e);
		}
		g_clear_error(&row_error);

		g_mutex_lock(&b.lock);
		gpointer first;
		if (row->error)
			;
		else if (g_hash_table_lookup_extended(b.outputs, row->out_path,
				 NULL, &first))
			row->error =
				g_strdup_printf("output '%s' is also written by "
						"row %" G_GUINT64_FORMAT,
					row->out, GPOINTER_TO_SIZE(first) + 1);
		else
			g_hash_table_insert(b.outputs, g_strdup(row->out_path),
				GSIZE_TO_POINTER(index));
		/* bounded queue: rows are streamed, not read ahead */
		while (b.queued > (guint) jobs * 4)
			g_cond_wait(&b.taken, &b.lock);
		b.queued++;
		g_mutex_unlock(&b.lock);
		g_thread_pool_push(pool, row, NULL);
	}
	g_thread_pool_free(pool, FALSE, TRUE);
	g_cond_clear(&b.taken);
	g_mutex_clear(&b.lock);
	batch_clear(&b, &m);
	return ok;
}
