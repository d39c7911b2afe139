/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* DICOM whole-slide output (save format=dicom): a directory of Part 10
 * files, one VL Whole Slide Microscopy Image instance (DICOM PS3.3
 * A.32.8) per pyramid level, TILED_FULL, JPEG baseline frames.
 *
 * The frames are the JPEG tiles of a tiled TIFF pyramid taken byte for
 * byte: each TIFF tile with the directory's JPEGTables spliced in front
 * (TIFF tiles are abbreviated streams; DICOM frames are whole ones). The
 * TIFF is the one save writes anyway (tiles copied, re-cut or computed,
 * src/writer/pyramid.c), so every pipeline save can write can go to
 * DICOM, and nothing is decoded here.
 *
 * The data sets carry what dciodvfy (dicom3tools) requires of the IOD
 * and nothing identifying: patient, study and specimen attributes are
 * present and empty (Type 2) or "UNKNOWN" (Type 1). UIDs are 2.25 UUIDs
 * (PS3.5 B.2). Offsets: a Basic Offset Table when the frames fit in
 * 4 GiB, else the Extended Offset Table (PS3.5 A.4) and an empty one.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <json-glib/json-glib.h>
#include <tiffio.h>

#include "writer.h"

#define WSI_SOP_CLASS "1.2.840.10008.5.1.4.1.1.77.1.6"
#define TS_EXPLICIT_LE "1.2.840.10008.1.2.1"
#define TS_JPEG_BASELINE "1.2.840.10008.1.2.4.50"
/* slidepipe's implementation class UID: a 2.25 UUID made once */
#define IMPLEMENTATION_UID "2.25.302545467961587916343396052361512392465"

/* --- data set encoding (explicit VR little endian) ---------------------- */

static void
put16(GByteArray *b, guint16 v)
{
	guint8 x[2] = { v & 0xFF, v >> 8 };
	g_byte_array_append(b, x, 2);
}

static void
put32(GByteArray *b, guint32 v)
{
	guint8 x[4] = { v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, v >> 24 };
	g_byte_array_append(b, x, 4);
}

static gboolean
long_vr(const char *vr)
{
	return strstr("OB OD OF OL OV OW SQ UC UR UT UN SV UV", vr) != NULL;
}

/* One element; the value padded to even length (UI and OB with NUL,
 * text with a space). */
static void
put(GByteArray *b, guint16 group, guint16 element, const char *vr,
	const void *value, guint32 length)
{
	guint32 padded = length + (length & 1);

	put16(b, group);
	put16(b, element);
	g_byte_array_append(b, (const guint8 *) vr, 2);
	if (long_vr(vr)) {
		put16(b, 0);
		put32(b, padded);
	} else
		put16(b, (guint16) padded);
	if (length)
		g_byte_array_append(b, value, length);
	if (length & 1) {
		guint8 pad = strcmp(vr, "UI") == 0 || strcmp(vr, "OB") == 0 ?
			0 :
			' ';
		g_byte_array_append(b, &pad, 1);
	}
}

static void
put_str(GByteArray *b, guint16 group, guint16 element, const char *vr,
	const char *s)
{
	put(b, group, element, vr, s, (guint32) strlen(s));
}

static void
put_us(GByteArray *b, guint16 group, guint16 element, guint16 v)
{
	guint8 x[2] = { v & 0xFF, v >> 8 };
	put(b, group, element, "US", x, 2);
}

static void
put_ul(GByteArray *b, guint16 group, guint16 element, guint32 v)
{
	guint8 x[4] = { v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, v >> 24 };
	put(b, group, element, "UL", x, 4);
}

static void
put_fl(GByteArray *b, guint16 group, guint16 element, float v)
{
	guint32 u;
	memcpy(&u, &v, 4);
	guint8 x[4] = { u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF, u >> 24 };
	put(b, group, element, "FL", x, 4);
}

static void
put_int(GByteArray *b, guint16 group, guint16 element, gint64 v)
{
	char s[24];
	g_snprintf(s, sizeof(s), "%" G_GINT64_FORMAT, v);
	put_str(b, group, element, "IS", s);
}

/* A decimal string of at most 16 characters (the DS limit). */
static void
ds_text(char *s, double v)
{
	for (int digits = 12; digits > 0; digits--) {
		g_snprintf(s, 17, "%.*g", digits, v);
		if (strlen(s) <= 16 && !strchr(s, ' '))
			return;
	}
}

static void
put_ds(GByteArray *b, guint16 group, guint16 element, double v)
{
	char s[17];
	ds_text(s, v);
	put_str(b, group, element, "DS", s);
}

/* Sequences and items of undefined length, closed by delimiters. */
static void
seq_begin(GByteArray *b, guint16 group, guint16 element)
{
	put16(b, group);
	put16(b, element);
	g_byte_array_append(b, (const guint8 *) "SQ", 2);
	put16(b, 0);
	put32(b, 0xFFFFFFFFu);
}

static void
seq_end(GByteArray *b)
{
	put16(b, 0xFFFE);
	put16(b, 0xE0DD);
	put32(b, 0);
}

static void
item_begin(GByteArray *b)
{
	put16(b, 0xFFFE);
	put16(b, 0xE000);
	put32(b, 0xFFFFFFFFu);
}

static void
item_end(GByteArray *b)
{
	put16(b, 0xFFFE);
	put16(b, 0xE00D);
	put32(b, 0);
}

static void
empty_seq(GByteArray *b, guint16 group, guint16 element)
{
	seq_begin(b, group, element);
	seq_end(b);
}

/* A one-item code sequence. */
static void
code_seq(GByteArray *b, guint16 group, guint16 element, const char *value,
	const char *scheme, const char *meaning)
{
	seq_begin(b, group, element);
	item_begin(b);
	put_str(b, 0x0008, 0x0100, "SH", value);
	put_str(b, 0x0008, 0x0102, "SH", scheme);
	put_str(b, 0x0008, 0x0104, "LO", meaning);
	item_end(b);
	seq_end(b);
}

/* "2.25." and a random UUID as a decimal integer (PS3.5 B.2). */
static char *
new_uid(void)
{
	g_autofree char *uuid = g_uuid_string_random();
	guint32 limb[4] = { 0 };
	int k = 0;
	char digits[48];
	int n = 0;

	/* 32 hex digits into 4 big-endian 32-bit limbs */
	for (const char *p = uuid; *p; p++) {
		if (*p == '-')
			continue;
		limb[k / 8] = limb[k / 8] << 4 | g_ascii_xdigit_value(*p);
		k++;
	}
	/* repeated division by 10 */
	for (;;) {
		guint64 rem = 0;
		gboolean zero = TRUE;
		for (int i = 0; i < 4; i++) {
			guint64 cur = rem << 32 | limb[i];
			limb[i] = (guint32) (cur / 10);
			rem = cur % 10;
			zero = zero && limb[i] == 0;
		}
		digits[n++] = (char) ('0' + rem);
		if (zero)
			break;
	}
	GString *s = g_string_new("2.25.");
	while (n > 0)
		g_string_append_c(s, digits[--n]);
	return g_string_free(s, FALSE);
}

