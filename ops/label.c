/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* label: the connected components of a mask and their measurements, in
 * one streaming pass (src/label.c), written as CSV and GeoJSON or handed
 * to a C callback.
 *
 * The mask (band 0) and the intensity image (the other bands) are joined
 * and pulled through vips_sink_disc(), which computes strips on every
 * libvips worker and delivers them on one thread, top to bottom; rows go
 * to the labeler as they come and objects come out as soon as they end.
 * Outputs are written as objects come, into hidden temporary files that
 * are renamed when the run succeeds.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "label.h"
#include "sp-private.h"

typedef struct {
	char *objects;
	char *geojson;
	int connectivity;
	char *intensity;
	double min_area;
	gboolean fill_holes;
	double max_hole;
} SpLabelArgs;

static const SpArgInfo label_args[] = {
	{ "objects", SP_ARG_PATH, NULL, NULL, 0, 0, NULL, 0, FALSE,
		"CSV file: a header line, then one row per object (the columns "
		"are listed above)",
		SP_ARG_FIELD(SpLabelArgs, objects) },
	{ "geojson", SP_ARG_PATH, NULL, NULL, 0, 0, NULL, -1, FALSE,
		"GeoJSON file: a FeatureCollection of the objects' outlines "
		"(polygons in level-0 pixels) with their measurements, which "
		"QuPath imports as detections",
		SP_ARG_FIELD(SpLabelArgs, geojson) },
	{ "connectivity", SP_ARG_INT, NULL, "8", 4, 8, NULL, -1, FALSE,
		"8: pixels touching at a corner are one object; 4: only pixels "
		"sharing an edge",
		SP_ARG_FIELD(SpLabelArgs, connectivity) },
	{ "intensity", SP_ARG_STRING, NULL, "source", 0, 0, NULL, -1, FALSE,
		"what the mean, min and max columns measure: source (the "
		"pipeline's source pixels, at the mask's level and region), none, "
		"an image file or a pipeline (such as 'load S.svs ! crop …') "
		"giving an image of the mask's size",
		SP_ARG_FIELD(SpLabelArgs, intensity) },
	{ "min-area", SP_ARG_DOUBLE, "px", "0", 0, 1e15, NULL, -1, FALSE,
		"drop objects of fewer mask pixels (remove small objects); they "
		"take no id",
		SP_ARG_FIELD(SpLabelArgs, min_area) },
	{ "fill-holes", SP_ARG_BOOL, NULL, "false", 0, 0, NULL, -1, FALSE,
		"fill each object's holes: background components (4-connected for "
		"8-connected objects, 8- for 4-) that touch no edge of the mask "
		"and border that object only join it in every measurement and "
		"its outline",
		SP_ARG_FIELD(SpLabelArgs, fill_holes) },
	{ "max-hole", SP_ARG_DOUBLE, "px", NULL, 0, 1e15, NULL, -1, FALSE,
		"with fill-holes: fill only holes of at most this many mask "
		"pixels (default: any size)",
		SP_ARG_FIELD(SpLabelArgs, max_hole) },
};

typedef struct {
	SpNode *intensity; /* intensity= a file or pipeline: its last node */
	gboolean no_intensity; /* intensity=none */
	int bands; /* intensity bands */
	/* sp_label_foreach() */
	gboolean foreach;
	SpObjectFunc func;
	void *func_data;
} LabelState;

/* Whether outputs @a and @b are one file: the same path, or the same
 * name in the same directory. */
static gboolean
same_output(SpGraph *graph, const char *a, const char *b)
{
	g_autofree char *na = _sp_path_normalize(a);
	g_autofree char *nb = _sp_path_normalize(b);
	struct stat da, db, fa, fb;
	gboolean ha, hb;

	if (strcmp(na, nb) == 0)
		return TRUE;
	if (!_sp_output_lookup(graph, a, &da, &fa, &ha) ||
		!_sp_output_lookup(graph, b, &db, &fb, &hb))
		return FALSE;
	if (ha && hb && fa.st_dev == fb.st_dev && fa.st_ino == fb.st_ino)
		return TRUE;
	g_autofree char *ba = g_path_get_basename(a);
	g_autofree char *bb = g_path_get_basename(b);
	return strcmp(ba, bb) == 0 && da.st_dev == db.st_dev &&
		da.st_ino == db.st_ino;
}

