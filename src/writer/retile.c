/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JPEG tiles re-cut on a new tile grid without decoding pixels.
 *
 * A crop whose origin is not on the source's tile grid but is on its JPEG
 * MCU grid (16 pixels for 4:2:0 chroma, 8 for 4:4:4) covers each output
 * tile with parts of up to four source tiles, and those parts are whole
 * 8 × 8 DCT blocks of every component. So an output tile can be put
 * together from the source's quantized DCT coefficients, block for block,
 * and only entropy-coded again: no inverse DCT, no colour conversion, no
 * re-quantization, hence no generation loss, and a fraction of the work
 * of decoding and re-encoding pixels. This is what `jpegtran -crop` does
 * for one image (libjpeg-turbo's transupp.c, lossless crop); here many
 * source tiles are read once each and stitched into many output tiles.
 *
 * Reading uses libjpeg's coefficient API (jpeg_read_coefficients), writing
 * jpeg_write_coefficients. Each tile of the output is an abbreviated JPEG
 * stream that uses the source level's JPEGTables: the quantization tables
 * are the source's by construction, and the source's Huffman tables are
 * reused when they code every symbol baseline JPEG can produce (the
 * standard tables do); otherwise each tile gets optimal Huffman tables of
 * its own (a DHT segment in the tile, which decoders read in place of the
 * JPEGTables' ones).
 *
 * Decoded, a re-cut tile equals the source's pixels except at most a
 * pixel from the new tile edges, where chroma upsampling sees different
 * neighbours, exactly as with jpegtran.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <tiffio.h>

#include "writer/writer.h"

#define CACHE_TILES 40

/* One source tile's quantized coefficients, per component, row-major
 * blocks. */
typedef struct {
	gint64 key; /* tile row << 32 | tile column, -1 free */
	guint64 used; /* LRU stamp */
	JBLOCK *blocks[MAX_COMPONENTS];
} CachedTile;

typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jmp;
	char message[JMSG_LENGTH_MAX];
} ErrorMgr;

struct _SpRetiler {
	const char *path;
	int page; /* the TIFF directory, or the DICOM level */
	char *where; /* the source level, for messages */
	TIFF *tiff; /* this thread's handle on a TIFF source, or NULL */
	SpDicom *dicom; /* a DICOM source (borrowed), or NULL */
	int fd; /* open on the DICOM level's file */
	int tile; /* source and output tile size */
	int tiles_across, tiles_down; /* of the source level */

	struct jpeg_decompress_struct d;
	struct jpeg_compress_struct c;
	ErrorMgr derr, cerr;
	gboolean d_ok, c_ok;
	gboolean c_ready; /* compressor parameters set from the source */

	/* the directory's layout, which every tile's header must match */
	guint16 spp, photometric, ss_h, ss_v;
	/* the level's JPEGTables, which a decoder starts every tile with:
	 * restored before each tile is read, so a tile's own tables never
	 * leak into the next one's */
	gboolean jt_q[NUM_QUANT_TBLS], jt_dc[NUM_HUFF_TBLS],
		jt_ac[NUM_HUFF_TBLS];
	JQUANT_TBL jt_qt[NUM_QUANT_TBLS];
	JHUFF_TBL jt_dct[NUM_HUFF_TBLS], jt_act[NUM_HUFF_TBLS];
	/* how the level's first tile read is coded: the others must match */
	gboolean seen;
	ttile_t seen_index;
	int seen_comp;
	int seen_id[MAX_COMPONENTS], seen_h[MAX_COMPONENTS],
		seen_v[MAX_COMPONENTS];
	J_COLOR_SPACE seen_cs;

	int n_comp;
	int bw[MAX_COMPONENTS], bh[MAX_COMPONENTS]; /* blocks per tile */
	int mcu_w, mcu_h; /* pixels */

	unsigned char *raw; /* a source tile's compressed bytes */
	gint64 raw_cap;
	struct jpeg_destination_mgr dest; /* into out */
	unsigned char *out; /* the last output tile */
	size_t out_cap;

	CachedTile cache[CACHE_TILES];
	guint64 clock;
};

static void
error_exit(j_common_ptr cinfo)
{
	ErrorMgr *e = (ErrorMgr *) cinfo->err;

	(*cinfo->err->format_message)(cinfo, e->message);
	longjmp(e->jmp, 1);
}

/* Warnings are corrupt data (a truncated tile, a bad Huffman code):
 * counted, the first kept; libjpeg would fill in zeros and go on. */
static void
count_warning(j_common_ptr cinfo, int level)
{
	ErrorMgr *e = (ErrorMgr *) cinfo->err;

	if (level >= 0)
		return;
	if (cinfo->err->num_warnings++ == 0)
		(*cinfo->err->format_message)(cinfo, e->message);
}

/* A destination that grows r->out, kept from tile to tile. */
static void
dest_init(j_compress_ptr c)
{
	SpRetiler *r = c->client_data;

	c->dest->next_output_byte = r->out;
	c->dest->free_in_buffer = r->out_cap;
}

static boolean
dest_empty(j_compress_ptr c)
{
	SpRetiler *r = c->client_data;
	size_t used = r->out_cap;

	r->out_cap *= 2;
	r->out = g_realloc(r->out, r->out_cap);
	c->dest->next_output_byte = r->out + used;
	c->dest->free_in_buffer = r->out_cap - used;
	return TRUE;
}

static void
dest_term(j_compress_ptr c)
{
}

void
_sp_retiler_free(SpRetiler *r)
{
	if (!r)
		return;
	if (r->d_ok)
		jpeg_destroy_decompress(&r->d);
	if (r->c_ok)
		jpeg_destroy_compress(&r->c);
	if (r->tiff)
		TIFFClose(r->tiff);
	if (r->dicom && r->fd >= 0)
		close(r->fd);
	g_free(r->where);
	for (int i = 0; i < CACHE_TILES; i++)
		for (int c = 0; c < MAX_COMPONENTS; c++)
			g_free(r->cache[i].blocks[c]);
	g_free(r->raw);
	g_free(r->out);
	g_free(r);
}

/* A DICOM level's frames as the source: its layout from the first
 * frame, no shared tables (each frame is a whole JPEG stream). */
static gboolean
open_dicom(SpRetiler *r, const SpTileCopy *copy, int k, GError **error)
{
	SpDicomTiles t;
	g_autofree char *why = NULL;

	r->dicom = copy->dicom;
	r->fd = -1;
	if (!_sp_dicom_jpeg_tiles(r->dicom, r->page, &t, &why)) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"level %d of '%s': %s", r->page, copy->path, why);
		return FALSE;
	}
	r->where = g_strdup_printf("'%s'", t.path);
	if (t.tile != r->tile) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"%s has %d × %d frames, not %d × %d", r->where,
			t.tile, t.tile, r->tile, r->tile);
		return FALSE;
	}
	if ((r->fd = open(t.path, O_RDONLY | O_CLOEXEC)) < 0) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO, "cannot read %s: %s",
			r->where, g_strerror(errno));
		return FALSE;
	}
	r->spp = t.spp;
	r->photometric = t.photometric;
	r->ss_h = t.ss_h;
	r->ss_v = t.ss_v;
	r->tiles_across = t.tiles_across;
	r->tiles_down = t.tiles_down;
	return TRUE;
}

