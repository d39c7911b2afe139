/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pyramid writer: a tiled, pyramidal JPEG TIFF written in one pass
 * over level 0, with tiles computed and compressed on every core.
 *
 * libvips 8.14's tiffsave compresses JPEG tiles inside libtiff on its one
 * write thread, so a pyramid save runs at about one core's codec speed.
 * Here vips_sink_tile() hands each libvips worker thread one output tile
 * at a time, in raster order, already computed in a region of exactly
 * that tile; the same thread compresses it with TurboJPEG straight from
 * the region's memory and gives the bytes to libtiff as a raw tile
 * (TIFFWriteRawTile).
 *
 * Levels come from the same tiles, as a quadtree: a tile of level k + 1
 * is the 2 × 2 mean of four level-k tiles, each of which, once computed,
 * averages itself into its quarter of the parent's buffer; the thread
 * that delivers the last quarter compresses the parent and passes it on
 * up. Nothing is buffered but the parents in progress, about two tile
 * rows per level, and level 0 is never copied.
 *
 * libtiff writes one directory at a time, so level 0's tiles go straight
 * into the file and the lower levels' compressed tiles (a third of the
 * size of level 0's, all together) are spooled to an unlinked temporary
 * file beside the output and copied in after level 0's directory. Each
 * directory's fields, and the layout's own directories (SVS's thumbnail,
 * label, macro), come from tiff-layout.c.
 *
 * Levels taken from a JPEG-tiled source (SpWriteOptions.copy) are copied
 * byte for byte on a copier thread, or re-cut in the DCT domain
 * (retile.c) by a worker per core, beside the pixels of the first
 * computed level.
 *
 * _sp_pyramid_write() runs in steps over one Pyramid state: setup (the
 * levels, the file, the spool), workers (copier and re-cutters), stripes
 * (the computed levels), finish (the remaining directories, the flush),
 * clear.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <tiffio.h>
#include <turbojpeg.h>

#include "writer/writer.h"

typedef struct {
	guint64 offset;
	guint32 size;
} SpoolEntry;

typedef struct _Writer Writer;
typedef struct _CopyJob CopyJob;
typedef struct _RetileJob RetileJob;

/* A tile of a lower level being assembled from its children. */
typedef struct {
	VipsPel *pixels; /* tile × tile × bands */
	int waiting; /* children yet to deliver */
} Parent;

typedef struct {
	int width, height; /* of this level */
	int tiles_across, tiles_down;
	Parent **parents; /* per tile, levels above the first */
	SpoolEntry *spool; /* per tile, spooled levels */
	gint pending; /* re-cut levels: tiles not yet spooled */
} Level;

struct _Writer {
	const char *path;
	int bands;
	int tile;
	int quality;
	int subsampling; /* TJSAMP_* */
	int n_levels;
	Level *levels;
	int first; /* the level computed from pixels */

	TIFF *tiff;
	int spool; /* lower levels' compressed tiles, or -1 */
	guint64 spool_size; /* bytes reserved in it */
	GCond level_done; /* a re-cut level's last tile is spooled */

	GMutex lock; /* tiff, spool, parents, error */
	char *error; /* first failure, or NULL */
	gboolean bad_source; /* it was a source tile that cannot be taken */

	const SpWriteOptions *o; /* source tiles, layout, mpp, progress */
	int n_bytes; /* levels copied byte for byte */

	SpWriteProgress progress;
	void *progress_data;
	gint tiles_done; /* of the first computed level and re-cut ones */
	gint pixel_tiles_done; /* of the first computed level */
	int tiles_total;
	int last_percent;
};

/* Per worker thread. */
typedef struct {
	tjhandle tj;
	unsigned char *out; /* tjBufSize() bytes: never reallocated */
	VipsPel *pad; /* an edge tile, padded */
} Seq;

