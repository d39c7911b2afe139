# SPDX-License-Identifier: LGPL-2.1-or-later
"""README.md's Python program, copied verbatim, runs on a real slide."""

import os
import re
import subprocess
import sys

import pytest

from slidepipe import _capi

from conftest import SHARED_DIR

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


@pytest.mark.skipif(not _capi.api.has_pipelines,
                    reason="the ctypes bindings have no pipelines")
def test_readme_python_block(tmp_path):
    slide = os.path.join(SHARED_DIR, "slides", "CMU-1-Small-Region.svs")
    if not os.path.exists(slide):
        pytest.skip(f"{slide} is absent (../shared/slides)")
    text = open(README, encoding="utf-8").read()
    section = text[text.index("\n## Python\n"):]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    script = tmp_path / "readme.py"
    script.write_text(block)
    import slidepipe
    env = dict(os.environ, PYTHONPATH=os.path.dirname(
        os.path.dirname(os.path.abspath(slidepipe.__file__))))
    r = subprocess.run([sys.executable, str(script), slide], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert "Geometry(width=512, height=512, bands=3" in r.stdout
    assert "reads level" in r.stdout
    assert (tmp_path / "crop.tif").exists()
