/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* slidepipe's writer layer (src/writer/): files from lazy images.
 *
 * Writers know images, files and layouts, never operators: they take a
 * VipsImage and an SpWriteOptions, which the sinks (ops/save.c,
 * ops/tiles.c) fill from their arguments. Nothing here includes ops/ or
 * touches an SpNode.
 *
 *   write.c        _sp_write(): dispatch by format and compression
 *   pyramid.c      the tiled JPEG TIFF pyramid (every core; tiles copied
 *                  or re-cut from a JPEG source)
 *   retile.c       JPEG tiles re-cut in the DCT domain
 *   tiff-layout.c  TIFF directory fields of every layout (generic, SVS,
 *                  OME): levels, descriptions, ICC, SVS's extra
 *                  directories, ResolutionUnit patching
 *   vips-tiff.c    libvips' tiffsave (other compressions, OME), guarded
 *   dicom-write.c  DICOM WSI instances from the JPEG TIFF pyramid's tiles
 *   png.c          PNG on libdeflate
 *   patch.c        patches encoded in memory (tiles)
 * and src/compat.h holds the workarounds for the libvips release this
 * builds on.
 * Not installed.
 */
#ifndef SP_WRITER_H
#define SP_WRITER_H

#include "sp-private.h"

G_BEGIN_DECLS

typedef void (*SpWriteProgress)(int percent, void *user_data);

/* The file formats. */
typedef enum {
	SP_WRITE_TIFF,
	SP_WRITE_PNG,
	SP_WRITE_JPEG,
} SpWriteFormat;

/* The TIFF layouts: SP_TIFF_GENERIC levels as reduced-resolution subfiles
 * with an ImageDescription of the source's metadata on level 0;
 * SP_TIFF_SVS the Aperio layout (thumbnail after level 0, label and macro
 * at the end, Aperio descriptions); SP_TIFF_OME an OME-TIFF with SubIFD
 * levels, written by libvips. */
typedef enum {
	SP_TIFF_GENERIC,
	SP_TIFF_SVS,
	SP_TIFF_OME,
} SpTiffFlavour;

/* Output levels taken from a JPEG-tiled source (a TIFF, or a DICOM
 * series' JPEG baseline frames) without decoding pixels:
 * levels 0 … n_bytes - 1 byte for byte (origin on the source's tile grid),
 * levels n_bytes … n_levels - 1 re-cut in the DCT domain (origin on the
 * JPEG MCU grid; src/writer/retile.c). The writer computes the rest from
 * pixels. */
typedef struct {
	const char *path; /* the source TIFF, or DICOM series as named */
	SpDicom *dicom; /* a DICOM source (a reference), or NULL: TIFF */
	int n_levels; /* output levels taken from the source */
	int n_bytes; /* of them, the first ones copied byte for byte */
	int page[32]; /* source directory (DICOM: level) of each such level */
	int x[32], y[32]; /* origin in that directory, level pixels */
} SpTileCopy;

/* The JPEG MCU size, in pixels, that a re-cut origin must be a multiple
 * of: 16 serves 4:2:0, 4:2:2 and 4:4:4 chroma. */
#define SP_JPEG_MCU 16

/* An 8-bit picture in memory (an SVS thumbnail, label or macro). */
typedef struct {
	VipsPel *pixels; /* width × height × bands, or NULL: absent */
	size_t size;
	int width, height, bands;
} SpPicture;

/* What a TIFF layout adds to the pixels, filled by the sink (ops/save.c
 * builds it from the slide) and written by src/writer/tiff-layout.c. All
 * owned; free with _sp_tiff_meta_free(). */
typedef struct {
	SpTiffFlavour flavour;
	GBytes *icc; /* embedded on level 0, or NULL */
	char *description; /* level 0's ImageDescription, or NULL (none) */
	/* SP_TIFF_SVS only */
	char *thumb_description;
	int src_width, src_height; /* the source's level 0, in lower levels'
								* descriptions */
	SpPicture thumbnail, label, macro;
} SpTiffMeta;

void _sp_tiff_meta_free(SpTiffMeta *meta);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SpTiffMeta, _sp_tiff_meta_free)

/* How to write one file. Strings and @copy, @meta are borrowed for the
 * call. */
