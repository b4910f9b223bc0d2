"""`--tune`: each method's key hyperparameters, chosen on a validation split.

As the papers do, every method gets a small grid of its key hyperparameters
(rho for all; alpha for the LookSAM family; rho' for GAM, whose rho is the
gradient-norm radius), each grid point is trained on the training data
minus a validation split carved from it, and the point with the best mean
validation accuracy is kept; the test set is never looked at. The
validation labels are the (noisy) training labels of the carved examples:
under label noise, clean labels are what a user does not have.

Each choice rests on more than one validation run: every point is trained
once per tuning seed (`TUNING_SEEDS`), each seed with its own validation
split, initial weights and batch order, and the mean over them decides.
A choice cannot stop at the grid's edge: when the chosen value of an axis
is the smallest (largest) value tried on it, that value halved (doubled)
is tried too, the other axes held at the choice, and the choice is made
again; an axis extends at most `EXTENSION_STEPS` such steps beyond its
grid (so within [smallest / 4, largest * 4]), the stated bound.

Each variant declares its grid in its class, as `tuning_grid`, with the
grid's source commented beside it; the default, on `Variant`, tunes rho.
"""

import dataclasses
import itertools
import json

import numpy as np

from keras_sam import variants as variants_lib

VALIDATION_FRACTION = 0.2
TUNING_SEEDS = (0, 1)
EXTENSION_STEPS = 2


def grid(method):
    """The list of hyperparameter dicts tried for `method` (ERM: `[{}]`)."""
    if method == "erm":
        return [{}]
    axes = variants_lib.registered()[method].tuning_grid
    names = sorted(axes)
    return [dict(zip(names, values)) for values in itertools.product(*(axes[n] for n in names))]


def describe(params):
    """`rho=0.1, alpha=0.7` (empty for no parameters)."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in sorted(params.items()))


def with_params(config, method, params):
    """`config` with `params` added to `method`'s variant arguments."""
    if not params:
        return config
    merged = dict(config.variant_args)
    merged[method] = {**merged.get(method, {}), **params}
    return dataclasses.replace(config, variant_args=merged)


def validation_split(dataset, y_train, seed):
    """`(dataset, y_train)` for tuning: the training data minus a seeded 20 %
    validation split, which takes the place of the test set."""
    order = np.random.default_rng(10_000 + seed).permutation(len(y_train))
    held = round(VALIDATION_FRACTION * len(y_train))
    fit, val = order[held:], order[:held]
    split = dataclasses.replace(
        dataset,
        name=f"{dataset.name} (validation split)",
        x_train=dataset.x_train[fit], y_train=dataset.y_train[fit],
        x_test=dataset.x_train[val], y_test=np.asarray(y_train)[val],
    )
    return split, np.asarray(y_train)[fit]


def trial_key(method, params, seed):
    return f"tune/{method}/{json.dumps(params, sort_keys=True)}/{seed}"


def choose(trials):
    """The point with the best mean validation accuracy (the first tried on
    a tie); `trials` maps `describe(params)` to `(params, records)`."""
    best, best_accuracy = {}, -np.inf
    for params, records in trials.values():
        accuracy = float(np.mean([r["test_accuracy"] for r in records]))
        if accuracy > best_accuracy:
            best, best_accuracy = params, accuracy
    return best


def bounds(method, name):
    """`(low, high)`: how far axis `name` of `method`'s grid may extend."""
    values = variants_lib.registered()[method].tuning_grid[name]
    factor = 2.0 ** EXTENSION_STEPS
    return min(values) / factor, max(values) * factor


def extension(method, tried, chosen):
    """The points to try next: on each axis where `chosen` holds the
    smallest (largest) value tried on it, that value halved (doubled), the
    other axes held at the choice, within `bounds`; `[]` when the choice is
    inside."""
    axes = variants_lib.registered()[method].tuning_grid if method != "erm" else {}
    points = []
    for name in sorted(axes):
        seen = sorted({p[name] for p in tried})
        low, high = bounds(method, name)
        value = chosen[name]
        for edge, step in ((seen[0], 0.5), (seen[-1], 2.0)):
            candidate = round(value * step, 10)
            if value == edge and low * (1 - 1e-9) <= candidate <= high * (1 + 1e-9):
                points.append({**chosen, name: candidate})
    return points


def tune(method, seeds, train):
    """`(chosen, trials)` for `method`: its grid, extended past every edge
    it chose (`extension`), each point trained once per seed by
    `train(params, seed)` (a record with "test_accuracy", the validation
    accuracy); `trials` maps `describe(params)` to `(params, records)`."""
    trials, points = {}, grid(method)
    while points:
        for params in points:
            trials[describe(params)] = (params, [train(params, seed) for seed in seeds])
        chosen = choose(trials)
        points = [p for p in extension(method, [p for p, _ in trials.values()], chosen)
                  if describe(p) not in trials]
    return choose(trials), trials


def at_bound(method, chosen):
    """The axes of `chosen` that sit at their extension bound (the optimum
    may lie beyond it): `[name, ...]`."""
    if method == "erm":
        return []
    return [name for name, value in sorted(chosen.items())
            if any(abs(value - b) <= 1e-9 * b for b in bounds(method, name))]
