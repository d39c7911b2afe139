#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# make-corpus.sh DIR: writes slidepipe's corpus of bad and unusual inputs
# into DIR (made if missing), for tests/corpus.sh. Nothing binary is kept
# in the repository: every file is made here, with the vips CLI
# (libvips-tools) for real encoders and a small TIFF writer in Python
# (stdlib only) for structures no encoder will write (zero or 2^31
# sizes, odd tile sizes, loops, offsets past the end).
#
# Images: each file's name says what it is (ok-* are legal; so are a few
# odd ones, and the copies of ok-jpeg-tiled.tif under "paths/");
# tests/corpus.sh says what slidepipe must do with each. Pipelines:
# pipe-*.args, one argument per line, @S@ standing for a good slide and
# @OUT@ for the output path. Manifests: manifest-*.csv|tsv, with @S@ for
# the good slide's path.
set -eu

[ $# -eq 1 ] || {
	echo "usage: $0 DIR" >&2
	exit 2
}
D=$1
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$D"
cd "$D"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
command -v vips >/dev/null || {
	echo "make-corpus: needs vips (libvips-tools)" >&2
	exit 1
}

# ----------------------------------------------------- base images (vips)
# a 300 × 200 gradient: R = x, G = y, B = 128
vips xyz xy.v 300 200
vips cast xy.v xy8.v uchar
vips bandjoin_const xy8.v rgb.v 128
vips extract_band rgb.v gray.v 0

# legal variants libvips writes
vips copy rgb.v "ok-jpeg-tiled.tif[tile,tile-width=64,tile-height=64,compression=jpeg,Q=90]"
vips copy rgb.v "ok-striped.tif[compression=lzw]"
vips copy gray.v "ok-1band.tif[tile,tile-width=64,tile-height=64]"
vips bandjoin_const gray.v ga.v 200
vips copy ga.v "ok-2band.tif[tile,tile-width=64,tile-height=64]"
vips bandjoin_const rgb.v rgba.v 200
vips copy rgba.v "ok-rgba.tif[tile,tile-width=64,tile-height=64]"
vips cast rgb.v u16a.v ushort
vips linear u16a.v u16b.v 256 0
vips cast u16b.v u16.v ushort
vips copy u16.v "ok-16bit.tif[tile,tile-width=64,tile-height=64]"
vips bandjoin_const rgb.v cmyk0.v 30
vips copy cmyk0.v cmyk.v --interpretation cmyk
vips copy cmyk.v "ok-cmyk.tif[tile,tile-width=64,tile-height=64]"
vips copy rgb.v ok-image.png
vips copy rgb.v ok-image.jpg
vips cast rgb.v float.v float
vips copy float.v "float.tif[tile,tile-width=64,tile-height=64]"
vips cast float.v double.v double
vips copy double.v "double.tif[tile,tile-width=64,tile-height=64]"
# a pyramid libvips writes (levels in order), the base of some damage
vips copy rgb.v "ok-pyramid.tif[tile,pyramid,tile-width=64,tile-height=64,compression=jpeg]"
rm -f xy.v xy8.v rgb.v gray.v ga.v rgba.v u16a.v u16b.v u16.v cmyk0.v cmyk.v float.v

# ------------------------------------------------------ damaged copies
size=$(wc -c <ok-jpeg-tiled.tif)
# truncated at several offsets: in the header, in the first IFD or tile
# tables, half way through the tiles, and just before the end
head -c 4 ok-jpeg-tiled.tif >trunc-header.tif
head -c 64 ok-jpeg-tiled.tif >trunc-64.tif
head -c $((size / 2)) ok-jpeg-tiled.tif >trunc-half.tif
head -c $((size - 16)) ok-jpeg-tiled.tif >trunc-end.tif
head -c "$(($(wc -c <ok-image.png) / 2))" ok-image.png >trunc-half.png
head -c "$(($(wc -c <ok-image.jpg) / 2))" ok-image.jpg >trunc-half.jpg

"$PY" - <<'EOF'
import struct

# -- damage to real files -------------------------------------------------

