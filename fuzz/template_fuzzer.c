/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: batch templates with manifest values, and the
 * confinement of their outputs to --out-dir.
 *
 * The input is a --pipeline template (its first line) and a manifest
 * body (the rest) under a fixed header, "slide,out,v,n": the fuzzer
 * writes both the template's words, {column}s, '!', quotes and fixed
 * paths, and the values put into them. sp_batch_run() runs it for real
 * (no dry run, one worker) into out/, which holds traps: a symbolic link
 * to the scratch directory ("l"), one two levels down ("d/up"), one to a
 * file outside ("d/lf.png") and a regular file ("f"). After every input
 * the whole scratch directory is listed: anything that appeared, vanished
 * or changed outside out/ is a finding (abort), as is an exit status
 * other than 0, 1 or 2, or 2 without an error.
 * Inputs naming /dev, /proc or /sys are skipped.
 */
#include "fuzz-common.h"

#include <sys/stat.h>

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(*argv ? (*argv)[0] : "template_fuzzer");
	return 0;
}

static GString *listing;

static int
fuzz_list_cb(const char *path, const struct stat *st, int flag,
	struct FTW *ftw)
{
	/* out/ is --out-dir: what happens inside it is allowed */
	if (strcmp(path, "./out") == 0 || g_str_has_prefix(path, "./out/"))
		return flag == FTW_D ? FTW_SKIP_SUBTREE : 0;
	g_string_append_printf(listing, "%s %o %lld %lld\n", path,
		(unsigned) st->st_mode, (long long) st->st_size,
		(long long) st->st_mtim.tv_nsec + st->st_mtim.tv_sec * 1000000000LL);
	return 0;
}

/* Everything in the scratch directory but out/, one line per entry. */
static char *
list_scratch(void)
{
	listing = g_string_new(NULL);
	nftw(".", fuzz_list_cb, 16, FTW_PHYS | FTW_ACTIONRETVAL);
	return g_string_free(g_steal_pointer(&listing), FALSE);
}

static void
make_out_dir(void)
{
	fuzz_remove_dir("out");
	if (g_mkdir_with_parents("out/d", 0700) != 0 ||
		symlink("..", "out/l") != 0 || symlink("../..", "out/d/up") != 0 ||
		symlink("../../p.csv", "out/d/lf.png") != 0) {
		fprintf(stderr, "fuzz: cannot make out/\n");
		abort();
	}
	fuzz_write_file("out/f", "a file", 6);
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	GError *error = NULL;
	const guint8 *nl;

	if (size < 1 || size > 4096 || fuzz_names_system_files(data, size, "\"'\\{}") ||
		!(nl = memchr(data, '\n', size)))
		return 0;

	fuzz_enter();
	g_autofree char *template = g_strndup((const char *) data, nl - data);
	GString *manifest = g_string_new("slide,out,v,n\n");
	g_string_append_len(manifest, (const char *) nl + 1,
		size - (nl + 1 - data));
	fuzz_write_file("m.csv", manifest->str, manifest->len);
	g_string_free(manifest, TRUE);
	make_out_dir();

	SpBatchOptions o = { 0 };
	o.manifest = "m.csv";
	o.out_dir = "out";
	o.jobs = 1;
	o.pipeline = template;
	o.force = TRUE;

	g_autofree char *before = list_scratch();
	gboolean ran = sp_batch_run(&o, &error);
	g_autofree char *after = list_scratch();

	if (ran == (error != NULL)) {
		fprintf(stderr, "fuzz: sp_batch_run returned %d, error %s\n", ran,
			error ? error->message : "unset");
		abort();
	}
	if (strcmp(before, after) != 0) {
		fprintf(stderr, "fuzz: something outside out/ changed\nbefore:\n%s"
						"after:\n%s",
			before, after);
		abort();
	}
	g_clear_error(&error);
	fuzz_remove_dir("out");
	fuzz_check_vips();
	fuzz_leave();
	return 0;
}
