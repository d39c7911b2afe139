/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* overlay: paint per-patch classes or scores over a thumbnail, with a
 * legend, for a pathologist to look at.
 *
 * The CSV's rectangles are in level-0 pixels of the slide, so the same
 * file paints correctly over a thumbnail at any downsample or crop of it.
 * The painted layer is held in memory at the thumbnail's size (RGBA), so
 * the input must be a thumbnail-sized image, at most MAX_PIXELS.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "sp-private.h"

static const char *const cmap_choices[] = { "viridis", "magma", "plasma",
	"inferno", "gray", NULL };

typedef struct {
	char *csv;
	char *column;
	char *cmap;
	char *palette;
	double alpha;
	char *range;
	gboolean legend;
	char *annotations;
	char *units;
	int outline;
} SpOverlayArgs;

static const char *const units_choices[] = { "px", "um", NULL };

static const SpArgInfo overlay_args[] = {
	{ "csv", SP_ARG_PATH, NULL, NULL, 0, 0, NULL, 0, FALSE,
		"per-patch values: a header, then rows with x, y, w, h (level-0 "
		"pixels; or tiles.csv's width, height and downsample) and the "
		"value column (required unless annotations= is given)",
		SP_ARG_FIELD(SpOverlayArgs, csv) },
	{ "column", SP_ARG_STRING, NULL, NULL, 0, 0, NULL, -1, FALSE,
		"the value column (default: class, else score); numbers are "
		"scores painted with cmap, anything else is a class painted "
		"with palette",
		SP_ARG_FIELD(SpOverlayArgs, column) },
	{ "cmap", SP_ARG_CHOICE, NULL, "viridis", 0, 0, cmap_choices, -1, FALSE,
		"colour map for scores (matplotlib's perceptually uniform maps)",
		SP_ARG_FIELD(SpOverlayArgs, cmap) },
	{ "palette", SP_ARG_STRING, NULL, "tab10", 0, 0, NULL, -1, FALSE,
		"colours for classes: tab10, set1, or NAME:#RRGGBB,… (classes not "
		"named take tab10's colours in order)",
		SP_ARG_FIELD(SpOverlayArgs, palette) },
	{ "alpha", SP_ARG_DOUBLE, NULL, "0.4", 0, 1, NULL, -1, FALSE,
		"opacity of the painted patches",
		SP_ARG_FIELD(SpOverlayArgs, alpha) },
	{ "range", SP_ARG_STRING, NULL, NULL, 0, 0, NULL, -1, FALSE,
		"MIN,MAX: the scores the colour map's ends stand for (default: "
		"0,1 when every score lies in it, else the scores' own range)",
		SP_ARG_FIELD(SpOverlayArgs, range) },
	{ "legend", SP_ARG_BOOL, NULL, "true", 0, 0, NULL, -1, FALSE,
		"add a legend panel on the right: each class's colour and count, "
		"or a colour bar for scores",
		SP_ARG_FIELD(SpOverlayArgs, legend) },
	{ "annotations", SP_ARG_PATH, NULL, NULL, 0, 0, NULL, -1, FALSE,
		"draw the outlines of these annotation polygons (GeoJSON, "
		"level-0 pixels, QuPath's export) in their class colours "
		"(classification.color; else tab10 in order of the classes)",
		SP_ARG_FIELD(SpOverlayArgs, annotations) },
	{ "outline", SP_ARG_INT, "px", "2", 1, 16, NULL, -1, FALSE,
		"width of the annotation outlines, in picture pixels, inside the "
		"polygons",
		SP_ARG_FIELD(SpOverlayArgs, outline) },
	{ "units", SP_ARG_CHOICE, NULL, "px", 0, 0, units_choices, -1, FALSE,
		"units of the GeoJSON's coordinates: level-0 pixels, or "
		"micrometres (divided by the slide's mpp)",
		SP_ARG_FIELD(SpOverlayArgs, units) },
};

/* the largest picture painted on, in pixels */
#define MAX_PIXELS (64 * 1024 * 1024)
#define MAX_CLASSES 256

typedef struct {
	guint8 r, g, b;
} Rgb;

/* 10 evenly spaced stops of each map, from matplotlib's tables (van der
 * Walt and Smith, 2015; CC0), interpolated linearly between. */
