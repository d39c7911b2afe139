/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* save's TIFF layouts (format=, associated=, icc=): their checks, the
 * pixels they change, and what each layout's metadata says, built from
 * the slide and the region. src/writer/tiff-layout.c writes it.
 *
 * Which source keys an SVS keeps: an Aperio source's description is kept
 * as Aperio's own region export (ImageScope "extract region") keeps it: a
 * new first line gives the source's level-0 size and the region taken
 * from it ("W0xH0 [X,Y WxH] (TxT) -> OWxOH JPEG/RGB Q=q"), then ';' and
 * the source's first line; every key is kept as it was (Left/Top,
 * OriginalWidth/Height, StripeWidth, Date, ScanScope ID … describe the
 * scan, and with the region line they still hold), except MPP and AppMag,
 * rewritten for the output (× and ÷ the downsample), and "ICC Profile",
 * dropped unless the profile itself is kept. Non-Aperio sources get MPP
 * and AppMag (from openslide.objective-power) only. Nothing unknown is
 * invented: no mpp, no MPP key. The thumbnail is made from the output
 * region (at most 1024 px on the long side, read from the smallest source
 * level that resolves it); label and macro are the source slide's own,
 * decoded and stored losslessly, so their pixels are the source's.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "save-layout.h"

#define THUMBNAIL_SIDE 1024
#define SVS_HEADER "Aperio Image Library slidepipe " PACKAGE_VERSION

SpTiffFlavour
_sp_save_flavour(const SaveArgs *args)
{
	const char *format = args->format;
	g_autofree char *lower = g_ascii_strdown(args->path, -1);

	if (format && strcmp(format, "svs") == 0)
		return SP_TIFF_SVS;
	if (format && strcmp(format, "ome") == 0)
		return SP_TIFF_OME;
	if (format && (strcmp(format, "generic") == 0 ||
			      strcmp(format, "dicom") == 0))
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
	if (_sp_chain_source(node)->source_associated)
		return NULL;
	return sp_slide_get_icc_profile(node->slide);
}

static gboolean
icc_is(const SaveArgs *args, const char *mode)
{
	return strcmp(args->icc, mode) == 0;
}

