/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvips' tiffsave, for the TIFFs the pyramid writer does not make:
 * compressions other than JPEG, and OME-TIFF (SubIFD levels). The
 * layout's description and ICC profile travel on the image
 * (tiff-layout.c); an unknown pixel size is patched to ResolutionUnit
 * none afterwards, rather than libvips' default 10 px/cm.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "writer/writer.h"

static VipsForeignTiffCompression
compression_code(const char *name)
{
	if (strcmp(name, "jpeg") == 0)
		return VIPS_FOREIGN_TIFF_COMPRESSION_JPEG;
	if (strcmp(name, "lzw") == 0)
		return VIPS_FOREIGN_TIFF_COMPRESSION_LZW;
	if (strcmp(name, "deflate") == 0)
		return VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE;
	if (strcmp(name, "zstd") == 0)
		return VIPS_FOREIGN_TIFF_COMPRESSION_ZSTD;
	if (strcmp(name, "webp") == 0)
		return VIPS_FOREIGN_TIFF_COMPRESSION_WEBP;
	return VIPS_FOREIGN_TIFF_COMPRESSION_NONE;
}


/* tiffsave's options from @o (and @image, @subifd) */
#define TIFFSAVE_OPTIONS \
	"compression", compression_code(o->compression), "Q", o->quality, \
		"tile", TRUE, "tile_width", o->tile, "tile_height", o->tile, \
		"pyramid", o->pyramid, "bigtiff", o->bigtiff, "resunit", \
		VIPS_FOREIGN_TIFF_RESUNIT_CM, "region_shrink", \
		image->Bands == 1 && image->BandFmt == VIPS_FORMAT_UCHAR ? \
		VIPS_REGION_SHRINK_MODE : \
		VIPS_REGION_SHRINK_MEAN, \
		"predictor", VIPS_FOREIGN_TIFF_PREDICTOR_HORIZONTAL, "subifd", \
		subifd && (o->pyramid || !SP_VIPS_SUBIFD_FORCES_PYRAMID), NULL

#if SP_VIPS_TIFFSAVE_FAILURE_CRASHES
/* tiffsave crashes when anything fails half way, a tile that cannot be
 * computed (a corrupt source) or a write that fails (a full disk)
 * (compat.h). So nothing is allowed to fail inside it:
 * tiles that fail come out black, writes that fail are dropped, the
 * first failure of each is kept, and the save fails afterwards, once
 * libvips has finished cleanly. After a failure the rest is quick: no
 * more tiles are computed and nothing more is written. */
typedef struct {
	GMutex lock;
	char *pixel_error; /* the first tile's failure, or NULL */
	const char *path; /* the output, whose graph's messages to take */
	int fd; /* the temporary output file */
	gint64 position, length;
	int write_errno; /* the first failed write, or 0 */
} TiffGuard;

static int
guard_generate(VipsRegion *out, void *seq, void *a, void *b, gboolean *stop)
{
	VipsRegion *ir = seq;
	TiffGuard *guard = b;
	gboolean failed;

	g_mutex_lock(&guard->lock);
	failed = guard->pixel_error != NULL;
	g_mutex_unlock(&guard->lock);
	if (!failed && !vips_region_prepare(ir, &out->valid))
		return vips_region_region(out, ir, &out->valid, out->valid.left,
			out->valid.top);
	if (!failed) {
		g_mutex_lock(&guard->lock);
		if (!guard->pixel_error)
			/* one line: libvips may stack several */
			guard->pixel_error = _sp_vips_error_take(guard->path);
		g_mutex_unlock(&guard->lock);
	}
	vips_region_black(out);
	return 0;
}

/* The target's callbacks: libtiff writes, seeks and reads back through
 * them, one call at a time. */