static const guint32 cmap_stops[][10] = {
	{ 0x440154, 0x482878, 0x3e4a89, 0x31688e, 0x26828e, 0x1f9e89, 0x35b779,
		0x6dcd59, 0xb4de2c, 0xfde725 }, /* viridis */
	{ 0x000004, 0x180f3e, 0x451077, 0x721f81, 0x9f2f7f, 0xcd4071, 0xf1605d,
		0xfd9567, 0xfec98d, 0xfcfdbf }, /* magma */
	{ 0x0d0887, 0x47039f, 0x7301a8, 0x9c179e, 0xbd3786, 0xd8576b, 0xed7953,
		0xfa9e3b, 0xfdc926, 0xf0f921 }, /* plasma */
	{ 0x000004, 0x1b0c41, 0x4a0c6b, 0x781c6d, 0xa52c60, 0xcf4446, 0xed6925,
		0xfb9b06, 0xf7d13d, 0xfcffa4 }, /* inferno */
	{ 0x000000, 0x1c1c1c, 0x393939, 0x555555, 0x717171, 0x8e8e8e, 0xaaaaaa,
		0xc6c6c6, 0xe3e3e3, 0xffffff }, /* gray */
};

/* matplotlib's tab10 and ColorBrewer's Set1 */
static const guint32 tab10[] = { 0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728,
	0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf };
static const guint32 set1[] = { 0xe41a1c, 0x377eb8, 0x4daf4a, 0x984ea3,
	0xff7f00, 0xffff33, 0xa65628, 0xf781bf, 0x999999 };

static Rgb
rgb_of(guint32 v)
{
	Rgb c = { v >> 16, (v >> 8) & 0xff, v & 0xff };
	return c;
}

static Rgb
cmap_colour(int map, double t)
{
	const guint32 *stops = cmap_stops[map];
	/* NaN (a score range of ±inf) takes the low end: never an index */
	t = isnan(t) ? 0 : CLAMP(t, 0, 1) * 9;
	int i = MIN((int) t, 8);
	double f = t - i;
	Rgb a = rgb_of(stops[i]), b = rgb_of(stops[i + 1]);
	Rgb c = { (guint8) (a.r + (b.r - a.r) * f + 0.5),
		(guint8) (a.g + (b.g - a.g) * f + 0.5),
		(guint8) (a.b + (b.b - a.b) * f + 0.5) };
	return c;
}

typedef struct {
	double x, y, w, h; /* level-0 */
	double score; /* scores */
	int class_index; /* classes */
} Row;

typedef struct {
	GArray *rows; /* Row */
	gboolean classes; /* class column, else scores */
	char *column;
	GPtrArray *class_names;
	int class_count[MAX_CLASSES];
	Rgb class_colour[MAX_CLASSES];
	double lo, hi; /* the score range */
	int cmap;
	int legend_width;
	guint8 *legend; /* legend_width × height RGB, or NULL */
	SpAnnotations *annotations; /* annotations=, or NULL */
} OverlayState;

static void
overlay_state_free(void *data)
{
	OverlayState *state = data;

	if (state->rows)
		g_array_unref(state->rows);
	if (state->class_names)
		g_ptr_array_unref(state->class_names);
	g_free(state->column);
	g_free(state->legend);
	sp_annotations_unref(state->annotations);
	g_free(state);
}

static int
find_column(GPtrArray *header, const char *name)
{
	for (guint i = 0; i < header->len; i++)
		if (g_ascii_strcasecmp(g_ptr_array_index(header, i), name) == 0)
			return i;
	return -1;
}

/* A finite number no larger in magnitude than SCORE_MAX, so differences
 * of two stay finite. */
#define SCORE_MAX 1e300

static gboolean
parse_number(const char *text, double *out)
{
	return _sp_parse_number(text, -SCORE_MAX, SCORE_MAX, out);
}

/* (s - lo) / (hi - lo) without overflow: halves, as lo and hi may be
 * ±SCORE_MAX apart */
static double
normalise_score(double s, double lo, double hi)
{
	double span = hi / 2 - lo / 2;

	return span > 0 ? (s / 2 - lo / 2) / span : 0;
}

static gboolean
parse_hex_colour(const char *text, Rgb *c)
{
	char *end;

	if (*text == '#')
		text++;
	if (strlen(text) != 6)
		return FALSE;
	guint64 v = g_ascii_strtoull(text, &end, 16);
	if (*end)
		return FALSE;
	*c = rgb_of((guint32) v);
	return TRUE;
}

