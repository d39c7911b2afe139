/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Workarounds for the libvips release slidepipe builds on: see
 * compat.h for each one and the release that fixes it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "sp-private.h"

gboolean
_sp_vips_check_temp_dir(const char *op, const char *name, GError **error)
{
#if SP_VIPS_PYRAMID_TEMP_CRASHES
	/* vips__temp_name(): $TMPDIR, /tmp when unset */
	const char *env = g_getenv("TMPDIR");
	const char *dir = !env ? "/tmp" : *env ? env : ".";
	g_autofree char *tmpl = g_build_filename(dir, ".sp-tmpdir-XXXXXX",
		NULL);
	int fd = g_mkstemp_full(tmpl, O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': the TIFF pyramid writer keeps the "
			"lower levels in temporary files in %s '%s': %s; set TMPDIR "
			"to a writable directory",
			op, name, env ? "TMPDIR" : "the temporary directory",
			dir, g_strerror(err));
		return FALSE;
	}
	close(fd);
	unlink(tmpl);
#endif
	return TRUE;
}
