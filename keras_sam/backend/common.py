"""Backend-independent pieces of the SAM step (`keras` and `keras.ops` only).

Each backend file (`tensorflow.py`, `jax.py`, `torch.py`) differentiates in
its own way; what a pass computes, what a skipped step restores and how the
loss scale backs off are the same everywhere and live here.
"""

import contextlib
import warnings

import keras
from keras import ops

# The step being traced, innermost last: `(variables, select)`. `variables`
# are all the step may read or assign; `select` says how `cond` evaluates
# (see `select` below).
_STEPS = []


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
    """Logs `||offsets||` (global) in `perturbation_norm`, if finite.

    Non-finite offsets (a step that will be skipped, e.g. while a loss
    scale settles) are left out of the mean instead of making it NaN.
    """
    norm = ops.sqrt(sum(ops.sum(ops.square(o)) for o in offsets))
    finite = ops.isfinite(norm)
    model.perturbation_norm_tracker.update_state(
        ops.where(finite, norm, 0.0), sample_weight=ops.cast(finite, "float32")
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


def step_variable_groups(model):
    """Everything a step of `model` (a `SAMModel`) reads or assigns."""
    return (
        model.trainable_variables,
        model.non_trainable_variables,
        model.optimizer.variables,
        model.metrics_variables,
    )


def current_step():
    """`(variables, select)` of the step being traced, or `None`."""
    return _STEPS[-1] if _STEPS else None


@contextlib.contextmanager
def tracing_step(model, compiled_for_cpu):
    """Marks the step being traced, for `keras_sam.backend.cond`."""
    variables = [v for group in step_variable_groups(model) for v in group]
    _STEPS.append((variables, _selects_branches(model, compiled_for_cpu)))
    try:
        yield variables
    finally:
        _STEPS.pop()


def collect(scope, variables, defaults):
    """The scope's value of each variable, or its default if never assigned."""
    values = []
    for variable, default in zip(variables, defaults):
        value = scope.get_current_value(variable)
        values.append(default if value is None else value)
    return values


def run_stateless(fn, variables, values):
    """`fn()` with `variables` read as `values`: `(outputs, new values)`."""
    with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
        outputs = fn()
    return outputs, collect(scope, variables, values)


def select(pred, true_fn, false_fn, variables):
    """`cond` by evaluating both branches and keeping `pred`'s.

    Each branch runs statelessly from the variables' current values; then
    every output and every variable a branch assigned takes the taken
    branch's value (`ops.where`), so the result equals `cond`'s exactly.
    """
    values = [v.value for v in variables]
    true_outputs, true_values = run_stateless(true_fn, variables, values)
    false_outputs, false_values = run_stateless(false_fn, variables, values)
    for variable, value, a, b in zip(variables, values, true_values, false_values):
        if a is not value or b is not value:
            variable.assign(ops.where(pred, a, b))
    return keras.tree.map_structure(
        lambda a, b: ops.where(pred, a, b), true_outputs, false_outputs
    )


def _has_convolutions(layer):
    if "Conv" in type(layer).__name__:
        return True
    return any(_has_convolutions(child) for child in getattr(layer, "layers", []))


def _selects_branches(model, compiled_for_cpu):
    """Whether the variant's conditional runs as `select`, warning if so.

    XLA's CPU compiler rewrites convolutions for its fast kernels only in
    the top-level computation, so the convolutions of a perturbed pass
    inside a conditional branch (LookSAM's period, AE-SAM's switch) compile
    to naive loops: measured 10x a pass, LookSAM 4x ERM on a small ResNet
    (docs/benchmarks/performance.md). Evaluating both branches keeps them at
    the top level and bounds the step at a SAM step's cost.
    """
    if not compiled_for_cpu or getattr(model.variant, "policy", None) is None:
        return False
    if not _has_convolutions(model.model):
        return False
    warnings.warn(
        f"{type(model.variant).__name__} takes its perturbed pass only on some "
        "steps, but XLA on CPU compiles the convolutions inside a conditional "
        "to slow loops, so SAMModel computes the perturbed pass on every step "
        "and keeps it where the variant takes it: results are unchanged, a "
        "step costs about a SAM step. For the variant's savings on CPU, use "
        "TensorFlow with jit_compile=False (Keras's 'auto' default on CPU)."
    )
    return True
