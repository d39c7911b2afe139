/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* DICOM whole-slide images (VL Whole Slide Microscopy Image IOD, DICOM
 * PS3.3 A.32.8, Supplement 145): a series of Part 10 files, one per
 * pyramid level (VOLUME) and per associated image (LABEL, OVERVIEW,
 * THUMBNAIL), each a matrix of tiles stored as the frames of one
 * multi-frame image.
 *
 * Read here without a DICOM library (Debian 12 has none for C that reads
 * WSI; OpenSlide 4 reads it through libdicom):
 *
 *  - the file meta group and the data set up to Pixel Data are parsed from
 *    the start of the file (explicit VR little endian only: every transfer
 *    syntax WSI uses; implicit VR, big endian and deflated data sets are
 *    refused by name), sequences and items of defined or undefined length
 *    included, nested at most MAX_DEPTH deep;
 *  - frames are found from the Extended Offset Table (7FE0,0001/0002,
 *    PS3.5 A.4), else the Basic Offset Table, else by walking the
 *    fragments' item headers (one fragment per frame, or one frame);
 *  - TILED_FULL frames are the tiles in row-major order; TILED_SPARSE
 *    ones are placed by Per-Frame Functional Groups → Plane Position
 *    (Slide) → Column/Row Position In Total Image Pixel Matrix (1-based),
 *    missing tiles white, as OpenSlide 4 fills them;
 *  - frames decode on demand: JPEG baseline with libjpeg (accurate DCT,
 *    the colour space from the photometric interpretation, as libtiff
 *    decodes TIFF tiles), JPEG 2000 with libvips' jp2kload (openjpeg),
 *    native samples copied.
 *
 * Only headers are read when a slide opens; frames are read with pread()
 * when a region needs them, so memory follows the tiles in use.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>

#include "sp-private.h"

#define MAX_DEPTH 16
/* more frames than this is a damaged header (a 1M × 1M level of 256²
 * tiles is 15 million) */
#define MAX_FRAMES (1 << 28)
#define MAX_FRAME_BYTES (256u << 20)
#define MAX_HEADER_BYTES ((gsize) 1 << 30)

#define TAG(g, e) (((guint32) (g) << 16) | (e))
#define TAG_PIXEL_DATA TAG(0x7FE0, 0x0010)
#define TAG_ITEM TAG(0xFFFE, 0xE000)
#define TAG_ITEM_END TAG(0xFFFE, 0xE00D)
#define TAG_SEQ_END TAG(0xFFFE, 0xE0DD)
#define UNDEFINED 0xFFFFFFFFu

typedef enum { CODEC_NATIVE, CODEC_JPEG, CODEC_J2K } Codec;

/* --- the data set ------------------------------------------------------ */

typedef struct _DcmSet DcmSet;

typedef struct {
	guint32 tag;
	char vr[3];
	gsize offset; /* of the value, in the file */
	guint32 length;
	GPtrArray *items; /* DcmSet *, for a sequence */
} DcmElement;

struct _DcmSet {
	GArray *elements; /* DcmElement */
};

static void
set_free(DcmSet *set)
{
	if (!set)
		return;
	for (guint i = 0; i < set->elements->len; i++) {
		DcmElement *e = &g_array_index(set->elements, DcmElement, i);
		if (e->items)
			g_ptr_array_unref(e->items);
	}
	g_array_unref(set->elements);
	g_free(set);
}

static DcmSet *
set_new(void)
{
	DcmSet *set = g_new0(DcmSet, 1);

	set->elements = g_array_new(FALSE, TRUE, sizeof(DcmElement));
	return set;
}

typedef struct {
	const char *path;
	const guint8 *buf; /* the file's first len bytes */
	gsize len;
	gboolean need_more; /* the header runs past buf */
	gsize pixel_data; /* offset of Pixel Data's tag, or 0 */
} Parser;

static guint16
le16(const guint8 *p)
{
	return (guint16) (p[0] | p[1] << 8);
}

static guint32
le32(const guint8 *p)
{
	return (guint32) p[0] | (guint32) p[1] << 8 | (guint32) p[2] << 16 |
		(guint32) p[3] << 24;
}

static guint64
le64(const guint8 *p)
{
	return (guint64) le32(p) | (guint64) le32(p + 4) << 32;
}

static gboolean G_GNUC_PRINTF(3, 4)
	parse_fail(Parser *p, GError **error, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	g_autofree char *what = g_strdup_vprintf(format, ap);
	va_end(ap);
	g_autofree char *shown = sp_printable(p->path);
	g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
		"load: '%s' is not a readable DICOM file: %s", shown, what);
	return FALSE;
}

static gboolean
long_vr(const char *vr)
{
	static const char *const vrs[] = { "OB", "OD", "OF", "OL", "OV", "OW",
		"SQ", "UC", "UR", "UT", "UN", "SV", "UV" };

	for (guint i = 0; i < G_N_ELEMENTS(vrs); i++)
		if (vr[0] == vrs[i][0] && vr[1] == vrs[i][1])
			return TRUE;
	return FALSE;
}

static gboolean parse_set(Parser *p, gsize *pos, gsize end, gboolean item,
	int depth, DcmSet *set, GError **error);

/* The items of a sequence whose value starts at *@pos: @length bytes, or
 * up to its delimiter when undefined. */
static gboolean
parse_items(Parser *p, gsize *pos, guint32 length, int depth, DcmElement *e,
	GError **error)
{
	gsize end = length == UNDEFINED ? p->len : *pos + length;

	if (depth > MAX_DEPTH)
		return parse_fail(p, error,
			"sequences nested more than %d deep at byte %" G_GSIZE_FORMAT,
			MAX_DEPTH, *pos);
	if (end > p->len) {
		p->need_more = TRUE;
		return FALSE;
	}
	e->items = g_ptr_array_new_with_free_func((GDestroyNotify) set_free);
	while (*pos < end) {
		if (*pos + 8 > p->len) {
			p->need_more = TRUE;
			return FALSE;
		}
		guint32 tag = TAG(le16(p->buf + *pos), le16(p->buf + *pos + 2));
		guint32 len = le32(p->buf + *pos + 4);

		*pos += 8;
		if (tag == TAG_SEQ_END && length == UNDEFINED)
			return TRUE;
		if (tag != TAG_ITEM)
			return parse_fail(p, error,
				"a sequence holds (%04X,%04X) at byte %" G_GSIZE_FORMAT
				", not an item",
				tag >> 16, tag & 0xFFFF, *pos - 8);
		if (e->items->len >= MAX_FRAMES)
			return parse_fail(p, error, "a sequence of over %d items",
				MAX_FRAMES);
		DcmSet *set = set_new();
		g_ptr_array_add(e->items, set);
		if (len == UNDEFINED) {
			if (!parse_set(p, pos, p->len, TRUE, depth + 1, set,
				    error))
				return FALSE;
		} else {
			gsize item_end = *pos + len;
			if (item_end > end || item_end < *pos) {
				if (item_end > p->len && end == p->len) {
					p->need_more = TRUE;
					return FALSE;
				}
				return parse_fail(p, error,
					"an item of %u bytes at byte %" G_GSIZE_FORMAT
					" overruns its sequence",
					len, *pos - 8);
			}
			if (!parse_set(p, pos, item_end, FALSE, depth + 1, set,
				    error))
				return FALSE;
		}
	}
	if (length == UNDEFINED) {
		p->need_more = TRUE;
		return FALSE;
	}
	return TRUE;
}

/* Elements from *@pos to @end (an item of defined length), or to the
 * item's delimiter (@item and undefined length), or at the top level to
 * Pixel Data. */
