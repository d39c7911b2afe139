/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Connected components of a mask in one pass over its rows, with each
 * object's measurements, in memory that grows with the mask's width and
 * the number of objects still open.
 *
 * Each row is run-length encoded; a run joins the objects of the runs of
 * the row above that it touches (union-find over objects, as in the
 * run-based two-pass labelling of Rosenfeld & Pfaltz, J. ACM 13(4), 1966,
 * done here in a single pass because statistics, not labels, are kept:
 * each run adds its sums to its object, and a union adds the sums of the
 * object it absorbs). An object is finished when no run of the next row
 * touches it; it is handed over two rows later, once the perimeter of its
 * last row is known.
 *
 * Everything is summed exactly in integers: pixel count, Σx, Σy in 64
 * bits, Σx², Σy², Σxy in 128 bits (a 100k × 100k object has Σx² ≈ 3·10^19),
 * intensity sums in 64 bits; the central moments are then exact integers
 * (n·Σx² − (Σx)², …) and only the final quotients and square roots are
 * rounded.
 *
 * The perimeter is scikit-image's perimeter(image, neighbourhood=4), as
 * its regionprops applies it to an object's own pixels: border pixels
 * (object pixels with a 4-neighbour outside the object) are weighted by
 * 1 + 2·(border 4-neighbours) + 10·(border diagonal neighbours) through
 * the table of Benkrid & Crookes' estimator. A row's weights need the
 * border of the rows above and below, and a row's border needs the mask
 * of the rows above and below: the weights of row c − 2 are summed when
 * row c arrives. Under 8-connectivity every object pixel around a pixel
 * belongs to its object, so this is exact. Under 4-connectivity a
 * diagonal neighbour belongs to the object when the two were known to be
 * connected when the weight was taken (two rows later); parts that touch
 * at a corner and join only further down count as separate there.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "label.h"

#ifdef __SIZEOF_INT128__
typedef __int128 Wide;
#else
/* 64-bit mantissa: exact up to 2^64 */
typedef long double Wide;
#endif

static double runs_perimeter(const SpLabelRun *runs, gsize n);

typedef struct {
	int x0, x1; /* inclusive */
	int obj; /* its object (a root after each row), -1 once emitted */
} Run;

/* One row of the window: the labeler keeps the last four. */
typedef struct {
	int y; /* the row held, -1 for none */
	guint8 *mask; /* width + 2, x at [x + 1]; the ends stay 0 */
	guint8 *border; /* same layout: object pixels on the object's border */
	gint32 *run_at; /* width: the run holding x (only where mask is set) */
	GArray *runs; /* Run, left to right */
	GArray *gaps; /* Run: the background's runs, with fill_holes */
} Row;

typedef struct {
	int parent; /* itself when a root */
	int last_row; /* the last row with a run of it */
	gboolean finished; /* no run of the row after last_row touches it */
	gboolean emitted;
	gint64 area, sx, sy;
	Wide sxx, syy, sxy;
	int x0, y0, x1, y1;
	/* border pixels by perimeter weight: 1, √2, (1 + √2) / 2 */
	gint64 w1, w2, w3;
	guint64 sum[SP_LABEL_MAX_BANDS];
	guint8 min[SP_LABEL_MAX_BANDS], max[SP_LABEL_MAX_BANDS];
	GArray *runs; /* SpLabelRun, when runs are kept */
	guint64 gen; /* unique to this object, whatever its slot */
	/* background components (fill_holes): not a hole (touches the edge,
	 * too large, or borders an object that ended), and the objects it
	 * borders (Adj) */
	gboolean dead;
	GArray *adj;
} Obj;

/* An object a background component borders: its slot and gen. */
typedef struct {
	int obj;
	guint64 gen;
} Adj;

struct _SpLabeler {
	int width, height, connectivity, bands;
	gboolean keep_runs;
	SpLabelFunc func;
	void *user_data;
	int next_row; /* rows pushed, the two empty rows after the end too */
	gboolean stopped;
	Row rows[4]; /* row y in rows[y & 3] */
	Row empty; /* all zero, for rows above the first */
	GArray *objs; /* Obj */
	GArray *free_objs; /* int: free slots of objs */
	GArray *merged; /* int: objects absorbed in this row */
	GArray *finishing; /* int: objects found finished in this row */
	GArray *pending; /* int: found finished in the previous row */
	GArray *sort; /* SpLabelRun: an object's runs in order */
	guint64 gens; /* the last Obj.gen given */
	gboolean fill_holes;
	gint64 max_hole; /* < 0: any size */
	guint64 stamp; /* rows seen by fix_adjacency() */
	GArray *stamps; /* guint64 per slot */
};

#define OBJ(l, i) (&g_array_index((l)->objs, Obj, (i)))

static void
row_init(Row *row, int width)
{
	row->y = -1;
	row->mask = g_malloc0(width + 2);
	row->border = g_malloc0(width + 2);
	row->run_at = g_new(gint32, MAX(1, width));
	row->runs = g_array_new(FALSE, FALSE, sizeof(Run));
	row->gaps = g_array_new(FALSE, FALSE, sizeof(Run));
}

static void
row_clear(Row *row)
{
	g_free(row->mask);
	g_free(row->border);
	g_free(row->run_at);
	if (row->runs)
		g_array_unref(row->runs);
	if (row->gaps)
		g_array_unref(row->gaps);
}

