"""Step-time costs for the claims suite, from an interleaved measurement.

A cost claim ("ESAM costs less than SAM", "MSAM costs what ERM costs") is
judged on step times measured side by side: `benchmarks/step_time.py` runs
every method in one process, in rounds whose order rotates, on the same
synthetic batches, so a method's ratio to another is the median over
rounds of their ratio within a round (load drift falls on both). The
claims suite reads that file (`FILENAME`, in its output folder), written by

    python benchmarks/step_time.py --models resnet,cnn64 --jit off --repeats 21 \\
        --variants sam,esam,msam --memory off --output CLAIMS_DIR/cost/step_time

The verdict rests on `COMPUTE_BOUND` (a ResNet on 32x32x3 images, tens of
ms per ERM step on a CPU, as the papers' ResNets and ViTs are compute-bound);
`SMALL` (the claims tasks' own 1-D CNN, a few ms per step, where fixed
per-op costs dominate) is reported beside it.
"""

import json
import os
import statistics

FILENAME = os.path.join("cost", "step_time.json")
COMPUTE_BOUND = "resnet"
SMALL = "cnn64"


def load(folder):
    """The step-time results in `folder` (the claims output), or None."""
    path = os.path.join(folder, FILENAME)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _times(measurement, model, method):
    for row in measurement["results"]:
        if row["model"] == model and not row["jit"] and row["method"] == method:
            return row["times_ms"]
    return None


def ratios(measurement, model, method, other):
    """`method`'s step time over `other`'s within each round, on `model`
    (jit off); None when either was not measured."""
    if measurement is None:
        return None
    mine, theirs = _times(measurement, model, method), _times(measurement, model, other)
    if not mine or not theirs:
        return None
    return [a / b for a, b in zip(mine, theirs)]


def ratio(measurement, model, method, other):
    """The median over rounds of `ratios`, or None."""
    within = ratios(measurement, model, method, other)
    return statistics.median(within) if within else None


def erm_ms(measurement, model=COMPUTE_BOUND):
    """ERM's median step time on `model` (jit off), or None."""
    times = None if measurement is None else _times(measurement, model, "erm")
    return statistics.median(times) if times else None