/* --- dicom-meta=FILE.json ----------------------------------------------- */

/* The attributes a meta file may give: keyword, VR, longest value. */
static const struct {
	const char *keyword;
	const char *vr;
	int max;
	gsize offset;
} meta_fields[] = {
	{ "PatientName", "PN", 64, G_STRUCT_OFFSET(SpDicomMeta, patient_name) },
	{ "PatientID", "LO", 64, G_STRUCT_OFFSET(SpDicomMeta, patient_id) },
	{ "PatientBirthDate", "DA", 8,
		G_STRUCT_OFFSET(SpDicomMeta, patient_birth_date) },
	{ "PatientSex", "CS", 1, G_STRUCT_OFFSET(SpDicomMeta, patient_sex) },
	{ "ReferringPhysicianName", "PN", 64,
		G_STRUCT_OFFSET(SpDicomMeta, referring_physician_name) },
	{ "StudyInstanceUID", "UI", 64,
		G_STRUCT_OFFSET(SpDicomMeta, study_instance_uid) },
	{ "StudyID", "SH", 16, G_STRUCT_OFFSET(SpDicomMeta, study_id) },
	{ "AccessionNumber", "SH", 16,
		G_STRUCT_OFFSET(SpDicomMeta, accession_number) },
	{ "StudyDescription", "LO", 64,
		G_STRUCT_OFFSET(SpDicomMeta, study_description) },
	{ "ContainerIdentifier", "LO", 64,
		G_STRUCT_OFFSET(SpDicomMeta, container_identifier) },
	{ "SpecimenIdentifier", "LO", 64,
		G_STRUCT_OFFSET(SpDicomMeta, specimen_identifier) },
};

void
_sp_dicom_meta_free(SpDicomMeta *meta)
{
	if (!meta)
		return;
	for (guint i = 0; i < G_N_ELEMENTS(meta_fields); i++)
		g_free(G_STRUCT_MEMBER(char *, meta, meta_fields[i].offset));
	g_free(meta);
}

/* Why @v is not a value of @vr of at most @max characters, or NULL. */
static const char *
meta_value_problem(const char *vr, int max, const char *v)
{
	if (!g_utf8_validate(v, -1, NULL))
		return "is not UTF-8";
	if (g_utf8_strlen(v, -1) > max)
		return "is too long";
	for (const char *c = v; *c; c++)
		if ((guchar) *c < 0x20 || *c == 0x7F || *c == '\\')
			return "holds a control character or a backslash";
	if (strcmp(vr, "DA") == 0) {
		int y, m, d;
		char tail;
		if (strlen(v) != 8 || strspn(v, "0123456789") != 8 ||
			sscanf(v, "%4d%2d%2d%c", &y, &m, &d, &tail) != 3 ||
			!g_date_valid_dmy((GDateDay) d, (GDateMonth) m,
				(GDateYear) y))
			return "is not a date YYYYMMDD";
	} else if (strcmp(vr, "CS") == 0) {
		if (strcmp(v, "M") && strcmp(v, "F") && strcmp(v, "O"))
			return "is not M, F or O";
	} else if (strcmp(vr, "UI") == 0) {
		/* digits in dot-separated components, none with a leading
		 * zero but 0 itself (PS3.5 9.1) */
		gboolean start = TRUE;
		if (!*v)
			return "is empty";
		for (const char *c = v; *c; c++) {
			if (*c == '.') {
				if (start)
					return "is not a UID (an empty component)";
				start = TRUE;
			} else if (g_ascii_isdigit(*c)) {
				if (start && *c == '0' && g_ascii_isdigit(c[1]))
					return "is not a UID (a leading zero)";
				start = FALSE;
			} else
				return "is not a UID (digits and dots)";
		}
		if (start)
			return "is not a UID (it ends with a dot)";
	}
	return NULL;
}

SpDicomMeta *
_sp_dicom_meta_read(const char *path, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(SpDicomMeta) meta = g_new0(SpDicomMeta, 1);
	g_autofree char *shown = sp_printable(path);
	GError *local = NULL;

	if (!json_parser_load_from_mapped_file(parser, path, &local)) {
		gboolean io = local->domain == G_FILE_ERROR;
		g_set_error(error, SP_ERROR, io ? SP_ERROR_IO : SP_ERROR_FORMAT,
			"dicom-meta: '%s': %s", shown, local->message);
		g_error_free(local);
		return NULL;
	}
	JsonNode *root = json_parser_get_root(parser);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"dicom-meta: '%s' is not a JSON object of attributes "
			"(such as {\"PatientID\": \"…\"})",
			shown);
		return NULL;
	}
	JsonObject *o = json_node_get_object(root);
	g_autoptr(GList) members = json_object_get_members(o);
	for (GList *m = members; m; m = m->next) {
		const char *key = m->data;
		int k = -1;
		for (guint i = 0; i < G_N_ELEMENTS(meta_fields) && k < 0; i++)
			if (strcmp(key, meta_fields[i].keyword) == 0)
				k = (int) i;
		g_autofree char *key_shown = sp_printable(key);
		if (k < 0) {
			GString *known = g_string_new(NULL);
			for (guint i = 0; i < G_N_ELEMENTS(meta_fields); i++)
				g_string_append_printf(known, "%s%s",
					i ? ", " : "", meta_fields[i].keyword);
			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				"dicom-meta: '%s': '%s' is not an attribute "
				"slidepipe writes (%s)",
				shown, key_shown, known->str);
			g_string_free(known, TRUE);
			return NULL;
		}
		JsonNode *n = json_object_get_member(o, key);
		if (!JSON_NODE_HOLDS_VALUE(n) ||
			json_node_get_value_type(n) != G_TYPE_STRING) {
			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				"dicom-meta: '%s': %s is not a string", shown,
				key_shown);
			return NULL;
		}
		const char *v = json_node_get_string(n);
		const char *why = meta_value_problem(meta_fields[k].vr,
			meta_fields[k].max, v);
		if (why) {
			g_autofree char *v_shown = sp_printable(v);
			g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
				"dicom-meta: '%s': %s '%s' %s (%s, at most %d "
				"characters)",
				shown, key_shown, v_shown, why,
				meta_fields[k].vr, meta_fields[k].max);
			return NULL;
		}
		char **field = &G_STRUCT_MEMBER(char *, meta,
			meta_fields[k].offset);
		g_free(*field);
		*field = g_strdup(v);
	}
	return g_steal_pointer(&meta);
}

