# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fixtures of the Python package's tests (tests/python.sh runs them).

Environment, as `make check` sets it:
  SLIDEPIPE_LIBRARY  the built library, src/.libs/libslidepipe.so
  EXAMPLES           the built examples (make-slide makes the synthetic slide)
  SHARED_DIR         ../shared beside the repository (real slides), optional
"""

import os
import subprocess

import pytest

SHARED_DIR = os.environ.get(
    "SHARED_DIR",
    os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
EXAMPLES = os.environ.get(
    "EXAMPLES", os.path.join(os.path.dirname(__file__), "..", "..", "examples"))

REAL_SLIDES = ["CMU-1-Small-Region.svs", "tcga-cr-7395-01a-01-ts1.svs"]

# what the parity tests compared, summed over the run
STATS = {"slides": set(), "regions": 0, "exact_regions": 0, "pixels": 0,
         "associated_pixels": 0}


@pytest.fixture(scope="session")
def synthetic_slide(tmp_path_factory):
    """A 3000 × 2000 generic tiled TIFF, JPEG Q 80 in 256² tiles, 5 levels
    (2×, 4×, 8× and 16.02× down), mpp 0.25, made by examples/make-slide."""
    tool = os.path.join(EXAMPLES, "make-slide")
    if not os.access(tool, os.X_OK):
        pytest.skip(f"{tool} is not built")
    path = str(tmp_path_factory.mktemp("synthetic") / "synthetic.tif")
    subprocess.run([tool, "3000", "2000", path], check=True,
                   stdout=subprocess.DEVNULL)
    return path


@pytest.fixture(params=["synthetic"] + REAL_SLIDES)
def slide_path(request):
    """Each slide the parity tests run on: the synthetic one and the real
    ones in ../shared/slides (skipped, saying so, when absent)."""
    if request.param == "synthetic":
        return request.getfixturevalue("synthetic_slide")
    path = os.path.join(SHARED_DIR, "slides", request.param)
    if not os.path.exists(path):
        pytest.skip(f"{path} is absent (../shared/slides)")
    return path


def pytest_terminal_summary(terminalreporter):
    if not STATS["slides"]:
        return
    terminalreporter.write_line(
        "parity with openslide-python: {} slides, {} read_region calls "
        "({} pixel-exact), {} region pixels, {} associated-image pixels "
        "compared".format(len(STATS["slides"]), STATS["regions"],
                          STATS["exact_regions"], STATS["pixels"],
                          STATS["associated_pixels"]))
