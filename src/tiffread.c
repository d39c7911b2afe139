/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sp_tiffread: a libvips source operation for one directory of a tiled
 * 8-bit TIFF, decoding JPEG tiles with TurboJPEG and everything else with
 * libtiff.
 *
 * Why not vips_tiffload(): it shares one TIFF handle behind a lock, so
 * tiles decode on one thread at a time, and it caches two rows of tiles
 * across the whole level (153 MB for a 100k-pixel-wide RGB level) however
 * small the region the pipeline reads. Here every libvips thread has its
 * own TIFF handle (opened in the sequence's start function), so tiles
 * decode in parallel, and the caller sizes the tile cache from the region
 * it will actually read (see _sp_tiffread_new()).
 *
 * Handles: tiled, contiguous, 8 bits per sample, 1 or 3 samples (4 with
 * an alpha), MinIsBlack, RGB or YCbCr-in-JPEG photometric. Anything else
 * returns NULL from _sp_tiffread_can_read() and goes to vips_tiffload().
 *
 * JPEG tiles (Compression 7) that are YCbCr, or 1-band MinIsBlack, are read
 * raw and decoded with TurboJPEG, which gives the same pixels as libtiff's
 * JPEG codec (both are libjpeg-turbo with accurate DCT and fancy
 * upsampling) for less CPU per tile: libtiff hands libjpeg one scanline
 * per call, each behind its own setjmp. TIFF JPEG tiles are usually
 * abbreviated streams whose tables live once in the JPEGTables tag, so we
 * splice the tables in front of each tile to make a complete stream.
 *
 * JPEG with RGB photometric (Aperio-style, no colour transform) stays with
 * libtiff, which takes the JPEG colour space from the TIFF tag. TurboJPEG
 * guesses it from the stream, and one with neither an Adobe marker nor
 * 'R', 'G', 'B' component ids is taken as YCbCr and "converted" to RGB a
 * second time.
 */
#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tiffio.h>
#include <turbojpeg.h>

#include "sp-private.h"

typedef struct _SpTiffRead {
	VipsOperation parent_instance;

	char *filename;
	int page;
	VipsImage *out;

	/* header, read in build */
	guint32 width, height, tile_width, tile_height;
	guint16 spp;
	gboolean jpeg_rgb; /* ask libtiff's JPEG codec for RGB */
	tmsize_t tile_size;

	/* TurboJPEG decode: pixel format, or -1 to leave tiles to libtiff */
	int tj_format;
	/* JPEGTables without its EOI, spliced in front of every tile; NULL
	 * when tiles are complete streams */
	unsigned char *tables;
	size_t tables_length;
	/* more compressed bytes than this for one tile means a broken file */
	guint64 max_raw;

	/* decoded tiles shared by all threads (see cache_get()) */
	GMutex lock;
	GCond ready;
	GHashTable *tiles; /* ttile_t -> Entry */
	GQueue lru; /* Entry, most recently used first */
	GSList *spare; /* pixel buffers of evicted tiles */
	int max_tiles;

	/* Sequences no region is using, kept for the next region (under
	 * lock). Opening a handle costs syscalls, and its first tile lookup
	 * has libtiff allocate and fill the directory's whole offset and byte
	 * count arrays (2.4 MB on a 100k² level); a batch row makes a region
	 * or two per reader, so without this every row paid that again. */
	GSList *idle;
} SpTiffRead;

typedef VipsOperationClass SpTiffReadClass;

G_DEFINE_TYPE(SpTiffRead, sp_tiffread, VIPS_TYPE_OPERATION);

static int
quiet_handler(TIFF *tiff, void *user_data, const char *module, const char *fmt,
	va_list ap)
{
	return 1; /* handled: libtiff's global handler is not called */
}

TIFF *
_sp_tiff_create(const char *filename, gboolean bigtiff)
{
	TIFFOpenOptions *options;
	TIFF *tiff;
	struct stat st;
	int fd;

	/* no O_TRUNC: ext4 flushes a file truncated to nothing when it is
	 * closed (its auto_da_alloc heuristic, meant for rewrite-in-place),
	 * which cost a synchronous writeback of the whole output, 0.2–0.3 s
	 * a 400 MB pyramid, at the end of every save into a fresh temp */
	if ((fd = open(filename, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && st.st_size > 0 && ftruncate(fd, 0) != 0) {
		close(fd);
		return NULL;
	}
	options = TIFFOpenOptionsAlloc();
	TIFFOpenOptionsSetErrorHandlerExtR(options, quiet_handler, NULL);
	TIFFOpenOptionsSetWarningHandlerExtR(options, quiet_handler, NULL);
	tiff = TIFFFdOpenExt(fd, filename, bigtiff ? "w8" : "w", options);
	TIFFOpenOptionsFree(options);
	if (!tiff)
		close(fd);
	return tiff;
}

TIFF *
_sp_tiff_open(const char *filename, const char *mode)
{
	TIFFOpenOptions *options = TIFFOpenOptionsAlloc();
	TIFF *tiff;

	TIFFOpenOptionsSetErrorHandlerExtR(options, quiet_handler, NULL);
	TIFFOpenOptionsSetWarningHandlerExtR(options, quiet_handler, NULL);
	tiff = TIFFOpenExt(filename, mode, options);
	TIFFOpenOptionsFree(options);
	return tiff;
}

static TIFF *
open_page(const char *filename, int page, gboolean jpeg_rgb)
{
	/* O: tile offsets and byte counts are read when a tile needs them,
	 * not all at open (2.4 MB for a 100k² BigTIFF level, per handle) */
	TIFF *tiff = _sp_tiff_open(filename, "rmO");

	if (!tiff)
		return NULL;
	if (!TIFFSetDirectory(tiff, page)) {
		TIFFClose(tiff);
		return NULL;
	}
	if (jpeg_rgb)
		TIFFSetField(tiff, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
	return tiff;
}

typedef struct {
	TIFF *tiff;
	VipsPel *buf;

	/* TurboJPEG only: decompressor, and the tables followed by the current
	 * tile's compressed bytes */
	tjhandle tj;
	unsigned char *cbuf;
	size_t cbuf_size;
} Seq;

static void seq_free(Seq *seq);

static void *
seq_start(VipsImage *out, void *a, void *b)
{
	SpTiffRead *tr = a;
	Seq *seq = NULL;

	g_mutex_lock(&tr->lock);
	if (tr->idle) {
		seq = tr->idle->data;
		tr->idle = g_slist_delete_link(tr->idle, tr->idle);
	}
	g_mutex_unlock(&tr->lock);
	if (seq)
		return seq;

	seq = g_new0(Seq, 1);

	if (!(seq->tiff = open_page(tr->filename, tr->page, tr->jpeg_rgb))) {
		vips_error("sp_tiffread", "%s: cannot open directory %d",
			tr->filename, tr->page);
		g_free(seq);
		return NULL;
	}
	seq->buf = g_malloc(tr->tile_size);

	if (tr->tj_format >= 0) {
		if (!(seq->tj = tjInitDecompress())) {
			vips_error("sp_tiffread",
				"%s: cannot start a JPEG decoder: %s",
				tr->filename, tjGetErrorStr2(NULL));
			seq_free(seq);
			return NULL;
		}
		/* the tables go in once; tiles land after them. Start with room
		 * for a tile at a quarter of its raw size, and grow on demand. */
		seq->cbuf_size = tr->tables_length + tr->tile_size / 4;
		seq->cbuf = g_malloc(seq->cbuf_size);
		if (tr->tables)
			memcpy(seq->cbuf, tr->tables, tr->tables_length);
	}
	return seq;
}

static void
seq_free(Seq *seq)
{
	if (seq->tiff)
		TIFFClose(seq->tiff);
	if (seq->tj)
		tjDestroy(seq->tj);
	g_free(seq->buf);
	g_free(seq->cbuf);
	g_free(seq);
}

/* The region is done with @vseq; the handle goes back to the pool. A
 * sequence holds nothing of the region it served: its buffers are
 * scratch space and its handle stays on the same directory. At most as
 * many sequences exist as regions were ever open at once. */
static int
seq_stop(void *vseq, void *a, void *b)
{
	SpTiffRead *tr = a;

	g_mutex_lock(&tr->lock);
	tr->idle = g_slist_prepend(tr->idle, vseq);
	g_mutex_unlock(&tr->lock);
	return 0;
}

/* Decode the JPEG tile at @tx, @ty (@bytes long in the file) into seq->buf
 * with TurboJPEG. 0 on success, -1 on error, 1 when TurboJPEG cannot take
 * this stream or would read its colour space differently from the TIFF
 * tags, so libtiff should decode it (and will report it if it is broken).
 */
static int
decode_tile_tj(SpTiffRead *tr, Seq *seq, ttile_t tile, guint64 bytes, int tx,
	int ty)
{
	size_t pre = tr->tables_length;
	int tw = tr->tile_width, th = tr->tile_height;
	unsigned char *data;
	size_t length;
	/* a tables-only stream parses "successfully" and leaves these alone */
	int width = 0, height = 0, subsamp, colorspace;

	if (bytes < 4 || bytes > tr->max_raw) {
		vips_error("sp_tiffread",
			"%s: tile at %d,%d of directory %d has an "
			"invalid size (%" G_GUINT64_FORMAT " bytes)",
			tr->filename, tx, ty, tr->page, bytes);
		return -1;
	}
	if (pre + bytes > seq->cbuf_size) {
		seq->cbuf_size = pre + bytes;
		seq->cbuf = g_realloc(seq->cbuf, seq->cbuf_size);
	}
	data = seq->cbuf + pre;
	if (TIFFReadRawTile(seq->tiff, tile, data, bytes) != (tmsize_t) bytes) {
		vips_error("sp_tiffread",
			"%s: tile at %d,%d of directory %d "
			"is truncated",
			tr->filename, tx, ty, tr->page);
		return -1;
	}
	if (data[0] != 0xFF || data[1] != 0xD8) {
		vips_error("sp_tiffread",
			"%s: tile at %d,%d of directory %d "
			"is not a JPEG stream",
			tr->filename, tx, ty, tr->page);
		return -1;
	}
	/* tables (no EOI) + tile (no SOI): one complete stream */
	if (tr->tables) {
		memmove(data, data + 2, bytes - 2);
		length = pre + bytes - 2;
	} else
		length = bytes;

	if (tjDecompressHeader3(seq->tj, seq->cbuf, length, &width, &height,
		    &subsamp, &colorspace))
		return 1;
	/* tiles are always coded at full size, edge tiles included */
	if (width != tw || height != th) {
		vips_error("sp_tiffread",
			"%s: tile at %d,%d of directory %d "
			"is %dx%d, not %dx%d",
			tr->filename, tx, ty, tr->page, width, height, tw, th);
		return -1;
	}
	if (tr->tj_format == TJPF_GRAY ? colorspace != TJCS_GRAY :
					 colorspace != TJCS_YCbCr)
		return 1;

	/* Accurate DCT, fancy upsampling: TurboJPEG's defaults, the same
	 * libjpeg-turbo settings libtiff decodes with. A warning (such as data
	 * ending early, the rest filled with grey) still gives a whole tile;
	 * libtiff only warns there too, so only fatal errors fail. */
	if (tjDecompress2(seq->tj, seq->cbuf, length, seq->buf, tw,
		    tw * tr->spp, th, tr->tj_format, 0) &&
		tjGetErrorCode(seq->tj) == TJERR_FATAL) {
		vips_error("sp_tiffread",
			"%s: tile at %d,%d of directory %d "
			"is corrupt: %s",
			tr->filename, tx, ty, tr->page,
			tjGetErrorStr2(seq->tj));
		return -1;
	}
	return 0;
}

/* Fills any rectangle: decodes every TIFF tile that touches it. Behind a
 * tile cache whose tiles are the TIFF's, that is exactly one tile. */
/* Decodes TIFF tile @tile (at @tx, @ty) into seq->buf: TurboJPEG where it
 * applies, libtiff otherwise. 0 on success, -1 with a libvips error. */
static int
decode_tile(SpTiffRead *tr, Seq *seq, ttile_t tile, int tx, int ty)
{
	int decoded = 1;
	int err = 0;
	guint64 bytes = TIFFGetStrileByteCountWithErr(seq->tiff, tile, &err);

	if (tr->tj_format >= 0 &&
		(decoded = decode_tile_tj(tr, seq, tile, bytes, tx, ty)) < 0)
		return -1;
	if (decoded &&
		TIFFReadEncodedTile(seq->tiff, tile, seq->buf, tr->tile_size) <
			0) {
		vips_error("sp_tiffread",
			"%s: tile at %d,%d of directory %d "
			"is corrupt or truncated",
			tr->filename, tx, ty, tr->page);
		return -1;
	}
	return 0;
}

/* A decoded tile in the cache. */
typedef struct {
	ttile_t index;
	VipsPel *pixels;
	int ref; /* threads copying from it */
	gboolean done; /* decoded (or failed) */
	gboolean failed;
	GList link; /* in tr->lru */
} Entry;

/* Drops least recently used tiles nobody is reading while the cache is
 * over its size. Called with the lock held. */
static void
cache_trim(SpTiffRead *tr)
{
	GList *l = tr->lru.tail;

	while (l && (int) tr->lru.length > tr->max_tiles) {
		Entry *e = l->data;
		GList *prev = l->prev;

		if (e->done && e->ref == 0) {
			g_queue_unlink(&tr->lru, &e->link);
			g_hash_table_remove(tr->tiles,
				GUINT_TO_POINTER(e->index));
			if (e->pixels)
				tr->spare = g_slist_prepend(tr->spare,
					e->pixels);
			g_free(e);
		}
		l = prev;
	}
}

static int decode_tile(SpTiffRead *tr, Seq *seq, ttile_t tile, int tx, int ty);

/* The decoded tile @tile, with a reference the caller drops with
 * cache_release(); NULL on error. One thread decodes a tile, the others
 * wanting it wait for it, so no tile is decoded twice while cached.
 * This replaces vips_tilecache(), whose LRU list costs a linear search
 * per hit (g_queue_remove) and showed up above the JPEG decoder in
 * profiles. */
static Entry *
cache_get(SpTiffRead *tr, Seq *seq, ttile_t tile, int tx, int ty)
{
	Entry *e;

	g_mutex_lock(&tr->lock);
	if ((e = g_hash_table_lookup(tr->tiles, GUINT_TO_POINTER(tile)))) {
		e->ref++;
		g_queue_unlink(&tr->lru, &e->link);
		g_queue_push_head_link(&tr->lru, &e->link);
		while (!e->done)
			g_cond_wait(&tr->ready, &tr->lock);
		g_mutex_unlock(&tr->lock);
		if (e->failed) {
			vips_error("sp_tiffread",
				"%s: tile at %d,%d of directory %d "
				"could not be decoded",
				tr->filename, tx, ty, tr->page);
			g_mutex_lock(&tr->lock);
			e->ref--;
			g_mutex_unlock(&tr->lock);
			return NULL;
		}
		return e;
	}
	e = g_new0(Entry, 1);
	e->index = tile;
	e->ref = 1;
	e->link.data = e;
	g_hash_table_insert(tr->tiles, GUINT_TO_POINTER(tile), e);
	g_queue_push_head_link(&tr->lru, &e->link);
	cache_trim(tr);
	g_mutex_unlock(&tr->lock);

	/* decode outside the lock; the entry takes the buffer */
	int r = decode_tile(tr, seq, tile, tx, ty);

	g_mutex_lock(&tr->lock);
	if (r == 0) {
		e->pixels = seq->buf;
		if (tr->spare) {
			seq->buf = tr->spare->data;
			tr->spare = g_slist_delete_link(tr->spare, tr->spare);
		} else
			seq->buf = NULL;
	} else
		e->failed = TRUE;
	e->done = TRUE;
	g_cond_broadcast(&tr->ready);
	g_mutex_unlock(&tr->lock);
	if (!seq->buf)
		seq->buf = g_malloc(tr->tile_size);
	if (r) {
		g_mutex_lock(&tr->lock);
		e->ref--;
		g_mutex_unlock(&tr->lock);
		return NULL;
	}
	return e;
}

static void
cache_release(SpTiffRead *tr, Entry *e)
{
	g_mutex_lock(&tr->lock);
	e->ref--;
	g_mutex_unlock(&tr->lock);
}

static int
seq_generate(VipsRegion * or, void *vseq, void *a, void *b, gboolean *stop)
{
	Seq *seq = vseq;
	SpTiffRead *tr = a;
	VipsRect *r = & or->valid;
	int ps = tr->spp;
	int tw = tr->tile_width, th = tr->tile_height;

	for (int ty = r->top / th * th; ty < VIPS_RECT_BOTTOM(r); ty += th)
		for (int tx = r->left / tw * tw; tx < VIPS_RECT_RIGHT(r);
			tx += tw) {
			ttile_t tile = TIFFComputeTile(seq->tiff, tx, ty, 0, 0);
			VipsRect t = { tx, ty, tw, th }, hit;
			int err = 0;
			guint64 bytes = TIFFGetStrileByteCountWithErr(seq->tiff,
				tile, &err);

			vips_rect_intersectrect(&t, r, &hit);
			if (err) {
				vips_error("sp_tiffread",
					"%s: tile at %d,%d of directory %d: "
					"cannot read its byte count",
					tr->filename, tx, ty, tr->page);
				return -1;
			}
			/* Scanners leave tiles out of sparse slides (areas outside
			 * the scanned regions) with byte count 0. OpenSlide draws
			 * nothing there, i.e. transparent, which load flattens onto
			 * white; do the same rather than fail. */
			if (bytes == 0) {
				for (int y = 0; y < hit.height; y++)
					memset(VIPS_REGION_ADDR(or, hit.left,
						       hit.top + y),
						255, (size_t) hit.width * ps);
				continue;
			}
			/* No tile starts inside the 8-byte header. libtiff drops a
			 * TileOffsets tag whose count is wrong with only a warning
			 * and then reads every tile from offset 0: the file's
			 * header bytes became pixels, with exit status 0. */
			if (TIFFGetStrileOffsetWithErr(seq->tiff, tile, &err) <
					8 ||
				err) {
				vips_error("sp_tiffread",
					"%s: tile at %d,%d of directory "
					"%d has no valid offset (the "
					"tile tables are damaged)",
					tr->filename, tx, ty, tr->page);
				return -1;
			}
			Entry *e = cache_get(tr, seq, tile, tx, ty);
			if (!e)
				return -1;
			for (int y = 0; y < hit.height; y++) {
				VipsPel *p = e->pixels +
					((hit.top - ty + y) * (size_t) tw +
						(hit.left - tx)) *
						ps;
				VipsPel *q = VIPS_REGION_ADDR(or, hit.left,
					hit.top + y);
				memcpy(q, p, (size_t) hit.width * ps);
			}
			cache_release(tr, e);
		}
	return 0;
}

gint64
_sp_tiff_read_raw_tile(TIFF *tiff, guint32 index, const char *path, int page,
	unsigned char **buf, gint64 *cap, GError **error)
{
	tmsize_t size = (tmsize_t) TIFFGetStrileByteCount(tiff, index);

	if (size <= 0 || size > (64 << 20)) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"source tile %u of '%s' directory %d is missing or has an "
			"absurd size",
			(unsigned) index, path, page);
		return -1;
	}
	if (size > *cap) {
		g_free(*buf);
		*buf = g_malloc(size);
		*cap = size;
	}
	if (TIFFReadRawTile(tiff, index, *buf, size) != size) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"cannot read source tile %u of '%s' directory %d",
			(unsigned) index, path, page);
		return -1;
	}
	return size;
}