/* A TIFF directory as the source. */
static gboolean
open_tiff(SpRetiler *r, GError **error)
{
	guint32 tw = 0, th = 0, w = 0, h = 0;

	r->where = g_strdup_printf("'%s' directory %d", r->path, r->page);
	if (!(r->tiff = _sp_tiff_open(r->path, "rmO")) ||
		!TIFFSetDirectory(r->tiff, (tdir_t) r->page)) {
		g_set_error(error, SP_ERROR, SP_ERROR_IO,
			"cannot read directory %d of '%s'", r->page, r->path);
		return FALSE;
	}
	TIFFGetField(r->tiff, TIFFTAG_TILEWIDTH, &tw);
	TIFFGetField(r->tiff, TIFFTAG_TILELENGTH, &th);
	TIFFGetField(r->tiff, TIFFTAG_IMAGEWIDTH, &w);
	TIFFGetField(r->tiff, TIFFTAG_IMAGELENGTH, &h);
	if ((int) tw != r->tile || (int) th != r->tile) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"%s has %u × %u tiles, not %d × %d", r->where, tw, th,
			r->tile, r->tile);
		return FALSE;
	}
	TIFFGetFieldDefaulted(r->tiff, TIFFTAG_SAMPLESPERPIXEL, &r->spp);
	TIFFGetField(r->tiff, TIFFTAG_PHOTOMETRIC, &r->photometric);
	r->ss_h = r->ss_v = 2;
	if (r->photometric == PHOTOMETRIC_YCBCR)
		TIFFGetFieldDefaulted(r->tiff, TIFFTAG_YCBCRSUBSAMPLING,
			&r->ss_h, &r->ss_v);
	r->tiles_across = (int) ((w + tw - 1) / tw);
	r->tiles_down = (int) ((h + th - 1) / th);
	return TRUE;
}

