/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Annotations: polygons read from GeoJSON (QuPath's export and plain
 * FeatureCollections), and the lazy mask image they rasterise to.
 *
 * Reading: json-glib parses the file a feature at a time (see
 * scan_document()); each feature's Polygon or MultiPolygon becomes a flat
 * array of vertices (level-0 pixels, y down) and the sizes of its rings,
 * 16 bytes per vertex.
 *
 * Rasterising: the mask's tiles are filled on demand by scan conversion,
 * with gdal_rasterize's default rule (GDAL alg/llrasterize.cpp,
 * GDALdllImageFilledPolygon, read for its semantics): rows are scanned
 * at their pixel centres (v = j + 0.5); an edge from (u1, v1) to (u2, v2),
 * v1 < v2, crosses row j when v1 <= j + 0.5 < v2, at u = (v - v1) (u2 -
 * u1) / (v2 - v1) + u1; all the crossings of a polygon's rings (its
 * outline and holes, self-crossings included) are sorted together and
 * filled pairwise from floor(a + 0.5) to floor(b + 0.5) - 1, which is
 * the even-odd rule on pixel centres; an edge lying on a centre line,
 * drawn right to left, is filled along its length. The polygons of a
 * MultiPolygon, like features, are united: gdal_rasterize burns a
 * multi-geometry part by part.
 * Vertices map to mask pixels as GDAL's inverse geotransform maps them,
 * u = -x / ds + X · (1 / ds), so the two agree to the bit.
 *
 * Index: features are registered in the cells (CELL × CELL mask pixels)
 * their bounding boxes cover, so a tile visits only the features that
 * reach it; a feature of many edges also buckets its edges by bands of
 * BAND rows, so a row visits only the edges that can cross it. Memory
 * grows with the vertices and the cells covered, never with the area.
 */
#include "config.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include <json-glib/json-glib.h>

#include "sp-private.h"

typedef struct {
	char *name; /* properties.name, or NULL */
	char *class_name; /* properties.classification.name, or NULL */
	char *object_type; /* properties.objectType, or NULL */
	gboolean has_colour;
	guint8 colour[3]; /* properties.classification.color */
	int n_polygons; /* 1 for a Polygon */
	/* vertices of every ring, in order: x, y pairs (level-0 px) */
	double *xy;
	int n_points;
	int *ring_sizes; /* points in each ring */
	int *polygon_rings; /* rings in each polygon (n_polygons) */
	int n_rings;
	double x0, y0, x1, y1; /* bounding box, level-0 px */
} Feature;

struct _SpAnnotations {
	gint ref_count;
	char *path;
	Feature *features;
	int n_features;
};

static void
feature_clear(Feature *f)
{
	g_free(f->name);
	g_free(f->class_name);
	g_free(f->object_type);
	g_free(f->xy);
	g_free(f->ring_sizes);
	g_free(f->polygon_rings);
}

static int
clamp_int(double v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : (int) v;
}

SpAnnotations *
sp_annotations_ref(SpAnnotations *annotations)
{
	g_atomic_int_inc(&annotations->ref_count);
	return annotations;
}

void
sp_annotations_unref(SpAnnotations *annotations)
{
	if (!annotations || !g_atomic_int_dec_and_test(&annotations->ref_count))
		return;
	for (int i = 0; i < annotations->n_features; i++)
		feature_clear(&annotations->features[i]);
	g_free(annotations->features);
	g_free(annotations->path);
	g_free(annotations);
}

/* --- reading ---------------------------------------------------------- */

typedef struct {
	const char *path;
	int feature; /* index, for messages */
	GArray *xy; /* double */
	GArray *ring_sizes; /* int */
	GArray *polygon_rings; /* int */
} Reader;

static gboolean G_GNUC_PRINTF(3, 4)
	read_fail(Reader *r, GError **error, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	g_autofree char *what = g_strdup_vprintf(format, ap);
	va_end(ap);
	g_autofree char *shown = sp_printable(r->path);
	if (r->feature >= 0)
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"'%s': feature %d: %s", shown, r->feature, what);
	else
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT, "'%s': %s", shown,
			what);
	return FALSE;
}

static gboolean
read_number(Reader *r, JsonNode *node, double *out, GError **error)
{
	if (!JSON_NODE_HOLDS_VALUE(node))
		return read_fail(r, error, "a coordinate is not a number");
	GType t = json_node_get_value_type(node);
	if (t == G_TYPE_DOUBLE)
		*out = json_node_get_double(node);
	else if (t == G_TYPE_INT64)
		*out = (double) json_node_get_int(node);
	else
		return read_fail(r, error, "a coordinate is not a number");
	if (!isfinite(*out))
		return read_fail(r, error,
			"a coordinate is not a finite number (%g)", *out);
	/* beyond any slide, and where double arithmetic stops being exact
	 * enough for pixel centres */
	if (fabs(*out) > 1e12)
		return read_fail(r, error,
			"coordinate %g is out of range (-1e12 … 1e12)", *out);
	return TRUE;
}

static int
compare_point(const void *a, const void *b)
{
	const double *p = a, *q = b;

	if (p[0] != q[0])
		return p[0] < q[0] ? -1 : 1;
	return p[1] < q[1] ? -1 : p[1] > q[1];
}

/* OGRLinearRing::isClockwise() of GDAL (ogr/ogrlinearring.cpp, read for
 * its semantics) on a closed ring of @n points, in GDAL's y-up sense:
 * with y negated. The turn at the lowest, rightmost vertex decides,
 * unless that vertex is repeated or a neighbour lies on it; then the
 * sign of the area does. */
static gboolean
ring_is_clockwise(const double *xy, int n)
{
#define PX(i) (xy[2 * (i)])
#define PY(i) (-xy[2 * (i) + 1])
	const double eps = 1e-5;
	gboolean fallback = FALSE;
	int v = 0;

	if (n < 2)
		return TRUE;
	for (int i = 1; i < n - 1; i++) {
		if (PY(i) < PY(v) || (PY(i) == PY(v) && PX(i) > PX(v))) {
			v = i;
			fallback = FALSE;
		} else if (PY(i) == PY(v) && PX(i) == PX(v))
			fallback = TRUE;
	}
	int prev = v - 1 < 0 ? n - 2 : v - 1;
	if (fabs(PX(prev) - PX(v)) <= eps && fabs(PY(prev) - PY(v)) <= eps)
		fallback = TRUE;
	double dx0 = PX(prev) - PX(v), dy0 = PY(prev) - PY(v);
	int next = v + 1 >= n - 1 ? 0 : v + 1;
	if (fabs(PX(next) - PX(v)) <= eps && fabs(PY(next) - PY(v)) <= eps)
		fallback = TRUE;
	double dx1 = PX(next) - PX(v), dy1 = PY(next) - PY(v);
	double cross = dx1 * dy0 - dx0 * dy1;

	if (!fallback) {
		if (cross > 0)
			return FALSE;
		if (cross < 0)
			return TRUE;
	}
	double sum = PX(0) * (PY(1) - PY(n - 1));
	for (int i = 1; i < n - 1; i++)
		sum += PX(i) * (PY(i + 1) - PY(i - 1));
	sum += PX(n - 1) * (PY(0) - PY(n - 2));
	return sum < 0;
#undef PX
#undef PY
}

