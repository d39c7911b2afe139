/* The pyramid writer: a tiled, pyramidal JPEG TIFF written in one pass
 * over level 0, with tiles compressed on every core.
 *
 * libvips 8.14's tiffsave compresses JPEG tiles inside libtiff on its one
 * write thread, so a pyramid save runs at about one core's codec speed.
 * Here the write thread only cuts tiles and halves strips; a pool of
 * workers compresses tiles with TurboJPEG and hands the bytes to libtiff
 * as raw tiles (TIFFWriteRawTile), so compression runs beside decoding.
 *
 * Levels are built from the same stream of level-0 strips, as libvips'
 * vips2tiff does (STYLE-NOTES §1.5): each level keeps one strip of tile
 * height; when it fills, its tiles go to the workers and its rows are
 * averaged 2 × 2 into the next level's strip. Memory is a strip per level
 * plus the tiles in flight, bounded by MAX_PENDING_ROWS tile rows.
 *
 * libtiff writes one directory at a time, so level 0's tiles go straight
 * into the file and the lower levels' compressed tiles (a third of the
 * size of level 0's, all together) are spooled to an unlinked temporary
 * file beside the output and copied in after level 0's directory. The
 * layout matches what OpenSlide's generic-tiff reader wants: tiled
 * directories in the main chain, levels after the first marked
 * NewSubfileType = reduced-resolution image. JPEG tiles are complete
 * JPEG streams (tables in every tile, no JPEGTables tag), which libtiff,
 * libvips and OpenSlide all decode.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <tiffio.h>
#include <turbojpeg.h>

#include "sp-private.h"

/* Tile rows (of level 0) that may wait for compression at once. */
#define MAX_PENDING_ROWS 2

typedef struct {
	guint64 offset;
	guint32 size;
} SpoolEntry;

typedef struct _Writer Writer;

typedef struct {
	int width, height;    /* of this level */
	int tiles_across, tiles_down;
	VipsPel *strip;       /* tile_size rows */
	int strip_top;        /* level row of strip row 0 */
	int strip_rows;       /* rows filled */
	SpoolEntry *spool;    /* per tile, levels > 0 */
} Level;

struct _Writer {
	const char *path;
	int bands;
	int tile;
	int quality;
	int subsampling;      /* TJSAMP_* */
	int n_levels;
	Level *levels;

	TIFF *tiff;
	FILE *spool;          /* lower levels' compressed tiles */
	guint64 spool_size;

	GThreadPool *pool;
	GMutex lock;          /* tiff, spool, error, pending */
	GCond drained;
	int pending;          /* tiles queued or compressing */
	int max_pending;
	char *error;          /* first failure, or NULL */
	int first;            /* the level fed by vips_sink_disc() */
	guint64 copied_bytes; /* compressed bytes copied from the source */
	GAsyncQueue *handles; /* idle TurboJPEG compressors */
	GAsyncQueue *buffers; /* free tile pixel buffers: no malloc per tile
						   * (large blocks would be mmap()ed and faulted
						   * in every time) */
};

typedef struct {
	int level;
	int tx, ty;
	VipsPel *pixels;      /* tile × tile × bands */
} Job;

