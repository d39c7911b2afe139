/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Start-up, errors, atomic output files. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_PATH, openat2 */
#endif
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <linux/openat2.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sp-private.h"

G_DEFINE_QUARK(slidepipe - error - quark, sp_error)

static gsize init_done = 0; /* 0: not yet, 1: started, 2: libvips failed */

gboolean
sp_init(const char *argv0, GError **error)
{
	if (g_once_init_enter(&init_done)) {
		gboolean ok = vips_init(argv0 ? argv0 : "slidepipe") == 0;

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

char *
_sp_format_double(double d)
{
	char buf[G_ASCII_DTOSTR_BUF_SIZE];

	return g_strdup(g_ascii_formatd(buf, sizeof(buf), "%.10g", d));
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

/* libvips 8.14 keeps one error buffer for the process. Batch rows fail
 * in parallel, so the buffer can hold several rows' messages when one
 * row reads it. Each running graph registers the files it reads and
 * writes; a reader takes the lines that name its own graph's files and
 * the lines that name no registered file, and leaves the lines naming
 * only other graphs' files in the buffer for them. A line that names no
 * file can still go to the wrong row: that is the limit of one buffer. */
typedef struct {
	gconstpointer owner;
	char *name;
} FlightName;

static GMutex vips_error_lock;
static GArray *names_in_flight; /* FlightName, under the lock */
/* the graph the calling thread runs, if any: its lines are the thread's */
static GPrivate thread_owner;

void
_sp_vips_error_names_add(gconstpointer owner, const char *name)
{
	if (!name || !*name)
		return;
	g_mutex_lock(&vips_error_lock);
	if (!names_in_flight)
		names_in_flight = g_array_new(FALSE, FALSE, sizeof(FlightName));
	FlightName f = { owner, g_strdup(name) };
	g_array_append_val(names_in_flight, f);
	g_mutex_unlock(&vips_error_lock);
	g_private_set(&thread_owner, (gpointer) owner);
}

/* Sorts @line, under the lock: TRUE when it is for @owners (a reader
 * whose graphs are these; none: a reader outside any graph). */
static gboolean
line_is_ours(const char *line, GPtrArray *owners)
{
	gboolean named = FALSE;

	for (guint i = 0; names_in_flight && i < names_in_flight->len; i++) {
		FlightName *f = &g_array_index(names_in_flight, FlightName, i);

		if (!strstr(line, f->name))
			continue;
		if (owners && g_ptr_array_find(owners, f->owner, NULL))
			return TRUE;
		named = TRUE;
	}
	return !named;
}

/* Takes the lines for @owners; under the lock. */
static char *
take_lines(GPtrArray *owners)
{
	GString *ours = g_string_new(NULL);
	GPtrArray *theirs = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *all = vips_error_buffer_copy(); /* and clears it */
	g_auto(GStrv) lines = g_strsplit(all ? all : "", "\n", -1);

	for (int i = 0; lines[i]; i++) {
		char *line = g_strstrip(lines[i]);

		if (!*line)
			continue;
		if (line_is_ours(line, owners)) {
			if (ours->len)
				g_string_append_c(ours, ' ');
			g_string_append(ours, line);
		} else
			g_ptr_array_add(theirs, g_strdup(line));
	}
	for (guint i = 0; i < theirs->len; i++)
		vips_error(NULL, "%s", (char *) g_ptr_array_index(theirs, i));
	g_ptr_array_free(theirs, TRUE);
	return g_string_free(ours, FALSE);
}

void
_sp_vips_error_names_remove(gconstpointer owner)
{
	g_mutex_lock(&vips_error_lock);
	if (names_in_flight) {
		/* lines left for @owner go with it */
		g_autoptr(GPtrArray) owners = g_ptr_array_new();
		g_ptr_array_add(owners, (gpointer) owner);
		g_free(take_lines(owners));
		for (guint i = names_in_flight->len; i-- > 0;) {
			FlightName *f = &g_array_index(names_in_flight,
				FlightName, i);

			if (f->owner == owner) {
				g_free(f->name);
				g_array_remove_index_fast(names_in_flight, i);
			}
		}
	}
	g_mutex_unlock(&vips_error_lock);
	if (g_private_get(&thread_owner) == owner)
		g_private_set(&thread_owner, NULL);
}

char *
_sp_vips_error_take(const char *mine)
{
	g_autoptr(GPtrArray) owners = g_ptr_array_new();
	char *text;

	if (g_private_get(&thread_owner))
		g_ptr_array_add(owners, g_private_get(&thread_owner));
	g_mutex_lock(&vips_error_lock);
	for (guint i = 0; mine && names_in_flight && i < names_in_flight->len;
		i++) {
		FlightName *f = &g_array_index(names_in_flight, FlightName, i);

		if (strcmp(f->name, mine) == 0)
			g_ptr_array_add(owners, (gpointer) f->owner);
	}
	text = take_lines(owners);
	g_mutex_unlock(&vips_error_lock);
	return text;
}

void
_sp_set_vips_error(GError **error, const char *op, const char *what)
{
	/* one line: libvips may stack several */
	g_autofree char *text = _sp_vips_error_take(what);

	g_set_error(error, SP_ERROR, SP_ERROR_FAILED, "%s: '%s': %s", op, what,
		*text ? text :
			"libvips failed without saying why (damaged or "
			"unsupported data?)");
}

/* ------------------------------------------------------------------ */
/* Where outputs are created                                            */

/* A batch's --out-dir, opened once: every output of a graph that has a
 * root is created through its directory file descriptor, beneath it,
 * never through a symbolic link or "..", whatever the path says. */
struct _SpOutRoot {
	gint ref_count;
	char *path; /* for messages */
	int fd; /* O_PATH directory, or -1: not there (dry run) */
	gboolean confine; /* FALSE: --allow-any-path */
	GMutex lock;
	GHashTable *cleaned; /* "dev:ino" of directories cleaned of stale temps */
};

static gboolean
proc_fd_usable(void)
{
	static gsize state = 0;

	if (g_once_init_enter(&state))
		g_once_init_leave(&state,
			access("/proc/self/fd", X_OK) == 0 ? 1 : 2);
	return state == 1;
}

SpOutRoot *
_sp_out_root_new(const char *dir, gboolean confine, GError **error)
{
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	SpOutRoot *root;

	if (fd < 0 && errno != ENOENT) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"batch: cannot open --out-dir '%s': %s", dir,
			g_strerror(err));
		return NULL;
	}
	root = g_new0(SpOutRoot, 1);
	root->ref_count = 1;
	root->path = g_strdup(dir);
	root->fd = fd;
	root->confine = confine;
	g_mutex_init(&root->lock);
	root->cleaned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
		NULL);
	return root;
}

