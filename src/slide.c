/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Slides: levels, downsamples, mpp, vendor, properties and associated
 * images, read from headers only.
 *
 * Vendor formats go through libvips' openslideload (OpenSlide). TIFFs that
 * libvips does not give to OpenSlide (generic tiled and striped TIFF) are
 * read with libtiff for their structure, finding levels the way OpenSlide's
 * generic-tiff reader does (src/openslide-vendor-generic-tiff.c): directory
 * 0 is level 0 and every other directory with the REDUCEDIMAGE bit in
 * NewSubfileType is a level, sorted by width. Anything else libvips loads
 * is a one-level image.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tiffio.h>

#include "sp-private.h"

typedef enum {
	BACKEND_OPENSLIDE,
	BACKEND_TIFF,
	BACKEND_VIPS,
	BACKEND_DICOM,
} Backend;

typedef struct {
	SpLevel level;
	int page; /* TIFF directory, for BACKEND_TIFF */
	int subifd; /* 0, or 1 + the index of the level among directory
	             * @page's SubIFDs (an OME-TIFF pyramid) */
} LevelEntry;

struct _SpSlide {
	gint ref_count;
	char *path;
	char *vendor;
	Backend backend;
	GArray *levels; /* LevelEntry */
	double mpp_x, mpp_y; /* 0 = unknown */
	int bands; /* of the pixels _sp_slide_load() gives */
	VipsBandFormat format; /* of the samples _sp_slide_load() gives */
	SpPlanes planes; /* channels, z planes, time points (1 × 1 × 1) */
	GArray *page_offsets; /* guint64: each main-chain directory's offset */
	GHashTable *properties; /* char * -> char * */
	SpDicom *dicom; /* BACKEND_DICOM's series */
	char **property_names; /* sorted, NULL-terminated */
	char **associated; /* NULL-terminated */

	/* Shared readers (see _sp_slide_share_readers()): one image per
	 * level, made by the first row that reads the level, under lock. */
	GMutex lock;
	int shared_readers; /* pipelines reading at once; 0: not shared */
	VipsImage *readers[SP_SHARED_LEVELS];
};

static void
set_property(SpSlide *slide, const char *name, const char *value)
{
	g_hash_table_replace(slide->properties, g_strdup(name),
		g_strdup(value));
}

static void
finish_property_names(SpSlide *slide)
{
	guint n;
	char **names = (char **)
		g_hash_table_get_keys_as_array(slide->properties, &n);

	qsort(names, n, sizeof(char *), (GCompareFunc) g_strcmp0);
	slide->property_names = g_new0(char *, n + 1);
	for (guint i = 0; i < n; i++)
		slide->property_names[i] = g_strdup(names[i]);
	g_free(names);
}

static gboolean
parse_double(const char *text, double *out)
{
	char *end;
	double d;

	if (!text)
		return FALSE;
	d = g_ascii_strtod(text, &end);
	if (end == text || !isfinite(d))
		return FALSE;
	*out = d;
	return TRUE;
}

/* Only plausible pixel sizes count: a file that says 0 or 1e9 µm says
 * nothing. */
static gboolean
mpp_plausible(double mpp)
{
	return mpp > 1e-4 && mpp < 1e5;
}

/* The bands normalise() leaves of @raw samples per pixel: alpha
 * flattened (2 → 1, 4 → 3), CMYK converted, extra samples dropped. */
static int
normalised_bands(int raw)
{
	return raw <= 2 ? 1 : 3;
}

static gboolean
open_openslide(SpSlide *slide, GError **error)
{
	VipsImage *image;
	gchar **fields;
	double count;

	if (vips_openslideload(slide->path, &image, "access",
		    VIPS_ACCESS_RANDOM, NULL)) {
		_sp_set_vips_error(error, "load", slide->path);
		return FALSE;
	}
	fields = vips_image_get_fields(image);
	for (int i = 0; fields[i]; i++) {
		const char *value;

		GType type = vips_image_get_typeof(image, fields[i]);

		if ((type != G_TYPE_STRING && type != VIPS_TYPE_REF_STRING) ||
			vips_image_get_string(image, fields[i], &value))
			continue;
		if (g_str_has_prefix(fields[i], "openslide.") ||
			g_str_has_prefix(fields[i], "tiff.") ||
			strchr(fields[i], '.'))
			set_property(slide, fields[i], value);
	}
	g_strfreev(fields);
	g_free(_sp_vips_error_take(NULL));

	if (!parse_double(sp_slide_get_property(slide, "openslide.level-count"),
		    &count) ||
		count < 1 || count > 64) {
		g_object_unref(image);
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"load: '%s': OpenSlide reports no levels", slide->path);
		return FALSE;
	}
	for (int i = 0; i < (int) count; i++) {
		LevelEntry e = { { 0 }, 0 };
		double w = 0, h = 0, ds = 0, tw = 0, th = 0;
		char key[64];

		g_snprintf(key, sizeof(key), "openslide.level[%d].width", i);
		parse_double(sp_slide_get_property(slide, key), &w);
		g_snprintf(key, sizeof(key), "openslide.level[%d].height", i);
		parse_double(sp_slide_get_property(slide, key), &h);
		g_snprintf(key, sizeof(key), "openslide.level[%d].downsample",
			i);
		parse_double(sp_slide_get_property(slide, key), &ds);
		/* a tile size out of range is no tile size (0: unknown), not
		 * an int overflow */
		g_snprintf(key, sizeof(key), "openslide.level[%d].tile-width",
			i);
		_sp_parse_number(sp_slide_get_property(slide, key), 0, 1 << 20,
			&tw);
		g_snprintf(key, sizeof(key), "openslide.level[%d].tile-height",
			i);
		_sp_parse_number(sp_slide_get_property(slide, key), 0, 1 << 20,
			&th);
		if (w < 1 || h < 1 || w > SP_MAX_DIM * 4.0 ||
			h > SP_MAX_DIM * 4.0 || ds < 1) {
			g_object_unref(image);
			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				"load: '%s': level %d has an invalid size",
				slide->path, i);
			return FALSE;
		}
		e.level.width = (gint64) w;
		e.level.height = (gint64) h;
		e.level.downsample = ds;
		e.level.tile_width = (int) tw;
		e.level.tile_height = (int) th;
		g_array_append_val(slide->levels, e);
	}

	double mx, my;
	if (parse_double(sp_slide_get_property(slide, "openslide.mpp-x"),
		    &mx) &&
		parse_double(sp_slide_get_property(slide, "openslide.mpp-y"),
			&my) &&
		mpp_plausible(mx) && mpp_plausible(my)) {
		slide->mpp_x = mx;
		slide->mpp_y = my;
	}
	const char *vendor = sp_slide_get_property(slide, "openslide.vendor");
	slide->vendor = g_strdup(vendor ? vendor : "openslide");
	/* OpenSlide gives premultiplied RGBA, flattened to RGB */
	slide->bands = normalised_bands(image->Bands);

	const char *assoc;
	if (vips_image_get_typeof(image, "slide-associated-images") &&
		!vips_image_get_string(image, "slide-associated-images",
			&assoc)) {
		slide->associated = g_strsplit(assoc, ",", -1);
		for (int i = 0; slide->associated[i]; i++)
			g_strstrip(slide->associated[i]);
	}
	g_object_unref(image);
	return TRUE;
}

