/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* save: write the pipeline's image, by default as an OpenSlide-compatible
 * tiled pyramidal TIFF.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tiffio.h>

#include "save-layout.h"

static const char *const compression_choices[] = { "jpeg", "lzw", "deflate",
	"zstd", "webp", "none", "copy", "auto", NULL };
static const char *const bigtiff_choices[] = { "auto", "true", "false", NULL };
static const char *const format_choices[] = { "auto", "generic", "svs", "ome",
	"dicom", NULL };
static const char *const associated_choices[] = { "keep", "drop", NULL };
static const char *const icc_choices[] = { "keep", "srgb", "drop", NULL };

/* save's argument storage; save_args_read() turns it into the SaveArgs
 * that ops/save-layout.c reads. */
typedef struct {
	char *path;
	char *compression;
	int Q;
	int tile;
	gboolean pyramid;
	char *bigtiff;
	char *format;
	char *associated;
	char *icc;
	char *dicom_meta;
} SpSaveArgs;

static const SpArgInfo save_args[] = {
	{ "path", SP_ARG_PATH, NULL, NULL, 0, 0, NULL, 0, TRUE,
		"output file; the format comes from the extension: .tif/.tiff, "
		".svs, .png, .jpg/.jpeg; with format=dicom, the directory made "
		"for the DICOM series",
		SP_ARG_FIELD(SpSaveArgs, path) },
	{ "compression", SP_ARG_CHOICE, NULL, NULL, 0, 0, compression_choices,
		-1, FALSE,
		"TIFF tile compression (default: jpeg for RGB, lzw for masks and "
		"grey images); copy: copy the source's compressed JPEG tiles "
		"(a TIFF's, or a DICOM series' JPEG baseline frames) "
		"without decoding (the crop must lie on the source's tile grid, "
		"with nothing but crop between load and save); lower levels are "
		"copied where the region is on that level's tile grid, re-cut "
		"from the JPEG DCT coefficients (lossless) where it is on the "
		"16-pixel MCU grid, else computed from pixels; auto: as copy, "
		"and a level 0 on the MCU grid is re-cut too; else the default",
		SP_ARG_FIELD(SpSaveArgs, compression) },
	{ "Q", SP_ARG_INT, NULL, "90", 1, 100, NULL, -1, FALSE,
		"JPEG/WebP quality; at 90 and above JPEG keeps full chroma "
		"resolution",
		SP_ARG_FIELD(SpSaveArgs, Q) },
	{ "tile", SP_ARG_INT, "px", "256", 16, 4096, NULL, -1, FALSE,
		"TIFF tile width and height, a multiple of 16 (when copying: the "
		"source's)",
		SP_ARG_FIELD(SpSaveArgs, tile) },
	{ "pyramid", SP_ARG_BOOL, NULL, "true", 0, 0, NULL, -1, FALSE,
		"TIFF: add levels, each half the previous, down to one tile, as "
		"reduced-resolution subfiles (OpenSlide sees every level); "
		"written by libvips (compressions other than jpeg, and "
		"format=ome) the levels also end at the first one 1 px wide or "
		"tall",
		SP_ARG_FIELD(SpSaveArgs, pyramid) },
	{ "bigtiff", SP_ARG_CHOICE, NULL, "auto", 0, 0, bigtiff_choices, -1,
		FALSE,
		"TIFF: write BigTIFF; auto does so when the uncompressed output "
		"could exceed 4 GiB",
		SP_ARG_FIELD(SpSaveArgs, bigtiff) },
	{ "format", SP_ARG_CHOICE, NULL, "auto", 0, 0, format_choices, -1,
		FALSE,
		"TIFF layout. generic: levels as reduced-resolution subfiles in "
		"the main chain, mpp as XResolution/YResolution (OpenSlide 4 "
		"reports it as openslide.mpp-x/y; 3.4.1 only as tiff.XResolution) "
		"and the source's mpp, objective power and vendor properties as "
		"'name = value' lines in level 0's ImageDescription (every "
		"OpenSlide: tiff.ImageDescription). svs: Aperio layout (level 0, "
		"stripped thumbnail, lower levels, label (NewSubfileType 1), "
		"macro (9)), ImageDescriptions starting 'Aperio' with MPP and "
		"AppMag for the output, so OpenSlide 3.4.1 and 4 report vendor "
		"aperio, openslide.mpp-x/y and objective-power (3.4.1: only an "
		"integer AppMag); JPEG tiles only. ome: OME-TIFF, levels as "
		"SubIFDs and OME-XML with PhysicalSizeX/Y in µm, for Bio-Formats "
		"and QuPath; OpenSlide reads only its first level. dicom: PATH "
		"is a directory made for a DICOM whole-slide series, one "
		"instance per level (level-N.dcm, TILED_FULL, JPEG baseline "
		"frames: the pyramid's JPEG tiles, copied from the source where "
		"compression=copy or auto can, never decoded to be repackaged), "
		"nothing identifying in them; needs the mpp. auto: svs for "
		".svs, ome for .ome.tif/.ome.tiff, else generic",
		SP_ARG_FIELD(SpSaveArgs, format) },
	{ "associated", SP_ARG_CHOICE, NULL, "keep", 0, 0, associated_choices,
		-1, FALSE,
		"format=svs: keep: copy the source slide's label and macro images "
		"(decoded, stored as lossless LZW strips, so their pixels are the "
		"source's); drop: write neither. The thumbnail is always made "
		"anew from the output region",
		SP_ARG_FIELD(SpSaveArgs, associated) },
	{ "icc", SP_ARG_CHOICE, NULL, "keep", 0, 0, icc_choices, -1, FALSE,
		"TIFF: the source's embedded ICC profile (TIFF tag 34675 of level "
		"0). keep: embed it byte for byte on level 0; srgb: convert the "
		"pixels from it to sRGB (as vips icc_transform … srgb: lcms2, "
		"relative colorimetric) and embed none; drop: embed none, "
		"pixels unchanged. Nothing happens when the source has none",
		SP_ARG_FIELD(SpSaveArgs, icc) },
	{ "dicom-meta", SP_ARG_PATH, NULL, NULL, 0, 0, NULL, -1, FALSE,
		"format=dicom: a JSON object of the patient, study and specimen "
		"attributes to write, by DICOM keyword (PatientName, PatientID, "
		"PatientBirthDate, PatientSex, ReferringPhysicianName, "
		"StudyInstanceUID, StudyID, AccessionNumber, StudyDescription, "
		"ContainerIdentifier, SpecimenIdentifier); without it nothing "
		"identifying is written",
		SP_ARG_FIELD(SpSaveArgs, dicom_meta) },
};