SpOutRoot *
_sp_out_root_ref(SpOutRoot *root)
{
	g_atomic_int_inc(&root->ref_count);
	return root;
}

void
_sp_out_root_unref(SpOutRoot *root)
{
	if (!root || !g_atomic_int_dec_and_test(&root->ref_count))
		return;
	if (root->fd >= 0)
		close(root->fd);
	g_hash_table_destroy(root->cleaned);
	g_mutex_clear(&root->lock);
	g_free(root->path);
	g_free(root);
}

void
_sp_graph_set_out_root(SpGraph *graph, SpOutRoot *root)
{
	SpOutRoot *old = graph->out_root;

	graph->out_root = root ? _sp_out_root_ref(root) : NULL;
	_sp_out_root_unref(old);
}

void
_sp_graph_set_batch_row(SpGraph *graph, gboolean batch_row)
{
	graph->batch_row = batch_row;
}

char *
_sp_path_normalize(const char *path)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);
	GPtrArray *kept = g_ptr_array_new();
	gboolean absolute = path[0] == '/';
	int ups = 0;

	for (int i = 0; parts[i]; i++) {
		if (!*parts[i] || strcmp(parts[i], ".") == 0)
			continue;
		if (strcmp(parts[i], "..") == 0) {
			if (kept->len > 0)
				g_ptr_array_remove_index(kept, kept->len - 1);
			else if (!absolute)
				ups++;
			continue;
		}
		g_ptr_array_add(kept, parts[i]);
	}
	GString *s = g_string_new(absolute ? "/" : NULL);
	for (int i = 0; i < ups; i++)
		g_string_append(s, s->len ? "/.." : "..");
	for (guint i = 0; i < kept->len; i++) {
		if (s->len && s->str[s->len - 1] != '/')
			g_string_append_c(s, '/');
		g_string_append(s, g_ptr_array_index(kept, i));
	}
	g_ptr_array_free(kept, TRUE);
	if (s->len == 0)
		g_string_append_c(s, '.');
	return g_string_free(s, FALSE);
}

/* Why opening component @name in @dirfd as a directory failed. */
static void
set_walk_error(GError **error, const char *op, const char *path, int dirfd,
	const char *name, int err)
{
	struct stat st;

	if (err == ENOTDIR || err == ELOOP) {
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			S_ISLNK(st.st_mode)) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: cannot write '%s': '%s' on its way is a symbolic "
				"link, and outputs must stay under --out-dir (or give "
				"--allow-any-path)",
				op, path, name);
			return;
		}
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': '%s' is not a directory", op,
			path, name);
		return;
	}
	g_set_error(error, SP_ERROR, SP_ERROR_IO,
		"%s: cannot write '%s': directory '%s': %s", op, path, name,
		g_strerror(err));
}