/* Reads the CSV: rectangles and values. */
static gboolean
read_csv(SpNode *node, OverlayState *state, GError **error)
{
	const SpOverlayArgs *args = node->args;
	const char *path = args->csv;
	g_autofree char *text = NULL;
	GError *local = NULL;
	gsize length;

	if (!g_file_get_contents(path, &text, &length, &local)) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO, "overlay: %s",
			local->message);
		g_error_free(local);
		return FALSE;
	}
	g_autoptr(SpCsv) csv = _sp_csv_new_from_data(text, length);
	GPtrArray *header = NULL;
	GPtrArray *next = NULL;
	int ix = -1, iy = -1, iw = -1, ih = -1, iwidth = -1, iheight = -1;
	int ids = -1, iv = -1;
	int line_no;

	state->rows = g_array_new(FALSE, FALSE, sizeof(Row));
	state->class_names = g_ptr_array_new_with_free_func(g_free);
	for (SpCsvStatus status = _sp_csv_read_header(csv);;
		status = _sp_csv_next(csv, &next)) {
		g_autoptr(GPtrArray) f = g_steal_pointer(&next);
		line_no = (int) _sp_csv_line(csv);
		if (status == SP_CSV_END)
			break;
		if (status == SP_CSV_BAD_QUOTE) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"overlay: '%s' line %d: %s", path, line_no,
				_sp_csv_status_text(status));
			return FALSE;
		}
		if (status == SP_CSV_TOO_LONG) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"overlay: '%s' line %d: longer than %d MiB (is it a text "
				"file?)",
				path, line_no, SP_CSV_MAX_RECORD >> 20);
			return FALSE;
		}
		if (status != SP_CSV_OK) {
			/* a NUL byte, bytes that are not UTF-8 */
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"overlay: '%s' is not UTF-8 text", path);
			return FALSE;
		}
		if (!header) {
			header = _sp_csv_header(csv);
			ix = find_column(header, "x");
			iy = find_column(header, "y");
			iw = find_column(header, "w");
			ih = find_column(header, "h");
			iwidth = find_column(header, "width");
			iheight = find_column(header, "height");
			ids = find_column(header, "downsample");
			if (args->column)
				state->column = g_strdup(args->column);
			else if (find_column(header, "class") >= 0)
				state->column = g_strdup("class");
			else
				state->column = g_strdup("score");
			iv = find_column(header, state->column);
			if (ix < 0 || iy < 0 ||
				((iw < 0 || ih < 0) &&
					(iwidth < 0 || iheight < 0 ||
						ids < 0))) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"overlay: '%s' needs columns x, y, w, h (level-0 pixels) "
					"or x, y, width, height, downsample",
					path);
				return FALSE;
			}
			if (iv < 0) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"overlay: argument 'column': '%s' has no column '%s'%s",
					path, state->column,
					args->column ? "" :
						       " (nor 'class'); name "
						       "the value column with "
						       "column=NAME");
				return FALSE;
			}
			continue;
		}
		if (f->len != header->len) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"overlay: '%s' line %d: %u fields, the header has %u",
				path, line_no, f->len, header->len);
			return FALSE;
		}
		Row row = { 0 };
		const char *names[4] = { "x", "y", "w", "h" };
		int idx[4] = { ix, iy, iw, ih };
		double *dst[4] = { &row.x, &row.y, &row.w, &row.h };
		for (int k = 0; k < 4; k++) {
			if (idx[k] < 0)
				continue;
			if (!parse_number(g_ptr_array_index(f, idx[k]),
				    dst[k])) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"overlay: '%s' line %d: column '%s': '%s' is not a number "
					"(a finite one, at most 1e300 in magnitude)",
					path, line_no, names[k],
					(char *) g_ptr_array_index(f, idx[k]));
				return FALSE;
			}
		}
		if (iw < 0 || ih < 0) {
			double width, height, ds;
			if (!parse_number(g_ptr_array_index(f, iwidth),
				    &width) ||
				!parse_number(g_ptr_array_index(f, iheight),
					&height) ||
				!parse_number(g_ptr_array_index(f, ids), &ds)) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"overlay: '%s' line %d: width, height or downsample is "
					"not a number",
					path, line_no);
				return FALSE;
			}
			row.w = width * ds;
			row.h = height * ds;
			if (!isfinite(row.w) || !isfinite(row.h)) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"overlay: '%s' line %d: width × downsample or height × "
					"downsample is not a finite number",
					path, line_no);
				return FALSE;
			}
		}
		const char *value = g_ptr_array_index(f, iv);
		if (*value == '\0')
			continue; /* no prediction for this patch */
		double score;
		gboolean numeric = parse_number(value, &score);
		/* a column named score holds numbers, one named class holds
		 * names; any other column is what its first value is */
		if (state->rows->len == 0)
			state->classes = g_ascii_strcasecmp(state->column,
						 "class") == 0 ?
				TRUE :
				g_ascii_strcasecmp(state->column, "score") ==
					0 ?
				FALSE :
				!numeric;
		if (!state->classes && !numeric) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"overlay: '%s' line %d: column '%s': '%s' is not a number "
				"(a finite one, at most 1e300 in magnitude)%s",
				path, line_no, state->column, value,
				g_ascii_strcasecmp(state->column, "score") ==
						0 ?
					"" :
					", and the column's first value was a score");
			return FALSE;
		}
		if (state->classes) {
			guint k;
			for (k = 0; k < state->class_names->len; k++)
				if (strcmp(g_ptr_array_index(state->class_names,
						   k),
					    value) == 0)
					break;
			if (k == state->class_names->len) {
				if (k == MAX_CLASSES) {
					g_set_error(error, SP_ERROR,
						SP_ERROR_USAGE,
						"overlay: '%s' line %d: more than %d classes in "
						"column '%s'",
						path, line_no, MAX_CLASSES,
						state->column);
					return FALSE;
				}
				g_ptr_array_add(state->class_names,
					g_strdup(value));
			}
			row.class_index = k;
			state->class_count[k]++;
		} else
			row.score = score;
		g_array_append_val(state->rows, row);
	}
	if (!header) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"overlay: '%s' has no header line", path);
		return FALSE;
	}
	return TRUE;
}