static void set_error(Writer *w, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
set_error(Writer *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_mutex_lock(&w->lock);
	if (!w->error)
		w->error = g_strdup_vprintf(fmt, ap);
	g_mutex_unlock(&w->lock);
	va_end(ap);
}

/* A source tile could not be copied or re-cut (@error from retile.c
 * or the tile reader): the writer fails with SP_ERROR_FORMAT, which tells
 * save that decoding may still work. */
static void
set_source_error(Writer *w, const GError *error)
{
	g_mutex_lock(&w->lock);
	if (!w->error) {
		w->error = g_strdup(error->message);
		w->bad_source = TRUE;
	}
	g_mutex_unlock(&w->lock);
}

/* Whether a thread has failed: every read of w->error is under the lock,
 * as the copier and the re-cutting workers set it while others run. */
static gboolean
has_error(Writer *w)
{
	g_mutex_lock(&w->lock);
	gboolean failed = w->error != NULL;
	g_mutex_unlock(&w->lock);
	return failed;
}

static void *
seq_start(VipsImage *out, void *a, void *b)
{
	Writer *w = a;
	Seq *seq = g_new0(Seq, 1);
	int samp = w->bands == 1 ? TJSAMP_GRAY : w->subsampling;

	seq->tj = tjInitCompress();
	seq->out = tjAlloc(tjBufSize(w->tile, w->tile, samp));
	seq->pad = g_malloc((size_t) w->tile * w->tile * w->bands);
	if (!seq->tj || !seq->out) {
		vips_error("save", "cannot start TurboJPEG");
		return NULL;
	}
	return seq;
}

static int
seq_stop(void *vseq, void *a, void *b)
{
	Seq *seq = vseq;

	if (seq->tj)
		tjDestroy(seq->tj);
	tjFree(seq->out);
	g_free(seq->pad);
	g_free(seq);
	return 0;
}

/* Appends tile @index of level @l (@size bytes) to the spool: the place
 * is reserved under the lock, the bytes written outside it. */
static gboolean
spool_append(Writer *w, Level *l, ttile_t index, const void *data, size_t size)
{
	g_mutex_lock(&w->lock);
	guint64 offset = w->spool_size;
	w->spool_size += size;
	l->spool[index].offset = offset;
	l->spool[index].size = (guint32) size;
	g_mutex_unlock(&w->lock);

	for (size_t done = 0; done < size;) {
		ssize_t n = pwrite(w->spool, (const char *) data + done,
			size - done, (off_t) (offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : ENOSPC;
			set_error(w, "cannot write the level spool: %s",
				g_strerror(err));
			return FALSE;
		}
		done += (size_t) n;
	}
	return TRUE;
}

/* Compresses a tile (@pixels with @pitch bytes a row, @cols × @rows
 * valid) and stores it. Edge tiles are padded by repeating the last
 * column and row, which compresses better than black. */
static gboolean
store_tile(Writer *w, Seq *seq, int k, int tx, int ty, const VipsPel *pixels,
	size_t pitch, int cols, int rows)
{
	Level *l = &w->levels[k];
	int ps = w->bands, t = w->tile;
	int samp = w->bands == 1 ? TJSAMP_GRAY : w->subsampling;
	unsigned long size = tjBufSize(t, t, samp);
	unsigned char *out = seq->out;

	if (cols < t || rows < t) {
		for (int y = 0; y < t; y++) {
			const VipsPel *src = pixels + MIN(y, rows - 1) * pitch;
			VipsPel *dst = seq->pad + (size_t) y * t * ps;

			memcpy(dst, src, (size_t) cols * ps);
			for (int x = cols; x < t; x++)
				memcpy(dst + x * ps, dst + (cols - 1) * ps, ps);
		}
		pixels = seq->pad;
		pitch = (size_t) t * ps;
	}
	if (tjCompress2(seq->tj, pixels, t, pitch, t,
		    ps == 1 ? TJPF_GRAY : TJPF_RGB, &out, &size, samp,
		    w->quality, TJFLAG_NOREALLOC)) {
		set_error(w, "JPEG compression failed: %s",
			tjGetErrorStr2(seq->tj));
		return FALSE;
	}

	ttile_t index = (ttile_t) ty * l->tiles_across + tx;

	if (k > 0)
		return spool_append(w, l, index, out, size);
	g_mutex_lock(&w->lock);
	gboolean ok = TIFFWriteRawTile(w->tiff, index, out, size) >= 0;
	int err = errno;
	g_mutex_unlock(&w->lock);
	if (!ok)
		set_error(w, "cannot write a tile: %s", g_strerror(err));
	return ok;
}

/* One output row of a 2 × 2 mean of RGB rows @a and @b: @n pixels. The
 * hot loop of the lower levels (a quarter of level 0's pixels pass
 * through it, then a sixteenth …); built so GCC vectorises it. */
__attribute__((optimize("O3"))) static void
halve_rgb_row(const VipsPel *restrict a, const VipsPel *restrict b,
	VipsPel *restrict q, int n)
{
	for (int x = 0; x < n; x++)
		for (int c = 0; c < 3; c++)
			q[3 * x + c] = (a[6 * x + c] + a[6 * x + 3 + c] +
					       b[6 * x + c] + b[6 * x + 3 + c] +
					       2) >>
				2;
}

static gboolean deliver(Writer *w, Seq *seq, int k, int tx, int ty,
	const VipsPel *pixels, size_t pitch, int cols, int rows);

/* Level-@k tile (@tx, @ty) is complete: store it, then average it into its
 * quarter of the level-@k + 1 parent, completing the parent when it is
 * the last of its children. */
static gboolean
deliver(Writer *w, Seq *seq, int k, int tx, int ty, const VipsPel *pixels,
	size_t pitch, int cols, int rows)
{
	int t = w->tile, half = t / 2, ps = w->bands;

	if (!store_tile(w, seq, k, tx, ty, pixels, pitch, cols, rows))
		return FALSE;
	if (k + 1 >= w->n_levels)
		return TRUE;

	Level *l = &w->levels[k], *n = &w->levels[k + 1];
	int px = tx / 2, py = ty / 2;
	int index = py * n->tiles_across + px;
	Parent *parent;

	/* A level one pixel wider (taller) than a multiple of two tiles ends
	 * in a column (row) of tiles holding only that pixel, which halving
	 * rounds away: they have no parent (1025 px in 256² tiles: 5 tiles,
	 * then 512 px in 2). */
	if (px >= n->tiles_across || py >= n->tiles_down)
		return TRUE;

	/* the parent's buffer, made by its first child */
	g_mutex_lock(&w->lock);
	if (!(parent = n->parents[index])) {
		parent = g_new(Parent, 1);
		parent->pixels = g_malloc((size_t) t * t * ps);
		parent->waiting = (MIN(2 * px + 2, l->tiles_across) - 2 * px) *
			(MIN(2 * py + 2, l->tiles_down) - 2 * py);
		n->parents[index] = parent;
	}
	g_mutex_unlock(&w->lock);

	/* this child's quarter: parent pixel X averages level-k columns 2X
	 * and 2X + 1 (clamped, so a 1-pixel level halves to 1 pixel) */
	int pcols = MIN(t, n->width - px * t),
	    prows = MIN(t, n->height - py * t);
	int qx = (tx % 2) * half, qy = (ty % 2) * half;
	int ow = MIN(half, pcols - qx), oh = MIN(half, prows - qy);
	for (int y = 0; y < oh; y++) {
		const VipsPel *a = pixels + MIN(2 * y, rows - 1) * pitch;
		const VipsPel *b = pixels + MIN(2 * y + 1, rows - 1) * pitch;
		VipsPel *q = parent->pixels + ((size_t) (qy + y) * t + qx) * ps;

		if (ps == 3 && 2 * ow <= cols)
			/* the common case, no clamping */
			halve_rgb_row(a, b, q, ow);
		else
			for (int x = 0; x < ow; x++) {
				int i = MIN(2 * x, cols - 1) * ps;
				int j = MIN(2 * x + 1, cols - 1) * ps;
				for (int c = 0; c < ps; c++)
					q[x * ps + c] = (a[i + c] + a[j + c] +
								b[i + c] +
								b[j + c] + 2) >>
						2;
			}
	}

	g_mutex_lock(&w->lock);
	gboolean last = --parent->waiting == 0;
	if (last)
		n->parents[index] = NULL;
	g_mutex_unlock(&w->lock);
	if (!last)
		return TRUE;

	gboolean ok = deliver(w, seq, k + 1, px, py, parent->pixels,
		(size_t) t * ps, pcols, prows);
	g_free(parent->pixels);
	g_free(parent);
	return ok;
}

/* @n more tiles are done: tell the progress callback (below 100 %: the
 * caller says 100 when the file is whole). */
static void
report_tiles(Writer *w, int n)
{
	int done = g_atomic_int_add(&w->tiles_done, n) + n;
	int percent = (int) (100.0 * done / MAX(1, w->tiles_total));

	if (w->progress && percent < 100) {
		g_mutex_lock(&w->lock);
		if (percent > w->last_percent) {
			w->last_percent = percent;
			w->progress(percent, w->progress_data);
		}
		g_mutex_unlock(&w->lock);
	}
}

/* vips_sink_tile(): @region holds a block of BLOCK_TILES tiles side by
 * side of the first computed level. Blocks rather than single tiles, so
 * the two threads seldom want the same source tile at the same moment
 * (an unaligned crop shares source tiles between neighbours, and the
 * second thread would wait for the first's decode). */
#define BLOCK_TILES 8

static int
tile_generate(VipsRegion *region, void *vseq, void *a, void *b, gboolean *stop)
{
	Writer *w = a;
	Seq *seq = vseq;
	VipsRect *r = &region->valid;

	/* @region is in the stripe's coordinates; @b is the stripe's left
	 * edge in the level's */
	int left = GPOINTER_TO_INT(b);
	for (int x = r->left; x < VIPS_RECT_RIGHT(r); x += w->tile)
		if (!deliver(w, seq, w->first, (left + x) / w->tile,
			    r->top / w->tile,
			    VIPS_REGION_ADDR(region, x, r->top),
			    VIPS_REGION_LSKIP(region),
			    MIN(w->tile, VIPS_RECT_RIGHT(r) - x), r->height)) {
			*stop = TRUE;
			return -1;
		}

	g_atomic_int_add(&w->pixel_tiles_done,
		(r->width + w->tile - 1) / w->tile);
	report_tiles(w, (r->width + w->tile - 1) / w->tile);
	return 0;
}
/* The layout's own directories, after level 0's (@at_end FALSE) or after
 * the last level's; the caller holds the TIFF. */
static gboolean
write_layout_directories(Writer *w, gboolean at_end)
{
	char *why = NULL;

	if (_sp_tiff_layout_write_directories(w->tiff, w->o->meta, at_end,
		    &why))
		return TRUE;
	/* the copier thread calls this beside the spooling workers */
	set_error(w, "%s", why ? why : "cannot write a directory");
	g_free(why);
	return FALSE;
}

/* Copies level @k's spooled tiles into its directory. */
static gboolean
copy_spooled_level(Writer *w, int k)
{
	Level *l = &w->levels[k];
	int n = l->tiles_across * l->tiles_down;
	g_autofree unsigned char *buf = NULL;
	guint32 cap = 0;

	for (int i = 0; i < n; i++) {
		SpoolEntry *e = &l->spool[i];

		if (e->size > cap) {
			cap = e->size;
			g_free(buf);
			buf = g_malloc(cap);
		}
		if (pread(w->spool, buf, e->size, (off_t) e->offset) !=
				(ssize_t) e->size ||
			TIFFWriteRawTile(w->tiff, i, buf, e->size) < 0) {
			int err = errno;
			set_error(w, "cannot copy level %d: %s", k,
				g_strerror(err));
			return FALSE;
		}
	}
	return TRUE;
}

/* Sets the directory fields of output level @k (src/writer/tiff-layout.c):
 * for a level taken from the source, the source level's too (what its
 * tiles need to decode); for a computed one, the writer's own. */
static gboolean
set_level_fields(Writer *w, int k)
{
	const SpWriteOptions *o = w->o;
	Level *l = &w->levels[k], *l0 = &w->levels[0];
	int ss = w->subsampling == TJSAMP_420 ? 2 : 1;
	TIFF *src;

	if (k >= w->first) {
		_sp_tiff_layout_set_level(w->tiff, o->meta, k, l->width,
			l->height, l0->width, l0->height, w->bands, ss, w->tile,
			o->mpp_x, o->mpp_y);
		return TRUE;
	}
	if (o->copy->dicom) {
		/* a DICOM level: each frame a whole JPEG stream, no shared
		 * tables; its samples named as the reader decodes them */
		SpDicomTiles t;
		g_autofree char *why = NULL;

		if (!_sp_dicom_jpeg_tiles(o->copy->dicom, o->copy->page[k], &t,
			    &why)) {
			set_error(w, "cannot copy level %d of '%s': %s",
				o->copy->page[k], o->copy->path, why);
			return FALSE;
		}
		_sp_tiff_layout_set_level(w->tiff, o->meta, k, l->width,
			l->height, l0->width, l0->height, w->bands, ss,
			w->tile, o->mpp_x, o->mpp_y);
		TIFFSetField(w->tiff, TIFFTAG_PHOTOMETRIC, t.photometric);
		if (t.photometric == PHOTOMETRIC_YCBCR)
			TIFFSetField(w->tiff, TIFFTAG_YCBCRSUBSAMPLING, t.ss_h,
				t.ss_v);
		return TRUE;
	}
	src = _sp_tiff_open(o->copy->path, "rmO");
	if (!src || !TIFFSetDirectory(src, (tdir_t) o->copy->page[k])) {
		if (src)
			TIFFClose(src);
		set_error(w, "cannot read '%s'", o->copy->path);
		return FALSE;
	}
	_sp_tiff_layout_set_source_level(w->tiff, src, o->meta, k, l->width,
		l->height, l0->width, l0->height, w->bands, ss, w->tile,
		o->mpp_x, o->mpp_y);
	TIFFClose(src);
	return TRUE;
}

/* Copies the compressed tiles of output level @k from the source TIFF,
 * with the tags they need to decode, and writes the directory. Each tile
 * is checked first (src/writer/retile.c): one a decoder would refuse, or
 * whose header does not match the directory, fails the copy. */
static gboolean
copy_source_level(Writer *w, int k)
{
	const SpTileCopy *copy = w->o->copy;
	Level *l = &w->levels[k];
	SpRetiler *r = NULL;
	gboolean ok = FALSE;
	GError *error = NULL;

	if (!set_level_fields(w, k))
		return FALSE;
	if (!(r = _sp_retiler_new(copy, k, w->tile, &error)))
		goto out;

	for (int ty = 0; ty < l->tiles_down; ty++)
		for (int tx = 0; tx < l->tiles_across; tx++) {
			const unsigned char *bytes;
			unsigned long size;

			if (!_sp_retiler_tile(r, copy->x[k] + tx * w->tile,
				    copy->y[k] + ty * w->tile, &bytes, &size,
				    &error))
				goto out;
			if (TIFFWriteRawTile(w->tiff, ty * l->tiles_across + tx,
				    (void *) bytes, (tmsize_t) size) < 0) {
				set_error(w,
					"cannot copy a tile of level %d: %s", k,
					g_strerror(errno));
				goto out;
			}
		}
	if (!TIFFWriteDirectory(w->tiff)) {
		set_error(w, "cannot write the directory of level %d", k);
		goto out;
	}
	ok = TRUE;
out:
	if (error) {
		set_source_error(w, error);
		g_error_free(error);
	}
	_sp_retiler_free(r);
	return ok;
}

/* The copier thread's job: levels 0 … n - 1 byte for byte, then the
 * directories of re-cut levels n … recut_to - 1 as each is spooled. */
struct _CopyJob {
	Writer *w;
	int n; /* levels copied byte for byte */
	int recut_to; /* then re-cut levels n … recut_to - 1 */
	gboolean ok;
};

/* Writes level @k (above 0) from the spool: its directory's fields (the
 * source level's when it was re-cut, the writer's own when computed),
 * its tiles, the directory. */
static gboolean
write_spooled_level(Writer *w, int k)
{
	if (!set_level_fields(w, k) || !copy_spooled_level(w, k))
		return FALSE;
	if (!TIFFWriteDirectory(w->tiff)) {
		set_error(w, "cannot write the directory of level %d", k);
		return FALSE;
	}
	return TRUE;
}

/* Writes re-cut level @k's directory from the spool once the workers have
 * spooled its last tile, while they go on with the next levels. */
static gboolean
write_recut_level(Writer *w, int k)
{
	Level *l = &w->levels[k];
	gboolean failed;

	g_mutex_lock(&w->lock);
	while (g_atomic_int_get(&l->pending) > 0 && !w->error)
		g_cond_wait_until(&w->level_done, &w->lock,
			g_get_monotonic_time() + G_TIME_SPAN_SECOND / 10);
	failed = w->error != NULL;
	g_mutex_unlock(&w->lock);
	if (failed)
		return FALSE;

	return write_spooled_level(w, k);
}

static gpointer
copy_levels_thread(gpointer data)
{
	CopyJob *job = data;

	for (int k = 0; k < job->n && job->ok; k++) {
		job->ok = copy_source_level(job->w, k);
		if (job->ok && k == 0)
			job->ok = write_layout_directories(job->w, FALSE);
	}
	for (int k = job->n; k < job->recut_to && job->ok; k++)
		job->ok = write_recut_level(job->w, k);
	return NULL;
}

/* Re-cut levels: work items are stripes of RETILE_STRIPE output tile
 * columns of one level, taken in order by every worker; within a stripe a
 * worker goes down the rows, so each source tile is decoded about once
 * (its retiler keeps the last few). Level 0's tiles go into the file,
 * lower levels' to the spool. */
#define RETILE_STRIPE 16
#define MAX_RETILERS 8

struct _RetileJob {
	Writer *w;
	int from, to; /* levels from … to - 1 */
	int first_item[33]; /* per level from … to: its first work item */
	gint next; /* the next work item */
};

/* Re-cuts the tiles of work item @item (level @k) and stores them. FALSE
 * when the writer has failed (@error: a source tile). */
static gboolean
retile_item(RetileJob *job, SpRetiler *r, int k, int item, GError **error)
{
	Writer *w = job->w;
	const SpTileCopy *copy = w->o->copy;
	Level *l = &w->levels[k];
	int t = w->tile;
	int left = (item - job->first_item[k - job->from]) * RETILE_STRIPE;
	int right = MIN(left + RETILE_STRIPE, l->tiles_across);

	for (int ty = 0; ty < l->tiles_down; ty++) {
		for (int tx = left; tx < right; tx++) {
			const unsigned char *bytes;
			unsigned long size;
			gboolean ok;
			ttile_t index = (ttile_t) ty * l->tiles_across + tx;

			if (!_sp_retiler_tile(r, copy->x[k] + tx * t,
				    copy->y[k] + ty * t, &bytes, &size, error))
				return FALSE;
			if (k == 0) {
				g_mutex_lock(&w->lock);
				ok = TIFFWriteRawTile(w->tiff, index,
					     (void *) bytes,
					     (tmsize_t) size) >= 0;
				int err = errno;
				g_mutex_unlock(&w->lock);
				if (!ok)
					set_error(w, "cannot write level 0: %s",
						g_strerror(err));
			} else
				ok = spool_append(w, l, index, bytes, size);
			if (!ok)
				return FALSE;
			if (g_atomic_int_dec_and_test(&l->pending)) {
				g_mutex_lock(&w->lock);
				g_cond_broadcast(&w->level_done);
				g_mutex_unlock(&w->lock);
			}
		}
		report_tiles(w, right - left);
	}
	return TRUE;
}

static gpointer
retile_thread(gpointer data)
{
	RetileJob *job = data;
	Writer *w = job->w;
	const SpTileCopy *copy = w->o->copy;
	SpRetiler *r = NULL;
	GError *error = NULL;
	int level = -1;

	for (;;) {
		int item = g_atomic_int_add(&job->next, 1);
		int k = job->from;

		if (item >= job->first_item[job->to - job->from] ||
			has_error(w))
			break;
		while (item >= job->first_item[k + 1 - job->from])
			k++;
		if (k != level) {
			_sp_retiler_free(r);
			if (!(r = _sp_retiler_new(copy, k, w->tile,
				      &error)))
				break;
			level = k;
		}
		if (!retile_item(job, r, k, item, &error))
			break;
	}
	if (error) {
		set_source_error(w, error);
		g_error_free(error);
	}
	_sp_retiler_free(r);
	return NULL;
}

int
_sp_pyramid_levels(int width, int height, int tile, gboolean pyramid)
{
	int n = 1;

	for (; pyramid && !(width <= tile && height <= tile); n++) {
		width = MAX(1, width / 2);
		height = MAX(1, height / 2);
	}
	return n;
}

/* The whole write's state: the writer, its threads' jobs. */
typedef struct {
	Writer w;
	CopyJob job;
	GThread *copier;
	RetileJob retile;
	GThread *retilers[MAX_RETILERS];
	int n_retilers;
} Pyramid;

/* Setup: checks, the levels and their buffers, the file, the spool and
 * level 0's directory fields. */
static gboolean
pyramid_setup(Pyramid *p, VipsImage *in, int width, int height,
	const SpWriteOptions *o, GError **error)
{
	Writer *w = &p->w;
	int first = o->copy ? o->copy->n_levels :
			      0; /* first level from pixels */

	w->path = o->path;
	w->o = o;
	w->progress = o->progress;
	w->progress_data = o->progress_data;
	w->last_percent = -1;
	w->bands = in ? in->Bands : 3;
	w->tile = o->tile;
	w->quality = o->quality;
	/* as libvips: full chroma resolution from Q 90 up */
	w->subsampling = o->quality >= 90 ? TJSAMP_444 : TJSAMP_420;
	g_mutex_init(&w->lock);
	g_cond_init(&w->level_done);
	w->spool = -1;
	p->job.ok = TRUE;

	if (in &&
		(in->BandFmt != VIPS_FORMAT_UCHAR ||
			(in->Bands != 1 && in->Bands != 3))) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"%s: '%s': the JPEG pyramid writer takes 1- or 3-band 8-bit "
			"images",
			o->op, o->name);
		return FALSE;
	}
	if (o->tile < 16 || o->tile % 16 != 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: '%s': tile size %d is not a multiple of 16", o->op,
			o->name, o->tile);
		return FALSE;
	}

	/* levels: each half the previous (rounded down) until one tile */
	w->n_levels = _sp_pyramid_levels(width, height, o->tile, o->pyramid);
	w->levels = g_new0(Level, w->n_levels);
	for (int k = 0; k < w->n_levels; k++) {
		Level *l = &w->levels[k];

		l->width = width;
		l->height = height;
		l->tiles_across = (width + o->tile - 1) / o->tile;
		l->tiles_down = (height + o->tile - 1) / o->tile;
		width = MAX(1, width / 2);
		height = MAX(1, height / 2);
	}
	w->first = first = MIN(first, w->n_levels);
	w->n_bytes = o->copy ? MIN(o->copy->n_bytes, first) : 0;
	if (first < w->n_levels &&
		(!in || in->Xsize != w->levels[first].width ||
			in->Ysize != w->levels[first].height)) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"%s: '%s': internal error: level %d has no pixels of its size",
			o->op, o->name, first);
		return FALSE;
	}
	for (int k = w->n_bytes; k < w->n_levels; k++) {
		size_t n = (size_t) w->levels[k].tiles_across *
			w->levels[k].tiles_down;

		if (k > first)
			w->levels[k].parents = g_new0(Parent *, n);
		if (k > 0)
			w->levels[k].spool = g_new0(SpoolEntry, n);
		if (k < first)
			w->levels[k].pending = (gint) n;
	}

	if (!(w->tiff = _sp_tiff_create(o->path, o->bigtiff))) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot create '%s'", o->op, o->name);
		return FALSE;
	}
	/* every level not copied byte for byte, but level 0, is spooled */
	if (w->n_levels > MAX(w->n_bytes, 1)) {
		/* beside the output, so a full disk shows up here too */
		g_autofree char *dir = g_path_get_dirname(o->path);
		g_autofree char *tmpl = g_build_filename(dir,
			".sp-spool-XXXXXX", NULL);
		if ((w->spool = g_mkstemp(tmpl)) < 0) {
			int err = errno;
			g_set_error(error, SP_ERROR, SP_ERROR_IO,
				"%s: cannot create a spool file beside '%s': %s",
				o->op, o->name, g_strerror(err));
			return FALSE;
		}
		unlink(tmpl);
	}
	/* level 0's directory, when its tiles are written as they come */
	if (w->n_bytes == 0 && !set_level_fields(w, 0))
		return FALSE;

	w->tiles_total = first < w->n_levels ?
		w->levels[first].tiles_across * w->levels[first].tiles_down :
		0;
	for (int k = w->n_bytes; k < first; k++)
		w->tiles_total += w->levels[k].tiles_across *
			w->levels[k].tiles_down;
	return TRUE;
}

