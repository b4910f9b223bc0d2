import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_sam
from keras_sam.callbacks import AdaptiveSAMCallback
from tests import models


def _data(n=48):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 12)).astype("float32"), rng.integers(0, 4, n)


def _model(variant="ae_sam"):
    model = keras_sam.SAMModel(models.bn_dropout_mlp(), variant=variant)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=models.sparse_ce())
    return model


def _statistics(model):
    policy = model.variant.policy
    return [float(v.numpy()) for v in (
        policy.moving_mean, policy.moving_variance, policy.total_steps
    )]


class _Recorder(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.epochs, self.batches = [], []

    def on_train_batch_end(self, batch, logs=None):
        total_steps = self.model.variant.policy.total_steps
        self.batches.append(float(total_steps.numpy()))

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(_statistics(self.model))


@pytest.mark.parametrize("variant", ["ae_sam", "ae_look_sam"])
def test_plain_fit_learns_total_steps_and_logs_statistics(variant):
    x, y = _data()
    model, recorder = _model(variant), _Recorder()
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0,
                        callbacks=[recorder])
    assert recorder.batches == [9.0] * 9  # epochs * steps, from the start
    logs = history.history
    for key in ("ae_mu", "ae_sigma", "ae_c", "sam_fraction"):
        assert len(logs[key]) == 3
    mean, variance, _ = zip(*recorder.epochs)
    np.testing.assert_allclose(logs["ae_mu"], mean, rtol=1e-6)
    np.testing.assert_allclose(logs["ae_sigma"], np.sqrt(variance), rtol=1e-6)
    # c of the last step of each epoch (t = 2, 5, 8 of T = 9).
    config = model.variant.get_config()
    lambda_1, lambda_2 = config["lambda_1"], config["lambda_2"]
    expected = [(t / 9) * lambda_1 + (1 - t / 9) * lambda_2 for t in (2, 5, 8)]
    np.testing.assert_allclose(logs["ae_c"], expected, rtol=1e-6)


def test_total_steps_counts_updates_under_gradient_accumulation():
    """Keras advances `iterations` once per 2 batches: T = 3 * 4 // 2."""
    x, y = _data(64)
    model = keras_sam.SAMModel(models.bn_dropout_mlp(), variant="ae_sam")
    model.compile(optimizer=keras.optimizers.SGD(0.1, gradient_accumulation_steps=2),
                  loss=models.sparse_ce())
    recorder = _Recorder()
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[recorder])
    assert recorder.batches == [6.0] * 12
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 6  # t reached T


def test_statistics_survive_keras_round_trip_and_resumed_fit(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    model.save(tmp_path / "ae.keras")
    loaded = keras.models.load_model(tmp_path / "ae.keras")
    assert _statistics(loaded) == _statistics(model)
    assert _statistics(loaded)[2] == 6.0
    # A resumed run keeps the run's length: T = epochs * steps, not the
    # remaining epochs only (t continues from the optimizer's counter).
    recorder = _Recorder()
    loaded.fit(x, y, batch_size=16, epochs=4, initial_epoch=2, verbose=0,
               callbacks=[recorder])
    assert recorder.batches == [12.0] * 6


def test_statistics_survive_weights_checkpoints(tmp_path):
    # ModelCheckpoint(save_weights_only) and BackupAndRestore use these files.
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    model.save_weights(tmp_path / "ae.weights.h5")
    fresh = _model()
    fresh.load_weights(tmp_path / "ae.weights.h5")
    assert _statistics(fresh) == _statistics(model)
    assert _statistics(fresh)[0] > 0


def test_unknown_steps_per_epoch_are_measured():
    x, y = _data()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).filter(
        lambda *_: True
    ).batch(16)
    model, recorder = _model(), _Recorder()
    model.fit(dataset, epochs=3, verbose=0, callbacks=[recorder])
    assert recorder.batches[:3] == [2.0**31] * 3  # c_t = lambda_2 meanwhile
    assert recorder.batches[3:] == [9.0] * 6


def test_given_callback_fixes_total_steps_and_is_not_duplicated():
    x, y = _data()
    model, recorder = _model(), _Recorder()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0,
              callbacks=[AdaptiveSAMCallback(total_steps=100), recorder])
    assert recorder.batches == [100.0] * 3


def test_callback_needs_an_adaptive_variant():
    x, y = _data()
    with pytest.raises(ValueError, match="AdaptivePolicy"):
        _model("sam").fit(x, y, epochs=1, verbose=0,
                          callbacks=[AdaptiveSAMCallback()])


@pytest.mark.parametrize("total_steps", [0, -1, 2.5, True])
def test_invalid_total_steps(total_steps):
    with pytest.raises(ValueError, match="total_steps"):
        AdaptiveSAMCallback(total_steps=total_steps)


def test_config_round_trip():
    callback = AdaptiveSAMCallback(total_steps=7)
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(callback)
    )
    assert isinstance(clone, AdaptiveSAMCallback) and clone.total_steps == 7
