"""The step-time benchmark's predictions and target checks (no timing here)."""

import importlib.util
import pathlib
import types

import pytest

_PATH = pathlib.Path(__file__).parents[2] / "benchmarks" / "step_time_report.py"
_SPEC = importlib.util.spec_from_file_location("step_time_report", _PATH)
report = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(report)


@pytest.mark.parametrize(
    "method, variant, fraction, expected",
    [
        ("erm", None, None, 1.0),
        ("floor", None, None, 2.0),
        ("sam", None, 1.0, 2.0),
        ("wsam", None, 1.0, 2.0),
        ("gam", None, 1.0, 4.0),
        ("ga_sam", types.SimpleNamespace(num_ascent_steps=3), 1.0, 4.0),
        ("look_sam", types.SimpleNamespace(k=4), 0.25, 1.25),
        ("ae_sam", None, 0.3, 1.3),
        ("ae_look_sam", None, 0.2, 1.2),
        ("gsam", None, 1.0, 2.0),
        ("friendly_sam", None, 1.0, 2.0),
        ("msam", None, 1.0, 1.0),
        ("esam", types.SimpleNamespace(gamma=0.5), 1.0, 1.0 + 1.0 / 3.0 + 0.5),
        ("some_future_variant", None, 0.5, None),
    ],
)
def test_predicted_passes(method, variant, fraction, expected):
    passes = report.predicted_passes(method, variant, fraction)
    if expected is None:
        assert passes is None
    else:
        assert passes == pytest.approx(expected)


def test_calibrated_ratio_interpolates_between_erm_and_floor():
    # ERM 1 pass -> 1.0, the floor's 2 passes -> its own ratio, 4 passes on.
    assert report.calibrated_ratio(1.0, 1.6) == pytest.approx(1.0)
    assert report.calibrated_ratio(2.0, 1.6) == pytest.approx(1.6)
    assert report.calibrated_ratio(4.0, 1.6) == pytest.approx(2.8)
    assert report.calibrated_ratio(None, 1.6) is None


def _row(method, ratios, ratio_floor=None, fractions=(), k=None):
    return {"model": "cnn", "jit": False, "method": method, "label": method,
            "ratios_erm": list(ratios), "ratio_erm": sorted(ratios)[len(ratios) // 2],
            "ratio_floor": ratio_floor, "sam_fractions": list(fractions), "k": k}


def test_targets_pass_and_fail_at_their_limits():
    rows = [
        _row("erm", [1.0, 1.0, 1.0]),
        _row("sam", [2.1, 2.2, 1.9], ratio_floor=1.02, fractions=[1, 1, 1]),
        _row("look_sam", [1.3, 1.2, 1.4], fractions=[0.2, 0.2, 0.2], k=5),
        # Excess over 1 + sam_fraction per round: 0.04, 0.06, 0.00.
        _row("ae_sam", [1.24, 1.66, 1.5], fractions=[0.2, 0.6, 0.5]),
    ]
    checks = {c["target"]: c for c in report.targets(rows)}
    assert {name: c["pass"] for name, c in checks.items()} == {
        "SAM/ERM <= 2.0": False,
        "SAMModel SAM / floor <= 1.03": True,
        "LookSAM(k=5)/ERM <= 1.25": False,
        "AE-SAM/ERM - (1 + sam_fraction) <= 0.05": True,
    }
    assert checks["AE-SAM/ERM - (1 + sam_fraction) <= 0.05"]["value"] == (
        pytest.approx(0.04)
    )


def test_ae_sam_target_fails_when_rounds_exceed_their_own_fraction():
    rows = [_row("erm", [1.0, 1.0]), _row("ae_sam", [1.4, 1.5], fractions=[0.2, 0.3])]
    (check,) = report.targets(rows)
    assert check["value"] == pytest.approx(0.2) and not check["pass"]


def test_looksam_target_only_applies_to_k_5():
    rows = [_row("erm", [1.0]), _row("look_sam", [1.6], fractions=[0.5], k=2)]
    assert report.targets(rows) == []


def test_markdown_marks_failures_and_lists_every_method():
    rows = [dict(_row("erm", [1.0]), median_ms=3.0, passes=1.0, sam_fraction=None,
                 predicted_ratio=1.0, peak_mb=1.0, peak_delta_mb=0.0,
                 batch_size=8, parameters=10, timed_steps=5, times_ms=[3.0]),
            dict(_row("look_sam", [1.6], fractions=[0.2], k=5), median_ms=4.8,
                 passes=1.2, sam_fraction=0.2, predicted_ratio=1.1, peak_mb=1.0,
                 peak_delta_mb=0.0, batch_size=8, parameters=10, timed_steps=5,
                 times_ms=[4.8])]
    text = report.markdown(rows, report.targets(rows), ["header"])
    assert "| LookSAM(k=5)/ERM <= 1.25 | cnn, jit off | 1.600 | 1.250 | **FAIL** |" in text
    assert "| ERM (keras.Model) | 3.00 | 1.00 |" in text
    assert "| look_sam | 4.80 | 1.60 |" in text


def test_targets_name_the_model_by_its_label():
    rows = [dict(_row("erm", [1.0]), model_label="1-D CNN (25 filters)"),
            dict(_row("sam", [1.5], ratio_floor=1.0), model_label="1-D CNN (25 filters)")]
    wheres = {c["where"] for c in report.targets(rows)}
    assert wheres == {"1-D CNN (25 filters), jit off"}
