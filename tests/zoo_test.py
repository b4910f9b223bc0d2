"""Small versions of keras.io example models, each trained with SAMModel.

Each asserts behaviour: what trains and what stays untouched, and that the
logged loss is the model's own loss at the weights before the step.
"""

import keras
import numpy as np
import pytest
from keras import ops

import keras_sam
from keras_sam import variants


def _sgd():
    return keras.optimizers.SGD(0.05)


def _weights(layer):
    return [np.array(v.numpy()) for v in layer.weights]


def _changed(before, layer):
    return any(not np.allclose(b, v.numpy()) for b, v in zip(before, layer.weights))


def assert_logs_the_models_own_loss(inner, x, y, loss=None, variant="sam"):
    """One step: the logged loss equals the inner model's loss before it."""
    inner.compile(loss=loss)
    expected = inner.evaluate(x, y, batch_size=len(keras.tree.flatten(x)[0]),
                              verbose=0, return_dict=True)["loss"]
    model = keras_sam.SAMModel(inner, variant=variant)
    model.compile(optimizer=_sgd(), loss=loss)
    before = [np.array(v.numpy()) for v in inner.trainable_variables]
    history = model.fit(x, y, batch_size=len(keras.tree.flatten(x)[0]), verbose=0)
    np.testing.assert_allclose(history.history["loss"], [expected], rtol=1e-4)
    assert any(not np.allclose(b, v.numpy())
               for b, v in zip(before, inner.trainable_variables))
    return model


def test_masked_bidirectional_lstm():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 20, size=(16, 10))
    tokens[:, 6:] = 0  # padding
    labels = rng.integers(0, 2, 16)
    inner = keras.Sequential([
        keras.Input((10,), dtype="int32"),
        keras.layers.Embedding(20, 8, mask_zero=True),
        keras.layers.Bidirectional(keras.layers.LSTM(4)),
        keras.layers.Dense(2),
    ])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert_logs_the_models_own_loss(inner, tokens, labels, loss, variant="ga_sam")


class CTCLayer(keras.layers.Layer):
    """The keras.io OCR example's loss layer: CTC via `add_loss`."""

    def call(self, labels, y_pred):
        batch = ops.shape(y_pred)[0]
        label_length = ops.sum(ops.cast(labels != 0, "int32"), axis=1)
        output_length = ops.full((batch,), ops.shape(y_pred)[1], "int32")
        self.add_loss(ops.mean(ops.ctc_loss(
            labels, y_pred, label_length, output_length, mask_index=0)))
        return y_pred


def test_ctc_loss_through_add_loss():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(8, 12, 6, 1)).astype("float32")
    labels = rng.integers(1, 5, size=(8, 3)).astype("int32")
    image = keras.Input((12, 6, 1), name="image")
    label = keras.Input((3,), dtype="int32", name="label")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(image)
    x = keras.layers.Reshape((12, 24))(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))(x)
    x = keras.layers.Dense(5, activation="softmax")(x)
    inner = keras.Model([image, label], CTCLayer()(label, x))
    model = assert_logs_the_models_own_loss(inner, [images, labels], None)
    assert model.evaluate([images, labels], verbose=0) > 0


def test_siamese_network_with_a_contrastive_loss():
    keras.utils.set_random_seed(0)
    margin = 1.0

    def contrastive_loss(y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        return ops.mean(y_true * ops.square(y_pred)
                        + (1 - y_true) * ops.square(ops.maximum(margin - y_pred, 0)))

    embed = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="tanh")])
    a, b = keras.Input((6,)), keras.Input((6,))
    distance = keras.layers.Lambda(
        lambda t: ops.sqrt(ops.sum(ops.square(t[0] - t[1]), axis=1, keepdims=True) + 1e-7)
    )([embed(a), embed(b)])
    inner = keras.Model([a, b], distance)
    rng = np.random.default_rng(0)
    pairs = [rng.normal(size=(16, 6)).astype("float32") for _ in range(2)]
    same = rng.integers(0, 2, size=(16, 1)).astype("float32")
    assert_logs_the_models_own_loss(inner, pairs, same, contrastive_loss)


def test_multi_output_with_a_loss_on_one_head_leaves_the_other_untouched():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    trained = keras.layers.Dense(3, name="trained")(hidden)
    unused = keras.layers.Dense(2, name="unused")
    inner = keras.Model(inputs, {"trained": trained, "unused": unused(hidden)})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6)).astype("float32")
    y = {"trained": rng.integers(0, 3, 16), "unused": np.zeros((16, 2), "float32")}
    loss = {"trained": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "unused": None}
    before = _weights(unused)
    model = keras_sam.SAMModel(inner, variant="look_sam")
    model.compile(optimizer=_sgd(), loss=loss)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    for b, v in zip(before, unused.weights):
        np.testing.assert_array_equal(v.numpy(), b)
    assert history["loss"][1] < history["loss"][0]


def test_frozen_base_transfer_learning_keeps_base_and_its_statistics():
    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8),
                             keras.layers.BatchNormalization(),
                             keras.layers.ReLU()], name="base")
    base.trainable = False
    inputs = keras.Input((8,))
    features = base(inputs, training=False)  # BatchNorm in inference mode
    inner = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Dropout(0.2)(features)))
    before = _weights(base)
    x = np.random.default_rng(0).normal(size=(32, 8)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, 32)
    model = keras_sam.SAMModel(inner, variant=variants.ASAM())
    model.compile(optimizer=_sgd(),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for b, v in zip(before, base.weights):  # kernel, BN gamma/beta/mean/var
        np.testing.assert_array_equal(v.numpy(), b)
    assert len(inner.trainable_variables) == 2


def test_vision_transformer_with_augmentation_layers():
    keras.utils.set_random_seed(0)
    patch, dim = 4, 8
    inputs = keras.Input((8, 8, 3))
    x = keras.Sequential([keras.layers.RandomFlip("horizontal", seed=1),
                          keras.layers.RandomTranslation(0.1, 0.1, seed=2)],
                         name="augmentation")(inputs)
    x = keras.layers.Conv2D(dim, patch, strides=patch)(x)  # patch embedding
    x = keras.layers.Reshape((4, dim))(x)
    positions = keras.layers.Embedding(4, dim)(ops.arange(4))
    x = x + positions
    attention = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1)
    x = keras.layers.LayerNormalization()(x + attention(x, x))
    x = keras.layers.GlobalAveragePooling1D()(x)
    inner = keras.Model(inputs, keras.layers.Dense(3)(x))
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(32, 8, 8, 3)).astype("float32")
    labels = rng.integers(0, 3, 32)
    model = keras_sam.SAMModel(inner, variant="ae_look_sam")
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(images, labels, batch_size=8, epochs=4, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    assert history["loss"][-1] < history["loss"][0]
    assert 0.0 < np.mean(history["sam_fraction"]) <= 1.0


def test_text_transformer_classifier():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12,), dtype="int32")
    tokens = keras.layers.Embedding(30, 8)(inputs)
    positions = keras.layers.Embedding(12, 8)(ops.arange(12))
    x = tokens + positions
    attention = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    x = keras.layers.LayerNormalization()(x + attention(x, x))
    x = keras.layers.LayerNormalization()(
        x + keras.layers.Dense(8)(keras.layers.Dense(16, activation="relu")(x)))
    x = keras.layers.GlobalAveragePooling1D()(x)
    inner = keras.Model(inputs, keras.layers.Dense(2)(x))
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 30, size=(16, 12))
    labels = rng.integers(0, 2, 16)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert_logs_the_models_own_loss(inner, ids, labels, loss, variant="wsam")
