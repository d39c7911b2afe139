/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* save's arguments and its TIFF layouts' planning and metadata
 * (ops/save.c, ops/save-layout.c). Not installed. */
#ifndef SP_SAVE_LAYOUT_H
#define SP_SAVE_LAYOUT_H

#include "sp-private.h"
#include "writer/writer.h"

G_BEGIN_DECLS

/* save's arguments, read once by save_args_read() (ops/save.c). Strings
 * belong to the node. */
typedef struct {
	const char *path;
	const char *compression; /* as given, or NULL (the default) */
	int quality;
	gboolean quality_set;
	int tile;
	gboolean tile_set;
	gboolean pyramid;
	const char *bigtiff; /* auto, true, false */
	const char *format; /* auto, generic, svs, ome */
	const char *associated; /* keep, drop */
	gboolean associated_set;
	const char *icc; /* keep, srgb, drop */
	const char *dicom_meta; /* format=dicom's attributes file, or NULL */
	const char *tiff_only_set; /* the first TIFF-only argument given, or
								* NULL */
} SaveArgs;

/* The layout save writes (format=auto decided by the path). */
SpTiffFlavour _sp_save_flavour(const SaveArgs *args);

/* save_plan's checks of format=, associated=, icc= against @args->path
 * and *@compression; may set *@compression to NULL (no tile copy planned:
 * the layout or icc=srgb needs decoded pixels). SP_ERROR_USAGE. */
gboolean _sp_save_plan_layout(SpNode *node, const SaveArgs *args,
	const char **compression, GError **error);

/* The pixels save writes: @in, or @in converted to sRGB (icc=srgb and
 * the source has a profile). A new reference, or NULL with @error. */
/* The source slide's associated image @name (label, macro) into @p, if
 * it has one (else TRUE with @p untouched); errors name @format. */
gboolean _sp_save_associated(SpSlide *slide, const char *name, SpPicture *p,
	const char *format, GError **error);
VipsImage *_sp_save_pixels(SpNode *node, const SaveArgs *args, VipsImage *in,
	GError **error);

/* What the TIFF layout @flavour adds for save @node (its geometry and its
 * chain's slide), for an output of @bands bands: level 0's description
 * (generic metadata, Aperio's, or OME-XML), the ICC profile (icc=keep),
 * and for SVS the thumbnail (in sRGB with icc=srgb), label and macro
 * (associated=keep), whose pixels are read now (a few MB at most).
 * @tile: the output's tile size; @quality: JPEG Q, 0 when tiles are
 * copied. NULL with @error (SP_ERROR_FAILED, naming save) when the
 * pictures cannot be read. */
SpTiffMeta *
_sp_save_meta(SpNode *node, const SaveArgs *args, SpTiffFlavour flavour,
	int tile, int quality, int bands, GError **error);

G_END_DECLS

#endif /* SP_SAVE_LAYOUT_H */
