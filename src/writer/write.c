/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* _sp_write(): one file from a lazy image, by the writer that suits its
 * format and compression (writer.h).
 */
#include "config.h"

#include <string.h>

#include "writer/writer.h"

gboolean
_sp_write(VipsImage *in, const SpWriteOptions *o, GError **error)
{
	int r;

	switch (o->format) {
	case SP_WRITE_TIFF:
		/* JPEG tiles: our writer, tiles compressed on every core */
		if (strcmp(o->compression, "jpeg") == 0 &&
			!(o->meta && o->meta->flavour == SP_TIFF_OME) &&
			!_sp_is_stack(in))
			return _sp_pyramid_write(in, in->Xsize, in->Ysize, o,
				error);
		return _sp_vips_tiff_write(in, o, error);
	case SP_WRITE_PNG:
		/* on this thread: see png.c */
		if (_sp_png_writable(in))
			return _sp_png_write(in, o, error);
		r = vips_pngsave(in, o->path, NULL);
		break;
	case SP_WRITE_JPEG:
	default:
		r = vips_jpegsave(in, o->path, "Q", o->quality, NULL);
		break;
	}
	if (r)
		_sp_set_vips_error(error, o->op, o->name);
	return r == 0;
}
