/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* slidepipe: the command line. No per-operator code: operators, their
 * arguments and their help come from the declarations in ops/, read
 * through the public header (tools/help.c). Batch runs: tools/cli-batch.c.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include "cli.h"
#include "help.h"

#define EXIT_RUNTIME CLI_EXIT_RUNTIME
#define EXIT_USAGE CLI_EXIT_USAGE

static const char usage_text[] =
	"usage: slidepipe [--progress] [--quiet] [--verbose] [--exact] [--trusted-only] "
	"load IN [ARGS] ! STEP [ARGS] … ! save OUT [ARGS]\n"
	"       slidepipe [--exact] explain load IN [ARGS] ! STEP [ARGS] …\n"
	"       slidepipe batch MANIFEST [-j N] [--out-dir DIR] [--pipeline T] "
	"[--shard K/N] [--force] [--dry-run] [--report FILE]\n"
	"       slidepipe info SLIDE [--json]\n"
	"       slidepipe ops\n"
	"       slidepipe OP --help\n"
	"       slidepipe --version | --help\n"
	"\n"
	"Runs a chain of operators over a whole-slide image in one process,\n"
	"pulling tiles through it: nothing is computed until the last step.\n"
	"Steps are separated by '!' as a word of its own (quote it in csh-like\n"
	"shells; '!x.tif' is a file name), arguments\n"
	"are positional or NAME=VALUE. Coordinates are level-0 pixels.\n"
	"\n"
	"example:\n"
	"  slidepipe load slide.svs ! crop 1000 2000 8192 8192 ! downsample 4 "
	"! save out.tif Q=85\n"
	"\n"
	"options:\n"
	"  --progress   show percent done and ETA on stderr (default when "
	"stderr is a terminal)\n"
	"  --quiet, -q  print no summary of what was written\n"
	"  --verbose, -v\n"
	"               also print the warnings of the libraries slidepipe "
	"uses\n"
	"               (libvips, OpenSlide, GLib), which are hidden otherwise\n"
	"  --exact      compute downsamples from level 0 instead of reading "
	"a lower pyramid level\n"
	"  --trusted-only\n"
	"               refuse files that only a libvips loader marked "
	"untrusted reads\n"
	"               (OpenSlide's vendor formats, ImageMagick, …); also "
	"SLIDEPIPE_TRUSTED_ONLY=1\n"
	"\n"
	"exit status: 0 success, 1 runtime error, 2 usage error.\n"
	"See 'slidepipe ops' and slidepipe(1).\n";

static int
exit_code(const GError *error)
{
	return error && error->domain == SP_ERROR &&
			error->code == SP_ERROR_USAGE ?
		EXIT_USAGE :
		EXIT_RUNTIME;
}

int
cli_fail(GError *error)
{
	int code = exit_code(error);
	/* one line, whatever paths or values the message quotes */
	g_autofree char *text = sp_printable(error->message);

	fprintf(stderr, "slidepipe: %s\n", text);
	g_error_free(error);
	return code;
}

static gboolean verbose;

/* Messages logged by the libraries slidepipe uses (OpenSlide's GLib
 * criticals on a damaged Aperio description, libvips' warnings) would add
 * lines to slidepipe's one-line errors, in any order: they are shown with
 * --verbose only. slidepipe's own, and fatal ones, always. (A fatal
 * message, G_DEBUG=fatal-criticals included, still aborts: GLib decides
 * that after the writer returns.) */
static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
	gpointer user_data)
{
	const char *domain = NULL;

	for (gsize i = 0; i < n_fields; i++)
		if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0 &&
			fields[i].length < 0)
			domain = fields[i].value;
	if (!verbose && !(level & (G_LOG_LEVEL_ERROR | G_LOG_FLAG_FATAL)) &&
		g_strcmp0(domain, G_LOG_DOMAIN) != 0)
		return G_LOG_WRITER_HANDLED;
	return g_log_writer_default(level, fields, n_fields, user_data);
}