/* One ring: an array of [x, y, …] positions, stored closed and wound
 * clockwise as gdal_rasterize rewinds rings before it fills them (which
 * decides what an edge lying on a row's centre line fills). */
static gboolean
read_ring(Reader *r, JsonNode *node, GError **error)
{
	if (!JSON_NODE_HOLDS_ARRAY(node))
		return read_fail(r, error, "a ring is not an array of positions");
	JsonArray *ring = json_node_get_array(node);
	guint n = json_array_get_length(ring);
	guint start = r->xy->len / 2;

	for (guint i = 0; i < n; i++) {
		JsonNode *pos = json_array_get_element(ring, i);
		double xy[2];

		if (!JSON_NODE_HOLDS_ARRAY(pos) ||
			json_array_get_length(json_node_get_array(pos)) < 2)
			return read_fail(r, error,
				"a position is not an array of 2 or more "
				"numbers");
		JsonArray *a = json_node_get_array(pos);
		if (!read_number(r, json_array_get_element(a, 0), &xy[0],
			    error) ||
			!read_number(r, json_array_get_element(a, 1), &xy[1],
				error))
			return FALSE;
		g_array_append_vals(r->xy, xy, 2);
	}

	double *pts = &g_array_index(r->xy, double, 2 * start);
	int size = (int) n;
	/* distinct points, wherever they are in the ring */
	double *sorted = g_memdup2(pts, size * 2 * sizeof(double));
	int distinct = size > 0;
	qsort(sorted, size, 2 * sizeof(double), compare_point);
	for (int i = 1; i < size; i++)
		if (compare_point(sorted + 2 * i, sorted + 2 * (i - 1)) != 0)
			distinct++;
	g_free(sorted);
	if (distinct < 3)
		return read_fail(r, error,
			"a ring has %d distinct point%s; a polygon needs 3 or "
			"more",
			distinct, distinct == 1 ? "" : "s");

	/* closed, as GDAL closes rings */
	if (pts[0] != pts[2 * (size - 1)] ||
		pts[1] != pts[2 * (size - 1) + 1]) {
		double first[2] = { pts[0], pts[1] };
		g_array_append_vals(r->xy, first, 2);
		size++;
		pts = &g_array_index(r->xy, double, 2 * start);
	}
	if (!ring_is_clockwise(pts, size))
		for (int i = 0, j = size - 1; i < j; i++, j--) {
			double t[2] = { pts[2 * i], pts[2 * i + 1] };
			pts[2 * i] = pts[2 * j];
			pts[2 * i + 1] = pts[2 * j + 1];
			pts[2 * j] = t[0];
			pts[2 * j + 1] = t[1];
		}
	g_array_append_val(r->ring_sizes, size);
	return TRUE;
}

/* A Polygon's coordinates: an array of rings, the first the outline. */
static gboolean
read_polygon(Reader *r, JsonNode *node, GError **error)
{
	if (!JSON_NODE_HOLDS_ARRAY(node))
		return read_fail(r, error, "a polygon is not an array of rings");
	JsonArray *rings = json_node_get_array(node);
	int n = (int) json_array_get_length(rings);

	if (n == 0)
		return read_fail(r, error, "a polygon has no ring");
	for (int i = 0; i < n; i++)
		if (!read_ring(r, json_array_get_element(rings, i), error))
			return FALSE;
	g_array_append_val(r->polygon_rings, n);
	return TRUE;
}

static const char *
member_string(JsonObject *o, const char *name)
{
	JsonNode *n = o ? json_object_get_member(o, name) : NULL;

	if (n && JSON_NODE_HOLDS_VALUE(n) &&
		json_node_get_value_type(n) == G_TYPE_STRING)
		return json_node_get_string(n);
	return NULL;
}

/* QuPath's classification: {"name": "Tumor", "color": [r, g, b]} (older
 * exports: "colorRGB": an int), or a plain string. */
static void
read_classification(Feature *f, JsonObject *props)
{
	JsonNode *c = props ? json_object_get_member(props, "classification") :
			      NULL;

	if (!c)
		return;
	if (JSON_NODE_HOLDS_VALUE(c) &&
		json_node_get_value_type(c) == G_TYPE_STRING) {
		f->class_name = g_strdup(json_node_get_string(c));
		return;
	}
	if (!JSON_NODE_HOLDS_OBJECT(c))
		return;
	JsonObject *o = json_node_get_object(c);
	f->class_name = g_strdup(member_string(o, "name"));
	JsonNode *colour = json_object_get_member(o, "color");
	if (colour && JSON_NODE_HOLDS_ARRAY(colour) &&
		json_array_get_length(json_node_get_array(colour)) >= 3) {
		JsonArray *a = json_node_get_array(colour);
		f->has_colour = TRUE;
		for (int i = 0; i < 3; i++) {
			JsonNode *v = json_array_get_element(a, i);
			gint64 x = JSON_NODE_HOLDS_VALUE(v) &&
					json_node_get_value_type(v) ==
						G_TYPE_INT64 ?
				json_node_get_int(v) :
				0;
			f->colour[i] = (guint8) CLAMP(x, 0, 255);
		}
	} else if ((colour = json_object_get_member(o, "colorRGB")) &&
		JSON_NODE_HOLDS_VALUE(colour) &&
		json_node_get_value_type(colour) == G_TYPE_INT64) {
		guint32 rgb = (guint32) json_node_get_int(colour);
		f->has_colour = TRUE;
		f->colour[0] = (rgb >> 16) & 255;
		f->colour[1] = (rgb >> 8) & 255;
		f->colour[2] = rgb & 255;
	}
}

/* A geometry object into @f; %FALSE with @error for what is not a
 * polygon. */
