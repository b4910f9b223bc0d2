"""`SAMModel.export` output as TensorFlow Serving sees it (docs/serving.md).

`saved_model_cli` reads the SavedModel the way `tensorflow_model_server`
does: the `serve` tag set and its `serving_default` signature, whose input
keys are the names a REST `predict` request uses.
"""

import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_sam
from tests import models

pytestmark = pytest.mark.tensorflow_only


def _saved_model_cli():
    script = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if os.path.exists(script):
        return [script]
    if shutil.which("saved_model_cli"):
        return [shutil.which("saved_model_cli")]
    return [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]


def _cli(*arguments):
    result = subprocess.run(
        [*_saved_model_cli(), *arguments], capture_output=True, text=True,
        timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A trained SAMModel exported as TF Serving's `<model_name>/<version>/`."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12,), name="features")
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    hidden = keras.layers.BatchNormalization()(hidden)
    hidden = keras.layers.Dropout(0.25, seed=1)(hidden)
    inner = keras.Model(inputs, keras.layers.Dense(4)(hidden))
    model = keras_sam.SAMModel(inner, variant="look_sam")
    model.compile(optimizer="adam", loss=models.sparse_ce())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 12)).astype("float32")
    model.fit(x, rng.integers(0, 4, 64), batch_size=16, epochs=1, verbose=0)
    root = tmp_path_factory.mktemp("serving")
    path = root / "sam_mlp" / "1"
    model.export(str(path))
    return model, x, path, root


@pytest.mark.slow  # ~19 s with the export: saved_model_cli subprocesses
def test_saved_model_cli_lists_the_serving_default_signature(exported):
    _, _, path, _ = exported
    assert {"saved_model.pb", "variables"} <= set(os.listdir(path))
    shown = _cli("show", "--all", "--dir", str(path))
    assert "MetaGraphDef with tag-set: 'serve'" in shown
    assert "signature_def['serving_default']" in shown
    default = shown.split("signature_def['serving_default']:")[1]
    default = default.split("signature_def[")[0]
    assert "inputs['features'] tensor_info" in default
    assert "shape: (-1, 12)" in default and "shape: (-1, 4)" in default
    assert "Method name is: tensorflow/serving/predict" in default
    # Inference graph: no dropout sampling, nothing from keras_sam.
    ops = shown.split("contains the following ops:")[1].split("\n")[0]
    assert "Random" not in ops and "keras_sam" not in shown


@pytest.mark.slow  # ~10 s: a saved_model_cli subprocess
def test_saved_model_cli_run_predicts_as_the_model(exported):
    model, x, path, root = exported
    np.save(root / "x.npy", x[:5])
    _cli("run", "--dir", str(path), "--tag_set", "serve",
         "--signature_def", "serving_default",
         "--inputs", f"features={root / 'x.npy'}", "--outdir", str(root / "out"))
    (output,) = os.listdir(root / "out")
    served = np.load(root / "out" / output)
    np.testing.assert_allclose(served, model.predict(x[:5], verbose=0), atol=1e-5)