typedef enum {
	FORMAT_TIFF,
	FORMAT_PNG,
	FORMAT_JPEG,
} Format;

static gboolean
is_dicom(const SaveArgs *args)
{
	return args->format && strcmp(args->format, "dicom") == 0;
}

static gboolean
format_from_path(const char *path, Format *format, GError **error)
{
	g_autofree char *lower = g_ascii_strdown(path, -1);

	if (g_str_has_suffix(lower, ".tif") ||
		g_str_has_suffix(lower, ".tiff") ||
		g_str_has_suffix(lower, ".svs"))
		*format = FORMAT_TIFF;
	else if (g_str_has_suffix(lower, ".png"))
		*format = FORMAT_PNG;
	else if (g_str_has_suffix(lower, ".jpg") ||
		g_str_has_suffix(lower, ".jpeg"))
		*format = FORMAT_JPEG;
	else {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: cannot tell the format of '%s' from its extension "
			"(use .tif, .tiff, .svs, .png, .jpg or .jpeg)",
			path);
		return FALSE;
	}
	return TRUE;
}

/* Every read of save's arguments: the rest of save works from @args,
 * filled from the node's SpSaveArgs and which of them were given. */
static void
save_args_read(SpNode *node, SaveArgs *args)
{
	const SpSaveArgs *a = node->args;
	const struct {
		const char *name;
		const void *field;
	} tiff_only[] = { { "compression", &a->compression },
		{ "tile", &a->tile }, { "pyramid", &a->pyramid },
		{ "bigtiff", &a->bigtiff }, { "format", &a->format },
		{ "associated", &a->associated }, { "icc", &a->icc } };

	args->path = a->path;
	args->compression = a->compression;
	args->quality = a->Q;
	args->quality_set = _sp_node_given(node, &a->Q);
	args->tile = a->tile;
	args->tile_set = _sp_node_given(node, &a->tile);
	args->pyramid = a->pyramid;
	args->bigtiff = a->bigtiff;
	args->format = a->format;
	args->associated = a->associated;
	args->associated_set = _sp_node_given(node, &a->associated);
	args->icc = a->icc;
	args->dicom_meta = a->dicom_meta;
	args->tiff_only_set = NULL;
	for (guint i = 0; i < G_N_ELEMENTS(tiff_only) && !args->tiff_only_set;
		i++)
		if (_sp_node_given(node, tiff_only[i].field))
			args->tiff_only_set = tiff_only[i].name;
}

typedef struct {
	gboolean copy; /* copy compressed tiles from the source */
	SpTileCopy tiles;
	int tile; /* the source's tile size */
	int view_level; /* slide level the first decoded level reads */
	SpDicomMeta *dicom_meta; /* dicom-meta=, read once when planning */
} SaveState;

/* The node's state, made on first use. */
static SaveState *
save_state(SpNode *node)
{
	if (!node->priv)
		node->priv = g_new0(SaveState, 1);
	return node->priv;
}

static void
save_state_free(void *data)
{
	SaveState *state = data;

	g_free((char *) state->tiles.path);
	if (state->tiles.dicom)
		_sp_dicom_unref(state->tiles.dicom);
	if (state->dicom_meta)
		_sp_dicom_meta_free(state->dicom_meta);
	g_free(state);
}

/* "level K" or "levels K–L": output levels @from … @to - 1. */
static char *
levels_text(int from, int to)
{
	return to - from > 1 ? g_strdup_printf("levels %d–%d", from, to - 1) :
			       g_strdup_printf("level %d", from);
}

