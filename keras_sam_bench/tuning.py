"""`--tune`: each method's key hyperparameters, chosen on a validation split.

As the papers do, every method gets a small grid of its key hyperparameters
(rho for all; alpha for the LookSAM family; rho' for GAM, whose rho is the
gradient-norm radius), each grid point is trained on the training data
minus a validation split carved from it, and the point with the best
validation accuracy is kept; the test set is never looked at. The
validation labels are the (noisy) training labels of the carved examples:
under label noise, clean labels are what a user does not have.

Each variant declares its grid in its class, as `tuning_grid`, with the
grid's source commented beside it; the default, on `Variant`, tunes rho.
"""

import dataclasses
import itertools
import json

import numpy as np

from keras_sam import variants as variants_lib

VALIDATION_FRACTION = 0.2


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


def choose(method, trials):
    """The grid point with the best mean validation accuracy (the first
    in grid order on a tie); `trials` maps `describe(params)` to records."""
    best, best_accuracy = {}, -np.inf
    for params in grid(method):
        records = trials[describe(params)]
        accuracy = float(np.mean([r["test_accuracy"] for r in records]))
        if accuracy > best_accuracy:
            best, best_accuracy = params, accuracy
    return best