static gboolean
plan_intensity(SpNode *node, LabelState *state, GError **error)
{
	const SpLabelArgs *args = node->args;
	const char *text = args->intensity;
	const SpGeometry *mask = &node->input->geom;
	g_auto(GStrv) words = NULL;

	if (strcmp(text, "none") == 0) {
		state->no_intensity = TRUE;
		return TRUE;
	}
	if (strcmp(text, "source") == 0) {
		SpNode *source = _sp_chain_source(node->input);

		state->bands = source->geom.bands;
		return TRUE;
	}
	if (g_file_test(text, G_FILE_TEST_IS_REGULAR)) {
		words = g_new0(char *, 3);
		words[0] = g_strdup("load");
		words[1] = g_strdup(text);
	} else if (!g_shell_parse_argv(text, NULL, &words, NULL) || !words[0] ||
		!sp_op_lookup(words[0])) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"label: argument 'intensity': '%s' is neither source, none, an "
			"existing file nor a pipeline (such as 'load SLIDE')",
			text);
		return FALSE;
	}
	GError *local = NULL;
	SpNode *m = sp_pipeline_parse(node->graph, (const char *const *) words,
		&local);
	if (!m) {
		g_set_error(error, SP_ERROR, local->code,
			"label: argument 'intensity': %s", local->message);
		g_error_free(local);
		return FALSE;
	}
	if (m->op->kind == SP_OP_SINK) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"label: argument 'intensity': the pipeline must end with an "
			"image, not with '%s'",
			m->op->name);
		return FALSE;
	}
	if (m->geom.width != mask->width || m->geom.height != mask->height) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"label: argument 'intensity': '%s' is %d × %d pixels and the "
			"mask %d × %d; they must match pixel for pixel",
			text, m->geom.width, m->geom.height, mask->width,
			mask->height);
		return FALSE;
	}
	state->intensity = m;
	state->bands = m->geom.bands;
	return TRUE;
}

static gboolean
label_plan(SpNode *node, GError **error)
{
	const SpLabelArgs *args = node->args;
	const SpGeometry *g = &node->input->geom;
	LabelState *state = node->priv;
	const char *outputs[2] = { args->objects, args->geojson };
	const char *names[2] = { "objects", "geojson" };

	if (!state)
		node->priv = state = g_new0(LabelState, 1);
	if (g->bands != 1) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"label: the input has %d bands, and label needs a 1-band mask "
			"(nonzero = object): end the chain with a threshold",
			g->bands);
		return FALSE;
	}
	if (_sp_node_given(node, &args->max_hole) && !args->fill_holes) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"label: argument 'max-hole' needs fill-holes");
		return FALSE;
	}
	if (args->connectivity != 4 && args->connectivity != 8) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"label: argument 'connectivity': %d is neither 4 nor 8",
			args->connectivity);
		return FALSE;
	}
	if (!state->foreach && !args->objects && !args->geojson) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"label: nothing to write: give objects=FILE.csv, "
			"geojson=FILE.geojson or both");
		return FALSE;
	}
	if (args->objects && args->geojson &&
		same_output(node->graph, args->objects, args->geojson)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"label: arguments 'objects' and 'geojson' name the same file "
			"'%s'",
			args->objects);
		return FALSE;
	}
	if (!plan_intensity(node, state, error))
		return FALSE;
	if (state->bands > SP_LABEL_MAX_BANDS) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"label: argument 'intensity': %d bands, at most %d are "
			"measured",
			state->bands, SP_LABEL_MAX_BANDS);
		return FALSE;
	}
	for (int i = 0; i < 2; i++)
		if (outputs[i] &&
			(!_sp_check_not_an_input(node, names[i], outputs[i],
				 error) ||
				!_sp_check_output_path(node->graph, "label",
					outputs[i], error)))
			return FALSE;

	SpPlan p;
	sp_node_get_plan(node->input, &p);
	g_autofree char *level = p.level < 0 ?
		g_strdup("the associated image") :
		g_strdup_printf("level %d", p.level);
	node->report = g_strdup_printf("label: plan: %d-connected objects of a "
				       "%d × %d mask at downsample %g (read "
				       "from %s), intensity: %s",
		args->connectivity, g->width, g->height, g->downsample_x, level,
		state->no_intensity      ? "none" :
			state->intensity ? args->intensity :
					   "the source's pixels");
	return TRUE;
}