static gboolean
parse_set(Parser *p, gsize *pos, gsize end, gboolean item, int depth,
	DcmSet *set, GError **error)
{
	gboolean top = depth == 0;

	while (*pos < end) {
		if (*pos + 8 > p->len) {
			p->need_more = TRUE;
			return FALSE;
		}
		const guint8 *h = p->buf + *pos;
		guint32 tag = TAG(le16(h), le16(h + 2));

		if (tag == TAG_ITEM_END && item) {
			*pos += 8;
			return TRUE;
		}
		if (top && tag == TAG_PIXEL_DATA) {
			p->pixel_data = *pos;
			return TRUE;
		}
		DcmElement e = { tag, { (char) h[4], (char) h[5], 0 }, 0, 0,
			NULL };
		if (!g_ascii_isupper(e.vr[0]) || !g_ascii_isupper(e.vr[1]))
			return parse_fail(p, error,
				"element (%04X,%04X) at byte %" G_GSIZE_FORMAT
				" has no value representation (an implicit-VR "
				"data set?)",
				tag >> 16, tag & 0xFFFF, *pos);
		if (long_vr(e.vr)) {
			if (*pos + 12 > p->len) {
				p->need_more = TRUE;
				return FALSE;
			}
			e.length = le32(h + 8);
			*pos += 12;
		} else {
			e.length = le16(h + 6);
			*pos += 8;
		}
		e.offset = *pos;
		if (strcmp(e.vr, "SQ") == 0 ||
			(e.length == UNDEFINED && strcmp(e.vr, "UN") == 0)) {
			if (!parse_items(p, pos, e.length, depth + 1, &e,
				    error)) {
				if (e.items)
					g_ptr_array_unref(e.items);
				return FALSE;
			}
		} else {
			if (e.length == UNDEFINED)
				return parse_fail(p, error,
					"element (%04X,%04X) at byte %" G_GSIZE_FORMAT
					" has an undefined length",
					tag >> 16, tag & 0xFFFF, e.offset);
			if (*pos + e.length > end || *pos + e.length > p->len) {
				if (*pos + e.length > p->len &&
					(top || end == p->len)) {
					p->need_more = TRUE;
					return FALSE;
				}
				return parse_fail(p, error,
					"element (%04X,%04X) of %u bytes at byte "
					"%" G_GSIZE_FORMAT " overruns its item",
					tag >> 16, tag & 0xFFFF, e.length, e.offset);
			}
			*pos += e.length;
		}
		g_array_append_val(set->elements, e);
	}
	if (item && end == p->len) {
		p->need_more = TRUE;
		return FALSE;
	}
	return TRUE;
}

static const DcmElement *
find(const DcmSet *set, guint32 tag)
{
	if (!set)
		return NULL;
	for (guint i = 0; i < set->elements->len; i++) {
		const DcmElement *e =
			&g_array_index(set->elements, DcmElement, i);
		if (e->tag == tag)
			return e;
	}
	return NULL;
}

/* The first item of sequence @tag of @set. */
static const DcmSet *
first_item(const DcmSet *set, guint32 tag)
{
	const DcmElement *e = find(set, tag);

	return e && e->items && e->items->len ? e->items->pdata[0] : NULL;
}

/* A string value, trailing spaces and NULs removed (g_free). */
static char *
get_string(const Parser *p, const DcmSet *set, guint32 tag)
{
	const DcmElement *e = find(set, tag);

	if (!e || e->items)
		return NULL;
	char *s = g_strndup((const char *) p->buf + e->offset, e->length);
	g_strchomp(s);
	for (char *c = s; *c; c++)
		if (!g_ascii_isprint(*c) && *c != '\\')
			*c = '?';
	return s;
}

static gboolean
get_uint(const Parser *p, const DcmSet *set, guint32 tag, gint64 *out)
{
	const DcmElement *e = find(set, tag);

	if (!e || e->items)
		return FALSE;
	const guint8 *v = p->buf + e->offset;
	if ((!strcmp(e->vr, "US") || !strcmp(e->vr, "SS")) && e->length >= 2)
		*out = strcmp(e->vr, "US") ? (gint16) le16(v) : le16(v);
	else if (!strcmp(e->vr, "UL") && e->length >= 4)
		*out = le32(v);
	else if (!strcmp(e->vr, "SL") && e->length >= 4)
		*out = (gint32) le32(v);
	else if (!strcmp(e->vr, "IS")) {
		g_autofree char *s = g_strstrip(get_string(p, set, tag));
		char *end;
		errno = 0;
		gint64 v64 = g_ascii_strtoll(s, &end, 10);
		if (errno || end == s || *end)
			return FALSE;
		*out = v64;
	} else
		return FALSE;
	return TRUE;
}

/* The @n-th value of a DS (decimal string) element. */
static gboolean
get_ds(const Parser *p, const DcmSet *set, guint32 tag, int n, double *out)
{
	g_autofree char *s = get_string(p, set, tag);
	if (!s)
		return FALSE;
	g_auto(GStrv) parts = g_strsplit(s, "\\", -1);
	if ((int) g_strv_length(parts) <= n)
		return FALSE;
	char *end;
	g_strstrip(parts[n]);
	*out = g_ascii_strtod(parts[n], &end);
	return end != parts[n] && !*end && isfinite(*out);
}

/* The transfer syntax UID in the file meta group (group 0002, explicit
 * VR little endian whatever the data set's), or NULL (need_more set
 * when the buffer ends first). */
static char *
meta_transfer_syntax(Parser *p)
{
	gsize pos = 132;

	while (pos + 8 <= p->len) {
		const guint8 *h = p->buf + pos;
		guint16 group = le16(h);
		guint32 tag = TAG(group, le16(h + 2));
		guint32 len;

		if (group != 0x0002)
			return NULL;
		if (long_vr((const char *) h + 4)) {
			if (pos + 12 > p->len)
				break;
			len = le32(h + 8);
			pos += 12;
		} else {
			len = le16(h + 6);
			pos += 8;
		}
		if (len == UNDEFINED)
			return NULL;
		if (pos + len > p->len)
			break;
		if (tag == TAG(0x0002, 0x0010)) {
			char *s = g_strndup((const char *) p->buf + pos, len);
			g_strchomp(s);
			return s;
		}
		pos += len;
	}
	p->need_more = TRUE;
	return NULL;
}

/* --- instances --------------------------------------------------------- */

typedef struct {
	char *path;
	char *series_uid, *study_uid, *pyramid_uid, *transfer_syntax;
	char *image_type; /* the third value: VOLUME, LABEL, OVERVIEW … */
	char *photometric;
	char *manufacturer, *model, *container;
	Codec codec;
	gint64 width, height; /* total pixel matrix */
	int tile_w, tile_h; /* Columns, Rows */
	int spp;
	gint64 n_frames;
	gboolean sparse;
	double spacing_x, spacing_y; /* mm, 0 when absent */
	GBytes *icc;
	/* frames: byte range of the frame's item(s) (encapsulated) or of its
	 * samples (native) */
	guint64 *frame_start;
	guint64 *frame_end;
	/* per tile (row-major), the frame holding it, or -1 */
	gint32 *tile_frame;
	int tiles_x, tiles_y;
	guint64 file_size;
} Instance;

static void
instance_free(Instance *in)
{
	if (!in)
		return;
	g_free(in->path);
	g_free(in->series_uid);
	g_free(in->study_uid);
	g_free(in->pyramid_uid);
	g_free(in->transfer_syntax);
	g_free(in->image_type);
	g_free(in->photometric);
	g_free(in->manufacturer);
	g_free(in->model);
	g_free(in->container);
	if (in->icc)
		g_bytes_unref(in->icc);
	g_free(in->frame_start);
	g_free(in->frame_end);
	g_free(in->tile_frame);
	g_free(in);
}

static gboolean G_GNUC_PRINTF(3, 4)
	instance_fail(const Instance *in, GError **error, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	g_autofree char *what = g_strdup_vprintf(format, ap);
	va_end(ap);
	g_autofree char *shown = sp_printable(in->path);
	g_set_error(error, SP_ERROR, SP_ERROR_FORMAT, "load: '%s': %s", shown,
		what);
	return FALSE;
}

static gboolean
read_at(int fd, guint64 offset, void *buf, gsize n)
{
	guint8 *b = buf;

	while (n > 0) {
		ssize_t r = pread(fd, b, n, (off_t) offset);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return FALSE;
		b += r;
		n -= (gsize) r;
		offset += (guint64) r;
	}
	return TRUE;
}