SpLabeler *
_sp_labeler_new(int width, int height, int connectivity, int bands,
	gboolean keep_runs, SpLabelFunc func, void *user_data)
{
	SpLabeler *l;

	g_return_val_if_fail(width >= 0 && height >= 0, NULL);
	g_return_val_if_fail(bands >= 0 && bands <= SP_LABEL_MAX_BANDS, NULL);
	l = g_new0(SpLabeler, 1);
	l->width = width;
	l->height = height;
	l->connectivity = connectivity == 4 ? 4 : 8;
	l->bands = bands;
	l->keep_runs = keep_runs;
	l->func = func;
	l->user_data = user_data;
	for (int i = 0; i < 4; i++)
		row_init(&l->rows[i], width);
	row_init(&l->empty, width);
	l->objs = g_array_new(FALSE, FALSE, sizeof(Obj));
	l->free_objs = g_array_new(FALSE, FALSE, sizeof(int));
	l->merged = g_array_new(FALSE, FALSE, sizeof(int));
	l->finishing = g_array_new(FALSE, FALSE, sizeof(int));
	l->pending = g_array_new(FALSE, FALSE, sizeof(int));
	l->sort = g_array_new(FALSE, FALSE, sizeof(SpLabelRun));
	l->stamps = g_array_new(FALSE, TRUE, sizeof(guint64));
	l->max_hole = -1;
	return l;
}

void
_sp_labeler_fill_holes(SpLabeler *l, gint64 max_hole)
{
	g_return_if_fail(l->next_row == 0);
	l->fill_holes = TRUE;
	l->keep_runs = TRUE;
	l->max_hole = max_hole;
}

void
_sp_labeler_free(SpLabeler *l)
{
	if (!l)
		return;
	for (int i = 0; i < 4; i++)
		row_clear(&l->rows[i]);
	row_clear(&l->empty);
	for (guint i = 0; i < l->objs->len; i++) {
		if (OBJ(l, i)->runs)
			g_array_unref(OBJ(l, i)->runs);
		if (OBJ(l, i)->adj)
			g_array_unref(OBJ(l, i)->adj);
	}
	g_array_unref(l->stamps);
	g_array_unref(l->objs);
	g_array_unref(l->free_objs);
	g_array_unref(l->merged);
	g_array_unref(l->finishing);
	g_array_unref(l->pending);
	g_array_unref(l->sort);
	g_free(l);
}

/* The window's row @y, or the empty row when it is above the first. */
static Row *
row_get(SpLabeler *l, int y)
{
	Row *row = &l->rows[y & 3];

	return y >= 0 && row->y == y ? row : &l->empty;
}

static int
obj_new(SpLabeler *l)
{
	int i;

	if (l->free_objs->len > 0) {
		i = g_array_index(l->free_objs, int, l->free_objs->len - 1);
		g_array_set_size(l->free_objs, l->free_objs->len - 1);
	} else {
		i = l->objs->len;
		g_array_set_size(l->objs, i + 1);
	}
	Obj *o = OBJ(l, i);
	memset(o, 0, sizeof(*o));
	o->parent = i;
	o->gen = ++l->gens;
	o->x0 = o->y0 = G_MAXINT;
	o->x1 = o->y1 = -1;
	for (int b = 0; b < SP_LABEL_MAX_BANDS; b++)
		o->min[b] = 255;
	if (l->keep_runs)
		o->runs = g_array_new(FALSE, FALSE, sizeof(SpLabelRun));
	return i;
}

static void
obj_free(SpLabeler *l, int i)
{
	Obj *o = OBJ(l, i);

	if (o->runs)
		g_array_unref(o->runs);
	o->runs = NULL;
	if (o->adj)
		g_array_unref(o->adj);
	o->adj = NULL;
	o->parent = -1;
	g_array_append_val(l->free_objs, i);
}

static int
obj_find(SpLabeler *l, int i)
{
	while (OBJ(l, i)->parent != i) {
		/* path halving */
		int p = OBJ(l, i)->parent;
		OBJ(l, i)->parent = OBJ(l, p)->parent;
		i = p;
	}
	return i;
}

/* A background component that cannot be a hole: nothing more is kept. */
static void
bg_dead(Obj *o)
{
	o->dead = TRUE;
	if (o->runs)
		g_array_unref(o->runs);
	o->runs = NULL;
	if (o->adj)
		g_array_unref(o->adj);
	o->adj = NULL;
}

/* Joins two roots: the smaller is absorbed into the larger. Returns the
 * root left. */
static int
obj_union(SpLabeler *l, int a, int b)
{
	if (OBJ(l, a)->area < OBJ(l, b)->area) {
		int t = a;
		a = b;
		b = t;
	}
	Obj *r = OBJ(l, a), *c = OBJ(l, b);

	r->area += c->area;
	r->sx += c->sx;
	r->sy += c->sy;
	r->sxx += c->sxx;
	r->syy += c->syy;
	r->sxy += c->sxy;
	r->x0 = MIN(r->x0, c->x0);
	r->y0 = MIN(r->y0, c->y0);
	r->x1 = MAX(r->x1, c->x1);
	r->y1 = MAX(r->y1, c->y1);
	r->w1 += c->w1;
	r->w2 += c->w2;
	r->w3 += c->w3;
	r->last_row = MAX(r->last_row, c->last_row);
	for (int k = 0; k < SP_LABEL_MAX_BANDS; k++) {
		r->sum[k] += c->sum[k];
		r->min[k] = MIN(r->min[k], c->min[k]);
		r->max[k] = MAX(r->max[k], c->max[k]);
	}
	if (r->runs && c->runs && c->runs->len > 0)
		g_array_append_vals(r->runs, c->runs->data, c->runs->len);
	if (r->adj && c->adj && c->adj->len > 0)
		g_array_append_vals(r->adj, c->adj->data, c->adj->len);
	if (c->dead)
		bg_dead(r);
	c->parent = a;
	g_array_append_val(l->merged, b);
	return a;
}

/* Σ k² for k = 0 … n (0 for n < 0) */
static Wide
sum_squares(gint64 n)
{
	if (n <= 0)
		return 0;
	return (Wide) n * (n + 1) * (2 * n + 1) / 6;
}