static gboolean
plan_colours(SpNode *node, OverlayState *state, GError **error)
{
	const SpOverlayArgs *args = node->args;
	const char *cmap = args->cmap;
	const char *palette = args->palette;

	for (int i = 0; cmap_choices[i]; i++)
		if (strcmp(cmap_choices[i], cmap) == 0)
			state->cmap = i;

	if (state->classes) {
		const guint32 *base = tab10;
		int n_base = G_N_ELEMENTS(tab10);
		int next = 0;
		gboolean named[MAX_CLASSES] = { FALSE };

		if (strcmp(palette, "set1") == 0) {
			base = set1;
			n_base = G_N_ELEMENTS(set1);
		} else if (strcmp(palette, "tab10") != 0) {
			g_auto(GStrv) items = g_strsplit(palette, ",", -1);
			for (char **it = items; *it; it++) {
				char *colon = strrchr(*it, ':');
				Rgb c;

				if (!colon ||
					!parse_hex_colour(colon + 1, &c)) {
					g_set_error(error, SP_ERROR,
						SP_ERROR_USAGE,
						"overlay: argument 'palette': '%s' is not NAME:#RRGGBB "
						"(nor tab10 or set1)",
						*it);
					return FALSE;
				}
				*colon = '\0';
				for (guint k = 0; k < state->class_names->len;
					k++)
					if (strcmp(g_ptr_array_index(
							   state->class_names,
							   k),
						    g_strstrip(*it)) == 0) {
						state->class_colour[k] = c;
						named[k] = TRUE;
					}
			}
		}
		for (guint k = 0; k < state->class_names->len; k++)
			if (!named[k])
				state->class_colour[k] = rgb_of(
					base[next++ % n_base]);
		return TRUE;
	}

	const char *range = args->range;
	if (range) {
		g_auto(GStrv) ends = g_strsplit(range, ",", -1);
		if (g_strv_length(ends) != 2 ||
			!parse_number(g_strstrip(ends[0]), &state->lo) ||
			!parse_number(g_strstrip(ends[1]), &state->hi) ||
			state->hi <= state->lo) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"overlay: argument 'range': '%s' is not MIN,MAX with MIN < MAX",
				range);
			return FALSE;
		}
		return TRUE;
	}
	double lo = INFINITY, hi = -INFINITY;
	for (guint i = 0; i < state->rows->len; i++) {
		double s = g_array_index(state->rows, Row, i).score;
		lo = MIN(lo, s);
		hi = MAX(hi, s);
	}
	if (state->rows->len == 0 || (lo >= 0 && hi <= 1)) {
		state->lo = 0;
		state->hi = 1;
	} else {
		state->lo = lo;
		state->hi = hi > lo ? hi : lo + 1;
	}
	return TRUE;
}

