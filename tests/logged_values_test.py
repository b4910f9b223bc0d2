"""`fit` logs the clean pass: loss and compiled metrics, weighted as Keras does.

Expected values come from the independent reference (`tests/reference.py`),
whose passes draw the same dropout masks as SAMModel's, and from NumPy
formulas of Keras's conventions (`tests/clean_pass.py`): the epoch loss is
the mean of the steps' losses weighted by their batch sizes, compiled
`metrics` are unweighted means over the samples, `weighted_metrics` honour
the sample weights. 40 samples in batches of 16 leave a partial last batch
of 8, so a tracker that weighted each step by 1 would log something else.
The same holds under `tf.distribute.MirroredStrategy`
(`tests/logged_values_check.py`, TensorFlow only), where Keras's loss is
divided by the replica count, each replica logs its own part and the epoch's
values are the metrics' results over all replicas (the last step's logs hold
a mean of per-replica results, which differs for a weighted metric).
"""

import keras
import numpy as np
import pytest

import keras_sam
from tests import check_script, clean_pass, models, reference

RHO, LR, MOMENTUM, BATCH = 0.5, 0.1, 0.9, 16
TOLERANCE = 1e-5
LOGGED = ("loss", "sparse_categorical_accuracy", "ce", "weighted_ce")


def data(rows=40):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(rows, 12)).astype("float32")
    y = rng.integers(0, 4, rows)
    sample_weight = rng.uniform(0.2, 2.0, rows).astype("float32")
    return x, y, sample_weight


def assert_logs_clean_pass(logged, expected, perturbed):
    for name in LOGGED:
        assert logged[name] == pytest.approx(expected[name], rel=TOLERANCE), name
    # The controls: each mistake the test guards against would move the
    # logged values far beyond the tolerance.
    loss = expected["loss"]
    assert abs(perturbed["loss"] - loss) > 1000 * TOLERANCE * loss
    assert abs(perturbed["ce"] - expected["ce"]) > 1000 * TOLERANCE * loss
    assert abs(expected["loss_per_step"] - loss) > 100 * TOLERANCE * loss
    assert abs(expected["weighted_ce"] - expected["ce"]) > 100 * TOLERANCE * loss


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_logs_the_clean_pass(jit_compile):
    if jit_compile and keras.backend.backend() == "torch":
        pytest.skip("torch.compile of the step is not what this test is about")
    x, y, sample_weight = data()
    inner = models.bn_dropout_mlp()
    ref = reference.ReferenceModel(inner, models.sparse_ce(), jit_compile=jit_compile)
    model = keras_sam.SAMModel(inner, variant=keras_sam.variants.SAM(rho=RHO))
    model.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOMENTUM),
                  loss=models.sparse_ce(), jit_compile=jit_compile,
                  **clean_pass.metrics())
    history = model.fit(x, y, sample_weight=sample_weight, batch_size=BATCH,
                        epochs=1, shuffle=False, verbose=0).history
    expected, perturbed = clean_pass.sam_epoch(
        ref, x, y, sample_weight, BATCH, RHO,
        reference.MomentumSGD(LR, MOMENTUM), jit_compile=jit_compile,
    )
    # The steps trained as the reference did, so the logs compare like for like.
    reference.assert_weights_close(
        [v.numpy() for v in inner.trainable_variables], ref.weights
    )
    assert_logs_clean_pass(
        {name: values[-1] for name, values in history.items()}, expected, perturbed
    )
    # The step's logs and the metrics' results have the same keys, so `fit`
    # logs the results (global under a strategy), not the last step's logs.
    assert set(model.get_metrics_result()) == set(history)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="tf.distribute is TensorFlow's")
@pytest.mark.slow  # ~14 s: a MirroredStrategy subprocess
def test_mirrored_strategy_logs_the_clean_pass_of_each_replica():
    report = check_script.report("logged_values_check.py")
    assert report["replicas"] == 2
    assert_logs_clean_pass(report["logged"], report["expected"], report["perturbed"])
