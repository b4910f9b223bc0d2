"""An independent implementation of the SAM-family step, for golden tests.

It shares nothing with keras_sam's step: passes run on a *copy* of the model
with the backend's own autodiff (a `tf.function` on TensorFlow, `jax.grad`
of `stateless_call` on JAX, `torch.autograd` on PyTorch), the perturbation is written into the copy's
variables (snapshot, assign, restore) instead of a stateless scope, the
variant formulas are NumPy, and SGD is applied by hand. What it does share is
the step's contract, as docs/design.md states it: pass 2 starts from the
non-trainable state of before pass 1 (same dropout masks, as the SAM
authors' JAX code google-research/sam does; BatchNorm statistics from pass 1
only).
"""

import keras
import numpy as np


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
            # A copy: JAX's fit donates the model's buffers to its step.
            target.assign(np.array(source.numpy()))
        self.loss_fn = loss_fn
        self.jit_compile = jit_compile
        self._step = _loss_and_gradients(self.model, loss_fn, jit_compile)

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
        return self._step(*batch), before

    def gradients_at(self, batch, offsets, state_before):
        """Gradients at `w + offsets` from `state_before`; leaves w and state."""
        weights, state_after = self.weights, self.state()
        self.set_weights([w + o for w, o in zip(weights, offsets)])
        self.set_state(state_before)
        gradients = self._step(*batch)
        self.set_weights(weights)
        self.set_state(state_after)
        return gradients


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
    size = len(keras.tree.flatten(y)[0])
    for start in range(0, size, batch_size):
        end = start + batch_size
        sw = None if sample_weight is None else sample_weight[start:end]
        xb = keras.tree.map_structure(lambda t: t[start:end], x)
        yb = keras.tree.map_structure(lambda t: t[start:end], y)
        yield xb, yb, sw


def sam_offsets(gradients, rho, epsilon=1e-12):
    scale = rho / (norm(gradients) + epsilon)
    return [g * scale for g in gradients]


def asam_offsets(gradients, weights, rho, eta, epsilon=1e-12):
    t = [np.abs(w) + eta for w in weights]
    scale = rho / (norm([ti * g for ti, g in zip(t, gradients)]) + epsilon)
    return [ti * ti * g * scale for ti, g in zip(t, gradients)]