/* Walks @dirs (NULL-terminated components) from @fd one at a time,
 * never following a symbolic link when @root confines, making the
 * missing ones when @create. Returns a new O_PATH descriptor, -1 with
 * @error, or -1 without it when a component is missing and !@create. */
static int
walk_dirs(SpOutRoot *root, int fd, char **dirs, gboolean create, const char *op,
	const char *path, GError **error)
{
	int flags = O_PATH | O_DIRECTORY | O_CLOEXEC |
		(root->confine ? O_NOFOLLOW : 0);

	fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	for (int i = 0; fd >= 0 && dirs[i]; i++) {
		int next = openat(fd, dirs[i], flags);

		if (next < 0 && errno == ENOENT && create &&
			(mkdirat(fd, dirs[i], 0777) == 0 || errno == EEXIST))
			next = openat(fd, dirs[i], flags);
		if (next < 0) {
			int err = errno;
			if (err != ENOENT || create)
				set_walk_error(error, op, path, fd, dirs[i],
					err);
			close(fd);
			return -1;
		}
		close(fd);
		fd = next;
	}
	return fd;
}

/* The directory that will hold @path (beneath @graph's root if it has
 * one, else where the path says) as an O_PATH descriptor, and the final
 * component in *@base. -1 with @error set; -1 with @error unset and
 * *@base set when a directory on the way does not exist yet and !@create
 * (a dry run: it would be made). */
static int
open_parent(SpGraph *graph, const char *op, const char *path, gboolean create,
	char **base, GError **error)
{
	SpOutRoot *root = graph ? graph->out_root : NULL;

	*base = NULL;
	if (!root) {
		g_autofree char *dir = g_path_get_dirname(path);
		struct stat st;
		int fd;

		if (stat(dir, &st) != 0) {
			int err = errno;
			g_set_error(error, SP_ERROR, SP_ERROR_IO,
				"%s: cannot write '%s': directory '%s': %s", op,
				path, dir, g_strerror(err));
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			g_set_error(error, SP_ERROR, SP_ERROR_IO,
				"%s: cannot write '%s': '%s' is not a directory",
				op, path, dir);
			return -1;
		}
		if ((fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
			int err = errno;
			g_set_error(error, SP_ERROR, SP_ERROR_IO,
				"%s: cannot write '%s': directory '%s': %s", op,
				path, dir, g_strerror(err));
			return -1;
		}
		*base = g_path_get_basename(path);
		if (strlen(*base) > NAME_MAX) {
			g_set_error(error, SP_ERROR, SP_ERROR_IO,
				"%s: cannot write '%s': %s (a name has at most %d bytes)",
				op, path, g_strerror(ENAMETOOLONG), NAME_MAX);
			g_clear_pointer(base, g_free);
			close(fd);
			return -1;
		}
		return fd;
	}

	g_autofree char *norm = NULL;
	if (root->confine) {
		if (g_path_is_absolute(path)) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: output '%s' is an absolute path; outputs must stay "
				"under --out-dir (or give --allow-any-path)",
				op, path);
			return -1;
		}
		norm = _sp_path_normalize(path);
		if (strcmp(norm, "..") == 0 || g_str_has_prefix(norm, "../")) {
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"%s: output '%s' leaves --out-dir through '..' (give "
				"--allow-any-path to allow it)",
				op, path);
			return -1;
		}
	} else
		norm = g_strdup(path);
	char *slash = strrchr(norm, '/');
	const char *last = slash ? slash + 1 : norm;
	if (!*last || strcmp(last, ".") == 0 || strcmp(last, "..") == 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: output '%s' names a directory, not a file", op,
			path);
		return -1;
	}
	*base = g_strdup(last);
	if (strlen(last) > NAME_MAX) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': %s (a name has at most %d bytes)",
			op, path, g_strerror(ENAMETOOLONG), NAME_MAX);
		g_clear_pointer(base, g_free);
		return -1;
	}
	if (slash == norm) /* "/name" (allowed only without confinement) */
		return open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (slash)
		*slash = '\0';
	const char *dir = slash ? norm : ".";

	if (root->fd < 0)
		return -1; /* --out-dir itself is still to be made (dry run) */
	if (root->confine) {
#ifdef SYS_openat2
		struct open_how how = {
			.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
				RESOLVE_NO_MAGICLINKS,
		};
		int fd = syscall(SYS_openat2, root->fd, dir, &how, sizeof(how));

		if (fd >= 0)
			return fd;
			/* ENOENT: made below; ENOSYS, EPERM (seccomp), E2BIG: an old
		 * kernel; ELOOP: a link, named below; all: walk it */
#endif
	}
	/* one component at a time; absolute paths (without confinement)
	 * start at / */
	g_auto(GStrv) dirs = g_strsplit(dir, "/", -1);
	GPtrArray *parts = g_ptr_array_new();
	for (int i = 0; dirs[i]; i++)
		if (*dirs[i] && strcmp(dirs[i], ".") != 0)
			g_ptr_array_add(parts, dirs[i]);
	g_ptr_array_add(parts, NULL);
	int start = g_path_is_absolute(dir) ?
		open("/", O_PATH | O_DIRECTORY | O_CLOEXEC) :
		fcntl(root->fd, F_DUPFD_CLOEXEC, 3);
	int fd = walk_dirs(root, start, (char **) parts->pdata, create, op,
		path, error);
	close(start);
	g_ptr_array_free(parts, TRUE);
	return fd;
}

