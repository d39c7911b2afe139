/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tile-hash: checks that the raw (compressed) tiles of a region of one
 * TIFF directory are byte-identical to those of another TIFF's first
 * directory, comparing the SHA-256 of each raw tile read with libtiff.
 *
 * usage: tile-hash SRC.tif PAGE X Y OUT.tif W H
 *   X, Y: the region's origin in SRC's directory PAGE (on its tile grid);
 *   W, H: the region's size, OUT's directory 0.
 * Prints the number of tiles compared and a digest over all of them;
 * exits 1 at the first tile that differs.
 */
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>
#include <tiffio.h>

static guchar *
raw_tile(TIFF *tiff, ttile_t tile, tmsize_t *size)
{
	guchar *buf;

	*size = (tmsize_t) TIFFGetStrileByteCount(tiff, tile);
	if (*size <= 0)
		return NULL;
	buf = g_malloc(*size);
	if (TIFFReadRawTile(tiff, tile, buf, *size) != *size) {
		g_free(buf);
		return NULL;
	}
	return buf;
}

int
main(int argc, char **argv)
{
	TIFF *src, *out;
	guint32 tw = 0, th = 0;
	GChecksum *all;
	int n = 0;

	if (argc != 8) {
		fprintf(stderr, "usage: %s SRC.tif PAGE X Y OUT.tif W H\n", argv[0]);
		return 2;
	}
	src = TIFFOpen(argv[1], "rm");
	out = TIFFOpen(argv[5], "rm");
	if (!src || !out || !TIFFSetDirectory(src, atoi(argv[2]))) {
		fprintf(stderr, "%s: cannot open the TIFFs\n", argv[0]);
		return 2;
	}
	int x0 = atoi(argv[3]), y0 = atoi(argv[4]);
	int w = atoi(argv[6]), h = atoi(argv[7]);

	TIFFGetField(out, TIFFTAG_TILEWIDTH, &tw);
	TIFFGetField(out, TIFFTAG_TILELENGTH, &th);
	if (tw == 0 || th == 0) {
		fprintf(stderr, "%s: %s is not tiled\n", argv[0], argv[5]);
		return 2;
	}
	all = g_checksum_new(G_CHECKSUM_SHA256);
	for (int y = 0; y < h; y += th)
		for (int x = 0; x < w; x += tw) {
			tmsize_t sa, sb;
			guchar *a = raw_tile(src,
				TIFFComputeTile(src, x0 + x, y0 + y, 0, 0), &sa);
			guchar *b = raw_tile(out, TIFFComputeTile(out, x, y, 0, 0), &sb);
			gchar *da = a ? g_compute_checksum_for_data(G_CHECKSUM_SHA256, a,
								sa) :
							NULL;
			gchar *db = b ? g_compute_checksum_for_data(G_CHECKSUM_SHA256, b,
								sb) :
							NULL;

			if (!da || !db || g_strcmp0(da, db) != 0) {
				printf("tile at %d,%d differs: %s vs %s\n", x, y,
					da ? da : "missing", db ? db : "missing");
				return 1;
			}
			g_checksum_update(all, (guchar *) da, -1);
			n++;
			g_free(a);
			g_free(b);
			g_free(da);
			g_free(db);
		}
	printf("%d raw tiles byte-identical (SHA-256 over their digests %.16s)\n",
		n, g_checksum_get_string(all));
	g_checksum_free(all);
	TIFFClose(src);
	TIFFClose(out);
	return 0;
}
