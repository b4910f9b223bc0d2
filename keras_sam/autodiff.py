"""Loss, gradient and Hessian-vector product of a model, on any Keras backend.

`flatness` needs derivatives of the loss at given weights without changing
the model; each backend has its own autodiff, and this is the one place that
knows them. Weights, vectors and results are NumPy arrays (float32 in,
float64 out); the model runs in inference mode (`training=False`) inside a
`keras.StatelessScope` that maps its trainable variables to the weights.
"""

import keras
import numpy as np


def _as_numpy(tensors):
    return [np.asarray(keras.ops.convert_to_numpy(t), np.float64) for t in tensors]


class Derivatives:
    """`loss(w)`, `gradient(w)` and `hvp(w, v)` of `loss_fn(y, model(x))`."""

    def __init__(self, model, loss_fn, x, y):
        self.model, self.loss_fn = model, loss_fn
        self.variables = model.trainable_variables
        self.x = keras.ops.convert_to_tensor(x)
        self.y = keras.ops.convert_to_tensor(y)
        backend = keras.backend.backend()
        build = {"tensorflow": self._tensorflow, "jax": self._jax, "torch": self._torch}
        if backend not in build:
            raise ValueError(f"No autodiff for the {backend!r} backend.")
        self._gradient, self._hvp = build[backend]()

    def _loss(self, weights):
        mapping = list(zip(self.variables, weights))
        with keras.StatelessScope(state_mapping=mapping):
            y_pred = self.model(self.x, training=False)
            return keras.ops.cast(self.loss_fn(self.y, y_pred), "float32")

    def _tensors(self, arrays):
        return [keras.ops.convert_to_tensor(np.asarray(a, np.float32)) for a in arrays]

    def loss(self, weights):
        return float(keras.ops.convert_to_numpy(self._loss(self._tensors(weights))))

    def gradient(self, weights):
        return _as_numpy(self._gradient(self._tensors(weights)))

    def hvp(self, weights, vectors):
        return _as_numpy(self._hvp(self._tensors(weights), self._tensors(vectors)))

    def _tensorflow(self):
        import tensorflow as tf

        @tf.function
        def gradient(weights):
            with tf.GradientTape() as tape:
                tape.watch(weights)
                loss = self._loss(weights)
            return tape.gradient(loss, weights, unconnected_gradients="zero")

        @tf.function
        def hvp(weights, vectors):
            with tf.GradientTape() as outer:
                outer.watch(weights)
                with tf.GradientTape() as inner:
                    inner.watch(weights)
                    loss = self._loss(weights)
                gradients = inner.gradient(loss, weights, unconnected_gradients="zero")
                projection = tf.add_n(
                    [tf.reduce_sum(g * v) for g, v in zip(gradients, vectors)]
                )
            return outer.gradient(projection, weights, unconnected_gradients="zero")

        return gradient, hvp

    def _jax(self):
        import jax

        gradient = jax.jit(jax.grad(self._loss))

        @jax.jit
        def hvp(weights, vectors):
            return jax.jvp(gradient, (weights,), (vectors,))[1]

        return gradient, hvp

    def _torch(self):
        import torch

        def leaves(weights):
            return [w.detach().requires_grad_() for w in weights]

        def gradient(weights):
            weights = leaves(weights)
            return torch.autograd.grad(self._loss(weights), weights, allow_unused=True,
                                       materialize_grads=True)

        def hvp(weights, vectors):
            weights = leaves(weights)
            gradients = torch.autograd.grad(self._loss(weights), weights,
                                            create_graph=True, materialize_grads=True)
            projection = sum((g * v).sum() for g, v in zip(gradients, vectors))
            return torch.autograd.grad(projection, weights, allow_unused=True,
                                       materialize_grads=True)

        return gradient, hvp