static void
set_error(Writer *w, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
set_error(Writer *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (!w->error)
		w->error = g_strdup_vprintf(fmt, ap);
	va_end(ap);
}

typedef struct {
	tjhandle tj;
	unsigned char *out; /* tjBufSize() bytes: never reallocated */
} Compressor;

static void
free_compressor(gpointer data)
{
	Compressor *c = data;

	tjFree(c->out);
	tjDestroy(c->tj);
	g_free(c);
}

/* Compresses one tile and stores it; runs on a pool thread. */
static void
compress_job(gpointer data, gpointer user_data)
{
	Job *job = data;
	Writer *w = user_data;
	Compressor *c = g_async_queue_try_pop(w->handles);
	int samp = w->bands == 1 ? TJSAMP_GRAY : w->subsampling;
	unsigned long size = 0;
	int r = -1;

	if (!c) {
		c = g_new0(Compressor, 1);
		c->tj = tjInitCompress();
		c->out = tjAlloc(tjBufSize(w->tile, w->tile, samp));
	}
	if (c->tj && c->out) {
		unsigned char *out = c->out;

		size = tjBufSize(w->tile, w->tile, samp);
		r = tjCompress2(c->tj, job->pixels, w->tile, w->tile * w->bands,
			w->tile, w->bands == 1 ? TJPF_GRAY : TJPF_RGB, &out, &size, samp,
			w->quality, TJFLAG_NOREALLOC);
	}
	g_async_queue_push(w->buffers, job->pixels);

	g_mutex_lock(&w->lock);
	if (r != 0)
		set_error(w, "JPEG compression failed: %s",
			c->tj ? tjGetErrorStr2(c->tj) : "no TurboJPEG handle");
	else if (!w->error) {
		Level *l = &w->levels[job->level];
		ttile_t index = (ttile_t) job->ty * l->tiles_across + job->tx;

		if (job->level == 0 && w->first == 0) {
			if (TIFFWriteRawTile(w->tiff, index, c->out, size) < 0)
				set_error(w, "cannot write a tile: %s", g_strerror(errno));
		}
		else {
			l->spool[index].offset = w->spool_size;
			l->spool[index].size = size;
			if (fwrite(c->out, 1, size, w->spool) != size)
				set_error(w, "cannot write the level spool: %s",
					g_strerror(errno));
			w->spool_size += size;
		}
	}
	w->pending--;
	g_cond_broadcast(&w->drained);
	g_mutex_unlock(&w->lock);
	g_async_queue_push(w->handles, c);
	g_free(job);
}

/* Queues the tiles of level @k's strip, padding edge tiles by repeating
 * the last column and row (cheaper to compress than black). */
static gboolean
queue_strip_tiles(Writer *w, int k)
{
	Level *l = &w->levels[k];
	int ty = l->strip_top / w->tile;
	int ps = w->bands;
	size_t tile_line = (size_t) w->tile * ps;

	for (int tx = 0; tx < l->tiles_across; tx++) {
		int x0 = tx * w->tile;
		int cols = MIN(w->tile, l->width - x0);
		Job *job = g_new(Job, 1);

		job->level = k;
		job->tx = tx;
		job->ty = ty;
		if (!(job->pixels = g_async_queue_try_pop(w->buffers)))
			job->pixels = g_malloc((size_t) w->tile * tile_line);
		for (int y = 0; y < w->tile; y++) {
			int sy = MIN(y, l->strip_rows - 1);
			VipsPel *src = l->strip + ((size_t) sy * l->width + x0) * ps;
			VipsPel *dst = job->pixels + y * tile_line;

			memcpy(dst, src, (size_t) cols * ps);
			for (int x = cols; x < w->tile; x++)
				memcpy(dst + x * ps, dst + (cols - 1) * ps, ps);
		}

		g_mutex_lock(&w->lock);
		while (w->pending >= w->max_pending && !w->error)
			g_cond_wait(&w->drained, &w->lock);
		gboolean failed = w->error != NULL;
		if (!failed)
			w->pending++;
		g_mutex_unlock(&w->lock);
		if (failed) {
			g_async_queue_push(w->buffers, job->pixels);
			g_free(job);
			return FALSE;
		}
		g_thread_pool_push(w->pool, job, NULL);
	}
	return TRUE;
}

static gboolean emit_strip(Writer *w, int k);

/* Appends a row to level @k's strip; emits the strip when it is full or
 * the level is complete. */
static gboolean
add_row(Writer *w, int k, const VipsPel *row)
{
	Level *l = &w->levels[k];

	memcpy(l->strip + (size_t) l->strip_rows * l->width * w->bands, row,
		(size_t) l->width * w->bands);
	l->strip_rows++;
	if (l->strip_rows == w->tile ||
		l->strip_top + l->strip_rows == l->height)
		return emit_strip(w, k);
	return TRUE;
}

/* Level @k's strip is complete: compress its tiles, and average it 2 × 2
 * into level @k + 1 (the strip starts on an even row, as the tile size is
 * even; an odd last row or column is dropped, as the level sizes round
 * down, and a 1-pixel-wide or -high level halves to 1 pixel). */
static gboolean
emit_strip(Writer *w, int k)
{
	Level *l = &w->levels[k];

	if (!queue_strip_tiles(w, k))
		return FALSE;
	if (k + 1 < w->n_levels) {
		Level *n = &w->levels[k + 1];
		int ps = w->bands;
		g_autofree VipsPel *row = g_malloc((size_t) n->width * ps);

		for (int y = 0; y < l->strip_rows; y += 2) {
			/* a 1-pixel level halves to 1 pixel: reuse the row */
			if ((l->strip_top + y) / 2 >= n->height)
				break;
			const VipsPel *a = l->strip + (size_t) y * l->width * ps;
			const VipsPel *b = y + 1 < l->strip_rows ?
				a + (size_t) l->width * ps : a;

			for (int x = 0; x < n->width; x++) {
				int i = 2 * x * ps;
				int j = MIN(2 * x + 1, l->width - 1) * ps;

				for (int c = 0; c < ps; c++)
					row[x * ps + c] =
						(a[i + c] + a[j + c] + b[i + c] + b[j + c] + 2) >> 2;
			}
			if (!add_row(w, k + 1, row))
				return FALSE;
		}
	}
	l->strip_top += l->strip_rows;
	l->strip_rows = 0;
	return TRUE;
}

static int
write_area(VipsRegion *region, VipsRect *area, void *a)
{
	Writer *w = a;

	for (int y = 0; y < area->height; y++)
		if (!add_row(w, w->first,
				VIPS_REGION_ADDR(region, area->left, area->top + y)))
			return -1;
	return 0;
}

static void
set_directory_fields(Writer *w, int k, double mpp_x, double mpp_y)
{
	Level *l = &w->levels[k];
	TIFF *t = w->tiff;

	if (k > 0)
		TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_REDUCEDIMAGE);
	TIFFSetField(t, TIFFTAG_IMAGEWIDTH, l->width);
	TIFFSetField(t, TIFFTAG_IMAGELENGTH, l->height);
	TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
	TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, w->bands);
	TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
	TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_JPEG);
	/* no JPEGTables: every tile carries its own tables */
	TIFFSetField(t, TIFFTAG_JPEGTABLESMODE, 0);
	if (w->bands == 3) {
		int s = w->subsampling == TJSAMP_420 ? 2 : 1;
		TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
		TIFFSetField(t, TIFFTAG_YCBCRSUBSAMPLING, s, s);
	}
	else
		TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
	TIFFSetField(t, TIFFTAG_TILEWIDTH, w->tile);
	TIFFSetField(t, TIFFTAG_TILELENGTH, w->tile);
	TIFFSetField(t, TIFFTAG_SOFTWARE, "slidepipe " PACKAGE_VERSION);
	if (mpp_x > 0 && mpp_y > 0) {
		/* pixels per cm, at this level's pixel size */
		double scale_x = (double) w->levels[0].width / l->width;
		double scale_y = (double) w->levels[0].height / l->height;
		TIFFSetField(t, TIFFTAG_XRESOLUTION, 10000.0 / (mpp_x * scale_x));
		TIFFSetField(t, TIFFTAG_YRESOLUTION, 10000.0 / (mpp_y * scale_y));
		TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_CENTIMETER);
	}
	else
		TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_NONE);
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
		if (fseeko(w->spool, (off_t) e->offset, SEEK_SET) != 0 ||
			fread(buf, 1, e->size, w->spool) != e->size ||
			TIFFWriteRawTile(w->tiff, i, buf, e->size) < 0) {
			set_error(w, "cannot copy level %d: %s", k, g_strerror(errno));
			return FALSE;
		}
	}
	return TRUE;
}

