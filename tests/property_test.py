"""Property-based: random small models, batch sizes, rho, variants, optimizers.

For any of them, a step never leaves a non-finite weight, and with a
learning rate of 0 the weights stay bitwise unchanged (docs/design.md: the
weights after the step are what the optimizer made of the exact `w`, never
add-then-subtract).
"""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keras_sam
from keras_sam import variants
from tests import models

VARIANTS = sorted(variants.registered())


@st.composite
def problems(draw):
    return {
        "layer": draw(st.sampled_from(["dense", "conv1d"])),
        "batch_norm": draw(st.booleans()),
        "dropout": draw(st.booleans()),
        "width": draw(st.integers(1, 8)),
        "samples": draw(st.integers(1, 24)),
        "batch_size": draw(st.integers(1, 16)),
        "rho": draw(st.floats(1e-4, 2.0)),
        "optimizer": draw(st.sampled_from(["sgd", "adam"])),
        "seed": draw(st.integers(0, 2**16)),
    }


def _inner(problem, classes):
    if problem["layer"] == "dense":
        layers = [keras.Input((6,)), keras.layers.Dense(problem["width"])]
    else:
        layers = [keras.Input((5, 3)),
                  keras.layers.Conv1D(problem["width"], 3, padding="same")]
    if problem["batch_norm"]:
        layers.append(keras.layers.BatchNormalization())
    layers.append(keras.layers.Activation("relu"))
    if problem["dropout"]:
        layers.append(keras.layers.Dropout(0.3, seed=problem["seed"]))
    if problem["layer"] == "conv1d":
        layers.append(keras.layers.GlobalAveragePooling1D())
    layers.append(keras.layers.Dense(classes))
    return keras.Sequential(layers)


def _data(problem, classes):
    rng = np.random.default_rng(problem["seed"])
    shape = (6,) if problem["layer"] == "dense" else (5, 3)
    x = rng.normal(size=(problem["samples"], *shape)).astype("float32")
    return x, rng.integers(0, classes, problem["samples"])


def _values(model):
    return [np.array(v.numpy()) for v in model.variables + model.optimizer.variables]


@settings(
    max_examples=2,  # per variant: 16 models in all
    deadline=None,
    database=None,  # a failure prints its example; nothing is written
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(problem=problems())
@pytest.mark.parametrize("variant_id", VARIANTS)
def test_any_step_keeps_weights_finite_and_zero_learning_rate_changes_nothing(
    variant_id, problem
):
    keras.utils.set_random_seed(problem["seed"])
    classes = 3
    inner = _inner(problem, classes)
    variant = variants.get({"name": variant_id, "rho": problem["rho"]})
    model = keras_sam.SAMModel(inner, variant=variant)
    optimizer = {"sgd": keras.optimizers.SGD(0.0, momentum=0.9),
                 "adam": keras.optimizers.Adam(0.0)}[problem["optimizer"]]
    model.compile(optimizer=optimizer, loss=models.sparse_ce())
    x, y = _data(problem, classes)
    fit = dict(batch_size=problem["batch_size"], epochs=1, verbose=0)

    before = [np.array(v.numpy()) for v in inner.trainable_variables]
    history = model.fit(x, y, **fit)
    for b, v in zip(before, inner.trainable_variables):
        np.testing.assert_array_equal(v.numpy(), b)
    assert history.history["skipped_steps"] == [0.0]

    # The same traced step with a real learning rate: weights move, finitely.
    model.optimizer.learning_rate.assign(0.1)
    model.fit(x, y, **fit)
    for value in _values(model):
        if np.issubdtype(value.dtype, np.floating):
            assert np.all(np.isfinite(value))
    after = [v.numpy() for v in inner.trainable_variables]
    assert any(not np.array_equal(a, b) for a, b in zip(after, before))
