/* In-place edits of a finished TIFF's directory entries.
 *
 * libvips' tiffsave always writes XResolution/YResolution with a unit, so
 * an image whose pixel size is unknown would claim 10 pixels per cm (an
 * mpp of 1000). Marking ResolutionUnit "none" in every directory says
 * "unknown" to OpenSlide 4 and every other reader. The entry is a SHORT
 * stored inside the IFD entry itself, so it is overwritten in place: no
 * directory is moved, nothing else in the file changes.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sp-private.h"

#define TAG_RESOLUTION_UNIT 296
#define TYPE_SHORT 3
#define MAX_DIRECTORIES 100000

typedef struct {
	FILE *f;
	gboolean big_endian;
	gboolean bigtiff;
} TiffFile;

static gboolean
read_uint(TiffFile *t, guint64 offset, int size, guint64 *out)
{
	unsigned char b[8];

	if (fseeko(t->f, (off_t) offset, SEEK_SET) != 0 ||
		fread(b, 1, size, t->f) != (size_t) size)
		return FALSE;
	*out = 0;
	for (int i = 0; i < size; i++)
		*out |= (guint64) b[t->big_endian ? i : size - 1 - i]
			<< (8 * (size - 1 - i));
	return TRUE;
}

static gboolean
write_short(TiffFile *t, guint64 offset, guint16 value)
{
	unsigned char b[2];

	b[t->big_endian ? 0 : 1] = value >> 8;
	b[t->big_endian ? 1 : 0] = value & 0xff;
	return fseeko(t->f, (off_t) offset, SEEK_SET) == 0 &&
		fwrite(b, 1, 2, t->f) == 2;
}

gboolean
_sp_tiff_set_resolution_unit_none(const char *op, const char *path,
	GError **error)
{
	TiffFile t = { NULL, FALSE, FALSE };
	guint64 magic, ifd;
	unsigned char order[2];
	gboolean ok = FALSE;

	if (!(t.f = fopen(path, "r+b"))) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO, "%s: cannot open '%s': %s",
			op, path, g_strerror(err));
		return FALSE;
	}
	if (fread(order, 1, 2, t.f) != 2 ||
		(memcmp(order, "II", 2) != 0 && memcmp(order, "MM", 2) != 0))
		goto out;
	t.big_endian = order[0] == 'M';
	if (!read_uint(&t, 2, 2, &magic) || (magic != 42 && magic != 43))
		goto out;
	t.bigtiff = magic == 43;
	if (!read_uint(&t, t.bigtiff ? 8 : 4, t.bigtiff ? 8 : 4, &ifd))
		goto out;

	int entry_size = t.bigtiff ? 20 : 12;
	int count_size = t.bigtiff ? 8 : 2;
	for (int n = 0; ifd != 0 && n < MAX_DIRECTORIES; n++) {
		guint64 count;

		if (!read_uint(&t, ifd, count_size, &count) || count > 65535)
			goto out;
		for (guint64 i = 0; i < count; i++) {
			guint64 entry = ifd + count_size + i * entry_size;
			guint64 tag, type;

			if (!read_uint(&t, entry, 2, &tag) ||
				!read_uint(&t, entry + 2, 2, &type))
				goto out;
			if (tag == TAG_RESOLUTION_UNIT && type == TYPE_SHORT &&
				!write_short(&t, entry + (t.bigtiff ? 12 : 8), 1))
				goto out;
		}
		if (!read_uint(&t, ifd + count_size + count * entry_size,
				t.bigtiff ? 8 : 4, &ifd))
			goto out;
	}
	ok = fflush(t.f) == 0;
out:
	if (fclose(t.f) != 0)
		ok = FALSE;
	if (!ok)
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: '%s': cannot mark the pixel size unknown (not a TIFF "
			"libvips wrote?)",
			op, path);
	return ok;
}
