/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Planes of a TIFF: the channels, z planes and time points a multi-page
 * TIFF or an OME-TIFF stores one per directory, and which directory holds
 * each.
 *
 * OME-TIFF: the OME-XML in the first directory's ImageDescription gives,
 * per Image (a "series"), its Pixels' SizeC/SizeZ/SizeT, DimensionOrder,
 * Type, PhysicalSizeX/Y/Z, the Channels' Name and Color, and TiffData
 * elements mapping planes to directories (IFD, FirstC/FirstZ/FirstT,
 * PlaneCount), as the OME-TIFF specification describes them
 * (https://ome-model.readthedocs.io/en/stable/ome-tiff/specification.html).
 * Planes a TiffData does not place follow the DimensionOrder from the
 * TiffData's first plane, as Bio-Formats and tifffile read them. Only
 * planes of this file are read (TiffData naming another file's UUID is
 * not followed).
 *
 * Plain multi-page TIFF: the directories of the main chain that have the
 * first one's size and samples and are not reduced-resolution subfiles
 * are z planes, in file order (an ImageJ or tifffile stack).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sp-private.h"

/* one <TiffData> */
typedef struct {
	int ifd;
	int first_c, first_z, first_t;
	int plane_count; /* 0: not given */
	gboolean other_file;
} TiffData;

typedef struct {
	int series; /* the Image wanted */
	int image; /* Images seen so far - 1 */
	gboolean in_image, in_pixels, in_uuid;
	SpPlanes *planes;
	GArray *tiffdata; /* TiffData of the wanted Image */
	GPtrArray *names; /* char * (nullable) */
	GArray *colours; /* gint64: -1 none, else 0xRRGGBBAA */
	char *order;
	gboolean found;
} OmeParse;

static const char *
local_name(const char *name)
{
	const char *colon = strrchr(name, ':');

	return colon ? colon + 1 : name;
}

static gboolean
attr_int(const char **names, const char **values, const char *name, gint64 *out)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(local_name(names[i]), name) == 0) {
			char *end;
			gint64 v = g_ascii_strtoll(values[i], &end, 10);

			if (end == values[i] || *end)
				return FALSE;
			*out = v;
			return TRUE;
		}
	return FALSE;
}

static const char *
attr(const char **names, const char **values, const char *name)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(local_name(names[i]), name) == 0)
			return values[i];
	return NULL;
}

/* a length in µm from an OME length and its unit (default µm) */
static double
length_um(const char *value, const char *unit)
{
	double v;
	char *end;

	if (!value)
		return 0;
	v = g_ascii_strtod(value, &end);
	if (end == value || *end || !isfinite(v) || v <= 0)
		return 0;
	if (!unit || strcmp(unit, "µm") == 0 || strcmp(unit, "um") == 0)
		return v;
	if (strcmp(unit, "nm") == 0)
		return v / 1000;
	if (strcmp(unit, "mm") == 0)
		return v * 1000;
	if (strcmp(unit, "cm") == 0)
		return v * 10000;
	if (strcmp(unit, "m") == 0)
		return v * 1e6;
	return 0;
}

static void
ome_start(GMarkupParseContext *context, const char *element, const char **names,
	const char **values, gpointer user_data, GError **error)
{
	OmeParse *p = user_data;
	const char *name = local_name(element);
	gint64 v;

	if (strcmp(name, "Image") == 0) {
		p->image++;
		p->in_image = p->image == p->series;
		return;
	}
	if (!p->in_image)
		return;
	if (strcmp(name, "Pixels") == 0) {
		SpPlanes *pl = p->planes;
		const char *s;

		p->in_pixels = TRUE;
		p->found = TRUE;
		pl->n_c = attr_int(names, values, "SizeC", &v) ? (int) v : 1;
		pl->n_z = attr_int(names, values, "SizeZ", &v) ? (int) v : 1;
		pl->n_t = attr_int(names, values, "SizeT", &v) ? (int) v : 1;
		pl->width = attr_int(names, values, "SizeX", &v) ? v : 0;
		pl->height = attr_int(names, values, "SizeY", &v) ? v : 0;
		s = attr(names, values, "DimensionOrder");
		p->order = g_strdup(s ? s : "XYCZT");
		pl->mpp_x = length_um(attr(names, values, "PhysicalSizeX"),
			attr(names, values, "PhysicalSizeXUnit"));
		pl->mpp_y = length_um(attr(names, values, "PhysicalSizeY"),
			attr(names, values, "PhysicalSizeYUnit"));
		pl->mpp_z = length_um(attr(names, values, "PhysicalSizeZ"),
			attr(names, values, "PhysicalSizeZUnit"));
		return;
	}
	if (!p->in_pixels)
		return;
	if (strcmp(name, "Channel") == 0) {
		const char *n = attr(names, values, "Name");
		gint64 colour = -1;

		if (attr_int(names, values, "Color", &v))
			colour = (guint32) (gint32) v;
		g_ptr_array_add(p->names, g_strdup(n));
		g_array_append_val(p->colours, colour);
		/* an RGB image: one Channel of 3 samples per pixel */
		if (attr_int(names, values, "SamplesPerPixel", &v) && v > 1)
			p->planes->samples_per_channel = (int) v;
	} else if (strcmp(name, "TiffData") == 0) {
		TiffData td = { 0 };

		td.ifd = attr_int(names, values, "IFD", &v) ? (int) v : 0;
		td.first_c = attr_int(names, values, "FirstC", &v) ? (int) v :
								     0;
		td.first_z = attr_int(names, values, "FirstZ", &v) ? (int) v :
								     0;
		td.first_t = attr_int(names, values, "FirstT", &v) ? (int) v :
								     0;
		td.plane_count = attr_int(names, values, "PlaneCount", &v) ?
			(int) v :
			0;
		g_array_append_val(p->tiffdata, td);
	} else if (strcmp(name, "UUID") == 0) {
		const char *file = attr(names, values, "FileName");

		/* a plane of another file of a multi-file set */
		if (file && p->tiffdata->len > 0)
			p->in_uuid = TRUE;
	}
}

