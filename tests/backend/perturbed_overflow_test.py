"""A finite clean pass and a non-finite perturbed pass, for every variant.

The realistic case under `mixed_float16` at `w + e`: the clean gradients
are finite, the variant's update is not. The step must be skipped:
`skipped_steps == 1`, and weights, BatchNorm statistics, the variant's state
(integer counters included) and the optimizer's variables bitwise unchanged;
under a `LossScaleOptimizer` the loss scale is halved. CI runs this file on
TensorFlow, JAX and PyTorch.
"""

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import variants
from tests import models

ALL = sorted(variants.registered())
# A radius so large that the perturbed pass overflows exp() to inf.
HUGE = 1e6


def overflow_net():
    """Dense(exp) -> BatchNorm -> Dense: finite at w, NaN at w + e."""
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((12,)),
        keras.layers.Dense(8, activation="exponential"),
        keras.layers.BatchNormalization(momentum=0.5),
        keras.layers.Dense(4),
    ])


def _snapshot(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def _jit_or_skip(jit_compile):
    if jit_compile and keras.backend.backend() == "torch":
        pytest.skip("torch.compile of a step takes minutes on CPU")


class Snapshot(keras.callbacks.Callback):
    """Values right before the step, after the callbacks' on_train_begin
    (AE-SAM's sets the run's total steps there)."""

    def __init__(self, inner, model):
        super().__init__()
        self.inner, self.sam_model = inner, model

    def on_train_batch_begin(self, batch, logs=None):
        self.weights = _snapshot(self.inner.variables)  # kernels, biases, BN
        self.state = _snapshot(self.sam_model.variant.state_variables())
        self.slots = _snapshot(self.sam_model.optimizer.variables)


# MSAM's only pass runs at the perturbed point, so it has no finite clean
# pass to log: test_msam_non_finite_pass_skips_the_step covers it.
@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("name", [n for n in ALL if n != "msam"])
def test_non_finite_perturbed_pass_skips_the_step(name, jit_compile):
    _jit_or_skip(jit_compile)
    inner = overflow_net()
    model = keras_sam.SAMModel(inner, variant=variants.get({"name": name, "rho": HUGE}))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss=models.sparse_ce(), jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    x = (0.1 * rng.normal(size=(16, 12))).astype("float32")
    y = rng.integers(0, 4, 16)
    model.optimizer.build(model.trainable_variables)  # slots to compare
    snapshot = Snapshot(inner, model)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0,
                        callbacks=[snapshot]).history
    weights, state, slots = snapshot.weights, snapshot.state, snapshot.slots
    assert history["skipped_steps"] == [1.0]
    assert np.isfinite(history["loss"][0])  # the clean pass was finite
    for before, v in zip(weights, inner.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), before)
    # Integer state (GA-SAM's step count, ESAM's seed) is restored too.
    assert any(s.dtype.kind in "iu" for s in state) == (name in ("ga_sam", "esam"))
    for before, v in zip(state, model.variant.state_variables()):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), before)
    assert len(slots) == 2 + len(model.trainable_variables)  # step, rate, momenta
    for before, v in zip(slots, model.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), before)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_msam_non_finite_pass_skips_the_step(jit_compile):
    """MSAM's pass at `w - rho * v / ||v||` overflows on step 2 (v = 0 on
    step 1): weights, its momentum `v` and the optimizer are left as they
    were before the step."""
    _jit_or_skip(jit_compile)
    inner = overflow_net()
    model = keras_sam.SAMModel(inner, variant=variants.MSAM(rho=0.3))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss=models.sparse_ce(), jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    x = (0.1 * rng.normal(size=(16, 12))).astype("float32")
    y = rng.integers(0, 4, 16)
    first = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    assert first["skipped_steps"] == [0.0]
    model.variant.rho = HUGE
    snapshot = Snapshot(inner, model)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0,
                        callbacks=[snapshot]).history
    assert history["skipped_steps"] == [1.0]
    assert any(np.any(s != 0) for s in snapshot.state)  # v was moving
    for before, v in zip(snapshot.weights, inner.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), before)
    for before, v in zip(snapshot.state, model.variant.state_variables()):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), before)
    for before, v in zip(snapshot.slots, model.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), before)


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("name", ["sam", "look_sam"])
def test_the_loss_scale_is_halved(name, jit_compile):
    """The skip path under a `LossScaleOptimizer`, XLA on and off."""
    _jit_or_skip(jit_compile)
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = keras_sam.SAMModel(overflow_net(), variant=variants.get({"name": name, "rho": HUGE}))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=models.sparse_ce(),
                  jit_compile=jit_compile)
    model.optimizer.build(model.trainable_variables)
    scale = float(keras.ops.convert_to_numpy(model.optimizer.dynamic_scale))
    rng = np.random.default_rng(0)
    x = (0.1 * rng.normal(size=(16, 12))).astype("float32")
    history = model.fit(x, rng.integers(0, 4, 16), batch_size=16, verbose=0).history
    assert model.jit_compile is jit_compile  # Keras did not fall back
    assert history["skipped_steps"] == [1.0]
    assert float(keras.ops.convert_to_numpy(model.optimizer.dynamic_scale)) == scale / 2


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("name", ["sam", "look_sam"])
def test_a_finite_step_applies_under_the_loss_scale(name, jit_compile):
    """The apply path: weights move, the scale and step counters agree."""
    _jit_or_skip(jit_compile)
    keras.mixed_precision.set_global_policy("mixed_float16")
    inner = overflow_net()
    model = keras_sam.SAMModel(inner, variant=variants.get({"name": name, "rho": 0.05}))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=models.sparse_ce(),
                  jit_compile=jit_compile)
    model.optimizer.build(model.trainable_variables)
    scale = float(keras.ops.convert_to_numpy(model.optimizer.dynamic_scale))
    before = _snapshot(inner.trainable_variables)
    rng = np.random.default_rng(0)
    x = (0.1 * rng.normal(size=(32, 12))).astype("float32")
    history = model.fit(x, rng.integers(0, 4, 32), batch_size=16, verbose=0).history
    assert model.jit_compile is jit_compile
    assert history["skipped_steps"] == [0.0]
    assert float(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2
    assert float(keras.ops.convert_to_numpy(model.optimizer.dynamic_scale)) == scale
    for old, v in zip(before, inner.trainable_variables):
        value = keras.ops.convert_to_numpy(v)
        assert np.all(np.isfinite(value))
        assert not np.array_equal(value, old)