def ifd_entries(data, ifd):
    """(tag, type, count, value-or-offset, entry offset) of a classic
    little-endian TIFF directory."""
    n = struct.unpack_from('<H', data, ifd)[0]
    for i in range(n):
        e = ifd + 2 + 12 * i
        tag, typ, count, value = struct.unpack_from('<HHII', data, e)
        yield tag, typ, count, value, e

def first_ifd(data):
    assert data[:4] == b'II*\0', 'expected a little-endian classic TIFF'
    return struct.unpack_from('<I', data, 4)[0]

src = bytearray(open('ok-jpeg-tiled.tif', 'rb').read())
ifd = first_ifd(src)
tags = {t: (typ, c, v, e) for t, typ, c, v, e in ifd_entries(src, ifd)}

# corrupt JPEG tile data: the entropy-coded bytes of every tile after the
# first, overwritten with a pattern (markers left for the decoder to trip
# on: 0xFF 0xD9 mid-scan)
bad = bytearray(src)
_, count, offs, _ = tags[324]   # TileOffsets
_, _, lens, _ = tags[325]       # TileByteCounts
offsets = struct.unpack_from('<%dI' % count, src, offs)
lengths = struct.unpack_from('<%dI' % count, src, lens)
for o, n in list(zip(offsets, lengths))[1:]:
    for k in range(o + n // 3, o + n - 2):
        bad[k] = (0xFF, 0xD9, 0x00, 0x13)[k % 4]
open('corrupt-jpeg-tiles.tif', 'wb').write(bad)

# every tile's frame names quantization table 3 for its second component,
# a table neither the tile nor the JPEGTables define (libjpeg fails when
# it dequantizes; the DCT re-cut fails earlier, copying the tables: found
# by the load fuzzer, where that error jumped into a dead stack frame)
bad = bytearray(src)
for o, n in zip(offsets, lengths):
    k = bad.find(b'\xff\xc0', o, o + n)
    if k >= 0:
        bad[k + 15] = 3
open('undefined-quant-table.tif', 'wb').write(bad)

# a tile that is not JPEG at all (its SOI gone)
bad = bytearray(src)
bad[offsets[0]:offsets[0] + 4] = b'\0\0\0\0'
open('corrupt-jpeg-soi.tif', 'wb').write(bad)

# wrong JPEGTables: the Huffman tables' code counts scrambled, so no
# tile decodes with them; SOI … EOI kept, so the tag still looks whole
bad = bytearray(src)
_, tcount, toff, _ = tags[347]
t = toff
while t < toff + tcount - 4:
    if bad[t] == 0xFF and bad[t + 1] == 0xC4:   # DHT
        seg = struct.unpack_from('>H', bad, t + 2)[0]
        for k in range(t + 5, t + 5 + 16):
            bad[k] = 0xFF
        t += 2 + seg
    elif bad[t] == 0xFF and bad[t + 1] in (0xD8,):
        t += 2
    elif bad[t] == 0xFF:
        t += 2 + struct.unpack_from('>H', bad, t + 2)[0]
    else:
        t += 1
open('wrong-jpegtables.tif', 'wb').write(bad)

# JPEGTables that are not a JPEG stream at all
bad = bytearray(src)
bad[toff:toff + tcount] = b'\x42' * tcount
open('garbage-jpegtables.tif', 'wb').write(bad)

# tile offsets past the end of the file
bad = bytearray(src)
for i in range(count):
    struct.pack_into('<I', bad, offs + 4 * i, 0x7FFFFF00)
open('tile-offsets-past-eof.tif', 'wb').write(bad)

# every tile at offset 0, inside the header
bad = bytearray(src)
for i in range(count):
    struct.pack_into('<I', bad, offs + 4 * i, 0)
open('tile-offsets-zero.tif', 'wb').write(bad)

# absurd tile byte counts
bad = bytearray(src)
for i in range(count):
    struct.pack_into('<I', bad, lens + 4 * i, 0x7FFFFFF0)
open('tile-bytecounts-huge.tif', 'wb').write(bad)

# odd YCbCr subsampling on JPEG tiles: the tag says 4 × 1 while the
# tiles are coded 2 × 2 (libvips writes 4:2:0 below Q 90; here Q 90
# keeps 4:4:4, so any subsampling tag is wrong)
bad = bytearray(src)
if 530 in tags:
    e = tags[530][3]
    struct.pack_into('<HHIHH', bad, e, 530, 3, 2, 4, 1)
    open('jpeg-ycbcr-odd-subsampling.tif', 'wb').write(bad)
else:
    # append the tag: rebuild the IFD at the end of the file
    n = struct.unpack_from('<H', bad, ifd)[0]
    entries = [bytes(bad[ifd + 2 + 12 * i: ifd + 14 + 12 * i]) for i in range(n)]
    entries.append(struct.pack('<HHIHH', 530, 3, 2, 4, 1))
    entries.sort(key=lambda e: struct.unpack_from('<H', e)[0])
    nxt = struct.unpack_from('<I', bad, ifd + 2 + 12 * n)[0]
    if len(bad) % 2:
        bad.append(0)
    new = len(bad)
    bad += struct.pack('<H', len(entries)) + b''.join(entries) + struct.pack('<I', nxt)
    struct.pack_into('<I', bad, 4, new)
    open('jpeg-ycbcr-odd-subsampling.tif', 'wb').write(bad)

# a directory chain that loops: the first IFD's next pointer to itself
bad = bytearray(src)
n = struct.unpack_from('<H', bad, ifd)[0]
struct.pack_into('<I', bad, ifd + 2 + 12 * n, ifd)
open('ifd-loop.tif', 'wb').write(bad)

# an IFD that claims 65535 entries
bad = bytearray(src)
struct.pack_into('<H', bad, ifd, 0xFFFF)
open('ifd-count-huge.tif', 'wb').write(bad)

# -- forged files ---------------------------------------------------------

SHORT, LONG, RATIONAL, ASCII = 3, 4, 5, 2
SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 16: 8}