gboolean
_sp_save_plan_layout(SpNode *node, const SaveArgs *args,
	const char **compression, GError **error)
{
	const char *path = args->path;
	SpTiffFlavour flavour = _sp_save_flavour(args);
	const char *c = *compression;
	gboolean copy = c && strcmp(c, "copy") == 0;

	gboolean dicom = args->format && strcmp(args->format, "dicom") == 0;
	if (args->associated_set && flavour != SP_TIFF_SVS && !dicom) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: argument 'associated' applies to format=svs and "
			"format=dicom only ('%s')",
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
	if (icc_is(args, "srgb") && c && (copy || strcmp(c, "auto") == 0)) {
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
_sp_save_pixels(SpNode *node, const SaveArgs *args, VipsImage *in,
	GError **error)
{
	g_autoptr(GBytes) icc = NULL;

	if (!icc_is(args, "srgb") || !(icc = source_profile(node)))
		return g_object_ref(in);
	return _sp_icc_to_srgb(in, icc, error);
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
	return _sp_format_double(m);
}

/* "|key = value" for each key the output keeps (see the top). */
static char *
svs_keys(SpNode *node, gboolean keep_icc_name, char **source_header)
{
	const SpGeometry *g = &node->geom;
	SpSlide *slide = node->slide;
	const char *desc = sp_slide_get_property(slide,
		"tiff.ImageDescription");
	double power = _sp_slide_objective_power(slide);
	g_autofree char *mpp = g->mpp_x > 0 ? _sp_format_double(g->mpp_x) :
					      NULL;
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
		g_autofree char *x = _sp_format_double(g->mpp_x);
		g_autofree char *y = _sp_format_double(g->mpp_y);

		g_string_append_printf(s, "openslide.mpp-x = %s\n", x);
		g_string_append_printf(s, "openslide.mpp-y = %s\n", y);
	}
	if (power > 0) {
		g_autofree char *m = format_magnification(
			power / g->downsample_x);

		g_string_append_printf(s, "openslide.objective-power = %s\n",
			m);
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

/* The OME-XML (2016-06 schema) of save @node's output, @width × @height
 * × @bands uchar, interleaved: PhysicalSizeX/Y in µm when the mpp is
 * known, the objective's NominalMagnification (÷ the downsample) when
 * the source has one. libvips writes the pyramid itself (tiffsave with
 * subifd: levels as SubIFDs of the first directory), the layout
 * Bio-Formats and QuPath read as a pyramid; OpenSlide (3.4.1 and 4.x)
 * reads such a file as generic TIFF and never walks SubIFDs, so it sees
 * one level. */
static char *
ome_xml(SpNode *node, int width, int height, int bands)
{
	const SpGeometry *g = &node->geom;
	GString *s = g_string_new(NULL);
	double power = _sp_slide_objective_power(node->slide);
	g_autofree char *base = g_path_get_basename(
		sp_slide_get_path(node->slide));
	g_autofree char *name = g_markup_escape_text(base, -1);
	int n_c = MAX(1, g->n_c), n_z = MAX(1, g->n_z), n_t = MAX(1, g->n_t);
	GPtrArray *names = node->channel_names;
	GArray *colours = node->channel_colours;

	g_string_append(s,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<OME xmlns=\"http://www.openmicroscopy.org/Schemas/OME/2016-06\" "
		"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
		"xsi:schemaLocation=\"http://www.openmicroscopy.org/Schemas/OME/"
		"2016-06 http://www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd\" "
		"Creator=\"slidepipe " PACKAGE_VERSION "\">\n");
	if (power > 0) {
		g_autofree char *m = _sp_format_double(power / g->downsample_x);
		g_string_append_printf(s,
			"<Instrument ID=\"Instrument:0\"><Objective ID=\"Objective:0\" "
			"NominalMagnification=\"%s\"/></Instrument>\n",
			m);
	}
	g_string_append_printf(s, "<Image ID=\"Image:0\" Name=\"%s\">\n", name);
	if (power > 0)
		g_string_append(s,
			"<InstrumentRef ID=\"Instrument:0\"/>"
			"<ObjectiveSettings ID=\"Objective:0\"/>\n");
	/* planes in the order save writes them: c fastest, then z, then t;
	 * an RGB plane is one Channel of 3 samples */
	g_string_append_printf(s,
		"<Pixels ID=\"Pixels:0\" DimensionOrder=\"XYCZT\" Type=\"%s\" "
		"SizeX=\"%d\" SizeY=\"%d\" SizeC=\"%d\" SizeZ=\"%d\" "
		"SizeT=\"%d\" Interleaved=\"true\"",
		sp_format_name(g->format), width, height, n_c * bands, n_z,
		n_t);
	if (g->mpp_x > 0 && g->mpp_y > 0) {
		g_autofree char *x = _sp_format_double(g->mpp_x);
		g_autofree char *y = _sp_format_double(g->mpp_y);
		g_string_append_printf(s,
			" PhysicalSizeX=\"%s\" PhysicalSizeXUnit=\"\302\265m\""
			" PhysicalSizeY=\"%s\" PhysicalSizeYUnit=\"\302\265m\"",
			x, y);
	}
	if (node->mpp_z > 0 && n_z > 1) {
		g_autofree char *z = _sp_format_double(node->mpp_z);
		g_string_append_printf(s,
			" PhysicalSizeZ=\"%s\" PhysicalSizeZUnit=\"\302\265m\"",
			z);
	}
	g_string_append(s, ">\n");
	for (int c = 0; c < n_c; c++) {
		const char *cname = names && c < (int) names->len ?
			g_ptr_array_index(names, c) :
			NULL;
		gint64 colour = colours && c < (int) colours->len ?
			g_array_index(colours, gint64, c) :
			-1;

		g_string_append_printf(s,
			"<Channel ID=\"Channel:0:%d\" SamplesPerPixel=\"%d\"",
			c, bands);
		if (cname) {
			g_autofree char *e = g_markup_escape_text(cname, -1);
			g_string_append_printf(s, " Name=\"%s\"", e);
		}
		if (colour >= 0)
			g_string_append_printf(s, " Color=\"%d\"",
				(gint32) (guint32) colour);
		g_string_append(s, "><LightPath/></Channel>\n");
	}
	g_string_append_printf(s,
		"<TiffData IFD=\"0\" PlaneCount=\"%d\"/>\n</Pixels>\n"
		"</Image>\n</OME>\n",
		n_c * n_z * n_t);
	return g_string_free(s, FALSE);
}

static gboolean
picture_from_image(VipsImage *image, SpPicture *p, GError **error)
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

gboolean
_sp_save_associated(SpSlide *slide, const char *name, SpPicture *p,
	const char *format, GError **error)
{
	const char *const *names = sp_slide_get_associated_names(slide);
	VipsImage *image;
	gboolean ok;

	if (!names || !g_strv_contains(names, name))
		return TRUE;
	if (!(image = _sp_slide_load(slide, 0, name, 0, error))) {
		g_prefix_error(error,
			"save: format=%s: the %s image of '%s': ", format, name,
			sp_slide_get_path(slide));
		return FALSE;
	}
	ok = picture_from_image(image, p, error);
	g_object_unref(image);
	return ok;
}

SpTiffMeta *
_sp_save_meta(SpNode *node, const SaveArgs *args, SpTiffFlavour flavour,
	int tile, int quality, int bands, GError **error)
{
	SpTiffMeta *m = g_new0(SpTiffMeta, 1);
	const SpGeometry *g = &node->geom;
	const SpLevel *l0 = sp_slide_get_level(node->slide, 0);
	g_autoptr(GBytes) profile = icc_is(args, "drop") ? NULL :
							   source_profile(node);
	GBytes *icc = icc_is(args, "keep") ? profile : NULL;
	GBytes *srgb_from = icc_is(args, "srgb") ? profile : NULL;

	m->flavour = flavour;
	m->icc = icc ? g_bytes_ref(icc) : NULL;
	m->src_width = l0 ? (int) l0->width : g->width;
	m->src_height = l0 ? (int) l0->height : g->height;

	if (flavour == SP_TIFF_GENERIC) {
		m->description = generic_description(node);
		return m;
	}
	if (flavour == SP_TIFF_OME) {
		m->description = ome_xml(node, g->width, g->height, bands);
		return m;
	}

	g_autofree char *src_header = NULL;
	g_autofree char *keys = svs_keys(node, icc != NULL, &src_header);
	g_autofree char *scaled = g->width != (int) floor(g->w + 0.5) ||
			g->height != (int) floor(g->h + 0.5) ?
		g_strdup_printf(" -> %dx%d", g->width, g->height) :
		g_strdup("");
	g_autofree char *q = quality > 0 ? g_strdup_printf(" Q=%d", quality) :
					   g_strdup("");
	m->description = g_strdup_printf(SVS_HEADER
		"\r\n%dx%d [%.0f,%.0f %.0fx%.0f] "
		"(%dx%d)%s JPEG/RGB%s%s%s%s",
		m->src_width, m->src_height, g->x, g->y, g->w, g->h, tile, tile,
		scaled, q, src_header ? ";" : "", src_header ? src_header : "",
		keys);

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
	m->thumb_description = g_strdup_printf(SVS_HEADER
		"\r\n%dx%d -> %dx%d - %s",
		g->width, g->height, m->thumbnail.width, m->thumbnail.height,
		keys);

	if (strcmp(args->associated, "keep") == 0 &&
		(!_sp_save_associated(node->slide, "label", &m->label, "svs",
			 error) ||
			!_sp_save_associated(node->slide, "macro", &m->macro, "svs",
				error))) {
		_sp_tiff_meta_free(m);
		return NULL;
	}
	return m;
}
