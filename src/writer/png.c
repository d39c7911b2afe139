/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PNG output, deflated with libdeflate: the one PNG encoder of slidepipe,
 * for save's .png files and tiles' patches.
 *
 * libpng compresses through zlib, whose level 6 runs at ~10 MB/s per core
 * on slide texture here; libdeflate's whole-buffer compressor is 3–20×
 * faster at the same or a smaller size (bench/RESULTS.md). libdeflate has
 * no streaming API, so the whole image is held in memory, filtered rows
 * and deflated stream: up to SP_PNG_MAX_PIXELS pixels; larger images go to
 * vips_pngsave() (see _sp_png_writable()).
 *
 * The container is the PNG specification's (ISO/IEC 15948:2004, sections
 * 5 and 11): signature, IHDR, optional pHYs, one IDAT holding the zlib
 * stream of filter-type-0 rows, IEND. Filter type 0 (none) everywhere: on
 * slide texture the adaptive filters cost more time than they save bytes,
 * as libvips' pngsave default also assumes.
 *
 * Images are encoded on the calling thread, not through vips_sink_disc():
 * for the small images a batch writes, a sink's dozens of thread
 * hand-offs per image cost more than they overlap, and on a small machine
 * the woken threads stack on one core; a batch row is then one thread
 * from start to end and rows fill the cores.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <libdeflate.h>

#include "writer/writer.h"

/* Rows are pulled from libvips in strips of about this many bytes. */
#define STRIP_BYTES (1 << 20)

static void
put_be32(guint8 *p, guint32 v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* Appends a chunk: length, type, data, CRC-32 of type and data. */
static void
put_chunk(GByteArray *out, const char *type, const guint8 *data, guint32 length)
{
	guint8 head[8], crc_bytes[4];
	guint32 crc;

	put_be32(head, length);
	memcpy(head + 4, type, 4);
	g_byte_array_append(out, head, 8);
	if (length)
		g_byte_array_append(out, data, length);
	crc = libdeflate_crc32(0, head + 4, 4);
	if (length)
		crc = libdeflate_crc32(crc, data, length);
	put_be32(crc_bytes, crc);
	g_byte_array_append(out, crc_bytes, 4);
}

struct _SpPngEncoder {
	struct libdeflate_compressor *compressor;
	guint8 *rows; /* filter byte + row, per row */
	size_t rows_size;
	guint8 *deflated;
	size_t deflated_size;
};

SpPngEncoder *
_sp_png_encoder_new(int level)
{
	SpPngEncoder *encoder = g_new0(SpPngEncoder, 1);

	encoder->compressor = libdeflate_alloc_compressor(CLAMP(level, 0, 12));
	if (!encoder->compressor) {
		g_free(encoder);
		return NULL;
	}
	return encoder;
}

void
_sp_png_encoder_free(SpPngEncoder *encoder)
{
	if (!encoder)
		return;
	libdeflate_free_compressor(encoder->compressor);
	g_free(encoder->rows);
	g_free(encoder->deflated);
	g_free(encoder);
}

/* The filtered-rows buffer for a @width × @height × @bands image, grown as
 * needed; NULL when the image is empty, has other bands or is too large
 * for one IDAT chunk. */
static guint8 *
rows_for(SpPngEncoder *encoder, int width, int height, int bands)
{
	size_t rows_size = ((size_t) width * bands + 1) * height;

	if (width < 1 || height < 1 || (bands != 1 && bands != 3) ||
		rows_size > G_MAXUINT32 / 2)
		return NULL;
	if (encoder->rows_size < rows_size) {
		g_free(encoder->rows);
		encoder->rows = g_malloc(rows_size);
		encoder->rows_size = rows_size;
	}
	return encoder->rows;
}

/* Deflates the rows rows_for() gave and assembles the file into @out.
 * @ppm_x, @ppm_y: pixels per metre for pHYs, 0: no pHYs chunk. */
static gboolean
assemble(SpPngEncoder *encoder, int width, int height, int bands, guint32 ppm_x,
	guint32 ppm_y, GByteArray *out)
{
	static const guint8 signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n',
		0x1a, '\n' };
	size_t rows_size = ((size_t) width * bands + 1) * height;
	guint8 ihdr[13], phys[9];

	size_t bound = libdeflate_zlib_compress_bound(encoder->compressor,
		rows_size);
	if (encoder->deflated_size < bound) {
		g_free(encoder->deflated);
		encoder->deflated = g_malloc(bound);
		encoder->deflated_size = bound;
	}
	size_t n = libdeflate_zlib_compress(encoder->compressor, encoder->rows,
		rows_size, encoder->deflated, encoder->deflated_size);
	if (n == 0)
		return FALSE;

	g_byte_array_set_size(out, 0);
	g_byte_array_append(out, signature, 8);
	put_be32(ihdr, width);
	put_be32(ihdr + 4, height);
	ihdr[8] = 8; /* bits per sample */
	ihdr[9] = bands == 3 ? 2 : 0; /* truecolour or greyscale */
	ihdr[10] = 0; /* deflate */
	ihdr[11] = 0; /* adaptive filtering */
	ihdr[12] = 0; /* no interlace */
	put_chunk(out, "IHDR", ihdr, 13);
	if (ppm_x > 0 && ppm_y > 0) {
		put_be32(phys, ppm_x);
		put_be32(phys + 4, ppm_y);
		phys[8] = 1; /* unit: the metre */
		put_chunk(out, "pHYs", phys, 9);
	}
	put_chunk(out, "IDAT", encoder->deflated, (guint32) n);
	put_chunk(out, "IEND", NULL, 0);
	return TRUE;
}