def _loss_and_gradients(model, loss_fn, jit_compile):
    """`step(x, y, sample_weight)`: a stateful training pass of `model`.

    Returns the gradients of `loss_fn + model.losses` as NumPy arrays and
    leaves the non-trainable state (BatchNorm statistics, seeds) advanced.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def step(x, y, sample_weight):
            with tf.GradientTape() as tape:
                y_pred = model(x, training=True)
                loss = loss_fn(y, y_pred, sample_weight) + sum(model.losses)
            gradients = tape.gradient(loss, model.trainable_variables)
            return [tf.convert_to_tensor(g) for g in gradients]

        step = tf.function(step, jit_compile=jit_compile)
        return lambda *batch: [g.numpy() for g in step(*batch)]
    if backend == "jax":
        import jax

        def pure(trainable, non_trainable, x, y, sample_weight):
            def loss(trainable):
                y_pred, state, losses = model.stateless_call(
                    trainable, non_trainable, x, training=True, return_losses=True
                )
                return loss_fn(y, y_pred, sample_weight) + sum(losses), state

            (_, state), gradients = jax.value_and_grad(loss, has_aux=True)(trainable)
            return gradients, state

        pure = jax.jit(pure) if jit_compile else pure

        def step(x, y, sample_weight):
            gradients, state = pure(
                [v.value for v in model.trainable_variables],
                [v.value for v in model.non_trainable_variables],
                x, y, sample_weight,
            )
            for v, value in zip(model.non_trainable_variables, state):
                v.assign(value)
            return [np.asarray(g) for g in gradients]

        return step
    if backend == "torch":
        import torch

        def step(x, y, sample_weight):
            y_pred = model(x, training=True)
            loss = loss_fn(y, y_pred, sample_weight) + sum(model.losses)
            gradients = torch.autograd.grad(
                loss, [v.value for v in model.trainable_variables]
            )
            return [g.detach().cpu().numpy() for g in gradients]

        return step
    raise ValueError(f"No reference step for backend {backend!r}.")


def centralized(gradients):
    """Gradient centralization (Yong et al., ECCV 2020) in Keras's layout:
    each array of rank > 1 minus its mean over all axes but the last."""
    return [
        g - np.mean(g, axis=tuple(range(g.ndim - 1)), keepdims=True)
        if g.ndim > 1 else g
        for g in gradients
    ]


def asam_offsets_unscaled_shifts(gradients, weights, paths, rho, eta,
                                 epsilon=1e-12):
    """ASAM with `T = 1` for biases and normalization `beta` (by path)."""
    shift = [p.rsplit("/", 1)[-1].endswith(("bias", "beta")) for p in paths]
    t = [np.ones_like(w) if s else np.abs(w) + eta for w, s in zip(weights, shift)]
    scale = rho / (norm([ti * g for ti, g in zip(t, gradients)]) + epsilon)
    return [ti * ti * g * scale for ti, g in zip(t, gradients)]


class PerVariableReuseCache:
    """LookSAM's cache with norms, dots and reuse scale per variable."""

    def __init__(self, alpha, epsilon=1e-12):
        self.alpha, self.epsilon = alpha, epsilon
        self.cached = None

    def refresh(self, clean, perturbed):
        self.cached = [
            p - np.sum(p * g, dtype=np.float64)
            / (np.sum(g * g, dtype=np.float64) + self.epsilon) * g
            for p, g in zip(perturbed, clean)
        ]
        return perturbed

    def reuse(self, clean):
        if self.cached is None:
            return clean
        return [
            g + self._scale(g, v) * v for g, v in zip(clean, self.cached)
        ]

    def _scale(self, g, v):
        if norm([v]) == 0:  # an empty cache adds nothing, even with eps = 0
            return 0.0
        return self.alpha * norm([g]) / (norm([v]) + self.epsilon)


def stateful_gradients_at(ref, batch, offsets):
    """A stateful pass at `w + offsets` (its state update kept); leaves `w`."""
    weights = ref.weights
    ref.set_weights([w + o for w, o in zip(weights, offsets)])
    gradients = ref._step(*batch)
    ref.set_weights(weights)
    return gradients


def sample_losses_at(ref, batch, offsets, state_before):
    """Each sample's weighted loss at `w + offsets` from `state_before` (a
    forward pass with the dropout masks of that state); leaves w and state."""
    x, y, sample_weight = batch
    weights, state_after = ref.weights, ref.state()
    ref.set_weights([w + o for w, o in zip(weights, offsets)])
    ref.set_state(state_before)
    y_pred = _forward(ref)(x)
    losses = keras.ops.convert_to_numpy(
        keras.losses.sparse_categorical_crossentropy(y, y_pred, from_logits=True)
    )
    ref.set_weights(weights)
    ref.set_state(state_after)
    if sample_weight is not None:
        losses = losses * np.asarray(sample_weight)
    return losses


def rows_of(batch, rows):
    """The batch `(x, y, sample_weight)` restricted to `rows`."""
    return tuple(None if t is None else np.asarray(t)[rows] for t in batch)


def _forward(ref):
    """`model(x, training=True)`, compiled as the reference's passes are
    (TensorFlow's XLA draws other dropout masks than its eager kernels)."""
    if keras.backend.backend() != "tensorflow":
        return lambda x: ref.model(x, training=True)
    if not hasattr(ref, "_compiled_forward"):
        import tensorflow as tf

        ref._compiled_forward = tf.function(
            lambda x: ref.model(x, training=True), jit_compile=ref.jit_compile
        )
    return ref._compiled_forward
