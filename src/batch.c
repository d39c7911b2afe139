/* Batch cropping: one pipeline per row of a CSV/TSV manifest, rows on
 * parallel workers, every row independent, outputs atomic and resumable.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "sp-private.h"

/* ------------------------------------------------------------------ */
/* Slides shared between rows                                           */

#define SLIDE_CACHE_SIZE 64

struct _SpSlideCache {
	gint ref_count;
	GMutex lock;
	GHashTable *slides; /* path -> SpSlide (ref) */
	GQueue lru;         /* paths, most recent first (owned by the table) */
	int pipelines;      /* graphs reading at once (the batch's workers) */
};

SpSlideCache *
sp_slide_cache_new(void)
{
	SpSlideCache *cache = g_new0(SpSlideCache, 1);

	cache->ref_count = 1;
	cache->pipelines = 1;
	g_mutex_init(&cache->lock);
	cache->slides = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
		(GDestroyNotify) sp_slide_unref);
	g_queue_init(&cache->lru);
	return cache;
}

void
sp_slide_cache_unref(SpSlideCache *cache)
{
	if (!cache || !g_atomic_int_dec_and_test(&cache->ref_count))
		return;
	g_queue_clear(&cache->lru);
	g_hash_table_destroy(cache->slides);
	g_mutex_clear(&cache->lock);
	g_free(cache);
}

static SpSlideCache *
slide_cache_ref(SpSlideCache *cache)
{
	g_atomic_int_inc(&cache->ref_count);
	return cache;
}

void
_sp_slide_cache_set_pipelines(SpSlideCache *cache, int pipelines)
{
	g_mutex_lock(&cache->lock);
	cache->pipelines = MAX(1, pipelines);
	g_mutex_unlock(&cache->lock);
}

/* Slides at this place in the LRU and beyond let go of their shared
 * readers (handles, decoded tiles: megabytes each), since rows that
 * read them are probably over; a slide that comes back opens new ones.
 * Called with the lock held after a slide moved to the head: only the
 * slide now at this place can have newly fallen behind. */
static void
slide_cache_drop_behind(SpSlideCache *cache)
{
	/* rows of as many slides as there are workers can run at once;
	 * one more keeps a slide whose rows alternate with another's */
	const char *key = g_queue_peek_nth(&cache->lru, cache->pipelines + 1);

	if (key)
		_sp_slide_drop_readers(g_hash_table_lookup(cache->slides, key));
}

SpSlide *
_sp_slide_cache_open(SpSlideCache *cache, const char *path, GError **error)
{
	SpSlide *slide;
	char *key;

	g_mutex_lock(&cache->lock);
	if (g_hash_table_lookup_extended(cache->slides, path, (gpointer *) &key,
			(gpointer *) &slide)) {
		if (cache->lru.head->data != key) {
			g_queue_remove(&cache->lru, key);
			g_queue_push_head(&cache->lru, key);
			slide_cache_drop_behind(cache);
		}
		sp_slide_ref(slide);
		g_mutex_unlock(&cache->lock);
		return slide;
	}
	g_mutex_unlock(&cache->lock);

	/* open outside the lock: other rows go on meanwhile */
	if (!(slide = sp_slide_open(path, error)))
		return NULL;
	g_mutex_lock(&cache->lock);
	if (!g_hash_table_contains(cache->slides, path)) {
		/* rows of a slide share its readers while it is cached */
		_sp_slide_share_readers(slide, cache->pipelines);
		key = g_strdup(path);
		g_hash_table_insert(cache->slides, key, sp_slide_ref(slide));
		g_queue_push_head(&cache->lru, key);
		slide_cache_drop_behind(cache);
		while (cache->lru.length > SLIDE_CACHE_SIZE)
			g_hash_table_remove(cache->slides, g_queue_pop_tail(&cache->lru));
	}
	g_mutex_unlock(&cache->lock);
	return slide;
}

