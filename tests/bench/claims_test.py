"""The claims table's verdicts are computed from the numbers."""

import pytest

from keras_sam_bench import claims


def _runs(method, baseline, differences, fraction=1.0):
    runs = []
    for seed, difference in enumerate(differences):
        runs.append({"method": baseline, "seed": seed, "test_accuracy": 80.0,
                     "sam_fraction": 1.0})
        runs.append({"method": method, "seed": seed, "test_accuracy": 80.0 + difference,
                     "sam_fraction": fraction})
    return {"runs": runs, "tuning": {method: {"chosen": {"rho": 0.1}}}}


def _claim(method, baseline, kind, **kwargs):
    return claims.Claim("paper", "claim", "regime", "cnn", method, baseline, kind, **kwargs)


@pytest.mark.parametrize("kind, differences, verdict", [
    ("better", [1.0, 1.2, 0.9], "reproduced"),
    ("better", [-1.0, -1.2, -0.9], "not reproduced"),
    ("better", [1.0, -1.0, 0.5], "inconclusive"),
    ("better", [3.0], "inconclusive"),  # one seed: no interval
    ("worse", [-2.0, -2.5, -1.5], "reproduced"),
    ("worse", [2.0, 2.5, 1.5], "not reproduced"),
    ("about as good", [-0.2, -0.4, -0.3], "reproduced"),  # above -MARGIN
    ("about as good", [-3.0, -3.2, -2.9], "not reproduced"),  # below -MARGIN
    ("about as good", [-2.0, 1.0, -0.5], "inconclusive"),
])
def test_verdicts_follow_the_interval(kind, differences, verdict):
    row = claims.evaluate(_claim("wsam", "sam", kind), _runs("wsam", "sam", differences))
    assert row["verdict"] == verdict
    assert row["difference"]["differences"] == pytest.approx(differences)


def test_a_cost_claim_that_does_not_hold_is_not_reproduced():
    claim = _claim("ae_sam", "sam", "about as good", max_sam_fraction=0.6, cost="<= 0.6")
    cheap = claims.evaluate(claim, _runs("ae_sam", "sam", [0.1, 0.2, 0.0], fraction=0.5))
    dear = claims.evaluate(claim, _runs("ae_sam", "sam", [0.1, 0.2, 0.0], fraction=0.9))
    assert (cheap["verdict"], cheap["cost_holds"]) == ("reproduced", True)
    assert (dear["verdict"], dear["cost_holds"]) == ("not reproduced", False)


def test_every_claim_names_a_task_and_methods_the_task_runs():
    tasks = {t.name: t for t in claims.TASKS}
    for claim in claims.CLAIMS:
        methods = ["erm", *tasks[claim.task].config["variants"]]
        assert claim.method in methods and claim.baseline in methods, claim


def test_the_table_shows_the_interval_the_choice_and_the_verdict():
    rows = claims.evaluate_all({"cnn": _runs("sam", "erm", [1.0, 1.2, 0.9])})
    table = claims.format_table(rows).splitlines()
    sam_row = next(line for line in table if "SAM (Foret" in line)
    assert "SAM − ERM (cnn); rho=0.1" in sam_row
    assert "+1.03 [" in sam_row and "**reproduced**" in sam_row
    assert all("(gru)" not in line for line in table)  # task not run: no row


def _timed_runs(times):
    """Three seeds of each method in `times` (method: step time in ms)."""
    return {"runs": [
        {"method": method, "seed": seed, "test_accuracy": 80.0 + 0.1 * seed,
         "sam_fraction": 1.0, "step_time_ms": ms}
        for method, ms in times.items() for seed in range(3)
    ], "tuning": {}}


@pytest.mark.parametrize("esam_ms, holds", [(8.0, True), (10.0, False), (12.0, False)])
def test_a_step_time_claim_compares_with_the_other_method_of_the_run(esam_ms, holds):
    # "lower cost than SAM" is strict: equal step time does not hold.
    claim = _claim("esam", "sam", "about as good", max_step_time=("sam", 1.0),
                   cost="< SAM's")
    row = claims.evaluate(claim, _timed_runs({"sam": 10.0, "esam": esam_ms}))
    assert row["step_time_ratio"] == pytest.approx(esam_ms / 10.0)
    assert row["cost_holds"] is holds
    assert row["verdict"] == ("reproduced" if holds else "not reproduced")


def test_a_stated_step_time_bound_is_inclusive_and_shown():
    claim = _claim("msam", "sam", "about as good", max_step_time=("erm", 1.05),
                   cost="<= 1.05 ERM's")
    row = claims.evaluate(claim, _timed_runs({"erm": 10.0, "sam": 20.0, "msam": 10.5}))
    assert row["cost_holds"] is True and row["step_time_ratio"] == pytest.approx(1.05)
    line = claims.format_table([row]).splitlines()[-1]
    assert "step time / ERM's: 1.05 (<= 1.05 ERM's: yes)" in line