/* What a copy will do, level by level, for explain. */
static char *
copy_plan_report(SpNode *node, const SaveArgs *args, const SaveState *state)
{
	int m = state->tiles.n_levels, nb = state->tiles.n_bytes;
	int n = _sp_pyramid_levels(node->input->geom.width,
		node->input->geom.height, state->tile, args->pyramid);
	GString *s = g_string_new("save: plan: ");

	if (nb > 0) {
		g_autofree char *l = levels_text(0, nb);
		g_string_append_printf(s,
			"copies %s of the source's compressed "
			"tiles byte for byte%s",
			l, m > nb ? ", " : "");
	}
	if (m > nb) {
		g_autofree char *l = levels_text(nb, m);
		g_string_append_printf(s,
			"re-cuts %s from the source's DCT "
			"coefficients",
			l);
	}
	if (m < n) {
		g_autofree char *l = levels_text(m, n);
		g_string_append_printf(s, "; computes %s from pixels", l);
	}
	return g_string_free(s, FALSE);
}

/* Whether the source's compressed tiles can be taken without decoding
 * pixels; if not, *why says why. Fills @state with the levels to take:
 * those whose origin is on the source's tile grid are copied byte for byte
 * (while every level before is), the others whose origin is on the JPEG
 * MCU grid are re-cut from the DCT coefficients (src/writer/retile.c). Level 0
 * must be on the tile grid unless @recut (compression=auto). */
static gboolean
plan_copy(SpNode *node, const SaveArgs *args, SaveState *state, gboolean recut,
	char **why)
{
	SpNode *in = node->input, *load = in;
	SpSlide *slide = node->slide;
	int level, page;

	if (in->op->role == SP_ROLE_REGION)
		load = in->input;
	if (load->op->role != SP_ROLE_SOURCE) {
		*why = g_strdup_printf("'%s' stands between load and save; only "
				       "crop may",
			in->op->name);
		return FALSE;
	}
	if (load->source_associated) {
		*why = g_strdup("an associated image has no tiles to copy");
		return FALSE;
	}
	level = load->source_level;
	SpDicom *dicom = _sp_slide_get_dicom(slide);
	if (!dicom && (page = _sp_slide_tiff_page(slide, level)) < 0) {
		*why = g_strdup_printf("'%s' is neither a tiled TIFF whose "
				       "levels libtiff can read nor a DICOM "
				       "series",
			sp_slide_get_path(slide));
		return FALSE;
	}

	const SpGeometry *g = &in->geom;
	const SpLevel *l0 = sp_slide_get_level(slide, 0);
	int out_w = g->width, out_h = g->height;

	state->tiles.path = g_strdup(sp_slide_get_path(slide));
	state->tiles.dicom = dicom ? _sp_dicom_ref(dicom) : NULL;
	/* one handle for every level's layout */
	TIFF *tiff = dicom ? NULL : _sp_tiff_open(state->tiles.path, "rmO");
	state->tiles.n_levels = 0;
	state->tiles.n_bytes = 0;
	for (int k = 0; k < 32 && out_w >= 1 && out_h >= 1; k++) {
		/* the source level with this output level's downsample */
		double want = g->downsample_x * (1 << k);
		int j = _sp_plan_level(slide, want, want);
		const SpLevel *lj = sp_slide_get_level(slide, j);
		double ds = (double) l0->width / lj->width;
		int pj = dicom ? j : _sp_slide_tiff_page(slide, j);
		SpTiffLayout layout = { 0 };
		char *reason = NULL;

		if (fabs(ds - want) > 1e-3 * want || pj < 0)
			break;
		gboolean readable = FALSE;
		if (dicom) {
			/* its frames, seen as a TIFF level's tiles would be */
			SpDicomTiles dt;
			if ((readable = _sp_dicom_jpeg_tiles(dicom, j, &dt,
				     &reason))) {
				layout.compression = COMPRESSION_JPEG;
				layout.bps = 8;
				layout.spp = dt.spp;
				layout.photometric = dt.photometric;
				layout.tile_width = layout.tile_height =
					(guint32) dt.tile;
			}
		} else
			readable = tiff &&
				_sp_tiff_layout_at(tiff, pj, &layout) &&
				layout.tiled;
		guint16 compression = layout.compression, bps = layout.bps;
		guint16 spp = layout.spp, photometric = layout.photometric;
		guint32 tw = layout.tile_width, th = layout.tile_height;

		double x = g->x / ds, y = g->y / ds;
		int t = (int) tw;

		if (reason)
			; /* the DICOM level's */
		else if (!readable)
			reason = g_strdup("its level cannot be read as tiles");
		else if (compression != COMPRESSION_JPEG)
			reason = g_strdup_printf("its tiles use TIFF compression %u, "
						 "not JPEG (7)",
				compression);
		else if (bps != 8 || spp != 3 ||
			(photometric != PHOTOMETRIC_YCBCR &&
				photometric != PHOTOMETRIC_RGB))
			reason = g_strdup("its tiles are not 8-bit RGB/YCbCr");
		else if (tw != th || tw % 16 != 0)
			reason = g_strdup_printf("its %u × %u tiles are not square "
						 "multiples of 16",
				tw, th);
		else if (k > 0 && t != state->tile)
			reason = g_strdup(
				"its levels have different tile sizes");
		else if (args->tile_set && args->tile != t)
			reason = g_strdup_printf(
				"tile=%d differs from the source's %d",
				args->tile, t);
		else if (fabs(x - floor(x + 0.5)) > 1e-6 ||
			fabs(y - floor(y + 0.5)) > 1e-6 ||
			(int) floor(x + 0.5) % SP_JPEG_MCU != 0 ||
			(int) floor(y + 0.5) % SP_JPEG_MCU != 0 ||
			(k == 0 && !recut &&
				((int) floor(x + 0.5) % t != 0 ||
					(int) floor(y + 0.5) % t != 0)))
			reason =
				g_strdup_printf("the region's origin %g,%g is not on "
						"the source's %d × %d tile grid "
						"(nearest below: %d,%d)",
					x, y, t, t, (int) floor(x / t) * t,
					(int) floor(y / t) * t);
		else if (floor(x + 0.5) + out_w > lj->width ||
			floor(y + 0.5) + out_h > lj->height)
			reason = g_strdup(
				"the region runs past the source level");
		if (reason) {
			if (k == 0)
				*why = g_strdup_printf("'%s' level %d: %s",
					sp_slide_get_path(slide), j, reason);
			g_free(reason);
			break;
		}
		/* on the tile grid: the source's tiles byte for byte, as long as
		 * every level before was too; else (on the MCU grid) re-cut */
		if (state->tiles.n_bytes == k &&
			(int) floor(x + 0.5) % t == 0 &&
			(int) floor(y + 0.5) % t == 0)
			state->tiles.n_bytes = k + 1;
		state->tile = t;
		state->tiles.page[k] = pj;
		state->tiles.x[k] = (int) floor(x + 0.5);
		state->tiles.y[k] = (int) floor(y + 0.5);
		state->tiles.n_levels = k + 1;
		/* the next output level, as the writer halves */
		if (!args->pyramid || (out_w <= t && out_h <= t))
			break;
		out_w = MAX(1, out_w / 2);
		out_h = MAX(1, out_h / 2);
	}
	if (tiff)
		TIFFClose(tiff);
	return state->tiles.n_levels > 0;
}