/* ------------------------------------------------------------------ */
/* Running                                                              */

/* An output written as objects come: a buffer flushed to the temporary
 * file now and then. */
typedef struct {
	const char *path; /* NULL: not written */
	SpAtomicFile *af;
	int fd;
	GString *buf;
	guint64 items;
} Output;

/* Flushed when this full. */
#define OUTPUT_BUFFER (1 << 20)

typedef struct {
	SpNode *node;
	LabelState *state;
	const SpGeometry *g; /* the mask's */
	SpLabeler *labeler;
	Output csv, json;
	int bands;
	double min_area;
	double mpp0_x, mpp0_y; /* µm per level-0 pixel, 0 when unknown */
	guint64 objects, dropped, at_edge;
	gint64 covered; /* mask pixels in objects */
	int height;
	SpLabelOutline outline;
	GError *error;
} Run;

static gboolean
output_flush(Output *out, gsize at_least, GError **error)
{
	const char *p = out->buf->str;
	gsize left = out->buf->len;

	if (!out->path || left < at_least)
		return TRUE;
	while (left > 0) {
		ssize_t n = write(out->fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : ENOSPC;
			g_set_error(error, SP_ERROR, SP_ERROR_IO,
				"label: cannot write '%s': %s", out->path,
				g_strerror(err));
			return FALSE;
		}
		p += n;
		left -= n;
	}
	g_string_truncate(out->buf, 0);
	return TRUE;
}

static gboolean
output_open(Run *run, Output *out, const char *path, GError **error)
{
	out->path = path;
	out->buf = g_string_sized_new(OUTPUT_BUFFER + 65536);
	if (!path)
		return TRUE;
	if (!(out->af = _sp_atomic_file_new(run->node->graph, "label", path,
		      error)))
		return FALSE;
	out->fd = _sp_atomic_file_fd(out->af);
	return TRUE;
}

static void
output_abort(Output *out)
{
	if (out->af)
		_sp_atomic_file_abort(out->af);
	out->af = NULL;
}

static void
output_clear(Output *out)
{
	output_abort(out);
	if (out->buf)
		g_string_free(out->buf, TRUE);
	out->buf = NULL;
}

static gboolean
output_commit(Output *out, GError **error)
{
	if (!out->path)
		return TRUE;
	if (!output_flush(out, 0, error))
		return FALSE;
	SpAtomicFile *af = out->af;
	out->af = NULL;
	return _sp_atomic_file_commit(af, error);
}

/* A number: %.15g, whatever the locale; nothing for NaN. */
static void
add_number(GString *s, double v)
{
	char buf[G_ASCII_DTOSTR_BUF_SIZE];

	if (isnan(v))
		return;
	g_string_append(s, g_ascii_formatd(buf, sizeof(buf), "%.15g", v));
}

static const char *const rgb_names[] = { "r", "g", "b" };

/* The suffix of band @b's intensity columns: "" for one band, r, g, b
 * for three, the band's number otherwise. */
static void
band_suffix(char *buf, gsize size, int bands, int b)
{
	if (bands == 1)
		buf[0] = '\0';
	else if (bands == 3)
		g_snprintf(buf, size, "_%s", rgb_names[b]);
	else
		g_snprintf(buf, size, "_%d", b);
}

/* The measurements, in the CSV's column order (the GeoJSON's too, those
 * that are numbers). */
typedef struct {
	const char *name;
	double value;
} Measure;

