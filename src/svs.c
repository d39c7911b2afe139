/* What save adds to a TIFF pyramid beyond pixels: the Aperio SVS layout
 * (format=svs), the metadata of a generic TIFF (format=generic) and the
 * embedded ICC profile of both.
 *
 * SVS, as OpenSlide's aperio reader walks it (3.4.1 and 4.x, read in
 * openslide-vendor-aperio.c): directory 0 is tiled and its
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
 * The thumbnail is made from the output region (at most 1024 px on the
 * long side, read from the smallest source level that resolves it); label
 * and macro are the source slide's own, decoded and stored losslessly, so
 * their pixels are the source's.
 *
 * Which source keys survive: an Aperio source's description is kept as
 * Aperio's own region export (ImageScope "extract region") keeps it: a
 * new first line gives the source's level-0 size and the region taken
 * from it ("W0xH0 [X,Y WxH] (TxT) -> OWxOH JPEG/RGB Q=q"), then ';' and
 * the source's first line; every key is kept as it was (Left/Top,
 * OriginalWidth/Height, StripeWidth, Date, ScanScope ID … describe the
 * scan, and with the region line they still hold), except MPP and AppMag,
 * rewritten for the output (× and ÷ the downsample), and "ICC Profile",
 * dropped unless the profile itself is kept. Non-Aperio sources get MPP
 * and AppMag (from openslide.objective-power) only. Nothing unknown is
 * invented: no mpp, no MPP key.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include <tiffio.h>

#include "sp-private.h"

#define THUMBNAIL_SIDE 1024
#define HEADER "Aperio Image Library slidepipe " PACKAGE_VERSION

typedef struct {
	VipsPel *pixels;      /* width × height × bands, or NULL: absent */
	size_t size;
	int width, height, bands;
} Picture;

struct _SpTiffMeta {
	SpPyramidExtras extras;
	SpTiffFlavour flavour;
	GBytes *icc;          /* embedded on level 0, or NULL */
	char *description0;   /* level 0's ImageDescription, or NULL */
	char *thumb_description;
	char *keys;           /* "|key = value…" shared by level 0 and thumb */
	int src_width, src_height; /* the source's level 0 */
	int tile, quality;
	Picture thumbnail, label, macro;
};

static char *
format_double(double d)
{
	char buf[G_ASCII_DTOSTR_BUF_SIZE];

	return g_strdup(g_ascii_formatd(buf, sizeof(buf), "%.10g", d));
}

/* AppMag after a downsample: an integer when it is one (OpenSlide 3.4.1
 * reports only integers as openslide.objective-power). The power is at
 * most SP_MAX_OBJECTIVE_POWER (_sp_slide_objective_power()), so the
 * rounded value fits an int. */
static char *
format_magnification(double m)
{
	if (fabs(m) < 1e9 && fabs(m - floor(m + 0.5)) < 1e-6)
		return g_strdup_printf("%d", (int) floor(m + 0.5));
	return format_double(m);
}

/* "|key = value" for each key the output keeps (see the top). */
static char *
svs_keys(SpNode *node, gboolean keep_icc_name, char **source_header)
{
	const SpGeometry *g = &node->geom;
	SpSlide *slide = node->slide;
	const char *desc = sp_slide_get_property(slide, "tiff.ImageDescription");
	double power = _sp_slide_objective_power(slide);
	g_autofree char *mpp = g->mpp_x > 0 ? format_double(g->mpp_x) : NULL;
	g_autofree char *mag = power > 0 ?
		format_magnification(power / g->downsample_x) :
		NULL;

	if (!desc || !g_str_has_prefix(desc, "Aperio") ||
		strcmp(sp_slide_get_vendor(slide), "aperio") != 0)
		desc = NULL;
	char *keys = _sp_aperio_keys(desc, mpp, mag, keep_icc_name,
		source_header);
	if (!desc)
		g_clear_pointer(source_header, g_free);
	return keys;
}

/* format=generic: what OpenSlide 3.4.1 can be made to show of a generic
 * TIFF is tiff.ImageDescription (and openslide.comment); 4.x adds mpp
 * from the resolution tags the writer sets. So the description lists the
 * output's mpp and magnification and the source's vendor properties, one
 * "name = value" a line. NULL when there is nothing to say. */
