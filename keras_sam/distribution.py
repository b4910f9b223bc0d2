"""Replica-consistent values for variants, without importing a backend.

Anything a variant stores or branches on must be identical on every replica.
`mean_over_replicas` is the one seam for it: under a `tf.distribute`
strategy it all-reduces (mean) in replica context; on PyTorch, when
`torch.distributed` is initialized with more than one process, it
all-reduces across the processes; otherwise, or on a backend whose
gradients are already global (JAX), it returns its argument unchanged and
adds no operation.

`enable_multi_worker_fit` makes Keras's `fit` work under
`tf.distribute.MultiWorkerMirroredStrategy` (a Keras bug, see
`keras_sam/multi_worker.py`).
"""

from keras_sam import executor
from keras_sam.multi_worker import enable_multi_worker_fit  # noqa: F401


def mean_over_replicas(values):
    """The mean over replicas of a tensor or a list of tensors."""
    return executor.mean_over_replicas(values)