static int
object_measures(const Run *run, const SpObject *o, Measure *m)
{
	int n = 0;
	double nan = NAN;
	double mpp0x = run->mpp0_x, mpp0y = run->mpp0_y;
	gboolean um = mpp0x > 0 && mpp0y > 0;

#define M(NAME, VALUE) \
	do { \
		m[n].name = NAME; \
		m[n].value = (VALUE); \
		n++; \
	} while (0)
	M("id", (double) o->id);
	M("area_px", (double) o->area);
	M("area_um2", o->area_um2);
	M("centroid_x", o->centroid_x);
	M("centroid_y", o->centroid_y);
	M("centroid_x_um", o->centroid_x_um);
	M("centroid_y_um", o->centroid_y_um);
	M("bbox_x", o->bbox_x);
	M("bbox_y", o->bbox_y);
	M("bbox_w", o->bbox_w);
	M("bbox_h", o->bbox_h);
	M("bbox_x_um", um ? o->bbox_x * mpp0x : nan);
	M("bbox_y_um", um ? o->bbox_y * mpp0y : nan);
	M("bbox_w_um", um ? o->bbox_w * mpp0x : nan);
	M("bbox_h_um", um ? o->bbox_h * mpp0y : nan);
	M("perimeter_px", o->perimeter);
	M("perimeter_um", o->perimeter_um);
	M("major_axis_px", o->major_axis);
	M("minor_axis_px", o->minor_axis);
	M("eccentricity", o->eccentricity);
	M("orientation", o->orientation);
	M("edge", o->edge ? 1 : 0);
#undef M
	return n;
}

static void
csv_header(Run *run)
{
	GString *s = run->csv.buf;
	Measure m[32];
	SpObject dummy = { 0 };
	int n = object_measures(run, &dummy, m);

	for (int i = 0; i < n; i++)
		g_string_append_printf(s, "%s%s", i ? "," : "", m[i].name);
	for (int b = 0; b < run->bands; b++) {
		char sfx[16];

		band_suffix(sfx, sizeof(sfx), run->bands, b);
		g_string_append_printf(s, ",mean%s,min%s,max%s", sfx, sfx, sfx);
	}
	g_string_append_c(s, '\n');
}

static void
csv_row(Run *run, const SpObject *o)
{
	GString *s = run->csv.buf;
	Measure m[32];
	int n = object_measures(run, o, m);

	for (int i = 0; i < n; i++) {
		if (i)
			g_string_append_c(s, ',');
		add_number(s, m[i].value);
	}
	for (int b = 0; b < o->bands; b++) {
		g_string_append_c(s, ',');
		add_number(s, o->mean[b]);
		g_string_append_c(s, ',');
		add_number(s, o->min[b]);
		g_string_append_c(s, ',');
		add_number(s, o->max[b]);
	}
	g_string_append_c(s, '\n');
}

/* The object's outline as a GeoJSON geometry, in level-0 pixels,
 * flushed ring by ring (a giant object's outline runs to hundreds of
 * MB). FALSE with run->error when writing fails. */
static gboolean
json_geometry(Run *run, const SpObject *o, GString *s)
{
	SpLabelOutline *out = &run->outline;
	const int *xy, *rings, *polys;
	int n_polys, v = 0, r = 0;
	char bx[G_ASCII_DTOSTR_BUF_SIZE], by[G_ASCII_DTOSTR_BUF_SIZE];

	_sp_label_outline((const SpLabelRun *) o->runs, o->n_runs, out);
	xy = (const int *) out->xy->data;
	rings = (const int *) out->ring_sizes->data;
	polys = (const int *) out->polygon_sizes->data;
	n_polys = out->polygon_sizes->len;
	g_string_append_printf(s, "{\"type\":\"%s\",\"coordinates\":%s",
		n_polys == 1 ? "Polygon" : "MultiPolygon",
		n_polys == 1 ? "" : "[");
	for (int p = 0; p < n_polys; p++) {
		g_string_append(s, p ? ",[" : "[");
		for (int k = 0; k < polys[p]; k++, r++) {
			int first = v;

			g_string_append(s, k ? ",[" : "[");
			/* closed: the first vertex again at the end */
			for (int i = 0; i <= rings[r]; i++) {
				int j = i < rings[r] ? v + i : first;

				g_string_append_printf(s, "%s[%s,%s]",
					i ? "," : "",
					g_ascii_formatd(bx, sizeof(bx), "%.15g",
						o->x +
							xy[2 * j] *
								o->downsample_x),
					g_ascii_formatd(by, sizeof(by), "%.15g",
						o->y +
							xy[2 * j + 1] *
								o->downsample_y));
			}
			v += rings[r];
			g_string_append_c(s, ']');
			if (!output_flush(&run->json, OUTPUT_BUFFER,
				    &run->error)) {
				_sp_label_outline_clear(out);
				return FALSE;
			}
		}
		g_string_append_c(s, ']');
	}
	g_string_append(s, n_polys == 1 ? "}" : "]}");
	_sp_label_outline_clear(out);
	return TRUE;
}

