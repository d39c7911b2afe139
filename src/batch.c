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

/* A record (one row: one line, or more when a quoted field holds line
 * breaks) longer than this ends the manifest: it is not a text file of
 * rows (/dev/zero, a slide given by mistake). */
#define MAX_RECORD (4 << 20)

typedef struct {
	const char *path;
	int fd;
	struct stat st;
	guint8 buf[65536];
	size_t pos, len;
	int read_errno;
	GByteArray *back;   /* bytes given back, read before buf */
	size_t back_pos;
	char separator;
	GPtrArray *header;  /* column names */
	guint64 line;       /* lines consumed */
	guint64 row_line;   /* first line of the last record */
} Manifest;

/* The next byte, or -1 at the end (or a read error: m->read_errno). */
static int
manifest_getc(Manifest *m)
{
	if (m->back && m->back_pos < m->back->len)
		return m->back->data[m->back_pos++];
	if (m->pos == m->len) {
		ssize_t n;

		if (m->read_errno)
			return -1;
		do
			n = read(m->fd, m->buf, sizeof(m->buf));
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			if (n < 0)
				m->read_errno = errno;
			return -1;
		}
		m->pos = 0;
		m->len = n;
	}
	return m->buf[m->pos++];
}

/* Gives @len bytes back: they are read again before anything else. */
static void
manifest_unread(Manifest *m, const guint8 *data, size_t len)
{
	GByteArray *back = g_byte_array_sized_new(len);

	g_byte_array_append(back, data, len);
	if (m->back) {
		g_byte_array_append(back, m->back->data + m->back_pos,
			m->back->len - m->back_pos);
		g_byte_array_unref(m->back);
	}
	m->back = back;
	m->back_pos = 0;
}

typedef enum {
	RECORD_OK,
	RECORD_END,       /* no more records */
	RECORD_TOO_LONG,  /* ends the manifest */
	RECORD_READ_ERROR /* ends the manifest: m->read_errno */
} RecordStatus;

/* Reads one record into @rec (NUL-terminated, without its final line
 * break). With @quotes, a line break inside a quoted field (RFC 4180)
 * does not end it; a quote still open at the end of the input (or after
 * MAX_RECORD bytes) is given back but for its first line, which is then
 * the record: it fails alone ("unterminated quote") and the next lines
 * are read as rows. Blank lines and lines starting with '#' are skipped.
 * *@nul: the record holds a NUL byte; with @stop_at_nul the first one
 * ends the reading (a header: no need to read the rest of /dev/zero). */
static RecordStatus
manifest_record(Manifest *m, GByteArray *rec, gboolean quotes,
	gboolean stop_at_nul, gboolean *nul)
{
	for (;;) {
		gboolean quoted = FALSE, quote_seen = FALSE, comment = FALSE;
		gboolean got = FALSE;
		size_t field_len = 0;
		int c;

		g_byte_array_set_size(rec, 0);
		*nul = FALSE;
		m->row_line = m->line + 1;
		while ((c = manifest_getc(m)) >= 0) {
			guint8 byte = c;

			got = TRUE;
			if (c == '\0') {
				*nul = TRUE;
				if (stop_at_nul)
					break;
			}
			if (rec->len == 0 && c == '#')
				comment = TRUE;
			if (c == '\n') {
				m->line++;
				if (!quoted || quote_seen || comment || !quotes)
					break;
			}
			if (rec->len >= MAX_RECORD) {
				if (quoted && !quote_seen && !comment && quotes)
					break; /* given back below */
				return RECORD_TOO_LONG;
			}
			g_byte_array_append(rec, &byte, 1);
			if (!quotes || comment)
				continue;
			/* the rules of _sp_csv_split_line() */
			if (quoted) {
				if (!quote_seen) {
					if (c == '"')
						quote_seen = TRUE;
					else
						field_len++;
					continue;
				}
				quote_seen = FALSE;
				if (c == '"') {
					field_len++;
					continue;
				}
				quoted = FALSE;
			}
			if (c == '"' && field_len == 0)
				quoted = TRUE;
			else if (c == m->separator)
				field_len = 0;
			else
				field_len++;
		}
		if (c < 0 && m->read_errno)
			return RECORD_READ_ERROR;
		if (!got)
			return RECORD_END;
		if (quoted && !quote_seen && !comment && quotes) {
			/* never closed: only its first line is the record */
			guint8 *nl = memchr(rec->data, '\n', rec->len);

			if (nl) {
				size_t first = nl - rec->data;
				guint8 byte = c;

				/* cut at MAX_RECORD: the byte that did not fit too */
				if (c >= 0 && c != '\n')
					manifest_unread(m, &byte, 1);
				manifest_unread(m, nl + 1, rec->len - first - 1);
				g_byte_array_set_size(rec, first);
				m->line = m->row_line;
			}
			else if (c >= 0 && c != '\n')
				return RECORD_TOO_LONG;
		}
		g_byte_array_append(rec, (const guint8 *) "", 1);
		if (comment)
			continue;
		/* blank (CRLF too) */
		gboolean blank = !*nul;
		for (guint i = 0; i + 1 < rec->len && blank; i++)
			if (!g_ascii_isspace(rec->data[i]))
				blank = FALSE;
		if (blank)
			continue;
		return RECORD_OK;
	}
}