static gboolean
read_geometry(Reader *r, Feature *f, JsonNode *node, GError **error)
{
	if (!node || !JSON_NODE_HOLDS_OBJECT(node))
		return read_fail(r, error, "the geometry is not an object");
	JsonObject *g = json_node_get_object(node);
	const char *type = member_string(g, "type");
	JsonNode *coords = json_object_get_member(g, "coordinates");

	if (!type)
		return read_fail(r, error, "the geometry has no \"type\"");
	if (strcmp(type, "Polygon") != 0 && strcmp(type, "MultiPolygon") != 0) {
		g_autofree char *shown = sp_printable(type);
		return read_fail(r, error,
			"geometry type '%s' is not supported (Polygon, "
			"MultiPolygon)",
			shown);
	}
	if (!coords)
		return read_fail(r, error, "the geometry has no \"coordinates\"");
	g_array_set_size(r->xy, 0);
	g_array_set_size(r->ring_sizes, 0);
	g_array_set_size(r->polygon_rings, 0);
	if (strcmp(type, "Polygon") == 0) {
		if (!read_polygon(r, coords, error))
			return FALSE;
	} else {
		if (!JSON_NODE_HOLDS_ARRAY(coords))
			return read_fail(r, error,
				"a MultiPolygon's coordinates are not an "
				"array of polygons");
		JsonArray *polys = json_node_get_array(coords);
		guint n = json_array_get_length(polys);
		if (n == 0)
			return read_fail(r, error, "a MultiPolygon has no polygon");
		for (guint i = 0; i < n; i++)
			if (!read_polygon(r, json_array_get_element(polys, i),
				    error))
				return FALSE;
	}
	f->n_points = (int) (r->xy->len / 2);
	f->xy = g_memdup2(r->xy->data, r->xy->len * sizeof(double));
	f->n_rings = (int) r->ring_sizes->len;
	f->ring_sizes = g_memdup2(r->ring_sizes->data,
		r->ring_sizes->len * sizeof(int));
	f->n_polygons = (int) r->polygon_rings->len;
	f->polygon_rings = g_memdup2(r->polygon_rings->data,
		r->polygon_rings->len * sizeof(int));
	f->x0 = f->y0 = INFINITY;
	f->x1 = f->y1 = -INFINITY;
	for (int i = 0; i < f->n_points; i++) {
		f->x0 = MIN(f->x0, f->xy[2 * i]);
		f->x1 = MAX(f->x1, f->xy[2 * i]);
		f->y0 = MIN(f->y0, f->xy[2 * i + 1]);
		f->y1 = MAX(f->y1, f->xy[2 * i + 1]);
	}
	return TRUE;
}

/* A Feature object (or a bare geometry) appended to @features. */
static gboolean
read_feature(Reader *r, GArray *features, JsonNode *node, GError **error)
{
	Feature f = { 0 };

	if (!JSON_NODE_HOLDS_OBJECT(node))
		return read_fail(r, error, "not a JSON object");
	JsonObject *o = json_node_get_object(node);
	const char *type = member_string(o, "type");

	if (!type)
		return read_fail(r, error, "no \"type\"");
	if (strcmp(type, "Feature") == 0) {
		JsonNode *geometry = json_object_get_member(o, "geometry");
		JsonNode *props = json_object_get_member(o, "properties");
		JsonObject *p = props && JSON_NODE_HOLDS_OBJECT(props) ?
			json_node_get_object(props) :
			NULL;

		/* an unlocated feature (geometry null) has nothing to mask */
		if (!geometry || JSON_NODE_HOLDS_NULL(geometry))
			return TRUE;
		if (!read_geometry(r, &f, geometry, error)) {
			feature_clear(&f);
			return FALSE;
		}
		f.name = g_strdup(member_string(p, "name"));
		f.object_type = g_strdup(member_string(p, "objectType"));
		read_classification(&f, p);
	} else if (!read_geometry(r, &f, node, error)) {
		feature_clear(&f);
		return FALSE;
	}
	g_array_append_val(features, f);
	return TRUE;
}

/* The top level of the document is walked by a small scanner, so that a
 * FeatureCollection's features are handed to json-glib one at a time:
 * json-glib builds a tree of the whole text otherwise, about 17 bytes per
 * byte of GeoJSON (700 MB for 100,000 polygons). Every value is still
 * parsed, and so checked, by json-glib. */
typedef struct {
	const char *text, *p, *end;
} Scan;

static void
scan_space(Scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
					*s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
scan_line(const Scan *s, const char *at)
{
	int line = 1;

	for (const char *q = s->text; q < at && q < s->end; q++)
		line += *q == '\n';
	return line;
}

/* Moves past one value (string, number, literal, object or array, its
 * brackets matched, strings skipped); %FALSE when the text ends first or
 * a bracket does not match. */
static gboolean
scan_value(Scan *s)
{
	GString *closers;

	scan_space(s);
	if (s->p >= s->end)
		return FALSE;
	if (*s->p != '{' && *s->p != '[' && *s->p != '"') {
		const char *start = s->p;
		while (s->p < s->end && !strchr(",]}: \t\r\n", *s->p))
			s->p++;
		return s->p > start;
	}
	closers = g_string_new(NULL);
	do {
		char c = *s->p++;

		if (c == '"') {
			while (s->p < s->end && *s->p != '"')
				s->p += *s->p == '\\' ? 2 : 1;
			if (s->p >= s->end)
				break;
			s->p++;
		} else if (c == '{' || c == '[')
			g_string_append_c(closers, c == '{' ? '}' : ']');
		else if (c == '}' || c == ']') {
			if (!closers->len || closers->str[closers->len - 1] != c)
				break;
			g_string_truncate(closers, closers->len - 1);
		}
	} while (closers->len && s->p < s->end);
	gboolean ok = closers->len == 0 && s->p <= s->end &&
		(s->p[-1] == '"' || s->p[-1] == '}' || s->p[-1] == ']');
	g_string_free(closers, TRUE);
	return ok;
}

static gboolean
scan_fail(Reader *r, const Scan *s, GError **error, const char *what)
{
	g_autofree char *shown = sp_printable(r->path);

	g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
		"'%s': not valid JSON: line %d: %s", shown,
		scan_line(s, s->p), what);
	return FALSE;
}

/* json-glib's tree of text [start, stop). */
static JsonNode *
parse_span(Reader *r, JsonParser *parser, const Scan *s, const char *start,
	const char *stop, GError **error)
{
	GError *local = NULL;

	if (!json_parser_load_from_data(parser, start, stop - start, &local)) {
		g_autofree char *shown = sp_printable(r->path);
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"'%s': not valid JSON: from line %d: %s", shown,
			scan_line(s, start), local->message);
		g_error_free(local);
		return NULL;
	}
	/* json-glib takes a lone byte order mark for an empty document */
	JsonNode *root = json_parser_get_root(parser);
	if (!root) {
		g_autofree char *shown = sp_printable(r->path);
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"'%s': not valid JSON: line %d: an empty value", shown,
			scan_line(s, start));
	}
	return root;
}

/* The elements of the array at s->p, each a feature. */
static gboolean
scan_features(Reader *r, JsonParser *parser, Scan *s, GArray *features,
	GError **error)
{
	scan_space(s);
	if (s->p >= s->end || *s->p != '[')
		return scan_fail(r, s, error, "expected an array of features");
	s->p++;
	scan_space(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return TRUE;
	}
	for (int i = 0;; i++) {
		scan_space(s);
		const char *start = s->p;
		if (!scan_value(s))
			return scan_fail(r, s, error, "a feature is cut short");
		JsonNode *node = parse_span(r, parser, s, start, s->p, error);
		if (!node)
			return FALSE;
		r->feature = i;
		if (!read_feature(r, features, node, error))
			return FALSE;
		r->feature = -1;
		scan_space(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == ']') {
			s->p++;
			return TRUE;
		}
		return scan_fail(r, s, error, "expected ',' or ']' after a feature");
	}
}

