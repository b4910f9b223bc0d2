"""examples/cifar10_resnet.py end to end on tfds mock data (never downloads)."""

import numpy as np
import pytest

from tests.examples.helpers import EXAMPLES, help_text, load_example

tfds = pytest.importorskip("tensorflow_datasets")


def test_help_exits_cleanly(capsys):
    assert "--data-dir" in help_text("cifar10_resnet", capsys)


@pytest.mark.slow  # ~12 s: a ResNet epoch
def test_trains_one_epoch_with_sam_on_mock_cifar10(tmp_path, capsys):
    module = load_example("cifar10_resnet")
    with tfds.testing.mock_data(num_examples=40):
        result = module.main([
            "--data-dir", str(tmp_path), "--epochs", "1", "--batch-size", "8",
            "--limit", "40", "--width", "4", "--variant", "sam", "--rho", "0.1",
        ])
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert np.isfinite(result["test_loss"])
    history = result["history"]
    assert history["sam_fraction"] == [pytest.approx(1.0)]
    assert history["perturbation_norm"][0] == pytest.approx(0.1, rel=1e-3)
    assert np.isfinite(history["loss"][0])
    assert "test_accuracy=" in capsys.readouterr().out


def test_builds_a_resnet_with_batch_normalization():
    module = load_example("cifar10_resnet")
    resnet = module.build_resnet(width=4, blocks=1)
    names = [type(layer).__name__ for layer in resnet.layers]
    assert "BatchNormalization" in names and "Add" in names
    assert resnet.output_shape == (None, 10)
    assert (EXAMPLES / "cifar10_resnet.py").exists()
