"""`sam_fraction` is exact, and `steps_per_execution` changes nothing."""

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import variants
from tests import models

ALL = sorted(variants.registered())


def _data(steps, batch=16):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * batch, 12)).astype("float32")
    return x, rng.integers(0, 4, size=steps * batch)


def _counting(variant_class, **kwargs):
    """The variant, counting its perturbed steps in a variable of its own:
    steps that call the gradient oracle, or whose first pass runs at
    non-zero offsets (MSAM)."""

    class Counting(variant_class):
        def build(self, input_shape):
            super().build(input_shape)
            self.perturbed_steps = self.add_weight(
                shape=(), initializer="zeros", trainable=False, name="perturbed_steps")

        def first_pass_offsets(self, variables):
            offsets = super().first_pass_offsets(variables)
            if offsets is not None:
                moved = variants.global_norm(offsets) > 0.0
                self.perturbed_steps.assign_add(keras.ops.cast(moved, "float32"))
            return offsets

        def compute_gradients(self, gradient_fn, gradients, variables, step):
            return super().compute_gradients(
                _Counted(gradient_fn, self.perturbed_steps), gradients, variables, step
            )

    return Counting(**kwargs)


class _Counted:
    """The oracle, counting the first perturbed pass of a step (GAM: 3)."""

    def __init__(self, oracle, counter):
        self.oracle, self.counter, self.calls = oracle, counter, 0

    def __call__(self, offsets, **kwargs):
        if not self.calls:
            self.counter.assign_add(1.0)
        self.calls += 1
        return self.oracle(offsets, **kwargs)

    def __getattr__(self, name):  # the oracle's other methods (ESAM's)
        return getattr(self.oracle, name)


@pytest.mark.parametrize("name", ALL)
def test_sam_fraction_is_the_share_of_perturbed_steps(name):
    kwargs = {"k": 5} if name == "look_sam" else {}
    adaptive = name in ("ae_sam", "ae_look_sam")
    if adaptive:  # thresholds at which this run takes both branches
        kwargs = {"lambda_1": 0.0, "lambda_2": 2.0}
    steps = 12 if adaptive else 3
    variant = _counting(type(variants.get(name)), **kwargs)
    model = keras_sam.SAMModel(models.bn_dropout_mlp(), variant=variant)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=models.sparse_ce())
    history = model.fit(*_data(steps), batch_size=16, shuffle=False, verbose=0).history
    perturbed = float(keras.ops.convert_to_numpy(variant.perturbed_steps))
    if adaptive:
        # The switch's own decisions, recorded; the run takes both branches.
        assert 0 < perturbed < steps
        expected = perturbed / steps
    else:  # LookSAM k=5 over 3 steps: step 0 only; MSAM: v = 0 at step 0
        expected = {"look_sam": 1 / 3, "msam": 2 / 3}.get(name, 1.0)
        assert perturbed == steps * expected
    np.testing.assert_allclose(history["sam_fraction"], [expected], rtol=1e-6)


# One variant of each kind of step in the fast set (every pass, a period,
# the adaptive switch, a first pass at offsets, a pass on some rows); the
# others (~6 s each) in the slow step.
FAST = {"sam", "look_sam", "ae_sam", "msam", "esam"}


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="Keras runs torch steps one at a time")
@pytest.mark.parametrize("name", [
    n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in ALL
])
def test_steps_per_execution_changes_nothing(name):
    x, y = _data(6)
    results = []
    for steps in (1, 3):
        keras.utils.set_random_seed(0)
        variant = variants.get({"name": name, **({"k": 2} if name == "look_sam" else {})})
        model = keras_sam.SAMModel(models.bn_dropout_mlp(), variant=variant)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                      loss=models.sparse_ce(), steps_per_execution=steps)
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False,
                            verbose=0).history
        # Weights, BatchNorm and seed states, the variant's state (AE
        # statistics, caches, counters) and the optimizer's.
        values = [keras.ops.convert_to_numpy(v) for v in
                  model.variables + model.optimizer.variables]
        results.append((history, values))
    (first, a), (second, b) = results
    for key in ("loss", "sam_fraction", "perturbation_norm", "skipped_steps"):
        np.testing.assert_allclose(first[key], second[key], rtol=1e-5)
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
