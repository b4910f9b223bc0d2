"""examples/vae_sam.py: SAM inside a custom train step (every backend)."""

import keras
import numpy as np
import pytest

import keras_sam
from tests.examples.helpers import help_text, load_example


def test_help_exits_cleanly(capsys):
    assert "--variant" in help_text("vae_sam", capsys)


def test_trains_on_mock_mnist(tmp_path, capsys):
    tfds = pytest.importorskip("tensorflow_datasets")
    module = load_example("vae_sam")
    with tfds.testing.mock_data(num_examples=40):
        result = module.main([
            "--data-dir", str(tmp_path), "--epochs", "2", "--batch-size", "16",
            "--limit", "40", "--filters", "4", "--rho", "0.1",
        ])
    history = result["history"]
    assert np.isfinite(result["test_loss"])
    assert history["sam_fraction"] == [pytest.approx(1.0)] * 2
    assert history["total_loss"][1] < history["total_loss"][0]
    assert "test_loss=" in capsys.readouterr().out


def _encoder_decoder(module):
    keras.utils.set_random_seed(0)
    return module.build_encoder(2, 4, seed=3), module.build_decoder(2, 4)


@pytest.mark.parametrize("variant", ["sam", "look_sam", "wsam"])
def test_custom_step_equals_sam_model_with_the_loss_in_compute_loss(variant):
    module = load_example("vae_sam")

    class LossInComputeLoss(keras.Model):
        """The same VAE, its loss in `compute_loss`: SAMModel can wrap it."""

        def __init__(self, encoder, decoder):
            super().__init__()
            self.encoder, self.decoder = encoder, decoder

        call = module.VAE.call
        vae_loss = module.VAE.vae_loss

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                         training=True):
            return self.vae_loss(x, y_pred)[0]

    x = np.random.default_rng(0).uniform(size=(48, 28, 28, 1)).astype("float32")
    custom = module.VAE(*_encoder_decoder(module), variant=variant)
    wrapped = keras_sam.SAMModel(LossInComputeLoss(*_encoder_decoder(module)),
                                 variant=variant)
    for model in (custom, wrapped):
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
        model.fit(x, batch_size=16, shuffle=False, verbose=0)
    assert len(custom.variables) > 10
    for a, b in zip(custom.trainable_variables, wrapped.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)
    for a, b in zip(custom.variant.state_variables(), wrapped.variant.state_variables()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)
