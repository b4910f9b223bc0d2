"""SAMModel: construction, configuration, saving, export and fit features."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import variants
from tests import models, reference


def _compiled(inner, variant="sam", optimizer=None, **compile_kwargs):
    model = keras_sam.SAMModel(inner, variant=variant)
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(0.1, momentum=0.9),
        loss=models.sparse_ce(),
        metrics=["accuracy"],
        **compile_kwargs,
    )
    return model


def test_rejects_non_keras_model():
    with pytest.raises(TypeError, match="model"):
        keras_sam.SAMModel(lambda x: x)


def test_rejects_unknown_variant():
    with pytest.raises(ValueError, match="Unknown `variant`.*'sam'"):
        keras_sam.SAMModel(models.bn_dropout_mlp(), variant="sharp")


def test_rejects_model_without_trainable_weights():
    inner = models.bn_dropout_mlp()
    inner.trainable = False
    with pytest.raises(ValueError, match="no trainable weights"):
        keras_sam.SAMModel(inner)


def test_rejects_non_bool_sync_perturbation():
    with pytest.raises(ValueError, match="sync_perturbation"):
        keras_sam.SAMModel(models.bn_dropout_mlp(), sync_perturbation="yes")


def test_rejects_backends_without_a_train_step(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "numpy")
    with pytest.raises(ValueError, match="tensorflow, jax, torch.*KERAS_BACKEND='numpy'"):
        keras_sam.SAMModel(models.bn_dropout_mlp())


def test_variant_accepts_string_dict_and_instance():
    inner = models.bn_dropout_mlp()
    assert isinstance(keras_sam.SAMModel(inner).variant, variants.SAM)
    by_dict = keras_sam.SAMModel(inner, variant={"name": "asam", "rho": 1.0})
    assert isinstance(by_dict.variant, variants.ASAM)
    np.testing.assert_allclose(by_dict.variant.rho.numpy(), 1.0)
    instance = variants.SAM(rho=0.2)
    assert keras_sam.SAMModel(inner, variant=instance).variant is instance


def test_config_round_trip_with_non_default_arguments():
    model = keras_sam.SAMModel(
        models.bn_dropout_mlp(),
        variant=variants.ASAM(rho=0.3, eta=0.0),
        sync_perturbation=True,
        name="wrapped",
    )
    clone = keras_sam.SAMModel.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.sync_perturbation and clone.name == "wrapped"
    assert clone.variant.get_config() == {
        "rho": 0.3, "eta": 0.0, "epsilon": 1e-12, "scale_biases": True,
    }


def test_call_evaluate_predict_and_summary_delegate(classification_data):
    x, y = classification_data
    inner = models.bn_dropout_mlp()
    model = _compiled(inner)
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), inner.predict(x, verbose=0))
    inner.compile(loss=models.sparse_ce(), metrics=["accuracy"])
    wrapped = model.evaluate(x, y, return_dict=True, verbose=0)
    plain = inner.evaluate(x, y, return_dict=True, verbose=0)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(wrapped[key], plain[key], rtol=1e-6)
    lines = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    assert inner.name in "\n".join(lines)


def test_subclassed_unbuilt_model_trains(classification_data):
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(8, activation="relu")
            self.out = keras.layers.Dense(4)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    x, y = classification_data
    model = _compiled(Net())
    history = model.fit(x, y, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["sam_fraction"] == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("variant", ["look_sam", "ga_sam", "ae_sam"])
def test_subclassed_unbuilt_model_trains_with_a_stateful_variant(
    classification_data, variant
):
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.out = keras.layers.Dense(4)

        def call(self, inputs):
            return self.out(inputs)

    x, y = classification_data
    model = _compiled(Net(), variant=variant)
    history = model.fit(x, y, epochs=2, verbose=0)
    assert model.variant.built and np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_logs_perturbation_norm_equal_to_rho(classification_data):
    x, y = classification_data
    model = _compiled(models.bn_dropout_mlp(), variant=variants.SAM(rho=0.2))
    history = model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["perturbation_norm"], [0.2], rtol=1e-5)


def test_rho_changed_by_callback_takes_effect_without_retracing(classification_data):
    x, y = classification_data

    class HalveRho(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.model.variant.rho.assign(0.1 / 2**epoch)

    model = _compiled(models.bn_dropout_mlp(), jit_compile=True)
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[HalveRho()])
    np.testing.assert_allclose(
        history.history["perturbation_norm"], [0.1, 0.05, 0.025], rtol=1e-5
    )


def test_class_weight_equals_sample_weight(classification_data):
    x, y = classification_data
    class_weight = {0: 2.0, 1: 0.5, 2: 1.0, 3: 3.0}
    results = []
    for kwargs in (
        {"class_weight": class_weight},
        {"sample_weight": np.array([class_weight[c] for c in y], "float32")},
    ):
        keras.utils.set_random_seed(0)
        model = _compiled(models.bn_dropout_mlp())
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, **kwargs)
        results.append([v.numpy() for v in model.trainable_variables])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.skipif(
    keras.backend.backend() == "torch",
    reason="Keras 3.15's own export of this Sequential fails on torch "
           "(torch.export dynamic-shapes mismatch), with or without keras_sam")
def test_export_serves_without_keras_sam(classification_data, tmp_path):
    x, y = classification_data
    model = _compiled(models.bn_dropout_mlp())
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "served")
    model.export(path)
    np.save(tmp_path / "x.npy", x)
    expected = model.predict(x, verbose=0)
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["keras_sam"] = None  # importing keras_sam now fails
        import numpy as np, tensorflow as tf
        served = tf.saved_model.load({path!r})
        fn = served.signatures["serving_default"]
        x = tf.constant(np.load({str(tmp_path / 'x.npy')!r}))
        (out,) = fn(x).values()
        np.save({str(tmp_path / 'out.npy')!r}, out.numpy())
        """
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-6)