gboolean
_sp_dicom_is_file(const char *path)
{
	guint8 magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	gboolean yes;

	if (fd < 0)
		return FALSE;
	yes = read_at(fd, 128, magic, 4) && memcmp(magic, "DICM", 4) == 0;
	close(fd);
	return yes;
}

static const char *const transfer_syntaxes[][2] = {
	{ "1.2.840.10008.1.2", "implicit VR little endian" },
	{ "1.2.840.10008.1.2.1.99", "deflated explicit VR little endian" },
	{ "1.2.840.10008.1.2.2", "explicit VR big endian" },
	{ "1.2.840.10008.1.2.4.51", "JPEG extended (12-bit)" },
	{ "1.2.840.10008.1.2.4.57", "JPEG lossless" },
	{ "1.2.840.10008.1.2.4.70", "JPEG lossless (first-order prediction)" },
	{ "1.2.840.10008.1.2.4.80", "JPEG-LS lossless" },
	{ "1.2.840.10008.1.2.4.81", "JPEG-LS near-lossless" },
	{ "1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 lossless" },
	{ "1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 (RPCL)" },
	{ "1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000" },
	{ "1.2.840.10008.1.2.5", "RLE lossless" },
};

static gboolean
instance_codec(Instance *in, GError **error)
{
	const char *ts = in->transfer_syntax;

	if (!strcmp(ts, "1.2.840.10008.1.2.1"))
		in->codec = CODEC_NATIVE;
	else if (!strcmp(ts, "1.2.840.10008.1.2.4.50"))
		in->codec = CODEC_JPEG;
	else if (!strcmp(ts, "1.2.840.10008.1.2.4.90") ||
		!strcmp(ts, "1.2.840.10008.1.2.4.91"))
		in->codec = CODEC_J2K;
	else {
		const char *name = "an unknown transfer syntax";
		for (guint i = 0; i < G_N_ELEMENTS(transfer_syntaxes); i++)
			if (!strcmp(ts, transfer_syntaxes[i][0]))
				name = transfer_syntaxes[i][1];
		return instance_fail(in, error,
			"transfer syntax %s (%s) is not read; slidepipe reads "
			"explicit VR little endian (1.2.840.10008.1.2.1), JPEG "
			"baseline (.4.50) and JPEG 2000 (.4.90, .4.91)",
			ts, name);
	}
	return TRUE;
}

/* The frames' byte ranges in an encapsulated Pixel Data whose first item
 * (the Basic Offset Table) starts at @bot. */
static gboolean
index_fragments(Instance *in, int fd, const Parser *p, const DcmSet *set,
	guint64 bot, GError **error)
{
	guint8 h[8];
	gint64 n = in->n_frames;

	if (!read_at(fd, bot, h, 8) ||
		TAG(le16(h), le16(h + 2)) != TAG_ITEM)
		return instance_fail(in, error,
			"Pixel Data has no Basic Offset Table item at byte "
			"%" G_GUINT64_FORMAT " (truncated?)",
			bot);
	guint32 bot_len = le32(h + 4);
	if (bot_len == UNDEFINED || bot_len % 4 ||
		(guint64) bot_len > (guint64) n * 4 || bot + 8 + bot_len > in->file_size)
		return instance_fail(in, error,
			"its Basic Offset Table of %u bytes does not fit %"
			G_GINT64_FORMAT " frames or the file",
			bot_len, n);
	guint64 first = bot + 8 + bot_len;
	const DcmElement *eot = find(set, TAG(0x7FE0, 0x0001));
	const DcmElement *eotl = find(set, TAG(0x7FE0, 0x0002));

	in->frame_start = g_new(guint64, n);
	in->frame_end = g_new(guint64, n);
	if (eot && eotl) {
		if (eot->length != n * 8 || eotl->length != n * 8)
			return instance_fail(in, error,
				"its Extended Offset Table has %u bytes for %"
				G_GINT64_FORMAT " frames",
				eot->length, n);
		for (gint64 i = 0; i < n; i++) {
			guint64 off = le64(p->buf + eot->offset + 8 * i);
			guint64 len = le64(p->buf + eotl->offset + 8 * i);
			in->frame_start[i] = first + off;
			in->frame_end[i] = first + off + 8 + len;
			if (off > in->file_size || len > MAX_FRAME_BYTES ||
				in->frame_end[i] > in->file_size)
				return instance_fail(in, error,
					"Extended Offset Table: frame %" G_GINT64_FORMAT
					" lies past the end of the file (truncated?)",
					i);
		}
		return TRUE;
	}
	if (bot_len > 0) {
		if (bot_len / 4 != n)
			return instance_fail(in, error,
				"its Basic Offset Table lists %u frames; "
				"NumberOfFrames is %" G_GINT64_FORMAT,
				bot_len / 4, n);
		g_autofree guint8 *table = g_malloc(bot_len);
		if (!read_at(fd, bot + 8, table, bot_len))
			return instance_fail(in, error,
				"cannot read its Basic Offset Table");
		for (gint64 i = 0; i < n; i++) {
			in->frame_start[i] = first + le32(table + 4 * i);
			if (in->frame_start[i] + 8 > in->file_size ||
				(i > 0 && in->frame_start[i] <=
						in->frame_start[i - 1]))
				return instance_fail(in, error,
					"Basic Offset Table: frame %" G_GINT64_FORMAT
					" at byte %" G_GUINT64_FORMAT " is %s",
					i, in->frame_start[i],
					in->frame_start[i] + 8 > in->file_size ?
						"past the end of the file" :
						"before the frame ahead of it");
			if (i > 0)
				in->frame_end[i - 1] = in->frame_start[i];
		}
		/* the last runs to the sequence's delimiter */
		in->frame_end[n - 1] = in->file_size;
		return TRUE;
	}
	/* no table: walk the fragments */
	GArray *frags = g_array_new(FALSE, FALSE, sizeof(guint64));
	guint64 at = first;
	for (;;) {
		if (!read_at(fd, at, h, 8)) {
			guint nf = frags->len;
			g_array_unref(frags);
			return instance_fail(in, error,
				"Pixel Data ends without its delimiter after %u "
				"fragments (truncated?)",
				nf);
		}
		guint32 tag = TAG(le16(h), le16(h + 2));
		guint32 len = le32(h + 4);
		if (tag == TAG_SEQ_END)
			break;
		if (tag != TAG_ITEM || len == UNDEFINED ||
			at + 8 + len > in->file_size ||
			frags->len >= (guint) MIN(n * 64, MAX_FRAMES)) {
			guint nf = frags->len;
			g_array_unref(frags);
			return instance_fail(in, error,
				"Pixel Data's fragment %u at byte %" G_GUINT64_FORMAT
				" is %s",
				nf, at,
				tag != TAG_ITEM ? "not an item" :
				nf >= (guint) MIN(n * 64, MAX_FRAMES) ?
						  "one too many" :
						  "past the end of the file (truncated?)");
		}
		g_array_append_val(frags, at);
		at += 8 + (guint64) len;
	}
	if ((gint64) frags->len == n) {
		for (gint64 i = 0; i < n; i++) {
			in->frame_start[i] = g_array_index(frags, guint64, i);
			in->frame_end[i] = i + 1 < n ?
				g_array_index(frags, guint64, i + 1) :
				at;
		}
	} else if (n == 1 && frags->len > 0) {
		in->frame_start[0] = first;
		in->frame_end[0] = at;
	} else {
		guint nf = frags->len;
		g_array_unref(frags);
		return instance_fail(in, error,
			"%u fragments for %" G_GINT64_FORMAT " frames and no "
			"offset table: cannot tell the frames apart",
			nf, n);
	}
	g_array_unref(frags);
	return TRUE;
}