/* Splits one CSV/TSV record (RFC 4180 quoting: "a ""b"", c" is one
 * field, and a quoted field may hold line breaks). */
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

/* The next row, or NULL at the end (error unset) or with @error: a row
 * error (SP_ERROR_USAGE: the row fails, the rest go on) or the end of
 * the manifest (SP_ERROR_IO, the message naming the manifest). */
static GPtrArray *
manifest_next(Manifest *m, GError **error)
{
	g_autoptr(GByteArray) rec = g_byte_array_new();
	gboolean nul;

	switch (manifest_record(m, rec, TRUE, FALSE, &nul)) {
	case RECORD_END:
		return NULL;
	case RECORD_TOO_LONG:
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: manifest '%s' line %" G_GUINT64_FORMAT ": longer than "
			"%d MiB (is it a text file?)",
			m->path, m->row_line, MAX_RECORD >> 20);
		return NULL;
	case RECORD_READ_ERROR:
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: manifest '%s' line %" G_GUINT64_FORMAT ": %s", m->path,
			m->row_line, g_strerror(m->read_errno));
		return NULL;
	case RECORD_OK:
		break;
	}
	/* a NUL byte would silently cut the line, and an output path with
	 * it, short: "a.png\0x" would write a.png */
	if (nul) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"the line contains a NUL byte");
		return NULL;
	}
	if (!g_utf8_validate((const char *) rec->data, -1, NULL)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"the line is not UTF-8 text");
		return NULL;
	}
	g_strchomp((char *) rec->data); /* CRLF */
	return _sp_csv_split_line((const char *) rec->data, m->separator, error);
}

static int
column(Manifest *m, const char *name)
{
	for (guint i = 0; i < m->header->len; i++)
		if (g_ascii_strcasecmp(g_ptr_array_index(m->header, i), name) == 0)
			return i;
	return -1;
}

/* Opens the manifest and reads its header. It is read once, from one
 * descriptor: a pipe or /dev/stdin cannot be read twice. */
static gboolean
manifest_open(Manifest *m, const char *path, GError **error)
{
	g_autoptr(GByteArray) rec = g_byte_array_new();
	GError *split_error = NULL;
	gboolean nul;

	m->path = path;
	if ((m->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
		fstat(m->fd, &m->st) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: manifest '%s': %s", path, g_strerror(err));
		return FALSE;
	}
	if (S_ISDIR(m->st.st_mode)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: manifest '%s' is a directory", path);
		return FALSE;
	}
	m->separator = ',';
	switch (manifest_record(m, rec, FALSE, TRUE, &nul)) {
	case RECORD_END:
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: manifest '%s' has no header line", path);
		return FALSE;
	case RECORD_TOO_LONG:
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: manifest '%s' cannot be read: its header line is longer "
			"than %d MiB (is it a text file?)",
			path, MAX_RECORD >> 20);
		return FALSE;
	case RECORD_READ_ERROR:
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: manifest '%s' cannot be read: %s", path,
			g_strerror(m->read_errno));
		return FALSE;
	case RECORD_OK:
		break;
	}
	if (nul || !g_utf8_validate((const char *) rec->data, -1, NULL)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: manifest '%s' cannot be read: its header is not UTF-8 "
			"text%s",
			path, nul ? " (it holds a NUL byte: is it a text file?)" : "");
		return FALSE;
	}
	/* a UTF-8 byte order mark is not part of the first column's name */
	char *h = g_strstrip((char *) rec->data);
	if (g_str_has_prefix(h, "\xEF\xBB\xBF"))
		h += 3;
	m->separator = strchr(h, '\t') ? '\t' : ',';
	if (!(m->header = _sp_csv_split_line(h, m->separator, &split_error))) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: manifest '%s' line %" G_GUINT64_FORMAT ": %s", path,
			m->row_line, split_error->message);
		g_clear_error(&split_error);
		return FALSE;
	}
	return TRUE;
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
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	if (m->back)
		g_byte_array_unref(m->back);
	m->back = NULL;
	if (m->header)
		g_ptr_array_unref(m->header);
	m->header = NULL;
}

