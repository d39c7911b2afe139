# SPDX-License-Identifier: LGPL-2.1-or-later
"""slidepipe.torch.PatchDataset in a PyTorch DataLoader with 2 workers:
every kept patch delivered exactly once, its coordinates and pixels
equal to the tiles sink's files (the command line's)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from slidepipe import _capi

pytestmark = pytest.mark.skipif(
    not _capi.api.has_pipelines,
    reason="the ctypes bindings have no pipelines (they need cffi)")
torch = pytest.importorskip(
    "torch", reason="python3 lacks torch (install-deps.sh: python3-torch)")

import slidepipe  # noqa: E402
from slidepipe.torch import PatchDataset  # noqa: E402

from test_pipeline import SLIDEPIPE, read_image  # noqa: E402


@pytest.fixture
def slide(synthetic_slide):
    from conftest import SHARED_DIR
    real = os.path.join(SHARED_DIR, "slides", "CMU-1-Small-Region.svs")
    return real if os.path.exists(real) else synthetic_slide


def _sink(tmp_path, slide):
    out = tmp_path / "tiles"
    subprocess.run([SLIDEPIPE, "load", slide, "!", "tiles", str(out),
                    "size=96", "min-tissue=0.5"], check=True,
                   capture_output=True)
    rows = (out / "tiles.csv").read_text().splitlines()
    head = rows[0].split(",")
    files = {}
    for line in rows[1:]:
        r = dict(zip(head, line.split(",")))
        files[(round(float(r["x"]), 3), round(float(r["y"]), 3))] = \
            out / r["file"]
    return files


@pytest.mark.parametrize("context", ["spawn", "fork"])
def test_dataloader_two_workers_every_patch_once(slide, tmp_path, context):
    files = _sink(tmp_path, slide)
    assert len(files) >= 8
    ds = PatchDataset(slidepipe.load(slide), size=96, min_tissue=0.5)
    # 'fork' works in a process that has not computed pixels: run it in a
    # fresh one; 'spawn' works anywhere, here included
    if context == "fork":
        code = (
            "import sys, pickle, slidepipe\n"
            "from slidepipe.torch import PatchDataset\n"
            "from torch.utils.data import DataLoader\n"
            "ds = PatchDataset(slidepipe.load(sys.argv[1]), size=96, "
            "min_tissue=0.5)\n"
            "got = [(float(x), float(y), int(w), img.numpy()) for img, info "
            "in DataLoader(ds, batch_size=5, num_workers=2) for x, y, w, img "
            "in zip(info['x'], info['y'], info['index'], img)]\n"
            "pickle.dump(got, open(sys.argv[2], 'wb'))\n")
        dump = tmp_path / "got.pickle"
        subprocess.run([sys.executable, "-c",
                        code, slide, str(dump)], check=True, timeout=300)
        import pickle
        got = pickle.loads(dump.read_bytes())
    else:
        loader = torch.utils.data.DataLoader(
            ds, batch_size=5, num_workers=2, multiprocessing_context=context)
        got = []
        for images, info in loader:
            assert images.dtype == torch.uint8
            assert images.shape[1:] == (3, 96, 96)
            for x, y, index, img in zip(info["x"], info["y"], info["index"],
                                        images):
                got.append((float(x), float(y), int(index), img.numpy()))
    keys = [(round(x, 3), round(y, 3)) for x, y, _, _ in got]
    assert len(keys) == len(set(keys)), "a patch delivered twice"
    assert sorted(keys) == sorted(files), "patches missing or extra"
    assert len({i for _, _, i, _ in got}) == len(got)
    for (x, y, _, img), key in zip(got, keys):
        assert np.array_equal(np.transpose(img, (1, 2, 0)),
                              read_image(files[key])), key


def test_fork_after_pixels_is_a_clear_error(slide):
    slidepipe.load(slide).downsample(8).to_numpy()  # pixels in this process
    ds = PatchDataset(slidepipe.load(slide), size=96, min_tissue=0.5)
    loader = torch.utils.data.DataLoader(ds, num_workers=2,
                                         multiprocessing_context="fork")
    with pytest.raises(Exception, match="spawn"):
        for _ in loader:
            pass


def test_single_process_and_transform(slide):
    ds = PatchDataset(slide, size=96, min_tissue=0.5,
                      transform=lambda t: t.float().mean())
    values = [v for v, _ in ds]
    assert values and all(v.dtype == torch.float32 for v in values)
    n = sum(1 for _ in slidepipe.load(slide).patches(96, min_tissue=0.5))
    assert len(values) == n


def test_seed_workflow_example(tmp_path):
    """examples/seed_workflow.py end to end on a real slide, --check:
    one score per patch, scores in [0, 1], the picture's planned size."""
    from conftest import SHARED_DIR
    slide = os.path.join(SHARED_DIR, "slides", "CMU-1-Small-Region.svs")
    if not os.path.exists(slide):
        pytest.skip(f"{slide} is absent (../shared/slides)")
    pytest.importorskip("PIL")
    example = os.path.join(os.path.dirname(__file__), "..", "..",
                           "examples", "seed_workflow.py")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(
        os.path.dirname(os.path.abspath(slidepipe.__file__))))
    r = subprocess.run([sys.executable, example, slide,
                        str(tmp_path / "out.png"), "--check"],
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "out.png").exists()