/* @meta's value of a field, or @otherwise. */
#define META(s, field, otherwise) \
	((s)->o->meta && (s)->o->meta->field ? (s)->o->meta->field : (otherwise))

/* --- the instances ------------------------------------------------------ */

typedef struct {
	const SpDicomWriteOptions *o;
	char *study_uid, *series_uid, *frame_uid, *pyramid_uid, *dimension_uid;
	char *specimen_uid;
	char date[16], time[16];
	gint64 width0, height0; /* level 0 */
	int instance; /* 1, 2 … */
} Series;

/* One instance: @frames (n, each a complete JPEG stream of @tile_w ×
 * @tile_h) are written by @frame_fn; everything else from the arguments. */
typedef struct {
	const char *image_type[5]; /* NULL-terminated */
	const char *photometric;
	int spp;
	gint64 width, height;
	int tile_w, tile_h;
	gint64 n_frames;
	guint64 *frame_bytes; /* stored length of each (even) */
	double compression_ratio;
	gboolean label;
	/* µm per pixel when not the pyramid's (label and overview) */
	double mpp_x, mpp_y;
} Level;

static GByteArray *
data_set(Series *s, const Level *l, const char *sop_uid, gboolean eot)
{
	GByteArray *b = g_byte_array_new();
	const SpDicomWriteOptions *o = s->o;
	g_autofree char *image_type = g_strjoinv("\\", (char **) l->image_type);
	double mpp_x = l->mpp_x > 0 ? l->mpp_x : o->mpp_x * s->width0 / l->width;
	double mpp_y = l->mpp_y > 0 ? l->mpp_y : o->mpp_y * s->height0 / l->height;
	gboolean volume = strcmp(l->image_type[2], "VOLUME") == 0;

	put_str(b, 0x0008, 0x0005, "CS", "ISO_IR 192");
	put_str(b, 0x0008, 0x0008, "CS", image_type);
	put_str(b, 0x0008, 0x0016, "UI", WSI_SOP_CLASS);
	put_str(b, 0x0008, 0x0018, "UI", sop_uid);
	if (volume)
		put_str(b, 0x0008, 0x0019, "UI", s->pyramid_uid);
	put_str(b, 0x0008, 0x0020, "DA", s->date);
	put_str(b, 0x0008, 0x0021, "DA", s->date);
	put_str(b, 0x0008, 0x0023, "DA", s->date);
	g_autofree char *dt = g_strconcat(s->date, s->time, NULL);
	put_str(b, 0x0008, 0x002A, "DT", dt);
	put_str(b, 0x0008, 0x0030, "TM", s->time);
	put_str(b, 0x0008, 0x0031, "TM", s->time);
	put_str(b, 0x0008, 0x0033, "TM", s->time);
	put_str(b, 0x0008, 0x0050, "SH", META(s, accession_number, ""));
	put_str(b, 0x0008, 0x0060, "CS", "SM");
	put_str(b, 0x0008, 0x0070, "LO", "slidepipe");
	put_str(b, 0x0008, 0x0090, "PN", META(s, referring_physician_name, ""));
	if (META(s, study_description, NULL))
		put_str(b, 0x0008, 0x1030, "LO", s->o->meta->study_description);
	put_str(b, 0x0008, 0x1090, "LO", "slidepipe");
	put_str(b, 0x0008, 0x9206, "CS", "VOLUME");
	put_str(b, 0x0010, 0x0010, "PN", META(s, patient_name, ""));
	put_str(b, 0x0010, 0x0020, "LO", META(s, patient_id, ""));
	put_str(b, 0x0010, 0x0030, "DA", META(s, patient_birth_date, ""));
	put_str(b, 0x0010, 0x0040, "CS", META(s, patient_sex, ""));
	put_str(b, 0x0018, 0x1000, "LO", "UNKNOWN");
	put_str(b, 0x0018, 0x1020, "LO", PACKAGE_VERSION);
	put_str(b, 0x0020, 0x000D, "UI", s->study_uid);
	put_str(b, 0x0020, 0x000E, "UI", s->series_uid);
	put_str(b, 0x0020, 0x0010, "SH", META(s, study_id, ""));
	put_int(b, 0x0020, 0x0011, 1);
	put_int(b, 0x0020, 0x0013, s->instance);
	put_str(b, 0x0020, 0x0020, "CS", "");
	put_str(b, 0x0020, 0x0052, "UI", s->frame_uid);
	put_str(b, 0x0020, 0x1040, "LO", "SLIDE_CORNER");
	seq_begin(b, 0x0020, 0x9221);
	item_begin(b);
	put_str(b, 0x0020, 0x9164, "UI", s->dimension_uid);
	item_end(b);
	seq_end(b);
	put_str(b, 0x0020, 0x9311, "CS", "TILED_FULL");
	put_us(b, 0x0028, 0x0002, (guint16) l->spp);
	put_str(b, 0x0028, 0x0004, "CS", l->photometric);
	if (l->spp > 1)
		put_us(b, 0x0028, 0x0006, 0);
	put_int(b, 0x0028, 0x0008, l->n_frames);
	put_us(b, 0x0028, 0x0010, (guint16) l->tile_h);
	put_us(b, 0x0028, 0x0011, (guint16) l->tile_w);
	put_us(b, 0x0028, 0x0100, 8);
	put_us(b, 0x0028, 0x0101, 8);
	put_us(b, 0x0028, 0x0102, 7);
	put_us(b, 0x0028, 0x0103, 0);
	/* a label is one; an overview shows it */
	put_str(b, 0x0028, 0x0301, "CS", volume ? "NO" : "YES");
	if (l->spp == 1) {
		/* Type 1C for MONOCHROME2 (PS3.3 C.8.12.4) */
		put_str(b, 0x0028, 0x1052, "DS", "0");
		put_str(b, 0x0028, 0x1053, "DS", "1");
	}
	put_str(b, 0x0028, 0x2110, "CS", "01");
	put_ds(b, 0x0028, 0x2112, l->compression_ratio);
	put_str(b, 0x0028, 0x2114, "CS", "ISO_10918_1");
	put_str(b, 0x0040, 0x0512, "LO", META(s, container_identifier, "UNKNOWN"));
	empty_seq(b, 0x0040, 0x0513);
	code_seq(b, 0x0040, 0x0518, "433466003", "SCT", "Microscope slide");
	empty_seq(b, 0x0040, 0x0555);
	seq_begin(b, 0x0040, 0x0560);
	item_begin(b);
	put_str(b, 0x0040, 0x0551, "LO", META(s, specimen_identifier, "UNKNOWN"));
	put_str(b, 0x0040, 0x0554, "UI", s->specimen_uid);
	empty_seq(b, 0x0040, 0x0562);
	empty_seq(b, 0x0040, 0x0610);
	item_end(b);
	seq_end(b);
	put_fl(b, 0x0048, 0x0001, (float) (l->width * mpp_x / 1000));
	put_fl(b, 0x0048, 0x0002, (float) (l->height * mpp_y / 1000));
	put_fl(b, 0x0048, 0x0003, 0.001f);
	put_ul(b, 0x0048, 0x0006, (guint32) l->width);
	put_ul(b, 0x0048, 0x0007, (guint32) l->height);
	seq_begin(b, 0x0048, 0x0008);
	item_begin(b);
	put_str(b, 0x0040, 0x072A, "DS", "0");
	put_str(b, 0x0040, 0x073A, "DS", "0");
	item_end(b);
	seq_end(b);
	put_str(b, 0x0048, 0x0010, "CS", l->label || !volume ? "YES" : "NO");
	put_str(b, 0x0048, 0x0011, "CS", "AUTO");
	put_str(b, 0x0048, 0x0012, "CS", "NO");
	put_str(b, 0x0048, 0x0102, "DS", "0\\-1\\0\\-1\\0\\0");
	seq_begin(b, 0x0048, 0x0105);
	item_begin(b);
	code_seq(b, 0x0022, 0x0016, "111744", "DCM",
		"Brightfield illumination");
	/* Type 1C for colour: the source's, else sRGB (what the pixels
	 * are taken to be without one) */
	if (l->spp == 3) {
		g_autoptr(GBytes) icc = o->icc ? g_bytes_ref(o->icc) :
						 _sp_icc_srgb();
		if (icc)
			put(b, 0x0028, 0x2000, "OB", g_bytes_get_data(icc, NULL),
				(guint32) g_bytes_get_size(icc));
	}
	put_str(b, 0x0048, 0x0106, "SH", "1");
	put_str(b, 0x0048, 0x0107, "ST", "Brightfield");
	code_seq(b, 0x0048, 0x0108, "414298005", "SCT", "Full Spectrum");
	item_end(b);
	seq_end(b);
	put_ul(b, 0x0048, 0x0302, 1);
	put_ul(b, 0x0048, 0x0303, 1);
	if (l->spp == 1)
		put_str(b, 0x2050, 0x0020, "CS", "IDENTITY");
	if (l->label) {
		put_str(b, 0x2200, 0x0002, "UT", "");
		put_str(b, 0x2200, 0x0005, "LT", "");
	}
	seq_begin(b, 0x5200, 0x9229);
	item_begin(b);
	seq_begin(b, 0x0028, 0x9110);
	item_begin(b);
	put_str(b, 0x0018, 0x0050, "DS", "0.001");
	char spacing[40], sy[17], sx[17];
	ds_text(sy, mpp_y / 1000);
	ds_text(sx, mpp_x / 1000);
	g_snprintf(spacing, sizeof(spacing), "%s\\%s", sy, sx);
	put_str(b, 0x0028, 0x0030, "DS", spacing);
	item_end(b);
	seq_end(b);
	seq_begin(b, 0x0040, 0x0710);
	item_begin(b);
	put_str(b, 0x0008, 0x9007, "CS", image_type);
	item_end(b);
	seq_end(b);
	seq_begin(b, 0x0048, 0x0207);
	item_begin(b);
	put_str(b, 0x0048, 0x0106, "SH", "1");
	item_end(b);
	seq_end(b);
	item_end(b);
	seq_end(b);
	if (eot) {
		/* the Extended Offset Table and its lengths (PS3.5 A.4) */
		GByteArray *t = g_byte_array_sized_new(8 * l->n_frames);
		guint64 at = 0;
		for (gint64 i = 0; i < l->n_frames; i++) {
			for (int k = 0; k < 8; k++)
				g_byte_array_append(t,
					&(guint8) { (guint8) (at >> (8 * k)) }, 1);
			at += 8 + l->frame_bytes[i];
		}
		put(b, 0x7FE0, 0x0001, "OV", t->data, t->len);
		g_byte_array_set_size(t, 0);
		for (gint64 i = 0; i < l->n_frames; i++)
			for (int k = 0; k < 8; k++)
				g_byte_array_append(t,
					&(guint8) { (guint8) (l->frame_bytes[i] >>
						(8 * k)) },
					1);
		put(b, 0x7FE0, 0x0002, "OV", t->data, t->len);
		g_byte_array_unref(t);
	}
	return b;
}

