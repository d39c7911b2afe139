/* Start-up, errors, atomic output files. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sp-private.h"

G_DEFINE_QUARK(slidepipe-error-quark, sp_error)

static gsize init_done = 0; /* 0: not yet, 1: started, 2: libvips failed */

gboolean
sp_init(const char *argv0, GError **error)
{
	if (g_once_init_enter(&init_done)) {
		gboolean ok = vips_init(argv0 ? argv0 : "slidepipe") == 0;

		if (ok)
			sp_tiffread_get_type();
		const char *trusted = g_getenv("SLIDEPIPE_TRUSTED_ONLY");
		/* not sp_set_trusted_only(), which would wait for this once */
		if (ok && trusted && *trusted && strcmp(trusted, "0") != 0)
			vips_block_untrusted_set(TRUE);
		g_once_init_leave(&init_done, ok ? 1 : 2);
	}
	if (init_done != 1) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"cannot start libvips: %s", vips_error_buffer());
		return FALSE;
	}
	return TRUE;
}

gboolean
_sp_ensure_init(GError **error)
{
	/* the common case without a call: already started */
	if (g_atomic_pointer_get(&init_done) == 1)
		return TRUE;
	return sp_init(NULL, error);
}

void
sp_set_trusted_only(gboolean trusted_only)
{
	_sp_ensure_init(NULL);
	vips_block_untrusted_set(trusted_only);
}

const char *
sp_version(void)
{
	return PACKAGE_VERSION;
}

gboolean
_sp_parse_number(const char *text, double min, double max, double *out)
{
	char *end;
	double d;

	if (!text)
		return FALSE;
	while (g_ascii_isspace(*text))
		text++;
	if (!*text)
		return FALSE;
	errno = 0;
	d = g_ascii_strtod(text, &end);
	if (end == text || errno == ERANGE || !isfinite(d) || d < min ||
		d > max)
		return FALSE;
	while (g_ascii_isspace(*end))
		end++;
	if (*end)
		return FALSE;
	*out = d;
	return TRUE;
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
		*text ? text :
				"libvips failed without saying why (damaged or "
				"unsupported data?)");
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
	int fd;   /* open, holding a flock(2), while the save runs */
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
	/* a hidden name in the same directory, so rename() is atomic; made
	 * 0666 less the umask, the permissions a new file gets. (Reading the
	 * umask with umask() to chmod the file instead raced between batch
	 * rows, leaving outputs 0666.) */
	tmpl = g_strdup_printf("%s/.%s.XXXXXX.sp-tmp", dir, base);
	fd = g_mkstemp_full(tmpl, O_RDWR | O_CLOEXEC, 0666);
	if (fd < 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': %s", op, path, g_strerror(err));
		return NULL;
	}
	/* the lock says "in progress" to _sp_remove_stale_temps() in other
	 * processes; the kernel drops it when this process dies, however */
	flock(fd, LOCK_EX | LOCK_NB);

	af = g_new0(SpAtomicFile, 1);
	af->op = g_strdup(op);
	af->path = g_strdup(path);
	af->temp = g_steal_pointer(&tmpl);
	af->slot = -1;
	af->fd = fd;
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
	if (af->fd >= 0)
		close(af->fd);
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
	SpAtomicFile af = { (char *) op, (char *) path, NULL, -1, -1 };
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

#define PRINTABLE_MAX 1000