/* Which frame holds each tile. */
static gboolean
index_tiles(Instance *in, const Parser *p, const DcmSet *set, GError **error)
{
	gint64 n_tiles = (gint64) in->tiles_x * in->tiles_y;

	in->tile_frame = g_new(gint32, n_tiles);
	for (gint64 t = 0; t < n_tiles; t++)
		in->tile_frame[t] = -1;
	if (!in->sparse) {
		if (in->n_frames < n_tiles)
			return instance_fail(in, error,
				"TILED_FULL with %" G_GINT64_FORMAT " frames for "
				"%d × %d tiles",
				in->n_frames, in->tiles_x, in->tiles_y);
		/* further frames are other focal planes or optical paths */
		for (gint64 t = 0; t < n_tiles; t++)
			in->tile_frame[t] = (gint32) t;
		return TRUE;
	}
	const DcmElement *pf = find(set, TAG(0x5200, 0x9230));
	if (!pf || !pf->items || pf->items->len != in->n_frames)
		return instance_fail(in, error,
			"TILED_SPARSE needs a Per-Frame Functional Groups "
			"item per frame (%u for %" G_GINT64_FORMAT " frames)",
			pf && pf->items ? pf->items->len : 0, in->n_frames);
	for (gint64 i = 0; i < in->n_frames; i++) {
		const DcmSet *pos = first_item(pf->items->pdata[i],
			TAG(0x0048, 0x021A));
		gint64 col, row;

		if (!get_uint(p, pos, TAG(0x0048, 0x021E), &col) ||
			!get_uint(p, pos, TAG(0x0048, 0x021F), &row))
			return instance_fail(in, error,
				"frame %" G_GINT64_FORMAT " has no Plane Position "
				"(Slide) in the total pixel matrix",
				i);
		col -= 1;
		row -= 1;
		if (col < 0 || row < 0 || col % in->tile_w ||
			row % in->tile_h || col >= in->width ||
			row >= in->height)
			return instance_fail(in, error,
				"frame %" G_GINT64_FORMAT " at column %" G_GINT64_FORMAT
				", row %" G_GINT64_FORMAT
				" (1-based) is not on the %d × %d tile grid of the "
				"%" G_GINT64_FORMAT " × %" G_GINT64_FORMAT " matrix",
				i, col + 1, row + 1, in->tile_w, in->tile_h,
				in->width, in->height);
		gint64 t = (row / in->tile_h) * in->tiles_x + col / in->tile_w;
		/* the first frame at a position wins (focal planes after) */
		if (in->tile_frame[t] < 0)
			in->tile_frame[t] = (gint32) i;
	}
	return TRUE;
}

/* Reads @path's header (with @only_ids, no more than its series'
 * identity and image type). NULL with @error when it is not a WSI
 * instance slidepipe reads. */
static Instance *
instance_read(const char *path, gboolean only_ids, GError **error)
{
	Instance *in = g_new0(Instance, 1);
	Parser p = { path, NULL, 0, FALSE, 0 };
	DcmSet *set = NULL;
	guint8 *buf = NULL;
	struct stat st;
	int fd;
	gboolean ok = FALSE;
	/* freed at the end (declared before the first goto) */
	g_autofree char *ts = NULL, *type = NULL, *sop_class = NULL;
	g_autofree char *org = NULL, *volumetric = NULL;

	in->path = g_strdup(path);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"load: cannot open '%s': %s", path, g_strerror(err));
		if (fd >= 0)
			close(fd);
		instance_free(in);
		return NULL;
	}
	in->file_size = (guint64) st.st_size;

	/* the header: read more until it parses to Pixel Data */
	gsize want = MIN((gsize) in->file_size, (gsize) 1 << 20);
	for (;;) {
		g_free(buf);
		buf = g_malloc(MAX(want, 1));
		if (!read_at(fd, 0, buf, want)) {
			instance_fail(in, error, "cannot read its header");
			goto out;
		}
		p.buf = buf;
		p.len = want;
		p.need_more = FALSE;
		p.pixel_data = 0;
		if (want < 132 || memcmp(buf + 128, "DICM", 4) != 0) {
			instance_fail(in, error,
				"no DICM at byte 128: not a DICOM Part 10 file");
			goto out;
		}
		if (!ts) {
			/* the file meta group (always explicit VR little
			 * endian) names the data set's transfer syntax: one
			 * slidepipe does not parse is refused before it is */
			ts = meta_transfer_syntax(&p);
			g_free(in->transfer_syntax);
			in->transfer_syntax = g_strdup(ts ? ts : "");
			if (!ts) {
				if (p.need_more && want < in->file_size) {
					want = MIN((gsize) in->file_size, want * 4);
					continue;
				}
				instance_fail(in, error,
					"its file meta information has no "
					"transfer syntax (0002,0010)");
				goto out;
			}
			if (!instance_codec(in, error))
				goto out;
		}
		set_free(set);
		set = set_new();
		gsize pos = 132;
		GError *local = NULL;
		if (parse_set(&p, &pos, p.len, FALSE, 0, set, &local) &&
			(p.pixel_data || only_ids))
			break;
		if (local) {
			g_propagate_error(error, local);
			goto out;
		}
		if (only_ids && p.len >= ((gsize) 1 << 20)) {
			/* identity elements come early: enough */
			break;
		}
		if (want >= in->file_size || want >= MAX_HEADER_BYTES) {
			instance_fail(in, error,
				want >= in->file_size ?
					"it ends before its Pixel Data "
					"(truncated?)" :
					"a header of over 1 GiB before Pixel Data");
			goto out;
		}
		want = MIN((gsize) in->file_size, want * 4);
	}

	in->series_uid = get_string(&p, set, TAG(0x0020, 0x000E));
	in->study_uid = get_string(&p, set, TAG(0x0020, 0x000D));
	in->pyramid_uid = get_string(&p, set, TAG(0x0008, 0x0019));
	in->manufacturer = get_string(&p, set, TAG(0x0008, 0x0070));
	in->model = get_string(&p, set, TAG(0x0008, 0x1090));
	in->container = get_string(&p, set, TAG(0x0040, 0x0512));
	type = get_string(&p, set, TAG(0x0008, 0x0008));
	sop_class = get_string(&p, set, TAG(0x0008, 0x0016));
	volumetric = get_string(&p, set, TAG(0x0008, 0x9206));
	if (type) {
		g_auto(GStrv) v = g_strsplit(type, "\\", -1);
		if (g_strv_length(v) >= 3)
			in->image_type = g_strdup(g_strstrip(v[2]));
	}
	/* no Image Type (OrthancWSIDicomizer 1.1 writes none): Volumetric
	 * Properties says whether it is a pyramid level */
	if (!in->image_type && volumetric && !strcmp(volumetric, "VOLUME"))
		in->image_type = g_strdup("VOLUME");
	if (!sop_class || strcmp(sop_class, "1.2.840.10008.5.1.4.1.1.77.1.6") ||
		!in->image_type) {
		instance_fail(in, error,
			"not a VL Whole Slide Microscopy Image (SOP class %s)",
			sop_class ? sop_class : "missing");
		goto out;
	}
	if (only_ids) {
		ok = TRUE;
		goto out;
	}
	gint64 parts = 1;
	if (find(set, TAG(0x0020, 0x9161)) &&
		(!get_uint(&p, set, TAG(0x0020, 0x9162), &parts) || parts != 1)) {
		instance_fail(in, error,
			"an instance of a concatenation of %" G_GINT64_FORMAT
			" parts: concatenations are not read",
			parts);
		goto out;
	}
	gint64 v;
	in->photometric = get_string(&p, set, TAG(0x0028, 0x0004));
	gint64 rows = 0, cols = 0, spp = 0, bits = 0, planar = 0;
	get_uint(&p, set, TAG(0x0028, 0x0010), &rows);
	get_uint(&p, set, TAG(0x0028, 0x0011), &cols);
	get_uint(&p, set, TAG(0x0028, 0x0002), &spp);
	get_uint(&p, set, TAG(0x0028, 0x0100), &bits);
	get_uint(&p, set, TAG(0x0028, 0x0006), &planar);
	if (rows < 1 || cols < 1 || rows > 65535 || cols > 65535 ||
		rows * cols > (1 << 26)) {
		instance_fail(in, error, "frames of %" G_GINT64_FORMAT " × %"
					 G_GINT64_FORMAT " pixels",
			cols, rows);
		goto out;
	}
	in->tile_w = (int) cols;
	in->tile_h = (int) rows;
	if (bits != 8 || (spp != 1 && spp != 3) || planar != 0 ||
		!in->photometric) {
		instance_fail(in, error,
			"%" G_GINT64_FORMAT " samples of %" G_GINT64_FORMAT
			" bits (%s%s): slidepipe reads 8-bit, 1 or 3 samples, "
			"interleaved",
			spp, bits, in->photometric ? in->photometric : "?",
			planar ? ", planar" : "");
		goto out;
	}
	in->spp = (int) spp;
	if (spp == 1 ? strcmp(in->photometric, "MONOCHROME2") != 0 :
		       in->codec == CODEC_NATIVE ?
		       strcmp(in->photometric, "RGB") != 0 :
		       !(g_str_has_prefix(in->photometric, "YBR_") ||
			       !strcmp(in->photometric, "RGB"))) {
		instance_fail(in, error,
			"photometric interpretation %s with %s samples is not "
			"read",
			in->photometric,
			in->codec == CODEC_NATIVE ? "native" : "compressed");
		goto out;
	}
	if (!get_uint(&p, set, TAG(0x0028, 0x0008), &v))
		v = 1;
	if (v < 1 || v > MAX_FRAMES) {
		instance_fail(in, error, "NumberOfFrames %" G_GINT64_FORMAT
					 " is not in 1 … %d",
			v, MAX_FRAMES);
		goto out;
	}
	in->n_frames = v;
	if (!get_uint(&p, set, TAG(0x0048, 0x0006), &in->width))
		in->width = cols;
	if (!get_uint(&p, set, TAG(0x0048, 0x0007), &in->height))
		in->height = rows;
	if (in->width < 1 || in->height < 1 || in->width > (1 << 24) ||
		in->height > (1 << 24)) {
		instance_fail(in, error,
			"a total pixel matrix of %" G_GINT64_FORMAT " × %"
			G_GINT64_FORMAT,
			in->width, in->height);
		goto out;
	}
	in->tiles_x = (int) ((in->width + cols - 1) / cols);
	in->tiles_y = (int) ((in->height + rows - 1) / rows);
	if ((gint64) in->tiles_x * in->tiles_y > MAX_FRAMES) {
		instance_fail(in, error, "too many tiles");
		goto out;
	}
	org = get_string(&p, set, TAG(0x0020, 0x9311));
	in->sparse = org && !strcmp(org, "TILED_SPARSE");
	if (!org && in->n_frames > 1 && find(set, TAG(0x5200, 0x9230))) {
		/* no Dimension Organization Type: positions per frame */
		in->sparse = TRUE;
	}
	const DcmSet *shared = first_item(set, TAG(0x5200, 0x9229));
	const DcmSet *measures = first_item(shared, TAG(0x0028, 0x9110));
	double sy, sx;
	if (get_ds(&p, measures, TAG(0x0028, 0x0030), 0, &sy) &&
		get_ds(&p, measures, TAG(0x0028, 0x0030), 1, &sx) && sx > 0 &&
		sy > 0) {
		in->spacing_x = sx;
		in->spacing_y = sy;
	} else {
		double vw, vh;
		if (get_ds(&p, set, TAG(0x0048, 0x0001), 0, &vw) &&
			get_ds(&p, set, TAG(0x0048, 0x0002), 0, &vh) && vw > 0 &&
			vh > 0) {
			in->spacing_x = vw / in->width;
			in->spacing_y = vh / in->height;
		}
	}
	const DcmSet *path_item = first_item(set, TAG(0x0048, 0x0105));
	const DcmElement *icc = find(path_item, TAG(0x0028, 0x2000));
	if (icc && icc->length > 0 && icc->length < (64u << 20))
		in->icc = g_bytes_new(p.buf + icc->offset, icc->length);

	/* Pixel Data */
	guint8 h[12];
	if (!read_at(fd, p.pixel_data, h, 12)) {
		instance_fail(in, error, "it ends in its Pixel Data's header");
		goto out;
	}
	guint32 length = le32(h + 8);
	if (in->codec == CODEC_NATIVE) {
		guint64 frame_bytes = (guint64) cols * rows * spp;
		guint64 start = p.pixel_data + 12;
		if (length == UNDEFINED ||
			(guint64) length < frame_bytes * in->n_frames ||
			start + frame_bytes * in->n_frames > in->file_size) {
			instance_fail(in, error,
				"its Pixel Data holds %" G_GUINT64_FORMAT
				" bytes of the %" G_GUINT64_FORMAT " that %"
				G_GINT64_FORMAT " frames of %d × %d × %d need "
				"(truncated?)",
				MIN((guint64) length,
					in->file_size - MIN(in->file_size, start)),
				frame_bytes * in->n_frames, in->n_frames,
				in->tile_w, in->tile_h, in->spp);
			goto out;
		}
		in->frame_start = g_new(guint64, in->n_frames);
		in->frame_end = g_new(guint64, in->n_frames);
		for (gint64 i = 0; i < in->n_frames; i++) {
			in->frame_start[i] = start + i * frame_bytes;
			in->frame_end[i] = in->frame_start[i] + frame_bytes;
		}
	} else {
		if (length != UNDEFINED) {
			instance_fail(in, error,
				"compressed Pixel Data that is not encapsulated");
			goto out;
		}
		if (!index_fragments(in, fd, &p, set, p.pixel_data + 12, error))
			goto out;
	}
	if (!index_tiles(in, &p, set, error))
		goto out;
	ok = TRUE;