def pack_values(typ, values):
    if typ == ASCII:
        return values
    if typ == RATIONAL:
        return b''.join(struct.pack('<II', a, b) for a, b in values)
    fmt = {1: 'B', 3: 'H', 4: 'I', 7: 'B'}[typ]
    return struct.pack('<%d%s' % (len(values), fmt), *values)

def write_tiff(path, pages):
    """pages: list of (tags, blobs). tags: {tag: (type, values)}, where a
    value may be ('blob', i) for the file offset of blobs[i]. Classic
    little-endian TIFF, the directories chained in order."""
    out = bytearray(b'II*\0\0\0\0\0')
    prev_next = 4
    for tags, blobs in pages:
        where = []
        for b in blobs:
            if len(out) % 2:
                out.append(0)
            where.append(len(out))
            out += b
        if len(out) % 2:
            out.append(0)
        ifd = len(out)
        struct.pack_into('<I', out, prev_next, ifd)
        n = len(tags)
        extra_at = ifd + 2 + 12 * n + 4
        extra = bytearray()
        ents = bytearray(struct.pack('<H', n))
        for tag in sorted(tags):
            typ, values = tags[tag]
            if typ in (SHORT, LONG):
                values = [where[v[1]] if isinstance(v, tuple) else v for v in values]
            raw = pack_values(typ, values)
            count = len(raw) // SIZES[typ]
            if len(raw) <= 4:
                ents += struct.pack('<HHI', tag, typ, count) + raw.ljust(4, b'\0')
            else:
                if len(extra) % 2:
                    extra.append(0)
                ents += struct.pack('<HHII', tag, typ, count, extra_at + len(extra))
                extra += raw
        prev_next = ifd + len(ents)
        out += ents + b'\0\0\0\0' + extra
    open(path, 'wb').write(out)