static void
tiff_error_handler(const char *module, const char *fmt, va_list ap)
{
	/* reported through return values */
}

/* Copies the compressed tiles of output level @k from the source TIFF,
 * with the tags they need to decode (JPEGTables, photometric, chroma
 * subsampling), and writes the directory. */
static gboolean
copy_source_level(Writer *w, int k, const SpTileCopy *copy, double mpp_x,
	double mpp_y)
{
	Level *l = &w->levels[k];
	TIFF *src = TIFFOpen(copy->path, "rm");
	g_autofree unsigned char *buf = NULL;
	tmsize_t cap = 0;
	gboolean ok = FALSE;

	if (!src || !TIFFSetDirectory(src, copy->page[k])) {
		set_error(w, "cannot read '%s'", copy->path);
		goto out;
	}
	guint16 photometric = 0, ss_h = 2, ss_v = 2;
	guint32 n_tables = 0;
	void *tables = NULL;
	float *refbw = NULL;

	TIFFGetField(src, TIFFTAG_PHOTOMETRIC, &photometric);
	set_directory_fields(w, k, mpp_x, mpp_y);
	TIFFSetField(w->tiff, TIFFTAG_PHOTOMETRIC, photometric);
	if (photometric == PHOTOMETRIC_YCBCR) {
		TIFFGetFieldDefaulted(src, TIFFTAG_YCBCRSUBSAMPLING, &ss_h, &ss_v);
		TIFFSetField(w->tiff, TIFFTAG_YCBCRSUBSAMPLING, ss_h, ss_v);
		if (TIFFGetField(src, TIFFTAG_REFERENCEBLACKWHITE, &refbw) && refbw)
			TIFFSetField(w->tiff, TIFFTAG_REFERENCEBLACKWHITE, refbw);
	}
	if (TIFFGetField(src, TIFFTAG_JPEGTABLES, &n_tables, &tables) &&
		n_tables > 0)
		TIFFSetField(w->tiff, TIFFTAG_JPEGTABLES, n_tables, tables);

	for (int ty = 0; ty < l->tiles_down; ty++)
		for (int tx = 0; tx < l->tiles_across; tx++) {
			ttile_t from = TIFFComputeTile(src, copy->x[k] + tx * w->tile,
				copy->y[k] + ty * w->tile, 0, 0);
			tmsize_t size = (tmsize_t) TIFFGetStrileByteCount(src, from);

			if (size <= 0 || size > (64 << 20)) {
				set_error(w, "source tile %u of '%s' directory %d is missing "
							 "or has an absurd size",
					(unsigned) from, copy->path, copy->page[k]);
				goto out;
			}
			if (size > cap) {
				cap = size;
				g_free(buf);
				buf = g_malloc(cap);
			}
			if (TIFFReadRawTile(src, from, buf, size) != size ||
				TIFFWriteRawTile(w->tiff, ty * l->tiles_across + tx, buf,
					size) < 0) {
				set_error(w, "cannot copy a tile of level %d: %s", k,
					g_strerror(errno));
				goto out;
			}
			w->copied_bytes += size;
		}
	if (!TIFFWriteDirectory(w->tiff)) {
		set_error(w, "cannot write the directory of level %d", k);
		goto out;
	}
	ok = TRUE;
out:
	if (src)
		TIFFClose(src);
	return ok;
}