static GByteArray *
file_meta(const char *sop_uid)
{
	GByteArray *m = g_byte_array_new();
	GByteArray *b = g_byte_array_new();
	guint8 version[2] = { 0, 1 };

	put(m, 0x0002, 0x0001, "OB", version, 2);
	put_str(m, 0x0002, 0x0002, "UI", WSI_SOP_CLASS);
	put_str(m, 0x0002, 0x0003, "UI", sop_uid);
	put_str(m, 0x0002, 0x0010, "UI", TS_JPEG_BASELINE);
	put_str(m, 0x0002, 0x0012, "UI", IMPLEMENTATION_UID);
	put_str(m, 0x0002, 0x0013, "SH", "SLIDEPIPE");

	guint8 preamble[128] = { 0 };
	g_byte_array_append(b, preamble, 128);
	g_byte_array_append(b, (const guint8 *) "DICM", 4);
	put_ul(b, 0x0002, 0x0000, m->len);
	g_byte_array_append(b, m->data, m->len);
	g_byte_array_unref(m);
	return b;
}

/* A buffered writer on a descriptor: errors are kept, checked at the end. */
typedef struct {
	int fd;
	GByteArray *buf;
	int err;
} Out;

static void
out_flush(Out *w)
{
	guint8 *p = w->buf->data;
	gsize n = w->buf->len;

	while (n > 0 && !w->err) {
		ssize_t r = write(w->fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			w->err = r < 0 ? errno : ENOSPC;
			break;
		}
		p += r;
		n -= (gsize) r;
	}
	g_byte_array_set_size(w->buf, 0);
}

static void
out_write(Out *w, const void *data, gsize n)
{
	g_byte_array_append(w->buf, data, (guint) n);
	if (w->buf->len >= (1u << 20))
		out_flush(w);
}

/* The rest written and the descriptor closed: @ok, unless that fails
 * (then FALSE, with @error set when it was still free). */