/* Workers: levels copied byte for byte go first, each in its directory;
 * the copy is I/O, so it runs on its own thread beside the re-cut levels
 * (a worker per core) and the decoding of the first computed level. With
 * a copier, it also writes the re-cut levels' directories as each level
 * is done. */
static void
pyramid_start_workers(Pyramid *p)
{
	Writer *w = &p->w;
	int n_bytes = w->n_bytes, first = w->first;

	p->job = (CopyJob){ w, n_bytes, n_bytes > 0 ? first : n_bytes, TRUE };
	if (n_bytes > 0)
		p->copier = g_thread_new("sp-tile-copy", copy_levels_thread,
			&p->job);
	if (first > n_bytes) {
		p->retile.w = w;
		p->retile.from = n_bytes;
		p->retile.to = first;
		for (int k = n_bytes; k < first; k++)
			p->retile.first_item[k + 1 - n_bytes] =
				p->retile.first_item[k - n_bytes] +
				(w->levels[k].tiles_across + RETILE_STRIPE -
					1) /
					RETILE_STRIPE;
		p->n_retilers = MAX(1,
			MIN(MAX_RETILERS, g_get_num_processors()));
		for (int i = 0; i < p->n_retilers; i++)
			p->retilers[i] = g_thread_new("sp-retile",
				retile_thread, &p->retile);
	}
}