/* ------------------------------------------------------------------ */
/* The legend panel, drawn in memory                                    */

typedef struct {
	guint8 *pixels; /* RGB */
	int width, height;
} Canvas;

static void
fill_rect(Canvas *c, int x, int y, int w, int h, Rgb colour)
{
	for (int j = MAX(0, y); j < MIN(c->height, y + h); j++)
		for (int i = MAX(0, x); i < MIN(c->width, x + w); i++) {
			guint8 *p = c->pixels + ((size_t) j * c->width + i) * 3;
			p[0] = colour.r;
			p[1] = colour.g;
			p[2] = colour.b;
		}
}

/* Text as libvips (Pango) renders it: a 1-band ink mask. */
static VipsImage *
render_text(const char *text, int font_px)
{
	VipsImage *t = NULL;
	g_autofree char *font = g_strdup_printf("sans %d", font_px);
	g_autofree char *escaped = g_markup_escape_text(text, -1);

	if (vips_text(&t, escaped, "font", font, "dpi", 72, NULL)) {
		g_free(_sp_vips_error_take(NULL));
		return NULL;
	}
	return t;
}

static void
draw_text(Canvas *c, VipsImage *ink, int x, int y)
{
	size_t size;
	guint8 *mask = vips_image_write_to_memory(ink, &size);

	if (!mask)
		return;
	for (int j = 0; j < ink->Ysize; j++)
		for (int i = 0; i < ink->Xsize; i++) {
			int px = x + i, py = y + j;
			if (px < 0 || py < 0 || px >= c->width ||
				py >= c->height)
				continue;
			int a = mask[(size_t) j * ink->Xsize + i];
			guint8 *p = c->pixels +
				((size_t) py * c->width + px) * 3;
			/* dark grey ink on the panel */
			for (int b = 0; b < 3; b++)
				p[b] = (guint8) ((p[b] * (255 - a) + 0x22 * a) /
					255);
		}
	g_free(mask);
}

/* The colour a patch takes on white glass: what the legend shows. */
static Rgb
on_white(Rgb c, double alpha)
{
	Rgb o = { (guint8) (255 + (c.r - 255) * alpha + 0.5),
		(guint8) (255 + (c.g - 255) * alpha + 0.5),
		(guint8) (255 + (c.b - 255) * alpha + 0.5) };
	return o;
}

