/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Workarounds for bugs and gaps of the libvips release slidepipe builds on
 * (Debian 12's 8.14.1), gathered in one place. Each is gated on the
 * release that fixes it, so a newer libvips drops it at compile time;
 * where no fixing release is known, the gate says "until a release that
 * fixes it" and stays on: check again when moving to a new libvips.
 * Included by sp-private.h. Not installed.
 */
#ifndef SP_COMPAT_H
#define SP_COMPAT_H

#include <vips/vips.h>

G_BEGIN_DECLS

/* TRUE when the libvips compiled against is older than MAJOR.MINOR.MICRO. */
#define SP_VIPS_BEFORE(major, minor, micro) \
	(VIPS_MAJOR_VERSION < (major) || \
		(VIPS_MAJOR_VERSION == (major) && \
			(VIPS_MINOR_VERSION < (minor) || \
				(VIPS_MINOR_VERSION == (minor) && \
					VIPS_MICRO_VERSION < (micro)))))

/* No g_autoptr() cleanups for libvips' types: they came in 8.16. */
#if SP_VIPS_BEFORE(8, 16, 0)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VipsImage, g_object_unref)
#endif

/* Pyramidal tiffsave crashes when anything fails half way (a tile that
 * cannot be computed, a write that fails): its error path frees the lower
 * levels' temporary targets before TIFFClose() flushes into them (use
 * after free, libvips issue 3411, fixed in 8.14.3).
 * src/writer/vips-tiff.c then lets nothing fail inside tiffsave. */
#define SP_VIPS_TIFFSAVE_FAILURE_CRASHES SP_VIPS_BEFORE(8, 14, 3)

/* openslideload(associated=) crashes computing the pixels (libvips PR
 * 3384, fixed in 8.14.2); src/slide.c reads the images attached to the
 * slide's header instead. */
#define SP_VIPS_OPENSLIDE_ASSOCIATED_CRASHES SP_VIPS_BEFORE(8, 14, 2)

/* A tiffsave with subifd=TRUE makes a pyramid whatever pyramid= says
 * (format=ome pyramid=false wrote SubIFD levels); until a release that
 * fixes it, subifd is passed only with pyramid. */
#define SP_VIPS_SUBIFD_FORCES_PYRAMID 1

/* Pyramidal tiffsave spools every level below the first to a temporary
 * file in $TMPDIR, and when that file cannot be created it carries on
 * with a NULL target and crashes (SIGSEGV). Until a release that fixes it
 * (libvips PR 4349, on the 8.16 branch, reworks this path; not checked
 * here), _sp_vips_check_temp_dir() tries the directory first. */
#define SP_VIPS_PYRAMID_TEMP_CRASHES 1

/* tiffsave with compression=webp crashes (SIGSEGV) on a 1- or 2-band
 * image instead of failing; until a release that fixes it, the TIFF
 * writer refuses such images itself (WebP holds 3 or 4 bands). */
#define SP_VIPS_WEBP_FEW_BANDS_CRASHES 1

/* vips_sink_tile() can end early and still return 0: a tile cache
 * upstream (the line cache behind a JPEG or PNG load) that fails to
 * compute a tile blacks it out and asks the sink to stop, leaving the
 * reason in the error buffer. Until a release that fixes it, the pyramid
 * writer counts the tiles it got: a truncated JPEG gave a "finished" file
 * of black tiles and exit status 0. */
#define SP_VIPS_SINK_ENDS_EARLY_SILENTLY 1

/* vips_foreign_find_load() returns loaders that vips_block_untrusted_set()
 * has blocked, and loading then fails with only "operation is blocked";
 * until a release that fixes it, src/slide.c checks the loader's flags
 * first. */
#define SP_VIPS_FIND_LOAD_IGNORES_BLOCK 1

/* Checks that libvips' pyramidal tiffsave can make its temporary files
 * (SP_VIPS_PYRAMID_TEMP_CRASHES): a file made in $TMPDIR (/tmp when
 * unset) and removed. SP_ERROR_IO naming @op and @name, and saying to set
 * TMPDIR, when it cannot. Always TRUE once libvips is fixed. */
gboolean
_sp_vips_check_temp_dir(const char *op, const char *name, GError **error);

/* Whether a vips_sink_tile() that returned 0 after delivering @got of the
 * @expected tiles lost some (SP_VIPS_SINK_ENDS_EARLY_SILENTLY). */
static inline gboolean
_sp_vips_sink_lost_tiles(int got, int expected)
{
#if SP_VIPS_SINK_ENDS_EARLY_SILENTLY
	return got != expected;
#else
	return FALSE;
#endif
}

G_END_DECLS

#endif /* SP_COMPAT_H */