out:
	close(fd);
	set_free(set);
	g_free(buf);
	if (!ok) {
		instance_free(in);
		return NULL;
	}
	return in;
}

/* --- frames ------------------------------------------------------------ */

typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jmp;
	char message[JMSG_LENGTH_MAX];
} JpegError;

static void
jpeg_error_exit(j_common_ptr cinfo)
{
	JpegError *e = (JpegError *) cinfo->err;

	cinfo->err->format_message(cinfo, e->message);
	longjmp(e->jmp, 1);
}

static void
jpeg_quiet(j_common_ptr cinfo, int level)
{
}

static gboolean
decode_jpeg(const Instance *in, const guint8 *data, gsize length,
	guint8 *out, GError **error)
{
	struct jpeg_decompress_struct d;
	JpegError err;
	/* volatile: kept across longjmp */
	JSAMPROW volatile row = NULL;

	d.err = jpeg_std_error(&err.pub);
	err.pub.error_exit = jpeg_error_exit;
	err.pub.emit_message = jpeg_quiet;
	if (setjmp(err.jmp)) {
		jpeg_destroy_decompress(&d);
		g_free(row);
		return instance_fail(in, error, "a JPEG frame: %s", err.message);
	}
	jpeg_create_decompress(&d);
	jpeg_mem_src(&d, data, length);
	jpeg_read_header(&d, TRUE);
	if (in->spp == 3) {
		/* the photometric interpretation says what the samples are
		 * (RGB: no colour transform), not the stream's markers */
		if (d.num_components != 3)
			longjmp(err.jmp, 1);
		d.jpeg_color_space = strcmp(in->photometric, "RGB") == 0 ?
			JCS_RGB :
			JCS_YCbCr;
		d.out_color_space = JCS_RGB;
	} else
		d.out_color_space = JCS_GRAYSCALE;
	d.dct_method = JDCT_ISLOW;
	jpeg_start_decompress(&d);
	if ((int) d.output_width < in->tile_w ||
		(int) d.output_height < in->tile_h ||
		d.output_components != in->spp) {
		g_snprintf(err.message, sizeof(err.message),
			"%u × %u × %d, not the %d × %d × %d of its frames",
			d.output_width, d.output_height, d.output_components,
			in->tile_w, in->tile_h, in->spp);
		longjmp(err.jmp, 1);
	}
	row = g_malloc((gsize) d.output_width * d.output_components);
	gsize stride = (gsize) in->tile_w * in->spp;
	while (d.output_scanline < (unsigned) in->tile_h) {
		JSAMPROW r = row;
		int y = (int) d.output_scanline;
		jpeg_read_scanlines(&d, &r, 1);
		memcpy(out + y * stride, row, stride);
	}
	jpeg_abort_decompress(&d);
	jpeg_destroy_decompress(&d);
	g_free(row);
	return TRUE;
}