static void
on_signal(int sig)
{
	/* async-signal-safe: readlink(2) and unlink(2) only, then die of the
	 * signal so the shell sees 128 + sig (the signal is blocked while
	 * this runs: it arrives again, with its default action, on return) */
	sp_remove_partial_outputs();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The signals a crash raises (a bug, or SIGBUS from a mapped input file
 * that shrank under libvips): the temporary outputs go, then whoever
 * handled the signal before (a sanitizer's handler, or the default
 * action) gets it. A real fault is simply returned from: the faulting
 * instruction runs again under the restored action. */
static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL };
static struct sigaction crash_old[G_N_ELEMENTS(crash_signals)];

static void
on_crash(int sig, siginfo_t *info, void *context)
{
	sp_remove_partial_outputs();
	for (guint i = 0; i < G_N_ELEMENTS(crash_signals); i++)
		if (crash_signals[i] == sig)
			sigaction(sig, &crash_old[i], NULL);
	/* sent by kill(2), raise(3) or sigqueue(3): send it again */
	if (!info || info->si_code <= 0)
		raise(sig);
}

/* Every other signal whose default action ends the process and that can
 * be caught (SIGTRAP is the debuggers'): the temporary outputs go first. A file-size limit (SIGXFSZ), a CPU-time limit
 * (SIGXCPU), a job scheduler's warning signal (SIGUSR1/2, SIGALRM, …)
 * or a g_error()'s abort left them behind. */
static const int fatal_signals[] = {
	SIGHUP,
	SIGINT,
	SIGQUIT,
	SIGABRT,
	SIGUSR1,
	SIGUSR2,
	SIGPIPE,
	SIGALRM,
	SIGTERM,
	SIGXCPU,
	SIGXFSZ,
	SIGVTALRM,
	SIGPROF,
	SIGIO,
	SIGSYS,
#ifdef SIGSTKFLT
	SIGSTKFLT,
#endif
#ifdef SIGPWR
	SIGPWR,
#endif
};

static void
catch_signal(int sig, const struct sigaction *sa)
{
	struct sigaction old;

	/* 'nohup slidepipe …' means it: SIGHUP stays ignored. (The others
	 * are caught even when ignored: a shell script's background job
	 * starts with SIGINT and SIGQUIT ignored, and 'kill -INT' of it is
	 * still meant to stop it) */
	if (sig == SIGHUP && sigaction(sig, NULL, &old) == 0 &&
		old.sa_handler == SIG_IGN)
		return;
	sigaction(sig, sa, NULL);
}

static void
install_signal_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	/* one cleanup at a time: a second signal waits for the first's */
	sigfillset(&sa.sa_mask);
	/* a closed stderr or stdout pipe ('slidepipe … 2>&1 | head') kills
	 * the process at its next warning (SIGPIPE): without the cleanup the
	 * save's temporary file stayed behind */
	for (guint i = 0; i < G_N_ELEMENTS(fatal_signals); i++)
		catch_signal(fatal_signals[i], &sa);
#if defined(SIGRTMIN) && defined(SIGRTMAX)
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		catch_signal(sig, &sa);
#endif
	sa.sa_handler = NULL;
	sa.sa_sigaction = on_crash;
	sa.sa_flags = SA_SIGINFO;
	for (guint i = 0; i < G_N_ELEMENTS(crash_signals); i++)
		sigaction(crash_signals[i], &sa, &crash_old[i]);
}

static void
print_progress(SpNode *node, int percent, int eta, void *user_data)
{
	if (eta >= 0)
		fprintf(stderr, "\r%s: %3d%% done, ETA %d:%02d ",
			sp_op_get_name(sp_node_get_op(node)), percent, eta / 60,
			eta % 60);
	else
		fprintf(stderr, "\r%s: %3d%% done          ",
			sp_op_get_name(sp_node_get_op(node)), percent);
	if (percent >= 100)
		fputc('\n', stderr);
	fflush(stderr);
}

char *
cli_format_number(double d)
{
	char buf[G_ASCII_DTOSTR_BUF_SIZE];

	return g_strdup(g_ascii_formatd(buf, sizeof(buf), "%.6g", d));
}

