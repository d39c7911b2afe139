#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# DICOM whole-slide images (issue 18): tests/dicom.py writes VL Whole
# Slide Microscopy instances with pydicom from make-slide's pixels (JPEG
# baseline 4:2:2, native RGB and JPEG 2000 lossless frames; TILED_FULL and
# TILED_SPARSE with shuffled frames and missing tiles; a Basic Offset
# Table, an empty one, the Extended Offset Table; a LABEL and an
# OVERVIEW) and checks `slidepipe info` and every level, the label, the
# macro and crops against the arrays, pixel for pixel; then the same
# TIFF through OrthancWSIDicomizer --reencode=0 against slidepipe's read
# of the TIFF; then the files slidepipe must refuse (Implicit VR,
# Deflated and Big Endian transfer syntaxes, a file cut in its pixel
# data, too few frames, a Basic Offset Table entry past the end,
# NumberOfFrames 4294967296): exit 1, the file's name on stderr, no
# output file. Then slidepipe's writer, save OUTDIR format=dicom, on
# CMU-1-Small-Region.svs (defaults and compression=copy), the synthetic
# slide (copy; cropped and downsampled; a threshold mask): dciodvfy finds
# no errors; the frames are the tiles of the TIFF the same save writes
# (with copy, the source's) byte for byte and decode (PIL) to its pixels;
# slidepipe reads every level back exactly; the UIDs; the refusals (exit
# 2, nothing created) and an OUTDIR that is already there.

. "${TESTS_SRCDIR:-$(dirname "$0")}/lib.sh"

[ -x /usr/bin/python3 ] || skip_all "/usr/bin/python3 missing"
PYTHON=/usr/bin/python3
"$PYTHON" -c 'import numpy, tifffile' 2>/dev/null ||
	skip_all "numpy or tifffile missing (install-deps.sh)"
"$PYTHON" -c 'import pydicom' 2>/dev/null ||
	skip_all "pydicom missing (python3-pydicom)"
"$PYTHON" -c 'import PIL' 2>/dev/null ||
	skip_all "PIL missing (python3-pil)"
cd "$TMPD" || exit 99

mkdir py
"$PYTHON" "$TESTS_SRCDIR/dicom.py" --slidepipe "$SLIDEPIPE" \
	--make-slide "$EXAMPLES/make-slide" --tmp "$TMPD/py" --shared "$SHARED_DIR" \
	>py.out 2>py.err
_rc=$?
relay_tap py.out
check "tests/dicom.py ran to its end" eval '[ $_rc = 0 ] || { diag_file py.err; false; }'

done_testing
