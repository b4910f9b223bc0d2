"""`SAMModel`'s step: its inner model's loss, the variant's step, its logs.

The backend-neutral step (`keras_sam/backend/step.py`) returns
`(loss, outputs, perturbed, finite)` and reports each perturbed pass's
offsets; every tracker `SAMModel` logs is updated here, in one place.
"""

import keras
from keras import ops

from keras_sam import backend
from keras_sam import keras_private
from keras_sam.backend import batch
from keras_sam.backend import common
from keras_sam.basics import global_norm


def step(model, data):
    """One sharpness-aware step of `SAMModel` (`model`) on `data`: its logs."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)

    def loss_fn(rows=None, sample_scale=None):
        # Variants that look at single samples (ESAM) ask for some `rows`
        # of the batch or for per-sample weights `sample_scale`.
        if rows is not None:
            batch.check_rows_allowed(model.model)
        x_, y_, weight = batch.rows_of(x, y, sample_weight, rows, sample_scale)
        y_pred = model.model(x_, training=True)
        loss = keras_private.compute_loss(
            model, x=x_, y=y_, y_pred=y_pred, sample_weight=weight, training=True
        )
        return loss, y_pred

    if not model.built:
        # TensorFlow defers building to the first trace. A subclassed model
        # creates its weights in its first call, which must not be a pass:
        # a pass runs in a stateless scope, where new variables are only
        # placeholders until it ends. Then the variant can be built.
        model.model(x, training=False)
        model.build()
    rows = batch_size(x)
    spec = common.StepSpec(
        model.variant, loss_fn, lambda: model.trainable_variables,
        model.optimizer, metric_variables=lambda: model.metrics_variables,
        sync_perturbation=model.sync_perturbation,
        on_perturbation=lambda offsets: _record_perturbation(model, offsets),
        batch_size=rows,
    )
    loss, y_pred, perturbed, finite = backend.minimize(spec)
    # Keras's losses divide a replica's loss by the replica count; its own
    # train steps log it multiplied back.
    keras_private.update_loss_metric(model, loss * backend.module().replicas(), rows)
    model.sam_fraction_tracker.update_state(perturbed)
    model.skipped_steps_tracker.update_state(1.0 - ops.cast(finite, "float32"))
    logs = model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
    logs.update({m.name: m.result() for m in model.sam_trackers()})
    return logs


def _record_perturbation(model, offsets):
    """Logs `||offsets||` (global) in `perturbation_norm`, if finite.

    Non-finite offsets (a step that will be skipped, e.g. while a loss
    scale settles) are left out of the mean instead of making it NaN.
    """
    norm = global_norm(offsets)
    finite = ops.isfinite(norm)
    model.perturbation_norm_tracker.update_state(
        ops.where(finite, norm, 0.0), sample_weight=ops.cast(finite, "float32")
    )


class StepCount(keras.metrics.Metric):
    """Counts steps, such as skipped ones, once whatever the replica count.

    Every replica counts the same steps (they skip together: the backend's
    `agree`), so under `tf.distribute` the count is read from the first
    replica, where `keras.metrics.Sum` would add the replicas' counts.
    """

    def __init__(self, name, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(
            shape=(), initializer="zeros", dtype=self.dtype,
            aggregation="only_first_replica", name="total",
        )

    def update_state(self, values):
        self.total.assign_add(ops.cast(values, self.dtype))

    def result(self):
        return ops.cast(self.total, self.dtype)


def batch_size(x):
    """Rows in the batch, as Keras's own train steps weight the loss metric."""
    return ops.shape(next(t for t in keras.tree.flatten(x) if t is not None))[0]