gboolean
_sp_pyramid_write(VipsImage *in, const char *path, int width, int height,
	const SpTileCopy *copy, int tile, int quality, gboolean pyramid,
	gboolean bigtiff, double mpp_x, double mpp_y, GError **error)
{
	Writer w = { 0 };
	gboolean ok = FALSE;
	int first = copy ? copy->n_levels : 0; /* the first level from pixels */

	if (in && (in->BandFmt != VIPS_FORMAT_UCHAR ||
				  (in->Bands != 1 && in->Bands != 3))) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"save: '%s': the JPEG pyramid writer takes 1- or 3-band 8-bit "
			"images",
			path);
		return FALSE;
	}
	if (tile < 16 || tile % 16 != 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: '%s': tile size %d is not a multiple of 16", path, tile);
		return FALSE;
	}
	w.path = path;
	w.bands = in ? in->Bands : 3;
	w.tile = tile;
	w.quality = quality;
	/* as libvips: full chroma resolution from Q 90 up */
	w.subsampling = quality >= 90 ? TJSAMP_444 : TJSAMP_420;
	g_mutex_init(&w.lock);
	g_cond_init(&w.drained);
	w.handles = g_async_queue_new_full(free_compressor);
	w.buffers = g_async_queue_new_full(g_free);

	/* levels: each half the previous (rounded down) until one tile */
	GArray *levels = g_array_new(FALSE, TRUE, sizeof(Level));
	for (;;) {
		Level l = { 0 };
		l.width = width;
		l.height = height;
		l.tiles_across = (width + tile - 1) / tile;
		l.tiles_down = (height + tile - 1) / tile;
		g_array_append_val(levels, l);
		if (!pyramid || (width <= tile && height <= tile))
			break;
		width = MAX(1, width / 2);
		height = MAX(1, height / 2);
	}
	w.n_levels = levels->len;
	w.levels = (Level *) g_array_free(levels, FALSE);
	first = MIN(first, w.n_levels);
	if (first < w.n_levels && (!in || in->Xsize != w.levels[first].width ||
								  in->Ysize != w.levels[first].height)) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"save: '%s': internal error: level %d has no pixels of its size",
			path, first);
		goto out;
	}
	for (int k = first; k < w.n_levels; k++) {
		w.levels[k].strip = g_malloc((size_t) w.levels[k].width * tile * w.bands);
		if (k > 0)
			w.levels[k].spool = g_new0(SpoolEntry,
				(size_t) w.levels[k].tiles_across * w.levels[k].tiles_down);
	}
	w.first = first;

	TIFFErrorHandler old = TIFFSetErrorHandler(tiff_error_handler);
	if (!(w.tiff = TIFFOpen(path, bigtiff ? "w8" : "w"))) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO, "save: cannot create '%s'",
			path);
		goto restore;
	}

	/* levels copied from the source go first, each in its directory */
	for (int k = 0; k < first; k++)
		if (!copy_source_level(&w, k, copy, mpp_x, mpp_y))
			goto fail;

	if (first < w.n_levels) {
		if (w.n_levels - first > 1 || first > 0) {
			/* beside the output, so a full disk shows up here too */
			g_autofree char *dir = g_path_get_dirname(path);
			g_autofree char *tmpl =
				g_build_filename(dir, ".sp-spool-XXXXXX", NULL);
			int fd = g_mkstemp(tmpl);
			if (fd < 0 || !(w.spool = fdopen(fd, "w+b"))) {
				int err = errno;
				if (fd >= 0)
					close(fd);
				g_set_error(error, SP_ERROR, SP_ERROR_IO,
					"save: cannot create a spool file beside '%s': %s", path,
					g_strerror(err));
				goto restore;
			}
			unlink(tmpl);
		}
		if (first == 0)
			set_directory_fields(&w, 0, mpp_x, mpp_y);

		/* two tile rows in flight at most */
		w.max_pending = MAX_PENDING_ROWS * w.levels[first].tiles_across + 4;
		w.pool = g_thread_pool_new(compress_job, &w,
			MAX(1, vips_concurrency_get()), FALSE, NULL);
		int r = vips_sink_disc(in, write_area, &w);
		/* wait for the last tiles */
		g_thread_pool_free(w.pool, FALSE, TRUE);
		w.pool = NULL;
		if (r) {
			_sp_set_vips_error(error, "save", path);
			goto restore;
		}
		if (w.error)
			goto fail;
		for (int k = first; k < w.n_levels; k++) {
			if (k > 0) {
				set_directory_fields(&w, k, mpp_x, mpp_y);
				if (!copy_spooled_level(&w, k))
					goto fail;
			}
			if (!TIFFWriteDirectory(w.tiff)) {
				set_error(&w, "cannot write the directory of level %d", k);
				goto fail;
			}
		}
	}
	/* TIFFClose flushes; a full disk can first show up here */
	TIFF *t = w.tiff;
	w.tiff = NULL;
	gboolean flushed = TIFFFlush(t) == 1;
	TIFFClose(t);
	if (!flushed) {
		set_error(&w, "cannot finish the file: %s", g_strerror(errno));
		goto fail;
	}
	ok = TRUE;
	goto restore;

fail:
	g_set_error(error, SP_ERROR, SP_ERROR_IO, "save: '%s': %s", path,
		w.error ? w.error : "write failed");
restore:
	TIFFSetErrorHandler(old);
out:
	if (w.pool)
		g_thread_pool_free(w.pool, FALSE, TRUE);
	if (w.tiff)
		TIFFClose(w.tiff);
	if (w.spool)
		fclose(w.spool);
	for (int k = 0; k < w.n_levels; k++) {
		g_free(w.levels[k].strip);
		g_free(w.levels[k].spool);
	}
	g_free(w.levels);
	g_free(w.error);
	g_async_queue_unref(w.handles);
	g_async_queue_unref(w.buffers);
	g_mutex_clear(&w.lock);
	g_cond_clear(&w.drained);
	return ok;
}
