"""`stateful_step`: one custom `train_step`/`test_step` body for every backend."""

import functools

import keras


def stateful_step(step):
    """Lets a `train_step(self, data)` or `test_step` written statefully run on JAX.

    Keras's TensorFlow and PyTorch trainers call `train_step(self, data)`
    (and `test_step(self, data)`), whose body reads and assigns variables;
    its JAX trainer calls `train_step(self, state, data)` and wants the new
    state back: a pure function. Decorate the stateful body (for instance
    one that calls `variant.minimize`): on TensorFlow and PyTorch it is
    returned unchanged; on JAX it runs inside a `keras.StatelessScope` over
    the model's variables (trainable, non-trainable, optimizer for a train
    step, metrics), as `SAMModel`'s own JAX step does, and returns
    `(logs, new_state)`.

    Example:

    ```python
    class VAE(keras.Model):
        @keras_sam.stateful_step
        def train_step(self, data):
            result = self.variant.minimize(lambda: self.vae_loss(data), self)
            return {"loss": result.loss}
    ```
    """
    if keras.backend.backend() != "jax":
        return step

    @functools.wraps(step)
    def stateless(self, state, data):
        from keras_sam.backend import jax as jax_backend

        return jax_backend.stateless_step(self, state, lambda: step(self, data))

    return stateless