static void
obj_add_run(SpLabeler *l, int i, int y, const Run *run, const guint8 *pixels)
{
	Obj *o = OBJ(l, i);
	gint64 n = run->x1 - run->x0 + 1;
	gint64 sx = n * ((gint64) run->x0 + run->x1) / 2;
	int stride = 1 + l->bands;

	o->area += n;
	o->sx += sx;
	o->sy += n * y;
	o->sxx += sum_squares(run->x1) - sum_squares((gint64) run->x0 - 1);
	o->syy += (Wide) n * y * y;
	o->sxy += (Wide) sx * y;
	o->x0 = MIN(o->x0, run->x0);
	o->x1 = MAX(o->x1, run->x1);
	o->y0 = MIN(o->y0, y);
	o->y1 = MAX(o->y1, y);
	o->last_row = y;
	for (int b = 0; b < l->bands; b++) {
		const guint8 *p = pixels + (gsize) run->x0 * stride + 1 + b;
		guint64 sum = 0;
		guint8 lo = o->min[b], hi = o->max[b];

		for (int x = run->x0; x <= run->x1; x++, p += stride) {
			sum += *p;
			lo = MIN(lo, *p);
			hi = MAX(hi, *p);
		}
		o->sum[b] += sum;
		o->min[b] = lo;
		o->max[b] = hi;
	}
	if (o->runs) {
		SpLabelRun r = { y, run->x0, run->x1 };
		g_array_append_val(o->runs, r);
	}
}

/* Run-length encodes row @c into its slot of the window. */
static void
encode_row(SpLabeler *l, int c, const guint8 *pixels)
{
	Row *row = &l->rows[c & 3];
	int w = l->width, stride = 1 + l->bands;

	row->y = c;
	g_array_set_size(row->runs, 0);
	memset(row->border, 0, w + 2);
	if (!pixels) {
		memset(row->mask, 0, w + 2);
		g_array_set_size(row->gaps, 0);
		return;
	}
	for (int x = 0; x < w; x++)
		row->mask[x + 1] = pixels[(gsize) x * stride] != 0;
	for (int x = 0; x < w;) {
		if (!row->mask[x + 1]) {
			x++;
			continue;
		}
		Run run = { x, x, -1 };
		gint32 index = row->runs->len;

		while (x < w && row->mask[x + 1])
			row->run_at[x++] = index;
		run.x1 = x - 1;
		g_array_append_val(row->runs, run);
	}
	/* the background between them */
	g_array_set_size(row->gaps, 0);
	if (!l->fill_holes)
		return;
	int from = 0;
	for (guint i = 0; i <= row->runs->len; i++) {
		int to = i < row->runs->len ?
			g_array_index(row->runs, Run, i).x0 - 1 :
			w - 1;
		if (to >= from) {
			Run gap = { from, to, -1 };
			g_array_append_val(row->gaps, gap);
		}
		if (i < row->runs->len)
			from = g_array_index(row->runs, Run, i).x1 + 1;
	}
}

/* Gives each run of @cur (row @c) its object: the union of the objects
 * of the runs of @above it touches (@k = 1: also at a corner), or a new
 * one. */
static void
link_runs(SpLabeler *l, int c, GArray *cur, GArray *above_runs, int k,
	gboolean gaps, const guint8 *pixels)
{
	Run *runs = (Run *) cur->data;
	Run *above = (Run *) above_runs->data;
	guint n_above = above_runs->len;
	guint j = 0;

	for (guint i = 0; i < cur->len; i++) {
		Run *r = &runs[i];
		int o = -1;

		while (j < n_above && above[j].x1 + k < r->x0)
			j++;
		for (guint m = j; m < n_above && above[m].x0 <= r->x1 + k;
			m++) {
			if (above[m].obj < 0)
				continue;
			int p = obj_find(l, above[m].obj);
			if (o < 0)
				o = p;
			else if (p != o)
				o = obj_union(l, o, p);
		}
		if (o < 0) {
			o = obj_new(l);
			if (gaps)
				OBJ(l, o)->adj = g_array_new(FALSE, FALSE,
					sizeof(Adj));
		}
		r->obj = o;
		if (!gaps) {
			obj_add_run(l, o, c, r, pixels);
			continue;
		}
		/* a background run: the edge, or too large, is no hole */
		Obj *b = OBJ(l, o);
		b->last_row = c;
		if (b->dead)
			continue;
		if (r->x0 == 0 || r->x1 == l->width - 1 || c == 0 ||
			c == l->height - 1) {
			bg_dead(b);
			continue;
		}
		obj_add_run(l, o, c, r, pixels);
		if (l->max_hole >= 0 && OBJ(l, o)->area > l->max_hole)
			bg_dead(OBJ(l, o));
	}
}

static void
link_row(SpLabeler *l, int c, const guint8 *pixels)
{
	link_runs(l, c, row_get(l, c)->runs, row_get(l, c - 1)->runs,
		l->connectivity == 8 ? 1 : 0, FALSE, pixels);
}

/* Notes that background component @bg borders the object of a run. */
static void
adj_add(SpLabeler *l, int bg, int fg)
{
	Obj *b;

	if (bg < 0 || fg < 0)
		return;
	b = OBJ(l, obj_find(l, bg));
	if (b->dead)
		return;
	fg = obj_find(l, fg);
	Adj a = { fg, OBJ(l, fg)->gen };
	if (b->adj->len > 0) {
		Adj *last = &g_array_index(b->adj, Adj, b->adj->len - 1);
		if (last->obj == a.obj && last->gen == a.gen)
			return;
	}
	g_array_append_val(b->adj, a);
}

/* Background runs of @gaps against object runs of @runs (the row above
 * or below): sharing a column is bordering. */
