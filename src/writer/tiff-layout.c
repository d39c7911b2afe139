/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TIFF layouts: every directory field slidepipe's TIFF writers set, for
 * the generic tiled pyramid, Aperio SVS and OME-TIFF, in one place.
 *
 * Generic (format=generic): tiled JPEG levels in the main IFD chain, those
 * after the first marked NewSubfileType = reduced-resolution image, as
 * OpenSlide's generic-tiff reader wants; the pixel size as
 * XResolution/YResolution in pixels per centimetre at each level's pixel
 * size (ResolutionUnit none when unknown); level 0's ImageDescription
 * holds the source's metadata (built by the sink). JPEG tiles are
 * complete JPEG streams (tables in every tile, no JPEGTables tag), which
 * libtiff, libvips and OpenSlide all decode; tiles copied from a source
 * keep its JPEGTables.
 *
 * SVS (format=svs), as OpenSlide's aperio reader walks it (3.4.1 and 4.x,
 * read in openslide-vendor-aperio.c): directory 0 is tiled and its
 * ImageDescription begins with "Aperio"; the '|'-separated "key = value"
 * pairs after the first '|' become aperio.* properties, MPP giving
 * openslide.mpp-x/y and AppMag openslide.objective-power (3.4.1: only when
 * it is an integer). Every tiled directory is a level, whatever its
 * NewSubfileType (Aperio writes 0, so do we). A stripped directory 1 is
 * the thumbnail; other stripped directories are associated images named
 * by the first word of their description's second line (3.4.1) or by
 * NewSubfileType 1 = label, 9 = macro (4.x): we write both. The layout:
 *
 *   level 0 (tiled JPEG), thumbnail (stripped JPEG), levels 1 … n
 *   (tiled JPEG), label (stripped LZW), macro (stripped LZW)
 *
 * OME (format=ome) and the compressions other than JPEG are written by
 * libvips' tiffsave (vips-tiff.c): the layout's description (OME-XML) and
 * ICC profile go on the image as metadata, and a pixel size libvips
 * cannot say it does not know is patched afterwards (below).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <tiffio.h>

#include "writer/writer.h"

#define SVS_HEADER "Aperio Image Library slidepipe " PACKAGE_VERSION

void
_sp_tiff_meta_free(SpTiffMeta *meta)
{
	if (!meta)
		return;
	if (meta->icc)
		g_bytes_unref(meta->icc);
	g_free(meta->description);
	g_free(meta->thumb_description);
	g_free(meta->thumbnail.pixels);
	g_free(meta->label.pixels);
	g_free(meta->macro.pixels);
	g_free(meta);
}

/* @meta's fields of level @k: level 0's description and ICC profile;
 * SVS's own NewSubfileType and lower levels' descriptions. */
static void
set_meta_fields(TIFF *t, const SpTiffMeta *meta, int k, int width, int height,
	int tile)
{
	if (!meta)
		return;
	if (k == 0) {
		if (meta->description)
			TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION,
				meta->description);
		if (meta->icc) {
			gsize n;
			const void *data = g_bytes_get_data(meta->icc, &n);
			TIFFSetField(t, TIFFTAG_ICCPROFILE, (guint32) n, data);
		}
	}
	if (meta->flavour != SP_TIFF_SVS)
		return;
	/* Aperio marks no directory as reduced-resolution */
	TIFFSetField(t, TIFFTAG_SUBFILETYPE, 0);
	if (k > 0) {
		g_autofree char *d = g_strdup_printf(SVS_HEADER
			"\r\n%dx%d (%dx%d) "
			"-> %dx%d JPEG/RGB",
			meta->src_width, meta->src_height, tile, tile, width,
			height);
		TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, d);
	}
}

void
_sp_tiff_layout_set_level(TIFF *t, const SpTiffMeta *meta, int k, int width,
	int height, int width0, int height0, int bands, int subsampling,
	int tile, double mpp_x, double mpp_y)
{
	if (k > 0)
		TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_REDUCEDIMAGE);
	TIFFSetField(t, TIFFTAG_IMAGEWIDTH, width);
	TIFFSetField(t, TIFFTAG_IMAGELENGTH, height);
	TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
	TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, bands);
	TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
	TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_JPEG);
	/* no JPEGTables: every tile carries its own tables */
	TIFFSetField(t, TIFFTAG_JPEGTABLESMODE, 0);
	if (bands == 3) {
		TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
		TIFFSetField(t, TIFFTAG_YCBCRSUBSAMPLING, subsampling,
			subsampling);
	} else
		TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
	TIFFSetField(t, TIFFTAG_TILEWIDTH, tile);
	TIFFSetField(t, TIFFTAG_TILELENGTH, tile);
	TIFFSetField(t, TIFFTAG_SOFTWARE, "slidepipe " PACKAGE_VERSION);
	if (mpp_x > 0 && mpp_y > 0) {
		/* pixels per cm, at this level's pixel size */
		double scale_x = (double) width0 / width;
		double scale_y = (double) height0 / height;
		TIFFSetField(t, TIFFTAG_XRESOLUTION,
			10000.0 / (mpp_x * scale_x));
		TIFFSetField(t, TIFFTAG_YRESOLUTION,
			10000.0 / (mpp_y * scale_y));
		TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_CENTIMETER);
	} else
		TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_NONE);
	set_meta_fields(t, meta, k, width, height, tile);
}

