"""`FollowLearningRate` follows the rate the optimizer uses, whatever sets it.

With `lr_max=None` the radius is `rho_max * lr_t / lr_first`, `lr_first`
being the rate of the variant's first step, recorded in its state. Each
epoch below is one step on the whole data set, so the epoch's logged
`perturbation_norm` is that step's radius (SAM's perturbation has norm
`rho`). The rates a callback sets, and the radii expected from them, are
written out here.
"""

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import schedules, variants
from tests import schedules_test

RATES = [0.1, 0.1, 0.05, 0.05, 0.025]


def _sam(rho_max=0.04, **kwargs):
    return variants.SAM(rho=schedules.FollowLearningRate(rho_max, **kwargs))


def _scheduler():
    return keras.callbacks.LearningRateScheduler(lambda epoch, lr: RATES[epoch])


class _Rates(keras.callbacks.Callback):
    """The optimizer's rate in each epoch (read after the callbacks set it)."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_epoch_begin(self, epoch, logs=None):
        rate = self.model.optimizer.learning_rate
        self.rates.append(float(keras.ops.convert_to_numpy(rate)))


def _plateau():
    # Never an improvement: the rate halves after every 2 epochs (patience 1).
    return keras.callbacks.ReduceLROnPlateau(
        monitor="loss", factor=0.5, patience=1, min_delta=1e9
    )


@pytest.mark.parametrize("callback", [_scheduler, _plateau])
def test_radius_follows_a_rate_set_by_a_callback(callback):
    model = schedules_test._model(_sam(), learning_rate=0.1)
    rates = _Rates()
    history = schedules_test._fit(model, epochs=5, callbacks=[callback(), rates])
    if callback is _scheduler:
        assert rates.rates == pytest.approx(RATES)
    assert len(set(rates.rates)) >= 3  # the callback changed the rate twice
    np.testing.assert_allclose(
        history["perturbation_norm"], [0.04 * r / 0.1 for r in rates.rates],
        rtol=1e-5,
    )


def test_first_rate_is_saved_with_the_model(tmp_path):
    model = schedules_test._model(_sam(), learning_rate=0.1)
    schedules_test._fit(model, epochs=1)
    path = str(tmp_path / "follow.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    loaded.optimizer.learning_rate.assign(0.025)
    history = schedules_test._fit(loaded, epochs=1)
    # The recorded rate 0.1 is kept: a quarter of it is a quarter of rho_max.
    np.testing.assert_allclose(history["perturbation_norm"], [0.01], rtol=1e-5)


def test_radius_follows_the_schedule_under_a_loss_scale_optimizer():
    keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([
        keras.Input((5,)), keras.layers.Dense(4, activation="tanh"),
        keras.layers.Dense(1, dtype="float32"),
    ])
    model = keras_sam.SAMModel(inner, variant=_sam())
    learning_rate = keras.optimizers.schedules.PiecewiseConstantDecay(
        [1, 3], [0.1, 0.05, 0.025]
    )
    # A small initial scale: no step overflows and is skipped (a skipped
    # step does not advance the schedule).
    optimizer = keras.optimizers.LossScaleOptimizer(
        keras.optimizers.SGD(learning_rate), initial_scale=8.0
    )
    model.compile(optimizer=optimizer, loss="mse")
    history = schedules_test._fit(model, epochs=5)
    assert history["skipped_steps"] == [0.0] * 5
    expected = [0.04, 0.04, 0.02, 0.02, 0.01]
    np.testing.assert_allclose(history["perturbation_norm"], expected, rtol=1e-3)
