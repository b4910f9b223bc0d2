"""Schedules for `rho` and the other radii (`keras_sam.schedules`).

Each epoch below is one step on the whole data set, so the epoch's logged
`perturbation_norm` is the norm of that step's SAM perturbation,
`rho_t * ||g|| / (||g|| + epsilon) = rho_t`: the schedule evaluated at the
step. The expected radii come from NumPy formulas written here, not from
Keras's schedules. Run on each backend with `KERAS_BACKEND=...`.
"""

import json
import math

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import schedules, variants
from tests import check_script

EPOCHS = 6
# XLA / jit where the backend compiles the step (not torch).
JIT = [False] if keras.backend.backend() == "torch" else [False, True]


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 5)).astype("float32")
    return x, (x @ rng.normal(size=(5, 1))).astype("float32")


def _model(variant, learning_rate=0.05, jit=False):
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([
        keras.Input((5,)), keras.layers.Dense(4, activation="tanh"),
        keras.layers.Dense(1),
    ])
    model = keras_sam.SAMModel(inner, variant=variant)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse",
                  jit_compile=jit)
    return model


def _fit(model, epochs=EPOCHS, callbacks=(), **kwargs):
    x, y = _data()
    return model.fit(x, y, batch_size=len(x), epochs=epochs, shuffle=False,
                     verbose=0, callbacks=list(callbacks), **kwargs).history


def _piecewise(step):
    return 0.02 if step <= 1 else (0.2 if step <= 3 else 0.05)


def _cosine(step, initial, decay_steps, alpha=0.0):
    fraction = min(step, decay_steps) / decay_steps
    return initial * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * fraction)) + alpha)


@pytest.mark.parametrize("jit", JIT)
def test_perturbation_norm_follows_piecewise_schedule(jit):
    rho = keras.optimizers.schedules.PiecewiseConstantDecay(
        [1, 3], [0.02, 0.2, 0.05]
    )
    history = _fit(_model(variants.SAM(rho=rho), jit=jit))
    expected = [_piecewise(t) for t in range(EPOCHS)]
    np.testing.assert_allclose(history["perturbation_norm"], expected, rtol=1e-5)


@pytest.mark.parametrize("jit", JIT)
def test_perturbation_norm_follows_cosine_schedule(jit):
    rho = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=4, alpha=0.2)
    history = _fit(_model(variants.SAM(rho=rho), jit=jit))
    expected = [_cosine(t, 0.1, 4, alpha=0.2) for t in range(EPOCHS)]
    np.testing.assert_allclose(history["perturbation_norm"], expected, rtol=1e-5)


@pytest.mark.parametrize("jit", JIT)
@pytest.mark.parametrize("lr_max", [None, 0.2])
def test_follow_learning_rate_follows_the_optimizers_cosine(jit, lr_max):
    learning_rate = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=5)
    rho = schedules.FollowLearningRate(0.05, rho_min=0.01, lr_max=lr_max)
    history = _fit(_model(variants.SAM(rho=rho), learning_rate, jit=jit))
    top = 0.1 if lr_max is None else lr_max  # default: the rate at step 0
    expected = [
        0.01 + 0.04 * _cosine(t, 0.1, 5) / top for t in range(EPOCHS)
    ]
    np.testing.assert_allclose(history["perturbation_norm"], expected, rtol=1e-5)


def test_follow_learning_rate_with_a_constant_rate_is_rho_max():
    history = _fit(_model(variants.SAM(rho=schedules.FollowLearningRate(0.03))),
                   epochs=2)
    np.testing.assert_allclose(history["perturbation_norm"], [0.03] * 2, rtol=1e-5)


class _Radii(keras.callbacks.Callback):
    """The variant's `rho` and `rho_prime` after each one-step epoch."""

    def __init__(self):
        super().__init__()
        self.values = []

    def on_epoch_end(self, epoch, logs=None):
        variant = self.model.variant
        self.values.append((float(keras.ops.convert_to_numpy(variant.rho)),
                            float(keras.ops.convert_to_numpy(variant.rho_prime))))


