/* sp_tiffread: a libvips source operation for one directory of a tiled
 * 8-bit TIFF, decoding tiles with libtiff.
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
 */
#include "config.h"

#include <string.h>

#include <tiffio.h>

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
} SpTiffRead;

typedef VipsOperationClass SpTiffReadClass;

G_DEFINE_TYPE(SpTiffRead, sp_tiffread, VIPS_TYPE_OPERATION);

static void
quiet_handler(const char *module, const char *fmt, va_list ap)
{
}

/* libtiff's handlers are process-global; silence them once, since every
 * failure we care about is reported through return codes. */
static void
silence_libtiff(void)
{
	static gsize done = 0;

	if (g_once_init_enter(&done)) {
		TIFFSetWarningHandler(quiet_handler);
		g_once_init_leave(&done, 1);
	}
}

static TIFF *
open_page(const char *filename, int page, gboolean jpeg_rgb)
{
	TIFF *tiff = TIFFOpen(filename, "rm");

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
} Seq;

static void *
seq_start(VipsImage *out, void *a, void *b)
{
	SpTiffRead *tr = a;
	Seq *seq = g_new0(Seq, 1);

	if (!(seq->tiff = open_page(tr->filename, tr->page, tr->jpeg_rgb))) {
		vips_error("sp_tiffread", "%s: cannot open directory %d",
			tr->filename, tr->page);
		g_free(seq);
		return NULL;
	}
	seq->buf = g_malloc(tr->tile_size);
	return seq;
}

static int
seq_stop(void *vseq, void *a, void *b)
{
	Seq *seq = vseq;

	TIFFClose(seq->tiff);
	g_free(seq->buf);
	g_free(seq);
	return 0;
}

/* Fills any rectangle: decodes every TIFF tile that touches it. Behind a
 * tile cache whose tiles are the TIFF's, that is exactly one tile. */
static int
seq_generate(VipsRegion *or, void *vseq, void *a, void *b, gboolean *stop)
{
	Seq *seq = vseq;
	SpTiffRead *tr = a;
	VipsRect *r = &or->valid;
	int ps = tr->spp;
	int tw = tr->tile_width, th = tr->tile_height;

	for (int ty = r->top / th * th; ty < VIPS_RECT_BOTTOM(r); ty += th)
		for (int tx = r->left / tw * tw; tx < VIPS_RECT_RIGHT(r); tx += tw) {
			ttile_t tile = TIFFComputeTile(seq->tiff, tx, ty, 0, 0);
			VipsRect t = { tx, ty, tw, th }, hit;

			if (TIFFReadEncodedTile(seq->tiff, tile, seq->buf,
					tr->tile_size) < 0) {
				vips_error("sp_tiffread", "%s: tile at %d,%d of directory %d "
										  "is corrupt or truncated",
					tr->filename, tx, ty, tr->page);
				return -1;
			}
			vips_rect_intersectrect(&t, r, &hit);
			for (int y = 0; y < hit.height; y++) {
				VipsPel *p = seq->buf +
					((hit.top - ty + y) * (size_t) tw + (hit.left - tx)) * ps;
				VipsPel *q = VIPS_REGION_ADDR(or, hit.left, hit.top + y);
				memcpy(q, p, (size_t) hit.width * ps);
			}
		}
	return 0;
}

