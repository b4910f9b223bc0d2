"""Drives `SAMModel.fit` and the independent reference on the same batches."""

import keras
import numpy as np

import keras_sam
from tests import models, reference


def compare_with_reference(
    variant,
    reference_gradients,
    *,
    jit_compile,
    momentum=0.9,
    learning_rate=0.1,
    steps=4,
    batch_size=16,
    sample_weight=None,
    model_fn=models.bn_dropout_mlp,
    tolerance=1e-5,
    data_seed=0,
    pipeline=False,
):
    """Fits `steps` steps and checks weights and state against the reference.

    `reference_gradients(ref, batch, step)` returns the gradients the
    reference optimizer receives on step `step` (NumPy, the variant's formula),
    computed with `ref.clean_gradients` / `ref.gradients_at`. It may instead
    return `(gradients, decoupled)`: then `w -= lr_t * decoupled` follows the
    optimizer's step (an update outside the optimizer, as decoupled WSAM).
    `learning_rate` is a float or a `keras.optimizers.schedules`
    schedule; the reference uses `lr_t = schedule(step)`.
    With `pipeline`, `fit` reads a `tf.data` pipeline batched without
    `drop_remainder` (the usual input), whose batch size TensorFlow does
    not know when it traces the step.
    Returns `(model, ref)` for further checks.
    """
    rng = np.random.default_rng(data_seed)
    x = rng.normal(size=(steps * batch_size, 12)).astype("float32")
    y = rng.integers(0, 4, size=steps * batch_size)
    inner = model_fn()
    loss_fn = models.sparse_ce()
    ref = reference.ReferenceModel(inner, loss_fn, jit_compile=jit_compile)
    model = keras_sam.SAMModel(inner, variant=variant)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate, momentum=momentum),
        loss=models.sparse_ce(),
        jit_compile=jit_compile,
    )
    if pipeline:
        import tensorflow as tf

        columns = (x, y) if sample_weight is None else (x, y, sample_weight)
        data = tf.data.Dataset.from_tensor_slices(columns).batch(batch_size)
        assert data.element_spec[0].shape[0] is None
        model.fit(data, epochs=1, verbose=0)
    else:
        model.fit(
            x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0,
            sample_weight=sample_weight,
        )
    batches = reference.batches(x, y, batch_size, sample_weight)
    replay(ref, reference_gradients, batches, learning_rate, momentum)
    reference.assert_weights_close(
        [v.numpy() for v in inner.trainable_variables], ref.weights, tolerance
    )
    float_state = [
        (v.numpy(), r)
        for v, r in zip(inner.non_trainable_variables, ref.state())
        if np.issubdtype(r.dtype, np.floating)
    ]
    reference.assert_weights_close(
        [a for a, _ in float_state], [r for _, r in float_state], tolerance
    )
    return model, ref


def replay(ref, reference_gradients, batches, learning_rate, momentum):
    """Trains `ref` with momentum SGD on `batches`, in order.

    `reference_gradients` and `learning_rate` as for `compare_with_reference`.
    """
    sgd = reference.MomentumSGD(learning_rate, momentum)
    for step, batch in enumerate(batches):
        gradients = reference_gradients(ref, batch, step)
        rate = learning_rate
        if callable(rate):
            rate = float(keras.ops.convert_to_numpy(rate(step)))
        decoupled = None
        if isinstance(gradients, tuple):
            gradients, decoupled = gradients
        weights = sgd.step(ref.weights, gradients, rate)
        if decoupled is not None:
            weights = [w - rate * d for w, d in zip(weights, decoupled)]
        ref.set_weights(weights)
    return ref


def oracle_calls_per_step(variant_class, *, jit_compile, steps=3, **kwargs):
    """Runs `steps` fit steps; returns the gradient-oracle calls per step.

    Counts executions, not traces: a `keras.Variable` is incremented with
    `assign_add` inside the compiled step each time the oracle runs.
    """
    class Counting(variant_class):
        def build(self, input_shape):
            super().build(input_shape)
            # Owned by the variant, so it is model state on every backend
            # (a free variable would not be carried through a JAX step).
            self.oracle_calls = self.add_weight(
                shape=(), initializer="zeros", trainable=False, name="oracle_calls"
            )

        def compute_gradients(self, gradient_fn, gradients, variables, step):
            def counted(offsets):
                self.oracle_calls.assign_add(1.0)
                return gradient_fn(offsets)

            return super().compute_gradients(counted, gradients, variables, step)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * 16, 12)).astype("float32")
    y = rng.integers(0, 4, size=steps * 16)
    variant = Counting(**kwargs)
    model = keras_sam.SAMModel(models.bn_dropout_mlp(), variant=variant)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=models.sparse_ce(),
                  jit_compile=jit_compile)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    return float(variant.oracle_calls.numpy()) / steps