@pytest.mark.parametrize("jit", JIT)
def test_gam_schedules_both_radii(jit):
    learning_rate = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=4)
    variant = variants.GAM(
        rho=keras.optimizers.schedules.PiecewiseConstantDecay(
            [1, 3], [0.02, 0.2, 0.05]
        ),
        rho_prime=schedules.FollowLearningRate(0.03),
    )
    radii = _Radii()
    _fit(_model(variant, learning_rate, jit=jit), epochs=5, callbacks=[radii])
    expected = [(_piecewise(t), 0.03 * _cosine(t, 0.1, 4) / 0.1) for t in range(5)]
    np.testing.assert_allclose(radii.values, expected, rtol=1e-5, atol=1e-7)


def _weights(model):
    return [np.array(w) for w in model.model.get_weights()]


def test_save_and_load_mid_schedule_continues_it(tmp_path):
    def variant():
        return variants.GAM(
            rho=keras.optimizers.schedules.PiecewiseConstantDecay(
                [1, 3], [0.02, 0.2, 0.05]
            ),
            rho_prime=schedules.FollowLearningRate(0.03, rho_min=0.005),
        )

    learning_rate = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=5)
    uninterrupted = _model(variant(), learning_rate)
    _fit(uninterrupted)
    interrupted = _model(variant(), learning_rate)
    _fit(interrupted, epochs=2)
    path = str(tmp_path / "mid_schedule.keras")
    interrupted.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.variant.rho_prime, keras.Variable)
    assert loaded.variant.get_config() == uninterrupted.variant.get_config()
    _fit(loaded, initial_epoch=2)
    for a, b in zip(_weights(loaded), _weights(uninterrupted)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # Restarting the schedules at step 0 gives other weights.
    restarted = _model(variant(), learning_rate)
    restarted.set_weights(interrupted.get_weights())
    restarted.optimizer.iterations.assign(0)
    _fit(restarted, epochs=EPOCHS - 2)
    assert any(not np.allclose(a, b, rtol=1e-5, atol=1e-6)
               for a, b in zip(_weights(restarted), _weights(uninterrupted)))


def test_config_round_trip():
    rho = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=100)
    follow = schedules.FollowLearningRate(0.03, rho_min=0.01, lr_max=0.4, lr_min=0.1)
    gam = variants.GAM(rho=rho, rho_prime=follow)
    config = gam.get_config()
    json.dumps(config)  # plain data, as `model.save` writes it
    restored = variants.GAM.from_config(config)
    assert restored.get_config() == config
    restored_follow = restored._schedules["rho_prime"][0]
    assert isinstance(restored_follow, schedules.FollowLearningRate)
    assert restored_follow.get_config() == follow.get_config()
    assert isinstance(restored._schedules["rho"][0],
                      keras.optimizers.schedules.CosineDecay)
    again = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(variants.SAM(rho=follow))
    )
    assert again.get_config()["rho"] == variants.SAM(rho=follow).get_config()["rho"]
    assert variants.SAM(rho=0.07).get_config()["rho"] == 0.07


def test_follow_learning_rate_formula():
    follow = schedules.FollowLearningRate(0.5, rho_min=0.1, lr_max=0.3, lr_min=0.1)
    for lr in [0.45, 0.3, 0.2, 0.1, 0.05, 0.0]:
        value = keras.ops.convert_to_numpy(follow(0, lr, 1.0))
        expected = max(0.1 + 0.4 * (lr - 0.1) / 0.2, 0.0)  # never negative
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-7)
    same = schedules.FollowLearningRate(0.5)  # lr_max = lr_min = 0: rho_max
    np.testing.assert_allclose(keras.ops.convert_to_numpy(same(0, 0.0, 0.0)), 0.5)