static void
tiff_string_property(SpSlide *slide, TIFF *tiff, ttag_t tag, const char *name)
{
	char *value;

	if (TIFFGetField(tiff, tag, &value) && value &&
		g_utf8_validate(value, -1, NULL))
		set_property(slide, name, value);
}

static int
compare_levels(gconstpointer a, gconstpointer b)
{
	const LevelEntry *la = a, *lb = b;

	return la->level.width < lb->level.width  ? 1 :
		la->level.width > lb->level.width ? -1 :
						    0;
}

/* The first error of one handle, kept for the message (@user_data is a
 * GString); warnings are dropped. Per-handle handlers (libtiff 4.5's
 * TIFFOpenOptions): libtiff's global handlers are libvips', left alone,
 * so batch rows opening slides at once do not race on them and libvips
 * keeps its TIFF messages. */
static int
tiff_error_keep_first(TIFF *tiff, void *user_data, const char *module,
	const char *fmt, va_list ap)
{
	GString *first = user_data;

	if (first && first->len == 0)
		g_string_append_vprintf(first, fmt, ap);
	return 1;
}

static int
tiff_warning_drop(TIFF *tiff, void *user_data, const char *module,
	const char *fmt, va_list ap)
{
	return 1;
}

/* The lower levels that the first directory keeps as SubIFDs (an
 * OME-TIFF pyramid, as slidepipe's format=ome and libvips' subifd saves
 * write it; OpenSlide 3.4.1 sees only the first level), appended to
 * @slide's levels. @tiff is at directory 0 and is left there. A SubIFD
 * that is not a smaller image with the same samples per pixel is
 * ignored, as a main-chain directory would be. */
#define MAX_SUBIFD_LEVELS 32

static gboolean
add_subifd_levels(SpSlide *slide, TIFF *tiff, GError **error)
{
	guint16 n = 0, spp0 = 1;
	toff_t *offsets = NULL;
	guint32 w0 = 0, h0 = 0;

	if (!TIFFGetField(tiff, TIFFTAG_SUBIFD, &n, &offsets) || n == 0)
		return TRUE;
	if (n > MAX_SUBIFD_LEVELS) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"load: '%s': the first directory lists %u SubIFDs; slidepipe "
			"reads at most %d pyramid levels there",
			slide->path, n, MAX_SUBIFD_LEVELS);
		return FALSE;
	}
	TIFFGetField(tiff, TIFFTAG_IMAGEWIDTH, &w0);
	TIFFGetField(tiff, TIFFTAG_IMAGELENGTH, &h0);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_SAMPLESPERPIXEL, &spp0);

	/* libtiff's array is freed as other directories are read */
	toff_t at[MAX_SUBIFD_LEVELS];
	memcpy(at, offsets, n * sizeof(toff_t));
	for (int i = 0; i < n; i++) {
		guint32 w = 0, h = 0, tw = 0, th = 0;
		guint16 spp = 1;

		if (!TIFFSetSubDirectory(tiff, at[i]))
			break;
		TIFFGetField(tiff, TIFFTAG_IMAGEWIDTH, &w);
		TIFFGetField(tiff, TIFFTAG_IMAGELENGTH, &h);
		TIFFGetFieldDefaulted(tiff, TIFFTAG_SAMPLESPERPIXEL, &spp);
		if (TIFFIsTiled(tiff)) {
			TIFFGetField(tiff, TIFFTAG_TILEWIDTH, &tw);
			TIFFGetField(tiff, TIFFTAG_TILELENGTH, &th);
		}
		if (w == 0 || h == 0 || w > w0 || h > h0 ||
			(w == w0 && h == h0) || spp != spp0)
			continue;

		LevelEntry e = { 0 };
		e.page = 0;
		e.subifd = i + 1;
		e.level.width = w;
		e.level.height = h;
		e.level.tile_width = tw;
		e.level.tile_height = th;
		e.level.downsample = ((double) w0 / w + (double) h0 / h) / 2.0;
		g_array_append_val(slide->levels, e);
	}
	if (!TIFFSetDirectory(tiff, 0)) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"load: '%s': libtiff cannot go back to the first directory "
			"after its SubIFDs",
			slide->path);
		return FALSE;
	}
	return TRUE;
}

/* Whether slidepipe keeps samples of @format as they are. */
static gboolean
format_kept(VipsBandFormat format)
{
	return format == VIPS_FORMAT_UCHAR || format == VIPS_FORMAT_CHAR ||
		format == VIPS_FORMAT_USHORT || format == VIPS_FORMAT_SHORT ||
		format == VIPS_FORMAT_UINT || format == VIPS_FORMAT_INT ||
		format == VIPS_FORMAT_FLOAT;
}

/* The slide's planes: from the OME-XML of directory 0 when there is one
 * that reads (else the slide is taken as a plain TIFF, and the reason is
 * kept as the property slidepipe.ome-error), or the main-chain
 * directories @stack (of @n_pages) as z planes. */
static void
find_planes(SpSlide *slide, GArray *stack, int n_pages)
{
	const char *desc = g_hash_table_lookup(slide->properties,
		"tiff.ImageDescription");
	SpPlanes *pl = &slide->planes;
	GError *error = NULL;

	if (desc && strstr(desc, "<OME")) {
		if (_sp_planes_from_ome(desc, 0, n_pages, pl, &error)) {
			/* OME's sizes are µm per pixel too; the TIFF's
			 * resolution, when it has one, was read already */
			if (slide->mpp_x <= 0 && mpp_plausible(pl->mpp_x) &&
				mpp_plausible(pl->mpp_y)) {
				slide->mpp_x = pl->mpp_x;
				slide->mpp_y = pl->mpp_y;
			}
			return;
		}
		set_property(slide, "slidepipe.ome-error", error->message);
		g_error_free(error);
	}
	pl->n_c = 1;
	pl->n_z = stack->len;
	pl->n_t = 1;
	pl->pages = g_memdup2(stack->data, stack->len * sizeof(int));
	pl->samples_per_channel = 1;
}