/* Waits for the workers: when the writer has failed, they stop at their
 * next stripe. */
static void
pyramid_join_workers(Pyramid *p)
{
	for (int i = 0; i < p->n_retilers; i++)
		g_thread_join(p->retilers[i]);
	p->n_retilers = 0;
	if (p->copier)
		g_thread_join(p->copier);
	p->copier = NULL;
}

/* Stripes: the first computed level from @in's pixels, in vertical
 * stripes, each a tile times a power of two wide, so every level's tile
 * grid lines up with the stripe edges and a parent tile is finished
 * within its stripe; the tiles of levels wider than a stripe are few.
 * FALSE with @error for a failure of libvips; a failure of the writer's
 * own is left in it for pyramid_finish(). */
static gboolean
pyramid_stripes(Pyramid *p, VipsImage *in, GError **error)
{
	Writer *w = &p->w;
	const SpWriteOptions *o = w->o;
	int tile = w->tile, stripe = tile;

	if (w->first >= w->n_levels)
		return TRUE;
	while (stripe < SP_STRIPE_WIDTH)
		stripe *= 2;
	for (int left = 0; left < in->Xsize && !has_error(w); left += stripe) {
		VipsImage *part;
		int stripe_width = MIN(stripe, in->Xsize - left);
		int before = g_atomic_int_get(&w->pixel_tiles_done);
		int r = vips_extract_area(in, &part, left, 0, stripe_width,
			in->Ysize, NULL);

		if (!r) {
			/* the writer reports progress over the whole image */
			part->progress_signal = NULL;
			r = vips_sink_tile(part, tile * BLOCK_TILES, tile,
				seq_start, tile_generate, seq_stop, w,
				GINT_TO_POINTER(left));
			g_object_unref(part);
		}
		/* a sink that ends early may still return 0 (compat.h): a
		 * stripe with tiles missing has failed, whatever the sink says */
		if (!r && !has_error(w) &&
			_sp_vips_sink_lost_tiles(g_atomic_int_get(
							 &w->pixel_tiles_done) -
					before,
				(stripe_width + tile - 1) / tile *
					w->levels[w->first].tiles_down))
			r = -1;
		if (r) {
			if (!has_error(w)) {
				_sp_set_vips_error(error, o->op, o->name);
				return FALSE;
			}
			g_free(_sp_vips_error_take(NULL));
		}
	}
	return TRUE;
}

