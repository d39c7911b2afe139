# SPDX-License-Identifier: LGPL-2.1-or-later
"""slidepipe's pipelines from Python against the command line (the oracle
for what the C library does) and against PIL/tifffile/openslide-python
for the files they write: geometry, explain, pixels, sinks, errors,
patches, shards, batches, stacks."""

import os
import pickle
import subprocess

import numpy as np
import pytest

import slidepipe
from slidepipe import _capi

from conftest import SHARED_DIR

pytestmark = pytest.mark.skipif(
    not _capi.api.has_pipelines,
    reason="the ctypes bindings have no pipelines (they need cffi)")

SLIDEPIPE = os.environ.get("SLIDEPIPE", os.path.join(
    os.path.dirname(__file__), "..", "..", "src", "slidepipe"))


def cli(*words, check=True, cwd=None):
    r = subprocess.run([SLIDEPIPE] + [str(w) for w in words],
                       capture_output=True, text=True, cwd=cwd)
    if check and r.returncode != 0:
        raise AssertionError(f"slidepipe {' '.join(map(str, words))}: "
                             f"exit {r.returncode}: {r.stderr}")
    return r


def read_image(path):
    from PIL import Image
    with Image.open(path) as im:
        a = np.asarray(im)
    return a[:, :, None] if a.ndim == 2 else a


@pytest.fixture
def tissue_slide(synthetic_slide):
    """A real slide when ../shared is there (real tissue), else the
    synthetic one."""
    real = os.path.join(SHARED_DIR, "slides", "CMU-1-Small-Region.svs")
    return real if os.path.exists(real) else synthetic_slide


def test_geometry_and_explain_as_the_command(synthetic_slide):
    p = slidepipe.load(synthetic_slide).crop(300, 200, 1500, 1000) \
        .downsample(4)
    g = p.geometry
    assert (g.width, g.height, g.bands) == (375, 250, 3)
    assert (g.x, g.y, g.w, g.h) == (300, 200, 1500, 1000)
    assert g.downsample_x == g.downsample_y == 4
    assert g.mpp_x == pytest.approx(1.0) and g.format == "uint8"
    assert g.planes == 1 and g.dtype == np.uint8
    want = cli("explain", "load", synthetic_slide, "!", "crop", 300, 200,
               1500, 1000, "!", "downsample", 4).stdout
    assert p.explain() == want
    assert "[planned]" in p.explain()
    assert str(p) == (f"load {synthetic_slide} ! crop 300 200 1500 1000 ! "
                      "downsample 4")


@pytest.mark.parametrize("steps", [
    ["crop", "211", "97", "1333", "777", "!", "downsample", "3"],
    ["downsample", "2.5"],
    ["threshold", "method=otsu", "channel=saturation", "!", "downsample",
     "4"],
    ["crop", "0", "0", "900", "700", "!", "invert"],
])
def test_to_numpy_equals_the_commands_png(synthetic_slide, tmp_path, steps):
    out = tmp_path / "cli.png"
    cli("load", synthetic_slide, "!", *steps, "!", "save", out)
    p = slidepipe.Pipeline.parse(["load", synthetic_slide, "!"] + steps)
    a = p.to_numpy()
    b = read_image(out)
    assert a.dtype == np.uint8 and a.shape == b.shape
    assert np.array_equal(a, b)
    # the same through method calls
    q = slidepipe.Pipeline.parse(
        " ".join(["load", f"'{synthetic_slide}'", "!"] + steps))
    assert np.array_equal(q.to_numpy(), a)


def test_methods_build_what_parse_builds(synthetic_slide):
    p = slidepipe.load(synthetic_slide).crop(10, 20, 999, 555) \
        .threshold(method="otsu", channel="saturation", invert=False)
    q = slidepipe.Pipeline.parse(
        f"load {synthetic_slide} ! crop 10 20 999 555 ! threshold "
        "method=otsu channel=saturation invert=false")
    assert p.geometry == q.geometry
    assert np.array_equal(p.to_numpy(), q.to_numpy())
    assert p.to_numpy().shape == (555, 999, 1)