gboolean
_sp_tiff_layout_at(TIFF *tiff, int page, SpTiffLayout *layout)
{
	memset(layout, 0, sizeof(*layout));
	if (!TIFFSetDirectory(tiff, (tdir_t) page))
		return FALSE;
	layout->tiled = TIFFIsTiled(tiff);
	TIFFGetField(tiff, TIFFTAG_IMAGEWIDTH, &layout->width);
	TIFFGetField(tiff, TIFFTAG_IMAGELENGTH, &layout->height);
	if (layout->tiled) {
		TIFFGetField(tiff, TIFFTAG_TILEWIDTH, &layout->tile_width);
		TIFFGetField(tiff, TIFFTAG_TILELENGTH, &layout->tile_height);
		layout->tile_size = TIFFTileSize(tiff);
	}
	TIFFGetFieldDefaulted(tiff, TIFFTAG_BITSPERSAMPLE, &layout->bps);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_SAMPLESPERPIXEL, &layout->spp);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_PLANARCONFIG, &layout->planar);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_SAMPLEFORMAT,
		&layout->sampleformat);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_COMPRESSION, &layout->compression);
	TIFFGetField(tiff, TIFFTAG_PHOTOMETRIC, &layout->photometric);
	return TRUE;
}

gboolean
_sp_tiff_layout(const char *filename, int page, SpTiffLayout *layout)
{
	TIFF *tiff;
	gboolean ok;

	memset(layout, 0, sizeof(*layout));
	if (!(tiff = _sp_tiff_open(filename, "rmO")))
		return FALSE;
	ok = _sp_tiff_layout_at(tiff, page, layout);
	TIFFClose(tiff);
	return ok;
}