static void
plan_legend(SpNode *node, OverlayState *state, int height)
{
	int font = CLAMP(height / 45, 10, 22);
	int pad = font;
	int swatch = font + font / 2;
	double alpha = MAX(((SpOverlayArgs *) node->args)->alpha, 0.6);
	GPtrArray *labels = g_ptr_array_new_with_free_func(g_object_unref);
	int text_w = 0;
	VipsImage *title = render_text(state->column, font + 2);

	if (title)
		text_w = title->Xsize;
	if (state->classes)
		for (guint k = 0; k < state->class_names->len; k++) {
			g_autofree char *s = g_strdup_printf("%s (%d)",
				(char *) g_ptr_array_index(state->class_names,
					k),
				state->class_count[k]);
			VipsImage *t = render_text(s, font);
			g_ptr_array_add(labels, t);
			if (t)
				text_w = MAX(text_w,
					swatch + pad / 2 + t->Xsize);
		}
	else {
		double ticks[3] = { state->hi, (state->lo + state->hi) / 2,
			state->lo };
		for (int k = 0; k < 3; k++) {
			g_autofree char *s = g_strdup_printf("%.3g", ticks[k]);
			VipsImage *t = render_text(s, font);
			g_ptr_array_add(labels, t);
			if (t)
				text_w = MAX(text_w,
					swatch + pad / 2 + t->Xsize);
		}
	}

	Canvas c;
	c.width = text_w + 2 * pad;
	c.height = height;
	c.pixels = g_malloc((size_t) c.width * c.height * 3);
	memset(c.pixels, 255, (size_t) c.width * c.height * 3);
	/* a hairline between picture and legend */
	fill_rect(&c, 0, 0, 1, c.height, (Rgb){ 0xcc, 0xcc, 0xcc });

	int y = pad;
	if (title) {
		draw_text(&c, title, pad, y);
		y += title->Ysize + pad / 2;
		g_object_unref(title);
	}
	if (state->classes)
		for (guint k = 0; k < labels->len; k++) {
			VipsImage *t = g_ptr_array_index(labels, k);
			int row_h = MAX(swatch, t ? t->Ysize : 0);

			fill_rect(&c, pad, y, swatch, swatch,
				on_white(state->class_colour[k], alpha));
			if (t)
				draw_text(&c, t, pad + swatch + pad / 2,
					y + (swatch - t->Ysize) / 2);
			y += row_h + pad / 3;
		}
	else {
		/* a vertical colour bar, high scores at the top */
		int bar_h = MAX(font * 3,
			MIN(height - y - 2 * pad, height / 2));
		for (int j = 0; j < bar_h; j++)
			fill_rect(&c, pad, y + j, swatch, 1,
				on_white(cmap_colour(state->cmap,
						 1.0 -
							 (double) j /
								 MAX(1, bar_h - 1)),
					alpha));
		for (int k = 0; k < 3; k++) {
			VipsImage *t = g_ptr_array_index(labels, k);
			int ty = y + k * (bar_h - 1) / 2;
			if (t)
				draw_text(&c, t, pad + swatch + pad / 2,
					CLAMP(ty - t->Ysize / 2, 0,
						height - t->Ysize));
		}
	}
	g_ptr_array_unref(labels);
	state->legend = c.pixels;
	state->legend_width = c.width;
}

static gboolean
overlay_plan(SpNode *node, GError **error)
{
	OverlayState *state = g_new0(OverlayState, 1);
	SpGeometry *g = &node->geom;

	node->priv = state;
	if ((gint64) g->width * g->height > MAX_PIXELS) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"overlay: the input is %d × %d pixels; paint on a thumbnail of "
			"at most %d megapixels (put 'downsample mpp=8' or similar "
			"before overlay)",
			g->width, g->height, MAX_PIXELS / (1024 * 1024));
		return FALSE;
	}
	const SpOverlayArgs *args = node->args;
	if (!args->csv && !args->annotations) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"overlay: give a CSV of per-patch values, "
			"annotations=FILE.geojson, or both");
		return FALSE;
	}
	if (args->annotations &&
		!(state->annotations = _sp_annotations_load_in(
			  args->annotations, args->units, node->slide, "overlay",
			  error)))
		return FALSE;
	if (args->csv) {
		if (!read_csv(node, state, error) ||
			!plan_colours(node, state, error))
			return FALSE;
		if (args->legend)
			plan_legend(node, state, g->height);
	}
	g->bands = 3;
	g->width += state->legend_width;
	g->w = g->width * g->downsample_x;
	return TRUE;
}

/* The first pixel whose centre is at or past @edge (picture pixels),
 * in [0, @size]. */
static int
pixel_edge(double edge, int size)
{
	double e = ceil(edge - 0.5);

	if (isnan(e) || e < 0)
		return 0;
	return e > size ? size : (int) e;
}

/* The outlines of the annotations, one class at a time: the class's
 * polygons rasterised on the picture's grid (rasterize's rule) and the
 * pixels of that mask within @outline - 1 pixels of an unset one painted
 * opaque in the class colour. @rgb: the 3-band uchar picture. */
