"""Models, synthetic batches and the hand-written SAM floor for `step_time.py`.

Three models, each with the input shape of the task it stands for (the
values are random: only the shapes matter for timing):

- `cnn` ("1-D CNN (25 filters)"): the 1-D CNN of the MNIST-1D paper, at the
  paper's 25 filters (the accuracy benchmark's `cnn` has 64), on (40, 1)
  signals, 10 classes;
- `resnet`: a small ResNet (one residual block per stage, BatchNorm) on
  32x32x3 images, 10 classes;
- `cnn64` ("1-D CNN (64 filters)"): the claims suite's CNN
  (keras_sam_bench.models.cnn, 64 filters), on (40, 1) signals: the small
  model its cost claims report beside the ResNet;
- `gru` ("GRU (2 layers)"): two stacked GRU(64) layers (the accuracy
  benchmark's `gru` has one) on (40, 1) sequences, 10 classes.

`TwoPassSAM` is the floor the wrapper is compared with: the shortest correct
two-pass SAM `train_step` one would write by hand in a `keras.Model`
subclass, no library, for the running Keras backend: `floor_tensorflow.py`
(`GradientTape`), `floor_jax.py` (pure `train_step(state, data)`) or
`floor_torch.py` (`torch.autograd.grad`).
"""

import importlib

import keras
import numpy as np

TwoPassSAM = importlib.import_module(
    f"floor_{keras.backend.backend()}").TwoPassSAM

# name -> input shape, batch size, steps per timed epoch and timed rounds
# (the defaults of `step_time.py`: the whole run fits in 15 minutes on 2
# cores; the CNN's short steps get more rounds, as load bursts on a shared
# machine hit them hardest)
# `label` names the model in the reports and docs: the CNN and the GRU are not
# the accuracy benchmark's `cnn` (64 filters) and `gru` (one layer) of
# keras_sam_bench/models.py, so they do not share their names; the ResNet is
# the same network.
MODELS = {
    "cnn": {"input_shape": (40, 1), "batch_size": 128, "steps": 11, "repeats": 12,
            "label": "1-D CNN (25 filters)"},
    "cnn64": {"input_shape": (40, 1), "batch_size": 128, "steps": 11, "repeats": 12,
              "label": "1-D CNN (64 filters)"},
    "resnet": {"input_shape": (32, 32, 3), "batch_size": 32, "steps": 7,
               "repeats": 5, "label": "ResNet"},
    "gru": {"input_shape": (40, 1), "batch_size": 128, "steps": 7, "repeats": 5,
            "label": "GRU (2 layers)"},
}
NUM_CLASSES = 10
# What `step_time.py` times without --models (cnn64 is for the claims suite).
DEFAULT_MODELS = ("cnn", "resnet", "gru")


def _cnn(inputs, filters=25):
    x = inputs
    for kernel in (5, 3, 3):
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


_BODIES = {"cnn": _cnn, "cnn64": lambda inputs: _cnn(inputs, 64),
           "resnet": _resnet, "gru": _gru}


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
