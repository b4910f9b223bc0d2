"""Replica-consistent values for variants, without importing a backend.

Anything a variant stores or branches on must be identical on every replica
(SPEC §2.7). `mean_over_replicas` is the one seam for it: under a
`tf.distribute` strategy it all-reduces (mean) in replica context; without a
strategy, or on a backend whose gradients are already global, it returns its
argument unchanged and adds no operation.
"""

import keras


def mean_over_replicas(values):
    """The mean over replicas of a tensor or a list of tensors."""
    if keras.backend.backend() == "tensorflow":
        from keras_sam.backend import tensorflow as backend

        return backend.mean_over_replicas(values)
    return values
