"""The summary of a benchmark run: one row per method over its seeds."""

import numpy as np

from keras_sam import variants as variants_lib
from keras_sam_bench import statistics, tuning

ERM = "erm"


def method_label(identifier):
    """Display name: "ERM" or the variant's class name ("SAM", "LookSAM", ...)."""
    if identifier == ERM:
        return "ERM"
    return variants_lib.registered()[identifier].__name__


def mean_curve(runs, key):
    """`(epochs, mean values)` over seeds of a per-epoch history entry or the test curve."""
    if key == "test_accuracy":
        curves = [(r["test_curve"]["epoch"], r["test_curve"]["accuracy"]) for r in runs]
    else:
        curves = [
            (list(range(1, len(r["history"][key]) + 1)), r["history"][key])
            for r in runs if r["history"].get(key)
        ]
    if not curves:
        return None, None
    length = min(len(values) for _, values in curves)
    mean = [sum(values[i] for _, values in curves) / len(curves) for i in range(length)]
    return curves[0][0][:length], mean


def final_training_accuracy(runs, method):
    """The mean over `method`'s runs of its last epoch's training accuracy, %."""
    return 100.0 * float(np.mean([r["history"]["accuracy"][-1]
                                  for r in runs if r["method"] == method]))


def summarize(runs, methods, chosen=None):
    """One summary row per method: means over seeds, ratios to ERM, and the
    paired differences against ERM and SAM with their 95 % intervals.

    `chosen` maps a method to the hyperparameters `--tune` picked for it.
    """
    chosen = chosen or {}
    rows = []
    for identifier in methods:
        mine = [r for r in runs if r["method"] == identifier]
        accuracies = np.array([r["test_accuracy"] for r in mine])
        mean = lambda key: (  # noqa: E731
            None if mine[0][key] is None else float(np.mean([r[key] for r in mine]))
        )
        norms = [r["perturbation_norm"] for r in mine if r["perturbation_norm"] is not None]
        rows.append({
            "method": identifier,
            "label": method_label(identifier),
            "seeds": len(mine),
            "params": tuning.describe(chosen.get(identifier, {})),
            "accuracy_mean": float(accuracies.mean()),
            "accuracy_std": float(accuracies.std(ddof=1)) if len(mine) > 1 else 0.0,
            "vs_erm": statistics.paired_difference(runs, identifier, ERM),
            "vs_sam": statistics.paired_difference(runs, identifier, "sam"),
            "wall_time_s": mean("wall_time_s"),
            "step_time_ms": mean("step_time_ms"),
            "sam_fraction": mean("sam_fraction"),
            "perturbation_norm": float(np.mean(norms)) if norms else None,
            "sharpness": mean("sharpness"),
            "hessian_top_eigenvalue": mean("hessian_top_eigenvalue"),
        })
    base = rows[0]
    for row in rows:
        row["delta_vs_erm"] = row["accuracy_mean"] - base["accuracy_mean"]
        row["step_time_ratio"] = row["step_time_ms"] / base["step_time_ms"]
    return rows