static gboolean
json_feature(Run *run, const SpObject *o)
{
	GString *s = run->json.buf;
	Measure m[32];
	int n = object_measures(run, o, m);

	g_string_append(s, run->json.items++ ? ",\n" : "\n");
	g_string_append(s, "{\"type\":\"Feature\",\"geometry\":");
	if (!json_geometry(run, o, s))
		return FALSE;
	g_string_append(s,
		",\"properties\":{\"objectType\":\"detection\","
		"\"measurements\":{");
	gboolean first = TRUE;
	for (int i = 0; i < n; i++) {
		if (isnan(m[i].value))
			continue;
		g_string_append_printf(s, "%s\"%s\":", first ? "" : ",",
			m[i].name);
		add_number(s, m[i].value);
		first = FALSE;
	}
	for (int b = 0; b < o->bands; b++) {
		char sfx[16];

		band_suffix(sfx, sizeof(sfx), o->bands, b);
		g_string_append_printf(s, ",\"mean%s\":", sfx);
		add_number(s, o->mean[b]);
		g_string_append_printf(s, ",\"min%s\":", sfx);
		add_number(s, o->min[b]);
		g_string_append_printf(s, ",\"max%s\":", sfx);
		add_number(s, o->max[b]);
	}
	g_string_append(s, "}}}");
	return TRUE;
}

/* An object from the labeler (mask pixels) as the public SpObject. */
static void
object_from_label(Run *run, const SpLabelObject *l, SpObject *o)
{
	const SpGeometry *g = run->g;
	double dx = g->downsample_x, dy = g->downsample_y;
	gboolean um = run->mpp0_x > 0 && run->mpp0_y > 0;

	memset(o, 0, sizeof(*o));
	o->area = l->area;
	o->x = g->x;
	o->y = g->y;
	o->downsample_x = dx;
	o->downsample_y = dy;
	o->centroid_x = g->x + (l->cx + 0.5) * dx;
	o->centroid_y = g->y + (l->cy + 0.5) * dy;
	o->bbox_x = g->x + l->x0 * dx;
	o->bbox_y = g->y + l->y0 * dy;
	o->bbox_w = (l->x1 - l->x0 + 1) * dx;
	o->bbox_h = (l->y1 - l->y0 + 1) * dy;
	o->perimeter = l->perimeter;
	o->major_axis = l->major_axis;
	o->minor_axis = l->minor_axis;
	o->eccentricity = l->eccentricity;
	o->orientation = l->orientation;
	o->edge = l->edge;
	o->area_um2 = um ? l->area * g->mpp_x * g->mpp_y : NAN;
	o->centroid_x_um = um ? o->centroid_x * run->mpp0_x : NAN;
	o->centroid_y_um = um ? o->centroid_y * run->mpp0_y : NAN;
	o->perimeter_um = um ? l->perimeter * g->mpp_x : NAN;
	o->bands = l->bands;
	for (int b = 0; b < l->bands; b++) {
		o->mean[b] = l->mean[b];
		o->min[b] = l->min[b];
		o->max[b] = l->max[b];
	}
	/* the same layout */
	G_STATIC_ASSERT(sizeof(SpObjectRun) == sizeof(SpLabelRun));
	o->runs = (const SpObjectRun *) l->runs;
	o->n_runs = l->n_runs;
}

