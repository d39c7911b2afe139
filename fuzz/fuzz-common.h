/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared set-up of slidepipe's libFuzzer targets (fuzz/ *_fuzzer.c).
 *
 * Each target includes this once. It starts libvips quietly on one
 * thread with the operation cache off, makes a scratch directory with
 * small fixtures (a tiled JPEG pyramid with a pixel size, a grey PNG, an
 * overlay CSV). Each input runs inside it (fuzz_enter() … fuzz_leave()),
 * so pipelines and manifests that name "s.tif" reach the planner and
 * inputs touch nothing else; between inputs the working directory is
 * libFuzzer's again, for its corpus and crash files. After every input
 * it checks libvips' own books: a VipsObject still alive is a leak and
 * aborts, which libFuzzer reports as a crash.
 */
#ifndef SP_FUZZ_COMMON_H
#define SP_FUZZ_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw() flags */
#endif

#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <slidepipe/slidepipe.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

static char *fuzz_dir;
static int fuzz_dir_fd = -1;  /* the scratch directory */
static int fuzz_home_fd = -1; /* where the fuzzer was started */

/* Whether the code logging now was called from OpenSlide: OpenSlide 3.4.1
 * (Debian 12) logs GLib criticals on some malformed vendor metadata and
 * carries on; that is its business, not a finding here. */
static gboolean
fuzz_logged_by_openslide(void)
{
	void *frames[64];
	int n = backtrace(frames, G_N_ELEMENTS(frames));

	for (int i = 0; i < n; i++) {
		Dl_info info;

		if (dladdr(frames[i], &info) && info.dli_fname &&
			strstr(info.dli_fname, "libopenslide.so"))
			return TRUE;
	}
	return FALSE;
}

static void
fuzz_quiet_log(const char *domain, GLogLevelFlags level, const char *message,
	gpointer user_data)
{
	/* criticals are bugs: die so that libFuzzer keeps the input */
	if ((level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)) &&
		((level & G_LOG_LEVEL_ERROR) || !fuzz_logged_by_openslide())) {
		fprintf(stderr, "fuzz: %s-CRITICAL: %s\n", domain ? domain : "",
			message);
		abort();
	}
}

static void *
fuzz_count_cb(void *object, void *a, void *b)
{
	(*(int *) a)++;
	return NULL;
}

/* Live VipsObjects: 0 between inputs, since the operation cache is off. */
static int
fuzz_live_objects(void)
{
	int n = 0;

	vips_object_map(fuzz_count_cb, &n, NULL);
	return n;
}

/* After each input: libvips' leak report would be empty. */
static void
fuzz_check_vips(void)
{
	int n = fuzz_live_objects();

	if (n > 0) {
		fprintf(stderr, "fuzz: %d VipsObjects alive after the input:\n", n);
		vips_object_print_all();
		abort();
	}
	/* libvips' own decoders leave warnings in its error buffer on success
	 * (libjpeg's "Corrupt JPEG data: … extraneous bytes"), so text there
	 * is not a finding; clear it so that it cannot pile up */
	vips_error_clear();
}

static void
fuzz_write_file(const char *name, const void *data, size_t size)
{
	if (!g_file_set_contents(name, data, size, NULL)) {
		fprintf(stderr, "fuzz: cannot write %s/%s\n", fuzz_dir, name);
		abort();
	}
}

/* Whether @data names /dev, /proc or /sys once the bytes in @ignored are
 * removed (quotes and the like can join "/de" and "v"): such inputs are
 * skipped, so that a fuzzer cannot make slidepipe read /dev/zero. */
G_GNUC_UNUSED static gboolean
fuzz_names_system_files(const guint8 *data, size_t size, const char *ignored)
{
	GString *s = g_string_sized_new(size);
	gboolean found;

	for (size_t i = 0; i < size; i++)
		if (!data[i] || !strchr(ignored, data[i]))
			g_string_append_c(s, data[i] ? data[i] : ' ');
	found = strstr(s->str, "/dev") || strstr(s->str, "/proc") ||
		strstr(s->str, "/sys");
	g_string_free(s, TRUE);
	return found;
}

/* Fixtures in the scratch directory, made with libvips: s.tif (300 × 200
 * RGB, tiled 64², JPEG, a 2-level pyramid, 0.5 µm per pixel), g.png (1-band,
 * 40 × 30) and p.csv (an overlay CSV with scores). */
