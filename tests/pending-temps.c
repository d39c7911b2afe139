/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Temporary files in flight when a signal comes: every one is removed,
 * however many (the signal handler's table held 256 once, and dropped
 * the rest). Built with its own copy of src/util.c, whose internals the
 * library does not export.
 *
 * usage: pending-temps DIR COUNT
 * Makes COUNT atomic outputs DIR/fN.png (their temporary files, left
 * open; every third also a directory output's temporary directory with
 * six files of various names, as save format=dicom makes), then dies of SIGTERM through a handler that calls
 * sp_remove_partial_outputs() as the command line's does. The caller
 * checks that DIR is empty. Exit status 3: an output could not be made.
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/sp-private.h"

static void
on_signal(int sig)
{
	sp_remove_partial_outputs();
	signal(sig, SIG_DFL);
	raise(sig);
}

int
main(int argc, char **argv)
{
	GError *error = NULL;
	struct sigaction sa;

	if (argc != 3) {
		fprintf(stderr, "usage: pending-temps DIR COUNT\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);

	int count = atoi(argv[2]);
	for (int i = 0; i < count; i++) {
		g_autofree char *path = g_strdup_printf("%s/f%d.png", argv[1], i);
		/* never committed nor aborted: in flight when the signal comes */
		SpAtomicFile *af = _sp_atomic_file_new(NULL, "save", path, &error);
		if (!af) {
			fprintf(stderr, "pending-temps: %s\n", error->message);
			return 3;
		}
		/* every third a directory output's too (save format=dicom):
		 * its temporary directory NAME.d, holding files of any name */
		if (i % 3 == 0) {
			int dirfd = _sp_atomic_file_dirfd(af);
			g_autofree char *d = g_strconcat(
				_sp_atomic_file_temp_name(af), ".d", NULL);
			static const char *const names[] = { "level-0.dcm",
				"level-17.dcm", "label.dcm", "overview.dcm",
				"notes.txt", ".hidden" };

			if (mkdirat(dirfd, d, 0777) != 0)
				return 3;
			int fd = openat(dirfd, d, O_RDONLY | O_DIRECTORY);
			for (guint k = 0; fd >= 0 && k < G_N_ELEMENTS(names); k++) {
				int f = openat(fd, names[k], O_WRONLY | O_CREAT, 0666);
				if (f < 0 || write(f, "x", 1) != 1)
					return 3;
				close(f);
			}
			if (fd < 0)
				return 3;
			close(fd);
		}
	}
	printf("%d temporary files made\n", count);
	fflush(stdout);
	raise(SIGTERM);
	return 0;
}
