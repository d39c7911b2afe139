/* save: write the pipeline's image, by default as an OpenSlide-compatible
 * tiled pyramidal TIFF.
 */
#include "config.h"

#include <string.h>

#include "sp-private.h"

static const char *const compression_choices[] = { "jpeg", "lzw", "deflate",
	"zstd", "webp", "none", NULL };
static const char *const bigtiff_choices[] = { "auto", "true", "false",
	NULL };

static const SpArgInfo save_args[] = {
	{ "path", SP_ARG_PATH, NULL, NULL, 0, 0, NULL, 0, TRUE,
		"output file; the format comes from the extension: .tif/.tiff, "
		".png, .jpg/.jpeg" },
	{ "compression", SP_ARG_CHOICE, NULL, NULL, 0, 0, compression_choices,
		-1, FALSE,
		"TIFF tile compression (default: jpeg for RGB, lzw for masks and "
		"grey images)" },
	{ "Q", SP_ARG_INT, NULL, "90", 1, 100, NULL, -1, FALSE,
		"JPEG/WebP quality; at 90 and above JPEG keeps full chroma "
		"resolution" },
	{ "tile", SP_ARG_INT, "px", "256", 16, 4096, NULL, -1, FALSE,
		"TIFF tile width and height, a multiple of 16" },
	{ "pyramid", SP_ARG_BOOL, NULL, "true", 0, 0, NULL, -1, FALSE,
		"TIFF: add levels, each half the previous, down to one tile, as "
		"reduced-resolution subfiles (OpenSlide sees every level)" },
	{ "bigtiff", SP_ARG_CHOICE, NULL, "auto", 0, 0, bigtiff_choices, -1,
		FALSE,
		"TIFF: write BigTIFF; auto does so when the uncompressed output "
		"could exceed 4 GiB" },
};

typedef enum {
	FORMAT_TIFF,
	FORMAT_PNG,
	FORMAT_JPEG,
} Format;

static gboolean
format_from_path(const char *path, Format *format, GError **error)
{
	g_autofree char *lower = g_ascii_strdown(path, -1);

	if (g_str_has_suffix(lower, ".tif") || g_str_has_suffix(lower, ".tiff"))
		*format = FORMAT_TIFF;
	else if (g_str_has_suffix(lower, ".png"))
		*format = FORMAT_PNG;
	else if (g_str_has_suffix(lower, ".jpg") ||
		g_str_has_suffix(lower, ".jpeg"))
		*format = FORMAT_JPEG;
	else {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: cannot tell the format of '%s' from its extension "
			"(use .tif, .tiff, .png, .jpg or .jpeg)",
			path);
		return FALSE;
	}
	return TRUE;
}

static gboolean
save_plan(SpNode *node, GError **error)
{
	const char *path = _sp_arg_string(node, "path");
	Format format;

	if (!format_from_path(path, &format, error))
		return FALSE;
	if (format != FORMAT_TIFF) {
		const char *tiff_only[] = { "compression", "tile", "pyramid",
			"bigtiff" };
		for (guint i = 0; i < G_N_ELEMENTS(tiff_only); i++)
			if (_sp_arg_is_set(node, tiff_only[i])) {
				g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
					"save: argument '%s' applies to TIFF output only, not "
					"'%s'",
					tiff_only[i], path);
				return FALSE;
			}
	}
	if (_sp_arg_int(node, "tile") % 16 != 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: argument 'tile': %" G_GINT64_FORMAT
			" is not a multiple of 16",
			_sp_arg_int(node, "tile"));
		return FALSE;
	}
	if (format == FORMAT_JPEG &&
		(node->geom.width > 65535 || node->geom.height > 65535)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: '%s': JPEG files hold at most 65535 × 65535 pixels, "
			"this image is %d × %d; save as .tif",
			path, node->geom.width, node->geom.height);
		return FALSE;
	}
	return _sp_check_output_path("save", path, error);
}

static VipsForeignTiffCompression
compression_code(const char *name)
{
	if (strcmp(name, "jpeg") == 0)
		return VIPS_FOREIGN_TIFF_COMPRESSION_JPEG;
	if (strcmp(name, "lzw") == 0)
		return VIPS_FOREIGN_TIFF_COMPRESSION_LZW;
	if (strcmp(name, "deflate") == 0)
		return VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE;
	if (strcmp(name, "zstd") == 0)
		return VIPS_FOREIGN_TIFF_COMPRESSION_ZSTD;
	if (strcmp(name, "webp") == 0)
		return VIPS_FOREIGN_TIFF_COMPRESSION_WEBP;
	return VIPS_FOREIGN_TIFF_COMPRESSION_NONE;
}