static char *
generic_description(SpNode *node)
{
	const SpGeometry *g = &node->geom;
	SpSlide *slide = node->slide;
	GString *s = g_string_new("slidepipe " PACKAGE_VERSION "\n");
	double power = _sp_slide_objective_power(slide);
	const char *const *names = sp_slide_get_property_names(slide);
	gsize bare = s->len;

	if (g->mpp_x > 0 && g->mpp_y > 0) {
		g_autofree char *x = format_double(g->mpp_x);
		g_autofree char *y = format_double(g->mpp_y);

		g_string_append_printf(s, "openslide.mpp-x = %s\n", x);
		g_string_append_printf(s, "openslide.mpp-y = %s\n", y);
	}
	if (power > 0) {
		g_autofree char *m = format_magnification(power / g->downsample_x);

		g_string_append_printf(s, "openslide.objective-power = %s\n", m);
	}
	gboolean vendor_keys = FALSE;
	for (int i = 0; names && names[i]; i++)
		if (!g_str_has_prefix(names[i], "openslide.") &&
			!g_str_has_prefix(names[i], "tiff."))
			vendor_keys = TRUE;
	if (s->len == bare && !vendor_keys) {
		g_string_free(s, TRUE);
		return NULL;
	}
	g_autofree char *base = g_path_get_basename(sp_slide_get_path(slide));
	g_string_append_printf(s, "slidepipe.source = %s\n", base);
	g_string_append_printf(s, "slidepipe.source-vendor = %s\n",
		sp_slide_get_vendor(slide));
	g_string_append_printf(s, "slidepipe.region = %.0f,%.0f %.0fx%.0f\n",
		g->x, g->y, g->w, g->h);
	/* then the source's own, unchanged */
	for (int i = 0; names && names[i]; i++) {
		/* the vendor's own keys: openslide.* and tiff.* describe the
		 * source file's layout, not the output's */
		if (g_str_has_prefix(names[i], "openslide.") ||
			g_str_has_prefix(names[i], "tiff."))
			continue;
		const char *v = sp_slide_get_property(slide, names[i]);

		_sp_append_flat(s, names[i], strlen(names[i]));
		g_string_append(s, " = ");
		_sp_append_flat(s, v, strlen(v));
		g_string_append_c(s, '\n');
	}
	return g_string_free(s, FALSE);
}

static gboolean
picture_from_image(VipsImage *image, Picture *p, GError **error)
{
	if (image->BandFmt != VIPS_FORMAT_UCHAR ||
		(image->Bands != 1 && image->Bands != 3)) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"save: an associated image is not 8-bit grey or RGB");
		return FALSE;
	}
	p->width = image->Xsize;
	p->height = image->Ysize;
	p->bands = image->Bands;
	if (!(p->pixels = vips_image_write_to_memory(image, &p->size))) {
		_sp_set_vips_error(error, "save", "an associated image");
		return FALSE;
	}
	return TRUE;
}

/* A stripped directory: JPEG (the thumbnail, as Aperio writes it) or
 * LZW with the horizontal predictor (label and macro: lossless). */
static gboolean
write_picture(TIFF *t, const Picture *p, guint32 subfiletype,
	gboolean jpeg, const char *description, char **why)
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
			TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
		}
		else
			TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
		TIFFSetField(t, TIFFTAG_JPEGQUALITY, 90);
	}
	else {
		TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_LZW);
		TIFFSetField(t, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL);
		TIFFSetField(t, TIFFTAG_PHOTOMETRIC, p->bands == 3 ?
				PHOTOMETRIC_RGB :
				PHOTOMETRIC_MINISBLACK);
	}
	for (int y = 0, strip = 0; y < p->height; y += rows, strip++) {
		int n = MIN(rows, p->height - y);

		/* libtiff may modify the buffer (predictor): a copy */
		g_autofree VipsPel *buf =
			g_memdup2(p->pixels + (size_t) y * row_bytes, n * row_bytes);
		if (TIFFWriteEncodedStrip(t, strip, buf, (tmsize_t) n * row_bytes) <
			0) {
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

static void
meta_tag(void *user, TIFF *t, int k, int width, int height)
{
	SpTiffMeta *m = user;

	if (k == 0) {
		if (m->description0)
			TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, m->description0);
		if (m->icc) {
			gsize n;
			const void *data = g_bytes_get_data(m->icc, &n);
			TIFFSetField(t, TIFFTAG_ICCPROFILE, (guint32) n, data);
		}
	}
	if (m->flavour != SP_TIFF_SVS)
		return;
	/* Aperio marks no directory as reduced-resolution */
	TIFFSetField(t, TIFFTAG_SUBFILETYPE, 0);
	if (k > 0) {
		g_autofree char *d = g_strdup_printf(HEADER "\r\n%dx%d (%dx%d) -> "
													"%dx%d JPEG/RGB",
			m->src_width, m->src_height, m->tile, m->tile, width, height);
		TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, d);
	}
}