/* `info --json`: the slide's headers as one JSON object. */
static char *
info_json(SpSlide *slide, const char *path, const char *icc_description,
	gsize icc_bytes)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	const char *const *assoc = sp_slide_get_associated_names(slide);
	const char *const *names = sp_slide_get_property_names(slide);
	int n = sp_slide_get_level_count(slide);
	double mpp_x, mpp_y;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "path");
	cli_json_add_string(b, path);
	json_builder_set_member_name(b, "vendor");
	cli_json_add_string(b, sp_slide_get_vendor(slide));
	json_builder_set_member_name(b, "bands");
	json_builder_add_int_value(b, sp_slide_get_bands(slide));
	json_builder_set_member_name(b, "pixel_type");
	cli_json_add_string(b, sp_format_name(sp_slide_get_format(slide)));
	int n_c, n_z, n_t;
	sp_slide_get_plane_sizes(slide, &n_c, &n_z, &n_t);
	json_builder_set_member_name(b, "planes");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "c");
	json_builder_add_int_value(b, n_c);
	json_builder_set_member_name(b, "z");
	json_builder_add_int_value(b, n_z);
	json_builder_set_member_name(b, "t");
	json_builder_add_int_value(b, n_t);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "channels");
	json_builder_begin_array(b);
	for (int c = 0; c < n_c; c++) {
		const char *name = sp_slide_get_channel_name(slide, c);
		guint8 rgb[3];

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "name");
		if (name)
			cli_json_add_string(b, name);
		else
			json_builder_add_null_value(b);
		json_builder_set_member_name(b, "colour");
		if (sp_slide_get_channel_colour(slide, c, rgb)) {
			g_autofree char *hex = g_strdup_printf("#%02X%02X%02X",
				rgb[0], rgb[1], rgb[2]);
			json_builder_add_string_value(b, hex);
		} else
			json_builder_add_null_value(b);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_set_member_name(b, "level_count");
	json_builder_add_int_value(b, n);
	json_builder_set_member_name(b, "levels");
	json_builder_begin_array(b);
	for (int i = 0; i < n; i++) {
		const SpLevel *l = sp_slide_get_level(slide, i);

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "width");
		json_builder_add_int_value(b, l->width);
		json_builder_set_member_name(b, "height");
		json_builder_add_int_value(b, l->height);
		json_builder_set_member_name(b, "downsample");
		cli_json_add_number(b, l->downsample);
		json_builder_set_member_name(b, "tile_width");
		json_builder_add_int_value(b, l->tile_width);
		json_builder_set_member_name(b, "tile_height");
		json_builder_add_int_value(b, l->tile_height);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	gboolean has_mpp = sp_slide_get_mpp(slide, &mpp_x, &mpp_y);
	json_builder_set_member_name(b, "mpp_x");
	if (has_mpp)
		cli_json_add_number(b, mpp_x);
	else
		json_builder_add_null_value(b);
	json_builder_set_member_name(b, "mpp_y");
	if (has_mpp)
		cli_json_add_number(b, mpp_y);
	else
		json_builder_add_null_value(b);
	json_builder_set_member_name(b, "associated");
	json_builder_begin_object(b);
	for (int i = 0; assoc[i]; i++) {
		int w = 0, h = 0;

		sp_slide_get_associated_size(slide, assoc[i], &w, &h);
		cli_json_set_member(b, assoc[i]);
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "width");
		json_builder_add_int_value(b, w);
		json_builder_set_member_name(b, "height");
		json_builder_add_int_value(b, h);
		json_builder_end_object(b);
	}
	json_builder_end_object(b);
	json_builder_set_member_name(b, "icc_profile");
	if (icc_bytes) {
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "description");
		if (icc_description)
			cli_json_add_string(b, icc_description);
		else
			json_builder_add_null_value(b);
		json_builder_set_member_name(b, "bytes");
		json_builder_add_int_value(b, icc_bytes);
		json_builder_end_object(b);
	} else
		json_builder_add_null_value(b);
	json_builder_set_member_name(b, "properties");
	json_builder_begin_object(b);
	for (int i = 0; names[i]; i++) {
		cli_json_set_member(b, names[i]);
		cli_json_add_string(b, sp_slide_get_property(slide, names[i]));
	}
	json_builder_end_object(b);
	json_builder_end_object(b);
	return cli_json_to_string(b);
}

