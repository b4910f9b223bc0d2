"""`fit` under `tf.distribute.MultiWorkerMirroredStrategy`, which Keras breaks.

Keras 3's TensorFlow trainer (3.15 and earlier) fails in two places under
the multi-worker strategy, for any model, a plain `keras.Sequential` too
(keras-team/keras#20585, https://github.com/keras-team/keras/issues/20585):

1. Before training, `fit` builds the model from the first batch, which it
   reduces with `strategy.reduce("MEAN", batch, axis=None)`; the
   multi-worker strategy cannot reduce a nested batch: "ValueError: Attempt
   to convert a value (PerReplica...) ... to a Tensor". The batch only gives
   shapes, so the first local replica's batch (the shape a reduced one
   would have) builds the model as well.
2. Each step's logs are reduced with `strategy.reduce("MEAN", v, axis=0)`,
   which fails on scalar logs: "Invalid reduction dimension 0 for input
   with 0 dimensions". `axis=None` gives the mean over replicas, which is
   what Keras's single-worker path computes.

`enable_multi_worker_fit()` patches both places (private names of
`keras.src.backend.tensorflow.trainer`) for multi-worker strategies only;
every other strategy keeps Keras's code. `tests/multi_worker_test.py`
trains under it in two worker processes and also checks that a plain `fit`
still fails without it, so it will say when the patch can go.
"""

import keras

_PATCHED = "_keras_sam_multi_worker_fit"


def enable_multi_worker_fit():
    """Makes Keras's `fit` work under `MultiWorkerMirroredStrategy`.

    Call it once per worker process, before `fit` (calling it again does
    nothing). It works around keras-team/keras#20585 (see this module's
    docstring) by patching Keras's TensorFlow trainer for multi-worker
    strategies; single-process strategies and no strategy are untouched.
    TensorFlow backend only.

    Example:

    ```python
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    keras_sam.distribution.enable_multi_worker_fit()
    with strategy.scope():
        model = keras_sam.SAMModel(inner, variant="sam")
        model.compile(optimizer="sgd", loss="mse")
    model.fit(strategy.distribute_datasets_from_function(dataset_fn), ...)
    ```
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "enable_multi_worker_fit patches Keras's TensorFlow trainer for "
            "tf.distribute.MultiWorkerMirroredStrategy; it needs "
            "KERAS_BACKEND=tensorflow. Received: backend="
            f"{keras.backend.backend()!r}"
        )
    from keras.src.backend.tensorflow import trainer

    names = ("reduce_per_replica", "_collective_all_reduce_multi_worker")
    cls = getattr(trainer, "TensorFlowTrainer", None)
    if not all(hasattr(trainer, name) for name in names) or not hasattr(
        cls, "_maybe_symbolic_build"
    ):
        raise RuntimeError(
            "enable_multi_worker_fit cannot find the Keras internals it "
            "patches (keras.src.backend.tensorflow.trainer."
            "reduce_per_replica, TensorFlowTrainer._maybe_symbolic_build); "
            "check whether keras-team/keras#20585 is fixed in this Keras. "
            f"Received: keras version {keras.__version__}"
        )
    if getattr(trainer.reduce_per_replica, _PATCHED, False):
        return
    import tensorflow as tf

    trainer.reduce_per_replica = _reduce_per_replica(trainer, tf)
    cls._maybe_symbolic_build = _symbolic_build(
        trainer, tf, cls._maybe_symbolic_build
    )


def _reduce_per_replica(trainer, tf):
    keras_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        multi_worker = trainer._collective_all_reduce_multi_worker(strategy)
        if multi_worker and reduction in ("auto", "mean"):
            return tf.nest.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None), values
            )
        return keras_reduce(values, strategy, reduction)

    setattr(reduce_per_replica, _PATCHED, True)
    return reduce_per_replica


def _symbolic_build(trainer, tf, keras_build):
    def build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or strategy is None or not (
            trainer._collective_all_reduce_multi_worker(strategy)
        ):
            return keras_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:
            batch = next(batches)
            break
        data_batch = tf.nest.map_structure(
            lambda v: strategy.experimental_local_results(v)[0], batch
        )
        return keras_build(self, data_batch=data_batch)

    return build
