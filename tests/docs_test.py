"""Every ```python block of README.md and docs/**/*.md runs, as written.

How a page's blocks run (one namespace per page, hidden setup comments,
`skip`/`file` markers) is described in tests/snippets.py and in
docs/backends.md ("Running the docs' code"). The pages run in a subprocess
on the TensorFlow backend: the fast ones all in one process, each slow one
in its own.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from tests import snippets

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The user guide runs every integration (keras-hub, keras-tuner, ...) and
# flatness.md trains two models and runs power iterations: ~40 s.
SLOW = ["docs/using_keras_sam_with.md", "docs/flatness.md"]


def pages_with_code():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [str(p.relative_to(ROOT)) for p in pages if "```python" in p.read_text()]


def run_pages(pages, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
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
        assert results[page]["ran"] == sum(s.kind in ("run", "setup") for s in blocks)
    return results


@pytest.mark.slow  # ~35 s: every page in one subprocess
@pytest.mark.tensorflow_only  # the pages run on TensorFlow whatever the backend
def test_every_fast_page_runs(tmp_path):
    pages = [p for p in pages_with_code() if p not in SLOW]
    assert "README.md" in pages and len(pages) >= 10
    run_pages(pages, tmp_path)


@pytest.mark.slow
@pytest.mark.tensorflow_only
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
"""


def test_the_convention(tmp_path):
    found = snippets.snippets(PAGE)
    assert [s.kind for s in found] == ["setup", "run", "file", "skip", "run"]
    assert found[2].argument == "pkg/mod.py" and found[3].argument == "needs a GPU"
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    work = tmp_path / "work"
    work.mkdir()
    result = snippets.run_page(str(page), work)
    assert result["error"] is None and result["ran"] == 3
    assert result["skipped"] == [f"{page}:14: needs a GPU"]


@pytest.mark.parametrize("bad", [
    "<!-- snippet: skip -->\n```python\npass\n```\n",          # no reason
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