static gboolean
decode_j2k(const Instance *in, const guint8 *data, gsize length, guint8 *out,
	GError **error)
{
	VipsImage *image = NULL;
	void *pixels = NULL;
	size_t size = 0;

	if (vips_jp2kload_buffer((void *) data, length, &image, NULL) == 0 &&
		image->Xsize >= in->tile_w && image->Ysize >= in->tile_h &&
		image->Bands == in->spp && image->BandFmt == VIPS_FORMAT_UCHAR) {
		VipsImage *t;
		if (!vips_extract_area(image, &t, 0, 0, in->tile_w,
			    in->tile_h, NULL)) {
			pixels = vips_image_write_to_memory(t, &size);
			g_object_unref(t);
		}
	}
	if (image)
		g_object_unref(image);
	if (!pixels) {
		g_autofree char *why = _sp_vips_error_take("JPEG 2000");
		return instance_fail(in, error, "a JPEG 2000 frame: %s",
			why && *why ? why :
				      "not the size or samples of its frames");
	}
	memcpy(out, pixels, MIN(size, (size_t) in->tile_w * in->tile_h * in->spp));
	g_free(pixels);
	return TRUE;
}

/* Frame @f's pixels into @out (tile_w × tile_h × spp), read with @fd;
 * @scratch holds its compressed bytes. */
static gboolean
read_frame(const Instance *in, int fd, gint64 f, GByteArray *scratch,
	guint8 *out, GError **error)
{
	guint64 start = in->frame_start[f], end = in->frame_end[f];

	if (in->codec == CODEC_NATIVE) {
		if (!read_at(fd, start, out, end - start))
			return instance_fail(in, error,
				"cannot read frame %" G_GINT64_FORMAT,
				f);
		return TRUE;
	}
	/* the frame's fragments, their item headers dropped */
	g_byte_array_set_size(scratch, 0);
	guint64 at = start;
	while (at < end) {
		guint8 h[8];
		if (!read_at(fd, at, h, 8))
			break;
		guint32 tag = TAG(le16(h), le16(h + 2));
		guint32 len = le32(h + 4);
		if (tag == TAG_SEQ_END && at > start)
			break;
		if (tag != TAG_ITEM || len == UNDEFINED ||
			scratch->len + (guint64) len > MAX_FRAME_BYTES ||
			at + 8 + len > in->file_size)
			return instance_fail(in, error,
				"frame %" G_GINT64_FORMAT " at byte %" G_GUINT64_FORMAT
				" is not a fragment (a damaged offset table?)",
				f, at);
		guint old = scratch->len;
		/* an empty fragment adds nothing (and an empty array has no
		 * data to add to: found by the load fuzzer) */
		if (len > 0)
			g_byte_array_set_size(scratch, old + len);
		if (len > 0 && !read_at(fd, at + 8, scratch->data + old, len))
			return instance_fail(in, error,
				"cannot read frame %" G_GINT64_FORMAT, f);
		at += 8 + (guint64) len;
	}
	if (scratch->len == 0)
		return instance_fail(in, error,
			"frame %" G_GINT64_FORMAT " is empty", f);
	return in->codec == CODEC_JPEG ?
		decode_jpeg(in, scratch->data, scratch->len, out, error) :
		decode_j2k(in, scratch->data, scratch->len, out, error);
}

/* --- the lazy image of an instance -------------------------------------- */

typedef struct {
	Instance *in; /* owned by the SpDicom, which the image refs */
	SpDicom *dicom;
	int fd;
} Source;

typedef struct {
	GByteArray *scratch;
	guint8 *tile;
} Seq;

static void *
source_start(VipsImage *out, void *a, void *b)
{
	Source *s = a;
	Seq *seq = g_new0(Seq, 1);

	seq->scratch = g_byte_array_new();
	seq->tile = g_malloc((gsize) s->in->tile_w * s->in->tile_h * s->in->spp);
	return seq;
}

static int
source_stop(void *vseq, void *a, void *b)
{
	Seq *seq = vseq;

	g_byte_array_unref(seq->scratch);
	g_free(seq->tile);
	g_free(seq);
	return 0;
}

static int
source_generate(VipsRegion *region, void *vseq, void *a, void *b,
	gboolean *stop)
{
	Seq *seq = vseq;
	Source *s = a;
	const Instance *in = s->in;
	const VipsRect *r = &region->valid;
	int bands = in->spp;

	for (int ty = r->top / in->tile_h;
		ty <= (r->top + r->height - 1) / in->tile_h; ty++)
		for (int tx = r->left / in->tile_w;
			tx <= (r->left + r->width - 1) / in->tile_w; tx++) {
			VipsRect tile = { tx * in->tile_w, ty * in->tile_h,
				in->tile_w, in->tile_h };
			VipsRect part;
			gint32 f = in->tile_frame[(gint64) ty * in->tiles_x + tx];

			vips_rect_intersectrect(&tile, r, &part);
			if (f < 0)
				memset(seq->tile, 255,
					(gsize) in->tile_w * in->tile_h * bands);
			else {
				GError *error = NULL;
				if (!read_frame(in, s->fd, f, seq->scratch,
					    seq->tile, &error)) {
					const char *m = error->message;
					vips_error("dicom", "%s",
						g_str_has_prefix(m, "load: ") ?
							m + 6 :
							m);
					g_error_free(error);
					return -1;
				}
			}
			for (int y = 0; y < part.height; y++)
				memcpy(VIPS_REGION_ADDR(region, part.left,
					       part.top + y),
					seq->tile +
						((gsize) (part.top - tile.top + y) *
								in->tile_w +
							(part.left - tile.left)) *
							bands,
					(gsize) part.width * bands);
		}
	return 0;
}

struct _SpDicom {
	gint ref_count;
	char *path;
	GPtrArray *levels; /* Instance *, largest first */
	Instance *associated[3]; /* label, macro, thumbnail */
};

static const char *const associated_names[3] = { "label", "macro",
	"thumbnail" };

static void
source_free(VipsImage *image, Source *s)
{
	if (s->fd >= 0)
		close(s->fd);
	_sp_dicom_unref(s->dicom);
	g_free(s);
}

static VipsImage *
instance_image(SpDicom *d, Instance *in, int read_width, GError **error)
{
	Source *s = g_new0(Source, 1);
	VipsImage *raw = vips_image_new();
	VipsImage *out;

	s->in = in;
	s->dicom = _sp_dicom_ref(d);
	if ((s->fd = open(in->path, O_RDONLY | O_CLOEXEC)) < 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"load: cannot open '%s': %s", in->path, g_strerror(err));
		source_free(NULL, s);
		g_object_unref(raw);
		return NULL;
	}
	g_signal_connect(raw, "close", G_CALLBACK(source_free), s);
	vips_image_init_fields(raw, (int) in->width, (int) in->height, in->spp,
		VIPS_FORMAT_UCHAR, VIPS_CODING_NONE,
		in->spp == 3 ? VIPS_INTERPRETATION_sRGB :
			       VIPS_INTERPRETATION_B_W,
		in->spacing_x > 0 ? 1.0 / in->spacing_x : 1.0,
		in->spacing_y > 0 ? 1.0 / in->spacing_y : 1.0);
	if (vips_image_pipelinev(raw, VIPS_DEMAND_STYLE_SMALLTILE, NULL) ||
		vips_image_generate(raw, source_start, source_generate,
			source_stop, s, NULL)) {
		_sp_set_vips_error(error, "load", in->path);
		g_object_unref(raw);
		return NULL;
	}
	/* a tile decoded once for the threads that share it; enough for
	 * two rows of tiles across the width read */
	int across = (int) MIN((gint64) MAX(read_width, 1), in->width) /
			in->tile_w +
		2;
	if (vips_tilecache(raw, &out, "tile_width", in->tile_w, "tile_height",
		    in->tile_h, "max_tiles", 2 * across, "access",
		    VIPS_ACCESS_RANDOM, "threaded", TRUE, NULL)) {
		_sp_set_vips_error(error, "load", in->path);
		g_object_unref(raw);
		return NULL;
	}
	g_object_unref(raw);
	/* the ICC profile is the slide's (sp_slide_get_icc_profile(), which
	 * save's icc= reads), not attached to the pixels: as for a TIFF */
	return out;
}

