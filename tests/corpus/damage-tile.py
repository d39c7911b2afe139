#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Damages one JPEG tile of a classic little-endian tiled TIFF, in place.

usage: damage-tile.py FILE DIRECTORY DAMAGE

DAMAGE (tile 0 of directory DIRECTORY, counted from 0 along the main chain):
  bytecount3    its TileByteCounts entry says 3
  past-end      its TileByteCounts entry runs past the end of the file
  truncated     its byte count halved (header whole, entropy-coded data cut)
  sof-size      its JPEG frame (SOF0) says 128 x 128, not the tile's size
  sampling      its first component's sampling factors say 2x2 (4:2:0)
  component-ids its components are numbered 'R', 'G', 'B' instead of 1, 2, 3
                (in SOF0 and SOS: a whole tile, coded unlike the others)
  no-tables     its DQT segments renamed to COM (comments): no quantization
                tables, and none in JPEGTables

Used by tests/writers.sh to check that compression=copy and the DCT re-cut
never pass such a tile on (standard library only).
"""
import struct
import sys


def entries(data, ifd):
    n = struct.unpack_from('<H', data, ifd)[0]
    for i in range(n):
        at = ifd + 2 + 12 * i
        tag, typ, count, value = struct.unpack_from('<HHII', data, at)
        yield at, tag, typ, count, value


def directory(data, index):
    if data[:4] != b'II*\0':
        sys.exit('damage-tile.py: not a classic little-endian TIFF')
    ifd = struct.unpack_from('<I', data, 4)[0]
    for _ in range(index):
        n = struct.unpack_from('<H', data, ifd)[0]
        ifd = struct.unpack_from('<I', data, ifd + 2 + 12 * n)[0]
        if ifd == 0:
            sys.exit('damage-tile.py: no directory %d' % index)
    return ifd


def first_value_at(data, typ, count, value, at):
    """Where the first value of an entry lives, and its struct format."""
    fmt = {3: '<H', 4: '<I'}[typ]
    size = struct.calcsize(fmt)
    return (at + 8 if size * count <= 4 else value), fmt


def main():
    path, index, damage = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    data = bytearray(open(path, 'rb').read())
    ifd = directory(data, index)
    where = {}
    for at, tag, typ, count, value in entries(data, ifd):
        if tag in (324, 325):
            where[tag] = first_value_at(data, typ, count, value, at)
    (off_at, off_fmt), (cnt_at, cnt_fmt) = where[324], where[325]
    offset = struct.unpack_from(off_fmt, data, off_at)[0]
    count = struct.unpack_from(cnt_fmt, data, cnt_at)[0]
    tile = memoryview(data)[offset:offset + count]

    def sof():
        i = bytes(tile).find(b'\xff\xc0')
        if i < 0:
            sys.exit('damage-tile.py: tile 0 has no SOF0')
        return i

    if damage == 'bytecount3':
        struct.pack_into(cnt_fmt, data, cnt_at, 3)
    elif damage == 'past-end':
        struct.pack_into(cnt_fmt, data, cnt_at, len(data) - offset + 4096)
    elif damage == 'truncated':
        struct.pack_into(cnt_fmt, data, cnt_at, count // 2)
    elif damage == 'sof-size':
        struct.pack_into('>HH', tile, sof() + 5, 128, 128)
    elif damage == 'sampling':
        tile[sof() + 11] = 0x22
    elif damage == 'component-ids':
        sos = bytes(tile).find(b'\xff\xda')
        for k, c in enumerate(b'RGB'):
            tile[sof() + 10 + 3 * k] = c
            tile[sos + 5 + 2 * k] = c
    elif damage == 'no-tables':
        i = 0
        while True:
            i = bytes(tile).find(b'\xff\xdb', i)
            if i < 0:
                break
            tile[i + 1] = 0xfe
    else:
        sys.exit('damage-tile.py: unknown damage ' + damage)
    open(path, 'wb').write(data)


main()
