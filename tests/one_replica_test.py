"""SAMModel under a one-replica tf.distribute strategy (one GPU's usual setup).

With one replica the step must equal the step without a strategy, including
a skipped non-finite step. A one-replica strategy is the case where
TensorFlow's two rules meet: the optimizer's update synchronizes (it must run
across replicas, even with one), while a variant's branch under a
one-replica strategy runs in replica context.
"""

import contextlib

import keras
import numpy as np
import pytest

import keras_sam
from tests import models

pytestmark = pytest.mark.tensorflow_only

BATCH = 16


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4 * BATCH, 12)).astype("float32")
    y = rng.integers(0, 4, 4 * BATCH)
    x[2 * BATCH + 3] = np.nan  # the third step is skipped
    return x, y


def _train(variant_id, strategy=None):
    x, y = _data()
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = keras_sam.SAMModel(
            models.seeded_tanh_mlp(), variant=keras_sam.variants.get(variant_id)
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                      loss=models.sparse_ce())
    history = model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    return [v.numpy() for v in model.model.trainable_variables], history.history


@pytest.mark.parametrize("variant_id", ["sam", "look_sam", "ae_sam"])
def test_one_replica_strategy_trains_as_no_strategy(variant_id):
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(["CPU:0"])
    weights, history = _train(variant_id, strategy)
    expected, expected_history = _train(variant_id)
    assert history["skipped_steps"] == expected_history["skipped_steps"] == [1.0, 1.0]
    for w, e in zip(weights, expected):
        assert np.isfinite(w).all()
        np.testing.assert_allclose(w, e, rtol=1e-5, atol=1e-6)