def test_save_runs_and_openslide_reads_it(synthetic_slide, tmp_path):
    openslide = pytest.importorskip("openslide")
    out = tmp_path / "out.tif"
    seen = []
    r = slidepipe.load(synthetic_slide).crop(0, 0, 2999, 1999).save(
        out, progress=lambda percent, eta: seen.append(percent))
    assert r.output == str(out)
    assert all(0 <= v <= 100 for v in seen) and seen == sorted(seen)
    with openslide.OpenSlide(str(out)) as o:
        assert o.dimensions == (2999, 1999)
        assert o.level_count >= 3
    with slidepipe.OpenSlide(out) as s:
        assert s.mpp == pytest.approx((0.25, 0.25))
    assert [f for f in os.listdir(tmp_path)] == ["out.tif"]


def test_run_and_sinks(synthetic_slide, tmp_path):
    out = tmp_path / "p.tif"
    p = slidepipe.Pipeline.parse(
        f"load {synthetic_slide} ! downsample 8 ! save {out}")
    r = p.run()
    assert r.output == str(out) and out.exists()
    with pytest.raises(slidepipe.UsageError, match="run: the pipeline does "
                       "not end in a sink"):
        slidepipe.load(synthetic_slide).run()
    with pytest.raises(slidepipe.UsageError, match="to_numpy: the pipeline "
                       "ends in a sink"):
        slidepipe.Pipeline.parse(
            f"load {synthetic_slide} ! save {tmp_path / 'q.tif'}").to_numpy()
    # threshold's report comes back
    r = slidepipe.load(synthetic_slide).downsample(8).threshold(
        method="otsu").save(tmp_path / "m.png")
    assert "Otsu" in (r.report or "")


def test_errors_name_operator_argument_and_file(synthetic_slide, tmp_path):
    with pytest.raises(slidepipe.UsageError) as e:
        slidepipe.load(synthetic_slide).downsample(float("nan"))
    assert e.value.code == slidepipe.SP_ERROR_USAGE
    assert "downsample: argument 'factor': 'nan' is not a finite number" \
        in str(e.value)
    with pytest.raises(slidepipe.UsageError, match="downsample: argument "
                       "'factor'"):
        slidepipe.load(synthetic_slide).downsample(1e308 * 10)
    with pytest.raises(slidepipe.RegionError) as e:
        slidepipe.load(synthetic_slide).crop(0, 0, 3001, 10)
    assert e.value.code == slidepipe.SP_ERROR_REGION
    assert "synthetic.tif" in str(e.value)
    with pytest.raises(slidepipe.FileError) as e:
        slidepipe.load(tmp_path / "missing.svs")
    assert "missing.svs" in str(e.value)
    with pytest.raises(slidepipe.UsageError, match="crop: "):
        slidepipe.load(synthetic_slide).crop(0, 0, 10)
    with pytest.raises(slidepipe.UsageError, match="unknown argument|no "
                       "argument|bogus"):
        slidepipe.load(synthetic_slide).save(tmp_path / "x.tif",
                                             bogus=1)
    with pytest.raises(AttributeError, match="no such operator"):
        slidepipe.load(synthetic_slide).sharpen(2)
    # a save that cannot write: nothing at the output, nothing beside it
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(slidepipe.Error):
        slidepipe.load(synthetic_slide).downsample(8).save(
            blocker / "out.tif")
    assert sorted(os.listdir(tmp_path)) == ["file"]
    with pytest.raises(slidepipe.UsageError, match="over limit="):
        slidepipe.load(synthetic_slide).to_numpy(limit=1000)