static GString *
escape_text(const char *text)
{
	GString *s = g_string_new(NULL);
	const char *p = text ? text : "", *end = p + strlen(p);

	while (p < end) {
		gunichar c = g_utf8_get_char_validated(p, end - p);

		if (c == (gunichar) -1 || c == (gunichar) -2) {
			g_string_append_printf(s, "\\x%02x", (guchar) *p);
			p++;
			continue;
		}
		if (c == '\n')
			g_string_append(s, "\\n");
		else if (c == '\r')
			g_string_append(s, "\\r");
		else if (c == '\t')
			g_string_append(s, "\\t");
		else if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
			g_string_append_printf(s, "\\x%02x", c);
		/* invisible characters (a byte order mark, zero-width spaces,
		 * direction overrides, line separators) would make the text
		 * look like something it is not */
		else if (g_unichar_type(c) == G_UNICODE_FORMAT ||
			g_unichar_type(c) == G_UNICODE_LINE_SEPARATOR ||
			g_unichar_type(c) == G_UNICODE_PARAGRAPH_SEPARATOR)
			g_string_append_printf(s, "\\u%04x", c);
		else
			g_string_append_len(s, p, g_utf8_next_char(p) - p);
		p = g_utf8_next_char(p);
	}
	return s;
}

char *
sp_escape_text(const char *text)
{
	return g_string_free(escape_text(text), FALSE);
}

char *
sp_printable(const char *text)
{
	GString *s = escape_text(text);

	if (s->len > PRINTABLE_MAX) {
		/* cut on character boundaries: the text is valid UTF-8 now */
		const char *head_end = g_utf8_find_prev_char(s->str,
			s->str + PRINTABLE_MAX / 2 + 1);
		const char *tail = g_utf8_find_next_char(
			s->str + s->len - PRINTABLE_MAX / 2 - 1, NULL);
		g_autofree char *cut = g_strdup_printf(" … [%" G_GSIZE_FORMAT
			" bytes] … ", (gsize) (tail - head_end));
		GString *t = g_string_new_len(s->str, head_end - s->str);

		g_string_append(t, cut);
		g_string_append(t, tail);
		g_string_free(s, TRUE);
		s = t;
	}
	return g_string_free(s, FALSE);
}

void
_sp_remove_stale_temps(const char *path)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *base = g_path_get_basename(path);
	g_autofree char *prefix = g_strdup_printf(".%s.", base);
	size_t n = strlen(prefix);
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		/* ".NAME." + six characters + ".sp-tmp" */
		if (strlen(name) != n + 13 || strncmp(name, prefix, n) != 0 ||
			strcmp(name + n + 6, ".sp-tmp") != 0)
			continue;
		g_autofree char *temp = g_build_filename(dir, name, NULL);
		int fd = open(temp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

		if (fd < 0)
			continue;
		/* unlocked: its writer is gone (killed, or the machine went
		 * down); locked: a save in progress, left alone */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			unlink(temp);
		close(fd);
	}
	if (d)
		g_dir_close(d);
}

/* libvips' pyramidal tiffsave spools the lower levels to temporary files
 * "$TMPDIR/vips-N-NNNN.target" that it unlinks only when it closes them,
 * so a save killed by a signal left them behind, a third of the output's
 * size each time. They are open in this process: find them through
 * /proc/self/fd. Async-signal-safe: readlink(2) and unlink(2) only. */
static void
remove_vips_temps(void)
{
	static const char suffix[] = ".target";
	char link[32] = "/proc/self/fd/";
	char target[4096];

	for (int fd = 3; fd < 4096; fd++) {
		char digits[12];
		int n = 0, len = 14;

		for (int v = fd; v > 0; v /= 10)
			digits[n++] = '0' + v % 10;
		while (n > 0)
			link[len++] = digits[--n];
		link[len] = '\0';

		ssize_t t = readlink(link, target, sizeof(target) - 1);
		if (t <= (ssize_t) sizeof(suffix))
			continue;
		target[t] = '\0';
		const char *base = strrchr(target, '/');
		if (base && strncmp(base, "/vips-", 6) == 0 &&
			strcmp(target + t - (sizeof(suffix) - 1), suffix) == 0)
			unlink(target);
	}
}

void
sp_remove_partial_outputs(void)
{
	for (int i = 0; i < MAX_PENDING; i++) {
		char *p = pending[i];
		if (p)
			unlink(p);
	}
	remove_vips_temps();
}