/* ------------------------------------------------------------------ */
/* Rows                                                                   */

typedef struct {
	guint64 index;     /* 0-based data row */
	guint64 line;      /* manifest line */
	GPtrArray *fields;
	char *slide;
	char *out;         /* as the manifest says */
	char *out_path;    /* normalised; relative ones are under --out-dir */
	char *error;       /* set when the row is bad before it runs */
} Row;

typedef struct {
	const SpBatchOptions *options;
	Manifest *manifest;
	SpSlideCache *slides;
	SpOutRoot *root;     /* --out-dir: every output is created beneath it */
	char **template;     /* --pipeline's words, or NULL */
	GMutex lock;         /* report, counters, outputs */
	FILE *report;
	int report_errno;    /* the first failed write to the report */
	gboolean jsonl;
	GHashTable *outputs; /* out_path -> row index: duplicates */
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
		const char *value = strcmp(name, "out") == 0 ? x->row->out_path :
			field(x->b->manifest, x->row, name);
		if (!value) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"the template's {%s} has no value in this row", name);
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
			(const char *const *) b->template, expand_word, &x, error);

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
	g_ptr_array_add(words, field(m, row, "units") ? "units={units}" :
													 units_arg);
	if (field(m, row, "downsample") || field(m, row, "mpp")) {
		g_ptr_array_add(words, "!");
		g_ptr_array_add(words, "downsample");
		g_ptr_array_add(words, field(m, row, "downsample") ? "{downsample}" :
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
	/* every write checked: a full disk must not pass for a whole report */
	if (!b->report_errno &&
		(fputs(s->str, b->report) == EOF || fflush(b->report) == EOF))
		b->report_errno = errno ? errno : EIO;
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
		_sp_out_root_stat(b->root, row->out_path, &st) &&
		S_ISREG(st.st_mode)) {
		/* finished by an earlier run: outputs appear only whole */
		status = "skipped";
		bytes = st.st_size;
	}
	else {
		SpGraph *graph = sp_graph_new();

		/* every output the row's graph creates (save, tiles, whatever
		 * its path) is created beneath --out-dir, subdirectories made
		 * there as needed; nothing is made in a dry run */
		_sp_graph_set_out_root(graph, b->root);
		sp_graph_set_slide_cache(graph, b->slides);
		if (!build_row(b, row, graph, &error) ||
			(!b->options->dry_run && !sp_graph_run(graph, &error)))
			status = "failed";
		else if (b->options->dry_run)
			status = "valid";
		else if (_sp_out_root_stat(b->root, row->out_path, &st) &&
			S_ISREG(st.st_mode))
			bytes = st.st_size;
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

/* Opens --report for writing without harming what it names: never the
 * manifest (the same file by device and inode, whatever the name), and
 * never an existing file that is not an earlier report (a slide, say).
 * Emptied only once it is known to be neither. */
static FILE *
open_report(const char *path, const Manifest *m, GError **error)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666);
	struct stat st;
	FILE *f;

	if (fd < 0 || fstat(fd, &st) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: cannot write --report '%s': %s", path, g_strerror(err));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (st.st_dev == m->st.st_dev && st.st_ino == m->st.st_ino) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: --report '%s' is the manifest '%s'; writing the report "
			"would destroy it",
			path, m->path);
		close(fd);
		return NULL;
	}
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		char start[16] = "";
		int in = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = in >= 0 ? pread(in, start, sizeof(start) - 1, 0) : -1;

		if (in >= 0)
			close(in);
		if (n < 0 || (!g_str_has_prefix(start, "row,slide,out") &&
						 !g_str_has_prefix(start, "{\"row\": "))) {
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
			"batch: cannot write --report '%s': %s", path, g_strerror(err));
		close(fd);
		return NULL;
	}
	if (!(f = fdopen(fd, "w"))) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: cannot write --report '%s': %s", path, g_strerror(err));
		close(fd);
	}
	return f;
}

