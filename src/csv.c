/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one CSV/TSV reader: a batch's manifest and overlay's table.
 *
 * A UTF-8 byte order mark at the start is skipped (a line holding only
 * one is an empty header); the header is the first line that is neither
 * blank nor a comment ('#' first), and its separator
 * (a tab if it holds one, else a comma) is the file's. Records follow RFC
 * 4180 quoting ("a ""b"", c" is one field; a quoted field may hold line
 * breaks). Blank and comment lines are skipped. Fields are stripped of
 * surrounding white space. Every record knows the line it starts on, for
 * messages. Read from a descriptor, in blocks: a manifest of millions of
 * rows is streamed, never held whole.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sp-private.h"

struct _SpCsv {
	int fd; /* -1: reading @data */
	const guint8 *data; /* the whole input (from memory), or NULL */
	guint8 *buf; /* a block read from fd */
	size_t pos, len; /* in data or buf */
	int read_errno;
	gboolean started; /* the byte order mark was looked for */
	gboolean bom; /* and found */
	GByteArray *back; /* bytes given back, read before the rest */
	size_t back_pos;
	char separator;
	GPtrArray *header; /* column names, or NULL before the header */
	guint64 line; /* lines consumed */
	guint64 row_line; /* first line of the last record */
};

#define BLOCK 65536

SpCsv *
_sp_csv_new(int fd)
{
	SpCsv *csv = g_new0(SpCsv, 1);

	csv->fd = fd;
	csv->buf = g_malloc(BLOCK);
	csv->separator = ',';
	return csv;
}

SpCsv *
_sp_csv_new_from_data(const char *data, gsize length)
{
	SpCsv *csv = g_new0(SpCsv, 1);

	csv->fd = -1;
	csv->data = (const guint8 *) data;
	csv->len = length;
	csv->separator = ',';
	return csv;
}

void
_sp_csv_free(SpCsv *csv)
{
	if (!csv)
		return;
	if (csv->back)
		g_byte_array_unref(csv->back);
	if (csv->header)
		g_ptr_array_unref(csv->header);
	g_free(csv->buf);
	g_free(csv);
}

/* The next byte, or -1 at the end (or a read error: csv->read_errno). */
static int
csv_getc(SpCsv *csv)
{
	if (csv->back && csv->back_pos < csv->back->len)
		return csv->back->data[csv->back_pos++];
	if (csv->data)
		return csv->pos < csv->len ? csv->data[csv->pos++] : -1;
	if (csv->pos == csv->len) {
		ssize_t n;

		if (csv->read_errno)
			return -1;
		do
			n = read(csv->fd, csv->buf, BLOCK);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			if (n < 0)
				csv->read_errno = errno;
			return -1;
		}
		csv->pos = 0;
		csv->len = n;
	}
	return csv->buf[csv->pos++];
}

/* Gives @len bytes back: they are read again before anything else. */
static void
csv_unread(SpCsv *csv, const guint8 *data, size_t len)
{
	GByteArray *back = g_byte_array_sized_new(len);

	g_byte_array_append(back, data, len);
	if (csv->back) {
		g_byte_array_append(back, csv->back->data + csv->back_pos,
			csv->back->len - csv->back_pos);
		g_byte_array_unref(csv->back);
	}
	csv->back = back;
	csv->back_pos = 0;
}

/* A UTF-8 byte order mark is not part of the text: skipped once, at the
 * start. */
static void
csv_skip_bom(SpCsv *csv)
{
	static const guint8 bom[3] = { 0xEF, 0xBB, 0xBF };
	guint8 got[3];
	size_t n = 0;
	int c;

	if (csv->started)
		return;
	csv->started = TRUE;
	while (n < 3 && (c = csv_getc(csv)) >= 0) {
		got[n++] = c;
		if (got[n - 1] != bom[n - 1])
			break;
	}
	if (n < 3 || memcmp(got, bom, 3) != 0)
		csv_unread(csv, got, n);
	else
		csv->bom = TRUE;
}

/* Reads one record into @rec (NUL-terminated, without its final line
 * break). With @quotes, a line break inside a quoted field does not end
 * it; a quote still open at the end of the input (or after
 * SP_CSV_MAX_RECORD bytes) is given back but for its first line, which is
 * then the record: it fails alone ("unterminated quote") and the next
 * lines are read as records. Blank and comment lines are skipped.
 * *@nul: the record holds a NUL byte; with @stop_at_nul the first one
 * ends the reading (a header: no need to read the rest of /dev/zero). */
static SpCsvStatus
csv_record(SpCsv *csv, GByteArray *rec, gboolean quotes, gboolean stop_at_nul,
	gboolean *nul)
{
	csv_skip_bom(csv);
	for (;;) {
		gboolean quoted = FALSE, quote_seen = FALSE, comment = FALSE;
		/* a byte order mark alone makes line 1 a line */
		gboolean got = csv->bom && csv->line == 0;
		size_t field_len = 0;
		int c;

		g_byte_array_set_size(rec, 0);
		*nul = FALSE;
		csv->row_line = csv->line + 1;
		while ((c = csv_getc(csv)) >= 0) {
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
				csv->line++;
				if (!quoted || quote_seen || comment || !quotes)
					break;
			}
			if (rec->len >= SP_CSV_MAX_RECORD) {
				if (quoted && !quote_seen && !comment && quotes)
					break; /* given back below */
				return SP_CSV_TOO_LONG;
			}
			g_byte_array_append(rec, &byte, 1);
			if (!quotes || comment)
				continue;
			/* the rules of split_record() */
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
			else if (c == csv->separator)
				field_len = 0;
			else
				field_len++;
		}
		if (c < 0 && csv->read_errno)
			return SP_CSV_READ_ERROR;
		if (!got)
			return SP_CSV_END;
		if (quoted && !quote_seen && !comment && quotes) {
			/* never closed: only its first line is the record */
			guint8 *nl = memchr(rec->data, '\n', rec->len);

			if (nl) {
				size_t first = nl - rec->data;
				guint8 byte = c;

				/* cut at the limit: the byte that did not fit too */
				if (c >= 0 && c != '\n')
					csv_unread(csv, &byte, 1);
				csv_unread(csv, nl + 1, rec->len - first - 1);
				g_byte_array_set_size(rec, first);
				csv->line = csv->row_line;
			} else if (c >= 0 && c != '\n')
				return SP_CSV_TOO_LONG;
		}
		g_byte_array_append(rec, (const guint8 *) "", 1);
		if (comment)
			continue;
		/* blank (CRLF too); a first line that held a byte order mark is
		 * a line of text, an empty header */
		gboolean blank = !*nul && !(csv->bom && csv->row_line == 1);
		for (guint i = 0; i + 1 < rec->len && blank; i++)
			if (!g_ascii_isspace(rec->data[i]))
				blank = FALSE;
		if (blank)
			continue;
		return SP_CSV_OK;
	}
}