static gboolean
out_close(Out *w, gboolean ok, const char *op, const char *name,
	GError **error)
{
	out_flush(w);
	int err = w->err;
	if (close(w->fd) != 0 && !err)
		err = errno;
	if (err && ok)
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': %s", op, name, g_strerror(err));
	return ok && !err;
}

/* Where a level's frames come from: byte ranges of one file, each a
 * JPEG stream, copied as they are or (a TIFF's abbreviated tiles) with
 * the level's tables spliced in front. Owned arrays; see frames_free(). */
typedef struct {
	int fd; /* the source file, read with pread() */
	char *where; /* the source level, for messages */
	const guint8 *tables; /* JPEGTables, @prefix bytes of it spliced
			       * before every frame but its SOI, or NULL */
	gsize prefix;
	guint64 *offset, *bytes; /* per frame */
} Frames;

static void
frames_free(Frames *f)
{
	g_free(f->where);
	g_free(f->offset);
	g_free(f->bytes);
}

/* Output level @l's frames (row-major over its tiles) as tiles of TIFF
 * directory @page from tile (@tx0, @ty0) on: @l's samples, photometric
 * and tiles from the directory, @f's ranges from its tile offsets. */
static gboolean
tiff_frames(const SpDicomWriteOptions *o, TIFF *tiff, int page,
	const char *path, int tx0, int ty0, Level *l, Frames *f,
	GError **error)
{
	SpTiffLayout lay;
	guint32 n_tables = 0;
	const guint8 *tables = NULL;

	if (!_sp_tiff_layout_at(tiff, page, &lay) || !lay.tiled ||
		lay.compression != COMPRESSION_JPEG || lay.bps != 8 ||
		(lay.spp != 1 && lay.spp != 3) ||
		lay.tile_width > 65535 || lay.tile_height > 65535) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"%s: level %d of the pyramid is not JPEG-tiled 8-bit "
			"1- or 3-band (DICOM frames are JPEG baseline)",
			o->op, page);
		return FALSE;
	}
	TIFFGetField(tiff, TIFFTAG_JPEGTABLES, &n_tables, &tables);
	l->spp = lay.spp;
	l->tile_w = (int) lay.tile_width;
	l->tile_h = (int) lay.tile_height;
	if (lay.spp == 1)
		l->photometric = "MONOCHROME2";
	else if (lay.photometric == PHOTOMETRIC_YCBCR) {
		/* what DICOM names JPEG baseline's YCbCr whatever the
		 * stream's chroma sampling (PS3.5 8.2.1; dciodvfy refuses
		 * YBR_FULL with it) */
		l->photometric = "YBR_FULL_422";
	} else
		l->photometric = "RGB";
	gint64 across = (l->width + l->tile_w - 1) / l->tile_w;
	gint64 down = (l->height + l->tile_h - 1) / l->tile_h;
	l->n_frames = across * down;
	if ((tx0 + across) * l->tile_w > (gint64) lay.width + l->tile_w - 1 ||
		(ty0 + down) * l->tile_h > (gint64) lay.height + l->tile_h - 1) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"%s: %" G_GINT64_FORMAT " × %" G_GINT64_FORMAT
			" tiles from tile %d, %d are not all in directory %d of "
			"'%s' (%u × %u px)",
			o->op, across, down, tx0, ty0, page, path, lay.width,
			lay.height);
		return FALSE;
	}
	f->fd = TIFFFileno(tiff);
	f->where = g_strdup_printf("'%s' directory %d", path, page);
	/* tables without their EOI (2 bytes), tiles without their SOI */
	f->tables = tables;
	f->prefix = n_tables > 4 ? n_tables - 2 : 0;
	f->offset = g_new(guint64, l->n_frames);
	f->bytes = g_new(guint64, l->n_frames);
	for (gint64 i = 0; i < l->n_frames; i++) {
		guint32 t = TIFFComputeTile(tiff,
			(guint32) ((tx0 + i % across) * l->tile_w),
			(guint32) ((ty0 + i / across) * l->tile_h), 0, 0);
		f->offset[i] = TIFFGetStrileOffset(tiff, t);
		f->bytes[i] = TIFFGetStrileByteCount(tiff, t);
	}
	return TRUE;
}

/* Output level @l's frames as the frames of DICOM level @level from tile
 * (@tx0, @ty0) on: whole JPEG streams, one fragment each. */
static gboolean
dicom_frames(const SpDicomWriteOptions *o, SpDicom *dicom, int level,
	int tx0, int ty0, Level *l, Frames *f, GError **error)
{
	SpDicomTiles t;
	g_autofree char *why = NULL;

	if (!_sp_dicom_jpeg_tiles(dicom, level, &t, &why)) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"%s: cannot copy level %d of '%s': %s", o->op, level,
			o->copy->path, why);
		return FALSE;
	}
	l->spp = t.spp;
	l->tile_w = l->tile_h = t.tile;
	l->photometric = t.photometric == PHOTOMETRIC_YCBCR ? "YBR_FULL_422" :
							      "RGB";
	gint64 across = (l->width + l->tile_w - 1) / l->tile_w;
	gint64 down = (l->height + l->tile_h - 1) / l->tile_h;
	l->n_frames = across * down;
	if (tx0 + across > t.tiles_across || ty0 + down > t.tiles_down) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"%s: %" G_GINT64_FORMAT " × %" G_GINT64_FORMAT
			" frames from tile %d, %d are not all in '%s'",
			o->op, across, down, tx0, ty0, t.path);
		return FALSE;
	}
	if ((f->fd = open(t.path, O_RDONLY | O_CLOEXEC)) < 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot read '%s': %s", o->op, t.path,
			g_strerror(err));
		return FALSE;
	}
	f->where = g_strdup_printf("'%s'", t.path);
	f->offset = g_new(guint64, l->n_frames);
	f->bytes = g_new(guint64, l->n_frames);
	for (gint64 i = 0; i < l->n_frames; i++) {
		GError *local = NULL;
		if (!_sp_dicom_tile_range(dicom, level, f->fd,
			    (int) (tx0 + i % across), (int) (ty0 + i / across),
			    &f->offset[i], &f->bytes[i], &local)) {
			g_set_error(error, local->domain, local->code, "%s: %s",
				o->op, local->message);
			g_error_free(local);
			return FALSE;
		}
	}
	return TRUE;
}

/* --- the frames: byte ranges of the source copied into the instance ---- */

/* One level's frame copy: frames [@first, @last) of @l, read from
 * @f->fd in windows of WINDOW bytes (pread) and written with pwritev()
 * at their places in @out_fd, which are known before any is written
 * (the offset table comes first). Threads take disjoint runs of
 * frames. */