def test_paths_with_spaces_and_equals(synthetic_slide, tmp_path):
    odd = tmp_path / "a b=c"
    odd.mkdir()
    link = odd / "level=1.tif"
    os.symlink(synthetic_slide, link)
    # relative, holding '=' and a known argument's name: still a path
    p = slidepipe.Pipeline([("load", ("level=1.tif",))])
    cwd = os.getcwd()
    os.chdir(odd)
    try:
        g = slidepipe.load("level=1.tif").geometry
    finally:
        os.chdir(cwd)
    assert (g.width, g.height) == (3000, 2000)
    q = slidepipe.Pipeline.parse(f"load '{link}' ! downsample 4")
    assert q.geometry.width == 750
    assert str(p).startswith("load ")


def test_pickle_keeps_the_steps(synthetic_slide):
    p = slidepipe.load(synthetic_slide).crop(5, 6, 700, 800).downsample(2)
    q = pickle.loads(pickle.dumps(p))
    assert str(q) == str(p) and q.geometry == p.geometry
    assert np.array_equal(q.to_numpy(), p.to_numpy())


def _tiles_files(tmp_path, slide, *words):
    out = tmp_path / "tiles"
    cli("load", slide, "!", "tiles", out, *words)
    rows = (out / "tiles.csv").read_text().splitlines()
    head = rows[0].split(",")
    files = {}
    for line in rows[1:]:
        r = dict(zip(head, line.split(",")))
        # tiles.csv writes coordinates to 10 significant digits
        files[(round(float(r["x"]), 3), round(float(r["y"]), 3))] = \
            (r, out / r["file"])
    return files


def test_patches_equal_the_tiles_sinks_files(tissue_slide, tmp_path):
    files = _tiles_files(tmp_path, tissue_slide, "size=128", "mpp=1",
                         "min-tissue=0.5")
    got = list(slidepipe.load(tissue_slide).patches(128, mpp=1.0,
                                                    min_tissue=0.5))
    assert len(files) >= 5
    assert sorted((round(p.x, 3), round(p.y, 3)) for p in got) == \
        sorted(files)
    for p in got:
        r, path = files[(round(p.x, 3), round(p.y, 3))]
        assert np.array_equal(p.array, read_image(path)), path
        assert p.level == int(r["level"])
        assert p.mpp == pytest.approx(float(r["mpp"]))
        assert p.tissue == pytest.approx(float(r["tissue"]), abs=1e-4)
        assert p.array.shape == (128, 128, 3) and p.array.dtype == np.uint8
    assert len({p.index for p in got}) == len(got)


def test_patches_shards_split_exactly_once(tissue_slide):
    p = slidepipe.load(tissue_slide)
    every = sorted(q.index for q in p.patches(96, min_tissue=0.3))
    parts = [sorted(q.index for q in p.patches(96, min_tissue=0.3,
                                                 shard=(i, 3)))
             for i in range(3)]
    assert sorted(sum(parts, [])) == every
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    with pytest.raises(slidepipe.UsageError, match="shard"):
        p.patches(96, shard=(3, 3))
    # checked at the call, before any next()
    with pytest.raises(slidepipe.UsageError, match="tiles: argument 'size'"):
        p.patches(0)
    with pytest.raises(slidepipe.UsageError, match="min-tisue"):
        p.patches(96, min_tisue=0.5)


def test_patches_stop_early_and_again(tissue_slide):
    p = slidepipe.load(tissue_slide)
    it = p.patches(64, queue_size=2)
    first = [next(it) for _ in range(3)]
    it.close()
    assert len(first) == 3
    again = list(p.patches(64))
    assert len(again) > 3
    # an exception in the loop body ends the producer too
    with pytest.raises(KeyError):
        for _ in p.patches(64):
            raise KeyError("stop")