/* What the pixels' sample type and planes allow: JPEG and WebP hold
 * 8-bit samples, PNG 8 or 16-bit unsigned, Aperio SVS 8-bit RGB; only a
 * TIFF holds several planes (one page each). */
static gboolean
plan_samples(SpNode *node, const SaveArgs *args, Format format, GError **error)
{
	const SpGeometry *g = &node->input->geom;
	const char *path = args->path;
	const char *type = sp_format_name(g->format);
	const char *c = args->compression;
	int planes = sp_geometry_get_plane_count(g);

	if (planes > 1 && format != FORMAT_TIFF) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: '%s' holds one image, and the pipeline has %d planes "
			"(C %d × Z %d × T %d): save them as .tif or .ome.tif (one "
			"page each), pick one with load's c=, z=, t= or page=, or "
			"reduce them with 'project'",
			path, planes, g->n_c, g->n_z, g->n_t);
		return FALSE;
	}
	if (planes > 1 && _sp_save_flavour(args) == SP_TIFF_SVS) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: argument 'format': an Aperio SVS ('%s') holds one "
			"plane, and the pipeline has %d; use format=ome or generic",
			path, planes);
		return FALSE;
	}
	if (planes > 1 && c && strcmp(c, "copy") == 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: compression=copy is impossible for a stack of %d "
			"planes ('%s')",
			planes, path);
		return FALSE;
	}
	if (g->format == VIPS_FORMAT_UCHAR)
		return TRUE;
	if (format == FORMAT_JPEG ||
		(format == FORMAT_TIFF && c &&
			(strcmp(c, "jpeg") == 0 || strcmp(c, "webp") == 0 ||
				strcmp(c, "copy") == 0))) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: %s%s holds 8-bit samples, and the pipeline gives %s "
			"for '%s': save as TIFF with compression=lzw, deflate, zstd "
			"or none (lossless, any sample type), or convert first with "
			"'cast format=uint8'",
			format == FORMAT_JPEG ? "a JPEG file" :
						"argument "
						"'compression': ",
			format == FORMAT_JPEG ? "" : c, type, path);
		return FALSE;
	}
	if (format == FORMAT_PNG && g->format != VIPS_FORMAT_USHORT) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: a PNG file holds 8- or 16-bit unsigned samples, and "
			"the pipeline gives %s for '%s': save as .tif, or convert "
			"with 'cast'",
			type, path);
		return FALSE;
	}
	if (format == FORMAT_TIFF && _sp_save_flavour(args) == SP_TIFF_SVS) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: argument 'format': an Aperio SVS ('%s') holds 8-bit "
			"RGB, and the pipeline gives %s; use format=ome or generic",
			path, type);
		return FALSE;
	}
	return TRUE;
}

