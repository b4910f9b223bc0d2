"""The claims table's verdicts are computed from the numbers, in the regime."""

import numpy as np
import pytest

from keras_sam_bench import claims, regimes, verdicts


def _runs(method, baseline, differences, fraction=1.0):
    runs = []
    for seed, difference in enumerate(differences):
        runs.append({"method": baseline, "seed": seed, "test_accuracy": 80.0,
                     "sam_fraction": 1.0})
        runs.append({"method": method, "seed": seed, "test_accuracy": 80.0 + difference,
                     "sam_fraction": fraction})
    return {"runs": runs, "tuning": {method: {"chosen": {"rho": 0.1}}}}


def _claim(method, baseline, kind, **kwargs):
    return claims.Claim("paper", "claim", "regime", "noisy_cnn", method, baseline, kind,
                        **kwargs)


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
    row = verdicts.evaluate(_claim("wsam", "sam", kind), _runs("wsam", "sam", differences))
    assert row["verdict"] == verdict
    assert row["difference"]["differences"] == pytest.approx(differences)


def test_a_cost_claim_that_does_not_hold_is_not_reproduced():
    claim = _claim("ae_sam", "sam", "about as good", max_sam_fraction=0.6, cost="<= 0.6")
    cheap = verdicts.evaluate(claim, _runs("ae_sam", "sam", [0.1, 0.2, 0.0], fraction=0.5))
    dear = verdicts.evaluate(claim, _runs("ae_sam", "sam", [0.1, 0.2, 0.0], fraction=0.9))
    assert (cheap["verdict"], cheap["cost_holds"]) == ("reproduced", True)
    assert (dear["verdict"], dear["cost_holds"]) == ("not reproduced", False)


def test_every_claim_names_a_task_and_methods_the_task_runs():
    tasks = {t.name: t for t in claims.TASKS}
    for claim in claims.CLAIMS:
        methods = ["erm", *tasks[claim.task].config["variants"]]
        assert claim.method in methods and claim.baseline in methods, claim
        assert tasks[claim.task].checks, claim.task  # every task checks its regime


def _erm_curves(train_final, test_curve, seeds=3, noise=0.3):
    """A task's results whose ERM ends at `train_final` training accuracy
    with test curve `test_curve` (fractions)."""
    runs = [{"method": "erm", "seed": s, "test_accuracy": 100 * test_curve[-1],
             "history": {"accuracy": [0.5, train_final]},
             "test_curve": {"epoch": list(range(len(test_curve))), "accuracy": test_curve}}
            for s in range(seeds)]
    return {"config": {"label_noise": noise}, "num_classes": 10, "runs": runs}


@pytest.mark.parametrize("train_final, curve, failed", [
    (0.86, [0.7, 0.87, 0.8, 0.705, 0.70], None),  # memorized, past the peak
    (0.65, [0.7, 0.84, 0.845, 0.84, 0.84], "noisy labels"),  # the old cnn task
    (0.86, [0.7, 0.80, 0.85, 0.86, 0.86], "peak minus final"),  # no test decline
])
def test_the_noisy_task_is_tested_only_where_erm_memorizes(train_final, curve, failed):
    task = next(t for t in claims.TASKS if t.name == "noisy_cnn")
    checks = regimes.check(task, _erm_curves(train_final, curve))
    reason = regimes.failed(checks)
    assert (reason is None) == (failed is None)
    if failed:
        assert failed in reason
        # the needed value is (1 - p) + p / C + 5 points = 78 for p = 0.3
        assert any(c["needed"] == ">= 78.0" for c in checks)
        row = verdicts.evaluate(_claim("sam", "erm", "better"),
                                {**_runs("sam", "erm", [8, 9, 7])}, checks)
        assert row["verdict"] == "not tested" and row["not_tested"] == reason


@pytest.mark.parametrize("task_name, train_final, curve, passed", [
    ("clean_cnn", 0.997, [0.9, 0.95, 0.952], True),
    ("clean_cnn", 0.95, [0.9, 0.95, 0.952], False),  # not fitted
    ("clean_cnn", 0.997, [0.9, 0.93, 0.95], False),  # still rising
    ("gru", 0.99, [0.5, 0.95, 0.955], True),
    ("gru", 0.42, [0.3, 0.39, 0.40], False),  # the old GRU: barely trained
])
def test_clean_and_gru_regimes(task_name, train_final, curve, passed):
    task = next(t for t in claims.TASKS if t.name == task_name)
    checks = regimes.check(task, _erm_curves(train_final, curve, noise=0.0))
    assert (regimes.failed(checks) is None) is passed