SpRetiler *
_sp_retiler_new(const SpTileCopy *copy, int k, int tile, GError **error)
{
	SpRetiler *r = g_new0(SpRetiler, 1);
	guint32 n_tables = 0;
	void *tables = NULL;

	r->path = copy->path;
	r->page = copy->page[k];
	r->tile = tile;
	for (int i = 0; i < CACHE_TILES; i++)
		r->cache[i].key = -1;
	if (!(copy->dicom ? open_dicom(r, copy, k, error) :
			    open_tiff(r, error)))
		goto fail;

	r->d.err = jpeg_std_error(&r->derr.pub);
	r->derr.pub.error_exit = error_exit;
	r->derr.pub.emit_message = count_warning;
	r->c.err = jpeg_std_error(&r->cerr.pub);
	r->cerr.pub.error_exit = error_exit;
	r->cerr.pub.emit_message = count_warning;
	if (setjmp(r->derr.jmp)) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"the JPEGTables of %s: %s", r->where, r->derr.message);
		goto fail;
	}
	jpeg_create_decompress(&r->d);
	r->d_ok = TRUE;
	/* the level's shared tables, kept by the decompressor for every
	 * abbreviated tile stream after them */
	if (r->tiff &&
		TIFFGetField(r->tiff, TIFFTAG_JPEGTABLES, &n_tables, &tables) &&
		n_tables > 0) {
		jpeg_mem_src(&r->d, tables, n_tables);
		jpeg_read_header(&r->d, FALSE);
		for (int i = 0; i < NUM_QUANT_TBLS; i++)
			if ((r->jt_q[i] = r->d.quant_tbl_ptrs[i] != NULL))
				r->jt_qt[i] = *r->d.quant_tbl_ptrs[i];
		for (int i = 0; i < NUM_HUFF_TBLS; i++) {
			if ((r->jt_dc[i] = r->d.dc_huff_tbl_ptrs[i] != NULL))
				r->jt_dct[i] = *r->d.dc_huff_tbl_ptrs[i];
			if ((r->jt_ac[i] = r->d.ac_huff_tbl_ptrs[i] != NULL))
				r->jt_act[i] = *r->d.ac_huff_tbl_ptrs[i];
		}
	}
	jpeg_create_compress(&r->c);
	r->c_ok = TRUE;
	r->c.client_data = r;
	r->out_cap = 64 << 10;
	r->out = g_malloc(r->out_cap);
	r->dest.init_destination = dest_init;
	r->dest.empty_output_buffer = dest_empty;
	r->dest.term_destination = dest_term;
	r->c.dest = &r->dest;
	return r;

fail:
	_sp_retiler_free(r);
	return NULL;
}

/* Whether Huffman table @t codes every symbol a baseline 8-bit encoder can
 * emit: DC categories 0 … 11; AC run/size pairs with size 1 … 10, EOB and
 * ZRL. */
static gboolean
huff_complete(const JHUFF_TBL *t, gboolean dc)
{
	gboolean seen[256] = { FALSE };
	int n = 0;

	if (!t)
		return FALSE;
	for (int i = 1; i <= 16; i++)
		n += t->bits[i];
	for (int i = 0; i < n && i < 256; i++)
		seen[t->huffval[i]] = TRUE;
	if (dc) {
		for (int s = 0; s <= 11; s++)
			if (!seen[s])
				return FALSE;
		return TRUE;
	}
	if (!seen[0x00] || !seen[0xF0])
		return FALSE;
	for (int run = 0; run < 16; run++)
		for (int size = 1; size <= 10; size++)
			if (!seen[run << 4 | size])
				return FALSE;
	return TRUE;
}

