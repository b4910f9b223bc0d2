"""`stateful_train_step`: one custom `train_step` body for every backend."""

import functools

import keras


def stateful_train_step(train_step):
    """Lets a `train_step(self, data)` written statefully run on JAX too.

    Keras's TensorFlow and PyTorch trainers call `train_step(self, data)`,
    whose body reads and assigns variables; its JAX trainer calls
    `train_step(self, state, data)` and wants the new state back, a pure
    function. Decorate the stateful body (for instance one that calls
    `variant.minimize`): on TensorFlow and PyTorch it is returned
    unchanged; on JAX it runs inside a `keras.StatelessScope` over the
    model's variables (trainable, non-trainable, optimizer, metrics), as
    `SAMModel`'s own JAX step does, and returns `(logs, new_state)`.

    Example:

    ```python
    class VAE(keras.Model):
        @keras_sam.stateful_train_step
        def train_step(self, data):
            result = self.sam.minimize(lambda: self.vae_loss(data), self)
            return {"loss": result.loss}
    ```
    """
    if keras.backend.backend() != "jax":
        return train_step

    @functools.wraps(train_step)
    def stateless(self, state, data):
        from keras_sam.backend import jax as jax_backend

        return jax_backend.stateless_step(self, state, lambda: train_step(self, data))

    return stateless