typedef struct {
	const char *path; /* the file written (save: its temporary file) */
	const char *name; /* the output as the user named it: messages */
	const char *op; /* the operator messages start with ("save") */
	SpWriteFormat format;

	/* TIFF */
	const char *compression; /* jpeg, lzw, deflate, zstd, webp or none */
	int quality; /* JPEG/WebP Q, 1 … 100 */
	int tile; /* tile width and height, a multiple of 16 */
	gboolean pyramid; /* levels down to one tile */
	gboolean bigtiff;
	double mpp_x, mpp_y; /* µm per level-0 pixel; 0: unknown */
	const SpTileCopy *copy; /* levels taken from the source, or NULL */
	const SpTiffMeta *meta; /* the layout's additions; NULL: a bare
							 * generic pyramid */

	/* PNG: libdeflate level, 0 (stored) … 12 (smallest); see png.c */
	int png_level;

	/* called on the writing threads, one at a time, percent 0 … 100 */
	SpWriteProgress progress;
	void *progress_data;
} SpWriteOptions;

/* The libdeflate level save writes PNG files at: as small as zlib's
 * level 6 (what libvips' pngsave wrote before) within ±1 % on H&E, at
 * a third of its time (bench/RESULTS.md). */
#define SP_PNG_SAVE_LEVEL 6

/* Images above this many pixels are written by vips_pngsave() (libdeflate
 * holds the whole image in memory). */
#define SP_PNG_MAX_PIXELS (G_GINT64_CONSTANT(16) << 20)

/* src/writer/write.c: writes @in to @o->path as @o says: TIFF with JPEG
 * tiles (but OME) by the pyramid writer, other TIFFs by libvips' tiffsave
 * (with @o->meta's description and ICC on the image), PNG by png.c when
 * _sp_png_writable(), else by libvips. @in: uchar, 1 or 3 bands, carrying
 * the resolution for PNG and JPEG. Errors name @o->op and @o->name:
 * SP_ERROR_IO (cannot write), SP_ERROR_FORMAT (a source tile cannot be
 * copied: decoding may still work), SP_ERROR_USAGE (an impossible
 * combination), SP_ERROR_FAILED (pixels). */
gboolean _sp_write(VipsImage *in, const SpWriteOptions *o, GError **error);

/* src/writer/dicom-write.c: a DICOM whole-slide series from a JPEG-tiled
 * TIFF pyramid (what _sp_pyramid_write() makes) and, for levels copied
 * byte for byte, the source TIFF's own tiles: output level i becomes
 * "level-i.dcm" in @dirfd, a VL Whole Slide Microscopy Image
 * instance (TILED_FULL, JPEG baseline frames: the TIFF's tiles with its
 * JPEGTables spliced in, not decoded). */
/* Patient, study and specimen attributes for the instances (save
 * dicom-meta=FILE.json); a NULL one is written empty (Type 2) or
 * "UNKNOWN" (Type 1 identifiers), a NULL study UID made anew. */
typedef struct {
	char *patient_name, *patient_id, *patient_birth_date, *patient_sex;
	char *referring_physician_name, *study_instance_uid, *study_id;
	char *accession_number, *study_description;
	char *container_identifier, *specimen_identifier;
} SpDicomMeta;

/* Reads @path: one JSON object whose members are DICOM keywords of
 * SpDicomMeta's attributes (PatientName …) with string values, each
 * checked against its value representation (length, characters, DA
 * dates, PatientSex M/F/O, UID syntax). NULL with SP_ERROR_IO (cannot
 * read) or SP_ERROR_FORMAT naming the file and the member. */
SpDicomMeta *_sp_dicom_meta_read(const char *path, GError **error);
void _sp_dicom_meta_free(SpDicomMeta *meta);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SpDicomMeta, _sp_dicom_meta_free)

typedef struct {
	const char *tiff; /* the pyramid (opened by name): output levels
			   * copy->n_bytes … n_levels - 1 as its directories
			   * 0, 1 … */
	int n_levels; /* output levels */
	gint64 width, height; /* output level 0; each next level half */
	int tile; /* the tile size (the source's, when copying) */
	/* levels 0 … copy->n_bytes - 1 taken straight from the source's
	 * tiles (on its tile grid), or NULL */
	const SpTileCopy *copy;
	int dirfd; /* the directory the instances go into */
	const char *name; /* the output as the user named it: messages */
	const char *op; /* "save" */
	double mpp_x, mpp_y; /* level 0's µm per pixel (required) */
	GBytes *icc; /* the optical path's ICC profile, or NULL */
	const SpDicomMeta *meta; /* or NULL: nothing identifying */
	/* "label.dcm" and "overview.dcm" (LABEL, OVERVIEW instances) when
	 * not NULL and with pixels */
	const SpPicture *label, *macro;
	SpWriteProgress progress;
	void *progress_data;
} SpDicomWriteOptions;