static gboolean
meta_write_directories(void *user, TIFF *t, gboolean at_end, char **why)
{
	SpTiffMeta *m = user;

	if (m->flavour != SP_TIFF_SVS)
		return TRUE;
	if (!at_end)
		return !m->thumbnail.pixels ||
			write_picture(t, &m->thumbnail, 0, TRUE, m->thumb_description,
				why);
	if (m->label.pixels) {
		g_autofree char *d = g_strdup_printf(HEADER "\nlabel %dx%d",
			m->label.width, m->label.height);
		if (!write_picture(t, &m->label, 1, FALSE, d, why))
			return FALSE;
	}
	if (m->macro.pixels) {
		g_autofree char *d = g_strdup_printf(HEADER "\nmacro %dx%d",
			m->macro.width, m->macro.height);
		if (!write_picture(t, &m->macro, 9, FALSE, d, why))
			return FALSE;
	}
	return TRUE;
}

/* The source slide's associated image @name, if it has one. */
static gboolean
load_associated(SpSlide *slide, const char *name, Picture *p,
	GError **error)
{
	const char *const *names = sp_slide_get_associated_names(slide);
	VipsImage *image;
	gboolean ok;

	if (!names || !g_strv_contains(names, name))
		return TRUE;
	if (!(image = _sp_slide_load(slide, 0, name, 0, error))) {
		g_prefix_error(error, "save: format=svs: the %s image of '%s': ",
			name, sp_slide_get_path(slide));
		return FALSE;
	}
	ok = picture_from_image(image, p, error);
	g_object_unref(image);
	return ok;
}

SpTiffMeta *
_sp_tiff_meta_new(SpNode *node, SpTiffFlavour flavour, int tile,
	int quality, GBytes *icc, GBytes *srgb_from, gboolean associated,
	GError **error)
{
	SpTiffMeta *m = g_new0(SpTiffMeta, 1);
	const SpGeometry *g = &node->geom;
	const SpLevel *l0 = sp_slide_get_level(node->slide, 0);

	m->extras.tag = meta_tag;
	m->extras.write_directories = meta_write_directories;
	m->extras.user = m;
	m->flavour = flavour;
	m->icc = icc ? g_bytes_ref(icc) : NULL;
	m->tile = tile;
	m->quality = quality;
	m->src_width = l0 ? (int) l0->width : g->width;
	m->src_height = l0 ? (int) l0->height : g->height;

	if (flavour == SP_TIFF_GENERIC) {
		m->description0 = generic_description(node);
		return m;
	}

	g_autofree char *src_header = NULL;
	m->keys = svs_keys(node, icc != NULL, &src_header);
	g_autofree char *scaled = g->width != (int) floor(g->w + 0.5) ||
			g->height != (int) floor(g->h + 0.5) ?
		g_strdup_printf(" -> %dx%d", g->width, g->height) :
		g_strdup("");
	g_autofree char *q = quality > 0 ? g_strdup_printf(" Q=%d", quality) :
									   g_strdup("");
	m->description0 = g_strdup_printf(HEADER "\r\n%dx%d [%.0f,%.0f %.0fx%.0f] "
											 "(%dx%d)%s JPEG/RGB%s%s%s%s",
		m->src_width, m->src_height, g->x, g->y, g->w, g->h, tile, tile,
		scaled, q, src_header ? ";" : "", src_header ? src_header : "",
		m->keys);

	/* the thumbnail, from the output region */
	VipsImage *view = _sp_node_low_res_view(node->input, THUMBNAIL_SIDE,
		NULL, error);
	if (view && srgb_from) {
		VipsImage *converted = _sp_icc_to_srgb(view, srgb_from, error);
		g_object_unref(view);
		view = converted;
	}
	if (!view || !picture_from_image(view, &m->thumbnail, error)) {
		if (view)
			g_object_unref(view);
		_sp_tiff_meta_free(m);
		return NULL;
	}
	g_object_unref(view);
	m->thumb_description = g_strdup_printf(HEADER "\r\n%dx%d -> %dx%d - %s",
		g->width, g->height, m->thumbnail.width, m->thumbnail.height,
		m->keys);

	if (associated && (!load_associated(node->slide, "label", &m->label,
							  error) ||
						  !load_associated(node->slide, "macro", &m->macro,
							  error))) {
		_sp_tiff_meta_free(m);
		return NULL;
	}
	return m;
}

const SpPyramidExtras *
_sp_tiff_meta_extras(SpTiffMeta *meta)
{
	return meta ? &meta->extras : NULL;
}

const char *
_sp_tiff_meta_description(SpTiffMeta *meta)
{
	return meta ? meta->description0 : NULL;
}

void
_sp_tiff_meta_free(SpTiffMeta *meta)
{
	if (!meta)
		return;
	if (meta->icc)
		g_bytes_unref(meta->icc);
	g_free(meta->description0);
	g_free(meta->thumb_description);
	g_free(meta->keys);
	g_free(meta->thumbnail.pixels);
	g_free(meta->label.pixels);
	g_free(meta->macro.pixels);
	g_free(meta);
}
