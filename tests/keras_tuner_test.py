"""keras-tuner searching `rho` over SAMModels."""

import keras
import numpy as np
import pytest

import keras_sam
from keras_sam import variants
from tests import models

kt = pytest.importorskip("keras_tuner")


@pytest.mark.slow  # ~30 s: a random search of several trials
def test_random_search_over_rho(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 12)).astype("float32")
    y = rng.integers(0, 4, 64)
    shared = variants.LookSAM(k=2)  # one instance closed over by build_model
    built = []

    def build_model(hp):
        rho = hp.Float("rho", 0.01, 0.2, sampling="log")
        variant = shared if hp.Boolean("shared") else variants.SAM(rho=rho)
        model = keras_sam.SAMModel(models.bn_dropout_mlp(), variant=variant)
        model.variant.rho = rho
        model.compile(optimizer=keras.optimizers.SGD(0.05),
                      loss=models.sparse_ce(), metrics=["accuracy"])
        built.append((dict(hp.values), model))
        return model

    tuner = kt.RandomSearch(build_model, objective="val_loss", max_trials=4, seed=1,
                            directory=str(tmp_path), project_name="rho")
    tuner.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 4 and all(t.status == "COMPLETED" for t in trials)
    by_values = {tuple(sorted(values.items())): model for values, model in built}
    for trial in trials:
        model = by_values[tuple(sorted(trial.hyperparameters.values.items()))]
        rho = trial.hyperparameters.get("rho")
        # The trial's rho reached the compiled step: it is the perturbation
        # norm logged (SAM every step, LookSAM on its first step).
        np.testing.assert_allclose(model.variant.rho.numpy(), rho, rtol=1e-6)
        norm = trial.metrics.get_last_value("perturbation_norm")
        np.testing.assert_allclose(norm, rho, rtol=1e-4)
    # The closed-over instance serves one model; later trials get copies.
    assert sum(model.variant is shared for _, model in built) <= 1
    assert any(values["shared"] for values, _ in built[1:])
