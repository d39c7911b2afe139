#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""DICOM whole-slide images (issue 18): slidepipe's reader against
instances written here with pydicom, and against OrthancWSIDicomizer's;
slidepipe's writer (save format=dicom) against dciodvfy, pydicom, PIL
and the TIFF the same save writes.

The writer (write_wsi) cuts a numpy RGB array into 256 × 256 frames
(edge tiles padded with black) and stores them as a VL Whole Slide
Microscopy Image instance (SOP class 1.2.840.10008.5.1.4.1.1.77.1.6):

  codec     jpeg: baseline JPEG, PIL quality 90, 4:2:2, YBR_FULL_422
            native: Explicit VR Little Endian, RGB
            j2k: JPEG 2000 lossless (.90), RGB, no colour transform
  layout    TILED_FULL (frames row by row) or TILED_SPARSE (positions in
            the Per-frame Functional Groups, frames shuffled, some tiles
            left out: they read as white)
  offsets   bot: a Basic Offset Table; empty: an empty one, one fragment
            per frame; eot: an empty one and the Extended Offset Table

The pixels come from examples/make-slide (3000 × 2000, 0.25 µm), read
level by level through slidepipe from its TIFF. What a correct reader
returns is known exactly: native and lossless frames are the source;
JPEG frames are what PIL (libjpeg-turbo, as slidepipe's libraries)
decodes them to, put together on the matrix.

  writer    every instance read back with pydicom (frames, offset
            tables, positions); dciodvfy's findings as diagnostics
  pyramid   a JPEG TILED_FULL pyramid of 3 levels with a LABEL (native)
            and an OVERVIEW (JPEG) in a directory: info (levels, sizes,
            downsamples, tiles, mpp, associated images, properties), by
            the directory and by one file of it (also beside another
            series, which is left out); each level, the label, the
            macro and crops against the arrays
  native    2 levels, mpp 0.25 across × 0.5 down: info, exact pixels
  sparse    TILED_SPARSE, JPEG level 0 and native level 1
  offsets   an empty Basic Offset Table; the Extended Offset Table
  j2k       JPEG 2000 lossless: exact pixels
  orthanc   OrthancWSIDicomizer --reencode=0 of the TIFF (its tiles
            copied, not re-encoded): info and every level equal the
            TIFF's as slidepipe reads it
  errors    Implicit VR, Deflated, Big Endian transfer syntaxes; a file
            cut in its pixel data; NumberOfFrames above the frames
            present; a Basic Offset Table entry past the end;
            NumberOfFrames 4294967296: exit 1, the file named on
            stderr, no output, no crash
  save      slidepipe's own writer, `save OUTDIR format=dicom`, each
            against `save X.tif` with the same arguments (tifffile
            gives X.tif's raw tiles, slidepipe its pixels):
            (a) CMU-1-Small-Region.svs (--shared), defaults; (b) the
            synthetic slide, compression=copy; (c) it cropped and
            downsampled, Q=80 tile=128; (d) the SVS, compression=copy
            (Aperio's RGB JPEG tiles); (e) a threshold mask,
            compression=jpeg. For each: level-N.dcm, one per X.tif
            level; JPEG baseline, TILED_FULL, the Basic Offset Table,
            Columns × Rows, the matrix, PixelSpacing (mpp × downsample
            / 1000, row first) and PhotometricInterpretation (X.tif's:
            YCbCr → YBR_FULL_422 whatever the chroma sampling, RGB →
            RGB, grey → MONOCHROME2); dciodvfy: no errors (warnings as
            diagnostics); every frame is X.tif's tile (its JPEGTables
            without EOI, the tile without SOI, a 0 to even length),
            with copy level 0's the source's tiles, byte for byte;
            the frames decoded by PIL equal slidepipe's read of X.tif
            (of the source where copied); load OUTDIR level=N equals
            load X.tif level=N and info agrees; patient attributes
            present and empty, none of the SVS's identifying
            properties. UIDs: one Study, Series, Frame of Reference per
            save, distinct SOP Instance UIDs, 2.25 form, ≤ 64
            characters, new ones on every save. Refusals (a mask
            without compression=jpeg, lzw, 16-bit, several planes, no
            mpp): exit 2, save and OUTDIR on stderr, nothing created,
            no temporary left. Anything at OUTDIR already (a
            directory, empty or not, or a file): an error, untouched

Prints one line per check, "ok N - NAME" or "not ok N - NAME", and
"# ..." diagnostics; tests/dicom.sh turns them into TAP.
"""
import argparse
import io
import json
import os
import re
import shutil
import struct
import sys
import time

import numpy as np
import pydicom
import tifffile
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_pixel_data_frame
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, generate_uid

from tap import Fail, check, diag, need, run, skip  # tests/tap.py

ERR_TIMEOUT = 30  # for a file to be refused
SLIDE_W, SLIDE_H = 3000, 2000
MPP = 0.25
TILE = 256
LEVELS = 3     # of the synthetic pyramid (the TIFF has 5; Orthanc copies all)
SEED = 18

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
TS_EXPLICIT = "1.2.840.10008.1.2.1"
TS_IMPLICIT = "1.2.840.10008.1.2"
TS_DEFLATED = "1.2.840.10008.1.2.1.99"
TS_BIG = "1.2.840.10008.1.2.2"
TS_JPEG = "1.2.840.10008.1.2.4.50"
TS_J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
TS_NAMES = {TS_EXPLICIT: "Explicit VR Little Endian", TS_IMPLICIT: "Implicit VR Little Endian",
            TS_DEFLATED: "Deflated Explicit VR Little Endian", TS_BIG: "Explicit VR Big Endian",
            TS_JPEG: "JPEG Baseline", TS_J2K_LOSSLESS: "JPEG 2000 lossless",
            "1.2.840.10008.1.2.4.91": "JPEG 2000"}
CODECS = {  # transfer syntax, photometric interpretation
    "native": (TS_EXPLICIT, "RGB"),
    "jpeg": (TS_JPEG, "YBR_FULL_422"),
    "j2k": (TS_J2K_LOSSLESS, "RGB"),
}

# ------------------------------------------------------------- slidepipe

class Slidepipe:
    def __init__(self, exe, outdir):
        self.exe, self.outdir, self.n = exe, outdir, 0

    def read(self, argv):
        """`slidepipe -q ARGV ! save X.tif compression=none`, as an array."""
        self.n += 1
        out = os.path.join(self.outdir, "read%03d.tif" % self.n)
        rc, _, err = run([self.exe, "-q"] + argv +
                         ["!", "save", out, "compression=none", "pyramid=false"])
        if rc != 0:
            raise Fail("slidepipe %s: exit %d: %s" % (" ".join(map(str, argv)), rc, err.strip()))
        a = tifffile.imread(out)
        os.unlink(out)
        return a

    def info(self, path):
        rc, out, err = run([self.exe, "info", path])
        if rc != 0:
            raise Fail("slidepipe info %s: exit %d: %s" % (path, rc, err.strip()))
        return parse_info(out)


LEVEL_RE = re.compile(r"^  level (\d+): (\d+) × (\d+) px, downsample ([0-9.]+), "
                      r"tiles (\d+) × (\d+)", re.M)


def parse_info(text):
    """slidepipe info's text: levels [(w, h, downsample, tw, th)], mpp
    (x, y) or None, associated names (either "associated images: a, b"
    or one "  name: W × H px" line each), properties {name: value}."""
    info = {"text": text, "levels": [], "mpp": None, "associated": [], "props": {}}
    m = re.search(r"^levels: (\d+)$", text, re.M)
    info["count"] = int(m.group(1)) if m else None
    for m in LEVEL_RE.finditer(text):
        info["levels"].append((int(m.group(2)), int(m.group(3)), float(m.group(4)),
                               int(m.group(5)), int(m.group(6))))
    m = re.search(r"^mpp: ([0-9.e+-]+) × ([0-9.e+-]+) µm per level-0 pixel$", text, re.M)
    if m:
        info["mpp"] = (float(m.group(1)), float(m.group(2)))
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("associated images:"):
            rest = line.split(":", 1)[1].strip()
            if rest and rest != "none":
                info["associated"] = [a.strip() for a in rest.split(",")]
            elif not rest:
                for nxt in lines[i + 1:]:
                    m = re.match(r"^  ([a-z]+): \d+ × \d+ px", nxt)
                    if not m:
                        break
                    info["associated"].append(m.group(1))
        if line == "properties:":
            for nxt in lines[i + 1:]:
                m = re.match(r"^  (\S+) = (.*)$", nxt)
                if not m:
                    break
                info["props"][m.group(1)] = m.group(2)
    return info


def need_levels(info, want, what):
    """want: [(w, h)]; downsamples the mean of w0 / w and h0 / h (OpenSlide's
    rule, which slidepipe's TIFF levels follow too); tiles TILE."""
    got = [(w, h) for w, h, _, _, _ in info["levels"]]
    need(info["count"] == len(want) and got == want,
         "%s: levels %s %s, expected %d: %s\n%s" % (what, info["count"], got, len(want), want,
                                                   info["text"].strip()))
    for (w, h, ds, tw, th), (ww, wh) in zip(info["levels"], want):
        exp = (want[0][0] / ww + want[0][1] / wh) / 2
        need(abs(ds - exp) <= 1e-4 * exp, "%s: level %d × %d: downsample %g, expected %g"
             % (what, w, h, ds, exp))


def need_mpp(info, want, what):
    got = info["mpp"]
    need(got is not None and all(abs(g - w) <= 1e-5 * w for g, w in zip(got, want)),
         "%s: mpp %s, expected %g × %g:\n%s" % (what, got, want[0], want[1],
                                               "\n".join(l for l in info["text"].splitlines()
                                                         if l.startswith("mpp"))))


def compare(got, want, what, jpeg=False):
    """Exact equality; for frames decoded by libjpeg on both sides, a
    difference of at most 2 passes with a diagnostic (see the report)."""
    if got.ndim == 3 and got.shape[2] == 4 and want.shape[2] == 3:
        raise Fail("%s: slidepipe gave 4 bands (RGBA), expected RGB" % what)
    need(got.shape == want.shape, "%s: shape %s, expected %s" % (what, got.shape, want.shape))
    need(got.dtype == np.uint8, "%s: %s, expected uint8" % (what, got.dtype))
    if np.array_equal(got, want):
        return
    d = np.abs(got.astype(np.int16) - want.astype(np.int16))
    mx = int(d.max())
    ys, xs = np.nonzero(d.max(axis=2))
    y, x = int(ys[0]), int(xs[0])
    why = ("%s: %d of %d pixels differ, max abs difference %d; first at x=%d y=%d "
           "(tile %d, %d): got %s, expected %s"
           % (what, len(ys), d.shape[0] * d.shape[1], mx, x, y, x // TILE, y // TILE,
              got[y, x].tolist(), want[y, x].tolist()))
    if jpeg and mx <= 2:
        diag(why)
        diag("%s: accepted (≤ 2): both sides decode the same JPEG frames with libjpeg-turbo, so "
             "a difference this small comes from decoder settings (DCT method, fancy "
             "upsampling of 4:2:2 chroma), not from reading the wrong frame or place" % what)
        return
    raise Fail(why)


# ---------------------------------------------------------------- writer

def uid(*parts):
    """A UID derived from PARTS: the same on every run."""
    return generate_uid(entropy_srcs=["slidepipe tests/dicom.py"] + [str(p) for p in parts])


def ds_str(v):
    s = "%.10g" % v
    return s if len(s) <= 16 else "%.6g" % v


class Series:
    count = 0

    def __init__(self, name, study="slidepipe-18"):
        Series.count += 1
        self.name, self.number = name, Series.count
        self.study_uid = uid("study", study)
        self.series_uid = uid("series", name)
        self.pyramid_uid = uid("pyramid", name)
        self.frame_uid = uid("frame of reference", name)
        self.dim_uid = uid("dimension organization", name)


def code(value, scheme, meaning):
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


ICC = None


def srgb_icc():
    global ICC
    if ICC is None:
        try:
            from PIL import ImageCms
            ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        except Exception:  # no littlecms in PIL: no profile
            ICC = b""
    return ICC


def encode(tile, codec):
    if codec == "native":
        return np.ascontiguousarray(tile).tobytes()
    buf = io.BytesIO()
    im = Image.fromarray(np.ascontiguousarray(tile), "RGB")
    if codec == "jpeg":
        im.save(buf, "JPEG", quality=90, subsampling=1)   # 1: 4:2:2
    else:  # j2k: lossless (reversible 5/3), no colour transform, a raw codestream
        im.save(buf, "JPEG2000", irreversible=False, no_jp2=True, mct=0)
    return buf.getvalue()


def decode(frame, codec, th, tw):
    if codec == "native":
        return np.frombuffer(frame, np.uint8).reshape(th, tw, 3)
    im = Image.open(io.BytesIO(frame))
    im.load()
    need(im.mode == "RGB" and im.size == (tw, th),
         "PIL decodes a frame to %s %s, expected RGB %dx%d" % (im.mode, im.size, tw, th))
    return np.asarray(im)


class Instance:
    """What write_wsi wrote: the dataset, its frames (encoded, in file
    order), their tile positions (tx, ty) and what a reader must return."""


def build_wsi(arr, series, *, kind="VOLUME", codec="jpeg", sparse=False, omit=(),
              offsets="bot", rng=None, instance=1, mpp=(MPP, MPP), tile=TILE,
              level0=True, name="instance"):
    """A WSI dataset of ARR (H × W × 3 uint8), not yet saved. kind:
    VOLUME, LABEL or OVERVIEW (LABEL and OVERVIEW are one frame of the
    whole image). omit: tile positions (tx, ty) left out (TILED_SPARSE
    only); rng shuffles the frames of a TILED_SPARSE instance."""
    h, w = arr.shape[:2]
    tw, th = (w, h) if kind != "VOLUME" else (tile, tile)
    nx, ny = -(-w // tw), -(-h // th)
    canvas = np.zeros((ny * th, nx * tw, 3), np.uint8)   # padding: black
    canvas[:h, :w] = arr
    order = [(tx, ty) for ty in range(ny) for tx in range(nx)]
    if sparse:
        order = [p for p in order if p not in set(omit)]
        if rng is not None:
            order = [order[i] for i in rng.permutation(len(order))]
    else:
        assert not omit, "TILED_FULL has every tile"
    frames, expected = [], np.full((ny * th, nx * tw, 3), 255, np.uint8)
    for tx, ty in order:
        f = encode(canvas[ty * th:(ty + 1) * th, tx * tw:(tx + 1) * tw], codec)
        frames.append(f)
        expected[ty * th:(ty + 1) * th, tx * tw:(tx + 1) * tw] = decode(f, codec, th, tw)
    expected = expected[:h, :w]
    ts, photometric = CODECS[codec]

    sop_uid = uid("instance", series.name, name)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = WSI_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ts
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "SLIDEPIPE_TEST"
    ds = Dataset()
    ds.file_meta = meta
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.preamble = b"\0" * 128

    if kind == "VOLUME":
        image_type = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"] if level0 else \
            ["DERIVED", "PRIMARY", "VOLUME", "RESAMPLED"]
    else:
        image_type = ["ORIGINAL", "PRIMARY", kind, "NONE"]
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = image_type
    ds.SOPClassUID = WSI_SOP_CLASS
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240118"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.AcquisitionDateTime = "20240118120000"
    ds.add_new(0x00080019, "UI", series.pyramid_uid)            # PyramidUID
    ds.AccessionNumber = ""
    ds.Modality = "SM"
    ds.Manufacturer = "slidepipe"
    ds.ReferringPhysicianName = ""
    ds.ManufacturerModelName = "tests/dicom.py"
    ds.VolumetricProperties = "VOLUME"
    ds.PatientName = "Test^Slidepipe"
    ds.PatientID = "SP-18"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.DeviceSerialNumber = "18"
    ds.SoftwareVersions = "1"
    ds.StudyInstanceUID = series.study_uid
    ds.SeriesInstanceUID = series.series_uid
    ds.StudyID = "18"
    ds.SeriesNumber = series.number
    ds.InstanceNumber = instance
    ds.PatientOrientation = ""
    ds.add_new(0x00200027, "LO", "synthetic %s" % series.name)  # PyramidLabel
    ds.FrameOfReferenceUID = series.frame_uid
    ds.PositionReferenceIndicator = "SLIDE_CORNER"
    org = Dataset()
    org.DimensionOrganizationUID = series.dim_uid
    ds.DimensionOrganizationSequence = Sequence([org])
    ds.DimensionOrganizationType = "TILED_SPARSE" if sparse else "TILED_FULL"
    if sparse:
        index = []
        for ptr in (0x0048021E, 0x0048021F):   # Column/Row Position In Total Image Pixel Matrix
            d = Dataset()
            d.DimensionOrganizationUID = series.dim_uid
            d.DimensionIndexPointer = ptr
            d.FunctionalGroupPointer = 0x0048021A   # Plane Position (Slide) Sequence
            index.append(d)
        ds.DimensionIndexSequence = Sequence(index)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = photometric
    ds.PlanarConfiguration = 0
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = th, tw
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.BurnedInAnnotation = "YES" if kind == "LABEL" else "NO"
    if kind == "LABEL":   # Slide Label module
        ds.LabelText = "SP-18"
        ds.BarcodeValue = ""
    if codec == "jpeg":
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionRatio = ds_str(arr.size / max(1, sum(map(len, frames))))
        ds.LossyImageCompressionMethod = "ISO_10918_1"
    else:
        ds.LossyImageCompression = "00"
    ds.ContainerIdentifier = "SP-18-slide"
    ds.IssuerOfTheContainerIdentifierSequence = Sequence([])
    ds.ContainerTypeCodeSequence = Sequence([code("433466003", "SCT", "Microscope slide")])
    spec = Dataset()
    spec.SpecimenIdentifier = "SP-18-specimen"
    spec.SpecimenUID = uid("specimen", series.name)
    spec.IssuerOfTheSpecimenIdentifierSequence = Sequence([])
    spec.SpecimenPreparationSequence = Sequence([])
    ds.SpecimenDescriptionSequence = Sequence([spec])
    ds.AcquisitionContextSequence = Sequence([])
    ds.ImagedVolumeWidth = w * mpp[0] / 1000.0
    ds.ImagedVolumeHeight = h * mpp[1] / 1000.0
    ds.ImagedVolumeDepth = 0.001
    ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows = w, h
    ds.TotalPixelMatrixFocalPlanes = 1
    origin = Dataset()
    origin.XOffsetInSlideCoordinateSystem = "20"
    origin.YOffsetInSlideCoordinateSystem = "40"
    ds.TotalPixelMatrixOriginSequence = Sequence([origin])
    ds.ImageOrientationSlide = [1, 0, 0, 0, 1, 0]   # columns along X, rows along Y
    ds.SpecimenLabelInImage = "YES" if kind in ("LABEL", "OVERVIEW") else "NO"
    ds.FocusMethod = "AUTO"
    ds.ExtendedDepthOfField = "NO"
    ds.NumberOfOpticalPaths = 1
    path = Dataset()
    path.IlluminationTypeCodeSequence = Sequence([
        code("111744", "DCM", "Brightfield illumination")])
    if srgb_icc():
        path.ICCProfile = srgb_icc()
    path.OpticalPathIdentifier = "1"
    path.OpticalPathDescription = "Brightfield"
    path.IlluminationColorCodeSequence = Sequence([code("414298005", "SCT", "Full Spectrum")])
    ds.OpticalPathSequence = Sequence([path])
    shared = Dataset()
    pm = Dataset()
    pm.PixelSpacing = [ds_str(mpp[1] / 1000.0), ds_str(mpp[0] / 1000.0)]   # row \ column, mm
    pm.SliceThickness = "0.001"
    shared.PixelMeasuresSequence = Sequence([pm])
    ft = Dataset()
    ft.FrameType = image_type
    shared.WholeSlideMicroscopyImageFrameTypeSequence = Sequence([ft])
    op = Dataset()
    op.OpticalPathIdentifier = "1"
    shared.OpticalPathIdentificationSequence = Sequence([op])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    if sparse:
        per = []
        for tx, ty in order:
            pp = Dataset()
            pp.XOffsetInSlideCoordinateSystem = ds_str(20 + tx * tw * mpp[0] / 1000.0)
            pp.YOffsetInSlideCoordinateSystem = ds_str(40 + ty * th * mpp[1] / 1000.0)
            pp.ZOffsetInSlideCoordinateSystem = "0"
            pp.ColumnPositionInTotalImagePixelMatrix = tx * tw + 1
            pp.RowPositionInTotalImagePixelMatrix = ty * th + 1
            fc = Dataset()
            fc.DimensionIndexValues = [tx + 1, ty + 1]
            item = Dataset()
            item.FrameContentSequence = Sequence([fc])
            item.PlanePositionSlideSequence = Sequence([pp])
            per.append(item)
        ds.PerFrameFunctionalGroupsSequence = Sequence(per)

    if codec == "native":
        ds.add_new(0x7FE00010, "OB", b"".join(frames))
    else:
        # items have even lengths: a frame of odd length gets a 0 after
        # its EOI here, so that the offset tables count what is stored
        # (pydicom 2.3.1's encapsulate_extended() leaves that byte out of
        # its offsets)
        frames[:] = [f + b"\0" if len(f) % 2 else f for f in frames]
        # "split": each frame in two fragments, found by the Basic Offset
        # Table (PS3.5 A.4 allows a frame to span fragments)
        data = encapsulate(frames, fragments_per_frame=2 if offsets == "split" else 1,
                           has_bot=offsets in ("bot", "split"))
        if offsets == "eot":
            starts, pos = [], 0
            for f in frames:
                starts.append(pos)
                pos += 8 + len(f)
            ds.add_new(0x7FE00001, "OV", struct.pack("<%dQ" % len(frames), *starts))
            ds.add_new(0x7FE00002, "OV", struct.pack("<%dQ" % len(frames),
                                                     *(len(f) for f in frames)))
        ds.add_new(0x7FE00010, "OB", data)
        ds["PixelData"].is_undefined_length = True

    inst = Instance()
    inst.ds, inst.frames, inst.order, inst.expected = ds, frames, order, expected
    inst.codec, inst.offsets, inst.sparse, inst.kind = codec, offsets, sparse, kind
    inst.tile, inst.size, inst.grid = (tw, th), (w, h), (nx, ny)
    return inst


def save(inst, path):
    inst.path = path
    inst.ds.save_as(path, write_like_original=False)
    return inst


def write_wsi(path, arr, series, **kw):
    return save(build_wsi(arr, series, **kw), path)


def items(data):
    """The items of encapsulated pixel data: [(offset of the item tag, value)]."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        group, elem, length = struct.unpack_from("<HHI", data, pos)
        if (group, elem) == (0xFFFE, 0xE0DD):
            break
        need((group, elem) == (0xFFFE, 0xE000), "item tag (%04X,%04X) at %d" % (group, elem, pos))
        out.append((pos, data[pos + 8:pos + 8 + length]))
        pos += 8 + length
    return out


def verify(inst):
    """The instance as pydicom reads it back: its frames, offset tables
    and positions are the ones written, and decode to the expectation."""
    ds = pydicom.dcmread(inst.path)
    ts = str(ds.file_meta.TransferSyntaxUID)
    need(ts == CODECS[inst.codec][0], "transfer syntax %s" % ts)
    need(ds.SOPClassUID == WSI_SOP_CLASS, "SOP class %s" % ds.SOPClassUID)
    need(open(inst.path, "rb").read(132)[128:] == b"DICM", "no DICM at 128")
    n = int(ds.NumberOfFrames)
    need(n == len(inst.frames), "NumberOfFrames %d, %d frames written" % (n, len(inst.frames)))
    need((ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows) == inst.size, "matrix size")
    need(ds.ImageType[2] == inst.kind, "ImageType %s" % list(ds.ImageType))
    tw, th = inst.tile
    if inst.codec == "native":
        pa = ds.pixel_array.reshape(n, th, tw, 3)
        for i, f in enumerate(inst.frames):
            need(pa[i].tobytes() == f, "native frame %d differs" % i)
    else:
        its = items(ds.PixelData)
        bot, frags = its[0][1], its[1:]
        need(len(frags) == n, "%d fragments, %d frames" % (len(frags), n))
        starts = [p - frags[0][0] for p, _ in frags]
        if inst.offsets == "bot":
            need(list(struct.unpack("<%dI" % n, bot)) == starts, "Basic Offset Table")
        else:
            need(bot == b"", "the Basic Offset Table is not empty")
        if inst.offsets == "eot":
            eot = struct.unpack("<%dQ" % n, ds.ExtendedOffsetTable)
            lens = struct.unpack("<%dQ" % n, ds.ExtendedOffsetTableLengths)
            need(list(eot) == starts, "Extended Offset Table")
            need(list(lens) == [len(f) for f in inst.frames],
                 "Extended Offset Table Lengths %s" % (lens[:4],))
        else:
            need("ExtendedOffsetTable" not in ds, "an Extended Offset Table")
        got = list(generate_pixel_data_frame(ds.PixelData, n))
        for i, (g, f) in enumerate(zip(got, inst.frames)):
            need(g == f, "frame %d differs" % i)
    if inst.sparse:
        need(ds.DimensionOrganizationType == "TILED_SPARSE", "not TILED_SPARSE")
        for item, (tx, ty) in zip(ds.PerFrameFunctionalGroupsSequence, inst.order):
            pp = item.PlanePositionSlideSequence[0]
            need((pp.ColumnPositionInTotalImagePixelMatrix,
                  pp.RowPositionInTotalImagePixelMatrix) == (tx * tw + 1, ty * th + 1),
                 "per-frame position")
    else:
        need(ds.DimensionOrganizationType == "TILED_FULL", "not TILED_FULL")
        need("PerFrameFunctionalGroupsSequence" not in ds, "per-frame groups in TILED_FULL")
    # the expectation, rebuilt from the frames as read back
    nx, ny = inst.grid
    canvas = np.full((ny * th, nx * tw, 3), 255, np.uint8)
    frames = inst.frames if inst.codec == "native" else got
    for f, (tx, ty) in zip(frames, inst.order):
        canvas[ty * th:(ty + 1) * th, tx * tw:(tx + 1) * tw] = decode(f, inst.codec, th, tw)
    need(np.array_equal(canvas[:inst.size[1], :inst.size[0]], inst.expected),
         "frames read back do not rebuild the expected image")


DCIODVFY_SEEN = {}


def dciodvfy(path, label):
    """dciodvfy's errors and warnings about PATH, as diagnostics only."""
    exe = shutil.which("dciodvfy")
    if not exe:
        diag("dciodvfy %s: not installed" % label)
        return
    rc, out, err = run([exe, "-filename", path])
    lines = [l.strip() for l in (out + err).splitlines()
             if l.startswith(("Error", "Warning")) and "DICOMDIR" not in l]
    errors = [l for l in lines if l.startswith("Error")]
    diag("dciodvfy %s (%s): %d errors, %d warnings (DICOMDIR hints left out)"
         % (label, os.path.basename(path), len(errors), len(lines) - len(errors)))
    for l in lines:
        l = re.sub(r"\s+", " ", l)
        if l not in DCIODVFY_SEEN:
            DCIODVFY_SEEN[l] = label
            diag("  " + l)


# ------------------------------------------------ save format=dicom

SAVE_PHOTOMETRIC = {1: "MONOCHROME2", 2: "RGB", 6: "YBR_FULL_422"}   # TIFF's → DICOM's
UID_RE = re.compile(r"^2\.25\.(0|[1-9][0-9]*)$")
EMPTY_ATTRS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
               "ReferringPhysicianName", "AccessionNumber", "StudyID")


class TiffLevel:
    """A JPEG-tiled TIFF directory as stored: size, tile, photometric,
    JPEGTables, the raw tiles, mpp from its resolution tags (or None)."""


def tiff_levels(path, pages=None):
    out = []
    with tifffile.TiffFile(path) as tf, open(path, "rb") as fh:
        for i, p in enumerate(tf.pages):
            if pages is not None and i not in pages:
                continue
            need(p.is_tiled and int(p.compression) == 7,
                 "%s page %d: not JPEG-tiled (compression %s)" % (path, i, p.compression))
            lv = TiffLevel()
            lv.size, lv.tile = (p.imagewidth, p.imagelength), (p.tilewidth, p.tilelength)
            lv.photometric, lv.tables = int(p.photometric), p.jpegtables or b""
            lv.tiles = []
            for off, n in zip(p.dataoffsets, p.databytecounts):
                fh.seek(off)
                lv.tiles.append(fh.read(n))
            lv.mpp = None
            unit, xr, yr = (p.tags.get(t) for t in ("ResolutionUnit", "XResolution",
                                                     "YResolution"))
            if unit and xr and yr and int(unit.value) in (2, 3):
                per = 25400.0 if int(unit.value) == 2 else 10000.0   # µm per inch, cm
                lv.mpp = tuple(per * r.value[1] / r.value[0] for r in (xr, yr))
            out.append(lv)
    return out


def spliced(tables, tile):
    """A DICOM frame made of a TIFF tile: the JPEGTables without their EOI,
    the tile without its SOI, padded with one 0 to an even length."""
    f = tables[:-2] + tile[2:] if len(tables) > 4 else tile
    return f + b"\0" if len(f) % 2 else f


def need_frames(frames, tables, tiles, what):
    need(len(frames) == len(tiles), "%s: %d frames, %d tiles" % (what, len(frames), len(tiles)))
    for i, (f, t) in enumerate(zip(frames, tiles)):
        want = spliced(tables, t)
        if f == want:
            continue
        if len(tables) <= 4:
            raise Fail("%s: frame %d (%d bytes) is not the tile (%d bytes%s; no JPEGTables)"
                       % (what, i, len(f), len(t), ", and a 0" if len(t) % 2 else ""))
        pre = len(tables) - 2
        raise Fail("%s: frame %d is %d bytes, expected %d (the %d bytes of JPEGTables without "
                   "their EOI, the tile's %d without its SOI%s); the tables part %s, the tile "
                   "part %s" % (what, i, len(f), len(want), len(tables), len(t),
                                ", and a 0" if len(want) > pre + len(t) - 2 else "",
                                "matches" if f[:pre] == want[:pre] else "differs",
                                "matches" if f[pre:pre + len(t) - 2] == t[2:] else "differs"))


def jpeg_frame_header(frame):
    """(SOF marker, [(component id, h, v)]) of a JPEG stream."""
    need(frame[:2] == b"\xff\xd8", "no SOI")
    pos = 2
    while pos + 4 <= len(frame):
        need(frame[pos] == 0xFF, "no marker at byte %d" % pos)
        m = frame[pos + 1]
        if m == 0xFF:
            pos += 1
            continue
        n = struct.unpack_from(">H", frame, pos + 2)[0]
        if 0xC0 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC):
            nc = frame[pos + 9]
            return m, [(frame[pos + 10 + 3 * k], frame[pos + 11 + 3 * k] >> 4,
                        frame[pos + 11 + 3 * k] & 15) for k in range(nc)]
        need(m != 0xDA, "a scan before the frame header")
        pos += 2 + n
    raise Fail("no frame header")


def sampling_name(comps):
    if len(comps) == 1:
        return "grey"
    (h, v), rest = comps[0][1:], [c[1:] for c in comps[1:]]
    if rest != [(1, 1), (1, 1)]:
        return "sampling %s" % [c[1:] for c in comps]
    return {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0"}.get((h, v), "Y %d×%d" % (h, v))


def read_series(outdir):
    """The instances of a save format=dicom: [(name, ds, frames)], frames
    the items after the Basic Offset Table, which is checked."""
    names = os.listdir(outdir)
    want = ["level-%d.dcm" % i for i in range(len(names))]
    need(sorted(names) == sorted(want), "%s holds %s, expected level-0.dcm, level-1.dcm … "
         "and nothing else" % (outdir, sorted(names)))
    out = []
    for name in want:
        path = os.path.join(outdir, name)
        need(open(path, "rb").read(132)[128:] == b"DICM", "%s: no DICM at 128" % name)
        ds = pydicom.dcmread(path)
        its = items(ds.PixelData)
        need(len(its) >= 1, "%s: no Basic Offset Table item" % name)
        bot, frags = its[0][1], its[1:]
        n = int(ds.NumberOfFrames)
        need(len(frags) == n, "%s: NumberOfFrames %d, %d fragments (one a frame expected)"
             % (name, n, len(frags)))
        starts = [p - frags[0][0] for p, _ in frags] if frags else []
        need(len(bot) == 4 * n and list(struct.unpack("<%dI" % n, bot)) == starts,
             "%s: the Basic Offset Table (%d bytes) does not give the %d fragments' offsets"
             % (name, len(bot), n))
        out.append((name, ds, [f for _, f in frags]))
    return out


def need_instance(name, ds, frames, lv, lv0, mpp0):
    """What save format=dicom promises of an instance, against the level
    LV of the TIFF the same save writes (LV0 its level 0, MPP0 its mpp)."""
    ts = str(ds.file_meta.TransferSyntaxUID)
    need(ts == TS_JPEG, "%s: transfer syntax %s, expected JPEG baseline %s" % (name, ts, TS_JPEG))
    need(ds.SOPClassUID == WSI_SOP_CLASS and ds.file_meta.MediaStorageSOPClassUID ==
         WSI_SOP_CLASS, "%s: SOP class %s" % (name, ds.SOPClassUID))
    need(ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID,
         "%s: Media Storage SOP Instance UID is not the SOP Instance UID" % name)
    need(ds.get("DimensionOrganizationType") == "TILED_FULL" and
         "PerFrameFunctionalGroupsSequence" not in ds,
         "%s: DimensionOrganizationType %s" % (name, ds.get("DimensionOrganizationType")))
    need(list(ds.ImageType)[2:3] == ["VOLUME"], "%s: ImageType %s" % (name, list(ds.ImageType)))
    (w, h), (tw, th) = lv.size, lv.tile
    got = (ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows)
    need(got == (w, h), "%s: Total Pixel Matrix %d × %d, the TIFF's level %d × %d"
         % ((name,) + got + (w, h)))
    need((ds.Columns, ds.Rows) == (tw, th), "%s: Columns × Rows %d × %d, the TIFF's tiles "
         "%d × %d" % (name, ds.Columns, ds.Rows, tw, th))
    n = -(-w // tw) * -(-h // th)
    need(int(ds.NumberOfFrames) == n, "%s: NumberOfFrames %s, expected %d"
         % (name, ds.NumberOfFrames, n))
    spp = 1 if lv.photometric == 1 else 3
    need((ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit,
          ds.PixelRepresentation) == (spp, 8, 8, 7, 0),
         "%s: SamplesPerPixel %s, Bits %s/%s/%s, PixelRepresentation %s" % (
             name, ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit,
             ds.PixelRepresentation))
    want = SAVE_PHOTOMETRIC.get(lv.photometric, "?")
    need(ds.PhotometricInterpretation == want,
         "%s: PhotometricInterpretation %s, expected %s (the TIFF's tiles are photometric %d)"
         % (name, ds.PhotometricInterpretation, want, lv.photometric))
    ps = [float(v) for v in
          ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing]
    # row spacing (down) first: mpp × the level's downsample on that axis
    exp = [mpp0[1] * lv0.size[1] / h / 1000, mpp0[0] * lv0.size[0] / w / 1000]
    need(len(ps) == 2 and all(abs(g - e) <= 1e-9 * e for g, e in zip(ps, exp)),
         "%s: PixelSpacing %s, expected %s (mpp %g × %g × downsample %g × %g / 1000)"
         % (name, ps, exp, mpp0[0], mpp0[1], lv0.size[0] / w, lv0.size[1] / h))
    if lv.mpp:
        exp = [lv.mpp[1] / 1000, lv.mpp[0] / 1000]
        need(all(abs(g - e) <= 1e-6 * e for g, e in zip(ps, exp)),
             "%s: PixelSpacing %s, the TIFF level's resolution gives %s" % (name, ps, exp))
    for i, f in enumerate(frames):
        sof, comps = jpeg_frame_header(f)
        need(sof == 0xC0, "%s: frame %d is not baseline (SOF %02X)" % (name, i, sof))
        need(len(comps) == spp, "%s: frame %d has %d components" % (name, i, len(comps)))
    return "%s: %s, %d frames of %d × %d (%s), PixelSpacing %s mm" % (
        name, ds.PhotometricInterpretation, n, tw, th, sampling_name(jpeg_frame_header(
            frames[0])[1]), "/".join("%.6g" % v for v in ps))


def decode_frames(ds, frames):
    """The frames decoded by PIL and put together on the Total Pixel Matrix
    (an RGB instance's frames decoded as RGB: its components are not YCbCr)."""
    th, tw = ds.Rows, ds.Columns
    w, h = ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows
    nx, ny = -(-w // tw), -(-h // th)
    spp = int(ds.SamplesPerPixel)
    canvas = np.zeros((ny * th, nx * tw, spp), np.uint8)
    for i, f in enumerate(frames):
        im = Image.open(io.BytesIO(f))
        if ds.PhotometricInterpretation == "RGB":
            t = im.tile[0]   # libjpeg would take components 0, 1, 2 for YCbCr
            im.tile = [(t[0], t[1], t[2], ("RGB", "RGB"))]
        im.load()
        need(im.size == (tw, th) and im.mode == ("L" if spp == 1 else "RGB"),
             "frame %d decodes to %s %s" % (i, im.mode, im.size))
        a = np.asarray(im)
        ty, tx = divmod(i, nx)
        canvas[ty * th:(ty + 1) * th, tx * tw:(tx + 1) * tw] = a.reshape(th, tw, spp)
    return canvas[:h, :w]


def as3(a):
    return a[:, :, None] if a.ndim == 2 else a


def all_uids(ds):
    out = []
    for d in (ds.file_meta, ds):
        for e in d.iterall():
            if e.VR == "UI" and e.value:
                out.extend(str(v) for v in (e.value if e.VM > 1 else [e.value]))
    return out


def dciodvfy_lines(path):
    """dciodvfy's Error and Warning lines about PATH; None: not installed."""
    exe = shutil.which("dciodvfy")
    if not exe:
        return None
    rc, out, err = run([exe, "-filename", path])
    return [re.sub(r"\s+", " ", l.strip()) for l in (out + err).splitlines()
            if l.startswith(("Error", "Warning"))]


def save_dicom_tests(args, sp, d, slide, tiff):
    """slidepipe's own writer: save OUTDIR format=dicom against the TIFF
    the same arguments write, dciodvfy, PIL, read back by slidepipe; the
    refusals; an OUTDIR already there; the UIDs."""
    t0 = time.time()
    exe = args.slidepipe
    svs = os.path.join(args.shared, "slides", "CMU-1-Small-Region.svs") if args.shared else ""
    have_svs = bool(svs) and os.path.isfile(svs)
    secrets = []   # the SVS's identifying properties: none may reach a data set
    if have_svs:
        try:
            props = sp.info(svs)["props"]
        except Fail as e:
            props = {}
            diag("slidepipe info %s failed: %s" % (svs, e))
        secrets = [props[k] for k in ("aperio.Filename", "aperio.ImageID", "aperio.ScanScope ID",
                                      "aperio.Date", "aperio.Time", "aperio.User") if k in props]
    cases = [   # key, what, load's arguments, save's, the source copied, tiles, present
        ("a", "CMU-1-Small-Region.svs, default (JPEG Q 90, 256² tiles)", [svs], [],
         None, 256, have_svs),
        ("b", "the synthetic slide, compression=copy", [slide], ["compression=copy"],
         slide, 256, True),
        ("c", "the synthetic slide ! crop 333 211 2100 1500 ! downsample 2, Q=80 tile=128 "
         "(computed frames)", [slide, "!", "crop", 333, 211, 2100, 1500, "!", "downsample", 2],
         ["Q=80", "tile=128"], None, 128, True),
        ("d", "CMU-1-Small-Region.svs, compression=copy (Aperio's RGB JPEG tiles, 240²)",
         [svs], ["compression=copy"], svs, 240, have_svs),
        ("e", "the synthetic slide ! threshold, compression=jpeg (a 1-band mask)",
         [slide, "!", "threshold"], ["compression=jpeg"], None, 256, True),
    ]
    saves = {}
    for key, label, src, opts, copied, tile, present in cases:
        what = "save format=dicom (%s) %s" % (key, label)
        if not present:
            skip(what, "%s not found (--shared)" % (svs or "CMU-1-Small-Region.svs"))
            continue
        parent = os.path.join(d, "save-" + key)
        shutil.rmtree(parent, ignore_errors=True)
        os.makedirs(parent)
        outdir, xtif = os.path.join(parent, "D"), os.path.join(parent, "X.tif")
        s = {"label": label, "outdir": outdir}

        def saved(src=src, opts=opts, outdir=outdir, xtif=xtif, parent=parent, s=s):
            for out, fmt in ((outdir, ["format=dicom"]), (xtif, [])):
                cmd = [exe, "-q", "load"] + src + ["!", "save", out] + fmt + opts
                rc, _, err = run(cmd)
                need(rc == 0, "%s: exit %d: %s" % (" ".join(map(str, cmd[2:])), rc, err.strip()))
            left = sorted(set(os.listdir(parent)) - {"D", "X.tif"})
            need(not left, "left beside OUTDIR: %s" % ", ".join(left))
            s["x"] = tiff_levels(xtif)
            s["inst"] = read_series(outdir)
            need(len(s["inst"]) == len(s["x"]), "%d instances, X.tif has %d levels"
                 % (len(s["inst"]), len(s["x"])))
        if not check("%s: exits 0; OUTDIR holds level-0.dcm … level-N.dcm, one per level of "
                     "the TIFF that save X.tif %s writes (Basic Offset Table, one fragment a "
                     "frame); nothing left beside it" % (what, " ".join(opts) or "(no options)"),
                     saved):
            continue
        saves[key] = s
        inst, x = s["inst"], s["x"]
        tag = "save format=dicom (%s)" % key
        try:
            xinfo = sp.info(xtif)
        except Fail as e:   # the checks that use it fail
            xinfo = {"mpp": None, "levels": [], "text": str(e)}
        rows = []

        def attrs(inst=inst, x=x, xinfo=xinfo, rows=rows, tile=tile):
            need(xinfo["mpp"], "X.tif has no mpp")
            for lvl, (name, ds, frames) in enumerate(inst):
                need((ds.Columns, ds.Rows) == (tile, tile), "%s: Columns × Rows %d × %d, "
                     "expected %d × %d" % (name, ds.Columns, ds.Rows, tile, tile))
                rows.append(need_instance(name, ds, frames, x[lvl], x[0], xinfo["mpp"]))
        if check("%s: every instance: JPEG baseline, TILED_FULL, Columns × Rows = the tile "
                 "(%d), Total Pixel Matrix = the level, NumberOfFrames, PixelSpacing = mpp × "
                 "downsample / 1000, PhotometricInterpretation as the TIFF's tiles (%s)"
                 % (tag, tile, ", ".join(sorted(set(SAVE_PHOTOMETRIC.get(lv.photometric, "?")
                                                    for lv in x)))), attrs):
            for r in rows:
                diag("  " + r)
            if any("YBR_FULL_422" in r and "4:4:4" in r for r in rows):
                diag("  (%s) 4:4:4 frames are named YBR_FULL_422: the VL Whole Slide Microscopy "
                     "IOD (PS3.3 C.8.12.4.1.5) has no YBR_FULL, and dciodvfy rejects it" % key)

        found = {}

        def lint(inst=inst, outdir=outdir, found=found):
            for name, _, _ in inst:
                lines = dciodvfy_lines(os.path.join(outdir, name))
                if lines is None:
                    raise Fail("dciodvfy not installed")
                for l in lines:
                    found.setdefault(l, []).append(name)
            errors = [l for l in found if l.startswith("Error")]
            need(not errors, "%d distinct errors:\n%s" % (len(errors), "\n".join(
                "%s (%s)" % (l, ", ".join(found[l])) for l in errors)))
        if shutil.which("dciodvfy"):
            check("%s: dciodvfy reports no errors in any of the %d instances"
                  % (tag, len(inst)), lint)
            for l in found:
                if l.startswith("Warning"):
                    where = ", ".join(found[l]) if len(found[l]) < len(inst) else "every instance"
                    diag("  dciodvfy (%s): %s (%s)" % (key, l, where))
        else:
            skip("%s: dciodvfy" % tag, "dciodvfy not installed")

        def frames_x(inst=inst, x=x):
            for lvl, (name, _, frames) in enumerate(inst):
                need_frames(frames, x[lvl].tables, x[lvl].tiles, name)
        check("%s: every frame of every instance is X.tif's tile byte for byte (its "
              "JPEGTables spliced in front)" % tag, frames_x)

        copies = set()   # levels whose frames are the source's tiles
        if copied:
            src_levels = []

            def frames_src(inst=inst, src_levels=src_levels, x=x, copies=copies, copied=copied):
                src_levels += tiff_levels(copied, pages=[0] if copied.endswith(".svs") else None)
                need(x[0].tile == src_levels[0].tile, "the tiles are %d × %d, the source's "
                     "%d × %d" % (x[0].tile + src_levels[0].tile))
                need_frames(inst[0][2], src_levels[0].tables, src_levels[0].tiles,
                            "level-0.dcm (the source's level 0)")
                copies.add(0)
                for lvl in range(1, min(len(src_levels), len(inst))):
                    try:
                        need_frames(inst[lvl][2], src_levels[lvl].tables, src_levels[lvl].tiles,
                                    "")
                        copies.add(lvl)
                    except Fail:
                        pass
            if check("%s: compression=copy: the frames of level-0.dcm are the source's tiles "
                     "byte for byte (%d × %d, its JPEGTables spliced in front)"
                     % (tag, tile, tile), frames_src):
                diag("  (%s) levels whose frames are the source's tiles: %s; the others are "
                     "computed, as in X.tif" % (key, ", ".join(map(str, sorted(copies)))))

        xread = {}

        def xlevel(n, xtif=xtif, xread=xread):
            if n not in xread:
                xread[n] = sp.read(["load", xtif, "level=%d" % n])
            return xread[n]

        def decoded(inst=inst, xlevel=xlevel, key=key, copies=copies):
            for lvl, (name, ds, frames) in enumerate(inst):
                if key == "b" and lvl in copies:   # the source as slidepipe reads it
                    want, whence = tiff[lvl], "slidepipe load slide.tif level=%d" % lvl
                else:
                    want, whence = xlevel(lvl), "slidepipe load X.tif level=%d" % lvl
                compare(decode_frames(ds, frames), as3(want), "%s vs %s" % (name, whence))
        check("%s: the frames of every instance, decoded by PIL and put together, equal %s "
              "exactly" % (tag, "slidepipe load slide.tif level=N (the source) where they are "
                           "its tiles, else load X.tif level=N" if key == "b"
                           else "slidepipe load X.tif level=N"), decoded)

        for lvl in range(len(inst)):
            w, h = x[lvl].size
            check("%s: slidepipe load OUTDIR level=%d (%d × %d) equals load X.tif level=%d "
                  "exactly" % (tag, lvl, w, h, lvl),
                  lambda lvl=lvl, outdir=outdir, xlevel=xlevel: compare(
                      as3(sp.read(["load", outdir, "level=%d" % lvl])), as3(xlevel(lvl)),
                      "level %d" % lvl))

        def info_same(outdir=outdir, xinfo=xinfo):
            i = sp.info(outdir)
            got, want = i["levels"], xinfo["levels"]
            need(len(got) == len(want) and all(
                g[:2] == w_[:2] and g[3:] == w_[3:] and abs(g[2] - w_[2]) <= 1e-6 * w_[2]
                for g, w_ in zip(got, want)),
                "levels %s, X.tif's %s" % (got, want))
            need_mpp(i, xinfo["mpp"], "info OUTDIR")
        check("%s: info OUTDIR shows X.tif's levels (sizes, downsamples, tiles) and mpp"
              % tag, info_same)

        def anonymous(inst=inst, outdir=outdir, key=key):
            for name, ds, _ in inst:
                for a in EMPTY_ATTRS:
                    need(a in ds, "%s: %s absent" % (name, a))
                    need(str(ds.data_element(a).value or "") == "",
                         "%s: %s = %r" % (name, a, str(ds.data_element(a).value)))
                raw = open(os.path.join(outdir, name), "rb").read()
                head = raw[:raw.find(b"\xe0\x7f\x10\x00OB")]
                for secret in secrets + [os.path.basename(svs), "slide.tif"]:
                    need(secret.encode() not in head, "%s: the data set holds %r, from the "
                         "source" % (name, secret))
        check("%s: nothing identifying: %s present and empty; none of the source's %s in "
              "the data sets" % (tag, ", ".join(EMPTY_ATTRS), "name and identifying "
                                 "properties (aperio.Filename, ImageID, ScanScope ID, Date, "
                                 "Time, User)" if key in "ad" else "name"), anonymous)

    # ------------------------------------------------------------ UIDs
    again = os.path.join(d, "save-b", "D2")

    def uids_one():
        need(saves, "no save to look at")
        for key, s in saves.items():
            dss = [ds for _, ds, _ in s["inst"]]
            for attr in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
                vals = set(str(ds.get(attr)) for ds in dss)
                need(len(vals) == 1, "(%s): %s differs between the instances: %s"
                     % (key, attr, sorted(vals)))
            sops = [str(ds.SOPInstanceUID) for ds in dss]
            need(len(set(sops)) == len(sops), "(%s): SOP Instance UIDs repeat: %s" % (key, sops))
            for ds in dss:
                for u in all_uids(ds):
                    if u.startswith("1.2.840.10008."):   # SOP class, transfer syntax
                        continue
                    need(UID_RE.match(u) and len(u) <= 64 and int(u[5:]) < 2 ** 128,
                         "(%s): UID %r (%d characters) is not 2.25. and a 128-bit integer "
                         "of at most 64 characters" % (key, u, len(u)))
    check("UIDs: in each save, Study, Series and Frame of Reference UIDs are the same in "
          "every instance, SOP Instance UIDs all differ, and every UID written is "
          "^2.25.[0-9]+$ (no leading zero, below 2^128), at most 64 characters", uids_one)

    def uids_two():
        cmd = [exe, "-q", "load", slide, "!", "save", again, "format=dicom", "compression=copy"]
        rc, _, err = run(cmd)
        need(rc == 0, "exit %d: %s" % (rc, err.strip()))
        b2 = [ds for _, ds, _ in read_series(again)]
        series = {"b again": str(b2[0].SeriesInstanceUID)}
        studies = {"b again": str(b2[0].StudyInstanceUID)}
        sops = set(str(ds.SOPInstanceUID) for ds in b2)
        for key, s in saves.items():
            ds = s["inst"][0][1]
            series[key], studies[key] = str(ds.SeriesInstanceUID), str(ds.StudyInstanceUID)
            for _, ds, _ in s["inst"]:
                need(str(ds.SOPInstanceUID) not in sops, "(%s): SOP Instance UID %s also in "
                     "another save" % (key, ds.SOPInstanceUID))
                sops.add(str(ds.SOPInstanceUID))
        need(len(set(series.values())) == len(series), "Series Instance UIDs: %s" % series)
        need(len(set(studies.values())) == len(studies), "Study Instance UIDs: %s" % studies)
    check("UIDs: the same save (b) run twice gets another Series and Study Instance UID; no "
          "Series, Study or SOP Instance UID is shared between saves", uids_two)

    # -------------------------------------------------------- refusals
    inputs = os.path.join(d, "save-inputs")
    shutil.rmtree(inputs, ignore_errors=True)
    os.makedirs(inputs)
    u16 = os.path.join(inputs, "u16.tif")
    tifffile.imwrite(u16, (np.arange(300 * 400, dtype=np.uint32).reshape(300, 400) * 97 %
                           65536).astype(np.uint16), tile=(256, 256),
                     resolution=(40000, 40000), resolutionunit="CENTIMETER")
    planes = os.path.join(inputs, "planes.ome.tif")
    tifffile.imwrite(planes, np.broadcast_to(np.arange(300, dtype=np.uint8),
                                             (2, 3, 200, 300)).copy(), ome=True,
                     metadata={"axes": "CZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
    png = os.path.join(inputs, "nopp.png")
    Image.fromarray(np.ascontiguousarray(tiff[0][:300, :400])).save(png)   # no pHYs
    refusals = [
        ("a 1-band mask, no compression= (load ! threshold ! save)",
         [slide, "!", "threshold"], []),
        ("a 1-band mask, compression=auto", [slide, "!", "threshold"], ["compression=auto"]),
        ("compression=lzw", [slide], ["compression=lzw"]),
        ("a 16-bit image (uint16 TIFF with mpp)", [u16], []),
        ("a 16-bit image, compression=jpeg", [u16], ["compression=jpeg"]),
        ("a multi-plane pipeline (OME-TIFF, C 2 × Z 3, with mpp)", [planes], []),
        ("an image without mpp (a PNG without pHYs, written by PIL)", [png], []),
    ]
    for i, (label, src, opts) in enumerate(refusals):
        parent = os.path.join(d, "refuse-%d" % i)
        shutil.rmtree(parent, ignore_errors=True)
        os.makedirs(parent)
        outdir = os.path.join(parent, "D")
        said = []

        def refused(src=src, opts=opts, parent=parent, outdir=outdir, said=said):
            cmd = [exe, "-q", "load"] + src + ["!", "save", outdir, "format=dicom"] + opts
            rc, _, err = run(cmd)
            need(rc == 2, "exit %d, expected 2; stderr: %s" % (rc, err.strip()))
            need(re.search(r"\bsave\b", err) and outdir in err,
                 "stderr does not name save and %s:\n%s" % (outdir, err.strip()))
            left = os.listdir(parent)
            need(not left, "left in OUTDIR's directory: %s" % ", ".join(sorted(left)))
            said.append("  " + err.strip().replace(parent + "/", ""))
        if check("refused: %s: exit 2, stderr names save and OUTDIR, nothing created (no OUTDIR, "
                 "no .sp-* temporary)" % label, refused):
            diag("\n".join(said))

    # --------------------------------------------- OUTDIR already there
    small = [slide, "!", "crop", 0, 0, 512, 512]
    parent = os.path.join(d, "exists")
    shutil.rmtree(parent, ignore_errors=True)
    os.makedirs(parent)

    def state(path):
        out = {}
        for root, dirs, files in os.walk(path):
            for f in files + dirs:
                p = os.path.join(root, f)
                st = os.lstat(p)
                out[os.path.relpath(p, path)] = (st.st_mode, st.st_size, st.st_mtime_ns,
                                                  open(p, "rb").read() if os.path.isfile(p)
                                                  else None)
        return out

    said = []

    def nonempty():
        outdir = os.path.join(parent, "full")
        os.makedirs(os.path.join(outdir, "sub"))
        for name, data in (("keep.txt", b"not slidepipe's\n"), ("level-0.dcm", b"not DICOM"),
                           ("sub/x", b"x")):
            with open(os.path.join(outdir, name), "wb") as f:
                f.write(data)
        before, around = state(outdir), sorted(os.listdir(parent))
        rc, _, err = run([exe, "-q", "load"] + small + ["!", "save", outdir, "format=dicom"])
        need(rc != 0, "exit 0")
        need(0 < rc < 128, "exit %d" % rc)
        need(outdir in err, "stderr does not name %s:\n%s" % (outdir, err.strip()))
        need(state(outdir) == before, "its content changed: %s" % sorted(state(outdir)))
        need(sorted(os.listdir(parent)) == around, "beside it: %s" % sorted(os.listdir(parent)))
        said.append("  exit %d: %s" % (rc, err.strip().replace(parent + "/", "")))
    if check("OUTDIR exists and is not empty (keep.txt, level-0.dcm, sub/x): exit non-zero, "
             "names it, its content untouched (names, sizes, times, bytes), nothing left "
             "beside it", nonempty):
        diag(said.pop())

    def empty():
        outdir = os.path.join(parent, "empty")
        os.makedirs(outdir)
        rc, _, err = run([exe, "-q", "load"] + small + ["!", "save", outdir, "format=dicom"])
        need(rc == 2, "exit %d, expected 2 (refused when planning): %s" % (rc, err.strip()))
        need(outdir in err, "stderr does not name %s:\n%s" % (outdir, err.strip()))
        need(os.path.isdir(outdir) and not os.listdir(outdir), "it changed")
        hidden = [n for n in os.listdir(parent) if n.startswith(".")]
        need(not hidden, "left beside it: %s" % ", ".join(hidden))
    check("OUTDIR exists and is empty: refused before any work (exit 2), left as it was, "
          "nothing beside it", empty)

    def a_file():
        out = os.path.join(parent, "file")
        with open(out, "wb") as f:
            f.write(b"a file, not a directory\n")
        before = state(parent)
        rc, _, err = run([exe, "-q", "load"] + small + ["!", "save", out, "format=dicom"])
        need(rc == 2, "exit %d, expected 2 (refused when planning)" % rc)
        need(state(parent) == before, "changed: %s" % sorted(set(state(parent)) ^ set(before)))
        said.append("  exit %d: %s" % (rc, err.strip().replace(parent + "/", "")))
    if check("OUTDIR is a regular file: exit non-zero, the file untouched, nothing left beside "
             "it", a_file):
        diag(said.pop())

    # a series slidepipe wrote is replaced in one step, as a TIFF is;
    # anything else at OUTDIR is left alone
    def sop(path):
        return str(pydicom.dcmread(os.path.join(path, "level-0.dcm"),
                                   stop_before_pixels=True).SOPInstanceUID)

    def replaced():
        outdir = os.path.join(parent, "again")
        rc, _, err = run([exe, "-q", "load"] + small + ["!", "save", outdir, "format=dicom"])
        need(rc == 0, "first save: exit %d: %s" % (rc, err.strip()))
        first = sop(outdir)
        around = sorted(os.listdir(parent))
        rc, _, err = run([exe, "-q", "load"] + small + ["!", "crop", 0, 0, 300, 200, "!", "save",
                                                      outdir, "format=dicom"])
        need(rc == 0, "second save: exit %d: %s" % (rc, err.strip()))
        ds = pydicom.dcmread(os.path.join(outdir, "level-0.dcm"), stop_before_pixels=True)
        need((ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows) == (300, 200),
             "level 0 is %d × %d, not the second save's 300 × 200"
             % (ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows))
        need(sop(outdir) != first, "the same SOPInstanceUID: not replaced")
        need(sorted(os.listdir(parent)) == around, "beside it: %s"
             % sorted(set(os.listdir(parent)) ^ set(around)))
        names = sorted(os.listdir(outdir))
        need(all(re.fullmatch(r"level-\d+\.dcm", n) for n in names) and
             len(names) == len(read_series(outdir)), "it holds %s" % names)
    check("OUTDIR is a series slidepipe wrote: a second save replaces it whole (the new level "
          "0's size and SOPInstanceUID, no file of the first left), nothing beside it",
          replaced)

    def not_replaced(kind):
        def fn():
            outdir = os.path.join(parent, "kept-" + kind)
            rc, _, err = run([exe, "-q", "load"] + small + ["!", "save", outdir,
                                                          "format=dicom"])
            need(rc == 0, "first save: exit %d: %s" % (rc, err.strip()))
            target = outdir
            if kind == "extra":
                with open(os.path.join(outdir, "notes.txt"), "w") as f:
                    f.write("the user's\n")
            elif kind == "link":
                target = os.path.join(parent, "link-to-series")
                os.symlink(outdir, target)
            elif kind == "not-dicom":
                with open(os.path.join(outdir, "level-0.dcm"), "r+b") as f:
                    f.seek(128)
                    f.write(b"NOPE")
            before, around = state(outdir), sorted(os.listdir(parent))
            rc, _, err = run([exe, "-q", "load"] + small + ["!", "save", target,
                                                          "format=dicom"])
            need(rc == 2, "exit %d, expected 2 (refused when planning): %s" % (rc, err.strip()))
            need("is not a DICOM series slidepipe wrote" in err, "stderr:\n%s" % err.strip())
            need(state(outdir) == before, "its content changed")
            need(sorted(os.listdir(parent)) == around, "beside it: %s"
                 % sorted(set(os.listdir(parent)) ^ set(around)))
            if kind == "link":
                need(os.readlink(target) == outdir, "the link changed")
        return fn
    def stale():
        # what a save killed by SIGKILL leaves: its unlocked temporary file
        # and its temporary series directory, files of any name in it
        sdir = os.path.join(d, "stale")
        shutil.rmtree(sdir, ignore_errors=True)
        os.makedirs(sdir)
        tmp = os.path.join(sdir, ".sp-Ab12Cd.sp-tmp")
        open(tmp, "wb").close()
        os.makedirs(tmp + ".d")
        for name in ("level-0.dcm", "level-12.dcm", "label.dcm", "notes.txt", ".hidden"):
            with open(os.path.join(tmp + ".d", name), "wb") as f:
                f.write(b"x")
        out = os.path.join(sdir, "series")
        rc, _, err = run([exe, "-q", "load"] + small + ["!", "save", out, "format=dicom"])
        need(rc == 0, "exit %d: %s" % (rc, err.strip()))
        need(sorted(os.listdir(sdir)) == ["series"], "left: %s" % sorted(os.listdir(sdir)))
    check("a killed save's leftovers (its unlocked temporary file, its temporary series "
          "directory with 5 files of any name): the next save there removes both", stale)

    def input_inside():
        outdir = os.path.join(parent, "read-from")
        rc, _, err = run([exe, "-q", "load"] + small + ["!", "save", outdir, "format=dicom"])
        need(rc == 0, "first save: exit %d: %s" % (rc, err.strip()))
        before = state(outdir)
        for src in (outdir, os.path.join(outdir, "level-1.dcm")):
            rc, _, err = run([exe, "-q", "load", src, "!", "save", outdir, "format=dicom"])
            need(rc == 2 and "source and destination must be different" in err,
                 "load %s: exit %d: %s" % (src, rc, err.strip()))
        need(state(outdir) == before, "its content changed")
    check("load SERIES (its directory, or a file in it) ! save SERIES format=dicom: refused "
          "when planning (source and destination), the series untouched", input_inside)

    for kind, what in (("extra", "a series with a file of the user's added (notes.txt)"),
                       ("link", "a symbolic link to a series"),
                       ("not-dicom", "a series whose level-0.dcm is no longer DICOM")):
        check("OUTDIR is %s: refused when planning (exit 2, 'is not a DICOM series slidepipe "
              "wrote'), untouched" % what, not_replaced(kind))

    # ------------------------------------------------------ dicom-meta=
    # the attributes a meta file gives reach every instance, read back by
    # pydicom; dciodvfy finds no error; bad files are refused up front
    meta = {"PatientName": "Doe^Jane", "PatientID": "P-0042", "PatientBirthDate": "19700101",
            "PatientSex": "F", "ReferringPhysicianName": "House^Greg",
            "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1", "StudyID": "S1",
            "AccessionNumber": "A-7", "StudyDescription": "Breast core biopsy, ü",
            "ContainerIdentifier": "SLIDE-9", "SpecimenIdentifier": "SPEC-3"}
    mdir = os.path.join(d, "meta")
    shutil.rmtree(mdir, ignore_errors=True)
    os.makedirs(mdir)
    mfile = os.path.join(mdir, "meta.json")
    with open(mfile, "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False)

    def with_meta():
        out = os.path.join(mdir, "series")
        rc, _, err = run([exe, "-q", "load"] + small + ["!", "save", out, "format=dicom",
                                                      "dicom-meta=" + mfile])
        need(rc == 0, "exit %d: %s" % (rc, err.strip()))
        names = sorted(n for n in os.listdir(out) if n.endswith(".dcm"))
        need(len(names) == 2, "instances: %s" % names)
        for n in names:
            ds = pydicom.dcmread(os.path.join(out, n))
            got = {k: str(ds.get(k, "")) for k in meta
                   if k not in ("ContainerIdentifier", "SpecimenIdentifier")}
            got["ContainerIdentifier"] = str(ds.ContainerIdentifier)
            got["SpecimenIdentifier"] = str(ds.SpecimenDescriptionSequence[0].SpecimenIdentifier)
            need(got == meta, "%s: %s" % (n, {k: v for k, v in got.items() if meta[k] != v}))
            lines = dciodvfy_lines(os.path.join(out, n))
            if lines is not None:
                errors = [l for l in lines if l.startswith("Error")]
                need(not errors, "%s: dciodvfy: %s" % (n, "; ".join(errors)))
    check("dicom-meta=: its 11 attributes on every instance (pydicom), dciodvfy no errors",
          with_meta)
    bad_meta = [
        ('{"PatientSex": "X"}', "PatientSex 'X' is not M, F or O"),
        ('{"PatientBirthDate": "19701301"}', "is not a date YYYYMMDD"),
        ('{"Patientname": "a"}', "'Patientname' is not an attribute slidepipe writes"),
        ('{"StudyInstanceUID": "1.02.3"}', "is not a UID"),
        ('{"PatientID": 5}', "PatientID is not a string"),
        ('{"StudyID": "12345678901234567"}', "StudyID '12345678901234567' is too long"),
        ('[1]', "is not a JSON object"),
        ('{"PatientID": "a', "bad-meta.json.*Parse error"),
    ]
    for i, (text, pattern) in enumerate(bad_meta):
        def bad(text=text, pattern=pattern):
            path = os.path.join(mdir, "bad-meta.json")
            with open(path, "w") as f:
                f.write(text)
            out = os.path.join(mdir, "bad-%d" % i)
            rc, _, err = run([exe, "-q", "load"] + small + ["!", "save", out, "format=dicom",
                                                          "dicom-meta=" + path])
            need(rc == 1, "exit %d, expected 1: %s" % (rc, err.strip()))
            need(re.search("^slidepipe: save: dicom-meta: .*" + pattern, err, re.M),
                 "stderr does not say %r:\n%s" % (pattern, err.strip()))
            need(not os.path.exists(out), "%s was made" % out)
            hidden = [n for n in os.listdir(mdir) if n.startswith(".")]
            need(not hidden, "left: %s" % hidden)
        check("dicom-meta= %s: exit 1, says why, nothing made" % text, bad)

    # ------------------------------------------- label and overview
    # only with associated=keep (a label names the patient): from the
    # JPEG pyramid written above (a native LABEL, a JPEG OVERVIEW)
    jpeg_dir = os.path.join(d, "jpeg")

    def labels_kept():
        out = os.path.join(mdir, "with-label")
        rc, _, err = run([exe, "-q", "load", jpeg_dir, "!", "save", out, "format=dicom",
                          "associated=keep"])
        need(rc == 0, "exit %d: %s" % (rc, err.strip()))
        names = sorted(os.listdir(out))
        need("label.dcm" in names and "overview.dcm" in names, "files: %s" % names)
        for n, kind in (("label.dcm", "LABEL"), ("overview.dcm", "OVERVIEW")):
            ds = pydicom.dcmread(os.path.join(out, n))
            need(list(ds.ImageType)[2] == kind, "%s: ImageType %s" % (n, list(ds.ImageType)))
            need(ds.BurnedInAnnotation == "YES", "%s: BurnedInAnnotation %s"
                 % (n, ds.BurnedInAnnotation))
            lines = dciodvfy_lines(os.path.join(out, n))
            if lines is not None:
                errors = [l for l in lines if l.startswith("Error")]
                need(not errors, "%s: dciodvfy: %s" % (n, "; ".join(errors)))
        for name in ("label", "macro"):
            got = sp.read(["load", out, "associated=" + name])
            want = sp.read(["load", jpeg_dir, "associated=" + name])
            need(got.shape == want.shape, "%s: %s, expected %s" % (name, got.shape, want.shape))
            diff = np.abs(got.astype(int) - want.astype(int))
            # re-encoded at JPEG Q 90: close, not equal
            need(diff.mean() < 2 and diff.max() <= 48, "%s: mean difference %.2f, max %d"
                 % (name, diff.mean(), diff.max()))
    check("associated=keep: label.dcm and overview.dcm (LABEL, OVERVIEW, burned-in "
          "annotation YES), dciodvfy no errors, their pixels the source's within JPEG Q 90",
          labels_kept)

    def labels_dropped():
        out = os.path.join(mdir, "no-label")
        rc, _, err = run([exe, "-q", "load", jpeg_dir, "!", "save", out, "format=dicom"])
        need(rc == 0, "exit %d: %s" % (rc, err.strip()))
        names = sorted(os.listdir(out))
        need(all(n.startswith("level-") for n in names), "files: %s" % names)
    check("by default no label or overview instance (the label is identifying)", labels_dropped)

    def batch_resume():
        bdir = os.path.join(mdir, "batch")
        man = os.path.join(mdir, "batch.csv")
        with open(man, "w") as f:
            f.write("slide,x,y,out\n%s,0,0,a\n%s,256,256,sub/b\n" % (slide, slide))
        tpl = "load {slide} ! crop {x} {y} 1024 1024 ! save {out} format=dicom"
        rc, _, err = run([exe, "batch", man, "--out-dir", bdir, "--pipeline", tpl,
                          "--no-progress"])
        need(rc == 0 and "2 ok" in err, "first run: exit %d: %s" % (rc, err.strip()))
        need(os.path.isfile(os.path.join(bdir, "sub", "b", "level-0.dcm")), "no sub/b series")
        rc, _, err = run([exe, "batch", man, "--out-dir", bdir, "--pipeline", tpl,
                          "--no-progress"])
        need(rc == 0 and "0 ok, 2 skipped" in err, "rerun: exit %d: %s" % (rc, err.strip()))
        uids = [sop(os.path.join(bdir, o)) for o in ("a", "sub/b")]
        rc, _, err = run([exe, "batch", man, "--out-dir", bdir, "--pipeline", tpl,
                          "--no-progress", "--force"])
        need(rc == 0 and "2 ok" in err, "rerun with --force: exit %d: %s" % (rc, err.strip()))
        for o, u in zip(("a", "sub/b"), uids):
            need(sop(os.path.join(bdir, o)) != u, "--force: %s was not replaced" % o)
            read_series(os.path.join(bdir, o))
        left = [n for n in os.listdir(bdir) + os.listdir(os.path.join(bdir, "sub"))
                if n.startswith(".")]
        need(not left, "--force left %s" % left)
    check("batch with save format=dicom: two series; a rerun skips both (a series appears "
          "whole); a rerun with --force replaces both (new SOPInstanceUIDs, nothing left "
          "beside)", batch_resume)

    def meta_without_dicom():
        rc, _, err = run([exe, "-q", "load"] + small + ["!", "save",
                                                      os.path.join(mdir, "x.tif"),
                                                      "dicom-meta=" + mfile])
        need(rc == 2 and "applies to format=dicom only" in err, "exit %d: %s" % (rc, err))
    check("dicom-meta= without format=dicom: exit 2", meta_without_dicom)

    diag("save format=dicom checks: %.1f s" % (time.time() - t0))


# ------------------------------------------- compression=copy from DICOM

def tiff_tiles_at(lv, tx, ty):
    """The raw tile (tx, ty) of a TiffLevel."""
    across = -(-lv.size[0] // lv.tile[0])
    return lv.tiles[ty * across + tx]


def need_recut(got, want, sx, sy, what):
    """A re-cut level (output pixel (0, 0) at (SX, SY) of the source
    level): equal to the source's pixels but within 2 pixels of a tile
    edge, the output's or the source's, where 4:2:x chroma upsampling
    sees other neighbours than when each tile was decoded alone
    (jpegtran -crop does the same)."""
    need(got.shape == want.shape, "%s: %s, expected %s" % (what, got.shape, want.shape))
    inner = np.ones(got.shape[:2], bool)
    for axis, off in ((1, sx), (0, sy)):
        n = got.shape[axis]
        edges = set(range(0, n + 1, TILE)) | set(range(-(off % TILE), n + 1, TILE))
        for e in edges:
            sl = slice(max(0, e - 2), max(0, e + 2))
            if axis == 1:
                inner[:, sl] = False
            else:
                inner[sl, :] = False
    diff = np.abs(got.astype(int) - want.astype(int)).max(axis=2)
    need(inner.any() and diff[inner].max() == 0,
         "%s: %d pixels away from tile edges differ, max %d"
         % (what, int((diff[inner] > 0).sum()), int(diff[inner].max()) if inner.any() else -1))


def copy_from_dicom_tests(args, sp, d, ctx):
    """save compression=copy|auto from a DICOM series: the frames become
    the TIFF's tiles (or another series' frames) byte for byte, re-cut in
    the DCT domain off the tile grid, and what cannot be copied (JPEG
    2000, a sparse series with tiles missing, frames in several
    fragments) is refused by copy with the reason and decoded by auto."""
    exe = args.slidepipe
    jdir, jpeg, sizes = ctx["jdir"], ctx["jpeg"], ctx["sizes"]
    cdir = os.path.join(d, "copy-from-dicom")
    shutil.rmtree(cdir, ignore_errors=True)
    os.makedirs(cdir)

    def sp_run(argv):
        rc, o, e = run([exe] + argv)
        return rc, o, e

    def saved(argv, out):
        rc, o, e = sp_run(argv)
        need(rc == 0, "slidepipe %s: exit %d: %s" % (" ".join(map(str, argv)), rc, e.strip()))
        need(os.path.exists(out), "%s not written" % out)
        return e

    if not jpeg:
        skip("compression=copy from a DICOM series", "the JPEG pyramid was not written")
        return
    frames = [inst.frames for inst in jpeg[:LEVELS]]
    grid = [inst.grid for inst in jpeg[:LEVELS]]

    # ---- DICOM → TIFF, every level
    t_all = os.path.join(cdir, "all.tif")

    def to_tiff():
        err = saved(["load", jdir, "!", "save", t_all, "compression=copy"], t_all)
        need("copied 3 levels" in err, "the report does not say 3 levels were copied:\n%s"
             % err.strip())
        lv = tiff_levels(t_all)
        need(len(lv) >= LEVELS, "%d levels" % len(lv))
        for n in range(LEVELS):
            need(lv[n].size == sizes[n], "level %d: %s, expected %s" % (n, lv[n].size, sizes[n]))
            need(lv[n].tables == b"", "level %d has JPEGTables; the frames carry their own" % n)
            need(lv[n].photometric == 6, "level %d: photometric %d, expected YCbCr (6) as the "
                 "frames' YBR_FULL_422" % (n, lv[n].photometric))
            need(lv[n].tiles == frames[n], "level %d: the tiles are not the frames byte for "
                 "byte (%d tiles, %d frames; first different: %s)"
                 % (n, len(lv[n].tiles), len(frames[n]),
                    next((i for i, (a, b) in enumerate(zip(lv[n].tiles, frames[n]))
                          if a != b), None)))
        with tifffile.TiffFile(t_all) as tf:
            ss = tf.pages[0].tags.get("YCbCrSubSampling")
            want = tuple(jpeg_frame_header(frames[0][0])[1][0][1:])
            need(ss is not None and tuple(ss.value) == want,
                 "YCbCrSubSampling %s, the frames' luma sampling %s"
                 % (ss.value if ss else None, want))
    ok_all = check("copy from DICOM: load DIR ! save out.tif compression=copy: levels 0–2 are "
                   "the series' frames byte for byte (no JPEGTables, YCbCr with the frames' "
                   "sampling); the report says 3 levels were copied", to_tiff)
    if ok_all:
        for n in range(LEVELS):
            check("copy from DICOM → TIFF, level %d: slidepipe reads the TIFF's level as the "
                  "DICOM level, exactly" % n,
                  lambda n=n: compare(sp.read(["load", t_all, "level=%d" % n]),
                                      sp.read(["load", jdir, "level=%d" % n]),
                                      "TIFF level %d" % n))
        def same_png():
            a, b = os.path.join(cdir, "from-dicom.png"), os.path.join(cdir, "from-tiff.png")
            for src, out in ((jdir, a), (t_all, b)):
                saved(["load", src, "!", "crop", 700, 500, 900, 650, "!", "save", out], out)
            need(open(a, "rb").read() == open(b, "rb").read(),
                 "the PNG files differ (%d and %d bytes): pixels, or metadata such as an "
                 "ICC profile one source attaches and the other does not"
                 % (os.path.getsize(a), os.path.getsize(b)))
        check("copy from DICOM → TIFF: the same crop saved as PNG from the series and from the "
              "TIFF gives the same file byte for byte (pixels and metadata)", same_png)
        try:
            import openslide
        except ImportError:
            openslide = None
        if openslide:
            def by_openslide():
                s = openslide.OpenSlide(t_all)
                need(s.level_count >= LEVELS and list(s.level_dimensions[:LEVELS]) == sizes,
                     "OpenSlide: %d levels %s, expected %s"
                     % (s.level_count, s.level_dimensions, sizes))
                for n in range(LEVELS):
                    w, h = sizes[n]
                    a = np.asarray(s.read_region((0, 0), n, (w, h)))[..., :3]
                    compare(a, jpeg[n].expected, "OpenSlide level %d" % n, jpeg=True)
            check("copy from DICOM → TIFF: OpenSlide opens it with the 3 levels and reads each "
                  "as PIL decodes the frames (≤ 2, libjpeg settings)", by_openslide)
        else:
            skip("copy from DICOM → TIFF read by OpenSlide", "python3-openslide not installed")

    # ---- DICOM → DICOM
    d_all = os.path.join(cdir, "series")

    def to_dicom():
        err = saved(["load", jdir, "!", "save", d_all, "format=dicom", "compression=copy"],
                    d_all)
        need("copied 3 levels" in err, "the report:\n%s" % err.strip())
        series = read_series(d_all)
        need(len(series) >= LEVELS, "%d instances" % len(series))
        for n in range(LEVELS):
            name, ds, fr = series[n]
            need(fr == frames[n], "%s: its frames are not the source's byte for byte" % name)
            need(ds.PhotometricInterpretation == "YBR_FULL_422",
                 "%s: %s" % (name, ds.PhotometricInterpretation))
            need((ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows) == sizes[n],
                 "%s: matrix %d × %d" % (name, ds.TotalPixelMatrixColumns,
                                          ds.TotalPixelMatrixRows))
            need(ds.SeriesInstanceUID != jpeg[0].ds.SeriesInstanceUID,
                 "the source's SeriesInstanceUID was kept")
    if check("copy from DICOM: load DIR ! save OUT format=dicom compression=copy: levels 0–2 "
             "are the source's frames byte for byte, in a new series", to_dicom):
        for name in ("level-0.dcm", "level-3.dcm"):
            p = os.path.join(d_all, name)
            if not shutil.which("dciodvfy"):
                skip("copy from DICOM → DICOM: dciodvfy on %s" % name, "dciodvfy not installed")
            elif os.path.exists(p):
                check("copy from DICOM → DICOM: dciodvfy reports no errors on %s" % name,
                      lambda p=p: need(not [l for l in dciodvfy_lines(p)
                                            if l.startswith("Error")],
                                       "\n".join(dciodvfy_lines(p))))

    # ---- a crop on the tile grid: level 0 copied, level 1 re-cut
    x, y, w, h = 512, 256, 1024, 768

    def crop_grid():
        out = os.path.join(cdir, "crop.tif")
        saved(["load", jdir, "!", "crop", x, y, w, h, "!", "save", out, "compression=copy"], out)
        lv = tiff_levels(out)
        need(lv[0].size == (w, h), "level 0 %s" % (lv[0].size,))
        nx = grid[0][0]
        for ty in range(h // TILE):
            for tx in range(w // TILE):
                src = frames[0][(y // TILE + ty) * nx + x // TILE + tx]
                need(tiff_tiles_at(lv[0], tx, ty) == src,
                     "level 0 tile %d, %d is not frame %d, %d of the source"
                     % (tx, ty, x // TILE + tx, y // TILE + ty))
        # level 1 starts at 256, 128 of the source's level 1: off its tile
        # grid, on the MCU grid: re-cut, pixels equal but for a pixel at
        # the new tiles' edges (chroma upsampling)
        got = sp.read(["load", out, "level=1"])
        # crop takes level-0 pixels
        want = sp.read(["load", jdir, "level=1", "!", "crop", x, y, w, h])
        need_recut(got, want, x // 2, y // 2, "level 1 (re-cut)")
    check("copy from DICOM: crop %d %d %d %d (on the 256² tile grid) ! save compression=copy: "
          "level 0's tiles are the source frames, level 1 (off its grid) re-cut from the "
          "frames' DCT coefficients equals the source but at the new tile edges"
          % (x, y, w, h), crop_grid)

    # ---- off the grid: copy refuses, auto re-cuts
    ox, oy = 528, 272

    def off_grid_copy():
        out = os.path.join(cdir, "off.tif")
        rc, _, err = sp_run(["load", jdir, "!", "crop", ox, oy, 512, 512, "!", "save", out,
                             "compression=copy"])
        need(rc != 0 and not os.path.exists(out), "exit %d, %s" % (rc, os.path.exists(out)))
        need("tile grid" in err and "512,256" in err,
             "the error does not name the tile grid and the nearest origin:\n%s" % err.strip())

    check("copy from DICOM: crop %d %d (off the tile grid) ! save compression=copy is refused, "
          "naming the grid and the nearest origin below (512,256); nothing written"
          % (ox, oy), off_grid_copy)

    def off_grid_auto():
        out = os.path.join(cdir, "auto.tif")
        err = saved(["load", jdir, "!", "crop", ox, oy, 512, 512, "!", "save", out,
                     "compression=auto"], out)
        need("re-cut" in err, "the report does not say re-cut:\n%s" % err.strip())
        got = sp.read(["load", out])
        want = sp.read(["load", jdir, "!", "crop", ox, oy, 512, 512])
        need_recut(got, want, ox, oy, "level 0 (re-cut)")
    check("copy from DICOM: crop %d %d (on the MCU grid) ! save compression=auto re-cuts level "
          "0 from the frames: equal to the decoded crop but at the tile edges" % (ox, oy),
          off_grid_auto)

    # ---- what cannot be copied
    refusals = []
    if ctx.get("sparse"):
        refusals.append(("a TILED_SPARSE series with tiles left out", ctx["sdir"],
                         r"TILED_SPARSE and tile \d+, \d+ has no frame"))
    j2k = ctx.get("j2k")
    if j2k:
        refusals.append(("a JPEG 2000 series", j2k, r"JPEG 2000, not JPEG baseline"))
    split_dir = os.path.join(cdir, "split")
    os.makedirs(split_dir)
    split = None
    try:
        split = write_wsi(os.path.join(split_dir, "split.dcm"), ctx["src"][1], Series("split"),
                          codec="jpeg", offsets="split", name="split",
                          mpp=(2 * MPP, 2 * MPP))
    except Exception as e:
        diag("the split-fragment instance could not be written: %s" % e)
    if split:
        check("a series whose frames are each in two fragments (found by the Basic Offset "
              "Table) loads as its frames decoded by PIL",
              lambda: compare(sp.read(["load", split_dir]), split.expected, "split",
                              jpeg=True))
        refusals.append(("frames in two fragments each", split_dir,
                         r"frame 0 is in more than one fragment"))
    for label, src, why in refusals:
        def refused(src=src, why=why, label=label):
            out = os.path.join(cdir, "refused.tif")
            rc, _, err = sp_run(["load", src, "!", "save", out, "compression=copy"])
            need(rc != 0, "exit 0")
            need(not os.path.exists(out), "%s written" % out)
            need(re.search(why, err), "stderr does not say /%s/:\n%s" % (why, err.strip()))
            need("compression=copy" in err, "stderr does not name compression=copy:\n%s"
                 % err.strip())

        def auto(src=src):
            out = os.path.join(cdir, "auto-%d.tif" % len(os.listdir(cdir)))
            saved(["load", src, "!", "save", out, "compression=auto"], out)
            got = sp.read(["load", out])
            want = sp.read(["load", src])
            need(got.shape == want.shape, "%s, expected %s" % (got.shape, want.shape))
            # decoded and encoded again (JPEG Q 75 by default)
            mean = float(np.abs(got.astype(int) - want.astype(int)).mean())
            need(mean < 4, "mean difference %.2f from the source" % mean)
        check("copy from DICOM: %s: save compression=copy is refused with the reason; nothing "
              "written" % label, refused)
        check("copy from DICOM: %s: save compression=auto decodes instead (the output is the "
              "source's pixels within JPEG's loss)" % label, auto)

    # ---- an independent writer's series, and a real slide's
    odir = ctx.get("orthanc")
    if odir:
        def orthanc_copy():
            out = os.path.join(cdir, "orthanc.tif")
            err = saved(["load", odir, "!", "save", out, "compression=copy"], out)
            m = re.search(r"copied (\d+) levels?", err)
            need(m and int(m.group(1)) >= 4, "the report does not say 4 levels or more were "
                 "copied:\n%s" % err.strip())
            for n, want in enumerate(ctx["tiff"]):
                got = sp.read(["load", out, "level=%d" % n])
                if n < int(m.group(1)):
                    compare(got, want, "level %d" % n)
                else:   # computed from pixels: JPEG's loss
                    need(got.shape == want.shape and
                         float(np.abs(got.astype(int) - want.astype(int)).mean()) < 4,
                         "level %d (computed): %s, expected %s" % (n, got.shape, want.shape))
        check("copy from DICOM: OrthancWSIDicomizer's series of slide.tif ! save out.tif "
              "compression=copy: the 4 levels copied (level 4's downsample, 16.02, is no power "
              "of 2: computed) equal slide.tif's exactly", orthanc_copy)
    svs = os.path.join(args.shared, "slides", "CMU-1-Small-Region.svs") if args.shared else ""
    if svs and os.path.isfile(svs):
        def real_round():
            s1 = os.path.join(cdir, "cmu")
            t1 = os.path.join(cdir, "cmu.tif")
            saved(["load", svs, "!", "save", s1, "format=dicom", "compression=copy"], s1)
            saved(["load", s1, "!", "save", t1, "compression=copy"], t1)
            a = tiff_levels(svs, pages=[0])[0]
            b = tiff_levels(t1, pages=[0])[0]
            need(b.tiles == [spliced(a.tables, t) for t in a.tiles],
                 "level 0's tiles are not the SVS's (JPEGTables spliced in)")
            compare(sp.read(["load", t1]), sp.read(["load", svs]), "level 0")
        check("copy from DICOM: CMU-1-Small-Region.svs → DICOM → TIFF, compression=copy both "
              "times: level 0's tiles are the SVS's with its JPEGTables spliced in, and read as "
              "the SVS exactly", real_round)
    else:
        skip("copy from DICOM: CMU-1-Small-Region.svs → DICOM → TIFF",
             "../shared/slides/CMU-1-Small-Region.svs is not there")


# ------------------------------------------------------------------ main

def write_seeds(out):
    """Small instances for the load fuzzer's seed corpus (fuzz/make-seeds.sh):
    a 160 × 96 gradient in 64² tiles, one file per layout."""
    os.makedirs(out, exist_ok=True)
    yy, xx = np.mgrid[0:96, 0:160]
    arr = np.stack([xx * 255 // 159, yy * 255 // 95, (xx + yy) % 256], -1).astype(np.uint8)
    layouts = [("jpeg-bot", dict(codec="jpeg", offsets="bot")),
               ("jpeg-empty-bot", dict(codec="jpeg", offsets="empty")),
               ("jpeg-eot", dict(codec="jpeg", offsets="eot")),
               ("native", dict(codec="native")),
               ("j2k", dict(codec="j2k")),
               ("sparse", dict(codec="jpeg", sparse=True, omit=[(1, 0)],
                               rng=np.random.default_rng(3)))]
    for name, kw in layouts:
        small = name == "native"   # uncompressed: a quarter of the pixels
        write_wsi(os.path.join(out, "dicom-%s.dcm" % name), arr[:48, :80] if small else arr,
                  Series("seed " + name), tile=32 if small else 64, **kw)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--seeds":
        write_seeds(sys.argv[2])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--slidepipe", required=True)
    ap.add_argument("--make-slide", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--shared", default="", help="../shared: slides/CMU-1-Small-Region.svs")
    ap.add_argument("--dicomizer", default="OrthancWSIDicomizer")
    args = ap.parse_args()
    t0 = time.time()
    d = os.path.abspath(args.tmp)
    os.makedirs(d, exist_ok=True)
    outdir = os.path.join(d, "out")
    os.makedirs(outdir, exist_ok=True)
    sp = Slidepipe(args.slidepipe, outdir)
    print("# dicom.py: pydicom %s, numpy %s, PIL %s" % (
        pydicom.__version__, np.__version__, Image.__version__ if hasattr(Image, "__version__")
        else "?"))

    slide = os.path.join(d, "slide.tif")
    rc, _, err = run([args.make_slide, SLIDE_W, SLIDE_H, slide])
    if rc != 0:
        print("Bail out! make-slide failed: %s" % err.strip())
        sys.exit(1)
    tiff = []
    try:
        for n in range(5):
            tiff.append(sp.read(["load", slide, "level=%d" % n]))
    except Fail as e:
        print("Bail out! slidepipe cannot read the synthetic TIFF: %s" % e)
        sys.exit(1)
    src = tiff[:LEVELS]
    sizes = [(a.shape[1], a.shape[0]) for a in src]
    rng = np.random.default_rng(SEED)

    def dirof(name):
        p = os.path.join(d, name)
        shutil.rmtree(p, ignore_errors=True)
        os.makedirs(p)
        return p

    def writer_check(label, make, lint=()):
        """make() writes the instances; each is read back by pydicom."""
        box = []

        def fn():
            box.extend(make())
            for inst in box:
                verify(inst)
        ok = check("writer: %s: pydicom reads every instance back (frames, offset tables, "
                   "positions) and they decode to the expected pixels" % label, fn)
        for inst in box:
            if os.path.basename(inst.path) in lint:
                dciodvfy(inst.path, label)
        return box if ok else None

    # -------------------------------------------------- JPEG pyramid
    jdir = dirof("jpeg")
    jser = Series("jpeg pyramid")
    label_img = np.full((300, 400, 3), 250, np.uint8)
    for i in range(24):   # a barcode-like pattern and a colour bar
        label_img[40:200, 30 + 12 * i:30 + 12 * i + (4 if i % 3 else 8)] = (20, 20, 20)
    label_img[220:280, 30:370] = np.linspace(0, 255, 340, dtype=np.uint8)[None, :, None] * \
        np.array([1, 0, 1], np.uint8)[None, None, :] + np.array([0, 90, 0], np.uint8)
    overview = np.concatenate([np.full((src[2].shape[0], 250, 3), (190, 190, 200), np.uint8),
                               src[2]], axis=1)   # 1000 × 500

    def make_jpeg():
        out = []
        for n in range(LEVELS):
            out.append(write_wsi(os.path.join(jdir, "level%d.dcm" % n), src[n], jser,
                                 codec="jpeg", offsets="bot", instance=n + 1, level0=(n == 0),
                                 mpp=(MPP * 2 ** n, MPP * 2 ** n), name="level%d" % n))
        out.append(write_wsi(os.path.join(jdir, "label.dcm"), label_img, jser, kind="LABEL",
                             codec="native", instance=LEVELS + 1, mpp=(60.0, 60.0), name="label"))
        out.append(write_wsi(os.path.join(jdir, "overview.dcm"), overview, jser, kind="OVERVIEW",
                             codec="jpeg", instance=LEVELS + 2, mpp=(40.0, 40.0), name="overview"))
        return out
    jpeg = writer_check("JPEG TILED_FULL pyramid (3 levels, a Basic Offset Table) with a native "
                        "LABEL and a JPEG OVERVIEW, one directory", make_jpeg,
                        lint=("level0.dcm", "label.dcm", "overview.dcm"))

    # the same instances beside another series: a file of it means its series only
    mdir = dirof("mixed")

    def make_mixed():
        for inst in jpeg or []:
            dst = os.path.join(mdir, os.path.basename(inst.path))
            try:
                os.link(inst.path, dst)
            except OSError:
                shutil.copyfile(inst.path, dst)
        other = Series("other series")
        return [write_wsi(os.path.join(mdir, "zz-other.dcm"), src[2][:300, :500], other,
                          codec="jpeg", name="other")]
    mixed = writer_check("another series (one 500 × 300 JPEG level) beside the pyramid's "
                         "instances", make_mixed) if jpeg else None

    # ------------------------------------------------------ native
    ndir = dirof("native")
    nser = Series("native")
    nmpp = (MPP, 2 * MPP)   # 0.25 µm across, 0.5 µm down: PixelSpacing 0.0005\0.00025

    def make_native():
        return [write_wsi(os.path.join(ndir, "n%d.dcm" % n), src[n], nser, codec="native",
                          instance=n + 1, level0=(n == 0), name="n%d" % n,
                          mpp=(nmpp[0] * 2 ** n, nmpp[1] * 2 ** n)) for n in range(2)]
    native = writer_check("native RGB (Explicit VR Little Endian) TILED_FULL, 2 levels",
                          make_native, lint=("n0.dcm",))

    # ------------------------------------------------------ sparse
    sdir = dirof("sparse")
    sser = Series("sparse")
    omitted = {}

    def make_sparse():
        out = []
        for n, codec in ((0, "jpeg"), (1, "native")):
            nx, ny = -(-sizes[n][0] // TILE), -(-sizes[n][1] // TILE)
            every = [(tx, ty) for ty in range(ny) for tx in range(nx)]
            pick = set(every[int(i)]
                       for i in rng.choice(len(every), len(every) // 5, replace=False))
            pick |= {(0, 0), (nx - 1, ny - 1)}   # the first tile and the padded corner
            pick.discard((1, 0))
            omitted[n] = (len(pick), len(every))
            out.append(write_wsi(os.path.join(sdir, "s%d.dcm" % n), src[n], sser, codec=codec,
                                 sparse=True, omit=pick, rng=rng, offsets="bot",
                                 instance=n + 1, level0=(n == 0), name="s%d" % n,
                                 mpp=(MPP * 2 ** n, MPP * 2 ** n)))
        return out
    sparse = writer_check("TILED_SPARSE, shuffled frames, tiles left out: JPEG level 0, "
                          "native level 1", make_sparse, lint=("s0.dcm",))

    # ------------------------------------------ offsets and JPEG 2000
    variants = {}
    for label, key, kw in (
            ("JPEG, an empty Basic Offset Table, one fragment per frame", "emptybot",
             dict(codec="jpeg", offsets="empty")),
            ("JPEG, the Extended Offset Table (and an empty Basic Offset Table)", "eot",
             dict(codec="jpeg", offsets="eot")),
            ("JPEG 2000 lossless (1.2.840.10008.1.2.4.90), RGB", "j2k",
             dict(codec="j2k", offsets="bot"))):
        vdir = dirof(key)
        lvl = 1 if key == "j2k" else 0   # J2K: 1500 × 1000 keeps the encoding short
        def make(vdir=vdir, key=key, kw=kw, lvl=lvl):
            inst = write_wsi(os.path.join(vdir, key + ".dcm"), src[lvl], Series(key), name=key,
                             mpp=(MPP * 2 ** lvl, MPP * 2 ** lvl), **kw)
            need(key != "j2k" or np.array_equal(inst.expected, src[lvl]),
                 "the JPEG 2000 frames do not decode to the source: not lossless")
            return [inst]
        made = writer_check(label, make, lint=(key + ".dcm",))
        variants[key] = (label, vdir, made, lvl)

    # ===================================================== slidepipe
    jwant = sizes
    if jpeg:
        def info_dir():
            i = sp.info(jdir)
            need_levels(i, jwant, "info " + jdir)
            for lv in i["levels"]:
                need(lv[3:] == (TILE, TILE), "tiles %d × %d, expected 256 × 256" % lv[3:])
        check("JPEG pyramid, the directory: info shows levels: 3, 3000 × 2000, 1500 × 1000, "
              "750 × 500 px, downsamples 1, 2, 4, tiles 256 × 256", info_dir)
        check("JPEG pyramid, the directory: info shows mpp: 0.25 × 0.25 (PixelSpacing "
              "0.00025 mm)", lambda: need_mpp(sp.info(jdir), (MPP, MPP), "info " + jdir))

        def assoc():
            i = sp.info(jdir)
            need(sorted(i["associated"]) == ["label", "macro"],
                 "associated images %s, expected label, macro:\n%s"
                 % (i["associated"], i["text"].strip()))
        check("JPEG pyramid, the directory: info shows associated images label (LABEL) and "
              "macro (OVERVIEW)", assoc)

        def props():
            i = sp.info(jdir)
            need(i["props"].get("dicom.SeriesInstanceUID") == jser.series_uid,
                 "dicom.SeriesInstanceUID = %s, expected %s"
                 % (i["props"].get("dicom.SeriesInstanceUID"), jser.series_uid))
        check("JPEG pyramid: info's properties include dicom.SeriesInstanceUID", props)

        def info_file(path):
            i = sp.info(path)
            need_levels(i, jwant, "info " + path)
            need_mpp(i, (MPP, MPP), "info " + path)
            need(sorted(i["associated"]) == ["label", "macro"],
                 "associated images %s" % i["associated"])
        check("JPEG pyramid, one file (level1.dcm, not the largest): info shows the whole "
              "series, 3 levels, mpp and label, macro",
              lambda: info_file(os.path.join(jdir, "level1.dcm")))
        if mixed:
            check("JPEG pyramid, one file in a directory that also holds another series: "
                  "info shows that file's series only",
                  lambda: info_file(os.path.join(mdir, "level1.dcm")))

        # a list of instances, wherever they are: a directory of links to
        # them (the instances spread over two directories here)
        def linked():
            spread = [dirof("spread-a"), dirof("spread-b")]
            ldir = dirof("links")
            for i, inst in enumerate(jpeg):
                name = os.path.basename(inst.path)
                home = os.path.join(spread[i % 2], name)
                shutil.copyfile(inst.path, home)
                os.symlink(home, os.path.join(ldir, name))
            info_file(ldir)
            for n in range(LEVELS):
                compare(sp.read(["load", ldir, "level=%d" % n]), jpeg[n].expected,
                        "level %d" % n, jpeg=True)
        check("a list of instances as a directory of symbolic links to them (the files in two "
              "other directories): one slide, its 3 levels, mpp, label and macro, and each "
              "level's pixels", linked)
        for n in range(LEVELS):
            check("JPEG pyramid, load DIR level=%d (%d × %d): equals the frames decoded by PIL "
                  "and put together" % ((n,) + sizes[n]),
                  lambda n=n: compare(sp.read(["load", jdir, "level=%d" % n]),
                                      jpeg[n].expected, "level %d" % n, jpeg=True))
        check("JPEG pyramid, load FILE (level2.dcm) level=0: level 0 of its series",
              lambda: compare(sp.read(["load", os.path.join(jdir, "level2.dcm"), "level=0"]),
                              jpeg[0].expected, "level 0", jpeg=True))
        check("JPEG pyramid, load DIR associated=label: equals the label (native, 400 × 300)",
              lambda: compare(sp.read(["load", jdir, "associated=label"]), label_img, "label"))
        check("JPEG pyramid, load DIR associated=macro: equals the overview (JPEG, 1000 × 500, "
              "decoded by PIL)",
              lambda: compare(sp.read(["load", jdir, "associated=macro"]), jpeg[-1].expected,
                              "macro", jpeg=True))
        for x, y, w, h, what in ((700, 500, 900, 650, "across tile edges"),
                                 (2800, 1790, 200, 210, "at the bottom-right corner (the "
                                  "padded tiles)")):
            check("JPEG pyramid, load DIR ! crop %d %d %d %d (%s): equals the array's slice"
                  % (x, y, w, h, what),
                  lambda x=x, y=y, w=w, h=h: compare(
                      sp.read(["load", jdir, "!", "crop", x, y, w, h]),
                      jpeg[0].expected[y:y + h, x:x + w], "crop", jpeg=True))
    else:
        skip("JPEG pyramid checks", "the writer failed")

    if native:
        def info_native():
            i = sp.info(ndir)
            need_levels(i, sizes[:2], "info " + ndir)
            need_mpp(i, nmpp, "info " + ndir)
        check("native, 2 levels: info shows 3000 × 2000, 1500 × 1000 and mpp 0.25 × 0.5 "
              "(PixelSpacing 0.0005, 0.00025: row spacing first)", info_native)
        for n in range(2):
            check("native RGB TILED_FULL, level %d: equals the source exactly" % n,
                  lambda n=n: compare(sp.read(["load", ndir, "level=%d" % n]), src[n],
                                      "native level %d" % n))

    if sparse:
        check("TILED_SPARSE: info shows 2 levels, 3000 × 2000 and 1500 × 1000",
              lambda: need_levels(sp.info(sdir), sizes[:2], "info " + sdir))
        for n, codec in ((0, "JPEG"), (1, "native")):
            check("TILED_SPARSE %s level %d, frames shuffled, %d of %d tiles left out (the "
                  "first and the bottom-right among them): exact, missing tiles white"
                  % ((codec, n) + omitted[n]),
                  lambda n=n: compare(sp.read(["load", sdir, "level=%d" % n]),
                                      sparse[n].expected, "sparse level %d" % n))

    for key, (label, vdir, made, lvl) in variants.items():
        if made:
            want = made[0].expected
            check("%s: load equals %s exactly" % (label, "the source" if key == "j2k"
                                                  else "the frames decoded by PIL"),
                  lambda vdir=vdir, want=want, key=key: compare(
                      sp.read(["load", vdir]), want, key))

    # ------------------------------------------------------- Orthanc
    dicomizer = shutil.which(args.dicomizer)
    orthanc_dir = [None]   # its series, once read back equal to the TIFF's
    if dicomizer:
        odir = dirof("orthanc")
        # Orthanc WSI 1.1 takes the pixel spacing from the imaged volume,
        # not from the TIFF, and divides --imaged-width by the rows and
        # --imaged-height by the columns (its ImageOrientationSlide
        # 0\-1\0\-1\0\0 runs the slide's X axis down the image): both
        # are given so that PixelSpacing is the TIFF's 0.25 µm
        cmd = [dicomizer, "--threads=1", "--folder=" + odir, "--reencode=0",
               "--imaged-width=%g" % (SLIDE_H * MPP / 1000),
               "--imaged-height=%g" % (SLIDE_W * MPP / 1000), slide]
        layout = {}

        def orthanc():
            rc, out, err = run(cmd)
            need(rc == 0, "exit %d: %s" % (rc, (out + err).strip()[-800:]))
            names = sorted(os.listdir(odir))
            need(names, "no file written")
            rows = []
            for name in names:
                ds = pydicom.dcmread(os.path.join(odir, name))
                its = items(ds.PixelData) if ds.file_meta.TransferSyntaxUID != TS_EXPLICIT else []
                bot = len(its[0][1]) // 4 if its else 0
                ps = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
                rows.append("%s: %s, %d × %d, %s frames of %d × %d, %s, ImageType %s, "
                            "DimensionOrganizationType %s, BOT %s, EOT %s, per-frame groups %s, "
                            "PixelSpacing %s"
                            % (name, TS_NAMES.get(str(ds.file_meta.TransferSyntaxUID),
                                                  ds.file_meta.TransferSyntaxUID),
                               ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows,
                               ds.NumberOfFrames, ds.Columns, ds.Rows,
                               ds.PhotometricInterpretation,
                               "\\".join(ds.ImageType) if "ImageType" in ds else "absent",
                               ds.get("DimensionOrganizationType", "absent"),
                               "%d entries" % bot if bot else "empty",
                               "yes" if "ExtendedOffsetTable" in ds else "no",
                               "yes" if "PerFrameFunctionalGroupsSequence" in ds else "no",
                               "\\".join(str(v) for v in ps)))
                if name == names[0]:
                    layout["mpp"] = (float(ps[1]) * 1000, float(ps[0]) * 1000)
            layout["rows"] = rows
            need(abs(layout["mpp"][0] - MPP) < 1e-5 and abs(layout["mpp"][1] - MPP) < 1e-5,
                 "level 0's PixelSpacing gives %s µm, not the TIFF's %g" % (layout["mpp"], MPP))
        if check("OrthancWSIDicomizer --reencode=0 writes the TIFF's pyramid", orthanc):
            diag("OrthancWSIDicomizer: %s" % " ".join(os.path.basename(c) if c == dicomizer
                                                        else c for c in cmd))
            for r in layout["rows"]:
                diag("  " + r)
            dciodvfy(os.path.join(odir, sorted(os.listdir(odir))[0]), "OrthancWSIDicomizer")
            tinfo = sp.info(slide)
            tsizes = [(w, h) for w, h, _, _, _ in tinfo["levels"]]

            def orthanc_info():
                i = sp.info(odir)
                need_levels(i, tsizes, "info " + odir)
                need(tinfo["mpp"] is not None, "the TIFF has no mpp")
                need_mpp(i, tinfo["mpp"], "info " + odir)
            check("OrthancWSIDicomizer's output: info shows the TIFF's %d levels, sizes, "
                  "downsamples and mpp" % len(tsizes), orthanc_info)
            orthanc_dir[0] = odir
            for n in range(len(tsizes)):
                check("OrthancWSIDicomizer's output, level %d (%d × %d): equals slidepipe "
                      "load slide.tif level=%d exactly (the same JPEG tiles)"
                      % ((n,) + tsizes[n] + (n,)),
                      lambda n=n: compare(sp.read(["load", odir, "level=%d" % n]), tiff[n],
                                          "Orthanc level %d" % n))
    else:
        skip("OrthancWSIDicomizer's output", "%s not installed" % args.dicomizer)

    # -------------------------------------------------------- errors
    small = src[0][:512, :512]

    def base(codec, name, offsets="bot"):
        return build_wsi(small, Series("error " + name), codec=codec, offsets=offsets, name=name)

    def ts_file(ts, little, implicit):
        def make(path):
            inst = base("native", os.path.basename(path))
            inst.ds.file_meta.TransferSyntaxUID = ts
            inst.ds.is_little_endian, inst.ds.is_implicit_VR = little, implicit
            inst.ds.save_as(path, write_like_original=False)
            back = pydicom.dcmread(path)
            need(str(back.file_meta.TransferSyntaxUID) == ts and
                 np.array_equal(back.pixel_array.reshape(-1), np.frombuffer(
                     b"".join(inst.frames), np.uint8)), "not the file it should be")
        return make

    def truncated(path):
        save(base("jpeg", "truncated"), path)
        data = open(path, "rb").read()
        at = data.rfind(b"\xe0\x7f\x10\x00OB")
        need(at > 0, "no Pixel Data")
        cut = at + (len(data) - at) // 2
        with open(path, "wb") as f:
            f.write(data[:cut])
        diag("error case truncated.dcm: %d of %d bytes, cut half way through the pixel data "
             "(it starts at %d)" % (cut, len(data), at))

    def short_frames(path):
        inst = base("jpeg", "frames", offsets="empty")
        n = len(inst.frames)
        inst.ds.PixelData = encapsulate(inst.frames[:n - 1], has_bot=False)
        inst.ds["PixelData"].is_undefined_length = True
        save(inst, path)
        back = pydicom.dcmread(path)
        need(int(back.NumberOfFrames) == n and len(items(back.PixelData)) - 1 == n - 1,
             "not %d frames declared and %d present" % (n, n - 1))

    def bot_past_end(path):
        inst = base("jpeg", "bot")
        data = bytearray(inst.ds.PixelData)
        n = len(inst.frames)
        struct.pack_into("<I", data, 8 + 4 * (n - 1), len(data) + 4096)
        inst.ds.PixelData = bytes(data)
        inst.ds["PixelData"].is_undefined_length = True
        save(inst, path)

    def huge_frames(path):
        inst = base("jpeg", "huge")
        del inst.ds["NumberOfFrames"]
        inst.ds.add_new(0x00280008, "IS", "4294967296")
        save(inst, path)
        raw = open(path, "rb").read()
        need(b"4294967296" in raw, "NumberOfFrames not written as 4294967296")

    errors = [
        ("Implicit VR Little Endian", "implicit.dcm", ts_file(TS_IMPLICIT, True, True),
         r"1\.2\.840\.10008\.1\.2(?![.\d])|implicit"),
        ("Deflated Explicit VR Little Endian", "deflated.dcm",
         ts_file(TS_DEFLATED, True, False), r"1\.2\.840\.10008\.1\.2\.1\.99|deflat"),
        ("Explicit VR Big Endian", "bigendian.dcm", ts_file(TS_BIG, False, False),
         r"1\.2\.840\.10008\.1\.2\.2(?![.\d])|big.?endian"),
        ("a file cut half way through its pixel data", "truncated.dcm", truncated, None),
        ("NumberOfFrames 4 with 3 frames present (empty Basic Offset Table)",
         "frames.dcm", short_frames, None),
        ("a Basic Offset Table entry past the end of the pixel data", "bot.dcm",
         bot_past_end, None),
        ("NumberOfFrames 4294967296", "huge.dcm", huge_frames, None),
    ]
    for label, fname, make, ts_re in errors:
        edir = dirof("err-" + fname[:-4])
        path = os.path.join(edir, fname)
        if not check("writer: error case %s (%s)" % (fname, label), lambda: make(path)):
            continue
        out = os.path.join(edir, "out.png")

        def err_case():
            rc, _, err = run([args.slidepipe, "load", path, "!", "save", out], ERR_TIMEOUT)
            need(0 <= rc < 128, "crashed: exit status %d (signal %d); stderr: %s"
                 % (rc, -rc if rc < 0 else rc - 128, err.strip()[-600:]))
            need(rc == 1, "exit status %d, expected 1; stderr: %s" % (rc, err.strip()))
            need(fname in err, "stderr does not name %s:\n%s" % (fname, err.strip()))
            if ts_re:   # in what stderr says besides the file's name
                rest = err.replace(path, "").replace(fname, "").replace(
                    os.path.basename(edir), "")
                need(re.search(ts_re, rest, re.I), "stderr does not name the transfer "
                     "syntax (%s):\n%s" % (ts_re, err.strip()))
            left = [p for p in os.listdir(edir) if p != fname]
            need(not left, "left behind: %s" % ", ".join(left))
        check("error: %s: load ! save out.png exits 1, names the file%s, writes nothing"
              % (label, " and the transfer syntax" if ts_re else ""), err_case)

    # ------------------------------ compression=copy from DICOM
    j2k_made = variants.get("j2k")
    copy_from_dicom_tests(args, sp, d, {
        "jdir": jdir, "jpeg": jpeg, "sizes": sizes[:LEVELS], "src": src, "tiff": tiff,
        "sdir": sdir, "sparse": sparse,
        "j2k": j2k_made[1] if j2k_made and j2k_made[2] else None,
        "orthanc": orthanc_dir[0]})

    # ----------------------------------------- save format=dicom
    save_dicom_tests(args, sp, d, slide, tiff)

    diag("dicom.py: %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
