/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Uncompressed striped TIFF directories, read row by row where they lie.
 *
 * A microscope's stack is often hundreds of uncompressed pages, each one
 * strip of a whole plane (tifffile and ImageJ write them so). libvips'
 * tiffload reads a strip whole into a buffer it keeps while the image
 * lives: 8 MB a 2048 × 2048 16-bit page, for each page of a stack a
 * pipeline holds open. Uncompressed samples need no decoding, so here the
 * rows a region needs are read from the file (pread, one per strip they
 * lie in) into a buffer of the thread reading them, with about a
 * megabyte of rows below them (libvips' shrinkv asks for one row at a
 * time), which the regions that follow in those rows reuse; an image
 * holds nothing but its strip
 * table and a file descriptor, and a thread only the rows it last read.
 * Byte order is swapped for files of the other endianness, as libtiff
 * does.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <tiffio.h>

#include "sp-private.h"

typedef struct {
	char *path;
	int fd;
	int width, height, bands;
	int sample_bytes;
	gboolean swap;
	guint32 rows_per_strip;
	guint32 n_strips;
	guint64 *offsets;
	gint64 row_bytes;
	VipsBandFormat format;
	gint ref_count; /* the images reading it */
} StripRead;

/* What one image reads: the directory, box-reduced by kx × ky (1 × 1:
 * as it is). */
typedef struct {
	StripRead *s;
	int kx, ky;
} View;

/* The libvips sample format of a TIFF's BitsPerSample and SampleFormat
 * (1-bit and palette images come out as uchar from libvips). */
VipsBandFormat
_sp_tiff_band_format(guint16 bps, guint16 sampleformat)
{
	gboolean sign = sampleformat == SAMPLEFORMAT_INT;

	if (sampleformat == SAMPLEFORMAT_IEEEFP)
		return bps == 64 ? VIPS_FORMAT_DOUBLE : VIPS_FORMAT_FLOAT;
	switch (bps) {
	case 16:
		return sign ? VIPS_FORMAT_SHORT : VIPS_FORMAT_USHORT;
	case 32:
		return sign ? VIPS_FORMAT_INT : VIPS_FORMAT_UINT;
	case 8:
		return sign ? VIPS_FORMAT_CHAR : VIPS_FORMAT_UCHAR;
	default:
		return VIPS_FORMAT_UCHAR;
	}
}

static void
stripread_free(StripRead *s)
{
	if (!g_atomic_int_dec_and_test(&s->ref_count))
		return;
	if (s->fd >= 0)
		close(s->fd);
	g_free(s->offsets);
	g_free(s->path);
	g_free(s);
}

static void
close_cb(VipsImage *image, View *v)
{
	stripread_free(v->s);
	g_free(v);
}

/* The strip layout of directory @page, or NULL when it is not one this
 * reader takes: uncompressed, striped, contiguous samples of 8, 16 or 32
 * bits (unsigned, signed or float), grey or RGB with or without extra
 * samples, every strip complete. */
static StripRead *
layout(const char *path, guint64 offset)
{
	/* c: no strip chopping, or libtiff shows one 8 MB strip as a
	 * thousand of 8 KB, and every read stops at each */
	TIFF *tiff = _sp_tiff_open(path, "rmc");
	StripRead *s;
	guint32 w = 0, h = 0, rps = 0;
	guint16 spp = 1, bps = 1, compression = 0, planar = 1, photometric = 0;
	guint16 sampleformat = SAMPLEFORMAT_UINT;

	if (!tiff)
		return NULL;
	if (!TIFFSetSubDirectory(tiff, offset) || TIFFIsTiled(tiff)) {
		TIFFClose(tiff);
		return NULL;
	}
	TIFFGetField(tiff, TIFFTAG_IMAGEWIDTH, &w);
	TIFFGetField(tiff, TIFFTAG_IMAGELENGTH, &h);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_SAMPLESPERPIXEL, &spp);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_BITSPERSAMPLE, &bps);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_COMPRESSION, &compression);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_PLANARCONFIG, &planar);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_SAMPLEFORMAT, &sampleformat);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_ROWSPERSTRIP, &rps);
	if (!TIFFGetField(tiff, TIFFTAG_PHOTOMETRIC, &photometric) ||
		compression != COMPRESSION_NONE ||
		planar != PLANARCONFIG_CONTIG ||
		(photometric != PHOTOMETRIC_MINISBLACK &&
			photometric != PHOTOMETRIC_RGB) ||
		(bps != 8 && bps != 16 && bps != 32) ||
		(bps != 32 && sampleformat == SAMPLEFORMAT_IEEEFP) ||
		(sampleformat != SAMPLEFORMAT_UINT &&
			sampleformat != SAMPLEFORMAT_INT &&
			sampleformat != SAMPLEFORMAT_IEEEFP) ||
		spp < 1 || spp > 4 || w == 0 || h == 0 || w > G_MAXINT / 2 ||
		h > G_MAXINT / 2 || rps == 0) {
		TIFFClose(tiff);
		return NULL;
	}
	rps = MIN(rps, h);

	s = g_new0(StripRead, 1);
	s->ref_count = 1;
	s->fd = -1;
	s->width = w;
	s->height = h;
	s->bands = spp;
	s->sample_bytes = bps / 8;
	s->swap = TIFFIsByteSwapped(tiff) && bps > 8;
	s->rows_per_strip = rps;
	s->format = _sp_tiff_band_format(bps, sampleformat);
	s->row_bytes = (gint64) w * spp * s->sample_bytes;
	s->n_strips = TIFFNumberOfStrips(tiff);
	if (s->n_strips != (h + rps - 1) / rps) {
		TIFFClose(tiff);
		stripread_free(s);
		return NULL;
	}
	s->offsets = g_new(guint64, s->n_strips);
	for (guint32 i = 0; i < s->n_strips; i++) {
		int err = 0;
		guint64 bytes = TIFFGetStrileByteCountWithErr(tiff, i, &err);
		guint32 rows = MIN(rps, h - i * rps);

		s->offsets[i] = TIFFGetStrileOffsetWithErr(tiff, i, &err);
		/* a strip cut short: libvips' reader says what is wrong */
		if (err || s->offsets[i] == 0 ||
			bytes < (guint64) rows * s->row_bytes) {
			TIFFClose(tiff);
			stripread_free(s);
			return NULL;
		}
	}
	TIFFClose(tiff);
	s->path = g_strdup(path);
	return s;
}