/* A path to @name in directory @dirfd for libraries that open files by
 * name (libvips, libtiff): through /proc/self/fd, so it is the directory
 * already resolved. */
static char *
fd_path(int dirfd, const char *name)
{
	if (proc_fd_usable())
		return g_strdup_printf("/proc/self/fd/%d/%s", dirfd, name);
	char link[64];
	char target[4096];
	ssize_t n;

	g_snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	if ((n = readlink(link, target, sizeof(target) - 1)) > 0) {
		target[n] = '\0';
		return g_build_filename(target, name, NULL);
	}
	return g_strdup(name);
}

gboolean
_sp_output_lookup(SpGraph *graph, const char *path, struct stat *dir,
	struct stat *file, gboolean *has_file)
{
	g_autofree char *base = NULL;
	int fd = open_parent(graph, "save", path, FALSE, &base, NULL);
	gboolean ok;

	*has_file = FALSE;
	if (fd < 0)
		return FALSE;
	ok = fstat(fd, dir) == 0;
	*has_file = ok && fstatat(fd, base, file, 0) == 0;
	close(fd);
	return ok;
}

gboolean
_sp_out_root_stat(SpOutRoot *root, const char *path, struct stat *st)
{
	SpGraph graph = { .out_root = root };
	g_autofree char *base = NULL;
	int fd = open_parent(&graph, "batch", path, FALSE, &base, NULL);
	gboolean ok;

	if (fd < 0)
		return FALSE;
	ok = fstatat(fd, base, st, AT_SYMLINK_NOFOLLOW) == 0;
	close(fd);
	return ok;
}

gboolean
_sp_check_output_path(SpGraph *graph, const char *op, const char *path,
	GError **error)
{
	return _sp_check_output_path_replacing(graph, op, path, NULL, error);
}

gboolean
_sp_check_output_path_replacing(SpGraph *graph, const char *op,
	const char *path, SpReplaceable replaceable, GError **error)
{
	g_autofree char *base = NULL;
	GError *local = NULL;
	struct stat st;
	int fd = open_parent(graph, op, path, FALSE, &base, &local);

	if (fd < 0) {
		if (!local)
			return TRUE; /* its directory will be made */
		g_propagate_error(error, local);
		return FALSE;
	}
	if (fstatat(fd, base, &st, 0) == 0 && S_ISDIR(st.st_mode) &&
		!(replaceable && replaceable(fd, base))) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': it is a directory", op, path);
		close(fd);
		return FALSE;
	}
	g_autofree char *dir = fd_path(fd, "");
	if (access(dir, W_OK | X_OK) != 0) {
		int err = errno;
		g_autofree char *shown = g_path_get_dirname(path);
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': directory '%s': %s", op, path,
			shown, g_strerror(err));
		close(fd);
		return FALSE;
	}
	close(fd);
	return TRUE;
}

gboolean
_sp_output_replaceable(SpGraph *graph, const char *op, const char *path,
	SpReplaceable replaceable)
{
	g_autofree char *base = NULL;
	GError *local = NULL;
	struct stat st;
	int fd = open_parent(graph, op, path, FALSE, &base, &local);
	gboolean ok;

	g_clear_error(&local);
	if (fd < 0)
		return TRUE; /* nothing there; the save says why it cannot */
	ok = fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		replaceable(fd, base);
	close(fd);
	return ok;
}

/* ------------------------------------------------------------------ */
/* Temporary outputs in flight, for the signal handler                 */

/* A list that only grows, of nodes that are never freed: the handler
 * walks it without locks or allocation while other threads add to it
 * (by compare-and-swap on the head) and reuse nodes (by their state). */
typedef struct _Pending Pending;
struct _Pending {
	Pending *next;
	gint state; /* 0 free, 1 a temporary file's path, 2 being filled */
	int dirfd; /* the directory the path goes through */
	gsize cap;
	char path[];
};
static Pending *pending_head;
/* Set by the handler: no new temporary file from now on. */
static gint dying;
/* Threads between creating a temporary file and listing it: the handler
 * waits for them (briefly), or it could miss their file. */
static gint creating;
/* /dev/null, put in place of a dying save's directory descriptor, so the
 * libraries that open "/proc/self/fd/DIRFD/NAME" by name cannot create
 * the file again after the handler removed it */
