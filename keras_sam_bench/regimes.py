"""Whether a claims task reached the regime its papers make their claims in.

Each check reads ERM's runs of the task (every seed) and returns a dict:
`name`, `what` (the check in words), `measured`, `needed` and `passed`.
A claim whose task failed a check is "not tested", with the failed check
named, instead of getting a verdict (`verdicts.py`).

- `memorizes` (label noise p, C classes): ERM's final training accuracy on
  the noisy labels, mean over seeds, is at least (1 - p) + p / C + 5
  points: above what a model fitting only the clean rows (and guessing the
  noisy ones) reaches, so ERM fits noise.
- `past_peak`: ERM's test curve (mean over seeds) ends at least 2 points
  below its peak: memorizing the noise visibly costs test accuracy.
- `fits`: ERM's final training accuracy is at least 99 %.
- `trained`: ERM's final test accuracy is at least 50 % (10 classes: 5x
  chance).
- `flat`: ERM's test accuracy moved by at most 1 point between the last
  two points of its curve (the last tenth of the epochs): the schedule
  ends with the model converged.
- `compute_bound` (cost claims): ERM's median step time on the model the
  cost verdict rests on is at least 20 ms, as on the papers' ResNets and
  ViTs, where fixed per-step overheads do not dominate.
"""

import numpy as np

from keras_sam_bench import summary

MEMORIZATION_MARGIN = 5.0  # points above (1 - p) + p / C
PEAK_DROP = 2.0  # points below the test curve's peak
FITS = 99.0  # training accuracy, %
TRAINED = 50.0  # test accuracy, %
FLAT = 1.0  # points between the test curve's last two points
COMPUTE_BOUND_MS = 20.0


def _erm(results):
    return [r for r in results["runs"] if r["method"] == "erm"]


def _check(name, what, measured, needed, passed):
    return {"name": name, "what": what, "measured": round(float(measured), 2),
            "needed": needed, "passed": bool(passed)}


def _final_train_accuracy(results):
    return summary.final_training_accuracy(results["runs"], "erm")


def _mean_curve(results):
    """ERM's test curve, mean over seeds, %."""
    return 100.0 * np.asarray(summary.mean_curve(_erm(results), "test_accuracy")[1])


def memorizes(results):
    p = results["config"]["label_noise"]
    classes = results.get("num_classes", 10)
    floor = 100.0 * ((1 - p) + p / classes) + MEMORIZATION_MARGIN
    measured = _final_train_accuracy(results)
    return _check("memorizes", "ERM's final training accuracy on the noisy labels, %",
                  measured, f">= {floor:.1f}", measured >= floor)


def past_peak(results):
    curve = _mean_curve(results)
    drop = float(curve.max() - curve[-1])
    return _check("past_peak", "ERM's test accuracy, peak minus final, points",
                  drop, f">= {PEAK_DROP:g}", drop >= PEAK_DROP)


def fits(results):
    measured = _final_train_accuracy(results)
    return _check("fits", "ERM's final training accuracy, %", measured,
                  f">= {FITS:g}", measured >= FITS)


def trained(results):
    measured = _mean_curve(results)[-1]
    return _check("trained", "ERM's final test accuracy, %", measured,
                  f">= {TRAINED:g}", measured >= TRAINED)


def flat(results):
    curve = _mean_curve(results)
    moved = abs(float(curve[-1] - curve[-2])) if len(curve) > 1 else float("inf")
    return _check("flat", "ERM's test accuracy, change over the last tenth of "
                  "the epochs, points", moved, f"<= {FLAT:g}", moved <= FLAT)


def compute_bound(erm_ms):
    return _check("compute_bound", "ERM's median step time on the cost model, ms",
                  erm_ms, f">= {COMPUTE_BOUND_MS:g}", erm_ms >= COMPUTE_BOUND_MS)


CHECKS = {f.__name__: f for f in (memorizes, past_peak, fits, trained, flat)}


def check(task, results):
    """Every regime check of `task` (a `claims.Task`) on its results."""
    return [CHECKS[name](results) for name in task.checks]


def failed(checks):
    """`"<what> = <measured> (needs <needed>)"` for the first failed check
    (why its claims are not tested), or None when every check passed."""
    for c in checks:
        if not c["passed"]:
            return f"{c['what']} = {c['measured']:g} (needs {c['needed']})"
    return None