static void
ome_end(GMarkupParseContext *context, const char *element, gpointer user_data,
	GError **error)
{
	OmeParse *p = user_data;
	const char *name = local_name(element);

	if (strcmp(name, "Image") == 0)
		p->in_image = FALSE;
	else if (strcmp(name, "Pixels") == 0)
		p->in_pixels = FALSE;
	else if (strcmp(name, "UUID") == 0)
		p->in_uuid = FALSE;
}

static void
ome_text(GMarkupParseContext *context, const char *text, gsize len,
	gpointer user_data, GError **error)
{
	/* UUID text is the file's UUID; which file is in FileName, and a
	 * set of files is not read, so nothing here */
}

/* The plane index of (c, z, t) for the DimensionOrder's plane number @k,
 * counted from (c0, z0, t0). */
static void
order_step(const char *order, int n_c, int n_z, int n_t, int k, int *c, int *z,
	int *t)
{
	int sizes[3], *out[3];

	/* order is "XY" and the three others, fastest first */
	for (int i = 0; i < 3; i++) {
		char a = strlen(order) == 5 ? order[2 + i] : "CZT"[i];

		sizes[i] = a == 'C' ? n_c : a == 'Z' ? n_z : n_t;
		out[i] = a == 'C' ? c : a == 'Z' ? z : t;
	}
	/* add k to the mixed-radix number (out[0], out[1], out[2]) */
	for (int i = 0; i < 3; i++) {
		int v = *out[i] + k;

		*out[i] = v % sizes[i];
		k = v / sizes[i];
	}
}

static gboolean
order_valid(const char *order)
{
	return strlen(order) == 5 && order[0] == 'X' && order[1] == 'Y' &&
		strchr(order + 2, 'C') && strchr(order + 2, 'Z') &&
		strchr(order + 2, 'T');
}