#define WINDOW (8u << 20)
#define BATCH 256 /* frames a pwritev() */

typedef struct {
	const SpDicomWriteOptions *o;
	const Level *l;
	const Frames *f;
	int out_fd;
	guint64 at; /* file offset of frame 0's item */
	/* filled by copy_frames() */
	guint64 *out_offset;
	guint64 in_size;
} CopyJob;

typedef struct {
	CopyJob *job;
	gint64 first, last;
	GError *error;
} CopyRun;

static gboolean
write_all_v(int fd, struct iovec *iov, int n, guint64 at, GError **error,
	const CopyJob *job)
{
	while (n > 0) {
		ssize_t r = pwritev(fd, iov, n, (off_t) at);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int err = r < 0 ? errno : ENOSPC;
			g_set_error(error, SP_ERROR, SP_ERROR_IO,
				"%s: cannot write '%s': %s", job->o->op,
				job->o->name, g_strerror(err));
			return FALSE;
		}
		at += (guint64) r;
		/* past what was written */
		while (n > 0 && (gsize) r >= iov->iov_len) {
			r -= (ssize_t) iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *) iov->iov_base + r;
			iov->iov_len -= (gsize) r;
		}
	}
	return TRUE;
}

/* A whole JPEG stream (SOI … EOI, a fragment's pad byte after it
 * allowed): what a copy must be at least; its decoding is left to the
 * reader. */
static gboolean
is_jpeg_stream(const guint8 *p, guint64 n)
{
	if (n >= 5 && p[n - 1] == 0)
		n--;
	return n >= 4 && p[0] == 0xFF && p[1] == 0xD8 && p[n - 2] == 0xFF &&
		p[n - 1] == 0xD9;
}

static gpointer
copy_run(gpointer data)
{
	CopyRun *run = data;
	CopyJob *job = run->job;
	const Frames *f = job->f;
	const Level *l = job->l;
	guint8 *window = g_malloc(WINDOW);
	guint64 w_start = 0, w_len = 0; /* the window's bytes of the input */
	guint8 *big = NULL; /* a tile larger than the window */
	struct iovec iov[4 * BATCH];
	guint8 heads[BATCH][8];
	static const guint8 zero = 0;
	int n_iov = 0, n_head = 0;
	guint64 batch_at = 0;

	for (gint64 i = run->first; i < run->last && !run->error; i++) {
		guint64 off = f->offset[i], n = f->bytes[i];
		const guint8 *tile;

		if (off >= w_start && off + n <= w_start + w_len)
			tile = window + (off - w_start);
		else {
			/* what is queued points into the window: out first */
			if (n_iov && !write_all_v(job->out_fd, iov, n_iov,
					     batch_at, &run->error, job))
				break;
			n_iov = n_head = 0;
			guint8 *buf = window;
			guint64 want = MIN((guint64) WINDOW, job->in_size - off);
			if (n > WINDOW) {
				g_free(big);
				buf = big = g_malloc(n);
				want = n;
			}
			gsize got = 0;
			while (got < want) {
				ssize_t r = pread(f->fd, buf + got, want - got,
					(off_t) (off + got));
				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0)
					break;
				got += (gsize) r;
			}
			if (got < n) {
				g_set_error(&run->error, SP_ERROR, SP_ERROR_IO,
					"%s: cannot read tile %" G_GINT64_FORMAT
					" of %s",
					job->o->op, i, f->where);
				break;
			}
			if (buf == window) {
				w_start = off;
				w_len = got;
			} else
				w_len = 0;
			tile = buf;
		}
		if (!is_jpeg_stream(tile, n)) {
			g_set_error(&run->error, SP_ERROR, SP_ERROR_FAILED,
				"%s: tile %" G_GINT64_FORMAT " of %s is not a "
				"JPEG stream",
				job->o->op, i, f->where);
			break;
		}
		if (n_iov == 0)
			batch_at = job->out_offset[i];
		guint8 *head = heads[n_head++];
		guint32 stored = (guint32) l->frame_bytes[i];
		memcpy(head, (const guint8[]){ 0xFE, 0xFF, 0x00, 0xE0 }, 4);
		head[4] = stored & 0xFF;
		head[5] = (stored >> 8) & 0xFF;
		head[6] = (stored >> 16) & 0xFF;
		head[7] = stored >> 24;
		iov[n_iov++] = (struct iovec){ head, 8 };
		if (f->prefix) {
			iov[n_iov++] = (struct iovec){ (void *) f->tables,
				f->prefix };
			iov[n_iov++] = (struct iovec){ (void *) (tile + 2), n - 2 };
		} else
			iov[n_iov++] = (struct iovec){ (void *) tile, n };
		guint64 len = f->prefix ? f->prefix + n - 2 : n;
		if (len & 1)
			iov[n_iov++] = (struct iovec){ (void *) &zero, 1 };
		/* a tile bigger than the window is written at once */
		if (n_head == BATCH || n_iov > 4 * BATCH - 4 || tile == big) {
			if (!write_all_v(job->out_fd, iov, n_iov, batch_at,
				    &run->error, job))
				break;
			n_iov = n_head = 0;
		}
	}
	if (!run->error && n_iov)
		write_all_v(job->out_fd, iov, n_iov, batch_at, &run->error, job);
	g_free(window);
	g_free(big);
	return NULL;
}

static gboolean
copy_frames(CopyJob *job, GError **error)
{
	const Level *l = job->l;
	const Frames *f = job->f;
	gint64 n = l->n_frames;
	struct stat st;

	if (fstat(f->fd, &st) != 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO, "%s: cannot read %s",
			job->o->op, f->where);
		return FALSE;
	}
	job->in_size = (guint64) st.st_size;
	job->out_offset = g_new(guint64, n);
	guint64 at = job->at;
	gboolean ok = TRUE;
	for (gint64 i = 0; i < n && ok; i++) {
		job->out_offset[i] = at;
		at += 8 + l->frame_bytes[i];
		if (f->offset[i] + f->bytes[i] > job->in_size) {
			g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
				"%s: tile %" G_GINT64_FORMAT " of %s lies past "
				"the end of the file",
				job->o->op, i, f->where);
			ok = FALSE;
		}
	}
	/* one run a core, of a few thousand frames at least */
	int n_runs = (int) CLAMP(n / 2048, 1, (gint64) g_get_num_processors());
	CopyRun runs[64];
	GThread *threads[64];
	n_runs = MIN(n_runs, 64);
	for (int k = 0; k < n_runs && ok; k++) {
		runs[k] = (CopyRun){ job, n * k / n_runs, n * (k + 1) / n_runs,
			NULL };
		threads[k] = k == 0 ? NULL :
				      g_thread_new("sp-dicom", copy_run, &runs[k]);
	}
	if (ok) {
		copy_run(&runs[0]);
		for (int k = 1; k < n_runs; k++)
			g_thread_join(threads[k]);
		for (int k = 0; k < n_runs; k++)
			if (runs[k].error) {
				if (ok)
					g_propagate_error(error, runs[k].error);
				else
					g_error_free(runs[k].error);
				ok = FALSE;
			}
	}
	g_free(job->out_offset);
	return ok;
}