def test_errors():
    cosine = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=10)
    with pytest.raises(ValueError, match="`epsilon` takes a number, not a schedule"):
        variants.SAM(epsilon=cosine)
    with pytest.raises(ValueError, match="`alpha` takes a number, not a schedule"):
        variants.GAM(alpha=cosine)
    with pytest.raises(ValueError, match=r"`rho` must satisfy 0.0 < rho"):
        variants.SAM(rho=0.0)
    scheduled = variants.SAM(rho=cosine)
    with pytest.raises(TypeError, match="`rho` of SAM follows a schedule"):
        scheduled.rho = 0.1
    plain = variants.GAM()
    plain.rho_prime = 0.07
    np.testing.assert_allclose(keras.ops.convert_to_numpy(plain.rho_prime), 0.07)
    with pytest.raises(ValueError, match="`rho_prime` takes a number"):
        plain.rho_prime = cosine
    with pytest.raises(ValueError, match="`rho_max` of FollowLearningRate"):
        schedules.FollowLearningRate(0.0)
    with pytest.raises(ValueError, match="`lr_max` of FollowLearningRate"):
        schedules.FollowLearningRate(0.05, lr_min=0.1, lr_max=0.1)
    with pytest.raises(ValueError, match="needs the step's `learning_rate`"):
        variants.SAM(rho=schedules.FollowLearningRate(0.05)).update_hyperparameters(0)


@pytest.mark.tensorflow_only
def test_scheduled_step_traces_once(monkeypatch):
    traces = []
    original = keras_sam.SAMModel.train_step

    def counted(self, data):
        traces.append(1)
        return original(self, data)

    monkeypatch.setattr(keras_sam.SAMModel, "train_step", counted)
    rho = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=4)
    model = _model(variants.SAM(rho=rho), jit=True)
    _fit(model, epochs=1)
    first = len(traces)
    history = _fit(model, epochs=4)
    assert 1 <= first <= 2 and len(traces) == first
    expected = [_cosine(t, 0.1, 4) for t in range(1, 5)]
    np.testing.assert_allclose(history["perturbation_norm"], expected, rtol=1e-5)


@pytest.mark.slow  # a TensorFlow process of its own: ~16 s
@pytest.mark.tensorflow_only
def test_schedule_under_mirrored_strategy():
    report = check_script.report("schedules_distributed_check.py")
    expected = [_piecewise(t) for t in range(5)]
    np.testing.assert_allclose(report["perturbation_norm"], expected, rtol=1e-5)
    np.testing.assert_allclose(report["rho_per_replica"], [0.05, 0.05], rtol=1e-6)


class OwnStep(keras.Model):
    """A custom `train_step` that takes the variant's step (`minimize`)."""

    def __init__(self, net, variant):
        super().__init__()
        self.net, self.sam = net, variant
        variant.build([v.shape for v in net.trainable_variables])

    def call(self, x, training=False):
        return self.net(x, training=training)

    @keras_sam.stateful_step
    def train_step(self, data):
        x, y = data

        def loss_fn():
            return self.compute_loss(x, y, self(x, training=True))

        self.sam.minimize(loss_fn, self)
        return {"rho": keras.ops.convert_to_tensor(self.sam.rho)}


def test_custom_step_follows_the_schedule_as_sam_model():
    def rho():
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [1, 3], [0.02, 0.2, 0.05]
        )

    reference = _model(variants.SAM(rho=rho()))
    _fit(reference, epochs=5)
    keras.utils.set_random_seed(0)
    own = OwnStep(keras.Sequential([
        keras.Input((5,)), keras.layers.Dense(4, activation="tanh"),
        keras.layers.Dense(1),
    ]), variants.SAM(rho=rho()))
    own.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    history = _fit(own, epochs=5)
    np.testing.assert_allclose(history["rho"], [_piecewise(t) for t in range(5)],
                               rtol=1e-6)
    for a, b in zip(own.net.get_weights(), _weights(reference)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