static void
copy_huff(j_compress_ptr c, JHUFF_TBL **to, const JHUFF_TBL *from)
{
	if (!*to)
		*to = jpeg_alloc_huff_table((j_common_ptr) c);
	memcpy((*to)->bits, from->bits, sizeof(from->bits));
	memcpy((*to)->huffval, from->huffval, sizeof(from->huffval));
}

/* The compressor takes the decompressor's components, sampling and
 * quantization tables. Its own errors (a frame naming a quantization
 * table that was never defined) come back here, not through the
 * decompressor's jump. */
static gboolean
copy_parameters(SpRetiler *r, GError **error)
{
	if (setjmp(r->cerr.jmp)) {
		jpeg_abort_compress(&r->c);
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"%s: a JPEG tile's tables: %s", r->where, r->cerr.message);
		return FALSE;
	}
	jpeg_copy_critical_parameters(&r->d, &r->c);
	return TRUE;
}

/* Sets the compressor up from the decompressor, which has just read a
 * source tile's header: same components, sampling, quantization and
 * Huffman tables. Inside the decompressor's setjmp. */
static gboolean
setup_compressor(SpRetiler *r, GError **error)
{
	j_decompress_ptr d = &r->d;
	j_compress_ptr c = &r->c;
	gboolean reuse = TRUE;

	if (d->progressive_mode || d->arith_code || d->data_precision != 8) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"%s: the JPEG tiles are not baseline "
			"8-bit Huffman-coded",
			r->where);
		return FALSE;
	}
	if ((int) d->image_width != r->tile ||
		(int) d->image_height != r->tile) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"%s: a JPEG tile is %u × %u, not %d × %d",
			r->where, d->image_width, d->image_height,
			r->tile, r->tile);
		return FALSE;
	}
	if (!copy_parameters(r, error))
		return FALSE;
	/* the source tiles' markers, so decoders that guess the colour
	 * space from them guess as they do for the source */
	c->write_JFIF_header = d->saw_JFIF_marker;
	c->write_Adobe_marker = d->saw_Adobe_marker;
	r->n_comp = d->num_components;
	r->mcu_w = 8 * d->max_h_samp_factor;
	r->mcu_h = 8 * d->max_v_samp_factor;
	if (r->tile % r->mcu_w || r->tile % r->mcu_h) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"%s: tile size %d is not a whole number "
			"of %d × %d JPEG MCUs",
			r->where, r->tile, r->mcu_w, r->mcu_h);
		return FALSE;
	}
	for (int i = 0; i < r->n_comp; i++) {
		jpeg_component_info *dc = &d->comp_info[i];
		jpeg_component_info *cc = &c->comp_info[i];

		r->bw[i] = r->tile / r->mcu_w * dc->h_samp_factor;
		r->bh[i] = r->tile / r->mcu_h * dc->v_samp_factor;
		cc->dc_tbl_no = dc->dc_tbl_no;
		cc->ac_tbl_no = dc->ac_tbl_no;
		if (!huff_complete(d->dc_huff_tbl_ptrs[dc->dc_tbl_no], TRUE) ||
			!huff_complete(d->ac_huff_tbl_ptrs[dc->ac_tbl_no],
				FALSE))
			reuse = FALSE;
	}
	if (reuse)
		for (int i = 0; i < NUM_HUFF_TBLS; i++) {
			if (d->dc_huff_tbl_ptrs[i])
				copy_huff(c, &c->dc_huff_tbl_ptrs[i],
					d->dc_huff_tbl_ptrs[i]);
			if (d->ac_huff_tbl_ptrs[i])
				copy_huff(c, &c->ac_huff_tbl_ptrs[i],
					d->ac_huff_tbl_ptrs[i]);
		}
	c->optimize_coding = !reuse;
	r->c_ready = TRUE;
	return TRUE;
}

