"""The contract every registered variant keeps, run over all of them.

The public API (`SAMModel`, `variants.get`, config round trip, logged values)
and the shared step of docs/design.md (clean pass first, stateless perturbed
passes, unchanged base optimizer, non-finite steps skipped).
"""

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import variants
from tests import models

VARIANTS = sorted(variants.registered())


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 12)).astype("float32"), rng.integers(0, 4, n)


def _model(variant_id, learning_rate=0.1):
    model = keras_sam.SAMModel(models.bn_dropout_mlp(), variant=variant_id)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9),
        loss=models.sparse_ce(),
        metrics=["accuracy"],
    )
    return model


def _values(variables):
    return [np.array(v.numpy()) for v in variables]


@pytest.mark.parametrize("variant_id", VARIANTS)
def test_config_round_trip(variant_id):
    variant = variants.get(variant_id)
    config = variant.get_config()
    clone = type(variant).from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(variant)
    assert variants.get(serialized).get_config() == config


@pytest.mark.parametrize("variant_id", VARIANTS)
def test_zero_learning_rate_leaves_weights_bitwise_unchanged(variant_id):
    x, y = _data()
    model = _model(variant_id, learning_rate=0.0)
    before = _values(model.model.trainable_variables)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    after = _values(model.model.trainable_variables)
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("variant_id", VARIANTS)
def test_batchnorm_statistics_come_from_the_clean_pass_only(variant_id):
    x, y = _data(16)
    model = _model(variant_id, learning_rate=0.0)
    clone = keras.models.clone_model(model.model)
    for target, source in zip(clone.variables, model.model.variables):
        target.assign(source)
    clone(x, training=True)  # one clean pass, momentum 0.5
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    bn, bn_clean = model.model.layers[1], clone.layers[1]
    np.testing.assert_allclose(bn.moving_mean, bn_clean.moving_mean, rtol=1e-6)
    np.testing.assert_allclose(
        bn.moving_variance, bn_clean.moving_variance, rtol=1e-6
    )


class _WeightsPerBatch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        self.snapshots.append(_values(self.model.variables))

    def on_train_begin(self, logs=None):
        self.snapshots = [_values(self.model.variables)]


@pytest.mark.parametrize("variant_id", VARIANTS)
def test_non_finite_batch_is_skipped(variant_id):
    x, y = _data(48)
    x[16:32] = np.nan  # the second of three batches has a NaN loss
    model = _model(variant_id)
    recorder = _WeightsPerBatch()
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False,
                        verbose=0, callbacks=[recorder])
    assert history.history["skipped_steps"] == [1.0, 1.0]
    for snapshot in recorder.snapshots:
        for value in snapshot:
            assert np.all(np.isfinite(value))
    # Every model, variant and optimizer-free variable is back where it was...
    before, after_nan = recorder.snapshots[1], recorder.snapshots[2]
    integer = [np.issubdtype(v.dtype, np.integer) for v in before]
    for b, a, is_int in zip(before, after_nan, integer):
        if not is_int:  # ...except RNG counters, which advance.
            np.testing.assert_array_equal(a, b)
    # ...and training goes on with the next batch.
    trainable = len(model.model.trainable_variables)
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(recorder.snapshots[3][:trainable], after_nan[:trainable])
    ]
    assert any(changed)


@pytest.mark.parametrize("variant_id", VARIANTS)
def test_keras_round_trip_continues_identically(variant_id, tmp_path):
    x, y = _data(48)
    model = _model(variant_id)
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, keras_sam.SAMModel)
    assert type(loaded.variant) is type(model.variant)
    assert loaded.variant.get_config() == model.variant.get_config()
    for a, b in zip(_values(loaded.variables), _values(model.variables)):
        np.testing.assert_array_equal(a, b)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(_values(loaded.variables), _values(model.variables)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("variant_id", VARIANTS)
def test_logs_sam_fraction_in_unit_interval(variant_id):
    x, y = _data()
    model = _model(variant_id)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    fraction = history.history["sam_fraction"][0]
    assert 0.0 <= fraction <= 1.0
    assert np.isfinite(history.history["loss"][0])