static gboolean
on_object(const SpLabelObject *l, void *data)
{
	Run *run = data;
	LabelState *state = run->state;
	SpObject o;

	if ((double) l->area < run->min_area) {
		run->dropped++;
		return TRUE;
	}
	object_from_label(run, l, &o);
	o.id = ++run->objects;
	run->covered += l->area;
	run->at_edge += l->edge;
	if (state->func) {
		GError *error = NULL;

		if (!state->func(&o, state->func_data, &error)) {
			if (!error)
				g_set_error(&error, SP_ERROR, SP_ERROR_FAILED,
					"label: the object callback stopped the run at "
					"object %" G_GUINT64_FORMAT,
					o.id);
			run->error = error;
			return FALSE;
		}
	}
	if (run->csv.path) {
		csv_row(run, &o);
		if (!output_flush(&run->csv, OUTPUT_BUFFER, &run->error))
			return FALSE;
	}
	if (run->json.path) {
		if (!json_feature(run, &o) ||
			!output_flush(&run->json, OUTPUT_BUFFER, &run->error))
			return FALSE;
	}
	return TRUE;
}

static int
sink_rows(VipsRegion *region, VipsRect *area, void *a)
{
	Run *run = a;

	for (int y = area->top; y < VIPS_RECT_BOTTOM(area); y++)
		if (!_sp_labeler_push(run->labeler,
			    VIPS_REGION_ADDR(region, area->left, y)))
			return -1;
	_sp_node_progress(run->node,
		(int) (100.0 * VIPS_RECT_BOTTOM(area) / run->height));
	return 0;
}

/* The mask (0/1 or any uchar) and the intensity bands, joined. */
static VipsImage *
label_pixels(SpNode *node, VipsImage *in, GError **error)
{
	LabelState *state = node->priv;
	const char *what = node->slide ? sp_slide_get_path(node->slide) :
					 "mask";
	VipsImage *mask, *intensity = NULL, *out, *t;

	if (in->BandFmt == VIPS_FORMAT_UCHAR)
		mask = g_object_ref(in);
	else if (vips_notequal_const1(in, &mask, 0, NULL)) {
		_sp_set_vips_error(error, "label", what);
		return NULL;
	}
	if (state->no_intensity)
		return mask;
	if (state->intensity) {
		if (!(t = sp_node_get_image(state->intensity, error))) {
			g_object_unref(mask);
			return NULL;
		}
		intensity = g_object_ref(t);
	} else if (!(intensity = _sp_source_view(node->input, error))) {
		g_object_unref(mask);
		return NULL;
	}
	if (intensity->BandFmt != VIPS_FORMAT_UCHAR) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"label: argument 'intensity': its pixels are not 8-bit");
		g_object_unref(intensity);
		g_object_unref(mask);
		return NULL;
	}
	int r = vips_bandjoin2(mask, intensity, &out, NULL);
	g_object_unref(intensity);
	g_object_unref(mask);
	if (r) {
		_sp_set_vips_error(error, "label", what);
		return NULL;
	}
	return out;
}