/* The decoder's tables as a decoder that reads this directory meets each
 * tile: the JPEGTables' and no others. A table the JPEGTables lack is
 * left undefined-looking (all-zero quantizers, no Huffman codes), which
 * read_tile_header() refuses unless the tile defines it. */
static void
reset_tables(SpRetiler *r)
{
	j_decompress_ptr d = &r->d;

	for (int i = 0; i < NUM_QUANT_TBLS; i++)
		if (d->quant_tbl_ptrs[i]) {
			if (r->jt_q[i])
				memcpy(d->quant_tbl_ptrs[i]->quantval,
					r->jt_qt[i].quantval,
					sizeof(r->jt_qt[i].quantval));
			else
				memset(d->quant_tbl_ptrs[i]->quantval, 0,
					sizeof(r->jt_qt[i].quantval));
		}
	for (int i = 0; i < NUM_HUFF_TBLS; i++) {
		JHUFF_TBL *dc = d->dc_huff_tbl_ptrs[i],
			  *ac = d->ac_huff_tbl_ptrs[i];

		if (dc && r->jt_dc[i])
			*dc = r->jt_dct[i];
		else if (dc)
			memset(dc->bits, 0, sizeof(dc->bits));
		if (ac && r->jt_ac[i])
			*ac = r->jt_act[i];
		else if (ac)
			memset(ac->bits, 0, sizeof(ac->bits));
	}
}

static gboolean
quant_defined(const JQUANT_TBL *q)
{
	if (!q)
		return FALSE;
	for (int k = 0; k < DCTSIZE2; k++)
		if (q->quantval[k] == 0)
			return FALSE;
	return TRUE;
}

static gboolean
huff_defined(const JHUFF_TBL *h)
{
	int n = 0;

	for (int i = 1; h && i <= 16; i++)
		n += h->bits[i];
	return n > 0;
}

static gboolean
same_huff(const JHUFF_TBL *a, const JHUFF_TBL *b)
{
	return memcmp(a->bits, b->bits, sizeof(a->bits)) == 0 &&
		memcmp(a->huffval, b->huffval, sizeof(a->huffval)) == 0;
}

/* Reads the header of tile @index (@size bytes at @data) and checks that
 * a decoder takes it as a tile of this directory: its frame is the tile's
 * size, with the directory's samples per pixel and (YCbCr) chroma
 * sampling, baseline, every table it uses defined (in the tile or the
 * JPEGTables), and coded as the first tile read. Inside the caller's
 * setjmp; FALSE with @error (SP_ERROR_FORMAT) after aborting the
 * decompressor. */
