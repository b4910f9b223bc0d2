"""`class_weight` in `fit` trains every pass on the class-weighted loss.

Keras turns `class_weight` into per-sample weights (`class_weight[y]`) in
its data adapter, before the train step; SAMModel must then hand those
weights to the loss of every pass: the clean one and each perturbed one.
The reference (`tests/reference.py` with the variants' NumPy formulas from
`tests/variants/`) trains with `sample_weight = class_weight[y]`; the same
reference without weights must be far off, so the test tells weighted from
unweighted training. Compiled by XLA (`jit_compile=True`) where the backend
has it, with multi-pass variants: GAM (4 passes) and SAM (2).
"""

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import variants
from tests import models, reference
from tests.variants.gam_test import ARGS as GAM_ARGS
from tests.variants.gam_test import gam_reference
from tests.variants.sam_test import sam_reference

CLASS_WEIGHT = {0: 4.0, 1: 0.25, 2: 1.0, 3: 2.0}
LR, MOMENTUM, STEPS, BATCH = 0.1, 0.9, 4, 16
TOLERANCE = 1e-5

CASES = {
    "gam": (lambda: variants.GAM(**GAM_ARGS), lambda: gam_reference(**GAM_ARGS)),
    "sam": (lambda: variants.SAM(rho=0.1), lambda: sam_reference(0.1)),
}


def reference_weights(inner, x, y, sample_weight, gradients_fn, jit_compile):
    """The reference's weights after one epoch from `inner`'s start."""
    ref = reference.ReferenceModel(inner, models.sparse_ce(), jit_compile=jit_compile)
    sgd = reference.MomentumSGD(LR, MOMENTUM)
    for step, batch in enumerate(reference.batches(x, y, BATCH, sample_weight)):
        ref.set_weights(sgd.step(ref.weights, gradients_fn(ref, batch, step)))
    return ref.weights


# GAM (four passes under XLA, ~33 s) runs in the slow step.
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n == "gam" else n for n in sorted(CASES)
])
def test_class_weight_trains_every_pass_on_the_weighted_loss(name):
    # Keras's torch backend compiles with torch.compile, not XLA.
    jit_compile = keras.backend.backend() != "torch"
    make_variant, make_reference = CASES[name]
    rng = np.random.default_rng(7)
    x = rng.normal(size=(STEPS * BATCH, 12)).astype("float32")
    y = rng.integers(0, 4, size=STEPS * BATCH)
    assert set(y) == set(CLASS_WEIGHT)
    inner = models.bn_dropout_mlp()
    weighted = np.array([CLASS_WEIGHT[c] for c in y], "float32")
    expected = reference_weights(inner, x, y, weighted, make_reference(), jit_compile)
    unweighted = reference_weights(inner, x, y, None, make_reference(), jit_compile)

    model = keras_sam.SAMModel(inner, variant=make_variant())
    model.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOMENTUM),
                  loss=models.sparse_ce(), jit_compile=jit_compile)
    model.fit(x, y, class_weight=CLASS_WEIGHT, batch_size=BATCH, epochs=1,
              shuffle=False, verbose=0)

    actual = [v.numpy() for v in inner.trainable_variables]
    reference.assert_weights_close(actual, expected, TOLERANCE)
    # The control: unweighted training ends far from the weighted one.
    error = max(reference.relative_error(a, e) for a, e in zip(actual, unweighted))
    assert error > 1000 * TOLERANCE