static gboolean
label_execute(SpNode *node, VipsImage *in, GError **error)
{
	LabelState *state = node->priv;
	const SpLabelArgs *args = node->args;
	const SpGeometry *g = &node->input->geom;
	Run run = { 0 };
	VipsImage *pixels;
	gboolean ok = FALSE;

	run.node = node;
	run.state = state;
	run.g = g;
	run.min_area = args->min_area;
	run.height = g->height;
	if (g->mpp_x > 0 && g->mpp_y > 0) {
		run.mpp0_x = g->mpp_x / g->downsample_x;
		run.mpp0_y = g->mpp_y / g->downsample_y;
	}
	if (!(pixels = label_pixels(node, in, error)))
		return FALSE;
	run.bands = pixels->Bands - 1;
	if (!output_open(&run, &run.csv, args->objects, error) ||
		!output_open(&run, &run.json, args->geojson, error))
		goto done;
	if (run.csv.path)
		csv_header(&run);
	if (run.json.path)
		g_string_append(run.json.buf,
			"{\"type\":\"FeatureCollection\",\"features\":[");
	run.labeler = _sp_labeler_new(g->width, g->height, args->connectivity,
		run.bands, run.json.path || state->func, on_object, &run);
	if (args->fill_holes)
		_sp_labeler_fill_holes(run.labeler,
			_sp_node_given(node, &args->max_hole) ?
				(gint64) floor(args->max_hole) :
				-1);

	if (vips_sink_disc(pixels, sink_rows, &run)) {
		/* stopped by an object (its error is set) or a read failure */
		if (run.error)
			g_free(_sp_vips_error_take(NULL));
		else
			_sp_set_vips_error(&run.error, "label",
				node->slide ? sp_slide_get_path(node->slide) :
					      "mask");
		goto done;
	}
	if (!_sp_labeler_finish(run.labeler)) {
		if (!run.error)
			g_set_error(&run.error, SP_ERROR, SP_ERROR_FAILED,
				"label: the mask ended early");
		goto done;
	}
	if (run.json.path)
		g_string_append(run.json.buf, "\n]}\n");
	if (!output_commit(&run.csv, &run.error) ||
		!output_commit(&run.json, &run.error))
		goto done;
	ok = TRUE;

	g_clear_pointer(&node->report, g_free);
	gint64 total = (gint64) g->width * g->height;
	GString *s = g_string_new(NULL);
	g_string_append_printf(s,
		"label: %" G_GUINT64_FORMAT " object%s (%" G_GUINT64_FORMAT
		" touching the edge",
		run.objects, run.objects == 1 ? "" : "s", run.at_edge);
	if (run.dropped)
		g_string_append_printf(s,
			", %" G_GUINT64_FORMAT " smaller than min-area dropped",
			run.dropped);
	g_string_append_printf(s,
		") covering %" G_GINT64_FORMAT " px, %.4g %% of the %d × %d "
		"mask",
		run.covered, total > 0 ? 100.0 * run.covered / total : 0.0,
		g->width, g->height);
	if (g->mpp_x > 0 && g->mpp_y > 0)
		g_string_append_printf(s, " (%.6g mm²)",
			run.covered * g->mpp_x * g->mpp_y * 1e-6);
	if (run.csv.path || run.json.path)
		g_string_append_printf(s, ", written to %s%s%s",
			run.csv.path ? run.csv.path : "",
			run.csv.path && run.json.path ? " and " : "",
			run.json.path ? run.json.path : "");
	node->report = g_string_free(s, FALSE);

done:
	if (!ok) {
		output_abort(&run.csv);
		output_abort(&run.json);
		if (run.error)
			g_propagate_error(error, run.error);
		else if (error && !*error)
			g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
				"label: failed");
	}
	output_clear(&run.csv);
	output_clear(&run.json);
	_sp_labeler_free(run.labeler);
	g_object_unref(pixels);
	return ok;
}

static gboolean
label_run(SpNode *node, VipsImage *in, GError **error)
{
	return label_execute(node, in, error);
}