static gboolean
read_tile_header(SpRetiler *r, ttile_t index, const unsigned char *data,
	tmsize_t size, GError **error)
{
	j_decompress_ptr d = &r->d;
	g_autofree char *why = NULL;

	reset_tables(r);
	r->derr.pub.num_warnings = 0;
	jpeg_mem_src(d, data, (unsigned long) size);
	jpeg_read_header(d, TRUE);
	if ((int) d->image_width != r->tile || (int) d->image_height != r->tile)
		why = g_strdup_printf("its JPEG frame is %u × %u, not the "
				      "directory's %d × %d tile",
			d->image_width, d->image_height, r->tile, r->tile);
	else if (d->num_components != r->spp)
		why = g_strdup_printf("its JPEG frame has %d components, the "
				      "directory %u samples per pixel",
			d->num_components, r->spp);
	else if (d->progressive_mode || d->arith_code || d->data_precision != 8)
		why = g_strdup("it is not baseline 8-bit Huffman-coded JPEG");
	else if (r->photometric == PHOTOMETRIC_YCBCR &&
		d->num_components == 3 &&
		(d->comp_info[0].h_samp_factor != r->ss_h ||
			d->comp_info[0].v_samp_factor != r->ss_v ||
			d->comp_info[1].h_samp_factor != 1 ||
			d->comp_info[1].v_samp_factor != 1 ||
			d->comp_info[2].h_samp_factor != 1 ||
			d->comp_info[2].v_samp_factor != 1))
		why = g_strdup_printf("its chroma sampling %d×%d is not the "
				      "directory's YCbCrSubsampling %u,%u",
			d->comp_info[0].h_samp_factor,
			d->comp_info[0].v_samp_factor, r->ss_h, r->ss_v);
	for (int i = 0; !why && i < d->num_components; i++)
		if (!quant_defined(
			    d->quant_tbl_ptrs[d->comp_info[i].quant_tbl_no]))
			why = g_strdup_printf(
				"its quantization table %d is defined "
				"neither in it nor in the JPEGTables",
				d->comp_info[i].quant_tbl_no);
	for (int i = 0; !why && i < d->comps_in_scan; i++)
		if (!huff_defined(
			    d->dc_huff_tbl_ptrs[d->cur_comp_info[i]->dc_tbl_no]) ||
			!huff_defined(d->ac_huff_tbl_ptrs[d->cur_comp_info[i]
								  ->ac_tbl_no]))
			why = g_strdup(
				"a Huffman table it uses is defined neither in "
				"it nor in the JPEGTables");
	if (!why && r->seen) {
		gboolean same = d->num_components == r->seen_comp &&
			d->jpeg_color_space == r->seen_cs;
		for (int i = 0; same && i < d->num_components; i++)
			same = d->comp_info[i].component_id == r->seen_id[i] &&
				d->comp_info[i].h_samp_factor == r->seen_h[i] &&
				d->comp_info[i].v_samp_factor == r->seen_v[i];
		if (!same)
			why = g_strdup_printf("it is coded unlike tile %u (components, "
					      "sampling or colour space)",
				(unsigned) r->seen_index);
	}
	if (why) {
		jpeg_abort_decompress(d);
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"tile %u of %s: %s", (unsigned) index,
			r->where, why);
		return FALSE;
	}
	if (!r->seen) {
		r->seen = TRUE;
		r->seen_index = index;
		r->seen_comp = d->num_components;
		r->seen_cs = d->jpeg_color_space;
		for (int i = 0; i < d->num_components; i++) {
			r->seen_id[i] = d->comp_info[i].component_id;
			r->seen_h[i] = d->comp_info[i].h_samp_factor;
			r->seen_v[i] = d->comp_info[i].v_samp_factor;
		}
	}
	return TRUE;
}

/* Source tile @index (@size bytes in r->raw), to be copied byte for byte:
 * its header as read_tile_header() wants it, and its entropy-coded data
 * running to an EOI marker (a truncated tile does not; trailing zero
 * padding after it is allowed). */
static gboolean
check_raw_tile(SpRetiler *r, ttile_t index, tmsize_t size, GError **error)
{
	tmsize_t n = size;

	if (setjmp(r->derr.jmp)) {
		jpeg_abort_decompress(&r->d);
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"tile %u of %s: %s", (unsigned) index,
			r->where, r->derr.message);
		return FALSE;
	}
	if (!read_tile_header(r, index, r->raw, size, error))
		return FALSE;
	jpeg_abort_decompress(&r->d);
	while (n > 4 && r->raw[n - 1] == 0)
		n--;
	if (n < 4 || r->raw[n - 2] != 0xFF || r->raw[n - 1] != 0xD9) {
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"tile %u of %s: its JPEG stream ends without "
			"an EOI marker (truncated)",
			(unsigned) index, r->where);
		return FALSE;
	}
	return TRUE;
}