static gboolean
save_run(SpNode *node, VipsImage *in, GError **error)
{
	const char *path = _sp_arg_string(node, "path");
	const SpGeometry *g = &node->geom;
	SpAtomicFile *af;
	VipsImage *image;
	Format format;
	int r;

	format_from_path(path, &format, NULL);
	/* pixel size: libvips resolution is pixels per mm */
	if (g->mpp_x > 0 && g->mpp_y > 0) {
		if (vips_copy(in, &image, "xres", 1000.0 / g->mpp_x, "yres",
				1000.0 / g->mpp_y, NULL)) {
			_sp_set_vips_error(error, "save", path);
			return FALSE;
		}
	}
	else
		image = g_object_ref(in);

	if (!(af = _sp_atomic_file_new("save", path, error))) {
		g_object_unref(image);
		return FALSE;
	}
	const char *temp = _sp_atomic_file_temp_path(af);
	int q = _sp_arg_int(node, "Q");

	if (format == FORMAT_TIFF) {
		const char *compression = _sp_arg_string(node, "compression");
		const char *bigtiff = _sp_arg_string(node, "bigtiff");
		gboolean pyramid = _sp_arg_bool(node, "pyramid");
		int tile = _sp_arg_int(node, "tile");
		gboolean big;

		if (!compression)
			compression = image->Bands == 3 ? "jpeg" : "lzw";
		if (strcmp(bigtiff, "auto") == 0) {
			guint64 bytes = (guint64) image->Xsize * image->Ysize *
				image->Bands;
			if (pyramid)
				bytes += bytes / 3;
			/* leave room for the directories and tile tables */
			big = bytes > G_GUINT64_CONSTANT(0xF0000000);
		}
		else
			big = strcmp(bigtiff, "true") == 0;
		if (strcmp(compression, "jpeg") == 0) {
			/* our writer: tiles compressed on every core */
			g_object_unref(image);
			if (!_sp_pyramid_write(in, temp, tile, q, pyramid, big, g->mpp_x,
					g->mpp_y, error)) {
				_sp_atomic_file_abort(af);
				return FALSE;
			}
			return _sp_atomic_file_commit(af, error);
		}
		r = vips_tiffsave(image, temp,
			"compression", compression_code(compression),
			"Q", q,
			"tile", TRUE,
			"tile_width", tile,
			"tile_height", tile,
			"pyramid", pyramid,
			"bigtiff", big,
			"resunit", VIPS_FOREIGN_TIFF_RESUNIT_CM,
			"region_shrink", image->Bands == 1 ?
				VIPS_REGION_SHRINK_MODE : VIPS_REGION_SHRINK_MEAN,
			"predictor", VIPS_FOREIGN_TIFF_PREDICTOR_HORIZONTAL,
			NULL);
	}
	else if (format == FORMAT_PNG)
		r = vips_pngsave(image, temp, NULL);
	else
		r = vips_jpegsave(image, temp, "Q", q, NULL);
	g_object_unref(image);

	if (r) {
		_sp_atomic_file_abort(af);
		_sp_set_vips_error(error, "save", path);
		return FALSE;
	}
	/* no pixel size: say so, rather than libvips' default 10 px/cm */
	if (format == FORMAT_TIFF && !(g->mpp_x > 0 && g->mpp_y > 0) &&
		!_sp_tiff_set_resolution_unit_none("save", temp, error)) {
		_sp_atomic_file_abort(af);
		return FALSE;
	}
	return _sp_atomic_file_commit(af, error);
}

const SpOpInfo _sp_op_save = {
	.name = "save",
	.summary = "write the image (tiled pyramidal TIFF, PNG or JPEG)",
	.description =
		"Writes the image to PATH; nothing is computed before this step, "
		"and pixels stream through in tiles, so memory does not grow "
		"with the image. TIFF output is tiled and pyramidal: lower levels "
		"are reduced-resolution subfiles in the main IFD chain, which "
		"OpenSlide, QuPath and viewers open; the pixel size is written "
		"as XResolution/YResolution in pixels per centimetre. The write "
		"is atomic: it goes to a hidden temporary file in the same "
		"directory, renamed to PATH only when complete, so a failed or "
		"interrupted save leaves nothing at PATH.",
	.kind = SP_OP_SINK,
	.args = save_args,
	.n_args = G_N_ELEMENTS(save_args),
	.plan = save_plan,
	.run = save_run,
};

SpNode *
sp_save(SpNode *in, const char *path, GError **error, ...)
{
	const char *fixed[] = { "path", path, NULL };
	va_list ap;
	SpNode *node;

	va_start(ap, error);
	node = _sp_node_new_fixed(in ? in->graph : NULL, "save", in, fixed,
		error, ap);
	va_end(ap);
	return node;
}
