"""The step's executor: `step.py` written once, primitives per Keras backend.

Only `tensorflow.py` imports TensorFlow, only `jax.py` JAX and only
`torch.py` PyTorch; each is imported when its backend is the active one.
`cond`, `mean_over_replicas` and `minimize` below dispatch to it.
"""

import importlib

import keras

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
    traced = common.current_step()
    if traced is not None and traced[1]:
        return common.select(pred, true_fn, false_fn, traced[0])
    return module().cond(pred, true_fn, false_fn)


def mean_over_replicas(values):
    """The all-reduced mean over replicas (`tf.distribute`,
    `torch.distributed`); unchanged on JAX, whose gradients are global."""
    return module().mean_over_replicas(values)


def minimize(spec):
    """One sharpness-aware step on the active backend: `(loss, aux,
    perturbed, finite)` (`step.py`, inside the backend's `step_scope`)."""
    primitives = step.Primitives(module())
    with primitives.step_scope(spec):
        return step.minimize(primitives, spec)