static void
swap_samples(void *p, gint64 n, int bytes)
{
	if (bytes == 2) {
		guint16 *v = p;
		for (gint64 i = 0; i < n; i++)
			v[i] = GUINT16_SWAP_LE_BE(v[i]);
	} else if (bytes == 4) {
		guint32 *v = p;
		for (gint64 i = 0; i < n; i++)
			v[i] = GUINT32_SWAP_LE_BE(v[i]);
	}
}

/* Per thread: the last rows read, whole: regions side by side in one
 * band of rows (tiles) take their columns from it, and rows are read by
 * the strip, one pread each, not one per row and region. */
/* Bytes of rows read at once beyond a region asking for fewer. */
#define READ_AHEAD (1 << 20)

typedef struct {
	char *buf;
	gint64 cap;
	int y0, y1; /* rows in @buf; y1 = y0 when none */
	double *acc; /* a reduced row's sums */
	gint64 acc_cap;
} Seq;

static void *
seq_start(VipsImage *out, void *a, void *b)
{
	return g_new0(Seq, 1);
}

static int
seq_stop(void *seq, void *a, void *b)
{
	Seq *q = seq;

	g_free(q->buf);
	g_free(q->acc);
	g_free(q);
	return 0;
}

/* Rows [y0, y1) whole into q->buf. */
static int
read_rows(StripRead *s, Seq *q, int y0, int y1)
{
	gint64 bytes = (gint64) (y1 - y0) * s->row_bytes;

	if (bytes > q->cap) {
		g_free(q->buf);
		q->buf = g_malloc(bytes);
		q->cap = bytes;
	}
	q->y0 = q->y1 = y0;
	for (int y = y0; y < y1;) {
		guint32 strip = y / s->rows_per_strip;
		int end = MIN(y1, (int) ((strip + 1) * s->rows_per_strip));
		gint64 span = (gint64) (end - y) * s->row_bytes;
		off_t at = s->offsets[strip] +
			(gint64) (y - strip * s->rows_per_strip) * s->row_bytes;
		char *to = q->buf + (gint64) (y - y0) * s->row_bytes;
		gint64 done = 0;

		while (done < span) {
			ssize_t n = pread(s->fd, to + done, span - done,
				at + done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				vips_error("slidepipe",
					"'%s': cannot read row %d: %s", s->path,
					y,
					n < 0 ? g_strerror(errno) :
						"the file ends early");
				return -1;
			}
			done += n;
		}
		if (s->swap)
			swap_samples(to, span / s->sample_bytes,
				s->sample_bytes);
		y = end;
	}
	q->y1 = y1;
	return 0;
}

/* Input rows [y0, y1) are in q->buf, reading ahead about a megabyte
 * when fewer are asked for (libvips' shrinkv asks for a few at a time). */
static int
have_rows(StripRead *s, Seq *q, int y0, int y1)
{
	if (y0 >= q->y0 && y1 <= q->y1)
		return 0;
	int ahead = MAX(1, (int) (READ_AHEAD / s->row_bytes));
	return read_rows(s, q, y0, MIN(s->height, MAX(y1, y0 + ahead)));
}

/* Box means of kx × ky blocks, one output row: @acc sums the block's
 * samples in double (exact: at most 64 × 64 32-bit values), and the mean
 * is rounded to nearest, ties to even, as numpy's rint. */