static gint64
guard_write(VipsTargetCustom *target, const void *data, gint64 length,
	TiffGuard *guard)
{
	const char *p = data;
	gint64 at = guard->position;

	for (gint64 left = length; left > 0 && !guard->write_errno;) {
		ssize_t n = pwrite(guard->fd, p, left, at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			guard->write_errno = n < 0 ? errno : ENOSPC;
		else {
			p += n;
			at += n;
			left -= n;
		}
	}
	guard->position += length;
	guard->length = MAX(guard->length, guard->position);
	return length;
}

static gint64
guard_seek(VipsTargetCustom *target, gint64 offset, int whence,
	TiffGuard *guard)
{
	gint64 to = whence == SEEK_SET ? offset :
		whence == SEEK_CUR     ? guard->position + offset :
					 guard->length + offset;

	if (to < 0)
		return -1;
	guard->position = to;
	return to;
}

static gint64
guard_read(VipsTargetCustom *target, void *buffer, gint64 length,
	TiffGuard *guard)
{
	ssize_t n = pread(guard->fd, buffer, length, guard->position);

	if (n < 0)
		return -1;
	guard->position += n;
	return n;
}

static int
guard_end(VipsTargetCustom *target, TiffGuard *guard)
{
	return 0;
}

/* vips_tiffsave() to @o->path, guarded as above. */
static gboolean
tiffsave(VipsImage *image, const SpWriteOptions *o, gboolean subifd,
	GError **error)
{
	const char *path = o->name;
	TiffGuard guard = { .fd = -1, .path = path };
	VipsImage *guarded = vips_image_new();
	VipsTargetCustom *target = NULL;
	int r = -1;

	g_mutex_init(&guard.lock);
	if ((guard.fd = open(o->path, O_RDWR | O_TRUNC | O_CLOEXEC)) < 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': %s", o->op, path,
			g_strerror(err));
		goto out;
	}
	if (vips_image_pipelinev(guarded, VIPS_DEMAND_STYLE_THINSTRIP, image,
		    NULL) ||
		vips_image_generate(guarded, vips_start_one, guard_generate,
			vips_stop_one, image, &guard)) {
		_sp_set_vips_error(error, o->op, path);
		goto out;
	}
	target = vips_target_custom_new();
	g_signal_connect(target, "write", G_CALLBACK(guard_write), &guard);
	g_signal_connect(target, "seek", G_CALLBACK(guard_seek), &guard);
	g_signal_connect(target, "read", G_CALLBACK(guard_read), &guard);
	g_signal_connect(target, "end", G_CALLBACK(guard_end), &guard);
	/* a target with a file name gets its lower levels spooled to
	 * temporary files, not to memory (vips_target_new_temp()) */
	VIPS_CONNECTION(target)->filename = g_strdup(o->path);

	r = vips_tiffsave_target(guarded, VIPS_TARGET(target),
		TIFFSAVE_OPTIONS);
	if (close(guard.fd) != 0 && !guard.write_errno)
		guard.write_errno = errno;
	guard.fd = -1;
	if (guard.pixel_error) {
		r = -1;
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED, "%s: '%s': %s",
			o->op, path,
			*guard.pixel_error ? guard.pixel_error :
					     "a tile could not be computed");
	} else if (guard.write_errno) {
		r = -1;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': %s", o->op, path,
			g_strerror(guard.write_errno));
	} else if (r)
		_sp_set_vips_error(error, o->op, path);
	g_free(_sp_vips_error_take(path));

out:
	if (guard.fd >= 0)
		close(guard.fd);
	if (target)
		g_object_unref(target);
	g_object_unref(guarded);
	g_free(guard.pixel_error);
	g_mutex_clear(&guard.lock);
	return r == 0;
}
#else
static gboolean
tiffsave(VipsImage *image, const SpWriteOptions *o, gboolean subifd,
	GError **error)
{
	if (vips_tiffsave(image, o->path, TIFFSAVE_OPTIONS)) {
		_sp_set_vips_error(error, o->op, o->name);
		return FALSE;
	}
	return TRUE;
}
#endif /* SP_VIPS_TIFFSAVE_FAILURE_CRASHES */

/* What tiffsave can take, checked before it runs: WebP tiles hold 3 or 4
 * bands only (and tiffsave crashes on fewer: compat.h). */
static gboolean
check_tiffsave(VipsImage *image, const SpWriteOptions *o, GError **error)
{
	if (SP_VIPS_WEBP_FEW_BANDS_CRASHES &&
		strcmp(o->compression, "webp") == 0 && image->Bands != 3 &&
		image->Bands != 4) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: argument 'compression': webp takes RGB images, and "
			"'%s' would get %d-band pixels (a mask or grey image): use "
			"lzw, deflate, zstd, jpeg or none",
			o->op, o->name, image->Bands);
		return FALSE;
	}
	return !o->pyramid || _sp_vips_check_temp_dir(o->op, o->name, error);
}

gboolean
_sp_vips_tiff_write(VipsImage *image, const SpWriteOptions *o, GError **error)
{
	/* a stack's pages are its planes: levels go below them */
	gboolean subifd = (o->meta && o->meta->flavour == SP_TIFF_OME) ||
		_sp_is_stack(image);
	gboolean ok;

	if (!check_tiffsave(image, o, error))
		return FALSE;
	g_object_ref(image);
	if (!_sp_tiff_layout_tag_image(o->meta, o, &image, error))
		return FALSE;
	ok = tiffsave(image, o, subifd, error);
	g_object_unref(image);
	/* no pixel size: say so, rather than libvips' default 10 px/cm */
	return ok &&
		((o->mpp_x > 0 && o->mpp_y > 0) ||
			_sp_tiff_set_resolution_unit_none(o->op, o->path,
				error));
}