def gray_pixels(w, h):
    return bytes((x * 255 // max(1, w - 1)) ^ (y & 0x3F) for y in range(h) for x in range(w))

def striped(w, h, spp=1, photometric=1, pixels=None, extra=None, strips=1):
    if pixels is None:
        pixels = bytes(w * h * spp)
    rows = max(1, -(-h // strips))
    blobs, offs, lens = [], [], []
    row_bytes = w * spp
    for s in range(strips):
        chunk = pixels[s * rows * row_bytes:(s + 1) * rows * row_bytes]
        blobs.append(chunk)
        offs.append(('blob', s))
        lens.append(len(chunk))
    tags = {
        256: (LONG, [w]), 257: (LONG, [h]),
        258: (SHORT, [8] * spp), 259: (SHORT, [1]), 262: (SHORT, [photometric]),
        273: (LONG, offs), 277: (SHORT, [spp]), 278: (LONG, [rows]),
        279: (LONG, lens), 284: (SHORT, [1]),
    }
    tags.update(extra or {})
    return tags, blobs

def tiled(w, h, tw, th, spp=3, photometric=2, subfile=0, fill=None):
    tx, ty = -(-w // tw), -(-h // th)
    blobs, offs, lens = [], [], []
    for j in range(ty):
        for i in range(tx):
            v = fill if fill is not None else (i * 37 + j * 91) & 0xFF
            tile = bytes([v]) * (tw * th * spp)
            offs.append(('blob', len(blobs)))
            lens.append(len(tile))
            blobs.append(tile)
    tags = {
        254: (LONG, [subfile]),
        256: (LONG, [w]), 257: (LONG, [h]),
        258: (SHORT, [8] * spp), 259: (SHORT, [1]), 262: (SHORT, [photometric]),
        277: (SHORT, [spp]), 284: (SHORT, [1]),
        322: (LONG, [tw]), 323: (LONG, [th]), 324: (LONG, offs), 325: (LONG, lens),
    }
    return tags, blobs

# zero width, zero height
t, b = striped(64, 48, pixels=gray_pixels(64, 48))
t[256] = (LONG, [0])
write_tiff('zero-width.tif', [(t, b)])
t, b = striped(64, 48, pixels=gray_pixels(64, 48))
t[257] = (LONG, [0])
write_tiff('zero-height.tif', [(t, b)])

# absurd dimensions: 2^31 × 2^31 tiled (one tile's worth of tables),
# 2^31 × 1 striped with 100 bytes of data, and 2^32 - 1 high
t, b = tiled(256, 256, 256, 256)
t[256] = (LONG, [1 << 31])
t[257] = (LONG, [1 << 31])
write_tiff('huge-2p31-tiled.tif', [(t, b)])
t, b = striped(100, 1, pixels=bytes(100))
t[256] = (LONG, [1 << 31])
write_tiff('huge-2p31-striped.tif', [(t, b)])
t, b = striped(1, 100, pixels=bytes(100))
t[257] = (LONG, [0xFFFFFFFF])
t[278] = (LONG, [0xFFFFFFFF])
write_tiff('huge-height.tif', [(t, b)])
# a 60000 × 60000 image whose tile tables hold one tile: libtiff keeps
# that one and reads the rest as absent, i.e. a sparse slide (white)
t, b = tiled(256, 256, 256, 256)
t[256] = (LONG, [60000])
t[257] = (LONG, [60000])
write_tiff('sparse-tables-short.tif', [(t, b)])

# tiles 100 × 100 (not a multiple of 16, which TIFF requires; libtiff
# reads them with a warning): legal enough to read
write_tiff('ok-tile100.tif', [tiled(250, 150, 100, 100)])
# tiles 40000 × 40000 on a 300 × 200 image (one tile of 4.8 GB)
t, b = tiled(300, 200, 16, 16)
t[322] = (LONG, [40000])
t[323] = (LONG, [40000])
t[324] = (LONG, [t[324][1][0]])
t[325] = (LONG, [t[325][1][0]])
write_tiff('tile-40000.tif', [(t, b)])
# tile width 0
t, b = tiled(64, 64, 16, 16)
t[322] = (LONG, [0])
write_tiff('tile-width-0.tif', [(t, b)])

# palette: 8-bit indices and a colour map
w, h = 120, 80
cmap = [i * 257 for i in range(256)] + [(255 - i) * 257 for i in range(256)] + \
       [((i * 7) & 0xFF) * 257 for i in range(256)]
t, b = striped(w, h, photometric=3, pixels=gray_pixels(w, h), extra={320: (SHORT, cmap)})
write_tiff('ok-palette.tif', [(t, b)])
# a palette image without its colour map
t, b = striped(w, h, photometric=3, pixels=gray_pixels(w, h))
write_tiff('palette-no-colormap.tif', [(t, b)])

# uncompressed YCbCr, 2 × 1 subsampling, odd width 121: legal TIFF,
# but libvips reads subsampled YCbCr only in JPEG tiles
w, h = 121, 80
blocks = []
for y in range(h):
    for x in range(0, w + 1, 2):
        blocks.append(bytes([(x * 2) & 0xFF, (x * 2 + 1) & 0xFF, 128, 128]))
pix = b''.join(blocks)
t, b = striped(w, h, spp=3, photometric=6, pixels=pix,
               extra={530: (SHORT, [2, 1]), 532: (RATIONAL,
                      [(0, 1), (255, 1), (128, 1), (255, 1), (128, 1), (255, 1)])})
t[279] = (LONG, [len(pix)])
t[278] = (LONG, [h])
write_tiff('ycbcr-2x1-uncompressed.tif', [(t, b)])
# YCbCr subsampling 3 × 3 (the spec allows 1, 2, 4)
t, b = striped(w, h, spp=3, photometric=6, pixels=pix,
               extra={530: (SHORT, [3, 3])})
write_tiff('ycbcr-3x3-subsampling.tif', [(t, b)])

# a pyramid whose levels are out of order: directory 0 is 512 × 384,
# then the 128 × 96 level, then the 256 × 192 one (legal: levels are
# found by size)
write_tiff('ok-pyramid-disorder.tif', [
    tiled(512, 384, 64, 64, fill=90),
    tiled(128, 96, 64, 64, subfile=1, fill=150),
    tiled(256, 192, 64, 64, subfile=1, fill=200),
])
# a "reduced-resolution" level larger than the main image (ignored)
write_tiff('ok-pyramid-bigger-level.tif', [
    tiled(256, 192, 64, 64, fill=90),
    tiled(512, 384, 64, 64, subfile=1, fill=150),
])
# bits per sample 0, 3, and 12
for bps in (0, 3, 12):
    t, b = striped(64, 48, pixels=gray_pixels(64, 48))
    t[258] = (SHORT, [bps])
    write_tiff('bps-%d.tif' % bps, [(t, b)])
# 1000 samples per pixel
t, b = striped(4, 4, pixels=bytes(16))
t[277] = (SHORT, [1000])
write_tiff('spp-1000.tif', [(t, b)])
# a strip with no data at all
t, b = striped(64, 48, pixels=b'')
t[279] = (LONG, [0])
write_tiff('strip-empty.tif', [(t, b)])
# a BigTIFF header pointing nowhere
open('bigtiff-bad-offset.tif', 'wb').write(b'II+\0\x08\0\0\0' + struct.pack('<Q', 1 << 62))
# a PNG whose header says 2^31 - 1 × 2^31 - 1, with no image data
import zlib
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + \
        struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)
open('png-huge-ihdr.png', 'wb').write(b'\x89PNG\r\n\x1a\n' +
    chunk(b'IHDR', struct.pack('>IIBBBBB', 0x7FFFFFFF, 0x7FFFFFFF, 8, 2, 0, 0, 0)) +
    chunk(b'IEND', b''))
# 4 KB of noise (seeded: the same bytes every time)
import random
random.seed(6)
open('random.tif', 'wb').write(bytes(random.getrandbits(8) for _ in range(4096)))
# a JPEG whose frame says 65500 × 65500, then ends
jpg = open('ok-image.jpg', 'rb').read()
sof = jpg.find(b'\xff\xc0')
if sof < 0:
    sof = jpg.find(b'\xff\xc2')
big = bytearray(jpg[:len(jpg) // 3])
struct.pack_into('>HH', big, sof + 5, 65500, 65500)
open('jpeg-huge-frame.jpg', 'wb').write(big)
EOF

# ------------------------------------------------------- not images at all
echo "not an image, though its name says so" >not-an-image.tif
printf 'II*\000' >tiff-magic-only.tif
: >empty.tif
mkdir -p directory.tif
rm -f fifo.tif
mkfifo fifo.tif
rm -f loop-a.tif loop-b.tif
ln -s loop-b.tif loop-a.tif
ln -s loop-a.tif loop-b.tif
rm -f dangling.tif
ln -s nowhere.tif dangling.tif

# ----------------------------------------------------- awkward paths (legal)
mkdir -p paths
cp ok-jpeg-tiled.tif "paths/with space.tif"
cp ok-jpeg-tiled.tif "paths/new
line.tif"
cp ok-jpeg-tiled.tif "$(printf 'paths/latin1-\351\377.tif')"
cp ok-jpeg-tiled.tif "paths/-leading-dash.tif"
cp ok-jpeg-tiled.tif "paths/!bang.tif"

# ---------------------------------------------------------------- pipelines
# one argument per line; @S@ a good slide, @OUT@ the output
args() {
	_f=$1
	shift
	printf '%s\n' "$@" >"$_f"
}
args pipe-unknown-op.args load @S@ ! sharpen 3 ! save @OUT@
args pipe-missing-arg.args load @S@ ! crop 0 0 10 ! save @OUT@
args pipe-missing-path.args load ! save @OUT@
args pipe-wrong-type-int.args load @S@ ! save @OUT@ Q=high
args pipe-wrong-type-bool.args load @S@ ! save @OUT@ pyramid=maybe
args pipe-wrong-choice.args load @S@ ! save @OUT@ compression=gzip
args pipe-unknown-arg.args load @S@ ! crop 0 0 10 10 colour=red ! save @OUT@
args pipe-nan.args load @S@ ! crop nan 0 10 10 ! save @OUT@
args pipe-inf.args load @S@ ! crop 0 0 10 -inf ! save @OUT@
args pipe-negative.args load @S@ ! crop 0 0 -10 10 ! save @OUT@
args pipe-overflow-int.args load @S@ level=99999999999999999999999 ! save @OUT@
args pipe-overflow-double.args load @S@ ! crop 0 0 1e400 10 ! save @OUT@
args pipe-hex.args load @S@ ! crop 0x10 0 10 10 ! save @OUT@
args pipe-huge-wh.args load @S@ ! crop 0 0 2147483647 2147483647 ! save @OUT@
args pipe-huge-downsample.args load @S@ ! downsample 1e300 ! save @OUT@
args pipe-tiny-mpp.args load @S@ ! downsample mpp=1e-300 ! save @OUT@
args pipe-quote.args load @S@ ! crop '"0' 0 10 10 ! save @OUT@
args pipe-empty-arg.args load @S@ ! crop '' 0 10 10 ! save @OUT@
args pipe-equals-only.args load @S@ ! save @OUT@ =90
args pipe-double-bang.args load @S@ ! ! save @OUT@
args pipe-no-sink.args load @S@ ! crop 0 0 10 10
args pipe-bom.args "$(printf '\357\273\277load')" @S@ ! save @OUT@
args pipe-crlf.args load @S@ ! crop 0 0 10 "$(printf '10\r')" ! save @OUT@
args pipe-not-utf8.args load @S@ ! crop "$(printf '1\377')" 0 10 10 ! save @OUT@
# a 100 KB argument (Linux caps one argument at 128 KiB)
_long=$(head -c 100000 /dev/zero | tr '\0' '7')
args pipe-long-number.args load @S@ ! crop "$_long" 0 10 10 ! save @OUT@
args pipe-long-op.args load @S@ ! "$(head -c 100000 /dev/zero | tr '\0' 'x')" ! save @OUT@

# --------------------------------------------------------------- manifests
# @S@ is the good slide's path; each manifest has one good row (out
# good.png) and bad ones, or is bad as a whole
H=slide,x,y,w,h,out
printf '%s\n' $H '@S@,0,0,32,32,good.png' '@S@,nan,0,10,10,nan.png' \
	'@S@,0,inf,10,10,inf.png' '@S@,0,0,-5,10,neg.png' \
	'@S@,0,0,1e999,10,overflow.png' '@S@,0,0,99999999999999999999999,10,bigint.png' \
	'@S@,0,0,2147483647,2147483647,hugewh.png' '@S@,zero,0,10,10,word.png' \
	>manifest-numbers.csv
printf '%s\n' $H '@S@,0,0,32,32,good.png' '@S@,0,0,"10,10,quote.png' \
	'@S@,1,1,16,16,after-quote.png' >manifest-unterminated-quote.csv
printf '\357\273\277%s\r\n@S@,0,0,32,32,good.png\r\n@S@,0,0,0,10,zero.png\r\n' \
	$H >manifest-bom-crlf.csv
printf '%s\n@S@,0,0,32,32,good.png\n@S@,0,0,10\n@S@,0,0,10,10,extra.png,surplus,fields\n' \
	$H >manifest-missing-fields.csv
{
	echo $H
	echo '@S@,0,0,32,32,good.png'
	printf '@S@,0,0,10,10,'
	head -c 1048576 /dev/zero | tr '\0' 'a'
	echo '.png'
	echo '@S@,1,1,16,16,after-long.png'
} >manifest-1mb-line.csv
{
	echo $H
	echo '@S@,0,0,32,32,good.png'
	head -c 1048576 /dev/zero | tr '\0' 'b'
	echo
} >manifest-1mb-garbage.csv
printf '%s\n@S@,0,0,32,32,good.png\n@S@,0,0,10,10,\377\376bad.png\n@S@,1,1,16,16,after.png\n' \
	$H >manifest-not-utf8.csv
printf '%s\n@S@,0,0,32,32,good.png\n@S@,0,0,10,10,nul\000byte.png\n@S@,1,1,16,16,after.png\n' \
	$H >manifest-nul.csv
printf '%s\n@S@,0,0,32,32,good.png\n%s,0,0,10,10,missing.png\n@S@,0,0,10,10,/etc/escape.png\n' \
	$H "$D/no-such-slide.tif" >manifest-bad-rows.csv
printf '%s\n@S@,0,0,32,32,good.png\n%s,0,0,10,10,notimage.png\n%s,0,0,10,10,fifo.png\n' \
	$H "$D/not-an-image.tif" "$D/fifo.tif" >manifest-bad-slides.csv
printf 'slide\tx\ty\tw\th\tout\n@S@\t0\t0\t32\t32\tgood.png\n@S@\t0\t0\t10\n' >manifest-short.tsv
printf 'slide,out\n@S@,t1.png\n@S@,t2.png\n' >manifest-template.csv
printf '%s\n' $H >manifest-header-only.csv
printf 'slide,x,y\n@S@,0,0\n' >manifest-no-columns.csv
printf '\357\273\277' >manifest-bom-only.csv
: >manifest-empty.csv
printf '\377\376s\000l\000i\000d\000e\000\n\000' >manifest-utf16.csv
head -c 1048576 /dev/zero | tr '\0' ',' >manifest-1mb-header.csv
echo >>manifest-1mb-header.csv

# --- damaged DICOM whole-slide instances (issue 18) ---------------------
# good ones from tests/dicom.py (pydicom), when it is there; the damage
# with the standard library
if /usr/bin/python3 -c 'import pydicom, numpy, PIL' 2>/dev/null; then
	mkdir -p dicom-seeds
	/usr/bin/python3 "$HERE/../dicom.py" --seeds dicom-seeds
	mkdir -p ok-dicom-jpeg ok-dicom-native
	cp dicom-seeds/dicom-jpeg-bot.dcm ok-dicom-jpeg/instance.dcm
	cp dicom-seeds/dicom-native.dcm ok-dicom-native/instance.dcm
	"$PY" - <<'EOF'
import os
import struct

src = open('dicom-seeds/dicom-jpeg-bot.dcm', 'rb').read()
pixel = src.index(b'\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff')
bot = pixel + 12          # the Basic Offset Table item
bot_len = struct.unpack_from('<I', src, bot + 4)[0]
first = bot + 8 + bot_len  # the first fragment

def put(name, data):
    """each case alone in a directory of its own: a file's series is read
    from the files beside it, and every case here is one series"""
    os.makedirs(name[:-4], exist_ok=True)
    open(os.path.join(name[:-4], 'instance.dcm'), 'wb').write(bytes(data))

def element(data, tag):
    """offset of the value and the length of a short-VR element"""
    k = data.index(tag)
    return k + 8, struct.unpack_from('<H', data, k + 6)[0]

put('dcm-trunc-meta.dcm', src[:140])
put('dcm-trunc-header.dcm', src[:pixel // 2])
put('dcm-trunc-pixels.dcm', src[:first + (len(src) - first) // 2])
put('dcm-no-delimiter.dcm', src[:-8])
bad = bytearray(src)
struct.pack_into('<I', bad, bot + 8 + bot_len - 4, 0x7FFFFFF0)
put('dcm-bot-past-end.dcm', bad)
bad = bytearray(src)
struct.pack_into('<I', bad, bot + 8, 0xFFFFFF00)
put('dcm-bot-backwards.dcm', bad)
bad = bytearray(src)
struct.pack_into('<I', bad, first + 4, 0xFFFFFFF0)
put('dcm-fragment-length.dcm', bad)
bad = bytearray(src)
bad[first + 8:first + 40] = b'\x13' * 32      # the first frame's JPEG header
put('dcm-corrupt-frame.dcm', bad)
bad = bytearray(src)
k, n = element(bad, b'\x02\x00\x10\x00UI')  # Transfer Syntax UID
bad[k:k + n] = b'1.2.840.10008.1.2'.ljust(n, b'\0')
put('dcm-implicit-syntax.dcm', bad)
bad = bytearray(src)
k, n = element(bad, b'\x28\x00\x10\x00US')  # Rows
struct.pack_into('<H', bad, k, 0)
put('dcm-zero-rows.dcm', bad)
bad = bytearray(src)
k = bad.index(b'\x48\x00\x06\x00UL')       # TotalPixelMatrixColumns
struct.pack_into('<I', bad, k + 8, 0xFFFFFFFF)
put('dcm-huge-matrix.dcm', bad)
bad = bytearray(src)
k, n = element(bad, b'\x28\x00\x08\x00IS')  # NumberOfFrames
bad[k:k + n] = b'9' * n
put('dcm-many-frames.dcm', bad)
# 10,000 nested sequences of undefined length after the file meta
deep = bytearray(src[:src.index(b'\x08\x00\x05\x00')])
for _ in range(10000):
    deep += b'\x08\x00\x10\x11SQ\x00\x00\xff\xff\xff\xff\xfe\xff\x00\xe0\xff\xff\xff\xff'
put('dcm-deep-sequences.dcm', deep)
EOF
	rm -rf dicom-seeds
fi

# --- bad GeoJSON annotations (issue 17): each through crop geojson= ----
printf '' >geo-empty.geojson
printf '{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[50,0]' >geo-truncated.geojson
printf '{"type":"Polygon","coordinates":[[[0,0],[1e999,0],[0,50],[0,0]]]}' >geo-infinite.geojson
printf '{"type":"Polygon","coordinates":[[[0,0],[NaN,0],[0,50],[0,0]]]}' >geo-nan.geojson
printf '{"type":"Polygon","coordinates":[[[10,10],[90,90],[10,10],[10,10]]]}' >geo-two-points.geojson
printf '{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"LineString","coordinates":[[0,0],[50,50]]}}]}' >geo-linestring.geojson
printf '{"type":"GeometryCollection","geometries":[]}' >geo-collection.geojson
printf '{"type":"Polygon","coordinates":[[["0",0],[50,0],[0,50],["0",0]]]}' >geo-string-number.geojson
printf '{"type":"Polygon","coordinates":[[[0,0],[5e12,0],[0,50],[0,0]]]}' >geo-huge.geojson
head -c 100000 /dev/zero | tr '\0' '[' >geo-deep.geojson
printf '\377\376{\000"\000t\000' >geo-utf16.geojson
printf '{"type":"Polygon","coordinates":[[[0,0],[50,0],[0,50],[0,0]]]} trailing' >geo-trailing.geojson

n=$(ls | wc -l)
echo "make-corpus: $n entries in $D"