gboolean
_sp_tiffread_can_read(const char *filename, int page)
{
	SpTiffLayout l;

	return _sp_tiff_layout(filename, page, &l) && l.tiled && l.bps == 8 &&
		l.sampleformat == SAMPLEFORMAT_UINT &&
		l.planar == PLANARCONFIG_CONTIG && (l.spp == 1 || l.spp == 3) &&
		(l.photometric == PHOTOMETRIC_MINISBLACK ||
			l.photometric == PHOTOMETRIC_RGB ||
			(l.photometric == PHOTOMETRIC_YCBCR &&
				l.compression == COMPRESSION_JPEG)) &&
		l.tile_size > 0;
}

static int
sp_tiffread_build(VipsObject *object)
{
	SpTiffRead *tr = (SpTiffRead *) object;
	guint16 photometric = 0, compression = 0;
	TIFF *tiff;

	g_object_set(tr, "out", vips_image_new(), NULL);
	if (VIPS_OBJECT_CLASS(sp_tiffread_parent_class)->build(object))
		return -1;

	if (!(tiff = open_page(tr->filename, tr->page, FALSE))) {
		vips_error("sp_tiffread", "%s: cannot open directory %d",
			tr->filename, tr->page);
		return -1;
	}
	TIFFGetField(tiff, TIFFTAG_IMAGEWIDTH, &tr->width);
	TIFFGetField(tiff, TIFFTAG_IMAGELENGTH, &tr->height);
	TIFFGetField(tiff, TIFFTAG_TILEWIDTH, &tr->tile_width);
	TIFFGetField(tiff, TIFFTAG_TILELENGTH, &tr->tile_height);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_SAMPLESPERPIXEL, &tr->spp);
	TIFFGetField(tiff, TIFFTAG_PHOTOMETRIC, &photometric);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_COMPRESSION, &compression);
	tr->jpeg_rgb = compression == COMPRESSION_JPEG &&
		photometric == PHOTOMETRIC_YCBCR;
	if (tr->jpeg_rgb)
		TIFFSetField(tiff, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
	tr->tile_size = TIFFTileSize(tiff);

	if (tr->width == 0 || tr->height == 0 || tr->width > VIPS_MAX_COORD ||
		tr->height > VIPS_MAX_COORD || tr->tile_width == 0 ||
		tr->tile_height == 0 || tr->tile_width > 8192 ||
		tr->tile_height > 8192 || (tr->spp != 1 && tr->spp != 3) ||
		tr->tile_size <
			(tmsize_t) tr->tile_width * tr->tile_height * tr->spp) {
		vips_error("sp_tiffread",
			"%s: directory %d has an unsupported or "
			"invalid layout",
			tr->filename, tr->page);
		TIFFClose(tiff);
		return -1;
	}

	tr->tj_format = -1;
	if (compression == COMPRESSION_JPEG) {
		if (photometric == PHOTOMETRIC_YCBCR && tr->spp == 3)
			tr->tj_format = TJPF_RGB;
		else if (photometric == PHOTOMETRIC_MINISBLACK && tr->spp == 1)
			tr->tj_format = TJPF_GRAY;
	}
	if (tr->tj_format >= 0) {
		guint32 count = 0;
		unsigned char *tables = NULL;

		/* Tables must be SOI ... EOI to splice; leave anything else to
		 * libtiff, which has its own opinion of them. No tag means every
		 * tile is a complete stream. */
		if (TIFFGetField(tiff, TIFFTAG_JPEGTABLES, &count, &tables) &&
			tables && count > 0) {
			if (count >= 4 && tables[0] == 0xFF &&
				tables[1] == 0xD8 &&
				tables[count - 2] == 0xFF &&
				tables[count - 1] == 0xD9) {
				tr->tables_length = count - 2;
				tr->tables = g_memdup2(tables,
					tr->tables_length);
			} else
				tr->tj_format = -1;
		}
		/* the most libjpeg-turbo can produce for a tile, with slack for
		 * one maximal APP/COM segment from some other encoder */
		tr->max_raw = (guint64) tjBufSize(tr->tile_width,
				      tr->tile_height, TJSAMP_444) +
			65536;
	}
	TIFFClose(tiff);

	vips_image_init_fields(tr->out, tr->width, tr->height, tr->spp,
		VIPS_FORMAT_UCHAR, VIPS_CODING_NONE,
		tr->spp == 1 ? VIPS_INTERPRETATION_B_W :
			       VIPS_INTERPRETATION_sRGB,
		1.0, 1.0);
	if (vips_image_pipelinev(tr->out, VIPS_DEMAND_STYLE_SMALLTILE, NULL))
		return -1;
	/* for _sp_tiffread_fit_cache(); the image keeps the operation alive */
	g_object_set_data(G_OBJECT(tr->out), "sp-tiffread", tr);
	return vips_image_generate(tr->out, seq_start, seq_generate, seq_stop,
		tr, NULL);
}

