"""What fit, evaluate and validation log, and the habits users bring to fit."""

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import callbacks as sam_callbacks
from keras_sam import variants
from tests import models

SAM_LOGS = {"sam_fraction", "perturbation_norm", "skipped_steps"}


def _compiled(variant="sam"):
    model = keras_sam.SAMModel(models.bn_dropout_mlp(), variant=variant)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=models.sparse_ce(),
                  metrics=["accuracy"])
    return model


def test_evaluate_and_validation_log_what_the_inner_model_logs(classification_data):
    x, y = classification_data
    model = _compiled()
    history = model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0).history
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"} | SAM_LOGS
    inner = model.model
    inner.compile(loss=models.sparse_ce(), metrics=["accuracy"])
    plain = inner.evaluate(x, y, return_dict=True, verbose=0)
    wrapped = model.evaluate(x, y, return_dict=True, verbose=0)
    assert set(wrapped) == set(plain)
    np.testing.assert_allclose(history["val_loss"], [plain["loss"]], rtol=1e-5)
    on_batch = model.test_on_batch(x, y, return_dict=True)
    assert set(on_batch) == set(plain)
    np.testing.assert_allclose(
        on_batch["loss"], inner.test_on_batch(x, y, return_dict=True)["loss"], rtol=1e-5
    )


def test_positional_fit_arguments_and_callbacks(classification_data):
    x, y = classification_data

    class Count(keras.callbacks.Callback):
        batches = 0

        def on_train_batch_end(self, batch, logs=None):
            Count.batches += 1

    model = _compiled()
    history = model.fit(x, y, 16, 2, 0, [Count()])
    assert Count.batches == 8 and len(history.history["loss"]) == 2


def test_a_subclass_of_the_variants_callback_replaces_it(classification_data, monkeypatch):
    x, y = classification_data
    started = []
    original = sam_callbacks.AdaptiveSAMCallback.on_train_begin

    def on_train_begin(self, logs=None):
        started.append(type(self).__name__)
        return original(self, logs)

    monkeypatch.setattr(sam_callbacks.AdaptiveSAMCallback, "on_train_begin", on_train_begin)

    class Mine(sam_callbacks.AdaptiveSAMCallback):
        pass

    model = _compiled("ae_sam")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[Mine()])
    assert started == ["Mine"]
    model.fit(x, y, epochs=1, verbose=0)
    assert started == ["Mine", "AdaptiveSAMCallback"]


def test_setting_rho_between_fits_takes_effect_and_is_saved(classification_data, tmp_path):
    x, y = classification_data
    model = _compiled(variants.SAM(rho=0.05))
    first = model.fit(x, y, epochs=1, verbose=0).history["perturbation_norm"]
    model.variant.rho = 0.1
    second = model.fit(x, y, epochs=1, verbose=0).history["perturbation_norm"]
    np.testing.assert_allclose([first[0], second[0]], [0.05, 0.1], rtol=1e-5)
    assert isinstance(model.variant.rho, keras.Variable)
    path = str(tmp_path / "m.keras")
    model.save(path)
    np.testing.assert_allclose(keras.models.load_model(path).variant.rho.numpy(), 0.1)


@pytest.mark.parametrize("value", [-0.1, 0.0, float("nan"), "0.1"])
def test_setting_an_invalid_rho_is_refused_and_changes_nothing(value):
    variant = variants.SAM(rho=0.05)
    with pytest.raises(ValueError, match="rho"):
        variant.rho = value
    np.testing.assert_allclose(variant.rho.numpy(), 0.05)
