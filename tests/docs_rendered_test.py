"""Every table the docs render from a results file matches that file."""

import json
import os
import re

from keras_sam_bench import render, report, verdicts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_rendered_blocks_match_their_results_files():
    assert render.stale() == [], "run: python -m keras_sam_bench.render"


def test_the_readme_renders_the_committed_claims_run():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    assert "<!-- rendered from docs/benchmarks/claims/claims.json -->" in readme
    assert "<!-- rendered from docs/benchmarks/mnist1d/results.json -->" in readme


def test_a_changed_number_is_noticed(tmp_path):
    """The check fails when a doc's table and its file disagree."""
    results = {"claims": [], "regimes": []}
    (tmp_path / "claims.json").write_text(json.dumps(results))
    block = ("<!-- rendered from claims.json -->\n" + verdicts.format_document(results)
             + "\n"
             "<!-- end rendered -->\n")
    assert render.render_text(block, str(tmp_path)) == block
    edited = block.replace("| paper |", "| Paper |")
    assert render.render_text(edited, str(tmp_path)) != edited


def test_committed_tables_match_their_json():
    """table.md / claims.md, written by the benchmark, re-render from the JSON."""
    folder = os.path.join(ROOT, "docs", "benchmarks")
    checked = 0
    for dirpath, _, files in os.walk(folder):
        if "results.json" in files and "table.md" in files:
            with open(os.path.join(dirpath, "results.json")) as f:
                results = json.load(f)
            with open(os.path.join(dirpath, "table.md")) as f:
                assert f.read().strip() == report.format_results(results), dirpath
            checked += 1
        if "claims.json" in files:
            with open(os.path.join(dirpath, "claims.json")) as f:
                document = json.load(f)
            with open(os.path.join(dirpath, "claims.md")) as f:
                assert f.read().strip() == verdicts.format_document(document), dirpath
            checked += 1
    assert checked >= 2


STEP_TIME = os.path.join("docs", "benchmarks", "step_time_sam.json")


def _step_time_root(tmp_path, rows=None):
    """A repository with README.md rendering a copy of a committed step-time run."""
    with open(os.path.join(ROOT, STEP_TIME)) as f:
        result = json.load(f)
    if rows is not None:
        result["results"] = rows(result["results"])
    (tmp_path / "docs" / "benchmarks").mkdir(parents=True)
    (tmp_path / STEP_TIME).write_text(json.dumps(result))
    text = "".join(f"<!-- rendered from {STEP_TIME}{view} -->\n<!-- end rendered -->\n"
                   for view in ("", "#summary", "#targets"))
    (tmp_path / "README.md").write_text(render.render_text(text, str(tmp_path)))
    return result


def test_a_hand_edited_step_time_number_is_noticed(tmp_path):
    result = _step_time_root(tmp_path)
    assert render.stale(str(tmp_path)) == []
    readme = (tmp_path / "README.md").read_text()
    sam = next(r for r in result["results"] if r["method"] == "sam")
    ratio = f"| {sam['ratio_erm']:.2f} |"
    assert ratio in readme
    (tmp_path / "README.md").write_text(readme.replace(ratio, "| 1.27 |", 1))
    assert render.stale(str(tmp_path)) == ["README.md"]


def test_a_new_variant_renders_without_listing_it(tmp_path):
    """Rows of a variant the renderer has never seen render from the file alone."""
    def add_variant(rows):
        new = [dict(r, method="friendly_sam", label="FriendlySAM", ratio_erm=1.234)
               for r in rows if r["method"] == "sam"]
        return rows + new
    _step_time_root(tmp_path, add_variant)
    readme = (tmp_path / "README.md").read_text()
    assert readme.count("| FriendlySAM | ") == 7  # a report row per group, a summary row
    assert "| FriendlySAM | 1.23 | 1.23 | 1.23 | 1.23 | 1.23 | 1.23 |" in readme


# A step-time ratio ("1.50×", "~10×") or a time per step ("6.4 ms/step"),
# but not a shape ("32×32", "10 timed steps × 12 rounds").
HAND_WRITTEN = re.compile(r"\d(?:\.\d+)?\s?×(?!\s?\d)|\d(?:\.\d+)?\s?ms(?:/| per )step")


def hand_written_step_times(root=ROOT):
    """`path:line: text` of every step-time number outside a rendered block."""
    found = []
    for path in render.documents(root):
        relative = os.path.relpath(path, root)
        with open(path) as f:
            text = render.BLOCK.sub(lambda m: "\n" * m[0].count("\n"), f.read())
        for number, line in enumerate(text.splitlines(), 1):
            if HAND_WRITTEN.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_no_step_time_number_is_written_by_hand():
    """Every step-time ratio in the docs is rendered from a results file."""
    assert hand_written_step_times() == []


def test_the_scan_finds_a_hand_written_ratio(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "A 32×32 image.\n<!-- rendered from x.json -->\n| SAM | 1.50× |\n"
        "<!-- end rendered -->\n")
    (tmp_path / "docs" / "page.md").write_text("SAM costs 1.90× ERM, ERM 6.4 ms/step.\n")
    assert hand_written_step_times(str(tmp_path)) == [
        os.path.join("docs", "page.md") + ":1: SAM costs 1.90× ERM, ERM 6.4 ms/step."]


# A run's duration ("about 20 minutes", "took 6 min", "~2 hours") outside a
# rendered block: it would drift from the run it describes.
RUN_TIME = re.compile(r"(?:about|took|takes|~)\s*\d+(?:\.\d+)?\s*(?:minutes?|min\b|hours?)",
                      re.I)


def hand_written_run_times(root=ROOT):
    """`path: text` of every run duration written outside a rendered block."""
    found = []
    for path in render.documents(root):
        with open(path) as f:
            text = re.sub(r"\s+", " ", render.BLOCK.sub("", f.read()))
        found += [f"{os.path.relpath(path, root)}: {m[0]}" for m in RUN_TIME.finditer(text)]
    return found


def test_no_run_time_is_written_by_hand():
    """A benchmark run's time is rendered from its results file (#time)."""
    assert hand_written_run_times() == []
    with open(os.path.join(ROOT, "docs", "benchmarks", "mnist1d.md")) as f:
        assert "<!-- rendered from docs/benchmarks/mnist1d/results.json#time -->" in f.read()


def test_a_hand_written_run_time_is_noticed(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("Each method trains for 20 epochs, about 20\n"
                                        "minutes in all; CI stays under 45 minutes.\n")
    (tmp_path / "docs" / "page.md").write_text("It took 6 min.\n")
    assert hand_written_run_times(str(tmp_path)) == [
        "README.md: about 20 minutes", os.path.join("docs", "page.md") + ": took 6 min"]


def test_a_changed_run_time_is_noticed(tmp_path):
    results = os.path.join("docs", "benchmarks", "mnist1d", "results.json")
    (tmp_path / os.path.dirname(results)).mkdir(parents=True)
    with open(os.path.join(ROOT, results)) as f:
        result = json.load(f)
    (tmp_path / results).write_text(json.dumps(result))
    block = f"<!-- rendered from {results}#time -->\n<!-- end rendered -->\n"
    readme = render.render_text(block, str(tmp_path))
    minutes = f"in {result['total_time_s'] / 60:.0f} minutes on "
    assert minutes in readme and f"ERM and {len(result['config']['variants'])} " in readme
    (tmp_path / "README.md").write_text(readme)
    assert render.stale(str(tmp_path)) == []
    (tmp_path / "README.md").write_text(readme.replace(minutes, "in 6 minutes on "))
    assert render.stale(str(tmp_path)) == ["README.md"]