/* Splits one record into fields, each stripped; NULL for a quote that is
 * never closed. */
static GPtrArray *
split_record(const char *line, char separator)
{
	GPtrArray *fields = g_ptr_array_new_with_free_func(g_free);
	GString *field = g_string_new(NULL);
	gboolean quoted = FALSE;

	for (const char *p = line;; p++) {
		if (quoted) {
			if (*p == '\0') {
				g_string_free(field, TRUE);
				g_ptr_array_unref(fields);
				return NULL;
			}
			if (*p == '"' && p[1] == '"') {
				g_string_append_c(field, '"');
				p++;
			} else if (*p == '"')
				quoted = FALSE;
			else
				g_string_append_c(field, *p);
			continue;
		}
		if (*p == '"' && field->len == 0)
			quoted = TRUE;
		else if (*p == separator || *p == '\0') {
			g_ptr_array_add(fields,
				g_strstrip(g_string_free(field, FALSE)));
			if (*p == '\0')
				break;
			field = g_string_new(NULL);
		} else
			g_string_append_c(field, *p);
	}
	return fields;
}

SpCsvStatus
_sp_csv_read_header(SpCsv *csv)
{
	g_autoptr(GByteArray) rec = g_byte_array_new();
	SpCsvStatus status;
	gboolean nul;

	g_return_val_if_fail(!csv->header, SP_CSV_END);
	/* one line: a header with a line break in a name is not a header */
	if ((status = csv_record(csv, rec, FALSE, TRUE, &nul)) != SP_CSV_OK)
		return status;
	if (nul)
		return SP_CSV_NUL;
	if (!g_utf8_validate((const char *) rec->data, -1, NULL))
		return SP_CSV_NOT_UTF8;
	char *h = g_strstrip((char *) rec->data);
	csv->separator = strchr(h, '\t') ? '\t' : ',';
	if (!(csv->header = split_record(h, csv->separator)))
		return SP_CSV_BAD_QUOTE;
	return SP_CSV_OK;
}

SpCsvStatus
_sp_csv_next(SpCsv *csv, GPtrArray **fields)
{
	g_autoptr(GByteArray) rec = g_byte_array_new();
	SpCsvStatus status;
	gboolean nul;

	*fields = NULL;
	if ((status = csv_record(csv, rec, TRUE, FALSE, &nul)) != SP_CSV_OK)
		return status;
	/* a NUL byte would silently cut the record, and a path in it, short:
	 * "a.png\0x" would name a.png */
	if (nul)
		return SP_CSV_NUL;
	if (!g_utf8_validate((const char *) rec->data, -1, NULL))
		return SP_CSV_NOT_UTF8;
	g_strchomp((char *) rec->data); /* CRLF */
	if (!(*fields = split_record((const char *) rec->data, csv->separator)))
		return SP_CSV_BAD_QUOTE;
	return SP_CSV_OK;
}

const char *
_sp_csv_status_text(SpCsvStatus status)
{
	switch (status) {
	case SP_CSV_NUL:
		return "the line contains a NUL byte";
	case SP_CSV_NOT_UTF8:
		return "the line is not UTF-8 text";
	case SP_CSV_BAD_QUOTE:
		return "unterminated quote";
	default:
		return NULL;
	}
}

guint64
_sp_csv_line(SpCsv *csv)
{
	return csv->row_line;
}

int
_sp_csv_read_errno(SpCsv *csv)
{
	return csv->read_errno;
}

GPtrArray *
_sp_csv_header(SpCsv *csv)
{
	return csv->header;
}

int
_sp_csv_column(SpCsv *csv, const char *name)
{
	if (!csv->header)
		return -1;
	for (guint i = 0; i < csv->header->len; i++)
		if (g_ascii_strcasecmp(g_ptr_array_index(csv->header, i),
			    name) == 0)
			return i;
	return -1;
}

const char *
_sp_csv_field(SpCsv *csv, GPtrArray *fields, const char *name)
{
	int i = _sp_csv_column(csv, name);

	if (i < 0 || !fields || i >= (int) fields->len)
		return NULL;
	const char *v = g_ptr_array_index(fields, i);
	return *v ? v : NULL;
}

char *
_sp_csv_quote(const char *text)
{
	if (!strpbrk(text, ",\"\r\n"))
		return g_strdup(text);
	GString *s = g_string_new("\"");
	for (const char *p = text; *p; p++) {
		if (*p == '"')
			g_string_append_c(s, '"');
		g_string_append_c(s, *p);
	}
	g_string_append_c(s, '"');
	return g_string_free(s, FALSE);
}