static gboolean
scan_document(Reader *r, JsonParser *parser, Scan *s, GArray *features,
	GError **error)
{
	scan_space(s);
	if (s->p >= s->end)
		return read_fail(r, error, "the file is empty");
	if (*s->p == '[') {
		/* QuPath's "export as array": the features themselves */
		if (!scan_features(r, parser, s, features, error))
			return FALSE;
	} else if (*s->p == '{') {
		/* a FeatureCollection's members: every one but "features"
		 * parsed now; the features one by one after */
		const char *doc = s->p, *list = NULL;
		g_autofree char *type = NULL;

		s->p++;
		scan_space(s);
		if (s->p < s->end && *s->p == '}')
			s->p++;
		else
			for (;;) {
				scan_space(s);
				const char *k0 = s->p;
				if (s->p >= s->end || *s->p != '"' || !scan_value(s))
					return scan_fail(r, s, error,
						"expected a member name");
				JsonNode *key = parse_span(r, parser, s, k0, s->p,
					error);
				if (!key)
					return FALSE;
				g_autofree char *name =
					g_strdup(json_node_get_string(key));
				scan_space(s);
				if (s->p >= s->end || *s->p != ':')
					return scan_fail(r, s, error,
						"expected ':' after a member name");
				s->p++;
				scan_space(s);
				const char *v0 = s->p;
				if (!scan_value(s))
					return scan_fail(r, s, error,
						"a value is cut short");
				if (g_strcmp0(name, "features") == 0 && *v0 == '[')
					list = v0;
				else {
					JsonNode *v = parse_span(r, parser, s, v0,
						s->p, error);
					if (!v)
						return FALSE;
					if (g_strcmp0(name, "type") == 0 &&
						JSON_NODE_HOLDS_VALUE(v) &&
						json_node_get_value_type(v) ==
							G_TYPE_STRING) {
						g_free(type);
						type = g_strdup(
							json_node_get_string(v));
					}
				}
				scan_space(s);
				if (s->p < s->end && *s->p == ',') {
					s->p++;
					continue;
				}
				if (s->p < s->end && *s->p == '}') {
					s->p++;
					break;
				}
				return scan_fail(r, s, error,
					"expected ',' or '}' after a member");
			}
		const char *after = s->p;
		if (g_strcmp0(type, "FeatureCollection") == 0) {
			if (!list)
				return read_fail(r, error,
					"a FeatureCollection without a "
					"\"features\" array");
			s->p = list;
			if (!scan_features(r, parser, s, features, error))
				return FALSE;
		} else {
			/* a Feature or a geometry: small, parsed whole */
			JsonNode *root = parse_span(r, parser, s, doc, after,
				error);
			if (!root)
				return FALSE;
			r->feature = 0;
			if (!read_feature(r, features, root, error))
				return FALSE;
		}
		s->p = after;
	} else
		return read_fail(r, error,
			"not a GeoJSON object (FeatureCollection, Feature, "
			"Polygon or MultiPolygon)");
	scan_space(s);
	if (s->p < s->end)
		return scan_fail(r, s, error, "text after the document");
	return TRUE;
}

/* The last few files read, so that a batch of crops of one annotation
 * file (a pipeline per feature) parses it once: keyed by path, and valid
 * while the file's device, inode, size and modification time (to the
 * nanosecond) are unchanged. */
#define CACHE_SIZE 4

typedef struct {
	char *path;
	struct stat st;
	/* 0, 0: as read; else the µm → px conversion's mpp */
	double mpp_x, mpp_y;
	SpAnnotations *annotations;
} CacheEntry;

static GMutex cache_lock;
static CacheEntry cache[CACHE_SIZE];
static int cache_next;

static gboolean
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
		a->st_size == b->st_size &&
		a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
		a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static SpAnnotations *load_file(const char *path, GError **error);

/* @path's annotations, in µm divided by (@mpp_x, @mpp_y) unless those
 * are 0, from the cache when the same file was read with the same
 * conversion. */
static SpAnnotations *
load_cached(const char *path, double mpp_x, double mpp_y, GError **error)
{
	struct stat st;
	SpAnnotations *a = NULL;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		SpAnnotations *raw = load_file(path, error);

		if (!raw || mpp_x == 0)
			return raw;
		a = sp_annotations_to_pixels(raw, mpp_x, mpp_y, error);
		sp_annotations_unref(raw);
		return a;
	}
	g_mutex_lock(&cache_lock);
	for (int i = 0; i < CACHE_SIZE && !a; i++)
		if (cache[i].path && strcmp(cache[i].path, path) == 0 &&
			same_file(&cache[i].st, &st) &&
			cache[i].mpp_x == mpp_x && cache[i].mpp_y == mpp_y)
			a = sp_annotations_ref(cache[i].annotations);
	g_mutex_unlock(&cache_lock);
	if (a)
		return a;
	if (mpp_x == 0)
		a = load_file(path, error);
	else {
		SpAnnotations *raw = load_cached(path, 0, 0, error);

		if (!raw)
			return NULL;
		a = sp_annotations_to_pixels(raw, mpp_x, mpp_y, error);
		sp_annotations_unref(raw);
	}
	if (!a)
		return NULL;
	g_mutex_lock(&cache_lock);
	CacheEntry *e = &cache[cache_next];
	cache_next = (cache_next + 1) % CACHE_SIZE;
	g_free(e->path);
	sp_annotations_unref(e->annotations);
	e->path = g_strdup(path);
	e->st = st;
	e->mpp_x = mpp_x;
	e->mpp_y = mpp_y;
	e->annotations = sp_annotations_ref(a);
	g_mutex_unlock(&cache_lock);
	return a;
}

SpAnnotations *
sp_annotations_load(const char *path, GError **error)
{
	g_return_val_if_fail(path != NULL, NULL);
	return load_cached(path, 0, 0, error);
}

/* A new set sharing nothing with @a but its strings' values. */
static SpAnnotations *
annotations_new(const char *path, int n_features)
{
	SpAnnotations *a = g_new0(SpAnnotations, 1);

	a->ref_count = 1;
	a->path = g_strdup(path);
	a->n_features = n_features;
	a->features = g_new0(Feature, MAX(1, n_features));
	return a;
}

/* A copy of @f's properties, and of its polygons from @polygon0 on
 * (@n_polygons of them), coordinates divided by (@dx, @dy). */