static VipsImage *
draw_outlines(SpNode *node, OverlayState *state, VipsImage *rgb,
	GError **error)
{
	const SpOverlayArgs *args = node->args;
	const SpGeometry *g = &node->input->geom;
	SpAnnotations *a = state->annotations;
	int n = sp_annotations_get_count(a), w = rgb->Xsize, h = rgb->Ysize;
	int r = args->outline - 1;
	size_t len;
	guint8 *pixels = vips_image_write_to_memory(rgb, &len);
	int *which = g_new(int, MAX(1, n));
	gboolean *done = g_new0(gboolean, MAX(1, n));
	int palette_next = 0;

	if (!pixels) {
		_sp_set_vips_error(error, "overlay", args->annotations);
		g_free(which);
		g_free(done);
		return NULL;
	}
	for (int first = 0; first < n; first++) {
		if (done[first])
			continue;
		const char *cls = sp_annotations_get_class(a, first);
		int k = 0;
		gboolean have_colour = FALSE;
		guint8 colour[3];

		for (int i = first; i < n; i++)
			if (!done[i] &&
				g_strcmp0(sp_annotations_get_class(a, i), cls) == 0) {
				done[i] = TRUE;
				which[k++] = i;
				if (!have_colour)
					have_colour = sp_annotations_get_colour(a,
						i, colour);
			}
		if (!have_colour) {
			Rgb c = rgb_of(tab10[palette_next++ % G_N_ELEMENTS(tab10)]);
			colour[0] = c.r;
			colour[1] = c.g;
			colour[2] = c.b;
		}
		VipsImage *m = sp_annotations_mask(a, which, k, g->x, g->y,
			g->downsample_x, g->downsample_y, w, h, error);
		size_t mlen;
		guint8 *mask = m ? vips_image_write_to_memory(m, &mlen) : NULL;

		if (m)
			g_object_unref(m);
		if (!mask) {
			if (m)
				_sp_set_vips_error(error, "overlay",
					args->annotations);
			else
				g_prefix_error(error, "overlay: ");
			g_free(pixels);
			g_free(which);
			g_free(done);
			return NULL;
		}
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++) {
				gboolean edge = FALSE;

				if (!mask[(size_t) y * w + x])
					continue;
				for (int dy = -r - 1; dy <= r + 1 && !edge; dy++)
					for (int dx = -r - 1; dx <= r + 1 && !edge;
						dx++) {
						int yy = y + dy, xx = x + dx;

						if ((abs(dx) > r && abs(dy) > r) ||
							(abs(dx) <= r &&
								abs(dy) <= r))
							continue;
						edge = yy >= 0 && yy < h &&
							xx >= 0 && xx < w &&
							!mask[(size_t) yy * w + xx];
					}
				if (edge)
					memcpy(pixels + ((size_t) y * w + x) * 3,
						colour, 3);
			}
		g_free(mask);
	}
	g_free(which);
	g_free(done);

	VipsImage *out = vips_image_new_from_memory_copy(pixels, len, w, h, 3,
		VIPS_FORMAT_UCHAR);
	g_free(pixels);
	if (!out)
		_sp_set_vips_error(error, "overlay", args->annotations);
	else
		out->Type = VIPS_INTERPRETATION_sRGB;
	return out;
}