static int
cmd_info(int argc, char **argv)
{
	gboolean json = FALSE, help = FALSE;
	GError *error = NULL;
	SpSlide *slide;
	double mpp_x, mpp_y;
	GOptionEntry entries[] = {
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json, "print JSON", NULL },
		{ "help", 'h', 0, G_OPTION_ARG_NONE, &help, "show help", NULL },
		{ NULL },
	};
	g_autoptr(GOptionContext) context = g_option_context_new("SLIDE");

	g_option_context_add_main_entries(context, entries, NULL);
	g_option_context_set_help_enabled(context, FALSE);
	argv[0] = "slidepipe info";
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_prefix_error(&error, "info: ");
		cli_fail(error);
		return EXIT_USAGE;
	}
	if (help) {
		printf("usage: slidepipe info SLIDE [--json]\n\n"
		       "Prints the slide's levels (size, downsample, tile size), "
		       "pixel size (mpp),\nvendor, associated images (name, size), "
		       "the embedded ICC profile's\ndescription and properties, "
		       "reading headers only.\n");
		return 0;
	}
	if (argc > 2) {
		g_autofree char *arg = sp_printable(argv[2]);
		fprintf(stderr, "slidepipe: info: unexpected argument '%s'\n",
			arg);
		return EXIT_USAGE;
	}
	if (argc < 2) {
		fprintf(stderr, "slidepipe: info: missing SLIDE\n");
		return EXIT_USAGE;
	}
	const char *path = argv[1];
	if (!(slide = sp_slide_open(path, &error)))
		return cli_fail(error);

	gboolean has_mpp = sp_slide_get_mpp(slide, &mpp_x, &mpp_y);
	const char *const *assoc = sp_slide_get_associated_names(slide);
	const char *const *names = sp_slide_get_property_names(slide);
	GString *s = g_string_new(NULL);
	int n = sp_slide_get_level_count(slide);
	GBytes *icc = sp_slide_get_icc_profile(slide);
	g_autofree char *icc_description = sp_icc_profile_get_description(icc);
	gsize icc_bytes = icc ? g_bytes_get_size(icc) : 0;

	if (icc)
		g_bytes_unref(icc);
	if (json) {
		g_autofree char *text = info_json(slide, path, icc_description,
			icc_bytes);
		g_string_append_printf(s, "%s\n", text);
	} else {
		/* every string from the file or the command line escaped (one
		 * line each, no terminal control sequences): sp_escape_text() */
		g_autofree char *e_path = sp_escape_text(path);
		g_autofree char *e_vendor = sp_escape_text(
			sp_slide_get_vendor(slide));
		g_string_append_printf(s,
			"path: %s\nvendor: %s\nbands: %d\nlevels: %d\n", e_path,
			e_vendor, sp_slide_get_bands(slide), n);
		for (int i = 0; i < n; i++) {
			const SpLevel *l = sp_slide_get_level(slide, i);
			g_autofree char *ds = cli_format_number(l->downsample);
			g_string_append_printf(s,
				"  level %d: %" G_GINT64_FORMAT
				" × %" G_GINT64_FORMAT " px, downsample %s, ",
				i, l->width, l->height, ds);
			if (l->tile_width)
				g_string_append_printf(s, "tiles %d × %d\n",
					l->tile_width, l->tile_height);
			else
				g_string_append(s, "not tiled (strips)\n");
		}
		int n_c, n_z, n_t;
		sp_slide_get_plane_sizes(slide, &n_c, &n_z, &n_t);
		g_string_append_printf(s, "pixel type: %s\n",
			sp_format_name(sp_slide_get_format(slide)));
		g_string_append_printf(s, "planes: C %d × Z %d × T %d\n", n_c,
			n_z, n_t);
		for (int c = 0; c < n_c &&
			(n_c > 1 || sp_slide_get_channel_name(slide, c));
			c++) {
			const char *name = sp_slide_get_channel_name(slide, c);
			g_autofree char *e = sp_escape_text(name ? name : "");
			guint8 rgb[3];

			g_string_append_printf(s, "  channel %d: %s", c,
				name ? e : "(no name)");
			if (sp_slide_get_channel_colour(slide, c, rgb))
				g_string_append_printf(s,
					", colour #%02X%02X%02X", rgb[0],
					rgb[1], rgb[2]);
			g_string_append_c(s, '\n');
		}
		if (sp_slide_get_mpp_z(slide) > 0) {
			g_autofree char *z = cli_format_number(
				sp_slide_get_mpp_z(slide));
			g_string_append_printf(s, "z spacing: %s µm\n", z);
		}
		if (has_mpp) {
			g_autofree char *x = cli_format_number(mpp_x);
			g_autofree char *y = cli_format_number(mpp_y);
			g_string_append_printf(s,
				"mpp: %s × %s µm per level-0 pixel\n", x, y);
		} else
			g_string_append(s,
				"mpp: unknown (the slide records no pixel size)\n");
		const char *power = sp_slide_get_property(slide,
			"openslide.objective-power");
		if (power) {
			g_autofree char *e = sp_escape_text(power);
			g_string_append_printf(s, "objective power: %s\n", e);
		}
		g_string_append(s, "associated images:");
		if (!assoc[0])
			g_string_append(s, " none");
		g_string_append_c(s, '\n');
		for (int i = 0; assoc[i]; i++) {
			int w = 0, h = 0;
			sp_slide_get_associated_size(slide, assoc[i], &w, &h);
			g_autofree char *e = sp_escape_text(assoc[i]);
			g_string_append_printf(s, "  %s: %d × %d px\n", e, w,
				h);
		}
		if (icc_bytes) {
			g_autofree char *e = icc_description ?
				sp_escape_text(icc_description) :
				g_strdup("(no description)");
			g_string_append_printf(s,
				"icc profile: %s (%" G_GSIZE_FORMAT " bytes)\n",
				e, icc_bytes);
		} else
			g_string_append(s, "icc profile: none\n");
		g_string_append(s, "properties:\n");
		for (int i = 0; names[i]; i++) {
			/* one line per property, control characters escaped */
			g_autofree char *name = sp_escape_text(names[i]);
			g_autofree char *value = sp_escape_text(
				sp_slide_get_property(slide, names[i]));
			g_string_append_printf(s, "  %s = %s\n", name, value);
		}
	}
	fputs(s->str, stdout);
	g_string_free(s, TRUE);
	sp_slide_unref(slide);
	return 0;
}