/* format=dicom: what a series of JPEG baseline instances can hold. */
static gboolean
plan_dicom(SpNode *node, const SaveArgs *args, GError **error)
{
	const SpGeometry *g = &node->geom;
	const char *c = args->compression;
	int planes = sp_geometry_get_plane_count(g);

	if (planes > 1) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: format=dicom ('%s') writes one plane, and the "
			"pipeline has %d; pick one with load's c=, z=, t= or "
			"page=",
			args->path, planes);
		return FALSE;
	}
	if (g->format != VIPS_FORMAT_UCHAR || (g->bands != 1 && g->bands != 3)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: format=dicom ('%s') writes 8-bit grey or RGB, and "
			"the pipeline gives %d band%s of %s; use 'cast "
			"format=uint8' (or save as TIFF)",
			args->path, g->bands, g->bands == 1 ? "" : "s",
			sp_format_name(g->format));
		return FALSE;
	}
	if (c && strcmp(c, "jpeg") && strcmp(c, "copy") && strcmp(c, "auto")) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: format=dicom ('%s') has JPEG baseline frames "
			"(compression=jpeg, copy or auto), not %s",
			args->path, c);
		return FALSE;
	}
	if (g->bands == 1 && (!c || strcmp(c, "auto") == 0)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: format=dicom ('%s') has JPEG baseline frames, "
			"which would change a 1-band image (a mask) that TIFF "
			"keeps lossless: give compression=jpeg to accept that, "
			"or save it as TIFF",
			args->path);
		return FALSE;
	}
	/* read once, now: errors before any work, and the file as it was
	 * then is what the series gets */
	g_clear_pointer(&save_state(node)->dicom_meta, _sp_dicom_meta_free);
	if (args->dicom_meta &&
		!(save_state(node)->dicom_meta =
				_sp_dicom_meta_read(args->dicom_meta, error))) {
		g_prefix_error(error, "save: ");
		return FALSE;
	}
	/* a series it wrote is replaced, as a TIFF is; nothing else */
	if (!_sp_output_replaceable(node->graph, "save", args->path,
		    _sp_dicom_series_dir_at)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: '%s' exists and is not a DICOM series slidepipe "
			"wrote (a directory of level-N.dcm, label.dcm and "
			"overview.dcm only), which is all format=dicom replaces; "
			"remove it or choose another name",
			args->path);
		return FALSE;
	}
	if (!(g->mpp_x > 0 && g->mpp_y > 0)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: format=dicom ('%s') needs the pixel size (Pixel "
			"Spacing), and '%s' records none",
			args->path, sp_slide_get_path(node->slide));
		return FALSE;
	}
	return TRUE;
}

static gboolean
save_plan(SpNode *node, GError **error)
{
	SaveArgs args;
	Format format;

	save_args_read(node, &args);
	const char *path = args.path;
	if (args.dicom_meta && !is_dicom(&args)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: argument 'dicom-meta' applies to format=dicom "
			"only ('%s')",
			path);
		return FALSE;
	}
	if (is_dicom(&args))
		format = FORMAT_TIFF; /* the pyramid the instances are cut from */
	else if (!format_from_path(path, &format, error))
		return FALSE;
	if (format != FORMAT_TIFF && args.tiff_only_set) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: argument '%s' applies to TIFF output only, not '%s'",
			args.tiff_only_set, path);
		return FALSE;
	}
	if (args.tile % 16 != 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: argument 'tile': %d is not a multiple of 16",
			args.tile);
		return FALSE;
	}
	const char *compression = args.compression;
	/* Q means something to JPEG and WebP only */
	if (args.quality_set &&
		(format == FORMAT_PNG ||
			(compression &&
				(strcmp(compression, "lzw") == 0 ||
					strcmp(compression, "deflate") == 0 ||
					strcmp(compression, "zstd") == 0 ||
					strcmp(compression, "none") == 0)))) {
		if (format == FORMAT_PNG)
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"save: argument 'Q' applies to JPEG and WebP compression "
				"only, not to the PNG file '%s'",
				path);
		else
			g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
				"save: argument 'Q' applies to JPEG and WebP compression "
				"only, not to compression=%s ('%s')",
				compression, path);
		return FALSE;
	}
	if (!plan_samples(node, &args, format, error))
		return FALSE;
	if (format == FORMAT_TIFF &&
		!_sp_save_plan_layout(node, &args, &compression, error))
		return FALSE;
	if (compression &&
		(strcmp(compression, "copy") == 0 ||
			strcmp(compression, "auto") == 0)) {
		SaveState *state = save_state(node);
		g_autofree char *why = NULL;

		/* copy: level 0 byte for byte; auto: or re-cut losslessly */
		state->copy = plan_copy(node, &args, state,
			strcmp(compression, "auto") == 0, &why);
		if (!state->copy && strcmp(compression, "copy") == 0) {
			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				"save: compression=copy is impossible: %s",
				why);
			return FALSE;
		}
		if (state->copy) {
			/* the plan, for explain; replaced by what was done */
			node->report = copy_plan_report(node, &args, state);
		}
	}
	if (is_dicom(&args) && !plan_dicom(node, &args, error))
		return FALSE;
	if (format == FORMAT_JPEG &&
		(node->geom.width > 65535 || node->geom.height > 65535)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"save: '%s': JPEG files hold at most 65535 × 65535 pixels, "
			"this image is %d × %d; save as .tif",
			path, node->geom.width, node->geom.height);
		return FALSE;
	}
	return _sp_check_not_an_input(node, "path", path, error) &&
		_sp_check_output_path_replacing(node->graph, "save", path,
			is_dicom(&args) ? _sp_dicom_series_dir_at : NULL, error);
}

static void
write_progress(int percent, void *user_data)
{
	_sp_node_progress(user_data, percent);
}

/* The writer's options for save @node's output @image (the pixels, at
 * level 0's size) in @format and layout @flavour; the caller sets path
 * and meta. */
