/* PNG output encoded on the calling thread.
 *
 * Why not vips_pngsave(): it runs the pipeline through vips_sink_disc(),
 * which computes strips on libvips worker threads and hands each to a
 * separate writer thread that deflates it. For the small images a batch
 * writes (a 512² crop is 27 ms of deflate), every image then costs a few
 * dozen thread wake-ups, and on a small machine the scheduler often
 * stacks the woken threads on one core while another idles: 2 rows on 2
 * cores kept the cores busy only 85 % of the time. Here the caller's
 * thread pulls the pixels (vips_region_prepare(), no threads) and
 * deflates them, so a batch row is one thread from start to end and rows
 * fill the cores.
 *
 * The file is byte for byte what vips_pngsave() writes with its defaults,
 * which this mirrors through libpng: compression 6, no row filter (libpng
 * then picks the default zlib strategy), not interlaced, pHYs from the
 * image's resolution. Images that pngsave would write differently (other
 * formats, metadata it would embed) are left to it by _sp_png_writable().
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <png.h>

#include "sp-private.h"

/* Larger images go to vips_pngsave(), whose threads overlap decoding and
 * deflating; for a few megapixels that overlap gains less than its
 * thread hand-offs cost. */
#define INLINE_MAX_PIXELS (G_GINT64_CONSTANT(16) << 20)

/* Output is gathered and written in pieces this large: one write() for
 * a typical crop instead of one per libpng chunk. */
#define OUT_BUFFER (1 << 20)

gboolean
_sp_png_writable(VipsImage *image)
{
	static const char *const embedded[] = { VIPS_META_ICC_NAME,
		VIPS_META_EXIF_NAME, VIPS_META_XMP_NAME };
	char **fields;
	gboolean comment = FALSE;

	if (image->BandFmt != VIPS_FORMAT_UCHAR ||
		image->Coding != VIPS_CODING_NONE ||
		!((image->Bands == 3 && image->Type == VIPS_INTERPRETATION_sRGB) ||
			(image->Bands == 1 && image->Type == VIPS_INTERPRETATION_B_W)) ||
		(gint64) image->Xsize * image->Ysize > INLINE_MAX_PIXELS)
		return FALSE;
	for (guint i = 0; i < G_N_ELEMENTS(embedded); i++)
		if (vips_image_get_typeof(image, embedded[i]))
			return FALSE;
	fields = vips_image_get_fields(image);
	for (int i = 0; fields[i] && !comment; i++)
		comment = g_str_has_prefix(fields[i], "png-comment-");
	g_strfreev(fields);
	return !comment;
}

typedef struct {
	int fd;
	guchar *buf;
	gsize length;
	char *error;      /* the first failure, for the GError */
	int code;         /* its SpError */
	jmp_buf jump;
} Out;

static void
out_fail(Out *out, int code, const char *message)
{
	if (!out->error) {
		out->error = g_strdup(message);
		out->code = code;
	}
}

static gboolean
out_flush(Out *out)
{
	gsize done = 0;

	while (done < out->length) {
		ssize_t n = write(out->fd, out->buf + done, out->length - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			out_fail(out, SP_ERROR_IO, g_strerror(errno));
			return FALSE;
		}
		done += n;
	}
	out->length = 0;
	return TRUE;
}

static void
on_write(png_structp png, png_bytep data, png_size_t length)
{
	Out *out = png_get_io_ptr(png);

	while (length > 0) {
		gsize n = MIN(length, OUT_BUFFER - out->length);

		memcpy(out->buf + out->length, data, n);
		out->length += n;
		data += n;
		length -= n;
		if (out->length == OUT_BUFFER && !out_flush(out))
			png_error(png, "write failed");
	}
}

static void
on_flush(png_structp png)
{
}

static void
on_error(png_structp png, png_const_charp message)
{
	Out *out = png_get_error_ptr(png);

	out_fail(out, SP_ERROR_FAILED, message);
	longjmp(out->jump, 1);
}

static void
on_warning(png_structp png, png_const_charp message)
{
}

/* Everything libpng may longjmp out of, kept apart so no local of the
 * caller is live across the setjmp. */
static gboolean
encode(Out *out, png_structp png, png_infop info, VipsImage *in,
	VipsRegion *region, SpWriteProgress progress, void *progress_data)
{
	/* strips of about a megabyte: a typical crop is one */
	int strip = MAX(1, (int) (OUT_BUFFER / VIPS_IMAGE_SIZEOF_LINE(in)));

	if (setjmp(out->jump))
		return FALSE;

	png_set_write_fn(png, out, on_write, on_flush);
	png_set_compression_level(png, 6);
	png_set_filter(png, 0, PNG_FILTER_NONE);
	png_set_IHDR(png, info, in->Xsize, in->Ysize, 8,
		in->Bands == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
		PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
		PNG_FILTER_TYPE_DEFAULT);
	/* libvips' resolution is pixels per millimetre */
	png_set_pHYs(png, info, VIPS_RINT(in->Xres * 1000),
		VIPS_RINT(in->Yres * 1000), PNG_RESOLUTION_METER);
	png_write_info(png, info);

	for (int top = 0; top < in->Ysize; top += strip) {
		VipsRect r = { 0, top, in->Xsize, MIN(strip, in->Ysize - top) };

		if (vips_region_prepare(region, &r)) {
			/* one line, as _sp_set_vips_error() gives */
			char *message = _sp_vips_error_take(NULL);

			out_fail(out, SP_ERROR_FAILED,
				*message ? message : "libvips failed");
			g_free(message);
			return FALSE;
		}
		for (int y = 0; y < r.height; y++)
			png_write_row(png, VIPS_REGION_ADDR(region, 0, top + y));
		if (progress)
			progress(100 * (top + r.height) / in->Ysize, progress_data);
	}
	png_write_end(png, info);
	return TRUE;
}

gboolean
_sp_png_write(VipsImage *in, const char *path, const char *what,
	SpWriteProgress progress, void *progress_data, GError **error)
{
	Out out = { -1, NULL, 0, NULL, 0 };
	png_structp png = NULL;
	png_infop info = NULL;
	VipsRegion *region = NULL;
	gboolean ok = FALSE;

	if ((out.fd = g_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			 0666)) < 0) {
		out_fail(&out, SP_ERROR_IO, g_strerror(errno));
		goto done;
	}
	out.buf = g_malloc(OUT_BUFFER);
	if (!(png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &out,
			  on_error, on_warning)) ||
		!(info = png_create_info_struct(png))) {
		out_fail(&out, SP_ERROR_FAILED, "libpng cannot start");
		goto done;
	}
	region = vips_region_new(in);
	ok = encode(&out, png, info, in, region, progress, progress_data) &&
		out_flush(&out);
	if (close(out.fd) != 0 && ok) {
		out_fail(&out, SP_ERROR_IO, g_strerror(errno));
		ok = FALSE;
	}
	out.fd = -1;

done:
	if (out.fd >= 0)
		close(out.fd);
	if (png)
		png_destroy_write_struct(&png, info ? &info : NULL);
	if (region)
		g_object_unref(region);
	g_free(out.buf);
	if (!ok)
		g_set_error(error, SP_ERROR, out.error ? out.code : SP_ERROR_FAILED,
			"save: '%s': %s", what,
			out.error ? out.error : "cannot write PNG");
	g_free(out.error);
	return ok;
}