static void
adj_rows(SpLabeler *l, GArray *gaps, GArray *runs)
{
	guint i = 0, j = 0;

	while (i < gaps->len && j < runs->len) {
		Run *g = &g_array_index(gaps, Run, i);
		Run *r = &g_array_index(runs, Run, j);

		if (g->x0 <= r->x1 && r->x0 <= g->x1)
			adj_add(l, g->obj, r->obj);
		if (g->x1 < r->x1)
			i++;
		else
			j++;
	}
}

static int
adj_order(gconstpointer a, gconstpointer b)
{
	const Adj *p = a, *q = b;

	return p->obj < q->obj ? -1 : p->obj > q->obj;
}

/* The background of row @c: its components, what they border, and the
 * objects they border as roots (before the objects absorbed in this row
 * are freed); a component bordering an object that has ended is no
 * hole. */
static void
link_gaps(SpLabeler *l, int c, const guint8 *pixels)
{
	Row *cur = row_get(l, c), *prev = row_get(l, c - 1);

	/* the background is connected the other way from the objects */
	link_runs(l, c, cur->gaps, prev->gaps, l->connectivity == 8 ? 0 : 1,
		TRUE, pixels);
	for (guint i = 0; i < cur->gaps->len; i++) {
		Run *g = &g_array_index(cur->gaps, Run, i);

		if (g->x0 > 0)
			adj_add(l, g->obj,
				g_array_index(cur->runs, Run,
					cur->run_at[g->x0 - 1])
					.obj);
		if (g->x1 < l->width - 1)
			adj_add(l, g->obj,
				g_array_index(cur->runs, Run,
					cur->run_at[g->x1 + 1])
					.obj);
	}
	adj_rows(l, cur->gaps, prev->runs);
	adj_rows(l, prev->gaps, cur->runs);

	l->stamp++;
	g_array_set_size(l->stamps, l->objs->len);
	for (int y = c - 1; y <= c; y++) {
		GArray *gaps = row_get(l, y)->gaps;

		for (guint i = 0; i < gaps->len; i++) {
			int o = g_array_index(gaps, Run, i).obj;

			if (o < 0)
				continue;
			o = obj_find(l, o);
			guint64 *stamp = &g_array_index(l->stamps, guint64, o);
			Obj *b = OBJ(l, o);
			if (*stamp == l->stamp || b->dead)
				continue;
			*stamp = l->stamp;
			for (guint k = 0; k < b->adj->len; k++) {
				Adj *a = &g_array_index(b->adj, Adj, k);
				Obj *f = OBJ(l, a->obj);

				if (f->parent < 0 || f->gen != a->gen) {
					bg_dead(b);
					break;
				}
				a->obj = obj_find(l, a->obj);
				a->gen = OBJ(l, a->obj)->gen;
			}
			if (b->dead || b->adj->len < 2)
				continue;
			g_array_sort(b->adj, adj_order);
			guint n = 1;
			Adj *v = (Adj *) b->adj->data;
			for (guint k = 1; k < b->adj->len; k++)
				if (v[k].obj != v[n - 1].obj)
					v[n++] = v[k];
			g_array_set_size(b->adj, n);
		}
	}
}

/* Background components that ended in row c − 1: one that touches no
 * edge, borders one object only and is small enough is that object's
 * hole, and joins it. */
static void
finish_gaps(SpLabeler *l, int c)
{
	GArray *gaps = row_get(l, c - 1)->gaps;

	for (guint i = 0; i < gaps->len; i++) {
		int o = g_array_index(gaps, Run, i).obj;

		if (o < 0 || OBJ(l, o)->finished || OBJ(l, o)->last_row >= c)
			continue;
		Obj *h = OBJ(l, o);
		h->finished = TRUE;
		if (!h->dead && h->adj->len == 1) {
			Adj *a = &g_array_index(h->adj, Adj, 0);
			Obj *f = OBJ(l, a->obj);

			if (f->parent == a->obj && f->gen == a->gen &&
				!f->finished) {
				f->area += h->area;
				f->sx += h->sx;
				f->sy += h->sy;
				f->sxx += h->sxx;
				f->syy += h->syy;
				f->sxy += h->sxy;
				for (int k = 0; k < SP_LABEL_MAX_BANDS; k++) {
					f->sum[k] += h->sum[k];
					f->min[k] = MIN(f->min[k], h->min[k]);
					f->max[k] = MAX(f->max[k], h->max[k]);
				}
				if (f->runs && h->runs && h->runs->len > 0)
					g_array_append_vals(f->runs,
						h->runs->data, h->runs->len);
			}
		}
		obj_free(l, o);
	}
}

/* After a row: every run of the window points at its root, and the
 * objects absorbed are free. */
static void
relabel(SpLabeler *l, int c)
{
	for (int y = c - 3; y <= c; y++) {
		Row *row = row_get(l, y);

		for (guint i = 0; i < row->runs->len; i++) {
			Run *r = &g_array_index(row->runs, Run, i);

			if (r->obj >= 0)
				r->obj = obj_find(l, r->obj);
		}
	}
	for (int y = c - 1; l->fill_holes && y <= c; y++) {
		GArray *gaps = row_get(l, y)->gaps;

		for (guint i = 0; i < gaps->len; i++) {
			Run *r = &g_array_index(gaps, Run, i);

			if (r->obj >= 0)
				r->obj = obj_find(l, r->obj);
		}
	}
	for (guint i = 0; i < l->merged->len; i++)
		obj_free(l, g_array_index(l->merged, int, i));
	g_array_set_size(l->merged, 0);
}

/* Objects with a run in row c − 1 and none in row c. */
static void
find_finished(SpLabeler *l, int c)
{
	Row *prev = row_get(l, c - 1);

	for (guint i = 0; i < prev->runs->len; i++) {
		int o = g_array_index(prev->runs, Run, i).obj;

		if (o >= 0 && !OBJ(l, o)->finished && OBJ(l, o)->last_row < c) {
			OBJ(l, o)->finished = TRUE;
			g_array_append_val(l->finishing, o);
		}
	}
}