def test_multi_input_multi_output_with_losses_matches_reference():
    rng = np.random.default_rng(1)
    a = keras.Input((6,), name="a")
    b = keras.Input((3,), name="b")
    h = keras.layers.Dense(8, activation="tanh",
                           kernel_regularizer=keras.regularizers.L2(0.01))(
        keras.layers.Concatenate()([a, b]))
    h = keras.layers.ActivityRegularization(l1=0.01)(h)
    inner = keras.Model([a, b], [keras.layers.Dense(3, name="cls")(h),
                                 keras.layers.Dense(1, name="reg")(h)])
    xa, xb = rng.normal(size=(32, 6)), rng.normal(size=(32, 3))
    x = [xa.astype("float32"), xb.astype("float32")]
    y = [rng.integers(0, 3, 32), rng.normal(size=(32, 1)).astype("float32")]
    ce, mse = models.sparse_ce(), keras.losses.MeanSquaredError()

    def loss_fn(y_true, y_pred, sample_weight):
        return ce(y_true[0], y_pred[0]) + mse(y_true[1], y_pred[1])

    ref = reference.ReferenceModel(inner, loss_fn)
    model = keras_sam.SAMModel(inner, variant=variants.SAM(rho=0.1))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=[ce, mse])
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ref.train_sam(x, y, batch_size=8, rho=0.1, learning_rate=0.1)
    reference.assert_weights_close(
        [v.numpy() for v in inner.trainable_variables], ref.weights
    )


def test_variant_callbacks_run_before_the_users(classification_data):
    x, y = classification_data

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.keys = set(logs)

    recorder = Recorder()
    model = _compiled(models.bn_dropout_mlp(), variant="ae_sam")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[recorder])
    assert {"ae_mu", "ae_sigma", "ae_c", "sam_fraction"} <= recorder.keys


def test_wrong_data_fails_with_the_keras_error_and_changes_nothing(classification_data):
    x, y = classification_data
    model = _compiled(models.bn_dropout_mlp())
    before = [v.numpy() for v in model.variables]
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 12"):
        model.fit(x[:, :7], y, epochs=1, verbose=0)
    for b, v in zip(before, model.variables):
        np.testing.assert_array_equal(v.numpy(), b)