static gboolean
open_tiff(SpSlide *slide, GError **error)
{
	g_autoptr(GString) why = g_string_new(NULL);
	TIFFOpenOptions *options = TIFFOpenOptionsAlloc();

	TIFFOpenOptionsSetErrorHandlerExtR(options, tiff_error_keep_first, why);
	TIFFOpenOptionsSetWarningHandlerExtR(options, tiff_warning_drop, NULL);
	TIFF *tiff = TIFFOpenExt(slide->path, "rmO", options);
	TIFFOpenOptionsFree(options);
	gboolean all_tiled = TRUE;
	guint32 w0 = 0, h0 = 0;
	int spp0 = 0;
	guint16 bps0 = 8, format0 = SAMPLEFORMAT_UINT;
	/* the main-chain directories that could be planes of a stack */
	g_autoptr(GArray) stack = g_array_new(FALSE, FALSE, sizeof(int));

	if (!tiff) {
		/* one line: libtiff's reason, if it gave one */
		g_strdelimit(why->str, "\r\n", ' ');
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"load: '%s': libtiff cannot read this TIFF%s%s",
			slide->path, why->len ? ": " : "", why->str);
		return FALSE;
	}

	int page = 0;
	do {
		guint32 w = 0, h = 0, subfile = 0, tw = 0, th = 0;
		guint16 spp = 1;

		TIFFGetField(tiff, TIFFTAG_IMAGEWIDTH, &w);
		TIFFGetField(tiff, TIFFTAG_IMAGELENGTH, &h);
		TIFFGetFieldDefaulted(tiff, TIFFTAG_SAMPLESPERPIXEL, &spp);
		TIFFGetField(tiff, TIFFTAG_SUBFILETYPE, &subfile);
		guint16 bps = 1, sampleformat = SAMPLEFORMAT_UINT;
		guint64 offset = TIFFCurrentDirOffset(tiff);

		g_array_append_val(slide->page_offsets, offset);
		TIFFGetFieldDefaulted(tiff, TIFFTAG_BITSPERSAMPLE, &bps);
		TIFFGetFieldDefaulted(tiff, TIFFTAG_SAMPLEFORMAT,
			&sampleformat);
		if (TIFFIsTiled(tiff)) {
			TIFFGetField(tiff, TIFFTAG_TILEWIDTH, &tw);
			TIFFGetField(tiff, TIFFTAG_TILELENGTH, &th);
		}
		if (page == 0 ||
			(!(subfile & FILETYPE_REDUCEDIMAGE) && w == w0 &&
				h == h0 && spp == spp0 && bps == bps0 &&
				sampleformat == format0))
			g_array_append_val(stack, page);
		if (page == 0) {
			bps0 = bps;
			format0 = sampleformat;
			slide->format = _sp_tiff_band_format(bps, sampleformat);
			if (w == 0 || h == 0) {
				TIFFClose(tiff);
				g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
					"load: '%s': image has zero width or height",
					slide->path);
				return FALSE;
			}
			w0 = w;
			h0 = h;
			spp0 = spp;
			guint16 photometric = PHOTOMETRIC_MINISBLACK;
			TIFFGetFieldDefaulted(tiff, TIFFTAG_PHOTOMETRIC,
				&photometric);
			/* libvips expands a palette to RGB */
			slide->bands = photometric == PHOTOMETRIC_PALETTE ?
				3 :
				normalised_bands(spp);
			tiff_string_property(slide, tiff,
				TIFFTAG_IMAGEDESCRIPTION,
				"tiff.ImageDescription");
			tiff_string_property(slide, tiff, TIFFTAG_SOFTWARE,
				"tiff.Software");
			tiff_string_property(slide, tiff, TIFFTAG_MAKE,
				"tiff.Make");
			tiff_string_property(slide, tiff, TIFFTAG_MODEL,
				"tiff.Model");
			tiff_string_property(slide, tiff, TIFFTAG_DATETIME,
				"tiff.DateTime");

			float xres = 0, yres = 0;
			guint16 unit = RESUNIT_NONE;
			if (TIFFGetField(tiff, TIFFTAG_XRESOLUTION, &xres) &&
				TIFFGetField(tiff, TIFFTAG_YRESOLUTION,
					&yres) &&
				TIFFGetFieldDefaulted(tiff,
					TIFFTAG_RESOLUTIONUNIT, &unit)) {
				char buf[G_ASCII_DTOSTR_BUF_SIZE];
				double per_unit = unit == RESUNIT_CENTIMETER ?
					10000.0 :
					unit == RESUNIT_INCH ? 25400.0 :
							       0;

				set_property(slide, "tiff.XResolution",
					g_ascii_dtostr(buf, sizeof(buf), xres));
				set_property(slide, "tiff.YResolution",
					g_ascii_dtostr(buf, sizeof(buf), yres));
				set_property(slide, "tiff.ResolutionUnit",
					unit == RESUNIT_CENTIMETER ?
						"centimeter" :
						unit == RESUNIT_INCH ? "inch" :
								       "none");
				if (per_unit > 0 && xres > 0 && yres > 0 &&
					mpp_plausible(per_unit / xres) &&
					mpp_plausible(per_unit / yres)) {
					slide->mpp_x = per_unit / xres;
					slide->mpp_y = per_unit / yres;
				}
			}
		}
		if (page == 0 && !add_subifd_levels(slide, tiff, error)) {
			TIFFClose(tiff);
			return FALSE;
		}
		if (page == 0 ||
			((subfile & FILETYPE_REDUCEDIMAGE) && spp == spp0 &&
				w > 0 && h > 0 && w <= w0 && h <= h0)) {
			LevelEntry e = { 0 };

			e.page = page;
			e.level.width = w;
			e.level.height = h;
			e.level.tile_width = tw;
			e.level.tile_height = th;
			/* as OpenSlide: the mean of the two axes' ratios */
			e.level.downsample = ((double) w0 / w +
						     (double) h0 / h) /
				2.0;
			if (!tw)
				all_tiled = FALSE;
			g_array_append_val(slide->levels, e);
		}
		page++;
	} while (page < 4096 && TIFFReadDirectory(tiff));
	TIFFClose(tiff);

	g_array_sort(slide->levels, compare_levels);
	/* level 0 must stay directory 0 even if a bogus level is wider */
	if (g_array_index(slide->levels, LevelEntry, 0).page != 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"load: '%s': a reduced-resolution level is larger than "
			"the main image",
			slide->path);
		return FALSE;
	}
	slide->vendor = g_strdup(all_tiled ? "generic-tiff" : "tiff");
	find_planes(slide, stack, page);
	return TRUE;
}