void
sp_graph_set_slide_cache(SpGraph *graph, SpSlideCache *cache)
{
	if (graph->slide_cache)
		sp_slide_cache_unref(graph->slide_cache);
	graph->slide_cache = cache ? slide_cache_ref(cache) : NULL;
}

/* ------------------------------------------------------------------ */
/* The manifest                                                          */

typedef struct {
	GDataInputStream *in;
	char separator;
	GPtrArray *header;  /* column names */
	guint64 line;       /* line number of the last row read */
} Manifest;

/* Splits one CSV/TSV line (RFC 4180 quoting: "a ""b"", c" is one field). */
GPtrArray *
_sp_csv_split_line(const char *line, char separator, GError **error)
{
	GPtrArray *fields = g_ptr_array_new_with_free_func(g_free);
	GString *field = g_string_new(NULL);
	gboolean quoted = FALSE;

	for (const char *p = line;; p++) {
		if (quoted) {
			if (*p == '\0') {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"unterminated quote");
				g_string_free(field, TRUE);
				g_ptr_array_unref(fields);
				return NULL;
			}
			if (*p == '"' && p[1] == '"') {
				g_string_append_c(field, '"');
				p++;
			}
			else if (*p == '"')
				quoted = FALSE;
			else
				g_string_append_c(field, *p);
			continue;
		}
		if (*p == '"' && field->len == 0)
			quoted = TRUE;
		else if (*p == separator || *p == '\0') {
			g_ptr_array_add(fields, g_strstrip(g_string_free(field, FALSE)));
			if (*p == '\0')
				break;
			field = g_string_new(NULL);
		}
		else
			g_string_append_c(field, *p);
	}
	return fields;
}

/* The next row, or NULL at the end (error unset) or on a read error. */
static GPtrArray *
manifest_next(Manifest *m, GError **error)
{
	for (;;) {
		gsize length = 0;
		GError *read_error = NULL;
		g_autofree char *line = g_data_input_stream_read_line_utf8(m->in,
			&length, NULL, &read_error);

		if (!line && !read_error)
			return NULL;
		/* a line that is not UTF-8 is still a line: count it, or every
		 * later row's line number is off by one */
		m->line++;
		if (read_error) {
			if (read_error->domain == G_CONVERT_ERROR)
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"the line is not UTF-8 text");
			else
				g_propagate_error(error, g_steal_pointer(&read_error));
			g_clear_error(&read_error);
			return NULL;
		}
		/* a NUL byte would silently cut the line, and an output path
		 * with it, short: "a.png\0x" would write a.png */
		if (strlen(line) != length) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"the line contains a NUL byte");
			return NULL;
		}
		g_strchomp(line); /* CRLF */
		if (*line == '\0' || *line == '#')
			continue;
		return _sp_csv_split_line(line, m->separator, error);
	}
}

static int
column(Manifest *m, const char *name)
{
	for (guint i = 0; i < m->header->len; i++)
		if (g_ascii_strcasecmp(g_ptr_array_index(m->header, i), name) == 0)
			return i;
	return -1;
}