void
_sp_tiff_layout_set_source_level(TIFF *t, TIFF *src, const SpTiffMeta *meta,
	int k, int width, int height, int width0, int height0, int bands,
	int subsampling, int tile, double mpp_x, double mpp_y)
{
	guint16 photometric = 0, ss_h = 2, ss_v = 2;
	guint32 n_tables = 0;
	void *tables = NULL;
	float *refbw = NULL;

	TIFFGetField(src, TIFFTAG_PHOTOMETRIC, &photometric);
	_sp_tiff_layout_set_level(t, meta, k, width, height, width0, height0,
		bands, subsampling, tile, mpp_x, mpp_y);
	TIFFSetField(t, TIFFTAG_PHOTOMETRIC, photometric);
	if (photometric == PHOTOMETRIC_YCBCR) {
		TIFFGetFieldDefaulted(src, TIFFTAG_YCBCRSUBSAMPLING, &ss_h,
			&ss_v);
		TIFFSetField(t, TIFFTAG_YCBCRSUBSAMPLING, ss_h, ss_v);
		if (TIFFGetField(src, TIFFTAG_REFERENCEBLACKWHITE, &refbw) &&
			refbw)
			TIFFSetField(t, TIFFTAG_REFERENCEBLACKWHITE, refbw);
	}
	if (TIFFGetField(src, TIFFTAG_JPEGTABLES, &n_tables, &tables) &&
		n_tables > 0)
		TIFFSetField(t, TIFFTAG_JPEGTABLES, n_tables, tables);
}

/* A stripped directory: JPEG (the thumbnail, as Aperio writes it) or
 * LZW with the horizontal predictor (label and macro: lossless). */
static gboolean
write_picture(TIFF *t, const SpPicture *p, guint32 subfiletype, gboolean jpeg,
	const char *description, char **why)
{
	int rows = jpeg ? 16 :
			  MAX(1, MIN(p->height, 65536 / (p->width * p->bands)));
	size_t row_bytes = (size_t) p->width * p->bands;

	TIFFSetField(t, TIFFTAG_SUBFILETYPE, subfiletype);
	TIFFSetField(t, TIFFTAG_IMAGEWIDTH, p->width);
	TIFFSetField(t, TIFFTAG_IMAGELENGTH, p->height);
	TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
	TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, p->bands);
	TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
	TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, rows);
	TIFFSetField(t, TIFFTAG_SOFTWARE, "slidepipe " PACKAGE_VERSION);
	TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, description);
	if (jpeg) {
		TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_JPEG);
		if (p->bands == 3) {
			TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
			TIFFSetField(t, TIFFTAG_YCBCRSUBSAMPLING, 2, 2);
			TIFFSetField(t, TIFFTAG_JPEGCOLORMODE,
				JPEGCOLORMODE_RGB);
		} else
			TIFFSetField(t, TIFFTAG_PHOTOMETRIC,
				PHOTOMETRIC_MINISBLACK);
		TIFFSetField(t, TIFFTAG_JPEGQUALITY, 90);
	} else {
		TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_LZW);
		TIFFSetField(t, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL);
		TIFFSetField(t, TIFFTAG_PHOTOMETRIC,
			p->bands == 3 ? PHOTOMETRIC_RGB :
					PHOTOMETRIC_MINISBLACK);
	}
	for (int y = 0, strip = 0; y < p->height; y += rows, strip++) {
		int n = MIN(rows, p->height - y);

		/* libtiff may modify the buffer (predictor): a copy */
		g_autofree VipsPel *buf = g_memdup2(p->pixels +
				(size_t) y * row_bytes,
			n * row_bytes);
		if (TIFFWriteEncodedStrip(t, strip, buf,
			    (tmsize_t) n * row_bytes) < 0) {
			*why = g_strdup("cannot write an associated image");
			return FALSE;
		}
	}
	if (!TIFFWriteDirectory(t)) {
		*why = g_strdup("cannot write an associated image's directory");
		return FALSE;
	}
	return TRUE;
}

gboolean
_sp_tiff_layout_write_directories(TIFF *t, const SpTiffMeta *meta,
	gboolean at_end, char **why)
{
	if (!meta || meta->flavour != SP_TIFF_SVS)
		return TRUE;
	if (!at_end)
		return !meta->thumbnail.pixels ||
			write_picture(t, &meta->thumbnail, 0, TRUE,
				meta->thumb_description, why);
	if (meta->label.pixels) {
		g_autofree char *d = g_strdup_printf(SVS_HEADER "\nlabel %dx%d",
			meta->label.width, meta->label.height);
		if (!write_picture(t, &meta->label, 1, FALSE, d, why))
			return FALSE;
	}
	if (meta->macro.pixels) {
		g_autofree char *d = g_strdup_printf(SVS_HEADER "\nmacro %dx%d",
			meta->macro.width, meta->macro.height);
		if (!write_picture(t, &meta->macro, 9, FALSE, d, why))
			return FALSE;
	}
	return TRUE;
}