static int null_fd = -1;

static Pending *
pending_add(const char *path, int dirfd)
{
	gsize len = strlen(path) + 1;
	Pending *p;

	for (p = g_atomic_pointer_get(&pending_head); p; p = p->next)
		if (p->cap >= len &&
			g_atomic_int_compare_and_exchange(&p->state, 0, 2)) {
			memcpy(p->path, path, len);
			p->dirfd = dirfd;
			g_atomic_int_set(&p->state, 1);
			return p;
		}
	p = g_malloc(sizeof(Pending) + MAX(len, 128));
	p->cap = MAX(len, 128);
	memcpy(p->path, path, len);
	p->dirfd = dirfd;
	p->state = 1;
	do
		p->next = g_atomic_pointer_get(&pending_head);
	while (!g_atomic_pointer_compare_and_exchange(&pending_head, p->next,
		p));
	return p;
}

static void
pending_remove(Pending *p)
{
	if (p)
		g_atomic_int_set(&p->state, 0);
}

/* ------------------------------------------------------------------ */
/* Atomic output files                                                  */

/* ".sp-" + 6 random characters + ".sp-tmp": the same length whatever the
 * output's name, so a name of NAME_MAX bytes still has a temporary one */
#define TEMP_PREFIX ".sp-"
#define TEMP_SUFFIX ".sp-tmp"
#define TEMP_LEN (4 + 6 + 7)

static gboolean
is_temp_name(const char *name)
{
	/* also the older ".NAME.XXXXXX.sp-tmp" */
	return name[0] == '.' && strlen(name) >= TEMP_LEN &&
		g_str_has_suffix(name, TEMP_SUFFIX);
}

/* Removes directory @name of @dirfd and the files in it (one level: what
 * a directory output holds), not following links. Async-signal-safe, for
 * the signal handler too: openat(2), getdents64(2) (no libc directory
 * stream, which allocates), unlinkat(2), lseek(2) and close(2) only. */
static void
remove_dir(int dirfd, const char *name)
{
	/* struct linux_dirent64's layout (getdents64(2)) */
	union {
		char bytes[4096];
		guint64 align;
	} ents;
	int fd = openat(dirfd, name,
		O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return;
	/* again from the start while a pass removed something: removing
	 * entries while reading the directory may hide others */
	for (int pass = 0, removed = 1; removed && pass < 8; pass++) {
		removed = 0;
		lseek(fd, 0, SEEK_SET);
		for (;;) {
			long got = syscall(SYS_getdents64, fd, ents.bytes,
				sizeof(ents.bytes));
			if (got <= 0)
				break;
			for (long at = 0; at + 19 < got;) {
				const char *e = ents.bytes + at;
				unsigned short reclen;
				memcpy(&reclen, e + 16, sizeof(reclen));
				const char *entry = e + 19;
				if (strcmp(entry, ".") != 0 &&
					strcmp(entry, "..") != 0 &&
					unlinkat(fd, entry, 0) == 0)
					removed = 1;
				if (reclen == 0)
					break;
				at += reclen;
			}
		}
	}
	close(fd);
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* A directory output's temporary directory NAME.d (see
 * _sp_atomic_file_commit_dir()) whose file NAME is gone or unlocked: its
 * writer died. Its files (one level) and itself are removed. */
static void
remove_stale_temp_dir(int dirfd, const char *name)
{
	g_autofree char *file = g_strndup(name, strlen(name) - 2);
	int t = openat(dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (t >= 0 && flock(t, LOCK_EX | LOCK_NB) != 0) {
		close(t); /* a save in progress */
		return;
	}
	remove_dir(dirfd, name);
	if (t >= 0) {
		unlinkat(dirfd, file, 0);
		close(t);
	}
}

/* Removes the temporary files in @dirfd that no process holds a lock on:
 * their writers died. Saves in progress, here or in another process,
 * hold theirs until they are done. */
static void
remove_stale_temps_at(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d))) {
		if (g_str_has_suffix(e->d_name, TEMP_SUFFIX ".d")) {
			remove_stale_temp_dir(dirfd, e->d_name);
			continue;
		}
		if (!is_temp_name(e->d_name))
			continue;
		int t = openat(dirfd, e->d_name,
			O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		struct stat st;

		if (t < 0)
			continue;
		/* unlocked: its writer is gone (killed, or the machine went
		 * down); locked: a save in progress, left alone. The name is
		 * removed while the lock is held, so a writer that locks its new
		 * file after this sees it unlinked and starts again. */
		if (fstat(t, &st) == 0 && S_ISREG(st.st_mode) &&
			flock(t, LOCK_EX | LOCK_NB) == 0)
			unlinkat(dirfd, e->d_name, 0);
		close(t);
	}
	closedir(d);
}

