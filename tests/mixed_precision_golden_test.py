"""`mixed_float16` training equals float32 training of the same formula.

The model computes in float16 under a `LossScaleOptimizer` (loss scale
2**15); the reference (`tests/reference.py`) is a float32 copy with the same
weights and seed states, trained with the variant's NumPy formula
(`tests/variants/`). Every gradient a variant sees must be unscaled before a
norm, a statistic or the optimizer: a loss scale left in a gradient, or
applied twice, changes the weights by a factor of about 2**15, far beyond
the float16 rounding that the tolerances allow.
"""

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import variants
from tests import models, reference, switching
from tests.variants.esam_test import esam_reference
from tests.variants.ga_sam_test import ga_sam_reference
from tests.variants.look_sam_test import look_sam_reference
from tests.variants.sam_test import sam_reference

LR, MOMENTUM, STEPS, BATCH = 0.1, 0.9, 4, 16
# float16 passes round activations and gradients to ~1e-3. Four steps move
# the weights little, so their differences from the start ("displacements",
# the steps taken) are compared too. LookSAM's reuse steps add a cached
# difference of two gradients, which doubles the rounding; variant state
# (LookSAM's cached difference, GA-SAM's squared gradients) is compared at
# the precision such differences and squares keep.
WEIGHTS, DISPLACEMENTS, STATE = 2e-3, 5e-3, 5e-2


def _model():
    """Dense -> BatchNorm -> relu -> Dense from seed 0, in the global policy.

    No bias before BatchNorm: its gradient would be zero up to rounding, so
    float16 rounding would be all there is to compare.
    """
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((12,)),
        keras.layers.Dense(16, use_bias=False),
        keras.layers.BatchNormalization(momentum=0.5),
        keras.layers.ReLU(),
        keras.layers.Dense(4),
    ])


def train_mixed_and_reference(variant, reference_gradients, jit_compile):
    """Fits `variant` in mixed_float16 and the float32 reference; returns
    `(model, ref, initial weights)`."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * BATCH, 12)).astype("float32")
    y = rng.integers(0, 4, size=STEPS * BATCH)
    keras.mixed_precision.set_global_policy("mixed_float16")
    inner = _model()
    keras.mixed_precision.set_global_policy("float32")
    twin = _model()
    for target, source in zip(twin.variables, inner.variables):
        target.assign(np.array(source.numpy()))
    assert inner.layers[0].compute_dtype == "float16"
    assert twin.layers[0].compute_dtype == "float32"
    ref = reference.ReferenceModel(twin, models.sparse_ce(), jit_compile=jit_compile)
    initial = ref.weights

    model = keras_sam.SAMModel(inner, variant=variant)
    model.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOMENTUM),
                  loss=models.sparse_ce(), jit_compile=jit_compile)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)

    sgd = reference.MomentumSGD(LR, MOMENTUM)
    for step, batch in enumerate(reference.batches(x, y, BATCH)):
        gradients = reference_gradients(ref, batch, step)
        ref.set_weights(sgd.step(ref.weights, gradients))
    return model, ref, initial


def assert_trained_as_reference(model, ref, initial, looser=1.0):
    weights = [v.numpy() for v in model.model.trainable_variables]
    reference.assert_weights_close(weights, ref.weights, WEIGHTS * looser)
    reference.assert_weights_close(
        [w - w0 for w, w0 in zip(weights, initial)],
        [r - w0 for r, w0 in zip(ref.weights, initial)],
        DISPLACEMENTS * looser,
    )
    # No step was skipped: the loss scale (2**15) never overflowed.
    assert model.history.history["skipped_steps"] == [0.0]
    assert float(model.optimizer.dynamic_scale.numpy()) == 2.0**15


def _jit_cases():
    if keras.backend.backend() == "torch":
        return [False]  # torch.compile is not what this file is about
    return [False, True]


@pytest.mark.parametrize("jit_compile", _jit_cases())
def test_sam_in_mixed_float16_trains_as_float32(jit_compile):
    model, ref, initial = train_mixed_and_reference(
        variants.SAM(rho=0.1), sam_reference(0.1), jit_compile
    )
    assert_trained_as_reference(model, ref, initial)


@pytest.mark.parametrize("jit_compile", _jit_cases())
def test_look_sam_in_mixed_float16_trains_as_float32(jit_compile):
    # k = 2: steps 1 and 3 reuse the cached direction with the clean
    # gradient itself, which no normalization protects from a loss scale.
    cache = switching.ReuseCache(alpha=0.7)
    model, ref, initial = train_mixed_and_reference(
        variants.LookSAM(rho=0.1, k=2, alpha=0.7),
        look_sam_reference(0.1, 2, 0.7, cache), jit_compile,
    )
    assert_trained_as_reference(model, ref, initial, looser=2.5)
    reference.assert_weights_close(
        [v.numpy() for v in model.variant.orthogonal_gradients], cache.cached,
        STATE,
    )


@pytest.mark.parametrize("jit_compile", _jit_cases())
def test_ga_sam_in_mixed_float16_trains_as_float32(jit_compile):
    # GA-SAM's perturbation is invariant to a common factor of the
    # gradients; its second moments are not.
    args = dict(rho=0.1, beta=0.9, min_strength=1e-3, num_ascent_steps=2)
    expected = ga_sam_reference(**args)
    model, ref, initial = train_mixed_and_reference(
        variants.GASAM(**args), expected, jit_compile
    )
    assert_trained_as_reference(model, ref, initial)
    reference.assert_weights_close(
        [v.numpy() for v in model.variant.second_moments], expected.state["v"],
        STATE,
    )


@pytest.mark.parametrize("jit_compile", _jit_cases())
def test_esam_in_mixed_float16_trains_as_float32(jit_compile):
    # ESAM keeps the rows whose loss rose most: a loss scale left in the
    # clean per-sample losses (and not in the perturbed ones) would keep the
    # rows with the smallest clean losses instead, other rows than these.
    expected = esam_reference(0.1, 1.0, 0.5, seed=1)
    model, ref, initial = train_mixed_and_reference(
        variants.ESAM(rho=0.1, beta=1.0, gamma=0.5, seed=1), expected, jit_compile
    )
    assert [len(rows) for rows in expected.selected_rows] == [BATCH // 2] * STEPS
    assert_trained_as_reference(model, ref, initial)