gboolean
_sp_planes_from_ome(const char *xml, int series, int n_pages, SpPlanes *planes,
	GError **error)
{
	OmeParse p = { 0 };
	GMarkupParser parser = { ome_start, ome_end, ome_text, NULL, NULL };
	GMarkupParseContext *context;
	GError *local = NULL;
	gboolean ok;

	memset(planes, 0, sizeof(*planes));
	p.series = series;
	p.image = -1;
	p.planes = planes;
	p.tiffdata = g_array_new(FALSE, TRUE, sizeof(TiffData));
	p.names = g_ptr_array_new_with_free_func(g_free);
	p.colours = g_array_new(FALSE, TRUE, sizeof(gint64));
	context = g_markup_parse_context_new(&parser, 0, &p, NULL);
	ok = g_markup_parse_context_parse(context, xml, -1, &local) &&
		g_markup_parse_context_end_parse(context, &local);
	g_markup_parse_context_free(context);

	if (!ok) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"its OME-XML cannot be parsed: %s", local->message);
		g_error_free(local);
		goto fail;
	}
	if (!p.found) {
		if (series > 0 && p.image >= 0)
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"argument 'series': it has %d series (0 … %d), not %d",
				p.image + 1, p.image, series);
		else
			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				"its OME-XML has no Image with Pixels");
		goto fail;
	}
	if (!order_valid(p.order)) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"its OME-XML DimensionOrder '%s' is not XY followed by C, "
			"Z and T",
			p.order);
		goto fail;
	}
	if (planes->samples_per_channel < 1)
		planes->samples_per_channel = 1;
	/* an RGB Image lists one Channel of 3 samples for SizeC="3" */
	if (planes->samples_per_channel > 1 &&
		planes->n_c % planes->samples_per_channel == 0)
		planes->n_c /= planes->samples_per_channel;
	if (planes->n_c < 1 || planes->n_z < 1 || planes->n_t < 1 ||
		(gint64) planes->n_c * planes->n_z * planes->n_t > 1 << 20) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"its OME-XML sizes C %d × Z %d × T %d are out of range",
			planes->n_c, planes->n_z, planes->n_t);
		goto fail;
	}

	int n = planes->n_c * planes->n_z * planes->n_t;
	planes->pages = g_new(int, n);
	for (int i = 0; i < n; i++)
		planes->pages[i] = -1;
	if (p.tiffdata->len == 0) {
		/* no TiffData: the planes in order from directory 0 */
		TiffData td = { 0 };
		g_array_append_val(p.tiffdata, td);
	}
	for (guint i = 0; i < p.tiffdata->len; i++) {
		const TiffData *td = &g_array_index(p.tiffdata, TiffData, i);
		int count = td->plane_count > 0 ? td->plane_count :
			p.tiffdata->len == 1    ? n :
						  1;

		if (td->first_c < 0 || td->first_c >= planes->n_c ||
			td->first_z < 0 || td->first_z >= planes->n_z ||
			td->first_t < 0 || td->first_t >= planes->n_t ||
			td->ifd < 0) {
			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				"its OME-XML TiffData %u places a plane outside "
				"C %d × Z %d × T %d",
				i, planes->n_c, planes->n_z, planes->n_t);
			goto fail;
		}
		for (int k = 0; k < count && k < n; k++) {
			int c = td->first_c, z = td->first_z, t = td->first_t;

			order_step(p.order, planes->n_c, planes->n_z,
				planes->n_t, k, &c, &z, &t);
			planes->pages[c + planes->n_c * (z + planes->n_z * t)] =
				td->ifd + k;
		}
	}
	for (int i = 0; i < n; i++)
		if (planes->pages[i] < 0 || planes->pages[i] >= n_pages) {
			int c = i % planes->n_c;
			int z = i / planes->n_c % planes->n_z;
			int t = i / planes->n_c / planes->n_z;

			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				planes->pages[i] < 0 ?
					"its OME-XML places no directory for plane "
					"c=%d z=%d t=%d" :
					"its OME-XML places plane c=%d z=%d t=%d in "
					"directory %d, and the file has %d",
				c, z, t, planes->pages[i], n_pages);
			goto fail;
		}
	planes->names = g_new0(char *, planes->n_c + 1);
	planes->colours = g_new(gint64, planes->n_c);
	for (int c = 0; c < planes->n_c; c++) {
		planes->names[c] = c < (int) p.names->len ?
			g_strdup(g_ptr_array_index(p.names, c)) :
			NULL;
		planes->colours[c] = c < (int) p.colours->len ?
			g_array_index(p.colours, gint64, c) :
			-1;
	}
	planes->ome = TRUE;
	g_free(p.order);
	g_array_unref(p.tiffdata);
	g_ptr_array_unref(p.names);
	g_array_unref(p.colours);
	return TRUE;

fail:
	g_free(p.order);
	g_array_unref(p.tiffdata);
	g_ptr_array_unref(p.names);
	g_array_unref(p.colours);
	_sp_planes_clear(planes);
	return FALSE;
}

void
_sp_planes_clear(SpPlanes *planes)
{
	g_free(planes->pages);
	if (planes->names)
		for (int c = 0; c < planes->n_c; c++)
			g_free(planes->names[c]);
	g_free(planes->names);
	g_free(planes->colours);
	memset(planes, 0, sizeof(*planes));
}

gboolean
_sp_plane_selection_parse(const char *text, int size, GArray *out,
	GError **error)
{
	g_auto(GStrv) parts = NULL;

	g_array_set_size(out, 0);
	if (!text || strcmp(text, "all") == 0) {
		for (int i = 0; i < size; i++)
			g_array_append_val(out, i);
		return TRUE;
	}
	parts = g_strsplit(text, ",", -1);
	for (int i = 0; parts[i]; i++) {
		const char *s = parts[i];
		char *end;
		gint64 a, b;

		a = g_ascii_strtoll(s, &end, 10);
		if (end == s || a < 0 || (*end && *end != '-'))
			goto bad;
		b = a;
		if (*end == '-') {
			const char *s2 = end + 1;
			b = g_ascii_strtoll(s2, &end, 10);
			if (end == s2 || *end || b < a)
				goto bad;
		}
		if (b >= size) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%" G_GINT64_FORMAT
				" is out of range: there %s %d "
				"(0 … %d)",
				b, size == 1 ? "is" : "are", size, size - 1);
			return FALSE;
		}
		for (gint64 v = a; v <= b; v++) {
			int iv = (int) v;
			g_array_append_val(out, iv);
		}
		if (out->len > 1 << 20)
			goto bad;
	}
	if (out->len == 0)
		goto bad;
	return TRUE;

bad:
	g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
		"'%s' is not a selection (give N, A-B, A,B,… or all)", text);
	return FALSE;
}
