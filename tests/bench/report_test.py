import csv
import json

import pytest

from keras_sam_bench import report


def _results():
    methods = [("erm", "ERM", 80.0, 0.0), ("sam", "SAM", 82.5, 1.0), ("look_sam", "LookSAM", 81.0, 0.2)]
    summary, runs = [], []
    for index, (method, label, accuracy, fraction) in enumerate(methods):
        summary.append({
            "method": method, "label": label, "seeds": 2,
            "accuracy_mean": accuracy, "accuracy_std": 0.5, "delta_vs_erm": accuracy - 80.0,
            "params": "" if method == "erm" else "rho=0.1",
            "vs_erm": None if method == "erm" else {
                "mean": accuracy - 80.0, "low": accuracy - 81.0, "high": accuracy - 79.0, "n": 2},
            "vs_sam": {"mean": accuracy - 82.5, "low": None, "high": None, "n": 1},
            "wall_time_s": 10.0 + index, "step_time_ms": 5.0 * (1 + fraction),
            "step_time_ratio": 1 + fraction, "sam_fraction": fraction,
            "perturbation_norm": None if method == "erm" else 0.05,
            "sharpness": 0.1 / (1 + index), "hessian_top_eigenvalue": 30.0 - index,
        })
        for seed in (0, 1):
            runs.append({
                "method": method, "seed": seed,
                "history": {"loss": [2.0, 1.5, 1.2], "accuracy": [0.3, 0.5, 0.6]},
                "test_curve": {"epoch": [1, 2, 3], "accuracy": [0.5, 0.7, accuracy / 100]},
            })
    config = {"dataset": "mnist1d", "model": "cnn", "label_noise": 0.3, "seeds": [0, 1], "epochs": 3}
    return {"config": config, "summary": summary, "runs": runs, "total_time_s": 1.0}


def test_table_has_a_header_and_one_row_per_method():
    table = report.format_table(_results()["summary"]).splitlines()
    assert len(table) == 2 + 3
    assert "Δ vs ERM [95 % CI]" in table[0] and "sam_fraction" in table[0]
    assert "tuned" in table[0]
    assert table[2].startswith("| ERM | – | 80.00 ± 0.50 | – | -2.50 (1 seed) | 10.0 |")
    assert table[3].startswith(
        "| SAM | rho=0.1 | 82.50 ± 0.50 | +2.50 [+1.50, +3.50] | – | 11.0 | 2.00 | 1.00 |")
    assert table[4].rstrip().endswith("| 28.00 |")


def test_the_tuned_column_appears_only_after_tuning():
    summary = _results()["summary"]
    for row in summary:
        row["params"] = ""
    assert "tuned" not in report.format_table(summary).splitlines()[0]


def test_write_all_writes_json_csv_png_and_table(tmp_path):
    results = _results()
    paths = report.write_all(results, str(tmp_path / "out"))
    assert json.loads(open(paths["json"]).read()) == results
    rows = list(csv.DictReader(open(paths["csv"])))
    assert [r["method"] for r in rows] == ["erm", "sam", "look_sam"]
    assert float(rows[1]["delta_vs_erm"]) == pytest.approx(2.5)
    assert float(rows[1]["vs_erm_low"]) == pytest.approx(1.5)
    assert rows[1]["params"] == "rho=0.1" and rows[0]["vs_erm_low"] == ""
    assert rows[0]["perturbation_norm"] == ""
    with open(paths["png"], "rb") as f:
        header = f.read(8)
    assert header == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "out" / "results.png").stat().st_size > 20_000
    assert open(paths["table"]).read().count("\n") == 5


def test_every_method_has_its_own_colour_and_marker():
    # ERM and every registered variant, and a few more: no two methods share
    # a colour, and none shares both marker and line style with another.
    from keras_sam import variants
    from keras_sam_bench import report

    count = len(variants.registered()) + 1
    styles = report.method_styles(count + 4)
    colors = [tuple(color) for color, _, _ in styles]
    shapes = [(marker, linestyle) for _, marker, linestyle in styles]
    assert len(set(colors)) == len(colors)
    assert len(set(shapes)) == len(shapes)


def _far_below_results(look_sam_train):
    """ERM 80 %, SAM 82.5 %, LookSAM 60 % test accuracy; LookSAM's final
    training accuracy `look_sam_train` against ERM's (and SAM's) 0.6."""
    results = _results()
    look = results["summary"][2]
    look["accuracy_mean"], look["delta_vs_erm"] = 60.0, -20.0
    for run in results["runs"]:
        if run["method"] == "look_sam":
            run["history"]["accuracy"] = [0.3, look_sam_train]
    return results


@pytest.mark.parametrize("train, reason", [
    (0.40, "underfits at rho=0.1: final training accuracy 40.0 % against ERM's 60.0 %"),
    (0.58, "fits the training labels about as ERM does at rho=0.1"),
])
def test_a_row_far_below_erm_is_marked_with_its_reason(train, reason):
    results = _far_below_results(train)
    notes = report.far_below_notes(results)
    assert list(notes) == ["look_sam"]  # SAM (above ERM) is not marked
    assert reason in notes["look_sam"] and "(-20.0 points)" in notes["look_sam"]
    table = report.format_results(results)
    assert "| LookSAM ‡ |" in table and "| SAM |" in table
    assert table.rstrip().endswith(notes["look_sam"])


def test_rows_within_five_points_of_erm_are_not_marked():
    assert report.far_below_notes(_results()) == {}
    assert "‡" not in report.format_results(_results())