static gboolean
manifest_open(Manifest *m, const char *path, GError **error)
{
	g_autoptr(GFile) file = g_file_new_for_path(path);
	GFileInputStream *stream = g_file_read(file, NULL, error);
	GError *read_error = NULL;

	if (!stream) {
		g_prefix_error(error, "batch: manifest '%s': ", path);
		return FALSE;
	}
	m->in = g_data_input_stream_new(G_INPUT_STREAM(stream));
	g_object_unref(stream);
	g_data_input_stream_set_newline_type(m->in,
		G_DATA_STREAM_NEWLINE_TYPE_ANY);

	g_autofree char *header = NULL;
	do {
		header = g_data_input_stream_read_line_utf8(m->in, NULL, NULL,
			&read_error);
		m->line++;
	} while (header && (*g_strstrip(header) == '\0' || *header == '#') &&
		(g_free(header), header = NULL, TRUE));
	if (!header) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: manifest '%s' %s%s", path,
			read_error ? "cannot be read: " : "has no header line",
			read_error ? (read_error->domain == G_CONVERT_ERROR ?
							 "its header is not UTF-8 text" :
							 read_error->message) :
						 "");
		g_clear_error(&read_error);
		return FALSE;
	}
	/* a UTF-8 byte order mark is not part of the first column's name */
	char *h = header;
	if (g_str_has_prefix(h, "\xEF\xBB\xBF"))
		h += 3;
	m->separator = strchr(h, '\t') ? '\t' : ',';
	if (!(m->header = _sp_csv_split_line(h, m->separator, &read_error))) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: manifest '%s' line 1: %s", path, read_error->message);
		g_clear_error(&read_error);
		return FALSE;
	}
	return TRUE;
}

static void
manifest_close(Manifest *m)
{
	g_clear_object(&m->in);
	if (m->header)
		g_ptr_array_unref(m->header);
}

/* ------------------------------------------------------------------ */
/* Rows                                                                   */

typedef struct {
	guint64 index;     /* 0-based data row */
	guint64 line;      /* manifest line */
	GPtrArray *fields;
	char *slide;
	char *out;         /* as the manifest says */
	char *out_path;    /* under the output directory */
	char *error;       /* set when the row is bad before it runs */
} Row;

typedef struct {
	const SpBatchOptions *options;
	Manifest *manifest;
	SpSlideCache *slides;
	GMutex lock;        /* report, counters, outputs */
	FILE *report;
	gboolean jsonl;
	GHashTable *outputs; /* out_path -> row index: duplicates */
	GHashTable *stale;   /* dir -> (basename -> GSList of temp paths) */
	guint64 done, failed, skipped, total;
	GTimer *timer;
	double last_progress;
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
	int i = column(m, name);

	if (i < 0 || i >= (int) row->fields->len)
		return NULL;
	const char *v = g_ptr_array_index(row->fields, i);
	return *v ? v : NULL;
}

/* Substitutes {column} in @template with the row's values, shell-quoted
 * so paths with spaces stay one word. */
static char *
expand_template(Batch *b, Row *row, const char *template, GError **error)
{
	GString *s = g_string_new(NULL);

	for (const char *p = template; *p; p++) {
		const char *end;

		if (*p != '{' || !(end = strchr(p, '}'))) {
			g_string_append_c(s, *p);
			continue;
		}
		g_autofree char *name = g_strndup(p + 1, end - p - 1);
		const char *value = strcmp(name, "out") == 0 ? row->out_path :
			field(b->manifest, row, name);
		if (!value) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"the template's {%s} has no value in this row", name);
			g_string_free(s, TRUE);
			return NULL;
		}
		g_autofree char *quoted = g_shell_quote(value);
		g_string_append(s, quoted);
		p = end;
	}
	return g_string_free(s, FALSE);
}

