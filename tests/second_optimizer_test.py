"""A custom step with two optimizers (a GAN), on every backend.

The recipe of docs/using_keras_sam_with.md ("A second optimizer"): each
model takes its variant's step with its own optimizer, and the model keeps
both optimizers' variables, so that Keras's JAX trainer carries them from
step to step. Checked by each optimizer's `iterations` and Adam's moments:
a lost optimizer state shows as `iterations` 0 and zero moments (every
step Adam's first). On JAX, a second optimizer whose variables the model
does not keep is refused, not silently reset.
"""

import keras
import numpy as np
import pytest
from keras import ops

import keras_sam

STEPS = 4


class GAN(keras.Model):
    def __init__(self, keep_optimizer_variables=True):
        super().__init__()
        self.keep = keep_optimizer_variables
        self.generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6)])
        self.discriminator = keras.Sequential(
            [keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
             keras.layers.Dense(1)]
        )
        self.g_variant = keras_sam.variants.SAM(rho=0.05)
        self.g_variant.build([v.shape for v in self.generator.trainable_variables])
        self.d_variant = keras_sam.variants.SAM(rho=0.05)
        self.d_variant.build([v.shape for v in self.discriminator.trainable_variables])

    def call(self, x):
        return self.discriminator(x)

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)
        if self.keep:
            self.optimizer_variables_kept = d_optimizer.variables + g_optimizer.variables

    @keras_sam.stateful_step
    def train_step(self, real):
        noise = keras.random.normal((ops.shape(real)[0], 4), seed=1)

        def d_loss():
            fake = self.generator(noise, training=True)
            return (ops.mean(ops.softplus(self.discriminator(fake, training=True)))
                    + ops.mean(ops.softplus(-self.discriminator(real, training=True))))

        def g_loss():
            fake = self.generator(noise, training=True)
            return ops.mean(ops.softplus(-self.discriminator(fake, training=True)))

        d = self.d_variant.minimize(d_loss, self.discriminator, self.d_optimizer)
        g = self.g_variant.minimize(g_loss, self.generator, self.g_optimizer)
        return {"d_loss": d.loss, "g_loss": g.loss}


def _fit(gan):
    gan.compile(keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2))
    x = np.random.default_rng(0).normal(size=(8 * STEPS, 6)).astype("float32")
    gan.fit(x, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return gan


def _moments(optimizer):
    return [np.array(keras.ops.convert_to_numpy(v))
            for v in optimizer.variables if "momentum" in v.path or "velocity" in v.path]


@pytest.mark.parametrize("keep", [True, False])
def test_both_optimizers_keep_their_state(keep):
    if not keep and keras.backend.backend() == "jax":
        pytest.skip("JAX refuses it (test below)")
    gan = _fit(GAN(keep_optimizer_variables=keep))
    for optimizer in (gan.d_optimizer, gan.g_optimizer):
        assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == STEPS
        moments = _moments(optimizer)
        assert moments and all(np.abs(m).sum() > 0 for m in moments)


def test_jax_refuses_an_optimizer_it_cannot_carry():
    if keras.backend.backend() != "jax":
        pytest.skip("TensorFlow and PyTorch steps are stateful")
    with pytest.raises(ValueError, match="A second optimizer"):
        _fit(GAN(keep_optimizer_variables=False))
