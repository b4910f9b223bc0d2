"""Backend-independent pieces of the SAM step (`keras` and `keras.ops` only).

Each backend file (`tensorflow.py`, `jax.py`, `torch.py`) differentiates in
its own way; what a pass computes, what a skipped step restores and how the
loss scale backs off are the same everywhere and live here.
"""

import warnings

import keras
from keras import ops


def batch_size(x):
    """Rows in the batch, as Keras's own train steps weight the loss metric."""
    return ops.shape(next(t for t in keras.tree.flatten(x) if t is not None))[0]


def all_finite(tensors):
    """A scalar bool: every element of every tensor is finite."""
    return ops.all(ops.stack([ops.all(ops.isfinite(t)) for t in tensors]))


def step_is_finite(model, gradients, update):
    """Whether the clean gradients and the update are finite; counts skips."""
    finite = all_finite(list(gradients) + keras.tree.flatten(update))
    model.skipped_steps_tracker.update_state(1.0 - ops.cast(finite, "float32"))
    return finite


def record_perturbation(model, offsets):
    """Logs `||offsets||` (global) in `perturbation_norm`."""
    model.perturbation_norm_tracker.update_state(
        ops.sqrt(sum(ops.sum(ops.square(o)) for o in offsets))
    )


def perturbed_mapping(model, perturbed, state):
    """Maps trainables to `perturbed` and the inner model's state to `state`."""
    mapping = list(zip(model.trainable_variables, perturbed))
    return mapping + list(zip(model.model.non_trainable_variables, state))


def forward(model, data, mapping):
    """A training pass of the inner model inside a `keras.StatelessScope`.

    Returns `(scaled_loss, loss, y_pred, scope)`. Nothing is written to a
    variable; the scope holds what the pass would have assigned. Losses from
    `add_loss` and weight regularizers are computed at the mapped values.
    """
    x, y, sample_weight = data
    with keras.StatelessScope(state_mapping=mapping, collect_losses=True) as scope:
        y_pred = model.model(x, training=True)
        loss = model._compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
        )
        scaled_loss = model.optimizer.scale_loss(loss)
    return scaled_loss, loss, y_pred, scope


def back_off_loss_scale(optimizer):
    """What `LossScaleOptimizer` does on a non-finite step: halve the scale."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer.step_counter.assign(0)
        optimizer.dynamic_scale.assign(optimizer.dynamic_scale * 0.5)


def restore(model, variant_state, state):
    """Undoes a skipped step: all it leaves are the advanced RNG counters.

    The variant's state and the floating-point model state (BatchNorm
    statistics a NaN batch would poison) return to their values before it.
    """
    for v, value in zip(model.variant.state_variables(), variant_state):
        v.assign(value)
    for v, value in zip(model.model.non_trainable_variables, state):
        if keras.backend.is_float_dtype(v.dtype):
            v.assign(value)


def _has_convolutions(layer):
    if "Conv" in type(layer).__name__:
        return True
    return any(_has_convolutions(child) for child in getattr(layer, "layers", []))


def warn_if_slow_conditional(model, compiled_for_cpu):
    """Warns when XLA on CPU will make a conditional variant slow.

    XLA's CPU compiler rewrites convolutions for its fast kernels only in
    the top-level computation, so the convolutions of a perturbed pass inside
    a conditional branch (LookSAM's period, AE-SAM's switch) compile to naive
    loops: measured 4x ERM for LookSAM on a small ResNet
    (docs/benchmarks/performance.md). Called once per trace.
    """
    if not compiled_for_cpu or getattr(model.variant, "policy", None) is None:
        return
    if not _has_convolutions(model.model):
        return
    warnings.warn(
        f"{type(model.variant).__name__} takes its perturbed pass inside a "
        "conditional, and XLA on CPU compiles the convolutions there to slow "
        "loops: a step may cost more than SAM's. On TensorFlow compile with "
        "jit_compile=False (Keras's 'auto' default does on CPU); on a GPU "
        "this does not apply.",
        stacklevel=2,
    )