/* --- the slide: a series ------------------------------------------------ */

SpDicom *
_sp_dicom_ref(SpDicom *d)
{
	g_atomic_int_inc(&d->ref_count);
	return d;
}

void
_sp_dicom_unref(SpDicom *d)
{
	if (!d || !g_atomic_int_dec_and_test(&d->ref_count))
		return;
	g_free(d->path);
	g_ptr_array_unref(d->levels);
	for (int i = 0; i < 3; i++)
		instance_free(d->associated[i]);
	g_free(d);
}

static int
compare_paths(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static int
compare_levels(gconstpointer a, gconstpointer b)
{
	const Instance *x = *(Instance *const *) a;
	const Instance *y = *(Instance *const *) b;

	return x->width != y->width ? (x->width > y->width ? -1 : 1) :
		x->height != y->height ? (x->height > y->height ? -1 : 1) :
					 strcmp(x->path, y->path);
}

gboolean
_sp_dicom_sniff(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return FALSE;
	if (S_ISREG(st.st_mode))
		return _sp_dicom_is_file(path);
	if (!S_ISDIR(st.st_mode))
		return FALSE;
	GDir *dir = g_dir_open(path, 0, NULL);
	const char *name;
	gboolean yes = FALSE;
	while (dir && !yes && (name = g_dir_read_name(dir))) {
		g_autofree char *f = g_build_filename(path, name, NULL);
		yes = g_file_test(f, G_FILE_TEST_IS_REGULAR) &&
			_sp_dicom_is_file(f);
	}
	if (dir)
		g_dir_close(dir);
	return yes;
}

SpDicom *
_sp_dicom_open(const char *path, GError **error)
{
	g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *series = NULL;
	gboolean is_dir = g_file_test(path, G_FILE_TEST_IS_DIR);
	/* a file's series is found beside the file itself, not beside a
	 * link to it */
	g_autofree char *real = is_dir ? NULL : realpath(path, NULL);
	g_autofree char *dirname = is_dir ? g_strdup(path) :
					    g_path_get_dirname(real ? real : path);
	GDir *dir;
	const char *name;

	if (!is_dir) {
		Instance *first = instance_read(path, TRUE, error);
		if (!first)
			return NULL;
		series = g_strdup(first->series_uid ? first->series_uid : "");
		instance_free(first);
	}
	if (!(dir = g_dir_open(dirname, 0, error))) {
		g_prefix_error(error, "load: ");
		return NULL;
	}
	while ((name = g_dir_read_name(dir))) {
		char *f = g_build_filename(dirname, name, NULL);
		if (g_file_test(f, G_FILE_TEST_IS_REGULAR) &&
			_sp_dicom_is_file(f))
			g_ptr_array_add(files, f);
		else
			g_free(f);
	}
	g_dir_close(dir);
	g_ptr_array_sort(files, compare_paths);

	SpDicom *d = g_new0(SpDicom, 1);
	d->ref_count = 1;
	d->path = g_strdup(path);
	d->levels = g_ptr_array_new_with_free_func(
		(GDestroyNotify) instance_free);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash,
		g_str_equal, g_free, NULL);
	g_autoptr(GError) refused = NULL;

	for (guint i = 0; i < files->len; i++) {
		const char *f = files->pdata[i];
		GError *local = NULL;
		Instance *id = instance_read(f, TRUE, &local);

		if (!id) {
			/* not a WSI instance: other files may sit beside;
			 * the first refusal explains an empty series */
			if (!refused)
				refused = local;
			else
				g_clear_error(&local);
			continue;
		}
		const char *uid = id->series_uid ? id->series_uid : "";
		if (!series) {
			if (g_hash_table_size(seen) == 0 ||
				g_hash_table_contains(seen, uid))
				g_hash_table_add(seen, g_strdup(uid));
			else {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"load: '%s' holds more than one DICOM "
					"series (%s and %s); give a file of the "
					"one to read",
					path,
					(char *) g_hash_table_get_keys_as_array(
						seen, NULL)[0],
					uid);
				instance_free(id);
				_sp_dicom_unref(d);
				return NULL;
			}
		} else if (strcmp(series, uid) != 0) {
			instance_free(id);
			continue;
		}
		const char *type = id->image_type;
		int slot = !strcmp(type, "LABEL")    ? 0 :
			!strcmp(type, "OVERVIEW")    ? 1 :
			!strcmp(type, "THUMBNAIL")   ? 2 :
			!strcmp(type, "VOLUME")	     ? -1 :
						       -2;
		instance_free(id);
		if (slot == -2 || (slot >= 0 && d->associated[slot]))
			continue;
		GError *bad = NULL;
		Instance *in = instance_read(f, FALSE, &bad);
		if (!in) {
			/* another file of the series than the one given: say
			 * so, or the error names a file the user never named */
			g_autofree char *real_f = realpath(f, NULL);
			if (!is_dir && real &&
				g_strcmp0(real_f, real) != 0) {
				g_autofree char *shown = sp_printable(path);
				const char *m = bad->message;
				g_set_error(error, bad->domain, bad->code,
					"load: '%s': a file of its series is "
					"damaged: %s",
					shown,
					g_str_has_prefix(m, "load: ") ? m + 6 : m);
				g_error_free(bad);
			} else
				g_propagate_error(error, bad);
			_sp_dicom_unref(d);
			return NULL;
		}
		if (slot >= 0)
			d->associated[slot] = in;
		else
			g_ptr_array_add(d->levels, in);
	}
	if (d->levels->len == 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"load: '%s' has no DICOM whole-slide VOLUME image%s%s%s",
			path, is_dir ? "" : " in its series",
			refused ? "; " : "",
			!refused ? "" :
			g_str_has_prefix(refused->message, "load: ") ?
				refused->message + 6 :
				refused->message);
		_sp_dicom_unref(d);
		return NULL;
	}
	g_ptr_array_sort(d->levels, compare_levels);
	/* the same size twice (another focal plane or optical path): the
	 * first file by name */
	for (guint i = 1; i < d->levels->len;) {
		const Instance *a = d->levels->pdata[i - 1];
		const Instance *b = d->levels->pdata[i];
		if (a->width == b->width && a->height == b->height)
			g_ptr_array_remove_index(d->levels, i);
		else
			i++;
	}
	/* one slide: every level the same samples */
	const Instance *base = d->levels->pdata[0];
	for (guint i = 1; i < d->levels->len; i++) {
		const Instance *in = d->levels->pdata[i];
		if (in->spp != base->spp) {
			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				"load: '%s': level %u has %d samples per pixel, "
				"level 0 %d",
				path, i, in->spp, base->spp);
			_sp_dicom_unref(d);
			return NULL;
		}
	}
	return d;
}

int
_sp_dicom_level_count(SpDicom *d)
{
	return (int) d->levels->len;
}

void
_sp_dicom_level_size(SpDicom *d, int level, gint64 *width, gint64 *height,
	int *tile_w, int *tile_h)
{
	const Instance *in = d->levels->pdata[level];

	*width = in->width;
	*height = in->height;
	*tile_w = in->tile_w;
	*tile_h = in->tile_h;
}

int
_sp_dicom_bands(SpDicom *d)
{
	return ((Instance *) d->levels->pdata[0])->spp;
}

gboolean
_sp_dicom_mpp(SpDicom *d, double *mpp_x, double *mpp_y)
{
	const Instance *in = d->levels->pdata[0];

	if (in->spacing_x <= 0)
		return FALSE;
	*mpp_x = in->spacing_x * 1000;
	*mpp_y = in->spacing_y * 1000;
	return TRUE;
}

char **
_sp_dicom_associated_names(SpDicom *d)
{
	GPtrArray *names = g_ptr_array_new();

	for (int i = 0; i < 3; i++)
		if (d->associated[i])
			g_ptr_array_add(names, g_strdup(associated_names[i]));
	g_ptr_array_add(names, NULL);
	return (char **) g_ptr_array_free(names, FALSE);
}

GBytes *
_sp_dicom_icc(SpDicom *d)
{
	const Instance *in = d->levels->pdata[0];

	return in->icc ? g_bytes_ref(in->icc) : NULL;
}

