"""Extracts and runs the ```python blocks of a markdown page.

Convention (docs/backends.md, "Running the docs' code", predates the
tensorflow-only marker):
- a page's blocks run in order in one namespace, in a fresh empty working
  directory that is also on `sys.path`, so later blocks see the names
  earlier ones defined;
- `<!-- snippet-setup` ... `-->` is code hidden from the rendered page that
  runs where it stands (tiny data, the `inner` model a fragment uses);
- a marker comment on the line before a block changes how it is used:
  `<!-- snippet: skip REASON -->` does not run it (REASON is required),
  `<!-- snippet: file PATH -->` writes it to PATH (a module a later block
  imports) instead of running it,
  `<!-- snippet: tensorflow-only REASON -->` runs it on the TensorFlow
  backend only and skips it, with REASON, on JAX and PyTorch (a line that
  needs TensorFlow, such as `export`; the page says so in its text).
Every other block claims to run on every backend: the pages run on the
backend of `KERAS_BACKEND`, and tests/docs_test.py runs them on each.
Any other marker, a skip without a reason or a marker without a block is
an error, as is an exception in any block that runs.

Run as a script, `python tests/snippets.py RESULTS.json PAGE...` runs the
pages one after another in this process (one import of Keras for all) and
writes, per page, how many blocks ran on the backend of `KERAS_BACKEND`,
which were skipped and why, and the traceback of the first failure.
"""

import dataclasses
import json
import os
import pathlib
import re
import sys
import tempfile
import textwrap
import traceback

ROOT = pathlib.Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(\S+)\s*(.*?)\s*-->\s*$")
SETUP = re.compile(r"^\s*<!--\s*snippet-setup\s*$")
KINDS = ("skip", "file", "tensorflow-only")


@dataclasses.dataclass
class Snippet:
    kind: str  # "run", "setup", "skip", "file" or "tensorflow-only"
    code: str
    line: int  # 1-based line of the fence or comment that opens it
    argument: str = ""  # the reason of a skip or tensorflow-only, a file's path


def snippets(text, page="<page>"):
    """The page's python blocks and setup comments, in order."""
    lines, found, marker, i = text.splitlines(), [], None, 0
    while i < len(lines):
        line = lines[i]
        fence, tag, setup = FENCE.match(line), MARKER.match(line), SETUP.match(line)
        if setup:
            end = _closing(lines, i, lambda s: s.strip() == "-->", page)
            found.append(Snippet("setup", "\n".join(lines[i + 1:end]) + "\n", i + 1))
            i = end + 1
            continue
        if tag:
            kind, argument = tag.groups()
            if kind not in KINDS or not argument:
                raise ValueError(
                    f"{page}:{i + 1}: a snippet marker is `<!-- snippet: skip "
                    "REASON -->`, `<!-- snippet: tensorflow-only REASON -->` or "
                    f"`<!-- snippet: file PATH -->`; got {line.strip()!r}")
            marker = (kind, argument, i + 1)
            i += 1
            continue
        if fence:
            end = _closing(lines, i, lambda s: FENCE.match(s) is not None, page)
            if fence.group(2) == "python":
                code = textwrap.dedent("\n".join(lines[i + 1:end])) + "\n"
                kind, argument = (marker or ("run", ""))[:2]
                found.append(Snippet(kind, code, i + 1, argument))
                marker = None
            i = end + 1
            if marker:
                break
            continue
        if marker and line.strip():
            break
        i += 1
    if marker:
        raise ValueError(f"{page}:{marker[2]}: a snippet marker must be on the "
                         "line right before a ```python block")
    return found


def _closing(lines, start, closes, page):
    for j in range(start + 1, len(lines)):
        if closes(lines[j]):
            return j
    raise ValueError(f"{page}:{start + 1}: block not closed")


def runs_on(snippet, backend):
    """Whether `snippet` runs (or is written, for a file) on `backend`."""
    if snippet.kind == "skip":
        return False
    return snippet.kind != "tensorflow-only" or backend == "tensorflow"


def run_page(page, workdir, backend="tensorflow"):
    """Runs `page` (relative to the repository) in `workdir`; a summary.

    `backend`: the Keras backend the process runs (blocks marked
    tensorflow-only are skipped on the others).
    """
    result = {"ran": 0, "skipped": [], "error": None}
    namespace = {"__name__": "__main__"}
    cwd, path = os.getcwd(), list(sys.path)
    os.chdir(workdir)
    sys.path.insert(0, str(workdir))
    try:
        for snippet in snippets((ROOT / page).read_text(), page):
            where = f"{page}:{snippet.line}"
            if not runs_on(snippet, backend):
                kind = "" if snippet.kind == "skip" else f"{snippet.kind}: "
                result["skipped"].append(f"{where}: {kind}{snippet.argument}")
                continue
            if snippet.kind == "file":
                target = pathlib.Path(workdir, snippet.argument)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(snippet.code)
                continue
            exec(compile(snippet.code, where, "exec"), namespace)
            result["ran"] += 1
    except Exception:  # noqa: BLE001 - reported, with its traceback
        result["error"] = traceback.format_exc()[-4000:]
    finally:
        os.chdir(cwd)
        sys.path[:] = path
    return result


def main(output, *pages):
    import keras

    backend, results = keras.backend.backend(), {}
    for page in pages:
        keras.utils.clear_session()
        workdir = tempfile.mkdtemp(prefix=re.sub(r"\W", "_", page) + "_", dir=os.getcwd())
        results[page] = run_page(page, workdir, backend)
        print(f"page {page} done", flush=True)
    pathlib.Path(output).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
