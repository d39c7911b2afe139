/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Streaming connected components of a mask (src/label.c): rows go in top
 * to bottom, finished objects come out with their measurements, in memory
 * that grows with the width of the mask and the number of objects still
 * open, not with its area. Pure glib: no libvips, no slide geometry (the
 * label operator, ops/label.c, maps mask pixels to level-0 pixels and µm).
 * Not installed.
 */
#ifndef SP_LABEL_H
#define SP_LABEL_H

#include <glib.h>

G_BEGIN_DECLS

/* The most intensity bands measured per object. */
#define SP_LABEL_MAX_BANDS 4

/* One run of an object: mask pixels x0 … x1 (inclusive) of row y. The
 * same layout as the public SpObjectRun. */
typedef struct {
	int y;
	int x0;
	int x1;
} SpLabelRun;

/* A finished object, in the mask's pixels (column x, row y, from its top
 * left corner). */
typedef struct {
	gint64 area; /* pixels */
	int x0, y0, x1, y1; /* bounding box, inclusive */
	double cx, cy; /* mean column and mean row of its pixels */
	/* scikit-image's perimeter(image, neighbourhood=4) of the object's own
	 * pixels: border pixels (those with a 4-neighbour outside the object)
	 * weighted by the pattern of border pixels around them, 1, √2 or
	 * (1 + √2) / 2 (Benkrid & Crookes' estimator) */
	double perimeter;
	/* second-moment shape, as scikit-image 0.19's regionprops: from the
	 * eigenvalues l1 >= l2 of the inertia tensor (covariance of the pixel
	 * coordinates), 4·√l1, 4·√l2, √(1 − l2/l1), and the angle in radians
	 * (−π/2 … π/2) between the rows' axis and the major axis */
	double major_axis, minor_axis, eccentricity, orientation;
	gboolean edge; /* touches the first or last row or column */
	int bands; /* intensity bands measured, 0 … SP_LABEL_MAX_BANDS */
	double mean[SP_LABEL_MAX_BANDS];
	int min[SP_LABEL_MAX_BANDS], max[SP_LABEL_MAX_BANDS];
	/* its runs, sorted by row then column, when the labeler keeps them
	 * (NULL otherwise); valid only during the callback */
	const SpLabelRun *runs;
	gsize n_runs;
} SpLabelObject;

/* Called once per finished object, in the order objects finish (by their
 * last row, then left to right by their runs in that row). FALSE stops
 * the labeling: _sp_labeler_push() and _sp_labeler_finish() then return
 * FALSE. */
typedef gboolean (*SpLabelFunc)(const SpLabelObject *object, void *user_data);

typedef struct _SpLabeler SpLabeler;

/* A labeler of a @width × @height mask. @connectivity: 8 (pixels touching
 * at a corner are connected) or 4 (only along an edge). @bands: intensity
 * samples that follow each mask sample (0 … SP_LABEL_MAX_BANDS).
 * @keep_runs: hand each object's runs to @func (memory then also grows
 * with the runs of the open objects). */
SpLabeler *_sp_labeler_new(int width, int height, int connectivity, int bands,
	gboolean keep_runs, SpLabelFunc func, void *user_data);
void _sp_labeler_free(SpLabeler *labeler);

/* Before the first row: fills holes, the background components (4-
 * connected when objects are 8-connected, 8-connected when they are 4-)
 * that touch no edge of the mask, border one object only and have at
 * most @max_hole pixels (< 0: any size). A hole's pixels join its object
 * in every measurement and its runs; the object is handed over when it
 * ends, holes filled (it encloses them, so they end first). Runs are then
 * kept, and the perimeter is taken from them. */
void _sp_labeler_fill_holes(SpLabeler *labeler, gint64 max_hole);

/* The next row, top to bottom: @width pixels of 1 + bands uchar samples,
 * the mask first (nonzero: object), then the intensity bands. FALSE when
 * the callback stopped the labeling. */
gboolean _sp_labeler_push(SpLabeler *labeler, const guint8 *pixels);

/* After the last row: emits the objects still open. FALSE when the
 * callback stopped the labeling or not every row was pushed. */
gboolean _sp_labeler_finish(SpLabeler *labeler);

/* An object's outline: the boundary of the union of its pixel squares as
 * polygons with integer vertices (pixel corners: vertex (x, y) is the top
 * left corner of pixel (x, y)). One polygon per 4-connected part (parts
 * joined only at a corner are separate polygons that touch at that
 * corner), each an exterior ring then its holes; rings are simple, not
 * closed (the first vertex is not repeated), without collinear vertices;
 * exteriors have positive signed area in the (x, y) plane (counter-
 * clockwise with y up, as RFC 7946 asks), holes negative. */
typedef struct {
	GArray *xy; /* int: x, y of every vertex, ring after ring */
	GArray *ring_sizes; /* int: vertices in each ring */
	GArray *polygon_sizes; /* int: rings in each polygon */
} SpLabelOutline;

/* Fills @outline (arrays made here; free with _sp_label_outline_clear())
 * from an object's runs (sorted by row, then column; not empty). */
void _sp_label_outline(const SpLabelRun *runs, gsize n_runs,
	SpLabelOutline *outline);
void _sp_label_outline_clear(SpLabelOutline *outline);

G_END_DECLS

#endif /* SP_LABEL_H */