/* The border of row @y: its object pixels with a 4-neighbour outside
 * (4-neighbours inside are always the same object). */
static void
border_row(SpLabeler *l, int y)
{
	Row *row = row_get(l, y);
	const guint8 *up = row_get(l, y - 1)->mask;
	const guint8 *down = row_get(l, y + 1)->mask;

	if (row == &l->empty)
		return;
	for (guint i = 0; i < row->runs->len; i++) {
		const Run *r = &g_array_index(row->runs, Run, i);

		for (int x = r->x0 + 1; x <= r->x1 + 1; x++)
			row->border[x] = !(row->mask[x - 1] &&
				row->mask[x + 1] && up[x] && down[x]);
	}
}

/* A diagonal neighbour (@row, mask column @x) of a pixel of object @obj
 * that counts in the pixel's perimeter weight. */
static inline int
diagonal(const SpLabeler *l, const Row *row, int x, int obj)
{
	if (!row->border[x + 1])
		return 0;
	return l->connectivity == 8 ||
		g_array_index(row->runs, Run, row->run_at[x]).obj == obj;
}

/* Perimeter weights of row @y's border pixels (the border of rows y − 1,
 * y and y + 1 is known). */
static void
weigh_row(SpLabeler *l, int y)
{
	Row *row = row_get(l, y);
	const Row *up = row_get(l, y - 1), *down = row_get(l, y + 1);

	if (row == &l->empty)
		return;
	for (guint i = 0; i < row->runs->len; i++) {
		const Run *r = &g_array_index(row->runs, Run, i);
		gint64 w1 = 0, w2 = 0, w3 = 0;

		if (r->obj < 0)
			continue;
		for (int x = r->x0; x <= r->x1; x++) {
			if (!row->border[x + 1])
				continue;
			int n4 = row->border[x] + row->border[x + 2] +
				up->border[x + 1] + down->border[x + 1];
			int nd = 0;
			if (x > 0)
				nd += diagonal(l, up, x - 1, r->obj) +
					diagonal(l, down, x - 1, r->obj);
			if (x < l->width - 1)
				nd += diagonal(l, up, x + 1, r->obj) +
					diagonal(l, down, x + 1, r->obj);
			/* scikit-image's weights of 1 + 2·n4 + 10·nd: 5, 7, 15,
			 * 17, 25, 27 → 1; 21, 33 → √2; 13, 23 → (1 + √2) / 2 */
			if ((n4 == 2 || n4 == 3) && nd <= 2)
				w1++;
			else if ((n4 == 0 && nd == 2) || (n4 == 1 && nd == 3))
				w2++;
			else if (n4 == 1 && (nd == 1 || nd == 2))
				w3++;
		}
		Obj *o = OBJ(l, r->obj);
		o->w1 += w1;
		o->w2 += w2;
		o->w3 += w3;
	}
}

static int
run_order(gconstpointer a, gconstpointer b)
{
	const SpLabelRun *p = a, *q = b;

	if (p->y != q->y)
		return p->y < q->y ? -1 : 1;
	return p->x0 < q->x0 ? -1 : p->x0 > q->x0;
}

static double
wide_to_double(Wide w)
{
	return (double) w;
}

/* The measurements of object @i. */
static void
measure(SpLabeler *l, int i, SpLabelObject *out)
{
	Obj *o = OBJ(l, i);
	Wide n = o->area;
	/* n² × the central second moments over n: exact integers */
	Wide cxx = n * o->sxx - (Wide) o->sx * o->sx;
	Wide cyy = n * o->syy - (Wide) o->sy * o->sy;
	Wide cxy = n * o->sxy - (Wide) o->sx * o->sy;
	/* in double: each of these is within an ulp of the exact value */
	double nn = (double) o->area * (double) o->area;
	double a = wide_to_double(cxx), c = wide_to_double(cyy);
	double b = wide_to_double(cxy);
	double half = (a + c) / 2, d = (a - c) / 2;
	double root = hypot(d, b);
	double big = half + root, small;

	memset(out, 0, sizeof(*out));
	out->area = o->area;
	out->x0 = o->x0;
	out->y0 = o->y0;
	out->x1 = o->x1;
	out->y1 = o->y1;
	out->cx = (double) o->sx / (double) o->area;
	out->cy = (double) o->sy / (double) o->area;
	out->perimeter = (double) o->w1 + (double) o->w2 * G_SQRT2 +
		(double) o->w3 * ((1 + G_SQRT2) / 2);

	/* the small eigenvalue as det / big, without the cancellation of
	 * half − root; the determinant exactly when it fits */
#ifdef __SIZEOF_INT128__
	const Wide lim = (Wide) 1 << 62;
	if (cxx < lim && cyy < lim && cxy < lim && -cxy < lim && big > 0)
		small = wide_to_double(cxx * cyy - cxy * cxy) / big;
	else
#endif
		small = big > 0 ? (a * c - b * b) / big : 0;
	if (small < 0)
		small = 0;
	double l1 = big / nn, l2 = small / nn;
	out->major_axis = 4 * sqrt(l1);
	out->minor_axis = 4 * sqrt(l2);
	out->eccentricity = l1 > 0 ? sqrt(1 - l2 / l1) : 0;
	/* scikit-image's 0.5·atan2(−2b, c − a), a and c the column and row
	 * variances and b minus the covariance, and its special case for
	 * a = c: −π/4 when b < 0, else π/4. Here a = c is decided exactly;
	 * scikit-image decides it on rounded moments, so for an object whose
	 * variances are equal but not obviously so it may take the formula
	 * instead and give the opposite sign. */
	if (cxx == cyy)
		out->orientation = cxy > 0 ? -G_PI / 4 : G_PI / 4;
	else
		out->orientation = 0.5 *
			atan2(2 * wide_to_double(cxy),
				wide_to_double(cyy) - wide_to_double(cxx));

	out->edge = o->x0 == 0 || o->y0 == 0 || o->x1 == l->width - 1 ||
		o->y1 == l->height - 1;
	out->bands = l->bands;
	for (int k = 0; k < l->bands; k++) {
		out->mean[k] = (double) o->sum[k] / (double) o->area;
		out->min[k] = o->min[k];
		out->max[k] = o->max[k];
	}
	if (o->runs) {
		g_array_set_size(l->sort, 0);
		g_array_append_vals(l->sort, o->runs->data, o->runs->len);
		g_array_sort(l->sort, run_order);
		out->runs = (const SpLabelRun *) l->sort->data;
		out->n_runs = l->sort->len;
		/* holes filled: the border is known only now */
		if (l->fill_holes)
			out->perimeter = runs_perimeter(out->runs, out->n_runs);
	}
}

