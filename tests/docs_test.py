"""Every ```python block of README.md and docs/**/*.md runs, as written,
on every backend it claims.

How a page's blocks run (one namespace per page, hidden setup comments,
`skip`/`file`/`tensorflow-only` markers) is described in tests/snippets.py.
A block without a marker claims every backend, so the pages run in a
subprocess on the backend of this session (`KERAS_BACKEND`): CI's
TensorFlow run takes every page (`slow`: the fast pages in one process,
each slow one in its own), its JAX and PyTorch runs take the first steps
(FIRST, not slow); `KERAS_BACKEND=jax pytest -m slow tests/docs_test.py`
runs every page on JAX.
"""

import json
import os
import pathlib
import subprocess
import sys

import keras
import pytest

from tests import snippets

ROOT = pathlib.Path(__file__).resolve().parents[1]
BACKEND = keras.backend.backend()
# What a newcomer runs first, on every backend in CI (about 10 s).
FIRST = ["README.md", "docs/getting_started.md"]
# The user guide runs every integration (keras-hub, keras-tuner, ...) and
# flatness.md trains two models and runs power iterations: ~40 s.
SLOW = ["docs/using_keras_sam_with.md", "docs/flatness.md"]


def pages_with_code():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [str(p.relative_to(ROOT)) for p in pages if "```python" in p.read_text()]


def run_pages(pages, tmp_path, backend=BACKEND):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(ROOT)}
    output = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "snippets.py"), str(output), *pages],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    results = json.loads(output.read_text())
    failures = {page: r["error"] for page, r in results.items() if r["error"]}
    assert not failures, "\n\n".join(f"{p}:\n{e}" for p, e in failures.items())
    for page in pages:
        blocks = snippets.snippets((ROOT / page).read_text(), page)
        expected = sum(s.kind != "file" and snippets.runs_on(s, backend) for s in blocks)
        assert results[page]["ran"] == expected, page
    return results


def test_the_first_steps_run(tmp_path):
    """README and getting_started, on this session's backend (CI: all three)."""
    assert set(FIRST) <= set(pages_with_code())
    run_pages(FIRST, tmp_path)


@pytest.mark.slow  # ~35 s on TensorFlow: every page in one subprocess
def test_every_fast_page_runs(tmp_path):
    pages = [p for p in pages_with_code() if p not in SLOW]
    assert "README.md" in pages and len(pages) >= 10
    run_pages(pages, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("page", SLOW)
def test_slow_page_runs(page, tmp_path):
    if page == "docs/using_keras_sam_with.md":
        pytest.importorskip("keras_hub")
        pytest.importorskip("keras_tuner")
    run_pages([page], tmp_path)


PAGE = """# A page
<!-- snippet-setup
data = [1, 2]
-->
```python
total = sum(data)
```
<!-- snippet: file pkg/mod.py -->
```python
VALUE = 40
```
<!-- snippet: skip needs a GPU -->

```python
raise SystemExit("never run")
```
```bash
echo not python
```
```python
from pkg.mod import VALUE
assert VALUE + total == 43
```
<!-- snippet: tensorflow-only a SavedModel needs TensorFlow -->
```python
print("only on TensorFlow")
```
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_the_convention(tmp_path, backend):
    found = snippets.snippets(PAGE)
    assert [s.kind for s in found] == ["setup", "run", "file", "skip", "run",
                                       "tensorflow-only"]
    assert found[2].argument == "pkg/mod.py" and found[3].argument == "needs a GPU"
    assert found[5].argument == "a SavedModel needs TensorFlow"
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    work = tmp_path / "work"
    work.mkdir()
    result = snippets.run_page(str(page), work, backend)
    skipped = [f"{page}:14: needs a GPU"]
    if backend == "tensorflow":
        assert result["error"] is None and result["ran"] == 4
    else:
        skipped.append(f"{page}:25: tensorflow-only: a SavedModel needs TensorFlow")
        assert result["error"] is None and result["ran"] == 3
    assert result["skipped"] == skipped


@pytest.mark.parametrize("bad", [
    "<!-- snippet: skip -->\n```python\npass\n```\n",          # no reason
    "<!-- snippet: tensorflow-only -->\n```python\npass\n```\n",  # no reason
    "<!-- snippet: maybe later -->\n```python\npass\n```\n",   # unknown marker
    "<!-- snippet: skip why -->\ntext\n```python\npass\n```\n",  # not right before
    "```python\npass\n",                                       # not closed
])
def test_bad_markers_are_errors(bad):
    with pytest.raises(ValueError, match="snippet marker|not closed"):
        snippets.snippets(bad)


def test_an_unmarked_failing_block_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 1\n```\ntext\n```python\nx / 0\n```\n")
    result = snippets.run_page(str(page), tmp_path)
    assert result["ran"] == 1
    assert "ZeroDivisionError" in result["error"] and "page.md:5" in result["error"]