void
_sp_remove_stale_temps(const char *path)
{
	g_autofree char *dir = g_path_get_dirname(path);
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		remove_stale_temps_at(fd);
		close(fd);
	}
}

/* Cleans @dirfd once per root (the first time a row writes there). */
static void
root_clean_once(SpOutRoot *root, int dirfd)
{
	struct stat st;

	if (fstat(dirfd, &st) != 0)
		return;
	g_autofree char *key = g_strdup_printf("%ju:%ju", (uintmax_t) st.st_dev,
		(uintmax_t) st.st_ino);
	g_mutex_lock(&root->lock);
	gboolean first = g_hash_table_add(root->cleaned, g_steal_pointer(&key));
	g_mutex_unlock(&root->lock);
	if (first)
		remove_stale_temps_at(dirfd);
}

struct _SpAtomicFile {
	char *op;
	char *path;
	char *temp; /* for libraries: through /proc/self/fd/DIRFD */
	char *temp_name; /* in dirfd */
	char *base; /* the output's name in dirfd */
	int dirfd;
	int fd; /* open, holding a flock(2), while the save runs */
	Pending *pending;
};

static void
atomic_file_free(SpAtomicFile *af)
{
	pending_remove(af->pending);
	if (af->fd >= 0)
		close(af->fd);
	if (af->dirfd >= 0)
		close(af->dirfd);
	g_free(af->op);
	g_free(af->path);
	g_free(af->temp);
	g_free(af->temp_name);
	g_free(af->base);
	g_free(af);
}

SpAtomicFile *
_sp_atomic_file_new(SpGraph *graph, const char *op, const char *path,
	GError **error)
{
	return _sp_atomic_file_new_replacing(graph, op, path, NULL, error);
}

SpAtomicFile *
_sp_atomic_file_new_replacing(SpGraph *graph, const char *op,
	const char *path, SpReplaceable replaceable, GError **error)
{
	static const char chars[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	SpOutRoot *root = graph ? graph->out_root : NULL;
	g_autofree char *base = NULL;
	GError *local = NULL;
	int dirfd, fd = -1, err = 0;
	char name[TEMP_LEN + 1];
	struct stat st;

	if ((dirfd = open_parent(graph, op, path, root != NULL, &base,
		     &local)) < 0) {
		if (!local)
			g_set_error(&local, SP_ERROR, SP_ERROR_IO,
				"%s: cannot write '%s': its directory does not exist",
				op, path);
		g_propagate_error(error, local);
		return NULL;
	}
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		S_ISDIR(st.st_mode) && !(replaceable && replaceable(dirfd, base))) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': it is a directory", op, path);
		close(dirfd);
		return NULL;
	}
	if (root)
		root_clean_once(root, dirfd);
	if (G_UNLIKELY(null_fd < 0)) {
		static gsize once = 0;
		if (g_once_init_enter(&once)) {
			null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			g_once_init_leave(&once, 1);
		}
	}
	/* from the file's creation until it is listed for the handler */
	g_atomic_int_inc(&creating);
	if (g_atomic_int_get(&dying)) {
		g_atomic_int_add(&creating, -1);
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': interrupted", op, path);
		close(dirfd);
		return NULL;
	}
	/* a hidden name in the same directory, so the rename is atomic; made
	 * 0666 less the umask, the permissions a new file gets */
	for (int attempt = 0; attempt < 100; attempt++) {
		memcpy(name, TEMP_PREFIX, 4);
		for (int i = 0; i < 6; i++)
			name[4 + i] =
				chars[g_random_int_range(0, sizeof(chars) - 1)];
		memcpy(name + 10, TEMP_SUFFIX, sizeof(TEMP_SUFFIX));
		fd = openat(dirfd, name,
			O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0666);
		if (fd < 0) {
			err = errno;
			if (err == EEXIST)
				continue;
			break;
		}
		/* the lock says "in progress" to the stale-temp cleaners of
		 * other processes (and of this one); the kernel drops it when
		 * this process dies, however. A cleaner that locked the file
		 * first has removed it: then try another name. */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
			st.st_nlink > 0)
			break;
		close(fd);
		fd = -1;
		err = EEXIST;
	}
	if (fd < 0) {
		g_atomic_int_add(&creating, -1);
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': %s", op, path, g_strerror(err));
		close(dirfd);
		return NULL;
	}

	SpAtomicFile *af = g_new0(SpAtomicFile, 1);
	af->op = g_strdup(op);
	af->path = g_strdup(path);
	af->temp_name = g_strdup(name);
	af->temp = fd_path(dirfd, name);
	af->base = g_steal_pointer(&base);
	af->dirfd = dirfd;
	af->fd = fd;
	af->pending = pending_add(af->temp, dirfd);
	g_atomic_int_add(&creating, -1);
	return af;
}