int
sp_batch_run(const SpBatchOptions *options, GError **error)
{
	Manifest m = { .fd = -1 };
	Batch b = { 0 };
	guint64 shard_k, shard_n;
	GError *row_error = NULL;
	int jobs = options->jobs > 0 ? options->jobs : (int) g_get_num_processors();
	int code = 0;
	const char *out_dir = options->out_dir ? options->out_dir : ".";

	if (!parse_shard(options, &shard_k, &shard_n, error))
		return 2;
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
			return 2;
		}
		if (!_sp_pipeline_check_template((const char *const *) b.template,
				error)) {
			g_prefix_error(error, "batch: --pipeline: ");
			g_strfreev(b.template);
			return 2;
		}
	}
	if (!manifest_open(&m, options->manifest, error)) {
		manifest_close(&m);
		g_strfreev(b.template);
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
				g_strfreev(b.template);
				return 2;
			}
	}
	else if (column(&m, "out") < 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"batch: manifest '%s' has no 'out' column", options->manifest);
		manifest_close(&m);
		g_strfreev(b.template);
		return 2;
	}
	/* a dry run makes nothing, not even --out-dir */
	if (!options->dry_run && g_mkdir_with_parents(out_dir, 0777) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: cannot create --out-dir '%s': %s", out_dir,
			g_strerror(err));
		manifest_close(&m);
		g_strfreev(b.template);
		return 2;
	}
	if (!(b.root = _sp_out_root_new(out_dir, !options->allow_any_path,
			  error))) {
		manifest_close(&m);
		g_strfreev(b.template);
		return 2;
	}

	b.options = options;
	b.manifest = &m;
	b.slides = sp_slide_cache_new();
	_sp_slide_cache_set_pipelines(b.slides, jobs);
	g_mutex_init(&b.lock);
	b.outputs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	b.timer = g_timer_new();
	b.total = (manifest_count_rows(&m) + shard_n - shard_k) / shard_n;
	if (options->report) {
		if (!(b.report = open_report(options->report, &m, error))) {
			code = 2;
			goto out;
		}
		b.jsonl = g_str_has_suffix(options->report, ".jsonl") ||
			g_str_has_suffix(options->report, ".json");
		if (!b.jsonl && (fputs("row,slide,out,status,error,seconds,bytes\n",
							 b.report) == EOF ||
							fflush(b.report) == EOF))
			b.report_errno = errno ? errno : EIO;
	}

	/* rows and pixel threads share the cores */
	vips_concurrency_set(MAX(1, (int) g_get_num_processors() / jobs));
	GThreadPool *pool = g_thread_pool_new(run_row, &b, jobs, FALSE, NULL);
	GPtrArray *fields;
	for (guint64 index = 0;
		 (fields = manifest_next(&m, &row_error)) || row_error; index++) {
		if (!fields) {
			/* a line that cannot be split (a quote left open, a NUL
			 * byte, bytes that are not UTF-8): the row fails, the rest
			 * go on; a read error or a line that never ends ends the
			 * manifest */
			if (row_error->code != SP_ERROR_USAGE) {
				g_propagate_error(error, row_error);
				row_error = NULL;
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
		row->line = m.row_line;
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
	if (b.report) {
		if (fclose(b.report) != 0 && !b.report_errno)
			b.report_errno = errno ? errno : EIO;
		b.report = NULL;
		if (b.report_errno && code != 2) {
			g_set_error(error, SP_ERROR, SP_ERROR_IO,
				"batch: cannot write --report '%s': %s; the report is "
				"incomplete",
				options->report, g_strerror(b.report_errno));
			code = 1;
		}
	}
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
	sp_slide_cache_unref(b.slides);
	_sp_out_root_unref(b.root);
	g_mutex_clear(&b.lock);
	g_strfreev(b.template);
	manifest_close(&m);
	return code;
}
