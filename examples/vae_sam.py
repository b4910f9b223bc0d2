"""A variational autoencoder (the keras.io VAE) whose own train step uses SAM.

The keras.io VAE writes its loss in its own `train_step`, so `SAMModel`
refuses to wrap it. Instead the VAE holds a variant and takes the
sharpness-aware step inside its `train_step` with `variant.minimize`:
the clean pass, the perturbed pass at `w + e` (same sampling noise, the same
guarantees as SAMModel's step) and the optimizer's update. The same code
runs on TensorFlow, JAX and PyTorch (`@keras_sam.stateful_step`).

Loads MNIST from TensorFlow Datasets (`keras_sam_bench.data.load_tfds`), trains a
small convolutional VAE and reports the test loss (reconstruction + KL).

    python examples/vae_sam.py --data-dir ~/tensorflow_datasets --epochs 10 \
        --variant sam --rho 0.05

`--limit N` uses only N examples (0.8 N train, 0.2 N test) for a quick run.
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
from keras import ops  # noqa: E402

import keras_sam  # noqa: E402
from keras_sam_bench.data import load_tfds  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help="tfds data directory")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--limit", type=int, default=None,
                        help="total examples to use (default: full splits)")
    parser.add_argument("--variant", default="sam",
                        help="keras_sam variant id (sam, asam, look_sam, ...)")
    parser.add_argument("--rho", type=float, default=None,
                        help="perturbation radius (default: the variant's own)")
    parser.add_argument("--latent-dim", type=int, default=2)
    parser.add_argument("--filters", type=int, default=32,
                        help="filters of the first convolution")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading a missing dataset")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


class Sampling(keras.layers.Layer):
    """Draws `z = mean + exp(log_var / 2) * noise` (seeded)."""

    def __init__(self, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        noise = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * noise


def build_encoder(latent_dim=2, filters=32, seed=0):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(2 * filters, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling(seed)([z_mean, z_log_var])
    return keras.Model(inputs, [z_mean, z_log_var, z], name="encoder")


def build_decoder(latent_dim=2, filters=32):
    inputs = keras.Input((latent_dim,))
    x = keras.layers.Dense(7 * 7 * 2 * filters, activation="relu")(inputs)
    x = keras.layers.Reshape((7, 7, 2 * filters))(x)
    x = keras.layers.Conv2DTranspose(2 * filters, 3, strides=2, padding="same",
                                     activation="relu")(x)
    x = keras.layers.Conv2DTranspose(filters, 3, strides=2, padding="same",
                                     activation="relu")(x)
    outputs = keras.layers.Conv2DTranspose(1, 3, padding="same", activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="decoder")


class VAE(keras.Model):
    """The keras.io VAE, with the variant's step in its `train_step`."""

    def __init__(self, encoder, decoder, variant="sam", **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.variant = keras_sam.variants.get(variant)
        self.variant.build([v.shape for v in self.trainable_variables])
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.sam_fraction_tracker = keras.metrics.Mean(name="sam_fraction")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker,
                self.kl_loss_tracker, self.sam_fraction_tracker]

    def call(self, data, training=False):
        z_mean, z_log_var, z = self.encoder(data, training=training)
        return self.decoder(z, training=training), z_mean, z_log_var

    def vae_loss(self, data, outputs):
        """`(total, reconstruction, kl)` as in the keras.io example."""
        reconstruction, z_mean, z_log_var = outputs
        reconstruction_loss = ops.mean(ops.sum(
            keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
        kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = ops.mean(ops.sum(kl, axis=1))
        return reconstruction_loss + kl_loss, reconstruction_loss, kl_loss

    @keras_sam.stateful_step
    def train_step(self, data):
        def loss_fn():
            total, reconstruction, kl = self.vae_loss(data, self(data, training=True))
            return total, (reconstruction, kl)

        result = self.variant.minimize(loss_fn, self)
        reconstruction, kl = result.aux
        self.total_loss_tracker.update_state(result.loss)
        self.reconstruction_loss_tracker.update_state(reconstruction)
        self.kl_loss_tracker.update_state(kl)
        self.sam_fraction_tracker.update_state(result.perturbed)
        return {m.name: m.result() for m in self.metrics}

    @keras_sam.stateful_step
    def test_step(self, data):
        total, reconstruction, kl = self.vae_loss(data, self(data))
        self.total_loss_tracker.update_state(total)
        self.reconstruction_loss_tracker.update_state(reconstruction)
        self.kl_loss_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics[:3]}


def main(argv=None):
    """Trains and evaluates; returns `{"test_loss", "history"}`."""
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    data = load_tfds("mnist", data_dir=args.data_dir, num_samples=args.limit,
                     download=not args.no_download)
    variant = {"name": args.variant}
    if args.rho is not None:
        variant["rho"] = args.rho
    vae = VAE(build_encoder(args.latent_dim, args.filters, args.seed),
              build_decoder(args.latent_dim, args.filters), variant=variant)
    vae.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    history = vae.fit(data.x_train, epochs=args.epochs, batch_size=args.batch_size,
                      verbose=2)
    scores = vae.evaluate(data.x_test, batch_size=args.batch_size, verbose=0,
                          return_dict=True)
    print(f"test_loss={scores['total_loss']:.4f} "
          f"reconstruction={scores['reconstruction_loss']:.4f} kl={scores['kl_loss']:.4f}")
    return {"test_loss": float(scores["total_loss"]), "history": history.history}


if __name__ == "__main__":
    main()