/* Hands over the objects found finished in the row before (their last
 * row's weights are in) and frees them. */
static void
emit_pending(SpLabeler *l, int c)
{
	for (guint i = 0; i < l->pending->len; i++) {
		int o = g_array_index(l->pending, int, i);
		SpLabelObject object;

		OBJ(l, o)->emitted = TRUE;
		if (l->stopped)
			continue;
		measure(l, o, &object);
		if (!l->func(&object, l->user_data))
			l->stopped = TRUE;
	}
	if (l->pending->len == 0)
		return;
	/* their runs are at most in rows c − 3 and c − 2 */
	for (int y = c - 3; y <= c - 2; y++) {
		Row *row = row_get(l, y);

		for (guint i = 0; i < row->runs->len; i++) {
			Run *r = &g_array_index(row->runs, Run, i);

			if (r->obj >= 0 && OBJ(l, r->obj)->emitted)
				r->obj = -1;
		}
	}
	for (guint i = 0; i < l->pending->len; i++)
		obj_free(l, g_array_index(l->pending, int, i));
	g_array_set_size(l->pending, 0);
}

/* One row: the image's (@pixels), or one of the two empty rows after it
 * (@pixels NULL) that finish the objects of its last rows. */
static gboolean
push(SpLabeler *l, const guint8 *pixels)
{
	int c = l->next_row++;
	GArray *t;

	encode_row(l, c, pixels);
	link_row(l, c, pixels);
	if (l->fill_holes)
		link_gaps(l, c, pixels);
	relabel(l, c);
	if (l->fill_holes)
		finish_gaps(l, c);
	find_finished(l, c);
	if (!l->fill_holes) {
		border_row(l, c - 1);
		weigh_row(l, c - 2);
	}
	emit_pending(l, c);
	t = l->pending;
	l->pending = l->finishing;
	l->finishing = t;
	return !l->stopped;
}

gboolean
_sp_labeler_push(SpLabeler *l, const guint8 *pixels)
{
	g_return_val_if_fail(l->next_row < l->height, FALSE);
	return push(l, pixels);
}

gboolean
_sp_labeler_finish(SpLabeler *l)
{
	if (l->next_row != l->height)
		return FALSE;
	push(l, NULL);
	push(l, NULL);
	return !l->stopped;
}

/* ------------------------------------------------------------------ */
/* Outlines                                                             */

typedef struct {
	const SpLabelRun *runs;
	gsize n;
	int y0, y1; /* rows spanned */
	gsize *row_start; /* y1 − y0 + 2: runs of row y from row_start[y − y0] */
	gsize *part; /* union-find over runs: the 4-connected parts */
} Tracer;

static gsize
part_find(Tracer *t, gsize i)
{
	while (t->part[i] != i) {
		t->part[i] = t->part[t->part[i]];
		i = t->part[i];
	}
	return t->part[i];
}

/* The rows' starts of @t's runs (sorted, not empty). */
static void
tracer_rows(Tracer *t)
{
	t->y0 = t->runs[0].y;
	t->y1 = t->runs[t->n - 1].y;
	t->row_start = g_new0(gsize, (gsize) (t->y1 - t->y0) + 2);
	for (gsize i = 0, y = t->y0; y <= (gsize) t->y1 + 1; y++) {
		while (i < t->n && t->runs[i].y < (int) y)
			i++;
		t->row_start[y - t->y0] = i;
	}
}

/* The run holding pixel (@x, @y), or -1. */
static gssize
own(const Tracer *t, int x, int y)
{
	if (y < t->y0 || y > t->y1)
		return -1;
	gsize lo = t->row_start[y - t->y0], hi = t->row_start[y - t->y0 + 1];

	while (lo < hi) {
		gsize mid = lo + (hi - lo) / 2;

		if (t->runs[mid].x1 < x)
			lo = mid + 1;
		else if (t->runs[mid].x0 > x)
			hi = mid;
		else
			return mid;
	}
	return -1;
}

/* The runs of row @y: [row_begin, row_end). */
static gsize
row_begin(const Tracer *t, int y)
{
	if (y < t->y0)
		return 0;
	if (y > t->y1)
		return t->n;
	return t->row_start[y - t->y0];
}

static gsize
row_end(const Tracer *t, int y)
{
	if (y < t->y0)
		return 0;
	if (y > t->y1)
		return t->n;
	return t->row_start[y - t->y0 + 1];
}

/* The first run of row @y that ends at or after column @x (row_end()
 * when none does). */
