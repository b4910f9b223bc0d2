"""Backend-specific train steps, one file per Keras backend.

Only `tensorflow.py` imports TensorFlow, only `jax.py` JAX and only
`torch.py` PyTorch; each is imported when its backend is the active one.
"""

import importlib

import keras
from keras import ops

from keras_sam.backend import common
from keras_sam.backend import step

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

    TensorFlow and PyTorch run branches statefully (TensorFlow under a
    `tf.distribute` strategy in cross-replica context, so that a branch may
    all-reduce); on JAX a branch is traced, so the step's variables are
    carried through it explicitly.
    Where XLA compiles the step for a CPU and the model has convolutions,
    both branches run and the taken one's results are kept
    (`common.select`): the same values, at the cost of both branches.
    """
    step = common.current_step()
    if step is not None and step[1]:
        return common.select(pred, true_fn, false_fn, step[0])
    if keras.backend.backend() in ("jax", "tensorflow"):
        return module().cond(pred, true_fn, false_fn)
    return ops.cond(pred, true_fn, false_fn)


def mean_over_replicas(values):
    """The all-reduced mean over replicas (`tf.distribute`,
    `torch.distributed`); unchanged on JAX, whose gradients are global."""
    if keras.backend.backend() in ("tensorflow", "torch"):
        return module().mean_over_replicas(values)
    return values


def minimize(spec):
    """One sharpness-aware step on the active backend: `(loss, aux,
    perturbed, finite)` (`step.py`, inside the backend's `step_scope`)."""
    primitives = module()
    with primitives.step_scope(spec):
        return step.minimize(primitives, spec)