static gboolean
open_vips(SpSlide *slide, GError **error)
{
	VipsImage *image = vips_image_new_from_file(slide->path, "access",
		VIPS_ACCESS_SEQUENTIAL, NULL);
	const char *loader = NULL;

	if (!image) {
		_sp_set_vips_error(error, "load", slide->path);
		return FALSE;
	}
	LevelEntry e = { { 0 }, 0 };
	e.level.width = image->Xsize;
	e.level.height = image->Ysize;
	e.level.downsample = 1.0;
	g_array_append_val(slide->levels, e);
	slide->bands = normalised_bands(image->Bands);
	slide->format = image->BandFmt;

	/* libvips reports 1 px/mm when a file has no resolution, and its
	 * PNG loader 72 dpi (2.834 px/mm): neither is a pixel size */
	gboolean dpi72 = fabs(image->Xres - 72 / 25.4) < 1e-3 &&
		fabs(image->Yres - 72 / 25.4) < 1e-3;
	if (image->Xres > 1.0 && image->Yres > 1.0 && !dpi72 &&
		mpp_plausible(1000.0 / image->Xres) &&
		mpp_plausible(1000.0 / image->Yres)) {
		slide->mpp_x = 1000.0 / image->Xres;
		slide->mpp_y = 1000.0 / image->Yres;
	}
	if (vips_image_get_typeof(image, VIPS_META_LOADER) &&
		!vips_image_get_string(image, VIPS_META_LOADER, &loader)) {
		g_autofree char *name = g_strdup(loader);
		char *p = strstr(name, "load");
		if (p)
			*p = '\0';
		slide->vendor = g_strdup(name);
	} else
		slide->vendor = g_strdup("image");
	g_object_unref(image);
	return TRUE;
}

static void
dicom_property(const char *name, const char *value, void *user_data)
{
	set_property(user_data, name, value);
}

/* A DICOM WSI series (src/dicom.c): its VOLUME instances are the levels. */
static gboolean
open_dicom(SpSlide *slide, GError **error)
{
	if (!(slide->dicom = _sp_dicom_open(slide->path, error)))
		return FALSE;
	int n = _sp_dicom_level_count(slide->dicom);
	gint64 w0 = 0, h0 = 0;

	for (int i = 0; i < n; i++) {
		LevelEntry e = { { 0 }, 0 };

		_sp_dicom_level_size(slide->dicom, i, &e.level.width,
			&e.level.height, &e.level.tile_width,
			&e.level.tile_height);
		if (i == 0) {
			w0 = e.level.width;
			h0 = e.level.height;
		}
		/* as OpenSlide: the mean of the two axes' ratios */
		e.level.downsample = ((double) w0 / e.level.width +
					     (double) h0 / e.level.height) /
			2;
		g_array_append_val(slide->levels, e);
	}
	slide->bands = _sp_dicom_bands(slide->dicom);
	slide->format = VIPS_FORMAT_UCHAR;
	double mx, my;
	if (_sp_dicom_mpp(slide->dicom, &mx, &my) && mpp_plausible(mx) &&
		mpp_plausible(my)) {
		slide->mpp_x = mx;
		slide->mpp_y = my;
		char buf[G_ASCII_DTOSTR_BUF_SIZE];
		set_property(slide, "openslide.mpp-x",
			g_ascii_dtostr(buf, sizeof(buf), mx));
		set_property(slide, "openslide.mpp-y",
			g_ascii_dtostr(buf, sizeof(buf), my));
	}
	slide->vendor = g_strdup("dicom");
	slide->associated = _sp_dicom_associated_names(slide->dicom);
	_sp_dicom_foreach_property(slide->dicom, dicom_property, slide);
	return TRUE;
}

SpDicom *
_sp_slide_get_dicom(SpSlide *slide)
{
	return slide->dicom;
}

/* The file starts like a TIFF or BigTIFF, either byte order. */
static gboolean
has_tiff_magic(const char *path)
{
	static const char *const magic[] = { "II*\0", "MM\0*", "II+\0",
		"MM\0+" };
	char head[4];
	FILE *f = fopen(path, "rb");
	gboolean yes = FALSE;

	if (!f)
		return FALSE;
	if (fread(head, 1, 4, f) == 4)
		for (guint i = 0; i < G_N_ELEMENTS(magic); i++)
			yes = yes || memcmp(head, magic[i], 4) == 0;
	fclose(f);
	return yes;
}

/* vips_foreign_find_load() returns loaders that vips_block_untrusted_set()
 * has blocked; loading then fails with only "operation is blocked"
 * (compat.h). */
static gboolean
loader_is_blocked(const char *loader)
{
	GType type = g_type_from_name(loader);
	VipsOperationClass *class;
	gboolean blocked;

	if (!SP_VIPS_FIND_LOAD_IGNORES_BLOCK)
		return FALSE;

	if (!type || !g_type_is_a(type, VIPS_TYPE_OPERATION))
		return FALSE;
	class = g_type_class_ref(type);
	blocked = (class->flags & VIPS_OPERATION_BLOCKED) != 0;
	g_type_class_unref(class);
	return blocked;
}

/* "openslideload" for "VipsForeignLoadOpenslideFile". */
static const char *
loader_nickname(const char *loader)
{
	GType type = g_type_from_name(loader);
	const char *nick = type ? vips_nickname_find(type) : NULL;

	return nick ? nick : loader;
}

/* OpenSlide copies every "key = value" of an Aperio description into a
 * property, and libvips' openslideload copies every property into the
 * image's metadata, which costs time quadratic in their number each time
 * a level or associated image is loaded (libvips 8.14 appends each to a
 * list: 40,000 keys took 74 s). Real descriptions have a few dozen keys:
 * a description with more than SP_APERIO_MAX_KEYS, or larger than
 * SP_APERIO_MAX_DESCRIPTION, is refused before OpenSlide reads it. */
static gboolean
check_aperio_description(TIFF *tiff, const char *path, GError **error)
{
	const char *desc = NULL;
	gboolean ok = TRUE;

	if (TIFFGetField(tiff, TIFFTAG_IMAGEDESCRIPTION, &desc) && desc &&
		g_str_has_prefix(desc, "Aperio")) {
		gsize len = strlen(desc);
		gsize keys = 0;

		for (const char *p = desc; (p = strchr(p, '|')); p++)
			keys++;
		if (len > SP_APERIO_MAX_DESCRIPTION ||
			keys > SP_APERIO_MAX_KEYS) {
			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				"load: '%s': its Aperio ImageDescription has %" G_GSIZE_FORMAT
				" fields in %" G_GSIZE_FORMAT
				" bytes; slidepipe reads at most "
				"%d fields and %d bytes (a damaged or hostile file?)",
				path, keys, len, SP_APERIO_MAX_KEYS,
				SP_APERIO_MAX_DESCRIPTION);
			ok = FALSE;
		}
	}
	return ok;
}