static int
cmd_ops(void)
{
	int n;
	const SpOpInfo *const *ops = sp_op_list(&n);

	for (int i = 0; i < n; i++)
		printf("%-12s %s\n", sp_op_get_name(ops[i]),
			sp_op_get_summary(ops[i]));
	return 0;
}

static int
cmd_man_operators(void)
{
	int n;
	const SpOpInfo *const *ops = sp_op_list(&n);

	for (int i = 0; i < n; i++) {
		g_autofree char *man = sp_op_format_man(ops[i]);
		fputs(man, stdout);
	}
	return 0;
}

/* A node's report, a line at a time, each marked as slidepipe's; to
 * stderr, or kept in @keep when that is not NULL. */
static void
print_report_to(SpNode *node, GString *keep)
{
	const char *report = sp_node_get_report(node);

	if (!report)
		return;
	g_auto(GStrv) lines = g_strsplit(report, "\n", -1);
	for (char **l = lines; *l; l++) {
		g_autofree char *line = sp_printable(*l);
		if (keep)
			g_string_append_printf(keep, "slidepipe: %s\n", line);
		else
			fprintf(stderr, "slidepipe: %s\n", line);
	}
}

static void
print_report(SpNode *node)
{
	print_report_to(node, NULL);
}

/* After a save: what was written, read back from the file. */
static void
print_written(const char *path)
{
	GError *error = NULL;
	SpSlide *out = sp_slide_open(path, &error);
	struct stat st;
	double mpp_x, mpp_y;

	if (!out) {
		g_prefix_error(&error,
			"wrote '%s' but cannot read it back: ", path);
		cli_fail(error);
		return;
	}
	const SpLevel *l0 = sp_slide_get_level(out, 0);
	int n = sp_slide_get_level_count(out);
	GString *s = g_string_new(NULL);

	g_autofree char *shown = sp_printable(path);
	g_string_append_printf(s,
		"wrote %s: %" G_GINT64_FORMAT " × %" G_GINT64_FORMAT
		" px, %d level%s",
		shown, l0->width, l0->height, n, n == 1 ? "" : "s");
	if (n > 1) {
		g_string_append(s, " (");
		for (int i = 0; i < n; i++) {
			const SpLevel *l = sp_slide_get_level(out, i);
			g_string_append_printf(s,
				"%s%" G_GINT64_FORMAT "×%" G_GINT64_FORMAT,
				i ? ", " : "", l->width, l->height);
		}
		g_string_append_c(s, ')');
	}
	int n_c, n_z, n_t;
	sp_slide_get_plane_sizes(out, &n_c, &n_z, &n_t);
	if (n_c * n_z * n_t > 1)
		g_string_append_printf(s, ", %d planes (C %d × Z %d × T %d)",
			n_c * n_z * n_t, n_c, n_z, n_t);
	if (sp_slide_get_format(out) != VIPS_FORMAT_UCHAR)
		g_string_append_printf(s, ", %s",
			sp_format_name(sp_slide_get_format(out)));
	if (sp_slide_get_mpp(out, &mpp_x, &mpp_y)) {
		g_autofree char *x = cli_format_number(mpp_x);
		g_autofree char *y = cli_format_number(mpp_y);
		g_string_append_printf(s, ", mpp %s × %s µm", x, y);
	} else
		g_string_append(s, ", mpp unknown");
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* a DICOM series: its files */
		GDir *dir = g_dir_open(path, 0, NULL);
		const char *name;
		gint64 bytes = 0;
		int files = 0;

		while (dir && (name = g_dir_read_name(dir))) {
			g_autofree char *f = g_build_filename(path, name, NULL);
			struct stat fst;
			if (stat(f, &fst) == 0 && S_ISREG(fst.st_mode)) {
				bytes += fst.st_size;
				files++;
			}
		}
		if (dir)
			g_dir_close(dir);
		g_string_append_printf(s, ", %d file%s, %" G_GINT64_FORMAT
					  " bytes",
			files, files == 1 ? "" : "s", bytes);
	} else if (stat(path, &st) == 0)
		g_string_append_printf(s, ", %" G_GINT64_FORMAT " bytes",
			(gint64) st.st_size);
	printf("%s\n", s->str);
	g_string_free(s, TRUE);
	sp_slide_unref(out);
}