static void
save_write_options(SpNode *node, const SaveArgs *args, VipsImage *image,
	Format format, SpTiffFlavour flavour, SpWriteOptions *o)
{
	const SpGeometry *g = &node->geom;
	const char *compression = args->compression;

	*o = (SpWriteOptions){ 0 };
	o->name = args->path;
	o->op = "save";
	o->format = format == FORMAT_TIFF ? SP_WRITE_TIFF :
		format == FORMAT_PNG      ? SP_WRITE_PNG :
					    SP_WRITE_JPEG;
	if (!compression || strcmp(compression, "auto") == 0)
		compression = image->BandFmt == VIPS_FORMAT_UCHAR &&
				(image->Bands == 3 || flavour == SP_TIFF_SVS) ?
			"jpeg" :
			"lzw";
	o->compression = compression;
	o->quality = args->quality;
	o->tile = args->tile;
	o->pyramid = args->pyramid;
	if (strcmp(args->bigtiff, "auto") == 0) {
		guint64 bytes = (guint64) image->Xsize * image->Ysize *
			image->Bands * vips_format_sizeof(image->BandFmt);
		if (args->pyramid)
			bytes += bytes / 3;
		/* leave room for the directories and tile tables */
		o->bigtiff = bytes > G_GUINT64_CONSTANT(0xF0000000);
	} else
		o->bigtiff = strcmp(args->bigtiff, "true") == 0;
	o->mpp_x = g->mpp_x;
	o->mpp_y = g->mpp_y;
	o->png_level = SP_PNG_SAVE_LEVEL;
	o->progress = write_progress;
	o->progress_data = node;
}

/* The finished temporary file to the output: renamed (TIFF, PNG, JPEG),
 * or with format=dicom cut into a temporary directory of instances which
 * is renamed instead (the TIFF pyramid is removed). @o: the options the
 * file was written with. */
static gboolean
save_finish(SpNode *node, const SaveArgs *args, SpAtomicFile *af,
	const SpWriteOptions *o, GError **error)
{
	if (!is_dicom(args))
		return _sp_atomic_file_commit(af, error);

	int dirfd = _sp_atomic_file_dirfd(af);
	g_autofree char *tmp_dir = g_strconcat(_sp_atomic_file_temp_name(af),
		".d", NULL);
	g_autoptr(GBytes) icc = NULL;
	const SpGeometry *g = &node->geom;

	if (mkdirat(dirfd, tmp_dir, 0777) != 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"save: cannot make a directory beside '%s': %s",
			args->path, g_strerror(err));
		_sp_atomic_file_abort(af);
		return FALSE;
	}
	int fd = openat(dirfd, tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (strcmp(args->icc, "keep") == 0)
		icc = sp_slide_get_icc_profile(node->slide);
	/* the label and macro only when asked: a label names the patient */
	SpPicture label = { 0 }, macro = { 0 };
	if (args->associated_set && strcmp(args->associated, "keep") == 0 &&
		(!_sp_save_associated(node->slide, "label", &label, "dicom",
			 error) ||
			!_sp_save_associated(node->slide, "macro", &macro,
				"dicom", error))) {
		g_free(label.pixels);
		g_free(macro.pixels);
		if (fd >= 0)
			close(fd);
		_sp_atomic_file_abort_dir(af, tmp_dir);
		return FALSE;
	}
	const SaveState *state = node->priv;
	const SpDicomMeta *meta = state ? state->dicom_meta : NULL;
	SpDicomWriteOptions d = {
		.tiff = _sp_atomic_file_temp_path(af),
		.n_levels = _sp_pyramid_levels(g->width, g->height, o->tile,
			o->pyramid),
		.width = g->width,
		.height = g->height,
		.tile = o->tile,
		.copy = o->copy && o->copy->n_bytes > 0 ? o->copy : NULL,
		.dirfd = fd,
		.name = args->path,
		.op = "save",
		.mpp_x = g->mpp_x,
		.mpp_y = g->mpp_y,
		.icc = icc,
		.meta = meta,
		.label = &label,
		.macro = &macro,
	};
	gboolean ok = fd >= 0 && _sp_dicom_write(&d, error);
	g_free(label.pixels);
	g_free(macro.pixels);
	if (fd < 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"save: cannot open the directory made beside '%s': %s",
			args->path, g_strerror(err));
	} else
		close(fd);
	if (!ok) {
		_sp_atomic_file_abort_dir(af, tmp_dir);
		return FALSE;
	}
	return _sp_atomic_file_commit_dir(af, tmp_dir, _sp_dicom_series_dir_at,
		error);
}

/* Lossless: the copied levels' tiles byte for byte; the first level that
 * cannot be copied is decoded from the planned level and re-encoded, and
 * the rest halved from it. @base: the options of the whole output. */