/* The first directory of a TIFF that OpenSlide would read, looked at once
 * with libtiff: its Aperio description is checked (above), and
 * *@subifd_levels says whether it keeps lower levels as SubIFDs (an
 * OME-TIFF pyramid), which slidepipe then reads level by level itself:
 * OpenSlide would see one level. */
static gboolean
probe_first_directory(const char *path, gboolean *subifd_levels, GError **error)
{
	TIFF *tiff = _sp_tiff_open(path, "rmO");
	guint16 n = 0;
	toff_t *offsets = NULL;
	gboolean ok;

	*subifd_levels = FALSE;
	if (!tiff)
		return TRUE; /* OpenSlide will say why */
	ok = check_aperio_description(tiff, path, error);
	*subifd_levels = TIFFGetField(tiff, TIFFTAG_SUBIFD, &n, &offsets) &&
		n > 0;
	TIFFClose(tiff);
	return ok;
}

SpSlide *
sp_slide_open(const char *path, GError **error)
{
	g_autoptr(SpSlide) slide = NULL;
	struct stat st;
	const char *loader;

	if (!_sp_ensure_init(error))
		return NULL;
	if (stat(path, &st) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"load: cannot open '%s': %s", path, g_strerror(err));
		return NULL;
	}
	if (S_ISDIR(st.st_mode) && !_sp_dicom_sniff(path)) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"load: cannot open '%s': it is a directory (and holds no "
			"DICOM files)",
			path);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"load: cannot open '%s': not a regular file", path);
		return NULL;
	}
	if (access(path, R_OK) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"load: cannot read '%s': %s", path, g_strerror(err));
		return NULL;
	}
	if (S_ISREG(st.st_mode) && st.st_size == 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"load: '%s' is empty, not an image", path);
		return NULL;
	}

	slide = g_new0(SpSlide, 1);
	slide->ref_count = 1;
	g_mutex_init(&slide->lock);
	slide->path = g_strdup(path);
	slide->levels = g_array_new(FALSE, TRUE, sizeof(LevelEntry));
	slide->page_offsets = g_array_new(FALSE, FALSE, sizeof(guint64));
	slide->properties = g_hash_table_new_full(g_str_hash, g_str_equal,
		g_free, g_free);

	if (S_ISDIR(st.st_mode) || _sp_dicom_is_file(path)) {
		slide->backend = BACKEND_DICOM;
		if (!open_dicom(slide, error))
			return NULL;
		loader = NULL;
		goto opened;
	}
	loader = vips_foreign_find_load(path);
	g_free(_sp_vips_error_take(NULL));
	/* A TIFF that libvips' tiffload refuses falls through to ImageMagick
	 * (magickload, priority -100), which libvips marks untrusted and
	 * whose errors drown libtiff's. slidepipe reads TIFFs with libtiff:
	 * keep them there, so a broken one gets libtiff's reason. */
	if (loader && g_str_has_prefix(loader, "VipsForeignLoadMagick") &&
		has_tiff_magic(path))
		loader = "VipsForeignLoadTiffFile";
	if (loader && loader_is_blocked(loader)) {
		g_autofree char *nick = g_strdup(loader_nickname(loader));
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"load: '%s' needs libvips' %s, a loader libvips marks "
			"untrusted, and untrusted loaders are blocked "
			"(--trusted-only or SLIDEPIPE_TRUSTED_ONLY)",
			path, nick);
		return NULL;
	}
	if (!loader) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"load: '%s' is not a slide or image that slidepipe can read "
			"(no OpenSlide or libvips loader recognises it)",
			path);
		return NULL;
	}
	if (g_str_has_prefix(loader, "VipsForeignLoadOpenslide") &&
		has_tiff_magic(path)) {
		gboolean subifd_levels;

		if (!probe_first_directory(path, &subifd_levels, error))
			return NULL;
		if (subifd_levels)
			loader = "VipsForeignLoadTiffFile";
	}
	if (g_str_has_prefix(loader, "VipsForeignLoadOpenslide")) {
		slide->backend = BACKEND_OPENSLIDE;
		if (!open_openslide(slide, error))
			return NULL;
	} else if (g_str_has_prefix(loader, "VipsForeignLoadTiff")) {
		slide->backend = BACKEND_TIFF;
		if (!open_tiff(slide, error))
			return NULL;
	} else {
		slide->backend = BACKEND_VIPS;
		if (!open_vips(slide, error))
			return NULL;
	}
opened:
	if (!format_kept(slide->format)) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"load: '%s' has %s samples; slidepipe reads 8-, 16- and "
			"32-bit integer and 32-bit float images",
			path, sp_format_name(slide->format));
		return NULL;
	}
	if (!slide->associated)
		slide->associated = g_new0(char *, 1);
	if (!slide->planes.pages) {
		/* one plane: the image itself */
		slide->planes.n_c = slide->planes.n_z = slide->planes.n_t = 1;
		slide->planes.pages = g_new0(int, 1);
		slide->planes.samples_per_channel = 1;
	}
	finish_property_names(slide);
	return g_steal_pointer(&slide);
}

SpSlide *
sp_slide_ref(SpSlide *slide)
{
	g_atomic_int_inc(&slide->ref_count);
	return slide;
}

void
sp_slide_unref(SpSlide *slide)
{
	if (!slide || !g_atomic_int_dec_and_test(&slide->ref_count))
		return;
	g_free(slide->path);
	g_free(slide->vendor);
	g_array_unref(slide->levels);
	g_array_unref(slide->page_offsets);
	g_hash_table_unref(slide->properties);
	g_strfreev(slide->property_names);
	g_strfreev(slide->associated);
	_sp_planes_clear(&slide->planes);
	_sp_slide_drop_readers(slide);
	_sp_dicom_unref(slide->dicom);
	g_mutex_clear(&slide->lock);
	g_free(slide);
}

void
_sp_slide_share_readers(SpSlide *slide, int pipelines)
{
	g_atomic_int_set(&slide->shared_readers, MAX(1, pipelines));
}

void
_sp_slide_drop_readers(SpSlide *slide)
{
	g_mutex_lock(&slide->lock);
	for (int i = 0; i < SP_SHARED_LEVELS; i++)
		g_clear_object(&slide->readers[i]);
	g_mutex_unlock(&slide->lock);
}

/* The shared reader of directory @page (@level), made on first use, as a
 * new reference; NULL with *@error unset when our reader cannot read the
 * directory (the caller goes to libvips' tiffload), NULL with *@error set
 * when it fails. The tiles the reader decodes, and its TIFF handles, then
 * serve every row of the slide rather than one. */