/* Builds the row's pipeline into @graph; no pixels. */
static SpNode *
build_row(Batch *b, Row *row, SpGraph *graph, GError **error)
{
	Manifest *m = b->manifest;

	if (b->options->pipeline) {
		g_autofree char *text = expand_template(b, row, b->options->pipeline,
			error);
		return text ? sp_pipeline_parse_string(graph, text, error) : NULL;
	}

	const char *names[] = { "x", "y", "w", "h" };
	const char *v[4];
	for (int i = 0; i < 4; i++)
		if (!(v[i] = field(m, row, names[i]))) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"column '%s' is empty", names[i]);
			return NULL;
		}
	const char *units = field(m, row, "units");
	const char *level = field(m, row, "level");
	const char *downsample = field(m, row, "downsample");
	const char *mpp = field(m, row, "mpp");
	g_autofree char *units_arg = g_strdup_printf("units=%s",
		units ? units : b->options->units ? b->options->units : "px");
	g_autofree char *level_arg = level ? g_strdup_printf("level=%s", level) :
		NULL;
	g_autofree char *mpp_arg = mpp ? g_strdup_printf("mpp=%s", mpp) : NULL;
	GPtrArray *words = g_ptr_array_new();

	g_ptr_array_add(words, "load");
	g_ptr_array_add(words, row->slide);
	if (level_arg)
		g_ptr_array_add(words, level_arg);
	g_ptr_array_add(words, "!");
	g_ptr_array_add(words, "crop");
	for (int i = 0; i < 4; i++)
		g_ptr_array_add(words, (char *) v[i]);
	g_ptr_array_add(words, units_arg);
	if (downsample || mpp) {
		g_ptr_array_add(words, "!");
		g_ptr_array_add(words, "downsample");
		g_ptr_array_add(words, downsample ? (char *) downsample : mpp_arg);
	}
	g_ptr_array_add(words, "!");
	g_ptr_array_add(words, "save");
	g_ptr_array_add(words, row->out_path);
	g_ptr_array_add(words, NULL);
	SpNode *node = sp_pipeline_parse(graph,
		(const char *const *) words->pdata, error);
	g_ptr_array_free(words, TRUE);
	return node;
}

/* The output path under --out-dir, refusing paths that leave it. */
static char *
output_path(Batch *b, const char *out, GError **error)
{
	const char *dir = b->options->out_dir ? b->options->out_dir : ".";

	if (!b->options->allow_any_path) {
		g_auto(GStrv) parts = g_strsplit(out, "/", -1);

		if (g_path_is_absolute(out)) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"output '%s' is an absolute path; outputs must stay "
				"under --out-dir (or give --allow-any-path)",
				out);
			return NULL;
		}
		for (int i = 0; parts[i]; i++)
			if (strcmp(parts[i], "..") == 0) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"output '%s' leaves --out-dir through '..' (give "
					"--allow-any-path to allow it)",
					out);
				return NULL;
			}
	}
	return g_path_is_absolute(out) ? g_strdup(out) :
									  g_build_filename(dir, out, NULL);
}

static void
append_json_string(GString *s, const char *text)
{
	g_string_append_c(s, '"');
	for (const unsigned char *p = (const unsigned char *) (text ? text : "");
		 *p; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_printf(s, "\\%c", *p);
		else if (*p < 0x20)
			g_string_append_printf(s, "\\u%04x", *p);
		else
			g_string_append_c(s, *p);
	}
	g_string_append_c(s, '"');
}

static void
append_csv_field(GString *s, const char *text)
{
	text = text ? text : "";
	if (strpbrk(text, ",\"\n\r")) {
		g_string_append_c(s, '"');
		for (const char *p = text; *p; p++) {
			if (*p == '"')
				g_string_append_c(s, '"');
			g_string_append_c(s, *p == '\n' || *p == '\r' ? ' ' : *p);
		}
		g_string_append_c(s, '"');
	}
	else
		g_string_append(s, text);
}

