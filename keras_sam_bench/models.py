"""The benchmark's models: a 1-D CNN, a GRU and a small ResNet.

Every builder takes the `Dataset`'s input shape, kind and number of classes
and returns an uncompiled `keras.Model` that outputs logits. The input
adapter is shared: token ids go through an `Embedding`, 1-D float signals
get a channel axis, images feed the ResNet as they are (the CNN and GRU read
an image row by row).
"""

import keras

MODELS = ("cnn", "gru", "resnet")
DEFAULT_MODEL = {"sequence": "cnn", "image": "resnet", "text": "gru"}


def _adapt_inputs(inputs, kind, vocab_size, for_images):
    """Turns raw inputs into `(steps, channels)` or, for images, `(h, w, c)`."""
    if kind == "text":
        return keras.layers.Embedding(vocab_size, 64, mask_zero=False)(inputs)
    if kind == "image":
        if for_images:
            return inputs
        height, width, channels = inputs.shape[1:]
        return keras.layers.Reshape((height, width * channels))(inputs)
    if len(inputs.shape) == 2:
        return keras.layers.Reshape((inputs.shape[1], 1))(inputs)
    return inputs


def cnn(input_shape, num_classes, kind="sequence", vocab_size=None, filters=64):
    """The 1-D CNN of the MNIST-1D paper, widened to 64 filters (~28k weights).

    Three `Conv1D` layers with stride 2 (kernels 5, 3, 3) and ReLU, flattened
    into the logits; no pooling, since position matters in MNIST-1D. The
    paper's 25 filters underfit at Adam 1e-3 in 20-40 epochs (84 % clean test
    accuracy after 40 epochs, against 91 % with 64 filters).
    """
    inputs = keras.Input(input_shape, dtype="int32" if kind == "text" else "float32")
    x = _adapt_inputs(inputs, kind, vocab_size, for_images=False)
    x = keras.layers.Conv1D(filters, 5, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv1D(filters, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv1D(filters, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name="cnn")


def gru(input_shape, num_classes, kind="sequence", vocab_size=None):
    """A one-layer GRU (64 units) whose last state feeds the logits.

    RNNs have drastic gradient changes across steps; this is the model on
    which GA-SAM is meant to help where SAM hurts.
    """
    inputs = keras.Input(input_shape, dtype="int32" if kind == "text" else "float32")
    x = _adapt_inputs(inputs, kind, vocab_size, for_images=False)
    x = keras.layers.GRU(64)(x)
    outputs = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name="gru")


def _residual_block(x, filters, strides, conv):
    shortcut = x
    y = conv(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.ReLU()(y)
    y = conv(filters, 3, padding="same", use_bias=False)(y)
    y = keras.layers.BatchNormalization()(y)
    if strides != 1 or shortcut.shape[-1] != filters:
        shortcut = conv(filters, 1, strides=strides, use_bias=False)(shortcut)
        shortcut = keras.layers.BatchNormalization()(shortcut)
    return keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))


def resnet(input_shape, num_classes, kind="image", vocab_size=None, widths=(16, 32, 64)):
    """A small pre-ResNet-20-style network: one residual block per stage.

    2-D convolutions for images, 1-D ones for signals and token sequences;
    BatchNorm in every block (so the benchmark exercises SAM's rule that
    only the clean pass updates the moving statistics).
    """
    inputs = keras.Input(input_shape, dtype="int32" if kind == "text" else "float32")
    x = _adapt_inputs(inputs, kind, vocab_size, for_images=True)
    is_image = kind == "image"
    conv = keras.layers.Conv2D if is_image else keras.layers.Conv1D
    pool = (
        keras.layers.GlobalAveragePooling2D
        if is_image
        else keras.layers.GlobalAveragePooling1D
    )
    x = conv(widths[0], 3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    for stage, filters in enumerate(widths):
        x = _residual_block(x, filters, 1 if stage == 0 else 2, conv)
    x = pool()(x)
    outputs = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name="resnet")


_BUILDERS = {"cnn": cnn, "gru": gru, "resnet": resnet}


def build_model(name, dataset):
    """Builds model `name` (`"cnn"`, `"gru"`, `"resnet"` or `"auto"`) for `dataset`.

    `"auto"` picks the CNN for signals, the ResNet for images and the GRU for
    text.
    """
    if name == "auto":
        name = DEFAULT_MODEL[dataset.kind]
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    return _BUILDERS[name](
        dataset.input_shape,
        dataset.num_classes,
        kind=dataset.kind,
        vocab_size=dataset.vocab_size,
    )