#define REDUCE_ROW(T, ROUND) \
	do { \
		T *to = (T *) VIPS_REGION_ADDR(out, r->left, oy); \
		memset(q->acc, 0, n * sizeof(double)); \
		for (int j = 0; j < v->ky; j++) { \
			const T *from = (const T *) (q->buf + \
						(gint64) (oy * v->ky + j - \
							q->y0) * \
							s->row_bytes) + \
				(gint64) r->left * v->kx * bands; \
			if (bands == 1) \
				for (int x = 0; x < r->width; x++) { \
					double sum = 0; \
					for (int i = 0; i < v->kx; i++) \
						sum += from[x * v->kx + i]; \
					q->acc[x] += sum; \
				} \
			else \
				for (int x = 0; x < r->width; x++) \
					for (int i = 0; i < v->kx; i++) \
						for (int b = 0; b < bands; \
							b++) \
							q->acc[x * bands + \
								b] += from \
								[(x * v->kx + \
									 i) * bands + \
									b]; \
		} \
		for (gint64 k = 0; k < n; k++) \
			to[k] = (T) ROUND(q->acc[k] * scale); \
	} while (0)

#define NO_ROUND(x) (x)

static int
stripread_generate(VipsRegion *out, void *seq, void *a, void *b, gboolean *stop)
{
	View *v = a;
	StripRead *s = v->s;
	Seq *q = seq;
	const VipsRect *r = &out->valid;
	int bands = s->bands;
	gint64 pixel_bytes = (gint64) bands * s->sample_bytes;

	if (have_rows(s, q, r->top * v->ky, VIPS_RECT_BOTTOM(r) * v->ky))
		return -1;
	if (v->kx == 1 && v->ky == 1) {
		for (int y = r->top; y < VIPS_RECT_BOTTOM(r); y++)
			memcpy(VIPS_REGION_ADDR(out, r->left, y),
				q->buf + (gint64) (y - q->y0) * s->row_bytes +
					r->left * pixel_bytes,
				r->width * pixel_bytes);
		return 0;
	}

	gint64 n = (gint64) r->width * bands;
	double scale = 1.0 / (v->kx * v->ky);

	if (n > q->acc_cap) {
		g_free(q->acc);
		q->acc = g_new(double, n);
		q->acc_cap = n;
	}
	for (int oy = r->top; oy < VIPS_RECT_BOTTOM(r); oy++)
		switch (s->format) {
		case VIPS_FORMAT_UCHAR:
			REDUCE_ROW(guint8, rint);
			break;
		case VIPS_FORMAT_CHAR:
			REDUCE_ROW(gint8, rint);
			break;
		case VIPS_FORMAT_USHORT:
			REDUCE_ROW(guint16, rint);
			break;
		case VIPS_FORMAT_SHORT:
			REDUCE_ROW(gint16, rint);
			break;
		case VIPS_FORMAT_UINT:
			REDUCE_ROW(guint32, rint);
			break;
		case VIPS_FORMAT_INT:
			REDUCE_ROW(gint32, rint);
			break;
		default:
			REDUCE_ROW(float, NO_ROUND);
			break;
		}
	return 0;
}

/* A new image of @s box-reduced by @kx × @ky (1 × 1: as it is), holding
 * a reference to @s. */
static VipsImage *
view_image(StripRead *s, int kx, int ky, const char *path, GError **error)
{
	VipsImage *image = vips_image_new();
	View *v = g_new0(View, 1);
	VipsBandFormat format = s->format;

	g_atomic_int_inc(&s->ref_count);
	v->s = s;
	v->kx = kx;
	v->ky = ky;
	vips_image_init_fields(image, s->width / kx, s->height / ky, s->bands,
		format, VIPS_CODING_NONE, _sp_interpretation(s->bands, format),
		1.0, 1.0);
	g_signal_connect(image, "close", G_CALLBACK(close_cb), v);
	/* how _sp_stripread_shrink() knows its own images */
	g_object_set_data(G_OBJECT(image), "slidepipe-stripread", v);
	if (vips_image_pipelinev(image, VIPS_DEMAND_STYLE_THINSTRIP, NULL) ||
		vips_image_generate(image, seq_start, stripread_generate,
			seq_stop, v, NULL)) {
		g_object_unref(image);
		_sp_set_vips_error(error, "load", path);
		return NULL;
	}
	return image;
}

VipsImage *
_sp_stripread_shrink(VipsImage *in, int kx, int ky)
{
	View *v = g_object_get_data(G_OBJECT(in), "slidepipe-stripread");
	GError *error = NULL;
	VipsImage *out;

	if (!v || v->kx != 1 || v->ky != 1 || kx < 1 || ky < 1 || kx > 64 ||
		ky > 64 || in->Xsize % kx != 0 || in->Ysize % ky != 0)
		return NULL;
	if (!(out = view_image(v->s, kx, ky, v->s->path, &error)))
		/* libvips' shrink then */
		g_error_free(error);
	return out;
}

VipsImage *
_sp_stripread_new(const char *path, guint64 offset, GError **error)
{
	StripRead *s = layout(path, offset);
	VipsImage *image;

	if (!s)
		return NULL;
	if ((s->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		int err = errno;
		stripread_free(s);
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"load: cannot open '%s': %s", path, g_strerror(err));
		return NULL;
	}
	image = view_image(s, 1, 1, path, error);
	/* the image holds it now */
	stripread_free(s);
	return image;
}
