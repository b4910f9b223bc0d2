"""The TensorFlow train step: loss scaling, sparse gradients, optimizer features."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_sam
from keras_sam import variants
from tests import models, reference

pytestmark = pytest.mark.tensorflow_only


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 12)).astype("float32"), rng.integers(0, 4, n)


def _fit_sam(optimizer, rho=0.1, epochs=1, inner=None, **compile_kwargs):
    x, y = _data()
    keras.utils.set_random_seed(0)
    inner = inner or models.bn_dropout_mlp()
    model = keras_sam.SAMModel(inner, variant=variants.SAM(rho=rho))
    model.compile(optimizer=optimizer, loss=models.sparse_ce(), **compile_kwargs)
    model.fit(x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0)
    return model


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda: keras.optimizers.SGD(0.1, clipnorm=0.05),
        lambda: keras.optimizers.SGD(0.1, global_clipnorm=0.05),
        lambda: keras.optimizers.AdamW(0.01, weight_decay=0.1),
        lambda: keras.optimizers.SGD(0.1, momentum=0.9, use_ema=True,
                                     ema_momentum=0.5, ema_overwrite_frequency=2),
        lambda: keras.optimizers.SGD(0.1, momentum=0.9,
                                     gradient_accumulation_steps=2),
        lambda: keras.optimizers.SGD(
            keras.optimizers.schedules.ExponentialDecay(0.1, 1, 0.5)),
    ],
    ids=["clipnorm", "global_clipnorm", "weight_decay", "ema", "accumulation",
         "schedule"],
)
def test_base_optimizer_features_act_on_the_sam_gradient(make_optimizer):
    """SAMModel = the SAM gradient handed to an identical, unmodified optimizer."""
    x, y = _data()
    inner = models.bn_dropout_mlp()
    ref = reference.ReferenceModel(inner, models.sparse_ce())
    _fit_sam(make_optimizer(), inner=inner)
    optimizer = make_optimizer()
    variables = ref.model.trainable_variables
    optimizer.build(variables)
    for batch in reference.batches(x, y, 16):
        perturbed = ref.sam_gradients(batch, 0.1)
        optimizer.apply([tf.constant(g) for g in perturbed], variables)
    if optimizer.use_ema:
        optimizer.finalize_variable_values(variables)
    reference.assert_weights_close(
        [v.numpy() for v in inner.trainable_variables], ref.weights
    )


def test_static_loss_scale_is_removed_before_the_perturbation():
    plain = _fit_sam(keras.optimizers.SGD(0.1, momentum=0.9))
    scaled = _fit_sam(keras.optimizers.SGD(0.1, momentum=0.9, loss_scale_factor=256.0))
    reference.assert_weights_close(
        [v.numpy() for v in scaled.trainable_variables],
        [v.numpy() for v in plain.trainable_variables],
        tolerance=1e-5,
    )


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains(policy):
    keras.mixed_precision.set_global_policy(policy)
    x, y = _data(64)
    inner = keras.Sequential([
        keras.Input((12,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(4, dtype="float32"),
    ])
    model = keras_sam.SAMModel(inner, variant="sam")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=models.sparse_ce())
    is_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_scaled == (policy == "mixed_float16")
    history = model.fit(x, y, batch_size=16, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # The perturbation is formed from unscaled gradients: its norm is rho,
    # not rho times the loss scale (epsilon would not hide that).
    np.testing.assert_allclose(history.history["perturbation_norm"], 0.05, rtol=1e-3)
    for v in inner.trainable_variables:
        assert v.dtype == "float32" and np.all(np.isfinite(v.numpy()))


def test_loss_scale_backs_off_on_a_non_finite_step():
    keras.mixed_precision.set_global_policy("mixed_float16")
    x, y = _data(32)
    x[:16] = 1e30  # overflows float16: a non-finite first pass
    inner = keras.Sequential([
        keras.Input((12,)), keras.layers.Dense(8), keras.layers.Dense(4, dtype="float32")
    ])
    model = keras_sam.SAMModel(inner)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=models.sparse_ce())
    before = [v.numpy() for v in inner.trainable_variables]
    model.fit(x[:16], y[:16], batch_size=16, epochs=1, verbose=0)
    assert float(model.optimizer.dynamic_scale.numpy()) == 2.0**14
    for b, v in zip(before, inner.trainable_variables):
        np.testing.assert_array_equal(v.numpy(), b)
    model.fit(x[16:], y[16:], batch_size=16, epochs=1, verbose=0)
    assert any(not np.array_equal(v.numpy(), b)
               for b, v in zip(before, inner.trainable_variables))


def _embedding_model():
    return keras.Sequential([
        keras.Input((5,), dtype="int32"),
        keras.layers.Embedding(50, 8),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(3),
    ])


@pytest.mark.parametrize("jit_compile", [False, True])
def test_sparse_embedding_gradients_match_reference(jit_compile):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 50, size=(32, 5)).astype("int32")
    y = rng.integers(0, 3, size=32)
    inner = _embedding_model()
    ref = reference.ReferenceModel(inner, models.sparse_ce())
    model = keras_sam.SAMModel(inner, variant=variants.SAM(rho=0.5))
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss=models.sparse_ce(),
                  jit_compile=jit_compile)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ref.train_sam(x, y, batch_size=8, rho=0.5, learning_rate=1.0)
    reference.assert_weights_close(
        [v.numpy() for v in inner.trainable_variables], ref.weights
    )


def test_unused_variable_is_left_to_the_optimizer():
    class TwoHeads(keras.Model):
        def __init__(self):
            super().__init__()
            self.used = keras.layers.Dense(4)
            self.unused = keras.layers.Dense(4)

        def build(self, shape):
            self.used.build(shape)
            self.unused.build(shape)

        def call(self, x):
            return self.used(x)

    x, y = _data(32)
    inner = TwoHeads()
    inner.build((None, 12))
    unused_before = [v.numpy() for v in inner.unused.trainable_variables]
    model = keras_sam.SAMModel(inner)
    model.compile(optimizer=keras.optimizers.AdamW(0.01, weight_decay=0.5),
                  loss=models.sparse_ce())
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # Keras skips variables without a gradient (no weight decay on them).
    for b, v in zip(unused_before, inner.unused.trainable_variables):
        np.testing.assert_array_equal(v.numpy(), b)


def _conv_net():
    return keras.Sequential([
        keras.Input((8, 1)),
        keras.layers.Conv1D(4, 3),
        keras.layers.Flatten(),
        keras.layers.Dense(2),
    ])


@pytest.mark.parametrize(
    "variant, jit_compile, warns",
    [("look_sam", True, True), ("ae_sam", True, True), ("sam", True, False),
     ("look_sam", False, False)],
)
def test_warns_when_xla_on_cpu_meets_a_conditional_variant(variant, jit_compile, warns):
    model = keras_sam.SAMModel(_conv_net(), variant=variant)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  jit_compile=jit_compile)
    x = np.zeros((8, 8, 1), "float32")
    y = np.zeros((8,), "int32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=1, verbose=0)
    messages = [str(w.message) for w in caught if "XLA on CPU" in str(w.message)]
    assert bool(messages) == warns, messages
