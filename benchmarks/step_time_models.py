"""Models, synthetic batches and the hand-written SAM floor for `step_time.py`.

Three models, each with the input shape of the task it stands for (the
values are random: only the shapes matter for timing):

- `cnn`: the 1-D CNN of the MNIST-1D paper on (40, 1) signals, 10 classes;
- `resnet`: a small ResNet (one residual block per stage, BatchNorm) on
  32x32x3 images, 10 classes;
- `gru`: two stacked GRU layers on (40, 1) sequences, 10 classes.

`TwoPassSAM` is the floor the wrapper is compared with: the shortest correct
two-pass SAM `train_step` one would write by hand with a `GradientTape` in a
`keras.Model` subclass, no library.
"""

import keras
import numpy as np
import tensorflow as tf

# name -> input shape, batch size, steps per timed epoch and timed rounds
# (the defaults of `step_time.py`: the whole run fits in 15 minutes on 2
# cores; the CNN's short steps get more rounds, as load bursts on a shared
# machine hit them hardest)
MODELS = {
    "cnn": {"input_shape": (40, 1), "batch_size": 128, "steps": 11, "repeats": 12},
    "resnet": {"input_shape": (32, 32, 3), "batch_size": 32, "steps": 7,
               "repeats": 5},
    "gru": {"input_shape": (40, 1), "batch_size": 128, "steps": 7, "repeats": 5},
}
NUM_CLASSES = 10


def _cnn(inputs):
    x = inputs
    for filters, kernel in ((25, 5), (25, 3), (25, 3)):
        x = keras.layers.Conv1D(
            filters, kernel, strides=2, padding="same", activation="relu"
        )(x)
    return keras.layers.Flatten()(x)


def _residual_block(x, filters, strides):
    shortcut = x
    y = keras.layers.Conv2D(filters, 3, strides=strides, padding="same",
                            use_bias=False)(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.ReLU()(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = keras.layers.BatchNormalization()(y)
    if strides != 1 or shortcut.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=strides,
                                       use_bias=False)(shortcut)
        shortcut = keras.layers.BatchNormalization()(shortcut)
    return keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))


def _resnet(inputs):
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    for stage, filters in enumerate((16, 32, 64)):
        x = _residual_block(x, filters, 1 if stage == 0 else 2)
    return keras.layers.GlobalAveragePooling2D()(x)


def _gru(inputs):
    x = keras.layers.GRU(64, return_sequences=True)(inputs)
    return keras.layers.GRU(64)(x)


_BODIES = {"cnn": _cnn, "resnet": _resnet, "gru": _gru}


def build_model(name, seed=0):
    """A fresh, built `keras.Model` `name` with the same weights for a seed."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(MODELS[name]["input_shape"])
    outputs = keras.layers.Dense(NUM_CLASSES)(_BODIES[name](inputs))
    return keras.Model(inputs, outputs, name=name)


def synthetic_data(name, num_samples, seed=0):
    """`(x, y)`: standard-normal inputs of model `name`'s shape, random labels."""
    rng = np.random.default_rng(seed)
    shape = (num_samples, *MODELS[name]["input_shape"])
    x = rng.normal(size=shape).astype("float32")
    y = rng.integers(0, NUM_CLASSES, size=num_samples).astype("int32")
    return x, y


class TwoPassSAM(keras.Model):
    """Minimal SAM by hand: the time floor for any two-pass SAM step.

    Pass 1 at `w`; snapshot the weights; assign `w + rho * g / ||g||`;
    pass 2; assign the snapshot back (never add-then-subtract); the base
    optimizer applies pass 2's gradient. No loss scaling, no non-finite
    check, no BatchNorm bookkeeping: pass 2 also updates BatchNorm moving
    statistics, which a correct implementation must not do, so the floor is
    a lower bound, not a reference implementation.
    """

    def __init__(self, inner, rho=0.05, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner
        self.rho = rho

    def call(self, inputs, training=None):
        return self.inner(inputs, training=training)

    def _loss_and_gradients(self, x, y, variables):
        with tf.GradientTape() as tape:
            y_pred = self.inner(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
        return loss, y_pred, tape.gradient(loss, variables)

    def train_step(self, data):
        x, y = data
        variables = self.inner.trainable_variables
        loss, y_pred, gradients = self._loss_and_gradients(x, y, variables)
        scale = self.rho / (tf.linalg.global_norm(gradients) + 1e-12)
        snapshot = [tf.identity(v) for v in variables]
        for v, w, g in zip(variables, snapshot, gradients):
            v.assign(w + scale * g)
        _, _, perturbed_gradients = self._loss_and_gradients(x, y, variables)
        for v, w in zip(variables, snapshot):
            v.assign(w)
        self.optimizer.apply(perturbed_gradients, variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}