/* `explain`: the plan of every step, computed without pixels. */
static int
cmd_explain(int argc, char **argv, gboolean exact)
{
	GError *error = NULL;
	SpGraph *graph = sp_graph_new();
	SpNode *last;

	sp_graph_set_exact(graph, exact);
	last = sp_pipeline_parse(graph, (const char *const *) argv, &error);
	if (!last) {
		sp_graph_free(graph);
		return cli_fail(error);
	}
	g_autofree char *text = sp_node_explain(last);
	fputs(text, stdout);
	sp_graph_free(graph);
	return 0;
}

static int
cmd_pipeline(int argc, char **argv, gboolean progress, gboolean quiet,
	gboolean exact)
{
	GError *error = NULL;
	SpGraph *graph = sp_graph_new();
	SpNode *last;
	int code = 0;

	sp_graph_set_exact(graph, exact);
	last = sp_pipeline_parse(graph, (const char *const *) argv, &error);
	if (!last) {
		sp_graph_free(graph);
		return cli_fail(error);
	}
	if (sp_op_get_kind(sp_node_get_op(last)) != SP_OP_SINK) {
		sp_graph_free(graph);
		fprintf(stderr,
			"slidepipe: the pipeline must end with a sink such as 'save "
			"OUT.tif'\n");
		return EXIT_USAGE;
	}
	if (progress)
		sp_graph_set_progress(graph, print_progress, NULL);

	/* build every image first, so measurements (Otsu) and the plan are
	 * known before the long part: shown then with --progress, otherwise
	 * once the run has succeeded, so that a failure is one line */
	VipsImage *image = sp_node_get_image(sp_node_get_input(last), &error);
	g_autoptr(GString) planned = g_string_new(NULL);
	for (SpNode *n = last; n && !quiet; n = sp_node_get_input(n))
		print_report_to(n, progress ? NULL : planned);
	if (!image || !sp_graph_run(graph, &error))
		code = cli_fail(error);
	else {
		fputs(planned->str, stderr);
		print_report(last);
		/* a save's file is read back; tiles reports its own summary */
		if (!quiet && sp_node_get_op(last) == sp_op_lookup("save"))
			print_written(sp_node_get_output_path(last));
	}
	sp_graph_free(graph);
	return code;
}

