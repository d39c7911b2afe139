/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The planner: which pyramid level a node's pixels come from.
 *
 * Every node carries a read plan: the level its chain reads, the region
 * of that level (in the level's own pixels, fractional), and the
 * reduction still to apply. A source reads its level whole; crop and the
 * pointwise operators narrow the region; a downsample moves the read to
 * the level whose downsample is the largest not above the one it wants
 * (OpenSlide's rule) and keeps only the remaining factor. Which operator
 * does what is its declared role (SpOpRole), never its name. Nothing
 * here touches pixels: _sp_chain_view() builds the lazy image a plan
 * describes, and _sp_reduce() is the one reduction every reader of a
 * level (the planner, downsample) applies.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "sp-private.h"

SpNode *
_sp_chain_source(SpNode *node)
{
	while (node->input)
		node = node->input;
	return node;
}

gboolean
_sp_chain_planes_have_levels(SpNode *node)
{
	SpNode *source = _sp_chain_source(node);
	int n = sp_geometry_get_plane_count(&source->geom);

	if (!source->source_planes || !node->slide)
		return TRUE;
	for (int i = 0; i < n; i++)
		if (source->source_planes[i] != 0)
			return _sp_slide_planes_have_levels(node->slide);
	return TRUE;
}

int
_sp_plan_level(SpSlide *slide, double downsample_x, double downsample_y)
{
	return sp_slide_best_level_for_downsample(slide,
		MIN(downsample_x, downsample_y));
}

/* Factors closer than this to a whole number k are taken as k: µm
 * arithmetic (2.0000001) and the ratio of rounded level sizes leave
 * such residues, and over an output narrower than a million pixels the
 * difference moves no pixel's footprint by a whole input pixel. */
#define WHOLE_TOLERANCE 1e-6

gboolean
_sp_is_whole_factor(double factor)
{
	return fabs(factor - floor(factor + 0.5)) < WHOLE_TOLERANCE;
}

static int
shrink_rounded(VipsImage *in, VipsImage **out, double kx, double ky)
{
	VipsImage *f, *s, *r;
	int ret;

	if (vips_cast_float(in, &f, NULL))
		return -1;
	ret = vips_shrink(f, &s, kx, ky, NULL);
	g_object_unref(f);
	if (ret)
		return -1;
	ret = vips_round(s, &r, VIPS_OPERATION_ROUND_RINT, NULL);
	g_object_unref(s);
	if (ret)
		return -1;
	ret = vips_cast(r, out, in->BandFmt, NULL);
	g_object_unref(r);
	return ret;
}

VipsImage *
_sp_reduce(VipsImage *in, double rx, double ry, int out_width, int out_height,
	const char *op, const char *what, GError **error)
{
	VipsImage *image, *t;
	int r = 0;

	if (_sp_is_whole_factor(rx) && _sp_is_whole_factor(ry) &&
		floor(rx + 0.5) >= 1 && floor(ry + 0.5) >= 1) {
		/* area averaging of whole blocks: output pixel i averages input
		 * [i·k, (i+1)·k) */
		if ((floor(rx + 0.5) > 1 || floor(ry + 0.5) > 1) &&
			(image = _sp_stripread_shrink(in, floor(rx + 0.5),
				 floor(ry + 0.5))))
			/* uncompressed strips: averaged as they are read,
			 * one pass and no full-resolution image in between
			 * (a stack of hundreds of 16-bit pages) */
			r = 0;
		else if ((floor(rx + 0.5) > 1 || floor(ry + 0.5) > 1) &&
			vips_band_format_isint(in->BandFmt) &&
			in->BandFmt != VIPS_FORMAT_UCHAR)
			/* libvips' integer shrink rounds twice (the column
			 * means, then the row means of those: up to 1 off),
			 * and a signed block's mean towards +∞ only for
			 * positive sums (-1.25 comes out 0): for samples above
			 * 8 bits and signed ones, the mean in float, rounded to
			 * nearest once. 8-bit keeps libvips' integer path, as
			 * the pyramids always had. */
			r = shrink_rounded(in, &image, floor(rx + 0.5),
				floor(ry + 0.5));
		else if (floor(rx + 0.5) > 1 || floor(ry + 0.5) > 1)
			r = vips_shrink(in, &image, floor(rx + 0.5),
				floor(ry + 0.5), NULL);
		else
			image = g_object_ref(in);
	} else
		r = vips_resize(in, &image, (double) out_width / in->Xsize,
			"vscale", (double) out_height / in->Ysize, "kernel",
			VIPS_KERNEL_LANCZOS3, NULL);
	if (r) {
		_sp_set_vips_error(error, op, what);
		return NULL;
	}
	/* exactly the planned size: libvips rounds as the plan does, but
	 * make certain */
	if (image->Xsize != out_width || image->Ysize != out_height) {
		r = vips_embed(image, &t, 0, 0, out_width, out_height, "extend",
			VIPS_EXTEND_COPY, NULL);
		g_object_unref(image);
		if (r) {
			_sp_set_vips_error(error, op, what);
			return NULL;
		}
		image = t;
	}
	return image;
}

/* Level-0 pixels per level pixel along one axis: @n0 level-0 pixels
 * against @n. A level made by a whole factor k whose size was rounded
 * (4443 px → 2221 at k = 2, OpenSlide's downsample 2.00045) is taken at k
 * exactly: its pixels sit on level 0's k-grid, and the size ratio would
 * have the reader resample by 0.99978, blurring every pixel and drifting
 * half a pixel across the level (planned vs exact: 21 dB instead of 32 on
 * the TCGA slide). */
static double
axis_scale(gint64 n0, gint64 n)
{
	double ratio = (double) n0 / n;
	double k = floor(ratio + 0.5);

	if (k >= 1 && fabs((double) n0 / k - (double) n) < 1.0)
		return k;
	return ratio;
}

/* Level-0 pixels per pixel of @level, per axis, from the sizes. */
static void
level_scale(SpSlide *slide, int level, double *sx, double *sy)
{
	const SpLevel *l0 = sp_slide_get_level(slide, 0);
	const SpLevel *l = sp_slide_get_level(slide, level);

	*sx = axis_scale(l0->width, l->width);
	*sy = axis_scale(l0->height, l->height);
}

/* Pixels decoded to read @plan's region: whole tiles, or whole rows of
 * strips for untiled levels. */
static guint64
decoded_pixels(SpSlide *slide, const SpPlan *plan)
{
	const SpLevel *l = sp_slide_get_level(slide, plan->level);
	double x0 = MAX(0, floor(plan->x)), y0 = MAX(0, floor(plan->y));
	double x1 = MIN(l->width, ceil(plan->x + plan->w));
	double y1 = MIN(l->height, ceil(plan->y + plan->h));

	if (x1 <= x0 || y1 <= y0)
		return 0;
	if (l->tile_width <= 0 || l->tile_height <= 0)
		return (guint64) (y1 - y0) * l->width;
	guint64 tx = (guint64) (ceil(x1 / l->tile_width) -
		floor(x0 / l->tile_width));
	guint64 ty = (guint64) (ceil(y1 / l->tile_height) -
		floor(y0 / l->tile_height));
	return tx * ty * l->tile_width * l->tile_height;
}

const char *
_sp_chain_unplannable(SpNode *node)
{
	for (SpNode *n = node; n; n = n->input)
		if (n->role != SP_ROLE_SOURCE && n->role != SP_ROLE_POINTWISE &&
			n->role != SP_ROLE_REGION &&
			n->role != SP_ROLE_REDUCTION)
			return n->op->name;
	return NULL;
}

void
_sp_node_plan_read(SpNode *node)
{
	SpPlan *p = &node->read;
	const SpGeometry *g = &node->geom;
	SpNode *source = _sp_chain_source(node);
	double sx, sy;

	memset(p, 0, sizeof(*p));
	if (source->source_associated || !node->slide) {
		/* an associated image has no levels: it reads itself */
		p->level = -1;
		p->level_downsample_x = p->level_downsample_y = 1;
		p->x = g->x;
		p->y = g->y;
		p->w = g->w;
		p->h = g->h;
		p->remaining_x = g->downsample_x;
		p->remaining_y = g->downsample_y;
		return;
	}

	if (node == source)
		p->level = source->source_level;
	else if (node->role == SP_ROLE_REDUCTION && !node->graph->exact &&
		!node->exact && source->source_level == 0 &&
		!_sp_chain_unplannable(node->input)) {
		/* the largest level downsample not above the wanted one, but
		 * never a finer level than the input already reads; a filter
		 * (blur, morph) in the chain keeps the read where it is: its
		 * pixels are those of its own level */
		int best = _sp_chain_planes_have_levels(node) ?
			_sp_plan_level(node->slide, g->downsample_x,
				g->downsample_y) :
			0;
		p->level = MAX(best, node->input->read.level);
		p->planned = p->level != node->input->read.level;
	} else
		p->level = node->input->read.level;

	level_scale(node->slide, p->level, &sx, &sy);
	p->level_downsample_x = sx;
	p->level_downsample_y = sy;
	p->x = g->x / sx;
	p->y = g->y / sy;
	p->w = g->w / sx;
	p->h = g->h / sy;
	p->remaining_x = g->downsample_x / sx;
	p->remaining_y = g->downsample_y / sy;
	p->decoded_pixels = decoded_pixels(node->slide, p);
}

gboolean
sp_node_get_plan(SpNode *node, SpPlan *plan)
{
	if (node->op->kind == SP_OP_SINK)
		node = node->input;
	*plan = node->read;
	return plan->planned;
}

void
sp_graph_set_exact(SpGraph *graph, gboolean exact)
{
	graph->exact = exact;
}

#define FAIL(what) \
	do { \
		_sp_set_vips_error(error, node->op->name, what); \
		goto fail; \
	} while (0)

/* Replaces *@image by @next (a new reference) . */
static void
step(VipsImage **image, VipsImage *next)
{
	g_object_unref(*image);
	*image = next;
}

VipsImage *
_sp_chain_view(SpNode *node, int level, int out_width, int out_height,
	GError **error)
{
	const SpGeometry *g = &node->geom;

	return _sp_chain_view_region(node, level, g->x, g->y, g->w, g->h,
		out_width, out_height, error);
}

/* _sp_chain_view_region(), with the chain's pointwise operators applied
 * (@pointwise_ops) or not (the source's own pixels). */
static VipsImage *
chain_view(SpNode *node, int level, double rx0, double ry0, double rw,
	double rh, int out_width, int out_height, gboolean pointwise_ops,
	GError **error)
{
	SpNode *source = _sp_chain_source(node);
	const char *associated = source->source_associated;
	g_autoptr(GPtrArray) pointwise = g_ptr_array_new();
	VipsImage *image, *t;
	double sx = 1, sy = 1;

	/* every pointwise operator of the chain, in order: crop commutes
	 * with them, and they run at the level read, before the remaining
	 * reduction */
	for (SpNode *n = node; pointwise_ops && n->input; n = n->input)
		if (n->role == SP_ROLE_POINTWISE)
			g_ptr_array_insert(pointwise, 0, n);

	if (associated)
		level = 0;
	else
		level_scale(source->slide, level, &sx, &sy);
	/* the region in the level's pixels, with its sub-pixel origin */
	double u0 = rx0 / sx, v0 = ry0 / sy;
	double uw = rw / sx, vh = rh / sy;
	int ix = (int) floor(u0 + 1e-6), iy = (int) floor(v0 + 1e-6);
	double fx = MAX(0, u0 - ix), fy = MAX(0, v0 - iy);

	int plane = source->source_planes &&
			node->graph->plane <
				sp_geometry_get_plane_count(&source->geom) ?
		source->source_planes[node->graph->plane] :
		0;
	if (!(image = _sp_slide_load_plane(source->slide, level, plane,
		      associated, (int) ceil(uw) + 2, error)))
		return NULL;

	int ew = MIN((int) ceil(u0 + uw) + 1, image->Xsize) - ix;
	int eh = MIN((int) ceil(v0 + vh) + 1, image->Ysize) - iy;
	ix = CLAMP(ix, 0, image->Xsize - 1);
	iy = CLAMP(iy, 0, image->Ysize - 1);
	ew = CLAMP(ew, 1, image->Xsize - ix);
	eh = CLAMP(eh, 1, image->Ysize - iy);
	if (vips_extract_area(image, &t, ix, iy, ew, eh, NULL))
		FAIL("region");
	step(&image, t);

	/* span of whole pixels at this level that the output covers */
	int cw = MAX(1, MIN((int) ceil(uw - 1e-6), ew));
	int ch = MAX(1, MIN((int) ceil(vh - 1e-6), eh));
	if (fx > 1e-3 || fy > 1e-3) {
		/* shift by the sub-pixel origin rather than round it away */
		VipsArrayInt *oarea = vips_array_int_newv(4, 0, 0, cw, ch);
		VipsInterpolate *bilinear = vips_interpolate_new("bilinear");
		int r = vips_affine(image, &t, 1.0, 0.0, 0.0, 1.0, "idx", -fx,
			"idy", -fy, "oarea", oarea, "interpolate", bilinear,
			"extend", VIPS_EXTEND_COPY, NULL);
		vips_area_unref(VIPS_AREA(oarea));
		g_object_unref(bilinear);
		if (r)
			FAIL("sub-pixel shift");
		step(&image, t);
		if (image->BandFmt != VIPS_FORMAT_UCHAR) {
			if (vips_cast_uchar(image, &t, NULL))
				FAIL("sub-pixel shift");
			step(&image, t);
		}
	} else if (cw != image->Xsize || ch != image->Ysize) {
		if (vips_extract_area(image, &t, 0, 0, cw, ch, NULL))
			FAIL("region");
		step(&image, t);
	}

	for (guint i = 0; i < pointwise->len; i++) {
		SpNode *p = g_ptr_array_index(pointwise, i);

		if (!(t = p->op->build(p, image, error)))
			goto fail;
		step(&image, t);
	}

	/* the remaining reduction */
	t = _sp_reduce(image, uw / out_width, vh / out_height, out_width,
		out_height, node->op->name, "reduce", error);
	if (!t)
		goto fail;
	step(&image, t);
	return image;

fail:
	g_object_unref(image);
	return NULL;
}

VipsImage *
_sp_chain_view_region(SpNode *node, int level, double rx0, double ry0,
	double rw, double rh, int out_width, int out_height, GError **error)
{
	return chain_view(node, level, rx0, ry0, rw, rh, out_width, out_height,
		TRUE, error);
}

VipsImage *
_sp_source_view(SpNode *node, GError **error)
{
	const SpGeometry *g = &node->geom;

	return chain_view(node, MAX(0, node->read.level), g->x, g->y, g->w,
		g->h, g->width, g->height, FALSE, error);
}