/* One report line per row; called with b->lock held. */
static void
report_row(Batch *b, Row *row, const char *status, const char *error,
	double seconds, gint64 bytes)
{
	if (strcmp(status, "failed") == 0 || strcmp(status, "invalid") == 0)
		b->failed++;
	else if (strcmp(status, "skipped") == 0)
		b->skipped++;
	b->done++;
	if (error) {
		/* one line on stderr; the report keeps the whole message */
		g_autofree char *text = sp_printable(error);
		fprintf(stderr, "slidepipe: batch: row %" G_GUINT64_FORMAT
						" (line %" G_GUINT64_FORMAT "): %s\n",
			row->index + 1, row->line, text);
	}
	if (!b->report)
		return;

	GString *s = g_string_new(NULL);
	char secs[32];
	g_snprintf(secs, sizeof(secs), "%.3f", seconds);
	if (b->jsonl) {
		g_string_append_printf(s, "{\"row\": %" G_GUINT64_FORMAT ", \"slide\": ",
			row->index + 1);
		append_json_string(s, row->slide);
		g_string_append(s, ", \"out\": ");
		append_json_string(s, row->out);
		g_string_append(s, ", \"status\": ");
		append_json_string(s, status);
		g_string_append(s, ", \"error\": ");
		if (error)
			append_json_string(s, error);
		else
			g_string_append(s, "null");
		g_string_append_printf(s, ", \"seconds\": %s, \"bytes\": %" G_GINT64_FORMAT "}\n",
			secs, bytes);
	}
	else {
		g_string_append_printf(s, "%" G_GUINT64_FORMAT ",", row->index + 1);
		append_csv_field(s, row->slide);
		g_string_append_c(s, ',');
		append_csv_field(s, row->out);
		g_string_append_printf(s, ",%s,", status);
		append_csv_field(s, error);
		g_string_append_printf(s, ",%s,%" G_GINT64_FORMAT "\n", secs, bytes);
	}
	fputs(s->str, b->report);
	fflush(b->report);
	g_string_free(s, TRUE);
}

static void
show_progress(Batch *b, gboolean final)
{
	double now = g_timer_elapsed(b->timer, NULL);

	if (!b->options->progress || (!final && now - b->last_progress < 0.5))
		return;
	b->last_progress = now;
	double rate = now > 0 ? b->done / now : 0;
	double eta = rate > 0 ? (b->total - b->done) / rate : -1;
	fprintf(stderr,
		"\rbatch: %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT " rows, %" G_GUINT64_FORMAT
		" failed, %.1f rows/s, ETA %d:%02d ",
		b->done, b->total, b->failed, rate, eta >= 0 ? (int) eta / 60 : 0,
		eta >= 0 ? (int) eta % 60 : 0);
	if (final)
		fputc('\n', stderr);
}

/* Removes temporary files a killed earlier run left for this row's output
 * (".NAME.XXXXXX.sp-tmp" beside it, see save). Each directory is listed
 * once, the first time a row writes there, so only temporaries that were
 * there before this run are removed, and only those of this row's own
 * output: rows, and so temporaries, are never shared between shards. */
static void
remove_stale_temps(Batch *b, const char *out_path)
{
	g_autofree char *dir = g_path_get_dirname(out_path);
	g_autofree char *base = g_path_get_basename(out_path);
	GHashTable *by_base;

	g_mutex_lock(&b->lock);
	if (!(by_base = g_hash_table_lookup(b->stale, dir))) {
		GDir *d = g_dir_open(dir, 0, NULL);
		const char *name;

		by_base = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
			NULL);
		while (d && (name = g_dir_read_name(d))) {
			size_t n = strlen(name);

			/* "." + base + "." + 6 chars + ".sp-tmp" */
			if (name[0] != '.' || n < 15 ||
				!g_str_has_suffix(name, ".sp-tmp"))
				continue;
			g_autofree char *b0 = g_strndup(name + 1, n - 1 - 14);
			GSList *list = g_hash_table_lookup(by_base, b0);
			list = g_slist_prepend(list, g_build_filename(dir, name, NULL));
			g_hash_table_replace(by_base, g_steal_pointer(&b0), list);
		}
		if (d)
			g_dir_close(d);
		g_hash_table_insert(b->stale, g_strdup(dir), by_base);
	}
	GSList *temps = NULL;
	gpointer key = NULL;
	/* stealing takes the key too: it is ours to free */
	g_hash_table_steal_extended(by_base, base, &key, (gpointer *) &temps);
	g_free(key);
	g_mutex_unlock(&b->lock);
	for (GSList *l = temps; l; l = l->next)
		g_unlink(l->data);
	g_slist_free_full(temps, g_free);
}