gboolean
_sp_tiffread_can_read(const char *filename, int page)
{
	TIFF *tiff;
	guint16 bps = 0, spp = 0, planar = 0, photometric = 0, sampleformat = 1;
	guint16 compression = 0;
	gboolean ok;

	silence_libtiff();
	if (!(tiff = open_page(filename, page, FALSE)))
		return FALSE;
	TIFFGetFieldDefaulted(tiff, TIFFTAG_BITSPERSAMPLE, &bps);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_SAMPLESPERPIXEL, &spp);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_PLANARCONFIG, &planar);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_SAMPLEFORMAT, &sampleformat);
	TIFFGetField(tiff, TIFFTAG_PHOTOMETRIC, &photometric);
	TIFFGetFieldDefaulted(tiff, TIFFTAG_COMPRESSION, &compression);
	ok = TIFFIsTiled(tiff) && bps == 8 && sampleformat == SAMPLEFORMAT_UINT &&
		planar == PLANARCONFIG_CONTIG && (spp == 1 || spp == 3) &&
		(photometric == PHOTOMETRIC_MINISBLACK ||
			photometric == PHOTOMETRIC_RGB ||
			(photometric == PHOTOMETRIC_YCBCR &&
				compression == COMPRESSION_JPEG)) &&
		TIFFTileSize(tiff) > 0;
	TIFFClose(tiff);
	return ok;
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

	silence_libtiff();
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
	TIFFClose(tiff);

	if (tr->width == 0 || tr->height == 0 || tr->width > VIPS_MAX_COORD ||
		tr->height > VIPS_MAX_COORD || tr->tile_width == 0 ||
		tr->tile_height == 0 || tr->tile_width > 8192 ||
		tr->tile_height > 8192 || (tr->spp != 1 && tr->spp != 3) ||
		tr->tile_size <
			(tmsize_t) tr->tile_width * tr->tile_height * tr->spp) {
		vips_error("sp_tiffread", "%s: directory %d has an unsupported or "
								  "invalid layout",
			tr->filename, tr->page);
		return -1;
	}

	vips_image_init_fields(tr->out, tr->width, tr->height, tr->spp,
		VIPS_FORMAT_UCHAR, VIPS_CODING_NONE,
		tr->spp == 1 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB,
		1.0, 1.0);
	if (vips_image_pipelinev(tr->out, VIPS_DEMAND_STYLE_SMALLTILE, NULL))
		return -1;
	return vips_image_generate(tr->out, seq_start, seq_generate, seq_stop,
		tr, NULL);
}

static void
sp_tiffread_class_init(SpTiffReadClass *class)
{
	GObjectClass *gobject_class = G_OBJECT_CLASS(class);
	VipsObjectClass *object_class = VIPS_OBJECT_CLASS(class);

	gobject_class->set_property = vips_object_set_property;
	gobject_class->get_property = vips_object_get_property;
	object_class->nickname = "sp_tiffread";
	object_class->description = "read one directory of a tiled TIFF, "
								"decoding tiles in parallel";
	object_class->build = sp_tiffread_build;
	/* a file can change under us; do not cache by filename */
	VIPS_OPERATION_CLASS(class)->flags = VIPS_OPERATION_NOCACHE;

	VIPS_ARG_STRING(class, "filename", 1, "Filename", "File to read",
		VIPS_ARGUMENT_REQUIRED_INPUT, G_STRUCT_OFFSET(SpTiffRead, filename),
		NULL);
	VIPS_ARG_IMAGE(class, "out", 2, "Output", "Output image",
		VIPS_ARGUMENT_REQUIRED_OUTPUT, G_STRUCT_OFFSET(SpTiffRead, out));
	VIPS_ARG_INT(class, "page", 3, "Page", "TIFF directory to read",
		VIPS_ARGUMENT_REQUIRED_INPUT, G_STRUCT_OFFSET(SpTiffRead, page), 0,
		1 << 20, 0);
}

static void
sp_tiffread_init(SpTiffRead *tr)
{
}

VipsImage *
_sp_tiffread_new(const char *filename, int page, int cache_width,
	GError **error)
{
	VipsImage *raw, *cached;
	VipsOperation *op = vips_operation_new("sp_tiffread");
	int tw, th;

	g_object_set(op, "filename", filename, "page", page, NULL);
	if (vips_cache_operation_buildp(&op)) {
		vips_object_unref_outputs(VIPS_OBJECT(op));
		g_object_unref(op);
		_sp_set_vips_error(error, "load", filename);
		return NULL;
	}
	g_object_get(op, "out", &raw, NULL);
	tw = ((SpTiffRead *) op)->tile_width;
	th = ((SpTiffRead *) op)->tile_height;
	vips_object_unref_outputs(VIPS_OBJECT(op));
	g_object_unref(op);

	/* two rows of the tiles the pipeline reads, plus a margin column on
	 * each side for regions that straddle the tile grid */
	cache_width = CLAMP(cache_width, 1, raw->Xsize);
	int max_tiles = 2 * (cache_width / tw + 3);
	if (vips_tilecache(raw, &cached, "tile_width", tw, "tile_height", th,
			"max_tiles", max_tiles, "threaded", TRUE, NULL)) {
		g_object_unref(raw);
		_sp_set_vips_error(error, "load", filename);
		return NULL;
	}
	g_object_unref(raw);
	return cached;
}