int
main(int argc, char **argv)
{
	GError *error = NULL;
	gboolean progress = isatty(2), no_progress = FALSE, quiet = FALSE;
	gboolean exact = FALSE, trusted_only = FALSE, version = FALSE;
	gboolean help = FALSE, man_operators = FALSE;
	int i = 1, code;
	/* the global options, before the command; each command's own come
	 * after it */
	GOptionEntry entries[] = {
		{ "progress", 0, 0, G_OPTION_ARG_NONE, &progress,
			"show percent done and ETA", NULL },
		{ "no-progress", 0, 0, G_OPTION_ARG_NONE, &no_progress,
			"no progress", NULL },
		{ "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet,
			"print no summary", NULL },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
			"show the libraries' warnings", NULL },
		{ "exact", 0, 0, G_OPTION_ARG_NONE, &exact,
			"compute downsamples from level 0", NULL },
		{ "trusted-only", 0, 0, G_OPTION_ARG_NONE, &trusted_only,
			"refuse untrusted loaders", NULL },
		{ "version", 0, 0, G_OPTION_ARG_NONE, &version, "version",
			NULL },
		{ "help", 'h', 0, G_OPTION_ARG_NONE, &help, "usage", NULL },
		/* for the man page's rule in Makefile.am */
		{ "man-operators", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE,
			&man_operators, "operators' sections of slidepipe(1)",
			NULL },
		{ NULL },
	};
	GOptionContext *context;

	g_log_set_writer_func(log_writer, NULL, NULL);
	if (!sp_init(argv[0], &error))
		return cli_fail(error);
	install_signal_handlers();

	context = g_option_context_new(NULL);
	g_option_context_add_main_entries(context, entries, NULL);
	/* usage_text is the help; options end at the command (a pipeline's
	 * words are not options); an unknown option is left for the check
	 * below, which names it */
	g_option_context_set_help_enabled(context, FALSE);
	g_option_context_set_strict_posix(context, TRUE);
	g_option_context_set_ignore_unknown_options(context, TRUE);
	gboolean parsed = g_option_context_parse(context, &argc, &argv, &error);
	g_option_context_free(context);
	if (!parsed) {
		cli_fail(error);
		return EXIT_USAGE;
	}
	if (version) {
		printf("slidepipe %s (libvips %s)\n", sp_version(),
			vips_version_string());
		return 0;
	}
	if (help) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (man_operators)
		return cmd_man_operators();
	if (no_progress)
		progress = FALSE;
	if (trusted_only)
		sp_set_trusted_only(TRUE);
	if (i < argc && argv[i][0] == '-' && argv[i][1] != '\0') {
		g_autofree char *arg = sp_printable(argv[i]);
		fprintf(stderr, "slidepipe: unknown option '%s'\n%s", arg,
			usage_text);
		return EXIT_USAGE;
	}
	if (i >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}

	const char *command = argv[i];
	if (strcmp(command, "info") == 0)
		code = cmd_info(argc - i, argv + i);
	else if (strcmp(command, "ops") == 0)
		code = cmd_ops();
	else if (strcmp(command, "batch") == 0)
		code = cli_batch(argc - i, argv + i, progress);
	else if (strcmp(command, "explain") == 0)
		code = cmd_explain(argc - i - 1, argv + i + 1, exact);
	else if (strcmp(command, "help") == 0 && i + 1 < argc &&
		sp_op_lookup(argv[i + 1])) {
		g_autofree char *text = sp_op_format_help(
			sp_op_lookup(argv[i + 1]));
		fputs(text, stdout);
		code = 0;
	} else if (sp_op_lookup(command) && i + 1 < argc &&
		(strcmp(argv[i + 1], "--help") == 0 ||
			strcmp(argv[i + 1], "-h") == 0)) {
		g_autofree char *text = sp_op_format_help(
			sp_op_lookup(command));
		fputs(text, stdout);
		code = 0;
	} else
		code = cmd_pipeline(argc - i, argv + i, progress, quiet, exact);
	vips_shutdown();
	return code;
}