/* Errors: SP_ERROR_USAGE (no mpp), SP_ERROR_IO (cannot read the pyramid
 * or write an instance, naming it), SP_ERROR_FAILED (a level that is not
 * JPEG-tiled 8-bit). Files written before an error are left for the
 * caller to remove. */
gboolean _sp_dicom_write(const SpDicomWriteOptions *o, GError **error);

/* Whether entry @name of @dirfd is a series this writer makes: a
 * directory (not a link) of regular files named level-N.dcm, label.dcm and
 * overview.dcm only, level-0.dcm among them with "DICM" at byte 128. A
 * new save may replace such a directory (an SpReplaceable). */
gboolean _sp_dicom_series_dir_at(int dirfd, const char *name);

/* src/writer/pyramid.c: a tiled, JPEG-compressed TIFF pyramid of
 * @width × @height at level 0. Levels 0 … @o->copy->n_levels - 1 are
 * taken from the source TIFF (@o->copy may be NULL); the next level comes
 * from @in (uchar, 1 or 3 bands, exactly that level's size; NULL when
 * every level is taken), compressed with TurboJPEG on every core, and the
 * rest are halved from it. Errors as _sp_write(). */
gboolean _sp_pyramid_write(VipsImage *in, int width, int height,
	const SpWriteOptions *o, GError **error);

/* The number of levels the pyramid writer makes of a @width × @height
 * image in @tile² tiles: each half the previous (rounded down) until one
 * tile, or 1 without @pyramid. */
int _sp_pyramid_levels(int width, int height, int tile, gboolean pyramid);

/* src/writer/tiff-layout.c: the directory fields of output level @k
 * (@width × @height; level 0 is @width0 × @height0) of a JPEG-tiled
 * pyramid, @bands 1 or 3, @subsampling 1 (4:4:4) or 2 (4:2:0), in @tiff's
 * current directory: geometry, compression, resolution, and @meta's
 * additions (NULL: none) for its layout. */
void _sp_tiff_layout_set_level(TIFF *tiff, const SpTiffMeta *meta, int k,
	int width, int height, int width0, int height0, int bands,
	int subsampling, int tile, double mpp_x, double mpp_y);

/* The same for a level whose tiles come compressed from @src's current
 * directory: the level's own fields, then what the tiles need to decode
 * (photometric, chroma subsampling, reference black and white,
 * JPEGTables). */
void
_sp_tiff_layout_set_source_level(TIFF *tiff, TIFF *src, const SpTiffMeta *meta,
	int k, int width, int height, int width0, int height0, int bands,
	int subsampling, int tile, double mpp_x, double mpp_y);

/* @meta's whole directories of their own, written into @tiff (its current
 * directory a fresh one): once right after level 0's directory (@at_end
 * FALSE: SVS's thumbnail), once after the last level's (@at_end TRUE:
 * label, macro). FALSE and *@why (g_free()) when one cannot be written. */
gboolean _sp_tiff_layout_write_directories(TIFF *tiff, const SpTiffMeta *meta,
	gboolean at_end, char **why);

/* For libvips' tiffsave: *@image replaced by a copy carrying @meta's
 * ImageDescription and ICC profile, or none (@meta NULL: neither). FALSE
 * with @error naming @o (then *@image is unreffed). */
gboolean _sp_tiff_layout_tag_image(const SpTiffMeta *meta,
	const SpWriteOptions *o, VipsImage **image, GError **error);

/* Sets ResolutionUnit to none in every directory of the finished TIFF
 * @path, in place (the pixel size is unknown). Errors name @op. */
gboolean _sp_tiff_set_resolution_unit_none(const char *op, const char *path,
	GError **error);