static void
feature_copy(Feature *to, const Feature *f, int polygon0, int n_polygons,
	double dx, double dy)
{
	int ring0 = 0, point0 = 0, n_rings = 0, n_points = 0;

	for (int p = 0; p < polygon0; p++)
		for (int r = 0; r < f->polygon_rings[p]; r++)
			point0 += f->ring_sizes[ring0++];
	for (int p = polygon0; p < polygon0 + n_polygons; p++)
		for (int r = 0; r < f->polygon_rings[p]; r++)
			n_points += f->ring_sizes[ring0 + n_rings++];

	*to = *f;
	to->name = g_strdup(f->name);
	to->class_name = g_strdup(f->class_name);
	to->object_type = g_strdup(f->object_type);
	to->n_polygons = n_polygons;
	to->polygon_rings = g_memdup2(f->polygon_rings + polygon0,
		n_polygons * sizeof(int));
	to->n_rings = n_rings;
	to->ring_sizes = g_memdup2(f->ring_sizes + ring0, n_rings * sizeof(int));
	to->n_points = n_points;
	to->xy = g_new(double, 2 * n_points);
	to->x0 = to->y0 = INFINITY;
	to->x1 = to->y1 = -INFINITY;
	for (int i = 0; i < n_points; i++) {
		double x = f->xy[2 * (point0 + i)] / dx;
		double y = f->xy[2 * (point0 + i) + 1] / dy;

		to->xy[2 * i] = x;
		to->xy[2 * i + 1] = y;
		to->x0 = MIN(to->x0, x);
		to->y0 = MIN(to->y0, y);
		to->x1 = MAX(to->x1, x);
		to->y1 = MAX(to->y1, y);
	}
}

SpAnnotations *
sp_annotations_to_pixels(SpAnnotations *annotations, double mpp_x,
	double mpp_y, GError **error)
{
	g_autofree char *shown = sp_printable(annotations->path);

	if (!(mpp_x > 0 && mpp_x <= 1e6 && mpp_y > 0 && mpp_y <= 1e6)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"'%s': cannot convert µm to pixels at %g × %g µm per "
			"pixel",
			shown, mpp_x, mpp_y);
		return NULL;
	}
	SpAnnotations *a = annotations_new(annotations->path,
		annotations->n_features);
	for (int i = 0; i < a->n_features; i++) {
		const Feature *f = &annotations->features[i];
		Feature *to = &a->features[i];

		feature_copy(to, f, 0, f->n_polygons, mpp_x, mpp_y);
		if (MAX(fabs(to->x0), fabs(to->x1)) > 1e12 ||
			MAX(fabs(to->y0), fabs(to->y1)) > 1e12) {
			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				"'%s': feature %d: at %g µm per pixel its "
				"coordinates exceed ±1e12 pixels",
				shown, i, MIN(mpp_x, mpp_y));
			sp_annotations_unref(a);
			return NULL;
		}
	}
	return a;
}

int
sp_annotations_get_polygon_count(SpAnnotations *annotations, int feature)
{
	g_return_val_if_fail(feature >= 0 && feature < annotations->n_features,
		0);
	return annotations->features[feature].n_polygons;
}

SpAnnotations *
_sp_annotations_polygon(SpAnnotations *a, int feature, int polygon,
	const char *op, GError **error)
{
	g_return_val_if_fail(feature >= 0 && feature < a->n_features, NULL);
	const Feature *f = &a->features[feature];

	if (polygon < 0 || polygon >= f->n_polygons) {
		g_autofree char *shown = sp_printable(a->path);
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: feature %d of '%s' has %d polygon%s (0 … %d); "
			"there is no polygon=%d",
			op, feature, shown, f->n_polygons,
			f->n_polygons == 1 ? "" : "s", f->n_polygons - 1,
			polygon);
		return NULL;
	}
	SpAnnotations *one = annotations_new(a->path, 1);
	feature_copy(&one->features[0], f, polygon, 1, 1, 1);
	return one;
}

SpAnnotations *
_sp_annotations_load_in(const char *path, const char *units, SpSlide *slide,
	const char *op, GError **error)
{
	double mpp_x = 0, mpp_y = 0;
	SpAnnotations *a;

	if (units && strcmp(units, "um") == 0 &&
		!sp_slide_get_mpp(slide, &mpp_x, &mpp_y)) {
		g_autofree char *shown = sp_printable(path);
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: units=um: the slide '%s' has no pixel size (mpp), "
			"so the µm coordinates of '%s' cannot be placed",
			op, sp_slide_get_path(slide), shown);
		return NULL;
	}
	if (!(a = load_cached(path, mpp_x, mpp_y, error)))
		g_prefix_error(error, "%s: ", op);
	return a;
}

static SpAnnotations *
load_file(const char *path, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	GError *local = NULL;
	g_autofree char *shown = sp_printable(path);
	GMappedFile *file;

	g_return_val_if_fail(path != NULL, NULL);
	if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"'%s' is a directory, not a GeoJSON file", shown);
		return NULL;
	}
	if (!(file = g_mapped_file_new(path, FALSE, &local))) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO, "cannot read '%s': %s",
			shown, local->message);
		g_error_free(local);
		return NULL;
	}

	Reader r = { path, -1, g_array_new(FALSE, FALSE, sizeof(double)),
		g_array_new(FALSE, FALSE, sizeof(int)),
		g_array_new(FALSE, FALSE, sizeof(int)) };
	GArray *features = g_array_new(FALSE, TRUE, sizeof(Feature));
	/* an empty file maps to NULL */
	const char *text = g_mapped_file_get_contents(file);
	gsize length = g_mapped_file_get_length(file);
	Scan s = { text ? text : "", text ? text : "",
		text ? text + length : "" };
	gboolean ok;

	/* a UTF-8 byte order mark is allowed, as json-glib allows it */
	if (s.end - s.p >= 3 && memcmp(s.p, "\xef\xbb\xbf", 3) == 0)
		s.p += 3;
	ok = scan_document(&r, parser, &s, features, error);
	g_mapped_file_unref(file);
	g_array_unref(r.xy);
	g_array_unref(r.ring_sizes);
	g_array_unref(r.polygon_rings);
	if (!ok) {
		for (guint i = 0; i < features->len; i++)
			feature_clear(&g_array_index(features, Feature, i));
		g_array_unref(features);
		return NULL;
	}

	SpAnnotations *a = g_new0(SpAnnotations, 1);
	a->ref_count = 1;
	a->path = g_strdup(path);
	a->n_features = (int) features->len;
	a->features = (Feature *) g_array_free(features, FALSE);
	return a;
}

const char *
sp_annotations_get_path(SpAnnotations *annotations)
{
	return annotations->path;
}

int
sp_annotations_get_count(SpAnnotations *annotations)
{
	return annotations->n_features;
}

const char *
sp_annotations_get_name(SpAnnotations *annotations, int feature)
{
	g_return_val_if_fail(feature >= 0 && feature < annotations->n_features,
		NULL);
	return annotations->features[feature].name;
}

const char *
sp_annotations_get_class(SpAnnotations *annotations, int feature)
{
	g_return_val_if_fail(feature >= 0 && feature < annotations->n_features,
		NULL);
	return annotations->features[feature].class_name;
}

gboolean
sp_annotations_get_colour(SpAnnotations *annotations, int feature,
	guint8 rgb[3])
{
	g_return_val_if_fail(feature >= 0 && feature < annotations->n_features,
		FALSE);
	const Feature *f = &annotations->features[feature];
	if (f->has_colour)
		memcpy(rgb, f->colour, 3);
	return f->has_colour;
}

void
sp_annotations_get_bounds(SpAnnotations *annotations, int feature, double *x,
	double *y, double *w, double *h)
{
	g_return_if_fail(feature >= 0 && feature < annotations->n_features);
	const Feature *f = &annotations->features[feature];
	*x = f->x0;
	*y = f->y0;
	*w = f->x1 - f->x0;
	*h = f->y1 - f->y0;
}