/* Pixels per metre of a pixel @mpp µm wide, 0 when unknown or out of
 * pHYs's range. */
static guint32
ppm_from_mpp(double mpp)
{
	double ppm = mpp > 0 ? 1e6 / mpp + 0.5 : 0;

	return ppm >= 1 && ppm < G_MAXUINT32 ? (guint32) ppm : 0;
}

gboolean
_sp_png_encode(SpPngEncoder *encoder, const guint8 *pixels, int width,
	int height, int bands, size_t stride, double mpp_x, double mpp_y,
	GByteArray *out)
{
	guint8 *rows = rows_for(encoder, width, height, bands);
	size_t row_bytes = (size_t) width * bands;

	if (!rows)
		return FALSE;
	for (int y = 0; y < height; y++) {
		guint8 *row = rows + y * (row_bytes + 1);

		row[0] = 0;
		memcpy(row + 1, pixels + y * stride, row_bytes);
	}
	guint32 ppm_x = ppm_from_mpp(mpp_x), ppm_y = ppm_from_mpp(mpp_y);
	return assemble(encoder, width, height, bands,
		ppm_x && ppm_y ? ppm_x : 0, ppm_x && ppm_y ? ppm_y : 0, out);
}

gboolean
_sp_png_writable(VipsImage *image)
{
	static const char *const embedded[] = { VIPS_META_ICC_NAME,
		VIPS_META_EXIF_NAME, VIPS_META_XMP_NAME };
	char **fields;
	gboolean comment = FALSE;

	if (image->BandFmt != VIPS_FORMAT_UCHAR ||
		image->Coding != VIPS_CODING_NONE ||
		!((image->Bands == 3 &&
			  image->Type == VIPS_INTERPRETATION_sRGB) ||
			(image->Bands == 1 &&
				image->Type == VIPS_INTERPRETATION_B_W)) ||
		(gint64) image->Xsize * image->Ysize > SP_PNG_MAX_PIXELS)
		return FALSE;
	for (guint i = 0; i < G_N_ELEMENTS(embedded); i++)
		if (vips_image_get_typeof(image, embedded[i]))
			return FALSE;
	fields = vips_image_get_fields(image);
	for (int i = 0; fields[i] && !comment; i++)
		comment = g_str_has_prefix(fields[i], "png-comment-");
	g_strfreev(fields);
	return !comment;
}

/* Writes all of @data to @fd. */
static gboolean
write_all(int fd, const guint8 *data, gsize length, int *err)
{
	while (length > 0) {
		ssize_t n = write(fd, data, length);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*err = n < 0 ? errno : ENOSPC;
			return FALSE;
		}
		data += n;
		length -= n;
	}
	return TRUE;
}

/* Pulls @in's pixels into @encoder's rows, strip by strip, on this
 * thread. */
static gboolean
read_rows(SpPngEncoder *encoder, VipsImage *in, guint8 *rows,
	const SpWriteOptions *o, GError **error)
{
	size_t row_bytes = VIPS_IMAGE_SIZEOF_LINE(in);
	int strip = MAX(1, (int) (STRIP_BYTES / row_bytes));
	VipsRegion *region = vips_region_new(in);

	for (int top = 0; top < in->Ysize; top += strip) {
		VipsRect r = { 0, top, in->Xsize, MIN(strip, in->Ysize - top) };

		if (vips_region_prepare(region, &r)) {
			/* one line, as _sp_set_vips_error() gives */
			char *message = _sp_vips_error_take(NULL);

			g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
				"%s: '%s': %s", o->op, o->name,
				*message ? message : "libvips failed");
			g_free(message);
			g_object_unref(region);
			return FALSE;
		}
		for (int y = 0; y < r.height; y++) {
			guint8 *row = rows +
				(size_t) (top + y) * (row_bytes + 1);

			row[0] = 0;
			memcpy(row + 1, VIPS_REGION_ADDR(region, 0, top + y),
				row_bytes);
		}
		if (o->progress)
			o->progress(100 * (top + r.height) / in->Ysize,
				o->progress_data);
	}
	g_object_unref(region);
	return TRUE;
}

gboolean
_sp_png_write(VipsImage *in, const SpWriteOptions *o, GError **error)
{
	SpPngEncoder *encoder = _sp_png_encoder_new(o->png_level);
	GByteArray *out = g_byte_array_new();
	guint8 *rows;
	gboolean ok = FALSE;
	int fd, err = 0;

	if (!encoder ||
		!(rows = rows_for(encoder, in->Xsize, in->Ysize, in->Bands))) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"%s: '%s': cannot encode a %d × %d × %d image as PNG",
			o->op, o->name, in->Xsize, in->Ysize, in->Bands);
		goto out;
	}
	if (!read_rows(encoder, in, rows, o, error))
		goto out;
	/* pHYs from the image's resolution (libvips: pixels per mm), as
	 * vips_pngsave() writes it */
	if (!assemble(encoder, in->Xsize, in->Ysize, in->Bands,
		    VIPS_RINT(in->Xres * 1000), VIPS_RINT(in->Yres * 1000),
		    out)) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"%s: '%s': PNG compression failed", o->op, o->name);
		goto out;
	}
	if ((fd = g_open(o->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		     0666)) < 0)
		err = errno;
	else {
		gboolean written = write_all(fd, out->data, out->len, &err);

		if (close(fd) != 0 && written) {
			err = errno;
			written = FALSE;
		}
		ok = written;
	}
	if (!ok)
		g_set_error(error, SP_ERROR, SP_ERROR_IO, "%s: '%s': %s", o->op,
			o->name, g_strerror(err));
out:
	g_byte_array_unref(out);
	_sp_png_encoder_free(encoder);
	return ok;
}