const char *
_sp_atomic_file_temp_path(SpAtomicFile *af)
{
	return af->temp;
}

int
_sp_atomic_file_fd(SpAtomicFile *af)
{
	return af->fd;
}

/* Removes @dir_name (made in @af's directory) and its files. */
static void
atomic_file_free_dir(SpAtomicFile *af, const char *dir_name)
{
	remove_dir(af->dirfd, dir_name);
}

gboolean
_sp_atomic_file_commit(SpAtomicFile *af, GError **error)
{
	if (renameat(af->dirfd, af->temp_name, af->dirfd, af->base) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot rename the finished output to '%s': %s",
			af->op, af->path, g_strerror(err));
		unlinkat(af->dirfd, af->temp_name, 0);
		atomic_file_free(af);
		return FALSE;
	}
	atomic_file_free(af);
	return TRUE;
}

int
_sp_atomic_file_dirfd(SpAtomicFile *af)
{
	return af->dirfd;
}

const char *
_sp_atomic_file_temp_name(SpAtomicFile *af)
{
	return af->temp_name;
}

gboolean
_sp_atomic_file_commit_dir(SpAtomicFile *af, const char *dir_name,
	SpReplaceable replaceable, GError **error)
{
	/* RENAME_NOREPLACE: whatever appeared at the output meanwhile (an
	 * empty directory too) stays */
	if (renameat2(af->dirfd, dir_name, af->dirfd, af->base,
		    RENAME_NOREPLACE) == 0) {
		_sp_atomic_file_abort(af);
		return TRUE;
	}
	int err = errno;
	/* an output of the same kind: swapped with the new one in one step
	 * (RENAME_EXCHANGE), then removed from the temporary name, where it
	 * is checked again (swapped back if it changed meanwhile) */
	if ((err == EEXIST || err == ENOTEMPTY) && replaceable &&
		replaceable(af->dirfd, af->base)) {
		if (renameat2(af->dirfd, dir_name, af->dirfd, af->base,
			    RENAME_EXCHANGE) != 0)
			err = errno;
		else if (replaceable(af->dirfd, dir_name)) {
			atomic_file_free_dir(af, dir_name);
			_sp_atomic_file_abort(af);
			return TRUE;
		} else {
			renameat2(af->dirfd, dir_name, af->dirfd, af->base,
				RENAME_EXCHANGE);
			err = EEXIST;
		}
	}
	g_set_error(error, SP_ERROR, SP_ERROR_IO,
		"%s: cannot rename the finished output to '%s': %s%s", af->op,
		af->path, g_strerror(err),
		err == ENOTEMPTY || err == EEXIST || err == ENOTDIR ?
			" (something is there already: remove it or "
			"choose another name)" :
			"");
	atomic_file_free_dir(af, dir_name);
	_sp_atomic_file_abort(af);
	return FALSE;
}

void
_sp_atomic_file_abort_dir(SpAtomicFile *af, const char *dir_name)
{
	if (!af)
		return;
	atomic_file_free_dir(af, dir_name);
	_sp_atomic_file_abort(af);
}

void
_sp_atomic_file_abort(SpAtomicFile *af)
{
	if (!af)
		return;
	unlinkat(af->dirfd, af->temp_name, 0);
	atomic_file_free(af);
}

gboolean
_sp_atomic_file_write(SpGraph *graph, const char *op, const char *path,
	const void *data, size_t length, GError **error)
{
	SpAtomicFile *af = _sp_atomic_file_new(graph, op, path, error);
	const char *p = data;
	int err = 0;

	if (!af)
		return FALSE;
	while (length > 0) {
		ssize_t n = write(af->fd, p, length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : ENOSPC;
			break;
		}
		p += n;
		length -= n;
	}
	if (err) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': %s", op, path, g_strerror(err));
		_sp_atomic_file_abort(af);
		return FALSE;
	}
	return _sp_atomic_file_commit(af, error);
}

void
_sp_message_name_output(GError *error, const char *path)
{
	GString *s = g_string_new(NULL);
	const char *p = error->message, *hit;

	/* a temporary file's path (any directory before it) becomes @path */
	while ((hit = strstr(p, TEMP_PREFIX))) {
		const char *end = hit + TEMP_LEN;
		if (strlen(hit) < TEMP_LEN ||
			strncmp(hit + 10, TEMP_SUFFIX, strlen(TEMP_SUFFIX)) !=
				0) {
			g_string_append_len(s, p, hit + 4 - p);
			p = hit + 4;
			continue;
		}
		const char *start = hit;
		while (start > p && !strchr(" '\"`(:", start[-1]))
			start--;
		g_string_append_len(s, p, start - p);
		g_string_append(s, path);
		p = end;
	}
	g_string_append(s, p);
	g_free(error->message);
	error->message = g_string_free(s, FALSE);
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
		const char *tail = g_utf8_find_next_char(s->str + s->len -
				PRINTABLE_MAX / 2 - 1,
			NULL);
		g_autofree char *cut = g_strdup_printf(" … [%" G_GSIZE_FORMAT
						       " bytes] … ",
			(gsize) (tail - head_end));
		GString *t = g_string_new_len(s->str, head_end - s->str);

		g_string_append(t, cut);
		g_string_append(t, tail);
		g_string_free(s, TRUE);
		s = t;
	}
	return g_string_free(s, FALSE);
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

