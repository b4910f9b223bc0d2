"""Backend-independent pieces of the SAM step (`keras` and `keras.ops` only).

Each backend file (`tensorflow.py`, `jax.py`, `torch.py`) differentiates in
its own way; what a pass computes, what a skipped step restores and how the
loss scale backs off are the same everywhere and live here.
"""

import contextlib
import warnings

import keras
from keras import ops

from keras_sam.backend import batch
from keras_sam.backend.recording import RecordingScope, run_stateless

# The step being traced, innermost last: `(variables, select)`. `variables`
# are all the step may read or assign; `select` says how `cond` evaluates
# (see `select` below).
_STEPS = []


class StepSpec:
    """What one sharpness-aware step trains, on any backend.

    Args:
        variant: the `Variant`.
        loss_fn: a zero-argument closure running a training pass; returns
            the loss or `(loss, aux)`.
        variables: a function returning the variables to train.
        optimizer: the base optimizer.
        metric_variables: a function returning the variables of the
            model's metrics: a skipped step leaves what the first pass
            assigned to them (the rest of what it assigned is restored).
        sync_perturbation: form the perturbation from the replica-mean
            gradient under `tf.distribute` or `torch.distributed`.
        on_perturbation: called with the offsets of every perturbed pass
            (`SAMModel` logs their norm), or `None`.
        batch_size: the rows of the batch when `loss_fn` also accepts
            `loss_fn(rows=..., sample_scale=...)` (a pass on some rows of
            the batch, per-sample weights multiplied by `sample_scale`), as
            `SAMModel`'s does; `None` when it takes no arguments.

    What a pass may assign (BatchNorm statistics, seed states, RNN states,
    metrics) needs no list: the first pass records it
    (`recording.write_back`).
    """

    def __init__(self, variant, loss_fn, variables, optimizer,
                 metric_variables=list, sync_perturbation=False,
                 on_perturbation=None, batch_size=None):
        self.variant = variant
        self.loss_fn = loss_fn
        self.batch_size = batch_size
        self._variables = variables
        self._metric_variables = metric_variables
        self.optimizer = optimizer
        self.sync_perturbation = sync_perturbation
        self.on_perturbation = on_perturbation

    @property
    def variables(self):
        # Read when used: a subclassed model creates its weights in its
        # first call, which may be the clean pass of the first trace.
        return list(self._variables())

    @property
    def metric_variables(self):
        return list(self._metric_variables())

    def record_perturbation(self, offsets):
        """Reports a perturbed pass's offsets (`on_perturbation`)."""
        if self.on_perturbation is not None:
            self.on_perturbation(offsets)

    def call_loss(self, rows=None, sample_scale=None):
        """Runs `loss_fn` on the batch (or its `rows`): `(loss, aux)`."""
        if rows is None and sample_scale is None:
            return loss_and_aux(self.loss_fn())
        batch.check_sample_aware(self)
        return loss_and_aux(self.loss_fn(rows=rows, sample_scale=sample_scale))


def all_finite(tensors):
    """A scalar bool: every element of every tensor is finite."""
    return ops.all(ops.stack([ops.all(ops.isfinite(t)) for t in tensors]))


def step_is_finite(gradients, update, agree=None):
    """Whether the clean gradients and the update are finite.

    `agree(finite)`, if given, turns this process's answer into the one
    every replica acts on (`tf.distribute` replicas, `torch.distributed`
    processes: skip if any is not finite).
    """
    finite = all_finite(list(gradients) + keras.tree.flatten(update))
    if agree is not None:
        finite = agree(finite)
    return finite


def loss_and_aux(outputs):
    """Splits what a loss closure returned into `(loss, aux)`."""
    if isinstance(outputs, (tuple, list)):
        if len(outputs) != 2:
            raise ValueError(
                "Argument `loss_fn` must return a scalar loss or a pair "
                "`(loss, aux)` (put several outputs in `aux`, e.g. a tuple). "
                f"Received a {type(outputs).__name__} of {len(outputs)} items."
            )
        return outputs[0], outputs[1]
    return outputs, None


def perturbed_mapping(spec, perturbed, state):
    """Maps the trained variables to `perturbed` and each of the first
    pass's assigned variables (`state`, pairs from `recording.write_back`) to its
    value before that pass."""
    return list(zip(spec.variables, perturbed)) + list(state)


def forward(spec, mapping, rows=None, sample_scale=None):
    """A training pass of `spec.loss_fn` inside a `RecordingScope`.

    Returns `(scaled_loss, loss, aux, scope)`. Nothing is written to a
    variable; the scope holds what the pass would have assigned. Losses from
    `add_loss` and weight regularizers are computed at the mapped values.
    `rows`, `sample_scale`: as `StepSpec.call_loss`.
    """
    with RecordingScope(state_mapping=mapping, collect_losses=True) as scope:
        loss, aux = spec.call_loss(rows, sample_scale)
        scaled_loss = spec.optimizer.scale_loss(loss)
    return scaled_loss, loss, aux, scope


def back_off_loss_scale(optimizer):
    """What `LossScaleOptimizer` does on a non-finite step: halve the scale."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer.step_counter.assign(0)
        optimizer.dynamic_scale.assign(optimizer.dynamic_scale * 0.5)


def restore(spec, variant_state, state_variables, state):
    """Undoes a skipped step: all it leaves are the advanced RNG counters.

    The variant's state and the floating-point model state the first pass
    assigned (`state_variables`, e.g. BatchNorm statistics a NaN batch
    would poison; metrics excluded) return to their values before it.
    """
    for v, value in zip(spec.variant.state_variables(), variant_state):
        v.assign(value)
    metrics = {id(v) for v in spec.metric_variables}
    for v, value in zip(state_variables, state):
        if keras.backend.is_float_dtype(v.dtype) and id(v) not in metrics:
            v.assign(value)


def step_variable_groups(model, groups=4):
    """Everything a step of `model` reads or assigns, as Keras's JAX trainer
    passes it: a train step's 4 groups, a test step's 3 (no optimizer)."""
    optimizer = [model.optimizer.variables] if groups == 4 else []
    return (
        model.trainable_variables,
        model.non_trainable_variables,
        *optimizer,
        model.metrics_variables,
    )


def current_step():
    """`(variables, select)` of the step being traced, or `None`."""
    return _STEPS[-1] if _STEPS else None


@contextlib.contextmanager
def tracing_step(model, compiled_for_cpu, groups=4):
    """Marks the step being traced, for `keras_sam.backend.cond`."""
    variables = [v for group in step_variable_groups(model, groups) for v in group]
    _STEPS.append((variables, _selects_branches(model, compiled_for_cpu)))
    try:
        yield variables
    finally:
        _STEPS.pop()


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
    to naive loops, far slower than the pass (measured in
    docs/benchmarks/step_time_xla_cpu.md). Evaluating both branches keeps them at
    the top level and bounds the step at a SAM step's cost.
    """
    variant = getattr(model, "variant", None)
    if not compiled_for_cpu or getattr(variant, "policy", None) is None:
        return False
    if not _has_convolutions(getattr(model, "model", model)):
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
