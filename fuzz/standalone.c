/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A main() for the fuzz targets without libFuzzer: runs
 * LLVMFuzzerTestOneInput() once on each file named on the command line
 * (directories: on each file in them), as libvips' StandaloneFuzzTargetMain
 * does. `make check` replays the seed corpus and the regression inputs
 * this way with the ordinary (or sanitizer) build; a crash fails it.
 */
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

static int
compare_paths(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(char *const *) a, *(char *const *) b);
}

static int
run_file(const char *path)
{
	g_autofree char *data = NULL;
	gsize size;
	GError *error = NULL;

	if (!g_file_get_contents(path, &data, &size, &error)) {
		fprintf(stderr, "%s\n", error->message);
		g_error_free(error);
		return -1;
	}
	LLVMFuzzerTestOneInput((const guint8 *) data, size);
	return 1;
}

int
main(int argc, char **argv)
{
	int n = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		if (g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
			GDir *dir = g_dir_open(argv[i], 0, NULL);
			GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
			const char *name;

			while (dir && (name = g_dir_read_name(dir)))
				g_ptr_array_add(names, g_build_filename(argv[i], name, NULL));
			if (dir)
				g_dir_close(dir);
			g_ptr_array_sort(names, compare_paths);
			for (guint k = 0; k < names->len; k++) {
				int r = run_file(g_ptr_array_index(names, k));
				if (r < 0)
					return 1;
				n += r;
			}
			g_ptr_array_unref(names);
		}
		else {
			int r = run_file(argv[i]);
			if (r < 0)
				return 1;
			n += r;
		}
	}
	printf("%d inputs ran\n", n);
	return 0;
}
