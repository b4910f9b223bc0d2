"""What makes a benchmark run the same on every Keras backend.

Keras draws initial weights and the shuffling order with the backend's own
random generator, so the same seed gives different runs on TensorFlow, JAX
and PyTorch. The benchmark draws both with NumPy instead:

- `initialize(model, seed)` redraws every random initial weight from the
  distribution of Keras's default initializer for it (orthogonal recurrent
  kernels, uniform(-0.05, 0.05) embeddings, Glorot-uniform other kernels);
  constants (biases, BatchNorm) keep Keras's values, which are exact anyway;
- `EpochBatches` is a `keras.utils.PyDataset` that shuffles with a seeded
  NumPy generator once per epoch.
"""

import math

import keras
import numpy as np


def _glorot_uniform(rng, shape):
    receptive = math.prod(shape[:-2])
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def _orthogonal(rng, shape):
    rows, columns = math.prod(shape[:-1]), shape[-1]
    flat = rng.normal(size=(max(rows, columns), min(rows, columns)))
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < columns:
        q = q.T
    return q.reshape(shape)


def initialize(model, seed):
    """Redraws `model`'s random initial weights with NumPy, from `seed`."""
    rng = np.random.default_rng(seed)
    for variable in model.trainable_variables:
        shape = tuple(variable.shape)
        name = variable.path.rsplit("/", 1)[-1]
        if name == "recurrent_kernel":
            value = _orthogonal(rng, shape)
        elif name == "embeddings":
            value = rng.uniform(-0.05, 0.05, size=shape)
        elif name.endswith("kernel") and len(shape) >= 2:
            value = _glorot_uniform(rng, shape)
        else:  # biases (a GRU's is 2-D), BatchNorm: constants
            continue
        variable.assign(value.astype(variable.dtype))


class EpochBatches(keras.utils.PyDataset):
    """Batches of `(x, y)` in a seeded NumPy order, reshuffled every epoch."""

    def __init__(self, x, y, batch_size, seed):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(len(y))

    def __len__(self):
        return math.ceil(len(self.y) / self.batch_size)

    def __getitem__(self, index):
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self._order = self._rng.permutation(len(self.y))