int *
_sp_annotations_select(SpAnnotations *a, int feature, const char *class_name,
	const char *name, int *n_selected, const char *op, GError **error)
{
	int *out = g_new(int, MAX(1, a->n_features));
	int n = 0;

	for (int i = 0; i < a->n_features; i++) {
		if (feature >= 0 && i != feature)
			continue;
		if (class_name &&
			g_strcmp0(a->features[i].class_name, class_name) != 0)
			continue;
		if (name && g_strcmp0(a->features[i].name, name) != 0)
			continue;
		out[n++] = i;
	}
	if (n == 0) {
		g_autofree char *shown = sp_printable(a->path);
		g_autofree char *what = feature >= 0 ?
			g_strdup_printf("feature=%d", feature) :
			class_name ? g_strdup_printf("class=%s", class_name) :
			name	   ? g_strdup_printf("name=%s", name) :
				     g_strdup("any selection");
		g_autofree char *what_shown = sp_printable(what);

		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: no feature of '%s' (%d feature%s) matches %s", op,
			shown, a->n_features, a->n_features == 1 ? "" : "s",
			what_shown);
		g_free(out);
		return NULL;
	}
	*n_selected = n;
	return out;
}

void
_sp_annotations_bounds(SpAnnotations *a, const int *features, int n,
	double *x0, double *y0, double *x1, double *y1)
{
	*x0 = *y0 = INFINITY;
	*x1 = *y1 = -INFINITY;
	for (int i = 0; i < n; i++) {
		const Feature *f = &a->features[features[i]];
		*x0 = MIN(*x0, f->x0);
		*y0 = MIN(*y0, f->y0);
		*x1 = MAX(*x1, f->x1);
		*y1 = MAX(*y1, f->y1);
	}
}

/* Point-in-feature lookups: features bucketed by their bounding boxes on
 * a grid over the boxes' extent. */
struct _SpAnnotationLocator {
	SpAnnotations *a; /* ref */
	int *features;
	int n;
	double x0, y0, cell_w, cell_h;
	int gw, gh;
	int *start; /* gw · gh + 1 */
	int *index;
};

#define LOCATOR_SIDE 256

SpAnnotationLocator *
_sp_annotation_locator_new(SpAnnotations *a, const int *features, int n)
{
	SpAnnotationLocator *l = g_new0(SpAnnotationLocator, 1);
	double x1, y1;

	l->a = sp_annotations_ref(a);
	l->features = g_memdup2(features, MAX(1, n) * sizeof(int));
	l->n = n;
	_sp_annotations_bounds(a, features, n, &l->x0, &l->y0, &x1, &y1);
	l->gw = l->gh = n > 0 ? LOCATOR_SIDE : 1;
	l->cell_w = MAX((x1 - l->x0) / l->gw, 1e-9);
	l->cell_h = MAX((y1 - l->y0) / l->gh, 1e-9);
	l->start = g_new0(int, l->gw * l->gh + 1);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < n; i++) {
			const Feature *f = &a->features[features[i]];
			int cx0 = clamp_int((f->x0 - l->x0) / l->cell_w, 0, l->gw - 1);
			int cx1 = clamp_int((f->x1 - l->x0) / l->cell_w, 0, l->gw - 1);
			int cy0 = clamp_int((f->y0 - l->y0) / l->cell_h, 0, l->gh - 1);
			int cy1 = clamp_int((f->y1 - l->y0) / l->cell_h, 0, l->gh - 1);

			for (int cy = cy0; cy <= cy1; cy++)
				for (int cx = cx0; cx <= cx1; cx++) {
					int c = cy * l->gw + cx;
					if (pass == 0)
						l->start[c + 1]++;
					else
						l->index[l->start[c]++] = i;
				}
		}
		int cells = l->gw * l->gh;
		if (pass == 0) {
			for (int c = 0; c < cells; c++)
				l->start[c + 1] += l->start[c];
			l->index = g_new(int, MAX(1, l->start[cells]));
		} else {
			for (int c = cells; c > 0; c--)
				l->start[c] = l->start[c - 1];
			l->start[0] = 0;
		}
	}
	return l;
}

void
_sp_annotation_locator_free(SpAnnotationLocator *l)
{
	if (!l)
		return;
	sp_annotations_unref(l->a);
	g_free(l->features);
	g_free(l->start);
	g_free(l->index);
	g_free(l);
}

/* Even-odd inside test of one polygon (rings [ring0, ring0 + n_rings)). */
static gboolean
polygon_contains(const Feature *f, int ring0, int n_rings, int point0,
	double x, double y)
{
	gboolean inside = FALSE;
	int p = point0;

	for (int r = ring0; r < ring0 + n_rings; r++) {
		int n = f->ring_sizes[r];
		for (int i = 0, j = n - 1; i < n; j = i++) {
			double xi = f->xy[2 * (p + i)], yi = f->xy[2 * (p + i) + 1];
			double xj = f->xy[2 * (p + j)], yj = f->xy[2 * (p + j) + 1];

			if ((yi > y) != (yj > y) &&
				x < (xj - xi) * (y - yi) / (yj - yi) + xi)
				inside = !inside;
		}
		p += n;
	}
	return inside;
}

int
_sp_annotation_locate(SpAnnotationLocator *l, double x, double y)
{
	if (l->n == 0)
		return -1;
	int cx = (int) floor((x - l->x0) / l->cell_w);
	int cy = (int) floor((y - l->y0) / l->cell_h);
	if (cx < 0 || cy < 0 || cx > l->gw || cy > l->gh)
		return -1;
	cx = MIN(cx, l->gw - 1);
	cy = MIN(cy, l->gh - 1);
	int c = cy * l->gw + cx, best = -1;
	for (int k = l->start[c]; k < l->start[c + 1]; k++) {
		int i = l->index[k];
		const Feature *f = &l->a->features[l->features[i]];
		int ring0 = 0, point0 = 0;

		if (x < f->x0 || x > f->x1 || y < f->y0 || y > f->y1)
			continue;
		/* the first in file order wins */
		if (best >= 0 && l->features[i] > best)
			continue;
		for (int poly = 0; poly < f->n_polygons; poly++) {
			int n_rings = f->polygon_rings[poly], n_points = 0;

			for (int r = ring0; r < ring0 + n_rings; r++)
				n_points += f->ring_sizes[r];
			if (polygon_contains(f, ring0, n_rings, point0, x, y)) {
				best = l->features[i];
				break;
			}
			ring0 += n_rings;
			point0 += n_points;
		}
	}
	return best;
}

/* --- the mask --------------------------------------------------------- */

#define CELL 256 /* mask pixels per index cell side */
#define BAND 64 /* rows per edge band of a feature of many edges */
#define BAND_MIN_EDGES 32 /* fewer edges: every row visits them all */

typedef struct {
	double u1, v1, u2, v2; /* as drawn, mask pixels */
} Edge;