void
_sp_dicom_foreach_property(SpDicom *d,
	void (*fn)(const char *name, const char *value, void *user_data),
	void *user_data)
{
	const Instance *in = d->levels->pdata[0];
	const struct {
		const char *name;
		const char *value;
	} props[] = {
		{ "dicom.StudyInstanceUID", in->study_uid },
		{ "dicom.SeriesInstanceUID", in->series_uid },
		{ "dicom.PyramidUID", in->pyramid_uid },
		{ "dicom.Manufacturer", in->manufacturer },
		{ "dicom.ManufacturerModelName", in->model },
		{ "dicom.ContainerIdentifier", in->container },
		{ "dicom.TransferSyntaxUID", in->transfer_syntax },
		{ "dicom.DimensionOrganizationType",
			in->sparse ? "TILED_SPARSE" : "TILED_FULL" },
		{ "dicom.PhotometricInterpretation", in->photometric },
	};

	for (guint i = 0; i < G_N_ELEMENTS(props); i++)
		if (props[i].value && *props[i].value)
			fn(props[i].name, props[i].value, user_data);
	for (guint i = 0; i < d->levels->len; i++) {
		const Instance *l = d->levels->pdata[i];
		g_autofree char *key = g_strdup_printf("dicom.level[%u].file", i);
		g_autofree char *base = g_path_get_basename(l->path);
		fn(key, base, user_data);
	}
}

VipsImage *
_sp_dicom_load(SpDicom *d, int level, const char *associated,
	int read_width, GError **error)
{
	Instance *in = NULL;

	if (associated) {
		for (int i = 0; i < 3; i++)
			if (!strcmp(associated, associated_names[i]))
				in = d->associated[i];
		if (!in) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"load: '%s' has no associated image '%s'",
				d->path, associated);
			return NULL;
		}
		read_width = G_MAXINT;
	} else {
		g_return_val_if_fail(level >= 0 && level < (int) d->levels->len,
			NULL);
		in = d->levels->pdata[level];
	}
	return instance_image(d, in, read_width, error);
}

/* --- frames as tiles to copy (save compression=copy) -------------------- */

gboolean
_sp_dicom_jpeg_tiles(SpDicom *d, int level, SpDicomTiles *out, char **why)
{
	const Instance *in;
	int fd;

	g_return_val_if_fail(level >= 0 && level < (int) d->levels->len,
		FALSE);
	in = d->levels->pdata[level];
	memset(out, 0, sizeof(*out));
	out->path = in->path;
	out->width = in->width;
	out->height = in->height;
	out->tile = in->tile_w;
	out->tiles_across = in->tiles_x;
	out->tiles_down = in->tiles_y;
	out->spp = (guint16) in->spp;
	if (in->codec != CODEC_JPEG) {
		*why = g_strdup_printf("its frames are %s, not JPEG baseline",
			in->codec == CODEC_J2K ? "JPEG 2000" : "uncompressed");
		return FALSE;
	}
	if (in->spp != 3) {
		*why = g_strdup("its frames are not 8-bit RGB/YCbCr");
		return FALSE;
	}
	if (in->tile_w != in->tile_h || in->tile_w % 16 != 0) {
		*why = g_strdup_printf("its %d × %d frames are not square "
				       "multiples of 16",
			in->tile_w, in->tile_h);
		return FALSE;
	}
	for (gint64 t = 0; t < (gint64) in->tiles_x * in->tiles_y; t++)
		if (in->tile_frame[t] < 0) {
			*why = g_strdup_printf("it is TILED_SPARSE and tile %d, "
					       "%d has no frame",
				(int) (t % in->tiles_x), (int) (t / in->tiles_x));
			return FALSE;
		}
	/* the photometric interpretation says what the samples are, as the
	 * reader decodes them; a TIFF names the same with its tags */
	out->photometric = !strcmp(in->photometric, "RGB") ? 2 /* RGB */ :
							     6 /* YCbCr */;
	/* the chroma sampling of the first frame, which the others must
	 * share (the copy checks each) */
	out->ss_h = out->ss_v = 1;
	if ((fd = open(in->path, O_RDONLY | O_CLOEXEC)) < 0) {
		*why = g_strdup_printf("cannot read '%s': %s", in->path,
			g_strerror(errno));
		return FALSE;
	}
	guint64 offset, length;
	GError *error = NULL;
	guint8 head[4096];
	gboolean ok = _sp_dicom_tile_range(d, level, fd, 0, 0, &offset,
		&length, &error);
	gsize n = ok ? (gsize) MIN(length, sizeof(head)) : 0;
	if (ok && !read_at(fd, offset, head, n))
		ok = FALSE;
	close(fd);
	if (!ok) {
		*why = g_strdup(error ? error->message : "cannot read a frame");
		g_clear_error(&error);
		return FALSE;
	}
	/* the SOF0 marker's first component: its sampling factors */
	for (gsize i = 2; i + 4 <= n;) {
		if (head[i] != 0xFF) {
			i++;
			continue;
		}
		guint8 m = head[i + 1];
		gsize len = (gsize) head[i + 2] << 8 | head[i + 3];
		if (m == 0xC0 && i + 2 + 9 < n && head[i + 9] == 3) {
			out->ss_h = head[i + 11] >> 4;
			out->ss_v = head[i + 11] & 15;
			break;
		}
		if (m == 0xDA || m == 0xD9 || m == 0xFF || len < 2)
			break;
		i += 2 + len;
	}
	return TRUE;
}

gboolean
_sp_dicom_tile_range(SpDicom *d, int level, int fd, int tx, int ty,
	guint64 *offset, guint64 *length, GError **error)
{
	const Instance *in = d->levels->pdata[level];
	guint8 h[8];

	if (tx < 0 || ty < 0 || tx >= in->tiles_x || ty >= in->tiles_y ||
		in->tile_frame[(gint64) ty * in->tiles_x + tx] < 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"tile %d, %d of '%s' has no frame", tx, ty, in->path);
		return FALSE;
	}
	gint64 f = in->tile_frame[(gint64) ty * in->tiles_x + tx];
	guint64 start = in->frame_start[f], end = in->frame_end[f];

	if (!read_at(fd, start, h, 8))
		return instance_fail(in, error,
			"cannot read frame %" G_GINT64_FORMAT, f);
	guint32 len = le32(h + 4);
	if (TAG(le16(h), le16(h + 2)) != TAG_ITEM || len == UNDEFINED ||
		start + 8 + len > end)
		return instance_fail(in, error,
			"frame %" G_GINT64_FORMAT " at byte %" G_GUINT64_FORMAT
			" is not a fragment (a damaged offset table?)",
			f, start);
	/* one fragment: what follows is the next frame or the delimiter */
	if (start + 8 + len + 8 <= end) {
		guint8 next[8];
		if (!read_at(fd, start + 8 + len, next, 8))
			return instance_fail(in, error,
				"cannot read frame %" G_GINT64_FORMAT, f);
		if (TAG(le16(next), le16(next + 2)) != TAG_SEQ_END) {
			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				"'%s': frame %" G_GINT64_FORMAT " is in more "
				"than one fragment",
				in->path, f);
			return FALSE;
		}
	}
	*offset = start + 8;
	*length = len;
	return TRUE;
}

gint64
_sp_dicom_read_tile(SpDicom *d, int level, int fd, int tx, int ty,
	unsigned char **buf, gint64 *cap, GError **error)
{
	const Instance *in = d->levels->pdata[level];
	guint64 offset, length;

	if (!_sp_dicom_tile_range(d, level, fd, tx, ty, &offset, &length,
		    error))
		return -1;
	if (length == 0 || length > (64u << 20)) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"tile %d, %d of '%s' is empty or has an absurd size",
			tx, ty, in->path);
		return -1;
	}
	if ((gint64) length > *cap) {
		g_free(*buf);
		*buf = g_malloc(length);
		*cap = (gint64) length;
	}
	if (!read_at(fd, offset, *buf, length)) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"cannot read tile %d, %d of '%s'", tx, ty, in->path);
		return -1;
	}
	return (gint64) length;
}
