"""From which step a callback's change of `variant.rho` is used, per backend.

A callback sets `rho` from 0.1 to 0.3 in `on_train_batch_end` at batch 2 of
the first epoch. SAM's `perturbation_norm` of a step equals the `rho` that
step used, so the per-step values (recovered from the running means `fit`
logs) show where the change lands:
- through `self.model.variant` it is used from the next step (batch 3) on
  every backend; on JAX because reading a callback's `self.model` syncs the
  trainer's state into the Keras variables and makes the next step read
  them back (keras/src/callbacks/callback.py, `Callback.model`);
- through a reference the callback kept (the variant passed to its
  constructor), TensorFlow and PyTorch also use it from the next step, but
  on JAX the step never sees it: no sync is triggered, so the step keeps
  its own copy of `rho`, and the end-of-epoch sync writes that copy back
  over the assignment.
"""

import keras
import numpy as np
import pytest

import keras_sam

STEPS, EPOCHS, OLD, NEW = 6, 2, 0.1, 0.3


class ViaModel(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2 and not self.done:
            self.model.variant.rho = NEW
            self.done = True

    def on_train_begin(self, logs=None):
        self.done = False


class Kept(keras.callbacks.Callback):
    def __init__(self, variant):
        super().__init__()
        self.variant = variant

    def on_train_batch_end(self, batch, logs=None):
        if batch == 2 and not self.done:
            self.variant.rho = NEW
            self.done = True

    def on_train_begin(self, logs=None):
        self.done = False


class PerStepNorm(keras.callbacks.Callback):
    """Each step's own `perturbation_norm`, from the epoch's running means."""

    def on_train_begin(self, logs=None):
        self.values = []

    def on_epoch_begin(self, epoch, logs=None):
        self.previous = 0.0

    def on_train_batch_end(self, batch, logs=None):
        mean = float(np.asarray(logs["perturbation_norm"]))
        self.values.append((batch + 1) * mean - batch * self.previous)
        self.previous = mean


def fit_with(kind):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8 * STEPS, 6)).astype("float32")
    y = rng.integers(0, 3, 8 * STEPS)
    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    model = keras_sam.SAMModel(inner, variant=keras_sam.variants.SAM(rho=OLD))
    model.compile(optimizer="sgd",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    record = PerStepNorm()
    change = ViaModel() if kind == "via_model" else Kept(model.variant)
    model.fit(x, y, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0,
              callbacks=[change, record])
    return np.array(record.values), float(keras.ops.convert_to_numpy(model.variant.rho))


CHANGED_FROM_STEP_3 = np.array([OLD] * 3 + [NEW] * (EPOCHS * STEPS - 3))


def test_change_through_self_model_is_used_from_the_next_step():
    per_step, final = fit_with("via_model")
    np.testing.assert_allclose(per_step, CHANGED_FROM_STEP_3, rtol=1e-5)
    assert final == pytest.approx(NEW)


def test_change_through_a_kept_reference():
    per_step, final = fit_with("kept")
    if keras.backend.backend() == "jax":
        # Never used, and overwritten by the epoch-end sync.
        np.testing.assert_allclose(per_step, OLD, rtol=1e-5)
        assert final == pytest.approx(OLD)
    else:
        np.testing.assert_allclose(per_step, CHANGED_FROM_STEP_3, rtol=1e-5)
        assert final == pytest.approx(NEW)