gboolean
_sp_tiff_layout_tag_image(const SpTiffMeta *meta, const SpWriteOptions *o,
	VipsImage **image, GError **error)
{
	VipsImage *copy;

	if (vips_copy(*image, &copy, NULL)) {
		g_object_unref(*image);
		*image = NULL;
		_sp_set_vips_error(error, o->op, o->name);
		return FALSE;
	}
	g_object_unref(*image);
	*image = copy;
	if (meta && meta->description)
		vips_image_set_string(copy, VIPS_META_IMAGEDESCRIPTION,
			meta->description);
	else
		vips_image_remove(copy, VIPS_META_IMAGEDESCRIPTION);
	if (meta && meta->icc) {
		gsize n;
		const void *data = g_bytes_get_data(meta->icc, &n);
		vips_image_set_blob_copy(copy, VIPS_META_ICC_NAME, data, n);
	} else
		vips_image_remove(copy, VIPS_META_ICC_NAME);
	return TRUE;
}

/* ResolutionUnit "none": in-place edits of a finished TIFF's directory entries.
 *
 * libvips' tiffsave always writes XResolution/YResolution with a unit, so
 * an image whose pixel size is unknown would claim 10 pixels per cm (an
 * mpp of 1000). Marking ResolutionUnit "none" in every directory says
 * "unknown" to OpenSlide 4 and every other reader. The entry is a SHORT
 * stored inside the IFD entry itself, so it is overwritten in place: no
 * directory is moved, nothing else in the file changes.
 */

#define TAG_RESOLUTION_UNIT 296
#define TYPE_SHORT 3
#define MAX_DIRECTORIES 100000

typedef struct {
	FILE *f;
	gboolean big_endian;
	gboolean bigtiff;
} TiffFile;

static gboolean
read_uint(TiffFile *t, guint64 offset, int size, guint64 *out)
{
	unsigned char b[8];

	if (fseeko(t->f, (off_t) offset, SEEK_SET) != 0 ||
		fread(b, 1, size, t->f) != (size_t) size)
		return FALSE;
	*out = 0;
	for (int i = 0; i < size; i++)
		*out |= (guint64) b[t->big_endian ? i : size - 1 - i]
			<< (8 * (size - 1 - i));
	return TRUE;
}

static gboolean
write_short(TiffFile *t, guint64 offset, guint16 value)
{
	unsigned char b[2];

	b[t->big_endian ? 0 : 1] = value >> 8;
	b[t->big_endian ? 1 : 0] = value & 0xff;
	return fseeko(t->f, (off_t) offset, SEEK_SET) == 0 &&
		fwrite(b, 1, 2, t->f) == 2;
}

gboolean
_sp_tiff_set_resolution_unit_none(const char *op, const char *path,
	GError **error)
{
	TiffFile t = { NULL, FALSE, FALSE };
	guint64 magic, ifd;
	unsigned char order[2];
	gboolean ok = FALSE;

	if (!(t.f = fopen(path, "r+b"))) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot open '%s': %s", op, path, g_strerror(err));
		return FALSE;
	}
	if (fread(order, 1, 2, t.f) != 2 ||
		(memcmp(order, "II", 2) != 0 && memcmp(order, "MM", 2) != 0))
		goto out;
	t.big_endian = order[0] == 'M';
	if (!read_uint(&t, 2, 2, &magic) || (magic != 42 && magic != 43))
		goto out;
	t.bigtiff = magic == 43;
	if (!read_uint(&t, t.bigtiff ? 8 : 4, t.bigtiff ? 8 : 4, &ifd))
		goto out;

	int entry_size = t.bigtiff ? 20 : 12;
	int count_size = t.bigtiff ? 8 : 2;
	for (int n = 0; ifd != 0 && n < MAX_DIRECTORIES; n++) {
		guint64 count;

		if (!read_uint(&t, ifd, count_size, &count) || count > 65535)
			goto out;
		for (guint64 i = 0; i < count; i++) {
			guint64 entry = ifd + count_size + i * entry_size;
			guint64 tag, type;

			if (!read_uint(&t, entry, 2, &tag) ||
				!read_uint(&t, entry + 2, 2, &type))
				goto out;
			if (tag == TAG_RESOLUTION_UNIT && type == TYPE_SHORT &&
				!write_short(&t, entry + (t.bigtiff ? 12 : 8),
					1))
				goto out;
		}
		if (!read_uint(&t, ifd + count_size + count * entry_size,
			    t.bigtiff ? 8 : 4, &ifd))
			goto out;
	}
	ok = fflush(t.f) == 0;
out:
	if (fclose(t.f) != 0)
		ok = FALSE;
	if (!ok)
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: '%s': cannot mark the pixel size unknown (not a TIFF "
			"libvips wrote?)",
			op, path);
	return ok;
}