const SpOpInfo _sp_op_label = {
	.name = "label",
	.summary = "find the objects of a mask and measure them",
	.description =
		"Labels the connected components of a 1-band mask (nonzero = "
		"object; end the chain with a threshold) in one streaming pass "
		"over its rows, with memory that grows with the mask's width "
		"and the number of objects open at once, not with its area, and "
		"writes one CSV row and/or one GeoJSON feature per object. "
		"Columns: id (1, 2, … in the order objects end: by last row, then "
		"left to right), area_px (mask pixels, at the level read), "
		"area_um2, centroid_x, centroid_y (level-0 pixels: the centroid "
		"of the object's pixel squares, region origin + (mean column + "
		"0.5) × downsample) and _um, bbox_x, bbox_y, bbox_w, bbox_h "
		"(level-0 pixels, outer edges of the pixels) and _um, "
		"perimeter_px (scikit-image's perimeter(neighbourhood=4) of the "
		"object's own pixels, Benkrid & Crookes' estimator, in mask "
		"pixels) and perimeter_um, major_axis_px, minor_axis_px, "
		"eccentricity and orientation (radians; scikit-image 0.19 "
		"regionprops' conventions, from exact second moments), edge (1 "
		"when the object touches the mask's edge, so a crop or the "
		"slide's border may cut it), then mean, min and max of each "
		"intensity band (_r, _g, _b for RGB). µm columns are empty when "
		"the slide has no mpp. The GeoJSON is a FeatureCollection of "
		"Polygons (MultiPolygons when parts touch only at a corner) "
		"tracing the pixel edges in level-0 pixels, holes as interior "
		"rings, with properties {\"objectType\": \"detection\", "
		"\"measurements\": {…}}, which QuPath imports as detections. "
		"A 3-band input is refused. Both files are written atomically.",
	.kind = SP_OP_SINK,
	.any_format = TRUE,
	.role = SP_ROLE_SINK,
	.args = label_args,
	.n_args = G_N_ELEMENTS(label_args),
	.args_size = sizeof(SpLabelArgs),
	.plan = label_plan,
	.run = label_run,
	.free_priv = g_free,
};

SpNode *
sp_label(SpNode *in, GError **error, ...)
{
	SpNode *node;
	va_list ap;

	if (!(node = _sp_node_begin(in ? in->graph : NULL, &_sp_op_label, in,
		      error)))
		return NULL;
	va_start(ap, error);
	node = _sp_node_end(node, TRUE, error, ap);
	va_end(ap);
	return node;
}

/* A label node that hands its objects to @func, its arguments not yet
 * set (_sp_node_end() finishes it); %NULL with @error. */
static SpNode *
foreach_begin(SpNode *in, SpObjectFunc func, void *user_data, GError **error)
{
	SpNode *node;
	LabelState *state;

	if (!(node = _sp_node_begin(in ? in->graph : NULL, &_sp_op_label, in,
		      error)))
		return NULL;
	node->priv = state = g_new0(LabelState, 1);
	state->foreach = TRUE;
	state->func = func;
	state->func_data = user_data;
	return node;
}

/* Runs a finished foreach node (%NULL: it failed), then drops it. */
static gboolean
foreach_run(SpNode *node, GError **error)
{
	gboolean ok;

	if (!node)
		return FALSE;
	VipsImage *image = sp_node_get_image(node->input, error);
	ok = image && label_execute(node, image, error);
	_sp_node_discard(node);
	return ok;
}

gboolean
sp_label_foreach(SpNode *in, SpObjectFunc func, void *user_data, GError **error,
	...)
{
	SpNode *node;
	va_list ap;

	g_return_val_if_fail(func != NULL, FALSE);
	if (!(node = foreach_begin(in, func, user_data, error)))
		return FALSE;
	va_start(ap, error);
	node = _sp_node_end(node, TRUE, error, ap);
	va_end(ap);
	return foreach_run(node, error);
}

/* _sp_node_end() with no more NAME, VALUE pairs */
static SpNode *
node_end_empty(SpNode *node, gboolean ok, GError **error, ...)
{
	va_list ap;

	va_start(ap, error);
	node = _sp_node_end(node, ok, error, ap);
	va_end(ap);
	return node;
}

gboolean
sp_label_foreach_from_strings(SpNode *in, const char *const *words,
	SpObjectFunc func, void *user_data, GError **error)
{
	SpNode *node;
	gboolean ok = TRUE;

	g_return_val_if_fail(func != NULL, FALSE);
	if (!(node = foreach_begin(in, func, user_data, error)))
		return FALSE;
	for (int i = 0; ok && words && words[i]; i++) {
		const char *eq = strchr(words[i], '=');
		g_autofree char *name = eq ? g_strndup(words[i], eq - words[i]) :
					     g_strdup(words[i]);

		/* label takes named arguments only; a bare NAME is a boolean */
		ok = _sp_node_set_string(node, name, eq ? eq + 1 : "true",
			error);
	}
	return foreach_run(node_end_empty(node, ok, error, NULL), error);
}