static void
sp_tiffread_finalize(GObject *gobject)
{
	SpTiffRead *tr = (SpTiffRead *) gobject;

	g_free(tr->tables);
	if (tr->tiles) {
		GList *l;

		while ((l = g_queue_pop_head_link(&tr->lru))) {
			Entry *e = l->data;
			g_free(e->pixels);
			g_free(e);
		}
		g_hash_table_destroy(tr->tiles);
	}
	g_slist_free_full(tr->spare, g_free);
	g_slist_free_full(tr->idle, (GDestroyNotify) seq_free);
	g_mutex_clear(&tr->lock);
	g_cond_clear(&tr->ready);
	G_OBJECT_CLASS(sp_tiffread_parent_class)->finalize(gobject);
}

static void
sp_tiffread_class_init(SpTiffReadClass *class)
{
	GObjectClass *gobject_class = G_OBJECT_CLASS(class);
	VipsObjectClass *object_class = VIPS_OBJECT_CLASS(class);

	gobject_class->finalize = sp_tiffread_finalize;
	gobject_class->set_property = vips_object_set_property;
	gobject_class->get_property = vips_object_get_property;
	object_class->nickname = "sp_tiffread";
	object_class->description = "read one directory of a tiled TIFF, "
				    "decoding tiles in parallel";
	object_class->build = sp_tiffread_build;
	/* a file can change under us; do not cache by filename */
	VIPS_OPERATION_CLASS(class)->flags = VIPS_OPERATION_NOCACHE;

	VIPS_ARG_STRING(class, "filename", 1, "Filename", "File to read",
		VIPS_ARGUMENT_REQUIRED_INPUT,
		G_STRUCT_OFFSET(SpTiffRead, filename), NULL);
	VIPS_ARG_IMAGE(class, "out", 2, "Output", "Output image",
		VIPS_ARGUMENT_REQUIRED_OUTPUT,
		G_STRUCT_OFFSET(SpTiffRead, out));
	VIPS_ARG_INT(class, "page", 3, "Page", "TIFF directory to read",
		VIPS_ARGUMENT_REQUIRED_INPUT, G_STRUCT_OFFSET(SpTiffRead, page),
		0, 1 << 20, 0);
}

