"""An independent implementation of the SAM-family step, for golden tests.

It shares nothing with keras_sam's step: passes run on a *copy* of the model
in their own `tf.function`s, the perturbation is written into the copy's
variables (snapshot, assign, restore) instead of a stateless scope, the
variant formulas are NumPy, and SGD is applied by hand. What it does share is
the contract of SPEC §2: pass 2 starts from the non-trainable state of before
pass 1 (same dropout masks, BatchNorm statistics from pass 1 only).
"""

import keras
import numpy as np
import tensorflow as tf


def relative_error(actual, expected):
    """`||actual - expected|| / ||expected||` (absolute when expected is 0)."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    scale = max(np.linalg.norm(expected), 1e-30)
    return np.linalg.norm(actual - expected) / scale


def assert_weights_close(actual, expected, tolerance=1e-5):
    for i, (a, e) in enumerate(zip(actual, expected)):
        error = relative_error(a, e)
        assert error <= tolerance, f"variable {i}: relative error {error:.3g}"


def norm(tensors):
    return np.sqrt(sum(np.sum(np.square(t, dtype=np.float64)) for t in tensors))


class ReferenceModel:
    """A copy of `model` whose gradients can be taken at any weights."""

    def __init__(self, model, loss_fn, jit_compile=False):
        self.model = keras.models.clone_model(model)
        for target, source in zip(self.model.variables, model.variables):
            target.assign(source)
        self.loss_fn = loss_fn

        def loss_and_gradients(x, y, sample_weight):
            with tf.GradientTape() as tape:
                y_pred = self.model(x, training=True)
                loss = self.loss_fn(y, y_pred, sample_weight)
                loss = loss + sum(self.model.losses)
            gradients = tape.gradient(loss, self.model.trainable_variables)
            return loss, [tf.convert_to_tensor(g) for g in gradients]

        self._step = tf.function(loss_and_gradients, jit_compile=jit_compile)

    @property
    def weights(self):
        return [v.numpy() for v in self.model.trainable_variables]

    def state(self):
        return [v.numpy() for v in self.model.non_trainable_variables]

    def set_state(self, values):
        for v, value in zip(self.model.non_trainable_variables, values):
            v.assign(value)

    def set_weights(self, values):
        for v, value in zip(self.model.trainable_variables, values):
            v.assign(value)

    def sam_gradients(self, batch, rho):
        """SAM's gradient on `batch` (clean pass, then the perturbed one)."""
        clean, state = self.clean_gradients(batch)
        return self.gradients_at(batch, sam_offsets(clean, rho), state)

    def train_sam(self, x, y, batch_size, rho, learning_rate):
        """SAM with plain SGD over the batches of `(x, y)`, in order."""
        sgd = MomentumSGD(learning_rate)
        for batch in batches(x, y, batch_size):
            self.set_weights(sgd.step(self.weights, self.sam_gradients(batch, rho)))

    def clean_gradients(self, batch):
        """Pass 1: stateful. Returns (gradients, state before the pass)."""
        before = self.state()
        _, gradients = self._step(*batch)
        return [g.numpy() for g in gradients], before

    def gradients_at(self, batch, offsets, state_before):
        """Gradients at `w + offsets` from `state_before`; leaves w and state."""
        weights, state_after = self.weights, self.state()
        self.set_weights([w + o for w, o in zip(weights, offsets)])
        self.set_state(state_before)
        _, gradients = self._step(*batch)
        self.set_weights(weights)
        self.set_state(state_after)
        return [g.numpy() for g in gradients]


class MomentumSGD:
    """Keras SGD by hand: `m = momentum * m - lr * g; w += m`."""

    def __init__(self, learning_rate, momentum=0.0):
        self.learning_rate, self.momentum = learning_rate, momentum
        self.velocity = None

    def step(self, weights, gradients, learning_rate=None):
        """One step; `learning_rate` overrides the constant rate (schedules)."""
        if learning_rate is None:
            learning_rate = self.learning_rate
        if self.velocity is None:
            self.velocity = [np.zeros_like(w) for w in weights]
        self.velocity = [
            self.momentum * m - learning_rate * g
            for m, g in zip(self.velocity, gradients)
        ]
        return [w + m for w, m in zip(weights, self.velocity)]


def batches(x, y, batch_size, sample_weight=None):
    size = len(tf.nest.flatten(y)[0])
    for start in range(0, size, batch_size):
        end = start + batch_size
        sw = None if sample_weight is None else sample_weight[start:end]
        xb = tf.nest.map_structure(lambda t: t[start:end], x)
        yb = tf.nest.map_structure(lambda t: t[start:end], y)
        yield xb, yb, sw


def sam_offsets(gradients, rho, epsilon=1e-12):
    scale = rho / (norm(gradients) + epsilon)
    return [g * scale for g in gradients]


def asam_offsets(gradients, weights, rho, eta, epsilon=1e-12):
    t = [np.abs(w) + eta for w in weights]
    scale = rho / (norm([ti * g for ti, g in zip(t, gradients)]) + epsilon)
    return [ti * ti * g * scale for ti, g in zip(t, gradients)]
