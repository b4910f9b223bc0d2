"""Optimizer features through SAMModel, on whichever backend runs the tests.

CI runs this file on TensorFlow, JAX and PyTorch (docs/backends.md): loss
scaling, skipped non-finite steps, gradient accumulation and (XLA on CPU)
the both-branches select reach the step through the backend files, not
through the variants.
"""

import warnings

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam.backend import common
from tests import models


def _data(rows=64, nan_batch=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 12)).astype("float32")
    y = rng.integers(0, 4, size=rows)
    if nan_batch is not None:
        x[nan_batch * 16] = np.nan
    return x, y


def _compile(model, optimizer):
    model.compile(optimizer=optimizer, loss=models.sparse_ce())


def test_mixed_precision_scales_the_loss_and_keeps_rho():
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = keras_sam.SAMModel(models.bn_dropout_mlp(), variant=keras_sam.variants.SAM(rho=0.05))
    _compile(model, keras.optimizers.SGD(0.1))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    history = model.fit(*_data(), batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert history.history["skipped_steps"] == [0.0]
    # The norm of the offsets is taken on unscaled gradients: exactly rho.
    np.testing.assert_allclose(history.history["perturbation_norm"], [0.05], rtol=1e-3)
    assert all(np.isfinite(w).all() for w in model.model.get_weights())


@pytest.mark.parametrize("variant", ["sam", "look_sam", "ae_sam"])
def test_a_non_finite_step_changes_nothing_but_is_counted(variant):
    inner = models.bn_dropout_mlp()
    model = keras_sam.SAMModel(inner, variant=variant)
    _compile(model, keras.optimizers.SGD(0.1, momentum=0.9))
    x, y = _data(rows=32, nan_batch=1)
    model.fit(x[:16], y[:16], batch_size=16, epochs=1, shuffle=False, verbose=0)

    class Snapshot(keras.callbacks.Callback):
        # After the callbacks' own on_train_begin (AE-SAM's sets T).
        def on_train_batch_begin(self, batch, logs=None):
            self.weights = [w.copy() for w in inner.get_weights()]
            self.state = [np.array(v.numpy()) for v in model.variant.state_variables()]
            self.slots = [np.array(v.numpy()) for v in model.optimizer.variables[1:]]

    before = Snapshot()
    history = model.fit(x[16:], y[16:], batch_size=16, epochs=1, verbose=0,
                        callbacks=[before])
    assert history.history["skipped_steps"] == [1.0]
    for value, after in zip(before.weights, inner.get_weights()):
        np.testing.assert_array_equal(value, after)
    for value, v in zip(before.state, model.variant.state_variables()):
        np.testing.assert_array_equal(value, v.numpy())
    for value, v in zip(before.slots, model.optimizer.variables[1:]):
        np.testing.assert_array_equal(value, v.numpy())


def test_a_skipped_step_leaves_perturbation_norm_finite():
    # The NaN batch's offsets are NaN; the epoch's mean is over the others.
    model = keras_sam.SAMModel(models.seeded_tanh_mlp(),
                               variant=keras_sam.variants.SAM(rho=0.05))
    _compile(model, keras.optimizers.SGD(0.1))
    x, y = _data(rows=48, nan_batch=1)
    history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert history.history["skipped_steps"] == [1.0]
    np.testing.assert_allclose(history.history["perturbation_norm"], [0.05], rtol=1e-5)


def test_gradient_accumulation_applies_every_second_batch():
    inner = models.seeded_tanh_mlp()
    start = [w.copy() for w in inner.get_weights()]
    model = keras_sam.SAMModel(inner, variant="sam")
    _compile(model, keras.optimizers.SGD(0.1, gradient_accumulation_steps=2))
    x, y = _data()
    model.fit(x[:16], y[:16], batch_size=16, epochs=1, shuffle=False, verbose=0)
    # One batch accumulated, nothing applied yet.
    for before, after in zip(start, inner.get_weights()):
        np.testing.assert_array_equal(before, after)
    model.fit(x[16:], y[16:], batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2
    assert not np.array_equal(start[0], inner.get_weights()[0])


def _fit_conditional_variant(variant, jit_compile):
    inner = models.seeded_conv_net()
    model = keras_sam.SAMModel(inner, variant=variant)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss=models.sparse_ce(), jit_compile=jit_compile)
    x, y = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x[..., None], y, batch_size=16, epochs=2,
                            shuffle=False, verbose=0)
    selected = any("perturbed pass on every step" in str(w.message) for w in caught)
    state = [keras.ops.convert_to_numpy(v) for v in model.variant.state_variables()]
    return history.history, inner.get_weights() + state, selected


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="XLA compiles TensorFlow and JAX steps, not PyTorch's")
@pytest.mark.slow  # ~17 s each: XLA compiles both branches of a conv net
@pytest.mark.parametrize("variant", [
    lambda: keras_sam.variants.LookSAM(k=2),
    lambda: keras_sam.variants.AELookSAM(lambda_1=-0.5, lambda_2=0.5),
])
def test_xla_on_cpu_selects_the_branch_with_the_same_result(variant, monkeypatch):
    # XLA:CPU compiles convolutions inside a conditional as naive loops, so
    # a conditional variant on a conv model evaluates both branches there
    # and keeps the taken one: the same weights, state and logs as `cond`
    # (also under XLA: its dropout masks differ from the uncompiled step's).
    history, values, selected = _fit_conditional_variant(variant(), jit_compile=True)
    monkeypatch.setattr(common, "_selects_branches", lambda model, compiled: False)
    reference, reference_values, reference_selected = _fit_conditional_variant(
        variant(), jit_compile=True)
    assert selected and not reference_selected
    # Both branches were taken during the run.
    assert min(reference["sam_fraction"]) < 1.0, reference
    assert max(reference["sam_fraction"]) > 0.0, reference
    for key in ("loss", "sam_fraction", "perturbation_norm", "skipped_steps"):
        np.testing.assert_allclose(history[key], reference[key], rtol=1e-5, atol=1e-7)
    for got, expected in zip(values, reference_values):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