static void
free_stale(gpointer data)
{
	GHashTable *by_base = data;
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, by_base);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		g_slist_free_full(value, g_free);
	g_hash_table_destroy(by_base);
}

/* Runs (or, with --dry-run, only plans) one row; on a pool thread. */
static void
run_row(gpointer data, gpointer user_data)
{
	Row *row = data;
	Batch *b = user_data;
	GTimer *timer = g_timer_new();
	GError *error = NULL;
	const char *status = "ok";
	gint64 bytes = 0;
	struct stat st;

	if (row->error) {
		status = "invalid";
		error = g_error_new_literal(SP_ERROR, SP_ERROR_USAGE, row->error);
	}
	else if (!b->options->force && !b->options->dry_run &&
		stat(row->out_path, &st) == 0 && S_ISREG(st.st_mode)) {
		/* finished by an earlier run: outputs appear only whole */
		status = "skipped";
		bytes = st.st_size;
	}
	else {
		SpGraph *graph = sp_graph_new();
		g_autofree char *dir = g_path_get_dirname(row->out_path);

		/* outputs may name subdirectories of --out-dir */
		g_mkdir_with_parents(dir, 0777);
		if (!b->options->dry_run)
			remove_stale_temps(b, row->out_path);
		sp_graph_set_slide_cache(graph, b->slides);
		if (!build_row(b, row, graph, &error) ||
			(!b->options->dry_run && !sp_graph_run(graph, &error)))
			status = "failed";
		else if (!b->options->dry_run && stat(row->out_path, &st) == 0)
			bytes = st.st_size;
		else if (b->options->dry_run)
			status = "valid";
		sp_graph_free(graph);
	}

	g_mutex_lock(&b->lock);
	report_row(b, row, status, error ? error->message : NULL,
		g_timer_elapsed(timer, NULL), bytes);
	show_progress(b, FALSE);
	g_mutex_unlock(&b->lock);
	g_clear_error(&error);
	g_timer_destroy(timer);
	row_free(row);
}

/* Counts data rows without keeping them, for progress. */
static guint64
count_rows(const char *path)
{
	FILE *f = fopen(path, "r");
	guint64 n = 0;
	int c, last = '\n';

	if (!f)
		return 0;
	while ((c = getc(f)) != EOF) {
		if (c == '\n')
			n++;
		last = c;
	}
	if (last != '\n')
		n++;
	fclose(f);
	return n > 0 ? n - 1 : 0;
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
			"batch: --shard %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
			": K must be 1 … N",
			*k, *n);
		return FALSE;
	}
	return TRUE;
}