/* src/writer/vips-tiff.c: libvips' tiffsave of @image to @o->path, with
 * @o's compression, Q, tile, pyramid and BigTIFF, @o->meta's description
 * and ICC profile (_sp_tiff_layout_tag_image()), SubIFD levels for
 * SP_TIFF_OME, and ResolutionUnit none when the mpp is unknown. A tile or
 * a write that fails fails the save, never libvips (compat.h).
 * SP_ERROR_USAGE for WebP tiles of a 1-band image; SP_ERROR_IO when
 * $TMPDIR cannot take the levels' temporary files. */
gboolean
_sp_vips_tiff_write(VipsImage *image, const SpWriteOptions *o, GError **error);

/* src/writer/retile.c: output tiles of one source directory re-cut on
 * another tile grid from the source's quantized DCT coefficients. One per
 * thread. */
typedef struct _SpRetiler SpRetiler;

/* Opens the source of output level @k of @copy (a TIFF directory, or a
 * DICOM level's frames), whose tiles are @tile × @tile baseline JPEG;
 * errors SP_ERROR_IO / SP_ERROR_FAILED / SP_ERROR_FORMAT naming the file
 * and directory (the caller adds the operator). */
SpRetiler *
_sp_retiler_new(const SpTileCopy *copy, int k, int tile, GError **error);

/* The compressed output tile whose top-left corner is (@x, @y) in the
 * source directory's pixels (on its JPEG MCU grid): *@data (owned by @r,
 * valid until the next call) and *@size bytes, an abbreviated JPEG stream
 * for the source's JPEGTables; when (@x, @y) is on the tile grid, the
 * source tile's own bytes. */
gboolean _sp_retiler_tile(SpRetiler *r, int x, int y,
	const unsigned char **data, unsigned long *size, GError **error);

void _sp_retiler_free(SpRetiler *r);

/* src/writer/png.c: PNG files of in-memory pixels, compressed with
 * libdeflate at @level (0 stored … 12 smallest; libdeflate's own levels:
 * 1 is fastest, 6 about zlib 6's size at a third of its time, 10–12 a few
 * per cent smaller and 3–10× slower). One encoder per thread; it keeps
 * its buffers between images. NULL if libdeflate cannot start. */
typedef struct _SpPngEncoder SpPngEncoder;
SpPngEncoder *_sp_png_encoder_new(int level);
void _sp_png_encoder_free(SpPngEncoder *encoder);
/* Encodes @width × @height × @bands (1 or 3) uchar pixels, rows @stride
 * bytes apart, into @out (replacing its contents). mpp > 0 writes a
 * pHYs chunk. FALSE if the image is too large or empty. */
gboolean _sp_png_encode(SpPngEncoder *encoder, const guint8 *pixels, int width,
	int height, int bands, size_t stride, double mpp_x, double mpp_y,
	GByteArray *out);

/* Whether _sp_png_write() can write @image: uchar sRGB or B_W, no
 * metadata that vips_pngsave() would embed (ICC, EXIF, XMP, comments), at
 * most SP_PNG_MAX_PIXELS. */
gboolean _sp_png_writable(VipsImage *image);

/* Writes @in to @o->path as PNG at @o->png_level, on the calling thread;
 * pHYs from @in's resolution. Errors name @o->op and @o->name. */
gboolean _sp_png_write(VipsImage *in, const SpWriteOptions *o, GError **error);

/* src/writer/patch.c: patch files encoded in memory, for tiles: @o->format
 * PNG (at @o->png_level), JPEG (at @o->quality; full chroma from 90 up)
 * or TIFF (deflate, horizontal predictor), with @o->mpp as the resolution
 * when known; @o->op names the operator in errors. One per thread. NULL
 * if the codec cannot start. */
typedef struct _SpPatchEncoder SpPatchEncoder;
SpPatchEncoder *_sp_patch_encoder_new(const SpWriteOptions *o);
void _sp_patch_encoder_free(SpPatchEncoder *e);
/* Encodes @width × @height × @bands (1 or 3) uchar pixels, rows packed,
 * into @out (replacing its contents). SP_ERROR_FAILED naming the
 * operator when the codec fails. */
gboolean _sp_patch_encode(SpPatchEncoder *e, const guint8 *pixels, int width,
	int height, int bands, GByteArray *out, GError **error);

/* Whether @image is a stack of pages (libvips' page-height shorter than
 * the image): save's planes one below the other. */
static inline gboolean
_sp_is_stack(VipsImage *image)
{
	return vips_image_get_page_height(image) < image->Ysize;
}

G_END_DECLS

#endif /* SP_WRITER_H */