/* Opens instance @name in @dirfd and writes what comes before its frames:
 * the file meta, @l's data set, Pixel Data's header and its Basic Offset
 * Table (empty when @eot: the Extended one is in the data set). Returns
 * the descriptor (-1 with @error) and the frames' first byte in *@at. */
static int
instance_begin(Series *s, const Level *l, int dirfd, const char *name,
	gboolean eot, guint64 *at, GError **error)
{
	const SpDicomWriteOptions *o = s->o;
	g_autofree char *sop_uid = new_uid();

	s->instance++;
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		0666);
	if (fd < 0) {
		int err = errno;
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': %s", o->op, name,
			g_strerror(err));
		return -1;
	}
	GByteArray *meta = file_meta(sop_uid);
	GByteArray *ds = data_set(s, l, sop_uid, eot);
	GByteArray *h = g_byte_array_new();
	Out w = { fd, g_byte_array_sized_new(1 << 20), 0 };

	/* Pixel Data: encapsulated, the Basic Offset Table, the frames */
	put16(h, 0x7FE0);
	put16(h, 0x0010);
	g_byte_array_append(h, (const guint8 *) "OB", 2);
	put16(h, 0);
	put32(h, 0xFFFFFFFFu);
	put16(h, 0xFFFE);
	put16(h, 0xE000);
	put32(h, eot ? 0 : (guint32) (4 * l->n_frames));
	if (!eot) {
		guint64 off = 0;
		for (gint64 i = 0; i < l->n_frames; i++) {
			put32(h, (guint32) off);
			off += 8 + l->frame_bytes[i];
		}
	}
	out_write(&w, meta->data, meta->len);
	out_write(&w, ds->data, ds->len);
	out_write(&w, h->data, h->len);
	*at = meta->len + ds->len + h->len;
	out_flush(&w);
	int err = w.err;
	g_byte_array_unref(w.buf);
	g_byte_array_unref(h);
	g_byte_array_unref(meta);
	g_byte_array_unref(ds);
	if (err) {
		close(fd);
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot write '%s': %s", o->op, name,
			g_strerror(err));
		return -1;
	}
	return fd;
}

/* Writes instance @name (output level @level, @l's size set) into @dirfd
 * with @f's frames. */
static gboolean
write_level(Series *s, Level *l, const Frames *f, int level, int dirfd,
	const char *name, GError **error)
{
	const SpDicomWriteOptions *o = s->o;

	if (level == 0) {
		s->width0 = l->width;
		s->height0 = l->height;
		l->image_type[0] = "ORIGINAL";
		l->image_type[3] = "NONE";
	} else {
		l->image_type[0] = "DERIVED";
		l->image_type[3] = "RESAMPLED";
	}
	l->image_type[1] = "PRIMARY";
	l->image_type[2] = "VOLUME";

	/* the frames' lengths from the tiles', so the offset table is
	 * written first */
	guint64 total = 0;
	l->frame_bytes = g_new(guint64, l->n_frames);
	for (gint64 i = 0; i < l->n_frames; i++) {
		guint64 raw = f->bytes[i];
		if (raw < 4 || raw > (64u << 20)) {
			g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
				"%s: tile %" G_GINT64_FORMAT " of %s is missing "
				"or %" G_GUINT64_FORMAT " bytes",
				o->op, i, f->where, raw);
			return FALSE;
		}
		guint64 len = f->prefix ? f->prefix + raw - 2 : raw;
		l->frame_bytes[i] = len + (len & 1);
		total += 8 + l->frame_bytes[i];
	}
	l->compression_ratio = (double) l->width * l->height * l->spp /
		MAX(1.0, (double) total);
	gboolean eot = total + 8 + 4 * l->n_frames > 0xFFFFFFF0u;

	guint64 first_frame;
	int fd = instance_begin(s, l, dirfd, name, eot, &first_frame, error);
	if (fd < 0)
		return FALSE;
	gboolean ok = copy_frames(&(CopyJob){ .o = o, .l = l, .f = f,
					  .out_fd = fd, .at = first_frame },
		error);
	/* after the frames: Pixel Data's delimiter */
	Out w = { fd, g_byte_array_new(), 0 };
	if (ok && lseek(fd, 0, SEEK_END) < 0)
		w.err = errno;
	static const guint8 delimiter[8] = { 0xFE, 0xFF, 0xDD, 0xE0 };
	out_write(&w, delimiter, 8);
	ok = out_close(&w, ok, o->op, name, error);
	g_byte_array_unref(w.buf);
	return ok;
}

/* An associated image (@kind LABEL or OVERVIEW) as a one-frame instance
 * @name: its pixels JPEG-encoded (libvips, Q 90). The source gives no
 * pixel size for it: a nominal one makes its height 25 mm, a slide's
 * width. */
static gboolean
write_picture(Series *s, const SpPicture *p, const char *kind, int dirfd,
	const char *name, GError **error)
{
	const SpDicomWriteOptions *o = s->o;
	VipsImage *image;
	void *jpeg = NULL;
	size_t length = 0;

	if (p->width > 65535 || p->height > 65535) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"%s: the %s image (%d × %d) is larger than a DICOM frame "
			"(65535 × 65535); give associated=drop",
			o->op, kind, p->width, p->height);
		return FALSE;
	}
	image = vips_image_new_from_memory(p->pixels, p->size, p->width,
		p->height, p->bands, VIPS_FORMAT_UCHAR);
	if (!image || vips_jpegsave_buffer(image, &jpeg, &length, "Q", 90,
			      "strip", TRUE, NULL)) {
		if (image)
			g_object_unref(image);
		_sp_set_vips_error(error, o->op, name);
		return FALSE;
	}
	g_object_unref(image);

	Level l = { { "ORIGINAL", "PRIMARY", kind, "NONE", NULL } };
	guint64 stored = length + (length & 1);
	l.photometric = p->bands == 1 ? "MONOCHROME2" : "YBR_FULL_422";
	l.spp = p->bands;
	l.width = l.tile_w = p->width;
	l.height = l.tile_h = p->height;
	l.n_frames = 1;
	l.frame_bytes = &stored;
	l.compression_ratio = (double) p->width * p->height * p->bands /
		MAX(1.0, (double) length);
	l.label = strcmp(kind, "LABEL") == 0;
	l.mpp_x = l.mpp_y = 25000.0 / p->height;

	guint64 at;
	int fd = instance_begin(s, &l, dirfd, name, FALSE, &at, error);
	gboolean ok = fd >= 0;
	if (ok) {
		Out w = { fd, g_byte_array_new(), 0 };
		guint8 head[8] = { 0xFE, 0xFF, 0x00, 0xE0, stored & 0xFF,
			(stored >> 8) & 0xFF, (stored >> 16) & 0xFF,
			(stored >> 24) & 0xFF };
		guint8 tail[9] = { 0, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0 };

		out_write(&w, head, 8);
		out_write(&w, jpeg, length);
		/* the pad byte for an odd length, then the delimiter */
		out_write(&w, (length & 1) ? tail : tail + 1,
			(length & 1) ? 9 : 8);
		ok = out_close(&w, ok, o->op, name, error);
		g_byte_array_unref(w.buf);
	}
	g_free(jpeg);
	return ok;
}