static VipsImage *
shared_tiff_reader(SpSlide *slide, int level, int page, int read_width,
	GError **error)
{
	VipsImage *image;

	/* one lock for making and sizing: rows starting together on a new
	 * level must not each open a reader */
	g_mutex_lock(&slide->lock);
	if (!(image = slide->readers[level]) &&
		_sp_tiffread_can_read(slide->path, page))
		image = slide->readers[level] = _sp_tiffread_new(slide->path,
			page, read_width, error);
	if (image) {
		_sp_tiffread_fit_cache(image, read_width,
			slide->shared_readers);
		g_object_ref(image);
	}
	g_mutex_unlock(&slide->lock);
	return image;
}

gboolean
_sp_slide_planes_have_levels(SpSlide *slide)
{
	for (guint i = 1; i < slide->levels->len; i++)
		if (g_array_index(slide->levels, LevelEntry, i).subifd == 0)
			return FALSE;
	return TRUE;
}

const SpPlanes *
_sp_slide_get_planes(SpSlide *slide)
{
	return &slide->planes;
}

VipsBandFormat
sp_slide_get_format(SpSlide *slide)
{
	return slide->format;
}

void
sp_slide_get_plane_sizes(SpSlide *slide, int *n_c, int *n_z, int *n_t)
{
	if (n_c)
		*n_c = slide->planes.n_c;
	if (n_z)
		*n_z = slide->planes.n_z;
	if (n_t)
		*n_t = slide->planes.n_t;
}

const char *
sp_slide_get_channel_name(SpSlide *slide, int c)
{
	if (c < 0 || c >= slide->planes.n_c || !slide->planes.names)
		return NULL;
	return slide->planes.names[c];
}

gboolean
sp_slide_get_channel_colour(SpSlide *slide, int c, guint8 rgb[3])
{
	gint64 colour;

	if (c < 0 || c >= slide->planes.n_c || !slide->planes.colours ||
		(colour = slide->planes.colours[c]) < 0)
		return FALSE;
	rgb[0] = (colour >> 24) & 0xff;
	rgb[1] = (colour >> 16) & 0xff;
	rgb[2] = (colour >> 8) & 0xff;
	return TRUE;
}

double
sp_slide_get_mpp_z(SpSlide *slide)
{
	return slide->planes.mpp_z;
}

const char *
sp_slide_get_path(SpSlide *slide)
{
	return slide->path;
}

const char *
sp_slide_get_vendor(SpSlide *slide)
{
	return slide->vendor;
}

int
sp_slide_get_bands(SpSlide *slide)
{
	return slide->bands ? slide->bands : 3;
}

int
sp_slide_get_level_count(SpSlide *slide)
{
	return slide->levels->len;
}

const SpLevel *
sp_slide_get_level(SpSlide *slide, int level)
{
	if (level < 0 || level >= (int) slide->levels->len)
		return NULL;
	return &g_array_index(slide->levels, LevelEntry, level).level;
}

gboolean
sp_slide_get_mpp(SpSlide *slide, double *mpp_x, double *mpp_y)
{
	if (mpp_x)
		*mpp_x = slide->mpp_x;
	if (mpp_y)
		*mpp_y = slide->mpp_y;
	return slide->mpp_x > 0;
}

const char *
sp_slide_get_property(SpSlide *slide, const char *name)
{
	return g_hash_table_lookup(slide->properties, name);
}

double
_sp_slide_objective_power(SpSlide *slide)
{
	double d;

	if (!_sp_parse_number(sp_slide_get_property(slide,
				      "openslide.objective-power"),
		    0, SP_MAX_OBJECTIVE_POWER, &d) ||
		d <= 0)
		return 0;
	return d;
}

const char *const *
sp_slide_get_property_names(SpSlide *slide)
{
	return (const char *const *) slide->property_names;
}

const char *const *
sp_slide_get_associated_names(SpSlide *slide)
{
	return (const char *const *) slide->associated;
}

gboolean
sp_slide_get_associated_size(SpSlide *slide, const char *name, int *width,
	int *height)
{
	VipsImage *image;

	if (!g_strv_contains((const char *const *) slide->associated, name))
		return FALSE;
	if (slide->dicom) {
		if (!(image = _sp_dicom_load(slide->dicom, 0, name, 0, NULL)))
			return FALSE;
	} else if (vips_openslideload(slide->path, &image, "associated", name, NULL)) {
		g_free(_sp_vips_error_take(NULL));
		return FALSE;
	}
	*width = image->Xsize;
	*height = image->Ysize;
	g_object_unref(image);
	return TRUE;
}

int
sp_slide_best_level_for_downsample(SpSlide *slide, double downsample)
{
	int best = 0;

	for (int i = 0; i < (int) slide->levels->len; i++) {
		double ds = g_array_index(slide->levels, LevelEntry, i)
				    .level.downsample;
		if (ds <= downsample * (1.0 + 1e-3))
			best = i;
	}
	return best;
}


/* Brings what a loader gives to 1 or 3 bands of the file's own sample
 * type (uint8, int8, uint16, int16, uint32, int32, float32: never
 * rescaled): alpha is flattened on white (the type's maximum), as
 * OpenSlide's readers composite, CMYK converted to sRGB, bands past the
 * third dropped. */
static VipsImage *
normalise(SpSlide *slide, VipsImage *in, GError **error)
{
	VipsImage *image = g_object_ref(in);
	VipsImage *t;
	VipsBandFormat format = in->BandFmt;

#define STEP(call) \
	do { \
		if (call) { \
			g_object_unref(image); \
			_sp_set_vips_error(error, "load", slide->path); \
			return NULL; \
		} \
		g_object_unref(image); \
		image = t; \
	} while (0)

	if (!format_kept(format)) {
		g_object_unref(image);
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"load: '%s' has %s samples; slidepipe reads 8-, 16- and "
			"32-bit integer and 32-bit float images",
			slide->path,
			vips_enum_nick(VIPS_TYPE_BAND_FORMAT, format));
		return NULL;
	}
	if (image->Type == VIPS_INTERPRETATION_CMYK && image->Bands >= 4) {
		STEP(vips_colourspace(image, &t, VIPS_INTERPRETATION_sRGB,
			NULL));
		format = image->BandFmt;
	}
	if (image->Bands == 4 || image->Bands == 2) {
		/* as libvips takes alpha: 65535 for 16-bit, else 255 */
		double max = format == VIPS_FORMAT_USHORT ||
				format == VIPS_FORMAT_SHORT ?
			65535 :
			255;
		double white[3];

		white[0] = white[1] = white[2] = max;
		VipsArrayDouble *bg = vips_array_double_new(white,
			image->Bands == 4 ? 3 : 1);
		int r = vips_flatten(image, &t, "background", bg, "max_alpha",
			max, NULL);
		vips_area_unref(VIPS_AREA(bg));
		STEP(r);
		/* flatten gives float: back to the file's type */
		if (image->BandFmt != format)
			STEP(vips_cast(image, &t, format, NULL));
	} else if (image->Bands > 4) {
		STEP(vips_extract_band(image, &t, 0, "n", 3, NULL));
	}