def _cost(times_ms):
    """An interleaved step-time file: `{model: {method: [per-round ms]}}`."""
    return {"command": "python benchmarks/step_time.py ...", "results": [
        {"model": model, "jit": False, "method": method, "times_ms": times}
        for model, methods in times_ms.items() for method, times in methods.items()]}


SAM_MS = [20, 30, 25, 22, 28, 24, 26, 21, 29, 23]  # 10 rounds


@pytest.mark.parametrize("factors, holds, verdict", [
    ([0.8] * 10, True, "reproduced"),          # below SAM's in every round
    ([1.0] * 10, False, "not reproduced"),     # equal: "lower" is strict
    ([0.9, 1.1] * 5, None, "inconclusive"),    # the interval straddles 1
])
def test_a_step_time_claim_reads_the_compute_bound_model_round_by_round(
        factors, holds, verdict):
    claim = _claim("esam", "sam", "about as good", max_step_time=("sam", 1.0),
                   cost="step time < SAM's")
    esam = [f * t for f, t in zip(factors, SAM_MS)]
    cost = _cost({"resnet": {"erm": [50] * 10, "sam": SAM_MS, "esam": esam},
                  "cnn64": {"erm": [3] * 10, "sam": [5] * 10, "esam": [6] * 10}})
    row = verdicts.evaluate(claim, _runs("esam", "sam", [0.1, 0.2, 0.0]), (), cost)
    assert row["step_time_ratio"] == pytest.approx(float(np.median(factors)))
    assert row["small_model_step_time_ratio"] == pytest.approx(1.2)
    assert row["cost_holds"] is holds
    assert row["verdict"] == verdict
    line = verdicts.format_table([row]).splitlines()[-1]
    assert "small model 1.20" in line
    assert {True: "yes)", False: "no)", None: "undecided)"}[holds] in line


def test_a_cost_that_fails_outright_is_not_reproduced_whatever_the_accuracy():
    claim = _claim("msam", "erm", "about as good", max_step_time=("erm", 1.05),
                   cost="<= 1.05 ERM's")
    cost = _cost({"resnet": {"erm": SAM_MS, "msam": [1.2 * t for t in SAM_MS]}})
    row = verdicts.evaluate(claim, _runs("msam", "erm", [0.1, 0.2, 0.0]), (), cost)
    assert (row["cost_holds"], row["verdict"]) == (False, "not reproduced")
    # Too few rounds for an interval: undecided, whatever the median.
    few = _cost({"resnet": {"erm": SAM_MS[:5], "msam": [1.2 * t for t in SAM_MS[:5]]}})
    row = verdicts.evaluate(claim, _runs("msam", "erm", [0.1, 0.2, 0.0]), (), few)
    assert row["cost_holds"] is None and row["step_time_interval"]["low"] is None


def test_a_step_time_claim_without_a_compute_bound_measurement_is_not_tested():
    claim = _claim("msam", "sam", "about as good", max_step_time=("erm", 1.05),
                   cost="<= 1.05 ERM's")
    missing = verdicts.evaluate(claim, _runs("msam", "sam", [0.1, 0.2, 0.0]), (), None)
    assert missing["verdict"] == "not tested" and "step_time.json" in missing["not_tested"]
    light = _cost({"resnet": {"erm": [5, 5, 5], "msam": [5, 5, 5]}})  # 5 ms: not compute-bound
    row = verdicts.evaluate(claim, _runs("msam", "sam", [0.1, 0.2, 0.0]), (), light)
    assert row["verdict"] == "not tested" and "step time on the cost model" in row["not_tested"]


def test_the_table_shows_the_interval_its_width_the_choice_and_the_verdict():
    results = _erm_curves(0.86, [0.8, 0.7])  # ERM: 70 % test accuracy, memorized
    results["runs"] += [{"method": "sam", "seed": seed, "test_accuracy": 70.0 + d,
                         "sam_fraction": 1.0} for seed, d in enumerate([1.0, 1.2, 0.9])]
    results["tuning"] = {"sam": {"chosen": {"rho": 0.1}, "at_bound": ["rho"]}}
    rows = verdicts.evaluate_all({"noisy_cnn": results})
    table = verdicts.format_table(rows).splitlines()
    sam_row = next(line for line in table if "SAM (Foret" in line)
    assert "SAM − ERM (noisy_cnn); rho=0.1 (at bound)" in sam_row
    assert "+1.03 [" in sam_row and "| 0.76 |" in sam_row and "**reproduced**" in sam_row
    assert all("(gru)" not in line for line in table)  # task not run: no row
