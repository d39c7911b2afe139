/* Start-up, errors, atomic output files. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sp-private.h"

G_DEFINE_QUARK(slidepipe-error-quark, sp_error)

gboolean
sp_init(const char *argv0, GError **error)
{
	static gsize done = 0;

	if (g_once_init_enter(&done)) {
		gboolean ok = vips_init(argv0 ? argv0 : "slidepipe") == 0;

		if (ok)
			sp_tiffread_get_type();
		g_once_init_leave(&done, ok ? 1 : 2);
	}
	if (done != 1) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"cannot start libvips: %s", vips_error_buffer());
		return FALSE;
	}
	return TRUE;
}

const char *
sp_version(void)
{
	return PACKAGE_VERSION;
}

void
_sp_set_vips_error(GError **error, const char *op, const char *what)
{
	g_autofree char *text = g_strdup(vips_error_buffer());

	vips_error_clear();
	g_strstrip(text);
	/* one line: libvips may stack several */
	for (char *p = text; *p; p++)
		if (*p == '\n')
			*p = ' ';
	g_set_error(error, SP_ERROR, SP_ERROR_FAILED, "%s: '%s': %s", op, what,
		*text ? text : "libvips failed");
}

gboolean
_sp_check_output_path(const char *op, const char *path, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': it is a directory", op, path);
		return FALSE;
	}
	if (stat(dir, &st) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': directory '%s': %s", op, path, dir,
			g_strerror(err));
		return FALSE;
	}
	if (!S_ISDIR(st.st_mode)) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': '%s' is not a directory", op, path, dir);
		return FALSE;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': directory '%s': %s", op, path, dir,
			g_strerror(err));
		return FALSE;
	}
	return TRUE;
}

/* Temporary outputs in flight, for the signal handler. A fixed table so
 * the handler reads it without locks or allocation. */
#define MAX_PENDING 256
static char *volatile pending[MAX_PENDING];
static GMutex pending_lock;

struct _SpAtomicFile {
	char *op;
	char *path;
	char *temp;
	int slot;
};

SpAtomicFile *
_sp_atomic_file_new(const char *op, const char *path, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *base = g_path_get_basename(path);
	g_autofree char *tmpl = NULL;
	SpAtomicFile *af;
	int fd;

	if (!_sp_check_output_path(op, path, error))
		return NULL;
	/* a hidden name in the same directory, so rename() is atomic */
	tmpl = g_strdup_printf("%s/.%s.XXXXXX.sp-tmp", dir, base);
	fd = g_mkstemp_full(tmpl, O_RDWR | O_CLOEXEC, 0666);
	if (fd < 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': %s", op, path, g_strerror(err));
		return NULL;
	}
	close(fd);
	/* g_mkstemp makes the file 0600; give it the permissions a newly
	 * created file would have */
	mode_t mask = umask(0);
	umask(mask);
	chmod(tmpl, 0666 & ~mask);

	af = g_new0(SpAtomicFile, 1);
	af->op = g_strdup(op);
	af->path = g_strdup(path);
	af->temp = g_steal_pointer(&tmpl);
	af->slot = -1;
	g_mutex_lock(&pending_lock);
	for (int i = 0; i < MAX_PENDING; i++)
		if (!pending[i]) {
			pending[i] = af->temp;
			af->slot = i;
			break;
		}
	g_mutex_unlock(&pending_lock);
	return af;
}

const char *
_sp_atomic_file_temp_path(SpAtomicFile *af)
{
	return af->temp;
}

static void
atomic_file_free(SpAtomicFile *af)
{
	if (af->slot >= 0) {
		g_mutex_lock(&pending_lock);
		pending[af->slot] = NULL;
		g_mutex_unlock(&pending_lock);
	}
	g_free(af->op);
	g_free(af->path);
	g_free(af->temp);
	g_free(af);
}

gboolean
_sp_atomic_file_commit(SpAtomicFile *af, GError **error)
{
	if (rename(af->temp, af->path) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot rename the finished output to '%s': %s", af->op,
			af->path, g_strerror(err));
		unlink(af->temp);
		atomic_file_free(af);
		return FALSE;
	}
	atomic_file_free(af);
	return TRUE;
}

void
_sp_atomic_file_abort(SpAtomicFile *af)
{
	if (!af)
		return;
	unlink(af->temp);
	atomic_file_free(af);
}

gboolean
_sp_atomic_file_write(const char *op, const char *path, const void *data,
	size_t length, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *base = g_path_get_basename(path);
	SpAtomicFile af = { (char *) op, (char *) path, NULL, -1 };
	const char *p = data;
	int fd, err = 0;

	af.temp = g_strdup_printf("%s/.%s.XXXXXX.sp-tmp", dir, base);
	/* unlike g_mkstemp(), the mode is a new file's, less the umask */
	if ((fd = g_mkstemp_full(af.temp, O_WRONLY | O_CLOEXEC, 0666)) < 0) {
		err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO, "%s: cannot write '%s': %s",
			op, path, g_strerror(err));
		g_free(af.temp);
		return FALSE;
	}
	g_mutex_lock(&pending_lock);
	for (int i = 0; i < MAX_PENDING; i++)
		if (!pending[i]) {
			pending[i] = af.temp;
			af.slot = i;
			break;
		}
	g_mutex_unlock(&pending_lock);
	while (length > 0) {
		ssize_t n = write(fd, p, length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : ENOSPC;
			break;
		}
		p += n;
		length -= n;
	}
	if (close(fd) != 0 && !err)
		err = errno;
	if (!err && rename(af.temp, path) != 0)
		err = errno;
	if (err) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO, "%s: cannot write '%s': %s",
			op, path, g_strerror(err));
		unlink(af.temp);
	}
	if (af.slot >= 0) {
		g_mutex_lock(&pending_lock);
		pending[af.slot] = NULL;
		g_mutex_unlock(&pending_lock);
	}
	g_free(af.temp);
	return err == 0;
}

void
sp_remove_partial_outputs(void)
{
	for (int i = 0; i < MAX_PENDING; i++) {
		char *p = pending[i];
		if (p)
			unlink(p);
	}
}
