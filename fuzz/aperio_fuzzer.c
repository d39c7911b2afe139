/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: the Aperio ImageDescription parser and the svs
 * writer (issue 12: empty '|' fields crashed it).
 *
 * Every input is a description, parsed by _sp_aperio_keys() (src/aperio.c)
 * with and without an mpp and magnification to write, and the result
 * checked: one line ("|key = value…", no control character), each key at
 * most once, MPP and AppMag as given, no more than SP_APERIO_MAX_KEYS
 * keys. One input in four also goes through the whole svs path: a 64 × 64
 * tiled JPEG TIFF whose level-0 ImageDescription is the input ("Aperio"
 * put in front when it does not start so, for OpenSlide to read it as
 * Aperio) is loaded, cropped and saved with format=svs, and the saved
 * file's description is read back with libtiff and checked the same way.
 */
#include "fuzz-common.h"

#include <tiffio.h>

#include "sp-private.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(*argv ? (*argv)[0] : "aperio_fuzzer");
	return 0;
}

static void
fuzz_fail(const char *why, const char *text)
{
	fprintf(stderr, "fuzz: %s: '%s'\n", why, text ? text : "(null)");
	abort();
}

/* The keys part of a description: '|'-separated "key = value" fields,
 * no control characters, each key once. */
static void
check_keys(const char *keys, gboolean any, const char *mpp, const char *mag)
{
	g_autoptr(GHashTable) seen =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	int n = 0;

	for (const char *p = keys; *p; p++)
		if ((guchar) *p < 0x20 || *p == 0x7f)
			fuzz_fail("a control character in the keys", keys);
	if (*keys && *keys != '|')
		fuzz_fail("keys do not start with '|'", keys);
	if (!*keys)
		return;
	g_auto(GStrv) fields = g_strsplit(keys + 1, "|", -1);
	for (int i = 0; fields[i]; i++) {
		const char *eq = strchr(fields[i], '=');
		if (!eq)
			fuzz_fail("a field without '='", fields[i]);
		g_autofree char *key = g_strstrip(g_strndup(fields[i], eq - fields[i]));
		if (!*key)
			fuzz_fail("a field without a key", fields[i]);
		if (!g_hash_table_add(seen, g_strdup(key)))
			fuzz_fail("a key twice", key);
		const char *value = eq + 1;
		while (*value == ' ')
			value++;
		if (!any && strcmp(key, "MPP") == 0 &&
			(!mpp || strcmp(value, mpp) != 0))
			fuzz_fail("MPP not the one given", fields[i]);
		if (!any && strcmp(key, "AppMag") == 0 &&
			(!mag || strcmp(value, mag) != 0))
			fuzz_fail("AppMag not the one given", fields[i]);
		n++;
	}
	if (n > SP_APERIO_MAX_KEYS + 2)
		fuzz_fail("more keys than the bound", keys);
	if (any)
		return;
	if (mpp && !g_hash_table_contains(seen, "MPP"))
		fuzz_fail("MPP missing", keys);
	if (mag && !g_hash_table_contains(seen, "AppMag"))
		fuzz_fail("AppMag missing", keys);
}

static void
parse(const char *desc, const char *mpp, const char *mag, gboolean icc)
{
	char *header = NULL;
	char *keys = _sp_aperio_keys(desc, mpp, mag, icc, &header);

	if (!keys || (desc && !header) || (!desc && header))
		fuzz_fail("no result", desc);
	if (header && strchr(header, '|'))
		fuzz_fail("'|' in the header", header);
	check_keys(keys, FALSE, mpp, mag);
	g_free(keys);
	g_free(header);
}

static int
tiff_quiet(TIFF *tiff, void *user_data, const char *module, const char *fmt,
	va_list ap)
{
	return 1;
}

static TIFF *
tiff_open(const char *path, const char *mode)
{
	TIFFOpenOptions *options = TIFFOpenOptionsAlloc();
	TIFF *t;

	TIFFOpenOptionsSetErrorHandlerExtR(options, tiff_quiet, NULL);
	TIFFOpenOptionsSetWarningHandlerExtR(options, tiff_quiet, NULL);
	t = TIFFOpenExt(path, mode, options);
	TIFFOpenOptionsFree(options);
	return t;
}

/* A 64 × 64 tiled JPEG TIFF described by @desc, written with libtiff. */
static gboolean
write_slide(const char *path, const char *desc)
{
	TIFF *t = tiff_open(path, "w");
	guint8 tile[64 * 64 * 3];

	if (!t)
		return FALSE;
	for (int i = 0; i < (int) sizeof(tile); i++)
		tile[i] = (guint8) (i * 7);
	TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 64);
	TIFFSetField(t, TIFFTAG_IMAGELENGTH, 64);
	TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
	TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 3);
	TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
	TIFFSetField(t, TIFFTAG_TILEWIDTH, 64);
	TIFFSetField(t, TIFFTAG_TILELENGTH, 64);
	TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_JPEG);
	TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
	TIFFSetField(t, TIFFTAG_JPEGQUALITY, 50);
	TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, desc);
	gboolean ok = TIFFWriteEncodedTile(t, 0, tile, sizeof(tile)) >= 0;
	ok = TIFFWriteDirectory(t) && ok;
	TIFFClose(t);
	return ok;
}

static void
write_svs(const char *desc)
{
	GError *error = NULL;
	SpGraph *graph = sp_graph_new();
	g_autofree char *full = g_str_has_prefix(desc, "Aperio") ?
		g_strdup(desc) :
		g_strconcat("Aperio", desc, NULL);
	SpNode *node;

	if (!write_slide("in.svs", full)) {
		sp_graph_free(graph);
		return;
	}
	if ((node = sp_load(graph, "in.svs", &error, NULL)) &&
		(node = sp_crop(node, 8, 8, 40, 40, &error, NULL)) &&
		(node = sp_save(node, "out.svs", &error, "Q", 50, NULL)) &&
		sp_node_run(node, &error)) {
		TIFF *t = tiff_open("out.svs", "r");
		const char *d = NULL;

		if (!t || !TIFFGetField(t, TIFFTAG_IMAGEDESCRIPTION, &d) || !d ||
			!g_str_has_prefix(d, "Aperio"))
			fuzz_fail("the svs output has no Aperio description", full);
		/* the keys begin at the first '|' (the header has none) */
		const char *keys = strchr(d, '|');
		if (keys)
			check_keys(keys, TRUE, NULL, NULL);
		TIFFClose(t);
		unlink("out.svs");
		if (g_getenv("SP_FUZZ_VERBOSE"))
			fprintf(stderr, "fuzz: saved as svs\n");
	}
	if (error && g_getenv("SP_FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz: %s\n", error->message);
	if (error) {
		if (error->domain != SP_ERROR)
			fuzz_fail("an error outside SP_ERROR", error->message);
		g_clear_error(&error);
	}
	sp_graph_free(graph);
	unlink("in.svs");
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	g_autofree char *desc = g_strndup((const char *) data, size);

	parse(desc, NULL, NULL, FALSE);
	parse(desc, "0.25", "20", TRUE);
	parse(NULL, "0.5", NULL, FALSE);
	/* the whole svs path, for one input in four (a slow path) */
	if (size > 0 && (data[size - 1] & 3) == 0 && !memchr(data, '\0', size)) {
		fuzz_enter();
		write_svs(desc);
		fuzz_check_vips();
		fuzz_leave();
	}
	return 0;
}