static gboolean
save_copy(SpNode *node, SaveState *state, SpAtomicFile *af,
	const SpWriteOptions *base, GError **error)
{
	const SpGeometry *g = &node->input->geom;
	SpWriteOptions o = *base;
	VipsImage *rest = NULL;
	int m = state->tiles.n_levels;
	int w = g->width, h = g->height;

	SaveArgs args;
	save_args_read(node, &args);
	/* format=dicom: the levels copied byte for byte go from the source
	 * to the instances; the pyramid holds the others only */
	int skip = is_dicom(&args) ? state->tiles.n_bytes : 0;
	SpTileCopy rest_copy = state->tiles;

	o.copy = &state->tiles;
	o.tile = state->tile;
	o.mpp_x = g->mpp_x;
	o.mpp_y = g->mpp_y;
	int n_total = _sp_pyramid_levels(g->width, g->height, o.tile,
		o.pyramid);
	/* the size of output level m, and of level skip */
	int w_skip = w, h_skip = h;
	for (int k = 0; k < m; k++) {
		w = MAX(1, w / 2);
		h = MAX(1, h / 2);
		if (k + 1 == skip) {
			w_skip = w;
			h_skip = h;
		}
	}
	if (m < n_total) {
		int level = _sp_plan_level(node->slide,
			g->downsample_x * (1 << m), g->downsample_x * (1 << m));
		if (!(rest = _sp_chain_view(node->input, level, w, h, error))) {
			_sp_atomic_file_abort(af);
			return FALSE;
		}
	}
	if (skip > 0) {
		rest_copy.n_levels = m - skip;
		rest_copy.n_bytes = 0;
		for (int k = 0; k < rest_copy.n_levels; k++) {
			rest_copy.page[k] = state->tiles.page[k + skip];
			rest_copy.x[k] = state->tiles.x[k + skip];
			rest_copy.y[k] = state->tiles.y[k + skip];
		}
		o.copy = rest_copy.n_levels > 0 ? &rest_copy : NULL;
	}
	gboolean ok = skip >= n_total ||
		_sp_pyramid_write(rest, skip ? w_skip : g->width,
			skip ? h_skip : g->height, &o, error);
	if (rest)
		g_object_unref(rest);
	if (!ok) {
		_sp_atomic_file_abort(af);
		return FALSE;
	}
	int nb = state->tiles.n_bytes;
	g_clear_pointer(&node->report, g_free);
	if (m > nb)
		node->report =
			g_strdup_printf("save: copied %d level%s of compressed "
					"tiles from the source without "
					"decoding, re-cut %d more from their "
					"DCT coefficients",
				nb, nb == 1 ? "" : "s", m - nb);
	else
		node->report =
			g_strdup_printf("save: copied %d level%s of compressed "
					"tiles from the source without "
					"decoding",
				m, m == 1 ? "" : "s");
	o.copy = &state->tiles;
	return save_finish(node, &args, af, &o, error);
}

/* A copy that failed on a source tile (@local, SP_ERROR_FORMAT): with
 * compression=auto, TRUE (every level is decoded and re-encoded instead,
 * and the report says why); otherwise FALSE with @error. Takes @local. */
static gboolean
copy_failed(SpNode *node, const SaveArgs *args, GError *local, GError **error)
{
	const char *why = strstr(local->message, "': ");
	gboolean bad_tile = g_error_matches(local, SP_ERROR, SP_ERROR_FORMAT);

	why = why ? why + 3 : local->message;
	if (!bad_tile || strcmp(args->compression, "auto") != 0) {
		if (bad_tile)
			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				"save: argument 'compression': cannot copy the source's "
				"tiles into '%s': %s (compression=auto decodes them "
				"instead)",
				args->path, why);
		else
			g_propagate_error(error, g_steal_pointer(&local));
		g_clear_error(&local);
		return FALSE;
	}
	g_clear_pointer(&node->report, g_free);
	node->report = g_strdup_printf("save: compression=auto: the source's "
				       "tiles cannot be taken as they are (%s), "
				       "so every level was decoded and "
				       "re-encoded",
		why);
	g_error_free(local);
	return TRUE;
}

static gboolean
save_write(SpNode *node, const SaveArgs *args, VipsImage *in, GError **error)
{
	const char *path = args->path;
	const SpGeometry *g = &node->geom;
	SaveState *state = node->priv;
	SpTiffFlavour flavour = _sp_save_flavour(args);
	g_autoptr(SpTiffMeta) meta = NULL;
	SpWriteOptions o;
	SpAtomicFile *af;
	VipsImage *image;
	Format format;

	if (is_dicom(args))
		format = FORMAT_TIFF;
	else
		format_from_path(path, &format, NULL);
	/* pixel size: libvips resolution is pixels per mm */
	if (g->mpp_x > 0 && g->mpp_y > 0) {
		if (vips_copy(in, &image, "xres", 1000.0 / g->mpp_x, "yres",
			    1000.0 / g->mpp_y, NULL)) {
			_sp_set_vips_error(error, "save", path);
			return FALSE;
		}
	} else
		image = g_object_ref(in);

	/* a lone save cleans up after its own killed predecessors; a batch
	 * does that once per directory (through its output root) instead of
	 * listing it for every row */
	if (!node->graph->batch_row)
		_sp_remove_stale_temps(path);
	SpReplaceable replaceable = is_dicom(args) ? _sp_dicom_series_dir_at :
						    NULL;
	if (!(af = _sp_atomic_file_new_replacing(node->graph, "save", path,
		      replaceable, error))) {
		g_object_unref(image);
		return FALSE;
	}
	save_write_options(node, args, image, format, flavour, &o);
	o.path = _sp_atomic_file_temp_path(af);

	if (format == FORMAT_TIFF) {
		gboolean copy = state && state->copy;

		/* what the layout adds (ops/save-layout.c) */
		if (!(meta = _sp_save_meta(node, args, flavour,
			      copy ? state->tile : o.tile, copy ? 0 : o.quality,
			      image->Bands, error))) {
			g_object_unref(image);
			_sp_atomic_file_abort(af);
			return FALSE;
		}
		o.meta = meta;
		if (copy) {
			GError *local = NULL;

			if (save_copy(node, state, af, &o, &local)) {
				g_object_unref(image);
				return TRUE;
			}
			/* a source tile that cannot be taken as it is: copy fails,
			 * auto decodes and re-encodes everything instead */
			if (!copy_failed(node, args, local, error)) {
				g_object_unref(image);
				return FALSE;
			}
			state->copy = FALSE;
			g_clear_pointer(&meta, _sp_tiff_meta_free);
			if (!(af = _sp_atomic_file_new_replacing(node->graph,
				      "save", path, replaceable, error)) ||
				!(meta = _sp_save_meta(node, args, flavour,
					  o.tile, o.quality, image->Bands,
					  error))) {
				if (af)
					_sp_atomic_file_abort(af);
				g_object_unref(image);
				return FALSE;
			}
			o.meta = meta;
			o.path = _sp_atomic_file_temp_path(af);
		}
	}
	gboolean ok = _sp_write(image, &o, error);

	g_object_unref(image);
	if (!ok) {
		_sp_atomic_file_abort(af);
		return FALSE;
	}
	return save_finish(node, args, af, &o, error);
}