/* An instance name a series of this writer holds: level-N.dcm (N 0 … 63,
 * no leading zeros), label.dcm, overview.dcm. */
static gboolean
series_file_name(const char *name)
{
	const char *p = name;

	if (!strcmp(name, "label.dcm") || !strcmp(name, "overview.dcm"))
		return TRUE;
	if (strncmp(p, "level-", 6) != 0)
		return FALSE;
	p += 6;
	if (!g_ascii_isdigit(p[0]) || (p[0] == '0' && g_ascii_isdigit(p[1])))
		return FALSE;
	int n = 0;
	for (; g_ascii_isdigit(*p) && n < 64; p++)
		n = n * 10 + (*p - '0');
	return n < 64 && strcmp(p, ".dcm") == 0;
}

gboolean
_sp_dicom_series_dir_at(int dirfd, const char *name)
{
	struct stat st;
	gboolean ok = TRUE, level0 = FALSE;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		!S_ISDIR(st.st_mode))
		return FALSE;
	int fd = openat(dirfd, name,
		O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return FALSE;
	}
	while (ok && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		ok = series_file_name(e->d_name) &&
			fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			S_ISREG(st.st_mode);
		if (ok && !strcmp(e->d_name, "level-0.dcm")) {
			/* a Part 10 file: "DICM" after the preamble */
			char magic[4] = { 0 };
			int f = openat(fd, e->d_name,
				O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			ok = f >= 0 && pread(f, magic, 4, 128) == 4 &&
				memcmp(magic, "DICM", 4) == 0;
			if (f >= 0)
				close(f);
			level0 = ok;
		}
	}
	closedir(d);
	return ok && level0;
}

gboolean
_sp_dicom_write(const SpDicomWriteOptions *o, GError **error)
{
	Series s = { o };
	TIFF *tiff = NULL;
	gboolean ok = TRUE;
	time_t now = time(NULL);
	struct tm tm;

	if (!(o->mpp_x > 0 && o->mpp_y > 0)) {
		g_set_error(error, SP_ERROR, SP_ERROR_USAGE,
			"%s: format=dicom needs the pixel size (mpp), and the "
			"pipeline has none",
			o->op);
		return FALSE;
	}
	int n_copied = o->copy ? o->copy->n_bytes : 0;
	TIFF *source = NULL;
	if (n_copied > 0 && !o->copy->dicom &&
		!(source = _sp_tiff_open(o->copy->path, "rm"))) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot read '%s'", o->op, o->copy->path);
		return FALSE;
	}
	if (o->n_levels > n_copied &&
		!(tiff = _sp_tiff_open(o->tiff, "rm"))) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"%s: cannot read back the pyramid written for '%s'", o->op,
			o->name);
		if (source)
			TIFFClose(source);
		return FALSE;
	}
	gmtime_r(&now, &tm);
	strftime(s.date, sizeof(s.date), "%Y%m%d", &tm);
	strftime(s.time, sizeof(s.time), "%H%M%S", &tm);
	s.study_uid = o->meta && o->meta->study_instance_uid ?
		g_strdup(o->meta->study_instance_uid) :
		new_uid();
	s.series_uid = new_uid();
	s.frame_uid = new_uid();
	s.pyramid_uid = new_uid();
	s.dimension_uid = new_uid();
	s.specimen_uid = new_uid();
	gint64 w = o->width, h = o->height;
	for (int i = 0; i < o->n_levels && ok; i++) {
		g_autofree char *name = g_strdup_printf("level-%d.dcm", i);
		Level l = { { 0 } };
		Frames f = { -1 };

		l.width = w;
		l.height = h;
		if (i < n_copied && o->copy->dicom) {
			/* the DICOM source's own frames, on its tile grid */
			ok = dicom_frames(o, o->copy->dicom, o->copy->page[i],
				o->copy->x[i] / o->tile, o->copy->y[i] / o->tile,
				&l, &f, error);
			if (ok)
				ok = write_level(&s, &l, &f, i, o->dirfd, name,
					error);
			if (f.fd >= 0)
				close(f.fd);
		} else {
			/* the source TIFF's own tiles, on its tile grid, or
			 * the pyramid's */
			if (i < n_copied)
				ok = tiff_frames(o, source, o->copy->page[i],
					o->copy->path, o->copy->x[i] / o->tile,
					o->copy->y[i] / o->tile, &l, &f, error);
			else
				ok = tiff_frames(o, tiff, i - n_copied, o->name,
					0, 0, &l, &f, error);
			if (ok)
				ok = write_level(&s, &l, &f, i, o->dirfd, name,
					error);
		}
		frames_free(&f);
		g_free(l.frame_bytes);
		w = MAX(1, w / 2);
		h = MAX(1, h / 2);
		if (ok && o->progress)
			o->progress(100 * (i + 1) / o->n_levels,
				o->progress_data);
	}
	if (tiff)
		TIFFClose(tiff);
	if (source)
		TIFFClose(source);
	if (ok && o->label && o->label->pixels)
		ok = write_picture(&s, o->label, "LABEL", o->dirfd, "label.dcm",
			error);
	if (ok && o->macro && o->macro->pixels)
		ok = write_picture(&s, o->macro, "OVERVIEW", o->dirfd,
			"overview.dcm", error);
	g_free(s.study_uid);
	g_free(s.series_uid);
	g_free(s.frame_uid);
	g_free(s.pyramid_uid);
	g_free(s.dimension_uid);
	g_free(s.specimen_uid);
	return ok;
}