def test_batch_rows_independent(synthetic_slide, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "slide,x,y,w,h,out\n"
        f"{synthetic_slide},0,0,512,512,a.png\n"
        f"{synthetic_slide},0,0,99999,10,bad.png\n"
        f"{tmp_path / 'missing.svs'},0,0,10,10,missing.png\n"
        f"{synthetic_slide},100,100,256,128,b.png\n")
    seen = []
    rows = slidepipe.batch(manifest, tmp_path / "out", jobs=2,
                           progress=lambda d, f, t: seen.append((d, f, t)))
    by_out = {r["out"]: r for r in rows}
    assert by_out["a.png"]["status"] == "ok"
    assert by_out["b.png"]["status"] == "ok"
    assert by_out["bad.png"]["status"] in ("invalid", "failed")
    assert "outside" in by_out["bad.png"]["error"]
    assert by_out["missing.png"]["status"] in ("invalid", "failed")
    assert "missing.svs" in by_out["missing.png"]["error"]
    assert sorted(os.listdir(tmp_path / "out")) == ["a.png", "b.png"]
    assert read_image(tmp_path / "out" / "b.png").shape == (128, 256, 3)
    assert seen[-1] == (4, 2, 4)
    # rerun: done rows are skipped
    again = slidepipe.batch(manifest, tmp_path / "out")
    assert {r["out"]: r["status"] for r in again}["a.png"] == "skipped"
    with pytest.raises(slidepipe.FileError):
        slidepipe.batch(tmp_path / "nope.csv", tmp_path / "out")


def test_stack_to_numpy(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    rng = np.random.default_rng(7)
    stack = rng.integers(0, 65536, (4, 90, 130), dtype=np.uint16)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, photometric="minisblack")
    p = slidepipe.load(path, page=[0, 2, 3])
    g = p.geometry
    assert g.format == "uint16" and g.planes == 3
    a = p.to_numpy()
    assert a.shape == (3, 90, 130, 1) and a.dtype == np.uint16
    assert np.array_equal(a[..., 0], stack[[0, 2, 3]])
    assert np.array_equal(p.to_numpy(plane=1)[..., 0], stack[2])
    with pytest.raises(slidepipe.UsageError, match="plane 3"):
        p.to_numpy(plane=3)
    pt = list(slidepipe.load(path, page=3).patches(32))
    assert len(pt) == 2 * 4
    for q in pt:
        x, y = int(q.x), int(q.y)
        assert q.array.dtype == np.uint16
        assert np.array_equal(q.array[..., 0], stack[3, y:y + 32, x:x + 32])


def test_operators_and_docs():
    ops = slidepipe.operators()
    for name in ("load", "crop", "downsample", "threshold", "save", "tiles"):
        assert name in ops
    doc = slidepipe.Pipeline([("load", ("x",))]).threshold.__doc__
    assert doc.startswith("threshold: ")


def test_objects_equal_the_label_sinks_csv(tissue_slide, tmp_path):
    csv = tmp_path / "objects.csv"
    cli("load", tissue_slide, "!", "downsample", 4, "!", "threshold",
        "method=otsu", "channel=saturation", "!", "label", f"objects={csv}",
        "min-area=20")
    rows = csv.read_text().splitlines()
    head = rows[0].split(",")
    want = [dict(zip(head, r.split(","))) for r in rows[1:]]
    mask = slidepipe.load(tissue_slide).downsample(4).threshold(
        method="otsu", channel="saturation")
    got = list(mask.objects(min_area=20, runs=True))
    assert len(got) == len(want) >= 1
    for o, w in zip(sorted(got, key=lambda o: o["id"]), want):
        assert o["id"] == int(w["id"]) and o["area"] == int(w["area_px"])
        assert o["centroid_x"] == pytest.approx(float(w["centroid_x"]))
        assert o["centroid_y"] == pytest.approx(float(w["centroid_y"]))
        assert o["bbox_w"] == pytest.approx(float(w["bbox_w"]))
        assert o["edge"] == (w["edge"] == "1")
        assert o["mean"][0] == pytest.approx(float(w["mean_r"]))
        # the runs hold the object's area
        r = o["runs"]
        assert int((r[:, 2] - r[:, 1] + 1).sum()) == o["area"]
    with pytest.raises(slidepipe.UsageError, match="label: "):
        next(mask.objects(connectivity=5))
    with pytest.raises(slidepipe.UsageError, match="1-band|one band|bands"):
        next(slidepipe.load(tissue_slide).downsample(8).objects())