#undef STEP
	return image;
}

/* The directory of @plane at the level whose plane 0 is in directory
 * @level_page: level 0's planes are the plane table's; a lower level of
 * a plane other than the first exists only as a SubIFD of the plane's
 * directory (levels in the main chain belong to directory 0). */
static int
plane_page(SpSlide *slide, int plane, int level_page)
{
	int n = slide->planes.n_c * slide->planes.n_z * slide->planes.n_t;

	if (plane <= 0 || plane >= n)
		return level_page;
	return level_page == slide->planes.pages[0] ?
		slide->planes.pages[plane] :
		-1;
}

/* The TIFF directory of an OpenSlide-read @level that OpenSlide 3.4.1
 * decodes wrongly and slidepipe's reader reads right, or -1: OpenSlide
 * reads the level. OpenSlide decodes 3-sample JPEG and Aperio's JPEG 2000
 * itself and hands the rest to libtiff's RGBA interface, which gets a tile
 * wider than its image wrong; of those, the codecs libtiff itself decodes
 * for slidepipe's reader (grey JPEG, none, LZW, deflate) are taken. */
static int
rgba_decoded_page(SpSlide *slide, int level)
{
	SpTiffLayout l;
	int page = _sp_slide_tiff_page(slide, level);

	if (page < 0 || !_sp_tiff_layout(slide->path, page, &l) || !l.tiled ||
		(l.tile_width <= l.width && l.tile_height <= l.height))
		return -1;
	if (!((l.compression == COMPRESSION_JPEG && l.spp == 1) ||
		    l.compression == COMPRESSION_NONE ||
		    l.compression == COMPRESSION_LZW ||
		    l.compression == COMPRESSION_ADOBE_DEFLATE ||
		    l.compression == COMPRESSION_DEFLATE))
		return -1;
	return _sp_tiffread_can_read(slide->path, page) ? page : -1;
}

VipsImage *
_sp_slide_load(SpSlide *slide, int level, const char *associated,
	int read_width, GError **error)
{
	return _sp_slide_load_plane(slide, level, 0, associated, read_width,
		error);
}

VipsImage *
_sp_slide_load_plane(SpSlide *slide, int level, int plane,
	const char *associated, int read_width, GError **error)
{
	VipsImage *raw = NULL;
	VipsImage *t;
	int rgba_page;
	int r;

	if (slide->backend == BACKEND_DICOM) {
		raw = _sp_dicom_load(slide->dicom, level, associated,
			read_width > 0 ? read_width : G_MAXINT, error);
		if (!raw)
			return NULL;
		r = 0;
	} else if (associated) {
#if SP_VIPS_OPENSLIDE_ASSOCIATED_CRASHES
		/* openslideload(associated=) crashes (compat.h); the images
		 * attached to the slide's header are read whole and are fine */
		VipsImage *slide_image;
		g_autofree char *field =
			g_strdup_printf("openslide.associated.%s", associated);

		r = vips_openslideload(slide->path, &slide_image,
			"attach_associated", TRUE, NULL);
		if (!r) {
			r = vips_image_get_image(slide_image, field, &raw);
			g_object_unref(slide_image);
		}
#else
		r = vips_openslideload(slide->path, &raw, "associated",
			associated, NULL);
#endif
	} else if (slide->backend == BACKEND_OPENSLIDE &&
		(rgba_page = rgba_decoded_page(slide, level)) >= 0) {
		/* OpenSlide 3.4.1 decodes this level through libtiff's RGBA
		 * interface, which gets a tile wider than its image wrong
		 * (rows past the image's width come out white: a 65 px wide
		 * grey JPEG SVS that slidepipe wrote read back as stripes);
		 * slidepipe's reader reads the directory itself, and grey
		 * is repeated into RGB as OpenSlide gives it */
		raw = _sp_tiffread_new(slide->path, rgba_page,
			read_width > 0 ? read_width : G_MAXINT, error);
		if (!raw)
			return NULL;
		r = 0;
		if (raw->Bands == 1) {
			VipsImage *in[3] = { raw, raw, raw };
			VipsImage *rgb;

			r = vips_bandjoin(in, &rgb, 3, NULL) ||
				vips_copy(rgb, &t, "interpretation",
					VIPS_INTERPRETATION_sRGB, NULL);
			if (!r)
				g_object_unref(rgb);
			g_object_unref(raw);
			raw = r ? NULL : t;
		}
	} else if (slide->backend == BACKEND_OPENSLIDE)
		r = vips_openslideload(slide->path, &raw, "level", level, NULL);
	else if (slide->backend == BACKEND_TIFF &&
		g_array_index(slide->levels, LevelEntry, level).subifd > 0) {
		const LevelEntry *e = &g_array_index(slide->levels, LevelEntry,
			level);

		/* a SubIFD level: libvips' reader (slidepipe's walks the main
		 * chain of directories only) */
		r = vips_tiffload(slide->path, &raw, "page",
			plane_page(slide, plane, e->page), "subifd",
			e->subifd - 1, NULL);
	} else if (slide->backend == BACKEND_TIFF) {
		int level_page =
			g_array_index(slide->levels, LevelEntry, level).page;
		int page = plane_page(slide, plane, level_page);

		if (page < 0) {
			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				"load: '%s': level %d is stored for the first plane "
				"only; read level 0",
				slide->path, level);
			return NULL;
		}

		/* the shared readers are plane 0's */
		gboolean shared = g_atomic_int_get(&slide->shared_readers) >
				0 &&
			level < SP_SHARED_LEVELS && page == level_page;

		if (read_width <= 0)
			read_width = G_MAXINT;
		if (shared) {
			GError *shared_error = NULL;

			raw = shared_tiff_reader(slide, level, page, read_width,
				&shared_error);
			if (shared_error) {
				g_propagate_error(error, shared_error);
				return NULL;
			}
		}
		GError *local = NULL;

		/* uncompressed strips: rows read where they lie, nothing
		 * buffered (a stack's hundreds of pages); the directory is
		 * found by its offset, not by walking the chain */
		if (!raw && !shared && page < (int) slide->page_offsets->len)
			raw = _sp_stripread_new(slide->path,
				g_array_index(slide->page_offsets, guint64,
					page),
				&local);
		if (local) {
			g_propagate_error(error, local);
			return NULL;
		}
		if (raw)
			r = 0;
		else if (!shared && _sp_tiffread_can_read(slide->path, page)) {
			/* our reader: parallel decode, cache sized to the read */
			raw = _sp_tiffread_new(slide->path, page, read_width,
				error);
			if (!raw)
				return NULL;
			r = 0;
		} else
			r = vips_tiffload(slide->path, &raw, "page", page,
				NULL);
	} else {
		/* fail_on=truncated: a PNG or JPEG that ends early is an error,
		 * not an image whose missing rows are silently grey. It also
		 * stops the whole-image decode that random access does at the
		 * end of the data, instead of after filling a header's claimed
		 * size (a 50 KB JPEG that says 65500 × 65500 took minutes and
		 * a 12 GB temporary file). */
		raw = vips_image_new_from_file(slide->path, "access",
			VIPS_ACCESS_RANDOM, "fail_on", VIPS_FAIL_ON_TRUNCATED,
			NULL);
		r = raw ? 0 : -1;
	}
	if (r) {
		_sp_set_vips_error(error, "load", slide->path);
		return NULL;
	}
	VipsImage *out = normalise(slide, raw, error);
	g_object_unref(raw);
	return out;
}

