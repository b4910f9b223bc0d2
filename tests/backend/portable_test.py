"""Optimizer features through SAMModel, on whichever backend runs the tests.

CI runs this file on TensorFlow, JAX and PyTorch (docs/backends.md): loss
scaling, skipped non-finite steps and gradient accumulation reach the step
through the backend file, not through the variants.
"""

import keras
import numpy as np
import pytest

import keras_sam
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
