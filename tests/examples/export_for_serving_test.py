"""examples/export_for_serving.py end to end: the SavedModel serves without keras_sam."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.examples.helpers import help_text, load_example

pytestmark = pytest.mark.tensorflow_only

tfds = pytest.importorskip("tensorflow_datasets")


def test_help_exits_cleanly(capsys):
    assert "--export-dir" in help_text("export_for_serving", capsys)


@pytest.mark.slow  # ~15 s: trains, exports and serves
def test_mnist1d_export_serves_the_same_predictions(tmp_path, capsys):
    module = load_example("export_for_serving")
    export_dir = str(tmp_path / "serving")
    result = module.main(["--limit", "200", "--epochs", "1", "--batch-size", "32",
                          "--export-dir", export_dir])
    assert os.path.exists(os.path.join(export_dir, "saved_model.pb"))
    assert result["agreement"] == 1.0
    assert result["max_abs_diff"] < 1e-4
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert result["history"]["sam_fraction"] == [pytest.approx(1.0)]
    assert '"agreement": 1.0' in capsys.readouterr().out


@pytest.mark.slow  # ~15 s
def test_mock_tfds_mnist_export_serves_the_same_predictions(tmp_path):
    module = load_example("export_for_serving")
    with tfds.testing.mock_data(num_examples=30):
        result = module.main(["--dataset", "mnist", "--data-dir", str(tmp_path / "tfds"),
                              "--limit", "30", "--epochs", "1", "--batch-size", "8",
                              "--export-dir", str(tmp_path / "serving")])
    assert result["agreement"] == 1.0 and result["max_abs_diff"] < 1e-4


def test_serving_subprocess_cannot_import_keras_sam():
    """keras_sam is blocked before tensorflow is imported in the serving script."""
    module = load_example("export_for_serving")
    script = module.SERVE_SCRIPT
    assert script.index('sys.modules["keras_sam"] = None') < script.index("import tensorflow")
    prefix = script[: script.index("export_dir, inputs_path")]
    completed = subprocess.run([sys.executable, "-c", prefix + "import keras_sam\n"],
                               capture_output=True, text=True)
    assert completed.returncode != 0 and "import of keras_sam halted" in completed.stderr


def test_serving_failure_is_reported(tmp_path):
    module = load_example("export_for_serving")
    with pytest.raises(RuntimeError, match="serving subprocess failed"):
        module.serve_without_keras_sam(str(tmp_path / "missing"), np.zeros((2, 40), np.float32))
