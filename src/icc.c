/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ICC colour profiles: the one a slide embeds, its description, and the
 * icc= choices of save (keep it, convert to sRGB, drop it).
 *
 * Aperio SVS and generic TIFF slides embed the profile as TIFF tag
 * InterColorProfile (34675) on level 0's directory; OpenSlide 4 reads it
 * from there, OpenSlide 3.4.1 and libvips' openslideload (8.14) not at
 * all, so it is read here with libtiff, byte for byte. Descriptions and
 * conversions go through lcms2 (the latter through libvips'
 * vips_icc_transform(), which is lcms2 too).
 */
#include "config.h"

#include <string.h>

#include <lcms2.h>
#include <tiffio.h>

#include "sp-private.h"

/* Profiles larger than this are not believed (real ones are a few KB;
 * TIFF allows 4 GiB). */
#define MAX_PROFILE_BYTES (64u << 20)

GBytes *
sp_slide_get_icc_profile(SpSlide *slide)
{
	int page;
	TIFF *tiff;
	GBytes *profile = NULL;

	g_return_val_if_fail(slide != NULL, NULL);
	if (_sp_slide_get_dicom(slide))
		return _sp_dicom_icc(_sp_slide_get_dicom(slide));
	/* an associated-only or non-TIFF slide has none we can read */
	if ((page = _sp_slide_tiff_page(slide, 0)) < 0)
		page = 0;
	if (!(tiff = _sp_tiff_open(sp_slide_get_path(slide), "rmO")))
		return NULL;

	guint32 length = 0;
	void *data = NULL;

	if (TIFFSetDirectory(tiff, (tdir_t) page) &&
		TIFFGetField(tiff, TIFFTAG_ICCPROFILE, &length, &data) &&
		data && length >= 128 && length <= MAX_PROFILE_BYTES)
		profile = g_bytes_new(data, length);
	TIFFClose(tiff);
	return profile;
}

char *
sp_icc_profile_get_description(GBytes *profile)
{
	gsize length;
	const void *data;
	cmsHPROFILE h;
	char *text = NULL;

	if (!profile)
		return NULL;
	data = g_bytes_get_data(profile, &length);
	if (!data || length < 128 || length > MAX_PROFILE_BYTES ||
		!(h = cmsOpenProfileFromMem(data, (cmsUInt32Number) length)))
		return NULL;

	cmsUInt32Number n = cmsGetProfileInfoASCII(h, cmsInfoDescription, "en",
		"US", NULL, 0);
	if (n > 1) {
		text = g_malloc(n);
		cmsGetProfileInfoASCII(h, cmsInfoDescription, "en", "US", text,
			n);
		g_strstrip(text);
		if (!*text || !g_utf8_validate(text, -1, NULL))
			g_clear_pointer(&text, g_free);
	}
	cmsCloseProfile(h);
	return text;
}

VipsImage *
_sp_icc_to_srgb(VipsImage *in, GBytes *profile, GError **error)
{
	VipsImage *tagged, *out;
	gsize length;
	const void *data = g_bytes_get_data(profile, &length);

	/* grey images and masks have no colour to convert */
	if (in->Bands != 3)
		return g_object_ref(in);
	if (vips_copy(in, &tagged, NULL)) {
		_sp_set_vips_error(error, "save", "icc=srgb");
		return NULL;
	}
	vips_image_set_blob_copy(tagged, VIPS_META_ICC_NAME, data, length);
	/* as `vips icc_transform IN OUT srgb --embedded`: relative
	 * colorimetric, 8 bits */
	if (vips_icc_transform(tagged, &out, "srgb", "embedded", TRUE, NULL)) {
		g_object_unref(tagged);
		_sp_set_vips_error(error, "save",
			"icc=srgb: the source's ICC profile");
		return NULL;
	}
	g_object_unref(tagged);
	/* untagged output is sRGB by convention: nothing embedded */
	vips_image_remove(out, VIPS_META_ICC_NAME);
	return out;
}

GBytes *
_sp_icc_srgb(void)
{
	static GBytes *srgb;
	static gsize once;

	if (g_once_init_enter(&once)) {
		cmsHPROFILE p = cmsCreate_sRGBProfile();
		cmsUInt32Number n = 0;
		GBytes *b = NULL;

		if (p && cmsSaveProfileToMem(p, NULL, &n) && n > 0) {
			void *data = g_malloc(n);
			if (cmsSaveProfileToMem(p, data, &n))
				b = g_bytes_new_take(data, n);
			else
				g_free(data);
		}
		if (p)
			cmsCloseProfile(p);
		srgb = b;
		g_once_init_leave(&once, 1);
	}
	return srgb ? g_bytes_ref(srgb) : NULL;
}
