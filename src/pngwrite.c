/* PNG encoding of an image held in memory, with libdeflate.
 *
 * libpng compresses through zlib, whose level 6 runs at ~10 MB/s per core
 * on slide texture here; libdeflate's whole-buffer compressor is 5–20×
 * faster at the same or a smaller size (bench/RESULTS.md). libdeflate has
 * no streaming API, so this serves images that fit in memory: patches and
 * small crops. The container is the PNG specification's (ISO/IEC
 * 15948:2004, sections 5 and 11): signature, IHDR, optional pHYs, one
 * IDAT holding the zlib stream of filter-type-0 rows, IEND.
 */
#include "config.h"

#include <string.h>

#include <libdeflate.h>

#include "sp-private.h"

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
put_chunk(GByteArray *out, const char *type, const guint8 *data,
	guint32 length)
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
	guint8 *rows;     /* filter byte + row, per row */
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

gboolean
_sp_png_encode(SpPngEncoder *encoder, const guint8 *pixels, int width,
	int height, int bands, size_t stride, double mpp_x, double mpp_y,
	GByteArray *out)
{
	static const guint8 signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n',
		0x1a, '\n' };
	size_t row_bytes = (size_t) width * bands;
	size_t rows_size = (row_bytes + 1) * height;
	guint8 ihdr[13], phys[9];

	if (width < 1 || height < 1 || (bands != 1 && bands != 3) ||
		rows_size > G_MAXUINT32 / 2)
		return FALSE;
	if (encoder->rows_size < rows_size) {
		g_free(encoder->rows);
		encoder->rows = g_malloc(rows_size);
		encoder->rows_size = rows_size;
	}
	/* filter type 0 (none): on slide texture the adaptive filters cost
	 * more time than they save bytes, as libvips' default also assumes */
	for (int y = 0; y < height; y++) {
		guint8 *row = encoder->rows + y * (row_bytes + 1);

		row[0] = 0;
		memcpy(row + 1, pixels + y * stride, row_bytes);
	}
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
	ihdr[8] = 8;                  /* bits per sample */
	ihdr[9] = bands == 3 ? 2 : 0; /* truecolour or greyscale */
	ihdr[10] = 0;                 /* deflate */
	ihdr[11] = 0;                 /* adaptive filtering */
	ihdr[12] = 0;                 /* no interlace */
	put_chunk(out, "IHDR", ihdr, 13);
	if (mpp_x > 0 && mpp_y > 0) {
		/* pixels per metre */
		put_be32(phys, (guint32) (1e6 / mpp_x + 0.5));
		put_be32(phys + 4, (guint32) (1e6 / mpp_y + 0.5));
		phys[8] = 1;
		put_chunk(out, "pHYs", phys, 9);
	}
	put_chunk(out, "IDAT", encoder->deflated, (guint32) n);
	put_chunk(out, "IEND", NULL, 0);
	return TRUE;
}
