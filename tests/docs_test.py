"""Every code block of the user guides runs, top to bottom, as written."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The user guide runs every integration (keras-hub, keras-tuner, ...): slow.
PAGES = [pytest.param("docs/using_keras_sam_with.md", marks=pytest.mark.slow), "docs/flatness.md"]


def python_blocks(page):
    return re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), re.S)


@pytest.mark.parametrize("page", PAGES)
def test_page_runs(page, tmp_path):
    pytest.importorskip("keras_hub")
    pytest.importorskip("keras_tuner")
    blocks = python_blocks(page)
    assert blocks
    # One script, so later blocks see the names earlier ones defined; a
    # marker after each block shows how far it got.
    script = "\n".join(
        f"{block}\nprint('block {i} ok', flush=True)" for i, block in enumerate(blocks)
    )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert f"block {len(blocks) - 1} ok" in result.stdout