/* A directory output's temporary directory, @file_path + ".d" (see
 * _sp_atomic_file_commit_dir()), and whatever files its writer put in it,
 * from a signal handler (remove_dir() is async-signal-safe). */
static void
remove_temp_dir(const char *file_path)
{
	char buf[4096];
	size_t n = strlen(file_path);

	if (n + 3 >= sizeof(buf))
		return;
	memcpy(buf, file_path, n);
	memcpy(buf + n, ".d", 3);
	remove_dir(AT_FDCWD, buf);
}

void
sp_remove_partial_outputs(void)
{
	/* no new temporary file from now on; wait (at most a second) for
	 * those being created to be listed */
	g_atomic_int_set(&dying, 1);
	for (int i = 0; i < 1000 && g_atomic_int_get(&creating) > 0; i++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	for (Pending *p = g_atomic_pointer_get(&pending_head); p; p = p->next)
		if (g_atomic_int_get(&p->state) == 1) {
			unlink(p->path);
			remove_temp_dir(p->path);
			/* the writer may open it by name again: make that fail */
			if (null_fd >= 0 && p->dirfd >= 0)
				dup2(null_fd, p->dirfd);
		}
	remove_vips_temps();
}

static const struct {
	const char *ome;
	const char *vips;
	VipsBandFormat format;
} format_names[] = {
	{ "uint8", "uchar", VIPS_FORMAT_UCHAR },
	{ "int8", "char", VIPS_FORMAT_CHAR },
	{ "uint16", "ushort", VIPS_FORMAT_USHORT },
	{ "int16", "short", VIPS_FORMAT_SHORT },
	{ "uint32", "uint", VIPS_FORMAT_UINT },
	{ "int32", "int", VIPS_FORMAT_INT },
	{ "float", "float32", VIPS_FORMAT_FLOAT },
};

const char *
sp_format_name(VipsBandFormat format)
{
	for (guint i = 0; i < G_N_ELEMENTS(format_names); i++)
		if (format_names[i].format == format)
			return format_names[i].ome;
	if (format == VIPS_FORMAT_DOUBLE)
		return "double";
	return vips_enum_nick(VIPS_TYPE_BAND_FORMAT, format);
}

gboolean
sp_format_from_name(const char *name, VipsBandFormat *format)
{
	for (guint i = 0; i < G_N_ELEMENTS(format_names); i++)
		if (g_ascii_strcasecmp(name, format_names[i].ome) == 0 ||
			g_ascii_strcasecmp(name, format_names[i].vips) == 0) {
			*format = format_names[i].format;
			return TRUE;
		}
	return FALSE;
}

void
_sp_format_range(VipsBandFormat format, double *lo, double *hi)
{
	switch (format) {
	case VIPS_FORMAT_UCHAR:
		*lo = 0, *hi = UCHAR_MAX;
		break;
	case VIPS_FORMAT_CHAR:
		*lo = SCHAR_MIN, *hi = SCHAR_MAX;
		break;
	case VIPS_FORMAT_USHORT:
		*lo = 0, *hi = USHRT_MAX;
		break;
	case VIPS_FORMAT_SHORT:
		*lo = SHRT_MIN, *hi = SHRT_MAX;
		break;
	case VIPS_FORMAT_UINT:
		*lo = 0, *hi = UINT_MAX;
		break;
	case VIPS_FORMAT_INT:
		*lo = INT_MIN, *hi = INT_MAX;
		break;
	default:
		*lo = -FLT_MAX, *hi = FLT_MAX;
		break;
	}
}

int
sp_geometry_get_plane_count(const SpGeometry *geometry)
{
	return MAX(1, geometry->n_c) * MAX(1, geometry->n_z) *
		MAX(1, geometry->n_t);
}

VipsInterpretation
_sp_interpretation(int bands, VipsBandFormat format)
{
	if (bands >= 3)
		return format == VIPS_FORMAT_USHORT ?
			VIPS_INTERPRETATION_RGB16 :
			VIPS_INTERPRETATION_sRGB;
	return format == VIPS_FORMAT_USHORT ? VIPS_INTERPRETATION_GREY16 :
					      VIPS_INTERPRETATION_B_W;
}