/* Decodes source tile @index (@size bytes in r->raw) into @e's blocks. */
static gboolean
decode_tile(SpRetiler *r, CachedTile *e, ttile_t index, tmsize_t size,
	GError **error)
{
	j_decompress_ptr d = &r->d;
	if (setjmp(r->derr.jmp)) {
		jpeg_abort_decompress(d);
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"tile %u of %s: %s", (unsigned) index,
			r->where, r->derr.message);
		return FALSE;
	}
	if (!read_tile_header(r, index, r->raw, size, error))
		return FALSE;
	if (!r->c_ready) {
		if (!setup_compressor(r, error)) {
			jpeg_abort_decompress(d);
			return FALSE;
		}
	} else
		/* its blocks go into tiles beside other tiles' blocks, all
		 * dequantized with the compressor's tables */
		for (int i = 0; i < r->n_comp; i++) {
			const JQUANT_TBL *dq =
				d->quant_tbl_ptrs[d->comp_info[i].quant_tbl_no];
			const JQUANT_TBL *cq =
				r->c.quant_tbl_ptrs[r->c.comp_info[i]
							    .quant_tbl_no];

			if (!cq ||
				memcmp(dq->quantval, cq->quantval,
					sizeof(dq->quantval)) != 0) {
				jpeg_abort_decompress(d);
				g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
					"tile %u of %s is quantized unlike "
					"the level's other tiles",
					(unsigned) index, r->where);
				return FALSE;
			}
		}
	jvirt_barray_ptr *coefs = jpeg_read_coefficients(d);
	for (int c = 0; c < r->n_comp; c++) {
		size_t row = (size_t) r->bw[c];

		if (!e->blocks[c])
			e->blocks[c] = g_new(JBLOCK, row * r->bh[c]);
		for (int by = 0; by < r->bh[c]; by++) {
			JBLOCKARRAY a =
				(*d->mem->access_virt_barray)((j_common_ptr) d,
					coefs[c], (JDIMENSION) by, 1, FALSE);
			memcpy(e->blocks[c] + by * row, a[0],
				row * sizeof(JBLOCK));
		}
	}
	jpeg_finish_decompress(d);
	if (r->derr.pub.num_warnings > 0) {
		/* libjpeg made up what it could not read */
		g_set_error(error, SP_ERROR, SP_ERROR_FORMAT,
			"tile %u of %s: %s", (unsigned) index,
			r->where, r->derr.message);
		return FALSE;
	}
	return TRUE;
}

/* Source tile (@sx, @sy)'s compressed bytes into r->raw: their count,
 * or -1 with @error; *@index is the tile's number, for messages. */
static gint64
read_raw(SpRetiler *r, int sx, int sy, ttile_t *index, GError **error)
{
	if (r->dicom) {
		*index = (ttile_t) sy * r->tiles_across + sx;
		return _sp_dicom_read_tile(r->dicom, r->page, r->fd, sx, sy,
			&r->raw, &r->raw_cap, error);
	}
	*index = TIFFComputeTile(r->tiff, (guint32) sx * r->tile,
		(guint32) sy * r->tile, 0, 0);
	return _sp_tiff_read_raw_tile(r->tiff, *index, r->path, r->page,
		&r->raw, &r->raw_cap, error);
}

/* The coefficients of source tile (@sx, @sy), decoded on first use; NULL
 * blocks for a tile beyond the source's grid (read as zeros: mid-grey,
 * outside the image anyway). */
static CachedTile *
source_tile(SpRetiler *r, int sx, int sy, GError **error)
{
	static CachedTile none;
	gint64 key = (gint64) sy << 32 | (guint32) sx;
	CachedTile *e = NULL;

	if (sx < 0 || sy < 0 || sx >= r->tiles_across || sy >= r->tiles_down)
		return &none;
	r->clock++;
	for (int i = 0; i < CACHE_TILES; i++)
		if (r->cache[i].key == key) {
			r->cache[i].used = r->clock;
			return &r->cache[i];
		}
	/* the least recently used entry */
	e = &r->cache[0];
	for (int i = 1; i < CACHE_TILES; i++)
		if (r->cache[i].used < e->used)
			e = &r->cache[i];
	e->key = -1;

	ttile_t index;
	gint64 size = read_raw(r, sx, sy, &index, error);
	if (size < 0)
		return NULL;

	if (!decode_tile(r, e, index, size, error))
		return NULL;
	e->key = key;
	e->used = r->clock;
	return e;
}