typedef struct {
	int first, n; /* its edges in Mask.edges */
	int row0, row1; /* the rows it can touch, clamped to the mask */
	int col0, col1;
	/* bands: band b holds band_index[band_start[b] … band_start[b+1]) */
	int *band_start;
	int *band_index;
} MaskFeature;

typedef struct {
	SpAnnotations *annotations; /* ref */
	int width, height;
	Edge *edges;
	MaskFeature *features;
	int n_features;
	int cells_x, cells_y;
	int *cell_start; /* cells_x · cells_y + 1 */
	int *cell_features;
} Mask;

typedef struct {
	Mask *mask;
	int *stamp; /* per feature: the last region that visited it */
	int region;
	double *crossings;
	int n_crossings_cap;
} MaskSeq;

static void
mask_free(Mask *m)
{
	for (int i = 0; i < m->n_features; i++) {
		g_free(m->features[i].band_start);
		g_free(m->features[i].band_index);
	}
	g_free(m->features);
	g_free(m->edges);
	g_free(m->cell_start);
	g_free(m->cell_features);
	sp_annotations_unref(m->annotations);
	g_free(m);
}

static void
mask_close_cb(VipsImage *image, Mask *m)
{
	mask_free(m);
}

/* The edges of rings [@ring0, @ring0 + @n_rings) of @f (whose first
 * point is @point0) in mask pixels, appended to @edges; their box in
 * @mf. */
static void
polygon_edges(const Feature *f, int ring0, int n_rings, int point0,
	double ix0, double ix1, double iy0, double iy1, GArray *edges,
	MaskFeature *mf, int width, int height)
{
	int p = point0;
	double u0 = INFINITY, u1 = -INFINITY, v0 = INFINITY, v1 = -INFINITY;

	mf->first = (int) edges->len;
	for (int r = ring0; r < ring0 + n_rings; r++) {
		int n = f->ring_sizes[r];
		for (int i = 0; i < n; i++) {
			/* as GDAL: the last point to the first closes it */
			int a = p + (i == 0 ? n - 1 : i - 1), b = p + i;
			Edge e = {
				ix0 + f->xy[2 * a] * ix1,
				iy0 + f->xy[2 * a + 1] * iy1,
				ix0 + f->xy[2 * b] * ix1,
				iy0 + f->xy[2 * b + 1] * iy1,
			};
			g_array_append_val(edges, e);
			u0 = MIN(u0, e.u2);
			u1 = MAX(u1, e.u2);
			v0 = MIN(v0, e.v2);
			v1 = MAX(v1, e.v2);
		}
		p += n;
	}
	mf->n = (int) edges->len - mf->first;
	/* rows whose centre j + 0.5 can lie in [v0, v1]; columns that a
	 * crossing in [u0, u1] can fill */
	mf->row0 = clamp_int(floor(v0 - 0.5), 0, height);
	mf->row1 = clamp_int(floor(v1), -1, height - 1);
	mf->col0 = clamp_int(floor(u0 - 0.5), 0, width);
	mf->col1 = clamp_int(floor(u1 + 0.5), -1, width - 1);
}

static void
feature_bands(MaskFeature *mf, const Edge *edges)
{
	int n_bands = (mf->row1 - mf->row0) / BAND + 1;
	int *count = g_new0(int, n_bands + 1);

	for (int pass = 0; pass < 2; pass++) {
		for (int k = 0; k < mf->n; k++) {
			const Edge *e = &edges[mf->first + k];
			double lo = MIN(e->v1, e->v2), hi = MAX(e->v1, e->v2);
			int b0 = clamp_int(floor(lo - 0.5), mf->row0, mf->row1);
			int b1 = clamp_int(floor(hi), mf->row0, mf->row1);

			b0 = (b0 - mf->row0) / BAND;
			b1 = (b1 - mf->row0) / BAND;
			for (int b = b0; b <= b1; b++)
				if (pass == 0)
					count[b + 1]++;
				else
					mf->band_index[count[b]++] = k;
		}
		if (pass == 0) {
			for (int b = 0; b < n_bands; b++)
				count[b + 1] += count[b];
			mf->band_start = g_memdup2(count,
				(n_bands + 1) * sizeof(int));
			mf->band_index = g_new(int, count[n_bands]);
			memcpy(count, mf->band_start, (n_bands + 1) * sizeof(int));
		}
	}
	g_free(count);
}

static Mask *
mask_new(SpAnnotations *a, const int *which, int n_which, double x, double y,
	double ds_x, double ds_y, int width, int height)
{
	Mask *m = g_new0(Mask, 1);
	GArray *edges = g_array_new(FALSE, FALSE, sizeof(Edge));
	/* GDAL's inverse geotransform (GDALInvGeoTransform without rotation) */
	double ix0 = -x / ds_x, ix1 = 1.0 / ds_x;
	double iy0 = -y / ds_y, iy1 = 1.0 / ds_y;

	m->annotations = sp_annotations_ref(a);
	m->width = width;
	m->height = height;
	int n_polygons = 0;
	for (int i = 0; i < n_which; i++)
		n_polygons += a->features[which[i]].n_polygons;
	m->features = g_new0(MaskFeature, MAX(1, n_polygons));
	for (int i = 0; i < n_which; i++) {
		const Feature *f = &a->features[which[i]];
		int ring0 = 0, point0 = 0;

		/* wholly outside the mask: nothing to keep */
		if ((f->x1 - x) * ix1 < -1 || (f->x0 - x) * ix1 > width + 1 ||
			(f->y1 - y) * iy1 < -1 || (f->y0 - y) * iy1 > height + 1)
			continue;
		/* each polygon of a MultiPolygon on its own, united with the
		 * others (gdal_rasterize burns a multi-geometry part by part) */
		for (int k = 0; k < f->n_polygons; k++) {
			int n_rings = f->polygon_rings[k];
			int n_points = 0;
			MaskFeature mf;

			for (int r = ring0; r < ring0 + n_rings; r++)
				n_points += f->ring_sizes[r];
			polygon_edges(f, ring0, n_rings, point0, ix0, ix1, iy0,
				iy1, edges, &mf, width, height);
			ring0 += n_rings;
			point0 += n_points;
			if (mf.row0 > mf.row1 || mf.col0 > mf.col1) {
				g_array_set_size(edges, mf.first);
				continue;
			}
			m->features[m->n_features++] = mf;
		}
	}
	m->edges = (Edge *) g_array_free(edges, FALSE);
	for (int i = 0; i < m->n_features; i++)
		if (m->features[i].n >= BAND_MIN_EDGES)
			feature_bands(&m->features[i], m->edges);

	/* the cell index, counted then filled */
	m->cells_x = (width + CELL - 1) / CELL;
	m->cells_y = (height + CELL - 1) / CELL;
	guint64 n_cells = (guint64) m->cells_x * m->cells_y;
	m->cell_start = g_new0(int, n_cells + 1);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < m->n_features; i++) {
			const MaskFeature *mf = &m->features[i];
			for (int cy = mf->row0 / CELL; cy <= mf->row1 / CELL; cy++)
				for (int cx = mf->col0 / CELL;
					cx <= mf->col1 / CELL; cx++) {
					guint64 c = (guint64) cy * m->cells_x + cx;
					if (pass == 0)
						m->cell_start[c + 1]++;
					else
						m->cell_features
							[m->cell_start[c]++] = i;
				}
		}
		if (pass == 0) {
			for (guint64 c = 0; c < n_cells; c++)
				m->cell_start[c + 1] += m->cell_start[c];
			m->cell_features = g_new(int,
				MAX(1, m->cell_start[n_cells]));
		} else {
			/* the fill advanced each start to the next's */
			for (guint64 c = n_cells; c > 0; c--)
				m->cell_start[c] = m->cell_start[c - 1];
			m->cell_start[0] = 0;
		}
	}
	return m;
}

