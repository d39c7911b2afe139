/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Patch files: small images encoded in memory, many per thread, for
 * tiles (PNG on libdeflate, JPEG with TurboJPEG, deflate-compressed TIFF
 * through libvips). One encoder per thread; it keeps its codec state and
 * buffers between patches.
 */
#include "config.h"

#include <turbojpeg.h>

#include "writer/writer.h"

struct _SpPatchEncoder {
	SpWriteOptions o; /* format, quality, png_level, mpp, op */
	SpPngEncoder *png;
	tjhandle jpeg;
};

SpPatchEncoder *
_sp_patch_encoder_new(const SpWriteOptions *o)
{
	SpPatchEncoder *e = g_new0(SpPatchEncoder, 1);

	e->o = *o;
	if ((o->format == SP_WRITE_PNG &&
		    !(e->png = _sp_png_encoder_new(o->png_level))) ||
		(o->format == SP_WRITE_JPEG && !(e->jpeg = tjInitCompress()))) {
		_sp_patch_encoder_free(e);
		return NULL;
	}
	return e;
}

void
_sp_patch_encoder_free(SpPatchEncoder *e)
{
	if (!e)
		return;
	if (e->jpeg)
		tjDestroy(e->jpeg);
	_sp_png_encoder_free(e->png);
	g_free(e);
}

static gboolean
encode_jpeg(SpPatchEncoder *e, const guint8 *pixels, int width, int height,
	int bands, GByteArray *out, GError **error)
{
	unsigned char *jpg = NULL;
	unsigned long length = 0;
	int q = e->o.quality;

	/* as libvips: full chroma resolution from Q 90 up */
	if (tjCompress2(e->jpeg, pixels, width, 0, height,
		    bands == 3 ? TJPF_RGB : TJPF_GRAY, &jpg, &length,
		    bands == 1      ? TJSAMP_GRAY :
			    q >= 90 ? TJSAMP_444 :
				      TJSAMP_420,
		    q, TJFLAG_ACCURATEDCT)) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"%s: JPEG compression failed: %s", e->o.op,
			tjGetErrorStr2(e->jpeg));
		tjFree(jpg);
		return FALSE;
	}
	g_byte_array_set_size(out, 0);
	g_byte_array_append(out, jpg, length);
	tjFree(jpg);
	return TRUE;
}

static gboolean
encode_tiff(SpPatchEncoder *e, const guint8 *pixels, int width, int height,
	int bands, GByteArray *out, GError **error)
{
	VipsImage *image = vips_image_new_from_memory(pixels,
		(size_t) width * height * bands, width, height, bands,
		VIPS_FORMAT_UCHAR);
	void *buf = NULL;
	size_t length = 0;
	int r = -1;

	if (image) {
		image->Type = bands == 3 ? VIPS_INTERPRETATION_sRGB :
					   VIPS_INTERPRETATION_B_W;
		r = e->o.mpp_x > 0 ?
			vips_tiffsave_buffer(image, &buf, &length,
				"compression",
				VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE,
				"predictor",
				VIPS_FOREIGN_TIFF_PREDICTOR_HORIZONTAL,
				"resunit", VIPS_FOREIGN_TIFF_RESUNIT_CM, "xres",
				1000.0 / e->o.mpp_x, "yres",
				1000.0 / e->o.mpp_y, NULL) :
			vips_tiffsave_buffer(image, &buf, &length,
				"compression",
				VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE,
				"predictor",
				VIPS_FOREIGN_TIFF_PREDICTOR_HORIZONTAL, NULL);
		g_object_unref(image);
	}
	if (r) {
		_sp_set_vips_error(error, e->o.op, "TIFF patch");
		return FALSE;
	}
	g_byte_array_set_size(out, 0);
	g_byte_array_append(out, buf, length);
	g_free(buf);
	return TRUE;
}

gboolean
_sp_patch_encode(SpPatchEncoder *e, const guint8 *pixels, int width, int height,
	int bands, GByteArray *out, GError **error)
{
	if (!e) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"cannot start the patch encoder");
		return FALSE;
	}
	switch (e->o.format) {
	case SP_WRITE_PNG:
		if (!_sp_png_encode(e->png, pixels, width, height, bands,
			    (size_t) width * bands, e->o.mpp_x, e->o.mpp_y,
			    out)) {
			g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
				"%s: PNG compression failed", e->o.op);
			return FALSE;
		}
		return TRUE;
	case SP_WRITE_JPEG:
		return encode_jpeg(e, pixels, width, height, bands, out, error);
	case SP_WRITE_TIFF:
	default:
		return encode_tiff(e, pixels, width, height, bands, out, error);
	}
}
