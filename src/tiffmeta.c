/* save's TIFF layout arguments (format=, associated=, icc=): their
 * checks, the pixels they change and the metadata they add, kept apart
 * from ops/save.c's writers, which call in here. See src/svs.c for the
 * layouts themselves.
 */
#include "config.h"

#include <string.h>

#include "sp-private.h"

SpTiffFlavour
_sp_save_flavour(SpNode *node)
{
	const char *format = _sp_arg_string(node, "format");
	g_autofree char *lower = g_ascii_strdown(_sp_arg_string(node, "path"), -1);

	if (format && strcmp(format, "svs") == 0)
		return SP_TIFF_SVS;
	if (format && strcmp(format, "ome") == 0)
		return SP_TIFF_OME;
	if (format && strcmp(format, "generic") == 0)
		return SP_TIFF_GENERIC;
	if (g_str_has_suffix(lower, ".svs"))
		return SP_TIFF_SVS;
	if (g_str_has_suffix(lower, ".ome.tif") ||
		g_str_has_suffix(lower, ".ome.tiff"))
		return SP_TIFF_OME;
	return SP_TIFF_GENERIC;
}

/* The source's profile, unless the chain reads an associated image (which
 * the level-0 profile does not describe). */
static GBytes *
source_profile(SpNode *node)
{
	SpNode *source = node;

	while (source->input)
		source = source->input;
	if (_sp_arg_string(source, "associated"))
		return NULL;
	return sp_slide_get_icc_profile(node->slide);
}

static gboolean
icc_is(SpNode *node, const char *mode)
{
	return strcmp(_sp_arg_string(node, "icc"), mode) == 0;
}

gboolean
_sp_save_plan_layout(SpNode *node, const char *path,
	const char **compression, GError **error)
{
	SpTiffFlavour flavour = _sp_save_flavour(node);
	const char *c = *compression;
	gboolean copy = c && strcmp(c, "copy") == 0;

	if (_sp_arg_is_set(node, "associated") && flavour != SP_TIFF_SVS) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: argument 'associated' applies to format=svs only ('%s')",
			path);
		return FALSE;
	}
	if (flavour == SP_TIFF_SVS && c && strcmp(c, "jpeg") != 0 && !copy &&
		strcmp(c, "auto") != 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: argument 'compression': format=svs ('%s') has JPEG "
			"tiles, as Aperio writes them (jpeg, copy or auto), not %s",
			path, c);
		return FALSE;
	}
	if (flavour == SP_TIFF_OME && copy) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: compression=copy is impossible with format=ome ('%s'): "
			"libvips writes OME-TIFF from decoded pixels",
			path);
		return FALSE;
	}
	if (flavour == SP_TIFF_OME)
		*compression = NULL;
	if (icc_is(node, "srgb") && c &&
		(copy || strcmp(c, "auto") == 0)) {
		g_autoptr(GBytes) icc = source_profile(node);

		if (icc && copy) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"save: compression=copy is impossible with icc=srgb ('%s'): "
				"converting colours needs decoded pixels",
				path);
			return FALSE;
		}
		if (icc)
			*compression = NULL;
	}
	return TRUE;
}

VipsImage *
_sp_save_pixels(SpNode *node, VipsImage *in, GError **error)
{
	g_autoptr(GBytes) icc = NULL;

	if (!icc_is(node, "srgb") || !(icc = source_profile(node)))
		return g_object_ref(in);
	return _sp_icc_to_srgb(in, icc, error);
}

SpTiffMeta *
_sp_save_meta(SpNode *node, SpTiffFlavour flavour, int tile, int quality,
	GError **error)
{
	g_autoptr(GBytes) icc = icc_is(node, "drop") ? NULL : source_profile(node);
	gboolean srgb = icc_is(node, "srgb");

	return _sp_tiff_meta_new(node, flavour, tile, quality,
		srgb ? NULL : icc, srgb ? icc : NULL,
		strcmp(_sp_arg_string(node, "associated"), "keep") == 0, error);
}

gboolean
_sp_save_tag_image(SpNode *node, SpTiffFlavour flavour, SpTiffMeta *meta,
	VipsImage **image, GError **error)
{
	g_autoptr(GBytes) icc = icc_is(node, "keep") ? source_profile(node) : NULL;
	VipsImage *copy;

	if (vips_copy(*image, &copy, NULL)) {
		g_object_unref(*image);
		*image = NULL;
		_sp_set_vips_error(error, "save", _sp_arg_string(node, "path"));
		return FALSE;
	}
	g_object_unref(*image);
	*image = copy;
	if (flavour == SP_TIFF_OME) {
		g_autofree char *xml =
			_sp_ome_xml(node, copy->Xsize, copy->Ysize, copy->Bands);
		vips_image_set_string(copy, VIPS_META_IMAGEDESCRIPTION, xml);
	}
	else if (_sp_tiff_meta_description(meta))
		vips_image_set_string(copy, VIPS_META_IMAGEDESCRIPTION,
			_sp_tiff_meta_description(meta));
	else
		vips_image_remove(copy, VIPS_META_IMAGEDESCRIPTION);
	if (icc) {
		gsize n;
		const void *data = g_bytes_get_data(icc, &n);
		vips_image_set_blob_copy(copy, VIPS_META_ICC_NAME, data, n);
	}
	else
		vips_image_remove(copy, VIPS_META_ICC_NAME);
	return TRUE;
}