static void
sp_tiffread_init(SpTiffRead *tr)
{
	g_mutex_init(&tr->lock);
	g_cond_init(&tr->ready);
	g_queue_init(&tr->lru);
	tr->tiles = g_hash_table_new(g_direct_hash, g_direct_equal);
	tr->max_tiles = 64;
}

VipsImage *
_sp_tiffread_new(const char *filename, int page, int cache_width,
	GError **error)
{
	VipsImage *out;
	VipsOperation *op;
	SpTiffRead *tr;

	/* the class is registered on first use; libvips finds it by name */
	g_type_ensure(sp_tiffread_get_type());
	op = vips_operation_new("sp_tiffread");

	g_object_set(op, "filename", filename, "page", page, NULL);
	if (vips_cache_operation_buildp(&op)) {
		vips_object_unref_outputs(VIPS_OBJECT(op));
		g_object_unref(op);
		_sp_set_vips_error(error, "load", filename);
		return NULL;
	}
	tr = (SpTiffRead *) op;
	g_object_get(op, "out", &out, NULL);
	tr->max_tiles = 0;
	_sp_tiffread_fit_cache(out, cache_width, 1);
	vips_object_unref_outputs(VIPS_OBJECT(op));
	g_object_unref(op);
	return out;
}

void
_sp_tiffread_fit_cache(VipsImage *image, int cache_width, int readers)
{
	SpTiffRead *tr = g_object_get_data(G_OBJECT(image), "sp-tiffread");
	int tiles;

	if (!tr)
		return;
	/* two rows of the tiles a pipeline reads, plus a margin column on
	 * each side for regions that straddle the tile grid, for each
	 * pipeline reading at once */
	/* the pyramid writer reads stripes; other readers of wider spans
	 * may decode a tile twice, but memory stays bounded */
	cache_width = CLAMP(cache_width, 1,
		MIN(image->Xsize, SP_STRIPE_WIDTH * 2));
	tiles = 2 * (cache_width / (int) tr->tile_width + 3) * MAX(1, readers);
	/* only grows: pipelines already reading keep what they were sized
	 * for */
	g_mutex_lock(&tr->lock);
	tr->max_tiles = MAX(tr->max_tiles, tiles);
	g_mutex_unlock(&tr->lock);
}