/* Finish: the levels' directories not yet written (level 0's, then the
 * spooled ones), the layout's closing directories, the flush. */
static gboolean
pyramid_finish(Pyramid *p)
{
	Writer *w = &p->w;

	if (has_error(w) || !p->job.ok)
		return FALSE;
	for (int k = p->job.recut_to; k < w->n_levels; k++) {
		if (k > 0) {
			if (!write_spooled_level(w, k))
				return FALSE;
			continue;
		}
		if (!TIFFWriteDirectory(w->tiff)) {
			set_error(w, "cannot write the directory of level 0");
			return FALSE;
		}
		if (!write_layout_directories(w, FALSE))
			return FALSE;
	}
	/* after the levels: the layout's closing directories (label, macro) */
	if (!write_layout_directories(w, TRUE))
		return FALSE;
	/* TIFFClose flushes; a full disk can first show up here */
	TIFF *t = w->tiff;
	w->tiff = NULL;
	gboolean flushed = TIFFFlush(t) == 1;
	TIFFClose(t);
	if (!flushed) {
		set_error(w, "cannot finish the file: %s", g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

/* Stops the workers (at their next stripe) and frees everything. */
static void
pyramid_clear(Pyramid *p)
{
	Writer *w = &p->w;

	set_error(w, "stopped");
	pyramid_join_workers(p);
	if (w->tiff)
		TIFFClose(w->tiff);
	if (w->spool >= 0)
		close(w->spool);
	for (int k = 0; k < w->n_levels; k++) {
		Level *l = &w->levels[k];

		/* parents left after a failure */
		for (int i = 0;
			l->parents && i < l->tiles_across * l->tiles_down; i++)
			if (l->parents[i]) {
				g_free(l->parents[i]->pixels);
				g_free(l->parents[i]);
			}
		g_free(l->parents);
		g_free(l->spool);
	}
	g_free(w->levels);
	g_mutex_lock(&w->lock);
	g_clear_pointer(&w->error, g_free);
	g_mutex_unlock(&w->lock);
	g_cond_clear(&w->level_done);
	g_mutex_clear(&w->lock);
}

gboolean
_sp_pyramid_write(VipsImage *in, int width, int height, const SpWriteOptions *o,
	GError **error)
{
	Pyramid p = { { 0 } };
	GError *local = NULL;
	gboolean ok = FALSE;
	Writer *w = &p.w;

	if (pyramid_setup(&p, in, width, height, o, &local)) {
		pyramid_start_workers(&p);
		if (pyramid_stripes(&p, in, &local)) {
			pyramid_join_workers(&p);
			ok = pyramid_finish(&p);
		}
	}
	if (!ok && !local) {
		/* the writer's own failure: the threads are joined (or never
		 * started), w->error is settled */
		g_mutex_lock(&w->lock);
		g_set_error(&local, SP_ERROR,
			w->bad_source ? SP_ERROR_FORMAT : SP_ERROR_IO,
			"%s: '%s': %s", o->op, o->name,
			w->error ? w->error : "write failed");
		g_mutex_unlock(&w->lock);
	}
	pyramid_clear(&p);
	if (local)
		g_propagate_error(error, local);
	return ok;
}