static gsize
run_from(const Tracer *t, int y, int x)
{
	gsize lo = row_begin(t, y), hi = row_end(t, y);

	while (lo < hi) {
		gsize mid = lo + (hi - lo) / 2;

		if (t->runs[mid].x1 < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

enum { DIR_E, DIR_S, DIR_W, DIR_N };
static const int dir_dy[4] = { 0, 1, 0, -1 };

/* The way on from vertex (@x, @y), reached going @d, keeping the object
 * on the right (y down). Where two object pixels touch only at this
 * corner, the boundary turns right (around one of them) when they are
 * parts apart, left (around the background pixel) when they are one
 * part: every ring then passes a vertex at most once. */
static int
next_dir(Tracer *t, int x, int y, int d)
{
	gssize nw = own(t, x - 1, y - 1), ne = own(t, x, y - 1);
	gssize sw = own(t, x - 1, y), se = own(t, x, y);
	int outs[4], n = 0;

	if (se >= 0 && ne < 0)
		outs[n++] = DIR_E;
	if (sw >= 0 && se < 0)
		outs[n++] = DIR_S;
	if (nw >= 0 && sw < 0)
		outs[n++] = DIR_W;
	if (ne >= 0 && nw < 0)
		outs[n++] = DIR_N;
	if (n == 1)
		return outs[0];
	if (n != 2)
		return -1;
	gboolean one = nw >= 0 ? part_find(t, nw) == part_find(t, se) :
				 part_find(t, ne) == part_find(t, sw);
	return one ? (d + 3) & 3 : (d + 1) & 3;
}

typedef struct {
	gsize part;
	gint64 area2; /* twice the signed area */
	GArray *xy;
	gint64 order; /* 2 × its polygon, + 1 for a hole */
	guint index; /* as found */
} Ring;

static int
ring_order(gconstpointer a, gconstpointer b)
{
	const Ring *p = *(Ring *const *) a, *q = *(Ring *const *) b;

	if (p->order != q->order)
		return p->order < q->order ? -1 : 1;
	return p->index < q->index ? -1 : p->index > q->index;
}

static void
ring_free(gpointer data)
{
	Ring *r = data;

	g_array_unref(r->xy);
	g_free(r);
}

static gint64
edge_key(int x, int y)
{
	return ((gint64) y << 32) | (guint32) x;
}

/* The starts of the top edges no ring has taken yet: sorted keys and a
 * flag each (a hash set costs ~10 times the memory on a giant object). */
typedef struct {
	GArray *keys; /* gint64 edge_key(), ascending */
	guint8 *taken;
} Starts;

static void
starts_take(Starts *s, gint64 key)
{
	const gint64 *k = (const gint64 *) s->keys->data;
	gsize lo = 0, hi = s->keys->len;

	while (lo < hi) {
		gsize mid = lo + (hi - lo) / 2;

		if (k[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->keys->len && k[lo] == key)
		s->taken[lo] = 1;
}

/* The ring through the top edge of pixel (@x, @y), a segment start. */
static Ring *
trace(Tracer *t, int sx, int sy, Starts *seen)
{
	Ring *ring = g_new0(Ring, 1);
	int x = sx, y = sy, d = DIR_E;
	gint64 key = edge_key(sx, sy);
	/* a ring is at most every edge of every pixel */
	gint64 left = 4 * (gint64) t->n + 4;

	ring->xy = g_array_new(FALSE, FALSE, sizeof(int));
	ring->part = part_find(t, own(t, sx, sy));
	starts_take(seen, key);
	g_array_append_val(ring->xy, x);
	g_array_append_val(ring->xy, y);
	for (;;) {
		/* along a straight edge, a whole run at a time */
		if (d == DIR_E || d == DIR_W) {
			/* row below (E) or above (W) holds the object */
			int py = d == DIR_E ? y : y - 1,
			    qy = d == DIR_E ? y - 1 : y;
			int px = d == DIR_E ? x : x - 1;
			gssize r = own(t, px, py);
			if (r < 0)
				break; /* cannot happen on sorted runs */
			if (d == DIR_E) {
				/* to the run's end or the next pixel above */
				gsize q = run_from(t, qy, x);
				x = t->runs[r].x1 + 1;
				if (q < row_end(t, qy))
					x = MIN(x, t->runs[q].x0);
			} else {
				/* to the run's start or the last pixel below */
				gsize q = run_from(t, qy, x - 1);
				int to = t->runs[r].x0;
				if (q > row_begin(t, qy))
					to = MAX(to, t->runs[q - 1].x1 + 1);
				x = to;
			}
		} else
			y += dir_dy[d];
		if (x == sx && y == sy)
			break;
		int nd = next_dir(t, x, y, d);
		if (nd < 0 || --left < 0)
			break; /* cannot happen on sorted runs */
		if (nd != d) {
			g_array_append_val(ring->xy, x);
			g_array_append_val(ring->xy, y);
			if (nd == DIR_E) {
				key = edge_key(x, y);
				starts_take(seen, key);
			}
			d = nd;
		}
	}
	int *v = (int *) ring->xy->data;
	guint m = ring->xy->len / 2;
	for (guint i = 0; i < m; i++) {
		guint j = (i + 1) % m;
		ring->area2 += (gint64) v[2 * i] * v[2 * j + 1] -
			(gint64) v[2 * j] * v[2 * i + 1];
	}
	return ring;
}

void
_sp_label_outline(const SpLabelRun *runs, gsize n, SpLabelOutline *outline)
{
	Tracer t = { runs, n };
	Starts seen = { g_array_new(FALSE, FALSE, sizeof(gint64)), NULL };
	g_autoptr(GPtrArray) rings = g_ptr_array_new_with_free_func(ring_free);

	outline->xy = g_array_new(FALSE, FALSE, sizeof(int));
	outline->ring_sizes = g_array_new(FALSE, FALSE, sizeof(int));
	outline->polygon_sizes = g_array_new(FALSE, FALSE, sizeof(int));
	if (n == 0) {
		g_array_unref(seen.keys);
		return;
	}
	tracer_rows(&t);
	/* 4-connected parts: runs of consecutive rows sharing a column */
	t.part = g_new(gsize, n);
	for (gsize i = 0; i < n; i++)
		t.part[i] = i;
	for (int y = t.y0 + 1; y <= t.y1; y++) {
		gsize a = t.row_start[y - 1 - t.y0], ae = t.row_start[y - t.y0];
		gsize b = t.row_start[y - t.y0], be = t.row_start[y + 1 - t.y0];

		while (a < ae && b < be) {
			if (runs[a].x0 <= runs[b].x1 &&
				runs[b].x0 <= runs[a].x1) {
				gsize p = part_find(&t, a),
				      q = part_find(&t, b);
				if (p != q)
					t.part[MAX(p, q)] = MIN(p, q);
			}
			if (runs[a].x1 < runs[b].x1)
				a++;
			else
				b++;
		}
	}

	/* every ring holds the top edge of some pixel whose upper neighbour
	 * is not the object's: the starts of such edges, row by row */
	for (gsize i = 0; i < n; i++) {
		int y = runs[i].y, x = runs[i].x0;

		gsize q = run_from(&t, y - 1, x), qe = row_end(&t, y - 1);

		while (x <= runs[i].x1) {
			if (q < qe && runs[q].x0 <= x) {
				/* covered from above up to the end of that run */
				x = runs[q++].x1 + 1;
				continue;
			}
			gint64 key = edge_key(x, y);
			g_array_append_val(seen.keys, key);
			/* on to the next pixel with the object above */
			x = q < qe ? runs[q].x0 : runs[i].x1 + 1;
		}
	}

	seen.taken = g_new0(guint8, MAX(1, seen.keys->len));
	for (guint i = 0; i < seen.keys->len; i++)
		if (!seen.taken[i]) {
			gint64 key = g_array_index(seen.keys, gint64, i);

			g_ptr_array_add(rings,
				trace(&t, (int) (guint32) key,
					(int) (key >> 32), &seen));
		}
	g_array_unref(seen.keys);
	g_free(seen.taken);

	/* polygons in the order of their part's first ring (its exterior:
	 * the top edge of the part's first pixel), each exterior first */
	gint *poly_of = g_new(gint, n);
	int n_polys = 0;
	for (gsize i = 0; i < n; i++)
		poly_of[i] = -1;
	for (guint i = 0; i < rings->len; i++) {
		Ring *r = g_ptr_array_index(rings, i);

		if (poly_of[r->part] < 0)
			poly_of[r->part] = n_polys++;
		r->order = 2 * (gint64) poly_of[r->part] +
			(r->area2 > 0 ? 0 : 1);
		r->index = i;
	}
	g_ptr_array_sort(rings, ring_order);
	g_array_set_size(outline->polygon_sizes, n_polys);
	memset(outline->polygon_sizes->data, 0, sizeof(int) * n_polys);
	for (guint i = 0; i < rings->len; i++) {
		Ring *r = g_ptr_array_index(rings, i);
		int m = r->xy->len / 2;

		g_array_append_vals(outline->xy, r->xy->data, r->xy->len);
		/* a giant object's rings are large: one copy at a time */
		g_array_unref(r->xy);
		r->xy = g_array_new(FALSE, FALSE, sizeof(int));
		g_array_append_val(outline->ring_sizes, m);
		g_array_index(outline->polygon_sizes, int, r->order / 2)++;
	}
	g_free(poly_of);
	g_free(t.row_start);
	g_free(t.part);
}

void
_sp_label_outline_clear(SpLabelOutline *outline)
{
	if (outline->xy)
		g_array_unref(outline->xy);
	if (outline->ring_sizes)
		g_array_unref(outline->ring_sizes);
	if (outline->polygon_sizes)
		g_array_unref(outline->polygon_sizes);
	memset(outline, 0, sizeof(*outline));
}

/* Whether pixel (@x, @y) is the object's and on its border. */
static int
is_border(const Tracer *t, int x, int y)
{
	return own(t, x, y) >= 0 &&
		(own(t, x - 1, y) < 0 || own(t, x + 1, y) < 0 ||
			own(t, x, y - 1) < 0 || own(t, x, y + 1) < 0);
}

/* scikit-image's perimeter(neighbourhood=4) of the object of @runs
 * (sorted), from its own pixels alone: the streaming sum cannot know a
 * filled hole's border pixels are no longer border. */
static double
runs_perimeter(const SpLabelRun *runs, gsize n)
{
	Tracer t = { runs, n };
	gint64 w1 = 0, w2 = 0, w3 = 0;

	if (n == 0)
		return 0;
	tracer_rows(&t);
	for (gsize i = 0; i < n; i++) {
		int y = runs[i].y;

		for (int x = runs[i].x0; x <= runs[i].x1; x++) {
			if (!is_border(&t, x, y))
				continue;
			int n4 = is_border(&t, x - 1, y) +
				is_border(&t, x + 1, y) +
				is_border(&t, x, y - 1) +
				is_border(&t, x, y + 1);
			int nd = is_border(&t, x - 1, y - 1) +
				is_border(&t, x + 1, y - 1) +
				is_border(&t, x - 1, y + 1) +
				is_border(&t, x + 1, y + 1);
			if ((n4 == 2 || n4 == 3) && nd <= 2)
				w1++;
			else if ((n4 == 0 && nd == 2) || (n4 == 1 && nd == 3))
				w2++;
			else if (n4 == 1 && (nd == 1 || nd == 2))
				w3++;
		}
	}
	g_free(t.row_start);
	return (double) w1 + (double) w2 * G_SQRT2 +
		(double) w3 * ((1 + G_SQRT2) / 2);
}