static void
fuzz_make_fixtures(void)
{
	VipsImage *xy, *x, *y, *sum, *bands[3], *rgb, *u, *g;
	static const char csv[] = "x,y,w,h,score\n0,0,100,100,0.25\n"
							  "100,0,100,100,0.75\n";

	if (vips_xyz(&xy, 300, 200, NULL) ||
		vips_extract_band(xy, &x, 0, NULL) ||
		vips_extract_band(xy, &y, 1, NULL) || vips_add(x, y, &sum, NULL))
		goto fail;
	bands[0] = x;
	bands[1] = y;
	bands[2] = sum;
	if (vips_bandjoin(bands, &rgb, 3, NULL) || vips_cast_uchar(rgb, &u, NULL))
		goto fail;
	u->Type = VIPS_INTERPRETATION_sRGB;
	if (vips_tiffsave(u, "s.tif", "tile", TRUE, "tile_width", 64,
			"tile_height", 64, "pyramid", TRUE, "compression",
			VIPS_FOREIGN_TIFF_COMPRESSION_JPEG, "Q", 75, "resunit",
			VIPS_FOREIGN_TIFF_RESUNIT_CM, "xres", 2000.0, "yres", 2000.0,
			NULL))
		goto fail;
	if (vips_crop(x, &g, 0, 0, 40, 30, NULL))
		goto fail;
	VipsImage *gu;
	if (vips_cast_uchar(g, &gu, NULL) || vips_pngsave(gu, "g.png", NULL))
		goto fail;
	g_object_unref(gu);
	g_object_unref(g);
	g_object_unref(u);
	g_object_unref(rgb);
	g_object_unref(sum);
	g_object_unref(y);
	g_object_unref(x);
	g_object_unref(xy);
	fuzz_write_file("p.csv", csv, sizeof(csv) - 1);
	return;
fail:
	fprintf(stderr, "fuzz: cannot make fixtures: %s\n", vips_error_buffer());
	abort();
}

static int
fuzz_unlink_cb(const char *path, const struct stat *st, int flag,
	struct FTW *ftw)
{
	remove(path);
	return 0;
}

/* rm -rf, without a shell per input */
static void
fuzz_remove_dir(const char *dir)
{
	nftw(dir, fuzz_unlink_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void
fuzz_atexit(void)
{
	if (fuzz_dir)
		fuzz_remove_dir(fuzz_dir);
}

/* Into the scratch directory for one input, and back. */
static void
fuzz_enter(void)
{
	if (fchdir(fuzz_dir_fd) != 0)
		abort();
}

static void
fuzz_leave(void)
{
	if (fchdir(fuzz_home_fd) != 0)
		abort();
}

/* A libvips module folder holding only the OpenSlide loader, as VIPSHOME
 * sees it ($VIPSHOME/<last part of libdir>/vips-modules-M.N): fewer
 * third-party loaders (ImageMagick would sniff and decode anything), a
 * faster start, and none of libhwy's CPU probing (jxl). */
static void
fuzz_openslide_only(void)
{
#ifdef SP_VIPS_LIBDIR
	g_autofree char *last = g_path_get_basename(SP_VIPS_LIBDIR);
	g_autofree char *modules = g_strdup_printf("vips-modules-%d.%d",
		VIPS_MAJOR_VERSION, VIPS_MINOR_VERSION);
	g_autofree char *home = g_build_filename(fuzz_dir, "vipshome", NULL);
	g_autofree char *dir = g_build_filename(home, last, modules, NULL);
	g_autofree char *target = g_build_filename(SP_VIPS_LIBDIR, modules,
		"vips-openslide.so", NULL);
	g_autofree char *link = g_build_filename(dir, "vips-openslide.so", NULL);

	if (g_getenv("VIPSHOME"))
		return;
	if (g_mkdir_with_parents(dir, 0700) != 0 ||
		(g_file_test(target, G_FILE_TEST_EXISTS) && symlink(target, link))) {
		fprintf(stderr, "fuzz: cannot make %s\n", dir);
		abort();
	}
	g_setenv("VIPSHOME", home, TRUE);
#endif
}

/* Starts slidepipe for fuzzing and makes the scratch directory. */
static void
fuzz_init(const char *argv0)
{
	GError *error = NULL;

	if (!(fuzz_dir = g_dir_make_tmp("sp-fuzz-XXXXXX", &error)) ||
		(fuzz_home_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
		(fuzz_dir_fd = open(fuzz_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) <
			0) {
		fprintf(stderr, "fuzz: no scratch directory\n");
		abort();
	}
	atexit(fuzz_atexit);
	g_setenv("VIPS_WARNING", "0", TRUE);
	fuzz_openslide_only();
	if (!sp_init(argv0, &error)) {
		fprintf(stderr, "fuzz: %s\n", error->message);
		abort();
	}
	/* criticals are judged in fuzz_quiet_log(), also when G_DEBUG makes
	 * them fatal (make check) */
	g_log_set_always_fatal(G_LOG_FATAL_MASK);
	g_log_set_default_handler(fuzz_quiet_log, NULL);
	vips_concurrency_set(1);
	vips_cache_set_max(0);
	fuzz_enter();
	fuzz_make_fixtures();
	fuzz_leave();
}

#endif /* SP_FUZZ_COMMON_H */