static VipsImage *
overlay_build(SpNode *node, VipsImage *in, GError **error)
{
	OverlayState *state = node->priv;
	const SpGeometry *g = &node->input->geom;
	double alpha = ((SpOverlayArgs *) node->args)->alpha;
	int w = in->Xsize, h = in->Ysize;
	VipsImage *base, *layer, *t, *out;
	guint8 *rgba = g_malloc0((size_t) w * h * 4);
	int r;

	/* the painted layer: each rectangle's pixels whose centres lie in it */
	for (guint i = 0; state->rows && i < state->rows->len; i++) {
		const Row *row = &g_array_index(state->rows, Row, i);
		Rgb c = state->classes ?
			state->class_colour[CLAMP(row->class_index, 0,
				MAX_CLASSES - 1)] :
			cmap_colour(state->cmap,
				normalise_score(row->score, state->lo,
					state->hi));
		/* in this picture's pixels, clamped before any cast: a
		 * rectangle 1e300 pixels away is off the picture, not an int
		 * overflow */
		int u0 = pixel_edge((row->x - g->x) / g->downsample_x, w);
		int u1 = pixel_edge((row->x + row->w - g->x) / g->downsample_x,
			w);
		int v0 = pixel_edge((row->y - g->y) / g->downsample_y, h);
		int v1 = pixel_edge((row->y + row->h - g->y) / g->downsample_y,
			h);
		guint8 a = (guint8) (alpha * 255 + 0.5);

		for (int v = MAX(0, v0); v < MIN(h, v1); v++)
			for (int u = MAX(0, u0); u < MIN(w, u1); u++) {
				guint8 *p = rgba + ((size_t) v * w + u) * 4;
				p[0] = c.r;
				p[1] = c.g;
				p[2] = c.b;
				p[3] = a;
			}
	}
	layer = vips_image_new_from_memory_copy(rgba, (size_t) w * h * 4, w, h,
		4, VIPS_FORMAT_UCHAR);
	g_free(rgba);
	if (!layer)
		goto fail;
	layer->Type = VIPS_INTERPRETATION_sRGB;

	/* headers are changed on copies only: @in, and what libvips'
	 * operation cache returns, may be shared */
	if (in->Bands == 1) {
		VipsImage *bands[3] = { in, in, in };
		if (vips_bandjoin(bands, &t, 3, NULL))
			goto fail_layer;
	} else
		t = g_object_ref(in);
	r = vips_copy(t, &base, "interpretation", VIPS_INTERPRETATION_sRGB,
		NULL);
	g_object_unref(t);
	if (r)
		goto fail_layer;

	/* straight "over" blending, in the picture's own sRGB values */
	r = vips_composite2(base, layer, &t, VIPS_BLEND_MODE_OVER,
		"compositing_space", VIPS_INTERPRETATION_sRGB, NULL);
	g_object_unref(base);
	g_object_unref(layer);
	if (r)
		goto fail;
	r = vips_extract_band(t, &out, 0, "n", 3, NULL);
	g_object_unref(t);
	if (r)
		goto fail;
	if (out->BandFmt != VIPS_FORMAT_UCHAR) {
		r = vips_cast_uchar(out, &t, NULL);
		g_object_unref(out);
		if (r)
			goto fail;
		out = t;
	}
	if (state->annotations) {
		if (!(t = draw_outlines(node, state, out, error))) {
			g_object_unref(out);
			return NULL;
		}
		g_object_unref(out);
		out = t;
	}
	if (state->legend) {
		/* a copy: the image may outlive the node and its state (a
		 * caller keeps sp_node_get_image() after sp_graph_free()) */
		VipsImage *panel = vips_image_new_from_memory_copy(state->legend,
			(size_t) state->legend_width * h * 3,
			state->legend_width, h, 3, VIPS_FORMAT_UCHAR);
		if (!panel) {
			g_object_unref(out);
			goto fail;
		}
		panel->Type = VIPS_INTERPRETATION_sRGB;
		r = vips_join(out, panel, &t, VIPS_DIRECTION_HORIZONTAL, NULL);
		g_object_unref(panel);
		g_object_unref(out);
		if (r)
			goto fail;
		out = t;
	}
	r = vips_copy(out, &t, "interpretation", VIPS_INTERPRETATION_sRGB,
		NULL);
	g_object_unref(out);
	if (r)
		goto fail;
	return t;

fail_layer:
	g_object_unref(layer);
fail:
	_sp_set_vips_error(error, "overlay",
		((SpOverlayArgs *) node->args)->csv ?
			((SpOverlayArgs *) node->args)->csv :
			((SpOverlayArgs *) node->args)->annotations);
	return NULL;
}

const SpOpInfo _sp_op_overlay = {
	.name = "overlay",
	.summary = "paint per-patch classes or scores over a thumbnail",
	.description =
		"Paints the rectangles of a CSV of per-patch values (x, y, w, h in "
		"level-0 pixels of the slide, as tiles.csv gives them) over the "
		"input picture, usually a thumbnail ('load S ! downsample mpp=8'): "
		"classes with a palette (tab10 by default), scores with a colour "
		"map (viridis by default, 0 … 1 unless range= says otherwise), "
		"blended at alpha so the tissue stays visible, and adds a legend "
		"panel on the right with each class's colour and patch count, or "
		"a colour bar. Rows with an empty value are left unpainted. With "
		"annotations=FILE.geojson it also draws the outlines of "
		"annotation polygons in their class colours. The input must be "
		"at most 64 megapixels.",
	.kind = SP_OP_FILTER,
	.any_format = TRUE,
	.role = SP_ROLE_FILTER,
	.args = overlay_args,
	.n_args = G_N_ELEMENTS(overlay_args),
	.args_size = sizeof(SpOverlayArgs),
	.plan = overlay_plan,
	.build = overlay_build,
	.free_priv = overlay_state_free,
};

SpNode *
sp_overlay(SpNode *in, const char *csv, GError **error, ...)
{
	va_list ap;
	SpNode *node;

	va_start(ap, error);
	node = _sp_node_new_text(in ? in->graph : NULL, &_sp_op_overlay, in,
		G_STRUCT_OFFSET(SpOverlayArgs, csv), csv, error, ap);
	va_end(ap);
	return node;
}