/* The input's planes as one image, plane i at rows [i·h, (i+1)·h), with
 * libvips' page-height set to h: tiffsave writes each as a page (its
 * levels as SubIFDs), pulling tiles plane by plane, so only the planes
 * being written are ever read. */
static VipsImage *
stack_image(SpNode *node, GError **error)
{
	int n = sp_geometry_get_plane_count(&node->input->geom);
	g_autofree VipsImage **planes = g_new0(VipsImage *, n);
	VipsImage *joined, *out;

	for (int i = 0; i < n; i++)
		if (!(planes[i] = sp_node_get_plane(node->input, i, error)))
			return NULL;
	if (vips_arrayjoin(planes, &joined, n, "across", 1, NULL)) {
		_sp_set_vips_error(error, "save", "the planes");
		return NULL;
	}
	int r = vips_copy(joined, &out, NULL);
	g_object_unref(joined);
	if (r) {
		_sp_set_vips_error(error, "save", "the planes");
		return NULL;
	}
	vips_image_set_int(out, VIPS_META_PAGE_HEIGHT, planes[0]->Ysize);
	return out;
}

/* The writers name the file they write: the hidden temporary one, which
 * is gone by the time the user reads the message, and which the user
 * never asked for. Errors name the output path instead. */
static gboolean
save_run(SpNode *node, VipsImage *in, GError **error)
{
	GError *local = NULL;
	VipsImage *pixels;
	g_autoptr(VipsImage) stack = NULL;
	gboolean ok = FALSE;
	SaveArgs args;

	save_args_read(node, &args);
	if (sp_geometry_get_plane_count(&node->input->geom) > 1) {
		/* a stack: the planes one below the other, each a page */
		if (!(stack = stack_image(node, &local))) {
			_sp_message_name_output(local, args.path);
			g_propagate_error(error, local);
			return FALSE;
		}
		in = stack;
	}
	/* icc=srgb: the pixels converted first (src/icc.c) */
	if ((pixels = _sp_save_pixels(node, &args, in, &local))) {
		ok = save_write(node, &args, pixels, &local);
		g_object_unref(pixels);
	}
	if (ok)
		return TRUE;
	_sp_message_name_output(local, args.path);
	g_propagate_error(error, local);
	return FALSE;
}

const SpOpInfo _sp_op_save = {
	.name = "save",
	.summary = "write the image (tiled pyramidal TIFF, Aperio SVS, "
		   "OME-TIFF, PNG, JPEG or a DICOM WSI series)",
	.description =
		"Writes the image to PATH; nothing is computed before this step, "
		"and pixels stream through in tiles, so memory does not grow "
		"with the image. TIFF output is tiled and pyramidal: lower levels "
		"are reduced-resolution subfiles in the main IFD chain, which "
		"OpenSlide, QuPath and viewers open; the pixel size is written "
		"as XResolution/YResolution in pixels per centimetre. format=svs "
		"(.svs) writes the Aperio layout instead, with mpp, magnification, "
		"thumbnail, label and macro that OpenSlide 3.4.1 reports; "
		"format=ome (.ome.tif) an OME-TIFF with SubIFD levels. The write "
		"is atomic: it goes to a hidden temporary file in the same "
		"directory, renamed to PATH only when complete, so a failed or "
		"interrupted save leaves nothing at PATH.",
	.kind = SP_OP_SINK,
	.any_format = TRUE,
	.planes = TRUE,
	.role = SP_ROLE_SINK,
	.args = save_args,
	.n_args = G_N_ELEMENTS(save_args),
	.args_size = sizeof(SpSaveArgs),
	.plan = save_plan,
	.run = save_run,
	.free_priv = save_state_free,
};

SpNode *
sp_save(SpNode *in, const char *path, GError **error, ...)
{
	va_list ap;
	SpNode *node;

	va_start(ap, error);
	node = _sp_node_new_text(in ? in->graph : NULL, &_sp_op_save, in,
		G_STRUCT_OFFSET(SpSaveArgs, path), path, error, ap);
	va_end(ap);
	return node;
}