static void *
mask_start(VipsImage *out, void *a, void *b)
{
	Mask *m = a;
	MaskSeq *seq = g_new0(MaskSeq, 1);

	seq->mask = m;
	seq->stamp = g_new0(int, MAX(1, m->n_features));
	return seq;
}

static int
mask_stop(void *vseq, void *a, void *b)
{
	MaskSeq *seq = vseq;

	g_free(seq->stamp);
	g_free(seq->crossings);
	g_free(seq);
	return 0;
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* Sets columns [x0, x1) of @row (clipped to [left, right)) to 255. */
static void
fill_span(VipsPel *row, int left, int right, double x0, double x1)
{
	int a = clamp_int(x0, left, right), b = clamp_int(x1, left, right);

	if (b > a)
		memset(row + (a - left), 255, b - a);
}

/* One feature's pixels in row @j of the region. */
static void
scan_feature(MaskSeq *seq, const MaskFeature *mf, int j, VipsPel *row,
	int left, int right)
{
	const Mask *m = seq->mask;
	const double dy = j + 0.5;
	const int *list = NULL;
	int n = mf->n, ints = 0;

	if (mf->band_start) {
		int b = (j - mf->row0) / BAND;
		list = mf->band_index + mf->band_start[b];
		n = mf->band_start[b + 1] - mf->band_start[b];
	}
	if (seq->n_crossings_cap < n) {
		seq->n_crossings_cap = MAX(n, 2 * seq->n_crossings_cap);
		seq->crossings = g_renew(double, seq->crossings,
			seq->n_crossings_cap);
	}
	for (int k = 0; k < n; k++) {
		const Edge *e = &m->edges[mf->first + (list ? list[k] : k)];
		double dy1 = e->v1, dy2 = e->v2, dx1, dx2;

		if ((dy1 < dy && dy2 < dy) || (dy1 > dy && dy2 > dy))
			continue;
		if (dy1 < dy2) {
			dx1 = e->u1;
			dx2 = e->u2;
		} else if (dy1 > dy2) {
			dy1 = e->v2;
			dy2 = e->v1;
			dx1 = e->u2;
			dx2 = e->u1;
		} else {
			/* on the centre line: filled when drawn right to
			 * left (GDAL fills these "bottom" edges on their own) */
			if (e->u1 > e->u2)
				fill_span(row, left, right, floor(e->u2 + 0.5),
					floor(e->u1 + 0.5));
			continue;
		}
		if (dy < dy2 && dy >= dy1)
			seq->crossings[ints++] =
				(dy - dy1) * (dx2 - dx1) / (dy2 - dy1) + dx1;
	}
	if (ints > 1)
		qsort(seq->crossings, ints, sizeof(double), compare_double);
	for (int k = 0; k + 1 < ints; k += 2)
		fill_span(row, left, right, floor(seq->crossings[k] + 0.5),
			floor(seq->crossings[k + 1] + 0.5));
}

static int
mask_generate(VipsRegion *out, void *vseq, void *a, void *b, gboolean *stop)
{
	MaskSeq *seq = vseq;
	const Mask *m = seq->mask;
	const VipsRect *r = &out->valid;
	int left = r->left, right = VIPS_RECT_RIGHT(r);

	for (int j = r->top; j < VIPS_RECT_BOTTOM(r); j++)
		memset(VIPS_REGION_ADDR(out, left, j), 0, r->width);
	seq->region++;
	for (int cy = r->top / CELL; cy <= (VIPS_RECT_BOTTOM(r) - 1) / CELL;
		cy++)
		for (int cx = left / CELL; cx <= (right - 1) / CELL; cx++) {
			int c = cy * m->cells_x + cx;
			for (int k = m->cell_start[c]; k < m->cell_start[c + 1];
				k++) {
				int i = m->cell_features[k];
				const MaskFeature *mf = &m->features[i];

				if (seq->stamp[i] == seq->region)
					continue;
				seq->stamp[i] = seq->region;
				if (mf->col1 < left || mf->col0 >= right)
					continue;
				int j0 = MAX(r->top, mf->row0);
				int j1 = MIN(VIPS_RECT_BOTTOM(r) - 1, mf->row1);
				for (int j = j0; j <= j1; j++)
					scan_feature(seq, mf, j,
						VIPS_REGION_ADDR(out, left, j),
						left, right);
			}
		}
	return 0;
}

VipsImage *
sp_annotations_mask(SpAnnotations *annotations, const int *features,
	int n_features, double x, double y, double downsample_x,
	double downsample_y, int width, int height, GError **error)
{
	g_autofree int *all = NULL;

	g_return_val_if_fail(annotations != NULL, NULL);
	if (!(downsample_x > 0) || !(downsample_y > 0) || width < 1 ||
		height < 1 || !isfinite(x) || !isfinite(y)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"annotation mask: bad grid (%d × %d px at %g, %g, "
			"downsample %g × %g)",
			width, height, x, y, downsample_x, downsample_y);
		return NULL;
	}
	if (!features) {
		all = g_new(int, MAX(1, annotations->n_features));
		for (int i = 0; i < annotations->n_features; i++)
			all[i] = i;
		features = all;
		n_features = annotations->n_features;
	}
	for (int i = 0; i < n_features; i++)
		g_return_val_if_fail(features[i] >= 0 &&
				features[i] < annotations->n_features,
			NULL);

	Mask *m = mask_new(annotations, features, n_features, x, y,
		downsample_x, downsample_y, width, height);
	VipsImage *image = vips_image_new();

	vips_image_init_fields(image, width, height, 1, VIPS_FORMAT_UCHAR,
		VIPS_CODING_NONE, VIPS_INTERPRETATION_B_W, 1.0, 1.0);
	g_signal_connect(image, "close", G_CALLBACK(mask_close_cb), m);
	if (vips_image_pipelinev(image, VIPS_DEMAND_STYLE_SMALLTILE, NULL) ||
		vips_image_generate(image, mask_start, mask_generate, mask_stop,
			m, NULL)) {
		g_object_unref(image);
		_sp_set_vips_error(error, "annotation mask", annotations->path);
		return NULL;
	}
	return image;
}
