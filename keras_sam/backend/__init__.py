"""Backend-specific train steps, one file per Keras backend.

Only `tensorflow.py` imports TensorFlow, only `jax.py` JAX and only
`torch.py` PyTorch; each is imported when its backend is the active one.
"""

import importlib

import keras
from keras import ops

SUPPORTED = ("tensorflow", "jax", "torch")


def module():
    """The backend module of the active Keras backend."""
    name = keras.backend.backend()
    if name not in SUPPORTED:
        raise ValueError(
            f"SAMModel trains on the {', '.join(SUPPORTED)} backends. "
            f"Received: KERAS_BACKEND={name!r}."
        )
    return importlib.import_module(f"keras_sam.backend.{name}")


def cond(pred, true_fn, false_fn):
    """`ops.cond` whose branches may assign variables, on every backend.

    TensorFlow and PyTorch run branches statefully; on JAX a branch is
    traced, so the step's variables are carried through it explicitly.
    """
    if keras.backend.backend() == "jax":
        return module().cond(pred, true_fn, false_fn)
    return ops.cond(pred, true_fn, false_fn)
