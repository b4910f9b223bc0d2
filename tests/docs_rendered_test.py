"""Every table the docs render from a results file matches that file."""

import json
import os

from keras_sam.bench import claims, render, report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_rendered_blocks_match_their_results_files():
    assert render.stale() == [], "run: python -m keras_sam.bench.render"


def test_the_readme_renders_the_committed_claims_run():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    assert "<!-- rendered from docs/benchmarks/claims/claims.json -->" in readme
    assert "<!-- rendered from docs/benchmarks/mnist1d/results.json -->" in readme


def test_a_changed_number_is_noticed(tmp_path):
    """The check fails when a doc's table and its file disagree."""
    results = {"claims": []}
    (tmp_path / "claims.json").write_text(json.dumps(results))
    block = ("<!-- rendered from claims.json -->\n" + claims.format_table([]) + "\n"
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
                summary = json.load(f)["summary"]
            with open(os.path.join(dirpath, "table.md")) as f:
                assert f.read().strip() == report.format_table(summary), dirpath
            checked += 1
        if "claims.json" in files:
            with open(os.path.join(dirpath, "claims.json")) as f:
                rows = json.load(f)["claims"]
            with open(os.path.join(dirpath, "claims.md")) as f:
                assert f.read().strip() == claims.format_table(rows), dirpath
            checked += 1
    assert checked >= 2
