"""Passes that look at single samples of the batch, for any variant.

A variant may need more than the batch-mean gradient: the loss of each
sample (ESAM selects the samples whose loss rises most under the
perturbation) or a pass on some rows of the batch. Every backend offers
both through its gradient oracle (`gradient_fn.sample_losses(offsets)`,
`gradient_fn(offsets, rows=...)`), built on two arguments of the step's
loss closure: `rows` (take these rows of `x`, `y` and the sample weights)
and `sample_scale` (multiply the per-sample weights by it).

Per-sample losses come from `sample_scale`: for a loss that weights each
sample's loss by its sample weight and sums over the batch (every Keras
loss, whose default reduction is `"sum_over_batch_size"`), the derivative
of the batch loss with respect to sample `i`'s scale is that sample's
weighted loss divided by the batch size. A backward pass through the loss
reduction alone gives all of them, without differentiating the model.
"""

import keras
from keras import ops

from keras_sam import keras_private


def check_sample_aware(spec):
    """Raises unless the step's loss closure can take rows and scales."""
    if spec.batch_size is None:
        raise ValueError(
            f"{type(spec.variant).__name__} needs the loss of each sample of "
            "the batch, which a loss closure without arguments cannot give "
            "(`Variant.minimize(loss_fn, model)` in your own train step). "
            "Train it with `keras_sam.SAMModel(model, variant=...)`, whose "
            "step passes rows and per-sample weights to the loss."
        )


def check_rows_allowed(model):
    """Raises if `model` has a stateful layer: its state has a row per row
    of the batch, so a pass on some rows cannot run (ESAM's final pass)."""
    stateful = [
        layer.name for layer in keras_private.flatten_layers(model)
        if getattr(layer, "stateful", False) is True
    ]
    if stateful:
        raise ValueError(
            "This variant (ESAM) takes a pass on some rows of the batch, "
            "which a stateful layer cannot run: its state has one row per "
            "row of the full batch. Use another variant, or `stateful=False`. "
            f"Received: a model with stateful layers {stateful}."
        )


def rows_of(x, y, sample_weight, rows=None, sample_scale=None):
    """`(x, y, sample_weight)` restricted to `rows`, weights scaled.

    `rows`: integer indices of the batch's rows, or `None` for all.
    `sample_scale`: per-row factors (of the selected rows), multiplied into
    the sample weights (which are ones when the data has none).
    """
    if rows is not None:

        def take(t):
            return ops.take(t, rows, axis=0)

        x, y = keras.tree.map_structure(take, x), keras.tree.map_structure(take, y)
        if sample_weight is not None:
            sample_weight = keras.tree.map_structure(take, sample_weight)
    if sample_scale is not None:
        if sample_weight is None:
            sample_weight = sample_scale
        else:
            sample_weight = keras.tree.map_structure(
                lambda w: ops.cast(w, "float32") * _expand(sample_scale, w),
                sample_weight,
            )
    return x, y, sample_weight


def _expand(scale, like):
    """`scale` (one per row) shaped to multiply `like` (rows first)."""
    rank = len(ops.shape(like))
    return ops.reshape(scale, (-1,) + (1,) * (rank - 1))


def probe(spec):
    """Ones, one per row: the `sample_scale` whose gradient is the losses."""
    check_sample_aware(spec)
    return ops.ones((spec.batch_size,), "float32")


def sample_losses(scale_gradient, batch_size, unscale):
    """Per-sample (weighted) losses from the gradient with respect to `probe`.

    `unscale` removes the loss scale (and, under `tf.distribute`, the
    replica count the loss was divided by).
    """
    if scale_gradient is None:
        raise ValueError(
            "The loss of each sample is needed (ESAM), but the model's loss "
            "does not depend on the sample weights, so it cannot be split "
            "by sample. Use a loss that honours `sample_weight` (every "
            "compiled Keras loss does; a `compute_loss` override must pass "
            "`sample_weight` on)."
        )
    size = ops.cast(batch_size, "float32")
    return ops.cast(scale_gradient, "float32") * unscale * size