int
sp_batch_run(const SpBatchOptions *options, GError **error)
{
	Manifest m = { 0 };
	Batch b = { 0 };
	guint64 shard_k, shard_n;
	GError *row_error = NULL;
	int jobs = options->jobs > 0 ? options->jobs : (int) g_get_num_processors();
	int code = 0;

	if (!parse_shard(options, &shard_k, &shard_n, error))
		return 2;
	if (!manifest_open(&m, options->manifest, error)) {
		manifest_close(&m);
		return 2;
	}
	if (!options->pipeline) {
		const char *required[] = { "slide", "x", "y", "w", "h", "out" };
		for (guint i = 0; i < G_N_ELEMENTS(required); i++)
			if (column(&m, required[i]) < 0) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"batch: manifest '%s' has no '%s' column (it needs slide, "
					"x, y, w, h, out)",
					options->manifest, required[i]);
				manifest_close(&m);
				return 2;
			}
	}
	else if (column(&m, "out") < 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: manifest '%s' has no 'out' column", options->manifest);
		manifest_close(&m);
		return 2;
	}
	if (options->out_dir &&
		g_mkdir_with_parents(options->out_dir, 0777) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: cannot create --out-dir '%s': %s", options->out_dir,
			g_strerror(err));
		manifest_close(&m);
		return 2;
	}

	b.options = options;
	b.manifest = &m;
	b.slides = sp_slide_cache_new();
	_sp_slide_cache_set_pipelines(b.slides, jobs);
	g_mutex_init(&b.lock);
	b.outputs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	b.stale = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
		free_stale);
	b.timer = g_timer_new();
	b.total = (count_rows(options->manifest) + shard_n - shard_k) / shard_n;
	if (options->report) {
		if (!(b.report = fopen(options->report, "w"))) {
			int err = errno;
			g_set_error(error, SP_ERROR, SP_ERROR_IO,
				"batch: cannot write --report '%s': %s", options->report,
				g_strerror(err));
			code = 2;
			goto out;
		}
		b.jsonl = g_str_has_suffix(options->report, ".jsonl") ||
			g_str_has_suffix(options->report, ".json");
		if (!b.jsonl)
			fputs("row,slide,out,status,error,seconds,bytes\n", b.report);
	}

	/* rows and pixel threads share the cores */
	vips_concurrency_set(MAX(1, (int) g_get_num_processors() / jobs));
	GThreadPool *pool = g_thread_pool_new(run_row, &b, jobs, FALSE, NULL);
	GPtrArray *fields;
	for (guint64 index = 0;
		 (fields = manifest_next(&m, &row_error)) || row_error; index++) {
		if (!fields) {
			/* a line that cannot be split (a quote left open, bytes
			 * that are not UTF-8): the row fails, the rest go on; a
			 * read error ends the manifest */
			if (row_error->domain != SP_ERROR &&
				row_error->domain != G_CONVERT_ERROR) {
				g_set_error(error, SP_ERROR, SP_ERROR_IO,
					"batch: manifest '%s' line %" G_GUINT64_FORMAT ": %s",
					options->manifest, m.line, row_error->message);
				g_clear_error(&row_error);
				code = 2;
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
		row->line = m.line;
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
		else {
			g_mutex_lock(&b.lock);
			gpointer first;
			if (g_hash_table_lookup_extended(b.outputs, row->out_path, NULL,
					&first))
				row->error = g_strdup_printf("output '%s' is also written by "
											 "row %" G_GUINT64_FORMAT,
					row->out, GPOINTER_TO_SIZE(first) + 1);
			else
				g_hash_table_insert(b.outputs, g_strdup(row->out_path),
					GSIZE_TO_POINTER(index));
			g_mutex_unlock(&b.lock);
		}
		g_clear_error(&row_error);
		/* bounded queue: rows are streamed, not read ahead */
		while (g_thread_pool_unprocessed(pool) > (guint) jobs * 4)
			g_usleep(2000);
		g_thread_pool_push(pool, row, NULL);
	}
	g_thread_pool_free(pool, FALSE, TRUE);
	g_mutex_lock(&b.lock);
	show_progress(&b, TRUE);
	g_mutex_unlock(&b.lock);
	if (code == 0)
		code = b.failed > 0 ? 1 : 0;
	if (b.report && fclose(b.report) != 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: cannot finish --report '%s'", options->report);
		code = 1;
	}
	b.report = NULL;
	if (code != 2)
		fprintf(stderr,
			"slidepipe: batch: %" G_GUINT64_FORMAT " rows: %" G_GUINT64_FORMAT
			" ok, %" G_GUINT64_FORMAT " skipped (done before), %" G_GUINT64_FORMAT
			" failed, in %.1f s\n",
			b.done, b.done - b.failed - b.skipped, b.skipped, b.failed,
			g_timer_elapsed(b.timer, NULL));
out:
	if (b.report)
		fclose(b.report);
	g_timer_destroy(b.timer);
	g_hash_table_destroy(b.outputs);
	g_hash_table_destroy(b.stale);
	sp_slide_cache_unref(b.slides);
	g_mutex_clear(&b.lock);
	manifest_close(&m);
	return code;
}