gboolean
_sp_retiler_tile(SpRetiler *r, int x, int y, const unsigned char **data,
	unsigned long *size, GError **error)
{
	int t = r->tile;
	int sx = x / t, sy = y / t; /* the top-left source tile */
	CachedTile *q[2][2];

	/* on the grid: the source's tile itself, byte for byte */
	if (x % t == 0 && y % t == 0) {
		ttile_t index = (ttile_t) sy * r->tiles_across + sx;
		gint64 n;

		if (sx >= r->tiles_across || sy >= r->tiles_down) {
			g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
				"source tile %u of %s is missing",
				(unsigned) index, r->where);
			return FALSE;
		}
		if ((n = read_raw(r, sx, sy, &index, error)) < 0 ||
			!check_raw_tile(r, index, n, error))
			return FALSE;
		*data = r->raw;
		*size = (unsigned long) n;
		return TRUE;
	}

	for (int j = 0; j < 2; j++)
		for (int i = 0; i < 2; i++)
			if (!(q[j][i] = source_tile(r, sx + i, sy + j, error)))
				return FALSE;
	/* the first decode set the MCU size: the offsets must be whole MCUs */
	int dx = x % t, dy = y % t;
	if (dx % r->mcu_w || dy % r->mcu_h) {
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"origin %d,%d in %s is not on the "
			"%d × %d JPEG MCU grid",
			x, y, r->where, r->mcu_w, r->mcu_h);
		return FALSE;
	}

	j_compress_ptr c = &r->c;
	jvirt_barray_ptr arrays[MAX_COMPONENTS];
	if (setjmp(r->cerr.jmp)) {
		jpeg_abort_compress(c);
		g_set_error(error, SP_ERROR, SP_ERROR_FAILED,
			"re-cutting a tile of %s: %s", r->where, r->cerr.message);
		return FALSE;
	}
	for (int k = 0; k < r->n_comp; k++)
		arrays[k] = (*c->mem->request_virt_barray)((j_common_ptr) c,
			JPOOL_IMAGE, FALSE, (JDIMENSION) r->bw[k],
			(JDIMENSION) r->bh[k],
			(JDIMENSION) c->comp_info[k].v_samp_factor);
	jpeg_write_coefficients(c, arrays);
	/* a table the JPEGTables hold, the same, is left out of the tile (an
	 * abbreviated stream); any other goes in: a source without JPEGTables
	 * (every tile carries its tables, as slidepipe's own output) gets
	 * complete streams */
	for (int i = 0; i < NUM_QUANT_TBLS; i++)
		if (c->quant_tbl_ptrs[i])
			c->quant_tbl_ptrs[i]->sent_table = r->jt_q[i] &&
				memcmp(c->quant_tbl_ptrs[i]->quantval,
					r->jt_qt[i].quantval,
					sizeof(r->jt_qt[i].quantval)) == 0;
	if (!c->optimize_coding)
		for (int i = 0; i < NUM_HUFF_TBLS; i++) {
			if (c->dc_huff_tbl_ptrs[i])
				c->dc_huff_tbl_ptrs[i]->sent_table =
					r->jt_dc[i] &&
					same_huff(c->dc_huff_tbl_ptrs[i],
						&r->jt_dct[i]);
			if (c->ac_huff_tbl_ptrs[i])
				c->ac_huff_tbl_ptrs[i]->sent_table =
					r->jt_ac[i] &&
					same_huff(c->ac_huff_tbl_ptrs[i],
						&r->jt_act[i]);
		}

	for (int k = 0; k < r->n_comp; k++) {
		int bw = r->bw[k], bh = r->bh[k];
		/* the offset in this component's blocks */
		int ox = dx / r->mcu_w * c->comp_info[k].h_samp_factor;
		int oy = dy / r->mcu_h * c->comp_info[k].v_samp_factor;

		for (int by = 0; by < bh; by++) {
			JBLOCKARRAY a =
				(*c->mem->access_virt_barray)((j_common_ptr) c,
					arrays[k], (JDIMENSION) by, 1, TRUE);
			int sby = oy + by, j = sby / bh;
			const CachedTile *left = q[j][0], *right = q[j][1];
			int n = bw - ox; /* blocks from the left source tile */

			sby %= bh;
			if (left->blocks[k])
				memcpy(a[0],
					left->blocks[k] + (size_t) sby * bw +
						ox,
					n * sizeof(JBLOCK));
			else
				memset(a[0], 0, n * sizeof(JBLOCK));
			if (ox > 0) {
				if (right->blocks[k])
					memcpy(a[0] + n,
						right->blocks[k] +
							(size_t) sby * bw,
						ox * sizeof(JBLOCK));
				else
					memset(a[0] + n, 0,
						ox * sizeof(JBLOCK));
			}
		}
	}
	jpeg_finish_compress(c);
	*data = r->out;
	*size = (unsigned long) (r->out_cap - c->dest->free_in_buffer);
	return TRUE;
}