int
_sp_slide_tiff_page(SpSlide *slide, int level)
{
	const SpLevel *l = sp_slide_get_level(slide, level);
	int found = -1;

	if (!l)
		return -1;
	if (slide->backend == BACKEND_TIFF) {
		const LevelEntry *e = &g_array_index(slide->levels, LevelEntry,
			level);

		/* a SubIFD is no directory of the main chain */
		return e->subifd > 0 ? -1 : e->page;
	}
	if (slide->backend != BACKEND_OPENSLIDE)
		return -1;

	/* a TIFF-based vendor format (Aperio SVS, generic TIFF): the tiled
	 * directory of the level's size */
	TIFF *tiff = _sp_tiff_open(slide->path, "rmO");
	if (tiff) {
		int page = 0;
		do {
			guint32 w = 0, h = 0;

			TIFFGetField(tiff, TIFFTAG_IMAGEWIDTH, &w);
			TIFFGetField(tiff, TIFFTAG_IMAGELENGTH, &h);
			if (TIFFIsTiled(tiff) && w == l->width &&
				h == l->height) {
				found = page;
				break;
			}
			page++;
		} while (page < 4096 && TIFFReadDirectory(tiff));
		TIFFClose(tiff);
	}
	return found;
}

/* The pixel of a level of downsample @ds where a region starting at
 * level-0 coordinate @c starts. Left of (or above) the slide,
 * openslide_read_region() moves the region's start to the slide's edge,
 * truncating -@c / @ds; inside, it paints the level at the fractional
 * position @c / @ds, interpolating: the nearest pixel comes closest. */
static gint64
region_origin(gint64 c, double ds)
{
	if (c < 0)
		return -(gint64) ((double) -c / ds);
	return (gint64) floor((double) c / ds + 0.5);
}

VipsImage *
sp_slide_read_region(SpSlide *slide, gint64 x, gint64 y, int level, int w,
	int h, gboolean alpha, GError **error)
{
	const SpLevel *l = sp_slide_get_level(slide, level);
	int bands = alpha ? 4 : 3;
	VipsImage *image, *t;

	if (!l) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"read_region: '%s' has %d level%s (0 … %d), not %d",
			slide->path, sp_slide_get_level_count(slide),
			sp_slide_get_level_count(slide) == 1 ? "" : "s",
			sp_slide_get_level_count(slide) - 1, level);
		return NULL;
	}
	if (w < 1 || h < 1 || w > SP_MAX_DIM || h > SP_MAX_DIM) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"read_region: size %d × %d (level %d px) of '%s' is out of "
			"range: 1 … %" G_GINT64_FORMAT " each",
			w, h, level, slide->path, SP_MAX_DIM);
		return NULL;
	}
	if (slide->format != VIPS_FORMAT_UCHAR) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"read_region: '%s' has %s samples; read_region gives "
			"8-bit RGBA (read it with load and cast instead)",
			slide->path, sp_format_name(slide->format));
		return NULL;
	}

	gint64 lx = region_origin(x, l->downsample);
	gint64 ly = region_origin(y, l->downsample);
	/* the part of the region inside the level */
	gint64 left = MAX(lx, 0), top = MAX(ly, 0);
	gint64 right = MIN(lx + w, l->width), bottom = MIN(ly + h, l->height);

#define STEP(call) \
	do { \
		if (call) { \
			g_object_unref(image); \
			_sp_set_vips_error(error, "read_region", slide->path); \
			return NULL; \
		} \
		g_object_unref(image); \
		image = t; \
	} while (0)

	if (right <= left || bottom <= top) {
		/* nothing of the slide: transparent black */
		if (vips_black(&image, w, h, "bands", bands, NULL)) {
			_sp_set_vips_error(error, "read_region", slide->path);
			return NULL;
		}
		STEP(vips_cast(image, &t, VIPS_FORMAT_UCHAR, NULL));
	} else {
		if (!(image = _sp_slide_load(slide, level, NULL,
			      (int) (right - left), error)))
			return NULL;
		/* the level image is the level's size; a file that lied about
		 * it is cut to what is there */
		right = MIN(right, image->Xsize);
		bottom = MIN(bottom, image->Ysize);
		if (right <= left || bottom <= top) {
			g_object_unref(image);
			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				"read_region: level %d of '%s' is %d × %d px, not "
				"the %" G_GINT64_FORMAT " × %" G_GINT64_FORMAT
				" its header says",
				level, slide->path, image->Xsize, image->Ysize,
				l->width, l->height);
			return NULL;
		}
		STEP(vips_extract_area(image, &t, (int) left, (int) top,
			(int) (right - left), (int) (bottom - top), NULL));
		if (image->Bands == 1) {
			VipsImage *grey[3] = { image, image, image };

			STEP(vips_bandjoin(grey, &t, 3, NULL));
		}
		if (alpha)
			STEP(vips_bandjoin_const1(image, &t, 255, NULL));
		/* outside the level: zero in every band, alpha too */
		if (image->Xsize != w || image->Ysize != h)
			STEP(vips_embed(image, &t, (int) (left - lx),
				(int) (top - ly), w, h, "extend",
				VIPS_EXTEND_BLACK, NULL));
	}
	STEP(vips_copy(image, &t, "interpretation", VIPS_INTERPRETATION_sRGB,
		NULL));
#undef STEP
	return image;
}
