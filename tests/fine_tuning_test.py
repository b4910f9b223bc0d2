"""Changing the trainable set (the keras.io fine-tuning recipe), reusing variants."""

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import variants
from tests import models

ALL = sorted(variants.registered())


def _transfer_model():
    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input((12,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(8, activation="relu")], name="base")
    inputs = keras.Input((12,))
    outputs = keras.layers.Dense(4, name="head")(base(inputs))
    return keras.Model(inputs, outputs), base


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(48, 12)).astype("float32"), rng.integers(0, 4, 48)


def _compile(model, learning_rate):
    model.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9),
                  loss=models.sparse_ce())


def _fit(model, x, y):
    model.fit(x, y, batch_size=16, shuffle=False, verbose=0)


@pytest.mark.parametrize("name", ALL)
def test_freeze_fit_unfreeze_recompile_fit(name):
    x, y = _data()
    inner, base = _transfer_model()
    base.trainable = False
    # A variant that draws random numbers (ESAM) gets a fixed seed, so that
    # the twin below draws the same ones.
    variant = variants.get(name)
    if "seed" in variant.get_config():
        variant = variants.get({"name": name, "seed": 7})
    model = keras_sam.SAMModel(inner, variant=variant)
    _compile(model, 0.1)
    frozen = [np.array(v.numpy()) for v in base.variables]
    _fit(model, x, y)
    for b, v in zip(frozen, base.variables):
        np.testing.assert_array_equal(v.numpy(), b)

    base.trainable = True
    model.variant.rho = 0.02
    _compile(model, 0.01)
    # The documented rule: a fresh copy of the variant for the new set
    # (hyperparameter values kept, state from scratch), so phase 2 equals a
    # new SAMModel wrapped around the phase-1 weights.
    twin, twin_base = _transfer_model()
    for target, source in zip(twin.variables, inner.variables):
        target.assign(np.array(source.numpy()))
    fresh = type(variant).from_config(variant.get_config())
    fresh.rho = 0.02
    expected = keras_sam.SAMModel(twin, variant=fresh)
    _compile(expected, 0.01)
    _fit(model, x, y)
    _fit(expected, x, y)
    assert not np.allclose(base.variables[0].numpy(), frozen[0])
    for a, b in zip(inner.variables, twin.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.variant.rho.numpy(), 0.02)
    assert len(model.variant.variables) == len(expected.variant.variables)


def test_rebuilt_variant_saves_and_loads(tmp_path):
    x, y = _data()
    inner, base = _transfer_model()
    base.trainable = False
    model = keras_sam.SAMModel(inner, variant="ga_sam")
    _compile(model, 0.1)
    _fit(model, x, y)
    base.trainable = True
    _compile(model, 0.01)
    _fit(model, x, y)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert len(loaded.variables) == len(model.variables)
    for a, b in zip(model.variant.variables, loaded.variant.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy())


@pytest.mark.parametrize("name", ["look_sam", "ae_sam", "ga_sam"])
def test_one_variant_instance_for_two_models(name):
    x, y = _data()
    variant = variants.get(name)
    first = keras_sam.SAMModel(_transfer_model()[0], variant=variant)
    wide = keras.Sequential([keras.Input((12,)), keras.layers.Dense(32),
                             keras.layers.Dense(4)])
    second = keras_sam.SAMModel(wide, variant=variant)
    assert first.variant is variant and second.variant is not variant
    assert second.variant.get_config() == variant.get_config()
    for model in (first, second):
        _compile(model, 0.1)
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0).history
        assert np.all(np.isfinite(history["loss"]))
